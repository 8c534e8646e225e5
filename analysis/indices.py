"""Sensitivity indices of a saved run: ``indices.nc`` and the tidy ``indices.csv``.

Reads only the run directory, through its :class:`analysis.run.Run` record (``study.toml``,
``manifest.json``, ``results*.nc``); never imports or runs the model.
Each method registered in :data:`analysis.METHODS` that applies to the study analyses the
outputs (:mod:`analysis.methods`; the surrogate and the noise diagnostic too, with no
special case here); this module adds the headline probabilities and writes the files.

``indices.csv`` has one row per number: ``method, output, <output dims…>, param, index,
value, conf, conf_low, conf_high, estimator, conf_method, influential, rank, converged,
status``. ``status`` (Sobol rows) is the output element's: ``ok``, ``constant`` or
``unreliable: <reason>`` (see :mod:`analysis.sobol`); an unreliable element's indices are NaN
unless the reason is an estimate outside [0, 1], which is kept and explained in the notes.
"""

from __future__ import annotations

import json
import sys
import warnings
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import xarray as xr

from study.sampling import stream
from study.store import file_sha256, write_atomic

from . import METHODS
from .draws import iid_rows, read_rows
from .methods import Settings
from .noise import NOISE_ROLE
from .proportion import share_holds
from .run import read_run
from .textsafe import write_csv
from .tidy import element_dicts, iid_values

if TYPE_CHECKING:
    from .run import Run

#: Threads the methods run on, beside scenario discovery's: two cores' worth (delta spreads
#: its own kernel sums over the cores too).
LANES = 2

#: The GIL's switch interval while the methods run on threads (Python's default: 5 ms).
#: delta's kernel threads hold the GIL for a few microseconds between numpy calls of tens
#: of microseconds; beside a thread running Python (sobol's, PRIM's bookkeeping) each of
#: them waited up to the whole interval for it. 40 kernel tasks on two threads beside a
#: pure-Python thread: 5.4-6.3 s at 5 ms, 2.2-4.4 s at 0.5 ms (alone: 1.3-2.8 s; a
#: shared 2-core machine).
SWITCH_INTERVAL = 0.0005

CSV_COLUMNS = ["method", "output", "param", "index", "value", "conf", "conf_low", "conf_high", "estimator",
               "conf_method", "influential", "rank", "converged", "status"]


def output_names(results: xr.Dataset, study) -> list[str]:
    if study.analysis.outputs:
        return list(study.analysis.outputs)
    return [v for v in results.data_vars if results[v].attrs.get("role") == "output"
            and results[v].attrs.get("model_role") != NOISE_ROLE]  # a replication variance is no output


def _rng(study, *key: str) -> np.random.Generator:
    # Keyed by name, so adding or reordering outputs never changes another output's numbers.
    return np.random.default_rng(stream(study.sampling.seed, "analysis", *(zlib.crc32(k.encode()) for k in key)))


def analyze_run(run: "Run | str | Path") -> tuple[Path, Path]:
    """Compute every requested index of a run and write ``indices.nc`` and ``indices.csv``.

    Parameters
    ----------
    run : analysis.run.Run, str or pathlib.Path
        A run directory with ``results.nc``, or its record.

    Returns
    -------
    (pathlib.Path, pathlib.Path)
        The paths of ``indices.nc`` and ``indices.csv``.
    """
    run = read_run(run)
    run_dir, study = run.path, run.study
    a = study.analysis
    # A variant run's scope says whether anything reads its scenarios (mcsens.runner.analysis_scope).
    scenarios = bool(a.headline) and (run.manifest.get("analysis_scope") or {}).get("scenarios", True)
    # The methods run on threads beside one another, and scenario discovery (PRIM and its
    # tree) beside them, on the same open results: one after another, every phase but
    # delta's kernel sums kept one of two cores busy while the other idled (sobol, morris
    # and scenario discovery: 1.7 of the flagship's 9.5 CPU-s). numpy, sklearn's tree and
    # netCDF's decompression release the GIL. Rows and notes still come in registry order.
    # The pool is left before the results are closed, so no thread reads a closed file;
    # the warning state is restored after it: a library's catch_warnings on one thread can
    # leave another's filters in place.
    with warnings.catch_warnings(), run.open_results() as results:
        status = results["status"].values if "status" in results else None
        failed = int((status != 0).sum()) if status is not None else 0
        settings = Settings(results=results, outputs=output_names(results, study),
                            iid=np.flatnonzero(iid_rows(results)), failed=failed)
        if failed:
            settings.notes.append(f"{failed} of {results.sizes['sample']} samples failed and are dropped from "
                                  "the probabilities and moment-independent measures")
        trees = {"headline": _headline(results, a, settings)}
        rng = partial(_rng, study)
        wanted = [m for m in METHODS.values() if m.wanted(study)]  # registry order: that of the files
        jobs = {m.name: replace(settings, rows=[], notes=[]) for m in wanted}
        # A method with a design of its own opens files (its results, their stored points):
        # netCDF reads a file's metadata on opening outside xarray's lock, and that beside
        # another thread's read failed with "NetCDF: HDF error". Those run first, alone; the
        # threads then only read the open results, under xarray's lock.
        done = {m.name: _inline(m.analyze, run, jobs[m.name], rng) for m in wanted if _opens_files(m)}
        with _switch_interval(SWITCH_INTERVAL), \
                ThreadPoolExecutor(max_workers=LANES + 1, thread_name_prefix="analysis") as pool:
            found = pool.submit(_scenarios, run, results) if scenarios else None
            done |= {m.name: pool.submit(m.analyze, run, jobs[m.name], rng) for m in wanted if m.name not in done}
            for m in wanted:
                trees[m.name] = done[m.name].result()  # the first error in registry order, as before
                settings.rows.extend(jobs[m.name].rows)
                settings.notes.extend(jobs[m.name].notes)
            if found is not None:
                found.exception()  # wait for it here, while the results are open; raised below

    csv_path = run_dir / "indices.csv"
    nc_path = run_dir / "indices.nc"
    root = xr.Dataset(attrs={"run_dir": run_dir.name, "study": study.name, "notes": json.dumps(settings.notes),
                             "failed_samples": failed, "conf_level": a.conf_level,
                             "source_manifest_sha256": file_sha256(run.file("manifest.json"))})
    table = _table(settings.rows)
    write_atomic(csv_path, lambda tmp: write_csv(table, tmp, float_format="%.10g"))  # no formulas (textsafe)
    write_atomic(nc_path, lambda tmp: _write_trees(tmp, root, trees))
    if found is not None:
        from .scenario import write_scenarios

        write_scenarios(run_dir, *found.result())  # its errors after the indices are written, as before
    return nc_path, csv_path


@contextmanager
def _switch_interval(seconds: float):
    """The GIL's switch interval set to ``seconds`` inside the block, then put back."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(seconds)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def _opens_files(method) -> bool:
    """Whether ``method`` opens results files itself: one with a design of its own (Morris,
    surrogate) opens that design's results, or reads its stored points from the main one's."""
    return bool(method.design)


def _inline(fn, *args) -> Future:
    """``fn(*args)`` run here, its result or error held as a finished future's."""
    out = Future()
    try:
        out.set_result(fn(*args))
    except Exception as e:  # raised in registry order by the caller
        out.set_exception(e)
    return out


def _scenarios(run: "Run", results: xr.Dataset):
    """:func:`analysis.scenario.discover_run` with the run's defaults (scipy and sklearn load here),
    and its ``scenarios.csv`` table, made on this thread too."""
    from .scenario import discover_run, tidy

    result, tree = discover_run(run, results)
    return result, tree, tidy(result)


def _headline(results: xr.Dataset, a, settings: Settings) -> xr.Dataset:
    """The share of independent draws where each headline holds, with its interval."""
    iid = settings.iid
    rep = read_rows(results["replicate"], iid) if "replicate" in results.coords else None
    head = {}
    for h in a.headline:
        values, index, dims = iid_values(results[h], iid)
        for e, labels in enumerate(element_dicts(index, values.shape[1], dims)):
            p, half, lo, hi, how = share_holds(values[:, e] > 0.5, rep, a.conf_level)
            settings.rows.append({"method": "headline", "output": h, **labels, "param": "", "index": "P",
                                  "value": p, "conf": half, "conf_low": lo, "conf_high": hi,
                                  "estimator": "share of draws where it holds", "conf_method": how})
            head.setdefault(h, []).append((p, half))
    return xr.Dataset(
        {f"{h}__P": ("element", [v[0] for v in vals]) for h, vals in head.items()}
        | {f"{h}__P_conf": ("element", [v[1] for v in vals]) for h, vals in head.items()})


def _table(rows: list[dict]) -> pd.DataFrame:
    """``indices.csv``'s frame: the fixed columns, with the output dimensions after ``output``."""
    table = pd.DataFrame(rows)
    dim_cols = [c for c in table.columns if c not in CSV_COLUMNS]
    for c in CSV_COLUMNS:
        if c not in table:
            table[c] = None
    return table[["method", "output", *dim_cols, *CSV_COLUMNS[2:]]]


def _write_trees(path: Path, root: xr.Dataset, trees: dict) -> None:
    """``indices.nc``: the root attributes, then one group per method."""
    root.to_netcdf(path, mode="w")
    for name, ds in trees.items():
        if ds is not None:
            ds.to_netcdf(path, mode="a", group=name)


