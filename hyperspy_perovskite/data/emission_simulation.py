"""Photon-counting emission spectra from the physics, with their truth.

Independent of the fitting code: the test truth of the CL/PL recovery tables
(:func:`simulate_emission_spectra`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["simulate_emission_spectra"]


def _n_air(wavelength_nm):
    """Refractive index of standard air (E. R. Peck and K. Reeder, J. Opt.
    Soc. Am. 62, 958 (1972), their Eq. 2), wavelength in nm."""
    s2 = (1e3 / np.asarray(wavelength_nm, float)) ** 2  # (1/um)^2
    return 1.0 + 1e-8 * (5791817.0 / (238.0183 - s2) + 167909.0 / (57.362 - s2))


def _air_energy(wavelength_nm):
    """Photon energy (eV) of a wavelength measured in air (CODATA hc)."""
    return 1239.841984 / (_n_air(wavelength_nm) * np.asarray(wavelength_nm, float))


def simulate_emission_spectra(
    n_pixels=64,
    wavelength_range=(620.0, 820.0),
    n_channels=800,
    band_energy=(1.72, 1.76),
    band_sigma=(0.030, 0.040),
    band_photons=4.0e5,
    asymmetry=0.0,
    line_gamma=0.0,
    urbach_energy=None,
    edge_offset=0.03,
    tail_fraction=0.3,
    second_band=0.0,
    second_shift=0.08,
    dark_counts=5.0,
    n_spikes=0,
    space="energy",
    seed=None,
):
    """Photon-counting spectra from the emission physics, with the truth.

    Built independently of the fitting code: every band is a photon density
    in energy, evaluated on a fine energy grid (0.1 meV) and convolved there
    numerically; the expected counts of each wavelength channel are the
    integral of that density between the energies of the channel edges
    (wavelengths in air, refractive index of Peck and Reeder 1972), plus a
    dark level flat in wavelength (counts per channel); then Poisson noise
    and, optionally, one-channel cosmic-ray spikes.

    - Main band: Gaussian in energy (area ``band_photons``), or with
      ``asymmetry = tau`` (eV) > 0 a Gaussian convolved with a one-sided
      exponential of decay ``tau`` towards low energy.
    - With ``line_gamma`` > 0 the main band is a Lorentzian line of half
      width ``line_gamma`` (a homogeneous, lifetime-broadened line of a
      quantum emitter) convolved numerically with the Gaussian: a Voigt
      profile; its wings outside the recorded window are lost, as in a
      measurement.
    - Urbach tail (``urbach_energy`` in eV): an exponential density of
      states ``exp((E - E0)/Eu)`` below the edge ``E0 = E_band -
      edge_offset``, broadened by the band's Gaussian, holding
      ``tail_fraction`` of the band's photons.
    - Minor second band ``second_shift`` eV below, with ``second_band``
      times the main band's photons and 1.3 times its sigma.

    With ``space="wavelength"`` the bands are Gaussians (or exponentially
    modified towards long wavelengths) in wavelength instead: ``band_energy``,
    ``band_sigma``, ``asymmetry``, ``line_gamma`` and ``second_shift`` are then in nm (the
    second band ``second_shift`` nm above); no Urbach tail.

    Returns
    -------
    signal : CLSTEMPerovskiteSpectrum
        ``(n_pixels, n_channels)`` counts on an increasing wavelength axis (nm).
    truth : dict
        Per pixel ``centre`` (eV), ``sigma`` (eV), ``photons``; and
        ``tau``, ``gamma``, ``Eu``, ``E0``, ``tail_photons``, ``second_centre``,
        ``second_photons``, ``spikes`` (pixel, channel) as simulated.

    Examples
    --------
    >>> from hyperspy_perovskite.data.emission_simulation import simulate_emission_spectra
    >>> s, truth = simulate_emission_spectra(n_pixels=4, seed=0)
    >>> s.data.shape, bool(abs(s.data.sum(-1).mean() - 4.0e5 - 800 * 5) < 4000)
    ((4, 800), True)
    """
    from scipy.signal import fftconvolve

    from hyperspy_perovskite.signals.cl import CLSTEMPerovskiteSpectrum

    if space not in ("energy", "wavelength"):
        raise ValueError(f"space must be 'energy' or 'wavelength', not {space!r}.")
    if space == "wavelength" and urbach_energy:
        raise ValueError("An Urbach tail is simulated in energy: space='energy'.")
    if line_gamma and asymmetry:
        raise ValueError("Give line_gamma (a Voigt line) or asymmetry, not both.")
    rng = np.random.default_rng(seed)
    edges = np.linspace(*wavelength_range, n_channels + 1)
    e_edges = _air_energy(edges) if space == "energy" else edges
    sign = 1.0 if space == "energy" else -1.0  # side of tails and minor band
    de = min(band_sigma) / 300.0
    half = 12.0 * max(band_sigma) + 10.0 * asymmetry
    grid = np.arange(e_edges.min() - half, e_edges.max() + half, de)
    kern_x = np.arange(-half, half + de / 2, de)
    ec = rng.uniform(*band_energy, n_pixels)
    sig = rng.uniform(*band_sigma, n_pixels)
    expected = np.empty((n_pixels, n_channels))
    truth = {"centre": ec, "sigma": sig, "photons": np.full(n_pixels, band_photons)}
    for i in range(n_pixels):
        gauss = np.exp(-0.5 * (kern_x / sig[i]) ** 2)
        gauss /= gauss.sum()
        density = _band_density(
            sign * (grid - ec[i]), asymmetry, gauss, de, float(line_gamma)
        )
        if urbach_energy:
            d = grid - (ec[i] - edge_offset)
            tail = np.where(d <= 0, np.exp(np.minimum(d, 0) / urbach_energy), 0.0)
            tail = np.clip(fftconvolve(tail, gauss, mode="same"), 0.0, None)
            density += tail_fraction * tail / (tail.sum() * de)
        if second_band:
            d = grid - (ec[i] - sign * second_shift)
            g2 = np.exp(-0.5 * (d / (1.3 * sig[i])) ** 2)
            density += second_band * g2 / (g2.sum() * de)
        cum = np.concatenate([[0.0], np.cumsum(density) * de]) * band_photons
        at = np.interp(e_edges, grid - de / 2, cum[:-1])
        expected[i] = np.abs(at[:-1] - at[1:])
    counts = rng.poisson(expected + dark_counts).astype(np.float64)
    spikes = []
    for _ in range(int(n_spikes)):
        p, c = int(rng.integers(n_pixels)), int(rng.integers(5, n_channels - 5))
        counts[p, c] += np.round(rng.uniform(20, 60) * np.sqrt(counts[p].max()))
        spikes.append((p, c))
    truth.update(
        tau=float(asymmetry),
        gamma=float(line_gamma),
        Eu=urbach_energy,
        E0=ec - edge_offset,
        tail_photons=tail_fraction * band_photons if urbach_energy else 0.0,
        second_centre=ec - sign * second_shift,
        second_photons=second_band * band_photons,
        spikes=spikes,
        channel_width=float(edges[1] - edges[0]),
    )
    centres = 0.5 * (edges[1:] + edges[:-1])
    s = CLSTEMPerovskiteSpectrum(counts)
    ax = s.axes_manager.signal_axes[0]
    ax.name, ax.units = "Wavelength", "nm"
    ax.offset, ax.scale = float(centres[0]), float(edges[1] - edges[0])
    s.metadata.General.title = "Simulated emission spectra"
    return s, truth


def _band_density(d, tau, gauss, de, gamma=0.0):
    """Normalised photon density of the main band at offsets ``d`` from its
    centre (tail towards negative ``d``; a Lorentzian line of half width
    ``gamma`` when given, normalised over all ``d``, not over the grid)."""
    from scipy.signal import fftconvolve

    if gamma > 0:
        line = gamma / np.pi / (d * d + gamma * gamma)
        return np.clip(fftconvolve(line, gauss, mode="same"), 0.0, None)

    if tau > 0:
        base = np.where(d <= 0, np.exp(np.minimum(d, 0) / tau), 0.0)
    else:
        base = np.zeros_like(d)
        base[np.argmin(np.abs(d))] = 1.0
    band = np.clip(fftconvolve(base, gauss, mode="same"), 0.0, None)
    return band / (band.sum() * de)
