"""Flagship model: the cost-benefit logic of NATO's Asia-Pacification before and after 2022.

A formalisation of Xiao He (肖河), 《俄乌冲突背景下北约亚太化的联盟理论分析：战略非理性抑或其他》:
three actor types (the United States as alliance leader, the European allies, the
Asia-Pacific partners or AP4) weigh the marginal benefits and costs of taking part in, or
pushing, NATO's Asia-Pacification, before (``pre``) and after (``post``) the escalation of
February 2022. Every term is additive unless the paper makes one effect conditional on
another; section marks (§3.2.1 …) refer to the paper, mechanism IDs (E7, A3 …) to the
model brief. The equations, the term table and what was invented are in ``docs/model.md``.

The paper is qualitative; every form and number here is a modelling choice on a common
normalised utility scale (one unit is roughly the largest single stake an actor weighs).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from study.errors import StudyError

ACTORS = ("united_states", "europe", "asia_pacific")
PHASES = ("pre", "post")
STRATEGIES = ("combine_and_manage", "divide_and_rule")

# The 25 uncertain inputs of the flagship study (brief §3), in the study file's order.
PARAMETERS = (
    "russia_residual_capacity", "split_feasibility_pre", "split_retention",
    "china_policy_options", "china_support_to_russia", "china_counter_reaction", "taiwan_risk",
    "europe_autonomy_value", "us_commitment_value", "europe_china_econ_stake",
    "europe_russia_wedge_value", "europe_entrapment_exposure", "europe_dependence_pre",
    "europe_dependence_shift", "arms_gap",
    "ap4_prior_alignment", "ap4_wedge_value", "eu_support_value", "ap4_legitimacy_gain",
    "legitimacy_amplifier", "us_autonomy_control_value", "us_divide_rule_value", "dispersion_cost",
    "leverage_efficacy", "risk_control",
)
# Structural constants (brief §3.1): required, because each fixes a scale or a weight.
CONSTANTS = (
    "us_material_power", "ap4_russia_cost_scale", "europe_reward_capacity", "ap4_deviation_cost",
    "europe_dispersion_share", "us_tension_weight", "acceptance_scale", "europe_power_weight",
)
# Extension switches (brief §3.2); absent means the baseline, i.e. switched off.
EXTENSION_DEFAULTS = {
    "rivalry_trend": 0.0,             # τ, process continuation (N6, Q20)
    "china_escalation": 0.0,          # ε, China uses its options (K4, Q19)
    "intimidation_effect": 0.0,       # ζ, escalation deters instead of backfiring (K4)
    "ap4_threat_amplification": 0.5,  # share of β + λ_A that punishment adds (K4)
    "kim_bargaining_penalty": 0.0,    # k, Kim 2011 bargaining-power loss (T11)
    "multipolarity": 0.0,             # μ, Snyder's polarity effect on entrapment (T7)
    "europe_support_coupling": 0.0,   # 1 ⇒ AP4 value European support as β·A_E (A9 + U18)
}
REQUIRED = PARAMETERS + CONSTANTS

# The brief's §3 nominal point (mode of a triangular, midpoint of a uniform, except
# china_counter_reaction whose stated nominal 0.2 is below the midpoint of U(0.05, 0.4)).
NOMINAL = {
    "russia_residual_capacity": 0.20, "split_feasibility_pre": 0.40, "split_retention": 0.05,
    "china_policy_options": 0.15, "china_support_to_russia": 0.40, "china_counter_reaction": 0.20,
    "taiwan_risk": 0.40, "europe_autonomy_value": 0.35, "us_commitment_value": 0.75,
    "europe_china_econ_stake": 0.15, "europe_russia_wedge_value": 0.40,
    "europe_entrapment_exposure": 0.60, "europe_dependence_pre": 0.35,
    "europe_dependence_shift": 0.60, "arms_gap": 0.075, "ap4_prior_alignment": 0.85,
    "ap4_wedge_value": 0.30, "eu_support_value": 0.30, "ap4_legitimacy_gain": 0.175,
    "legitimacy_amplifier": 0.50, "us_autonomy_control_value": 0.30, "us_divide_rule_value": 0.30,
    "dispersion_cost": 0.15, "leverage_efficacy": 0.35, "risk_control": 0.55,
    "us_material_power": 0.40, "ap4_russia_cost_scale": 0.25, "europe_reward_capacity": 0.20,
    "ap4_deviation_cost": 0.50, "europe_dispersion_share": 0.25, "us_tension_weight": 0.50,
    "acceptance_scale": 0.10, "europe_power_weight": 0.50,
}

# (actor, term, kind): the order of the `term` dimension. Kind "cost" terms enter with a
# minus sign and add up to `total_cost`.
TERMS = (
    ("europe", "us_commitment", "benefit"),
    ("europe", "deterrence_diversion", "benefit"),
    ("europe", "ap4_arms", "benefit"),
    ("europe", "coercion_of_china", "benefit"),
    ("europe", "autonomy", "cost"),
    ("europe", "china_econ_stake", "cost"),
    ("europe", "entrapment", "cost"),
    ("europe", "russia_wedge", "cost"),
    ("europe", "china_options", "cost"),
    ("europe", "dispersion", "cost"),
    ("europe", "escalation_intimidation", "cost"),
    ("europe", "rivalry_trend", "benefit"),
    ("asia_pacific", "europe_support", "benefit"),
    ("asia_pacific", "legitimacy", "benefit"),
    ("asia_pacific", "reciprocity", "benefit"),
    ("asia_pacific", "deviation", "cost"),
    ("asia_pacific", "russia_cost", "cost"),
    ("asia_pacific", "russia_wedge", "cost"),
    ("asia_pacific", "escalation_threat", "benefit"),
    ("asia_pacific", "escalation_intimidation", "cost"),
    ("asia_pacific", "rivalry_trend", "benefit"),
    ("united_states", "aggregate_power", "benefit"),
    ("united_states", "autonomy_control", "benefit"),
    ("united_states", "tension", "cost"),
    ("united_states", "combine_and_manage", "benefit"),
    ("united_states", "forgone_split", "cost"),
    ("united_states", "dispersion", "cost"),
    ("united_states", "rivalry_trend", "benefit"),
)
TERM_LABELS = tuple(f"{actor}.{term}" for actor, term, _ in TERMS)


def _europe(v, t, s, eps):
    """Europe's terms in phase ``t`` (0 pre, 1 post), §3.2.2; ``eps`` is China's escalation."""
    u, eta, p_tw = v["us_commitment_value"], v["leverage_efficacy"], v["taiwan_risk"]
    chi = v["china_policy_options"]
    return {
        # E7 channel 1a (§3.2.2 其一): aligning secures the US commitment; its worth grows with
        # dependence, the autonomy-for-security exchange of asymmetric alliances (T9).
        "us_commitment": u * s["d"][t],
        # E13–E14 channel 3 (§3.2.2 其三): deterring China averts a US diversion to Taiwan whose
        # burden falls on Europe in proportion to its dependence.
        "deterrence_diversion": u * s["d"][t] * eta * p_tw,
        # E8 channel 1b (§3.2.2 其一): AP4 arms fill the gap Ukraine aid leaves; post only.
        "ap4_arms": t * v["arms_gap"],
        # E11–E12 channel 2 (§3.2.2 其二): Grinberg's conversion of China's support to Russia
        # into Europe's war cost, met by coercion because reward capacity falls short
        # (Izumikawa); escalation realises part of China's latent options as support (K4).
        "coercion_of_china": t * (v["china_support_to_russia"] + eps * chi) * eta
        * (1.0 - v["europe_reward_capacity"]),
        # E1/E3/T3 (§3.2.2, §2.1.1): political entanglement, the autonomy given up.
        "autonomy": -v["europe_autonomy_value"],
        # E4/T3 (§3.2.2): economic entanglement, the stake in China.
        "china_econ_stake": -v["europe_china_econ_stake"],
        # T1/T5 entrapment over Taiwan (§2.1.1), net of risk control (T10–T13, §2.1.2) and
        # scaled by Snyder's sensitivity 1 − d (T6) and the polarity effect 1 − μ (T7).
        "entrapment": -v["europe_entrapment_exposure"] * p_tw * (1.0 - s["rho_e"][t])
        * (1.0 - s["d"][t]) * (1.0 - v["multipolarity"]),
        # E5 (§3.2.2): the Russia wedge given up by bundling; realisable only as far as a
        # split is feasible, which the war drives towards zero (A8).
        "russia_wedge": -v["europe_russia_wedge_value"] * s["p"][t],
        # E10 (§3.2.2 其二): China's unused options, an extra loss from provoking it; the part
        # China actually uses under escalation moves into coercion_of_china.
        "china_options": -t * chi * (1.0 - eps),
        # N1 (§1): Europe's share of strategic dispersion while the war runs.
        "dispersion": -t * v["europe_dispersion_share"] * v["dispersion_cost"],
        # K4 counter-hypothesis (§4): escalation intimidates instead of backfiring.
        "escalation_intimidation": -t * eps * v["intimidation_effect"],
        # N6 process continuation (§2.2.2): the pre-existing rivalry trend.
        "rivalry_trend": t * v["rivalry_trend"],
    }


def _asia_pacific(v, t, s, eps, accept_e):
    """The AP4's terms in phase ``t``, §3.2.1; ``accept_e`` is Europe's acceptance."""
    beta, lam = v["eu_support_value"], v["ap4_legitimacy_gain"]
    c = v["europe_support_coupling"]
    return {
        # A9 (§3.2.1): European political and economic support in a China contingency; the
        # coupling variant counts it only as far as Europe takes part (U18).
        "europe_support": beta * (1.0 - c + c * accept_e),
        # A10 (§3.2.1): legitimacy for existing defence policy, "Ukraine today …"; post only.
        "legitimacy": t * lam,
        # A11 (§3.2.2 其一): Europe's reciprocal China/Korea commitments for AP4 arms.
        "reciprocity": t * v["arms_gap"],
        # A1–A2 (§3.2.1): deviation from their own goals and added entrapment, small when
        # already aligned with US China policy, reduced by risk control (T10) and μ (T7).
        "deviation": -v["ap4_deviation_cost"] * (1.0 - v["ap4_prior_alignment"])
        * (1.0 - v["risk_control"]) * (1.0 - v["multipolarity"]),
        # A3–A5, A7 (§3.2.1): Russia's capacity to impose costs, depleted by the war (K_1 = r).
        "russia_cost": -v["ap4_russia_cost_scale"] * s["k"][t],
        # A6, A8 (§3.2.1): the forgone wedge (Japan's detachment strategy, Northern Territories).
        "russia_wedge": -v["ap4_wedge_value"] * s["p"][t],
        # K4 (§4): "punishment" raises the AP4's threat perception of China (backfire).
        "escalation_threat": t * eps * v["ap4_threat_amplification"] * (beta + lam),
        # K4 counter-hypothesis (§4): punishment intimidates.
        "escalation_intimidation": -t * eps * v["intimidation_effect"],
        # N6 (§2.2.2): the pre-existing rivalry trend.
        "rivalry_trend": t * v["rivalry_trend"],
    }


def _united_states(v, t, s, accept_e, accept_a):
    """The US terms in phase ``t``, §3.1 and §3.3, given the followers' acceptance."""
    w = v["europe_power_weight"]
    breadth = w * accept_e + (1.0 - w) * accept_a
    v_ctl = v["us_autonomy_control_value"]
    return {
        # U1×U2 (§3.1): aggregate power = material × ideational; legitimacy amplifies broad
        # participation and turns narrow participation into "rude power" (factor < 1).
        "aggregate_power": v["us_material_power"] * breadth
        * (1.0 + v["legitimacy_amplifier"] * (2.0 * breadth - 1.0)),
        # U3/U6/U7/U11 (§3.1, §3.3): European autonomy constrained through alignment.
        "autonomy_control": v_ctl * accept_e,
        # U9 (§3.1): the inherent tension of asking a non-dependent Europe for more security
        # and less autonomy at once.
        "tension": -v["us_tension_weight"] * v_ctl * (1.0 - s["d"][t]),
        # U16–U17 (§3.3): 合而治之, China's counter-reaction times European receptivity.
        "combine_and_manage": v["china_counter_reaction"] * s["d"][t],
        # N3/U14 (§1, §3.3): the divide-and-rule split given up by bundling China and Russia.
        "forgone_split": -v["us_divide_rule_value"] * s["p"][t],
        # N1/N4/N7 (§1, §2.2.2): strategic dispersion while a proxy war runs in Europe.
        "dispersion": -t * v["dispersion_cost"],
        # N6 (§2.2.2): the pre-existing rivalry trend.
        "rivalry_trend": t * v["rivalry_trend"],
    }


def _acceptance(nb, scale):
    # Logistic participation share 1/(1 + exp(−nb/scale)), written with tanh so that large
    # negative net benefits neither overflow nor warn.
    return 0.5 * (1.0 + np.tanh(nb / (2.0 * scale)))


def _solve(v, s, eps):
    """Terms, net benefits and acceptances of all actors in both phases."""
    terms, nb, acc = {}, {}, {}
    for t in (0, 1):
        te = _europe(v, t, s, eps)
        nb["europe", t] = sum(te.values())
        acc["europe", t] = _acceptance(nb["europe", t], v["acceptance_scale"])
        ta = _asia_pacific(v, t, s, eps, acc["europe", t])
        nb["asia_pacific", t] = sum(ta.values())
        acc["asia_pacific", t] = _acceptance(nb["asia_pacific", t], v["acceptance_scale"])
        tl = _united_states(v, t, s, acc["europe", t], acc["asia_pacific", t])
        nb["united_states", t] = sum(tl.values())
        acc["united_states", t] = _acceptance(nb["united_states", t], v["acceptance_scale"])
        # U19: desirability "if the allies comply", the US terms at full acceptance.
        nb["desirability", t] = sum(_united_states(v, t, s, 1.0, 1.0).values())
        by_actor = {"europe": te, "asia_pacific": ta, "united_states": tl}
        terms[t] = [by_actor[actor][term] for actor, term, _ in TERMS]
    return terms, nb, acc


def _inputs(x: xr.Dataset) -> dict:
    """Every input as a float64 array (0-d, or 1-d along ``sample``), extensions defaulted."""
    where = "study.models.asia_pacification:evaluate"
    if "sample" not in x.dims:
        raise StudyError(where, "sample", f"input must have dimension 'sample'; got dims {tuple(x.dims)}")
    missing = [name for name in REQUIRED if name not in x.data_vars]
    if missing:
        raise StudyError(where, missing[0], "must be an input of the model (a [parameters] or [constants] "
                         f"entry of the study file); got nothing (missing: {', '.join(missing)})")
    v = {}
    for name in REQUIRED + tuple(EXTENSION_DEFAULTS):
        if name not in x.data_vars:
            v[name] = np.float64(EXTENSION_DEFAULTS[name])
            continue
        var = x.variables[name]  # a Variable: no DataArray built per input
        if var.dims not in ((), ("sample",)):
            raise StudyError(where, name, f"must have dims () or ('sample',); got {var.dims}")
        v[name] = var.data.astype(np.float64, copy=False)
    return v


def evaluate(x: xr.Dataset) -> xr.Dataset:
    """Net benefit of NATO's Asia-Pacification for the US, Europe and the AP4, pre and post 2022.

    Parameters
    ----------
    x : xarray.Dataset
        One float variable per sampled parameter along ``sample`` and each constant as a 0-d
        variable: every name in ``PARAMETERS`` and ``CONSTANTS`` (either role will do), and
        optionally the extension switches in ``EXTENSION_DEFAULTS`` (absent means off).
        Numpy- or dask-backed.

    Returns
    -------
    xarray.Dataset
        Outputs along ``sample`` (float64; indicators are 0.0/1.0), with coordinates
        ``actor``, ``phase``, ``strategy`` and ``term`` (with ``term_actor``, ``term_kind``).
        Every output and its dims are listed in ``docs/model.md``.

    Raises
    ------
    study.errors.StudyError
        If a required input is missing or an input has dims other than () or ('sample',).

    Examples
    --------
    >>> from study.models import asia_pacification as ap
    >>> y = ap.evaluate(ap.nominal_inputs())
    >>> round(float(y.net_benefit.sel(actor="europe", phase="post")[0]), 3)
    0.096
    """
    v = _inputs(x)
    n = x.sizes["sample"]
    on_sample = next((x.variables[k].data for k in x.data_vars if x.variables[k].dims == ("sample",)), None)
    # zeros_like dispatches to dask, so broadcasting keeps the input's chunks.
    zero = np.zeros(n) if on_sample is None else np.zeros_like(on_sample, dtype=np.float64)
    state = {
        # Europe's dependence on the US: the war closes a share Δd of the gap to 1 (E1, E7).
        "d": (v["europe_dependence_pre"], v["europe_dependence_pre"] + v["europe_dependence_shift"]
              * (1.0 - v["europe_dependence_pre"])),
        # Feasibility of splitting Russia from China, retained by the factor q (A8).
        "p": (v["split_feasibility_pre"], v["split_feasibility_pre"] * v["split_retention"]),
        # Russia's capacity to impose costs on the AP4, pre-war capacity = 1 (A3).
        "k": (1.0, v["russia_residual_capacity"]),
    }
    # Kim 2011 (T11): fearing abandonment more after the war lowers Europe's risk control.
    state["rho_e"] = (v["risk_control"], v["risk_control"] * (1.0 - v["kim_bargaining_penalty"]
                                                           * (state["d"][1] - state["d"][0])))
    eps = v["china_escalation"]
    terms, nb, acc = _solve(v, state, eps)
    # Without escalation the no-escalation solve is the same solve; skip it (numpy only).
    calm = isinstance(eps, np.generic | np.ndarray) and eps.ndim == 0 and float(eps) == 0.0
    nb_calm = nb if calm else _solve(v, state, 0.0)[1]

    # Arrays are assembled with `sample` last, so every stack writes contiguous rows.
    def col(a):
        return a if np.shape(a) == zero.shape else zero + a

    def actor_phase(table):
        return np.stack([np.stack([col(table[a, 0]), col(table[a, 1])]) for a in ACTORS])

    term_value = np.stack([np.stack([col(a) for a in terms[t]]) for t in (0, 1)])
    kinds = np.array([kind for _, _, kind in TERMS])
    owners = np.array([actor for actor, _, _ in TERMS])
    # Integer (not boolean) term indices, which dask indexes without computing anything.
    gross = np.stack([np.abs(term_value[:, np.flatnonzero(owners == a)]).sum(axis=1) for a in ACTORS])
    cost = np.stack([-term_value[:, np.flatnonzero((owners == a) & (kinds == "cost"))].sum(axis=1)
                     for a in ACTORS])

    net = actor_phase(nb)
    accept = actor_phase(acc)
    normalised = net / gross
    joint = accept.prod(axis=0)
    i_us, i_e, i_a = (ACTORS.index(a) for a in ("united_states", "europe", "asia_pacific"))
    value = np.stack([np.stack([col(v["china_counter_reaction"] * state["d"][t]) for t in (0, 1)]),
                      np.stack([col(v["us_divide_rule_value"] * state["p"][t]) for t in (0, 1)])])
    counterfactual = net[:, 0] + v["rivalry_trend"]
    escalation = net[:, 1] - np.stack([col(nb_calm[a, 1]) for a in ACTORS])

    def flag(cond):
        return cond.astype(np.float64)

    out = {
        "net_benefit": (("actor", "phase", "sample"), net),
        "delta_net_benefit": (("actor", "sample"), net[:, 1] - net[:, 0]),
        "acceptance": (("actor", "phase", "sample"), accept),
        "delta_acceptance": (("actor", "sample"), accept[:, 1] - accept[:, 0]),
        "joint_acceptance": (("phase", "sample"), joint),
        "acceleration_index": (("sample",), joint[1] - joint[0]),
        "europe_net_benefit_post": (("sample",), net[i_e, 1]),
        "europe_flip": (("sample",), flag((net[i_e, 0] < 0) & (net[i_e, 1] > 0))),
        "all_accept_flip": (("sample",), flag((net[:, 1].min(axis=0) > 0) & (net[:, 0].min(axis=0) <= 0))),
        "normalised_net_benefit": (("actor", "phase", "sample"), normalised),
        "consensus_index": (("phase", "sample"), normalised.min(axis=0)),
        "europe_binding": (("sample",), flag((normalised[i_e, 1] < normalised[i_a, 1])
                                             & (normalised[i_e, 1] < normalised[i_us, 1]))),
        "total_cost": (("actor", "phase", "sample"), cost),
        "us_desirability": (("phase", "sample"), np.stack([col(nb["desirability", t]) for t in (0, 1)])),
        "strategy_value": (("strategy", "phase", "sample"), value),
        "strategy_margin": (("sample",), value[0, 1] - value[1, 1]),
        "strategy_switch": (("sample",), flag((value[1, 0] >= value[0, 0]) & (value[0, 1] > value[1, 1]))),
        "counterfactual_net_benefit": (("actor", "sample"), counterfactual),
        "war_necessary": (("actor", "sample"), flag((counterfactual <= 0) & (net[:, 1] > 0))),
        "escalation_effect": (("actor", "sample"), escalation),
        "backfire": (("sample",), flag((escalation[i_e] > 0) & (escalation[i_a] > 0))),
        "term_value": (("phase", "term", "sample"), term_value),
    }
    coords = {"actor": list(ACTORS), "phase": list(PHASES), "strategy": list(STRATEGIES),
              "term": list(TERM_LABELS), "term_actor": ("term", owners.tolist()),
              "term_kind": ("term", kinds.tolist())}
    if "sample" in x.coords:
        coords["sample"] = x["sample"]
    # `sample` moves to the front as a view (np.moveaxis dispatches to dask too).
    variables = {
        name: (("sample",) + dims[:-1], np.moveaxis(data, -1, 0),
               {"label": OUTPUT_LABELS[name], "description": OUTPUT_DESCRIPTIONS[name],
                "units": "1" if name in _SHARES else "normalised utility"})
        for name, (dims, data) in out.items()
    }
    return xr.Dataset(variables, coords=coords)


_SHARES = {"acceptance", "delta_acceptance", "joint_acceptance", "acceleration_index", "europe_flip",
           "all_accept_flip", "europe_binding", "strategy_switch", "war_necessary", "backfire"}
#: Short names for figures and tables (the descriptions below say how each is computed).
OUTPUT_LABELS = {
    "net_benefit": "Net benefit", "delta_net_benefit": "Change in net benefit", "acceptance": "Acceptance",
    "delta_acceptance": "Change in acceptance", "joint_acceptance": "Joint acceptance",
    "acceleration_index": "Acceleration index", "europe_net_benefit_post": "Europe's net benefit after",
    "europe_flip": "Europe: not worth it → worth a try", "all_accept_flip": "All three accept after, not before",
    "normalised_net_benefit": "Normalised net benefit", "consensus_index": "Consensus index",
    "europe_binding": "Europe is the binding actor", "total_cost": "Total cost",
    "us_desirability": "US desirability if allies comply", "strategy_value": "Strategy value",
    "strategy_margin": "Combine-and-manage minus divide-and-rule", "strategy_switch": "US strategy switch",
    "counterfactual_net_benefit": "No-war counterfactual net benefit", "war_necessary": "War necessary for the flip",
    "escalation_effect": "Effect of China's escalation", "backfire": "Escalation backfires",
    "term_value": "Term contribution",
}
OUTPUT_DESCRIPTIONS = {
    "net_benefit": "Net benefit of taking part in / pushing Asia-Pacification (sum of term_value)",
    "delta_net_benefit": "Change in net benefit from pre to post",
    "acceptance": "Smooth participation share 1/(1+exp(-net_benefit/acceptance_scale))",
    "delta_acceptance": "Change in acceptance from pre to post",
    "joint_acceptance": "Product of the three actors' acceptance (consensus is required)",
    "acceleration_index": "Joint acceptance post minus pre",
    "europe_net_benefit_post": "Europe's net benefit after the escalation",
    "europe_flip": "1 if Europe moves from 'not worth it' to 'worth a try' (NB_E pre < 0 < post)",
    "all_accept_flip": "1 if every actor's post net benefit is positive and some pre net benefit is not",
    "normalised_net_benefit": "Net benefit divided by the sum of the absolute values of the actor's terms",
    "consensus_index": "Smallest normalised net benefit across actors",
    "europe_binding": "1 if Europe has the smallest normalised net benefit after the escalation",
    "total_cost": "Sum of the magnitudes of the actor's cost terms",
    "us_desirability": "US net benefit if both followers accepted fully",
    "strategy_value": "Value to the US of combine-and-manage (h d) and of divide-and-rule (v_DR p)",
    "strategy_margin": "Combine-and-manage minus divide-and-rule after the escalation",
    "strategy_switch": "1 if divide-and-rule is at least as good before and combine-and-manage better after",
    "counterfactual_net_benefit": "No-war counterfactual post net benefit: pre net benefit plus rivalry_trend",
    "war_necessary": "1 if the counterfactual is not positive but the actual post net benefit is",
    "escalation_effect": "Post net benefit minus its value without China's escalation",
    "backfire": "1 if China's escalation raises both Europe's and the AP4's post net benefit",
    "term_value": "Signed contribution of each term to its actor's net benefit",
}


def nominal_inputs(n: int = 1, **overrides: float) -> xr.Dataset:
    """The brief's nominal point as a model input: every parameter along ``sample``.

    Parameters
    ----------
    n : int
        Number of (identical) samples.
    **overrides : float
        Values replacing nominal ones, or extension switches to set.

    Returns
    -------
    xarray.Dataset
        One variable per name in ``NOMINAL`` and ``overrides``, each repeated ``n`` times.
    """
    values = {**NOMINAL, **overrides}
    return xr.Dataset({k: ("sample", np.full(n, float(val))) for k, val in values.items()},
                      coords={"sample": np.arange(n)})
