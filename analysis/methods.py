"""What a sensitivity method is, for the rest of the toolkit: one :class:`Method` per module.

Each method module (:mod:`analysis.sobol`, :mod:`analysis.morris`, :mod:`analysis.delta`,
:mod:`analysis.surrogate_run`, and the noise diagnostic :mod:`analysis.noise`) ends with
``METHOD = Method(...)``: its name, kind, the index it ranks inputs by, its labels, when
it applies, what it needs of a study (its sampling, an extra design, its own keys) and its
``analyze(run, settings, rng)``. :data:`analysis.METHODS` lists them; the index computation
dispatches over that list with no special case, and the figures, the appendix's tables,
triangulation and compare read names, ranking indices and labels from there.

The study loader (:func:`study.spec.load_study`) checks only the shape of
``[analysis].methods`` (a list of strings): it cannot import this layer. :func:`check_study`
checks the rest against the registry (known names, each method's sampling, its keys and
rules, the budget of every design the methods need), and every entry point calls it right
after loading a study (:func:`load_study` does both). Adding a method touches its own
module and that list, nothing in :mod:`study`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from study import spec
from study.errors import InternalError, StudyError

__all__ = ["KINDS", "Method", "Settings", "check_study", "designs", "load_study", "ranking"]

#: What a registered module computes: a sensitivity ``"method"`` ranks the inputs; a
#: ``"diagnostic"`` (the noise share) describes the outputs and ranks nothing.
KINDS = ("method", "diagnostic")


@dataclass
class Settings:
    """What :func:`analysis.indices.analyze_run` hands every method's ``analyze``.

    Attributes
    ----------
    results : xarray.Dataset
        The run's main results, open (lazily) while the methods run.
    outputs : list of str
        The outputs to analyse, in order.
    iid : numpy.ndarray
        Positions of the independent draws in ``results.nc`` (A and B of a Saltelli design).
    failed : int
        Number of samples whose evaluation failed.
    rows : list of dict
        Where ``analyze`` appends its rows of ``indices.csv``.
    notes : list of str
        Where ``analyze`` appends its notes (``indices.nc``'s ``notes`` attribute).
    """

    results: object
    outputs: list[str]
    iid: np.ndarray
    failed: int = 0
    rows: list = field(default_factory=list)
    notes: list = field(default_factory=list)


@dataclass(frozen=True)
class Method:
    """One sensitivity method (or diagnostic) as the toolkit knows it.

    Attributes
    ----------
    name : str
        As in ``[analysis].methods`` and the ``method`` column of ``indices.csv``.
    rank_index : str
        The index it ranks inputs by (its ``index`` column value), e.g. ``"ST"``; for a
        diagnostic, the index its rows carry (``"noise_share"``).
    label : str
        Its ranking index in figures (may use Unicode), e.g. ``"Morris μ*"``.
    text_label : str
        The same in plain text (notes, sentences), e.g. ``"Morris mu*"``.
    on_draws : bool
        Whether it ranks inputs on the run's draws of the input distribution (a Morris
        grid or a surrogate's own design is not): compare falls back on such a method
        where Sobol' is absent.
    analyze : callable
        ``analyze(run, settings, rng) -> xarray.Dataset or None``: the method's
        ``indices.nc`` group for :class:`analysis.run.Run` ``run`` (None if the run has
        nothing for it, or the method keeps no group); it appends its ``indices.csv``
        rows and notes to ``settings``. ``rng(*key)`` gives the generator keyed by the
        names in ``key`` (e.g. the method's and the output's).
    kind : str
        One of :data:`KINDS`.
    triangulates : bool
        Whether its ranking joins the ranks figure and the triangulation section (the
        surrogate re-estimates Sobol' indices and is compared with them in its own
        section instead).
    applies : callable, optional
        ``applies(study) -> bool``: whether a run of ``study`` computes it; by default
        when ``[analysis].methods`` names it.
    sampling : tuple of str
        The main designs (``sampling.method``) it can run on; empty: any.
    design : str
        The design it reads (``"morris"``, ``"surrogate"``); evaluated beside the main one
        when that is another kind. Empty: it reads the main design.
    keys : tuple of str
        The ``[analysis]`` keys only it reads: setting one without naming the method is
        refused.
    check : callable, optional
        ``check(study, where_n) -> (key, message) or None``: its own rule on a study
        (``where_n`` is the key that sets N: ``sampling.samples`` or ``--samples``).

    Examples
    --------
    >>> m = Method("demo", "D", "demo D", "demo D", on_draws=True, analyze=lambda run, s, rng: None)
    >>> m.kind, m.triangulates
    ('method', True)
    >>> Method("x", "D", "D", "D", on_draws=True, analyze=None, kind="other")
    Traceback (most recent call last):
    ...
    study.errors.InternalError: analysis.methods: x.kind: must be one of ['method', 'diagnostic']; got 'other'
    """

    name: str
    rank_index: str
    label: str
    text_label: str
    on_draws: bool
    analyze: Callable = field(repr=False)
    kind: str = "method"
    triangulates: bool = True
    applies: Callable | None = field(default=None, repr=False)
    sampling: tuple[str, ...] = ()
    design: str = ""
    keys: tuple[str, ...] = ()
    check: Callable | None = field(default=None, repr=False)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise InternalError("analysis.methods", f"{self.name}.kind", f"must be one of {list(KINDS)}; "
                                f"got {self.kind!r}")

    def wanted(self, study) -> bool:
        """Whether a run of ``study`` computes this method (see ``applies``)."""
        return self.applies(study) if self.applies is not None else self.name in study.analysis.methods


def ranking(methods: dict, **only) -> list[Method]:
    """The registered sensitivity methods (not diagnostics), in registry order.

    Parameters
    ----------
    methods : dict
        The registry, :data:`analysis.METHODS`.
    **only
        Attribute values to keep, e.g. ``triangulates=True`` or ``on_draws=True``.

    Examples
    --------
    >>> from analysis import METHODS
    >>> [m.name for m in ranking(METHODS, triangulates=True)]
    ['sobol', 'morris', 'delta']
    >>> [m.name for m in ranking(METHODS, on_draws=True)]
    ['sobol', 'delta']
    """
    return [m for m in methods.values() if m.kind == "method"
            and all(getattr(m, k) == v for k, v in only.items())]


def _registry(methods):
    if methods is None:
        from . import METHODS  # the package imports this module first: look it up when called

        return METHODS
    return methods


def designs(study, methods: dict | None = None) -> list[str]:
    """The designs a run of ``study`` evaluates: the main one, then each extra design a method reads.

    Parameters
    ----------
    study : study.spec.Study
    methods : dict, optional
        The registry; :data:`analysis.METHODS` by default.

    Examples
    --------
    >>> from study.spec import load_study
    >>> designs(load_study("params/ishigami.toml"))
    ['sobol', 'morris']
    """
    kinds = [study.sampling.method]
    for m in _registry(methods).values():
        if m.design and m.design not in kinds and m.wanted(study):
            kinds.append(m.design)
    return kinds


def check_study(study, *, where_n: str = "sampling.samples", methods: dict | None = None):
    """Check a loaded study against the method registry; return it unchanged.

    The checks the loader cannot make, in this order: ``[analysis].methods`` names only
    registered methods (not diagnostics), and at least one unless headlines are listed;
    each named method's sampling; a method's own key set while the method is not named;
    each named method's own rule; then the budget and memory of every design the methods
    need (:func:`study.spec.check_designs`).

    Parameters
    ----------
    study : study.spec.Study
    where_n : str
        The key that set N, named by a message about it (``"--samples"`` for an override).
    methods : dict, optional
        The registry; :data:`analysis.METHODS` by default.

    Raises
    ------
    study.errors.StudyError
        Naming the study file and the key, as the loader's own messages do.
    """
    registry = _registry(methods)
    a = study.analysis
    named = {m.name: m for m in ranking(registry)}

    def fail(key, msg):
        raise StudyError(study.path, key, msg)

    for name in a.methods:
        if name not in named:
            fail("analysis.methods", f"must contain only {list(named)}; got {spec.short(name)}")
    if not a.methods and not a.headline:
        # With headlines, no method means "their probabilities only" (a shift re-run of
        # [report] shift_runs is one); without, the run would compute and report nothing.
        fail("analysis.methods", f"must name at least one method of {list(named)}, or list headline outputs "
             "whose probabilities are then the run's only results; got []")
    chosen = [m for m in named.values() if m.name in a.methods]
    for m in chosen:
        if m.sampling and study.sampling.method not in m.sampling:
            fail("analysis.methods", f"{m.name!r} needs sampling.method = {' or '.join(map(repr, m.sampling))}; "
                 f"got sampling.method = {study.sampling.method!r}")
    for m in named.values():
        for key in m.keys:
            if key in a.given and m.name not in a.methods:
                fail(f"analysis.{key}", f"is used only with {m.name!r} in analysis.methods; got methods = "
                     f"{list(a.methods)}")
    for m in chosen:
        problem = m.check(study, where_n) if m.check is not None else None
        if problem is not None:
            fail(*problem)
    spec.check_designs(study, designs(study, registry), where_n)
    return study


def load_study(path, *, samples: int | None = None, seed: int | None = None, check_variants: bool = False):
    """:func:`study.spec.load_study`, then :func:`check_study` (of each variant too, with ``check_variants``).

    What every entry point of the toolkit loads a study file with.
    """
    study = spec.load_study(path, samples=samples, seed=seed, check_variants=check_variants)
    check_study(study, where_n=spec.samples_key(samples))
    if check_variants:
        _check_variants(study, {study.path.resolve()})
    return study


def _check_variants(study, seen: set) -> None:
    """Each ``[analysis].variants`` file, recursively (the loader has checked they exist and load)."""
    for v in study.analysis.variants:
        path = study.path.parent / v
        if path.resolve() in seen:
            continue
        seen.add(path.resolve())
        variant = check_study(spec.load_study(path))
        _check_variants(variant, seen)
