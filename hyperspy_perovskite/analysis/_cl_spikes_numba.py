"""Compiled spike screen of :mod:`hyperspy_perovskite.analysis.cl_checks`.

The same screen as ``cl_checks._spikes_np`` (running median of ``width``
channels with the edges repeated, noise from the median absolute deviation
of each spectrum floored by the Poisson noise of the median, runs of more
than ``max_width`` hot channels kept), spectrum by spectrum in one numba
pass instead of a ``scipy.ndimage.median_filter`` over the whole map and a
dozen full-size temporaries. ``cl_checks`` uses it for finite numpy data
(about 10 times faster) and keeps the numpy code as its reference.
"""

from __future__ import annotations

import numpy as np

from hyperspy_perovskite._numba_cache import njit_cached, njit_internal
from hyperspy_perovskite._numba_ops import max2, min2
from hyperspy_perovskite._threads import on_threads
from hyperspy_perovskite.analysis._select_numba import median

__all__ = ["spike_rows", "spikes_and_median"]


#: A sorting network of 7 inputs (16 compare-exchanges; checked on all 128
#: inputs of 0 and 1, which suffices by Knuth's 0-1 principle).
_NET7 = (
    (0, 6), (2, 3), (4, 5), (0, 2), (1, 4), (3, 6), (0, 1), (2, 5),
    (3, 4), (1, 2), (4, 6), (2, 3), (4, 5), (1, 2), (3, 4), (5, 6),
)  # fmt: skip


@njit_internal(nogil=True, error_model="numpy", inline="always")
def _median7(a0, a1, a2, a3, a4, a5, a6):
    """Median of 7 values, branch-free (the network of :data:`_NET7`)."""
    a0, a6 = min2(a0, a6), max2(a0, a6)
    a2, a3 = min2(a2, a3), max2(a2, a3)
    a4, a5 = min2(a4, a5), max2(a4, a5)
    a0, a2 = min2(a0, a2), max2(a0, a2)
    a1, a4 = min2(a1, a4), max2(a1, a4)
    a3, a6 = min2(a3, a6), max2(a3, a6)
    a0, a1 = min2(a0, a1), max2(a0, a1)
    a2, a5 = min2(a2, a5), max2(a2, a5)
    a3, a4 = min2(a3, a4), max2(a3, a4)
    a1, a2 = min2(a1, a2), max2(a1, a2)
    a4, a6 = min2(a4, a6), max2(a4, a6)
    a2, a3 = min2(a2, a3), max2(a2, a3)
    a4, a5 = min2(a4, a5), max2(a4, a5)
    a1, a2 = min2(a1, a2), max2(a1, a2)
    a3, a4 = min2(a3, a4), max2(a3, a4)
    return a3


@njit_internal(nogil=True, error_model="numpy")
def _running_median(y, width, med, window):
    """Median of ``width`` (odd) channels around each channel, edges repeated."""
    n = y.shape[0]
    h = width // 2
    if width == 7 and n >= 7:
        for j in range(3, n - 3):
            med[j] = _median7(
                y[j - 3], y[j - 2], y[j - 1], y[j], y[j + 1], y[j + 2], y[j + 3]
            )
        for j in (0, 1, 2, n - 3, n - 2, n - 1):
            med[j] = _median7(
                y[max2(j - 3, 0)], y[max2(j - 2, 0)], y[max2(j - 1, 0)], y[j],
                y[min2(j + 1, n - 1)], y[min2(j + 2, n - 1)], y[min2(j + 3, n - 1)],
            )  # fmt: skip
        return
    for j in range(n):
        for k in range(width):
            v = y[min2(max2(j - h + k, 0), n - 1)]
            i = k
            while i > 0 and window[i - 1] > v:  # insertion sort
                window[i] = window[i - 1]
                i -= 1
            window[i] = v
        med[j] = window[h]


@njit_cached(nogil=True, error_model="numpy")
def _screen(Y, n_sigma, width, max_width, spikes, med, window, absr, hot):
    """Screen every row of ``Y`` into ``spikes``; returns whether every value
    of ``Y`` is finite (else the results are not the screen's).

    ``med``: the running median of each row (``Y``'s shape), or one row of
    work space for all (``(1, n)``: the median is not kept, and no array
    the size of the block is written). ``window`` (width,), ``absr`` (n,)
    and ``hot`` (n,): work arrays from the caller (allocations here compile
    numba's np.empty and np.zeros: 0.2 s on a fresh install).
    """
    n_pix, n = Y.shape
    length = max_width + 1
    last = med.shape[0] - 1
    finite = True
    for p in range(n_pix):
        y = Y[p]
        m = med[min2(p, last)]
        _running_median(y, width, m, window)
        # the noise is at least the Poisson floor: no channel above it, no
        # spike, and the spectrum's median absolute deviation is not needed
        candidate = False
        ok = True
        for j in range(n):
            candidate |= (y[j] - m[j]) > n_sigma * max2(np.sqrt(max2(m[j], 0.0)), 1e-12)
            ok &= (y[j] - y[j]) == 0.0  # False for NaN and +-inf
        finite &= ok
        if not candidate:
            continue
        for j in range(n):
            absr[j] = abs(y[j] - m[j])
        mad = 1.4826 * median(absr, n)
        for j in range(n):
            noise = max2(max2(mad, np.sqrt(max2(m[j], 0.0))), 1e-12)
            hot[j] = (y[j] - m[j]) > n_sigma * noise
        # a spike is a run of at most max_width hot channels
        run = 0
        for j in range(n + 1):
            if j < n and hot[j]:
                run += 1
                continue
            keep = run <= max_width or n < length
            for i in range(j - run, j):
                spikes[p, i] = keep
            run = 0
    return finite


def _work(width, n):
    """Work arrays of :func:`_screen`: the running window, the absolute
    residuals and the hot channels of one spectrum."""
    return np.empty(width), np.empty(n), np.zeros(n, dtype=bool)


def spikes_and_median(y, n_sigma, width, max_width, median=True):
    """``(spikes, median)`` of ``cl_checks._spikes_np`` for finite data.

    The spectra are converted to float64 block by block on the threads (no
    float copy of the whole map). A spectrum with no channel above
    ``n_sigma`` times the Poisson floor of its running median (the noise is
    never below it) has no spike: its median absolute deviation is not
    computed.

    Parameters
    ----------
    y : numpy.ndarray, shape (..., n)
        Finite spectra (any real dtype).
    n_sigma : float
    width : int
        Odd running-median width in channels.
    max_width : int
    median : bool
        Return the running median (False: None, and no map-sized array of
        it is made).

    Returns
    -------
    spikes : numpy.ndarray of bool, shape of ``y``
    median : numpy.ndarray of float, shape of ``y``, or None

    Examples
    --------
    >>> from hyperspy_perovskite.analysis._cl_spikes_numba import spikes_and_median
    >>> y = np.full((1, 30), 10.0)
    >>> y[0, 7] = 900.0
    >>> spikes, med = spikes_and_median(y, 8.0, 7, 2)
    >>> np.flatnonzero(spikes[0]).tolist(), float(med[0, 7])
    ([7], 10.0)
    """
    y = np.asarray(y)
    flat = y.reshape(-1, y.shape[-1])
    spikes = np.zeros(flat.shape, dtype=bool)
    med = np.empty(flat.shape) if median else None
    args = (float(n_sigma), int(width), int(max_width))

    def run(sl):
        block = np.ascontiguousarray(flat[sl], dtype=np.float64)
        m = med[sl] if median else np.empty((1, block.shape[1]))
        _screen(block, *args, spikes[sl], m, *_work(args[1], block.shape[1]))

    if flat.size:
        on_threads(run, flat.shape[0])
    return spikes.reshape(y.shape), None if med is None else med.reshape(y.shape)


#: Spectra per call of :func:`_screen` in :func:`spike_rows`.
_SCREEN_ROWS = 256


def spike_rows(y, n_sigma, width, max_width, reference=None):
    """Which spectra of ``y`` hold a spike: ``spikes_and_median(...)[0]
    .any(axis=-1)`` without a map-sized array.

    Each block of spectra is converted to float64, checked finite and
    screened by its thread; a block with a non-finite value is screened by
    ``reference(block)`` (the numpy screen, which handles them; the screen
    is spectrum by spectrum, so a block gives what the whole map would).
    The screen itself tells whether the block was finite (no second pass
    over it) and keeps its running median in one row (no block-sized array,
    whose fresh pages cost more than writing them): on bench_cl_fit's map
    (128 x 128 x 1024 float64) 41-48 -> 34-38 ms of CPU, alternating,
    load 1.8-1.9 (session 14), the same rows. Each thread screens
    :data:`_SCREEN_ROWS` spectra at a time into one work array of that many
    rows (session 17, outside): no block-sized array of spike flags (2 MB
    per block of 2048 spectra on fresh pages) and, for integer data, no
    float64 copy of the block (16 MB). The same map, 2 processes each, 8
    calls each, load 6-7, ms of CPU: float64 first call 31-35 -> 26, later
    25.8-26.8 -> 25.7; uint16 first 43.5 -> 35-38, later 33.3-35.4 ->
    29.8-31.4. 64 spectra at a time (more calls): later float64 calls
    25.4-25.9 -> 26.1-27.5, not kept.

    Parameters
    ----------
    y : numpy.ndarray, shape (..., n)
    n_sigma : float
    width : int
    max_width : int
    reference : callable, optional
        ``reference(block) -> spikes`` for blocks that are not all finite.

    Returns
    -------
    numpy.ndarray of bool, shape ``y.shape[:-1]``

    Examples
    --------
    >>> from hyperspy_perovskite.analysis._cl_spikes_numba import spike_rows
    >>> y = np.full((3, 30), 10.0)
    >>> y[1, 7] = 900.0
    >>> spike_rows(y, 8.0, 7, 2).tolist()
    [False, True, False]
    """
    y = np.asarray(y)
    flat = y.reshape(-1, y.shape[-1])
    rows = np.zeros(flat.shape[0], dtype=bool)
    args = (float(n_sigma), int(width), int(max_width))
    check = y.dtype.kind not in "iub"

    def run(sl):
        n = flat.shape[1]
        spikes = np.zeros((_SCREEN_ROWS, n), dtype=bool)  # kept all False
        med = np.empty((1, n))  # one row: the median is not kept
        work = _work(args[1], n)
        for i in range(sl.start, sl.stop, _SCREEN_ROWS):
            j = min(i + _SCREEN_ROWS, sl.stop)
            block = np.ascontiguousarray(flat[i:j], dtype=np.float64)
            finite = _screen(block, *args, spikes[: j - i], med, *work)
            hit = spikes[: j - i]
            if not finite and check:
                hit = reference(flat[i:j])  # NaN or inf: the numpy screen
            rows[i:j] = hit.any(axis=-1)
            if not finite or rows[i:j].any():
                spikes[...] = False

    if flat.size:
        on_threads(run, flat.shape[0])
    return rows.reshape(y.shape[:-1])
