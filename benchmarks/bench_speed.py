"""The README's main job, ``study run`` (the flagship with its variants, figures and appendix),
now against an earlier commit, side by side on one machine.

The earlier commit is checked out into a temporary ``git worktree``; each repeat runs both
trees' ``python -m study run --out <temp dir>`` in fresh processes, alternately, so load
from other jobs hits both alike. Prints each wall time, the ratio of the best times, the
stages' times from the manifests, and whether the main run's ``indices.csv`` (and the
Ishigami study's, run at its defaults) is byte-identical between the two trees.

Run: ``python benchmarks/bench_speed.py [--base REV] [--repeat 2] [--no-ishigami]``
(``--base`` defaults to the commit before the issue-17 work).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASE = "341385f"  # the integration branch before issue 17 (speed and storage)


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    return (f"{platform.node()}: {os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, "
            f"load average {os.getloadavg()[0]:.2f}")


def run(tree: Path, out: Path, *args: str) -> tuple[float, Path]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "study", "run", *args, "--out", str(out)], cwd=tree, env=env,
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{tree}: study run failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return wall, Path(proc.stdout.strip().splitlines()[-1])


def stages(run_dir: Path) -> str:
    t = json.loads((run_dir / "manifest.json").read_text()).get("timings", {})
    keys = ("evaluation_s", "analysis_s", "figures_s", "appendix_s")
    return ", ".join(f"{k[:-2]} {t[k]:.1f}" for k in keys if k in t)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default=BASE, help="earlier commit to compare with")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--no-ishigami", action="store_true", help="skip the Ishigami identity check")
    args = parser.parse_args(argv)
    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base = tmp / "base"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base), args.base], check=True,
                       capture_output=True)
        try:
            trees = {"before": base, "now": ROOT}
            best, dirs = {k: float("inf") for k in trees}, {}
            for i in range(args.repeat):
                for name, tree in trees.items():
                    wall, run_dir = run(tree, tmp / f"{name}-{i}")
                    best[name] = min(best[name], wall)
                    dirs[name] = run_dir
                    print(f"  {name:<7} run {i + 1}: {wall:7.1f} s  ({stages(run_dir)}; load {os.getloadavg()[0]:.2f})")
            print(f"flagship study run, best of {args.repeat}: before {best['before']:.1f} s, now {best['now']:.1f} s, "
                  f"{best['before'] / best['now']:.1f}x faster")
            same = digest(dirs["before"] / "indices.csv") == digest(dirs["now"] / "indices.csv")
            print(f"  flagship indices.csv byte-identical: {same}")
            if not args.no_ishigami:
                ish = {name: run(tree, tmp / f"ishigami-{name}", str(tree / "params" / "ishigami.toml"),
                                 "--no-figures", "--no-appendix")[1] for name, tree in trees.items()}
                same = digest(ish["before"] / "indices.csv") == digest(ish["now"] / "indices.csv")
                print(f"  ishigami indices.csv byte-identical: {same}")
            for name, d in dirs.items():
                size = sum(f.stat().st_size for f in d.glob("results*.nc"))
                print(f"  {name:<7} main run results*.nc: {size / 1e6:.1f} MB")
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], capture_output=True)
            shutil.rmtree(base, ignore_errors=True)
    print(f"end: load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
