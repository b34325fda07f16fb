"""Frames of a time-resolved map: drift between frames, onset of damage.

Arrays only. The drift of each frame against a reference is the peak of the
partially whitened cross-correlation of the (smoothed) frame images (phase
correlation: Kuglin & Hines, Proc. IEEE Int. Conf. Cybernetics and Society
(1975) 163), rounded to whole pixels so a
shifted count map stays raw counts. The onset of beam damage is the first
frame from which a composition figure stays significantly below its value in
the first frames.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["frame_shifts", "damage_onset"]


def _correlation_shift(ref, img, max_shift):
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
    return np.array([dy[k[0]], dx[k[1]]], dtype=int)


def frame_shifts(frames, reference=0, smooth=1.0, max_shift=None):
    """Whole-pixel shift of every frame onto the reference frame.

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

    Returns
    -------
    numpy.ndarray of int
        ``(n, 2)`` shifts ``(dy, dx)``: ``aligned[y, x] = frame[y - dy, x - dx]``.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.frames import frame_shifts
    >>> rng = np.random.default_rng(0)
    >>> big = ndimage.gaussian_filter(rng.random((80, 80)), 2)
    >>> img, moved = big[8:72, 8:72], big[5:69, 10:74]  # specimen drifted
    >>> frame_shifts(np.stack([img, moved])).tolist()
    [[0, 0], [-3, 2]]
    """
    frames = np.asarray(frames, dtype=float)
    if frames.ndim != 3:
        raise ValueError("frames must be (n_frames, ny, nx).")
    n = frames.shape[0]
    if not -n <= reference < n:
        raise ValueError(f"reference {reference} is not a frame index (0..{n - 1}).")
    if max_shift is None:
        max_shift = 0.25 * min(frames.shape[1:])
    # a Hann window removes the scan borders' own correlation peak at 0
    win = np.outer(np.hanning(frames.shape[1]), np.hanning(frames.shape[2]))

    def prep(f):
        f = ndimage.gaussian_filter(f, smooth) if smooth else f
        return (f - f.mean()) * win

    ref = prep(frames[reference])
    return np.stack([_correlation_shift(ref, prep(f), max_shift) for f in frames])


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
