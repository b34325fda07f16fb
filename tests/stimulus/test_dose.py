"""Electron dose bookkeeping."""

import numpy as np
import pytest

from hyperspy_perovskite.stimulus.dose import (
    CRITICAL_DOSES,
    ELEMENTARY_CHARGE,
    critical_dose,
    cumulative_dose,
    dose_rate_from_beam_current,
    first_exceedance,
    fluence_per_frame,
    length_to_angstrom,
)


def test_dose_rate_from_current_is_charge_over_area():
    # 1 nA = 6.2415e9 e/s; over a 4k frame of 0.25 A pixels = 1024^2 A^2
    area = (4096 * 0.25) ** 2
    r = dose_rate_from_beam_current(1e-9, area)
    assert r == pytest.approx(1e-9 / ELEMENTARY_CHARGE / area)
    assert r == pytest.approx(5952.4, rel=1e-4)
    np.testing.assert_allclose(
        dose_rate_from_beam_current(np.array([0.0, 2e-9]), area), [0.0, 2 * r]
    )


def test_cumulative_dose_continuous_and_given_exposure():
    t = np.arange(5) * 0.04  # 25 fps
    f, c = cumulative_dose(t, 50.0)
    np.testing.assert_allclose(f, 2.0)
    np.testing.assert_allclose(c, [2, 4, 6, 8, 10])
    # beam blanked between frames: only the exposure counts
    f, c = cumulative_dose(np.arange(5) * 10.0, 50.0, exposure=0.04)
    np.testing.assert_allclose(c[-1], 10.0)
    # time-varying dose rate; 0 = beam off; NaN (unknown) is refused
    f, c = cumulative_dose([0, 1, 2, 3], [10.0, 0.0, 20.0, 0.0])
    np.testing.assert_allclose(c, [10, 10, 30, 30])
    with pytest.raises(ValueError, match=r"unknown \(NaN\) for 1 frame"):
        cumulative_dose([0, 1, 2, 3], [10.0, np.nan, 20.0, 0.0])


def test_critical_dose_table_is_sourced():
    for entry in CRITICAL_DOSES.values():
        assert entry["dose"] > 0 and entry["source"] and entry["criterion"]
    d, e = critical_dose("CsPb(Br0.8I0.2)3")
    assert d == 1140.0 and "Hao & Cai, Microstructures 5, 2025012 (2025)" in e["source"]
    with pytest.raises(ValueError, match="No sourced critical dose"):
        critical_dose("unobtainium")


def test_first_exceedance():
    c = np.array([1.0, 5.0, 10.5, 11.0])
    assert first_exceedance(c, 10.5) == 3
    assert first_exceedance(c, 100.0) is None
    with pytest.raises(ValueError, match="positive"):
        first_exceedance(c, -1)


def test_bad_inputs():
    with pytest.raises(ValueError, match="beam_current"):
        dose_rate_from_beam_current(-1.0, 1.0)
    with pytest.raises(ValueError, match="area"):
        dose_rate_from_beam_current(1e-9, 0.0)
    with pytest.raises(ValueError, match=">= 0"):
        fluence_per_frame(-1.0, 1.0)
    with pytest.raises(ValueError, match="strictly increasing"):
        cumulative_dose([0, 2, 1], 1.0)
    with pytest.raises(ValueError, match="single frame"):
        cumulative_dose([0.0], 1.0)
    with pytest.raises(ValueError, match="not a physical unit"):
        length_to_angstrom(1.0, "<undefined>")
    assert length_to_angstrom(2.5, "pm") == pytest.approx(0.025)
