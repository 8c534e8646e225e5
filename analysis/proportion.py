"""The share of draws on which a 0/1 indicator holds, with its interval.

One definition for ``indices.csv``, ``study compare`` and the appendix, so that one run's
probability carries one interval wherever it is shown.

References
----------
Wilson, E. B. (1927). Probable inference, the law of succession, and statistical
inference. JASA, 22(158), 209-212. https://doi.org/10.1080/01621459.1927.10502953
Owen, A. B. (2013). Monte Carlo theory, methods and examples, ch. 17 (independent
randomizations of a quasi-Monte Carlo rule give a Student-t interval).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

REPLICATE_T = "Student-t interval across replicate designs"
#: The same interval when it reached past 0 or 1 and was cut back to that bound.
REPLICATE_T_CLIPPED = "Student-t interval across replicate designs, clipped to [0, 1]"
WILSON = "Wilson score interval"


def wilson(k, n, conf_level: float = 0.95):
    """Wilson score interval for a proportion ``k / n``.

    It keeps its coverage near the nominal level for proportions close to 0 or 1, where
    the normal-approximation interval collapses (Wilson 1927). On the A and B rows of a
    scrambled Sobol' design it is conservative: those points are more even than i.i.d.

    Returns
    -------
    (low, high) : tuple of float or numpy.ndarray
    """
    k, n = np.asarray(k, dtype=float), np.asarray(n, dtype=float)
    z = stats.norm.ppf(0.5 + conf_level / 2)
    p = k / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return centre - half, centre + half


def share_holds(holds: np.ndarray, replicate: np.ndarray | None = None, conf_level: float = 0.95):
    """Share of draws where an indicator holds, with an interval.

    With two or more independently scrambled replicate designs: the mean of the replicates'
    shares and a Student-t interval across them, which reflects the scrambled design's
    actual (smaller than i.i.d.) error. A probability lies in [0, 1], so that interval is
    clipped to it: near 0 or 1 the symmetric interval reaches past the bound. The
    half-width stays the t half-width and ``method`` says the interval was clipped.
    Otherwise the Wilson score interval of :func:`wilson`, which lies in [0, 1] anyway.

    Parameters
    ----------
    holds : numpy.ndarray of bool
        The indicator on the independent draws.
    replicate : numpy.ndarray, optional
        Each draw's replicate design.
    conf_level : float

    Returns
    -------
    (p, half_width, low, high, method) : tuple
        ``method`` is :data:`REPLICATE_T`, :data:`REPLICATE_T_CLIPPED` or :data:`WILSON`.
    """
    holds = np.asarray(holds, dtype=bool)
    labels = np.unique(replicate) if replicate is not None else ()
    if len(labels) > 1:
        shares = np.array([holds[replicate == r].mean() for r in labels])
        p, r = shares.mean(), len(shares)
        half = stats.t.ppf(0.5 + conf_level / 2, r - 1) * shares.std(ddof=1) / np.sqrt(r)
        low, high = max(0.0, p - half), min(1.0, p + half)
        how = REPLICATE_T_CLIPPED if (low, high) != (p - half, p + half) else REPLICATE_T
        return float(p), float(half), float(low), float(high), how
    low, high = wilson(holds.sum(), holds.size, conf_level)
    return float(holds.mean()), float(high - low) / 2, float(low), float(high), WILSON
