"""The chunk path against the bare model, on one chunk of the flagship's default run.

- **bare model**: ``evaluate(x)`` on the chunk's inputs, built beforehand (not timed);
- **chunk path**: ``study.evaluate.evaluate_chunk`` on the same blocks, i.e. what
  ``study run`` does per chunk: the Saltelli rows from the seeds, the inverse CDFs, the
  model through the contract (read-only inputs, checks), the merge with the inputs.

Both are timed alternately in one process (best of ``--repeat``), so a busy machine slows
both alike; the figure to read is the ratio, of processor time (``time.process_time``: what
other processes take is not counted) and of wall time. Also prints where the chunk's own
time goes: the inputs as the chunk path builds them (``design_inputs``: the inverse CDFs of
the base matrices ``A`` and ``B``, then the Saltelli blocks) against the points then every
point's inverse CDF (``Design.unit`` and ``to_inputs``, the chunk path before), and the
checks of the model's result.

Run: ``python benchmarks/bench_chunk.py [--blocks 512] [--repeat 5]``
"""

from __future__ import annotations

import argparse
import os
import platform
import time

from study import load_study
from study.contract import check_result, resolve
from study.evaluate import evaluate_chunk
from study.sampling import design_inputs, make_design, to_inputs
from study.spec import DEFAULT_STUDY


def _best(fns: dict, repeat: int) -> dict:
    """Best wall and processor time of each function, timed alternately ``repeat`` times."""
    best = {k: [float("inf"), float("inf")] for k in fns}
    for _ in range(repeat):
        for k, fn in fns.items():  # alternately: load changes hit both
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            best[k] = [min(best[k][0], wall), min(best[k][1], cpu)]
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
    y = fn(x)
    n = x.sizes["sample"]
    evaluate_chunk(study, design, 0, blocks, model_ref=study.model, study_dir=study_dir)  # warm caches
    load = os.getloadavg()[0]
    times = _best({
        "bare model evaluate(x)": lambda: fn(x),
        "inputs (design_inputs)": lambda: design_inputs(study, design, blocks, 2 * blocks),
        "  before: points (Design.unit)": lambda: design.unit(blocks, 2 * blocks),
        "  before: inverse CDFs (to_inputs)": lambda: to_inputs(study, u, coords, design.params),
        "output checks (check_result)": lambda: check_result(y, x, study.model, design.params),
        "chunk path (evaluate_chunk)": lambda: evaluate_chunk(study, design, blocks, 2 * blocks,
                                                              model_ref=study.model, study_dir=study_dir),
    }, args.repeat)
    print(f"{platform.node()}: {os.cpu_count()} CPUs, load average {load:.2f} at the start, "
          f"{os.getloadavg()[0]:.2f} at the end")
    print(f"flagship chunk: {blocks} blocks of {design.block_size} = {n:,} samples; best of {args.repeat}")
    print(f"  {'':<36}{'wall':>10}  {'':>16}{'':>9}{'processor':>12}")
    bare_wall, bare_cpu = times["bare model evaluate(x)"]
    for label, (wall, cpu) in times.items():
        print(f"  {label:<36}{wall * 1e3:8.1f} ms  {n / wall / 1e6:6.2f} M samples/s {wall / bare_wall:5.2f}x"
              f"{cpu * 1e3:9.1f} ms {cpu / bare_cpu:5.2f}x the bare model")

if __name__ == "__main__":
    main()
