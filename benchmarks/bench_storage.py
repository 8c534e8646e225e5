"""Bytes per sample and write time of each way of storing a run, on one flagship chunk.

Evaluates one chunk of the flagship's default run (``--blocks`` base rows, all replicates)
and writes it with each storage option, alternately (best of ``--repeat``): uncompressed
float64 (the store before issue 17), deflate level 1 (the default, ``study.store.COMPRESSION``),
deflate with the shuffle filter, deflate level 4, and float32 with deflate. Prints bytes
per sample, write and read times, and the largest relative error of float32.

Run: ``python benchmarks/bench_storage.py [--blocks 512] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import xarray as xr

from study import load_study
from study.evaluate import evaluate_chunk
from study.sampling import make_design
from study.spec import DEFAULT_STUDY
from study.store import storage_encoding

OPTIONS = {
    "float64, uncompressed": {},
    "float64, deflate 1 (default)": {"zlib": True, "complevel": 1, "shuffle": False},
    "float64, deflate 1 + shuffle": {"zlib": True, "complevel": 1, "shuffle": True},
    "float64, deflate 4 + shuffle": {"zlib": True, "complevel": 4, "shuffle": True},
    "float32, deflate 1 + shuffle": {"zlib": True, "complevel": 1, "shuffle": True, "dtype": "float32"},
}


def encoding(ds: xr.Dataset, option: dict) -> dict:
    out = {}
    for name, enc in storage_encoding(ds).items():
        e = {k: v for k, v in option.items() if k != "dtype"}
        if e:
            e["chunksizes"] = enc["chunksizes"]
        if option.get("dtype") and ds[name].dtype == np.float64:
            e["dtype"] = option["dtype"]
        out[name] = e
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    study = load_study(DEFAULT_STUDY)
    design = make_design(study)
    blocks = args.blocks or study.sampling.chunk_rows
    ds = evaluate_chunk(study, design, 0, blocks, model_ref=study.model, study_dir=str(study.path.resolve().parent))
    n = ds.sizes["sample"]
    print(f"{platform.node()}: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    print(f"one flagship chunk: {n:,} samples, {len(ds.data_vars)} variables; best of {args.repeat}")
    best = {k: [float("inf"), float("inf"), 0] for k in OPTIONS}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeat):
            for name, option in OPTIONS.items():
                path = Path(tmp) / "chunk.nc"
                t0 = time.perf_counter()
                ds.to_netcdf(path, encoding=encoding(ds, option))
                t1 = time.perf_counter()
                with xr.open_dataset(path) as back:
                    back.load()
                t2 = time.perf_counter()
                best[name] = [min(best[name][0], t1 - t0), min(best[name][1], t2 - t1), path.stat().st_size]
                if option.get("dtype") == "float32":
                    with xr.open_dataset(path) as back:
                        err = max(float(np.nanmax(np.abs(back[v].values - ds[v].values) /
                                                  np.maximum(np.abs(ds[v].values), np.finfo(np.float32).tiny)))
                                  for v in ds.data_vars if ds[v].dtype == np.float64)
                path.unlink()
    raw = best["float64, uncompressed"][2]
    for name, (write, read, size) in best.items():
        print(f"  {name:<30}{size / n:8.1f} bytes/sample  {raw / size:5.2f}x smaller  write {write:6.2f} s  "
              f"read {read:6.2f} s")
    print(f"  float32: largest relative error {err:.2e} (2^-24 = {2.0 ** -24:.2e})")


if __name__ == "__main__":
    main()
