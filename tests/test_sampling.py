"""Designs and distributions: round trips, SALib identity, chunking, seeds."""

import numpy as np
import pytest
from scipy import stats
from SALib.sample import sobol as salib_sobol

from study import StudyError, draw, load_study
from study.distributions import DISTRIBUTIONS, frozen, moments
from study.sampling import make_design, qmc_seed, saltelli_unit, stream
from tests.helpers import ROOT, write_study

CASES = {
    "uniform": {"low": -1.0, "high": 3.0},
    "triangular": {"low": 0.05, "mode": 0.2, "high": 0.6},
    "normal": {"mean": 1.5, "sd": 0.4},
    "truncnormal": {"mean": 0.0, "sd": 1.0, "low": -0.5, "high": 2.0},
    "lognormal": {"meanlog": -1.0, "sdlog": 0.5},
    "loguniform": {"low": 0.01, "high": 10.0},
    "pert": {"low": 0.0, "mode": 0.2, "high": 1.0},
    "randint": {"low": -2, "high": 5},
    "bernoulli": {"p": 0.3},
    "categorical": {"values": [0.5, 2.0, 7.0], "weights": [0.5, 0.3, 0.2]},
}


def _one_param_study(tmp_path, dist, args):
    body = "\n".join(f"{k} = {v!r}" for k, v in args.items())
    params = f'\n[parameters.p]\ndistribution = "{dist}"\n{body}\n'
    return load_study(write_study(tmp_path, "m:f", params=params, samples=16))


def test_every_distribution_is_covered():
    assert set(CASES) == set(DISTRIBUTIONS)


@pytest.mark.parametrize("dist", sorted(CASES))
def test_sample_moments_match_the_distribution(tmp_path, dist):
    args = CASES[dist]
    study = _one_param_study(tmp_path, dist, args)
    x = draw(study, method="latin", samples=20000).p.values
    mean, var = moments(dist, args)
    sd = np.sqrt(var)
    # Monte Carlo error of the mean is sd/sqrt(n); Latin stratification only lowers it.
    assert abs(x.mean() - mean) < 4 * sd / np.sqrt(len(x))
    assert abs(x.var() / var - 1) < 0.05
    # And the whole law: Kolmogorov–Smirnov against scipy's own distribution.
    ref = {
        "uniform": stats.uniform(args["low"] if "low" in args else 0, args.get("high", 1) - args.get("low", 0)),
        "triangular": stats.triang((args.get("mode", 0) - args.get("low", 0)) / (args.get("high", 1) - args.get("low", 0)),
                                   args.get("low", 0), args.get("high", 1) - args.get("low", 0)),
        "normal": stats.norm(args.get("mean", 0), args.get("sd", 1)),
        "truncnormal": stats.truncnorm(-0.5, 2.0),
        "lognormal": stats.lognorm(args.get("sdlog", 1), scale=np.exp(args.get("meanlog", 0))),
        "loguniform": stats.loguniform(args.get("low", 1), args.get("high", 2)),
    }.get(dist) or frozen(dist, {k: tuple(v) if isinstance(v, list) else v for k, v in args.items()})
    if DISTRIBUTIONS[dist].kind == "continuous":
        assert stats.kstest(x, ref.cdf).pvalue > 0.01
    else:  # KS is wrong for steps; a Latin hypercube gives each value its mass to within 1/n per step
        values, counts = np.unique(x, return_counts=True)
        np.testing.assert_allclose(counts / x.size, ref.pmf(values), atol=len(values) / x.size)
        assert ref.pmf(values).sum() == pytest.approx(1)


def test_saltelli_design_is_salibs_matrix():
    d, n = 5, 64
    seed = qmc_seed(stream(11, "sobol", 0))
    problem = {"num_vars": d, "names": [f"x{i}" for i in range(d)], "bounds": [[0, 1]] * d}
    for second in (True, False):
        ours = saltelli_unit(d, n, second_order=second, seed=seed, params=problem["names"])
        theirs = salib_sobol.sample(problem, n, calc_second_order=second, seed=seed)
        np.testing.assert_array_equal(ours, theirs)


def test_chunks_concatenate_to_the_whole_design():
    whole = saltelli_unit(4, 64, seed=5)
    parts = [saltelli_unit(4, 16, seed=5, skip=k) for k in range(0, 64, 16)]
    np.testing.assert_array_equal(np.concatenate(parts), whole)


def test_replicates_are_independent_scrambles_with_grouped_blocks(tmp_path):
    params = "".join(f'\n[parameters.{p}]\ndistribution = "uniform"\nlow = 0\nhigh = 1\ngroup = "{g}"\n'
                     for p, g in (("a", "g1"), ("b", "g1"), ("c", "g2")))
    study = load_study(write_study(tmp_path, "m:f", params=params, samples=32, replicates=4))
    design = make_design(study)
    assert design.labels == ("A", "AB:a", "AB:b", "AB:c", "B", "ABg:g1")  # g2 has one member
    u, coords = design.unit(0, design.n_blocks)
    u = u.reshape(8, 4, 6, 3)
    a, b, abg = u[:, :, 0], u[:, :, 4], u[:, :, 5]
    np.testing.assert_array_equal(abg[..., :2], b[..., :2])  # the group's columns from B
    np.testing.assert_array_equal(abg[..., 2], a[..., 2])
    assert not np.allclose(a[:, 0], a[:, 1])  # replicates differ
    np.testing.assert_array_equal(coords["replicate"].reshape(8, 4, 6)[:, :, 0], np.tile(np.arange(4), (8, 1)))


def test_a_distribution_mapping_to_non_finite_values_is_an_error(tmp_path):
    # The loader refuses this distribution already (tests/test_cli_errors.py); the sampler's
    # own guard stays, for a Study built around the loader.
    from dataclasses import replace

    study = _one_param_study(tmp_path, "lognormal", {"meanlog": 0.0, "sdlog": 1.0})
    study = replace(study, parameters=(replace(study.parameters[0], args={"meanlog": 800.0, "sdlog": 1.0}),))
    with pytest.raises(StudyError, match=r"parameters\.p: LogN\(800, 1²\) must map every design point to a "
                                         r"finite value; got inf at unit value"):
        draw(study, method="latin", samples=16)


def test_morris_points_stay_finite_for_unbounded_distributions(tmp_path):
    study = _one_param_study(tmp_path, "normal", {"mean": 0.0, "sd": 1.0})
    x = draw(study, method="morris", samples=8)
    assert np.isfinite(x.p.values).all()
    assert set(np.round(stats.norm.cdf(x.p.values), 6)) <= {0.125, 0.375, 0.625, 0.875}


def test_seed_streams_are_independent_of_each_other():
    a = stream(1, "sobol", 0).generate_state(4)
    assert not np.array_equal(a, stream(1, "latin").generate_state(4))
    assert not np.array_equal(a, stream(2, "sobol", 0).generate_state(4))
    np.testing.assert_array_equal(a, stream(1, "sobol", 0).generate_state(4))


def _every_family_study(tmp_path, second_order):
    cases = {**CASES, "scipy.gamma": {"a": 2.0}, "categorical": {"values": ["lo", "mid", "hi"]}}
    params = "".join(f'\n[parameters.p{i}]\ndistribution = "{dist}"\ngroup = "{"g" if i < 3 else f"p{i}"}"\n'
                     + "".join(f"{k} = {v!r}\n".replace("'", '"') for k, v in args.items())
                     for i, (dist, args) in enumerate(sorted(cases.items())))
    path = write_study(tmp_path, "m:f", params=params, samples=64, replicates=2)
    path.write_text(path.read_text().replace("second_order = false", f"second_order = {str(second_order).lower()}"))
    return load_study(path)


@pytest.mark.parametrize("second_order", [False, True])
def test_inputs_mapped_from_the_base_matrices_are_the_inputs_of_the_whole_points(tmp_path, second_order):
    # design_inputs maps A and B, then assembles the blocks; to_inputs maps every point.
    from study.sampling import design_inputs, to_inputs

    study = _every_family_study(tmp_path, second_order)
    design = make_design(study)
    assert len(design.labels) == (2 * 11 + 3 if second_order else 11 + 3)  # 11 inputs, a group of 3
    for b0, b1 in [(0, design.n_blocks), (3, 8), (7, 8)]:
        want = to_inputs(study, *design.unit(b0, b1), design.params)
        got = design_inputs(study, design, b0, b1)
        assert got.identical(want)
        for name, var in want.variables.items():  # bit for bit, dtype included
            assert got[name].dtype == var.dtype and got[name].values.tobytes() == var.values.tobytes(), name
    whole = design_inputs(study, design, 0, design.n_blocks)
    assert set(whole["p1"].values) == {"lo", "mid", "hi"}  # the string categorical reached the model as labels


def test_inputs_of_a_reading_factor_study_are_those_of_the_whole_points():
    # Inputs that depend on the reading are mapped from assembled columns: the flagship's readings variant.
    from study.sampling import design_inputs, to_inputs

    study = load_study(ROOT / "params" / "asia_pacification_readings.toml")
    assert study.readings is not None and study.readings.varying
    design = make_design(study)
    want = to_inputs(study, *design.unit(5, 9), design.params)
    assert design_inputs(study, design, 5, 9).identical(want)


def test_a_non_finite_input_is_reported_from_the_base_matrices_as_from_the_points(tmp_path):
    from dataclasses import replace

    from study.sampling import design_inputs, to_inputs

    study = _one_param_study(tmp_path, "lognormal", {"meanlog": 0.0, "sdlog": 1.0})
    study = replace(study, parameters=(replace(study.parameters[0], args={"meanlog": 800.0, "sdlog": 1.0}),))
    design = make_design(study)
    with pytest.raises(StudyError) as want:
        to_inputs(study, *design.unit(0, 4), design.params)
    with pytest.raises(StudyError) as got:
        design_inputs(study, design, 0, 4)
    assert str(got.value) == str(want.value)
    assert f"of {4 * design.block_size} points)" in str(got.value)
