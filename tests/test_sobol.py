"""Sobol' estimators against analytic indices and against SALib 1.6.

Tolerances are the estimator's own intervals: each exact index must lie inside the
99.9 % replicate interval, and the intervals must be narrow enough for that to mean
something.
"""

import warnings

import numpy as np
import pytest
from SALib.analyze import sobol as salib_analyze
from SALib.sample import sobol as salib_sample

from analysis.sobol import sobol_indices
from study import testing
from study.design import cross, layout
from study.errors import InternalError, StudyError

PI = ("uniform", {"low": -np.pi, "high": np.pi})
UNIT = ("uniform", {"low": 0.0, "high": 1.0})


def assert_inside(ds, exact, names, width):
    """Every exact index lies inside its interval, and every interval is narrower than ``width``."""
    for name in names:
        est = ds[name].isel(element=0)
        low, high = ds[f"{name}_low"].isel(element=0), ds[f"{name}_high"].isel(element=0)
        truth = exact[name].sel({d: est[d] for d in est.dims})
        ok = ((low <= truth) & (truth <= high)) | truth.isnull()
        assert bool(ok.all()), f"{name}: exact {truth.values} outside [{low.values}, {high.values}]"
        assert float(ds[f"{name}_conf"].max()) < width, f"{name}: interval wider than {width}"


def test_ishigami_matches_exact_indices():
    inputs = {p: PI for p in ("x1", "x2", "x3")}
    y = testing.saltelli_outputs(testing.ishigami, inputs, 1024, replicates=8, seed=1,
                                 second_order=True)
    ds = sobol_indices(y, params=list(inputs), second_order=True, conf_level=0.999)
    assert_inside(ds, testing.ishigami_indices(7, 0.1), ["S1", "ST", "S2"], width=0.05)


@pytest.mark.parametrize("a", [[0, 1, 4.5, 9, 99, 99], [0, 0, 0, 0], [0.5, 1, 2, 3, 5, 9, 50, 99]])
def test_sobol_g_matches_exact_indices(a):
    names = [f"x{i + 1}" for i in range(len(a))]
    inputs = {p: UNIT for p in names}
    y = testing.saltelli_outputs(testing.sobol_g, inputs, 1024, replicates=8, seed=2,
                                 second_order=True, constants={f"a_{p}": c for p, c in zip(names, a)})
    ds = sobol_indices(y, params=names, second_order=True, conf_level=0.999)
    assert_inside(ds, testing.sobol_g_indices(a, names), ["S1", "ST", "S2"], width=0.06)


def test_additive_non_uniform_inputs_and_groups():
    inputs = testing.NON_UNIFORM_INPUTS
    c = {"x1": 2.0, "x2": 1.0, "x3": 3.0, "x4": 1.0}
    groups = {"pair": ["x1", "x2"], "x3": ["x3"], "rest": ["x4", "x3"]}
    y = testing.saltelli_outputs(lambda x: testing.additive(x, c), inputs, 2048, replicates=8,
                                 seed=3, groups=groups)
    ds = sobol_indices(y, params=list(inputs), second_order=False, groups=groups, conf_level=0.999)
    exact = testing.additive_indices(inputs, c)
    assert_inside(ds, exact, ["S1", "ST"], width=0.03)
    # Grouped indices of an additive model are the sums of their members' indices.
    for index in ("S1_group", "ST_group"):
        for g, members in groups.items():
            truth = float(exact.S1.sel(param=members).sum())
            low = float(ds[f"{index}_low"].sel(group=g)[0])
            high = float(ds[f"{index}_high"].sel(group=g)[0])
            assert low <= truth <= high, (index, g, truth, low, high)
    assert float(ds.ST_group_conf.max()) < 0.03


def test_product_model_second_order():
    inputs = {"x1": UNIT, "x2": ("uniform", {"low": 0.0, "high": 2.0}),
              "x3": ("normal", {"mean": 1.0, "sd": 0.3})}
    y = testing.saltelli_outputs(testing.product, inputs, 2048, replicates=8, seed=4,
                                 second_order=True)
    ds = sobol_indices(y, params=list(inputs), second_order=True, conf_level=0.999)
    exact = testing.product_indices(inputs)
    assert float(exact.S2.sel(param="x1", param2="x2")) > 0.1  # the test has teeth
    assert_inside(ds, exact, ["S1", "ST", "S2"], width=0.04)


def test_point_estimates_equal_salib():
    problem = {"num_vars": 4, "names": ["x1", "x2", "x3", "x4"], "bounds": [[0.0, 1.0]] * 4}
    n = 512
    x = salib_sample.sample(problem, n, calc_second_order=True, seed=11)
    y = testing.sobol_g_values(x, [0, 1, 4.5, 9]) + 5  # a non-centred output
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        si = salib_analyze.analyze(problem, y, calc_second_order=True, num_resamples=1000, seed=5)
    ds = sobol_indices(y.reshape(n, 1, -1, 1), params=problem["names"], second_order=True,
                       ci="bootstrap", resamples=1000, rng=5)
    np.testing.assert_allclose(ds.S1.values[0], si["S1"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(ds.ST.values[0], si["ST"], rtol=0, atol=1e-10)
    upper = np.triu_indices(4, 1)
    np.testing.assert_allclose(ds.S2.values[0][upper], si["S2"][upper], rtol=0, atol=1e-10)
    # The bootstrap is SALib's (resampling base rows, z * sd) with other random draws:
    # the half-widths agree to the Monte Carlo error of 1000 resamples.
    np.testing.assert_allclose(ds.S1_conf.values[0], si["S1_conf"], rtol=0.15)
    np.testing.assert_allclose(ds.ST_conf.values[0], si["ST_conf"], rtol=0.15)
    np.testing.assert_allclose(ds.S2_conf.values[0][upper], si["S2_conf"][upper], rtol=0.15)


def test_percentile_bootstrap_brackets_estimate():
    inputs = {p: PI for p in ("x1", "x2", "x3")}
    y = testing.saltelli_outputs(testing.ishigami, inputs, 512, replicates=1, seed=6)
    normal = sobol_indices(y, params=list(inputs), second_order=False, ci="bootstrap",
                           resamples=2000, rng=0)
    pct = sobol_indices(y, params=list(inputs), second_order=False, ci="bootstrap-percentile",
                        resamples=2000, rng=0)
    np.testing.assert_array_equal(pct.ST.values, normal.ST.values)
    # Same resamples: the percentile interval of a near-normal statistic has the normal width.
    np.testing.assert_allclose(pct.ST_conf.values, normal.ST_conf.values, rtol=0.1)
    assert (pct.ST_low < pct.ST).all() and (pct.ST < pct.ST_high).all()
    assert pct.attrs["ci_method"] == "bootstrap-percentile"


def test_estimators_are_named():
    y = testing.saltelli_outputs(testing.ishigami, {p: PI for p in ("x1", "x2", "x3")}, 64,
                                 replicates=2, second_order=True)
    ds = sobol_indices(y, params=["x1", "x2", "x3"], second_order=True)
    assert ds.S1.attrs["estimator"] == "Saltelli et al. (2010)"
    assert ds.ST.attrs["estimator"] == "Jansen (1999)"
    assert ds.S2.attrs["estimator"] == "Saltelli (2002)"
    assert ds.attrs["ci_method"] == "replicates"
    assert "Khorashadizadeh" in ds.ST_dummy.attrs["estimator"]


def test_noise_floor_separates_influential_parameters():
    # G-function: x1..x3 matter, x4, x5 (a = 99) barely; x6 is ignored by the model.
    a = [0, 1, 4.5, 99, 99]
    names = [f"x{i + 1}" for i in range(6)]
    inputs = {p: UNIT for p in names}
    y = testing.saltelli_outputs(lambda x: testing.sobol_g(x[names[:5]], a), inputs, 1024,
                                 replicates=8, seed=7)
    ds = sobol_indices(y, params=names, second_order=False)
    exact = testing.sobol_g_indices(a).ST.values
    assert exact[3] < 1e-3 < 0.03 < exact[2]
    assert ds.influential.values[0].tolist() == [True, True, True, False, False, False]
    # The ignored column gives an exactly zero estimate: no information about noise ...
    assert float(ds.ST.sel(param="x6")[0]) == 0.0 and float(ds.ST_conf.sel(param="x6")[0]) == 0.0
    # ... whereas the dummy estimated from A and B has a real spread that covers zero.
    assert float(ds.ST_dummy_conf[0]) > 0
    assert float(ds.ST_dummy_low[0]) <= 0 <= float(ds.ST_dummy_high[0])


def test_several_elements_are_independent_columns():
    inputs = {p: PI for p in ("x1", "x2", "x3")}
    y = testing.saltelli_outputs(testing.ishigami, inputs, 256, replicates=4, seed=8,
                                 second_order=True)
    both = np.concatenate([y, 3 * y[..., ::-1] ** 2], axis=-1)
    ds = sobol_indices(both, params=list(inputs), second_order=True, elements=["y", "z"])
    alone = sobol_indices(y, params=list(inputs), second_order=True, elements=["y"])
    np.testing.assert_allclose(ds.sel(element=["y"]).S2.values, alone.S2.values, rtol=1e-12)
    np.testing.assert_allclose(ds.sel(element=["y"]).ST_conf.values, alone.ST_conf.values, rtol=1e-12)
    assert list(ds.element.values) == ["y", "z"]


def test_constant_output_gives_nan_and_a_note():
    inputs = {p: PI for p in ("x1", "x2", "x3")}
    y = testing.saltelli_outputs(testing.ishigami, inputs, 64, replicates=4, second_order=True)
    y = np.concatenate([y, np.full_like(y, 2.5)], axis=-1)
    for ci in ("replicates", "bootstrap", "bootstrap-percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no division-by-zero warning may escape
            ds = sobol_indices(y, params=list(inputs), second_order=True, ci=ci, resamples=50,
                               elements=["y", "flat"], rng=0)
        flat = ds.sel(element="flat")
        for name in ("S1", "ST", "S2", "S1_conf", "ST_dummy"):
            assert bool(flat[name].isnull().all()), name
        assert not bool(flat.influential.any())
        assert ds.constant.values.tolist() == [False, True]
        assert ds.attrs["notes"] == "output flat has zero variance in every replicate: its indices are NaN"
        assert ds.status.values.tolist() == ["ok", "constant"]
        assert bool(ds.sel(element="y").S1.notnull().all())


def test_nan_output_raises_naming_it():
    inputs = {p: PI for p in ("x1", "x2", "x3")}
    y = testing.saltelli_outputs(testing.ishigami, inputs, 64, replicates=2)
    y = np.concatenate([y, y], axis=-1)
    y[3, 1, 2, 1] = np.nan
    with pytest.raises(StudyError, match=r"^results\.nc: payoff\[actor=US\]: output must be finite "
                                         r"to compute Sobol indices; got 1 NaN/inf values of 640 "):
        sobol_indices(y, params=list(inputs), second_order=False, elements=["y", "payoff[actor=US]"],
                      source="results.nc")


def test_second_order_needs_ba_blocks():
    y = np.random.default_rng(0).random((16, 2, 5, 1))
    with pytest.raises(InternalError, match=r"second_order: S2 needs a design sampled with "
                                         r"second_order = true \(with BA blocks, 8 matrices per "
                                         r"row\); this design has 5"):
        sobol_indices(y, params=["x1", "x2", "x3"], second_order=True)


@pytest.mark.parametrize("kwargs, message", [
    ({"ci": "jackknife"}, r"ci: must be one of \['replicates', 'bootstrap', 'bootstrap-percentile'\]; "
                          r"got 'jackknife'"),
    ({"conf_level": 95}, r"conf_level: must be between 0 and 1; got 95"),
    ({"ci": "bootstrap", "resamples": 1}, r"resamples: must be an integer >= 2; got 1"),
    ({"params": ["x1", "x2"]}, r"y: must have 4 or 6 matrices per row for 2 parameters and 0 groups; "
                               r"got 5"),
    ({"groups": {"g": ["x9"]}}, r"groups: must list known parameters"),
])
def test_bad_arguments(kwargs, message):
    y = np.random.default_rng(0).random((16, 2, 5, 1))
    args = {"params": ["x1", "x2", "x3"], "second_order": False, **kwargs}
    with pytest.raises(InternalError, match=message):
        sobol_indices(y, **args)


def test_replicate_interval_needs_two_replicates():
    y = np.random.default_rng(0).random((16, 1, 5, 1))
    with pytest.raises(InternalError, match=r"ci: must be 'bootstrap' or 'bootstrap-percentile' for a "
                                         r"design with one replicate"):
        sobol_indices(y, params=["x1", "x2", "x3"], second_order=False)


def test_layout_order():
    params, groups = ["a", "b", "c"], {"g": ("a", "c"), "h": ("b",)}
    assert layout(params, groups, True) == ["A", "AB:a", "AB:b", "AB:c", "BA:a", "BA:b", "BA:c",
                                            "B", "ABg:g"]


def test_cross_matches_salib_sample():
    problem = {"num_vars": 3, "names": ["a", "b", "c"], "bounds": [[0.0, 1.0]] * 3}
    from scipy.stats import qmc

    base = qmc.Sobol(6, scramble=True, seed=3).random(8)
    ours = cross(base[:, :3], base[:, 3:], problem["names"], None, True).reshape(-1, 3)
    np.testing.assert_array_equal(ours, salib_sample.sample(problem, 8, seed=3))
