"""Surrogate Sobol indices (analysis.surrogate): analytic functions, an indicator output, the
loader's keys and a whole run with ``[sampling] method = "surrogate"``."""

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from numpy.polynomial import hermite_e, legendre
from scipy.stats import qmc

from analysis.surrogate import multi_indices, pce_sobol, surrogate_indices, univariate
from analysis.methods import load_study  # the loader and the registry's checks, as every entry point
from study import StudyError
from study import testing as T
from study.distributions import ppf

ROOT = Path(__file__).resolve().parents[1]
PI = 3.141592653589793


def _points(d: int, n: int, seed: int = 3) -> np.ndarray:
    with pytest.warns(UserWarning, match="balance properties"):
        return qmc.Sobol(d, scramble=True, seed=seed).random(n)


def _check(ds: xr.Dataset, exact: xr.Dataset, tol: float = 0.03) -> None:
    """S1 and ST within ``tol`` of the exact values and inside their reported intervals."""
    for v in ("S1", "ST"):
        est, low, high, truth = ds[v].values[0], ds[f"{v}_low"].values[0], ds[f"{v}_high"].values[0], exact[v].values
        np.testing.assert_allclose(est, truth, atol=tol, err_msg=v)
        assert np.all((low <= truth) & (truth <= high)), (v, low, truth, high)
        assert np.all(high - low < 0.25), (v, high - low)  # an interval that says something


def test_orthonormal_families_under_their_germ_measure():
    z, w = hermite_e.hermegauss(20)
    h = univariate(z, "hermite", 6)
    np.testing.assert_allclose(h.T @ (h * (w / w.sum())[:, None]), np.eye(7), atol=1e-10)
    z, w = legendre.leggauss(20)
    p = univariate(z, "legendre", 6)
    np.testing.assert_allclose(p.T @ (p * (w / 2)[:, None]), np.eye(7), atol=1e-10)


def test_indices_from_coefficients_are_variance_shares():
    # y = 3 ψ1(x1) + 2 ψ1(x2) + ψ1(x1) ψ1(x2) + ψ2(x3): variance 9 + 4 + 1 + 1 = 15.
    alpha = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 2]])
    s1, st, s2 = pce_sobol(alpha, np.array([5.0, 3.0, 2.0, 1.0, 1.0]))
    np.testing.assert_allclose(s1, [9 / 15, 4 / 15, 1 / 15])
    np.testing.assert_allclose(st, [10 / 15, 5 / 15, 1 / 15])
    assert s2[0, 1] == pytest.approx(1 / 15) and s2[0, 2] == 0 and np.isnan(s2[1, 1])


def test_hyperbolic_basis_drops_high_interactions():
    full = multi_indices(3, 4, q=1.0, rank=3)
    sparse = multi_indices(3, 4, q=0.5, rank=3)
    assert len(full) == 34  # C(7, 3) - 1 terms of total degree <= 4
    assert len(sparse) < len(full) and [1, 1, 0] in sparse.tolist() and [2, 2, 0] not in sparse.tolist()
    assert not any(np.count_nonzero(a) > 2 for a in multi_indices(4, 4, rank=2))


def test_ishigami_pce_from_300_runs():
    u = _points(3, 300)
    x = xr.Dataset({f"x{i + 1}": ("sample", -PI + 2 * PI * u[:, i]) for i in range(3)})
    ds = surrogate_indices(u, T.ishigami(x).y.values, params=["x1", "x2", "x3"], distributions=["uniform"] * 3,
                           rng=np.random.default_rng(0), resamples=100)
    exact = T.ishigami_indices()
    _check(ds, exact)
    assert ds.Q2.item() > 0.999 and str(ds.status.values[0]) == "ok"
    assert ds.S2.values[0, 0, 2] == pytest.approx(exact.S2.values[0, 2], abs=0.03)
    assert ds.influential.values[0].tolist() == [True, True, True]


def test_sobol_g_mixed_coefficients_pce_from_500_runs():
    a = [0.0, 1.0, 4.5, 9.0]
    u = _points(4, 500)
    ds = surrogate_indices(u, T.sobol_g_values(u, a), params=["x1", "x2", "x3", "x4"],
                           distributions=["uniform"] * 4, rng=np.random.default_rng(1), resamples=100)
    _check(ds, T.sobol_g_indices(a))


@pytest.mark.parametrize("model", ["additive", "product"])
def test_non_uniform_inputs_pce_from_500_runs(model):
    # Normal (Hermite), lognormal (Hermite on its log), triangular and uniform (Legendre).
    inputs = T.NON_UNIFORM_INPUTS
    u = _points(4, 500)
    x = xr.Dataset({p: ("sample", ppf(*inputs[p], u[:, j])) for j, p in enumerate(inputs)})
    if model == "additive":
        c = {"x1": 1.0, "x2": 0.5, "x3": 2.0, "x4": 1.0}
        y, exact = T.additive(x, c).y.values, T.additive_indices(inputs, c)
    else:
        y, exact = T.product(x).y.values, T.product_indices(inputs)
    ds = surrogate_indices(u, y, params=list(inputs), distributions=[d for d, _ in inputs.values()],
                           rng=np.random.default_rng(2), resamples=100)
    _check(ds, exact)


def test_indicator_output_has_low_q2_and_no_confident_indices():
    u = _points(3, 300)
    x = xr.Dataset({f"x{i + 1}": ("sample", -PI + 2 * PI * u[:, i]) for i in range(3)})
    y = (T.ishigami(x).y.values > 0).astype(float)
    ds = surrogate_indices(u, y, params=["x1", "x2", "x3"], distributions=["uniform"] * 3,
                           rng=np.random.default_rng(0), resamples=20, elements=["y_positive"])
    q2 = ds.Q2.item()
    assert 0 < q2 < 0.9
    assert str(ds.status.values[0]) == f"unreliable: surrogate leave-one-out Q² {q2:.3g} below 0.9 (y_positive)"
    assert np.isnan(ds.S1.values).all() and np.isnan(ds.ST_low.values).all()
    assert not ds.influential.values.any()


def test_constant_output_is_constant_not_an_error():
    u = _points(2, 40)
    ds = surrogate_indices(u, np.full(40, 2.5), params=["a", "b"], distributions=["normal", "uniform"])
    assert str(ds.status.values[0]) == "constant" and np.isnan(ds.ST.values).all()


def test_gp_additive_within_its_posterior_interval():
    inputs = {"x1": ("normal", {"mean": 1.0, "sd": 0.5}), "x2": ("uniform", {"low": -1.0, "high": 1.0})}
    u = _points(2, 80)
    x = xr.Dataset({p: ("sample", ppf(*inputs[p], u[:, j])) for j, p in enumerate(inputs)})
    c = {"x1": 1.0, "x2": 1.0}
    ds = surrogate_indices(u, T.additive(x, c).y.values, params=list(inputs), kind="gp",
                           distributions=["normal", "uniform"], rng=np.random.default_rng(4), resamples=20)
    exact = T.additive_indices(inputs, c)  # S1 = ST = (0.25/0.5833, 0.3333/0.5833)
    assert ds.Q2.item() > 0.99
    for v in ("S1", "ST"):
        np.testing.assert_allclose(ds[v].values[0], exact[v].values, atol=0.08)
        assert np.all((ds[f"{v}_low"].values[0] <= exact[v].values) & (exact[v].values <= ds[f"{v}_high"].values[0]))


STUDY = """[study]
name = "ishsur"
model = "ishigami:evaluate"

[sampling]
method = "{method}"
samples = {samples}
seed = 5

[analysis]
{analysis}

[constants.a]
value = 7.0
[constants.b]
value = 0.1
""" + "".join(f"""
[parameters.x{i}]
distribution = "uniform"
low = -3.141592653589793
high = 3.141592653589793
""" for i in (1, 2, 3))


def _study(tmp_path, method="surrogate", samples=200, analysis='key_output = "y"\nheadline = ["y_positive"]'):
    shutil.copy(ROOT / "params" / "ishigami.py", tmp_path / "ishigami.py")
    path = tmp_path / "s.toml"
    path.write_text(STUDY.format(method=method, samples=samples, analysis=analysis))
    return path


@pytest.mark.parametrize("method, samples, analysis, message", [
    ("surrogate", 200, 'surrogate = "kriging"', "analysis.surrogate: must be one of ['pce', 'gp']; got 'kriging'"),
    ("surrogate", 200, "budget = 300", "analysis.budget: must not be set when sampling.method = 'surrogate' "
                                       "(sampling.samples is the surrogate's budget); got 300"),
    ("sobol", 64, 'methods = ["sobol", "surrogate"]\nbudget = 10',
     "analysis.budget: must be an integer >= 20 (runs of the surrogate design); got 10"),
    ("sobol", 64, "budget = 100", "analysis.budget: is used only with 'surrogate' in analysis.methods; "
                                  "got methods = ['sobol']"),
    ("surrogate", 10, "", "sampling.samples: must be at least 20 for a surrogate design (the surrogate's "
                          "leave-one-out validation needs a few dozen runs); got 10"),
])
def test_loader_refuses_bad_surrogate_keys(tmp_path, method, samples, analysis, message):
    path = _study(tmp_path, method, samples, analysis)
    with pytest.raises(StudyError) as err:
        load_study(path)
    assert str(err.value) == f"{path}: {message}"


def test_loader_refuses_surrogate_with_correlated_inputs(tmp_path):
    path = _study(tmp_path, "latin", 64, 'methods = ["delta", "surrogate"]')
    path.write_text(path.read_text() + '\n[[correlations]]\nparams = ["x1", "x2"]\nrank = 0.5\n')
    with pytest.raises(StudyError) as err:
        load_study(path)
    assert str(err.value) == (f"{path}: analysis.methods: must not include 'surrogate' when [[correlations]] are "
                              "declared (its design and Sobol' indices assume independent inputs); got "
                              "['delta', 'surrogate']")


def test_loader_defaults_and_the_extra_design_budget(tmp_path):
    s = load_study(_study(tmp_path))
    assert (s.analysis.methods, s.analysis.surrogate, s.analysis.budget) == (("surrogate",), "pce", 200)
    s = load_study(_study(tmp_path, "sobol", 64, 'methods = ["sobol", "surrogate"]\nsurrogate = "gp"\nbudget = 96'))
    from analysis.methods import designs
    from study.spec import design_runs

    assert design_runs(s, designs(s)) == [("sobol", 64 * 8), ("surrogate", 96)]


def test_surrogate_run_writes_indices_rows_and_flags_the_indicator(tmp_path):
    from mcsens import run_study

    run = run_study(_study(tmp_path), out=tmp_path / "runs", figures=False, appendix=False)
    table = pd.read_csv(run / "indices.csv")
    sur = table[table["method"] == "surrogate"]
    st = sur[(sur["output"] == "y") & (sur["index"] == "ST")].set_index("param")
    np.testing.assert_allclose(st.loc[["x1", "x2", "x3"], "value"], T.ishigami_indices().ST.values, atol=0.03)
    assert set(st["status"]) == {"ok"}
    q2 = sur[sur["index"] == "Q2"].set_index("output")["value"]
    assert q2["y"] > 0.999 and q2["y_positive"] < 0.9
    flagged = sur[(sur["output"] == "y_positive") & (sur["index"] == "ST")]
    assert flagged["value"].isna().all() and flagged["status"].str.startswith("unreliable: surrogate").all()
    with xr.open_dataset(run / "indices.nc", group="surrogate") as tree:
        assert tree["y__Q2"].item() == pytest.approx(q2["y"])


def test_until_converged_doubles_the_budget_until_st_is_stable(tmp_path):
    from mcsens import run_study

    path = _study(tmp_path, samples=40, analysis='outputs = ["y"]\ntolerance = 0.01')
    run = run_study(path, out=tmp_path / "runs", figures=False, appendix=False, until_converged=True,
                    max_samples=640)
    manifest = __import__("json").loads((run / "manifest.json").read_text())
    n = manifest["convergence"]["N"]
    assert manifest["convergence"]["converged"] is True and n in (80, 160, 320, 640)
    with xr.open_dataset(run / "results.nc") as res:
        assert res.sizes["sample"] == n  # the first 40 runs kept, the sequence extended
    st = pd.read_csv(run / "indices.csv").query("method == 'surrogate' and index == 'ST'")
    assert st["converged"].all()
    np.testing.assert_allclose(st.set_index("param").loc[["x1", "x2", "x3"], "value"],
                               T.ishigami_indices().ST.values, atol=0.01)


def test_surrogate_beside_saltelli_in_one_run_and_its_appendix_section(tmp_path):
    from analysis.figures.data import load_run
    from analysis.surrogate_appendix import surrogate_section
    from mcsens import run_study

    path = _study(tmp_path, "sobol", 16, 'methods = ["sobol", "surrogate"]\nbudget = 150\nkey_output = "y"')
    run = run_study(path, out=tmp_path / "runs", figures=False, appendix=False)
    assert (run / "results-surrogate.nc").stat().st_mode & 0o222 == 0  # sealed like the main results
    table = pd.read_csv(run / "indices.csv").query("index == 'ST' and output == 'y'")
    assert set(table["method"]) == {"sobol", "surrogate"}
    assert table.query("method == 'surrogate'")["estimator"].str.endswith(", 150 runs").all()
    from analysis.figures import figure_specs

    data = load_run(run)
    specs = [f for f in figure_specs(data) if f.section == "surrogate"]
    assert [f.name for f in specs] == ["indices-surrogate-y"]  # y_positive's indices are withheld
    heading, para, q2, comparison = surrogate_section(data)
    assert heading.text == "Surrogate indices" and "fitted to 150 model runs" in para.text
    assert [r[0] for r in q2.rows] == ["Y", "Y positive"] and q2.rows[1][3] == "no: indices withheld"
    assert comparison.header[-1] == "ST (Monte Carlo)" and [r[0] for r in comparison.rows] == ["x1", "x2", "x3"]


@pytest.mark.slow
def test_killed_surrogate_run_resumes_to_the_same_indices(tmp_path):
    import json
    import signal
    import subprocess
    import sys
    import time

    from mcsens import run_study
    from tests.helpers import MODELS, PARAMS

    shutil.copy(MODELS / "slow_model.py", tmp_path)
    path = tmp_path / "slow.toml"
    path.write_text('[study]\nname = "slow"\nmodel = "slow_model:evaluate"\n\n[sampling]\nmethod = "surrogate"\n'
                    'samples = 24\nseed = 3\nchunk_rows = 4\n\n[analysis]\noutputs = ["y"]\n' + PARAMS)
    out = tmp_path / "runs"
    proc = subprocess.Popen([sys.executable, "-m", "study", "run", str(path), "--out", str(out), "--no-figures",
                             "--no-appendix"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline, index = time.monotonic() + 120, None
    while time.monotonic() < deadline and index is None:  # three chunks recorded in the run's index
        index = next((i for i in out.rglob("chunks.jsonl") if i.read_text().count("\n") >= 3), None)
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert index is not None, "the run finished or stalled before it could be killed"
    run_dir = index.parent
    assert not (run_dir / "results.nc").exists()
    resumed = subprocess.run([sys.executable, "-m", "study", "run", "--resume", str(run_dir), "--no-figures",
                              "--no-appendix"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "complete"
    fresh = run_study(path, out=tmp_path / "fresh", figures=False, appendix=False)
    pd.testing.assert_frame_equal(pd.read_csv(run_dir / "indices.csv"), pd.read_csv(fresh / "indices.csv"))
