"""What a sensitivity method is, for the rest of the toolkit: one :class:`Method` per module.

Each method module (:mod:`analysis.sobol`, :mod:`analysis.morris`, :mod:`analysis.delta`,
:mod:`analysis.surrogate_run`, and the noise diagnostic :mod:`analysis.noise`) ends with
``METHOD = Method(...)``: its name, kind, the index it ranks inputs by, its labels, when
it applies and its ``analyze(run, settings, rng)``. :data:`analysis.METHODS` lists them;
the index computation dispatches over that list with no special case, and the figures,
the appendix's tables, triangulation and compare read names, ranking indices and labels
from there. Adding a method touches its own module and that list (and, for a method a
study file names, the loader's list of names, ``study.spec.ANALYSIS_METHODS``: the study
layer cannot import this one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from study.errors import InternalError

__all__ = ["KINDS", "Method", "Settings", "ranking"]

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
