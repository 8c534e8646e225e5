"""Chunked evaluation of a model over a design, in process or on dask.distributed.

The same task, :func:`evaluate_chunk`, runs everywhere: it builds its chunk's inputs
(Saltelli chunks are generated where they run, from the design's seeds), calls the model
once on the whole chunk and checks the result. Chunk boundaries are fixed by the study, so
a chunk's numbers do not depend on where or in which order it ran.
"""

from __future__ import annotations

import itertools
from typing import Callable, Iterable

import numpy as np
import xarray as xr

from .errors import ModelContractError, StudyError
from .adapters import SampleFailures, model_function
from .contract import call_model, check_analysis_outputs, check_result
from .sampling import Design, coded, design_inputs, to_inputs


class ChunkFailed(StudyError):
    """The model raised on a chunk; carries the chunk and the first offending sample."""


def _call(fn, x, ref, params, allow_failures, study_dir, where):
    return check_result(call_model(fn, x, ref, study_dir, where), x, ref, params, allow_nonfinite=allow_failures)


def _failed_samples(fn, x, ref, study_dir, where) -> np.ndarray:
    """Positions of samples on which the model raises, by bisection (O(k log n) calls)."""
    n = x.sizes["sample"]
    try:
        call_model(fn, x, ref, study_dir, where)
        return np.array([], dtype=int)
    except SampleFailures as e:
        return e.positions
    except ModelContractError:  # an exit or a write into the inputs is not a sample's failure
        raise
    except Exception:
        if n == 1:
            return np.array([0])
    half = n // 2
    left = _failed_samples(fn, x.isel(sample=slice(0, half)), ref, study_dir, where)
    right = _failed_samples(fn, x.isel(sample=slice(half, n)), ref, study_dir, where) + half
    return np.concatenate([left, right])


def _shown(v) -> str:
    """An input's value in a message: a number to 6 digits, a category's label as it is."""
    return repr(str(v)) if isinstance(v, str) else f"{float(v):.6g}"


def evaluate_chunk(study, design: Design, b0: int, b1: int, *, model_ref: str, study_dir: str,
                   allow_failures: bool = False, unit=None) -> xr.Dataset:
    """Evaluate blocks ``[b0, b1)`` of a design: inputs and outputs along ``sample``.

    Parameters
    ----------
    study : Study
    design : Design
    b0, b1 : int
        Block range of the chunk.
    model_ref, study_dir : str
        The model's ``module:function`` and the directory it may live in.
    allow_failures : bool
        Record samples on which the model raises or returns non-finite values as missing
        (``status = 1``) instead of failing the run.
    unit : tuple, optional
        Precomputed ``(points, coords)``; by default generated from the design.

    The model is called through :func:`study.contract.call_model` (read-only inputs, its
    printed output sent to standard error) and its result checked by
    :func:`study.contract.check_result` and :func:`study.contract.check_analysis_outputs`.

    Raises
    ------
    ChunkFailed
        If the model raises (and failures are not recorded), naming the chunk and the first
        offending sample's parameter values.
    ModelContractError
        If the model breaks the contract (also when it writes into its inputs or exits,
        whether or not failures are recorded).
    StudyError
        If a ``headline`` output is not 0/1 or the ``key_output`` has extra dimensions.
    """
    if unit is not None:
        x = to_inputs(study, *unit, design.params)
    else:  # Saltelli inputs mapped from the base matrices (study.sampling.design_inputs)
        x = design_inputs(study, design, b0, b1)
    fn = model_function(study, model_ref, study_dir)  # a command, per-sample or stochastic: study/adapters
    params = design.params
    where = f"chunk of samples {int(x['sample'].values[0])}–{int(x['sample'].values[-1])}"
    try:
        y = _call(fn, x, model_ref, params, allow_failures, study_dir, where)
        status = None
    except ModelContractError:
        raise
    except Exception as err:
        # A per-sample model names its failed samples itself: no need to bisect.
        failures = err if isinstance(err, SampleFailures) else None
        bad = failures.positions if failures else _failed_samples(fn, x, model_ref, study_dir, where)
        err = failures.error if failures else err
        first = int(x["sample"].values[bad[0]]) if bad.size else int(x["sample"].values[0])
        values = ", ".join(f"{p}={_shown(x[p].values[bad[0] if bad.size else 0])}" for p in params)
        if not allow_failures or not bad.size or bad.size == x.sizes["sample"]:
            raise ChunkFailed(f"model {model_ref!r}", where,
                              f"raised {type(err).__name__}: {err}; first failing sample {first} ({values})") from None
        ok = np.setdiff1d(np.arange(x.sizes["sample"]), bad)
        if failures is not None:  # its other samples' outputs came with the failure (NaN where it raised)
            y = check_result(failures.partial, x, model_ref, params, allow_nonfinite=True)
        else:
            part = _call(fn, x.isel(sample=ok), model_ref, params, True, study_dir, where)
            y = part.reindex(sample=x["sample"].values)  # failed samples become NaN
        status = np.zeros(x.sizes["sample"], np.int8)
        status[bad] = 1
    if allow_failures:
        if status is None:
            status = np.zeros(x.sizes["sample"], np.int8)
        for var in y.data_vars.values():
            status[~np.isfinite(var.values.reshape(len(status), -1)).all(axis=1)] = 1
        y["status"] = ("sample", status, {"role": "status", "description": "0 = evaluated, 1 = model failed"})
    check_analysis_outputs(study, y, x)
    return xr.merge([coded(study, x), y], compat="override", join="exact")


def run_chunks(study, design: Design, todo: Iterable[tuple[int, int]], on_done: Callable, *,
               model_ref: str, study_dir, allow_failures: bool = False, client=None,
               progress=None) -> None:
    """Evaluate chunks in process (``client=None``) or on a dask.distributed client.

    ``on_done(b0, dataset)`` is called in this process as each chunk completes, so results
    are written as they arrive and memory holds at most a few chunks.
    """
    kw = dict(model_ref=model_ref, study_dir=str(study_dir), allow_failures=allow_failures)
    todo = list(todo)
    if client is None:
        for b0, b1 in todo:
            on_done(b0, evaluate_chunk(study, design, b0, b1, **kw))
            if progress is not None:
                progress.update(b1 - b0)
        return
    from distributed import as_completed

    # Saltelli chunks are generated on the worker from the seeds; other designs ship slices.
    light = design.kind == "sobol"
    if not light:
        design_light = Design(design.kind, design.params, design.n_blocks, design.block_size, levels=design.levels)
    window = max(2, 2 * len(client.scheduler_info().get("workers", {})) or 2)
    pending, queue = {}, iter(todo)

    def submit(b0, b1):
        unit = None if light else design.unit(b0, b1)
        fut = client.submit(evaluate_chunk, study, design if light else design_light, b0, b1,
                            unit=unit, pure=False, **kw)
        pending[fut] = (b0, b1)
        return fut

    ac = as_completed([submit(*c) for c in itertools.islice(queue, window)])
    for fut in ac:
        b0, b1 = pending.pop(fut)
        ds = fut.result()
        on_done(b0, ds)
        if progress is not None:
            progress.update(b1 - b0)
        nxt = next(queue, None)
        if nxt is not None:
            ac.add(submit(*nxt))


def chunk_ranges(n_blocks: int, chunk: int, done=frozenset(), start: int = 0) -> list[tuple[int, int]]:
    """Block ranges ``[b0, b1)`` of ``chunk`` blocks from ``start``, skipping those already done.

    ``start`` > 0 extends a stored design (``--until-converged``) without touching its blocks.
    """
    return [(b0, min(b0 + chunk, n_blocks)) for b0 in range(start, n_blocks, chunk) if b0 not in done]


def dask_client(workers: int | None = None, scheduler: str | None = None):
    """A dask.distributed client: a LocalCluster of ``workers`` processes, or ``scheduler``."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:  # pragma: no cover - distributed is a core dependency
        raise StudyError("--workers", "", "needs dask.distributed: pip install 'dask[distributed]'") from None
    if scheduler:
        try:
            return Client(scheduler, timeout="20s")
        except OSError as e:
            raise StudyError("--scheduler", "", f"could not connect to {scheduler!r}: {e}") from None
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
    return Client(cluster)
