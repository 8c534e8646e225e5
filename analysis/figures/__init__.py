"""Publication figures built from a saved run directory.

Each figure is a function ``plot_<name>(data..., ax=None) -> Figure`` over saved data;
:func:`figure_specs` decides which figures a run supports and :func:`build_figures`
writes them as PDF and 300-dpi PNG to ``<run>/figures/``. Nothing here imports the model
or SALib (the sklearn Display rule: compute once, plot from the result).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from .. import METHODS
from ..methods import ranking
from ..morris import METHOD as MORRIS  # the figures that belong to one method read it from its entry
from ..noise import METHOD as NOISE
from .data import (RunData, analysed_outputs, cell_title, coord_label, distribution_outputs,
                   key_cell, load_run, output_cells, select_cell, term_outputs)
from .noise import plot_noise_share
from .parallel import Saving, start_all
from .scatter import categories_of, plot_scatter
from .sensitivity import (S2_MAX, index_legend, noise_floor, plot_convergence, plot_indices,
                          plot_indices_over, plot_morris, plot_ranks, plot_s2)
from ..textsafe import mathtext_escape, slug, unique_names
from .style import DOUBLE, SINGLE, figure, save, style
from .uncertainty import (decomposition_frame, plot_decomposition, plot_distribution,
                          plot_probability)

__all__ = ["build_figures", "start_figures", "figure_specs", "FigureSpec", "load_run", "plot_convergence",
           "plot_decomposition", "plot_distribution", "plot_indices", "plot_morris",
           "plot_probability", "plot_ranks", "plot_s2", "plot_scatter", "ranks_frame",
           "top_inputs"]

MAX_PANELS = 6


@dataclass(frozen=True)
class FigureSpec:
    """A figure a run supports: file stem, appendix section, caption and how to draw it."""

    name: str
    section: str
    caption: str
    draw: Callable[[], object]


def _stem(kind: str, name: str) -> str:
    """File stem of a figure of one output: the output's name is the model's, so slug it."""
    return f"{kind}-{slug(name)}"


def _facet(data: RunData, frame: pd.DataFrame, draw, *, height_per: float, title: str):
    """One panel per output cell (up to MAX_PANELS), each drawn by ``draw(frame, ax, title)``.

    The figure is titled ``title`` (the output's label), so it names what it shows when
    it is read away from its caption; panels are titled by their cell.
    """
    cells = output_cells(frame, data.dim_columns)[:MAX_PANELS]
    if len(cells) == 1:
        where = cell_title(cells[0])
        return draw(select_cell(frame, cells[0], data.dim_columns), None,
                    f"{title} ({where})" if where else title)
    ncols = 3 if len(cells) > 2 else len(cells)
    nrows = -(-len(cells) // ncols)
    with style():
        fig, axes = figure(DOUBLE, height_per * nrows, nrows, ncols)
        axes = np.atleast_1d(axes).ravel()
        for a, cell in zip(axes, cells):
            draw(select_cell(frame, cell, data.dim_columns), a, cell_title(cell))
        for a in axes[len(cells):]:
            a.set_axis_off()
        fig.suptitle(mathtext_escape(title), fontsize="medium")
        index_legend(fig, axes[0])
    return fig


OVER = ("time", "year", "date", "period", "step", "t")


def over_dims(data: RunData, output: str) -> tuple[str, str | None] | None:
    """The dimension to draw ``output``'s indices along, and one to split panels by.

    An output with extra dimensions has an index per cell; along ``time`` (or another
    name in :data:`OVER`, else its one extra dimension with three or more numbers) the
    indices read as a curve. A second extra dimension (e.g. ``actor``) gives panels;
    outputs with more dimensions than that, or a ``term``/``phase`` breakdown, get none.
    """
    rows = data.rows("sobol", "ST", output)
    used = [d for d in data.dim_columns if rows[d].notna().any()]
    if not used or len(used) > 2 or {"term", "phase"} & set(used):
        return None
    timed = [d for d in used if str(d).lower() in OVER]
    if timed:
        dim = timed[0]
    elif (len(used) == 1 and rows[used[0]].nunique() >= 3
          and pd.to_numeric(rows[used[0]].dropna(), errors="coerce").notna().all()):
        dim = used[0]  # numbers are ordered; names (actors) are not, and get no curve
    else:
        return None
    rest = [d for d in used if d != dim]
    return dim, (rest[0] if rest else None)


def top_inputs(data: RunData, output: str, cell: dict, k: int = 4) -> list[str]:
    """The ``k`` parameters with the largest total-order index for ``output`` at ``cell``."""
    st = select_cell(data.rows("sobol", "ST", output), cell, data.dim_columns)
    st = st[st["param"].isin(data.labels)]
    return list(st.sort_values("value", ascending=False)["param"][:k])


def ranks_frame(data: RunData, output: str, cell: dict) -> pd.DataFrame:
    """Ranks of each parameter under each method's ranking index (where present), e.g. Sobol ST."""
    cols = {}
    for method, index, name in ((m.name, m.rank_index, m.label) for m in ranking(METHODS, triangulates=True)):
        rows = select_cell(data.rows(method, index, output), cell, data.dim_columns)
        rows = rows[rows["param"].isin(data.labels)]
        if len(rows):
            # Rank from the values so the figure never depends on a missing rank column.
            cols[name] = rows.set_index("param")["value"].rank(ascending=False, method="min")
    return pd.DataFrame(cols)


def figure_specs(data: RunData) -> list[FigureSpec]:
    """The figures this run's data support, in appendix order."""
    specs: list[FigureSpec] = []
    labels = {**data.labels, **{g: coord_label(g) if g not in data.labels else data.labels[g]
                                for g in data.groups}}
    ind = data.independent()
    headline = data.headline
    conf = data.conf_level

    for out in distribution_outputs(data):
        specs.append(FigureSpec(
            _stem("distribution", out), "uncertainty",
            f"Distribution of {data.label(out)} over the independent draws{data.shown}"
            + (", before and after (share of draws above zero in the legend)."
               if "phase" in ind[out].dims else " (median, mean and 5–95% range)."),
            lambda out=out: plot_distribution(ind[out], label=data.label(out))))
    p_rows = data.rows(index="P")
    if len(p_rows):
        specs.append(FigureSpec(
            "probability", "uncertainty",
            f"Probability that each headline result holds, with its {conf:.0%} interval.",
            lambda: plot_probability(p_rows, labels={o: data.label(o) for o in p_rows["output"]},
                                     conf_level=conf)))
    for o in term_outputs(data):
        specs.append(FigureSpec(
            _stem("decomposition", o), "uncertainty",
            f"{data.label(o)}: each actor's change per term from before to after "
            "(post − pre), mean with the 5–95% range over the draws.",
            lambda o=o: plot_decomposition(decomposition_frame(ind[o]))))

    for out in analysed_outputs(data):
        frame = data.rows("sobol", ("S1", "ST", "ST_dummy"), out)
        specs.append(FigureSpec(
            _stem("indices", out), "indices",
            f"First- and total-order Sobol' indices for {data.label(out)} with {conf:.0%} "
            "intervals, sorted by total order; the grey band is the noise floor.",
            lambda frame=frame, title=data.label(out): _facet(
                data, frame, lambda f, a, t: plot_indices(
                    f[f["index"].isin(["S1", "ST"])], labels=labels, floor=noise_floor(f),
                    title=t, ax=a), height_per=0.3 * SINGLE + 0.16 * len(data.factors),
                title=title)))
        grp = data.rows("sobol", ("S1_group", "ST_group"), out)
        if len(grp):
            specs.append(FigureSpec(
                _stem("indices-grouped", out), "grouped",
                f"Grouped first- and total-order indices for {data.label(out)} by assumption "
                "family.",
                lambda grp=grp, title=data.label(out): _facet(
                    data, grp, lambda f, a, t: plot_indices(f, labels=labels, title=t, ax=a),
                    height_per=0.3 * SINGLE + 0.16 * len(data.groups),
                    title=title)))

    for out in dict.fromkeys(data.rows("sobol", "ST")["output"]):
        dims = over_dims(data, out)
        if dims is None:
            continue
        dim, panel = dims
        st = data.rows("sobol", "ST", out)
        specs.append(FigureSpec(
            _stem(f"indices-over-{slug(dim)}", out), "indices",
            f"Total-order Sobol' indices of {data.label(out)} along {dim}"
            + (f", one panel per {panel}" if panel else "")
            + f", for its leading inputs, with {conf:.0%} intervals.",
            lambda st=st, dim=dim, panel=panel, title=data.label(out): plot_indices_over(
                st, dim=dim, panel=panel, labels=data.labels, title=title)))

    key = data.key_output
    if key is not None:
        cell = key_cell(data, key)
        where = f" ({cell_title(cell)})" if cell else ""
        title = data.label(key) + where
        s2 = select_cell(data.rows("sobol", "S2", key), cell, data.dim_columns)
        if len(s2):
            params = [p for p in top_inputs(data, key, cell, k=len(data.factors))]
            specs.append(FigureSpec(
                _stem("s2", key), "indices",
                f"Second-order indices for {data.label(key)}{where}"
                + (f" among the {S2_MAX} inputs with the largest total-order indices"
                   if len(params) > S2_MAX else "")
                + "; * marks pairs whose interval lies above zero.",
                lambda: plot_s2(s2, params=params, labels=labels, title=title)))
        top = top_inputs(data, key, cell)
        if top:
            y = ind[key].sel(cell).values if cell else ind[key].values
            hl = headline[0] if headline and ind[headline[0]].ndim == 1 else None
            specs.append(FigureSpec(
                _stem("scatter", key), "scatter",
                f"{data.label(key)}{where} against its most influential inputs{data.shown}"
                + (f", coloured by whether “{data.label(hl)}” holds." if hl else "."),
                lambda: plot_scatter({p: ind[p].values for p in top}, y, labels=labels,
                                     ylabel=data.label(key) + where,
                                     holds=ind[hl].values if hl else None,
                                     holds_label=data.label(hl) if hl else "",
                                     categories=categories_of(ind, top))))
        ranks = ranks_frame(data, key, cell)
        if data.has(MORRIS.name, MORRIS.rank_index):
            mrows = select_cell(data.rows(MORRIS.name, output=key), cell, data.dim_columns)
            specs.append(FigureSpec(
                _stem("morris", key), "triangulation",
                f"Morris screening of {data.label(key)}{where}: μ* against σ.",
                lambda: plot_morris(mrows, labels=labels, title=title)))
        if ranks.shape[1] > 1:
            specs.append(FigureSpec(
                _stem("ranks", key), "triangulation",
                f"Rank of each input for {data.label(key)}{where} under each method "
                "(1 = most influential).",
                lambda: plot_ranks(ranks, labels=labels, title=title)))

    noise = data.rows(NOISE.name, NOISE.rank_index)
    if len(noise):  # a stochastic model run with replications (analysis/noise.py)
        specs.append(FigureSpec(
            "noise-share", "indices",
            "Share of each output's variance that is the model's own randomness, E[Var(Y | X)] / Var(Y), "
            f"estimated from the replications, with its {conf:.0%} bootstrap interval.",
            lambda: plot_noise_share(noise, labels={o: data.label(o) for o in noise["output"]})))

    conv = data.convergence
    if conv is not None:
        tol = data.record.study.analysis.tolerance
        xlabel = "Base sample size N"
        for out in analysed_outputs(data):
            var = f"{out}__ST"
            if var in conv and "N" in conv[var].dims:
                v = conv[var]
                c = conv.get(f"{var}_conf")
                extra = [d for d in v.dims if d not in ("N", "param")]
                if extra:  # one cell, the same one the other figures use
                    sel = {d: key_cell(data, out).get(d, v[d].values[0]) for d in extra}
                    v, c = v.sel(sel), (c.sel(sel) if c is not None else None)
                if not np.isfinite(v.values).any():
                    continue  # an unreliable output's indices are all NaN: no curve to draw
                specs.append(FigureSpec(
                    _stem("convergence", out), "convergence",
                    f"Convergence of the total-order indices of {data.label(out)} with the "
                    f"{xlabel.lower()} (nested sub-designs of one run).",
                    lambda v=v, c=c, t=data.label(out): plot_convergence(
                        v, c, labels=labels, tolerance=tol, xlabel=xlabel, title=t)))
    from ..surrogate_appendix import surrogate_figures  # analysis.surrogate's index bars, if any

    specs += surrogate_figures(data, FigureSpec, _stem, _facet)
    # Two outputs may slug to one stem (or differ only in case): keep their files apart.
    return [replace(s, name=n) for s, n in zip(specs, unique_names([s.name for s in specs]))]


# CPU seconds to draw and save one figure of each kind, the flagship's as measured (their
# order is what counts: the workers take the costliest figures first, see start_all);
# a kind not listed counts as a typical figure.
_SAVE_COST = {"scatter": 0.48, "distribution": 0.35, "indices": 0.39, "ranks": 0.37,
              "decomposition": 0.33, "s2": 0.33, "convergence": 0.32, "morris": 0.30,
              "indices-over": 0.30, "indices-grouped": 0.15, "noise-share": 0.12, "probability": 0.10}
_TYPICAL_COST = 0.3


def save_cost(spec: FigureSpec) -> float:
    """Estimated CPU seconds to draw and save ``spec``, from its kind (the start of its name).

    Examples
    --------
    >>> save_cost(FigureSpec("indices-grouped-x", "grouped", "", lambda: None)) == _SAVE_COST["indices-grouped"]
    True
    """
    kinds = [k for k in _SAVE_COST if spec.name == k or spec.name.startswith(k + "-")]
    return _SAVE_COST[max(kinds, key=len)] if kinds else _TYPICAL_COST


def build_figures(run, workers: int | None = None) -> list[Path]:
    """Write every figure the run supports to ``<run>/figures`` (PDF and PNG).

    Parameters
    ----------
    run : str, Path or analysis.run.Run
        A run directory (see ``docs/architecture.md``) or its record.
    workers : int, optional
        Processes that draw and save the figures (default: one per core, on Linux; see
        :mod:`analysis.figures.parallel`); the files are the same with any number.

    Returns
    -------
    list of Path
        The files written, PDF before PNG for each figure.
    """
    return start_figures(run, workers).wait()


def start_figures(run, workers: int | None = None) -> Saving:
    """:func:`build_figures`, returning as soon as the workers have started saving.

    The caller goes on (the runner compares the variants and writes the appendix) while
    the figures are saved; ``wait()`` on the result returns :func:`build_figures`'s list
    (and raises its errors), ``cancel()`` stops the workers.

    Parameters
    ----------
    run : str, Path, analysis.run.Run or RunData
        A run directory, its record, or the run as :func:`load_run` read it.
    workers : int, optional
        As for :func:`build_figures`.

    Returns
    -------
    analysis.figures.parallel.Saving
    """
    data = run if isinstance(run, RunData) else load_run(run)
    return start_all(figure_specs(data), data.path / "figures", save, workers, cost=save_cost)
