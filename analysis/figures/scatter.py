"""Scatterplots of the key output against its most influential inputs."""

from __future__ import annotations

import textwrap

import numpy as np
from matplotlib.lines import Line2D

from ..textsafe import mathtext_escape
from .style import CMAP, DOUBLE, PALETTE, SINGLE, figure, style

__all__ = ["plot_scatter", "DENSE"]

# Above this many points a scatter turns into an ink blot; hexagons show density instead.
DENSE = 3000


def categories_of(ds, names) -> dict[str, list[str]]:
    """Labels of the categorical inputs among ``names`` (see ``study.sampling.category_labels``)."""
    from study.sampling import category_labels  # deferred: the sampling module pulls in scipy's QMC

    return {p: c for p in names if (c := category_labels(ds[p]))}


def plot_scatter(inputs: dict[str, np.ndarray], y: np.ndarray, *, labels: dict[str, str],
                 ylabel: str, holds: np.ndarray | None = None, holds_label: str = "",
                 ax=None, categories: dict[str, list[str]] | None = None):
    """Key output against each given input, coloured by whether the headline holds.

    Parameters
    ----------
    inputs : dict
        Parameter name -> values (same length as ``y``), in panel order.
    y : numpy.ndarray
        The key output.
    labels : dict
        Parameter name -> axis label.
    ylabel : str
        Label of the key output.
    holds : numpy.ndarray of {0, 1}, optional
        Whether the headline result holds in each draw. Sparse plots colour points by it;
        dense plots (more than :data:`DENSE` points) colour each hexagon by the share of
        its draws in which it holds.
    holds_label : str
        Name of the headline result, for the legend or colour bar.
    ax : sequence of Axes, optional
        One per input.
    categories : dict, optional
        Parameter name -> labels of a categorical input's codes 0 … k-1 (its ticks).

    Returns
    -------
    matplotlib.figure.Figure
    """
    names = list(inputs)
    n = len(names)
    dense = len(y) > DENSE
    with style():
        fig, axes = figure(DOUBLE if n > 2 else SINGLE * (1 + 0.6 * (n - 1)),
                           0.62 * SINGLE, 1, n, ax=ax, sharey=True)
        axes = np.atleast_1d(axes).ravel()
        mappable = None
        for a, p in zip(axes, names):
            x = inputs[p]
            if dense:
                if holds is not None:
                    mappable = a.hexbin(x, y, C=holds.astype(float), reduce_C_function=np.mean,
                                        gridsize=28, cmap=CMAP, vmin=0, vmax=1, mincnt=1,
                                        linewidths=0.1)
                else:
                    mappable = a.hexbin(x, y, gridsize=28, cmap=CMAP, mincnt=1, bins="log",
                                        linewidths=0.1)
            elif holds is not None:
                ok = holds.astype(bool)
                a.scatter(x[~ok], y[~ok], s=3, color=PALETTE[3], alpha=0.6, lw=0)
                a.scatter(x[ok], y[ok], s=3, color=PALETTE[0], alpha=0.6, lw=0)
            else:
                a.scatter(x, y, s=3, color=PALETTE[0], alpha=0.5, lw=0)
            a.set_xlabel(mathtext_escape(textwrap.fill(labels.get(p, p), 30 if n < 4 else 24)))
            if p in (categories or {}):  # a categorical's codes are shown as its labels
                names_p = [c.removesuffix(".toml") for c in categories[p]]
                a.set_xticks(range(len(names_p)), [mathtext_escape(c) for c in names_p], rotation=30, ha="right",
                             fontsize="x-small")
        axes[0].set_ylabel(mathtext_escape(textwrap.fill(ylabel, 40)))
        if dense:
            label = f"Share where it holds: {holds_label}" if holds is not None else "Draws"
            # Wrapped: a headline's label is often longer than the figure is tall.
            bar = fig.colorbar(mappable, ax=list(axes), shrink=0.85, pad=0.01)
            bar.set_label(mathtext_escape(textwrap.fill(label, 26)), fontsize="small")
        elif holds is not None:
            handles = [Line2D([], [], ls="", marker="o", ms=3, color=PALETTE[0]),
                       Line2D([], [], ls="", marker="o", ms=3, color=PALETTE[3])]
            fig.legend(handles, [mathtext_escape(f"holds: {holds_label}"), "does not hold"], frameon=False,
                       loc="outside upper center", ncols=2)
    return fig
