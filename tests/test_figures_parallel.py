"""Figures saved by worker processes are the files one process writes (analysis.figures.parallel)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
from PIL import Image

from analysis.figures import figure_specs, load_run
from analysis.figures.parallel import default_workers, save_all
from analysis.figures.style import save
from study.errors import InternalError, StudyError

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="worker processes are forked on Linux only")


@dataclass
class Job:
    name: str
    draw: Callable


@pytest.fixture(scope="module")
def specs(alliance_run):
    return figure_specs(load_run(alliance_run))


@linux
def test_two_workers_write_the_bytes_one_process_writes(specs, tmp_path):
    jobs = specs[:5]
    serial = save_all(jobs, tmp_path / "one", save, workers=1)
    forked = save_all(jobs, tmp_path / "two", save, workers=2)
    # Listed in the order of the jobs, PDF before PNG, whichever worker saved them.
    assert [p.name for p in forked] == [p.name for p in serial] == [f"{s.name}.{e}" for s in jobs
                                                                      for e in ("pdf", "png")]
    for a, b in zip(serial, forked):
        assert a.read_bytes() == b.read_bytes(), a.name
        if a.suffix == ".png":  # the pixels themselves, not only the encoded bytes
            assert np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b)))


def _fails():
    raise StudyError("study.toml", "report.languages", "must be a list; got 'zh'")


@linux
def test_the_costliest_jobs_start_first_and_the_paths_keep_the_jobs_order(tmp_path, monkeypatch):
    """The pool takes the jobs by cost, highest first (its workers take them in that order);
    the paths come back in the jobs' own order."""
    from concurrent.futures import ProcessPoolExecutor

    from analysis.figures.parallel import Saving, _costliest_first, start_all

    submitted = []
    submit = ProcessPoolExecutor.submit
    monkeypatch.setattr(ProcessPoolExecutor, "submit",
                        lambda self, fn, i: submitted.append(i) or submit(self, fn, i))

    started = tmp_path / "started"

    def job(name):
        def draw():
            with open(started, "a") as f:
                f.write(name + "\n")
            from matplotlib.figure import Figure

            return Figure(figsize=(1, 1))
        return Job(name, draw)

    jobs = [job("a"), job("b"), job("c"), job("d")]
    cost = {"a": 1, "b": 3, "c": 2, "d": 3}
    assert _costliest_first(jobs, lambda j: cost[j.name]) == [1, 3, 2, 0]  # ties in their order
    assert _costliest_first(jobs, None) == [0, 1, 2, 3]
    handle = start_all(jobs, tmp_path / "out", save, workers=2, cost=lambda j: cost[j.name])
    assert isinstance(handle, Saving)
    got = handle.wait()
    assert [p.name for p in got] == [f"{n}.{e}" for n in "abcd" for e in ("pdf", "png")]
    assert submitted == [1, 3, 2, 0]
    assert sorted(started.read_text().split()) == ["a", "b", "c", "d"]


@linux
def test_a_failing_figure_raises_its_own_error_in_the_caller(specs, tmp_path):
    jobs = [specs[0], Job("broken", _fails), specs[1]]
    with pytest.raises(StudyError, match=r"^study.toml: report.languages: must be a list; got 'zh'$"):
        save_all(jobs, tmp_path, save, workers=2)


@linux
def test_a_worker_that_dies_is_an_internal_error_not_a_hang(specs, tmp_path):
    parent = os.getpid()

    def die():
        if os.getpid() != parent:  # only ever in a worker: the test process must live
            os._exit(3)
        raise AssertionError("drawn in the test process")

    with pytest.raises(InternalError, match="a worker process died while saving figures"):
        save_all([Job("dies", die), specs[0]], tmp_path, save, workers=2)


def test_one_worker_or_one_job_saves_in_this_process(tmp_path):
    parent = os.getpid()
    pids = []

    def draw():
        pids.append(os.getpid())  # seen here only if drawn in this process
        from matplotlib.figure import Figure

        return Figure(figsize=(1, 1))

    assert default_workers(1) == 1
    save_all([Job("a", draw)], tmp_path, save)
    save_all([Job("b", draw), Job("c", draw)], tmp_path, save, workers=1)
    assert pids == [parent] * 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pdf", "a.png", "b.pdf", "b.png", "c.pdf", "c.png"]


def _pid_save(fig, directory, name):
    """A save() that records which process ran it."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.pid").write_text(str(os.getpid()))
    return [directory / f"{name}.pid"]


def _failing_save(fig, directory, name):
    raise OSError(f"disk full while writing {name}")


@linux
def test_background_saves_run_in_another_process_and_are_done_when_the_block_ends(specs, tmp_path):
    from analysis.figures.parallel import background_saves, save_soon

    fig = specs[0].draw()
    with background_saves():
        got = save_soon(fig, tmp_path / "bg", specs[0].name, save)
        save_soon(fig, tmp_path / "bg", "who", _pid_save)
    assert got == [tmp_path / "bg" / f"{specs[0].name}.pdf", tmp_path / "bg" / f"{specs[0].name}.png"]
    assert int((tmp_path / "bg" / "who.pid").read_text()) != os.getpid()
    direct = save(fig, tmp_path / "here", specs[0].name)
    assert [p.read_bytes() for p in got] == [p.read_bytes() for p in direct]


def test_outside_a_block_save_soon_saves_here_and_now(tmp_path):
    from analysis.figures.parallel import save_soon

    assert save_soon(None, tmp_path, "who", _pid_save) == [tmp_path / "who.pid"]
    assert int((tmp_path / "who.pid").read_text()) == os.getpid()


@linux
def test_a_background_save_that_fails_fails_the_block(tmp_path, capfd):
    from analysis.figures.parallel import background_saves, save_soon

    with pytest.raises(InternalError, match=r"^analysis.figures.parallel: background_saves: could not save "
                                            r"broken \(see the traceback above\)$"):
        with background_saves():
            save_soon(None, tmp_path, "broken", _failing_save)
    assert "OSError: disk full while writing broken" in capfd.readouterr().err
