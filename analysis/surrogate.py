"""Sobol' indices from a few hundred model runs, through a validated surrogate.

Two surrogates are fitted to a space-filling design (scrambled Sobol' points in the unit
cube, mapped through the inputs' distributions):

- ``"pce"``: a sparse polynomial chaos expansion. Each input has the orthonormal family of
  its germ: Hermite for normal and lognormal inputs (germ ``Φ⁻¹(u)``), Legendre for the
  others (germ ``2u - 1``, the iso-probabilistic transform through the input's own CDF).
  The candidate basis is a hyperbolic (q-norm 0.75) total-degree set; least-angle
  regression orders its terms, each prefix of that order is refitted by least squares and
  the one with the smallest corrected leave-one-out error is kept (hybrid LARS, Blatman &
  Sudret 2011), for degrees 1, 2, ... until that error stops falling. S1, ST and S2 are sums
  of squared coefficients (Sudret 2008); intervals are bootstrap percentiles over the design
  with the selected basis kept fixed (Marelli & Sudret 2018).
- ``"gp"``: a Gaussian process (scikit-learn, anisotropic Matérn 5/2 plus a noise term).
  Each posterior sample of the process is a plausible model: its S1 (Saltelli 2010) and ST
  (Jansen) on fresh random pick-freeze points give one draw of the indices, so the spread
  holds the surrogate's uncertainty and the integration error (Marrel et al. 2009).

Each fit is judged by its leave-one-out Q² (1 - PRESS / total sum of squares). Below
:data:`Q2_MIN` its indices are withheld (NaN) and the element's status says why: a
surrogate that cannot predict left-out runs says nothing reliable about the model.

References
----------
Blatman, G., Sudret, B. (2011). J. Comput. Phys. 230, 2345-2367. https://doi.org/10.1016/j.jcp.2010.12.021
Sudret, B. (2008). Reliab. Eng. Syst. Saf. 93, 964-979. https://doi.org/10.1016/j.ress.2007.04.002
Marelli, S., Sudret, B. (2018). Struct. Saf. 75, 67-74. https://doi.org/10.1016/j.strusafe.2018.06.003
Marrel, A. et al. (2009). Reliab. Eng. Syst. Saf. 94, 742-751. https://doi.org/10.1016/j.ress.2008.07.008
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import xarray as xr
from scipy import linalg, special

#: Leave-one-out Q² below which a surrogate's indices are withheld as unreliable.
Q2_MIN = 0.9
#: Lower end of an ST interval above which an input is called influential.
INFLUENTIAL_ST = 0.01
#: Inputs whose distribution has a Gaussian germ (Hermite polynomials); all others get Legendre.
HERMITE = ("normal", "lognormal")
#: Largest total degree tried, the q-norm of the hyperbolic truncation, and the largest number
#: of candidate terms (a bigger basis stops the degree search).
MAX_DEGREE = 14
Q_NORM = 0.75
MAX_TERMS = 3000
#: Interactions of more inputs than this are left out of the candidate basis.
MAX_INTERACTION = 3
#: GP: posterior samples drawn, and the pick-freeze points each one is evaluated on.
GP_DRAWS = 50
GP_POINTS = 800


def family(distribution: str) -> str:
    """The polynomial family of an input: ``"hermite"`` or ``"legendre"``.

    Examples
    --------
    >>> family("normal"), family("triangular")
    ('hermite', 'legendre')
    """
    return "hermite" if distribution in HERMITE else "legendre"


def germ(u: np.ndarray, families) -> np.ndarray:
    """Unit-cube points mapped to the germs: standard normal (Hermite) or uniform on [-1, 1]."""
    z = np.empty_like(u, dtype=float)
    for j, fam in enumerate(families):
        z[:, j] = special.ndtri(u[:, j]) if fam == "hermite" else 2 * u[:, j] - 1
    return z


def univariate(z: np.ndarray, fam: str, degree: int) -> np.ndarray:
    """Orthonormal polynomials of degrees ``0..degree`` at ``z``, shape ``(len(z), degree + 1)``.

    Examples
    --------
    >>> np.round(univariate(np.array([0.5]), "legendre", 2), 4)  # 1, √3 z, √5 (3z² - 1)/2
    array([[ 1.    ,  0.866 , -0.2795]])
    """
    p = np.ones((len(z), degree + 1))
    if degree >= 1:
        p[:, 1] = z
    for k in range(1, degree):
        if fam == "hermite":  # probabilists' He: He_{k+1} = z He_k - k He_{k-1}
            p[:, k + 1] = z * p[:, k] - k * p[:, k - 1]
        else:  # Legendre: (k + 1) P_{k+1} = (2k + 1) z P_k - k P_{k-1}
            p[:, k + 1] = ((2 * k + 1) * z * p[:, k] - k * p[:, k - 1]) / (k + 1)
    k = np.arange(degree + 1)
    norm = np.sqrt([math.factorial(i) for i in k]) if fam == "hermite" else 1 / np.sqrt(2 * k + 1)
    return p / norm


def multi_indices(d: int, degree: int, q: float = Q_NORM, rank: int = MAX_INTERACTION) -> np.ndarray:
    """Non-constant multi-indices of q-norm at most ``degree`` and at most ``rank`` active inputs.

    Examples
    --------
    >>> multi_indices(2, 2, q=1.0).tolist()
    [[0, 1], [0, 2], [1, 0], [1, 1], [2, 0]]
    """
    out: list[tuple[int, ...]] = []

    def grow(prefix: tuple[int, ...], budget: float, active: int) -> None:
        if len(prefix) == d:
            if any(prefix):
                out.append(prefix)
            return
        for a in range(degree + 1):
            cost = a**q
            if cost > budget + 1e-9 or (a and active == rank):
                break
            grow(prefix + (a,), budget - cost, active + (a > 0))

    grow((), float(degree) ** q, 0)
    return np.array(out, dtype=int).reshape(-1, d)


def design_matrix(z: np.ndarray, alpha: np.ndarray, families) -> np.ndarray:
    """The basis terms ``alpha`` (without the constant) evaluated at germ points ``z``."""
    degree = int(alpha.max(initial=0))
    tables = [univariate(z[:, j], fam, degree) for j, fam in enumerate(families)]
    x = np.ones((len(z), len(alpha)))
    for j, table in enumerate(tables):
        x *= table[:, alpha[:, j]]
    return x


def _prefix_fits(x: np.ndarray, y: np.ndarray, sizes) -> list[tuple[float, np.ndarray]]:
    """Least squares on ``[1, x[:, :k]]`` for each ``k`` in ``sizes``: corrected LOO error, coefficients.

    One QR of the whole matrix serves every prefix (a prefix's QR is the prefix of the QR).
    The LOO error is relative to the output's variance and multiplied by Chapelle's
    correction for small n / P (Blatman & Sudret 2011, eq. 40).
    """
    n = len(y)
    a = np.column_stack([np.ones(n), x])
    q, r = np.linalg.qr(a)
    ok = np.abs(np.diag(r)) > 1e-10 * np.abs(r[0, 0])
    qty = q.T @ y
    h = np.cumsum(q**2, axis=1)
    rinv = linalg.solve_triangular(r, np.eye(r.shape[0]))
    trace = np.cumsum(np.cumsum(rinv**2, axis=0).diagonal())  # ||R_k^-1||_F^2 of each prefix
    var = np.var(y)
    out = []
    for k in sizes:
        p = k + 1
        if p >= n or not ok[:p].all():
            break
        coef = rinv[:p, :p] @ qty[:p]
        res = (y - q[:, :p] @ qty[:p]) / np.maximum(1 - h[:, p - 1], 1e-12)
        corr = n / (n - p) * (1 + trace[p - 1])
        out.append((float(np.mean(res**2) / var), float(np.mean(res**2) / var * corr), coef))
    return out


def _lars_order(x: np.ndarray, y: np.ndarray, steps: int) -> list[int]:
    from sklearn.linear_model import lars_path

    xc = x - x.mean(axis=0)
    scale = np.linalg.norm(xc, axis=0)
    scale[scale == 0] = 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # collinear candidates: LARS drops them, as it says
        _, active, _ = lars_path(xc / scale, y - y.mean(), method="lar", max_iter=steps)
    return list(active)


def _prefix_sizes(m: int) -> list[int]:
    """Every size up to 20, then about 12 % steps: the LOO error moves slowly with the size."""
    sizes = list(range(1, min(m, 20) + 1))
    while sizes[-1] < m:
        sizes.append(min(m, int(sizes[-1] * 1.12) + 1))
    return sizes


@dataclass(frozen=True)
class Chaos:
    """A fitted sparse PCE: its terms, coefficients (constant first) and LOO validation."""

    alpha: np.ndarray
    coef: np.ndarray
    loo: float
    degree: int

    @property
    def q2(self) -> float:
        return 1 - self.loo


def _fit_degree(z, y, families, degree):
    alpha = multi_indices(z.shape[1], degree)
    if len(alpha) > MAX_TERMS:
        return None
    x = design_matrix(z, alpha, families)
    order = _lars_order(x, y, steps=min(len(alpha), len(y) // 2))
    sizes = _prefix_sizes(len(order))
    fits = _prefix_fits(x[:, order], y, sizes)
    if not fits:
        return None
    best = min(range(len(fits)), key=lambda i: fits[i][1])
    loo, corrected, coef = fits[best]
    return Chaos(alpha[order[:sizes[best]]], coef, loo, degree), corrected


def fit_pce(z: np.ndarray, y: np.ndarray, families) -> Chaos:
    """The sparse PCE of ``y`` on germ points ``z`` with the adaptive degree (see module doc).

    Parameters
    ----------
    z : numpy.ndarray
        Germ points, shape ``(n, d)`` (see :func:`germ`).
    y : numpy.ndarray
        Model outputs, shape ``(n,)``.
    families : sequence of {"hermite", "legendre"}
        Each input's polynomial family.

    Returns
    -------
    Chaos or None
        The selected terms, their coefficients and the leave-one-out error; None if no
        basis could be fitted.
    """
    best, best_err, worse = None, np.inf, 0
    for degree in range(1, MAX_DEGREE + 1):
        fitted = _fit_degree(z, y, families, degree)
        if fitted is None:
            break
        chaos, err = fitted
        if err < best_err:
            best, best_err, worse = chaos, err, 0
        else:
            worse += 1
            if worse == 2:  # two degrees in a row without gain: higher ones overfit
                break
    return best


def pce_sobol(alpha: np.ndarray, coef: np.ndarray):
    """S1, ST (per input) and S2 (input × input) from a PCE's terms and coefficients.

    Examples
    --------
    ``y = 1 + 2 ψ₁(x₁) + ψ₁(x₁) ψ₁(x₂)``: variance 5, S1 = (0.8, 0), ST = (1, 0.2).

    >>> s1, st, s2 = pce_sobol(np.array([[1, 0], [1, 1]]), np.array([1.0, 2.0, 1.0]))
    >>> s1.tolist(), st.tolist(), float(s2[0, 1])
    ([0.8, 0.0], [1.0, 0.2], 0.2)
    """
    c2 = np.asarray(coef[1:], float) ** 2
    var = c2.sum()
    on = alpha > 0
    count = on.sum(axis=1)
    s1 = (c2[:, None] * (on & (count == 1)[:, None])).sum(axis=0) / var
    st = (c2[:, None] * on).sum(axis=0) / var
    pair = on & (count == 2)[:, None]
    s2 = np.einsum("k,ki,kj->ij", c2, pair.astype(float), pair.astype(float)) / var
    np.fill_diagonal(s2, np.nan)
    return s1, st, s2


def _pce_element(z, y, families, resamples, rng):
    chaos = fit_pce(z, y, families)
    if chaos is None:  # not even the linear basis fits (more inputs than the runs can resolve)
        return None, None, {"Q2": -np.inf, "degree": 0, "terms": 0}
    point = pce_sobol(chaos.alpha, chaos.coef)
    x = design_matrix(z, chaos.alpha, families)
    a = np.column_stack([np.ones(len(y)), x])
    draws = []
    for _ in range(resamples):
        rows = rng.integers(0, len(y), len(y))
        coef = np.linalg.lstsq(a[rows], y[rows], rcond=None)[0]
        draws.append(pce_sobol(chaos.alpha, coef))
    info = {"Q2": chaos.q2, "degree": chaos.degree, "terms": len(chaos.alpha)}
    return point, [np.stack(d) for d in zip(*draws)], info


def _gp_fit(z, y, rng):
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

    d = z.shape[1]
    kernel = (ConstantKernel(1.0, (1e-3, 1e3)) * Matern(np.ones(d), (1e-2, 1e3), nu=2.5)
              + WhiteKernel(1e-4, (1e-9, 1.0)))
    gp = GaussianProcessRegressor(kernel, normalize_y=True, n_restarts_optimizer=2,
                                  random_state=int(rng.integers(2**31)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a hyperparameter at its bound is reported by Q², not a warning
        gp.fit(z, y)
    kinv = linalg.cho_solve((gp.L_, True), np.eye(len(y)))
    res = (kinv @ gp.y_train_) / np.diag(kinv)  # LOO residuals in closed form (Rasmussen & Williams 5.12)
    q2 = 1 - np.mean(res**2) / np.var(gp.y_train_)
    return gp, float(q2)


def _gp_posterior(gp, zs: np.ndarray, rng) -> np.ndarray:
    """One posterior sample of the noise-free process at ``zs``."""
    k = gp.kernel_.k1  # without the WhiteKernel: the surrogate of the model, not of its noise
    kt = k(zs, gp.X_train_)
    mean = kt @ gp.alpha_
    v = linalg.solve_triangular(gp.L_, kt.T, lower=True)
    cov = k(zs) - v.T @ v
    try:
        cov[np.diag_indices_from(cov)] += 1e-8 * max(np.trace(cov) / len(cov), 1e-12)
        f = mean + np.linalg.cholesky(cov) @ rng.standard_normal(len(zs))
    except np.linalg.LinAlgError:  # rounding left a slightly negative eigenvalue: clip it
        w, v = np.linalg.eigh(cov)
        f = mean + v @ (np.sqrt(np.clip(w, 0, None)) * rng.standard_normal(len(zs)))
    return f * gp._y_train_std + gp._y_train_mean


def _gp_element(z, y, families, draws, rng):
    gp, q2 = _gp_fit(z, y, rng)
    d = z.shape[1]
    n = max(32, GP_POINTS // (d + 2))
    out = []
    for _ in range(draws):
        a, b = rng.random((n, d)), rng.random((n, d))
        ab = np.repeat(a[None], d, axis=0)
        for i in range(d):
            ab[i, :, i] = b[:, i]
        pts = germ(np.concatenate([a, b, ab.reshape(-1, d)]), families)
        f = _gp_posterior(gp, pts, rng)
        fa, fb, fab = f[:n], f[n:2 * n], f[2 * n:].reshape(d, n)
        var = np.var(np.concatenate([fa, fb]))
        s1 = np.mean(fb * (fab - fa), axis=1) / var  # Saltelli 2010
        st = 0.5 * np.mean((fa - fab) ** 2, axis=1) / var  # Jansen 1999
        out.append((s1, st, np.full((d, d), np.nan)))
    stacked = [np.stack(x) for x in zip(*out)]
    point = (stacked[0].mean(axis=0), stacked[1].mean(axis=0), np.full((d, d), np.nan))
    return point, stacked, {"Q2": q2, "degree": 0, "terms": len(y)}


def surrogate_indices(u: np.ndarray, y: np.ndarray, *, params, distributions, kind: str = "pce",
                      conf_level: float = 0.95, resamples: int = 200, rng=None, elements=None,
                      q2_min: float = Q2_MIN) -> xr.Dataset:
    """S1, ST, S2 and their intervals for every output element, through a surrogate.

    Parameters
    ----------
    u : numpy.ndarray
        Design points in the unit cube, shape ``(n, d)``.
    y : numpy.ndarray
        Model outputs at those points, shape ``(n,)`` or ``(n, K)``.
    params : sequence of str
        Input names, in design-column order.
    distributions : sequence of str
        Each input's distribution name (it chooses the polynomial family and the germ).
    kind : {"pce", "gp"}
        The surrogate.
    conf_level : float
        Level of the percentile intervals.
    resamples : int
        Bootstrap resamples (PCE) or posterior draws (GP, at most :data:`GP_DRAWS`).
    rng : numpy.random.Generator, optional
    elements : sequence of str, optional
        Labels of the output elements (for the notes).
    q2_min : float
        Q² below which an element's indices are withheld.

    Returns
    -------
    xarray.Dataset
        ``S1``, ``ST`` (``element, param``) and ``S2`` (``element, param, param2``), each with
        ``_low``, ``_high`` and ``_conf`` (half-width); ``influential`` (ST's lower end above
        :data:`INFLUENTIAL_ST`); per element ``Q2``, ``degree``, ``terms`` and ``status``
        (``ok``, ``constant`` or ``unreliable: ...``).

    Examples
    --------
    >>> u = np.random.default_rng(0).random((64, 2))
    >>> ds = surrogate_indices(u, 3 * u[:, 0] + u[:, 1], params=["a", "b"], distributions=["uniform"] * 2,
    ...                        rng=np.random.default_rng(1), resamples=20)
    >>> np.round(ds.S1.values, 3).tolist(), str(ds.status.values[0])
    ([[0.9, 0.1]], 'ok')
    """
    rng = rng or np.random.default_rng()
    y = np.asarray(y, float).reshape(len(u), -1)
    families = [family(dist) for dist in distributions]
    z = germ(np.asarray(u, float), families)
    d, k = len(params), y.shape[1]
    names = list(elements) if elements is not None else [f"element {e}" for e in range(k)]
    fields = {v: np.full((k, d), np.nan) for v in ("S1", "ST")}
    fields |= {f"{v}_{s}": np.full((k, d), np.nan) for v in ("S1", "ST") for s in ("low", "high")}
    s2 = {s: np.full((k, d, d), np.nan) for s in ("S2", "S2_low", "S2_high")}
    q2, degree, terms, status = np.full(k, np.nan), np.zeros(k, int), np.zeros(k, int), []
    tail = (1 - conf_level) / 2 * 100
    from threadpoolctl import threadpool_limits

    # Hundreds of small factorisations: threaded BLAS only contends (measured 4x slower on 2 cores).
    with threadpool_limits(1):
        for e in range(k):
            status.append(_element(e, z, y[:, e], families, kind, resamples, rng, q2_min, names[e], tail,
                                   fields, s2, q2, degree, terms))
    return _dataset(fields, s2, q2, degree, terms, status, params, kind, len(u), q2_min, conf_level)


def _element(e, z, ye, families, kind, resamples, rng, q2_min, name, tail, fields, s2, q2, degree, terms) -> str:
    """Fit one output element, fill its row of the result arrays, and return its status."""
    if not np.all(np.isfinite(ye)):
        return "unreliable: the output is not finite at every design point"
    if np.ptp(ye) <= 1e-12 * max(1.0, np.abs(ye).max()):
        return "constant"
    if kind == "pce":
        point, draws, info = _pce_element(z, ye, families, resamples, rng)
    else:
        point, draws, info = _gp_element(z, ye, families, min(resamples, GP_DRAWS), rng)
    q2[e], degree[e], terms[e] = info["Q2"], info["degree"], info["terms"]
    if point is None:
        return f"unreliable: no polynomial basis could be fitted to {len(ye)} runs ({name})"
    if info["Q2"] < q2_min:
        return f"unreliable: surrogate leave-one-out Q² {info['Q2']:.3g} below {q2_min:g} ({name})"
    miss = max(0.0, 1 - info["Q2"])
    for v, p, dr in (("S1", point[0], draws[0]), ("ST", point[1], draws[1])):
        fields[v][e] = p
        fields[f"{v}_low"][e], fields[f"{v}_high"][e] = _interval(p, dr, tail, miss)
    s2["S2"][e] = point[2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the NaN diagonal
        s2["S2_low"][e], s2["S2_high"][e] = _interval(point[2], draws[2], tail, miss)
    return "ok"


def _interval(point, draws, tail: float, miss: float):
    """Percentile interval of the draws, widened by what the surrogate's error could move.

    The bootstrap (or the posterior) sees the sampling error only, not the surrogate's own.
    An error ``e`` of relative variance ``miss`` (about 1 - Q²) changes a partial variance
    ``V_u`` by at most ``2 sqrt(V_u Var e) + Var e`` (Cauchy-Schwarz), so the index by about
    ``2 sqrt(S_u miss) + miss``.
    """
    low, high = np.nanpercentile(draws, [tail, 100 - tail], axis=0)
    pad = 2 * np.sqrt(np.clip(point, 0, 1) * miss) + miss
    return np.clip(low - pad, 0, 1), np.clip(high + pad, 0, 1)


def _dataset(fields, s2, q2, degree, terms, status, params, kind, runs, q2_min, conf_level) -> xr.Dataset:
    data = {v: (("element", "param"), a) for v, a in fields.items()}
    data |= {v: (("element", "param", "param2"), a) for v, a in s2.items()}
    for v in ("S1", "ST", "S2"):
        data[f"{v}_conf"] = (data[v][0], (data[f"{v}_high"][1] - data[f"{v}_low"][1]) / 2)
    data["influential"] = (("element", "param"), fields["ST_low"] > INFLUENTIAL_ST)
    data |= {"Q2": ("element", q2), "degree": ("element", degree), "terms": ("element", terms),
             "status": ("element", np.array(status, dtype=object))}
    return xr.Dataset(data, coords={"param": list(params), "param2": list(params)},
                      attrs={"surrogate": kind, "runs": runs, "q2_min": q2_min, "conf_level": conf_level})
