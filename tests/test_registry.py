"""The method registry, the Morris design read from the run, the appendix reading through the
run record, and results hashed once per run."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import analysis
from analysis import METHODS
from analysis.methods import KINDS, Method, ranking
from analysis.run import read_run
from study import store
from study.errors import RunError
from tests.helpers import NORMAL_PARAMS, writable_copy, write_study

MODEL = """
    import xarray as xr

    def f(x):
        return xr.Dataset({"y": 2 * x.x1 + x.x2 ** 2, "holds": xr.where(x.x1 > 0.3, 1.0, 0.0)})
    """

ANALYSIS = """headline = ["holds"]
key_output = "y"
morris_trajectories = 12"""

PARAMS = NORMAL_PARAMS


def _write_study(folder: Path, seed: int = 11) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.py").write_text(textwrap.dedent(MODEL))
    # chunk_rows as the loader's default (1024), as this study had before it used write_study.
    return write_study(folder, "model:f", name="reg", samples=32, seed=seed, params=PARAMS,
                       methods='["sobol", "morris", "delta"]', extra=ANALYSIS, chunk_rows=1024)


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """One real run (no figures, no appendix), with the hashes counted while it ran."""
    from mcsens import run_study

    folder = tmp_path_factory.mktemp("reg")
    calls = []
    real = store.file_sha256

    def counting(path):
        calls.append(Path(path).name)
        return real(path)

    mp = pytest.MonkeyPatch()
    mp.setattr(store, "file_sha256", counting)  # store.seal's own lookup
    mp.setattr("analysis.run.file_sha256", counting)  # the record's verification
    try:
        run_dir = Path(run_study(_write_study(folder), out=folder / "runs", figures=False, appendix=False))
    finally:
        mp.undo()
    return run_dir, calls


@pytest.fixture
def registry():
    """The registry, restored afterwards in its order (the order of indices.csv's rows)."""
    saved = dict(METHODS)
    yield METHODS
    METHODS.clear()
    METHODS.update(saved)


# -- the registry --------------------------------------------------------------------------

def test_every_registered_module_declares_its_method_in_full():
    assert list(METHODS) == ["sobol", "morris", "delta", "surrogate", "noise"]
    for name, m in METHODS.items():
        module = sys.modules[m.analyze.__module__]
        assert module.METHOD is m and m.name == name, name  # declared in its own module
        assert m.kind in KINDS and m.rank_index and m.label and m.text_label and callable(m.analyze)
    assert [m.name for m in ranking(METHODS, triangulates=True)] == ["sobol", "morris", "delta"]
    assert [m.name for m in ranking(METHODS, on_draws=True)] == ["sobol", "delta"]  # compare's driver order
    assert METHODS["noise"].kind == "diagnostic" and ranking(METHODS) == [METHODS[n] for n in list(METHODS)[:4]]


def test_when_a_method_applies_is_declared_with_it():
    from study.spec import load_study
    import dataclasses

    study = load_study(Path(__file__).parents[1] / "params" / "ishigami.toml")
    assert [m.name for m in METHODS.values() if m.wanted(study)] == ["sobol", "morris", "delta"]
    noisy = dataclasses.replace(study, model_options=dataclasses.replace(study.model_options, replications=3))
    assert [m.name for m in METHODS.values() if m.wanted(noisy)] == ["sobol", "morris", "delta", "noise"]


def _dummy(run, settings, rng):
    """A method that ranks the inputs in reverse alphabetical order (x2 first)."""
    params = [p.name for p in run.study.parameters]
    for o in settings.outputs:
        for k, p in enumerate(params):
            settings.rows.append({"method": "dummy", "output": o, "param": p, "index": "D", "value": float(k + 1),
                                  "estimator": "dummy", "conf_method": ""})
    return xr.Dataset({"D": ("param", np.arange(1.0, len(params) + 1))}, coords={"param": params})


def test_a_method_added_to_the_registry_alone_is_computed_ranked_and_triangulated(made, tmp_path, registry):
    from analysis.appendix.record import triangulation
    from analysis.figures import load_run, ranks_frame
    from analysis.indices import analyze_run

    dummy = Method("dummy", "D", "Dummy D", "dummy D", on_draws=True, analyze=_dummy, applies=lambda study: True)
    registry["dummy"] = dummy  # the one dict every stage reads
    run = read_run(writable_copy(made[0], tmp_path))
    analyze_run(run)
    table = pd.read_csv(run.file("indices.csv"))
    got = table[table["method"] == "dummy"]
    assert got[["output", "param", "index", "value"]].values.tolist() == [
        ["y", "x1", "D", 1.0], ["y", "x2", "D", 2.0], ["holds", "x1", "D", 1.0], ["holds", "x2", "D", 2.0]]
    assert run.indices_group("dummy")["D"].values.tolist() == [1.0, 2.0]
    data = load_run(run)
    ranks = ranks_frame(data, "y", {})
    assert list(ranks.columns) == ["Sobol' ST", "Morris μ*", "δ", "Dummy D"]
    assert ranks["Dummy D"].to_dict() == {"x1": 2.0, "x2": 1.0}  # the larger value ranks first
    text = " ".join(b.text for b in triangulation(data, {}) if hasattr(b, "text"))
    assert "Dummy D (Kendall τ" in text and "dummy D" in text  # the figure's label, then the sentence's


def test_without_its_registry_entry_a_method_is_not_computed(made, tmp_path, registry):
    from analysis.indices import analyze_run
    from study.errors import StudyError

    copy = writable_copy(made[0], tmp_path)
    run = read_run(copy)  # read while morris is registered: the record's study names it
    del registry["morris"]
    analyze_run(run)  # dispatch is over the registry: no special case computes it
    methods = set(pd.read_csv(run.file("indices.csv"))["method"])
    assert methods == {"headline", "sobol", "delta"} and run.indices_group("morris") is None
    with pytest.raises(StudyError) as err:  # and a study naming it is no longer one the registry knows
        read_run(copy)
    assert str(err.value) == (f"{copy / 'study.toml'}: analysis.methods: must contain only ['sobol', 'delta', "
                              "'surrogate']; got 'morris'")


# -- the Morris design, read from the run --------------------------------------------------

def test_the_morris_points_evaluated_are_stored_and_match_the_design(made):
    from study.sampling import make_design

    run = read_run(made[0])
    u, params = run.design_points("morris")
    design = make_design(run.study, "morris")
    assert params == ["x1", "x2"] and u.shape == (36, 2)
    np.testing.assert_array_equal(u, design.unit(0, design.n_blocks)[0])
    assert run.design_points() is None  # a Saltelli design keeps its layout in coordinates


def test_the_analysis_reads_the_stored_morris_grid_not_one_rebuilt_from_the_seed(made, tmp_path):
    from analysis.indices import analyze_run

    def mu_star(run_dir):
        t = pd.read_csv(run_dir / "indices.csv")
        return t[(t["method"] == "morris") & (t["index"] == "mu_star")]["value"].tolist()

    copy = writable_copy(made[0], tmp_path)
    toml = copy / "study.toml"
    toml.write_text(toml.read_text().replace("seed = 11", "seed = 12"))  # another seed, another grid
    assert read_run(copy).study.sampling.seed == 12
    analyze_run(copy)
    assert mu_star(copy) == mu_star(made[0]) and len(mu_star(copy)) == 4


def test_a_morris_file_whose_levels_were_edited_and_resealed_is_refused_in_one_line(made, tmp_path):
    import netCDF4

    from analysis.indices import analyze_run

    copy = writable_copy(made[0], tmp_path)
    with netCDF4.Dataset(copy / "results-morris.nc", "a") as nc:
        nc.setncattr("levels", 6)
    store.Manifest.load(copy).update(sealed=store.seal(copy))  # the checksums agree: only the grid can tell
    with pytest.raises(RunError) as err:
        analyze_run(copy)
    assert str(err.value) == (f"{copy / 'results-morris.nc'}: levels: must be the number of grid levels of the "
                              "stored Morris points; got 6")


def test_a_run_sealed_before_the_points_were_stored_is_read_from_its_seed(made, tmp_path):
    from analysis.indices import analyze_run

    copy = writable_copy(made[0], tmp_path)
    with xr.open_dataset(copy / "results-morris.nc") as ds:
        plain = ds.load()
    (copy / "results-morris.nc").unlink()
    plain.to_netcdf(copy / "results-morris.nc")  # no /design group, as older versions wrote it
    store.Manifest.load(copy).update(sealed=store.seal(copy))
    assert read_run(copy).design_points("morris") is None
    analyze_run(copy)
    assert (copy / "indices.csv").read_bytes() == (made[0] / "indices.csv").read_bytes()


# -- the results are hashed once per run ---------------------------------------------------

def test_each_results_file_is_hashed_once_in_a_run_and_a_record_read_from_disk_verifies(made, monkeypatch):
    run_dir, calls = made
    results = [c for c in calls if c.startswith("results")]
    assert sorted(results) == ["results-morris.nc", "results.nc"]  # by the seal alone
    again = []
    monkeypatch.setattr("analysis.run.file_sha256", lambda p: again.append(Path(p).name) or store.file_sha256(p))
    read_run(run_dir)
    assert sorted(again) == ["results-morris.nc", "results.nc"]


def test_a_sealed_record_handed_over_is_trusted_only_while_size_and_mtime_match(made, tmp_path, monkeypatch):
    import os

    copy = writable_copy(made[0], tmp_path)
    sealed = store.Manifest.load(copy).data["sealed"]
    hashed = []
    monkeypatch.setattr("analysis.run.file_sha256", lambda p: hashed.append(Path(p).name) or store.file_sha256(p))
    read_run(copy, verified=sealed)  # the copy kept the sealed sizes and mtimes: as if just sealed here
    assert hashed == []
    os.utime(copy / "results.nc", ns=(1, 1))  # touched since: hashed (and the bytes pass)
    read_run(copy, verified=sealed)
    assert hashed == ["results.nc"]
    with open(copy / "results.nc", "r+b") as f:  # same size, same mtime, other bytes
        f.seek(-1, 2)
        last = f.read(1)
        f.seek(-1, 2)
        f.write(bytes([last[0] ^ 1]))
    os.utime(copy / "results.nc", ns=(sealed["results.nc"]["mtime_ns"],) * 2)
    read_run(copy, verified=sealed)  # trusted: this process says it sealed these bytes
    with pytest.raises(RunError, match="must be the results this run sealed"):
        read_run(copy)  # opened from disk, it is hashed and refused


# -- the appendix reads the run through its record -----------------------------------------

@pytest.mark.slow  # a second run, a comparison and the whole appendix: about 8 s
def test_the_appendix_opens_no_file_of_the_run_but_through_its_record(made, tmp_path):
    from analysis.appendix import build_appendix
    from analysis.compare import main_compare
    from mcsens import run_study

    copy = writable_copy(made[0], tmp_path)
    other = run_study(_write_study(tmp_path / "other", seed=12), out=tmp_path / "runs", figures=False,
                      appendix=False)
    main_compare([copy, other], copy / "variants")
    run = read_run(copy)
    assert run.table("scenarios") is not None and len(run.table("compare")) == 2
    opened = []
    record = str(Path(analysis.run.__file__).resolve())
    root = str(copy.resolve())
    own = (str(copy.resolve() / "figures"), str(copy.resolve() / "appendix"))  # what the appendix draws and writes

    def hook(event, args):
        if event != "open" or not isinstance(args[0], (str, Path)):
            return
        path = str(Path(args[0]).resolve())
        if not path.startswith(root + "/") or path.startswith(own):
            return
        frame = sys._getframe(1)
        while frame is not None:
            if frame.f_code.co_filename == record:
                return
            frame = frame.f_back
        opened.append(path[len(root) + 1:])

    watching = [True]
    sys.addaudithook(lambda e, a: hook(e, a) if watching[0] else None)  # audit hooks cannot be removed
    try:
        build_appendix(run)
    finally:
        watching[0] = False
    assert opened == []
    md = (copy / "appendix" / "appendix.md").read_text()
    assert "Headline results under structural alternatives" in md and "PRIM boxes" in md


# -- each design is made once per run ------------------------------------------------------

def test_each_design_is_made_once_and_a_variant_run_still_evaluates_the_main_one_only(made, tmp_path, monkeypatch):
    import mcsens.runner as runner
    from mcsens import run_study

    kinds = []
    real = runner.make_design
    monkeypatch.setattr(runner, "make_design", lambda study, kind=None, *a: kinds.append(kind) or real(study, kind, *a))
    path = _write_study(tmp_path / "v")
    variant = Path(run_study(path, out=tmp_path / "runs", figures=False, appendix=False, variant_of=made[0]))
    assert kinds == ["sobol"]  # the probe, the count and the evaluation share it; the scope drops Morris
    assert not (variant / "results-morris.nc").exists()
    assert store.Manifest.load(variant).data["samples"]["runs_requested"] == 32 * 4  # A, AB_1, AB_2, B
    kinds.clear()
    run_study(path, out=tmp_path / "runs", figures=False, appendix=False)
    assert kinds == ["sobol", "morris"]  # once each (five calls before: probe, count and evaluation)


# -- a method defined in one place: its module's METHOD and the registry, nothing in study/ -----

def _toy(run, settings, rng):
    """|Pearson correlation| of each input with each output on the independent draws, and a note
    counting the points of the extra Morris design it asked for (its ``design``)."""
    x = {p.name: settings.results[p.name].values[settings.iid] for p in run.study.parameters}
    for o in settings.outputs:
        y = settings.results[o].values[settings.iid]
        for p, v in x.items():
            settings.rows.append({"method": "toy", "output": o, "param": p, "index": "r",
                                  "value": abs(float(np.corrcoef(v, y)[0, 1])), "estimator": "toy",
                                  "conf_method": ""})
    extra = run.open_results("morris")
    try:
        settings.notes.append(f"toy: {extra.sizes['sample']} points of the Morris design")
    finally:
        extra.close()
    return None


def _toy_check(study, where_n):
    return (where_n, f"toy wants at most 64 samples; got {study.sampling.samples}") if study.sampling.samples > 64 \
        else None


TOY = Method("toy", "r", "toy |r|", "toy |r|", on_draws=True, analyze=_toy, sampling=("sobol",), design="morris",
             check=_toy_check)


def test_a_method_registered_in_a_test_alone_runs_in_a_study_that_names_it(tmp_path, registry):
    from mcsens import run_study
    from study.errors import StudyError

    (tmp_path / "model.py").write_text(textwrap.dedent(MODEL))
    path = write_study(tmp_path, "model:f", name="toy", samples=32, seed=5, params=PARAMS, methods='["toy"]',
                       extra="morris_trajectories = 12")
    with pytest.raises(StudyError) as err:  # not registered: the registry's list of names
        run_study(path, out=tmp_path / "runs", figures=False, appendix=False)
    assert str(err.value) == (f"{path}: analysis.methods: must contain only ['sobol', 'morris', 'delta', "
                              "'surrogate']; got 'toy'")
    registry["toy"] = TOY
    run = read_run(run_study(path, out=tmp_path / "runs", figures=False, appendix=False))
    table = run.indices()
    toy = table[(table["method"] == "toy") & (table["output"] == "y")].set_index("param")["value"]
    # y = 2 x1 + x2², x1 ~ U(0, 1), x2 ~ N(0, 0.5): Var 4/12 + 2 (0.25)² = 11/24, and x2² is
    # uncorrelated with x2, so r(x1, y) = sqrt((1/3) / (11/24)) = sqrt(8/11) and r(x2, y) = 0
    # (256 draws, A and B of 4 replicates of 32: a standard error near 0.02 and 0.06).
    assert abs(toy["x1"] - np.sqrt(8 / 11)) < 0.08 and toy["x2"] < 0.2 and set(table["method"]) == {"toy"}
    assert run.has("results-morris.nc")  # the design it declared was evaluated beside the Saltelli one
    with xr.open_dataset(run.file("indices.nc")) as nc:
        assert "toy: 36 points of the Morris design" in nc.attrs["notes"]  # 12 trajectories of D + 1 = 3


@pytest.mark.parametrize("change, message", [
    (('method = "sobol"', 'method = "latin"'), "analysis.methods: 'toy' needs sampling.method = 'sobol'; got "
                                                "sampling.method = 'latin'"),
    (("samples = 32", "samples = 128"), "sampling.samples: toy wants at most 64 samples; got 128"),
])
def test_a_registered_methods_own_rules_refuse_a_study_as_the_loader_would(tmp_path, registry, change, message):
    from analysis.methods import load_study
    from study.errors import StudyError

    registry["toy"] = TOY
    path = write_study(tmp_path, "model:f", name="toy", samples=32, params=PARAMS, methods='["toy"]')
    path.write_text(path.read_text().replace(*change).replace("replicates = 4\n", ""))
    with pytest.raises(StudyError) as err:
        load_study(path)
    assert str(err.value) == f"{path}: {message}"


def test_the_loader_checks_the_shape_of_the_methods_and_the_registry_their_names(tmp_path):
    from analysis.methods import load_study
    from study.errors import StudyError
    from study.spec import load_study as load_file

    path = write_study(tmp_path, "model:f", params=PARAMS, methods='["sobol", "fast"]')
    assert load_file(path).analysis.methods == ("sobol", "fast")  # a list of strings: the study layer's part
    with pytest.raises(StudyError) as err:
        load_study(path)
    assert str(err.value) == (f"{path}: analysis.methods: must contain only ['sobol', 'morris', 'delta', "
                              "'surrogate']; got 'fast'")
    path.write_text(path.read_text().replace('["sobol", "fast"]', '["sobol", 3]'))
    with pytest.raises(StudyError) as err:
        load_file(path)
    assert str(err.value) == f"{path}: analysis.methods: must be a list of strings; got ['sobol', 3]"
