"""Strain tensors from fitted spot positions, with covariance.

Convention (as pyxem's :class:`~pyxem.signals.StrainMap`): reciprocal
vectors of the strained lattice are ``g = D g0`` with ``g0`` those of the
reference region; the real-space deformation gradient is ``F = D^-T``; its
polar decomposition ``F = R(theta) U`` gives the strain ``eps = U - I``
(``e_xx, e_yy, e_xy``, positive = tensile) and the rigid rotation ``theta``
(rad, positive from x towards y), all in the detector (kx, ky) frame.

Per pattern, ``D`` and the direct-beam position ``c`` are fitted together by
weighted linear least squares to the measured positions ``p_i = c + D g0_i``
of the spots and ``p_0 = c`` of the direct beam (so the centring error is
carried into the strain), weights from the Gaussian-fit variances; x and y
rows are independent. The covariance of ``D`` is propagated to the strain
components through the Jacobian (finite differences of the exact
decomposition).
"""

import numpy as np

from hyperspy_perovskite._numba_cache import njit_cached

__all__ = [
    "STRAIN_FIELDS",
    "STRAIN_REASONS",
    "strain_series",
    "strain_reasons",
    "to_device_frame",
    "fit_strain",
    "strain_from_gradient",
    "reference_vectors",
]

#: Output per pattern of :func:`fit_strain`.
STRAIN_FIELDS = (
    "exx",
    "eyy",
    "exy",
    "theta",
    "exx_std",
    "eyy_std",
    "exy_std",
    "theta_std",
    "n_spots",
    "redchi",
)


@njit_cached(nogil=True)
def _decompose(d11, d12, d21, d22, out):  # pragma: no cover - compiled
    det = d11 * d22 - d12 * d21
    # F = D^-T
    f11, f12, f21, f22 = d22 / det, -d21 / det, -d12 / det, d11 / det
    th = np.arctan2(f21 - f12, f11 + f22)
    c, s = np.cos(th), np.sin(th)
    # U = R^T F
    u11 = c * f11 + s * f21
    u12 = c * f12 + s * f22
    u21 = -s * f11 + c * f21
    u22 = -s * f12 + c * f22
    out[0] = u11 - 1.0
    out[1] = u22 - 1.0
    out[2] = 0.5 * (u12 + u21)
    out[3] = th


@njit_cached(nogil=True)
def _row_fit(pos, sig, ok, g0, axis, res):  # pragma: no cover - compiled
    # fit p = c + D[axis, 0] g0x + D[axis, 1] g0y; pos[0] is the direct beam
    a = np.zeros((3, 3))
    b = np.zeros(3)
    n = 0
    for i in range(pos.shape[0]):
        if not ok[i]:
            continue
        w = 1.0 / (sig[i] * sig[i])
        if i == 0:
            v0, v1, v2 = 1.0, 0.0, 0.0
        else:
            v0, v1, v2 = 1.0, g0[i - 1, 0], g0[i - 1, 1]
        v = (v0, v1, v2)
        for r in range(3):
            b[r] += w * v[r] * pos[i]
            for c in range(3):
                a[r, c] += w * v[r] * v[c]
        n += 1
    scale = a[0, 0] * a[1, 1] * a[2, 2]
    if n < 3 or scale <= 0 or abs(np.linalg.det(a)) < 1e-9 * scale:
        return -1  # collinear or too few spots: the gradient is undetermined
    cov = np.linalg.inv(a)
    x = cov @ b
    chi = 0.0
    for i in range(pos.shape[0]):
        if not ok[i]:
            continue
        m = x[0] + (0.0 if i == 0 else x[1] * g0[i - 1, 0] + x[2] * g0[i - 1, 1])
        chi += ((pos[i] - m) / sig[i]) ** 2
    res[0] = x[1]
    res[1] = x[2]
    res[2] = cov[1, 1]
    res[3] = cov[1, 2]
    res[4] = cov[2, 2]
    res[5] = chi
    return n


@njit_cached(nogil=True)
def _strain_block(
    spots, g0, min_spots, sig_lo, sig_hi, n_sigma, out
):  # pragma: no cover
    n = spots.shape[0]
    rx = np.empty(6)
    ry = np.empty(6)
    e0 = np.empty(4)
    e1 = np.empty(4)
    ok = np.empty(spots.shape[1], dtype=np.bool_)
    for i in range(n):
        nok = 0
        for k in range(spots.shape[1]):
            ok[k] = (
                spots[i, k, 8] > 0
                and np.isfinite(spots[i, k, 2])
                and spots[i, k, 4] > n_sigma * spots[i, k, 5]
                and (k == 0 or sig_lo <= spots[i, k, 6] <= sig_hi)
            )
            if k > 0 and ok[k]:
                nok += 1
        out[i, :] = np.nan
        out[i, 8] = nok
        if nok < min_spots:
            continue
        # non-collinear check: the 2x2 normal matrix must be well conditioned
        if _row_fit(spots[i, :, 0], spots[i, :, 2], ok, g0, 0, rx) < 0:
            continue
        if _row_fit(spots[i, :, 1], spots[i, :, 3], ok, g0, 1, ry) < 0:
            continue
        dof = 2 * (nok + 1) - 6
        d = np.array([rx[0], rx[1], ry[0], ry[1]])
        _decompose(d[0], d[1], d[2], d[3], e0)
        for c in range(4):
            out[i, c] = e0[c]
        cov = np.zeros((4, 4))
        cov[0, 0], cov[0, 1], cov[1, 1] = rx[2], rx[3], rx[4]
        cov[2, 2], cov[2, 3], cov[3, 3] = ry[2], ry[3], ry[4]
        cov[1, 0], cov[3, 2] = cov[0, 1], cov[2, 3]
        jac = np.empty((4, 4))
        h = 1e-7
        for k in range(4):
            dp = d.copy()
            dm = d.copy()
            dp[k] += h
            dm[k] -= h
            _decompose(dp[0], dp[1], dp[2], dp[3], e0)
            _decompose(dm[0], dm[1], dm[2], dm[3], e1)
            for c in range(4):
                jac[c, k] = (e0[c] - e1[c]) / (2 * h)
        red = (rx[5] + ry[5]) / dof if dof > 0 else np.nan
        scale = max(red, 1.0) if dof > 0 else 1.0
        ce = jac @ cov @ jac.T
        for c in range(4):
            out[i, 4 + c] = np.sqrt(ce[c, c] * scale)
        out[i, 9] = red


def fit_strain(spots, g0, min_spots=3, sigma_range=(0.0, np.inf), n_sigma=5.0):
    """Strain and rotation per pattern from fitted spots (see module doc).

    Parameters
    ----------
    spots : numpy.ndarray, shape (..., n + 1, 9)
        Output of :func:`~hyperspy_perovskite.analysis.diffraction.peaks.fit_spots`
        (row 0 the direct beam).
    g0 : array, shape (n, 2)
        Reference reciprocal vectors (pixels) of the n spots.
    min_spots : int
        Fewer valid spots than this gives NaN (at least 2 non-collinear ones
        are needed; 3 leave a degree of freedom to check the fit).
    sigma_range : (float, float)
        Accepted Gaussian width (pixels) of a spot (that of the reference
        region's spots, within a factor): rejects ring segments and noise.
    n_sigma : float
        A spot counts only when its amplitude exceeds ``n_sigma`` std.

    Returns
    -------
    numpy.ndarray, shape (..., 10)
        Fields :data:`STRAIN_FIELDS`; std scaled by the reduced chi-squared
        of the lattice fit when it exceeds 1.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.diffraction.strain import fit_strain
    >>> g0 = np.array([[10.0, 0], [0, 10.0], [-10.0, 0], [0, -10.0]])
    >>> spots = np.zeros((1, 5, 9)); spots[..., 2:4] = 0.05; spots[..., 8] = 1
    >>> spots[..., 4:7] = 100.0, 1.0, 1.5  # amplitude, its std, width
    >>> spots[0, 0, :2] = 32, 32
    >>> spots[0, 1:, :2] = 32 + g0 / 1.01   # lattice 1 % larger
    >>> np.round(fit_strain(spots, g0)[0, :4], 6).tolist()
    [0.01, 0.01, 0.0, 0.0]
    """
    spots = np.asarray(spots, dtype=float)
    g0 = np.ascontiguousarray(g0, dtype=float).reshape(-1, 2)
    if spots.shape[-2] != g0.shape[0] + 1:
        raise ValueError(
            f"{spots.shape[-2] - 1} fitted spots but {g0.shape[0]} reference vectors."
        )
    lead = spots.shape[:-2]
    flat = np.ascontiguousarray(spots.reshape((-1,) + spots.shape[-2:]))
    out = np.empty((flat.shape[0], len(STRAIN_FIELDS)))
    if min_spots < 2:
        raise ValueError("min_spots must be at least 2 (two non-collinear spots).")
    _strain_block(
        flat,
        g0,
        int(min_spots),
        float(sigma_range[0]),
        float(sigma_range[1]),
        float(n_sigma),
        out,
    )
    return out.reshape(lead + (len(STRAIN_FIELDS),))


def strain_from_gradient(d):
    """``(exx, eyy, exy, theta)`` of a reciprocal-space gradient ``D`` (2x2).

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.diffraction.strain import strain_from_gradient
    >>> np.round(strain_from_gradient(np.eye(2) / 1.02), 6).tolist()
    [0.02, 0.02, 0.0, 0.0]
    """
    d = np.asarray(d, float)
    out = np.empty(4)
    _decompose(d[0, 0], d[0, 1], d[1, 0], d[1, 1], out)
    return out


def reference_vectors(spots, mask):
    """Mean spot offsets (pixels) from the direct beam over a reference region.

    Parameters
    ----------
    spots : numpy.ndarray, shape (..., n + 1, 9)
    mask : numpy.ndarray of bool, shape (...)
        The reference patterns.

    Returns
    -------
    g0 : numpy.ndarray, shape (n, 2)
        Inverse-variance weighted mean of ``p_i - p_0``.
    n_used : numpy.ndarray of int, shape (n,)
        Patterns that contributed to each spot.

    Raises
    ------
    ValueError
        If a spot was not found in any reference pattern.
    """
    s = np.asarray(spots)[np.asarray(mask, bool)]
    ok = (s[:, 1:, 8] > 0) & (s[:, :1, 8] > 0)
    g = s[:, 1:, :2] - s[:, :1, :2]
    var = s[:, 1:, 2:4] ** 2 + s[:, :1, 2:4] ** 2
    w = np.where(ok[..., None], 1.0 / var, 0.0)
    w = np.nan_to_num(w)
    wsum = w.sum(axis=0)
    if np.any(wsum == 0):
        raise ValueError(
            "Some reference spots were not found in any pattern of the "
            "reference region: choose a region of the crystal that gives them, "
            "or fewer spots."
        )
    return (np.nan_to_num(g) * w).sum(axis=0) / wsum, ok.sum(axis=0)


#: Bits of :func:`strain_reasons`.
STRAIN_REASONS = ("too few spots", "lattice misfit", "no strain fit")


def to_device_frame(spots, angle):
    """Spot positions turned from the detector frame into the device frame.

    ``angle`` (rad) is the direction of the device's stack on the detector
    (stack direction in the scan plus the diffraction rotation); the
    positions are turned by ``-angle`` so that x runs along the stack. The
    two position errors become their quadrature mean (the spot fits are
    isotropic Gaussians, ``sx`` and ``sy`` nearly equal).

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.diffraction.strain import to_device_frame
    >>> sp = np.zeros((1, 9)); sp[0, :4] = 0.0, 2.0, 0.1, 0.1
    >>> np.round(to_device_frame(sp, np.pi / 2)[0, :2], 6).tolist()
    [2.0, -0.0]
    """
    if angle == 0:
        return spots
    c, s_ = np.cos(angle), np.sin(angle)
    out = np.array(spots, float, copy=True)
    x, y = spots[..., 0], spots[..., 1]
    out[..., 0] = c * x + s_ * y
    out[..., 1] = -s_ * x + c * y
    sig = np.sqrt(0.5 * (spots[..., 2] ** 2 + spots[..., 3] ** 2))
    out[..., 2] = sig
    out[..., 3] = sig
    return out


def strain_series(spots, s, band, ref0, reference_time, min_spots):
    """Strain of every pattern of a series against a reference region.

    Parameters
    ----------
    spots : array ``(t, ny, nx, n_spots, 9)``
        Fitted spots (:mod:`~hyperspy_perovskite.analysis.diffraction.pipeline`),
        the direct beam first.
    s : array ``(t, ny, nx)``
        Position along the stack (nm) of every pattern (drift-corrected).
    band : (float, float)
        The reference band along the stack (nm), used from the second scan
        on (the sample drifts).
    ref0 : array of bool ``(ny, nx)``
        The reference region in the first scan.
    reference_time : {"first", "each"}
        Reference lattice from the first scan, or from each scan.
    min_spots : int

    Returns
    -------
    strain : array ``(t, ny, nx, len(STRAIN_FIELDS))``
        :func:`fit_strain` of every pattern; spot widths outside 0.6-1.6 times
        the reference region's median width are not used.
    reference_std : array ``(t, 4)``
        Standard error of the reference lattice (mean over the region) of
        ``exx, eyy, exy, theta``: common to every position of the scan.
    """
    t = spots.shape[0]
    out = np.empty(spots.shape[:3] + (len(STRAIN_FIELDS),))
    ref_std = np.zeros((t, 4))
    g0 = None
    w = spots[..., 1:, 6][ref0[None] & (spots[..., 1:, 8] > 0).all(axis=-1)]
    sw = float(np.nanmedian(w)) if w.size else np.nan
    srange = (0.6 * sw, 1.6 * sw) if np.isfinite(sw) else (0.0, np.inf)
    for i in range(t):
        mask = ((s[i] >= band[0]) & (s[i] <= band[1])) if i else ref0
        if reference_time == "each" or g0 is None:
            g0, _ = reference_vectors(spots[i], mask)
        out[i] = fit_strain(spots[i], g0, min_spots, srange)
        r = out[i][mask]
        ok = np.isfinite(r[:, 0])
        if ok.sum() > 1:
            # the reference lattice is a mean over the region: its error is common
            # to every position of the scan
            ref_std[i] = r[ok, :4].std(axis=0, ddof=1) / np.sqrt(ok.sum())
    return out, ref_std


def strain_reasons(strain, min_spots, max_redchi):
    """Validity of strain fits: ``(valid, reasons)`` with the bits of
    :data:`STRAIN_REASONS` (too few spots, reduced chi-squared above
    ``max_redchi``, no finite strain)."""
    n = strain[..., 8]
    red = strain[..., 9]
    reasons = np.zeros(n.shape, np.uint32)
    reasons |= np.where(n < min_spots, 1, 0).astype(np.uint32)
    reasons |= np.where(np.isfinite(red) & (red > max_redchi), 2, 0).astype(np.uint32)
    bad = ~np.isfinite(strain[..., :8]).all(axis=-1)
    reasons |= np.where(bad & (n >= min_spots), 4, 0).astype(np.uint32)
    return reasons == 0, reasons
