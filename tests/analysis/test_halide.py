"""Band gap <-> halide fraction and segregation detection."""

import numpy as np
import pytest

from hyperspy_perovskite.analysis import halide


def test_end_members_and_literature_relations():
    # Noh et al. 2013: Eg = 1.57 + 0.39 y + 0.33 y^2, y = Br fraction = 1 - x
    y = np.linspace(0, 1, 11)
    noh = 1.57 + 0.39 * y + 0.33 * y**2
    assert np.allclose(halide.bandgap_from_fraction(1 - y, "MAPb(Br1-xIx)3"), noh)
    # CsPb series: 1.73 (CsPbI3) ... 2.30 eV (CsPbBr3), CsPbBrI2 (x = 2/3) 1.92 eV
    cs = "CsPb(Br1-xIx)3"
    assert halide.bandgap_from_fraction(1, cs) == pytest.approx(1.73)
    assert halide.bandgap_from_fraction(0, cs) == pytest.approx(2.30)
    assert halide.bandgap_from_fraction(2 / 3, cs) == pytest.approx(1.92, abs=0.005)


@pytest.mark.parametrize("system", ["CsPb(Br1-xIx)3", "MAPb(Br1-xIx)3"])
def test_inverse_round_trip_and_uncertainty(system):
    x = np.linspace(0, 1, 21)
    e = halide.bandgap_from_fraction(x, system)
    x2, sx, bad = halide.fraction_from_energy(e, np.full_like(e, 0.01), system)
    assert np.allclose(x2, x, atol=1e-12) and not bad.any()
    # std_x = std_E / |dE/dx|, checked against a central difference
    h = 1e-6
    slope = (
        halide.bandgap_from_fraction(x + h, system)
        - halide.bandgap_from_fraction(x - h, system)
    ) / (2 * h)
    assert np.allclose(sx, 0.01 / np.abs(slope), rtol=1e-5)


def test_monte_carlo_uncertainty_matches_propagation():
    rng = np.random.default_rng(0)
    e0 = halide.bandgap_from_fraction(0.5, "MAPb(Br1-xIx)3")
    e = e0 + rng.normal(0, 0.005, 20000)
    x, _, _ = halide.fraction_from_energy(e, system="MAPb(Br1-xIx)3")
    _, sx, _ = halide.fraction_from_energy(e0, 0.005, "MAPb(Br1-xIx)3")
    assert np.std(x) == pytest.approx(float(sx), rel=0.03)


def test_stokes_shift_and_out_of_range():
    e = halide.bandgap_from_fraction(0.3, "CsPb(Br1-xIx)3")
    x, _, _ = halide.fraction_from_energy(e - 0.02, stokes_shift=0.02)
    assert x == pytest.approx(0.3)
    x, sx, bad = halide.fraction_from_energy([1.5, 2.5, np.nan], [0.01] * 3)
    assert (
        np.all(np.isnan(x))
        and np.all(np.isnan(sx))
        and bad.tolist() == [True, True, False]
    )


def test_wavelength_energy():
    # air wavelengths (as LumiSpy's to_eV): hc / (n_air lambda), n_air - 1 ~ 2.7e-4
    n_air = 1239.8419843320026 / (710.0 * halide.wavelength_to_energy(710.0))
    assert 1.00026 < n_air < 1.00029
    assert halide.energy_to_wavelength(
        halide.wavelength_to_energy(710.0)
    ) == pytest.approx(710.0)


@pytest.mark.parametrize(
    "system, kwargs, match",
    [
        ("CsSnI3", {}, "Unknown halide system"),
        ({"E_Br": 2.3}, {}, "lacks"),
        ({"E_Br": 1.5, "E_I": 1.7, "bowing": 0}, {}, "E_Br > E_I"),
        ("CsPb(Br1-xIx)3", {"bowing": 1.0}, "bowing"),
    ],
)
def test_bad_system(system, kwargs, match):
    with pytest.raises(ValueError, match=match):
        halide.bandgap_from_fraction(0.5, system, **kwargs)


def test_custom_system_dict():
    sysd = {"E_Br": 2.0, "E_I": 1.5, "bowing": 0.1}
    x, _, _ = halide.fraction_from_energy(
        halide.bandgap_from_fraction(0.25, sysd), system=sysd
    )
    assert x == pytest.approx(0.25)


def test_segregation_from_two_peaks():
    c1 = np.array([560.0, 560.0, 560.0, 560.0, 560.0])
    c2 = np.array([600.0, 600.0, 562.0, 600.0, 600.0])
    a1 = np.array([100.0, 100.0, 100.0, 100.0, 100.0])
    a2 = np.array([50.0, 2.0, 50.0, 50.0, 50.0])
    sa2 = np.array([5.0, 5.0, 5.0, 30.0, 5.0])
    s2 = np.array([1.0, 1.0, 1.0, 1.0, 20.0])
    seg, sep, sep_std, minor = halide.segregation_from_two_peaks(
        c1, 1.0, a1, 5.0, c2, s2, a2, sa2, min_separation=10.0
    )
    # ok; weak 2nd peak; too close; 2nd area insignificant; separation not significant
    assert seg.tolist() == [True, False, False, False, False]
    assert sep[0] == 40 and minor[0] == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="min_fraction"):
        halide.segregation_from_two_peaks(1, 1, 1, 1, 1, 1, 1, 1, 1.0, min_fraction=0.7)


def test_segregation_from_shift():
    seg, shift, sstd = halide.segregation_from_shift(
        [710, 716, 730, np.nan], [1, 3, 1, 1], 710.0, reference_std=0.0, min_shift=5
    )
    assert seg.tolist() == [False, False, True, False]
    assert shift[2] == 20 and sstd[1] == 3
    with pytest.raises(ValueError, match="min_shift"):
        halide.segregation_from_shift([1.0], [1.0], 1.0, min_shift=-1)
