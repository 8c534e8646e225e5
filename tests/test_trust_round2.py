"""Issue 12, second round: what a fresh attack on the merged toolkit found, fixed.

Each problem is met as a user meets it, through ``python -m study`` on a tiny study (N = 16)
written to ``tmp_path``: one line on stderr, exit status 2, no traceback, and no run folder
where the check runs before the run directory exists.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.helpers import write_study

ROOT = Path(__file__).resolve().parents[1]
HEADER = "import numpy as np\nimport xarray as xr\n\n"
GOOD = 'def f(x):\n    return xr.Dataset({"y": x.x1 + 2 * x.x2, "hit": (x.x1 > 0.5).astype(float)})\n'


def _study(folder: Path, body: str = GOOD, *, name="t", extra='headline = ["hit"]', **kw) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "m.py").write_text(HEADER + textwrap.dedent(body))
    return write_study(folder, "m:f", name=name, samples=16, extra=extra, **kw)


def _cli(cwd: Path, *argv, timeout=120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "study", *map(str, argv)], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env=env)


def _run(cwd: Path, study: Path, *args) -> subprocess.CompletedProcess:
    return _cli(cwd, "run", study, "--out", cwd / "runs", "--no-figures", "--no-appendix", "-q", *args)


def _refused(proc, message=None, *, pattern=None):
    """Exit 2 and one line on stderr: exactly ``message`` (or matching ``pattern``)."""
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    if message is not None:
        assert lines[0] == f"error: {message}"
    if pattern is not None:
        assert re.fullmatch(pattern, lines[0]), lines[0]
    return lines[0]


def _no_run_folder(cwd: Path):
    assert not list((cwd / "runs").rglob("manifest.json"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two complete runs of one study (seeds 3 and 9), made once for the module."""
    cwd = tmp_path_factory.mktemp("runs")
    study = _study(cwd / "s")
    out = []
    for seed in ("3", "9"):
        proc = _run(cwd, study, "--seed", seed)
        assert proc.returncode == 0, proc.stderr
        out.append(cwd / proc.stdout.splitlines()[-1])
    return cwd, out


def _copy_run(run: Path, dest: Path) -> Path:
    shutil.copytree(run, dest)
    for f in dest.iterdir():
        f.chmod(0o644) if f.is_file() else None
    return dest


# --- 1. a swapped results.nc; 5. a truncated one -----------------------------------------

def test_a_run_records_the_sha256_of_the_results_it_sealed(runs):
    from study.store import file_sha256

    _, (a, _) = runs
    sealed = json.loads((a / "manifest.json").read_text())["sealed"]
    assert sealed["results.nc"]["sha256"] == file_sha256(a / "results.nc")
    assert sealed["results.nc"]["size"] == (a / "results.nc").stat().st_size


def test_a_results_file_copied_from_another_run_is_refused(runs, tmp_path):
    from study.store import file_sha256

    cwd, (a, b) = runs
    run = _copy_run(a, tmp_path / "run")
    shutil.copyfile(b / "results.nc", run / "results.nc")
    want, got = file_sha256(a / "results.nc"), file_sha256(b / "results.nc")
    assert want != got
    _refused(_cli(tmp_path, "analyze", run), f"{run}/results.nc: must be the results this run sealed "
             f"(sha256 {want}); got a file with sha256 {got}")


@pytest.mark.parametrize("command", [("analyze",), ("figures",), ("appendix",), ("reweight", "--shift", "x1=low:0.1")])
def test_a_truncated_results_file_is_one_line_naming_it(runs, tmp_path, command):
    _, (a, _) = runs
    run = _copy_run(a, tmp_path / "run")
    data = (a / "results.nc").read_bytes()
    (run / "results.nc").write_bytes(data[: len(data) // 3])
    line = _refused(_cli(tmp_path, command[0], run, *command[1:]))
    assert line.startswith(f"error: {run}/results.nc: is not a readable netCDF file (truncated or damaged?): ")


def test_a_run_sealed_before_checksums_is_read_with_one_warning(runs, tmp_path):
    _, (a, _) = runs
    run = _copy_run(a, tmp_path / "run")
    manifest = json.loads((run / "manifest.json").read_text())
    del manifest["sealed"]
    (run / "manifest.json").write_text(json.dumps(manifest))
    proc = _cli(tmp_path, "analyze", run)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [f"warning: {run}/results.nc: has no checksum in manifest.json (sealed by "
                                        "an older version); read unverified"]


# --- 2, 6, 7, 8, 9, 16. the model contract, in the probe ------------------------------------

RESERVED = "sample, status, row, matrix, replicate, trajectory, step, param, param2, element"

PROBE_REFUSALS = {
    # 2: int64 above 2**53 would be rounded to float64 (a varying output becoming constant)
    "big_int": ('def f(x):\n    return xr.Dataset({"y": (x.x1 * 0).astype("int64") + 2**53 + 1 + '
                '(x.x2 > 0.5).astype("int64")})\n',
                r"error: model 'm:f': output 'y': must hold integers float64 stores exactly \(\|value\| <= 2\*\*53\); "
                r"got 900719925474099[34] at sample 0 \(x1=[0-9.e-]+, x2=[0-9.e-]+\)"),
    # 6: a zero-size extra dimension
    "empty_dim": ('def f(x):\n    return xr.Dataset({"y": (("sample", "k"), np.zeros((x.sizes["sample"], 0)))})\n',
                  re.escape("error: model 'm:f': output 'y': must not have a dimension of length 0; got dims "
                            "('sample', 'k') with shape (16, 0)")),
    # 7: repeated labels on an extra dimension
    "repeated_labels": ('def f(x):\n    y = xr.concat([x.x1, x.x2], dim="k").assign_coords(k=["a", "a"])\n'
                        '    return y.to_dataset(name="y")\n',
                        re.escape("error: model 'm:f': coordinate 'k': must label each element of dimension 'k' "
                                  "once; got 1 repeated labels (first 'a')")),
    # 16: a NaN label reads as "no label" in indices.csv
    "nan_label": ('def f(x):\n    y = xr.concat([x.x1, x.x2], dim="k").assign_coords(k=[1.0, np.nan])\n'
                  '    return y.to_dataset(name="y")\n',
                  re.escape("error: model 'm:f': coordinate 'k': must not hold NaN or None labels (indices.csv "
                            "could not tell them from an unlabelled element); got nan at position 1")),
    "none_label": ('def f(x):\n    y = xr.concat([x.x1, x.x2], dim="k").assign_coords(k=["a", None])\n'
                   '    return y.to_dataset(name="y")\n',
                   re.escape("error: model 'm:f': coordinate 'k': must not hold NaN or None labels (indices.csv "
                             "could not tell them from an unlabelled element); got nan at position 1")),  # xarray made it nan
    # 8: a dimension named like a parameter, a coordinate named like a constant
    "dim_like_param": ('def f(x):\n    y = xr.concat([x.x1, x.x1], dim="x2")\n    return y.to_dataset(name="y")\n',
                       re.escape("error: model 'm:f': output 'y': must not have a dimension named like an input or "
                                 "constant; got dims ('x2', 'sample')")),
    "coord_like_constant": ('def f(x):\n    return xr.Dataset({"y": x.x1 + x.x2}).assign_coords(a=0.0)\n',
                            re.escape("error: model 'm:f': coordinate 'a': must not take the name of an input or "
                                      "constant; rename the coordinate")),
    # 9: a coordinate the model adds under a reserved name, whatever its values
    "added_row": ('def f(x):\n    y = xr.Dataset({"y": ("sample", (x.x1 + x.x2).values)})\n'
                  '    return y.assign_coords(row=("sample", np.zeros(x.sizes["sample"], int)))\n',
                  re.escape(f"error: model 'm:f': coordinate 'row': must not take a name the toolkit reserves "
                            f"({RESERVED}); rename the coordinate (it is not the inputs' own 'row')")),
    "added_status": ('def f(x):\n    return xr.Dataset({"y": x.x1 + x.x2}).assign_coords(status=0)\n',
                     re.escape(f"error: model 'm:f': coordinate 'status': must not take a name the toolkit reserves "
                               f"({RESERVED}); rename the coordinate")),
}


@pytest.mark.parametrize("case", sorted(PROBE_REFUSALS))
def test_the_probe_refuses_what_would_crash_or_mislead_later(tmp_path, case):
    body, pattern = PROBE_REFUSALS[case]
    study = _study(tmp_path / "s", body, extra="", params=PARAMS_WITH_CONSTANT)
    _refused(_run(tmp_path, study), pattern=pattern)
    _no_run_folder(tmp_path)


PARAMS_WITH_CONSTANT = """
[constants.a]
value = 1.0

[parameters.x1]
distribution = "uniform"
low = 0.0
high = 1.0

[parameters.x2]
distribution = "uniform"
low = 0.0
high = 1.0
"""


def test_a_model_that_returns_its_inputs_coordinates_still_runs(tmp_path):
    body = 'def f(x):\n    return x.x1.to_dataset(name="y").assign(z=x.x2 * 2)\n'  # carries `row`, `matrix`
    proc = _run(tmp_path, _study(tmp_path / "s", body, extra=""))
    assert proc.returncode == 0, proc.stderr


# --- 3, 10, 12. the loader --------------------------------------------------------------

def test_an_output_listed_twice_is_refused_at_load(tmp_path):
    study = _study(tmp_path, extra='outputs = ["y", "y"]')
    _refused(_cli(tmp_path, "validate", study.name), "t.toml: analysis.outputs: must list each output once; "
             "got 'y' 2 times")


def test_an_empty_methods_list_is_refused_at_load(tmp_path):
    study = _study(tmp_path, methods="[]", extra="")  # no headline either: nothing to report
    _refused(_cli(tmp_path, "validate", study.name), "t.toml: analysis.methods: must name at least one method of "
             "['sobol', 'morris', 'delta', 'surrogate'], or list headline outputs whose probabilities are then "
             "the run's only results; got []")


@pytest.mark.parametrize("value", ["[" * 3000 + "]" * 3000, "{a = " * 3000 + "1" + "}" * 3000])
def test_a_study_file_nested_3000_levels_deep_is_one_line(tmp_path, value):
    (tmp_path / "deep.toml").write_text(f'[study]\nname = "t"\nmodel = "m:f"\n\n[extra]\nx = {value}\n')
    _refused(_cli(tmp_path, "validate", "deep.toml"), pattern=r"error: deep\.toml: syntax: invalid TOML: must nest "
             r"arrays and tables less deeply \(Python's parser stops near \d+ levels\)")


# --- 11. --out on a symbolic link loop ------------------------------------------------------

def test_out_on_a_symlink_loop_is_one_line(tmp_path):
    study = _study(tmp_path / "s")
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    proc = _cli(tmp_path, "run", study, "--out", "a", "-q")
    _refused(proc, "study run: argument --out: must be a folder; got 'a', where 'a' is a symbolic link that "
             "leads nowhere (a loop or a missing target)")


# --- 13. a key repeated in one --shift ------------------------------------------------------

def test_a_key_repeated_in_one_shift_is_refused(runs, tmp_path):
    _, (a, _) = runs
    _refused(_cli(tmp_path, "reweight", a, "--shift", "x1=low:0.1,low:0.2"),
             "--shift: x1.low: must be given once in a --shift; got 'x1=low:0.1,low:0.2'")


# --- 4. the break-even search past the last draw --------------------------------------------

def test_the_break_even_search_stops_where_no_draw_keeps_weight(runs):
    from analysis.reweight import NoDrawKept, Reweighter, break_even, centre_shift

    _, (_, b) = runs  # seed 9: no draw of x1 in the top 6% of its range
    rw = Reweighter(b)
    x1 = rw.study.parameter("x1")
    with pytest.raises(NoDrawKept):
        rw.value("y", [centre_shift(x1, 0.47)])
    be = break_even(rw, "y", "x1")  # y = x1 + 2 x2 > 0 never crosses 0: the search reaches its end
    assert be.fraction is None
    assert be.reach[0] == pytest.approx(-0.485)  # the uniform's own limit on the low side (|2c| < 0.98)
    assert 0.45 <= be.reach[1] < 0.47
    with pytest.raises(NoDrawKept):
        rw.value("y", [centre_shift(x1, be.reach[1] + 0.005)])


# --- 14. compare: one module:function, two different models ---------------------------------

def test_compare_refuses_runs_of_different_code_under_one_model_ref(runs, tmp_path):
    from study.store import file_sha256

    _, (a, _) = runs
    other = _study(tmp_path / "other", GOOD.replace("2 * x.x2", "3 * x.x2"))
    proc = _run(tmp_path, other)
    assert proc.returncode == 0, proc.stderr
    b = tmp_path / proc.stdout.splitlines()[-1]
    mine, theirs = (json.loads((r / "manifest.json").read_text())["model"]["sha256"] for r in (a, b))
    assert theirs == file_sha256(tmp_path / "other" / "m.py") != mine
    _refused(_cli(tmp_path, "compare", a, b, "--out", tmp_path / "cmp"),
             f"study compare: RUN_DIR: must all be runs of the same model code; got 'm:f' with model sha256 "
             f"{mine} ({a}), model sha256 {theirs} ({b})")
    assert not (tmp_path / "cmp").exists()


# --- 15. a second SIGTERM -----------------------------------------------------------------

def test_a_second_sigterm_while_the_first_is_recorded_is_ignored():
    from mcsens.runner import _sigterm_interrupts, _Terminated

    previous = signal.getsignal(signal.SIGTERM)
    with _sigterm_interrupts():
        with pytest.raises(_Terminated):
            os.kill(os.getpid(), signal.SIGTERM)
            signal.pause()  # not reached: the handler raises at once
        os.kill(os.getpid(), signal.SIGTERM)  # the run is being recorded: no second interruption
    assert signal.getsignal(signal.SIGTERM) is previous


def test_repeated_sigterms_end_a_run_interrupted_with_status_130(tmp_path):
    # A shell beside the run sends SIGTERM every 20 ms until the process is gone: while the
    # first is recorded, while the run directory is unlocked, and while Python shuts down (at
    # most 2 s: a zombie can still be sent signals).
    body = ("import os, subprocess, time\n\ndef f(x):\n    if int(x['sample'].max()) >= 16:\n"
            "        subprocess.Popen(['sh', '-c', f'for i in $(seq 100); do kill -TERM {os.getpid()} || exit; "
            "sleep 0.02; done'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n        time.sleep(30)\n"
            "    return xr.Dataset({'y': x.x1 + 2 * x.x2})\n")
    study = _study(tmp_path / "s", body, extra="")
    proc = _run(tmp_path, study)
    assert proc.returncode == 130, proc.stderr
    last = proc.stderr.splitlines()[-1]
    assert last.startswith("interrupted; finished chunks are kept. Resume with: study run --resume ")
    manifest = json.loads((Path(last.rpartition(" ")[2]) / "manifest.json").read_text())
    assert (manifest["status"], manifest["error"]) == ("interrupted", "terminated (SIGTERM)")
