"""Headline results under changed input distributions, from a saved run, without re-running.

The independent draws of a run (:func:`analysis.draws.iid_rows`: the A and B matrices of a
Saltelli design, every row of a Latin design) are a sample from the study's joint input
distribution ``f``. Under another distribution ``g`` of some inputs, the expectation of any
output is ``E_g[y] = E_f[w y]`` with the importance weights ``w = g(x) / f(x)`` (Kahn and
Marshall 1953). :class:`Reweighter` estimates headline probabilities and output means as
self-normalised weighted averages ``sum(w y) / sum(w)`` and reports Kish's effective sample
size ``(sum w)^2 / sum(w^2)``, the number of equally weighted draws that would give the
same precision (Kish 1965).

Three limits, each refused or flagged rather than returned as a number:

- the shifted distribution must stay inside the sampled support: outside it ``f = 0`` and
  the weights are undefined (the run never drew there), so such a shift needs a re-run;
- the effective sample size shrinks as the shift grows; below :func:`ess_threshold` the
  estimate is flagged (``low_ess``) and the command line warns on standard error;
- inputs declared rank-correlated ([[correlations]]) are refused: their joint density is a
  Gaussian copula whose density the weights would need, and changing one marginal under a
  fixed copula is itself a modelling choice the study file never made. Inputs outside every
  declared pair are independent of the rest and can be reweighted in a correlated run.

A Morris design is refused too: its points sit on a grid, not drawn from ``f``.

References
----------
Kahn, H., & Marshall, A. W. (1953). Methods of reducing sample size in Monte Carlo
computations. Journal of the Operations Research Society of America, 1(5), 263-278.
Kish, L. (1965). Survey Sampling. Wiley (the design effect of unequal weights).
Owen, A. B. (2013). Monte Carlo theory, methods and examples, ch. 9 (self-normalised
importance sampling, its delta-method variance and the effective sample size).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from study.errors import RunError, StudyError

from .draws import iid_positions, read_rows

__all__ = ["Shift", "Reweighter", "parse_shift", "ess_threshold", "centre_shift", "narrowed",
           "break_even", "leading_inputs", "main_reweight", "MIN_ESS",
           "MIN_ESS_SHARE"]

#: An estimate whose effective sample size is below ``max(MIN_ESS, MIN_ESS_SHARE * n)``
#: (n = the run's independent draws) is flagged: it rests on a few heavily weighted draws.
MIN_ESS = 100
MIN_ESS_SHARE = 0.10

_OPTION = "--shift"


def ess_threshold(n: int) -> float:
    """Effective sample size below which an estimate from ``n`` draws is flagged."""
    return max(MIN_ESS, MIN_ESS_SHARE * n)


class _Law:
    """A continuous ``scipy.stats`` distribution with its arguments, as ``dist(*args, **kwds)``
    would freeze it, for :func:`log_density` and ``support()``.

    The same methods of the same distribution with the same arguments (the frozen object
    calls exactly these), so the same numbers; but without the frozen object, which takes
    about 5 ms to build (scipy writes its docstring) and which the break-even searches
    built for each of about a thousand shifted laws of the flagship's appendix.
    """

    __slots__ = ("dist", "args", "kwds")

    def __init__(self, dist, *args, **kwds):
        self.dist, self.args, self.kwds = dist, args, kwds

    def logpdf(self, x):
        return self.dist.logpdf(x, *self.args, **self.kwds)

    def support(self):
        return self.dist.support(*self.args, **self.kwds)


def frozen(distribution: str, args: dict):
    """A study file's distribution, with its density (``logpdf``) and ``support()``.

    Uniform, triangular, (truncated) normal, lognormal and log-uniform laws are the
    ``scipy.stats`` distributions with their arguments (:class:`_Law`); PERT, integer,
    categorical and ``scipy.*`` inputs are the frozen distributions of
    :func:`study.distributions.frozen`. Read a law's density with :func:`log_density`
    (a discrete law has a mass function instead).

    Raises
    ------
    KeyError
        For a distribution whose density this module does not know.
    """
    try:  # the break-even searches freeze the same few laws thousands of times (0.6 ms each)
        return _frozen_once(distribution, tuple(sorted(args.items())))
    except TypeError:  # an unhashable argument (a list of levels): built each time
        return _freeze(distribution, args)


@functools.lru_cache(maxsize=4096)
def _frozen_once(distribution: str, items: tuple):
    return _freeze(distribution, dict(items))


def _freeze(distribution: str, args: dict):
    a = args
    if distribution == "uniform":
        return _Law(stats.uniform, loc=a["low"], scale=a["high"] - a["low"])
    if distribution == "triangular":
        width = a["high"] - a["low"]
        return _Law(stats.triang, (a["mode"] - a["low"]) / width, loc=a["low"], scale=width)
    if distribution == "normal":
        return _Law(stats.norm, a["mean"], a["sd"])
    if distribution == "truncnormal":
        sd = a["sd"]
        return _Law(stats.truncnorm, (a["low"] - a["mean"]) / sd, (a["high"] - a["mean"]) / sd,
                    loc=a["mean"], scale=sd)
    if distribution == "lognormal":
        return _Law(stats.lognorm, a["sdlog"], scale=math.exp(a["meanlog"]))
    if distribution == "loguniform":
        return _Law(stats.loguniform, a["low"], a["high"])
    from study.distributions import frozen as other

    return other(distribution, a)


def log_density(law, x) -> np.ndarray:
    """Log density of a continuous law, or log mass of a discrete one, at ``x``.

    The importance weight of a discrete input is the ratio of its masses, exactly as a
    continuous input's is the ratio of its densities.
    """
    return law.logpdf(x) if hasattr(law, "logpdf") else law.logpmf(x)


@dataclass(frozen=True)
class Shift:
    """A changed distribution of one input: same family, new arguments.

    ``args`` holds every argument of the target distribution; ``text`` says what changed,
    e.g. ``mode 0.3 → 0.35``.
    """

    param: str
    args: dict
    text: str = ""


def _describe_change(old: dict, new: dict) -> str:
    if "weights" in new:  # a categorical: name the categories whose weight changed
        from study.distributions import category_weights

        was, now = category_weights(old), category_weights(new)
        return ", ".join(f"{v} {a:.3g} → {b:.3g}" for v, a, b in zip(old["values"], was, now)
                         if abs(a - b) > 1e-12) or "unchanged"
    return ", ".join(f"{k} {old[k]:g} → {new[k]:g}" for k in old if new[k] != old[k]) or "unchanged"


def _category_shift(text: str, name: str, rest: str, p) -> Shift:
    """``NAME=VALUE:WEIGHT[,VALUE:WEIGHT]``: new weights of some categories, the others rescaled.

    The categories not named keep their relative weights and share what the named ones leave.
    """
    from study.distributions import category_weights

    values = [str(v) if isinstance(v, str) else f"{v:g}" for v in p.args["values"]]
    new = {}
    for item in rest.split(","):
        key, sep, value = item.rpartition(":")
        if key not in values:
            raise StudyError(_OPTION, f"{name}.{key}", f"must be a category of {name} ({', '.join(values)}) "
                             f"with its new weight, as {name}=CATEGORY:WEIGHT; got {item!r}")
        try:
            w = float(value)
        except ValueError:
            w = math.nan
        if not 0 <= w <= 1:
            raise StudyError(_OPTION, f"{name}.{key}", f"must be a weight between 0 and 1; got {value!r}")
        new[values.index(key)] = w
    old = category_weights(p.args)
    rest_old = sum(old[i] for i in range(len(old)) if i not in new)
    left = 1 - math.fsum(new.values())
    if left < -1e-9 or (rest_old == 0 or len(new) == len(old)) and abs(left) > 1e-9:
        raise StudyError(_OPTION, name, f"must give weights that sum to 1 over every category; got {text!r}")
    weights = tuple(new[i] if i in new else old[i] * max(left, 0.0) / rest_old for i in range(len(old)))
    args = {**p.args, "weights": weights}
    return Shift(name, args, _describe_change(p.args, args))


def parse_shift(text: str, study) -> Shift:
    """Parse ``name=KEY:VALUE[,KEY:VALUE]`` against a validated study.

    Parameters
    ----------
    text : str
        E.g. ``x2=mode:0.5`` or ``x1=low:0.2,high:0.8``.
    study : study.spec.Study
        The run's study (its parameters and their distributions).

    Returns
    -------
    Shift

    Raises
    ------
    StudyError
        One line naming ``--shift`` and the key, e.g. ``--shift: x2.mode: must lie between
        low (0.0) and high (1.0); got 1.5``.
    """
    name, sep, rest = text.partition("=")
    if not sep or not rest:
        raise StudyError(_OPTION, "", f"must be NAME=KEY:VALUE[,KEY:VALUE...]; got {text!r}")
    if name not in study.param_names:
        raise StudyError(_OPTION, name, f"must name an uncertain parameter of the run "
                         f"({', '.join(study.param_names)}); got {name!r}")
    p = study.parameter(name)
    if p.kind == "categorical":
        return _category_shift(text, name, rest, p)
    args = dict(p.args)
    given = set()
    for item in rest.split(","):
        key, sep, value = item.partition(":")
        if key not in p.args:
            raise StudyError(_OPTION, f"{name}.{key}", f"must be an argument of its {p.distribution} "
                             f"distribution ({', '.join(p.args)}); got {key!r}")
        if key in given:  # else the last value would silently win
            raise StudyError(_OPTION, f"{name}.{key}", f"must be given once in a --shift; got {text!r}")
        given.add(key)
        try:
            args[key] = float(value)
        except ValueError:
            args[key] = None
        if not sep or args[key] is None or not math.isfinite(args[key]):
            raise StudyError(_OPTION, f"{name}.{key}", f"must be a finite number; got {value!r}")
    from study.distributions import get

    spec = get(p.distribution)
    for key in spec.whole:
        if not args[key].is_integer():
            raise StudyError(_OPTION, f"{name}.{key}", f"must be an integer; got {args[key]:g}")
    bad = spec.check(args)
    if bad:
        raise StudyError(_OPTION, f"{name}.{bad[0]}", bad[1])
    return Shift(name, args, _describe_change(p.args, args))


class NoDrawKept(StudyError):
    """A shift under which every importance weight is zero: beyond what the run can reweight."""


def _shifts_key(shifts) -> tuple | None:
    """A hashable key of a sequence of shifts (their inputs and every argument), or None if an
    argument is a list (a categorical's levels): such shifts are recomputed each time."""
    try:
        key = tuple((s.param, tuple(sorted(s.args.items()))) for s in shifts)
        hash(key)
    except TypeError:
        return None
    return key


class Reweighter:
    """The independent draws of one run, ready to be reweighted.

    Parameters
    ----------
    run_dir : str or pathlib.Path
        A run directory written by ``study run`` (``study.toml`` and ``results.nc``).
    outputs : sequence of str, optional
        Outputs to read (default: the headline outputs, then every other output along
        ``sample`` alone, in file order).
    limit : int, optional
        Read only the first ``limit`` independent draws (a balanced prefix, see
        :data:`analysis.draws.MAX_DRAWS`; the appendix passes that bound); default all.

    Raises
    ------
    RunError
        If the run has no independent draws (a Morris design) or no such output.
    """

    def __init__(self, run_dir, outputs=None, limit: int | None = None):
        from .run import read_run

        self.run = read_run(run_dir)
        self.path = self.run.path
        self.study = self.run.study
        if self.study.sampling.method == "morris":
            raise RunError(self.path, "sampling.method", "must be 'sobol' or 'latin' to reweight: a Morris "
                           "design's points sit on a grid and are no sample of the input distribution; got 'morris'")
        self.correlated = {n for c in self.study.correlations for n in c.params}
        # Inputs no shift can reweight: a correlated pair's, and those whose law depends on the reading.
        self.unshiftable = self.correlated | set(self.study.readings.varying if self.study.readings else ())
        with self.run.open_results() as ds:
            keep = iid_positions(ds, limit)
            self.headline = [h for h in self.study.analysis.headline if h in ds]
            scalar = [v for v, da in ds.data_vars.items()
                      if da.attrs.get("role") == "output" and da.dims == ("sample",)]
            self.outputs = list(outputs) if outputs is not None else list(
                dict.fromkeys([*self.headline, *scalar]))
            for o in self.outputs:
                if o not in ds or ds[o].dims != ("sample",):
                    raise RunError(self.path, o, "must be an output along 'sample' alone to reweight; "
                                   f"got {ds[o].dims if o in ds else 'no such output'}")
            self.x = {p: read_rows(ds[p], keep) for p in self.study.param_names}
            self.y = {o: read_rows(ds[o], keep).astype(float) for o in self.outputs}
            self.labels = {v: str(ds[v].attrs.get("label") or v) for v in [*self.study.param_names, *self.outputs]}
        self.n = keep.size
        if self.n == 0:
            raise RunError(self.path, "", "has no successfully evaluated independent draws to reweight")
        self._logf = {}
        # What each set of shifts gave (see _sums): the break-even searches of several
        # outputs step through the same shifts, and each appendix language asks again.
        self._memo = {}

    def is_probability(self, output: str) -> bool:
        """Whether an output is a 0/1 indicator (estimated as a probability)."""
        y = self.y[output]
        return bool(np.all((y == 0) | (y == 1)))

    # -- weights --------------------------------------------------------------------
    def _sampling_logpdf(self, name: str) -> np.ndarray:
        if name not in self._logf:
            p = self.study.parameter(name)
            self._logf[name] = log_density(frozen(p.distribution, p.args), self.x[name])
        return self._logf[name]

    def check(self, shift: Shift) -> None:
        """Refuse a shift the run's draws cannot represent (one-line :class:`StudyError`)."""
        p = self.study.parameter(shift.param)
        where = f"{shift.param}"
        if shift.param in self.correlated:
            raise StudyError(_OPTION, where, "must not be rank-correlated with another input: reweighting "
                             "would need the Gaussian copula's density and a choice the study file never made; "
                             "needs a re-run")
        r = self.study.readings
        if r is not None and shift.param in r.varying:
            raise StudyError(_OPTION, where, f"must not depend on the reading (parameters.{r.factor} sets it: "
                             f"{r.describe(shift.param)}): its draws follow a different law under each reading; "
                             "needs a re-run")
        try:
            old, new = frozen(p.distribution, p.args), frozen(p.distribution, shift.args)
        except KeyError:
            raise StudyError(_OPTION, where, f"has a {p.distribution!r} distribution, whose density this "
                             "toolkit does not know; needs a re-run") from None
        (lo, hi), (nlo, nhi) = old.support(), new.support()
        tol = 1e-12 * max(1.0, abs(lo) if np.isfinite(lo) else 1.0, abs(hi) if np.isfinite(hi) else 1.0)
        if nlo < lo - tol or nhi > hi + tol:
            key = "low" if nlo < lo - tol else "high"
            got = nlo if key == "low" else nhi
            raise StudyError(_OPTION, f"{shift.param}.{key}", f"must keep the distribution inside the sampled "
                             f"support [{lo:g}, {hi:g}] (importance weights are undefined where the run never "
                             f"drew); needs a re-run; got support reaching {got:g}")

    def weights(self, shifts) -> np.ndarray:
        """Importance weights ``g(x) / f(x)`` of the independent draws (mean about 1).

        Inputs are independent in a Sobol or uncorrelated Latin design, so the ratio is the
        product of the shifted inputs' marginal ratios.
        """
        logw = np.zeros(self.n)
        for s in shifts:
            self.check(s)
            p = self.study.parameter(s.param)
            logf = self._sampling_logpdf(s.param)
            logg = log_density(frozen(p.distribution, s.args), self.x[s.param])
            # f = 0 only on a null set inside the support (a triangle's far corner): weight 0.
            with np.errstate(invalid="ignore"):
                logw += np.where(np.isfinite(logf), logg - logf, -np.inf)
        w = np.exp(logw)
        if not w.sum() > 0:
            raise NoDrawKept(_OPTION, shifts[0].param, "must keep some of the run's draws (every importance "
                             "weight is zero: no draw falls where the shifted distribution has mass); needs a re-run")
        return w

    # -- estimates ------------------------------------------------------------------
    def estimate(self, shifts=(), conf_level: float | None = None) -> pd.DataFrame:
        """Reweighted probabilities (0/1 outputs) and means (other outputs).

        Parameters
        ----------
        shifts : sequence of Shift
            Changed input distributions (none: the run's own estimates).
        conf_level : float, optional
            Level of the intervals (default: the study's ``[analysis].conf_level``).

        Returns
        -------
        pandas.DataFrame
            One row per output: ``output, label, kind ("P" or "mean"), baseline, value,
            conf_low, conf_high, ess, n, low_ess``. The interval is the normal interval of
            the delta-method variance of the self-normalised estimate (Owen 2013, §9.2),
            ``sum(w^2 (y - value)^2) / sum(w)^2``; with no shift it is the i.i.d. normal
            interval, which is conservative for a scrambled Sobol' design.
        """
        conf = self.study.analysis.conf_level if conf_level is None else conf_level
        key = _shifts_key(shifts)
        if key is not None and ("estimate", key, conf) in self._memo:  # asked again: another language
            return self._memo["estimate", key, conf].copy()
        w = self.weights(shifts)
        total = w.sum()
        ess = float(total**2 / np.sum(w**2))
        z = stats.norm.ppf(0.5 + conf / 2)
        rows = []
        for o in self.outputs:
            y = self.y[o]
            kind = "P" if self.is_probability(o) else "mean"
            value = float(np.sum(w * y) / total)
            half = z * math.sqrt(np.sum(w**2 * (y - value) ** 2)) / total
            lo, hi = value - half, value + half
            if kind == "P":
                lo, hi = max(0.0, lo), min(1.0, hi)
            rows.append({"output": o, "label": self.labels[o], "kind": kind, "baseline": float(y.mean()),
                         "value": value, "conf_low": lo, "conf_high": hi, "ess": ess, "n": self.n,
                         "low_ess": ess < ess_threshold(self.n)})
        frame = pd.DataFrame(rows)
        if key is not None:
            self._memo["estimate", key, conf] = frame.copy()
        return frame

    def value(self, output: str, shifts) -> tuple[float, float]:
        """``(estimate, ess)`` of one output under ``shifts`` (no interval; for searches)."""
        total, square, weighted = self._sums(shifts)
        return float(weighted[output] / total), float(total**2 / square)

    def _sums(self, shifts):
        """``(sum w, sum w², {output: sum w y})`` under ``shifts``, each computed once per set of shifts.

        The same sums, in the same order, that :meth:`value` took for one output, so an
        estimate is the same number whichever output asked first. A set of shifts the run
        cannot represent raises its error again, from the memo.
        """
        key = _shifts_key(shifts)
        got = self._memo.get(key) if key is not None else None
        if got is None:
            try:
                w = self.weights(shifts)
                got = (w.sum(), np.sum(w**2), {o: np.sum(w * y) for o, y in self.y.items()})
            except StudyError as e:
                got = e
            if key is not None:
                self._memo[key] = got
        if isinstance(got, StudyError):
            raise got
        return got


# -- standard shift families, as fractions of an input's range --------------------------


def _width(distribution: str, args: dict) -> float:
    """The range a shift is a fraction of: high − low, or ±2 sd for unbounded inputs."""
    if "low" in args and "high" in args:
        return args["high"] - args["low"]
    return 4 * args.get("sd", args.get("sdlog", 1.0))


def centre_shift(param, c: float) -> Shift | None:
    """The input's centre moved by ``c`` times its range, keeping the sampled support.

    A triangle's (or PERT's) mode moves by ``c × (high − low)``; a (truncated) normal's mean by ``c ×``
    its range (``4 sd`` for an unbounded normal, ``4 sdlog`` on a lognormal's log scale);
    a uniform's mean moves by ``c × (high − low)`` by moving the opposite end inward by
    twice that (its support cannot move outward: the run never drew there), and a
    log-uniform's end moves the same way. ``None`` where the shift would leave the family
    (a mode outside the range, a uniform narrowed to nothing).

    Parameters
    ----------
    param : study.spec.Parameter
    c : float
        Signed fraction of the range.
    """
    d, a = param.distribution, dict(param.args)
    w = _width(d, a)
    if d in ("triangular", "pert"):
        a["mode"] = a["mode"] + c * w
        if not a["low"] <= a["mode"] <= a["high"]:
            return None
    elif d in ("uniform", "loguniform"):
        if abs(2 * c) >= 0.98:
            return None
        if c > 0:
            a["low"] = a["low"] + 2 * c * w
        else:
            a["high"] = a["high"] + 2 * c * w
    elif d in ("normal", "truncnormal"):
        a["mean"] = a["mean"] + c * w
    elif d == "lognormal":
        a["meanlog"] = a["meanlog"] + c * w
    elif d == "bernoulli":  # the mean is p, on a range of 1
        a["p"] = a["p"] + c
        if not 0 < a["p"] < 1:
            return None
    else:  # integer and categorical inputs have no continuous centre; scipy.* no common one
        return None
    return Shift(param.name, a, _describe_change(param.args, a))


def narrowed(param, share: float) -> Shift | None:
    """The input's range narrowed by ``share`` of its width, half from each end.

    A triangle's mode is kept (moved inside the new range if needed); a truncated normal
    keeps its mean and sd; an unbounded normal or lognormal has its (log) sd scaled by
    ``1 − share``.
    """
    d, a = param.distribution, dict(param.args)
    if d not in ("uniform", "loguniform", "triangular", "pert", "truncnormal", "normal", "lognormal"):
        return None
    if "low" in a and "high" in a:
        cut = share * (a["high"] - a["low"]) / 2
        a["low"], a["high"] = a["low"] + cut, a["high"] - cut
        if "mode" in a:
            a["mode"] = min(max(a["mode"], a["low"]), a["high"])
    else:
        key = "sd" if "sd" in a else "sdlog"
        a[key] = a[key] * (1 - share)
    return Shift(param.name, a, _describe_change(param.args, a))


@dataclass(frozen=True)
class BreakEven:
    """The smallest centre shift of one input that reverses an output's headline.

    ``fraction`` is signed (share of the range, see :func:`centre_shift`); ``None`` when
    no shift within ``reach`` (the most negative and most positive centre shifts searched,
    as far as the run's draws can represent them) reverses it.
    """

    output: str
    param: str
    threshold: float
    baseline: float
    fraction: float | None
    value: float | None = None
    ess: float | None = None
    shift: Shift | None = None
    reach: tuple[float, float] = (0.0, 0.0)


def _threshold(rw: Reweighter, output: str) -> float:
    return 0.5 if rw.is_probability(output) else 0.0


def _value_within_reach(rw: Reweighter, output: str, shift: Shift) -> float | None:
    """The reweighted estimate under ``shift``, or None where no draw keeps any weight."""
    try:
        return rw.value(output, [shift])[0]
    except NoDrawKept:
        return None


def break_even(rw: Reweighter, output: str, param: str, *, step: float = 0.005,
               limit: float = 0.5) -> BreakEven:
    """Smallest ``|c|`` for which ``centre_shift(param, c)`` carries the estimate across
    its threshold (probability 0.5, or mean 0), searched in both directions.

    A grid of ``step`` finds the first crossing on each side; bisection refines it to
    ``1e-4`` of the range. Shifts that leave the reweightable family stop the search on
    that side.

    Returns
    -------
    BreakEven
    """
    thr = _threshold(rw, output)
    base = float(rw.y[output].mean())
    p = rw.study.parameter(param)
    if param in rw.unshiftable:
        return BreakEven(output, param, thr, base, None)
    side = np.sign(base - thr)
    best, reach = None, [0.0, 0.0]
    for sign in (1.0, -1.0):
        prev = 0.0
        for c in np.arange(step, limit + step / 2, step) * sign:
            s = centre_shift(p, float(c))
            if s is None:
                break
            v = _value_within_reach(rw, output, s)
            if v is None:  # no draw keeps weight: the reweightable range ends here
                break
            reach[sign > 0] = float(c)
            if np.sign(v - thr) != side or side == 0:
                lo, hi = prev, float(c)
                for _ in range(40):
                    if abs(hi - lo) < 1e-4:
                        break
                    mid = (lo + hi) / 2
                    v = _value_within_reach(rw, output, centre_shift(p, mid))
                    if v is not None and np.sign(v - thr) != side:  # hi stays a shift with weight
                        hi = mid
                    else:
                        lo = mid
                if best is None or abs(hi) < abs(best):
                    best = hi
                break
            prev = float(c)
    if best is None:
        return BreakEven(output, param, thr, base, None, reach=tuple(reach))
    s = centre_shift(p, best)
    v, ess = rw.value(output, [s])
    return BreakEven(output, param, thr, base, best, v, ess, s, reach=tuple(reach))


def leading_inputs(run, output: str, k: int = 3) -> list[tuple[str, float]]:
    """Up to ``k`` inputs with the largest total-order index of ``output``.

    Read from the saved ``indices.nc`` of ``run`` (a run directory or its record; group
    ``sobol``, variable ``<output>__ST``); empty when the run has no Sobol' indices for
    that output.
    """
    from .run import read_run

    run = read_run(run)
    path = run.path / "indices.nc"
    if not path.exists():
        return []
    totals = _total_orders(run, path)
    if output not in totals:
        return []
    return [(str(p), float(v)) for p, v in totals[output].head(k).items()]


#: What :func:`_total_orders` read, by ``indices.nc`` path, size and modification time.
_TOTALS: dict = {}


def _total_orders(run, path) -> dict:
    """``output -> its ST by parameter, largest first`` from ``indices.nc``'s ``sobol`` group.

    Read once per state of the file (path, size and modification time): the appendix asks
    for the leading inputs of each headline in each language, and the group, which also
    holds the convergence arrays, took a second or more to read each time.
    """
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _TOTALS:
        ds = run.indices_group("sobol")
        if len(_TOTALS) >= 16:  # a process that reads many runs keeps the last few
            _TOTALS.clear()
        _TOTALS[key] = {} if ds is None else {
            v[: -len("__ST")]: ds[v].to_series().dropna().sort_values(ascending=False)
            for v in ds.data_vars if v.endswith("__ST") and ds[v].dims == ("param",)}
    return _TOTALS[key]


def _table(frame: pd.DataFrame, conf: float) -> str:
    shown = pd.DataFrame({
        "output": frame["output"], "estimate": frame["kind"],
        "run": frame["baseline"].map("{:.4f}".format),
        "reweighted": frame["value"].map("{:.4f}".format),
        f"{conf:.0%} interval": [f"[{lo:.4f}, {hi:.4f}]" for lo, hi in zip(frame["conf_low"], frame["conf_high"])],
        "ESS": frame["ess"].map("{:.0f}".format), "draws": frame["n"],
        "flag": np.where(frame["low_ess"], "LOW ESS", ""),
    })
    return shown.to_string(index=False)


def _break_even_lines(rw: Reweighter) -> list[str]:
    lines = []
    targets = [*rw.headline] or rw.outputs[:1]
    for o in targets:
        lead = [p for p, _ in leading_inputs(rw.run, o)] or list(rw.study.param_names)
        for p in lead:
            be = break_even(rw, o, p)
            what = "P" if rw.is_probability(o) else "mean"
            head = f"break-even {o} ({what} {be.baseline:.4f}, threshold {be.threshold:g}) by {p}: "
            if be.fraction is None:
                lines.append(head + f"not within the reweightable range (centre shifts from "
                             f"{be.reach[0]:+.0%} to {be.reach[1]:+.0%} of its range)")
            else:
                flag = " LOW ESS" if be.ess < ess_threshold(rw.n) else ""
                lines.append(head + f"centre {be.fraction:+.1%} of its range ({be.shift.text}), "
                             f"{what} {be.value:.4f}, ESS {be.ess:.0f} of {rw.n}{flag}")
    return lines


def main_reweight(run_dir, shift_texts, *, with_break_even: bool = False) -> tuple[str, list[str]]:
    """``study reweight``: the table it prints and the warnings it writes to stderr.

    Every ``--shift`` is parsed and checked against the run's study before any output is
    read, so a bad shift costs nothing.

    Returns
    -------
    (str, list of str)
        The table (and break-even lines) for standard output; warning lines.
    """
    from .run import read_run

    run = read_run(run_dir)
    study = run.study
    shifts = [parse_shift(t, study) for t in shift_texts]
    seen = [s.param for s in shifts]
    dup = next((p for p in seen if seen.count(p) > 1), None)
    if dup:
        raise StudyError(_OPTION, dup, f"must shift each parameter once (give all its keys in one "
                         f"--shift, e.g. {dup}=low:0.2,high:0.8); got it {seen.count(dup)} times")
    rw = Reweighter(run)
    for s in shifts:
        rw.check(s)
    frame = rw.estimate(shifts)
    conf = rw.study.analysis.conf_level
    lines = [("shifts: " + "; ".join(f"{s.param}: {s.text}" for s in shifts)) if shifts
             else "no shift: the run's own estimates", _table(frame, conf)]
    warnings = []
    if frame["low_ess"].any():
        warnings.append(f"warning: effective sample size {frame['ess'].iloc[0]:.0f} of {rw.n} draws is below "
                        f"{ess_threshold(rw.n):.0f} (the larger of {MIN_ESS} and {MIN_ESS_SHARE:.0%} of the "
                        "draws): the reweighted estimates rest on a few heavily weighted draws")
    if with_break_even:
        lines += _break_even_lines(rw)
    return "\n".join(lines), warnings
