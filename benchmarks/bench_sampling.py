"""Saltelli design: this toolkit's ``study.sampling.saltelli_unit`` against SALib 1.6.

Both build the same unit-cube design (D = 25 parameters, N = 2**14 base rows, second
order, one seed) in one process. Prints wall time and peak traced memory (``tracemalloc``)
side by side, their ratios, and whether the two matrices are identical.

Run: ``python benchmarks/bench_sampling.py [--log2n 14] [--d 25] [--seed 20240601]``
"""

from __future__ import annotations

import argparse

import numpy as np
from SALib.sample import sobol as salib_sample

from study.sampling import saltelli_unit
from common import measure


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log2n", type=int, default=14)
    parser.add_argument("--d", type=int, default=25)
    parser.add_argument("--seed", type=int, default=20240601)
    args = parser.parse_args(argv)
    n, d = 2**args.log2n, args.d
    problem = {"num_vars": d, "names": [f"x{i + 1}" for i in range(d)], "bounds": [[0.0, 1.0]] * d}
    print(f"D = {d}, N = {n}, second order: {n * (2 * d + 2)} x {d} design")
    saltelli_unit(d, 8, second_order=True, seed=1)  # warm up lazy imports
    t_ours, m_ours, ours = measure(lambda: saltelli_unit(d, n, second_order=True, seed=args.seed))
    t_salib, m_salib, theirs = measure(
        lambda: salib_sample.sample(problem, n, calc_second_order=True, seed=args.seed))
    print(f"{'':10s}{'time (s)':>12s}{'peak memory (MiB)':>20s}")
    print(f"{'toolkit':10s}{t_ours:12.3f}{m_ours / 2**20:20.1f}")
    print(f"{'SALib':10s}{t_salib:12.3f}{m_salib / 2**20:20.1f}")
    print(f"speed-up {t_salib / t_ours:.1f}x; memory ratio (toolkit / SALib) {m_ours / m_salib:.2f}")
    print(f"identical matrices: {ours.shape == theirs.shape and bool(np.array_equal(ours, theirs))}")


if __name__ == "__main__":
    main()
