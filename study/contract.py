"""Resolve a study's ``module:function`` model and hold its result to the contract.

A model is a pure, vectorized function ``f(x: xr.Dataset) -> xr.Dataset`` (or DataArray):
every output variable carries the ``sample`` dimension with the input's length and finite,
real values. The model gets a read-only view of its inputs; what it prints goes to standard
error. An output that carries a ``sample`` coordinate is aligned to the inputs by label
(so a model may sort or permute its samples); one without the coordinate is taken in the
inputs' order.

A module beside the study file is importable, so ``mymodel.py`` can sit next to
``mystudy.toml``. It never shadows what the toolkit imports: the model's own module is
loaded under a private name, and the study's directory is searched only after the
standard path (installed packages and the standard library come first).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import tempfile
import threading
import unicodedata
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import xarray as xr

from .errors import ModelContractError, StudyError
from .store import file_sha256

#: Names of the toolkit's own variables and coordinates along ``sample`` in a run's results
#: (``status`` is the failure record of ``--allow-failures``; the others label the design),
#: and of the dimensions the analysis adds; an output may not take them.
RESERVED_NAMES = ("sample", "status", "row", "matrix", "replicate", "trajectory", "step",
                  "param", "param2", "element")
#: Dimension names an output may not have besides ``sample``: the names above, the
#: convergence table's ``n``, and the columns of ``indices.csv``, into which an output's
#: own dimensions become columns (kept in step with ``analysis.indices.CSV_COLUMNS``).
RESERVED_DIMS = RESERVED_NAMES[1:] + ("n", "method", "output", "index", "value", "conf", "conf_low",
                                      "conf_high", "estimator", "conf_method", "influential", "rank",
                                      "converged")

# --- importing a model ------------------------------------------------------------------

_LOCK = threading.RLock()
_ACTIVE: list[str] = []      # study directories importable right now, innermost last
_FOUND: dict[str, str] = {}  # top-level module name -> the study directory it was found in


class _StudyDirFinder(importlib.abc.MetaPathFinder):
    """Finds top-level modules in the active study directories, after every other finder.

    It sits last on ``sys.meta_path``: a name the standard path provides (the standard
    library, installed packages, the toolkit itself) is never taken from a study folder.
    """

    def find_spec(self, fullname, path=None, target=None):
        if path is not None:  # a submodule: found through its package's __path__
            return None
        for directory in reversed(_ACTIVE):
            spec = importlib.machinery.PathFinder.find_spec(fullname, [directory])
            if spec is not None:
                _FOUND[fullname] = directory
                return spec
        return None


_FINDER = _StudyDirFinder()


@contextmanager
def study_imports(directory):
    """Let the block import modules from ``directory``, searched after the standard path."""
    directory = str(Path(directory).resolve())
    with _LOCK:
        if sys.meta_path[-1:] != [_FINDER]:
            with contextlib.suppress(ValueError):
                sys.meta_path.remove(_FINDER)
            sys.meta_path.append(_FINDER)
        _ACTIVE.append(directory)
    try:
        yield
    finally:
        with _LOCK:
            _ACTIVE.remove(directory)


def resolve(ref: str, study_dir, study_path="<study>") -> Callable:
    """Import ``module:function``, from beside the study file if such a module is there.

    A module file beside the study is loaded under a private name (so ``json.py`` or
    ``analysis.py`` there is the model, and the toolkit's own ``json`` and ``analysis``
    stay untouched); what that module imports comes from the standard path first and from
    the study's directory only for names the standard path does not provide.

    Raises
    ------
    StudyError
        Naming ``study.model`` when the module cannot be imported or the attribute is
        missing or not callable.
    """
    module_name, _, func_name = ref.partition(":")
    with study_imports(study_dir):
        try:
            module = _import(module_name, study_dir)
        except ModuleNotFoundError as e:
            if e.name and module_name.startswith(e.name):
                raise StudyError(study_path, "study.model",
                                 f"must name an importable module (looked beside the study file and on "
                                 f"the Python path); got {module_name!r}, which was not found") from None
            raise StudyError(study_path, "study.model",
                             f"module {module_name!r} failed to import: {type(e).__name__}: {e}") from None
        except KeyboardInterrupt:
            raise
        except BaseException as e:  # a user module that raises (or exits) at import is a user error
            raise StudyError(study_path, "study.model",
                             f"module {module_name!r} failed to import: {type(e).__name__}: {e}") from None
    func = getattr(module, func_name, None)
    if func is None:
        raise StudyError(study_path, "study.model", f"module {module_name!r} has no attribute {func_name!r}")
    if not callable(func):
        raise StudyError(study_path, "study.model",
                         f"must name a callable; got {ref!r}, which is a {type(func).__name__}")
    return func


def _beside(module_name: str, study_dir) -> Path | None:
    candidate = Path(study_dir) / (module_name.replace(".", "/") + ".py")
    return candidate.resolve() if candidate.is_file() else None


def _private_name(path: Path) -> str:
    # One name per file: re-executing an edited file replaces its module, never another's.
    return "_mcsens_model_" + hashlib.sha256(str(path).encode()).hexdigest()[:16]


def _study_modules() -> dict[str, object]:
    """Modules in ``sys.modules`` that were found in a study directory (and their submodules)."""
    return {name: mod for name, mod in list(sys.modules.items()) if name.partition(".")[0] in _FOUND}


def _unchanged(module) -> bool:
    sources = getattr(module, "__mcsens_sources__", None)
    if not sources:
        return False
    for path, digest in sources.items():
        try:
            if file_sha256(path) != digest:
                return False
        except OSError:
            return False
    return True


def _import(module_name: str, study_dir):
    """Import a module, preferring the file beside the study over a same-named one in memory.

    Two studies in one process (a notebook, a test session) may each keep a ``model.py``
    (and a ``helpers.py``) beside their file, and a model file may be edited between two
    runs of one session; ``sys.modules`` caches by name only. So a module beside the study
    is executed from the file's current bytes unless exactly those bytes, and those of
    every study-folder module it imported, were executed before; they are compiled
    directly, because a ``.pyc`` is validated by modification second and size only.
    """
    local = _beside(module_name, study_dir)
    if local is None:
        return importlib.import_module(module_name)
    private = _private_name(local)
    cached = sys.modules.get(private)
    if cached is not None and _unchanged(cached):
        with _LOCK:  # another study's helpers may hold the names now
            sys.modules.update(cached.__mcsens_locals__)
            _FOUND.update(dict.fromkeys((n.partition(".")[0] for n in cached.__mcsens_locals__), str(study_dir)))
        return cached
    source = local.read_bytes()
    with _LOCK:
        # Helpers cached under bare names may be another study's or stale: import them afresh.
        for name in _study_modules():
            del sys.modules[name]
        _FOUND.clear()
    importlib.invalidate_caches()
    spec = importlib.util.spec_from_file_location(private, local)
    module = importlib.util.module_from_spec(spec)
    sys.modules[private] = module
    try:
        with stdout_to_stderr():
            exec(compile(source, str(local), "exec"), module.__dict__)
    except BaseException:
        sys.modules.pop(private, None)
        raise
    helpers = {name: mod for name, mod in _study_modules().items() if getattr(mod, "__file__", None)}
    module.__mcsens_locals__ = helpers
    module.__mcsens_sources__ = {str(local): hashlib.sha256(source).hexdigest(),
                                 **{m.__file__: file_sha256(m.__file__) for m in helpers.values()}}
    return module


def source_file(ref: str, study_dir) -> Path | None:
    """The file a model's module was loaded from (for the manifest's hash)."""
    local = _beside(ref.partition(":")[0], study_dir)
    if local is not None:
        return local
    with study_imports(study_dir):
        spec = importlib.util.find_spec(ref.partition(":")[0])
    return Path(spec.origin) if spec and spec.origin and spec.origin.endswith(".py") else None


# --- calling a model --------------------------------------------------------------------

_REDIRECT = {"depth": 0, "stdout": None, "fd": None}


def _flush_c_stdout() -> None:
    # A compiled library's printf output sits in C's stdio buffer until flushed.
    try:
        import ctypes

        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError, TypeError):  # pragma: no cover - no C library to flush
        pass


@contextmanager
def stdout_to_stderr():
    """Send everything written to standard output to standard error while the block runs.

    The last line of ``study run``'s standard output is the run directory, so what a model
    prints (from Python or from compiled code writing to file descriptor 1) must not land
    there. Nested and concurrent uses (threads of one dask worker) share one redirection.
    """
    with _LOCK:
        if _REDIRECT["depth"] == 0:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
            _REDIRECT["stdout"] = sys.stdout
            if sys.stderr is not None:
                sys.stdout = sys.stderr
            try:
                saved = os.dup(1)
                os.dup2(2, 1)
                _REDIRECT["fd"] = saved
            except OSError:  # no file descriptors 1 and 2 (an embedded interpreter)
                _REDIRECT["fd"] = None
        _REDIRECT["depth"] += 1
    try:
        yield
    finally:
        with _LOCK:
            _REDIRECT["depth"] -= 1
            if _REDIRECT["depth"] == 0:
                with contextlib.suppress(Exception):
                    sys.stdout.flush()
                _flush_c_stdout()
                if _REDIRECT["fd"] is not None:
                    os.dup2(_REDIRECT["fd"], 1)
                    os.close(_REDIRECT["fd"])
                sys.stdout = _REDIRECT["stdout"]


def read_only_view(x: xr.Dataset) -> xr.Dataset:
    """A shallow copy of ``x`` whose numpy arrays (shared with ``x``) cannot be written.

    Replacing a variable of the view leaves ``x`` as it is; writing into an array raises.
    """
    view = x.copy(deep=False)
    for var in view.variables.values():
        data = var.data
        if isinstance(data, np.ndarray):
            data.flags.writeable = False
    return view


def call_model(fn: Callable, x: xr.Dataset, ref: str, study_dir, where: str = ""):
    """Call a model on a read-only view of its inputs, its printed output sent to stderr.

    Raises
    ------
    ModelContractError
        If the model writes into its inputs or exits (``sys.exit`` or any exception that
        is not an ``Exception``, except ``KeyboardInterrupt``); other exceptions pass.
    """
    try:
        with study_imports(study_dir), stdout_to_stderr():
            return fn(read_only_view(x))
    except KeyboardInterrupt:
        raise
    except ValueError as e:
        # numpy's messages, and xarray's for a write into a view of an input
        if "read-only" not in str(e) and "Assignment destination is a view" not in str(e):
            raise
        raise ModelContractError(f"model {ref!r}", where,
                                 "must not write into its input (the inputs are read-only, so that the run stores "
                                 f"what was sampled; copy an array before changing it); got ValueError: {e}") from None
    except Exception:
        raise
    except BaseException as e:
        what = f"sys.exit({e.code!r})" if isinstance(e, SystemExit) else f"{type(e).__name__}: {e}"
        raise ModelContractError(f"model {ref!r}", where,
                                 f"must return its outputs, not exit or raise a BaseException; got {what}") from None


# --- checking what it returned ----------------------------------------------------------

def _offending(x: xr.Dataset, positions, params) -> str:
    parts = []
    for i in positions[:3]:
        vals = ", ".join(f"{p}={float(x[p].values[i]):.6g}" for p in params)
        parts.append(f"sample {int(x['sample'].values[i])} ({vals})")
    return "; ".join(parts)


def netcdf_name_problem(name) -> str | None:
    """Why netCDF-4 cannot store ``name`` as a variable or dimension name unchanged, or None.

    The rules are netCDF-C's (verified against netCDF4-python): a non-empty UTF-8 string in
    Unicode normal form NFC (other forms are silently renamed), beginning with a letter,
    digit, underscore or non-ASCII character, without ``/``, control characters (a NUL
    silently truncates the name) or a trailing space.
    """
    if not isinstance(name, str):
        return f"must be a string; got {type(name).__name__} {name!r}"
    if not name:
        return "must not be empty; got ''"
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return f"must be valid Unicode (netCDF stores UTF-8); got {name!r}"
    nfc = unicodedata.normalize("NFC", name)
    if nfc != name:
        return f"must be in Unicode normal form NFC (netCDF would store it as {nfc!r}); got {name!r}"
    if "/" in name:
        return f"must not contain '/' (netCDF's group separator); got {name!r}"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return f"must not contain control characters; got {name!r}"
    if name[0].isascii() and not (name[0].isalnum() or name[0] == "_"):
        return f"must begin with a letter, a digit, an underscore or a non-ASCII character; got {name!r}"
    if name.endswith(" "):
        return f"must not end with a space; got {name!r}"
    return None


def _check_names(result: xr.Dataset, x: xr.Dataset, model: str) -> None:
    inputs = set(x.data_vars)
    for name, var in result.data_vars.items():
        where = f"output {name!r}"
        problem = netcdf_name_problem(name)
        if problem:
            raise ModelContractError(model, "output name", problem)
        if name in inputs:
            raise ModelContractError(model, where, "must not reuse the name of an input or constant; rename the output")
        if name in RESERVED_NAMES:
            raise ModelContractError(model, where, f"must not take a name the toolkit reserves "
                                     f"({', '.join(RESERVED_NAMES)}); rename the output")
        for dim in var.dims:
            problem = netcdf_name_problem(dim)
            if problem:
                raise ModelContractError(model, f"{where}: dimension name", problem)
            if dim in RESERVED_DIMS:
                raise ModelContractError(model, where, f"must not have a dimension named like the toolkit's own "
                                         f"({', '.join(RESERVED_DIMS)}); got dims {var.dims}")
            if dim in inputs:  # merged with the inputs, the two would clash (xarray's MergeError)
                raise ModelContractError(model, where, f"must not have a dimension named like an input or "
                                         f"constant; got dims {var.dims}")
    for c in result.coords:
        if c in inputs:
            raise ModelContractError(model, f"coordinate {c!r}", "must not take the name of an input or constant; "
                                     "rename the coordinate")


def _check_shapes(result: xr.Dataset, n: int, model: str) -> None:
    labelled = "sample" in result.coords
    for name, var in result.data_vars.items():
        where = f"output {name!r}"
        if "sample" not in var.dims:
            raise ModelContractError(model, where, f"must have dimension 'sample' of length {n}; "
                                     f"got dims {var.dims} with shape {var.shape}")
        if not labelled and var.sizes["sample"] != n:
            raise ModelContractError(model, where, f"must have dimension 'sample' of length {n}; "
                                     f"got length {var.sizes['sample']}")
        if var.dtype.kind not in "biuf":
            lost = " (its imaginary part would be lost)" if var.dtype.kind == "c" else ""
            raise ModelContractError(model, where, f"must hold real numbers (bool, integer or float){lost}; "
                                     f"got dtype {var.dtype}")
        empty = [d for d in var.dims if d != "sample" and var.sizes[d] == 0]
        if empty:  # the analysis would have no element to estimate for
            raise ModelContractError(model, where, f"must not have a dimension of length 0; got dims {var.dims} "
                                     f"with shape {var.shape}")


def _check_dim_labels(result: xr.Dataset, model: str) -> None:
    """An output dimension's labels name rows of ``indices.csv``: each once, none missing."""
    for dim in result.dims:
        if dim == "sample" or dim not in result.indexes:
            continue
        labels = result.indexes[dim]
        missing = np.flatnonzero(pd.isna(labels))
        if missing.size:
            raise ModelContractError(model, f"coordinate {dim!r}", f"must not hold NaN or None labels (indices.csv "
                                     f"could not tell them from an unlabelled element); got "
                                     f"{_label(result[dim].values[missing[0]])!r} at position {int(missing[0])}")
        if labels.has_duplicates:
            dup = labels[labels.duplicated()]
            raise ModelContractError(model, f"coordinate {dim!r}", f"must label each element of dimension {dim!r} "
                                     f"once; got {dup.size} repeated labels (first {_label(dup[0])!r})")


def _check_exact_integers(result: xr.Dataset, x: xr.Dataset, model: str, params) -> None:
    """Integer outputs are stored as float64, which holds every integer up to 2**53 exactly."""
    limit = 2**53
    for name, var in result.data_vars.items():
        if var.dtype.kind not in "iu":
            continue
        values = var.transpose("sample", ...).values.reshape(var.sizes["sample"], -1)
        bad = (values > limit) | (values < -limit)
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise ModelContractError(model, f"output {name!r}", f"must hold integers float64 stores exactly "
                                     f"(|value| <= 2**53); got {int(values[row, col])} at "
                                     f"{_offending(x, [row], params)}")


def _label(value):
    return value.item() if isinstance(value, np.generic) else value


def _carried_coords(result: xr.Dataset, x: xr.Dataset, model: str) -> set:
    """The toolkit-named coordinates the result carries unchanged from the inputs (same memory).

    A coordinate a model adds under a reserved name (``row``, ``status``, ...) is refused
    whatever its values: in the probe's block every ``row`` is 0, so a model-made ``row``
    of zeros would look like the design's own and fail only in a later chunk.
    """
    carried = set()
    for c in result.coords:
        if c == "sample" or c not in RESERVED_NAMES:
            continue
        if c not in x.coords:
            raise ModelContractError(model, f"coordinate {c!r}", f"must not take a name the toolkit reserves "
                                     f"({', '.join(RESERVED_NAMES)}); rename the coordinate")
        values = result[c].values
        # A chunked (dask) copy of the inputs holds new memory: it is carried if it is unchanged.
        lazy = result[c].chunks is not None and np.array_equal(values, x[c].values)
        if lazy or np.shares_memory(np.asarray(values), np.asarray(x[c].values)):
            carried.add(c)
    return carried


def _check_added_coords(result: xr.Dataset, x: xr.Dataset, carried: set, model: str) -> None:
    """Refuse a reserved coordinate the model made, unless it only reordered the inputs' samples."""
    reordered = "sample" in result.coords and not pd.Index(result["sample"].values).equals(x.indexes["sample"])
    for c in result.coords:
        if c != "sample" and c in RESERVED_NAMES and c not in carried and not reordered:
            raise ModelContractError(model, f"coordinate {c!r}", f"must not take a name the toolkit reserves "
                                     f"({', '.join(RESERVED_NAMES)}); rename the coordinate (it is not the "
                                     f"inputs' own {c!r})")


def _check_design_coords(result: xr.Dataset, x: xr.Dataset, model: str) -> None:
    # `out["row"] = ...` on a Dataset built from the inputs overwrites the design's own
    # coordinate instead of adding an output: it would vanish without a word.
    for c in result.coords:
        if c != "sample" and c in x.coords and "sample" in result[c].dims \
                and not np.array_equal(result[c].values, x[c].values):
            raise ModelContractError(model, f"output {c!r}", f"must not take a name the toolkit reserves "
                                     f"({', '.join(RESERVED_NAMES)}); rename the output (it replaced the design's "
                                     f"coordinate {c!r})")


def _align(result: xr.Dataset, x: xr.Dataset, model: str) -> xr.Dataset:
    """Put the outputs in the inputs' sample order, by label if they carry ``sample`` labels."""
    if "sample" not in result.coords:
        return result  # positional: the length was checked
    coord = result["sample"]
    want = x.indexes["sample"]
    if coord.dims != ("sample",):
        raise ModelContractError(model, "coordinate 'sample'", f"must lie along dimension 'sample'; got dims {coord.dims}")
    got = pd.Index(coord.values)
    if got.equals(want):
        return result
    if got.has_duplicates:
        dup = got[got.duplicated()]
        raise ModelContractError(model, "coordinate 'sample'", f"must label each sample once; got {dup.size} repeated "
                                 f"labels (first {_label(dup[0])!r})")
    pos = got.get_indexer(want)
    missing, extra = want[pos < 0], got.difference(want)
    if missing.size or extra.size:
        found = []
        if missing.size:
            found.append(f"{missing.size} of the inputs' missing (first {_label(missing[0])!r})")
        if extra.size:
            found.append(f"{extra.size} not among them (first {_label(extra[0])!r})")
        raise ModelContractError(model, "coordinate 'sample'", f"must hold the inputs' sample labels ({want[0]}–"
                                 f"{want[-1]}) in any order, or be absent; got {got.size} labels, "
                                 + " and ".join(found))
    return result.isel(sample=pos)


def check_result(result, x: xr.Dataset, ref: str, params, *, allow_nonfinite: bool = False) -> xr.Dataset:
    """Check a model's result against the contract and return it as a computed Dataset.

    Outputs that carry a ``sample`` coordinate are put in the inputs' order by label; those
    without one are taken to be in the inputs' order already.

    Parameters
    ----------
    result : object
        What the model returned.
    x : xarray.Dataset
        The inputs it was given.
    ref : str
        The model's ``module:function`` (for messages).
    params : sequence of str
        Sampled parameter names (to report offending values).
    allow_nonfinite : bool
        Leave non-finite values in place (per-sample failures are being recorded).

    Returns
    -------
    xarray.Dataset
        The outputs as float64 along ``sample`` first, labelled with the inputs' samples.

    Raises
    ------
    ModelContractError
        Naming the model, the output and the first offending samples' parameter values.
    """
    n = x.sizes["sample"]
    model = f"model {ref!r}"
    if isinstance(result, xr.DataArray):
        name = result.name if result.name is not None else "y"
        problem = netcdf_name_problem(name)
        if problem:
            raise ModelContractError(model, "output name", problem)
        if name in RESERVED_NAMES or name in result.coords:
            raise ModelContractError(model, f"output {name!r}", f"must not take a name the toolkit reserves "
                                     f"({', '.join(RESERVED_NAMES)}); rename the output")
        result = result.to_dataset(name=name)
    if not isinstance(result, xr.Dataset):
        raise ModelContractError(model, "", f"must return an xarray.Dataset or DataArray; got {type(result).__name__}")
    if not result.data_vars:
        raise ModelContractError(model, "", "must return at least one output variable; got an empty Dataset")
    _check_names(result, x, model)
    _check_shapes(result, n, model)
    _check_dim_labels(result, model)
    carried = _carried_coords(result, x, model)
    aligned = _align(result, x, model)
    _check_design_coords(aligned, x, model)
    _check_added_coords(result, x, carried, model)
    result = aligned
    _check_exact_integers(result, x, model, params)
    result = result.drop_vars([c for c in result.coords if "sample" in result[c].dims and c != "sample"])
    # What the model returned, recorded: the store keeps 0/1 and narrow integers compact.
    returned = {k: str(v.dtype) for k, v in result.data_vars.items() if v.dtype != np.float64}
    # copy=False: a float64 output is used as it is (issue 17: the copy cost 13% of a chunk).
    result = result.transpose("sample", ...).compute().astype(np.float64, copy=False)
    inherited = {(k, str(v)) for var in x.data_vars.values() for k, v in var.attrs.items()}
    for var in result.data_vars.values():
        # xarray arithmetic carries inputs' attrs onto outputs; they would mislabel them.
        own = {k: v for k, v in var.attrs.items() if (k, str(v)) not in inherited}
        # "role" says what the file holds; a role the model declares (a claim, an
        # observation: see analysis.appendix.claims) is kept as model_role.
        declared = {"model_role": own["role"]} if own.get("role", "output") != "output" else {}
        var.attrs = {**own, "role": "output", **declared}
    for name, dtype in returned.items():
        result[name].attrs["model_dtype"] = dtype
    if not allow_nonfinite:
        for name, var in result.data_vars.items():
            bad = ~np.isfinite(var.values.reshape(n, -1)).all(axis=1)
            if bad.any():
                where = np.flatnonzero(bad)
                raise ModelContractError(model, f"output {name!r}",
                                         f"must be finite; got NaN or inf for {where.size} of {n} samples, first "
                                         f"at {_offending(x, where, params)}")
    return result.assign_coords(sample=x["sample"].values)


def check_analysis_outputs(study, y: xr.Dataset, x: xr.Dataset) -> None:
    """Hold the outputs ``[analysis]`` names to what the analysis and figures need.

    A ``headline`` is a condition whose probability is estimated as its mean: it must be 0
    or 1 wherever it was evaluated. The ``key_output`` is plotted one value per sample: it
    may have no dimension but ``sample``. Names the model lacks are reported elsewhere.

    Raises
    ------
    StudyError
        Naming the study file and the ``[analysis]`` key.
    """
    a = study.analysis
    for h in a.headline:
        if h not in y:
            continue
        values = y[h].values.reshape(y.sizes["sample"], -1)
        bad = np.isfinite(values) & (values != 0) & (values != 1)
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise StudyError(study.path, "analysis.headline",
                             f"must name outputs that are 0 or 1 (a headline is a condition that holds or not, "
                             f"its probability their mean); got {h!r} = {float(values[row, col]):.6g} at sample "
                             f"{int(x['sample'].values[row])}")
    k = a.key_output
    if k and k in y and y[k].dims != ("sample",):
        raise StudyError(study.path, "analysis.key_output",
                         f"must name an output with no dimension but 'sample' (figures plot one value per "
                         f"sample); got {k!r} with dims {y[k].dims}")


def check_storable(ds: xr.Dataset, ref: str) -> None:
    """Write ``ds`` (a probe chunk) to a temporary netCDF file and read its names back.

    Catches what the name rules cannot foresee (an attribute netCDF cannot hold, a name it
    would change) before any run directory exists. Data variables already stored in this
    process with the same frame (see :func:`_frame`) are left out of the round trip.

    Raises
    ------
    ModelContractError
        Naming the model and what netCDF refused or changed.
    """
    keys = _schema_keys(ds)
    todo = ds
    if keys is not None:
        known = [name for name, key in keys.items() if key in _STORABLE]
        if len(known) == len(keys):
            return
        # Coordinates are never dropped (they are the frame); nor is a name that is not a data variable.
        todo = ds.drop_vars([name for name in known if name in ds.data_vars])
    with tempfile.TemporaryDirectory(prefix="mcsens-probe-") as tmp:
        path = Path(tmp) / "probe.nc"
        try:
            todo.to_netcdf(path)
        except Exception as e:  # what netCDF refuses is the model's output (inputs were validated)
            text = " ".join(str(e).split())
            raise ModelContractError(f"model {ref!r}", "", f"must return outputs netCDF can store; writing the "
                                     f"probe's results failed with {type(e).__name__}: {text}") from None
        lost = sorted(set(map(str, todo.variables)) - _stored_names(path))
    if lost:
        raise ModelContractError(f"model {ref!r}", f"output {lost[0]!r}",
                                 "must have a name netCDF stores unchanged; it was not found after a round trip")
    if keys is not None:
        _STORABLE.update(keys.values())


def _stored_names(path: Path) -> set[str]:
    """The names of the variables in a netCDF file's root group, as stored.

    netCDF4's own listing, not ``xr.open_dataset``: decoding every variable to read back
    names cost as much as writing a side run's probe (the names are the same either way).
    """
    import netCDF4

    with netCDF4.Dataset(path) as nc:
        return set(nc.variables)


# (frame, data variable) keys (see _schema_keys) whose round trip succeeded in this process.
# A side-run worker runs many variants and re-runs of one model: the round trip of the
# flagship's 73 variables (0.1 s) is paid once, and a variant then writes only the coordinates
# and the data variables it changes (the inputs whose distribution it moves, its constants).
_STORABLE: set[str] = set()
#: The key of a dataset's frame itself in :func:`_schema_keys` (no variable's name: it is not a string).
_FRAME = ("frame",)


def _signature(name, v: xr.Variable) -> str | None:
    """What netCDF's acceptance of one variable depends on: its name, dimensions, dtype,
    shape past ``sample``, attributes, encoding and the values of fixed-width text (labels
    of a dimension, written as strings); None for objects and dates, which are encoded
    from their values."""
    if v.dtype.kind not in "biufUS":
        return None
    text = v.values.tolist() if v.dtype.kind in "US" else None
    return repr((str(name), v.dims, v.dtype.str, v.shape[1:], sorted(v.attrs.items()),
                 sorted(v.encoding.items()), text))


def _frame(ds: xr.Dataset) -> str | None:
    """What every variable of ``ds`` is written with: the global attributes and encoding, the
    dimensions' lengths past ``sample`` and every coordinate's :func:`_signature` (xarray
    names a variable's coordinates in its attributes), or None if a coordinate has none."""
    parts = [repr(sorted(ds.attrs.items())), repr(sorted(ds.encoding.items())),
             repr(sorted((str(d), n) for d, n in ds.sizes.items() if d != "sample"))]
    for name, v in sorted(ds.coords.items(), key=lambda kv: str(kv[0])):
        sig = _signature(name, v.variable)
        if sig is None:
            return None
        parts.append(sig)
    return "\n".join(parts)


def _schema_keys(ds: xr.Dataset) -> dict | None:
    """A key per data variable of ``ds``: the sha256 of its :func:`_signature` in the
    dataset's :func:`_frame`; None where values matter (see :func:`_signature`), so that
    such a dataset is always written whole."""
    frame = _frame(ds)
    if frame is None:
        return None
    keys = {_FRAME: hashlib.sha256(frame.encode()).hexdigest()}  # a dataset of coordinates alone is written too
    for name, v in ds.data_vars.items():
        sig = _signature(name, v.variable)
        if sig is None:
            return None
        keys[name] = hashlib.sha256(f"{frame}\n{sig}".encode()).hexdigest()
    return keys
