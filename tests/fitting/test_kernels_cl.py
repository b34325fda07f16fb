"""The compiled CL kernels against the components and finite differences."""

import numpy as np
import pytest

from hyperspy_perovskite.components import GaussianEmission, UrbachTail
from hyperspy_perovskite.fitting.registry import kernel_spec


def _evaluate(kernel, names, values, x):
    P = np.asarray(values, dtype=float)
    consts = np.zeros(4)
    grad = np.zeros(len(names))
    f = np.empty(x.size)
    g = np.empty((x.size, len(names)))
    for i, xi in enumerate(x):
        grad[:] = 0.0
        f[i] = kernel(xi, P, 0, grad, consts)
        g[i] = grad
    return f, g


GAUSS_SETS = [
    {"A": 100.0, "centre": 710.0, "sigma": 8.0},
    {"A": 3.0, "centre": 690.0, "sigma": 1.5},
    {"A": 0.02, "centre": 1.74, "sigma": 0.03},
]
TAIL_SETS = [
    {"A": 10.0, "E0": 1.74, "Eu": 0.02},
    {"A": 0.5, "E0": 1.65, "Eu": 0.05},
    {"A": 2.0, "E0": 1.70, "Eu": 1e-4},  # lower bound of Eu
]


def _check(component, values, x, exclude_near=None):
    spec = kernel_spec(component)
    names = spec.parameter_names(component)
    assert set(names) == {p.name for p in component.parameters}
    for n, v in values.items():
        getattr(component, n).value = v
    P = [values[n] for n in names]
    f, g = _evaluate(spec.kernel, names, P, x)
    np.testing.assert_allclose(f, component.function(x), rtol=1e-10, atol=1e-300)
    assert np.all(np.isfinite(f)) and np.all(np.isfinite(g))
    for k, n in enumerate(names):
        h = 1e-6 * max(abs(P[k]), 1e-3)
        Pp, Pm = list(P), list(P)
        Pp[k] += h
        Pm[k] -= h
        fp, _ = _evaluate(spec.kernel, names, Pp, x)
        fm, _ = _evaluate(spec.kernel, names, Pm, x)
        fd = (fp - fm) / (2 * h)
        keep = np.ones(x.size, bool)
        if exclude_near is not None:  # the tail is not differentiable at E0
            keep = np.abs(x - exclude_near) > 3 * h
        scale = np.max(np.abs(g[:, k])) + 1e-300
        np.testing.assert_allclose(
            g[keep, k], fd[keep], rtol=1e-5, atol=1e-6 * scale, err_msg=n
        )


@pytest.mark.parametrize("values", GAUSS_SETS)
def test_gaussian_emission_kernel(values):
    c = values["centre"]
    s = values["sigma"]
    x = np.linspace(c - 8 * s, c + 8 * s, 97)
    _check(GaussianEmission(), values, x)


@pytest.mark.parametrize("values", TAIL_SETS)
def test_urbach_tail_kernel(values):
    x = np.linspace(values["E0"] - 0.3, values["E0"] + 0.3, 121)
    _check(UrbachTail(), values, x, exclude_near=values["E0"])


def test_kernels_no_overflow_far_from_centre():
    x = np.array([-1e6, 0.0, 1e6])
    gauss = kernel_spec(GaussianEmission()).kernel  # (A, sigma, centre)
    f, g = _evaluate(gauss, "Asc", [1e6, 1e-6, 1.0], x)
    assert np.all(np.isfinite(f)) and np.all(np.isfinite(g))
    tail = kernel_spec(UrbachTail()).kernel
    f, g = _evaluate(tail, "AEe", [1e6, 1.0, 1e-4], x)
    assert np.all(np.isfinite(f)) and np.all(np.isfinite(g))
    assert f[2] == 0.0 and f[1] == 0.0


# --- the continuous Urbach tail's block kernel (issue 10, speed) ---
def _block_and_point(values, x):
    from hyperspy_perovskite.components import ContinuousUrbachTail

    spec = kernel_spec(ContinuousUrbachTail())
    P = np.asarray(values, dtype=float)
    f0, g0 = _evaluate(spec.kernel, "AEes", P, x)
    f = np.zeros(x.size)
    G = np.full((4, x.size), np.nan)
    spec.block(x, P, 0, np.zeros(4), f, G)
    return f, G.T, f0, g0


_ENERGY = np.linspace(1.45, 1.95, 1024)
_FROM_NM = np.ascontiguousarray(1239.841984 / np.linspace(850.0, 636.0, 1024))
TAIL_BLOCK_SETS = [
    (300.0, 1.72, 0.025, 0.03),  # the benchmark's tail, inside the band
    (10.0, 1.5, 1e-4, 0.02),  # Eu at its lower bound
    (10.0, 1.9, 0.05, 0.005),  # sharp edge, long tail
    (3.0, 1.2, 0.02, 0.03),  # edge below the axis
    (3.0, 2.3, 0.02, 0.03),  # edge above the axis
    (5.0, 1.7, 1e-4, 0.03),  # Eu at its bound, far below sigma
]


@pytest.mark.parametrize(
    "x", [_ENERGY, _FROM_NM, _FROM_NM[::-1].copy(), _ENERGY[::64].copy()]
)
@pytest.mark.parametrize("values", TAIL_BLOCK_SETS)
def test_continuous_urbach_block_equals_point_kernel(values, x):
    """Uniform axes (recurrences), a to_eV-like axis in either direction
    (exp per channel, only below the edge) and a short one: the block gives
    the point kernel's value and derivatives."""
    f, G, f0, g0 = _block_and_point(values, x)
    assert np.all(np.isfinite(f)) and np.all(np.isfinite(G))
    np.testing.assert_allclose(f, f0, rtol=1e-12, atol=1e-13 * np.abs(f0).max())
    for k in range(4):
        scale = np.abs(g0[:, k]).max()
        # the point kernel's own derivatives round at ~1e-7 when Eu << sigma
        np.testing.assert_allclose(G[:, k], g0[:, k], rtol=1e-9, atol=1e-6 * scale)


def test_fast_erfcx_matches_scipy():
    from scipy.special import erfcx

    from hyperspy_perovskite.components.emission_bands import _erfcx_fast

    a = np.concatenate([np.linspace(0.0, 12.0, 2401), np.logspace(1, 12, 111)])
    approx = np.array([_erfcx_fast(v) for v in a])
    np.testing.assert_allclose(approx, erfcx(a), rtol=2e-14)


def test_vectorised_exp_equals_exp():
    """exp without calls (Cody-Waite reduction + series): within 1 ulp of
    np.exp on Gaussian and exponential exponents of a to_eV axis, over the
    whole range (0 below the smallest normal number), NaN, inf."""
    from numba import njit

    from hyperspy_perovskite.fitting.kernels.builtin import _exp_inplace

    @njit
    def exp_inplace(a, t, n):  # the helper is for compiled callers only
        _exp_inplace(a, t, n)

    u = (_FROM_NM - 1.74) / 0.03
    rng = np.random.default_rng(3)
    cases = [
        -0.5 * u * u,  # a Gaussian on a to_eV axis
        (_FROM_NM - 1.72) / 0.004,  # an exponential with large steps
        np.linspace(-800.0, 720.0, 100001),  # underflow and overflow
        rng.uniform(-60.0, 5.0, 20000),
        np.array([0.0, 0.01, np.nan, 0.02, -np.inf, -1.0, np.inf, 0.5]),
    ]
    for a in cases:
        got = a.copy()
        exp_inplace(got, np.empty(got.size), got.size)
        with np.errstate(over="ignore"):
            want = np.exp(a)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        np.testing.assert_array_equal(np.isinf(got), np.isinf(want))
        ok = np.isfinite(want)
        np.testing.assert_allclose(got[ok], want[ok], rtol=2.3e-16, atol=2.3e-308)


def test_wavelength_offset_block_on_a_to_ev_axis():
    """Non-uniform (to_eV-like) axis: the block equals the closed form."""
    from hyperspy_perovskite.components.emission_bands import (
        WAVELENGTH_OFFSET_CONSTANT,
        wavelength_offset_block,
    )

    x = _FROM_NM
    f = np.ones(x.size)
    G = np.zeros((1, x.size))
    c = np.array([WAVELENGTH_OFFSET_CONSTANT, 0.0, 0.0, 0.0])
    wavelength_offset_block(x, np.array([3.0]), 0, c, f, G)
    np.testing.assert_allclose(G[0], WAVELENGTH_OFFSET_CONSTANT / x**2, rtol=1e-15)
    np.testing.assert_allclose(f, 1.0 + 3.0 * G[0], rtol=1e-15)


def test_vectorised_exp_compiles_once():
    """The Gaussian and Urbach blocks call ``_exp_inplace`` with one
    signature (a literal count would compile it again on a fresh install)."""
    from hyperspy_perovskite.components.emission_bands import continuous_urbach_block
    from hyperspy_perovskite.fitting.kernels.builtin import _exp_inplace, gaussian_block

    x = np.sort(1.5 + 0.4 * np.random.default_rng(0).random(64))  # non-uniform
    P = np.array([1.0, 0.03, 1.7, 1.0, 1.65, 0.02, 0.03])  # (A, sigma, centre)
    for block, o in (
        (gaussian_block, 0),
        (continuous_urbach_block, 3),
    ):  # (A, E0, tau, sigma)
        G = np.zeros((P.size, x.size))
        block(x, P, o, np.zeros(4), np.zeros(x.size), G)
    assert len(_exp_inplace.signatures) == 1, _exp_inplace.signatures
