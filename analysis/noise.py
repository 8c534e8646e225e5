"""Share of an output's variance that is a stochastic model's intrinsic noise.

A stochastic model's output is ``Y = g(X, ω)``: the inputs ``X`` and the model's own
randomness ``ω`` (its seed). The law of total variance splits

    Var(Y) = E[Var(Y | X)] + Var(E[Y | X]),

and the noise share is ``η = E[Var(Y | X)] / Var(Y)``: 0 for a deterministic model, 1 when
the inputs do not matter. The Sobol indices of a run with replications are those of the
replication mean, an estimate of ``E[Y | X]``; a noise share near 1 says that even they
describe a small part of what a single run of the model does.

Estimator: with ``K`` replications at each of ``n`` independent design points, the
one-way random-effects ANOVA (Searle, Casella & McCulloch 1992, ch. 3), whose
within-point mean square ``W = mean_i s_i^2`` is unbiased for ``E[Var(Y | X)]`` and whose
between-point variance of the means ``B = var_i(ȳ_i)`` has expectation
``Var(E[Y | X]) + E[Var(Y | X)] / K``. So

    η̂ = W / (B + W (1 - 1/K)),

clipped to [0, 1], with a percentile bootstrap interval over the design points. This is the
replication-variance decomposition Marrel et al. (2012) use for stochastic simulators
(their "seed" as an uncontrollable input whose total effect is ``η``).

References
----------
Searle, S. R., Casella, G., McCulloch, C. E. (1992). Variance Components. Wiley.
https://doi.org/10.1002/9780470316856

Marrel, A., Iooss, B., Da Veiga, S., Ribatet, M. (2012). Global sensitivity analysis of
stochastic computer models with joint metamodels. Statistics and Computing 22, 833-847.
https://doi.org/10.1007/s11222-011-9274-8
"""

from __future__ import annotations

import numpy as np

from .methods import Method

ESTIMATOR = "replication ANOVA (Searle et al. 1992; Marrel et al. 2012)"
#: Suffix and ``model_role`` of the stored variance over replications (study.adapters.stochastic).
NOISE_SUFFIX, NOISE_ROLE = "__noise_var", "noise_variance"


def noise_share_point(mean: np.ndarray, within: np.ndarray, k: int) -> float:
    """``η̂ = W / (B + W (1 - 1/K))`` on rows of replication means and variances.

    Parameters
    ----------
    mean, within : numpy.ndarray
        Each design point's mean and unbiased variance over its ``k`` replications.
    k : int
        Replications per point (2 or more).

    Returns
    -------
    float
        The share in [0, 1]; NaN when the output does not vary at all.

    Examples
    --------
    >>> noise_share_point(np.array([0.0, 0.0]), np.array([1.0, 1.0]), 2)
    1.0
    >>> noise_share_point(np.array([1.0, -1.0]), np.array([0.0, 0.0]), 2)
    0.0
    """
    w, b = float(np.mean(within)), float(np.var(mean, ddof=1))
    total = b + w * (1 - 1 / k)
    return float(np.clip(w / total, 0.0, 1.0)) if total > 0 else float("nan")


def noise_share(mean, within, k: int, *, conf_level: float, resamples: int, rng) -> tuple:
    """The noise share with a percentile bootstrap interval over design points.

    Parameters
    ----------
    mean, within : numpy.ndarray
        Per design point (independent draws), as in :func:`noise_share_point`.
    k : int
    conf_level : float
    resamples : int
    rng : numpy.random.Generator

    Returns
    -------
    (value, low, high) : tuple of float
    """
    mean, within = np.asarray(mean, float), np.asarray(within, float)
    ok = np.isfinite(mean) & np.isfinite(within)  # failed samples (--allow-failures) are dropped
    mean, within = mean[ok], within[ok]
    value = noise_share_point(mean, within, k)
    idx = rng.integers(0, mean.size, size=(resamples, mean.size))
    boot = np.array([noise_share_point(mean[i], within[i], k) for i in idx])
    lo, hi = np.nanquantile(boot, [0.5 - conf_level / 2, 0.5 + conf_level / 2])
    return value, float(lo), float(hi)


def noise_rows(results, outputs, iid, k: int, *, conf_level: float, resamples: int, rng) -> list[dict]:
    """``indices.csv`` rows (``method = noise``, ``index = noise_share``) per scalar output."""
    rows = []
    for name in outputs:
        var = results.get(name + NOISE_SUFFIX)
        if var is None or results[name].dims != ("sample",):
            continue
        value, lo, hi = noise_share(results[name].values[iid], var.values[iid], k,
                                    conf_level=conf_level, resamples=resamples, rng=rng)
        rows.append({"method": "noise", "output": name, "param": "", "index": "noise_share", "value": value,
                     "conf": (hi - lo) / 2, "conf_low": lo, "conf_high": hi, "estimator": ESTIMATOR,
                     "conf_method": "bootstrap over design points", "status": "ok"})
    return rows


# -- the diagnostic as a run's analysis runs it (analysis.methods) ---------------------------

def analyze(run, settings, rng) -> None:
    """Append the noise share of each scalar output to ``settings.rows``; it keeps no group."""
    a = run.study.analysis
    settings.rows.extend(noise_rows(settings.results, settings.outputs, settings.iid,
                                    run.study.model_options.replications, conf_level=a.conf_level,
                                    resamples=a.resamples, rng=rng("noise")))


def _replicated(study) -> bool:
    """A stochastic model run with replications has a noise share to estimate."""
    return study.model_options.replications > 1


METHOD = Method(name="noise", rank_index="noise_share", label="noise share", text_label="noise share",
                on_draws=False, analyze=analyze, kind="diagnostic", triangulates=False, applies=_replicated)
