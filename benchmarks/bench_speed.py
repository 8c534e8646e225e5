"""The README's main job, ``study run``, now against an earlier commit, side by side on one machine.

The flagship study changed after the commit the issue-17 work started from (its second
edition: another model, N = 2048 instead of 4096, shift re-runs, a Chinese appendix), so the
earlier commit's ``study run`` and today's do different work. To time the *code* on the same
job, the earlier commit's own flagship files (its ``params/`` and the model module they name)
are exported to a temporary folder and run by both trees:

- ``before``: the earlier commit (a temporary ``git worktree``) on its flagship;
- ``now (same study)``: this tree on the same files, the model module copied beside them
  under another name (the package's own ``study.models`` would shadow it);
- ``now (today's flagship)``: this tree's README main job as it stands, for the record.

Each repeat runs them in fresh processes, alternately, so load from other jobs hits all
alike. Prints each wall time and CPU time (user + system of the process and of the children
it waited for: a fork server's workers, which run today's side runs, are not among them, so
"now" undercounts its CPU),
the ratio of the best times, the stages from the manifests, and whether the main run's
``indices.csv`` (and the Ishigami study's) is byte-identical between the two codes on the
same files.

Run: ``python benchmarks/bench_speed.py [--base REV] [--repeat 2] [--no-ishigami]``
(``--base`` defaults to the commit before the issue-17 work).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASE = "341385f"  # the integration branch before issue 17 (speed and storage)
BUILTIN_MODEL = re.compile(r'^model = "study\.models\.(\w+):(\w+)"', re.M)


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    return (f"{platform.node()}: {os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, "
            f"load average {os.getloadavg()[0]:.2f}")


def export_study_files(rev: str, dest: Path) -> Path:
    """``rev``'s ``params/`` in ``dest``, its built-in models copied beside them as ``<name>_base.py``."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "params", "study/models"], check=True,
                             capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    params = dest / "params"
    for toml in params.glob("*.toml"):
        text = toml.read_text(encoding="utf-8")
        for module, _ in BUILTIN_MODEL.findall(text):
            shutil.copyfile(dest / "study" / "models" / f"{module}.py", params / f"{module}_base.py")
        toml.write_text(BUILTIN_MODEL.sub(r'model = "\1_base:\2"', text), encoding="utf-8")
    return params


def run(tree: Path, out: Path, *args: str) -> tuple[float, float, Path]:
    """Wall and CPU seconds of ``study run`` from ``tree``, and the run directory it printed."""
    # Bytecode is written and reused, as for an installed package (pip compiles it): with
    # PYTHONDONTWRITEBYTECODE set (as on some build machines) every run compiled each
    # module of the tree again, about 1.5 s of a 20 s run. Run 1 of each tree writes it.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"} | {"PYTHONPATH": str(tree)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "study", "run", *args, "--out", str(out)], cwd=tree, env=env,
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"{tree}: study run failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return wall, cpu, Path(proc.stdout.strip().splitlines()[-1])


def stages(run_dir: Path) -> str:
    t = json.loads((run_dir / "manifest.json").read_text()).get("timings", {})
    keys = ("evaluation_s", "analysis_s", "figures_s", "appendix_s")
    return ", ".join(f"{k[:-2]} {t[k]:.1f}" for k in keys if k in t)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def rows_differing(a: Path, b: Path) -> str:
    """Which methods' ``indices.csv`` rows differ between two runs of the same study file."""
    with open(a, newline="") as fa, open(b, newline="") as fb:
        ra, rb = list(csv.DictReader(fa)), list(csv.DictReader(fb))
    if len(ra) != len(rb) or (ra and ra[0].keys() != rb[0].keys()):
        return f"different tables ({len(ra)} and {len(rb)} rows)"
    differ = Counter(x["method"] for x, y in zip(ra, rb) if x != y)
    total = Counter(x["method"] for x in ra)
    return "; ".join(f"{m}: {differ[m]} of {n} rows differ" if differ[m] else f"{m}: identical"
                     for m, n in total.items())


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
            same_files = export_study_files(args.base, tmp / "exported")
            flagship = str(same_files / "asia_pacification.toml")
            jobs = {"before": (base, ()), "now (same study)": (ROOT, (flagship,)), "now (today's flagship)": (ROOT, ())}
            best, dirs = {k: float("inf") for k in jobs}, {}
            for i in range(args.repeat):
                for k, (name, (tree, extra)) in enumerate(jobs.items()):
                    wall, cpu, run_dir = run(tree, tmp / f"run{k}-{i}", *extra)
                    best[name] = min(best[name], wall)
                    dirs[name] = run_dir
                    print(f"  {name:<23} run {i + 1}: {wall:6.1f} s wall, {cpu:6.1f} s CPU (waited-for processes)  ({stages(run_dir)}; "
                          f"load {os.getloadavg()[0]:.2f})")
            now = best["now (same study)"]
            print(f"{args.base}'s flagship study run, best of {args.repeat}: before {best['before']:.1f} s, "
                  f"now {now:.1f} s, {best['before'] / now:.1f}x faster")
            today = best["now (today's flagship)"]
            print(f"today's flagship (the README's main job), best of {args.repeat}: {today:.1f} s")
            a, b = dirs["before"] / "indices.csv", dirs["now (same study)"] / "indices.csv"
            print(f"  {args.base}'s flagship, indices.csv byte-identical before and now: {digest(a) == digest(b)}"
                  f" ({rows_differing(a, b)})")
            if not args.no_ishigami:
                ish = str(same_files / "ishigami.toml")
                runs = {name: run(tree, tmp / f"ishigami-{name}", ish, "--no-figures", "--no-appendix")[2]
                        for name, tree in (("before", base), ("now", ROOT))}
                a, b = runs["before"] / "indices.csv", runs["now"] / "indices.csv"
                print(f"  {args.base}'s ishigami, indices.csv byte-identical before and now: {digest(a) == digest(b)}"
                      f" ({rows_differing(a, b)})")
            for name, d in dirs.items():
                size = sum(f.stat().st_size for f in d.glob("results*.nc"))
                print(f"  {name:<23} main run results*.nc: {size / 1e6:.1f} MB")
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], capture_output=True)
            shutil.rmtree(base, ignore_errors=True)
    print(f"end: load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
