"""Physics-based simulator of a STEM-CL map of perovskite nanocrystals in a glass.

The scene follows Li et al., Nat. Commun. 14, 7612 (2023) (Fig. 2c-f, S10-S14): CsPbI3
nanocrystals embedded in an amorphous ZIF-62 glass, recorded as a HAADF image
plus a simultaneously acquired cathodoluminescence (CL) spectrum image.

* Only the nanocrystals emit (Li et al., Nat. Commun. 14, 7612 (2023): "the CsPbI3 nanometer-scale particles
  were indeed the source of the light emitted"); the glass is dark.
* The emission is a Gaussian in wavelength near 710 nm whose centre varies
  between particles within +/-5 nm (Li et al., Nat. Commun. 14, 7612 (2023), Fig. S10-S11).
* The width sigma is larger near the particle edges (Li et al., Nat. Commun. 14, 7612 (2023), Fig. 2f): inside
  a particle ``sigma(d) = sigma_core + (sigma_edge - sigma_core) exp(-d / L)``
  with ``d`` the depth below the particle edge.
* The emitted intensity (Gaussian area) of a particle is drawn independently of
  its size (Li et al., Nat. Commun. 14, 7612 (2023): intensity "not directly related to the size of the
  particles").
* Options: a low-energy Urbach tail, a minor low-energy second peak (Li et al., Nat. Commun. 14, 7612 (2023),
  Fig. 2g, S12-S14) and halide segregation of mixed-halide particles into an
  iodide-rich rim (Hao & Cai, Microstructures 5, 2025012 (2025), Fig. 3B: CsPb(Br0.8I0.2)3 forms
  I-rich CsPb(Br0.6I0.4)3 under the beam), which shows as peak splitting.
* HAADF: Z-contrast of a lamella of thickness ``thickness`` in which cube-like
  particles of edge ``2 R`` (capped by the lamella) replace glass; heavy Cs, Pb,
  I scatter more than the Zn/C/N glass (contrast ratio ``z_contrast``).
* Poisson noise on both images at the given dose.
"""

from __future__ import annotations

import numpy as np

from hyperspy_perovskite.analysis.halide import (
    HALIDE_SYSTEMS,
    bandgap_from_fraction,
    energy_to_wavelength,
    wavelength_to_energy,
)

__all__ = ["simulate_cl_map"]

_SQRT2PI = np.sqrt(2.0 * np.pi)


def _place_particles(rng, shape, pixel_size, n_particles, radius_range, gap):
    """Non-overlapping discs: rejection sampling, centres and radii in nm."""
    ny, nx = shape
    height_nm, width_nm = ny * pixel_size, nx * pixel_size
    centres, radii = [], []
    r_max = min(radius_range[1], 0.45 * min(height_nm, width_nm))
    if radius_range[0] > r_max:
        raise ValueError(
            f"The field of view ({height_nm:g} x {width_nm:g} nm) is too small for "
            f"particles of radius >= {radius_range[0]:g} nm: enlarge shape or "
            "pixel_size, or lower radius_range."
        )
    tries = 0
    while len(radii) < n_particles and tries < 200 * n_particles:
        tries += 1
        r = rng.uniform(radius_range[0], r_max)
        cy = rng.uniform(r, height_nm - r)
        cx = rng.uniform(r, width_nm - r)
        ok = all(
            np.hypot(cy - py, cx - px) > r + pr + gap
            for (py, px), pr in zip(centres, radii, strict=True)
        )
        if ok:
            centres.append((cy, cx))
            radii.append(r)
    return np.asarray(centres, float).reshape(-1, 2), np.asarray(radii, float)


def _scene(centres, radii, yy, xx):
    """Labels (0 = glass) and signed distance to the nearest particle edge (nm).

    Inside a particle the distance is positive (depth below its edge); in the
    glass it is negative (minus the distance to the nearest particle).
    """
    labels = np.zeros(yy.shape, dtype=np.int32)
    signed = np.full(yy.shape, -np.inf)
    for i, ((cy, cx), r) in enumerate(zip(centres, radii, strict=True)):
        d = r - np.hypot(yy - cy, xx - cx)
        labels[d > 0] = i + 1
        signed = np.maximum(signed, d)
    return labels, signed


def simulate_cl_map(
    shape=(64, 64),
    n_channels=512,
    wavelength_range=None,
    pixel_size=10.0,
    n_particles=None,
    radius_range=(20.0, 60.0),
    centre=710.0,
    centre_spread=5.0,
    sigma_core=14.0,
    sigma_edge=22.0,
    edge_length=15.0,
    intensity_spread=0.4,
    intensity_size_exponent=0.0,
    peak_counts=60.0,
    dark_counts=1.0,
    tail=False,
    urbach_energy=0.025,
    tail_fraction=0.05,
    second_peak=False,
    second_peak_shift=0.06,
    second_peak_fraction=0.15,
    second_peak_sigma_factor=1.5,
    halide_x=None,
    system="CsPb(Br1-xIx)3",
    segregation=False,
    segregated_fraction=0.5,
    iodide_rich_x=None,
    rim_width=15.0,
    haadf_oversampling=1,
    haadf_dose=200.0,
    thickness=100.0,
    z_contrast=4.0,
    seed=None,
):
    """Simulate a HAADF image and a CL spectrum image with known ground truth.

    Parameters
    ----------
    shape : tuple of int
        CL navigation shape ``(ny, nx)``.
    n_channels : int
        Number of wavelength channels.
    wavelength_range : tuple of float, optional
        ``(start, end)`` of the wavelength axis in nm. Default: every simulated
        peak +/- 6 sigma (600-820 nm for the default CsPbI3 scene).
    pixel_size : float
        CL pixel size in nm (Li et al., Nat. Commun. 14, 7612 (2023) Fig. 2c: a 200 nm scale bar over a few
        hundred nm field of view).
    n_particles : int, optional
        Number of particles; default fills ~25 % of the field of view.
    radius_range : tuple of float
        Particle radii in nm, drawn uniformly.
    centre : float
        Mean emission wavelength in nm of pure CsPbI3 (Li et al., Nat. Commun. 14, 7612 (2023): ~710 nm).
        Ignored when ``halide_x`` is given.
    centre_spread : float
        Particle centres are drawn uniformly in ``centre +/- centre_spread`` nm
        (Li et al., Nat. Commun. 14, 7612 (2023), Fig. S11: +/-5 nm).
    sigma_core, sigma_edge, edge_length : float
        Gaussian width (nm) deep inside a particle and at its edge, and the
        depth (nm) over which it relaxes (Li et al., Nat. Commun. 14, 7612 (2023), Fig. 2f: larger at edges).
    intensity_spread : float
        Log-normal spread of the particle brightness, drawn independently of
        particle size.
    intensity_size_exponent : float
        Scale each particle's brightness by ``(R / <R>) ** exponent``; the
        default 0 makes intensity independent of size as in Li et al., Nat. Commun. 14, 7612 (2023) (a
        non-zero value gives a positive control for the correlation test).
    peak_counts : float
        Expected counts per channel at the emission maximum of an average
        particle with ``sigma_core`` (sets the dose and thus the Poisson noise).
    dark_counts : float
        Expected counts per channel everywhere (detector dark level).
    tail : bool
        Add an Urbach tail below the band edge:
        ``I_E(E) = h_t exp((E - E0) / Eu)`` for ``E < E0`` in counts per eV,
        with ``E0`` the peak energy and ``h_t = tail_fraction * I_E(E0)``,
        converted to counts per nm with the Jacobian ``hc / lambda^2``.
    urbach_energy : float
        Urbach energy Eu in eV (tens of meV for CsPbX3; ref. 33-35 of Li et al., Nat. Commun. 14, 7612 (2023),
        Falsini et al., J. Appl. Phys. 131 (2022)).
    tail_fraction : float
        Tail amplitude at ``E0`` relative to the Gaussian's peak in energy.
    second_peak : bool
        Add a minor low-energy Gaussian (Li et al., Nat. Commun. 14, 7612 (2023), Fig. S13-S14).
    second_peak_shift : float
        Its energy below the main peak, in eV.
    second_peak_fraction : float
        Its area relative to the main peak's area.
    second_peak_sigma_factor : float
        Its sigma relative to the main peak's sigma.
    halide_x : float, optional
        Iodide fraction x of mixed-halide particles (``system``); the emission
        energy then follows :func:`~hyperspy_perovskite.analysis.halide.bandgap_from_fraction`
        (with the ``centre_spread`` applied in nm around it).
    system : str
        A key of :data:`~hyperspy_perovskite.analysis.halide.HALIDE_SYSTEMS`.
    segregation : bool
        Let a fraction ``segregated_fraction`` of the particles segregate into an
        I-rich rim of composition ``iodide_rich_x`` (default ``halide_x + 0.2``,
        Hao & Cai, Microstructures 5, 2025012 (2025) Fig. 3B) whose emission weight decays as ``exp(-d / rim_width)``
        with depth ``d``; the rest of the particle keeps its composition.
        Requires ``halide_x``.
    haadf_oversampling : int
        The HAADF image has ``haadf_oversampling`` times finer pixels over the
        same field of view (to exercise registration).
    haadf_dose : float
        Expected HAADF counts per (CL-sized) pixel of glass.
    thickness : float
        Lamella thickness in nm (~100 nm FIB lamella, Li et al., Nat. Commun. 14, 7612 (2023) / “Imaging real-time amorphization of hybrid perovskite solar cells under electrical biasing”).
    z_contrast : float
        HAADF scattering of the perovskite relative to the glass per unit
        thickness.
    seed : int or numpy.random.Generator, optional
        Random seed.

    Returns
    -------
    haadf : hyperspy.signals.Signal2D
        HAADF image, axes in nm.
    cl : CLSTEMPerovskiteSpectrum
        CL spectrum image (counts), navigation axes in nm, signal axis
        wavelength in nm.
    truth : dict
        Ground truth: ``labels`` (0 = glass) on the CL grid and
        ``haadf_labels`` on the HAADF grid, ``distance`` (signed distance to
        the nearest particle edge, nm, inside positive), per-pixel ``centre``,
        ``sigma``, ``area``, ``height`` (main Gaussian, NaN in the glass),
        ``halide_x`` and ``segregated`` / ``iodide_rich_weight`` maps,
        per-particle arrays ``particle_radius``, ``particle_area`` (nm^2),
        ``particle_centre`` (nm), ``particle_intensity`` (Gaussian area),
        ``particle_segregated``, the tail and second-peak truth when simulated,
        and the scalar settings.

    Examples
    --------
    >>> from hyperspy_perovskite.data.cl_simulation import simulate_cl_map
    >>> haadf, cl, truth = simulate_cl_map(shape=(16, 16), n_channels=64, seed=0)
    >>> cl.data.shape
    (16, 16, 64)
    >>> cl.axes_manager.signal_axes[0].units
    'nm'
    >>> bool(np.nanmax(truth["sigma"]) > np.nanmin(truth["sigma"]))
    True
    """
    rng = np.random.default_rng(seed)
    shape = tuple(int(v) for v in shape)
    if len(shape) != 2 or min(shape) < 2:
        raise ValueError(f"shape must be (ny, nx) with both >= 2, got {shape}.")
    if n_channels < 8:
        raise ValueError(f"n_channels must be >= 8, got {n_channels}.")
    if pixel_size <= 0:
        raise ValueError(f"pixel_size must be positive (nm), got {pixel_size}.")
    if not 0 < radius_range[0] <= radius_range[1]:
        raise ValueError(f"radius_range must be 0 < rmin <= rmax, got {radius_range}.")
    if sigma_core <= 0 or sigma_edge <= 0 or edge_length <= 0:
        raise ValueError("sigma_core, sigma_edge and edge_length must be positive.")
    if peak_counts <= 0 or dark_counts < 0:
        raise ValueError("peak_counts must be > 0 and dark_counts >= 0.")
    if int(haadf_oversampling) < 1:
        raise ValueError("haadf_oversampling must be an integer >= 1.")
    if system not in HALIDE_SYSTEMS:
        raise ValueError(
            f"system must be one of {sorted(HALIDE_SYSTEMS)}, got {system!r}."
        )
    if segregation and halide_x is None:
        raise ValueError(
            "segregation=True needs a mixed-halide composition: pass halide_x, "
            "e.g. halide_x=0.2 for CsPb(Br0.8I0.2)3."
        )
    if halide_x is not None and not 0.0 <= halide_x <= 1.0:
        raise ValueError(f"halide_x must lie in [0, 1], got {halide_x}.")
    haadf_oversampling = int(haadf_oversampling)
    ny, nx = shape

    if n_particles is None:
        mean_area = np.pi * np.mean(np.square(radius_range))
        n_particles = max(1, int(0.25 * ny * nx * pixel_size**2 / mean_area))
    centres_xy, radii = _place_particles(
        rng, shape, pixel_size, int(n_particles), radius_range, gap=1.5 * pixel_size
    )
    n_p = len(radii)

    # ---- per particle ----
    shift = rng.uniform(-centre_spread, centre_spread, n_p)
    if halide_x is None:
        base_wl = np.full(n_p, float(centre))
        x_particle = np.full(n_p, np.nan)
    else:
        e_gap = bandgap_from_fraction(halide_x, system)
        base_wl = np.full(n_p, float(energy_to_wavelength(e_gap)))
        x_particle = np.full(n_p, float(halide_x))
    p_centre = base_wl + shift
    p_area = (
        peak_counts
        * sigma_core
        * _SQRT2PI
        * rng.lognormal(0.0, intensity_spread, n_p)
        * (radii / np.mean(radii)) ** float(intensity_size_exponent)
    )
    p_segregated = np.zeros(n_p, bool)
    x_rich = None
    if segregation:
        n_seg = int(round(segregated_fraction * n_p))
        p_segregated[rng.permutation(n_p)[:n_seg]] = True
        x_rich = min(1.0, halide_x + 0.2) if iodide_rich_x is None else iodide_rich_x
        if not halide_x < x_rich <= 1.0:
            raise ValueError(
                f"iodide_rich_x must lie in (halide_x, 1], got {x_rich} for "
                f"halide_x={halide_x}."
            )
        rich_wl = float(energy_to_wavelength(bandgap_from_fraction(x_rich, system)))

    # ---- per pixel (CL grid) ----
    yy, xx = np.meshgrid(
        (np.arange(ny) + 0.5) * pixel_size,
        (np.arange(nx) + 0.5) * pixel_size,
        indexing="ij",
    )
    labels, distance = _scene(centres_xy, radii, yy, xx)
    inside = labels > 0
    idx = labels[inside] - 1
    depth = distance[inside]
    c = p_centre[idx]
    s = sigma_core + (sigma_edge - sigma_core) * np.exp(-depth / edge_length)
    a = p_area[idx]
    w_rich = np.zeros_like(depth)
    if segregation:
        w_rich = np.where(p_segregated[idx], np.exp(-depth / rim_width), 0.0)
        c_rich = rich_wl + shift[idx]

    # wavelength axis
    peaks = [c - 6 * s, c + 6 * s] if n_p else [np.array([centre - 100, centre + 100])]
    if segregation:
        peaks.append(c_rich + 6 * s)
    if second_peak:
        peaks.append(
            energy_to_wavelength(wavelength_to_energy(c) - second_peak_shift)
            + 6 * s * second_peak_sigma_factor
        )
    if wavelength_range is None:
        lo = float(np.floor(min(np.min(p) for p in peaks) / 10) * 10)
        hi = float(np.ceil(max(np.max(p) for p in peaks) / 10) * 10)
        if tail:
            hi += 40.0
        wavelength_range = (lo, hi)
    wl0, wl1 = map(float, wavelength_range)
    if not wl1 > wl0 > 0:
        raise ValueError(
            f"wavelength_range must be 0 < start < end, got {wavelength_range}."
        )
    wl = np.linspace(wl0, wl1, int(n_channels))

    def gauss(area, cen, sig):
        return (area / (sig * _SQRT2PI))[:, None] * np.exp(
            -0.5 * ((wl[None, :] - cen[:, None]) / sig[:, None]) ** 2
        )

    expected = np.full((ny, nx, wl.size), float(dark_counts))
    spec = gauss(a * (1.0 - w_rich), c, s)
    if segregation:
        spec += gauss(a * w_rich, c_rich, s)
    truth = {}
    if second_peak:
        c2 = energy_to_wavelength(wavelength_to_energy(c) - second_peak_shift)
        s2 = s * second_peak_sigma_factor
        a2 = a * second_peak_fraction
        spec += gauss(a2, c2, s2)
        truth["second_centre"] = _to_map(c2, inside)
        truth["second_sigma"] = _to_map(s2, inside)
        truth["second_area"] = _to_map(a2, inside)
    if tail:
        e_axis = wavelength_to_energy(wl)
        jac = e_axis / wl  # |dE/dlambda| = hc / lambda^2 = E / lambda
        e0 = wavelength_to_energy(c)
        # the Gaussian's peak density in energy at E0: height_lambda / |dE/dl|
        h_gauss_e = (a / (s * _SQRT2PI)) / (e0 / c)
        h_t = tail_fraction * h_gauss_e
        de = e_axis[None, :] - e0[:, None]
        arg = np.minimum(de, 0.0) / urbach_energy
        spec += np.where(de < 0, h_t[:, None] * np.exp(arg), 0.0) * jac[None, :]
        truth["tail_E0"] = _to_map(e0, inside)
        truth["tail_amplitude"] = _to_map(h_t, inside)
        truth["urbach_energy"] = float(urbach_energy)
    expected[inside] += spec
    counts = rng.poisson(expected).astype(np.float32)

    # ---- HAADF (possibly finer grid over the same field of view) ----
    k = haadf_oversampling
    hp = pixel_size / k
    hyy, hxx = np.meshgrid(
        (np.arange(ny * k) + 0.5) * hp, (np.arange(nx * k) + 0.5) * hp, indexing="ij"
    )
    hlabels, _ = _scene(centres_xy, radii, hyy, hxx)
    t_particle = np.where(
        hlabels > 0, np.minimum(2.0 * np.append(0.0, radii)[hlabels], thickness), 0.0
    )
    mu = (
        (haadf_dose / k**2)
        * ((thickness - t_particle) + z_contrast * t_particle)
        / thickness
    )
    haadf_data = rng.poisson(mu).astype(np.float32)

    # ---- signals ----
    import hyperspy.api as hs

    from hyperspy_perovskite.signals.cl import CLSTEMPerovskiteSpectrum

    nav_axes = [
        {
            "name": "y",
            "size": ny,
            "scale": pixel_size,
            "offset": 0.5 * pixel_size,
            "units": "nm",
        },
        {
            "name": "x",
            "size": nx,
            "scale": pixel_size,
            "offset": 0.5 * pixel_size,
            "units": "nm",
        },
    ]
    wl_axis = {
        "name": "Wavelength",
        "size": wl.size,
        "scale": float(wl[1] - wl[0]),
        "offset": wl0,
        "units": "nm",
    }
    cl = CLSTEMPerovskiteSpectrum(counts, axes=[*nav_axes, wl_axis])
    cl.metadata.General.title = "Simulated STEM-CL map"
    cl.metadata.Signal.quantity = "Intensity (counts)"
    cl.metadata.Signal.signal_type = "CL_STEM_perovskite"
    cl.metadata.set_item(
        "Signal.Noise_properties.Variance_linear_model.gain_factor", 1.0
    )
    cl.metadata.set_item(
        "Signal.Noise_properties.Variance_linear_model.gain_offset", 0.0
    )
    haadf = hs.signals.Signal2D(
        haadf_data,
        axes=[
            {
                "name": "y",
                "size": ny * k,
                "scale": hp,
                "offset": 0.5 * hp,
                "units": "nm",
            },
            {
                "name": "x",
                "size": nx * k,
                "scale": hp,
                "offset": 0.5 * hp,
                "units": "nm",
            },
        ],
    )
    haadf.metadata.General.title = "Simulated HAADF"
    haadf.metadata.Signal.quantity = "Intensity (counts)"

    truth.update(
        labels=labels,
        haadf_labels=hlabels,
        distance=distance,
        centre=_to_map(c, inside),
        sigma=_to_map(s, inside),
        area=_to_map(a, inside),
        height=_to_map(a / (s * _SQRT2PI), inside),
        halide_x=_to_map(
            np.full(idx.size, np.nan) if halide_x is None else x_particle[idx], inside
        ),
        iodide_rich_weight=_to_map(w_rich, inside, fill=0.0),
        segregated=_to_map(p_segregated[idx], inside, fill=False).astype(bool),
        particle_xy=centres_xy[:, ::-1].copy(),
        particle_radius=radii,
        particle_area=np.pi * radii**2,
        particle_centre=p_centre,
        particle_intensity=p_area,
        particle_segregated=p_segregated,
        iodide_rich_x=x_rich,
        system=system,
        pixel_size=float(pixel_size),
        sigma_core=float(sigma_core),
        sigma_edge=float(sigma_edge),
        edge_length=float(edge_length),
        dark_counts=float(dark_counts),
        peak_counts=float(peak_counts),
    )
    return haadf, cl, truth


def _to_map(values, inside, fill=np.nan):
    out = np.full(
        inside.shape,
        fill,
        dtype=np.asarray(values).dtype if fill is not np.nan else float,
    )
    out[inside] = values
    return out


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
    - Urbach tail (``urbach_energy`` in eV): an exponential density of
      states ``exp((E - E0)/Eu)`` below the edge ``E0 = E_band -
      edge_offset``, broadened by the band's Gaussian, holding
      ``tail_fraction`` of the band's photons.
    - Minor second band ``second_shift`` eV below, with ``second_band``
      times the main band's photons and 1.3 times its sigma.

    With ``space="wavelength"`` the bands are Gaussians (or exponentially
    modified towards long wavelengths) in wavelength instead: ``band_energy``,
    ``band_sigma``, ``asymmetry`` and ``second_shift`` are then in nm (the
    second band ``second_shift`` nm above); no Urbach tail.

    Returns
    -------
    signal : CLSTEMPerovskiteSpectrum
        ``(n_pixels, n_channels)`` counts on an increasing wavelength axis (nm).
    truth : dict
        Per pixel ``centre`` (eV), ``sigma`` (eV), ``photons``; and
        ``tau``, ``Eu``, ``E0``, ``tail_photons``, ``second_centre``,
        ``second_photons``, ``spikes`` (pixel, channel) as simulated.

    Examples
    --------
    >>> from hyperspy_perovskite.data.cl_simulation import simulate_emission_spectra
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
        density = _band_density(sign * (grid - ec[i]), asymmetry, gauss, de)
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


def _band_density(d, tau, gauss, de):
    """Normalised photon density of the main band at offsets ``d`` from its
    centre (tail towards negative ``d``)."""
    from scipy.signal import fftconvolve

    if tau > 0:
        base = np.where(d <= 0, np.exp(np.minimum(d, 0) / tau), 0.0)
    else:
        base = np.zeros_like(d)
        base[np.argmin(np.abs(d))] = 1.0
    band = np.clip(fftconvolve(base, gauss, mode="same"), 0.0, None)
    return band / (band.sum() * de)
