"""Region comparison: does the biased region change more than the noise?"""

import numpy as np
import pytest

from hyperspy_perovskite.analysis.regions import (
    compare_traces,
    relative_change,
    trace_noise,
)


def test_trace_noise_ignores_trend():
    rng = np.random.default_rng(0)
    t = np.linspace(0, 1, 5000)
    x = 10 * np.exp(-3 * t) + rng.normal(0, 0.2, t.size)
    assert trace_noise(x) == pytest.approx(0.2, rel=0.05)


def test_relative_change_error_is_calibrated():
    # the reported error matches the scatter of the change over many trials
    rng = np.random.default_rng(1)
    changes, errors = [], []
    for _ in range(300):
        x = 2.0 + rng.normal(0, 0.1, 100)
        c, e = relative_change(x)
        changes.append(c)
        errors.append(e)
    assert np.std(changes) == pytest.approx(np.mean(errors), rel=0.15)


def test_compare_significant_and_not():
    rng = np.random.default_rng(2)
    t = np.arange(200.0)
    a = 1 + rng.normal(0, 0.05, t.size)
    b = 1 + rng.normal(0, 0.05, t.size)
    r = compare_traces(a, b)
    assert not r["significant"] and not r["changed_a"] and not r["changed_b"]
    b2 = np.exp(-t / 80) + rng.normal(0, 0.05, t.size)
    r = compare_traces(a, b2, before=slice(0, 20), after=slice(180, 200))
    assert r["significant"] and r["changed_b"] and not r["changed_a"]
    assert r["difference"] == pytest.approx(r["change_b"] - r["change_a"])
    assert r["change_b"] == pytest.approx(np.exp(-190 / 80) - 1, abs=0.1)


def test_errors():
    with pytest.raises(ValueError, match="same length"):
        compare_traces(np.ones(5), np.ones(6))
    with pytest.raises(ValueError, match="n_sigma"):
        compare_traces(np.ones(5), np.ones(5), n_sigma=0)
    with pytest.raises(ValueError, match="at least 3"):
        trace_noise([1.0, 2.0])
    with pytest.raises(ValueError, match="initial mean is zero"):
        relative_change(np.r_[np.zeros(10), np.ones(10)])
