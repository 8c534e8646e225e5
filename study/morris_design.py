"""Morris elementary-effects trajectories in the unit cube.

A trajectory starts at a random point of a ``p``-level grid and moves one factor (or one
group of factors) at a time by the step ``Δ = p / (2 (p - 1))``, each factor in a random
direction and the factors in a random order, so a trajectory of ``G`` groups has ``G + 1``
points (Morris 1991; in the matrix form of Campolongo et al. 2007, eq. 4). Trajectories
are stacked in consecutive blocks of ``G + 1`` rows, the layout that
``SALib.analyze.morris.analyze`` reads.

The grid levels are ``0, 1/(p-1), …, 1``. Unbounded inverse CDFs are infinite at 0 and 1,
so a caller mapping to such distributions should shift the levels to the centres of ``p``
equal-probability bins, ``(u (p - 1) + 1/2) / p``; the step in the unit cube is then 1/2
for every ``p``, which :func:`analysis.morris.morris_indices` accepts as well.

References
----------
Morris, M. D. (1991). Factorial sampling plans for preliminary computational experiments.
Technometrics 33(2), 161-174. doi:10.1080/00401706.1991.10484804

Campolongo, F., Cariboni, J., Saltelli, A. (2007). An effective screening design for
sensitivity analysis of large models. Environmental Modelling & Software 22(10), 1509-1518.
doi:10.1016/j.envsoft.2006.10.004
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .errors import StudyError

_WHERE = "study.morris_design"


def morris_step(levels: int) -> float:
    """The Morris step ``Δ = p / (2 (p - 1))`` on the closed ``p``-level grid of [0, 1].

    Examples
    --------
    >>> morris_step(4)
    0.6666666666666666
    """
    return levels / (2.0 * (levels - 1))


def group_membership(d: int, groups: Sequence[str] | None) -> tuple[tuple[str, ...], np.ndarray]:
    """Group names in order of first appearance and the factor-to-group index.

    Parameters
    ----------
    d : int
        Number of factors.
    groups : sequence of str, length ``d``, or None
        Group label of each factor; None puts every factor in its own group, named by
        its column index.

    Returns
    -------
    names : tuple of str
    index : ndarray of int, shape (d,)
        ``index[j]`` is the position in ``names`` of factor ``j``'s group.
    """
    if groups is None:
        return tuple(str(j) for j in range(d)), np.arange(d)
    groups = [str(g) for g in groups]
    if len(groups) != d:
        raise StudyError(_WHERE, "groups", f"must give one group label per factor ({d}); got {len(groups)}")
    names = tuple(dict.fromkeys(groups))
    lookup = {g: i for i, g in enumerate(names)}
    return names, np.array([lookup[g] for g in groups])


def morris_unit(d: int, trajectories: int, levels: int = 4, *, rng: np.random.Generator,
                groups: Sequence[str] | None = None) -> tuple[np.ndarray, dict]:
    """Random Morris trajectories on the closed ``levels``-level grid of the unit cube.

    Parameters
    ----------
    d : int
        Number of factors (columns).
    trajectories : int
        Number of trajectories ``r`` (at least 2, so that ``sigma`` is defined).
    levels : int, default 4
        Number of grid levels ``p``; even, so that every base point can move up by ``Δ``.
    rng : numpy.random.Generator
        Source of all randomness; the same generator state gives the same design.
    groups : sequence of str, optional
        Group label of each factor. Factors of one group move in the same step (each in
        its own random direction), so a trajectory has ``G + 1`` points for ``G`` groups.

    Returns
    -------
    u : ndarray, shape (trajectories * (G + 1), d)
        Consecutive blocks of ``G + 1`` rows, one block per trajectory. Every value is one
        of ``0, 1/(p-1), …, 1``.
    meta : dict
        ``levels``, ``step`` (Δ), ``groups`` (names, first-appearance order),
        ``membership`` (group index of each factor), ``order`` (int array
        ``(trajectories, G)``: the group moved at each step), ``direction`` (±1 array
        ``(trajectories, d)``).

    Raises
    ------
    StudyError
        If ``d``, ``trajectories`` or ``levels`` is out of range, or ``groups`` has the
        wrong length.

    Examples
    --------
    >>> u, meta = morris_unit(3, 2, rng=np.random.default_rng(1))
    >>> u.shape, meta["step"]
    ((8, 3), 0.6666666666666666)
    >>> bool((np.count_nonzero(np.diff(u.reshape(2, 4, 3), axis=1), axis=2) == 1).all())
    True
    """
    for key, value, low in (("d", d, 1), ("trajectories", trajectories, 2), ("levels", levels, 2)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
            raise StudyError(_WHERE, key, f"must be an integer >= {low}; got {value!r}")
    if levels % 2:
        raise StudyError(_WHERE, "levels", f"must be even (base points need a level Δ above them); got {levels!r}")
    names, member = group_membership(d, groups)
    g = len(names)
    half = levels // 2
    # Base points use the lower half of the grid so that base + Δ (half the levels up) stays
    # on the grid; the direction then decides which end the trajectory starts from.
    base = rng.integers(half, size=(trajectories, d))
    direction = 2 * rng.integers(2, size=(trajectories, d)) - 1
    order = rng.permuted(np.tile(np.arange(g), (trajectories, 1)), axis=1)
    when = np.argsort(order, axis=1)  # the step (0-based) at which each group moves
    moved = when[:, None, :] < np.arange(g + 1)[None, :, None]  # (r, G+1, G)
    moved = moved[:, :, member]  # (r, G+1, d)
    high = moved ^ (direction[:, None, :] < 0)
    # Integer grid indices divided once keep every point exactly on the grid.
    u = (base[:, None, :] + half * high) / (levels - 1)
    meta = {"levels": levels, "step": morris_step(levels), "groups": names, "membership": member,
            "order": order, "direction": direction}
    return u.reshape(trajectories * (g + 1), d), meta
