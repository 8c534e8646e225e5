"""The flagship study end to end at its default N: what the appendix and the paper rely on."""

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from study import load_study
from mcsens import run_study
from tests.helpers import ROOT

FLAGSHIP = ROOT / "params" / "asia_pacification.toml"
FOCAL = ("russia_residual_capacity", "china_policy_options", "europe_autonomy_value")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("flagship")
    return run_study(FLAGSHIP, out=out, figures=False, appendix=False)


@pytest.fixture(scope="module")
def table(run):
    return pd.read_csv(run / "indices.csv")


def test_runs_on_its_defaults(run):
    study = load_study(FLAGSHIP)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["samples"]["N"] == study.sampling.samples == 4096
    assert set(FOCAL) <= set(study.param_names)


@pytest.mark.parametrize("output", ["europe_flip", "all_accept_flip"])
def test_headline_outputs_are_ranked_with_intervals_verdicts_and_convergence(table, output):
    st = table.query("method == 'sobol' and output == @output and index == 'ST'")
    assert len(st) == 25 and sorted(st["rank"]) == list(range(1, 26))
    assert st["conf"].ge(0).all() and (st["conf_low"] <= st["value"]).all() and (st["value"] <= st["conf_high"]).all()
    assert st["influential"].isin([True, False]).all() and st["converged"].isin([True, False]).all()
    assert (st["estimator"] == "Jansen (1999)").all()
    # The brief's reference implementation (§4.7): u and α lead, with ST ≈ 0.47 and 0.46.
    top2 = set(st.nsmallest(2, "rank")["param"])
    assert top2 == {"us_commitment_value", "europe_autonomy_value"}
    for p in top2:
        row = st.set_index("param").loc[p]
        assert row["influential"] and 0.35 < row["value"] < 0.6
    # Strong interactions for an indicator: the first-order indices sum well below 1.
    s1 = table.query("method == 'sobol' and output == @output and index == 'S1'")["value"].sum()
    assert s1 < 0.8


def test_noise_floor_separates_inert_parameters(table):
    st = table.query("method == 'sobol' and output == 'europe_flip' and index == 'ST'").set_index("param")
    # Parameters that enter only the AP4's or the US's calculus cannot move Europe's flip.
    for p in ("ap4_legitimacy_gain", "us_divide_rule_value", "legitimacy_amplifier"):
        assert not st.loc[p, "influential"], p
        assert abs(st.loc[p, "value"]) < 0.01


def test_headline_probability_is_uncertain_and_reported_with_an_interval(table):
    p = table.query("method == 'headline' and output == 'europe_flip'").iloc[0]
    assert 0.2 < p["value"] < 0.9 and p["conf"] < 0.05
    assert p["conf_method"] == "Student-t interval across replicate designs"


def test_grouped_indices_name_europe_as_the_driving_family(table):
    g = table.query("method == 'sobol' and output == 'europe_flip' and index == 'ST_group'").set_index("param")
    assert g["value"].idxmax() == "europe"


def test_triangulation_methods_agree_on_the_leaders(table):
    for method, index in (("morris", "mu_star"), ("delta", "delta")):
        sub = table.query("method == @method and output == 'europe_net_benefit_post' and index == @index")
        assert "europe_autonomy_value" in set(sub.nsmallest(5, "rank")["param"]), method


def test_indices_nc_holds_the_same_numbers(run, table):
    with xr.open_dataset(run / "indices.nc", group="sobol") as ds:
        st = ds["europe_flip__ST"].to_series()
    csv = table.query("method == 'sobol' and output == 'europe_flip' and index == 'ST'").set_index("param")["value"]
    np.testing.assert_allclose(st.loc[csv.index].values, csv.values, rtol=1e-9)


def test_variants_are_compared_with_the_probability_that_the_result_holds(run):
    study = load_study(FLAGSHIP)
    table = pd.read_csv(run / "variants" / "compare.csv")
    expected = {"asia_pacification"} | {v.removesuffix(".toml") for v in study.analysis.variants}
    assert set(table["study"]) == expected and len(expected) == 7
    for _, row in table.iterrows():
        assert row["ci_low"] <= row["p_holds"] <= row["ci_high"]
    flip = table.query("output == 'europe_flip'").set_index("study")["p_holds"]
    # The conclusion's backfire warning: without intimidation, escalation makes the flip likelier.
    assert flip["asia_pacification_china_escalation_no_intimidation"] > flip["asia_pacification"]
    # Kim's penalty works against the headline (the brief, T11).
    assert flip["asia_pacification_kim_penalty"] < flip["asia_pacification"]


def test_scenario_discovery_names_a_failure_box_with_coverage_and_density(run):
    boxes = pd.read_csv(run / "scenarios.csv").query("kind == 'chosen' and output == 'europe_flip'")
    assert len(boxes) and boxes["param"].notna().all()
    first = boxes[boxes["box"] == boxes["box"].min()]
    assert (first["coverage"].between(0, 1)).all() and (first["density"] > 0.41).all()
    assert set(first["param"]) & {"us_commitment_value", "europe_autonomy_value"}
