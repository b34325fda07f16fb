"""Per-particle table and the intensity-size correlation."""

import numpy as np
import pytest

from hyperspy_perovskite.analysis.particle_statistics import (
    PARTICLE_COLUMNS,
    particle_table,
    size_intensity_correlation,
)


def test_table_values():
    lab = np.array([[1, 1, 0, 2], [1, 0, 0, 2], [0, 3, 3, 3]])
    inten = np.array([[1.0, 2.0, 99, 5.0], [3.0, 99, 99, np.nan], [99, 4.0, 4.0, 4.0]])
    valid = np.ones(lab.shape, bool)
    valid[0, 0] = False
    t = particle_table(lab, 2.5, intensity=inten, valid=valid)
    assert list(t) == list(PARTICLE_COLUMNS)
    assert t["label"].tolist() == [1, 2, 3]
    assert t["area"].tolist() == [7.5, 5.0, 7.5]
    assert t["n_valid"].tolist() == [2, 2, 3]
    assert t["intensity_mean"].tolist() == [2.5, 5.0, 4.0]
    assert t["intensity_sem"][0] == pytest.approx(0.5)
    assert np.isnan(t["intensity_sem"][1])  # one finite value
    assert np.all(np.isnan(t["centre_mean"]))
    assert t["equivalent_diameter"][0] == pytest.approx(2 * np.sqrt(7.5 / np.pi))


def test_correlation_detects_and_rejects():
    rng = np.random.default_rng(0)
    area = rng.uniform(500, 5000, 25)
    unrelated = rng.lognormal(0, 0.4, 25)
    r = size_intensity_correlation(area, unrelated)
    assert not r["significant"] and r["n"] == 25
    related = area * rng.lognormal(0, 0.4, 25)
    r2 = size_intensity_correlation(area, related)
    assert r2["significant"] and r2["spearman_rho"] > 0.5 and r2["pearson_r_log"] > 0.5


def test_bad_input():
    with pytest.raises(ValueError, match="integer"):
        particle_table(np.ones((2, 2)), 1.0)
    with pytest.raises(ValueError, match="pixel_area"):
        particle_table(np.ones((2, 2), int), 0.0)
    with pytest.raises(ValueError, match="shape"):
        particle_table(np.ones((2, 2), int), 1.0, sigma=np.ones(3))
    with pytest.raises(ValueError, match="at least 4"):
        size_intensity_correlation([1, 2, np.nan], [1, 2, 3])
    with pytest.raises(ValueError, match="same length"):
        size_intensity_correlation([1, 2], [1])
