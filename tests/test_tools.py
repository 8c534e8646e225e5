"""The toolkit as a new user meets it: install, first commands, what a run says, exports.

Each behaviour goes through the real command line (``python -m study`` in a subprocess,
with standard error a pipe, as in a batch job), except the notebook API, which is called
as a notebook would call it. The built-wheel test is the one slow test of this file.
"""

import ast
import csv
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import study
from tests.helpers import ROOT

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ "


def cli(*args, cwd, env=None, **kw):
    full = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    return subprocess.run([sys.executable, "-m", "study", *map(str, args)], cwd=cwd, env=full, text=True,
                          timeout=300, **kw)


def fast_study(folder: Path, name="demo", tolerance=None) -> Path:
    """``study init NAME`` through the command line, with a smaller design for the tests."""
    r = cli("init", name, cwd=folder)
    assert r.returncode == 0, r.stderr
    path = folder / r.stdout.strip()
    text = path.read_text().replace("replicates = 4", "replicates = 2")
    if tolerance is not None:
        text = text.replace("tolerance = 0.05", f"tolerance = {tolerance}")
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """One small complete run of what ``study init`` writes, run from the command line."""
    folder = tmp_path_factory.mktemp("demo")
    fast_study(folder)
    r = cli("run", "demo.toml", "--samples", "64", "--no-figures", "--no-appendix", cwd=folder)
    assert r.returncode == 0, r.stderr
    return folder, folder / r.stdout.strip().splitlines()[-1], r


# --- install and first steps ------------------------------------------------------------

def test_version_is_single_sourced():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in meta["project"] and meta["project"]["dynamic"] == ["version"]
    assert meta["tool"]["hatch"]["version"]["path"] == "study/__init__.py"
    r = cli("--version", cwd=ROOT)
    assert (r.returncode, r.stdout) == (0, f"study (mcsens) {study.__version__}\n")
    import mcsens

    assert mcsens.__version__ == study.__version__
    cff = (ROOT / "CITATION.cff").read_text()
    assert re.search(r"^version: (\S+)$", cff, re.M).group(1) == study.__version__


def test_bare_study_prints_usage_with_every_command():
    r = cli(cwd=ROOT)
    assert r.returncode == 0 and r.stderr == ""
    assert r.stdout.startswith("usage: study [-h] [--version] COMMAND ...")
    for command in ("run", "validate", "analyze", "figures", "appendix", "compare", "reweight", "init", "list",
                    "export"):
        assert re.search(rf"^    {command} ", r.stdout, re.M), command


def test_every_argument_has_help_and_says_its_default():
    import argparse

    from mcsens.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name, parser in sub.choices.items():
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, f"study {name} {action.dest}: no help"
            has_default = action.default not in (None, False, 0, []) or action.nargs == "?"
            if has_default and action.dest != "verbosity":
                assert "default" in action.help, f"study {name} {action.dest}: help names no default"
    r = cli("export", "--help", cwd=ROOT)
    assert "(default: csv)" in r.stdout and r.returncode == 0


def test_license_is_the_metadata_s_bsd_3_clause():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert meta["project"]["license"] == {"text": "BSD-3-Clause"}
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("BSD 3-Clause License") and "Neither the name of the copyright holder" in text


def test_citation_names_the_flagship_paper():
    yaml = pytest.importorskip("yaml")
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["license"] == "BSD-3-Clause"
    paper = cff["references"][0]
    assert paper["title"].startswith("Strategic Irrationality or Else: An Alliance Theory Analysis of NATO's")
    assert paper["authors"][0] == {**paper["authors"][0], "family-names": "Xiao", "given-names": "He"}
    assert "俄乌冲突背景下北约亚太化的联盟理论分析" in paper["notes"]


def test_salib_is_a_test_and_bench_dependency_only():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert not [d for d in meta["project"]["dependencies"] if d.lower().startswith("salib")]
    for extra in ("test", "bench"):
        assert "SALib==1.6.0" in meta["project"]["optional-dependencies"][extra]
    importers = []
    for package in ("study", "analysis", "mcsens"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module or ""] if isinstance(node, ast.ImportFrom) else []
                importers += [str(path) for n in names if n.split(".")[0] == "SALib"]
    assert importers == []


def test_shipped_examples_are_found_by_name_and_a_local_file_wins(tmp_path, monkeypatch):
    from mcsens.examples import default_study, example_names, examples_dir, find_study

    monkeypatch.chdir(tmp_path)
    assert default_study() == examples_dir() / "asia_pacification.toml" and default_study().is_file()
    assert {"asia_pacification", "ishigami"} <= set(example_names())
    assert find_study("ishigami") == examples_dir() / "ishigami.toml"
    (tmp_path / "ishigami.toml").write_text("")
    assert find_study("ishigami.toml") == Path("ishigami.toml")  # the user's own file
    assert find_study("nothing_like_it") == Path("nothing_like_it")  # left for the loader to report
    (tmp_path / "params").mkdir()
    (tmp_path / "params" / "asia_pacification.toml").write_text("")
    assert default_study() == Path("params") / "asia_pacification.toml"


def test_validate_finds_a_shipped_example_from_any_folder(tmp_path):
    r = cli("validate", "ishigami", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.endswith("ishigami.toml: ok (3 parameters, 2 constants, sobol design, N = 1024)\n")


def test_init_writes_a_study_that_runs_and_never_overwrites(tmp_path, demo_run):
    folder, run_dir, _ = demo_run
    assert (folder / "demo_model.py").is_file()
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "complete"
    text = (folder / "demo.toml").read_text()
    assert text.count("\n#") >= 10  # commented: every section says what it is for
    again = cli("init", "demo", cwd=folder)
    assert (again.returncode, again.stderr) == (2, "error: demo.toml: already exists; study init never overwrites "
                                                   "a file (choose another NAME or --dir)\n")
    bad = cli("init", "my-study", cwd=tmp_path)
    assert (bad.returncode, bad.stderr) == (2, "error: study init: NAME: must be a name of letters, digits and "
                                               "'_' starting with a letter (it names the study and its model "
                                               "module); got 'my-study'\n")
    assert list(tmp_path.iterdir()) == []


# --- talk while working -----------------------------------------------------------------

def test_a_batch_run_logs_stages_with_timestamps_and_a_closing_summary(demo_run):
    folder, run_dir, r = demo_run
    lines = r.stderr.splitlines()
    assert all(re.match(STAMP, line) for line in lines), lines
    text = [line[len("2026-01-01T00:00:00Z "):] for line in lines]
    assert text[:2] == ["demo: evaluating the sobol design, 256 model runs (256 left)", "demo: analysis"]
    assert "\r" not in r.stderr  # no progress bar in a log
    rows = list(csv.DictReader(open(run_dir / "indices.csv")))
    head = next(x for x in rows if x["method"] == "headline")
    assert text[2] == "demo: complete, N = 64"
    assert text[3] == (f"  headline exceeds P = {float(head['value']):.2f} [{float(head['conf_low']):.2f}, "
                       f"{float(head['conf_high']):.2f}]")
    st = sorted((x for x in rows if x["method"] == "sobol" and x["index"] == "ST" and x["output"] == "y"),
                key=lambda x: -float(x["value"]))
    assert text[4].startswith(f"  top drivers of y (total-order index): {st[0]['param']} "
                              f"{float(st[0]['value']):.2f} [")
    assert st[0]["param"] == "growth"  # y = growth (1 + shock) - shock²/2: growth ranges over [0, 2]
    assert text[5].startswith("  convergence: ")
    assert text[6] == f"  files: {run_dir.relative_to(folder)} (indices.csv)"
    assert r.stdout.splitlines()[-1] == str(run_dir.relative_to(folder))


def test_quiet_says_nothing_and_until_converged_says_why_it_stopped(tmp_path):
    fast_study(tmp_path, tolerance=0.0001)
    # With -q only warnings remain: this one line, no stage line, no summary.
    r = cli("run", "demo.toml", "--samples", "32", "--until-converged", "--max-samples", "64", "--no-figures",
            "--no-appendix", "-q", cwd=tmp_path)
    assert r.returncode == 0
    assert re.fullmatch(STAMP + r"--until-converged stopped at N = 64 without converging: doubling N would exceed "
                        r"the budget of 64 \(--max-samples\)\n", r.stderr), r.stderr


def test_a_failure_mid_run_is_one_error_line_after_the_stage_lines(tmp_path):
    import shutil

    from tests.helpers import MODELS, write_study

    shutil.copy(MODELS / "broken_models.py", tmp_path)
    path = write_study(tmp_path, "broken_models:nan_late", samples=128)
    r = cli("run", path, "--out", tmp_path / "runs", "--no-figures", "--no-appendix", cwd=tmp_path)
    *stages, last = r.stderr.splitlines()
    assert r.returncode == 2 and r.stdout == ""
    assert [line[len("2026-01-01T00:00:00Z "):] for line in stages] == [
        "t: evaluating the sobol design, 512 model runs (512 left)"]
    assert re.match(STAMP, stages[0])
    assert last.startswith("error: model 'broken_models:nan_late': output 'y': must be finite")


def test_progress_bar_on_a_terminal_only(tmp_path):
    pty = pytest.importorskip("pty")
    fast_study(tmp_path)
    import fcntl
    import struct
    import termios

    primary, secondary = pty.openpty()
    # A fresh pty is 0 columns wide, where tqdm draws nothing; a real terminal has a size.
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    try:
        r = cli("run", "demo.toml", "--samples", "32", "--no-figures", "--no-appendix", cwd=tmp_path,
                stderr=secondary)
        os.close(secondary)
        out = b""
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # the terminal closed: all read
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.close(primary)
    assert r.returncode == 0
    text = out.decode()
    assert "demo sobol" in text and "\r" in text  # a tqdm bar, redrawn in place
    assert text.startswith("demo: evaluating the sobol design") and "demo: analysis\r\n" in text
    assert not re.search(STAMP, text)  # plain lines on a terminal: no timestamps


# --- list and export --------------------------------------------------------------------

def test_list_shows_status_n_and_headline(demo_run, tmp_path):
    folder, run_dir, _ = demo_run
    broken = folder / "runs" / "demo" / "20990101T000000Z-00000000"
    broken.mkdir()
    (broken / "manifest.json").write_text(json.dumps({"status": "interrupted", "samples": {"N": 128},
                                                      "error": "interrupted by the user (Ctrl-C)"}))
    r = cli("list", cwd=folder)
    assert r.returncode == 0, r.stderr
    head = next(x for x in csv.DictReader(open(run_dir / "indices.csv")) if x["method"] == "headline")
    lines = [re.split(r"\s{2,}", line) for line in r.stdout.splitlines()]
    assert lines[0] == ["RUN", "STATUS", "N", "HEADLINE"]
    assert lines[1] == [str(run_dir.relative_to(folder)), "complete", "64",
                        f"exceeds P = {float(head['value']):.2f} [{float(head['conf_low']):.2f}, "
                        f"{float(head['conf_high']):.2f}]"]
    assert lines[2] == [str(broken.relative_to(folder)), "interrupted", "128", "interrupted by the user (Ctrl-C)"]
    broken.joinpath("manifest.json").unlink()
    broken.rmdir()
    missing = cli("list", tmp_path / "none", cwd=tmp_path)
    assert (missing.returncode, missing.stderr) == (2, f"error: {tmp_path / 'none'}: must be a folder of runs; "
                                                       f"got '{tmp_path / 'none'}', which is not a folder\n")


def test_export_csv_is_the_independent_draws_with_a_codebook(demo_run, tmp_path):
    _, run_dir, _ = demo_run
    out = tmp_path / "draws.csv"
    r = cli("export", run_dir, "--out", out, cwd=tmp_path)
    assert (r.returncode, r.stdout) == (0, f"{out}\n"), r.stderr
    with open(out) as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["sample", "growth", "shock", "y", "exceeds"]
    assert len(rows) == 2 * 64  # the A and B rows: N each (the replicate designs share N = 64)
    with xr.open_dataset(run_dir / "results.nc") as ds:
        labels = json.loads(ds.attrs["matrix_labels"])
        ab = np.flatnonzero(np.isin(ds["matrix"].values, [labels.index("A"), labels.index("B")]))
        np.testing.assert_array_equal([int(x["sample"]) for x in rows], ds["sample"].values[ab])
        np.testing.assert_allclose([float(x["growth"]) for x in rows], ds["growth"].values[ab], rtol=1e-15)
        np.testing.assert_allclose([float(x["y"]) for x in rows], ds["y"].values[ab], rtol=1e-15)
    book = list(csv.DictReader(open(tmp_path / "draws.variables.csv")))
    assert book[0] == {"name": "growth", "role": "input", "label": "growth rate", "units": "1/yr",
                       "description": "Why this range: cite the source or say it is a modelling choice"}
    assert book[2] == {"name": "y", "role": "output", "label": "outcome", "units": "1",
                       "description": "Replace with what y measures"}


def test_export_parquet_needs_pyarrow(demo_run, tmp_path):
    _, run_dir, _ = demo_run
    r = cli("export", run_dir, "--format", "parquet", "--out", tmp_path / "d.parquet", cwd=tmp_path)
    try:
        import pyarrow.parquet as pq
    except ImportError:
        assert (r.returncode, r.stderr) == (2, "error: --format: must be csv unless pyarrow is installed (pip "
                                               "install 'mcsens[parquet]'); got 'parquet'\n")
        assert not (tmp_path / "d.parquet").exists()
        return
    table = pq.read_table(tmp_path / "d.parquet")
    assert r.returncode == 0 and table.num_rows == 128
    assert table.schema.field("growth").metadata[b"label"] == b"growth rate"


# --- notebooks and clusters -------------------------------------------------------------

NOTEBOOK_MODEL = '''
import xarray as xr

def evaluate(x):
    y = x.growth * (1.0 + x.shock) - 0.5 * x.shock**2
    return xr.Dataset({"y": y, "exceeds": (y > x.threshold).astype(float)})
'''


def _notebook_function():
    """A function as a notebook cell defines it: in ``__main__``, with no module file."""
    ns = {"__name__": "__main__"}
    exec(NOTEBOOK_MODEL, ns)
    return ns["evaluate"]


def test_run_study_with_a_notebook_function_matches_the_model_file(demo_run, tmp_path):
    from mcsens import run_study
    from study.errors import RunError

    folder, file_run, _ = demo_run
    run_dir = run_study(folder / "demo.toml", samples=64, model=_notebook_function(), out=tmp_path,
                        figures=False, appendix=False)
    with xr.open_dataset(file_run / "results.nc") as a, xr.open_dataset(run_dir / "results.nc") as b:
        np.testing.assert_array_equal(a["y"].values, b["y"].values)
    model = json.loads((run_dir / "manifest.json").read_text())["model"]
    assert model["ref"].startswith("mcsens.inline:evaluate_") and model["file"] is None
    assert re.fullmatch(r"[0-9a-f]{64}", model["sha256"])
    assert re.fullmatch(r"<run '.+': complete, N = 64, exceeds P = 0\.\d\d \[0\.\d\d, 0\.\d\d\]>", repr(run_dir))
    assert "<li>headline exceeds P = " in run_dir._repr_html_()
    (run_dir / "manifest.json").write_text(
        (run_dir / "manifest.json").read_text().replace('"complete"', '"interrupted"'))
    with pytest.raises(RunError, match=r": model: must be the function the run was started with \(__main__\."
                                       r"evaluate\), to resume a run of a function: run_study\(resume="):
        run_study(resume=run_dir)  # tests/test_inline_resume.py resumes one


def test_run_study_on_a_client_ships_a_notebook_function_to_the_workers(demo_run, tmp_path):
    distributed = pytest.importorskip("distributed")
    from mcsens import run_study

    folder, file_run, _ = demo_run
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        run_dir = run_study(folder / "demo.toml", samples=64, model=_notebook_function(), client=client,
                            out=tmp_path, figures=False, appendix=False)
        assert client.status == "running"  # the caller's client is left open
        worker_pids = set(client.run(os.getpid).values())
    assert os.getpid() not in worker_pids
    with xr.open_dataset(file_run / "results.nc") as a, xr.open_dataset(run_dir / "results.nc") as b:
        np.testing.assert_array_equal(a["y"].values, b["y"].values)


def test_study_repr_is_compact():
    s = study.load_study(ROOT / "params" / "asia_pacification.toml")
    assert len(repr(s)) < 200
    assert re.fullmatch(r"<Study 'asia_pacification' from '.+asia_pacification\.toml': model "
                        r"'study\.models\.asia_pacification:evaluate', \d+ parameters, \w+ design, N = \d+, "
                        r"seed \d+>", repr(s))
    html = s._repr_html_()
    assert html.count("<tr>") == len(s.parameters) + 1


# --- a wheel, from anywhere -------------------------------------------------------------

@pytest.mark.slow
def test_a_built_wheel_runs_the_flagship_from_a_folder_outside_the_repository(tmp_path):
    """Build the wheel, install it into a fresh venv and run ``study run`` with no argument.

    The wheel is installed without dependencies, which come from this interpreter's
    site-packages (a .pth line: no editable checkout is on the path), so the test needs
    PyPI only for the build backend and stays a few minutes at most.
    """
    import site
    import sysconfig

    dist = tmp_path / "dist"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dist, ROOT],
                           capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr
    wheel = next(dist.glob("mcsens-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True, timeout=300)
    py = venv / "bin" / "python"
    subprocess.run([py, "-m", "pip", "install", "-q", "--no-deps", wheel], check=True, timeout=300)
    purelib = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    deps = {sysconfig.get_paths()["purelib"], *site.getsitepackages()}
    Path(purelib, "mcsens_test_deps.pth").write_text("\n".join(sorted(deps)) + "\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    r = subprocess.run([venv / "bin" / "study", "run", "--samples", "64", "--no-figures", "--no-appendix",
                        "--no-variants"], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    run_dir = elsewhere / r.stdout.strip().splitlines()[-1]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["samples"]["N"] == 64
    assert Path(manifest["study"]["path"]).is_relative_to(Path(purelib) / "mcsens" / "params")
    assert re.search(r"asia_pacification: complete, N = 64", r.stderr)
    version = subprocess.run([venv / "bin" / "study", "--version"], cwd=elsewhere, env=env, capture_output=True,
                             text=True)
    assert version.stdout == f"study (mcsens) {study.__version__}\n"


def test_a_bar_in_jupyter_without_any_logging_set_up(monkeypatch):
    import logging
    import types

    from mcsens import talk

    class ZMQInteractiveShell:  # what ipykernel's get_ipython() returns
        pass

    fake = types.SimpleNamespace(get_ipython=ZMQInteractiveShell)
    monkeypatch.setitem(sys.modules, "IPython", fake)
    monkeypatch.setattr(talk.LOGGER, "level", logging.NOTSET)
    assert talk.bars_wanted()  # ipykernel's stderr is no TTY, yet the widget is seen
    monkeypatch.setattr(talk.LOGGER, "level", logging.WARNING)  # -q
    assert not talk.bars_wanted()
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: None))
    monkeypatch.setattr(talk.LOGGER, "level", logging.NOTSET)
    assert talk.bars_wanted() == sys.stderr.isatty()  # plain IPython or a script: a TTY decides
