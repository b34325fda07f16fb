"""Vectorised starting values for the migration-profile components.

Each estimator takes the profile positions ``x`` (1D, nm, increasing) and the
data ``y`` of shape ``(..., n)`` (numpy or dask; the leading axes are the
navigation axes of a map) and returns the parameter estimates of every
profile at once, as numpy arrays of shape ``(...)``. They use integrals of the
profile rather than single points, so they are robust to Poisson noise; the
fit refines them.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from hyperspy_perovskite.analysis.drift_diffusion import (
    _ierfc,
    _positive,
    transient_profile_closed_layer,
)

__all__ = [
    "estimate_closed_layer",
    "estimate_interdiffusion",
    "estimate_accumulation",
    "estimate_transient",
]


def _compute(*arrays):
    try:
        import dask.array as da

        if any(isinstance(a, da.Array) for a in arrays):
            return tuple(np.asarray(a) for a in da.compute(*arrays))
    except ImportError:  # pragma: no cover
        pass
    return tuple(np.asarray(a) for a in arrays)


def _check(x, y):
    x = np.asarray(x, dtype=float)
    if x.ndim != 1 or x.size < 4:
        raise ValueError(
            "The profile needs at least 4 points in the fitted range; widen the "
            "signal range."
        )
    if y.shape[-1] != x.size:
        raise ValueError(
            f"Profile data of length {y.shape[-1]} does not match {x.size} positions."
        )
    if np.any(np.diff(x) <= 0):
        raise ValueError("Positions must increase along the profile.")
    return x


def _weights(x):
    """Trapezoid weights (nm) of each point."""
    w = np.empty_like(x)
    w[1:-1] = 0.5 * (x[2:] - x[:-2])
    w[0] = 0.5 * (x[1] - x[0])
    w[-1] = 0.5 * (x[-1] - x[-2])
    return w


def estimate_interdiffusion(x, y):
    """Estimate ``c_left, c_right, centre, length`` of an erfc step.

    ``c_left``/``c_right`` are the means of the outer 10 % on each side; the
    centre is where the area under the normalised step ``p`` equals the
    distance from the start (exact for a symmetric step); the length is
    ``sqrt(pi) int |p - H(x - centre)| dx`` (exact for the erfc profile).

    Returns
    -------
    ndarray
        Shape ``(..., 4)``.

    Examples
    --------
    >>> from scipy.special import erfc
    >>> from hyperspy_perovskite.analysis.migration_estimates import (
    ...     estimate_interdiffusion)
    >>> x = np.linspace(-50, 50, 201)
    >>> y = 0.2 + 0.4 * erfc((x - 3.0) / 6.0)
    >>> np.round(estimate_interdiffusion(x, y), 1)
    array([1. , 0.2, 3. , 6. ])
    """
    x = _check(x, y)
    n = x.size
    k = max(2, n // 10)
    cl = y[..., :k].mean(axis=-1)
    cr = y[..., -k:].mean(axis=-1)
    cl, cr = _compute(cl, cr)
    diff = cl - cr
    tiny = np.where(np.abs(diff) > 0, diff, 1.0)
    p = (y - cr[..., None]) / tiny[..., None]
    p = np.clip(p, 0.0, 1.0)
    w = _weights(x)
    area = (p * w).sum(axis=-1)
    (area,) = _compute(area)
    centre = np.clip(x[0] + area, x[0], x[-1])
    H = (x > centre[..., None]).astype(float)
    dev = (np.abs(p - (1.0 - H)) * w).sum(axis=-1)
    (dev,) = _compute(dev)
    length = np.clip(np.sqrt(np.pi) * dev, np.min(np.diff(x)), 0.5 * (x[-1] - x[0]))
    return np.stack([cl, cr, centre, length], axis=-1)


def _layer_side(x, y, wall, side):
    if side not in (1, -1):
        raise ValueError(f"side must be +1 or -1, got {side!r}.")
    z = side * (x - np.asarray(wall, dtype=float)[..., None])
    return z


def estimate_accumulation(x, y, wall, side=1):
    """Estimate ``A`` and ``decay_length`` of ``A exp(-z / lambda)``.

    ``z = side (x - wall)``; the bulk level is the mean of the farthest 20 %
    of the layer points, ``A`` the excess of the two points nearest the wall,
    ``lambda = int (y - bulk) dz / A``.

    Parameters
    ----------
    wall : float or array of shape ``(...)``
        Electrode position(s) in nm.
    side : {1, -1}
        The layer lies at ``x > wall`` (1) or ``x < wall`` (-1).

    Returns
    -------
    ndarray
        Shape ``(..., 3)``: ``A``, ``decay_length``, bulk level.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.migration_estimates import (
    ...     estimate_accumulation)
    >>> x = np.linspace(0, 200, 401)
    >>> y = 1.0 + 3.0 * np.exp(-x / 12.0)
    >>> np.round(estimate_accumulation(x, y, 0.0), 1)
    array([ 2.9, 12.3,  1. ])
    """
    x = _check(x, y)
    wall = np.asarray(wall, dtype=float)
    lead = np.broadcast_shapes(wall.shape, y.shape[:-1])
    if y.shape[:-1] != lead:
        y = y.reshape((1,) * (len(lead) - (y.ndim - 1)) + y.shape)
        y = np.broadcast_to(y, lead + (x.size,))
    z = _layer_side(x, y, wall, side)  # (..., n)
    zb = np.broadcast_to(z, y.shape)
    inside = zb >= 0
    zmax = np.max(np.where(inside, zb, -np.inf), axis=-1)
    if np.any(~np.isfinite(zmax)):
        raise ValueError(
            "No profile point lies on the layer side of the wall; check wall and side."
        )
    far = inside & (zb >= 0.8 * zmax[..., None])
    order = np.argsort(np.where(inside, zb, np.inf), axis=-1)
    near_idx = order[..., :2]
    bulk = (y * far).sum(axis=-1) / far.sum(axis=-1)
    yn = np.take_along_axis(np.asarray(_compute(y)[0]), near_idx, axis=-1).mean(-1)
    (bulk,) = _compute(bulk)
    A = yn - bulk
    w = _weights(x)
    exc = ((y - bulk[..., None]) * inside * w).sum(axis=-1)
    (exc,) = _compute(exc)
    safeA = np.where(np.abs(A) > 0, A, 1.0)
    dz = np.min(np.diff(x))
    lam = np.clip(np.where(np.abs(A) > 0, exc / safeA, dz), dz, np.maximum(zmax, dz))
    return np.stack([A, lam, bulk], axis=-1)


def _wall_value(r):
    """``c(0) / c_bulk`` of the transient as a function of ``r = d / s``."""
    return special.erfc(-r) + 2.0 * r * _ierfc(-r)


_R_TABLE = np.concatenate([np.linspace(0, 2, 201), np.geomspace(2.01, 1e3, 300)])
_G_TABLE = _wall_value(_R_TABLE)


def estimate_transient(x, y, wall, side=1):
    """Estimate ``c_bulk, drift_distance, length`` of the semi-infinite transient.

    ``c_bulk`` is the mean of the farthest 20 % of the layer points; the drift
    distance ``d`` is the excess ``int (y - c_bulk) dz / c_bulk`` (exact for the
    closed form); ``r = d / s`` follows from the wall value
    ``y(0) / c_bulk = erfc(-r) + 2 r ierfc(-r)`` (monotonic in ``r``).

    Returns
    -------
    ndarray
        Shape ``(..., 3)``.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.drift_diffusion import (
    ...     transient_profile_semi_infinite)
    >>> from hyperspy_perovskite.analysis.migration_estimates import (
    ...     estimate_transient)
    >>> x = np.linspace(0, 300, 1201)
    >>> y = transient_profile_semi_infinite(x, 6.0, 15.0, c_bulk=2.0)
    >>> np.round(estimate_transient(x, y, 0.0), 1)
    array([ 2. ,  6. , 15.3])
    """
    x = _check(x, y)
    A_lam_bulk = estimate_accumulation(x, y, wall, side)
    bulk = A_lam_bulk[..., 2]
    A = A_lam_bulk[..., 0]
    lam = A_lam_bulk[..., 1]
    safe = np.where(np.abs(bulk) > 0, bulk, 1.0)
    d = np.clip(A * lam / safe, 0.0, None)
    d = np.where(np.abs(bulk) > 0, d, 0.0)
    g0 = np.clip((A + bulk) / safe, 1.0, _G_TABLE[-1])
    r = np.interp(g0, _G_TABLE, _R_TABLE)
    dz = np.min(np.diff(x))
    span = x[-1] - x[0]
    s = np.where(r > 1e-6, d / np.where(r > 1e-6, r, 1.0), 0.25 * span)
    s = np.clip(s, dz, span)
    return np.stack([bulk, d, s], axis=-1)


def estimate_closed_layer(z, y, thickness, background=True, n_grid=16):
    """Starting values of a closed-layer transient fit (plus a constant).

    A grid search: for each ``(d, s)`` on a logarithmic grid (``d`` from
    a tenth of a point spacing to three thicknesses, ``s`` from one point
    spacing to two thicknesses), the linear parameters ``c_mean`` (and the
    constant ``offset`` when ``background``) are solved by least squares for
    every profile at once; the node with the smallest residual wins.

    Parameters
    ----------
    z : 1D array
        Distances from the accumulating electrode (nm, increasing, inside the
        layer).
    y : array
        Profiles, the last axis along ``z`` (numpy or dask).
    thickness : float
        Layer thickness (nm).
    background : bool
        Fit a constant as well (the immobile part and the background).
    n_grid : int
        Grid nodes per parameter.

    Returns
    -------
    ndarray
        ``(..., 4)``: ``c_mean, d, s, offset`` (offset 0 without background).

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.drift_diffusion import (
    ...     transient_profile_closed_layer)
    >>> from hyperspy_perovskite.analysis.migration_estimates import (
    ...     estimate_closed_layer)
    >>> z = np.arange(2.0, 200.0, 4.0)
    >>> y = 5.0 + transient_profile_closed_layer(z, 30.0, 40.0, 200.0, 2.0)
    >>> est = estimate_closed_layer(z, y, 200.0)
    >>> bool(abs(est[1] / 30.0 - 1) < 0.4 and abs(est[3] - 5.0) < 1.0)
    True
    """
    z = np.asarray(z, dtype=float)
    L = float(_positive("thickness", thickness))
    if z.ndim != 1 or z.size < 4 or np.any(np.diff(z) <= 0):
        raise ValueError("z must be at least 4 increasing positions inside the layer.")
    y = np.asarray(y.compute() if hasattr(y, "compute") else y, dtype=float)
    if y.shape[-1] != z.size:
        raise ValueError(f"y has {y.shape[-1]} points along z, expected {z.size}.")
    shape = y.shape[:-1]
    Y = y.reshape(-1, z.size)
    dz = float(np.min(np.diff(z)))
    ds = np.geomspace(0.1 * dz, 3.0 * L, n_grid)
    ss = np.geomspace(dz, 2.0 * L, n_grid)
    best = np.full(Y.shape[0], np.inf)
    out = np.zeros((Y.shape[0], 4))
    ones = np.ones(z.size)
    for d in ds:
        for s in ss:
            h = transient_profile_closed_layer(z, d, s, L)
            basis = np.stack([h, ones]) if background else h[None, :]
            coef, *_ = np.linalg.lstsq(basis.T, Y.T, rcond=None)
            res = ((Y - (basis.T @ coef).T) ** 2).sum(axis=1)
            ok = (res < best) & (coef[0] > 0)
            best = np.where(ok, res, best)
            out[ok, 0] = coef[0][ok]
            out[ok, 1] = d
            out[ok, 2] = s
            if background:
                out[ok, 3] = coef[1][ok]
    none = ~np.isfinite(best)  # no positive amplitude anywhere: flat profile
    out[none] = [max(float(np.mean(Y[none])) if none.any() else 1.0, 0.0), 0.0, L, 0.0]
    return out.reshape(shape + (4,))
