"""Appendix sections 1–8: purpose, factors, design, uncertainty, scatterplots, indices,
grouped indices. Every number is read from the run directory; every sentence that
carries a number is built here from data, never typed in."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pandas as pd
from ..noise import METHOD as NOISE  # its paragraph reads the diagnostic's rows by its registry entry
from ..proportion import share_holds

from ..figures.data import (RunData, analysed_outputs, cell_title, distribution_outputs,
                            output_cells, select_cell, term_outputs)
from ..figures.data import coord_label
from ..figures.uncertainty import decomposition_frame, pretty, term_label
from ..textsafe import slug
from .blocks import Fig, Heading, Note, Para, Table, fmt, interval, pct

__all__ = ["claim", "headline_sentences", "purpose", "factors", "design", "uncertainty",
           "indices", "grouped", "probabilities"]


def claim(data: RunData, output: str) -> str:
    """The statement a headline indicator encodes, from the output's own metadata.

    Uses the output's ``label`` attribute; else its ``description`` with a leading
    "1 if" removed (the model's convention for indicators); else its name.
    """
    attrs = data.results[output].attrs
    if attrs.get("label"):
        return str(attrs["label"])
    desc = str(attrs.get("description") or "")
    m = re.match(r"\s*1\s+if\s+(.+)", desc)
    text = (m.group(1) if m else desc).strip().rstrip(".")
    return text[:1].upper() + text[1:] if text else pretty(output)


def _unreliable(rows: pd.DataFrame) -> str | None:
    """The ``status`` of Sobol rows (indices.csv) that are not ``ok``, if any."""
    bad = rows["status"].dropna() if "status" in rows else pd.Series(dtype=str)
    bad = bad[bad != "ok"]
    return str(bad.iloc[0]) if len(bad) else None


def _figs(figs: dict, section: str) -> list:
    return [Fig(name, cap, width) for name, (sec, cap, width) in figs.items() if sec == section]


def probabilities(data: RunData) -> pd.DataFrame:
    """Probability that each headline holds, from indices.csv ``P`` rows.

    Headline indicators without a ``P`` row are computed from the saved independent draws,
    with a Wilson score interval (:func:`analysis.proportion.share_holds`).
    """
    rows = data.rows(index="P")
    out = [r for r in rows.itertuples(index=False)]
    frame = pd.DataFrame([{"output": r.output, "value": r.value, "conf_low": r.conf_low,
                           "conf_high": r.conf_high, "method": getattr(r, "conf_method", "")}
                          for r in out], columns=["output", "value", "conf_low", "conf_high",
                                                  "method"])
    ind = data.independent()
    extra = []
    for h in data.headline:
        if h in set(frame["output"]) or ind[h].ndim != 1:
            continue
        v = ind[h].values
        v = v[np.isfinite(v)]
        p, _, low, high, how = share_holds(v > 0.5, None, data.conf_level)
        extra.append({"output": h, "value": p, "conf_low": low, "conf_high": high,
                      "method": f"{how} (from the saved draws)"})
    return pd.concat([frame, pd.DataFrame(extra, columns=frame.columns)], ignore_index=True) \
        if extra else frame


def _verdicts(st: pd.DataFrame, floor: float | None) -> pd.Series:
    """Influential where the interval's lower bound clears the noise floor's upper bound."""
    if "influential" in st and st["influential"].notna().any():
        flag = st["influential"].astype(str).str.lower().isin(["true", "1", "1.0"])
    else:
        flag = st["conf_low"] > (floor if floor is not None else 0.0)
    return flag


def drivers(data: RunData, output: str, cell: dict, k: int = 3) -> list[tuple[str, float]]:
    """Up to ``k`` influential inputs by total-order index: ``[(label, ST), ...]``."""
    rows = select_cell(data.rows("sobol", ("ST", "ST_dummy"), output), cell, data.dim_columns)
    floor = rows.loc[rows["index"] == "ST_dummy", "conf_high"]
    st = rows[(rows["index"] == "ST") & rows["param"].isin(data.labels)]
    st = st[_verdicts(st, floor.iloc[0] if len(floor) else None).to_numpy()]
    st = st.sort_values("value", ascending=False).head(k)
    return [(data.labels[p], v) for p, v in zip(st["param"], st["value"])]


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def headline_sentences(data: RunData) -> list[str]:
    """One generated sentence per headline indicator: probability, interval, drivers."""
    out = []
    level = f"{data.conf_level:.0%}"
    for r in probabilities(data).itertuples(index=False):
        s = (f"“{claim(data, r.output)}” holds in {pct(r.value)} of draws ({level} interval "
             f"{interval(r.conf_low, r.conf_high, as_pct=True)})")
        d = drivers(data, r.output, {})
        bad = _unreliable(data.rows("sobol", "ST", r.output))
        if bad:
            s += f"; its Sobol' indices are not reported ({bad})."
        elif d:
            s += "; its total-order variance is driven mainly by " + _join(
                [f"{lab} ({fmt(v)})" for lab, v in d]) + "."
        elif data.has("sobol", "ST"):
            s += "; no input's total-order index clears the noise floor."
        else:
            s += "."
        out.append(s)
    return out


def purpose(data: RunData) -> list:
    st = data.study.get("study", {})
    name = st["name"]  # required by the loader, which validated the run's study.toml
    blocks = [Heading("Purpose and setting", 2, "purpose")]
    if st.get("description"):
        blocks.append(Para(f"Study “{name}”: {st['description']}"))
    outs = analysed_outputs(data)
    blocks.append(Para(
        "The analysis serves three settings: factor prioritisation (which uncertain inputs "
        "drive the results), factor fixing (which inputs could be fixed at any value in "
        "their range without changing the results: those whose total-order index does not "
        "clear the noise floor) and factor mapping (which regions of the input space make "
        "the headline result fail). The headline results are binary indicators; the "
        "outputs analysed are listed below."))
    role = {o: "headline" for o in data.headline}
    if data.key_output:
        role.setdefault(data.key_output, "key output")
    rows, recs = [], []
    for o in dict.fromkeys([*data.headline, *outs, *([data.key_output] if data.key_output else [])]):
        da = data.results[o]
        dims = ", ".join(d for d in da.dims if d != "sample") or "scalar"
        desc = da.attrs.get("description") or da.attrs.get("label") or ""
        rows.append([o, role.get(o, "analysed"), dims, desc])
        recs.append({"output": o, "role": role.get(o, "analysed"), "dims": dims,
                     "description": desc})
    blocks.append(Table("outputs", "Outputs analysed.", ["Output", "Role", "Dimensions",
                                                         "Meaning"], rows, pd.DataFrame(recs),
                        [0.24, 0.12, 0.17, 0.45]))
    return blocks


def _dist_text(name: str, args: dict) -> str:
    """``triangular: low 0.05, mode 0.2, high 0.6`` (breakable at every space)."""
    parts = ", ".join(f"{k} {v:g}" if isinstance(v, (int, float)) else f"{k} {v}"
                      for k, v in args.items())
    return f"{name}: {parts}" if name else parts


def input_name(label: str, name: str) -> str:
    """An input's label with its variable name, without doubled brackets.

    ``Russia's residual capacity (r)`` and ``russia_residual_capacity`` give
    ``Russia's residual capacity (r; russia_residual_capacity)``, not "... (r)
    (russia_residual_capacity)"; a label that is the name is printed once.
    """
    if not label or label == name:
        return name
    if label.endswith(")") and "(" in label:
        return f"{label[:-1]}; {name})"
    return f"{label} ({name})"


def factors(data: RunData) -> list:
    blocks = [Heading("Uncertain inputs", 2, "factors")]
    rows = [[input_name(f.label, f.name), _dist_text(f.distribution, f.args),
             f.group.replace("_", " "), f.description, f.source] for f in data.factors]
    recs = pd.DataFrame([{"name": f.name, "label": f.label, "unit": f.unit,
                          "distribution": f.distribution, "args": _dist_text("", f.args),
                          "group": f.group, "description": f.description, "source": f.source}
                         for f in data.factors])
    blocks.append(Para(
        f"{len(data.factors)} inputs are uncertain, in {len(data.groups)} assumption "
        "families (groups). Each is sampled from the distribution shown; the source column "
        "records where the range comes from."))
    blocks.append(Table("factors", "Uncertain inputs: distribution, group and source.",
                        ["Input", "Distribution", "Group", "Meaning", "Source"], rows, recs,
                        [0.2, 0.17, 0.11, 0.27, 0.17]))
    corr = data.study.get("correlations", [])
    if corr:
        blocks.append(Para("Declared rank correlations (Gaussian copula): " + "; ".join(
            f"{' and '.join(data.labels.get(p, p) for p in c.get('params', []))}: "
            f"Spearman {c.get('rank', float('nan')):g} ({c.get('reason', 'no reason given')})"
            for c in corr) + ". All other inputs are independent."))
    else:
        blocks.append(Para("All inputs are sampled independently: no correlation is declared, "
                           "so the Sobol' indices are variance shares of independent inputs."))
    if data.constants:
        crow = [[c.get("label") or n, n, fmt(c.get("value"), 3), c.get("description", ""),
                 c.get("source", "")] for n, c in data.constants.items()]
        crec = pd.DataFrame([{"name": n, "label": c.get("label", ""), "value": c.get("value"),
                              "description": c.get("description", ""),
                              "source": c.get("source", "")} for n, c in data.constants.items()])
        blocks.append(Table("constants", "Fixed constants and the reason each is fixed.",
                            ["Constant", "Name", "Value", "Reason", "Source"], crow, crec,
                            [0.2, 0.16, None, 0.33, 0.17]))
    return blocks


def design(data: RunData) -> list:
    m, a = data.manifest, data.results.attrs
    s = m.get("samples", {})
    ests = data.rows("sobol", ("S1", "ST"))
    est = "; ".join(f"{i}: {e}" for i, e in ests.groupby("index")["estimator"].first().items()
                    if isinstance(e, str)) if "estimator" in ests else ""
    cim = ests["conf_method"].dropna().unique() if "conf_method" in ests else []
    pairs = [
        ("Design", str(a.get("design", data.study.get("sampling", {}).get("method", "")))),
        ("Base sample size N", str(s.get("N", a.get("samples", "")))),
        ("Independent replicates", str(s.get("replicates", a.get("replicates", "")))),
        ("Second-order terms", str(s.get("second_order", a.get("second_order", "")))),
        ("Model runs requested", str(s.get("runs_requested", ""))),
        ("Seed", str(m.get("seed", a.get("seed", "")))),
        ("Sobol' estimators", est or "–"),
        ("Confidence intervals", f"{data.conf_level:.0%}, " + (", ".join(map(str, cim)) or "–")),
        ("Methods", ", ".join(dict.fromkeys(data.indices.loc[data.indices["index"] != "P",
                                                              "method"]))
         if data.indices is not None else "–"),
        ("Software", ", ".join(f"{k} {v}" for k, v in m.get("versions", {}).items())),
    ]
    return [Heading("Global design", 2, "design"),
            Para("Every index is estimated over the whole joint input space from one global "
                 "design; no input is varied one at a time."),
            Table("design", "Sampling design and estimators.", ["Setting", "Value"],
                  [list(p) for p in pairs], pd.DataFrame(pairs, columns=["setting", "value"]),
                  [0.3, 0.6])]


def uncertainty(data: RunData, figs: dict) -> list:
    blocks = [Heading("Uncertainty of the headline outputs", 2, "uncertainty")]
    blocks += [Para(s) for s in headline_sentences(data)]
    prob = probabilities(data)
    if len(prob):
        blocks.append(Table(
            "headline", f"Probability that each headline result holds ({data.conf_level:.0%} "
            "interval).", ["Result", "P(holds)", "Interval", "Interval method"],
            [[claim(data, r.output), pct(r.value), interval(r.conf_low, r.conf_high, True),
              str(r.method or "")] for r in prob.itertuples(index=False)],
            prob.assign(claim=[claim(data, o) for o in prob["output"]]), [0.5, None, None, 0.2]))
    ind = data.independent()
    rows, recs = [], []
    for o in distribution_outputs(data):
        da = ind[o]
        extra = [d for d in da.dims if d != "sample"]
        for combo in itertools.product(*(da[d].values.tolist() for d in extra)):
            cell = dict(zip(extra, combo))
            v = da.sel(cell).values if cell else da.values
            v = v[np.isfinite(v)]
            q5, q50, q95 = np.quantile(v, [0.05, 0.5, 0.95])
            rec = {"output": o, **cell, "mean": v.mean(), "median": q50, "q05": q5, "q95": q95,
                   "share_positive": float(np.mean(v > 0)), "n": v.size}
            recs.append(rec)
            rows.append([data.label(o) + (f" ({cell_title(cell)})" if cell else ""),
                         fmt(rec["mean"]), fmt(q50), interval(q5, q95), pct(rec["share_positive"])])
    if rows:
        blocks.append(Table("distributions", "Distribution of the main outputs over "
                            f"{int(recs[0]['n'])} independent draws.",
                            ["Output", "Mean", "Median", "5–95%", "Share > 0"], rows,
                            pd.DataFrame(recs), [0.42, None, None, None, None]))
    for o in term_outputs(data):
        f = decomposition_frame(ind[o])
        f = f[(f[["mean", "low", "high"]].abs() > 0).any(axis=1)]
        if "actor" in f:
            net = f.groupby("actor", sort=False)["mean"].sum()
            top = [f"{coord_label(a)}: {term_label(g.loc[g['mean'].abs().idxmax(), 'term'])} "
                   f"({fmt(g.loc[g['mean'].abs().idxmax(), 'mean'])} of a net {fmt(net[a])})"
                   for a, g in f.groupby("actor", sort=False)]
            blocks.append(Para("The channel that moved most for each actor (mean change, post "
                               "minus pre): " + "; ".join(top) + "."))
        blocks.append(Table(
            f"decomposition-{slug(o)}", f"{data.label(o)}: change of each term from before "
            "to after (post − pre), mean and 5–95% range over the draws.",
            (["Actor"] if "actor" in f else []) + ["Term", "Mean change", "5–95%"],
            [([coord_label(r.actor)] if "actor" in f else []) + [term_label(r.term), fmt(r.mean, 3),
                                                            interval(r.low, r.high)]
             for r in f.itertuples(index=False)], f,
            ([0.18] if "actor" in f else []) + [0.3, None, None]))
    return blocks + _figs(figs, "uncertainty")


def split_sentence(s1sum: float) -> str:
    """What the sum of first-order indices says about interactions, or that it cannot.

    Estimates of a small design can sum below 0 or above 1; "interactions carry 1.38 of
    the variance" would then be read as a finding.
    """
    if 0 <= s1sum <= 1.0:
        return f"so interactions carry about {fmt(1 - s1sum)} of the variance"
    return ("which is no share of variance: at this sample size the estimates are too uncertain "
            "to split the variance into main effects and interactions")


CONDENSE_AT, KEEP_TOP = 12, 5


def condensed(rows: list[list[str]], influential: list[bool],
              st: list[float]) -> tuple[list[list[str]], str]:
    """An index table's rows for print: the influential inputs and the top
    :data:`KEEP_TOP`, with one row summarising the rest; and the caption's ending.

    Rows come sorted by decreasing ST. A table of at most :data:`CONDENSE_AT` rows is
    printed whole: the flagship's 25-row tables, one per output, made most of its
    appendix rows of inputs that move nothing. The CSV of the table keeps every row.
    """
    keep = [i < KEEP_TOP or flag for i, flag in enumerate(influential)]
    rest = [i for i, k in enumerate(keep) if not k]
    if len(rows) <= CONDENSE_AT or len(rest) < 2:
        return rows, "."
    width = len(rows[0])
    summary = ([f"{len(rest)} further inputs", "", "", f"≤ {fmt(max(st[i] for i in rest))}"]
               + [""] * (width - 5) + ["not above floor"])
    return ([r for r, k in zip(rows, keep) if k] + [summary],
            f"; inputs below the noise floor beyond the first {KEEP_TOP} are summarised in "
            "the last row (the table's CSV lists every input).")


def indices(data: RunData, figs: dict) -> list:
    blocks = [Heading("Sensitivity indices", 2, "indices")]
    if not data.has("sobol", "ST"):
        return blocks + [Note("No Sobol' indices in this run (indices.csv has no sobol rows); "
                              "section omitted.")] + noise_paragraph(data)
    blocks.append(Para(
        "First-order indices (S1) measure the share of output variance explained by an input "
        "alone; total-order indices (ST) add all its interactions. ST − S1 is the share "
        "carried by interactions. A dummy input that the model ignores gives the noise floor: "
        "an input is called influential only when the lower end of its ST interval lies above "
        "both zero and the upper end of the dummy's."))
    for out in analysed_outputs(data):
        rows_all = data.rows("sobol", ("S1", "ST", "ST_dummy"), out)
        for cell in output_cells(rows_all, data.dim_columns):
            r = select_cell(rows_all, cell, data.dim_columns)
            bad = _unreliable(r)
            if bad:
                title = data.label(out) + (f" ({cell_title(cell)})" if cell else "")
                blocks.append(Para(f"{title}: Sobol' indices not reported ({bad})."))
                continue
            floor_rows = r[r["index"] == "ST_dummy"]
            floor = float(floor_rows["conf_high"].iloc[0]) if len(floor_rows) else None
            w = r[r["param"].isin(data.labels)].pivot_table(
                index="param", columns="index", values=["value", "conf_low", "conf_high"],
                aggfunc="first", dropna=False)
            w = w.sort_values(("value", "ST"), ascending=False)
            st = r[(r["index"] == "ST") & r["param"].isin(data.labels)].set_index("param")
            verdict = _verdicts(st.reset_index(), floor).to_numpy()
            vmap = dict(zip(st.index, verdict))
            title = data.label(out) + (f" ({cell_title(cell)})" if cell else "")
            s1sum = float(w[("value", "S1")].sum())
            n_inf = int(sum(vmap.values()))
            blocks.append(Para(
                f"{title}: the first-order indices sum to {fmt(s1sum)}, "
                + split_sentence(s1sum) + f"; {n_inf} of {len(w)} inputs are influential"
                + (f" (noise floor {fmt(floor)})." if floor is not None else ".")))
            rows, recs = [], []
            for p, row in w.iterrows():
                s1, st_v = row[("value", "S1")], row[("value", "ST")]
                rows.append([data.labels[p], fmt(s1), interval(row[("conf_low", "S1")],
                                                               row[("conf_high", "S1")]),
                             fmt(st_v), interval(row[("conf_low", "ST")], row[("conf_high", "ST")]),
                             fmt(st_v - s1), "influential" if vmap.get(p) else "not above floor"])
                recs.append({"output": out, **cell, "param": p, "S1": s1,
                             "S1_low": row[("conf_low", "S1")], "S1_high": row[("conf_high", "S1")],
                             "ST": st_v, "ST_low": row[("conf_low", "ST")],
                             "ST_high": row[("conf_high", "ST")], "interaction": st_v - s1,
                             "influential": bool(vmap.get(p))})
            stem = "-".join(["indices", *map(slug, [out, *cell.values()])])
            shown, note = condensed(rows, [bool(vmap.get(p)) for p in w.index],
                                    [float(x) for x in w[("value", "ST")]])
            blocks.append(Table(stem, f"Sobol' indices for {title}" + note,
                                ["Input", "S1", "S1 interval", "ST", "ST interval", "ST − S1",
                                 "Verdict"], shown, pd.DataFrame(recs),
                                [0.28, None, None, None, None, None, 0.13]))
    s2 = data.rows("sobol", "S2")
    if len(s2):
        top = s2.sort_values("value", ascending=False).head(3)
        pairs = [f"{' × '.join(data.labels.get(x, x) for x in str(r.param).split(':'))} "
                 f"({fmt(r.value)}, {data.label(r.output)})" for r in top.itertuples(index=False)]
        blocks.append(Para("The largest second-order indices are " + _join(pairs) + "."))
    return blocks + noise_paragraph(data) + _figs(figs, "indices")


def noise_paragraph(data: RunData) -> list:
    """What share of each output's variance a stochastic model's own randomness carries."""
    rows = data.rows(NOISE.name, NOISE.rank_index)
    if not len(rows):
        return []
    shares = [f"{data.label(r.output)} {fmt(r.value)} {interval(r.conf_low, r.conf_high)}"
              for r in rows.itertuples(index=False)]
    return [Para("The model is stochastic and each design point was run several times: the indices above "
                 "are those of the mean over replications. The share of each output's variance that is "
                 "the model's own randomness, E[Var(Y | X)] / Var(Y) by the one-way ANOVA over "
                 "replications (Searle, Casella and McCulloch 1992), is " + _join(shares) + "; the "
                 "inputs' indices describe the remaining share.")]


def grouped(data: RunData, figs: dict) -> list:
    blocks = [Heading("Grouped indices by assumption family", 2, "grouped")]
    g = data.rows("sobol", ("S1_group", "ST_group"))
    if not len(g):
        return blocks + [Note("No grouped indices in this run; section omitted.")]
    for out in analysed_outputs(data):
        rows_all = g[g["output"] == out]
        for cell in output_cells(rows_all, data.dim_columns):
            r = select_cell(rows_all, cell, data.dim_columns)
            if _unreliable(r):
                continue  # said once, in the indices section
            w = r.pivot_table(index="param", columns="index", values=["value", "conf_low",
                                                                      "conf_high"],
                              aggfunc="first", dropna=False).sort_values(("value", "ST_group"), ascending=False)
            title = data.label(out) + (f" ({cell_title(cell)})" if cell else "")
            members = data.groups
            rows = [[grp.replace("_", " "), ", ".join(data.labels.get(p, p) for p in
                                                      members.get(grp, [])),
                     fmt(x[("value", "S1_group")]),
                     interval(x[("conf_low", "S1_group")], x[("conf_high", "S1_group")]),
                     fmt(x[("value", "ST_group")]),
                     interval(x[("conf_low", "ST_group")], x[("conf_high", "ST_group")])]
                    for grp, x in w.iterrows()]
            recs = pd.DataFrame([{"output": out, **cell, "group": grp,
                                  "S1": x[("value", "S1_group")], "ST": x[("value", "ST_group")],
                                  "ST_low": x[("conf_low", "ST_group")],
                                  "ST_high": x[("conf_high", "ST_group")]}
                                 for grp, x in w.iterrows()])
            lead = w.index[0]
            blocks.append(Para(f"{title}: the {lead.replace('_', ' ')} family has the largest "
                               f"grouped total-order index ({fmt(w[('value', 'ST_group')].iloc[0])})."))
            stem = "-".join(["grouped", *map(slug, [out, *cell.values()])])
            blocks.append(Table(stem, f"Grouped indices for {title}.",
                                ["Family", "Members", "S1", "S1 interval", "ST", "ST interval"],
                                rows, recs, [0.16, 0.3, None, None, None, None]))
    return blocks + _figs(figs, "grouped")
