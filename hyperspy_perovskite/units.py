"""The one place where units are parsed and converted.

Every unit-bearing argument and every axis the suite reads goes through this
module. It is built on pint through HyperSpy's own unit registry
(``hyperspy.api._ureg``, the registry behind ``DataAxis.convert_to_units``), so
a unit HyperSpy understands on an axis is understood here too, and no second
unit table exists.

Rules
-----
- A plain number (or array) means the argument's documented default unit.
- A string with a unit (``"6.36 A"``, ``"0.636 nm"``, ``"300 kV"``, ``"2 ms"``)
  or a pint ``Quantity`` is converted to the unit the code works in.
- ``"A"`` (and ``"Å"``) is decided by the dimension that is expected: angstrom
  where a length is expected, ampere where a current is expected. Never by the
  string alone.
- An axis whose unit is missing, a pixel count (``"px"``), a bare index
  (``"z"``, ``"frame"``) or of the wrong dimension is refused with a message that
  says how to set it. Nothing is ever silently taken as seconds or nanometres.

Examples
--------
>>> from hyperspy_perovskite.units import parse_quantity
>>> parse_quantity("6.36 A", "nm", name="d_spacing")
0.636
>>> parse_quantity(0.3, "m", name="camera_length", default_unit="m")
0.3
>>> parse_quantity("300 kV", "V", name="beam_energy")
300000.0
>>> parse_quantity("2 mA", "A", name="current")
0.002
"""

from __future__ import annotations

import re
from numbers import Number

import numpy as np
import pint
from hyperspy.api import _ureg as ureg

from hyperspy_perovskite._unit_tables import (
    _DIMENSION_NAMES,
    _PIXEL_NAMES,
    _PIXEL_TEXT,
    _PRETTY,
    _SYMBOLS,
    _UNCALIBRATED,
    _WORDS,
)

__all__ = [
    "UnitError",
    "ureg",
    "parse_quantity",
    "parse_unit",
    "axis_factor",
    "axis_values",
    "unit_label",
    "same_dimension",
]


_WORD_PATTERN = re.compile(
    r"(?<![\w.])("
    + "|".join(re.escape(w) for w in sorted(_WORDS, key=len, reverse=True))
    + r")(?![\w])"
)
_LATEX = re.compile(r"\$|\\mathrm|\\rm|\{|\}|\\")


class UnitError(ValueError):
    """A value or an axis whose unit is missing, unknown or of the wrong kind."""


def _normalise(text):
    text = _LATEX.sub("", str(text)).strip()
    for old, new in _SYMBOLS.items():
        text = text.replace(old, new)
    text = _WORD_PATTERN.sub(lambda m: _WORDS[m.group(1)], text)
    # "cm2", "mm2", "mW/cm2" (exports, spreadsheets): a unit symbol directly
    # followed by its power
    text = re.sub(r"(?<=[A-Za-z])([23])(?![\d.*^])", r"^\1", text)
    return text.replace("^", "**")


def _expected_dimension(unit):
    """Dimension of a working unit written by the code.

    In a working unit, ``"A"`` alone is the ampere; inside a compound unit
    without another length (``"e/A^2/s"``, ``"1/A"``) it is the angstrom.
    """
    text = _normalise(unit)
    standalone = re.compile(r"(?<![A-Za-z])A(?![A-Za-z])")
    if (
        text != "A"
        and standalone.search(text)
        and not re.search(r"(?<![A-Za-z])(c|m|n|u|k)?m(?![A-Za-z])", text)
    ):
        text = standalone.sub("angstrom", text)
    return ureg.parse_units(text).dimensionality


def _resolve_a(text, dimension):
    """Read a standalone ``A`` as ampere or angstrom, whichever has ``dimension``.

    Both readings are tried and the one of the expected dimension is kept, so
    ``"A"`` is an ampere for a current, ``"mA/cm^2"`` a current density and
    ``"e/A^2"`` a dose per square angstrom.
    """
    if dimension is None or not re.search(r"(?<![A-Za-z])A(?![A-Za-z])", text):
        return text
    angstrom = re.sub(r"(?<![A-Za-z])A(?![A-Za-z])", "angstrom", text)
    for candidate in (text, angstrom):
        try:
            if ureg.parse_units(candidate).dimensionality == dimension:
                return candidate
        except Exception:  # noqa: BLE001 - any parse failure: try the other
            continue
    return text


def parse_unit(unit, *, expected=None, name="unit"):
    """Parse a unit string into a pint unit.

    Parameters
    ----------
    unit : str
        A unit as written on an axis or by a user (``"nm"``, ``"µm"``,
        ``"Å"``, ``"e/A^2"``, ``"degC"``).
    expected : str, optional
        A unit of the expected dimension: it decides what ``"A"`` means
        (angstrom for a length, ampere for a current) and the dimension is
        checked.
    name : str
        What the unit belongs to, for the error message.

    Returns
    -------
    pint.Unit

    Raises
    ------
    UnitError
        For an unknown unit or one of the wrong dimension.

    Examples
    --------
    >>> from hyperspy_perovskite.units import parse_unit
    >>> str(parse_unit("Å", expected="nm"))
    'angstrom'
    >>> str(parse_unit("A", expected="mA"))
    'ampere'
    """
    dimension = None if expected is None else _expected_dimension(expected)
    text = _resolve_a(_normalise(unit), dimension)
    if text.lower() in _UNCALIBRATED:
        raise UnitError(f"{name}: {unit!r} is not a physical unit.")
    try:
        parsed = ureg.parse_units(text)
    except (
        pint.errors.UndefinedUnitError,
        AttributeError,
        TypeError,
        ValueError,
        AssertionError,
    ) as exc:
        raise UnitError(f"{name}: unknown unit {unit!r}.") from exc
    if dimension is not None and parsed.dimensionality != dimension:
        raise UnitError(
            f"{name}: unit {unit!r} is {_describe_unit(_normalise(unit))}, "
            f"but {_article(_describe(dimension))} is expected (e.g. {expected!r})."
        )
    return parsed


def _describe(dimensionality):
    for unit, label in _DIMENSION_NAMES.items():
        if ureg.parse_units(unit).dimensionality == dimensionality:
            return label
    return f"quantity of dimension {dimensionality}"


def _describe_unit(text):
    """What a unit measures, for messages: a standalone ``A`` read both as
    angstrom and as ampere, keeping the readings of a named kind (``"1/A"``
    is a reciprocal length, never "1/[current]")."""
    standalone = r"(?<![A-Za-z])A(?![A-Za-z])"
    readings = [(text, "")]
    if re.search(standalone, text):
        readings = [
            (re.sub(standalone, "angstrom", text), " (A as Å)"),
            (text, " (A as ampere)"),
        ]
    found = []
    for candidate, note in readings:
        try:
            found.append((_describe(ureg.parse_units(candidate).dimensionality), note))
        except Exception:  # noqa: BLE001 - an unreadable reading is skipped
            continue
    named = [f for f in found if not f[0].startswith("quantity of")] or found[:1]
    if len(named) == 1:
        return _article(named[0][0])
    return " or ".join(f"{_article(label)}{note}" for label, note in named)


def _article(label):
    return ("an " if label[0] in "aeiou" else "a ") + label


def same_dimension(unit_a, unit_b):
    """Whether two unit strings measure the same kind of quantity.

    ``"A"`` takes the meaning that matches the other unit.

    Examples
    --------
    >>> from hyperspy_perovskite.units import same_dimension
    >>> same_dimension("nm", "Å"), same_dimension("s", "nm")
    (True, False)
    """
    try:
        parse_unit(unit_a, expected=unit_b)
    except UnitError:
        return False
    return True


def parse_quantity(value, unit, *, name, default_unit=None):
    """Convert a value with or without a unit to a magnitude in ``unit``.

    Parameters
    ----------
    value : float, array-like, str or pint.Quantity
        A plain number or array is taken in ``default_unit``; a string such as
        ``"6.36 A"`` or ``"300 kV"``, or a pint quantity, carries its unit.
    unit : str
        The unit the caller works in; the magnitude returned is in it.
    name : str
        The argument's name, used in error messages.
    default_unit : str, optional
        The documented unit of a plain number (default: ``unit``).

    Returns
    -------
    float or numpy.ndarray
        The magnitude in ``unit`` (an array for array input).

    Raises
    ------
    UnitError
        If the string cannot be read or its unit is of the wrong dimension.

    Examples
    --------
    >>> from hyperspy_perovskite.units import parse_quantity
    >>> parse_quantity("6.36 Å", "nm", name="d_spacing")
    0.636
    >>> parse_quantity(6.36, "nm", name="d_spacing", default_unit="Å")
    0.636
    >>> parse_quantity("5 min", "s", name="duration")
    300.0
    """
    default_unit = unit if default_unit is None else default_unit
    if isinstance(value, pint.Quantity):
        if _pixel_power(value) is not None:
            raise UnitError(
                f"{name}: got {value!r}, a number of pixels; expected a value "
                f"in {unit} such as '1 {unit}' (pixels are not a physical unit)."
            )
        quantity = ureg.Quantity(value.magnitude, str(value.units))
    elif isinstance(value, str):
        quantity = _parse_string(value, unit, name)
    elif value is None:
        raise UnitError(f"{name}: a value in {default_unit} is needed, got None.")
    else:
        magnitude = _as_number(value, name, default_unit)
        quantity = ureg.Quantity(
            magnitude, parse_unit(default_unit, expected=unit, name=name)
        )
    target = ureg.Unit(_working_unit(unit))
    if quantity.dimensionality != target.dimensionality:
        raise UnitError(
            f"{name}: got {value!r}, a {_describe(quantity.dimensionality)}; "
            f"expected a {_describe(target.dimensionality)} such as '1 {unit}'."
        )
    magnitude = quantity.to(target).magnitude
    if isinstance(magnitude, np.ndarray):
        return magnitude.astype(float)
    # 15 significant digits: "0.032 um" is 32 nm, not 32.00000000000001
    # (conversion round-off would move bin edges and pixel counts)
    return float(f"{float(magnitude):.15g}")


def _pixel_power(value):
    """The power of a pixel quantity or string unit (``px`` -> 1), else None."""
    if isinstance(value, pint.Quantity):
        items = dict(value._units)  # noqa: SLF001 - pint's UnitsContainer
        if len(items) == 1 and next(iter(items)) in _PIXEL_NAMES:
            return next(iter(items.values()))
        return None
    match = _PIXEL_TEXT.fullmatch(value.strip())
    if match is None:
        return None
    return 2 if match.group(2) else int(match.group(1) or 1)


def _working_unit(unit):
    """A working unit with ``"A"`` read as :func:`_expected_dimension` reads it."""
    text = _normalise(unit)
    if _expected_dimension(unit) != ureg.parse_units(text).dimensionality:
        text = re.sub(r"(?<![A-Za-z])A(?![A-Za-z])", "angstrom", text)
    return ureg.parse_units(text)


def _as_number(value, name, default_unit):
    if isinstance(value, Number | np.number):
        return float(value)
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise UnitError(
            f"{name}: expected a number in {default_unit} or a string with a "
            f"unit such as '1 {default_unit}', got {value!r}."
        ) from exc


def _parse_string(text, unit, name):
    dimension = _expected_dimension(unit)
    normal = _resolve_a(_normalise(text), dimension)
    match = re.fullmatch(r"\s*([-+]?[\d.]+(?:[eE][-+]?\d+)?)\s*(.*)", normal)
    if match is None:
        raise UnitError(
            f"{name}: cannot read {text!r}; write a number and a unit, e.g. '1 {unit}'."
        )
    number, unit_text = match.groups()
    if not unit_text.strip():
        raise UnitError(
            f"{name}: {text!r} has no unit; write e.g. '{number} {unit}' or "
            "pass a plain number in the documented default unit."
        )
    parsed = parse_unit(unit_text, expected=unit, name=name)
    return ureg.Quantity(float(number), parsed)  # offset units (degC) too


def _axis_label(axis):
    index = getattr(axis, "index_in_axes_manager", None)
    return f"axis {axis.name!r}" + ("" if index is None else f" (index {index})")


def axis_factor(axis, unit, *, name=None):
    """Factor that turns an axis' values into ``unit``.

    Parameters
    ----------
    axis : hyperspy.axes.DataAxis or subclass
        The axis (uniform or not).
    unit : str
        The unit wanted, e.g. ``"s"``, ``"nm"``, ``"eV"``.
    name : str, optional
        What the axis is used for, in error messages (default: the axis name).

    Returns
    -------
    float

    Raises
    ------
    UnitError
        If the axis has no usable unit or one of another dimension; the message
        says how to set it.

    Examples
    --------
    >>> import hyperspy.api as hs, numpy as np
    >>> from hyperspy_perovskite.units import axis_factor
    >>> s = hs.signals.Signal1D(np.zeros((3, 4)))
    >>> s.axes_manager[0].units = "ms"
    >>> axis_factor(s.axes_manager[0], "s")
    0.001
    """
    what = name or getattr(axis, "name", "axis")
    units = getattr(axis, "units", None)
    text = "" if units is None else str(units)
    how = _how_to_set(axis, unit)
    if _normalise(text).lower() in _UNCALIBRATED:
        raise UnitError(
            f"{_axis_label(axis)} used as {what} has no physical unit "
            f"(units = {text!r}); a "
            f"{_describe(_working_unit(unit).dimensionality)} unit such as "
            f"{unit!r} is needed. {how}"
        )
    try:
        parsed = parse_unit(text, expected=unit, name=f"{_axis_label(axis)}")
    except UnitError as exc:
        raise UnitError(f"{exc} It is used as {what}. {how}") from None
    return float(ureg.Quantity(1.0, parsed).to(_working_unit(unit)).magnitude)


def _how_to_set(axis, unit):
    index = getattr(axis, "index_in_axes_manager", None)
    ref = "s.axes_manager[{}]".format("i" if index is None else index)
    return (
        f"Set it, e.g. {ref}.units = {unit!r} and {ref}.scale = <step in "
        f"{unit}> (or give the values with their unit where the method "
        "accepts them)."
    )


def axis_values(axis, unit, *, name=None):
    """An axis' values converted to ``unit``.

    Works for uniform, non-uniform and functional axes.

    Examples
    --------
    >>> import hyperspy.api as hs, numpy as np
    >>> from hyperspy_perovskite.units import axis_values
    >>> s = hs.signals.Signal1D(np.zeros((3, 4)))
    >>> ax = s.axes_manager[0]
    >>> ax.units, ax.scale = "min", 0.5
    >>> axis_values(ax, "s")
    array([ 0., 30., 60.])
    """
    return np.asarray(axis.axis, dtype=float) * axis_factor(axis, unit, name=name)


def unit_label(unit):
    """A unit written for a figure axis (Å, µm, e⁻/Å², °C, ...).

    A length ``"A"`` is written as the angstrom sign: use it for labels of
    lengths and doses, not for currents.

    Examples
    --------
    >>> from hyperspy_perovskite.units import unit_label
    >>> unit_label("A"), unit_label("e/A^2"), unit_label("um")
    ('Å', 'e⁻/Å²', 'µm')
    """
    text = "" if unit is None else str(unit).strip()
    return _PRETTY.get(text, text)


#: the argument parsers that moved to :mod:`hyperspy_perovskite.units_arguments`
_MOVED = ("parse_pixels", "parse_position", "parse_range")


def __getattr__(name):
    """``from hyperspy_perovskite.units import parse_pixels`` keeps working:
    the argument parsers live in :mod:`hyperspy_perovskite.units_arguments`
    (imported on first use, so there is no circular import)."""
    if name in _MOVED:
        from hyperspy_perovskite import units_arguments

        return getattr(units_arguments, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
