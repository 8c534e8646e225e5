"""A small model whose outputs have a ``time`` dimension, run through the command line:
CF attributes on what it stores, and index-over-time figures that show indices.csv."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from analysis.figures import figure_specs, load_run
from analysis.figures.sensitivity import plot_indices_over

from mcsens.cli import main

MODEL = '''
import numpy as np
import xarray as xr


def evaluate(x):
    """a weighs on the start of the period, b on its end: their indices trade places."""
    t = xr.DataArray(np.arange(4.0) / 3, dims="time", coords={"time": [2022, 2023, 2024, 2025]})
    actor = xr.DataArray([1.0, 2.0], dims="actor", coords={"actor": ["europe", "asia"]})
    y = (x.a * (1 - t) + x.b * t).transpose("sample", "time")
    z = (x.a * actor * (1 - t) + x.b * t).transpose("sample", "actor", "time")
    return xr.Dataset({"y": y.assign_attrs(label="Share of cost", units="1"),
                       "z": z.assign_attrs(label="Pressure", units="kt"),
                       "flag": (x.a > 0.5).astype(float).assign_attrs(label="a above a half")})
'''

STUDY = '''
[study]
name = "timed"
model = "timed_model:evaluate"

[sampling]
method = "sobol"
samples = 128
seed = 3
second_order = false

[analysis]
methods = ["sobol"]
headline = ["flag"]
outputs = ["y", "z", "flag"]

[constants.c]
value = 2.0
label = "Unused constant"
unit = "m"

[parameters.a]
distribution = "uniform"
low = 0
high = 1
label = "Early weight"
unit = "kt"

[parameters.b]
distribution = "uniform"
low = 0
high = 1
label = "Late weight"
'''


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("timed")
    (folder / "timed_model.py").write_text(textwrap.dedent(MODEL), encoding="utf-8")
    (folder / "timed.toml").write_text(STUDY, encoding="utf-8")
    assert main(["run", str(folder / "timed.toml"), "--out", str(folder / "runs"),
                 "--no-appendix"]) == 0
    (manifest,) = (folder / "runs").glob("timed/*/manifest.json")
    return manifest.parent


def test_stored_inputs_and_outputs_carry_cf_attributes(run):
    ds = xr.open_dataset(run / "results.nc")
    assert ds.attrs["Conventions"] == "CF-1.10"
    a = ds["a"].attrs
    assert (a["units"], a["long_name"], a["label"]) == ("kt", "Early weight", "Early weight")
    assert "unit" not in a
    assert (ds["b"].attrs["units"], ds["b"].attrs["long_name"]) == ("", "Late weight")
    assert (ds["c"].attrs["units"], ds["c"].attrs["long_name"]) == ("m", "Unused constant")
    assert (ds["y"].attrs["units"], ds["y"].attrs["long_name"]) == ("1", "Share of cost")
    assert ds["flag"].attrs["long_name"] == "a above a half"
    ds.close()


def _st(run) -> pd.DataFrame:
    df = pd.read_csv(run / "indices.csv")
    return df[(df["method"] == "sobol") & (df["index"] == "ST")]


def test_an_output_with_a_time_dimension_gets_an_index_over_time_figure(run):
    names = {p.name for p in (run / "figures").iterdir()}
    for stem in ("indices-over-time-y", "indices-over-time-z"):
        assert {f"{stem}.pdf", f"{stem}.png"} <= names
    spec = next(s for s in figure_specs(load_run(run)) if s.name == "indices-over-time-y")
    fig = spec.draw()
    ax = fig.axes[0]
    st = _st(run).query("output == 'y'")
    for line, p in zip(ax.lines, ("a", "b")):
        rows = st[st["param"] == p].sort_values("time")
        np.testing.assert_array_equal(line.get_xdata(), [2022, 2023, 2024, 2025])
        np.testing.assert_allclose(line.get_ydata(), rows["value"])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2022", "2023", "2024", "2025"]
    assert fig._suptitle.get_text() == "Share of cost"
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["Early weight", "Late weight"]


def test_indices_trade_places_as_the_model_says(run):
    """Var(y_t) = ((1 - t)² + t²) / 12, so S_a(t) = (1 - t)² / ((1 - t)² + t²)."""
    st = _st(run).query("output == 'y'").pivot(index="time", columns="param", values="value")
    t = np.arange(4.0) / 3
    np.testing.assert_allclose(st["a"], (1 - t) ** 2 / ((1 - t) ** 2 + t ** 2), atol=0.1)
    np.testing.assert_allclose(st["b"], t ** 2 / ((1 - t) ** 2 + t ** 2), atol=0.1)


def test_a_second_extra_dimension_becomes_panels(run):
    st = _st(run).query("output == 'z'")
    fig = plot_indices_over(st, dim="time", panel="actor",
                            labels={"a": "Early weight", "b": "Late weight"}, title="Pressure")
    assert [a.get_title() for a in fig.axes] == ["Europe", "Asia"]
    asia = st[(st["actor"] == "asia") & (st["param"] == "a")].sort_values("time")
    np.testing.assert_allclose(fig.axes[1].lines[0].get_ydata(), asia["value"])


def test_categorical_steps_are_placed_in_order():
    frame = pd.DataFrame({"param": ["p"] * 3, "value": [0.1, 0.5, 0.9],
                          "conf_low": [0.0, 0.4, 0.8], "conf_high": [0.2, 0.6, 1.0],
                          "stage": ["early", "middle", "late"]})
    fig = plot_indices_over(frame, dim="stage", labels={"p": "P"})
    ax = fig.axes[0]
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), [0, 1, 2])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["early", "middle", "late"]
    assert ax.get_xlabel() == "Stage"


def test_over_figure_legend_fits_with_long_labels():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    labels = {p: f"A rather long label for input {p} (with its symbol)" for p in "abcde"}
    frame = pd.DataFrame([{"param": p, "value": v, "conf_low": v, "conf_high": v, "time": t}
                          for p, v in zip("abcde", [0.5, 0.4, 0.3, 0.2, 0.1]) for t in (1, 2)])
    fig = plot_indices_over(frame, dim="time", labels=labels)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    box = fig.legends[0].get_window_extent(canvas.get_renderer())
    assert box.x0 >= 0 and box.x1 <= fig.bbox.x1


def _over(cells: dict) -> tuple | None:
    """over_dims of one output whose ST rows have the given dimension columns."""
    from types import SimpleNamespace

    from analysis.figures import over_dims

    frame = pd.DataFrame({"param": "a", "value": 0.5, **cells})
    data = SimpleNamespace(dim_columns=list(cells), rows=lambda *a, **k: frame)
    return over_dims(data, "y")


def test_which_dimension_an_index_curve_follows():
    assert _over({"time": [1, 2]}) == ("time", None)
    assert _over({"actor": ["us", "eu"], "year": [2022, 2023]}) == ("year", "actor")
    assert _over({"level": [0.1, 0.2, 0.3]}) == ("level", None)  # numbers: ordered
    # Names have no order (actors get faceted bars); two steps make no curve; a phase or
    # term breakdown, or three dimensions, get none.
    assert _over({"actor": ["us", "eu", "ap4"]}) is None
    assert _over({"level": [0.1, 0.2]}) is None
    assert _over({"time": [1, 2], "phase": ["pre", "post"]}) is None
    assert _over({"time": [1, 2], "actor": ["a", "b"], "arm": ["x", "y"]}) is None
