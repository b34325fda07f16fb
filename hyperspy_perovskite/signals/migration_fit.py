"""Fit migration profiles: D, mobility, decay length and the Einstein check.

A thin signal-facing layer: it validates the profile signal, builds the
domain model :class:`~hyperspy_perovskite.models.MigrationModel` (a HyperSpy
model, like exSpy's ``EDSTEMModel``) with the migration components
(:class:`~hyperspy_perovskite.components.Interdiffusion`,
:class:`~hyperspy_perovskite.components.DriftDiffusionAccumulation`,
:class:`~hyperspy_perovskite.components.DriftDiffusionTransient`), fits every
profile with :func:`hyperspy_perovskite.fitting.fast_multifit`; the model
converts the fitted lengths into physical quantities
(:mod:`hyperspy_perovskite.analysis.drift_diffusion`) and keeps them, the
flags and the validity through ``m.save`` / ``MigrationModel.restore``.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pint
from hyperspy.signals import Signal1D

from hyperspy_perovskite.analysis.drift_diffusion import thermal_voltage
from hyperspy_perovskite.analysis.migration_ranges import layer_end, layer_fit_range
from hyperspy_perovskite.components import (
    DriftDiffusionAccumulation,
    DriftDiffusionTransient,
    Interdiffusion,
)
from hyperspy_perovskite.components._profile_common import (
    optional_time,
    side_sign,
)
from hyperspy_perovskite.metadata import DeviceGeometry
from hyperspy_perovskite.models.migration import MigrationModel
from hyperspy_perovskite.units import (
    axis_factor,
    axis_values,
    parse_quantity,
    same_dimension,
)
from hyperspy_perovskite.units_arguments import parse_range

__all__ = ["MigrationFit", "MigrationModel", "fit_migration_profile"]

_MODELS = ("steady", "transient", "interdiffusion")


#: The former name of the result of :func:`fit_migration_profile`, now the
#: domain model :class:`~hyperspy_perovskite.models.MigrationModel`.
MigrationFit = MigrationModel


def _validate_profile(profile):
    if not isinstance(profile, Signal1D):
        raise TypeError(
            "profile must be a HyperSpy Signal1D whose signal axis is the "
            f"position across the stack, got {type(profile).__name__}. Use "
            "s.as_signal1D(axis) or a line profile from the EDX signal."
        )
    axis = profile.axes_manager.signal_axes[0]
    factor = axis_factor(axis, "nm", name="the profile position")
    if axis.size < 5:
        raise ValueError(
            f"The profile has {axis.size} points; at least 5 are needed to fit."
        )
    return axis, factor


def _poisson_copy(profile, poisson):
    """A shallow copy carrying a variance, so the input is never modified."""
    s = profile._deepcopy_with_new_data(profile.data, copy_variance=True)
    if poisson and s.metadata.get_item("Signal.Noise_properties.variance") is None:
        data = s.data
        if not profile._lazy:
            if np.any(np.asarray(data) < 0):
                raise ValueError(
                    "poisson=True needs counts (non-negative data); pass "
                    "poisson=False or set the noise variance in "
                    "metadata.Signal.Noise_properties.variance."
                )
        # Poisson: variance = expected counts, floored at 1 count
        var = s._deepcopy_with_new_data(np.maximum(data, 1.0))
        s.metadata.set_item("Signal.Noise_properties.variance", var)
    return s


def _interfaces_nm(profile, nm):
    """Interface names and positions (axis units) from the profile metadata.

    Profiles from
    :meth:`~hyperspy_perovskite.signals.eds_biased.EDSTEMBiasedSpectrum.get_element_profiles`
    carry ``Device.Geometry`` (positions in nm from the line start) and
    ``Device.Profile.reference`` (the interface the axis is measured from).
    """
    geom = DeviceGeometry.from_metadata(profile.metadata, required=False)
    if geom is None:
        return {}
    ref = profile.metadata.get_item("Device.Profile.reference", "start")
    ref_pos = geom.interface(ref) if ref in geom.interface_names else 0.0
    return {n: (p - ref_pos) / nm for n, p in geom.interfaces.items()}


def _axis_length(value, units, what):
    """A position or length in the axis units: a number (axis units), or a
    string or quantity with a unit, converted."""
    if isinstance(value, str | pint.Quantity):
        return parse_quantity(value, units, name=what)
    return float(value)


def _with_units(time, thickness, signal_range, temperature, units):
    """``time`` (s), ``thickness`` and ``signal_range`` (axis ``units``) and
    ``temperature`` (K) from numbers, strings or quantities."""
    if isinstance(time, str | pint.Quantity):
        time = parse_quantity(time, "s", name="time")
    if thickness is not None:
        thickness = _axis_length(thickness, units, "thickness")
    signal_range = parse_range(signal_range, units, name="signal_range")
    temperature = parse_quantity(temperature, "K", name="temperature")
    return time, thickness, signal_range, temperature


def _resolve_position(value, interfaces, what, units):
    if isinstance(value, str) and re.match(r"\s*[-+]?[\d.]", value):
        return _axis_length(value, units, what)  # "120 nm"
    if isinstance(value, str):
        if value not in interfaces:
            raise ValueError(
                f"Unknown interface {value!r} for {what}; the profile's "
                f"metadata.Device.Geometry has {sorted(interfaces) or 'none'}. "
                "Give a position in the axis units instead."
            )
        return float(interfaces[value])
    return _axis_length(value, units, what)


def _resolution(profile, resolution):
    """Blur std in nm: given, from ``Device.Profile.resolution``, or 0."""
    from hyperspy_perovskite.units import parse_quantity

    if resolution is None:
        resolution = profile.metadata.get_item("Device.Profile.resolution", 0.0)
    r = parse_quantity(resolution, "nm", name="resolution")
    if not (np.isfinite(r) and r >= 0):
        raise ValueError(f"resolution must be a length >= 0 (nm), got {resolution!r}.")
    return r


def _times(profile, time, required):
    """Bias time(s) in s: a scalar, a navigation-shaped array, or (``None``)
    the values of the profile's one navigation time axis (s, ms, min, h...)
    in s."""
    nav = profile.axes_manager.navigation_shape[::-1]
    if time is None:
        axes = [
            ax
            for ax in profile.axes_manager.navigation_axes
            if same_dimension(str(ax.units), "s")
        ]
        if required and len(axes) == 1 and len(nav) >= 1:
            ax = axes[0]
            # navigation axes are listed fastest first; the array order is
            # reversed
            k = len(nav) - 1 - profile.axes_manager.navigation_axes.index(ax)
            shape = [1] * len(nav)
            shape[k] = nav[k]
            t = axis_values(ax, "s", name="bias time").reshape(shape)
            t = np.broadcast_to(t, nav).copy()
        else:
            return optional_time(None, required=required)
    elif np.ndim(time) == 0:
        return optional_time(time, required=required)
    else:
        try:
            t = np.broadcast_to(np.asarray(time, dtype=float), nav).copy()
        except ValueError:
            raise ValueError(
                f"time must be a duration in s or an array broadcastable to the "
                f"navigation shape {nav}, got shape {np.shape(time)}."
            ) from None
    if not np.all(np.isfinite(t)) or np.any(t < 0):
        raise ValueError("time values must be finite durations >= 0 (s).")
    return t


def fit_migration_profile(
    profile,
    kind="steady",
    *,
    wall=None,
    side="right",
    interface=None,
    field=None,
    time=None,
    thickness=None,
    temperature=300.0,
    charge_number=1,
    diffusion_coefficient=None,
    background=None,
    signal_range=None,
    resolution=None,
    poisson=True,
    method="fast",
    show_progressbar=None,
    num_workers=None,
):
    """Fit ion-migration profiles and derive D, mobility and decay length.

    Parameters
    ----------
    profile : hyperspy.signals.Signal1D
        Profile(s) across the stack (EDX or EELS line scan, element profile);
        the signal axis is a length (nm, um, ...). Any navigation shape
        (frames, states, pixels) is fitted at once; lazy signals stay lazy.
    kind : {"steady", "transient", "interdiffusion"}
        "steady": :class:`~hyperspy_perovskite.components.DriftDiffusionAccumulation`
        (+ Offset) -> decay length ``lambda``, ``D / mu = lambda E`` and the
        Einstein ratio; "transient":
        :class:`~hyperspy_perovskite.components.DriftDiffusionTransient` ->
        ``D``, ``mu``, ``lambda = D / (mu E)`` and the Einstein ratio;
        "interdiffusion": :class:`~hyperspy_perovskite.components.Interdiffusion`
        -> diffusion length ``2 sqrt(D t)``, interface position, ``D``.
    wall : float or str
        Blocking-electrode position: a number in the axis units (steady,
        transient), a string or quantity with a unit (``"120 nm"``), or
        the name of an interface in the profile's ``metadata.Device.Geometry``
        (as written by ``get_element_profiles``).
    side : {"right", "left"}
        Side of the wall on which the layer lies.
    interface : float, str or None
        Starting interface position or name (interdiffusion; default:
        estimated).
    field : float, str or None
        Applied field magnitude: a number in V/m (e.g. bias / layer
        thickness), or a string or quantity with a unit (``"2 V/um"``).
    time : float, str, array or None
        Bias or sintering duration in s (or one string or quantity with a
        unit, ``"5 min"``): one value, or one per navigation
        position (an array broadcastable to the navigation shape, e.g. the
        bias times of an operando series). ``None`` for "transient": the
        values of the profile's navigation axis in s (a series from
        ``get_element_profiles``). Entries with ``time == 0`` (the pristine
        state) are not fitted (their quantities are NaN). Required for
        "transient"; "interdiffusion" needs it for ``D``.
    thickness : float, str or None
        Thickness of the layer next to the wall (a number in the axis units,
        or ``"280 nm"``): the fitted
        range never goes past ``wall + thickness`` ("steady" and
        "transient"). For "transient" the layer is closed by a second
        blocking electrode there, for the exact closed-layer solution
        (:func:`~hyperspy_perovskite.analysis.drift_diffusion.transient_profile_closed_layer`).
        ``None``: the distance from the wall to the next interface of the
        profile geometry when there is one (a device layer), otherwise a
        semi-infinite layer. ``numpy.inf`` forces the semi-infinite form.
    temperature : float or str
        A number in K (or ``"25 degC"``), for the Einstein relation ``D / mu = k_B T / (z q)``.
    charge_number : int
        Ion charge number (sign ignored).
    diffusion_coefficient : float, str or None
        A known ``D`` (a number in m^2/s, or ``"1e-8 cm^2/s"``, e.g. from a transient or interdiffusion fit);
        with ``field`` the steady state then gives the mobility
        ``D / (lambda E)``.
    background : bool or None
        Add an ``Offset``: the immobile part of the element and the X-ray
        background (default: True for "steady" and the closed-layer
        transient, False otherwise).
    signal_range : (float, float) or None
        Fitted range (numbers in the axis units, or strings or quantities
        with a unit); default: the layer next to the wall, up to the next
        interface of the profile geometry or the axis end, without the bins
        that straddle the wall or that interface ("steady", closed-layer
        "transient"); its half next to the wall (semi-infinite "transient":
        the far electrode's depletion must stay outside the range, i.e.
        ``d + 3 s`` well below the range); the whole axis ("interdiffusion").
        A range given is clipped to the layer (with a warning).
    resolution : float, str or None
        Standard deviation of the Gaussian blur of the profile (probe size,
        interface roughness; number in nm, or ``"1.5 nm"``), convolved into
        all three models so that the lengths, ``lambda``, ``D`` and ``mu``
        are not biased by it; the default "steady" and "transient" ranges
        then start 3 std past the wall and end 3 std before the next
        interface (where the blurred steps of the immobile level, of the
        electrode's and of the next layer's own signal have died out). The bins'
        own width is added (a box of width ``b`` blurs by ``b / sqrt(12)``).
        Default:
        ``metadata.Device.Profile.resolution`` (nm) when set, else none.
    poisson : bool
        Weight by Poisson variance (the counts, floored at 1) unless the
        profile already carries ``metadata.Signal.Noise_properties.variance``
        (which is then used as is, and the data may be negative, e.g.
        background-subtracted).
    method : {"fast", "multifit"}
        :func:`~hyperspy_perovskite.fitting.fast_multifit` (default, also for
        a single profile) or HyperSpy's ``m.multifit`` (reference path).
    show_progressbar, num_workers
        Passed to the fit.

    Returns
    -------
    MigrationModel
        The fitted model (flags, chi-squared, validity and the fit set-up
        persist with ``m.store()`` / ``m.save()``; restore it with
        ``MigrationModel.restore(signal, name)``), ``m.result`` (the
        ``fast_multifit`` flags), and the quantities with standard
        deviations, read as ``m["D"]`` (:class:`MigrationQuantity`) or as maps
        with ``m.quantity_map("D")``:
        ``decay_length`` (nm), ``effective_field`` (V/m, the field the
        Einstein relation implies), ``D_over_mu`` (V), ``einstein_ratio``
        (``(D / mu) / (k_B T / z q)``, 1 when the Einstein relation holds
        with the applied field), ``D`` (m^2/s), ``mobility`` (m^2/(V s)),
        ``drift_distance``/``length``/``interface`` (nm). Entries whose fit
        did not converge are NaN; :meth:`MigrationModel.combined` averages a
        quantity over a series.

    Raises
    ------
    TypeError, ValueError
        For a profile that is not a Signal1D on a length axis, a missing or
        out-of-range wall, a missing time or field where needed, an unknown
        kind or method.

    Notes
    -----
    ``D`` and ``mu`` are determined separately only by a profile that has not
    reached its steady state: in a closed layer of thickness ``L`` that means
    a bias time below about ``L / (mu E)`` (the time the depletion front
    takes to cross the layer); a later profile gives only ``lambda = D / (mu
    E)`` ("steady"). For an operando series fit every frame with its own time
    and combine them with :meth:`MigrationModel.combined`.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.drift_diffusion import (
    ...     transient_profile_semi_infinite)
    >>> from hyperspy_perovskite.signals.migration_fit import fit_migration_profile
    >>> x = np.arange(0.0, 300.0, 2.0)
    >>> rng = np.random.default_rng(0)
    >>> counts = rng.poisson(200 * transient_profile_semi_infinite(x, 10.0, 20.0))
    >>> s = hs.signals.Signal1D(counts.astype(float))
    >>> s.axes_manager[-1].scale, s.axes_manager[-1].units = 2.0, "nm"
    >>> fit = fit_migration_profile(s, "transient", wall=0.0, field=1e6, time=100.0)
    >>> round(fit["drift_distance"].value / 10.0)
    1
    """
    if kind not in _MODELS:
        raise ValueError(f"kind must be one of {_MODELS}, got {kind!r}.")
    if method not in ("fast", "multifit"):
        raise ValueError(f"method must be 'fast' or 'multifit', got {method!r}.")
    axis, nm = _validate_profile(profile)
    sgn = side_sign(side)
    units = str(axis.units)
    time, thickness, signal_range, temperature = _with_units(
        time, thickness, signal_range, temperature, units
    )
    t = _times(profile, time, required=(kind == "transient"))
    field, D_known = _check_field_and_D(field, diffusion_coefficient)
    vt = float(thermal_voltage(temperature, charge_number))
    if thickness is not None and kind == "interdiffusion":
        raise ValueError(
            "thickness bounds the layer of kind='steady' or 'transient'; for "
            "interdiffusion give signal_range."
        )
    interfaces = _interfaces_nm(profile, nm)
    if interface is not None:
        interface = _resolve_position(interface, interfaces, "interface", units)
    wall, closed, interfaces = _layer(kind, axis, wall, sgn, thickness, interfaces)
    if background is None:
        background = kind == "steady" or closed is not None

    blur = _resolution(profile, resolution) / nm
    if blur > 0:  # a bin is a box average: add its variance, width^2 / 12
        blur = float(np.sqrt(blur**2 + np.abs(np.gradient(axis.axis)).mean() ** 2 / 12))
    s = _poisson_copy(profile, poisson)
    m = MigrationModel(s)
    t_scalar = None if t is None or np.ndim(t) else t
    if kind == "interdiffusion":
        comp = Interdiffusion(time=t_scalar, resolution=blur)
        rng = signal_range
    else:
        rng = layer_fit_range(
            axis.axis,
            wall,
            sgn,
            signal_range,
            list(interfaces.values()),
            half_layer=(kind == "transient" and closed is None),
            blur=blur,
            units=str(axis.units),
        )
        if kind == "steady":
            comp = DriftDiffusionAccumulation(wall=wall, side=side, resolution=blur)
        else:
            comp = DriftDiffusionTransient(
                wall=wall, side=side, time=t_scalar, thickness=closed, resolution=blur
            )
    m.append(comp)
    offset = None
    if background:
        from hyperspy.api import model as _hs_model

        offset = _hs_model.components1D.Offset()
        m.append(offset)
    x1, x2 = _snap_range(m, axis, rng)
    _starting_values(s, comp, offset, kind, closed, background, wall, sgn, (x1, x2))
    if kind == "interdiffusion" and interface is not None:
        comp.centre.map["values"][:] = float(interface)
    for c in m:
        c.fetch_stored_values()

    # the pristine entries of a series (t = 0) hold no transient to fit
    mask = None
    if kind == "transient" and np.ndim(t) and np.any(t <= 0):
        mask = t <= 0
        if mask.all():
            raise ValueError("Every time is 0: there is no transient to fit.")
    m.result = _run_fit(m, method, mask, show_progressbar, num_workers)
    m._set_setup(
        kind,
        field=field,
        D_known=D_known,
        vt=vt,
        time=t,
        closed=closed,
        rng=(x1, x2, wall, sgn),
        nm=nm,
        temperature=temperature,
        charge=charge_number,
    )
    conv = m.converged
    n_failed = int(np.sum(~conv if mask is None else ~conv & ~np.asarray(mask)))
    if n_failed:
        warnings.warn(
            f"{n_failed} profile(s) did not converge (see m.fit_flags): their "
            "quantities are NaN. A profile indistinguishable from the steady "
            "state in a transient fit has no minimum in D and mu; fit it with "
            "kind='steady'.",
            UserWarning,
            stacklevel=2,
        )
    m.update_quantities(warn=True)
    return m


def _check_field_and_D(field, diffusion_coefficient):
    if field is not None:
        field = parse_quantity(field, "V/m", name="field")
        if not np.isfinite(field) or field <= 0:
            raise ValueError(f"field must be a positive field in V/m, got {field!r}.")
    D_known = None
    if diffusion_coefficient is not None:
        D_known = parse_quantity(
            diffusion_coefficient, "m^2/s", name="diffusion_coefficient"
        )
        if not np.isfinite(D_known) or D_known <= 0:
            raise ValueError(
                f"diffusion_coefficient must be positive (m^2/s), got "
                f"{diffusion_coefficient!r}."
            )
    return field, D_known


def _layer(kind, axis, wall, sgn, thickness, interfaces):
    """Wall position, closed-layer thickness of the transient (axis units,
    None: semi-infinite) and the interfaces, with the layer end added when
    ``thickness`` is given."""
    closed = None
    if kind == "interdiffusion":
        return wall, closed, interfaces
    if wall is None:
        raise ValueError(
            "wall (the blocking-electrode position, axis units) is required "
            f"for kind={kind!r}; take it from the device geometry."
        )
    wall = _resolve_position(wall, interfaces, "wall", str(axis.units))
    layer_fit_range(axis.axis, wall, sgn, units=str(axis.units))  # checks the wall
    if kind == "transient":
        if thickness is None:
            far = layer_end(axis.axis, wall, sgn, list(interfaces.values()))
            closed = None if far is None else abs(far - wall)
        else:
            L = float(thickness)
            if np.isnan(L) or L <= 0:
                raise ValueError(
                    f"thickness must be a positive layer thickness (axis "
                    f"units) or numpy.inf, got {thickness!r}."
                )
            closed = None if np.isinf(L) else L
    if thickness is not None and np.isfinite(float(thickness)):
        # the layer ends at wall + thickness: never fit past it
        interfaces = {**interfaces, "_layer_end": wall + sgn * float(thickness)}
    return wall, closed, interfaces


def _snap_range(m, axis, rng):
    """Set the fitted range on the bin centres inside ``rng`` (HyperSpy rounds
    a range end to the nearest bin, which can put an electrode bin in the
    fit); returns its ends."""
    if rng is None:
        return float(axis.axis.min()), float(axis.axis.max())
    lo, hi = sorted(rng)
    inside = axis.axis[(axis.axis >= lo - 1e-9) & (axis.axis <= hi + 1e-9)]
    if inside.size < 5:
        raise ValueError(
            f"The fitted range {rng} holds {inside.size} points; at least 5 "
            "are needed (check wall, side and signal_range)."
        )
    m.set_signal_range(float(inside.min()), float(inside.max()))
    return float(inside.min()), float(inside.max())


def _starting_values(s, comp, offset, kind, closed, background, wall, sgn, xr):
    """Starting values of every profile: the vectorised estimators over the
    fitted range ``xr``."""
    from hyperspy_perovskite.components._profile_common import profile_slice

    x1, x2 = xr
    if closed is not None:
        from hyperspy_perovskite.analysis.migration_estimates import (
            estimate_closed_layer,
        )

        xx, dd_ = profile_slice(s, x1, x2, False)
        est = estimate_closed_layer(sgn * (xx - wall), dd_, closed, background)
        comp._create_arrays()
        for k, p in enumerate((comp.c_bulk, comp.drift_distance, comp.length)):
            p.map["values"][:] = est[..., k]
            p.map["is_set"][:] = True
        comp.wall.map["values"][:] = wall
        comp.wall.map["is_set"][:] = True
    else:
        comp.estimate_parameters(s, x1, x2, only_current=False)
    if offset is None:
        return
    offset._create_arrays()
    if closed is not None:
        bulk = est[..., 3]
    elif kind == "steady":
        from hyperspy_perovskite.analysis.migration_estimates import (
            estimate_accumulation,
        )

        xx, dd_ = profile_slice(s, x1, x2, False)
        bulk = estimate_accumulation(xx, dd_, wall, sgn)[..., 2]
    else:
        bulk = 0.0
    offset.offset.map["values"][:] = bulk
    offset.offset.map["is_set"][:] = True


def _run_fit(m, method, mask, show_progressbar, num_workers):
    """``fast_multifit`` (its result) or HyperSpy's ``multifit`` (None)."""
    if method == "fast":
        from hyperspy_perovskite.fitting import fast_multifit

        return fast_multifit(
            m,
            mask=mask,
            starting_values="current",
            show_progressbar=show_progressbar,
            num_workers=num_workers,
        )
    # grad="fd": with Poisson weights, HyperSpy 2.5's analytical-gradient
    # path stalled near the start for DriftDiffusionTransient in our
    # tests, while finite differences agree with fast_multifit
    m.multifit(
        bounded=True,
        grad="fd",
        mask=mask,
        show_progressbar=show_progressbar,
        iterpath="serpentine",
    )
    return None
