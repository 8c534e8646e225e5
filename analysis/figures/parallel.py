"""Drawing and saving many figures at once, one process per core.

Saving a figure (its layout, the PDF with its font subsets, the 300-dpi PNG) is nearly all
of a figures stage's time, and it runs on one core: matplotlib holds the interpreter lock
throughout. The figures of a run are independent of each other (each reads the run's data,
already in memory, and writes only its own two files), so :func:`save_all` draws and saves
them in worker processes forked from this one: the workers inherit the data and the figure
functions without pickling or re-reading anything, and each file is byte for byte the one
a single process writes (the figures' tests compare both ways).

Forking is used on Linux only; elsewhere (macOS, where forking a process that has used
some system frameworks is unsafe, and Windows, which cannot fork) and with one core the
figures are saved here, one after the other.
"""

from __future__ import annotations

import gc
import os
import pickle
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Sequence

from study.errors import InternalError

__all__ = ["save_all", "start_all", "Saving", "default_workers", "background_saves", "save_soon"]

# The jobs of the save_all call in progress: a forked worker finds them here, by index,
# since the closures that draw the figures cannot be pickled.
_JOBS: Sequence | None = None


def default_workers(jobs: int) -> int:
    """Worker processes for ``jobs`` figures: the cores this process may use, at most one per figure."""
    if not sys.platform.startswith("linux"):
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(cores, jobs))


def save_all(jobs: Sequence, directory: Path, save: Callable, workers: int | None = None) -> list[Path]:
    """Draw and save every job, over ``workers`` processes (default :func:`default_workers`).

    Parameters
    ----------
    jobs : sequence
        Objects with a ``name`` (the file stem) and a ``draw()`` returning a figure, e.g.
        :class:`analysis.figures.FigureSpec`.
    directory : pathlib.Path
        Folder the files go to.
    save : callable
        ``save(fig, directory, name) -> list of Path``, e.g. :func:`analysis.figures.style.save`.
    workers : int, optional
        1 saves here, in order; more fork that many worker processes (Linux only).

    Returns
    -------
    list of Path
        Each job's files, in the order of ``jobs`` whichever process wrote them.

    Raises
    ------
    Exception
        The first failing job's own exception (in the order of ``jobs``), or
        :class:`study.errors.InternalError` if a worker process died.
    """
    return start_all(jobs, directory, save, workers).wait()


def start_all(jobs: Sequence, directory: Path, save: Callable, workers: int | None = None,
              cost: Callable | None = None) -> "Saving":
    """:func:`save_all`, returning at once: the workers save while the caller goes on.

    The workers are forked here, so they see the data as it is now; what the caller
    changes afterwards is not theirs. With one worker (or off Linux) nothing is saved
    until :meth:`Saving.wait`, which then saves in this process.

    ``cost(job)``, if given, estimates a job's CPU time: the workers take the jobs most
    costly first, each the next one as it comes free, so the last to finish are small ones
    and the workers end close together (in the order given, a costly figure near the end
    may keep one worker busy while the other idles). The files and the order of the
    returned paths do not depend on it.

    Returns
    -------
    Saving
        ``wait()`` for the files (raising as :func:`save_all` does), ``cancel()`` to stop.
    """
    workers = default_workers(len(jobs)) if workers is None else min(workers, len(jobs))
    if workers <= 1 or not sys.platform.startswith("linux"):
        return Saving(jobs, directory, save)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    global _JOBS
    _JOBS = (jobs, directory, save)
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
    try:
        # A fork-context pool forks all its workers at the first submit: after that the
        # jobs are in every worker and this process may drop them.
        with _frozen_heap():
            order = _costliest_first(jobs, cost)
            submitted = {i: pool.submit(_one, i) for i in order}
    finally:
        _JOBS = None
    return Saving(jobs, directory, save, pool, [submitted[i] for i in range(len(jobs))])


def _costliest_first(jobs: Sequence, cost: Callable | None) -> list[int]:
    """Indices of ``jobs`` by decreasing ``cost(job)``, ties in their own order; as given without it."""
    if cost is None:
        return list(range(len(jobs)))
    return sorted(range(len(jobs)), key=lambda i: -cost(jobs[i]))


class Saving:
    """Figures being saved by :func:`start_all`'s workers (or, with none, to save in :meth:`wait`)."""

    def __init__(self, jobs, directory: Path, save: Callable, pool=None, futures=None):
        self.jobs, self.directory, self.save = jobs, directory, save
        self.pool, self.futures = pool, futures

    def wait(self) -> list[Path]:
        """Each job's files, in the order of the jobs, once every one is saved."""
        if self.pool is None:
            return [p for job in self.jobs for p in self.save(job.draw(), self.directory, job.name)]
        from concurrent.futures.process import BrokenProcessPool

        try:
            done = [f.result() for f in self.futures]
        except BrokenProcessPool as e:
            raise InternalError("analysis.figures.parallel", "workers",
                                f"a worker process died while saving figures to {self.directory}: {e}") from None
        finally:
            self.pool.shutdown(wait=True)
        paths = []
        for ok, got in done:
            if not ok:
                raise got
            paths += got
        return paths

    def cancel(self) -> None:
        """Stop the workers now (the caller failed): the files they were writing are incomplete."""
        if self.pool is None:
            return
        import contextlib

        for f in self.futures:
            f.cancel()
        for p in list((getattr(self.pool, "_processes", None) or {}).values()):
            with contextlib.suppress(OSError):
                p.terminate()
        self.pool.shutdown(wait=True, cancel_futures=True)


@contextmanager
def _frozen_heap():
    """Within the block, the garbage collector leaves alone the objects that exist as it starts.

    A forked worker inherits the whole heap of this process (the run's data, pandas,
    matplotlib): every full collection in the worker would walk all of it again, and
    write to each object's header as it goes, copying the pages it shares with this
    process. Frozen before the fork, they are skipped in the worker (4% of a figure's
    save, in one process); they go back to the collector here when the block ends.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _one(i: int):
    """In a worker: draw and save job ``i``; ``(True, paths)``, or ``(False, exception)``.

    An exception is returned, not raised, so that the parent raises it itself; one that
    would not survive the trip (pickling) is replaced by a :class:`RuntimeError` with its text.
    """
    jobs, directory, save = _JOBS
    try:
        return True, save(jobs[i].draw(), directory, jobs[i].name)
    except Exception as e:  # noqa: BLE001 - handed to the parent, which raises it
        try:
            pickle.loads(pickle.dumps(e))
        except Exception:  # noqa: BLE001
            e = RuntimeError(f"figure {jobs[i].name!r}: {type(e).__name__}: {e}")
        return False, e


# The worker processes of the background_saves block in progress, oldest first, with the
# file each one writes; None outside such a block.
_BACKGROUND: list | None = None


@contextmanager
def background_saves():
    """Within this block :func:`save_soon` saves each figure in a forked process while the
    caller goes on; the block ends when every one of them has finished.

    The appendix draws a few figures of its own between the sections it computes: each
    is saved on the other core while the next section is computed, instead of in turn.
    At most one process per core (:func:`default_workers`) saves at a time.

    Raises
    ------
    study.errors.InternalError
        At the end of the block, if a figure could not be saved (its traceback is on
        standard error).
    """
    global _BACKGROUND
    outer, _BACKGROUND = _BACKGROUND, [] if sys.platform.startswith("linux") else None
    try:
        yield
    finally:
        pending, _BACKGROUND = _BACKGROUND, outer
        failed = [name for proc, name in pending or () if _finished(proc) != 0]
    if failed:
        raise InternalError("analysis.figures.parallel", "background_saves",
                            f"could not save {', '.join(failed)} (see the traceback above)")


def save_soon(fig, directory: Path, name: str, save: Callable) -> list[Path]:
    """``save(fig, directory, name)``: in a forked process inside :func:`background_saves`
    (the files exist once the block ends), else here and now.

    Returns
    -------
    list of Path
        The files that are, or will be, written.
    """
    if _BACKGROUND is None or default_workers(2) < 2:
        return save(fig, directory, name)
    import multiprocessing

    while len([p for p, _ in _BACKGROUND if p.exitcode is None]) >= default_workers(2) - 1:
        next(p for p, _ in _BACKGROUND if p.exitcode is None).join()  # the oldest still saving
    directory.mkdir(parents=True, exist_ok=True)  # before the caller looks for the folder
    proc = multiprocessing.get_context("fork").Process(target=save, args=(fig, directory, name),
                                                       name=f"save {name}")
    with _frozen_heap():  # the child keeps it frozen (see _frozen_heap)
        proc.start()
    _BACKGROUND.append((proc, name))
    return [directory / f"{name}.pdf", directory / f"{name}.png"]


def _finished(proc) -> int:
    proc.join()
    return proc.exitcode
