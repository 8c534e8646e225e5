"""Models users actually have (issue 15): commands, per-sample functions, stochastic models.

One additive model ``y = 3 x1 + x2`` is written four ways (vectorized, ``vectorized =
false``, the ``@per_sample`` decorator, and a command exchanging CSV files): all give
byte-identical ``indices.csv`` for the same seed; the netCDF exchange has its own test. A
command's failures (non-zero exit on a later chunk, a timeout, a short file) are one line
naming the command, its status and its stderr's tail, and the run resumes once the cause
is gone.
"""

import json
import re
import sys

import numpy as np
import pytest
import xarray as xr

from mcsens import run_study
from mcsens.cli import main
from study import load_study
from study.adapters import per_sample
from study.adapters.external import read_outputs, write_inputs
from study.adapters.stochastic import sample_seeds, seed_keys
from study.errors import StudyError

PARAMS = """
[sampling]
method = "sobol"
samples = {samples}
seed = 11
second_order = false
replicates = 4
chunk_rows = {chunk_rows}

[analysis]
methods = ["sobol"]

[parameters.x1]
distribution = "uniform"
low = 0.0
high = 1.0

[parameters.x2]
distribution = "uniform"
low = 0.0
high = 1.0
"""

MODELS = """
import numpy as np
import xarray as xr
from study.adapters import per_sample

def vec(x):
    return xr.Dataset({"y": 3 * x.x1 + x.x2})

def one(x1, x2):
    return {"y": 3 * x1 + x2}

@per_sample
def decorated(x1, x2):
    return {"y": 3 * x1 + x2}

def fragile(x1, x2):
    if x1 > 0.9:
        raise ArithmeticError("x1 too large")
    return {"y": 3 * x1 + x2}

def noisy(x):
    # Uniform noise of variance 1/12 from the seed: Var(E[Y|X]) = Var(x1) = 1/12, share 1/2.
    u = (x.seed.astype(float) + 0.5) / 2**32
    return xr.Dataset({"y": x.x1 + (2 * u - 1) / 2})

def noisy_one(x1, x2, seed):
    return {"y": x1 + np.random.default_rng(seed).uniform(-0.5, 0.5)}
"""

# Plain Python without pandas, so that it starts fast: a flag file beside it makes it fail
# on the chunk holding sample 40 (a later chunk, not the probe's), so the run can resume.
COMMAND = """
import csv, os, sys, time
rows = list(csv.DictReader(open(sys.argv[1])))
bad = any(r["sample"] == "40" for r in rows)
if bad and os.path.exists("exit"):
    print("solver diverged at sample 40", file=sys.stderr)
    sys.exit(3)
if bad and os.path.exists("hang"):
    time.sleep(60)
if bad and os.path.exists("short"):
    rows = rows[:-1]
with open(sys.argv[2], "w") as f:
    f.write("y\\n" + "".join(repr(3 * float(r["x1"]) + float(r["x2"])) + "\\n" for r in rows))
"""

NETCDF_COMMAND = """
import sys, xarray as xr
x = xr.load_dataset(sys.argv[1])
xr.Dataset({"y": 3 * x.x1 + x.x2}).to_netcdf(sys.argv[2])
"""


def _study(folder, name, model_lines, samples=64, chunk_rows=16):
    path = folder / f"{name}.toml"
    path.write_text(f'[study]\nname = "{name}"\n{model_lines}\n' + PARAMS.format(samples=samples,
                                                                                 chunk_rows=chunk_rows))
    return path


def _command(script="cmd.py", extra=""):
    return f'model = {{ command = [{json.dumps(sys.executable)}, "{script}", "{{inputs}}", "{{outputs}}"]{extra} }}'


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "m.py").write_text(MODELS)
    (tmp_path / "cmd.py").write_text(COMMAND)
    (tmp_path / "cmd_nc.py").write_text(NETCDF_COMMAND)
    return tmp_path


def _run(path, tmp_path, **kw):
    return run_study(path, out=tmp_path / "runs", figures=False, appendix=False, **kw)


def _cli(capsys, *argv):
    code = main(["run", "-q", *map(str, argv), "--no-figures", "--no-appendix"])
    return code, capsys.readouterr()


def test_one_function_vectorized_per_sample_decorated_and_as_a_command_gives_identical_indices(folder):
    ways = {"vec": 'model = "m:vec"', "one": 'model = "m:one"\nvectorized = false',
            "decorated": 'model = "m:decorated"', "csv": _command()}
    tables = {k: (_run(_study(folder, k, v, samples=16), folder) / "indices.csv").read_bytes()
              for k, v in ways.items()}
    assert len(set(tables.values())) == 1
    assert b"sobol,y,x1,ST" in tables["vec"]


def test_a_commands_script_is_hashed_and_an_edit_refuses_the_resume(folder, capsys):
    (folder / "exit").touch()
    code, out = _cli(capsys, _study(folder, "c", _command()), "--out", folder / "runs")
    assert code == 2
    run_dir = next((folder / "runs" / "c").iterdir())
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["model"]["sources"] == {"cmd.py": __import__("hashlib").sha256(COMMAND.encode()).hexdigest()}
    (folder / "cmd.py").write_text(COMMAND + "\n# edited\n")
    code, out = _cli(capsys, "--resume", run_dir)
    assert code == 2
    assert out.err.startswith(f"error: {folder / 'cmd.py'}: a source file of the model changed since the run "
                              "started")


@pytest.mark.parametrize("flag, message", [
    ("exit", "must exit with status 0; got exit status 3; stderr ends: solver diverged at sample 40"),
    ("hang", "must finish within timeout = 2 s; it was still running and was killed"),
    ("short", "must write one row per sample (16); got 15"),
])
def test_a_failing_command_is_one_line_and_the_run_resumes_when_the_cause_is_gone(folder, capsys, flag, message):
    (folder / flag).touch()
    path = _study(folder, "c", _command(extra=", timeout = 2"), chunk_rows=1)
    code, out = _cli(capsys, path, "--out", folder / "runs")
    line = f"{sys.executable} cmd.py '{{inputs}}' '{{outputs}}'"
    assert code == 2
    assert out.err == f'error: command "{line}": chunk of samples 32–47: {message}\n'
    run_dir = next((folder / "runs" / "c").iterdir())
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "failed"
    (folder / flag).unlink()
    code, out = _cli(capsys, "--resume", run_dir)
    assert code == 0, out.err
    clean = _run(_study(folder, "v", 'model = "m:vec"'), folder)
    assert (run_dir / "indices.csv").read_bytes() == (clean / "indices.csv").read_bytes()


def test_a_per_sample_failure_names_the_sample_or_is_recorded_with_allow_failures(folder, capsys):
    path = _study(folder, "f", 'model = "m:fragile"\nvectorized = false')
    code, out = _cli(capsys, path, "--out", folder / "runs")
    assert code == 2
    found = re.fullmatch(r"error: model 'm:fragile': chunk of samples 0–255: raised ArithmeticError: x1 too "
                         r"large; first failing sample (\d+) \(x1=([\d.]+), x2=[\d.]+\)\n", out.err)
    assert found and float(found[2]) > 0.9
    run_dir = _run(path, folder, allow_failures=True)
    ds = xr.open_dataset(run_dir / "results.nc")
    assert np.array_equal(ds.status.values, (ds.x1.values > 0.9).astype(np.int8))
    ok = ds.status.values == 0
    np.testing.assert_array_equal(ds.y.values[ok], 3 * ds.x1.values[ok] + ds.x2.values[ok])
    assert np.isnan(ds.y.values[~ok]).all()


def test_a_per_sample_model_runs_once_per_sample_not_by_bisection(folder):
    calls = []

    @per_sample
    def f(x1, x2):
        calls.append(x1)
        if x1 > 0.5:
            raise ValueError("no")
        return {"y": x1}

    from study.adapters import PerSample, SampleFailures

    x = xr.Dataset({"x1": ("sample", np.linspace(0, 1, 8)), "x2": ("sample", np.zeros(8))},
                   coords={"sample": np.arange(8)})
    with pytest.raises(SampleFailures) as err:
        PerSample(f, "m:f")(x)
    assert len(calls) == 8 and err.value.positions.tolist() == [4, 5, 6, 7]
    np.testing.assert_array_equal(err.value.partial.y.values[:4], x.x1.values[:4])


def test_seeds_depend_on_the_recorded_seed_and_the_point_in_the_design_only():
    x = xr.Dataset({"x1": ("sample", np.zeros(3))}, coords={"sample": [5, 6, 7]})
    a = sample_seeds(11, seed_keys(x), 0)
    assert a.dtype == np.uint32 and len(set(a.tolist())) == 3
    later = xr.Dataset({"x1": ("sample", [0.0])}, coords={"sample": [7]})  # the same point in another chunk
    assert sample_seeds(11, seed_keys(later), 0)[0] == a[2]
    assert sample_seeds(11, seed_keys(later), 1)[0] != a[2] and sample_seeds(12, seed_keys(later), 0)[0] != a[2]


def test_a_saltelli_row_shares_a_seed_between_a_and_ab_and_between_b_and_ba():
    labels = ["A", "AB:x1", "AB:x2", "BA:x1", "BA:x2", "B"]
    x = xr.Dataset({"x1": ("sample", np.zeros(12))},
                   coords={"sample": np.arange(12), "row": ("sample", np.repeat([0, 1], 6)),
                           "matrix": ("sample", np.tile(np.arange(6), 2))})
    seeds = sample_seeds(11, seed_keys(x, labels), 0).reshape(2, 6)
    for row in seeds:
        assert row[0] == row[1] == row[2] and row[3] == row[4] == row[5] and row[0] != row[5]
    assert seeds[0, 0] != seeds[1, 0]


def test_a_known_noise_share_is_recovered_within_its_interval_and_chunking_changes_nothing(folder):
    lines = 'model = "m:noisy"\nstochastic = true\nreplications = 4'
    run_dir = _run(_study(folder, "s", lines, samples=256), folder)
    rows = [r.split(",") for r in (run_dir / "indices.csv").read_text().splitlines() if r.startswith("noise,")]
    assert len(rows) == 1
    value, low, high = (float(rows[0][i]) for i in (4, 6, 7))  # value, conf_low, conf_high
    assert low <= 0.5 <= high and abs(value - 0.5) < 0.06
    # Common random numbers in each Saltelli row: x2, which the model ignores, gets no share
    # of the noise; x1 explains Var(x1) / (Var(x1) + noise / K) = (1/12) / (1/12 + 1/48) = 0.8.
    st = {r[2]: tuple(map(float, r[4:8])) for r in (line.split(",") for line in
                                                    (run_dir / "indices.csv").read_text().splitlines())
          if r[0] == "sobol" and r[3] == "ST"}  # value, conf, conf_low, conf_high
    assert st["x2"] == (0.0, 0.0, 0.0, 0.0) and st["x1"][2] <= 0.8 <= st["x1"][3]
    ds = xr.open_dataset(run_dir / "results.nc")
    assert "y__noise_var" in ds and "sobol,y__noise_var" not in (run_dir / "indices.csv").read_text()
    # The figure and the appendix say it (the figure is drawn from the same rows).
    from analysis.appendix.sections import noise_paragraph
    from analysis.figures import figure_specs
    from analysis.figures.data import load_run

    data = load_run(run_dir)
    spec = next(s for s in figure_specs(data) if s.name == "noise-share")
    bars = spec.draw().axes[0].containers[0]
    assert spec.section == "indices" and [b.get_width() for b in bars] == [value]
    text = noise_paragraph(data)[0].text
    assert f"Y {value:.2f} [{low:.2f}, {high:.2f}]" in text.replace("−", "-")
    other = _run(_study(folder, "s2", lines, samples=256, chunk_rows=64), folder)
    np.testing.assert_array_equal(xr.open_dataset(other / "results.nc").y.values, ds.y.values)


def test_a_stochastic_per_sample_model_gives_identical_runs_in_process_and_on_two_workers(folder):
    # The one test here that starts a cluster: seeds come from labels, so workers change nothing.
    path = _study(folder, "w", 'model = "m:noisy_one"\nvectorized = false\nstochastic = true\nreplications = 2',
                  samples=32)
    here = _run(path, folder)
    there = run_study(path, out=folder / "runs_w", figures=False, appendix=False, workers=2)
    assert (here / "indices.csv").read_bytes() == (there / "indices.csv").read_bytes()
    assert b"noise,y" in (here / "indices.csv").read_bytes()


@pytest.mark.parametrize("lines, message", [
    ('model = { command = [] }', "study.model.command: must be a non-empty list of non-empty strings (the program "
     "and its arguments, e.g. ['Rscript', 'model.R', '{inputs}', '{outputs}']); got []"),
    ('model = { command = ["R", "{inputs}"] }', "study.model.command: must contain {outputs} (replaced by the "
     "path of the chunk's outputs file); got ['R', '{inputs}']"),
    ('model = { command = ["R", "{inputs}", "{outputs}"], format = "json" }',
     "study.model.format: must be one of ['csv', 'netcdf']; got 'json'"),
    ('model = { command = ["R", "{inputs}", "{outputs}"], timeout = 0 }',
     "study.model.timeout: must be a positive number of seconds; got 0"),
    ('model = { command = ["R", "{inputs}", "{outputs}"], shell = true }',
     "study.model.shell: unknown key; expected one of ['command', 'format', 'timeout']"),
    ('model = "m:vec"\nreplications = 3', "study.replications: must be 1 unless the model is stochastic "
     "(stochastic = true: a deterministic model gives the same value each time); got 3"),
    ('model = "m:vec"\nvectorized = "no"', "study.vectorized: must be true or false; got 'no'"),
    ('model = "m:vec"\nstochastic = true\n\n[constants.seed]\nvalue = 1.0\n', "constants.seed: must not be named "
     "'seed' in a stochastic study (the model gets its per-sample seed under that name); rename it"),
])
def test_model_keys_are_checked_by_the_loader_in_one_line(tmp_path, lines, message):
    path = _study(tmp_path, "k", lines)
    with pytest.raises(StudyError) as err:
        load_study(path)
    assert str(err.value) == f"{path}: {message}"


def test_the_csv_exchange_has_a_header_scalar_constants_and_the_seed(tmp_path):
    x = xr.Dataset({"x1": ("sample", [0.25, 0.5]), "a": 7.0},
                   coords={"sample": [3, 4], "seed": ("sample", np.array([9, 10], np.uint32))})
    write_inputs(x, tmp_path / "in.csv", "csv")
    assert (tmp_path / "in.csv").read_text() == "sample,seed,x1,a\n3,9,0.25,7\n4,10,0.5,7\n"
    (tmp_path / "out.csv").write_text("sample,y\n4,2.0\n3,1.0\n")
    out = read_outputs(tmp_path / "out.csv", "csv")
    assert out["sample"].values.tolist() == [4, 3] and out.y.values.tolist() == [2.0, 1.0]


def test_a_netcdf_command_gets_the_chunk_as_a_dataset_and_its_outputs_pass_the_contract(folder):
    from study.adapters.external import ExternalCommand
    from study.contract import check_result

    x = xr.Dataset({"x1": ("sample", [0.25, 0.5]), "x2": ("sample", [1.0, 2.0])}, coords={"sample": [3, 4]})
    fn = ExternalCommand([sys.executable, "cmd_nc.py", "{inputs}", "{outputs}"], "netcdf", 60, str(folder))
    y = check_result(fn(x), x, fn.line, ("x1", "x2"))
    assert y.y.values.tolist() == [1.75, 3.5] and y["sample"].values.tolist() == [3, 4]


def test_a_missing_program_is_named(tmp_path):
    from study.adapters.external import ExternalCommand
    from study.errors import ModelContractError

    x = xr.Dataset({"x1": ("sample", [0.25, 0.5])}, coords={"sample": [3, 4]})
    fn = ExternalCommand(["no-such-program-mcsens", "{inputs}", "{outputs}"], "csv", None, str(tmp_path))
    with pytest.raises(ModelContractError) as err:
        fn(x)
    assert str(err.value) == ("command \"no-such-program-mcsens '{inputs}' '{outputs}'\": chunk of samples 3–4: must "
                              "name a program that exists; 'no-such-program-mcsens' was not found")


def test_the_noise_share_estimator_on_a_random_effects_sample_and_with_failed_rows():
    from analysis.noise import noise_share

    rng = np.random.default_rng(0)
    # Between-point variance 1 and within-point variance 1 with K = 3: the share is 1/2.
    y = rng.normal(size=(4000, 1)) + rng.normal(size=(4000, 3))
    mean, within = y.mean(axis=1), y.var(axis=1, ddof=1)
    value, low, high = noise_share(mean, within, 3, conf_level=0.95, resamples=200, rng=rng)
    assert low <= 0.5 <= high and high - low < 0.05
    mean[:10] = np.nan  # failed samples are left out, not propagated
    assert np.isfinite(noise_share(mean, within, 3, conf_level=0.95, resamples=20, rng=rng)).all()
