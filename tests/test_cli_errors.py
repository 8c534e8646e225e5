"""Every bad input meets the user as one line on stderr, exit status 2, before any work.

Each case writes a small study file into a temporary folder and runs the real command line
(``python -m study validate|run``) there, so that messages start with the file's plain name.
Mistakes found while loading cost a fraction of a second each: no model is imported.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODEL = (ROOT / "tests" / "data" / "bad" / "ishigami_model.py").read_text()

X2 = """
[parameters.x2]
distribution = "uniform"
low = 0.0
high = 1.0
"""


def study_text(*, study='name = "demo"', sampling="", analysis="", params=X2, method="sobol", samples="64",
               methods='["sobol"]') -> str:
    return f"""[study]
{study}
model = "ishigami_model:evaluate"

[sampling]
method = "{method}"
samples = {samples}
seed = 1
replicates = 4
{sampling}

[analysis]
methods = {methods}
{analysis}

[constants]
a = 7.0
b = 0.1

[parameters.x1]
distribution = "uniform"
low = 0.0
high = 1.0

[parameters.x3]
distribution = "uniform"
low = 0.0
high = 1.0
{params}"""


def cli(folder: Path, *argv, timeout=120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "study", *map(str, argv)], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=timeout)


def write(folder: Path, name: str, text: str) -> Path:
    (folder / "ishigami_model.py").write_text(MODEL)
    path = folder / name
    path.write_text(text)
    return path


def assert_one_line(proc, message: str) -> None:
    assert (proc.returncode, proc.stderr, proc.stdout) == (2, f"error: {message}\n", "")


ANY = "['bernoulli', 'categorical', 'lognormal', 'loguniform', 'normal', 'pert', 'randint', 'triangular', 'truncnormal', 'uniform'] or 'scipy.<name>' of a scipy.stats distribution"
RESERVED = "(sample, row, matrix, replicate, trajectory, step, status)"
NAME_RULE = ("must be a plain name of 1 to 64 characters (letters, digits, '_', '-', '.'; starting with a letter "
             "or digit), so that the run stays inside the output root")
IDENT = "names must be identifiers of at most 64 characters (a letter, then letters, digits, '_')"

# (case, study-file text, the message after "error: s.toml: ")
LOAD_CASES = [
    ("distribution_is_a_list", study_text(params=X2.replace('"uniform"', '["uniform"]')),
     f"parameters.x2.distribution: must be one of {ANY}; got ['uniform']"),
    ("distribution_is_a_number", study_text(params=X2.replace('"uniform"', "3")),
     f"parameters.x2.distribution: must be one of {ANY}; got 3"),
    ("bound_is_a_table", study_text(params=X2.replace("high = 1.0", "high = {value = 1}")),
     "parameters.x2.high: must be a finite number; got {'value': 1}"),
    ("bound_beyond_float", study_text(params=X2.replace("high = 1.0", "high = " + "9" * 400)),
     "parameters.x2.high: must be a finite number; got " + "9" * 79 + "…"),
    ("label_is_a_number", study_text(params=X2 + "label = 2\n"), "parameters.x2.label: must be a string; got 2"),
    ("name_is_a_list", study_text(study='name = ["demo"]'), "study.name: must be a string; got ['demo']"),
    ("methods_is_a_string", study_text(methods='"sobol"'), "analysis.methods: must be a list of strings; got 'sobol'"),
    ("samples_is_a_table", study_text(samples="{n = 64}"), "sampling.samples: must be a positive integer; got {'n': 64}"),
    ("name_300_characters", study_text(study=f'name = "{"n" * 300}"'),
     f"study.name: {NAME_RULE}; got '{'n' * 78}…"),
    ("name_trailing_newline", study_text(study='name = "demo\\n"'), f"study.name: {NAME_RULE}; got 'demo\\n'"),
    ("model_trailing_newline", study_text().replace('"ishigami_model:evaluate"', '"ishigami_model:evaluate\\n"'),
     "study.model: must be 'module:function' (e.g. 'mymodel:evaluate'); got 'ishigami_model:evaluate\\n'"),
    ("seed_2_to_70", study_text().replace("seed = 1", f"seed = {2**70}"),
     f"sampling.seed: must be at most 2**63 - 1 (9223372036854775807), the largest seed a run can record; "
     f"got {2**70}"),
    *[(f"parameter_named_{n}", study_text(params=X2.replace("x2", n)),
       f"parameters.{n}: must not be one of the names the run files use themselves {RESERVED}; got {n!r}")
      for n in ("sample", "row", "matrix", "replicate", "status")],
    ("constant_named_row", study_text().replace("b = 0.1", "b = 0.1\nrow = 2"),
     f"constants.row: must not be one of the names the run files use themselves {RESERVED}; got 'row'"),
    ("parameter_name_with_a_dash", study_text(params=X2.replace("x2", '"x-2"')),
     f"parameters.x-2: parameter {IDENT}; got 'x-2'"),
    ("parameter_name_with_a_newline", study_text(params=X2.replace("x2", '"x2\\n"')),
     f"parameters.'x2\\n': parameter {IDENT}; got 'x2\\n'"),
    ("parameter_name_too_long", study_text(params=X2.replace("x2", "x" * 65)),
     f"parameters.{'x' * 65}: parameter {IDENT}; got '{'x' * 65}'"),
    ("unknown_key_with_a_newline", study_text(params=X2 + '"lab\\nel" = "x"\n'),
     "parameters.x2.'lab\\nel': unknown key (did you mean 'label'?)"),
    ("group_with_a_slash", study_text(params=X2 + 'group = "a/b"\n'), f"parameters.x2.group: group {IDENT}; got 'a/b'"),
    ("truncnormal_mean_outside", study_text(params=X2.replace('"uniform"', '"truncnormal"') + "mean = 2.0\nsd = 0.5\n"),
     "parameters.x2.mean: must lie between low (0.0) and high (1.0) (outside them the truncated normal is one tail "
     "of a normal that mean and sd no longer describe); got 2.0"),
    ("resamples_1", study_text(analysis="resamples = 1"),
     "analysis.resamples: must be an integer >= 2 (a bootstrap interval is the spread of two or more resamples); "
     "got 1"),
    ("latin_samples_1", study_text(method="latin", samples="1", methods='["delta"]'),
     "sampling.samples: must be at least 2 for a latin design (a Latin hypercube of one point is a single random "
     "draw); got 1"),
    ("morris_samples_1", study_text(method="morris", samples="1", methods='["morris"]'),
     "sampling.samples: must be at least 2 for a morris design (N is the number of trajectories, and sigma and "
     "mu_star's interval need two); got 1"),
    ("lognormal_too_wide", study_text(params=X2.replace('"uniform"', '"lognormal"').replace("low = 0.0", "meanlog = 0")
                                      .replace("high = 1.0", "sdlog = 100")),
     "parameters.x2.sdlog: must keep draws finite and within ±1e+15 (checked at the design's most extreme "
     "quantiles 2^-30 and 1 - 2^-30); LogN(0, 100²) reaches 9.61e+260 at the quantile 1 - 2^-30"),
    ("uniform_overflows", study_text(params=X2.replace("low = 0.0", "low = -1e308").replace("high = 1.0", "high = 1e308")),
     "parameters.x2.high: must keep draws finite and within ±1e+15 (checked at the design's most extreme "
     "quantiles 2^-30 and 1 - 2^-30); U(-1e+308, 1e+308) reaches inf at the quantile 2^-30"),
    ("delta_rows_on_latin", study_text(method="latin", samples="16", methods='["delta"]'),
     "sampling.samples: must give the delta method at least 20 independent rows (its estimator's minimum; a latin "
     "design of N = 16 gives 16); got 16"),
    ("delta_rows_on_sobol", study_text(samples="8", methods='["sobol", "delta"]'),
     "sampling.samples: must give the delta method at least 20 independent rows (its estimator's minimum; a sobol "
     "design of N = 8 gives 16); got 8"),
    ("group_named_like_a_parameter", study_text(params=X2 + 'group = "x1"\n'),
     "parameters.x2.group: must not be the name of another parameter (the group would merge with it); got 'x1'"),
    # Budget: a second-order Saltelli design of D = 3 runs N (2D + 2) = 8N points, each stored
    # as 4 coordinates + 3 inputs + 1 output of 8 bytes: 2^40 * 8 * 64 B = 563 TB; at N = 64,
    # 512 runs and 32 768 B. Morris adds T (D + 1) runs of 3 coordinates + 3 inputs + 1 output.
    ("samples_2_to_40", study_text(samples=str(2**40)),
     "sampling.samples: would need 563 TB of storage and 8.8e+12 model runs; the limit is 100 GB and 1e+08 runs "
     "(raise sampling.max_storage_gb or sampling.max_runs to allow more); got 1099511627776"),
    ("morris_trajectories_2_to_40", study_text(methods='["sobol", "morris"]', analysis=f"morris_trajectories = {2**40}"),
     "analysis.morris_trajectories: would need 246 TB of storage and 4.4e+12 model runs; the limit is 100 GB and "
     "1e+08 runs (raise sampling.max_storage_gb or sampling.max_runs to allow more); got 1099511627776"),
    ("storage_limit_lowered", study_text(sampling="max_storage_gb = 0.00001"),
     "sampling.samples: would need 33 kB of storage and 512 model runs; the limit is 10 kB and 1e+08 runs "
     "(raise sampling.max_storage_gb or sampling.max_runs to allow more); got 64"),
    ("variant_escapes", study_text(analysis='variants = ["../../etc/passwd"]'),
     "analysis.variants: must be study files beside this one or in a folder below it (relative paths without "
     "'..'); got '../../etc/passwd'"),
    ("variant_absolute", study_text(analysis='variants = ["/etc/passwd"]'),
     "analysis.variants: must be study files beside this one or in a folder below it (relative paths without "
     "'..'); got '/etc/passwd'"),
    ("variant_missing", study_text(analysis='variants = ["v.toml"]'),
     "analysis.variants: must list existing study files relative to this one; got 'v.toml', which does not exist"),
    ("variant_is_itself", study_text(analysis='variants = ["s.toml"]'),
     "analysis.variants: must list other study files than this one; got 's.toml'"),
]


@pytest.mark.parametrize("text, message", [c[1:] for c in LOAD_CASES], ids=[c[0] for c in LOAD_CASES])
def test_validate_gives_one_line(tmp_path, text, message):
    write(tmp_path, "s.toml", text)
    assert_one_line(cli(tmp_path, "validate", "s.toml"), f"s.toml: {message}")


@pytest.mark.parametrize("case", ["resamples_1", "delta_rows_on_sobol", "seed_2_to_70", "variant_escapes",
                                  "samples_2_to_40"])
def test_run_refuses_before_a_run_directory_exists(tmp_path, case):
    text, message = {c[0]: c[1:] for c in LOAD_CASES}[case]
    write(tmp_path, "s.toml", text)
    proc = cli(tmp_path, "run", "s.toml", "--out", "runs")
    assert_one_line(proc, f"s.toml: {message}")
    assert not (tmp_path / "runs").exists()


def test_design_too_large_for_memory(tmp_path):
    # Budget raised far enough that only the machine's memory can refuse a 2^40-point hypercube.
    write(tmp_path, "s.toml", study_text(method="latin", samples=str(2**40), methods='["delta"]',
                                         sampling="max_runs = 4611686018427387904\nmax_storage_gb = 1e12"))
    proc = cli(tmp_path, "validate", "s.toml")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("error: s.toml: sampling.samples: would need 79 TB of memory to draw the latin "
                                  "design at once, more than half of this machine's ")
    assert proc.stderr.endswith(" (a sobol design is drawn chunk by chunk); got 1099511627776\n")


def test_samples_option_is_budgeted_like_the_file(tmp_path):
    write(tmp_path, "s.toml", study_text())
    proc = cli(tmp_path, "run", "s.toml", "--samples", str(2**40), "--out", "runs")
    assert_one_line(proc, "s.toml: --samples: would need 563 TB of storage and 8.8e+12 model runs; the limit is "
                          "100 GB and 1e+08 runs (raise sampling.max_storage_gb or sampling.max_runs to allow "
                          "more); got 1099511627776")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("out, message", [
    ("f.txt", "must be a folder; got 'f.txt', which is a file"),
    ("f.txt/runs", "must be a folder; got 'f.txt/runs', inside 'f.txt', which is a file"),
])
def test_out_pointing_at_a_file(tmp_path, out, message):
    write(tmp_path, "s.toml", study_text())
    (tmp_path / "f.txt").write_text("not a folder")
    assert_one_line(cli(tmp_path, "run", "s.toml", "--out", out), f"study run: argument --out: {message}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.txt", "ishigami_model.py", "s.toml"]


def test_compare_out_pointing_at_a_file(tmp_path):
    for run in ("a", "b"):
        (tmp_path / run).mkdir()
        (tmp_path / run / "manifest.json").write_text("{}")
    (tmp_path / "f.txt").write_text("not a folder")
    assert_one_line(cli(tmp_path, "compare", "a", "b", "--out", "f.txt"),
                    "study compare: argument --out: must be a folder; got 'f.txt', which is a file")


@pytest.mark.parametrize("address", ["garbage", "tcp://host", "host:0", "host:70000", "http://host:8786",
                                     "tcp://host:8786\n"])
def test_scheduler_address_form(tmp_path, address):
    write(tmp_path, "s.toml", study_text())
    proc = cli(tmp_path, "run", "s.toml", "--scheduler", address, "--out", "runs")
    assert_one_line(proc, "study run: argument --scheduler: must be a dask scheduler address (tcp://host:port, "
                          f"tls://host:port, host:port or inproc://…); got {address!r}")
    assert not (tmp_path / "runs").exists()


def test_scheduler_forms_accepted():
    from mcsens.cli import _scheduler

    for address in ("tcp://127.0.0.1:8786", "localhost:8786", "tls://sched.example.org:8786", "[::1]:8786",
                    "tcp://[::1]:8786", "inproc://10.0.0.1/1234/1", "ws://node-1:8786"):
        assert _scheduler(address) == address


# --- variants: checked at load, each in its own file's name ------------------------------------------------


def test_variant_link_out_of_the_folder(tmp_path):
    inner = tmp_path / "study"
    inner.mkdir()
    write(tmp_path, "outside.toml", study_text(study='name = "outside"'))
    write(inner, "s.toml", study_text(analysis='variants = ["v.toml"]'))
    (inner / "v.toml").symlink_to(tmp_path / "outside.toml")
    assert_one_line(cli(inner, "validate", "s.toml"), "s.toml: analysis.variants: must stay inside this study file's "
                                                      f"folder; got 'v.toml', a link to {(tmp_path / 'outside.toml').resolve()}")


def test_bad_variant_is_named_and_fails_before_the_main_run(tmp_path):
    write(tmp_path, "s.toml", study_text(analysis='variants = ["more/v.toml"]'))
    (tmp_path / "more").mkdir()
    write(tmp_path / "more", "v.toml", study_text(study='name = "v"', analysis="resamples = 0"))
    proc = cli(tmp_path, "run", "s.toml", "--out", "runs")
    assert_one_line(proc, "more/v.toml: analysis.resamples: must be an integer >= 2 (a bootstrap interval is the "
                          "spread of two or more resamples); got 0")
    assert not (tmp_path / "runs").exists()


def test_variant_of_another_model(tmp_path):
    write(tmp_path, "s.toml", study_text(analysis='variants = ["v.toml"]'))
    write(tmp_path, "v.toml", study_text(study='name = "v"').replace("ishigami_model:", "other_model:"))
    assert_one_line(cli(tmp_path, "validate", "s.toml"),
                    "s.toml: analysis.variants: must be studies of this file's model ('ishigami_model:evaluate'), "
                    "so that they can be compared with it; got 'v.toml', a study of 'other_model:evaluate'")


def test_variants_are_checked_recursively_and_cycles_end(tmp_path):
    from study import load_study

    write(tmp_path, "s.toml", study_text(analysis='variants = ["v.toml"]'))
    write(tmp_path, "v.toml", study_text(study='name = "v"', analysis='variants = ["s.toml", "w.toml"]'))
    write(tmp_path, "w.toml", study_text(study='name = "w"', analysis='variants = ["missing.toml"]'))
    assert_one_line(cli(tmp_path, "validate", "s.toml"),
                    "w.toml: analysis.variants: must list existing study files relative to this one; got "
                    "'missing.toml', which does not exist")
    (tmp_path / "w.toml").write_text(study_text(study='name = "w"', analysis='variants = ["v.toml"]'))
    study = load_study(tmp_path / "s.toml", check_variants=True)  # s -> v -> (s, w -> v): loads once each
    assert study.analysis.variants == ("v.toml",)
