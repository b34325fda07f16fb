"""Sub-pixel drift estimation and correction along time (numpy/dask, no HyperSpy).

Each frame is registered to a reference frame by cross-correlation
(:func:`skimage.registration.phase_cross_correlation` with ``normalization=None``,
which is robust to shot noise, and matrix-multiply DFT upsampling for sub-pixel
precision) after Hann apodisation and an optional Gaussian low-pass that keeps
the mass-thickness contrast and drops the noise. Frames are shifted back with a
Fourier shift, which preserves the amplitude of lattice fringes (an
interpolating shift would damp them by an amount that depends on the
sub-pixel shift and corrupt fringe tracking). The Fourier shift is periodic:
a border as wide as the shift wraps around.
"""

import numpy as np
import scipy.fft
import scipy.ndimage

__all__ = ["estimate_shifts", "apply_shifts", "prepare_reference"]


def _filtered(frame, sigma):
    f = np.asarray(frame, dtype=np.float64)
    f = f - f.mean()
    if sigma:
        f = scipy.ndimage.gaussian_filter(f, sigma)
    return f


def _window(shape):
    return np.outer(np.hanning(shape[0]), np.hanning(shape[1]))


def _prep(frame, sigma):
    f = _filtered(frame, sigma)
    return scipy.fft.fft2(f * _window(f.shape))


def prepare_reference(reference, sigma=None):
    """FFT of the apodised (and low-passed) reference frame."""
    return _prep(reference, sigma)


def _shifts_block(block, ref_fft, upsample, sigma, refine=2):
    from skimage.registration import phase_cross_correlation

    out = np.empty((block.shape[0], 2))
    win = None
    for i in range(block.shape[0]):
        f = _filtered(block[i], sigma)
        if win is None:
            win = _window(f.shape)
        F = scipy.fft.fft2(f)
        total = np.zeros(2)
        # the apodisation biases the peak towards zero shift; re-registering
        # the shifted frame removes the bias (the residual shift is small)
        for _ in range(refine):
            g = (
                f
                if not total.any()
                else scipy.fft.ifft2(scipy.ndimage.fourier_shift(F, total)).real
            )
            shift, _, _ = phase_cross_correlation(
                ref_fft,
                scipy.fft.fft2(g * win),
                upsample_factor=upsample,
                space="fourier",
                normalization=None,
            )
            total = total + shift
        out[i] = total
    return out


def estimate_shifts(data, reference, upsample=20, sigma=None):
    """Shifts (dy, dx) in pixels that register each frame onto the reference.

    Parameters
    ----------
    data : numpy.ndarray or dask.array.Array, shape (t, Y, X)
    reference : numpy.ndarray, shape (Y, X)
        The reference frame (computed).
    upsample : int
        Sub-pixel precision is ``1 / upsample`` pixel.
    sigma : float, optional
        Gaussian low-pass (pixels) before correlation.

    Returns
    -------
    numpy.ndarray or dask.array.Array, shape (t, 2)
        ``apply_shifts(frame, shift)`` moves the frame onto the reference;
        a feature that drifted by ``+d`` gives a shift ``-d``.

    Examples
    --------
    >>> import scipy.ndimage
    >>> from hyperspy_perovskite.analysis.drift import estimate_shifts
    >>> rng = np.random.default_rng(0)
    >>> ref = scipy.ndimage.gaussian_filter(rng.random((64, 64)), 3)
    >>> moved = scipy.ndimage.fourier_shift(np.fft.fft2(ref), (1.5, -2.25))
    >>> moved = np.fft.ifft2(moved).real
    >>> np.round(estimate_shifts(np.stack([ref, moved]), ref), 2)
    array([[ 0.  ,  0.  ],
           [-1.5 ,  2.25]])
    """
    import dask.array as da

    if data.ndim != 3:
        raise ValueError(f"Expected (time, y, x) data, got shape {data.shape}.")
    reference = np.asarray(reference)
    if reference.shape != tuple(data.shape[1:]):
        raise ValueError(
            f"The reference frame has shape {reference.shape}, the frames "
            f"{tuple(data.shape[1:])}."
        )
    if int(upsample) < 1:
        raise ValueError(f"upsample must be an integer >= 1, got {upsample!r}.")
    ref_fft = prepare_reference(reference, sigma)
    if isinstance(data, da.Array):
        data = data.rechunk({1: -1, 2: -1})
        return da.map_blocks(
            _shifts_block,
            data,
            ref_fft,
            int(upsample),
            sigma,
            dtype=float,
            drop_axis=[1, 2],
            new_axis=[1],
            chunks=(data.chunks[0], (2,)),
            meta=np.empty((0, 0)),
        )
    return _shifts_block(data, ref_fft, int(upsample), sigma)


def _apply_block(block, shifts):
    out = np.empty(block.shape, dtype=np.result_type(block.dtype, np.float32))
    shifts = np.asarray(shifts, dtype=float).reshape(block.shape[0], 2)
    for i in range(block.shape[0]):
        F = scipy.fft.fft2(block[i])
        out[i] = scipy.fft.ifft2(scipy.ndimage.fourier_shift(F, shifts[i])).real
    return out


def apply_shifts(data, shifts):
    """Shift every frame by its (dy, dx) with a Fourier shift (lazy stays lazy).

    Parameters
    ----------
    data : numpy.ndarray or dask.array.Array, shape (t, Y, X)
    shifts : numpy.ndarray or dask.array.Array, shape (t, 2)

    Returns
    -------
    numpy.ndarray or dask.array.Array, shape (t, Y, X), float
    """
    import dask.array as da

    if data.ndim != 3:
        raise ValueError(f"Expected (time, y, x) data, got shape {data.shape}.")
    if tuple(shifts.shape) != (data.shape[0], 2):
        raise ValueError(
            f"shifts must have shape (n_frames, 2) = ({data.shape[0]}, 2), got "
            f"{tuple(shifts.shape)}."
        )
    if isinstance(data, da.Array) or isinstance(shifts, da.Array):
        data = da.asarray(data).rechunk({1: -1, 2: -1})
        shifts = da.asarray(shifts).rechunk((data.chunks[0], 2))
        dtype = np.result_type(data.dtype, np.float32)
        return da.map_blocks(
            _apply_block,
            data,
            shifts[:, :, None],
            dtype=dtype,
            meta=np.empty((0, 0, 0), dtype=dtype),
        )
    return _apply_block(np.asarray(data), np.asarray(shifts))
