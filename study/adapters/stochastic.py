"""Stochastic models: a seed per sample and replication, derived from the run's seed.

Sample ``s``'s replication ``k`` gets the seed ``stream(seed, "model", s, k)`` (a 32-bit
integer, so R, Julia and NetLogo take it as it is). It depends on the recorded seed and
the sample's label only, never on the chunk or the worker, so a run gives the same numbers
in process and on any dask cluster, and a resumed chunk the same as the first attempt.

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


def sample_seeds(seed: int, samples, replication: int) -> np.ndarray:
    """The seeds of the given sample labels for one replication (uint32)."""
    return np.array([stream(seed, "model", int(s), replication).generate_state(1)[0] for s in samples],
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
    """

    def __init__(self, fn, ref: str, seed: int, replications: int):
        self.fn, self.ref, self.seed, self.replications = fn, ref, seed, replications

    def __call__(self, x: xr.Dataset) -> xr.Dataset:
        labels = x["sample"].values
        params = [k for k, v in x.data_vars.items() if "sample" in v.dims]
        runs, failed, first = [], set(), None
        for k in range(self.replications):
            xk = x.assign_coords(seed=("sample", sample_seeds(self.seed, labels, k)))
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
