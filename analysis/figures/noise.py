"""The noise-share figure of a stochastic model run with replications (analysis/noise.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..textsafe import mathtext_escape
from .style import PALETTE, SINGLE, figure, style


def plot_noise_share(frame: pd.DataFrame, *, labels: dict[str, str], ax=None):
    """Each output's share of variance that is the model's own noise, with its interval.

    Parameters
    ----------
    frame : pandas.DataFrame
        ``indices.csv`` rows with ``method = noise``, ``index = noise_share``: columns
        ``output``, ``value``, ``conf_low``, ``conf_high``.
    labels : dict
        Output name -> axis label.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
        Horizontal bars on [0, 1]; ``ax.containers[0]`` holds them in ``frame``'s order.
    """
    n = len(frame)
    with style():
        fig, a = figure(SINGLE, 0.3 * SINGLE + 0.18 * n, ax=ax)
        y = np.arange(n)
        v = frame["value"].to_numpy(float)
        err = np.vstack([v - frame["conf_low"].to_numpy(float), frame["conf_high"].to_numpy(float) - v])
        a.barh(y, v, height=0.5, color=PALETTE[2])
        a.errorbar(v, y, xerr=np.clip(err, 0, None), fmt="none", ecolor="0.2", lw=0.6, capsize=1.2)
        a.set_yticks(y, [mathtext_escape(labels.get(o, o)) for o in frame["output"]])
        a.set_xlim(0, 1)
        a.set_xlabel("Share of variance: E[Var(Y | X)] / Var(Y)")
    return fig
