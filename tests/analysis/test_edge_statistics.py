"""Profile versus edge distance and the edge-versus-core test."""

import numpy as np
import pytest

from hyperspy_perovskite.analysis.edge_statistics import (
    edge_core_test,
    profile_vs_distance,
)


def _scene(effect, seed=0, n_particles=12):
    """Particles with pixels at depths 5..45; sigma = 15 + effect * exp(-d/10) + noise."""
    rng = np.random.default_rng(seed)
    depth = np.tile(np.repeat(np.arange(5.0, 50.0, 10.0), [8, 6, 4, 3, 1]), n_particles)
    labels = np.repeat(np.arange(1, n_particles + 1), 22)
    particle_offset = rng.normal(0, 1.0, n_particles)[labels - 1]
    values = (
        15
        + effect * np.exp(-depth / 10)
        + particle_offset
        + rng.normal(0, 1.0, depth.size)
    )
    return values, depth, labels


def test_profile_mean_and_sem():
    rng = np.random.default_rng(1)
    d = rng.uniform(0, 40, 4000)
    v = 10 + 0.1 * d + rng.normal(0, 2, d.size)
    p = profile_vs_distance(v, d, bins=[0, 10, 20, 30, 40])
    assert np.allclose(p["mean"], 10 + 0.1 * p["centres"], atol=4 * p["sem"])
    assert np.allclose(p["sem"], 2 / np.sqrt(p["count"]), rtol=0.15)
    assert p["count"].sum() == 4000
    # matrix pixels (d <= 0) are excluded by default, NaN ignored
    p2 = profile_vs_distance([1.0, 2.0, np.nan], [-5.0, 5.0, 6.0], bins=1)
    assert p2["count"].tolist() == [1] and p2["mean"].tolist() == [2.0]


def test_edge_effect_detected_with_paired_test():
    v, d, lab = _scene(effect=6.0)
    r = edge_core_test(v, d, edge_width=10.0, labels=lab)
    assert r["test"] == "paired" and r["n_particles_paired"] == 12
    assert r["significant"] and r["p_value"] < 1e-4
    # truth: edge pixels at d = 5 -> 6 exp(-0.5) = 3.64; core mean of 6 exp(-d/10)
    d_core = d[(d > 10) & (lab == 1)]
    truth = 6 * np.exp(-0.5) - np.mean(6 * np.exp(-d_core / 10))
    assert abs(r["paired_difference"] - truth) < 3 * r["paired_difference_sem"]


@pytest.mark.parametrize("seed", range(5))
def test_no_edge_effect_not_significant(seed):
    v, d, lab = _scene(effect=0.0, seed=seed)
    r = edge_core_test(v, d, edge_width=10.0, labels=lab, alpha=0.01)
    assert not r["significant"]
    assert abs(r["difference"]) < 4 * r["difference_sem"]


def test_pixel_test_without_labels_and_alternatives():
    v, d, _ = _scene(effect=6.0)
    r = edge_core_test(v, d, edge_width=10.0)
    assert r["test"] == "pixels" and r["significant"]
    assert not edge_core_test(v, d, edge_width=10.0, alternative="less")["significant"]
    assert edge_core_test(v, d, edge_width=10.0, alternative="two-sided")["significant"]


def test_bad_input():
    v, d, lab = _scene(effect=1.0)
    with pytest.raises(ValueError, match="same shape"):
        profile_vs_distance(v[:-1], d)
    with pytest.raises(ValueError, match="edge_width"):
        edge_core_test(v, d, edge_width=0)
    with pytest.raises(ValueError, match="alternative"):
        edge_core_test(v, d, 10.0, alternative="bigger")
    with pytest.raises(ValueError, match="Need >= 2"):
        edge_core_test(v, d, edge_width=100.0)
    with pytest.raises(ValueError, match="No valid"):
        profile_vs_distance(v, -d)
    with pytest.raises(ValueError, match="increasing"):
        profile_vs_distance(v, d, bins=[3, 1])
