"""Segmentation, signed edge distance and grid registration."""

import numpy as np
import pytest

from hyperspy_perovskite.analysis import particles
from hyperspy_perovskite.data.cl_simulation import simulate_cl_map


def test_segmentation_recovers_simulated_particles():
    haadf, _, truth = simulate_cl_map(
        shape=(64, 64), n_channels=16, seed=11, haadf_oversampling=2
    )
    lab = particles.segment_particles(haadf.data)
    true = truth["haadf_labels"]
    assert lab.max() == true.max()
    agree = ((lab > 0) == (true > 0)).mean()
    assert agree > 0.97
    # each found particle overlaps one true particle
    for k in range(1, lab.max() + 1):
        assert len(np.unique(true[lab == k])) <= 2


def test_signed_distance_of_a_disc_matches_geometry():
    n, px = 101, 2.0
    yy, xx = (np.mgrid[0:n, 0:n] + 0.5) * px
    r = 59.3
    true = r - np.hypot(yy - 101.0, xx - 101.0)
    d = particles.signed_edge_distance(true > 0, px)
    near = np.abs(true) < 40
    assert np.max(np.abs(d - true)[near]) < 1.5 * px
    assert np.all(np.sign(d) == np.sign(true))
    # anisotropic pixels
    d2 = particles.signed_edge_distance(np.ones((3, 5)) * [0, 1, 1, 1, 0], (1.0, 10.0))
    assert d2[1].tolist() == [-5.0, 5.0, 15.0, 5.0, -5.0]


def test_all_or_nothing_and_bad_input():
    assert np.all(particles.signed_edge_distance(np.ones((3, 3)), 1.0) == np.inf)
    assert np.all(particles.signed_edge_distance(np.zeros((3, 3)), 1.0) == -np.inf)
    with pytest.raises(ValueError, match="positive"):
        particles.signed_edge_distance(np.ones((3, 3)), 0.0)
    with pytest.raises(ValueError, match="2D"):
        particles.segment_particles(np.ones(5))
    with pytest.raises(ValueError, match="NaN"):
        particles.segment_particles(np.full((4, 4), np.nan))
    with pytest.raises(ValueError, match="uniform"):
        particles.segment_particles(np.ones((4, 4)))
    with pytest.raises(ValueError, match="boolean"):
        particles.labels_from_mask(np.full((3, 3), 2))


def test_labels_from_mask_min_size_and_holes():
    m = np.zeros((8, 8), bool)
    m[1:5, 1:5] = True
    m[2:4, 2:4] = False  # a hole
    m[6, 6] = True  # a speck
    lab = particles.labels_from_mask(m, min_size=2)
    assert lab.max() == 1 and (lab == 1).sum() == 16 and lab[6, 6] == 0


def test_resample_to_grid_and_overlap():
    fine = np.arange(36.0).reshape(6, 6)
    c6 = (np.arange(6) + 0.5) * 1.0
    c3 = (np.arange(3) + 0.5) * 2.0
    nearest = particles.resample_to_grid(fine, c6, c6, c3, c3, order=0)
    linear = particles.resample_to_grid(fine, c6, c6, c3, c3, order=1)
    assert linear.tolist() == [[3.5, 5.5, 7.5], [15.5, 17.5, 19.5], [27.5, 29.5, 31.5]]
    assert nearest.shape == (3, 3)
    # a target grid beyond the source field of view is refused
    with pytest.raises(ValueError, match="does not cover"):
        particles.resample_to_grid(fine, c6, c6, c3 + 4.0, c3)
    with pytest.raises(ValueError, match="order"):
        particles.resample_to_grid(fine, c6, c6, c3, c3, order=3)
    with pytest.raises(ValueError, match="does not match"):
        particles.resample_to_grid(fine[:5], c6, c6, c3, c3)


def test_split_touching_particles():
    yy, xx = np.mgrid[0:40, 0:60]
    a = np.hypot(yy - 20, xx - 18) < 10
    b = np.hypot(yy - 20, xx - 37) < 10
    img = 10.0 + 40.0 * (a | b)
    merged = particles.segment_particles(img, smoothing=0)
    assert merged.max() == 1
    lab = particles.segment_particles(img, smoothing=0, split=True)
    assert lab.max() == 2
    # each part is essentially one of the discs
    for disc in (a, b):
        ids, counts = np.unique(lab[disc], return_counts=True)
        assert counts.max() / disc.sum() > 0.9
    # a single disc stays whole
    assert particles.split_touching(a.astype(int)).max() == 1
    with pytest.raises(ValueError, match="min_distance"):
        particles.split_touching(a.astype(int), min_distance=0)
