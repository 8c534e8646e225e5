"""Dask speed-up: ``study run --workers 2`` against in-process evaluation, model costing ~1 ms per sample.

The model is ``benchmarks/slow_model.py``. With ``--kind cpu`` (default) it is vectorized
and CPU-bound (see its docstring for why not a ``sleep``); its constant ``work`` is
calibrated here so that one sample costs about ``--ms`` milliseconds on this machine. A
speed-up needs free cores, so a reference line times the same chunks as bare
``client.map`` calls against a serial loop: what the machine allows at that moment, with no
toolkit in the way. With ``--kind sleep`` the model waits ``--ms`` per sample instead,
which isolates the toolkit's scheduling overhead from the cores' availability. The study is a Sobol' design over its three
parameters (first and total order, 8 replicates); the same study file is run in this
process and on a local dask cluster of 2 single-threaded worker processes, at equal N,
and the two results must be identical. Prints the evaluation time (from each run's
manifest) and the end-to-end time of ``run_study`` (cluster start-up included), and the
speed-ups.

With a cluster, ``study run`` sends every chunk to the workers, at most two per worker in
flight, and writes each result as it arrives; so with ``K`` chunks on ``W`` workers the
ideal speed-up is ``K / ceil(K / W)``: 2x for the default 8 chunks on 2 workers. Before
that it evaluates one design block in its own process (the probe that makes a broken model
fail before a run directory exists), which both runs pay. Speed-ups are ratios of
evaluated samples per second.

Run: ``python benchmarks/bench_dask.py [--log2n 12] [--ms 1.0] [--workers 2] [--chunks 8] [--kind cpu|sleep]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import xarray as xr

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ.setdefault("TQDM_DISABLE", "1")

import slow_model  # noqa: E402
from mcsens import run_study  # noqa: E402

STUDY = """\
[study]
name = "slow_model"
model = "slow_model:evaluate"
description = "Ishigami function with a calibrated per-sample cost (dask benchmark)"

[sampling]
method = "sobol"
samples = {n}
seed = 7
second_order = false
replicates = 8
chunk_rows = {chunk_rows}

[analysis]
methods = ["sobol"]

[constants]
work = {work}
sleep = {sleep}

[parameters.x1]
distribution = "uniform"
low = -3.141592653589793
high = 3.141592653589793

[parameters.x2]
distribution = "uniform"
low = -3.141592653589793
high = 3.141592653589793

[parameters.x3]
distribution = "uniform"
low = -3.141592653589793
high = 3.141592653589793
"""


def calibrate(ms: float, n: int = 2000) -> tuple[int, float]:
    """Steps of the recurrence that make one sample cost ``ms`` milliseconds; and the cost measured."""
    rng = np.random.default_rng(0)
    x = xr.Dataset({k: ("sample", rng.uniform(-3, 3, n)) for k in ("x1", "x2", "x3")})

    def per_sample(work):
        t0 = time.perf_counter()
        slow_model.evaluate(x.assign(work=work))
        return (time.perf_counter() - t0) / n * 1e3

    work = 2000
    for _ in range(2):  # the second pass corrects the first's warm-up and call overhead
        work = max(1, round(work * ms / per_sample(work)))
    return work, min(per_sample(work) for _ in range(2))


def bare_dask(work: float, sleep: float, chunk: int, chunks: int, workers: int) -> float:
    """Speed-up of ``client.map`` over a serial loop on the same ``chunks`` inputs."""
    from distributed import Client, LocalCluster

    rng = np.random.default_rng(1)
    xs = [xr.Dataset({k: ("sample", rng.uniform(-3, 3, chunk)) for k in ("x1", "x2", "x3")})
          .assign(work=work, sleep=sleep) for _ in range(chunks)]
    t0 = time.perf_counter()
    for x in xs:
        slow_model.evaluate(x)
    serial = time.perf_counter() - t0
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        client.run(lambda: None)  # workers up before the clock starts
        t0 = time.perf_counter()
        client.gather(client.map(slow_model.evaluate, xs, pure=False))
        return serial / (time.perf_counter() - t0)


def timed_run(study_file: Path, out: Path, workers: int | None) -> tuple[float, dict, Path]:
    t0 = time.perf_counter()
    run_dir = run_study(study_file, out=out, workers=workers, figures=False, appendix=False)
    wall = time.perf_counter() - t0
    return wall, json.loads((run_dir / "manifest.json").read_text()), run_dir


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log2n", type=int, default=12)
    parser.add_argument("--ms", type=float, default=1.0, help="target model cost per sample (ms)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunks", type=int, default=8, help="number of evaluation chunks")
    parser.add_argument("--kind", choices=("cpu", "sleep"), default="cpu")
    args = parser.parse_args(argv)
    work, cost = calibrate(args.ms) if args.kind == "cpu" else (0, args.ms)
    tmp = Path(tempfile.mkdtemp(prefix="bench-dask-"))
    try:
        shutil.copy(HERE / "slow_model.py", tmp / "slow_model.py")
        study_file = tmp / "slow_model.toml"
        blocks = 2**args.log2n // 8  # one block = one base row of each of the 8 replicates
        chunk_rows = -(-blocks // args.chunks)
        study_file.write_text(STUDY.format(n=2**args.log2n, chunk_rows=chunk_rows, work=work,
                                           sleep=args.ms / 1e3 if args.kind == "sleep" else 0.0))
        local_wall, local, local_dir = timed_run(study_file, tmp / "runs", None)
        dask_wall, dist, dask_dir = timed_run(study_file, tmp / "runs", args.workers)
        with xr.open_dataset(local_dir / "results.nc") as a, xr.open_dataset(dask_dir / "results.nc") as b:
            n_local, n_dask = a.sizes["sample"], b.sizes["sample"]
            identical = n_local == n_dask and bool(np.array_equal(a["y"].values, b["y"].values))
        chunks = -(-blocks // chunk_rows)
        ideal = chunks / -(-chunks // args.workers)
        print(f"model cost {cost:.2f} ms per sample (work = {work} steps), N = 2^{args.log2n}, "
              f"{n_local:,} model runs in {chunks} chunks; dask results identical: {identical}")
        if n_dask != n_local:
            print(f"  WARNING: the dask run's results.nc holds {n_dask:,} of {n_local:,} samples although its "
                  f"manifest says {dist['samples']['runs_completed']:,} completed and status {dist['status']!r}")
        le, de = local["timings"]["evaluation_s"], dist["timings"]["evaluation_s"]
        print(f"  {'':<22}{'evaluation s':>13}{'run_study s':>13}")
        print(f"  {'in process':<22}{le:>13.1f}{local_wall:>13.1f}")
        print(f"  {f'dask, {args.workers} workers':<22}{de:>13.1f}{dask_wall:>13.1f}")
        print(f"  {'speed-up':<22}{(n_dask / de) / (n_local / le):>12.2f}x{(n_dask / dask_wall) / (n_local / local_wall):>12.2f}x"
              f"   (ideal with {chunks} chunks {ideal:.2f}x; model alone {n_local * cost / 1e3:.1f} s)")
        ref = bare_dask(work, args.ms / 1e3 if args.kind == "sleep" else 0.0, n_local // chunks,
                        2 * args.workers, args.workers)
        print(f"  reference: bare client.map of {2 * args.workers} such chunks against a serial loop: {ref:.2f}x "
              f"(ideal {args.workers}x; load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
