"""Frames of a time-resolved map: drift between frames, onset of damage.

Arrays only. The drift of each frame against a reference is the peak of the
partially whitened cross-correlation of the (smoothed) frame images (phase
correlation: Kuglin & Hines, Proc. IEEE Int. Conf. Cybernetics and Society
(1975) 163), refined to a fraction of a pixel by the matrix-multiply
upsampled DFT of the correlation around its peak (Guizar-Sicairos, Thurman &
Fienup, Opt. Lett. 33, 156 (2008)). :func:`shift_frame` applies a shift by
whole pixels (raw counts stay raw) or bilinearly (counts conserved, but no
longer Poisson). The onset of beam damage is the first
frame from which a composition figure stays significantly below its value in
the first frames.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["frame_shifts", "shift_frame", "shifted_crop", "damage_onset"]


def _correlation_shift(ref, img, max_shift, upsample_factor=1):
    f = np.fft.fft2(ref) * np.conj(np.fft.fft2(img))
    # partial whitening: sharper than a plain correlation, but no division
    # by the vanishing high-frequency power of smoothed images
    f /= np.sqrt(np.abs(f) + 1e-3 * np.abs(f).max())
    c = np.real(np.fft.ifft2(f))
    ny, nx = c.shape
    dy = np.fft.fftfreq(ny) * ny
    dx = np.fft.fftfreq(nx) * nx
    far = (np.abs(dy)[:, None] > max_shift) | (np.abs(dx)[None, :] > max_shift)
    c[far] = -np.inf
    k = np.unravel_index(np.argmax(c), c.shape)
    peak = np.array([dy[k[0]], dx[k[1]]], dtype=float)
    if upsample_factor <= 1:
        return peak.astype(int)
    return _refine_peak(f, peak, int(upsample_factor))


def _refine_peak(f, peak, up):
    """Maximum of the band-limited correlation ``ifft2(f)`` within +- 1 px of
    ``peak``, on a grid of ``1 / up`` px (upsampled DFT by two matrix
    products, Guizar-Sicairos et al. 2008)."""
    ny, nx = f.shape
    ky = np.fft.fftfreq(ny) * ny
    kx = np.fft.fftfreq(nx) * nx
    off = np.arange(-up, up + 1) / up
    ey = np.exp(2j * np.pi * np.outer(peak[0] + off, ky) / ny)
    ex = np.exp(2j * np.pi * np.outer(kx, peak[1] + off) / nx)
    c = np.real(ey @ f @ ex)
    i, j = np.unravel_index(np.argmax(c), c.shape)
    return peak + np.array([off[i], off[j]])


def frame_shifts(frames, reference=0, smooth=1.0, max_shift=None, upsample_factor=1):
    """Shift of every frame onto the reference frame (whole or sub-pixel).

    Parameters
    ----------
    frames : numpy.ndarray
        ``(n, ny, nx)`` images (HAADF or X-ray counts).
    reference : int
        Index of the reference frame.
    smooth : float
        Gaussian smoothing in pixels (sparse counts).
    max_shift : float, optional
        Largest shift considered, pixels.
    upsample_factor : int
        1: whole pixels; ``u > 1``: the correlation peak is refined to
        ``1 / u`` px (e.g. 20 for 0.05 px).

    Returns
    -------
    numpy.ndarray
        ``(n, 2)`` shifts ``(dy, dx)``: ``aligned[y, x] = frame[y - dy, x - dx]``;
        int for whole pixels, float otherwise.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.frames import frame_shifts
    >>> rng = np.random.default_rng(0)
    >>> big = ndimage.gaussian_filter(rng.random((80, 80)), 2)
    >>> img, moved = big[8:72, 8:72], big[5:69, 10:74]  # specimen drifted
    >>> frame_shifts(np.stack([img, moved])).tolist()
    [[0, 0], [-3, 2]]
    >>> half = ndimage.shift(big, (0.5, -0.25))[8:72, 8:72]  # a sub-pixel drift
    >>> frame_shifts(np.stack([img, half]), upsample_factor=20).round(2).tolist()
    [[0.0, 0.0], [-0.5, 0.25]]
    """
    frames = np.asarray(frames, dtype=float)
    if frames.ndim != 3:
        raise ValueError("frames must be (n_frames, ny, nx).")
    n = frames.shape[0]
    if not -n <= reference < n:
        raise ValueError(f"reference {reference} is not a frame index (0..{n - 1}).")
    if max_shift is None:
        max_shift = 0.25 * min(frames.shape[1:])

    def prep(f):
        return _windowed(ndimage.gaussian_filter(f, smooth) if smooth else f)

    up = int(upsample_factor)
    if up < 1:
        raise ValueError(
            f"upsample_factor must be an integer >= 1, got {upsample_factor!r}."
        )
    ref = prep(frames[reference])
    if up == 1:
        return np.stack([_correlation_shift(ref, prep(f), max_shift) for f in frames])
    return np.stack([_subpixel_shift(ref, f, smooth, max_shift, up) for f in frames])


def _subpixel_shift(ref, frame, smooth, max_shift, up, n_iter=3):
    """Sub-pixel shift, iterated: the window multiplies both images in the
    detector frame and pulls a correlation peak towards 0 (by ~10 % of the
    shift); re-measuring after Fourier-shifting the frame by the estimate
    removes that bias (the residual shift is then ~0)."""
    f = ndimage.gaussian_filter(frame, smooth) if smooth else frame
    total = _correlation_shift(ref, _windowed(f), max_shift, up)
    F = np.fft.fft2(f)
    for _ in range(n_iter):
        moved = np.real(np.fft.ifft2(ndimage.fourier_shift(F, total)))
        step = _correlation_shift(ref, _windowed(moved), max_shift, up)
        total = total + step
        if np.all(np.abs(step) < 0.5 / up):
            break
    return total


def _windowed(img):
    """Mean removed and a Hann window applied (the scan borders' own
    correlation peak at 0 is suppressed)."""
    win = np.outer(np.hanning(img.shape[0]), np.hanning(img.shape[1]))
    return (img - img.mean()) * win


def shifted_crop(shifts, shape):
    """Rows and columns ``(y0, y1, x0, x1)`` every shifted frame covers.

    ``shifts``: ``(n, 2)`` ``(dy, dx)`` (pixels, any real values) of
    :func:`frame_shifts`; ``shape``: ``(ny, nx)`` of a frame. A fractional
    shift needs the neighbouring row/column as well (bilinear weights).

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.frames import shifted_crop
    >>> shifted_crop(np.array([[0, 0], [-1.5, 2.0]]), (10, 10))
    (0, 8, 2, 10)
    """
    s = np.asarray(shifts, dtype=float)
    ny, nx = shape
    y0 = int(max(0, np.ceil(s[:, 0]).max()))
    y1 = int(ny + min(0, np.floor(s[:, 0]).min()))
    x0 = int(max(0, np.ceil(s[:, 1]).max()))
    x1 = int(nx + min(0, np.floor(s[:, 1]).min()))
    return y0, y1, x0, x1


def shift_frame(frame, shift, crop):
    """``frame[y - dy, x - dx]`` over the rows and columns ``crop``.

    Whole-pixel shifts are slices (raw counts stay raw); a fractional part is
    interpolated bilinearly (counts are conserved, but interpolated counts
    are not Poisson). Works on numpy and dask arrays alike; trailing axes
    (e.g. the energy channels) are carried along.

    Parameters
    ----------
    frame : numpy or dask array ``(ny, nx, ...)``
    shift : (float, float)
        ``(dy, dx)`` in pixels.
    crop : (int, int, int, int)
        ``(y0, y1, x0, x1)`` from :func:`shifted_crop`.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.frames import shift_frame
    >>> f = np.arange(16.0).reshape(4, 4)
    >>> shift_frame(f, (0.0, 0.5), (0, 4, 1, 4))[0].tolist()  # half a column
    [0.5, 1.5, 2.5]
    """
    y0, y1, x0, x1 = crop
    dy, dx = float(shift[0]), float(shift[1])
    iy, ix = int(np.floor(dy)), int(np.floor(dx))
    fy, fx = dy - iy, dx - ix
    out = 0.0
    for ay, wy in ((iy, 1.0 - fy), (iy + 1, fy)):
        if wy <= 1e-12:
            continue
        for ax, wx in ((ix, 1.0 - fx), (ix + 1, fx)):
            if wx <= 1e-12:
                continue
            part = frame[y0 - ay : y1 - ay, x0 - ax : x1 - ax]
            out = out + (wy * wx) * part if (wy * wx) != 1.0 else part
    return out


def damage_onset(values, std, n_reference=2, n_sigma=3.0):
    """First frame from which ``values`` stay significantly below the start.

    The reference is the inverse-variance mean of the first ``n_reference``
    frames; frame ``i`` is damaged when it and every later frame lie more
    than ``n_sigma`` combined standard deviations below it.

    Parameters
    ----------
    values, std : array_like
        A composition figure per frame (halide at% or X/Pb) and its std.
    n_reference : int
    n_sigma : float

    Returns
    -------
    int or None
        The onset frame, or None when there is no sustained loss.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.frames import damage_onset
    >>> damage_onset([3.0, 3.0, 2.99, 2.6, 2.4, 2.2], [0.02] * 6)
    3
    >>> damage_onset([3.0, 3.0, 3.01, 2.99], [0.02] * 4) is None
    True
    """
    v = np.asarray(values, dtype=float)
    s = np.asarray(std, dtype=float)
    n_reference = int(n_reference)
    if not 1 <= n_reference < v.size:
        raise ValueError(
            f"n_reference must be between 1 and {v.size - 1} (frames), got {n_reference}."
        )
    w = 1.0 / s[:n_reference] ** 2
    ref = np.sum(w * v[:n_reference]) / np.sum(w)
    ref_var = 1.0 / np.sum(w)
    with np.errstate(invalid="ignore"):
        low = (ref - v) > n_sigma * np.sqrt(s**2 + ref_var)
    low[:n_reference] = False
    sustained = np.flip(np.cumprod(np.flip(low))).astype(bool)
    return int(np.argmax(sustained)) if sustained.any() else None
