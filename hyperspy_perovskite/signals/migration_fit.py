"""Fit migration profiles: D, mobility, decay length and the Einstein check.

A thin signal-facing layer: it validates the profile signal, builds an
ordinary HyperSpy model with the migration components
(:class:`~hyperspy_perovskite.components.Interdiffusion`,
:class:`~hyperspy_perovskite.components.DriftDiffusionAccumulation`,
:class:`~hyperspy_perovskite.components.DriftDiffusionTransient`), fits every
profile with :func:`hyperspy_perovskite.fitting.fast_multifit` and converts
the fitted lengths into physical quantities with
:mod:`hyperspy_perovskite.analysis.drift_diffusion`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from hyperspy.signal import BaseSignal
from hyperspy.signals import Signal1D

from hyperspy_perovskite.analysis.device_geometry import to_nm
from hyperspy_perovskite.analysis.drift_diffusion import thermal_voltage
from hyperspy_perovskite.components import (
    DriftDiffusionAccumulation,
    DriftDiffusionTransient,
    Interdiffusion,
)
from hyperspy_perovskite.components._profile_common import (
    optional_time,
    parameter_arrays,
    side_sign,
)

__all__ = ["MigrationQuantity", "MigrationFit", "fit_migration_profile"]

_MODELS = ("steady", "transient", "interdiffusion")


@dataclass
class MigrationQuantity:
    """A fitted or derived quantity: navigation-shaped value and std."""

    value: np.ndarray
    std: np.ndarray
    units: str
    description: str = ""

    def to_dict(self):
        v = np.asarray(self.value, dtype=float)
        s = np.asarray(self.std, dtype=float)
        if v.ndim == 0:
            return {"value": float(v), "std": float(s), "units": self.units}
        return {
            "mean": float(np.nanmean(v)),
            "std_of_values": float(np.nanstd(v)),
            "median_std": float(np.nanmedian(s)),
            "units": self.units,
        }


@dataclass
class MigrationFit:
    """Outcome of :func:`fit_migration_profile`.

    Attributes
    ----------
    model : hyperspy.models.model1d.Model1D
        The fitted model (save it with ``model.save``; the components are
        restored by name).
    result : FastFitResult or None
        Convergence flags and chi-squared maps of ``fast_multifit``
        (``None`` when ``method="multifit"``).
    quantities : dict of str -> MigrationQuantity
        Fitted and derived quantities with their standard deviations
        (independent parameter errors propagated to first order).
    kind : str
        "steady", "transient" or "interdiffusion".
    """

    model: object
    result: object
    quantities: dict = field(default_factory=dict)
    kind: str = ""

    def __getitem__(self, name):
        return self.quantities[name]

    def to_dict(self):
        """JSON-ready summary (scalars, or means over the navigation)."""
        return {
            "kind": self.kind,
            **{k: q.to_dict() for k, q in self.quantities.items()},
        }

    def as_signal(self, name):
        """The quantity ``name`` as a HyperSpy signal over the navigation axes.

        Like ``Parameter.as_signal``: the navigation axes of the profile
        become the signal axes; the std is stored as
        ``metadata.Signal.Noise_properties.variance``.
        """
        q = self.quantities[name]
        value = np.asarray(q.value, dtype=float)
        var = np.broadcast_to(np.asarray(q.std, dtype=float) ** 2, value.shape).copy()
        sig = self.model.signal
        if sig.axes_manager.navigation_dimension == 0 or value.ndim == 0:
            out = [BaseSignal(np.atleast_1d(value)), BaseSignal(np.atleast_1d(var))]
        else:
            out = []
            for data in (value.copy(), var):
                s = sig._get_navigation_signal(data=data)
                if s._lazy:
                    s.compute(show_progressbar=False)
                for ax in s.axes_manager._axes:
                    ax.navigate = False
                out.append(s)
        s, v = out
        s.metadata.General.title = f"{name} ({q.units})"
        v.metadata.General.title = "Variance"
        s.metadata.set_item("Signal.Noise_properties.variance", v)
        s.metadata.set_item("Signal.quantity", f"{name} ({q.units})")
        return s


def _validate_profile(profile):
    if not isinstance(profile, Signal1D):
        raise TypeError(
            "profile must be a HyperSpy Signal1D whose signal axis is the "
            f"position across the stack, got {type(profile).__name__}. Use "
            "s.as_signal1D(axis) or a line profile from the EDX signal."
        )
    axis = profile.axes_manager.signal_axes[0]
    factor = to_nm(axis.units)
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
    geom = profile.metadata.get_item("Device.Geometry")
    if geom is None:
        return {}
    names = list(geom.get_item("interface_names", []) or [])
    pos = [float(v) for v in (geom.get_item("interface_positions", []) or [])]
    ref = profile.metadata.get_item("Device.Profile.reference", "start")
    ref_pos = 0.0
    if ref in names:
        ref_pos = pos[names.index(ref)]
    return {n: (p - ref_pos) / nm for n, p in zip(names, pos, strict=True)}


def _resolve_position(value, interfaces, what):
    if isinstance(value, str):
        if value not in interfaces:
            raise ValueError(
                f"Unknown interface {value!r} for {what}; the profile's "
                f"metadata.Device.Geometry has {sorted(interfaces) or 'none'}. "
                "Give a position in the axis units instead."
            )
        return float(interfaces[value])
    return float(value)


def _range_for_layer(axis, wall, side, signal_range, interfaces, half_layer=False):
    lo, hi = float(axis.axis.min()), float(axis.axis.max())
    half_bin = 0.5 * float(np.abs(np.gradient(axis.axis)).max())
    # the electrode may sit at the edge of the first or last bin
    if not lo - half_bin <= wall <= hi + half_bin:
        raise ValueError(
            f"wall={wall} lies outside the profile ({lo} to {hi} "
            f"{axis.units}); give the electrode position in the axis units."
        )
    if signal_range is not None:
        return tuple(float(v) for v in signal_range)
    # the layer ends at the next interface on its side (profile geometry)
    eps = 1e-9 * max(1.0, abs(wall))
    others = np.array(list(interfaces.values()), dtype=float)
    if side == 1:
        far = others[others > wall + eps]
        end = min(hi, float(far.min())) if far.size else hi
    else:
        far = others[others < wall - eps]
        end = max(lo, float(far.max())) if far.size else lo
    if half_layer:
        # the semi-infinite transient ignores the far electrode: fit the half
        # of the layer next to the wall (the far half depletes in a closed
        # layer once d + 3 s approaches the thickness)
        end = 0.5 * (wall + end)
    return (wall, end) if side == 1 else (end, wall)


def fit_migration_profile(
    profile,
    kind="steady",
    *,
    wall=None,
    side="right",
    interface=None,
    field=None,
    time=None,
    temperature=300.0,
    charge_number=1,
    diffusion_coefficient=None,
    background=None,
    signal_range=None,
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
        Blocking-electrode position in the axis units (steady, transient), or
        the name of an interface in the profile's ``metadata.Device.Geometry``
        (as written by ``get_element_profiles``).
    side : {"right", "left"}
        Side of the wall on which the layer lies.
    interface : float, str or None
        Starting interface position or name (interdiffusion; default:
        estimated).
    field : float or None
        Applied field magnitude in V/m (e.g. bias / layer thickness).
    time : float or None
        Bias or sintering duration in s (transient: required; interdiffusion:
        needed for ``D``).
    temperature : float
        K, for the Einstein relation ``D / mu = k_B T / (z q)``.
    charge_number : int
        Ion charge number (sign ignored).
    diffusion_coefficient : float or None
        A known ``D`` (m^2/s, e.g. from a transient or interdiffusion fit);
        with ``field`` the steady state then gives the mobility
        ``D / (lambda E)``.
    background : bool or None
        Add an ``Offset`` (default: True for "steady", False otherwise).
    signal_range : (float, float) or None
        Fitted range; default: the layer next to the wall, up to the next
        interface of the profile geometry or the axis end ("steady"), its
        half next to the wall ("transient": the closed form is for a
        semi-infinite layer, so the far electrode's depletion must stay
        outside the range, i.e. ``d + 3 s`` well below the range), the whole
        axis ("interdiffusion").
    poisson : bool
        Weight by Poisson variance (the counts, floored at 1) unless the
        profile already carries ``metadata.Signal.Noise_properties.variance``.
    method : {"fast", "multifit"}
        :func:`~hyperspy_perovskite.fitting.fast_multifit` (default) or
        HyperSpy's ``m.multifit`` (reference path).
    show_progressbar, num_workers
        Passed to the fit.

    Returns
    -------
    MigrationFit
        Model, fit result and the quantities with standard deviations:
        ``decay_length`` (nm), ``effective_field`` (V/m, the field the
        Einstein relation implies), ``D_over_mu`` (V), ``einstein_ratio``
        (``(D / mu) / (k_B T / z q)``, 1 when the Einstein relation holds
        with the applied field), ``D`` (m^2/s), ``mobility`` (m^2/(V s)),
        ``drift_distance``/``length``/``interface`` (nm).

    Raises
    ------
    TypeError, ValueError
        For a profile that is not a Signal1D on a length axis, a missing or
        out-of-range wall, a missing time or field where needed, an unknown
        kind or method.

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
    t = optional_time(time, required=(kind == "transient"))
    if field is not None:
        field = float(field)
        if not np.isfinite(field) or field <= 0:
            raise ValueError(f"field must be a positive field in V/m, got {field!r}.")
    vt = float(thermal_voltage(temperature, charge_number))
    D_known = None
    if diffusion_coefficient is not None:
        D_known = float(diffusion_coefficient)
        if not np.isfinite(D_known) or D_known <= 0:
            raise ValueError(
                f"diffusion_coefficient must be positive (m^2/s), got "
                f"{diffusion_coefficient!r}."
            )
    if background is None:
        background = kind == "steady"

    interfaces = _interfaces_nm(profile, nm)
    if isinstance(interface, str):
        interface = _resolve_position(interface, interfaces, "interface")
    s = _poisson_copy(profile, poisson)
    m = s.create_model()
    if kind == "interdiffusion":
        comp = Interdiffusion(time=t)
        rng = signal_range
    else:
        if wall is None:
            raise ValueError(
                "wall (the blocking-electrode position, axis units) is required "
                f"for kind={kind!r}; take it from the device geometry."
            )
        wall = _resolve_position(wall, interfaces, "wall")
        rng = _range_for_layer(
            axis, wall, sgn, signal_range, interfaces, half_layer=(kind == "transient")
        )
        if kind == "steady":
            comp = DriftDiffusionAccumulation(wall=wall, side=side)
        else:
            comp = DriftDiffusionTransient(wall=wall, side=side, time=t)
    m.append(comp)
    offset = None
    if background:
        from hyperspy.api import model as _hs_model

        offset = _hs_model.components1D.Offset()
        m.append(offset)
    if rng is not None:
        # snap to the bin centres inside the range: HyperSpy rounds a range
        # end to the nearest bin, which can put an electrode bin in the fit
        lo, hi = sorted(rng)
        inside = axis.axis[(axis.axis >= lo - 1e-9) & (axis.axis <= hi + 1e-9)]
        if inside.size < 5:
            raise ValueError(
                f"The fitted range {rng} holds {inside.size} points; at least 5 "
                "are needed (check wall, side and signal_range)."
            )
        rng = (float(inside.min()), float(inside.max()))
        m.set_signal_range(*rng)
    x1, x2 = rng if rng is not None else (axis.axis.min(), axis.axis.max())

    # starting values: the vectorised estimators over the fitted range
    comp.estimate_parameters(s, x1, x2, only_current=False)
    if kind == "interdiffusion" and interface is not None:
        comp.centre.map["values"][:] = float(interface)
    if offset is not None:
        offset._create_arrays()
        if kind == "steady":
            from hyperspy_perovskite.analysis.migration_estimates import (
                estimate_accumulation,
            )
            from hyperspy_perovskite.components._profile_common import profile_slice

            xx, dd = profile_slice(s, x1, x2, False)
            bulk = estimate_accumulation(xx, dd, wall, sgn)[..., 2]
        else:
            bulk = 0.0
        offset.offset.map["values"][:] = bulk
        offset.offset.map["is_set"][:] = True
    for c in m:
        c.fetch_stored_values()

    result = None
    if method == "fast":
        from hyperspy_perovskite.fitting import fast_multifit

        result = fast_multifit(
            m,
            starting_values="current",
            show_progressbar=show_progressbar,
            num_workers=num_workers,
        )
    else:
        # grad="fd": with Poisson weights, HyperSpy 2.5's analytical-gradient
        # path stalled near the start for DriftDiffusionTransient in our
        # tests, while finite differences agree with fast_multifit
        m.multifit(
            bounded=True,
            grad="fd",
            show_progressbar=show_progressbar,
            iterpath="serpentine",
        )

    q = {}

    def nmq(param, name, desc):
        v, e = parameter_arrays(param)
        q[name] = MigrationQuantity(v * nm, e * nm, "nm", desc)
        return v * nm, e * nm

    if kind == "steady":
        lam, lam_e = nmq(comp.decay_length, "decay_length", "lambda = D / (mu E)")
        A, A_e = parameter_arrays(comp.A)
        q["amplitude"] = MigrationQuantity(A, A_e, "", "excess at the wall")
        q["accumulated"] = MigrationQuantity(
            A * lam,
            np.sqrt((A_e * lam) ** 2 + (A * lam_e) ** 2),
            "x nm",
            "excess ions per unit area: A lambda",
        )
        E_eff = vt / (lam * 1e-9)
        q["effective_field"] = MigrationQuantity(
            E_eff, E_eff * lam_e / lam, "V/m", "k_B T / (z q lambda), Einstein assumed"
        )
        if field is not None and D_known is not None:
            mu = D_known / (lam * 1e-9 * field)
            q["mobility"] = MigrationQuantity(
                mu, mu * lam_e / lam, "m^2/(V s)", "D / (lambda E), D given"
            )
        if field is not None:
            ratio = lam * 1e-9 * field
            ratio_e = lam_e * 1e-9 * field
            q["D_over_mu"] = MigrationQuantity(ratio, ratio_e, "V", "lambda E")
            q["einstein_ratio"] = MigrationQuantity(
                ratio / vt, ratio_e / vt, "", "(D/mu) / (k_B T / z q)"
            )
            q["decay_length_einstein"] = MigrationQuantity(
                np.asarray(vt / field / 1e-9), np.asarray(0.0), "nm", "k_B T / (z q E)"
            )
    elif kind == "transient":
        d, d_e = nmq(comp.drift_distance, "drift_distance", "mu E t")
        sl, sl_e = nmq(comp.length, "length", "2 sqrt(D t)")
        cb, cb_e = parameter_arrays(comp.c_bulk)
        q["c_bulk"] = MigrationQuantity(cb, cb_e, "", "far-field level")
        D = (sl * 1e-9) ** 2 / (4 * t)
        D_e = 2 * D * sl_e / sl
        q["D"] = MigrationQuantity(D, D_e, "m^2/s", "s^2 / (4 t)")
        v = d * 1e-9 / t
        q["velocity"] = MigrationQuantity(v, d_e * 1e-9 / t, "m/s", "d / t")
        lam = np.where(d > 0, sl**2 / (4 * np.where(d > 0, d, 1)), np.inf)
        lam_e = lam * np.sqrt((2 * sl_e / sl) ** 2 + (d_e / np.where(d > 0, d, 1)) ** 2)
        q["decay_length"] = MigrationQuantity(lam, lam_e, "nm", "D / v")
        if field is not None:
            mu = v / field
            mu_e = d_e * 1e-9 / t / field
            q["mobility"] = MigrationQuantity(mu, mu_e, "m^2/(V s)", "d / (E t)")
            ratio = lam * 1e-9 * field
            q["D_over_mu"] = MigrationQuantity(
                ratio, lam_e * 1e-9 * field, "V", "D / mu"
            )
            q["einstein_ratio"] = MigrationQuantity(
                ratio / vt, lam_e * 1e-9 * field / vt, "", "(D/mu) / (k_B T / z q)"
            )
            q["D_einstein"] = MigrationQuantity(
                mu * vt, mu_e * vt, "m^2/s", "mu k_B T / (z q)"
            )
    else:
        L, L_e = nmq(comp.length, "length", "2 sqrt(D t)")
        nmq(comp.centre, "interface", "interface position")
        cl, cl_e = parameter_arrays(comp.c_left)
        cr, cr_e = parameter_arrays(comp.c_right)
        q["c_left"] = MigrationQuantity(cl, cl_e, "", "far left level")
        q["c_right"] = MigrationQuantity(cr, cr_e, "", "far right level")
        if t is not None:
            D = (L * 1e-9) ** 2 / (4 * t)
            q["D"] = MigrationQuantity(D, 2 * D * L_e / L, "m^2/s", "L^2 / (4 t)")
    return MigrationFit(model=m, result=result, quantities=q, kind=kind)
