"""Finding the layer stack in maps: direction, layering and interfaces.

Arrays only (used by
:meth:`~hyperspy_perovskite.signals.eds_biased.EDSTEMBiasedSpectrum.find_device_geometry`).
The direction is the one along which the band profiles of the maps vary most
against their noise (structure tensor first guess, then the noise-normalised
profile contrast); the interfaces are the most significant steps of the
profiles along it, never the line ends.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage, signal

__all__ = [
    "find_stack_direction",
    "profile_contrast",
    "refine_stack_direction",
    "layering_contrast",
    "find_interfaces",
]


def find_stack_direction(maps):
    """Dominant direction across which the maps change (the stack normal).

    The largest-eigenvalue eigenvector of the structure tensor summed over
    the (normalised, smoothed) maps: layers are stripes, so the intensity
    gradients point along the stack.

    Parameters
    ----------
    maps : numpy.ndarray
        ``(n, ny, nx)`` element maps or an HAADF image ``(ny, nx)``.

    Returns
    -------
    direction : numpy.ndarray
        Unit ``(ux, uy)`` in pixel coordinates, oriented so that its larger
        component is positive.
    anisotropy : float
        ``(l1 - l2) / (l1 + l2)`` of the tensor: near 0 means no layered
        structure was found.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.stack_detection import find_stack_direction
    >>> y, x = np.mgrid[0:32, 0:32]
    >>> u, a = find_stack_direction((y > 16).astype(float))
    >>> np.round(np.abs(u), 3).tolist(), a > 0.9
    ([0.0, 1.0], True)
    """
    maps = np.asarray(maps, dtype=float)
    if maps.ndim == 2:
        maps = maps[None]
    jxx = jyy = jxy = 0.0
    for m in maps:
        rng = np.ptp(m)
        if not rng > 0:
            continue
        m = ndimage.gaussian_filter((m - m.min()) / rng, 1.0)
        gy, gx = np.gradient(m)
        jxx = jxx + np.sum(gx * gx)
        jyy = jyy + np.sum(gy * gy)
        jxy = jxy + np.sum(gx * gy)
    tensor = np.array([[jxx, jxy], [jxy, jyy]], dtype=float)
    if not np.trace(tensor) > 0:
        raise ValueError(
            "The maps are uniform: no layer structure to find the stack "
            "direction from. Set the direction by hand (two points)."
        )
    w, v = np.linalg.eigh(tensor)
    u = v[:, 1]
    if u[np.argmax(np.abs(u))] < 0:
        u = -u
    return u, float((w[1] - w[0]) / (w[1] + w[0]))


def profile_contrast(maps, x, y, direction, variances, bin_size=None):
    """Excess variance of the maps' profiles along ``direction``, in noise units.

    The pixels are binned by their distance along ``direction`` (bins of
    ``bin_size``, default the smaller pixel step); for each map the
    chi-squared of the bin means about their mean, with the noise variance of
    each mean, minus its expectation for pure noise (the degrees of freedom).
    About 0 (standard deviation ``sqrt(2 dof)``) for a map that does not
    change along ``direction``; large for layers crossed by it.

    Parameters
    ----------
    maps, variances : numpy.ndarray
        ``(n, ny, nx)`` maps and the noise variance of each pixel.
    x, y : numpy.ndarray
        ``(ny, nx)`` pixel-centre coordinates (nm).
    direction : sequence of 2 float
        ``(ux, uy)``.
    bin_size : float, optional

    Returns
    -------
    float
        Summed over the maps.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.stack_detection import profile_contrast
    >>> y, x = np.mgrid[0:32, 0:32].astype(float)
    >>> m = np.where(x < 16, 100.0, 400.0)[None]
    >>> across = profile_contrast(m, x, y, (1, 0), m)
    >>> along = profile_contrast(m, x, y, (0, 1), m)
    >>> across > 100 > abs(along)
    True
    """
    u = np.asarray(direction, dtype=float)
    u = u / np.hypot(*u)
    if bin_size is None:
        steps = [np.abs(np.diff(x, axis=1)).max(), np.abs(np.diff(y, axis=0)).max()]
        bin_size = float(min(s for s in steps if s > 0))
    s = (x * u[0] + y * u[1]).ravel()
    idx = np.floor((s - s.min()) / bin_size).astype(int)
    n = np.bincount(idx)
    ok = n > 0
    total = 0.0
    for m, v in zip(maps, variances, strict=True):
        sums = np.bincount(idx, weights=m.ravel())[ok]
        var = np.bincount(idx, weights=v.ravel())[ok] / n[ok] ** 2
        mean = sums / n[ok]
        w = 1.0 / np.maximum(var, 1e-300)
        mbar = np.sum(w * mean) / np.sum(w)
        total += np.sum(w * (mean - mbar) ** 2) - (mean.size - 1)
    return float(total)


def refine_stack_direction(maps, x, y, variances):
    """Stack direction that maximises :func:`profile_contrast`.

    The structure tensor (:func:`find_stack_direction`) gives the start; the
    angle is then searched within +-45 degrees in 1 degree steps and refined
    to 0.1 degree. Robust to Poisson noise, which biases the structure
    tensor of sparse maps.

    Parameters
    ----------
    maps, variances : numpy.ndarray
        ``(n, ny, nx)`` maps and their noise variance.
    x, y : numpy.ndarray
        ``(ny, nx)`` pixel-centre coordinates (nm).

    Returns
    -------
    numpy.ndarray
        Unit ``(ux, uy)`` in calibrated coordinates, larger component positive.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.stack_detection import refine_stack_direction
    >>> y, x = np.mgrid[0:40, 0:40].astype(float)
    >>> m = np.where(x + 0.3 * y < 20, 50.0, 200.0)[None]
    >>> u = refine_stack_direction(m, x, y, m)
    >>> bool(abs(np.degrees(np.arctan2(u[1], u[0])) - 16.7) < 1.5)  # atan(0.3)
    True
    """
    maps = np.asarray(maps, dtype=float)
    variances = np.asarray(variances, dtype=float)
    sx = float(np.abs(np.diff(x, axis=1)).max()) if x.shape[1] > 1 else 1.0
    sy = float(np.abs(np.diff(y, axis=0)).max()) if y.shape[0] > 1 else 1.0
    try:
        u0, _ = find_stack_direction(maps)
        u0 = np.array([u0[0] * sx, u0[1] * sy])
        theta0 = float(np.arctan2(u0[1], u0[0]))
    except ValueError:
        theta0 = 0.0

    def score(t):
        return profile_contrast(maps, x, y, (np.cos(t), np.sin(t)), variances)

    best = theta0
    for step, half in (
        (np.radians(1.0), np.radians(45.0)),
        (np.radians(0.1), np.radians(2.0)),
    ):
        grid = best + np.arange(-half, half + step / 2, step)
        sc = np.array([score(t) for t in grid])
        # on narrow maps the peak is a plateau: the centroid of the angles
        # whose contrast is within noise of the maximum (a non-central
        # chi-squared of mean dof + lambda has a variance 2 (dof + 2 lambda))
        top = sc.max()
        dof = len(maps) * max(x.shape + y.shape)
        tol = np.sqrt(2.0 * (dof + 2.0 * max(top, 0.0)))
        if score(theta0) >= top - tol:  # the structure tensor is as good
            best = theta0
            break
        best = float(np.mean(grid[sc >= top - tol]))
    u = np.array([np.cos(best), np.sin(best)])
    if u[np.argmax(np.abs(u))] < 0:
        u = -u
    return u


def layering_contrast(maps, x, y, direction, variances):
    """How layered the maps are along ``direction``: 0 (not) to 1 (stripes).

    ``(C_along - C_across) / C_along``: ``C_along`` is the
    :func:`profile_contrast` along the direction; ``C_across`` that of the
    residual maps (each pixel minus the mean of its bin along the direction)
    perpendicular to it, i.e. the structure the layers do not explain that
    varies coherently across the stack (layers at another angle, a second
    stack). Taking the residuals, not the maps, makes it insensitive to a
    direction off by a fraction of a degree (the uncertainty on a narrow
    map), which would otherwise leak the layers' own contrast across. 0 when
    the contrast along the direction is not significant (below 5 standard
    deviations of pure noise).

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.stack_detection import layering_contrast
    >>> y, x = np.mgrid[0:32, 0:32].astype(float)
    >>> m = np.where(x < 16, 100.0, 400.0)[None]
    >>> round(layering_contrast(m, x, y, (1, 0), m), 2)
    1.0
    >>> rng = np.random.default_rng(0)
    >>> flat = rng.poisson(50.0, (1, 32, 32)).astype(float)
    >>> layering_contrast(flat, x, y, (1, 0), np.full_like(flat, 50.0))
    0.0
    """
    u = np.asarray(direction, dtype=float)
    u = u / np.hypot(*u)
    along = profile_contrast(maps, x, y, u, variances)
    dof = len(maps) * max(x.shape + y.shape)
    # pure noise: chi2 - dof has a standard deviation of sqrt(2 dof)
    if not along > 5.0 * np.sqrt(2.0 * dof):
        return 0.0
    steps = [np.abs(np.diff(x, axis=1)).max(), np.abs(np.diff(y, axis=0)).max()]
    bin_size = float(min(s for s in steps if s > 0))
    s = x * u[0] + y * u[1]
    idx = np.floor((s - s.min()) / bin_size).astype(int)
    n = np.maximum(np.bincount(idx.ravel()), 1)
    resid = np.stack(
        [m - (np.bincount(idx.ravel(), weights=m.ravel()) / n)[idx] for m in maps]
    )
    across = profile_contrast(resid, x, y, (-u[1], u[0]), variances)
    return float(np.clip((along - max(across, 0.0)) / along, 0.0, 1.0))


def _step_significance(p, v, k, half):
    """Step of profile rows ``p`` at bin ``k`` over its noise (combined rows)."""
    n = p.shape[-1]
    lo, hi = max(0, k - half), min(n, k + half + 1)
    left, right = slice(lo, k), slice(k + 1, hi)
    if k - lo < 1 or hi - k - 1 < 1:
        return 0.0
    z2 = 0.0
    for row, var in zip(p, v, strict=True):
        step = row[right].mean() - row[left].mean()
        err = np.sqrt(
            var[right].sum() / (hi - k - 1) ** 2 + var[left].sum() / (k - lo) ** 2
        )
        z2 += (step / err) ** 2 if err > 0 else 0.0
    return float(np.sqrt(z2))


def find_interfaces(
    profiles,
    positions,
    n_interfaces,
    smooth=1.0,
    variance=None,
    return_significance=False,
    min_significance=3.0,
):
    """Interface positions from profiles across the stack.

    Each profile is normalised to its range; the summed absolute gradient
    peaks where the composition (or HAADF contrast) changes. The bins at the
    line ends are never interfaces. With the profiles' ``variance``, the
    candidate peaks are ranked by the significance of the step they mark
    (means over 3 bins on each side, all profiles combined) and kept at least
    two bins apart; without it, by the gradient height. Each is refined to
    sub-bin precision by a parabola through the peak and its neighbours.

    Parameters
    ----------
    profiles : numpy.ndarray
        ``(n, nbins)`` or ``(nbins,)`` profiles along the stack.
    positions : numpy.ndarray
        ``(nbins,)`` bin centres (nm), uniformly spaced.
    n_interfaces : int
        How many interfaces to return.
    smooth : float
        Gaussian smoothing (in bins) before differentiation.
    variance : numpy.ndarray, optional
        Noise variance of ``profiles`` (same shape).
    return_significance : bool
        Also return the step significance (standard deviations; NaN
        without ``variance``).
    min_significance : float
        With ``variance``: steps below it (standard deviations) are noise.

    Returns
    -------
    numpy.ndarray
        Sorted interface positions (nm) (and their significance).

    Raises
    ------
    ValueError
        If fewer than ``n_interfaces`` changes are found.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.stack_detection import find_interfaces
    >>> pos = np.arange(100) + 0.5
    >>> prof = np.where(pos < 30.0, 1.0, 0.0) + np.where(pos > 70.0, 2.0, 0.0)
    >>> find_interfaces(prof, pos, 2).round(1).tolist()
    [30.0, 70.0]
    """
    p = np.atleast_2d(np.asarray(profiles, dtype=float))
    positions = np.asarray(positions, dtype=float)
    if p.shape[-1] != positions.size:
        raise ValueError("profiles and positions have different lengths.")
    n_interfaces = int(n_interfaces)
    if n_interfaces < 1:
        raise ValueError("n_interfaces must be at least 1.")
    g = np.zeros(positions.size)
    for row in p:
        rng = np.nanmax(row) - np.nanmin(row)
        if not rng > 0:
            continue
        r = (row - np.nanmin(row)) / rng
        if smooth:
            r = ndimage.gaussian_filter1d(r, smooth, mode="nearest")
        g += np.abs(np.gradient(r))
    peaks, props = signal.find_peaks(
        g,
        height=0.0 if variance is not None else (0.05 * g.max() if g.max() > 0 else 1),
    )
    peaks = peaks[(peaks > 0) & (peaks < g.size - 1)]  # never the line ends
    if variance is not None:
        v = np.atleast_2d(np.asarray(variance, dtype=float))
        z = np.array([_step_significance(p, v, k, 3) for k in peaks])
        keep = z >= min_significance  # a step, not noise
        peaks, z = peaks[keep], z[keep]
    else:
        z = g[peaks]
    chosen = []
    for k in peaks[np.argsort(z)[::-1]]:
        if all(abs(k - c) >= 2 for c in chosen):
            chosen.append(k)
        if len(chosen) == n_interfaces:
            break
    if len(chosen) < n_interfaces:
        raise ValueError(
            f"Found {len(chosen)} composition changes along the stack but "
            f"{n_interfaces} interfaces were asked for: set them by hand, use "
            "other elements, or a wider band."
        )
    chosen = np.sort(np.asarray(chosen))
    step = positions[1] - positions[0] if positions.size > 1 else 1.0
    out = []
    for k in chosen:
        a, b, c = g[k - 1], g[k], g[k + 1]
        den = a - 2 * b + c
        shift = float(np.clip(0.5 * (a - c) / den, -0.5, 0.5)) if den != 0 else 0.0
        out.append(positions[k] + shift * step)
    out = np.asarray(out)
    if not return_significance:
        return out
    if variance is None:
        return out, np.full(out.size, np.nan)
    return out, np.array([_step_significance(p, v, k, 3) for k in chosen])
