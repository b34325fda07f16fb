"""Quantities across the device stack: bands at interfaces, onsets, drift.

Scan positions are mapped to the sample frame with the measured drift
(``sample = scan + offset(t)``) and projected on the stack line of the
device geometry, so a band "within w of an interface" follows the sample
while it drifts under the scan.
"""

import numpy as np

__all__ = [
    "stack_coordinate",
    "band_mean",
    "band_fraction",
    "onset",
    "count_onset",
    "profile_along_stack",
    "exclude_layer_rings",
]


def stack_coordinate(y, x, offsets, start, end):
    """Distance along the stack line (nm) of every scan position and time.

    Parameters
    ----------
    y, x : numpy.ndarray
        Scan coordinates (nm) of the rows and columns.
    offsets : numpy.ndarray, shape (t, 2)
        Sample drift (dy, dx) in nm: the sample point under scan position
        ``p`` at time ``t`` is ``p + offsets[t]``.
    start, end : (float, float)
        Stack line (x, y) in nm (``Device.Geometry``).

    Returns
    -------
    numpy.ndarray, shape (t, ny, nx)

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.diffraction.interfaces import stack_coordinate
    >>> s = stack_coordinate(np.arange(2.0), np.arange(3.0), np.array([[0, 0], [0, 1.0]]),
    ...                      (0, 0), (10, 0))
    >>> s[1, 0].tolist()
    [1.0, 2.0, 3.0]
    """
    d = np.subtract(end, start).astype(float)
    d /= np.hypot(*d)
    yy, xx = np.meshgrid(np.asarray(y, float), np.asarray(x, float), indexing="ij")
    off = np.asarray(offsets, float)
    sx = xx[None] + off[:, 1, None, None] - start[0]
    sy = yy[None] + off[:, 0, None, None] - start[1]
    return sx * d[0] + sy * d[1]


def band_mean(values, std, s, centre, half_width, extra_std=0.0):
    """Inverse-variance mean of valid values in ``|s - centre| <= half_width``, per time.

    Parameters
    ----------
    values, std : numpy.ndarray, shape (t, ny, nx)
        NaN where invalid.
    s : numpy.ndarray, shape (t, ny, nx)
        Stack coordinate (nm).
    centre, half_width : float
        Band in nm.
    extra_std : float or numpy.ndarray of shape (t,)
        Uncertainty common to all pixels of a time step (e.g. of the
        reference lattice), added in quadrature.

    Returns
    -------
    mean, mean_std, n, redchi : numpy.ndarray, shape (t,)
        The std is scaled by ``sqrt(redchi)`` when the band's scatter exceeds
        its error bars (a band that is not uniform).

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.diffraction.interfaces import band_mean
    >>> v = np.array([[[1.0, 2.0, 3.0]]]); e = np.ones_like(v)
    >>> s = np.array([[[0.0, 1.0, 5.0]]])
    >>> [a.tolist() for a in band_mean(v, e, s, 0.5, 1.0)[:3]]
    [[1.5], [0.7071067811865476], [2]]
    """
    inb = (np.abs(s - centre) <= half_width) & np.isfinite(values) & (std > 0)
    w = np.where(inb, 1.0 / np.where(inb, std, 1.0) ** 2, 0.0)
    v = np.where(inb, values, 0.0)
    ax = tuple(range(1, values.ndim))
    wsum = w.sum(axis=ax)
    n = inb.sum(axis=ax)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (w * v).sum(axis=ax) / wsum
        chi = (w * (v - mean.reshape((-1,) + (1,) * len(ax))) ** 2).sum(axis=ax)
        red = np.where(n > 1, chi / np.maximum(n - 1, 1), np.nan)
        err = np.sqrt(
            1.0 / wsum * np.where(np.isfinite(red), np.maximum(red, 1.0), 1.0)
        )
    err = np.sqrt(err**2 + np.asarray(extra_std, float) ** 2)
    mean = np.where(n > 0, mean, np.nan)
    err = np.where(n > 0, err, np.nan)
    return mean, err, n, red


def band_fraction(present, valid, s, centre, half_width):
    """Fraction of valid patterns within the band where ``present`` is True.

    Returns
    -------
    fraction, std, n : numpy.ndarray, shape (t,)
        Binomial std ``sqrt(p (1 - p) / n)``, with ``p`` at least ``1/n``
        so that an empty count still has an error bar.
    """
    inb = (np.abs(s - centre) <= half_width) & valid
    ax = tuple(range(1, present.ndim))
    n = inb.sum(axis=ax)
    k = (inb & present).sum(axis=ax)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        pe = np.clip(p, 1.0 / np.maximum(n, 1), 1 - 1.0 / np.maximum(n, 1))
        std = np.sqrt(pe * (1 - pe) / n)
    return np.where(n > 0, p, np.nan), np.where(n > 0, std, np.nan), n


def onset(times, fraction, n, baseline, n_sigma=3.0):
    """First time step whose fraction rises significantly above the baseline.

    Parameters
    ----------
    times : numpy.ndarray, shape (t,)
    fraction, n : numpy.ndarray, shape (t,)
    baseline : numpy.ndarray of bool, shape (t,)
        Steps that define the baseline (pristine, before the bias).
    n_sigma : float

    Returns
    -------
    (index, t_before, t_at) or None
        The onset lies in ``(t_before, t_at]``; None if never significant.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.diffraction.interfaces import onset
    >>> t = np.arange(5.0) * 10
    >>> onset(t, np.array([0, 0, 0, .2, .4]), np.full(5, 50), t < 15)
    (3, 20.0, 30.0)
    """
    base = np.asarray(baseline, bool)
    if not base.any():
        raise ValueError(
            "No baseline time step (before the bias switch-on): the onset needs "
            "at least one pristine scan."
        )
    nb = n[base].sum()
    p0 = np.nansum(fraction[base] * n[base]) / max(nb, 1)
    for i in np.flatnonzero(
        ~base & (np.arange(len(times)) > np.flatnonzero(base).max())
    ):
        pe = max(p0, 1.0 / max(n[i], 1))
        sig = np.sqrt(pe * (1 - pe) / max(n[i], 1) + pe * (1 - pe) / max(nb, 1))
        if fraction[i] - p0 > n_sigma * sig:
            return int(i), float(times[i - 1]), float(times[i])
    return None


def count_onset(times, k, n, baseline, floor_rate, p_value=1e-3):
    """First scan whose count of positives is improbable under the baseline.

    Parameters
    ----------
    times : numpy.ndarray, shape (t,)
    k, n : numpy.ndarray, shape (t,)
        Positive positions and valid positions per scan.
    baseline : numpy.ndarray of bool, shape (t,)
        Scans defining the background rate (pristine, before the bias).
    floor_rate : float
        Smallest background rate per position (the calibrated false-positive
        rate of the detector): an empty baseline does not make one chance
        hit significant.
    p_value : float
        Poisson tail probability ``P(K >= k | n * rate)`` below which the
        scan counts as the onset.

    Returns
    -------
    (index, t_before, t_at, p) or None
        The product appeared in ``(t_before, t_at]`` (the scans are
        snapshots); None if no scan after the baseline is significant.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.diffraction.interfaces import count_onset
    >>> t = np.arange(5.0) * 30
    >>> count_onset(t, np.array([0, 0, 0, 3, 9]), np.full(5, 40), t < 45, 4e-6)[:3]
    (3, 60.0, 90.0)
    """
    from scipy.stats import poisson

    base = np.asarray(baseline, bool)
    if not base.any():
        raise ValueError(
            "No baseline time step (before the bias switch-on): the onset needs "
            "at least one pristine scan."
        )
    k = np.asarray(k, float)
    n = np.asarray(n, float)
    rate = max(k[base].sum() / max(n[base].sum(), 1.0), float(floor_rate))
    after = np.flatnonzero(~base & (np.arange(len(times)) > np.flatnonzero(base).max()))
    for i in after:
        p = float(poisson.sf(k[i] - 1, max(n[i] * rate, 1e-300))) if k[i] > 0 else 1.0
        if p < p_value:
            return int(i), float(times[i - 1]), float(times[i]), p
    return None


def profile_along_stack(values, std, s, edges):
    """Inverse-variance mean of ``values`` in bins of stack coordinate, per time.

    Returns
    -------
    mean, mean_std : numpy.ndarray, shape (t, n_bins)
    """
    t = values.shape[0]
    nb = len(edges) - 1
    mean = np.full((t, nb), np.nan)
    err = np.full((t, nb), np.nan)
    for i in range(nb):
        c, h = 0.5 * (edges[i] + edges[i + 1]), 0.5 * (edges[i + 1] - edges[i])
        m, e, n, _ = band_mean(values, std, s, c, h)
        mean[:, i], err[:, i] = m, e
    return mean, err


def exclude_layer_rings(usable, centres, half_width, reach, s, layer_rings, margin):
    """Bands not to test for products where a known layer's spots can fall.

    Inside a known crystalline layer (and within ``margin / 2`` of it), a
    product band within a spot's reach of one of the layer's own rings
    (``|centre - ring| <= half_width + reach``) could light up from the
    layer itself: it is not tested there.

    Parameters
    ----------
    usable : array of bool ``(..., n_bands)``
        Bands testable in each pattern.
    centres, half_width : array ``(n_bands,)``
        Band centres and half widths (1/A).
    reach : float
        How far beyond its ring a spot reaches (1/A).
    s : array ``(...)``
        Position of every pattern along the stack (nm).
    layer_rings : sequence of (str, (float, float), array)
        Name, ``(start, end)`` along the stack (nm) and ring positions (1/A)
        of each known layer.
    margin : float
        nm.

    Returns
    -------
    usable : array of bool
        A new mask.
    excluded : dict
        ``{layer: [band centres excluded inside it]}``.

    Examples
    --------
    >>> import numpy as np
    >>> from hyperspy_perovskite.analysis.diffraction.interfaces import (
    ...     exclude_layer_rings)
    >>> u, ex = exclude_layer_rings(np.ones((3, 2), bool), np.array([0.30, 0.50]),
    ...     np.array([0.01, 0.01]), 0.02, np.array([10.0, 50.0, 90.0]),
    ...     [("perovskite", (40.0, 60.0), np.array([0.31]))], 4.0)
    >>> u.tolist(), ex
    ([[True, True], [False, True], [True, True]], {'perovskite': [0.3]})
    """
    usable = np.array(usable, dtype=bool, copy=True)
    centres = np.asarray(centres, dtype=float)
    half_width = np.asarray(half_width, dtype=float)
    excluded = {}
    for layer, (lo, hi), rings in layer_rings:
        near = (
            np.abs(np.subtract.outer(centres, np.asarray(rings, dtype=float)))
            <= half_width[:, None] + reach
        ).any(axis=1)
        if near.any():
            inside = (s >= lo - margin / 2) & (s <= hi + margin / 2)
            usable &= ~(inside[..., None] & near)
            excluded[layer] = [float(c) for c in centres[near]]
    return usable, excluded
