"""Per-sample and external-command models: the toolkit's paths against EMA Workbench's.

One model, ``y = 3 x1 + x2`` on two uniform inputs, is evaluated on the same number of
samples four ways, each timed from sampling to the outputs in memory (no analysis, no
files kept):

- ``mcsens per-sample``: ``vectorized = false``, the toolkit's loop over each chunk
  (:class:`study.adapters.PerSample`) through :func:`study.evaluate.evaluate_chunk`;
- ``EMA per-sample``: EMA Workbench 2.5.3's ``SequentialEvaluator.perform_experiments`` on
  the same Python function (Latin hypercube scenarios);
- ``mcsens command``: the model as a Python script run once per chunk of ``--chunk`` samples
  on a CSV file (:class:`study.adapters.external.ExternalCommand`);
- ``EMA command``: the same script run by ``subprocess`` once per sample inside an EMA
  model function, which is how EMA's users connect a program EMA has no connector for.

Prints seconds, microseconds per sample and the ratios EMA / mcsens measured in one run.

Run: ``python benchmarks/bench_models.py [--samples 2000] [--command-samples 200] [--chunk 256]``
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")

import numpy as np  # noqa: E402

from study import load_study  # noqa: E402
from study.evaluate import chunk_ranges, evaluate_chunk  # noqa: E402
from study.sampling import make_design  # noqa: E402

SCRIPT = """\
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
with open(sys.argv[2], "w") as f:
    f.write("y\\n" + "".join(repr(3 * float(r["x1"]) + float(r["x2"])) + "\\n" for r in rows))
"""

MODULE = """\
def one(x1, x2):
    return {"y": 3 * x1 + x2}
"""

STUDY = """\
[study]
name = "bench_models"
{model}

[sampling]
method = "latin"
samples = {n}
seed = 1
chunk_rows = {chunk}

[analysis]
methods = ["delta"]

[parameters.x1]
distribution = "uniform"
low = 0.0
high = 1.0

[parameters.x2]
distribution = "uniform"
low = 0.0
high = 1.0
"""


def _mcsens(folder: Path, model: str, n: int, chunk: int) -> float:
    path = folder / "bench.toml"
    path.write_text(STUDY.format(model=model, n=n, chunk=chunk))
    study = load_study(path)
    start = time.perf_counter()
    design = make_design(study)
    for b0, b1 in chunk_ranges(design.n_blocks, study.sampling.chunk_rows):
        ds = evaluate_chunk(study, design, b0, b1, model_ref=study.model, study_dir=str(folder))
        assert np.isfinite(ds.y.values).all()
    return time.perf_counter() - start


def _ema(function, n: int) -> float:
    from ema_workbench import Model, RealParameter, ScalarOutcome, SequentialEvaluator, ema_logging

    ema_logging.log_to_stderr(logging.WARNING)
    model = Model("bench", function=function)
    model.uncertainties = [RealParameter("x1", 0.0, 1.0), RealParameter("x2", 0.0, 1.0)]
    model.outcomes = [ScalarOutcome("y")]
    start = time.perf_counter()
    with SequentialEvaluator(model) as evaluator:
        _, outcomes = evaluator.perform_experiments(scenarios=n)
    assert np.isfinite(outcomes["y"]).all()
    return time.perf_counter() - start


def _line(name: str, seconds: float, n: int) -> None:
    print(f"{name:<20} {n:>6} samples  {seconds:8.3f} s  {1e6 * seconds / n:10.1f} us/sample")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--command-samples", type=int, default=200)
    ap.add_argument("--chunk", type=int, default=256)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-models-") as tmp:
        folder = Path(tmp)
        (folder / "one.py").write_text(MODULE)
        (folder / "cmd.py").write_text(SCRIPT)
        sys.path.insert(0, str(folder))
        from one import one

        n, m = args.samples, args.command_samples
        ours = _mcsens(folder, 'model = "one:one"\nvectorized = false', n, args.chunk)
        theirs = _ema(one, n)

        def shell(x1, x2):  # EMA: one process per sample
            (folder / "in.csv").write_text(f"sample,x1,x2\n0,{float(x1)!r},{float(x2)!r}\n")
            subprocess.run([sys.executable, "cmd.py", "in.csv", "out.csv"], cwd=folder, check=True)
            return {"y": float((folder / "out.csv").read_text().split()[1])}

        command = f'model = {{ command = ["{sys.executable}", "cmd.py", "{{inputs}}", "{{outputs}}"] }}'
        ours_cmd = _mcsens(folder, command, m, args.chunk)
        theirs_cmd = _ema(shell, m)
    _line("mcsens per-sample", ours, n)
    _line("EMA per-sample", theirs, n)
    _line("mcsens command", ours_cmd, m)
    _line("EMA command", theirs_cmd, m)
    print(f"per-sample: EMA / mcsens = {theirs / ours:.2f}; command: EMA / mcsens = {theirs_cmd / ours_cmd:.2f}")


if __name__ == "__main__":
    main()
