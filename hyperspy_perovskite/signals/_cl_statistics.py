"""Emission maps, their histograms and 2D histograms as HyperSpy signals.

Thin wrappers: the arrays are computed in
:mod:`hyperspy_perovskite.analysis.cl_emission`; here they become signals
with axes, units and titles (Li et al., Nat. Commun. 14, 7612 (2023), Fig. 2c-f, S10-S11).
"""

import math

import numpy as np
from hyperspy.signals import BaseSignal, Signal1D, Signal2D

from hyperspy_perovskite.analysis.cl_emission import (
    QUALITY_FLAGS,
    SIGMA2FWHM,
    histogram2d_valid,
    histogram_valid,
    quality_flags,
)

_SQRT2PI = math.sqrt(2.0 * math.pi)

#: Map names of :func:`emission_maps` that carry a ``<name>_std`` partner.
MAP_NAMES = ("centre", "fwhm", "sigma", "height", "area")


def _map_signal_from_signal(signal, data, title, units, quantity):
    """A signal whose axes are the navigation axes of ``signal`` (lazy if
    ``data`` is a dask array)."""
    from hyperspy.signals import LazySignal, LazySignal1D, LazySignal2D

    axes = [
        ax.get_axis_dictionary() for ax in signal.axes_manager.navigation_axes[::-1]
    ]
    for a in axes:
        a["navigate"] = False
    lazy = type(data).__module__.startswith("dask")
    if lazy:
        cls = {1: LazySignal1D, 2: LazySignal2D}.get(len(axes), LazySignal)
    else:
        cls = {1: Signal1D, 2: Signal2D}.get(len(axes), BaseSignal)
        data = np.asarray(data)
    if axes:
        out = cls(data, axes=axes)
    else:
        out = cls(data.reshape(1) if lazy else np.atleast_1d(data))
    out.metadata.General.title = title
    out.metadata.Signal.quantity = f"{quantity} ({units})" if units else quantity
    return out


def _map_signal(model, data, title, units, quantity):
    """A map signal with the model's navigation axes."""
    return _map_signal_from_signal(model.signal, data, title, units, quantity)


def emission_maps(
    model,
    component=None,
    tail=None,
    min_significance=3.0,
    max_reduced_chisq=None,
):
    """Maps of a fitted Gaussian emission band, with their uncertainties.

    Parameters
    ----------
    model : hyperspy.models.model1d.Model1D
        A model fitted by ``fit_emission`` (or any model holding a
        :class:`~hyperspy_perovskite.components.GaussianEmission`).
    component : str or GaussianEmission or None
        The band to map; default the first ``GaussianEmission``.
    tail : str or UrbachTail or None
        The tail to map as ``urbach_energy``; default the first ``UrbachTail``.
    min_significance : float
        A band whose area is below ``min_significance`` standard deviations
        is flagged (bit 4).
    max_reduced_chisq : float or None
        Flag pixels whose reduced chi-squared exceeds this (bit 32).

    Returns
    -------
    dict of hyperspy signals
        ``centre``, ``fwhm``, ``sigma``, ``height``, ``area`` and each
        ``<name>_std``; ``reduced_chisq``; ``quality`` (uint8 bit flags,
        :data:`~hyperspy_perovskite.analysis.cl_emission.QUALITY_FLAGS`, 0 =
        good); ``valid`` (bool); with a tail, ``urbach_energy`` and
        ``urbach_energy_std`` (meV on an eV axis).
    """
    from hyperspy_perovskite.components import GaussianEmission, UrbachTail

    g = _find(model, component, GaussianEmission)
    axis = model.signal.axes_manager.signal_axes[0]
    units = axis.units
    A = np.asarray(g.A.map["values"], dtype=float)
    sA = np.asarray(g.A.map["std"], dtype=float)
    c = np.asarray(g.centre.map["values"], dtype=float)
    sc = np.asarray(g.centre.map["std"], dtype=float)
    s = np.asarray(g.sigma.map["values"], dtype=float)
    ss = np.asarray(g.sigma.map["std"], dtype=float)
    unset = ~np.asarray(g.A.map["is_set"], dtype=bool)
    with np.errstate(invalid="ignore", divide="ignore"):
        h = A / (s * _SQRT2PI)
        # first-order propagation; the A-sigma covariance is not stored in the
        # parameter maps and is neglected
        sh = np.abs(h) * np.sqrt((sA / A) ** 2 + (ss / s) ** 2)
    mask = np.asarray(model._channel_switches, dtype=bool)
    x = axis.axis[mask] if mask.size == axis.size else axis.axis
    n_ch = int(mask.sum())
    dof = np.asarray(model.dof.data, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        red = np.asarray(model.chisq.data, dtype=float) / (n_ch - dof)
    red = np.where(unset, np.nan, red)
    dx = float(np.abs(np.median(np.diff(x)))) if x.size > 1 else 1.0
    flags = quality_flags(
        A,
        sA,
        c,
        s,
        (float(x.min()), float(x.max())),
        dx,
        convergence=unset.astype(np.int8),
        reduced_chisq=red,
        min_significance=min_significance,
        max_reduced_chisq=max_reduced_chisq,
    )
    area_units = f"counts {units}" if not axis.is_binned else "counts"
    out = {}
    for name, v, sv, un in (
        ("centre", c, sc, units),
        ("fwhm", s * SIGMA2FWHM, ss * SIGMA2FWHM, units),
        ("sigma", s, ss, units),
        ("height", h, sh, "counts"),
        ("area", A, sA, area_units),
    ):
        out[name] = _map_signal(model, v, f"Emission {name}", un, name)
        out[f"{name}_std"] = _map_signal(
            model, sv, f"Emission {name} standard deviation", un, f"{name} std"
        )
    out["reduced_chisq"] = _map_signal(
        model, red, "Reduced chi-squared", "", "reduced chi-squared"
    )
    q = _map_signal(model, flags, "Fit quality flags (0 = good)", "", "quality flags")
    q.metadata.set_item(
        "Signal.quality_flags", {str(k): v for k, v in QUALITY_FLAGS.items()}
    )
    out["quality"] = q
    out["valid"] = _map_signal(model, flags == 0, "Valid fit mask", "", "valid")
    t = _find(model, tail, UrbachTail, required=False)
    if t is not None:
        eu = np.asarray(t.Eu.map["values"], dtype=float)
        seu = np.asarray(t.Eu.map["std"], dtype=float)
        factor, eu_units = (1e3, "meV") if units == "eV" else (1.0, units)
        out["urbach_energy"] = _map_signal(
            model, eu * factor, "Urbach energy", eu_units, "Eu"
        )
        out["urbach_energy_std"] = _map_signal(
            model, seu * factor, "Urbach energy standard deviation", eu_units, "Eu std"
        )
    return out


def _find(model, which, cls, required=True):
    if which is None:
        found = [c for c in model if type(c) is cls]
        if not found:
            if not required:
                return None
            raise ValueError(
                f"The model holds no {cls.__name__} component; fit it with "
                "`s.fit_emission(...)` or add one."
            )
        return found[0]
    if isinstance(which, str):
        try:
            which = model[which]
        except (ValueError, KeyError, IndexError) as err:
            raise ValueError(f"The model has no component named {which!r}.") from err
    if not isinstance(which, cls):
        raise TypeError(
            f"Expected a {cls.__name__} component, got {type(which).__name__}."
        )
    return which


def _values(signal):
    if not isinstance(signal, BaseSignal):
        raise TypeError(f"Expected a map signal, got {type(signal).__name__}.")
    return np.asarray(signal.data, dtype=float)


def _units(signal):
    q = signal.metadata.get_item("Signal.quantity", "")
    if "(" in q and q.endswith(")"):
        return q[q.index("(") + 1 : -1]
    return ""


def emission_histograms(maps, names=MAP_NAMES, bins=30, valid=None):
    """Histogram of each emission map over the valid pixels.

    Parameters
    ----------
    maps : dict
        Output of :func:`emission_maps`.
    names : sequence of str
        Which maps to histogram.
    bins : int
    valid : hyperspy signal or array of bool, optional
        Pixels to use; default ``maps["valid"]``.

    Returns
    -------
    dict of hyperspy.signals.Signal1D
        One binned histogram per name (axis in the map's unit).
    """
    v = _valid(maps, valid)
    out = {}
    for name in names:
        if name not in maps:
            raise ValueError(f"No map named {name!r}; available: {sorted(maps)}.")
        counts, edges = histogram_valid(_values(maps[name]), v, bins=bins)
        h = Signal1D(counts.astype(float))
        ax = h.axes_manager.signal_axes[0]
        ax.offset = float(edges[0] + 0.5 * (edges[1] - edges[0]))
        ax.scale = float(edges[1] - edges[0])
        ax.name = name
        ax.units = _units(maps[name])
        ax.is_binned = True
        h.metadata.General.title = (
            f"Histogram of {name} ({int(counts.sum())} valid pixels)"
        )
        h.metadata.Signal.quantity = "pixels"
        out[name] = h
    return out


def emission_histogram2d(maps, x="centre", y="sigma", bins=30, valid=None):
    """2D histogram of two emission maps over the valid pixels.

    Returns
    -------
    hyperspy.signals.Signal2D
        Counts; horizontal axis ``x``, vertical axis ``y`` (Li et al., Nat. Commun. 14, 7612 (2023), Fig.
        S11: centre vs width and centre vs intensity).
    """
    v = _valid(maps, valid)
    for n in (x, y):
        if n not in maps:
            raise ValueError(f"No map named {n!r}; available: {sorted(maps)}.")
    counts, ex, ey = histogram2d_valid(_values(maps[x]), _values(maps[y]), v, bins=bins)
    h = Signal2D(counts.T)
    for ax, e, n in zip(h.axes_manager.signal_axes, (ex, ey), (x, y), strict=True):
        ax.offset = float(e[0] + 0.5 * (e[1] - e[0]))
        ax.scale = float(e[1] - e[0])
        ax.name = n
        ax.units = _units(maps[n])
    h.metadata.General.title = f"2D histogram of {y} vs {x}"
    h.metadata.Signal.quantity = "pixels"
    return h


def _valid(maps, valid):
    if valid is None:
        if "valid" not in maps:
            raise ValueError("Pass `valid=` or maps holding a 'valid' mask.")
        valid = maps["valid"]
    v = np.asarray(valid.data if isinstance(valid, BaseSignal) else valid, dtype=bool)
    return v


def plot_emission_statistics(maps, bins=30, valid=None, intensity="area", fig=None):
    """Figure of the emission statistics (after Li et al., Nat. Commun. 14, 7612 (2023), Fig. S11).

    Histograms of centre, sigma and intensity, and 2D histograms of centre vs
    sigma and centre vs intensity, over the valid pixels.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    hist = emission_histograms(
        maps, ("centre", "sigma", intensity), bins=bins, valid=valid
    )
    if fig is None:
        fig = plt.figure(figsize=(11, 6.5))
    axes = fig.subplots(2, 3)
    for ax, name in zip(axes[0], ("centre", "sigma", intensity), strict=True):
        h = hist[name]
        a = h.axes_manager.signal_axes[0]
        ax.bar(a.axis, h.data, width=a.scale, color="C0")
        ax.set_xlabel(f"{name} ({a.units})" if a.units else name)
        ax.set_ylabel("pixels")
    for ax, yname in zip(axes[1][:2], ("sigma", intensity), strict=True):
        h2 = emission_histogram2d(maps, "centre", yname, bins=bins, valid=valid)
        xa, ya = h2.axes_manager.signal_axes
        ext = (
            xa.low_value - xa.scale / 2,
            xa.high_value + xa.scale / 2,
            ya.low_value - ya.scale / 2,
            ya.high_value + ya.scale / 2,
        )
        im = ax.imshow(
            h2.data, origin="lower", extent=ext, aspect="auto", cmap="viridis"
        )
        ax.set_xlabel(f"centre ({xa.units})")
        ax.set_ylabel(f"{yname} ({ya.units})" if ya.units else yname)
        fig.colorbar(im, ax=ax, label="pixels")
    v = _valid(maps, valid)
    axes[1][2].imshow(np.where(v, _values(maps["centre"]), np.nan), cmap="viridis")
    axes[1][2].set_title("centre map (valid pixels)")
    axes[1][2].axis("off")
    fig.tight_layout()
    return fig
