"""Checks of luminescence spectra before and after a fit (numpy / dask arrays).

- :func:`find_spikes` / :func:`remove_spikes`: one- or two-channel cosmic-ray
  spikes, found against a running median and replaced by it, vectorised over
  all pixels (HyperSpy's ``spikes_removal_tool`` walks spikes one by one in
  Python on eager data only; LumiSpy has no spike tool of its own).
- :func:`counts_check`: whether data look like photon counts (non-negative,
  integer, variance near the mean), before Poisson weights are used.
- :func:`runs_test`: the Wald-Wolfowitz runs test of the residual signs, which
  tells, without knowing the noise level, when a model leaves structure in
  the residuals (A. Wald and J. Wolfowitz, Ann. Math. Stat. 11, 147 (1940)).

Spectra are arrays whose LAST axis is the spectral axis.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import median_filter

__all__ = ["find_spikes", "remove_spikes", "counts_check", "runs_test"]


def _is_dask(a):
    return type(a).__module__.startswith("dask")


def _spikes_np(y, n_sigma, width, max_width, compiled=True, median=True):
    y = np.asarray(y)
    finite = y.dtype.kind in "iub" or bool(np.isfinite(y).all())
    if compiled and y.size and finite:  # the same, one numba pass
        from hyperspy_perovskite.analysis._cl_spikes_numba import spikes_and_median

        return spikes_and_median(y, n_sigma, width, max_width, median=median)
    y = np.asarray(y, dtype=float)
    med = median_filter(y, size=(1,) * (y.ndim - 1) + (width,), mode="nearest")
    # noise from the median absolute deviation of the residual of each
    # spectrum, floored by Poisson noise of the median for count data
    r = y - med
    mad = 1.4826 * np.median(np.abs(r), axis=-1, keepdims=True)
    noise = np.maximum(mad, np.sqrt(np.clip(med, 0.0, None)))
    noise = np.maximum(noise, 1e-12)
    hot = r > n_sigma * noise
    # a spike is a run of at most max_width hot channels: a band is wider
    length = max_width + 1
    wide = np.zeros_like(hot)
    if hot.shape[-1] >= length:
        full = np.lib.stride_tricks.sliding_window_view(hot, length, axis=-1)
        full = full.all(axis=-1)
        for j in range(length):
            wide[..., j : j + full.shape[-1]] |= full
    return hot & ~wide, med


def _check_widths(width, max_width):
    """The running median must be wider than two spikes side by side."""
    if width <= 2 * max_width:
        raise ValueError(
            f"width ({width} channels) must exceed twice max_width ({max_width})."
        )


def find_spikes(y, n_sigma=8.0, width=7, max_width=2):
    """Channels that hold a cosmic-ray spike.

    A channel is a spike when it exceeds the running median of ``width``
    channels by more than ``n_sigma`` times the noise (median absolute
    deviation of the spectrum's residual, at least the Poisson noise of the
    median) and belongs to a run of at most ``max_width`` such channels:
    emission bands, several channels wide, are never touched.

    Parameters
    ----------
    y : numpy.ndarray or dask.array.Array, shape (..., n)
    n_sigma : float
    width : int
        Running-median width in channels (odd, > 2 * max_width).
    max_width : int
        Widest spike in channels.

    Returns
    -------
    Array of bool, shape (..., n); lazy in, lazy out.

    Examples
    --------
    >>> import numpy as np
    >>> from hyperspy_perovskite.analysis.cl_checks import find_spikes
    >>> x = np.arange(100.0)
    >>> y = 10 + 50 * np.exp(-0.5 * ((x - 50) / 6) ** 2)
    >>> y[20] += 500
    >>> np.flatnonzero(find_spikes(y[None])[0]).tolist()
    [20]
    """
    _check_widths(width, max_width)
    if _is_dask(y):
        import dask.array as da

        y = y.rechunk({y.ndim - 1: -1})
        return da.map_blocks(
            lambda b: _spikes_np(b, n_sigma, width, max_width, median=False)[0],
            y,
            dtype=bool,
        )
    return _spikes_np(y, n_sigma, width, max_width, median=False)[0]


def spike_rows(y, n_sigma=8.0, width=7, max_width=2):
    """``find_spikes(y).any(axis=-1)`` for numpy data, in one threaded pass
    without a map-sized array (which spectra to clean).

    Examples
    --------
    >>> import numpy as np
    >>> from hyperspy_perovskite.analysis.cl_checks import spike_rows
    >>> y = np.full((2, 30), 10.0)
    >>> y[0, 7] = 900.0
    >>> spike_rows(y).tolist()
    [True, False]
    """
    from hyperspy_perovskite.analysis._cl_spikes_numba import spike_rows as rows

    _check_widths(width, max_width)

    def reference(block):  # not all finite: the numpy screen
        return _spikes_np(block, n_sigma, width, max_width, compiled=False)[0]

    return rows(y, n_sigma, width, max_width, reference)


def _remove_np(y, n_sigma, width, max_width):
    spikes, med = _spikes_np(y, n_sigma, width, max_width)
    out = np.where(spikes, med, y).astype(np.result_type(y.dtype, np.float32))
    return out


def remove_spikes(y, n_sigma=8.0, width=7, max_width=2):
    """Spectra with spikes (:func:`find_spikes`) replaced by the running median.

    Returns a new array (float); lazy in, lazy out. The input is not modified.

    Examples
    --------
    >>> import numpy as np
    >>> from hyperspy_perovskite.analysis.cl_checks import remove_spikes
    >>> y = np.full((1, 30), 10.0)
    >>> y[0, 7] = 900.0
    >>> float(remove_spikes(y)[0, 7])
    10.0
    """
    if _is_dask(y):
        import dask.array as da

        y = y.rechunk({y.ndim - 1: -1})
        return da.map_blocks(
            _remove_np,
            y,
            n_sigma,
            width,
            max_width,
            dtype=np.result_type(y.dtype, np.float32),
        )
    return _remove_np(np.asarray(y), n_sigma, width, max_width)


def counts_check(y, max_pixels=1024, seed=0):
    """Whether ``y`` looks like photon counts; the reasons when it does not.

    Three tests on up to ``max_pixels`` spectra drawn at random: no negative
    value; integer values (within 1e-6); and the variance of the second
    difference ``y[i-1] - 2 y[i] + y[i+1]`` close to six times the counts, as
    for Poisson counts on a spectrum that varies slowly over three channels
    (variance-to-mean ratio within 0.5-2, from the winsorised second
    differences so that spikes and sharp lines do not move it, compared with
    the same statistic of Poisson counts drawn at the data's own local
    means, so that it holds at one count per channel as at a thousand).
    Scaled, smoothed or background-subtracted data fail one of them.
    On bench_cl_fit's map it costs 24 ms of CPU (4 of them the integer
    test, 14 the dispersion with its Poisson reference); ``fit_emission``
    runs it on a thread of its own.
    Measured and not kept (session 15): the integer test in one work array
    and no copy of an all-finite sample, 23.3-24.6 -> 24.0-24.3 ms.

    Parameters
    ----------
    y : array-like or dask array, shape (..., n)

    Returns
    -------
    ok : bool
    reasons : list of str
        Empty when ``ok``.
    dispersion : float
        Variance-to-mean ratio estimated from channel differences (NaN when
        it cannot be told).

    Examples
    --------
    >>> import numpy as np
    >>> from hyperspy_perovskite.analysis.cl_checks import counts_check
    >>> rng = np.random.default_rng(0)
    >>> counts_check(rng.poisson(50.0, (200, 100)))[0]
    True
    >>> counts_check(rng.poisson(1.0, (200, 100)))[0]  # dark pixels: still counts
    True
    >>> counts_check(rng.poisson(50.0, (200, 100)) * 3.7)[1][0]
    'values are not integers (scaled data?)'
    """
    flat = y.reshape(-1, y.shape[-1])
    rng = np.random.default_rng(seed)
    n = flat.shape[0]
    take = np.sort(rng.choice(n, size=min(n, max_pixels), replace=False))
    if _is_dask(flat):
        flat, take = np.asarray(flat[take].compute()), np.arange(take.size)
    values, negative, off_integer, first = _sample_tests(flat, take)
    reasons = []
    if values == 0:
        return False, ["no finite spectrum"], np.nan
    if negative:
        frac = negative / values  # = np.mean(sample < 0), a count over a count
        reasons.append(
            f"{100 * frac:.2g} % negative values (background-subtracted data?)"
        )
    if off_integer > 1e-6:
        reasons.append("values are not integers (scaled data?)")
    dispersion = np.nan
    if first.shape[-1] > 4 and not negative:
        dispersion = _dispersion(first, seed)  # ~2.6e5 values: 0.3 %
    if np.isfinite(dispersion) and not 0.5 <= dispersion <= 2.0:
        reasons.append(
            f"variance/mean = {dispersion:.3g} (Poisson counts give ~1: gain "
            "not 1, or smoothed data?)"
        )
    return not reasons, reasons, dispersion


#: Spectra per block of :func:`_sample_tests` (256 kB of float64 at 1024
#: channels: the block and its temporaries stay in the cache).
_SAMPLE_BLOCK = 32


def _sample_tests(flat, take, keep=256):
    """The sample tests of :func:`counts_check` over the spectra ``flat[take]``
    that are all finite, in blocks of :data:`_SAMPLE_BLOCK` spectra (no
    array as large as the sample): ``(values, negative, off_integer,
    first)``, the number of values, how many are negative, the largest
    ``|y - round(y)|`` and the first ``keep`` such spectra (for
    :func:`_dispersion`). The same numbers as on the whole sample (counts
    and a maximum do not depend on the order).

    Session 17, outside: the sample (1024 spectra of 1024 channels, 8 MB)
    was gathered, filtered and tested whole, four 8 MB arrays on fresh
    pages per call; ``fit_emission`` makes them on small pages
    (:func:`~hyperspy_perovskite.signals._cl_axes.small_pages`), where that
    cost 34 against 26 ms of CPU per call (the counts check's own thread).
    """
    values = negative = 0
    off_integer = 0.0
    first, kept = [], 0
    for i in range(0, take.size, _SAMPLE_BLOCK):
        block = np.asarray(flat[take[i : i + _SAMPLE_BLOCK]], dtype=float)
        finite = np.all(np.isfinite(block), axis=-1)
        if not finite.all():
            block = block[finite]
        if block.size == 0:
            continue
        values += block.size
        negative += int(np.count_nonzero(block < 0))
        off_integer = max(off_integer, float(np.max(np.abs(block - np.round(block)))))
        if kept < keep:
            first.append(block[: keep - kept])
            kept += first[-1].shape[0]
    first = np.concatenate(first) if first else np.empty((0, flat.shape[-1]))
    return values, negative, off_integer, first


def _robust_d2_spread(y):
    """Winsorised spread of ``z = (y[i-1] - 2 y[i] + y[i+1]) / sqrt(6 y[i])``.

    Second differences of Poisson counts have variance ~ 6 lambda where the
    spectrum varies slowly over 3 channels; ``z**2`` is capped at 16 (4
    standard deviations) so that spikes and the curvature of the few
    channels of a sharp line do not move it. Returns ``sqrt(mean(min(z**2,
    16)))``.
    """
    d2 = np.diff(y, 2, axis=-1)
    mid = y[:, 1:-1]
    use = mid > 0
    if not use.any():
        return np.nan
    z2 = d2[use] ** 2 / (6.0 * mid[use])
    return float(np.sqrt(np.mean(np.minimum(z2, 16.0))))


def _dispersion(sample, seed):
    """Variance-to-mean ratio of ``sample`` against Poisson counts.

    The robust spread of the second differences (:func:`_robust_d2_spread`)
    is compared with the same statistic of Poisson counts drawn with the
    sample's own local means (a 5-channel running mean): the median of a
    discrete distribution is biased at a few counts per channel (the median
    absolute ``z`` alone gave 0.37 for Poisson counts of mean 1 and 1.47 for
    0.3), and the reference carries the same bias, so the ratio is ~1 at any
    count level.
    """
    from scipy.ndimage import uniform_filter1d

    lam = uniform_filter1d(sample, 5, axis=-1, mode="nearest")
    ref = np.random.default_rng(seed + 1).poisson(np.clip(lam, 0.0, None))
    a, b = _robust_d2_spread(sample), _robust_d2_spread(ref.astype(float))
    if not (np.isfinite(a) and np.isfinite(b) and b > 0):
        return np.nan
    return (a / b) ** 2


def runs_test(residual):
    """Wald-Wolfowitz runs test of the residual signs, per spectrum.

    Under a model that describes the data, the signs of the residuals are
    random and the number of runs ``R`` (blocks of equal sign) has mean
    ``1 + 2 n+ n- / n`` and variance ``(mu - 1)(mu - 2) / (n - 1)``; a model
    that misses a feature leaves long runs, and ``z = (R - mu) / sd`` is then
    strongly negative (Wald and Wolfowitz 1940).

    Parameters
    ----------
    residual : numpy.ndarray, shape (..., n)
        Data minus model over the fitted channels (NaN channels ignored by
        counting them as neither sign).

    Returns
    -------
    numpy.ndarray, shape (...)
        z-score (NaN where all residuals have one sign).

    Examples
    --------
    >>> import numpy as np
    >>> from hyperspy_perovskite.analysis.cl_checks import runs_test
    >>> rng = np.random.default_rng(1)
    >>> white = rng.normal(size=(1, 400))
    >>> structured = np.sin(np.linspace(0, 6, 400))[None] + 0.1 * white
    >>> bool(abs(runs_test(white)[0]) < 3), bool(runs_test(structured)[0] < -10)
    (True, True)
    """
    r = np.asarray(residual, dtype=float)
    sign = np.sign(np.nan_to_num(r))
    pos = np.sum(sign > 0, axis=-1).astype(float)
    neg = np.sum(sign < 0, axis=-1).astype(float)
    nz = sign != 0
    # runs: count sign changes between consecutive non-zero residuals
    # (zeros are skipped by carrying the previous sign forward)
    idx = np.where(nz, np.arange(r.shape[-1]), 0)
    np.maximum.accumulate(idx, axis=-1, out=idx)
    carried = np.take_along_axis(sign, idx, axis=-1)
    changes = np.sum((carried[..., 1:] != carried[..., :-1]) & nz[..., 1:], axis=-1)
    first_nz = np.any(nz, axis=-1)
    runs = changes + first_nz
    n = pos + neg
    with np.errstate(invalid="ignore", divide="ignore"):
        mu = 1.0 + 2.0 * pos * neg / n
        var = (mu - 1.0) * (mu - 2.0) / (n - 1.0)
        z = (runs - mu) / np.sqrt(var)
    return np.where((pos > 0) & (neg > 0) & (var > 0), z, np.nan)
