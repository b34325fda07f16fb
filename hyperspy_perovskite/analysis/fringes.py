"""Lattice-fringe power in windowed FFTs of image series (numpy/dask, no HyperSpy).

A lattice fringe of spacing ``d`` puts power in the FFT ring of radius
``k0 = 1/d``. For every frame and every window (one region of interest, or
half-overlapping square tiles) the frame is mean-subtracted, each window
multiplied by a periodic 2D Hann apodisation and Fourier transformed, and the
power ``|F|^2`` is summed over the band ``|k - k0| <= tolerance * k0 + dk``,
widened by one frequency step ``dk = 1 / (window size * pixel size)`` because
the Hann window spreads a fringe over one step on each side. With a spot
``direction`` the band is restricted to an angular sector around the
reciprocal-lattice vector (both ``+g`` and ``-g``), so that phases of close
d-spacing but different orientation are separated (perovskite (001),
6.36 A, and PbI2 (001), 6.96 A, are 0.014 1/A apart: closer than the
frequency step of any tile below 70 nm).

Normalisation: a cosine fringe of amplitude ``a`` filling the window gives
``a**2 / 2`` (its variance, Parseval), whatever the window size.

Background (``background=True``): the mean power per frequency pixel of a
ring inside and a ring outside the band (each as wide as the band, beyond a
guard of one frequency step, in the same angular sector widened to at least
30 degrees, away from every other requested band) is interpolated
geometrically in ``k`` to every band pixel (exact for a flat noise floor and
for a power-law amorphous background) and subtracted. Ring pixels never come
closer than two frequency steps to ``k = 0`` (where the Hann leakage of the
window's mean lives) nor beyond Nyquist. The expected result of an amorphous
or empty window is therefore zero at any sampling; a band whose inner ring
cannot be placed above ``2 dk`` is refused with the tile size that would
resolve it.

Uncertainty: for complex Gaussian Fourier coefficients ``|F|^2`` has a
variance equal to its mean squared; the periodic Hann window correlates the
complex coefficients of neighbouring frequency pixels by -2/3 (lag 1) and 1/6
(lag 2) (its transform has the three taps -1/4, 1/2, -1/4), i.e. their powers
by 4/9 and 1/36, and a real image makes ``|F(k)|^2 = |F(-k)|^2``. The
variance of the band-minus-background estimate is computed from these
correlations with the local background level, plus the signal-noise cross
term ``4 kappa B P`` of a fringe (its +g and -g spots are the same noise) (``kappa`` = 3.78, the Hann spot's
``S^H rho S / |S|^2`` in 2D).

The weights of the bands and rings of one window are built in
:mod:`hyperspy_perovskite.analysis.fringe_bands`; the transforms themselves are in
:mod:`hyperspy_perovskite.analysis._fringe_fft` (compiled tile kernels and a
``scipy.fft`` path).
"""

import numpy as np

from hyperspy_perovskite.analysis._fringe_fft import fringe_power_frames
from hyperspy_perovskite.analysis.fringe_bands import (
    _KAPPA,
    FringeBands,
    band_weights,
    minimum_tile,
)

__all__ = [
    "FringeBands",
    "band_weights",
    "combine_bands",
    "fringe_power_frames",
    "fringe_power",
    "minimum_tile",
    "tile_origins",
]


def combine_bands(raw, bands):
    """Fringe power and its standard deviation from the band/ring columns.

    Parameters
    ----------
    raw : numpy.ndarray, shape (..., 3 * n_bands)
        Output of :func:`fringe_power_frames` with ``bands.weights``.
    bands : FringeBands

    Returns
    -------
    numpy.ndarray, shape (..., n_bands, 2)
        Power (``a**2 / 2`` units) and standard deviation; the standard
        deviation is NaN without background rings (nothing to estimate the
        noise from).
    """
    nb = bands.d_spacings.size
    out = np.empty(raw.shape[:-1] + (nb, 2))
    col = nb
    for i in range(nb):
        s = raw[..., i]
        if not bands.background:
            out[..., i, 0] = s
            out[..., i, 1] = np.nan
            continue
        nr = int(bands.rings[i])
        m = np.clip(raw[..., col : col + nr], 1e-300, None)
        col += nr
        lam, counts = bands.alpha[i]
        C = bands.variance[i]
        n_b = bands.n_band[i]
        # B(k) = prod_r M_r ** lambda_r(k), summed over the band pixels
        log_m = np.log(m)
        bsum = np.exp(log_m @ lam.T) @ counts
        lbar = np.average(lam, axis=0, weights=counts)
        crr = C[1:, 1:]
        # log-normal (Jensen) bias of the interpolation in log space
        bsum = bsum * np.exp(lbar @ np.diag(crr) / 2 - lbar @ crr @ lbar / 2)
        p = s - bsum
        bbar = np.maximum(bsum / n_b, 0.0)
        var_noise = C[0, 0] + n_b**2 * (lbar @ crr @ lbar) - 2 * n_b * (lbar @ C[0, 1:])
        var = bbar**2 * var_noise + 4 * _KAPPA * bbar * np.maximum(p, 0.0)
        out[..., i, 0] = p
        out[..., i, 1] = np.sqrt(np.maximum(var, 0.0))
    return out


def tile_origins(length, tile, step):
    """Start indices of windows of size ``tile`` every ``step`` pixels.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.fringes import tile_origins
    >>> tile_origins(128, 64, 32)
    array([ 0, 32, 64])
    """
    if tile > length:
        raise ValueError(f"Tile size {tile} is larger than the frame size {length}.")
    return np.arange(0, length - tile + 1, step)


def _power_and_std(frames, oy, ox, bands, workers, shifts=None):
    if shifts is None:
        raw = fringe_power_frames(frames, oy, ox, bands.window, bands.weights, workers)
    else:
        # drift-following tiles: each frame's grid moves with the specimen
        shifts = np.asarray(shifts).reshape(frames.shape[0], 2)
        raw = np.concatenate(
            [
                fringe_power_frames(
                    frames[i : i + 1],
                    oy - shifts[i, 0],
                    ox - shifts[i, 1],
                    bands.window,
                    bands.weights,
                    workers,
                )
                for i in range(frames.shape[0])
            ]
        )
    return combine_bands(raw, bands)


def _drift_grid(length, tile, step, sh):
    """Tile origins (reference frame) that stay inside every shifted frame."""
    lo = max(0, int(sh.max()))
    hi = length - tile + min(0, int(sh.min()))
    if hi < lo:
        raise ValueError(
            f"The drift ({sh.min():g} to {sh.max():g} px) leaves no {tile}-px tile "
            "inside every frame."
        )
    return np.arange(lo, hi + 1, step)


def fringe_power(
    data,
    pixel_size,
    d_spacings,
    tolerance=0.02,
    window_shape=None,
    step=None,
    background=True,
    workers=None,
    directions=None,
    angular_width=15.0,
    shifts=None,
):
    """Fringe power and its uncertainty vs time (numpy or dask, lazy stays lazy).

    Parameters
    ----------
    data : numpy.ndarray or dask.array.Array, shape (t, Y, X)
        Dask arrays are processed chunk by chunk along time (frames are
        rechunked to whole frames); the result is a dask array.
    pixel_size : float
        A per pixel.
    d_spacings : array-like
        A.
    tolerance : float
    window_shape : tuple, optional
        ``(h, w)`` of the tiles; default the whole frame (one window).
    step : int or tuple, optional
        Tile step; default half the tile (half-overlapping).
    background : bool
    workers : int, optional
    directions, angular_width
        Spot directions (degrees, mod 180) and sector half-width, see
        :func:`band_weights`.
    shifts : numpy.ndarray, shape (t, 2), optional
        Drift shifts (y, x) in pixels that move each frame onto the reference
        (:func:`hyperspy_perovskite.analysis.drift.estimate_shifts`): the
        tiles follow the specimen (their origins move by the rounded shift;
        the power of a tile does not depend on a sub-pixel shift), so no
        frame has to be resampled. Only tiles inside every frame are kept.

    Returns
    -------
    numpy.ndarray or dask.array.Array, shape (t, ny, nx, n_bands, 2)
        ``[..., 0]`` the fringe power (``a**2 / 2`` for a fringe of
        amplitude ``a``), ``[..., 1]`` its standard deviation.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.fringes import fringe_power
    >>> y, x = np.mgrid[:64, :64]
    >>> frame = 10 + 2.0 * np.cos(2 * np.pi * x / 6.4)
    >>> p = fringe_power(frame[None], 1.0, [6.4])
    >>> round(float(p[0, 0, 0, 0, 0]), 2)  # a**2 / 2
    2.0
    """
    import dask.array as da

    if data.ndim != 3:
        raise ValueError(f"Expected (time, y, x) data, got shape {data.shape}.")
    T, Y, X = data.shape
    if window_shape is None:
        window_shape = (Y, X)
    h, w = int(window_shape[0]), int(window_shape[1])
    if step is None:
        step = (max(h // 2, 1), max(w // 2, 1))
    elif np.ndim(step) == 0:
        step = (int(step), int(step))
    if min(step) < 1:
        raise ValueError(f"step must be >= 1, got {step!r}.")
    bands = band_weights(
        (h, w), pixel_size, d_spacings, tolerance, background, directions, angular_width
    )
    if shifts is None:
        oy = tile_origins(Y, h, step[0])
        ox = tile_origins(X, w, step[1])
        sh = None
    else:
        sh = np.round(np.asarray(shifts, dtype=float)).astype(np.int64)
        if sh.shape != (T, 2):
            raise ValueError(f"shifts must have shape ({T}, 2), got {sh.shape}.")
        oy = _drift_grid(Y, h, step[0], sh[:, 0])
        ox = _drift_grid(X, w, step[1], sh[:, 1])
    nb = bands.d_spacings.size
    if isinstance(data, da.Array):
        data = data.rechunk({1: -1, 2: -1})
        sh_arg = None if sh is None else da.from_array(sh, chunks=(data.chunks[0], 2))
        # axes 1 and 2 (one chunk each) become the tile rows and columns: no
        # drop_axis, which would make dask copy every block first
        return da.map_blocks(
            _power_and_std,
            data,
            oy,
            ox,
            bands,
            workers,
            *(() if sh_arg is None else (sh_arg[:, :, None],)),
            dtype=float,
            new_axis=[3, 4],
            chunks=(data.chunks[0], (len(oy),), (len(ox),), (nb,), (2,)),
            meta=np.empty((0, 0, 0, 0, 0)),
        )
    return _power_and_std(data, oy, ox, bands, workers, sh)
