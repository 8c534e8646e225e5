"""Marginal distributions of uncertain parameters, as inverse CDFs of the unit cube.

Each entry of :data:`DISTRIBUTIONS` names the arguments a study file must give and a
function that checks them; :func:`ppf` maps uniform draws in (0, 1) to the parameter's
scale. Mapping through the inverse CDF keeps quasi-random designs quasi-random, and it
maps discrete laws too: an integer or categorical input is a step function of its unit
column, so Saltelli's estimators apply unchanged (ties are simply equal values).

Besides the named families, ``scipy.<name>`` is any ``scipy.stats`` distribution with its
shape parameters (and optional ``loc``, ``scale``); :func:`get` builds its entry. A
categorical's inverse CDF returns category codes 0 … k-1; :func:`category_values` maps
them to the values the model sees.
"""

from __future__ import annotations

import functools
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
    """One family: its required and optional arguments, their check, inverse CDF and notation.

    ``kind`` is ``"continuous"``, ``"integer"`` (whole-number draws) or ``"categorical"``
    (draws are codes of ``values``); ``whole`` names the arguments that must be integers.
    """

    args: tuple[str, ...]
    check: Callable[[dict], tuple[str, str] | None]
    ppf: Callable[[dict, np.ndarray], np.ndarray]
    describe: Callable[[dict], str]
    kind: str = "continuous"
    optional: tuple[str, ...] = ()
    whole: tuple[str, ...] = ()


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


def _randint_ppf(a, u):
    lo, hi = a["low"], a["high"]
    # Smallest k with CDF(k) >= u: the unit interval cut into high - low + 1 equal steps.
    return np.clip(lo + np.ceil(u * (hi - lo + 1)) - 1, lo, hi)


def _probability(key):
    def check(a):
        if not 0 < a[key] < 1:
            return key, f"must be strictly between 0 and 1 (0 or 1 is a constant, not an uncertain input); got {a[key]!r}"
        return None

    return check


def _pert_shapes(a):
    width = a["high"] - a["low"]
    return 1 + 4 * (a["mode"] - a["low"]) / width, 1 + 4 * (a["high"] - a["mode"]) / width


def _pert_ppf(a, u):
    from scipy import stats  # slow to import; only PERT and scipy.* inputs need it

    alpha, beta = _pert_shapes(a)
    return a["low"] + (a["high"] - a["low"]) * stats.beta.ppf(u, alpha, beta)


#: How far a categorical's weights may sum from 1 (decimal fractions such as 0.1 + 0.2 + 0.7).
WEIGHT_TOLERANCE = 1e-9


def category_weights(a: dict) -> np.ndarray:
    """A categorical's weights, equal when the study file gives none."""
    k = len(a["values"])
    return np.asarray(a.get("weights") or [1.0 / k] * k, dtype=float)


def _check_categorical(a):
    values = a["values"]
    if len(values) < 2:
        return "values", f"must list two or more categories; got {values!r}"
    strings = [isinstance(v, str) for v in values]
    if any(strings) and not all(strings):
        return "values", f"must be all numbers or all strings; got {values!r}"
    seen = set()
    for v in values:
        if v in seen:
            return "values", f"must list each category once; got {v!r} twice"
        seen.add(v)
    w = a.get("weights")
    if w is None:
        return None
    if len(w) != len(values):
        return "weights", f"must give one weight per value ({len(values)}); got {len(w)}"
    if not all(x > 0 for x in w):
        return "weights", f"must all be positive (drop a category instead of weighting it 0); got {list(w)!r}"
    if abs(math.fsum(w) - 1) > WEIGHT_TOLERANCE:
        return "weights", f"must sum to 1; got {list(w)!r}, which sums to {math.fsum(w):.12g}"
    return None


def _categorical_ppf(a, u):
    cum = np.cumsum(category_weights(a))
    # Smallest code k with CDF(k) >= u; the clip absorbs a last cumulative weight of 1 - 1e-16.
    return np.minimum(np.searchsorted(cum, u, side="left"), len(cum) - 1).astype(float)


def _describe_categorical(a):
    w = category_weights(a)
    return "Cat(" + ", ".join(f"{v}: {x:.3g}" if isinstance(v, str) else f"{v:g}: {x:.3g}"
                              for v, x in zip(a["values"], w)) + ")"


def category_values(a: dict, codes: np.ndarray) -> np.ndarray:
    """The values a categorical's codes stand for: floats, or strings for a string categorical.

    Examples
    --------
    >>> category_values({"values": ["a", "b"]}, np.array([1.0, 0.0]))
    array(['b', 'a'], dtype='<U1')
    """
    values = a["values"]
    table = np.asarray(values, dtype=str if isinstance(values[0], str) else float)
    return table[np.asarray(codes, dtype=np.int64)]


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
    "pert": Distribution(
        ("low", "mode", "high"),
        _all(_order("low", "high"), _mode_inside),
        _pert_ppf,
        lambda a: f"PERT({a['low']:g}, {a['mode']:g}, {a['high']:g})",
    ),
    "randint": Distribution(
        ("low", "high"),
        _order("low", "high"),
        _randint_ppf,
        lambda a: f"U{{{a['low']:g}, …, {a['high']:g}}}",
        kind="integer", whole=("low", "high"),
    ),
    "bernoulli": Distribution(
        ("p",),
        _probability("p"),
        lambda a, u: (u > 1 - a["p"]).astype(float),
        lambda a: f"Bernoulli({a['p']:g})",
        kind="integer",
    ),
    "categorical": Distribution(
        ("values",),
        _check_categorical,
        _categorical_ppf,
        _describe_categorical,
        kind="categorical", optional=("weights",),
    ),
}

#: Prefix of a study file's escape hatch to any ``scipy.stats`` distribution.
SCIPY_PREFIX = "scipy."


@functools.cache
def scipy_names() -> list[str]:
    """Names of the ``scipy.stats`` distributions a study file may use after ``scipy.``."""
    from scipy import stats

    return sorted(n for n in dir(stats) if isinstance(getattr(stats, n), (stats.rv_continuous, stats.rv_discrete)))


def _scipy_law(name: str):
    from scipy import stats

    return getattr(stats, name[len(SCIPY_PREFIX):])


def _scipy_call(name: str, a: dict):
    law = _scipy_law(name)
    shapes = [a[s] for s in _scipy_shapes(law)]
    extra = {k: a[k] for k in ("loc", "scale") if k in a}
    return law, shapes, extra


def _scipy_shapes(law) -> tuple[str, ...]:
    return tuple(s.strip() for s in law.shapes.split(",")) if law.shapes else ()


@functools.cache
def _scipy_distribution(name: str) -> Distribution:
    from scipy import stats

    law = _scipy_law(name)
    discrete = isinstance(law, stats.rv_discrete)
    shapes = _scipy_shapes(law)

    def check(a):
        if "scale" in a and not a["scale"] > 0:
            return "scale", f"must be positive; got {a['scale']!r}"
        if not law._argcheck(*[a[s] for s in shapes]):
            first = shapes[0] if shapes else "distribution"
            return first, (f"must be valid shape parameters of scipy.stats.{law.name} ("
                           + ", ".join(f"{s} = {a[s]!r}" for s in shapes) + ")")
        return None

    def ppf_(a, u):
        _, sh, extra = _scipy_call(name, a)
        return law.ppf(u, *sh, **extra)

    def describe(a):
        return f"{law.name}(" + ", ".join(f"{k}={a[k]:g}" for k in (*shapes, "loc", "scale") if k in a) + ")"

    return Distribution(shapes, check, ppf_, describe, kind="integer" if discrete else "continuous",
                        optional=("loc",) if discrete else ("loc", "scale"))


def get(name: str) -> Distribution:
    """The entry of a named family or of ``scipy.<name>`` (KeyError for an unknown name).

    Examples
    --------
    >>> get("scipy.beta").args
    ('a', 'b')
    >>> get("randint").kind
    'integer'
    """
    if name in DISTRIBUTIONS:
        return DISTRIBUTIONS[name]
    if name.startswith(SCIPY_PREFIX) and name[len(SCIPY_PREFIX):] in scipy_names():
        return _scipy_distribution(name)
    raise KeyError(name)


def frozen(name: str, args: dict):
    """The ``scipy.stats`` frozen law of a PERT, integer, categorical or ``scipy.*`` input.

    A categorical's law is over its codes (0 … k-1), or over its values when they are numbers.
    """
    from scipy import stats

    if name.startswith(SCIPY_PREFIX):
        law, shapes, extra = _scipy_call(name, args)
        return law(*shapes, **extra)
    if name == "pert":
        alpha, beta = _pert_shapes(args)
        return stats.beta(alpha, beta, loc=args["low"], scale=args["high"] - args["low"])
    if name == "randint":
        return stats.randint(int(args["low"]), int(args["high"]) + 1)
    if name == "bernoulli":
        return stats.bernoulli(args["p"])
    if name == "categorical":
        values = args["values"]
        points = np.arange(len(values)) if isinstance(values[0], str) else np.asarray(values, dtype=float)
        return _Categorical(points, category_weights(args))
    raise KeyError(name)


class _Categorical:
    """A law on finitely many points, numbers not necessarily integers (``rv_discrete`` wants integers)."""

    def __init__(self, points, weights):
        self.points, self.weights = np.asarray(points, dtype=float), np.asarray(weights, dtype=float)

    def pmf(self, x):
        x = np.asarray(x, dtype=float)
        return (x[..., None] == self.points).astype(float) @ self.weights

    def cdf(self, x):
        x = np.asarray(x, dtype=float)
        return (x[..., None] >= self.points).astype(float) @ self.weights

    def logpmf(self, x):
        with np.errstate(divide="ignore"):
            return np.log(self.pmf(x))

    def support(self):
        return float(self.points.min()), float(self.points.max())

    def mean(self):
        return float(self.points @ self.weights)

    def var(self):
        return float(((self.points - self.mean()) ** 2) @ self.weights)


def ppf(name: str, args: dict, u: np.ndarray) -> np.ndarray:
    """Map uniform draws ``u`` through the inverse CDF of distribution ``name``.

    Parameters
    ----------
    name : str
        A key of :data:`DISTRIBUTIONS`, or ``scipy.<name>``.
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
        return np.asarray(get(name).ppf(args, np.asarray(u, dtype=float)), dtype=float)


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
        A key of :data:`DISTRIBUTIONS`, or ``scipy.<name>``.
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
    spec = get(name)
    ends = ppf(name, args, np.array([EXTREME_QUANTILE, 1 - EXTREME_QUANTILE]))
    bad = [(q, float(v)) for q, v in zip(("2^-30", "1 - 2^-30"), ends) if not abs(v) <= LARGEST_VALUE]
    if not bad:
        return None
    q, v = bad[0]
    # The last argument is the spread (sd, sdlog) or the upper bound: the usual culprit.
    return (spec.args or ("distribution",))[-1], (f"must keep draws finite and within ±{LARGEST_VALUE:g} (checked at the design's most "
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
    law = frozen(name, a)
    return float(law.mean()), float(law.var())
