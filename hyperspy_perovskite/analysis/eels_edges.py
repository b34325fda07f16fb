"""Core-loss edge intensities with power-law backgrounds and their errors.

Arrays only. The background under an edge is Egerton's power law ``A E^-r``
fitted in a window before the onset and extrapolated under the edge
(R. F. Egerton, *Electron Energy-Loss Spectroscopy in the Electron
Microscope*, 3rd ed., Springer 2011, sec. 4.4.2). The fit is a weighted
linear least-squares fit of ``ln I = ln A - r ln E`` with the Poisson weights
``var(ln I) = 1 / I``; the edge intensity is the counts in the window above
the onset minus the extrapolated background, and its variance the Poisson
variance of those counts plus the variance of the extrapolated background
(from the covariance of ``ln A`` and ``r``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["power_law_background", "edge_intensity"]


def power_law_background(energy, counts, window):
    """Weighted power-law fit ``A E^-r`` in an energy window.

    Parameters
    ----------
    energy : numpy.ndarray
        ``(n,)`` channel energies (eV), increasing.
    counts : numpy.ndarray
        ``(..., n)`` counts.
    window : (float, float)
        Fit window (eV).

    Returns
    -------
    ln_a, r : numpy.ndarray
        ``(...)`` each.
    cov : numpy.ndarray
        ``(..., 2, 2)`` covariance of ``(ln_a, r)``.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.eels_edges import power_law_background
    >>> e = np.arange(400.0, 600.0)
    >>> ln_a, r, cov = power_law_background(e, 1e10 * e**-3.0, (400, 500))
    >>> round(float(r), 6)
    3.0
    """
    e = np.asarray(energy, dtype=float)
    sel = (e >= window[0]) & (e < window[1])
    if np.count_nonzero(sel) < 3:
        raise ValueError(
            f"The background window {window} eV holds fewer than 3 channels: widen it."
        )
    y = np.asarray(counts, dtype=float)[..., sel]
    w = np.maximum(y, 1.0)  # 1 / var(ln I)
    lny = np.log(np.maximum(y, 0.5))
    x = -np.log(e[sel])
    s0 = w.sum(-1)
    s1 = (w * x).sum(-1)
    s2 = (w * x * x).sum(-1)
    t0 = (w * lny).sum(-1)
    t1 = (w * x * lny).sum(-1)
    det = s0 * s2 - s1 * s1
    r = (s0 * t1 - s1 * t0) / det
    ln_a = (s2 * t0 - s1 * t1) / det
    cov = (
        np.stack([np.stack([s2, -s1], -1), np.stack([-s1, s0], -1)], -2)
        / det[..., None, None]
    )
    return ln_a, r, cov


def edge_intensity(energy, counts, onset, width, background_window):
    """Background-subtracted intensity of an edge and its variance.

    Parameters
    ----------
    energy : numpy.ndarray
        ``(n,)`` eV.
    counts : numpy.ndarray
        ``(..., n)`` counts (raw: Poisson).
    onset : float
        Edge onset (eV); the integration window is ``[onset, onset + width)``.
    width : float
        Integration window (eV).
    background_window : (float, float)
        Pre-edge fit window (eV), below the onset.

    Returns
    -------
    intensity, variance : numpy.ndarray
        ``(...)`` each.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.eels_edges import edge_intensity
    >>> e = np.arange(500.0, 800.0)
    >>> bkg = 1e11 * e**-3.0
    >>> edge = np.where(e >= 620, 50.0, 0.0)
    >>> i, v = edge_intensity(e, bkg + edge, 620.0, 50.0, (560.0, 615.0))
    >>> round(float(i))  # 50 channels of 50 counts
    2500
    """
    e = np.asarray(energy, dtype=float)
    c = np.asarray(counts, dtype=float)
    if not background_window[1] <= onset:
        raise ValueError(
            f"The background window {background_window} eV must end below the "
            f"onset {onset} eV."
        )
    if not (e[0] <= background_window[0] and onset + width <= e[-1] + 1e-9):
        raise ValueError(
            f"The windows ({background_window[0]}..{onset + width} eV) exceed the "
            f"energy axis ({e[0]}..{e[-1]} eV)."
        )
    ln_a, r, cov = power_law_background(e, c, background_window)
    sel = (e >= onset) & (e < onset + width)
    es = e[sel]
    bk = np.exp(ln_a[..., None] - r[..., None] * np.log(es))
    total = c[..., sel].sum(-1)
    b = bk.sum(-1)
    # d(sum bkg)/d ln_a = sum bkg ; d/d r = -sum bkg ln E
    g = np.stack([b, -(bk * np.log(es)).sum(-1)], -1)
    var_b = np.einsum("...i,...ij,...j->...", g, cov, g)
    return total - b, np.maximum(total, 0.0) + var_b
