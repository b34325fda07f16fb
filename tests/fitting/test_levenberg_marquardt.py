"""The compiled normal equations against a finite-difference reference."""

import hyperspy.api as hs
import numpy as np
import pytest

from hyperspy_perovskite.fitting._compile import compiled_model
from hyperspy_perovskite.fitting.model_description import describe_model

c1d = hs.model.components1D


def _twinned_model():
    """Two Gaussians (A twinned as 3x, sigma and centre shared), a fixed offset."""
    x = np.linspace(600.0, 820.0, 301)
    s = hs.signals.Signal1D(np.zeros(x.size))
    s.axes_manager[-1].offset, s.axes_manager[-1].scale = x[0], x[1] - x[0]
    m = s.create_model()
    g1 = c1d.Gaussian(A=2e4, sigma=11.0, centre=702.0)
    g2 = c1d.Gaussian()
    lin = c1d.Polynomial(order=1)
    o = c1d.Offset(offset=20.0)
    m.extend([g1, g2, lin, o])
    g2.A.twin_function_expr = "3 * x"
    g2.A.twin = g1.A
    g2.sigma.twin = g1.sigma
    g2.centre.twin = g1.centre
    lin.a1.value, lin.a0.value = 0.05, -10.0
    o.offset.free = False
    return x, describe_model(m)


def _call(desc, theta, x, y, w, binw):
    n_p, n_ch, nf = desc.n_parameters, x.size, theta.size
    active = np.nonzero(desc.src >= 0)[0]
    bw = binw * w
    unit = bool(np.all(bw == 1.0) and np.all(w == 1.0))
    JtJ, Jtr = np.empty((nf, nf)), np.empty(nf)
    P = np.array([par.value for par in desc.parameters])  # fixed values kept
    f = np.empty(n_ch)
    chi2 = compiled_model(desc.signature).chi2_and_normal(
        theta.copy(),
        P,
        np.zeros(n_p),
        f,
        np.zeros((n_p, n_ch)),
        np.empty(n_ch),
        bw,
        bw * bw,
        unit,
        active,
        np.empty((active.size, active.size)),
        np.empty(active.size),
        JtJ,
        Jtr,
        x,
        y,
        w,
        binw,
        desc.src,
        desc.scale,
        desc.shift,
        desc.offsets,
        desc.consts,
    )
    return chi2, JtJ, Jtr, P


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("binned", [False, True])
def test_normal_equations_match_finite_differences(weighted, binned):
    x, desc = _twinned_model()
    rng = np.random.default_rng(3)
    theta0 = np.array([1.9e4, 12.0, 703.0, 0.04, -8.0])[: desc.theta_index.size]
    assert desc.theta_index.size == 5  # A, sigma, centre, a1, a0; offset fixed
    y = rng.poisson(400.0, x.size).astype(float)
    w = 1.0 / np.sqrt(rng.uniform(50.0, 800.0, x.size)) if weighted else np.ones(x.size)
    binw = np.full(x.size, x[1] - x[0]) if binned else np.ones(x.size)

    def weighted_residual(theta):
        P = np.array(
            [
                desc.scale[i] * theta[desc.src[i]] + desc.shift[i]
                if desc.src[i] >= 0
                else par.value
                for i, par in enumerate(desc.parameters)
            ]
        )
        f = np.empty(x.size)
        compiled_model(desc.signature).model_block(
            x,
            P,
            desc.offsets,
            desc.consts,
            np.zeros(P.size),
            f,
            np.zeros((P.size, x.size)),
        )
        return (y - f * binw) * w

    chi2, JtJ, Jtr, P = _call(desc, theta0, x, y, w, binw)
    r = weighted_residual(theta0)
    J = np.empty((x.size, theta0.size))
    for k in range(theta0.size):
        h = 1e-6 * max(abs(theta0[k]), 1.0)
        tp, tm = theta0.copy(), theta0.copy()
        tp[k] += h
        tm[k] -= h
        # the model Jacobian is minus the residual's
        J[:, k] = -(weighted_residual(tp) - weighted_residual(tm)) / (2 * h)
    np.testing.assert_allclose(chi2, np.sum(r**2), rtol=1e-12)
    np.testing.assert_allclose(JtJ, J.T @ J, rtol=1e-6, atol=1e-9 * np.abs(JtJ).max())
    np.testing.assert_allclose(Jtr, J.T @ r, rtol=1e-6, atol=1e-7 * np.abs(Jtr).max())
    # the twin holds in the expanded parameters; the fixed offset keeps its value
    assert P[3] == pytest.approx(3 * P[0])
    assert P[-1] == 20.0
