"""A cheap model made slow per call, so a test can kill a run between chunks."""

import time

import numpy as np
import xarray as xr


def evaluate(x):
    time.sleep(0.25)  # per chunk, not per sample: the model stays vectorized
    y = np.sin(x.x1) + 2 * x.x2**2 + x.x1 * x.x2
    return xr.Dataset({"y": y, "y_high": (y > 1).astype(float)})
