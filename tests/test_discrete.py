"""Discrete, categorical, PERT and scipy.* inputs: loading, sampling, storage and Sobol indices."""

import numpy as np
import pytest
import xarray as xr
from scipy import stats

from analysis.sobol import sobol_indices
from study import StudyError, draw, load_study
from study import testing
from study.distributions import moments
from tests.helpers import write_study


def _study(tmp_path, params, samples=16):
    return load_study(write_study(tmp_path, "m:f", params=params, samples=samples))


def _param(body):
    return "\n[parameters.p]\n" + body + "\n"


# -- loading: one line naming file and key ----------------------------------------------

BAD = [
    ('distribution = "scipy.betaa"\na = 2\nb = 5',
     "parameters.p.distribution: must name a scipy.stats distribution after 'scipy.' (did you mean "
     "'scipy.beta'?); got 'scipy.betaa'"),
    ('distribution = "scipy.beta"\na = 2', "parameters.p.b: missing key; expected a number"),
    ('distribution = "scipy.beta"\na = 2\nb = 5\nc = 1', "parameters.p.c: unknown key; expected one of ['a', 'b', "
     "'description', 'distribution', 'group', 'label', 'label_zh', 'loc', 'scale', 'source', 'unit']"),
    ('distribution = "scipy.beta"\na = -2\nb = 5',
     "parameters.p.a: must be valid shape parameters of scipy.stats.beta (a = -2.0, b = 5.0)"),
    ('distribution = "scipy.gamma"\na = 2\nscale = 0', "parameters.p.scale: must be positive; got 0.0"),
    ('distribution = "scipy.poisson"\nmu = 3\nscale = 2',
     "parameters.p.scale: unknown key; expected one of ['description', 'distribution', 'group', 'label', "
     "'label_zh', 'loc', 'mu', 'source', 'unit']"),
    ('distribution = "categorical"\nvalues = ["a", "b"]\nweights = [0.5, 0.6]',
     "parameters.p.weights: must sum to 1; got [0.5, 0.6], which sums to 1.1"),
    ('distribution = "categorical"\nvalues = ["a", "b", "a"]',
     "parameters.p.values: must list each category once; got 'a' twice"),
    ('distribution = "categorical"\nvalues = ["a", 1]', "parameters.p.values: must be all numbers or all strings; "
     "got ('a', 1.0)"),
    ('distribution = "categorical"\nvalues = ["a"]', "parameters.p.values: must list two or more categories; "
     "got ('a',)"),
    ('distribution = "categorical"\nvalues = ["a", "b"]\nweights = [1.0]',
     "parameters.p.weights: must give one weight per value (2); got 1"),
    ('distribution = "categorical"\nvalues = ["a", "b"]\nweights = [1.0, 0.0]',
     "parameters.p.weights: must all be positive (drop a category instead of weighting it 0); got [1.0, 0.0]"),
    ('distribution = "categorical"\nvalues = [true, false]',
     "parameters.p.values: must be a list of finite numbers or of strings; got [True, False]"),
    ('distribution = "categorical"', "parameters.p.values: missing key; expected a list of the categories "
     "(numbers or strings)"),
    ('distribution = "randint"\nlow = 1.5\nhigh = 4', "parameters.p.low: must be an integer (the bounds of an "
     "integer distribution are included); got 1.5"),
    ('distribution = "randint"\nlow = 4\nhigh = 4', "parameters.p.high: must be greater than low (4.0); got 4.0"),
    ('distribution = "bernoulli"\np = 1', "parameters.p.p: must be strictly between 0 and 1 (0 or 1 is a "
     "constant, not an uncertain input); got 1.0"),
    ('distribution = "pert"\nlow = 0\nmode = 2\nhigh = 1', "parameters.p.mode: must lie between low (0.0) and "
     "high (1.0); got 2.0"),
]


@pytest.mark.parametrize("body, message", BAD, ids=[m.split(":")[0] + f"-{i}" for i, (_, m) in enumerate(BAD)])
def test_bad_distribution_is_one_line_naming_file_and_key(tmp_path, body, message):
    with pytest.raises(StudyError) as err:
        _study(tmp_path, _param(body))
    assert str(err.value) == f"{tmp_path / 't.toml'}: {message}"


# -- sampling: inverse CDFs from the unit cube ------------------------------------------

def test_randint_bounds_are_included_with_equal_mass(tmp_path):
    study = _study(tmp_path, _param('distribution = "randint"\nlow = 1\nhigh = 6'))
    x = draw(study, method="latin", samples=6000).p.values
    # A Latin hypercube puts exactly n/6 points in each sixth of (0, 1): each face exactly 1000 times.
    assert sorted(np.unique(x, return_counts=True)[1]) == [1000] * 6
    assert (x.min(), x.max()) == (1.0, 6.0)


def test_categorical_strings_reach_the_model_as_strings_with_their_weights(tmp_path):
    study = _study(tmp_path, _param('distribution = "categorical"\nvalues = ["peace", "war", "truce"]\n'
                                    'weights = [0.5, 0.3, 0.2]'))
    x = draw(study, method="latin", samples=1000).p
    assert x.dtype.kind == "U"
    values, counts = np.unique(x.values, return_counts=True)
    assert dict(zip(values.tolist(), counts.tolist())) == {"peace": 500, "war": 300, "truce": 200}
    assert x.attrs["categories"] == '["peace", "war", "truce"]'
    assert x.attrs["notation"] == "Cat(peace: 0.5, war: 0.3, truce: 0.2)"


@pytest.mark.parametrize("dist, args, ref", [
    ("scipy.beta", {"a": 2, "b": 5}, stats.beta(2, 5)),
    ("scipy.gamma", {"a": 3, "scale": 0.5}, stats.gamma(3, scale=0.5)),
    ("scipy.poisson", {"mu": 4}, stats.poisson(4)),
])
def test_scipy_inputs_round_trip_their_moments(tmp_path, dist, args, ref):
    body = "\n".join([f'distribution = "{dist}"', *(f"{k} = {v}" for k, v in args.items())])
    x = draw(_study(tmp_path, _param(body)), method="latin", samples=20000).p.values
    mean, var = moments(dist, {k: float(v) for k, v in args.items()})
    assert (mean, var) == pytest.approx((ref.mean(), ref.var()), rel=1e-12)
    assert abs(x.mean() - mean) < 3 * np.sqrt(var / x.size)
    assert x.var() / var == pytest.approx(1, abs=0.03)


def test_pert_is_the_beta_of_the_elicitation_literature(tmp_path):
    x = draw(_study(tmp_path, _param('distribution = "pert"\nlow = 0\nmode = 0.2\nhigh = 1')),
             method="latin", samples=20000).p.values
    # alpha = 1 + 4 (m - a) / (b - a) = 1.8, beta = 1 + 4 (b - m) / (b - a) = 4.2; mean (a + 4m + b) / 6.
    assert moments("pert", {"low": 0.0, "mode": 0.2, "high": 1.0})[0] == pytest.approx(1.8 / 6)
    assert stats.kstest(x, stats.beta(1.8, 4.2).cdf).pvalue > 0.01


# -- Sobol indices with discrete factors: the estimators need no change ----------------

CATEGORY_EFFECT = np.array([0.0, 2.0, 5.0])
CATEGORY_WEIGHTS = [0.5, 0.3, 0.2]
UNIFORM_VAR1 = ("uniform", {"low": 0.0, "high": np.sqrt(12.0)})  # variance 1


def _indices(model, inputs, n=2048, second_order=False):
    y = testing.saltelli_outputs(model, inputs, n, replicates=8, seed=5, second_order=second_order)
    return sobol_indices(y, params=list(inputs), second_order=second_order, conf_level=0.999)


def _inside(ds, index, param, truth):
    low, high = float(ds[f"{index}_low"].sel(param=param)[0]), float(ds[f"{index}_high"].sel(param=param)[0])
    assert low <= truth <= high, (index, param, truth, low, high)
    assert high - low < 0.06


def test_categorical_first_order_index_is_the_between_category_variance_share():
    def model(x):
        return xr.Dataset({"y": CATEGORY_EFFECT[x.c.values.astype(int)] + x.u})

    inputs = {"c": ("categorical", {"values": ("a", "b", "c"), "weights": tuple(CATEGORY_WEIGHTS)}),
              "u": UNIFORM_VAR1}
    ds = _indices(model, inputs)
    between = float(np.dot(CATEGORY_WEIGHTS, CATEGORY_EFFECT**2) - np.dot(CATEGORY_WEIGHTS, CATEGORY_EFFECT) ** 2)
    assert between == pytest.approx(3.64)
    share = between / (between + 1.0)
    for index in ("S1", "ST"):  # additive: no interaction
        _inside(ds, index, "c", share)
        _inside(ds, index, "u", 1 - share)


def test_integer_factor_indices_follow_its_discrete_variance():
    def model(x):
        return xr.Dataset({"y": x.k + x.u})

    ds = _indices(model, {"k": ("randint", {"low": 1.0, "high": 6.0}), "u": UNIFORM_VAR1})
    var_k = (6**2 - 1) / 12  # a fair die
    _inside(ds, "S1", "k", var_k / (var_k + 1))
    _inside(ds, "ST", "u", 1 / (var_k + 1))


def test_reading_and_parameters_split_the_variance_with_a_known_interaction():
    # Y = m_R + b_R X: the reading R moves the level and the slope. With X of mean 0, variance 1:
    # V_R = Var(m), V_X = E[b]², V_RX = Var(b), V = Var(m) + E[b²].
    m, b, w = np.array([0.0, 2.0]), np.array([1.0, 3.0]), np.array([0.25, 0.75])

    def model(x):
        r = x.reading.values.astype(int)
        return xr.Dataset({"y": ("sample", m[r] + b[r] * x.x.values)})

    inputs = {"reading": ("categorical", {"values": ("paper", "rival"), "weights": tuple(w)}),
              "x": ("uniform", {"low": -np.sqrt(3.0), "high": np.sqrt(3.0)})}
    ds = _indices(model, inputs, second_order=True)
    var_m, mean_b, var_b = w @ m**2 - (w @ m) ** 2, w @ b, w @ b**2 - (w @ b) ** 2
    total = var_m + w @ b**2
    assert (var_m, var_b, total) == pytest.approx((0.75, 0.75, 7.75))
    _inside(ds, "S1", "reading", var_m / total)
    _inside(ds, "ST", "reading", (var_m + var_b) / total)
    _inside(ds, "S1", "x", mean_b**2 / total)
    _inside(ds, "ST", "x", (mean_b**2 + var_b) / total)
    low, high = (float(ds[f"S2{end}"].sel(param="reading", param2="x")[0]) for end in ("_low", "_high"))
    assert low <= var_b / total <= high


def test_a_failing_model_names_the_categorys_label(tmp_path, capsys):
    from mcsens.cli import main

    (tmp_path / "fail_model.py").write_text("def f(x):\n    raise ValueError('boom')\n")
    path = write_study(tmp_path, "fail_model:f", samples=16, params=_param(
        'distribution = "categorical"\nvalues = ["peace", "war"]'))
    assert main(["run", str(path), "--out", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: model 'fail_model:f': chunk of samples 0–") and err.count("\n") == 1
    assert err.endswith("raised ValueError: boom; first failing sample 0 (p='peace')\n")
