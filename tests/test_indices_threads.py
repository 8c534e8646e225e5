"""analyze_run runs the methods and scenario discovery on threads: the files are those of
one method after another, the first error in registry order is raised, a delta note stays
with delta, and the process's warning filters and GIL switch interval are put back."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
import textwrap
import warnings
from concurrent.futures import Future
from pathlib import Path

import pytest
import xarray as xr

from analysis import METHODS
from analysis import indices
from analysis.indices import analyze_run
from tests.helpers import NORMAL_PARAMS, writable_copy, write_study

MODEL = """
    import xarray as xr
    def f(x):
        return xr.Dataset({"y": 2 * x.x1 + x.x2 ** 2, "flat": 0 * x.x1 + 1.0,
                           "holds": xr.where(x.x1 > 0.3, 1.0, 0.0)})
    """
PARAMS = NORMAL_PARAMS
FILES = ("indices.csv", "scenarios.csv", "scenarios_tree.csv")


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """One run of Sobol', Morris and delta with a headline and a constant output."""
    from mcsens import run_study

    folder = tmp_path_factory.mktemp("threads")
    (folder / "model.py").write_text(textwrap.dedent(MODEL))
    study = write_study(folder, "model:f", name="thr", samples=32, seed=5, params=PARAMS,
                        methods='["sobol", "morris", "delta"]',
                        extra='headline = ["holds"]\nkey_output = "y"\nmorris_trajectories = 12')
    return Path(run_study(study, out=folder / "runs", figures=False, appendix=False))


class _OneAfterAnother:
    """A stand-in for ThreadPoolExecutor that runs each task when it is submitted."""

    def __init__(self, *args, **kwargs):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def submit(self, fn, *args):
        out = Future()
        try:
            out.set_result(fn(*args))
        except Exception as e:
            out.set_exception(e)
        return out


def test_threads_write_the_files_of_one_method_after_another(made, tmp_path, monkeypatch):
    threaded = writable_copy(made, tmp_path / "threaded")
    analyze_run(threaded)
    monkeypatch.setattr(indices, "ThreadPoolExecutor", _OneAfterAnother)
    serial = writable_copy(made, tmp_path / "serial")
    analyze_run(serial)
    for name in FILES:
        assert (threaded / name).read_bytes() == (serial / name).read_bytes(), name
    with xr.open_dataset(threaded / "indices.nc") as a, xr.open_dataset(serial / "indices.nc") as b:
        assert a.attrs["notes"] == b.attrs["notes"]


def test_a_constant_outputs_delta_note_is_recorded_not_warned(made, tmp_path):
    # The test configuration turns a StudyWarning into an error: one leaking from delta's
    # thread-local log would fail here.
    run = writable_copy(made, tmp_path / "c")
    analyze_run(run)
    with xr.open_dataset(run / "indices.nc") as ds:
        notes = json.loads(ds.attrs["notes"])
    assert sum(n.startswith("delta: output 'flat' is constant") for n in notes) == 1


def test_the_warning_filters_and_the_switch_interval_are_put_back(made, tmp_path):
    filters, interval = list(warnings.filters), sys.getswitchinterval()
    analyze_run(writable_copy(made, tmp_path / "w"))
    assert warnings.filters == filters and sys.getswitchinterval() == interval


def test_the_first_error_in_registry_order_is_raised_and_no_file_written(made, tmp_path, monkeypatch):
    def failing(message):
        def analyze(run, settings, rng):
            raise RuntimeError(message)
        return analyze

    monkeypatch.setitem(METHODS, "sobol", dataclasses.replace(METHODS["sobol"], analyze=failing("sobol failed")))
    monkeypatch.setitem(METHODS, "delta", dataclasses.replace(METHODS["delta"], analyze=failing("delta failed")))
    run = tmp_path / "e" / made.parent.name / made.name
    shutil.copytree(made, run, ignore=shutil.ignore_patterns("indices.*", "scenarios*"))
    for p in run.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    with pytest.raises(RuntimeError, match="sobol failed"):
        analyze_run(run)
    assert not any((run / name).exists() for name in (*FILES, "indices.nc", "scenarios.nc"))
