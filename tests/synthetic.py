"""A small synthetic run directory written to the documented schema.

The figures and the appendix read only files in a run directory, so their tests need a
run directory but not the model, the sampler or the estimators. :func:`make_run` writes
one from a tiny closed-form "flagship-like" model: three actors, two phases, per-term
contributions, a binary headline indicator, and parameters whose labels, descriptions and
sources exercise escaping (Chinese quotes, TeX specials, a hostile ``\\input``).

Indices are computed here from the synthetic design with the textbook Saltelli (2010) /
Jansen estimators, so they are plausible and, more importantly, are *data*: the tests check
that figures and tables reproduce whatever ``indices.csv`` holds.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats

HOSTILE = r"Hostile: \input{/etc/passwd} \write18{touch pwned} 100% & a_b #1 $x^2$ {z} ~ end"
CHINESE = "俄罗斯并没有可用的资源和精力"

STUDY_TOML = f'''\
[study]
name = "synthetic"
model = "tests.synthetic:model"
description = "A synthetic flagship-like study for figure and appendix tests (50% & more)."

[sampling]
method = "sobol"
samples = 64
seed = 7
second_order = true
replicates = 2

[analysis]
methods = ["sobol", "morris", "delta"]
conf_level = 0.95
resamples = 100
headline = ["europe_flip"]
key_output = "delta_nb_europe"
tolerance = 0.05

[constants.s0]
value = 0.1
label = "Acceptance softness"
description = "Logistic scale of acceptance"

[parameters.commitment]
distribution = "uniform"
low = 0.3
high = 0.9
group = "europe_preferences"
label = "Value of US commitment"
description = "What Europe gains from a secure US guarantee"
source = "§3.2.2 (其一)"

[parameters.autonomy]
distribution = "triangular"
low = 0.1
mode = 0.3
high = 0.6
group = "europe_preferences"
label = "Autonomy cost α"
description = {json.dumps(HOSTILE)}
source = "§3.1"

[parameters.dependence_shift]
distribution = "uniform"
low = 0.1
high = 0.7
group = "structural_shift"
label = "Dependence shift Δd"
description = "Rise in Europe's dependence on the US after Feb. 2022"
source = "§3.2.2 (其二)"

[parameters.china_options]
distribution = "truncnormal"
mean = 0.15
sd = 0.05
low = 0.0
high = 0.4
group = "china"
label = "China's residual options χ"
description = "Extra security loss from provoking China"
source = "§3.2.2 (其三)"

[parameters.russia_capacity]
distribution = "triangular"
low = 0.05
mode = 0.2
high = 0.6
group = "russia"
label = "Russia's residual capacity"
description = "Post-escalation capacity to impose security costs on the AP4"
source = "§3.2.1 ({CHINESE} …)"
'''

PARAMS = {
    "commitment": ("uniform", {"low": 0.3, "high": 0.9}),
    "autonomy": ("triangular", {"low": 0.1, "mode": 0.3, "high": 0.6}),
    "dependence_shift": ("uniform", {"low": 0.1, "high": 0.7}),
    "china_options": ("truncnormal", {"mean": 0.15, "sd": 0.05, "low": 0.0, "high": 0.4}),
    "russia_capacity": ("triangular", {"low": 0.05, "mode": 0.2, "high": 0.6}),
}
GROUPS = {
    "europe_preferences": ["commitment", "autonomy"],
    "structural_shift": ["dependence_shift"],
    "china": ["china_options"],
    "russia": ["russia_capacity"],
}
LABELS = {
    "commitment": "Value of US commitment",
    "autonomy": "Autonomy cost α",
    "dependence_shift": "Dependence shift Δd",
    "china_options": "China's residual options χ",
    "russia_capacity": "Russia's residual capacity",
}
ACTORS = ["united_states", "europe", "asia_pacific"]
PHASES = ["pre", "post"]
TERMS = ["commitment", "autonomy", "china", "russia", "other"]


def _ppf(dist: str, a: dict, u: np.ndarray) -> np.ndarray:
    if dist == "uniform":
        return a["low"] + u * (a["high"] - a["low"])
    if dist == "triangular":
        c = (a["mode"] - a["low"]) / (a["high"] - a["low"])
        return stats.triang.ppf(u, c, loc=a["low"], scale=a["high"] - a["low"])
    lo, hi = (a["low"] - a["mean"]) / a["sd"], (a["high"] - a["mean"]) / a["sd"]
    return stats.truncnorm.ppf(u, lo, hi, loc=a["mean"], scale=a["sd"])


def model(x: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per-term contributions ``(sample, actor, phase, term)`` of a toy alliance model."""
    n = len(x["commitment"])
    d0 = 0.45
    d1 = d0 + x["dependence_shift"] * (1 - d0)
    terms = np.zeros((n, 3, 2, len(TERMS)))
    # Europe
    terms[:, 1, 0, 0] = x["commitment"] * d0
    terms[:, 1, 1, 0] = x["commitment"] * d1
    terms[:, 1, :, 1] = -x["autonomy"][:, None]
    terms[:, 1, 1, 2] = -x["china_options"]
    terms[:, 1, 0, 4] = -0.3
    terms[:, 1, 1, 4] = -0.05
    # AP4
    terms[:, 2, 0, 3] = -0.5 * 1.0
    terms[:, 2, 1, 3] = -0.5 * x["russia_capacity"]
    terms[:, 2, :, 4] = 0.3
    # US: follows Europe's acceptance
    terms[:, 0, :, 0] = 0.5 * terms[:, 1, :, 0]
    terms[:, 0, 1, 2] = -0.5 * x["china_options"]
    terms[:, 0, :, 4] = 0.05
    nb = terms.sum(axis=-1)
    flip = ((nb[:, 1, 0] < 0) & (nb[:, 1, 1] > 0)).astype(np.int8)
    return {"terms": terms, "net_benefit": nb, "europe_flip": flip,
            "delta_nb_europe": nb[:, 1, 1] - nb[:, 1, 0]}


def _design(n_rows: int, replicates: int, names: list[str], rng: np.random.Generator):
    """Saltelli layout (row, replicate, matrix) with second-order and group blocks."""
    d = len(names)
    multi = [g for g, m in GROUPS.items() if len(m) > 1]
    labels = (["A"] + [f"AB:{p}" for p in names] + [f"BA:{p}" for p in names] + ["B"]
              + [f"ABg:{g}" for g in multi])
    m = len(labels)
    base = n_rows // replicates
    a = rng.random((base, replicates, d))
    b = rng.random((base, replicates, d))
    u = np.empty((base, replicates, m, d))
    u[:, :, 0] = a
    for j in range(d):
        u[:, :, 1 + j] = a
        u[:, :, 1 + j, j] = b[..., j]
        u[:, :, 1 + d + j] = b
        u[:, :, 1 + d + j, j] = a[..., j]
    u[:, :, 1 + 2 * d] = b
    for k, g in enumerate(multi):
        cols = [names.index(p) for p in GROUPS[g]]
        u[:, :, 2 + 2 * d + k] = a
        u[:, :, 2 + 2 * d + k, cols] = b[..., cols]
    return u.reshape(-1, d), labels, base, m


def _sobol(y: np.ndarray, m_of: dict[str, int], m: int, names: list[str]):
    """First/total (and group) indices, Saltelli 2010 / Jansen 1999, on a flat design."""
    y = y.reshape(-1, m)
    fa, fb = y[:, m_of["A"]], y[:, m_of["B"]]
    var = np.var(np.concatenate([fa, fb]))
    var = var if var > 0 else 1.0
    s1 = {p: np.mean(fb * (y[:, m_of[f"AB:{p}"]] - fa)) / var for p in names}
    st = {p: 0.5 * np.mean((fa - y[:, m_of[f"AB:{p}"]]) ** 2) / var for p in names}
    return s1, st, var


def _rows(method, output, dims, param, index, value, conf, **extra):
    return {"method": method, "output": output, **dims, "param": param, "index": index,
            "value": float(value), "conf": float(conf), "conf_low": float(value - conf),
            "conf_high": float(value + conf), **extra}


def make_run(root: Path, *, n_rows: int = 64, replicates: int = 2, seed: int = 7,
             morris: bool = True, delta: bool = True, convergence: bool = True,
             with_terms: bool = True, status: str = "complete", cjk: bool = True) -> Path:
    """Write a complete synthetic run directory under ``root`` and return its path.

    ``cjk=False`` drops the Chinese characters from the study file's sources, for the
    check that such an appendix also compiles with pdflatex.
    """
    rng = np.random.default_rng(seed)
    names = list(PARAMS)
    u, labels, base, m = _design(n_rows, replicates, names, rng)
    x = {p: _ppf(*PARAMS[p], u[:, i]) for i, p in enumerate(names)}
    out = model(x)
    n = len(u)
    row, rep, mat = np.unravel_index(np.arange(n), (base, replicates, m))
    run = root / "runs" / "synthetic" / "20260101T000000Z-abcdef12"
    (run / "figures").mkdir(parents=True)
    (run / "appendix").mkdir()
    toml = STUDY_TOML if cjk else re.sub(r"[\u3000-\u9fff]+", "", STUDY_TOML)
    (run / "study.toml").write_text(toml, encoding="utf-8")

    coords = {"row": ("sample", row), "replicate": ("sample", rep), "matrix": ("sample", mat),
              "actor": ACTORS, "phase": PHASES, "term": TERMS}
    data = {}
    for p in names:
        dist, args = PARAMS[p]
        data[p] = ("sample", x[p], {
            "role": "input", "label": LABELS[p], "unit": "",
            "description": HOSTILE if p == "autonomy" else "", "source": "",
            "group": next(g for g, mm in GROUPS.items() if p in mm),
            "distribution": json.dumps({"name": dist, **args})})
    data["s0"] = ((), 0.1, {"role": "constant", "label": "Acceptance softness"})
    data["net_benefit"] = (("sample", "actor", "phase"), out["net_benefit"],
                           {"role": "output", "label": "Net benefit"})
    if with_terms:
        data["terms"] = (("sample", "actor", "phase", "term"), out["terms"],
                         {"role": "output", "label": "Net-benefit term"})
    data["europe_flip"] = ("sample", out["europe_flip"],
                           {"role": "output", "label": "Europe: not worth it → worth a try"})
    data["delta_nb_europe"] = ("sample", out["delta_nb_europe"],
                               {"role": "output", "label": "Change in Europe's net benefit"})
    ds = xr.Dataset(data, coords=coords, attrs={
        "study": "synthetic", "design": "sobol", "samples": n_rows, "replicates": replicates,
        "second_order": 1, "seed": seed, "groups": json.dumps(GROUPS),
        "headline": json.dumps(["europe_flip"]), "key_output": "delta_nb_europe",
        "matrix_labels": json.dumps(labels)})
    ds.to_netcdf(run / "results.nc")

    m_of = {lab: i for i, lab in enumerate(labels)}
    rows, nc_sobol, nc_conv = [], {}, {}
    cells = [("europe_flip", {}, out["europe_flip"].astype(float)),
             ("delta_nb_europe", {}, out["delta_nb_europe"])]
    cells += [("net_benefit", {"actor": a, "phase": ph}, out["net_benefit"][:, i, j])
              for i, a in enumerate(ACTORS) for j, ph in enumerate(PHASES)]
    for output, dims, y in cells:
        s1, st, _ = _sobol(y, m_of, m, names)
        order = sorted(names, key=lambda p: -st[p])
        floor = 0.02
        for p in names:
            c1, ct = 0.05 + 0.1 * abs(s1[p]), 0.04 + 0.1 * st[p]
            rows.append(_rows("sobol", output, dims, p, "S1", s1[p], c1, estimator="saltelli2010",
                              conf_method="replicates", rank=order.index(p) + 1))
            rows.append(_rows("sobol", output, dims, p, "ST", st[p], ct, estimator="jansen1999",
                              conf_method="replicates", influential=bool(st[p] - ct > 2 * floor),
                              rank=order.index(p) + 1, converged=True))
        for idx in ("S1_dummy", "ST_dummy"):
            rows.append(_rows("sobol", output, dims, "(dummy)", idx, floor / 2, floor / 2))
        for g, members in GROUPS.items():
            sg = sum(st[p] for p in members)
            rows.append(_rows("sobol", output, dims, g, "ST_group", sg, 0.05))
            rows.append(_rows("sobol", output, dims, g, "S1_group", 0.8 * sg, 0.05))
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                rows.append(_rows("sobol", output, dims, f"{a}:{b}", "S2",
                                  0.1 * s1[a] * st[b], 0.03))
        if morris:
            for k, p in enumerate(names):
                rows.append(_rows("morris", output, dims, p, "mu_star", st[p] * 2, 0.1,
                                  rank=order.index(p) + 1))
                rows.append(_rows("morris", output, dims, p, "sigma", s1[p] + 0.1 * k, 0.0))
        if delta:
            dorder = sorted(names, key=lambda p: -(st[p] + 0.01 * names.index(p)))
            for p in names:
                rows.append(_rows("delta", output, dims, p, "delta", 0.5 * st[p] + 0.01, 0.02,
                                  rank=dorder.index(p) + 1))
        if not dims:
            nc_sobol[f"{output}__ST"] = ("param", [st[p] for p in names])
            if convergence:
                ns = [8, 16, 32]
                vals = np.array([[st[p] * (1 + 0.3 / k) for p in names] for k in (1, 2, 4)])
                confs = np.array([[0.3 / k] * len(names) for k in (1, 2, 4)])
                # The layout analysis.indices writes: per-replicate base rows `n` and the
                # model runs of each prefix in the `runs` coordinate.
                nc_sobol[f"{output}__convergence__ST"] = (("n", "param"), vals)
                nc_sobol[f"{output}__convergence__ST_conf"] = (("n", "param"), confs)
                nc_conv["n"] = ns
    flip = out["europe_flip"].reshape(-1, m)[:, [m_of["A"], m_of["B"]]].ravel()
    p_hat = flip.mean()
    half = 1.96 * np.sqrt(p_hat * (1 - p_hat) / flip.size)
    rows.append(_rows("headline", "europe_flip", {}, "", "P", p_hat, half,
                      conf_method="normal"))
    df = pd.DataFrame(rows)
    cols = ["method", "output", "actor", "phase", "param", "index", "value", "conf",
            "conf_low", "conf_high", "estimator", "conf_method", "influential", "rank",
            "converged"]
    df[cols].to_csv(run / "indices.csv", index=False)

    coords = {"param": names}
    if convergence:
        ns = np.array(nc_conv["n"])
        coords |= {"n": ns, "runs": ("n", ns * replicates * m)}
    xr.Dataset(nc_sobol, coords=coords).to_netcdf(run / "indices.nc", group="sobol", mode="w")

    sha = hashlib.sha256(toml.encode()).hexdigest()
    manifest = {
        "status": status, "argv": ["study", "run", "params/synthetic.toml"], "seed": seed,
        "study": {"name": "synthetic", "file": "params/synthetic.toml", "sha256": sha},
        "model": {"ref": "tests.synthetic:model", "file": "tests/synthetic.py",
                  "sha256": "0" * 64},
        "samples": {"N": n_rows, "replicates": replicates, "second_order": True,
                    "runs_requested": n, "runs_completed": n - 3, "runs_failed": 3},
        "versions": {"mcsens": "0.1.0", "numpy": np.__version__, "SALib": "1.6.0"},
        "git_commit": "0123456789abcdef0123456789abcdef01234567", "host": "testhost",
        "python": "3.11.2",
        "timings": {"started": "2026-01-01T00:00:00Z", "finished": "2026-01-01T00:01:05Z",
                    "sampling_s": 0.5, "evaluation_s": 60.0, "analysis_s": 4.5,
                    "wall_s": 65.0},
        "error": None,
    }
    (run / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return run
