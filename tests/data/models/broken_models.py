"""Models that break the contract in known ways (for the contract tests)."""

import numpy as np
import xarray as xr


def nan_late(x):
    # Finite on the first design block (so the probe passes), NaN from sample 400 on.
    y = x.x1 + x.x2
    return xr.Dataset({"y": y.where(x["sample"] < 400)})


def wrong_length(x):
    return xr.Dataset({"y": ("sample", np.zeros(x.sizes["sample"] + 1))})


def no_sample_dim(x):
    return xr.Dataset({"y": ("time", np.zeros(3))})


def raises_late(x):
    if int(x["sample"].max()) >= 400:
        raise RuntimeError("solver diverged")
    return xr.Dataset({"y": x.x1 * 2})


def raises_on_some(x):
    if bool((x.x1 > 0.95).any()):
        raise FloatingPointError("x1 too large")
    return xr.Dataset({"y": x.x1 + x.x2})


def not_a_dataset(x):
    return x.x1.values
