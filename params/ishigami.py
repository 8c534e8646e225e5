"""The Ishigami–Homma function as a study model: the reference example of the README.

A plain module beside its study file (``params/ishigami.toml``) is importable as the
study's model, so this is all a user writes to plug in a model of their own.
"""

import numpy as np
import xarray as xr


def evaluate(x: xr.Dataset) -> xr.Dataset:
    """Ishigami–Homma function on ``sample``; ``a`` and ``b`` come from ``[constants]``.

    Analytic indices for a = 7, b = 0.1: S1 = (0.3139, 0.4424, 0), ST = (0.5576, 0.4424,
    0.2437) (Ishigami & Homma 1990; Sobol' & Levitan 1999).
    """
    y = np.sin(x.x1) + x.a * np.sin(x.x2) ** 2 + x.b * x.x3**4 * np.sin(x.x1)
    return xr.Dataset({"y": y, "y_positive": (y > 0).astype(float)})
