"""Study files: the bad-input corpus through the real command line, and the loader."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from study import StudyError, load_study

ROOT = Path(__file__).resolve().parents[1]
BAD = sorted((ROOT / "tests" / "data" / "bad").glob("*.toml"))


def expected_message(path: Path) -> str:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name} must start with '# expect: <message>'"
    return first.removeprefix("# expect: ")


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.stem)
def test_bad_study_file_gives_its_exact_message_and_status_2(path):
    rel = path.relative_to(ROOT).as_posix()
    proc = subprocess.run([sys.executable, "-m", "study", "validate", rel], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == f"error: {expected_message(path)}\n"  # one line, no traceback
    assert proc.stdout == ""


def test_corpus_covers_every_kind_of_mistake():
    names = {p.stem for p in BAD}
    for kind in ("syntax_error", "missing_study", "unknown_key_distribution", "unknown_distribution",
                 "bounds_order", "mode_outside", "nonpositive_sd", "loguniform_zero", "samples_not_power",
                 "samples_negative", "seed_negative", "no_parameters", "name_escapes",
                 "model_missing_module", "model_not_callable"):
        assert kind in names


def test_bad_run_does_not_leave_a_run_directory(tmp_path):
    bad = ROOT / "tests" / "data" / "bad" / "headline_unknown.toml"
    proc = subprocess.run([sys.executable, "-m", "study", "run", str(bad), "--out", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "analysis.headline: must name outputs of the model" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not any(tmp_path.rglob("manifest.json"))


@pytest.mark.parametrize("argv, message", [
    (["run", "params/ishigami.toml", "--samples", "100"],
     "error: params/ishigami.toml: --samples: must be a power of two for a sobol design (nearest: 128); got 100\n"),
    (["run", "params/ishigami.toml", "--samples", "0"],
     "error: study run: argument --samples: must be a positive integer; got '0'\n"),
    (["run", "params/ishigami.toml", "--seed", "-1"],
     "error: study run: argument --seed: must be a non-negative integer; got '-1'\n"),
    (["run", "no/such/file.toml"], "error: no/such/file.toml: no such study file\n"),
    (["analyze", "params"], "error: study analyze: argument run_dir: params: is not a run directory (no manifest.json)\n"),
])
def test_command_line_mistakes(argv, message):
    proc = subprocess.run([sys.executable, "-m", "study", *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert (proc.returncode, proc.stderr) == (2, message)


def test_overrides_are_validated_like_the_file():
    with pytest.raises(StudyError, match=r"--seed: must be a non-negative integer; got -2"):
        load_study(ROOT / "params" / "ishigami.toml", seed=-2)


def test_error_survives_pickling():
    import pickle

    err = StudyError("a.toml", "parameters.x.low", "must be positive; got 0")
    again = pickle.loads(pickle.dumps(err))
    assert str(again) == str(err) == "a.toml: parameters.x.low: must be positive; got 0"


def test_constants_table_and_scalar_forms(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text('[study]\nname = "s"\nmodel = "m:f"\n[sampling]\nsamples = 16\nseed = 0\nreplicates = 2\n'
                 '[constants]\nk = 2\n[constants.m]\nvalue = 0.4\ndescription = "the numeraire"\n'
                 '[parameters.x]\ndistribution = "uniform"\nlow = 0\nhigh = 1\ngroup = "g"\n')
    s = load_study(f)
    assert [(c.name, c.value, c.description) for c in s.constants] == [("k", 2.0, ""), ("m", 0.4, "the numeraire")]
    assert s.groups == {"g": ("x",)}
    assert s.sampling.replicates == 2 and s.analysis.ci == "replicates"


def test_design_runs_and_storage_of_the_ishigami_study():
    from analysis.methods import designs
    from study.spec import design_runs, storage_bytes

    s = load_study(ROOT / "params" / "ishigami.toml")
    kinds = designs(s)  # the registry: Morris named beside a Sobol design adds its own
    assert kinds == ["sobol", "morris"]
    # Saltelli with second order: N (2D + 2) = 1024 * 8; Morris: 64 trajectories of D + 1 = 4 points.
    assert design_runs(s, kinds) == [("sobol", 8192), ("morris", 256)]
    assert design_runs(s) == [("sobol", 8192)]  # the main design alone, what the loader budgets
    # 8 bytes per coordinate (4 Sobol, 3 Morris), input (3) and named output (y, y_positive).
    assert storage_bytes(s, kinds) == 8192 * 8 * (4 + 3 + 2) + 256 * 8 * (3 + 3 + 2)


def test_support_rule_is_the_inverse_cdf_at_2_to_minus_30():
    from scipy.special import ndtri

    from study.distributions import support_problem

    z = float(ndtri(1 - 2.0**-30))  # 6.0094
    assert support_problem("normal", {"mean": 0.0, "sd": 0.99e15 / z}) is None
    key, msg = support_problem("normal", {"mean": 0.0, "sd": 1.01e15 / z})
    assert key == "sd" and msg.endswith("reaches -1.01e+15 at the quantile 2^-30")  # the lower end first
    key, msg = support_problem("lognormal", {"meanlog": 0.0, "sdlog": 6.0})
    assert key == "sdlog" and msg.endswith(f"reaches {np.exp(6 * z):.3g} at the quantile 1 - 2^-30")


def test_saved_copy_loads_without_its_variants_but_never_with_an_escaping_one(tmp_path):
    f = tmp_path / "s.toml"
    body = ('[study]\nname = "s"\nmodel = "m:f"\n[sampling]\nsamples = 16\nseed = 0\nreplicates = 2\n'
            '[parameters.x]\ndistribution = "uniform"\nlow = 0\nhigh = 1\n[analysis]\nvariants = [{}]\n')
    f.write_text(body.format('"elsewhere.toml"'))
    assert load_study(f).analysis.variants == ("elsewhere.toml",)  # a run's copy: variants stayed behind
    with pytest.raises(StudyError, match="which does not exist"):
        load_study(f, check_variants=True)
    f.write_text(body.format('"sub/../../x.toml"'))
    with pytest.raises(StudyError, match=r"analysis\.variants: must be study files beside this one .*"
                                         r"got 'sub/\.\./\.\./x\.toml'$"):
        load_study(f)


def test_correlations_that_are_not_an_array(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text('correlations = 0\n[study]\nname = "s"\nmodel = "m:f"\n[sampling]\nsamples = 16\nseed = 0\n'
                 'replicates = 2\n[parameters.x]\ndistribution = "uniform"\nlow = 0\nhigh = 1\n')
    with pytest.raises(StudyError, match=r"s\.toml: correlations: must be an array of tables \(\[\[correlations\]\]\); "
                                         r"got 0$"):
        load_study(f)
