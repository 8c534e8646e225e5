"""The surrogate method on a saved run: its rows of ``indices.csv`` and its ``indices.nc`` group.

Reads the surrogate design's results (``results.nc`` when ``[sampling] method =
"surrogate"``, else ``results-surrogate.nc``), rebuilds the design's unit-cube points from
the recorded seed (so the germs are exact, whatever the inputs' distributions) and fits
:func:`analysis.surrogate.surrogate_indices` to each output.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from study.errors import RunError
from study.spec import MIN_SURROGATE_RUNS
from study.sampling import make_design
from study.store import open_run

from .surrogate import Q2_MIN, surrogate_indices

#: Bootstrap resamples of a PCE fit (each a least-squares solve on the selected basis).
PCE_RESAMPLES = 200

ESTIMATORS = {
    "pce": "sparse polynomial chaos (hybrid LARS, Blatman & Sudret 2011; indices from coefficients, Sudret 2008)",
    "gp": "Gaussian process posterior draws (Marrel et al. 2009); S1 Saltelli 2010, ST Jansen 1999",
}


def conf_method(kind: str, resamples: int) -> str:
    """How the intervals were made, for the ``conf_method`` column."""
    if kind == "pce":
        how = f"bootstrap over the design ({resamples} resamples, basis fixed), percentile"
    else:
        how = f"{resamples} posterior draws of the process, percentile"
    return f"{how}; widened by 1 - Q²"


def surrogate_design(study, run_dir):
    """The surrogate design's results and unit points, or ``(None, None)`` if the run has none."""
    main = study.sampling.method == "surrogate"
    try:
        res = open_run(run_dir, None if main else "surrogate")
    except RunError:
        return None, None
    design = make_design(study, "surrogate", int(res.attrs.get("base_rows", res.sizes["sample"])))
    u, _ = design.unit(0, design.n_blocks)
    if u.shape[0] != res.sizes["sample"]:
        raise RunError(run_dir, "results-surrogate.nc" if not main else "results.nc",
                       f"must hold the {u.shape[0]} points of the recorded surrogate design; "
                       f"got {res.sizes['sample']}")
    return res, u


def surrogate_tree(study, run_dir, outputs, rows: list, notes: list) -> xr.Dataset | None:
    """Fit the study's surrogate to each output of a run.

    Parameters
    ----------
    study : study.spec.Study
        The run's study as it was run.
    run_dir : pathlib.Path
        The run directory.
    outputs : sequence of str
        The outputs to analyse.
    rows, notes : list
        ``indices.csv`` rows and run notes, appended to in place.

    Returns
    -------
    xarray.Dataset or None
        The ``surrogate`` group of ``indices.nc`` (``<output>__<var>``), or None when the
        run has no surrogate design.
    """
    from .indices import _rng
    from .tidy import element_position as _element_position, flatten, labelled as _label
    from .tidy import s2_rows as _s2_rows, tidy_rows as _rows

    a = study.analysis
    res, u = surrogate_design(study, run_dir)
    if res is None:
        return None
    ok = res["status"].values == 0 if "status" in res else np.ones(len(u), bool)
    if not ok.all():
        notes.append(f"surrogate: {int((~ok).sum())} of {len(u)} runs failed; the surrogate is fitted to the "
                     f"{int(ok.sum())} others")
    params = [str(p) for p in make_design(study, "surrogate", 1).params]
    dists = [study.parameter(p).distribution for p in params]
    resamples = min(a.resamples, PCE_RESAMPLES)
    how = conf_method(a.surrogate, resamples if a.surrogate == "pce" else min(resamples, 50))
    out = []
    for o in outputs:
        values, index, dims = flatten(res[o])
        labels = [o] if index is None else [f"{o}[{', '.join(map(str, np.atleast_1d(k)))}]" for k in index]
        ds = surrogate_indices(u[ok], values[ok], params=params, distributions=dists, kind=a.surrogate,
                               conf_level=a.conf_level, resamples=resamples, rng=_rng(study, "surrogate", o),
                               elements=labels)
        ds = ds.assign_coords(element=np.arange(ds.sizes["element"]))
        stable = _stable(ds, u[ok], values[ok], params, dists, a, _rng(study, "surrogate-half", o))
        est = f"{ESTIMATORS[a.surrogate]}, {int(ok.sum())} runs"
        new = _rows(ds, "surrogate", o, dims, index, {"S1": ("param", est), "ST": ("param", est)}, how)
        if a.surrogate == "pce":
            new += [dict(r, method="surrogate") for r in _s2_rows(ds, o, dims, index, how, est)]
        new += _q2_rows(ds, o, dims, index)
        pos = {p: i for i, p in enumerate(params)}
        for row in new:
            e = _element_position(index, dims, row)
            row["status"] = str(ds["status"].values[e])
            if row["index"] in ("S1", "ST"):
                row["converged"] = bool(stable[e, pos[row["param"]]])
        rows.extend(new)
        bad = [s for s in ds["status"].values if str(s).startswith("unreliable")]
        if bad:
            notes.append(f"surrogate: {len(bad)} of {len(labels)} elements of {o} are unreliable, their "
                         f"indices withheld (Q² below {Q2_MIN:g}); first: {bad[0][len('unreliable: '):]}")
        ds = ds.assign(status=ds["status"].astype(str))
        out.append(_label(ds, o, index))
    return xr.merge(out, compat="override", join="outer") if out else None


def _stable(ds, u, values, params, dists, a, rng) -> np.ndarray:
    """Per element and input: ST moved less than ``analysis.tolerance`` from the first half of the design.

    The design's first half is itself the surrogate design of half the budget (a prefix of
    the same Sobol' sequence), as a Saltelli design's nested sub-designs are for the Sobol'
    method. An element without reliable indices on either half is not converged.
    """
    half = len(u) // 2
    if half < MIN_SURROGATE_RUNS:
        return np.zeros(ds["ST"].shape, bool)
    small = surrogate_indices(u[:half], values[:half], params=params, distributions=dists, kind=a.surrogate,
                              conf_level=a.conf_level, resamples=2, rng=rng)
    with np.errstate(invalid="ignore"):
        return np.abs(ds["ST"].values - small["ST"].values) < a.tolerance


def _q2_rows(ds: xr.Dataset, output: str, dims, index) -> list[dict]:
    """One ``Q2`` row per element: the surrogate's leave-one-out validation."""
    from .tidy import element_dicts as _element_dicts

    rows = []
    for e, labels in enumerate(_element_dicts(index, ds.sizes["element"], dims)):
        terms = int(ds["terms"].values[e])
        detail = (f"degree {int(ds['degree'].values[e])}, {terms} terms" if ds.attrs["surrogate"] == "pce"
                  else f"{terms} training runs")
        rows.append({"method": "surrogate", "output": output, **labels, "param": "", "index": "Q2",
                     "value": float(ds["Q2"].values[e]), "estimator": f"leave-one-out Q² of the {ds.attrs['surrogate']} "
                     f"surrogate ({detail}); indices withheld below {ds.attrs['q2_min']:g}",
                     "conf_method": ""})
    return rows
