"""Compare time traces of two regions (e.g. biased vs beam-only control).

“Imaging real-time amorphization of hybrid perovskite solar cells under electrical biasing” compares region A (beam only, no bias: no change in
5 min) with region B (under bias: amorphizes). For each trace the change is
the mean of the final window minus the mean of the initial window, relative
to the initial mean. The frame-to-frame noise is estimated robustly from
first differences, ``sigma = 1.4826 * MAD(diff(trace)) / sqrt(2)`` (insensitive
to slow trends such as the decay itself), so the standard error of a window
mean of ``n`` frames is ``sigma / sqrt(n)``. The difference of the two changes
is significant when it exceeds ``n_sigma`` times its standard error.
"""

import numpy as np

__all__ = ["trace_noise", "relative_change", "compare_traces"]


def trace_noise(trace):
    """Robust frame-to-frame noise of a trace (standard deviation per frame).

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.regions import trace_noise
    >>> rng = np.random.default_rng(1)
    >>> round(trace_noise(np.linspace(0, 5, 4000) + rng.normal(0, 0.3, 4000)), 1)
    0.3
    """
    x = np.asarray(trace, dtype=float)
    x = x[np.isfinite(x)]
    if x.size < 3:
        raise ValueError("A trace needs at least 3 finite values to estimate noise.")
    d = np.diff(x)
    return float(1.4826 * np.median(np.abs(d - np.median(d))) / np.sqrt(2))


def _windows(n, before, after):
    if before is None:
        before = slice(0, max(n // 10, 1))
    if after is None:
        after = slice(n - max(n // 10, 1), n)
    return before, after


def relative_change(trace, before=None, after=None):
    """Relative change of a trace between two windows, with its standard error.

    Parameters
    ----------
    trace : array-like
    before, after : slice or boolean array, optional
        Frames of the initial and final windows (default the first and last
        10 % of the frames).

    Returns
    -------
    change, error : float
        ``(mean_after - mean_before) / mean_before`` and its standard error.
    """
    x = np.asarray(trace, dtype=float)
    before, after = _windows(x.size, before, after)
    xb, xa = x[before], x[after]
    xb, xa = xb[np.isfinite(xb)], xa[np.isfinite(xa)]
    if xb.size == 0 or xa.size == 0:
        raise ValueError("The before/after windows contain no finite values.")
    m0 = xb.mean()
    if m0 == 0:
        raise ValueError("The initial mean is zero: a relative change is undefined.")
    sigma = trace_noise(x)
    change = (xa.mean() - m0) / m0
    err = np.sqrt(sigma**2 / xa.size + sigma**2 / xb.size) / abs(m0)
    return float(change), float(err)


def compare_traces(trace_a, trace_b, before=None, after=None, n_sigma=3.0):
    """Compare the changes of two traces (e.g. control A vs biased B).

    Returns
    -------
    dict
        ``change_a``, ``error_a``, ``change_b``, ``error_b``, ``difference``
        (``change_b - change_a``), ``error``, ``significance`` (difference /
        error), ``significant`` (bool), ``changed_a``, ``changed_b`` (each
        change beyond ``n_sigma`` of its own error).

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.regions import compare_traces
    >>> rng = np.random.default_rng(0)
    >>> t = np.arange(300.0)
    >>> a = 1 + rng.normal(0, 0.02, t.size)
    >>> b = np.exp(-t / 100) + rng.normal(0, 0.02, t.size)
    >>> r = compare_traces(a, b)
    >>> r["significant"], r["changed_a"], r["changed_b"]
    (True, False, True)
    """
    a = np.asarray(trace_a, dtype=float)
    b = np.asarray(trace_b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(
            f"The traces must be 1D with the same length, got {a.shape} and {b.shape}."
        )
    if not (np.isfinite(n_sigma) and n_sigma > 0):
        raise ValueError(f"n_sigma must be positive, got {n_sigma!r}.")
    ca, ea = relative_change(a, before, after)
    cb, eb = relative_change(b, before, after)
    diff = cb - ca
    err = float(np.hypot(ea, eb))
    sig = abs(diff) / err if err > 0 else np.inf
    return {
        "change_a": ca,
        "error_a": ea,
        "change_b": cb,
        "error_b": eb,
        "difference": diff,
        "error": err,
        "significance": float(sig),
        "significant": bool(sig > n_sigma),
        "changed_a": bool(abs(ca) > n_sigma * ea),
        "changed_b": bool(abs(cb) > n_sigma * eb),
        "n_sigma": float(n_sigma),
    }
