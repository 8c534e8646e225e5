"""The headline-probability figure's value labels stay inside the axes at any probability
(centred over the marker they once ran across the frame near 0 and 1) and sit on white
over the 50% line (which struck through them)."""

from __future__ import annotations

import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from analysis.figures.uncertainty import plot_probability


@pytest.mark.parametrize("values", [(0.838, 0.865, 0.515), (0.01, 0.995, 0.5), (0.0, 1.0, 0.29)])
def test_probability_labels_stay_inside_the_axes(values):
    frame = pd.DataFrame({"output": ["a", "b", "c"], "value": values,
                          "conf_low": [max(0.0, v - 0.01) for v in values],
                          "conf_high": [min(1.0, v + 0.01) for v in values]})
    fig = plot_probability(frame, labels={"a": "First", "b": "Second", "c": "Third"})
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    ax = fig.axes[0]
    frame_box = ax.get_window_extent(renderer)
    notes = [t for t in ax.texts if "%" in t.get_text()]
    assert len(notes) == 3
    for t in notes:
        e = t.get_window_extent(renderer)
        assert frame_box.x0 <= e.x0 and e.x1 <= frame_box.x1, (t.get_text(), e, frame_box)
        assert t.get_bbox_patch() is not None and t.get_bbox_patch().get_facecolor()[:3] == (1.0, 1.0, 1.0)
