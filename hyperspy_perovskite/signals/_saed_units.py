"""Unit-bearing arguments of the SAED series methods, parsed in one place.

Every argument takes a plain number in its documented unit, a string with a
unit or a pint quantity (:func:`hyperspy_perovskite.units.parse_quantity`):
d-spacings in Å, ring and halo widths and radial ranges in 1/Å, and pixel
arguments (radii, distances, positions) in pixels
(:func:`hyperspy_perovskite.units_arguments.parse_pixels` and ``parse_position``: a
plain number, ``"4 px"`` or ``4 * ureg.px``, or a reciprocal length through
the calibration of the diffraction axes).
"""

import numpy as np
import pint

from hyperspy_perovskite.units import parse_quantity
from hyperspy_perovskite.units_arguments import (
    parse_pixels,
    parse_position,
    parse_range,
)

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
    """A range ``(lo, hi)`` in 1/Å (None passes through;
    :func:`~hyperspy_perovskite.units_arguments.parse_range`)."""
    return parse_range(value, "1/angstrom", name=name)


def pixels(value, axis, name):
    """A radius or distance in pixels: a number, ``"4 px"``, ``4 * ureg.px``,
    or a reciprocal length (``"0.05 1/A"``) through the calibration of
    ``axis`` (:func:`~hyperspy_perovskite.units_arguments.parse_pixels`)."""
    return parse_pixels(value, axis, name=name)


def pixel_position(value, axes, name):
    """Pixel positions ``(x, y)`` or ``(n, 2)``: plain numbers, ``"35 px"``
    strings, pixel quantities, or calibrated coordinates (``"0 1/A"``: the
    pixel where g = 0) through ``axes`` (x, y)
    (:func:`~hyperspy_perovskite.units_arguments.parse_position`)."""
    if isinstance(value, pint.Quantity) or (
        not isinstance(value, np.ndarray)
        and any(isinstance(v, str | pint.Quantity) for v in _elements(value))
    ):
        vals = _elements(value)
        return np.asarray(
            [parse_position(v, axes[i % 2], name=name) for i, v in enumerate(vals)],
            float,
        )
    return np.asarray(value, float)
