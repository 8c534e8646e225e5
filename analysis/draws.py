"""Which samples of a run are independent draws from the joint input distribution, and
reading a variable at those samples.

In a Saltelli design only the A and B matrices are: the AB and BA blocks re-use their
columns. Latin and Morris designs are used whole. Samples whose model evaluation failed
(``status != 0``) never count.

Both functions read ``results.nc`` in contiguous blocks of samples: memory holds one block,
not a whole variable (122 MB per scalar variable for the flagship at N = 2**18). Picking
rows with ``isel(sample=positions)`` instead would be as lean but about 40 times slower
through netCDF4's point selection.
"""

from __future__ import annotations

import json

import numpy as np
import xarray as xr

#: Bytes of one variable read at a time.
BLOCK_BYTES = 32 * 2**20

#: Independent draws the figures and the appendix's tables over draws read at most. A
#: Saltelli design's rows run base row by base row (each with its replicates' A and B
#: rows), so a prefix keeps every replicate and both matrices, and is the start of each
#: replicate's scrambled Sobol' sequence: as balanced a subsample as one can draw, and
#: fixed by the recorded seed. 65,536 draws (the flagship's at N = 2**15) draw the same
#: histograms and hexagon maps as more would, and bound what the figures and the
#: appendix hold at any N.
MAX_DRAWS = 65536


def _blocks(n: int, row_bytes: int, stop: int | None = None):
    step = max(1, BLOCK_BYTES // max(1, row_bytes))
    for start in range(0, n if stop is None else min(n, stop), step):
        yield slice(start, min(start + step, n))


def iid_rows(ds: xr.Dataset) -> np.ndarray:
    """Boolean mask along ``sample`` of the independent, successfully evaluated draws."""
    n = ds.sizes["sample"]
    keep = np.ones(n, bool)
    if "matrix_labels" in ds.attrs and "matrix" in ds.coords:
        labels = json.loads(ds.attrs["matrix_labels"])
        wanted = [labels.index(m) for m in ("A", "B")]
        for block in _blocks(n, ds["matrix"].dtype.itemsize):
            keep[block] &= np.isin(ds["matrix"].isel(sample=block).values, wanted)
    if "status" in ds:
        for block in _blocks(n, ds["status"].dtype.itemsize):
            keep[block] &= ds["status"].isel(sample=block).values == 0
    return keep


def iid_positions(ds: xr.Dataset, limit: int | None = None) -> np.ndarray:
    """Positions along ``sample`` of the independent draws (:func:`iid_rows`), the first
    ``limit`` of them if given.

    Examples
    --------
    >>> ds = xr.Dataset({"status": ("sample", [0, 1, 0, 0])})
    >>> iid_positions(ds).tolist(), iid_positions(ds, limit=2).tolist()
    ([0, 2, 3], [0, 2])
    """
    keep = np.flatnonzero(iid_rows(ds))
    return keep if limit is None else keep[:limit]


def _block_values(da: xr.DataArray, block: slice) -> np.ndarray:
    """One contiguous block of ``da`` along its leading ``sample`` dimension, read from disk."""
    return da.isel(sample=block).values


def read_rows(da: xr.DataArray, positions: np.ndarray) -> np.ndarray:
    """The values of ``da`` at increasing ``sample`` positions.

    Parameters
    ----------
    da : xarray.DataArray
        A variable along ``sample`` (and possibly other dimensions), lazily loaded.
    positions : numpy.ndarray of int
        Strictly increasing sample positions, e.g. ``np.flatnonzero(iid_rows(ds))``.

    Returns
    -------
    numpy.ndarray
        Shape ``(len(positions), *other dims in da's order)``.
    """
    positions = np.asarray(positions, dtype=np.int64)
    if positions.size > 1 and not np.all(np.diff(positions) > 0):
        raise ValueError("positions must be strictly increasing")
    dims = [d for d in da.dims if d != "sample"]
    shape = [da.sizes[d] for d in dims]
    da = da.transpose("sample", *dims)
    out = np.empty((positions.size, *shape), dtype=da.dtype)
    if positions.size == 0:
        return out
    row_bytes = da.dtype.itemsize * int(np.prod(shape, dtype=np.int64))
    for block in _blocks(da.sizes["sample"], row_bytes, stop=int(positions[-1]) + 1):
        lo, hi = np.searchsorted(positions, [block.start, block.stop])
        if hi > lo:
            out[lo:hi] = _block_values(da, block)[positions[lo:hi] - block.start]
    return out


def read_selection(ds: xr.Dataset, positions: np.ndarray) -> xr.Dataset:
    """``ds.isel(sample=positions)``, every variable read now with :func:`read_rows`.

    What :func:`select_rows` gives once loaded (same variables in the same order, dims and
    attributes), without dask: its delayed reads ran on dask's thread pool, which on the
    flagship cost about 1 s on one core for what this does in a few tenths, most of it
    waiting on the pool's threads (and importing ``distributed`` to pick a scheduler); the
    reads take xarray's file lock one after another either way.
    """
    return _selected(ds, positions, lambda name: read_rows(ds[name], positions))


def _selected(ds: xr.Dataset, positions: np.ndarray, values) -> xr.Dataset:
    """``ds`` at ``positions`` along ``sample``, each variable's data ``values(name)``."""
    positions = np.asarray(positions, dtype=np.int64)
    out = ds.drop_vars([v for v in ds.variables if "sample" in ds[v].dims])
    picked = {}
    for name, da in ds.variables.items():
        if "sample" not in da.dims or name == "sample":
            continue
        other = [d for d in da.dims if d != "sample"]
        picked[name] = xr.Variable(("sample", *other), values(name), da.attrs).transpose(*da.dims)
    coords = {k: v for k, v in picked.items() if k in ds.coords}
    if "sample" in ds.coords:
        coords["sample"] = ("sample", read_rows(ds["sample"], positions), ds["sample"].attrs)
    data = {k: v for k, v in picked.items() if k not in ds.coords}
    return out.assign_coords(coords).assign(data)


def select_rows(ds: xr.Dataset, positions: np.ndarray) -> xr.Dataset:
    """``ds.isel(sample=positions)``, each variable read with :func:`read_rows` when used.

    Variables along ``sample`` become dask arrays that run :func:`read_rows` on first
    access, so a figure that uses three variables reads three, block by block; the
    ``sample`` index itself is read at once. Same values, dims and attributes as
    ``ds.isel(sample=positions)``, which goes through netCDF4's point selection (about
    15 s per variable at 524,288 positions).
    """
    import dask
    import dask.array

    positions = np.asarray(positions, dtype=np.int64)

    def lazy(name: str):
        shape = (positions.size, *[ds.sizes[d] for d in ds[name].dims if d != "sample"])
        return dask.array.from_delayed(dask.delayed(read_rows)(ds[name], positions), shape,
                                       dtype=ds[name].dtype)

    return _selected(ds, positions, lazy)
