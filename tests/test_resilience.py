"""Scale and resilience: kill and resume, failing chunks, recorded failures, dask equality."""

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from study import open_run
from mcsens import run_study
from study.errors import RunError, StudyError
from tests.helpers import MODELS, ROOT, write_study


def _study(tmp_path, model="slow_model:evaluate", **kw):
    for f in ("slow_model.py", "broken_models.py"):
        shutil.copy(MODELS / f, tmp_path)
    kw.setdefault("samples", 128)
    kw.setdefault("chunk_rows", 2)
    return write_study(tmp_path, model, **kw)


def _cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "study", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=600)


def _values(run_dir):
    with open_run(run_dir) as ds:
        return ds.load().drop_attrs()


def _recorded(index: Path) -> list[int]:
    """First blocks of the regions recorded in a run's chunks.jsonl (a torn last line skipped)."""
    out = []
    for line in index.read_text().splitlines() if index.exists() else ():
        try:
            out.append(json.loads(line)["b0"])
        except (ValueError, KeyError):
            continue
    return out


def _run_and_kill(path, out, watch, n=3):
    """Start `study run` in a subprocess and SIGKILL it once `n` chunks are recorded under `watch`.

    Returns the run directory, or None if the run finished or stalled first."""
    proc = subprocess.Popen([sys.executable, "-m", "study", "run", str(path), "--out", str(out),
                             "--no-figures", "--no-appendix"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    found = None
    while time.monotonic() < deadline and found is None:
        found = next((i.parent for i in watch.rglob("chunks.jsonl") if len(_recorded(i)) >= n), None)
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return found


def test_sigkill_mid_evaluation_then_resume_gives_identical_results(tmp_path):
    path = _study(tmp_path)
    out = tmp_path / "runs"
    run_dir = _run_and_kill(path, out, out)
    assert run_dir is not None, "the run finished or stalled before it could be killed"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "running"  # killed: nothing claims completeness
    assert not (run_dir / "results.nc").exists() and (run_dir / "results.nc.partial").exists()
    done_before = len(_recorded(run_dir / "chunks.jsonl"))

    resumed = _cli("run", "--resume", run_dir, "--no-figures", "--no-appendix")
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.strip().splitlines()[-1] == str(run_dir)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete" and len(manifest["resumed"]) == 1
    assert done_before < 64  # 128 base rows / 2 per chunk: some were left to evaluate

    fresh = run_study(path, out=tmp_path / "fresh", figures=False, appendix=False)
    xr.testing.assert_identical(_values(run_dir), _values(fresh))
    a, b = pd.read_csv(run_dir / "indices.csv"), pd.read_csv(fresh / "indices.csv")
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.slow
def test_sigkill_while_a_variant_runs_then_resume_finishes_that_variant(tmp_path):
    # The flagship's shape: a main run, then its variants. Killed inside the variant,
    # `--resume MAIN` must resume the variant's own run, not start it again.
    variant = _study(tmp_path, name="v", samples=64, chunk_rows=2, extra='headline = ["y_high"]')
    path = _study(tmp_path, name="main", samples=64, chunk_rows=64,
                  extra='headline = ["y_high"]\nvariants = ["v.toml"]')
    out = tmp_path / "runs"
    killed = _run_and_kill(path, out, out / "v")
    assert killed is not None, "the run finished or stalled before the variant could be killed"
    main_dir, = (out / "main").iterdir()
    v_dir, = (out / "v").iterdir()
    assert json.loads((main_dir / "manifest.json").read_text())["status"] == "running"

    resumed = _cli("run", "--resume", main_dir, "--no-figures", "--no-appendix")
    assert resumed.returncode == 0, resumed.stderr
    assert [p.name for p in (out / "v").iterdir()] == [v_dir.name]  # no second variant run
    v_manifest = json.loads((v_dir / "manifest.json").read_text())
    assert v_manifest["status"] == "complete" and len(v_manifest["resumed"]) == 1
    main_manifest = json.loads((main_dir / "manifest.json").read_text())
    assert main_manifest["status"] == "complete" and main_manifest["variants"] == [str(v_dir)]
    assert (main_dir / "variants" / "compare.csv").exists()
    fresh = run_study(variant, samples=64, out=tmp_path / "fresh", figures=False, appendix=False)
    xr.testing.assert_identical(_values(v_dir), _values(fresh))


def test_resume_refuses_a_changed_study_file(tmp_path):
    path = _study(tmp_path, model="broken_models:raises_late", samples=128, chunk_rows=4)
    with pytest.raises(StudyError):
        run_study(path, out=tmp_path / "runs", figures=False, appendix=False)
    run_dir = next((tmp_path / "runs").rglob("manifest.json")).parent
    path.write_text(path.read_text().replace("seed = 3", "seed = 4"))
    proc = _cli("run", "--resume", run_dir)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"error: {path}: has changed since the run started (sha256 ")
    assert proc.stderr.rstrip().endswith("resuming would mix two studies in one run: start a new run instead")


def test_resume_refuses_a_changed_model(tmp_path):
    path = _study(tmp_path, model="broken_models:raises_late", samples=128, chunk_rows=4)
    with pytest.raises(StudyError):
        run_study(path, out=tmp_path / "runs", figures=False, appendix=False)
    run_dir = next((tmp_path / "runs").rglob("manifest.json")).parent
    model = tmp_path / "broken_models.py"
    model.write_text(model.read_text() + "\n# edited\n")
    with pytest.raises(RunError, match=r"broken_models\.py: the model's source changed since the run started"):
        run_study(resume=run_dir, figures=False, appendix=False)


def test_resume_refuses_a_complete_run(tmp_path):
    path = _study(tmp_path, model="broken_models:raises_on_some", samples=16, chunk_rows=8)
    (tmp_path / "broken_models.py").write_text(
        "import xarray as xr\n\ndef raises_on_some(x):\n    return xr.Dataset({'y': x.x1 + x.x2})\n")
    run_dir = run_study(path, out=tmp_path / "runs", figures=False, appendix=False)
    proc = _cli("run", "--resume", run_dir)
    assert (proc.returncode, proc.stderr) == (2, f"error: {run_dir}: is already complete; nothing to resume "
                                                 "(start a new run instead)\n")


def test_model_raising_on_one_chunk_fails_the_run_and_keeps_completed_chunks(tmp_path):
    path = _study(tmp_path, model="broken_models:raises_late", samples=128, chunk_rows=4)
    proc = _cli("run", path, "--out", tmp_path / "runs", "--no-figures", "--no-appendix", "-q")
    assert proc.returncode == 2
    # 128 base rows × 4 replicates × 4 matrices; chunks of 4 rows = 64 samples: sample 400 is in chunk 6.
    assert proc.stderr == ("error: model 'broken_models:raises_late': chunk of samples 384–447: raised "
                           "RuntimeError: solver diverged; first failing sample 400 (x1="
                           + proc.stderr.split("(x1=")[1])
    run_dir = next((tmp_path / "runs").rglob("manifest.json")).parent
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "solver diverged" in manifest["error"]
    assert _recorded(run_dir / "chunks.jsonl") == list(range(0, 24, 4))
    assert not (run_dir / "results.nc").exists() and (run_dir / "results.nc.partial").exists()


def test_recorded_failures_are_counted_and_sobol_is_refused(tmp_path):
    path = _study(tmp_path, model="broken_models:raises_on_some", samples=64, chunk_rows=8,
                  methods='["sobol", "delta"]')
    run_dir = run_study(path, out=tmp_path / "runs", allow_failures=True, figures=False, appendix=False)
    ds = open_run(run_dir)
    failed = ds.status.values != 0
    np.testing.assert_array_equal(failed, ds.x1.values > 0.95)
    assert np.isnan(ds.y.values[failed]).all() and np.isfinite(ds.y.values[~failed]).all()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["samples"]["runs_failed"] == int(failed.sum()) > 0
    with xr.open_dataset(run_dir / "indices.nc") as idx:
        notes = json.loads(idx.attrs["notes"])
        assert idx.attrs["failed_samples"] == int(failed.sum())
    assert any(n.startswith(f"sobol: refused, {int(failed.sum())} samples failed") for n in notes)
    table = pd.read_csv(run_dir / "indices.csv")
    assert "sobol" not in set(table.method) and "delta" in set(table.method)


@pytest.mark.slow
def test_dask_workers_give_identical_results(tmp_path):
    path = ROOT / "params" / "ishigami.toml"
    local = run_study(path, samples=128, out=tmp_path / "a", figures=False, appendix=False)
    dist = run_study(path, samples=128, out=tmp_path / "b", workers=2, figures=False, appendix=False)
    # The index records the sha256 of each chunk's stored values: the same bytes, chunk by chunk.
    stored = [sorted((r["design"], r["b0"], r["sha256"]) for r in map(json.loads, (d / "chunks.jsonl").open()))
              for d in (local, dist)]
    assert stored[0] == stored[1] and {r[0] for r in stored[0]} == {"sobol", "morris"}
    xr.testing.assert_identical(_values(local), _values(dist))
    xr.testing.assert_identical(open_run(local, "morris").load().drop_attrs(),
                                open_run(dist, "morris").load().drop_attrs())
    pd.testing.assert_frame_equal(pd.read_csv(local / "indices.csv"), pd.read_csv(dist / "indices.csv"))


@pytest.mark.slow
def test_dask_with_many_more_chunks_than_workers_loses_none(tmp_path):
    path = _study(tmp_path, model="broken_models:raises_on_some", samples=64, chunk_rows=1)
    (tmp_path / "broken_models.py").write_text(
        "import xarray as xr\n\ndef raises_on_some(x):\n    return xr.Dataset({'y': x.x1 * x.x2})\n")
    local = run_study(path, out=tmp_path / "a", figures=False, appendix=False)
    dist = run_study(path, out=tmp_path / "b", workers=2, figures=False, appendix=False)
    assert open_run(dist).sizes["sample"] == 64 * 4  # N = 64 rows × 4 matrices, in 16 chunks: none lost
    xr.testing.assert_identical(_values(local), _values(dist))


@pytest.mark.slow
def test_existing_scheduler_on_loopback(tmp_path):
    from distributed import Client, LocalCluster

    path = ROOT / "params" / "ishigami.toml"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        run_dir = run_study(path, samples=64, out=tmp_path / "b", scheduler=cluster.scheduler_address,
                            figures=False, appendix=False)
        with Client(cluster.scheduler_address) as client:
            assert len(client.scheduler_info()["workers"]) == 2
    local = run_study(path, samples=64, out=tmp_path / "a", figures=False, appendix=False)
    xr.testing.assert_identical(_values(local), _values(run_dir))


@pytest.mark.slow
def test_cli_on_a_separate_scheduler_and_worker_processes(tmp_path):
    """The HPC set-up in miniature: `dask scheduler` and `dask worker` as their own processes
    on loopback, started from another folder, and `study run --scheduler` through the CLI.
    The workers import the user's model from beside the study file, not from their cwd."""
    from distributed import Client

    study_dir, elsewhere = tmp_path / "study", tmp_path / "elsewhere"
    study_dir.mkdir()
    elsewhere.mkdir()
    path = _study(study_dir, samples=256, chunk_rows=8)  # 4 chunks
    address_file = tmp_path / "scheduler.json"
    scheduler = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                                  "--port", "0", "--no-dashboard", "--scheduler-file", str(address_file)],
                                 cwd=elsewhere, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers = None
    try:
        deadline = time.monotonic() + 60
        while not address_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        address = json.loads(address_file.read_text())["address"]
        workers = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address, "--nworkers", "2",
                                    "--nthreads", "1", "--host", "127.0.0.1", "--no-dashboard"],
                                   cwd=elsewhere, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
            result = _cli("run", path, "--scheduler", address, "--out", tmp_path / "b", "--no-figures",
                          "--no-appendix")
            assert result.returncode == 0, result.stderr
            ran = client.run(lambda dask_worker: dask_worker.state.executed_count)
        assert len(ran) == 2 and all(n > 0 for n in ran.values()), ran  # both workers evaluated chunks
    finally:
        for proc in (workers, scheduler):
            if proc is not None:
                proc.send_signal(signal.SIGINT)
        for proc in (workers, scheduler):
            if proc is not None:
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
    dist = Path(result.stdout.strip().splitlines()[-1])
    local = run_study(path, out=tmp_path / "a", figures=False, appendix=False)
    xr.testing.assert_identical(_values(local), _values(dist))
    pd.testing.assert_frame_equal(pd.read_csv(local / "indices.csv"), pd.read_csv(dist / "indices.csv"))


def test_failures_are_recounted_when_until_converged_grows_the_design(tmp_path):
    # Sobol' is refused with failures, so the run doubles N up to the budget; the manifest's
    # count must be of the final design's failures (it once kept the first N's).
    path = _study(tmp_path, model="broken_models:raises_on_some", samples=32, chunk_rows=8)
    run_dir = run_study(path, out=tmp_path / "runs", allow_failures=True, until_converged=True, max_samples=128,
                        figures=False, appendix=False)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    with open_run(run_dir) as ds:
        failed = int((ds.status.values != 0).sum())
        assert manifest["samples"]["N"] == 128 and ds.sizes["sample"] == manifest["samples"]["runs_requested"]
    assert manifest["samples"]["runs_failed"] == failed > 0


def test_until_converged_extends_the_same_design(tmp_path):
    (tmp_path / "lin.py").write_text(
        "import xarray as xr\n\ndef f(x):\n    return xr.Dataset({'y': 3 * x.x1 + x.x2})\n")
    path = write_study(tmp_path, "lin:f", samples=16, chunk_rows=4, extra="tolerance = 0.01")
    grown = run_study(path, out=tmp_path / "a", until_converged=True, max_samples=128, figures=False,
                      appendix=False)
    manifest = json.loads((grown / "manifest.json").read_text())
    n = manifest["samples"]["N"]
    assert 16 < n <= 128 and manifest["overrides"]["samples"] == n
    assert manifest["samples"]["runs_completed"] == manifest["samples"]["runs_requested"] == n * 4
    direct = run_study(path, samples=n, out=tmp_path / "b", figures=False, appendix=False)
    xr.testing.assert_identical(_values(grown), _values(direct))
    converged = pd.read_csv(grown / "indices.csv").query("method == 'sobol' and index == 'ST'")["converged"]
    assert manifest["convergence"]["converged"] == bool(converged.all())
    assert manifest["convergence"]["converged"] or n == 128


def test_ctrl_c_leaves_a_resumable_run_and_says_how(tmp_path):
    path = _study(tmp_path)
    out = tmp_path / "runs"
    proc = subprocess.Popen([sys.executable, "-m", "study", "run", str(path), "--out", str(out),
                             "--no-figures", "--no-appendix"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(len(_recorded(i)) >= 2 for i in out.rglob("chunks.jsonl")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    run_dir = next(out.rglob("manifest.json")).parent
    assert proc.returncode == 130
    assert err.strip().splitlines()[-1] == (f"interrupted; finished chunks are kept. Resume with: study run "
                                            f"--resume {run_dir}")
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "interrupted"
    resumed = _cli("run", "--resume", run_dir, "--no-figures", "--no-appendix")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "complete"


@pytest.mark.slow
def test_unreachable_scheduler_fails_cleanly_and_leaves_no_run_directory(tmp_path):
    path = _study(tmp_path, samples=16)
    result = _cli("run", path, "--scheduler", "tcp://127.0.0.1:1", "--out", tmp_path / "runs")
    assert result.returncode == 2
    assert result.stderr.startswith("error: --scheduler: could not connect to 'tcp://127.0.0.1:1': ")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists()
