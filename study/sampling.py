"""Designs in the unit cube, and their mapping to a labelled sample.

A :class:`Design` knows how to produce any contiguous block range of its unit-cube points
on demand, so a chunk can be generated where it is evaluated (in process or on a dask
worker) and memory never holds the whole design. Every random draw derives from the
study's one recorded seed through :func:`stream`.

Design columns follow the parameters' names in sorted order, not their order in the file,
so reordering a study file's parameters changes no per-name number.
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from .design import cross, layout
from .distributions import DISTRIBUTIONS, ppf
from .errors import StudyError
from .spec import Study

#: Independent random streams derived from the recorded seed (``SeedSequence`` spawn keys).
STREAMS = {"sobol": 0, "morris": 1, "latin": 2, "analysis": 3}


def stream(seed: int, name: str, *sub: int) -> np.random.SeedSequence:
    """The seed sequence of one named random stream of a run.

    ``SeedSequence(seed, spawn_key=...)`` makes each stream independent of the others and
    of how many other streams exist, so adding a method never changes existing numbers.
    """
    return np.random.SeedSequence(seed, spawn_key=(STREAMS[name], *sub))


def qmc_seed(ss: np.random.SeedSequence) -> int:
    """A 64-bit integer seed for scipy's QMC engines (and SALib's ``seed=``).

    SALib treats ``seed=0`` as "no seed"; a derived 64-bit integer is 0 with probability
    2⁻⁶⁴, so the same integer reproduces the design in both.
    """
    return int(ss.generate_state(1, dtype=np.uint64)[0])


def saltelli_unit(d: int, n: int, *, second_order: bool = True, seed: int, skip: int = 0,
                  params=None, groups=None) -> np.ndarray:
    """Saltelli design in the unit cube, identical to SALib 1.6 ``sobol.sample``.

    Parameters
    ----------
    d : int
        Number of parameters.
    n : int
        Number of base rows to return.
    second_order : bool
        Include the ``BA`` blocks needed for second-order indices.
    seed : int
        Integer seed of the scrambled Sobol' sequence (as passed to SALib's ``seed=``).
    skip : int
        Base rows of the same scrambled sequence to skip (chunked generation).
    params, groups : optional
        Parameter names and groups; groups with several members add ``ABg`` blocks.

    Returns
    -------
    numpy.ndarray
        Shape ``(n * M, d)`` with ``M = d + 2`` (``2d + 2`` with second order) plus one
        block per multi-member group.

    Examples
    --------
    >>> saltelli_unit(2, 4, second_order=False, seed=1).shape
    (16, 2)
    """
    params = tuple(params) if params is not None else tuple(f"x{i}" for i in range(d))
    groups = groups or {p: (p,) for p in params}
    engine = _sobol_engine(2 * d, seed)
    with warnings.catch_warnings():
        # Chunks are slices of a power-of-two design; scipy warns about each slice's size.
        warnings.filterwarnings("ignore", message=".*balance properties.*")
        if skip:
            engine.fast_forward(skip)
        base = engine.random(n)
    return cross(base[:, :d], base[:, d:], params, groups, second_order).reshape(-1, d)


_ENGINES = threading.local()  # per thread: an engine's position is state
_MAX_ENGINES = 64


def _sobol_engine(dims: int, seed: int):
    """A scrambled Sobol' engine at the start of its sequence, built once per thread.

    Scrambling is most of an engine's construction (about 1.6 ms for the flagship's 50
    dimensions, against 20 µs for a chunk's points); ``reset`` returns a kept engine to
    the same state a new one starts in, so the points are the same bits.
    """
    from scipy.stats import qmc  # scipy.stats takes seconds to import: only where it is used

    cache = _ENGINES.__dict__.setdefault("engines", {})
    engine = cache.get((dims, seed))
    if engine is None:
        if len(cache) >= _MAX_ENGINES:
            cache.clear()
        engine = cache[(dims, seed)] = qmc.Sobol(d=dims, scramble=True, seed=seed)
    else:
        engine.reset()
    return engine


@dataclass(frozen=True)
class Design:
    """A unit-cube design cut into equal blocks that chunks are made of.

    For a Saltelli design a block is one base row of every replicate (``R × M`` samples);
    for Morris one trajectory; for a Latin hypercube one point.
    """

    kind: str
    params: tuple[str, ...]
    n_blocks: int
    block_size: int
    labels: tuple[str, ...] = ()
    replicates: int = 1
    seeds: tuple[int, ...] = ()
    groups: dict = field(default_factory=dict)
    second_order: bool = False
    points: np.ndarray | None = field(default=None, repr=False)
    levels: int = 0

    @property
    def n_samples(self) -> int:
        return self.n_blocks * self.block_size

    def unit(self, b0: int, b1: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Unit-cube points of blocks ``[b0, b1)`` and their coordinates along ``sample``."""
        start, stop = b0 * self.block_size, b1 * self.block_size
        coords = {"sample": np.arange(start, stop, dtype=np.int64)}
        if self.kind == "sobol":
            d, m, r = len(self.params), len(self.labels), self.replicates
            per_rep = [
                saltelli_unit(d, b1 - b0, second_order=self.second_order, seed=s, skip=b0,
                              params=self.params, groups=self.groups).reshape(b1 - b0, m, d)
                for s in self.seeds
            ]
            u = np.stack(per_rep, axis=1).reshape(-1, d)
            coords["row"] = np.repeat(np.arange(b0, b1), r * m)
            coords["replicate"] = np.tile(np.repeat(np.arange(r), m), b1 - b0)
            coords["matrix"] = np.tile(np.arange(m), (b1 - b0) * r)
            return u, coords
        u = self.points[start:stop]
        if self.kind == "morris":
            # Grid levels include 0 and 1, where unbounded inverse CDFs are infinite: map the
            # p levels to the centres of p equal-probability bins (same step for every input).
            u = (u * (self.levels - 1) + 0.5) / self.levels
            coords["trajectory"] = np.repeat(np.arange(b0, b1), self.block_size)
            coords["step"] = np.tile(np.arange(self.block_size), b1 - b0)
        return u, coords


def make_design(study: Study, kind: str | None = None, samples: int | None = None) -> Design:
    """The design a study asks for (or ``kind`` overriding ``[sampling].method``)."""
    kind = kind or study.sampling.method
    n = samples or study.sampling.samples
    seed = study.sampling.seed
    params = tuple(sorted(study.param_names))
    groups = {g: tuple(sorted(m)) for g, m in sorted(study.groups.items())}
    if kind == "sobol":
        r = study.sampling.replicates
        labels = tuple(layout(params, groups, study.sampling.second_order))
        seeds = tuple(qmc_seed(stream(seed, "sobol", i)) for i in range(r))
        return Design("sobol", params, n // r, r * len(labels), labels, r, seeds, groups,
                      study.sampling.second_order)
    if kind == "latin":
        rng = np.random.default_rng(stream(seed, "latin"))
        from scipy.stats import qmc  # scipy.stats takes seconds to import: only where it is used

        u = qmc.LatinHypercube(d=len(params), rng=rng).random(n)
        if study.correlations:
            from .copula import correlate

            order = [study.param_names.index(p) for p in params]
            u = correlate(u, study.correlation_matrix()[np.ix_(order, order)])
        return Design("latin", params, n, 1, points=u)
    if kind == "morris":
        from .morris_design import morris_unit

        a = study.analysis
        trajectories = samples or (n if study.sampling.method == "morris" else a.morris_trajectories)
        rng = np.random.default_rng(stream(seed, "morris"))
        u, _ = morris_unit(len(params), trajectories, a.morris_levels, rng=rng)
        return Design("morris", params, trajectories, len(params) + 1, points=u, levels=a.morris_levels)
    raise ValueError(kind)


def to_inputs(study: Study, u: np.ndarray, coords: dict[str, np.ndarray], params=None) -> xr.Dataset:
    """Map unit-cube points to the parameters' distributions, as the model's input Dataset.

    Raises
    ------
    StudyError
        If a distribution maps any point to a non-finite value.
    """
    params = params or tuple(sorted(study.param_names))
    data = {}
    columns = np.ascontiguousarray(u.T)  # inverse CDFs run faster on contiguous columns
    for j, name in enumerate(params):
        p = study.parameter(name)
        values = ppf(p.distribution, p.args, columns[j])
        bad = ~np.isfinite(values)
        if bad.any():
            raise StudyError(study.path, f"parameters.{name}",
                             f"{p.describe()} must map every design point to a finite value; got "
                             f"{float(values[bad][0])!r} at unit value {float(columns[j][bad][0]):.6g} ({int(bad.sum())} of "
                             f"{len(values)} points)")
        data[name] = ("sample", values, _param_attrs(p))
    for c in study.constants:
        data[c.name] = ((), c.value, {"role": "constant", "label": c.label or c.name, "unit": c.unit,
                                      "description": c.description, "source": c.source})
    return xr.Dataset(data, coords={k: ("sample", v) for k, v in coords.items()})


def _param_attrs(p) -> dict:
    import json

    return {"role": "input", "label": p.label or p.name, "unit": p.unit, "description": p.description,
            "source": p.source, "group": p.group or p.name,
            "distribution": json.dumps({"name": p.distribution, **p.args}),
            "notation": DISTRIBUTIONS[p.distribution].describe(p.args)}


def draw(study: Study, *, method: str | None = None, samples: int | None = None,
         seed: int | None = None) -> xr.Dataset:
    """Draw a study's whole sample as the model's input Dataset (for notebooks and tests).

    Parameters
    ----------
    study : Study
    method : {"sobol", "morris", "latin"}, optional
        Design; defaults to ``[sampling].method``.
    samples : int, optional
        Base sample size; defaults to ``[sampling].samples``.
    seed : int, optional
        Seed; defaults to ``[sampling].seed``.

    Returns
    -------
    xarray.Dataset
        One variable per parameter along ``sample``, constants as 0-d variables.
    """
    if seed is not None:
        study = study.replace(seed=seed)
    design = make_design(study, method, samples)
    u, coords = design.unit(0, design.n_blocks)
    return to_inputs(study, u, coords, design.params)
