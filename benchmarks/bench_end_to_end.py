"""The flagship study end to end: this toolkit against EMA Workbench 2.5.3 and a plain SALib script.

All three do the same study at the same N: the flagship model and its 25 parameter
distributions, SALib 1.6's Saltelli design with second order (``N (2D + 2)`` model runs),
then first-, total- and second-order Sobol' indices with 95 % bootstrap intervals from 100
resamples for the same 8 scalar outputs (the study's ``[analysis].outputs``, the actor
dimension of ``delta_net_benefit`` split into three). The toolkit runs a temporary copy of
the flagship study file reduced to exactly that analysis (``methods = ["sobol"]``,
``ci = "bootstrap"``, ``resamples = 100``, one replicate, no groups, no headline), with no
figures or appendix; it still writes the run directory (netCDF results, indices, manifest)
and the convergence table, work the other two do not do.

- **toolkit**: ``study.run_study`` in this process (chunked, vectorized evaluation).
- **EMA**: the model behind EMA's per-experiment interface, ``f(**experiment)``: the
  adapter maps the experiment's unit-cube coordinates through the parameters' inverse CDFs
  (EMA's Sobol' sampler only knows uniform bounds), builds a one-sample Dataset, calls the
  model and returns the 8 outcomes. Run with ``SequentialEvaluator`` and with
  ``MultiprocessingEvaluator`` (2 processes), then ``SALib.analyze.sobol`` per outcome.
- **SALib script**: what a user writes with SALib alone and this vectorized model:
  ``sobol.sample``, one model call on the whole sample, ``sobol.analyze`` per outcome.

Wall times exclude interpreter start-up and imports for all three: the toolkit is warmed
up by one tiny run first (it imports its analysis modules lazily), EMA is imported before
the clock starts. Prints each time and
the ratios, and checks that EMA's and the toolkit's ``ST`` agree within their intervals'
scale (different scrambles, so not to the digit).

Run: ``python benchmarks/bench_end_to_end.py [--log2n 8 [9 ...]] [--salib-log2n 12 ...] [--skip-ema-sequential]``
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from SALib.analyze import sobol as salib_analyze
from SALib.sample import sobol as salib_sample

os.environ.setdefault("TQDM_DISABLE", "1")  # EMA's and the toolkit's progress bars

from study import load_study  # noqa: E402
from mcsens import run_study  # noqa: E402
from study.distributions import ppf  # noqa: E402
from study.models.asia_pacification import ACTORS, evaluate  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_memory import study_copy  # noqa: E402

#: Outcomes compared: scalar outputs of the study's `[analysis].outputs`, per actor where needed.
SPLIT: dict = {}  # the flagship's analysed outputs are scalars, except its war-effect path (left out)
RESAMPLES = 100

_STUDY = None  # the loaded study, for the EMA adapter (inherited by forked workers)


def outcome_names(study) -> list[str]:
    """The scalar outcome names: ``output`` or ``output__<element>`` for split outputs."""
    names = []
    for o in study.analysis.outputs:
        names += [f"{o}__{a}" for a in ACTORS] if o in SPLIT else [] if o == "nato_war_effect_path" else [o]
    return names


def scalar_outcomes(y: xr.Dataset, names) -> dict[str, np.ndarray]:
    """The model's outputs as 1-d arrays along ``sample``, one per outcome name."""
    out = {}
    for name in names:
        o, _, element = name.partition("__")
        out[name] = (y[o].sel({SPLIT[o]: element}) if element else y[o]).values
    return out


def inputs(study, u: np.ndarray, constants: dict[str, float] | None = None) -> xr.Dataset:
    """Unit-cube points (columns in sorted parameter order) as the model's input Dataset."""
    params = sorted(study.param_names)
    data = {p: ("sample", ppf(study.parameter(p).distribution, study.parameter(p).args, u[:, j]))
            for j, p in enumerate(params)}
    constants = constants if constants is not None else {c.name: c.value for c in study.constants}
    data.update({k: ((), v) for k, v in constants.items()})
    return xr.Dataset(data)


def ema_adapter(**experiment) -> dict[str, float]:
    """EMA's model interface: one experiment's unit-cube coordinates in, scalar outcomes out."""
    study = _STUDY
    params = sorted(study.param_names)
    u = np.array([[experiment[p] for p in params]])
    y = evaluate(inputs(study, u, {c.name: experiment[c.name] for c in study.constants}))
    return {k: float(v[0]) for k, v in scalar_outcomes(y, outcome_names(study)).items()}


def problem(study) -> dict:
    params = sorted(study.param_names)
    return {"num_vars": len(params), "names": params, "bounds": [[0.0, 1.0]] * len(params)}


def salib_indices(prob, outcomes: dict[str, np.ndarray], seed: int) -> dict[str, dict]:
    """SALib's Sobol' analysis of each outcome (second order, 100 bootstrap resamples)."""
    return {k: salib_analyze.analyze(prob, y, calc_second_order=True, num_resamples=RESAMPLES,
                                     conf_level=0.95, seed=seed) for k, y in outcomes.items()}


def run_toolkit(study_file: Path, n: int, out: Path) -> tuple[float, pd.DataFrame]:
    t0 = time.perf_counter()
    run_dir = run_study(study_file, samples=n, out=out, figures=False, appendix=False)
    elapsed = time.perf_counter() - t0
    table = pd.read_csv(run_dir / "indices.csv")
    return elapsed, table


def run_ema(study, n: int, processes: int | None) -> tuple[float, dict]:
    """EMA Workbench: Sobol' experiments through the per-sample adapter, then SALib."""
    from ema_workbench import (Constant, MultiprocessingEvaluator, Model, RealParameter, Samplers,
                               ScalarOutcome, SequentialEvaluator)
    from ema_workbench.em_framework.salib_samplers import get_SALib_problem

    t0 = time.perf_counter()  # after the imports: main() imports EMA before any clock
    model = Model("asiapacification", function=ema_adapter)  # EMA allows no underscore here
    model.uncertainties = [RealParameter(p, 0.0, 1.0) for p in study.param_names]
    model.constants = [Constant(c.name, c.value) for c in study.constants]
    model.outcomes = [ScalarOutcome(name) for name in outcome_names(study)]
    evaluator = SequentialEvaluator(model) if processes is None else MultiprocessingEvaluator(model, n_processes=processes)
    with evaluator:
        experiments, outcomes = evaluator.perform_experiments(scenarios=n, uncertainty_sampling=Samplers.SOBOL)
    prob = get_SALib_problem(model.uncertainties)
    indices = salib_indices(prob, outcomes, seed=study.sampling.seed)
    return time.perf_counter() - t0, indices


def run_salib_script(study, n: int) -> tuple[float, dict]:
    """SALib alone with the vectorized model: sample, one model call, analyse."""
    t0 = time.perf_counter()
    prob = problem(study)
    u = salib_sample.sample(prob, n, calc_second_order=True, seed=study.sampling.seed)
    y = evaluate(inputs(study, u))
    indices = salib_indices(prob, scalar_outcomes(y, outcome_names(study)), seed=study.sampling.seed)
    return time.perf_counter() - t0, indices


def st_gap(table: pd.DataFrame, salib: dict, study) -> tuple[float, float]:
    """Largest |ST(toolkit) - ST(SALib)| over outcomes and parameters, and the largest interval half-width."""
    params = problem(study)["names"]
    gaps, confs = [], []
    for name, si in salib.items():
        o, _, element = name.partition("__")
        rows = table[(table["method"] == "sobol") & (table["output"] == o) & (table["index"] == "ST")]
        if element:
            rows = rows[rows[SPLIT[o]] == element]
        ours = rows.set_index("param").loc[params, "value"].to_numpy()
        gaps.append(np.nanmax(np.abs(ours - si["ST"])))
        confs.append(np.nanmax(si["ST_conf"]))
    return float(np.nanmax(gaps)), float(np.nanmax(confs))


def compare_with_ema(study, study_file: Path, log2n: int, work: Path, args) -> None:
    """Time the toolkit, EMA's evaluators and the SALib script at N = 2**log2n; print the ratios."""
    n = 2**log2n
    runs = n * (2 * len(study.param_names) + 2)
    ours, table = run_toolkit(study_file, n, work / "runs")
    print(f"\nN = 2^{log2n} ({runs:,} model runs)")
    print(f"  toolkit (study run, in process)      {ours:8.1f} s")
    results = {}
    if not args.skip_ema_sequential:
        results["EMA SequentialEvaluator"] = run_ema(study, n, None)
    results[f"EMA MultiprocessingEvaluator ({args.processes})"] = run_ema(study, n, args.processes)
    results["plain SALib script"] = run_salib_script(study, n)
    for label, (t, salib) in results.items():
        gap, conf = st_gap(table, salib, study)
        print(f"  {label:<37}{t:8.1f} s   toolkit is {t / ours:6.1f}x faster   "
              f"max |ST gap| {gap:.3f} (SALib max ST half-width {conf:.3f})", flush=True)


def main(argv=None) -> None:
    global _STUDY
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log2n", type=int, nargs="+", default=[8],
                        help="N (as log2) for the comparison with EMA, one or more (default 8)")
    parser.add_argument("--salib-log2n", type=int, nargs="*", default=[12],
                        help="further N compared with the SALib script only")
    parser.add_argument("--processes", type=int, default=2, help="EMA MultiprocessingEvaluator processes")
    parser.add_argument("--skip-ema-sequential", action="store_true")
    args = parser.parse_args(argv)
    logging.getLogger("EMA").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")  # SALib and EMA warn about sample sizes and optional extras

    work = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    try:
        study_file = study_copy(work / "asia_pacification_sobol.toml", methods='["sobol"]', ci='"bootstrap"',
                                resamples=str(RESAMPLES), replicates="1", headline="[]", group=None)
        _STUDY = study = load_study(study_file)
        d = len(study.param_names)
        print(f"flagship, D = {d}, second order, Sobol' S1/ST/S2 with {RESAMPLES} bootstrap resamples, "
              f"{len(outcome_names(study))} scalar outcomes")
        import ema_workbench  # noqa: F401  (imported here so that no timing includes it)

        run_toolkit(study_file, 16, work / "warm-up")
        for log2n in args.log2n:
            compare_with_ema(study, study_file, log2n, work, args)
        for log2n in args.salib_log2n:
            n = 2**log2n
            ours, table = run_toolkit(study_file, n, work / "runs")
            t, salib = run_salib_script(study, n)
            gap, conf = st_gap(table, salib, study)
            print(f"\nN = 2^{log2n} ({n * (2 * d + 2):,} model runs)")
            print(f"  toolkit (study run, in process)      {ours:8.1f} s")
            print(f"  plain SALib script                   {t:8.1f} s   toolkit is {t / ours:6.1f}x faster   "
                  f"max |ST gap| {gap:.3f} (SALib max ST half-width {conf:.3f})", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
