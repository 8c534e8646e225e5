"""A vectorized test model whose cost per sample is set by a constant, for the dask benchmark.

``evaluate`` is the Ishigami function plus a damped term from ``work`` steps of a dependent
recurrence ``z <- sin(z + x1)`` over the whole sample. Each step is one vectorized numpy
call, so the cost is ``work`` times a few nanoseconds per sample plus a fixed call
overhead that a chunk of thousands of samples amortises: the cost grows linearly with the
sample and the model stays pure and vectorized like a real one. The recurrence is
CPU-bound (it holds a core, as a real model does), which a ``time.sleep`` stand-in would
not: sleeping workers overlap even on a busy machine and would overstate the speed-up.
The result depends on every step (``z`` feeds the output), so no step can be skipped.

An optional constant ``sleep`` (seconds per sample) adds a wait instead: it stands for a
model that waits on an external simulator, and measures scheduling overhead alone.
"""

from __future__ import annotations

import time

import numpy as np
import xarray as xr


def evaluate(x: xr.Dataset) -> xr.Dataset:
    """Ishigami function plus ``1e-3 * z``, where ``z`` is ``work`` steps of ``sin(z + x1)``.

    Parameters
    ----------
    x : xarray.Dataset
        ``x1, x2, x3`` along ``sample``; constant ``work`` (steps of the recurrence) and
        optionally ``sleep`` (seconds to wait per sample).

    Returns
    -------
    xarray.Dataset
        ``y`` along ``sample``.
    """
    x1, x2, x3 = (x[k].values for k in ("x1", "x2", "x3"))
    z = np.zeros_like(x1)
    for _ in range(int(x["work"])):
        np.sin(z + x1, out=z)
    if "sleep" in x:
        time.sleep(float(x["sleep"]) * x1.size)
    y = np.sin(x1) + 7.0 * np.sin(x2) ** 2 + 0.1 * x3**4 * np.sin(x1) + 1e-3 * z
    return xr.Dataset({"y": ("sample", y)}, coords={"sample": x["sample"]} if "sample" in x.coords else None)
