"""Figures a journal takes as they are: TrueType fonts, a serif face, titles that name the
output, legends off the data, true minus signs and a readable second-order heatmap."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.font_manager import FontProperties, findfont

from analysis.figures import figure_specs, load_run, plot_distribution, plot_s2
from analysis.figures.sensitivity import plot_indices, s2_scale, s2_text
from analysis.figures.style import num
from tests.helpers import ALLIANCE, need, parameter_labels, pdf_fonts

import xarray as xr

LABELS = parameter_labels(ALLIANCE)


def _drawn(fig):
    """Lay the figure out as saving does; return the renderer for window extents."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def _inside(inner, outer, tol=1.0) -> bool:
    return (inner.x0 >= outer.x0 - tol and inner.y0 >= outer.y0 - tol
            and inner.x1 <= outer.x1 + tol and inner.y1 <= outer.y1 + tol)


def _overlap(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def test_no_figure_pdf_embeds_a_type3_font(alliance_figures):
    need("pdffonts")
    pdfs = [p for p in alliance_figures if p.suffix == ".pdf"]
    assert len(pdfs) == 14
    for p in pdfs:
        found = pdf_fonts(p)
        assert found and {k for _, k in found} == {"CID TrueType"}, (p.name, found)


def test_figure_text_is_set_in_the_serif_face():
    from analysis.figures.style import style

    with style():
        path = findfont(FontProperties(family="serif"))
    assert os.path.basename(path) == "STIXGeneral.ttf"


def test_every_index_figure_is_titled_with_its_output_label(alliance_run):
    data = load_run(alliance_run)
    kinds = ("indices", "indices-grouped", "s2", "morris", "ranks", "convergence")
    seen = set()
    for spec in figure_specs(data):
        kind, _, out = spec.name.rpartition("-")
        if kind not in kinds:
            continue
        fig = spec.draw()
        titles = [a.get_title() for a in fig.axes] + [fig._suptitle.get_text()
                                                     if fig._suptitle else ""]
        assert data.label(out) in titles, (spec.name, titles)
        seen.add(kind)
    assert seen == set(kinds)
    assert data.label("delta_nb_europe") == "Change in Europe's net benefit"


def test_indices_legend_sits_below_the_bars(alliance_run):
    rows = pd.read_csv(alliance_run / "indices.csv").query(
        "output == 'delta_nb_europe' and method == 'sobol' and index in ['S1', 'ST']")
    fig = plot_indices(rows, labels=LABELS, floor=0.02, title="t")
    r = _drawn(fig)
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["Noise floor", "Total order",
                                                         "First order"]
    box, axes = legend.get_window_extent(r), fig.axes[0].get_window_extent(r)
    assert box.y1 <= axes.y0 and _inside(box, fig.bbox)


def test_distribution_legend_is_off_the_data_and_the_band_swatch_shows():
    v = xr.DataArray(np.linspace(-3.0, -1.0, 201), dims="sample")
    fig = plot_distribution(v, label="Loss")
    r = _drawn(fig)
    ax = fig.axes[0]
    legend = ax.get_legend()
    assert not _overlap(legend.get_window_extent(r), ax.get_window_extent(r))
    assert _inside(legend.get_window_extent(r), fig.bbox)
    texts = [t.get_text() for t in legend.get_texts()]
    lo, med, hi = np.quantile(v.values, [0.05, 0.5, 0.95])
    assert texts == ["5–95% of draws", f"Median {num(med)}", f"Mean {num(v.values.mean())}",
                     "0% of draws > 0"]
    assert texts[1] == "Median \u22122" and "-" not in "".join(texts)
    band = legend.legend_handles[0]
    assert band.get_edgecolor()[3] > 0 and band.get_edgecolor()[:3] != (1.0, 1.0, 1.0)
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert any("\u2212" in t for t in ticks) and not any("-" in t for t in ticks)


def test_num_rounds_to_significant_digits_with_a_true_minus():
    assert num(-0.0071234) == "\u22120.00712"
    assert num(12345.6) == "1.23e+04"
    assert num(-1e-20, 2) == "\u22121e\u221220"
    assert num(-0.0) == "0"


def _s2_frame(values: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame({"param": list(values), "value": list(values.values()),
                         "conf_low": [v - 0.001 for v in values.values()]})


def test_small_second_order_indices_are_scaled_not_printed_as_zero():
    vals = {"a:b": 0.0071, "a:c": -0.0023, "b:c": 0.0004}
    labels = {"a": "First input", "b": "Second input", "c": "A third, rather longer input label"}
    assert s2_scale(np.array(list(vals.values()))) == 3
    fig = plot_s2(_s2_frame(vals), params=["a", "b", "c"], labels=labels)
    ax = fig.axes[0]
    cells = sorted(t.get_text() for t in ax.texts)
    assert cells == sorted(["7.1*", "\u22122.3", "0.4"])  # 0.0004's interval reaches 0
    bar = fig.axes[1]
    assert bar.get_ylabel() == r"Second-order index $S_{ij}$ ($\times 10^{-3}$)"
    # The key (a legend) lies wholly inside the saved image.
    r = _drawn(fig)
    (key,) = fig.legends
    assert [t.get_text() for t in key.get_texts()] == [f"{k}  {labels[p]}" for k, p in
                                                        enumerate("abc", 1)]
    assert _inside(key.get_window_extent(r), fig.bbox)


def test_large_second_order_indices_keep_two_decimals():
    assert s2_scale(np.array([0.25, -0.01])) == 0
    assert s2_text(-0.013, 0) == "\u22120.01"
    assert s2_text(-0.0004, 0) == "0.00"
    assert s2_text(0.0071, 3) == "7.1"


def test_term_names_read_as_words():
    from analysis.figures.uncertainty import term_label

    assert term_label("coercion_of_china") == "Coercion of China"
    assert term_label("us_commitment") == "US commitment"
    assert term_label("russia_wedge") == "Russia wedge"
    assert term_label("ap4_arms") == "AP4 arms"
