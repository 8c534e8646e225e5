"""A linear model for the lean test runs: ``y = x1 + 2 x2`` (``x3`` has no effect).

With the three inputs uniform on [0, 1], Var(y) = 5/12: S1 = ST = 1/5 for ``x1``, 4/5 for
``x2`` and 0 for ``x3``.
"""

import xarray as xr


def evaluate(x: xr.Dataset) -> xr.Dataset:
    y = x.x1 + 2 * x.x2 + 0 * x.x3
    return xr.Dataset({"y": y.assign_attrs(label="Linear response")})
