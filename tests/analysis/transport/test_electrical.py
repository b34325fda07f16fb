"""Change-point onset of electrical logs: recovery over seeds, edge cases."""

import numpy as np
import pytest

from hyperspy_perovskite.analysis.transport.electrical import (
    change_point_onset,
    conductance,
    hinge,
    resistance,
)
from hyperspy_perovskite.data.jv_simulation import simulate_electrical_log


@pytest.mark.parametrize("mode", ["potentiostatic", "galvanostatic"])
def test_onset_pulls_over_seeds(mode):
    pulls = []
    for seed in range(150):
        d = simulate_electrical_log(
            seed=seed,
            noise=0.01,
            rate=0.002,
            mode=mode,
            setpoint=1.0 if mode == "potentiostatic" else 5e-5,
        )
        if mode == "potentiostatic":  # measured current: conductance has flat noise
            y, _ = conductance(d["voltage"], d["current"])
        else:  # measured voltage: resistance has flat noise
            y, _ = resistance(d["voltage"], d["current"])
        r = change_point_onset(d["time"], y)
        assert r["significant"]
        pulls.append((r["onset"] - d["truth"]["onset"]) / r["onset_std"])
    p = np.array(pulls)
    assert abs(p.mean()) < 0.2
    assert 0.85 < p.std() < 1.15
    assert 0.6 < np.mean(np.abs(p) < 1) < 0.78
    assert 0.92 < np.mean(np.abs(p) < 2) < 0.99


def test_known_sigma_and_slopes():
    t = np.arange(0.0, 200.0, 0.5)
    y = hinge(t, 2.0, 0.001, 0.02, 60.0)
    y = y + np.random.default_rng(3).normal(0, 0.05, t.size)
    r = change_point_onset(t, y, sigma=0.05)
    assert abs(r["onset"] - 60.0) < 3 * r["onset_std"]
    assert abs(r["slope_after"] - 0.021) < 3 * r["slope_after_std"]
    assert r["sigma"] == 0.05
    lo, hi = r["onset_interval"]
    assert lo < r["onset"] < hi


def test_no_change_is_not_significant():
    t = np.arange(0.0, 100.0)
    y = 1.0 + np.random.default_rng(0).normal(0, 0.01, t.size)
    assert not change_point_onset(t, y)["significant"]


def test_errors():
    t = np.arange(20.0)
    with pytest.raises(ValueError, match="non-finite"):
        change_point_onset(t, np.where(t > 3, 1.0, np.nan))
    with pytest.raises(ValueError, match="increase"):
        change_point_onset(t[::-1], t)
    with pytest.raises(ValueError, match="at least 11"):
        change_point_onset(t[:8], t[:8])


def test_resistance_and_conductance_std():
    r, rs = resistance(1.0, 1e-4, current_std=1e-6)
    g, gs = conductance(1.0, 1e-4, current_std=1e-6)
    assert r == 1e4 and np.isclose(rs, 100.0)
    assert g == 1e-4 and np.isclose(gs, 1e-6)
