"""Peak memory of ``study run`` against the base sample size N, each N in a fresh process.

Runs the flagship study (``params/asia_pacification.toml``: Sobol' with second order and
grouped indices, Morris and delta, the analysis and scenario discovery; no figures or
appendix) once per N, each in its own child process, and reads the child's peak resident
set size from the kernel (``os.wait4``, ``ru_maxrss``: exact, not sampled; the largest of
the child and the descendants it reaped, not their sum). A poller also records, every
50 ms, the peak per stage of the main process's RSS and of the RSS summed over the main
process and all its descendants ("tree": the side runs' worker processes, xelatex). The
stage is the last stage line of the main run on the child's standard error
(``mcsens.talk.stage``): evaluation (sampling, model, writing ``results.nc``), analysis,
variants (waiting for the side runs and comparing), figures, appendix. Prints one line per
N with the peaks, the seconds per stage, the disk used and the ratio of each peak to the
first N's; the child's standard error is kept in ``<out>/mem-2^<log2n>.log``.

With ``--outputs`` the figures and the appendix are built too. With ``--main-job`` the
README's main job runs exactly: the study file itself (not a copy), its variants and its
shift re-runs (``[report] shift_runs``), figures and appendix. Those re-runs use
``variant_samples``, whatever N is, in worker processes that run while the main run is
evaluated: their memory is in the tree figures only.

Run: ``python benchmarks/bench_memory.py [--log2n 14 18] [--outputs | --main-job] [--out DIR] [--keep]``
(each run directory is deleted afterwards unless ``--keep``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
FLAGSHIP = ROOT / "params" / "asia_pacification.toml"


def study_copy(dest: Path, source: Path = FLAGSHIP, **keys) -> Path:
    """Write a copy of a study file with top-level-style keys replaced or removed.

    Each keyword ``key=value`` replaces every ``key = …`` line (a multi-line array too)
    with ``key = value`` (``value`` is TOML text); ``key=None`` removes it. The flagship's
    ``variants`` (separate studies run beside it at a fixed N) are always removed, so that
    a benchmark times the flagship's own run.

    Parameters
    ----------
    dest : pathlib.Path
        File to write.
    source : pathlib.Path
        Study file to copy (default: the flagship).
    **keys : str or None
        Keys to replace (TOML value text) or remove (``None``).

    Returns
    -------
    pathlib.Path
        ``dest``.
    """
    text = source.read_text()
    for key, value in {"variants": None, "variant_samples": None, **keys}.items():
        # A value runs to the end of its line, or to its closing bracket for an array.
        pattern = re.compile(rf"^{re.escape(key)}\s*=\s*(\[[^\]]*\]|[^\n]*)[^\n]*\n", re.MULTILINE)
        text = pattern.sub("" if value is None else f"{key} = {value}\n", text)
    dest.write_text(text)
    return dest


#: Stage lines of the main run on standard error (``mcsens.talk.stage``) and the stage each starts.
_STAGE_WORDS = {"evaluating": "evaluation", "analysis": "analysis", "comparing": "variants",
                "figures": "figures", "appendix": "appendix"}
STAGES = ("evaluation", "analysis", "variants", "figures", "appendix")


def _tree_rss(proc: psutil.Process) -> tuple[int, int]:
    """Resident set size of ``proc``, and the sum of it and its descendants' (side-run workers, xelatex).

    Read from ``/proc/<pid>/statm`` (cheap). The sum counts pages the forkserver's workers
    share with each other once per process, so it is an upper bound on what the tree holds.
    (The proportional set size would not be, but ``smaps_rollup`` walks each process's page
    tables under its memory-map lock: polled every 50 ms it slowed a 3 GB evaluation severalfold.)
    """
    rss = proc.memory_info().rss
    total = rss
    for p in proc.children(recursive=True):
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass  # a worker or xelatex that ended between the listing and the read
    return rss, total


def _read_stages(stream, name: str, state: dict, log) -> None:
    """Follow the child's standard error: the main run's stage lines set ``state['stage']``."""
    pattern = re.compile(rf"\b{re.escape(name)}: (\w+)")
    for line in stream:
        log.write(line)
        log.flush()
        m = pattern.search(line)
        if m and m.group(1) in _STAGE_WORDS:
            stage = _STAGE_WORDS[m.group(1)]
            now = time.perf_counter()
            state["seconds"][state["stage"]] = state["seconds"].get(state["stage"], 0.0) + now - state["since"]
            state["stage"], state["since"] = stage, now


def _stage_peaks(proc: psutil.Process, stop: threading.Event, state: dict, peaks: dict) -> None:
    """Poll every 50 ms: the main process's RSS and the whole tree's, per current stage."""
    while not stop.is_set():
        try:
            rss, tree = _tree_rss(proc)
        except psutil.Error:
            return
        stage = state["stage"]
        peaks[stage] = max(peaks.get(stage, 0), rss)
        peaks["tree " + stage] = max(peaks.get("tree " + stage, 0), tree)
        peaks["tree"] = max(peaks.get("tree", 0), tree)
        stop.wait(0.05)


def study_name(study: Path) -> str:
    """The ``[study] name`` of a study file (its stage lines start with it)."""
    import tomllib

    return tomllib.loads(study.read_text())["study"]["name"]


def measure(log2n: int, out_root: Path, study: Path, keep: bool, outputs: bool = False,
            main_job: bool = False) -> dict:
    """Run the study at N = 2**log2n in a child process; its peak memory, timings and size.

    Without ``main_job`` the run has no variants or shift re-runs (``--no-variants``), and
    without ``outputs`` no figures or appendix. The child's standard error (its stage
    lines) is kept in ``<out_root>/mem-2^<log2n>.log``.
    """
    out = Path(tempfile.mkdtemp(prefix=f"mem-2^{log2n}-", dir=out_root))
    cmd = [sys.executable, "-m", "study", "run", str(study), "--samples", str(2**log2n),
           *(() if main_job else ("--no-variants",)), *(() if outputs else ("--no-figures", "--no-appendix")),
           "--out", str(out)]
    t0 = time.perf_counter()
    child = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    state = {"stage": "evaluation", "since": t0, "seconds": {}}
    peaks, stop = {}, threading.Event()
    with open(out_root / f"mem-2^{log2n}.log", "w") as log:
        reader = threading.Thread(target=_read_stages, args=(child.stderr, study_name(study), state, log))
        poller = threading.Thread(target=_stage_peaks, args=(psutil.Process(child.pid), stop, state, peaks))
        reader.start()
        poller.start()
        # wait4 gives this child's own rusage; ru_maxrss is in KiB on Linux (the largest of
        # the child and its reaped descendants, not their sum).
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - t0
        stop.set()
        poller.join()
        reader.join()
    state["seconds"][state["stage"]] = state["seconds"].get(state["stage"], 0.0) + wall - (state["since"] - t0)
    child.returncode = os.waitstatus_to_exitcode(status)
    run_dir = Path(child.stdout.read().strip().splitlines()[-1]) if child.returncode == 0 else None
    if run_dir is None:
        raise SystemExit(f"study run at N = 2^{log2n} failed with exit status {child.returncode}: {' '.join(cmd)}")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    if not keep:
        shutil.rmtree(out)
    return {"log2n": log2n, "runs": manifest["samples"]["runs_completed"], "peak": usage.ru_maxrss * 1024,
            "peaks": peaks, "seconds": state["seconds"], "wall": wall, "timings": manifest["timings"],
            "disk": size}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log2n", type=int, nargs="+", default=[14, 18])
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "bench-runs")
    parser.add_argument("--study", type=Path, default=FLAGSHIP)
    parser.add_argument("--keep", action="store_true", help="keep the run directories")
    parser.add_argument("--outputs", action="store_true", help="also build the figures and the appendix")
    parser.add_argument("--main-job", action="store_true",
                        help="the README's main job: the study file itself with its variants, shift re-runs, "
                             "figures and appendix")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    # The main job runs the file itself: its variants are named relative to it.
    study = args.study.resolve() if args.main_job else study_copy(args.out / args.study.name, args.study)
    what = ("the main job: variants, shift re-runs, figures and appendix" if args.main_job else
            "without its variants, " + ("with figures and appendix" if args.outputs else "no figures or appendix"))
    print(f"study {args.study.name}, {what}; peak RSS per run (kernel ru_maxrss); "
          f"load average {'/'.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("MiB: the main process's peak RSS per stage (50 ms poller); 'tree' is the peak of the sum of the "
          "RSS of the main process and all its descendants (side-run workers, xelatex)")
    print(f"{'N':>6} {'model runs':>11} {'peak':>6} {'tree':>6} " + " ".join(f"{s[:8]:>8}" for s in STAGES)
          + " " + " ".join(f"{'t.' + s[:6]:>8}" for s in STAGES) + "  | seconds per stage: " + " ".join(
              f"{s[:6]:>6}" for s in STAGES) + f" {'wall':>6} {'disk GB':>7}  ratio  load after")
    first = None
    for log2n in args.log2n:
        r = measure(log2n, args.out, study, args.keep, args.outputs or args.main_job, args.main_job)
        first = first or r["peak"]
        p, sec = r["peaks"], r["seconds"]
        print(f"{'2^' + str(log2n):>6} {r['runs']:>11,} {r['peak'] / 2**20:>6.0f} {p.get('tree', 0) / 2**20:>6.0f} "
              + " ".join(f"{p.get(s, 0) / 2**20:>8.0f}" for s in STAGES) + " "
              + " ".join(f"{p.get('tree ' + s, 0) / 2**20:>8.0f}" for s in STAGES) + "  | "
              + " " * 20 + " ".join(f"{sec.get(s, 0):>6.1f}" for s in STAGES)
              + f" {r['wall']:>6.1f} {r['disk'] / 1e9:>7.2f}  {r['peak'] / first:.2f}x  {os.getloadavg()[0]:.2f}",
              flush=True)


if __name__ == "__main__":
    main()
