"""JMAK law, its starting values and the fade test."""

import numpy as np
import pytest

from hyperspy_perovskite.analysis.kinetics import (
    estimate_jmak,
    jmak,
    significant_decrease,
)

T = np.linspace(0, 300, 121)


def test_jmak_law():
    y = jmak(T, 2.0, 0.01, 1.0, 50.0, residual=0.5)
    assert y[0] == 2.5 and y[T <= 50].std() == 0
    i = np.searchsorted(T, 150.0)
    assert y[i] == pytest.approx(0.5 + 2.0 * np.exp(-1.0))


@pytest.mark.parametrize(
    "k, n, t0", [(0.02, 2.0, 60.0), (0.02, 1.0, 30.0), (0.03, 3.0, 100.0)]
)
def test_estimate_close_to_truth(k, n, t0):
    y = np.stack([jmak(T, 10.0, k, n, t0, residual=1.0)] * 2)
    e = estimate_jmak(T, y)
    assert e["A"].shape == (2,)
    assert e["residual"][0] == pytest.approx(1.0, abs=0.4)
    assert abs(e["t0"][0] - t0) < 0.4 / k  # a starting value: within 0.4 decay times
    assert e["k"][0] == pytest.approx(k, rel=0.35)
    assert 1.0 <= e["n"][0] <= 4.0


def test_estimate_flat_trace():
    e = estimate_jmak(T, np.full(121, 3.0))
    assert e["A"] == 0.0 and e["k"] == 0.0


def test_estimate_bad():
    with pytest.raises(ValueError, match="6 time points"):
        estimate_jmak(T[:4], np.ones(4))
    with pytest.raises(ValueError, match="6 time points"):
        estimate_jmak(T, np.ones(10))


def test_significant_decrease():
    rng = np.random.default_rng(2)
    y = np.stack([np.full(60, 10.0), jmak(np.arange(60.0), 8.0, 0.1, 2.0, 10.0, 2.0)])
    y = y + rng.normal(0, 0.2, y.shape)
    faded, rel, sig = significant_decrease(np.arange(60.0), y)
    assert faded.tolist() == [False, True]
    assert rel[1] == pytest.approx(0.8, abs=0.05)
    with pytest.raises(ValueError, match="fraction"):
        significant_decrease(np.arange(60.0), y, fraction=0.9)


def test_profile_onset_intervals_per_trace():
    from hyperspy_perovskite.analysis.kinetics import (
        jmak,
        profile_onset,
        profile_onset_intervals,
    )

    t = np.arange(0.0, 300.0, 5.0)
    rng = np.random.default_rng(4)
    truth = dict(A=1.0, k=0.02, n=1.5, t0=60.0, residual=0.05)
    data = np.stack([jmak(t, **truth) + rng.normal(0, 0.01, t.size) for _ in range(2)])
    params = [np.array([truth[p], truth[p] if p != "k" else np.nan]) for p in truth]
    got = profile_onset_intervals(t, data, params, False, True)
    lo, hi, _ = profile_onset(t, data[0], truth, first_order=False, residual=True)
    np.testing.assert_allclose(got[0], [lo, hi])
    assert lo < truth["t0"] < hi
    assert np.isnan(got[1]).all()  # a trace without a fit has no interval
