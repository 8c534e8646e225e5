"""Borgonovo's moment-independent delta, estimated from given data, for many outputs.

``delta_i = ½ E_{X_i} ∫ |f_Y(y) − f_{Y|X_i}(y)| dy`` is half the expected L1 distance
between the output's density and its density given ``X_i`` (Borgonovo 2007). It is
estimated from one iid sample as Plischke et al. (2013) do and as
``SALib.analyze.delta`` implements it: the sample is cut into ``M`` equal-frequency
classes of ``X_i``, each class's density and the unconditional one are Gaussian kernel
estimates (Silverman's bandwidth) on 100 equally spaced points between the smallest and
largest output, and the L1 distances are integrated by the trapezoid rule. ``M`` follows
Plischke et al.'s rule ``min(ceil(n ** (2 / (7 + tanh((1500 - n) / 500)))), 48)``.
The same classes give the first-order index ``S1`` as a correlation ratio.

What differs from SALib 1.6, and why:

- The point estimate uses the whole sample (SALib 1.6 evaluates it on one bootstrap
  resample); ``delta_hat`` is that estimate, equal to SALib's ``calc_delta``.
- Bias. SALib stops at Plischke et al.'s eq. 30, ``2 d̂ − mean(d*)`` with half-width
  ``z · sd(d*)``. That removes only the bias a bootstrap can see (noise in the class
  densities, which pushes delta up). Kernel smoothing and the width of the classes both
  pull an influential input's delta down in every resample alike: on ``Y = X1 + 0.3 X2``
  (normal inputs, n = 4096) SALib's estimate averaged 0.626 for a true 0.647 and its
  interval covered the truth in 0 of 10 seeds. Here each estimate (whole sample and every
  resample) is first jackknifed over the bandwidth (``h`` and ``√2 h``) and over the class
  count (``M`` and ``M/2``), see :func:`_jackknife`; eq. 30 and the bootstrap interval
  are then applied to that estimator (8 and 9 of 10 seeds covered, mean 0.645). Resamples
  are of whole rows, shared by all parameters; SALib 1.6 draws from NumPy's global
  generator and changes the global warning filters, so it is not called here.
- Noise floor. A non-influential input's delta is positive (about 0.03 at n = 4096), so
  an interval above zero means nothing. ``influential`` requires the interval's lower end
  above ``max(0, upper end of the dummy's interval)``, the dummy being a random
  permutation of the rows; an ignored input was influential in 0 of 10 seeds.
- An output with at most ``discrete_max`` distinct values (such as a 0/1 indicator)
  has no density; for it the class densities are the class frequencies of each value,
  ``delta = ½ Σ_c (n_c / n) Σ_v |p_c(v) − p(v)|``, the exact delta of a discrete output
  (nothing is smoothed, so it is not jackknifed).
- A constant output has no delta: its values are NaN, with a warning and a note.

Cost: the kernel sums are ``2 × n × 100`` Gaussian evaluations per parameter and resample
(two bandwidths for the jackknife): one ``exp`` and one multiply per pair (the narrower
kernel is the square of the wider, see :func:`_kde`), about the cost of two bare ``exp``
over the same block (``benchmarks/bench_delta.py``); the bootstrap dominates. A bootstrap resample repeats about 37 % of its rows, and the kernels
of a row's copies within a class are equal: each is evaluated once and weighted (see
:class:`_Runs`), so a resample costs about 0.65 of the sample's kernel work (0.8 of its
whole estimate, measured: the class moments, S1 and the L1 distances stay per row). On
the flagship's delta (6 continuous elements and 2 discrete, 25 inputs and the dummy,
4096 rows, 30 resamples) the weights and the square in place of a square root together
took the CPU time from 6.5–7.1 s to 4.0–4.4 s. Each (output, resample) is one
task for a pool of threads, one per core (numpy releases the GIL), with the inputs' class
moments and L1 distances vectorised; see :func:`delta_indices`.

References
----------
Borgonovo, E. (2007). A new uncertainty importance measure. Reliability Engineering &
System Safety 92(6), 771-784. doi:10.1016/j.ress.2006.04.015

Plischke, E., Borgonovo, E., Smith, C. L. (2013). Global sensitivity measures from given
data. European Journal of Operational Research 226(3), 536-550.
doi:10.1016/j.ejor.2012.11.047

Schucany, W. R., Sommers, J. P. (1977). Improvement of kernel type density estimators.
Journal of the American Statistical Association 72(358), 420-423.
"""

from __future__ import annotations

import json
import os
import threading
import warnings
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import xarray as xr

from study.errors import InternalError, StudyError, StudyWarning
from study.spec import independent_rows

from .draws import read_rows
from .methods import Method
from .morris import _check_common
from .tidy import element_names, iid_values, labelled, tidy_rows

_WHERE = "analysis.delta"
GRID_POINTS = 100
#: Second bandwidth (a factor of Silverman's) of the jackknife that removes the smoothing bias.
WIDER = float(np.sqrt(2.0))
_CHUNK = 1024  # rows per kernel block: (1024 × 100) float64 stays in cache
_SQRT_2PI = np.sqrt(2.0 * np.pi)
_EXPANDED_MAX = 1e4  # (grid span / bandwidth)² up to which the exponent is expanded (see _kde)
#: Lowest kernel exponent evaluated: exp(-600) = 2.6e-261 is still a normal double (below
#: about -708 exp turns subnormal and 100 times slower), and its square root, exp(-300),
#: is the floor of the wider kernel.
_FLOOR = -600.0


def _threads() -> int:
    """Cores this process may run on (the kernel sums release the GIL in numpy)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=_threads(), thread_name_prefix="delta")


#: Where :func:`analyze` records this thread's warnings of :func:`delta_indices` as notes.
#: Thread-local, not ``warnings.catch_warnings``: that swaps the process's warning state,
#: so it would also record (or lose) the warnings of the analyses running beside delta.
_notes = threading.local()


def _warn(message: str) -> None:
    """A :class:`StudyWarning` from :func:`delta_indices` to its caller, or a note for :func:`analyze`."""
    log = getattr(_notes, "log", None)
    if log is None:
        warnings.warn(message, StudyWarning, stacklevel=3)
    else:
        log.append(message)


def n_classes(n: int) -> int:
    """Plischke et al.'s number of equal-frequency classes for ``n`` rows.

    Examples
    --------
    >>> n_classes(100), n_classes(8192)
    (4, 21)
    """
    exponent = 2.0 / (7.0 + np.tanh((1500.0 - n) / 500.0))
    return int(min(int(np.ceil(n**exponent)), 48))


def class_labels(n: int) -> np.ndarray:
    """Class of each position of a sample sorted by the input (ranks 1..n)."""
    edges = np.linspace(0, n, n_classes(n) + 1)
    return np.searchsorted(edges, np.arange(1, n + 1), side="left") - 1


def _kde(values: np.ndarray, starts: np.ndarray, n_c: np.ndarray, scale: np.ndarray, inv_h: np.ndarray,
         grid: np.ndarray, wide_scale: np.ndarray | None = None, weights: np.ndarray | None = None):
    """Per-class sums ``scale_c Σ_i weights_i exp(-½ ((g - y_i) inv_h_c)²)`` at every grid point.

    Class ``c`` is the run of ``n_c[c]`` rows from ``starts[c]``, with one bandwidth
    (``1 / inv_h[c]``) and one ``scale[c]``; a class whose scale is 0 sums to 0. Without
    ``weights`` every row counts once; a row of weight ``k`` stands for ``k`` equal rows
    of its class (a resample's copies of one row, see :class:`_Runs`), so its kernel is
    evaluated once instead of ``k`` times. With
    ``wide_scale`` the sums at the jackknife's second bandwidth ``WIDER / inv_h`` come too,
    scaled by ``wide_scale``. Then the block's exponents are those of the wider kernel
    (``w = inv_h / 2`` below) and the first kernel is its square
    (``exp(-x²/(2h²)) = exp(-x²/(4h²))²``), taken in place: one ``exp`` and one multiply
    for both bandwidths (a square root of the first kernel would cost as much as the
    ``exp``). The square's rounding (about 1e-16 relative) is far below the exponent's.

    With ``w = inv_h / √2``, ``g' = g - o`` and ``Y = (y - o) w`` (``o`` the grid's centre) the
    exponent is ``-(w g'_k - Y_i)² = -Y_i² + 2 w_i Y_i g'_k - w_i² g'_k²``: one rank-3 matrix
    product of per-row coefficients and ``(1, g', g'²)`` writes every exponent of a block,
    so a block is passed over three times (the product, ``exp``, the class sums as
    matrix-vector products) instead of eight. Centring on the grid bounds the cancellation:
    the exponent's absolute error is about ``1e-16 · (range / h)²``, so classes whose
    grid spans more than 100 bandwidths take the direct form ``-(w g' - Y)²`` (the
    indices agree with the eight-pass form to about 1e-15, 3e-14 for a lognormal output).

    Returns
    -------
    ndarray, shape (classes, grid points), or a pair of them with ``wide_scale``
    """
    out = np.zeros((len(starts), grid.size))
    wide = None if wide_scale is None else np.zeros_like(out)
    centre = 0.5 * (grid[0] + grid[-1])
    g = grid - centre
    q = np.stack([np.ones_like(g), g, g * g])
    # With both bandwidths the exponents are the wider kernel's, half the first one's.
    half = 1.0 if wide is None else 0.5
    w = np.repeat(inv_h / np.sqrt(2.0) if wide is None else 0.5 * inv_h, n_c)
    y = (values - centre) * w
    p = np.column_stack([-y * y, 2.0 * w * y, -w * w])
    # Far tails would underflow to subnormals, which are 100 times slower to compute with;
    # exp(_FLOOR) is already negligible beside any kernel sum. The exponent is smallest at
    # an end of the grid, so only rows with a far end need the clamp (at half of it for
    # the wider kernel, whose square then stops at exp(_FLOOR)).
    far = np.maximum(np.abs(g[0] * w - y), np.abs(g[-1] * w - y)) ** 2 > -_FLOOR * half
    # Where the grid spans more than 100 bandwidths the expansion's cancellation would
    # cost more than 1e-12 of the exponent: those rows take the direct form.
    direct = ((g[-1] - g[0]) * w) ** 2 > _EXPANDED_MAX * half
    buf = np.empty((min(_CHUNK, values.size), grid.size))
    floor = _constant(buf.shape, _FLOOR * half)
    if weights is None:
        blocks = _blocks(tuple(starts.tolist()), tuple(n_c.tolist()), values.size)
    else:
        blocks = _weighted_blocks(starts, n_c, weights)
    for r0, r1, pieces in blocks:
        b = np.matmul(p[r0:r1], q, out=buf[: r1 - r0])
        rows = direct[r0:r1]
        if rows.any():
            t = w[r0:r1][rows, None] * g[None, :] - y[r0:r1][rows, None]
            b[rows] = -(t * t)
        if far[r0:r1].any():
            np.maximum(b, floor[: r1 - r0], out=b)
        np.exp(b, out=b)
        if wide is not None:
            _class_sums(wide, b, pieces)
            np.multiply(b, b, out=b)
        _class_sums(out, b, pieces)
    out *= scale[:, None]
    if wide is None:
        return out
    wide *= wide_scale[:, None]
    return out, wide


@lru_cache(maxsize=8)
def _constant(shape: tuple[int, ...], value: float) -> np.ndarray:
    """A read-only array of ``value``. ``np.maximum`` against an array runs vectorised,
    against a scalar 3 to 4 times slower (numpy 2.x, measured): as slow as the ``exp``."""
    out = np.full(shape, value)
    out.flags.writeable = False
    return out


@lru_cache(maxsize=8)
def _blocks(starts: tuple[int, ...], n_c: tuple[int, ...], n: int) -> tuple:
    """The blocks of rows :func:`_kde` passes over, ``(r0, r1, pieces)``; each piece
    ``(class, first, end, ones)`` is a class's rows in the block (relative to ``r0``) with
    a vector of ones as long. Kept: every input and resample of an analysis has the same
    classes."""
    ones = _constant((min(_CHUNK, n),), 1.0)
    ends = np.add(starts, n_c)
    out = []
    for r0 in range(0, n, _CHUNK):
        r1 = min(r0 + _CHUNK, n)
        pieces = []
        for c in range(np.searchsorted(ends, r0, side="right"), np.searchsorted(starts, r1)):
            a, e = max(starts[c], r0) - r0, min(int(ends[c]), r1) - r0
            pieces.append((c, a, e, ones[: e - a]))
        out.append((r0, r1, tuple(pieces)))
    return tuple(out)


def _weighted_blocks(starts: np.ndarray, n_c: np.ndarray, weights: np.ndarray) -> list:
    """The blocks of :func:`_blocks` with each piece's ``weights`` in place of its ones
    (not kept: a resample's runs differ for every input)."""
    n = weights.size
    ends = (starts + n_c).tolist()
    starts = starts.tolist()
    out, c = [], 0
    for r0 in range(0, n, _CHUNK):
        r1 = min(r0 + _CHUNK, n)
        pieces = []
        while c < len(starts) and ends[c] <= r0:
            c += 1
        k = c
        while k < len(starts) and starts[k] < r1:
            a, e = max(starts[k], r0), min(ends[k], r1)
            if e > a:
                pieces.append((k, a - r0, e - r0, weights[a:e]))
            k += 1
        out.append((r0, r1, pieces))
    return out


def _class_sums(out: np.ndarray, b: np.ndarray, pieces: tuple) -> None:
    """Add each class's rows of the block ``b`` to its sum (times their weights), one
    matrix-vector product each."""
    for c, a, e, weights in pieces:
        out[c] += weights @ b[a:e]


def _bandwidth_scales(sd: np.ndarray, n_c, ok, widen: float) -> tuple[np.ndarray, np.ndarray]:
    """Silverman's bandwidth times ``widen`` of classes of ``n_c`` rows with standard
    deviations ``sd``, and the kernel's normalising scale; a class with one value (``ok``
    False) gets bandwidth 1 and scale 0 (it is left out)."""
    h = np.where(ok, widen * sd * (0.75 * n_c) ** -0.2, 1.0)
    return h, np.where(ok, 1.0 / (n_c * h * _SQRT_2PI), 0.0)


def _density(y: np.ndarray, grid: np.ndarray, distinct: np.ndarray | None = None,
             weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian kernel density of ``y`` on ``grid`` at Silverman's bandwidth and at
    :data:`WIDER` times it; with ``weights``, its kernels are those of the ``distinct``
    values (each standing for ``weights`` of the rows of ``y``)."""
    n, sd = y.size, y.std(ddof=1)
    h = sd * (0.75 * n) ** -0.2
    wide_scale = 1.0 / (n * (WIDER * sd * (0.75 * n) ** -0.2) * _SQRT_2PI)
    values = y if weights is None else distinct
    f, f_wide = _kde(values, np.array([0]), np.array([values.size]), np.array([1.0 / (n * h * _SQRT_2PI)]),
                     np.array([1.0 / h]), grid, np.array([wide_scale]), weights)
    return f[0], f_wide[0]


@dataclass(frozen=True)
class _Runs:
    """A resample's copies of one row, as runs in each input's sorted order.

    Copies of a row sit next to each other in every input's order (see
    :func:`_sorted_rows`) and have one output value, so within a class their kernels are
    equal: :func:`_kde` evaluates one per run, weighted by its length. A run that
    straddles a class boundary is split there. About 37 % of a bootstrap resample's rows
    are copies (``1/e`` of the rows are missing, the others repeat), so the kernel sums
    do that much less work. The sums differ from the rows' one by one in their last bits.
    """

    firsts: np.ndarray  # flat positions (into the (d, n) sorted rows) of each run's first row
    weights: np.ndarray  # each run's length, as float
    n_c: np.ndarray  # runs in each (input, class), shape (d, classes)
    offsets: np.ndarray  # input i's runs are firsts[offsets[i]:offsets[i + 1]]

    @classmethod
    def of(cls, rows: np.ndarray, starts: np.ndarray) -> "_Runs":
        """The runs of ``rows`` (row of the sample at each sorted position, shape (d, n))
        cut at the class ``starts``."""
        d, n = rows.shape
        first = np.empty((d, n), dtype=bool)
        first[:, 0] = True
        np.not_equal(rows[:, 1:], rows[:, :-1], out=first[:, 1:])
        first[:, starts] = True  # position 0 among them, so no run crosses from one input to the next
        firsts = np.flatnonzero(first)
        n_c = np.add.reduceat(first, starts, axis=1, dtype=np.int64)
        offsets = np.r_[0, np.cumsum(n_c.sum(axis=1))]
        return cls(firsts, np.diff(np.r_[firsts, d * n]).astype(float), n_c, offsets)

    def of_input(self, ys: np.ndarray, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Input ``i``'s run values (from ``ys``, the output sorted by each input), class
        starts and sizes in runs, and weights."""
        s = slice(self.offsets[i], self.offsets[i + 1])
        n_c = self.n_c[i]
        return ys.ravel()[self.firsts[s]], np.r_[0, np.cumsum(n_c[:-1])], n_c, self.weights[s]


@dataclass(frozen=True)
class _Classes:
    """Plischke et al.'s equal-frequency classes of ``n`` sorted rows (as runs of rows)."""

    starts: np.ndarray  # first position of each class
    n_c: np.ndarray  # rows in each class
    n: int

    @classmethod
    def of(cls, n: int) -> "_Classes":
        labels = class_labels(n)
        starts = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])  # none is empty
        return cls(starts, np.diff(np.r_[starts, n]), n)

    @property
    def m(self) -> int:
        return self.starts.size


def _pairs(a: np.ndarray) -> np.ndarray:
    """Values of neighbouring classes (along axis 1) added in pairs, ``(0, 1), (2, 3), …``;
    with an odd count the last class stays alone. Exactly ``np.add.at`` over ``c // 2``."""
    out = a[:, 0::2].copy()
    out[:, : a.shape[1] // 2] += a[:, 1::2]
    return out


def _kde_estimates(ys: np.ndarray, cls: _Classes, grid: np.ndarray, runs: _Runs | None = None) -> np.ndarray:
    """delta (SALib's), delta with its biases jackknifed away, and S1, of one output sorted
    by each input.

    ``ys`` has shape (inputs, n): row ``i`` is the output's values sorted by input ``i``.
    The steps are vectorised over the inputs but for the kernel sums, one input at a time
    (their blocks stay in cache). With ``runs`` (of a resample's copies of rows), the
    kernel sums evaluate one kernel per run. Returns shape (3, inputs).
    """
    n, starts, n_c = cls.n, cls.starts, cls.n_c
    # Rows contiguous: numpy sums a strided row in another order (other last bits).
    ys = np.ascontiguousarray(ys)
    # Class moments, every input at once.
    mean = np.add.reduceat(ys, starts, axis=1) / n_c
    dev = ys - np.repeat(mean, n_c, axis=1)
    sd = np.sqrt(np.add.reduceat(dev * dev, starts, axis=1) / np.maximum(n_c - 1, 1))
    spread = np.maximum.reduceat(ys, starts, axis=1) - np.minimum.reduceat(ys, starts, axis=1)
    # A class with one value has no density; Plischke et al. and SALib leave it out.
    ok = spread > 0
    h, scale = _bandwidth_scales(sd, n_c, ok, 1.0)
    _, wide_scale = _bandwidth_scales(sd, n_c, ok, WIDER)
    # Kernel sums at both bandwidths, for the classes and (once) for the whole sample.
    f_c, f_wide = np.empty((2, ys.shape[0], cls.m, grid.size))
    for i in range(ys.shape[0]):
        if runs is None:
            f_c[i], f_wide[i] = _kde(ys[i], starts, n_c, scale[i], 1.0 / h[i], grid, wide_scale[i])
        else:
            values, run_starts, run_n_c, weights = runs.of_input(ys, i)
            f_c[i], f_wide[i] = _kde(values, run_starts, run_n_c, scale[i], 1.0 / h[i], grid, wide_scale[i],
                                     weights)
    if runs is None:
        f_y, f_y_wide = _density(ys[0], grid)
    else:
        values, _, _, weights = runs.of_input(ys, 0)
        f_y, f_y_wide = _density(ys[0], grid, values, weights)
    # Plischke et al.'s eq. 26 at both bandwidths, and over classes merged in pairs (the
    # size-weighted mean of the two densities, so only the class width differs).
    weight = n_c * ok
    delta = _l1_share(f_c, weight, f_y, grid, n)
    wider = _l1_share(f_wide, weight, f_y_wide, grid, n)
    w = _pairs(weight)
    merged = _pairs(f_c * weight[..., None]) / np.where(w > 0, w, 1.0)[..., None]
    fewer = _l1_share(merged, np.where(w > 0, _pairs(n_c[None, :]), 0.0), f_y, grid, n)
    s1 = np.sum(n_c / n * (mean - ys.mean(axis=1, keepdims=True)) ** 2, axis=1) / ys.var(axis=1)
    return np.stack([delta, _jackknife(delta, wider, fewer, cls.m), s1])


def _l1_share(f_c: np.ndarray, weight: np.ndarray, f_y: np.ndarray, grid: np.ndarray, n: int) -> np.ndarray:
    """``Σ_c weight_c / (2 n) ∫ |f_Y − f_c|`` per input: Plischke et al.'s eq. 26.

    ``f_c`` has shape (inputs, classes, grid points), ``weight`` (inputs, classes).
    """
    l1 = np.trapezoid(np.abs(f_y - f_c), grid, axis=-1)
    return np.sum(weight / (2.0 * n) * l1, axis=-1)


def _jackknife(delta: float, wider: float, fewer: float, m: int) -> float:
    """Remove the estimator's two first-order biases by generalized jackknifes.

    Both biases pull an influential input's delta down (0.626 against a true 0.647 on a
    linear Gaussian model at n = 4096), which the bootstrap cannot see because every
    resample has them too. Kernel smoothing adds ``a h**2`` to a density, so a delta at
    bandwidths ``h`` and ``c h`` combine into ``(c**2 d(h) - d(c h)) / (c**2 - 1)``
    (Schucany & Sommers 1977), here ``2 d(h) - d(sqrt(2) h)``. A class of width ``1/M``
    mixes conditional densities over a spread of ``X_i`` whose variance is ``∝ 1/M**2``;
    with the ``M`` classes merged in pairs into ``M' = ceil(M / 2)`` and ``r = M / M'``
    the same combination ``(r**2 d(M) - d(M')) / (r**2 - 1)`` removes that. With fewer
    than 4 classes the class term is left out.
    """
    out = (WIDER**2 * delta - wider) / (WIDER**2 - 1)
    m_coarse = (m + 1) // 2
    if m >= 4:
        r2 = (m / m_coarse) ** 2
        out += (delta - fewer) / (r2 - 1)
    return out


def _delta_s1_discrete(codes: np.ndarray, labels: np.ndarray, n_values: int,
                       values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """delta and S1 of a discrete output for a batch of orderings, codes (B, n)."""
    b, n = codes.shape
    n_lab = int(labels[-1]) + 1
    n_c = np.bincount(labels, minlength=n_lab)
    idx = (np.arange(b)[:, None] * n_lab + labels[None, :]) * n_values + codes
    counts = np.bincount(idx.ravel(), minlength=b * n_lab * n_values).reshape(b, n_lab, n_values)
    p_c = counts / n_c[None, :, None]
    p = counts.sum(axis=1, keepdims=True) / n
    delta = 0.5 * np.sum(n_c[None, :] / n * np.abs(p_c - p).sum(axis=2), axis=1)
    mean_c = p_c @ values
    mean = (p @ values)[:, 0]
    var = (p @ values**2)[:, 0] - mean**2
    s1 = np.sum(n_c[None, :] / n * (mean_c - mean[:, None]) ** 2, axis=1) / var
    return delta, s1


def _sorted_rows(order: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Rows of a resample sorted by each input, from the sample's own sort.

    A resample is ``counts[i]`` copies of row ``i``; repeating each row of the sample's
    sorted order that many times sorts the resample without sorting again. Returns
    shape (d, n).
    """
    n, d = order.shape
    return np.repeat(order.T.ravel(), counts[order.T].ravel()).reshape(d, n)


def _resample_counts(n: int, resamples: int, rng: np.random.Generator):
    """How often each row appears: once in the sample itself, then in each bootstrap resample."""
    yield np.ones(n, dtype=np.int64)
    for _ in range(resamples):
        yield np.bincount(rng.integers(n, size=n), minlength=n)


def _in_order(pool: ThreadPoolExecutor, fn, tasks, window: int):
    """``fn(*task)`` for each task on ``pool``, results in the tasks' order, with at most
    ``window`` tasks submitted ahead (each holds an output sorted by every input)."""
    pending = deque()
    for task in tasks:
        pending.append(pool.submit(fn, *task))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def delta_indices(x: np.ndarray, y: np.ndarray, *, params: Sequence[str], conf_level: float = 0.95,
                  resamples: int = 100, rng: np.random.Generator, elements: Sequence[str] | None = None,
                  discrete_max: int = 10) -> xr.Dataset:
    """Borgonovo's delta and the correlation-ratio S1 of each input, with bootstrap intervals.

    Parameters
    ----------
    x : ndarray, shape (n, d)
        An iid sample of the inputs (physical or unit-cube values: only their ranks
        matter). For a Saltelli design pass only the rows of ``A`` and ``B``; the
        cross rows ``AB_j`` are not an iid sample.
    y : ndarray, shape (n,) or (n, K)
        Outputs; each column is analysed on its own.
    params : sequence of str, length d
    conf_level : float, default 0.95
    resamples : int, default 100
        Bootstrap resamples of whole rows (shared by all inputs and outputs). The time
        is about ``1.6 ms × (d + 1) × (resamples + 1)`` per continuous output at
        ``n = 8192`` (one core), about 2 ms × (resamples + 1) per discrete output; memory
        stays O(n d). 100 resamples estimate the interval half-width to about 7 %.
    rng : numpy.random.Generator
        Source of the bootstrap draws.
    elements : sequence of str, optional
        Labels of the output columns; default ``"0", "1", …``.
    discrete_max : int, default 10
        Outputs with at most this many distinct values use the discrete estimator.

    Returns
    -------
    xarray.Dataset
        ``delta`` (bias-reduced: jackknifed, then eq. 30), ``delta_conf``, ``delta_hat``
        (the whole-sample estimate before bias reduction, SALib's), ``S1``, ``S1_conf``,
        ``influential`` (interval above the dummy's noise floor) over
        ``("element", "param")``; ``delta_dummy``, ``delta_dummy_conf``, ``S1_dummy``,
        ``S1_dummy_conf`` over ``element``, the same for a random permutation of the rows
        (an input with no influence: the noise floor to compare against); coordinate ``estimator`` along ``element``
        ("kde", "discrete" or "constant"); ``attrs["notes"]`` a JSON object of notes
        per element (empty when none).

    Raises
    ------
    study.errors.StudyError
        If an output is not finite (naming it and the row).
    study.errors.InternalError
        If shapes disagree, there are fewer than 20 rows, or ``conf_level`` /
        ``resamples`` are out of range (the loader refuses every study that could cause it).

    Warns
    -----
    study.errors.StudyWarning
        For every constant output (its indices are NaN) and constant input.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.random((400, 2))
    >>> ds = delta_indices(x, x[:, 0] ** 2, params=["a", "b"], resamples=20, rng=rng)
    >>> bool(ds.delta.sel(param="a") > 0.5 > ds.delta.sel(param="b"))
    True
    """
    x = np.asarray(x, dtype=float)
    params = [str(p) for p in params]
    if x.ndim != 2 or x.shape[1] != len(params):
        raise InternalError(_WHERE, "params", f"must name every column of x ({x.shape[-1]}); got {len(params)}")
    n, d = x.shape
    if n < 20:
        raise InternalError(_WHERE, "x", f"must have at least 20 rows; got {n}")
    if not np.isfinite(x).all():
        j = int(np.flatnonzero(~np.isfinite(x).all(axis=0))[0])
        raise StudyError(_WHERE, "x", f"must be finite; got non-finite values of {params[j]!r}")
    y, elements = _check_common(y, n, conf_level, resamples, elements, _WHERE)
    labels = class_labels(n)
    # A dummy input independent of everything gives the estimator's noise floor: the
    # given-data delta of a non-influential input is positive, not zero.
    x = np.column_stack([x, rng.permutation(n)])
    # Ties in an input keep row order, as SciPy's ordinal ranks (and SALib) do; in a
    # resample, copies of one row stay together (see _sorted_rows).
    order = np.argsort(x, axis=0, kind="stable")
    k = y.shape[1]
    estimator, notes, kinds = [], {}, []
    flat_x = np.ptp(x, axis=0) == 0
    for j in np.flatnonzero(flat_x):
        _warn(f"delta: input {params[j]!r} is constant; its delta and S1 are NaN")
    for e in range(k):
        values, codes = np.unique(y[:, e], return_inverse=True)
        if values.size == 1:
            msg = f"output {elements[e]!r} is constant ({float(y[0, e])!r}): delta and S1 are undefined (NaN)"
            _warn(f"delta: {msg}")
            notes[elements[e]] = msg
            estimator.append("constant")
        elif values.size <= discrete_max:
            estimator.append("discrete")
            kinds.append((e, "discrete", (values, codes)))
        else:
            estimator.append("kde")
            kinds.append((e, "kde", np.linspace(y[:, e].min(), y[:, e].max(), GRID_POINTS)))
    # Per element and resample: delta at Silverman's bandwidth, jackknifed delta, S1.
    res = np.full((k, resamples + 1, 3, d + 1), np.nan)
    cls = _Classes.of(n)

    def continuous():
        """The (element, resample) pairs to estimate by kernel densities, with the output
        sorted by each input; discrete elements are estimated on the way (they are cheap).
        Resamples are the outer loop so that memory stays O(n d) whatever their number, and
        the draws are made here, in order, whatever the threads do."""
        for r, counts in enumerate(_resample_counts(n, resamples, rng)):
            rows = _sorted_rows(order, counts)  # (d + 1, n)
            # The sample itself has no copies: its kernels stay one per row.
            runs = None if r == 0 else _Runs.of(rows, cls.starts)
            for e, kind, extra in kinds:
                if kind == "discrete":
                    values, codes = extra
                    delta, s1 = _delta_s1_discrete(codes[rows], labels, values.size, values)
                    res[e, r] = delta, delta, s1  # frequencies are not smoothed: nothing to jackknife
                else:
                    yield e, r, y[:, e][rows], extra, runs

    def estimate(e, r, ys, grid, runs):
        return e, r, _kde_estimates(ys, cls, grid, runs)

    threads = _threads()
    with _pool() as pool:
        # Each (element, resample) is estimated on its own, so the numbers do not depend on
        # the threads' order.
        for e, r, est in _in_order(pool, estimate, continuous(), window=2 * threads):
            res[e, r] = est
    res[..., flat_x] = np.nan
    from scipy.stats import norm  # slow to import; needed once, here

    z = norm.ppf(0.5 + conf_level / 2)
    point, boot = res[:, 0], res[:, 1:]
    # Plischke et al.'s eq. 30 on the jackknifed estimator: 2 d - mean(d*).
    delta = 2.0 * point[:, 1] - boot[:, :, 1].mean(axis=1)
    delta_conf = z * boot[:, :, 1].std(axis=1, ddof=1)
    s1_conf = z * boot[:, :, 2].std(axis=1, ddof=1)
    floor = np.maximum(delta[:, d] + delta_conf[:, d], 0.0)
    with np.errstate(invalid="ignore"):
        influential = (delta[:, :d] - delta_conf[:, :d]) > floor[:, None]
    dims = ("element", "param")
    return xr.Dataset(
        {"delta": (dims, delta[:, :d]), "delta_conf": (dims, delta_conf[:, :d]),
         "delta_hat": (dims, point[:, 0, :d]), "S1": (dims, point[:, 2, :d]), "S1_conf": (dims, s1_conf[:, :d]),
         "delta_dummy": ("element", delta[:, d]), "delta_dummy_conf": ("element", delta_conf[:, d]),
         "S1_dummy": ("element", point[:, 2, d]), "S1_dummy_conf": ("element", s1_conf[:, d]),
         "influential": (dims, influential, {"rule": "delta interval lower end above max(0, the dummy's "
                                                     "delta upper end)"})},
        coords={"element": elements, "param": params, "estimator": ("element", estimator)},
        attrs={"method": "delta", "conf_level": conf_level, "resamples": resamples, "classes": int(labels[-1]) + 1,
               "grid_points": GRID_POINTS, "conf_method": "bootstrap over rows, z * sd",
               "bias_reduction": "generalized jackknife over bandwidths h and sqrt(2) h (smoothing bias), "
                                 "then 2 * estimate - mean(bootstrap) (Plischke et al. 2013, eq. 30)",
               "notes": json.dumps(notes)},
    )


# -- the method as a run's analysis runs it (analysis.methods) ---------------------------

#: The delta estimator's kernel densities cost O(n) per input, output and resample; these
#: caps keep it to seconds per output while its interval stays informative.
DELTA_MAX_ROWS = 4096
DELTA_RESAMPLES = 30


def analyze(run, settings, rng) -> xr.Dataset | None:
    """Borgonovo's delta of every output, on a prefix of the run's independent draws."""
    results, a = settings.results, run.study.analysis
    params = json.loads(results.attrs["params"])
    iid = settings.iid[:DELTA_MAX_ROWS]  # A and B rows interleave, so a prefix keeps both
    x = np.column_stack([read_rows(results[p], iid) for p in params])
    out = []
    for o in settings.outputs:
        values, index, dims = iid_values(results[o], iid)
        labels = element_names(o, index)
        # A constant input or output (delta undefined) is recorded in the notes, not printed.
        _notes.log = caught = []
        try:
            ds = delta_indices(x, values, params=params, conf_level=a.conf_level, elements=labels,
                               resamples=min(a.resamples, DELTA_RESAMPLES), rng=rng("delta", o))
        finally:
            _notes.log = None
        settings.notes.extend(caught)
        ds = ds.drop_vars("estimator", errors="ignore").assign_coords(element=np.arange(ds.sizes["element"]))
        settings.rows.extend(tidy_rows(ds, "delta", o, dims, index, {
            "delta": ("param", "Borgonovo delta, Plischke et al. (2013) estimator, jackknifed over "
                               "bandwidth and class count"),
            "S1": ("param", "correlation ratio from the delta estimator's classes")},
            f"bootstrap over draws ({min(a.resamples, DELTA_RESAMPLES)} resamples of {len(iid)}), normal interval",
            flagged=("delta",)))
        out.append(labelled(ds, o, index))
    return xr.merge(out, compat="override", join="outer") if out else None


#: Independent rows below which a study naming delta is refused at load (delta_indices' minimum).
DELTA_MIN_ROWS = 20


def _check(study, where_n):
    """Refused before the run: :func:`delta_indices` would refuse too few rows only after the evaluation."""
    rows = independent_rows(study)
    if rows < DELTA_MIN_ROWS:
        return where_n, (f"must give the delta method at least {DELTA_MIN_ROWS} independent rows (its estimator's "
                         f"minimum; a {study.sampling.method} design of N = {study.sampling.samples} gives {rows}); "
                         f"got {study.sampling.samples}")
    return None


METHOD = Method(name="delta", rank_index="delta", label="δ", text_label="delta", on_draws=True, analyze=analyze,
                check=_check)
