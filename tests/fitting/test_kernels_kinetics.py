"""The compiled JMAK kernel against the component and finite differences."""

import numpy as np
import pytest

from hyperspy_perovskite.components import CrystallinityJMAK
from hyperspy_perovskite.components.crystallinity_jmak import (
    crystallinity_jmak_kernel,
)


def model_point(x, P, kernel, offsets, consts, grad):
    """The kernel at ``x``, its parameters starting at ``P[offsets[0]]``."""
    return kernel(x, P, int(offsets[0]), grad, consts[0])


PARAMS = [
    (1.0, 0.01, 1.0, 0.0),
    (5.0, 0.02, 2.0, 60.0),
    (2.5, 0.05, 3.5, 100.0),
    (3.0, 0.005, 1.3, -20.0),
    (1.0, 2.0, 6.0, 10.0),  # fully decayed tail (underflow guard)
]
X = np.linspace(-10.0, 300.0, 63)


def _arrays(A, k, n, t0):
    P = np.array([0.0, A, k, n, t0])  # a leading slot: the kernel honours offsets
    codes = crystallinity_jmak_kernel
    offsets = np.array([1], dtype=np.int64)
    consts = np.zeros((1, 4))
    return P, codes, offsets, consts


@pytest.mark.parametrize("pars", PARAMS)
def test_kernel_matches_component(pars):
    P, codes, offsets, consts = _arrays(*pars)
    c = CrystallinityJMAK(*pars)
    grad = np.zeros_like(P)
    got = np.array([model_point(x, P, codes, offsets, consts, grad) for x in X])
    np.testing.assert_allclose(got, c.function(X), rtol=1e-12, atol=1e-300)
    # the component's own analytical gradients agree with the kernel
    for j, name in enumerate(("A", "k", "n", "t0")):
        kern = []
        for x in X:
            g = np.zeros_like(P)
            model_point(x, P, codes, offsets, consts, g)
            kern.append(g[1 + j])
        np.testing.assert_allclose(
            kern, getattr(c, f"grad_{name}")(X), rtol=1e-9, atol=1e-12
        )


@pytest.mark.parametrize("pars", PARAMS)
def test_kernel_gradient_finite_differences(pars):
    P, codes, offsets, consts = _arrays(*pars)
    grad = np.zeros_like(P)
    for x in X:
        model_point(x, P, codes, offsets, consts, grad)
        for j in range(1, 5):
            h = 1e-6 * max(abs(P[j]), 1e-3)
            if j == 3:  # n >= 1 bound: one-sided away from it
                Pp, Pm = P.copy(), P.copy()
                Pp[j] += h
                Pm[j] += 2 * h
                # forward difference of second order
                P0 = P.copy()
                g0 = np.zeros_like(P)
                f0 = model_point(x, P0, codes, offsets, consts, g0)
                fp = model_point(x, Pp, codes, offsets, consts, g0)
                fpp = model_point(x, Pm, codes, offsets, consts, g0)
                fd = (-3 * f0 + 4 * fp - fpp) / (2 * h)
            else:
                Pp, Pm = P.copy(), P.copy()
                Pp[j] += h
                Pm[j] -= h
                g0 = np.zeros_like(P)
                fd = (
                    model_point(x, Pp, codes, offsets, consts, g0)
                    - model_point(x, Pm, codes, offsets, consts, g0)
                ) / (2 * h)
            if j == 4 and abs(x - P[4]) < 2 * h:
                continue  # kink at the onset
            assert grad[j] == pytest.approx(fd, rel=1e-4, abs=1e-7), (x, j)
        assert grad[0] == 0.0  # other components' slots untouched


def test_kernel_safe_at_edges():
    # k = 0 (no decay), x at the onset, huge rate: finite values and gradients
    for pars in [(1.0, 0.0, 1.0, 0.0), (1.0, 0.0, 3.0, 0.0), (1.0, 1e6, 10.0, 0.0)]:
        P, codes, offsets, consts = _arrays(*pars)
        for x in (0.0, 1e-12, 1.0, 1e9):
            grad = np.zeros_like(P)
            v = model_point(x, P, codes, offsets, consts, grad)
            assert np.isfinite(v) and np.all(np.isfinite(grad))
    # k = 0 with n = 1: d/dk = -A u (first-order slope)
    P, codes, offsets, consts = _arrays(2.0, 0.0, 1.0, 0.0)
    grad = np.zeros_like(P)
    model_point(5.0, P, codes, offsets, consts, grad)
    assert grad[2] == pytest.approx(-10.0)
