"""Range moves of an input that the saved run cannot reweight, and the studies that re-run them.

A move of an input's whole range (every location argument moved by a share of the range,
its width kept) reaches where the run never drew, so importance weights are undefined there
(:mod:`analysis.reweight`). ``[report] shift_runs`` names the inputs to move; ``study run``
evaluates one small run per move (:data:`RANGE_MOVES`) beside the main run, from the study
this module derives, and the appendix's robustness section reads them back. A re-run only
estimates the headlines, so it is a Latin hypercube of independent draws with no index
method: a Saltelli design of the same draws would cost ``2D + 2`` times as many runs.
"""

from __future__ import annotations

import tomllib

from .extends import dumps

__all__ = ["RANGE_MOVES", "SUFFIX", "LOCATION_ARGS", "range_move", "shifted_text", "tag"]

#: Signed shares of an input's range by which ``shift_runs`` move it (±5%, ±10%).
RANGE_MOVES = (-0.10, -0.05, 0.05, 0.10)
#: Appended to the study's name to name the shifted studies (their runs' folder).
SUFFIX = "-shift"
#: The arguments a range move changes; a distribution needs ``low`` and ``high`` to be moved.
LOCATION_ARGS = ("low", "mode", "mean", "high")


def range_move(distribution: str, args: dict, c: float) -> dict:
    """Arguments of the distribution with its whole range moved by ``c × (high − low)``.

    Parameters
    ----------
    distribution : str
        The family (kept); it must have ``low`` and ``high``.
    args : dict
        The study's arguments.
    c : float
        Signed share of the range.

    Returns
    -------
    dict
        Every argument, the location ones (``low``, ``mode``, ``mean``, ``high``) moved.

    Examples
    --------
    >>> range_move("triangular", {"low": 0.0, "mode": 0.2, "high": 1.0}, 0.1)
    {'low': 0.1, 'mode': 0.30000000000000004, 'high': 1.1}
    """
    width = args["high"] - args["low"]
    return {k: v + c * width if k in LOCATION_ARGS else v for k, v in args.items()}


def tag(param: str, c: float) -> str:
    """A file stem naming one move, e.g. ``alpha+10`` or ``alpha-05``."""
    return f"{param}{'+' if c > 0 else '-'}{round(abs(c) * 100):02d}"


def shifted_text(study, param: str, c: float, draws: int, chunk_rows: int) -> str:
    """The flattened study file of one move: ``param``'s range moved by ``c``.

    The name gets :data:`SUFFIX` (its runs sit beside the main run's folder, not in it);
    the design becomes a Latin hypercube of ``draws`` points with the study's seed, evaluated
    ``chunk_rows`` points at a time, and no index method; variants and ``shift_runs`` are dropped, since a re-run is one plain run.
    """
    doc = tomllib.loads(study.text)
    doc["study"]["name"] = study.name + SUFFIX
    doc["sampling"] = {"method": "latin", "samples": draws, "seed": study.sampling.seed,
                       "chunk_rows": chunk_rows}
    doc.setdefault("analysis", {})["methods"] = []
    p = study.parameter(param)
    doc["parameters"][param].update(range_move(p.distribution, p.args, c))
    doc.get("analysis", {}).pop("variants", None)
    doc.get("report", {}).pop("shift_runs", None)
    return dumps(doc)
