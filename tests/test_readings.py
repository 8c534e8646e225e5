"""Rival readings as one sampled factor: the variance share of the reading, end to end."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from analysis.appendix.blocks import Fig, Table
from analysis.appendix.readings import readings
from analysis.figures import figure_specs
from analysis.figures.data import load_run
from mcsens import run_study
from study import StudyError, draw, load_study, open_run

MODEL = '''
import numpy as np
import xarray as xr

SEEN = set()


def f(x):
    assert x["reading"].dtype.kind == "U"  # the model sees the reading's file name
    y = x["m"] + x["b"] * x["x"]
    return xr.Dataset({"y": y.assign_attrs(label="y", units="1", description="level plus slope"),
                       "up": (y > 1).astype(float).assign_attrs(label="y above 1", units="1", description="y > 1")})
'''

BASE = '''[study]
name = "base"
model = "rmodel:f"

[sampling]
method = "sobol"
samples = {n}
seed = 9
second_order = false
replicates = 8

[analysis]
headline = ["up"]
key_output = "y"

[constants]
m = 0.0
b = 1.0

[parameters.x]
distribution = "uniform"
low = -1.7320508075688772
high = 1.7320508075688772

[parameters.reading]
distribution = "categorical"
values = ["base.toml", "rival.toml"]
weights = [0.25, 0.75]
'''

RIVAL = '''[study]
name = "rival"
extends = "base.toml"

[constants]
m = 2.0

[parameters.b]
distribution = "uniform"
low = 2.0
high = 4.0
'''


def _write(folder, n=2048, rival=RIVAL, base=BASE):
    (folder / "rmodel.py").write_text(MODEL)
    (folder / "base.toml").write_text(base.format(n=n))
    (folder / "rival.toml").write_text(rival)
    return folder / "base.toml"


def test_each_sample_takes_its_readings_declarations(tmp_path):
    study = load_study(_write(tmp_path))
    assert study.readings.varying == ("b", "m")
    assert "b" in study.param_names and "b" not in {c.name for c in study.constants}
    x = draw(study, method="latin", samples=400)
    rival = x.reading.values == "rival.toml"
    assert rival.sum() == 300  # weight 0.75 on a Latin hypercube of 400
    assert set(x.m.values[rival]) == {2.0} and set(x.m.values[~rival]) == {0.0}
    assert set(x.b.values[~rival]) == {1.0}
    assert 2.0 <= x.b.values[rival].min() and x.b.values[rival].max() <= 4.0
    assert x.b.attrs["by_reading"] == "base.toml: 1; rival.toml: U(2, 4)"


def test_the_readings_share_of_variance_is_analytic(tmp_path):
    # Y = m_R + b X, X of mean 0 and variance 1; b = 1 under the base reading, U(2, 4) under the rival.
    # V = Var(m) + E[b²] = 0.75 + 7.25 = 8; V_R = Var(m) = 0.75; V_X = E[b]² = 6.25;
    # ST_R = 1 - Var(E[Y | X, b]) / V with E[Y | X, b] = E m + (0.25 + 0.75 b) X: 1 - 6.4375 / 8.
    run = run_study(_write(tmp_path), out=tmp_path / "runs", figures=False, appendix=False, variants=False)
    table = pd.read_csv(run / "indices.csv")
    df = table.query("method == 'sobol' and output == 'y'").set_index(["param", "index"])
    for (param, index), truth in {("reading", "S1"): 0.75 / 8, ("x", "S1"): 6.25 / 8, ("b", "S1"): 0.0,
                                  ("reading", "ST"): 1 - 6.4375 / 8, ("b", "ST"): 0.25 / 8}.items():
        low, high = df.loc[(param, index), ["conf_low", "conf_high"]]
        assert low - 0.005 <= truth <= high + 0.005, (param, index, truth, low, high)
    with open_run(run) as ds:  # stored as codes with their labels, the model saw strings
        assert ds.reading.dtype.kind == "i"
        assert ds.reading.attrs["flag_meanings"] == "base.toml rival.toml"
        assert json.loads(ds.reading.attrs["categories"]) == ["base.toml", "rival.toml"]
        assert set(np.unique(ds.m.values[ds.reading.values == 1])) == {2.0}
    # The saved study file carries each reading's declarations: it loads with no variant beside it.
    lone = tmp_path / "elsewhere"
    lone.mkdir()
    shutil.copy(run / "study.toml", lone / "base.toml")
    again = load_study(lone / "base.toml")
    assert again.readings.declarations["rival.toml"]["b"].args == {"low": 2.0, "high": 4.0}
    _appendix_section_and_scatter(run, table)


def _appendix_section_and_scatter(run, table):
    # P(Y > 1): base, X > 1, (√3 − 1) / (2√3); rival, X > −1/b with E[1/b] = ln 2 / 2 for b ~ U(2, 4).
    truth = {"base.toml": (3**0.5 - 1) / (2 * 3**0.5), "rival.toml": (3**0.5 + np.log(2) / 2) / (2 * 3**0.5)}
    data = load_run(run)
    blocks = readings(data)
    tables = {b.name: b for b in blocks if isinstance(b, Table)}
    probs = tables["reading-p-base"].data.set_index("reading")
    for value, p in truth.items():
        assert probs.loc[value, "conf_low"] <= p <= probs.loc[value, "conf_high"], (value, p)
    shares = tables["reading-share-base"].data.set_index("output")
    st = table.query("method == 'sobol' and output == 'up' and param == 'reading' and index == 'ST'")
    assert shares.loc["up", "ST"] == pytest.approx(float(st["value"].iloc[0]), rel=1e-9)
    assert [b.name for b in blocks if isinstance(b, Fig)] == ["reading-share-base"]
    assert (run / "figures" / "reading-share-base.png").is_file()
    scatter = next(s for s in figure_specs(data) if s.name.startswith("scatter"))
    fig = scatter.draw()
    ticks = {a.get_xlabel(): [t.get_text() for t in a.get_xticklabels()] for a in fig.axes}
    assert ticks["reading"] == ["base", "rival"]  # the categorical's labels, not its codes


@pytest.mark.parametrize("rival, message", [
    (RIVAL + "\n[constants.extra]\nvalue = 1.0\n",
     "parameters.reading.values: must name readings that set only inputs this study declares (give 'extra' its "
     "value under this study's own reading in [constants]); got 'rival.toml', which declares 'extra'"),
    (RIVAL.replace('model', 'x').replace('extends = "base.toml"', 'model = "other:f"\nextends = "base.toml"'),
     "parameters.reading.values: must name readings of this study's model ('rmodel:f'); got 'rival.toml', a study "
     "of 'other:f'"),
    (RIVAL.replace("high = 4.0", "high = 1.0"), "parameters.b.high: must be greater than low (2.0); got 1.0"),
])
def test_bad_reading_is_one_line(tmp_path, rival, message):
    path = _write(tmp_path, n=64, rival=rival)
    with pytest.raises(StudyError) as err:
        load_study(path)
    where = tmp_path / ("rival.toml" if message.startswith("parameters.b") else "base.toml")
    assert str(err.value) == f"{where}: {message}"


def test_a_missing_reading_file_is_named(tmp_path):
    path = _write(tmp_path, n=64, base=BASE.replace('"rival.toml"]', '"rivl.toml"]'))
    with pytest.raises(StudyError) as err:
        load_study(path)
    assert str(err.value) == (f"{path}: parameters.reading.values: must name existing study files beside this one; "
                              "got 'rivl.toml', which does not exist")


def test_flagship_samples_its_four_rival_readings_in_fewer_runs_than_four_variants():
    from study.spec import design_runs
    from tests.helpers import ROOT

    params = ROOT / "params"
    study = load_study(params / "asia_pacification_readings.toml", samples=512)
    rivals = ("irrationality", "connectivity", "divide_and_rule", "europe_veto")
    assert study.readings.values == ("asia_pacification.toml", *(f"asia_pacification_{r}.toml" for r in rivals))
    # Under the paper's reading every switch keeps the model's default (absent = the paper's reading).
    from study.models.asia_pacification import READING_DEFAULTS

    for name in study.readings.varying:
        if name in READING_DEFAULTS:
            assert study.readings.host[name].value == READING_DEFAULTS[name], name
    # The default run's variants: the joint design (48,704 runs at N = 512) replaces four runs (173,120).
    from analysis.methods import designs

    joint = sum(r for _, r in design_runs(study, designs(study)))
    apart = sum(r for v in rivals for s in [load_study(params / f"asia_pacification_{v}.toml", samples=512)]
                for _, r in design_runs(s, designs(s)))
    assert (joint, apart) == (48704, 173120)
