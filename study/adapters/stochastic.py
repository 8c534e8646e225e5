"""Stochastic models: a seed per design point and replication, derived from the run's seed.

A seed depends on the recorded seed, the point's place in the design and the replication
only, never on the chunk or the worker, so a run gives the same numbers in process and on
any dask cluster, and a resumed chunk the same as the first attempt. Seeds are 32-bit
integers, so R, Julia and NetLogo take them as they are.

The seed is a hidden input, and the design's estimators assume each input is varied only
where the design varies it. So points that a Sobol' or Morris estimator compares share
their seed (common random numbers): in a Saltelli base row, ``A`` and every ``AB`` block
take the seed of ``A``, ``B`` and every ``BA`` block that of ``B`` (the seed is a column
never swapped), and every step of a Morris trajectory takes the trajectory's seed. The
indices are then those of ``Y(X, seed)`` over the inputs, with no share of the noise added
to every input's total index; the noise's own share is reported apart. A Latin point has
its own seed.

With ``replications = K`` each design point is evaluated K times. The stored output is the
mean over the replications (the analysis then measures the inputs' effect on E[Y | X]),
and ``<output>__noise_var`` the replications' unbiased variance, from which the analysis
estimates the share of Var(Y) that is intrinsic noise (see :mod:`analysis.noise`).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..contract import check_result
from ..sampling import stream
from .per_sample import SampleFailures

#: Suffix of the variable holding an output's variance over replications.
NOISE_SUFFIX = "__noise_var"
#: ``model_role`` of those variables: stored beside the outputs, never analysed as one.
NOISE_ROLE = "noise_variance"


def seed_keys(x: xr.Dataset, labels=None) -> np.ndarray:
    """``(n, 4)`` integers naming each point's seed: design kind, then its place in the design.

    Parameters
    ----------
    x : xarray.Dataset
        A chunk's inputs with the design's coordinates (``row``, ``replicate``, ``matrix``
        for Saltelli; ``trajectory`` for Morris; ``sample`` otherwise).
    labels : sequence of str, optional
        The Saltelli layout's block labels (``study.design.layout``), needed with ``matrix``.
    """
    n = x.sizes["sample"]
    zero = np.zeros(n, dtype=np.int64)
    if "matrix" in x.coords:  # A and AB blocks share A's seed, B and BA blocks B's
        from_b = np.array([lab.startswith("B") for lab in labels])[x["matrix"].values]
        rep = x["replicate"].values if "replicate" in x.coords else zero
        return np.column_stack([zero, x["row"].values, rep, from_b.astype(np.int64)])
    if "trajectory" in x.coords:
        return np.column_stack([zero + 1, x["trajectory"].values, zero, zero])
    return np.column_stack([zero + 2, x["sample"].values, zero, zero])


def sample_seeds(seed: int, keys: np.ndarray, replication: int) -> np.ndarray:
    """The uint32 seeds of the points named by ``keys`` (:func:`seed_keys`) for one replication."""
    return np.array([stream(seed, "model", *map(int, key), replication).generate_state(1)[0] for key in keys],
                    dtype=np.uint32)


class Replicated:
    """Call a vectorized model with a ``seed`` coordinate, once per replication.

    Parameters
    ----------
    fn : callable
        The vectorized model (possibly an adapter); it reads ``x["seed"]``.
    ref : str
        The model's reference (for messages).
    seed : int
        The run's recorded seed.
    replications : int
    layout : sequence of str, optional
        The Saltelli design's block labels, for :func:`seed_keys`.
    """

    def __init__(self, fn, ref: str, seed: int, replications: int, layout=None):
        self.fn, self.ref, self.seed, self.replications, self.layout = fn, ref, seed, replications, layout

    def __call__(self, x: xr.Dataset) -> xr.Dataset:
        labels = x["sample"].values
        params = [k for k, v in x.data_vars.items() if "sample" in v.dims]
        keys = seed_keys(x, self.layout)
        runs, failed, first = [], set(), None
        for k in range(self.replications):
            xk = x.assign_coords(seed=("sample", sample_seeds(self.seed, keys, k)))
            try:
                out = self.fn(xk)
            except SampleFailures as e:
                failed.update(e.positions.tolist())
                first = first or e.error
                out = e.partial
            if out is None:  # every sample raised
                raise SampleFailures(np.arange(len(labels)), first, None)
            runs.append(check_result(out, xk, self.ref, params, allow_nonfinite=True))
        result = self._combine(runs)
        if failed:
            keep = np.setdiff1d(np.arange(len(labels)), sorted(failed))
            result = result.where(xr.DataArray(np.isin(np.arange(len(labels)), keep), dims="sample"))
            raise SampleFailures(sorted(failed), first, result)
        return result

    def _combine(self, runs: list[xr.Dataset]) -> xr.Dataset:
        if self.replications == 1:
            return runs[0]
        stacked = xr.concat(runs, dim="_replication")
        mean = stacked.mean("_replication", keep_attrs=True)
        for name in runs[0].data_vars:
            var = stacked[name].var("_replication", ddof=1)
            mean[name + NOISE_SUFFIX] = var.assign_attrs(
                role=NOISE_ROLE, description=f"variance of {name} over {self.replications} replications")
        return mean
