"""Errors of unweighted fits of photon counts: the sandwich covariance.

The spectra are written here with numpy (a Gaussian band over a flat level,
Poisson counts), independently of the suite's simulators and kernels. The
default ``fit_emission`` is unweighted; its errors must be those of the
unweighted estimator under Poisson noise (Huber 1967; White, Econometrica
48, 817 (1980)), not HyperSpy's equal-noise formula, which is too small on
a bright band over a weak level.
"""

import warnings

import hyperspy.api as hs
import numpy as np
import pytest


@pytest.fixture(scope="module")
def bright_band():
    rng = np.random.default_rng(3)
    n, n_ch = 24, 200
    x = np.linspace(650.0, 750.0, n_ch)
    centre = rng.uniform(695.0, 705.0, (n, n))
    sigma = rng.uniform(6.0, 9.0, (n, n))
    area = rng.uniform(2.0e4, 4.0e4, (n, n))
    band = area[..., None] / (sigma[..., None] * np.sqrt(2 * np.pi))
    band = band * np.exp(-0.5 * ((x - centre[..., None]) / sigma[..., None]) ** 2)
    # a weak flat level: the band channels carry most of the noise
    s = hs.signals.Signal1D(rng.poisson(2.0 * band + 2.0).astype(float))
    s.set_signal_type("CL_STEM_perovskite")
    ax = s.axes_manager.signal_axes[0]
    ax.offset, ax.scale, ax.units, ax.name = x[0], x[1] - x[0], "nm", "Wavelength"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = s.fit_emission()
    return m, {"centre": centre, "sigma": sigma, "A": 2.0 * area}


@pytest.mark.parametrize("name", ["centre", "sigma", "A"])
def test_unweighted_count_errors_are_calibrated(bright_band, name):
    m, truth = bright_band
    p = getattr(m["Emission"], name).map
    z = ((p["values"] - truth[name]) / p["std"]).ravel()
    z = z[np.isfinite(z)]
    n = z.size
    assert n >= 500
    assert abs(z.mean()) < 3 / np.sqrt(n) + 0.05
    assert abs(z.std() - 1) < 3 / np.sqrt(2 * n)
    assert abs(np.mean(np.abs(z) < 1) - 0.68) < 3 * np.sqrt(0.68 * 0.32 / n)
    assert np.mean(np.abs(z) < 2) > 0.95 - 3 * np.sqrt(0.95 * 0.05 / n)


def _equal_noise_std(m):
    """The centre errors of HyperSpy's formula: ``m`` refitted by the engine
    alone from its own values."""
    from hyperspy_perovskite.fitting import fast_multifit

    m2 = m.signal.create_model()
    m2.extend([type(c)() for c in m])
    for c, c2 in zip(m, m2, strict=True):
        c2.name = c.name
        for p, p2 in zip(c.parameters, c2.parameters, strict=True):
            p2.map = p.map.copy()
    m2.set_signal_range(*m.axis.axis[np.asarray(m._channel_switches)][[0, -1]])
    fast_multifit(m2, starting_values="current", show_progressbar=False)
    return m2["Emission"].centre.map["std"]


def test_sandwich_differs_from_equal_noise_formula(bright_band):
    # the equal-noise formula (chi-squared / dof) is too small for the
    # centre of a bright band: the sandwich must be larger
    m, _ = bright_band
    std = m["Emission"].centre.map["std"]
    assert np.nanmedian(std / _equal_noise_std(m)) > 1.15


def test_data_that_are_not_counts_keep_equal_noise_errors(bright_band):
    # scaled data fail the counts check: no Poisson variance is assumed
    m, _ = bright_band
    s = m.signal.isig[:] * 3.7
    s.set_signal_type("CL_STEM_perovskite")
    s = s.inav[:6, :6]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ms = s.fit_emission()
    std = ms["Emission"].centre.map["std"]
    np.testing.assert_allclose(std, _equal_noise_std(ms), rtol=1e-3)
