"""Runs end to end: reproducibility, the model contract, run directories, the API."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr

from study import ModelContractError, draw, load_study, open_run
from mcsens import run_study
from tests.helpers import MODELS, ROOT, write_study

ISHIGAMI = ROOT / "params" / "ishigami.toml"


def _run(path, tmp_path, **kw):
    kw.setdefault("figures", False)
    kw.setdefault("appendix", False)
    return run_study(path, out=tmp_path / "runs", **kw)


def _inputs_outputs(run_dir):
    with open_run(run_dir) as ds:
        return ds.load()


def test_same_file_and_seed_give_identical_results(tmp_path):
    a = _inputs_outputs(_run(ISHIGAMI, tmp_path, samples=64))
    b = _inputs_outputs(_run(ISHIGAMI, tmp_path, samples=64))
    xr.testing.assert_identical(a.drop_attrs(), b.drop_attrs())


def test_different_seed_gives_different_draws(tmp_path):
    a = _inputs_outputs(_run(ISHIGAMI, tmp_path, samples=64))
    b = _inputs_outputs(_run(ISHIGAMI, tmp_path, samples=64, seed=7))
    assert not np.allclose(a.x1.values, b.x1.values)
    assert a.sizes == b.sizes


def test_parameter_order_in_the_file_changes_no_per_name_result(tmp_path):
    text = ISHIGAMI.read_text()
    head, _, params = text.partition("[parameters.x1]")
    blocks = ("[parameters.x1]" + params).split("[parameters.")[1:]
    reordered = head + "".join("\n[parameters." + b.strip() + "\n" for b in reversed(blocks))
    assert reordered.index("parameters.x3") < reordered.index("parameters.x1")
    (tmp_path / "ishigami.py").write_text((ROOT / "params" / "ishigami.py").read_text())
    other = tmp_path / "ishigami.toml"
    other.write_text(reordered)
    a = _run(ISHIGAMI, tmp_path, samples=64)
    b = _run(other, tmp_path, samples=64)
    for p in ("x1", "x2", "x3", "y"):
        np.testing.assert_array_equal(open_run(a)[p].values, open_run(b)[p].values)
    ia = _indices(a).set_index(["method", "output", "param", "index"]).sort_index()
    ib = _indices(b).set_index(["method", "output", "param", "index"]).sort_index()
    np.testing.assert_array_equal(ia["value"].values, ib["value"].values)


def _indices(run_dir):
    import pandas as pd

    return pd.read_csv(run_dir / "indices.csv")


def test_run_directory_contents_and_manifest(tmp_path):
    run_dir = _run(ISHIGAMI, tmp_path, samples=64)
    assert run_dir.parent == tmp_path / "runs" / "ishigami"
    assert (run_dir / "study.toml").read_bytes() == ISHIGAMI.read_bytes()
    m = json.loads((run_dir / "manifest.json").read_text())
    assert m["status"] == "complete" and m["seed"] == 20231128
    assert m["study"]["sha256"] == load_study(ISHIGAMI).sha256
    assert m["samples"]["runs_requested"] == m["samples"]["runs_completed"] == 64 * 8 + 64 * 4
    assert {"numpy", "xarray", "SALib", "dask"} <= set(m["versions"])
    assert {"started", "finished", "evaluation_s", "analysis_s", "wall_s"} <= set(m["timings"])
    ds = open_run(run_dir)
    assert ds.x1.attrs["label"] == "x₁" and ds.x1.attrs["role"] == "input"
    assert ds.y.attrs["role"] == "output" and "label" not in ds.y.attrs  # no attrs leaked from x1
    assert float(ds.a) == 7.0 and ds.a.attrs["role"] == "constant"
    assert not (run_dir / "chunks").exists()


def test_two_runs_in_the_same_second_do_not_collide(tmp_path):
    from study import store

    study = load_study(ISHIGAMI)
    dirs = {store.new_run_dir(tmp_path, study) for _ in range(5)}
    assert len(dirs) == 5


def test_model_module_beside_the_study_file(tmp_path):
    (tmp_path / "mymodel.py").write_text(
        "import xarray as xr\n\ndef f(x):\n    return xr.Dataset({'y': 3 * x.x1 + x.x2})\n")
    path = write_study(tmp_path, "mymodel:f")
    ds = open_run(_run(path, tmp_path))
    np.testing.assert_allclose(ds.y.values, 3 * ds.x1.values + ds.x2.values)


def test_an_edited_model_file_is_reloaded_in_the_same_process(tmp_path):
    # A notebook session: run, edit the model beside the study file, run again. The second
    # run must use the new code, as its manifest's model hash says.
    model = tmp_path / "edited_model.py"
    model.write_text("import xarray as xr\n\ndef f(x):\n    return xr.Dataset({'y': x.x1 + x.x2})\n")
    path = write_study(tmp_path, "edited_model:f", samples=16)
    first = _run(path, tmp_path)
    model.write_text("import xarray as xr\n\ndef f(x):\n    return xr.Dataset({'y': x.x1 - x.x2})\n")
    second = _run(path, tmp_path)
    ds = open_run(second)
    np.testing.assert_allclose(ds.y.values, ds.x1.values - ds.x2.values)
    hashes = [json.loads((d / "manifest.json").read_text())["model"]["sha256"] for d in (first, second)]
    assert hashes[0] != hashes[1]


def test_nan_output_is_reported_with_parameter_values_and_run_marked_failed(tmp_path):
    shutil.copy(MODELS / "broken_models.py", tmp_path)
    path = write_study(tmp_path, "broken_models:nan_late", samples=128)
    with pytest.raises(ModelContractError) as err:
        _run(path, tmp_path)
    msg = str(err.value)
    assert msg.startswith("model 'broken_models:nan_late': output 'y': must be finite; got NaN or inf for ")
    assert "first at sample 400 (x1=" in msg and "x2=" in msg
    manifest = json.loads(next((tmp_path / "runs").rglob("manifest.json")).read_text())
    assert manifest["status"] == "failed" and manifest["error"] == msg


@pytest.mark.parametrize("model, message", [
    ("wrong_length", "model 'broken_models:wrong_length': output 'y': must have dimension 'sample' of length 16; "
                     "got length 17"),
    ("no_sample_dim", "model 'broken_models:no_sample_dim': output 'y': must have dimension 'sample' of length 16; "
                      "got dims ('time',) with shape (3,)"),
    ("not_a_dataset", "model 'broken_models:not_a_dataset': must return an xarray.Dataset or DataArray; got ndarray"),
])
def test_wrong_shape_is_reported_before_anything_is_written(tmp_path, model, message):
    shutil.copy(MODELS / "broken_models.py", tmp_path)
    path = write_study(tmp_path, f"broken_models:{model}")
    with pytest.raises(ModelContractError) as err:
        _run(path, tmp_path)
    assert str(err.value) == message
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("manifest.json"))


def test_contract_error_through_the_command_line(tmp_path):
    shutil.copy(MODELS / "broken_models.py", tmp_path)
    path = write_study(tmp_path, "broken_models:nan_late", samples=128)
    proc = subprocess.run([sys.executable, "-m", "study", "run", str(path), "--out", str(tmp_path / "r"),
                           "--no-figures", "--no-appendix", "-q"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: model 'broken_models:nan_late': output 'y': must be finite")
    assert len(proc.stderr.splitlines()) == 1


def test_draw_maps_through_each_distribution(tmp_path):
    study = load_study(ISHIGAMI)
    ds = draw(study, method="latin", samples=1000)
    assert ds.sizes["sample"] == 1000
    assert float(ds.x1.min()) >= -np.pi and float(ds.x1.max()) <= np.pi
    assert float(ds.a) == 7.0

