"""The comparison of a run with its variants: what ``study run`` hands it of the runs it just made."""

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import analysis.run
from mcsens import runner, sides
from study import store
from study.errors import RunError
from tests.test_compare import sobol_run, write_run


def sealed_run(run_dir):
    """Seal a hand-made run as ``study run`` does, recording the seal in its manifest."""
    record = store.seal(run_dir)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    (run_dir / "manifest.json").write_text(json.dumps({**manifest, "sealed": record}))
    return record


def test_the_runs_made_here_are_compared_without_hashing_them_again(tmp_path, monkeypatch):
    main = sobol_run(tmp_path)
    made = write_run(tmp_path, "flagship_kim", design="latin", flip=np.r_[np.ones(30), np.zeros(50)])
    reused = write_run(tmp_path, "flagship_coupled", design="latin", flip=np.r_[np.ones(10), np.zeros(70)])
    main_seal, made_seal = sealed_run(main), sealed_run(made)
    sealed_run(reused)
    # The variant run made now (in process here; a worker's returns the same) and one
    # reused from an earlier study run, which this process did not seal.
    monkeypatch.setattr(runner, "run_study", lambda **call: call["path"])
    side = sides._SideRuns([sides._Side("variant", "kim", call={"path": made}),
                            sides._Side("variant", "coupled", done=reused)], jobs=1)
    dirs = side.finish()
    assert dirs == [made, reused] and side.sealed == {0: made_seal}
    assert sides._side_run({"path": made}) == (str(made), side.sealed[0])  # a worker's hand-over

    hashed = []
    real = analysis.run.file_sha256
    monkeypatch.setattr(analysis.run, "file_sha256", lambda p: hashed.append(p) or real(p))
    updates = {}
    session = SimpleNamespace(run_dir=main, sealed=main_seal, study=SimpleNamespace(name="flagship"),
                              manifest=SimpleNamespace(update=lambda **kw: updates.update(kw)))
    sides.record_sides(session, side, dirs)
    assert hashed == [reused / "results.nc"]  # only the run this process did not seal
    table = pd.read_csv(main / "variants" / "compare.csv")
    assert table["study"].drop_duplicates().tolist() == ["flagship", "flagship_kim", "flagship_coupled"]
    assert updates["variants"] == [str(made.resolve()), str(reused.resolve())]


def test_a_run_changed_after_its_seal_is_hashed_and_refused(tmp_path, monkeypatch):
    main = sobol_run(tmp_path)
    made = write_run(tmp_path, "flagship_kim", design="latin", flip=np.r_[np.ones(30), np.zeros(50)])
    main_seal, made_seal = sealed_run(main), sealed_run(made)
    path = made / "results.nc"
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[-1] ^= 1  # same size; a later mtime
    path.write_bytes(bytes(data))
    side = sides._SideRuns([sides._Side("variant", "kim", call={"path": made})], jobs=1)
    side.sealed = {0: made_seal}
    session = SimpleNamespace(run_dir=main, sealed=main_seal, study=SimpleNamespace(name="flagship"),
                              manifest=SimpleNamespace(update=lambda **kw: None))
    with pytest.raises(RunError, match="must be the results this run sealed"):
        sides.record_sides(session, side, [made])
