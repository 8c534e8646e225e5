"""``study export``: a run's independent draws as one tidy table for R, Stata or a spreadsheet.

One row per independent, successfully evaluated draw (a Saltelli design's A and B rows;
a Latin or Morris design whole), one column per input and output. An output with an extra
dimension (``actor``, ``phase``) becomes one column per coordinate, ``name[coordinate]``.
The labels, units and descriptions go beside the data: a ``<stem>.variables.csv`` codebook
for CSV, the column metadata of the Parquet schema for Parquet (which needs ``pyarrow``,
the optional extra ``mcsens[parquet]``).
"""

from __future__ import annotations

import csv
from pathlib import Path

from study.errors import StudyError

FORMATS = ("csv", "parquet")


def _units(attrs) -> str:
    return str(attrs.get("units", attrs.get("unit", "")))  # inputs said "unit" before CF names


def draws_table(run_dir: Path):
    """The independent draws of ``results.nc`` as a DataFrame, and a codebook of its columns.

    Returns
    -------
    (pandas.DataFrame, list of dict)
        The table (index ``sample``) and, per column, ``name``, ``role``, ``label``,
        ``units`` and ``description``.
    """
    import numpy as np
    import pandas as pd
    import xarray as xr

    from analysis.draws import iid_rows, select_rows

    with xr.open_dataset(run_dir / "results.nc") as ds:
        positions = np.flatnonzero(iid_rows(ds))
        picked = select_rows(ds[[v for v in ds.data_vars if "sample" in ds[v].dims]], positions)
        columns, book = {}, []
        for name, da in picked.data_vars.items():
            role = da.attrs.get("role", "")
            if role not in ("input", "output"):
                continue  # status flags and bookkeeping stay in the netCDF
            entry = {"role": role, "label": str(da.attrs.get("label", "")), "units": _units(da.attrs),
                     "description": str(da.attrs.get("description", ""))}
            for col, values in _flatten(name, da):
                columns[col] = values
                book.append({"name": col, **entry})
        table = pd.DataFrame(columns, index=pd.Index(picked["sample"].values, name="sample"))
    return table, book


def _flatten(name: str, da):
    extra = [d for d in da.dims if d != "sample"]
    if not extra:
        yield name, da.values
        return
    stacked = da.stack(_cell=extra).transpose("sample", "_cell")
    for i, cell in enumerate(stacked["_cell"].values):
        key = ",".join(str(c) for c in (cell if isinstance(cell, tuple) else (cell,)))
        yield f"{name}[{key}]", stacked.values[:, i]


def export_run(run_dir, fmt: str = "csv", out=None) -> Path:
    """Write a run's independent draws as CSV (with a codebook) or Parquet.

    Parameters
    ----------
    run_dir : str or pathlib.Path
        A complete run directory.
    fmt : {"csv", "parquet"}
    out : path, optional
        File to write (default: ``<run_dir>/draws.csv`` or ``draws.parquet``).

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    StudyError
        The run has no ``results.nc`` yet, or Parquet is asked for without ``pyarrow``.
    """
    run_dir = Path(run_dir)
    if fmt not in FORMATS:
        raise StudyError("--format", "", f"must be one of {', '.join(FORMATS)}; got {fmt!r}")
    if not (run_dir / "results.nc").is_file():
        raise StudyError(run_dir, "", "must be a run that has finished evaluating (it holds results.nc); "
                                      "got a run without results.nc, nothing to export")
    if fmt == "parquet":
        import importlib.util

        if importlib.util.find_spec("pyarrow") is None:  # checked before the table is built
            raise StudyError("--format", "", "must be csv unless pyarrow is installed (pip install "
                                             "'mcsens[parquet]'); got 'parquet'")
    out = Path(out) if out is not None else run_dir / f"draws.{fmt}"
    table, book = draws_table(run_dir)
    if fmt == "csv":
        tmp = out.with_name(out.name + ".part")
        table.to_csv(tmp)
        tmp.replace(out)  # a half-written export never looks whole
        _write_codebook(out.with_suffix(".variables.csv"), book)
    else:
        _write_parquet(out, table, book)
    return out


def _write_codebook(path: Path, book: list[dict]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["name", "role", "label", "units", "description"])
        w.writeheader()
        w.writerows(book)


def _write_parquet(path: Path, table, book: list[dict]) -> None:
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow = pa.Table.from_pandas(table)
    meta = {b["name"]: b for b in book}
    fields = [f.with_metadata({k: str(v) for k, v in meta[f.name].items()}) if f.name in meta else f
              for f in arrow.schema]
    schema = pa.schema(fields, metadata={**(arrow.schema.metadata or {}), b"mcsens": json.dumps(book).encode()})
    tmp = path.with_name(path.name + ".part")
    pq.write_table(arrow.cast(schema), tmp)
    tmp.replace(path)
