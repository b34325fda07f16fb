"""Spot fits and strain tensors against independent truth (pulls, coverage)."""

import numpy as np
import pytest

from hyperspy_perovskite.analysis.diffraction.peaks import (
    find_reference_spots,
    fit_spots,
)
from hyperspy_perovskite.analysis.diffraction.strain import (
    fit_strain,
    reference_vectors,
    strain_from_gradient,
)


def _disk_pattern(centres, amps, size=48, radius=1.5, psf=0.7, bg=2.0, ss=5):
    """Pixel-integrated disks blurred by a Gaussian PSF (supersampled), not a Gaussian."""
    from scipy import ndimage

    n = size * ss
    yy, xx = (np.mgrid[:n, :n] + 0.5) / ss - 0.5
    img = np.zeros((n, n))
    for (cx, cy), a in zip(centres, amps, strict=True):
        # anti-aliased edge: a hard disk on the fine grid has a centroid
        # error of ~0.02 px
        d = np.clip((radius - np.hypot(xx - cx, yy - cy)) * ss + 0.5, 0.0, 1.0)
        img += a * d / d.sum() * ss * ss
    img = ndimage.gaussian_filter(img, psf * ss)
    return bg + img.reshape(size, ss, size, ss).mean(axis=(1, 3))


def test_disk_positions_pulls():
    """A Gaussian fitted to a noisy disk: unbiased centre, calibrated errors."""
    rng = np.random.default_rng(3)
    pulls = []
    for _ in range(250):
        c = np.array([11.0, 12.0]) + rng.uniform(-0.5, 0.5, 2)
        lam = _disk_pattern([c], [400.0], size=24)
        r = fit_spots(rng.poisson(lam)[None], (11, 12), np.zeros((0, 2)))[0, 0]
        assert r[8] == 1
        pulls.append((r[:2] - c) / r[2:4])
    p = np.array(pulls).ravel()
    assert abs(p.mean()) < 0.12
    assert 0.85 < p.std() < 1.2
    assert 0.6 < (np.abs(p) < 1).mean() < 0.76
    assert (np.abs(p) < 2).mean() > 0.92


def test_empty_window_is_not_a_spot():
    rng = np.random.default_rng(0)
    img = rng.poisson(3.0, (32, 32)).astype(float)
    r = fit_spots(img[None], (16, 16), np.zeros((0, 2)))[0, 0]
    assert r[8] == 0


def _lattice_pattern(f, g0, beam, rng, amp=600.0):
    g = (np.linalg.inv(f).T @ g0.T).T
    lam = _disk_pattern([beam] + list(beam + g), [3000.0] + [amp] * len(g), size=64)
    return rng.poisson(lam)


def test_strain_recovered_with_covariance():
    """Known F = R (I + eps): strain and rotation within the reported errors."""
    rng = np.random.default_rng(1)
    g0 = np.array([[14.0, 0], [0, 14.0], [-14.0, 0], [0, -14.0], [14, 14], [-14, 14.0]])
    g0 = np.vstack([g0, -g0[4:]])
    eps = np.array([[0.012, 0.003], [0.003, -0.006]])
    th = 0.004
    rot = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    f = rot @ (np.eye(2) + eps)
    truth = np.array([eps[0, 0], eps[1, 1], eps[0, 1], th])
    beam = np.array([31.7, 32.2])
    pulls = []
    for _ in range(40):
        p = _lattice_pattern(f, g0, beam, rng)
        spots = fit_spots(p[None], beam.round(), g0, half_window=4)
        st = fit_strain(spots, g0)[0]
        pulls.append((st[:4] - truth) / st[4:8])
    p = np.array(pulls)
    # small-strain polar decomposition is exact here: the pulls follow N(0, 1)
    assert np.all(np.abs(p.mean(axis=0)) < 0.45)
    assert np.all((p.std(axis=0) > 0.65) & (p.std(axis=0) < 1.45))


def test_strain_from_gradient_exact():
    eps = np.array([[0.02, -0.004], [-0.004, 0.01]])
    th = -0.01
    rot = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    d = np.linalg.inv(rot @ (np.eye(2) + eps)).T
    np.testing.assert_allclose(
        strain_from_gradient(d), [0.02, 0.01, -0.004, th], atol=1e-12
    )


def test_collinear_spots_give_nan():
    spots = np.zeros((1, 3, 9))
    spots[..., 2:4] = 0.05
    spots[..., 4], spots[..., 5], spots[..., 6], spots[..., 8] = 100, 1, 1.5, 1
    spots[0, 1, :2] = 10, 0
    spots[0, 2, :2] = -10, 0
    out = fit_strain(spots, np.array([[10.0, 0], [-10.0, 0]]), min_spots=2)
    assert np.isnan(out[0, 0])


def test_fit_strain_checks():
    with pytest.raises(ValueError, match="reference vectors"):
        fit_strain(np.zeros((1, 3, 9)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="min_spots"):
        fit_strain(np.zeros((1, 3, 9)), np.zeros((2, 2)), min_spots=1)


def test_reference_vectors_missing_spot():
    spots = np.zeros((4, 3, 9))
    spots[..., 2:4] = 0.1
    spots[..., 8] = 1
    spots[:, 2, 8] = 0
    with pytest.raises(ValueError, match="not found"):
        reference_vectors(spots, np.ones(4, bool))


def test_find_reference_spots_orders_by_strength():
    m = _disk_pattern([(32, 32), (44, 32), (32, 20)], [5000, 300, 900], size=64, bg=1)
    off, z = find_reference_spots(m, (32, 32), 50)
    np.testing.assert_allclose(off[:2], [[0, -12], [12, 0]], atol=1)
    assert z[0] > z[1]


def test_to_device_frame_rotates_positions():
    from hyperspy_perovskite.analysis.diffraction.strain import to_device_frame

    sp = np.zeros((2, 9))
    sp[:, :4] = [[1.0, 0.0, 0.3, 0.4], [0.0, 2.0, 0.1, 0.1]]
    a = np.radians(30.0)  # the stack at 30 deg on the detector
    out = to_device_frame(sp, a)
    # turned by -30 deg: (1, 0) -> (cos 30, -sin 30), (0, 2) -> (2 sin 30, 2 cos 30)
    np.testing.assert_allclose(out[0, :2], [np.cos(a), -np.sin(a)], atol=1e-12)
    np.testing.assert_allclose(out[1, :2], [2 * np.sin(a), 2 * np.cos(a)], atol=1e-12)
    np.testing.assert_allclose(out[0, 2:4], np.sqrt(0.5 * (0.09 + 0.16)))
    assert to_device_frame(sp, 0.0) is sp


def test_strain_reasons_bits():
    from hyperspy_perovskite.analysis.diffraction.strain import (
        STRAIN_FIELDS,
        STRAIN_REASONS,
        strain_reasons,
    )

    s = np.zeros((4, len(STRAIN_FIELDS)))
    s[:, 8] = [5, 2, 5, 5]  # n_spots
    s[:, 9] = [1.0, 1.0, 30.0, 1.0]  # reduced chi-squared
    s[3, 0] = np.nan
    valid, reasons = strain_reasons(s, 3, 10.0)
    assert valid.tolist() == [True, False, False, False]
    assert reasons.tolist() == [0, 1, 2, 4]
    assert len(STRAIN_REASONS) == 3
