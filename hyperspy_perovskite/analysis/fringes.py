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

The transforms themselves are in
:mod:`hyperspy_perovskite.analysis._fringe_fft` (compiled tile kernels and a
``scipy.fft`` path).
"""

import warnings
from dataclasses import dataclass

import numpy as np

from hyperspy_perovskite.analysis._fringe_fft import fringe_power_frames

__all__ = [
    "FringeBands",
    "band_weights",
    "combine_bands",
    "fringe_power_frames",
    "fringe_power",
    "minimum_tile",
    "tile_origins",
]

# power correlation of frequency pixels at lags -2..2 for periodic-Hann
# windowed white noise (complex correlations 1/6, -2/3, 1, -2/3, 1/6, squared)
_HANN_POWER_CORR = np.array([1 / 36, 4 / 9, 1.0, 4 / 9, 1 / 36])
# S^H rho S / |S|^2 of an on-bin Hann spot, in 2D (1.944 per axis)
_KAPPA = 1.944**2
_MIN_RING_PIXELS = 8
_RING_SECTOR_MIN = 30.0  # degrees, half-width of the background sector


def _hann2d(h, w):
    """Periodic 2D Hann window: its DFT has exactly three taps per axis."""
    wy = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(h) / h)
    wx = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(w) / w)
    return np.outer(wy, wx)


@dataclass(frozen=True)
class FringeBands:
    """Weights and constants of the fringe power of one window shape.

    Attributes
    ----------
    weights : numpy.ndarray, shape (h * (w // 2 + 1), n_columns)
        Columns: band sums, then the sub-ring means of each band, of ``|F|^2``
        (rfft layout), normalised so that a fringe of amplitude ``a`` gives
        ``a**2 / 2``.
    window : numpy.ndarray, shape (h, w)
    d_spacings : numpy.ndarray
    n_band : numpy.ndarray
        Full-plane pixel count of each band.
    alpha : list of (numpy.ndarray, numpy.ndarray)
        Per band: exponents ``lambda`` (distinct band radii x sub-rings) of
        the log-space interpolation of the background, and the number of
        band pixels at each radius.
    rings : numpy.ndarray of int
        Number of background sub-rings (columns) of each band.
    variance : list of numpy.ndarray
        Per band: covariance of (band sum, sub-ring means) for white noise,
        in units of the background power per pixel squared.
    background : bool
    """

    weights: np.ndarray
    window: np.ndarray
    d_spacings: np.ndarray
    n_band: np.ndarray
    alpha: list
    rings: np.ndarray
    variance: np.ndarray
    background: bool


def minimum_tile(d_spacing, pixel_size, tolerance=0.02):
    """Smallest power-of-two tile (px) whose bands resolve ``d_spacing``.

    The band must fit below Nyquist and leave room for a background ring
    above ``2 dk`` (where the leakage of the window's mean ends).

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.fringes import minimum_tile
    >>> minimum_tile(6.36, 0.5), minimum_tile(6.36, 1.5)
    (64, 32)
    """
    for n in 2 ** np.arange(3, 14):
        k = np.hypot(
            *np.meshgrid(
                np.fft.fftfreq(n, pixel_size),
                np.fft.rfftfreq(n, pixel_size),
                indexing="ij",
            )
        )
        dk = 1.0 / (n * pixel_size)
        k0 = 1.0 / d_spacing
        g = tolerance * k0 + 2 * dk
        ring = (k >= 2 * dk) & (k < k0 - g)
        if (
            np.count_nonzero(ring) >= _MIN_RING_PIXELS
            and k0 + g - dk <= 0.5 / pixel_size
        ):
            return int(n)
    raise ValueError(f"No tile up to 8192 px resolves d = {d_spacing:g} A.")


def _sector(theta, direction, half_width):
    """Pixels within ``half_width`` degrees of ``direction`` (mod 180)."""
    if direction is None:
        return np.ones(theta.shape, bool)
    diff = (theta - direction + 90.0) % 180.0 - 90.0
    return np.abs(diff) <= half_width


def _check_inputs(h, w, d, tolerance, pixel_size):
    if h < 8 or w < 8:
        raise ValueError(f"Windows must be at least 8x8 pixels, got {h}x{w}.")
    if d.ndim != 1 or not np.all(np.isfinite(d)) or np.any(d <= 0):
        raise ValueError(f"d_spacings must be positive numbers (A), got {d!r}.")
    if not (0 < tolerance < 0.5):
        raise ValueError(
            f"tolerance is a relative half-width in spatial frequency and must be "
            f"in (0, 0.5), got {tolerance!r}."
        )
    if not (np.isfinite(pixel_size) and pixel_size > 0):
        raise ValueError(f"pixel_size must be positive (A), got {pixel_size!r}.")


def _directions(directions, n):
    if directions is None:
        return [None] * n
    dirs = list(np.atleast_1d(np.asarray(directions, dtype=object)))
    if len(dirs) == 1 and n > 1:
        dirs = dirs * n
    if len(dirs) != n:
        raise ValueError(
            f"Give one direction (degrees) per d-spacing: {n} d-spacings, "
            f"{len(dirs)} directions."
        )
    return [None if v is None else float(v) % 180.0 for v in dirs]


def _grids(h, w, pixel_size):
    """rfft-layout k (1/A), angle (deg, mod 180) and half-plane weights."""
    ky = np.fft.fftfreq(h, d=pixel_size)
    kx = np.fft.rfftfreq(w, d=pixel_size)
    k = np.hypot(ky[:, None], kx[None, :])
    theta = np.degrees(np.arctan2(ky[:, None], kx[None, :])) % 180.0
    colw = np.full(kx.shape, 2.0)
    colw[0] = 1.0
    if w % 2 == 0:
        colw[-1] = 1.0
    return k, theta, np.broadcast_to(colw[None, :], k.shape)


def band_weights(
    shape,
    pixel_size,
    d_spacings,
    tolerance=0.02,
    background=True,
    directions=None,
    angular_width=15.0,
):
    """Weights that map the rfft power of a window to band sums and rings.

    Parameters
    ----------
    shape : tuple of int
        Window shape ``(h, w)`` in pixels.
    pixel_size : float
        Pixel size, A.
    d_spacings : array-like of float
        Lattice spacings, A.
    tolerance : float
        Relative half-width of each band in spatial frequency.
    background : bool
        Build the background rings.
    directions : float or sequence of (float or None), optional
        Direction of each band's reciprocal-lattice vector (the normal to the
        fringes), degrees from the image x axis towards +y (rows), modulo
        180; None: the full annulus.
    angular_width : float
        Half-width of the angular sector of a directional band, degrees.

    Returns
    -------
    FringeBands

    Raises
    ------
    ValueError
        If a band lies beyond Nyquist, contains no frequency pixel, or (with
        ``background``) sits too close to ``k = 0`` for an inner ring: the
        message gives the smallest tile that resolves it.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.fringes import band_weights
    >>> b = band_weights((256, 256), 1.2, [6.36, 6.96], directions=[0, 60])
    >>> b.weights.shape, b.rings.tolist()
    ((33024, 10), [4, 4])
    """
    h, w = (int(shape[0]), int(shape[1]))
    d = np.atleast_1d(np.asarray(d_spacings, dtype=float))
    _check_inputs(h, w, d, tolerance, pixel_size)
    dirs = _directions(directions, d.size)
    if not 0 < angular_width <= 90:
        raise ValueError(
            f"angular_width must be in (0, 90] degrees, got {angular_width}."
        )
    k, theta, cw = _grids(h, w, pixel_size)
    k_nyq = 0.5 / pixel_size
    dk = 1.0 / (min(h, w) * pixel_size)
    k0 = 1.0 / d
    half = tolerance * k0 + dk
    win = _hann2d(h, w)
    norm = h * w * np.sum(win**2)
    guard_deg = [np.degrees(dk / kk) for kk in k0]
    bands, near = [], np.zeros(k.shape, bool)
    for i in range(d.size):
        if k0[i] + half[i] > k_nyq:
            raise ValueError(
                f"d = {d[i]:g} A is below the Nyquist limit of this pixel size "
                f"({2 * pixel_size:g} A): the fringes are not resolved."
            )
        b = (np.abs(k - k0[i]) <= half[i]) & _sector(theta, dirs[i], angular_width)
        if not b.any():
            raise ValueError(
                f"The band for d = {d[i]:g} A (tolerance {tolerance:g}) contains no "
                f"frequency pixel of a {h}x{w} window (frequency step {dk:.3g} 1/A). "
                "Use a larger window, tolerance or angular_width."
            )
        for j, other in enumerate(bands):
            if (other & b).any():
                warnings.warn(
                    f"The band of d = {d[i]:g} A overlaps the band of d = {d[j]:g} A "
                    f"at this window size ({h}x{w} px, frequency step {dk:.3g} 1/A): "
                    "their powers are not independent. Give spot directions, use "
                    "larger windows or a smaller tolerance to separate them.",
                    UserWarning,
                    stacklevel=3,
                )
        bands.append(b)
        near |= (np.abs(k - k0[i]) <= half[i] + dk) & _sector(
            theta, dirs[i], angular_width + guard_deg[i]
        )
    return _assemble(
        k,
        theta,
        cw,
        bands,
        dirs,
        d,
        k0,
        half,
        dk,
        k_nyq,
        win,
        norm,
        near,
        background,
        angular_width,
        (h, w),
        pixel_size,
        tolerance,
    )


def _assemble(
    k,
    theta,
    cw,
    bands,
    dirs,
    d,
    k0,
    half,
    dk,
    k_nyq,
    win,
    norm,
    near,
    background,
    angular_width,
    shape,
    pixel_size,
    tolerance,
):
    """Weight columns (band sums, then the sub-ring means of every band)."""
    h, w = shape
    cols = [(np.where(b, cw, 0.0) / norm).ravel() for b in bands]
    lam, var, ring_cols = [], [], []
    for i, b in enumerate(bands):
        if not background:
            lam.append(None)
            var.append(None)
            ring_cols.append(0)
            continue
        subrings = _rings(
            k, theta, k0[i], half[i], dk, k_nyq, dirs[i], angular_width, near
        )
        counts = [(cw * r).sum() for r in subrings]
        inner = [
            r
            for r, c, side in zip(subrings, counts, "iioo", strict=False)
            if side == "i" and c >= _MIN_RING_PIXELS
        ]
        if not inner:
            raise ValueError(
                f"A {h}x{w} px window ({h * pixel_size:.3g} x {w * pixel_size:.3g} A) "
                f"cannot resolve d = {d[i]:g} A: no background can be measured "
                "inside its band (it reaches within three frequency steps of "
                "k = 0, or other requested bands cover the rest). "
                f"Use tiles of at least {minimum_tile(d[i], pixel_size, tolerance)} "
                "px (or a region), or background=False."
            )
        rings = [
            r for r, c in zip(subrings, counts, strict=False) if c >= _MIN_RING_PIXELS
        ]
        for r in rings:
            cols.append((np.where(r, cw, 0.0) / (cw * r).sum() / norm).ravel())
        ring_cols.append(len(rings))
        lam.append(_interpolation(k, cw, b, rings))
        var.append(_covariance(b, rings, h, w))
    W = np.stack(cols, axis=1)
    n_band = np.array([(cw * b).sum() for b in bands])
    return FringeBands(
        W, win, d, n_band, lam, np.array(ring_cols), var, bool(background)
    )


def _rings(k, theta, kk, hh, dk, k_nyq, direction, width, near):
    """Two inner and two outer background sub-rings of one band.

    Each side takes the free frequency pixels (in the sector, away from
    every requested band and its guard, above ``2 dk`` and below Nyquist)
    nearest to the band, over a width ``2 hh``, split in two by radius.
    """
    g = hh + dk
    free = _sector(theta, direction, max(width, _RING_SECTOR_MIN)) & ~near
    free &= (k >= 2 * dk) & (k <= k_nyq)
    out = []
    below = free & (k < kk - g)
    if below.any():
        top = k[below].max()
        out += [below & (k > top - hh), below & (k <= top - hh) & (k > top - 2 * hh)]
    else:
        out += [below, below]
    above = free & (k > kk + g)
    if above.any():
        bot = k[above].min()
        out += [above & (k < bot + hh), above & (k >= bot + hh) & (k < bot + 2 * hh)]
    else:
        out += [above, above]
    return out


def _interpolation(k, cw, band, rings):
    """Exponents ``lambda`` with ``log B(k) = sum_r lambda_r(k) log M_r``.

    A least-squares polynomial in ``log k`` (degree up to 2, below the number
    of rings) through the sub-ring means, evaluated at every band pixel;
    returned per distinct band radius with the number of pixels at it.
    """
    u_r = np.array([np.average(np.log(k[r]), weights=cw[r]) for r in rings])
    deg = min(2, len(rings) - 1)
    uc = u_r.mean()
    A = np.vander(u_r - uc, deg + 1)
    pinv = np.linalg.pinv(A)  # (deg + 1, n_rings)
    kb = np.round(k[band], 10)
    radii, inverse = np.unique(kb, return_inverse=True)
    counts = np.bincount(inverse, weights=cw[band])
    lam = np.vander(np.log(radii) - uc, deg + 1) @ pinv  # (n_radii, n_rings)
    return lam, counts


def _full_plane(mask_rfft, h, w):
    """rfft-layout mask/weights spread to the full (h, w) frequency plane."""
    nc = w // 2 + 1
    full = np.zeros((h, w))
    full[:, :nc] = mask_rfft
    neg_ky = -np.arange(h) % h
    cols = np.arange(nc, w)
    full[:, cols] = mask_rfft[neg_ky][:, w - cols]
    return full


def _covariance(band, rings, h, w):
    """Noise covariance of [band sum, ring means] in units of B**2 (full plane)."""
    kern = np.outer(_HANN_POWER_CORR, _HANN_POWER_CORR)
    kf = np.zeros((h, w))
    for iy, oy in enumerate(range(-2, 3)):
        for ix, ox in enumerate(range(-2, 3)):
            kf[oy % h, ox % w] += kern[iy, ix]
    kf_hat = np.fft.rfft2(kf)
    vecs = [_full_plane(band.astype(float), h, w)]
    for ring in rings:
        u = _full_plane(ring.astype(float), h, w)
        vecs.append(u / u.sum())
    conv = [np.fft.irfft2(np.fft.rfft2(v) * kf_hat, s=(h, w)) for v in vecs]
    # R = K(i - j) + K(i + j) and every map is symmetric under k -> -k
    n = len(vecs)
    return np.array(
        [[2.0 * float(np.sum(vecs[a] * conv[b])) for b in range(n)] for a in range(n)]
    )


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
