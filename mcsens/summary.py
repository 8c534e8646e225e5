"""What a run found, in a few lines: the closing summary, ``study list`` and a run's repr.

Everything here reads a run directory's ``manifest.json`` and ``indices.csv`` only (no
netCDF), so listing a folder of many runs stays fast and a half-written run (no
``indices.csv`` yet) is listed with its status and no headline.
"""

from __future__ import annotations

import csv
import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

#: How many leading inputs the summary names.
TOP_DRIVERS = 3


@dataclass(frozen=True)
class Headline:
    """One headline output: the share of draws where it holds, with its interval."""

    output: str
    p: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.output} P = {_num(self.p)} [{_num(self.low)}, {_num(self.high)}]"


@dataclass(frozen=True)
class RunSummary:
    """The facts of one run directory that fit on a line or two."""

    run_dir: Path
    study: str
    status: str
    n: int | None
    headlines: tuple[Headline, ...] = ()
    drivers_of: str | None = None
    drivers: tuple[tuple[str, float, float, float], ...] = field(default=())  # name, ST, low, high
    converged: bool | None = None
    error: str | None = None


def _num(x: float) -> str:
    return "nan" if x is None or math.isnan(x) else f"{x:.2f}"


def _float(text: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def _rows(run_dir: Path) -> list[dict]:
    path = run_dir / "indices.csv"
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def summarize(run_dir) -> RunSummary:
    """Read one run directory's summary.

    Parameters
    ----------
    run_dir : str or pathlib.Path
        A folder holding ``manifest.json``.

    Returns
    -------
    RunSummary
        Status and N from the manifest; headlines, leading inputs (by total-order index of
        the key output, else the first headline output) and the convergence verdict from
        ``indices.csv`` when the analysis has written it.
    """
    run_dir = Path(run_dir)
    try:
        manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return RunSummary(run_dir, run_dir.parent.name, "unreadable", None)
    rows = _rows(run_dir)
    heads = tuple(Headline(r["output"], _float(r["value"]), _float(r["conf_low"]), _float(r["conf_high"]))
                  for r in rows if r["method"] == "headline" and r["index"] == "P")
    st = [r for r in rows if r["method"] == "sobol" and r["index"] == "ST"]
    target = _driver_output(run_dir, st, heads)
    ranked = sorted((r for r in st if r["output"] == target), key=lambda r: -_float(r["value"]))
    drivers = tuple((r["param"], _float(r["value"]), _float(r["conf_low"]), _float(r["conf_high"]))
                    for r in ranked[:TOP_DRIVERS])
    converged = all(r["converged"] == "True" for r in st) if st else None
    samples = manifest.get("samples", {})
    return RunSummary(run_dir, manifest.get("study", {}).get("name", run_dir.parent.name),
                      manifest.get("status", "?"), samples.get("N"), heads, target, drivers, converged,
                      manifest.get("error"))


def _driver_output(run_dir: Path, st: list[dict], heads) -> str | None:
    outputs = [r["output"] for r in st]
    key = None
    try:
        import tomllib

        key = tomllib.loads((run_dir / "study.toml").read_text(encoding="utf-8")).get("analysis", {}).get(
            "key_output")
    except (OSError, ValueError):
        pass
    for candidate in (key, *(h.output for h in heads)):
        if candidate in outputs:
            return candidate
    return outputs[0] if outputs else None


def closing_lines(run_dir) -> list[str]:
    """The summary ``study run`` prints on standard error when it has finished."""
    s = summarize(run_dir)
    lines = [f"{s.study}: {s.status}, N = {s.n}"]
    lines += [f"  headline {h}" for h in s.headlines]
    if s.drivers:
        lines.append(f"  top drivers of {s.drivers_of} (total-order index): "
                     + "; ".join(f"{n} {_num(v)} [{_num(lo)}, {_num(hi)}]" for n, v, lo, hi in s.drivers))
    if s.converged is not None:
        lines.append("  convergence: every total-order interval within the tolerance" if s.converged else
                     "  convergence: NOT converged (some total-order interval is wider than the tolerance; "
                     "try --until-converged or a larger --samples)")
    made = [name for name in ("indices.csv", "figures/", "appendix/", "variants/") if (s.run_dir / name.rstrip("/")).exists()]
    lines.append(f"  files: {s.run_dir}" + (f" ({', '.join(made)})" if made else ""))
    return lines


def find_runs(root) -> list[Path]:
    """Run directories at, or one or two levels below, ``root`` (``runs/<study>/<id>``)."""
    root = Path(root)
    if (root / "manifest.json").is_file():
        return [root]
    found = {p.parent for pattern in ("*/manifest.json", "*/*/manifest.json") for p in root.glob(pattern)}
    return sorted(found)


def list_table(runs) -> str:
    """``study list``: one line per run, with status, N and the first headline."""
    header = ("RUN", "STATUS", "N", "HEADLINE")
    table = [header]
    for run_dir in runs:
        s = summarize(run_dir)
        headline = str(s.headlines[0]) if s.headlines else ("" if s.error is None else s.error.splitlines()[0][:60])
        table.append((str(run_dir), s.status, "" if s.n is None else str(s.n), headline))
    widths = [max(len(row[i]) for row in table) for i in range(3)]
    return "\n".join(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]}".rstrip()
                     for r in table)


class RunPath(type(Path())):
    """The path of a run directory, as :func:`mcsens.run_study` returns it.

    It is a :class:`pathlib.Path` in every way (``str()``, ``/``, ``open_run``); only its
    repr in a notebook says what the run is instead of spelling out the path alone.
    """

    def __repr__(self) -> str:
        if not (self / "manifest.json").is_file():  # a file or folder inside the run: a plain path
            return f"{type(Path()).__name__}({str(self)!r})"
        s = summarize(self)
        head = "; ".join(str(h) for h in s.headlines[:2])
        return f"<run {str(self)!r}: {s.status}, N = {s.n}" + (f", {head}" if head else "") + ">"

    def _repr_html_(self) -> str:
        rows = "".join(f"<li>{html.escape(line.strip())}</li>" for line in closing_lines(self)[1:])
        s = summarize(self)
        return (f"<div><b>run</b> <code>{html.escape(str(self))}</code> — {html.escape(s.status)}, "
                f"N = {s.n}<ul>{rows}</ul></div>")
