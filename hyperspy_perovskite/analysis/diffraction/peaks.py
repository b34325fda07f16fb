"""Sub-pixel spot positions with uncertainties: a compiled 2D Gaussian fit.

Each spot (and the direct beam) is fitted in a square window around its
expected position by ``B + A exp(-((x - x0)^2 + (y - y0)^2) / (2 s^2))``
integrated over each pixel (erf form: no pixel locking of sharp spots), in
a circular window recentred on the estimate,
with Levenberg-Marquardt, weighted by the Poisson variance of the model
(iteratively reweighted least squares). The covariance of ``(x0, y0)`` is
``(J^T W J)^-1`` at the optimum (steps are accepted when the Poisson
deviance falls, so the optimum is the maximum-likelihood one), scaled by the reduced chi-squared when it
exceeds 1 (a disk-shaped spot is not exactly Gaussian; its centre is still
unbiased by symmetry, but the misfit must widen the error bars). The
expected positions follow the direct beam fitted first in each pattern
(direct-beam centring per pattern), so descan does not move spots out of
their windows.

Output per spot (``SPOT_FIELDS``): ``x, y, sx, sy, amplitude,
amplitude_std, sigma, redchi, ok``; ``x, y`` in detector pixels (column,
row).
"""

import math

import numpy as np

from hyperspy_perovskite._numba_cache import njit_cached

__all__ = ["SPOT_FIELDS", "fit_spots", "fit_gaussian_window", "find_reference_spots"]

SPOT_FIELDS = (
    "x",
    "y",
    "sx",
    "sy",
    "amplitude",
    "amplitude_std",
    "sigma",
    "redchi",
    "ok",
)
NF = len(SPOT_FIELDS)


@njit_cached(nogil=True)
def _solve(a, b):  # pragma: no cover - compiled
    # Gaussian elimination with partial pivoting on small systems (in place)
    n = b.size
    for k in range(n):
        p = k
        for i in range(k + 1, n):
            if abs(a[i, k]) > abs(a[p, k]):
                p = i
        if a[p, k] == 0.0:
            return False
        if p != k:
            for j in range(n):
                a[k, j], a[p, j] = a[p, j], a[k, j]
            b[k], b[p] = b[p], b[k]
        for i in range(k + 1, n):
            f = a[i, k] / a[k, k]
            for j in range(k, n):
                a[i, j] -= f * a[k, j]
            b[i] -= f * b[k]
    for k in range(n - 1, -1, -1):
        s = b[k]
        for j in range(k + 1, n):
            s -= a[k, j] * b[j]
        b[k] = s / a[k, k]
    return True


@njit_cached(nogil=True)
def _edges(n, origin, c, s, e, de_dc, de_ds):  # pragma: no cover - compiled
    # pixel-integrated Gaussian along one axis: E = Phi(u+) - Phi(u-)
    r2 = np.sqrt(2.0)
    k = 1.0 / np.sqrt(2.0 * np.pi)
    for i in range(n):
        up = (origin + i + 0.5 - c) / s
        um = (origin + i - 0.5 - c) / s
        pp, pm = k * np.exp(-0.5 * up * up), k * np.exp(-0.5 * um * um)
        e[i] = 0.5 * (math.erf(up / r2) - math.erf(um / r2))
        de_dc[i] = -(pp - pm) / s
        de_ds[i] = -(up * pp - um * pm) / s


@njit_cached(nogil=True)
def _normal(win, x0a, y0a, p, jtj, jtr, wx, wy, wr):  # pragma: no cover - compiled
    ny, nx = win.shape
    amp, xc, yc, s, bg = p[0], p[1], p[2], p[3], p[4]
    chi = 0.0
    dev = 0.0
    for i in range(5):
        jtr[i] = 0.0
        for j in range(5):
            jtj[i, j] = 0.0
    ex, dxc, dxs = np.empty(nx), np.empty(nx), np.empty(nx)
    ey, dyc, dys = np.empty(ny), np.empty(ny), np.empty(ny)
    _edges(nx, x0a, xc, s, ex, dxc, dxs)
    _edges(ny, y0a, yc, s, ey, dyc, dys)
    kk = 2.0 * np.pi * s * s
    dk = 4.0 * np.pi * s
    g = np.empty(5)
    for yy in range(ny):
        for xx in range(nx):
            # circular window centred on the last estimate (anti-aliased edge):
            # symmetric about the spot, so a non-Gaussian spot is not biased
            # by a window that sits off its centre
            cw = 1.0
            if wr > 0:
                rw = np.sqrt((x0a + xx - wx) ** 2 + (y0a + yy - wy) ** 2)
                cw = min(max(wr - rw + 0.5, 0.0), 1.0)
                if cw == 0.0:
                    continue
            e = ex[xx] * ey[yy]
            m = bg + amp * kk * e
            w = cw / max(m, 0.5)
            d = win[yy, xx]
            r = d - m
            chi += r * r * w
            mm = max(m, 1e-9)
            dev += cw * (mm - d + (d * np.log(d / mm) if d > 0 else 0.0))
            g[0] = kk * e
            g[1] = amp * kk * dxc[xx] * ey[yy]
            g[2] = amp * kk * ex[xx] * dyc[yy]
            g[3] = amp * (dk * e + kk * (dxs[xx] * ey[yy] + ex[xx] * dys[yy]))
            g[4] = 1.0
            for i in range(5):
                jtr[i] += g[i] * r * w
                for j in range(i, 5):
                    jtj[i, j] += g[i] * g[j] * w
    for i in range(5):
        for j in range(i):
            jtj[i, j] = jtj[j, i]
    return chi, 2.0 * dev


@njit_cached(nogil=True)
def fit_gaussian_window(win, x0a, y0a, sigma0, out):  # pragma: no cover - compiled
    """Fit one window (2D float array whose [0, 0] pixel is at (x0a, y0a))."""
    ny, nx = win.shape
    tot = 0.0
    mn = win[0, 0]
    for yy in range(ny):
        for xx in range(nx):
            mn = min(mn, win[yy, xx])
    sx = 0.0
    sy = 0.0
    mx = mn
    for yy in range(ny):
        for xx in range(nx):
            v = win[yy, xx] - mn
            tot += v
            sx += v * xx
            sy += v * yy
            mx = max(mx, win[yy, xx])
    p = np.empty(5)
    edge = 0.0
    for xx in range(nx):
        edge += win[0, xx] + win[ny - 1, xx]
    for yy in range(1, ny - 1):
        edge += win[yy, 0] + win[yy, nx - 1]
    edge /= 2 * nx + 2 * ny - 4
    if mx - edge < 3.0 * np.sqrt(max(edge, 1.0)):
        # no spot above the Poisson noise of the local background
        for i in range(9):
            out[i] = np.nan
        out[8] = 0.0
        return
    p[0] = max(mx - edge, 1.0)
    p[1] = x0a + (sx / tot if tot > 0 else 0.5 * (nx - 1))
    p[2] = y0a + (sy / tot if tot > 0 else 0.5 * (ny - 1))
    p[3] = sigma0
    p[4] = max(edge, 0.0)
    jtj = np.empty((5, 5))
    jtr = np.empty(5)
    a = np.empty((5, 5))
    b = np.empty(5)
    lam = 1e-3
    wx, wy, wr = p[1], p[2], 0.0
    chi, dev = _normal(win, x0a, y0a, p, jtj, jtr, wx, wy, wr)
    ok = True
    trial = np.empty(5)
    j2 = np.empty((5, 5))
    r2 = np.empty(5)
    half = 0.5 * (min(nx, ny) - 1)
    for outer in range(3):
        if outer > 0:
            # recentre the circular window on the estimate and refit
            wx, wy = p[1], p[2]
            # the circle must stay inside the square window
            off = max(abs(wx - x0a - 0.5 * (nx - 1)), abs(wy - y0a - 0.5 * (ny - 1)))
            wr = half - off
            if wr < 2.0:
                break
            chi, dev = _normal(win, x0a, y0a, p, jtj, jtr, wx, wy, wr)
            lam = 1e-3
        ok = _lm(
            win, x0a, y0a, p, jtj, jtr, j2, r2, a, b, trial, wx, wy, wr, chi, dev, lam
        )
        if not ok:
            break
    chi, dev = _normal(win, x0a, y0a, p, jtj, jtr, wx, wy, wr)
    # degrees of freedom: the pixels inside the window
    npx = 0.0
    for yy in range(ny):
        for xx in range(nx):
            if wr > 0:
                rw = np.sqrt((x0a + xx - wx) ** 2 + (y0a + yy - wy) ** 2)
                npx += min(max(wr - rw + 0.5, 0.0), 1.0)
            else:
                npx += 1.0
    dof = npx - 5
    red = chi / dof
    _finish(p, jtj, a, b, red, ok, x0a, y0a, nx, ny, out)


@njit_cached(nogil=True)
def _lm(
    win, x0a, y0a, p, jtj, jtr, j2, r2, a, b, trial, wx, wy, wr, chi, dev, lam
):  # pragma: no cover
    ny, nx = win.shape
    for _ in range(25):
        for i in range(5):
            b[i] = jtr[i]
            for j in range(5):
                a[i, j] = jtj[i, j]
            a[i, i] *= 1.0 + lam
        if not _solve(a, b):
            return False
        for i in range(5):
            trial[i] = p[i] + b[i]
        if trial[3] < 0.2 or trial[3] > 0.5 * max(nx, ny) or trial[0] <= 0:
            lam *= 10.0
            if lam > 1e8:
                break
            continue
        _, d2 = _normal(win, x0a, y0a, trial, j2, r2, wx, wy, wr)
        if d2 <= dev:
            conv = (dev - d2 < 1e-7 * dev + 1e-10) or (
                abs(b[1]) < 1e-4 and abs(b[2]) < 1e-4 and abs(b[3]) < 1e-4 * p[3]
            )
            p[:] = trial
            dev = d2
            jtj[:, :] = j2
            jtr[:] = r2
            lam = max(lam * 0.1, 1e-7)
            if conv:
                break
        else:
            lam *= 10.0
            if lam > 1e8:
                break
    return True


@njit_cached(nogil=True)
def _finish(
    p, jtj, a, b, red, ok, x0a, y0a, nx, ny, out
):  # pragma: no cover - compiled
    scale = max(red, 1.0)
    cov = np.zeros(5)
    for k in (0, 1, 2):
        for i in range(5):
            b[i] = 0.0
            for j in range(5):
                a[i, j] = jtj[i, j]
        b[k] = 1.0
        if not _solve(a, b):
            ok = False
            break
        cov[k] = b[k] * scale
    out[0] = p[1]
    out[1] = p[2]
    out[2] = np.sqrt(cov[1]) if cov[1] > 0 else np.nan
    out[3] = np.sqrt(cov[2]) if cov[2] > 0 else np.nan
    out[4] = p[0]
    out[5] = np.sqrt(cov[0]) if cov[0] > 0 else np.nan
    out[6] = p[3]
    out[7] = red
    inside = (
        p[1] >= x0a + 1
        and p[1] <= x0a + nx - 2
        and p[2] >= y0a + 1
        and p[2] <= y0a + ny - 2
    )
    out[8] = (
        1.0 if (ok and inside and np.isfinite(out[2]) and np.isfinite(out[3])) else 0.0
    )


@njit_cached(nogil=True)
def _fit_block(block, guess, g0, half, beam_half, sigma0, out):  # pragma: no cover
    n, ky, kx = block.shape
    nspot = g0.shape[0]
    wb = 2 * beam_half + 1
    ws = 2 * half + 1
    winb = np.empty((wb, wb))
    wins = np.empty((ws, ws))
    for i in range(n):
        # direct beam first: every spot is placed relative to it
        xa = int(np.round(guess[0])) - beam_half
        ya = int(np.round(guess[1])) - beam_half
        if xa < 0 or ya < 0 or xa + wb > kx or ya + wb > ky:
            out[i, :, :] = np.nan
            out[i, :, 8] = 0.0
            continue
        for yy in range(wb):
            for xx in range(wb):
                winb[yy, xx] = block[i, ya + yy, xa + xx]
        fit_gaussian_window(winb, xa, ya, sigma0, out[i, 0])
        cx, cy = out[i, 0, 0], out[i, 0, 1]
        if out[i, 0, 8] == 0.0:
            cx, cy = guess[0], guess[1]
        for s in range(nspot):
            ex = cx + g0[s, 0]
            ey = cy + g0[s, 1]
            xa = int(np.round(ex)) - half
            ya = int(np.round(ey)) - half
            if xa < 0 or ya < 0 or xa + ws > kx or ya + ws > ky:
                out[i, s + 1, :] = np.nan
                out[i, s + 1, 8] = 0.0
                continue
            for yy in range(ws):
                for xx in range(ws):
                    wins[yy, xx] = block[i, ya + yy, xa + xx]
            fit_gaussian_window(wins, xa, ya, sigma0, out[i, s + 1])


def fit_spots(
    patterns, beam_guess, g0, half_window=4, beam_half_window=None, sigma=1.5
):
    """Fit the direct beam and the spots ``g0`` in every pattern.

    Parameters
    ----------
    patterns : numpy.ndarray, shape (..., ky, kx)
        Counts (any real or integer dtype).
    beam_guess : (float, float)
        Expected direct-beam position (x, y) in pixels.
    g0 : array, shape (n, 2)
        Expected spot offsets (x, y) in pixels from the direct beam.
    half_window, beam_half_window : int
        Half sizes of the fitting windows (pixels); the beam window defaults
        to ``half_window + 2``.
    sigma : float
        Starting Gaussian width (pixels).

    Returns
    -------
    numpy.ndarray, shape (..., n + 1, 9)
        Row 0 is the direct beam; fields :data:`SPOT_FIELDS`.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.diffraction.peaks import fit_spots
    >>> yy, xx = np.mgrid[:32, :32]
    >>> img = 2 + 400 * np.exp(-((xx - 15.3) ** 2 + (yy - 16.6) ** 2) / 4.5)
    >>> img += 200 * np.exp(-((xx - 27.7) ** 2 + (yy - 16.4) ** 2) / 4.5)
    >>> r = fit_spots(img[None], (15, 16), np.array([[12.0, 0.0]]))
    >>> np.round(r[0, :, :2], 2).tolist()
    [[15.3, 16.6], [27.7, 16.4]]
    """
    patterns = np.asarray(patterns)
    lead = patterns.shape[:-2]
    flat = patterns.reshape((-1,) + patterns.shape[-2:])
    g0 = np.ascontiguousarray(g0, dtype=float).reshape(-1, 2)
    out = np.empty((flat.shape[0], g0.shape[0] + 1, NF))
    bh = int(half_window) + 2 if beam_half_window is None else int(beam_half_window)
    _fit_block(
        flat, np.asarray(beam_guess, float), g0, int(half_window), bh, float(sigma), out
    )
    return out.reshape(lead + out.shape[1:])


def find_reference_spots(
    mean_pattern, beam, n_patterns, half_window=4, n_sigma=6.0, min_radius=None
):
    """Spots of a mean pattern (the reference region's), strongest first.

    A spot is a local maximum of the Gaussian-smoothed excess over the
    azimuthal median at its radius, more than ``n_sigma`` Poisson standard
    deviations of the mean of ``n_patterns`` patterns, away from the direct
    beam and far enough from the edge for its fitting window.

    Parameters
    ----------
    mean_pattern : numpy.ndarray, shape (ky, kx)
    beam : (float, float)
        Direct-beam position (x, y) in pixels.
    n_patterns : int
        Patterns averaged in ``mean_pattern`` (sets the noise level).
    half_window : int
    n_sigma : float
    min_radius : float, optional
        Default ``2 * half_window + 1`` pixels from the beam.

    Returns
    -------
    offsets : numpy.ndarray, shape (n, 2)
        (x, y) offsets from the beam in pixels.
    significance : numpy.ndarray, shape (n,)

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.diffraction.peaks import find_reference_spots
    >>> yy, xx = np.mgrid[:64, :64]
    >>> m = 1 + 50 * np.exp(-((xx - 32) ** 2 + (yy - 32) ** 2) / 4)
    >>> m = m + 5 * np.exp(-((xx - 44) ** 2 + (yy - 32) ** 2) / 4)
    >>> off, sig = find_reference_spots(m, (32, 32), 100)
    >>> off.tolist()
    [[12.0, 0.0]]
    """
    from scipy import ndimage

    m = np.asarray(mean_pattern, float)
    ky, kx = m.shape
    yy, xx = np.indices(m.shape)
    r = np.hypot(xx - beam[0], yy - beam[1])
    ri = np.round(r).astype(int)
    med = np.array(
        [np.median(m[ri == k]) if np.any(ri == k) else 0.0 for k in range(ri.max() + 1)]
    )
    excess = ndimage.gaussian_filter(m - med[ri], 1.0)
    # the smoothed mean of ~ 4 pi pixels: its noise is sqrt(bg / (4 pi n))
    noise = np.sqrt(np.maximum(med[ri], 1e-3) / (4 * np.pi * max(int(n_patterns), 1)))
    z = excess / noise
    peak = (excess == ndimage.maximum_filter(excess, size=2 * half_window + 1)) & (
        z > n_sigma
    )
    rmin = 2 * half_window + 1 if min_radius is None else min_radius
    edge = half_window + 1
    peak &= (
        (r > rmin) & (xx >= edge) & (xx < kx - edge) & (yy >= edge) & (yy < ky - edge)
    )
    ys, xs = np.nonzero(peak)
    order = np.argsort(-z[ys, xs])
    kept = []
    for i in order:  # equal neighbours of a plateau count once
        if all(np.hypot(xs[i] - xs[j], ys[i] - ys[j]) > half_window for j in kept):
            kept.append(i)
    kept = np.array(kept, int)
    off = np.column_stack([xs[kept] - float(beam[0]), ys[kept] - float(beam[1])])
    return np.round(off, 6).reshape(-1, 2), z[ys, xs][kept]
