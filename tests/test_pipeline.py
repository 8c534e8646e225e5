"""The main job's stages overlap: side-run workers start early, figures save while the run goes on."""

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from analysis.figures import build_figures
from analysis.figures.parallel import default_workers, start_all
from mcsens import run_study
from mcsens.workers import names_side_runs
from tests.helpers import MODELS, write_study

FLAGSHIP = Path(__file__).resolve().parent.parent / "params" / "asia_pacification.toml"
#: Whether a run compares its variants in a forked child (Linux, two cores or more).
COMPARE_FORKS = default_workers(2) >= 2


def test_the_peek_counts_side_runs_through_extends(tmp_path):
    assert names_side_runs(FLAGSHIP)  # seven variants and three shift inputs
    (tmp_path / "base.toml").write_text('[study]\nname = "b"\n[analysis]\nvariants = ["v.toml"]\n'
                                        '[report]\nshift_runs = ["x1"]\n')
    (tmp_path / "child.toml").write_text('[study]\nname = "c"\nextends = "base.toml"\n')
    assert names_side_runs(tmp_path / "child.toml")  # one variant + one input moved both ways: 3 runs
    (tmp_path / "one.toml").write_text('[study]\nname = "o"\n[analysis]\nvariants = ["v.toml"]\n')
    assert not names_side_runs(tmp_path / "one.toml")  # one side run: no pool
    (tmp_path / "bad.toml").write_text('[study\n')
    assert not names_side_runs(tmp_path / "bad.toml")  # the loader reports it, not the peek
    (tmp_path / "orphan.toml").write_text('[study]\nname = "c"\nextends = "missing.toml"\n')
    assert not names_side_runs(tmp_path / "orphan.toml")


class _Sleeper:
    def __init__(self, name):
        self.name = name

    def draw(self):
        time.sleep(60)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(default_workers(2) < 2, reason="needs two cores and Linux to fork figure workers")
def test_cancelling_figures_being_saved_stops_their_workers_at_once(tmp_path):
    t = time.perf_counter()
    saving = start_all([_Sleeper("a"), _Sleeper("b")], tmp_path, lambda fig, d, n: [], workers=2)
    pids = [p.pid for p in saving.pool._processes.values()]
    assert len(pids) == 2 and all(_alive(p) for p in pids)
    saving.cancel()
    assert time.perf_counter() - t < 20  # not the minute the jobs would take
    assert not any(_alive(p) for p in pids)


def _main_with_variant(tmp_path):
    shutil.copy(MODELS / "slow_model.py", tmp_path)
    write_study(tmp_path, "slow_model:evaluate", name="v", seed=5, samples=64, chunk_rows=64,
                extra='headline = ["y_high"]')
    return write_study(tmp_path, "slow_model:evaluate", name="main", samples=64, chunk_rows=64,
                       methods='["sobol", "delta"]', extra='headline = ["y_high"]\nvariants = ["v.toml"]')


@pytest.mark.slow  # a run with a variant, figures and the appendix
def test_figures_saved_beside_the_comparison_are_the_files_a_rebuild_writes(tmp_path, monkeypatch):
    """The variants are compared in another process while this one reads the run for the
    figures, and the run's files are those of ``study figures`` on the finished run (the
    order is an implementation check; the bytes are not)."""
    from mcsens import runner, sides

    order, comparers = [], tmp_path / "compared-by"
    start, record = runner._start_figures, sides.record_sides

    def recording(run, side, dirs):  # in the comparing child: its pid, in a file
        if side is not None:  # the variant's own run has no side runs: None
            comparers.write_text(str(os.getpid()))
        return record(run, side, dirs)

    monkeypatch.setattr(runner, "_start_figures", lambda run: order.append("figures") or start(run))
    monkeypatch.setattr(runner, "record_sides", recording)
    import analysis.appendix as appendix

    build = appendix.build_appendix

    def appendix_first(run, *, figures_ready=None):  # the appendix is computed, then waits
        return build(run, figures_ready=lambda: order.append("figures ready") or figures_ready())

    monkeypatch.setattr(appendix, "build_appendix", appendix_first)
    run_dir = run_study(_main_with_variant(tmp_path), out=tmp_path / "runs")
    assert order == ["figures", "figures ready"]
    if COMPARE_FORKS:
        assert int(comparers.read_text()) != os.getpid()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete" and len(manifest["variants"]) == 1
    assert manifest["timings"]["figures_s"] > 0 and (run_dir / "appendix" / "appendix.tex").is_file()
    saved = {p.name: p.read_bytes() for p in (run_dir / "figures").iterdir()}
    assert any(n.endswith(".png") for n in saved)
    rebuilt = build_figures(shutil.copytree(run_dir, tmp_path / "copy"))
    assert {p.name: p.read_bytes() for p in rebuilt} == saved


@pytest.mark.slow
def test_a_figure_that_fails_while_the_variants_are_compared_fails_the_run(tmp_path, monkeypatch):
    import analysis.figures as figures

    def broken(fig, directory, name):
        raise ValueError(f"cannot save {name}")

    monkeypatch.setattr(figures, "save", broken)  # the workers are forked: they see it too
    with pytest.raises(ValueError, match="cannot save"):
        run_study(_main_with_variant(tmp_path), out=tmp_path / "runs")
    run_dir, = (tmp_path / "runs" / "main").iterdir()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "cannot save" in manifest["error"]
    assert os.listdir(run_dir / "variants")  # the comparison ran meanwhile


def _status(tmp_path) -> dict:
    run_dir, = (tmp_path / "runs" / "main").iterdir()
    return json.loads((run_dir / "manifest.json").read_text())


def _no_children_left():
    import multiprocessing

    return not [p for p in multiprocessing.active_children() if p.name == "compare variants"]


@pytest.mark.slow
@pytest.mark.skipif(not COMPARE_FORKS, reason="the comparison forks on Linux with two cores only")
def test_a_comparison_that_fails_in_its_child_fails_the_run_with_its_error(tmp_path, monkeypatch):
    import analysis.compare as compare
    from study.errors import RunError

    def broken(run_dirs, out_dir):
        raise RunError(out_dir, "", "cannot compare these runs")

    monkeypatch.setattr(compare, "main_compare", broken)  # the child is forked: it sees it too
    with pytest.raises(RunError, match="cannot compare these runs"):
        run_study(_main_with_variant(tmp_path), out=tmp_path / "runs", appendix=False)
    manifest = _status(tmp_path)
    assert manifest["status"] == "failed" and "cannot compare these runs" in manifest["error"]
    assert "variants" not in manifest and _no_children_left()


@pytest.mark.slow
@pytest.mark.skipif(not COMPARE_FORKS, reason="the comparison forks on Linux with two cores only")
def test_a_comparing_child_that_dies_fails_the_run(tmp_path, monkeypatch):
    from mcsens import runner
    from study.errors import InternalError

    record = runner.record_sides
    monkeypatch.setattr(runner, "record_sides",
                        lambda run, side, dirs: os._exit(3) if side is not None else record(run, side, dirs))
    with pytest.raises(InternalError, match="died with exit status 3"):
        run_study(_main_with_variant(tmp_path), out=tmp_path / "runs", appendix=False)
    manifest = _status(tmp_path)
    assert manifest["status"] == "failed" and "variants" not in manifest


@pytest.mark.slow
@pytest.mark.skipif(not COMPARE_FORKS, reason="the comparison forks on Linux with two cores only")
def test_ctrl_c_while_the_variants_are_compared_stops_the_comparison(tmp_path, monkeypatch):
    from mcsens import runner
    from study.errors import Interrupted

    record = runner.record_sides
    monkeypatch.setattr(runner, "record_sides",  # a comparison that would take a minute
                        lambda run, side, dirs: time.sleep(60) if side is not None else record(run, side, dirs))

    def interrupted(run):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "_start_figures", interrupted)
    t = time.perf_counter()
    with pytest.raises(Interrupted):
        run_study(_main_with_variant(tmp_path), out=tmp_path / "runs", appendix=False)
    assert time.perf_counter() - t < 50  # the child was stopped, not waited for
    assert _status(tmp_path)["status"] == "interrupted" and _no_children_left()


def test_the_program_freezes_its_heap_before_it_exits_and_a_caller_is_left_alone(tmp_path, monkeypatch):
    import gc
    import sys

    from mcsens import cli

    frozen = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(True))
    assert cli.main(["list", str(tmp_path)]) == 0  # a caller (a test, a notebook) goes on
    assert frozen == []
    monkeypatch.setattr(sys, "argv", ["study", "list", str(tmp_path)])
    assert cli.main() == 0  # the program itself: it ends next
    assert frozen == [True]
