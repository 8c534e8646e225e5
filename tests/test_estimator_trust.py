"""Estimates that would explode or mislead are refused, flagged or explained (issue 12).

Each test builds the situation that once gave a silent wrong result and asserts the
number or the flag that is given instead.
"""

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

from analysis.appendix import sections
from analysis.appendix.blocks import Para
from analysis.appendix.sections import headline_sentences
from analysis.draws import iid_rows
from analysis.figures import figure_specs, load_run
from analysis.proportion import REPLICATE_T, REPLICATE_T_CLIPPED, share_holds
from analysis.sobol import sobol_indices
from study import testing
from mcsens import run_study
from tests.helpers import PARAMS, write_study

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


def rare_event(x):
    """1 on about 0.2 % of the unit square (x1 > 0.95 and x2 > 0.96); x3 is ignored."""
    return xr.Dataset({"y": ((x.x1 > 0.95) & (x.x2 > 0.96)).astype(float)})


def test_rare_event_indicator_is_never_reported_as_a_complete_exploded_index():
    # N = 4096 (512 base rows x 8 replicates): about 16 events in the 8192 A and B draws.
    # Before, 35 of 100 such seeds gave S1 near 1e15 and ST near -1e18 with no note.
    for seed in range(40):
        y = testing.saltelli_outputs(rare_event, THREE, 512, replicates=8, seed=seed)
        ds = sobol_indices(y, params=list(THREE), second_order=False).isel(element=0)
        events = int(y[:, :, [0, 4]].sum())  # the 1s in A and B (blocks A, AB:x1..x3, B)
        assert events < 30
        assert str(ds.status.values) == (f"unreliable: only {events} of 8192 draws of A and B "
                                         "differ from the most common value 0 (at least 30 are "
                                         "needed)"), seed
        values = np.r_[ds.S1.values, ds.ST.values, ds.S1_dummy.values, ds.ST_dummy.values]
        assert np.isnan(values).all() and not ds.influential.any()


def test_a_common_event_keeps_its_indices():
    # x1 > 0.8 and x2 > 0.8: about 330 events; exact ST = 0.5 + ... is far from any bound.
    model = lambda x: xr.Dataset({"y": ((x.x1 > 0.8) & (x.x2 > 0.8)).astype(float)})  # noqa: E731
    y = testing.saltelli_outputs(model, THREE, 512, replicates=8, seed=1)
    ds = sobol_indices(y, params=list(THREE), second_order=False).isel(element=0)
    assert str(ds.status.values) == "ok" and ds.attrs["notes"] == ""
    # Symmetric in x1, x2: S1 = Var(E[Y|x1]) / V = 0.2 * 0.04 * 0.8 / (0.04 * 0.96) = 1/6.
    np.testing.assert_allclose(ds.S1.sel(param=["x1", "x2"]), 1 / 6, atol=0.05)
    assert ds.influential.values.tolist() == [True, True, False]


def test_zero_variance_over_a_and_b_in_one_replicate_is_unreliable():
    # Replicate 1's A and B blocks are constant while its AB blocks vary: V is a rounding
    # error there. No value holds most of the draws, so this is the variance rule.
    rng = np.random.default_rng(0)
    y = rng.random((64, 2, 5, 1))
    y[:, 1, [0, 4]] = 0.25
    ds = sobol_indices(y, params=list(THREE), second_order=False)
    assert ds.status.values.tolist() == ["unreliable: the variance over A and B is zero in 1 of 2 "
                                         "replicates"]
    assert bool(ds.S1.isnull().all()) and bool(ds.ST_dummy.isnull().all())
    assert ds.attrs["notes"] == ("output 0: unreliable: the variance over A and B is zero in 1 of 2 "
                                 "replicates; its indices are NaN")


def test_an_output_constant_in_one_replicate_only_is_unreliable_not_constant():
    y = np.random.default_rng(0).random((64, 2, 5, 1))
    y[:, 1] = 0.25
    ds = sobol_indices(y, params=list(THREE), second_order=False)
    assert ds.status.values.tolist() == ["unreliable: the output is constant in 1 of 2 replicates"]
    assert bool(ds.constant[0]) and bool(ds.ST.isnull().all())


def test_zero_variance_in_bootstrap_resamples_is_unreliable():
    # Two base rows with f(A) = f(B) on each: a resample repeating one row has V = 0.
    y = np.random.default_rng(1).random((2, 1, 5, 1))
    y[:, 0, 4] = y[:, 0, 0]
    ds = sobol_indices(y, params=list(THREE), second_order=False, ci="bootstrap", resamples=200, rng=3)
    status = str(ds.status.values[0])
    assert status.startswith("unreliable: the variance over A and B is zero in ")
    bad = int(status.split(" in ")[1].split(" of ")[0])
    assert 70 <= bad <= 130 and status.endswith(" of 200 bootstrap resamples")  # about half
    assert bool(ds.S1_conf.isnull().all())


def test_an_estimate_far_outside_0_1_is_kept_and_explained():
    # AB:x1 = 10 f(B) is no model's output; Saltelli's S1 of x1 is then about -41.
    rng = np.random.default_rng(2)
    y = rng.random((256, 4, 5, 1))
    y[:, :, 1] = 10 * y[:, :, 4]
    ds = sobol_indices(y, params=list(THREE), second_order=False)
    s1 = float(ds.S1.sel(param="x1")[0])
    assert s1 < -10  # standardising over all blocks, AB:x1 included, makes it negative
    status = str(ds.status.values[0])
    assert status.startswith(f"unreliable: S1 of x1 is {s1:.3g} (interval [")
    assert status.endswith("]), outside [0, 1] beyond its Monte Carlo error (1 such S1)")
    assert ds.attrs["notes"] == f"output 0: {status}"


def test_a_group_of_one_input_has_the_inputs_indices():
    groups = {"solo": ["x2"], "pair": ["x1", "x3"]}
    y = testing.saltelli_outputs(testing.ishigami, {p: ("uniform", {"low": -np.pi, "high": np.pi})
                                                    for p in THREE}, 128, replicates=4, seed=5,
                                 groups=groups)
    ds = sobol_indices(y, params=list(THREE), second_order=False, groups=groups)
    for index in ("S1", "ST", "S1_conf", "ST_low", "ST_high"):
        assert float(ds[index.replace("S1", "S1_group").replace("ST", "ST_group")]
                     .sel(group="solo")[0]) == float(ds[index].sel(param="x2")[0])


def test_run_keeps_a_declared_group_of_one_and_marks_a_rare_headline(tmp_path):
    # Through a real run: x2 alone in group "solo" (once silently dropped), a rare 0/1
    # output (P = 0.2 * 0.1**2 / 0.7: about 6 events in 2048 draws of A and B) whose Sobol rows say why they are NaN.
    (tmp_path / "rare.py").write_text(
        "import xarray as xr\n\n"
        "def f(x):\n"
        "    y, hit = x.x1 + 2 * x.x2 ** 2, ((x.x1 > 0.8) & (x.x2 > 0.9)).astype(float)\n"
        "    both = xr.concat([y, hit], dim=xr.DataArray(['smooth', 'rare'], dims='side'))\n"
        "    hit.attrs['label'] = 'Hit'\n"
        "    return xr.Dataset({'y': y, 'hit': hit, 'both': both})\n")
    params = PARAMS.replace('[parameters.x2]\n', '[parameters.x2]\ngroup = "solo"\n')
    path = write_study(tmp_path, "rare:f", samples=1024, replicates=8, chunk_rows=256, params=params,
                       extra='headline = ["hit"]\nkey_output = "y"')
    run = run_study(path, out=tmp_path / "runs", figures=False, appendix=False)
    table = pd.read_csv(run / "indices.csv")
    sobol = table[table["method"] == "sobol"].set_index(["output", "index", "param"]).sort_index()
    assert set(sobol.loc["y", "status"]) == {"ok"}
    for index in ("S1", "ST"):
        assert sobol.loc[("y", f"{index}_group", "solo"), "value"] == sobol.loc[("y", index, "x2"), "value"]
    hit = sobol.loc["hit"]
    assert hit["value"].isna().all() and not hit["influential"].fillna(False).astype(bool).any()
    with xr.open_dataset(run / "results.nc") as res:
        events = int(res.hit.values[iid_rows(res)].sum())
    assert 0 < events < 30
    assert set(hit["status"]) == {f"unreliable: only {events} of 2048 draws of A and B differ from "
                                  "the most common value 0 (at least 30 are needed)"}
    # Each element of an output with a dimension has its own status.
    both = table[(table["method"] == "sobol") & (table["output"] == "both")]
    assert set(both.loc[both["side"] == "smooth", "status"]) == {"ok"}
    assert set(both.loc[both["side"] == "rare", "status"]) == set(hit["status"])
    notes = json.loads(xr.open_dataset(run / "indices.nc").attrs["notes"])
    assert f"sobol hit: output hit: {hit['status'].iloc[0]}; its indices are NaN" in notes
    assert not [n for n in notes if "heavy-tailed" in n]  # uniform and triangular inputs
    # The appendix says why instead of summing NaN to 0; the figures skip the empty curve
    # and draw the NaN bars (both once raised and left the run failed).
    data = load_run(run)
    reason = hit["status"].iloc[0]
    assert f"its Sobol' indices are not reported ({reason})." in headline_sentences(data)[0]
    paras = [b.text for b in sections.indices(data, {}) if isinstance(b, Para)]
    assert f"Hit: Sobol' indices not reported ({reason})." in paras
    specs = {spec.name: spec for spec in figure_specs(data)}
    assert "convergence-hit" not in specs and "convergence-y" in specs
    specs["indices-hit"].draw()


HEAVY = {"x1": ("lognormal", {"meanlog": 0.0, "sdlog": 1.0}), "x2": ("normal", {"mean": 0.0, "sd": 1.0}),
         "x3": UNIT}


def test_replicate_intervals_under_cover_with_a_heavy_tailed_input():
    # The figure quoted in the heavy-tail note: x1 + x2 with x1 lognormal (sdlog 1, excess
    # kurtosis 111), 8 replicates of 256 rows. 1000 seeds gave 0.79 for ST of x2; these 200
    # give 0.78 (binomial sd 0.03), far below the nominal 0.95.
    c = {"x1": 1.0, "x2": 1.0, "x3": 0.0}
    exact = testing.additive_indices(HEAVY, c)
    hits = []
    for seed in range(200):
        y = testing.saltelli_outputs(lambda x: testing.additive(x, c), HEAVY, 256, seed=seed)
        ds = sobol_indices(y, params=list(HEAVY), second_order=False).isel(element=0, param=1)
        hits.append([float(ds[f"{k}_low"]) <= float(exact[k][1]) <= float(ds[f"{k}_high"]) for k in ("S1", "ST")])
    coverage = np.mean(hits, axis=0)
    assert 0.72 <= coverage[1] <= 0.86, coverage
    assert coverage[0] < 0.9, coverage


def test_a_heavy_tailed_input_gets_a_note(tmp_path):
    (tmp_path / "lin.py").write_text("import xarray as xr\n\ndef f(x):\n    return xr.Dataset({'y': x.x1 + x.x2})\n")
    params = """
[parameters.x1]
distribution = "lognormal"
meanlog = 0.0
sdlog = 1.0

[parameters.x2]
distribution = "normal"
mean = 0.0
sd = 1.0
"""
    run = run_study(write_study(tmp_path, "lin:f", params=params), out=tmp_path / "runs", figures=False,
                    appendix=False)
    notes = json.loads(xr.open_dataset(run / "indices.nc").attrs["notes"])
    with xr.open_dataset(run / "results.nc") as res:
        k = float(stats.kurtosis(res.x1.values[iid_rows(res)]))
    assert k > 3
    assert [n for n in notes if "heavy-tailed" in n] == [
        f"sobol: input x1 is heavy-tailed (excess kurtosis {k:.3g} over the independent draws, above 3): the "
        "replicate intervals of the indices may under-cover; 95 % intervals held the truth in 0.78-0.95 of "
        "designs on a lognormal-input test model"]
