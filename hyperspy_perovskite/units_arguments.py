"""Parsers of unit-bearing arguments that are not one plain quantity.

Pixel-or-length arguments (:func:`parse_pixels`), pixel positions
(:func:`parse_position`) and ``(start, end)`` ranges (:func:`parse_range`),
all on top of :func:`hyperspy_perovskite.units.parse_quantity` and the axis
rules of :mod:`hyperspy_perovskite.units` (the one place units are parsed;
this module only combines its conversions). ``from hyperspy_perovskite.units
import parse_pixels`` keeps working.
"""

from __future__ import annotations

import re

import numpy as np
import pint

from hyperspy_perovskite.units import (
    UnitError,
    _as_number,
    _axis_label,
    _pixel_power,
    axis_factor,
    parse_quantity,
    unit_label,
)

__all__ = ["parse_pixels", "parse_position", "parse_range"]


def parse_range(value, unit, *, name):
    """A ``(start, end)`` range converted to ``unit``.

    The one parser of range arguments (CL ``signal_range``, EDX
    ``signal_range``, SAED ``radial_range``, ...).

    Parameters
    ----------
    value : sequence of 2, pint.Quantity or None
        Two numbers (in ``unit``), strings or pint quantities, mixed freely
        (``("690 nm", "0.73 um")``), or one quantity of two values
        (``[690, 730] * ureg.nm``). None passes through.
    unit : str
        The unit the code works in (also the unit of plain numbers).
    name : str
        The argument's name, for error messages.

    Returns
    -------
    tuple of 2 float or None
        In the order given (callers sort or check the order they need).

    Raises
    ------
    UnitError
        If a value has the wrong dimension (named, with what is expected).
    ValueError
        If the value is not two values.

    Examples
    --------
    >>> from hyperspy_perovskite.units import ureg
    >>> from hyperspy_perovskite.units_arguments import parse_range
    >>> parse_range(("0.69 um", 730), "nm", name="signal_range")
    (690.0, 730.0)
    >>> parse_range(np.array([0.2, 0.5]) / ureg.nm, "1/angstrom", name="radial_range")
    (0.02, 0.05)
    """
    if value is None:
        return None
    if isinstance(value, pint.Quantity):
        values = list(np.atleast_1d(value)) if np.ndim(value.magnitude) else [value]
    elif isinstance(value, str) or not np.iterable(value):
        values = [value]
    else:
        values = list(value)
    if len(values) != 2:
        raise ValueError(
            f"{name} must be two values (start, end) in {unit_label(unit)}, or "
            f"strings with a unit, got {value!r}."
        )
    start, end = (float(parse_quantity(v, unit, name=name)) for v in values)
    return start, end


def parse_pixels(value, axes, *, name, power=1):
    """Convert a pixel-or-length argument to a number of pixels.

    For arguments documented in pixels (a minimum particle size, the sigma of
    a smoothing, a tile size, a maximum shift, a bin size, the width of a
    line-scan band, a radius on a diffraction pattern): a plain number keeps
    meaning pixels, and a length (or, for ``power=2``, an area) with a unit
    is converted through the scale and unit of the signal's axes; on
    reciprocal-space axes (``"1/nm"``, ``"k_A^-1"``) a reciprocal length.

    Parameters
    ----------
    value : float, str or pint.Quantity
        A plain number: pixels (``power=2``: a number of pixels, an area).
        ``"12 px"``, ``"12 pixels"`` or ``12 * ureg.px``: pixels too. A length
        such as ``"3 nm"`` or ``"30 Å"`` (``power=1``) or an area such as
        ``"9 nm^2"`` (``power=2``), as a string or a pint quantity: converted
        through ``axes``; on reciprocal-space axes a reciprocal length such
        as ``"0.2 1/A"``.
    axes : hyperspy.axes.UniformDataAxis or sequence of them
        The axis (or axes) the argument is measured along. With ``power=2``
        give the two axes of the area (one axis means square pixels of its
        scale). With ``power=1`` and several axes, their pixel sizes must
        agree (square pixels). Only read for values with a physical unit.
    name : str
        The argument's name, for error messages.
    power : {1, 2}
        1 for a length, 2 for an area.

    Returns
    -------
    float
        The number of pixels (not rounded: round where the method needs an
        integer).

    Raises
    ------
    UnitError
        If the value is of the wrong dimension (the message names the
        argument, the expected units and ``px``), if an axis has no usable
        length unit (the message says how to set it) or is not uniform, or if
        ``power=1`` and the pixels are not square.

    Examples
    --------
    >>> import hyperspy.api as hs, numpy as np
    >>> from hyperspy_perovskite.units_arguments import parse_pixels
    >>> s = hs.signals.Signal2D(np.zeros((8, 8)))
    >>> for ax in s.axes_manager.signal_axes:
    ...     ax.units, ax.scale = "nm", 0.5
    >>> parse_pixels(4, s.axes_manager[0], name="sigma")
    4.0
    >>> parse_pixels("4 px", s.axes_manager[0], name="sigma")
    4.0
    >>> parse_pixels("20 A", s.axes_manager[0], name="sigma")
    4.0
    >>> parse_pixels("3 nm^2", s.axes_manager.signal_axes, name="min_size", power=2)
    12.0
    >>> k = s.axes_manager[0]
    >>> k.units, k.scale = "1/nm", 0.05
    >>> parse_pixels("0.05 1/A", k, name="radius")
    10.0
    """
    if power not in (1, 2):
        raise ValueError(f"power must be 1 or 2, got {power!r}.")
    if not isinstance(value, str | pint.Quantity):
        if value is None or isinstance(value, bool):
            raise UnitError(f"{name}: a number of pixels is needed, got {value!r}.")
        return float(_as_number(value, name, "px"))
    pixels = _pixel_count(value, name, power)
    if pixels is not None:
        return pixels
    magnitude, unit = _space_magnitude(value, name, power)
    sizes = _pixel_sizes(axes, name, power, unit)
    if power == 2:
        return float(magnitude / (sizes[0] * sizes[-1]))
    if not np.allclose(sizes, sizes[0], rtol=1e-6):
        raise UnitError(
            f"{name}: the pixels are not square ({', '.join(f'{x:g}' for x in sizes)}"
            f" {unit}), so {value!r} is not one number of pixels; give it in px."
        )
    return float(magnitude / sizes[0])


def parse_position(value, axis, *, name):
    """A position on an axis as a (fractional) pixel index.

    For positions documented in pixels (a beam centre, a point of a
    pattern): a plain number, ``"15.5 px"`` or ``15.5 * ureg.px`` is the
    pixel index; a length or reciprocal length with its unit is a position
    in the axis' calibrated coordinates (offset included), so ``"0 1/A"`` on
    a diffraction axis is the pixel where ``k = 0``.

    Parameters
    ----------
    value : float, str or pint.Quantity
    axis : hyperspy.axes.UniformDataAxis
    name : str
        The argument's name, for error messages.

    Returns
    -------
    float

    Raises
    ------
    UnitError
        As :func:`parse_pixels`.

    Examples
    --------
    >>> import hyperspy.api as hs, numpy as np
    >>> from hyperspy_perovskite.units_arguments import parse_position
    >>> s = hs.signals.Signal2D(np.zeros((8, 8)))
    >>> ax = s.axes_manager[0]
    >>> ax.units, ax.scale, ax.offset = "1/nm", 0.5, -2.0
    >>> parse_position(3, ax, name="center"), parse_position("0 1/nm", ax, name="center")
    (3.0, 4.0)
    """
    if not isinstance(value, str | pint.Quantity) or (
        _pixel_count(value, name, 1) is not None
    ):
        return parse_pixels(value, axis, name=name)
    magnitude, unit = _space_magnitude(value, name, 1)
    _pixel_sizes(axis, name, 1, unit)  # uniform, calibrated axis
    factor = axis_factor(axis, unit, name=name)
    return float((magnitude / factor - axis.offset) / axis.scale)


def _space_magnitude(value, name, power):
    """``(magnitude, unit)`` of a length (nm) or reciprocal length (1/nm)."""
    for unit in ("nm", "1/nm"):
        try:
            return parse_quantity(value, f"({unit})^{power}", name=name), unit
        except UnitError:
            continue
    kind = "length" if power == 1 else "area"
    raise UnitError(
        f"{name}: got {value!r}; expected a number of pixels (a plain number "
        f"or '4 px') or a {kind} such as '2 nm{'^2' if power == 2 else ''}' "
        f"(a reciprocal {kind} such as '0.5 1/nm{'^2' if power == 2 else ''}' "
        "on reciprocal-space axes)."
    )


def _pixel_count(value, name, power):
    """A value given in pixels, as a float; None if it carries another unit."""
    if isinstance(value, pint.Quantity):
        found, magnitude = _pixel_power(value), value.magnitude
    else:
        match = re.fullmatch(r"\s*([-+]?[\d.]+(?:[eE][-+]?\d+)?)\s*(.*)", value)
        if match is None:
            return None
        found = _pixel_power(match.group(2))
        magnitude = match.group(1)
    if found is None:
        return None
    if found > power:
        raise UnitError(
            f"{name}: got {value!r}, an area in pixels; expected a number of "
            "pixels (a plain number or '4 px') or a length such as '2 nm'."
        )
    return float(magnitude)


def _pixel_sizes(axes, name, power, unit):
    """The pixel size in ``unit`` of each axis (one axis or a sequence)."""
    axes = list(axes) if isinstance(axes, list | tuple) else [axes]
    if not axes or (power == 2 and len(axes) > 2):
        raise ValueError(f"{name}: give one or two axes, got {len(axes)}.")
    sizes = []
    for axis in axes:
        if not getattr(axis, "is_uniform", False):
            raise UnitError(
                f"{name}: {_axis_label(axis)} is not uniform, so a length "
                "cannot be turned into pixels; give the value in px."
            )
        sizes.append(abs(axis.scale) * axis_factor(axis, unit, name=name))
    return sizes
