"""The chunk path against the bare model, on one chunk of the flagship's default run.

- **bare model**: ``evaluate(x)`` on the chunk's inputs, built beforehand (not timed);
- **chunk path**: ``study.evaluate.evaluate_chunk`` on the same blocks, i.e. what
  ``study run`` does per chunk: the Saltelli rows from the seeds, the inverse CDFs, the
  model through the contract (read-only inputs, checks), the merge with the inputs.

Both are timed alternately in one process (best of ``--repeat``), so a busy machine slows
both alike; the figure to read is the ratio. Also prints where the chunk's time goes.

Run: ``python benchmarks/bench_chunk.py [--blocks 512] [--repeat 5]``
"""

from __future__ import annotations

import argparse
import os
import platform
import time

from study import load_study
from study.contract import resolve
from study.evaluate import evaluate_chunk
from study.sampling import make_design, to_inputs
from study.spec import DEFAULT_STUDY


def _best(fns: dict, repeat: int) -> dict:
    best = {k: float("inf") for k in fns}
    for _ in range(repeat):
        for k, fn in fns.items():  # alternately: load changes hit both
            t0 = time.perf_counter()
            fn()
            best[k] = min(best[k], time.perf_counter() - t0)
    return best


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=None, help="base rows per chunk (default: the study's chunk_rows)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    study = load_study(DEFAULT_STUDY)
    design = make_design(study)
    blocks = args.blocks or study.sampling.chunk_rows
    study_dir = str(study.path.resolve().parent)
    fn = resolve(study.model, study_dir, str(study.path))
    u, coords = design.unit(0, blocks)
    x = to_inputs(study, u, coords, design.params)
    n = x.sizes["sample"]
    evaluate_chunk(study, design, 0, blocks, model_ref=study.model, study_dir=study_dir)  # warm caches
    times = _best({
        "bare model evaluate(x)": lambda: fn(x),
        "design rows (Design.unit)": lambda: design.unit(blocks, 2 * blocks),
        "inverse CDFs (to_inputs)": lambda: to_inputs(study, u, coords, design.params),
        "chunk path (evaluate_chunk)": lambda: evaluate_chunk(study, design, blocks, 2 * blocks,
                                                              model_ref=study.model, study_dir=study_dir),
    }, args.repeat)
    print(f"{platform.node()}: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at the end")
    print(f"flagship chunk: {blocks} blocks of {design.block_size} = {n:,} samples; best of {args.repeat}")
    bare = times["bare model evaluate(x)"]
    for label, t in times.items():
        print(f"  {label:<32}{t * 1e3:9.1f} ms  {n / t / 1e6:7.2f} M samples/s  {t / bare:5.2f}x the bare model")


if __name__ == "__main__":
    main()
