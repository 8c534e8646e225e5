"""Models passed as Python functions (``run_study(model=f)``), e.g. defined in a notebook.

The evaluation machinery names a model by ``module:function`` so that a dask worker can
import it. A function without a module file is therefore registered here under a name
derived from its code, ``mcsens.inline:<name>_<hash>``, in this process and, for a dask
run, on every worker of the client (the function travels there by value, pickled with
cloudpickle as dask does for any task).

No file keeps such a function's code, so a run records what identifies it
(:func:`describe`) and a resume compares the function it is given against that
(:func:`changed`): its qualified name; the sha256 of its source (``inspect.getsource``; a
lambda's source line is the call that passed it, so a lambda is hashed by its compiled code
instead: bytecode, constants and names); the sha256 of its module's file where it has one (a
script, a module; a notebook cell has none); and the sha256 of the values it is bound to
(default arguments and, for a closure, the variables it closes over), pickled. Global
variables a notebook function reads are not compared: only its module's file would hold them.
A callable without readable source (a ``functools.partial``, a line typed at the REPL) is
identified by the sha256 of its whole pickle.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import re
import sys

from study.errors import StudyError
from study.store import file_sha256

PREFIX = f"{__name__}:"


def _fingerprint(fn) -> str:
    try:
        text = inspect.getsource(fn)
    except (OSError, TypeError):  # built in a REPL line or by functools.partial: hash the pickle
        import cloudpickle

        return _sha(cloudpickle.dumps(fn))
    return _sha(text.encode("utf-8"))


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


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _code_text(code) -> str:
    """A code object's bytecode, constants and names, nested code included (no file, no line)."""
    consts = tuple(_code_text(c) if inspect.iscode(c) else repr(c) for c in code.co_consts)
    return repr((code.co_code, consts, code.co_names, code.co_varnames, code.co_freevars))


def _module_file(fn) -> str | None:
    module = sys.modules.get(getattr(fn, "__module__", None) or "")
    path = getattr(module, "__file__", None)
    return path if path and os.path.isfile(path) else None


def describe(fn) -> dict:
    """What identifies a model function across processes, for the manifest (see the module).

    Returns
    -------
    dict
        ``qualname``; ``kind`` (``function``, ``lambda``, ``closure`` or ``pickle``);
        ``source_sha256`` (of the source, a lambda's code, or the pickle); ``module_file``
        and ``module_sha256`` (None without a file); ``bound_sha256`` (defaults and
        closure values, None if there are none).

    Examples
    --------
    >>> def f(x, k=2):
    ...     return x * k
    >>> d = describe(f)
    >>> d["qualname"].endswith("f"), d["kind"], d["bound_sha256"] is not None
    (True, 'function', True)
    """
    import cloudpickle

    code = getattr(fn, "__code__", None)
    name = f"{getattr(fn, '__module__', None) or '?'}.{getattr(fn, '__qualname__', type(fn).__name__)}"
    try:
        source = inspect.getsource(fn) if code is not None else None
    except (OSError, TypeError):
        source = None
    if code is None or source is None:
        kind, digest = "pickle", _sha(cloudpickle.dumps(fn))
    elif fn.__name__ == "<lambda>":
        kind, digest = "lambda", _sha(_code_text(code).encode("utf-8"))
    else:
        kind, digest = ("closure" if fn.__closure__ else "function"), _sha(source.encode("utf-8"))
    bound = None
    if kind != "pickle" and (fn.__defaults__ or fn.__kwdefaults__ or fn.__closure__):
        cells = tuple(c.cell_contents for c in fn.__closure__ or ())
        bound = _sha(cloudpickle.dumps((fn.__defaults__, fn.__kwdefaults__, cells)))
    path = _module_file(fn)
    return {"qualname": name, "kind": kind, "source_sha256": digest, "module_file": path,
            "module_sha256": file_sha256(path) if path else None, "bound_sha256": bound}


def changed(recorded: dict, fn) -> str | None:
    """What differs between the function a run recorded and ``fn``, in words; None if nothing."""
    now = describe(fn)
    short = lambda v: f"{v[:12]}…" if v else "none"  # noqa: E731 - a local formatter
    if now["qualname"] != recorded["qualname"]:
        return f"it is another function ({now['qualname']}, the run's is {recorded['qualname']})"
    what = {"function": "source", "closure": "source", "lambda": "compiled code", "pickle": "pickle"}
    for key, words in (("source_sha256", f"its {what[recorded['kind']]}"),
                       ("module_sha256", f"its module's file {recorded['module_file']}"),
                       ("bound_sha256", "the values it is bound to (defaults, closure variables)")):
        if now[key] != recorded[key]:
            return f"{words} changed (sha256 {short(recorded[key])} at the start, {short(now[key])} now)"
    return None
