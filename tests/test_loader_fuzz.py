"""Property-based fuzzing of the study-file loader (Hypothesis).

Any document, valid or not, must give either a valid :class:`study.spec.Study` or one
:class:`study.errors.StudyError` whose message is a single line starting with the file's
path: never another exception, never a traceback. Documents start from a valid study and
are mutated: keys near the real ones, wrong types, huge, negative and non-finite numbers,
strings with newlines and unicode, tables where scalars belong and back.
"""

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from study import StudyError, load_study
from study.distributions import ppf
from study.spec import MAX_SEED

ROOT = Path(__file__).resolve().parents[1]

BASE = {
    "study": {"name": "demo", "model": "m:evaluate", "description": "fuzz"},
    "sampling": {"method": "sobol", "samples": 64, "seed": 1, "replicates": 4, "second_order": True},
    "analysis": {"methods": ["sobol"], "conf_level": 0.95, "resamples": 100, "variants": []},
    "constants": {"a": 7.0, "b": {"value": 0.1, "label": "b"}},
    "parameters": {
        "x1": {"distribution": "uniform", "low": 0.0, "high": 1.0, "group": "g"},
        "x2": {"distribution": "truncnormal", "mean": 0.5, "sd": 0.2, "low": 0.0, "high": 1.0},
        "x3": {"distribution": "lognormal", "meanlog": 0.0, "sdlog": 1.0},
    },
    "correlations": [],
}
# A second start: a correlated Latin hypercube analysed by delta and Morris.
LATIN = {**BASE, "sampling": {"method": "latin", "samples": 256, "seed": 2},
         "analysis": {"methods": ["delta", "morris"], "morris_trajectories": 8, "morris_levels": 4},
         "correlations": [{"params": ["x1", "x3"], "rank": 0.3, "reason": "fuzz"}]}
KEYS = ["study", "name", "model", "sampling", "method", "samples", "seed", "replicates", "second_order",
        "chunk_rows", "max_runs", "max_storage_gb", "analysis", "methods", "conf_level", "resamples", "ci",
        "headline", "key_output", "outputs", "tolerance", "morris_trajectories", "morris_levels", "variants",
        "variant_samples", "constants", "value", "parameters", "distribution", "low", "high", "mode", "mean",
        "sd", "meanlog", "sdlog", "group", "label", "correlations", "params", "rank", "sample", "status", "x1"]

names = st.one_of(st.sampled_from(KEYS), st.text(min_size=0, max_size=12),
                  st.sampled_from(KEYS).map(lambda k: k[:-1] + "_"), st.sampled_from(KEYS).map(str.upper))
numbers = st.one_of(
    st.integers(-(2**70), 2**70), st.sampled_from([0, 1, 2, -1, 2**40, 2**63, 2**64, 10**400, MAX_SEED]),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([1e308, -1e308, 5e-324, 1e15, 0.5]))
strings = st.one_of(st.text(max_size=30), st.sampled_from(["sobol", "latin", "morris", "delta", "uniform",
                                                           "normal", "lognormal", "replicates", "bootstrap",
                                                           "demo\n", "../x", "/etc/passwd", "a\u2028b", "$x$"]))
scalars = st.one_of(numbers, strings, st.booleans())
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(names, inner, max_size=4)), max_leaves=8)


def _real_paths(doc, prefix=()):
    for k, v in doc.items():
        yield (*prefix, k)
        if isinstance(v, dict):
            yield from _real_paths(v, (*prefix, k))


REAL_PATHS = sorted({*_real_paths(BASE), *_real_paths(LATIN), ("correlations",),
                     *(("analysis", k) for k in ("headline", "key_output", "ci", "morris_trajectories",
                                                "tolerance"))})
# Mostly a real key (or a new key beside real ones), so that mutations reach deep into the checks.
paths = st.one_of(
    st.sampled_from(REAL_PATHS).map(list),
    st.tuples(st.sampled_from(REAL_PATHS), names).map(lambda t: [*t[0][:-1], t[1]]),
    st.lists(names, min_size=1, max_size=3))
mutations = st.lists(st.tuples(st.sampled_from(["set", "delete"]), paths, values), max_size=6)


def mutate(doc: dict, edits) -> dict:
    doc = json.loads(json.dumps(doc))
    for what, path, value in edits:
        table = doc
        for key in path[:-1]:
            nxt = table.get(key)
            if not isinstance(nxt, dict):
                nxt = table[key] = {}
            table = nxt
        if what == "set":
            table[path[-1]] = value
        else:
            table.pop(path[-1], None)
    return doc


def toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # JSON's escapes are TOML's, but for DEL (invalid TOML)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{toml_key(k)} = {toml_value(x)}" for k, x in v.items()) + "}"


def to_toml(doc: dict) -> str:
    """Top-level scalars first, then one ``[table]`` per top-level table, nested tables inline."""
    lines = [f"{toml_key(k)} = {toml_value(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    for k, v in doc.items():
        if isinstance(v, dict):
            lines.append(f"[{toml_key(k)}]")
            lines += [f"{toml_key(kk)} = {toml_value(vv)}" for kk, vv in v.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def check(folder: Path, text: str) -> None:
    path = folder / "s.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        study = load_study(path, check_variants=True)
    except StudyError as e:
        message = str(e)
        assert message.startswith(f"{path}: ")
        assert len(message.splitlines()) == 1 and "\n" not in message, message
        return
    # A study that loads can be sampled: names are plain and every parameter's draws are finite.
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", study.name)
    for p in study.parameters:
        assert np.isfinite(ppf(p.distribution, p.args, np.array([2.0**-30, 0.5, 1 - 2.0**-30]))).all()
    assert study.sampling.samples >= 1 and 0 <= study.sampling.seed <= MAX_SEED


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([BASE, LATIN]), mutations)
def test_mutated_studies_load_or_fail_in_one_line(folder, base, edits):
    check(folder, to_toml(mutate(base, edits)))


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_any_text_loads_or_fails_in_one_line(folder, text):
    check(folder, text)


@pytest.mark.parametrize("base", [BASE, LATIN], ids=["sobol", "latin"])
def test_base_documents_are_valid_studies(folder, base):
    check(folder, to_toml(base))
    study = load_study(folder / "s.toml")
    assert study.param_names == ("x1", "x2", "x3") and study.sampling.method == base["sampling"]["method"]


@pytest.mark.parametrize("text, message", [
    (b"\xff\xfe[study]", "must be UTF-8 text; got an undecodable byte at offset 0"),
    (b"[sampling]\nseed = " + b"9" * 5000 + b"\n",
     "syntax: invalid TOML: Exceeds the limit (4300 digits) for integer string conversion: value has 5000 digits; "
     "use sys.set_int_max_str_digits() to increase the limit"),
    ('[study]\n"na\u2028me" = 1\n'.encode(),
     "study.'na\\u2028me': unknown key (did you mean 'name'?)"),
])
def test_command_line_gives_exit_2_and_one_line(tmp_path, text, message):
    (tmp_path / "s.toml").write_bytes(text)
    proc = subprocess.run([sys.executable, "-m", "study", "validate", "s.toml"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert (proc.returncode, proc.stderr, proc.stdout) == (2, f"error: s.toml: {message}\n", "")
