"""Units through the public methods: a number, a string and a quantity agree.

For unit-bearing arguments of the registered signals' public methods, the
same value given as a plain number in the documented default unit, as a
string in another unit and as a pint quantity gives the same result; a value
of the wrong dimension is refused with a :class:`UnitError` that names the
argument. (``tests/test_units.py`` covers the units layer itself; this file
checks that the methods really go through it.)
"""

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from hyperspy_perovskite.units import UnitError, ureg

sys.path.insert(0, str(Path(__file__).resolve().parent))
import test_lazy_eager as le  # noqa: E402

# (name, make(), call(signal, value), number, string, quantity, wrong string)
ROWS = [
    (
        "InSituImageSeries.fringe_intensity(d_spacing)",
        lambda: le._twin(le._movie()[0], False),
        lambda s, v: s.fringe_intensity(v, tile_size=32),
        6.36,
        "0.636 nm",
        0.636 * ureg.nm,
        "6.36 eV",
    ),
    (
        "InSituImageSeries.electron_dose(dose_rate)",
        lambda: le._twin(le._movie()[0], False),
        lambda s, v: s.electron_dose(dose_rate=v),
        50.0,
        "5000 e/nm^2/s",
        ureg("50 e/angstrom^2/s"),
        "50 V",
    ),
    (
        "InSituImageSeries.electron_dose(exposure)",
        lambda: le._twin(le._movie()[0], False),
        lambda s, v: s.electron_dose(dose_rate=50.0, exposure=v),
        0.04,
        "40 ms",
        0.04 * ureg.s,
        "40 nm",
    ),
    (
        "InSituImageSeries.electron_dose(critical_dose)",
        lambda: le._twin(le._movie()[0], False),
        lambda s, v: s.electron_dose(dose_rate=50.0, critical_dose=v).metadata.Dose,
        5.0,
        "500 e/nm^2",
        ureg("5 e/angstrom^2"),
        "5 s",
    ),
    (
        "InSituSAEDSeries.calibrate(camera_length)",
        lambda: le._twin(le._saed()[0], False),
        lambda s, v: s.calibrate(detector_pixel_size=15.0, camera_length=v),
        300.0,
        "0.3 m",
        30.0 * ureg.cm,
        "300 kV",
    ),
    (
        "InSituSAEDSeries.calibrate(detector_pixel_size)",
        lambda: le._twin(le._saed()[0], False),
        lambda s, v: s.calibrate(detector_pixel_size=v, camera_length=300.0),
        15.0,
        "0.015 mm",
        15e-6 * ureg.m,
        "15 s",
    ),
    (
        "InSituSAEDSeries.calibrate(beam_energy)",
        lambda: le._twin(le._saed()[0], False),
        lambda s, v: s.calibrate(
            detector_pixel_size=15.0, camera_length=300.0, beam_energy=v
        ),
        200.0,
        "200000 V",
        200.0 * ureg.kV,
        "200 nm",
    ),
    (
        "Operando4DSTEM.calibrate(camera_length)",
        lambda: le._twin(le._4d()[0], False),
        lambda s, v: s.calibrate(
            detector_pixel_size=55.0, camera_length=v, beam_energy=300.0
        ),
        146.26,
        "14.626 cm",
        0.14626 * ureg.m,
        "146 eV",
    ),
    (
        "EDSTEMBiasedSpectrum.get_stack_linescan(width)",
        lambda: le._twin(le._device()[0], False),
        lambda s, v: s.get_stack_linescan(width=v, bin_size=16.0),
        64.0,
        "0.064 um",
        64.0 * ureg.nm,
        "64 eV",
    ),
    (
        "EDSTEMBiasedSpectrum.get_composition_profiles(thickness)",
        lambda: le._twin(le._device()[0], False),
        lambda s, v: s.get_composition_profiles(
            le._kf(),
            ["Pb_La", *le.HAL],
            check_overlaps=False,
            absorption_correction=True,
            thickness=v,
        ),
        150.0,
        "0.15 um",
        150.0 * ureg.nm,
        "150 s",
    ),
    (
        "JVCurve.to_current_density(area)",
        lambda: le._as_current(le._twin(le._jv(), False)),
        lambda s, v: s.to_current_density(v),
        0.07,
        "7 mm^2",
        0.07 * ureg.cm**2,
        "7 mm",
    ),
    (
        "JVCurve.figures_of_merit(irradiance)",
        lambda: le._twin(le._jv(), False),
        lambda s, v: s.figures_of_merit(sigma=0.02, irradiance=v),
        100.0,
        "1000 W/m^2",
        0.1 * ureg.W / ureg.cm**2,
        "100 mW",
    ),
    (
        "JVCurve.set_device(temperature)",
        lambda: le._twin(le._jv(), False),
        lambda s, v: (s.set_device(temperature=v), s.metadata.Device.JV)[1],
        298.15,
        "25 degC",
        ureg.Quantity(25.0, "degC"),
        "25 V",
    ),
]


def _call(make, call, value):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return call(make(), value)


@pytest.mark.parametrize("row", ROWS, ids=[r[0] for r in ROWS])
def test_number_string_and_quantity_agree(row):
    name, make, call, number, text, quantity, wrong = row
    ref = _call(make, call, number)
    for form in (text, quantity):
        le.same(ref, _call(make, call, form), f"{name} given {form!r}")
    arg = name[name.index("(") + 1 : -1]
    with pytest.raises(UnitError, match=arg):
        _call(make, call, wrong)


def test_rows_name_documented_unit_arguments():
    """Each row's argument is one the docstring audit knows carries a unit."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from test_house_rules import UNIT_ARGS

    methods = le.public_methods()
    for name, *_ in ROWS:
        method, arg = name[:-1].split("(")
        assert method in methods, method
        assert arg in UNIT_ARGS, arg
    assert np.unique([r[0] for r in ROWS]).size == len(ROWS)
