"""Speed and storage (issue 17): what variant runs compute, delta's kernel sums, storage."""

import importlib.util
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

from analysis import delta

from mcsens import run_study
from tests.helpers import MODELS, write_study

ALL = '["sobol", "morris", "delta"]'


def _variant_pair(tmp_path):
    shutil.copy(MODELS / "slow_model.py", tmp_path)
    kw = dict(samples=64, chunk_rows=64, methods=ALL)
    variant = write_study(tmp_path, "slow_model:evaluate", name="v", seed=5, extra='headline = ["y_high"]', **kw)
    main = write_study(tmp_path, "slow_model:evaluate", name="main", samples=64, chunk_rows=64,
                       extra='headline = ["y_high"]\nvariants = ["v.toml"]')
    return main, variant


def test_a_variant_run_computes_only_what_its_comparison_reads(tmp_path):
    main, variant = _variant_pair(tmp_path)
    main_dir = run_study(main, out=tmp_path / "runs", figures=False, appendix=False)
    v_dir, = (tmp_path / "runs" / "v").iterdir()
    scope = json.loads((v_dir / "manifest.json").read_text())["analysis_scope"]
    assert (scope["methods"], scope["outputs"], scope["scenarios"]) == (["sobol"], ["y_high"], False)
    assert not (v_dir / "results-morris.nc").exists()  # no Morris design evaluated
    assert not (v_dir / "scenarios.csv").exists() and (main_dir / "scenarios.csv").exists()
    table = pd.read_csv(v_dir / "indices.csv")
    assert sorted(table["method"].unique()) == ["headline", "sobol"]
    assert set(table["output"]) == {"y_high"}
    # The same study run on its own computes everything; the drivers compared are the same.
    alone = run_study(variant, out=tmp_path / "alone", figures=False, appendix=False)
    full = pd.read_csv(alone / "indices.csv")
    assert {"morris", "delta"} <= set(full["method"]) and (alone / "results-morris.nc").exists()
    key = ["method", "output", "param", "index"]
    both = table.merge(full, on=key, suffixes=("", "_full"))
    assert len(both) == len(table)
    assert both["value"].equals(both["value_full"]) and both["conf"].equals(both["conf_full"])
    table = pd.read_csv(main_dir / "variants" / "compare.csv")
    assert table["study"].tolist() == ["main", "v"]
    assert json.loads((main_dir / "manifest.json").read_text())["variants"] == [str(v_dir)]
    compared = table.set_index("study").loc["v"]
    st = full[(full["method"] == "sobol") & (full["index"] == "ST") & (full["output"] == "y_high")]
    assert compared["driver_1"] == st.sort_values("value", ascending=False)["param"].iloc[0]


def test_a_second_order_variant_is_run_without_its_ba_blocks_and_compares_the_same(tmp_path):
    """compare reads total-order indices only: a variant's BA blocks (half of a second-order
    design) are left out, and its ST rows are those of the whole design to rounding (S1 is
    centred over fewer blocks, so it moves within its noise; nothing reads it)."""
    main, variant = _variant_pair(tmp_path)
    variant.write_text(variant.read_text().replace("second_order = false", "second_order = true"))
    main_dir = run_study(main, out=tmp_path / "runs", figures=False, appendix=False)
    v_dir, = (tmp_path / "runs" / "v").iterdir()
    manifest = json.loads((v_dir / "manifest.json").read_text())
    assert manifest["analysis_scope"]["second_order"] is False and manifest["samples"]["second_order"] is False
    assert manifest["samples"]["runs_completed"] == (2 + 2) * 64  # (d + 2) N, not (2d + 2) N
    alone = run_study(variant, out=tmp_path / "alone", figures=False, appendix=False)
    with xr.open_dataset(alone / "results.nc") as whole:  # its Sobol' design (Morris has its own file)
        assert whole.sizes["sample"] == (2 * 2 + 2) * 64
    key = ["method", "output", "param", "index"]
    table, full = pd.read_csv(v_dir / "indices.csv"), pd.read_csv(alone / "indices.csv")
    assert "S2" not in set(table["index"]) and "S2" in set(full["index"])
    both = table.merge(full, on=key, suffixes=("", "_full"))
    st = both[both["index"] == "ST"]
    assert len(st) == 2 and np.allclose(st["value"], st["value_full"], rtol=1e-12, atol=0)
    compared = pd.read_csv(main_dir / "variants" / "compare.csv").set_index("study").loc["v"]
    st_full = full[(full["method"] == "sobol") & (full["index"] == "ST") & (full["output"] == "y_high")]
    assert compared["driver_1"] == st_full.sort_values("value", ascending=False)["param"].iloc[0]
    assert np.isclose(compared["driver_1_value"], st_full["value"].max(), rtol=1e-12, atol=0)


def _kernel_sums(y, starts, n_c, scale, inv_h, grid):
    """The kernel sums straight from their definition, one class at a time."""
    out = []
    for s, m, sc, ih in zip(starts, n_c, scale, inv_h):
        z = np.maximum(-0.5 * ((grid[None, :] - y[s:s + m, None]) * ih) ** 2, -300.0)
        out.append(sc * np.exp(z).sum(axis=0))
    return np.array(out)


def test_kernel_sums_equal_their_definition_with_far_tails_and_a_skipped_class():
    rng = np.random.default_rng(4)
    y = np.r_[rng.normal(size=1500), rng.lognormal(2.0, 1.5, size=1500)]  # far ends need the clamp
    starts, n_c = np.array([0, 700, 1500, 1501]), np.array([700, 800, 1, 1499])
    scale = np.array([0.3, 2.0, 0.0, 1.5])  # a one-value class is left out (scale 0)
    inv_h = np.array([4.0, 0.5, 1.0, 60.0])
    grid = np.linspace(y.min(), y.max(), delta.GRID_POINTS)
    got = delta._kde(y, starts, n_c, scale, inv_h, grid)
    want = _kernel_sums(y, starts, n_c, scale, inv_h, grid)
    assert got[2].tolist() == [0.0] * grid.size
    # Exact to rounding where a class's density is not negligible; in its far tails (here
    # 1e-39 of its peak, an output spanning 1400 bandwidths) the exponent's rounding shows.
    peak = want.max(axis=1, keepdims=True)
    assert np.abs(got - want).max() <= 1e-12 * peak.max()
    assert (np.abs(got - want) <= 1e-12 * peak).all()
    assert (want[3] < 1e-100).any()  # the clamp's range was reached


def test_delta_numbers_do_not_depend_on_the_number_of_threads(monkeypatch):
    rng = np.random.default_rng(5)
    x = rng.random((600, 3))
    y = np.column_stack([x[:, 0] + 0.1 * rng.normal(size=600), (x[:, 1] > 0.5).astype(float)])
    runs = []
    for threads in (1, 3):
        monkeypatch.setattr(delta, "_threads", lambda threads=threads: threads)
        runs.append(delta.delta_indices(x, y, params=["a", "b", "c"], resamples=8, rng=np.random.default_rng(6)))
    xr.testing.assert_identical(*runs)
    assert float(runs[0].delta.sel(param="a", element="0")) > 0.3


def test_a_kept_sobol_engine_gives_the_points_of_a_new_one():
    from scipy.stats import qmc

    from study import sampling

    first = sampling.saltelli_unit(3, 8, seed=11, skip=4, second_order=False)
    kept = sampling._sobol_engine(6, 11)
    again = sampling.saltelli_unit(3, 8, seed=11, skip=4, second_order=False)
    assert sampling._sobol_engine(6, 11) is kept  # not rebuilt
    fresh = qmc.Sobol(d=6, scramble=True, seed=11)
    fresh.fast_forward(4)
    base = fresh.random(8)
    assert np.array_equal(first, again)
    assert np.array_equal(first.reshape(8, 5, 3)[:, 0], base[:, :3])  # A rows
    assert np.array_equal(first.reshape(8, 5, 3)[:, -1], base[:, 3:])  # B rows


def test_runs_are_stored_deflated_and_read_back_bit_for_bit(tmp_path):
    import netCDF4

    from study import load_study, open_run
    from study.sampling import draw

    shutil.copy(MODELS / "slow_model.py", tmp_path)
    path = write_study(tmp_path, "slow_model:evaluate", samples=64, chunk_rows=16)
    cache = netCDF4.get_chunk_cache()
    run_dir = run_study(path, out=tmp_path / "runs", figures=False, appendix=False)
    assert netCDF4.get_chunk_cache() == cache  # the small caches of writing and reading are undone
    with netCDF4.Dataset(run_dir / "results.nc") as nc:
        along = [v for v in nc.variables.values() if "sample" in v.dimensions]
        assert {v.name for v in along} >= {"x1", "x2", "y", "y_high", "sample", "row", "replicate", "matrix"}
        for v in along:  # plain deflate: what netCDF-C, ncdump and R's ncdf4 read without plugins
            assert (v.filters()["zlib"], v.filters()["complevel"], v.filters()["shuffle"]) == (True, 1, False), v.name
    spec = importlib.util.spec_from_file_location("slow_model_copy", tmp_path / "slow_model.py")
    slow_model = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(slow_model)
    x = draw(load_study(path))
    with open_run(run_dir) as ds:
        assert np.array_equal(ds["x2"].values, x["x2"].values)
        assert np.array_equal(ds["y"].values, slow_model.evaluate(x)["y"].values)
        assert ds["y"].dtype == np.float64


def _side_files(run_dir):
    """Bytes of every variant's and shift re-run's indices.csv, and compare.csv without its run column."""
    manifest = json.loads((run_dir / "manifest.json").read_text())
    dirs = [*manifest["variants"], *(i["run"] for i in manifest["shift_runs"])]
    files = {Path(d).parent.name + str(k): (Path(d) / "indices.csv").read_bytes() for k, d in enumerate(dirs)}
    compare = pd.read_csv(run_dir / "variants" / "compare.csv").drop(columns="run")
    return files, compare, [(i["param"], i["fraction"]) for i in manifest["shift_runs"]]


@pytest.mark.slow  # two runs of three studies and four re-runs, one of them with worker processes
def test_side_runs_in_worker_processes_give_the_files_of_side_runs_in_order(tmp_path):
    from mcsens import sides

    shutil.copy(MODELS / "slow_model.py", tmp_path)
    kw = dict(samples=64, chunk_rows=64, methods=ALL, extra='headline = ["y_high"]')
    write_study(tmp_path, "slow_model:evaluate", name="v1", seed=5, **kw)
    write_study(tmp_path, "slow_model:evaluate", name="v2", seed=6, **kw)
    main = write_study(tmp_path, "slow_model:evaluate", name="main", samples=64, chunk_rows=64,
                       extra='headline = ["y_high"]\nvariants = ["v1.toml", "v2.toml"]\n\n'
                             '[report]\nshift_runs = ["x2"]')
    small = [sides._Side("variant", "", call={}, runs=64)] * 6
    assert sides._side_jobs(small, None, False) == 1 and sides._side_jobs(small, 2, False) == 2  # too small alone
    alone = run_study(main, out=tmp_path / "in-order", figures=False, appendix=False, jobs=1)
    pooled = run_study(main, out=tmp_path / "pooled", figures=False, appendix=False, jobs=2)
    (files1, compare1, moves1), (files2, compare2, moves2) = _side_files(alone), _side_files(pooled)
    assert len(files1) == 2 + 4 and files1 == files2
    pd.testing.assert_frame_equal(compare1, compare2)
    assert compare1["study"].tolist() == ["main", "v1", "v2"]
    assert moves1 == moves2 == [("x2", c) for c in (-0.10, -0.05, 0.05, 0.10)]
    assert (alone / "indices.csv").read_bytes() == (pooled / "indices.csv").read_bytes()


TEX = r"""\documentclass{article}
\begin{document}
\section{One}\label{one}
See section~\ref{one}.%s
\end{document}
"""


@pytest.mark.latex
def test_the_languages_compile_at_once_and_the_first_failure_in_order_is_reported(tmp_path):
    from analysis.appendix import compile_pdf
    from tests.helpers import need as _need

    _need("xelatex", "pdftotext")
    app = tmp_path / "appendix"
    app.mkdir()
    (app / "appendix.tex").write_text(TEX % "")
    (app / "appendix.zh.tex").write_text(TEX % "")
    assert compile_pdf(tmp_path) == (app / "appendix.pdf", "compiled with xelatex (also appendix.zh.pdf)")
    text = subprocess.run(["pdftotext", str(app / "appendix.zh.pdf"), "-"], capture_output=True, text=True).stdout
    assert "See section 1." in text  # the second pass read the first's labels
    (app / "appendix.zh.tex").write_text(TEX % r"\nosuchmacro")
    assert compile_pdf(tmp_path) == (app / "appendix.pdf",
                                     "xelatex failed on appendix.zh.tex: ! Undefined control sequence.")
    (app / "appendix.tex").write_text(TEX % r"\broken")  # the English one fails too: it is named first
    assert compile_pdf(tmp_path) == (None, "xelatex failed on appendix.tex: ! Undefined control sequence.")


def test_every_module_the_side_run_fork_server_preloads_exists():
    """Implementation check: multiprocessing ignores a preload name that fails to import, so a
    misspelt or moved module would silently leave each worker to import it again."""
    from mcsens import workers

    for name in workers.PRELOAD:
        assert importlib.util.find_spec(name) is not None, name
    assert {"mcsens.runner", "netCDF4", "dask.distributed"} <= set(workers.PRELOAD)
    assert workers.PRELOAD[-1] == "mcsens.frozen_heap"  # it freezes what the others imported


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the fork server runs side runs on Linux only")
def test_side_run_workers_inherit_the_fork_servers_heap_frozen():
    """Implementation check: the server's imports are in the collector's permanent generation,
    so neither its exit nor its workers' collections walk them (mcsens.frozen_heap)."""
    import gc
    from concurrent.futures import ProcessPoolExecutor

    from mcsens import workers

    with ProcessPoolExecutor(max_workers=1, mp_context=workers.start_fork_server()) as pool:
        frozen = pool.submit(gc.get_freeze_count).result()
    assert frozen > 100_000  # numpy, xarray, netCDF4, dask and the toolkit: about 141k objects


def test_study_run_starts_the_fork_server_before_importing_the_analysis(tmp_path):
    """Implementation check: ``study run`` starts the side runs' fork server before its own
    heavy imports (analysis.methods: numpy, xarray, the methods), so both import at once."""
    code = "\n".join([
        "import sys",
        "from mcsens import cli, workers",
        "seen = []",
        "workers.start_early = lambda path: seen.append('analysis.methods' in sys.modules)",
        "status = cli.main(['run', 'missing.toml'])",
        "print(seen, status, 'analysis.methods' in sys.modules)",
    ])
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert proc.stdout.split() == ["[False]", "2", "True"], proc.stderr
