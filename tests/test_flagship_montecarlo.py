"""Monte Carlo over the flagship's study distributions, and the consistency of its study files.

Draws come from the study files themselves (``study.load_study`` + ``study.draw``, Latin
hypercube), so the tests follow any change to a distribution. Shares that the tests leave
open (Europe's flip, the backfire share, the war-necessity share) are printed: run pytest
with ``-s`` to see them.
"""

from pathlib import Path

import numpy as np
import pytest
import scipy.stats

import study
from study.models import asia_pacification as ap

PARAMS = Path(__file__).resolve().parents[1] / "params"
FLAGSHIP = PARAMS / "asia_pacification.toml"
STUDY_FILES = sorted(PARAMS.glob("asia_pacification*.toml"))
VARIANTS = {
    "asia_pacification": set(),
    "asia_pacification_process_continuation": {"rivalry_trend"},
    "asia_pacification_china_escalation": {"intimidation_effect"},
    "asia_pacification_china_escalation_no_intimidation": set(),
    "asia_pacification_kim_penalty": {"kim_bargaining_penalty"},
    "asia_pacification_coupled_support": set(),
    "asia_pacification_correlated": set(),
}
GROUPS = {"russia", "china", "europe", "asia_pacific", "united_states", "instruments"}
N, SEED = 4000, 20231128


def simulate(path, n=N, seed=SEED):
    x = study.draw(study.load_study(path), method="latin", samples=n, seed=seed)
    return x, ap.evaluate(x)


@pytest.fixture(scope="module")
def flagship():
    return simulate(FLAGSHIP)


def share(indicator) -> float:
    return float(np.mean(indicator))


# --- the flagship's distributions ------------------------------------------------------------

@pytest.mark.parametrize("actor", ap.ACTORS)
def test_each_actor_net_benefit_rises_in_at_least_95_percent_of_draws(flagship, actor):
    _, y = flagship
    p = share(y.delta_net_benefit.sel(actor=actor) > 0)
    print(f"P(ΔNB_{actor} > 0) = {p:.4f}")
    assert p >= 0.95


def test_europe_post_escalation_sign_is_genuinely_uncertain(flagship):
    _, y = flagship
    p_flip, p_all = share(y.europe_flip), share(y.all_accept_flip)
    print(f"P(Europe flips) = {p_flip:.3f}; P(all three accept after but not before) = {p_all:.3f}")
    assert 0.2 < p_flip < 0.9
    assert 0.2 < p_all < 0.9


def test_all_accept_flip_requires_europe_to_accept_after(flagship):
    _, y = flagship
    after = y.net_benefit.sel(actor="europe", phase="post") > 0
    assert not bool((y.all_accept_flip.astype(bool) & ~after).any())
    assert share(y.all_accept_flip) <= share(after)


def test_europe_is_the_binding_actor_after_the_escalation_in_most_draws(flagship):
    _, y = flagship
    p = share(y.europe_binding)
    print(f"P(Europe binds after the escalation) = {p:.3f}")
    assert p >= 0.9


def test_flip_share_falls_with_europe_autonomy_value(flagship):
    """α is one of the three focal assumptions: the flip is rarer in the top third of α."""
    x, y = flagship
    alpha = x.europe_autonomy_value
    low, high = np.quantile(alpha, [1 / 3, 2 / 3])
    p_low, p_high = share(y.europe_flip[alpha < low]), share(y.europe_flip[alpha > high])
    print(f"P(flip | α low third) = {p_low:.3f}; P(flip | α top third) = {p_high:.3f}")
    assert p_low > p_high + 0.2


# --- variants ----------------------------------------------------------------------------------

def test_escalation_backfires_exactly_where_intimidation_is_below_both_channels():
    """K4 with ε = 1: backfire ⇔ ζ < χ·(1 + η·(1 − ρ_rew)) and ζ < ½(β + λ_A), draw by draw."""
    x, y = simulate(PARAMS / "asia_pacification_china_escalation.toml")
    europe = x.china_policy_options * (1 + x.leverage_efficacy * (1 - x.europe_reward_capacity))
    asia = x.ap4_threat_amplification * (x.eu_support_value + x.ap4_legitimacy_gain)
    expected = (x.intimidation_effect < europe) & (x.intimidation_effect < asia)
    np.testing.assert_array_equal(y.backfire.values, expected.values.astype(float))
    p = share(y.backfire)
    print(f"P(backfire | ε = 1, ζ ~ U(0, 0.5)) = {p:.3f}")
    assert 0.05 < p < 0.95


def test_without_intimidation_escalation_always_backfires():
    _, y = simulate(PARAMS / "asia_pacification_china_escalation_no_intimidation.toml")
    assert share(y.backfire) == 1.0
    assert (y.escalation_effect.sel(actor="united_states") >= 0).all()


def test_process_continuation_war_necessary_matches_its_definition():
    x, y = simulate(PARAMS / "asia_pacification_process_continuation.toml")
    net = y.net_benefit
    expected = (net.sel(phase="pre") + x.rivalry_trend <= 0) & (net.sel(phase="post") > 0)
    np.testing.assert_array_equal(y.war_necessary.values, expected.transpose("sample", "actor").values.astype(float))
    p = y.war_necessary.mean("sample")
    print("P(war necessary for the flip | τ ~ U(0, 0.15)):", {a: round(float(v), 3) for a, v in zip(ap.ACTORS, p.values)})
    assert 0.2 < float(p.sel(actor="europe")) < 0.9


def test_kim_penalty_never_raises_europe_post_net_benefit():
    """T11 is adverse to the headline: same draws with k set to 0 give at least as much."""
    x, y = simulate(PARAMS / "asia_pacification_kim_penalty.toml")
    y0 = ap.evaluate(x.assign(kim_bargaining_penalty=x.kim_bargaining_penalty * 0.0))
    post = y.net_benefit.sel(actor="europe", phase="post")
    post0 = y0.net_benefit.sel(actor="europe", phase="post")
    assert bool((post <= post0).all()) and bool((post < post0).any())
    print(f"P(flip) with Kim's penalty = {share(y.europe_flip):.3f}, without = {share(y0.europe_flip):.3f}")
    assert share(y.europe_flip) <= share(y0.europe_flip)


def test_coupled_support_keeps_the_ap4_gain_in_at_least_95_percent_of_draws():
    _, y = simulate(PARAMS / "asia_pacification_coupled_support.toml")
    assert share(y.delta_net_benefit.sel(actor="asia_pacific") > 0) >= 0.95


def test_correlated_study_draws_its_declared_rank_correlations():
    spec = study.load_study(PARAMS / "asia_pacification_correlated.toml")
    x, y = simulate(spec.path, n=8192)
    for corr in spec.correlations:
        a, b = corr.params
        rho = scipy.stats.spearmanr(x[a].values, x[b].values).statistic
        assert rho == pytest.approx(corr.rank, abs=0.05), (a, b)
    p = share(y.europe_flip)
    print(f"P(Europe flips | correlated inputs) = {p:.3f}")
    assert 0.2 < p < 0.9


# --- study files -------------------------------------------------------------------------------

def test_every_variant_study_file_exists():
    assert {p.stem for p in STUDY_FILES} == set(VARIANTS)


@pytest.mark.parametrize("path", STUDY_FILES, ids=lambda p: p.stem)
def test_study_file_is_consistent_with_the_model(path):
    spec = study.load_study(path)
    assert spec.name == path.stem
    assert spec.model == "study.models.asia_pacification:evaluate"
    assert spec.analysis.headline == ("europe_flip", "all_accept_flip")
    assert spec.analysis.key_output == "europe_net_benefit_post"
    names = {p.name for p in spec.parameters}
    assert names == set(ap.PARAMETERS) | VARIANTS[spec.name]
    assert {"russia_residual_capacity", "china_policy_options", "europe_autonomy_value"} <= names
    # Every model input is declared, as a parameter or a constant (extensions explicitly off).
    assert names | {c.name for c in spec.constants} == set(ap.REQUIRED) | set(ap.EXTENSION_DEFAULTS)
    outputs = set(ap.evaluate(ap.nominal_inputs()).data_vars)
    assert set(spec.analysis.outputs) | set(spec.analysis.headline) <= outputs
    assert "term_value" not in spec.analysis.outputs


@pytest.mark.parametrize("path", STUDY_FILES, ids=lambda p: p.stem)
def test_study_file_documents_every_input(path):
    spec = study.load_study(path)
    for p in spec.parameters:
        assert p.group in GROUPS, p.name
        # One sentence: no sentence break inside, no full stop at the end.
        sentence = p.description.replace("i.e. ", "").replace("e.g. ", "")
        assert p.label and ". " not in sentence and not sentence.endswith("."), p.name
        assert p.source.startswith("§"), p.name
    for c in spec.constants:
        assert c.description and c.source.startswith("§"), c.name
    for corr in spec.correlations:
        assert corr.reason, corr.params
