"""The emission centroid of a fitted map: the quantity a band + tail fit
reports with an honest error where band and tail are not told apart.

Where a band's Urbach tail is not identified (``"band tail not
identified"``, :func:`~hyperspy_perovskite.signals._cl_limits.tail_identified`)
the split of the emission between band and tail is not determined by the
data, so the band centre is not estimable; the centroid of all the emission
in the fitted window (the data less the fitted background) needs no split.
"""

from __future__ import annotations

import numpy as np

from hyperspy_perovskite.analysis.cl_maps import emission_centroid
from hyperspy_perovskite.signals._cl_curves import pixel_model
from hyperspy_perovskite.validity import Validity


def _background(m, bands):
    return [c for c in m if c.active and c not in bands]


#: Channels of the running mean that :func:`_variance` compares the data with.
SMOOTH = 5


def _variance(m, y, idx):
    """Noise variance per channel: the signal's own (a weighted fit), else
    photon-count-like, proportional to the locally averaged data, scaled so
    that the data's scatter about their running mean matches (``y - mean``
    has the variance ``(1 - 1 / SMOOTH) var`` for a smooth spectrum; the
    scale is 1 for counts on their own axis, the Jacobian after
    ``to_eV``)."""
    from scipy.ndimage import uniform_filter1d

    v = m.signal.metadata.get_item("Signal.Noise_properties.variance")
    switches = np.asarray(m._channel_switches, dtype=bool)
    if v is not None and hasattr(v, "data"):
        var = v.data.reshape(-1, v.data.shape[-1])[idx]
        var = np.asarray(var if isinstance(var, np.ndarray) else var.compute())
        return var.astype(float)[:, switches]
    if v is not None:  # one number for every channel
        return np.full_like(y, float(v))
    mean = np.clip(uniform_filter1d(y, SMOOTH, axis=-1, mode="nearest"), 0, None)
    scatter = ((y - mean)[:, 2:-2] ** 2).sum(-1) / (1.0 - 1.0 / SMOOTH)
    k = scatter / mean[:, 2:-2].sum(-1)
    return mean * k[:, None]


def centroid_maps(m, bands, n_sigma=3.0, block=2048):
    """Centroid (axis units) and its standard deviation of the emission of
    every fitted pixel, and their validity.

    The centroid of the data less the fitted background (the components
    not in ``bands``) over the largest part of the fitted window symmetric
    about it, with its error from the noise of every channel and the
    background parameters' errors
    (:func:`~hyperspy_perovskite.analysis.cl_maps.emission_centroid`).
    Valid where the fit converged and the emission in that window exceeds
    ``n_sigma`` of its error (else the reason ``"no emission"``). Pixels
    are processed ``block`` at a time.
    """
    ax = m.signal.axes_manager.signal_axes[0]
    switches = np.asarray(m._channel_switches, dtype=bool)
    x = np.asarray(ax.axis, float)[switches]
    nav = m.signal.axes_manager._navigation_shape_in_array
    n = int(np.prod(nav)) if nav else 1
    flat = m.signal.data.reshape(n, -1)
    back = _background(m, bands)
    out = np.full((3, n), np.nan)
    for i in range(0, n, block):
        idx = np.arange(i, min(n, i + block))
        y = flat[idx]
        y = np.asarray(y if isinstance(y, np.ndarray) else y.compute(), float)
        out[:, idx] = _block(m, back, x, y[:, switches], idx)
    c, std, signif = out
    converged = np.asarray(bands[0].A.map["is_set"], bool).reshape(n)
    with np.errstate(invalid="ignore"):
        ok = converged & np.isfinite(c) & np.isfinite(std) & (signif > n_sigma)
    valid = Validity(
        ok.reshape(nav),
        np.where(ok, 0, 1).reshape(nav),
        ("no emission",),
        {"emission n_sigma": n_sigma},
    )
    return c.reshape(nav), std.reshape(nav), valid


def _block(m, back, x, y, idx):
    with np.errstate(all="ignore"):
        b = pixel_model(back, x, idx)
        var = _variance(m, y, idx)
        shifts = []
        for c in back:
            for p in c.parameters:
                if not (p.free and p.twin is None):
                    continue
                keep = p.map["values"].copy()
                p.map["values"] += np.nan_to_num(p.map["std"])
                try:
                    shifts.append(pixel_model(back, x, idx) - b)
                finally:
                    p.map["values"] = keep
        return emission_centroid(x, y, b, var, shifts)
