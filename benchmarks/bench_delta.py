"""Borgonovo delta's kernel sums (``analysis.delta._kde``) against a bare numpy ``exp``.

The arithmetic bound of the kernel sums is their ``exp``: ``n × 100`` exponentials per
input and resample. This times ``_kde`` on the flagship's delta block (``n = 4096`` rows,
Plischke et al.'s 21 classes, 100 grid points) against ``np.exp`` over a block of the same
shape, alternately in one process (best of ``--repeat``), then the whole estimator
(``delta_indices``, 25 inputs, 30 resamples) on one thread and on every core.

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
            t0 = time.perf_counter()
            fn()
            best[k] = min(best[k], time.perf_counter() - t0)
    return best


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args(argv)
    n = args.n
    rng = np.random.default_rng(0)
    y = rng.normal(size=n)
    labels = delta.class_labels(n)
    starts = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])
    n_c = np.diff(np.r_[starts, n])
    h = np.array([y[s:s + m].std(ddof=1) for s, m in zip(starts, n_c)]) * (0.75 * n_c) ** -0.2
    grid = np.linspace(y.min(), y.max(), delta.GRID_POINTS)
    block = -0.5 * np.subtract.outer(y, grid) ** 2
    out = np.empty_like(block)
    t = _best({"exp": lambda: np.exp(block, out=out),
               "kde": lambda: delta._kde(y, starts, n_c, 1.0 / (n_c * h), 1.0 / h, grid)}, args.repeat)
    print(f"{platform.node()}: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    print(f"kernel sums, {n} rows x {grid.size} grid points, {len(starts)} classes; best of {args.repeat}")
    print(f"  bare np.exp over the block {t['exp'] * 1e3:8.3f} ms")
    print(f"  _kde                       {t['kde'] * 1e3:8.3f} ms   {t['kde'] / t['exp']:.2f}x the exp")

    x = rng.random((n, 25))
    yy = x @ rng.random(25) + rng.normal(size=n)
    params = [f"p{i}" for i in range(25)]
    cores = delta._threads()
    times = {}
    for threads in (1, cores):
        delta._threads = lambda threads=threads: threads
        t0 = time.perf_counter()
        delta.delta_indices(x, yy, params=params, resamples=30, rng=np.random.default_rng(1))
        times[threads] = time.perf_counter() - t0
    print(f"delta_indices, 25 inputs, 30 resamples: 1 thread {times[1]:.2f} s, {cores} threads "
          f"{times[cores]:.2f} s ({times[1] / times[cores]:.2f}x); load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
