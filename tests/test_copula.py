"""Gaussian copula over uniform margins: declared rank correlations, exact marginals."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.stats import qmc

from study.copula import CorrelationError, check_rank_matrix, correlate, spearman, to_pearson, to_spearman

RHO3 = np.array([[1.0, 0.6, -0.3], [0.6, 1.0, 0.2], [-0.3, 0.2, 1.0]])


def _spearman_tolerance(rho, n, k=4.0):
    # Fieller, Hartley & Pearson (1957): var(atanh(r_s)) ~ 1.06 / (n - 3); k standard errors.
    half = k * np.sqrt(1.06 / (n - 3))
    return np.tanh(np.arctanh(rho) - half), np.tanh(np.arctanh(rho) + half)


@pytest.mark.parametrize("method", ["ranks", "transform"])
def test_reproduces_declared_spearman_within_sampling_error(method):
    n = 20_000
    u = np.random.default_rng(1).random((n, 3))
    got = spearman(correlate(u, RHO3, method=method))
    iu = np.triu_indices(3, 1)
    lo, hi = _spearman_tolerance(RHO3[iu], n)
    assert np.all((got[iu] > lo) & (got[iu] < hi)), (got[iu], RHO3[iu])
    np.testing.assert_allclose(np.diag(got), 1.0, rtol=0, atol=1e-12)


def test_latin_hypercube_keeps_every_margin_exactly():
    n = 4096
    u = qmc.LatinHypercube(d=3, seed=np.random.default_rng(7)).random(n)
    v = correlate(u, RHO3)
    for j in range(3):
        # Each column is a permutation of the input column, so it is still one point per stratum.
        np.testing.assert_array_equal(np.sort(v[:, j]), np.sort(u[:, j]))
        np.testing.assert_array_equal(np.sort(np.floor(v[:, j] * n)), np.arange(n))
    np.testing.assert_array_equal(v[:, 0], u[:, 0])
    iu = np.triu_indices(3, 1)
    lo, hi = _spearman_tolerance(RHO3[iu], n)
    got = spearman(v)[iu]
    assert np.all((got > lo) & (got < hi)), got


def test_transform_keeps_margins_uniform():
    n = 20_000
    v = correlate(np.random.default_rng(3).random((n, 3)), RHO3, method="transform")
    crit = stats.kstwo.ppf(0.999, n)  # KS critical value at the 0.1 % level
    for j in range(3):
        assert stats.kstest(v[:, j], "uniform").statistic < crit


def test_marginal_through_inverse_cdf_is_exact():
    # Rank correlation survives any monotone inverse CDF, and the marginal values do too.
    n = 2048
    u = qmc.LatinHypercube(d=2, seed=np.random.default_rng(5)).random(n)
    rho = np.array([[1.0, -0.5], [-0.5, 1.0]])
    v = correlate(u, rho)
    x = stats.triang(c=0.25, loc=0.05, scale=0.55).ppf(v[:, 1])
    np.testing.assert_array_equal(np.sort(x), np.sort(stats.triang(c=0.25, loc=0.05, scale=0.55).ppf(u[:, 1])))
    np.testing.assert_allclose(stats.spearmanr(v[:, 0], x).statistic, stats.spearmanr(v).statistic, rtol=0, atol=1e-12)


def test_identity_leaves_design_unchanged():
    u = np.random.default_rng(0).random((500, 4))
    np.testing.assert_array_equal(correlate(u, np.eye(4)), u)


@settings(max_examples=30, deadline=None)
@given(st.floats(-0.95, 0.95))
def test_conversion_round_trips(rho):
    assert to_spearman(to_pearson(rho)) == pytest.approx(rho, abs=1e-12)
    # Gaussian copula's Spearman is attenuated relative to Pearson except at 0 and +-1.
    assert abs(to_pearson(rho)) >= abs(rho) - 1e-15


def test_contradictory_ranks_are_refused():
    bad = np.array([[1.0, 0.9, -0.9], [0.9, 1.0, 0.9], [-0.9, 0.9, 1.0]])
    with pytest.raises(CorrelationError, match=r"must form a positive-definite matrix .*r = 2 sin\(pi rho / 6\)\); "
                       r"got smallest eigenvalue -0\.\d+"):
        correlate(np.full((4, 3), 0.5), bad)


@pytest.mark.parametrize(
    ("corr", "message"),
    [
        ([[1.0, 0.3], [0.2, 1.0]], r"must be symmetric; got 0\.3 at \(0, 1\) and 0\.2 at \(1, 0\)"),
        ([[1.0, 0.3], [0.3, 0.9]], r"must have ones on its diagonal"),
        ([[1.0, 1.0], [1.0, 1.0]], r"strictly between -1 and 1; got 1\.0"),
        ([[1.0, 0.3, 0.1]], r"must be square; got shape \(1, 3\)"),
    ],
)
def test_bad_matrices_are_refused_with_a_message(corr, message):
    with pytest.raises(CorrelationError, match=message):
        check_rank_matrix(corr)


def test_size_mismatch_and_closed_cube_are_refused():
    with pytest.raises(CorrelationError, match=r"must be 3 x 3 to match the design's columns; got 2 x 2"):
        correlate(np.full((5, 3), 0.5), np.eye(2))
    u = np.full((5, 2), 0.5)
    u[0, 1] = 0.0
    with pytest.raises(CorrelationError, match=r"open unit cube"):
        correlate(u, np.eye(2))


def test_error_is_a_value_error():
    assert issubclass(CorrelationError, ValueError)
