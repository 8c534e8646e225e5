"""How a run is stored (issue 17): once per sample, compact 0/1 and integer outputs, float32 opt-in."""

import json
import shutil
import subprocess
import sys

import netCDF4
import numpy as np
import pytest
import xarray as xr

from mcsens import run_study
from study import open_run, store
from study.errors import StudyError
from study.spec import load_study
from tests.helpers import write_study

MODEL = '''import numpy as np
import xarray as xr


def f(x):
    y = x.x1 + 2.0 * x.x1 * x.x2
    return xr.Dataset({
        "y": y,
        "high": y > 1.0,                                   # booleans
        "count": (np.floor(10 * x.x2)).astype(np.int16),   # a small integer type
        "hot": (y > 0.5).astype(np.float64),               # 0/1 as float64: a headline
        "path": (("sample", "t"), np.stack([y.values * k for k in (1.0, 1e-3, 1e5)], axis=1)),
    }, coords={"t": [0, 1, 2]})
'''


def _study(folder, precision=None, samples=64):
    (folder / "storemodel.py").write_text(MODEL)
    path = write_study(folder, "storemodel:f", samples=samples, chunk_rows=2, extra='headline = ["hot"]')
    if precision is not None:
        path.write_text(path.read_text() + f'\n[storage]\nprecision = "{precision}"\n')
    return path


@pytest.fixture(autouse=True)
def _fresh_model(monkeypatch):
    monkeypatch.delitem(sys.modules, "storemodel", raising=False)


def _run(path, out):
    return run_study(path, out=out, figures=False, appendix=False)


@pytest.fixture(scope="module")
def float64_run(tmp_path_factory):
    """One run of the test study at the default precision, read by several tests."""
    folder = tmp_path_factory.mktemp("float64")
    sys.modules.pop("storemodel", None)
    return _run(_study(folder), folder / "runs")


def _stored_types(path):
    with netCDF4.Dataset(path) as nc:
        return {k: str(v.dtype) for k, v in nc.variables.items()}


def test_one_write_per_sample_leaves_only_the_sealed_file_and_one_record_per_chunk(float64_run):
    run_dir = float64_run
    assert not (run_dir / "results.nc.partial").exists() and not (run_dir / "chunks").exists()
    records = [json.loads(line) for line in (run_dir / "chunks.jsonl").read_text().splitlines()]
    # N = 64 over 4 replicates: 16 blocks of 16 samples, in chunks of 2 blocks; then Morris is not asked for.
    assert [(r["design"], r["b0"], r["b1"], r["rows"]) for r in records] == [("sobol", b, b + 2, 32)
                                                                             for b in range(0, 16, 2)]
    with netCDF4.Dataset(run_dir / "results.nc") as nc:
        assert nc.store_id == records[0]["store"] and nc.dimensions["sample"].size == 256
        assert nc.variables["y"].filters()["zlib"] and not nc.variables["y"].filters()["shuffle"]
        assert nc.variables["y"].chunking() == [32]  # one HDF5 chunk per region: no neighbour rewritten


def test_zero_one_and_small_integer_outputs_are_stored_compactly_and_read_back_exactly(float64_run):
    run_dir = float64_run
    types = _stored_types(run_dir / "results.nc")
    assert {k: types[k] for k in ("high", "hot", "count", "y", "path", "x1", "sample")} == {
        "high": "int8", "hot": "int8", "count": "int16", "y": "float64", "path": "float64", "x1": "float64",
        "sample": "int64"}
    with open_run(run_dir) as ds:
        y, x2 = ds.y.values, ds.x2.values
        for name in ("high", "hot", "count"):
            assert ds[name].dtype == np.float64  # unpacked (CF scale_factor 1.0, a double) as evaluated
        np.testing.assert_array_equal(ds.high.values, (y > 1.0).astype(np.float64))
        np.testing.assert_array_equal(ds.hot.values, (y > 0.5).astype(np.float64))
        np.testing.assert_array_equal(ds["count"].values, np.floor(10 * x2))
        assert (ds.high.attrs["model_dtype"], ds["count"].attrs["model_dtype"]) == ("bool", "int16")
        assert "model_dtype" not in ds.hot.attrs and ds.hot.attrs["storage"] == "flag"
        assert ds.attrs["Conventions"] == "CF-1.10" and ds.attrs["precision"] == "float64"


def test_ncdump_reads_a_run_with_its_packing_and_cf_attributes(float64_run):
    if shutil.which("ncdump") is None:
        pytest.fail("ncdump (netCDF-C) is needed: the files must stay readable by it")
    run_dir = float64_run
    header = subprocess.run(["ncdump", "-h", str(run_dir / "results.nc")], capture_output=True, text=True,
                            check=True).stdout
    for line in ("sample = UNLIMITED ; // (256 currently)", "byte hot(sample) ;", "hot:_FillValue = -127b ;",
                 "hot:scale_factor = 1. ;", "short count(sample) ;", "double path(sample, t) ;",
                 ':Conventions = "CF-1.10" ;', ':precision = "float64" ;'):
        assert line in header, line
    data = subprocess.run(["ncdump", "-v", "hot", str(run_dir / "results.nc")], capture_output=True, text=True,
                          check=True).stdout
    values = data.split("hot =")[1].split(";")[0].replace("\n", "").split(",")
    with open_run(run_dir) as ds:
        assert [int(v) for v in values] == ds.hot.values.astype(int).tolist()


def test_r_ncdf4_reads_a_run_with_its_packing(float64_run):
    # The promise is the files stay readable by R's ncdf4 (netCDF-C, no plugin):
    # R reads the deflated doubles, the 0/1 output packed as a byte and the narrow integer,
    # and gets the values Python stored, bit for bit (printed with 17 significant digits).
    if shutil.which("Rscript") is None:
        pytest.fail("Rscript with the ncdf4 package is needed: the files must stay readable by R")
    script = ('library(ncdf4); nc <- nc_open(commandArgs(TRUE)[1]); '
              'for (v in c("y", "hot", "count", "x1")) cat(v, sprintf("%.17g", ncvar_get(nc, v)), "\\n"); '
              'nc_close(nc)')
    out = subprocess.run(["Rscript", "-e", script, str(float64_run / "results.nc")], capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr.strip().splitlines()[-1:]
    read = {line.split()[0]: np.array(line.split()[1:], dtype=float) for line in out.stdout.splitlines() if line}
    with open_run(float64_run) as ds:
        for name in ("y", "hot", "count", "x1"):
            np.testing.assert_array_equal(read[name], ds[name].values.astype(float), err_msg=name)
        assert set(np.unique(read["hot"])) <= {0.0, 1.0}


def test_float32_opt_in_stores_float_outputs_within_two_to_the_minus_24_and_inputs_exactly(tmp_path, float64_run):
    wide = float64_run
    # With failures recorded, an integer output stays float64 (a failed sample is NaN); 0/1 ones take -127.
    narrow = run_study(_study(tmp_path, "float32"), out=tmp_path / "f32", allow_failures=True, figures=False,
                       appendix=False)
    types = _stored_types(narrow / "results.nc")
    assert (types["y"], types["path"], types["x1"], types["hot"], types["count"], types["status"]) == \
        ("float32", "float32", "float64", "int8", "float64", "int8")
    with open_run(wide) as a, open_run(narrow) as b:
        for name in ("x1", "x2", "hot", "high", "count", "sample"):
            np.testing.assert_array_equal(a[name].values, b[name].values)
        worst = max(float(np.max(np.abs(b[n].values.astype(np.float64) - a[n].values) / np.abs(a[n].values)))
                    for n in ("y", "path"))
        assert 0 < worst <= 2.0 ** -24
        assert (b.attrs["precision"], b.attrs["max_relative_error"]) == ("float32", 2.0 ** -24)
        assert b.y.attrs["max_relative_error"] == 2.0 ** -24
    manifest = json.loads((narrow / "manifest.json").read_text())
    assert manifest["storage"] == {"precision": "float32", "max_relative_error": 2.0 ** -24}


@pytest.mark.parametrize("table, line", [
    ('precision = "float16"', "storage.precision: must be one of ['float64', 'float32']; got 'float16'"),
    ("precision = 32", "storage.precision: must be a string; got 32"),
    ('precison = "float32"', "storage.precison: unknown key (did you mean 'precision'?)"),
])
def test_the_storage_table_is_validated_with_one_line(tmp_path, table, line):
    path = write_study(tmp_path, "storemodel:f")
    path.write_text(path.read_text() + f"\n[storage]\n{table}\n")
    with pytest.raises(StudyError) as err:
        load_study(path)
    assert str(err.value) == f"{path}: {line}"


def test_an_integer_output_beyond_its_first_type_is_refused_in_one_line(tmp_path):
    st = store.ResultsStore(tmp_path, "sobol", "results.nc", block_size=4, region_blocks=1, attrs={})
    ds = xr.Dataset({"k": ("sample", np.arange(4.0), {"role": "output", "model_dtype": "int8"})},
                    coords={"sample": np.arange(4)})
    with st:
        st.write(0, 1, ds)
        with pytest.raises(StudyError) as err:
            st.write(1, 2, ds.assign(k=ds.k + 200).assign_coords(sample=np.arange(4, 8)))
    assert str(err.value) == f"{st.path}: output 'k': must hold values its storage type int8 holds exactly; got 200.0"


@pytest.mark.parametrize("n_blocks, region_blocks, chunk", [(3, 8, 2 * 4), (4, 8, 4 * 4), (6, 8, 4 * 4), (16, 8, 8 * 4)])
def test_hdf5_chunks_divide_the_design_when_it_is_smaller_than_a_region(tmp_path, n_blocks, region_blocks, chunk):
    # Region 0 shorter than a region: so is the design, and chunks sized for a region would be
    # mostly deflated fill. Chunks still divide a region (3 blocks, regions of 8: chunks of 2).
    ds = xr.Dataset({"y": ("sample", np.arange(4.0 * n_blocks), {"role": "output"})},
                    coords={"sample": np.arange(4 * n_blocks)})
    with store.ResultsStore(tmp_path, "sobol", "results.nc", block_size=4, region_blocks=region_blocks,
                            attrs={}) as st:
        for b0 in range(0, n_blocks, region_blocks):
            b1 = min(b0 + region_blocks, n_blocks)
            st.write(b0, b1, ds.isel(sample=slice(4 * b0, 4 * b1)))
        path = st.seal()
    with netCDF4.Dataset(path) as nc:
        assert nc.variables["y"].chunking() == [chunk]
        np.testing.assert_array_equal(nc.variables["y"][:], np.arange(4.0 * n_blocks))


def _as_stored(path):
    """Every variable of a results file as stored (no unpacking, no masking): name -> array."""
    with netCDF4.Dataset(path) as nc:
        nc.set_auto_maskandscale(False)
        return {k: v[:] for k, v in nc.variables.items()}


def _writes(monkeypatch):
    """Count the regions each write path takes: {"direct": n, "netCDF4": n}."""
    counts = {"direct": 0, "netCDF4": 0}
    for label, method in (("direct", "_put_chunks"), ("netCDF4", "_put_netcdf")):
        real = getattr(store.ResultsStore, method)

        def counted(self, *args, _real=real, _label=label):
            counts[_label] += 1
            return _real(self, *args)

        monkeypatch.setattr(store.ResultsStore, method, counted)
    return counts


@pytest.mark.parametrize("precision", ["float64", "float32"])
def test_direct_chunk_writes_store_what_netcdf4s_own_write_stores_bit_for_bit(tmp_path, monkeypatch, precision):
    # Every storage kind: float64 (y, path, the inputs), float32 opt-in, a boolean and a 0/1
    # headline packed as bytes, the narrow integer (int16; float64 where failures are recorded).
    path = _study(tmp_path, precision)
    counts = _writes(monkeypatch)
    failures = precision == "float32"
    direct = run_study(path, out=tmp_path / "direct", allow_failures=failures, figures=False, appendix=False)
    assert counts == {"direct": 8, "netCDF4": 0}
    monkeypatch.setattr(store, "DIRECT_CHUNKS", False)
    sys.modules.pop("storemodel", None)
    fallback = run_study(path, out=tmp_path / "netcdf4", allow_failures=failures, figures=False, appendix=False)
    assert counts == {"direct": 8, "netCDF4": 8}
    a, b = _as_stored(direct / "results.nc"), _as_stored(fallback / "results.nc")
    assert {k: str(v.dtype) for k, v in a.items()} == {k: str(v.dtype) for k, v in b.items()}
    assert str(a["y"].dtype) == precision and (a["hot"].dtype, a["high"].dtype) == (np.int8, np.int8)
    assert a["count"].dtype == (np.float64 if failures else np.int16)
    for name in a:
        assert a[name].tobytes() == b[name].tobytes(), name
    # The chunk records hash the same stored values.
    assert [r["sha256"] for r in _records(direct)] == [r["sha256"] for r in _records(fallback)]
    with open_run(direct) as x, open_run(fallback) as y:
        xr.testing.assert_identical(x.load().drop_attrs(), y.load().drop_attrs())


def _records(run_dir):
    return [json.loads(line) for line in (run_dir / "chunks.jsonl").read_text().splitlines()]


def test_the_shared_run_is_written_as_direct_chunks_of_isa_l_deflate(float64_run):
    # The ncdump and R tests above read this run: each chunk is the store's own zlib stream
    # (ISA-L's differs from the bytes zlib.compress gives), written whole with no filter skipped.
    h5py = pytest.importorskip("h5py")
    with h5py.File(float64_run / "results.nc", "r") as f:
        for name in ("y", "hot", "count", "path", "x1"):
            dset = f[name]
            rows = dset.chunks[0]
            for s0 in range(0, dset.shape[0], rows):
                mask, stream = dset.id.read_direct_chunk((s0, *(0,) * (dset.ndim - 1)))
                assert mask == 0 and stream == store.deflate(dset[s0:s0 + rows].tobytes()), (name, s0)


def test_regions_off_chunk_boundaries_fall_back_to_netcdf4_and_a_padded_last_chunk_is_filled_in(tmp_path,
                                                                                                monkeypatch):
    # Chunks of 2 blocks (8 rows). Blocks 2-3 end the file mid-chunk: written directly, padded;
    # blocks 3-4 then start mid-chunk (as --until-converged extends a design): netCDF4 writes them
    # into that chunk, and blocks 4-5 start on a boundary again.
    counts = _writes(monkeypatch)
    n = 6 * 4
    ds = xr.Dataset({"y": ("sample", np.linspace(-1.0, 1.0, n), {"role": "output"}),
                     "k": ("sample", np.arange(n) % 7.0, {"role": "output", "model_dtype": "int8"}),
                     "f": ("sample", np.arange(n) % 2.0, {"role": "output", "model_dtype": "bool"}),
                     "w": (("sample", "t"), np.arange(3.0 * n).reshape(n, 3), {"role": "output"})},
                    coords={"sample": np.arange(n)})
    with store.ResultsStore(tmp_path, "sobol", "results.nc", block_size=4, region_blocks=2, attrs={}) as st:
        for b0, b1 in ((0, 2), (2, 3), (3, 4), (4, 6)):
            st.write(b0, b1, ds.isel(sample=slice(4 * b0, 4 * b1)))
        path = st.seal()
    assert counts == {"direct": 3, "netCDF4": 1}
    with netCDF4.Dataset(path) as nc:
        assert nc.dimensions["sample"].size == n and nc.variables["y"].chunking() == [8]
        nc.set_auto_maskandscale(False)
        for name in ("y", "k", "f", "w", "sample"):
            want = ds[name].values.astype(nc.variables[name].dtype)
            assert nc.variables[name][:].tobytes() == want.tobytes(), name


def test_without_h5py_or_isal_every_region_takes_netcdf4s_write(tmp_path, monkeypatch):
    counts = _writes(monkeypatch)
    monkeypatch.setattr(store, "_direct_modules", lambda: None)
    ds = xr.Dataset({"y": ("sample", np.arange(8.0), {"role": "output"})}, coords={"sample": np.arange(8)})
    with store.ResultsStore(tmp_path, "sobol", "results.nc", block_size=4, region_blocks=1, attrs={}) as st:
        st.write(0, 1, ds.isel(sample=slice(0, 4)))
        st.write(1, 2, ds.isel(sample=slice(4, 8)))
        path = st.seal()
    assert counts == {"direct": 0, "netCDF4": 2}
    with netCDF4.Dataset(path) as nc:
        np.testing.assert_array_equal(nc.variables["y"][:], np.arange(8.0))


def test_versions_are_looked_up_once_per_process_and_each_caller_gets_its_own_copy(monkeypatch):
    """Implementation check: a worker running several side runs scans the installed
    distributions once; a manifest that edits its versions does not change the next one's."""
    calls = []
    real = store.metadata.version
    monkeypatch.setattr(store.metadata, "version", lambda name: calls.append(name) or real(name))
    store._versions.cache_clear()
    first = store.versions()
    first["numpy"] = "edited"
    second = store.versions()
    assert calls == list(store.VERSIONED)
    assert second["numpy"] == real("numpy") and second["python"] == first["python"]
    store._versions.cache_clear()  # the next test looks up the real versions again
