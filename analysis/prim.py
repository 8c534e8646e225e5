"""PRIM, the Patient Rule Induction Method, for scenario discovery.

Peel a box along its coordinates, record the coverage-density trade-off, choose a box on
it, paste, and give each restricted dimension a quasi-p-value (Friedman & Fisher 1999, in
the form Bryant & Lempert 2010 use for scenario discovery). About 150 lines of vectorised
numpy rather than ``ema_workbench.analysis.prim``: EMA Workbench is a heavy dependency
(statsmodels, platypus-opt, its own model framework) for one algorithm that every run
uses, so it stays in the ``bench`` extra as the reference to compare with.

References
----------
Friedman, J. H., & Fisher, N. I. (1999). Bump hunting in high-dimensional data.
Statistics and Computing, 9(2), 123-143. https://doi.org/10.1023/A:1008894516817
Bryant, B. P., & Lempert, R. J. (2010). Thinking inside the box: A participatory,
computer-assisted approach to scenario discovery. Technological Forecasting and Social
Change, 77(1), 34-49. https://doi.org/10.1016/j.techfore.2009.08.002
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class PrimBox:
    """One PRIM box with its peeling trajectory.

    Bounds are inclusive; ``-inf``/``inf`` mark an unrestricted side. Trajectory arrays
    have one entry (row) per peeling step, step 0 being the unrestricted box.
    """

    low: np.ndarray
    high: np.ndarray
    coverage: float
    density: float
    mass: float
    qp_value: np.ndarray
    chosen_step: int
    traj_low: np.ndarray
    traj_high: np.ndarray
    traj_coverage: np.ndarray
    traj_density: np.ndarray
    traj_mass: np.ndarray

    @property
    def restricted(self) -> np.ndarray:
        return np.isfinite(self.low) | np.isfinite(self.high)


def _inside(x, low, high):
    return np.all((x >= low) & (x <= high), axis=1)


def _peel(x, y, n_total, alpha, mass_min):
    """Peeling trajectory from the full box; stops when no peel raises the density."""
    d = x.shape[1]
    low, high = np.full(d, -np.inf), np.full(d, np.inf)
    inside = np.ones(len(y), bool)
    lows, highs = [low.copy()], [high.copy()]
    while True:
        xi, yi = x[inside], y[inside]
        m = len(yi)
        k = max(1, int(alpha * m))
        if m - k < 1:
            break
        part = np.partition(xi, (k, m - 1 - k), axis=0)
        cuts = np.stack([part[k], part[m - 1 - k]])  # new low per dim, new high per dim
        keep = np.stack([xi >= cuts[0], xi <= cuts[1]])  # (2, m, d)
        n_new = keep.sum(axis=1)
        mean_new = np.einsum("m,smd->sd", yi, keep) / np.maximum(n_new, 1)
        # Density gained per sample removed: with tied values a peel can remove more than
        # alpha of the box, and it should not win for its size alone.
        gain = (mean_new - yi.mean()) / np.maximum(m - n_new, 1)
        gain[(n_new == m) | (n_new < mass_min * n_total)] = -np.inf
        side, j = np.unravel_index(np.argmax(gain), gain.shape)
        if not gain[side, j] > 0:
            break
        (low if side == 0 else high)[j] = cuts[side, j]
        inside &= (x[:, j] >= low[j]) & (x[:, j] <= high[j])
        lows.append(low.copy())
        highs.append(high.copy())
    return np.array(lows), np.array(highs)


def _paste(x, y, low, high, alpha):
    """Widen restricted bounds while doing so raises the density (Friedman & Fisher's pasting)."""
    low, high = low.copy(), high.copy()
    while True:
        out = (x < low) | (x > high)
        n_out = out.sum(axis=1)
        inside = n_out == 0
        n_box, k_box = inside.sum(), y[inside].sum()
        best, best_mean = None, k_box / n_box
        add = max(1, int(np.ceil(alpha * n_box)))
        for j in np.flatnonzero(np.isfinite(low) | np.isfinite(high)):
            others = n_out - out[:, j] == 0
            for side, bound in ((0, low), (1, high)):
                if not np.isfinite(bound[j]):
                    continue
                cand = others & ((x[:, j] < low[j]) if side == 0 else (x[:, j] > high[j]))
                if not cand.any():
                    continue
                vals = x[cand, j]
                order = np.argsort(-vals if side == 0 else vals, kind="stable")[:add]
                new = vals[order].min() if side == 0 else vals[order].max()
                grown = others & ((x[:, j] >= new) & (x[:, j] <= high[j]) if side == 0
                                  else (x[:, j] >= low[j]) & (x[:, j] <= new))
                mean = y[grown].mean()
                if mean > best_mean:
                    best, best_mean = (j, side, new), mean
        if best is None:
            return low, high
        j, side, new = best
        (low if side == 0 else high)[j] = new


def _stats(x, y, n_total, k_total, low, high):
    inside = _inside(x, low, high)
    n, k = inside.sum(), y[inside].sum()
    return k / k_total, (k / n if n else np.nan), n / n_total


def quasi_p_values(x, y, low, high) -> np.ndarray:
    """One-sided binomial quasi-p-value of each restricted dimension (Bryant & Lempert 2010).

    For dimension j, the probability of at least the box's number of cases among its
    samples if the case rate were that of the box with j's restriction removed. NaN for
    unrestricted dimensions.
    """
    out = (x < low) | (x > high)
    n_out = out.sum(axis=1)
    inside = n_out == 0
    n_box, k_box = inside.sum(), y[inside].sum()
    others = (n_out[:, None] - out) == 0  # (n, d): in the box except possibly along j
    rate = (y @ others) / np.maximum(others.sum(axis=0), 1)
    qp = stats.binom.sf(k_box - 1, n_box, rate)
    return np.where(np.isfinite(low) | np.isfinite(high), qp, np.nan)


def prim(x: np.ndarray, y: np.ndarray, *, threshold: float | None = None, peel_alpha: float = 0.05,
         paste_alpha: float = 0.05, mass_min: float = 0.05, paste: bool = True, prune: bool = True,
         max_boxes: int = 2, significance: float = 0.05) -> list[PrimBox]:
    """Find boxes where ``y`` is concentrated, by PRIM (with optional covering).

    Parameters
    ----------
    x : numpy.ndarray, shape (n, d)
        Inputs.
    y : numpy.ndarray of bool, shape (n,)
        Cases of interest (here: the headline fails).
    threshold : float, optional
        Smallest density the chosen box may have. The chosen box is the trajectory's box
        with the highest harmonic mean of coverage and density (density is the rule's
        precision, coverage its recall), among the boxes reaching `threshold` if any do.
    peel_alpha, paste_alpha : float
        Share of the box's samples removed per peel / added per paste.
    mass_min : float
        Smallest share of all samples a box may hold.
    paste : bool
        Paste the chosen box (widen bounds while that raises the density).
    prune : bool
        Then drop, one at a time, the restriction with the largest quasi-p-value while it
        is at least `significance` (Bryant & Lempert 2010), so that every reported
        restriction is significant.
    max_boxes : int
        Covering: after a box is chosen its samples are removed and PRIM runs again on
        the rest, up to this many boxes. A later box is kept only if its density exceeds
        the case rate of all samples and of the remaining samples, and one of its restrictions has a
        quasi-p-value below `significance` / d (Bonferroni over the dimensions).

    Returns
    -------
    list of PrimBox
        Coverage and mass are shares of all cases and all samples (not of the remainder).
        Empty if there are no cases.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=bool)
    n_total, k_total = len(y), int(y.sum())
    boxes: list[PrimBox] = []
    rest = np.ones(n_total, bool)
    while len(boxes) < max_boxes and k_total and y[rest].any():
        xr_, yr = x[rest], y[rest].astype(float)
        lows, highs = _peel(xr_, yr, n_total, peel_alpha, mass_min)
        inside = (xr_[None] >= lows[:, None]) & (xr_[None] <= highs[:, None])
        inside = inside.all(axis=2)  # (steps, n_rest)
        n_in, k_in = inside.sum(axis=1), inside.astype(float) @ yr
        cov, dens, mass = k_in / k_total, k_in / np.maximum(n_in, 1), n_in / n_total
        f1 = 2 * cov * dens / np.maximum(cov + dens, 1e-300)
        ok = dens >= threshold if threshold is not None else np.ones(len(f1), bool)
        if not ok.any():
            ok = dens == dens.max()
        step = int(np.flatnonzero(ok)[np.argmax(f1[ok])])
        low, high = lows[step], highs[step]
        if paste:
            low, high = _paste(xr_, yr, low, high, paste_alpha)
        qp = quasi_p_values(xr_, yr, low, high)
        while prune and np.nanmax(qp, initial=0.0) >= significance:
            j = np.nanargmax(qp)
            low, high = low.copy(), high.copy()
            low[j], high[j] = -np.inf, np.inf
            qp = quasi_p_values(xr_, yr, low, high)
        c, dn, ms = _stats(xr_, yr, n_total, k_total, low, high)
        enriched = dn > max(yr.mean(), k_total / n_total)
        if boxes and not (enriched and np.nanmin(qp, initial=1.0) < significance / x.shape[1]):
            break
        boxes.append(PrimBox(low, high, c, dn, ms, qp, step, lows, highs, cov, dens, mass))
        rest &= ~_inside(x, low, high)
    return boxes
