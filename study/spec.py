"""Study files: TOML in, a validated frozen :class:`Study` out.

All checks live here (the records only store), so a study that loads is a study that can
be sampled. Every error names the file and the key path, says what was expected and what
was found: ``params/x.toml: parameters.x1.high: must be greater than low (1.0); got 0.0``.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import sys
import tomllib
from decimal import Decimal
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .adapters import ModelOptions, check_seed_name, parse_model
from .design import layout
from .distributions import DISTRIBUTIONS, SCIPY_PREFIX, get, scipy_names, support_problem
from .errors import InternalError, StudyError
from .extends import dumps, flatten
from .readings import INLINE, Readings, names_files, reading_documents

#: The flagship study, run by ``study run`` without a study file (relative to the working directory).
DEFAULT_STUDY = Path("params") / "asia_pacification.toml"
SAMPLING_METHODS = ("sobol", "morris", "latin", "surrogate")
SURROGATES = ("pce", "gp")
#: Fewest runs a surrogate is fitted to: its leave-one-out Q² and degree search need a few dozen.
MIN_SURROGATE_RUNS = 20
CI_METHODS = ("replicates", "bootstrap", "bootstrap-percentile")
PARAM_INFO_KEYS = ("group", "label", "unit", "description", "source", "label_zh")
REPORT_LANGUAGES = ("en", "zh")
CONSTANT_KEYS = ("value", "label", "unit", "description", "source")
#: Parameter, constant and group names: netCDF variable names and file-name parts on every
#: system (matched whole, so a trailing newline is refused too).
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
#: Study names: the run's folder name, so short and plain on every file system.
_STUDY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
#: Names the run files use for their own coordinates and the failure record.
RESERVED_NAMES = ("sample", "row", "matrix", "replicate", "trajectory", "step", "status")
#: Seeds are stored as 64-bit signed integers (netCDF attributes, SeedSequence entropy).
MAX_SEED = 2**63 - 1
#: Bootstrap intervals take a standard deviation over the resamples: two at least.
MIN_RESAMPLES = 2
#: Default budget of a run ([sampling].max_runs, [sampling].max_storage_gb raise it).
MAX_RUNS = 10**8
MAX_STORAGE_GB = 100.0
#: Latin and Morris designs are built whole: their points, plus the uniform draws and the
#: permutations (or grid indices) they are made from, about three arrays of rows × inputs.
DESIGN_COPIES = 3


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
    label_zh: str = ""

    def describe(self) -> str:
        """Short notation of the distribution, e.g. ``Tri(0.05, 0.2, 0.6)``."""
        return get(self.distribution).describe(self.args)

    @property
    def kind(self) -> str:
        """``"continuous"``, ``"integer"`` or ``"categorical"`` (see :mod:`study.distributions`)."""
        return get(self.distribution).kind


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
    max_runs: int = MAX_RUNS
    max_storage_gb: float = MAX_STORAGE_GB


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
    surrogate: str = "pce"
    budget: int = 512
    #: The keys the file's ``[analysis]`` table sets (the analysis layer refuses a key that
    #: only a method the study does not name reads: ``analysis.methods.check_study``).
    given: frozenset = frozenset()


#: The keys of ``[analysis]`` (``given`` is the loader's record of them, not a key).
ANALYSIS_KEYS = tuple(k for k in Analysis.__slots__ if k != "given")


@dataclass(frozen=True, slots=True)
class Report:
    """``[report]``: the languages the appendix is written in (English is always written), and
    the inputs whose range the run re-runs moved by ±5% and ±10% (``shift_runs``)."""

    languages: tuple[str, ...] = ("en",)
    shift_runs: tuple[str, ...] = ()


#: ``[storage].precision`` choices: float outputs stored as float64 (lossless, the default) or float32.
PRECISIONS = ("float64", "float32")


@dataclass(frozen=True, slots=True)
class Storage:
    """``[storage]``: how float outputs are stored. ``"float32"`` halves them at a relative
    error of at most 2**-24 (round to nearest); inputs stay float64 (the estimators read them)."""

    precision: str = "float64"


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
    report: Report = Report()
    model_options: ModelOptions = ModelOptions()
    readings: Readings | None = None
    storage: Storage = Storage()

    def __repr__(self) -> str:  # the generated one spells out every field (1,600 characters)
        d = self.sampling
        return (f"<Study {self.name!r} from {str(self.path)!r}: model {self.model!r}, "
                f"{len(self.parameters)} parameters, {d.method} design, N = {d.samples}, seed {d.seed}>")

    def _repr_html_(self) -> str:
        import html

        rows = "".join(f"<tr><td><code>{html.escape(p.name)}</code></td><td>{html.escape(p.label or '')}</td>"
                       f"<td>{html.escape(p.describe())}</td></tr>" for p in self.parameters)
        return (f"<div>{html.escape(repr(self))}<table><tr><th>parameter</th><th>label</th><th>distribution</th>"
                f"</tr>{rows}</table></div>")

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

    def scoped(self, scope: dict | None) -> "Study":
        """A copy whose analysis computes only ``scope["methods"]`` on ``scope["outputs"]``
        (and, where the scope says ``"second_order": False``, whose Sobol' design has no ``BA`` blocks).

        A variant run records such a scope in its manifest (see ``analysis_scope`` in
        :mod:`mcsens.runner`); ``None`` leaves the study as it is.
        """
        if not scope:
            return self
        from dataclasses import replace

        sampling = self.sampling
        if "second_order" in scope:  # a variant's design without BA blocks (nothing reads its S2)
            sampling = replace(sampling, second_order=scope["second_order"])
        return replace(self, sampling=sampling, analysis=replace(self.analysis, methods=tuple(scope["methods"]),
                                                                 outputs=tuple(scope["outputs"])))


# -- helpers that produce the one wording ------------------------------------------------


def key_text(key: str) -> str:
    """A key of the document as the error message shows it: bare if plain, else quoted.

    TOML keys may hold newlines and any unicode; quoting them (Python's ``repr`` escapes
    line breaks of every kind) keeps every message on one line.
    """
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else repr(key)


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
            self.fail(key, f"must be a table; got {_short(val)}")
        return val

    def known(self, table: dict, prefix: str, allowed) -> None:
        for k in table:
            if k not in allowed:
                near = difflib.get_close_matches(k, list(allowed), n=1, cutoff=0.6)
                hint = f" (did you mean {near[0]!r}?)" if near else f"; expected one of {sorted(allowed)}"
                self.fail(f"{prefix}.{key_text(k)}" if prefix else key_text(k), f"unknown key{hint}")

    def string(self, table, key, prefix, *, required=False, default=""):
        if key not in table:
            if required:
                self.fail(f"{prefix}.{key}", "missing key; expected a string")
            return default
        val = table[key]
        if not isinstance(val, str):
            self.fail(f"{prefix}.{key}", f"must be a string; got {_short(val)}")
        return val

    def number(self, table, key, prefix, *, required=True, default=None) -> float:
        if key not in table:
            if required:
                self.fail(f"{prefix}.{key}", "missing key; expected a number")
            return default
        val = table[key]
        if isinstance(val, bool) or not isinstance(val, (int, float)) or not _finite_float(val):
            self.fail(f"{prefix}.{key}", f"must be a finite number; got {_short(val)}")
        return float(val)

    def integer(self, table, key, prefix, default, *, minimum=1, what="a positive integer"):
        if key not in table:
            return default
        val = table[key]
        if isinstance(val, bool) or not isinstance(val, int) or val < minimum:
            self.fail(f"{prefix}.{key}", f"must be {what}; got {_short(val)}")
        return val

    def strings(self, table, key, prefix, default, choices=None) -> tuple[str, ...]:
        if key not in table:
            return default
        val = table[key]
        if not isinstance(val, list) or not all(isinstance(v, str) for v in val):
            self.fail(f"{prefix}.{key}", f"must be a list of strings; got {_short(val)}")
        for v in val:
            if choices is not None and v not in choices:
                self.fail(f"{prefix}.{key}", f"must contain only {list(choices)}; got {_short(v)}")
        return tuple(val)


def _finite_float(val) -> bool:
    try:
        return math.isfinite(float(val))
    except OverflowError:  # an integer beyond float64, e.g. 10**400
        return False


def _short(val, limit: int = 80) -> str:
    """``repr`` of a found value, cut to ``limit`` characters (a 5000-digit integer stays readable)."""
    try:
        text = repr(val)
    except ValueError:  # int beyond Python's digit limit for str()
        return f"an integer of about {val.bit_length() * 0.30103:.0f} digits"
    return text if len(text) <= limit else text[: limit - 1] + "…"


#: The one way a found value is shown in a message (the analysis layer's study checks use it too).
short = _short


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


def load_study(path, *, samples: int | None = None, seed: int | None = None,
               check_variants: bool = False) -> Study:
    """Read and validate a study file.

    Parameters
    ----------
    path : str or pathlib.Path
        The TOML study file.
    samples, seed : int, optional
        Overrides of ``[sampling].samples`` and ``[sampling].seed`` (the command line's
        ``--samples`` and ``--seed``), validated like the file's own values.
    check_variants : bool, default False
        Also check that every ``[analysis].variants`` file lies beside this one (or below
        its folder), exists, is a study of the same model and loads, recursively. ``study
        run`` and ``study validate`` ask for it; a run's saved ``study.toml`` is loaded
        without it, since its variants stayed beside the original. The form of each path
        (relative, no ``..``) is checked either way.

    Returns
    -------
    Study

    Raises
    ------
    StudyError
        For any mistake, naming the file (a variant's own file for a mistake in it) and
        the key path.
    """
    return _load(Path(path), samples, seed, check_variants, set())


def _read_document(path: Path) -> tuple[bytes, str, dict]:
    """The file's bytes, text and parsed TOML, or the one-line error saying why not."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise StudyError(path, "", "no such study file") from None
    except OSError as e:  # a folder, no permission, a name too long, ...
        raise StudyError(path, "", f"cannot read the study file ({e.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise StudyError(path, "", f"must be UTF-8 text; got an undecodable byte at offset {e.start}") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise _toml_error(path, e) from None
    except ValueError as e:  # tomllib lets int() refuse an integer of more than 4300 digits
        raise StudyError(path, "syntax", f"invalid TOML: {e}") from None
    except RecursionError:  # tomllib parses nested arrays and inline tables recursively
        raise StudyError(path, "syntax", "invalid TOML: must nest arrays and tables less deeply "
                         f"(Python's parser stops near {sys.getrecursionlimit()} levels)") from None
    return raw, text, doc


def _load(path: Path, samples, seed, check_variants: bool, seen: set) -> Study:
    raw, text, doc = _read_document(path)
    doc, flat, sha256 = flatten(path, doc, raw)  # [study].extends: merge the chain (study/extends.py)
    text = flat or text
    ld = _Loader(path)
    ld.known(doc, "", ("study", "sampling", "analysis", "constants", "parameters", "correlations", "report",
                      "storage"))

    st = ld.table(doc, "study")
    ld.known(st, "study", ("name", "model", "description", "vectorized", "stochastic", "replications"))
    name = ld.string(st, "name", "study", required=True)
    if not _STUDY_NAME.fullmatch(name):
        ld.fail("study.name", "must be a plain name of 1 to 64 characters (letters, digits, '_', '-', '.'; "
                "starting with a letter or digit), so that the run stays inside the output root; "
                f"got {_short(name)}")
    model, model_options = parse_model(ld, st)  # a command, per-sample, stochastic (study/adapters)
    model = model or ld.string(st, "model", "study", required=True)
    if not model_options.command and not re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", model):
        ld.fail("study.model", f"must be 'module:function' (e.g. 'mymodel:evaluate'); got {_short(model)}")

    sampling = _sampling(ld, ld.table(doc, "sampling"), samples, seed)
    parameters = _parameters(ld, ld.table(doc, "parameters", required=False))
    if not parameters:
        ld.fail("parameters", "must declare at least one uncertain parameter ([parameters.<name>] with a "
                "distribution); got none")
    constants = _constants(ld, ld.table(doc, "constants", required=False), {p.name for p in parameters})
    check_seed_name(ld, model_options, [p.name for p in parameters], [c.name for c in constants])
    readings, parameters, constants = _readings(ld, doc, model, parameters, constants)
    if readings is not None:
        text = dumps(doc)  # the saved study.toml carries each reading's declarations
    analysis = _analysis(ld, ld.table(doc, "analysis", required=False), sampling)
    correlations = _correlations(ld, doc.get("correlations", []), parameters, sampling)
    study = Study(
        name=name, model=model, description=ld.string(st, "description", "study"), path=path,
        sha256=sha256, sampling=sampling, analysis=analysis,
        constants=constants, parameters=parameters, correlations=correlations, text=text,
        report=_report(ld, ld.table(doc, "report", required=False), name, parameters, correlations),
        model_options=model_options,
        readings=readings, storage=_storage(ld, ld.table(doc, "storage", required=False)),
    )
    if correlations:
        _check_positive_definite(ld, study)
    # The main design only: the methods' extra designs (Morris, surrogate) are the analysis
    # layer's to name, and analysis.methods.check_study checks them all with the same words.
    check_designs(study, (sampling.method,), samples_key(samples))
    if check_variants:
        seen.add(path.resolve())
        _check_variants(ld, study, seen)
    return study


def _sampling(ld: _Loader, t: dict, samples, seed) -> Sampling:
    p = "sampling"
    ld.known(t, p, ("method", "samples", "seed", "second_order", "replicates", "chunk_rows", "max_runs",
                    "max_storage_gb"))
    method = ld.string(t, "method", p, default="sobol")
    if method not in SAMPLING_METHODS:
        near = difflib.get_close_matches(method, SAMPLING_METHODS, n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        ld.fail(f"{p}.method", f"must be one of {list(SAMPLING_METHODS)}{hint}; got {_short(method)}")
    where_n = "--samples" if samples is not None else f"{p}.samples"
    n = samples if samples is not None else t.get("samples")
    if n is None:
        ld.fail(f"{p}.samples", "missing key; expected a positive integer")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        ld.fail(where_n, f"must be a positive integer; got {_short(n)}")
    where_s = "--seed" if seed is not None else f"{p}.seed"
    s = seed if seed is not None else t.get("seed")
    if s is None:
        ld.fail(f"{p}.seed", "missing key; expected a non-negative integer (the one seed every draw derives from)")
    if isinstance(s, bool) or not isinstance(s, int) or s < 0:
        ld.fail(where_s, f"must be a non-negative integer; got {_short(s)}")
    if s > MAX_SEED:
        ld.fail(where_s, f"must be at most 2**63 - 1 ({MAX_SEED}), the largest seed a run can record; "
                f"got {_short(s)}")
    second = t.get("second_order", True)
    if not isinstance(second, bool):
        ld.fail(f"{p}.second_order", f"must be true or false; got {_short(second)}")
    reps = ld.integer(t, "replicates", p, 8 if method == "sobol" else 1)
    chunk = ld.integer(t, "chunk_rows", p, 1024)
    max_runs = ld.integer(t, "max_runs", p, MAX_RUNS)
    max_gb = ld.number(t, "max_storage_gb", p, required=False, default=MAX_STORAGE_GB)
    if not max_gb > 0:
        ld.fail(f"{p}.max_storage_gb", f"must be positive; got {max_gb!r}")
    if method == "surrogate" and n < MIN_SURROGATE_RUNS:
        ld.fail(where_n, f"must be at least {MIN_SURROGATE_RUNS} for a surrogate design (the surrogate's "
                f"leave-one-out validation needs a few dozen runs); got {n}")
    if method in ("latin", "morris") and n < 2:
        why = {"latin": "a Latin hypercube of one point is a single random draw",
               "morris": "N is the number of trajectories, and sigma and mu_star's interval need two"}[method]
        ld.fail(where_n, f"must be at least 2 for a {method} design ({why}); got {n}")
    if method == "sobol":
        if not _is_power_of_two(reps):
            ld.fail(f"{p}.replicates", f"must be a power of two for a sobol design (try {_nearest_power_of_two(reps)}); got {reps}")
        if not _is_power_of_two(n):
            ld.fail(where_n, f"must be a power of two for a sobol design (nearest: {_nearest_power_of_two(n)}); got {n}")
        if n < 2 * reps:
            ld.fail(where_n, f"must be at least 2 × sampling.replicates ({2 * reps}) so that each replicate "
                    f"design has two or more rows; got {n}")
    return Sampling(method, n, s, second, reps, chunk, max_runs, max_gb)


def _parameters(ld: _Loader, t: dict) -> tuple[Parameter, ...]:
    out = []
    for name, table in t.items():
        p = f"parameters.{key_text(name)}"
        _check_name(ld, p, "parameter", name)
        if not isinstance(table, dict):
            ld.fail(p, f"must be a table with a distribution and its arguments; got {_short(table)}")
        dist = _distribution_name(ld, table, p)
        spec = get(dist)
        inline = (INLINE,) if spec.kind == "categorical" else ()
        ld.known(table, p, ("distribution", *spec.args, *spec.optional, *inline, *PARAM_INFO_KEYS))
        args = _distribution_args(ld, table, p, spec)
        bad = spec.check(args) or support_problem(dist, args)
        if bad:
            ld.fail(f"{p}.{bad[0]}", bad[1])
        info = {k: ld.string(table, k, p) for k in PARAM_INFO_KEYS}
        if info["group"]:
            _check_name(ld, f"{p}.group", "group", info["group"])
        out.append(Parameter(name, dist, args, **info))
    _check_groups(ld, out)
    return tuple(out)


def _distribution_name(ld: _Loader, table: dict, p: str) -> str:
    """The parameter's ``distribution``: a named family or ``scipy.<name>``, with a hint when mistyped."""
    dist = table.get("distribution")
    expected = f"one of {sorted(DISTRIBUTIONS)} or 'scipy.<name>' of a scipy.stats distribution"
    if dist is None:
        near = difflib.get_close_matches("distribution", list(table), n=1, cutoff=0.6)
        if near:
            ld.fail(f"{p}.{near[0]}", "unknown key (did you mean 'distribution'?)")
        ld.fail(f"{p}.distribution", f"missing key; expected {expected}")
    if isinstance(dist, str) and dist.startswith(SCIPY_PREFIX):
        names = scipy_names()
        if dist[len(SCIPY_PREFIX):] not in names:
            near = difflib.get_close_matches(dist[len(SCIPY_PREFIX):], names, n=1)
            hint = f" (did you mean {SCIPY_PREFIX + near[0]!r}?)" if near else ""
            ld.fail(f"{p}.distribution", f"must name a scipy.stats distribution after 'scipy.'{hint}; "
                    f"got {_short(dist)}")
        return dist
    if not isinstance(dist, str) or dist not in DISTRIBUTIONS:
        near = difflib.get_close_matches(dist, list(DISTRIBUTIONS), n=1) if isinstance(dist, str) else []
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        ld.fail(f"{p}.distribution", f"must be {expected}{hint}; got {_short(dist)}")
    return dist


def _distribution_args(ld: _Loader, table: dict, p: str, spec) -> dict:
    """The distribution's arguments as the loader's types: numbers, whole numbers, a categorical's lists."""
    if spec.kind == "categorical":
        return _categorical_args(ld, table, p)
    args = {a: ld.number(table, a, p) for a in spec.args}
    args.update({a: ld.number(table, a, p) for a in spec.optional if a in table})
    for a in spec.whole:
        if not args[a].is_integer() or isinstance(table[a], float):
            ld.fail(f"{p}.{a}", f"must be an integer (the bounds of an integer distribution are included); "
                    f"got {_short(table[a])}")
    return args


def _categorical_args(ld: _Loader, table: dict, p: str) -> dict:
    values = table.get("values")
    if values is None:
        ld.fail(f"{p}.values", "missing key; expected a list of the categories (numbers or strings)")
    if not isinstance(values, list) or not all(
            isinstance(v, str) or (isinstance(v, (int, float)) and not isinstance(v, bool) and _finite_float(v))
            for v in values):
        ld.fail(f"{p}.values", f"must be a list of finite numbers or of strings; got {_short(values)}")
    args = {"values": tuple(v if isinstance(v, str) else float(v) for v in values)}
    if INLINE in table and not names_files(values):
        ld.fail(f"{p}.{INLINE}", "is only for a reading factor (a categorical whose values name study files)")
    if "weights" in table:
        w = table["weights"]
        if not isinstance(w, list) or not all(
                isinstance(x, (int, float)) and not isinstance(x, bool) and _finite_float(x) for x in w):
            ld.fail(f"{p}.weights", f"must be a list of finite numbers; got {_short(w)}")
        args["weights"] = tuple(float(x) for x in w)
    return args


def _reading_factor(ld: _Loader, parameters) -> Parameter | None:
    """The categorical whose values name study files, if any (one per study)."""
    found = [p for p in parameters if p.kind == "categorical" and names_files(p.args["values"])]
    if len(found) > 1:
        ld.fail(f"parameters.{found[1].name}.values", f"must not name study files: {found[0].name!r} is already "
                f"this study's reading factor (one per study); got {list(found[1].args['values'])!r}")
    return found[0] if found else None


def _readings(ld: _Loader, doc: dict, model: str, parameters, constants):
    """Resolve a reading factor: each reading's own declarations, checked and kept inline.

    Returns the :class:`~study.readings.Readings` (or None), the study's parameters with
    every input some reading samples (the first reading's declaration describes it), and its
    constants without those. ``doc`` gains the inline declarations.
    """
    factor = _reading_factor(ld, parameters)
    if factor is None:
        return None, parameters, constants
    table = dict(doc["parameters"][factor.name])
    sections = reading_documents(ld.path, doc, factor.name, table, model)
    own = {d.name: d for d in (*parameters, *constants)}
    declarations = {}
    for value, sec in sections.items():
        vld = ld if value in table.get(INLINE, {}) or value == ld.path.name else _Loader(ld.path.parent / value)
        vp = _parameters(vld, sec["parameters"]) if sec["parameters"] else ()
        vc = _constants(vld, sec["constants"], {p.name for p in vp})
        for d in (*vp, *vc):
            if d.name not in own:
                ld.fail(f"parameters.{factor.name}.values", f"must name readings that set only inputs this study "
                        f"declares (give {d.name!r} its value under this study's own reading in [constants]); got "
                        f"{value!r}, which declares {d.name!r}")
            if hasattr(d, "distribution") and d.kind == "categorical" and names_files(d.args["values"]):
                ld.fail(f"parameters.{factor.name}.values", f"must name readings without a reading factor of "
                        f"their own; got {value!r}, which declares {d.name!r}")
        declarations[value] = {d.name: d for d in (*vp, *vc)}
    varying = sorted({n for d in declarations.values() for n in d})
    readings = Readings(factor.name, tuple(factor.args["values"]), declarations, {n: own[n] for n in varying})
    sampled = {n for n in varying if any(hasattr(readings.declaration(v, n), "distribution") for v in readings.values)}
    added = [next(readings.declaration(v, n) for v in readings.values
                  if hasattr(readings.declaration(v, n), "distribution"))
             for n in sorted(sampled - {p.name for p in parameters})]
    table[INLINE] = sections  # the study's own reading too: a saved copy is no longer named like it
    doc["parameters"] = {**doc["parameters"], factor.name: table}
    return readings, (*parameters, *added), tuple(c for c in constants if c.name not in sampled)


def _check_name(ld: _Loader, key: str, kind: str, name: str) -> None:
    """Names become netCDF variables and parts of file names, beside the run's own coordinates."""
    if not _NAME.fullmatch(name):
        ld.fail(key, f"{kind} names must be identifiers of at most 64 characters (a letter, then letters, "
                f"digits, '_'); got {_short(name)}")
    if name in RESERVED_NAMES and kind != "group":
        ld.fail(key, f"must not be one of the names the run files use themselves ({', '.join(RESERVED_NAMES)}); "
                f"got {name!r}")


def _check_groups(ld: _Loader, parameters: list[Parameter]) -> None:
    # A group named like another parameter would merge with that parameter's own entry in
    # Study.groups (ungrouped parameters stand alone under their name). A group of one
    # member is kept: it is a legitimate family of one, whose grouped indices are the member's.
    names = {p.name for p in parameters}
    for p in parameters:
        if p.group and p.group != p.name and p.group in names:
            ld.fail(f"parameters.{p.name}.group", f"must not be the name of another parameter (the group would "
                    f"merge with it); got {p.group!r}")


def _constants(ld: _Loader, t: dict, params: set[str]) -> tuple[Constant, ...]:
    out = []
    for name, val in t.items():
        p = f"constants.{key_text(name)}"
        _check_name(ld, p, "constant", name)
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
    ld.known(t, p, ANALYSIS_KEYS)
    # What a design of each kind is for when the file names no method. Which names exist and
    # what each needs (its sampling, its extra design, its keys) is the method registry's to
    # say (analysis.methods.check_study): here only the shape, a list of strings.
    default_methods = {"sobol": ("sobol",), "morris": ("morris",), "latin": ("delta",),
                       "surrogate": ("surrogate",)}[sampling.method]
    methods = ld.strings(t, "methods", p, default_methods)
    conf = ld.number(t, "conf_level", p, required=False, default=0.95)
    if not 0 < conf < 1:
        ld.fail(f"{p}.conf_level", f"must be between 0 and 1 (exclusive); got {conf!r}")
    ci_default = "replicates" if sampling.replicates > 1 else "bootstrap"
    ci = ld.string(t, "ci", p, default=ci_default)
    if ci not in CI_METHODS:
        ld.fail(f"{p}.ci", f"must be one of {list(CI_METHODS)}; got {_short(ci)}")
    tol = ld.number(t, "tolerance", p, required=False, default=0.05)
    if not tol > 0:
        ld.fail(f"{p}.tolerance", f"must be positive; got {tol!r}")
    levels = ld.integer(t, "morris_levels", p, 4, minimum=2, what="an integer >= 2")
    variants = ld.strings(t, "variants", p, ())
    for v in variants:
        _check_variant_form(ld, v)
    if levels % 2:
        ld.fail(f"{p}.morris_levels", f"must be even (Morris's symmetric step needs it); got {levels}")
    surrogate, budget = _surrogate_keys(ld, t, p, sampling)
    return Analysis(
        methods=methods, conf_level=conf, ci=ci,
        resamples=ld.integer(t, "resamples", p, 1000, minimum=MIN_RESAMPLES,
                             what=f"an integer >= {MIN_RESAMPLES} (a bootstrap interval is the spread of "
                                  "two or more resamples)"),
        headline=ld.strings(t, "headline", p, ()), key_output=ld.string(t, "key_output", p),
        outputs=_distinct(ld, ld.strings(t, "outputs", p, ()), f"{p}.outputs"), tolerance=tol,
        morris_trajectories=ld.integer(t, "morris_trajectories", p, 64, minimum=2, what="an integer >= 2"),
        morris_levels=levels, variants=variants,
        variant_samples=ld.integer(t, "variant_samples", p, 0), surrogate=surrogate, budget=budget,
        given=frozenset(t),
    )


def _distinct(ld: _Loader, names: tuple[str, ...], key: str) -> tuple[str, ...]:
    """Refuse a name listed twice (each would be analysed, and reported, twice)."""
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        ld.fail(key, f"must list each output once; got {dup!r} {names.count(dup)} times")
    return names


def _surrogate_keys(ld: _Loader, t: dict, p: str, sampling: Sampling) -> tuple[str, int]:
    """``analysis.surrogate`` and ``analysis.budget`` (runs of the extra surrogate design)."""
    surrogate = ld.string(t, "surrogate", p, default="pce")
    if surrogate not in SURROGATES:
        ld.fail(f"{p}.surrogate", f"must be one of {list(SURROGATES)}; got {_short(surrogate)}")
    if "budget" in t and sampling.method == "surrogate":
        ld.fail(f"{p}.budget", "must not be set when sampling.method = 'surrogate' (sampling.samples is the "
                f"surrogate's budget); got {_short(t['budget'])}")
    budget = ld.integer(t, "budget", p, 512, minimum=MIN_SURROGATE_RUNS,
                        what=f"an integer >= {MIN_SURROGATE_RUNS} (runs of the surrogate design)")
    return surrogate, (sampling.samples if sampling.method == "surrogate" else budget)


def _report(ld: _Loader, t: dict, name: str, parameters, correlations) -> Report:
    ld.known(t, "report", ("languages", "shift_runs"))
    langs = ld.strings(t, "languages", "report", ("en",), REPORT_LANGUAGES)
    if not langs or len(set(langs)) < len(langs):
        ld.fail("report.languages", f"must list each of {list(REPORT_LANGUAGES)} at most once, and at least "
                f"one; got {list(langs)!r}")
    shifts = ld.strings(t, "shift_runs", "report", ())
    _check_shift_runs(ld, shifts, name, parameters, correlations)
    return Report(langs, shifts)


def _storage(ld: _Loader, t: dict) -> Storage:
    ld.known(t, "storage", ("precision",))
    precision = ld.string(t, "precision", "storage", default="float64")
    if precision not in PRECISIONS:
        ld.fail("storage.precision", f"must be one of {list(PRECISIONS)}; got {_short(precision)}")
    return Storage(precision)


def _check_shift_runs(ld: _Loader, shifts, name: str, parameters, correlations) -> None:
    """Each input named once, bounded, independent, and valid with its range moved by ±10%."""
    from .shifts import RANGE_MOVES, SUFFIX, range_move

    key = "report.shift_runs"
    by_name = {p.name: p for p in parameters}
    correlated = {n for c in correlations for n in c.params}
    if len(set(shifts)) < len(shifts):
        ld.fail(key, f"must name each parameter at most once; got {list(shifts)!r}")
    if shifts and len(name + SUFFIX) > 64:  # the re-runs' study name must stay a valid name
        ld.fail(key, f"needs a study name of at most {64 - len(SUFFIX)} characters (its re-runs are named "
                f"<name>{SUFFIX}); got {name!r}")
    for s in shifts:
        p = by_name.get(s)
        if p is None:
            ld.fail(key, f"must name uncertain parameters ({', '.join(by_name)}); got {_short(s)}")
        if not {"low", "high"} <= set(p.args):
            ld.fail(key, f"must name parameters with a bounded range (low and high) to move; got {s!r}, "
                    f"a {p.distribution} distribution (its centre shifts are reweighted instead)")
        if s in correlated:
            ld.fail(key, f"must name parameters outside [[correlations]] (moving one margin under a fixed "
                    f"copula is a choice the study never made); got {s!r}")
        for c in RANGE_MOVES:
            bad = DISTRIBUTIONS[p.distribution].check(range_move(p.distribution, p.args, c))
            if bad:
                ld.fail(key, f"must name parameters whose range can move by {c:+.0%} ({s}.{bad[0]} "
                        f"{bad[1]}); got {s!r}")


def _correlations(ld: _Loader, items, parameters, sampling) -> tuple[Correlation, ...]:
    if not isinstance(items, list):  # `correlations = 0` is a mistake too, not "none declared"
        ld.fail("correlations", f"must be an array of tables ([[correlations]]); got {_short(items)}")
    if not items:
        return ()
    names = {p.name for p in parameters}
    out, seen = [], set()
    for i, t in enumerate(items):
        p = f"correlations[{i}]"
        if not isinstance(t, dict):
            ld.fail(p, f"must be a table; got {_short(t)}")
        ld.known(t, p, ("params", "rank", "reason"))
        pair = t.get("params")
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) for x in pair)):
            ld.fail(f"{p}.params", f"must be a list of two parameter names; got {_short(pair)}")
        for x in pair:
            if x not in names:
                near = difflib.get_close_matches(x, sorted(names), n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                ld.fail(f"{p}.params", f"must name declared parameters{hint}; got {_short(x)}")
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


def _check_variant_form(ld: _Loader, v: str) -> None:
    # Checked on every load, saved copies included: the form alone says whether a path could
    # leave the study's folder, before anything is read there.
    odd = v != v.strip() or any(ord(c) < 32 or c in "\\:~" for c in v)  # Windows forms, NUL, newlines
    if not v or odd or Path(v).is_absolute() or ".." in Path(v).parts:
        ld.fail("analysis.variants", "must be study files beside this one or in a folder below it (relative "
                f"paths without '..'); got {_short(v)}")


def _check_variants(ld: _Loader, study: Study, seen: set) -> None:
    """Every variant lies inside this file's folder, exists, runs the same model and loads."""
    folder = study.path.parent.resolve()
    for v in study.analysis.variants:
        target = study.path.parent / v
        try:
            real = target.resolve()
        except (OSError, RuntimeError) as e:  # a symlink loop
            ld.fail("analysis.variants", f"must list readable study files; got {v!r} ({e})")
        if not real.is_relative_to(folder):
            ld.fail("analysis.variants", f"must stay inside this study file's folder; got {v!r}, a link to {real}")
        if not real.is_file():
            ld.fail("analysis.variants", f"must list existing study files relative to this one; got {v!r}, "
                    "which does not exist")
        if real == study.path.resolve():
            ld.fail("analysis.variants", f"must list other study files than this one; got {v!r}")
        if real in seen:  # already checked (a variant listing its parent, or listed twice)
            continue
        variant = _load(target, None, None, True, seen)
        if variant.model != study.model:
            ld.fail("analysis.variants", f"must be studies of this file's model ({study.model!r}), so that they "
                    f"can be compared with it; got {v!r}, a study of {variant.model!r}")


def independent_rows(study: Study) -> int:
    """Independent rows of the main design: the Latin or surrogate points, Saltelli's A and B, all Morris points.

    What the delta method reads (``analysis.delta``'s ``METHOD.check`` refuses too few).
    """
    d = study.sampling
    if d.method in ("latin", "surrogate"):
        return d.samples
    if d.method == "sobol":
        return 2 * d.samples
    return d.samples * (len(study.parameters) + 1)


def design_runs(study: Study, kinds=None) -> list[tuple[str, int]]:
    """Model runs of each design a study evaluates, as ``(design, runs)``, main design first.

    Parameters
    ----------
    study : Study
    kinds : sequence of str, optional
        The designs evaluated, main design first (``analysis.methods.designs(study)``: the
        main one and the extra Morris or surrogate design a named method reads); by default
        the main design alone.

    Examples
    --------
    A Saltelli design runs ``N (2D + 2)`` points with second order: ``design_runs(ishigami,
    ["sobol", "morris"])`` at N = 1024, D = 3 is ``[("sobol", 8192), ("morris", 256)]`` with
    64 Morris trajectories.
    """
    d, a = study.sampling, study.analysis
    dim = len(study.parameters)
    runs = []
    for kind in kinds if kinds is not None else (d.method,):
        if kind == d.method == "sobol":
            groups = {g: m for g, m in study.groups.items()}
            runs.append(("sobol", d.samples * len(layout(study.param_names, groups, d.second_order))))
        elif kind == d.method:  # latin or surrogate: one run per point; Morris: N trajectories
            runs.append((kind, d.samples * (dim + 1) if kind == "morris" else d.samples))
        elif kind == "morris":
            runs.append(("morris", a.morris_trajectories * (dim + 1)))
        elif kind == "surrogate":
            runs.append(("surrogate", a.budget))
        else:
            raise InternalError("study.spec", "kinds", f"an extra design must be 'morris' or 'surrogate'; got {kind!r}")
    return runs


#: Coordinates stored with every run of a design (``sample`` and the design's own).
_COORDS = {"sobol": 4, "morris": 3, "latin": 1, "surrogate": 1}


def storage_bytes(study: Study, kinds=None) -> int:
    """A lower bound on the bytes a run stores: runs × (coordinates + inputs + outputs) × 8.

    The outputs counted are those ``[analysis]`` names (at least one); a model that returns
    more, or outputs with extra dimensions, stores more. ``kinds`` as in :func:`design_runs`.
    """
    a = study.analysis
    outputs = max(1, len({*a.headline, *a.outputs, *([a.key_output] if a.key_output else [])}))
    return sum(runs * 8 * (_COORDS[kind] + len(study.parameters) + outputs)
               for kind, runs in design_runs(study, kinds))


def _count(n: int) -> str:
    """``512``, ``8.8e+12``; exact digits below a million, and no overflow for any integer."""
    if n < 10**6:
        return str(n)
    try:
        return f"{float(n):.2g}"
    except OverflowError:  # beyond float64: a study file's integers are unbounded
        return f"{Decimal(n):.2g}"


def _size(n_bytes) -> str:
    """``2.1 TB``, ``220 TB``, ``512 B``: two significant figures at most, never an exponent below EB."""
    if n_bytes < 1e3:
        return f"{float(n_bytes):.0f} B"
    for unit, scale in (("EB", 18), ("PB", 15), ("TB", 12), ("GB", 9), ("MB", 6), ("kB", 3)):
        x = Decimal(n_bytes) / Decimal(10**scale)
        if x >= 1:
            break
    if x >= 1000:  # only EB gets here
        return f"{x:.2g} {unit}"
    return f"{x:.1f} {unit}" if x < Decimal("9.95") else f"{x:.0f} {unit}"


def _design_key(study: Study, kind: str, where_n: str) -> tuple[str, int]:
    """The key (and its value) that sets the size of design ``kind``."""
    if kind == study.sampling.method:
        return where_n, study.sampling.samples
    if kind == "surrogate":
        return "analysis.budget", study.analysis.budget
    return "analysis.morris_trajectories", study.analysis.morris_trajectories


def samples_key(samples: int | None) -> str:
    """The key a message about N names: ``--samples`` when the command line overrode it."""
    return "--samples" if samples is not None else "sampling.samples"


def check_designs(study: Study, kinds, where_n: str = "sampling.samples") -> None:
    """Refuse designs ``kinds`` (as in :func:`design_runs`) beyond the run's budget or memory.

    Raises
    ------
    StudyError
        Naming the key that sets the size of the design asking for the most (``where_n`` for
        the main one).
    """
    ld = _Loader(study.path)
    _check_budget(ld, study, kinds, where_n)
    _check_design_memory(ld, study, kinds, where_n)


def _check_budget(ld: _Loader, study: Study, kinds, where_n: str) -> None:
    """Refuse, before any draw, a run that would exceed ``max_runs`` or ``max_storage_gb``."""
    d = study.sampling
    per_design = design_runs(study, kinds)
    runs = sum(r for _, r in per_design)
    stored = storage_bytes(study, kinds)
    if runs <= d.max_runs and stored <= d.max_storage_gb * 1e9:
        return
    # Name the key that asks for the most: the main design's N, or the extra Morris trajectories.
    biggest = max(range(len(per_design)), key=lambda i: per_design[i][1])
    key, value = _design_key(study, per_design[biggest][0], where_n)
    ld.fail(key, f"would need {_size(stored)} of storage and {_count(runs)} model runs; the limit is "
            f"{_size(d.max_storage_gb * 1e9)} and {_count(d.max_runs)} runs (raise sampling.max_storage_gb or "
            f"sampling.max_runs to allow more); got {value}")


def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):  # not a POSIX system: no check
        return None


def _check_design_memory(ld: _Loader, study: Study, kinds, where_n: str) -> None:
    """Latin and Morris designs are drawn whole: refuse one that cannot fit in this machine's memory."""
    total = _physical_memory()
    if total is None:
        return
    for kind, runs in design_runs(study, kinds):
        if kind not in ("latin", "morris", "surrogate"):
            continue  # Saltelli designs are generated chunk by chunk where they are evaluated
        need = runs * len(study.parameters) * 8 * DESIGN_COPIES
        if need > total / 2:
            key, value = _design_key(study, kind, where_n)
            ld.fail(key, f"would need {_size(need)} of memory to draw the {kind} design at once, more than half "
                    f"of this machine's {_size(total)} (a sobol design is drawn chunk by chunk); got {value}")
