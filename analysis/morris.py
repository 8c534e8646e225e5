"""Morris screening: elementary effects and their mu, mu*, sigma, for many outputs at once.

Elementary effects are taken per grid step in the unit cube (the change of the factor's
CDF value), not per physical step: parameters with different units then share one
scale. ``mu*`` is Campolongo et al.'s (2007) mean absolute effect; ``sigma`` the standard
deviation of the effects (Morris 1991), a sign of interactions or non-linearity.

Every effect is divided by the Morris step ``Δ = p / (2 (p - 1))`` of the closed grid
``0, 1/(p-1), …, 1``, with the sign of the observed move, exactly as
``SALib.analyze.morris`` does. The design may also be shifted to the bin-centre grid
``(2i + 1) / (2p)``, where the observed step is 1/2; dividing by that step instead made
``mu*`` ``p / (p - 1)`` times SALib's on the same trajectories. With Δ the numbers do not
depend on the shift, and they equal SALib's on either grid.

References
----------
Morris, M. D. (1991). Technometrics 33(2), 161-174. doi:10.1080/00401706.1991.10484804

Campolongo, F., Cariboni, J., Saltelli, A. (2007). Environmental Modelling & Software
22(10), 1509-1518. doi:10.1016/j.envsoft.2006.10.004
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from study.errors import InternalError, RunError, StudyError
from study.morris_design import group_membership, morris_step

from .methods import Method
from .tidy import flatten, labelled, tidy_rows

_WHERE = "analysis.morris"
_TOL = 1e-9


def _check_common(y: np.ndarray, n: int, conf_level: float, resamples: int, elements, where: str):
    """Shared checks of outputs and bootstrap settings; returns y as (n, K) and labels."""
    y = np.asarray(y, dtype=float)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2 or y.shape[0] != n:
        raise InternalError(where, "y", f"must have shape (n, K) with n = {n} rows; got shape {y.shape}")
    if elements is None:
        elements = [str(k) for k in range(y.shape[1])]
    elements = list(elements)
    if len(elements) != y.shape[1]:
        raise InternalError(where, "elements", f"must label every output column ({y.shape[1]}); got {len(elements)}")
    bad = ~np.isfinite(y)
    if bad.any():
        k = int(np.flatnonzero(bad.any(axis=0))[0])
        rows = np.flatnonzero(bad[:, k])
        raise StudyError(where, "y", f"must be finite; got {float(y[rows[0], k])!r} in output {elements[k]!r} "
                                     f"at row {int(rows[0])} ({rows.size} of {n} rows)")
    if not 0 < conf_level < 1:
        raise InternalError(where, "conf_level", f"must be in (0, 1); got {conf_level!r}")
    if not isinstance(resamples, (int, np.integer)) or resamples < 2:
        raise InternalError(where, "resamples", f"must be an integer >= 2; got {resamples!r}")
    return y, elements


def elementary_effects(u: np.ndarray, y: np.ndarray, *, num_levels: int,
                       groups: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Elementary effects of every factor on every output, per trajectory.

    Parameters
    ----------
    u : ndarray, shape (r * (G + 1), d)
        Unit-cube Morris design (blocks of ``G + 1`` rows), as from
        :func:`study.morris_design.morris_unit`, optionally shifted to bin centres.
    y : ndarray, shape (r * (G + 1), K)
        Outputs at the design points.
    num_levels : int
        Grid levels ``p`` the design was built with; checks the step size.
    groups : sequence of str, optional
        Group label of each factor, as given to the design.

    Returns
    -------
    ee : ndarray, shape (r, d, K)
        ``± (y(x ± δ e_j) - y(x)) / Δ``: the output change when factor ``j`` moves by its
        observed step ``δ`` (Δ on the closed grid, 1/2 on the bin-centre grid), signed
        by the move's direction and divided by Δ = :func:`study.morris_design.morris_step`,
        as SALib does.
    step : ndarray, shape (r, d)
        The signed observed unit-cube step of each factor.
    """
    u = np.asarray(u, dtype=float)
    if u.ndim != 2:
        raise InternalError(_WHERE, "u", f"must be a 2-d array (rows, factors); got shape {u.shape}")
    n, d = u.shape
    names, member = group_membership(d, groups)
    g = len(names)
    if n % (g + 1) or n < 2 * (g + 1):
        raise InternalError(_WHERE, "u", f"must hold at least 2 whole trajectories of {g + 1} rows; got {n} rows")
    r = n // (g + 1)
    du = np.diff(u.reshape(r, g + 1, d), axis=1)  # (r, G, d)
    moves = np.abs(du) > _TOL
    # Each step must move exactly one whole group, and each group must move exactly once.
    step_group = np.where(moves[:, :, None, :] & (member == np.arange(g)[:, None])[None, None], 1, 0)
    counts = step_group.sum(axis=3)  # (r, G steps, G groups): moved members per group
    sizes = np.bincount(member, minlength=g)
    whole = (counts == sizes) | (counts == 0)
    one = (counts > 0).sum(axis=2) == 1
    once = (counts > 0).sum(axis=1) == 1
    if not (whole.all() and one.all() and once.all()):
        t = int(np.flatnonzero(~(whole.all(axis=(1, 2)) & one.all(axis=1) & once.all(axis=1)))[0])
        raise InternalError(_WHERE, "u", f"must be Morris trajectories moving one group per step; got "
                                      f"trajectory {t} (rows {t * (g + 1)}-{(t + 1) * (g + 1) - 1}) breaking that")
    size = np.abs(du[moves])
    allowed = (morris_step(num_levels), 0.5)
    fits = [bool(np.all(np.abs(size - s) <= _TOL)) for s in allowed]
    if not any(fits):
        raise InternalError(_WHERE, "u", f"must move every factor by the unit-cube step {allowed[0]!r} "
                                      f"(closed grid, {num_levels} levels) or 0.5 (bin-centre grid); "
                                      f"got steps from {float(size.min())!r} to {float(size.max())!r} (physical values?)")
    at = np.argmax(moves, axis=1)  # (r, d): the step at which each factor moves
    step = np.take_along_axis(du, at[:, None, :], axis=1)[:, 0, :]
    dy = np.diff(y.reshape(r, g + 1, -1), axis=1)  # (r, G, K)
    # SALib's convention: the grid step Δ whatever the grid's shift (module notes).
    ee = np.take_along_axis(dy, at[:, :, None], axis=1) / (np.sign(step) * allowed[0])[:, :, None]
    return ee, step


def morris_indices(u: np.ndarray, y: np.ndarray, *, params: Sequence[str], num_levels: int,
                   conf_level: float = 0.95, resamples: int = 1000, rng: np.random.Generator,
                   groups: Sequence[str] | None = None, elements: Sequence[str] | None = None) -> xr.Dataset:
    """Morris ``mu``, ``mu_star``, ``sigma`` and a bootstrap interval for ``mu_star``.

    Parameters
    ----------
    u : ndarray, shape (r * (G + 1), d)
        The unit-cube design (not the physical values: effects use the unit step).
    y : ndarray, shape (r * (G + 1),) or (r * (G + 1), K)
        Outputs; each column is analysed on its own.
    params : sequence of str, length d
        Factor names, in column order.
    num_levels : int
        Grid levels of the design.
    conf_level : float, default 0.95
    resamples : int, default 1000
        Bootstrap resamples of whole trajectories.
    rng : numpy.random.Generator
        Source of the bootstrap draws.
    groups : sequence of str, optional
        Group label of each factor, as given to the design; results are then per group.
    elements : sequence of str, optional
        Labels of the output columns; default ``"0", "1", …``.

    Returns
    -------
    xarray.Dataset
        ``mu``, ``mu_star``, ``sigma``, ``mu_star_conf`` over ``("element", "param")``;
        ``param`` holds group names when ``groups`` is given. ``mu_star_conf`` is the
        half-width ``z * sd`` of the bootstrap distribution of ``mu_star``, as in SALib.

    Raises
    ------
    study.errors.StudyError
        If an output is not finite (naming the output and row).
    study.errors.InternalError
        If the design is not a Morris design with ``num_levels`` levels, or shapes
        disagree (a caller's bug: the loader refuses every study that could cause it).

    Notes
    -----
    Statistics equal ``SALib.analyze.morris.analyze`` on the same unit-cube trajectories
    (closed or bin-centre grid), with three
    deliberate differences. The bootstrap resamples whole trajectories once for all
    factors and outputs (SALib draws anew per factor), so the intervals of different
    factors come from the same resamples. For a group of more than one factor ``mu``
    and ``sigma`` are NaN: its members move in independent directions, so signed
    effects of the group have no meaning (SALib averages the members' ``mu`` and also
    leaves ``sigma`` NaN). ``mu_star`` of a group is the mean of ``|Δy| / Δ``, which
    equals SALib's mean of its members' ``mu_star``.
    """
    u = np.asarray(u, dtype=float)
    params = [str(p) for p in params]
    if u.ndim != 2 or u.shape[1] != len(params):
        raise InternalError(_WHERE, "params", f"must name every column of u ({u.shape[-1]}); got {len(params)}")
    y, elements = _check_common(y, u.shape[0], conf_level, resamples, elements, _WHERE)
    ee, _ = elementary_effects(u, y, num_levels=num_levels, groups=groups)
    names, member = group_membership(len(params), groups)
    if groups is None:
        names = tuple(params)
    r, g = ee.shape[0], len(names)
    sizes = np.bincount(member, minlength=g)
    # Members of a group share |Δy| / |Δ|, so the group's |effect| is their mean.
    onehot = (member[:, None] == np.arange(g)[None, :]) / sizes
    abs_ee = np.einsum("rdk,dg->rgk", np.abs(ee), onehot)  # (r, G, K)
    mu_star = abs_ee.mean(axis=0)
    single = sizes == 1
    first = np.array([np.flatnonzero(member == i)[0] for i in range(g)])
    signed = ee[:, first, :]
    mu = np.where(single[:, None], signed.mean(axis=0), np.nan)
    sigma = np.where(single[:, None], signed.std(axis=0, ddof=1), np.nan)
    # Bootstrap as counts of each trajectory per resample: one matrix product serves
    # every factor and output.
    draws = rng.integers(r, size=(resamples, r))
    counts = np.zeros((resamples, r))
    np.add.at(counts, (np.arange(resamples)[:, None], draws), 1.0)
    boot = counts @ abs_ee.reshape(r, -1) / r  # (resamples, G*K)
    from scipy.stats import norm  # here: scipy.stats costs ~0.9 s to import, and every command loads the registry

    conf = norm.ppf(0.5 + conf_level / 2) * boot.std(axis=0, ddof=1).reshape(g, -1)
    dims = ("element", "param")
    return xr.Dataset(
        {"mu": (dims, mu.T), "mu_star": (dims, mu_star.T), "sigma": (dims, sigma.T),
         "mu_star_conf": (dims, conf.T)},
        coords={"element": elements, "param": list(names)},
        attrs={"method": "morris", "conf_level": conf_level, "resamples": resamples,
               "trajectories": r, "num_levels": num_levels, "effect_step": "unit-cube",
               "conf_method": "bootstrap over trajectories, z * sd"},
    )


# -- the method as a run's analysis runs it (analysis.methods) ---------------------------

def analyze(run, settings, rng) -> xr.Dataset | None:
    """Elementary effects of every output on the run's Morris design (its main or its own file)."""
    design = None if run.study.sampling.method == "morris" else "morris"
    try:
        res = run.open_results(design)
    except RunError:
        return None
    with res:
        grid, params, levels = stored_grid(run, res, design)
        return _morris_outputs(run, res, grid, params, levels, settings, rng)


def stored_grid(run, res: xr.Dataset, design: str | None) -> tuple[np.ndarray, list[str], int]:
    """The unit-cube points the Morris design was run on, their parameters and grid levels.

    Read from the results file (its ``/design`` group and ``levels`` attribute); a run
    written before the points were stored gets the design made from its recorded seed.

    Raises
    ------
    study.errors.RunError
        If the points are not one per sample, or not on the grid of the stored number of
        levels (an edited file: the analysis would divide by the wrong step).
    """
    name = "results.nc" if design is None else f"results-{design}.nc"
    stored = run.design_points(design)
    if stored is None:  # sealed before the points were stored: the design from the seed
        made = run.design("morris", res.attrs.get("trajectories"))
        grid, params = made.unit(0, made.n_blocks)[0], list(made.params)
        levels = int(res.attrs.get("levels", made.levels))
    else:
        grid, params = stored
        levels = int(res.attrs.get("levels", run.study.analysis.morris_levels))
    if grid.shape[0] != res.sizes["sample"]:
        raise RunError(run.path / name, "", f"must hold the {grid.shape[0]} points of the recorded Morris design; "
                       f"got {res.sizes['sample']}")
    k = grid * levels - 0.5  # bin centres (2i + 1) / (2p): k = i, an integer in [0, p - 1]
    if levels < 2 or not np.allclose(k, np.round(k), atol=1e-6) or k.min() < -1e-6 or k.max() > levels - 1 + 1e-6:
        raise RunError(run.path / name, "levels", f"must be the number of grid levels of the stored Morris "
                       f"points; got {levels}")
    return grid, params, levels


def _morris_outputs(run, res, grid, params, levels, settings, rng) -> xr.Dataset | None:
    a = run.study.analysis
    out = []
    for o in settings.outputs:
        values, index, dims = flatten(res[o])
        ds = morris_indices(grid, values, params=params, num_levels=levels, conf_level=a.conf_level,
                            resamples=a.resamples, rng=rng("morris", o))
        ds = ds.assign_coords(element=np.arange(ds.sizes["element"]))
        settings.rows.extend(tidy_rows(ds, "morris", o, dims, index, {
            "mu_star": ("param", "Morris (1991), |EE| mean (Campolongo et al. 2007)"),
            "sigma": ("param", "Morris (1991), standard deviation of EE"),
            "mu": ("param", "Morris (1991), mean EE")}, "bootstrap over trajectories, normal interval"))
        out.append(labelled(ds, o, index))
    return xr.merge(out, compat="override", join="outer") if out else None


METHOD = Method(name="morris", rank_index="mu_star", label="Morris μ*", text_label="Morris mu*", on_draws=False,
                analyze=analyze, design="morris")
