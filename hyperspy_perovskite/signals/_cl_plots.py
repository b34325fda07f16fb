"""The emission statistics figure (after Li et al., Nat. Commun. 14, 7612
(2023), Fig. S11): histograms and 2D histograms over the valid pixels and
the valid centre map, readable when a few valid pixels lie far from the
rest."""

import numpy as np

from hyperspy_perovskite.analysis.cl_maps import histogram2d_valid, histogram_valid
from hyperspy_perovskite.report.figures import axis_label, show_map
from hyperspy_perovskite.signals._cl_statistics import _units, _valid, _values

__all__ = ["plot_emission_statistics", "robust_range"]


def robust_range(values, valid, tail=0.005):
    """``(lo, hi)`` of the valid values between their ``tail`` and ``1 - tail``
    quantiles, widened by 5 %, and how many valid values fall outside.

    One pixel far from the others (a false detection is expected in about
    one pixel per thousand at 3 standard deviations) would otherwise squash
    every histogram into one bin.

    Examples
    --------
    >>> from hyperspy_perovskite.signals._cl_plots import robust_range
    >>> x = np.r_[np.linspace(700.0, 720.0, 999), 795.0]
    >>> (lo, hi), n_out = robust_range(x, np.ones(1000, bool))
    >>> round(lo, 1), round(hi, 1), n_out
    (699.1, 720.9, 1)
    """
    v = np.asarray(values, float)[np.asarray(valid, bool)]
    v = v[np.isfinite(v)]
    if v.size == 0:
        return None, 0
    lo = np.quantile(v, tail, method="higher")  # never between an outlier
    hi = np.quantile(v, 1.0 - tail, method="lower")  # and its neighbour
    if not hi > lo:
        return None, 0
    pad = 0.05 * (hi - lo)
    lo, hi = float(lo - pad), float(hi + pad)
    return (lo, hi), int(np.sum((v < lo) | (v > hi)))


def plot_emission_statistics(maps, bins=30, valid=None, intensity="area", fig=None):
    """Figure of the emission statistics (after Li et al., Nat. Commun. 14,
    7612 (2023), Fig. S11).

    Histograms of centre, sigma and intensity, 2D histograms of centre vs
    sigma and centre vs intensity over the valid pixels, and the centre map
    (invalid pixels grey, colour bar in the map's unit, scale bar). The
    ranges hold the central 99 % of the valid values (:func:`robust_range`);
    valid pixels outside them are counted on each panel, never dropped
    silently.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    v = _valid(maps, valid)
    names = ("centre", "sigma", intensity)
    for n in names:
        if n not in maps:
            raise ValueError(f"No map named {n!r}; available: {sorted(maps)}.")
    ranges = {n: robust_range(_values(maps[n]), v) for n in names}
    if fig is None:
        fig = plt.figure(figsize=(12, 7), layout="constrained")
    axes = fig.subplots(2, 3)
    for ax, name in zip(axes[0], names, strict=True):
        (rng, n_out), unit = ranges[name], _units(maps[name])
        counts, edges = histogram_valid(_values(maps[name]), v, bins=bins, range=rng)
        ax.stairs(counts, edges, fill=True, color="C0")
        ax.set_xlabel(axis_label(name, unit))
        ax.set_ylabel("pixels")
        _note_outside(ax, n_out)
    for ax, yname in zip(axes[1][:2], names[1:], strict=True):
        (rx, nx), (ry, ny) = ranges["centre"], ranges[yname]
        rr = None if rx is None or ry is None else (rx, ry)
        counts, ex, ey = histogram2d_valid(
            _values(maps["centre"]), _values(maps[yname]), v, bins=bins, range=rr
        )
        im = ax.pcolormesh(ex, ey, counts.T, cmap="viridis")
        ax.set_xlabel(axis_label("centre", _units(maps["centre"])))
        ax.set_ylabel(axis_label(yname, _units(maps[yname])))
        fig.colorbar(im, ax=ax, label="pixels")
        _note_outside(ax, max(nx, ny), colour="white")
    show_map(axes[1][2], maps["centre"], "centre", _units(maps["centre"]), valid=v)
    axes[1][2].set_title(f"centre map ({int(v.sum())} valid pixels; grey: not valid)")
    return fig


def _note_outside(ax, n_out, colour="black"):
    if n_out:
        ax.text(
            0.98,
            0.96,
            f"{n_out} valid pixel{'s' if n_out > 1 else ''} outside",
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=8,
            color=colour,
        )
