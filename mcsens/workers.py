"""The side runs' worker processes: a fork server that imports the toolkit once.

Side runs (variants and shift re-runs, :mod:`mcsens.sides`) are evaluated by workers
forked from a ``forkserver``: a fresh interpreter that imports the toolkit (:data:`PRELOAD`)
once, with one BLAS and OpenMP thread, and forks a worker per slot. Forking the main
process instead could copy a BLAS thread pool mid-lock and hang.

The server's imports take about 1.5 s of one core. :func:`start_early` starts it before
the command line's own imports when the study file will have side runs, so that both
processes import at the same time, on two cores, instead of the main process waiting
for the server at its first side run. This module imports only the standard library (it
runs before anything else is loaded).
"""

from __future__ import annotations

import os
import re
import sys
import tomllib
from pathlib import Path

__all__ = ["PRELOAD", "THREAD_VARS", "cores", "main_reimportable", "start_fork_server", "start_early"]

#: What the fork server imports once for all its workers: the toolkit, and what every side
#: run imports besides (netCDF4; dask.distributed, which xarray's ``to_netcdf`` imports to
#: look for a distributed scheduler: 0.7 s of CPU in each worker otherwise; dask.array, which
#: xarray imports at the first Variable a process builds: 0.24 s; h5py and ISA-L, which the
#: store's direct chunk writes import at the first region: 0.09 s), then
#: :mod:`mcsens.frozen_heap`, which freezes what they made (the server's exit took 0.6 s
#: of collections after the run had ended).
PRELOAD = ["mcsens.runner", "analysis.indices", "analysis.sobol", "analysis.convergence", "study.evaluate",
           "netCDF4", "dask.distributed", "dask.array", "h5py", "isal.isal_zlib", "mcsens.frozen_heap"]

#: Set to one thread in the fork server's environment: its workers already share the cores.
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def main_reimportable() -> bool:
    """Whether a worker process may import this program's main module (multiprocessing does).

    The ``study`` command, ``python -m``, a notebook and a script that guards its work with
    ``if __name__ == "__main__":`` may; an unguarded script would run again in each worker,
    so there the side runs stay in process unless ``jobs`` is given.
    """
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name.endswith("__main__"):  # python -m PKG: multiprocessing skips it
        return True
    path = getattr(main, "__file__", None)
    if path is None:  # interactive or a notebook: nothing to import
        return True
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return re.search(r"""__name__\s*==\s*['"]__main__['"]""", text) is not None


def start_fork_server():
    """The ``forkserver`` context the side runs' workers come from, its server running.

    Starting it twice is harmless: the running server is kept (multiprocessing has one per
    process).

    Returns
    -------
    multiprocessing.context.ForkServerContext
    """
    import multiprocessing
    from multiprocessing import forkserver

    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    # The server and its workers inherit the environment as it is when it starts.
    saved = {k: os.environ.get(k) for k in THREAD_VARS}
    os.environ.update({k: "1" for k in THREAD_VARS})
    try:
        forkserver.ensure_running()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return ctx


def names_side_runs(path: Path) -> bool:
    """Whether the study file (with what it extends) names two or more side runs.

    A peek, not validation: any file the loader would refuse answers False (the loader
    then reports it). Each ``[report] shift_runs`` input is re-run twice (its range moved
    both ways).

    Examples
    --------
    >>> names_side_runs(Path("no-such-file.toml"))
    False
    """
    from study.extends import flatten  # the standard library and study.errors only

    try:
        raw = path.read_bytes()
        doc, _, _ = flatten(path, tomllib.loads(raw.decode("utf-8")), raw)
        variants = doc.get("analysis", {}).get("variants", [])
        shifts = doc.get("report", {}).get("shift_runs", [])
        return len(variants) + 2 * len(shifts) >= 2
    except Exception:  # noqa: BLE001 - a peek: the loader reports what is wrong with the file
        return False


def start_early(path: Path) -> bool:
    """Start the fork server now if a run of ``path`` will have side runs in workers.

    Called by ``study run`` before its heavy imports. Whether the side runs really go to
    workers is decided later (:func:`mcsens.sides.start_sides`, from the planned model
    runs); a server started for nothing costs one core about a second and exits with this
    process.

    Returns
    -------
    bool
        Whether the server was started.
    """
    if not sys.platform.startswith("linux") or cores() < 2 or not main_reimportable():
        return False
    if not names_side_runs(path):
        return False
    start_fork_server()
    return True
