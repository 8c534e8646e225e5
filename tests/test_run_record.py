"""The run record every stage takes, the method registry, and the internal-error type."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from analysis import METHODS
from analysis.figures import load_run, ranks_frame
from analysis.run import read_run
from analysis.triangulation import LABELS
from study.errors import InternalError, RunError, StudyError
from tests.helpers import write_study

MODEL = """
    import xarray as xr

    def f(x):
        return xr.Dataset({"y": 2 * x.x1 + x.x2, "holds": xr.where(x.x1 > 0.3, 1.0, 0.0)})
    """

PARAMS = """
[parameters.x1]
distribution = "uniform"
low = 0.0
high = 1.0

[parameters.x2]
distribution = "uniform"
low = 0.0
high = 0.5
"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    # One run for the module (the real writer, as conftest's real_run, made once).
    import textwrap

    from mcsens import run_study

    folder = tmp_path_factory.mktemp("lin")
    (folder / "model.py").write_text(textwrap.dedent(MODEL))
    # chunk_rows as the loader's default (1024), as this study had before it used write_study.
    path = write_study(folder, "model:f", name="lin", samples=32, seed=5, params=PARAMS,
                       methods='["sobol", "morris", "delta"]', extra='headline = ["holds"]', chunk_rows=1024)
    return run_study(path, samples=64, out=folder / "runs", figures=False, appendix=False)


def test_the_record_holds_the_study_as_it_was_run(run_dir):
    run = read_run(run_dir)
    assert run.path == run_dir and run.manifest["status"] == "complete"
    # The file says N = 32; the run was made with --samples 64, which the manifest records.
    assert run.document["sampling"]["samples"] == 32
    assert run.overrides == {"samples": 64, "seed": None}
    assert run.study.sampling.samples == 64 and run.study.param_names == ("x1", "x2")
    assert read_run(run) is run
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.path = run_dir.parent
    with run.open_results() as ds:
        # Saltelli: (N / R) rows per replicate x R replicates x (2 + 2 inputs) matrices.
        assert ds.sizes["sample"] == 64 * 4
    assert run.indices()["method"].unique().tolist() == ["headline", "sobol", "morris", "delta"]
    assert run.indices_group("nope") is None


def test_every_stage_takes_the_record(run_dir):
    run = read_run(run_dir)
    data = load_run(run)
    assert data.record is run and data.path == run_dir.resolve()
    assert [f.name for f in data.factors] == ["x1", "x2"] and data.factors[0].label == "x1"
    assert data.conf_level == run.study.analysis.conf_level == 0.95


def test_a_folder_that_is_no_run_is_one_error(tmp_path):
    with pytest.raises(RunError, match=r"is not a run directory \(no manifest.json\)$"):
        read_run(tmp_path)


def test_the_registry_is_where_names_ranking_indices_and_labels_come_from(run_dir):
    assert list(METHODS) == ["sobol", "morris", "delta", "surrogate", "noise"]
    assert [(m.rank_index, m.text_label, m.on_draws, m.kind, m.triangulates) for m in METHODS.values()] == [
        ("ST", "Sobol ST", True, "method", True), ("mu_star", "Morris mu*", False, "method", True),
        ("delta", "delta", True, "method", True), ("ST", "surrogate ST", False, "method", False),
        ("noise_share", "noise share", False, "diagnostic", False)]
    assert LABELS == {"sobol": "Sobol ST", "morris": "Morris mu*", "delta": "delta", "surrogate": "surrogate ST",
                      "noise": "noise share"}
    data = load_run(read_run(run_dir))
    ranks = ranks_frame(data, "y", {})
    assert list(ranks.columns) == ["Sobol' ST", "Morris μ*", "δ"]
    # y = 2 x1 + x2 with x2 on half the range: x1 leads under every method.
    assert ranks.loc["x1"].tolist() == [1.0, 1.0, 1.0]


def test_an_internal_precondition_is_not_a_user_error():
    from analysis.sobol import sobol_indices

    assert not issubclass(InternalError, StudyError) and not issubclass(InternalError, ValueError)
    y = np.random.default_rng(0).random((16, 2, 5, 1))
    with pytest.raises(InternalError) as err:
        sobol_indices(y, params=["x1", "x2", "x3"], second_order=False, ci="jackknife")
    assert str(err.value) == ("outputs: ci: must be one of ['replicates', 'bootstrap', "
                              "'bootstrap-percentile']; got 'jackknife'")
    import pickle

    assert str(pickle.loads(pickle.dumps(err.value))) == str(err.value)
