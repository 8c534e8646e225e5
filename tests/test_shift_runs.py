"""[report] shift_runs: re-runs of outward range moves, beside the main run, in the appendix."""

import json

import pytest

from analysis.appendix.robustness import robustness
from analysis.figures.data import load_run
from mcsens import run_study
from study.errors import StudyError
from study.shifts import RANGE_MOVES
from study.spec import load_study
from tests.helpers import write_study

# ok = [x1 > 0.6] with x1 ~ U(0, 1): P = 0.4; with the range moved by c, U(c, 1 + c): P = 0.4 + c.
MODEL = """import xarray as xr


def evaluate(x):
    return xr.Dataset({"ok": (x["x1"] > 0.6).astype(float), "y": x["x1"] + x["x2"]})
"""


def _study(tmp_path, report='shift_runs = ["x1"]'):
    (tmp_path / "threshold.py").write_text(MODEL)
    return write_study(tmp_path, "threshold:evaluate", name="thr", samples=64, replicates=8, chunk_rows=64,
                       extra=f'headline = ["ok"]\nvariant_samples = 32\n\n[report]\n{report}')


def _rerun_rows(run):
    table = next(b for b in robustness(load_run(run)) if getattr(b, "name", "") == "robustness-ok")
    return table.data[table.data["note"].fillna("").str.startswith("re-run")]


@pytest.fixture(scope="module")
def shifted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("shifts")
    run = run_study(_study(tmp), out=tmp / "runs", figures=False, appendix=False)
    return tmp, run


def test_each_range_move_is_a_run_beside_the_main_one_with_the_analytic_p(shifted):
    tmp, run = shifted
    items = json.loads((run / "manifest.json").read_text())["shift_runs"]
    assert [(i["param"], i["fraction"]) for i in items] == [("x1", c) for c in RANGE_MOVES]
    for i in items:
        manifest = json.loads((tmp / "runs" / "thr-shift" / i["run"].rsplit("/", 1)[-1] / "manifest.json").read_text())
        assert manifest["status"] == "complete" and manifest["variant_of"] == str(run.resolve())
        assert manifest["samples"]["N"] == 2 * 8 * 32  # a variant's A and B rows at variant_samples
        assert manifest["samples"]["method"] == "latin"
    plus10 = load_study(run / "shifts" / "x1+10.toml")
    assert plus10.name == "thr-shift" and plus10.parameter("x1").args == pytest.approx({"low": 0.1, "high": 1.1})
    rows = _rerun_rows(run)
    assert list(rows["shift"]) == [f"range {c:+g}" for c in RANGE_MOVES]
    assert set(rows["note"]) == {"re-run (N = 512)"}
    for c, r in zip(RANGE_MOVES, rows.itertuples()):
        assert r.conf_low <= 0.4 + c <= r.conf_high and abs(r.value - (0.4 + c)) < 0.03, (c, r)


def test_resume_reuses_complete_shift_runs_and_resumes_an_unfinished_one(shifted):
    tmp, run = shifted
    manifest = json.loads((run / "manifest.json").read_text())
    dirs = [i["run"] for i in manifest["shift_runs"]]
    # As if the main run had been stopped while its last re-run was evaluated.
    (run / "manifest.json").write_text(json.dumps(manifest | {"status": "interrupted"}))
    last = tmp / "runs" / "thr-shift" / dirs[-1].rsplit("/", 1)[-1] / "manifest.json"
    last.write_text(json.dumps(json.loads(last.read_text()) | {"status": "interrupted"}))
    run_study(resume=run, figures=False, appendix=False)
    again = json.loads((run / "manifest.json").read_text())
    assert again["status"] == "complete" and [i["run"] for i in again["shift_runs"]] == dirs
    assert len(list((tmp / "runs" / "thr-shift").iterdir())) == len(RANGE_MOVES)  # no new run
    assert len(json.loads(last.read_text())["resumed"]) == 1  # its model found beside the main study


@pytest.mark.parametrize("report, message", [
    ('shift_runs = ["x9"]', "report.shift_runs: must name uncertain parameters (x1, x2); got 'x9'"),
    ('shift_runs = ["x1", "x1"]', "report.shift_runs: must name each parameter at most once; got ['x1', 'x1']"),
    ('shift_runs = "x1"', "report.shift_runs: must be a list of strings; got 'x1'"),
])
def test_shift_runs_are_checked_by_the_loader(tmp_path, report, message):
    path = _study(tmp_path, report)
    with pytest.raises(StudyError) as e:
        load_study(path)
    assert str(e.value) == f"{path}: {message}"


def test_an_unbounded_input_is_refused(tmp_path):
    path = _study(tmp_path, 'shift_runs = ["x3"]')
    path.write_text(path.read_text() + '\n[parameters.x3]\ndistribution = "normal"\nmean = 0.0\nsd = 1.0\n')
    with pytest.raises(StudyError) as e:
        load_study(path)
    assert str(e.value) == (f"{path}: report.shift_runs: must name parameters with a bounded range (low and "
                            "high) to move; got 'x3', a normal distribution (its centre shifts are reweighted "
                            "instead)")


def test_an_input_that_cannot_move_outward_is_refused(tmp_path):
    path = _study(tmp_path, 'shift_runs = ["x3"]')
    path.write_text(path.read_text() + '\n[parameters.x3]\ndistribution = "loguniform"\nlow = 0.01\nhigh = 1.0\n')
    with pytest.raises(StudyError) as e:
        load_study(path)
    assert str(e.value) == (f"{path}: report.shift_runs: must name parameters whose range can move by -10% "
                            "(x3.low must be positive for a log-uniform distribution; got -0.08900000000000001); "
                            "got 'x3'")
