"""Unit-bearing arguments of the SAED series methods, parsed in one place.

Every argument takes a plain number in its documented unit, a string with a
unit or a pint quantity (:func:`hyperspy_perovskite.units.parse_quantity`):
d-spacings in Å, ring and halo widths and radial ranges in 1/Å, and pixel
arguments (radii, distances, positions) in pixels
(:func:`hyperspy_perovskite.units.parse_pixels`: a plain number, ``"4 px"``
or ``4 * ureg.px``); a radius or a distance may also be given as a
reciprocal length, converted through the calibration (1/Å per pixel).
"""

import numpy as np
import pint

from hyperspy_perovskite.units import UnitError, parse_pixels, parse_quantity

__all__ = ["spacing", "reciprocal", "g_range", "pixels", "pixel_position"]


def spacing(value, name):
    """A d-spacing in Å (None passes through)."""
    return None if value is None else parse_quantity(value, "angstrom", name=name)


def reciprocal(value, name):
    """A reciprocal length in 1/Å (None passes through)."""
    return None if value is None else parse_quantity(value, "1/angstrom", name=name)


def _elements(value):
    """The elements of a pair (or array) given as a sequence, a pint quantity
    array or a plain array."""
    if isinstance(value, pint.Quantity) and np.ndim(value.magnitude) > 0:
        return list(value)
    if isinstance(value, str):
        return [value]
    return list(value)


def g_range(value, name):
    """A range ``(lo, hi)`` in 1/Å (None passes through)."""
    if value is None:
        return None
    vals = [reciprocal(v, name) for v in _elements(value)]
    if len(vals) != 2:
        raise ValueError(f"{name} must be two values (lo, hi) in 1/A, got {value!r}.")
    return (float(vals[0]), float(vals[1]))


def pixels(value, scale, name):
    """A radius or distance in pixels: a number, ``"4 px"``, ``4 * ureg.px``,
    or a reciprocal length (``"0.05 1/A"``) divided by ``scale`` (1/Å per
    pixel)."""
    if isinstance(value, str | pint.Quantity):
        try:
            return parse_quantity(value, "1/angstrom", name=name) / float(scale)
        except UnitError:
            pass
    try:
        return parse_pixels(value, [], name=name)
    except (UnitError, ValueError):
        raise UnitError(
            f"{name}: got {value!r}; expected a number of pixels (a plain number "
            "or '4 px') or a reciprocal length such as '0.05 1/A' (converted "
            f"through the calibration, {float(scale):g} 1/A per pixel)."
        ) from None


def pixel_position(value, name):
    """Pixel positions ``(x, y)`` or ``(n, 2)``: plain numbers, ``"35 px"``
    strings or pixel quantities (a position on the frame has no length)."""
    if isinstance(value, pint.Quantity) or (
        not isinstance(value, np.ndarray)
        and any(isinstance(v, str | pint.Quantity) for v in _elements(value))
    ):
        out = []
        for v in _elements(value):
            try:
                out.append(parse_pixels(v, [], name=name))
            except (UnitError, ValueError):
                raise UnitError(
                    f"{name}: got {v!r}; a position on the frame is in pixels "
                    "(a plain number, '35 px' or 35 * ureg.px)."
                ) from None
        return np.asarray(out, float)
    return np.asarray(value, float)
