"""Recovery of emission parameters on independent simulations, both axes.

The simulator (:func:`simulate_emission_spectra`) bins photon densities into
air-wavelength channels with a dark level, spikes, Poisson noise; the fits
use ``poisson=True`` (counts). Reported: fraction of pixels whose truth lies
within 1 and 2 reported standard errors (aim 0.68 / 0.95) and the pulls'
mean and spread. ``recovery_table`` is also what the report script prints.
"""

import functools
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


def _coverage_ok(table, honest=True):
    """Coverage at the aim 0.68 / 0.95 within 3 binomial standard deviations
    and the pulls' spread within 3 sampling standard deviations of 1 over
    the pixels of each row (``honest``); else the documented level of the
    cases that miss it."""
    print(table)
    bad = []
    for name in table.index:
        row = table.row(name)
        n_pixels = row["pixels"]
        assert n_pixels >= 100, f"{name}: only {n_pixels} valid pixels"
        s1 = 3 * np.sqrt(0.68 * 0.32 / n_pixels)
        s2 = 3 * np.sqrt(0.95 * 0.05 / n_pixels)
        s_std = 3 / np.sqrt(2 * n_pixels)
        if honest:
            ok = (
                abs(row["coverage 1 std"] - 0.68) <= s1
                and row["coverage 2 std"] >= 0.95 - s2
                and abs(row["pull std"] - 1) <= s_std
                and abs(row["pull mean"]) <= 3 / np.sqrt(n_pixels)
            )
        else:
            ok = row["coverage 1 std"] >= 0.55 and row["coverage 2 std"] >= 0.8
        if not ok:
            bad.append((name, row))
    return bad


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
        minor,
        {
            "minor band area": ("area", t["second_photons"] * w),
            "minor band centre (nm)": ("centre", t["second_centre"]),
        },
        "",
    )
    return table, t2


def wavelength_asymmetric_case(n_pixels=100, seed=4):
    """An exponentially modified band (tau 10 nm towards long wavelengths)."""
    s, t = simulate_emission_spectra(
        n_pixels=n_pixels,
        space="wavelength",
        band_energy=(700, 720),
        band_sigma=(8, 12),
        asymmetry=10.0,
        seed=seed,
        **COMMON,
    )
    m = s.fit_emission(band="asymmetric", poisson=True)
    maps = s.emission_maps(m)
    truth = {
        "centre (nm)": ("centre", t["centre"]),
        "sigma (nm)": ("sigma", t["sigma"]),
        "tau (nm)": ("tau", np.full(n_pixels, 10.0)),
        "area": ("area", t["photons"] * t["channel_width"]),
    }
    return recovery_table(maps, truth, "Wavelength axis: asymmetric band"), None


def energy_tail_case(n_pixels=300, seed=2):
    """Band + continuous Urbach tail whose edge sits 30 meV inside the band.

    The centre, edge and Eu are strongly correlated there and their
    estimates are skewed with heavy tails at 2e5 photons (at a fixed truth
    the spread exceeds the linearised error by up to 20 % in some corners of
    the simulated range while the coverage stays at 0.68 / 0.95): 300 pixels
    keep the pulls' spread a stable statistic (100 pixels of seed 2 gave
    1.23, 300 give 1.00).
    """
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


def energy_asymmetric_case(n_pixels=300, seed=3):
    """Asymmetric band (tau 40 meV) and a minor Gaussian band 0.12 eV below,
    both fitted as asymmetric bands: the minor band's tail is not
    identified in most pixels and is fitted in its Gaussian limit
    (``_cl_fit.gaussian_limit``); the main band's tau is mapped where it is
    identified. A few pixels take the other reading (tau 21-26 meV, the
    minor band broader and 3x brighter, chi-squared within a noise
    variance of the true reading) with errors of 2 meV: the refit from the
    map's own reading (``_cl_limits.second_reading``) finds both and
    rejects them. Measured, 300 pixels: tau pull spread 1.36 / 0.99 / 1.25
    before, 1.17 / 0.92 / 1.09 after (seeds 4 / 5 / 6, used to design the
    rule, 2 / 2 / 3 pixels rejected); held out, seeds 7 / 8 / 9: 1.04 /
    1.02 / 1.08 (1 / 0 / 5 rejected)."""
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
    minor = s.emission_maps(m, component="Emission_2")
    w = t["channel_width"]
    truth = {
        "centre (eV)": ("centre", t["centre"]),
        "sigma (eV)": ("sigma", t["sigma"]),
        "tau (eV)": ("tau", np.full(n_pixels, 0.04)),
        "area": ("area", t["photons"] * w / 1000),
    }
    t2 = recovery_table(
        minor,
        {
            "minor band area": ("area", t["second_photons"] * w / 1000),
            "minor band centre (eV)": ("centre", t["second_centre"]),
        },
        "",
    )
    title = "Energy axis: asymmetric band + minor band"
    tau = m["Emission"].tau.map  # every pixel, valid or not
    flagged = {
        # off the truth by more than 10 typical (median) tau errors
        "far off": np.abs(tau["values"] - 0.04) > 10 * np.nanmedian(tau["std"]),
        "pull": (tau["values"] - 0.04) / tau["std"],
        "valid": maps["valid"].data,
        "minor valid": minor["valid"].data,
        "validity": m.validity,
    }
    return recovery_table(maps, truth, title), t2, flagged


def wavelength_asymmetric_minor_case(n_pixels=300, seed=21):
    """Asymmetric band (tau 10 nm towards long wavelengths) and a minor
    Gaussian band 40 nm to the red, inside that tail, fitted as two
    asymmetric bands on the wavelength axis. A few pixels take the "second
    reading": the main band in its Gaussian limit and a broader minor band
    (2.5x its area) holding the tail, centre pulls 25-51. They are rejected
    as "asymmetric tail and minor band not identified"
    (``_cl_limits.neighbour_identified``). Measured, 300 pixels, seeds
    21 / 22 / 23: 3 / 5 / 8 pixels flagged (valid fraction 0.99 / 0.98 /
    0.97); centre pulls over the valid pixels -0.11/0.98, 0.04/1.00,
    -0.03/0.95 (coverage 0.72/0.97, 0.67/0.95, 0.72/0.96; before the rule
    pull spread 4.1 / 6.0 / 6.2), area 1.06 / 1.13 / 1.00, minor band area
    1.07 / 1.15 / 1.01."""
    s, t = simulate_emission_spectra(
        n_pixels=n_pixels,
        space="wavelength",
        band_energy=(700, 720),
        band_sigma=(8, 12),
        asymmetry=10.0,
        second_band=0.15,
        second_shift=40,
        seed=seed,
        **COMMON,
    )
    m = s.fit_emission(band="asymmetric", n_peaks=2, poisson=True)
    maps = s.emission_maps(m)
    minor = s.emission_maps(m, component="Emission_2")
    w = t["channel_width"]
    truth = {
        "centre (nm)": ("centre", t["centre"]),
        "sigma (nm)": ("sigma", t["sigma"]),
        "tau (nm)": ("tau", np.full(n_pixels, 10.0)),
        "area": ("area", t["photons"] * w),
    }
    t2 = recovery_table(
        minor,
        {
            "minor band area": ("area", t["second_photons"] * w),
            "minor band centre (nm)": ("centre", t["second_centre"]),
        },
        "",
    )
    title = "Wavelength axis: asymmetric band + minor band"
    centre = m["Emission"].centre.map  # every pixel, valid or not
    converged = np.isfinite(centre["std"])
    pull = (centre["values"] - t["centre"]) / centre["std"]
    flagged = {
        "far off": converged & (np.abs(pull) > 5),
        "valid": maps["valid"].data,
        "minor valid": minor["valid"].data,
        "validity": m.validity,
    }
    return recovery_table(maps, truth, title), t2, flagged


def quantum_emitter_case(n_pixels=100, seed=5):
    """Voigt lines (Lorentzian half width 0.15 nm, Gaussian sigma 0.08-0.12
    nm) on 0.025 nm channels. The channel integrates the line: the fitted
    sigma is that of the recorded profile, sqrt(sigma^2 + w^2 / 12)."""
    s, t = simulate_emission_spectra(
        n_pixels=n_pixels,
        space="wavelength",
        wavelength_range=(660, 680),
        n_channels=800,
        band_energy=(668, 672),
        band_sigma=(0.08, 0.12),
        line_gamma=0.15,
        band_photons=2.0e4,
        dark_counts=5.0,
        n_spikes=6,
        seed=seed,
    )
    w = t["channel_width"]
    m = s.fit_emission(band="voigt", poisson=True)
    maps = s.emission_maps(m)
    truth = {
        "centre (nm)": ("centre", t["centre"]),
        "sigma (nm)": ("sigma", np.sqrt(t["sigma"] ** 2 + w**2 / 12)),
        "gamma (nm)": ("gamma", np.full(n_pixels, 0.15)),
        "area": ("area", t["photons"] * w),
    }
    table = recovery_table(maps, truth, "Quantum emitter: Voigt line")
    # a Gaussian does not describe a Voigt line: the residual test says so
    gauss = s.emission_maps(s.fit_emission(band="gaussian", poisson=True))
    return table, None, gauss["valid"].data.mean()


CASES = {
    "wavelength": (wavelength_case, True),
    "wavelength_asymmetric": (wavelength_asymmetric_case, True),
    "quantum_emitter": (quantum_emitter_case, True),
    "energy_tail": (energy_tail_case, True),
    "energy_asymmetric": (energy_asymmetric_case, True),
    "wavelength_asymmetric_minor": (wavelength_asymmetric_minor_case, True),
}


@functools.cache
def _run(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return CASES[name][0]()


@pytest.mark.parametrize("name", list(CASES))
def test_recovery_documented_level(name):
    """Every case at least at its documented level (regression guard)."""
    out = _run(name)
    for table in out[:2]:
        if table is not None:
            assert not _coverage_ok(table, honest=CASES[name][1])


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=[] if honest else pytest.mark.xfail(strict=True))
        for n, (_, honest) in CASES.items()
    ],
)
def test_recovery_at_the_aim(name):
    """Coverage 0.68 / 0.95 and pulls N(0, 1) within binomial tolerance."""
    out = _run(name)
    for table in out[:2]:
        if table is not None:
            assert not _coverage_ok(table, honest=True)


def test_second_reading_flagged():
    """The asymmetric + minor band pixels read the other way (main band in
    its Gaussian limit, its tail held by a broader minor band) are rejected,
    both bands, with their named reason; nearly all other pixels stay."""
    f = _run("wavelength_asymmetric_minor")[2]
    assert f["far off"].any()  # the case does show the second reading
    assert not (f["far off"] & f["valid"]).any()
    assert not (f["far off"] & f["minor valid"]).any()
    name = "asymmetric tail and minor band not identified"
    bit = 1 << f["validity"].reason_names.index(name)
    assert np.all(f["validity"].reasons[f["far off"]] & bit)
    assert f["valid"].mean() >= 0.95


def test_partial_trade_flagged():
    """Energy axis, asymmetric + minor band: a pixel whose tail is partly
    held by a broader minor band (the other reading, tau 10 typical errors
    off) is rejected, both bands, with the named reason; no valid pixel has
    a tau more than 5 of its own errors off; nearly all pixels stay."""
    f = _run("energy_asymmetric")[2]
    assert f["far off"].any()  # the case does show the other reading
    name = "asymmetric tail and minor band not identified"
    assert name in f["validity"].reason_names  # the rule fired
    bit = 1 << f["validity"].reason_names.index(name)
    flagged = (f["validity"].reasons & bit) != 0
    assert (flagged & f["far off"]).any()
    assert not (flagged & f["valid"]).any()
    assert not (flagged & f["minor valid"]).any()
    with np.errstate(invalid="ignore"):
        assert not (f["valid"] & (np.abs(f["pull"]) > 5)).any()
    assert f["valid"].mean() >= 0.95


def test_gaussian_rejected_on_voigt_lines():
    """The residual test rejects a Gaussian fitted to Voigt lines."""
    assert _run("quantum_emitter")[2] < 0.05
