"""Implementation check: the figures and the appendix read a bounded number of rows of a run.

Their memory is bounded at any N because they read at most ``analysis.draws.MAX_DRAWS``
independent draws, a prefix of the design (benchmarks/README.md, issue 17). This test
lowers the bound to 32 draws, builds the figures and the appendix of two real Ishigami runs
whose N differ fourfold, and records every block of ``results.nc`` that
``analysis.draws.read_rows`` reads: each variable must be read to the same row in both
runs, a row fixed by the bound and not by N. (The independent-draw mask itself,
``matrix`` and ``status``, is read whole, one byte a sample; it is not read through
``read_rows``.)
"""

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from analysis import draws
from analysis.appendix import build_appendix
from analysis.figures import build_figures, load_run
from mcsens.runner import run_study

PARAMS = Path(__file__).resolve().parent.parent / "params"
CAP = 32


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two runs of a lean Ishigami study (Sobol' only, first order) at N = 128 and 512."""
    root = tmp_path_factory.mktemp("bounds")
    text = (PARAMS / "ishigami.toml").read_text(encoding="utf-8")
    text = re.sub(r"(?m)^methods = .*$", 'methods = ["sobol"]', text)
    text = re.sub(r"(?m)^second_order = .*$", "second_order = false", text)
    (root / "ishigami.toml").write_text(text, encoding="utf-8")
    shutil.copy(PARAMS / "ishigami.py", root / "ishigami.py")
    return {n: run_study(root / "ishigami.toml", samples=n, out=root / f"runs{n}", figures=False,
                         appendix=False, variants=False) for n in (128, 512)}


def _rows_read(run_dir, monkeypatch) -> dict[str, int]:
    """Variable -> one past the last row of ``results.nc`` that figures and appendix read."""
    reached: dict[str, int] = {}
    block_values = draws._block_values

    def spy(da, block):
        reached[da.name] = max(reached.get(da.name, 0), block.stop)
        return block_values(da, block)

    monkeypatch.setattr(draws, "MAX_DRAWS", CAP)
    monkeypatch.setattr(draws, "BLOCK_BYTES", 64)  # 8 rows of a float: reads end near their last row
    monkeypatch.setattr(draws, "_block_values", spy)
    build_figures(run_dir)
    build_appendix(run_dir)
    return reached


@pytest.mark.slow  # four builds of every figure and the appendix: about 10 s
def test_figures_and_appendix_read_the_same_rows_at_four_times_n(runs, monkeypatch):
    small, large = (_rows_read(runs[n], monkeypatch) for n in (128, 512))
    # Every input and output the figures and tables use is read, and only its first rows.
    assert {"x1", "x2", "x3", "y", "y_positive"} <= set(small)
    assert small == large
    # 32 draws = the A and B rows of 2 base rows x 8 replicates, each with 5 blocks (A, AB:x1,
    # AB:x2, AB:x3, B): the 32nd independent draw is sample 15 x 5 + 4 = 79, and reads stop
    # at the end of its block of 8 rows.
    with load_run(runs[512]).record.open_results() as ds:
        assert np.flatnonzero(draws.iid_rows(ds))[CAP - 1] == 79
    assert set(large.values()) == {80}


def test_figures_say_how_many_draws_they_show(runs, monkeypatch):
    monkeypatch.setattr(draws, "MAX_DRAWS", CAP)
    data = load_run(runs[512])
    assert data.results.sizes["sample"] == CAP
    assert data.shown == " (the first 32 of the 1,024 independent draws)"
    monkeypatch.setattr(draws, "MAX_DRAWS", 1024)
    assert load_run(runs[512]).shown == ""
