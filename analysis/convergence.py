"""Convergence of Sobol' indices with the number of model runs, from one saved design.

A Saltelli design's first ``n`` base rows (``n`` a power of two) are themselves a complete,
balanced design (see ``docs/architecture.md``), so the indices and their interval widths
can be recomputed on nested prefixes without running the model again. Three things are
reported per output element:

- the indices ``S1``, ``ST`` and their half-widths against the number of runs;
- the stability of the ranking by ``ST``: the top-down (Savage-score) correlation of each
  prefix's ranking with the full design's (Iman & Conover 1987), which weights agreement
  on the most important factors most, and whether the set of the top factors is the same;
- a verdict: an index has converged when its ``ST`` half-width at the full design is at
  most ``tolerance``; an output when every parameter's has.

References
----------
Iman, R. L., Conover, W. J. (1987). A measure of top-down correlation. Technometrics 29(3),
351-357. https://doi.org/10.1080/00401706.1987.10488248
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr

from analysis.sobol import sobol_indices
from study.errors import InternalError

#: Variables of :func:`analysis.sobol.sobol_indices` followed along the prefixes.
TRACKED = ("S1", "S1_conf", "ST", "ST_conf", "ST_dummy", "ST_dummy_conf")


def convergence(y, *, params: Sequence[str], groups: Mapping[str, Sequence[str]] | None = None,
                sizes: Sequence[int] | None = None, ci: str = "replicates",
                conf_level: float = 0.95, resamples: int = 1000, rng=None,
                tolerance: float = 0.05, top: int = 5, elements=None,
                source: str = "outputs") -> xr.Dataset:
    """Indices, interval widths and rankings on nested sub-designs of one Saltelli design.

    Parameters
    ----------
    y : array_like
        Model outputs ``(n, R, M, K)`` as for :func:`analysis.sobol.sobol_indices`.
    params, groups, ci, conf_level, resamples, rng, elements, source
        As for :func:`analysis.sobol.sobol_indices` (second-order indices are not followed).
    sizes : sequence of int, optional
        Base rows per replicate of each prefix; default every power of two from 16 (or
        ``n`` if smaller) up to ``n``, and ``n`` itself.
    tolerance : float
        Largest acceptable ``ST`` half-width for the verdict.
    top : int
        Number of leading factors whose set must stay the same for ``top_stable``.

    Returns
    -------
    xarray.Dataset
        On ``(n, element, param)``: ``S1, S1_conf, ST, ST_conf, ST_rank`` (1 = largest
        ``ST``); on ``(n, element)``: ``ST_dummy, ST_dummy_conf, max_ST_conf,
        rank_agreement`` (top-down correlation with the full design's ranking),
        ``top_stable``; coordinate ``runs`` (model runs in the prefix) along ``n``; verdicts
        ``converged`` ``(element, param)``, ``converged_all`` and ``runs_to_converge``
        (fewest runs from which ``max_ST_conf`` stays within tolerance; NaN if never) on
        ``element``.

    Raises
    ------
    study.errors.InternalError
        For sizes outside ``[2, n]``, a non-positive tolerance, or anything
        :func:`analysis.sobol.sobol_indices` rejects (the study loader refuses every study
        file that could cause them; a non-finite output is a ``StudyError``).
    """
    y = np.asarray(y, dtype=float)
    n_rows = y.shape[0] if y.ndim == 4 else 0
    sizes = _sizes(sizes, n_rows, source)
    if not tolerance > 0:
        raise InternalError(source, "tolerance", f"must be positive; got {tolerance!r}")
    seeds = np.random.default_rng(rng).integers(0, 2**63, size=len(sizes))
    steps = []
    for size, seed in zip(sizes, seeds):
        ds = sobol_indices(y[:size], params=params, groups=groups, second_order=False, ci=ci,
                           conf_level=conf_level, resamples=resamples, rng=seed,
                           elements=elements, source=source)
        steps.append(ds[list(TRACKED)])
    out = xr.concat(steps, dim=xr.DataArray(sizes, dims="n", name="n"), coords="minimal",
                    compat="override")
    out = out.assign_coords(runs=("n", np.asarray(sizes) * y.shape[1] * y.shape[2]))

    rank = _rank(out.ST.values)
    out["ST_rank"] = (("n", "element", "param"), rank)
    out["max_ST_conf"] = out.ST_conf.max("param", skipna=False)
    top = min(top, len(params))
    final = rank[-1]
    out["rank_agreement"] = (("n", "element"), _top_down(rank, final))
    out["top_stable"] = (("n", "element"),
                         ((rank <= top) == (final <= top)[None]).all(axis=-1)
                         & np.isfinite(out.ST.values).all(axis=-1))
    last = out.ST_conf.isel(n=-1)
    out["converged"] = last <= tolerance
    out["converged_all"] = (last <= tolerance).all("param")
    out["runs_to_converge"] = ("element", _runs_to_converge(out.max_ST_conf.values <= tolerance,
                                                            out.runs.values))
    out.attrs = {"method": "sobol convergence", "tolerance": tolerance, "top": top, "ci_method": ci,
                 "conf_level": conf_level,
                 "criterion": "ST interval half-width at most the tolerance",
                 "rank_agreement": "Savage-score top-down correlation with the full design "
                                   "(Iman & Conover 1987)"}
    return out


def _sizes(sizes, n_rows, source):
    if sizes is None:
        powers = [2**k for k in range(4, int(np.log2(max(n_rows, 1))) + 1)]
        return sorted({*powers, n_rows}) if n_rows >= 2 else [n_rows]
    sizes = sorted({int(s) for s in sizes})
    if not sizes or sizes[0] < 2 or sizes[-1] > n_rows:
        raise InternalError(source, "sizes", f"must lie between 2 and the design's {n_rows} base rows; "
                                          f"got {sizes!r}")
    return sizes


def _rank(st):
    """Ordinal ranks along the last axis, 1 = largest; NaN where any index is NaN."""
    order = np.argsort(-st, axis=-1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(1, st.shape[-1] + 1), axis=-1)
    return np.where(np.isfinite(st).all(axis=-1, keepdims=True), rank, np.nan)


def _top_down(rank, final):
    """Top-down correlation of Savage scores between each ranking and the final one."""
    d = rank.shape[-1]
    # Savage score of rank r: sum_{i=r}^{d} 1/i.
    if d < 2:
        return np.ones(rank.shape[:-1])
    savage = np.concatenate([np.cumsum(1 / np.arange(d, 0, -1))[::-1], [np.nan]])

    def scores(r):
        return savage[np.where(np.isfinite(r), r - 1, d).astype(int)]

    return ((scores(rank) * scores(final)[None]).sum(axis=-1) - d) / (d - savage[0])


def _runs_to_converge(ok, runs):
    """Fewest runs from which ``ok`` holds at every larger prefix (NaN if not at the last)."""
    # ok: (n, element). Reverse cumulative "all ok from here on".
    from_here = np.flip(np.logical_and.accumulate(np.flip(ok, axis=0), axis=0), axis=0)
    first = np.argmax(from_here, axis=0)
    return np.where(from_here.any(axis=0), runs[first], np.nan)
