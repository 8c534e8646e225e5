"""The appendix's rival-readings section: how much of each headline's variance the reading explains.

A run whose study has a reading factor (see :mod:`study.readings`) — this run, or one of its
variant runs — gives, per headline, the factor's first-order and total Sobol' indices with
their intervals (read from its ``indices.csv``) and the headline's probability under each
reading on the same joint design (its independent draws grouped by reading). One figure
draws the indices as bars.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from ..figures.data import RunData
from ..textsafe import mathtext_escape, read_csv
from .blocks import Fig, Heading, Para, Table, fmt, interval, pct

__all__ = ["reading_runs", "reading_shares", "reading_probabilities", "readings"]


def _study(run):
    return run.study


def reading_runs(data: RunData) -> list:
    """The records of this run and its variant runs whose study samples a reading factor, in that order."""
    runs = [data.record, *(data.record.related(p) for p in data.manifest.get("variants") or []
                           if (Path(p) / "study.toml").is_file())]
    return [r for r in runs if r.has("indices.csv") and r.study.readings is not None]


def reading_shares(run, factor: str, outputs) -> pd.DataFrame:
    """The factor's S1 and ST (value, interval) for each of ``outputs``, from ``indices.csv``.

    ``run`` is a run's record (:class:`analysis.run.Run`) or its directory.
    """
    df = run.indices() if hasattr(run, "indices") else read_csv(Path(run) / "indices.csv")
    df = df[(df["method"] == "sobol") & (df["param"] == factor) & df["index"].isin(["S1", "ST"])]
    if "element" in df:
        df = df[df["element"].isna() | (df["element"].astype(str) == "")]
    rows = []
    for o in outputs:
        got = df[df["output"] == o].set_index("index")
        if not {"S1", "ST"} <= set(got.index):
            continue
        rows.append({"output": o, **{f"{i}{end}": float(got.loc[i, col]) for i in ("S1", "ST")
                                     for end, col in (("", "value"), ("_low", "conf_low"), ("_high", "conf_high"))}})
    return pd.DataFrame(rows)


def reading_probabilities(run: Path, conf_level: float = 0.95) -> pd.DataFrame:
    """Each headline's probability under each reading, from the run's independent draws.

    Returns one row per (output, reading) with the draws of that reading, P and its normal
    interval (the i.i.d. interval, conservative for a scrambled Sobol' design).
    """
    from .. import draws
    from ..reweight import Reweighter

    rw = Reweighter(run, limit=draws.MAX_DRAWS)  # the draws the other tables use
    r = rw.study.readings
    codes = rw.x[r.factor].astype(int)
    z = stats.norm.ppf(0.5 + conf_level / 2)
    rows = []
    for o in rw.headline:
        for k, value in enumerate(r.values):
            y = rw.y[o][codes == k]
            p = float(y.mean()) if y.size else math.nan
            half = z * math.sqrt(p * (1 - p) / y.size) if y.size else math.nan
            rows.append({"output": o, "reading": value, "n": int(y.size), "p": p,
                         "conf_low": max(0.0, p - half), "conf_high": min(1.0, p + half)})
    return pd.DataFrame(rows)


def _figure(shares: pd.DataFrame, labels: dict, figdir: Path, name: str) -> float:
    """The reading's S1 and ST per headline, with their intervals, in the figures' style.

    Drawn like the run's own figures (:mod:`analysis.figures.style`: STIX, the colour-blind
    palette, a constrained layout) with the legend outside the axes, below, so that it
    covers no bar and the axis label is not cut at the figure's edge.
    """
    from ..figures.parallel import save_soon
    from ..figures.style import PALETTE, SINGLE, figure, save, style

    with style():
        fig, ax = figure(width=1.6 * SINGLE, height=0.9 + 0.3 * len(shares))
        y = np.arange(len(shares))
        for off, index, colour in ((-0.18, "S1", PALETTE[0]), (0.18, "ST", PALETTE[1])):
            v = shares[index].to_numpy()
            err = np.vstack([v - shares[f"{index}_low"].to_numpy(), shares[f"{index}_high"].to_numpy() - v])
            ax.barh(y + off, v, height=0.34, color=colour, xerr=err, capsize=2, label=index,
                    error_kw={"elinewidth": 0.8, "capthick": 0.8})
        ax.set_yticks(y, [mathtext_escape(labels.get(o, o)) for o in shares["output"]])  # labels are the user's text
        ax.invert_yaxis()
        ax.axvline(0, color="0.3", lw=0.6)
        ax.set_xlabel("Share of the headline's variance explained by the reading")
        fig.legend(frameon=False, loc="outside lower center", ncols=2)
    save_soon(fig, figdir, name, save)  # on the other core, inside build_appendix
    return float(fig.get_size_inches()[0])


def _law(d) -> str:
    return d.describe() if hasattr(d, "describe") else f"{d.value:g} (constant)"


def _declarations_table(study, data: RunData) -> Table:
    """What each reading sets differently from the study's own reading (the factor table shows the latter)."""
    r = study.readings
    records = [{"input": n, "reading": v, "law": _law(r.declarations[v][n]), "otherwise": _law(r.host[n])}
               for v in r.values for n in sorted(r.declarations[v])]
    frame = pd.DataFrame(records, columns=["input", "reading", "law", "otherwise"])
    rows = [[str(data.results[x.input].attrs.get("label") or x.input) if x.input in data.results else x.input,
             Path(x.reading).stem, x.law, x.otherwise] for x in frame.itertuples(index=False)]
    return Table(f"reading-sets-{study.name}", "What each reading sets differently; every other reading keeps "
                 "the study's own value or distribution.", ["Input", "Reading", "Under it", "Otherwise"], rows, frame,
                 [0.3, 0.3, None, None])


def readings(data: RunData) -> list:
    """The section's blocks; empty when no run samples a reading factor."""
    runs = reading_runs(data)
    if not runs:
        return []
    blocks = [Heading("Rival readings as one factor", 2, "readings")]
    for run in runs:
        study = _study(run)
        r, labels = study.readings, {}
        shares = reading_shares(run, r.factor, study.analysis.headline)
        probs = reading_probabilities(run, study.analysis.conf_level)
        for o in study.analysis.headline:
            labels[o] = str(data.results[o].attrs.get("label") or o) if o in data.results else o
        where = "this run" if run is data.record else f"the variant run {run.path.name} ({study.name})"
        blocks.append(Para(
            f"In {where} one Sobol' design samples the reading ({r.factor}: "
            + ", ".join(Path(v).stem for v in r.values) + ") jointly with the parameters; each draw takes its "
            "reading's constants and distributions. S1 is the share of a headline's variance the choice of "
            "reading explains alone, ST with every interaction with the parameters."))
        blocks.append(_declarations_table(study, data))
        rows = [[labels[s.output], fmt(s.S1), interval(s.S1_low, s.S1_high), fmt(s.ST), interval(s.ST_low, s.ST_high)]
                for s in shares.itertuples(index=False)]
        blocks.append(Table(f"reading-share-{study.name}", "Share of each headline's variance explained by the "
                            "reading.", ["Headline", "S1", "Interval", "ST", "Interval"], rows, shares,
                            [0.4, None, None, None, None]))
        if len(shares):
            name = f"reading-share-{study.name}"
            width = _figure(shares, labels, data.path / "figures", name)
            blocks.append(Fig(name, "The reading's first-order (S1) and total (ST) Sobol' indices for each "
                              "headline, with their intervals.", width))
        rows = [[labels.get(p.output, p.output), Path(p.reading).stem, str(p.n), pct(p.p),
                 interval(p.conf_low, p.conf_high, True)] for p in probs.itertuples(index=False)]
        blocks.append(Table(f"reading-p-{study.name}", "Each headline's probability under each reading, on the "
                            "same joint design.", ["Headline", "Reading", "Draws", "P(holds)", "Interval"], rows,
                            probs, [0.3, 0.34, None, None, None]))
    return blocks
