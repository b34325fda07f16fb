"""Electrical logs under bias: resistance vs time and its change-point onset.

A potentiostat or source-measure unit holding a device at constant voltage
logs the current (the current-time record at constant 1 V of "Imaging
real-time amorphization of hybrid perovskite solar cells under electrical
biasing", Fig. S2b); at constant current it logs the voltage (the nanoLED of
"Multimodal electron microscopy of halide perovskite interfacial dynamics",
Nature (2026), whose resistance rises while its electroluminescence falls).
Either gives the resistance ``R = V / I`` and conductance ``G = I / V``.

The onset of a change is found with a continuous two-segment
("hinge") model, ``y = a + b (t - tau) + c max(t - tau, 0)``: linear in
``(a, b, c)`` for a given onset ``tau``, so ``tau`` is found by profiling the
least-squares chi-squared over ``tau`` (a grid over the samples, refined by
bounded minimisation), and its uncertainty from the profile likelihood: the
interval where ``chi2(tau) - chi2_min <= 1`` (68 %), with the noise from the
residuals when not given (D. V. Hinkley, "Inference about the intersection
in two-phase regression", Biometrika 56, 495 (1969)).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq, minimize_scalar

__all__ = ["change_point_onset", "conductance", "hinge", "resistance"]


def resistance(voltage, current, current_std=None):
    """``R = V / I`` in Ω (V in V, I in A) and its std from the current noise.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.transport.electrical import resistance
    >>> r, s = resistance([1.0, 1.0], [1e-4, 5e-5], current_std=1e-6)
    >>> r.tolist(), np.round(s, 1).tolist()
    ([10000.0, 20000.0], [100.0, 400.0])
    """
    v = np.asarray(voltage, dtype=float)
    i = np.asarray(current, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = v / i
        std = None if current_std is None else np.abs(v) * current_std / i**2
    return r, std


def conductance(voltage, current, current_std=None):
    """``G = I / V`` in S and its std from the current noise.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.transport.electrical import conductance
    >>> g, s = conductance([1.0], [1e-4], current_std=1e-6)
    >>> g.tolist(), s.tolist()
    ([0.0001], [1e-06])
    """
    v = np.asarray(voltage, dtype=float)
    i = np.asarray(current, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        g = i / v
        std = None if current_std is None else current_std / np.abs(v)
    return g, std


def hinge(t, a, b, c, tau):
    """Two straight lines meeting at ``tau``: ``a + b (t - tau) + c max(t - tau, 0)``.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.transport.electrical import hinge
    >>> hinge(np.array([0.0, 10.0, 20.0]), 1.0, 0.0, 0.1, 10.0).tolist()
    [1.0, 1.0, 2.0]
    """
    u = np.asarray(t, dtype=float) - tau
    return a + b * u + c * np.maximum(u, 0.0)


def _solve(t, y, w, tau):
    """Weighted least squares of the hinge at ``tau``: (coef, cov_unscaled, rss)."""
    u = t - tau
    X = np.stack([np.ones_like(t), u, np.maximum(u, 0.0)], axis=-1) * w[:, None]
    coef, _, rank, _ = np.linalg.lstsq(X, y * w, rcond=None)
    if rank < 3:
        return coef, np.full((3, 3), np.nan), np.inf
    r = y * w - X @ coef
    return coef, np.linalg.inv(X.T @ X), float(r @ r)


def _profile(t, y, w, lo, hi):
    """Residual sum of squares of the hinge at ``tau = t[lo:hi]``.

    O(N) with suffix sums: for ``tau = t[k]`` the hinge column is nonzero for
    the samples after ``k`` only.
    """
    w2 = w * w
    terms = np.stack([w2, w2 * t, w2 * t * t, w2 * y, w2 * t * y])
    total = terms.sum(axis=1)
    suffix = np.cumsum(terms[:, ::-1], axis=1)[:, ::-1]  # sum over i >= k
    suffix = np.concatenate([suffix[:, 1:], np.zeros((5, 1))], axis=1)  # i > k
    S0, S1, S2, Y0, Y1 = total
    s0, s1, s2, y0, y1 = suffix[:, lo:hi]
    tau = t[lo:hi]
    A = np.empty((tau.size, 3, 3))
    A[:, 0, 0] = S0
    A[:, 0, 1] = A[:, 1, 0] = S1 - tau * S0
    A[:, 0, 2] = A[:, 2, 0] = s1 - tau * s0
    A[:, 1, 1] = S2 - 2 * tau * S1 + tau * tau * S0
    A[:, 1, 2] = A[:, 2, 1] = A[:, 2, 2] = s2 - 2 * tau * s1 + tau * tau * s0
    b = np.stack([np.full(tau.size, Y0), Y1 - tau * Y0, y1 - tau * y0], axis=1)
    with np.errstate(invalid="ignore"):
        coef = np.linalg.solve(A, b[..., None])[..., 0]
    return float(np.sum(w2 * y * y)) - np.sum(coef * b, axis=1)


def change_point_onset(t, y, sigma=None, *, t_range=None, min_points=5, n_sigma=3.0):
    """Onset of a change of slope in a time trace, with its uncertainty.

    Parameters
    ----------
    t : array-like
        Times (any unit; the onset is in the same unit), increasing.
    y : array-like
        The trace (resistance, conductance, EL intensity...).
    sigma : float or array, optional
        Noise std of ``y`` (per point or one value). None: from the
        residuals, ``sqrt(chi2_min / (N - 4))``.
    t_range : (float, float), optional
        Fit only the samples within this time range.
    min_points : int
        Smallest number of samples on each side of the onset.
    n_sigma : float
        The change is "significant" when ``|c| > n_sigma std(c)``.

    Returns
    -------
    dict
        ``onset``, ``onset_std`` (half the 68 % profile interval),
        ``onset_interval`` (lo, hi), ``level`` (value at the onset),
        ``slope_before``, ``slope_after`` with ``*_std``, ``change`` (slope
        change ``c``) and ``change_std``, ``significant`` (bool), ``sigma``
        (noise used), ``reduced_chisq``.

    Raises
    ------
    ValueError
        Too few samples, non-increasing time, or non-finite values.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.transport.electrical import (
    ...     change_point_onset, hinge)
    >>> t = np.arange(0.0, 300.0, 1.0)
    >>> y = hinge(t, 1.0, 0.0, 0.01, 80.0)
    >>> y = y + np.random.default_rng(0).normal(0, 0.02, t.size)
    >>> r = change_point_onset(t, y)
    >>> bool(abs(r["onset"] - 80.0) < 3 * r["onset_std"]), r["significant"]
    (True, True)
    """
    t = np.asarray(t, dtype=float)
    y = np.asarray(y, dtype=float)
    if t.shape != y.shape or t.ndim != 1:
        raise ValueError(f"t and y must be 1D of one length, got {t.shape}, {y.shape}.")
    if t_range is not None:
        keep = (t >= t_range[0]) & (t <= t_range[1])
        t, y = t[keep], y[keep]
        sigma = sigma[keep] if np.ndim(sigma) == 1 else sigma
    ok = np.isfinite(t) & np.isfinite(y)
    if not ok.all():
        raise ValueError(
            f"{int((~ok).sum())} non-finite values in the trace; remove them "
            "(e.g. the samples before the bias is on, where V or I is 0)."
        )
    if np.any(np.diff(t) <= 0):
        raise ValueError("Times must increase strictly.")
    if t.size < 2 * min_points + 1:
        raise ValueError(
            f"Need at least {2 * min_points + 1} samples for a change point, got "
            f"{t.size}."
        )
    w = np.ones_like(t) if sigma is None else 1.0 / np.broadcast_to(sigma, t.shape)
    lo, hi = min_points - 1, t.size - min_points + 1
    taus = t[lo:hi]
    rss = _profile(t, y, w, lo, hi)
    k = int(np.argmin(rss))
    lo, hi = taus[max(k - 1, 0)], taus[min(k + 1, taus.size - 1)]
    res = minimize_scalar(
        lambda tau: _solve(t, y, w, tau)[2], bounds=(lo, hi), method="bounded",
        options={"xatol": 1e-6 * (t[-1] - t[0])},
    )  # fmt: skip
    tau, rss_min = (res.x, res.fun) if res.fun < rss[k] else (taus[k], rss[k])
    dof = t.size - 4
    s2 = 1.0 if sigma is not None else rss_min / dof
    coef, cov, _ = _solve(t, y, w, tau)
    cov = cov * s2

    def excess(x):
        return (_solve(t, y, w, x)[2] - rss_min) / s2 - 1.0

    over = (rss - rss_min) / s2 > 1.0
    interval = []
    for side in (-1, 1):
        idx = np.flatnonzero(over & ((taus < tau) if side < 0 else (taus > tau)))
        if idx.size == 0:  # the interval reaches the end of the trace
            interval.append(t[0] if side < 0 else t[-1])
            continue
        j = idx[-1] if side < 0 else idx[0]
        inner = taus[j + 1] if side < 0 else taus[j - 1]
        inner = max(inner, tau) if side < 0 else min(inner, tau)
        if (inner - tau) * side < 0 or excess(inner) > 0:
            inner = tau
        interval.append(brentq(excess, taus[j], inner))
    c_std = float(np.sqrt(cov[2, 2]))
    b_std = float(np.sqrt(cov[1, 1]))
    after_std = float(np.sqrt(cov[1, 1] + cov[2, 2] + 2 * cov[1, 2]))
    return {
        "onset": float(tau),
        "onset_std": float((interval[1] - interval[0]) / 2.0),
        "onset_interval": (float(interval[0]), float(interval[1])),
        "level": float(coef[0]),
        "level_std": float(np.sqrt(cov[0, 0])),
        "slope_before": float(coef[1]),
        "slope_before_std": b_std,
        "slope_after": float(coef[1] + coef[2]),
        "slope_after_std": after_std,
        "change": float(coef[2]),
        "change_std": c_std,
        "significant": bool(abs(coef[2]) > n_sigma * c_std),
        "sigma": float(np.sqrt(s2)) if sigma is None else sigma,
        "reduced_chisq": float(rss_min / dof),
    }
