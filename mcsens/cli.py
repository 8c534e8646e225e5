"""The ``study`` command line: a thin layer over :mod:`mcsens.runner` and :mod:`analysis`.

Exit status: 0 success, 2 user error (one line on standard error, no traceback),
1 unexpected failure, 130 interrupted (the run stays resumable).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import threading
from pathlib import Path
from typing import Sequence

from study.errors import StudyError


class _Parser(argparse.ArgumentParser):
    # argparse exits with status 2 already; keep its message to one line.
    def error(self, message):
        self.exit(2, f"error: {self.prog}: {message}\n")


def _integer(minimum: int, what: str):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"must be {what}; got {text!r}")
        return value

    return parse


_positive_int = _integer(1, "a positive integer")
_seed = _integer(0, "a non-negative integer")


def _output_root(text: str) -> Path:
    """``--out``: a folder that exists or can be created, checked before any work is done."""
    path = Path(text)
    # exists() is False for a link in a loop or to nothing: mkdir would then fail with a traceback.
    broken = next((p for p in (path, *path.parents) if p.is_symlink() and not p.exists()), None)
    if broken is not None:
        raise argparse.ArgumentTypeError(f"must be a folder; got {text!r}, where {str(broken)!r} is a symbolic "
                                         "link that leads nowhere (a loop or a missing target)")
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"must be a folder; got {text!r}, which is a file")
    existing = next(p for p in (path, *path.parents) if p.exists() or p == Path(p.anchor or "."))
    if not existing.is_dir():
        raise argparse.ArgumentTypeError(f"must be a folder; got {text!r}, inside {str(existing)!r}, "
                                         "which is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"must be a folder this user can write to; got {text!r} "
                                         f"({str(existing)!r} is not writable)")
    return path


_HOST = r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*" \
        r"|\[[0-9A-Fa-f:.]+\])"
#: What distributed's Client accepts: ``tcp://``, ``tls://``, ``ws://``, ``wss://``, ``ucx://``
#: host:port, a bare host:port (tcp), or an in-process ``inproc://`` address.
_SCHEDULER = re.compile(rf"(?:(?:tcp|tls|ws|wss|ucx)://)?{_HOST}:(?P<port>[0-9]{{1,5}})|inproc://\S+")


def _scheduler(text: str) -> str:
    """``--scheduler``: the address's form only; reaching it is the runner's first step."""
    m = _SCHEDULER.fullmatch(text)
    if m is None or (m.group("port") is not None and not 0 < int(m.group("port")) < 65536):
        raise argparse.ArgumentTypeError(f"must be a dask scheduler address (tcp://host:port, tls://host:port, "
                                         f"host:port or inproc://…); got {text!r}")
    return text


def _run_dir(text: str) -> Path:
    path = Path(text)
    if not (path / "manifest.json").is_file():
        raise argparse.ArgumentTypeError(f"{text}: is not a run directory (no manifest.json)")
    return path


def _study_file(text: str) -> Path:
    from .examples import find_study

    return find_study(text)


def _verbosity(parser: argparse.ArgumentParser) -> None:
    talk = parser.add_mutually_exclusive_group()
    talk.add_argument("-q", "--quiet", dest="verbosity", action="store_const", const=-1, default=0,
                      help="warnings and errors only: no stage lines, no summary, no progress bar")
    talk.add_argument("-v", "--verbose", dest="verbosity", action="store_const", const=1,
                      help="also per-chunk detail (default: stage lines and the closing summary)")


def build_parser() -> argparse.ArgumentParser:
    """The ``study`` command's parser: one sub-command per job, help on every argument."""
    from study import __version__

    from .examples import FLAGSHIP

    parser = _Parser(prog="study", description="Monte Carlo sensitivity studies from TOML study files.",
                     epilog="Run 'study COMMAND --help' for a command's options.")
    parser.add_argument("--version", action="version", version=f"study (mcsens) {__version__}",
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def command(name, helptext, func, **kw):
        p = sub.add_parser(name, help=helptext, description=helptext, **kw)
        _verbosity(p)
        p.set_defaults(func=func)
        return p

    run = command("run", "sample, evaluate, analyse; prints the run directory last", _cmd_run)
    run.add_argument("study_file", nargs="?", type=_study_file,
                     help=f"study file, or the name of a shipped example (default: the flagship, "
                          f"params/{FLAGSHIP}.toml here if present, else the shipped copy)")
    run.add_argument("--samples", type=_positive_int, metavar="N",
                     help="base sample size N (default: [sampling].samples of the study file)")
    run.add_argument("--seed", type=_seed, metavar="S", help="seed (default: [sampling].seed of the study file)")
    run.add_argument("--out", type=_output_root, default=Path("runs"), metavar="DIR",
                     help="output root (default: runs)")
    where = run.add_mutually_exclusive_group()
    where.add_argument("--workers", type=_positive_int, metavar="K",
                       help="evaluate on a local dask cluster of K processes (default: in this process)")
    where.add_argument("--scheduler", type=_scheduler, metavar="ADDRESS",
                       help="evaluate on an existing dask scheduler (tcp://host:port, host:port, tls://…)")
    run.add_argument("--resume", type=_run_dir, metavar="RUN_DIR", help="finish an interrupted or failed run")
    run.add_argument("--allow-failures", action="store_true",
                     help="record samples on which the model fails as missing instead of failing the run")
    run.add_argument("--until-converged", action="store_true",
                     help="double N (extending the same design) until every total-order interval is "
                          "narrower than [analysis].tolerance")
    run.add_argument("--max-samples", type=_positive_int, metavar="N",
                     help="budget for --until-converged: the largest N (default: 16 × the file's N)")
    run.add_argument("--no-figures", action="store_true", help="skip figures (rebuild later: study figures)")
    run.add_argument("--no-appendix", action="store_true", help="skip the appendix (rebuild later: study appendix)")
    run.add_argument("--no-variants", action="store_true",
                     help="do not run the study's [analysis].variants (default: run and compare them)")

    val = command("validate", "check a study file and that its model imports and runs on a first block",
                  _cmd_validate)
    val.add_argument("study_file", nargs="?", type=_study_file,
                     help="study file or shipped example name (default: the flagship)")

    for name, helptext in (("analyze", "recompute indices.nc and indices.csv"),
                           ("figures", "rebuild figures/ from saved data"),
                           ("appendix", "rebuild appendix/ from saved data")):
        p = command(name, helptext, _cmd_rebuild)
        p.add_argument("run_dir", type=_run_dir, help="a run directory (holds manifest.json)")
        p.set_defaults(stage=name)

    cmp_ = command("compare", "variants side by side: table and figure", _cmd_compare)
    cmp_.add_argument("run_dirs", nargs="+", type=_run_dir,
                      help="run directories; the first is the main run")
    cmp_.add_argument("--out", type=_output_root, metavar="DIR",
                      help="output folder (default: <first RUN_DIR>/variants, where that run's appendix finds it)")

    rw = command("reweight", "headline results under shifted input distributions, "
                             "by importance reweighting of a run's draws", _cmd_reweight)
    rw.add_argument("run_dir", type=_run_dir, help="a complete run directory")
    rw.add_argument("--shift", action="append", default=[], metavar="NAME=KEY:VALUE[,KEY:VALUE]",
                    help="a changed distribution argument, e.g. x2=mode:0.5 (repeat for other inputs; "
                         "default: none, the run's own distributions)")
    rw.add_argument("--break-even", action="store_true",
                    help="also search the smallest centre shift of each leading input that reverses a headline")

    init = command("init", "write a commented study file NAME.toml and its model NAME_model.py", _cmd_init)
    init.add_argument("name", metavar="NAME", help="study name (letters, digits, '_'); also names the files")
    init.add_argument("--dir", type=Path, default=Path("."), metavar="DIR",
                      help="folder to write into (default: the current folder)")

    ls = command("list", "runs with their status, N and first headline", _cmd_list)
    ls.add_argument("runs", nargs="?", type=Path, default=Path("runs"), metavar="RUNS",
                    help="a folder of runs, a study's folder or one run directory (default: runs)")

    ex = command("export", "a run's independent draws as one table with labels (CSV or Parquet)", _cmd_export)
    ex.add_argument("run_dir", type=_run_dir, help="a run directory with results.nc")
    ex.add_argument("--format", choices=("csv", "parquet"), default="csv",
                    help="csv (with a NAME.variables.csv codebook) or parquet (needs pyarrow) (default: csv)")
    ex.add_argument("--out", type=Path, metavar="FILE",
                    help="file to write (default: <RUN_DIR>/draws.csv or draws.parquet)")
    return parser


def _cmd_run(args) -> int:
    from .examples import default_study

    study = args.study_file
    if args.resume is None and not (args.no_variants or args.workers or args.scheduler or args.until_converged):
        from .workers import start_early

        # Side runs' workers come from a fork server whose imports take a core 1.5-2.6 s:
        # started now, before this process imports anything heavy (analysis.methods alone
        # is 1.2 s: numpy, xarray, the methods), it imports while this process does.
        start_early(args.study_file or default_study())
    from analysis.methods import load_study

    if args.resume is None:  # loaded once, before the heavy imports: a bad file fails fast
        study = load_study(args.study_file or default_study(), samples=args.samples, seed=args.seed,
                           check_variants=not args.no_variants)
    from .runner import run_study

    if args.resume is not None and (args.samples or args.seed is not None):
        raise StudyError("--resume", "", "cannot be combined with --samples or --seed (a resumed run keeps its own)")
    try:
        run_dir = run_study(study, samples=args.samples, seed=args.seed, out=args.out,
                            workers=args.workers, scheduler=args.scheduler, resume=args.resume,
                            allow_failures=args.allow_failures, figures=not args.no_figures,
                            until_converged=args.until_converged, max_samples=args.max_samples,
                            appendix=not args.no_appendix, variants=not args.no_variants)
    except KeyboardInterrupt as e:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the run is recorded: exit 130, not 143
        run_dir = getattr(e, "run_dir", None)
        if run_dir is None:
            print("interrupted before the run directory was created; nothing to resume", file=sys.stderr)
        else:
            print(f"interrupted; finished chunks are kept. Resume with: study run --resume {run_dir}",
                  file=sys.stderr)
        return 130
    print(run_dir)  # the last line of standard output (run_study logged the summary before it)
    return 0


def _cmd_validate(args) -> int:
    from analysis.methods import load_study

    from .examples import default_study

    path = args.study_file or default_study()
    study = load_study(path, check_variants=True)
    from .runner import probe

    probe(study, Path(path).resolve().parent)
    print(f"{path}: ok ({len(study.parameters)} parameters, {len(study.constants)} constants, "
          f"{study.sampling.method} design, N = {study.sampling.samples})")
    return 0


def _cmd_rebuild(args) -> int:
    from analysis.run import read_run

    if args.stage == "analyze":
        from analysis.indices import analyze_run as build
    elif args.stage == "figures":
        from analysis.figures import build_figures as build
    else:
        from analysis.appendix import build_appendix, compile_pdf

        def build(run):
            build_appendix(run)
            print(f"{run.path / 'appendix'}: {compile_pdf(run)[1]}", file=sys.stderr)
    build(read_run(args.run_dir))  # read once; every stage takes the record
    print(args.run_dir)
    return 0


def _cmd_compare(args) -> int:
    from analysis.compare import main_compare

    print(main_compare(args.run_dirs, args.out or args.run_dirs[0] / "variants"))
    return 0


def _cmd_reweight(args) -> int:
    from analysis.reweight import main_reweight

    table, warnings = main_reweight(args.run_dir, args.shift, with_break_even=args.break_even)
    for line in warnings:
        print(line, file=sys.stderr)
    print(table)
    return 0


def _cmd_init(args) -> int:
    from .init import write_template

    from . import talk

    study_file, model_file = write_template(args.name, args.dir)
    talk.stage("wrote %s and its model %s; next: study run %s --samples 256", study_file, model_file, study_file)
    print(study_file)
    return 0


def _cmd_list(args) -> int:
    from .summary import find_runs, list_table

    if not args.runs.is_dir():
        raise StudyError(args.runs, "", f"must be a folder of runs; got {str(args.runs)!r}, which is not a folder")
    runs = find_runs(args.runs)
    if not runs:
        print(f"{args.runs}: no runs", file=sys.stderr)
        return 0
    print(list_table(runs))
    return 0


def _cmd_export(args) -> int:
    from .export import export_run

    print(export_run(args.run_dir, args.format, args.out))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``study`` and ``python -m study``; returns the exit status.

    Called without ``argv`` it is the program itself, which ends when it returns: see
    :func:`_ending_soon`.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # a bare `study`: say what it can do
        parser.print_help()
        return 0
    from . import talk

    talk.configure(args.verbosity)
    try:
        return args.func(args)
    except StudyError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        if argv is None:
            _ending_soon()


def _ending_soon() -> None:
    """Spare the exiting interpreter its garbage collections over everything the command loaded.

    The interpreter collects cycles while it tears its modules down, each time walking
    every object still alive: after ``study run`` (the run's data, xarray, matplotlib,
    pandas) that was 0.5-1.9 s of one core, after the run was complete and its directory
    printed. Frozen objects are left out of every collection. Only for the program
    itself (``main()`` without ``argv``): a caller that goes on (a test, a notebook) would
    keep every frozen cycle for good.
    """
    import gc

    gc.freeze()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
