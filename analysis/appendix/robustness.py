"""Appendix section: how the headlines move when the leading inputs' distributions shift.

Built from saved runs alone: the leading inputs come from ``indices.nc`` (Sobol'
total-order indices), the shifted estimates from importance reweighting of the run's
independent draws (:mod:`analysis.reweight`). A move of an input's whole range leaves the
sampled support and cannot be reweighted; the inputs ``[report] shift_runs`` names were
re-run at each such move (:mod:`study.shifts`, listed in the manifest's ``shift_runs``),
and their rows read those runs' independent draws.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .. import draws
from ..draws import iid_rows, read_rows
from ..figures.data import RunData
from ..proportion import share_holds
from ..run import Run
from ..reweight import (BreakEven, Reweighter, break_even, centre_shift, ess_threshold,
                        leading_inputs, narrowed)
from .blocks import Heading, Note, Para, Table, fmt
from .lang import output_label, param_label, tr
from .sections import claim

__all__ = ["robustness", "CENTRE_SHIFTS", "NARROWED"]

#: Centre shifts tabulated, as signed fractions of each input's range.
CENTRE_SHIFTS = (-0.10, -0.05, 0.05, 0.10)
#: Share of the range removed by the "narrowed" row.
NARROWED = 0.20
#: Leading inputs shifted per headline.
LEADING = 3


def _g(v: float) -> str:
    return f"{v:.4g}".replace("-", "\u2212")


def _change(old: dict, new: dict) -> str:
    return ", ".join(f"{k} {_g(old[k])} → {_g(new[k])}" for k in old if new[k] != old[k])


def _signed_pct(c: float, digits: int = 0) -> str:
    if c == 0:
        return "0%"
    return f"{100 * c:+.{digits}f}%".replace("-", "\u2212")


def _estimate(v: float, is_p: bool) -> str:
    return f"{100 * v:.1f}%" if is_p else fmt(v, 3)


def _interval(lo: float, hi: float, is_p: bool) -> str:
    return f"{100 * lo:.1f}–{100 * hi:.1f}%" if is_p else f"[{fmt(lo, 3)}, {fmt(hi, 3)}]"


def _targets(data: RunData) -> list[str]:
    """The headline outputs along ``sample`` alone, then the key output if it is one too."""
    names = dict.fromkeys([*data.headline, *([data.key_output] if data.key_output else [])])
    return [o for o in names if o in data.results and data.results[o].dims == ("sample",)]


def _what(data: RunData, rw: Reweighter, o: str, lang: str) -> str:
    english = claim(data, o) if rw.is_probability(o) else data.label(o)
    return output_label(data, o, lang, english)


def _shift_rows(data, rw, o, p, lang):
    """Table rows and CSV records of one leading input's shifts."""
    par = rw.study.parameter(p)
    is_p = rw.is_probability(o)
    rows, recs = [], []
    shifts = [(tr(lang, "shift_centre", c=_signed_pct(c), change="{}"), c, centre_shift(par, c))
              for c in CENTRE_SHIFTS] + [(tr(lang, "shift_narrow", change="{}"), None, narrowed(par, NARROWED))]
    for template, c, s in shifts:
        label = param_label(data, p, lang)
        if s is None:
            kind = (tr(lang, "shift_centre", c=_signed_pct(c), change="") if c is not None
                    else tr(lang, "shift_narrow", change="")).rstrip("：: ")
            rows.append([label, tr(lang, "shift_none", kind=kind), "–", "–", "–"])
            recs.append({"output": o, "param": p, "shift": c, "args": "", "value": None, "conf_low": None,
                         "conf_high": None, "ess": None, "low_ess": None, "note": "needs a re-run"})
            continue
        r = rw.estimate([s]).set_index("output").loc[o]
        ess = f"{r['ess']:.0f}" + (f" ({tr(lang, 'note_low_ess')})" if r["low_ess"] else "")
        rows.append([label, template.format(_change(par.args, s.args)), _estimate(r["value"], is_p),
                     _interval(r["conf_low"], r["conf_high"], is_p), ess])
        recs.append({"output": o, "param": p, "shift": "narrowed" if c is None else c,
                     "args": s.text, "value": r["value"], "conf_low": r["conf_low"],
                     "conf_high": r["conf_high"], "ess": r["ess"], "low_ess": bool(r["low_ess"]),
                     "note": "low ESS" if r["low_ess"] else ""})
    return rows, recs


@dataclass(frozen=True)
class _Sealed:
    """A re-run's record (``Run.related``), keyed for the caches below by its results file's
    path, size and modification time: the record itself is not hashable."""

    path: str
    mtime_ns: int
    size: int
    run: Run = field(compare=False)


def _rerun_estimate(rerun: Run, o: str, is_p: bool, conf_level: float,
                    outputs: tuple[str, ...] | None = None) -> tuple[float, float, float, int]:
    """``(value, low, high, N)`` of one output over a re-run's independent draws.

    A probability's interval is the headline table's (:func:`analysis.proportion.share_holds`:
    Student-t across replicate designs, else Wilson); a mean's the normal interval.
    Each appendix language asks for the same estimates: they are computed once per
    sealed results file (its path, size and modification time). ``outputs`` are the
    outputs read from it (``o`` among them; default every output along ``sample`` alone):
    the section asks for a few headlines of a file that holds some fifty outputs.
    """
    st = rerun.file("results.nc").stat()
    return _rerun_estimate_of(_Sealed(str(rerun.path), st.st_mtime_ns, st.st_size, rerun), o, is_p, conf_level,
                              outputs)


@functools.lru_cache(maxsize=1024)
def _rerun_estimate_of(rerun: _Sealed, o: str, is_p: bool, conf_level: float,
                       outputs: tuple[str, ...] | None = None) -> tuple[float, float, float, int]:
    from scipy import stats

    columns, rep, n = _rerun_draws(rerun, outputs)
    y = columns[o].astype(float)
    if is_p:
        value, _, low, high, _ = share_holds(y == 1, rep, conf_level)
        return value, low, high, n
    half = stats.norm.ppf(0.5 + conf_level / 2) * y.std(ddof=1) / np.sqrt(y.size)
    return float(y.mean()), float(y.mean() - half), float(y.mean() + half), n


def _rerun_rows(data, rw, o, p, lang):
    """Rows and CSV records of the re-runs of ``p``'s range moves (``[report] shift_runs``)."""
    from study.shifts import range_move

    par, is_p = rw.study.parameter(p), rw.is_probability(o)
    rows, recs = [], []
    for item in data.manifest.get("shift_runs") or []:
        if item["param"] != p:
            continue
        c, moved = item["fraction"], range_move(par.distribution, par.args, item["fraction"])
        value, low, high, n = _rerun_estimate(data.record.related(item["run"]), o, is_p,
                                              rw.study.analysis.conf_level, tuple(rw.outputs))
        rows.append([param_label(data, p, lang), tr(lang, "shift_range", c=_signed_pct(c),
                                                     change=_change(par.args, moved)),
                     _estimate(value, is_p), _interval(low, high, is_p), tr(lang, "rerun_n", n=n)])
        recs.append({"output": o, "param": p, "shift": f"range {c:+g}", "args": _change(par.args, moved),
                     "value": value, "conf_low": low, "conf_high": high, "ess": None, "low_ess": False,
                     "note": f"re-run (N = {n})", "run": Path(item["run"]).name})
    return rows, recs


@functools.lru_cache(maxsize=64)
def _rerun_draws(rerun: _Sealed, outputs: tuple[str, ...] | None = None) -> tuple[dict, np.ndarray | None, int]:
    """A re-run's ``outputs`` along ``sample`` alone (default all; its independent draws), its
    replicates and N, read in one opening."""
    run = rerun.run
    with run.open_results() as ds:
        keep = np.flatnonzero(iid_rows(ds))
        columns = {k: read_rows(v, keep) for k, v in ds.data_vars.items()
                   if v.dims == ("sample",) and (outputs is None or k in outputs)}
        rep = read_rows(ds["replicate"], keep) if "replicate" in ds.coords else None
    return columns, rep, int(run.manifest["samples"]["N"])


def _break_even_text(data, rw, be: BreakEven, lang) -> str:
    label = param_label(data, be.param, lang)
    if be.fraction is None:
        return tr(lang, "rob_be_none", input=label, low=_signed_pct(be.reach[0]), high=_signed_pct(be.reach[1]))
    par = rw.study.parameter(be.param)
    return tr(lang, "rob_be_found", input=label, fraction=_signed_pct(be.fraction, 1),
              shift=_change(par.args, be.shift.args),
              value=_estimate(be.value, rw.is_probability(be.output)), ess=f"{be.ess:.0f}")


def _joint_table(data, rw, o, first, second, lang) -> tuple[Table, bool]:
    """The estimate over a grid of joint centre shifts of the two leading inputs.

    A map of where the headline reverses: rows shift the first input, columns the second.
    Cells the draws cannot represent are "–"; cells with a low ESS carry a "*".
    """
    grid = (-0.10, -0.05, 0.0, 0.05, 0.10)
    is_p = rw.is_probability(o)
    p1, p2 = rw.study.parameter(first), rw.study.parameter(second)
    rows, recs, low_any = [], [], False
    for c1 in grid:
        row = [_signed_pct(c1)]
        for c2 in grid:
            s1, s2 = centre_shift(p1, c1), centre_shift(p2, c2)
            if s1 is None or s2 is None:
                row.append("–")
                recs.append({"output": o, "shift_1": c1, "shift_2": c2, "value": None, "ess": None})
                continue
            value, ess = rw.value(o, [s for s, c in ((s1, c1), (s2, c2)) if c != 0])
            low = ess < ess_threshold(rw.n)
            low_any = low_any or low
            row.append(_estimate(value, is_p) + ("*" if low else ""))
            recs.append({"output": o, "shift_1": c1, "shift_2": c2, "value": value, "ess": ess})
        rows.append(row)
    header = [tr(lang, "rob_joint_corner", first=param_label(data, first, lang),
                 second=param_label(data, second, lang))] + [_signed_pct(c) for c in grid]
    caption = tr(lang, "rob_joint_caption", what=_what(data, rw, o, lang), first=param_label(data, first, lang),
                 second=param_label(data, second, lang), threshold=f"{ess_threshold(rw.n):.0f}")
    frame = pd.DataFrame(recs).assign(param_1=first, param_2=second)
    return Table(f"robustness-joint-{o}", caption, header, rows, frame,
                 [0.3, None, None, None, None, None]), low_any


def _reweighter(data: RunData, targets: list[str]) -> Reweighter:
    """The run's draws of ``targets``, read once per :class:`RunData` and kept in ``data.kept``.

    Only these outputs, over the draws the other tables use (at most MAX_DRAWS). Every
    language's section reweights the same draws under the same shifts, so the one
    reweighter's memo (:meth:`Reweighter.value`) serves them all.
    """
    key = ("robustness", tuple(targets))
    if key not in data.kept:
        data.kept[key] = Reweighter(data.record, outputs=targets, limit=draws.MAX_DRAWS)
    return data.kept[key]


def robustness(data: RunData, lang: str = "en") -> list:
    """The assumption-shift robustness section (see the module docstring)."""
    blocks = [Heading(tr(lang, "rob_h"), 2, "robustness")]
    targets = _targets(data)
    if not targets:
        return blocks + [Note(tr(lang, "rob_none", why="no headline output along 'sample'"))]
    try:
        rw = _reweighter(data, targets)
    except (ValueError, OSError) as e:  # StudyError and RunError are ValueErrors
        return blocks + [Note(tr(lang, "rob_none", why=getattr(e, "msg", str(e))))]
    blocks.append(Para(tr(lang, "rob_intro", n=rw.n, threshold=f"{ess_threshold(rw.n):.0f}",
                          crossing=tr(lang, "crossing_both"))))
    if data.manifest.get("shift_runs"):
        blocks.append(Para(tr(lang, "rob_rerun_para")))
    any_low = False
    for o in targets:
        what = _what(data, rw, o, lang)
        lead = [p for p, _ in leading_inputs(data.record, o, LEADING) if p not in rw.unshiftable]
        if not lead:
            blocks.append(Note(tr(lang, "rob_no_lead", what=what)))
            continue
        is_p = rw.is_probability(o)
        base = float(rw.y[o].mean())
        blocks.append(Para(tr(lang, "rob_base_p" if is_p else "rob_base_mean", claim=what,
                              value=_estimate(base, is_p))
                           + " " + tr(lang, "rob_be_lead", items=tr(lang, "list_sep").join(
                               _break_even_text(data, rw, break_even(rw, o, p), lang) for p in lead))))
        rows, recs = [], []
        for p in dict.fromkeys([*lead, *rw.study.report.shift_runs]):  # re-run inputs even if not leading
            r, rec = _shift_rows(data, rw, o, p, lang) if p in lead else ([], [])
            rr, rrec = _rerun_rows(data, rw, o, p, lang)
            rows += r + rr
            recs += rec + rrec
        any_low = any_low or any(x["low_ess"] for x in recs)
        header = [tr(lang, "col_input"), tr(lang, "col_shift"),
                  tr(lang, "col_estimate_p" if is_p else "col_estimate_mean"), tr(lang, "col_interval"),
                  tr(lang, "col_ess")]
        blocks.append(Table(f"robustness-{o}", tr(lang, "rob_caption", what=what), header, rows,
                            pd.DataFrame(recs), [0.22, 0.3, None, None, None]))
        if len(lead) > 1:
            table, low = _joint_table(data, rw, o, lead[0], lead[1], lang)
            blocks.append(table)
            any_low = any_low or low
    if any_low:
        blocks.append(Para(tr(lang, "low_ess_para")))
    return blocks
