"""A run's side runs: its ``[analysis].variants`` and ``[report] shift_runs`` re-runs.

The main run plans them (:func:`start_sides`: which to reuse, resume or start, and with
what arguments), then evaluates them while it evaluates and analyses itself, in worker
processes when there is enough work for them, else in process after its own analysis
(:class:`_SideRuns`). :func:`wait_sides` waits for them; :func:`record_sides` compares the variants with the
main run in ``<run>/variants/`` and records every side run's directory in the manifest.

Each side run is a whole :func:`mcsens.runner.run_study` of its own study file, started
with ``variant_of`` (and a shift re-run with ``model_dir``), so that resuming the main run
finds the complete ones and resumes an interrupted one. :mod:`mcsens.runner` imports this
module, so the runner's functions are imported here where they are called.
"""

from __future__ import annotations

import contextlib
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from study import store
from study.errors import RunError
from study.extends import chain_sha256
from study.spec import Study

from analysis.methods import load_study

from . import talk
from .workers import cores, main_reimportable, start_fork_server

if TYPE_CHECKING:
    from . import runner


#: Side runs (variants and shift re-runs) of fewer model runs than this in all run in process:
#: a worker process costs about a second of imports, more than such runs save.
POOL_MIN_RUNS = 50_000


@dataclass
class _Side:
    """One run beside the main one: a variant or a ``shift_runs`` re-run.

    ``done`` is a complete earlier run to reuse; otherwise ``call`` holds the keyword
    arguments of the :func:`run_study` that makes (or resumes) it.
    """

    kind: str  # "variant" or "shift"
    label: str  # what the stage line names
    done: Path | None = None
    call: dict | None = None
    runs: int = 0  # model runs it evaluates (0 when reused)
    param: str = ""
    fraction: float = 0.0


def _plan_variants(study: Study, run_dir: Path, manifest: store.Manifest, *, workers, scheduler) -> list[_Side]:
    """A :class:`_Side` per ``[analysis].variants`` file, in the study's order."""
    from .runner import _study_file, analysis_scope, designs_of

    base = _study_file(manifest["study"]).parent
    root = run_dir.parent.parent  # variants go beside this run's study folder, wherever it is
    n = min(study.analysis.variant_samples or study.sampling.samples, study.sampling.samples)
    common = dict(workers=workers, scheduler=scheduler, figures=False, appendix=False, variants=False)
    sides = []
    for k, v in enumerate(study.analysis.variants, 1):
        label = f"variant {k}/{len(study.analysis.variants)}: {v}"
        path = base / v
        vs = load_study(path)
        earlier = _earlier_variant_run(root / vs.name, run_dir, vs.sha256)
        if earlier is not None and store.Manifest.load(earlier)["status"] == "complete":
            sides.append(_Side("variant", label, done=earlier))
        elif earlier is not None:  # this run was stopped while the variant ran: finish it
            sides.append(_Side("variant", label, call=dict(path=path, resume=earlier, **common), runs=1))
        else:
            # Designs differ in what a sample size may be: keep Sobol's power of two and replicates.
            size = max(n, 2 * vs.sampling.replicates) if vs.sampling.method == "sobol" else n
            scoped = vs.replace(samples=size).scoped(analysis_scope(vs))  # what the variant run evaluates
            runs = sum(d.n_samples for d in designs_of(scoped).values())
            sides.append(_Side("variant", label, runs=runs,
                               call=dict(path=path, samples=size, out=root, variant_of=run_dir, **common)))
    return sides


def _plan_shifts(run: "runner._Session", *, workers, scheduler) -> list[_Side]:
    """One run per range move of each ``[report] shift_runs`` input, like the variants'.

    Each move's flattened study goes to ``<run>/shifts/<param>±NN.toml`` (rewritten with the
    same bytes on a resume) and runs into ``<name>-shift/`` beside this run's folder, as a
    Latin hypercube of as many independent draws as a variant run has (``2 R n`` for a Sobol
    design at ``n = variant_samples``: the A and B rows); a complete earlier run of the same
    file is reused, an unfinished one resumed. The manifest's ``shift_runs`` lists
    ``{param, fraction, run}`` for the appendix.
    """
    from study.shifts import RANGE_MOVES, shifted_text, tag

    study, root = run.study, run.run_dir.parent.parent
    folder = run.run_dir / "shifts"
    folder.mkdir(exist_ok=True)
    n = min(study.analysis.variant_samples or study.sampling.samples, study.sampling.samples)
    draws = 2 * study.sampling.replicates * n if study.sampling.method == "sobol" else n
    # As many samples per chunk as the main run's (each chunk costs a write: 16 chunks of a
    # Latin re-run cost twice its evaluation), at most the whole re-run.
    chunk = min(draws, study.sampling.chunk_rows * run.designs[study.sampling.method].block_size)
    common = dict(workers=workers, scheduler=scheduler, figures=False, appendix=False, variants=False)
    sides = []
    for param in study.report.shift_runs:
        for c in RANGE_MOVES:
            path = folder / f"{tag(param, c)}.toml"
            path.write_text(shifted_text(study, param, c, draws, chunk), encoding="utf-8")
            side = _Side("shift", f"shift re-run: {path.name}", param=param, fraction=c)
            earlier = _earlier_variant_run(root / (study.name + "-shift"), run.run_dir, chain_sha256(path))
            if earlier is not None and store.Manifest.load(earlier)["status"] == "complete":
                side.done = earlier
            elif earlier is not None:
                side.call, side.runs = dict(path=path, resume=earlier, **common), 1
            else:
                side.call, side.runs = dict(path=path, out=root, variant_of=run.run_dir, model_dir=run.study_dir,
                                            **common), draws
            sides.append(side)
    return sides


def _side_jobs(sides: list[_Side], jobs: int | None, dask: bool) -> int:
    """How many worker processes evaluate the side runs (1: in this process, in order)."""
    todo = [s for s in sides if s.call is not None]
    if jobs is not None:
        return max(1, min(jobs, len(todo)))
    if dask or len(todo) < 2 or sum(s.runs for s in todo) < POOL_MIN_RUNS or not main_reimportable():
        return 1  # a cluster evaluates them already; too little work to pay for the workers; or see below
    return max(1, min(cores(), len(todo)))


class _SideRuns:
    """The variants and shift re-runs of a run, evaluated in order or by worker processes.

    Each side run is a whole :func:`run_study` of its own, so running several at once
    changes no number: each run's design, seed and analysis are its study file's alone.
    Workers come from the fork server of :mod:`mcsens.workers` (started early by ``study
    run`` when the study file names side runs). Workers ignore Ctrl-C; the
    main process stops them with SIGTERM, which each records as ``interrupted`` (so a
    resume finishes them) before exiting.
    """

    def __init__(self, sides: list[_Side], jobs: int):
        self.sides, self.jobs = sides, jobs
        self.pool, self.futures = None, {}
        # Side run index -> the ``sealed`` record of the run made (or resumed) here, for
        # read_run(verified=...): a reused earlier run has none and is hashed when read.
        self.sealed: dict[int, dict] = {}

    def start(self) -> "_SideRuns":
        """Submit the side runs to the workers (nothing happens here with one job)."""
        if self.jobs > 1:
            self.pool = _worker_pool(self.jobs)
            talk.stage("%d variant and re-run runs in %d worker processes",
                       sum(s.call is not None for s in self.sides), self.jobs)
            for i, s in enumerate(self.sides):
                if s.call is not None:
                    self.futures[i] = self.pool.submit(_side_run, s.call)
        return self

    def finish(self) -> list[Path]:
        """Every side run's directory, in the order planned (runs them now with one job)."""
        from concurrent.futures import as_completed

        from .runner import run_study

        dirs = [s.done for s in self.sides]
        if self.pool is None:
            for i, s in enumerate(self.sides):
                talk.stage("%s", s.label)
                if s.call is not None:
                    dirs[i] = Path(run_study(**s.call))
                    self.sealed[i] = _sealed_record(dirs[i])
            return dirs
        index = {f: i for i, f in self.futures.items()}
        for f in as_completed(index):
            i = index[f]
            done, self.sealed[i] = f.result()  # a side run's error ends this run, as in order
            dirs[i] = Path(done)
            talk.stage("%s: done", self.sides[i].label)
        self.close()
        return dirs

    def close(self, stop: bool = False) -> None:
        """Shut the workers down; with ``stop``, SIGTERM the runs still going and wait for them."""
        if self.pool is None:
            return
        pool, self.pool = self.pool, None
        if stop:
            for f in self.futures.values():
                f.cancel()
            for p in list(getattr(pool, "_processes", {}).values()):
                with contextlib.suppress(OSError):
                    os.kill(p.pid, signal.SIGTERM)
        pool.shutdown(wait=True, cancel_futures=True)


def _worker_pool(jobs: int):
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(jobs, mp_context=start_fork_server(), initializer=_worker_init)


def _worker_init() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the main process, which stops us
    talk.configure(-1)  # the main process says which side run finished; workers print warnings only


def _side_run(call: dict) -> tuple[str, dict | None]:
    """A side run in a worker: its directory and the record of the results it sealed."""
    from .runner import run_study

    run_dir = run_study(**call)
    return str(run_dir), _sealed_record(run_dir)


def _sealed_record(run_dir) -> dict | None:
    """The ``sealed`` record (sha256, size, mtime of each results file) of a run that this
    process has just made, read back from its manifest as soon as the run returns.

    The main process reads the run with it as ``read_run(verified=...)``: a file whose
    size and mtime are still the sealed ones is not hashed again (the sha256 of the
    flagship's six variants, 60 MB, would be computed a second time moments after the
    seal). A run reused from an earlier ``study run`` gets no record and is hashed.
    """
    return store.Manifest.load(Path(run_dir)).data.get("sealed")


def start_sides(run: "runner._Session", variants: bool, jobs: int | None, *, workers, scheduler) -> "_SideRuns | None":
    """Plan the run's variants and shift re-runs and start them (in workers, if any)."""
    if not variants or not (run.study.analysis.variants or run.study.report.shift_runs):
        return None
    sides = []
    if run.study.analysis.variants:
        sides += _plan_variants(run.study, run.run_dir, run.manifest, workers=workers, scheduler=scheduler)
    if run.study.report.shift_runs:
        sides += _plan_shifts(run, workers=workers, scheduler=scheduler)
    dask = bool(workers or scheduler or run.client is not None)
    return _SideRuns(sides, _side_jobs(sides, jobs, dask)).start()


def wait_sides(side: "_SideRuns | None") -> list[Path]:
    """Wait for the side runs (run them now, with one job): their directories, in planned order.

    The workers are shut down when this returns, so that the main run's figure workers,
    forked next, copy no side-run pool.
    """
    return [] if side is None else side.finish()


def record_sides(run: "runner._Session", side: "_SideRuns | None", dirs: list[Path]) -> None:
    """Compare the variants with this run in ``<run>/variants/`` and record every side run."""
    if side is None:
        return
    from analysis.compare import main_compare
    from analysis.run import read_run

    variants = [(i, d) for i, (s, d) in enumerate(zip(side.sides, dirs)) if s.kind == "variant"]
    variant_dirs = [d for _, d in variants]
    if variant_dirs:
        talk.stage("%s: comparing the variants", run.study.name)
        # Each results file sealed moments ago (this run's and the variants' just run) is
        # checked by size and mtime, not hashed again; a reused variant run is hashed.
        records = [read_run(run.run_dir, verified=run.sealed),
                   *(read_run(d, verified=side.sealed.get(i)) for i, d in variants)]
        main_compare(records, run.run_dir / "variants")
        run.manifest.update(variants=[str(Path(d).resolve()) for d in variant_dirs])
    shifts = [{"param": s.param, "fraction": s.fraction, "run": str(Path(d).resolve())}
              for s, d in zip(side.sides, dirs) if s.kind == "shift"]
    if shifts:
        run.manifest.update(shift_runs=shifts)


def _earlier_variant_run(folder: Path, parent: Path, sha256: str) -> Path | None:
    """The latest run in `folder` started as a variant of `parent` from the same study file."""
    found = None
    for m in sorted(folder.glob("*/manifest.json")):
        try:
            data = store.Manifest.load(m.parent).data
        except RunError:
            continue
        if data.get("variant_of") and Path(data["variant_of"]).resolve() == parent.resolve() \
                and data.get("study", {}).get("sha256") == sha256:
            found = m.parent
    return found
