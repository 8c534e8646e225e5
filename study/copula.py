"""Rank correlations between parameters through a Gaussian copula.

A study file may declare Spearman rank correlations between pairs of parameters
(``[[correlations]]``). :func:`correlate` maps a design of independent uniforms to one
whose rank structure is that of a Gaussian copula with those Spearman correlations; the
parameters' inverse CDFs are applied afterwards, so every parameter keeps its declared
marginal distribution exactly (a rank correlation is invariant under monotone maps).

Sobol indices assume independent inputs, so a correlated study is sampled with a Latin
hypercube (or plain Monte Carlo) and analysed with a moment-independent measure (delta)
and headline probabilities; Saltelli designs are never passed through here.

References
----------
Pearson, K. (1907). Mathematical contributions to the theory of evolution XVI: On further
methods of determining correlation. Drapers' Company Research Memoirs.
Iman, R. L., & Conover, W. J. (1982). A distribution-free approach to inducing rank
correlation among input variables. Communications in Statistics - Simulation and
Computation, 11(3), 311-334. https://doi.org/10.1080/03610918208812265
"""

from __future__ import annotations

import numpy as np
from scipy import special, stats

METHODS = ("ranks", "transform")


class CorrelationError(ValueError):
    """The declared rank correlations cannot be those of a Gaussian copula."""


def to_pearson(rho: np.ndarray) -> np.ndarray:
    """Pearson correlation of a Gaussian copula whose Spearman correlation is `rho`.

    For a bivariate normal pair, Spearman's rho equals ``(6/pi) * arcsin(r/2)``
    (Pearson 1907), hence ``r = 2 sin(pi rho / 6)``.
    """
    return 2.0 * np.sin(np.pi * np.asarray(rho, dtype=float) / 6.0)


def to_spearman(r: np.ndarray) -> np.ndarray:
    """Spearman correlation of a Gaussian copula whose Pearson correlation is `r`."""
    return 6.0 / np.pi * np.arcsin(np.asarray(r, dtype=float) / 2.0)


def check_rank_matrix(corr) -> np.ndarray:
    """Validate a Spearman correlation matrix and return the copula's Pearson matrix.

    Parameters
    ----------
    corr : array_like, shape (d, d)
        Declared Spearman rank correlations, ones on the diagonal.

    Returns
    -------
    numpy.ndarray, shape (d, d)
        ``2 sin(pi corr / 6)``, symmetric positive definite.

    Raises
    ------
    CorrelationError
        If the matrix is not square, not symmetric, has a diagonal other than one, an
        entry outside (-1, 1), or is not positive definite once converted.
    """
    c = np.asarray(corr, dtype=float)
    if c.ndim != 2 or c.shape[0] != c.shape[1]:
        raise CorrelationError(f"the rank correlation matrix must be square; got shape {c.shape}")
    if not np.all(np.isfinite(c)):
        raise CorrelationError("the rank correlation matrix must be finite; got NaN or infinity")
    if not np.allclose(c, c.T, rtol=0, atol=1e-12):
        i, j = np.unravel_index(np.argmax(np.abs(c - c.T)), c.shape)
        raise CorrelationError(f"the rank correlation matrix must be symmetric; got {float(c[i, j])!r} at "
                               f"({i}, {j}) and {float(c[j, i])!r} at ({j}, {i})")
    if not np.allclose(np.diag(c), 1.0, rtol=0, atol=1e-12):
        raise CorrelationError("the rank correlation matrix must have ones on its diagonal; "
                               f"got {np.diag(c).tolist()!r}")
    off = c[~np.eye(len(c), dtype=bool)]
    if off.size and np.max(np.abs(off)) >= 1:
        worst = float(off[np.argmax(np.abs(off))])
        raise CorrelationError(f"rank correlations must lie strictly between -1 and 1; got {worst!r}")
    r = to_pearson(c)
    smallest = np.linalg.eigvalsh(r).min() if len(r) else 1.0
    # A margin well above rounding keeps the Cholesky factor (and so the design) stable.
    if smallest <= 1e-10:
        raise CorrelationError(
            "the rank correlations must form a positive-definite matrix once converted to the "
            "Gaussian copula's Pearson correlations (r = 2 sin(pi rho / 6)); got smallest "
            f"eigenvalue {smallest:.3g}: the declared correlations contradict each other")
    return r


def correlate(u: np.ndarray, corr, *, method: str = "ranks") -> np.ndarray:
    """Give independent uniforms the rank correlations `corr` of a Gaussian copula.

    Parameters
    ----------
    u : numpy.ndarray, shape (n, d)
        Independent uniforms in the open interval (0, 1): a Latin hypercube or a
        Monte Carlo design on the unit cube.
    corr : array_like, shape (d, d)
        Target Spearman rank correlations (ones on the diagonal).
    method : {"ranks", "transform"}
        ``"ranks"`` (default) re-orders each column of `u` so that its ranks are those of
        the correlated normal scores ``Phi^-1(u) L^T`` (``L L^T`` the copula's Pearson
        matrix), in the manner of Iman & Conover (1982): every column is a permutation of
        the input column, so a Latin hypercube stays stratified in every margin and the
        sample marginals are exactly the design's. ``"transform"`` returns
        ``Phi(Phi^-1(u) L^T)``, exactly a Gaussian-copula sample for i.i.d. input, but it
        breaks a Latin hypercube's stratification.

    Returns
    -------
    numpy.ndarray, shape (n, d)
        Uniforms with (population) Spearman correlations `corr`. The first column is
        returned unchanged.

    Raises
    ------
    CorrelationError
        If `corr` is not a valid rank correlation matrix (see :func:`check_rank_matrix`),
        if its size does not match `u`, or if `u` has values outside (0, 1).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> u = rng.random((20_000, 2))
    >>> v = correlate(u, [[1.0, 0.5], [0.5, 1.0]])
    >>> bool(np.array_equal(np.sort(v[:, 1]), np.sort(u[:, 1])))
    True
    >>> round(float(stats.spearmanr(v).statistic), 1)
    0.5
    """
    if method not in METHODS:
        raise CorrelationError(f"method must be one of {list(METHODS)}; got {method!r}")
    u = np.asarray(u, dtype=float)
    if u.ndim != 2:
        raise CorrelationError(f"the design must be a 2-d array (samples, parameters); got shape {u.shape}")
    r = check_rank_matrix(corr)
    if r.shape[0] != u.shape[1]:
        raise CorrelationError(f"the rank correlation matrix must be {u.shape[1]} x {u.shape[1]} to match the "
                               f"design's columns; got {r.shape[0]} x {r.shape[1]}")
    if u.size and not (np.all(u > 0) and np.all(u < 1)):
        raise CorrelationError("the design must lie in the open unit cube (0, 1); got values at or beyond 0 or 1")
    z = special.ndtri(u) @ np.linalg.cholesky(r).T
    if method == "transform":
        return special.ndtr(z)
    ranks = np.argsort(np.argsort(z, axis=0, kind="stable"), axis=0, kind="stable")
    return np.take_along_axis(np.sort(u, axis=0), ranks, axis=0)


def spearman(x: np.ndarray) -> np.ndarray:
    """Sample Spearman correlation matrix of the columns of `x` (shape (n, d))."""
    x = np.asarray(x, dtype=float)
    rho = stats.spearmanr(x).statistic
    return np.atleast_2d(rho) if x.shape[1] > 2 else np.array([[1.0, rho], [rho, 1.0]])
