"""Flagship model, second edition: the depth of NATO's Asia-Pacification over time, with and without the war.

A formalisation of Xiao He (肖河), 《俄乌冲突背景下北约亚太化的联盟理论分析：战略非理性抑或其他》.
Each of the paper's three actor types (the US, the European allies, the AP4) chooses a depth
of engagement x in [0, 1] every half-year from 2020 to the paper's horizon (late 2023),
maximising ``B·x − (c/2)(x − x0)²``: B is the actor's marginal net benefit of going deeper
(the paper's cost-benefit terms), the quadratic cost keeps the optimum
``clip(x0 + B/c, 0, 1)`` moving continuously with the inputs. NATO's depth is the geometric
mean of the three, so Europe or the AP4 can each hold it back (「为什么上述三者均希望或者
接受联盟关系的扩展」). The war's effects phase in with its duration (「时间越长转化程度就越
高」), and every draw is also evaluated with the war switched off: the no-war counterfactual.

Equations, the term → passage table and what is invented: ``docs/model.md``. Claims and
observations the appendix reports are outputs with ``role`` attributes (see ``CLAIMS``).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from study.errors import StudyError

ACTORS = ("united_states", "europe", "asia_pacific")
DEPTH_ACTORS = ("nato",) + ACTORS
WORLDS = ("war", "no_war")
# Half-year midpoints from 2020 to the horizon (the paper's sources run to November 2023).
TIMES = (2020.25, 2020.75, 2021.25, 2021.75, 2022.25, 2022.75, 2023.25, 2023.75)
WAR_TIMES = tuple(t for t in TIMES if t > 2022.0)
WAR_START = 2022.15  # 24 February 2022
MADRID, VILNIUS = 2022.5, 2023.5  # the summits of June 2022 and July 2023

PARAMETERS = (
    "russia_residual_capacity", "split_feasibility_pre", "split_retention", "europe_split_retention",
    "us_split_retention",
    "china_policy_options", "china_support_to_russia", "china_counter_reaction", "taiwan_risk",
    "cai_dimming",
    "europe_autonomy_value", "us_commitment_value", "guarantee_contingency", "europe_china_econ_stake",
    "europe_russia_wedge_value", "europe_entrapment_exposure", "europe_dependence_pre",
    "europe_dependence_shift", "europe_threat_pre", "arms_gap",
    "ap4_prior_alignment", "ap4_wedge_value", "eu_support_value", "ap4_legitimacy_gain",
    "ap4_russia_cost_scale", "ap4_entrapment_relief",
    "legitimacy_amplifier", "us_autonomy_control_value", "us_divide_rule_value", "dispersion_cost",
    "leverage_efficacy", "risk_control", "war_phase_in", "rivalry_trend",
)
CONSTANTS = (
    "war", "depth_status_quo", "depth_cost_curvature", "us_material_power", "europe_reward_capacity",
    "ap4_deviation_cost", "europe_dispersion_share", "us_tension_weight", "europe_power_weight",
    "material_effect", "summit_depth", "threat_rise_for_language",
)
# Switches of the rival readings and scenarios; absent means the paper's reading.
READING_DEFAULTS = {
    "irrationality_weight": 0.0,      # ω: weight of domestic/ideological drivers (§1 先验地视同…非理性结果)
    "domestic_push": 0.0,             # π: the war-driven domestic push under that reading
    "connectivity_benefit": 0.0,      # σ: 安全联通性, a credibility benefit in both phases and worlds
    "core_autonomy_premium": 0.0,     # Western core (FR/DE) values autonomy more (§1 Tokyo office)
    "core_wedge_premium": 0.0,        # … and the Russia wedge more (§3.2.2 西欧盟国)
    "europe_veto": 0.0,               # 1: the core's depth holds Europe back (veto), 0: the mean
    "china_escalation": 0.0,          # ε: China uses its options (§4)
    "intimidation_effect": 0.0,       # ζ: escalation deters instead of backfiring (§4, counter-hypothesis)
    "ap4_threat_amplification": 0.5,  # share of β + λ_A that punishment adds (§4)
}
REQUIRED = PARAMETERS + CONSTANTS

NOMINAL = {
    "russia_residual_capacity": 0.20, "split_feasibility_pre": 0.40, "split_retention": 0.05,
    "europe_split_retention": 0.10, "us_split_retention": 0.05,
    "china_policy_options": 0.15, "china_support_to_russia": 0.40, "china_counter_reaction": 0.40,
    "taiwan_risk": 0.40, "cai_dimming": 0.50, "europe_autonomy_value": 0.35, "us_commitment_value": 0.75,
    "guarantee_contingency": 0.60, "europe_china_econ_stake": 0.15, "europe_russia_wedge_value": 0.40,
    "europe_entrapment_exposure": 0.60, "europe_dependence_pre": 0.35, "europe_dependence_shift": 0.60,
    "europe_threat_pre": 0.25, "arms_gap": 0.075, "ap4_prior_alignment": 0.85, "ap4_wedge_value": 0.30,
    "eu_support_value": 0.30, "ap4_legitimacy_gain": 0.175, "ap4_russia_cost_scale": 0.30,
    "ap4_entrapment_relief": 0.50, "legitimacy_amplifier": 0.50, "us_autonomy_control_value": 0.30,
    "us_divide_rule_value": 0.30, "dispersion_cost": 0.25, "leverage_efficacy": 0.35, "risk_control": 0.55,
    "war_phase_in": 0.75, "rivalry_trend": 0.03,
    "war": 1.0, "depth_status_quo": 0.30, "depth_cost_curvature": 2.0, "us_material_power": 0.60,
    "europe_reward_capacity": 0.20, "ap4_deviation_cost": 0.50, "europe_dispersion_share": 0.25,
    "us_tension_weight": 0.50, "europe_power_weight": 0.50, "material_effect": 0.10, "summit_depth": 0.35,
    "threat_rise_for_language": 0.10,
}

# (actor, term): the war's contribution to each marginal-benefit term at the horizon.
TERMS = (
    ("europe", "abandonment_avoided"), ("europe", "deterrence_diversion"), ("europe", "ap4_arms"),
    ("europe", "coercion_of_china"), ("europe", "autonomy"), ("europe", "china_engagement"),
    ("europe", "entrapment"), ("europe", "russia_wedge"), ("europe", "china_options"),
    ("europe", "dispersion"), ("europe", "escalation_intimidation"),
    ("asia_pacific", "europe_support"), ("asia_pacific", "legitimacy"), ("asia_pacific", "reciprocity"),
    ("asia_pacific", "entrapment"), ("asia_pacific", "russia_cost"), ("asia_pacific", "russia_wedge"),
    ("asia_pacific", "escalation"),
    ("united_states", "aggregate_power"), ("united_states", "autonomy_control"),
    ("united_states", "tension"), ("united_states", "relative_power"), ("united_states", "dispersion"),
)
TERM_LABELS = tuple(f"{a}.{t}" for a, t in TERMS)


def _state(v, w):
    """State variables at war intensity ``w`` (0 before the war and without it)."""
    d0, h = v["europe_dependence_pre"], v["china_counter_reaction"]
    return {
        # E7: the war closes a share Δd of Europe's gap to full dependence on the US.
        "d": d0 + v["europe_dependence_shift"] * (1.0 - d0) * w,
        # A8: the room to split Russia from China shrinks to the retained share q …
        # Each actor's own perception of it: the AP4's (A8), Europe's and the US's (§3.3).
        **{f"p_{a}": v["split_feasibility_pre"] * (1.0 - (1.0 - v[q]) * w) for a, q in (
            ("asia_pacific", "split_retention"), ("europe", "europe_split_retention"),
            ("united_states", "us_split_retention"))},
        # A3: Russia's capacity (and its value to China) falls to its residual share r.
        "k": 1.0 - (1.0 - v["russia_residual_capacity"]) * w,
        # U16–U17, 合而治之: China's counter-reaction raises Europe's threat perception of China.
        "theta": v["europe_threat_pre"] + (1.0 - v["europe_threat_pre"]) * h * w,
    }


def _europe(v, s, w, alpha, wedge):
    """Europe's marginal-benefit terms (§3.2.2) for autonomy value ``alpha`` and wedge value ``wedge``."""
    u, eta, p_tw, chi = v["us_commitment_value"], v["leverage_efficacy"], v["taiwan_risk"], v["china_policy_options"]
    eps, rew = v["china_escalation"], v["europe_reward_capacity"]
    support = v["china_support_to_russia"] * w
    return {
        # Snyder's trade-off (§2.1.1 此消则彼长): deeper engagement lowers the abandonment risk on
        # the contingent share γ of the US guarantee, valued by dependence (E7).
        "abandonment_avoided": u * s["d"] * v["guarantee_contingency"],
        # E13–E14: deterring China averts a US diversion to Taiwan that would burden Europe.
        "deterrence_diversion": u * s["d"] * eta * p_tw,
        "ap4_arms": v["arms_gap"] * w,  # E8: AP4 arms fill the gaps Ukraine aid leaves
        # E11–E12: China's support to Russia, converted over time (Grinberg), met by pressure
        # because reward capacity falls short (Izumikawa); escalation realises the options.
        "coercion_of_china": (support + eps * chi * w) * eta * (1.0 - rew),
        # E1/T3: autonomy given up, worth less as China is seen as more of a threat (合而治之).
        "autonomy": -alpha * (1.0 - s["theta"]),
        # China leg of 区别对待: the CAI's dimming prospects, plus the reverse-Kissinger option of
        # courting China against Russia, worth only Europe's reward capacity.
        "china_engagement": -(v["europe_china_econ_stake"] * (1.0 - v["cai_dimming"] * w) + support * rew),
        # T1/T5 entrapment, net of risk control (T10) and Snyder's sensitivity 1 − d (T6).
        "entrapment": -v["europe_entrapment_exposure"] * p_tw * (1.0 - v["risk_control"]) * (1.0 - s["d"]),
        "russia_wedge": -wedge * s["p_europe"],  # E5: the Russia wedge, as far as a split is feasible
        "china_options": -chi * (1.0 - eps) * w,  # E10: China's unused options
        "dispersion": -v["europe_dispersion_share"] * v["dispersion_cost"] * s["drain"],  # N1
        "escalation_intimidation": -eps * v["intimidation_effect"] * w,  # §4 counter-hypothesis
    }


def _asia_pacific(v, s, w):
    """The AP4's marginal-benefit terms (§3.2.1)."""
    beta, lam, eps = v["eu_support_value"], v["ap4_legitimacy_gain"], v["china_escalation"]
    return {
        "europe_support": beta,  # A9: European political and economic support
        "legitimacy": lam * w,  # A10: 「乌克兰的今天可能是亚洲的明天」
        "reciprocity": v["arms_gap"] * w,  # A11: Europe's commitments in return for arms
        # A1–A2 and §3.3 「打消了后者对被牵连的顾虑」: entrapment, small when aligned, relieved by the war.
        "entrapment": -v["ap4_deviation_cost"] * (1.0 - v["ap4_prior_alignment"]) * (1.0 - v["risk_control"])
        * (1.0 - v["ap4_entrapment_relief"] * w),
        "russia_cost": -v["ap4_russia_cost_scale"] * s["k"],  # A3–A5: Russia's capacity to impose costs
        "russia_wedge": -v["ap4_wedge_value"] * s["p_asia_pacific"],  # A6, A8: Japan's detachment strategy
        # §4: punishment raises the AP4's threat perception (backfire) or intimidates.
        "escalation": eps * (v["ap4_threat_amplification"] * (beta + lam) - v["intimidation_effect"]) * w,
    }


def _united_states(v, s, w, x_e, x_a):
    """The US marginal-benefit terms (§3.1, §3.3), given the followers' depths."""
    breadth = v["europe_power_weight"] * x_e + (1.0 - v["europe_power_weight"]) * x_a
    v_ctl = v["us_autonomy_control_value"]
    return {
        # U1×U2: aggregate power = material × ideational (rude power when allies hang back).
        "aggregate_power": v["us_material_power"] * breadth * (1.0 + v["legitimacy_amplifier"] * (2.0 * breadth - 1.0)),
        "autonomy_control": v_ctl * x_e,  # U3/U11: Europe aligned on China and Russia
        "tension": -v["us_tension_weight"] * v_ctl * (1.0 - s["d"]),  # U9: the inherent tension
        # 「相对总体力量」: bundling gives up the split (p) and concedes Russia's value to China
        # as far as the two align (1 − p), a value the war depletes (k).
        "relative_power": -v["us_divide_rule_value"] * (s["p_united_states"] + (1.0 - s["p_united_states"]) * s["k"]),
        "dispersion": -v["dispersion_cost"] * s["drain"],  # N1/N4: strategic dispersion
    }


def _depth(v, b):
    """The optimum of B·x − (c/2)(x − x0)² on [0, 1]."""
    return np.clip(v["depth_status_quo"] + b / v["depth_cost_curvature"], 0.0, 1.0)


def _period(v, t, war):
    """Terms, marginal benefits and depths of every actor at time ``t``, war on (1) or off (0)."""
    w = war * v["war"] * (1.0 - np.exp(-np.maximum(t - WAR_START, 0.0) / v["war_phase_in"]))
    s = _state(v, w)
    # The attrition war drains resources in proportion to its length (「消耗巨大、进展缓慢的堑壕战」),
    # reaching the full dispersion cost at the horizon, while the shock effects above saturate.
    s["drain"] = war * v["war"] * np.minimum(np.maximum(t - WAR_START, 0.0) / (TIMES[-1] - WAR_START), 1.0)
    trend = v["rivalry_trend"] * (t - TIMES[0]) + v["connectivity_benefit"]  # N6; 安全联通性
    alpha, wedge = v["europe_autonomy_value"], v["europe_russia_wedge_value"]
    east = _europe(v, s, w, alpha, wedge)
    core = _europe(v, s, w, alpha + v["core_autonomy_premium"], wedge + v["core_wedge_premium"])
    te = {k: 0.5 * (east[k] + core[k]) for k in east}
    b = {"europe": sum(te.values()) + trend, "core": sum(core.values()) + trend,
         "east": sum(east.values()) + trend}
    ta = _asia_pacific(v, s, w)
    b["asia_pacific"] = sum(ta.values()) + trend
    veto = v["europe_veto"]
    x = {a: _depth(v, b[a]) for a in ("core", "east", "asia_pacific")}
    x["europe"] = veto * np.minimum(x["core"], x["east"]) + (1.0 - veto) * _depth(v, b["europe"])
    b["europe"] = veto * b["core"] + (1.0 - veto) * b["europe"]  # under a veto the core's margin decides
    tl = _united_states(v, s, w, x["europe"], x["asia_pacific"])
    b["united_states"] = sum(tl.values()) + trend
    x["united_states"] = _depth(v, b["united_states"])
    rational = dict(x)
    # Strategic irrationality (§1): depth follows a domestic push with weight ω, not the calculus.
    omega, push = v["irrationality_weight"], v["domestic_push"] * w
    x = {a: (1.0 - omega) * x[a] + omega * np.clip(v["depth_status_quo"] + push, 0.0, 1.0) for a in x}
    for d in (x, rational):
        d["nato"] = np.cbrt(d["united_states"] * d["europe"] * d["asia_pacific"])
    terms = {"europe": te, "asia_pacific": ta, "united_states": tl}
    return {"x": x, "rational": rational, "b": b, "s": s, "terms": terms, "w": w}


def _inputs(x: xr.Dataset) -> dict:
    """Every input as a float64 array (0-d, or 1-d along ``sample``), reading switches defaulted."""
    where = "study.models.asia_pacification:evaluate"
    if "sample" not in x.dims:
        raise StudyError(where, "sample", f"input must have dimension 'sample'; got dims {tuple(x.dims)}")
    missing = [name for name in REQUIRED if name not in x.data_vars]
    if missing:
        raise StudyError(where, missing[0], "must be an input of the model (a [parameters] or [constants] "
                         f"entry of the study file); got nothing (missing: {', '.join(missing)})")
    v = {}
    for name in REQUIRED + tuple(READING_DEFAULTS):
        if name not in x.data_vars:
            v[name] = np.float64(READING_DEFAULTS[name])
            continue
        var = x.variables[name]
        if var.dims not in ((), ("sample",)):
            raise StudyError(where, name, f"must have dims () or ('sample',); got {var.dims}")
        v[name] = var.data.astype(np.float64, copy=False)
    return v


def evaluate(x: xr.Dataset) -> xr.Dataset:
    """Depth of NATO's Asia-Pacification per actor and half-year, with the war and without it.

    Parameters
    ----------
    x : xarray.Dataset
        One float variable per sampled parameter along ``sample`` and each constant as a 0-d
        variable: every name in ``PARAMETERS`` and ``CONSTANTS`` (either role will do), and
        optionally the reading switches in ``READING_DEFAULTS`` (absent means the paper's
        reading). Numpy- or dask-backed.

    Returns
    -------
    xarray.Dataset
        Outputs along ``sample`` (float64; indicators, claims and observations are 0.0/1.0),
        with coordinates ``world``, ``actor``, ``time``, ``war_time`` and ``term``. Every
        output carries ``label``, ``units`` and ``description``; claims and observations also
        ``role``, ``statement``, ``statement_zh``, ``passage`` and ``section``.

    Raises
    ------
    study.errors.StudyError
        If a required input is missing or an input has dims other than () or ('sample',).

    Examples
    --------
    >>> from study.models import asia_pacification as ap
    >>> y = ap.evaluate(ap.nominal_inputs())
    >>> round(float(y.war_effect[0]), 3)
    0.196
    """
    v = _inputs(x)
    on_sample = next((x.variables[k].data for k in x.data_vars if x.variables[k].dims == ("sample",)), None)
    zero = np.zeros(x.sizes["sample"]) if on_sample is None else np.zeros_like(on_sample, dtype=np.float64)

    def col(a):  # every value as a full column, so that stacks have `sample` last
        return a if np.shape(a) == zero.shape else zero + a

    times = TIMES + (MADRID, VILNIUS)
    runs = {world: [_period(v, t, war) for t in times] for world, war in (("war", 1.0), ("no_war", 0.0))}
    grid = range(len(TIMES))
    depth = np.stack([np.stack([np.stack([col(runs[wd][i]["x"][a]) for i in grid]) for a in DEPTH_ACTORS])
                      for wd in WORLDS])  # (world, actor, time, sample)
    h, late = len(TIMES) - 1, TIMES.index(2022.75)
    effect = depth[0, 0, h] - depth[1, 0, h]
    rational = [col(runs[wd][h]["rational"]["nato"]) for wd in WORLDS]
    acceleration = (depth[0, 0, h] - depth[0, 0, late]) - (depth[1, 0, h] - depth[1, 0, late])
    margin = np.stack([np.stack([col(runs[wd][h]["b"][a]) for a in ACTORS]) for wd in WORLDS])
    i_e = ACTORS.index("europe")
    post = [TIMES.index(t) for t in WAR_TIMES]
    path = depth[0][:, post] - depth[1][:, post]
    terms = [{a: runs[wd][h]["terms"][a] for a in ACTORS} for wd in WORLDS]
    term_effect = np.stack([col(terms[0][a][t] - terms[1][a][t]) for a, t in TERMS])

    def flag(cond):
        return cond.astype(np.float64)

    out = {
        "war_effect": (("sample",), effect),
        "rational_war_effect": (("sample",), rational[0] - rational[1]),
        "acceleration": (("sample",), acceleration),
        "europe_margin": (("world", "sample"), margin[:, i_e]),
        "war_accelerates": (("sample",), flag(effect > v["material_effect"])),
        "war_speeds_up": (("sample",), flag(acceleration > 0)),
        "europe_worth_a_try": (("sample",), flag((margin[1, i_e] <= 0) & (margin[0, i_e] > 0))),
        "depth": (("world", "actor", "time", "sample"), depth),
        "war_effect_path": (("actor", "war_time", "sample"), path),
        "nato_war_effect_path": (("war_time", "sample"), path[0]),
        "margin": (("world", "actor", "sample"), margin),
        "war_term_effect": (("term", "sample"), term_effect),
    }
    out.update(_claims(v, runs, margin, effect, rational, acceleration, col))
    coords = {"world": list(WORLDS), "actor": list(DEPTH_ACTORS), "time": list(TIMES),
              "war_time": list(WAR_TIMES), "term": list(TERM_LABELS),
              "term_actor": ("term", [a for a, _ in TERMS])}
    if "sample" in x.coords:
        coords["sample"] = x["sample"]
    variables = {}
    for name, (dims, data) in out.items():
        if name == "margin":  # margins are per follower and leader only, not NATO
            dims = ("world", "margin_actor", "sample")
        variables[name] = (("sample",) + dims[:-1], np.moveaxis(data, -1, 0), _attrs(name))
    coords["margin_actor"] = list(ACTORS)
    return xr.Dataset(variables, coords=coords)


def _claims(v, runs, margin, effect, rational, acceleration, col):
    """The 0/1 claim and observation outputs (see ``CLAIMS``)."""
    war, cf = runs["war"], runs["no_war"]
    h, madrid, vilnius = len(TIMES) - 1, len(TIMES), len(TIMES) + 1
    ap4, summit = "asia_pacific", v["summit_depth"]
    def cost(r):  # Europe's marginal losses: the magnitudes of its negative terms
        return -sum(np.minimum(val, 0.0) for val in r["terms"]["europe"].values())

    def flag(cond):
        return ("sample",), col(np.asarray(cond, dtype=np.float64))

    return {
        "claim_depth_rises": flag(effect > v["material_effect"]),
        "claim_speed_rises": flag(acceleration > 0),
        "claim_europe_worth_a_try": flag((margin[1, 1] <= 0) & (margin[0, 1] > 0)),
        "claim_all_more_attracted": flag(np.all(margin[0] > margin[1], axis=0)),
        "claim_europe_losses_fall": flag(cost(war[h]) < cost(cf[h])),
        "claim_instrumentally_rational": flag(rational[0] - rational[1] > v["material_effect"]),
        "claim_ap4_needs_war": flag((war[madrid]["x"][ap4] >= summit) & (cf[madrid]["x"][ap4] < summit)),
        "claim_bundling_cheaper": flag(war[h]["terms"]["united_states"]["relative_power"]
                                       > cf[h]["terms"]["united_states"]["relative_power"]),
        "claim_us_tension_relaxed": flag(war[h]["terms"]["united_states"]["tension"]
                                         > cf[h]["terms"]["united_states"]["tension"]),
        "claim_ap4_entrapment_relieved": flag(war[h]["terms"][ap4]["entrapment"] > cf[h]["terms"][ap4]["entrapment"]),
        "obs_ap4_at_madrid": flag(war[madrid]["x"][ap4] >= summit),
        "obs_ap4_at_vilnius": flag(war[vilnius]["x"][ap4] >= summit),
        "obs_tokyo_office_blocked": flag(war[vilnius]["b"]["europe"] <= 0),
        "obs_communique_language": flag(war[vilnius]["s"]["theta"] - v["europe_threat_pre"]
                                        >= v["threat_rise_for_language"]),
    }


_PROB = "1 = holds on this draw"
#: name: (label, units, description[, label_zh]) of every output.
OUTPUTS = {
    "war_effect": ("War's effect on NATO depth", "depth (0-1)",
                   "NATO's depth at the horizon (2023H2) with the war minus without it, same draw", "战争对北约亚太化深度的影响"),
    "rational_war_effect": ("War's effect on the rational depth", "depth (0-1)",
                            "As war_effect, from the actors' cost-benefit optima alone (differs only under strategic irrationality)"),
    "acceleration": ("Acceleration", "depth per year",
                     "War's effect on NATO depth's rise over the last year (2022H2 to 2023H2) against the no-war path", "加速度"),
    "europe_margin": ("Europe's marginal net benefit at the horizon", "utility per unit depth",
                      "Europe's marginal net benefit of going deeper at 2023H2, with the war and without it", "欧洲的边际净收益"),
    "war_accelerates": ("The war deepened Asia-Pacification", _PROB,
                        "1 if war_effect exceeds material_effect", "战争加深了北约亚太化"),
    "war_speeds_up": ("The war sped Asia-Pacification up", _PROB, "1 if acceleration > 0", "战争加快了北约亚太化"),
    "europe_worth_a_try": ("Europe: not worth it → worth a try", _PROB,
                           "1 if Europe's margin at the horizon is <= 0 without the war and > 0 with it", "欧洲：从“得不偿失”到“可以一试”"),
    "depth": ("Depth of engagement", "depth (0-1)", "Each actor's chosen depth and NATO's (geometric mean) per half-year"),
    "war_effect_path": ("War's effect on depth over time", "depth (0-1)", "depth with the war minus without it, per actor, after February 2022"),
    "nato_war_effect_path": ("War's effect on NATO depth over time", "depth (0-1)", "NATO's war_effect_path per half-year after February 2022"),
    "margin": ("Marginal net benefit at the horizon", "utility per unit depth", "Each actor's marginal net benefit of going deeper at 2023H2"),
    "war_term_effect": ("War's effect on each term", "utility per unit depth", "Each marginal-benefit term at 2023H2 with the war minus without it"),
}
#: name: (kind, section, passage, statement, statement_zh). kind "built_in": holds by
#: construction for every input in the ranges; "tested": may fail on a draw.
CLAIMS = {
    "claim_depth_rises": ("tested", "Abs", "随着冲突的升级和持续，北约亚太化的深度和速度都有所增强",
                          "The war deepened NATO's Asia-Pacification at the horizon.", "俄乌冲突加深了北约亚太化。"),
    "claim_speed_rises": ("tested", "Abs", "随着冲突的升级和持续，北约亚太化的深度和速度都有所增强",
                          "The war made NATO's Asia-Pacification rise faster in its second year.", "俄乌冲突加快了北约亚太化的速度。"),
    "claim_europe_worth_a_try": ("tested", "§3.2.2", "使得推进北约亚太化从“得不偿失”变为“可以一试”",
                                 "For Europe, going deeper turns from not worth it to worth a try because of the war.",
                                 "对欧洲而言，推进北约亚太化因战争从“得不偿失”变为“可以一试”。"),
    "claim_all_more_attracted": ("tested", "Abs", "增强了参与和推动北约亚太化的政策吸引力",
                                 "The war raised the marginal net benefit of engagement for all three actors.",
                                 "战争提高了三类行为体参与北约亚太化的边际净收益。"),
    "claim_europe_losses_fall": ("tested", "Abs", "危机的爆发减少了美盟国在对华对俄政策配合方面美国可能蒙受的边际损失",
                                 "The war reduced Europe's marginal losses of coordinating with the US.",
                                 "战争减少了欧洲在对华对俄政策上配合美国的边际损失。"),
    "claim_instrumentally_rational": ("tested", "§4", "北约亚太化的加速在一定程度上符合所涉各方的工具理性",
                                      "The actors' own cost-benefit optima deepen with the war.",
                                      "各方基于成本收益的最优选择随战争而加深。"),
    "claim_ap4_needs_war": ("tested", "§4", "如果没有俄乌冲突，很难想象亚太四国的领导人会出现在 2022 年的马德里峰会",
                            "The AP4 reach summit-level engagement at Madrid with the war and not without it.",
                            "有战争时亚太四国在马德里峰会时达到峰会级参与，没有战争则达不到。"),
    "claim_bundling_cheaper": ("built_in", "§3.3", "最符合美国利益的做法将是尽可能地推动中俄“结盟”而非加以分化",
                               "The war lowers the relative-power cost to the US of bundling China and Russia.",
                               "战争降低了美国将中俄“合而治之”的相对力量成本。"),
    "claim_us_tension_relaxed": ("built_in", "Abs", "危机帮助美国部分克服了自身联盟政策上的内在张力",
                                 "The war eases the US's inherent tension with Europe.", "战争缓解了美国联盟政策的内在张力。"),
    "claim_ap4_entrapment_relieved": ("built_in", "§3.3", "危机的爆发仍然更大程度地打消了后者对被牵连的顾虑",
                                      "The war lowers the AP4's entrapment cost.", "战争降低了亚太四国对被牵连的顾虑。"),
    "obs_ap4_at_madrid": ("observation", "§1", "维尔纽斯峰会还延续了马德里峰会的做法，邀请了日本首相岸田文雄、韩国总统尹锡悦、澳大利亚总理安东尼·阿尔巴尼斯和新西兰总理克里斯·希金斯参会",
                          "The AP4 leaders attend the Madrid summit (June 2022).", "亚太四国领导人出席马德里峰会（2022 年 6 月）。"),
    "obs_ap4_at_vilnius": ("observation", "§1", "维尔纽斯峰会还延续了马德里峰会的做法，邀请了日本首相岸田文雄、韩国总统尹锡悦、澳大利亚总理安东尼·阿尔巴尼斯和新西兰总理克里斯·希金斯参会",
                           "The AP4 leaders attend the Vilnius summit (July 2023).", "亚太四国领导人出席维尔纽斯峰会（2023 年 7 月）。"),
    "obs_tokyo_office_blocked": ("observation", "§1", "在维尔纽斯峰会上，法德两国并未支持北约秘书长斯托尔滕贝格于东京设立北约代表处的提议",
                                 "France and Germany block the NATO liaison office in Tokyo (July 2023).",
                                 "法德两国不支持在东京设立北约代表处（2023 年 7 月）。"),
    "obs_communique_language": ("observation", "§1", "这份联合公报还花了相当篇幅渲染中国对北约的所谓威胁",
                                "The Vilnius communiqué dwells on China as a challenge.", "维尔纽斯峰会公报以相当篇幅渲染所谓中国威胁。"),
}
_CLAIM_RULES = {
    "claim_depth_rises": "war_effect > material_effect",
    "claim_speed_rises": "acceleration > 0",
    "claim_europe_worth_a_try": "Europe's margin at 2023H2 <= 0 without the war and > 0 with it",
    "claim_all_more_attracted": "every actor's margin at 2023H2 is higher with the war than without",
    "claim_europe_losses_fall": "the magnitudes of Europe's negative terms at 2023H2 sum to less with the war",
    "claim_instrumentally_rational": "rational_war_effect > material_effect",
    "claim_ap4_needs_war": "AP4 depth at Madrid >= summit_depth with the war and < summit_depth without",
    "claim_bundling_cheaper": "the US relative_power term is smaller in magnitude with the war",
    "claim_us_tension_relaxed": "the US tension term is smaller in magnitude with the war",
    "claim_ap4_entrapment_relieved": "the AP4 entrapment term is smaller in magnitude with the war",
    "obs_ap4_at_madrid": "AP4 depth at Madrid (2022.5) >= summit_depth",
    "obs_ap4_at_vilnius": "AP4 depth at Vilnius (2023.5) >= summit_depth",
    "obs_tokyo_office_blocked": "the deciding European margin at Vilnius <= 0 (the core's under a veto)",
    "obs_communique_language": "Europe's threat perception of China at Vilnius exceeds its pre-war level by threat_rise_for_language",
}


def _attrs(name: str) -> dict:
    if name in CLAIMS:
        kind, section, passage, statement, statement_zh = CLAIMS[name]
        role = "observation" if kind == "observation" else "claim"
        attrs = {"role": role, "statement": statement, "statement_zh": statement_zh, "passage": passage,
                 "section": section, "label": statement.rstrip("."), "units": _PROB,
                 "description": f"1 if {_CLAIM_RULES[name]}"}
        return attrs | ({"kind": kind} if role == "claim" else {})
    label, units, description, *zh = OUTPUTS[name]
    return {"label": label, "units": units, "description": description} | ({"label_zh": zh[0]} if zh else {})


def nominal_inputs(n: int = 1, **overrides: float) -> xr.Dataset:
    """The nominal point as a model input: every input repeated along ``sample``.

    Parameters
    ----------
    n : int
        Number of (identical) samples.
    **overrides : float
        Values replacing nominal ones, or reading switches to set.

    Returns
    -------
    xarray.Dataset
        One variable per name in ``NOMINAL`` and ``overrides``, each repeated ``n`` times.
    """
    values = {**NOMINAL, **overrides}
    return xr.Dataset({k: ("sample", np.full(n, float(val))) for k, val in values.items()},
                      coords={"sample": np.arange(n)})
