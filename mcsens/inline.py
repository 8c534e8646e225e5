"""Models passed as Python functions (``run_study(model=f)``), e.g. defined in a notebook.

The evaluation machinery names a model by ``module:function`` so that a dask worker can
import it. A function without a module file is therefore registered here under a name
derived from its code, ``mcsens.inline:<name>_<hash>``, in this process and, for a dask
run, on every worker of the client (the function travels there by value, pickled with
cloudpickle as dask does for any task).
"""

from __future__ import annotations

import hashlib
import inspect
import re

from study.errors import StudyError

PREFIX = f"{__name__}:"


def _fingerprint(fn) -> str:
    try:
        text = inspect.getsource(fn)
    except (OSError, TypeError):  # built in a REPL line or by functools.partial: hash the pickle
        import cloudpickle

        return hashlib.sha256(cloudpickle.dumps(fn)).hexdigest()
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def install(key: str, fn) -> None:
    """Make ``fn`` importable as ``mcsens.inline:<key>`` in this process."""
    globals()[key] = fn


def register(fn, client=None) -> tuple[str, str]:
    """Register a model function and return its ``module:function`` reference and hash.

    Parameters
    ----------
    fn : callable
        The model: a function of an ``xarray.Dataset``, as a model module's would be.
    client : distributed.Client, optional
        Also register it on each of this client's workers.

    Returns
    -------
    (str, str)
        The reference (``mcsens.inline:evaluate_1a2b3c4d5e6f``) and the sha256 of the
        function's source (or of its pickle when the source cannot be read).

    Raises
    ------
    StudyError
        ``fn`` is not callable.
    """
    if not callable(fn):
        raise StudyError("run_study", "model", f"must be a callable or 'module:function'; got {fn!r}")
    digest = _fingerprint(fn)
    stem = re.sub(r"\W", "_", getattr(fn, "__name__", "model")) or "model"
    if not re.match(r"[A-Za-z_]", stem):
        stem = f"m_{stem}"
    key = f"{stem}_{digest[:12]}"
    install(key, fn)
    if client is not None:
        client.run(install, key, fn)
    return PREFIX + key, digest
