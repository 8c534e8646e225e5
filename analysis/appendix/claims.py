"""Appendix section: the paper's claims and observations, as the model's 0/1 outputs.

The interface, read from the output attributes of ``results.nc`` (a model sets ``role``
on the outputs it returns; the run keeps it as ``model_role``):

- a claim: ``role = "claim"``, ``statement``, ``statement_zh``, ``passage``, ``section``
  and ``kind``, ``"tested"`` (may fail over the input distributions) or ``"built_in"``
  (an implementation check the calibration guarantees);
- an observation the paper reports: ``role = "observation"``, ``statement``,
  ``statement_zh``, ``passage``, ``section``.

Claims are reported with P(holds) and its interval, tested and built-in apart, and every
tested claim with P < 0.5 is named as failing in the text. Observations are tabulated
under the main run and every variant run its ``variants/compare.csv`` lists; each
supports the reading under which it is most probable.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..draws import iid_rows, read_rows
from ..figures.data import RunData
from ..proportion import share_holds
from .blocks import Heading, Note, Para, Table, interval, pct
from .lang import tr

__all__ = ["declared", "claims", "observations", "variant_runs"]


def _role(attrs) -> str:
    return str(attrs.get("model_role") or attrs.get("role") or "")


def declared(ds, role: str) -> list[str]:
    """Outputs along ``sample`` alone whose declared role is ``role``, in file order."""
    return [v for v, da in ds.data_vars.items() if _role(da.attrs) == role and da.dims == ("sample",)]


def _text(attrs, key: str, lang: str) -> str:
    own = attrs.get(f"{key}_{lang}") if lang != "en" else None
    return str(own or attrs.get(key) or "")


def _share(y: np.ndarray, replicate, conf: float) -> tuple[float, float, float]:
    p, _, lo, hi, _ = share_holds(y == 1, replicate, conf)
    return p, max(0.0, lo), min(1.0, hi)


def _probability(data: RunData, name: str) -> tuple[float, float, float]:
    ds = data.results
    y = np.asarray(ds[name].values, dtype=float)
    rep = np.asarray(ds["replicate"].values) if "replicate" in ds.coords else None
    return _share(y, rep, data.conf_level)


def _claim_table(data, names, kind, lang):
    rows, recs = [], []
    level = f"{data.conf_level:.0%}"
    for n in names:
        a = data.results[n].attrs
        p, lo, hi = _probability(data, n)
        rows.append([_text(a, "statement", lang) or n, _text(a, "passage", lang), str(a.get("section", "")),
                     pct(p), interval(lo, hi, True)])
        recs.append({"output": n, "kind": kind, "statement": a.get("statement", ""),
                     "statement_zh": a.get("statement_zh", ""), "passage": a.get("passage", ""),
                     "section": a.get("section", ""), "p_holds": p, "conf_low": lo, "conf_high": hi})
    key = "claims_caption_tested" if kind == "tested" else "claims_caption_builtin"
    header = [tr(lang, "col_claim"), tr(lang, "col_passage"), tr(lang, "col_section"), tr(lang, "col_p"),
              tr(lang, "col_interval")]
    return Table(f"claims-{kind.replace('_', '-')}", tr(lang, key, level=level), header, rows,
                 pd.DataFrame(recs), [0.34, 0.3, 0.12, None, None]), recs


def claims(data: RunData, lang: str = "en") -> list:
    """Tested claims (and which fail), then the implementation checks."""
    names = declared(data.results, "claim")
    obs = declared(data.results, "observation")
    blocks = [Heading(tr(lang, "claims_h"), 2, "claims")]
    if not names and not obs:
        return blocks + [Note(tr(lang, "claims_none"))]
    if names:
        blocks.append(Para(tr(lang, "claims_intro")))
    tested = [n for n in names if data.results[n].attrs.get("kind", "tested") != "built_in"]
    built = [n for n in names if n not in tested]
    if tested:
        table, recs = _claim_table(data, tested, "tested", lang)
        blocks.append(Heading(tr(lang, "claims_tested_h"), 3, "claims-tested"))
        fails = [r for r in recs if r["p_holds"] < 0.5]
        for r in fails:
            stmt = (r["statement_zh"] if lang == "zh" and r["statement_zh"] else r["statement"]) or r["output"]
            blocks.append(Para(tr(lang, "claim_fails", statement=stmt, section=r["section"],
                                  p=pct(r["p_holds"]), interval=interval(r["conf_low"], r["conf_high"], True))))
        if not fails:
            blocks.append(Para(tr(lang, "claims_all_hold")))
        blocks.append(table)
    if built:
        blocks.append(Heading(tr(lang, "claims_builtin_h"), 3, "claims-builtin"))
        blocks.append(_claim_table(data, built, "built_in", lang)[0])
    return blocks + observations(data, lang)


def variant_runs(data: RunData) -> tuple[list[tuple[str, Path]], list[str]]:
    """``(study name, run directory)`` of each variant run compared with this one, and the
    ``run`` names of those compared but not found.

    Read from the run's comparison table (``Run.table("compare")``: ``variants/compare.csv``,
    or ``compare.csv``), whose ``run`` column names each run as ``<study>/<run id>`` under
    the same output root. A run directory moved or copied without its variants' folders
    finds none of them: the section must say so rather than that none were compared.
    """
    df = data.record.table("compare")
    if df is None:
        return [], []
    df = df.drop_duplicates("run")
    root = data.path.parent.parent
    found, missing = [], []
    for k, r in enumerate(df.itertuples(index=False)):
        run = root / str(r.run)
        # compare writes the run it was asked about first (study compare RUN_DIR ...: into
        # <first RUN_DIR>/variants): that row is this run, wherever its folder now is.
        if k == 0 or run.resolve() == data.path.resolve():
            continue
        if (run / "results.nc").exists():
            found.append((str(r.study), run))
        else:
            missing.append(str(r.run))
    return found, missing


def _variant_probabilities(data: RunData, run: Path, names: list[str], conf: float) -> dict[str, tuple]:
    """Each observation's probability in a variant run; read once per :class:`RunData` (every
    language's section tabulates the same numbers)."""
    key = ("observations", str(run), tuple(names), conf)
    if key not in data.kept:
        with data.record.related(run).open_results() as ds:  # the variant's own record: verified once
            keep = np.flatnonzero(iid_rows(ds))
            rep = read_rows(ds["replicate"], keep) if "replicate" in ds.coords else None
            data.kept[key] = {n: _share(read_rows(ds[n], keep).astype(float), rep, conf) for n in names if n in ds}
    return data.kept[key]


def _verdict(stmt, main_p, rivals, lang) -> str:
    """Which reading an observation supports: the one where it is most probable."""
    if not rivals:
        return ""
    best_name, best_p = max(rivals.items(), key=lambda kv: kv[1])
    if main_p >= best_p:
        return tr(lang, "obs_supports_main", statement=stmt, p=pct(main_p), rival=best_name, rp=pct(best_p))
    ratio = f"{best_p / main_p:.2f}" if main_p > 0 else tr(lang, "ratio_inf")
    return tr(lang, "obs_supports_rival", statement=stmt, rival=best_name, rp=pct(best_p), p=pct(main_p),
              ratio=ratio)


def observations(data: RunData, lang: str = "en") -> list:
    """P(observation) under the main reading and each variant run; the reading it supports."""
    names = declared(data.results, "observation")
    if not names:
        return []
    blocks = [Heading(tr(lang, "obs_h"), 3, "observations"), Para(tr(lang, "obs_intro"))]
    main_name = str(data.study["study"]["name"])  # required by the loader
    found, missing = variant_runs(data)
    per_run = [(main_name, {n: _probability(data, n) for n in names})]
    per_run += [(study, _variant_probabilities(data, run, names, data.conf_level)) for study, run in found]
    if missing:
        blocks.append(Para(tr(lang, "obs_missing_variants", n=len(missing), root=data.path.parent.parent.name)))
    elif len(per_run) == 1:
        blocks.append(Para(tr(lang, "obs_no_variants")))
    rows, recs = [], []
    for n in names:
        a = data.results[n].attrs
        stmt = _text(a, "statement", lang) or n
        main_p = per_run[0][1][n][0]
        rivals = {study: probs[n][0] for study, probs in per_run[1:] if n in probs}
        for i, (study, probs) in enumerate(per_run):
            if n not in probs:
                continue
            p, lo, hi = probs[n]
            reading = tr(lang, "obs_main", name=study) if i == 0 else study
            ratio = f"{p / main_p:.2f}" if main_p > 0 else "–"
            rows.append([stmt if i == 0 else "", reading, pct(p), interval(lo, hi, True), ratio])
            recs.append({"output": n, "statement": a.get("statement", ""), "section": a.get("section", ""),
                         "reading": study, "main": i == 0, "p": p, "conf_low": lo, "conf_high": hi,
                         "ratio_to_main": p / main_p if main_p > 0 else None})
        verdict = _verdict(stmt, main_p, rivals, lang)
        if verdict:
            blocks.append(Para(verdict))
    header = [tr(lang, "col_observation"), tr(lang, "col_reading"), tr(lang, "col_p"), tr(lang, "col_interval"),
              tr(lang, "col_ratio")]
    blocks.append(Table("observations", tr(lang, "obs_caption"), header, rows, pd.DataFrame(recs),
                        [0.4, 0.26, None, None, None]))
    return blocks
