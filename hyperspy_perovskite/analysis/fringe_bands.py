"""Band and background-ring weights of the lattice-fringe power of one window.

The method (band, rings, log-space background interpolation, Hann noise
correlations, the signal-noise cross term) is described in
:mod:`hyperspy_perovskite.analysis.fringes`, which applies these weights to
every window of a movie.
"""

import warnings
from dataclasses import dataclass

import numpy as np

__all__ = ["FringeBands", "band_weights", "minimum_tile"]

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
    >>> from hyperspy_perovskite.analysis.fringe_bands import minimum_tile
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
    >>> from hyperspy_perovskite.analysis.fringe_bands import band_weights
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
    geo = _Geometry(
        k, theta, cw, (h, w), pixel_size, tolerance, angular_width, dk, k_nyq,
        win, norm, d, k0, half, dirs, near,
    )  # fmt: skip
    return _assemble(geo, bands, background)


@dataclass(frozen=True)
class _Geometry:
    """Frequency grid of one window (rfft layout) and the constants of its bands."""

    k: np.ndarray  # |k|, 1/A
    theta: np.ndarray  # direction of k, degrees mod 180
    cw: np.ndarray  # half-plane weights of the rfft columns
    shape: tuple
    pixel_size: float
    tolerance: float
    angular_width: float
    dk: float  # frequency step, 1/A
    k_nyq: float
    win: np.ndarray
    norm: float
    d: np.ndarray  # per band: spacing (A), centre and half-width (1/A), direction
    k0: np.ndarray
    half: np.ndarray
    dirs: list
    near: np.ndarray  # pixels near any band (excluded from the rings)


def _assemble(g, bands, background):
    """Weight columns (band sums, then the sub-ring means of every band)."""
    h, w = g.shape
    k, cw, d = g.k, g.cw, g.d
    cols = [(np.where(b, cw, 0.0) / g.norm).ravel() for b in bands]
    lam, var, ring_cols = [], [], []
    for i, b in enumerate(bands):
        if not background:
            lam.append(None)
            var.append(None)
            ring_cols.append(0)
            continue
        subrings = _rings(
            k, g.theta, g.k0[i], g.half[i], g.dk, g.k_nyq, g.dirs[i],
            g.angular_width, g.near,
        )  # fmt: skip
        counts = [(cw * r).sum() for r in subrings]
        inner = [
            r
            for r, c, side in zip(subrings, counts, "iioo", strict=False)
            if side == "i" and c >= _MIN_RING_PIXELS
        ]
        if not inner:
            raise ValueError(
                f"A {h}x{w} px window ({h * g.pixel_size:.3g} x {w * g.pixel_size:.3g} A) "
                f"cannot resolve d = {d[i]:g} A: no background can be measured "
                "inside its band (it reaches within three frequency steps of "
                "k = 0, or other requested bands cover the rest). "
                f"Use tiles of at least {minimum_tile(d[i], g.pixel_size, g.tolerance)} "
                "px (or a region), or background=False."
            )
        rings = [
            r for r, c in zip(subrings, counts, strict=False) if c >= _MIN_RING_PIXELS
        ]
        for r in rings:
            cols.append((np.where(r, cw, 0.0) / (cw * r).sum() / g.norm).ravel())
        ring_cols.append(len(rings))
        lam.append(_interpolation(k, cw, b, rings))
        var.append(_covariance(b, rings, h, w))
    W = np.stack(cols, axis=1)
    n_band = np.array([(cw * b).sum() for b in bands])
    return FringeBands(
        W, g.win, d, n_band, lam, np.array(ring_cols), var, bool(background)
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
