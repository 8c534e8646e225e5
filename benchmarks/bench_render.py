"""The figures and appendix stages of a saved run: this checkout against an earlier commit.

    python benchmarks/bench_render.py RUN_DIR [--against REV] [--repeats 2] [--stages figures appendix]

Each stage (``build_figures``; ``build_appendix`` then ``compile_pdf``) runs on a copy of
``RUN_DIR`` made beside it (so that its variant and re-run paths still resolve), in a fresh
interpreter per measurement, alternately with this checkout and with ``REV`` (default
``main``) checked out in a temporary git worktree. Printed per stage and code: wall time,
CPU of the process and of its worker processes, and the load average around it (the
machine may be shared: compare the two codes within one run of this script). The copy and
the worktree are removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

STAGE = r"""
import json, resource, sys, time
from pathlib import Path

from analysis.run import read_run
import analysis.figures, analysis.appendix  # imported before the clock starts

stage, run = sys.argv[1], read_run(Path(sys.argv[2]))
def cpu():
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, kids.ru_utime + kids.ru_stime
t, (c0, k0) = time.perf_counter(), cpu()
if stage == "figures":
    analysis.figures.build_figures(run)
else:
    analysis.appendix.build_appendix(run)
    analysis.appendix.compile_pdf(run)
wall, (c1, k1) = time.perf_counter() - t, cpu()
print(json.dumps({"wall": wall, "cpu": c1 - c0, "workers_cpu": k1 - k0}))
"""


def _measure(code: Path, stage: str, run: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(code)}
    load = os.getloadavg()[0]
    out = subprocess.run([sys.executable, "-c", STAGE, stage, str(run)], env=env, cwd=code, check=True,
                         capture_output=True, text=True).stdout
    return {**json.loads(out.splitlines()[-1]), "load": load}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--against", default="main")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--stages", nargs="+", choices=("figures", "appendix"), default=["figures", "appendix"])
    args = parser.parse_args(argv)
    source = args.run.resolve()
    copy = source.with_name(source.name + "-bench")
    old = Path(tempfile.mkdtemp(prefix="bench-render-")) / "old"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(old), args.against], check=True,
                   capture_output=True)
    try:
        shutil.copytree(source, copy, ignore=shutil.ignore_patterns("figures", "appendix"))
        print(f"{source.name}: {args.against} ({_rev(old)}) against this checkout ({_rev(ROOT)}), "
              f"{os.cpu_count()} cores")
        for stage in args.stages:
            rows = {"old": [], "new": []}
            for _ in range(args.repeats):
                for key, code in (("old", old), ("new", ROOT)):
                    rows[key].append(_measure(code, stage, copy))
            for key in ("old", "new"):
                for r in rows[key]:
                    print(f"  {stage:8s} {key}: wall {r['wall']:6.2f} s, cpu {r['cpu']:6.2f} s + workers "
                          f"{r['workers_cpu']:6.2f} s, load {r['load']:.2f}")
            best = {k: min(r["wall"] for r in v) for k, v in rows.items()}
            print(f"  {stage:8s} best wall: {best['old']:.2f} s -> {best['new']:.2f} s "
                  f"({best['old'] / best['new']:.2f}x)")
    finally:
        shutil.rmtree(copy, ignore_errors=True)
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)], capture_output=True)
        shutil.rmtree(old.parent, ignore_errors=True)


def _rev(path: Path) -> str:
    return subprocess.run(["git", "-C", str(path), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip()


if __name__ == "__main__":
    main()
