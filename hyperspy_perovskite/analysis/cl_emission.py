"""Starting values of luminescence emission bands (numpy / dask, no HyperSpy).

Maps, quality flags, histograms and Poisson weights that need no starting
value are in :mod:`hyperspy_perovskite.analysis.cl_maps` (importable from here
too, for backward compatibility).

Spectra are arrays whose LAST axis is the spectral axis; every function is
vectorised over the leading (navigation) axes. Dask arrays are processed block
by block with :func:`dask.array.map_blocks` (the spectral axis is one chunk),
so the memory needed is bounded by the chunk size.

The Gaussian band follows HyperSpy's ``Gaussian``: area ``A``, ``centre``,
``sigma``; ``fwhm = 2 sqrt(2 ln 2) sigma`` and ``height = A / (sigma sqrt(2 pi))``.
"""

import math

import numpy as np
from scipy.ndimage import uniform_filter1d

from hyperspy_perovskite.analysis.cl_maps import (  # noqa: F401  (moved there)
    QUALITY_FLAGS,
    SIGMA2FWHM,
    centroid,
    histogram2d_valid,
    histogram_valid,
    poisson_variance,
    quality_flags,
)

__all__ = [
    "SIGMA2FWHM",
    "estimate_band",
    "estimate_urbach",
    "estimate_tail_on_residual",
    "emission_starting_values",
    "STARTING_VALUE_COLUMNS",
]

_SQRT2PI = math.sqrt(2.0 * math.pi)
_BASELINES = ("offset", "linear", "none")


def _is_dask(a):
    return type(a).__module__.startswith("dask")


def _map_last_axis(func, y, n_out, **kwargs):
    """Apply ``func(y_block, **kwargs) -> (..., n_out)`` block-wise."""
    if _is_dask(y):
        import dask.array as da

        y = y.rechunk({y.ndim - 1: -1})
        out = da.map_blocks(
            func,
            y,
            dtype=float,
            chunks=y.chunks[:-1] + ((n_out,),),
            **kwargs,
        )
        return out.compute()
    return func(np.asarray(y), **kwargs)


def _smooth_width(n):
    """Boxcar width (channels) used for the starting-value estimates."""
    return int(max(1, min(9, n // 40)) // 2 * 2 + 1)


def _baseline(ys, x, baseline):
    """Per-spectrum baseline ``a0 + a1 * x`` from the smoothed spectra ``ys``."""
    n = ys.shape[-1]
    shape = ys.shape[:-1]
    if baseline == "none":
        return np.zeros(shape), np.zeros(shape)
    if baseline == "offset":
        return np.percentile(ys, 10.0, axis=-1), np.zeros(shape)
    m = max(2, n // 10)
    yl = np.median(ys[..., :m], axis=-1)
    yr = np.median(ys[..., -m:], axis=-1)
    xl = np.median(x[:m])
    xr = np.median(x[-m:])
    a1 = (yr - yl) / (xr - xl)
    return yl - a1 * xl, a1


def _estimate_band_np(y, x, baseline, binned_width, side="both"):
    y = np.nan_to_num(np.asarray(y, dtype=float), nan=0.0, posinf=0.0, neginf=0.0)
    n = y.shape[-1]
    w = _smooth_width(n)
    ys = uniform_filter1d(y, w, axis=-1, mode="nearest") if w > 1 else y
    a0, a1 = _baseline(ys, x, baseline)
    r = ys - (a0[..., None] + a1[..., None] * x)
    peak = np.argmax(r, axis=-1)
    h = np.take_along_axis(r, peak[..., None], axis=-1)[..., 0]
    half = 0.5 * h
    idx = np.arange(n)
    below = r < half[..., None]
    left = np.max(np.where(below & (idx < peak[..., None]), idx, -1), axis=-1)
    right = np.min(np.where(below & (idx > peak[..., None]), idx, n), axis=-1)

    def _cross(i0, i1):
        # linear interpolation of the half-maximum crossing between i0 and i1
        i0c = np.clip(i0, 0, n - 1)
        i1c = np.clip(i1, 0, n - 1)
        r0 = np.take_along_axis(r, i0c[..., None], axis=-1)[..., 0]
        r1 = np.take_along_axis(r, i1c[..., None], axis=-1)[..., 0]
        den = np.where(r1 != r0, r1 - r0, 1.0)
        t = np.clip((half - r0) / den, 0.0, 1.0)
        return x[i0c] + t * (x[i1c] - x[i0c])

    xl = np.where(left >= 0, _cross(left, left + 1), x[0])
    xr = np.where(right < n, _cross(right - 1, right), x[-1])
    dx = np.abs(np.median(np.diff(x)))
    fwhm = np.abs(xr - xl)
    if side == "upper":
        # width from the half of the band above the maximum only (free of a
        # low-energy tail); centre at the parabolic vertex of the maximum
        pm = np.clip(peak, 1, n - 2)
        r_m = np.take_along_axis(r, (pm - 1)[..., None], axis=-1)[..., 0]
        r_0 = np.take_along_axis(r, pm[..., None], axis=-1)[..., 0]
        r_p = np.take_along_axis(r, (pm + 1)[..., None], axis=-1)[..., 0]
        den = r_m - 2 * r_0 + r_p
        shift = np.where(den < 0, 0.5 * (r_m - r_p) / np.where(den < 0, den, -1.0), 0.0)
        xpk = x[pm] + np.clip(shift, -0.5, 0.5) * (x[pm + 1] - x[pm])
        fwhm = 2.0 * np.abs(xr - xpk)
    sigma2 = (fwhm / SIGMA2FWHM) ** 2 - (w * dx) ** 2 / 12.0  # boxcar broadening
    sigma = np.sqrt(np.maximum(sigma2, (0.5 * dx) ** 2))
    h = h * np.sqrt(sigma**2 + (w * dx) ** 2 / 12.0) / sigma  # boxcar lowers the peak
    inside = (idx >= np.minimum(left + 1, peak)[..., None]) & (
        idx <= np.maximum(right - 1, peak)[..., None]
    )
    wts = np.where(inside, np.clip(r, 0.0, None), 0.0)
    sw = wts.sum(axis=-1)
    centre = np.where(
        sw > 0, (wts * x).sum(axis=-1) / np.where(sw > 0, sw, 1.0), x[peak]
    )
    if side == "upper":
        centre = xpk
    dark = ~(h > 0) | ~np.isfinite(h)
    span = abs(x[-1] - x[0])
    centre = np.where(dark, 0.5 * (x[0] + x[-1]), centre)
    sigma = np.where(dark, span / 10.0, sigma)
    h = np.where(dark, 0.0, h)
    area = h * sigma * _SQRT2PI / binned_width
    return np.stack([centre, sigma, h, area, a0, a1], axis=-1)


def estimate_band(x, y, baseline="offset", binned_width=1.0, half="both"):
    """Robust starting values of one Gaussian band plus a baseline.

    The spectra are smoothed with a short boxcar (its broadening is removed
    from sigma), a baseline is taken (10th percentile for ``"offset"``, a line
    through the medians of both ends for ``"linear"``), the band maximum is
    located and its full width at half maximum is measured by interpolating
    the two half-maximum crossings; the centre is the centroid of the
    above-half-maximum part. Dark spectra (no positive band) get the middle of
    the range, a tenth of the range as sigma and zero area. NaN counts are read
    as zero.

    Parameters
    ----------
    x : array_like, shape (n,)
        Spectral axis values (monotonic).
    y : numpy.ndarray or dask.array.Array, shape (..., n)
        Spectra.
    baseline : {"offset", "linear", "none"}
    binned_width : float or array_like
        Channel width when the data are binned counts (divides the area), else 1.
    half : {"both", "upper"}
        Measure the width from both half-maximum crossings, or (``"upper"``)
        from the one above the maximum only, with the centre at the maximum:
        for a band with a tail on its lower side (Urbach tail in energy).

    Returns
    -------
    numpy.ndarray, shape (..., 6)
        ``centre, sigma, height, area, a0, a1`` (baseline ``a0 + a1 x``).

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.cl_emission import estimate_band
    >>> x = np.linspace(650, 770, 241)
    >>> y = 10 + 100 * np.exp(-0.5 * ((x - 710) / 8) ** 2)
    >>> c, s, h, a, b0, b1 = estimate_band(x, y[None])[0]
    >>> print(round(c, 1), round(s, 1), round(h), round(b0))
    710.0 8.0 100 10
    """
    if baseline not in _BASELINES:
        raise ValueError(f"baseline must be one of {_BASELINES}, not {baseline!r}.")
    if half not in ("both", "upper"):
        raise ValueError(f"half must be 'both' or 'upper', not {half!r}.")
    x = np.asarray(x, dtype=float)
    if y.shape[-1] != x.size:
        raise ValueError(
            f"The spectra have {y.shape[-1]} channels but the axis has {x.size} values."
        )
    return _map_last_axis(
        _estimate_band_np,
        y,
        6,
        x=x,
        baseline=baseline,
        binned_width=binned_width,
        side=half,
    )


def _estimate_urbach_np(y, x, lo, hi):
    y = np.nan_to_num(np.asarray(y, dtype=float), nan=0.0, posinf=0.0, neginf=0.0)
    n = y.shape[-1]
    w = _smooth_width(n)
    ys = uniform_filter1d(y, w, axis=-1, mode="nearest") if w > 1 else y
    b = np.percentile(ys, 5.0, axis=-1)
    r = ys - b[..., None]
    peak = np.argmax(r, axis=-1)
    h = np.take_along_axis(r, peak[..., None], axis=-1)[..., 0]
    e0 = x[peak]
    low_side = (x[None, :] < e0[..., None]) if x.ndim == 1 else None
    sel = low_side & (r > lo * h[..., None]) & (r < hi * h[..., None])
    ly = np.log(np.where(sel, r, 1.0))
    wt = sel.astype(float)
    s0 = wt.sum(-1)
    sx = (wt * x).sum(-1)
    sy = (wt * ly).sum(-1)
    sxx = (wt * x * x).sum(-1)
    sxy = (wt * x * ly).sum(-1)
    den = s0 * sxx - sx * sx
    ok = (s0 >= 3) & (den > 0)
    slope = np.where(ok, (s0 * sxy - sx * sy) / np.where(ok, den, 1.0), np.nan)
    inter = np.where(ok, (sy - slope * sx) / np.where(s0 > 0, s0, 1.0), np.nan)
    good = ok & (slope > 0)
    span = abs(x[-1] - x[0])
    eu = np.where(good, 1.0 / np.where(good, slope, 1.0), span / 20.0)
    a = np.where(good, np.exp(np.clip(inter + slope * e0, -700, 700)), 0.5 * h)
    a = np.where(np.isfinite(a) & (h > 0), a, 0.0)
    return np.stack([a, e0, eu, b], axis=-1)


def estimate_urbach(x, y, fraction=(0.02, 0.5)):
    """Urbach tail starting values from the low-energy side of each spectrum.

    A straight line is fitted to ``log(I - baseline)`` over the channels
    below the emission maximum whose intensity lies between ``fraction[0]``
    and ``fraction[1]`` of the maximum: ``I = A exp((E - E0) / Eu)`` with
    ``E0`` at the maximum.

    Parameters
    ----------
    x : array_like, shape (n,)
        Photon energies, increasing.
    y : numpy.ndarray or dask.array.Array, shape (..., n)
    fraction : tuple of float

    Returns
    -------
    numpy.ndarray, shape (..., 4)
        ``A, E0, Eu, baseline``.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.cl_emission import estimate_urbach
    >>> E = np.linspace(1.5, 1.8, 301)
    >>> y = np.where(E < 1.75, 50 * np.exp((E - 1.75) / 0.02), 0.0) + 1.0
    >>> A, E0, Eu, b = estimate_urbach(E, y[None])[0]
    >>> print(round(Eu, 3), round(E0, 2))
    0.02 1.75
    """
    x = np.asarray(x, dtype=float)
    return _map_last_axis(
        _estimate_urbach_np, y, 4, x=x, lo=float(fraction[0]), hi=float(fraction[1])
    )


#: Urbach energies (eV) tried by :func:`estimate_tail_on_residual`: the span
#: of tens of meV reported for CsPbX3 (ref. 33 of Li et al., Nat. Commun. 14, 7612 (2023),
#: Falsini et al., J. Appl. Phys. 131 (2022)).
EU_CANDIDATES = (0.005, 0.01, 0.015, 0.02, 0.03, 0.04, 0.06, 0.08, 0.12)


def estimate_tail_on_residual(x, resid, e0, candidates=EU_CANDIDATES):
    """Best Urbach tail ``A exp((x - E0)/Eu)`` (x <= E0) for a residual.

    For each candidate ``Eu`` the amplitude is the non-negative linear
    least-squares solution on the channels below ``E0``; the candidate with
    the smallest squared residual is returned. Vectorised over pixels.

    Parameters
    ----------
    x : array_like, shape (n,)
        Photon energies.
    resid : numpy.ndarray, shape (..., n)
        Data minus the band(s) and background already estimated.
    e0 : numpy.ndarray, shape (...)
        Band edge per pixel (the main band centre).
    candidates : sequence of float

    Returns
    -------
    A, Eu : numpy.ndarray, shape (...)

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.cl_emission import estimate_tail_on_residual
    >>> E = np.linspace(1.5, 1.8, 301)
    >>> r = np.where(E <= 1.75, 30 * np.exp((E - 1.75) / 0.04), 0)[None]
    >>> A, eu = estimate_tail_on_residual(E, r, np.array([1.75]))
    >>> print(round(float(A[0]), 1), float(eu[0]))
    30.0 0.04
    """
    x = np.asarray(x, dtype=float)
    r = np.nan_to_num(np.asarray(resid, dtype=float))
    d = x - np.asarray(e0, dtype=float)[..., None]
    below = d <= 0
    best_cost = np.full(r.shape[:-1], np.inf)
    best_a = np.zeros(r.shape[:-1])
    best_eu = np.full(r.shape[:-1], candidates[0], dtype=float)
    for eu in candidates:
        basis = np.where(below, np.exp(np.minimum(d, 0.0) / eu), 0.0)
        bb = (basis * basis).sum(-1)
        a = np.maximum((basis * r).sum(-1) / np.where(bb > 0, bb, 1.0), 0.0)
        cost = (np.where(below, r - a[..., None] * basis, 0.0) ** 2).sum(-1)
        better = cost < best_cost
        best_cost = np.where(better, cost, best_cost)
        best_a = np.where(better, a, best_a)
        best_eu = np.where(better, eu, best_eu)
    return best_a, best_eu


#: Columns of :func:`emission_starting_values`.
STARTING_VALUE_COLUMNS = (
    "centre",
    "sigma",
    "height",
    "area",
    "a0",
    "a1",
    "centre2",
    "sigma2",
    "area2",
    "tail_A",
    "tail_Eu",
)


def _starting_np(y, x, baseline, n_peaks, tail, variant, binned_width):
    half = "upper" if tail and variant == 0 else "both"  # a tail widens the lower half
    est = _estimate_band_np(y, x, baseline, binned_width, side=half)
    centre, sigma, height, area, a0, a1 = np.moveaxis(est, -1, 0)
    span = abs(x[-1] - x[0])
    dx = abs(float(np.median(np.diff(x))))
    sigma = np.clip(sigma, dx, span / 2)
    out = np.zeros(y.shape[:-1] + (len(STARTING_VALUE_COLUMNS),))
    out[..., :6] = np.stack([centre, sigma, height, area, a0, a1], axis=-1)
    if n_peaks == 2 or tail:
        resid = np.nan_to_num(np.asarray(y, dtype=float))
        resid -= a0[..., None] + a1[..., None] * x
        resid -= height[..., None] * np.exp(
            -0.5 * ((x - centre[..., None]) / sigma[..., None]) ** 2
        )
    if n_peaks == 2:
        # second band from the residual of the first, kept >= sigma apart
        est2 = _estimate_band_np(resid, x, "none", binned_width)
        c2, s2, A2 = est2[..., 0], est2[..., 1], est2[..., 3]
        too_close = np.abs(c2 - centre) < sigma
        side = np.where(c2 >= centre, 1.0, -1.0)
        c2 = np.where(too_close, centre + side * 1.5 * sigma, c2)
        s2 = np.clip(np.where(too_close, sigma, s2), dx, span / 2)
        A2 = np.maximum(A2, 0.05 * area)
        out[..., 6], out[..., 7], out[..., 8] = c2, s2, A2
        h2 = A2 * binned_width / (s2 * _SQRT2PI)
        resid -= h2[..., None] * np.exp(
            -0.5 * ((x - c2[..., None]) / s2[..., None]) ** 2
        )
    if tail:
        if variant == 1:
            tA, eu = 0.1 * height, np.full(centre.shape, 0.025)
        else:
            tA, eu = estimate_tail_on_residual(x, resid, centre)
        out[..., 9] = np.maximum(tA, 0.01 * height)
        out[..., 10] = eu
    return out


def emission_starting_values(
    x,
    y,
    baseline="offset",
    n_peaks=1,
    tail=False,
    variant=0,
    binned_width=1.0,
    block=2048,
    pixels=None,
):
    """Starting values of the emission model of ``fit_emission`` for all pixels.

    The main band comes from :func:`estimate_band` (with ``side="upper"``
    when a tail is fitted, first variant); a second band from the residual of
    the first (kept at least one sigma away); an Urbach tail from
    :func:`estimate_tail_on_residual` on what the bands leave, or, for
    ``variant=1``, at Eu = 25 meV (tens of meV for CsPbX3: ref. 33 of Li et al., Nat. Commun. 14, 7612 (2023)) and a tenth of the band height.

    Computed by one compiled pass over the spectra
    (:mod:`~hyperspy_perovskite.analysis.cl_start_values`; the numpy
    functions of this module are its reference). Memory stays bounded:
    numpy input is processed ``block`` spectra at a time, dask input chunk
    by chunk.

    Parameters
    ----------
    x : array_like, shape (n,)
    y : numpy.ndarray or dask.array.Array, shape (..., n)
    baseline : {"offset", "linear", "none"}
    n_peaks : {1, 2}
    tail : bool
    variant : {0, 1}
    binned_width : float
    block : int
        Largest number of spectra per block of the compiled pass.
    pixels : array of bool, optional
        Shaped as ``y``'s leading axes: estimate only these spectra (as
        ``y[pixels]``, without copying them; dask data are computed).

    Returns
    -------
    numpy.ndarray, shape (..., 11), or (n_pixels, 11) with ``pixels``
        Columns :data:`STARTING_VALUE_COLUMNS` (unused columns are 0).

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.cl_emission import emission_starting_values
    >>> x = np.linspace(650, 770, 241)
    >>> y = 5 + 100 * np.exp(-0.5 * ((x - 700) / 6) ** 2) + 30 * np.exp(-0.5 * ((x - 730) / 6) ** 2)
    >>> sv = emission_starting_values(x, y[None], n_peaks=2)[0]
    >>> print(round(sv[0]), round(sv[6]))
    700 730
    """
    if baseline not in _BASELINES:
        raise ValueError(f"baseline must be one of {_BASELINES}, not {baseline!r}.")
    x = np.asarray(x, dtype=float)
    kw = dict(
        x=x,
        baseline=baseline,
        n_peaks=int(n_peaks),
        tail=bool(tail),
        variant=int(variant),
        binned_width=float(binned_width),
    )
    k = len(STARTING_VALUE_COLUMNS)
    if _is_dask(y) and pixels is None:
        return _map_last_axis(_starting_compiled, y, k, **kw)
    y = np.asarray(y)
    if pixels is None:
        return _starting_compiled(y, block=block, **kw)
    rows = np.flatnonzero(np.asarray(pixels, dtype=bool).reshape(-1))
    return _starting_compiled(y, block=block, rows=rows, **kw)


def _starting_compiled(
    y, x, baseline, n_peaks, tail, variant, binned_width, block=2048, rows=None
):
    """:func:`_starting_np` computed by the compiled whole-map pass
    (:func:`~hyperspy_perovskite.analysis.cl_start_values.starting_values_map`),
    on the spectra ``rows`` of the flattened map only when given."""
    from hyperspy_perovskite.analysis.cl_start_values import starting_values_map

    y = np.asarray(y)
    flat = y.reshape(-1, y.shape[-1])
    out = starting_values_map(
        x,
        flat,
        baseline,
        n_peaks,
        tail,
        variant,
        binned_width,
        _smooth_width(x.size),
        EU_CANDIDATES,
        rows=rows,
        block=block,
    )
    if rows is not None:
        return out
    return out.reshape(y.shape[:-1] + (out.shape[-1],))
