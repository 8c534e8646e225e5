"""Resolve a study's ``module:function`` model and hold its result to the contract.

A model is a pure, vectorized function ``f(x: xr.Dataset) -> xr.Dataset`` (or DataArray):
every output variable carries the ``sample`` dimension with the input's length and finite
values. A module beside the study file is importable, so ``mymodel.py`` can sit next to
``mystudy.toml``.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

import numpy as np
import xarray as xr

from .errors import ModelContractError, StudyError


@contextmanager
def _importable(directory: Path):
    directory = str(Path(directory).resolve())
    added = directory not in sys.path
    if added:
        sys.path.insert(0, directory)
    try:
        yield
    finally:
        if added:
            sys.path.remove(directory)


def resolve(ref: str, study_dir, study_path="<study>") -> Callable:
    """Import ``module:function``, trying the study file's directory first.

    Raises
    ------
    StudyError
        Naming ``study.model`` when the module cannot be imported or the attribute is
        missing or not callable.
    """
    module_name, _, func_name = ref.partition(":")
    with _importable(study_dir):
        try:
            module = _import(module_name, study_dir)
        except ModuleNotFoundError as e:
            if e.name and module_name.startswith(e.name):
                raise StudyError(study_path, "study.model",
                                 f"must name an importable module (looked beside the study file and on "
                                 f"the Python path); got {module_name!r}, which was not found") from None
            raise StudyError(study_path, "study.model",
                             f"module {module_name!r} failed to import: {type(e).__name__}: {e}") from None
        except Exception as e:  # a user module that raises at import is a user error
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


def _import(module_name: str, study_dir):
    """Import a module, preferring the file beside the study over a same-named one in memory.

    Two studies in one process (a notebook, a test session) may each keep a ``model.py``
    beside their file, and a model file may be edited between two runs of one session;
    ``sys.modules`` caches by name only. So a module beside the study is executed from the
    file's current bytes unless exactly those bytes were executed before; they are compiled
    directly, because a ``.pyc`` is validated by modification second and size only.
    """
    local = _beside(module_name, study_dir)
    if local is None:
        return importlib.import_module(module_name)
    source = local.read_bytes()
    digest = hashlib.sha256(source).hexdigest()
    cached = sys.modules.get(module_name)
    if cached is not None and getattr(cached, "__mcsens_source_sha256__", None) == digest \
            and Path(getattr(cached, "__file__", "") or "").resolve() == local:
        return cached
    spec = importlib.util.spec_from_file_location(module_name, local)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        exec(compile(source, str(local), "exec"), module.__dict__)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    module.__mcsens_source_sha256__ = digest
    return module


def source_file(ref: str, study_dir) -> Path | None:
    """The file a model's module was loaded from (for the manifest's hash)."""
    local = _beside(ref.partition(":")[0], study_dir)
    if local is not None:
        return local
    with _importable(study_dir):
        spec = importlib.util.find_spec(ref.partition(":")[0])
    return Path(spec.origin) if spec and spec.origin and spec.origin.endswith(".py") else None


def file_sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _offending(x: xr.Dataset, positions, params) -> str:
    parts = []
    for i in positions[:3]:
        vals = ", ".join(f"{p}={float(x[p].values[i]):.6g}" for p in params)
        parts.append(f"sample {int(x['sample'].values[i])} ({vals})")
    return "; ".join(parts)


def check_result(result, x: xr.Dataset, ref: str, params, *, allow_nonfinite: bool = False) -> xr.Dataset:
    """Check a model's result against the contract and return it as a computed Dataset.

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

    Raises
    ------
    ModelContractError
        Naming the model, the output and the first offending samples' parameter values.
    """
    n = x.sizes["sample"]
    if isinstance(result, xr.DataArray):
        result = result.to_dataset(name=result.name or "y")
    if not isinstance(result, xr.Dataset):
        raise ModelContractError(f"model {ref!r}", "", f"must return an xarray.Dataset or DataArray; got {type(result).__name__}")
    if not result.data_vars:
        raise ModelContractError(f"model {ref!r}", "", "must return at least one output variable; got an empty Dataset")
    clash = sorted(set(result.data_vars) & (set(x.data_vars)))
    if clash:
        raise ModelContractError(f"model {ref!r}", f"output {clash[0]!r}",
                                 "must not reuse the name of an input or constant; rename the output")
    result = result.drop_vars([c for c in result.coords if "sample" in result[c].dims and c != "sample"])
    for name, var in result.data_vars.items():
        where = f"output {name!r}"
        if "sample" not in var.dims:
            raise ModelContractError(f"model {ref!r}", where, f"must have dimension 'sample' of length {n}; "
                                     f"got dims {var.dims} with shape {var.shape}")
        if var.sizes["sample"] != n:
            raise ModelContractError(f"model {ref!r}", where, f"must have dimension 'sample' of length {n}; "
                                     f"got length {var.sizes['sample']}")
        if not (np.issubdtype(var.dtype, np.number) or var.dtype == bool):
            raise ModelContractError(f"model {ref!r}", where, f"must be numeric; got dtype {var.dtype}")
    result = result.transpose("sample", ...).compute().astype(float)
    inherited = {(k, str(v)) for var in x.data_vars.values() for k, v in var.attrs.items()}
    for var in result.data_vars.values():
        # xarray arithmetic carries inputs' attrs onto outputs; they would mislabel them.
        own = {k: v for k, v in var.attrs.items() if (k, str(v)) not in inherited}
        # "role" says what the file holds; a role the model declares (a claim, an
        # observation: see analysis.appendix.claims) is kept as model_role.
        declared = {"model_role": own["role"]} if own.get("role", "output") != "output" else {}
        var.attrs = {**own, "role": "output", **declared}
    if not allow_nonfinite:
        for name, var in result.data_vars.items():
            bad = ~np.isfinite(var.values.reshape(n, -1)).all(axis=1)
            if bad.any():
                where = np.flatnonzero(bad)
                raise ModelContractError(f"model {ref!r}", f"output {name!r}",
                                         f"must be finite; got NaN or inf for {where.size} of {n} samples, first "
                                         f"at {_offending(x, where, params)}")
    return result.assign_coords(sample=x["sample"].values)
