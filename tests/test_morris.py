"""Morris design and elementary effects: exact on linear models, equal to SALib 1.6."""

import numpy as np
import pytest
from SALib.analyze import morris as salib_morris

from analysis.morris import elementary_effects, morris_indices
from study.errors import InternalError, StudyError
from study.morris_design import morris_step, morris_unit

NAMES = ["x1", "x2", "x3", "x4", "x5"]


def ishigami_unit(u, a=7.0, b=0.1):
    x = -np.pi + 2 * np.pi * u
    return np.sin(x[:, 0]) + a * np.sin(x[:, 1]) ** 2 + b * x[:, 2] ** 4 * np.sin(x[:, 0])


def salib(u, y, names, levels, seed, groups=None, resamples=300):
    problem = {"num_vars": len(names), "names": names, "bounds": [[0.0, 1.0]] * len(names)}
    if groups is not None:
        problem["groups"] = list(groups)
    return salib_morris.analyze(problem, u, np.ascontiguousarray(y), num_resamples=resamples,
                                num_levels=levels, seed=seed)


@pytest.mark.parametrize("levels", [2, 4, 6, 8])
def test_design_moves_each_factor_once_by_the_step_on_the_grid(levels):
    u, meta = morris_unit(5, 40, levels, rng=np.random.default_rng(3))
    assert u.shape == (40 * 6, 5)
    traj = u.reshape(40, 6, 5)
    du = np.diff(traj, axis=1)
    moved = np.abs(du) > 1e-12
    assert (moved.sum(axis=1) == 1).all() and (moved.sum(axis=2) == 1).all()
    np.testing.assert_allclose(np.abs(du[moved]), levels / (2 * (levels - 1)), rtol=0, atol=1e-15)
    grid = np.round(u * (levels - 1))
    np.testing.assert_allclose(u * (levels - 1), grid, atol=1e-12)
    assert grid.min() >= 0 and grid.max() <= levels - 1
    assert meta["step"] == morris_step(levels)
    # the recorded order and directions describe the moves
    np.testing.assert_array_equal(np.argmax(moved, axis=2), meta["order"])
    np.testing.assert_array_equal(np.sign(du.sum(axis=1)), meta["direction"])


def test_design_is_reproducible_from_the_generator_and_varies_with_it():
    a, _ = morris_unit(4, 10, rng=np.random.default_rng(np.random.SeedSequence(7)))
    b, _ = morris_unit(4, 10, rng=np.random.default_rng(np.random.SeedSequence(7)))
    c, _ = morris_unit(4, 10, rng=np.random.default_rng(np.random.SeedSequence(8)))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_design_uses_every_start_level_and_both_directions():
    u, meta = morris_unit(3, 400, 6, rng=np.random.default_rng(0))
    starts = np.round(u.reshape(400, 4, 3)[:, 0, :] * 5).astype(int)
    assert set(np.unique(starts)) == {0, 1, 2, 3, 4, 5}
    assert set(np.unique(meta["direction"])) == {-1, 1}


def test_grouped_design_moves_whole_groups_together():
    groups = ["a", "b", "a", "c", "b"]
    u, meta = morris_unit(5, 30, rng=np.random.default_rng(1), groups=groups)
    assert u.shape == (30 * 4, 5) and meta["groups"] == ("a", "b", "c")
    moved = np.abs(np.diff(u.reshape(30, 4, 5), axis=1)) > 1e-12
    np.testing.assert_array_equal(moved[:, :, 0], moved[:, :, 2])
    np.testing.assert_array_equal(moved[:, :, 1], moved[:, :, 4])
    assert (moved.sum(axis=1) == 1).all()


@pytest.mark.parametrize("kwargs, key, text", [
    ({"levels": 5}, "levels", "must be even"),
    ({"levels": 1}, "levels", "must be an integer >= 2; got 1"),
    ({"trajectories": 1}, "trajectories", "must be an integer >= 2; got 1"),
    ({"groups": ["a", "b"]}, "groups", "must give one group label per factor (3); got 2"),
])
def test_design_rejects_bad_arguments(kwargs, key, text):
    args = {"d": 3, "trajectories": 4, "levels": 4, "rng": np.random.default_rng(0), **kwargs}
    with pytest.raises(StudyError, match=key) as err:
        morris_unit(**args)
    assert text in str(err.value)


@pytest.mark.parametrize("centred", [False, True])
def test_linear_model_effects_equal_the_coefficients(centred):
    levels = 4
    u, _ = morris_unit(5, 25, levels, rng=np.random.default_rng(11))
    if centred:
        u = (u * (levels - 1) + 0.5) / levels
    coef = np.array([[3.0, -2.0, 0.5, 0.0, 10.0], [1.0, 1.0, 1.0, 1.0, 1.0]])
    y = u @ coef.T + np.array([4.0, -1.0])
    ee, step = elementary_effects(u, y, num_levels=levels)
    # Effects are per grid step Δ = 2/3 (SALib's): on the bin-centre grid a move is 1/2 in
    # the unit cube, so a slope c gives c * (1/2) / (2/3) = 3c/4.
    scale = 0.75 if centred else 1.0
    np.testing.assert_allclose(ee, np.broadcast_to(scale * coef.T, ee.shape), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.abs(step), 0.5 if centred else 2 / 3, rtol=1e-15)
    ds = morris_indices(u, y, params=NAMES, num_levels=levels, resamples=50,
                        rng=np.random.default_rng(0), elements=["a", "b"])
    np.testing.assert_allclose(ds.mu.values, scale * coef, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ds.mu_star.values, scale * np.abs(coef), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ds.sigma.values, 0.0, atol=1e-12)
    np.testing.assert_allclose(ds.mu_star_conf.values, 0.0, atol=1e-12)


def test_salib_reads_the_design_and_recovers_linear_coefficients():
    u, _ = morris_unit(5, 20, 4, rng=np.random.default_rng(2))
    coef = np.array([1.0, -4.0, 2.5, 0.0, 7.0])
    res = salib(u, u @ coef, NAMES, 4, seed=1)
    np.testing.assert_allclose(res["mu"], coef, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(res["mu_star"], np.abs(coef), rtol=1e-12, atol=1e-12)


def test_ishigami_indices_equal_salib_on_the_same_design():
    names = ["x1", "x2", "x3", "x4"]
    u, _ = morris_unit(4, 60, 4, rng=np.random.default_rng(5))
    y = np.stack([ishigami_unit(u), ishigami_unit(u, a=2.0, b=0.3) + u[:, 3]], axis=1)
    ds = morris_indices(u, y, params=names, num_levels=4, resamples=2000, rng=np.random.default_rng(9))
    for k in range(2):
        ref = salib(u, y[:, k], names, 4, seed=9, resamples=2000)
        for key in ("mu", "mu_star", "sigma"):
            np.testing.assert_allclose(ds[key].values[k], ref[key], rtol=0, atol=1e-10)
        # The first factor's bootstrap draws are SALib's; the others use the same
        # trajectory resamples (SALib draws per factor), so they agree to Monte Carlo error.
        np.testing.assert_allclose(ds.mu_star_conf.values[k, 0], ref["mu_star_conf"][0], rtol=1e-12)
        np.testing.assert_allclose(ds.mu_star_conf.values[k], ref["mu_star_conf"], rtol=0.12, atol=1e-12)
    # x4 does not enter Ishigami; in the second output its effect is exactly 1
    assert ds.mu_star.values[0, 3] == 0.0
    np.testing.assert_allclose(ds.mu.values[1, 3], 1.0, rtol=1e-12)


@pytest.mark.parametrize("levels", [4, 6])
def test_bin_centre_trajectories_give_salibs_statistics(levels):
    # The study evaluates models on the bin-centre grid (u (p - 1) + 1/2) / p, where a move
    # is 1/2 in the unit cube. Dividing by that move made mu* p / (p - 1) times SALib's.
    u, _ = morris_unit(3, 30, levels, rng=np.random.default_rng(levels))
    u = (u * (levels - 1) + 0.5) / levels
    y = ishigami_unit(u)
    ds = morris_indices(u, y, params=NAMES[:3], num_levels=levels, resamples=300,
                        rng=np.random.default_rng(3))
    ref = salib(u, y, NAMES[:3], levels, seed=3)
    for key in ("mu", "mu_star", "sigma"):
        np.testing.assert_allclose(ds[key].values[0], ref[key], rtol=1e-12, atol=1e-12, err_msg=key)
    np.testing.assert_allclose(ds.mu_star_conf.values[0, 0], ref["mu_star_conf"][0], rtol=1e-12)


def test_grouped_mu_star_equals_salib_and_signed_statistics_are_nan():
    groups = ["g1", "g2", "g1", "x4", "g2"]
    u, _ = morris_unit(5, 40, 4, rng=np.random.default_rng(8), groups=groups)
    y = ishigami_unit(u) + 3 * u[:, 3] - u[:, 4] ** 2
    ds = morris_indices(u, y, params=NAMES, num_levels=4, resamples=100, rng=np.random.default_rng(0),
                        groups=groups)
    ref = salib(u, y, NAMES, 4, seed=0, groups=groups)
    assert list(ds.param.values) == ["g1", "g2", "x4"]
    np.testing.assert_allclose(ds.mu_star.values[0], ref["mu_star"], rtol=0, atol=1e-10)
    assert np.isnan(ds.mu.values[0, :2]).all() and np.isnan(ds.sigma.values[0, :2]).all()
    np.testing.assert_allclose(ds.mu.values[0, 2], 3.0, rtol=1e-12)
    np.testing.assert_allclose(ds.sigma.values[0, 2], 0.0, atol=1e-12)


def test_constant_output_has_zero_effects():
    u, _ = morris_unit(3, 5, rng=np.random.default_rng(0))
    ds = morris_indices(u, np.full(len(u), 2.5), params=NAMES[:3], num_levels=4, resamples=20,
                        rng=np.random.default_rng(0))
    np.testing.assert_array_equal(ds.mu_star.values, 0.0)
    np.testing.assert_array_equal(ds.sigma.values, 0.0)


def test_bootstrap_is_reproducible_from_the_generator():
    u, _ = morris_unit(3, 10, rng=np.random.default_rng(0))
    y = ishigami_unit(u)
    a = morris_indices(u, y, params=NAMES[:3], num_levels=4, resamples=50, rng=np.random.default_rng(4))
    b = morris_indices(u, y, params=NAMES[:3], num_levels=4, resamples=50, rng=np.random.default_rng(4))
    np.testing.assert_array_equal(a.mu_star_conf.values, b.mu_star_conf.values)
    assert (a.mu_star_conf.values > 0).all()


def test_physical_values_are_rejected_with_the_expected_step():
    u, _ = morris_unit(3, 5, rng=np.random.default_rng(0))
    with pytest.raises(InternalError, match=r"analysis\.morris: u: must move every factor by the unit-cube "
                                         r"step 0\.666.* \(closed grid, 4 levels\) or 0\.5"):
        morris_indices(10 * u, u.sum(axis=1), params=NAMES[:3], num_levels=4, rng=np.random.default_rng(0))


def test_broken_layout_names_the_trajectory():
    u, _ = morris_unit(3, 5, rng=np.random.default_rng(0))
    u[9, :] = u[8, :]  # trajectory 2 (rows 8-11) now repeats a point
    with pytest.raises(InternalError, match=r"u: must be Morris trajectories moving one group per step; "
                                         r"got trajectory 2 \(rows 8-11\)"):
        morris_indices(u, u.sum(axis=1), params=NAMES[:3], num_levels=4, rng=np.random.default_rng(0))
    with pytest.raises(InternalError, match=r"must hold at least 2 whole trajectories of 4 rows; got 19 rows"):
        morris_indices(u[:19], u[:19].sum(axis=1), params=NAMES[:3], num_levels=4,
                       rng=np.random.default_rng(0))


def test_non_finite_output_is_named():
    u, _ = morris_unit(3, 5, rng=np.random.default_rng(0))
    y = np.stack([u.sum(axis=1), u.sum(axis=1)], axis=1)
    y[6, 1] = np.nan
    with pytest.raises(StudyError, match=r"y: must be finite; got nan in output 'cost' at row 6 \(1 of 20 rows\)"):
        morris_indices(u, y, params=NAMES[:3], num_levels=4, rng=np.random.default_rng(0),
                       elements=["gain", "cost"])
