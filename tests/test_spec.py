"""Study files: the bad-input corpus through the real command line, and the loader."""

import subprocess
import sys
from pathlib import Path

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
