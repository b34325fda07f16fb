"""Virtual detectors, radial profiles, ring scores, interface bands, registration."""

import numpy as np
import pytest
from scipy import ndimage

from hyperspy_perovskite.analysis.diffraction import interfaces as itf
from hyperspy_perovskite.analysis.diffraction.calibration import (
    measure_reflection_radius,
    scale_from_camera,
    scale_from_reflection,
)
from hyperspy_perovskite.analysis.diffraction.phases import (
    lattice_mask,
    ring_positions,
    ring_scores,
)
from hyperspy_perovskite.analysis.diffraction.registration import register_series
from hyperspy_perovskite.analysis.diffraction.virtual import (
    Detector,
    accumulate,
    build_accumulator,
    radial_profiles,
)
from hyperspy_perovskite.crystallography import electron_wavelength


def test_detectors_equal_masked_sums():
    rng = np.random.default_rng(0)
    p = rng.poisson(5.0, (3, 4, 32, 32)).astype(np.uint16)
    k = (np.arange(32) - 15.5) * 0.02
    kx, ky = np.meshgrid(k, k)
    dets = [
        Detector("BF", "disk", 0, 0.06),
        Detector("ADF", "annulus", 0.15, 0.5),
        Detector("VDF", "disk", 0, 0.05, centre=(0.2, -0.1)),
    ]
    ptr, col, n, npix = build_accumulator(kx, ky, dets)
    out = accumulate(p, ptr, col, n)
    for i, d in enumerate(dets):
        m = d.mask(kx, ky)
        np.testing.assert_array_equal(out[..., i], p[..., m].sum(axis=-1))
        assert npix[i] == m.sum()


def test_detector_errors():
    with pytest.raises(ValueError, match="kind"):
        Detector("x", "ring", 0, 1)
    with pytest.raises(ValueError, match="inner < outer"):
        Detector("x", "annulus", 0.5, 0.2)


def test_radial_profile_follows_the_beam():
    """The same ring drawn about two beam positions gives the same profile."""
    yy, xx = np.mgrid[:48, :48]

    def ring(cx, cy):
        r = np.hypot(xx - cx, yy - cy)
        return 1 + 100 * np.exp(-0.5 * ((r - 12) / 0.8) ** 2)

    p = np.stack([ring(23.5, 23.5), ring(24.7, 22.8)])
    keep = np.ones((48, 48), bool)
    out = radial_profiles(
        p, np.array([[23.5, 23.5], [24.7, 22.8]]), (23.5, 23.5), keep, 4, 0.5, 30
    )
    s0, s1 = out[0, :30], out[1, :30]
    assert abs(np.argmax(s0) - np.argmax(s1)) <= 1
    assert np.argmax(s0) * 0.5 + 4 == pytest.approx(12, abs=0.5)


def test_ring_scores_are_standard_normal_on_background():
    """Pure Poisson background on a slope: z ~ N(0, 1) (no ring, no bias)."""
    rng = np.random.default_rng(2)
    e = np.linspace(0.2, 0.6, 81)
    g = 0.5 * (e[1:] + e[:-1])
    npix = np.full(80, 60.0)
    lam = npix * (5 - 6 * (g - 0.2))  # a linear halo flank
    prof = rng.poisson(lam, (2000, 80)).astype(float)
    z = ring_scores(prof, npix, e, [np.array([0.35, 0.45])], 0.01)
    assert abs(np.nanmean(z)) < 0.1
    assert 0.9 < np.nanstd(z) < 1.1
    prof[:, (np.abs(g - 0.35) <= 0.005)] += 200
    z = ring_scores(prof, npix, e, [np.array([0.35, 0.45])], 0.01)
    assert np.all(z[:, 0, 0] > 5)


def test_ring_positions_pb():
    r = ring_positions(["Pb", "Al"], (0.2, 0.6))
    np.testing.assert_allclose(r[0][:2], [np.sqrt(3) / 4.9502, 2 / 4.9502], rtol=1e-6)
    with pytest.raises(ValueError, match="no ring"):
        ring_positions(["Pb"], (0.05, 0.1))


def test_lattice_mask_covers_weak_reflections():
    yy, xx = np.mgrid[:64, :64]
    # strong (200)-type and weak (210)-type spots: the primitive basis is (100)
    off = np.array([[18.0, 0], [0, 18.0], [18.0, 9.0], [-9.0, 18.0]])
    m = lattice_mask(xx, yy, (32, 32), off, 2.0)
    assert m[32, 32 + 9]  # (100) masked although it was not given
    assert not m[32 + 4, 32 + 4]


def test_calibration_from_reflection_and_camera():
    kpix = 0.0191
    yy, xx = np.mgrid[:64, :64]
    r = 0.346 / kpix
    m = 1.0 + 300 * np.exp(-((xx - 31.5) ** 2 + (yy - 31.5) ** 2) / 2)
    for a in np.radians([0, 90, 180, 270]):
        m += 40 * np.exp(
            -((xx - 31.5 - r * np.cos(a)) ** 2 + (yy - 31.5 - r * np.sin(a)) ** 2) / 2
        )
    rad, err, n = measure_reflection_radius(m, (31.5, 31.5), 100)
    assert n == 4 and rad == pytest.approx(r, abs=0.02)
    assert scale_from_reflection(rad, 1 / 0.346) == pytest.approx(kpix, rel=1e-3)
    # camera: p / (L lambda), lambda from the relativistic formula
    lam = electron_wavelength(300.0)
    assert scale_from_camera(55.0, 146.0, 300.0) == pytest.approx(
        55e-6 / 0.146 / lam, rel=1e-9
    )
    with pytest.raises(ValueError, match="positive"):
        scale_from_reflection(-1, 2.0)


def test_band_mean_and_onset():
    rng = np.random.default_rng(4)
    s = np.tile(np.arange(20.0), (3, 5, 1))
    std = np.full(s.shape, 0.01)
    v = rng.normal(0.02, 0.01, s.shape)
    m, e, n, red = itf.band_mean(v, std, s, 10.0, 2.0)
    assert np.all(n == 25)
    np.testing.assert_allclose(e, 0.01 / 5, rtol=0.3)
    assert np.all(np.abs(m - 0.02) < 4 * e)
    t = np.arange(6.0) * 10
    assert itf.onset(
        t, np.array([0, 0, 0, 0.02, 0.3, 0.5]), np.full(6, 40), t < 25
    ) == (4, 30.0, 40.0)
    with pytest.raises(ValueError, match="baseline"):
        itf.onset(t, np.zeros(6), np.full(6, 40), np.zeros(6, bool))


def test_registration_recovers_subpixel_drift():
    rng = np.random.default_rng(5)
    base = ndimage.gaussian_filter(rng.random((40, 60)), 2.5)
    yy, xx = np.mgrid[:40, :60].astype(float)
    truth = np.array([[0, 0], [0.4, -0.7], [1.3, 0.25]])
    frames = [
        ndimage.map_coordinates(base, [yy + dy, xx + dx], order=3, mode="nearest")
        for dy, dx in truth
    ]
    frames = np.array(frames) + rng.normal(0, 0.002, (3, 40, 60))
    off, std, ok = register_series(frames, sigma=0)
    assert ok.all()
    np.testing.assert_allclose(off, truth, atol=0.03)
