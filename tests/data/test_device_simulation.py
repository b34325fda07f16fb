"""The device cross-section simulator and its ground truth."""

import numpy as np
import pytest
from scipy import constants, integrate, sparse

from hyperspy_perovskite.data.device_simulation import simulate_device_eds


def _cell_average(f, z, h):
    return np.array([integrate.quad(f, zi - h / 2, zi + h / 2)[0] / h for zi in z])


def _steady_state(lam, thickness):
    """Analytic steady state of drift against a blocking wall, mean 1:
    ``c(z) = (L / lam) exp(-z / lam) / (1 - exp(-L / lam))``."""
    return lambda z: thickness / lam * np.exp(-z / lam) / (1 - np.exp(-thickness / lam))


def _method_of_lines(thickness_nm, time, D, v, n=1400):
    """Independent solver: central differences on a fine grid, zero flux at both
    walls, drift towards z = 0, integrated by scipy's BDF (uniform start, mean 1)."""
    h = thickness_nm * 1e-9 / n
    main = np.zeros(n)
    upper = np.zeros(n - 1)
    lower = np.zeros(n - 1)
    # face i+1/2 flux towards +z: J = -D (c[i+1]-c[i])/h - v (c[i]+c[i+1])/2
    a, b = -D / h - v / 2, D / h - v / 2  # J = a*c[i+1] + b*c[i]
    main[:-1] -= b / h
    upper -= a / h
    main[1:] += a / h
    lower += b / h
    A = sparse.diags([lower, main, upper], [-1, 0, 1], format="csr")
    sol = integrate.solve_ivp(
        lambda _, c: A @ c,
        (0, time),
        np.ones(n),
        method="BDF",
        jac=A,
        rtol=1e-8,
        atol=1e-10,
    )
    return sol.y[:, -1]


def test_truth_is_consistent_and_physical():
    s, truth = simulate_device_eds(shape=(8, 32), pixel_size=16.0, times=[0, 300])
    assert s.axes_manager.navigation_shape == (32, 8, 2)
    assert s.bias_condition["cathode"] == "ITO"
    # Einstein relation D = mu k_B T / q and the decay length k_B T / (q E)
    kT_q = constants.k * truth["temperature"] / constants.e
    assert truth["diffusion_coefficient"] == pytest.approx(truth["mobility"] * kT_q)
    assert truth["decay_length"] == pytest.approx(kT_q / truth["field"] * 1e9)
    # after 300 s (>> L^2 / D ~ 30 s) the halide is in the analytic steady state
    profile = truth["mobile_profile"]
    z, c = profile["z"], profile["c"]
    (thickness,) = [t for n, t in truth["layers"] if n == "perovskite"]
    h = thickness / z.size
    steady = _cell_average(_steady_state(truth["decay_length"], thickness), z, h)
    np.testing.assert_allclose(c[1], steady, rtol=2e-3)
    np.testing.assert_allclose(c[0], 1.0)  # uniform before the bias
    assert c[1, 0] > 3 * c[0, 0]  # piled up at the cathode side after bias


def test_transient_matches_an_independent_solver():
    """1 s after switch-on (drift 71 nm, diffusion length 51 nm in 280 nm) the
    profile is far from both the start and the steady state."""
    _, truth = simulate_device_eds(shape=(4, 16), pixel_size=16.0, times=[0, 1])
    (thickness,) = [t for n, t in truth["layers"] if n == "perovskite"]
    c = truth["mobile_profile"]["c"][1]
    fine = _method_of_lines(
        thickness, 1.0, truth["diffusion_coefficient"], truth["velocity"]
    )
    coarse = fine.reshape(c.size, -1).mean(axis=1)
    steady = _steady_state(truth["decay_length"], thickness)(
        truth["mobile_profile"]["z"]
    )
    assert np.max(np.abs(coarse / steady - 1)) > 0.5  # really a transient
    np.testing.assert_allclose(c, coarse, rtol=5e-3, atol=2e-3)


def test_counts_and_clusters():
    s, truth = simulate_device_eds(shape=(8, 32), pixel_size=16.0, times=[0, 300])
    # expected counts: the noise is Poisson about them
    e = truth["expected_counts"]
    z = (s.data - e) / np.sqrt(np.maximum(e, 1e-9))
    assert abs(z[e > 20].mean()) < 0.05 and abs(z[e > 20].std() - 1) < 0.05
    # clusters: pristine ones persist, new ones form near the interfaces
    assert len(truth["clusters"][1]) > len(truth["clusters"][0])
    assert all(k["formed"] == "pristine" for k in truth["clusters"][0])


def test_nanoled_and_lazy_and_errors():
    s, truth = simulate_device_eds(
        stack="nanoled", shape=(8, 32), pixel_size=16.0, lazy=True, bias=2e-6
    )
    assert s._lazy and truth["mobile"] == "Cl"
    assert s.bias_condition["mode"] == "galvanostatic"
    assert "TPBi/Al" in truth["interfaces"]
    with pytest.raises(ValueError, match="stack"):
        simulate_device_eds(stack="tandem")
    with pytest.raises(ValueError, match="increasing"):
        simulate_device_eds(shape=(4, 16), times=[5, 1])
    with pytest.raises(ValueError, match="mobile_fraction"):
        simulate_device_eds(shape=(4, 16), mobile_fraction=2)
