"""Convergence of Sobol' indices on nested prefixes of one design."""

import numpy as np
import pytest

from analysis.convergence import _top_down, convergence
from analysis.sobol import sobol_indices
from study import testing
from study.errors import InternalError

PI = ("uniform", {"low": -np.pi, "high": np.pi})
NAMES = ["x1", "x2", "x3"]


@pytest.fixture(scope="module")
def ishigami_y():
    y = testing.saltelli_outputs(testing.ishigami, {p: PI for p in NAMES}, 512, replicates=8,
                                 seed=5, second_order=True)
    return np.concatenate([y, np.full_like(y, 1.0)], axis=-1)  # a second, constant element


def test_prefixes_are_the_sub_designs(ishigami_y):
    ds = convergence(ishigami_y, params=NAMES, elements=["y", "flat"])
    assert ds.n.values.tolist() == [16, 32, 64, 128, 256, 512]
    # runs = rows x 8 replicates x 8 matrices (second-order design)
    assert ds.runs.values.tolist() == [n * 64 for n in ds.n.values]
    sub = sobol_indices(ishigami_y[:64], params=NAMES, second_order=False, elements=["y", "flat"])
    np.testing.assert_array_equal(ds.ST.sel(n=64).values, sub.ST.values)
    np.testing.assert_array_equal(ds.S1_conf.sel(n=64).values, sub.S1_conf.values)


def test_widths_shrink_and_ranking_settles(ishigami_y):
    ds = convergence(ishigami_y, params=NAMES, elements=["y", "flat"]).sel(element="y")
    exact = testing.ishigami_indices()
    # Scrambled-Sobol' error falls at least as fast as 1/sqrt(runs): 32x the rows, < 1/5.6 width.
    assert float(ds.max_ST_conf[-1]) < float(ds.max_ST_conf[0]) / np.sqrt(32)
    expected_rank = np.argsort(np.argsort(-exact.ST.values)) + 1  # x1 > x2 > x3
    np.testing.assert_array_equal(ds.ST_rank.isel(n=-1).values, expected_rank)
    assert float(ds.rank_agreement[-1]) == pytest.approx(1.0) and bool(ds.top_stable[-1])


def test_verdict_against_tolerance(ishigami_y):
    ds = convergence(ishigami_y, params=NAMES, elements=["y", "flat"], tolerance=0.05)
    widths = ds.max_ST_conf.sel(element="y").values
    final = ds.ST_conf.sel(element="y").isel(n=-1).values
    for tol in (final.max() * 1.01, final.max() * 0.99, final.min() * 0.99):
        v = convergence(ishigami_y, params=NAMES, elements=["y", "flat"], tolerance=tol)
        assert v.converged.sel(element="y").values.tolist() == (final <= tol).tolist()
        assert bool(v.converged_all.sel(element="y")) == bool((final <= tol).all())
        ok = widths <= tol
        first = next((i for i in range(len(ok)) if ok[i:].all()), None)
        expected = np.nan if first is None else float(ds.runs[first])
        np.testing.assert_equal(float(v.runs_to_converge.sel(element="y")), expected)
    # The constant output never converges and has no ranking.
    assert not bool(ds.converged_all.sel(element="flat"))
    assert bool(ds.ST_rank.sel(element="flat").isnull().all())
    assert bool(ds.rank_agreement.sel(element="flat").isnull().all())
    assert ds.attrs["tolerance"] == 0.05


def test_top_down_correlation_weights_the_top():
    final = np.array([1, 2, 3])
    ranks = np.array([[1, 2, 3], [1, 3, 2], [2, 1, 3]])
    # Savage scores for d = 3: 11/6, 5/6, 1/3 (Iman & Conover 1987).
    np.testing.assert_allclose(_top_down(ranks, final), [1.0, 11 / 14, 1 / 7])


def test_bad_sizes(ishigami_y):
    with pytest.raises(InternalError, match=r"^outputs: sizes: must lie between 2 and the design's 512 "
                                         r"base rows; got \[16, 1024\]"):
        convergence(ishigami_y, params=NAMES, sizes=[1024, 16])
    with pytest.raises(InternalError, match=r"tolerance: must be positive; got 0"):
        convergence(ishigami_y, params=NAMES, tolerance=0)
