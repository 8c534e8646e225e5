"""Independent draws of a run and reading a variable at them, block by block."""

import json

import numpy as np
import pytest
import xarray as xr

from analysis import draws
from analysis.draws import iid_rows, read_rows


def _saltelli_like(n_rows=7, status=None):
    labels = ["A", "AB:x1", "AB:x2", "B"]
    m = len(labels)
    n = n_rows * m
    ds = xr.Dataset(
        {"y": (("sample", "actor"), np.arange(3 * n, dtype=float).reshape(n, 3)),
         "x1": ("sample", np.arange(n) / n)},
        coords={"matrix": ("sample", np.tile(np.arange(m), n_rows)), "actor": ["us", "eu", "ap4"]},
        attrs={"matrix_labels": json.dumps(labels)})
    if status is not None:
        ds["status"] = ("sample", np.asarray(status, np.int8))
    return ds


@pytest.mark.parametrize("block_bytes", [8, 40, draws.BLOCK_BYTES])
def test_iid_rows_are_the_a_and_b_rows_without_failures(monkeypatch, block_bytes):
    monkeypatch.setattr(draws, "BLOCK_BYTES", block_bytes)  # blocks of 1, 5 and all samples
    status = np.zeros(28)
    status[[3, 4, 9]] = 1  # a B row, an A row and an AB row fail
    keep = np.flatnonzero(iid_rows(_saltelli_like(status=status)))
    expected = [0, 7, 8, 11, 12, 15, 16, 19, 20, 23, 24, 27]  # A at 4k, B at 4k+3; 3 and 4 failed
    assert keep.tolist() == expected


@pytest.mark.parametrize("block_bytes", [8, 24, 100, draws.BLOCK_BYTES])
def test_read_rows_equals_fancy_indexing_in_any_block_size(monkeypatch, block_bytes, tmp_path):
    monkeypatch.setattr(draws, "BLOCK_BYTES", block_bytes)
    ds = _saltelli_like()
    ds.to_netcdf(tmp_path / "r.nc")
    with xr.open_dataset(tmp_path / "r.nc", cache=False) as lazy:
        pos = np.array([0, 3, 4, 13, 27])
        np.testing.assert_array_equal(read_rows(lazy["y"], pos), ds["y"].values[pos])
        np.testing.assert_array_equal(read_rows(lazy["y"].transpose("actor", "sample"), pos), ds["y"].values[pos])
        np.testing.assert_array_equal(read_rows(lazy["x1"], pos[:2]), ds["x1"].values[[0, 3]])
        assert read_rows(lazy["x1"], np.array([], int)).shape == (0,)


def test_read_rows_refuses_unsorted_positions():
    with pytest.raises(ValueError, match="^positions must be strictly increasing$"):
        read_rows(_saltelli_like()["x1"], np.array([3, 1]))


def test_select_rows_is_isel_read_lazily_block_by_block(monkeypatch, tmp_path):
    from analysis.draws import select_rows

    monkeypatch.setattr(draws, "BLOCK_BYTES", 24)
    ds = _saltelli_like().assign_coords(sample=np.arange(28) + 100)
    ds["z"] = (("actor", "sample"), ds["y"].values.T.copy(), {"label": "z"})
    ds.to_netcdf(tmp_path / "r.nc")
    with xr.open_dataset(tmp_path / "r.nc", cache=False) as lazy:
        pos = np.flatnonzero(iid_rows(lazy))
        picked = select_rows(lazy, pos)
        assert picked["y"].chunks is not None  # nothing read until used
        xr.testing.assert_identical(picked.load(), lazy.isel(sample=pos).load())
