"""Array steps of the emission fit (plain NumPy, no HyperSpy object).

``fit_emission`` (:mod:`hyperspy_perovskite.signals._cl_start`) validates,
calls these and writes the results into the model: the starting widths of
Lorentzian and Voigt bands, the dark level of a
:class:`~hyperspy_perovskite.components.WavelengthOffset`, the binned window
of the coarse pass, the tolerance of the stopping rule, the pixels a second
start may improve and, pixel by pixel, which of two fits to keep.
"""

from __future__ import annotations

import numpy as np

from hyperspy_perovskite._numba_cache import njit_cached
from hyperspy_perovskite._threads import on_threads
from hyperspy_perovskite.analysis.cl_maps import SIGMA2FWHM

__all__ = [
    "bin_mean",
    "keep_first",
    "lorentzian_start_gamma",
    "second_start_pixels",
    "sheppard_sigma",
    "std_step_ftol",
    "voigt_start_widths",
    "wavelength_dark_level",
]


def voigt_start_widths(sigma):
    """Starting ``(sigma, gamma)`` of a Voigt band of measured width ``sigma``.

    The measured FWHM is shared equally by the Gaussian and Lorentzian parts:
    ``FWHM_V = 1.6376 f`` for ``fG = fL = f`` (J. J. Olivero and R. L.
    Longbothum, J. Quant. Spectrosc. Radiat. Transfer 17, 233 (1977)).

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.cl_fit_steps import voigt_start_widths
    >>> s, g = voigt_start_widths(1.0)
    >>> round(float(s), 4), round(float(g), 4)
    (0.6107, 0.719)
    """
    f = np.asarray(sigma, float) * SIGMA2FWHM / 1.6376
    return f / SIGMA2FWHM, 0.5 * f


def lorentzian_start_gamma(sigma):
    """Half width at half maximum of a Lorentzian of the same FWHM as a
    Gaussian of standard deviation ``sigma``.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.cl_fit_steps import lorentzian_start_gamma
    >>> round(float(lorentzian_start_gamma(1.0)), 4)
    1.1774
    """
    return np.asarray(sigma, float) * (0.5 * SIGMA2FWHM)


def wavelength_dark_level(level, x_mid, constant):
    """The level in wavelength space that appears as ``level`` at the photon
    energy ``x_mid`` after the Jacobian: ``level * x_mid**2 / constant``
    (``constant``: :data:`~hyperspy_perovskite.components.emission_bands.WAVELENGTH_OFFSET_CONSTANT`).

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.cl_fit_steps import wavelength_dark_level
    >>> float(wavelength_dark_level(2.0, 2.0, 4.0))
    2.0
    """
    return np.asarray(level, float) * x_mid**2 / constant


def bin_mean(a, start, n, k, out=None):
    """Mean of ``k`` consecutive channels of ``a[..., start:start + n]``
    (``n`` a multiple of ``k``): shape ``(..., n // k)``; dask arrays are
    computed.

    The values are NumPy's ``a.astype(float).reshape(..., n // k, k)
    .mean(-1)``, bit for bit. Float rows of an in-memory map (the converted
    map of ``fit_emission``) are averaged by a compiled loop
    (:func:`_bins`) that adds in NumPy's order (``np.add.reduce`` of a
    contiguous axis: from 0, eight partial sums combined pairwise, then the
    rest: its pairwise summation, see ``numpy.sum``), where a check of the
    loop against NumPy's own mean on values chosen to tell orders apart
    holds in this process (:func:`_same_as_numpy`; else NumPy averages).
    On bench_cl_fit's map (128 x 128 x 1024 float64, bins of 8): 44-61 ->
    about 15 ms of CPU (NumPy's mean over an axis of 8 makes one inner loop
    per bin). Session 14 measured the same order written by hand and did
    not keep it, as tied to NumPy's internals for about 1 us per spectrum
    then; session 15: the check makes a change of NumPy's order fall back
    to NumPy, not give other numbers, and the binned window had become 2.7
    -> 3.9 us per spectrum of the fit. ``out``: a float64 array of the
    result's shape that the means of an in-memory map are written into
    (and returned). Session 16: ``fit_emission``'s binned window gives one
    of small pages mapped beforehand
    (:func:`~hyperspy_perovskite.signals._cl_axes._empty_small_pages`):
    NumPy's huge-page advice for the 16 MB of bench_cl_fit's binned map
    made the binned window take 10-150 ms of wall from call to call on
    this machine (first touch of fresh huge pages), 11-16 ms without it.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.cl_fit_steps import bin_mean
    >>> bin_mean(np.arange(10.0), 1, 8, 4).tolist()
    [2.5, 6.5]
    """
    if not isinstance(a, np.ndarray) or a.ndim < 2:
        a = np.asarray(a[..., start : start + n], dtype=float)
        return a.reshape(a.shape[:-1] + (n // k, k)).mean(-1)
    flat = a.reshape(-1, a.shape[-1])
    shape = a.shape[:-1] + (n // k,)
    result = np.empty(shape) if out is None else out
    out = result.reshape(flat.shape[0], n // k)  # a view: written in place
    compiled = (
        flat.dtype in (np.float32, np.float64)
        and flat.strides[-1] == flat.itemsize
        and k <= 128
        and _same_as_numpy(k, flat.dtype)
    )

    def run(sl):  # float64 block by block: no float copy of the whole map
        if compiled:
            return _bins(flat[sl], start, k, out[sl])
        b = np.asarray(flat[sl, start : start + n], dtype=float)
        b.reshape(b.shape[0], n // k, k).mean(-1, out=out[sl])

    on_threads(run, flat.shape[0])
    return result


_CHECKED = {}


def _same_as_numpy(k, dtype):
    """Whether :func:`_bins` gives NumPy's means bit for bit for bins of
    ``k`` values of ``dtype`` (checked once per process): on values of
    random signs and of magnitudes 1e-6-1e6 (every bin's sum rounded,
    so that another order of the additions gives other bits in a good part
    of the bins), with a zero, a -0.0, an inf and a NaN."""
    key = (int(k), np.dtype(dtype).str)
    if key not in _CHECKED:
        rng = np.random.default_rng(0)
        y = rng.normal(size=(64, 16 * k)) * 10.0 ** rng.integers(-6, 7, (64, 16 * k))
        y[0, :4] = 0.0, -0.0, np.inf, np.nan
        y = y.astype(dtype)
        ref = y.astype(float).reshape(64, 16, k).mean(-1)
        out = np.empty((64, 16))
        _bins(y, 0, k, out)
        _CHECKED[key] = np.array_equal(out.view(np.uint64), ref.view(np.uint64))
    return _CHECKED[key]


@njit_cached(nogil=True, error_model="numpy")
def _bins(a, start, k, out):
    """``out[p, j]``: the mean of ``a[p, start + j k : start + (j + 1) k]``
    in float64, the ``k <= 128`` values added in the order of NumPy's
    pairwise summation (:func:`bin_mean`)."""
    for p in range(a.shape[0]):
        y = a[p]
        for j in range(out.shape[1]):
            i0 = start + j * k
            if k < 8:
                s = 0.0
                for i in range(i0, i0 + k):
                    s += np.float64(y[i])
            else:
                r0, r1 = np.float64(y[i0]), np.float64(y[i0 + 1])
                r2, r3 = np.float64(y[i0 + 2]), np.float64(y[i0 + 3])
                r4, r5 = np.float64(y[i0 + 4]), np.float64(y[i0 + 5])
                r6, r7 = np.float64(y[i0 + 6]), np.float64(y[i0 + 7])
                i = i0 + 8
                while i < i0 + k - k % 8:
                    r0 += np.float64(y[i])
                    r1 += np.float64(y[i + 1])
                    r2 += np.float64(y[i + 2])
                    r3 += np.float64(y[i + 3])
                    r4 += np.float64(y[i + 4])
                    r5 += np.float64(y[i + 5])
                    r6 += np.float64(y[i + 6])
                    r7 += np.float64(y[i + 7])
                    i += 8
                s = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
                while i < i0 + k:
                    s += np.float64(y[i])
                    i += 1
                s = 0.0 + s
            out[p, j] = s / k


def sheppard_sigma(sigma, centre, x, k):
    """Gaussian width ``sigma`` fitted on the means of ``k`` channels of the
    axis ``x`` (point samples, e.g. a spectrometer's channels), corrected to
    the width on ``x`` itself.

    A band averaged over ``k`` channels of width ``d`` is the band convolved
    with ``k`` equally weighted points, whose variance is ``(k^2 - 1) d^2 /
    12`` (Sheppard's correction: W. F. Sheppard, Proc. London Math. Soc.
    s1-29, 353 (1898)): the fit on the means finds ``sigma^2`` larger by
    that much, to second order in ``d / sigma``, for every line shape whose
    Gaussian part is ``sigma`` (an exponential tail convolved with the same
    Gaussian included). ``d`` is the channel width at ``centre``. Where the
    correction would take ``sigma`` below half its value (a line a few
    channels wide, where the expansion does not hold) ``sigma`` is returned
    unchanged.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.cl_fit_steps import sheppard_sigma
    >>> x = np.arange(0.0, 100.0, 0.5)
    >>> float(sheppard_sigma(np.sqrt(4.0 + 63 * 0.25 / 12), 50.0, x, 8))
    2.0
    >>> float(sheppard_sigma(0.5, 50.0, x, 8))  # narrower than its bins
    0.5
    """
    x = np.asarray(x, dtype=float)
    d = np.abs(np.gradient(x))
    order = np.argsort(x)
    d = np.interp(centre, x[order], d[order])
    sigma = np.asarray(sigma, dtype=float)
    var = sigma**2 - (k * k - 1) * d * d / 12.0
    return np.where(var > 0.25 * sigma**2, np.sqrt(np.abs(var)), sigma)


def std_step_ftol(n_channels, n_free, step_in_std):
    """Relative chi-squared decrease of a step of ``step_in_std`` standard
    deviations: ``step_in_std ** 2 / dof`` (chi-squared is about ``dof``
    noise variances).

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.cl_fit_steps import std_step_ftol
    >>> std_step_ftol(1010, 10, 0.1)
    1e-05
    """
    return step_in_std**2 / max(int(n_channels) - int(n_free), 1)


def second_start_pixels(flags, reduced_chisq, mask=None, by_chisq=True):
    """Pixels a second start may improve: those that did not converge
    (``flags != 0``) and, with ``by_chisq``, those whose reduced chi-squared
    exceeds 1.1 times the median of the converged pixels (a local minimum);
    never the ``mask`` pixels.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.cl_fit_steps import second_start_pixels
    >>> second_start_pixels(np.array([0, 0, 1, 0]), np.array([1.0, 1.0, 1.0, 2.0])).tolist()
    [False, False, True, True]
    """
    ok = np.asarray(flags) == 0
    redo = ~ok
    if by_chisq:
        red = np.asarray(reduced_chisq, dtype=float)
        typical = np.nanmedian(red[ok]) if ok.any() else np.inf
        redo |= ~(red <= 1.1 * typical)
    if mask is not None:
        redo &= ~np.asarray(mask, bool)
    return redo


def keep_first(flags0, flags1, chisq0, chisq1):
    """Pixels where the first of two fits is kept: it converged and the
    second did not, or both (or neither) converged and it has the lower
    chi-squared (NaN counts as infinite).

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.cl_fit_steps import keep_first
    >>> keep_first(np.array([0, 0, 1]), np.array([1, 0, 0]),
    ...            np.array([5.0, 1.0, 1.0]), np.array([1.0, 2.0, 2.0])).tolist()
    [True, True, False]
    """
    ok0, ok1 = np.asarray(flags0) == 0, np.asarray(flags1) == 0
    c0 = np.nan_to_num(np.asarray(chisq0, float), nan=np.inf)
    c1 = np.nan_to_num(np.asarray(chisq1, float), nan=np.inf)
    return (ok0 & ~ok1) | ((ok0 == ok1) & (c0 < c1))
