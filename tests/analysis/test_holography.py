"""Electrostatics from holography phase profiles: constants, derivatives, errors."""

import numpy as np
import pytest
from scipy import signal as sps
from scipy.special import erf

from hyperspy_perovskite.analysis import holography as holo


def test_interaction_constant_literature():
    # Lichte & Lehmann 2008 / Reimer & Kohl: 7.29e6 (200 kV), 6.53e6 (300 kV) rad/(V m)
    assert holo.interaction_constant(200.0) == pytest.approx(7.288e6, rel=1e-3)
    assert holo.interaction_constant(300.0) == pytest.approx(6.526e6, rel=1e-3)
    # non-relativistic limit: C_E -> pi / (lambda U)
    lam = holo.electron_wavelength(0.1) * 1e-10
    assert holo.interaction_constant(0.1) == pytest.approx(
        np.pi / (lam * 100.0), rel=1e-3
    )
    with pytest.raises(ValueError, match="beam_energy"):
        holo.interaction_constant(-5.0)


def test_edge_coefficients_equal_savgol_in_the_interior():
    c = sps.savgol_coeffs(7, 3, deriv=2, delta=0.5, use="dot")
    np.testing.assert_allclose(holo._offset_coeffs(7, 3, 2, 0.5, 3), c, atol=1e-10)


def _dipole(s, rho0=2e5, s0=30.0, a=6.0, w=4.0):
    """Gaussian dipole layer (C/m^3) and its exact field (V/m), eps_r = 1."""
    g = lambda c: np.exp(-((s - c) ** 2) / (2 * w**2))  # noqa: E731
    rho = rho0 * (g(s0 - a) - g(s0 + a))
    k = holo.VACUUM_PERMITTIVITY

    def cum(c):
        return w * 1e-9 * np.sqrt(np.pi / 2) * (1 + erf((s - c) / (np.sqrt(2) * w)))  # noqa: E731

    field = rho0 / k * (cum(s0 - a) - cum(s0 + a))
    return rho, field


def test_profiles_recover_field_and_charge_with_errors():
    s = np.arange(0.0, 60.0, 0.5)
    rho, field = _dipole(s)
    fine = np.linspace(0.0, 60.0, 24001)
    V = np.interp(s, fine, holo.potential_from_charge(fine, _dipole(fine)[0]))
    ce_t = holo.interaction_constant(300.0) * 100e-9
    rng = np.random.default_rng(5)
    sigma = 2e-3  # rad, per profile bin
    phase = ce_t * V + rng.normal(0.0, sigma, size=(400, s.size))
    var = np.full(phase.shape, sigma**2)
    out = holo.electrostatic_profiles(
        s, phase, var, 300.0, 100.0, window=9, polyorder=3
    )
    E_sd = np.sqrt(out["field_variance"][0])
    rho_sd = np.sqrt(out["charge_density_variance"][0])
    # the propagated errors match the scatter over noise realisations
    np.testing.assert_allclose(out["field"].std(0), E_sd, rtol=0.15)
    np.testing.assert_allclose(out["charge_density"].std(0), rho_sd, rtol=0.15)
    # the mean is the truth (bias of the filter well below the noise)
    interior = slice(8, -8)
    err_E = out["field"].mean(0) - field
    assert np.all(
        np.abs(err_E[interior]) < 4 * E_sd[interior] / 20 + 0.02 * np.abs(field).max()
    )
    err_rho = out["charge_density"].mean(0) - rho
    assert np.all(
        np.abs(err_rho[interior]) < 4 * rho_sd[interior] / 20 + 0.05 * np.abs(rho).max()
    )
    # potential in volts
    np.testing.assert_allclose(
        out["potential"].mean(0), V, atol=4.5 * sigma / ce_t / 20
    )


def test_phase_projection_tilted_stack():
    # interfaces at 25 degrees; potential depends only on the stack coordinate
    y, x = (np.mgrid[0:96, 0:96] + 0.5) * 0.5  # nm
    theta = np.deg2rad(25.0)
    u = np.array([np.cos(theta), np.sin(theta)])
    start = np.array([24.0, 24.0]) - 20 * u
    end = np.array([24.0, 24.0]) + 20 * u
    s_pix = (x - start[0]) * u[0] + (y - start[1]) * u[1]
    ph = 0.3 * np.tanh((s_pix - 20.0) / 5.0)
    pos, mean, var = holo.phase_to_stack_profile(
        ph, x, y, start, end, width=10.0, bin_size=0.5
    )
    truth = 0.3 * np.tanh((pos - 20.0) / 5.0)
    # bins average pixels spread over one bin: compare within the bin's slope
    np.testing.assert_allclose(mean, truth, atol=0.3 / 5.0 * 0.5)
    assert np.all(var >= 0)
    # dask input gives the same profile
    import dask.array as da

    _, mean_l, var_l = holo.phase_to_stack_profile(
        da.from_array(np.stack([ph, ph]), chunks=(1, 48, 48)),
        x,
        y,
        start,
        end,
        10.0,
        0.5,
    )
    np.testing.assert_allclose(np.asarray(mean_l)[1], mean, rtol=1e-12)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"thickness": 0.0}, "thickness"),
        ({"eps_r": -1.0}, "eps_r"),
        ({"window": 4}, "window"),
        ({"polyorder": 1}, "polyorder"),
        ({"position": np.r_[0.0, 1.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]}, "uniformly"),
    ],
)
def test_bad_input(kwargs, match):
    args = dict(
        position=np.arange(8.0),
        phase=np.zeros(8),
        phase_variance=np.zeros(8),
        beam_energy=300.0,
        thickness=100.0,
        window=5,
    )
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        holo.electrostatic_profiles(**args)


def test_noise_autocovariance_debiased_against_known_kernel():
    """Gaussian-filtered white noise (std 1 px) has the autocovariance
    ``c0 exp(-r^2 / 4)``; residuals from 40 px bin means underestimate the
    bin variance, the simulation-debiased estimate recovers it."""
    from scipy.ndimage import gaussian_filter

    from hyperspy_perovskite.analysis.device_geometry import band_bin_index

    y, x = (np.mgrid[0:96, 0:96] + 0.5) * 0.5
    u = np.array([np.cos(0.3), np.sin(0.3)])
    start, end = np.array([24.0, 24.0]) - 20 * u, np.array([24.0, 24.0]) + 20 * u
    index, centres, counts = band_bin_index(x, y, start, end, 20.0, 0.5)
    rng = np.random.default_rng(0)
    sig = 1.0
    e = np.stack(
        [gaussian_filter(w, sig, mode="wrap") for w in rng.normal(size=(8, 96, 96))]
    )
    e *= 2.0 * np.sqrt(np.pi) * sig  # unit variance: c0 = 1
    inside = index >= 0
    resid = np.zeros_like(e)
    for k, img in enumerate(e):
        m = np.bincount(index[inside], img[inside], centres.size) / counts
        resid[k][inside] = img[inside] - m[index[inside]]
    raw = holo.noise_autocovariance(resid, index, 6, debias=False)
    fixed = holo.noise_autocovariance(resid, index, 6)
    truth = np.exp(-(np.mgrid[-6:7, -6:7] ** 2).sum(axis=0) / (4 * sig**2))
    # bin covariance (what the errors use) from each kernel vs the truth
    var = [
        np.diag(holo.bin_covariance(index, centres.size, k)).mean()
        for k in (raw, fixed, truth)
    ]
    assert var[0] < 0.88 * var[2]
    assert abs(var[1] / var[2] - 1) < 0.08, var
    # a lag window too small for the correlation is reported
    with pytest.warns(UserWarning, match="max_lag"):
        holo.noise_autocovariance(resid, index, 1)
