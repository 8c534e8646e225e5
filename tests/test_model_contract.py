"""The model contract never lets a model produce a silently wrong run (issue 12).

Each class of misbehaviour is met as a user meets it, through ``python -m study run`` on a
tiny study and model written to ``tmp_path``; the exact messages are pinned where the
check itself is exercised.
"""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from study import ModelContractError, StudyError, draw, load_study
from mcsens import run_study
from study.contract import (RESERVED_DIMS, RESERVED_NAMES, check_result, netcdf_name_problem, resolve,
                            source_file)
from mcsens.runner import probe
from tests.helpers import write_study

HEADER = "import os, sys\nimport numpy as np\nimport xarray as xr\n\n"

#: The additive model's total-order index of x1: 9 Var(x1) / (9 Var(x1) + Var(x2)), x1 ~ U(0, 1)
#: and x2 ~ triangular(0, 0.3, 1) as in tests.helpers.PARAMS.
ST_X1 = 9 / 12 / (9 / 12 + (0.3**2 + 1 - 0.3) / 18)


def _folder(tmp_path, **modules):
    """A study folder holding the given modules; the study file is added by the caller."""
    folder = tmp_path / "study"
    folder.mkdir(exist_ok=True)
    for name, body in modules.items():
        (folder / f"{name}.py").write_text(HEADER + textwrap.dedent(body))
    return folder


def _cli(tmp_path, study, *args):
    # cwd is not the study folder: `python -m` puts the working directory on sys.path.
    return subprocess.run([sys.executable, "-m", "study", "run", str(study), "--out", str(tmp_path / "runs"),
                           "--no-figures", "--no-appendix", "-q", *args],  # -q: no stage lines
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)


def _ok(proc):
    assert proc.returncode == 0, proc.stderr
    return json.loads((_run_dir(proc) / "manifest.json").read_text())


def _run_dir(proc):
    return Path(proc.stdout.splitlines()[-1])


def _refused(proc, tmp_path, message):
    """Exit 2, exactly ``message`` as the one line on stderr, and no run directory."""
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == f"error: {message}\n"
    assert not list((tmp_path / "runs").rglob("manifest.json"))


def _inputs(n=8, start=0):
    s = np.arange(start, start + n)
    return xr.Dataset({"x1": ("sample", np.linspace(0, 1, n)), "x2": ("sample", np.linspace(1, 2, n))},
                      coords={"sample": s, "row": ("sample", s // 2)})


def _check(model, x=None):
    x = _inputs() if x is None else x
    return check_result(model(x), x, "m:f", ("x1", "x2"))


def _contract_error(model, x=None):
    with pytest.raises(ModelContractError) as err:
        _check(model, x)
    return str(err.value)


def _indices(run_dir):
    return pd.read_csv(run_dir / "indices.csv").set_index(["method", "output", "param", "index"]).sort_index()


# --- 1. outputs in another order --------------------------------------------------------

def test_a_model_that_sorts_its_outputs_gives_the_same_run_as_one_that_does_not(tmp_path):
    folder = _folder(tmp_path, m="""
        def plain(x):
            return xr.Dataset({"y": 3 * x.x1 + x.x2, "z": x.x1 * x.x2})

        def sorted_(x):
            return plain(x).sortby("y")
        """)
    plain = run_study(write_study(folder, "m:plain", name="plain", samples=64), out=tmp_path / "runs",
                      figures=False, appendix=False)
    sort = _cli(tmp_path, write_study(folder, "m:sorted_", name="sorted", samples=64))
    _ok(sort)
    a, b = xr.open_dataset(plain / "results.nc"), xr.open_dataset(_run_dir(sort) / "results.nc")
    for v in ("x1", "x2", "y", "z", "sample", "row", "matrix", "replicate"):
        np.testing.assert_array_equal(a[v].values, b[v].values)
    ia, ib = _indices(plain), _indices(_run_dir(sort))
    np.testing.assert_array_equal(ia["value"].values, ib["value"].values)
    assert ib.loc[("sobol", "y", "x1", "ST"), "value"] == pytest.approx(ST_X1, abs=0.05)


def test_a_permuted_output_is_put_back_in_the_inputs_order_by_label():
    x = _inputs()
    perm = np.random.default_rng(1).permutation(8)
    y = _check(lambda x: xr.Dataset({"y": 10 * x.x1}).isel(sample=perm), x)
    np.testing.assert_array_equal(y["sample"].values, x["sample"].values)
    np.testing.assert_array_equal(y.y.values, 10 * x.x1.values)


def test_an_output_without_sample_labels_keeps_its_position():
    x = _inputs()
    y = _check(lambda x: xr.DataArray(x.x1.values[::-1].copy(), dims="sample", name="y"), x)
    np.testing.assert_array_equal(y.y.values, x.x1.values[::-1])
    np.testing.assert_array_equal(y["sample"].values, x["sample"].values)


@pytest.mark.parametrize("model, message", [
    (lambda x: xr.Dataset({"y": x.x1}).isel(sample=[0, 0, 1, 2, 3, 4, 5, 6]),
     "model 'm:f': coordinate 'sample': must label each sample once; got 1 repeated labels (first 0)"),
    (lambda x: xr.Dataset({"y": x.x1}).assign_coords(sample=x["sample"].values + 5),
     "model 'm:f': coordinate 'sample': must hold the inputs' sample labels (0–7) in any order, or be absent; "
     "got 8 labels, 5 of the inputs' missing (first 0) and 5 not among them (first 8)"),
    (lambda x: xr.Dataset({"y": x.x1}).isel(sample=slice(1, None)),
     "model 'm:f': coordinate 'sample': must hold the inputs' sample labels (0–7) in any order, or be absent; "
     "got 7 labels, 1 of the inputs' missing (first 0)"),
    (lambda x: xr.Dataset({"y": ("sample", np.zeros(9))}),
     "model 'm:f': output 'y': must have dimension 'sample' of length 8; got length 9"),
])
def test_sample_labels_that_do_not_match_the_inputs_are_refused(model, message):
    assert _contract_error(model) == message


def test_mismatched_sample_labels_are_refused_through_the_command_line(tmp_path):
    folder = _folder(tmp_path, m="""
        def shifted(x):
            return xr.Dataset({"y": x.x1 + x.x2}).assign_coords(sample=x["sample"] + 1)
        """)
    proc = _cli(tmp_path, write_study(folder, "m:shifted", samples=16))
    _refused(proc, tmp_path, "model 'm:shifted': coordinate 'sample': must hold the inputs' sample labels (0–15) in "
             "any order, or be absent; got 16 labels, 1 of the inputs' missing (first 0) and 1 not among them "
             "(first 16)")


# --- 2. a model that edits its input in place -------------------------------------------

READ_ONLY = ("must not write into its input (the inputs are read-only, so that the run stores what was sampled; "
             "copy an array before changing it); got ValueError: ")


@pytest.mark.parametrize("edit", ['x["x1"].values[:] = 0', 'x["x1"][:] = 0', "x.x2.values += 1",
                                  'x["a"].values[...] = 0', 'x["row"].values[:] = 0'])
def test_a_model_cannot_write_into_its_inputs(tmp_path, edit):
    from study.contract import call_model

    x = _inputs().assign(a=3.0)
    before = x.copy(deep=True)

    def model(x):
        exec(edit)
        return xr.Dataset({"y": x.x1})

    with pytest.raises(ModelContractError) as err:
        call_model(model, x, "m:f", tmp_path)
    assert str(err.value).startswith("model 'm:f': " + READ_ONLY)
    xr.testing.assert_identical(x, before)


def test_an_in_place_edit_fails_through_the_command_line_and_nothing_is_stored(tmp_path):
    folder = _folder(tmp_path, m="""
        def zero(x):
            x["x1"].values[:] = 0
            return xr.Dataset({"y": x.x1 + x.x2})
        """)
    proc = _cli(tmp_path, write_study(folder, "m:zero", samples=16))
    _refused(proc, tmp_path, "model 'm:zero': chunk of samples 0–15: " + READ_ONLY
             + "assignment destination is read-only")


def test_a_model_that_replaces_an_input_variable_leaves_the_stored_inputs_as_sampled(tmp_path):
    folder = _folder(tmp_path, m="""
        def replaces(x):
            x["x1"] = x.x1 * 0      # rebinds the name in the model's view only
            return xr.Dataset({"y": x.x1 + x.x2})
        """)
    study = write_study(folder, "m:replaces", samples=16)
    proc = _cli(tmp_path, study)
    _ok(proc)
    sampled = draw(load_study(study))
    with xr.open_dataset(_run_dir(proc) / "results.nc") as ds:
        np.testing.assert_array_equal(ds.x1.values, sampled.x1.values)
        assert float(ds.x1.min()) < float(ds.x1.max())
        np.testing.assert_array_equal(ds.y.values, ds.x2.values)


LAZY = """
    def lazy(x):
        x = x.chunk({"sample": 5})       # dask arrays over the read-only numpy inputs
        return xr.Dataset({"y": np.sin(x.x1) + x.x2 ** 2})   # returned lazy: the toolkit computes it
    """


def test_a_model_computing_on_dask_arrays_works_on_read_only_inputs(tmp_path):
    from study.evaluate import evaluate_chunk
    from study.sampling import make_design

    study = load_study(write_study(_folder(tmp_path, m=LAZY), "m:lazy", samples=16))
    ds = evaluate_chunk(study, make_design(study), 0, 2, model_ref="m:lazy", study_dir=str(tmp_path / "study"))
    assert ds.sizes["sample"] == 32 and not ds.x1.values.flags.writeable
    np.testing.assert_allclose(ds.y.values, np.sin(ds.x1.values) + ds.x2.values ** 2, rtol=1e-15)


def test_evaluation_on_dask_workers_works_on_read_only_inputs(tmp_path):
    # The one slow test of this file: a LocalCluster worker process resolves and runs the model.
    proc = _cli(tmp_path, write_study(_folder(tmp_path, m=LAZY), "m:lazy", samples=16), "--workers", "1")
    assert _ok(proc)["status"] == "complete"
    with xr.open_dataset(_run_dir(proc) / "results.nc") as ds:
        np.testing.assert_allclose(ds.y.values, np.sin(ds.x1.values) + ds.x2.values ** 2, rtol=1e-15)


# --- 3. reserved and unstorable names ---------------------------------------------------

@pytest.mark.parametrize("name", RESERVED_NAMES)
def test_an_output_named_like_the_toolkits_own_variables_is_refused(name):
    if name == "sample":  # a Dataset cannot hold a variable named like its dimension; a DataArray can
        msg = _contract_error(lambda x: xr.DataArray(x.x1.values, dims="sample", name="sample"))
    else:
        msg = _contract_error(lambda x: xr.Dataset({"y": ("sample", x.x1.values), name: ("sample", x.x2.values)}))
    assert msg == (f"model 'm:f': output {name!r}: must not take a name the toolkit reserves "
                   f"({', '.join(RESERVED_NAMES)}); rename the output")


def test_an_output_assigned_over_a_design_coordinate_is_refused_not_dropped():
    def model(x):
        out = xr.Dataset({"y": x.x1})  # carries the inputs' coordinates, `row` among them
        out["row"] = x.x2              # replaces that coordinate's values instead of adding an output
        return out

    assert _contract_error(model) == (f"model 'm:f': output 'row': must not take a name the toolkit reserves "
                                      f"({', '.join(RESERVED_NAMES)}); rename the output (it replaced the "
                                      "design's coordinate 'row')")


@pytest.mark.parametrize("dim", ["param", "element", "replicate", "value", "conf"])
def test_an_output_dimension_named_like_the_toolkits_own_is_refused(dim):
    msg = _contract_error(lambda x: xr.Dataset({"y": (("sample", dim), np.zeros((8, 2)))}))
    assert msg == (f"model 'm:f': output 'y': must not have a dimension named like the toolkit's own "
                   f"({', '.join(RESERVED_DIMS)}); got dims ('sample', {dim!r})")


def test_reserved_dimensions_cover_every_column_of_indices_csv():
    from analysis.indices import CSV_COLUMNS

    assert set(CSV_COLUMNS) <= set(RESERVED_DIMS)


def test_an_output_named_status_is_refused_through_the_command_line(tmp_path):
    folder = _folder(tmp_path, m="""
        def status(x):
            return xr.Dataset({"y": x.x1, "status": x.x1 > 0.5})
        """)
    proc = _cli(tmp_path, write_study(folder, "m:status", samples=16), "--allow-failures")
    _refused(proc, tmp_path, f"model 'm:status': output 'status': must not take a name the toolkit reserves "
             f"({', '.join(RESERVED_NAMES)}); rename the output")


NAMES = ["y", "a/b", "", "x ", " x", "-a", ".a", "=a", "@a", "a\x00b", "a\tb", "a\x7fb", "e\u0301", "\u00e9",
         "_x", "1x", "a.b", "a:b", "x y", "a\\b", "\u00a0x", "ß"]


@pytest.mark.parametrize("name", NAMES)
def test_the_name_rules_agree_with_what_netcdf4_stores_unchanged(tmp_path, name):
    try:
        xr.Dataset({"v": ("d", [1.0])}).rename({"v": name}).to_netcdf(tmp_path / "t.nc", engine="netcdf4")
        with xr.open_dataset(tmp_path / "t.nc", engine="netcdf4") as back:
            stored = list(back.data_vars) == [name]
    except (ValueError, RuntimeError):
        stored = False
    assert (netcdf_name_problem(name) is None) == stored


@pytest.mark.parametrize("name, message", [
    ("a/b", "output name: must not contain '/' (netCDF's group separator); got 'a/b'"),
    ("", "output name: must not be empty; got ''"),
    ("x ", "output name: must not end with a space; got 'x '"),
    ("a\x00b", "output name: must not contain control characters; got 'a\\x00b'"),
    ("e\u0301", "output name: must be in Unicode normal form NFC (netCDF would store it as '\u00e9'); got 'e\u0301'"),
    ("-a", "output name: must begin with a letter, a digit, an underscore or a non-ASCII character; got '-a'"),
])
def test_an_output_name_netcdf_cannot_store_is_refused(name, message):
    msg = _contract_error(lambda x: xr.Dataset({name: x.x1 * 2}))
    assert msg == "model 'm:f': " + message


def test_a_dimension_name_netcdf_cannot_store_is_refused():
    msg = _contract_error(lambda x: xr.Dataset({"y": (("sample", "a/b"), np.zeros((8, 2)))}))
    assert msg == "model 'm:f': output 'y': dimension name: must not contain '/' (netCDF's group separator); got 'a/b'"


def test_an_unstorable_name_or_attribute_is_refused_before_any_run_directory_exists(tmp_path):
    folder = _folder(tmp_path, m="""
        def slash(x):
            return xr.Dataset({"a/b": x.x1 + x.x2})

        def attrs(x):
            y = x.x1 + x.x2
            y.attrs["meta"] = {"nested": 1}
            return xr.Dataset({"y": y})
        """)
    _refused(_cli(tmp_path, write_study(folder, "m:slash", samples=16)), tmp_path,
             "model 'm:slash': output name: must not contain '/' (netCDF's group separator); got 'a/b'")
    with pytest.raises(ModelContractError) as err:  # what only a write can tell: the probe writes one
        probe(load_study(write_study(folder, "m:attrs", samples=16)), folder)
    msg = str(err.value)
    assert msg.startswith("model 'm:attrs': must return outputs netCDF can store; writing the probe's results failed "
                          "with TypeError: Invalid value for attr 'meta': {'nested': 1}")
    assert "\n" not in msg


# --- 4. non-real dtypes -----------------------------------------------------------------

@pytest.mark.parametrize("values, dtype, lost", [
    (lambda x: x.x1.values + 1j, "complex128", " (its imaginary part would be lost)"),
    (lambda x: x.x1.values.astype(object), "object", ""),
    (lambda x: x.x1.values.astype(str), "<U32", ""),
    (lambda x: np.full(8, np.datetime64("2024-01-01")), "datetime64[s]", ""),
])
def test_outputs_that_are_not_real_numbers_are_refused(values, dtype, lost):
    msg = _contract_error(lambda x: xr.Dataset({"y": ("sample", values(x))}))
    assert msg == f"model 'm:f': output 'y': must hold real numbers (bool, integer or float){lost}; got dtype {dtype}"


def test_bool_and_integer_outputs_become_float_and_float64_is_not_copied():
    x = _inputs()
    res = xr.Dataset({"b": x.x1 > 0.5, "i": ("sample", np.arange(8, dtype=np.int32)), "f": 2 * x.x1})
    y = check_result(res, x, "m:f", ("x1", "x2"))
    assert {v: y[v].dtype for v in y.data_vars} == {"b": np.float64, "i": np.float64, "f": np.float64}
    np.testing.assert_array_equal(y.b.values, [0, 0, 0, 0, 1, 1, 1, 1])
    np.testing.assert_array_equal(y.i.values, np.arange(8))
    assert np.shares_memory(y.f.values, res.f.values)


def test_a_complex_output_is_refused_through_the_command_line(tmp_path):
    folder = _folder(tmp_path, m="""
        def cplx(x):
            return xr.Dataset({"y": x.x1 + 1j * x.x2})
        """)
    _refused(_cli(tmp_path, write_study(folder, "m:cplx", samples=16)), tmp_path,
             "model 'm:cplx': output 'y': must hold real numbers (bool, integer or float) (its imaginary part would "
             "be lost); got dtype complex128")


# --- 5. headline and key output, in the probe -------------------------------------------

def test_a_headline_that_is_not_zero_or_one_is_refused_in_the_probe(tmp_path):
    folder = _folder(tmp_path, m="""
        def f(x):
            return xr.Dataset({"y": x.x1 + x.x2, "ok": (x.x1 > 0.5).astype(float)})
        """)
    study = write_study(folder, "m:f", samples=16, extra='headline = ["ok", "y"]')
    proc = _cli(tmp_path, study)
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1
    assert proc.stderr.startswith(f"error: {study}: analysis.headline: must name outputs that are 0 or 1 (a "
                                  "headline is a condition that holds or not, its probability their mean); got "
                                  "'y' = ")
    assert proc.stderr.endswith(" at sample 0\n")
    assert not list((tmp_path / "runs").rglob("manifest.json"))


def test_a_headline_that_stops_being_zero_or_one_later_fails_the_run_at_that_chunk(tmp_path):
    folder = _folder(tmp_path, m="""
        def f(x):
            return xr.Dataset({"y": x.x1, "ok": (x.x1 > 0.5) * xr.where(x["sample"] >= 400, 2.0, 1.0)})
        """)
    study = write_study(folder, "m:f", samples=128, extra='headline = ["ok"]')
    proc = _cli(tmp_path, study)
    assert proc.returncode == 2
    m = json.loads(next((tmp_path / "runs").rglob("manifest.json")).read_text())
    assert m["status"] == "failed" and m["error"] == proc.stderr.removeprefix("error: ").rstrip("\n")
    assert f"{study}: analysis.headline: must name outputs that are 0 or 1" in m["error"]


def test_a_key_output_with_extra_dimensions_is_refused_in_the_probe(tmp_path):
    folder = _folder(tmp_path, m="""
        def f(x):
            return xr.Dataset({"y": x.x1 + x.x2, "z": x.x1 * xr.DataArray([1.0, 2.0], dims="actor")})
        """)
    study = write_study(folder, "m:f", samples=16, extra='key_output = "z"')
    _refused(_cli(tmp_path, study), tmp_path,
             f"{study}: analysis.key_output: must name an output with no dimension but 'sample' (figures plot one "
             "value per sample); got 'z' with dims ('sample', 'actor')")


# --- 6. a model never shadows the toolkit -----------------------------------------------

# A third-party package and a standard module the toolkit has not imported when the model
# is (so a study folder searched first would provide them), beside a helper it must find.
SHADOWS = {
    "SALib": "raise ImportError('the study folder shadowed SALib')\n",
    "colorsys": "raise ImportError('the study folder shadowed colorsys')\n",
    "helpers": "def double(v):\n    return 2 * v\n",
}


@pytest.mark.parametrize("module", ["json", "analysis", "study"])
def test_a_model_named_like_a_toolkit_import_is_the_model_and_shadows_nothing(tmp_path, module):
    body = """
        import colorsys
        import SALib
        from helpers import double

        def f(x):
            return xr.Dataset({"y": double(x.x1) + x.x2 * colorsys.ONE_THIRD * 3})
        """
    others = {m: "raise ImportError('the study folder shadowed a toolkit import')\n"
              for m in ("json", "analysis", "study") if m != module}
    folder = _folder(tmp_path, **{module: body})
    for name, text in {**SHADOWS, **others}.items():
        (folder / f"{name}.py").write_text(text)
    proc = _cli(tmp_path, write_study(folder, f"{module}:f", samples=16))
    assert _ok(proc)["status"] == "complete"  # the manifest (json) and indices.csv (analysis) were written
    with xr.open_dataset(_run_dir(proc) / "results.nc") as ds:
        np.testing.assert_allclose(ds.y.values, 2 * ds.x1.values + ds.x2.values)
    assert (_run_dir(proc) / "indices.csv").exists()


def test_a_model_module_is_private_and_its_helpers_are_registered_with_their_files(tmp_path):
    import analysis

    folder = _folder(tmp_path, analysis="""
        import helpers

        def f(x):
            return xr.Dataset({"y": helpers.double(x.x1)})
        """)
    (folder / "helpers.py").write_text(SHADOWS["helpers"])
    fn = resolve("analysis:f", folder)
    assert sys.modules["analysis"] is analysis
    model = sys.modules[fn.__module__]
    assert fn.__module__.startswith("_mcsens_model_") and model.__file__ == str(folder / "analysis.py")
    assert sys.modules["helpers"].__file__ == str(folder / "helpers.py")
    assert source_file("analysis:f", folder) == folder / "analysis.py"


def test_two_studies_with_their_own_helpers_in_one_process_each_get_their_own(tmp_path):
    fns = []
    for k in (1, 2):
        folder = tmp_path / f"s{k}"
        folder.mkdir()
        (folder / "model.py").write_text("import helpers\n\ndef f(x):\n    return helpers.K * x\n")
        (folder / "helpers.py").write_text(f"K = {k}\n")
        fns.append(resolve("model:f", folder))
    assert [fns[0](1), fns[1](1)] == [1, 2]
    # An edited helper is executed afresh, although the model file is unchanged.
    (tmp_path / "s1" / "helpers.py").write_text("K = 10\n")
    assert resolve("model:f", tmp_path / "s1")(1) == 10
    assert resolve("model:f", tmp_path / "s2")(1) == 2
    assert sys.modules["helpers"].K == 2


def test_a_helper_imported_inside_the_model_function_is_found_beside_the_study(tmp_path):
    from study.contract import call_model

    folder = _folder(tmp_path, m="""
        def f(x):
            import late_helper
            return xr.Dataset({"y": late_helper.triple(x.x1)})
        """)
    (folder / "late_helper.py").write_text("def triple(v):\n    return 3 * v\n")
    x = _inputs()
    y = call_model(resolve("m:f", folder), x, "m:f", folder)
    np.testing.assert_array_equal(y.y.values, 3 * x.x1.values)


# --- 7. a model that prints or exits ----------------------------------------------------

def test_what_a_model_prints_goes_to_stderr_and_the_last_stdout_line_is_the_run_directory(tmp_path):
    folder = _folder(tmp_path, m="""
        print("printed at import")

        def f(x):
            print("printed by the model")
            os.write(1, b"written to file descriptor 1\\n")
            return xr.Dataset({"y": x.x1 + x.x2})
        """)
    proc = _cli(tmp_path, write_study(folder, "m:f", samples=16))
    _ok(proc)
    assert proc.stdout.splitlines() == [str(_run_dir(proc))]
    assert _run_dir(proc).parent == tmp_path / "runs" / "t"
    for line in ("printed at import", "printed by the model", "written to file descriptor 1"):
        assert line in proc.stderr


def test_a_model_that_exits_fails_its_run_with_one_line_and_the_manifest_says_failed(tmp_path):
    folder = _folder(tmp_path, m="""
        def f(x):
            if int(x["sample"].max()) >= 400:
                sys.exit(3)
            return xr.Dataset({"y": x.x1 + x.x2})
        """)
    proc = _cli(tmp_path, write_study(folder, "m:f", samples=128), "--allow-failures")
    message = ("model 'm:f': chunk of samples 384–447: must return its outputs, not exit or raise a "
               "BaseException; got sys.exit(3)")
    assert proc.returncode == 2 and proc.stderr == f"error: {message}\n" and proc.stdout == ""
    m = json.loads(next((tmp_path / "runs").rglob("manifest.json")).read_text())
    assert m["status"] == "failed" and m["error"] == message


def test_a_model_that_exits_on_its_first_samples_or_at_import_leaves_no_run(tmp_path):
    folder = _folder(tmp_path, m="""
        def f(x):
            raise SystemExit("bye")
        """, n="""
        sys.exit(1)
        """)
    _refused(_cli(tmp_path, write_study(folder, "m:f", samples=16)), tmp_path,
             "model 'm:f': chunk of samples 0–15: must return its outputs, not exit or raise a BaseException; "
             "got sys.exit('bye')")
    with pytest.raises(StudyError) as err:
        resolve("n:f", folder, "n.toml")
    assert str(err.value) == "n.toml: study.model: module 'n' failed to import: SystemExit: 1"


def test_a_schema_already_stored_is_not_written_again_but_a_new_attribute_is(monkeypatch):
    """Implementation check of check_storable's memo: a probe of the same names, dtypes and
    attributes (a variant's values differ) skips the round trip; any other schema, and any
    string or object variable (encoded from its values), is written."""
    from study import contract

    writes = []
    real = xr.Dataset.to_netcdf
    monkeypatch.setattr(xr.Dataset, "to_netcdf", lambda self, *a, **k: writes.append(1) or real(self, *a, **k))
    monkeypatch.setattr(contract, "_STORABLE", set())
    ds = xr.Dataset({"y": ("sample", np.arange(4.0))}, coords={"sample": np.arange(4)})
    contract.check_storable(ds, "m:f")
    contract.check_storable(ds * 3, "m:f")
    assert len(writes) == 1
    ds["y"].attrs["units"] = "1"
    contract.check_storable(ds, "m:f")
    labels = ds.assign(tag=("sample", np.array(["a", "b", "c", "d"], dtype=object)))
    contract.check_storable(labels, "m:f")
    contract.check_storable(labels, "m:f")
    assert len(writes) == 4
    named = ds.assign_coords(actor=["us", "eu"]).assign(z=(("sample", "actor"), np.zeros((4, 2))))
    contract.check_storable(named, "m:f")
    contract.check_storable(named * 2, "m:f")  # fixed-width labels: their values are in the schema
    contract.check_storable(named.assign_coords(actor=["us", "jp"]), "m:f")
    assert len(writes) == 6
    bad = ds.copy()
    bad["y"].attrs["meta"] = {"nested": 1}  # refused each time: a failure is never remembered
    for _ in range(2):
        with pytest.raises(ModelContractError, match="must return outputs netCDF can store"):
            contract.check_storable(bad, "m:f")
    assert len(writes) == 8


def test_a_probe_that_changes_some_variables_writes_only_those_and_its_coordinates(monkeypatch):
    """Implementation check of check_storable's per-variable memo: a variant's probe shares
    the model's outputs and coordinates with the run before it; its round trip writes its
    coordinates and the inputs it changes, and a new coordinate writes everything again."""
    from study import contract

    written = []
    real = xr.Dataset.to_netcdf
    monkeypatch.setattr(xr.Dataset, "to_netcdf",
                        lambda self, *a, **k: written.append(sorted(map(str, self.variables))) or real(self, *a, **k))
    monkeypatch.setattr(contract, "_STORABLE", set())
    base = xr.Dataset({"x1": ("sample", np.zeros(4), {"role": "input", "distribution": "uniform"}),
                       "y": (("sample", "actor"), np.zeros((4, 2)), {"role": "output"})},
                      coords={"sample": np.arange(4), "actor": ["us", "eu"]})
    contract.check_storable(base, "m:f")
    moved = base.copy()
    moved["x1"].attrs["distribution"] = "normal"
    contract.check_storable(moved.assign(k=("sample", np.ones(4), {"role": "constant"})), "m:f")
    contract.check_storable(moved, "m:f")  # every variable already stored in this frame
    contract.check_storable(base.assign_coords(actor=["us", "jp"]), "m:f")
    assert written == [["actor", "sample", "x1", "y"], ["actor", "k", "sample", "x1"],
                       ["actor", "sample", "x1", "y"]]
    bad = base.copy()
    bad["y"].attrs["meta"] = {"nested": 1}  # a new attribute on a stored output is written, and refused
    with pytest.raises(ModelContractError, match="must return outputs netCDF can store"):
        contract.check_storable(bad, "m:f")
