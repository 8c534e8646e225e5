"""Statistical and structural properties of the Sobol' estimators.

- Coverage: over many independently seeded designs, the replicate t-intervals contain the
  exact Ishigami indices about as often as their nominal level says.
- Equivariance: relabelling or reordering parameters (and groups) permutes the results and
  changes nothing else.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.sobol import sobol_indices
from study import testing

PI = ("uniform", {"low": -np.pi, "high": np.pi})
NAMES = ["x1", "x2", "x3"]


def coverage(seeds, n, replicates, conf_level):
    """Share of (seed, index) pairs whose interval holds the exact value, per index."""
    exact = testing.ishigami_indices()
    hits = []
    for seed in seeds:
        y = testing.saltelli_outputs(testing.ishigami, {p: PI for p in NAMES}, n,
                                     replicates=replicates, seed=seed, second_order=True)
        ds = sobol_indices(y, params=NAMES, second_order=True, conf_level=conf_level).isel(element=0)
        row = []
        for name in ("S1", "ST"):
            row += list((ds[f"{name}_low"] <= exact[name]) & (exact[name] <= ds[f"{name}_high"]))
        s2 = (ds.S2_low <= exact.S2) & (exact.S2 <= ds.S2_high)
        row += list(s2.values[np.triu_indices(3, 1)])
        hits.append(np.array(row, dtype=float))
    return np.mean(hits, axis=0)


@pytest.mark.slow
def test_replicate_intervals_reach_nominal_coverage():
    # 400 designs x 9 intervals (S1 and ST of 3 parameters, S2 of 3 pairs) at 95 %.
    per_index = coverage(range(400), n=256, replicates=8, conf_level=0.95)
    assert 0.88 <= per_index.mean() <= 0.99, per_index
    # No single index may be badly off either (binomial sd at 400 designs is 1.1 %).
    assert per_index.min() >= 0.88, per_index


def test_replicate_coverage_follows_the_level():
    # A cheaper check that the interval width responds to conf_level as a t-interval should.
    low = coverage(range(60), n=128, replicates=4, conf_level=0.5)
    high = coverage(range(60), n=128, replicates=4, conf_level=0.99)
    assert 0.35 <= low.mean() <= 0.65, low
    assert high.mean() >= 0.95, high


@pytest.fixture(scope="module")
def design():
    names = ["a", "b", "c", "d"]
    groups = {"ab": ["a", "b"], "cd": ["c", "d"], "b": ["b"]}
    inputs = {p: ("uniform", {"low": 0.0, "high": 1.0}) for p in names}
    coef = {"a": 0, "b": 1, "c": 4.5, "d": 9}
    y = testing.saltelli_outputs(lambda x: testing.sobol_g(x, [coef[p] for p in names]), inputs,
                                 64, replicates=3, seed=9, second_order=True, groups=groups)
    return names, groups, y


def permute_design(y, names, groups, order, group_order):
    """The same outputs as a design whose parameters (and groups) come in another order."""
    d = len(names)
    ab = [1 + i for i in order]
    ba = [1 + d + i for i in order]
    multi = [g for g in groups if len(groups[g]) > 1]
    blocks = [0, *ab, *ba, 2 * d + 1] + [2 * d + 2 + multi.index(g) for g in group_order
                                          if len(groups[g]) > 1]
    return y[:, :, blocks], [names[i] for i in order], {g: groups[g] for g in group_order}


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.permutations(range(4)), group_order=st.permutations(["ab", "cd", "b"]),
       ci=st.sampled_from(["replicates", "bootstrap"]))
def test_reordering_parameters_permutes_results(design, order, group_order, ci):
    names, groups, y = design
    ref = sobol_indices(y, params=names, groups=groups, second_order=True, ci=ci, resamples=40, rng=1)
    y2, names2, groups2 = permute_design(y, names, groups, order, group_order)
    got = sobol_indices(y2, params=names2, groups=groups2, second_order=True, ci=ci, resamples=40,
                        rng=1)
    assert list(got.param.values) == names2 and list(got.group.values) == list(group_order)
    aligned = got.sel(param=names, param2=names, group=list(groups))
    for v in ref.data_vars:
        if ref[v].dtype.kind == "U":  # status
            np.testing.assert_array_equal(aligned[v].values, ref[v].values, err_msg=v)
            continue
        np.testing.assert_allclose(aligned[v].values, ref[v].values, rtol=1e-12, atol=1e-14,
                                   err_msg=v)


def test_relabelling_parameters_changes_only_labels(design):
    names, groups, y = design
    ref = sobol_indices(y, params=names, groups=groups, second_order=True)
    new = {"a": "zeta", "b": "alpha", "c": "mu", "d": "b"}
    got = sobol_indices(y, params=[new[p] for p in names], second_order=True,
                        groups={f"G{g}": [new[m] for m in ms] for g, ms in groups.items()})
    assert list(got.param.values) == ["zeta", "alpha", "mu", "b"]
    assert list(got.group.values) == ["Gab", "Gcd", "Gb"]
    for v in ref.data_vars:
        np.testing.assert_array_equal(got[v].values, ref[v].values, err_msg=v)
