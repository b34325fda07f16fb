"""The array steps of the emission fit, against values written here."""

import numpy as np
import pytest
from scipy.special import voigt_profile

from hyperspy_perovskite.analysis import cl_fit_steps as steps


def test_voigt_start_keeps_the_measured_fwhm():
    # the Voigt of the starting widths has the FWHM of the measured Gaussian
    sigma = 2.0
    s, g = steps.voigt_start_widths(sigma)
    x = np.linspace(-20, 20, 400001)
    v = voigt_profile(x, s, g)
    above = x[v >= 0.5 * v.max()]
    fwhm = above[-1] - above[0]
    assert abs(fwhm - 2.0 * np.sqrt(2.0 * np.log(2.0)) * sigma) < 0.01 * fwhm


def test_lorentzian_start_has_the_gaussian_fwhm():
    assert np.isclose(2 * steps.lorentzian_start_gamma(3.0), 2.3548 * 3.0, rtol=1e-4)


def test_bin_mean_and_dark_level():
    a = np.arange(24.0).reshape(2, 12)
    np.testing.assert_allclose(steps.bin_mean(a, 2, 8, 4), [[3.5, 7.5], [15.5, 19.5]])
    # blocks of spectra on threads (integer counts): the one-pass means
    big = np.random.default_rng(0).poisson(9.0, (3, 300, 40))
    one = big[..., 1:33].astype(float).reshape(3, 300, 4, 8).mean(-1)
    np.testing.assert_array_equal(steps.bin_mean(big, 1, 32, 8), one)
    # a level c / x^2 in energy space seen at x_mid comes back as c
    assert np.isclose(steps.wavelength_dark_level(7.0 / 1.6**2, 1.6, 1.0), 7.0)


def _numpy_bins(a, start, n, k):
    rows = a.reshape(-1, a.shape[-1])[:, start : start + n].astype(float)
    return rows.reshape(a.shape[:-1] + (n // k, k)).mean(-1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k", [3, 8, 12, 16, 27])
def test_bin_mean_compiled_is_numpys_mean_bit_for_bit(k, dtype):
    # the compiled loop (float rows of a map) against NumPy's own mean, on
    # counts times a Jacobian (the converted map) and on values whose sums
    # are rounded (another order of the additions gives other bits)
    rng = np.random.default_rng(k)
    n = 8 * k
    jac = np.linspace(0.7, 1.4, n + 5)
    a = (rng.poisson(40.0, (3, 50, n + 5)) * jac).astype(dtype)
    a[0, 0] = rng.normal(size=n + 5) * 10.0 ** rng.integers(-5, 6, n + 5)
    a[0, 1, :4] = -0.0, np.nan, np.inf, -np.inf
    assert steps._same_as_numpy(k, dtype)
    got = steps.bin_mean(a, 3, n, k)
    ref = _numpy_bins(a, 3, n, k)
    np.testing.assert_array_equal(got.view(np.uint64), ref.view(np.uint64))
    out = np.empty((150, 8))
    steps._bins(a.reshape(150, -1), 3, k, out)  # the loop itself
    np.testing.assert_array_equal(
        out.view(np.uint64), ref.reshape(150, 8).view(np.uint64)
    )
    # a sequential sum is not NumPy's order (the check can tell them apart)
    if k >= 8 and dtype == np.float64:
        seq = np.zeros(ref.shape)
        for i in range(k):
            seq += a[..., 3 + i : 3 + n : k].astype(float)
        assert not np.array_equal(seq / k, ref)


def test_bin_mean_falls_back_to_numpy_when_the_check_fails(monkeypatch):
    monkeypatch.setitem(steps._CHECKED, (8, np.dtype(np.float64).str), False)
    calls = []
    monkeypatch.setattr(steps, "_bins", lambda *args: calls.append(1))
    a = np.random.default_rng(1).normal(size=(4, 300, 70))
    np.testing.assert_array_equal(steps.bin_mean(a, 2, 64, 8), _numpy_bins(a, 2, 64, 8))
    assert calls == []


def test_second_start_and_keep_first():
    flags = np.array([0, 0, 0, 1, 0])
    red = np.array([1.0, 1.05, 1.2, 1.0, np.nan])
    mask = np.array([False, False, False, False, True])
    assert steps.second_start_pixels(flags, red, mask).tolist() == [
        False, False, True, True, False,
    ]  # fmt: skip
    assert steps.second_start_pixels(flags, red, by_chisq=False).tolist() == [
        False, False, False, True, False,
    ]  # fmt: skip
    keep = steps.keep_first(
        np.array([0, 1, 0, 0]),
        np.array([1, 0, 0, 0]),
        np.array([9.0, 1.0, 2.0, np.nan]),
        np.array([1.0, 9.0, 3.0, 1.0]),
    )
    assert keep.tolist() == [True, False, True, False]
    assert np.isclose(steps.std_step_ftol(110, 10, 0.1), 1e-4)


@pytest.mark.parametrize("k", [4, 8])
def test_sheppard_sigma_recovers_the_width_on_the_channels(k):
    """A Gaussian sampled at 1024 channels equally spaced in wavelength
    (a non-uniform photon-energy axis), averaged over ``k`` channels and
    fitted at the bin centres (scipy's curve_fit, independent of the
    suite's engine): the fitted width is too large by 1-5e-3 of it, the
    corrected one matches the true width to 5e-5 of it (measured 1.5e-5
    with k = 8: fourth-order terms and the channel width changing within a
    bin)."""
    from scipy.optimize import curve_fit

    lam = np.linspace(636.0, 855.0, 1024)
    x = 1239.84193 / lam  # eV, descending, channel width 0.27-0.48 meV
    sigma, centre = 0.012, 1.74

    def gauss(e, a, c, s):
        return a * np.exp(-0.5 * ((e - c) / s) ** 2)

    y = gauss(x, 1.0, centre, sigma)
    xb = x.reshape(-1, k).mean(-1)
    yb = y.reshape(-1, k).mean(-1)
    (_, c_fit, s_fit), _ = curve_fit(gauss, xb, yb, p0=(1.0, 1.7, 0.01))
    s_fit = abs(s_fit)
    corrected = float(steps.sheppard_sigma(s_fit, c_fit, x, k))
    assert abs(s_fit - sigma) > 1e-3 * sigma
    assert abs(corrected - sigma) < 5e-5 * sigma, (s_fit, corrected)


def test_bin_mean_into_a_given_array():
    """``out`` receives the means (and is returned), NumPy's bit for bit."""
    a = np.random.default_rng(1).poisson(50.0, (3, 40, 64)).astype(float)
    out = np.full((3, 40, 8), np.nan)
    got = steps.bin_mean(a, 0, 64, 8, out)
    assert got is out
    np.testing.assert_array_equal(out, a.reshape(3, 40, 8, 8).mean(-1))
