"""`study compare`: headline probabilities and drivers of several runs, side by side."""

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from analysis.compare import COLUMNS, compare, main_compare, plot_compare
from analysis.proportion import wilson
from study.errors import RunError, StudyError

MODEL = "study.models.asia_pacification:evaluate"
LABELS = {"x1": "Value of autonomy", "x2": "China's options", "x3": "Russia's capacity"}


def write_run(root, name, *, model=MODEL, description="", design="sobol", flip=None, status=None,
              indices=None, correlations=""):
    """A run directory in the documented schema with a prescribed headline column.

    Its ``study.toml`` is a valid study (the run's record validates it); the results are
    hand-made, so that each probability has a count to check against.
    """
    n = len(flip)
    rng = np.random.default_rng(0)
    data = {p: ("sample", rng.random(n), {"role": "input", "label": lab}) for p, lab in LABELS.items()}
    data["europe_flip"] = ("sample", np.asarray(flip, float), {"role": "output", "label": "Europe's flip"})
    attrs = {"study": name, "model": model, "design": design, "headline": json.dumps(["europe_flip"])}
    coords = {}
    if design == "sobol":
        labels = ["A", "AB:x1", "AB:x2", "AB:x3", "B"]
        coords = {"matrix": ("sample", np.tile(np.arange(len(labels)), n // len(labels))),
                  "row": ("sample", np.repeat(np.arange(n // len(labels)), len(labels)))}
        attrs["matrix_labels"] = json.dumps(labels)
    if status is not None:
        data["status"] = ("sample", np.asarray(status, np.int8), {"role": "status"})
    run = root / name / "20260101T000000Z-0000abcd"
    run.mkdir(parents=True)
    xr.Dataset(data, coords=coords, attrs=attrs).to_netcdf(run / "results.nc")
    (run / "manifest.json").write_text(json.dumps({"status": "complete", "model": {"ref": model}}))
    sampling = "replicates = 1\nsecond_order = false\n" if design == "sobol" else ""
    params = "".join(f'[parameters.{p}]\ndistribution = "uniform"\nlow = 0.0\nhigh = 1.0\n\n' for p in LABELS)
    (run / "study.toml").write_text(
        f'[study]\nname = "{name}"\nmodel = "{model}"\ndescription = "{description}"\n\n'
        f'[sampling]\nmethod = "{design}"\nsamples = 64\nseed = 0\n{sampling}\n'
        f'[analysis]\nmethods = ["{"sobol" if design == "sobol" else "delta"}"]\nheadline = ["europe_flip"]\n\n'
        f'{params}{correlations}')
    if indices is not None:
        indices.to_csv(run / "indices.csv", index=False)
    return run


def sobol_run(root):
    # 50 base rows x 5 matrices. A rows: 35 hold; B rows: 20 hold; AB rows all hold but
    # repeat A's and B's columns, so they must not count.
    m = np.zeros((50, 5))
    m[:35, 0] = 1
    m[:20, 4] = 1
    m[:, 1:4] = 1
    idx = pd.DataFrame({
        "method": ["sobol"] * 7 + ["delta"],
        "output": ["europe_flip"] * 6 + ["other", "europe_flip"],
        "param": ["x1", "x2", "x3", "x1", "x2", "x3", "x2", "x3"],
        "index": ["ST", "ST", "ST", "S1", "S1", "S1", "ST", "delta"],
        "value": [0.6, 0.2, 0.4, 0.9, 0.05, 0.05, 0.99, 0.99],
        "conf": 0.01,
    })
    return write_run(root, "flagship", description="Critical juncture", flip=m.ravel(), indices=idx)


def latin_run(root):
    # 80 samples, 17 hold, but 5 of those are failed evaluations: 12 of 75 hold.
    flip = np.zeros(80)
    flip[:17] = 1
    status = np.zeros(80)
    status[:5] = 1
    idx = pd.DataFrame({"method": "delta", "output": "europe_flip", "param": ["x1", "x2", "x3"],
                        "index": "delta", "value": [0.1, 0.3, 0.2], "conf": 0.02})
    corr = '[[correlations]]\nparams = ["x1", "x3"]\nrank = -0.4\nreason = "r"\n'
    return write_run(root, "correlated", design="latin", description="Correlated", flip=flip, status=status,
                     indices=idx, correlations=corr)


def test_wilson_matches_published_values():
    # Newcombe (1998), Statistics in Medicine 17:857-872, Table I: 81/263 and 15/148.
    lo, hi = wilson(81, 263)
    assert (round(lo, 4), round(hi, 4)) == (0.2553, 0.3662)
    lo, hi = wilson(15, 148)
    assert (round(lo, 4), round(hi, 4)) == (0.0624, 0.1605)
    lo, hi = wilson(0, 20)
    assert lo == pytest.approx(0.0, abs=1e-15) and round(hi, 4) == 0.1611


def test_compare_table_numbers(tmp_path):
    df = compare([sobol_run(tmp_path), latin_run(tmp_path)])
    assert tuple(df.columns) == COLUMNS
    a, b = df.iloc[0], df.iloc[1]
    assert (a.study, a.variant, a.design, a.correlations) == ("flagship", "Critical juncture", "sobol", "none")
    assert (a.n, a.holds, a.p_holds) == (100, 55, 0.55)
    assert (a.ci_low, a.ci_high) == wilson(55, 100)
    assert (a.drivers_index, a.driver_1, a.driver_2, a.driver_3) == ("ST", "x1", "x3", "x2")
    assert (a.driver_1_label, a.driver_1_value, a.driver_3_value) == ("Value of autonomy", 0.6, 0.2)
    assert (b.study, b.design, b.correlations) == ("correlated", "latin", "x1~x3 -0.4")
    assert (b.n, b.holds, b.p_holds) == (75, 12, 0.16)
    assert (b.ci_low, b.ci_high) == wilson(12, 75)
    assert (b.drivers_index, b.driver_1, b.driver_2, b.driver_3) == ("delta", "x2", "x3", "x1")
    assert a.run == "flagship/20260101T000000Z-0000abcd" and a.output_label == "Europe's flip"


def test_compare_refuses_different_models(tmp_path):
    one = sobol_run(tmp_path)
    other = write_run(tmp_path, "ishigami", model="ishigami:evaluate", design="latin", flip=np.ones(10))
    with pytest.raises(StudyError, match=r"^study compare: RUN_DIR: must all be runs of the same model; got "
                       rf"'{MODEL}' \(.*flagship.*\), 'ishigami:evaluate' \(.*ishigami.*\)$"):
        compare([one, other])
    with pytest.raises(StudyError, match=r"must be two or more run directories; got 1"):
        compare([one])


def test_compare_without_indices_leaves_drivers_empty(tmp_path):
    one = write_run(tmp_path, "a", design="latin", flip=np.r_[np.ones(3), np.zeros(7)])
    two = write_run(tmp_path, "b", design="latin", flip=np.r_[np.ones(9), np.zeros(1)])
    df = compare([one, two])
    assert df.p_holds.tolist() == [0.3, 0.9]
    assert df.drivers_index.tolist() == ["", ""] and df.driver_1.isna().all()


def test_main_compare_writes_table_and_figure_once(tmp_path):
    runs = [sobol_run(tmp_path), latin_run(tmp_path)]
    out = main_compare(runs, tmp_path / "cmp")
    saved = pd.read_csv(out / "compare.csv", keep_default_na=False, na_values=[""])
    pd.testing.assert_frame_equal(saved, compare(runs), check_dtype=False)
    assert (out / "compare.pdf").stat().st_size > 0 and (out / "compare.png").stat().st_size > 0
    from PIL import Image

    with Image.open(out / "compare.png") as im:  # at most a page wide, at 300 dpi
        assert im.info["dpi"][0] == pytest.approx(300, abs=0.01) and im.size[0] <= 6.5 * 300
    assert b"/Subtype /Type3" not in (out / "compare.pdf").read_bytes()  # TrueType fonts
    with pytest.raises(RunError, match=r"already holds compare\.csv; choose another output directory"):
        main_compare(runs, out)


def test_main_compare_figures_are_stable_and_the_png_lightly_compressed(tmp_path):
    from PIL import Image

    runs = [sobol_run(tmp_path), latin_run(tmp_path)]
    first, second = main_compare(runs, tmp_path / "a"), main_compare(runs, tmp_path / "b")
    # No creation date: the same runs give the same PDF bytes.
    assert (first / "compare.pdf").read_bytes() == (second / "compare.pdf").read_bytes()
    assert b"/CreationDate" not in (first / "compare.pdf").read_bytes()
    # zlib level 3 (the run's figures' level), not PIL's default 6: the same pixels, re-encoded.
    png = first / "compare.png"
    with Image.open(png) as im:
        pixels = np.asarray(im)
        again = tmp_path / "level6.png"
        im.save(again, compress_level=6)
    assert png.stat().st_size > 1.02 * again.stat().st_size  # PIL's default packs it tighter
    with Image.open(again) as im:
        assert np.array_equal(np.asarray(im), pixels)


@pytest.mark.parametrize("outputs", [1, 2])
def test_a_measuring_draw_that_only_lays_out_gives_savefigs_own_files(tmp_path, outputs):
    import io

    from PIL import Image

    from analysis.compare import _measured_by_layout
    from analysis.figures.style import style

    df = compare([sobol_run(tmp_path), latin_run(tmp_path)])
    if outputs == 2:  # a second headline column, its drivers in another order
        other = df.assign(output="other", output_label="Other", p_holds=1 - df["p_holds"],
                          ci_low=1 - df["ci_high"], ci_high=1 - df["ci_low"])
        df = pd.concat([df, other], ignore_index=True)

    def saved(measured_by_layout: bool):
        fig, files = plot_compare(df), (io.BytesIO(), io.BytesIO())
        with style():
            if measured_by_layout:
                with _measured_by_layout(fig):
                    for f, fmt in zip(files, ("pdf", "png")):
                        fig.savefig(f, format=fmt, dpi=300, bbox_inches="tight", pad_inches=0.03,
                                    metadata={"CreationDate": None} if fmt == "pdf" else None)
            else:
                for f, fmt in zip(files, ("pdf", "png")):
                    fig.savefig(f, format=fmt, dpi=300, bbox_inches="tight", pad_inches=0.03,
                                metadata={"CreationDate": None} if fmt == "pdf" else None)
        assert "draw" not in vars(fig)  # the class's draw is back
        return files[0].getvalue(), np.asarray(Image.open(files[1]))

    (pdf, png), (pdf_ref, png_ref) = saved(True), saved(False)
    assert pdf == pdf_ref
    assert png.shape == png_ref.shape and np.array_equal(png, png_ref)


@pytest.mark.parametrize("make", ["sobol", "latin"])
def test_the_rows_read_with_netcdf4_are_those_the_analysis_reads(tmp_path, make):
    import netCDF4

    from analysis.compare import _coordinates, _iid_rows, _rows
    from analysis.draws import iid_rows, read_rows

    run = sobol_run(tmp_path) if make == "sobol" else latin_run(tmp_path)
    with xr.open_dataset(run / "results.nc") as ds:
        want_keep = iid_rows(ds)
        want_y = read_rows(ds["europe_flip"], np.flatnonzero(want_keep))
    with netCDF4.Dataset(run / "results.nc") as nc:
        nc.set_always_mask(False)
        keep = _iid_rows(nc, {k: nc.getncattr(k) for k in nc.ncattrs()}, _coordinates([nc["europe_flip"]]))
        y = _rows(nc["europe_flip"], keep)
    assert keep.sum() == (100 if make == "sobol" else 75)  # A and B rows of 50; the evaluations that did not fail
    np.testing.assert_array_equal(keep, want_keep)
    np.testing.assert_array_equal(y, want_y)


def test_a_missing_value_is_read_as_nan_in_blocks(tmp_path, monkeypatch):
    import netCDF4

    import analysis.compare as cmp

    path = tmp_path / "r.nc"
    values = np.array([0, 1, -127, 1, 0], np.int8)
    xr.Dataset({"y": ("sample", values, {}, {"_FillValue": np.int8(-127)})}).to_netcdf(path)
    monkeypatch.setattr(cmp, "BLOCK_BYTES", 2)  # blocks of two rows
    with netCDF4.Dataset(path) as nc, xr.open_dataset(path) as ds:
        nc.set_always_mask(False)
        got = cmp._rows(nc["y"], np.array([True, True, True, False, True]))
        np.testing.assert_array_equal(got, ds["y"].values[[0, 1, 2, 4]])  # [0, 1, nan, 0]
    assert np.isnan(got[2]) and got.tolist()[:2] == [0, 1]


@pytest.mark.parametrize("damage", ["missing", "truncated"])
def test_a_run_without_readable_results_is_refused_in_one_line(tmp_path, damage):
    runs = [sobol_run(tmp_path), latin_run(tmp_path)]
    path = runs[1] / "results.nc"
    if damage == "missing":
        path.unlink()
    else:
        path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(RunError, match="has no results.nc" if damage == "missing" else "not a readable netCDF"):
        compare(runs)


def test_plot_is_sorted_by_probability(tmp_path):
    df = compare([sobol_run(tmp_path), latin_run(tmp_path)])
    fig = plot_compare(df)
    top, bottom = fig.axes[0], fig.axes[1]
    # Human names, the first run given is the main run (marked), and a run at another N says so.
    assert df.n.tolist() == [100, 75]
    assert [t.get_text() for t in bottom.get_xticklabels()] == ["Correlated [δ] (N = 75)", "Main run"]
    assert top.get_ylabel() == "P(holds), 95% interval\nN = 100 draws unless marked"
    np.testing.assert_allclose(top.lines[0].get_ydata(), [0.16, 0.55])
    main = next(ln for ln in top.lines if ln.get_label() == "Main run")
    np.testing.assert_allclose(main.get_xydata(), [[1, 0.55]])
    assert fig.get_figwidth() <= 6.5
    assert [t.get_text() for t in bottom.get_yticklabels()] == [
        "China's options", "Russia's capacity", "Value of autonomy"]
    assert [t.get_text() for t in fig.texts] == ["Intervals: Wilson score interval."]


@pytest.mark.parametrize(("names", "short"), [
    (["asia_pacification", "asia_pacification_kim_penalty", "asia_pacification_correlated"],
     ["asia_pacification", "kim_penalty", "correlated"]),
    (["flagship_a", "flagship_b"], ["a", "b"]),
    (["ab_c", "ab_cd"], ["ab_c", "ab_cd"]),
])
def test_variant_tick_labels_drop_the_shared_prefix(names, short):
    from analysis.compare import _short_names

    assert _short_names(names) == short


def test_compare_shows_the_interval_of_the_runs_indices_csv(tmp_path):
    # One run's probability carries one interval: with replicate designs compare.csv must
    # show indices.csv's Student-t interval across replicates, not a Wilson interval.
    from mcsens import run_study
    from tests.helpers import write_study

    (tmp_path / "flag_model.py").write_text(
        "import xarray as xr\n\ndef f(x):\n    return xr.Dataset({'flip': (x.x1 + x.x2 > 0.9).astype(float)})\n")
    runs = []
    for seed in (1, 2):
        path = write_study(tmp_path, "flag_model:f", name=f"s{seed}", seed=seed, samples=256, replicates=4,
                           extra='headline = ["flip"]')
        runs.append(run_study(path, out=tmp_path / "runs", figures=False, appendix=False))
    df = compare(runs)
    for run, row in zip(runs, df.itertuples()):
        p = pd.read_csv(run / "indices.csv").query("method == 'headline' and output == 'flip'").iloc[0]
        assert row.ci_method == p.conf_method == "Student-t interval across replicate designs"
        assert (row.p_holds, row.ci_low, row.ci_high) == pytest.approx((p.value, p.conf_low, p.conf_high), rel=1e-9)


def test_replicate_interval_is_the_t_interval_of_the_replicate_shares():
    from analysis.proportion import share_holds

    holds = np.r_[[1] * 5 + [0] * 5, [1] * 6 + [0] * 4, [1] * 4 + [0] * 6, [1] * 5 + [0] * 5].astype(bool)
    replicate = np.repeat(np.arange(4), 10)
    p, half, low, high, how = share_holds(holds, replicate, 0.95)
    # shares 0.5, 0.6, 0.4, 0.5: sd 0.08165, t(0.975, 3) = 3.182446
    assert p == pytest.approx(0.5) and half == pytest.approx(3.182446 * 0.0816497 / 2, rel=1e-6)
    assert (low, high) == pytest.approx((0.5 - half, 0.5 + half))
    assert how == "Student-t interval across replicate designs"
    p, half, low, high, how = share_holds(holds, None, 0.95)
    assert (low, high) == wilson(20, 40) and how == "Wilson score interval"
