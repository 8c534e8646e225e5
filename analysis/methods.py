"""What a sensitivity method is, for the rest of the toolkit: one :class:`Method` per module.

Each method module (:mod:`analysis.sobol`, :mod:`analysis.morris`, :mod:`analysis.delta`)
ends with ``METHOD = Method(...)``: its name, the index it ranks inputs by, its labels,
and its ``analyze(run, settings, rng)``. :data:`analysis.METHODS` lists them; the index
computation, the figures, the appendix's tables, triangulation and compare read names,
ranking indices and labels from there. Adding a method touches its own module and that
list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

__all__ = ["Method", "Settings"]


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
    """One sensitivity method as the toolkit knows it.

    Attributes
    ----------
    name : str
        As in ``[analysis].methods`` and the ``method`` column of ``indices.csv``.
    rank_index : str
        The index it ranks inputs by (its ``index`` column value), e.g. ``"ST"``.
    label : str
        Its ranking index in figures (may use Unicode), e.g. ``"Morris μ*"``.
    text_label : str
        The same in plain text (notes, sentences), e.g. ``"Morris mu*"``.
    on_draws : bool
        Whether it is computed on the run's draws of the input distribution (a Morris
        grid is not): compare falls back on such a method where Sobol' is absent.
    analyze : callable
        ``analyze(run, settings, rng) -> xarray.Dataset or None``: the method's
        ``indices.nc`` group for :class:`analysis.run.Run` ``run`` (None if the run has
        nothing for it); it appends its ``indices.csv`` rows and notes to ``settings``.
        ``rng(method, output)`` gives the generator keyed by both names.
    """

    name: str
    rank_index: str
    label: str
    text_label: str
    on_draws: bool
    analyze: Callable = field(repr=False)
