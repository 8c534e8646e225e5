"""From a method's ``(element, param)`` result to the run's files: tidy rows and labelled groups.

Every method's :func:`analyze` works on one output at a time, its extra dimensions
flattened into ``element``; these helpers do the flattening, turn a result into rows of
``indices.csv`` (:func:`tidy_rows`) and into the variables of its ``indices.nc`` group
(:func:`labelled`), named ``<output>__<var>`` along the output's own dimensions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from .draws import read_rows

__all__ = ["flatten", "element_labels", "iid_values", "element_dicts", "element_names", "tidy_rows", "s2_rows",
           "columns", "stack", "element_position", "labelled"]


def flatten(da: xr.DataArray) -> tuple[np.ndarray, pd.MultiIndex | None, tuple[str, ...]]:
    """``(sample, *dims)`` -> ``(n, K)`` values, the elements' index, and the dims."""
    dims = tuple(d for d in da.dims if d != "sample")
    values = da.transpose("sample", *dims).values.reshape(da.sizes["sample"], -1)
    if not dims:
        return values, None, dims
    levels = [da[d].values if d in da.coords else np.arange(da.sizes[d]) for d in dims]
    return values, pd.MultiIndex.from_product(levels, names=dims), dims


def element_labels(da: xr.DataArray):
    """The ``(index, dims)`` that :func:`flatten` gives, read from the first sample only."""
    _, index, dims = flatten(da.isel(sample=slice(0, 1)))
    return index, dims


def iid_values(da: xr.DataArray, iid: np.ndarray):
    """Like :func:`flatten`, on the samples at positions ``iid`` only (read block by block)."""
    return read_rows(da, iid).reshape(len(iid), -1), *element_labels(da)


def element_dicts(index, k: int, dims) -> list[dict]:
    if index is None:
        return [{}] * k
    return [dict(zip(dims, (v if isinstance(v, tuple) else (v,)))) for v in index]


def element_names(output: str, index) -> list[str]:
    """``output`` or ``output[a, b]`` for each element: how notes and errors name one."""
    return [output] if index is None else [f"{output}[{', '.join(map(str, np.atleast_1d(k)))}]" for k in index]


def tidy_rows(ds: xr.Dataset, method: str, output: str, dims, index, specs, conf_method: str,
              flagged=("S1", "ST")) -> list[dict]:
    """Tidy rows from an ``(element, param)`` Dataset for the variables in ``specs``.

    ``ds["influential"]`` fills the ``influential`` column of the ``flagged`` variables.
    """
    rows = []
    elems = element_dicts(index, ds.sizes["element"], dims)
    for var, (param_dim, estimator) in specs.items():
        if var not in ds or ds[var].size == 0:
            continue
        da = ds[var]
        for e, labels in enumerate(elems):
            sub = da.isel(element=e)
            names = [""] if param_dim is None else [str(p) for p in ds[param_dim].values]
            vals = np.atleast_1d(sub.values)
            conf = np.atleast_1d(ds[f"{var}_conf"].isel(element=e).values) if f"{var}_conf" in ds else np.full(len(vals), np.nan)
            low = np.atleast_1d(ds[f"{var}_low"].isel(element=e).values) if f"{var}_low" in ds else vals - conf
            high = np.atleast_1d(ds[f"{var}_high"].isel(element=e).values) if f"{var}_high" in ds else vals + conf
            infl = (np.atleast_1d(ds["influential"].isel(element=e).values)
                    if var in flagged and "influential" in ds else [None] * len(vals))
            order = (-np.nan_to_num(vals, nan=-np.inf)).argsort(kind="stable")
            rank = np.empty(len(vals), int)
            rank[order] = np.arange(1, len(vals) + 1)
            for i, name in enumerate(names):
                rows.append({"method": method, "output": output, **labels, "param": name, "index": var,
                             "value": vals[i], "conf": conf[i], "conf_low": low[i], "conf_high": high[i],
                             "estimator": estimator, "conf_method": conf_method,
                             "influential": infl[i], "rank": rank[i] if param_dim else None})
    return rows


def s2_rows(ds, output, dims, index, conf_method, estimator) -> list[dict]:
    if "S2" not in ds:
        return []
    rows = []
    params = [str(p) for p in ds["param"].values]
    for e, labels in enumerate(element_dicts(index, ds.sizes["element"], dims)):
        s2 = ds["S2"].isel(element=e).values
        c2 = ds["S2_conf"].isel(element=e).values
        lo, hi = ds["S2_low"].isel(element=e).values, ds["S2_high"].isel(element=e).values
        for i in range(len(params)):
            for j in range(i + 1, len(params)):
                rows.append({"method": "sobol", "output": output, **labels, "param": f"{params[i]}:{params[j]}",
                             "index": "S2", "value": s2[i, j], "conf": c2[i, j], "conf_low": lo[i, j],
                             "conf_high": hi[i, j], "estimator": estimator, "conf_method": conf_method})
    return rows


def columns(da: xr.DataArray):
    """Each element of an output's extra dimensions as a 1-d array along ``sample``.

    C order over the extra dimensions, as :func:`flatten` numbers the elements.
    """
    dims = [d for d in da.dims if d != "sample"]
    for pos in np.ndindex(*[da.sizes[d] for d in dims]):
        yield da.isel(dict(zip(dims, pos))).values


def stack(parts: list[xr.Dataset]) -> xr.Dataset:
    """Per-element results along ``element`` again, their notes joined."""
    notes = "; ".join(n for n in (p.attrs.get("notes", "") for p in parts) if n)
    out = xr.concat(parts, dim="element", coords="minimal", compat="override", combine_attrs="override")
    return out.assign_coords(element=np.arange(len(parts))).assign_attrs(notes=notes)


def element_position(index, dims, row) -> int:
    if index is None:
        return 0
    key = tuple(row[d] for d in dims)
    return index.get_loc(key if len(key) > 1 else key[0])


def labelled(ds: xr.Dataset, output: str, index, prefix: str = "") -> xr.Dataset:
    """Rename to ``<output>__<var>`` and unstack elements into the output's own dims."""
    ds = ds.copy(deep=False)  # clear attributes in place: Dataset.drop_attrs rebuilds per variable
    ds.attrs = {}
    for v in ds.variables.values():
        v.attrs = {}
    ds = ds.drop_vars([c for c in ds.coords if "element" in ds[c].dims])
    if index is None:
        ds = ds.isel(element=0)
    else:
        ds = ds.assign_coords(xr.Coordinates.from_pandas_multiindex(index, "element")).unstack("element")
    tag = f"{prefix}__" if prefix else ""
    return ds.rename({v: f"{output}__{tag}{v}" for v in ds.data_vars})
