"""An appendix that compiles clean and reads well: no overfull box, tables fitted to the
text, long index tables condensed, corrected prose, content hashes and whole-job times."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from analysis.appendix.blocks import Table, _CHAR_PT, _TEXT_PT, figure_latex, Fig, fitted_widths
from analysis.appendix.record import content_sha256, job_time, run_record
from analysis.appendix.sections import KEEP_TOP, condensed, input_name, split_sentence
from analysis.figures import load_run
from tests.helpers import need


@pytest.fixture(scope="module")
def run(alliance_appendix):
    return alliance_appendix


def overfull(log: str) -> list[str]:
    """Every overfull box of a TeX log: a float or page too tall (\\vbox), a line or a
    table wider than the text (\\hbox)."""
    return re.findall(r"Overfull \\[hv]box .*", log)


@pytest.mark.latex
def test_alliance_appendix_log_has_no_overfull_box(run):
    need("xelatex")
    folder = run / "appendix"
    for _ in range(2):
        subprocess.run(["xelatex", "-interaction=nonstopmode", "-halt-on-error",
                        "-no-shell-escape", "appendix.tex"], cwd=folder, check=True,
                       capture_output=True, timeout=300)
    log = (folder / "appendix.log").read_text(encoding="utf-8", errors="replace")
    assert overfull(log) == []
    assert "Float too large" not in log


def test_figures_stand_in_the_text_with_a_height_cap():
    tex = figure_latex(Fig("indices-x", "Caption.", 7.2), "p-", "figs/")
    assert r"\begin{figure}" not in tex  # no float: see figure_latex
    assert r"height=0.72\textheight,keepaspectratio" in tex
    assert r"\caption{Caption.}\label{fig:p-indices-x}" in tex
    assert tex.startswith(r"\par\medskip\noindent\begin{minipage}{\linewidth}")


def _table(widths, rows):
    return Table("t", "c", ["Input", "Lower", "Upper", "Note"], rows, pd.DataFrame(), widths)


def test_paragraph_columns_give_way_to_right_aligned_ones():
    rows = [["a label", "[−0.123, 0.456]", "[−0.123, 0.456]", "short words only"]]
    t = _table([0.45, None, None, 0.45], rows)
    got = fitted_widths(t)
    natural = (len("[−0.123, 0.456]") * _CHAR_PT + 12) / _TEXT_PT
    assert got[1] is None and got[2] is None
    assert got[0] == pytest.approx(got[3]) and got[0] + got[3] + 2 * natural == pytest.approx(0.99)


def test_a_column_never_narrows_below_its_longest_word():
    rows = [["x", "1", "2", "instruments"]]
    got = fitted_widths(_table([0.8, None, None, 0.05], rows))
    assert got[3] == pytest.approx((len("instruments") * _CHAR_PT + 12) / _TEXT_PT)
    # Chinese breaks between any two characters, an underscore name after each "_".
    cjk = fitted_widths(_table([0.5, None, None, 0.05], [["x", "1", "2", "推动北约亚太化也可成为"]]))
    header = (len("Note") * _CHAR_PT * 1.1 + 12) / _TEXT_PT  # bold header: its widest word
    assert cjk[3] == pytest.approx(header)
    snake = fitted_widths(_table([0.5, None, None, 0.02], [["x", "1", "2", "ab_cdefg_h"]]))
    assert snake[3] == pytest.approx((len("cdefg_") * _CHAR_PT + 12) / _TEXT_PT)


def test_long_index_tables_keep_the_influential_rows_and_summarise_the_rest():
    rows = [[f"input {i}", "0.1", "[0, 1]", f"{0.5 - i / 100:.2f}", "[0, 1]", "0", "v"]
            for i in range(25)]
    flags = [i in (0, 2, 9) for i in range(25)]
    st = [0.5 - i / 100 for i in range(25)]
    shown, note = condensed(rows, flags, st)
    assert [r[0] for r in shown[:-1]] == ["input 0", "input 1", "input 2", "input 3",
                                          "input 4", "input 9"]
    assert shown[-1] == ["19 further inputs", "", "", "≤ 0.45", "", "", "not above floor"]
    assert note == (f"; inputs below the noise floor beyond the first {KEEP_TOP} are "
                    "summarised in the last row (the table's CSV lists every input).")
    assert condensed(rows[:12], flags[:12], st[:12]) == (rows[:12], ".")


def test_input_names_are_not_double_bracketed():
    assert input_name("Russia's residual capacity (r)", "russia_residual_capacity") == \
        "Russia's residual capacity (r; russia_residual_capacity)"
    assert input_name("Autonomy cost", "autonomy") == "Autonomy cost (autonomy)"
    assert input_name("x1", "x1") == "x1"


def test_decomposition_caption_reads_with_any_output_label(run):
    md = (run / "appendix" / "appendix.md").read_text(encoding="utf-8")
    assert "Per-term change of" not in md
    label = load_run(run).label("terms")
    assert f"**{label}: change of each term from before to after (post − pre)" in md


def _nc(path, values, **attrs):
    ds = xr.Dataset({"y": ("sample", np.asarray(values, float), {"units": "1"})},
                    attrs=attrs)
    ds.to_netcdf(path, encoding={"y": {"zlib": bool(attrs.get("zlib_", 0)), "complevel": 4}})


def test_content_hash_follows_the_data_not_the_file_bytes(tmp_path):
    _nc(tmp_path / "a.nc", [1, 2, 3], run_dir="one", source_manifest_sha256="aa")
    ds = xr.Dataset({"y": ("sample", [1.0, 2.0, 3.0], {"units": "1"})},
                    attrs={"run_dir": "two", "source_manifest_sha256": "bb"})
    ds.to_netcdf(tmp_path / "b.nc", encoding={"y": {"zlib": True, "complevel": 9}})
    assert (tmp_path / "a.nc").read_bytes() != (tmp_path / "b.nc").read_bytes()
    assert content_sha256(tmp_path / "a.nc") == content_sha256(tmp_path / "b.nc")
    _nc(tmp_path / "c.nc", [1, 2, 3.5], run_dir="one", source_manifest_sha256="aa")
    assert content_sha256(tmp_path / "c.nc") != content_sha256(tmp_path / "a.nc")
    ds.assign_attrs(model="other").to_netcdf(tmp_path / "d.nc")
    assert content_sha256(tmp_path / "d.nc") != content_sha256(tmp_path / "b.nc")


def test_two_runs_of_one_study_and_seed_have_one_content_hash(tmp_path):
    # Each results file carries the random store_id of its partial file (so a resume trusts
    # only its own chunk records): the file bytes differ, the content hash must not.
    from mcsens import run_study

    study = Path(__file__).resolve().parents[1] / "params" / "ishigami.toml"
    a, b = (run_study(study, samples=64, out=tmp_path / k, figures=False, appendix=False, variants=False)
            for k in ("a", "b"))
    ids = []
    for r in (a, b):
        with xr.open_dataset(r / "results.nc") as ds:
            ids.append(ds.attrs["store_id"])
    assert ids[0] != ids[1]
    assert content_sha256(a / "results.nc") == content_sha256(b / "results.nc")


def test_run_record_hashes_the_data_files_by_content(run):
    table = next(b for b in run_record(load_run(run)) if isinstance(b, Table))
    items = dict(zip(table.data["item"], table.data["value"]))  # the CSV keeps each digest whole
    assert items["sha256 of the data in results.nc"] == content_sha256(run / "results.nc")
    assert items["sha256 of the data in indices.nc"] == content_sha256(run / "indices.nc")
    shown = dict(table.rows)["sha256 of the data in results.nc"]  # the page splits it to let TeX break
    assert shown == f"{items['sha256 of the data in results.nc'][:32]} {items['sha256 of the data in results.nc'][32:]}"


def test_job_time_covers_figures_and_appendix():
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    t = {"started": start.isoformat(), "wall_s": 22.9}
    assert job_time(t, now=start + timedelta(seconds=75.25)) == [
        ("Wall time up to this appendix (s)", "75.2")]
    assert job_time({**t, "with_outputs_s": 48.71}) == [("Wall time, whole job (s)", "48.7")]
    assert job_time({}) == [("Wall time, whole job (s)", "–")]


def test_a_first_order_sum_outside_the_unit_interval_is_not_read_as_interactions():
    assert split_sentence(0.74) == "so interactions carry about 0.26 of the variance"
    assert split_sentence(1.0) == "so interactions carry about 0.00 of the variance"
    for s1sum in (-0.38, 1.2):
        assert split_sentence(s1sum) == (
            "which is no share of variance: at this sample size the estimates are too uncertain "
            "to split the variance into main effects and interactions")


def test_markdown_tables_keep_intervals_and_a_lone_star_as_written():
    from analysis.appendix.blocks import md_cell

    assert md_cell("[−0.26, 0.11]") == "[−0.26, 0.11]"
    assert md_cell("17–32%") == "17–32%"
    assert md_cell("Morris μ*") == "Morris μ*"
    # Anything that could act stays escaped: a link, a pair of stars, text in brackets.
    assert md_cell("[x](http://e)") == r"\[x\](http://e)"
    assert md_cell("*a* b") == r"\*a\* b"
    assert md_cell("[0.1, 0.2] [see]") == r"[0.1, 0.2] \[see\]"
    assert md_cell("[0.5](http://e)") == r"\[0.5\](http://e)"
    assert md_cell("[0.5][1]") == r"\[0.5\][1]"  # [1] alone: no definition, no link


def test_content_hash_read_in_blocks_of_rows_is_the_hash_read_whole(tmp_path):
    # Implementation check: a variable too large to hold (9.6 GiB at N = 2^18) is hashed
    # block by block, and the digest must not depend on the block size.
    rng = np.random.default_rng(3)
    ds = xr.Dataset({"y": (("sample", "t"), rng.normal(size=(1000, 3))),
                     "flag": ("sample", rng.integers(0, 2, 1000).astype("i1")),
                     "name": ("param", np.array(["a", "bb"], dtype=object)),
                     "c": ((), 2.5)})
    ds.to_netcdf(tmp_path / "a.nc")
    whole = content_sha256(tmp_path / "a.nc", block_bytes=1 << 30)
    assert content_sha256(tmp_path / "a.nc", block_bytes=7 * 24) == whole
    assert content_sha256(tmp_path / "a.nc", block_bytes=1) == whole
    ds["y"][999, 2] += 1e-12
    ds.to_netcdf(tmp_path / "b.nc")
    assert content_sha256(tmp_path / "b.nc", block_bytes=7 * 24) != whole


def test_content_hash_does_not_depend_on_the_chunk_cache(tmp_path, monkeypatch):
    # Implementation check: each variable is read through a small chunk cache (netCDF-C's
    # default kept up to 64 MiB per variable of a compressed file until it closed: 1.2 GB
    # for a flagship results.nc at N = 2^14); the digest is the same with any cache size.
    import analysis.run

    rng = np.random.default_rng(4)
    ds = xr.Dataset({"y": (("sample", "t"), rng.normal(size=(5000, 3))),
                     "flag": ("sample", rng.integers(0, 2, 5000).astype("i1"))})
    ds.to_netcdf(tmp_path / "a.nc", engine="netcdf4",
                 encoding={"y": {"zlib": True, "chunksizes": (64, 3)}, "flag": {"zlib": True}})
    default = content_sha256(tmp_path / "a.nc", block_bytes=1000)
    monkeypatch.setattr(analysis.run, "CHUNK_CACHE_BYTES", 0)
    assert content_sha256(tmp_path / "a.nc", block_bytes=1000) == default
    monkeypatch.setattr(analysis.run, "CHUNK_CACHE_BYTES", 1 << 30)
    assert content_sha256(tmp_path / "a.nc", block_bytes=1000) == default
    ds["flag"][4999] = 1 - ds["flag"][4999]
    ds.to_netcdf(tmp_path / "b.nc", engine="netcdf4", encoding={"flag": {"zlib": True}})
    assert content_sha256(tmp_path / "b.nc", block_bytes=1000) != default
