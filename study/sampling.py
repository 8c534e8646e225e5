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

from .design import block_masks, cross, layout
from .distributions import category_values, get, ppf
from .errors import StudyError
from .spec import Study

#: Independent random streams derived from the recorded seed (``SeedSequence`` spawn keys).
STREAMS = {"sobol": 0, "morris": 1, "latin": 2, "analysis": 3, "model": 4, "surrogate": 5}


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
    base = _saltelli_base(d, n, seed, skip)
    return cross(base[:, :d], base[:, d:], params, groups, second_order).reshape(-1, d)


def _saltelli_base(d: int, n: int, seed: int, skip: int) -> np.ndarray:
    """Base rows ``skip … skip + n`` of a Saltelli design: ``A`` then ``B``, shape ``(n, 2d)``."""
    engine = _sobol_engine(2 * d, seed)
    with warnings.catch_warnings():
        # Chunks are slices of a power-of-two design; scipy warns about each slice's size.
        warnings.filterwarnings("ignore", message=".*balance properties.*")
        if skip:
            engine.fast_forward(skip)
        return engine.random(n)


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
        coords = self.coords(b0, b1)
        if self.kind == "sobol":
            a, b = self.bases(b0, b1)
            # Samples in the order row, replicate, matrix: cross's (n, R, M, d), flattened.
            return cross(a, b, self.params, self.groups, self.second_order).reshape(-1, len(self.params)), coords
        u = self.points[start:stop]
        if self.kind == "morris":
            # Grid levels include 0 and 1, where unbounded inverse CDFs are infinite: map the
            # p levels to the centres of p equal-probability bins (same step for every input).
            u = (u * (self.levels - 1) + 0.5) / self.levels
        return u, coords

    def coords(self, b0: int, b1: int) -> dict[str, np.ndarray]:
        """The coordinates along ``sample`` of blocks ``[b0, b1)``."""
        coords = {"sample": np.arange(b0 * self.block_size, b1 * self.block_size, dtype=np.int64)}
        if self.kind == "sobol":
            r, m = self.replicates, len(self.labels)
            coords["row"] = np.repeat(np.arange(b0, b1), r * m)
            coords["replicate"] = np.tile(np.repeat(np.arange(r), m), b1 - b0)
            coords["matrix"] = np.tile(np.arange(m), (b1 - b0) * r)
        elif self.kind == "morris":
            coords["trajectory"] = np.repeat(np.arange(b0, b1), self.block_size)
            coords["step"] = np.tile(np.arange(self.block_size), b1 - b0)
        return coords

    def bases(self, b0: int, b1: int) -> tuple[np.ndarray, np.ndarray]:
        """A Saltelli design's base matrices ``A`` and ``B`` of blocks ``[b0, b1)``.

        Returns
        -------
        (numpy.ndarray, numpy.ndarray)
            Each of shape ``(b1 - b0, R, D)``: base row, replicate, parameter.
        """
        d = len(self.params)
        base = np.stack([_saltelli_base(d, b1 - b0, s, b0) for s in self.seeds], axis=1)
        return base[..., :d], base[..., d:]


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
    if kind == "surrogate":
        u = _surrogate_points(study, samples, len(params))
        return Design("surrogate", params, len(u), 1, points=u)
    if kind == "morris":
        from .morris_design import morris_unit

        a = study.analysis
        trajectories = samples or (n if study.sampling.method == "morris" else a.morris_trajectories)
        rng = np.random.default_rng(stream(seed, "morris"))
        u, _ = morris_unit(len(params), trajectories, a.morris_levels, rng=rng)
        return Design("morris", params, trajectories, len(params) + 1, points=u, levels=a.morris_levels)
    raise ValueError(kind)


def _surrogate_points(study: Study, samples: int | None, d: int) -> np.ndarray:
    """The unit points of the surrogate design: a scrambled Sobol' sequence.

    Its size is ``samples`` if given, else ``[sampling].samples`` (main design) or
    ``[analysis].budget``. Any prefix of the sequence is the design of a smaller budget, so
    doubling the budget (``--until-converged``) keeps every point already evaluated.
    """
    from scipy.stats import qmc  # scipy.stats takes seconds to import: only where it is used

    n = samples or (study.sampling.samples if study.sampling.method == "surrogate" else study.analysis.budget)
    engine = qmc.Sobol(d=d, scramble=True, seed=qmc_seed(stream(study.sampling.seed, "surrogate")))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*balance properties.*")  # budgets need not be 2^k
        return engine.random(n)


def to_inputs(study: Study, u: np.ndarray, coords: dict[str, np.ndarray], params=None) -> xr.Dataset:
    """Map unit-cube points to the parameters' distributions, as the model's input Dataset.

    Raises
    ------
    StudyError
        If a distribution maps any point to a non-finite value.
    """
    params = params or tuple(sorted(study.param_names))
    columns = np.ascontiguousarray(u.T)  # inverse CDFs run faster on contiguous columns
    return _inputs(study, params, columns.__getitem__, coords)


def design_inputs(study: Study, design: Design, b0: int, b1: int) -> xr.Dataset:
    """The model's inputs of blocks ``[b0, b1)``: ``to_inputs`` of ``design.unit(b0, b1)``.

    A Saltelli design's column takes each of its ``M`` values per base row from ``A`` or
    ``B``, so the inverse CDFs map the base matrices (``2 / M`` of the values: 1/39 for the
    flagship) and the blocks are assembled from the mapped values. The numbers are the same
    bits: an inverse CDF maps each value on its own, from a contiguous array as before.
    Inputs that depend on a reading are mapped from their assembled unit columns.

    Raises
    ------
    StudyError
        If a distribution maps any point to a non-finite value.
    """
    if design.kind != "sobol":
        u, coords = design.unit(b0, b1)
        return to_inputs(study, u, coords, design.params)
    a, b = design.bases(b0, b1)
    n = a.shape[:-1]
    take_b = block_masks(design.params, design.groups, design.second_order)  # (M, D)
    # One contiguous (base row, replicate) array per parameter, as the inverse CDFs want them.
    a, b = np.ascontiguousarray(np.moveaxis(a, -1, 0)), np.ascontiguousarray(np.moveaxis(b, -1, 0))

    def assemble(j, from_a, from_b):
        return np.where(take_b[:, j], from_b[..., None], from_a[..., None]).reshape(-1)

    def mapped(j, p):
        from_a, from_b = (ppf(p.distribution, p.args, m[j].reshape(-1)).reshape(n) for m in (a, b))
        return assemble(j, from_a, from_b)

    return _inputs(study, design.params, lambda j: assemble(j, a[j], b[j]), design.coords(b0, b1), mapped)


def _inputs(study: Study, params, column, coords, mapped=None) -> xr.Dataset:
    """The input Dataset from ``column(j)``, the unit column of ``params[j]``.

    ``mapped(j, parameter)``, if given, is that column through the parameter's inverse CDF
    (what ``ppf`` of ``column(j)`` gives, computed another way).
    """
    data = {}
    r, codes = study.readings, None
    if r is not None:  # each sample takes its reading's declaration of every input that reading changes
        f = study.parameter(r.factor)
        codes = ppf(f.distribution, f.args, column(params.index(r.factor))).astype(np.int64)
    for j, name in enumerate(params):
        p = study.parameter(name)
        if r is not None and name in r.varying:
            values = r.column(name, codes, column(j))
        elif mapped is not None:
            values = mapped(j, p)
        else:
            values = ppf(p.distribution, p.args, column(j))
        bad = ~np.isfinite(values)
        if bad.any():
            unit = column(j)
            raise StudyError(study.path, f"parameters.{name}",
                             f"{p.describe()} must map every design point to a finite value; got "
                             f"{float(values[bad][0])!r} at unit value {float(unit[bad][0]):.6g} ({int(bad.sum())} of "
                             f"{len(values)} points)")
        if p.kind == "categorical":
            values = category_values(p.args, values)  # the model sees the values, strings included
        data[name] = ("sample", values, _param_attrs(p, r))
    for c in study.constants:
        # CF names (units, long_name) beside the toolkit's label: see the README's outputs.
        attrs = {"role": "constant", "label": c.label or c.name, "long_name": c.label or c.name, "units": c.unit,
                 "description": c.description, "source": c.source}
        if r is not None and c.name in r.varying:  # a constant of each reading, so a value per sample
            data[c.name] = ("sample", r.column(c.name, codes, None), {**attrs, "by_reading": r.describe(c.name)})
        else:
            data[c.name] = ((), c.value, attrs)
    return xr.Dataset(data, coords={k: ("sample", v) for k, v in coords.items()})


def _param_attrs(p, readings=None) -> dict:
    import json

    if readings is not None and p.name in readings.varying:
        return {**_param_attrs(p), "by_reading": readings.describe(p.name)}
    return {"role": "input", "label": p.label or p.name, "long_name": p.label or p.name,
            "units": p.unit, "description": p.description,
            "source": p.source, "group": p.group or p.name,
            "distribution": json.dumps({"name": p.distribution, **p.args}),
            "notation": get(p.distribution).describe(p.args), "kind": p.kind,
            **_category_attrs(p)}


def _category_attrs(p) -> dict:
    """A categorical's values in order, the order its codes follow once stored (see :func:`coded`)."""
    import json

    if p.kind != "categorical":
        return {}
    return {"categories": json.dumps(list(p.args["values"]), ensure_ascii=False)}


def coded(study: Study, x: xr.Dataset) -> xr.Dataset:
    """The model's inputs as a run stores them: a string categorical as its integer codes.

    Estimators read inputs as numbers and netCDF stores fixed-width numbers best, so the
    codes 0 … k-1 are stored, with the CF ``flag_values`` and ``flag_meanings`` attributes
    and the exact labels in ``categories``; :func:`category_labels` reads them back.
    A numeric categorical is stored as its values (they are numbers already).
    """
    out = x.copy()
    for p in study.parameters:
        if p.kind != "categorical" or not isinstance(p.args["values"][0], str) or p.name not in x:
            continue
        index = {v: i for i, v in enumerate(p.args["values"])}
        codes = np.fromiter((index[v] for v in x[p.name].values.tolist()), dtype=np.int16, count=x.sizes["sample"])
        attrs = {**x[p.name].attrs, "flag_values": np.arange(len(index), dtype=np.int16),
                 "flag_meanings": " ".join("_".join(str(v).split()) or "_" for v in p.args["values"])}
        out[p.name] = ("sample", codes, attrs)
    return out


def category_labels(var: xr.DataArray) -> list[str] | None:
    """The labels of a stored categorical input, in code order (None for other inputs).

    Examples
    --------
    >>> v = xr.DataArray([0, 1], dims="sample", attrs={"categories": '["low", "high"]'})
    >>> category_labels(v)
    ['low', 'high']
    """
    import json

    text = var.attrs.get("categories")
    if text is None:
        return None
    return [v if isinstance(v, str) else f"{v:g}" for v in json.loads(text)]


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
    return design_inputs(study, design, 0, design.n_blocks)
