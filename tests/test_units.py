"""The units layer: every kind of argument with a number, a string and a quantity."""

import hyperspy.api as hs
import numpy as np
import pytest

from hyperspy_perovskite import units
from hyperspy_perovskite.units import (
    UnitError,
    axis_factor,
    axis_values,
    parse_quantity,
    parse_unit,
    same_dimension,
    unit_label,
    ureg,
)
from hyperspy_perovskite.units_arguments import (
    parse_pixels,
    parse_position,
    parse_range,
)

# (argument name, working unit, default unit of a plain number, plain number,
#  string form, quantity form, expected magnitude in the working unit)
MATRIX = [
    ("d_spacing", "nm", "Å", 6.36, "6.36 A", 6.36 * ureg.angstrom, 0.636),
    ("d_spacing", "nm", "Å", 6.36, "0.636 nm", 0.636 * ureg.nanometer, 0.636),
    ("thickness", "nm", "nm", 280, "0.28 um", 0.28 * ureg.micrometer, 280.0),
    ("frame_time", "s", "s", 0.04, "40 ms", 40 * ureg.millisecond, 0.04),
    ("duration", "s", "s", 300, "5 min", 5 * ureg.minute, 300.0),
    ("beam_energy", "kV", "kV", 300, "300 kV", 300e3 * ureg.volt, 300.0),
    ("bias", "V", "V", 1.0, "1000 mV", 1000 * ureg.millivolt, 1.0),
    ("current", "A", "A", 2e-3, "2 mA", 2 * ureg.milliampere, 2e-3),
    ("beam_current", "A", "pA", 50.0, "50 pA", 50 * ureg.picoampere, 50e-12),
    ("camera_length", "mm", "mm", 300, "0.3 m", 0.3 * ureg.meter, 300.0),
    ("energy", "eV", "eV", 1.75, "1750 meV", 1.75 * ureg.electron_volt, 1.75),
    (
        "current_density",
        "mA/cm^2",
        "mA/cm^2",
        23.6,
        "236 A/m^2",
        236 * ureg("A/m^2"),
        23.6,
    ),
    (
        "dose_rate",
        "e/A^2/s",
        "e/A^2/s",
        90,
        "9000 e/nm^2/s",
        9000 * ureg("elementary_charge/nm^2/s"),
        90.0,
    ),
    ("temperature", "degC", "degC", 90, "363.15 K", ureg.Quantity(363.15, "K"), 90.0),
]


@pytest.mark.parametrize("row", MATRIX, ids=[f"{r[0]}-{r[4]}" for r in MATRIX])
@pytest.mark.parametrize("form", ["number", "string", "quantity"])
def test_matrix(row, form):
    name, unit, default, number, text, quantity, expected = row
    value = {"number": number, "string": text, "quantity": quantity}[form]
    if form == "number":
        expected = float(
            (ureg.Quantity(number, parse_unit(default, expected=unit)))
            .to(parse_unit(unit, expected=unit))
            .magnitude
        )
    got = parse_quantity(value, unit, name=name, default_unit=default)
    assert got == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(
    "value, unit, fragment",
    [
        ("6.36 s", "nm", "a time, but a length is expected"),
        ("300", "kV", "has no unit"),
        ("1 V", "A", "voltage, but a current is expected"),
        (3 * ureg.second, "nm", "expected a length"),
        ("five nm", "nm", "cannot read"),
        ("2 blorps", "m", "unknown unit"),
        (None, "nm", "a value in nm is needed"),
        ("2 px", "nm", "not a physical unit"),
        # a standalone A that fits neither reading: never "1/[current]"
        ("2 1/A", "nm", "'1/A' is a reciprocal length, but a length is expected"),
        ("2 A", "1/nm", "a length (A as Å) or a current (A as ampere), but a"),
        ("2 e/A^2", "s", "an electron dose, but a time is expected"),
    ],
)
def test_wrong_units_refused_with_clear_message(value, unit, fragment):
    with pytest.raises(UnitError, match="my_arg") as err:
        parse_quantity(value, unit, name="my_arg")
    assert fragment in str(err.value)


def test_ampere_or_angstrom_decided_by_dimension():
    assert parse_quantity("1 A", "nm", name="x") == pytest.approx(0.1)
    assert parse_quantity("1 A", "mA", name="x") == pytest.approx(1000)
    assert parse_quantity("1 A/cm^2", "mA/cm^2", name="x") == pytest.approx(1000)
    assert parse_quantity("1 e/A^2", "e/nm^2", name="x") == pytest.approx(100)
    assert same_dimension("A", "nm") and same_dimension("A", "mA")
    assert not same_dimension("s", "nm")


def test_arrays_keep_shape():
    got = parse_quantity([[1, 2], [3, 4]], "nm", name="x", default_unit="um")
    assert got.shape == (2, 2) and got[1, 1] == pytest.approx(4000)


@pytest.mark.parametrize(
    "units, factor", [("s", 1), ("ms", 1e-3), ("min", 60), ("h", 3600), ("us", 1e-6)]
)
def test_time_axes_in_any_unit(units, factor):
    s = hs.signals.Signal1D(np.zeros((5, 3)))
    ax = s.axes_manager[0]
    ax.units, ax.scale = units, 2.0
    assert axis_factor(ax, "s", name="time") == pytest.approx(factor)
    np.testing.assert_allclose(axis_values(ax, "s"), np.arange(5) * 2 * factor)


@pytest.mark.parametrize("units", ["<undefined>", "", "px", "z", "frame"])
def test_uncalibrated_axis_refused_with_how_to(units):
    s = hs.signals.Signal1D(np.zeros((5, 3)))
    s.axes_manager[0].units = units
    with pytest.raises(UnitError, match=r"axes_manager\[0\]\.units = 's'"):
        axis_factor(s.axes_manager[0], "s", name="frame time")


def test_wrong_dimension_axis_refused():
    s = hs.signals.Signal1D(np.zeros((5, 3)))
    s.axes_manager[0].units = "nm"
    with pytest.raises(UnitError, match="a length, but a time is expected"):
        axis_values(s.axes_manager[0], "s", name="frame time")


def test_non_uniform_axis():
    s = hs.signals.Signal1D(np.zeros((3, 4)))
    s.axes_manager[-1].convert_to_non_uniform_axis()
    ax = s.axes_manager[-1]
    ax.units = "um"
    np.testing.assert_allclose(axis_values(ax, "nm"), np.arange(4) * 1000.0)


def test_labels():
    assert unit_label("A") == "Å"
    assert unit_label("e/A^2/s") == "e⁻/(Å² s)"
    assert unit_label("nm") == "nm"


@pytest.mark.parametrize(
    "text, unit, expected",
    [
        ("3 Milliseconds", "s", 3e-3),
        ("2 seconds", "s", 2.0),
        ("2 secs", "ms", 2000.0),
        ("1e-3 nm", "pm", 1.0),
        ("5 e-/A^2", "e/nm^2", 500.0),
        ("4 microns", "nm", 4000.0),
        ("25 Degrees C", "K", 298.15),
    ],
)
def test_instrument_spellings_are_whole_words(text, unit, expected):
    assert parse_quantity(text, unit, name="x") == pytest.approx(expected)


def _image(scale=(0.25, 0.25), units=("nm", "nm")):
    s = hs.signals.Signal2D(np.zeros((4, 6)))
    for ax, step, unit in zip(s.axes_manager.signal_axes, scale, units, strict=True):
        ax.scale, ax.units = step, unit
    return s


@pytest.mark.parametrize(
    "value, expected",
    [
        (8, 8.0),
        (8.5, 8.5),
        (np.int64(8), 8.0),
        ("8 px", 8.0),
        ("8 pixels", 8.0),
        ("8pixel", 8.0),
        (8 * ureg.px, 8.0),
        (8 * ureg.pixel, 8.0),
        ("2 nm", 8.0),
        ("20 A", 8.0),
        ("20 Å", 8.0),
        ("0.002 um", 8.0),
        (2 * ureg.nm, 8.0),
        (2e-9 * ureg.m, 8.0),
    ],
)
def test_parse_pixels_length(value, expected):
    ax = _image().axes_manager.signal_axes[0]
    assert parse_pixels(value, ax, name="sigma") == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    "value, expected",
    [
        (10, 10.0),
        ("10 px", 10.0),
        ("10 px^2", 10.0),
        ("10 px²", 10.0),
        (10 * ureg.px**2, 10.0),
        ("1.25 nm^2", 10.0),  # 0.25 nm x 0.5 nm pixels: 0.125 nm^2 each
        ("125 A^2", 10.0),
        (1.25 * ureg.nm**2, 10.0),
    ],
)
def test_parse_pixels_area(value, expected):
    axes = _image(scale=(0.25, 0.5)).axes_manager.signal_axes
    got = parse_pixels(value, axes, name="min_size", power=2)
    assert got == pytest.approx(expected, rel=1e-12)


def test_parse_pixels_axis_units_converted():
    # a micrometre axis with 2 nm pixels: 10 nm is 5 pixels
    ax = _image(scale=(0.002, 0.002), units=("um", "um")).axes_manager.signal_axes[0]
    assert parse_pixels("10 nm", ax, name="bin_size") == pytest.approx(5.0)


@pytest.mark.parametrize("value", ["3 s", "3 nm^2", "3 px^2", 3 * ureg.eV, "3 V"])
def test_parse_pixels_wrong_dimension(value):
    ax = _image().axes_manager.signal_axes[0]
    with pytest.raises(UnitError, match="tile_size") as err:
        parse_pixels(value, ax, name="tile_size")
    assert "px" in str(err.value) and "nm" in str(err.value)


def test_parse_pixels_area_wrong_dimension():
    axes = _image().axes_manager.signal_axes
    with pytest.raises(UnitError, match=r"min_size.*px.*area"):
        parse_pixels("3 nm", axes, name="min_size", power=2)


@pytest.mark.parametrize("units", ["<undefined>", "px", "s"])
def test_parse_pixels_axis_without_length_unit(units):
    s = _image(units=(units, units))
    # a plain number needs no unit on the axis
    assert parse_pixels(3, s.axes_manager.signal_axes[0], name="sigma") == 3.0
    with pytest.raises(UnitError, match=r"axes_manager\[0\]\.units = 'nm'"):
        parse_pixels("3 nm", s.axes_manager.signal_axes[0], name="sigma")


def test_parse_pixels_non_square_and_non_uniform():
    axes = _image(scale=(0.25, 0.5)).axes_manager.signal_axes
    assert parse_pixels(3, axes, name="sigma") == 3.0
    with pytest.raises(UnitError, match="not square"):
        parse_pixels("1 nm", axes, name="sigma")
    s = _image()
    s.axes_manager.signal_axes[0].convert_to_non_uniform_axis()
    with pytest.raises(UnitError, match="not uniform"):
        parse_pixels("1 nm", s.axes_manager.signal_axes[0], name="sigma")


@pytest.mark.parametrize(
    "value, units", [("0.2 1/A", "k_A^-1"), ("2 1/nm", "1/nm"), (2 / ureg.nm, "1/A")]
)
def test_parse_pixels_reciprocal_axes(value, units):
    # diffraction axes of 0.02 1/A (= 0.2 1/nm) per pixel: 2 1/nm is 10 px
    s = _image(scale=(0.02, 0.02), units=(units, units))
    if units == "1/nm":
        s.axes_manager.signal_axes[0].scale = 0.2
    got = parse_pixels(value, s.axes_manager.signal_axes[0], name="radius")
    assert got == pytest.approx(10.0, rel=1e-12)
    with pytest.raises(UnitError, match="but a length is expected"):
        parse_pixels("2 nm", s.axes_manager.signal_axes[0], name="radius")


def test_pixel_quantity_is_not_a_length():
    # pint reads "px" as a CSS pixel (1/96 inch): never a length here
    with pytest.raises(UnitError, match="pixels"):
        parse_quantity(3 * ureg.px, "nm", name="width")
    with pytest.raises(UnitError, match="not a physical unit"):
        parse_quantity("3 px", "nm", name="width")


@pytest.mark.parametrize(
    "value, expected",
    [
        (15.5, 15.5),
        ("15.5 px", 15.5),
        (15.5 * ureg.px, 15.5),
        ("0 1/A", 15.5),
        (0 / ureg.nm, 15.5),
        ("0.1 1/A", 15.5 + 0.1 / 0.04),
        ("1 1/nm", 15.5 + 0.1 / 0.04),
    ],
)
def test_parse_position_on_reciprocal_axis(value, expected):
    # a 32-px pattern at 0.04 1/A per pixel with the beam (k = 0) at 15.5 px
    s = _image(scale=(0.04, 0.04), units=("k_A^-1", "k_A^-1"))
    ax = s.axes_manager.signal_axes[0]
    ax.offset = -15.5 * 0.04
    assert parse_position(value, ax, name="center") == pytest.approx(expected)


def test_parse_position_errors():
    s = _image(units=("px", "px"))
    ax = s.axes_manager.signal_axes[0]
    assert parse_position(4, ax, name="center") == 4.0
    with pytest.raises(UnitError, match=r"axes_manager\[0\]\.units = 'nm'"):
        parse_position("1 nm", ax, name="center")
    with pytest.raises(UnitError, match="center.*px"):
        parse_position("1 s", ax, name="center")


def test_reciprocal_axis_used_as_length_names_a_reciprocal_length():
    s = hs.signals.Signal1D(np.zeros(4))
    s.axes_manager[0].units = "1/A"
    with pytest.raises(UnitError, match="is a reciprocal length, but a length") as e:
        axis_factor(s.axes_manager[0], "nm", name="distance")
    assert "current" not in str(e.value)


@pytest.mark.parametrize(
    "value, unit, expected",
    [
        ((690, 730), "nm", (690.0, 730.0)),
        (("0.69 um", 730), "nm", (690.0, 730.0)),
        ([690 * ureg.nm, "7300 A"], "nm", (690.0, 730.0)),
        ([0.69, 0.73] * ureg.um, "nm", (690.0, 730.0)),
        (np.array([2.0, 1.0]), "eV", (2.0, 1.0)),  # order kept
        (("0.2 1/nm", "5 1/nm"), "1/angstrom", (0.02, 0.5)),
        (None, "nm", None),
    ],
)
def test_parse_range_every_form(value, unit, expected):
    got = parse_range(value, unit, name="signal_range")
    assert got == (expected if expected is None else pytest.approx(expected))


@pytest.mark.parametrize(
    "value, error, fragment",
    [
        ((1, 2, 3), ValueError, "two values (start, end) in nm"),
        ("690 nm", ValueError, "two values (start, end)"),
        (5.0, ValueError, "two values (start, end)"),
        (("690 s", 730), UnitError, "a time, but a length"),
        (690 * ureg.nm, ValueError, "two values"),
    ],
)
def test_parse_range_errors(value, error, fragment):
    with pytest.raises(error, match="signal_range") as err:
        parse_range(value, "nm", name="signal_range")
    assert fragment in str(err.value)


def test_moved_parsers_still_importable_from_units():
    assert units.parse_pixels is parse_pixels
    assert units.parse_position is parse_position
    assert units.parse_range is parse_range
    with pytest.raises(AttributeError):
        units.no_such_parser  # noqa: B018
