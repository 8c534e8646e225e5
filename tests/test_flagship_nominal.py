"""The flagship model at the model brief's nominal point (brief §3, §4.5 and claims Q1–Q22).

Each claim of the brief is its own test, named after the claim and stating its inequality.
Tags: (E) explicit in the paper, (I) implied, (S) suggested, (A) ambiguous, (X) needs an
extension switched on. Expected numbers are the brief's §4.5 reference values, which the
model must reproduce to three decimals.
"""

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from study import load_study
from study.errors import StudyError
from study.models import asia_pacification as ap

PARAMS = Path(__file__).resolve().parents[1] / "params"
FLAGSHIP = PARAMS / "asia_pacification.toml"
TOL = 5e-4 + 1e-9  # "to three decimals": the brief rounds half to even (0.0375 -> 0.037)


def nominal_inputs(path=FLAGSHIP, **overrides) -> xr.Dataset:
    """One sample: the study's constants, its parameters at the brief's nominal values."""
    study = load_study(path)
    values = {c.name: c.value for c in study.constants}
    values.update({p.name: ap.NOMINAL[p.name] for p in study.parameters if p.name in ap.NOMINAL})
    values.update(overrides)
    missing = sorted({p.name for p in study.parameters} - values.keys())
    if missing:
        raise KeyError(f"no nominal value for {missing}; pass it as an override")
    return xr.Dataset({k: ("sample", [float(v)]) for k, v in values.items()})


def run(path=FLAGSHIP, **overrides) -> xr.Dataset:
    return ap.evaluate(nominal_inputs(path, **overrides)).isel(sample=0)


@pytest.fixture(scope="module")
def y():
    return run()


def nb(y, actor, phase):
    return float(y.net_benefit.sel(actor=actor, phase=phase))


def term(y, label, phase):
    return float(y.term_value.sel(term=label, phase=phase))


# --- the nominal point itself -----------------------------------------------------------

def test_nominal_point_is_the_mode_or_midpoint_of_each_study_distribution():
    study = load_study(FLAGSHIP)
    assert {p.name for p in study.parameters} == set(ap.PARAMETERS)
    for p in study.parameters:
        a = p.args
        centre = a["mode"] if p.distribution == "triangular" else (a["low"] + a["high"]) / 2
        if p.name == "china_counter_reaction":
            # The brief states h's nominal as 0.2, below the midpoint 0.225 of U(0.05, 0.4).
            assert (ap.NOMINAL[p.name], centre) == (0.2, pytest.approx(0.225))
        else:
            assert ap.NOMINAL[p.name] == pytest.approx(centre), p.name


def test_flagship_constants_are_the_brief_constants_and_switch_every_extension_off():
    constants = {c.name: c.value for c in load_study(FLAGSHIP).constants}
    assert {k: constants[k] for k in ap.CONSTANTS} == {k: ap.NOMINAL[k] for k in ap.CONSTANTS}
    assert {k: constants[k] for k in ap.EXTENSION_DEFAULTS} == ap.EXTENSION_DEFAULTS


# --- §4.5 baseline table, term by term ------------------------------------------------------

BASELINE = {  # term label: (pre, post), brief §4.5
    "europe.us_commitment": (0.262, 0.555),
    "europe.deterrence_diversion": (0.037, 0.078),
    "europe.ap4_arms": (0.0, 0.075),
    "europe.coercion_of_china": (0.0, 0.112),
    "europe.autonomy": (-0.350, -0.350),
    "europe.china_econ_stake": (-0.150, -0.150),
    "europe.entrapment": (-0.070, -0.028),
    "europe.russia_wedge": (-0.160, -0.008),
    "europe.china_options": (0.0, -0.150),
    "europe.dispersion": (0.0, -0.037),
    "asia_pacific.europe_support": (0.300, 0.300),
    "asia_pacific.legitimacy": (0.0, 0.175),
    "asia_pacific.reciprocity": (0.0, 0.075),
    "asia_pacific.deviation": (-0.034, -0.034),
    "asia_pacific.russia_cost": (-0.250, -0.050),
    "asia_pacific.russia_wedge": (-0.120, -0.006),
    "united_states.aggregate_power": (0.035, 0.465),
    "united_states.autonomy_control": (0.004, 0.217),
    "united_states.tension": (-0.098, -0.039),
    "united_states.combine_and_manage": (0.070, 0.148),
    "united_states.forgone_split": (-0.120, -0.006),
    "united_states.dispersion": (0.0, -0.150),
}


@pytest.mark.parametrize("label", sorted(BASELINE))
def test_baseline_table_term(y, label):
    pre, post = BASELINE[label]
    assert term(y, label, "pre") == pytest.approx(pre, abs=TOL)
    assert term(y, label, "post") == pytest.approx(post, abs=TOL)


@pytest.mark.parametrize("label", [t for t in ap.TERM_LABELS if t not in BASELINE])
def test_extension_terms_are_zero_in_the_baseline(y, label):
    assert term(y, label, "pre") == 0.0 and term(y, label, "post") == 0.0


@pytest.mark.parametrize("actor, pre, post", [
    ("europe", -0.431, 0.096), ("asia_pacific", -0.104, 0.460), ("united_states", -0.108, 0.635)])
def test_baseline_table_net_benefit(y, actor, pre, post):
    assert nb(y, actor, "pre") == pytest.approx(pre, abs=TOL)
    assert nb(y, actor, "post") == pytest.approx(post, abs=TOL)


@pytest.mark.parametrize("actor, pre, post", [
    ("europe", 0.013, 0.723), ("asia_pacific", 0.262, 0.990), ("united_states", 0.253, 0.998)])
def test_baseline_acceptance(y, actor, pre, post):
    assert float(y.acceptance.sel(actor=actor, phase="pre")) == pytest.approx(pre, abs=TOL)
    assert float(y.acceptance.sel(actor=actor, phase="post")) == pytest.approx(post, abs=TOL)


def test_baseline_joint_acceptance_desirability_and_acceleration(y):
    np.testing.assert_allclose(y.joint_acceptance.values, [0.001, 0.715], atol=TOL)
    np.testing.assert_allclose(y.us_desirability.values, [0.753, 0.853], atol=TOL)
    assert float(y.acceleration_index) == pytest.approx(0.715 - 0.001, abs=2 * TOL)


def test_baseline_decomposition_of_europe_change(y):
    change = y.term_value.sel(phase="post") - y.term_value.sel(phase="pre")
    expected = {"us_commitment": 0.292, "russia_wedge": 0.152, "coercion_of_china": 0.112,
                "ap4_arms": 0.075, "entrapment": 0.042, "deterrence_diversion": 0.041,
                "china_options": -0.150, "dispersion": -0.037}
    for name, value in expected.items():
        assert float(change.sel(term=f"europe.{name}")) == pytest.approx(value, abs=TOL), name
    assert float(y.delta_net_benefit.sel(actor="europe")) == pytest.approx(0.527, abs=TOL)


def test_net_benefit_is_the_sum_of_its_terms(y):
    for actor in ap.ACTORS:
        total = y.term_value.where(y.term_actor == actor, 0.0).sum("term")
        np.testing.assert_allclose(total.values, y.net_benefit.sel(actor=actor).values, rtol=0, atol=1e-15)


# --- claims Q1–Q22 ----------------------------------------------------------------------------

def test_q1_europe_flip_nb_e_pre_lt_0_lt_nb_e_post(y):
    """(E) E15: 得不偿失 → 可以一试."""
    assert nb(y, "europe", "pre") < 0 < nb(y, "europe", "post")
    assert float(y.europe_flip) == 1.0


def test_q2_ap4_gain_nb_a_post_gt_nb_a_pre(y):
    """(E) A12."""
    assert nb(y, "asia_pacific", "post") > nb(y, "asia_pacific", "pre")


def test_q3_us_gain_nb_l_post_gt_nb_l_pre_and_nb_l_post_gt_0(y):
    """(E) Abstract, U20."""
    assert nb(y, "united_states", "post") > nb(y, "united_states", "pre")
    assert nb(y, "united_states", "post") > 0


def test_q4_all_gain_delta_nb_gt_0_min_post_gt_0_and_z_post_gt_z_pre(y):
    """(E) F6, K2, U20: every ΔNB_j > 0, min_j NB_j(post) > 0, Z(post) > Z(pre)."""
    assert (y.delta_net_benefit > 0).all()
    assert float(y.net_benefit.sel(phase="post").min()) > 0
    assert float(y.joint_acceptance.sel(phase="post")) > float(y.joint_acceptance.sel(phase="pre"))
    assert float(y.all_accept_flip) == 1.0


def test_q5_ap4_direct_cost_falls_c_r_r_lt_c_r(y):
    """(E) A3: c_R·K_post < c_R·K_pre, i.e. r < 1 (0.25 → 0.05)."""
    assert -term(y, "asia_pacific.russia_cost", "post") < -term(y, "asia_pacific.russia_cost", "pre")
    assert ap.NOMINAL["russia_residual_capacity"] < 1


def test_q5_implied_post_costs_small_c_r_r_plus_w_a_p1_lt_beta_plus_lambda_plus_n(y):
    """(I) A2: c_R·r + w_A·p_1 < β + λ_A + n after the war."""
    costs = -term(y, "asia_pacific.russia_cost", "post") - term(y, "asia_pacific.russia_wedge", "post")
    gains = sum(term(y, f"asia_pacific.{t}", "post") for t in ("europe_support", "legitimacy", "reciprocity"))
    assert costs < gains


def test_q6_wedge_gains_vanish_w_p1_lt_0_05_and_w_post_lt_w_pre(y):
    """(E) A6, A8, E5: w_A·p_1 < 0.05, w_E·p_1 < 0.05 (INV threshold), W(post) < W(pre)."""
    for label in ("europe.russia_wedge", "asia_pacific.russia_wedge", "united_states.forgone_split"):
        assert -term(y, label, "post") < 0.05
        assert -term(y, label, "post") < -term(y, label, "pre")


def test_q7_dependence_rises_d1_gt_d0_and_entrapment_cost_falls(y):
    """(E) E7, T6: d_1 > d_0 and e_E·p_TW·(1−ρ)·(1−d_1) < e_E·p_TW·(1−ρ)·(1−d_0)."""
    d0 = ap.NOMINAL["europe_dependence_pre"]
    d1 = d0 + ap.NOMINAL["europe_dependence_shift"] * (1 - d0)
    assert d1 > d0
    assert -term(y, "europe.entrapment", "post") < -term(y, "europe.entrapment", "pre")


def test_q8_china_cost_rises_chi_gt_0_yet_post_gains_gt_chi_plus_dispersion(y):
    """(E) E10: χ > 0, and Europe's post-war gains exceed χ + ς_E·κ, so Q1 still holds."""
    new_costs = -term(y, "europe.china_options", "post") - term(y, "europe.dispersion", "post")
    assert -term(y, "europe.china_options", "post") > 0
    gains = float(y.delta_net_benefit.sel(actor="europe")) + new_costs
    assert gains > new_costs


def test_q9_coercion_s_eta_1_minus_rho_rew_gt_0_only_with_s_gt_0_and_rho_rew_lt_1(y):
    """(E) E11, E12: B_coerce(post) = s·η·(1 − ρ_rew) > 0; zero if s = 0 or ρ_rew = 1."""
    assert term(y, "europe.coercion_of_china", "post") == pytest.approx(0.112, abs=1e-12)
    assert term(run(china_support_to_russia=0.0), "europe.coercion_of_china", "post") == 0.0
    assert term(run(europe_reward_capacity=1.0), "europe.coercion_of_china", "post") == 0.0


def test_q10_channel3_rises_u_d1_eta_ptw_gt_u_d0_eta_ptw(y):
    """(E) E13, E14."""
    assert term(y, "europe.deterrence_diversion", "post") > term(y, "europe.deterrence_diversion", "pre")


def test_q11_us_tension_falls_and_europe_acceptance_rises(y):
    """(E) U9, U11: θ·v_ctl·(1−d_t) falls and A_E rises (more security and less autonomy)."""
    assert -term(y, "united_states.tension", "post") < -term(y, "united_states.tension", "pre")
    assert float(y.delta_acceptance.sel(actor="europe")) > 0


def test_q12_combine_and_manage_post_gt_divide_and_rule_post(y):
    """(E) U14, U16: V_CM(post) > V_DR(post), 0.148 > 0.006."""
    value = y.strategy_value.sel(phase="post")
    assert float(value.sel(strategy="combine_and_manage")) > float(value.sel(strategy="divide_and_rule"))
    assert float(y.strategy_margin) == pytest.approx(0.148 - 0.006, abs=TOL)


def test_q12_suggested_divide_and_rule_pre_ge_combine_and_manage_pre(y):
    """(S) N3: V_DR(pre) ≥ V_CM(pre), 0.120 ≥ 0.070: the US was torn before the war."""
    value = y.strategy_value.sel(phase="pre")
    assert float(value.sel(strategy="divide_and_rule")) >= float(value.sel(strategy="combine_and_manage"))
    assert float(y.strategy_switch) == 1.0


def test_q13_nb_l_post_increases_with_china_counter_reaction_h(y):
    """(E) U17: ∂NB_L(post)/∂h > 0; the derivative is d_1 = 0.74 exactly."""
    step = 0.01
    up = run(china_counter_reaction=ap.NOMINAL["china_counter_reaction"] + step)
    slope = (nb(up, "united_states", "post") - nb(y, "united_states", "post")) / step
    assert slope == pytest.approx(0.74, abs=1e-9)


def test_q14_us_desirability_pre_gt_0_d_l_pre(y):
    """(E) U19: D_L(pre) > 0 (0.753): the US always wanted it if the allies complied."""
    assert float(y.us_desirability.sel(phase="pre")) > 0


def test_q14_suggested_nb_l_pre_near_zero_because_allies_block(y):
    """(S) U6: NB_L(pre) is near zero (|NB_L(pre)| < 0.2) and below D_L(pre): allies block."""
    assert abs(nb(y, "united_states", "pre")) < 0.2
    assert nb(y, "united_states", "pre") < float(y.us_desirability.sel(phase="pre"))


def test_q15_dispersion_kappa_gt_0_yet_delta_nb_l_and_delta_nb_e_gt_0(y):
    """(E) N1, N7: κ > 0 costs both, yet ΔNB_L > 0 and ΔNB_E > 0."""
    assert term(y, "united_states.dispersion", "post") < 0 and term(y, "europe.dispersion", "post") < 0
    assert float(y.delta_net_benefit.sel(actor="united_states")) > 0
    assert float(y.delta_net_benefit.sel(actor="europe")) > 0


def test_q16_suggested_worth_a_try_is_marginal_normalised_nb_e_post_lt_0_2_and_europe_binds(y):
    """(S) E15, E16: 0 < NB_E(post)/G_E(post) < 0.2 (INV threshold) and Europe is the binding actor."""
    norm = y.normalised_net_benefit.sel(phase="post")
    np.testing.assert_allclose(norm.sel(actor=["europe", "asia_pacific", "united_states"]).values,
                               [0.062, 0.719, 0.619], atol=TOL)
    assert 0 < float(norm.sel(actor="europe")) < 0.2
    assert float(y.europe_binding) == 1.0
    assert float(y.consensus_index.sel(phase="post")) == float(norm.sel(actor="europe"))


def test_q17_suggested_ap4_nb_a_pre_le_0_lt_nb_a_post(y):
    """(S) K1."""
    assert nb(y, "asia_pacific", "pre") <= 0 < nb(y, "asia_pacific", "post")


def test_q18_ambiguous_ap4_total_costs_fall_europe_not_imposed(y):
    """(A) F6 vs E10: the AP4's total costs fall (0.404 → 0.090); Europe's are reported only."""
    cost = y.total_cost
    np.testing.assert_allclose(cost.sel(actor="asia_pacific").values, [0.404, 0.090], atol=TOL)
    assert float(cost.sel(actor="asia_pacific", phase="post")) < float(cost.sel(actor="asia_pacific", phase="pre"))
    np.testing.assert_allclose(cost.sel(actor="europe").values, [0.730, 0.724], atol=TOL)


ESCALATION = PARAMS / "asia_pacification_china_escalation.toml"


def test_q19_backfire_dnb_e_post_and_dnb_a_post_deps_gt_0_when_intimidation_small():
    """(X) K4: with China escalating (ε = 1) and weak intimidation (ζ = 0.1), both followers gain."""
    calm = run(ESCALATION, intimidation_effect=0.1, china_escalation=0.0)
    hot = run(ESCALATION, intimidation_effect=0.1)
    for actor in ("europe", "asia_pacific"):
        assert nb(hot, actor, "post") > nb(calm, actor, "post")
    # ∂NB_E/∂ε = χ·(1 + η·(1 − ρ_rew)) − ζ = 0.15·1.28 − 0.1; ∂NB_A/∂ε = ½(β + λ_A) − ζ.
    np.testing.assert_allclose(hot.escalation_effect.sel(actor=["europe", "asia_pacific"]).values,
                               [0.192 - 0.1, 0.2375 - 0.1], atol=1e-12)
    assert float(hot.backfire) == 1.0
    assert nb(hot, "europe", "pre") == nb(calm, "europe", "pre")


def test_q19_backfire_fails_when_intimidation_is_strong():
    """(X) K4 can fail: with ζ = 0.3 > 0.192 escalation lowers Europe's post net benefit."""
    hot = run(ESCALATION, intimidation_effect=0.3)
    assert float(hot.escalation_effect.sel(actor="europe")) == pytest.approx(0.192 - 0.3, abs=1e-12)
    assert float(hot.backfire) == 0.0


PROCESS = PARAMS / "asia_pacification_process_continuation.toml"


def test_q20_war_necessary_nb_pre_plus_tau_le_0_lt_nb_post_for_europe_and_ap4():
    """(X) K1, N5, N6: with trend τ = 0.075, NB^cf(post) = NB(pre) + τ ≤ 0 < NB(post) for E and A."""
    y = run(PROCESS, rivalry_trend=0.075)
    for actor in ("europe", "asia_pacific"):
        cf = float(y.counterfactual_net_benefit.sel(actor=actor))
        assert cf == pytest.approx(nb(y, actor, "pre") + 0.075, abs=1e-15)
        assert cf <= 0 < nb(y, actor, "post")
        assert float(y.war_necessary.sel(actor=actor)) == 1.0


def test_q20_trend_alone_flips_the_ap4_when_tau_exceeds_its_pre_war_deficit():
    """(X) The counterfactual can fail: τ = 0.2 > |NB_A(pre)| = 0.104 makes the war unnecessary for the AP4."""
    y = run(PROCESS, rivalry_trend=0.2)
    assert float(y.war_necessary.sel(actor="asia_pacific")) == 0.0
    assert float(y.war_necessary.sel(actor="europe")) == 1.0


POST_ONLY = {"china_policy_options": 0.3, "china_support_to_russia": 0.6, "arms_gap": 0.15,
             "ap4_legitimacy_gain": 0.3, "dispersion_cost": 0.3, "russia_residual_capacity": 0.6,
             "split_retention": 0.25, "europe_dependence_shift": 0.9, "rivalry_trend": 0.15,
             "china_escalation": 1.0, "intimidation_effect": 0.5, "kim_bargaining_penalty": 1.0}


def test_q21_war_is_exogenous_pre_war_outputs_ignore_every_post_war_input(y):
    """(E) F7, U13: no pre-war net benefit depends on a post-war input (NB_L(pre) excludes post gains)."""
    moved = run(**POST_ONLY)
    for name in ("net_benefit", "acceptance", "us_desirability", "total_cost"):
        xr.testing.assert_equal(moved[name].sel(phase="pre"), y[name].sel(phase="pre"))
    assert not np.allclose(moved.net_benefit.sel(phase="post"), y.net_benefit.sel(phase="post"))


def test_q22_entrapment_never_disappears_terms_stay_negative_in_both_phases(y):
    """(I) N9, K3: entrapment and deviation costs stay > 0 in both phases; their weight falls."""
    for label in ("europe.entrapment", "asia_pacific.deviation"):
        assert term(y, label, "pre") < 0 and term(y, label, "post") < 0
    assert term(y, "europe.entrapment", "post") > term(y, "europe.entrapment", "pre")


# --- variants at the nominal point ----------------------------------------------------------

def test_kim_penalty_lowers_europe_risk_control_and_post_net_benefit():
    """T11: ρ_post = ρ·(1 − k·(d1 − d0)); with k = 0.5 Europe's entrapment cost rises to
    0.6·0.4·(1 − 0.55·(1 − 0.5·0.39))·0.26 = 0.035."""
    y = run(PARAMS / "asia_pacification_kim_penalty.toml", kim_bargaining_penalty=0.5)
    assert term(y, "europe.entrapment", "post") == pytest.approx(-0.6 * 0.4 * (1 - 0.55 * (1 - 0.5 * 0.39)) * 0.26)
    assert term(y, "europe.entrapment", "pre") == pytest.approx(-0.0702)
    assert nb(y, "europe", "post") < nb(run(), "europe", "post")


def test_coupled_support_scales_european_support_by_europe_acceptance():
    """A9 + U18: β·A_E(t): 0.3·0.013 before and 0.3·0.723 after."""
    y = run(PARAMS / "asia_pacification_coupled_support.toml")
    support = y.term_value.sel(term="asia_pacific.europe_support")
    np.testing.assert_allclose(support.values, 0.3 * y.acceptance.sel(actor="europe").values, rtol=1e-15)
    assert nb(y, "asia_pacific", "pre") < nb(run(), "asia_pacific", "pre")
    assert float(y.delta_net_benefit.sel(actor="asia_pacific")) > float(run().delta_net_benefit.sel(actor="asia_pacific"))


def test_multipolarity_scales_down_both_entrapment_terms():
    """T7: μ = 0.5 halves Europe's entrapment and the AP4's deviation cost."""
    y = run(multipolarity=0.5)
    assert term(y, "europe.entrapment", "pre") == pytest.approx(-0.0351)
    assert term(y, "asia_pacific.deviation", "post") == pytest.approx(-0.016875)


# --- contract -----------------------------------------------------------------------------------

def test_outputs_are_float64_with_sample_first_and_labelled_dims():
    out = ap.evaluate(ap.nominal_inputs(3))
    assert all(v.dtype == np.float64 and v.dims[0] == "sample" for v in out.data_vars.values())
    assert out.net_benefit.dims == ("sample", "actor", "phase")
    assert list(out.actor.values) == ["united_states", "europe", "asia_pacific"]
    assert list(out.phase.values) == ["pre", "post"]
    assert out.term_value.dims == ("sample", "phase", "term") and out.sizes["term"] == len(ap.TERMS)
    assert set(out.term_actor.values) == set(ap.ACTORS)
    assert set(ap.OUTPUT_DESCRIPTIONS) == set(out.data_vars)


def test_missing_input_is_named():
    x = ap.nominal_inputs().drop_vars(["europe_dependence_pre", "acceptance_scale"])
    with pytest.raises(StudyError, match=r"evaluate: europe_dependence_pre: must be an input of the model .*"
                       r"missing: europe_dependence_pre, acceptance_scale\)"):
        ap.evaluate(x)


def test_input_with_an_extra_dimension_is_refused():
    x = ap.nominal_inputs(2)
    x["risk_control"] = (("sample", "k"), np.full((2, 2), 0.5))
    with pytest.raises(StudyError, match=r"risk_control: must have dims \(\) or \('sample',\); got \('sample', 'k'\)"):
        ap.evaluate(x)
