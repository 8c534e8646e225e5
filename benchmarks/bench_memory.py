"""Peak memory of ``study run`` against the base sample size N, each N in a fresh process.

Runs the flagship study (``params/asia_pacification.toml``: Sobol' with second order and
grouped indices, Morris and delta, the analysis and scenario discovery; no figures or
appendix) once per N, each in its own child process, and reads the child's peak resident
set size from the kernel (``os.wait4``, ``ru_maxrss``: exact, not sampled). A poller also
records the peak per stage (sampling + evaluation + writing ``results.nc``, then the
analysis), switching stage when the manifest records ``evaluation_s``. Prints one line per
N and the ratio of each peak to the smallest N's.

With ``--outputs`` the figures and the appendix are built too (a third stage, from the
manifest's ``complete``). With ``--main-job`` the README's main job runs exactly: the study
file itself (not a copy), its variants and its shift re-runs (``[report] shift_runs``),
figures and appendix; a stage ``variants`` then covers the variant and shift re-runs (from
the manifest's ``analysis_s`` to its ``complete``). Those re-runs use ``variant_samples``,
whatever N is.

Run: ``python benchmarks/bench_memory.py [--log2n 14 18] [--outputs | --main-job] [--out DIR] [--keep]``
(each run directory is deleted afterwards unless ``--keep``: at N = 2**18 ``results.nc``
alone holds about 17 GB).
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


def _main_manifest(out: Path) -> dict:
    """The manifest of the run under ``out`` that is no variant or shift re-run of another."""
    for path in out.glob("*/*/manifest.json"):
        data = json.loads(path.read_text())
        if data.get("variant_of") is None:
            return data
    return {}


def _stage_peaks(proc: psutil.Process, out: Path, stop: threading.Event, peaks: dict) -> None:
    """Poll the child's resident set size every 50 ms, attributing it to the current stage."""
    stage = "evaluation"
    while not stop.is_set():
        try:
            rss = proc.memory_info().rss
        except psutil.Error:
            return
        if stage != "outputs":
            try:
                data = _main_manifest(out)
                if stage == "evaluation" and "evaluation_s" in data["timings"]:
                    stage = "analysis"
                if stage == "analysis" and "analysis_s" in data["timings"] and data.get("status") != "complete":
                    stage = "variants"  # variant and shift re-runs (with --main-job)
                if data.get("status") == "complete":
                    stage = "outputs"  # figures and appendix (with --outputs or --main-job)
            except (ValueError, KeyError, OSError):
                pass  # caught mid-rename; read again next tick
        peaks[stage] = max(peaks.get(stage, 0), rss)
        stop.wait(0.05)


def measure(log2n: int, out_root: Path, study: Path, keep: bool, outputs: bool = False,
            main_job: bool = False) -> dict:
    """Run the study at N = 2**log2n in a child process; its peak memory, timings and size.

    Without ``main_job`` the run has no variants or shift re-runs (``--no-variants``), and
    without ``outputs`` no figures or appendix.
    """
    out = Path(tempfile.mkdtemp(prefix=f"mem-2^{log2n}-", dir=out_root))
    cmd = [sys.executable, "-m", "study", "run", str(study), "--samples", str(2**log2n),
           *(() if main_job else ("--no-variants",)), *(() if outputs else ("--no-figures", "--no-appendix")),
           "--out", str(out)]
    t0 = time.perf_counter()
    child = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    peaks, stop = {}, threading.Event()
    poller = threading.Thread(target=_stage_peaks, args=(psutil.Process(child.pid), out, stop, peaks))
    poller.start()
    # wait4 gives this child's own rusage; ru_maxrss is in KiB on Linux.
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - t0
    stop.set()
    poller.join()
    child.returncode = os.waitstatus_to_exitcode(status)
    run_dir = Path(child.stdout.read().strip().splitlines()[-1]) if child.returncode == 0 else None
    if run_dir is None:
        raise SystemExit(f"study run at N = 2^{log2n} failed with exit status {child.returncode}: {' '.join(cmd)}")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    size = sum(f.stat().st_size for f in run_dir.rglob("*") if f.is_file())
    if not keep:
        shutil.rmtree(out)
    return {"log2n": log2n, "runs": manifest["samples"]["runs_completed"], "peak": usage.ru_maxrss * 1024,
            "peak_eval": peaks.get("evaluation", 0), "peak_analysis": peaks.get("analysis", 0),
            "peak_variants": peaks.get("variants", 0), "peak_outputs": peaks.get("outputs", 0),
            "wall": wall, "timings": manifest["timings"], "disk": size}


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
    print(f"{'N':>8} {'model runs':>11} {'peak MiB':>9} {'eval MiB':>9} {'analysis MiB':>12} {'variants MiB':>12} "
          f"{'outputs MiB':>11} {'eval s':>7} {'analysis s':>10} {'wall s':>7} {'disk GB':>8}  peak ratio  load after")
    first = None
    for log2n in args.log2n:
        r = measure(log2n, args.out, study, args.keep, args.outputs or args.main_job, args.main_job)
        first = first or r["peak"]
        t = r["timings"]
        print(f"{'2^' + str(log2n):>8} {r['runs']:>11,} {r['peak'] / 2**20:>9.0f} {r['peak_eval'] / 2**20:>9.0f} "
              f"{r['peak_analysis'] / 2**20:>12.0f} {r['peak_variants'] / 2**20:>12.0f} "
              f"{r['peak_outputs'] / 2**20:>11.0f} "
              f"{t.get('evaluation_s', float('nan')):>7.1f} "
              f"{t.get('analysis_s', float('nan')):>10.1f} {r['wall']:>7.1f} {r['disk'] / 1e9:>8.2f}  "
              f"{r['peak'] / first:.2f}x  {os.getloadavg()[0]:.2f}", flush=True)


if __name__ == "__main__":
    main()
