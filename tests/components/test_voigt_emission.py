"""VoigtEmission: exact function, compiled kernel (Humlicek W4), derivatives."""

import numpy as np
import pytest
from scipy.special import voigt_profile

from hyperspy_perovskite.components import VoigtEmission
from hyperspy_perovskite.components.voigt_emission import voigt_fwhm, voigt_quantities
from hyperspy_perovskite.fitting.registry import kernel_spec

SETS = [
    {"A": 3.0, "centre": 670.0, "sigma": 0.12, "gamma": 0.25},  # quantum emitter, nm
    {"A": 0.02, "centre": 1.85, "sigma": 0.004, "gamma": 1e-5},  # nearly Gaussian, eV
    {"A": 50.0, "centre": 700.0, "sigma": 1e-3, "gamma": 0.4},  # nearly Lorentzian
]


def _kernel(values, x):
    v = VoigtEmission()
    spec = kernel_spec(v)
    names = spec.parameter_names(v)
    P = np.array([values[n] for n in names])
    grad, c = np.zeros(4), np.zeros(4)
    f = np.empty(x.size)
    g = np.empty((x.size, 4))
    for i, xi in enumerate(x):
        grad[:] = 0.0
        f[i] = spec.kernel(xi, P, 0, grad, c)
        g[i] = grad
    return names, P, f, g


@pytest.mark.parametrize("values", SETS)
def test_function_is_the_exact_voigt_and_kernel_within_4e5(values):
    v = VoigtEmission(**values)
    w = 6 * (values["sigma"] + values["gamma"])
    x = np.linspace(values["centre"] - w, values["centre"] + w, 801)
    exact = values["A"] * voigt_profile(
        x - values["centre"], values["sigma"], values["gamma"]
    )
    np.testing.assert_allclose(v.function(x), exact, rtol=1e-10)
    names, P, f, g = _kernel(values, x)
    assert np.max(np.abs(f - exact)) < 4e-5 * exact.max()  # Humlicek W4
    assert np.all(np.isfinite(g))
    for k, n in enumerate(names):  # derivatives: finite differences of exact w
        h = 1e-6 * abs(P[k])
        vals = dict(values)
        vals[n] = P[k] + h
        fp = VoigtEmission(**vals).function(x)
        vals[n] = P[k] - h
        fm = VoigtEmission(**vals).function(x)
        fd = (fp - fm) / (2 * h)
        assert np.max(np.abs(g[:, k] - fd)) < 2e-3 * np.max(np.abs(fd)), n


def test_far_from_centre_finite():
    names, P, f, g = _kernel(SETS[0], np.array([-1e6, 0.0, 1e6]))
    assert np.all(np.isfinite(f)) and np.all(np.isfinite(g)) and np.all(f >= 0)


def test_fwhm_and_height():
    v = VoigtEmission(A=2.0, centre=0.0, sigma=0.3, gamma=0.2)
    x = np.linspace(-5, 5, 200001)
    y = v.function(x)
    rise = x <= 0
    half = 2 * -np.interp(0.5 * y.max(), y[rise], x[rise])  # symmetric profile
    assert abs(v.fwhm - half) < 2e-4 * v.fwhm  # Olivero and Longbothum: 0.02 %
    assert v.height == pytest.approx(y.max(), rel=1e-9)
    f, sf, h, sh = voigt_quantities(2.0, 0.1, 0.3, 0.01, 0.2, 0.02)
    assert f == pytest.approx(voigt_fwhm(0.3, 0.2)) and h == pytest.approx(y.max())
    assert sf > 0 and sh > 0.1 * h / 2.0
