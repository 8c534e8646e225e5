"""Analytic reference models and their exact Sobol' indices.

Each model is a plain study model (``f(x: xr.Dataset) -> xr.Dataset``, output ``y``) whose
first-order (``S1``), total-order (``ST``) and second-order (``S2``) indices are known in
closed form, so estimators can be tested against the truth:

- :func:`ishigami` (Ishigami & Homma 1990), inputs uniform on ``[-pi, pi]``;
- :func:`sobol_g` (Sobol' 1993 G-function), inputs uniform on ``[0, 1]``;
- :func:`additive`, ``sum_p c_p x_p`` with any independent inputs: indices are the
  variance shares ``c_p^2 Var(x_p) / sum_q c_q^2 Var(x_q)``;
- :func:`product`, ``prod_p x_p`` with independent inputs of means ``m_p`` and variances
  ``v_p``: the variance of the effect of a set ``u`` of inputs is
  ``prod_{p in u} v_p prod_{p not in u} m_p^2``.

The ``*_indices`` functions return an ``xr.Dataset`` with ``S1``, ``ST`` on ``param`` and a
symmetric ``S2`` on ``(param, param2)`` (NaN on the diagonal).

References
----------
Ishigami, T., Homma, T. (1990). An importance quantification technique in uncertainty
analysis for computer models. ISUMA '90. https://doi.org/10.1109/ISUMA.1990.151285

Saltelli, A. et al. (2010), Comput. Phys. Commun. 181, 259-270 (G-function indices, their
eqs. 29-31). https://doi.org/10.1016/j.cpc.2009.09.018
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr

#: Inputs of the additive and product references: name -> (distribution, arguments), with
#: the study file's distribution names and argument keys.
NON_UNIFORM_INPUTS = {
    "x1": ("normal", {"mean": 1.0, "sd": 0.5}),
    "x2": ("triangular", {"low": 0.0, "mode": 1.0, "high": 4.0}),
    "x3": ("lognormal", {"meanlog": 0.0, "sdlog": 0.5}),
    "x4": ("uniform", {"low": -1.0, "high": 1.0}),
}


def ishigami(x: xr.Dataset, a: float = 7.0, b: float = 0.1) -> xr.Dataset:
    """Ishigami-Homma function ``sin x1 + a sin^2 x2 + b x3^4 sin x1``.

    Constants ``a`` and ``b`` in ``x`` (0-d variables) override the keyword defaults.
    """
    a, b = x.get("a", a), x.get("b", b)
    y = np.sin(x.x1) + a * np.sin(x.x2) ** 2 + b * x.x3**4 * np.sin(x.x1)
    return xr.Dataset({"y": y})


def ishigami_indices(a: float = 7.0, b: float = 0.1) -> xr.Dataset:
    """Exact indices of :func:`ishigami` with inputs uniform on ``[-pi, pi]``."""
    pi4 = math.pi**4
    v1 = 0.5 * (1 + b * pi4 / 5) ** 2
    v2 = a**2 / 8
    v13 = b**2 * pi4**2 * (1 / 18 - 1 / 50)
    total = v1 + v2 + v13
    s2 = np.zeros((3, 3))
    s2[0, 2] = s2[2, 0] = v13 / total
    return _indices(["x1", "x2", "x3"], np.array([v1, v2, 0]) / total,
                    np.array([v1 + v13, v2, v13]) / total, s2)


def sobol_g_values(u: np.ndarray, a: Sequence[float]) -> np.ndarray:
    """G-function on an array of unit-cube points ``(..., d)``."""
    a = np.asarray(a, dtype=float)
    return np.prod((np.abs(4 * u - 2) + a) / (1 + a), axis=-1)


def sobol_g(x: xr.Dataset, a: Sequence[float] | None = None) -> xr.Dataset:
    """Sobol' G-function ``prod_p (|4 x_p - 2| + a_p) / (1 + a_p)``.

    The parameters are the variables of ``x`` along ``sample`` (in ``x``'s order); the
    coefficient of ``p`` is the constant ``a_<p>`` in ``x`` unless ``a`` is given.
    """
    names = [v for v in x.data_vars if "sample" in x[v].dims]
    if a is None:
        a = [float(x[f"a_{p}"]) for p in names]
    y = 1.0
    for p, coef in zip(names, a, strict=True):
        y = y * (np.abs(4 * x[p] - 2) + coef) / (1 + coef)
    return xr.Dataset({"y": y})


def sobol_g_indices(a: Sequence[float], names: Sequence[str] | None = None) -> xr.Dataset:
    """Exact indices of :func:`sobol_g`: ``V_p = 1 / (3 (1 + a_p)^2)``."""
    a = np.asarray(a, dtype=float)
    v = 1 / (3 * (1 + a) ** 2)
    total = np.prod(1 + v) - 1
    st = v * np.prod(1 + v) / (1 + v) / total
    names = list(names) if names is not None else [f"x{i + 1}" for i in range(len(a))]
    return _indices(names, v / total, st, np.outer(v, v) / total)


def additive(x: xr.Dataset, c: Mapping[str, float] | None = None) -> xr.Dataset:
    """Linear model ``sum_p c_p x_p``; ``c_p`` from the constant ``c_<p>`` unless given."""
    names = [v for v in x.data_vars if "sample" in x[v].dims]
    c = c or {p: float(x[f"c_{p}"]) for p in names}
    return xr.Dataset({"y": sum(c[p] * x[p] for p in names)})


def additive_indices(inputs: Mapping[str, tuple[str, dict]], c: Mapping[str, float]) -> xr.Dataset:
    """Exact indices of :func:`additive`: the variance shares of the terms."""
    names = list(inputs)
    v = np.array([c[p] ** 2 * variance(*inputs[p]) for p in names])
    return _indices(names, v / v.sum(), v / v.sum(), np.zeros((len(v), len(v))))


def product(x: xr.Dataset) -> xr.Dataset:
    """Product of all the parameters (variables of ``x`` along ``sample``)."""
    y = 1.0
    for p in (v for v in x.data_vars if "sample" in x[v].dims):
        y = y * x[p]
    return xr.Dataset({"y": y})


def product_indices(inputs: Mapping[str, tuple[str, dict]]) -> xr.Dataset:
    """Exact indices of :func:`product` for independent inputs."""
    names = list(inputs)
    m2 = np.array([mean(*inputs[p]) ** 2 for p in names])
    v = np.array([variance(*inputs[p]) for p in names])
    total = np.prod(m2 + v) - np.prod(m2)
    # Effect of the set {p}: v_p prod_{q != p} m_q^2 (well defined even when some m_q = 0).
    d = len(names)
    others = np.array([np.prod(np.delete(m2, p)) for p in range(d)])
    s1 = v * others / total
    st = v * np.array([np.prod(np.delete(m2 + v, p)) for p in range(d)]) / total
    s2 = np.array([[v[i] * v[j] * np.prod(np.delete(m2, [i, j])) if i != j else 0.0
                    for j in range(d)] for i in range(d)]) / total
    return _indices(names, s1, st, s2)


def mean(distribution: str, args: dict) -> float:
    """Mean of one of the study-file distributions (closed forms)."""
    if distribution == "uniform":
        return (args["low"] + args["high"]) / 2
    if distribution == "normal":
        return args["mean"]
    if distribution == "triangular":
        return (args["low"] + args["mode"] + args["high"]) / 3
    if distribution == "lognormal":
        return math.exp(args["meanlog"] + args["sdlog"] ** 2 / 2)
    raise ValueError(f"distribution must be uniform, normal, triangular or lognormal; got {distribution!r}")


def variance(distribution: str, args: dict) -> float:
    """Variance of one of the study-file distributions (closed forms)."""
    if distribution == "uniform":
        return (args["high"] - args["low"]) ** 2 / 12
    if distribution == "normal":
        return args["sd"] ** 2
    if distribution == "triangular":
        lo, mo, hi = args["low"], args["mode"], args["high"]
        return (lo**2 + mo**2 + hi**2 - lo * mo - lo * hi - mo * hi) / 18
    if distribution == "lognormal":
        s2 = args["sdlog"] ** 2
        return (math.exp(s2) - 1) * math.exp(2 * args["meanlog"] + s2)
    raise ValueError(f"distribution must be uniform, normal, triangular or lognormal; got {distribution!r}")


def saltelli_outputs(model, inputs: Mapping[str, tuple[str, dict]], n: int, *, replicates: int = 8,
                     seed: int = 0, second_order: bool = False,
                     groups: Mapping[str, Sequence[str]] | None = None,
                     constants: Mapping[str, float] | None = None) -> np.ndarray:
    """Evaluate a model on a replicated Saltelli design, as the Sobol' estimators take it.

    Each replicate is an independently scrambled Sobol' sequence seeded from its own child
    of ``SeedSequence(seed)``; blocks follow :func:`study.design.layout`.

    Parameters
    ----------
    model : callable
        ``model(x: xr.Dataset) -> xr.Dataset``.
    inputs : mapping
        Parameter name -> (distribution, arguments), in design-column order.
    n : int
        Base rows per replicate (a power of two).
    replicates, seed, second_order, groups, constants
        Design options; constants become 0-d variables of the model's input.

    Returns
    -------
    numpy.ndarray
        Shape ``(n, replicates, M, K)``; ``K`` runs over the elements of every output
        variable in turn (extra dimensions flattened).
    """
    from scipy.stats import qmc

    from study.design import cross
    from study.distributions import ppf

    params, d = list(inputs), len(inputs)
    children = np.random.SeedSequence(seed).spawn(replicates)
    base = np.stack([qmc.Sobol(2 * d, scramble=True, seed=np.random.default_rng(c)).random(n)
                     for c in children], axis=1)
    u = cross(base[..., :d], base[..., d:], params, groups, second_order)
    flat = u.reshape(-1, d)
    x = xr.Dataset({p: ("sample", ppf(dist, args, flat[:, j]))
                    for j, (p, (dist, args)) in enumerate(inputs.items())})
    for name, value in (constants or {}).items():
        x[name] = value
    out = model(x)
    ys = [out[v].transpose("sample", ...).values.reshape(len(flat), -1) for v in out.data_vars]
    return np.concatenate(ys, axis=1).reshape(*u.shape[:3], -1)


def _indices(names, s1, st, s2) -> xr.Dataset:
    s2 = np.array(s2, dtype=float)
    np.fill_diagonal(s2, np.nan)
    return xr.Dataset(
        {"S1": ("param", np.asarray(s1, float)), "ST": ("param", np.asarray(st, float)),
         "S2": (("param", "param2"), s2)},
        coords={"param": list(names), "param2": list(names)},
    )
