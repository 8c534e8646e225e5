"""Bytes per sample and write time of each way of storing a run, and what a SIGKILL leaves.

Evaluates ``--regions`` chunks of the flagship's default run (``--blocks`` base rows each,
all replicates) once, then stores them with each option, alternately in one process (best
of ``--repeat``), so a busy machine slows all of them alike:

- **chunks + combine**: the store before issue 17's one-write work: each chunk to its own
  plain netCDF file, then every sample rewritten, deflated, into one file at seal;
- **one write, float64 deflate** (the default, :class:`study.store.ResultsStore`: whole HDF5
  chunks written by h5py, deflated by ISA-L), and the same with ``[storage] precision =
  "float32"`` and with no compression;
- **netCDF4's write** of the same, float64 and float32 (``store.DIRECT_CHUNKS = False``: HDF5's
  own deflate filter, zlib level 1, the store's write before the direct chunks);
- **one write, h5netcdf**: the same regions written through h5netcdf instead of netCDF4-python,
  if h5netcdf is importable (it is not a dependency: it is measured to choose between them).

Then a design smaller than a region (``--small`` blocks, a variant run's size, in regions of
``--small-region``) is stored with HDF5 chunks sized for the design (the default) and, as
before, for a whole region (mostly fill, deflated all the same).

Then ``--kills`` times, a writer process storing regions is SIGKILLed at a random moment and
the partial file it leaves is checked as a resume checks it: does it open, and do its
recorded regions still hash to their records?

Run: ``python benchmarks/bench_storage.py [--blocks 128] [--regions 4] [--repeat 2] [--kills 50]``
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import xarray as xr

from study import load_study, store
from study.evaluate import evaluate_chunk
from study.sampling import make_design
from study.spec import DEFAULT_STUDY


def _store(folder: Path, chunks, block_size: int, blocks: int, precision="float64", flags=()):
    with store.ResultsStore(folder, "sobol", "results.nc", block_size=block_size, region_blocks=blocks,
                            attrs={"study": "bench"}, flags=flags, precision=precision) as st:
        for b0, ds in chunks:
            st.write(b0, b0 + blocks, ds)
        return st.seal()


def _chunks_then_combine(folder: Path, chunks, _block_size, _blocks, **_):
    files = []
    for b0, ds in chunks:
        files.append(folder / f"chunk-{b0:06d}.nc")
        ds.to_netcdf(files[-1])
    out = folder / "results.nc"
    with xr.open_mfdataset(files, combine="nested", concat_dim="sample", data_vars="minimal", coords="minimal",
                           compat="override", join="override", chunks={}) as ds:
        enc = {k: {**store.COMPRESSION, "chunksizes": (min(1 << 16, v.shape[0]), *v.shape[1:])}
               for k, v in ds.variables.items() if "sample" in v.dims}
        ds.to_netcdf(out, encoding=enc)
    for f in files:
        f.unlink()
    return out


def _h5netcdf(folder: Path, chunks, block_size: int, blocks: int, **_):
    import h5netcdf

    out = folder / "results.nc"
    first = chunks[0][1]
    template = first.isel(sample=slice(0, 0))
    enc = {k: {"zlib": True, "complevel": 1, "shuffle": False,
               "chunksizes": (blocks * block_size, *v.shape[1:])}
           for k, v in template.variables.items() if "sample" in v.dims}
    template.to_netcdf(out, engine="h5netcdf", encoding=enc, unlimited_dims=["sample"])
    names = [k for k, v in first.variables.items() if "sample" in v.dims]
    with h5netcdf.File(out, "r+") as f:
        for b0, ds in chunks:
            s0, s1 = b0 * block_size, (b0 + blocks) * block_size
            f.resize_dimension("sample", max(s1, f.dimensions["sample"].size))
            for k in names:
                f.variables[k][s0:s1] = ds[k].values
            f.flush()
    return out


def _options(flags) -> dict:
    opts = {
        "chunks + combine (before)": (_chunks_then_combine, {}),
        "one write, float64 deflate (default)": (_store, {"flags": flags}),
        "one write, float32 deflate": (_store, {"flags": flags, "precision": "float32"}),
        "one write, float64, netCDF4's zlib": (_store, {"flags": flags, "direct": False}),
        "one write, float32, netCDF4's zlib": (_store, {"flags": flags, "precision": "float32", "direct": False}),
        "one write, no compression": ("plain", {"flags": flags}),
    }
    try:
        import h5netcdf  # noqa: F401

        opts["one write, h5netcdf, float64 deflate"] = (_h5netcdf, {})
    except ImportError:
        pass
    return opts


def _run(option, folder, chunks, block_size, blocks):
    fn, kw = option
    if "direct" in kw:
        kw = dict(kw)
        saved, store.DIRECT_CHUNKS = store.DIRECT_CHUNKS, kw.pop("direct")
        try:
            return fn(folder, chunks, block_size, blocks, **kw)
        finally:
            store.DIRECT_CHUNKS = saved
    if fn == "plain":
        saved, store.COMPRESSION = store.COMPRESSION, {}
        try:
            return _store(folder, chunks, block_size, blocks, **kw)
        finally:
            store.COMPRESSION = saved
    return fn(folder, chunks, block_size, blocks, **kw)


def small_design(chunk, block_size: int, region: int, repeat: int) -> dict:
    """Processor time and bytes per sample of one region shorter than ``region`` blocks."""
    b1 = chunk.sizes["sample"] // block_size
    best = {}
    for _ in range(repeat):
        for label, blocks, direct in (("chunks sized for the design (now)", None, True),
                                      ("sized for the design, netCDF4's zlib", None, False),
                                      ("chunks sized for a region (before)", region, False)):
            saved, saved_direct = store.ResultsStore._chunk_blocks, store.DIRECT_CHUNKS
            store.DIRECT_CHUNKS = direct
            if blocks is not None:
                store.ResultsStore._chunk_blocks = lambda self, b0, b1: self.region_blocks
            try:
                with tempfile.TemporaryDirectory() as tmp:
                    c0 = time.process_time()
                    with store.ResultsStore(tmp, "sobol", "results.nc", block_size=block_size, region_blocks=region,
                                            attrs={"study": "bench"}) as st:
                        st.write(0, b1, chunk)
                        path = st.seal()
                    cpu = time.process_time() - c0
                    size = path.stat().st_size
            finally:
                store.ResultsStore._chunk_blocks, store.DIRECT_CHUNKS = saved, saved_direct
            best[label] = (min(cpu, best.get(label, (float("inf"),))[0]), size / chunk.sizes["sample"])
    return best


def _float32_error(path: Path, chunks) -> float:
    """Largest relative error of the float32-stored outputs against the float64 evaluated."""
    truth = xr.concat([ds for _, ds in chunks], dim="sample", data_vars="minimal", coords="minimal", compat="override",
                      join="override")
    worst = 0.0
    with xr.open_dataset(path) as back:
        for name, var in truth.data_vars.items():
            if back[name].attrs.get("storage") == "float32":
                got, want = back[name].values.astype(np.float64), var.values
                rel = np.abs(got - want) / np.maximum(np.abs(want), np.finfo(np.float32).tiny)
                worst = max(worst, float(np.nanmax(rel)))
    return worst


WRITER = r'''
import sys
import numpy as np, xarray as xr
from study import store
folder, rows = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(0)
with store.ResultsStore(folder, "sobol", "results.nc", block_size=rows, region_blocks=1, attrs={}) as st:
    for b0 in range(10_000):
        ds = xr.Dataset({f"y{k}": ("sample", rng.random(rows), {"role": "output"}) for k in range(8)},
                        coords={"sample": np.arange(b0 * rows, (b0 + 1) * rows)})
        ds["w"] = (("sample", "t"), rng.random((rows, 16)), {"role": "output"})
        st.write(b0, b0 + 1, ds)
        print(b0, flush=True)
'''


def kill_writers(times: int, rows: int = 20_000, seed: int = 1) -> tuple[int, int, int, int]:
    """SIGKILL a region writer ``times`` times at random moments; check what it left.

    Returns
    -------
    tuple of int
        Partial files that could not be opened, recorded regions in all, regions that failed
        their checksum, and kills that landed before the file existed.
    """
    rng = random.Random(seed)
    unopenable = regions = failed = early = 0
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                                         os.environ.get("PYTHONPATH", "")])}
    for _ in range(times):
        with tempfile.TemporaryDirectory() as tmp:
            proc = subprocess.Popen([sys.executable, "-c", WRITER, tmp, str(rows)], env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            proc.stdout.readline()  # the first region is written: the import time is not sampled
            time.sleep(rng.uniform(0.0, 1.5))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            st = store.ResultsStore(tmp, "sobol", "results.nc", block_size=rows, region_blocks=1, attrs={})
            if not st.path.exists():
                early += 1
                continue
            good, notes = st.resume([(b, b + 1) for b in range(10_000)])
            st.close()
            if any("cannot be opened" in n for n in notes):
                unopenable += 1
                continue
            regions += len(good) + len(notes)
            failed += len(notes)
    return unopenable, regions, failed, early


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=128, help="base rows per chunk")
    parser.add_argument("--regions", type=int, default=4, help="chunks stored")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--small", type=int, default=64, help="blocks of the design smaller than a region")
    parser.add_argument("--small-region", type=int, default=512, help="blocks per region for --small")
    args = parser.parse_args(argv)
    study = load_study(DEFAULT_STUDY)
    design = make_design(study)
    where = str(study.path.resolve().parent)
    chunks = [(b0, evaluate_chunk(study, design, b0, b0 + args.blocks, model_ref=study.model, study_dir=where))
              for b0 in range(0, args.regions * args.blocks, args.blocks)]
    n = sum(ds.sizes["sample"] for _, ds in chunks)
    options = _options(study.analysis.headline)
    best = {k: [float("inf"), float("inf"), 0] for k in options}
    err = None
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeat):
            for name, option in options.items():  # alternately: load changes hit all of them
                folder = Path(tmp) / "run"
                folder.mkdir()
                t0, c0 = time.perf_counter(), time.process_time()
                path = _run(option, folder, chunks, design.block_size, args.blocks)
                elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
                best[name] = [min(best[name][0], elapsed), min(best[name][1], cpu), path.stat().st_size]
                if "float32" in name:
                    err = _float32_error(path, chunks)
                for f in folder.iterdir():
                    f.chmod(0o644)
                    f.unlink()
                folder.rmdir()
    print(f"{platform.node()}: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    print(f"{args.regions} flagship chunks of {args.blocks} blocks: {n:,} samples, {len(chunks[0][1].variables)} "
          f"variables; best of {args.repeat}")
    before = best["chunks + combine (before)"]
    for name, (t, cpu, size) in best.items():
        print(f"  {name:<38}{size / n:8.1f} bytes/sample  write {1e6 * t / n:6.2f} µs/sample "
              f"({t:6.2f} s, {before[0] / t:4.2f}x the before; CPU {cpu:6.2f} s)")
    if err is not None:
        print(f"  float32: largest relative error on the flagship's outputs {err:.3e} "
              f"(bound 2^-24 = {2.0 ** -24:.3e})")
    if args.small:
        small = chunks[0][1].isel(sample=slice(0, min(args.small, args.blocks) * design.block_size))
        print(f"a design of {small.sizes['sample'] // design.block_size} blocks, regions of {args.small_region} "
              f"(processor time, best of {args.repeat}):")
        for label, (cpu, size) in small_design(small, design.block_size, args.small_region, args.repeat).items():
            print(f"  {label:<38}{size:8.1f} bytes/sample  write {cpu:6.2f} s")
    if args.kills:
        t0 = time.perf_counter()
        unopenable, regions, failed, early = kill_writers(args.kills)
        print(f"SIGKILL at a random moment, {args.kills} times ({time.perf_counter() - t0:.0f} s, load average "
              f"{os.getloadavg()[0]:.2f}): {unopenable} partial files could not be opened; of {regions} recorded "
              f"regions in the others, {failed} failed their checksum; {early} kills before the file existed")


if __name__ == "__main__":
    main()
