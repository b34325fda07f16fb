"""Residual statistics of one fitted spectrum, and the fit's record of them.

:func:`row_statistics` reduces a residual ``r = y - model`` to the
Wald-Wolfowitz runs-test z-score of its signs (Wald and Wolfowitz, Ann.
Math. Statist. 11, 147 (1940)) and the largest absolute residual after a
boxcar, relative to the model's range. Two callers share it, so both give
the same numbers for the same residual:

- :func:`~hyperspy_perovskite.fitting._residuals.residual_statistics`, which
  evaluates the model at the stored parameters of every pixel;
- the solver (:func:`~hyperspy_perovskite.fitting._levenberg_marquardt.fit_block`),
  at the end of each pixel's fit, from its own last evaluation of the model
  at the fitted point (no evaluation of its own where that is there), when
  the model carries a record (:func:`start_record`): ``fit_emission`` asks
  for it, and the validity of the fit then reads the statistics of every
  pixel whose parameters are still those the solver fitted
  (:func:`recorded`), instead of evaluating the model again.

Only fits on an unbinned axis are recorded (the residual is then ``y - f``
in both callers, the same floating-point operations).
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
from numba import njit

from hyperspy_perovskite._numba_ops import max2, min2

__all__ = [
    "RESIDUAL_WIDTH",
    "record_statistics",
    "recorded",
    "remember",
    "row_statistics",
    "start_record",
]

#: Boxcar width (channels) of the relative residual size the solver records
#: (the default of ``residual_statistics`` and of the emission validity).
RESIDUAL_WIDTH = 5


@njit(nogil=True, inline="always", _nrt=False)
def _reflect(j, n):
    """Index ``j`` of a length-``n`` array extended by mirror reflection
    (``d c b a | a b c d | d c b a``, scipy.ndimage's ``"reflect"``)."""
    if 0 <= j < n:
        return j
    period = 2 * n
    j = j % period
    return j if j < n else period - 1 - j


@njit(nogil=True, inline="always", _nrt=False)
def _sign(r):
    """-1, 0 or 1 (0 for NaN), without a branch."""
    return (r > 0.0) - (r < 0.0)


@njit(nogil=True, error_model="numpy", inline="always", _nrt=False)
def _model_range(f, binw, start, stop):
    """``(smallest, largest, NaN count)`` of ``f * binw`` over ``start:stop``
    (NaN left out), in one pass from the first channel on: a compare and a
    select per value, as ``min`` and ``max`` take them."""
    lo = np.inf
    hi = -np.inf
    n_nan = 0
    for j in range(start, stop):
        m = f[j] * binw[j]
        nan = m != m
        n_nan += nan
        lo = min2(lo, np.inf if nan else m)
        hi = max2(hi, -np.inf if nan else m)
    return lo, hi, n_nan


@njit(nogil=True, error_model="numpy", inline="always", _nrt=False)
def _model_range_lanes(f, binw, n_ch):
    """:func:`_model_range` over all channels in four interleaved lanes
    (four independent chains of compares instead of one). A NaN is never
    below or above the value so far, so ``min2`` and ``max2`` skip it
    without the select of :func:`_model_range`. The smallest and largest
    of a set are the same in any order, except which of 0.0 and -0.0 a tie
    keeps: where an extreme is zero the single pass is taken instead."""
    lo0 = lo1 = lo2 = lo3 = np.inf
    hi0 = hi1 = hi2 = hi3 = -np.inf
    n_nan = 0
    end = n_ch - n_ch % 4
    for j in range(0, end, 4):
        m0, m1 = f[j] * binw[j], f[j + 1] * binw[j + 1]
        m2, m3 = f[j + 2] * binw[j + 2], f[j + 3] * binw[j + 3]
        n0, n1, n2, n3 = m0 != m0, m1 != m1, m2 != m2, m3 != m3
        n_nan += n0 + n1 + n2 + n3
        lo0 = min2(lo0, m0)
        lo1 = min2(lo1, m1)
        lo2 = min2(lo2, m2)
        lo3 = min2(lo3, m3)
        hi0 = max2(hi0, m0)
        hi1 = max2(hi1, m1)
        hi2 = max2(hi2, m2)
        hi3 = max2(hi3, m3)
    lo_t, hi_t, nan_t = _model_range(f, binw, end, n_ch)
    lo = min2(min2(lo0, lo1), min2(min2(lo2, lo3), lo_t))
    hi = max2(max2(hi0, hi1), max2(max2(hi2, hi3), hi_t))
    if lo == 0.0 or hi == 0.0:  # a signed zero may tie: the single pass
        return _model_range(f, binw, 0, n_ch)
    return lo, hi, n_nan + nan_t


@njit(nogil=True, error_model="numpy", _nrt=False)
def row_statistics(rb, f, binw, width, row, k):
    """Runs-test z into ``row[k]`` and relative boxcar residual into
    ``row[k + 1]`` of the residual ``rb`` (``y - f`` times the bin width;
    overwritten) of the model ``f`` (per bin width ``binw``).

    ``z`` is exactly :func:`~hyperspy_perovskite.analysis.cl_checks.runs_test`'s;
    the size is the largest absolute residual after a ``width``-channel
    boxcar (``scipy.ndimage.uniform_filter1d``, mode ``"reflect"``, of the
    residual with NaN read as 0) over the model's range (largest minus
    smallest value; NaN where the model has a NaN).

    Compiled apart, not inlined into its callers (nor is
    :func:`record_statistics`): inlined into the solver it added 4 s of
    CPU to the solver's first compilation, called it adds about 2 s
    (``bench_first_call.py --only cl``, empty cache, load 1.1-1.3: first
    call 12.0 -> 9.8-10.0 s, 7.5-8.0 s without the record), for the same
    values and no measurable cost per call.

    Measured and not kept (session 15): :func:`record_statistics` passed to
    the solver as a first-class function (as its sandwich is), compiled
    apart and cached. The solver compiled in 5.08-5.16 s of CPU instead of
    6.35-6.54 s, but the record itself took 1.56-1.62 s and the residual
    pass, which then no longer found this function compiled, 2.33 s
    instead of 1.47-1.61 s: the second process's work rose from about 9.3
    to 10.3 s, and the cold first call (``bench_first_call.py --only cl``,
    empty cache, alternating, load 1.6-2.5) was not faster. Most of this
    function's compile time is numba's typing and lowering, not LLVM:
    compiled at optimisation level 1 it takes 1.33 s against 1.40 s at 3.
    """
    n_ch = rb.shape[0]
    half = width // 2
    big = np.finfo(np.float64).max
    lo, hi, n_nan = _model_range_lanes(f, binw, n_ch)
    pos = 0
    neg = 0
    for j in range(n_ch):  # no branch: vectorises
        r = rb[j]
        pos += r > 0.0
        neg += r < 0.0
    # sign changes, zeros skipped (branch-free selects: the signs of a
    # residual are random, so branches on them mispredict)
    changes = 0
    if pos + neg == n_ch:  # no zero (nor NaN): neighbours compared (vectorises)
        for j in range(1, n_ch):
            changes += (rb[j] > 0.0) != (rb[j - 1] > 0.0)
    else:
        prev = _sign(rb[0]) if n_ch > 0 else 0
        for j in range(1, n_ch):
            s = _sign(rb[j])
            changes += (s != 0) & (s != prev)
            prev = s if s != 0 else prev
    runs = changes + (1 if pos + neg > 0 else 0)
    n = float(pos + neg)
    z = np.nan
    if pos > 0 and neg > 0:
        mu = 1.0 + 2.0 * pos * neg / n
        var = (mu - 1.0) * (mu - 2.0) / (n - 1.0)
        if var > 0:
            z = (runs - mu) / math.sqrt(var)
    row[k] = z
    # boxcar of nan_to_num(r) over `width` channels, reflected at the
    # ends: a running sum (as scipy's uniform_filter1d)
    for j in range(n_ch):
        r = rb[j]
        r = 0.0 if r != r else r
        rb[j] = min2(max2(r, -big), big)
    acc = 0.0
    for q in range(-half, half + 1):
        acc += rb[_reflect(q, n_ch)]
    largest = abs(acc)
    # the first channels, the interior (no reflection), the last ones;
    # max(largest, NaN) keeps largest, as the comparison it replaces
    inner = max2(n_ch - half, 1)
    for j in range(1, min2(inner, half + 1)):
        acc += rb[j + half] - rb[_reflect(j - half - 1, n_ch)]
        largest = max2(largest, abs(acc))
    for j in range(half + 1, inner):
        acc += rb[j + half] - rb[j - half - 1]
        largest = max2(largest, abs(acc))
    for j in range(inner, n_ch):
        acc += rb[_reflect(j + half, n_ch)] - rb[_reflect(j - half - 1, n_ch)]
        largest = max2(largest, abs(acc))
    largest /= width
    height = hi - lo
    row[k + 1] = np.nan if (n_nan > 0 or n_ch == 0) else largest / height


@njit(nogil=True, error_model="numpy", _nrt=False)
def record_statistics(y, ev, binw, row, k):
    """The solver's statistics of a fitted point into ``row[k]``,
    ``row[k + 1]``: :func:`row_statistics` of ``y - f`` (an unbinned axis,
    as ``residual_statistics`` computes it), ``f`` the model in the
    solver's evaluation arrays ``ev`` (evaluated at that point)."""
    f, rb = ev[2], ev[4]
    for j in range(y.shape[0]):
        rb[j] = y[j] - f[j]
    row_statistics(rb, f, binw, RESIDUAL_WIDTH, row, k)


def start_record(model):
    """Ask every later ``fast_multifit`` of ``model`` to record the residual
    statistics of the pixels it fits (until :func:`stop_record`)."""
    model._residual_record = {}


def stop_record(model):
    """Forget the record of :func:`start_record` (the data may change after)."""
    model.__dict__.pop("_residual_record", None)


@contextlib.contextmanager
def paused(model):
    """No statistics recorded by the fits made in the block (refits whose
    values are mostly restored after); the record so far is kept."""
    saved = model.__dict__.pop("_residual_record", None)
    try:
        yield
    finally:
        if saved is not None:
            model._residual_record = saved


def wanted(model, binw):
    """Whether ``fast_multifit`` records the statistics of ``model``: asked
    for (:func:`start_record`) and the axis unbinned."""
    return getattr(model, "_residual_record", None) is not None and bool(
        np.all(binw == 1.0)
    )


def _key(desc, selection):
    """What the record is valid for: the model's structure and channels."""
    names = tuple((p.component.name, p.name) for p in desc.parameters)
    if isinstance(selection, slice):
        channels = (selection.start, selection.stop)
    else:
        channels = np.asarray(selection).tobytes()
    return tuple(desc.signature), names, channels


def remember(model, desc, out, fitted, selection):
    """Keep the statistics of the pixels ``fitted`` (flat bool) from the
    solver's ``out`` (columns ``2 n_p + 3``, ``2 n_p + 4``), with the
    parameters they were computed at."""
    n_p = desc.n_parameters
    key = _key(desc, selection)
    rec = model._residual_record
    if rec.get("key") != key or rec["params"].shape[0] != out.shape[0]:
        rec.clear()
        rec["key"] = key
        rec["params"] = np.full((out.shape[0], n_p), np.nan)
        rec["stats"] = np.full((out.shape[0], 2), np.nan)
    done = fitted & np.isfinite(out[:, 2 * n_p])
    rec["params"][done] = out[done, :n_p]
    rec["stats"][done] = out[done, 2 * n_p + 3 : 2 * n_p + 5]
    rec["params"][fitted & ~done] = np.nan


def recorded(model, desc, params, selection, width):
    """``(use, stats)``: the pixels whose parameters ``params`` (rows) are
    exactly those the solver recorded statistics at (same model, channels
    and boxcar width), and the recorded ``(z, size)`` rows; None when
    nothing is recorded."""
    rec = getattr(model, "_residual_record", None)
    if not rec or int(width) != RESIDUAL_WIDTH:
        return None
    if rec["key"] != _key(desc, selection) or rec["params"].shape != params.shape:
        return None
    return np.all(params == rec["params"], axis=1), rec["stats"]
