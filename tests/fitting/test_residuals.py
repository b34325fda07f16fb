"""The compiled residual pass equals the numpy/scipy reference on fitted maps."""

import numpy as np
import pytest

from hyperspy_perovskite.data import simulated_emission_map
from hyperspy_perovskite.fitting import _residuals
from hyperspy_perovskite.signals import _cl_statistics


def _numpy_reference(m, monkeypatch):
    return _cl_statistics.residual_structure(m)  # runs_test + uniform_filter1d


@pytest.fixture(scope="module")
def fitted():
    s, _ = simulated_emission_map(shape=(5, 6), n_channels=400, seed=3)
    s.set_signal_type("CL_STEM_perovskite")
    one = s.fit_emission(show_progressbar=False)
    two = s.fit_emission(n_peaks=2, tail=True, axis="energy", show_progressbar=False)
    return one, two


@pytest.mark.parametrize("which", [0, 1])
def test_compiled_pass_equals_runs_test_and_uniform_filter(fitted, which, monkeypatch):
    m = fitted[which]
    # a pixel with a non-finite parameter gives NaN in both
    values = m["Emission"].centre.map["values"]
    saved = values.copy()
    values[0, 1] = np.nan
    try:
        z, size = _residuals.residual_statistics(m, num_workers=2, block=7)
        z0, size0 = _numpy_reference(m, monkeypatch)
    finally:
        values[...] = saved
    for a, b in ((z, z0), (size, size0)):
        assert a.shape == b.shape == (5, 6)
        np.testing.assert_array_equal(np.isfinite(a), np.isfinite(b))
        ok = np.isfinite(b)
        assert ok.sum() >= 25
        np.testing.assert_allclose(a[ok], b[ok], rtol=1e-10, atol=1e-12)
    assert np.isnan(z[0, 1]) and np.isnan(size[0, 1])


def test_structured_residual_is_found(fitted, monkeypatch):
    """A model that misses a band leaves long runs and a large residual."""
    m = fitted[0]
    values = m["Emission"].A.map["values"]
    saved = values.copy()
    values *= 0.5
    try:
        z, size = _residuals.residual_statistics(m)
        z0, size0 = _numpy_reference(m, monkeypatch)
    finally:
        values[...] = saved
    np.testing.assert_allclose(z, z0, rtol=1e-10)
    np.testing.assert_allclose(size, size0, rtol=1e-10)
    assert np.median(z) < -3 and np.all(size > 0.2)
    z1, size1 = _residuals.residual_statistics(m)
    assert np.all(size1 < 0.1)


def test_not_compiled_or_even_width_falls_back():
    s, _ = simulated_emission_map(shape=(2, 2), n_channels=50, seed=0)
    import hyperspy.api as hs

    m = s.create_model()
    m.append(hs.model.components1D.Lorentzian())
    m.append(hs.model.components1D.Polynomial(order=3))
    assert _residuals.residual_statistics(m) is None
    assert _residuals.residual_statistics(m, width=4) is None


def test_pixels_evaluated_only_there(fitted):
    """``pixels=``: the same numbers there, NaN elsewhere (the model is not
    evaluated outside: emission_validity passes the converged pixels)."""
    from hyperspy_perovskite import _threads

    m = fitted[1]
    z, size = _residuals.residual_statistics(m)
    pixels = np.zeros((5, 6), bool)
    pixels[::2, 1:4] = True
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_threads, "MIN_ROWS", 4)  # several blocks
        zp, sizep = _residuals.residual_statistics(m, pixels=pixels, block=5)
    for a, b in ((zp, z), (sizep, size)):
        np.testing.assert_array_equal(a, np.where(pixels, b, np.nan))
    assert np.isfinite(zp[pixels]).all()


@pytest.mark.parametrize("n_channels", [3, 4, 9, 40])
def test_exact_zero_residuals_and_short_windows(n_channels):
    """Residuals that are exactly zero (skipped by the runs test) and
    windows not longer than the boxcar (reflected at both ends): the same
    numbers as the numpy reference, on an Offset model held at exactly 5
    over integer data."""
    import hyperspy.api as hs

    from hyperspy_perovskite.fitting import fast_multifit

    rng = np.random.default_rng(n_channels)
    r = rng.choice([-1.0, 0.0, 0.0, 1.0], size=(6, n_channels))
    r[0] = 0.0  # no sign at all
    r[1, :] = 1.0  # one sign only
    r[2, 0] = 0.0  # a zero first channel
    r[2, 1:] = np.resize([1.0, -1.0], n_channels - 1)
    s = hs.signals.Signal1D(5.0 + r)
    m = s.create_model()
    m.append(hs.model.components1D.Offset())
    fast_multifit(m, show_progressbar=False)
    m[0].offset.map["values"][:] = 5.0
    z, size = _residuals.residual_statistics(m)
    z0, size0 = _numpy_reference(m, None)
    np.testing.assert_array_equal(z, z0)
    np.testing.assert_array_equal(size, size0)
    assert np.isnan(z[0]) and np.isnan(z[1])  # no sign change possible
    assert np.isfinite(z[2]) == (n_channels > 3)  # 2 signs of 3: no variance
