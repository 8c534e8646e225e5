"""Triangulation: do Sobol, Morris and delta rank the parameters the same way?

Each method ranks the parameters of each output (1 = most important, ties share the
better rank). Agreement is measured by Spearman's rho and Kendall's tau-b between every
pair of methods, over all parameters and over the union of the two methods' top-k, the
part of the ranking a reader acts on. A parameter is reported as a disagreement when it
is in the top-k under some methods but not all, or when its ranks differ by more than
``max_rank_gap`` while it is within the top ``2 * top_k`` of some method (further down,
ranks mostly order estimator noise).
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd
import xarray as xr
from scipy.stats import kendalltau, spearmanr

from study.errors import InternalError

from . import METHODS
from . import delta as _delta, morris as _morris, sobol as _sobol

_WHERE = "analysis.triangulation"
LABELS = {m.name: m.text_label for m in METHODS.values()}


def _label(method: str) -> str:
    """A method's plain-text label, read from the registry when it is asked for."""
    return METHODS[method].text_label if method in METHODS else method


def _by_element_and_param(da: xr.DataArray) -> pd.Series:
    """The values of ``da`` indexed by (element label, param)."""
    if "param" not in da.dims:
        raise InternalError(_WHERE, da.name or "values", f"must have a 'param' dimension; got dims {da.dims}")
    other = [d for d in da.dims if d != "param"]
    s = da.transpose(*other, "param").to_series()
    if not other:
        keys = [(str(da.name or ""), p) for p in s.index]
    elif len(other) == 1:
        keys = [(str(e), p) for e, p in s.index]
    else:
        keys = [(", ".join(f"{d}={v}" for d, v in zip(other, k[:-1])), k[-1]) for k in s.index]
    return pd.Series(s.to_numpy(dtype=float), index=pd.MultiIndex.from_tuples(keys, names=["element", "param"]))


def _corr(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Spearman and Kendall (tau-b) of two rank vectors; NaN when undefined."""
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    if a.size < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return np.nan, np.nan
    return float(spearmanr(a, b).statistic), float(kendalltau(a, b).statistic)


def rank_agreement(sobol_st: xr.DataArray | None, morris_mu_star: xr.DataArray | None,
                   delta: xr.DataArray | None, *, top_k: int = 5, max_rank_gap: int = 3) -> pd.DataFrame:
    """Rank of every parameter under each method, and where the methods disagree.

    Parameters
    ----------
    sobol_st, morris_mu_star, delta : xarray.DataArray or None
        Importance values with a ``param`` dimension; every other dimension (e.g.
        ``element``, or an output's own dimensions) labels the outputs. At least two
        must be given; None leaves a method out.
    top_k : int, default 5
    max_rank_gap : int, default 3

    Returns
    -------
    pandas.DataFrame
        One row per (element, param): the value and ``rank_<method>`` under each method,
        ``rank_gap`` (largest minus smallest rank), ``top_k_under`` (methods that put
        the parameter in their top-k) and ``disagreement`` (empty when none). The same
        table summarised per output, from :func:`per_output_agreement`, is in
        ``attrs["per_output"]``.

    Raises
    ------
    study.errors.InternalError
        If fewer than two methods are given, a value lacks a ``param`` dimension, or
        ``top_k`` / ``max_rank_gap`` are not positive integers.

    Examples
    --------
    >>> st = xr.DataArray([0.6, 0.3, 0.1], coords={"param": ["a", "b", "c"]}, dims="param", name="y")
    >>> mu = xr.DataArray([2.0, 0.5, 1.0], coords={"param": ["a", "b", "c"]}, dims="param", name="y")
    >>> t = rank_agreement(st, mu, None, top_k=1, max_rank_gap=0)
    >>> t[["param", "rank_sobol", "rank_morris"]].to_numpy().tolist()
    [['a', 1, 1], ['b', 2, 3], ['c', 3, 2]]
    """
    methods = (_sobol.METHOD, _morris.METHOD, _delta.METHOD)  # the registry's entries for the three arguments
    return method_agreement({m.name: v for m, v in zip(methods, (sobol_st, morris_mu_star, delta))}, top_k=top_k,
                            max_rank_gap=max_rank_gap)


def method_agreement(values: dict, *, top_k: int = 5, max_rank_gap: int = 3) -> pd.DataFrame:
    """:func:`rank_agreement` over any registered methods: ``values`` maps a method's name
    (a key of :data:`analysis.METHODS`) to its ranking index's values, or None.

    Examples
    --------
    >>> st = xr.DataArray([0.6, 0.3], coords={"param": ["a", "b"]}, dims="param", name="y")
    >>> method_agreement({"sobol": st, "delta": None})
    Traceback (most recent call last):
    ...
    study.errors.InternalError: analysis.triangulation: methods: must include at least two of sobol, delta; got ['sobol']
    """
    given = {m: v for m, v in values.items() if v is not None}
    if len(given) < 2:
        raise InternalError(_WHERE, "methods", f"must include at least two of {', '.join(values)}; "
                                            f"got {sorted(given)}")
    for key, value in (("top_k", top_k), ("max_rank_gap", max_rank_gap)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < (1 if key == "top_k" else 0):
            raise InternalError(_WHERE, key, f"must be a {'positive' if key == 'top_k' else 'non-negative'} integer; "
                                          f"got {value!r}")
    table = pd.concat({m: _by_element_and_param(v) for m, v in given.items()}, axis=1).reset_index()
    methods = list(given)
    for m in methods:
        table[f"rank_{m}"] = table.groupby("element", sort=False)[m].rank(ascending=False, method="min").astype("Int64")
    ranks = table[[f"rank_{m}" for m in methods]].astype(float)
    table["rank_gap"] = (ranks.max(axis=1) - ranks.min(axis=1)).astype("Int64")
    top = ranks <= top_k
    table["top_k_under"] = [", ".join(m for m, t in zip(methods, row) if t) for row in top.to_numpy()]
    reasons = []
    for i, row in enumerate(ranks.to_numpy()):
        ok = np.isfinite(row)
        reason = ""
        inside = top.to_numpy()[i] & ok
        if inside.any() and not inside[ok].all():
            by = " and ".join(_label(m) for m, t in zip(methods, inside) if t)
            out = ", ".join(f"{int(row[j])} by {_label(methods[j])}" for j in np.flatnonzero(ok & ~inside))
            reason = f"top {top_k} by {by}, rank {out}"
        elif ok.sum() >= 2 and np.nanmin(row) <= 2 * top_k and np.ptp(row[ok]) > max_rank_gap:
            reason = "rank " + ", ".join(f"{int(row[j])} by {_label(methods[j])}" for j in np.flatnonzero(ok))
        reasons.append(reason)
    table["disagreement"] = reasons
    table.attrs = {"top_k": top_k, "max_rank_gap": max_rank_gap, "methods": methods}
    table.attrs["per_output"] = per_output_agreement(table, top_k=top_k)
    return table


def per_output_agreement(table: pd.DataFrame, *, top_k: int = 5) -> pd.DataFrame:
    """Rank correlations between methods and a one-sentence summary, per output.

    Parameters
    ----------
    table : pandas.DataFrame
        The result of :func:`rank_agreement`.
    top_k : int, default 5

    Returns
    -------
    pandas.DataFrame
        One row per element: ``spearman_<a>_<b>`` and ``kendall_<a>_<b>`` over all
        parameters, ``spearman_top_<a>_<b>`` and ``kendall_top_<a>_<b>`` over the union
        of the two methods' top-k, ``disagreements`` (parameters, ``"; "``-joined) and
        ``summary``.
    """
    methods = [c[5:] for c in table.columns if c.startswith("rank_") and c != "rank_gap"]
    rows = []
    for element, t in table.groupby("element", sort=False):
        row = {"element": element}
        for a, b in combinations(methods, 2):
            ra, rb = t[f"rank_{a}"].to_numpy(float, na_value=np.nan), t[f"rank_{b}"].to_numpy(float, na_value=np.nan)
            row[f"spearman_{a}_{b}"], row[f"kendall_{a}_{b}"] = _corr(ra, rb)
            sel = (ra <= top_k) | (rb <= top_k)
            row[f"spearman_top_{a}_{b}"], row[f"kendall_top_{a}_{b}"] = _corr(ra[sel], rb[sel])
        flagged = t[t["disagreement"] != ""]
        row["disagreements"] = "; ".join(flagged["param"])
        row["summary"] = _sentence(element, t, flagged, methods, row, top_k)
        rows.append(row)
    return pd.DataFrame(rows)


def _sentence(element, t: pd.DataFrame, flagged: pd.DataFrame, methods, row, top_k) -> str:
    """One sentence: agreement in rho, then the disagreements, most important first."""
    names = " and ".join([", ".join(_label(m) for m in methods[:-1]), _label(methods[-1])])
    rho = [v for k, v in row.items() if k.startswith("spearman_") and not k.startswith("spearman_top") and np.isfinite(v)]
    span = "" if not rho else (f"Spearman rho {min(rho):.2f}" if len(rho) == 1 or min(rho) == max(rho)
                               else f"Spearman rho {min(rho):.2f} to {max(rho):.2f}")
    name = f"For {element}, " if element else ""
    if flagged.empty:
        lead = t.sort_values(f"rank_{methods[0]}")["param"].head(top_k)
        return (f"{name}{names} agree on the top {min(top_k, len(t))} ({', '.join(lead)})"
                f"{f' ({span})' if span else ''}.")
    first = flagged.assign(best=flagged[[f"rank_{m}" for m in methods]].min(axis=1)).sort_values("best")
    parts = [f"{p} ({why})" for p, why in zip(first["param"], first["disagreement"])][:3]
    more = f" and {len(first) - 3} more" if len(first) > 3 else ""
    return (f"{name}{names} disagree on {len(first)} parameter{'s' if len(first) > 1 else ''}: "
            f"{'; '.join(parts)}{more}{f' ({span})' if span else ''}.")
