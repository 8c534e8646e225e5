"""``run_study(model=<function>)`` runs resume (issue 18): the run records the function's
qualified name and hashes (``mcsens.inline.describe``); a resume with the same function
finishes it to the numbers of an uninterrupted run, a changed one is refused in one line
naming what changed, and a resume without ``model=`` says what to pass."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from mcsens import inline, run_study
from study.errors import RunError, StudyError
from tests.helpers import ROOT

ISHIGAMI = ROOT / "params" / "ishigami.toml"
STOP = {"after": None, "calls": 0}  # a global, as a notebook's would be: not part of the function's identity


def evaluate(x):
    STOP["calls"] += 1
    if STOP["after"] is not None and STOP["calls"] > STOP["after"]:
        raise RuntimeError("the kernel died")
    y = np.sin(x.x1) + x.a * np.sin(x.x2) ** 2 + x.b * x.x3**4 * np.sin(x.x1)
    return xr.Dataset({"y": y, "y_positive": (y > 0).astype(float)})


def evaluate_edited(x):
    y = np.sin(x.x1) + x.a * np.sin(x.x2) ** 2 + x.b * x.x3**4 * np.sin(x.x1)
    return xr.Dataset({"y": y, "y_positive": (y > 0).astype(float)})


def _run(out, **kw):
    # Chunks of 16 base rows: the 64 of the Sobol design and the 64 trajectories take 4 calls each.
    study_file = out.parent / "ishigami.toml"
    study_file.write_text(ISHIGAMI.read_text().replace("chunk_rows = 256", "chunk_rows = 16"))
    return run_study(study_file, samples=64, out=out, model=evaluate, figures=False, appendix=False, **kw)


@pytest.fixture
def broken_run(tmp_path):
    """A run of ``evaluate`` that failed after its probe and two of its Sobol design's four chunks."""
    STOP.update(after=3, calls=0)
    try:
        with pytest.raises(StudyError, match="raised RuntimeError: the kernel died"):
            _run(tmp_path / "broken")
    finally:
        STOP.update(after=None, calls=0)
    (run_dir,) = (tmp_path / "broken" / "ishigami").iterdir()
    return run_dir


def test_the_run_records_the_functions_name_and_hashes(broken_run):
    model = json.loads((broken_run / "manifest.json").read_text())["model"]
    assert model["ref"].startswith("mcsens.inline:evaluate_")
    assert model["function"] == {
        "qualname": "tests.test_inline_resume.evaluate", "kind": "function",
        "source_sha256": model["sha256"], "module_file": __file__,
        "module_sha256": inline._sha(open(__file__, "rb").read()), "bound_sha256": None}


def test_a_resume_with_the_same_function_gives_the_numbers_of_an_uninterrupted_run(broken_run, tmp_path):
    assert json.loads((broken_run / "manifest.json").read_text())["status"] == "failed"
    STOP["calls"] = 0
    resumed = run_study(resume=broken_run, model=evaluate, figures=False, appendix=False)
    resume_calls = STOP["calls"]
    (tmp_path / "straight").mkdir()
    STOP["calls"] = 0
    straight = _run(tmp_path / "straight")
    # The uninterrupted run probes once and evaluates every chunk; the resume skipped the two kept.
    assert resume_calls == STOP["calls"] - 1 - 2
    with xr.open_dataset(resumed / "results.nc") as a, xr.open_dataset(straight / "results.nc") as b:
        np.testing.assert_array_equal(a["y"].values, b["y"].values)
        assert a.attrs["model"] == b.attrs["model"]
    pd.testing.assert_frame_equal(pd.read_csv(resumed / "indices.csv"), pd.read_csv(straight / "indices.csv"))
    assert json.loads((resumed / "manifest.json").read_text())["status"] == "complete"


def test_a_resume_with_another_function_is_refused_naming_it(broken_run):
    with pytest.raises(RunError) as e:
        run_study(resume=broken_run, model=evaluate_edited)
    assert str(e.value) == (
        f"{broken_run}: model: must be the function the run was started with (tests.test_inline_resume.evaluate), "
        "unchanged; it is another function (tests.test_inline_resume.evaluate_edited, the run's is "
        "tests.test_inline_resume.evaluate): resuming would mix two models' outputs, start a new run instead")
    assert json.loads((broken_run / "manifest.json").read_text())["status"] == "failed"  # refused before any work


def test_a_resume_without_the_function_says_what_to_pass(broken_run):
    with pytest.raises(RunError) as e:
        run_study(resume=broken_run)
    assert str(e.value) == (
        f"{broken_run}: model: must be the function the run was started with (tests.test_inline_resume.evaluate), "
        f"to resume a run of a function: run_study(resume={str(broken_run)!r}, model=evaluate) from Python (the "
        "command line cannot pass a function); got none")


def test_the_command_line_resume_of_a_function_run_is_one_line_and_status_2(broken_run):
    r = subprocess.run([sys.executable, "-m", "study", "run", "--resume", str(broken_run)], capture_output=True,
                       text=True, cwd=broken_run.parent, timeout=120)
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1
    assert r.stderr.endswith(f"model=evaluate) from Python (the command line cannot pass a function); got none\n")


# --- what identifies a function whose source changes ---------------------------------------

def _module(tmp_path, name, text):
    """A fresh module from a file, as a re-run notebook or an edited helper module gives."""
    import importlib.util

    path = tmp_path / name / "nbmodel.py"
    path.parent.mkdir()
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("nbmodel", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["nbmodel"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_an_edited_source_a_lambda_and_a_closure_are_told_apart(tmp_path, monkeypatch):
    monkeypatch.delitem(sys.modules, "nbmodel", raising=False)
    old = _module(tmp_path, "v1", "def f(x):\n    return x + 1\n\ng = lambda x: x + 1\n")
    recorded = inline.describe(old.f)
    new = _module(tmp_path, "v2", "def f(x):\n    return x + 2\n\ng = lambda x: x + 2\n")
    assert inline.changed(recorded, new.f).startswith(f"its source changed (sha256 {recorded['source_sha256'][:12]}…")
    # A lambda's source line is the call that passed it: its compiled code identifies it.
    lam = inline.describe(old.g)
    assert lam["kind"] == "lambda" and inline.changed(lam, new.g).startswith("its compiled code changed")

    def closure(k):
        def h(x):
            return x * k
        return h

    rec = inline.describe(closure(2))
    assert rec["kind"] == "closure" and inline.changed(rec, closure(2)) is None
    assert inline.changed(rec, closure(3)).startswith("the values it is bound to (defaults, closure variables) "
                                                      "changed")
