"""The appendix's reading-share figure is drawn like the run's own figures: the legend
covers no bar and every label lies inside the figure (it once used pyplot's defaults:
DejaVu Sans, a legend over the third bar pair, the axis label cut at the right edge)."""

from __future__ import annotations

import importlib

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg

from analysis.figures import parallel
from analysis.figures.style import SERIF
from tests.helpers import pdf_fonts

readings = importlib.import_module("analysis.appendix.readings")  # the package's readings() shadows it


def test_reading_share_figure_keeps_its_legend_and_labels_inside_and_off_the_bars(tmp_path, monkeypatch):
    shares = pd.DataFrame({"output": ["a", "b", "c"], "S1": [0.2, 0.1, 0.07], "S1_low": [0.1, 0.07, -0.07],
                           "S1_high": [0.3, 0.18, 0.21], "ST": [0.53, 0.49, 0.6], "ST_low": [0.44, 0.35, 0.48],
                           "ST_high": [0.63, 0.64, 0.72]})
    labels = {"a": "The war deepened Asia-Pacification", "b": "$x$ sped up", "c": "Europe: worth a try"}
    kept = {}
    monkeypatch.setattr(parallel, "save_soon", lambda fig, d, n, save: save(kept.setdefault("fig", fig), d, n))
    readings._figure(shares, labels, tmp_path, "share")
    fig = kept["fig"]
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    ax = fig.axes[0]
    legend = fig.legends[0].get_window_extent(renderer)
    assert not legend.overlaps(ax.get_window_extent(renderer))
    box = fig.bbox
    for text in [ax.xaxis.label, *ax.get_yticklabels()]:
        e = text.get_window_extent(renderer)
        assert box.x0 <= e.x0 and e.x1 <= box.x1 and box.y0 <= e.y0 and e.y1 <= box.y1, text.get_text()
    assert ax.get_yticklabels()[1].get_text() == r"\$x\$ sped up"  # the user's text, not mathtext
    fonts = {name.split("+", 1)[-1] for name, _ in pdf_fonts(tmp_path / "share.pdf")}
    assert fonts == {f"{SERIF}-Regular"}
