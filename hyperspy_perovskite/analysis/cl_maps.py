"""Per-pixel emission maps that need no fit, fit-quality flags, histograms of
valid pixels and Poisson weights (numpy / dask, no HyperSpy).

Spectra are arrays whose LAST axis is the spectral axis; every function is
vectorised over the leading (navigation) axes; dask arrays are processed block
by block (the spectral axis is one chunk) and stay lazy where stated.
"""

import math

import numpy as np
from scipy.ndimage import uniform_filter1d

__all__ = [
    "centroid",
    "emission_centroid",
    "quality_flags",
    "QUALITY_FLAGS",
    "histogram_valid",
    "histogram2d_valid",
    "poisson_variance",
    "detection_threshold",
    "band_detection",
    "SIGMA2FWHM",
]

#: FWHM of a Gaussian in units of its standard deviation, 2 sqrt(2 ln 2).
SIGMA2FWHM = 2.0 * math.sqrt(2.0 * math.log(2.0))


def _is_dask(a):
    return type(a).__module__.startswith("dask")


def _centroid_np(y, x, subtract_baseline):
    y = np.asarray(y, dtype=float)
    if subtract_baseline:
        b = np.nanpercentile(y, 10.0, axis=-1)
        y = np.clip(y - b[..., None], 0.0, None)
    y = np.where(np.isfinite(y), y, 0.0)
    s = y.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.where(s > 0, (y * x).sum(-1) / np.where(s > 0, s, 1.0), np.nan)
    return c[..., None]


def centroid(x, y, subtract_baseline=True):
    """Intensity-weighted mean of the spectral axis (no fit).

    Parameters
    ----------
    x : array_like, shape (n,)
    y : numpy.ndarray or dask.array.Array, shape (..., n)
    subtract_baseline : bool
        Subtract each spectrum's 10th percentile and clip negatives first, so
        that a flat background does not pull the centroid to the middle of
        the window.

    Returns
    -------
    numpy.ndarray or dask.array.Array, shape (...)
        NaN where a spectrum has no positive intensity. Lazy in, lazy out.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.cl_maps import centroid
    >>> x = np.linspace(690, 730, 81)
    >>> y = 5 + np.exp(-0.5 * ((x - 712) / 4) ** 2)
    >>> round(float(centroid(x, y)), 1)
    712.0
    """
    x = np.asarray(x, dtype=float)
    if _is_dask(y):
        import dask.array as da

        y = y.rechunk({y.ndim - 1: -1})
        out = da.map_blocks(
            _centroid_np,
            y,
            x=x,
            subtract_baseline=subtract_baseline,
            dtype=float,
            chunks=y.chunks[:-1] + ((1,),),
        )
        return out[..., 0]
    return _centroid_np(y, x, subtract_baseline)[..., 0]


#: Bits of the fit-quality flag map (0 = good pixel).
QUALITY_FLAGS = {
    1: "fit did not converge (engine flag)",
    2: "non-finite parameter or uncertainty",
    4: "band not significant (area / std below threshold)",
    8: "centre outside the fitted range",
    16: "sigma outside [channel width / 2, range / 2]",
    32: "reduced chi-squared above threshold",
}


def emission_centroid(x, y, background, variance, shifts=(), iterations=30):
    """Centroid of the emission ``y - background`` with its error, over the
    largest part of the window symmetric about it.

    ``c = sum(x e) / S`` with ``e = y - background`` and ``S = sum(e)``,
    summed over the channels within ``min(c - x_min, x_max - c)`` of ``c``
    (found by iteration from the whole window). Over a window symmetric
    about ``c``, ``sum((x - c) b) = 0`` for a constant ``b``: the centroid
    does not depend on the background level (nor, to first order, on its
    slope), only its error does through ``S``. To first order in the noise
    (the delta method) the variance is ``sum((x - c) ** 2 var) / S ** 2``
    for independent channels of variance ``var``, plus ``(c(b + d) - c) **
    2`` for each background change ``d`` in ``shifts`` (one standard
    deviation of one background parameter, treated as independent). A
    centroid needs no decomposition of the emission into bands and tails.

    Parameters
    ----------
    x : array_like, shape (n,)
    y, background, variance : numpy.ndarray, shape (..., n)
    shifts : sequence of numpy.ndarray, shape (..., n)
    iterations : int

    Returns
    -------
    centroid, std, significance : numpy.ndarray, shape (...)
        ``significance`` is ``S / sqrt(sum(var))`` over the window used,
        the emission's sum in units of its error.

    Examples
    --------
    >>> x = np.linspace(1.6, 1.9, 301)
    >>> e = 1e4 * np.exp(-0.5 * ((x - 1.72) / 0.03) ** 2)
    >>> c, std, z = emission_centroid(x, e + 5.0, np.full(301, 5.0), e + 5.0)
    >>> round(float(c), 4), bool(std < 1e-3), bool(z > 100)
    (1.72, True, True)
    >>> c2 = emission_centroid(x, e + 5.0, np.full(301, 4.0), e + 5.0)[0]
    >>> bool(abs(c2 - c) < 1e-4)  # a wrong background level barely moves it
    True
    """
    x = np.asarray(x, float)
    e = np.asarray(y, float) - background
    with np.errstate(invalid="ignore", divide="ignore"):
        c = (e * x).sum(-1) / e.sum(-1)
        for _ in range(iterations):
            w = _symmetric(x, c)
            c = (w * e * x).sum(-1) / (w * e).sum(-1)
        w = _symmetric(x, c)
        total = (w * e).sum(-1)
        var = (w * (x - c[..., None]) ** 2 * variance).sum(-1) / total**2
        # the window follows c: noise in c moves its edges (the fixed point
        # c = F(c, y) has dc = dF / (1 - dF/dc)); dF/dc over a few channels
        step = 2.0 * float(np.median(np.abs(np.diff(x)))) if x.size > 1 else 0.0
        f = [_windowed(x, e, c + k * step) for k in (-1.0, 1.0)]
        gain = 1.0 - (f[1] - f[0]) / (2.0 * step) if step > 0 else 1.0
        var = var / gain**2
        for d in shifts:
            e2 = w * (e - d)
            var = var + ((e2 * x).sum(-1) / e2.sum(-1) - c) ** 2
        significance = total / np.sqrt((w * variance).sum(-1))
    return c, np.sqrt(var), significance


def _windowed(x, e, c):
    w = _symmetric(x, c)
    return (w * e * x).sum(-1) / (w * e).sum(-1)


def _symmetric(x, c):
    """1 on the channels within ``min(c - x_min, x_max - c)`` of ``c``."""
    h = np.minimum(c - x.min(), x.max() - c)[..., None]
    return (np.abs(x - c[..., None]) <= h).astype(float)


def quality_flags(
    area,
    area_std,
    centre,
    sigma,
    x_range,
    channel_width,
    convergence=None,
    reduced_chisq=None,
    min_significance=3.0,
    max_reduced_chisq=None,
):
    """Bit flags of fit quality per pixel (see :data:`QUALITY_FLAGS`).

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.cl_maps import quality_flags
    >>> quality_flags(
    ...     np.array([100.0, 1.0]), np.array([5.0, 2.0]), np.array([710.0, 705.0]),
    ...     np.array([8.0, 8.0]), (650, 770), 0.5)
    array([0, 4], dtype=uint8)
    """
    area = np.asarray(area, dtype=float)
    flags = np.zeros(area.shape, dtype=np.uint8)
    if convergence is not None:
        flags |= np.where(np.asarray(convergence) != 0, 1, 0).astype(np.uint8)
    finite = (
        np.isfinite(area)
        & np.isfinite(area_std)
        & np.isfinite(centre)
        & np.isfinite(sigma)
    )
    flags |= np.where(~finite, 2, 0).astype(np.uint8)
    with np.errstate(invalid="ignore", divide="ignore"):
        signif = np.abs(area) / np.asarray(area_std, dtype=float)
        flags |= np.where(~(signif >= min_significance), 4, 0).astype(np.uint8)
    lo, hi = min(x_range), max(x_range)
    flags |= np.where(~((centre >= lo) & (centre <= hi)), 8, 0).astype(np.uint8)
    ok_s = (sigma >= 0.5 * channel_width) & (sigma <= 0.5 * (hi - lo))
    flags |= np.where(~ok_s, 16, 0).astype(np.uint8)
    if reduced_chisq is not None and max_reduced_chisq is not None:
        bad = ~(np.asarray(reduced_chisq) <= max_reduced_chisq)
        flags |= np.where(bad, 32, 0).astype(np.uint8)
    return flags


def histogram_valid(values, valid, bins=30, range=None):
    """Histogram of ``values`` over the pixels where ``valid`` is True.

    Returns
    -------
    counts, edges : numpy.ndarray

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.cl_maps import histogram_valid
    >>> c, e = histogram_valid(np.array([1.0, 2.0, 2.5, np.nan]),
    ...                        np.array([True, True, True, True]), bins=2)
    >>> c.tolist()
    [1, 2]
    """
    v = np.asarray(values, dtype=float)[np.asarray(valid, dtype=bool)]
    v = v[np.isfinite(v)]
    if v.size == 0:
        raise ValueError(
            "No valid pixel to build the histogram from: loosen the quality "
            "criteria or check the fit."
        )
    return np.histogram(v, bins=bins, range=range)


def histogram2d_valid(a, b, valid, bins=30, range=None):
    """2D histogram of ``(a, b)`` over the valid pixels.

    Returns
    -------
    counts : numpy.ndarray, shape (bins_a, bins_b)
    edges_a, edges_b : numpy.ndarray

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.cl_maps import histogram2d_valid
    >>> h, ea, eb = histogram2d_valid([1, 2, 2], [5, 6, 6], [True] * 3, bins=2)
    >>> h.tolist()
    [[1.0, 0.0], [0.0, 2.0]]
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    m = np.asarray(valid, dtype=bool) & np.isfinite(a) & np.isfinite(b)
    if not m.any():
        raise ValueError(
            "No valid pixel to build the 2D histogram from: loosen the quality "
            "criteria or check the fit."
        )
    return np.histogram2d(a[m], b[m], bins=bins, range=range)


def _poisson_variance_np(y, width):
    y = np.asarray(y, dtype=float)
    sm = uniform_filter1d(np.nan_to_num(y), width, axis=-1, mode="nearest")
    return np.where(np.isfinite(y), np.maximum(sm, 1.0), np.nan)


def poisson_variance(y, width=7):
    """Variance of photon counts for weighting a fit: smoothed counts, >= 1.

    Weighting by the raw counts (Neyman's chi-squared) biases fits low where
    counts are few; the counts averaged over ``width`` channels are a close
    estimate of the expected counts and remove most of that bias.

    Parameters
    ----------
    y : numpy.ndarray or dask.array.Array, shape (..., n)
    width : int
        Boxcar width in channels.

    Returns
    -------
    Array of the same type and shape (NaN where ``y`` is NaN).

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.cl_maps import poisson_variance
    >>> poisson_variance(np.array([0.0, 0.0, 9.0, 0.0, 0.0]), width=3).tolist()
    [1.0, 3.0, 3.0, 3.0, 1.0]
    """
    if _is_dask(y):
        import dask.array as da

        y = y.rechunk({y.ndim - 1: -1})
        return da.map_blocks(_poisson_variance_np, y, width=int(width), dtype=float)
    return _poisson_variance_np(y, int(width))


def detection_threshold(fwhm, window, n_sigma=3.0):
    """Significance a band found anywhere in a fitted window must exceed.

    A fit over a window puts its band on the largest fluctuation it finds:
    on spectra that hold no band, ``A / std(A) > 3`` comes out in 2-5 % of
    pixels with Poisson weights and up to 17 % unweighted (measured on flat
    Poisson spectra of 1-50 counts per channel, 256-800 channels), not
    0.13 %. This is the look-elsewhere effect (E. Gross and O. Vitells, Eur.
    Phys. J. C 70, 525 (2010)). The window holds about ``N = window / fwhm``
    independent places for a band of that width, and the one-sided
    probability of ``n_sigma`` is shared among them (Bonferroni):
    ``p = Phi_c(n_sigma) / N``, threshold ``Phi_c^-1(p)``. With it the same
    noise-only spectra give 0-0.1 % valid bands with Poisson weights; a
    40 nm wide band in a 220 nm window needs 3.5 standard deviations, a
    3 nm line 4.1. :func:`band_detection` applies it to fitted bands.

    Parameters
    ----------
    fwhm : array-like
        Fitted full width at half maximum, in the unit of ``window``.
    window : float
        Width of the fitted range.
    n_sigma : float
        Significance of a single test (one-sided).

    Returns
    -------
    numpy.ndarray
        The threshold in standard deviations (``n_sigma`` when the band
        fills the window; NaN where ``fwhm`` is not finite).

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.cl_maps import detection_threshold
    >>> detection_threshold(np.array([220.0, 40.0, 3.0]), 220.0).round(2)
    array([3.  , 3.49, 4.13])
    """
    from scipy.stats import norm

    fwhm = np.abs(np.asarray(fwhm, dtype=float))
    with np.errstate(invalid="ignore", divide="ignore"):
        n = np.maximum(1.0, float(window) / fwhm)
    return np.where(np.isfinite(n), norm.isf(norm.sf(n_sigma) / n), np.nan)


def band_detection(values, std, window, n_sigma=3.0):
    """``A / std(A)`` over the :func:`detection_threshold` of each pixel's band.

    ``values`` / ``std``: dicts of parameter maps with ``"A"`` and the
    band's width: ``"fwhm"`` (a Voigt's total), else ``"sigma"``, else a
    Lorentzian's half width ``"gamma"``. A band is detected where the result
    is at least 1.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.cl_maps import band_detection
    >>> v = {"A": np.array([40.0, 4.0]), "sigma": np.array([17.0, 1.3])}
    >>> band_detection(v, {"A": np.array([10.0, 1.0])}, 220.0).round(2)
    array([1.15, 0.97])
    """
    if "fwhm" in values:
        fwhm = values["fwhm"]
    elif "sigma" in values:
        fwhm = SIGMA2FWHM * np.asarray(values["sigma"], float)
    else:
        fwhm = 2.0 * np.asarray(values["gamma"], float)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.asarray(values["A"], float) / np.asarray(std["A"], float)
        return z / detection_threshold(fwhm, window, n_sigma)
