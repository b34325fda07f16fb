"""Recovery of emission parameters on independent simulations, both axes.

The simulator (:func:`simulate_emission_spectra`) bins photon densities into
air-wavelength channels with a dark level, spikes, Poisson noise; the fits
use ``poisson=True`` (counts). Reported: fraction of pixels whose truth lies
within 1 and 2 reported standard errors (aim 0.68 / 0.95) and the pulls'
mean and spread. ``recovery_table`` is also what the report script prints.
"""

import warnings

import numpy as np
import pytest

from hyperspy_perovskite.data.cl_simulation import simulate_emission_spectra
from hyperspy_perovskite.results import ResultTable


def recovery_table(maps, truth, title):
    rows = {
        "coverage 1 std": [],
        "coverage 2 std": [],
        "pull mean": [],
        "pull std": [],
        "pixels": [],
    }
    names = []
    v = maps["valid"].data
    for name, (key, value) in truth.items():
        fit, std = maps[key].data, maps[f"{key}_std"].data
        ok = v & np.isfinite(fit) & np.isfinite(std)
        z = ((fit - value) / std)[ok]
        names.append(name)
        rows["coverage 1 std"].append(np.mean(np.abs(z) < 1))
        rows["coverage 2 std"].append(np.mean(np.abs(z) < 2))
        rows["pull mean"].append(np.mean(z))
        rows["pull std"].append(np.std(z))
        rows["pixels"].append(int(ok.sum()))
    return ResultTable(rows, index=names, title=title)


def _check(table, one=0.55, two=0.85):
    print(table)
    for name in table.index:
        row = table.row(name)
        assert row["coverage 2 std"] >= two, (name, row)
        assert row["coverage 1 std"] >= one, (name, row)


COMMON = dict(dark_counts=5.0, n_spikes=6, band_photons=2.0e5)


def wavelength_case(n_pixels=100, seed=1):
    s, t = simulate_emission_spectra(
        n_pixels=n_pixels,
        space="wavelength",
        band_energy=(700, 720),
        band_sigma=(8, 12),
        second_band=0.15,
        second_shift=40,
        seed=seed,
        **COMMON,
    )
    m = s.fit_emission(n_peaks=2, poisson=True)
    maps = s.emission_maps(m)
    w = t["channel_width"]
    minor = s.emission_maps(m, component="Emission_2")
    truth = {
        "centre (nm)": ("centre", t["centre"]),
        "sigma (nm)": ("sigma", t["sigma"]),
        "area": ("area", t["photons"] * w),
    }
    table = recovery_table(maps, truth, "Wavelength axis: two Gaussian bands")
    t2 = recovery_table(
        minor, {"minor band area": ("area", t["second_photons"] * w)}, ""
    )
    return table, t2


def energy_tail_case(n_pixels=100, seed=2):
    s, t = simulate_emission_spectra(
        n_pixels=n_pixels,
        urbach_energy=0.025,
        edge_offset=0.03,
        tail_fraction=0.3,
        seed=seed,
        **COMMON,
    )
    m = s.fit_emission(axis="energy", tail=True, poisson=True)
    maps = s.emission_maps(m)
    w = t["channel_width"]
    truth = {
        "centre (eV)": ("centre", t["centre"]),
        "sigma (eV)": ("sigma", t["sigma"]),
        "area": ("area", t["photons"] * w / 1000),
    }
    table = recovery_table(maps, truth, "Energy axis: band + continuous Urbach tail")
    tail = {
        "urbach_energy": maps["urbach_energy"],
        "urbach_energy_std": maps["urbach_energy_std"],
        "valid": maps["urbach_valid"],
    }
    t2 = recovery_table(tail, {"Eu (meV)": ("urbach_energy", 25.0)}, "")
    return table, t2


def energy_asymmetric_case(n_pixels=100, seed=3):
    s, t = simulate_emission_spectra(
        n_pixels=n_pixels,
        asymmetry=0.04,
        band_sigma=(0.02, 0.03),
        second_band=0.1,
        second_shift=0.12,
        seed=seed,
        **COMMON,
    )
    m = s.fit_emission(axis="energy", band="asymmetric", n_peaks=2, poisson=True)
    maps = s.emission_maps(m)
    w = t["channel_width"]
    truth = {
        "centre (eV)": ("centre", t["centre"]),
        "sigma (eV)": ("sigma", t["sigma"]),
        "tau (eV)": ("tau", np.full(n_pixels, 0.04)),
        "area": ("area", t["photons"] * w / 1000),
    }
    return recovery_table(
        maps, truth, "Energy axis: asymmetric band + minor band"
    ), None


@pytest.mark.parametrize(
    "case", [wavelength_case, energy_tail_case, energy_asymmetric_case]
)
def test_recovery(case):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        table, extra = case()
    _check(table)
    if extra is not None:
        _check(extra)
