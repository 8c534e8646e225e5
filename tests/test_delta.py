"""Borgonovo delta from given data: equal to SALib's estimator, right on known models."""

import json

import numpy as np
import pytest
from SALib.analyze import delta as salib_delta

from analysis.delta import _jackknife, class_labels, delta_indices, n_classes
from study.errors import InternalError, StudyError, StudyWarning

NAMES = ["x1", "x2", "x3"]


def salib_partition(n):
    """SALib 1.6's class edges ``m`` for ``n`` rows, from its own formula."""
    exp = 2.0 / (7.0 + np.tanh((1500.0 - n) / 500.0))
    return np.linspace(0, n, int(np.round(min(int(np.ceil(n**exp)), 48))) + 1)


@pytest.mark.parametrize("n", [20, 100, 999, 1500, 8192, 200_000])
def test_classes_match_salib_partition(n):
    m = salib_partition(n)
    assert n_classes(n) == len(m) - 1
    ranks = np.arange(1, n + 1)
    expected = np.array([np.flatnonzero((r > m[:-1]) & (r <= m[1:]))[0] for r in ranks[:: max(1, n // 500)]])
    np.testing.assert_array_equal(class_labels(n)[:: max(1, n // 500)], expected)


def test_whole_sample_estimates_equal_salib_estimator():
    rng = np.random.default_rng(0)
    n = 1200
    x = rng.random((n, 3))
    y = np.stack([np.sin(6 * x[:, 0]) + 0.3 * x[:, 1] ** 2, np.exp(x[:, 2]) - x[:, 0]], axis=1)
    ds = delta_indices(x, y, params=NAMES, resamples=5, rng=rng)
    m = salib_partition(n)
    for k in range(2):
        grid = np.linspace(y[:, k].min(), y[:, k].max(), 100)
        for i in range(3):
            ref = salib_delta.calc_delta(y[:, k], grid, x[:, i], m)
            np.testing.assert_allclose(ds.delta_hat.values[k, i], ref, rtol=0, atol=1e-10)
            ref_s1 = salib_delta.sobol_first(y[:, k], x[:, i], m)
            np.testing.assert_allclose(ds.S1.values[k, i], ref_s1, rtol=0, atol=1e-10)
    assert list(ds.estimator.values) == ["kde", "kde"]


def test_output_of_one_input_has_large_delta_and_noise_floor_for_the_rest():
    rng = np.random.default_rng(1)
    x = rng.random((2000, 3))
    ds = delta_indices(x, np.sin(2 * np.pi * x[:, 0]) + x[:, 0], params=NAMES, resamples=40, rng=rng)
    d = ds.isel(element=0)
    assert d.delta.sel(param="x1") > 0.6
    # The others are indistinguishable from a dummy input, interval against interval.
    gap = np.abs(d.delta.sel(param=["x2", "x3"]) - d.delta_dummy)
    assert (gap <= d.delta_conf.sel(param=["x2", "x3"]) + d.delta_dummy_conf).all()
    assert (d.delta.sel(param=["x2", "x3"]) < 0.06).all()
    assert d.S1.sel(param="x1") > 0.95
    assert d.delta_conf.sel(param="x1") > 0


def test_bias_reduction_and_interval_follow_the_bootstrap():
    rng = np.random.default_rng(2)
    x = rng.random((300, 3))
    y = x[:, 0] + 0.5 * x[:, 1]
    a = delta_indices(x, y, params=NAMES, resamples=30, rng=np.random.default_rng(5))
    b = delta_indices(x, y, params=NAMES, resamples=30, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(a.delta.values, b.delta.values)
    # Bias removal lifts the influential input (smoothing and class width pull it down)
    # and lowers the ignored one (noise pushes it up).
    assert a.delta.sel(param="x1") > a.delta_hat.sel(param="x1")
    assert a.delta.sel(param="x3") < a.delta_hat.sel(param="x3")


def test_jackknife_combines_bandwidths_and_class_counts():
    # 2 d(h) - d(sqrt 2 h) + (d(M) - d(M/2)) / (2**2 - 1)
    assert _jackknife(0.5, 0.45, 0.48, 16) == pytest.approx(0.55 + 0.02 / 3, rel=1e-12)
    # 5 classes merge into 3: r = 5/3
    assert _jackknife(0.5, 0.45, 0.48, 5) == pytest.approx(0.55 + 0.02 / (25 / 9 - 1), rel=1e-12)
    assert _jackknife(0.5, 0.45, 0.1, 3) == pytest.approx(0.55, rel=1e-12)  # no class term


def linear_gaussian_delta(c, i):
    """Exact delta of input i for Y = sum c_j X_j with X_j iid standard normal.

    Y ~ N(0, v) with v = sum c_j**2, and Y | X_i = x ~ N(c_i x, v - c_i**2). Half the L1
    distance of two densities is their total-variation distance, the difference of their
    masses on the set where one exceeds the other; for a narrower normal that set is the
    interval between the two roots of the quadratic log f_{Y|x}(y) = log f_Y(y). delta is the
    mean of that over x (Borgonovo 2007), integrated here by adaptive quadrature.
    """
    from scipy import integrate, stats

    c = np.asarray(c, float)
    sd, s = np.sqrt((c**2).sum()), np.sqrt((c**2).sum() - c[i] ** 2)

    def half_l1(x):
        mu = c[i] * x
        a, b = 1 / (2 * s**2) - 1 / (2 * sd**2), -mu / s**2
        q = mu**2 / (2 * s**2) + np.log(s / sd)
        r1, r2 = np.sort(np.roots([a, b, q]).real)
        return (stats.norm.cdf(r2, mu, s) - stats.norm.cdf(r1, mu, s)
                - stats.norm.cdf(r2, 0, sd) + stats.norm.cdf(r1, 0, sd))

    return integrate.quad(lambda x: half_l1(x) * stats.norm.pdf(x), -12, 12, epsabs=1e-12)[0]


@pytest.mark.slow
def test_linear_gaussian_delta_is_covered_and_an_ignored_input_is_not_influential():
    # The case: Y = X1 + 0.3 X2 (X3 ignored) at n = 4096. The SALib-style estimate
    # (2 d - mean(d*), z sd) averaged 0.626 for a true 0.647 and covered it in 0 of 10 seeds.
    c = [1.0, 0.3, 0.0]
    truth = np.array([linear_gaussian_delta(c, i) for i in range(2)])
    np.testing.assert_allclose(truth, [0.6472, 0.0963], atol=5e-5)
    covered, influential = np.zeros(2), np.zeros(3)
    for seed in range(10):
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((4096, 3))
        ds = delta_indices(x, x @ c, params=NAMES, resamples=20, rng=rng).isel(element=0)
        covered += np.abs(ds.delta.values[:2] - truth) <= ds.delta_conf.values[:2]
        influential += ds.influential.values
    assert covered.min() >= 8, covered
    assert influential.tolist() == [10, 10, 0]


def brute_discrete_delta(x, y):
    """delta of a discrete output, straight from the definition over SALib's classes."""
    n = len(y)
    m = salib_partition(n)
    ranks = np.argsort(np.argsort(x, kind="stable"), kind="stable") + 1
    values = np.unique(y)
    p = np.array([np.mean(y == v) for v in values])
    total = 0.0
    for lo, hi in zip(m[:-1], m[1:]):
        members = y[(ranks > lo) & (ranks <= hi)]
        p_c = np.array([np.mean(members == v) for v in values])
        total += len(members) / n * 0.5 * np.abs(p_c - p).sum()
    return total


def test_discrete_output_uses_class_frequencies():
    rng = np.random.default_rng(3)
    x = rng.random((997, 3))
    y = np.stack([(x[:, 0] > 0.5).astype(float), np.floor(3 * x[:, 1]) + (x[:, 2] > 0.8)], axis=1)
    ds = delta_indices(x, y, params=NAMES, resamples=10, rng=rng, elements=["flip", "level"])
    assert list(ds.estimator.values) == ["discrete", "discrete"]
    for k in range(2):
        for i in range(3):
            np.testing.assert_allclose(ds.delta_hat.values[k, i], brute_discrete_delta(x[:, i], y[:, k]),
                                       rtol=0, atol=1e-12)
    # analytic delta of 1[x1 > 1/2] given x1 is E|1[x1 > 1/2] - 1/2| = 1/2; classes blur the
    # one class that straddles the median
    assert abs(ds.delta.sel(element="flip", param="x1") - 0.5) < 0.5 / n_classes(997) + 0.02


def test_constant_output_is_nan_with_a_warning_and_a_note():
    rng = np.random.default_rng(4)
    x = rng.random((200, 3))
    y = np.stack([np.full(200, 0.25), x[:, 0]], axis=1)
    with pytest.warns(StudyWarning, match=r"delta: output 'gain' is constant \(0\.25\): delta and S1 are "
                                         r"undefined \(NaN\)"):
        ds = delta_indices(x, y, params=NAMES, resamples=5, rng=rng, elements=["gain", "cost"])
    assert np.isnan(ds.delta.sel(element="gain")).all() and np.isnan(ds.S1.sel(element="gain")).all()
    assert np.isfinite(ds.delta.sel(element="cost")).all()
    assert list(ds.estimator.values) == ["constant", "kde"]
    assert json.loads(ds.attrs["notes"]) == {"gain": "output 'gain' is constant (0.25): delta and S1 are undefined (NaN)"}


def test_constant_input_is_nan_with_a_warning():
    rng = np.random.default_rng(4)
    x = rng.random((200, 3))
    x[:, 1] = 3.0
    with pytest.warns(StudyWarning, match=r"delta: input 'x2' is constant; its delta and S1 are NaN"):
        ds = delta_indices(x, x[:, 0], params=NAMES, resamples=5, rng=rng)
    assert np.isnan(ds.delta.values[0, 1]) and np.isfinite(ds.delta.values[0, [0, 2]]).all()


def test_non_finite_output_is_named():
    rng = np.random.default_rng(0)
    x = rng.random((50, 3))
    y = np.stack([x[:, 0], x[:, 1]], axis=1)
    y[17, 1] = np.inf
    with pytest.raises(StudyError, match=r"analysis\.delta: y: must be finite; got inf in output 'cost' at row 17"):
        delta_indices(x, y, params=NAMES, rng=rng, elements=["gain", "cost"])


@pytest.mark.parametrize("kwargs, text", [
    ({"conf_level": 1.0}, r"conf_level: must be in \(0, 1\); got 1\.0"),
    ({"resamples": 1}, r"resamples: must be an integer >= 2; got 1"),
    ({"params": ["a", "b"]}, r"params: must name every column of x \(3\); got 2"),
])
def test_bad_arguments_are_named(kwargs, text):
    rng = np.random.default_rng(0)
    x = rng.random((50, 3))
    args = {"params": NAMES, "rng": rng, **kwargs}
    with pytest.raises(InternalError, match=text):
        delta_indices(x, x[:, 0], **args)


def test_too_few_rows_is_an_error():
    with pytest.raises(InternalError, match=r"x: must have at least 20 rows; got 19"):
        delta_indices(np.random.default_rng(0).random((19, 3)), np.arange(19.0), params=NAMES,
                      rng=np.random.default_rng(0))


def _kernel_sums(y, starts, n_c, scale, h, grid):
    """Kernel sums straight from their definition, one class at a time (bandwidths ``h``)."""
    out = []
    for s, m, sc, hc in zip(starts, n_c, scale, h):
        out.append(sc * np.exp(-0.5 * ((grid[None, :] - y[s:s + m, None]) / hc) ** 2).sum(axis=0))
    return np.array(out)


def test_kernel_sums_at_both_bandwidths_from_one_exp_equal_their_definition():
    # Both bandwidths' kernels come from one exp (the wider kernel; the first is its square).
    from analysis import delta

    rng = np.random.default_rng(7)
    y = np.r_[rng.normal(size=1500), rng.lognormal(2.0, 1.5, size=1500)]  # far ends need the clamp
    starts, n_c = np.array([0, 700, 1500, 1501]), np.array([700, 800, 1, 1499])
    scale, wide_scale = np.array([0.3, 2.0, 0.0, 1.5]), np.array([0.2, 1.0, 0.0, 4.0])
    h = np.array([0.25, 2.0, 1.0, 1 / 60])
    grid = np.linspace(y.min(), y.max(), delta.GRID_POINTS)
    narrow, wide = delta._kde(y, starts, n_c, scale, 1.0 / h, grid, wide_scale)
    for got, want in ((narrow, _kernel_sums(y, starts, n_c, scale, h, grid)),
                      (wide, _kernel_sums(y, starts, n_c, wide_scale, np.sqrt(2.0) * h, grid))):
        peak = want.max(axis=1, keepdims=True)
        assert (np.abs(got - want) <= 1e-12 * peak).all()
        assert got[2].tolist() == [0.0] * grid.size  # a one-value class is left out
    # One bandwidth alone (its own exp) gives the same narrow sums to the exponent's rounding
    # (5e-13 of the peak for the class 1400 bandwidths wide, 5e-14 for the others).
    alone = delta._kde(y, starts, n_c, scale, 1.0 / h, grid)
    assert (np.abs(alone - narrow) <= 1e-12 * narrow.max(axis=1, keepdims=True)).all()
    assert (np.abs(alone - narrow)[:2] <= 1e-13 * narrow[:2].max(axis=1, keepdims=True)).all()


def test_estimates_vectorised_over_inputs_equal_one_input_at_a_time():
    # Implementation check: the class moments and L1 distances of all inputs at once are
    # those of each input alone, bit for bit (no input's numbers leak into another's). The
    # unconditional density comes from the first row, so each input goes with row 0.
    from analysis import delta

    rng = np.random.default_rng(8)
    n = 999
    x = rng.random((n, 4))
    y = np.sin(5 * x[:, 0]) + x[:, 1] ** 2 + 0.1 * rng.normal(size=n)
    ys = y[np.argsort(x, axis=0, kind="stable").T]
    cls = delta._Classes.of(n)
    grid = np.linspace(y.min(), y.max(), delta.GRID_POINTS)
    together = delta._kde_estimates(ys, cls, grid)
    alone = np.column_stack([delta._kde_estimates(ys[[0, i]], cls, grid)[:, 1] for i in range(4)])
    np.testing.assert_array_equal(together, alone)
    assert together[0, 0] > 0.3 > together[0, 3]  # x1 drives y, x4 does not


def test_weighted_kernel_of_a_resample_equals_its_repeated_rows():
    # A resample's copies of one row are evaluated once, weighted by their number; runs that
    # straddle a class boundary are split there. Equal to the row-by-row sums to rounding.
    from analysis import delta

    rng = np.random.default_rng(9)
    n = 1000
    x = rng.random((n, 3))
    y = np.exp(2 * x[:, 0]) + x[:, 1] + 0.2 * rng.normal(size=n)
    order = np.argsort(x, axis=0, kind="stable")
    cls = delta._Classes.of(n)
    counts = np.bincount(rng.integers(n, size=n), minlength=n)
    rows = delta._sorted_rows(order, counts)
    # Copies of one row on both sides of a class boundary: the case the split is for.
    straddling = rows[:, cls.starts[1:]] == rows[:, cls.starts[1:] - 1]
    assert straddling.sum() >= 3
    runs = delta._Runs.of(rows, cls.starts)
    assert 0.55 < runs.firsts.size / rows.size < 0.7  # about 1 - 1/e of the rows are distinct
    ys = y[rows]
    grid = np.linspace(y.min(), y.max(), delta.GRID_POINTS)
    inv_h, scale, wide_scale = 1 / np.linspace(0.05, 0.3, cls.m), np.linspace(1, 2, cls.m), np.ones(cls.m)
    for i in range(3):
        values, starts, n_c, weights = runs.of_input(ys, i)
        assert weights.sum() == n and n_c.sum() == values.size
        np.testing.assert_array_equal(np.repeat(values, weights.astype(int)), ys[i])
        want = delta._kde(ys[i], cls.starts, cls.n_c, scale, inv_h, grid, wide_scale)
        got = delta._kde(values, starts, n_c, scale, inv_h, grid, wide_scale, weights)
        for g, w in zip(got, want):
            assert (np.abs(g - w) <= 1e-12 * w.max(axis=1, keepdims=True)).all()
    values, _, _, weights = runs.of_input(ys, 0)
    for g, w in zip(delta._density(ys[0], grid, values, weights), delta._density(ys[0], grid)):
        assert np.abs(g - w).max() <= 1e-12 * w.max()
    np.testing.assert_allclose(delta._kde_estimates(ys, cls, grid, runs), delta._kde_estimates(ys, cls, grid),
                               rtol=0, atol=1e-12)
