"""Appendix sections 9–14: convergence, triangulation, scenario discovery, structural
variants, the run record and the auditing statement.

Every file of the run comes through its record (``data.record``, :class:`analysis.run.Run`):
the tables (``Run.table``) and the digests (``Run.sha256``, ``Run.content_sha256``)."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats

from study.store import file_sha256 as sha256  # the toolkit's one file hash

from .. import METHODS
from ..compare import interval_note
from ..figures import ranks_frame
from ..figures.data import RunData, analysed_outputs, key_cell, select_cell
from ..methods import ranking
from ..run import content_sha256  # here before the run record had it (tests import it from here)
from .blocks import Heading, Note, Para, Table, fmt, interval, pct
from .sections import _figs, _join, claim, drivers, probabilities

__all__ = ["convergence", "triangulation", "scenarios", "variants", "run_record", "audit",
           "sha256", "content_sha256"]


def convergence(data: RunData, figs: dict) -> list:
    blocks = [Heading("Convergence", 2, "convergence")]
    conv = data.convergence
    if conv is None:
        return blocks + [Note("No convergence data in this run (indices.nc has no "
                              "convergence of Sobol' indices); section omitted.")]
    tol = data.study.get("analysis", {}).get("tolerance")
    rows, recs = [], []
    for out in analysed_outputs(data):
        var = f"{out}__ST"
        if var not in conv or "N" not in conv[var].dims:
            continue
        v, c = conv[var], conv.get(f"{var}_conf")
        extra = [d for d in v.dims if d not in ("N", "param")]
        if extra:
            sel = {d: key_cell(data, out).get(d, v[d].values[0]) for d in extra}
            v, c = v.sel(sel), (c.sel(sel) if c is not None else None)
        for n in v["N"].values:
            at = v.sel(N=n).to_series().sort_values(ascending=False)
            width = float(c.sel(N=n).max()) if c is not None else float("nan")
            top = [data.labels.get(p, p) for p in at.index[:3]]
            rows.append([data.label(out), str(int(n)), fmt(width), ", ".join(top)])
            recs.append({"output": out, "N": int(n), "max_half_width": width,
                         "top1": at.index[0], "top2": at.index[1] if len(at) > 1 else "",
                         "top3": at.index[2] if len(at) > 2 else ""})
    if not rows:
        return blocks + [Note("The convergence in indices.nc covers none of the analysed outputs; "
                              "section omitted.")]
    rec = pd.DataFrame(recs)
    last = rec.groupby("output").tail(1)
    ok = last["max_half_width"] <= tol if tol is not None else pd.Series(False, last.index)
    blocks.append(Para(
        "Indices are re-estimated on nested sub-designs of the same run (each prefix of "
        "the design with N a power of two is itself balanced). At the full design the widest "
        "total-order half-width is "
        + _join([f"{fmt(w)} for {data.label(o)}" for o, w in
                 zip(last["output"], last["max_half_width"])])
        + (f"; against the tolerance of {fmt(tol)}, {int(ok.sum())} of {len(last)} outputs "
           "have converged." if tol is not None else ".")))
    stable = [data.label(o) for o, g in rec.groupby("output", sort=False)
              if len(g) > 1 and g["top1"].iloc[-2] == g["top1"].iloc[-1]]
    if stable:
        blocks.append(Para("The most influential input is the same at the last two sample "
                           "sizes for " + _join(stable) + "."))
    blocks.append(Table("convergence", "Widest total-order interval half-width and leading "
                        "inputs on nested sub-designs.",
                        ["Output", "N", "Widest half-width",
                         "Leading inputs (ST)"], rows, rec,
                        [0.3, None, None, 0.4]))
    return blocks + _figs(figs, "convergence")


def triangulation(data: RunData, figs: dict) -> list:
    blocks = [Heading("Triangulation with other methods", 2, "triangulation")]
    key = data.key_output
    ranks = ranks_frame(data, key, key_cell(data, key)) if key else pd.DataFrame()
    if ranks.shape[1] < 2:
        return blocks + [Note("Only one sensitivity method in this run (no Morris or delta "
                              "rows); section omitted.")]
    base = ranks.columns[0]
    agree = []
    for m in ranks.columns[1:]:
        both = ranks[[base, m]].dropna()
        tau = stats.kendalltau(both[base], both[m]).statistic if len(both) > 1 else np.nan
        k = min(3, len(both))
        same = len(set(both.nsmallest(k, base).index) & set(both.nsmallest(k, m).index))
        agree.append(f"{m} (Kendall τ {fmt(tau)}; {same} of the top {k} shared)")
    blocks.append(Para(f"For {data.label(key)}, the ranking by {base} is compared with "
                       + _join(agree) + ". " + _agreement_sentence(data, key)))
    ordered = ranks.sort_values(base)
    rows = [[data.labels.get(p, p), *[("–" if pd.isna(v) else str(int(v))) for v in r]]
            for p, r in ordered.iterrows()]
    rows, note = _top_ranks(rows, ordered.min(axis=1).to_numpy(float))
    blocks.append(Table("triangulation", f"Rank of each input for {data.label(key)} "
                        "(1 = most influential)" + note, ["Input", *ranks.columns], rows,
                        ranks.rename_axis("param").reset_index(),
                        [0.4] + [None] * ranks.shape[1]))
    return blocks + _figs(figs, "triangulation")


TOP_RANKS = 8


def _top_ranks(rows: list[list[str]], best: np.ndarray) -> tuple[list[list[str]], str]:
    """Rows of inputs that some method ranks in its top :data:`TOP_RANKS`, and one row
    for the rest (a long ranking is mostly inputs every method puts last)."""
    keep = best <= TOP_RANKS
    rest = int((~keep).sum())
    if len(rows) <= 12 or rest < 2:
        return rows, "."
    summary = [f"{rest} further inputs, ranked below {TOP_RANKS} by every method"]
    return ([r for r, k in zip(rows, keep) if k] + [summary + [""] * (len(rows[0]) - 1)],
            f"; inputs no method ranks in its top {TOP_RANKS} are summarised in the last "
            "row (the table's CSV lists every input).")


def _agreement_sentence(data: RunData, key: str) -> str:
    """Where the methods agree and disagree (analysis.triangulation), in the inputs' labels."""
    from ..triangulation import method_agreement

    cell = key_cell(data, key)
    values = {}
    for m in ranking(METHODS, triangulates=True):  # the registry's methods, ranked by their own index
        rows = select_cell(data.rows(m.name, m.rank_index, key), cell, data.dim_columns)
        rows = rows[rows["param"].isin(data.labels)]
        values[m.name] = (xr.DataArray(rows["value"].to_numpy(float), dims="param",
                                       coords={"param": rows["param"].to_numpy()}) if len(rows) else None)
    if sum(v is not None for v in values.values()) < 2:
        return ""
    table = method_agreement(values)
    text = " ".join(table.attrs["per_output"]["summary"])
    for name in sorted(data.labels, key=len, reverse=True):  # longest first: no partial matches
        text = text.replace(name, data.labels[name])
    return text


def scenarios(data: RunData) -> list:
    blocks = [Heading("Scenario discovery", 2, "scenarios")]
    df = data.record.table("scenarios")
    if df is None:
        return blocks + [Note("No scenario discovery in this run (no scenarios.csv); "
                              "section omitted.")]
    chosen = df[df["kind"] == "chosen"] if "kind" in df else df
    if chosen.empty:
        return blocks + [Note("Scenario discovery found no box; section omitted.")]
    blocks.append(Para(
        "PRIM boxes (Friedman and Fisher 1999) describe the input regions where the headline "
        "result fails. Coverage is the share of all failures inside the box, density the "
        "share of draws inside the box that fail, mass the share of draws inside."))
    rows = []
    for (out, box), g in chosen.groupby(["output", "box"], sort=False):
        r0 = g.iloc[0]
        blocks.append(Para(
            f"{claim(data, out) if out in data.results else out}, box {int(box)}: coverage "
            f"{pct(r0.coverage)}, density {pct(r0.density)}, mass {pct(r0.mass)}, "
            f"{int(r0.n_restricted)} inputs restricted."))
        for r in g.itertuples(index=False):
            if isinstance(r.param, str) and r.param:
                rows.append([str(out), str(int(box)), data.labels.get(r.param, r.param),
                             fmt(r.low, 3), fmt(r.high, 3),
                             fmt(r.qp_value, 3)])  # a column scenario.tidy always writes
    blocks.append(Table("scenarios", "Restrictions of each PRIM box (bounds inclusive; "
                        "– marks an unrestricted side).",
                        ["Output", "Box", "Input", "Low", "High", "Quasi-p"], rows, chosen,
                        [0.18, None, 0.34, None, None, None]))
    return blocks


def variants(data: RunData) -> list:
    blocks = [Heading("Structural alternatives", 2, "variants")]
    df = data.record.table("compare")
    if df is None:
        return blocks + [Note("No model variants were compared for this run (no compare.csv); "
                              "section omitted.")]
    this = data.path.name
    rows = [[str(r.study) + (" (this run)" if str(r.run).endswith(this) else ""),
             str(r.output_label or r.output), pct(r.p_holds), interval(r.ci_low, r.ci_high, True),
             str(r.driver_1_label or "")]  # compare.COLUMNS: every column is written
            for r in df.astype(object).fillna("").itertuples(index=False)]
    blocks.append(Para(f"The headline results under {df['run'].nunique()} model variants, side by side; "
                       "each variant is its own run of the same model under its own study file. A "
                       "variant with declared rank correlations is sampled by a Latin hypercube through a "
                       "Gaussian copula and ranked by delta, since Sobol' indices assume independent "
                       "inputs; comparing it with this run shows the headline under independence and "
                       "under the declared correlations."))
    blocks.append(Table("variants", "Headline results under structural alternatives.",
                        ["Variant", "Result", "P(holds)", "Interval", "Leading input"], rows, df,
                        [0.22, 0.32, None, None, 0.2]))
    if "ci_method" in df:
        blocks.append(Para(interval_note(df)))
    for study, group in df.groupby("study", sort=False):
        blocks.append(Para(f"{study}: {group['variant'].iloc[0]}"))
    return blocks


def job_time(timings: dict, now: datetime | None = None) -> list[tuple[str, str]]:
    """The wall time of the whole job, figures and appendix included.

    ``with_outputs_s`` is recorded once the outputs are written; an appendix built during
    the run comes before that, so it states the time from the start to its own building.
    """
    if timings.get("with_outputs_s") is not None:
        return [("Wall time, whole job (s)", fmt(timings["with_outputs_s"], 1))]
    try:
        start = datetime.fromisoformat(str(timings["started"]))
    except (KeyError, ValueError):
        return [("Wall time, whole job (s)", "–")]
    now = now or datetime.now(timezone.utc)
    return [("Wall time up to this appendix (s)", fmt((now - start).total_seconds(), 1))]


def run_record(data: RunData) -> list:
    m = data.manifest
    s, t = m.get("samples", {}), m.get("timings", {})
    run = data.record
    files = [f for f in ("results.nc", "indices.nc", "indices.csv", "study.toml") if run.has(f)]
    pairs = [("Run directory", data.path.name), ("Status", str(m.get("status", ""))),
             ("Command", " ".join(map(str, m.get("argv", [])))),
             ("Runs requested", str(s.get("runs_requested", ""))),
             ("Runs completed", str(s.get("runs_completed", ""))),
             ("Runs failed", str(s.get("runs_failed", ""))),
             ("Started", str(t.get("started", ""))),
             ("Model runs and indices finished", str(t.get("finished", ""))),
             *job_time(t),
             ("Sampling / evaluation / analysis / figures / appendix (s)",
              " / ".join(fmt(t.get(k), 1) for k in ("sampling_s", "evaluation_s", "analysis_s",
                                                     "figures_s", "appendix_s"))),
             ("Study file", str(m.get("study", {}).get("file", ""))),
             ("sha256 of the study file", str(m.get("study", {}).get("sha256", ""))),
             ("Model", str(m.get("model", {}).get("ref", ""))),
             ("sha256 of the model file", str(m.get("model", {}).get("sha256", ""))),
             ("Git commit", str(m.get("git_commit") or "not recorded")),
             ("Host, Python", ", ".join(str(v) for v in (m.get("host"), m.get("python")) if v)
              or "–")]
    # Data files by content (stable across re-analysis and resume), text files by bytes.
    pairs += [(f"sha256 of the data in {f}" if f.endswith(".nc") else f"sha256 of {f}",
               run.content_sha256(f) if f.endswith(".nc") else run.sha256(f))
              for f in files]
    failed = s.get("runs_failed") or 0
    if m.get("status") != "complete":
        # Not an error: `study run` writes the appendix before it seals the manifest.
        pairs.insert(1, ("Note", "status and timings as recorded when this appendix was "
                                 "built; manifest.json holds the final values"))
    text = ("Every requested model run completed." if not failed else
            f"{failed} model runs failed; they are flagged in results.nc (variable status) and "
            "left out of every estimate that does not need a complete design.")
    return [Heading("Run record", 2, "record"), Para(text),
            Table("run-record", "Run record.", ["Item", "Value"], [[k, _breakable(v)] for k, v in pairs],
                  pd.DataFrame(pairs, columns=["item", "value"]), [0.3, 0.7])]


def audit(data: RunData) -> list:
    blocks = [Heading("Auditing statement", 2, "audit")]
    framing = []
    for r in probabilities(data).itertuples(index=False):
        d = drivers(data, r.output, {})
        srcs = {f.label: f.source for f in data.factors}
        lead = [f"{lab}{' (' + srcs[lab] + ')' if srcs.get(lab) else ''}" for lab, _ in d]
        framing.append(
            f"“{claim(data, r.output)}” holds in {pct(r.value)} of draws"
            + (", and the assumptions that could flip it are those with the largest "
               "total-order indices: " + _join(lead) + "." if lead else
               "; no single assumption clears the noise floor."))
    blocks += [Para(s) for s in framing]
    blocks.append(Para(
        "The distributions are modelling choices; each is listed with its source in the "
        "factor table, and the study file that fixes them is archived in the run directory "
        "with its hash. The framing is the study's own: other outputs or thresholds could "
        "give other verdicts. The raw draws and model outputs are in results.nc (netCDF), the "
        "indices in indices.nc and indices.csv; the figures and this appendix are rebuilt "
        "from those files alone by the commands study figures and study appendix."))
    return blocks


def _breakable(value: str) -> str:
    """A 64-digit hex digest shown as two halves, so TeX may break the cell between them.

    Unbroken, a digest is one word about as wide as the value column, and some digests
    (wide digits) overflow it; the CSV beside the table keeps the digest whole.
    """
    if len(value) == 64 and all(c in "0123456789abcdef" for c in value):
        return f"{value[:32]} {value[32:]}"
    return value
