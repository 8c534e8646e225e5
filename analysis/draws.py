"""Which samples of a run are independent draws from the joint input distribution.

In a Saltelli design only the A and B matrices are: the AB and BA blocks re-use their
columns. Latin and Morris designs are used whole. Samples whose model evaluation failed
(``status != 0``) never count.
"""

from __future__ import annotations

import json

import numpy as np
import xarray as xr


def iid_rows(ds: xr.Dataset) -> np.ndarray:
    """Boolean mask along ``sample`` of the independent, successfully evaluated draws."""
    keep = np.ones(ds.sizes["sample"], bool)
    if "matrix_labels" in ds.attrs and "matrix" in ds.coords:
        labels = json.loads(ds.attrs["matrix_labels"])
        keep &= np.isin(ds["matrix"].values, [labels.index(m) for m in ("A", "B")])
    if "status" in ds:
        keep &= ds["status"].values == 0
    return keep
