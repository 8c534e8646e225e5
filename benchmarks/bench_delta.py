"""Borgonovo delta's kernel sums (``analysis.delta._kde``) against a bare numpy ``exp``.

The arithmetic bound of the kernel sums is their ``exp``: ``n × 100`` exponentials per
input, resample and bandwidth. This times ``_kde`` on a block like the flagship's
(``n = 4096`` rows sorted by an input that drives the output, so that narrow classes
reach the far tails the clamp is for; Plischke et al.'s 16 classes, 100 grid points)
against ``np.exp`` (and ``np.exp`` then ``np.sqrt``, the wider kernel as ``_kde`` took it
before it squared the wider one instead) over a block of the same shape, alternately in
one process (best of ``--repeat``, CPU time): at one bandwidth, and at both of the
jackknife's (one ``exp`` of the wider kernel's exponents, the narrower kernel its square). Then one
bootstrap resample's estimates (``_kde_estimates``, 25 inputs and the dummy) with a kernel
per row against a kernel per run of copies of a row (the weighted kernel), alternately in
one process (CPU time). Then the whole estimator (``delta_indices``, 25 inputs,
30 resamples) on one thread and on every core.

Run: ``python benchmarks/bench_delta.py [--n 4096] [--repeat 50]``
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from analysis import delta


def _best(fns: dict, repeat: int) -> dict:
    best = {k: float("inf") for k in fns}
    for _ in range(repeat):
        for k, fn in fns.items():
            t0 = time.process_time()
            fn()
            best[k] = min(best[k], time.process_time() - t0)
    return best


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args(argv)
    n = args.n
    rng = np.random.default_rng(0)
    x = rng.random(n)
    y = (x + 0.05 * rng.normal(size=n))[np.argsort(x)]  # the output sorted by the input that drives it
    cls = delta._Classes.of(n)
    starts, n_c = cls.starts, cls.n_c
    sd = np.array([y[s:s + m].std(ddof=1) for s, m in zip(starts, n_c)])
    h = sd * (0.75 * n_c) ** -0.2
    scale, wide_scale = 1.0 / (n_c * h), 1.0 / (n_c * delta.WIDER * h)
    grid = np.linspace(y.min(), y.max(), delta.GRID_POINTS)
    # The exponents _kde computes (each row at its class's bandwidth), clamped as it clamps them.
    block = np.maximum(-0.5 * (np.subtract.outer(y, grid) / np.repeat(h, n_c)[:, None]) ** 2, delta._FLOOR)
    kernel = np.exp(block)
    out = np.empty_like(block)
    t = _best({"exp": lambda: np.exp(block, out=out),
               "sqrt": lambda: np.sqrt(kernel, out=out),
               "one": lambda: delta._kde(y, starts, n_c, scale, 1.0 / h, grid),
               "both": lambda: delta._kde(y, starts, n_c, scale, 1.0 / h, grid, wide_scale)}, args.repeat)
    print(f"{platform.node()}: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    print(f"kernel sums, {n} rows x {grid.size} grid points, {len(starts)} classes; best of {args.repeat} "
          "(CPU time)")
    print(f"  bare np.exp over the block          {t['exp'] * 1e3:8.3f} ms")
    print(f"  bare np.exp + np.sqrt               {(t['exp'] + t['sqrt']) * 1e3:8.3f} ms")
    print(f"  _kde, one bandwidth                 {t['one'] * 1e3:8.3f} ms   {t['one'] / t['exp']:.2f}x the exp")
    print(f"  _kde, both bandwidths               {t['both'] * 1e3:8.3f} ms   {t['both'] / (2 * t['exp']):.2f}x "
          f"two exp, {t['both'] / (t['exp'] + t['sqrt']):.2f}x exp + sqrt")

    x = rng.random((n, 25))
    yy = x @ rng.random(25) + rng.normal(size=n)
    _resample_row(x, yy, cls, args.repeat)
    params = [f"p{i}" for i in range(25)]
    cores = delta._threads()
    times = {}
    for threads in (1, cores):
        delta._threads = lambda threads=threads: threads
        t0 = time.perf_counter()
        delta.delta_indices(x, yy, params=params, resamples=30, rng=np.random.default_rng(1))
        times[threads] = time.perf_counter() - t0
    print(f"delta_indices, 25 inputs, 30 resamples (wall): 1 thread {times[1]:.2f} s, {cores} threads "
          f"{times[cores]:.2f} s ({times[1] / times[cores]:.2f}x); load average {os.getloadavg()[0]:.2f}")


def _resample_row(x: np.ndarray, y: np.ndarray, cls, repeat: int) -> None:
    """One resample's estimates, a kernel per row against a kernel per run (CPU time)."""
    rng = np.random.default_rng(2)
    n = y.size
    x = np.column_stack([x, rng.permutation(n)])
    counts = np.bincount(rng.integers(n, size=n), minlength=n)
    rows = delta._sorted_rows(np.argsort(x, axis=0, kind="stable"), counts)
    ys = y[rows]
    grid = np.linspace(y.min(), y.max(), delta.GRID_POINTS)
    runs = delta._Runs.of(rows, cls.starts)
    t = _best({"rows": lambda: delta._kde_estimates(ys, cls, grid),
               "runs": lambda: delta._kde_estimates(ys, cls, grid, runs),
               "find": lambda: delta._Runs.of(rows, cls.starts)}, max(3, repeat // 5))
    diff = np.abs(delta._kde_estimates(ys, cls, grid, runs) - delta._kde_estimates(ys, cls, grid)).max()
    print(f"one resample's estimates, {x.shape[1]} inputs, {runs.firsts.size / rows.size:.1%} of the rows "
          f"distinct; best of {max(3, repeat // 5)} (CPU time)")
    print(f"  a kernel per row                    {t['rows'] * 1e3:8.3f} ms")
    print(f"  a kernel per run (weighted)         {t['runs'] * 1e3:8.3f} ms   {t['runs'] / t['rows']:.2f}x, "
          f"finding the runs {t['find'] * 1e3:.3f} ms; max abs difference {diff:.1e}")


if __name__ == "__main__":
    main()
