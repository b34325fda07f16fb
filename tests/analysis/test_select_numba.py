"""Hand-written compiled selection against NumPy (NaN last, ties, sizes)."""

import numpy as np
import pytest
from numba import njit

from hyperspy_perovskite.analysis._select_numba import median, select
from hyperspy_perovskite.analysis.cl_start_values import _percentile10 as percentile10


# the helpers are compiled for numba callers only (no Python entry point)
@njit
def _select(a, k):
    return select(a, k, a.shape[0])


@njit
def _percentile10(a, work):
    return percentile10(a, work)


@njit
def _median(a, n):
    return median(a, n)


def _samples(seed, count=300):
    """Random arrays of 1-300 values: continuous, heavy ties, NaN, inf."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        n = int(rng.integers(1, 300))
        kind = i % 5
        if kind == 0:
            a = rng.normal(size=n)
        elif kind == 1:  # few distinct values: many ties
            a = rng.integers(0, 4, n).astype(float)
        elif kind == 2:  # sorted, reversed or constant runs
            a = np.sort(rng.poisson(3.0, n).astype(float))[:: rng.choice([-1, 1])]
        else:
            a = rng.normal(size=n)
            a[rng.random(n) < rng.uniform(0.0, 1.0)] = np.nan
            if kind == 4:
                a[rng.random(n) < 0.1] = rng.choice([np.inf, -np.inf])
        yield a


def test_select_matches_numpy_partition():
    """The k-th value and the values after it are np.partition's (NaN last)."""
    for a in _samples(1):
        for k in {0, a.size // 10, a.size // 2, a.size - 1}:
            ref = np.partition(a, k)
            work = a.copy()
            got = _select(work, k)
            np.testing.assert_array_equal(got, ref[k])
            np.testing.assert_array_equal(np.sort(work), np.sort(a))  # a reordering
            np.testing.assert_array_equal(np.sort(work[k + 1 :]), np.sort(ref[k + 1 :]))
            np.testing.assert_array_equal(np.sort(work[:k]), np.sort(ref[:k]))


def _percentile10_partition(a):
    """The definition of the compiled function with NumPy's partition
    (numba's ``min`` skips NaN: the smallest number after position lo)."""
    n = a.size
    pos = 0.1 * (n - 1)
    lo = int(np.floor(pos))
    part = np.partition(a, lo)
    v = part[lo]
    if lo + 1 >= n:
        return v
    rest = part[lo + 1 :]
    rest = rest[~np.isnan(rest)]
    nxt = rest.min() if rest.size else np.inf
    return v + (pos - lo) * (nxt - v)


def test_percentile10_matches_numpy():
    for a in _samples(2):
        with np.errstate(invalid="ignore"):
            ref = _percentile10_partition(a)
        got = _percentile10(a.copy(), np.empty(a.size))
        np.testing.assert_array_equal(got, ref)
        if np.isfinite(a).all():
            assert got == pytest.approx(np.percentile(a, 10), rel=1e-12, abs=1e-12)


def test_percentile10_leaves_its_input():
    a = np.random.default_rng(3).normal(size=101)
    keep = a.copy()
    _percentile10(a, np.empty(101))
    np.testing.assert_array_equal(a, keep)


def test_median_matches_numpy():
    for a in _samples(4):
        a = a[np.isfinite(a)]
        if not a.size:
            continue
        ref = np.median(a)
        work = np.concatenate([a, [1e300, -1e300]])  # only a[:n] is read
        assert _median(work, a.size) == ref
