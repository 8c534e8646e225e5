"""Estimates that would explode or mislead are refused, flagged or explained (issue 12).

Each test builds the situation that once gave a silent wrong result and asserts the
number or the flag that is given instead.
"""

import numpy as np
import pytest
from scipy import stats

from analysis.proportion import REPLICATE_T, REPLICATE_T_CLIPPED, share_holds
from analysis.sobol import sobol_indices
from study import testing

UNIT = ("uniform", {"low": 0.0, "high": 1.0})
THREE = {"x1": UNIT, "x2": UNIT, "x3": UNIT}


def test_an_ignored_input_is_never_influential_even_when_the_dummy_is_below_zero():
    # x3 is ignored: its AB block equals A, so its ST is exactly 0 with a zero-width
    # interval. The dummy's interval lies wholly below zero in a few of these designs;
    # comparing against that bound (not against max(0, bound)) flagged x3 in 3 of 200.
    model = lambda x: testing.additive(x[["x1", "x2"]], {"x1": 1.0, "x2": 0.5})  # noqa: E731
    below, flagged = 0, 0
    for seed in range(200):
        y = testing.saltelli_outputs(model, THREE, 32, replicates=4, seed=seed)
        ds = sobol_indices(y, params=list(THREE), second_order=False).isel(element=0)
        assert float(ds.ST.sel(param="x3")) == 0.0 and float(ds.ST_high.sel(param="x3")) == 0.0
        below += float(ds.ST_dummy_high) < 0
        flagged += bool(ds.influential.sel(param="x3"))
        assert ds.influential.sel(param=["x1", "x2"]).values.tolist() == [True, True]
    assert below >= 2  # the situation that used to mislead does occur here
    assert flagged == 0


@pytest.mark.parametrize("near_one", [False, True])
def test_replicate_interval_of_a_probability_is_clipped_to_0_1(near_one):
    # Four replicates of 100 draws; one event in the first only: shares 0.01, 0, 0, 0.
    holds = np.zeros(400, bool)
    holds[0] = True
    replicate = np.repeat(np.arange(4), 100)
    if near_one:
        holds = ~holds
    p, half, low, high, how = share_holds(holds, replicate, 0.95)
    expected_half = stats.t.ppf(0.975, 3) * np.std([0.01, 0, 0, 0], ddof=1) / 2
    assert half == pytest.approx(expected_half, rel=1e-12)
    assert expected_half > 0.0025  # the unclipped interval reaches past the bound
    if near_one:
        assert (p, low, high) == pytest.approx((0.9975, 0.9975 - expected_half, 1.0), rel=1e-12)
    else:
        assert (p, low, high) == pytest.approx((0.0025, 0.0, 0.0025 + expected_half), rel=1e-12)
    assert how == REPLICATE_T_CLIPPED == "Student-t interval across replicate designs, clipped to [0, 1]"


def test_a_probability_interval_inside_0_1_is_left_alone():
    holds = np.r_[[1] * 5 + [0] * 5, [1] * 6 + [0] * 4, [1] * 4 + [0] * 6].astype(bool)
    p, half, low, high, how = share_holds(holds, np.repeat([0, 1, 2], 10), 0.95)
    assert 0 < low < high < 1
    assert (low, high) == (p - half, p + half) and how == REPLICATE_T
