"""Study files: TOML in, a validated frozen :class:`Study` out.

All checks live here (the records only store), so a study that loads is a study that can
be sampled. Every error names the file and the key path, says what was expected and what
was found: ``params/x.toml: parameters.x1.high: must be greater than low (1.0); got 0.0``.
"""

from __future__ import annotations

import difflib
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .distributions import DISTRIBUTIONS
from .errors import StudyError
from .extends import flatten

#: The flagship study, run by ``study run`` without a study file (relative to the working directory).
DEFAULT_STUDY = Path("params") / "asia_pacification.toml"
SAMPLING_METHODS = ("sobol", "morris", "latin")
ANALYSIS_METHODS = ("sobol", "morris", "delta")
CI_METHODS = ("replicates", "bootstrap", "bootstrap-percentile")
PARAM_INFO_KEYS = ("group", "label", "unit", "description", "source")
CONSTANT_KEYS = ("value", "label", "unit", "description", "source")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_STUDY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True, slots=True)
class Parameter:
    """One uncertain input: its marginal distribution and how to present it."""

    name: str
    distribution: str
    args: dict
    group: str = ""
    label: str = ""
    unit: str = ""
    description: str = ""
    source: str = ""

    def describe(self) -> str:
        """Short notation of the distribution, e.g. ``Tri(0.05, 0.2, 0.6)``."""
        return DISTRIBUTIONS[self.distribution].describe(self.args)


@dataclass(frozen=True, slots=True)
class Constant:
    """A fixed structural value passed to the model as a 0-d variable."""

    name: str
    value: float
    label: str = ""
    unit: str = ""
    description: str = ""
    source: str = ""


@dataclass(frozen=True, slots=True)
class Sampling:
    method: str = "sobol"
    samples: int = 1024
    seed: int = 0
    second_order: bool = True
    replicates: int = 8
    chunk_rows: int = 1024


@dataclass(frozen=True, slots=True)
class Analysis:
    methods: tuple[str, ...] = ("sobol",)
    conf_level: float = 0.95
    resamples: int = 1000
    ci: str = "replicates"
    headline: tuple[str, ...] = ()
    key_output: str = ""
    outputs: tuple[str, ...] = ()
    tolerance: float = 0.05
    morris_trajectories: int = 64
    morris_levels: int = 4
    variants: tuple[str, ...] = ()
    variant_samples: int = 0


@dataclass(frozen=True, slots=True)
class Correlation:
    params: tuple[str, str]
    rank: float
    reason: str = ""


@dataclass(frozen=True)
class Study:
    """A validated study file. Build it with :func:`load_study`, never directly."""

    name: str
    model: str
    description: str
    path: Path
    sha256: str
    sampling: Sampling
    analysis: Analysis
    constants: tuple[Constant, ...]
    parameters: tuple[Parameter, ...]
    correlations: tuple[Correlation, ...] = ()
    text: str = field(default="", repr=False)

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    @property
    def groups(self) -> dict[str, tuple[str, ...]]:
        """Group name -> member parameters, in file order; ungrouped parameters stand alone."""
        out: dict[str, list[str]] = {}
        for p in self.parameters:
            out.setdefault(p.group or p.name, []).append(p.name)
        return {g: tuple(v) for g, v in out.items()}

    def parameter(self, name: str) -> Parameter:
        return {p.name: p for p in self.parameters}[name]

    def correlation_matrix(self) -> np.ndarray:
        """Declared Spearman correlations as a full matrix in parameter order."""
        idx = {n: i for i, n in enumerate(self.param_names)}
        c = np.eye(len(idx))
        for corr in self.correlations:
            i, j = idx[corr.params[0]], idx[corr.params[1]]
            c[i, j] = c[j, i] = corr.rank
        return c

    def replace(self, **changes) -> "Study":
        """A copy with ``sampling`` fields changed (used for ``--samples`` / ``--seed``)."""
        from dataclasses import replace

        return replace(self, sampling=replace(self.sampling, **changes))


# -- helpers that produce the one wording ------------------------------------------------


class _Loader:
    def __init__(self, path: Path):
        self.path = path

    def fail(self, key: str, msg: str):
        raise StudyError(self.path, key, msg)

    def table(self, doc: dict, key: str, *, required: bool = True) -> dict:
        val = doc.get(key.rsplit(".", 1)[-1])
        if val is None:
            if required:
                self.fail(key, "missing table; expected a [" + key + "] table")
            return {}
        if not isinstance(val, dict):
            self.fail(key, f"must be a table; got {val!r}")
        return val

    def known(self, table: dict, prefix: str, allowed) -> None:
        for k in table:
            if k not in allowed:
                near = difflib.get_close_matches(k, list(allowed), n=1, cutoff=0.6)
                hint = f" (did you mean {near[0]!r}?)" if near else f"; expected one of {sorted(allowed)}"
                self.fail(f"{prefix}.{k}" if prefix else k, f"unknown key{hint}")

    def string(self, table, key, prefix, *, required=False, default=""):
        if key not in table:
            if required:
                self.fail(f"{prefix}.{key}", "missing key; expected a string")
            return default
        val = table[key]
        if not isinstance(val, str):
            self.fail(f"{prefix}.{key}", f"must be a string; got {val!r}")
        return val

    def number(self, table, key, prefix, *, required=True, default=None) -> float:
        if key not in table:
            if required:
                self.fail(f"{prefix}.{key}", "missing key; expected a number")
            return default
        val = table[key]
        if isinstance(val, bool) or not isinstance(val, (int, float)) or not math.isfinite(val):
            self.fail(f"{prefix}.{key}", f"must be a finite number; got {val!r}")
        return float(val)

    def integer(self, table, key, prefix, default, *, minimum=1, what="a positive integer"):
        if key not in table:
            return default
        val = table[key]
        if isinstance(val, bool) or not isinstance(val, int) or val < minimum:
            self.fail(f"{prefix}.{key}", f"must be {what}; got {val!r}")
        return val

    def strings(self, table, key, prefix, default, choices=None) -> tuple[str, ...]:
        if key not in table:
            return default
        val = table[key]
        if not isinstance(val, list) or not all(isinstance(v, str) for v in val):
            self.fail(f"{prefix}.{key}", f"must be a list of strings; got {val!r}")
        for v in val:
            if choices is not None and v not in choices:
                self.fail(f"{prefix}.{key}", f"must contain only {list(choices)}; got {v!r}")
        return tuple(val)


def _nearest_power_of_two(n: int) -> int:
    lo = 1 << max(n.bit_length() - 1, 0)
    return lo if n - lo <= 2 * lo - n else 2 * lo


def _is_power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def _toml_error(path: Path, err: tomllib.TOMLDecodeError) -> StudyError:
    # tomllib words it as "<what> (at line L, column C)"; lead with the line.
    text = str(err)
    m = re.search(r"\(at line (\d+), column (\d+)\)", text)
    what = text[: m.start()].strip() if m else text
    where = f"line {m.group(1)}, column {m.group(2)}" if m else "syntax"
    return StudyError(path, where, f"invalid TOML: {what}")


def load_study(path, *, samples: int | None = None, seed: int | None = None) -> Study:
    """Read and validate a study file.

    Parameters
    ----------
    path : str or pathlib.Path
        The TOML study file.
    samples, seed : int, optional
        Overrides of ``[sampling].samples`` and ``[sampling].seed`` (the command line's
        ``--samples`` and ``--seed``), validated like the file's own values.

    Returns
    -------
    Study

    Raises
    ------
    StudyError
        For any mistake, naming the file and the key path.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise StudyError(path, "", "no such study file") from None
    except (IsADirectoryError, PermissionError) as e:
        raise StudyError(path, "", f"cannot read the study file ({e.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise StudyError(path, "", f"must be UTF-8 text; got an undecodable byte at offset {e.start}") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise _toml_error(path, e) from None
    doc, flat, sha256 = flatten(path, doc, raw)  # [study].extends: merge the chain (study/extends.py)
    text = flat or text
    ld = _Loader(path)
    ld.known(doc, "", ("study", "sampling", "analysis", "constants", "parameters", "correlations"))

    st = ld.table(doc, "study")
    ld.known(st, "study", ("name", "model", "description"))
    name = ld.string(st, "name", "study", required=True)
    if not _STUDY_NAME.match(name) or name in (".", ".."):
        ld.fail("study.name", "must be a plain name (letters, digits, '_', '-', '.'; no '/' and not "
                f"starting with '.'), so that the run stays inside the output root; got {name!r}")
    model = ld.string(st, "model", "study", required=True)
    if not re.match(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$", model):
        ld.fail("study.model", f"must be 'module:function' (e.g. 'mymodel:evaluate'); got {model!r}")

    sampling = _sampling(ld, ld.table(doc, "sampling"), samples, seed)
    parameters = _parameters(ld, ld.table(doc, "parameters", required=False))
    if not parameters:
        ld.fail("parameters", "must declare at least one uncertain parameter ([parameters.<name>] with a "
                "distribution); got none")
    constants = _constants(ld, ld.table(doc, "constants", required=False), {p.name for p in parameters})
    analysis = _analysis(ld, ld.table(doc, "analysis", required=False), sampling)
    correlations = _correlations(ld, doc.get("correlations", []), parameters, sampling)
    study = Study(
        name=name, model=model, description=ld.string(st, "description", "study"), path=path,
        sha256=sha256, sampling=sampling, analysis=analysis,
        constants=constants, parameters=parameters, correlations=correlations, text=text,
    )
    if correlations:
        _check_positive_definite(ld, study)
    return study


def _sampling(ld: _Loader, t: dict, samples, seed) -> Sampling:
    p = "sampling"
    ld.known(t, p, ("method", "samples", "seed", "second_order", "replicates", "chunk_rows"))
    method = ld.string(t, "method", p, default="sobol")
    if method not in SAMPLING_METHODS:
        near = difflib.get_close_matches(method, SAMPLING_METHODS, n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        ld.fail(f"{p}.method", f"must be one of {list(SAMPLING_METHODS)}{hint}; got {method!r}")
    where_n = "--samples" if samples is not None else f"{p}.samples"
    n = samples if samples is not None else t.get("samples")
    if n is None:
        ld.fail(f"{p}.samples", "missing key; expected a positive integer")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        ld.fail(where_n, f"must be a positive integer; got {n!r}")
    where_s = "--seed" if seed is not None else f"{p}.seed"
    s = seed if seed is not None else t.get("seed")
    if s is None:
        ld.fail(f"{p}.seed", "missing key; expected a non-negative integer (the one seed every draw derives from)")
    if isinstance(s, bool) or not isinstance(s, int) or s < 0:
        ld.fail(where_s, f"must be a non-negative integer; got {s!r}")
    second = t.get("second_order", True)
    if not isinstance(second, bool):
        ld.fail(f"{p}.second_order", f"must be true or false; got {second!r}")
    reps = ld.integer(t, "replicates", p, 8 if method == "sobol" else 1)
    chunk = ld.integer(t, "chunk_rows", p, 1024)
    if method == "sobol":
        if not _is_power_of_two(reps):
            ld.fail(f"{p}.replicates", f"must be a power of two for a sobol design (try {_nearest_power_of_two(reps)}); got {reps}")
        if not _is_power_of_two(n):
            ld.fail(where_n, f"must be a power of two for a sobol design (nearest: {_nearest_power_of_two(n)}); got {n}")
        if n < 2 * reps:
            ld.fail(where_n, f"must be at least 2 × sampling.replicates ({2 * reps}) so that each replicate "
                    f"design has two or more rows; got {n}")
    return Sampling(method, n, s, second, reps, chunk)


def _parameters(ld: _Loader, t: dict) -> tuple[Parameter, ...]:
    out = []
    for name, table in t.items():
        p = f"parameters.{name}"
        if not _NAME.match(name):
            ld.fail(p, f"parameter names must be identifiers (letters, digits, '_'); got {name!r}")
        if not isinstance(table, dict):
            ld.fail(p, f"must be a table with a distribution and its arguments; got {table!r}")
        dist = table.get("distribution")
        if dist is None:
            near = difflib.get_close_matches("distribution", list(table), n=1, cutoff=0.6)
            if near:
                ld.fail(f"{p}.{near[0]}", "unknown key (did you mean 'distribution'?)")
            ld.fail(f"{p}.distribution", f"missing key; expected one of {sorted(DISTRIBUTIONS)}")
        if dist not in DISTRIBUTIONS:
            near = difflib.get_close_matches(str(dist), list(DISTRIBUTIONS), n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            ld.fail(f"{p}.distribution", f"must be one of {sorted(DISTRIBUTIONS)}{hint}; got {dist!r}")
        spec = DISTRIBUTIONS[dist]
        ld.known(table, p, ("distribution", *spec.args, *PARAM_INFO_KEYS))
        args = {a: ld.number(table, a, p) for a in spec.args}
        bad = spec.check(args)
        if bad:
            ld.fail(f"{p}.{bad[0]}", bad[1])
        info = {k: ld.string(table, k, p) for k in PARAM_INFO_KEYS}
        out.append(Parameter(name, dist, args, **info))
    return tuple(out)


def _constants(ld: _Loader, t: dict, params: set[str]) -> tuple[Constant, ...]:
    out = []
    for name, val in t.items():
        p = f"constants.{name}"
        if not _NAME.match(name):
            ld.fail(p, f"constant names must be identifiers (letters, digits, '_'); got {name!r}")
        if name in params:
            ld.fail(p, "is also declared under [parameters]; a name must be either a constant or a parameter")
        if isinstance(val, dict):
            ld.known(val, p, CONSTANT_KEYS)
            out.append(Constant(name, ld.number(val, "value", p),
                                **{k: ld.string(val, k, p) for k in CONSTANT_KEYS[1:]}))
        else:
            out.append(Constant(name, ld.number(t, name, "constants")))
    return tuple(out)


def _analysis(ld: _Loader, t: dict, sampling: Sampling) -> Analysis:
    p = "analysis"
    ld.known(t, p, Analysis.__slots__)
    default_methods = {"sobol": ("sobol",), "morris": ("morris",), "latin": ("delta",)}[sampling.method]
    methods = ld.strings(t, "methods", p, default_methods, ANALYSIS_METHODS)
    if "sobol" in methods and sampling.method != "sobol":
        ld.fail(f"{p}.methods", f"'sobol' needs sampling.method = 'sobol'; got sampling.method = {sampling.method!r}")
    conf = ld.number(t, "conf_level", p, required=False, default=0.95)
    if not 0 < conf < 1:
        ld.fail(f"{p}.conf_level", f"must be between 0 and 1 (exclusive); got {conf!r}")
    ci_default = "replicates" if sampling.replicates > 1 else "bootstrap"
    ci = ld.string(t, "ci", p, default=ci_default)
    if ci not in CI_METHODS:
        ld.fail(f"{p}.ci", f"must be one of {list(CI_METHODS)}; got {ci!r}")
    if ci == "replicates" and "sobol" in methods and sampling.replicates < 2:
        ld.fail(f"{p}.ci", f"'replicates' needs sampling.replicates >= 2; got sampling.replicates = {sampling.replicates}")
    tol = ld.number(t, "tolerance", p, required=False, default=0.05)
    if not tol > 0:
        ld.fail(f"{p}.tolerance", f"must be positive; got {tol!r}")
    levels = ld.integer(t, "morris_levels", p, 4, minimum=2, what="an integer >= 2")
    variants = ld.strings(t, "variants", p, ())
    if levels % 2:
        ld.fail(f"{p}.morris_levels", f"must be even (Morris's symmetric step needs it); got {levels}")
    return Analysis(
        methods=methods, conf_level=conf, resamples=ld.integer(t, "resamples", p, 1000), ci=ci,
        headline=ld.strings(t, "headline", p, ()), key_output=ld.string(t, "key_output", p),
        outputs=ld.strings(t, "outputs", p, ()), tolerance=tol,
        morris_trajectories=ld.integer(t, "morris_trajectories", p, 64, minimum=2, what="an integer >= 2"),
        morris_levels=levels, variants=variants,
        variant_samples=ld.integer(t, "variant_samples", p, 0),
    )


def _correlations(ld: _Loader, items, parameters, sampling) -> tuple[Correlation, ...]:
    if not items:
        return ()
    if not isinstance(items, list):
        ld.fail("correlations", f"must be an array of tables ([[correlations]]); got {items!r}")
    names = {p.name for p in parameters}
    out, seen = [], set()
    for i, t in enumerate(items):
        p = f"correlations[{i}]"
        if not isinstance(t, dict):
            ld.fail(p, f"must be a table; got {t!r}")
        ld.known(t, p, ("params", "rank", "reason"))
        pair = t.get("params")
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) for x in pair)):
            ld.fail(f"{p}.params", f"must be a list of two parameter names; got {pair!r}")
        for x in pair:
            if x not in names:
                near = difflib.get_close_matches(x, sorted(names), n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                ld.fail(f"{p}.params", f"must name declared parameters{hint}; got {x!r}")
        if pair[0] == pair[1] or frozenset(pair) in seen:
            ld.fail(f"{p}.params", f"must be two different parameters, each pair declared once; got {pair!r}")
        seen.add(frozenset(pair))
        rank = ld.number(t, "rank", p)
        if not -1 < rank < 1:
            ld.fail(f"{p}.rank", f"must be a Spearman correlation strictly between -1 and 1; got {rank!r}")
        out.append(Correlation((pair[0], pair[1]), rank, ld.string(t, "reason", p)))
    if sampling.method != "latin":
        ld.fail("sampling.method", "must be 'latin' when [[correlations]] are declared (Sobol indices and Morris "
                f"screening assume independent inputs); got {sampling.method!r}")
    return tuple(out)


def _check_positive_definite(ld: _Loader, study: Study) -> None:
    # Spearman rho -> Pearson r of the Gaussian copula (Pearson 1907).
    r = 2 * np.sin(np.pi * study.correlation_matrix() / 6)
    if np.linalg.eigvalsh(r).min() <= 1e-10:
        ld.fail("correlations", "must form a positive-definite correlation matrix; the declared ranks "
                "contradict each other (lower some of them)")
