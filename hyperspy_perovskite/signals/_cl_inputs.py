"""Reading the inputs of the CL correlation methods (no HyperSpy signal class).

Parameter maps (``parameter``, ``centre``, ``intensity``, ...) may be given as
a HyperSpy model :class:`~hyperspy.component.Parameter` (values, std and
``is_set`` are read from its map), a signal holding one value per CL pixel
(its variance, if any, in ``metadata.Signal.Noise_properties.variance``), or
a numpy array of the CL navigation shape; spatial axes are read in nm.
"""

from __future__ import annotations

import re

import numpy as np

from hyperspy_perovskite.units import UnitError, parse_quantity, ureg


def _length_factor(units, what):
    """Factor to nm of a spatial axis unit, or None when uncalibrated."""
    if units is None or str(units).strip().lower() in ("", "<undefined>", "px"):
        return None
    try:
        return parse_quantity(1.0, "nm", name=f"{what} axis", default_unit=units)
    except UnitError as err:
        raise ValueError(
            f"{what} axis unit {units!r} is not a length unit: {err}"
        ) from None


def _image_grid(axes_yx, what):
    """Pixel-centre coordinates (nm, or pixels when units are undefined)."""
    coords, factors = [], []
    for ax in axes_yx:
        if not ax.is_uniform:
            raise ValueError(
                f"{what} axis {ax.name!r} is not uniform; resample it first."
            )
        factors.append(_length_factor(ax.units, what))
        coords.append(np.asarray(ax.axis, float))
    if (factors[0] is None) != (factors[1] is None):
        raise ValueError(f"{what}: one spatial axis has units and the other not.")
    if factors[0] is None:
        return coords, None
    return [c * f for c, f in zip(coords, factors, strict=True)], "nm"


def _to_numpy(data):
    if hasattr(data, "compute"):
        data = data.compute()
    return np.asarray(data)


#: Parameters measured in the unit of the signal axis (position and widths).
_AXIS_VALUED = ("centre", "sigma", "gamma", "tau", "fwhm", "E0", "Eu")


def _signal_axis_units(parameter):
    """Unit of a position or width parameter (the signal axis unit), else None
    (an amplitude ``A`` is in data units x axis unit, not known here)."""
    if getattr(parameter, "name", None) not in _AXIS_VALUED:
        return None
    comp = getattr(parameter, "component", None)
    model = getattr(comp, "model", None)
    if model is None:
        return None
    return model.axes_manager.signal_axes[0].units


def _with_unit(obj, shape, name, unit):
    """Values (broadcast to ``shape``) and unit of a string or pint quantity
    (a value or a map): converted to ``unit`` when given, else to nm (a
    wavelength) or eV (a photon energy)."""
    from hyperspy_perovskite.analysis.cl_units import parse_spectral_unit

    if unit is not None:
        values = parse_quantity(obj, unit, name=name)
    else:
        q = ureg.Quantity(obj) if isinstance(obj, str) else obj
        try:
            _, kind, factor = parse_spectral_unit(f"{q.units:~}")
        except (UnitError, ValueError):
            raise UnitError(
                f"{name} was given as {obj!r}: expected a wavelength (e.g. "
                "'710 nm') or a photon energy (e.g. '1.75 eV')."
            ) from None
        values = np.asarray(q.magnitude, float) * factor
        unit = "nm" if kind == "wavelength" else "eV"
    values = np.asarray(values, float)
    if values.shape != shape:
        values = _broadcast(values, shape, name)
    return values, unit


def _value_in(value, unit, name):
    """A scalar argument in ``unit`` (the unit of the map it applies to): a
    plain number is in ``unit``; a string or pint quantity is converted, and
    refused when ``unit`` is unknown."""
    if unit:
        return float(parse_quantity(value, unit, name=name))
    if isinstance(value, str | ureg.Quantity):
        raise UnitError(
            f"{name} was given with a unit ({value!r}) but the unit of the map "
            "it applies to is unknown: give the map with its unit."
        )
    return float(value)


def _broadcast(values, shape, name):
    """A single value stands for every pixel; an array must have ``shape``."""
    if values.ndim == 0:
        return np.full(shape, float(values))
    raise ValueError(
        f"{name}: array shape {values.shape} does not match the CL navigation "
        f"shape {shape}."
    )


def _as_map(obj, shape, name, unit=None, spectral=False):
    """(values, std or None, valid or None, units or None) of a parameter map.

    With ``spectral`` (a position or width on the spectral axis), a string
    or pint quantity (one value for every pixel, or a map) is converted to
    ``unit`` when given (else to nm or eV); a plain number is one value for
    every pixel, in ``unit`` (None: unknown).
    """
    from hyperspy.component import Parameter
    from hyperspy.signal import BaseSignal

    if spectral and isinstance(obj, str | ureg.Quantity):
        values, u = _with_unit(obj, shape, name, unit)
        return values, None, None, u

    if isinstance(obj, Parameter):
        m = obj.map
        if m["values"].shape != shape:
            raise ValueError(
                f"{name}: parameter map shape {m['values'].shape} does not match the "
                f"CL navigation shape {shape}."
            )
        return (
            np.asarray(m["values"], float),
            np.asarray(m["std"], float),
            np.asarray(m["is_set"], bool),
            _signal_axis_units(obj),
        )
    if isinstance(obj, BaseSignal):
        values = _to_numpy(obj.data).astype(float)
        var = obj.metadata.get_item("Signal.Noise_properties.variance")
        std = None
        if isinstance(var, BaseSignal):
            std = np.sqrt(_to_numpy(var.data).astype(float))
        elif var is not None:
            std = np.full(values.shape, np.sqrt(float(var)))
        units = None
        if True:  # "centre (nm)" as written by emission_maps
            found = re.search(
                r"\(([^()]*)\)\s*$", str(obj.metadata.get_item("Signal.quantity", ""))
            )
            units = found.group(1) if found else None
        if values.shape != shape:
            values = values.reshape(shape) if values.size == np.prod(shape) else values
        if values.shape != shape:
            raise ValueError(
                f"{name}: signal data shape {obj.data.shape} does not match the CL "
                f"navigation shape {shape}."
            )
        if std is not None:
            std = std.reshape(shape)
        return values, std, None, units
    if not isinstance(obj, str) and (
        isinstance(obj, np.ndarray | list | tuple) or np.isscalar(obj)
    ):
        values = np.asarray(obj, float)
        if values.shape != shape:
            values = _broadcast(values, shape, name)
        return values, None, None, unit
    raise TypeError(
        f"{name} must be a model Parameter, a signal or a numpy array, got "
        f"{type(obj).__name__}."
    )


def _std_override(std, shape, name, unit=None):
    """A separate standard-deviation map (signal or array) of the CL nav shape;
    a string or pint quantity (one value or a map) is converted to ``unit``
    (the unit of the map it belongs to)."""
    from hyperspy.signal import BaseSignal

    if isinstance(std, str | ureg.Quantity):
        if unit is None:
            raise UnitError(
                f"{name} was given with a unit ({std!r}) but the unit of the map "
                "it belongs to is unknown: give the map with its unit."
            )
        return _with_unit(std, shape, name, unit)[0]
    if np.ndim(std) == 0 and not isinstance(std, BaseSignal):
        return np.full(shape, float(std))

    data = (
        _to_numpy(std.data) if isinstance(std, BaseSignal) else np.asarray(std, float)
    )
    if data.shape != shape:
        raise ValueError(
            f"{name} {data.shape} must have the CL navigation shape {shape}."
        )
    return data.astype(float)


def _check_lazy_inplace(lazy_output, inplace=False):
    if lazy_output and inplace:
        raise ValueError("lazy_output=True and inplace=True cannot be combined.")


def _param_name(parameter):
    name = getattr(parameter, "name", None)
    if isinstance(name, str) and name:
        return name
    title = getattr(
        getattr(getattr(parameter, "metadata", None), "General", None), "title", None
    )
    return title or "Parameter"
