"""The threaded compiled spike screen equals the numpy reference, block by block."""

import numpy as np
import pytest

from hyperspy_perovskite import _threads
from hyperspy_perovskite.analysis import cl_checks


def test_threaded_screen_equals_numpy(monkeypatch):
    monkeypatch.setattr(_threads, "MIN_ROWS", 7)  # many small blocks
    rng = np.random.default_rng(5)
    x = np.arange(200.0)
    y = rng.poisson(5 + 600 * np.exp(-0.5 * ((x - 90) / 15) ** 2), (6, 9, 200))
    y = y.astype(float)
    y[rng.integers(0, 6, 40), rng.integers(0, 9, 40), rng.integers(0, 200, 40)] += 3e3
    ref = cl_checks._spikes_np(y, 8.0, 7, 2, compiled=False)
    got = cl_checks._spikes_np(y, 8.0, 7, 2)
    assert got[0].shape == y.shape and got[0].sum() >= 30
    np.testing.assert_array_equal(got[0], ref[0])
    np.testing.assert_array_equal(got[1], ref[1])


def test_integer_counts_screened_as_floats(monkeypatch):
    """Integer counts are converted block by block: the same spikes as their
    float copy; ``median=False`` keeps no median."""
    monkeypatch.setattr(_threads, "MIN_ROWS", 5)
    rng = np.random.default_rng(6)
    y = rng.poisson(
        20 + 400 * np.exp(-0.5 * ((np.arange(120) - 60) / 9) ** 2), (30, 120)
    )
    y[rng.integers(0, 30, 12), rng.integers(0, 120, 12)] += 2000
    ref = cl_checks._spikes_np(y.astype(float), 8.0, 7, 2, compiled=False)
    spikes, med = cl_checks._spikes_np(y, 8.0, 7, 2, median=False)
    assert med is None and spikes.sum() >= 10
    np.testing.assert_array_equal(spikes, ref[0])
    np.testing.assert_array_equal(cl_checks.find_spikes(y), ref[0])


@pytest.mark.parametrize("screen_rows", [256, 3])
def test_spike_rows_equal_find_spikes_any(monkeypatch, screen_rows):
    """``spike_rows`` (the fit's screen: which spectra to clean) equals
    ``find_spikes(y).any(-1)``, block by block, with non-finite spectra in
    one block (screened there by the numpy reference) and on integer data;
    also screened 3 spectra at a time (its work array of spike flags
    cleared after each call that set one)."""
    from hyperspy_perovskite.analysis import _cl_spikes_numba

    monkeypatch.setattr(_threads, "MIN_ROWS", 4)
    monkeypatch.setattr(_cl_spikes_numba, "_SCREEN_ROWS", screen_rows)
    rng = np.random.default_rng(8)
    x = np.arange(150.0)
    y = rng.poisson(5 + 500 * np.exp(-0.5 * ((x - 70) / 12) ** 2), (5, 8, 150))
    y[rng.integers(0, 5, 9), rng.integers(0, 8, 9), rng.integers(0, 150, 9)] += 3000
    ref = cl_checks.find_spikes(y).any(axis=-1)
    assert 3 <= ref.sum() < ref.size
    np.testing.assert_array_equal(cl_checks.spike_rows(y), ref)
    f = y.astype(float)
    f[4, 6, 20] = np.nan  # a spike in a spectrum with a NaN: the numpy screen
    f[4, 6, 90] += 3000
    f[0, 1, 100] = np.inf
    ref = cl_checks.find_spikes(f).any(axis=-1)
    assert ref.sum() >= 3  # (a spectrum with a NaN has no noise estimate: none)
    np.testing.assert_array_equal(cl_checks.spike_rows(f), ref)
