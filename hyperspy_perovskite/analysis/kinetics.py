"""Array algorithms for crystallinity kinetics (numpy, no HyperSpy objects).

The JMAK (Johnson-Mehl-Avrami-Kolmogorov) law for the crystalline fraction
remaining after an onset ``t0``::

    X(t) = exp(-(k (t - t0))^n)   for t > t0,   1 before,

with rate ``k`` (1/s) and Avrami exponent ``n``; ``n = 1`` is first-order
(exponential) decay (M. Avrami, J. Chem. Phys. 7, 1103 (1939); 8, 212
(1940)).
"""

import numpy as np

__all__ = [
    "jmak",
    "estimate_jmak",
    "significant_decrease",
    "profile_onset",
    "profile_onset_intervals",
]


def jmak(t, A, k, n, t0, residual=0.0):
    """``residual + A exp(-(k (t - t0))^n)`` after ``t0``, ``residual + A`` before.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.kinetics import jmak
    >>> jmak(np.array([0.0, 10.0, 20.0]), 1.0, 0.1, 1.0, 10.0).round(3)
    array([1.   , 1.   , 0.368])
    """
    t = np.asarray(t, dtype=float)
    u = np.clip(t - t0, 0.0, None)
    return residual + A * np.exp(-((k * u) ** n))


def _smooth(y, w):
    if w <= 1:
        return y
    pad = w // 2
    yp = np.concatenate(
        [np.repeat(y[..., :1], pad, -1), y, np.repeat(y[..., -1:], w - 1 - pad, -1)], -1
    )
    c = np.cumsum(yp, axis=-1)
    c = np.concatenate([np.zeros(c.shape[:-1] + (1,)), c], -1)
    return (c[..., w:] - c[..., :-w]) / w


def _crossing(t, X, level):
    below = X < level
    idx = np.argmax(below, axis=-1)
    found = below.any(axis=-1)
    return np.where(found, t[idx], t[-1])


def estimate_jmak(t, y):
    """Starting values of ``residual + A exp(-(k (t - t0))^n)`` for many traces.

    Vectorised over all leading axes of ``y``: the initial and final levels
    are the medians of the first and last 10 % of points (at least 3), the
    normalised decay of a running mean (width ~5 % of the points) is read
    at 95 %, 70 %, 50 % and 30 % of the drop, which gives ``t0``, ``n``
    (clipped to [1, 4]) and ``k``.

    Parameters
    ----------
    t : array-like, shape (m,)
        Increasing times.
    y : array-like, shape (..., m)

    Returns
    -------
    dict of numpy.ndarray
        ``A``, ``k``, ``n``, ``t0``, ``residual``, each of shape ``y.shape[:-1]``.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.kinetics import estimate_jmak, jmak
    >>> t = np.linspace(0, 300, 121)
    >>> est = estimate_jmak(t, jmak(t, 10.0, 0.02, 2.0, 60.0, residual=1.0))
    >>> [round(float(est[p]), 1) for p in ("A", "residual", "t0")]
    [10.0, 1.0, 70.0]
    """
    t = np.asarray(t, dtype=float)
    y = np.asarray(y, dtype=float)
    m = t.size
    if y.shape[-1] != m or m < 6:
        raise ValueError(
            f"Need at least 6 time points and y.shape[-1] == len(t); got {m} times "
            f"and y of shape {y.shape}."
        )
    q = max(3, m // 10)
    start = np.median(y[..., :q], axis=-1)
    end = np.median(y[..., -q:], axis=-1)
    drop = start - end
    safe = np.where(np.abs(drop) > 0, drop, 1.0)
    ys = _smooth(y, max(1, m // 20))
    X = (ys - end[..., None]) / safe[..., None]
    t95 = _crossing(t, X, 0.95)
    t70 = _crossing(t, X, 0.7)
    t50 = _crossing(t, X, 0.5)
    t30 = _crossing(t, X, 0.3)
    dt = t[1] - t[0]
    t0 = np.clip(t95 - dt, t[0], t[-1])
    u70 = np.maximum(t70 - t0, dt / 2)
    u30 = np.maximum(t30 - t0, u70 + dt / 2)
    n = np.log(np.log(1 / 0.3) / np.log(1 / 0.7)) / np.log(u30 / u70)
    n = np.clip(np.nan_to_num(n, nan=1.0), 1.0, 4.0)
    k = np.log(2.0) ** (1.0 / n) / np.maximum(t50 - t0, dt / 2)
    flat = np.abs(drop) <= 0
    k = np.where(flat, 0.0, k)
    return {"A": drop, "k": k, "n": n, "t0": t0, "residual": end}


def significant_decrease(t, y, fraction=0.1, n_sigma=5.0, min_drop=0.1):
    """Whether each trace ends significantly lower than it starts.

    Compares the mean of the first and last ``fraction`` of points with
    their standard errors (Welch): a trace *fades* when the drop exceeds
    ``n_sigma`` standard errors and ``min_drop`` of the initial level.

    Returns
    -------
    faded : numpy.ndarray of bool
    relative_drop : numpy.ndarray
        ``(start - end) / start``.
    significance : numpy.ndarray
        Drop in units of its standard error.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.kinetics import significant_decrease
    >>> rng = np.random.default_rng(0)
    >>> t = np.arange(50.0)
    >>> y = np.stack([np.full(50, 10.0), np.linspace(10, 2, 50)]) + rng.normal(0, 0.2, (2, 50))
    >>> significant_decrease(t, y)[0]
    array([False,  True])
    """
    y = np.asarray(y, dtype=float)
    if not 0 < fraction <= 0.5:
        raise ValueError(f"fraction must be in (0, 0.5], got {fraction}.")
    m = y.shape[-1]
    q = max(2, int(round(fraction * m)))
    a, b = y[..., :q], y[..., -q:]
    se = np.sqrt(a.var(axis=-1, ddof=1) / q + b.var(axis=-1, ddof=1) / q)
    drop = a.mean(-1) - b.mean(-1)
    sig = drop / np.where(se > 0, se, np.finfo(float).tiny)
    rel = drop / np.where(a.mean(-1) != 0, a.mean(-1), np.nan)
    return (sig > n_sigma) & (rel > min_drop), rel, sig


def _residuals_fixed_t0(p, t, y, t0, first_order, residual, w):
    A, k = p[0], p[1]
    n = 1.0 if first_order else p[2]
    R = p[-1] if residual else 0.0
    return (jmak(t, A, k, n, t0, R) - y) * w


def _chisq_at(t, y, t0, start, first_order, residual, bounds, w=1.0):
    from scipy.optimize import least_squares

    r = least_squares(
        _residuals_fixed_t0,
        start,
        args=(t, y, t0, first_order, residual, w),
        bounds=bounds,
        method="trf",
        x_scale="jac",
        max_nfev=200,
    )
    return 2.0 * r.cost, r.x


def profile_onset(
    t, y, params, first_order=False, residual=True, n_grid=25, sigma=None
):
    """Profile-likelihood interval of the JMAK onset ``t0`` of one trace.

    The other parameters are refitted with ``t0`` held at every point of a
    grid around the best fit, and the interval is where the profile rises
    by less than 1 (68 %). Without ``sigma`` the noise variance is estimated
    from the best fit (``chi2_min / (m - p)``, uniform noise); with
    ``sigma`` the residuals are weighted by ``1 / sigma`` and the profile is
    scaled by ``max(1, chi2_min / (m - p))`` (an underestimated noise or a
    misfit widens the interval, never narrows it). Noise that changes along
    the trace (fringe power: the signal-noise cross term makes crystalline
    frames noisier than amorphous ones) needs ``sigma``: uniform weights
    then put the interval in the wrong place and make it too narrow. The
    JMAK law has a kink at ``t0``, so the curvature of the likelihood at its
    minimum (the fit covariance) underestimates this uncertainty; the
    profile does not.

    Parameters
    ----------
    t, y : numpy.ndarray
        Times and one trace.
    params : dict
        Best fit: ``A``, ``k``, ``n``, ``t0``, ``residual``.
    first_order, residual : bool
        As in the fit.
    n_grid : int
        Grid points of the profile.
    sigma : numpy.ndarray or float, optional
        Standard deviation of every point of ``y``.

    Returns
    -------
    lo, hi, std : float
        68 % interval and half its width (``std``); ``hi`` or ``lo`` is the
        edge of the time axis when the interval reaches it.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.kinetics import jmak, profile_onset
    >>> t = np.arange(0, 300, 5.0)
    >>> rng = np.random.default_rng(1)
    >>> y = jmak(t, 8.0, 0.02, 2.0, 60.0, 2.0) + rng.normal(0, 0.3, t.size)
    >>> lo, hi, sd = profile_onset(t, y, dict(A=8, k=0.02, n=2, t0=60, residual=2))
    >>> bool(lo < 60 < hi), bool(0 < sd < 20)
    (True, True)
    """
    t = np.asarray(t, float)
    y = np.asarray(y, float)
    w = 1.0
    if sigma is not None:
        sigma = np.broadcast_to(np.asarray(sigma, float), y.shape)
        if not np.all(np.isfinite(sigma) & (sigma > 0)):
            raise ValueError("sigma must be finite and > 0 at every time point.")
        w = 1.0 / sigma
    start = [params["A"], params["k"]]
    lo_b, hi_b = [0.0, 0.0], [np.inf, np.inf]
    if not first_order:
        start.append(min(max(params["n"], 1.0), 10.0))
        lo_b.append(1.0)
        hi_b.append(10.0)
    if residual:
        start.append(params["residual"])
        lo_b.append(-np.inf)
        hi_b.append(np.inf)
    start = np.clip(
        np.asarray(start, float), np.asarray(lo_b) + 1e-12, np.asarray(hi_b) - 1e-12
    )
    bounds = (lo_b, hi_b)
    n_par = len(start) + 1
    chi_best, best = _chisq_at(
        t, y, params["t0"], start, first_order, residual, bounds, w
    )
    sigma2 = max(chi_best, 1e-300) / max(t.size - n_par, 1)
    if sigma is not None:
        sigma2 = max(sigma2, 1.0)
    span = t[-1] - t[0]
    width = min(span / 4, 4 * max(1.0 / max(params["k"], 1e-12), np.diff(t).mean()))
    grid = params["t0"] + np.linspace(-width, width, n_grid)
    grid = np.clip(grid, t[0] - span, t[-1])
    grid = np.unique(np.append(grid, params["t0"]))
    prof = np.empty(grid.size)
    for i, g in enumerate(grid):
        prof[i], _ = _chisq_at(t, y, g, best, first_order, residual, bounds, w)
    c_min = min(prof.min(), chi_best)
    prof = (prof - c_min) / sigma2
    j = int(np.argmin(prof))
    t_min = grid[j]
    below = prof <= 1.0
    left = j
    while left > 0 and below[left - 1]:
        left -= 1
    right = j
    while right < grid.size - 1 and below[right + 1]:
        right += 1

    def excess(g):  # profile rise above 1 at onset g (root: the interval edge)
        c, _ = _chisq_at(t, y, g, best, first_order, residual, bounds, w)
        return (c - c_min) / sigma2 - 1.0

    # the crossings to 1/100 of a frame step (the grid may be coarser than
    # the interval of a precise onset)
    xtol = np.diff(t).mean() / 100
    lo = _root(excess, grid[left - 1], grid[left], xtol) if left > 0 else grid[0]
    hi = (
        _root(excess, grid[right], grid[right + 1], xtol)
        if right < grid.size - 1
        else grid[-1]
    )
    lo, hi = min(lo, t_min), max(hi, t_min)
    return float(lo), float(hi), float((hi - lo) / 2)


def _root(f, a, b, xtol):
    """Root of ``f`` between a and b (signs differ), or the nearer end."""
    from scipy.optimize import brentq

    fa, fb = f(a), f(b)
    if fa * fb > 0:
        return a if abs(fa) < abs(fb) else b
    return brentq(f, a, b, xtol=xtol)


def profile_onset_intervals(t, data, params, first_order, residual, sigma=None):
    """:func:`profile_onset` of every trace: 68 % onset intervals.

    Parameters
    ----------
    t : array ``(n_t,)``
        Times (s).
    data : array ``(..., n_t)``
        Traces.
    params : sequence of 5 arrays
        Fitted ``A, k, n, t0, residual`` (broadcastable to ``data.shape[:-1]``);
        traces with a non-finite parameter get NaN intervals.
    first_order, residual : bool
        As in :func:`profile_onset`.
    sigma : array like ``data``, optional
        Standard deviations of the traces.

    Returns
    -------
    numpy.ndarray ``(..., 2)``
        Lower and upper ends of the onset interval.
    """
    lead = data.shape[:-1]
    n_traces = int(np.prod(lead))
    flat = np.asarray(data).reshape(n_traces, -1)
    A, k, n, t0, R = (np.broadcast_to(p, lead).ravel() for p in params)
    sig = None if sigma is None else np.asarray(sigma).reshape(n_traces, -1)
    out = np.full((n_traces, 2), np.nan)
    for i in range(n_traces):
        if not np.all(np.isfinite([A[i], k[i], n[i], t0[i], R[i]])):
            continue
        lo, hi, _ = profile_onset(
            t,
            flat[i],
            dict(A=A[i], k=k[i], n=n[i], t0=t0[i], residual=R[i]),
            first_order=first_order,
            residual=residual,
            sigma=None if sig is None else sig[i],
        )
        out[i] = lo, hi
    return out.reshape(lead + (2,))
