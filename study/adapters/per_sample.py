"""A Python model of one sample, ``f(**values) -> dict``, looped over a chunk.

Spreadsheet-era models and agent-based simulations evaluate one scenario at a time. The
loop runs where the chunk runs (in process or on a dask worker), so per-sample models
parallelise like vectorized ones, and a sample that raises is recorded by position
instead of losing the chunk's other results.
"""

from __future__ import annotations

import numpy as np
import xarray as xr


def per_sample(fn):
    """Mark ``fn(**values) -> dict`` as a per-sample model (same as ``vectorized = false``).

    Parameters
    ----------
    fn : callable
        Takes each input and constant as a keyword (``seed`` too, for a stochastic
        model) and returns a mapping of output name to a number.

    Returns
    -------
    callable
        ``fn`` itself, still callable on one sample.

    Examples
    --------
    >>> @per_sample
    ... def model(x1, x2):
    ...     return {"y": x1 + 2 * x2}
    >>> model(x1=1.0, x2=2.0)
    {'y': 5.0}
    """
    fn.__mcsens_per_sample__ = True
    return fn


class SampleFailures(Exception):
    """Some samples of a chunk raised; carries their positions and the others' outputs.

    Parameters
    ----------
    positions : numpy.ndarray
        Positions (in the chunk) of the samples that raised.
    error : Exception
        The first sample's exception.
    partial : xarray.Dataset or None
        Outputs along ``sample``, NaN where the model raised; None if every sample did.
    """

    def __init__(self, positions, error, partial):
        super().__init__(f"{type(error).__name__}: {error}")
        self.positions, self.error, self.partial = np.asarray(positions, dtype=int), error, partial

    def __reduce__(self):
        return type(self), (self.positions, self.error, self.partial)


class PerSample:
    """A vectorized model made of a per-sample function.

    Parameters
    ----------
    fn : callable
        ``fn(**values) -> dict`` of numbers.
    ref : str
        The model's reference (for messages).
    stochastic : bool
        Pass the sample's ``seed`` (a coordinate of the chunk) as a keyword.
    """

    def __init__(self, fn, ref: str, *, stochastic: bool = False):
        self.fn, self.ref, self.stochastic = fn, ref, stochastic

    def __call__(self, x: xr.Dataset) -> xr.Dataset:
        n = x.sizes["sample"]
        along = [k for k, v in x.data_vars.items() if "sample" in v.dims]
        fixed = {k: _scalar(v.values) for k, v in x.data_vars.items() if "sample" not in v.dims}
        columns = {k: x[k].values for k in along}
        seeds = x["seed"].values if self.stochastic else None
        rows, failed, first = [None] * n, [], None
        for i in range(n):
            kwargs = {**fixed, **{k: _scalar(c[i]) for k, c in columns.items()}}
            if seeds is not None:
                kwargs["seed"] = int(seeds[i])
            try:
                rows[i] = self._row(self.fn(**kwargs))
            except Exception as e:  # recorded per sample; evaluate_chunk decides what a failure means
                failed.append(i)
                first = first if first is not None else e
        result = _stack(rows, n)
        if failed:
            raise SampleFailures(failed, first, result)
        return result

    def _row(self, out) -> dict:
        if not isinstance(out, dict) or not out:
            raise TypeError(f"a per-sample model must return a non-empty dict of output name to number; "
                            f"got {type(out).__name__}")
        return out


def _scalar(value):
    value = np.asarray(value)
    return value.item() if value.ndim == 0 else value


def _stack(rows, n: int) -> xr.Dataset | None:
    """Outputs along ``sample`` from per-sample dicts; NaN where a sample failed."""
    names = next((list(r) for r in rows if r is not None), None)
    if names is None:
        return None
    data = {}
    for name in names:
        shape = np.shape(next(r[name] for r in rows if r is not None))
        col = np.full((n, *shape), np.nan)
        for i, r in enumerate(rows):
            if r is not None:
                col[i] = r[name]
        data[name] = (("sample", *(f"{name}_dim{k}" for k in range(len(shape)))), col)
    return xr.Dataset(data)
