"""Spectral axis units and validity."""

import numpy as np
import pytest

from hyperspy_perovskite.analysis.cl_units import (
    check_monotonic,
    check_wavelength_values,
    parse_spectral_unit,
)


@pytest.mark.parametrize(
    "units, canonical, factor",
    [
        ("nm", "nm", 1.0),
        ("nanometre", "nm", 1.0),
        ("um", "µm", 1e3),
        ("µm", "µm", 1e3),  # micro sign U+00B5
        ("μm", "µm", 1e3),  # Greek mu U+03BC
        ("micron", "µm", 1e3),
        ("mm", "mm", 1e6),
        ("m", "m", 1e9),
        ("Å", "Å", 0.1),
        (r"$\mu$m", "µm", 1e3),
        (r"$\mathrm{\mu m}$", "µm", 1e3),
        (r"\si{\micro\metre}", "µm", 1e3),
        (r"$\mathrm{nm}$", "nm", 1.0),
        ("$nm$", "nm", 1.0),
        (" nm ", "nm", 1.0),
        ("A", "Å", 0.1),  # a length where a length is expected (units.py rule)
    ],
)
def test_wavelength_units(units, canonical, factor):
    assert parse_spectral_unit(units) == (canonical, "wavelength", factor)


@pytest.mark.parametrize(
    "units, factor", [("eV", 1.0), ("meV", 1e-3), (r"\electronvolt", 1.0)]
)
def test_energy_units(units, factor):
    c, kind, f = parse_spectral_unit(units)
    assert kind == "energy" and f == factor


@pytest.mark.parametrize("units", [None, "", "<undefined>", 5])
def test_missing_units(units):
    with pytest.raises(ValueError, match="no units"):
        parse_spectral_unit(units)


@pytest.mark.parametrize("units", ["counts", "s", "Hz", "cm-1", "kV"])
def test_unknown_units(units):
    with pytest.raises(ValueError, match="not understood"):
        parse_spectral_unit(units)


def test_plausibility():
    assert check_wavelength_values([700, 720], "nm") == "wavelength"
    assert check_wavelength_values([7e-4, 7.2e-4], "mm") == "wavelength"
    assert check_wavelength_values([1.6, 1.9], "eV") == "energy"
    with pytest.raises(ValueError, match="probably wrong"):
        check_wavelength_values([7e-4, 7.2e-4], "nm")
    with pytest.raises(ValueError, match="probably wrong"):
        check_wavelength_values([700, 720], "um")
    with pytest.raises(ValueError, match="probably wrong"):
        check_wavelength_values([1600, 1900], "eV")


def test_monotonic():
    assert check_monotonic([1, 2, 3]) == 1
    assert check_monotonic([3, 2, 1]) == -1
    for bad in ([1, 2, 2], [1, 3, 2], [1, 1, 1]):
        with pytest.raises(ValueError, match="not strictly monotonic"):
            check_monotonic(bad)
    with pytest.raises(ValueError, match="NaN"):
        check_monotonic([1, np.nan, 3])
    with pytest.raises(ValueError, match="at least two"):
        check_monotonic([1.0])
