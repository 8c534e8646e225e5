"""Reweighting a run with categorical and integer inputs, against analytic values and direct re-runs.

``y = m[regime] + k + u`` with regime ~ Cat(peace 0.7, war 0.3), m = (0, 2), k ~ U{1, …, 6}
and u ~ U(0, 1); ``ok = 1[y > 5]``. A fair die plus a uniform is uniform on (1, 7), so given
the regime ``P(k + u > 5 - m) = (2 + m) / 6``: 1/3 in peace, 2/3 in war.
"""

from __future__ import annotations

import textwrap

import pandas as pd
import pytest

from analysis.reweight import Reweighter, parse_shift
from mcsens.cli import main
from mcsens.runner import run_study

MODEL = '''
import numpy as np
import xarray as xr


def evaluate(x):
    m = np.where(x.regime.values == "war", 2.0, 0.0)
    y = m + x.k.values + x.u.values
    return xr.Dataset({"ok": ("sample", (y > 5).astype(float)), "y": ("sample", y)})
'''


def _study(folder, *, name="rd", weights=(0.7, 0.3), high=6, samples=2048):
    (folder / "rd_model.py").write_text(MODEL)
    path = folder / f"{name}.toml"
    path.write_text(textwrap.dedent(f"""\
        [study]
        name = "{name}"
        model = "rd_model:evaluate"

        [sampling]
        method = "sobol"
        samples = {samples}
        seed = 4
        replicates = 8
        second_order = false
        chunk_rows = 8192

        [analysis]
        methods = ["sobol"]
        headline = ["ok"]
        key_output = "y"

        [parameters.regime]
        distribution = "categorical"
        values = ["peace", "war"]
        weights = [{weights[0]}, {weights[1]}]

        [parameters.k]
        distribution = "randint"
        low = 1
        high = {high}

        [parameters.u]
        distribution = "uniform"
        low = 0.0
        high = 1.0
        """))
    return path


def _p(w_war):
    return (1 - w_war) / 3 + w_war * 2 / 3


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rd")
    return run_study(_study(folder), out=folder / "runs", figures=False, appendix=False)


def _estimate(rw, shift):
    frame = rw.estimate([parse_shift(shift, rw.study)]).set_index("output")
    return frame.loc["ok"]


def test_category_weights_reweight_to_the_analytic_probability(run):
    rw = Reweighter(run)
    for w in (0.5, 0.1):
        row = _estimate(rw, f"regime=war:{w}")
        assert row["conf_low"] <= _p(w) <= row["conf_high"], (w, row["value"], _p(w))
    assert _estimate(rw, "regime=war:0.5")["ess"] < rw.n  # weights differ from 1, so the ESS falls


@pytest.mark.parametrize("shift, kwargs", [("regime=peace:0.4", {"weights": (0.4, 0.6)}),
                                           ("k=high:4", {"high": 4})])
def test_reweighted_probability_lies_in_the_interval_of_a_direct_rerun(run, tmp_path, shift, kwargs):
    direct = run_study(_study(tmp_path, name="direct", samples=512, **kwargs), out=tmp_path / "runs",
                       figures=False, appendix=False)
    p = pd.read_csv(direct / "indices.csv").query("index == 'P' and output == 'ok'").iloc[0]
    got = _estimate(Reweighter(run), shift)["value"]
    assert p["conf_low"] <= got <= p["conf_high"], (got, p["conf_low"], p["conf_high"])


@pytest.mark.parametrize("shift, message", [
    ("regime=truce:0.5", "--shift: regime.truce: must be a category of regime (peace, war) with its new weight, "
                         "as regime=CATEGORY:WEIGHT; got 'truce:0.5'"),
    ("regime=war:1.5", "--shift: regime.war: must be a weight between 0 and 1; got '1.5'"),
    ("regime=war:0.5,peace:0.2", "--shift: regime: must give weights that sum to 1 over every category; got "
                                 "'regime=war:0.5,peace:0.2'"),
    ("k=high:4.5", "--shift: k.high: must be an integer; got 4.5"),
    ("k=high:7", "--shift: k.high: must keep the distribution inside the sampled support [1, 6] (importance "
                 "weights are undefined where the run never drew); needs a re-run; got support reaching 7"),
])
def test_bad_discrete_shifts_are_one_line(run, capsys, shift, message):
    assert main(["reweight", str(run), "--shift", shift]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == f"error: {message}\n"
