"""Uncertainty before sensitivity: output distributions, headline probabilities, and the
per-term decomposition of each actor's change."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
import xarray as xr

from ..textsafe import mathtext_escape
from .data import coord_label
from .style import DOUBLE, PALETTE, SINGLE, figure, num, style

__all__ = ["plot_distribution", "plot_probability", "plot_decomposition", "pretty",
           "share_positive"]


def pretty(value) -> str:
    """Readable coordinate value: ``united_states`` -> ``United states``."""
    s = str(value).replace("_", " ")
    return s[:1].upper() + s[1:]


_ACRONYMS = {"us": "US", "ap4": "AP4", "eu": "EU", "nato": "NATO", "dprk": "DPRK",
             "china": "China", "russia": "Russia", "europe": "Europe", "taiwan": "Taiwan",
             "ukraine": "Ukraine", "japan": "Japan", "korea": "Korea"}


def term_label(value) -> str:
    """A term name for display: underscores to spaces, acronyms and the paper's proper
    names capitalised, first letter upper case (``coercion_of_china`` -> ``Coercion of
    China``, ``us_commitment`` -> ``US commitment``)."""
    words = [_ACRONYMS.get(w.lower(), w) for w in str(value).replace("_", " ").split(" ")]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def share_positive(values: np.ndarray) -> float:
    """Share of finite draws strictly above zero."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    return float(np.mean(v > 0)) if v.size else float("nan")


#: The words of the uncertainty figures, in English; a translated appendix passes its own
#: (``analysis.appendix.lang.figure_words``), with ``coords`` naming coordinate values.
WORDS = {"band": "5–95% of draws", "median": "Median {v}", "mean": "Mean {v}", "share": "{p} of draws > 0",
         "density": "Density", "p_axis": "P(result holds), {level} interval", "coords": {}}


def _coord(value, words: dict) -> str:
    return words["coords"].get(str(value)) or coord_label(value)


def _facets(da: xr.DataArray, skip: tuple[str, ...]) -> list[dict]:
    dims = [d for d in da.dims if d not in ("sample", *skip)]
    if not dims:
        return [{}]
    stacked = da.isel(sample=0, drop=True).stack(_cell=dims)
    return [dict(zip(dims, c if isinstance(c, tuple) else (c,)))
            for c in stacked["_cell"].values]


def plot_distribution(values: xr.DataArray, *, label: str, ax=None, words: dict | None = None):
    """Distribution of one output over independent draws, before and after if phased.

    Parameters
    ----------
    values : xarray.DataArray
        The output along ``sample`` (independent draws only), with optional extra
        dimensions. A ``phase`` dimension is drawn as overlaid histograms (one hue per
        phase) with each phase's share of draws above zero in the legend; every other
        extra dimension becomes one panel.
    label : str
        Axis label of the output.
    ax : matplotlib Axes or sequence of Axes, optional
        One per panel.
    words : dict, optional
        The figure's words in another language (see :data:`WORDS`).

    Returns
    -------
    matplotlib.figure.Figure
    """
    w = {**WORDS, **(words or {})}
    phased = "phase" in values.dims
    cells = _facets(values, ("phase",) if phased else ())
    n = len(cells)
    with style():
        width = SINGLE if n == 1 else DOUBLE
        fig, axes = figure(width, 0.62 * SINGLE if n > 1 else 0.7 * SINGLE, 1, n, ax=ax,
                           sharey=False)
        axes = np.atleast_1d(axes).ravel()
        for a, cell in zip(axes, cells):
            da = values.sel(cell) if cell else values
            if phased:
                # Shared bin edges so the phases' histograms compare bar for bar.
                finite = da.values[np.isfinite(da.values)]
                edges = np.histogram_bin_edges(finite, bins="auto")
                edges = edges if len(edges) <= 61 else np.linspace(edges[0], edges[-1], 61)
                for k, ph in enumerate(da["phase"].values):
                    v = da.sel(phase=ph).values
                    a.hist(v, bins=edges, density=True, histtype="stepfilled", alpha=0.35,
                           color=PALETTE[k], edgecolor=PALETTE[k], linewidth=0.8,
                           label=f"{mathtext_escape(_coord(ph, w))}: {share_positive(v):.0%} > 0")
                a.axvline(0, color="0.3", lw=0.6, ls="--")
                _legend_over(a, mathtext_escape(", ".join(_coord(c, w) for c in cell.values())),
                             ncols=1, handlelength=1.0)
            else:
                v = da.values
                v = v[np.isfinite(v)]
                lo, med, hi = np.quantile(v, [0.05, 0.5, 0.95])
                a.hist(v, bins=min(len(np.histogram_bin_edges(v, "auto")) - 1, 60),
                       density=True, color=PALETTE[0], alpha=0.6)
                # An edged band: a pale fill alone vanishes as a legend swatch.
                a.axvspan(lo, hi, facecolor="0.85", edgecolor="0.55", lw=0.5, zorder=0,
                          label=mathtext_escape(w["band"]))
                a.axvline(med, color=PALETTE[1], lw=1.0, label=w["median"].format(v=num(med)))
                a.axvline(v.mean(), color=PALETTE[2], lw=1.0, ls=":",
                          label=w["mean"].format(v=num(v.mean())))
                a.plot([], [], ls="", label=mathtext_escape(w["share"].format(p=f"{share_positive(v):.0%}")))
                _legend_beside(a, handlelength=1.2)
                a.set_title(mathtext_escape(", ".join(_coord(c, w) for c in cell.values())))
            a.set_xlabel(mathtext_escape(label))
        axes[0].set_ylabel(w["density"])
    return fig


def _legend_beside(ax, **kw) -> None:
    """A legend right of the axes: on a histogram every spot inside may hold a bar or line."""
    ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0,
              **kw)


def _legend_over(ax, title: str, **kw) -> None:
    """A panel's legend above it, titled with the panel's name (which it replaces)."""
    ax.legend(frameon=False, loc="lower center", bbox_to_anchor=(0.5, 1.0), borderaxespad=0.2,
              title=title or None, **kw)


def plot_probability(frame: pd.DataFrame, *, labels: dict[str, str], conf_level: float = 0.95,
                     ax=None, words: dict | None = None):
    """Probability that each headline result holds, with its interval.

    Parameters
    ----------
    frame : pandas.DataFrame
        Rows of ``indices.csv`` with ``index == "P"``: columns ``output``, ``value``,
        ``conf_low``, ``conf_high``.
    labels : dict
        Output name -> label.
    conf_level : float
        Level of the interval, for the axis label.
    ax : matplotlib Axes, optional
    words : dict, optional
        The axis label in another language (``p_axis`` of :data:`WORDS`).

    Returns
    -------
    matplotlib.figure.Figure
    """
    w = {**WORDS, **(words or {})}
    frame = frame.reset_index(drop=True)
    n = len(frame)
    with style():
        fig, a = figure(SINGLE, 0.35 * SINGLE + 0.22 * n, ax=ax)
        y = np.arange(n)[::-1]
        val = frame["value"].to_numpy(float)
        err = np.vstack([val - frame["conf_low"].to_numpy(float),
                         frame["conf_high"].to_numpy(float) - val])
        a.errorbar(val, y, xerr=err, fmt="o", color=PALETTE[0], ms=4, capsize=2.5,
                   lw=1.0)
        # Narrow intervals hide behind the marker, so the label states them too. It is
        # anchored so that it stays inside the axes (centred, it ran across the frame near
        # 0 and 1) and drawn on white over the 50% line, which otherwise struck through it.
        for yi, v, lo, hi in zip(y, val, frame["conf_low"], frame["conf_high"]):
            ha = "right" if v > 0.7 else "left" if v < 0.3 else "center"
            a.annotate(f"{v:.1%} ({lo:.1%}–{hi:.1%})", (v, yi), xytext=(0, 6), textcoords="offset points",
                       ha=ha, fontsize=7, zorder=3,
                       bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none"})
        a.set_yticks(y, [mathtext_escape(textwrap.fill(labels.get(o, o), 26))
                         for o in frame["output"]])
        a.set_xlim(0, 1)
        a.set_ylim(-0.6, n - 0.3)
        a.axvline(0.5, color="0.6", lw=0.6, ls="--")
        a.xaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
        a.set_xlabel(mathtext_escape(w["p_axis"].format(level=f"{conf_level:.0%}")))
    return fig


def decomposition_frame(terms: xr.DataArray) -> pd.DataFrame:
    """Per-actor, per-term change (post − pre): mean and 5–95% range over draws.

    ``terms`` has dims ``(sample, [actor,] [phase,] term)``. When there is no ``actor``
    dimension but the ``term`` coordinate carries an owner (a ``term_actor`` coordinate, or
    labels of the form ``actor.term``), terms are attributed to that actor.
    """
    delta = terms.sel(phase="post") - terms.sel(phase="pre") if "phase" in terms.dims else terms
    q = delta.quantile([0.05, 0.95], dim="sample")
    stats = xr.Dataset({"mean": delta.mean("sample"), "low": q.sel(quantile=0.05, drop=True),
                        "high": q.sel(quantile=0.95, drop=True)})
    keep = [c for c in stats.coords if c not in stats.dims]
    out = stats.reset_coords(drop=True).to_dataframe().reset_index()
    if "actor" not in out:
        names = out["term"].astype(str)
        if "term_actor" in keep:
            owner = dict(zip(terms["term"].values, terms["term_actor"].values))
            out.insert(0, "actor", [owner[t] for t in out["term"]])
        elif names.str.contains(".", regex=False).all():
            out.insert(0, "actor", names.str.split(".", n=1).str[0])
        if "actor" in out:
            prefix = out["actor"].astype(str) + "."
            out["term"] = [t[len(p):] if t.startswith(p) else t for t, p in zip(names, prefix)]
    return out


def plot_decomposition(frame: pd.DataFrame, *, label: str = "Change (post − pre)", ax=None):
    """Which channel moved: mean change per term for each actor, with 5–95% ranges.

    Parameters
    ----------
    frame : pandas.DataFrame
        From :func:`decomposition_frame`: columns ``term``, ``mean``, ``low``, ``high``
        and optionally ``actor`` (one panel per actor). Terms that never move
        (all exactly zero) are left out of a panel.
    label : str
        Axis label.
    ax : matplotlib Axes or sequence of Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    actors = list(dict.fromkeys(frame["actor"])) if "actor" in frame else [None]
    n = len(actors)
    n_terms = (frame.groupby("actor")["term"].nunique().max() if "actor" in frame
               else frame["term"].nunique())
    with style():
        fig, axes = figure(DOUBLE if n > 1 else SINGLE, 0.35 * SINGLE + 0.15 * n_terms,
                           1, n, ax=ax)
        axes = np.atleast_1d(axes).ravel()
        for a, actor in zip(axes, actors):
            f = frame if actor is None else frame[frame["actor"] == actor]
            f = f[(f[["mean", "low", "high"]].abs() > 0).any(axis=1)]
            f = f.sort_values("mean", key=np.abs, ascending=True)
            y = np.arange(len(f))
            colors = [PALETTE[0] if m >= 0 else PALETTE[3] for m in f["mean"]]
            a.barh(y, f["mean"], color=colors, height=0.7)
            # A term that moves by the same amount in every draw has a mean a rounding
            # error outside its 5-95% range, and matplotlib refuses a negative error bar.
            err = np.clip(np.vstack([f["mean"] - f["low"], f["high"] - f["mean"]]), 0, None)
            a.errorbar(f["mean"], y, xerr=err, fmt="none", ecolor="0.25", lw=0.7, capsize=1.5)
            a.set_yticks(y, [mathtext_escape(term_label(t)) for t in f["term"]])
            a.axvline(0, color="0.3", lw=0.6)
            net = f["mean"].sum()
            name = coord_label(actor) if actor is not None else "Net"
            net_text = ("+" if net > 0 else "") + num(net)  # the number's sign, not the name's
            a.set_title(f"{mathtext_escape(name)}\n(net {net_text})")
            a.set_xlabel(mathtext_escape(label))
    return fig
