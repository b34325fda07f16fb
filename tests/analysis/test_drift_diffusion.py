import numpy as np
import pytest
from scipy import integrate, special

from hyperspy_perovskite.analysis import drift_diffusion as dd
from hyperspy_perovskite.analysis import migration_estimates as me


def test_thermal_voltage_and_einstein():
    # k_B T / q at 300 K = 25.852 mV (exact SI constants)
    assert dd.thermal_voltage(300.0) == pytest.approx(0.0258520, rel=1e-5)
    assert dd.thermal_voltage(300.0, -2) == pytest.approx(0.0258520 / 2, rel=1e-5)
    mu = 3e-12
    D = dd.einstein_diffusion_coefficient(mu, 320.0)
    assert dd.einstein_mobility(D, 320.0) == pytest.approx(mu)
    # lambda = D / (mu E) = kT / (q E)
    E = 2e6
    assert dd.debye_like_length(E, 320.0) == pytest.approx(D / (mu * E) / 1e-9)


def test_diffusion_length_roundtrip_li2023():
    # Li et al., Nat. Commun. 14, 7612 (2023): I reaches ~10 nm into the glass; a 10 nm length after 1 h
    D = dd.diffusion_coefficient_from_length(10.0, 3600.0)
    assert dd.diffusion_length(D, 3600.0) == pytest.approx(10.0)
    assert D == pytest.approx((10e-9) ** 2 / (4 * 3600.0))


def test_interdiffusion_profile_solves_diffusion_equation():
    D, t = 1e-20, 100.0
    L = dd.diffusion_length(D, t)
    x = np.linspace(-20, 20, 2001)
    c = dd.interdiffusion_profile(x, 2.0, 0.5, 1.0, L)
    assert c[0] == pytest.approx(2.0) and c[-1] == pytest.approx(0.5)
    assert np.interp(1.0, x, c) == pytest.approx(1.25)
    # dc/dt = D d2c/dx2 with x in nm: check by finite differences in t
    dt = 1e-3 * t
    cp = dd.interdiffusion_profile(x, 2.0, 0.5, 1.0, dd.diffusion_length(D, t + dt))
    cm = dd.interdiffusion_profile(x, 2.0, 0.5, 1.0, dd.diffusion_length(D, t - dt))
    dcdt = (cp - cm) / (2 * dt)
    h = (x[1] - x[0]) * 1e-9
    d2 = np.gradient(np.gradient(c, h), h)
    np.testing.assert_allclose(dcdt[5:-5], D * d2[5:-5], atol=2e-3 * np.abs(dcdt).max())


def test_steady_state_conserves_and_is_zero_flux():
    z = np.linspace(0, 150, 3001)
    lam = 12.0
    c = dd.steady_state_profile(z, lam, c_mean=0.7, thickness=150.0)
    assert integrate.trapezoid(c, z) / 150.0 == pytest.approx(0.7, rel=1e-5)
    # zero flux: D dc/dz + v c = 0 with D/v = lambda
    dcdz = np.gradient(c, z)
    np.testing.assert_allclose(lam * dcdz[1:-1], -c[1:-1], rtol=1e-3)


def test_semi_infinite_transient_limits_and_excess():
    z = np.linspace(0, 600, 60001)
    d, s = 8.0, 20.0
    c = dd.transient_profile_semi_infinite(z, d, s, c_bulk=2.0)
    # excess = c_bulk * drift distance (flux c v through a far plane)
    assert integrate.trapezoid(c - 2.0, z) == pytest.approx(2.0 * d, rel=1e-4)
    # zero flux at the wall: D dc/dz + v c = 0 -> dc/dz = -4 d / s^2 c
    dcdz0 = (c[1] - c[0]) / (z[1] - z[0])
    assert dcdz0 == pytest.approx(-4 * d / s**2 * c[0], rel=2e-2)
    # no drift: stays uniform
    np.testing.assert_allclose(dd.transient_profile_semi_infinite(z, 0.0, s), 1.0)
    # inside the electrode: zero
    assert dd.transient_profile_semi_infinite(-1.0, d, s) == 0.0


def test_semi_infinite_transient_solves_pde():
    D, v = 2e-18, 0.5e-9  # m^2/s, m/s
    t = 40.0
    z = np.linspace(0.0, 200.0, 2001)

    def prof(tt):
        return dd.transient_profile_semi_infinite(
            z, v * tt / 1e-9, dd.diffusion_length(D, tt)
        )

    dt = 1e-3 * t
    dcdt = (prof(t + dt) - prof(t - dt)) / (2 * dt)
    c = prof(t)
    h = (z[1] - z[0]) * 1e-9
    rhs = D * np.gradient(np.gradient(c, h), h) + v * np.gradient(c, h)
    np.testing.assert_allclose(dcdt[5:-5], rhs[5:-5], atol=5e-3 * np.abs(dcdt).max())


def test_layer_solution_matches_closed_forms():
    D, v = 1e-17, 1e-9
    # early times, thick layer: the semi-infinite closed form near the wall
    z, c = dd.transient_profile_layer(1000.0, 20.0, D, v, n_cells=400)
    ca = dd.transient_profile_semi_infinite(
        z, v * 20.0 / 1e-9, dd.diffusion_length(D, 20.0)
    )
    near = z < 500
    np.testing.assert_allclose(c[near], ca[near], atol=0.02)
    assert c.mean() == pytest.approx(1.0, rel=1e-10)
    # late times: the conserved steady state, lambda = D / v
    z, c = dd.transient_profile_layer(200.0, [1e3, 1e6], D, v, n_cells=200)
    cs = dd.steady_state_profile(z, D / v / 1e-9, 1.0, 200.0)
    np.testing.assert_allclose(c[1], cs, rtol=2e-3)
    np.testing.assert_allclose(c.mean(axis=1), 1.0, rtol=1e-10)
    # reversing the drift mirrors the profile
    _, cr = dd.transient_profile_layer(200.0, 1e6, D, -v, n_cells=200)
    np.testing.assert_allclose(cr, c[1][::-1], rtol=1e-8)


def test_layer_unsorted_times_equal_sorted():
    _, a = dd.transient_profile_layer(100.0, [5.0, 1.0, 3.0], 1e-17, 1e-9, n_cells=50)
    _, b = dd.transient_profile_layer(100.0, 3.0, 1e-17, 1e-9, n_cells=50)
    np.testing.assert_allclose(a[2], b, rtol=1e-10)


def test_ierfc():
    a = np.array([-5.0, -1.0, 0.0, 0.5, 3.0, 30.0])
    ref = [integrate.quad(special.erfc, ai, np.inf)[0] for ai in a]
    np.testing.assert_allclose(dd._ierfc(a), ref, rtol=1e-7, atol=1e-300)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: dd.thermal_voltage(-3.0), "temperature"),
        (lambda: dd.thermal_voltage(300.0, 0), "charge_number"),
        (lambda: dd.debye_like_length(0.0), "field"),
        (lambda: dd.interdiffusion_profile([0.0], 1, 0, 0, 0.0), "length"),
        (lambda: dd.steady_state_profile([0.0, 300.0], 5.0, 1.0, 100.0), "inside"),
        (lambda: dd.transient_profile_semi_infinite([0.0], -1.0, 5.0), "drift"),
        (lambda: dd.transient_profile_layer(100.0, -1.0, 1e-17, 1e-9), "time"),
        (lambda: dd.transient_profile_layer(100.0, 1.0, 1e-17, np.nan), "velocity"),
        (
            lambda: dd.transient_profile_layer(100.0, 1.0, 1e-17, 1e-9, n_cells=2),
            "n_cells",
        ),
        (
            lambda: dd.transient_profile_layer(100.0, 1.0, 1e-17, 1e-9, 1.0, 10, [1.0]),
            "initial",
        ),
        (lambda: dd.diffusion_coefficient_from_length(5.0, 0.0), "time"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize(
    "L, t, D, v",
    [
        (280.0, 0.5, 2.585e-15, 7.14e-8),  # simulator solar cell, early
        (280.0, 6.0, 2.585e-15, 7.14e-8),  # front has crossed: near steady
        (400.0, 50.0, 2.585e-18, 2.5e-10),  # L / lambda = 39, thin layers
        (400.0, 200.0, 2.585e-18, 2.5e-10),
        (300.0, 20.0, 1e-17, 0.0),  # no field: stays uniform
    ],
)
def test_closed_layer_closed_form_matches_finite_volume(L, t, D, v):
    """The closed form against the independent finite-volume solver."""
    z, c = dd.transient_profile_layer(L, t, D, v, n_cells=600)
    d, s = v * t * 1e9, 2 * np.sqrt(D * t) * 1e9
    h = dd.transient_profile_closed_layer(z, d, s, L, c_mean=2.0)
    # finite-volume discretisation error ~ (cell / lambda)^2
    np.testing.assert_allclose(h, 2.0 * c, atol=1e-3 * max(1.0, c.max()))
    # ions conserved, zero outside the layer
    zz = np.linspace(0, L, 20001)
    cc = dd.transient_profile_closed_layer(zz, d, s, L)
    assert np.trapezoid(cc, zz) / L == pytest.approx(1.0, abs=1e-4)
    assert np.all(dd.transient_profile_closed_layer([-1.0, L + 1], d, s, L) == 0)


def test_closed_layer_tends_to_steady_state_and_broadcasts():
    L, lam = 200.0, 20.0
    # d >> L at fixed lambda = s^2 / (4 d): the steady state
    d = 5000.0
    s = np.sqrt(4 * d * lam)
    z = np.linspace(0, L, 101)
    np.testing.assert_allclose(
        dd.transient_profile_closed_layer(z, d, s, L),
        dd.steady_state_profile(z, lam, 1.0, L),
        rtol=1e-8,
    )
    out = dd.transient_profile_closed_layer(z, np.array([[1.0], [30.0]]), 25.0, L)
    assert out.shape == (2, z.size)
    np.testing.assert_allclose(
        out[1], dd.transient_profile_closed_layer(z, 30.0, 25.0, L)
    )


def test_estimate_closed_layer_and_weighted_mean():
    z = np.arange(4.0, 280.0, 8.0)
    truth = 7000.0 + dd.transient_profile_closed_layer(z, 70.0, 100.0, 280.0, 2000.0)
    y = np.random.default_rng(1).poisson(truth, size=(3, z.size)).astype(float)
    est = me.estimate_closed_layer(z, y, 280.0)
    assert est.shape == (3, 4)
    # within a grid step (factor ~1.5) of the truth: a starting value
    assert np.all(np.abs(np.log(est[:, 1] / 70.0)) < 0.6)
    assert np.all(np.abs(np.log(est[:, 2] / 100.0)) < 0.6)
    np.testing.assert_allclose(est[:, 3], 7000.0, rtol=0.05)
    with pytest.raises(ValueError, match="points along z"):
        me.estimate_closed_layer(z, y[:, :-1], 280.0)
    with pytest.raises(ValueError, match="increasing"):
        me.estimate_closed_layer(z[::-1], y, 280.0)
    m, s, chi2, n = dd.weighted_mean([1.0, 2.0, np.nan], [1.0, 2.0, 1.0])
    assert n == 2 and m == pytest.approx((1 + 2 / 4) / 1.25)
    assert s == pytest.approx(1 / np.sqrt(1.25))
    assert chi2 == pytest.approx(1.0 * 0.2**2 + 0.25 * 0.8**2)  # n - 1 = 1
    with pytest.raises(ValueError, match="No estimate"):
        dd.weighted_mean([np.nan], [1.0])


@pytest.mark.parametrize(
    "d, s, L, sig",
    [(10.0, 15.0, 0.0, 1.5), (30.0, 12.0, 280.0, 1.5), (40.0, 6.0, 280.0, 3.0)],
)
def test_blurred_transient_matches_adaptive_quadrature(d, s, L, sig):
    """The Gauss-Legendre blur against scipy's adaptive quadrature of the
    Gaussian convolution, in and around the layer (walls included)."""
    from scipy.integrate import quad

    from hyperspy_perovskite.analysis._drift_diffusion_numba import (
        _transient_unblurred,
        blurred_transient_values,
    )

    z = np.array([-4.0, -1.0, 0.0, 0.7, 2.0, 5.0, 20.0, 60.0])
    if L:
        z = np.append(z, [L - 1.0, L + 2.0])
    got = blurred_transient_values(z, np.full(z.size, d), np.full(z.size, s), L, sig)
    for zi, gi in zip(z, got, strict=True):
        up = L if L else zi + 1000.0

        def f(zp, zi=zi):
            g = _transient_unblurred(zp, d, s, L)[0]
            return (
                g * np.exp(-0.5 * ((zi - zp) / sig) ** 2) / (np.sqrt(2 * np.pi) * sig)
            )

        pts = [zi] if 0 < zi < up else None
        ref = quad(f, 0.0, up, points=pts, limit=400, epsabs=1e-13)[0]
        assert gi == pytest.approx(ref, rel=1e-6, abs=1e-12)
