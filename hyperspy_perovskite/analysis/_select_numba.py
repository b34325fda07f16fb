"""Hand-written selection (k-th smallest, median) for compiled code.

numba's own ``np.partition`` and ``np.median`` compile slowly: its
``np.partition`` alone took 7.4 s to compile on a fresh install (its
argument checks compile ``np.unique``, a sort and string formatting), which
was a third of the first CL fit of a session. These loops compile in a
fraction of that and select the same values:

- :func:`select` orders values as ``np.partition`` does, NaN after every
  number (numpy's sort order), so the value it puts at position ``k``, and
  the values after it, are those of ``np.partition(a, k)``;
- :func:`median` is numba's ``np.median`` for data without NaN: the middle
  value, or the mean ``(a + b) / 2`` of the two middle ones.
"""

from __future__ import annotations

import numpy as np

from hyperspy_perovskite._numba_cache import njit_internal
from hyperspy_perovskite._numba_ops import min2

__all__ = ["median", "select"]


@njit_internal(nogil=True, error_model="numpy", inline="always")
def _less(a, b):
    """``a`` before ``b`` in numpy's sort order (NaN after every number)."""
    return a < b or (b != b and a == a)


@njit_internal(nogil=True, error_model="numpy")
def _partition(a, low, high):
    """Partition ``a[low:high + 1]`` around the median of three of its first,
    middle and last values; returns the pivot's final position ``i``
    (``a[low:i]`` not after it, ``a[i + 1:high + 1]`` not before it)."""
    mid = (low + high) >> 1
    if _less(a[mid], a[low]):
        a[low], a[mid] = a[mid], a[low]
    if _less(a[high], a[mid]):
        a[high], a[mid] = a[mid], a[high]
    if _less(a[mid], a[low]):
        a[low], a[mid] = a[mid], a[low]
    pivot = a[mid]
    a[high], a[mid] = a[mid], a[high]
    i = low
    j = high - 1
    while True:  # stops on values equal to the pivot: ties split evenly
        while i < high and _less(a[i], pivot):
            i += 1
        while j >= low and _less(pivot, a[j]):
            j -= 1
        if i >= j:
            break
        a[i], a[j] = a[j], a[i]
        i += 1
        j -= 1
    a[i], a[high] = a[high], a[i]
    return i


@njit_internal(nogil=True, error_model="numpy")
def select(a, k, n):
    """Reorder ``a[:n]`` in place so that ``a[k]`` is its ``k``-th smallest
    value (NaN last), none after it smaller and none before it larger, as
    ``np.partition(a[:n], k)``; returns ``a[k]``. Compiled code only.
    """
    low = np.int64(0)  # not a literal 0: one compilation of _partition
    high = n - 1
    while high > low:
        i = _partition(a, low, high)
        if i == k:
            break
        if i < k:
            low = i + 1
        else:
            high = i - 1
    return a[k]


@njit_internal(nogil=True, error_model="numpy")
def median(a, n):
    """Median of ``a[:n]`` (``n >= 1``, no NaN), reordering ``a[:n]`` in place.

    The same number as numba's ``np.median(a[:n])``: the middle value for
    odd ``n``, else ``(a + b) / 2`` of the two middle values.

    Compiled code only.

    Examples
    --------
    >>> import numpy as np
    >>> from numba import njit
    >>> from hyperspy_perovskite.analysis._select_numba import median
    >>> @njit
    ... def median_of(a):
    ...     return median(a.copy(), a.shape[0])
    >>> float(median_of(np.array([4.0, 1.0, 3.0, 2.0])))
    2.5
    """
    half = n >> 1
    if n & 1:
        return select(a, half, n)
    lo = select(a, half - 1, n)
    hi = a[half]
    for j in range(half + 1, n):  # after the selection: the smallest above it
        hi = min2(hi, a[j])
    return (lo + hi) / 2
