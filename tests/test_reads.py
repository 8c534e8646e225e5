"""Reading a run's results without inflating them again and again (issue 17).

``content_sha256`` inflates the chunks the store wrote itself (h5py + ISA-L) where the
layout allows, netCDF4 elsewhere: the digest, published in appendices, must not move.
"""

import shutil
import subprocess
import sys

import netCDF4
import numpy as np
import pytest
import xarray as xr

from analysis.chunks import ChunkFile
from analysis.run import _ChunkArray, _ChunkStore, _open, content_sha256
from mcsens import run_study
from study.store import open_run
from tests.helpers import write_study

MODEL = '''import numpy as np
import xarray as xr


def f(x):
    y = x.x1 + 2.0 * x.x1 * x.x2
    return xr.Dataset({
        "y": y,
        "high": y > 1.0,                                   # booleans: a byte
        "count": (np.floor(10 * x.x2)).astype(np.int16),   # a small integer type
        "hot": (y > 0.5).astype(np.float64),               # 0/1 as float64: a headline, a byte
        "path": (("sample", "t"), np.stack([y.values * k for k in (1.0, 1e-3, 1e5)], axis=1)),
    }, coords={"t": [0, 1, 2]})
'''


@pytest.fixture(autouse=True)
def _fresh_model(monkeypatch):
    monkeypatch.delitem(sys.modules, "readsmodel", raising=False)


def _store_run(folder, precision=None, **options):
    (folder / "readsmodel.py").write_text(MODEL)
    path = write_study(folder, "readsmodel:f", samples=64, chunk_rows=2, extra='headline = ["hot"]')
    if precision is not None:
        path.write_text(path.read_text() + f'\n[storage]\nprecision = "{precision}"\n')
    return run_study(path, out=folder / "runs", figures=False, appendix=False, **options)


def _slow_digest(path, monkeypatch):
    """The digest through netCDF4 only (the fast path refused for every variable)."""
    with monkeypatch.context() as m:
        m.setattr(ChunkFile, "layout", lambda self, *a: None)
        return content_sha256(path)


def _chunk_read(path, monkeypatch) -> tuple[str, set[str]]:
    """The digest, and the variables whose chunks were inflated directly."""
    taken = set()
    layout = ChunkFile.layout

    def spy(self, group_path, name, *args):
        got = layout(self, group_path, name, *args)
        if got is not None:
            taken.add(name)
        return got

    with monkeypatch.context() as m:
        m.setattr(ChunkFile, "layout", spy)
        return content_sha256(path), taken


@pytest.mark.parametrize("precision, failures", [(None, False), ("float32", True)])
def test_the_digest_of_every_storage_kind_is_the_same_read_from_the_raw_chunks(tmp_path, monkeypatch,
                                                                                precision, failures):
    # float64 and float32 outputs, 0/1 flags as bytes (with a fill value when samples may
    # fail), a narrow integer, a 2-d output, the inputs and the design's coordinates.
    run_dir = _store_run(tmp_path, precision, allow_failures=failures)
    path = run_dir / "results.nc"
    with netCDF4.Dataset(path) as nc:
        kinds = {nc.variables[k].dtype.name for k in ("y", "hot", "count", "path", "x1")}
    assert kinds == ({"float64", "int8", "int16"} if precision is None else {"float32", "int8", "float64"})
    fast, taken = _chunk_read(path, monkeypatch)
    assert {"y", "high", "hot", "path", "x1", "x2", "sample", "matrix"} <= taken
    assert failures is False or "status" in taken
    assert fast == _slow_digest(path, monkeypatch)


def _hand_made(path):
    """A netCDF file the store would not write: a padded last chunk, a shorter variable along
    an unlimited dimension, unwritten chunks, shuffle, a checksum, chunks split in two
    dimensions, a contiguous variable, big-endian values and strings."""
    rng = np.random.default_rng(5)
    with netCDF4.Dataset(path, "w") as nc:
        nc.createDimension("sample", None)
        nc.createDimension("fixed", 40)
        nc.createDimension("t", 6)
        nc.title = "hand made"
        # netCDF4 shuffles with zlib unless told not to; the store does not.
        padded = nc.createVariable("padded", "f8", ("sample",), zlib=True, shuffle=False, chunksizes=(10,))
        padded[:25] = rng.normal(size=25)
        short = nc.createVariable("short", "i4", ("sample",), zlib=True, shuffle=False, chunksizes=(4,))
        short[:5] = np.arange(5)
        holes = nc.createVariable("holes", "f8", ("fixed",), zlib=True, shuffle=False, chunksizes=(8,), fill_value=-1.0)
        holes[:8] = rng.normal(size=8)
        nc.createVariable("shuffled", "f8", ("sample",), zlib=True, shuffle=True, chunksizes=(10,))[:25] = \
            rng.normal(size=25)
        nc.createVariable("checked", "f8", ("sample",), fletcher32=True, chunksizes=(10,))[:25] = rng.normal(size=25)
        nc.createVariable("split", "f8", ("fixed", "t"), zlib=True, shuffle=False, chunksizes=(8, 3))[:] = \
            rng.normal(size=(40, 6))
        nc.createVariable("whole", "f8", ("fixed", "t"), zlib=True, shuffle=False, chunksizes=(16, 6))[:] = \
            rng.normal(size=(40, 6))
        nc.createVariable("plain", "f8", ("fixed",), contiguous=True)[:] = rng.normal(size=40)
        nc.createVariable("big", ">f8", ("fixed",), zlib=True, shuffle=False, chunksizes=(8,), endian="big")[:] = \
            rng.normal(size=40).astype(">f8")
        names = nc.createVariable("names", str, ("t",))
        for i in range(6):
            names[i] = f"n{i}"
        nc.createGroup("design").createVariable("unit", "f8", ("fixed",), zlib=True, shuffle=False,
                                                 chunksizes=(40,))[:] = \
            rng.uniform(size=40)


def test_a_file_the_fast_path_cannot_take_is_read_by_netcdf4_with_the_same_digest(tmp_path, monkeypatch):
    path = tmp_path / "hand.nc"
    _hand_made(path)
    fast, taken = _chunk_read(path, monkeypatch)
    # A padded last chunk and a chunk shape whole in the other dimensions are read directly;
    # everything whose chunks are not exactly netCDF4's values is left to netCDF4.
    assert taken == {"padded", "whole", "unit"}
    assert fast == _slow_digest(path, monkeypatch)


def test_without_h5py_or_isal_the_digest_is_netcdf4s(tmp_path, monkeypatch):
    path = tmp_path / "hand.nc"
    _hand_made(path)
    want = _slow_digest(path, monkeypatch)
    monkeypatch.setitem(sys.modules, "isal", None)  # import isal raises ImportError
    assert content_sha256(path) == want


def test_a_file_rewritten_shuffled_keeps_its_digest_read_by_netcdf4(tmp_path, monkeypatch):
    if shutil.which("nccopy") is None:
        pytest.fail("nccopy (netCDF-C) is needed to rewrite a run at another compression")
    run_dir = _store_run(tmp_path)
    src = run_dir / "results.nc"
    copy = tmp_path / "shuffled.nc"
    subprocess.run(["nccopy", "-d", "4", "-s", str(src), str(copy)], check=True)
    fast, taken = _chunk_read(copy, monkeypatch)
    assert "y" not in taken  # shuffled: netCDF4 reads it
    assert fast == content_sha256(src)


def _same_reads(fast, slow, names):
    """``fast`` and ``slow`` hold the same data, encodings and attributes, and index alike."""
    xr.testing.assert_identical(fast.load(), slow.load())
    assert list(fast.variables) == list(slow.variables)
    for k in slow.variables:  # repr: a NaN _FillValue is not == itself
        assert repr(fast[k].encoding) == repr(slow[k].encoding) and repr(fast[k].attrs) == repr(slow[k].attrs), k


def _indexing_alike(fast, slow, names, dim):
    n = slow.sizes[dim]
    for name in names:
        for sel in (slice(3, 17), 2, -1, slice(None, None, 7), slice(None, None, -3), [1, 4, 9],
                    slice(n - 5, None), slice(4, 4), slice(n - 1, n + 10)):
            np.testing.assert_array_equal(fast[name].isel({dim: sel}).values, slow[name].isel({dim: sel}).values,
                                          err_msg=f"{name}[{sel}]")


@pytest.mark.parametrize("precision, failures", [(None, False), ("float32", True)])
def test_a_run_opened_for_the_analysis_reads_its_chunks_and_gives_what_netcdf4_gives(tmp_path, precision,
                                                                                   failures):
    run_dir = _store_run(tmp_path, precision, allow_failures=failures)
    with _open(run_dir) as fast, open_run(run_dir) as slow:
        chunked = {k for k, v in fast.variables.items() if isinstance(_backend(v), _ChunkArray)}
        assert {"y", "high", "hot", "count", "path", "x1", "matrix"} <= chunked
        assert fast.encoding == slow.encoding
        _indexing_alike(fast, slow, ["y", "hot", "path", "x1", "status" if failures else "count"], "sample")
        _same_reads(fast, slow, list(slow.variables))


def _backend(variable):
    """The backend array under xarray's lazy indexing and CF decoding wrappers."""
    data = variable._data
    while hasattr(data, "array"):
        data = data.array
    return data


def test_a_file_the_store_did_not_write_opens_alike_each_variable_by_the_path_it_allows(tmp_path):
    path = tmp_path / "hand.nc"
    _hand_made(path)
    with xr.open_dataset(_ChunkStore.open_chunked(path), cache=False) as fast, \
            xr.open_dataset(path, cache=False) as slow:
        assert {k for k, v in fast.variables.items() if isinstance(_backend(v), _ChunkArray)} == {"padded", "whole"}
        _indexing_alike(fast, slow, ["padded", "short", "shuffled"], "sample")
        _indexing_alike(fast, slow, ["holes", "whole", "split", "plain", "big"], "fixed")
        np.testing.assert_array_equal(fast["whole"][5:9, 2:5].values, slow["whole"][5:9, 2:5].values)
        _same_reads(fast, slow, list(slow.variables))
