"""The surrogate method on a saved run: its rows of ``indices.csv`` and its ``indices.nc`` group.

Reads the surrogate design's results (``results.nc`` when ``[sampling] method =
"surrogate"``, else ``results-surrogate.nc``) and the unit-cube points the run stored
beside them (so the germs are exact, whatever the inputs' distributions; a run written
before the points were stored gets them from its recorded seed) and fits
:func:`analysis.surrogate.surrogate_indices` to each output. Its :data:`METHOD` is the
registry's ``surrogate`` entry.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from study.errors import RunError
from study.spec import MIN_SURROGATE_RUNS

from .methods import Method
from .surrogate import Q2_MIN, surrogate_indices
from .tidy import element_dicts, element_position, flatten, labelled, s2_rows, tidy_rows

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


def surrogate_points(run, res: xr.Dataset, design: str | None) -> tuple[np.ndarray, list[str]]:
    """The surrogate design's unit points (as stored) and the parameter of each column.

    Raises
    ------
    study.errors.RunError
        If the points are not one per sample of the results.
    """
    stored = run.design_points(design)
    if stored is None:  # sealed before the points were stored: the design from the seed
        made = run.design("surrogate", int(res.attrs.get("base_rows", res.sizes["sample"])))
        stored = made.unit(0, made.n_blocks)[0], [str(p) for p in made.params]
    u, params = stored
    if u.shape[0] != res.sizes["sample"]:
        raise RunError(run.path, "results-surrogate.nc" if design else "results.nc",
                       f"must hold the {u.shape[0]} points of the recorded surrogate design; "
                       f"got {res.sizes['sample']}")
    return u, params


def analyze(run, settings, rng) -> xr.Dataset | None:
    """Fit the study's surrogate to each output of a run (the registry's ``analyze``).

    Parameters
    ----------
    run : analysis.run.Run
        The run's record.
    settings : analysis.methods.Settings
        The outputs to analyse; ``indices.csv`` rows and notes are appended to it.
    rng : callable
        ``rng(*key)``: the generator keyed by names (``"surrogate", output``).

    Returns
    -------
    xarray.Dataset or None
        The ``surrogate`` group of ``indices.nc`` (``<output>__<var>``), or None when the
        run has no surrogate design.
    """
    design = None if run.study.sampling.method == "surrogate" else "surrogate"
    try:
        res = run.open_results(design)
    except RunError:
        return None
    with res:
        u, params = surrogate_points(run, res, design)
        return _fit_outputs(run.study, res, u, params, settings, rng)


def _fit_outputs(study, res, u, params, settings, rng) -> xr.Dataset | None:
    a = study.analysis
    rows, notes = settings.rows, settings.notes
    ok = res["status"].values == 0 if "status" in res else np.ones(len(u), bool)
    if not ok.all():
        notes.append(f"surrogate: {int((~ok).sum())} of {len(u)} runs failed; the surrogate is fitted to the "
                     f"{int(ok.sum())} others")
    dists = [study.parameter(p).distribution for p in params]
    resamples = min(a.resamples, PCE_RESAMPLES)
    how = conf_method(a.surrogate, resamples if a.surrogate == "pce" else min(resamples, 50))
    out = []
    for o in settings.outputs:
        values, index, dims = flatten(res[o])
        labels = [o] if index is None else [f"{o}[{', '.join(map(str, np.atleast_1d(k)))}]" for k in index]
        ds = surrogate_indices(u[ok], values[ok], params=params, distributions=dists, kind=a.surrogate,
                               conf_level=a.conf_level, resamples=resamples, rng=rng("surrogate", o),
                               elements=labels)
        ds = ds.assign_coords(element=np.arange(ds.sizes["element"]))
        stable = _stable(ds, u[ok], values[ok], params, dists, a, rng("surrogate-half", o))
        est = f"{ESTIMATORS[a.surrogate]}, {int(ok.sum())} runs"
        new = tidy_rows(ds, "surrogate", o, dims, index, {"S1": ("param", est), "ST": ("param", est)}, how)
        if a.surrogate == "pce":
            new += [dict(r, method="surrogate") for r in s2_rows(ds, o, dims, index, how, est)]
        new += _q2_rows(ds, o, dims, index)
        pos = {p: i for i, p in enumerate(params)}
        for row in new:
            e = element_position(index, dims, row)
            row["status"] = str(ds["status"].values[e])
            if row["index"] in ("S1", "ST"):
                row["converged"] = bool(stable[e, pos[row["param"]]])
        rows.extend(new)
        bad = [s for s in ds["status"].values if str(s).startswith("unreliable")]
        if bad:
            notes.append(f"surrogate: {len(bad)} of {len(labels)} elements of {o} are unreliable, their "
                         f"indices withheld (Q² below {Q2_MIN:g}); first: {bad[0][len('unreliable: '):]}")
        ds = ds.assign(status=ds["status"].astype(str))
        out.append(labelled(ds, o, index))
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
    rows = []
    for e, labels in enumerate(element_dicts(index, ds.sizes["element"], dims)):
        terms = int(ds["terms"].values[e])
        detail = (f"degree {int(ds['degree'].values[e])}, {terms} terms" if ds.attrs["surrogate"] == "pce"
                  else f"{terms} training runs")
        rows.append({"method": "surrogate", "output": output, **labels, "param": "", "index": "Q2",
                     "value": float(ds["Q2"].values[e]), "estimator": f"leave-one-out Q² of the {ds.attrs['surrogate']} "
                     f"surrogate ({detail}); indices withheld below {ds.attrs['q2_min']:g}",
                     "conf_method": ""})
    return rows


def _check(study, where_n):
    """Its design and the Sobol' indices it re-estimates assume independent inputs."""
    if study.correlations:
        return "analysis.methods", ("must not include 'surrogate' when [[correlations]] are declared (its design "
                                    f"and Sobol' indices assume independent inputs); got {list(study.analysis.methods)}")
    return None


METHOD = Method(name="surrogate", rank_index="ST", label="Surrogate ST", text_label="surrogate ST", on_draws=False,
                analyze=analyze, triangulates=False, design="surrogate", keys=("surrogate", "budget"), check=_check)
