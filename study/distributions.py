"""Marginal distributions of uncertain parameters, as inverse CDFs of the unit cube.

Each entry of :data:`DISTRIBUTIONS` names the arguments a study file must give and a
function that checks them; :func:`ppf` maps uniform draws in (0, 1) to the parameter's
scale. Mapping through the inverse CDF keeps quasi-random designs quasi-random.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np


def _ndtri(u: np.ndarray) -> np.ndarray:
    """The standard normal inverse CDF (scipy.special is imported here, when first used)."""
    from scipy.special import ndtri

    return ndtri(u)


@dataclass(frozen=True, slots=True)
class Distribution:
    args: tuple[str, ...]
    check: Callable[[dict], tuple[str, str] | None]
    ppf: Callable[[dict, np.ndarray], np.ndarray]
    describe: Callable[[dict], str]


def _order(lo, hi):
    def check(a):
        if not a[hi] > a[lo]:
            return hi, f"must be greater than {lo} ({a[lo]!r}); got {a[hi]!r}"
        return None

    return check


def _positive(key):
    def check(a):
        if not a[key] > 0:
            return key, f"must be positive; got {a[key]!r}"
        return None

    return check


def _all(*checks):
    def check(a):
        for c in checks:
            found = c(a)
            if found:
                return found
        return None

    return check


def _mode_inside(a):
    if not a["low"] <= a["mode"] <= a["high"]:
        return "mode", f"must lie between low ({a['low']!r}) and high ({a['high']!r}); got {a['mode']!r}"
    return None


def _mean_inside(a):
    # Refused rather than warned about: with the mean outside [low, high] what is drawn is one
    # tail of the normal, whose location and spread ``mean`` and ``sd`` no longer describe; in a
    # study file that is far more often a slip (units, a swapped bound) than a design.
    if not a["low"] <= a["mean"] <= a["high"]:
        return "mean", (f"must lie between low ({a['low']!r}) and high ({a['high']!r}) (outside them the "
                        f"truncated normal is one tail of a normal that mean and sd no longer describe); "
                        f"got {a['mean']!r}")
    return None


def _log_bounds(a):
    if not a["low"] > 0:
        return "low", f"must be positive for a log-uniform distribution; got {a['low']!r}"
    return None


def _triangular_ppf(a, u):
    lo, mode, hi = a["low"], a["mode"], a["high"]
    c = (mode - lo) / (hi - lo)
    # Closed form rather than scipy.stats.triang: same values, no per-call overhead.
    left = lo + np.sqrt(u * (hi - lo) * (mode - lo))
    right = hi - np.sqrt((1 - u) * (hi - lo) * (hi - mode))
    return np.where(u < c, left, right)


def _truncnormal_ppf(a, u):
    from scipy import stats  # slow to import; only truncated normals need it

    mean, sd = a["mean"], a["sd"]
    lo, hi = (a["low"] - mean) / sd, (a["high"] - mean) / sd
    return stats.truncnorm.ppf(u, lo, hi, loc=mean, scale=sd)


DISTRIBUTIONS: dict[str, Distribution] = {
    "uniform": Distribution(
        ("low", "high"),
        _order("low", "high"),
        lambda a, u: a["low"] + u * (a["high"] - a["low"]),
        lambda a: f"U({a['low']:g}, {a['high']:g})",
    ),
    "triangular": Distribution(
        ("low", "mode", "high"),
        _all(_order("low", "high"), _mode_inside),
        _triangular_ppf,
        lambda a: f"Tri({a['low']:g}, {a['mode']:g}, {a['high']:g})",
    ),
    "normal": Distribution(
        ("mean", "sd"),
        _positive("sd"),
        lambda a, u: a["mean"] + a["sd"] * _ndtri(u),
        lambda a: f"N({a['mean']:g}, {a['sd']:g}²)",
    ),
    "truncnormal": Distribution(
        ("mean", "sd", "low", "high"),
        _all(_positive("sd"), _order("low", "high"), _mean_inside),
        _truncnormal_ppf,
        lambda a: f"TN({a['mean']:g}, {a['sd']:g}²; [{a['low']:g}, {a['high']:g}])",
    ),
    "lognormal": Distribution(
        ("meanlog", "sdlog"),
        _positive("sdlog"),
        lambda a, u: np.exp(a["meanlog"] + a["sdlog"] * _ndtri(u)),
        lambda a: f"LogN({a['meanlog']:g}, {a['sdlog']:g}²)",
    ),
    "loguniform": Distribution(
        ("low", "high"),
        _all(_log_bounds, _order("low", "high")),
        lambda a, u: np.exp(math.log(a["low"]) + u * (math.log(a["high"]) - math.log(a["low"]))),
        lambda a: f"LogU({a['low']:g}, {a['high']:g})",
    ),
}


def ppf(name: str, args: dict, u: np.ndarray) -> np.ndarray:
    """Map uniform draws ``u`` through the inverse CDF of distribution ``name``.

    Parameters
    ----------
    name : str
        A key of :data:`DISTRIBUTIONS`.
    args : dict
        The distribution's arguments, already validated.
    u : numpy.ndarray
        Uniform draws in (0, 1).

    Returns
    -------
    numpy.ndarray
        Draws on the parameter's scale, same shape as ``u``.

    Examples
    --------
    >>> ppf("uniform", {"low": 2.0, "high": 4.0}, np.array([0.25, 0.5]))
    array([2.5, 3. ])
    """
    with np.errstate(over="ignore", invalid="ignore"):  # callers check finiteness and say where
        return np.asarray(DISTRIBUTIONS[name].ppf(args, np.asarray(u, dtype=float)), dtype=float)


#: The most extreme quantile a design draws: scipy's Sobol' points are multiples of 2⁻³⁰, and a
#: Latin hypercube of a billion rows reaches about 1e-9 too (its smallest bin is 1/N wide).
EXTREME_QUANTILE = 2.0**-30
#: Largest magnitude an input may reach at that quantile: float64 still resolves steps of 0.1
#: there, and a model's arithmetic (squares, sums over samples) keeps far away from overflow.
LARGEST_VALUE = 1e15


def support_problem(name: str, args: dict) -> tuple[str, str] | None:
    """Why a distribution's draws cannot be represented comfortably, or None if they can.

    The inverse CDF at :data:`EXTREME_QUANTILE` and at one minus it must be finite and at
    most :data:`LARGEST_VALUE` in magnitude; a lognormal with ``sdlog = 100`` reaches 1e261
    there, which a model cannot compute with.

    Parameters
    ----------
    name : str
        A key of :data:`DISTRIBUTIONS`.
    args : dict
        The distribution's arguments, already accepted by its ``check``.

    Returns
    -------
    (str, str) or None
        The argument to name (the first one) and the message, in the loader's wording.

    Examples
    --------
    >>> support_problem("normal", {"mean": 0.0, "sd": 1.0}) is None
    True
    >>> support_problem("lognormal", {"meanlog": 0.0, "sdlog": 100.0})[1][:40]
    'must keep draws finite and within ±1e+15'
    """
    spec = DISTRIBUTIONS[name]
    ends = ppf(name, args, np.array([EXTREME_QUANTILE, 1 - EXTREME_QUANTILE]))
    bad = [(q, float(v)) for q, v in zip(("2^-30", "1 - 2^-30"), ends) if not abs(v) <= LARGEST_VALUE]
    if not bad:
        return None
    q, v = bad[0]
    # The last argument is the spread (sd, sdlog) or the upper bound: the usual culprit.
    return spec.args[-1], (f"must keep draws finite and within ±{LARGEST_VALUE:g} (checked at the design's most "
                          f"extreme quantiles 2^-30 and 1 - 2^-30); {spec.describe(args)} reaches {v:.3g} at "
                          f"the quantile {q}")


def moments(name: str, args: dict) -> tuple[float, float]:
    """Exact mean and variance of a distribution (used by tests and the appendix)."""
    a = args
    if name == "uniform":
        return (a["low"] + a["high"]) / 2, (a["high"] - a["low"]) ** 2 / 12
    if name == "triangular":
        lo, c, hi = a["low"], a["mode"], a["high"]
        return (lo + c + hi) / 3, (lo**2 + c**2 + hi**2 - lo * c - lo * hi - c * hi) / 18
    if name == "normal":
        return a["mean"], a["sd"] ** 2
    if name == "truncnormal":
        from scipy import stats

        sd = a["sd"]
        d = stats.truncnorm((a["low"] - a["mean"]) / sd, (a["high"] - a["mean"]) / sd, loc=a["mean"], scale=sd)
        return float(d.mean()), float(d.var())
    if name == "lognormal":
        m, s2 = a["meanlog"], a["sdlog"] ** 2
        return math.exp(m + s2 / 2), (math.exp(s2) - 1) * math.exp(2 * m + s2)
    if name == "loguniform":
        lo, hi = a["low"], a["high"]
        r = math.log(hi / lo)
        mean = (hi - lo) / r
        return mean, (hi**2 - lo**2) / (2 * r) - mean**2
    raise KeyError(name)
