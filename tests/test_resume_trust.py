"""Resume trusts nothing in the run directory it did not record itself (issue 12).

Each test stops a run on a chosen chunk (the model kills, terminates, exits or raises,
steered by environment variables so that its source never changes), through the real
command line where a user would meet it, then checks what the run directory says and that
a resume ends identical to a run that was never stopped.
"""

import errno
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from study import open_run
from mcsens import run_study
from study.errors import StudyError
from study import store
from study.sources import changed_sources, local_sources
from tests.helpers import ROOT, write_study

MODEL = '''import os, signal, sys, time

import xarray as xr

from trust_helper import combine


class Boom(BaseException):
    pass


def f(x):
    time.sleep(float(os.environ.get("TRUST_SLEEP", "0")))
    stop = int(os.environ.get("TRUST_STOP_AT", "-1"))
    if 0 <= stop <= int(x["sample"].max()):
        how = os.environ["TRUST_HOW"]
        if how == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if how == "term":
            os.kill(os.getpid(), signal.SIGTERM)
        if how == "exit":
            sys.exit(3)
        if how == "base":
            raise Boom("out of the model")
        raise RuntimeError("stopped")
    return xr.Dataset({"y": combine(x.x1, x.x2)})
'''
HELPER = "def combine(a, b):\n    return a + 2 * a * b\n"

# N = 64 over 4 replicates: 16 blocks of 4 rows × 4 matrices = 16 samples; chunks of 2 blocks.
# Sample 160 is in the chunk of blocks 10–11: chunks 0, 2, …, 8 are on disk when it stops.
STOP = "160"
KEPT = [0, 2, 4, 6, 8]
GRID = [(b, b + 2) for b in range(0, 16, 2)]


def _study(folder: Path) -> Path:
    (folder / "stoppable.py").write_text(MODEL)
    (folder / "trust_helper.py").write_text(HELPER)
    return write_study(folder, "stoppable:f", samples=64, chunk_rows=2)


@pytest.fixture(autouse=True)
def _fresh_modules(monkeypatch):
    # In-process runs import the model beside each test's study: no module from another test.
    for name in ("stoppable", "trust_helper"):
        monkeypatch.delitem(sys.modules, name, raising=False)


def _env(**env):
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
            **{f"TRUST_{k.upper()}": str(v) for k, v in env.items()}}


def _cli(*args, cwd=ROOT, wait=True, **env):
    # -q: these tests compare standard error whole, without the run's stage lines.
    cmd = [sys.executable, "-m", "study", *map(str, args), *(["-q"] if args[:1] == ("run",) else [])]
    if not wait:
        return subprocess.Popen(cmd, cwd=cwd, env=_env(**env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
    return subprocess.run(cmd, cwd=cwd, env=_env(**env), capture_output=True, text=True, timeout=300)


def _stopped(tmp_path, how, **kw):
    """A `study run` of the test study stopped `how` on the chunk holding sample 160."""
    path = _study(tmp_path)
    proc = _cli("run", path, "--out", tmp_path / "runs", "--no-figures", "--no-appendix", stop_at=STOP, how=how,
                **kw)
    return proc, next((tmp_path / "runs").rglob("manifest.json")).parent


def _failed_in_process(tmp_path, monkeypatch):
    """The same run stopped by a model error, started in this process (no interpreter start-up)."""
    path = _study(tmp_path)
    _raising_at(STOP, monkeypatch, run_study, path, out=tmp_path / "runs", figures=False, appendix=False)
    return next((tmp_path / "runs").rglob("manifest.json")).parent


def _raising_at(sample, monkeypatch, call, *args, **kwargs):
    """``call(*args, **kwargs)`` with the model raising on the chunk holding `sample`."""
    with monkeypatch.context() as m:
        m.setenv("TRUST_STOP_AT", str(sample))
        m.setenv("TRUST_HOW", "raise")
        with pytest.raises(StudyError, match="raised RuntimeError: stopped"):
            call(*args, **kwargs)


def _resume(run_dir):
    return run_study(resume=run_dir, figures=False, appendix=False)


def _manifest(run_dir):
    return json.loads((Path(run_dir) / "manifest.json").read_text())


def _assert_same_as_fresh(run_dir, path, tmp_path):
    fresh = run_study(path, out=tmp_path / "fresh", figures=False, appendix=False)
    with open_run(run_dir) as a, open_run(fresh) as b:
        xr.testing.assert_identical(a.load().drop_attrs(), b.load().drop_attrs())
    pd.testing.assert_frame_equal(pd.read_csv(Path(run_dir) / "indices.csv"), pd.read_csv(fresh / "indices.csv"))


def _records(run_dir):
    lines = []
    for line in (Path(run_dir) / "chunks.jsonl").read_text().splitlines():
        try:
            lines.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return lines


def _partial(run_dir):
    return Path(run_dir) / "results.nc.partial"


def _kept(run_dir):
    """First blocks of the regions of the partial file that a resume would keep (none distrusted)."""
    with store.ResultsStore(run_dir, "sobol", "results.nc", block_size=16, region_blocks=2, attrs={}) as st:
        good, notes = st.resume(GRID)
    assert notes == []
    return sorted(good)


def _region_sha256(run_dir, b0, b1):
    """sha256 of the values the partial file holds in blocks [b0, b1), as the store hashes them."""
    import netCDF4

    h = hashlib.sha256()
    with netCDF4.Dataset(_partial(run_dir)) as nc:
        nc.set_auto_maskandscale(False)
        for name in sorted(k for k, v in nc.variables.items() if "storage" in v.ncattrs()):
            h.update(name.encode() + b"\0" + nc.variables[name][16 * b0:16 * b1].tobytes())
    return h.hexdigest()


def test_two_resumes_at_once_end_in_one_complete_run_identical_to_an_uninterrupted_one(tmp_path):
    proc, run_dir = _stopped(tmp_path, "kill")
    assert proc.returncode == -9 and _manifest(run_dir)["status"] == "running"
    assert _kept(run_dir) == KEPT
    # Slow chunks keep the first resume busy while the second one starts.
    both = [_cli("run", "--resume", run_dir, "--no-figures", "--no-appendix", wait=False, sleep=0.3)
            for _ in range(2)]
    results = sorted((p.wait(timeout=300), *p.communicate(), p.pid) for p in both)
    (ok, out, err, winner), (refused, _, why, _) = results
    assert (ok, refused) == (0, 2), results
    assert out.splitlines()[-1] == str(run_dir) and err == ""
    assert why in (f"error: {run_dir}: is already complete; nothing to resume (start a new run instead)\n",
                   f"error: {run_dir}: is being evaluated by another process (pid {winner}); let it finish or "
                   "stop it, then resume\n")
    manifest = _manifest(run_dir)
    assert manifest["status"] == "complete" and len(manifest["resumed"]) == 1
    assert not _partial(run_dir).exists() and not list(run_dir.glob(".*.tmp"))
    _assert_same_as_fresh(run_dir, tmp_path / "t.toml", tmp_path)


def test_a_resume_refuses_while_another_process_holds_the_run(tmp_path, monkeypatch):
    run_dir = _failed_in_process(tmp_path, monkeypatch)
    with store.locked(run_dir):
        refused = _cli("run", "--resume", run_dir, "--no-figures", "--no-appendix")
    assert (refused.returncode, refused.stderr) == (
        2, f"error: {run_dir}: is being evaluated by another process (pid {os.getpid()}); let it finish or stop "
           "it, then resume\n")
    assert _manifest(run_dir)["status"] == "failed"  # untouched
    assert (run_dir / ".lock").read_text() == f"{os.getpid()}\n"


def test_overwritten_forged_and_duplicated_regions_are_evaluated_again_not_trusted(tmp_path, monkeypatch):
    import netCDF4

    run_dir = _failed_in_process(tmp_path, monkeypatch)
    assert _manifest(run_dir)["status"] == "failed" and not (run_dir / "results.nc").exists()
    records = _records(run_dir)
    assert [(r["design"], r["b0"], r["b1"], r["rows"], r["first_sample"]) for r in records] == \
        [("sobol", b, b + 2, 32, 16 * b) for b in KEPT]
    assert [r["sha256"] for r in records] == [_region_sha256(run_dir, b, b + 2) for b in KEPT]
    assert len({r["store"] for r in records}) == 1

    with netCDF4.Dataset(_partial(run_dir), "r+") as nc:                     # blocks 2-3 overwritten
        nc.variables["y"][40] = nc.variables["y"][40] + 1.0
    forged = dict(records[0])
    with open(run_dir / "chunks.jsonl", "a") as f:
        f.write(json.dumps({**forged, "b0": 4, "b1": 6, "first_sample": 64}) + "\n")  # a later record of 4-5
        f.write(json.dumps({**forged, "b0": 9, "b1": 11, "first_sample": 144}) + "\n")  # off the grid
        f.write(json.dumps({**forged, "b0": 10, "b1": 12, "store": "0" * 16}) + "\n")  # another file's
        f.write('{"design": "sobol", "b0": 1')                              # a torn last line
    stray = run_dir / ".results.nc.partial.999.abcd1234.tmp"
    stray.write_bytes(b"half a file")

    resumed = _cli("run", "--resume", run_dir, "--no-figures", "--no-appendix")
    assert resumed.returncode == 0, resumed.stderr
    part = _partial(run_dir)
    assert resumed.stderr.splitlines() == [
        f"warning: {part}: blocks 2–3 do not match their recorded sha256 (corrupt or overwritten); they will be "
        "evaluated again",
        f"warning: {part}: blocks 4–5 do not match their recorded sha256 (corrupt or overwritten); they will be "
        "evaluated again",
        f"warning: {part}: blocks 9–10 are not a chunk of this run's design (a forged or foreign record); ignored",
    ]
    assert not stray.exists() and not part.exists()
    again = [r["b0"] for r in _records(run_dir)[len(records) + 3:]]
    assert again == [2, 4, 10, 12, 14]  # the two distrusted regions and the three never written
    _assert_same_as_fresh(run_dir, tmp_path / "t.toml", tmp_path)


def test_a_partial_file_that_cannot_be_opened_is_evaluated_again_from_the_start(tmp_path, monkeypatch):
    run_dir = _failed_in_process(tmp_path, monkeypatch)
    part = _partial(run_dir)
    part.write_bytes(part.read_bytes()[: part.stat().st_size // 2])            # what a killed writer can leave
    before = len(_records(run_dir))
    resumed = _cli("run", "--resume", run_dir, "--no-figures", "--no-appendix")
    assert resumed.returncode == 0, resumed.stderr
    line, = resumed.stderr.splitlines()
    assert line.startswith(f"warning: {part}: cannot be opened (") and line.endswith(
        "); deleted, every chunk of the sobol design will be evaluated again")
    assert [r["b0"] for r in _records(run_dir)[before:]] == [b for b, _ in GRID]
    _assert_same_as_fresh(run_dir, tmp_path / "t.toml", tmp_path)


class _Killed(BaseException):
    """Stands for SIGKILL between a region's write and its record (no handler runs)."""


def _killed_recording(monkeypatch, path, tmp_path, when) -> Path:
    """Run ``path`` until the chunk record ``when(record)`` picks is about to be appended,
    then stop it there (as a kill would); the run directory it leaves."""
    append = store._append_line

    def killed(index, line):
        if when(json.loads(line)):
            raise _Killed()
        append(index, line)

    monkeypatch.setattr(store, "_append_line", killed)
    with pytest.raises(_Killed):
        run_study(path, out=tmp_path / "runs", figures=False, appendix=False)
    monkeypatch.setattr(store, "_append_line", append)
    return next((tmp_path / "runs").rglob("manifest.json")).parent


def test_a_crash_between_a_region_write_and_its_record_evaluates_that_region_again(tmp_path, monkeypatch):
    path = _study(tmp_path)
    run_dir = _killed_recording(monkeypatch, path, tmp_path, lambda rec: rec["b0"] == 10)
    import netCDF4

    with netCDF4.Dataset(_partial(run_dir)) as nc:  # blocks 10-11 are in the file, unrecorded
        assert nc.dimensions["sample"].size == 12 * 16 and np.isfinite(nc.variables["y"][160:192]).all()
    assert [r["b0"] for r in _records(run_dir)] == [0, 2, 4, 6, 8]
    _resume(run_dir)
    assert [r["b0"] for r in _records(run_dir)] == [0, 2, 4, 6, 8, 10, 12, 14]
    _assert_same_as_fresh(run_dir, path, tmp_path)


def test_a_helper_module_edited_between_start_and_resume_is_refused(tmp_path, monkeypatch):
    run_dir = _failed_in_process(tmp_path, monkeypatch)
    sources = _manifest(run_dir)["model"]["sources"]
    assert sources == {name: store.file_sha256(tmp_path / name) for name in ("stoppable.py", "trust_helper.py")}
    helper = tmp_path / "trust_helper.py"
    helper.write_text(HELPER.replace("2 * a * b", "3 * a * b"))
    refused = _cli("run", "--resume", run_dir, "--no-figures", "--no-appendix")
    assert (refused.returncode, refused.stderr) == (
        2, f"error: {helper}: a source file of the model changed since the run started (sha256 "
           f"{sources['trust_helper.py'][:12]}…, now {store.file_sha256(helper)[:12]}…); resuming would mix two "
           "models' outputs: start a new run instead\n")
    assert _manifest(run_dir)["status"] == "failed" and "resumed" not in _manifest(run_dir)


def test_changed_sources_names_a_removed_and_an_added_file(tmp_path):
    (tmp_path / "kept.py").write_text("x = 1\n")
    kept = store.file_sha256(tmp_path / "kept.py")
    assert changed_sources({"kept.py": kept}, {}, tmp_path) is None  # recorded, not loaded now: hashed from disk
    assert changed_sources({"kept.py": kept, "gone.py": "ab" * 32}, {"kept.py": kept}, tmp_path) == \
        ("gone.py", f"was removed since the run started (sha256 {'ab' * 6}…)")
    assert changed_sources({}, {"new.py": "cd" * 32}, tmp_path) == \
        ("new.py", "is loaded by the model now but was not when the run started")


def test_local_sources_lists_modules_under_the_study_folder_only(tmp_path, monkeypatch):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from . import inner\n")
    (pkg / "inner.py").write_text("y = 2\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("pkg", "pkg.inner"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    __import__("pkg")
    assert local_sources(tmp_path) == {"pkg/__init__.py": store.file_sha256(pkg / "__init__.py"),
                                       "pkg/inner.py": store.file_sha256(pkg / "inner.py")}
    assert local_sources(pkg) == {"__init__.py": store.file_sha256(pkg / "__init__.py"),
                                  "inner.py": store.file_sha256(pkg / "inner.py")}
    at_root = local_sources(ROOT)  # a study file at the repository root
    assert "tests/test_resume_trust.py" in at_root
    assert not [k for k in at_root if k.split("/")[0] in ("study", "analysis")]  # the toolkit is not its source


def test_resume_from_another_folder_of_a_run_started_with_a_relative_out(tmp_path, monkeypatch):
    start, elsewhere = tmp_path / "start", tmp_path / "elsewhere"
    start.mkdir()
    elsewhere.mkdir()
    _study(start)
    killed = _cli("run", "t.toml", "--out", "runs", "--no-figures", "--no-appendix", cwd=start, stop_at=STOP,
                  how="kill")
    assert killed.returncode == -9
    run_dir = next((start / "runs").rglob("manifest.json")).parent
    assert _manifest(run_dir)["study"] == {"name": "t", "file": "t.toml", "path": str(start / "t.toml"),
                                           "sha256": store.file_sha256(start / "t.toml")}
    monkeypatch.chdir(elsewhere)
    relative = Path("..", "start", run_dir.relative_to(start))
    assert _resume(relative) == relative
    assert not (elsewhere / "runs").exists()
    _assert_same_as_fresh(run_dir, start / "t.toml", tmp_path)


def test_sigterm_marks_the_run_interrupted_and_it_resumes_identically(tmp_path):
    proc, run_dir = _stopped(tmp_path, "term")
    assert proc.returncode == 130
    assert proc.stderr.splitlines()[-1] == (f"interrupted; finished chunks are kept. Resume with: study run "
                                            f"--resume {run_dir}")
    manifest = _manifest(run_dir)
    assert (manifest["status"], manifest["error"]) == ("interrupted", "terminated (SIGTERM)")
    _resume(run_dir)
    _assert_same_as_fresh(run_dir, tmp_path / "t.toml", tmp_path)


def test_sys_exit_in_the_model_fails_the_run_with_one_line_and_keeps_its_chunks(tmp_path):
    proc, run_dir = _stopped(tmp_path, "exit")
    line = ("error: model 'stoppable:f': chunk of samples 160–191: must return its outputs, not exit or raise a "
            "BaseException; got sys.exit(3)")
    assert (proc.returncode, proc.stderr) == (2, line + "\n")
    manifest = _manifest(run_dir)
    assert (manifest["status"], manifest["error"]) == ("failed", line.removeprefix("error: "))
    assert _kept(run_dir) == KEPT


def test_sys_exit_on_the_first_samples_is_one_line_and_leaves_no_run(tmp_path):
    path = _study(tmp_path)
    proc = _cli("run", path, "--out", tmp_path / "runs", stop_at=0, how="exit")
    assert (proc.returncode, proc.stderr) == (2, "error: model 'stoppable:f': chunk of samples 0–15: must return "
                                                 "its outputs, not exit or raise a BaseException; got sys.exit(3)\n")
    assert not (tmp_path / "runs").exists()


def test_any_base_exception_from_the_model_marks_the_run_failed(tmp_path):
    proc, run_dir = _stopped(tmp_path, "base")
    # The model contract turns it into a model error (exit 2), like sys.exit.
    line = ("model 'stoppable:f': chunk of samples 160–191: must return its outputs, not exit or raise a "
            "BaseException; got Boom: out of the model")
    assert (proc.returncode, proc.stderr) == (2, f"error: {line}\n")
    manifest = _manifest(run_dir)
    assert (manifest["status"], manifest["error"]) == ("failed", line)


FULL_DISK = '''import errno, sys
from study import store
from mcsens.cli import main

put, written = store.ResultsStore._put, []

def full_at_the_fourth(self, s0, s1, stored):
    if len(written) == 3:
        name = sorted(stored)[0]
        put(self, s0, s1, {name: stored[name]})  # some of the region's values, not all
        raise OSError(errno.ENOSPC, "No space left on device")
    written.append(s0)
    return put(self, s0, s1, stored)

store.ResultsStore._put = full_at_the_fourth
sys.exit(main(sys.argv[1:]))
'''


def test_a_full_disk_fails_the_run_with_one_line_and_it_stays_resumable(tmp_path):
    path = _study(tmp_path)
    out = tmp_path / "runs"
    proc = subprocess.run([sys.executable, "-c", FULL_DISK, "run", str(path), "--out", str(out), "--no-figures",
                           "--no-appendix", "-q"], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300)
    run_dir = next(out.rglob("manifest.json")).parent
    # The probe's block is not written; chunks 0, 2, 4 are, the fourth finds the disk full.
    assert (proc.returncode, proc.stderr) == (2, _full_disk_line(run_dir, 6) + "\n")
    assert _manifest(run_dir)["status"] == "failed"
    assert [r["b0"] for r in _records(run_dir)] == [0, 2, 4]
    _resume(run_dir)
    _assert_same_as_fresh(run_dir, path, tmp_path)


def _full_disk_line(run_dir, b0):
    return (f"error: {run_dir}: must be on a disk with room for blocks {b0}–{b0 + 1} of results.nc.partial; got no "
            f"space left on device. The run stays resumable: free some space, then study run --resume {run_dir}")


REAL_DISK = """set -u
mount -t tmpfs -o size=320k tmpfs "$DISK" || exit 99
"$PY" -m study run "$STUDY" --samples 1024 --out "$DISK/runs" --no-figures --no-appendix -q >"$LOG.1" 2>&1
echo $? >"$LOG.rc1"
cp -a "$DISK/runs" "$LOG.failed"
mount -o remount,size=8m "$DISK"
"$PY" -m study run --resume "$DISK"/runs/t/* --no-figures --no-appendix >"$LOG.2" 2>&1
echo $? >"$LOG.rc2"
cp -a "$DISK/runs" "$LOG.resumed"
"""


def test_a_really_full_disk_fails_the_run_and_it_resumes_identically_once_there_is_room(tmp_path):
    """A 320 kB tmpfs in a private mount namespace: netCDF says only "HDF error" when it fills."""
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare(1) to mount a small private tmpfs")
    path = _study(tmp_path)
    disk, log = tmp_path / "disk", tmp_path / "log"
    disk.mkdir()
    script = tmp_path / "disk.sh"
    script.write_text(REAL_DISK)
    env = {**_env(), "DISK": str(disk), "LOG": str(log), "PY": sys.executable, "STUDY": str(path)}
    proc = subprocess.run(["unshare", "--map-root-user", "--mount", "sh", str(script)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    if proc.returncode == 99 or not Path(f"{log}.rc1").exists():
        pytest.skip(f"cannot mount a private tmpfs here: {proc.stderr.strip()[:200]}")
    failed_dir, = (Path(f"{log}.failed") / "t").iterdir()
    run_dir = disk / "runs" / "t" / failed_dir.name  # as the run saw itself
    kept = [r["b0"] for r in _records(failed_dir)]
    assert (Path(f"{log}.rc1").read_text(), Path(f"{log}.1").read_text()) == \
        ("2\n", _full_disk_line(run_dir, 2 * len(kept)) + "\n")
    # Deflated and written once, N = 64 fits in the disk: N = 1024 (128 chunks of 2 blocks) does not.
    assert kept == list(range(0, 2 * len(kept), 2)) and 0 < len(kept) < 128
    assert _manifest(failed_dir)["status"] == "failed"
    assert Path(f"{log}.rc2").read_text() == "0\n", Path(f"{log}.2").read_text()
    resumed = Path(f"{log}.resumed") / "t" / failed_dir.name
    assert _manifest(resumed)["status"] == "complete" and not (resumed / ".reserve").exists()
    fresh = run_study(path, samples=1024, out=tmp_path / "fresh", figures=False, appendix=False)
    with open_run(resumed) as a, open_run(fresh) as b:
        xr.testing.assert_identical(a.load().drop_attrs(), b.load().drop_attrs())


def test_the_manifest_spends_the_reserve_when_the_disk_is_full(tmp_path, monkeypatch):
    store.reserve_space(tmp_path)
    assert (tmp_path / ".reserve").stat().st_size == store.RESERVE_BYTES
    real, disk = store.write_json_atomic, {"full even without the reserve": False}

    def write(path, data):
        if (tmp_path / ".reserve").exists() or disk["full even without the reserve"]:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, data)

    monkeypatch.setattr(store, "write_json_atomic", write)
    store.Manifest(tmp_path, {"status": "running"}).update(status="failed")
    assert _manifest(tmp_path) == {"status": "failed"} and not (tmp_path / ".reserve").exists()
    disk["full even without the reserve"] = True
    with pytest.raises(OSError, match="No space left on device"):  # nothing left to spend: not hidden
        store.Manifest(tmp_path, {"status": "running"}).update(status="interrupted")
    assert _manifest(tmp_path) == {"status": "failed"}


def test_a_filesystem_without_locks_is_used_with_a_warning(tmp_path, monkeypatch, capsys):
    def no_locks(fd, how):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(store.fcntl, "flock", no_locks)
    with store.locked(tmp_path):
        pass
    assert capsys.readouterr().err == (f"warning: {tmp_path}: this filesystem does not support locks (No locks "
                                       "available); do not resume this run twice at once\n")


def test_a_run_killed_between_its_last_flush_and_the_rename_is_only_renamed_at_resume(tmp_path, monkeypatch):
    path = _study(tmp_path)

    def killed_before_the_rename(self):
        self.close()
        raise _Killed()

    monkeypatch.setattr(store.ResultsStore, "seal", killed_before_the_rename)
    with pytest.raises(_Killed):
        run_study(path, out=tmp_path / "runs", figures=False, appendix=False)
    monkeypatch.undo()
    run_dir = next((tmp_path / "runs").rglob("manifest.json")).parent
    assert _partial(run_dir).exists() and not (run_dir / "results.nc").exists()
    assert _kept(run_dir) == [b for b, _ in GRID]
    _resume(run_dir)
    assert [r["b0"] for r in _records(run_dir)] == [b for b, _ in GRID]  # nothing evaluated again
    _assert_same_as_fresh(run_dir, path, tmp_path)


# --- the store of one file written by region (results.nc.partial) and its records -------------

def test_a_record_cut_mid_write_loses_only_its_region_and_the_records_after_it_are_read(tmp_path, monkeypatch):
    run_dir = _failed_in_process(tmp_path, monkeypatch)
    index = run_dir / "chunks.jsonl"
    whole = index.read_bytes()
    cut = whole[:-40]  # the record of blocks 8-9 ends inside its sha256, without its newline
    index.write_bytes(cut)
    assert _kept(run_dir) == [0, 2, 4, 6]
    _raising_at(224, monkeypatch, _resume, run_dir)  # a resume that stops again, on blocks 14-15
    lines = index.read_bytes().splitlines()
    assert lines[:5] == cut.splitlines()  # the cut line is left as it was, ended before the next record
    assert [r["b0"] for r in _records(run_dir)] == [0, 2, 4, 6, 8, 10, 12]  # 8-9 evaluated again, 0-7 kept
    assert _kept(run_dir) == [0, 2, 4, 6, 8, 10, 12]  # records written after the cut line are trusted
    _resume(run_dir)
    _assert_same_as_fresh(run_dir, tmp_path / "t.toml", tmp_path)


def test_a_region_whose_deflated_bytes_are_damaged_is_evaluated_again_and_the_others_kept(tmp_path, monkeypatch):
    import zlib

    import netCDF4

    run_dir = _failed_in_process(tmp_path, monkeypatch)
    part = _partial(run_dir)
    with netCDF4.Dataset(part) as nc:
        y = nc.variables["y"]
        assert y.chunking() == [32] and y.filters()["complevel"] == 1  # blocks 2-3 of y: one deflated chunk
        y.set_auto_maskandscale(False)
        raw = np.ascontiguousarray(y[32:64]).tobytes()
    stream = store.deflate(raw) if store.DIRECT_CHUNKS else zlib.compress(raw, 1)
    data = bytearray(part.read_bytes())
    at = data.find(stream)
    assert at > 0, "the chunk is stored as the store's deflate (or HDF5's zlib level 1) wrote it: it must be found"
    data[at + len(stream) // 2] ^= 0xFF  # zlib's Adler-32 makes any change to the values an error to read
    part.write_bytes(bytes(data))
    resumed = _cli("run", "--resume", run_dir, "--no-figures", "--no-appendix")
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stderr == (f"warning: {part}: blocks 2–3 cannot be read (NetCDF: HDF error); they will be "
                              "evaluated again\n")
    assert [r["b0"] for r in _records(run_dir)[len(KEPT):]] == [2, 10, 12, 14]
    _assert_same_as_fresh(run_dir, tmp_path / "t.toml", tmp_path)


def test_a_partial_file_that_lost_its_last_regions_keeps_those_it_still_holds(tmp_path, monkeypatch):
    path = _study(tmp_path)
    append, early = store._append_line, tmp_path / "early.nc"

    def copied_after_blocks_4_5(index, line):
        append(index, line)
        if json.loads(line)["b0"] == 4:  # flushed and recorded: the file as a backup taken now holds it
            shutil.copyfile(Path(index).parent / "results.nc.partial", early)

    monkeypatch.setattr(store, "_append_line", copied_after_blocks_4_5)
    _raising_at(STOP, monkeypatch, run_study, path, out=tmp_path / "runs", figures=False, appendix=False)
    monkeypatch.setattr(store, "_append_line", append)
    run_dir = next((tmp_path / "runs").rglob("manifest.json")).parent
    part = _partial(run_dir)
    shutil.copyfile(early, part)  # the same file (same store id), restored without blocks 6-9
    resumed = _cli("run", "--resume", run_dir, "--no-figures", "--no-appendix")
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stderr.splitlines() == [
        f"warning: {part}: blocks {b}–{b + 1} lie beyond the end of the file (truncated); they will be evaluated "
        "again" for b in (6, 8)]
    assert [r["b0"] for r in _records(run_dir)[len(KEPT):]] == [6, 8, 10, 12, 14]
    _assert_same_as_fresh(run_dir, path, tmp_path)


def test_a_partial_file_without_its_records_is_evaluated_again_region_by_region(tmp_path, monkeypatch):
    run_dir = _failed_in_process(tmp_path, monkeypatch)
    (run_dir / "chunks.jsonl").unlink()  # values on disk that nothing vouches for
    assert _kept(run_dir) == []
    resumed = _cli("run", "--resume", run_dir, "--no-figures", "--no-appendix")
    assert (resumed.returncode, resumed.stderr) == (0, "")
    assert [r["b0"] for r in _records(run_dir)] == [b for b, _ in GRID]
    _assert_same_as_fresh(run_dir, tmp_path / "t.toml", tmp_path)


def test_a_run_stopped_in_its_second_design_keeps_the_sealed_first_and_the_recorded_regions(tmp_path,
                                                                                            monkeypatch):
    (tmp_path / "stoppable.py").write_text(MODEL)
    (tmp_path / "trust_helper.py").write_text(HELPER)
    path = write_study(tmp_path, "stoppable:f", samples=64, chunk_rows=2, methods='["sobol", "morris"]',
                       extra="morris_trajectories = 8")
    run_dir = _killed_recording(monkeypatch, path, tmp_path, lambda rec: (rec["design"], rec["b0"]) == ("morris", 4))
    sobol = [("sobol", b) for b, _ in GRID]
    assert [(r["design"], r["b0"]) for r in _records(run_dir)] == [*sobol, ("morris", 0), ("morris", 2)]
    assert (run_dir / "results.nc").exists() and (run_dir / "results-morris.nc.partial").exists()
    sealed = (run_dir / "results.nc").read_bytes()
    _resume(run_dir)
    # 8 trajectories of 3 points, in regions of 2: only the two unrecorded Morris regions are evaluated.
    assert [(r["design"], r["b0"]) for r in _records(run_dir)][len(sobol) + 2:] == [("morris", 4), ("morris", 6)]
    assert (run_dir / "results.nc").read_bytes() == sealed
    fresh = run_study(path, out=tmp_path / "fresh", figures=False, appendix=False)
    for design in (None, "morris"):
        with open_run(run_dir, design) as a, open_run(fresh, design) as b:
            xr.testing.assert_identical(a.load().drop_attrs(), b.load().drop_attrs())
    pd.testing.assert_frame_equal(pd.read_csv(run_dir / "indices.csv"), pd.read_csv(fresh / "indices.csv"))
