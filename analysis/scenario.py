"""Scenario discovery: where in the input space does a binary headline fail?

For each headline indicator (1 = holds), the cases of interest are the samples where it
fails (== 0). :func:`prim` runs the Patient Rule Induction Method (Friedman & Fisher 1999)
in the form used for scenario discovery (Bryant & Lempert 2010): peel a box along its
coordinates, record the coverage-density trade-off, choose a box on it, paste, and give
each restricted dimension a quasi-p-value. :func:`tree_rules` is the cross-check, a
shallow scikit-learn classification tree whose leaves are rules of the same kind.
:func:`scenario_discovery` runs both on a saved run and writes ``scenarios.nc``,
``scenarios.csv`` and ``scenarios_tree.csv``.

PRIM itself, with its references, is in :mod:`analysis.prim` (our own implementation;
the module says why).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from study.errors import RunError
from study.store import file_sha256, write_atomic

from .draws import iid_rows, read_rows
from .prim import PrimBox, prim
from .run import read_run
from .textsafe import write_csv

CSV_COLUMNS = ("output", "box", "step", "kind", "coverage", "density", "mass", "n_restricted",
               "param", "label", "low", "high", "qp_value", "significant")
TREE_COLUMNS = ("output", "leaf", "rule", "n", "fails", "failure_share", "predicted")


def tree_rules(x: np.ndarray, y: np.ndarray, names, *, max_depth: int = 3, seed: int = 0):
    """Shallow classification tree of `y` on `x`, as leaf rules.

    Classes are weighted to balance, so a leaf predicts "fails" where failures are
    over-represented relative to the overall rate, the same notion a PRIM box uses.

    Returns
    -------
    leaves : pandas.DataFrame
        One row per leaf: ``leaf, rule, n, fails, failure_share, predicted``.
    importance : numpy.ndarray, shape (d,)
        Impurity-based feature importances.
    text : str
        ``sklearn.tree.export_text`` rendering.
    """
    from sklearn.tree import DecisionTreeClassifier, export_text

    y = np.asarray(y, dtype=bool)
    clf = DecisionTreeClassifier(max_depth=max_depth, min_samples_leaf=max(10, len(y) // 100),
                                 class_weight="balanced", random_state=seed).fit(x, y)
    t = clf.tree_
    rules = {0: []}
    for node in range(t.node_count):  # parents precede children in sklearn's node order
        if t.children_left[node] >= 0:
            name, thr = names[t.feature[node]], t.threshold[node]
            rules[t.children_left[node]] = rules[node] + [f"{name} <= {thr:.4g}"]
            rules[t.children_right[node]] = rules[node] + [f"{name} > {thr:.4g}"]
    leaf_of = clf.apply(x)
    leaf_ids = np.flatnonzero(t.children_left < 0)
    n = np.bincount(leaf_of, minlength=t.node_count)[leaf_ids]
    k = np.bincount(leaf_of, weights=y, minlength=t.node_count)[leaf_ids].astype(int)
    pred = clf.classes_[np.argmax(t.value[leaf_ids, 0], axis=1)]
    leaves = pd.DataFrame({"leaf": leaf_ids, "rule": [" and ".join(rules[i]) or "(all)" for i in leaf_ids],
                           "n": n, "fails": k, "failure_share": k / np.maximum(n, 1),
                           "predicted": np.where(pred, "fails", "holds")})
    return leaves, clf.feature_importances_, export_text(clf, feature_names=list(names), decimals=4)


#: Independent draws used for scenario discovery (A and B rows interleave, so a prefix of a
#: Saltelli design keeps both and stays balanced).
MAX_ROWS = 65536


def _summary(name, label, box: PrimBox | None, params, labels, k, n, significance):
    what = label or name
    if k == 0:
        return f"{what} holds in every sample; there is no failure region to describe."
    if k == n:
        return f"{what} fails in every sample; there is no region where it holds."
    sig = [j for j in np.argsort(box.qp_value) if box.qp_value[j] < significance]
    if not sig:
        return (f"{what} fails in {k / n:.0%} of samples with no concentrated failure region: "
                f"no PRIM restriction is significant at {significance:g}.")
    parts = []
    for j in sig[:3]:
        lo, hi, lab = box.low[j], box.high[j], labels[params[j]]
        if np.isfinite(lo) and np.isfinite(hi):
            parts.append(f"{lab} lies between {lo:.3g} and {hi:.3g}")
        elif np.isfinite(lo):
            parts.append(f"{lab} exceeds {lo:.3g}")
        else:
            parts.append(f"{lab} is below {hi:.3g}")
    cond = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return (f"{what} fails mainly when {cond} (PRIM box 1: {box.coverage:.0%} of failures, density "
            f"{box.density:.0%} against {k / n:.0%} overall, {box.mass:.0%} of samples).")


def discover(x: pd.DataFrame, outcome: np.ndarray, *, name: str = "outcome", label: str = "",
             labels: dict | None = None, significance: float = 0.05, tree_depth: int = 3,
             **prim_options) -> xr.Dataset:
    """PRIM and tree on one binary outcome; failures (``outcome == 0``) are the cases.

    Parameters
    ----------
    x : pandas.DataFrame
        Inputs, one column per parameter.
    outcome : array_like of 0/1
        The headline indicator, 1 where it holds.
    name, label : str
        Output name and its readable label (for the summary sentence).
    labels : dict, optional
        Parameter name -> readable label.
    **prim_options
        Passed to :func:`prim`.

    Returns
    -------
    xarray.Dataset
        Dims ``box``, ``step``, ``param``; see :func:`scenario_discovery`.
    """
    params = list(x.columns)
    labels = {p: (labels or {}).get(p) or p for p in params}
    X = x.to_numpy(dtype=float)
    out = np.asarray(outcome, dtype=float)
    if not np.all(np.isin(out, (0.0, 1.0))):
        bad = float(out[~np.isin(out, (0.0, 1.0))][0])
        raise ValueError(f"headline output {name!r} must be a 0/1 indicator; got the value {bad!r}")
    fails = out == 0
    boxes = prim(X, fails, significance=significance, **prim_options)
    nb, ns, d = max(len(boxes), 1), max((len(b.traj_coverage) for b in boxes), default=1), len(params)
    traj = {v: np.full((nb, ns), np.nan) for v in ("coverage", "density", "mass", "n_restricted")}
    tlow, thigh = np.full((nb, ns, d), np.nan), np.full((nb, ns, d), np.nan)
    box = {v: np.full(nb, np.nan) for v in ("box_coverage", "box_density", "box_mass")}
    blow, bhigh, qp = (np.full((nb, d), np.nan) for _ in range(3))
    chosen = np.full(nb, -1)
    for i, b in enumerate(boxes):
        s = len(b.traj_coverage)
        traj["coverage"][i, :s], traj["density"][i, :s], traj["mass"][i, :s] = (
            b.traj_coverage, b.traj_density, b.traj_mass)
        traj["n_restricted"][i, :s] = (np.isfinite(b.traj_low) | np.isfinite(b.traj_high)).sum(axis=1)
        tlow[i, :s] = np.where(np.isfinite(b.traj_low), b.traj_low, np.nan)
        thigh[i, :s] = np.where(np.isfinite(b.traj_high), b.traj_high, np.nan)
        box["box_coverage"][i], box["box_density"][i], box["box_mass"][i] = b.coverage, b.density, b.mass
        blow[i] = np.where(np.isfinite(b.low), b.low, np.nan)
        bhigh[i] = np.where(np.isfinite(b.high), b.high, np.nan)
        qp[i], chosen[i] = b.qp_value, b.chosen_step
    leaves, importance, text = tree_rules(X, fails, params, max_depth=tree_depth)
    k, n = int(fails.sum()), len(fails)
    summary = _summary(name, label, boxes[0] if boxes else None, params, labels, k, n, significance)
    ds = xr.Dataset(
        {**{v: (("box", "step"), a) for v, a in traj.items()},
         "low": (("box", "step", "param"), tlow), "high": (("box", "step", "param"), thigh),
         "chosen_step": ("box", chosen), **{v: ("box", a) for v, a in box.items()},
         "box_low": (("box", "param"), blow), "box_high": (("box", "param"), bhigh),
         "qp_value": (("box", "param"), qp), "tree_importance": ("param", importance)},
        coords={"box": np.arange(1, nb + 1), "step": np.arange(ns), "param": params,
                "label": ("param", [labels[p] for p in params])},
        attrs={"n": n, "fails": k, "base_rate": k / n if n else np.nan, "summary": summary,
               "tree_rules": text, "tree_leaves": leaves.to_json(orient="records")},
    )
    return ds


def _headline_names(ds: xr.Dataset, run_dir: Path) -> list[str]:
    names = json.loads(ds.attrs.get("headline", "[]"))
    if not names:
        raise RunError(run_dir, "analysis.headline", "must name the binary outputs to search for failure "
                       "regions (or pass outputs=); got none")
    return names


def _without_attrs(ds: xr.Dataset) -> xr.Dataset:
    """``ds.drop_attrs()``, cleared in place on a shallow copy: drop_attrs rebuilds the
    Dataset once per variable (0.2 of scenario discovery's 0.65 CPU-s on the flagship)."""
    ds = ds.copy(deep=False)
    ds.attrs = {}
    for v in ds.variables.values():
        v.attrs = {}
    return ds


def _combine(parts: dict[str, xr.Dataset]) -> xr.Dataset:
    per = []
    for name, ds in parts.items():
        attrs = ds.attrs
        ds = ds.assign(summary=((), attrs["summary"]), tree_rules=((), attrs["tree_rules"]),
                       n=((), attrs["n"]), fails=((), attrs["fails"]), base_rate=((), attrs["base_rate"]))
        per.append(_without_attrs(ds).expand_dims(output=[name]))
    out = xr.concat(per, dim="output", join="outer", fill_value=np.nan)
    out["chosen_step"] = out["chosen_step"].fillna(-1).astype(int)
    return out


def tidy(ds: xr.Dataset) -> pd.DataFrame:
    """``scenarios.csv`` rows from a :func:`scenario_discovery` Dataset.

    One row per (output, box, step, restricted parameter) of each peeling trajectory
    (``kind = "peel"``; a step without restrictions has one row with an empty ``param``),
    then the chosen, pasted boxes (``kind = "chosen"``, ``step`` = the trajectory step
    chosen) with their quasi-p-values and ``significant`` flags.
    """
    rows = []
    sig = float(ds.attrs.get("significance", 0.05))
    params = ds.param.values
    labels = dict(zip(params, ds.label.values))
    # Each variable read once as an (output, box, ...) array: selecting by label per box
    # and step through xarray cost 0.1 CPU-s of the flagship's 400 rows.
    a = {v: ds[v].transpose("output", "box", ...).values for v in
         ("chosen_step", "coverage", "density", "mass", "low", "high", "box_coverage", "box_density", "box_mass",
          "box_low", "box_high", "qp_value")}
    for i, out in enumerate(ds.output.values):
        for k, b in enumerate(ds.box.values):
            chosen = int(a["chosen_step"][i, k])
            if chosen < 0:
                continue
            for kind in ("peel", "chosen"):
                steps = np.flatnonzero(np.isfinite(a["coverage"][i, k])) if kind == "peel" else [chosen]
                for s in steps:
                    if kind == "peel":
                        lo, hi = a["low"][i, k, s], a["high"][i, k, s]
                        cov, den, mass = (float(a[v][i, k, s]) for v in ("coverage", "density", "mass"))
                        qp = np.full(len(lo), np.nan)
                    else:
                        lo, hi, qp = a["box_low"][i, k], a["box_high"][i, k], a["qp_value"][i, k]
                        cov, den, mass = (float(a[f"box_{v}"][i, k]) for v in ("coverage", "density", "mass"))
                    res = np.flatnonzero(np.isfinite(lo) | np.isfinite(hi))
                    base = {"output": out, "box": int(b), "step": int(s), "kind": kind, "coverage": cov,
                            "density": den, "mass": mass, "n_restricted": len(res)}
                    if not len(res):
                        rows.append({**base, "param": "", "label": ""})
                    for j in res:
                        p = params[j]
                        rows.append({**base, "param": p, "label": labels[p], "low": lo[j], "high": hi[j],
                                     "qp_value": qp[j], "significant": bool(qp[j] < sig) if kind == "chosen" else None})
    return pd.DataFrame(rows, columns=list(CSV_COLUMNS))


def scenario_discovery(run, outputs=None, *, write: bool = True, threshold: float | None = None,
                       peel_alpha: float = 0.05, paste_alpha: float = 0.05, mass_min: float = 0.05,
                       max_boxes: int = 2, significance: float = 0.05, tree_depth: int = 3) -> xr.Dataset:
    """Find where each headline indicator of a saved run fails, by PRIM and a tree.

    Parameters
    ----------
    run : str, pathlib.Path or analysis.run.Run
        A run directory with ``results.nc``, or its record.
    outputs : list of str, optional
        Binary (0/1) outputs to search; default the study's ``[analysis].headline``.
    write : bool
        Write ``scenarios.nc``, ``scenarios.csv`` and ``scenarios_tree.csv`` into the run
        directory (replacing earlier ones: they are derived files).
    threshold, peel_alpha, paste_alpha, mass_min, max_boxes, significance
        See :func:`prim`.
    tree_depth : int
        Depth of the cross-check tree.

    Returns
    -------
    xarray.Dataset
        Dims ``output``, ``box`` (1-based), ``step`` (peeling step, 0 = whole space),
        ``param``. Trajectory: ``coverage, density, mass, n_restricted`` (output, box,
        step) and ``low, high`` (…, param; NaN = side unrestricted). Chosen, pasted box:
        ``chosen_step`` (-1 = no box), ``box_coverage, box_density, box_mass`` (output,
        box), ``box_low, box_high, qp_value`` (output, box, param). Per output:
        ``n, fails, base_rate, summary`` (one sentence using the parameters' labels),
        ``tree_rules`` (text) and ``tree_importance`` (output, param). Coordinate
        ``label`` (param) holds the parameters' labels.

    Raises
    ------
    RunError
        If the run has no headline outputs and none are given, or an output is not a
        0/1 indicator along ``sample`` alone.
    """
    run = read_run(run)
    with run.open_results() as ds:
        result, tree = discover_run(run, ds, outputs, threshold=threshold, peel_alpha=peel_alpha,
                                    paste_alpha=paste_alpha, mass_min=mass_min, max_boxes=max_boxes,
                                    significance=significance, tree_depth=tree_depth)
    if write:
        write_scenarios(run.path, result, tree)
    return result


def discover_run(run, ds: xr.Dataset, outputs=None, *, threshold: float | None = None, peel_alpha: float = 0.05,
                 paste_alpha: float = 0.05, mass_min: float = 0.05, max_boxes: int = 2,
                 significance: float = 0.05, tree_depth: int = 3) -> tuple[xr.Dataset, pd.DataFrame]:
    """:func:`scenario_discovery` on the run's results ``ds``, already open, without writing.

    :func:`analysis.indices.analyze_run` calls it on its own open results beside the
    methods (a second handle on the file is not safe, see :meth:`analysis.run.Run.open_results`).

    Returns
    -------
    (xarray.Dataset, pandas.DataFrame)
        The result :func:`scenario_discovery` returns, and the tree's leaves of every
        output (``scenarios_tree.csv``).
    """
    run_dir = run.path
    names = list(outputs) if outputs else _headline_names(ds, run_dir)
    # PRIM's peeling holds several (rows × inputs) temporaries: a balanced prefix of
    # at most MAX_ROWS independent draws bounds its memory and time at any N.
    keep = np.flatnonzero(iid_rows(ds))[:MAX_ROWS]
    params = [v for v in ds.data_vars if ds[v].attrs.get("role") == "input"]
    labels = {p: ds[p].attrs.get("label") or p for p in params}
    x = pd.DataFrame({p: read_rows(ds[p], keep) for p in params})
    parts, leaves = {}, []
    for name in names:
        if name not in ds:
            raise RunError(run_dir, "analysis.headline", f"must name outputs of the run; got {name!r}")
        if ds[name].dims != ("sample",):
            raise RunError(run_dir, "analysis.headline", f"must name 0/1 outputs along 'sample' alone; "
                           f"got {name!r} with dims {ds[name].dims}")
        try:
            part = discover(x, read_rows(ds[name], keep), name=name, label=ds[name].attrs.get("label", ""),
                            labels=labels, significance=significance, tree_depth=tree_depth,
                            threshold=threshold, peel_alpha=peel_alpha, paste_alpha=paste_alpha,
                            mass_min=mass_min, max_boxes=max_boxes)
        except ValueError as e:
            raise RunError(run_dir, "analysis.headline", str(e)) from None
        parts[name] = part
        leaves.append(pd.DataFrame(json.loads(part.attrs["tree_leaves"])).assign(output=name))
    design = ds.attrs.get("design", "")
    result = _combine(parts)
    result.attrs = {
        "study": ds.attrs.get("study", ""), "design": design,
        "rows": "A and B matrices" if "matrix_labels" in ds.attrs else "all samples",
        "cases": "headline fails (output == 0)", "threshold": "none" if threshold is None else threshold,
        "peel_alpha": peel_alpha,
        "paste_alpha": paste_alpha, "mass_min": mass_min, "max_boxes": max_boxes, "significance": significance,
        "tree_depth": tree_depth, "implementation": "analysis.prim.prim (PRIM, Friedman & Fisher 1999)",
        "source_manifest_sha256": file_sha256(run.file("manifest.json")),
    }
    return result, pd.concat(leaves, ignore_index=True)[list(TREE_COLUMNS)]


def write_scenarios(run_dir: Path, result: xr.Dataset, tree: pd.DataFrame, table: pd.DataFrame | None = None) -> None:
    """Write ``scenarios.nc``, ``scenarios.csv`` and ``scenarios_tree.csv`` of :func:`discover_run`'s result.

    ``table`` is ``tidy(result)`` if the caller has it already (made beside other work).
    """
    table = tidy(result) if table is None else table
    write_atomic(run_dir / "scenarios.nc", result.to_netcdf)
    write_atomic(run_dir / "scenarios.csv", lambda p: write_csv(table, p))
    write_atomic(run_dir / "scenarios_tree.csv", lambda p: write_csv(tree, p))
