"""The appendix section of the surrogate method: which surrogate, its budget and Q², its
indices, and the Monte Carlo (Saltelli) indices beside them when the run has both."""

from __future__ import annotations

import pandas as pd

from .appendix.blocks import Fig, Heading, Note, Para, Table, fmt, interval
from .sobol import METHOD as SOBOL
from .surrogate import Q2_MIN
from .surrogate_run import METHOD as SURROGATE  # its rows, by its registry entry's name

NAMES = {"pce": "a sparse polynomial chaos expansion", "gp": "a Gaussian process"}


def surrogate_figures(data, spec, stem, facet) -> list:
    """Index bars of the surrogate for each output with reliable surrogate indices.

    ``spec``, ``stem`` and ``facet`` are :mod:`analysis.figures`' own ``FigureSpec``, file
    stem and per-cell facetting, passed in so that this module does not import the figures
    package (which imports it).
    """
    from .figures.sensitivity import plot_indices
    from .figures.style import SINGLE

    out = []
    rows = data.rows(SURROGATE.name, ("S1", SURROGATE.rank_index))
    for o in dict.fromkeys(rows["output"]):
        frame = rows[(rows["output"] == o) & rows["param"].isin(data.labels)]
        if not frame["value"].notna().any():
            continue  # withheld (Q² too low): nothing to draw, the Q² table says why
        out.append(spec(stem("indices-surrogate", o), "surrogate",
                        f"First- and total-order indices of {data.label(o)} through the surrogate, with "
                        f"{data.conf_level:.0%} intervals, sorted by total order.",
                        lambda frame=frame, title=data.label(o): facet(data, frame, lambda f, a, t: plot_indices(
                            f, labels=data.labels, title=t, ax=a),
                            height_per=0.3 * SINGLE + 0.16 * len(data.factors), title=title)))
    return out


def surrogate_section(data, figs: dict | None = None) -> list:
    """Appendix blocks for the surrogate rows of ``indices.csv``.

    Parameters
    ----------
    data : analysis.figures.data.RunData
        The run as the appendix reads it.

    Returns
    -------
    list
        A heading, a paragraph (which surrogate, its budget, the Q² rule), the Q² table and the
        key output's indices beside the Saltelli ones when the run has both; empty without
        surrogate rows.
    """
    sur = data.rows(SURROGATE.name)
    if not len(sur):
        return []
    a = data.study.get("analysis", {})
    kind = a.get("surrogate", "pce")
    q2 = sur[sur["index"] == "Q2"]
    runs = sur[sur["index"] == "ST"]["estimator"].str.extract(r"(\d+) runs$")[0].dropna()
    blocks = [Heading("Surrogate indices", 2, "surrogate"), Para(
        f"Sobol' indices were also computed through {NAMES.get(kind, kind)} fitted to "
        f"{runs.iloc[0] if len(runs) else 'the'} model runs of a scrambled Sobol' design over the same "
        f"distributions. Each fit is validated by its leave-one-out Q²; below {Q2_MIN:g} its indices are "
        "withheld, since a surrogate that cannot predict left-out runs says nothing reliable about the "
        "model. Intervals are bootstrap (or posterior) percentiles widened by what the surrogate's own "
        "error could move.")]
    per_output = q2.groupby("output")["value"].agg(["min", "count"])
    rows = [[data.label(o), fmt(r["min"], 3), str(int(r["count"])),
             "yes" if r["min"] >= Q2_MIN else "no: indices withheld"] for o, r in per_output.iterrows()]
    blocks.append(Table("surrogate-q2", "Leave-one-out Q² of the surrogate per output (smallest over "
                        "the output's elements).", ["Output", "Q²", "Elements", "Reliable"], rows,
                        per_output.rename_axis("output").reset_index(), [0.4, None, None, None]))
    key = data.key_output
    table = _comparison(data, sur, key) if key else None
    blocks.append(table if table is not None else
                  Note("No scalar key output with surrogate indices; comparison omitted."))
    return blocks + [Fig(n, c, w) for n, (sec, c, w) in (figs or {}).items() if sec == "surrogate"]


def _comparison(data, sur: pd.DataFrame, key: str) -> Table | None:
    own = sur[(sur["output"] == key) & (sur["index"].isin(["S1", "ST"]))]
    if not len(own) or any(own[c].notna().any() for c in data.dim_columns if c in own):
        return None
    mc = data.rows(SOBOL.name, ("S1", SOBOL.rank_index), key)
    header = ["Input", "S1 (surrogate)", "ST (surrogate)"] + (["ST (Monte Carlo)"] if len(mc) else [])
    rows, frame = [], []
    for p in own["param"].drop_duplicates():
        s1 = own[(own["param"] == p) & (own["index"] == "S1")].iloc[0]
        st = own[(own["param"] == p) & (own["index"] == "ST")].iloc[0]
        row = [data.label(p), f"{fmt(s1['value'])} {interval(s1['conf_low'], s1['conf_high'])}",
               f"{fmt(st['value'])} {interval(st['conf_low'], st['conf_high'])}"]
        rec = {"param": p, "S1": s1["value"], "ST": st["value"]}
        if len(mc):
            m = mc[(mc["param"] == p) & (mc["index"] == "ST")]
            if len(m):
                row.append(f"{fmt(m['value'].iloc[0])} {interval(m['conf_low'].iloc[0], m['conf_high'].iloc[0])}")
                rec["ST_monte_carlo"] = m["value"].iloc[0]
            else:
                row.append("–")
        rows.append(row)
        frame.append(rec)
    caption = f"Surrogate indices of {data.label(key)}" + (", beside the Saltelli estimates of the same run."
                                                          if len(mc) else ".")
    return Table("surrogate-indices", caption, header, rows, pd.DataFrame(frame), [0.3] + [None] * (len(header) - 1))
