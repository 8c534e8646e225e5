"""One study run end to end: validate, sample, evaluate in chunks, store, analyse.

:func:`run_study` is what ``study run`` calls and what notebooks call. The run directory's
manifest says ``running`` until every requested stage has finished, ``failed`` (with the
error) if one did not, and ``interrupted`` after Ctrl-C or SIGTERM; only ``complete`` runs
are whole. Any run that is not complete can be resumed: chunks whose values in the partial
results file match the run's chunk index are kept, any other chunk is evaluated again. One
process at a time evaluates a run: it holds the run's lock (:func:`study.store.locked`)
from start to finish.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from study.errors import Interrupted, RunError, StudyError
from study.evaluate import chunk_ranges, dask_client, run_chunks
from study.memory import release_freed_memory
from study.adapters import command_files, model_function
from study.contract import check_storable, source_file
from study.extends import chain_sha256
from study.sampling import make_design
from study.sources import changed_sources, local_sources
from study.spec import Study
from study import store
from study.store import file_sha256

from analysis import METHODS
from analysis.methods import check_study, designs, load_study, ranking

from . import talk
from .examples import default_study
from .sides import record_sides, start_sides, wait_sides

DEFAULT_ROOT = Path("runs")


def analysis_scope(study: Study) -> dict:
    """What a variant run's analysis computes: only what ``study compare`` reads of it.

    :func:`analysis.compare.compare` reads a variant's headline outputs (from its results)
    and their top drivers by total-order Sobol index, or by delta where the run has no
    Sobol design. Morris screening, the other outputs' indices, delta beside Sobol and
    scenario discovery are read by nothing (the appendix reads the main run's), so a
    variant run (and a ``shift_runs`` re-run, which the appendix reads only the results of)
    skips them: ``"scenarios": False`` (PRIM and its tree took 1.5 of a re-run's 2.8 s).
    Nothing reads a variant's second-order indices either: a Sobol' variant's design leaves
    out its ``BA`` blocks (``"second_order": False``), which halves its model runs.
    """
    a = study.analysis
    # compare ranks a run's drivers by the first method on the draws it has, in registry
    # order (Sobol', then delta): that one alone, where the run's design allows it.
    usable = [m.name for m in ranking(METHODS, on_draws=True)
              if m.name in a.methods and (not m.sampling or study.sampling.method in m.sampling)]
    scope = {"methods": usable[:1], "outputs": list(a.headline), "scenarios": False,
             "reason": "a variant run: study compare reads only its headline outputs' drivers"}
    if study.sampling.method == "sobol" and study.sampling.second_order:
        # compare reads total-order indices, never S2: the design's BA blocks (d of its
        # 2d + 2 blocks, half its model runs) would be evaluated for nothing. Its A, B and
        # AB blocks are the same rows either way.
        scope["second_order"] = False
    return scope


def _progress(total: int, desc: str):
    return talk.progress(total, desc)  # a bar on a terminal or in Jupyter, never in a log


def _check_output_names(study: Study, outputs) -> None:
    names = sorted(outputs)
    a = study.analysis
    for key, wanted in (("headline", a.headline), ("outputs", a.outputs),
                        ("key_output", (a.key_output,) if a.key_output else ())):
        for w in wanted:
            if w not in outputs:
                raise StudyError(study.path, f"analysis.{key}", f"must name outputs of the model ({names}); got {w!r}")


def designs_of(study: Study) -> dict:
    """Each design a run of ``study`` evaluates, made once (``kind -> study.sampling.Design``).

    The registry says which extra designs (Morris, surrogate) the study's methods read.
    """
    return {kind: make_design(study, kind) for kind in designs(study)}


def _store_design_points(path: Path, design) -> None:
    """The Morris or surrogate points beside the values (the analysis reads them, never rebuilds them).

    Written after the file took its final name, and again on a resume that finds them
    missing (a run killed between the rename and this write).
    """
    if design.kind in ("morris", "surrogate") and not store.has_design_points(path):
        store.write_design_points(path, design)


def _evaluate(study: Study, run_dir: Path, manifest: store.Manifest, *, study_dir: Path, client,
              allow_failures: bool, designs: dict) -> None:
    completed = 0
    for i, (kind, design) in enumerate(designs.items()):
        name = store.results_name(kind, i == 0)
        have = _blocks_stored(run_dir / name)
        if have == design.n_blocks:  # finished before a resume
            _store_design_points(run_dir / name, design)
            completed += design.n_samples
            continue
        with store.ResultsStore(run_dir, kind, name, block_size=design.block_size,
                                region_blocks=study.sampling.chunk_rows, attrs=design_attrs(study, design),
                                flags=study.analysis.headline, precision=study.storage.precision) as results:
            _evaluate_design(study, design, results, have, study_dir=study_dir, client=client,
                             allow_failures=allow_failures)
        _store_design_points(run_dir / name, design)
        release_freed_memory()
        completed += design.n_samples
    manifest.update(samples={"runs_completed": completed})


def _evaluate_design(study: Study, design, results: store.ResultsStore, have: int, *, study_dir: Path, client,
                     allow_failures: bool) -> None:
    """Write every chunk of one design into its results file once, then seal it under its name.

    A stored design being extended (``--until-converged``) keeps its blocks ``[0, have)``:
    they are copied from its sealed file, the others evaluated.
    """
    kind, run_dir, chunk = design.kind, results.run_dir, study.sampling.chunk_rows
    old, grid = chunk_ranges(have, chunk), chunk_ranges(design.n_blocks, chunk, start=have)
    done = _trusted(results, old + grid)
    if old:  # the sealed file is replaced at seal, by this one with the new blocks after its own
        results.adopt(results.final, [r for r in old if r[0] not in done])
    todo = [(b0, b1) for b0, b1 in grid if b0 not in done]
    ends = dict(grid)

    # Output names were checked by the probe (a resumed run by its own first start).
    def on_done(b0, ds):
        results.write(b0, ends[b0], ds)
        talk.detail("%s %s: blocks %d-%d stored", study.name, kind, b0, ends[b0] - 1)
        release_freed_memory()

    talk.stage("%s: evaluating the %s design, %d model runs (%d left)", study.name, kind, design.n_samples,
               sum(b1 - b0 for b0, b1 in todo) * design.block_size)
    with _progress(design.n_blocks, f"{study.name} {kind}") as bar:
        bar.update(design.n_blocks - sum(b1 - b0 for b0, b1 in todo))
        run_chunks(study, design, todo, on_done, model_ref=study.model, study_dir=study_dir,
                   allow_failures=allow_failures, client=client, progress=bar)
    missing = results.missing(old + grid)
    if missing:  # never seal a design with a hole in it
        raise RunError(run_dir, "", f"must hold every chunk of the {kind} design before it is sealed; got "
                       f"{len(missing)} missing (first at block {missing[0]}). The run stays resumable: study run "
                       f"--resume {run_dir}")
    results.seal()


def _trusted(results: store.ResultsStore, ranges) -> set[int]:
    """The regions of the design's partial file that match the chunk index; says on stderr which did not."""
    good, notes = results.resume(ranges)
    for note in notes:
        print(f"warning: {note}", file=sys.stderr)
    return good


def probe(study: Study, study_dir: Path, design=None) -> None:
    """Evaluate the first block of the design before anything is written.

    A model that cannot be imported, breaks the contract on its first samples, or lacks an
    output the ``[analysis]`` table names, fails here with exit status 2 and no run
    directory is left behind.
    """
    from study.evaluate import evaluate_chunk

    design = design if design is not None else make_design(study)
    try:
        ds = evaluate_chunk(study, design, 0, 1, model_ref=study.model, study_dir=str(study_dir), allow_failures=True)
    except SystemExit as e:  # else the toolkit would end silently with the model's status
        raise _exited(study, e) from None
    _check_output_names(study, {k for k, v in ds.data_vars.items() if v.attrs.get("role") == "output"})
    check_storable(ds, study.model)


def _blocks_stored(path: Path) -> int:
    if not path.exists():
        return 0
    import xarray as xr

    with xr.open_dataset(path) as ds:
        return int(ds.attrs.get("base_rows", ds.attrs.get("trajectories", ds.sizes["sample"])))


def _converged(run_dir: Path, method: str = "sobol") -> bool:
    """Every total-order index of ``method`` (sobol or surrogate) converged within the study's tolerance."""
    import pandas as pd

    table = pd.read_csv(run_dir / "indices.csv")
    st = table[(table["method"] == method) & (table["index"] == "ST")]
    return bool(len(st)) and bool(st["converged"].fillna(True).astype(bool).all())


def design_attrs(study: Study, design) -> dict:
    import json

    a = study.analysis
    attrs = {"study": study.name, "model": study.model, "design": design.kind, "seed": study.sampling.seed,
             "samples": study.sampling.samples, "params": json.dumps(list(design.params)),
             "groups": json.dumps(design.groups or {g: list(m) for g, m in study.groups.items()}),
             "headline": json.dumps(list(a.headline)), "key_output": a.key_output,
             "analysis_outputs": json.dumps(list(a.outputs))}
    if design.kind == "sobol":
        attrs.update(replicates=design.replicates, second_order=int(design.second_order),
                     matrix_labels=json.dumps(list(design.labels)), base_rows=design.n_blocks)
    if design.kind == "morris":
        attrs.update(trajectories=design.n_blocks, levels=a.morris_levels)
    if design.kind in ("latin", "surrogate"):
        attrs.update(base_rows=design.n_blocks)
    return attrs


def _postprocess(run_dir: Path, manifest: store.Manifest, *, appendix: bool, analyze: bool = True,
                 sealed: dict | None = None, saving: "_Saving | None" = None) -> None:
    """Analysis and appendix of a run, on one record of it.

    ``saving`` is the run's figures, already being saved (:func:`_start_figures`): the
    appendix is written meanwhile and waits for them only where it needs their files.
    """
    from analysis.indices import analyze_run
    from analysis.run import read_run

    timings = {}
    # One record, passed to every stage; the results this process has just sealed (and
    # hashed) are checked by size and mtime instead of being hashed again.
    run = read_run(run_dir, verified=sealed)
    if analyze:
        talk.stage("%s: analysis", run_dir.parent.name)
        t = time.perf_counter()
        analyze_run(run)
        timings["analysis_s"] = round(time.perf_counter() - t, 3)

    def figures_ready() -> None:  # once: the appendix calls it, and it is called after the appendix
        if saving is not None and "figures_s" not in timings:
            timings["figures_s"] = saving.wait()

    try:
        if appendix:
            from dataclasses import replace

            from analysis.appendix import build_appendix, compile_pdf

            talk.stage("%s: appendix", run_dir.parent.name)
            t = time.perf_counter()
            # The figures' reading of the run serves the appendix too (1.1 CPU-s on the
            # flagship), with the record as it is now: the comparison has added to the manifest.
            data = run if saving is None else replace(saving.data, manifest=run.manifest, record=run)
            build_appendix(data, figures_ready=figures_ready)  # computed while the figures save
            _, how = compile_pdf(run)
            manifest.update(appendix_pdf=how)
            if how.startswith("xelatex failed"):
                print(f"warning: {run_dir / 'appendix'}: {how}", file=sys.stderr)
            timings["appendix_s"] = round(time.perf_counter() - t, 3)
        figures_ready()
    except BaseException:
        if saving is not None:
            saving.cancel()
        raise
    manifest.update(timings=timings)


@dataclass
class _Saving:
    """A run's figures being saved in worker processes, and when that started."""

    handle: object  # analysis.figures.parallel.Saving
    started: float
    data: object  # analysis.figures.data.RunData: the run as the figures read it

    def wait(self) -> float:
        """Seconds from the start of the figures until the last was saved."""
        self.handle.wait()
        return round(time.perf_counter() - self.started, 3)

    def cancel(self) -> None:
        self.handle.cancel()


def _start_figures(run: "_Session") -> _Saving:
    """Start saving the figures of the run in worker processes."""
    from analysis.figures import load_run, start_figures
    from analysis.run import read_run

    talk.stage("%s: figures", run.run_dir.parent.name)
    t = time.perf_counter()
    data = load_run(read_run(run.run_dir, verified=run.sealed))
    return _Saving(start_figures(data), t, data)


class _ManifestUpdates:
    """A manifest that records its updates instead of writing them (in the comparing child).

    Reads go to the manifest as it was when the child was forked.
    """

    def __init__(self, manifest: store.Manifest):
        self._manifest = manifest
        self.updates: list[dict] = []

    def update(self, **fields) -> None:
        self.updates.append(fields)

    def __getattr__(self, name):
        return getattr(self._manifest, name)

    def __getitem__(self, key):
        return self._manifest[key]


class _Comparing:
    """:func:`record_sides` being run in a forked child process; :meth:`record` waits for it.

    The child writes ``<run>/variants/`` as :func:`record_sides` does in process; what
    it would have recorded in the manifest comes back through a pipe, and this process
    records it, so only this process ever writes the manifest.
    """

    def __init__(self, process, conn):
        self.process, self.conn = process, conn

    def record(self, manifest: store.Manifest) -> None:
        """Wait for the comparison, then record in ``manifest`` what it did; raise what it raised."""
        from study.errors import InternalError

        try:
            ok, got = self.conn.recv()
        except EOFError:  # it died without a word (killed, or out of memory)
            self.process.join()
            raise InternalError("mcsens.runner", "comparison", "the process comparing the variants died with "
                                f"exit status {self.process.exitcode}") from None
        finally:
            self.conn.close()
        self.process.join()
        if not ok:
            raise got
        for fields in got:
            manifest.update(**fields)

    def cancel(self) -> None:
        """Stop the child now (this process failed); its ``variants/`` may be incomplete."""
        if self.process.is_alive():
            self.process.terminate()
            # A SIGTERM that reaches the child before it has put back the default action
            # runs the handler it inherited (or none): then it is killed.
            self.process.join(timeout=2)
            if self.process.is_alive():
                self.process.kill()
        self.process.join()
        self.conn.close()


def _start_comparison(run: "_Session", side, dirs: list[Path]) -> "_Comparing | None":
    """Start :func:`record_sides` in a forked child, or None where it should run in process.

    Worth it where there are variants to compare and a second core, on Linux (forking a
    process that has used some macOS frameworks is unsafe; Windows cannot fork). The
    modules the comparison and the figures share (matplotlib, the figures' style) are
    imported first, so the child inherits them instead of importing them again.
    """
    if side is None or not any(s.kind == "variant" for s in side.sides):
        return None
    from .workers import cores

    if not sys.platform.startswith("linux") or cores() < 2:
        return None
    import multiprocessing

    import analysis.compare  # noqa: F401 - inherited by the child
    import analysis.figures  # noqa: F401 - inherited by the child, and read next by this process

    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    # Threads do not survive a fork: the child is forked where the figure workers are
    # (after the side-run pool is shut down), with this process's threads idle.
    process = ctx.Process(target=_compare_in_child, args=(run, side, dirs, send), daemon=True,
                          name="compare variants")
    process.start()
    send.close()
    return _Comparing(process, receive)


def _compare_in_child(run: "_Session", side, dirs: list[Path], conn) -> None:
    """In the forked child: :func:`record_sides`, sending back ``(True, updates)`` or ``(False, error)``."""
    import dataclasses
    import pickle

    # The parent handles Ctrl-C and stops the child with SIGTERM (Comparing.cancel): end at
    # once then, not through the run's own handler.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    manifest = _ManifestUpdates(run.manifest)
    try:
        record_sides(dataclasses.replace(run, manifest=manifest), side, dirs)
        result = (True, manifest.updates)
    except BaseException as e:  # noqa: BLE001 - handed to the parent, which raises it
        try:
            pickle.loads(pickle.dumps(e))
        except Exception:  # noqa: BLE001 - one that would not survive the trip: its text
            e = RuntimeError(f"comparing the variants: {type(e).__name__}: {e}")
        result = (False, e)
    conn.send(result)
    conn.close()


def run_study(path=None, *, samples: int | None = None, seed: int | None = None, out=DEFAULT_ROOT,
              workers: int | None = None, scheduler: str | None = None, resume=None,
              allow_failures: bool = False, figures: bool = True, appendix: bool = True,
              until_converged: bool = False, max_samples: int | None = None, variants: bool = True,
              variant_of=None, model_dir=None, argv: list[str] | None = None, model=None,
              client=None, jobs: int | None = None) -> Path:
    """Run a study and return its run directory.

    Parameters
    ----------
    path : str, pathlib.Path or study.spec.Study, optional
        Study file (default: the flagship, ``params/asia_pacification.toml`` of the current
        folder if there is one, else the copy shipped with the package), or the study
        already loaded from it with ``samples``, ``seed`` and ``check_variants=True`` (the
        command loads it once, to fail fast). With ``resume``, optional: if given it must
        be the run's own study file, unchanged.
    samples, seed : int, optional
        Override ``[sampling].samples`` / ``[sampling].seed`` (recorded in the manifest).
    out : path
        Output root; the run goes to ``<out>/<study name>/<UTC time>-<hash>/``.
    workers : int, optional
        Evaluate on a dask.distributed LocalCluster of this many processes.
    scheduler : str, optional
        Address of an existing dask scheduler to evaluate on.
    resume : path, optional
        A run directory that is not complete: evaluate only its missing chunks.
    allow_failures : bool
        Record samples on which the model fails as missing (``status``) instead of failing.
    figures, appendix : bool
        Build figures and the appendix after the analysis.
    until_converged : bool
        Sobol designs: while some total-order interval is wider than ``[analysis].tolerance``,
        double N by extending the same scrambled sequences (only new points are evaluated).
    max_samples : int, optional
        Largest N ``until_converged`` may reach (default 16 × the initial N).
    variants : bool
        Also run the study files listed in ``[analysis].variants`` (each its own run, at
        ``variant_samples`` or this run's N if smaller) and compare them with this run in
        ``<run>/variants/`` for the appendix's structural-alternatives section. Variant runs
        are recorded beside this run's study folder; resuming this run reuses the complete
        ones and resumes an interrupted one.
    variant_of : path, optional
        The run this one is a variant of (set by the run that starts it; recorded in the
        manifest so that resuming that run finds this one).
    model_dir : path, optional
        The folder the model and its helpers are found in, if not the study file's (a
        re-run of ``[report] shift_runs`` keeps its study file in the main run's folder);
        recorded in the manifest for a resume.

    model : callable or str, optional
        The model instead of the study file's ``[study].model``: a function (one defined in
        a notebook will do) or ``module:function``. A function's run records its qualified
        name and the sha256 of its source, of its module's file and of the values it is bound
        to (:func:`mcsens.inline.describe`); with ``resume``, pass the same function again
        (``run_study(resume=run_dir, model=f)``): one that differs is refused, naming what
        changed. Without ``resume``'s ``model``, a run keeps the model it recorded.
    client : distributed.Client, optional
        Evaluate on this dask client (e.g. a dask-gateway or TLS cluster opened in the
        notebook); it is left open. Instead of ``workers`` or ``scheduler``.
    jobs : int, optional
        Worker processes that evaluate the variants and shift re-runs while this run is
        evaluated and analysed (each is its own run: the numbers do not depend on it); 1
        runs them here, one after the other, after this run's analysis. Default: one per
        core when they hold at least :data:`POOL_MIN_RUNS` model runs in all and nothing
        runs on dask, else 1.

    Returns
    -------
    RunPath
        The run directory: a :class:`pathlib.Path` whose notebook repr summarizes the run.

    Examples
    --------
    >>> run_dir = run_study("params/ishigami.toml", samples=256)  # doctest: +SKIP
    >>> open_run(run_dir).y.mean()                                # doctest: +SKIP
    """
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        outermost = stack.enter_context(talk.shown())  # stage lines in a notebook too
        stack.enter_context(_sigterm_interrupts())
        if resume is not None:
            run = _resume(stack, Path(resume), path, workers=workers, scheduler=scheduler, client=client,
                          model=model)
        else:
            study = check_study(path) if isinstance(path, Study) else load_study(
                path if path is not None else default_study(), samples=samples, seed=seed, check_variants=variants)
            run = _start(stack, study, out=out, workers=workers, scheduler=scheduler,
                         record={"overrides": {"samples": samples, "seed": seed}, "allow_failures": allow_failures,
                                 "variant_of": str(Path(variant_of).resolve()) if variant_of is not None else None,
                                 "model_dir": str(Path(model_dir).resolve()) if model_dir is not None else None,
                                 "argv": argv or store.argv()}, model=model, given=client)
        allow = allow_failures or run.manifest.data.get("allow_failures", False)
        side = saving = comparing = None
        try:
            if not until_converged:  # side runs do not depend on the main one's N: start them now
                side = start_sides(run, variants, jobs, workers=workers, scheduler=scheduler)
            _evaluate_stage(run, allow_failures=allow)
            if until_converged:
                _converge(run, max_samples or 16 * run.study.sampling.samples, allow_failures=allow)
                side = start_sides(run, variants, jobs, workers=workers, scheduler=scheduler)
            dirs = wait_sides(side)
            # The variants are compared in a child process while this one reads the run for
            # the figures (each about a second of one core), if there are figures to read it for.
            comparing = _start_comparison(run, side, dirs) if figures else None
            # The figures read only this run's results and indices, both whole now: their
            # workers save them while this process writes the appendix (forked after the
            # side-run pool is shut down, so they copy none of it).
            saving = _start_figures(run) if figures else None
            if comparing is None:
                record_sides(run, side, dirs)
            else:
                comparing.record(run.manifest)
            _finish(run, started, saving=saving, appendix=appendix)
        except BaseException as e:
            if side is not None:
                side.close(stop=True)
            if comparing is not None:
                comparing.cancel()
            if saving is not None:
                saving.cancel()
            replacement = _failed(run, e)
            if replacement is e:
                raise
            raise replacement from None
        run.manifest.update(timings={"with_outputs_s": round(time.perf_counter() - started, 3)})
        if outermost:  # a variant's or re-run's summary would bury the run's own
            talk.summary(run.run_dir)
    from .summary import RunPath

    return RunPath(run.run_dir)


def _with_model(study: Study, model, client) -> tuple[Study, str | None]:
    """The study with ``run_study``'s ``model`` in place of its file's, and a function's hash."""
    import dataclasses

    if model is None:
        return study, None
    if isinstance(model, str):
        return dataclasses.replace(study, model=model), None
    from . import inline

    ref, digest = inline.register(model, client)
    return dataclasses.replace(study, model=ref), digest


def _function_record(model, inline_sha: str | None) -> dict:
    """The manifest's record of a model function (``model.function``), that a resume checks."""
    from . import inline

    return {"function": inline.describe(model)} if inline_sha is not None else {}


def _resume_model(manifest: store.Manifest, model) -> tuple[str, object] | None:
    """Check ``run_study(resume=..., model=...)`` against the model the run recorded.

    A run of a function needs that function again, unchanged; it is installed under the
    run's own reference and returned as ``(key, function)`` for the workers. A run of a
    model in a file keeps it (``model``, if given, must name it).
    """
    from . import inline

    run_dir, recorded = manifest.path.parent, manifest.data.get("model", {})
    ref = str(recorded.get("ref", ""))
    if not ref.startswith(inline.PREFIX):
        if model is not None and model != ref:
            raise RunError(run_dir, "model", f"must be left out or be this run's own model {ref!r} to resume it; "
                           f"got {model!r}")
        return None
    function = recorded.get("function")
    if function is None:
        raise RunError(run_dir, "", "must be a run whose model function was recorded to be resumed; got a run of a "
                       "function from before functions were recorded: start a new run")
    name = function["qualname"].rsplit(".", 1)[-1]
    if model is None:
        raise RunError(run_dir, "model", f"must be the function the run was started with ({function['qualname']}), "
                       f"to resume a run of a function: run_study(resume={str(run_dir)!r}, model={name}) from "
                       "Python (the command line cannot pass a function); got none")
    if not callable(model):
        raise RunError(run_dir, "model", f"must be the function the run was started with ({function['qualname']}); "
                       f"got {model!r}")
    what = inline.changed(function, model)
    if what is not None:
        raise RunError(run_dir, "model", f"must be the function the run was started with ({function['qualname']}), "
                       f"unchanged; {what}: resuming would mix two models' outputs, start a new run instead")
    key = ref[len(inline.PREFIX):]
    inline.install(key, model)
    return key, model


def _recorded_model(study: Study, recorded: dict) -> Study:
    """The study with the model its run evaluated (``model=`` may have replaced the file's)."""
    import dataclasses

    ref = recorded.get("ref")
    return dataclasses.replace(study, model=ref) if ref and ref != study.model else study


@dataclass
class _Session:
    """What the stages of one :func:`run_study` call share: the study (its N grows while
    converging), the run directory, its manifest, the study's folder and the dask client."""

    study: Study
    run_dir: Path
    study_dir: Path
    manifest: store.Manifest
    client: object
    designs: dict | None = None  # kind -> Design of the current N, made once (designs_of)
    sealed: dict | None = None  # what store.seal returned in this process: not hashed again


def _start(stack: contextlib.ExitStack, study: Study, *, out, workers, scheduler, record: dict, model=None,
           given=None) -> _Session:
    """Probe the model, then create the run directory, lock it and write its first manifest.

    Every check that needs no run directory (the model's first samples, the scheduler)
    comes first: a failure there leaves no run behind.
    """
    path = Path(study.path)
    study_dir = Path(record["model_dir"]) if record.get("model_dir") else path.resolve().parent
    study, inline_sha = _with_model(study, model, given)
    scope = analysis_scope(study) if record["variant_of"] is not None else None
    # What this run evaluates: a variant's scope leaves out the Morris design, never the main one.
    designs = designs_of(study.scoped(scope))
    probe(study, study_dir, designs[study.sampling.method])
    study = study.scoped(scope)
    sources = local_sources(study_dir, command_files(study, study_dir))  # the probe loaded the model
    # Connect before the run directory exists: an unreachable scheduler leaves none.
    client = stack.enter_context(_cluster(workers, scheduler, given))
    if inline_sha is not None and client is not None:  # the workers need the function too
        _with_model(study, model, client)
    requested = sum(d.n_samples for d in designs.values())
    run_dir = store.new_run_dir(out, study)
    stack.enter_context(store.locked(run_dir))
    store.reserve_space(run_dir)
    stack.callback(store.release_reserve, run_dir)  # after the manifest's last word
    (run_dir / "study.toml").write_bytes(study.text.encode("utf-8"))  # flattened if it extends another
    model_file = (None if inline_sha is not None or study.model_options.command
                  else source_file(study.model, study_dir))
    d = study.sampling
    manifest = store.Manifest(run_dir, {
        "status": "running", "argv": record["argv"], "seed": d.seed,
        # "file" as given, for the record; "path" absolute, so a resume works from any folder.
        "study": {"name": study.name, "file": str(path), "path": str(path.resolve()), "sha256": study.sha256},
        "model": {"ref": study.model, "file": str(model_file) if model_file else None,
                  "sha256": file_sha256(model_file) if model_file else inline_sha, "sources": sources,
                  **_function_record(model, inline_sha)},
        "samples": {"N": d.samples, "replicates": d.replicates, "second_order": d.second_order,
                    "method": d.method, "chunk_rows": d.chunk_rows, "runs_requested": requested,
                    "runs_completed": 0, "runs_failed": 0},
        "storage": store.storage_attrs(study.storage.precision),
        "overrides": record["overrides"], "allow_failures": record["allow_failures"],
        "variant_of": record["variant_of"], "analysis_scope": scope,
        **({"model_dir": record["model_dir"]} if record.get("model_dir") else {}),
        "versions": store.versions(), "git_commit": store.git_commit(), "host": store.host(),
        "timings": {"started": store.utc_now()}, "error": None,
    })
    manifest.update()
    return _Session(study, run_dir, study_dir, manifest, client, designs)


def _resume(stack: contextlib.ExitStack, run_dir: Path, path, *, workers, scheduler, client=None,
            model=None) -> _Session:
    """Lock a run that is not complete, check it may be resumed, and mark it running."""
    function = _resume_model(store.Manifest.load(run_dir), model)  # a run directory, before a lock file is put into it
    stack.enter_context(store.locked(run_dir))
    client = stack.enter_context(_cluster(workers, scheduler, client))  # before the manifest says "running"
    if function is not None and client is not None:  # the workers need the function too
        from . import inline

        client.run(inline.install, *function)
    run_dir, study, study_dir, manifest = _prepare_resume(run_dir, path)
    stack.callback(store.release_reserve, run_dir)
    return _Session(study, run_dir, study_dir, manifest, client, designs_of(study))


def _evaluate_stage(run: _Session, *, allow_failures: bool) -> None:
    """Evaluate the chunks the run is missing, seal the results and compute the indices."""
    t = time.perf_counter()
    _evaluate(run.study, run.run_dir, run.manifest, study_dir=run.study_dir, client=run.client,
              allow_failures=allow_failures, designs=run.designs)
    run.manifest.update(timings={"evaluation_s": round(time.perf_counter() - t, 3)})
    _count_failures(run.run_dir, run.manifest)
    run.sealed = store.seal(run.run_dir)
    run.manifest.update(sealed=run.sealed)
    _postprocess(run.run_dir, run.manifest, appendix=False, sealed=run.sealed)


def _converge(run: _Session, limit: int, *, allow_failures: bool) -> None:
    """Sobol designs: double N (extending the same sequences) until every ST interval is narrow."""
    method = run.study.sampling.method
    while method in ("sobol", "surrogate") and not _converged(run.run_dir, method):
        if 2 * run.study.sampling.samples > limit:
            run.manifest.update(convergence={"converged": False, "reason": f"budget: N would exceed {limit}"})
            talk.warn("--until-converged stopped at N = %d without converging: doubling N would exceed "
                      "the budget of %d (--max-samples)", run.study.sampling.samples, limit)
            break
        talk.stage("%s: not converged at N = %d; doubling N", run.study.name, run.study.sampling.samples)
        run.study = run.study.replace(samples=2 * run.study.sampling.samples)
        run.designs = designs_of(run.study)
        runs = sum(d.n_samples for d in run.designs.values())
        run.manifest.update(overrides={"samples": run.study.sampling.samples},
                            samples={"N": run.study.sampling.samples, "runs_requested": runs})
        _evaluate(run.study, run.run_dir, run.manifest, study_dir=run.study_dir, client=run.client,
                  allow_failures=allow_failures, designs=run.designs)
        _count_failures(run.run_dir, run.manifest)  # of the grown design, not the first N's
        run.sealed = store.seal(run.run_dir)
        run.manifest.update(sealed=run.sealed)
        _postprocess(run.run_dir, run.manifest, appendix=False, sealed=run.sealed)
    ok = _converged(run.run_dir, method)
    run.manifest.update(convergence={"converged": ok, "N": run.study.sampling.samples})
    if ok:
        talk.stage("--until-converged stopped at N = %d: every total-order interval is within "
                   "the tolerance", run.study.sampling.samples)
    elif method not in ("sobol", "surrogate"):
        talk.warn("--until-converged did nothing: it extends Sobol and surrogate designs only (this is %s)",
                  run.study.sampling.method)


def _finish(run: _Session, started: float, *, saving: "_Saving | None", appendix: bool) -> None:
    """Mark the run complete, then finish its figures (being saved) and write its appendix."""
    # Results and indices are whole: record it, so the appendix's run record can say so.
    # Figures and the appendix are rebuildable presentation; if they fail, the run is failed.
    run.manifest.update(status="complete", timings={"finished": store.utc_now(),
                                                    "wall_s": round(time.perf_counter() - started, 3)})
    if saving is not None or appendix:  # else the run's record would be read for nothing (a side run: neither)
        _postprocess(run.run_dir, run.manifest, appendix=appendix, analyze=False, sealed=run.sealed,
                     saving=saving)


def _failed(run: _Session, e: BaseException) -> BaseException:
    """Record in the manifest why the run stopped; the exception to raise in its place."""
    if isinstance(e, KeyboardInterrupt):
        how = "terminated (SIGTERM)" if isinstance(e, _Terminated) else "interrupted by the user (Ctrl-C)"
        run.manifest.update(status="interrupted", error=how)
        return Interrupted(run.run_dir)
    if isinstance(e, SystemExit):
        # Nothing in the toolkit exits during a run: the model did. Make it a user error.
        err = _exited(run.study, e, f". The run is failed and stays resumable: study run --resume {run.run_dir}")
        run.manifest.update(status="failed", error=str(err))
        return err
    run.manifest.update(status="failed", error=str(e) if isinstance(e, StudyError) else f"{type(e).__name__}: {e}")
    return e


def _exited(study: Study, err: SystemExit, then: str = "") -> RunError:
    return RunError(f"model {study.model!r}", "", f"must return its outputs, not exit; got sys.exit({err.code!r})"
                    + then)


class _Terminated(KeyboardInterrupt):
    """SIGTERM (a batch system's wall time, ``kill``): handled exactly like Ctrl-C."""


@contextlib.contextmanager
def _sigterm_interrupts():
    """Turn SIGTERM into :class:`_Terminated` while a run is evaluated, then restore the handler.

    Without it SIGTERM kills the process where it stands and the manifest keeps saying
    ``running``. Signal handlers can only be set from the main thread; elsewhere (a run
    started from a worker thread) the process's own handling applies.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    fired = []

    def handler(signum, frame):
        # A second SIGTERM (a batch system repeating it) must not cut short the recording
        # of the first: the run would end with status 143 and the manifest saying "running".
        if not fired:
            fired.append(signum)
            raise _Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _cluster(workers: int | None, scheduler: str | None, given=None):
    """A dask client for the run's evaluation (None in process), closed afterwards.

    A LocalCluster started for ``--workers`` is shut down; an existing ``--scheduler``'s
    cluster is left running; a client the caller passed in is used and left open.
    """
    if given is not None:
        if workers or scheduler:
            raise StudyError("run_study", "client", "must be given instead of workers or scheduler, not with "
                             f"them; got client and workers={workers!r}, scheduler={scheduler!r}")
        yield given
        return
    if not (workers or scheduler):
        yield None
        return
    client = dask_client(workers, scheduler)
    try:
        yield client
    finally:
        cluster = getattr(client, "cluster", None)
        client.close()
        if cluster is not None and not scheduler:
            cluster.close()


def _count_failures(run_dir: Path, manifest: store.Manifest) -> None:
    """Record in the manifest how many samples of the run's results failed (``status`` not 0).

    Only a run that allowed failures has a ``status`` variable; netCDF4 says whether a file
    has one without xarray decoding its every variable (0.07 s of a 1.2 s shift re-run).
    """
    import netCDF4
    import xarray as xr

    failed = 0
    for f in sorted(run_dir.glob("results*.nc")):
        with netCDF4.Dataset(f) as nc:
            if "status" not in nc.variables:
                continue
        with xr.open_dataset(f) as ds:
            failed += int((ds["status"] != 0).sum())
    manifest.update(samples={"runs_failed": failed})


def _study_file(recorded: dict) -> Path:
    """The study file a run was started from: absolute since runs record ``path``."""
    return Path(recorded.get("path") or recorded["file"])


def _prepare_resume(run_dir: Path, path):
    """Check that a run may be resumed (the caller holds its lock) and mark it running.

    Every refusal happens here, before any work: a complete run, a changed study file,
    model file or helper module beside the study.
    """
    manifest = store.Manifest.load(run_dir)
    for key in ("status", "study", "model", "samples"):
        if key not in manifest.data:
            raise RunError(manifest.path, key, "missing key; this manifest was not written by study run, so the "
                           "run cannot be resumed")
    status = manifest["status"]
    if status == "complete":
        raise RunError(run_dir, "", "is already complete; nothing to resume (start a new run instead)")
    recorded = manifest["study"]
    copy = run_dir / "study.toml"
    if path is not None:
        current = chain_sha256(path) if Path(path).exists() else None
        if current != recorded["sha256"]:
            raise RunError(path, "", f"differs from the study file this run was started with (sha256 "
                           f"{recorded['sha256'][:12]}…, now {str(current)[:12]}…); resuming would mix two "
                           "studies in one run: start a new run instead")
    original = _study_file(recorded)
    study_dir = original.resolve().parent if original.exists() else run_dir
    if manifest.data.get("model_dir"):  # a shift run: its model lives beside the main study
        study_dir = Path(manifest["model_dir"])
    if original.exists() and chain_sha256(original) != recorded["sha256"]:
        raise RunError(original, "", f"has changed since the run started (sha256 {recorded['sha256'][:12]}…); "
                       "resuming would mix two studies in one run: start a new run instead")
    over = manifest.data.get("overrides", {})
    study = load_study(copy, samples=over.get("samples"), seed=over.get("seed"))
    study = study.scoped(manifest.data.get("analysis_scope"))
    study = _recorded_model(study, manifest["model"])
    model = manifest["model"]
    if model.get("file"):
        mf = Path(model["file"])
        now = file_sha256(mf) if mf.exists() else None
        if now != model["sha256"]:
            raise RunError(mf, "", f"the model's source changed since the run started (sha256 "
                           f"{model['sha256'][:12]}…, now {str(now)[:12]}…); resuming would mix two models' "
                           "outputs: start a new run instead")
    _check_sources(study, study_dir, model.get("sources"))
    store.remove_temporaries(run_dir)  # ours alone: the lock is held
    store.reserve_space(run_dir)
    manifest.update(status="running", error=None, resumed=manifest.data.get("resumed", []) + [store.utc_now()])
    return run_dir, study, study_dir, manifest


def _check_sources(study: Study, study_dir: Path, recorded: dict | None) -> None:
    """Refuse a resume if a Python file the model loaded from beside the study changed."""
    if recorded is None:  # a run started before sources were recorded
        return
    model_function(study, study.model, study_dir)  # loads a Python model's modules again
    change = changed_sources(recorded, local_sources(study_dir, command_files(study, study_dir)), study_dir)
    if change is not None:
        rel, what = change
        raise RunError(study_dir / rel, "", f"a source file of the model {what}; resuming would mix two models' "
                       "outputs: start a new run instead")
