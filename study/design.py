"""The Saltelli design layout shared by the sampler and the Sobol estimators.

One base row of a Saltelli design is ``M`` consecutive model runs (see
``docs/architecture.md``)::

    A, AB:p1 … AB:pD, [BA:p1 … BA:pD if second order], B, [ABg:g for multi-member groups]

``AB:p`` is ``A`` with column ``p`` taken from ``B``; ``BA:p`` is ``B`` with column ``p``
taken from ``A``; ``ABg:g`` is ``A`` with every column of group ``g`` taken from ``B``. The
first ``D + 2`` (``2D + 2``) blocks are exactly SALib 1.6's ``sobol.sample`` order, so a
design with one replicate and no multi-member group is SALib's matrix. This module has no
dependencies beyond numpy so that both the sampler and the analysis can import it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def layout(params: Sequence[str], groups: Mapping[str, Sequence[str]] | None,
           second_order: bool) -> list[str]:
    """Matrix labels of one base row of a Saltelli design.

    Parameters
    ----------
    params : sequence of str
        Parameter names, in design-column order.
    groups : mapping of str to sequence of str, optional
        Group name -> member names. Only groups with more than one member add a block;
        a single-member group's indices are its member's.
    second_order : bool
        Whether the design carries the ``BA`` blocks needed for second-order indices.

    Returns
    -------
    list of str

    Examples
    --------
    >>> layout(["x1", "x2"], {"g": ["x1", "x2"]}, second_order=False)
    ['A', 'AB:x1', 'AB:x2', 'B', 'ABg:g']
    """
    labels = ["A", *(f"AB:{p}" for p in params)]
    if second_order:
        labels += [f"BA:{p}" for p in params]
    labels.append("B")
    labels += [f"ABg:{g}" for g, members in (groups or {}).items() if len(members) > 1]
    return labels


def cross(a: np.ndarray, b: np.ndarray, params: Sequence[str],
          groups: Mapping[str, Sequence[str]] | None, second_order: bool) -> np.ndarray:
    """Assemble the Saltelli blocks from the two base matrices.

    Parameters
    ----------
    a, b : numpy.ndarray
        Base matrices of shape ``(..., D)`` (any leading shape, e.g. ``(n, R)``).
    params, groups, second_order
        As for :func:`layout`.

    Returns
    -------
    numpy.ndarray
        Shape ``(..., M, D)``, blocks in the order of :func:`layout`.

    Examples
    --------
    >>> a, b = np.zeros((1, 2)), np.ones((1, 2))
    >>> cross(a, b, ["x1", "x2"], None, second_order=True)[0]
    array([[0., 0.],
           [1., 0.],
           [0., 1.],
           [0., 1.],
           [1., 0.],
           [1., 1.]])
    """
    # Which columns of each block come from B: one boolean row per block.
    take_b = block_masks(params, groups, second_order)
    return np.where(take_b, b[..., None, :], a[..., None, :])


def block_masks(params: Sequence[str], groups: Mapping[str, Sequence[str]] | None,
                second_order: bool) -> np.ndarray:
    """Boolean ``(M, D)`` array: True where a block's column is taken from ``B``."""
    d = len(params)
    index = {p: j for j, p in enumerate(params)}
    eye = np.eye(d, dtype=bool)
    rows = [np.zeros(d, bool), *eye]
    if second_order:
        rows += list(~eye)
    rows.append(np.ones(d, bool))
    for members in (groups or {}).values():
        if len(members) > 1:
            rows.append(np.isin(np.arange(d), [index[m] for m in members]))
    return np.array(rows, dtype=bool).reshape(-1, d)
