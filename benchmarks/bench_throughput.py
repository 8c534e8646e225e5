"""Model evaluation throughput: the vectorized flagship model against a per-sample Python loop.

Same inputs for all three (the flagship's Saltelli design, second order):

- **vectorized**: ``evaluate(x)`` once on ``--n`` samples;
- **toolkit chunk**: ``study.evaluate.evaluate_chunk`` on the same number of samples, i.e.
  what ``study run`` does per chunk: generate the design rows from the seed, map them
  through the inverse CDFs, call the model, check the result against the contract;
- **per-sample loop**: the way EMA Workbench and most hand-written scripts call a model,
  one sample at a time (a one-sample Dataset per call, the same model function), on the
  first ``--loop`` samples.

Prints samples per second (best of ``--repeat``) and the ratios, and checks that the loop
and the vectorized call give the same numbers.

Run: ``python benchmarks/bench_throughput.py [--n 65536] [--loop 1000] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from study import load_study
from study.evaluate import evaluate_chunk
from study.models.asia_pacification import evaluate
from study.sampling import make_design, to_inputs

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_memory import study_copy  # noqa: E402


def best_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2**16, help="samples per vectorized call")
    parser.add_argument("--loop", type=int, default=1000, help="samples evaluated one at a time")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        study = load_study(study_copy(Path(tmp) / "asia_pacification.toml"))
    design = make_design(study)
    # Whole blocks (one base row of every replicate) covering at least n samples.
    blocks = -(-args.n // design.block_size)
    u, coords = design.unit(0, blocks)
    x = to_inputs(study, u, coords, design.params)
    n = x.sizes["sample"]
    ref = study.model
    print(f"flagship model, {len(design.params)} parameters, {n:,} samples per vectorized call "
          f"({blocks} blocks of {design.block_size}), {args.loop:,} in the loop; best of {args.repeat}")

    t_vec = best_time(lambda: evaluate(x), args.repeat)
    t_chunk = best_time(lambda: evaluate_chunk(study, design, 0, blocks, model_ref=ref,
                                               study_dir=str(study.path.parent)), args.repeat)
    m = min(args.loop, n)
    singles = [x.isel(sample=slice(i, i + 1)) for i in range(m)]  # slicing is not timed

    def loop():
        return [evaluate(s) for s in singles]

    t_loop = best_time(loop, max(1, args.repeat - 2))
    looped = np.concatenate([y["depth"].values for y in loop()])
    whole = evaluate(x)["depth"].values[:m]
    if not np.allclose(looped, whole, rtol=1e-12, atol=1e-12):
        raise SystemExit("per-sample loop and vectorized call disagree")

    rates = {"vectorized evaluate(x)": n / t_vec, "toolkit chunk (design+ppf+model+check)": n / t_chunk,
             "per-sample Python loop": m / t_loop}
    loop_rate = rates["per-sample Python loop"]
    for label, rate in rates.items():
        print(f"  {label:<40}{rate:>12,.0f} samples/s   {rate / loop_rate:8.0f}x the loop")
    print(f"  per-sample loop: {1e3 / loop_rate:.2f} ms per sample; vectorized: {1e6 / rates['vectorized evaluate(x)']:.1f} us")


if __name__ == "__main__":
    main()
