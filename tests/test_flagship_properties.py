"""Property tests of the flagship model: each term responds to its parameter as the paper says.

Hypothesis draws a base point anywhere in the support of the flagship's distributions and two
values of one parameter; the model is evaluated on both (one call, two samples) and the
response is compared with the direction the paper gives.
"""

from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from study import load_study
from study.models import asia_pacification as ap

STUDY = load_study(Path(__file__).resolve().parents[1] / "params" / "asia_pacification.toml")
CONSTANTS = {c.name: c.value for c in STUDY.constants}
SUPPORT = {p.name: (p.args["low"], p.args["high"]) for p in STUDY.parameters}
SETTINGS = settings(max_examples=40, deadline=None)
EPS = 1e-12


def within(name):
    low, high = SUPPORT[name]
    return st.floats(low, high, allow_nan=False)


points = st.fixed_dictionaries({name: within(name) for name in SUPPORT})


def pair(name):
    """Two values of `name` in its support, sorted."""
    return st.tuples(within(name), within(name)).map(sorted)


def evaluate(base, name=None, values=(None, None), **constants):
    """Evaluate two samples: `base` with `name` set to each of `values`."""
    data = {k: ("sample", [v, v]) for k, v in base.items()}
    if name is not None:
        data[name] = ("sample", list(values))
    data.update({k: ((), v) for k, v in {**CONSTANTS, **constants}.items() if k not in data})
    return ap.evaluate(xr.Dataset(data))


def nb(y, actor, phase):
    return y.net_benefit.sel(actor=actor, phase=phase).values


def cost(y, label, phase):
    return -y.term_value.sel(term=label, phase=phase).values


@SETTINGS
@given(points, pair("russia_residual_capacity"))
def test_more_residual_russian_capacity_never_raises_ap4_post_net_benefit(base, r):
    """A3: the depleted capacity K_1 = r carries the AP4's direct cost; more r, more cost."""
    y = evaluate(base, "russia_residual_capacity", r)
    post = nb(y, "asia_pacific", "post")
    assert post[1] <= post[0] + EPS
    assert nb(y, "asia_pacific", "pre")[0] == nb(y, "asia_pacific", "pre")[1]


@SETTINGS
@given(points, pair("europe_dependence_shift"), pair("europe_dependence_pre"))
def test_more_european_dependence_never_raises_effective_entrapment_cost(base, shift, pre):
    """T6 (Snyder): the more Europe depends on the US, the more entrapment risk it accepts."""
    y = evaluate(base, "europe_dependence_shift", shift)
    assert cost(y, "europe.entrapment", "post")[1] <= cost(y, "europe.entrapment", "post")[0] + EPS
    y = evaluate(base, "europe_dependence_pre", pre)
    for phase in ap.PHASES:
        assert cost(y, "europe.entrapment", phase)[1] <= cost(y, "europe.entrapment", phase)[0] + EPS


def test_kim_penalty_can_reverse_the_dependence_effect_on_entrapment():
    """T11 against T6: with k = 1 a low-d0, high-ρ Europe pays more entrapment as Δd rises
    (cost ∝ (1 − ρ + ρ·k·Δd·(1 − d0))·(1 − d0)·(1 − Δd), increasing at Δd = 0.2 when d0 = 0.2, ρ = 0.8)."""
    base = {**ap.NOMINAL, "europe_dependence_pre": 0.2, "risk_control": 0.8}
    base = {k: v for k, v in base.items() if k in SUPPORT}
    y = evaluate(base, "europe_dependence_shift", (0.2, 0.3), kim_bargaining_penalty=1.0)
    c = cost(y, "europe.entrapment", "post")
    expected = [0.6 * 0.4 * (1 - 0.8 + 0.8 * s * 0.8) * 0.8 * (1 - s) for s in (0.2, 0.3)]
    np.testing.assert_allclose(c, expected, rtol=1e-12)
    assert c[1] > c[0]


@SETTINGS
@given(points, pair("china_policy_options"))
def test_china_policy_options_lower_europe_post_net_benefit_only(base, chi):
    """E10: χ is a post-war cost for Europe; the pre-war calculus ignores it (F7)."""
    y = evaluate(base, "china_policy_options", chi)
    assert nb(y, "europe", "post")[1] <= nb(y, "europe", "post")[0] + EPS
    assert nb(y, "united_states", "post")[1] <= nb(y, "united_states", "post")[0] + EPS
    np.testing.assert_array_equal(y.net_benefit.sel(phase="pre")[0], y.net_benefit.sel(phase="pre")[1])


@SETTINGS
@given(points, pair("europe_autonomy_value"))
def test_autonomy_value_decides_europe_sign_not_its_change(base, alpha):
    """E1/T3: α lowers NB_E in both phases by the same amount, so ΔNB_E does not depend on it."""
    y = evaluate(base, "europe_autonomy_value", alpha)
    for phase in ap.PHASES:
        drop = nb(y, "europe", phase)[0] - nb(y, "europe", phase)[1]
        assert drop == pytest.approx(alpha[1] - alpha[0], abs=1e-12)
    delta = y.delta_net_benefit.sel(actor="europe").values
    assert delta[0] == pytest.approx(delta[1], abs=1e-12)


@SETTINGS
@given(points, pair("china_counter_reaction"))
def test_china_counter_reaction_raises_us_post_net_benefit_and_strategy_margin(base, h):
    """Q13, U17: ∂NB_L(post)/∂h = d_1 > 0; 合而治之 gains on divide-and-rule."""
    y = evaluate(base, "china_counter_reaction", h)
    d1 = base["europe_dependence_pre"] + base["europe_dependence_shift"] * (1 - base["europe_dependence_pre"])
    gain = nb(y, "united_states", "post")[1] - nb(y, "united_states", "post")[0]
    assert gain == pytest.approx(d1 * (h[1] - h[0]), abs=1e-12)
    assert y.strategy_margin.values[1] >= y.strategy_margin.values[0]


@SETTINGS
@given(points, pair("dispersion_cost"))
def test_dispersion_cost_lowers_us_and_europe_post_net_benefit(base, kappa):
    """N1/N7: strategic dispersion is a post-war cost for the US and (a share) for Europe."""
    y = evaluate(base, "dispersion_cost", kappa)
    for actor in ("united_states", "europe"):
        assert nb(y, actor, "post")[1] <= nb(y, actor, "post")[0] + EPS


@SETTINGS
@given(points, pair("split_retention"))
def test_more_room_to_split_russia_from_china_lowers_every_post_net_benefit(base, q):
    """A8, E5, U14: the forgone wedge/split grows with the split feasibility p_1 = p0·q."""
    y = evaluate(base, "split_retention", q)
    for actor in ap.ACTORS:
        assert nb(y, actor, "post")[1] <= nb(y, actor, "post")[0] + EPS


@SETTINGS
@given(points, pair("us_commitment_value"))
def test_value_of_the_us_commitment_raises_europe_change(base, u):
    """E7, E13–E14: channels 1a and 3 scale with u·(d1 − d0) ≥ 0."""
    y = evaluate(base, "us_commitment_value", u)
    delta = y.delta_net_benefit.sel(actor="europe").values
    assert delta[1] >= delta[0] - EPS


@SETTINGS
@given(points, pair("risk_control"), pair("ap4_prior_alignment"))
def test_risk_control_and_prior_alignment_lower_entrapment_costs(base, rho, phi):
    """T10 (Altfeld) and A1–A2: looser commitments and prior alignment cut entrapment/deviation."""
    y = evaluate(base, "risk_control", rho)
    for label in ("europe.entrapment", "asia_pacific.deviation"):
        for phase in ap.PHASES:
            assert cost(y, label, phase)[1] <= cost(y, label, phase)[0] + EPS
    y = evaluate(base, "ap4_prior_alignment", phi)
    assert cost(y, "asia_pacific.deviation", "post")[1] <= cost(y, "asia_pacific.deviation", "post")[0] + EPS


@SETTINGS
@given(points, pair("legitimacy_amplifier"))
def test_legitimacy_amplifies_broad_participation_and_penalises_narrow(base, iota):
    """U2: smart power when more than half the allies take part, rude power when fewer do."""
    y = evaluate(base, "legitimacy_amplifier", iota)
    w = CONSTANTS["europe_power_weight"]
    for phase in ap.PHASES:
        a = y.acceptance.sel(phase=phase)
        breadth = w * a.sel(actor="europe").values[0] + (1 - w) * a.sel(actor="asia_pacific").values[0]
        power = y.term_value.sel(term="united_states.aggregate_power", phase=phase).values
        change = power[1] - power[0]
        expected = CONSTANTS["us_material_power"] * breadth * (iota[1] - iota[0]) * (2 * breadth - 1)
        assert change == pytest.approx(expected, abs=1e-12)


@SETTINGS
@given(points)
def test_terms_add_up_and_acceptance_is_the_logistic_of_net_benefit(base):
    y = evaluate(base)
    for actor in ap.ACTORS:
        own = y.term_value.where(y.term_actor == actor, 0.0).sum("term")
        np.testing.assert_allclose(own.values, y.net_benefit.sel(actor=actor).values, atol=1e-14)
        costs = -y.term_value.where((y.term_actor == actor) & (y.term_kind == "cost"), 0.0).sum("term")
        np.testing.assert_allclose(costs.values, y.total_cost.sel(actor=actor).values, atol=1e-14)
    expected = 1 / (1 + np.exp(-y.net_benefit.values / CONSTANTS["acceptance_scale"]))
    np.testing.assert_allclose(y.acceptance.values, expected, rtol=1e-12, atol=1e-300)
    assert ((y.term_value.where(y.term_kind == "cost") <= 0) | y.term_value.where(y.term_kind == "cost").isnull()).all()


POST_ONLY = ("china_policy_options", "china_support_to_russia", "arms_gap", "ap4_legitimacy_gain",
             "dispersion_cost", "russia_residual_capacity", "split_retention", "europe_dependence_shift")


@SETTINGS
@given(points, st.sampled_from(POST_ONLY), st.floats(0, 1))
def test_pre_war_outputs_never_depend_on_post_war_inputs(base, name, u):
    """Q21 (F7): the war is exogenous; nothing the war brings enters the pre-war calculus."""
    low, high = SUPPORT[name]
    y = evaluate(base, name, (base[name], low + u * (high - low)))
    for out in ("net_benefit", "acceptance", "total_cost", "normalised_net_benefit"):
        pre = y[out].sel(phase="pre").values
        np.testing.assert_array_equal(pre[0], pre[1])


@SETTINGS
@given(points, st.floats(0.0, 0.5), st.floats(0.0, 0.5), st.floats(0.01, 1.0),
       st.one_of(st.just(0.0), st.floats(1e-6, 0.3)))
def test_intimidation_lowers_followers_and_backfire_needs_weak_intimidation(base, z0, z1, eps, chi):
    """K4: with China escalating, ζ lowers Europe's and the AP4's post net benefit; with ζ = 0
    escalation raises both (backfire) at any ε > 0, unless China had no options to use (χ = 0)."""
    z0, z1 = sorted((z0, z1))
    # χ is drawn apart: a denormal χ would vanish in the difference NB(ε) − NB(0).
    base = {**base, "china_policy_options": chi}
    y = evaluate(base, "intimidation_effect", (z0, z1), china_escalation=eps)
    for actor in ("europe", "asia_pacific"):
        assert nb(y, actor, "post")[1] <= nb(y, actor, "post")[0] + EPS
    calm = evaluate(base, "intimidation_effect", (0.0, 0.0), china_escalation=eps)
    assert (calm.backfire.values == float(chi > 0)).all()


@SETTINGS
@given(points, pair("europe_autonomy_value"))
def test_coupled_support_passes_europe_reluctance_on_to_the_ap4(base, alpha):
    """A9 + U18: with coupling, what lowers Europe's acceptance lowers the AP4's net benefit."""
    y = evaluate(base, "europe_autonomy_value", alpha, europe_support_coupling=1.0)
    for phase in ap.PHASES:
        assert nb(y, "asia_pacific", phase)[1] <= nb(y, "asia_pacific", phase)[0] + EPS
    y = evaluate(base, "europe_autonomy_value", alpha)
    for phase in ap.PHASES:
        assert nb(y, "asia_pacific", phase)[1] == nb(y, "asia_pacific", phase)[0]


@SETTINGS
@given(points, st.floats(0.0, 0.3))
def test_rivalry_trend_shifts_post_and_counterfactual_alike(base, tau):
    """N6: τ adds one for one to the followers' post-war net benefits and to the counterfactual."""
    y = evaluate(base, "rivalry_trend", (0.0, tau))
    for actor in ("europe", "asia_pacific"):
        assert nb(y, actor, "post")[1] - nb(y, actor, "post")[0] == pytest.approx(tau, abs=1e-12)
    cf = y.counterfactual_net_benefit.values
    np.testing.assert_allclose(cf[1] - cf[0], tau, atol=1e-12)


def test_dask_backed_inputs_give_the_numpy_result_lazily():
    rng = np.random.default_rng(5)
    x = xr.Dataset({k: ("sample", rng.uniform(*SUPPORT[k], 1000)) for k in SUPPORT})
    x = x.assign({k: ((), v) for k, v in CONSTANTS.items()}).assign(china_escalation=0.5, intimidation_effect=0.1)
    eager = ap.evaluate(x)
    lazy = ap.evaluate(x.chunk(sample=250))
    assert lazy.net_benefit.chunks is not None
    xr.testing.assert_allclose(lazy.compute(), eager, rtol=1e-14, atol=0)
