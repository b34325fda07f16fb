"""Electrostatics of a biased cross-section from an electron-holography phase.

Pure numpy/dask array code (no HyperSpy objects). In the phase-object
approximation the phase shift of the electron wave is
``phi(x, y) = C_E int V(x, y, z) dz = C_E t V(x, y)`` for a specimen of
thickness ``t`` with a potential constant along the beam, so along the stack
coordinate ``s``::

    V(s)   = phi(s) / (C_E t)                (potential, V)
    E(s)   = -dV/ds                          (field, V/m)
    rho(s) = -eps0 eps_r d2V/ds2             (charge density, C/m^3; Poisson)

``C_E`` is the relativistic interaction constant (Reimer & Kohl,
*Transmission Electron Microscopy*, 5th ed., Springer 2008, eq. 3.21;
Lichte & Lehmann, Rep. Prog. Phys. 71, 016102 (2008), eq. 6)::

    C_E = (2 pi / (lambda U)) (E0 + e U) / (2 E0 + e U)

with the accelerating voltage ``U``, the rest energy ``E0 = m0 c^2`` and the
relativistic wavelength ``lambda``: 7.29e6 rad/(V m) at 200 kV, 6.53e6 at
300 kV. The phase also carries the mean inner potential of each layer;
subtract the phase of the same area at zero bias to keep the bias-induced
part only. Derivatives use Savitzky-Golay filters (Savitzky & Golay, Anal.
Chem. 36, 1627 (1964)); being linear, their variance is propagated exactly
for independent bins.

Constants: vacuum permittivity from :mod:`scipy.constants` (CODATA 2022);
electron mass, charge, c as in
:mod:`hyperspy_perovskite.crystallography.wavelength` (CODATA 2018).
"""

from __future__ import annotations

import numpy as np
from scipy import constants as _const
from scipy import signal as _signal

from hyperspy_perovskite.analysis.device_geometry import (
    band_bin_index,
    project_to_stack,
)
from hyperspy_perovskite.crystallography.wavelength import (
    ELECTRON_MASS,
    ELEMENTARY_CHARGE,
    SPEED_OF_LIGHT,
    electron_wavelength,
)

__all__ = [
    "noise_autocovariance",
    "bin_covariance",
    "VACUUM_PERMITTIVITY",
    "interaction_constant",
    "phase_to_stack_profile",
    "electrostatic_profiles",
    "potential_from_charge",
]

#: Vacuum permittivity, F/m (scipy.constants, CODATA 2022).
VACUUM_PERMITTIVITY = _const.epsilon_0


def interaction_constant(beam_energy):
    """Relativistic interaction constant ``C_E`` in rad/(V m).

    Parameters
    ----------
    beam_energy : float
        Accelerating voltage in kV (> 0).

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.holography import interaction_constant
    >>> round(interaction_constant(300.0) / 1e6, 3)
    6.526
    >>> round(interaction_constant(200.0) / 1e6, 3)
    7.288
    """
    lam = electron_wavelength(beam_energy) * 1e-10  # m (validates the energy)
    U = float(beam_energy) * 1e3
    E0 = ELECTRON_MASS * SPEED_OF_LIGHT**2
    eU = ELEMENTARY_CHARGE * U
    return 2.0 * np.pi / (lam * U) * (E0 + eU) / (2.0 * E0 + eU)


def phase_to_stack_profile(phase, x, y, start, end, width=None, bin_size=None):
    """Mean phase per bin along the stack line and the variance of that mean.

    Parameters
    ----------
    phase : numpy or dask array ``(..., ny, nx)``
        Unwrapped phase (rad); leading axes (bias steps, times) are kept.
    x, y : ndarray ``(ny, nx)``
        Pixel-centre coordinates in nm.
    start, end : (float, float)
        Stack line (nm) from ``start`` to ``end``, across the interfaces.
    width : float or None
        Band width in nm around the line (``None``: whole map).
    bin_size : float or None
        nm along the stack; default: the pixel size.

    Returns
    -------
    position : ndarray ``(n,)``
        Bin centres, nm from ``start``.
    mean, variance : arrays ``(..., n)``
        Mean phase per bin and the variance of the mean (scatter of the
        pixels in the bin over their number, which includes the noise of the
        reconstruction).

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.holography import phase_to_stack_profile
    >>> y, x = np.mgrid[0:8, 0:16] + 0.5
    >>> ph = 0.1 * x
    >>> pos, m, v = phase_to_stack_profile(ph, x, y, (0, 4), (16, 4))
    >>> np.round(m[:3], 3).tolist()
    [0.05, 0.15, 0.25]
    """
    if bin_size is None:
        bin_size = float(
            min(np.abs(np.diff(x[0, :2]))[0], np.abs(np.diff(y[:2, 0]))[0])
        )
    index, centres, counts = band_bin_index(x, y, start, end, width, bin_size)
    stacked = _stack_moments(phase)
    sums = project_to_stack(stacked, index, centres.size)
    n = counts.astype(float)
    mean = sums[..., 0] / n
    var_pix = np.maximum(sums[..., 1] / n - mean**2, 0.0) * n / np.maximum(n - 1, 1)
    return centres, mean, var_pix / n


def _stack_moments(phase):
    ph = phase.astype(np.float64) if hasattr(phase, "astype") else np.asarray(phase)
    mod = type(ph).__module__
    if mod.startswith("dask"):
        import dask.array as da

        return da.stack([ph, ph * ph], axis=-1)
    ph = np.asarray(ph, dtype=float)
    return np.stack([ph, ph * ph], axis=-1)


def _savgol_with_variance(y, var, window, polyorder, deriv, delta, cov=None):
    """Savitzky-Golay filter of ``y`` and the variance of the result, from the
    variances ``var`` or, for correlated bins, the covariance ``cov``."""
    coeffs = _signal.savgol_coeffs(
        window, polyorder, deriv=deriv, delta=delta, use="dot"
    )
    half = window // 2
    n = y.shape[-1]
    out = np.empty_like(y)
    vout = np.empty_like(y)
    for i in range(n):
        # the window is shifted inside the profile at the ends (fit, not pad)
        lo = min(max(i - half, 0), n - window)
        if lo == i - half:
            c = coeffs
        else:
            # evaluate the local polynomial of the shifted window at i
            c = _offset_coeffs(window, polyorder, deriv, delta, i - lo)
        seg = slice(lo, lo + window)
        out[..., i] = (y[..., seg] * c).sum(axis=-1)
        if cov is None:
            vout[..., i] = (var[..., seg] * c * c).sum(axis=-1)
        else:
            vout[..., i] = np.einsum("...ij,i,j->...", cov[..., seg, seg], c, c)
    return out, vout


def _offset_coeffs(window, polyorder, deriv, delta, pos):
    t = (np.arange(window) - pos) * delta
    A = np.vander(t, polyorder + 1, increasing=True)  # (window, p+1)
    pinv = np.linalg.pinv(A)  # (p+1, window)
    from math import factorial

    return factorial(deriv) * pinv[deriv]


def electrostatic_profiles(
    position,
    phase,
    phase_variance,
    beam_energy,
    thickness,
    eps_r=1.0,
    window=7,
    polyorder=3,
    phase_covariance=None,
):
    """Potential, field and charge density along the stack from the phase.

    Parameters
    ----------
    position : ndarray ``(n,)``
        nm, uniformly spaced.
    phase, phase_variance : ndarray ``(..., n)``
        Phase profile (rad) and its variance (e.g. from
        :func:`phase_to_stack_profile`).
    beam_energy : float
        kV.
    thickness : float
        Specimen thickness along the beam, nm (FIB lamella: ~120 nm in “Imaging real-time amorphization of hybrid perovskite solar cells under electrical biasing”).
    eps_r : float
        Relative permittivity of the layer (e.g. ~30-60 for MAPbI3-type
        perovskites; give the value of your material).
    window : int
        Savitzky-Golay window (odd, bins): larger smooths more.
    polyorder : int
        Polynomial order (>= 2 for the charge density).
    phase_covariance : ndarray ``(..., n, n)``, optional
        Covariance of the phase profile's bins (correlated noise, see
        :func:`bin_covariance`); when given, the variances of the field and
        the charge density are propagated through it, not through
        ``phase_variance``.

    Returns
    -------
    dict
        ``potential`` (V), ``field`` (V/m), ``charge_density`` (C/m^3) and
        the same keys with ``_variance``; ``interaction_constant``
        (rad/(V m)).

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.holography import (
    ...     electrostatic_profiles, interaction_constant)
    >>> s = np.arange(100) * 1.0
    >>> V = 0.5 * (s / 100.0) ** 2  # uniform charge: rho = -eps0 * 1e14 C/m^3
    >>> phase = interaction_constant(300.0) * 100e-9 * V
    >>> out = electrostatic_profiles(s, phase, np.zeros(100), 300.0, 100.0)
    >>> round(float(out["charge_density"][50] / -8.8541878188e-12 / 1e14), 6)
    1.0
    """
    x = np.asarray(position, dtype=float)
    ph = np.asarray(phase, dtype=float)
    var = np.asarray(phase_variance, dtype=float)
    if x.ndim != 1 or ph.shape[-1] != x.size or var.shape != ph.shape:
        raise ValueError(
            "position (n,), phase (..., n) and phase_variance (..., n) must match."
        )
    steps = np.diff(x)
    if x.size < 3 or np.any(steps <= 0) or not np.allclose(steps, steps[0], rtol=1e-6):
        raise ValueError("position must be uniformly spaced and increasing (nm).")
    t = float(thickness)
    if not (np.isfinite(t) and t > 0):
        raise ValueError(
            f"thickness must be a positive length in nm, got {thickness!r}."
        )
    if not (np.isfinite(eps_r) and eps_r > 0):
        raise ValueError(f"eps_r must be positive, got {eps_r!r}.")
    window = int(window)
    polyorder = int(polyorder)
    if window % 2 == 0 or window < 3 or window > x.size:
        raise ValueError(
            f"window must be an odd number of bins between 3 and {x.size}, got {window}."
        )
    if not 2 <= polyorder < window:
        raise ValueError(
            f"polyorder must be >= 2 (second derivative) and < window, got {polyorder}."
        )
    ce = interaction_constant(beam_energy)
    scale = 1.0 / (ce * t * 1e-9)  # V per rad
    V = ph * scale
    vV = var * scale**2
    h = float(steps[0]) * 1e-9  # m
    cV = None
    if phase_covariance is not None:
        cV = np.asarray(phase_covariance, dtype=float) * scale**2
        vV = np.broadcast_to(np.diagonal(cV, axis1=-2, axis2=-1), V.shape).copy()
    dV, vdV = _savgol_with_variance(V, vV, window, polyorder, 1, h, cV)
    d2V, vd2V = _savgol_with_variance(V, vV, window, polyorder, 2, h, cV)
    k = VACUUM_PERMITTIVITY * float(eps_r)
    return {
        "potential": V,
        "potential_variance": vV,
        "field": -dV,
        "field_variance": vdV,
        "charge_density": -k * d2V,
        "charge_density_variance": k * k * vd2V,
        "interaction_constant": ce,
    }


def potential_from_charge(position, charge_density, eps_r=1.0):
    """Potential (V) of a 1D charge density (C/m^3) with zero field and potential at the start.

    Solves ``d2V/ds2 = -rho / (eps0 eps_r)`` by double cumulative trapezoid
    integration; used to simulate phase images of known charge layers.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.holography import potential_from_charge
    >>> V = potential_from_charge(np.linspace(0, 10, 11), np.zeros(11))
    >>> float(np.abs(V).max())
    0.0
    """
    from scipy.integrate import cumulative_trapezoid

    x = np.asarray(position, dtype=float) * 1e-9
    rho = np.asarray(charge_density, dtype=float)
    k = VACUUM_PERMITTIVITY * float(eps_r)
    dV = cumulative_trapezoid(-rho / k, x, initial=0.0)
    return cumulative_trapezoid(dV, x, initial=0.0)


def _lag_pairs(index, dy, dx):
    """Bin indices of the pixel pairs ``(i, i + (dy, dx))`` inside the band."""
    ny, nx = index.shape
    a = index[max(0, -dy) : ny - max(0, dy), max(0, -dx) : nx - max(0, dx)]
    b = index[max(0, dy) : ny + min(0, dy), max(0, dx) : nx + min(0, dx)]
    return a, b


def _lag_products(r, inside, K):
    """Mean products ``<r_i r_(i + lag)>`` over the pairs inside the band for
    every lag up to ``K`` (FFT autocorrelation), and the number of pairs."""
    ny, nx = inside.shape
    shape = (ny + K, nx + K)  # zero padding: no wrap-around for lags <= K
    m = np.fft.rfft2(inside.astype(float), shape)
    npair = np.fft.irfft2(m * np.conj(m), shape)
    prod = np.zeros(shape)
    for img in r:
        f = np.fft.rfft2(np.where(inside, img, 0.0), shape)
        prod += np.fft.irfft2(f * np.conj(f), shape)
    idx_y = np.arange(-K, K + 1) % shape[0]
    idx_x = np.arange(-K, K + 1) % shape[1]
    n = np.rint(npair[np.ix_(idx_y, idx_x)]) * r.shape[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        C = np.where(n >= 10, prod[np.ix_(idx_y, idx_x)] / np.maximum(n, 1), 0.0)
    return C


def _residuals(e, index, nbins):
    """``e`` minus its bin means (0 outside the band), per image."""
    inside = index >= 0
    b = index[inside]
    n = np.bincount(b, minlength=nbins).astype(float)
    out = np.zeros_like(e)
    for k, img in enumerate(e):
        means = np.bincount(b, weights=img[inside], minlength=nbins) / np.maximum(n, 1)
        out[k][inside] = img[inside] - means[b]
    return out


def _simulate_noise(kernel, shape, n, rng):
    """``n`` stationary Gaussian fields with the autocovariance ``kernel``
    (circular embedding on a padded grid). Negative spectral power is
    clipped, so the fields' true autocovariance, also returned (same lags as
    ``kernel``), can differ slightly from ``kernel``."""
    K = kernel.shape[0] // 2
    big = (shape[0] + 2 * K, shape[1] + 2 * K)
    emb = np.zeros(big)
    ly, lx = np.mgrid[-K : K + 1, -K : K + 1]
    emb[ly % big[0], lx % big[1]] = kernel
    power = np.maximum(np.fft.rfft2(emb).real, 0.0)
    generated = np.fft.irfft2(power, big)[ly % big[0], lx % big[1]]
    white = rng.standard_normal((n,) + big)
    fields = np.fft.irfft2(np.fft.rfft2(white) * np.sqrt(power), big)
    return fields[:, : shape[0], : shape[1]], generated


def noise_autocovariance(residual, index, max_lag=8, debias=True, n_sim=24, seed=0):
    """Autocovariance ``C(dy, dx)`` of the phase noise inside the band.

    The lag products of the residuals are averaged over the pixel pairs
    inside the band (FFT autocorrelation). Residuals from the bin means
    lack the part of the noise the mean took out (a bin is a line of
    pixels across the band, over which correlated noise is partly common),
    so their autocovariance is too small (by ~20 % for noise correlated
    over 3 px in 40 px bins), and so would be the errors. With ``debias``
    the estimator's own bias is measured and removed by simulation: noise
    with the current estimate as its autocovariance is drawn on the same
    band and bins and put through the same estimator; what it loses is
    added to the observed estimate (two fixed-point iterations, ``n_sim``
    images each; deterministic with ``seed``). The correction is complete
    when the bin mean takes out a modest part of the noise (phase
    profiles with correlation lengths of a few pixels and bins tens of
    pixels long: pull std 1.00, coverage 0.68 / 0.955 in the tests); when
    most of a bin's noise is common to the bin (correlation comparable to
    the band width), it is only partly recovered and the errors stay too
    small.

    Parameters
    ----------
    residual : ndarray ``(m, ny, nx)``
        Phase minus its bin mean (the profile), for ``m`` images with the
        same noise statistics.
    index : ndarray of int ``(ny, nx)``
        Bin of each pixel (-1 outside the band).
    max_lag : int
        Largest lag (pixels) in each direction.
    debias : bool
        Remove the bias of the bin-mean residuals (see above).
    n_sim : int
        Simulated noise images per iteration of the bias correction.
    seed : int
        Seed of the simulation.

    Returns
    -------
    ndarray ``(2 max_lag + 1, 2 max_lag + 1)``
        ``C[dy + max_lag, dx + max_lag]``; lags whose estimate is within 3
        standard errors of zero are set to 0 (noise of the estimate).

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.holography import noise_autocovariance
    >>> rng = np.random.default_rng(0)
    >>> r = rng.normal(0, 2.0, (4, 64, 64))
    >>> C = noise_autocovariance(r, np.zeros((64, 64), int), max_lag=2, debias=False)
    >>> round(float(C[2, 2]), 1), float(np.abs(C[0, 0]))
    (4.0, 0.0)
    """
    r = np.asarray(residual, dtype=float).reshape((-1,) + index.shape)
    K = int(max_lag)
    inside = index >= 0
    C_obs = _lag_products(r, inside, K)
    C = C_obs.copy()
    if debias and np.any(inside) and C_obs[K, K] > 0:
        nbins = int(index.max()) + 1
        rng = np.random.default_rng(seed)
        for _ in range(2):
            e, _ = _simulate_noise(C, index.shape, int(n_sim), rng)
            C_sim = _lag_products(_residuals(e, index, nbins), inside, K)
            # B(C) = C_sim for the estimator B, and B(C_true) = C_obs:
            # to first order C_true = C + (C_obs - C_sim)
            C = C + (C_obs - C_sim)
        C = 0.5 * (C + C[::-1, ::-1])
    c0 = C[K, K]
    edge = np.concatenate([C[0], C[-1], C[1:-1, 0], C[1:-1, -1]])
    if K > 0 and c0 > 0 and np.mean(edge) > 0.1 * c0:
        import warnings

        warnings.warn(
            f"The phase noise is still correlated at the largest lag ({K} px: "
            f"{np.mean(edge) / c0:.0%} of the variance): the errors are "
            "underestimated; increase max_lag.",
            UserWarning,
            stacklevel=2,
        )
    if c0 > 0:
        n_tot = np.count_nonzero(inside) * r.shape[0]
        C[np.abs(C) < 3.0 * c0 / np.sqrt(n_tot)] = 0.0
        C[K, K] = c0
    return C


def bin_covariance(index, nbins, autocov):
    """Covariance matrix of the bin means from the noise autocovariance.

    ``Cov(m_a, m_b) = sum_{i in a, j in b} C(r_j - r_i) / (n_a n_b)``.

    Parameters
    ----------
    index : ndarray of int ``(ny, nx)``
        Bin of each pixel (-1 outside).
    nbins : int
    autocov : ndarray ``(2K + 1, 2K + 1)``
        From :func:`noise_autocovariance`.

    Returns
    -------
    ndarray ``(nbins, nbins)``

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.holography import bin_covariance
    >>> idx = np.repeat(np.arange(4)[None, :], 10, axis=0)  # 4 bins of 10 px
    >>> C = np.zeros((3, 3)); C[1, 1] = 1.0  # white noise
    >>> np.diag(bin_covariance(idx, 4, C)).tolist()
    [0.1, 0.1, 0.1, 0.1]
    """
    K = autocov.shape[0] // 2
    n = np.bincount(index[index >= 0], minlength=nbins).astype(float)
    cov = np.zeros((nbins, nbins))
    for dy in range(-K, K + 1):
        for dx in range(-K, K + 1):
            c = autocov[dy + K, dx + K]
            if c == 0.0:
                continue
            a, b = _lag_pairs(index, dy, dx)
            ok = (a >= 0) & (b >= 0)
            np.add.at(cov, (a[ok], b[ok]), c)
    return cov / np.outer(n, n)
