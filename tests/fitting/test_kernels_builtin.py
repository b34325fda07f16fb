"""Every compiled kernel equals its HyperSpy component, value and gradient."""

import numpy as np
import pytest
from hyperspy.api import model

import hyperspy_perovskite.components  # noqa: F401  (registers the suite's kernels)
from hyperspy_perovskite.fitting._compile import for_components
from hyperspy_perovskite.fitting.registry import _registry


def _shipped():
    """Registered classes of HyperSpy and of this suite (not users' test ones)."""
    return sorted(
        (c for c in _registry() if c.__module__.split(".")[0] in _PACKAGES),
        key=lambda c: c.__name__,
    )


_PACKAGES = ("hyperspy", "hyperspy_perovskite")

c1d = model.components1D


def _arrays(components):
    return for_components(components)


def _poly3():
    p = c1d.Polynomial(order=3)
    p.a0.value, p.a1.value, p.a2.value, p.a3.value = 2.0, -0.3, 0.02, -1e-3
    return p


CASES = {
    "Gaussian": lambda: c1d.Gaussian(A=120.0, sigma=3.0, centre=12.0),
    "GaussianHF": lambda: c1d.GaussianHF(height=40.0, fwhm=5.0, centre=9.0),
    "Lorentzian": lambda: c1d.Lorentzian(A=50.0, gamma=2.5, centre=11.0),
    "Offset": lambda: c1d.Offset(offset=3.5),
    "Polynomial": _poly3,
    "Exponential": lambda: c1d.Exponential(A=30.0, tau=7.0),
    "Erf": lambda: c1d.Erf(A=10.0, sigma=2.0, origin=10.0),
}


def test_every_builtin_component_has_a_case():
    builtin_names = {
        cls.__name__ for cls in _registry() if cls.__module__.startswith("hyperspy.")
    }
    assert builtin_names == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_kernel_matches_component_function_and_gradient(name):
    comp = CASES[name]()
    cm, offsets, consts, params = _arrays([comp])
    P = np.array([p.value for p in params], dtype=float)
    x = np.linspace(0.5, 25.0, 57)
    grad = np.zeros(P.size)
    values = np.array([cm.model_point(xi, P, offsets, consts, grad) for xi in x])
    np.testing.assert_allclose(values, comp.function(x), rtol=1e-10, atol=1e-12)
    for k, par in enumerate(params):
        analytic = np.empty(x.size)
        for j, xi in enumerate(x):
            cm.model_point(xi, P, offsets, consts, grad)
            analytic[j] = grad[k]
        h = 1e-6 * max(abs(P[k]), 1.0)
        Pp, Pm = P.copy(), P.copy()
        Pp[k] += h
        Pm[k] -= h
        g2 = np.zeros(P.size)
        fp = np.array([cm.model_point(xi, Pp, offsets, consts, g2) for xi in x])
        fm = np.array([cm.model_point(xi, Pm, offsets, consts, g2) for xi in x])
        numeric = (fp - fm) / (2 * h)
        scale = np.abs(numeric).max() + 1e-12
        np.testing.assert_allclose(
            analytic, numeric, atol=1e-6 * scale, err_msg=f"{name}.{par.name}"
        )


@pytest.mark.parametrize("name", sorted(CASES))
def test_model_block_equals_model_point(name):
    comps = [CASES[name](), c1d.Offset(offset=1.0)]
    cm, offsets, consts, params = _arrays(comps)
    P = np.array([p.value for p in params], dtype=float)
    x = np.linspace(0.5, 25.0, 31)
    grad = np.zeros(P.size)
    f = np.empty(x.size)
    G = np.zeros((P.size, x.size))
    cm.model_block(x, P, offsets, consts, grad, f, G)
    for j, xi in enumerate(x):
        v = cm.model_point(xi, P, offsets, consts, grad)
        assert f[j] == pytest.approx(v, rel=1e-12, abs=1e-12)
        np.testing.assert_allclose(G[:, j], grad, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cls", _shipped(), ids=lambda c: c.__name__)
def test_every_registered_kernel_has_a_block_branch(cls):
    """model_block must have a branch for every registered code (suite ones too)."""
    comp = cls()
    cm, offsets, consts, params = _arrays([comp])
    P = np.array([p.value for p in params], dtype=float)
    x = np.linspace(0.5, 25.0, 17)
    grad = np.full(P.size, np.nan)
    f = np.empty(x.size)
    G = np.full((P.size, x.size), np.nan)
    cm.model_block(x, P, offsets, consts, grad, f, G)
    point = np.array([cm.model_point(xi, P, offsets, consts, grad) for xi in x])
    np.testing.assert_allclose(f, point, rtol=1e-12, equal_nan=True)
    # a missing branch leaves the gradient rows untouched (NaN)
    assert not np.isnan(G).all(), f"model_block has no branch for {cls.__name__}"
    assert not np.isnan(grad).all(), f"model_point has no branch for {cls.__name__}"


@pytest.mark.parametrize(
    "x",
    [
        np.linspace(600.0, 820.0, 1024),  # uniform: recurrence path
        np.linspace(820.0, 600.0, 1024),  # uniform, decreasing
        np.linspace(600.0, 820.0, 4099),  # long: lanes re-anchored, ragged tail
        np.geomspace(600.0, 820.0, 300),  # non-uniform: exp at every channel
        np.r_[np.linspace(600, 650, 50), np.linspace(700, 820, 80)],  # gap
        492000.0 / np.linspace(820.0, 600.0, 1024),  # spaced as to_eV: series
    ],
    ids=["uniform", "decreasing", "long", "non-uniform", "with-gap", "to_eV-like"],
)
@pytest.mark.parametrize(
    "sigma, centre",
    [(12.0, 710.0), (12.0, 560.0), (12.0, 900.0), (0.05, 700.3), (400.0, 710.0)],
)
def test_gaussian_block_matches_point_kernel_everywhere(x, sigma, centre):
    """The block's recurrence equals exp() at every channel, tails included."""
    comp = c1d.Gaussian(A=5e4, sigma=sigma, centre=centre)
    cm, offsets, consts, params = _arrays([comp])
    P = np.array([p.value for p in params], dtype=float)
    grad = np.zeros(P.size)
    f = np.empty(x.size)
    G = np.zeros((P.size, x.size))
    cm.model_block(x, P, offsets, consts, grad, f, G)
    expected = comp.function(x)
    # relative 1e-9 anywhere, and 1e-13 of the peak: far below any data noise
    np.testing.assert_allclose(f, expected, rtol=1e-9, atol=1e-13 * expected.max())
    scale = np.abs(G).max(axis=1)
    for j in range(0, x.size, 7):
        cm.model_point(x[j], P, offsets, consts, grad)
        for i in range(P.size):
            assert G[i, j] == pytest.approx(grad[i], rel=1e-9, abs=1e-13 * scale[i])
