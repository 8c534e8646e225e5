"""Figures: files are valid PDF/PNG at journal sizes, and every figure's data come from the
run directory (bar lengths equal indices.csv, shares equal the saved draws)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from PIL import Image

from analysis.figures import (figure_specs, load_run, plot_decomposition,
                              plot_distribution, plot_indices, plot_probability, plot_ranks,
                              plot_s2, plot_scatter, ranks_frame)
from analysis.figures.data import select_cell
from analysis.figures.scatter import DENSE
from analysis.figures.sensitivity import noise_floor, plot_convergence, plot_morris
from analysis.figures.style import DOUBLE, SINGLE
from analysis.figures.uncertainty import decomposition_frame, term_label
from tests.helpers import ALLIANCE, parameter_labels

#: Parameter name -> label, from the alliance run's study file.
LABELS = parameter_labels(ALLIANCE)


@pytest.fixture(scope="module")
def run(alliance_run):
    return alliance_run


@pytest.fixture(scope="module")
def built(alliance_figures):
    return alliance_figures


@pytest.fixture(scope="module")
def data(run):
    return load_run(run)


@pytest.fixture(scope="module")
def indices(run):
    return pd.read_csv(run / "indices.csv")


def _ab(run) -> xr.Dataset:
    """The A and B rows of the saved Saltelli design, computed here independently."""
    ds = xr.load_dataset(run / "results.nc")
    labels = json.loads(ds.attrs["matrix_labels"])
    codes = [labels.index("A"), labels.index("B")]
    return ds.isel(sample=np.isin(ds["matrix"].values, codes))


EXPECTED = ["distribution-net_benefit", "distribution-delta_nb_europe", "probability",
            "decomposition-terms", "indices-europe_flip", "indices-grouped-europe_flip",
            "indices-delta_nb_europe", "indices-grouped-delta_nb_europe", "s2-delta_nb_europe",
            "scatter-delta_nb_europe", "morris-delta_nb_europe", "ranks-delta_nb_europe",
            "convergence-europe_flip", "convergence-delta_nb_europe"]


def test_every_figure_is_written_as_pdf_and_png(run, built):
    assert [p.name for p in built] == [f"{n}.{e}" for n in EXPECTED for e in ("pdf", "png")]
    for p in built:
        raw = p.read_bytes()
        if p.suffix == ".pdf":
            assert raw.startswith(b"%PDF-") and raw.rstrip().endswith(b"%%EOF")
        else:
            assert raw.startswith(b"\x89PNG\r\n\x1a\n")


def test_pngs_are_300_dpi_and_one_or_two_journal_columns(built):
    for p in (q for q in built if q.suffix == ".png"):
        with Image.open(p) as im:
            im.verify()
        with Image.open(p) as im:
            assert im.info["dpi"] == pytest.approx((300, 300), abs=0.01)
            width_in = im.size[0] / 300
        # One column, two columns, or (S2 heatmap with its key) three quarters of a page.
        assert any(abs(width_in - w) < 0.01 for w in (SINGLE, DOUBLE, 0.75 * DOUBLE)), p.name


def test_indices_bars_equal_indices_csv(data, indices):
    rows = indices[(indices["output"] == "delta_nb_europe") & (indices["method"] == "sobol")]
    fig = plot_indices(rows[rows["index"].isin(["S1", "ST"])], labels=data.labels,
                       floor=noise_floor(rows))
    ax = fig.axes[0]
    st = rows[rows["index"] == "ST"].sort_values("value")  # bars run bottom-up
    s1 = rows[rows["index"] == "S1"].set_index("param").loc[st["param"]]
    np.testing.assert_allclose([b.get_width() for b in ax.containers[0]], st["value"])
    np.testing.assert_allclose([b.get_width() for b in ax.containers[2]], s1["value"])
    # Axis labels are the parameters' labels, not their variable names.
    assert [t.get_text() for t in ax.get_yticklabels()] == [LABELS[p] for p in st["param"]]
    floor = rows.loc[rows["index"] == "ST_dummy", "conf_high"].item()
    assert any(np.allclose(line.get_xdata(), floor) for line in ax.get_lines())


def test_grouped_bars_equal_indices_csv(data, indices):
    rows = indices[(indices["output"] == "europe_flip")
                   & indices["index"].isin(["S1_group", "ST_group"])]
    fig = plot_indices(rows, labels={})
    st = rows[rows["index"] == "ST_group"].sort_values("value")
    np.testing.assert_allclose([b.get_width() for b in fig.axes[0].containers[0]], st["value"])
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == [
        g.replace("_", " ").capitalize() for g in st["param"]]


def test_probability_point_and_interval_equal_p_row(data, indices):
    p = indices[indices["index"] == "P"]
    fig = plot_probability(p, labels={"europe_flip": "Flip"})
    err = fig.axes[0].containers[0]
    np.testing.assert_allclose(err.lines[0].get_xdata(), p["value"])
    seg = err.lines[2][0].get_segments()[0]
    np.testing.assert_allclose(sorted(seg[:, 0]), [p["conf_low"].item(), p["conf_high"].item()])


def test_distribution_shares_above_zero_come_from_the_saved_draws(run, data):
    ab = _ab(run)["net_benefit"]
    fig = plot_distribution(data.independent()["net_benefit"], label="Net benefit")
    for ax, actor in zip(fig.axes, ["united_states", "europe", "asia_pacific"]):
        texts = [t.get_text() for t in ax.get_legend().get_texts()]
        want = [f"{ph.capitalize()}: {np.mean(ab.sel(actor=actor, phase=ph).values > 0):.0%} > 0"
                for ph in ("pre", "post")]
        assert texts == want
    assert fig.axes[0].get_xlabel() == "Net benefit"


def test_decomposition_bars_equal_mean_change_per_term(run):
    terms = _ab(run)["terms"]
    change = (terms.sel(phase="post") - terms.sel(phase="pre")).mean("sample")
    fig = plot_decomposition(decomposition_frame(_ab(run)["terms"]))
    ax = fig.axes[1]  # Europe
    got = {t.get_text(): b.get_width() for t, b in zip(ax.get_yticklabels(), ax.containers[0])}
    want = {term_label(t): float(change.sel(actor="europe", term=t))
            for t in change["term"].values if float(np.abs(change.sel(actor="europe", term=t))) > 0}
    assert got.keys() == want.keys()
    np.testing.assert_allclose([got[k] for k in want], list(want.values()))


def test_decomposition_reads_term_owner_coordinate():
    da = xr.DataArray(np.arange(12.0).reshape(2, 2, 3), dims=("sample", "phase", "term"),
                      coords={"phase": ["pre", "post"], "term": ["eu.a", "eu.b", "us.c"],
                              "term_actor": ("term", ["eu", "eu", "us"])})
    f = decomposition_frame(da)
    assert list(f["actor"]) == ["eu", "eu", "us"]
    assert list(f["term"]) == ["a", "b", "c"]
    np.testing.assert_allclose(f["mean"], [3.0, 3.0, 3.0])


def test_a_term_that_moves_alike_in_every_draw_gets_no_negative_error_bar():
    # mean(0.7 seven times) is 1.1e-16 above its 95% quantile: the bar used to be refused.
    terms = xr.DataArray(np.stack([np.zeros(7), np.full(7, 0.7)], axis=1)[:, :, None],
                         dims=("sample", "phase", "term"),
                         coords={"phase": ["pre", "post"], "term": ["other"]})
    frame = decomposition_frame(terms)
    assert frame["mean"].item() > frame["high"].item()
    fig = plot_decomposition(frame)
    (bars,) = [c for c in fig.axes[0].containers if hasattr(c, "patches")]
    assert bars.patches[0].get_width() == pytest.approx(0.7)
    segment = fig.axes[0].collections[0].get_segments()[0]
    assert segment[0, 0] == pytest.approx(0.7) and segment[1, 0] == pytest.approx(0.7)


def test_s2_heatmap_values_equal_indices_csv(data, indices):
    rows = indices[(indices["index"] == "S2") & (indices["output"] == "delta_nb_europe")]
    params = list(LABELS)
    fig = plot_s2(rows, params=params, labels=LABELS)
    shown = fig.axes[0].images[0].get_array()
    for r in rows.itertuples():
        a, b = r.param.split(":")
        i, j = sorted((params.index(a), params.index(b)), reverse=True)
        assert shown[i, j] == pytest.approx(r.value)


def test_ranks_and_morris_come_from_indices_csv(data, indices):
    ranks = ranks_frame(data, "delta_nb_europe", {})
    sub = indices[indices["output"] == "delta_nb_europe"]
    mu = sub[sub["index"] == "mu_star"].set_index("param")["value"]
    np.testing.assert_array_equal(ranks["Morris μ*"].sort_index(),
                                  mu.rank(ascending=False, method="min").sort_index())
    fig = plot_ranks(ranks, labels=LABELS)
    order = ranks.sort_values(ranks.columns[0])
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), order.to_numpy(float))
    mfig = plot_morris(sub[sub["method"] == "morris"], labels=LABELS)
    pts = mfig.axes[0].containers[0].lines[0]
    sigma = sub[sub["index"] == "sigma"].set_index("param")["value"]
    np.testing.assert_allclose(pts.get_xdata(), mu.sort_index())
    np.testing.assert_allclose(pts.get_ydata(), sigma.sort_index())


def test_convergence_lines_equal_indices_nc(run, data):
    conv = xr.load_dataset(run / "indices.nc", group="sobol")
    v = conv["delta_nb_europe__convergence__ST"].rename(n="N")
    c = conv["delta_nb_europe__convergence__ST_conf"].rename(n="N")
    fig = plot_convergence(v, c, labels=LABELS, tolerance=0.05)
    lines = [ln for ln in fig.axes[0].get_lines()]
    first = v.isel(N=-1).to_series().idxmax()
    np.testing.assert_allclose(lines[0].get_ydata(), v.sel(param=first).values)
    np.testing.assert_allclose(fig.axes[1].get_lines()[0].get_ydata(), c.max("param").values)
    # indices.nc counts the base rows of each replicate design in a nested prefix (16, then
    # all 32 of N = 128 over 4 replicates); load_run puts the base sample size on the axis.
    np.testing.assert_array_equal(conv["n"], [16, 32])
    read = data.convergence["delta_nb_europe__ST"]
    np.testing.assert_array_equal(read["N"], [64, 128])
    np.testing.assert_allclose(read.values, v.values)


def test_scatter_plots_the_top_inputs_against_the_key_output(run, data):
    spec = next(s for s in figure_specs(data) if s.name == "scatter-delta_nb_europe")
    fig = spec.draw()
    ab = _ab(run)
    st = pd.read_csv(run / "indices.csv").query("output == 'delta_nb_europe' and index == 'ST'")
    top = list(st.sort_values("value", ascending=False)["param"][:4])
    assert [a.get_xlabel().replace("\n", " ") for a in fig.axes[:4]] == [LABELS[p] for p in top]
    ok = ab["europe_flip"].values.astype(bool)
    holds = fig.axes[0].collections[1].get_offsets()
    np.testing.assert_allclose(holds[:, 0], ab[top[0]].values[ok])
    np.testing.assert_allclose(holds[:, 1], ab["delta_nb_europe"].values[ok])


def test_dense_scatter_colours_hexagons_by_share_that_holds():
    rng = np.random.default_rng(0)
    x = rng.random(DENSE + 1000)
    fig = plot_scatter({"p": x}, x + rng.normal(0, 0.1, x.size), labels={"p": "P"}, ylabel="y",
                       holds=(x > 0.5).astype(int), holds_label="x above half")
    hexes = fig.axes[0].collections[0]
    share, centres = hexes.get_array(), hexes.get_offsets()[:, 0]
    assert np.all(share[centres < 0.4] == 0) and np.all(share[centres > 0.6] == 1)


def test_absent_methods_give_no_figure_and_no_error(sobol_only_run, latin_run):
    # Sobol' alone (no Morris, delta, headline or terms): no Morris, ranks or decomposition.
    names = [s.name for s in figure_specs(load_run(sobol_only_run))]
    assert names == ["distribution-y", "indices-y", "indices-grouped-y", "scatter-y", "convergence-y"]
    # Delta alone on a Latin hypercube: no Sobol' indices, so no convergence either.
    assert [s.name for s in figure_specs(load_run(latin_run))] == ["distribution-y"]


def test_figures_never_import_the_model_or_salib():
    code = ("import sys, analysis.figures, analysis.appendix; "
            "print(any(m.split('.')[0] == 'SALib' for m in sys.modules), "
            "any(m.startswith('study.models') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["False", "False"]


def test_cells_of_a_multi_dimensional_output_are_faceted(data, indices):
    rows = indices[(indices["output"] == "net_benefit") & (indices["method"] == "sobol")]
    cell = {"actor": "europe", "phase": "post"}
    sel = select_cell(rows, cell, data.dim_columns)
    assert set(sel["actor"]) == {"europe"} and set(sel["phase"]) == {"post"}
    assert len(sel[sel["index"] == "ST"]) == len(LABELS)


def _shown_texts(fig) -> list[tuple[str, bool]]:
    """What matplotlib draws for every text artist: (text, parsed as mathtext?)."""
    import io

    from matplotlib.text import Text

    fig.savefig(io.BytesIO(), format="png", dpi=50)  # a full draw: ticks, legends, bars
    return [t._preprocess_math(t.get_text()) for t in fig.findobj(Text) if t.get_text()]


def test_every_plot_draws_dollar_and_backslash_labels_as_written(run, data, indices):
    """Labels that mathtext cannot parse ($\\input$, a lone $\\frac$) or would typeset
    ($x^2_i$) are drawn literally by every plot; no user text is taken for math."""
    hostile = {p: rf"$\input{{{p}}}$ $\frac$ {p}_x^2" for p in LABELS}
    sub = indices[indices["output"] == "delta_nb_europe"]
    conv = xr.load_dataset(run / "indices.nc", group="sobol")
    v = conv["delta_nb_europe__convergence__ST"].rename(n="N")
    ind = data.independent()
    top = list(LABELS)[:2]
    figs = [
        plot_indices(sub[sub["index"].isin(["S1", "ST"])], labels=hostile, title="$t$ (a)"),
        plot_s2(sub[sub["index"] == "S2"], params=list(LABELS), labels=hostile, title="$t$"),
        plot_convergence(v, None, labels=hostile, xlabel="$N$", title="$t$"),
        plot_morris(sub[sub["method"] == "morris"], labels=hostile, title="$t$"),
        plot_ranks(ranks_frame(data, "delta_nb_europe", {}), labels=hostile, title="$t$"),
        plot_probability(indices[indices["index"] == "P"], labels={"europe_flip": "$p$ x"}),
        plot_scatter({p: ind[p].values for p in top}, ind["delta_nb_europe"].values,
                     labels=hostile, ylabel="$y$", holds=ind["europe_flip"].values,
                     holds_label="$h$"),
        plot_distribution(ind["delta_nb_europe"], label="$d$ [$]"),
    ]
    shown = [_shown_texts(f) for f in figs]
    # Only the toolkit's own math is parsed: the S2 colour bar and log-axis ticks.
    math = {t for texts in shown for t, is_math in texts if is_math}
    assert all(t.startswith("Second-order index $S_{ij}$") or t.startswith(r"$\mathdefault")
               for t in math), math
    flat = {t for texts in shown for t, _ in texts}
    for p in LABELS:
        assert any(hostile[p] in t for t in flat), p
    assert {"$t$ (a)", "$N$", "$p$ x", "$y$", "$d$ [$]", "holds: $h$"} <= flat


def test_convergence_legend_keeps_a_label_starting_with_underscore(run):
    conv = xr.load_dataset(run / "indices.nc", group="sobol")
    v = conv["delta_nb_europe__convergence__ST"].rename(n="N")
    labels = {p: f"_{p}" for p in LABELS}  # matplotlib hides legend entries named "_..."
    fig = plot_convergence(v, None, labels=labels, top=3)
    shown = [t.get_text() for t in fig.legends[0].get_texts()]
    first = v.isel(N=-1).to_series().sort_values(ascending=False).index[:3]
    assert shown == [f"_{p}" for p in first]


def test_figure_file_names_are_slugs(data):
    from analysis.figures import _stem
    from analysis.textsafe import slug

    assert _stem("indices", "net_benefit") == "indices-net_benefit"
    assert _stem("indices", "../../x") == "indices-" + slug("../../x")
    names = [s.name for s in figure_specs(data)]
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+", n) for n in names)
    assert len({n.casefold() for n in names}) == len(names)


def _two_savefigs(fig, directory, name):
    """What ``save`` did before it laid figures out in the writing draw: two plain savefigs."""
    from analysis.figures.style import DPI, quiet_fonts, style

    directory.mkdir(parents=True, exist_ok=True)
    with style(), quiet_fonts():
        fig.savefig(directory / f"{name}.pdf", metadata={"CreationDate": None, "Creator": "mcsens"})
        fig.savefig(directory / f"{name}.png", dpi=DPI, metadata={"Software": "mcsens"},
                    pil_kwargs={"compress_level": 3})


def _laid_out_figure():
    """A figure whose layout constrained layout decides: panels, a colorbar, a suptitle, a
    legend outside the axes (as the reading figure has) and long tick labels."""
    from analysis.figures.style import figure, style

    with style():
        fig, axes = figure(DOUBLE, 0.5 * DOUBLE, 1, 2)
        axes = axes.ravel()
        axes[0].barh(range(3), [0.2, 0.5, 0.1], label="S1")
        axes[0].set_yticks(range(3), ["a long parameter label", "β", "$x_1$"])
        im = axes[1].imshow(np.arange(12.0).reshape(3, 4))
        fig.colorbar(im, ax=axes[1], label="ST")
        fig.suptitle("Indices")
        fig.legend(frameon=False, loc="outside lower center")
    return fig


def _same_png(a, b) -> bool:
    """The same image: mode, size, every pixel, resolution and Software text (not the bytes)."""
    from PIL import Image

    with Image.open(a) as x, Image.open(b) as y:
        return (x.mode, x.size, x.info.get("dpi"), x.info.get("Software")) == \
            (y.mode, y.size, y.info.get("dpi"), y.info.get("Software")) and \
            np.array_equal(np.asarray(x), np.asarray(y))


def test_save_writes_the_files_two_plain_savefigs_write(tmp_path, monkeypatch):
    """save runs the layout in the draw that writes each file (one draw per file, not two):
    the PDF's bytes and the PNG's pixels of savefig's own measuring draw (the PNG is
    encoded by analysis.figures.png, not Pillow), and the figure keeps its engine."""
    from matplotlib.figure import Figure

    from analysis.figures.style import save

    fig = _laid_out_figure()
    engine = fig.get_layout_engine()
    draws = []
    plain = Figure.draw
    monkeypatch.setattr(Figure, "draw", lambda self, renderer: draws.append(1) or plain(self, renderer))
    save(fig, tmp_path / "new", "f")
    assert len(draws) == 2  # savefig alone draws each file twice
    monkeypatch.undo()
    assert fig.get_layout_engine() is engine and "draw" not in vars(fig)
    _two_savefigs(_laid_out_figure(), tmp_path / "old", "f")
    assert (tmp_path / "new" / "f.pdf").read_bytes() == (tmp_path / "old" / "f.pdf").read_bytes()
    assert _same_png(tmp_path / "new" / "f.png", tmp_path / "old" / "f.png")
    assert (tmp_path / "new" / "f.png").read_bytes() != (tmp_path / "old" / "f.png").read_bytes()


def test_encode_png_is_read_back_pixel_for_pixel():
    """Any RGBA array (odd sizes, every byte value, alpha included) decodes as it was given."""
    import io

    from PIL import Image

    from analysis.figures.png import encode_png

    rgba = np.random.default_rng(3).integers(0, 256, (37, 51, 4), dtype=np.uint8)
    rgba[:5] = 255  # a flat run, as most of a figure is
    with Image.open(io.BytesIO(encode_png(rgba, dpi=300, text={"Software": "mcsens"}))) as im:
        im.load()  # verifies every chunk's CRC and the deflate stream
        assert (im.mode, im.size, im.info["Software"]) == ("RGBA", (51, 37), "mcsens")
        assert im.info["dpi"] == pytest.approx((300, 300), abs=1e-3)
        assert np.array_equal(np.asarray(im), rgba)
    with pytest.raises(ValueError, match="not an RGBA image"):
        encode_png(rgba[..., :3], dpi=300)


def test_write_png_has_the_pixels_of_savefig_with_a_tight_box(tmp_path):
    """Arguments savefig takes pass through: a tight box crops as it does in matplotlib's PNG."""
    from analysis.figures.png import write_png

    # A figure each: a second tight save of one figure measures the layout the first left.
    _laid_out_figure().savefig(tmp_path / "plain.png", dpi=100, bbox_inches="tight",
                               metadata={"Software": "mcsens"})
    write_png(_laid_out_figure(), tmp_path / "own.png", dpi=100, text={"Software": "mcsens"},
              bbox_inches="tight")
    assert _same_png(tmp_path / "plain.png", tmp_path / "own.png")


def test_save_cost_ranks_the_kinds_of_figure():
    from analysis.figures import FigureSpec, save_cost

    def cost(name):
        return save_cost(FigureSpec(name, "", "", lambda: None))

    assert cost("scatter-x") > cost("indices-x") > cost("indices-grouped-x") > cost("probability")
    assert cost("indices-over-time-x") == cost("indices-over-year-y") != cost("indices-x")
    assert cost("something-new") == cost("other")


def test_font_lookups_are_kept_within_a_save_and_put_back_after(monkeypatch):
    from matplotlib import font_manager

    from analysis.figures.style import _font_lookups_kept, style

    manager = font_manager.fontManager
    calls = []
    plain = manager._find_fonts_by_props
    monkeypatch.setattr(type(manager), "_find_fonts_by_props",  # the lookups that reach the manager
                        lambda self, *a, **k: calls.append(a) or plain(*a, **k))
    with style():
        prop = font_manager.FontProperties(size=7)
        expected = plain(prop)
        with _font_lookups_kept():
            with _font_lookups_kept():  # an inner block keeps the outer one's answers
                got = [manager._find_fonts_by_props(prop) for _ in range(3)]
            got.append(manager._find_fonts_by_props(font_manager.FontProperties(size=7)))  # equal properties
        assert "_find_fonts_by_props" not in vars(manager)
    assert got == [expected] * 4 and len(calls) == 1
    assert len({id(g) for g in got}) == 4  # each caller its own list
