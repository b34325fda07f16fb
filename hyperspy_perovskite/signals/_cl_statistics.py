"""Emission maps, their histograms and 2D histograms as HyperSpy signals.

Thin wrappers: arrays from :mod:`hyperspy_perovskite.analysis.cl_emission` become
signals with axes, units and titles (Li et al., Nat. Commun. 14, 7612 (2023), Fig. 2c-f, S10-S11).
"""

import numpy as np
from hyperspy.signals import BaseSignal, Signal1D, Signal2D

from hyperspy_perovskite.analysis import cl_maps
from hyperspy_perovskite.analysis.cl_checks import runs_test
from hyperspy_perovskite.analysis.cl_emission import SIGMA2FWHM
from hyperspy_perovskite.analysis.cl_maps import histogram2d_valid, histogram_valid
from hyperspy_perovskite.components.voigt_emission import voigt_fwhm, voigt_quantities
from hyperspy_perovskite.fitting._residuals import residual_statistics as fast
from hyperspy_perovskite.signals._base import Options, wrap_navigation_map
from hyperspy_perovskite.signals._cl_consistency import consistency_validity
from hyperspy_perovskite.signals._cl_curves import pixel_model
from hyperspy_perovskite.signals._cl_limits import (
    limit_identified,
    limit_parameter,
    neighbour_identified,
    tail_band,
    tail_identified,
)
from hyperspy_perovskite.signals._cl_shared import held_tail
from hyperspy_perovskite.signals._cl_urbach import eu_tested, tail_validity
from hyperspy_perovskite.validity import Validity, validity_from_fit

_SQRT2PI = float(np.sqrt(2.0 * np.pi))

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


def residual_structure(m, block=4096, width=5):
    """Runs-test z-score and systematic residual size of every pixel's fit.

    Returns ``z`` (see :func:`~hyperspy_perovskite.analysis.cl_checks.runs_test`:
    strongly negative values mean the residuals keep structure) and ``size``,
    the largest absolute residual after a ``width``-channel boxcar, relative
    to the largest value of the model above its minimum (the band height):
    how large the structure the model misses is. NaN where unset.
    """
    from scipy.ndimage import uniform_filter1d

    ax = m.signal.axes_manager.signal_axes[0]
    switches = np.asarray(m._channel_switches, dtype=bool)
    x = np.asarray(ax.axis, float)[switches]
    data = m.signal.data
    nav = m.signal.axes_manager._navigation_shape_in_array
    n = int(np.prod(nav)) if nav else 1
    flat = data.reshape(n, -1)
    z = np.full(n, np.nan)
    size = np.full(n, np.nan)
    for i in range(0, n, block):
        idx = np.arange(i, min(n, i + block))
        y = flat[idx]
        if not isinstance(y, np.ndarray):
            y = y.compute()
        y = np.asarray(y, float)[:, switches]
        with np.errstate(all="ignore"):
            model = pixel_model(m, x, idx)
            r = y - model
            z[idx] = runs_test(r)
            smooth = uniform_filter1d(np.nan_to_num(r), width, axis=-1)
            height = model.max(-1) - model.min(-1)
            size[idx] = np.abs(smooth).max(-1) / height
    return z.reshape(nav), size.reshape(nav)


#: Default physical ranges of the Urbach energy (eV): tens of meV for CsPbX3
#: (ref. 33 of X. Li et al., Nat. Commun. 14, 7612 (2023)); below 2 meV the
#: tail is steeper than any broadening of a room-temperature band, above
#: 200 meV it is a background, not a tail.
URBACH_RANGE_EV = (0.002, 0.2)


def _param(c, name):
    p = getattr(c, name)
    return (
        np.asarray(p.map["values"], float),
        np.asarray(p.map["std"], float),
        p,
    )


def _bounds(c, names, bounded=True):
    out = {}
    if not bounded:
        return out
    for n in names:
        p = getattr(c, n)
        if p.free and p.twin is None and (p.bmin is not None or p.bmax is not None):
            out[n] = (p.bmin, p.bmax)
    return out


def emission_validity(
    model,
    component=None,
    tail=None,
    n_sigma=3.0,
    resolution=None,
    max_reduced_chisq=None,
    residual_test=True,
    max_residual=0.1,
):
    """Validity of a fitted band (and of its tail) from all its parameters.

    A pixel is valid when the fit converged, no parameter is at a bound, the
    band area exceeds ``n_sigma`` standard deviations corrected for the
    look-elsewhere effect (``analysis.cl_maps.band_detection``), the centre
    lies in the fitted range, the width is at least the resolution (one channel
    when it is not known: a one-channel "band" is a spike or a sharp line)
    and at most half the range, the residuals show no structure that is both
    significant (runs test ``z < -n_sigma``) and large (smoothed residual
    above ``max_residual`` of the band height: the model does not describe
    the band), and, when given, the reduced chi-squared is below
    ``max_reduced_chisq``; ``tau`` / a Voigt's ``gamma`` at 0 is the valid
    Gaussian limit, judged apart. The tail is valid where the band is and, in
    addition, its amplitude is significant, ``Eu`` lies in
    :data:`URBACH_RANGE_EV`, is resolved (else ``"Eu not resolved below the
    band width"``: :func:`~hyperspy_perovskite.signals._cl_urbach.urbach_resolution`,
    which ``fit_emission`` runs; for a model fitted by ``m.multifit`` run
    :func:`~hyperspy_perovskite.signals._cl_urbach.check_urbach_resolution`,
    else ``"Eu resolution not tested (run m.check_urbach_resolution())"``)
    and its edge in the fitted range. The band the
    tail belongs to (the one its width or edge is twinned to) is valid only
    where that tail is identified (:func:`~hyperspy_perovskite.signals._cl_limits.tail_identified`: tail valid and
    a free edge within :data:`~hyperspy_perovskite.signals._cl_limits.TAIL_EDGE_REACH` band sigmas of the centre),
    else rejected as ``"band tail not identified"``: band and tail are not
    told apart there, and the band's parameters mean nothing. Likewise an
    asymmetric band in its Gaussian limit and a band unresolved from it on
    its tail side are both rejected as ``"asymmetric tail and minor band not
    identified"``
    (:func:`~hyperspy_perovskite.signals._cl_limits.neighbour_identified`).

    Returns
    -------
    band : Validity
    tail : Validity or None
    residual_z, residual_size, reduced_chisq : numpy.ndarray
    """
    g = _find_band(model, component)
    ax = model.signal.axes_manager.signal_axes[0]
    switches = np.asarray(model._channel_switches, dtype=bool)
    x = np.asarray(ax.axis, float)[switches]
    lo, hi = float(x.min()), float(x.max())
    dx = float(np.median(np.abs(np.diff(x)))) if x.size > 1 else 1.0
    w_min = dx if resolution is None else max(dx, resolution / SIGMA2FWHM)
    names, values, std, widths = _band_widths(g, w_min, 0.5 * (hi - lo))
    lim = limit_parameter(g)
    if lim is not None and lim.name in names:  # its Gaussian limit is valid
        names.remove(lim.name)
        values.pop(lim.name), std.pop(lim.name)
    converged = np.asarray(g.A.map["is_set"], bool)
    n_ch = int(switches.sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        red = np.asarray(model.chisq.data, float) / (
            n_ch - np.asarray(model.dof.data, float)
        )
    red = np.where(converged, red, np.nan)
    extra = {}
    z, size = fast(model, pixels=converged) or residual_structure(model)  # or numpy
    z, size = np.where(converged, z, np.nan), np.where(converged, size, np.nan)
    if residual_test:
        # the model misses structure: significant (runs test) AND large
        # against the band (a fraction max_residual of its height)
        misses = (z < -n_sigma) & (size > max_residual)
        values["residual structure"] = np.where(misses, 1.0, 0.0)
        extra["residual structure"] = (None, 0.5)
    values["A detection"] = cl_maps.band_detection(values, std, hi - lo, n_sigma)
    band = validity_from_fit(
        values,
        std,
        converged=converged,
        bounds=_bounds(g, names),
        significant=["A"],
        n_sigma=n_sigma,
        ranges={"centre": (lo, hi), **widths, **extra, "A detection": (1.0, None)},
        reduced_chisq=red,
        max_reduced_chisq=max_reduced_chisq,
    ) & neighbour_identified(model, g, _band_classes())
    t = _find(model, tail, _tail_classes(), required=False)
    tail_v = None
    if t is not None:
        eu_range = URBACH_RANGE_EV if ax.units == "eV" else (None, None)
        tb = {f"tail {k}": b for k, b in _bounds(t, ["A", "E0", "Eu"]).items()}
        own = tail_validity(
            t, eu_range, (lo, hi), tb, n_sigma, eu_tested(model, t, n_sigma)
        )
        if tail_band(model, t, _band_classes()) is g and not held_tail(t):
            band = band & tail_identified(g, t, own)  # its tail's band
        shared = consistency_validity(model)  # a shared shape's test
        band = band if shared is None else band & shared
        tail_v = band & own
    return band, tail_v, z, size, red


def _limit_validity(g, name, band_v):
    """The band's validity, and for its limit parameter (``tau``, a Voigt's
    ``gamma``) that it is identified (else the band is its Gaussian limit
    and the parameter is not measured: ``_cl_limits.gaussian_limit``)."""
    lim = limit_parameter(g)
    if lim is None or lim.name != name:
        return band_v
    ok = limit_identified(lim)
    return band_v & Validity(ok, np.where(ok, 0, 1), (f"{name} not identified",))


def _band_widths(g, w_min, half_range):
    """The parameters judged for a band and the allowed range of its width.

    ``w_min`` is the smallest standard deviation (one channel, or the
    resolution); a Lorentzian is judged on its half width, a Voigt on its
    total FWHM (:func:`~hyperspy_perovskite.components.voigt_emission.voigt_fwhm`).
    """
    names = ["A", "centre"] + [n for n in ("sigma", "gamma", "tau") if hasattr(g, n)]
    values = {n: _param(g, n)[0] for n in names}
    std = {n: _param(g, n)[1] for n in names}
    if hasattr(g, "gamma") and hasattr(g, "sigma"):
        values["fwhm"] = voigt_fwhm(values["sigma"], values["gamma"])
        ranges = {"fwhm": (SIGMA2FWHM * w_min, SIGMA2FWHM * half_range)}
    elif hasattr(g, "gamma"):
        ranges = {"gamma": (w_min * SIGMA2FWHM / 2.0, half_range)}
    else:
        ranges = {"sigma": (w_min, half_range)}
    return names, values, std, ranges


def _tail_classes():
    from hyperspy_perovskite.components import ContinuousUrbachTail, UrbachTail

    return (UrbachTail, ContinuousUrbachTail)


def _band_classes():
    from hyperspy.api import model as hs_model

    from hyperspy_perovskite.components import (
        AsymmetricEmission,
        GaussianEmission,
        VoigtEmission,
    )

    return (
        GaussianEmission,
        AsymmetricEmission,
        VoigtEmission,
        hs_model.components1D.Lorentzian,
    )


def _find_band(model, component):
    return _find(model, component, _band_classes())


def emission_maps(
    model,
    component=None,
    tail=None,
    n_sigma=3.0,
    resolution=None,
    max_reduced_chisq=None,
    residual_test=True,
    max_residual=0.1,
    keep_invalid=False,
):
    """Maps of a fitted emission band, with uncertainties and validity.

    Parameters
    ----------
    model : hyperspy.models.model1d.Model1D
        A model fitted by ``fit_emission`` (or holding a band component:
        ``GaussianEmission``, ``AsymmetricEmission`` or ``Lorentzian``).
    component : str or component, optional
        The band to map; default the first band (``"Emission"``, the
        higher-energy band of a two-band fit).
    tail : str or component, optional
        The tail to map as ``urbach_energy``; default the first Urbach tail.
    n_sigma : float
        Significance threshold of the band (and tail) amplitude, and of the
        residual runs test.
    resolution : float, optional
        Spectral resolution (FWHM, axis unit): narrower "bands" are
        rejected. Default: one channel.
    max_reduced_chisq : float, optional
        Also reject pixels whose reduced chi-squared exceeds this (meaningful
        with Poisson or known-variance weights).
    residual_test : bool
        Reject pixels whose residuals keep structure that is significant
        (runs test) and larger than ``max_residual`` times the band height.
    max_residual : float
    keep_invalid : bool
        Keep raw values outside the validity (default: NaN there).

    Returns
    -------
    dict of hyperspy signals
        ``centre``, ``fwhm``, ``sigma``, ``height``, ``area`` (``tau`` for an
        asymmetric band), each with ``<name>_std``; ``reduced_chisq``;
        ``residual_z`` (runs test) and ``residual_size`` (largest smoothed
        residual / band height); ``quality`` (uint32 reasons, 0 = valid,
        names in ``metadata.Validity.reason_names``); ``valid`` (bool); with a
        tail ``urbach_energy`` and ``urbach_energy_std`` (meV on an eV axis),
        NaN where the tail is not valid, and ``centroid``, ``centroid_std``:
        the centroid of all the emission (data less fitted background),
        which needs no band/tail split (use it where the band is "band tail
        not identified"). Every map carries its
        :class:`~hyperspy_perovskite.validity.Validity`.
    """
    g = _find_band(model, component)
    band_v, tail_v, z, size, red = emission_validity(
        model,
        component=g,
        tail=tail,
        n_sigma=n_sigma,
        resolution=resolution,
        max_reduced_chisq=max_reduced_chisq,
        residual_test=residual_test,
        max_residual=max_residual,
    )
    ax = model.signal.axes_manager.signal_axes[0]
    units = ax.units
    area_units = f"counts {units}" if not ax.is_binned else "counts"
    out = {}
    for name, v, sv, un in _band_quantities(g, units, area_units):
        vv = _limit_validity(g, name, band_v)
        out[name] = _map(model, v, f"Emission {name}", un, name, vv, keep_invalid)
        out[f"{name}_std"] = _map(
            model, sv, f"Emission {name} std", un, f"{name} std", vv, keep_invalid
        )
    out["reduced_chisq"] = _map(model, red, "Reduced chi-squared", "", "chi2", None)
    out["residual_z"] = _map(model, z, "Residual runs test z", "", "z", None)
    out["residual_size"] = _map(
        model, size, "Largest smoothed residual / band height", "", "size", None
    )
    out["quality"] = _map(
        model, band_v.reasons, "Rejection reasons (0 = valid)", "", "reasons", band_v
    )
    out["valid"] = _map(model, band_v.mask, "Valid fit mask", "", "valid", band_v)
    out["quality"].data = band_v.reasons  # raw bit flags, not masked
    out["valid"].data = band_v.mask
    t = _find(model, tail, _tail_classes(), required=False)
    if t is not None:
        eu = np.asarray(t.Eu.map["values"], dtype=float)
        seu = np.asarray(t.Eu.map["std"], dtype=float)
        factor, eu_units = (1e3, "meV") if units == "eV" else (1.0, units)
        out["urbach_energy"] = _map(
            model, eu * factor, "Urbach energy", eu_units, "Eu", tail_v, keep_invalid
        )
        out["urbach_energy_std"] = _map(
            model,
            seu * factor,
            "Urbach energy std",
            eu_units,
            "Eu std",
            tail_v,
            keep_invalid,
        )
        out["urbach_valid"] = _map(
            model, tail_v.mask, "Valid Urbach tail mask", "", "valid", tail_v
        )
        out["urbach_valid"].data = tail_v.mask
        if getattr(model, "_shared_urbach", None):  # _cl_shared.shared_fit
            md = dict(model._shared_urbach)
            out["urbach_energy"].metadata.set_item("Signal.shared_urbach_energy", md)
        out.update(_centroid(model, units, n_sigma, keep_invalid))
    return out


def _centroid(model, units, n_sigma, keep_invalid):
    """Emission centroid maps (``_cl_centroid``): estimable where band and
    tail are not told apart ("band tail not identified")."""
    from hyperspy_perovskite.signals._cl_centroid import centroid_maps

    bands = [c for c in model if type(c) in _band_classes() + _tail_classes()]
    c, std, v = centroid_maps(model, bands, n_sigma)
    title, q = "Emission centroid", "centroid"
    return {
        "centroid": _map(model, c, title, units, q, v, keep_invalid),
        "centroid_std": _map(
            model, std, f"{title} std", units, f"{q} std", v, keep_invalid
        ),
    }


def _band_quantities(g, units, area_units):
    A, sA = _param(g, "A")[:2]
    c, sc = _param(g, "centre")[:2]
    rows = [("centre", c, sc, units)]
    with np.errstate(invalid="ignore", divide="ignore"):
        if hasattr(g, "gamma") and hasattr(g, "sigma"):  # Voigt
            s, ss = _param(g, "sigma")[:2]
            gm, sg = _param(g, "gamma")[:2]
            # Gaussian limit: gamma fixed at 0, no error of its own
            fixed = np.isfinite(gm) & ~limit_identified(g.gamma)
            f, sf, h, sh = voigt_quantities(A, sA, s, ss, gm, np.where(fixed, 0, sg))
            rows += [("fwhm", f, sf, units), ("sigma", s, ss, units)]
            rows += [("gamma", gm, sg, units), ("height", h, sh, "counts")]
        elif hasattr(g, "gamma"):  # Lorentzian: gamma is the half width
            w, sw = _param(g, "gamma")[:2]
            h = A / (np.pi * w)
            sh = np.abs(h) * np.sqrt((sA / A) ** 2 + (sw / w) ** 2)
            rows += [("fwhm", 2 * w, 2 * sw, units), ("sigma", w, sw, units)]
            rows += [("gamma", w, sw, units), ("height", h, sh, "counts")]
        else:
            w, sw = _param(g, "sigma")[:2]
            h = A / (w * _SQRT2PI)
            # first-order propagation; the A-sigma covariance is not stored
            # in the parameter maps and is neglected
            sh = np.abs(h) * np.sqrt((sA / A) ** 2 + (sw / w) ** 2)
            rows += [
                ("fwhm", w * SIGMA2FWHM, sw * SIGMA2FWHM, units),
                ("sigma", w, sw, units),
                ("height", h, sh, "counts"),
            ]
    rows.append(("area", A, sA, area_units))
    if hasattr(g, "tau"):
        tau, stau = _param(g, "tau")[:2]
        rows.append(("tau", tau, stau, units))
    return rows


def _map(model, data, title, units, quantity, validity, keep_invalid=True):
    return wrap_navigation_map(
        np.asarray(data),
        model.signal,
        title=title,
        quantity=quantity,
        units=units,
        options=Options(),
        validity=validity,
        keep_invalid=keep_invalid,
    )


def _find(model, which, cls, required=True):
    classes = cls if isinstance(cls, tuple) else (cls,)
    names = " or ".join(k.__name__ for k in classes)
    if which is None:
        found = [c for c in model if type(c) in classes]
        if not found:
            if not required:
                return None
            raise ValueError(
                f"The model holds no {names} component; fit it with "
                "`s.fit_emission(...)` or add one."
            )
        return found[0]
    if isinstance(which, str):
        try:
            which = model[which]
        except (ValueError, KeyError, IndexError) as err:
            raise ValueError(f"The model has no component named {which!r}.") from err
    if not isinstance(which, classes):
        raise TypeError(f"Expected a {names} component, got {type(which).__name__}.")
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
