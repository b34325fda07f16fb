"""The linear structure each kernel spec declares holds for its kernel.

The engine's exact solve of the linear parameters relies on it: a component
declared ``proportional_to=a`` must be ``a * shape(others)`` (value and every
other derivative scale with ``a``), one declared ``linear`` must be linear in
all its parameters.
"""

import numpy as np
import pytest

import hyperspy_perovskite.components  # noqa: F401  (registers the suite's kernels)
from hyperspy_perovskite.fitting._compile import for_components
from hyperspy_perovskite.fitting.registry import _registry, kernel_spec


def _shipped():
    """Registered classes of HyperSpy and of this suite (not users' test ones)."""
    return sorted(
        (c for c in _registry() if c.__module__.split(".")[0] in _PACKAGES),
        key=lambda c: c.__name__,
    )


_PACKAGES = ("hyperspy", "hyperspy_perovskite")

# parameter values (by name) and an axis where every part of the kernel is hit
CASES = {
    "Offset": ({"offset": 3.5}, np.linspace(-5, 5, 21)),
    "Gaussian": ({"A": 120.0, "sigma": 3.0, "centre": 12.0}, np.linspace(0, 25, 51)),
    "GaussianHF": (
        {"height": 40.0, "fwhm": 5.0, "centre": 9.0},
        np.linspace(0, 20, 41),
    ),
    "Lorentzian": ({"A": 50.0, "gamma": 2.5, "centre": 11.0}, np.linspace(0, 25, 51)),
    "Polynomial": ({"a0": 2.0, "a1": -0.3, "a2": 0.02}, np.linspace(-4, 9, 27)),
    "Exponential": ({"A": 30.0, "tau": 7.0}, np.linspace(0, 25, 26)),
    "Erf": ({"A": 10.0, "sigma": 2.0, "origin": 10.0}, np.linspace(0, 20, 41)),
    "GaussianEmission": (
        {"A": 5.0, "centre": 2.3, "sigma": 0.05},
        np.linspace(2.0, 2.6, 61),
    ),
    "UrbachTail": ({"A": 2.0, "E0": 1.7, "Eu": 0.03}, np.linspace(1.5, 1.9, 41)),
    "AsymmetricEmission": (
        {"A": 5.0, "centre": 1.6, "sigma": 0.03, "tau": 0.05, "s": -1.0},
        np.linspace(1.3, 1.8, 61),
    ),
    "ContinuousUrbachTail": (
        {"A": 2.0, "E0": 1.7, "Eu": 0.03, "sigma": 0.01},
        np.linspace(1.5, 1.9, 41),
    ),
    "WavelengthOffset": ({"offset": 3.0}, np.linspace(1.4, 2.0, 31)),
    "VoigtEmission": (
        {"A": 3.0, "centre": 670.0, "sigma": 0.12, "gamma": 0.25},
        np.linspace(668.0, 672.0, 81),
    ),
    "SingleDiode": (
        {"Jph": 20.0, "log10_J0": -9.0, "n": 1.5, "Rs": 1.0, "Rsh": 1000.0},
        np.linspace(0.0, 1.1, 45),
    ),
    "CrystallinityJMAK": (
        {"A": 3.0, "k": 0.012, "n": 2.0, "t0": 60.0},
        np.linspace(0, 300, 61),
    ),
    "Interdiffusion": (
        {"c_left": 2.0, "c_right": 0.5, "centre": 3.0, "length": 7.0},
        np.linspace(-30, 30, 61),
    ),
    "DriftDiffusionAccumulation": (
        {"A": 3.0, "decay_length": 8.0, "wall": 2.5},
        np.linspace(-10, 60, 71),
    ),
    "DriftDiffusionTransient": (
        {"c_bulk": 1.5, "drift_distance": 4.0, "length": 9.0, "wall": 2.0},
        np.linspace(-10, 60, 71),
    ),
}


def test_every_registered_component_has_a_case():
    assert {cls.__name__ for cls in _shipped()} == set(CASES)


def _evaluate(comp, P, x):
    cm, offsets, consts, _ = for_components([comp])
    grad = np.zeros(P.size)
    values, grads = np.empty(x.size), np.empty((x.size, P.size))
    for j, xj in enumerate(x):
        values[j] = cm.model_point(xj, P, offsets, consts, grad)
        grads[j] = grad
    return values, grads


@pytest.mark.parametrize("cls", _shipped())
def test_declared_linear_structure_holds(cls):
    values, x = CASES[cls.__name__]
    comp = cls()
    spec = kernel_spec(comp)
    names = spec.parameter_names(comp)
    P = np.array([values[n] for n in names], dtype=float)
    f, g = _evaluate(comp, P, x)
    assert np.any(f != 0)
    if spec.proportional_to is not None:
        assert not spec.linear
        k = names.index(spec.proportional_to)
        P2 = P.copy()
        P2[k] *= 2.5
        f2, g2 = _evaluate(comp, P2, x)
        np.testing.assert_allclose(f2, 2.5 * f, rtol=1e-12, atol=1e-300)
        # the amplitude's own derivative (the shape) does not change ...
        np.testing.assert_allclose(g2[:, k], g[:, k], rtol=1e-12, atol=1e-300)
        # ... and every other derivative scales with it
        others = [i for i in range(P.size) if i != k]
        np.testing.assert_allclose(
            g2[:, others], 2.5 * g[:, others], rtol=1e-12, atol=1e-300
        )
        np.testing.assert_allclose(g[:, k] * P[k], f, rtol=1e-12, atol=1e-300)
    if spec.linear:
        rng = np.random.default_rng(0)
        Q = rng.normal(size=P.size)
        fq, gq = _evaluate(comp, Q, x)
        fs, gs = _evaluate(comp, P + 3.0 * Q, x)
        np.testing.assert_allclose(fs, f + 3.0 * fq, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(gs, g, rtol=1e-12)  # bases independent of P
