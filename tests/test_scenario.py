"""Scenario discovery: PRIM recovers planted failure boxes; the tree agrees; run files."""

import re

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

from analysis.prim import prim, quasi_p_values
from analysis.scenario import CSV_COLUMNS, TREE_COLUMNS, discover, scenario_discovery, tree_rules
from study.errors import RunError

NAMES = ["x1", "x2", "x3", "x4"]
LABELS = {"x1": "First input", "x2": "Second input", "x3": "Third input", "x4": "Fourth input"}


def planted(x):
    """Fails (0) iff x1 > 0.7 and x2 < 0.3; holds (1) elsewhere."""
    return np.where((x[:, 0] > 0.7) & (x[:, 1] < 0.3), 0, 1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_prim_recovers_planted_box(seed):
    x = np.random.default_rng(seed).random((4000, 4))
    boxes = prim(x, planted(x) == 0)
    b = boxes[0]
    np.testing.assert_array_equal(b.restricted, [True, True, False, False])
    assert abs(b.low[0] - 0.7) < 0.05 and b.high[0] == np.inf
    assert abs(b.high[1] - 0.3) < 0.05 and b.low[1] == -np.inf
    assert b.coverage > 0.9 and b.density > 0.9
    assert abs(b.mass - 0.09) < 0.02  # the planted box holds 0.3 * 0.3 of the cube
    assert np.all(b.qp_value[:2] < 1e-10)
    assert len(boxes) == 1  # nothing is left to cover
    # The trajectory starts from the whole space: coverage 1 at the base rate.
    assert b.traj_coverage[0] == 1.0 and b.traj_mass[0] == 1.0
    assert b.traj_density[0] == pytest.approx((planted(x) == 0).mean())


def test_prim_covers_a_union_with_two_boxes():
    x = np.random.default_rng(4).random((6000, 5))
    fails = (x[:, 0] > 0.7) | (x[:, 1] < 0.2)
    b1, b2 = prim(x, fails, max_boxes=3)
    assert np.flatnonzero(b1.restricted).tolist() == [0] and abs(b1.low[0] - 0.7) < 0.05
    assert np.flatnonzero(b2.restricted).tolist() == [1] and abs(b2.high[1] - 0.2) < 0.05
    assert b1.coverage + b2.coverage == pytest.approx(1.0, abs=0.03)


def test_prim_prunes_noise_dimensions():
    rng = np.random.default_rng(5)
    x = rng.random((8000, 12))
    p_fail = np.where((x[:, 0] > 0.6) & (x[:, 1] < 0.4), 0.8, 0.2)
    fails = rng.random(8000) < p_fail
    b = prim(x, fails, max_boxes=1)[0]
    assert np.flatnonzero(b.restricted).tolist() == [0, 1]
    assert abs(b.low[0] - 0.6) < 0.05 and abs(b.high[1] - 0.4) < 0.05
    # Binomial sampling error of the box density, 4 standard errors.
    n_box = b.mass * len(fails)
    assert abs(b.density - 0.8) < 4 * np.sqrt(0.8 * 0.2 / n_box)


def test_quasi_p_value_is_the_binomial_tail():
    x = (np.arange(10) / 10)[:, None]
    y = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 0], float)
    qp = quasi_p_values(x, y, np.array([0.6]), np.array([np.inf]))
    # Box holds 4 samples, 3 cases; without the restriction the rate is 3/10.
    assert qp[0] == pytest.approx(4 * 0.3**3 * 0.7 + 0.3**4, rel=1e-12)
    assert qp[0] == pytest.approx(stats.binomtest(3, 4, 0.3, alternative="greater").pvalue, rel=1e-12)


def test_tree_cross_check_finds_the_same_two_inputs():
    x = np.random.default_rng(3).random((4000, 4))
    leaves, importance, text = tree_rules(x, planted(x) == 0, NAMES, max_depth=2)
    assert set(np.argsort(importance)[-2:]) == {0, 1} and importance[2:].sum() < 1e-9
    fail = leaves[leaves.predicted == "fails"]
    assert len(fail) == 1 and fail.failure_share.iloc[0] == 1.0
    rule = fail.rule.iloc[0]
    (t1,) = map(float, re.findall(r"x1 > ([\d.]+)", rule))
    (t2,) = map(float, re.findall(r"x2 <= ([\d.]+)", rule))
    assert abs(t1 - 0.7) < 0.05 and abs(t2 - 0.3) < 0.05
    assert leaves.n.sum() == 4000 and leaves.fails.sum() == (planted(x) == 0).sum()
    assert "x1" in text and "x2" in text


def test_discover_sentence_uses_labels_and_bounds():
    x = np.random.default_rng(0).random((4000, 4))
    ds = discover(pd.DataFrame(x, columns=NAMES), planted(x), name="flip", label="Europe's flip", labels=LABELS)
    s = ds.attrs["summary"]
    m = re.fullmatch(r"Europe's flip fails mainly when (.+) \(PRIM box 1: (\d+)% of failures, density (\d+)% "
                     r"against (\d+)% overall, (\d+)% of samples\)\.", s)
    assert m, s
    conds = dict(re.findall(r"(First input exceeds|Second input is below) ([\d.]+)", m.group(1)))
    assert abs(float(conds["First input exceeds"]) - 0.7) < 0.05
    assert abs(float(conds["Second input is below"]) - 0.3) < 0.05
    assert int(m.group(4)) == round(100 * (planted(x) == 0).mean())


def test_discover_degenerate_outcomes():
    x = pd.DataFrame(np.random.default_rng(0).random((200, 2)), columns=["a", "b"])
    assert discover(x, np.ones(200), name="h").attrs["summary"] == (
        "h holds in every sample; there is no failure region to describe.")
    with pytest.raises(ValueError, match=r"headline output 'h' must be a 0/1 indicator; got the value 0\.5"):
        discover(x, np.full(200, 0.5), name="h")


# -- a run written by the toolkit ---------------------------------------------------------

PLANTED_MODEL = """
    import xarray as xr

    def f(x):
        # Fails (0) iff x1 > 0.7 and x2 < 0.3, as `planted` above.
        flip = xr.where((x.x1 > 0.7) & (x.x2 < 0.3), 0.0, 1.0)
        return xr.Dataset({"flip": flip.assign_attrs(label="Europe's flip"), "y": x.x1 + x.x2})
    """


def planted_study(samples: int) -> str:
    """A Sobol study of the planted model (one replicate: A and B hold 2 * samples rows)."""
    params = "".join(f'\n[parameters.{p}]\ndistribution = "uniform"\nlow = 0.0\nhigh = 1.0\nlabel = "{LABELS[p]}"\n'
                     for p in NAMES)
    return (f'[study]\nname = "planted"\nmodel = "model:f"\n\n[sampling]\nmethod = "sobol"\n'
            f'samples = {samples}\nseed = 0\nsecond_order = false\nreplicates = 1\n\n'
            f'[analysis]\nmethods = ["sobol"]\nheadline = ["flip"]\n{params}')


def test_scenario_discovery_writes_files_from_a_and_b_rows(real_run):
    run = real_run(PLANTED_MODEL, planted_study(2048))
    ds = scenario_discovery(run)
    assert int(ds.n.sel(output="flip")) == 4096  # A and B rows of 2048 base rows
    with xr.open_dataset(run / "scenarios.nc") as saved:
        xr.testing.assert_allclose(saved.load(), ds)
        assert saved.attrs["rows"] == "A and B matrices"
        assert len(saved.attrs["source_manifest_sha256"]) == 64
    box = ds.sel(output="flip", box=1)
    assert abs(float(box.box_low.sel(param="x1")) - 0.7) < 0.05
    assert abs(float(box.box_high.sel(param="x2")) - 0.3) < 0.05
    assert np.isnan(box.box_low.sel(param=["x2", "x3", "x4"])).all()
    csv = pd.read_csv(run / "scenarios.csv")
    assert tuple(csv.columns) == CSV_COLUMNS
    chosen = csv[csv.kind == "chosen"]
    assert chosen.param.tolist() == ["x1", "x2"] and chosen.label.tolist() == ["First input", "Second input"]
    assert chosen.significant.all() and (chosen.qp_value < 1e-10).all()
    assert chosen.step.iloc[0] == int(box.chosen_step)
    peel = csv[csv.kind == "peel"]
    assert peel.step.max() == int(np.isfinite(box.coverage).sum()) - 1
    assert peel[peel.step == 0].coverage.tolist() == [1.0]  # the unrestricted start, one row
    tree = pd.read_csv(run / "scenarios_tree.csv")
    assert tuple(tree.columns) == TREE_COLUMNS and tree.n.sum() == 4096
    assert str(ds.summary.sel(output="flip").item()).startswith("Europe's flip fails mainly when ")


def test_scenario_discovery_refuses_non_indicators(real_run):
    run = real_run(PLANTED_MODEL, planted_study(256))
    with pytest.raises(RunError, match=r"analysis\.headline: headline output 'y' must be a 0/1 indicator; "
                       r"got the value"):
        scenario_discovery(run, outputs=["y"], write=False)
    with pytest.raises(RunError, match=r"analysis\.headline: must name outputs of the run; got 'nope'"):
        scenario_discovery(run, outputs=["nope"], write=False)
