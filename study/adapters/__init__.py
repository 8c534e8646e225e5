"""Models that are not one vectorized Python function: commands, per-sample and stochastic.

The contract (:mod:`study.contract`) is written for ``f(x: xr.Dataset) -> xr.Dataset``.
Each adapter here turns another kind of model into exactly such a function, so that
evaluation (:mod:`study.evaluate`) and every check of the contract stay one path:

- :mod:`.external`: a program run once per chunk, exchanging a CSV or netCDF file;
- :mod:`.per_sample`: a Python ``f(**params) -> dict`` called once per sample;
- :mod:`.stochastic`: a per-sample seed derived from the run's seed, and replications.

They live in a package of their own (not in ``contract.py``) because each is optional,
small and independent, and the contract module must stay the one place that judges.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .per_sample import PerSample, SampleFailures, per_sample

__all__ = ["ModelOptions", "PerSample", "SampleFailures", "check_seed_name", "command_files", "model_function",
           "parse_model", "per_sample"]

#: Exchange formats of an external command's input and output files.
FORMATS = ("csv", "netcdf")


@dataclass(frozen=True)
class ModelOptions:
    """How a study's model is called (``[study]`` keys besides ``model``).

    Attributes
    ----------
    command : tuple of str
        An external program's argument list (``model = { command = [...] }``); empty for a
        Python ``module:function``.
    format : str
        Exchange format of a command's files: ``"csv"`` or ``"netcdf"``.
    timeout : float or None
        Seconds a command may run on one chunk.
    vectorized : bool
        False: the Python function takes one sample's values as keywords and returns a dict.
    stochastic : bool
        The model takes a per-sample ``seed``.
    replications : int
        Evaluations of each design point, each with its own seed (stochastic models).
    """

    command: tuple[str, ...] = ()
    format: str = "csv"
    timeout: float | None = None
    vectorized: bool = True
    stochastic: bool = False
    replications: int = 1


def parse_model(ld, st: dict) -> tuple[str, ModelOptions]:
    """Read ``[study] model``, ``vectorized``, ``stochastic`` and ``replications``.

    Parameters
    ----------
    ld : study.spec._Loader
        The loader (for its one-line ``fail``).
    st : dict
        The ``[study]`` table.

    Returns
    -------
    (str, ModelOptions)
        The model's reference (``module:function``, or the command as one shell-quoted
        line, used in messages and the manifest) and how it is called.
    """
    flags = {k: _flag(ld, st, k, d) for k, d in (("vectorized", True), ("stochastic", False))}
    replications = ld.integer(st, "replications", "study", 1)
    if replications > 1 and not flags["stochastic"]:
        ld.fail("study.replications", f"must be 1 unless the model is stochastic (stochastic = true: a "
                f"deterministic model gives the same value each time); got {replications!r}")
    model = st.get("model")
    if not isinstance(model, dict):
        return None, ModelOptions(replications=replications, **flags)
    ld.known(model, "study.model", ("command", "format", "timeout"))
    command = model.get("command")
    if not isinstance(command, list) or not command or not all(isinstance(a, str) and a for a in command):
        ld.fail("study.model.command", f"must be a non-empty list of non-empty strings (the program and its "
                f"arguments, e.g. ['Rscript', 'model.R', '{{inputs}}', '{{outputs}}']); got {command!r}")
    for slot in ("{inputs}", "{outputs}"):
        if not any(slot in a for a in command):
            ld.fail("study.model.command", f"must contain {slot} (replaced by the path of the chunk's "
                    f"{slot[1:-1]} file); got {command!r}")
    fmt = model.get("format", "csv")
    if fmt not in FORMATS:
        ld.fail("study.model.format", f"must be one of {list(FORMATS)}; got {fmt!r}")
    timeout = ld.number(model, "timeout", "study.model", required=False)
    if timeout is not None and timeout <= 0:
        ld.fail("study.model.timeout", f"must be a positive number of seconds; got {model['timeout']!r}")
    if not flags["vectorized"]:
        ld.fail("study.vectorized", "must be true for a command (a command is run once per chunk on all its "
                "samples); got False")
    return shlex.join(command), ModelOptions(tuple(command), fmt, timeout, replications=replications, **flags)


def check_seed_name(ld, opts: ModelOptions, parameters, constants) -> None:
    """A stochastic model gets its seed as ``seed``: no parameter or constant may take the name."""
    if not opts.stochastic:
        return
    for table, names in (("parameters", parameters), ("constants", constants)):
        if "seed" in names:
            ld.fail(f"{table}.seed", "must not be named 'seed' in a stochastic study (the model gets its "
                    "per-sample seed under that name); rename it")


def _flag(ld, st, key, default) -> bool:
    val = st.get(key, default)
    if not isinstance(val, bool):
        ld.fail(f"study.{key}", f"must be true or false; got {val!r}")
    return val


def options(study) -> ModelOptions:
    """The study's model options (a study built before they existed has the defaults)."""
    return getattr(study, "model_options", None) or ModelOptions()


def model_function(study, model_ref: str, study_dir) -> Callable:
    """The study's model as a vectorized ``f(x: xr.Dataset) -> xr.Dataset``.

    Parameters
    ----------
    study : Study
    model_ref : str
        ``module:function``, or the command line for an external command.
    study_dir : str or pathlib.Path
        The study's directory: a command runs there, a module may sit there.

    Returns
    -------
    callable
        The model, wrapped by the adapters its options ask for.
    """
    from ..contract import resolve

    opts = options(study)
    if opts.command:
        from .external import ExternalCommand

        fn = ExternalCommand(opts.command, opts.format, opts.timeout, str(study_dir))
    else:
        fn = resolve(model_ref, str(study_dir), str(study.path))
        if not opts.vectorized or getattr(fn, "__mcsens_per_sample__", False):
            fn = PerSample(fn, model_ref, stochastic=opts.stochastic)
    if opts.stochastic:
        from .stochastic import Replicated

        fn = Replicated(fn, model_ref, study.sampling.seed, opts.replications, _saltelli_layout(study))
    return fn


def _saltelli_layout(study):
    if study.sampling.method != "sobol":
        return None
    from ..sampling import make_design

    return make_design(study, "sobol").labels


def command_files(study, study_dir) -> list[Path]:
    """The files a command's arguments name inside the study's directory (to be hashed).

    An argument that is an existing file under ``study_dir`` (``model.R``, ``run.jl``) is
    part of the model: editing it between a run's start and its resume would mix models.
    """
    opts = options(study)
    root = Path(study_dir).resolve()
    found = []
    for arg in opts.command:
        if "{" in arg:
            continue
        path = (root / arg).resolve()
        if path.is_file() and path.is_relative_to(root):
            found.append(path)
    return found
