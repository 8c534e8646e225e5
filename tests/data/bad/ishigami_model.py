"""Ishigami model beside the bad study files (so that only the intended mistake fails)."""

import numpy as np
import xarray as xr

NOT_CALLABLE = 3


def evaluate(x):
    y = np.sin(x.x1) + x.a * np.sin(x.x2) ** 2 + x.b * x.x3**4 * np.sin(x.x1)
    return xr.Dataset({"y": y, "y_positive": (y > 0).astype(float)})
