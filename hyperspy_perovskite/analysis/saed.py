"""Azimuthal-profile algorithms for SAED series (numpy, no HyperSpy objects).

An azimuthal profile ``P(g)`` (intensity summed over azimuth in a radial bin
at reciprocal radius ``g``) of a polycrystalline pattern is modelled as a
linear combination of

* one narrow ring per {hkl} family, ``g exp(-(g - g_hkl)^2 / (2 w^2))``
  (the factor ``g`` is the ring circumference in the bin),
* the amorphous halo, the same shape with a broad width at ``g_halo``,
* a smooth background ``g (b_-2 / g^2 + b_-1 / g + b0 + b1 g + ...)``.

With the positions and widths fixed, every coefficient is linear, so all
frames are decomposed at once by one matrix product with the pseudo-inverse
of the design matrix (works on numpy and dask arrays alike). The integrated
intensity of a term is its coefficient times the sum of its column: the
counts in that ring over the profile's range.
"""

import numpy as np

__all__ = [
    "design_matrix",
    "decompose_profiles",
    "decompose_variance",
    "estimate_ring_width",
    "refine_widths",
    "find_ring_peaks",
]


def design_matrix(
    g, ring_g, ring_width, halo_g=None, halo_width=None, background_order=3
):
    """Columns of the profile model (see module docstring).

    Parameters
    ----------
    g : array-like, shape (m,)
        Bin centres (1/A).
    ring_g : array-like, shape (r,)
        Ring positions (1/A).
    ring_width : float
        Gaussian standard deviation of the rings (1/A).
    halo_g, halo_width : float or None
        Halo position and width (1/A); no halo column when None.
    background_order : int
        Polynomial order of the background (>= 0).

    Returns
    -------
    numpy.ndarray, shape (m, r + [1] + background_order + 3)

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.saed import design_matrix
    >>> design_matrix(np.linspace(0.1, 0.5, 50), [0.2, 0.3], 0.01, 0.3, 0.04).shape
    (50, 9)
    """
    g = np.asarray(g, dtype=float)
    if ring_width <= 0 or (
        halo_g is not None and (halo_width is None or halo_width <= 0)
    ):
        raise ValueError("ring_width and halo_width must be positive (1/A).")
    if int(background_order) < 0:
        raise ValueError(f"background_order must be >= 0, got {background_order}.")
    cols = [
        g * np.exp(-0.5 * ((g - r) / ring_width) ** 2) for r in np.atleast_1d(ring_g)
    ]
    if halo_g is not None:
        cols.append(g * np.exp(-0.5 * ((g - halo_g) / halo_width) ** 2))
    # background per pixel: b_-2 / g^2 + b_-1 / g + polynomial in g (the
    # inverse powers follow the decaying diffuse/direct-beam tail)
    gn = (g - g.mean()) / max(np.ptp(g), 1e-12)
    g0 = g.min() if g.min() > 0 else max(g[g > 0].min(), 1e-12)
    cols.extend(g * (g0 / np.maximum(g, g0)) ** j for j in (2, 1))
    cols.extend(g * gn**j for j in range(int(background_order) + 1))
    return np.stack(cols, axis=1)


def decompose_profiles(profiles, design, n_terms):
    """Integrated intensity of the first ``n_terms`` columns in every profile.

    Parameters
    ----------
    profiles : numpy.ndarray or dask.array.Array, shape (..., m)
    design : numpy.ndarray, shape (m, c)
    n_terms : int
        Number of leading columns (rings, halo) to report.

    Returns
    -------
    array of shape (..., n_terms), numpy or dask like ``profiles``.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.saed import design_matrix, decompose_profiles
    >>> g = np.linspace(0.1, 0.5, 200)
    >>> D = design_matrix(g, [0.2, 0.3], 0.01, background_order=1)
    >>> prof = D @ np.array([3.0, 1.0, 0.2, 0.1, 0.5, 0.1])
    >>> (decompose_profiles(prof, D, 2) / D[:, :2].sum(0)).round(6)
    array([3., 1.])
    """
    return profiles @ _weights(design, n_terms).T


def _weights(design, n_terms):
    pinv = np.linalg.pinv(design)[:n_terms]  # (n_terms, m)
    return pinv * design[:, :n_terms].sum(axis=0)[:, None]


def decompose_variance(profile_variance, design, n_terms):
    """Variance of :func:`decompose_profiles`' results for independent bins.

    ``var(I_j) = sum_b W_jb^2 var(P_b)`` with ``W`` the linear map of
    :func:`decompose_profiles`. For counted electrons (Poisson) the variance
    of a bin is its expected count, estimated by the measured profile.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.saed import design_matrix, decompose_variance
    >>> g = np.linspace(0.1, 0.5, 100)
    >>> D = design_matrix(g, [0.3], 0.01, background_order=0)
    >>> decompose_variance(np.ones(100), D, 1).shape
    (1,)
    """
    W = _weights(design, n_terms)
    return profile_variance @ (W**2).T


def estimate_ring_width(g, profile, g_ring, half_window=None):
    """Standard deviation (1/A) of the ring at ``g_ring`` in one profile.

    Least-squares fit of ``a g exp(-(g - g0)^2 / (2 w^2)) + b0 + b1 g``
    within ``half_window`` (default 6 bins or 0.03 1/A, whichever is wider)
    of ``g_ring``.

    Raises
    ------
    ValueError
        If the window holds fewer than 6 bins or the fit fails.
    """
    from scipy.optimize import curve_fit

    g = np.asarray(g, float)
    p = np.asarray(profile, float)
    step = g[1] - g[0]
    hw = max(6 * step, 0.03) if half_window is None else half_window
    sel = np.abs(g - g_ring) <= hw
    if sel.sum() < 6:
        raise ValueError("Too few profile bins around the ring to estimate its width.")
    gs, ps = g[sel], p[sel]

    def f(x, a, g0, w, b0, b1):
        return a * x * np.exp(-0.5 * ((x - g0) / w) ** 2) + b0 + b1 * x

    a0 = max(ps.max() - ps.min(), 1e-12) / g_ring
    try:
        popt, _ = curve_fit(
            f,
            gs,
            ps,
            p0=[a0, g_ring, 1.5 * step, ps.min(), 0.0],
            bounds=(
                [0, g_ring - hw, step / 10, -np.inf, -np.inf],
                [np.inf, g_ring + hw, hw, np.inf, np.inf],
            ),
        )
    except RuntimeError as err:
        raise ValueError(
            f"Ring width estimation failed at g = {g_ring:.4f} 1/A: {err}"
        ) from None
    return float(abs(popt[2]))


def refine_widths(
    g, profiles, ring_g, ring_width, halo_g, halo_width, background_order=3
):
    """Ring and halo widths (1/A) that best explain ``profiles`` (variable projection).

    The amplitudes are linear and eliminated by least squares; the two
    widths minimise the summed residual of all given profiles (e.g. the
    mean of the first and of the last frames), Nelder-Mead on their
    logarithms from the given starting values.

    Parameters
    ----------
    g : array-like, shape (m,)
    profiles : array-like, shape (p, m)
    ring_g : array-like
    ring_width, halo_width : float
        Starting values; ``halo_g`` None fits the ring width only. The ring
        width stays within a factor 3 of its start, the halo width between
        half the starting ring width and a quarter of the range of ``g``.

    Returns
    -------
    (float, float or None)

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.saed import design_matrix, refine_widths
    >>> g = np.linspace(0.1, 0.6, 300)
    >>> D = design_matrix(g, [0.2, 0.35], 0.012, 0.3, 0.05, 1)
    >>> prof = D @ np.array([2.0, 1.0, 0.7, 0.0, 0.0, 0.3, 0.0])
    >>> [round(w, 4) for w in refine_widths(g, [prof], [0.2, 0.35], 0.01, 0.3, 0.04, 1)]
    [0.012, 0.05]
    """
    from scipy.optimize import minimize

    g = np.asarray(g, float)
    Y = np.atleast_2d(np.asarray(profiles, float)).T  # (m, p)
    scale = max(np.abs(Y).max(), 1e-300)

    def rss(logw):
        wr = float(np.exp(logw[0]))
        wh = float(np.exp(logw[1])) if halo_g is not None else None
        D = design_matrix(g, ring_g, wr, halo_g, wh, background_order)
        coef, *_ = np.linalg.lstsq(D, Y / scale, rcond=None)
        return float(np.sum((D @ coef - Y / scale) ** 2))

    # bounds: ring width within x3 of its start; halo between 1.5 ring
    # widths and a quarter of the profile range (wider is background)
    rb = (np.log(ring_width / 3), np.log(ring_width * 3))
    hb = (np.log(2.5 * ring_width), np.log(max(np.ptp(g) / 4, 3 * ring_width)))
    x0 = [np.log(ring_width), np.log(halo_width if halo_g is not None else 1.0)]
    opts = {"xatol": 1e-4, "fatol": 1e-12}
    if halo_g is None:
        res = minimize(
            lambda x: rss([x[0], 0.0]),
            x0[:1],
            method="Nelder-Mead",
            bounds=[rb],
            options=opts,
        )
        return float(np.exp(res.x[0])), None
    # the halo width is poorly conditioned from a far start: grid first
    grid = np.linspace(hb[0], hb[1], 24)
    x0[1] = float(grid[np.argmin([rss([x0[0], h]) for h in grid])])
    res = minimize(rss, x0, method="Nelder-Mead", bounds=[rb, hb], options=opts)
    return float(np.exp(res.x[0])), float(np.exp(res.x[1]))


def find_ring_peaks(g, profile, noise=None, smooth=None):
    """Positions (1/A) of rings in a profile, strongest first.

    Rings are maxima of the curvature ``-d2P/dg2`` (second derivative of a
    Gaussian-smoothed profile), so that a ring on the flank of a stronger one
    or of the halo (a shoulder, not a maximum of ``P``) is found too. A ring
    is kept when its curvature prominence exceeds 5 standard deviations of
    the filtered noise.

    Parameters
    ----------
    g : array-like
    profile : array-like
    noise : float, optional
        Standard deviation of the profile's noise; default a robust
        estimate from the curvature itself.
    smooth : float, optional
        Gaussian smoothing (bins) before the second derivative; default 1.

    Returns
    -------
    g_peaks, prominences : numpy.ndarray
        Peak positions refined between bins (parabola through the curvature).

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.saed import find_ring_peaks
    >>> g = np.linspace(0.1, 0.5, 400)
    >>> p = np.exp(-0.5 * ((g - 0.3) / 0.01) ** 2) + 0.3 * np.exp(-0.5 * ((g - 0.33) / 0.01) ** 2)
    >>> np.round(find_ring_peaks(g, p, noise=1e-4)[0], 2)  # the shoulder at 0.33 too
    array([0.3 , 0.33])
    """
    from scipy.ndimage import gaussian_filter1d
    from scipy.signal import find_peaks

    p = np.asarray(profile, float)
    if smooth is None:  # oversampled profiles: smooth over ~ a tenth of a ring
        smooth = 1.0
    c = -gaussian_filter1d(p, smooth, order=2, mode="nearest")
    c[:2] = c[-2:] = 0.0
    if noise is None:
        d = c[2:-2]
        thr = 5 * 1.4826 * np.median(np.abs(d - np.median(d)))
    else:
        imp = np.zeros(8 * int(np.ceil(smooth)) + 9)
        imp[imp.size // 2] = 1.0
        gain = np.linalg.norm(gaussian_filter1d(imp, smooth, order=2, mode="constant"))
        thr = 5 * gain * float(noise)
    thr = max(thr, 1e-9 * np.abs(c).max())
    idx, props = find_peaks(c, prominence=thr)
    order = np.argsort(props["prominences"])[::-1]
    idx = idx[order]
    # sub-bin position: vertex of the parabola through the three bins
    g = np.asarray(g, float)
    step = g[1] - g[0]
    y0, y1, y2 = c[idx - 1], c[idx], c[idx + 1]
    den = y0 - 2 * y1 + y2
    shift = np.where(den != 0, 0.5 * (y0 - y2) / np.where(den != 0, den, 1.0), 0.0)
    return g[idx] + np.clip(shift, -0.5, 0.5) * step, props["prominences"][order]
