"""Error against the analytic indices as a function of the number of model runs: sparse PCE
(analysis.surrogate) beside the Saltelli estimator (analysis.sobol), in one run.

For each test function (Ishigami; Sobol' G with a = 0, 1, 4.5, 9; the additive model of
non-uniform inputs of ``study.testing``) and each budget, both methods get the same number
of model runs: the PCE a scrambled Sobol' design of that many points, Saltelli
``N (D + 2)`` runs with the largest power-of-two N that fits (first order and total, one
replicate). The error is the largest absolute error over S1 and ST, the median over
``--repeats`` seeds. The last lines give, per function and method, the smallest budget at
which the error falls below 0.01 (and stays below it at every larger budget measured).

Run: ``python benchmarks/bench_surrogate.py [--repeats 3] [--budgets 50,100,...]``
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import xarray as xr
from scipy.stats import qmc

from analysis.sobol import sobol_indices
from analysis.surrogate import surrogate_indices
from study import testing as T
from study.distributions import ppf

PI = np.pi
ADD_C = {"x1": 1.0, "x2": 0.5, "x3": 2.0, "x4": 1.0}
G_A = [0.0, 1.0, 4.5, 9.0]


def functions():
    """name -> (inputs as {name: (distribution, args)}, model on an input Dataset, exact indices)."""
    uni = ("uniform", {"low": -PI, "high": PI})
    g = ("uniform", {"low": 0.0, "high": 1.0})
    return {
        "ishigami": ({f"x{i}": uni for i in (1, 2, 3)}, lambda x: T.ishigami(x).y.values, T.ishigami_indices()),
        "sobol_g": ({f"x{i}": g for i in (1, 2, 3, 4)},
                    lambda x: T.sobol_g(x, G_A).y.values, T.sobol_g_indices(G_A)),
        "additive": (T.NON_UNIFORM_INPUTS, lambda x: T.additive(x, ADD_C).y.values,
                     T.additive_indices(T.NON_UNIFORM_INPUTS, ADD_C)),
    }


def _inputs(inputs, u) -> xr.Dataset:
    return xr.Dataset({p: ("sample", ppf(*inputs[p], u[:, j])) for j, p in enumerate(inputs)})


def _error(s1, st, exact) -> float:
    return float(max(np.abs(s1 - exact.S1.values).max(), np.abs(st - exact.ST.values).max()))


def pce_error(inputs, model, exact, runs: int, seed: int) -> float:
    u = qmc.Sobol(len(inputs), scramble=True, seed=seed).random(runs)
    ds = surrogate_indices(u, model(_inputs(inputs, u)), params=list(inputs),
                           distributions=[d for d, _ in inputs.values()], resamples=2,
                           rng=np.random.default_rng(seed), q2_min=-np.inf)
    return _error(ds.S1.values[0], ds.ST.values[0], exact)


def saltelli_error(inputs, model, exact, runs: int, seed: int) -> float | None:
    d = len(inputs)
    n = 2 ** int(np.floor(np.log2(runs / (d + 2))))
    if n < 4:
        return None
    y = T.saltelli_outputs(lambda x: xr.Dataset({"y": ("sample", model(x))}), inputs, n, replicates=1,
                           seed=seed)
    ds = sobol_indices(y, params=list(inputs), second_order=False, ci="bootstrap", resamples=2,
                       rng=np.random.default_rng(seed))
    return _error(ds.S1.values[0], ds.ST.values[0], exact)


def first_below(budgets, errors, level=0.01):
    """Smallest measured budget from which every measured error is below ``level`` (None if never).

    Budgets not measured (None: above ``--pce-max``, or too few runs for one Saltelli row) are skipped.
    """
    for i, b in enumerate(budgets):
        later = [e for e in errors[i:] if e is not None]
        if errors[i] is not None and all(e < level for e in later):
            return b
    return None


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", default="50,100,200,400,800,1600,3200,6400,12800,25600,51200,102400")
    parser.add_argument("--pce-max", type=int, default=1600, help="largest budget given to the PCE")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    budgets = [int(b) for b in args.budgets.split(",")]
    warnings.filterwarnings("ignore", message=".*balance properties.*")
    print(f"{'function':10} {'runs':>7} {'PCE error':>10} {'PCE s':>7} {'Saltelli error':>15}")
    summary = []
    for name, (inputs, model, exact) in functions().items():
        pce, sal = [], []
        for runs in budgets:
            t = time.perf_counter()
            pe = (float(np.median([pce_error(inputs, model, exact, runs, s) for s in range(args.repeats)]))
                  if runs <= args.pce_max else None)
            dt = (time.perf_counter() - t) / args.repeats
            se = [saltelli_error(inputs, model, exact, runs, s) for s in range(args.repeats)]
            se = None if None in se else float(np.median(se))
            pce.append(pe)
            sal.append(se)
            print(f"{name:10} {runs:7d} {_fmt(pe):>10} {dt if pe is not None else float('nan'):7.2f} {_fmt(se):>15}")
        summary.append((name, first_below(budgets, pce), first_below(budgets, sal)))
    print("\nsmallest budget with error < 0.01 from there on (median over seeds):")
    for name, p, s in summary:
        print(f"  {name:10} PCE {p or 'not reached'}   Saltelli {s or 'not reached'}"
              + (f"   ratio {s / p:.0f}x" if p and s else ""))


def _fmt(v) -> str:
    return "–" if v is None else f"{v:.4f}"


if __name__ == "__main__":
    main()
