"""Measurement helpers shared by the benchmarks (run them as ``python benchmarks/<name>.py``)."""

from __future__ import annotations

import gc
import time
import tracemalloc


def measure(fn):
    """Wall time (s) of ``fn()`` untraced, then its peak traced memory (bytes), and its result.

    Tracing slows allocation-heavy code unevenly, so time and memory come from two calls.
    """
    gc.collect()
    t0 = time.perf_counter()
    out = fn()
    elapsed = time.perf_counter() - t0
    gc.collect()
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return elapsed, peak, out
