"""Sub-pixel registration of small scan images (virtual images between scans).

Phase correlation (:func:`hyperspy_perovskite.analysis.drift.estimate_shifts`)
gives the start; the shift is then refined by Gauss-Newton (Lucas-Kanade)
least squares on the overlap of the two images, without apodisation, which
biases small scans towards zero shift. The reference is interpolated with
cubic splines; the residual scatter gives the shift's covariance.
"""

import numpy as np
from scipy import ndimage

__all__ = ["register_series"]


def _refine(ref, img, d0, n_iter=20):
    d = np.array(d0, float)
    ny, nx = ref.shape
    yy, xx = np.mgrid[:ny, :nx].astype(float)
    cov = np.full((2, 2), np.nan)
    for _ in range(n_iter):
        # model: img(p) = a + b * ref(p + d)  (d = sample offset, scan px)
        coords = np.array([yy + d[0], xx + d[1]])
        r = ndimage.map_coordinates(ref, coords, order=3, mode="nearest")
        gy = ndimage.map_coordinates(
            np.gradient(ref, axis=0), coords, order=3, mode="nearest"
        )
        gx = ndimage.map_coordinates(
            np.gradient(ref, axis=1), coords, order=3, mode="nearest"
        )
        m = int(np.ceil(np.abs(d).max())) + 2
        sl = (slice(m, ny - m), slice(m, nx - m))
        if ny - 2 * m < 3 or nx - 2 * m < 3:
            return d, cov, False
        a = np.column_stack(
            [np.ones(r[sl].size), r[sl].ravel(), gy[sl].ravel(), gx[sl].ravel()]
        )
        y = img[sl].ravel()
        # linearise in d around the current estimate, with gain b
        coef, *_ = np.linalg.lstsq(a[:, :2], y, rcond=None)
        jac = np.column_stack([a[:, 0], a[:, 1], coef[1] * a[:, 2], coef[1] * a[:, 3]])
        res = y - a[:, :2] @ coef
        step, *_ = np.linalg.lstsq(jac, res, rcond=None)
        d += step[2:]
        if np.abs(step[2:]).max() < 1e-4:
            break
    res = y - a[:, :2] @ coef
    s2 = (res**2).sum() / max(len(y) - 4, 1)
    try:
        full = np.linalg.inv(jac.T @ jac) * s2
        cov = full[2:, 2:]
    except np.linalg.LinAlgError:
        return d, cov, False
    return d, cov, True


def register_series(frames, sigma=1.0, upsample=20):
    """Sample offsets of every frame relative to the first, with uncertainties.

    Parameters
    ----------
    frames : numpy.ndarray, shape (t, ny, nx)
        Virtual images, one per scan.
    sigma : float
        Gaussian low-pass (pixels) applied to all frames first.
    upsample : int
        Sub-pixel factor of the phase-correlation start.

    Returns
    -------
    offsets : numpy.ndarray, shape (t, 2)
        ``(dy, dx)`` in scan pixels: the sample point under scan position
        ``p`` in frame ``t`` is ``p + offsets[t]`` of frame 0's frame.
    std : numpy.ndarray, shape (t, 2)
    ok : numpy.ndarray of bool, shape (t,)

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.diffraction.registration import register_series
    >>> yy, xx = np.mgrid[:24, :40].astype(float)
    >>> f = lambda dy, dx: np.sin((xx + dx) / 3) + np.cos((yy + dy) / 4) + np.sin((xx + dx + yy + dy) / 5)
    >>> off, std, ok = register_series(np.stack([f(0, 0), f(0.3, -0.7)]), sigma=0)
    >>> np.round(off[1], 3).tolist()
    [0.3, -0.7]
    """
    from hyperspy_perovskite.analysis.drift import estimate_shifts

    f = np.asarray(frames, float)
    if sigma:
        f = np.stack([ndimage.gaussian_filter(v, sigma) for v in f])
    start = np.asarray(estimate_shifts(f, f[0], upsample=upsample))
    off = np.zeros((len(f), 2))
    std = np.zeros((len(f), 2))
    ok = np.ones(len(f), bool)
    for i in range(1, len(f)):
        d, cov, good = _refine(f[0], f[i], start[i])
        off[i], std[i], ok[i] = d, np.sqrt(np.diag(cov)), good
    return off, std, ok
