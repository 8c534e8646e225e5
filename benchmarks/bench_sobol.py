"""Sobol' estimator with bootstrap: this toolkit against SALib 1.6 ``sobol.analyze``.

Same outputs for both: the Sobol' G-function of 25 parameters on SALib's own design,
N = 2**14 base rows, second order, 100 bootstrap resamples, one process. Prints wall time
and peak traced memory (``tracemalloc``) side by side, their ratios, and the largest
difference between the point estimates.

Run: ``python benchmarks/bench_sobol.py [--log2n 14] [--d 25] [--resamples 100]``
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
from SALib.analyze import sobol as salib_analyze
from SALib.sample import sobol as salib_sample

from analysis.sobol import sobol_indices
from study.testing import sobol_g_values
from common import measure


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log2n", type=int, default=14)
    parser.add_argument("--d", type=int, default=25)
    parser.add_argument("--resamples", type=int, default=100)
    parser.add_argument("--seed", type=int, default=20240601)
    args = parser.parse_args(argv)
    n, d = 2**args.log2n, args.d
    names = [f"x{i + 1}" for i in range(d)]
    problem = {"num_vars": d, "names": names, "bounds": [[0.0, 1.0]] * d}
    x = salib_sample.sample(problem, n, calc_second_order=True, seed=args.seed)
    coefficients = np.array([0, 0.5, 1, 2, 4.5, 9, 99] * 4)[:d]
    y = sobol_g_values(x, coefficients)
    print(f"D = {d}, N = {n}, second order, {args.resamples} resamples, {y.size} model runs")

    def ours():
        return sobol_indices(y.reshape(n, 1, -1, 1), params=names, second_order=True,
                             ci="bootstrap", resamples=args.resamples, rng=args.seed)

    def salib():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return salib_analyze.analyze(problem, y, calc_second_order=True,
                                         num_resamples=args.resamples, seed=args.seed)

    # Warm up both (lazy imports inside xarray, SALib and scipy) on a small design.
    small = salib_sample.sample(problem, 8, calc_second_order=True, seed=1).sum(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        salib_analyze.analyze(problem, small, calc_second_order=True, num_resamples=4, seed=1)
    sobol_indices(small.reshape(8, 1, -1, 1), params=names, second_order=True, ci="bootstrap",
                  resamples=4, rng=1)

    t_ours, m_ours, ds = measure(ours)
    t_salib, m_salib, si = measure(salib)
    upper = np.triu_indices(d, 1)
    diff = max(np.abs(ds.S1.values[0] - si["S1"]).max(), np.abs(ds.ST.values[0] - si["ST"]).max(),
               np.abs(ds.S2.values[0][upper] - si["S2"][upper]).max())
    print(f"{'':10s}{'time (s)':>12s}{'peak memory (MiB)':>20s}")
    print(f"{'toolkit':10s}{t_ours:12.3f}{m_ours / 2**20:20.1f}")
    print(f"{'SALib':10s}{t_salib:12.3f}{m_salib / 2**20:20.1f}")
    print(f"speed-up {t_salib / t_ours:.1f}x; memory ratio (toolkit / SALib) {m_ours / m_salib:.2f}")
    print(f"largest |difference| of S1, ST, S2 point estimates: {diff:.2e}")


if __name__ == "__main__":
    main()
