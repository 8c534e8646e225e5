"""The flagship model on samples: the counterfactual, the paper's monotone responses over the
distributions (Hypothesis), each named input moving a headline, each rival reading reversing
one, and the implementation checks (what the calibration builds in, labelled as such).

No whole runs: the model is vectorised, so draws from the study files are evaluated directly.
"""

from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

import study
from study.errors import StudyError
from study.models import asia_pacification as ap

PARAMS = Path(__file__).resolve().parents[1] / "params"
FLAGSHIP = PARAMS / "asia_pacification.toml"
STUDY = study.load_study(FLAGSHIP)
VARIANTS = [PARAMS / v for v in STUDY.analysis.variants]
CONSTANTS = {c.name: c.value for c in STUDY.constants}
SUPPORT = {p.name: (p.args["low"], p.args["high"]) for p in STUDY.parameters}
SETTINGS = settings(max_examples=30, deadline=None)
points = st.fixed_dictionaries({k: st.floats(lo, hi, allow_nan=False) for k, (lo, hi) in SUPPORT.items()})


def pair(name):
    lo, hi = SUPPORT[name]
    return st.tuples(st.floats(lo, hi), st.floats(lo, hi)).map(sorted)


def evaluate(base, name=None, values=(None, None), **constants):
    """Two samples of `base`, with `name` set to each of `values`."""
    data = {k: ("sample", [v, v]) for k, v in base.items()}
    if name is not None:
        data[name] = ("sample", list(values))
    data.update({k: ((), v) for k, v in {**CONSTANTS, **constants}.items() if k not in data})
    return ap.evaluate(xr.Dataset(data))


def draws(path, n=512, **constants):
    x = study.draw(study.load_study(path), method="latin", samples=n, seed=7)
    return ap.evaluate(x.assign({k: ((), v) for k, v in constants.items()}))


def at(**o):
    return ap.evaluate(ap.nominal_inputs(**o))


def val(y, name, **sel):
    return float(y[name].sel(**sel)[0]) if sel else float(y[name][0])


# --- the counterfactual ----------------------------------------------------------------------

@pytest.mark.parametrize("path", [FLAGSHIP] + VARIANTS, ids=lambda p: p.stem)
def test_with_the_war_switched_off_the_war_effect_is_zero_on_every_draw(path):
    y = draws(path, war=0.0)
    for name in ("war_effect", "rational_war_effect", "acceleration", "war_effect_path", "war_term_effect"):
        assert float(np.abs(y[name]).max()) == 0.0, name
    assert float(y.war_accelerates.max()) == 0.0 and float(y.europe_worth_a_try.max()) == 0.0


def test_before_february_2022_both_worlds_coincide_and_after_it_they_part():
    y = draws(FLAGSHIP)
    pre = [t for t in ap.TIMES if t < ap.WAR_START]
    gap = y.depth.sel(world="war") - y.depth.sel(world="no_war")
    assert float(np.abs(gap.sel(time=pre)).max()) == 0.0
    # After it they part, except where an actor is held at zero depth in both worlds.
    last = y.depth.sel(time=ap.TIMES[-1])
    held = (last.sel(actor=list(ap.ACTORS)) == 0).any("actor").all("world")
    parted = gap.sel(time=ap.TIMES[-1], actor="nato") != 0
    assert bool((parted | held).all()) and float(parted.mean()) > 0.95


# --- monotone responses the paper asserts, over the distributions -------------------------

@SETTINGS
@given(points, pair("russia_residual_capacity"))
def test_more_residual_russian_capacity_never_raises_the_war_effect(base, r):
    """§3.2.1 and 「相对总体力量」: a less depleted Russia costs the AP4 more and is worth more to China."""
    y = evaluate(base, "russia_residual_capacity", r)
    assert y.war_effect.values[1] <= y.war_effect.values[0] + 1e-12
    ap4 = y.margin.sel(world="war", margin_actor="asia_pacific").values
    assert ap4[1] <= ap4[0] + 1e-12


@SETTINGS
@given(points, pair("china_policy_options"))
def test_china_policy_options_lower_europe_margin_and_the_war_effect(base, chi):
    """§3.2.2 其二: China keeps options, so provoking it costs Europe more."""
    y = evaluate(base, "china_policy_options", chi)
    e = y.europe_margin.sel(world="war").values
    assert e[1] <= e[0] + 1e-12 and y.war_effect.values[1] <= y.war_effect.values[0] + 1e-12


@SETTINGS
@given(points, pair("europe_autonomy_value"))
def test_the_war_cheapens_autonomy_more_the_more_europe_values_it(base, alpha):
    """合而治之 through threat perception: the war's gain in Europe's margin grows with α."""
    y = evaluate(base, "europe_autonomy_value", alpha)
    gain = (y.europe_margin.sel(world="war") - y.europe_margin.sel(world="no_war")).values
    assert gain[1] >= gain[0] - 1e-12
    assert np.all(y.europe_margin.sel(world="no_war").values[1] <= y.europe_margin.sel(world="no_war").values[0] + 1e-12)


@SETTINGS
@given(points, pair("china_counter_reaction"))
def test_china_counter_reaction_raises_europe_margin_with_the_war(base, h):
    """§3.3: China's criticism raises Europe's threat perception of China."""
    y = evaluate(base, "china_counter_reaction", h)
    e = y.europe_margin.sel(world="war").values
    assert e[1] >= e[0] - 1e-12


@SETTINGS
@given(points, pair("europe_dependence_shift"))
def test_more_dependence_never_lowers_europe_margin(base, shift):
    """§3.2.2 其一 and Snyder (§2.1.2): dependence makes engagement worth more and entrapment matter less."""
    y = evaluate(base, "europe_dependence_shift", shift)
    e = y.europe_margin.sel(world="war").values
    assert e[1] >= e[0] - 1e-12


@SETTINGS
@given(points)
def test_depths_are_bounded_and_nato_is_the_geometric_mean(base):
    y = evaluate(base)
    d = y.depth.values
    assert d.min() >= 0.0 and d.max() <= 1.0
    nato = y.depth.sel(actor="nato")
    prod = y.depth.sel(actor=list(ap.ACTORS)).prod("actor")
    np.testing.assert_allclose(nato.values ** 3, prod.values, rtol=1e-10, atol=1e-15)


# --- each named input moves a headline --------------------------------------------------------

@pytest.mark.parametrize("name, output, low, high", [
    ("russia_residual_capacity", "war_effect", 0.209, 0.158),   # through the AP4 and relative power
    ("china_policy_options", "war_effect", 0.230, 0.159),       # through Europe's margin
    ("europe_autonomy_value", "war_effect", 0.181, 0.224),      # through threat perception
])
def test_each_disputed_input_moves_the_war_effect_at_the_nominal_point(name, output, low, high):
    lo, hi = SUPPORT[name]
    assert round(val(at(**{name: lo}), output), 3) == low
    assert round(val(at(**{name: hi}), output), 3) == high


@pytest.mark.parametrize("name, headline, share", [
    ("russia_residual_capacity", "war_accelerates", 0.1),   # r never enters Europe's threshold (docs/model.md)
    ("china_policy_options", "war_accelerates", 0.1),
    ("china_policy_options", "europe_worth_a_try", 0.3),
    ("europe_autonomy_value", "war_accelerates", 0.1),
    ("europe_autonomy_value", "europe_worth_a_try", 0.3),
])
def test_each_disputed_input_decides_a_headline_on_some_draws(name, headline, share):
    """Moving the input from the bottom to the top of its range flips the indicator on many draws."""
    lo, hi = SUPPORT[name]
    a, b = draws(FLAGSHIP, **{name: lo}), draws(FLAGSHIP, **{name: hi})
    flipped = float((a[headline] != b[headline]).mean())
    assert flipped > share, flipped


# --- each rival reading reverses a headline at a documented point ----------------------------

@pytest.mark.parametrize("reading, overrides, headline", [
    ("strategic irrationality", dict(irrationality_weight=0.8, domestic_push=0.0, europe_dispersion_share=1.0,
                                     dispersion_cost=0.5), "war_accelerates"),
    ("strategic irrationality", dict(irrationality_weight=0.8, domestic_push=0.0, europe_dispersion_share=1.0,
                                     dispersion_cost=0.5), "claim_instrumentally_rational"),
    ("security connectivity", dict(connectivity_benefit=0.5), "europe_worth_a_try"),
    ("security connectivity", dict(connectivity_benefit=0.5), "claim_ap4_needs_war"),
    ("divide and rule", dict(split_retention=0.9, europe_split_retention=0.9, us_split_retention=0.9),
     "europe_worth_a_try"),
    ("Europe with a veto", dict(europe_veto=1.0, core_autonomy_premium=0.3, core_wedge_premium=0.3), "europe_worth_a_try"),
    ("China escalates, intimidating", dict(china_escalation=1.0, intimidation_effect=0.5), "europe_worth_a_try"),
    ("China escalates, intimidating", dict(china_escalation=1.0, intimidation_effect=0.5), "war_accelerates"),
])
def test_each_rival_reading_reverses_a_headline_that_holds_at_the_nominal_point(reading, overrides, headline):
    assert val(at(), headline) == 1.0
    assert val(at(**overrides), headline) == 0.0, reading


def test_the_veto_reading_predicts_the_tokyo_office_dispute_and_the_paper_reading_does_not():
    assert val(at(), "obs_tokyo_office_blocked") == 0.0
    assert val(at(europe_veto=1.0, core_autonomy_premium=0.3, core_wedge_premium=0.3), "obs_tokyo_office_blocked") == 1.0


# --- implementation checks: what the calibration builds in -------------------------------------

def test_implementation_check_nominal_depths_and_effects():
    y = at()
    war = y.depth.sel(world="war", actor="nato").values[0]
    np.testing.assert_allclose(war.round(3), [0.134, 0.143, 0.152, 0.161, 0.201, 0.313, 0.369, 0.392])
    assert (round(val(y, "war_effect"), 3), round(val(y, "acceleration"), 3)) == (0.196, 0.061)
    assert [round(val(y, "europe_margin", world=w), 3) for w in ap.WORLDS] == [0.07, -0.343]


@pytest.mark.parametrize("claim", [k for k, c in ap.CLAIMS.items() if c[0] == "built_in"])
def test_implementation_check_built_in_claims_hold_on_every_draw(claim):
    for path in [FLAGSHIP] + VARIANTS:
        assert float(draws(path, n=256)[claim].min()) == 1.0, (claim, path.stem)


def test_claims_and_observations_carry_the_appendix_interface():
    y = at()
    text = (Path(__file__).resolve().parents[1] / "docs" / "model.md").read_text()
    for name, (kind, section, passage, statement, statement_zh) in ap.CLAIMS.items():
        a = y[name].attrs
        assert a["role"] == ("observation" if kind == "observation" else "claim")
        assert (a["statement"], a["statement_zh"], a["passage"], a["section"]) == (statement, statement_zh, passage, section)
        assert y[name].dims == ("sample",) and set(np.unique(y[name].values)) <= {0.0, 1.0}
        assert a.get("kind") == (None if kind == "observation" else kind)
        assert passage in text, name  # every passage is quoted in the model documentation
    for name in ("war_effect", "acceleration", "europe_margin", "war_accelerates", "war_speeds_up", "europe_worth_a_try"):
        assert {"label", "units", "description", "label_zh"} <= set(y[name].attrs), name


def test_missing_input_is_named():
    x = ap.nominal_inputs().drop_vars("war")
    with pytest.raises(StudyError, match=r"evaluate: war: must be an input of the model"):
        ap.evaluate(x)


def test_dask_backed_inputs_give_the_numpy_result_lazily():
    x = study.draw(STUDY, method="latin", samples=16, seed=1)
    x = x.assign({c.name: ((), c.value) for c in STUDY.constants})
    lazy = ap.evaluate(x.chunk({"sample": 8}))
    assert lazy.war_effect.chunks is not None
    xr.testing.assert_allclose(lazy.compute(), ap.evaluate(x))
