"""Importance reweighting of a run's draws (`study reweight`), against analytic values and
against direct re-runs at the shifted distributions.

The model is small enough to know in closed form: x1 ~ U(0, 1), x2 ~ Tri(0, m, 1), x3 a
dummy; ``y = x1 + x2 - 1`` and ``ok = 1[y > 0]``. Since x1 is uniform, ``P(ok) =
P(x1 > 1 - x2) = E[x2] = (1 + m) / 3`` and ``E[y] = (1 + m) / 3 - 1/2``: both cross their
thresholds (0.5 and 0) at m = 0.5, a mode shift of +0.2 of the range from m = 0.3.
"""

from __future__ import annotations

import re
import textwrap

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from analysis.reweight import (MIN_ESS, Reweighter, break_even, centre_shift, ess_threshold,
                               narrowed, parse_shift)
from mcsens.cli import main
from study.errors import RunError, StudyError
from mcsens.runner import run_study

MODEL = '''
import xarray as xr


def evaluate(x):
    y = x.x1 + x.x2 - 1
    return xr.Dataset({"ok": (y > 0).astype(float), "y": y})
'''


def _study(folder, *, name="rw", mode=0.3, x1=(0.0, 1.0), samples=4096, method="sobol",
           extra=""):
    (folder / "rw_model.py").write_text(MODEL)
    design = ("replicates = 8\nsecond_order = false" if method == "sobol" else "replicates = 1")
    path = folder / f"{name}.toml"
    path.write_text(textwrap.dedent(f"""\
        [study]
        name = "{name}"
        model = "rw_model:evaluate"

        [sampling]
        method = "{method}"
        samples = {samples}
        seed = 11
        chunk_rows = 8192
        """) + design + textwrap.dedent(f"""

        [analysis]
        methods = ["{'sobol' if method == 'sobol' else 'delta'}"]
        headline = ["ok"]
        key_output = "y"

        [parameters.x1]
        distribution = "uniform"
        low = {x1[0]}
        high = {x1[1]}

        [parameters.x2]
        distribution = "triangular"
        low = 0.0
        mode = {mode}
        high = 1.0

        [parameters.x3]
        distribution = "uniform"
        low = 0.0
        high = 1.0
        """) + extra)
    return path


def _run(path, out):
    return run_study(path, out=out, figures=False, appendix=False)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rw")
    return _run(_study(folder), folder / "runs")


@pytest.fixture(scope="module")
def rw(run):
    return Reweighter(run)


def _p_narrow(lo, hi, mode=0.3):
    """P(x1 > 1 - x2) with x1 ~ U(lo, hi), x2 ~ Tri(0, mode, 1), by quadrature."""
    tri = stats.triang(mode)
    return integrate.quad(lambda v: np.clip((hi - (1 - v)) / (hi - lo), 0, 1) * tri.pdf(v), 0, 1,
                          points=[mode])[0]


def _row(frame, output):
    return frame.set_index("output").loc[output]


def test_no_shift_gives_the_runs_own_estimates(run, rw):
    est = rw.estimate()
    p_row = pd.read_csv(run / "indices.csv").query("index == 'P' and output == 'ok'").iloc[0]
    ok = _row(est, "ok")
    assert ok["kind"] == "P" and _row(est, "y")["kind"] == "mean"
    assert ok["value"] == pytest.approx(p_row["value"], abs=1e-9)  # indices.csv keeps 10 digits
    assert ok["ess"] == pytest.approx(rw.n) and rw.n == 2 * 4096
    assert not est["low_ess"].any()


@pytest.mark.parametrize("mode", [0.15, 0.45, 0.5, 0.7])
def test_triangular_mode_shift_matches_the_analytic_values(rw, mode):
    est = rw.estimate([parse_shift(f"x2=mode:{mode}", rw.study)])
    ok, y = _row(est, "ok"), _row(est, "y")
    assert ok["conf_low"] <= (1 + mode) / 3 <= ok["conf_high"]
    assert ok["value"] == pytest.approx((1 + mode) / 3, abs=0.015)
    assert y["conf_low"] <= (1 + mode) / 3 - 0.5 <= y["conf_high"]
    assert ok["ess"] < rw.n  # a real shift costs effective draws


def test_narrowed_uniform_matches_quadrature(rw):
    est = rw.estimate([parse_shift("x1=low:0.2,high:0.8", rw.study)])
    want = _p_narrow(0.2, 0.8)
    ok = _row(est, "ok")
    assert ok["conf_low"] <= want <= ok["conf_high"]
    assert ok["value"] == pytest.approx(want, abs=0.015)
    # Narrowing keeps the mean of x1, so E[y] stays (1 + 0.3) / 3 - 0.5.
    assert _row(est, "y")["conf_low"] <= 1.3 / 3 - 0.5 <= _row(est, "y")["conf_high"]


def test_kish_ess_of_a_half_range_is_the_count_inside(rw):
    # U(0, 0.5) from U(0, 1): weight 2 inside, 0 outside, so (sum w)^2 / sum w^2 = count inside.
    est = rw.estimate([parse_shift("x1=high:0.5", rw.study)])
    assert est["ess"].iloc[0] == pytest.approx(np.sum(rw.x["x1"] <= 0.5))


@pytest.mark.parametrize("shift,mode,x1", [("x2=mode:0.45", 0.45, (0.0, 1.0)),
                                           ("x1=low:0.2,high:0.8", 0.3, (0.2, 0.8))])
def test_reweighted_probability_lies_in_the_interval_of_a_direct_rerun(rw, tmp_path, shift, mode, x1):
    direct = _run(_study(tmp_path, name="direct", mode=mode, x1=x1, samples=512), tmp_path / "runs")
    p = pd.read_csv(direct / "indices.csv").query("index == 'P' and output == 'ok'").iloc[0]
    got = _row(rw.estimate([parse_shift(shift, rw.study)]), "ok")["value"]
    assert p["conf_low"] <= got <= p["conf_high"], (got, p["conf_low"], p["conf_high"])


def test_break_even_finds_the_analytic_mode_shift(rw):
    for output in ("ok", "y"):
        be = break_even(rw, output, "x2")
        assert be.fraction == pytest.approx(0.2, abs=0.02)
        assert be.shift.args["mode"] == pytest.approx(0.5, abs=0.02)
        assert be.threshold == (0.5 if output == "ok" else 0.0)
        assert be.ess > ess_threshold(rw.n)


def test_break_even_of_an_inert_input_is_out_of_range(rw):
    be = break_even(rw, "ok", "x3")
    assert be.fraction is None and be.value is None
    assert be.reach == pytest.approx((-0.485, 0.485))  # a uniform's end can move in by up to 97% of its width


def test_shift_families_stay_inside_the_support(rw):
    x1, x2 = rw.study.parameter("x1"), rw.study.parameter("x2")
    assert centre_shift(x1, 0.1).args == {"low": pytest.approx(0.2), "high": 1.0}
    assert centre_shift(x1, -0.05).args == {"low": 0.0, "high": pytest.approx(0.9)}
    assert centre_shift(x2, 0.1).text == "mode 0.3 → 0.4"
    assert centre_shift(x2, 0.8) is None  # the mode would leave [0, 1]
    assert narrowed(x2, 0.2).args == {"low": pytest.approx(0.1), "mode": 0.3, "high": pytest.approx(0.9)}


def test_cli_prints_the_table_and_break_even(run, capsys):
    assert main(["reweight", str(run), "--shift", "x2=mode:0.5", "--break-even"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    lines = out.splitlines()
    assert lines[0] == "shifts: x2: mode 0.3 → 0.5"
    assert lines[1].split() == ["output", "estimate", "run", "reweighted", "95%", "interval", "ESS",
                                "draws", "flag"]
    found = [re.search(r"by x2: centre \+(\d+\.\d)% of its range \(mode 0\.3 → ([\d.]+)\), P ([\d.]+)", ln)
             for ln in lines if ln.startswith("break-even ok (P ")]
    frac, mode, p = (float(v) for v in next(m for m in found if m).groups())
    assert frac == pytest.approx(20, abs=2) and mode == pytest.approx(0.5, abs=0.02)
    assert p == pytest.approx(0.5, abs=1e-3)
    assert lines[-1].endswith("by x3: not within the reweightable range (centre shifts from -48% to +48% of its "
                              "range)")


def test_cli_warns_below_the_ess_threshold(run, capsys):
    assert main(["reweight", str(run), "--shift", "x1=high:0.05"]) == 0
    out, err = capsys.readouterr()
    ess = float(np.sum(Reweighter(run).x["x1"] <= 0.05))
    assert err == (f"warning: effective sample size {ess:.0f} of 8192 draws is below 819 (the larger of "
                   f"{MIN_ESS} and 10% of the draws): the reweighted estimates rest on a few heavily "
                   "weighted draws\n")
    assert "LOW ESS" in out


@pytest.mark.parametrize("shift,message", [
    ("x1=low:-0.1", "--shift: x1.low: must keep the distribution inside the sampled support [0, 1] "
                    "(importance weights are undefined where the run never drew); needs a re-run; got "
                    "support reaching -0.1"),
    ("x2=high:1.2", "--shift: x2.high: must keep the distribution inside the sampled support [0, 1] "
                    "(importance weights are undefined where the run never drew); needs a re-run; got "
                    "support reaching 1.2"),
    ("x9=low:0", "--shift: x9: must name an uncertain parameter of the run (x1, x2, x3); got 'x9'"),
    ("x1=mode:0.5", "--shift: x1.mode: must be an argument of its uniform distribution (low, high); got 'mode'"),
    ("x1=low:half", "--shift: x1.low: must be a finite number; got 'half'"),
    ("x2=mode:1.5", "--shift: x2.mode: must lie between low (0.0) and high (1.0); got 1.5"),
    ("x1", "--shift: must be NAME=KEY:VALUE[,KEY:VALUE...]; got 'x1'"),
])
def test_cli_refuses_bad_shifts_in_one_line(run, capsys, shift, message):
    assert main(["reweight", str(run), "--shift", shift]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == f"error: {message}\n"


def test_a_shift_that_keeps_no_draw_is_refused(rw):
    shift = parse_shift("x1=low:0.5,high:0.50000001", rw.study)
    assert not np.any((rw.x["x1"] >= 0.5) & (rw.x["x1"] <= 0.50000001))
    with pytest.raises(StudyError) as e:
        rw.estimate([shift])
    assert str(e.value) == ("--shift: x1: must keep some of the run's draws (every importance weight is zero: no "
                            "draw falls where the shifted distribution has mass); needs a re-run")


def test_cli_refuses_a_parameter_shifted_twice(run, capsys):
    assert main(["reweight", str(run), "--shift", "x1=low:0.1", "--shift", "x1=high:0.9"]) == 2
    assert capsys.readouterr().err == ("error: --shift: x1: must shift each parameter once (give all its "
                                       "keys in one --shift, e.g. x1=low:0.2,high:0.8); got it 2 times\n")


def test_correlated_inputs_are_refused_and_independent_ones_reweighted(tmp_path):
    corr = '\n[[correlations]]\nparams = ["x1", "x3"]\nrank = 0.5\nreason = "test"\n'
    run = _run(_study(tmp_path, name="corr", method="latin", samples=2048, extra=corr), tmp_path / "runs")
    rw = Reweighter(run)
    with pytest.raises(StudyError) as e:
        rw.estimate([parse_shift("x1=low:0.2", rw.study)])
    assert str(e.value) == ("--shift: x1: must not be rank-correlated with another input: reweighting would "
                            "need the Gaussian copula's density and a choice the study file never made; "
                            "needs a re-run")
    ok = _row(rw.estimate([parse_shift("x2=mode:0.5", rw.study)]), "ok")
    assert ok["conf_low"] <= 0.5 <= ok["conf_high"]


def test_a_morris_run_is_refused(tmp_path):
    path = _study(tmp_path, name="mor", method="morris", samples=8)
    text = path.read_text().replace('methods = ["delta"]', 'methods = ["morris"]')
    path.write_text(text)
    run = _run(path, tmp_path / "runs")
    with pytest.raises(RunError, match="a Morris design's points sit on a grid"):
        Reweighter(run)


def test_value_is_the_self_normalised_average_and_is_computed_once_per_shift(rw):
    """The memo (Reweighter._sums) gives the uncached arithmetic, whichever output asks first."""
    s = parse_shift("x2=mode:0.45", rw.study)
    w = rw.weights([s])
    for output in ("y", "ok"):  # y first: ok's value then comes from the memo
        value, ess = rw.value(output, [s])
        assert value == float(np.sum(w * rw.y[output]) / w.sum())  # exactly, not approximately
        assert ess == float(w.sum() ** 2 / np.sum(w**2))
    calls = []
    weights, rw.weights = rw.weights, lambda shifts: calls.append(shifts) or weights(shifts)
    try:
        rw.value("ok", [s])
        rw.value("y", [parse_shift("x2=mode:0.45", rw.study)])  # an equal shift, another object
        assert calls == []
        rw.value("ok", [parse_shift("x2=mode:0.46", rw.study)])
        assert len(calls) == 1
    finally:
        del rw.weights


def test_a_refused_shift_is_refused_again_from_the_memo(rw):
    shift = parse_shift("x1=low:0.5,high:0.50000001", rw.study)
    for _ in range(2):
        with pytest.raises(StudyError, match=r"^--shift: x1: must keep some of the run's draws"):
            rw.value("ok", [shift])


def test_an_estimate_asked_twice_is_an_equal_frame_the_caller_may_change(rw):
    s = [parse_shift("x2=mode:0.5", rw.study)]
    first = rw.estimate(s)
    first.loc[0, "value"] = -1.0
    again = rw.estimate(s)
    assert again.loc[0, "value"] == float(np.sum(rw.weights(s) * rw.y["ok"]) / rw.weights(s).sum())


@pytest.mark.parametrize("distribution,args,law", [
    ("uniform", {"low": 0.2, "high": 0.9}, lambda: stats.uniform(loc=0.2, scale=0.7)),
    ("triangular", {"low": 0.0, "mode": 0.3, "high": 1.0}, lambda: stats.triang(0.3, loc=0.0, scale=1.0)),
    ("normal", {"mean": 1.0, "sd": 2.0}, lambda: stats.norm(1.0, 2.0)),
    ("truncnormal", {"low": 0.0, "high": 1.0, "mean": 0.4, "sd": 0.3},
     lambda: stats.truncnorm(-0.4 / 0.3, 0.6 / 0.3, loc=0.4, scale=0.3)),
    ("lognormal", {"meanlog": 0.1, "sdlog": 0.5}, lambda: stats.lognorm(0.5, scale=np.exp(0.1))),
    ("loguniform", {"low": 0.1, "high": 10.0}, lambda: stats.loguniform(0.1, 10.0))])
def test_the_laws_give_scipys_frozen_densities_bit_for_bit(distribution, args, law):
    """Implementation check: reweight.frozen skips building scipy's frozen object, not its arithmetic."""
    from analysis.reweight import frozen

    x = np.linspace(-1.0, 12.0, 1001)
    got, want = frozen(distribution, args), law()
    assert np.array_equal(got.logpdf(x), want.logpdf(x), equal_nan=True)
    assert got.support() == want.support()


def test_leading_inputs_are_read_again_when_indices_nc_changes(run, tmp_path):
    import shutil

    import xarray as xr

    from analysis.reweight import leading_inputs

    copy = tmp_path / run.name
    shutil.copytree(run, copy)
    with xr.open_dataset(copy / "indices.nc", group="sobol") as ds:
        sobol = ds.load()
    st = sobol["ok__ST"].to_series().sort_values(ascending=False)
    assert leading_inputs(copy, "ok", 2) == [(p, float(v)) for p, v in st.head(2).items()]
    assert st.index[0] != "x3"  # x3 is the model's dummy input
    sobol["ok__ST"] = xr.where(sobol["param"] == "x3", 0.9, 0.0)  # now it leads
    sobol.to_netcdf(copy / "indices.nc", mode="a", group="sobol")
    assert leading_inputs(copy, "ok", 1) == [("x3", 0.9)]
