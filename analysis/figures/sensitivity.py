"""Sensitivity figures: Sobol indices (single and grouped), the second-order heatmap,
convergence with N, Morris screening and the triangulation of rankings."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

from ..textsafe import mathtext_escape
from .style import CMAP, DOUBLE, PALETTE, SINGLE, figure, style

__all__ = ["index_legend", "plot_indices", "plot_indices_over", "plot_s2", "plot_convergence",
           "plot_morris", "plot_ranks",
           "noise_floor"]


def noise_floor(frame: pd.DataFrame) -> float | None:
    """Upper interval bound of the dummy parameter's total-order index, if present."""
    d = frame[frame["index"] == "ST_dummy"]
    return float(d["conf_high"].iloc[0]) if len(d) else None


def plot_indices(frame: pd.DataFrame, *, labels: dict[str, str], floor: float | None = None,
                 title: str = "", ax=None):
    """First- and total-order indices with intervals, sorted by total order.

    Parameters
    ----------
    frame : pandas.DataFrame
        Rows of ``indices.csv`` for one output (cell): columns ``param``, ``index``
        (``S1``/``ST`` or ``S1_group``/``ST_group``), ``value``, ``conf_low``, ``conf_high``.
    labels : dict
        Parameter (or group) name -> axis label.
    floor : float, optional
        Noise floor (upper bound of the dummy's ST); shaded from zero.
    title : str
        Panel title.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
        Bars are horizontal: ``ax.containers[0]`` holds total order, ``[1]`` first order.
    """
    f = frame.assign(index=frame["index"].str.replace("_group", "", regex=False))
    wide = f.pivot_table(index="param", columns="index", values=["value", "conf_low",
                                                                 "conf_high"], aggfunc="first", dropna=False)
    order = wide[("value", "ST")].sort_values(ascending=True).index
    wide = wide.loc[order]
    n = len(order)
    with style():
        # Many inputs with long labels leave a one-column figure no room for the bars.
        fig, a = figure(DOUBLE if n > 12 else SINGLE, 0.3 * SINGLE + 0.16 * n, ax=ax)
        y = np.arange(n)
        h = 0.38
        for k, (idx, name, off) in enumerate((("ST", "Total order", h / 2),
                                              ("S1", "First order", -h / 2))):
            v = wide[("value", idx)].to_numpy(float)
            err = np.vstack([v - wide[("conf_low", idx)].to_numpy(float),
                             wide[("conf_high", idx)].to_numpy(float) - v])
            a.barh(y + off, v, height=h, color=PALETTE[k], label=name)
            a.errorbar(v, y + off, xerr=np.clip(err, 0, None), fmt="none", ecolor="0.2",
                       lw=0.6, capsize=1.2)
        if floor is not None:
            a.axvspan(0, floor, color="0.85", zorder=0, lw=0)
            a.axvline(floor, color="0.4", lw=0.7, ls="--", label="Noise floor")
        a.set_yticks(y, [mathtext_escape(labels.get(p, p.replace("_", " ").capitalize()))
                         for p in order])
        a.axvline(0, color="0.3", lw=0.5)
        a.set_xlabel("Sobol' index")
        a.set_title(mathtext_escape(title))
        if ax is None:  # a panel of a larger figure leaves the one legend to its figure
            index_legend(fig, a)
    return fig


def index_legend(fig, ax) -> None:
    """One legend under the axes, never on the bars (their lengths vary from run to run)."""
    handles, names = ax.get_legend_handles_labels()
    fig.legend(handles, names, frameon=False, loc="outside lower center", ncols=len(names))


def s2_matrix(frame: pd.DataFrame, params: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric S2 values and a mask of pairs whose interval excludes zero."""
    idx = {p: i for i, p in enumerate(params)}
    val = np.full((len(params), len(params)), np.nan)
    sig = np.zeros_like(val, bool)
    for r in frame.itertuples(index=False):
        a, b = str(r.param).split(":", 1)
        if a in idx and b in idx:
            for i, j in ((idx[a], idx[b]), (idx[b], idx[a])):
                val[i, j] = r.value
                sig[i, j] = r.conf_low > 0
    return val, sig


S2_MAX = 8


def plot_s2(frame: pd.DataFrame, *, params: list[str], labels: dict[str, str],
            title: str = "", ax=None):
    """Second-order indices as a lower-triangle heatmap; * marks intervals above zero.

    Parameters
    ----------
    frame : pandas.DataFrame
        ``S2`` rows for one output cell (``param`` = ``"a:b"``).
    params : list of str
        Parameters in display order; only the first :data:`S2_MAX` are drawn (pass them
        by decreasing total-order index), since a larger matrix cannot be read in print.
    labels : dict
        Parameter name -> label.
    title : str
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    params = list(params)[:S2_MAX]
    val, sig = s2_matrix(frame, params)
    n = len(params)
    scale = s2_scale(val)
    with style():
        fig, a = figure(DOUBLE * 0.75, SINGLE * 0.95, ax=ax)
        mask = np.triu(np.ones((n, n), bool))
        shown = np.ma.masked_array(val, mask | np.isnan(val))
        vmax = max(float(np.nanmax(np.abs(val))) if np.isfinite(val).any() else 0.0, 1e-3)
        im = a.imshow(shown, cmap=CMAP, vmin=min(0.0, float(np.nanmin(val))) if
                      np.isfinite(val).any() else 0.0, vmax=vmax)
        for i in range(n):
            for j in range(i):
                if np.isfinite(val[i, j]):
                    txt = s2_text(val[i, j], scale) + ("*" if sig[i, j] else "")
                    light = im.norm(val[i, j]) < 0.6
                    a.text(j, i, txt, ha="center", va="center", fontsize=5.5 if n > 5 else 6.5,
                           color="white" if light else "black")
        # Numbered axes and a key: long labels on a rotated axis of a triangle overprint.
        a.set_xticks(range(n), [str(k + 1) for k in range(n)])
        a.set_yticks(range(n), [str(k + 1) for k in range(n)])
        a.tick_params(length=0)
        number_key(a, [labels.get(p, p) for p in params])
        a.set_xlim(-0.5, n - 1.5)
        a.set_ylim(n - 0.5, 0.5)
        a.spines[:].set_visible(False)
        a.set_title(mathtext_escape(title))
        unit = "" if scale == 0 else rf" ($\times 10^{{{-scale}}}$)"
        bar = fig.colorbar(im, ax=a, shrink=0.7, label="Second-order index $S_{ij}$" + unit,
                           location="left", pad=0.12)
        # The bar's ticks in the cells' unit, so the key and the numbers read alike.
        bar.formatter = FuncFormatter(lambda v, _: s2_text(v, scale))
        bar.update_ticks()
    return fig


def s2_scale(val: np.ndarray) -> int:
    """Power of ten the S2 cells are shown in: 0 when two decimals can tell them apart.

    Second-order indices are often all below 0.01, where two decimals print "0.00" in every
    cell; they are then shown times ``10**k`` with ``k`` chosen so the largest is 1–10.
    """
    finite = np.abs(val[np.isfinite(val)])
    top = float(finite.max()) if finite.size else 0.0
    if top == 0 or top >= 0.1:
        return 0
    return int(-np.floor(np.log10(top)))


def s2_text(value: float, scale: int) -> str:
    """A cell's number: two decimals, or one decimal of ``value * 10**scale``; true minus."""
    v = float(value) * 10.0 ** scale
    s = f"{v + 0.0:.{1 if scale else 2}f}"
    if float(s) == 0:
        s = s.lstrip("-")
    return s.replace("-", "\u2212")


def number_key(ax, names: list[str], first: int = 1):
    """A key ``1  name`` right of the plot, as a figure legend placed "outside": the layout
    then keeps room for it, so it is never clipped at the image edge (an axes text or a
    legend beside an equal-aspect heatmap is not counted by the layout)."""
    blank = [Line2D([], [], ls="", marker="") for _ in names]
    text = [f"{k}  {mathtext_escape(textwrap.shorten(n, 42))}" for k, n in enumerate(names, first)]
    return ax.figure.legend(blank, text, loc="outside right upper", frameon=False,
                            handlelength=0, handletextpad=0, fontsize=6, labelspacing=0.35)


def plot_convergence(values: xr.DataArray, conf: xr.DataArray | None, *,
                     labels: dict[str, str], tolerance: float | None = None, top: int = 6,
                     xlabel: str = "Base sample size N", title: str = "", ax=None):
    """Total-order indices against the number of base samples, from nested sub-designs.

    Parameters
    ----------
    values : xarray.DataArray
        Index values with dims ``(N, param)``.
    conf : xarray.DataArray, optional
        Interval half-widths, same dims; drawn as bands and, in the right panel, as the
        widest half-width against N with the convergence tolerance.
    labels : dict
        Parameter name -> label.
    tolerance : float, optional
        Target half-width.
    xlabel : str
        What ``N`` counts (base sample size, or model runs).
    top : int
        Parameters shown (largest index at the largest N).
    title : str
    ax : sequence of two Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    ns = values["N"].values
    last = values.isel(N=-1).to_series().sort_values(ascending=False)
    shown = list(last.index[:top])
    with style():
        fig, axes = figure(DOUBLE, 0.62 * SINGLE, 1, 2, ax=ax)
        a, b = np.atleast_1d(axes).ravel()[:2]
        handles = []
        for k, p in enumerate(shown):
            v = values.sel(param=p).values
            handles += a.plot(ns, v, marker="o", ms=2.5, color=PALETTE[k % len(PALETTE)])
            if conf is not None:
                c = conf.sel(param=p).values
                a.fill_between(ns, v - c, v + c, color=PALETTE[k % len(PALETTE)], alpha=0.15,
                               lw=0)
        a.set_xscale("log", base=2)
        a.set_xlabel(mathtext_escape(xlabel))
        a.set_ylabel("Total-order index")
        if title:  # the figure's, above both panels
            fig.suptitle(mathtext_escape(title), fontsize="medium")
        # Labels passed explicitly: matplotlib would drop one that starts with "_".
        fig.legend(handles, [mathtext_escape(labels.get(p, p)) for p in shown], frameon=False,
                   fontsize=6,
                   loc="outside lower center", ncols=min(len(shown), 3))
        if conf is not None:
            b.plot(ns, conf.max("param").values, marker="o", ms=2.5, color=PALETTE[0],
                   label="Widest half-width")
            if tolerance is not None:
                b.axhline(tolerance, color="0.4", ls="--", lw=0.7, label=f"Tolerance {tolerance:g}")
            b.set_xscale("log", base=2)
            b.set_xlabel(mathtext_escape(xlabel))
            b.set_ylabel("Interval half-width")
            b.legend(frameon=False)
        else:
            b.set_axis_off()
    return fig


MORRIS_KEYED = 12


def plot_morris(frame: pd.DataFrame, *, labels: dict[str, str], title: str = "", ax=None):
    """Morris screening: mu* against sigma, with sigma/mu* = 0.1, 0.5 and 1 as guides.

    Parameters
    ----------
    frame : pandas.DataFrame
        Morris rows for one output cell: ``index`` in ``mu_star``, ``sigma`` and
        optionally ``mu_star_conf``.
    labels : dict
    title : str
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    wide = frame.pivot_table(index="param", columns="index", values="value", aggfunc="first")
    mu, sd = wide["mu_star"].to_numpy(float), wide["sigma"].to_numpy(float)
    with style():
        fig, a = figure(DOUBLE, 0.5 * DOUBLE, ax=ax)
        xerr = wide["mu_star_conf"].to_numpy(float) if "mu_star_conf" in wide else None
        a.errorbar(mu, sd, xerr=xerr, fmt="o", ms=3.5, color=PALETTE[0], ecolor="0.6",
                   lw=0.6, capsize=1.2)
        # Room on the right for the point labels.
        top = max(float(np.nanmax(mu)) if mu.size else 1.0, 1e-12) * 1.45
        ytop = max(float(np.nanmax(sd)) if sd.size else 1.0, 1e-12) * 1.15
        for ratio, ls in ((0.1, ":"), (0.5, "--"), (1.0, "-")):
            a.plot([0, top], [0, ratio * top], color="0.7", lw=0.6, ls=ls, zorder=0,
                   label=f"σ/μ* = {ratio:g}")
        # Numbers at the points and a key beside the axes: full labels at the points
        # overprint wherever several inputs share a sigma (e.g. all the linear ones).
        order = np.argsort(-mu, kind="stable")[:MORRIS_KEYED]
        for k, i in enumerate(order, start=1):
            a.annotate(str(k), (mu[i], sd[i]), xytext=(2, 2 + 5 * (k % 2)),
                       textcoords="offset points", fontsize=5.5)
        guides = a.get_legend_handles_labels()
        number_key(a, [labels.get(wide.index[i], wide.index[i]) for i in order])
        a.set_xlim(0, top)
        a.set_ylim(0, ytop)
        a.legend(*guides, frameon=False, loc="upper left", fontsize=6, handlelength=1.6)
        a.set_xlabel("μ* (mean absolute elementary effect)")
        a.set_ylabel("σ (std. of elementary effects)")
        a.set_title(mathtext_escape(title))
    return fig


def plot_ranks(ranks: pd.DataFrame, *, labels: dict[str, str], title: str = "", ax=None):
    """Triangulation: each parameter's rank under each method (1 = most important).

    Parameters
    ----------
    ranks : pandas.DataFrame
        Index = parameter, columns = method names, values = ranks.
    labels : dict
    title : str
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    ranks = ranks.sort_values(ranks.columns[0])
    n, m = ranks.shape
    with style():
        fig, a = figure(SINGLE, 0.3 * SINGLE + 0.16 * n, ax=ax)
        im = a.imshow(ranks.to_numpy(float), cmap=CMAP, aspect="auto", vmin=1,
                      vmax=max(n, 2))
        for i in range(n):
            for j in range(m):
                r = ranks.iat[i, j]
                if np.isfinite(r):
                    a.text(j, i, f"{int(r)}", ha="center", va="center", fontsize=6.5,
                           color="white" if im.norm(r) < 0.5 else "black")
        a.set_xticks(range(m), [mathtext_escape(c) for c in ranks.columns], rotation=30,
                     ha="right", rotation_mode="anchor")
        a.set_yticks(range(n), [mathtext_escape(labels.get(p, p)) for p in ranks.index])
        a.spines[:].set_visible(False)
        a.tick_params(length=0)
        a.set_title(mathtext_escape(title))
    return fig


def plot_indices_over(frame: pd.DataFrame, *, dim: str, labels: dict[str, str],
                      panel: str | None = None, top: int = 5, title: str = "", ax=None):
    """Total-order indices of the leading inputs along an output's extra dimension.

    Parameters
    ----------
    frame : pandas.DataFrame
        ``ST`` rows of ``indices.csv`` for one output: columns ``param``, ``value``,
        ``conf_low``, ``conf_high``, ``dim`` and, with ``panel``, that column too.
    dim : str
        The dimension on the horizontal axis (``time``, a year, a scenario step).
        Numbers are placed at their value, anything else in the order first seen.
    labels : dict
        Parameter name -> label.
    panel : str, optional
        A second dimension (e.g. ``actor``): one panel per value, at most
        :data:`OVER_PANELS`.
    top : int
        Inputs drawn: those with the largest ST anywhere along ``dim``; one colour each
        in every panel.
    title : str
        The figure's title (the output's label).
    ax : matplotlib Axes or sequence of Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
        ``axes[k].lines[i]`` is the ``i``-th input of ``top`` in panel ``k``.
    """
    f = frame[frame["param"].isin(labels)]
    shown = list(f.groupby("param")["value"].max().sort_values(ascending=False).index[:top])
    panels = list(dict.fromkeys(f[panel]))[:OVER_PANELS] if panel else [None]
    steps = list(dict.fromkeys(f[dim]))
    numeric = bool(pd.to_numeric(pd.Series(steps), errors="coerce").notna().all())
    if numeric:
        steps = [float(v) for v in steps]
    with style():
        n = len(panels)
        fig, axes = figure(SINGLE if n == 1 else DOUBLE, 0.7 * SINGLE, 1, n, ax=ax, sharey=True)
        axes = np.atleast_1d(axes).ravel()
        handles = []
        for a, where in zip(axes, panels):
            g = f if where is None else f[f[panel] == where]
            for k, p in enumerate(shown):
                rows = g[g["param"] == p].set_index(dim).reindex(steps)
                x = np.asarray(steps, float) if numeric else np.arange(len(steps))
                line, = a.plot(x, rows["value"].to_numpy(float), marker="o", ms=2.5,
                               color=PALETTE[k % len(PALETTE)])
                a.fill_between(x, rows["conf_low"].to_numpy(float),
                               rows["conf_high"].to_numpy(float), color=line.get_color(),
                               alpha=0.15, lw=0)
                if where == panels[0]:
                    handles.append(line)
            if not numeric or len(steps) <= 12:  # few steps: a tick at each (no "2022.5")
                a.set_xticks(x, [mathtext_escape(f"{v:g}".replace("-", "\u2212")
                                                 if numeric else str(v)) for v in steps])
            a.set_xlabel(mathtext_escape(coord_name(dim)))
            a.set_title(mathtext_escape(coord_name(str(where))) if where is not None else "")
        axes[0].set_ylabel("Total-order index")
        if title:
            fig.suptitle(mathtext_escape(title), fontsize="medium")
        # Labels passed explicitly: matplotlib would drop one that starts with "_".
        # Short labels in few columns: a legend wider than the figure would be cut off.
        names = [mathtext_escape(textwrap.shorten(labels.get(p, p), 34)) for p in shown]
        fig.legend(handles, names, frameon=False, loc="outside lower center",
                   ncols=min(len(shown), 2 if n == 1 else 3))
    return fig


OVER_PANELS = 6


def coord_name(value: str) -> str:
    """A dimension or coordinate name for an axis: ``united_states`` -> ``United states``."""
    s = str(value).replace("_", " ")
    return s[:1].upper() + s[1:]
