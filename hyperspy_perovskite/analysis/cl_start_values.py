"""Compiled whole-map starting values of the emission model (one pass).

The same estimates as the vectorised numpy functions of
:mod:`hyperspy_perovskite.analysis.cl_emission` (``estimate_band``, the
second band on the residual of the first, ``estimate_tail_on_residual``),
computed spectrum by spectrum in one numba loop over the whole map, with
no temporary array as large as the map: about 30 times faster than numpy,
which makes a dozen passes over every spectrum with full-size temporaries.
:func:`~hyperspy_perovskite.analysis.cl_emission.emission_starting_values`
calls it; the numpy functions stay the reference (the tests compare both).
"""

from __future__ import annotations

import math

import numpy as np

from hyperspy_perovskite._numba_cache import njit_cached, njit_internal
from hyperspy_perovskite._numba_ops import max2, min2
from hyperspy_perovskite._threads import on_threads
from hyperspy_perovskite.analysis._select_numba import median, select

__all__ = ["starting_values_map"]

_SIGMA2FWHM = 2.0 * math.sqrt(2.0 * math.log(2.0))
_SQRT2PI = math.sqrt(2.0 * math.pi)
#: Baseline codes of :func:`starting_values_map`.
BASELINE_CODES = {"offset": 0, "linear": 1, "none": 2}
_NO_BASELINE = BASELINE_CODES["none"]
#: Start index 0 for :func:`_copy` typed int64, as ``n - m`` is: a literal 0
#: would give it a second compilation of its own (0.2 s on a fresh install)
_ZERO = np.int64(0)


@njit_internal(nogil=True, error_model="numpy")
def _smooth(y, w, out):
    """Boxcar of odd width ``w`` with the edges repeated (as
    ``scipy.ndimage.uniform_filter1d(..., mode="nearest")``)."""
    n = y.shape[0]
    h = w // 2
    s = 0.0
    for k in range(-h, h + 1):
        s += y[min2(max2(k, 0), n - 1)]
    for j in range(n):
        out[j] = s / w
        s += y[min2(j + h + 1, n - 1)] - y[max2(j - h, 0)]


@njit_internal(nogil=True, error_model="numpy")
def _copy(src, start, n, dst):
    """``dst[:n] = src[start:start + n]``, returned (a loop: numba's slice
    assignment compiles its shape-mismatch message, 2.2 s on a fresh install)."""
    for j in range(n):
        dst[j] = src[start + j]
    return dst


@njit_internal(nogil=True, error_model="numpy")
def _percentile10(ys, work):
    """``np.percentile(ys, 10)`` (linear interpolation) by selection, not a sort.

    The two values around the 10th percentile are those of
    ``np.partition(ys, lo)`` (NaN last; :func:`~._select_numba.select` on a
    copy in ``work``, as long as ``ys``).

    Measured and not kept (session 14; exact, the same values, as order
    statistics are values of ``ys``): the selection only among the values
    of a bracket placed by an evenly spaced sample of 64 (two selections
    of the sample, one pass counting the values below the bracket and
    copying those inside, about 110 of 1024): 4.8 -> 3.9 us on the
    smoothed 1024-channel spectra of bench_cl_fit, but full-resolution
    starting values are made for a fifth of the pixels only (0.15 us per
    spectrum of the map); the 14 smallest values kept sorted by insertion
    for the 128 binned channels: 1.04 -> 0.73 us on raw counts, none on
    the smoothed binned spectra of the fit (2.39 / 2.42 us per pixel).
    """
    n = ys.shape[0]
    pos = 0.1 * (n - 1)
    lo = math.floor(pos)
    _copy(ys, _ZERO, n, work)
    v = select(work, lo, n)
    if lo + 1 >= n:
        return v
    nxt = np.inf
    for j in range(lo + 1, n):
        nxt = min2(nxt, work[j])
    return v + (pos - lo) * (nxt - v)


@njit_internal(nogil=True, error_model="numpy")
def _baseline(ys, x, code, work):
    """``(a0, a1)`` of the baseline ``a0 + a1 x`` (see ``cl_emission._baseline``;
    ``work``: a work array as long as ``ys``)."""
    n = ys.shape[0]
    if code == 2:
        return 0.0, 0.0
    if code == 0:
        return _percentile10(ys, work), 0.0
    m = max2(2, n // 10)
    yl = median(_copy(ys, _ZERO, m, work), m)
    yr = median(_copy(ys, n - m, m, work), m)
    xl = median(_copy(x, _ZERO, m, work), m)
    xr = median(_copy(x, n - m, m, work), m)
    a1 = (yr - yl) / (xr - xl)
    return yl - a1 * xl, a1


@njit_internal(nogil=True, error_model="numpy")
def _cross(r, x, i0, i1, half):
    """Half-maximum crossing interpolated between channels ``i0`` and ``i1``."""
    n = r.shape[0]
    i0 = min2(max2(i0, 0), n - 1)
    i1 = min2(max2(i1, 0), n - 1)
    r0 = r[i0]
    r1 = r[i1]
    den = r1 - r0 if r1 != r0 else 1.0
    t = min2(max2((half - r0) / den, 0.0), 1.0)
    return x[i0] + t * (x[i1] - x[i0])


@njit_internal(nogil=True, error_model="numpy")
def _band(y, x, code, binned_width, upper, dx, w, ys, r):
    """One band and baseline of the spectrum ``y``: ``(centre, sigma, height,
    area, a0, a1)``, as ``cl_emission._estimate_band_np`` (``ys``, ``r``:
    work arrays)."""
    n = y.shape[0]
    if w > 1:
        _smooth(y, w, ys)
    else:
        _copy(y, _ZERO, n, ys)
    a0, a1 = _baseline(ys, x, code, r)  # r: work array until set below
    peak = 0
    for j in range(n):
        r[j] = ys[j] - (a0 + a1 * x[j])
        if r[j] > r[peak]:
            peak = j
    h = r[peak]
    half = 0.5 * h
    left = -1
    for j in range(peak - 1, -1, -1):
        if r[j] < half:
            left = j
            break
    right = n
    for j in range(peak + 1, n):
        if r[j] < half:
            right = j
            break
    xl = _cross(r, x, left, left + 1, half) if left >= 0 else x[0]
    xr = _cross(r, x, right - 1, right, half) if right < n else x[n - 1]
    fwhm = abs(xr - xl)
    xpk = 0.0
    if upper:
        # width from the half above the maximum, centre at the parabola's vertex
        pm = min2(max2(peak, 1), n - 2)
        den = r[pm - 1] - 2.0 * r[pm] + r[pm + 1]
        shift = 0.5 * (r[pm - 1] - r[pm + 1]) / den if den < 0.0 else 0.0
        xpk = x[pm] + min2(max2(shift, -0.5), 0.5) * (x[pm + 1] - x[pm])
        fwhm = 2.0 * abs(xr - xpk)
    box = (w * dx) ** 2 / 12.0  # boxcar broadening
    sigma = math.sqrt(max2((fwhm / _SIGMA2FWHM) ** 2 - box, (0.5 * dx) ** 2))
    h = h * math.sqrt(sigma * sigma + box) / sigma
    if upper:
        centre = xpk
    else:
        sw = 0.0
        swx = 0.0
        for j in range(min2(left + 1, peak), max2(right - 1, peak) + 1):
            v = max2(r[j], 0.0)
            sw += v
            swx += v * x[j]
        centre = swx / sw if sw > 0.0 else x[peak]
    if not (h > 0.0) or not math.isfinite(h):
        centre = 0.5 * (x[0] + x[n - 1])
        sigma = abs(x[n - 1] - x[0]) / 10.0
        h = 0.0
    return centre, sigma, h, h * sigma * _SQRT2PI / binned_width, a0, a1


@njit_internal(nogil=True, error_model="numpy")
def _tail(x, resid, e0, candidates, powers, base, sums, work):
    """``(A, Eu)`` of ``estimate_tail_on_residual`` for one spectrum.

    When every candidate is ``base / m`` with a small integer ``m``
    (``powers``; the default candidates are 0.24 eV / 48 ... / 2), the
    bases ``exp(d / Eu)`` are integer powers of one ``exp(d / base)`` per
    channel (:func:`_power_sums`); otherwise (``base <= 0``) one ``exp``
    per candidate. ``sums``, ``work``: the work arrays of :func:`tail_work`.
    """
    k = candidates.shape[0]
    n = x.shape[0]
    # the channels below the edge: exp(d / base) (or d) and the residual
    ev = sums[2 * k : 2 * k + n]
    rv = sums[2 * k + n : 2 * k + 2 * n]
    cnt = 0
    rr = 0.0
    for j in range(n):
        d = x[j] - e0
        if d > 0.0:
            continue
        rj = resid[j]
        rr += rj * rj
        ev[cnt] = math.exp(d / base) if base > 0.0 else d
        rv[cnt] = rj
        cnt += 1
    if base > 0.0:
        _power_sums(ev, rv, cnt, powers, sums, work)
        return _best_tail(rr, candidates, sums)
    # candidate by candidate, channels in the same order as one sum over
    # channels per candidate
    for c in range(k):
        bb = 0.0
        br = 0.0
        for i in range(cnt):
            b = math.exp(ev[i] / candidates[c])
            bb += b * b
            br += b * rv[i]
        sums[c] = bb  # [bb_0 .. bb_k-1, br_0 .. br_k-1, work]
        sums[k + c] = br
    return _best_tail(rr, candidates, sums)


#: Bits of the largest integer power of :func:`_integer_powers` (64).
_POWER_BITS = 7


def tail_work(n_candidates, n):
    """The work arrays of :func:`_tail` for ``n_candidates`` Urbach
    energies and spectra of ``n`` channels: ``(sums, work)``."""
    return np.empty(2 * (n_candidates + n)), np.empty((_POWER_BITS + n_candidates, n))


@njit_internal(nogil=True, error_model="numpy")
def _power_sums(ev, rv, cnt, powers, sums, work):
    """``sums[c] = sum_i b_i^2`` and ``sums[k + c] = sum_i b_i r_i`` with
    ``b_i = ev[i] ** powers[c]`` (``powers`` at most 64), by squaring, for
    every candidate ``c``; ``work``: ``(_POWER_BITS + k, n)``.

    The same floating-point operations, in the same order, as raising each
    ``ev[i]`` to each power by squaring in turn (``b = 1``; for each bit
    of the power, lowest first, ``b *= q`` where the bit is set, then ``q
    *= q``) and summing over ``i`` in order per candidate: the squares
    ``ev ** 2 ** t`` are the same for every power, so they are made once
    (rows ``t`` of ``work``); each candidate's powers are made channel
    after channel (row ``_POWER_BITS + c``; no branch inside, so the loops
    vectorise); the sums, which must keep their order, run three
    candidates at a time (six independent chains of additions instead of
    two). Bit for bit the values of the loop it replaces (one candidate
    after the other, a power by squaring per channel), 3 times faster:
    10.4 -> 3.1 us for 550 channels below the edge and 9 candidates.
    """
    k = powers.shape[0]
    bits = 0
    for c in range(k):
        m = powers[c]
        while m >> bits:
            bits += 1
    for i in range(cnt):
        work[0, i] = ev[i]
    for t in range(1, bits):
        for i in range(cnt):
            q = work[t - 1, i]
            work[t, i] = q * q
    for c in range(k):
        row = _POWER_BITS + c
        for i in range(cnt):
            work[row, i] = 1.0
        m = powers[c]
        t = 0
        while m > 0:
            if m & 1:
                for i in range(cnt):
                    work[row, i] *= work[t, i]
            m >>= 1
            t += 1
    for g in range(0, k, 3):
        c1 = min2(g + 1, k - 1)  # a repeated candidate: the same sums again
        c2 = min2(g + 2, k - 1)
        top = _POWER_BITS
        b0, b1, b2 = work[top + g], work[top + c1], work[top + c2]
        a0, a1, a2, r0, r1, r2 = 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
        for i in range(cnt):
            r = rv[i]
            a0 += b0[i] * b0[i]
            r0 += b0[i] * r
            a1 += b1[i] * b1[i]
            r1 += b1[i] * r
            a2 += b2[i] * b2[i]
            r2 += b2[i] * r
        sums[g], sums[k + g] = a0, r0
        sums[c1], sums[k + c1] = a1, r1
        sums[c2], sums[k + c2] = a2, r2


@njit_internal(nogil=True, error_model="numpy")
def _best_tail(rr, candidates, sums):
    """``(A, Eu)`` of the candidate of least cost, from the sums of
    :func:`_tail`."""
    k = candidates.shape[0]
    best_cost = np.inf
    best_a = 0.0
    best_eu = candidates[0]
    for c in range(k):
        bb = sums[c]
        br = sums[k + c]
        a = max2(br / (bb if bb > 0.0 else 1.0), 0.0)
        cost = rr - 2.0 * a * br + a * a * bb
        if cost < best_cost:
            best_cost = cost
            best_a = a
            best_eu = candidates[c]
    return best_a, best_eu


def _integer_powers(candidates):
    """``(powers, base)`` with ``candidates = base / powers`` (integers <= 64),
    or ``(zeros, 0.0)`` when there is no such base."""
    c = np.asarray(candidates, dtype=np.float64)
    for k in range(1, 9):
        base = float(c.max()) * k
        m = base / c
        if np.all(np.abs(m - np.round(m)) < 1e-9 * m) and m.max() <= 64:
            return np.round(m).astype(np.int64), base
    return np.zeros(c.size, np.int64), 0.0


@njit_internal(nogil=True, error_model="numpy")
def _gaussian_out(resid, x, height, centre, sigma):
    for j in range(x.shape[0]):
        u = (x[j] - centre) / sigma
        resid[j] -= height * math.exp(-0.5 * u * u)


@njit_internal(nogil=True, error_model="numpy", inline="always")
def _pixel(y, x, code, n_peaks, tail, variant, bw, dx, w, cands, tails, out, work):
    """All starting values of one spectrum into ``out`` (11 columns).

    Inlined into its one caller, :func:`_all_pixels`: one compiled level
    fewer, 3.1-3.8 -> 2.7-2.9 s of CPU to compile the start values on a
    fresh install (three alternating pairs at load 3; inlining its callees
    too was no faster). The second band is taken out of the residual only
    when the tail is estimated on it (variant 0): 2.99 -> 2.39 us per
    binned spectrum of the fit's first start (128 channels, variant 1),
    23.9 -> 19.5 us at 1024 channels (session 14; the same values).
    """
    n = y.shape[0]
    clean, ys, r = work[0], work[1], work[2]
    for j in range(n):
        v = y[j]
        clean[j] = v if math.isfinite(v) else 0.0
    upper = tail and variant == 0  # a tail widens the lower half
    centre, sigma, height, area, a0, a1 = _band(clean, x, code, bw, upper, dx, w, ys, r)
    span = abs(x[n - 1] - x[0])
    sigma = min2(max2(sigma, dx), span / 2.0)
    out[0], out[1], out[2], out[3], out[4], out[5] = centre, sigma, height, area, a0, a1
    if not (n_peaks == 2 or tail):
        return
    resid = work[3]
    for j in range(n):
        resid[j] = clean[j] - (a0 + a1 * x[j])
    _gaussian_out(resid, x, height, centre, sigma)
    if n_peaks == 2:
        # second band from the residual of the first, kept >= sigma apart
        # (int64 and bool, not literals: one compilation of _band)
        none, lower = np.int64(_NO_BASELINE), np.bool_(False)
        c2, s2, _, A2, _, _ = _band(resid, x, none, bw, lower, dx, w, ys, r)
        if abs(c2 - centre) < sigma:
            c2 = centre + (1.0 if c2 >= centre else -1.0) * 1.5 * sigma
            s2 = sigma
        s2 = min2(max2(s2, dx), span / 2.0)
        A2 = max2(A2, 0.05 * area)
        out[6], out[7], out[8] = c2, s2, A2
        if tail and variant != 1:  # the tail is estimated on what is left
            _gaussian_out(resid, x, A2 * bw / (s2 * _SQRT2PI), c2, s2)
    if tail:
        if variant == 1:
            tA, eu = 0.1 * height, 0.025
        else:
            powers, base, sums, pw = tails
            tA, eu = _tail(x, resid, centre, cands, powers, base, sums, pw)
        out[9] = max2(tA, 0.01 * height)
        out[10] = eu


@njit_cached(nogil=True, error_model="numpy")
def _all_pixels(Y, x, code, n_peaks, tail, variant, bw, dx, w, cands, tails, out, work):
    # work: (4, n) from the caller (an allocation here compiles numba's
    # np.empty, 0.1-0.2 s on a fresh install)
    for p in range(Y.shape[0]):
        _pixel(
            Y[p], x, code, n_peaks, tail, variant, bw, dx, w, cands, tails, out[p], work
        )


def starting_values_map(
    x,
    Y,
    baseline,
    n_peaks,
    tail,
    variant,
    binned_width,
    smooth,
    candidates,
    rows=None,
    block=2048,
):
    """Starting values of every spectrum of ``Y`` (``(n_spectra, n)``).

    One pass over the spectra in blocks of at most ``block``, on one thread
    per core; each block is copied to contiguous float64 by its thread (no
    copy of the whole map).

    Parameters
    ----------
    x : numpy.ndarray, shape (n,)
    Y : numpy.ndarray, shape (n_spectra, n)
        Any strides and dtype.
    baseline : {"offset", "linear", "none"}
    n_peaks : {1, 2}
    tail : bool
    variant : {0, 1}
    binned_width : float
    smooth : int
        Odd boxcar width in channels.
    candidates : sequence of float
        Urbach energies tried for the tail.
    rows : array of int, optional
        Only these spectra of ``Y``, in this order (as ``Y[rows]``, without
        that copy).
    block : int
        Largest number of spectra per block.

    Returns
    -------
    numpy.ndarray, shape (n_spectra, 11) or (len(rows), 11)
        Columns of ``cl_emission.STARTING_VALUE_COLUMNS`` (unused ones 0).

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.cl_start_values import starting_values_map
    >>> x = np.linspace(650, 770, 241)
    >>> y = 5 + 100 * np.exp(-0.5 * ((x - 700) / 6) ** 2)
    >>> sv = starting_values_map(x, y[None], "offset", 1, False, 0, 1.0, 5, (0.02,))
    >>> print(round(sv[0, 0], 1), round(sv[0, 1], 1))
    700.0 6.0
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    n_out = Y.shape[0] if rows is None else len(rows)
    dx = abs(float(np.median(np.diff(x)))) if x.size > 1 else 0.0
    out = np.zeros((n_out, 11))
    cands = np.asarray(candidates, dtype=np.float64)
    powers, base = _integer_powers(cands)
    args = (
        x,
        BASELINE_CODES[baseline],
        int(n_peaks),
        bool(tail),
        int(variant),
        float(binned_width),
        dx,
        int(smooth),
        cands,
    )

    def run(sl):  # one work array per block: blocks run on threads (no GIL)
        y = Y[sl] if rows is None else Y[rows[sl]]
        tails = (powers, base, *tail_work(cands.size, Y.shape[1]))
        work = np.empty((4, Y.shape[1]))
        y = np.ascontiguousarray(y, dtype=np.float64)
        _all_pixels(y, *args, tails, out[sl], work)

    on_threads(run, n_out, max_rows=block)
    return out
