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
from hyperspy_perovskite.data._particle_scene import (
    _haadf_counts,
    _pixels,
    _place_particles,
)
from hyperspy_perovskite.data.emission_simulation import (  # noqa: F401
    simulate_emission_spectra,
)

__all__ = ["simulate_cl_map", "simulate_emission_spectra"]

_SQRT2PI = np.sqrt(2.0 * np.pi)


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
    _check_map_args(
        shape,
        n_channels,
        pixel_size,
        radius_range,
        (sigma_core, sigma_edge, edge_length),
        peak_counts,
        dark_counts,
        haadf_oversampling,
        system,
        segregation,
        halide_x,
    )
    ny, nx = shape
    if n_particles is None:
        mean_area = np.pi * np.mean(np.square(radius_range))
        n_particles = max(1, int(0.25 * ny * nx * pixel_size**2 / mean_area))
    centres_xy, radii = _place_particles(
        rng, shape, pixel_size, int(n_particles), radius_range, gap=1.5 * pixel_size
    )
    p = _particle_properties(
        rng,
        radii,
        centre,
        centre_spread,
        halide_x,
        system,
        peak_counts * sigma_core * _SQRT2PI,
        intensity_spread,
        intensity_size_exponent,
        segregation,
        segregated_fraction,
        iodide_rich_x,
    )
    labels, distance, px = _pixels(
        shape,
        pixel_size,
        centres_xy,
        radii,
        p,
        (sigma_core, sigma_edge, edge_length),
        rim_width if segregation else None,
    )
    inside = labels > 0
    second = (second_peak_shift, second_peak_fraction, second_peak_sigma_factor)
    wl = _wavelength_grid(
        wavelength_range, n_channels, px, centre, tail, second if second_peak else None
    )
    spec, truth = _cl_spectra(
        wl,
        px,
        inside,
        second if second_peak else None,
        (urbach_energy, tail_fraction) if tail else None,
    )
    expected = np.full((ny, nx, wl.size), float(dark_counts))
    expected[inside] += spec
    counts = rng.poisson(expected).astype(np.float32)
    hlabels, haadf_data = _haadf_counts(
        rng,
        shape,
        pixel_size,
        int(haadf_oversampling),
        centres_xy,
        radii,
        haadf_dose,
        thickness,
        z_contrast,
    )
    haadf, cl = _map_signals(counts, haadf_data, pixel_size, wl)
    truth.update(
        _scene_truth(labels, hlabels, distance, inside, px, p, centres_xy, radii)
    )
    truth.update(
        system=system,
        pixel_size=float(pixel_size),
        sigma_core=float(sigma_core),
        sigma_edge=float(sigma_edge),
        edge_length=float(edge_length),
        dark_counts=float(dark_counts),
        peak_counts=float(peak_counts),
    )
    return haadf, cl, truth


def _scene_truth(labels, hlabels, distance, inside, px, p, centres_xy, radii):
    """Per-pixel and per-particle truth of :func:`simulate_cl_map`."""
    idx = labels[inside] - 1
    return dict(
        labels=labels,
        haadf_labels=hlabels,
        distance=distance,
        centre=_to_map(px["centre"], inside),
        sigma=_to_map(px["sigma"], inside),
        area=_to_map(px["area"], inside),
        height=_to_map(px["area"] / (px["sigma"] * _SQRT2PI), inside),
        halide_x=_to_map(p["x"][idx], inside),
        iodide_rich_weight=_to_map(px["w_rich"], inside, fill=0.0),
        segregated=_to_map(p["segregated"][idx], inside, fill=False).astype(bool),
        particle_xy=centres_xy[:, ::-1].copy(),
        particle_radius=radii,
        particle_area=np.pi * radii**2,
        particle_centre=p["centre"],
        particle_intensity=p["area"],
        particle_segregated=p["segregated"],
        iodide_rich_x=p["x_rich"],
    )


def _check_map_args(
    shape,
    n_channels,
    pixel_size,
    radius_range,
    widths,
    peak_counts,
    dark_counts,
    haadf_oversampling,
    system,
    segregation,
    halide_x,
):
    """The argument checks of :func:`simulate_cl_map`."""
    if len(shape) != 2 or min(shape) < 2:
        raise ValueError(f"shape must be (ny, nx) with both >= 2, got {shape}.")
    if n_channels < 8:
        raise ValueError(f"n_channels must be >= 8, got {n_channels}.")
    if pixel_size <= 0:
        raise ValueError(f"pixel_size must be positive (nm), got {pixel_size}.")
    if not 0 < radius_range[0] <= radius_range[1]:
        raise ValueError(f"radius_range must be 0 < rmin <= rmax, got {radius_range}.")
    if min(widths) <= 0:
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


def _particle_properties(
    rng,
    radii,
    centre,
    centre_spread,
    halide_x,
    system,
    mean_area,
    intensity_spread,
    intensity_size_exponent,
    segregation,
    segregated_fraction,
    iodide_rich_x,
):
    """Per-particle emission centre (nm), band area, composition, segregation."""
    n_p = len(radii)
    shift = rng.uniform(-centre_spread, centre_spread, n_p)
    if halide_x is None:
        base_wl = np.full(n_p, float(centre))
        x_particle = np.full(n_p, np.nan)
    else:
        e_gap = bandgap_from_fraction(halide_x, system)
        base_wl = np.full(n_p, float(energy_to_wavelength(e_gap)))
        x_particle = np.full(n_p, float(halide_x))
    area = (
        mean_area
        * rng.lognormal(0.0, intensity_spread, n_p)
        * (radii / np.mean(radii)) ** float(intensity_size_exponent)
    )
    out = {
        "shift": shift,
        "centre": base_wl + shift,
        "area": area,
        "x": x_particle,
        "segregated": np.zeros(n_p, bool),
        "x_rich": None,
        "rich_wl": None,
    }
    if segregation:
        n_seg = int(round(segregated_fraction * n_p))
        out["segregated"][rng.permutation(n_p)[:n_seg]] = True
        x_rich = min(1.0, halide_x + 0.2) if iodide_rich_x is None else iodide_rich_x
        if not halide_x < x_rich <= 1.0:
            raise ValueError(
                f"iodide_rich_x must lie in (halide_x, 1], got {x_rich} for "
                f"halide_x={halide_x}."
            )
        out["x_rich"] = x_rich
        out["rich_wl"] = float(
            energy_to_wavelength(bandgap_from_fraction(x_rich, system))
        )
    return out


def _wavelength_grid(wavelength_range, n_channels, px, centre, tail, second):
    """The wavelength channels (nm): every simulated peak +/- 6 sigma by default."""
    c, s = px["centre"], px["sigma"]
    peaks = (
        [c - 6 * s, c + 6 * s] if c.size else [np.array([centre - 100, centre + 100])]
    )
    if px["c_rich"] is not None:
        peaks.append(px["c_rich"] + 6 * s)
    if second is not None:
        shift, _, factor = second
        peaks.append(
            energy_to_wavelength(wavelength_to_energy(c) - shift) + 6 * s * factor
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
    return np.linspace(wl0, wl1, int(n_channels))


def _cl_spectra(wl, px, inside, second, tail):
    """Expected counts of the particle pixels (without the dark level) and the
    truth of the second peak and tail."""
    c, s, a, w_rich = px["centre"], px["sigma"], px["area"], px["w_rich"]

    def gauss(area, cen, sig):
        return (area / (sig * _SQRT2PI))[:, None] * np.exp(
            -0.5 * ((wl[None, :] - cen[:, None]) / sig[:, None]) ** 2
        )

    spec = gauss(a * (1.0 - w_rich), c, s)
    if px["c_rich"] is not None:
        spec += gauss(a * w_rich, px["c_rich"], s)
    truth = {}
    if second is not None:
        shift, fraction, factor = second
        c2 = energy_to_wavelength(wavelength_to_energy(c) - shift)
        s2 = s * factor
        a2 = a * fraction
        spec += gauss(a2, c2, s2)
        truth["second_centre"] = _to_map(c2, inside)
        truth["second_sigma"] = _to_map(s2, inside)
        truth["second_area"] = _to_map(a2, inside)
    if tail is not None:
        urbach_energy, tail_fraction = tail
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
    return spec, truth


def _image_axes(n, scale):
    return [
        {
            "name": name,
            "size": size,
            "scale": scale,
            "offset": 0.5 * scale,
            "units": "nm",
        }
        for name, size in zip(("y", "x"), n, strict=True)
    ]


def _map_signals(counts, haadf_data, pixel_size, wl):
    """The HAADF ``Signal2D`` and the CL spectrum image, axes in nm."""
    import hyperspy.api as hs

    from hyperspy_perovskite.signals.cl import CLSTEMPerovskiteSpectrum

    wl_axis = {
        "name": "Wavelength",
        "size": wl.size,
        "scale": float(wl[1] - wl[0]),
        "offset": float(wl[0]),
        "units": "nm",
    }
    cl = CLSTEMPerovskiteSpectrum(
        counts, axes=[*_image_axes(counts.shape[:2], pixel_size), wl_axis]
    )
    cl.metadata.General.title = "Simulated STEM-CL map"
    cl.metadata.Signal.quantity = "Intensity (counts)"
    cl.metadata.Signal.signal_type = "CL_STEM_perovskite"
    cl.metadata.set_item(
        "Signal.Noise_properties.Variance_linear_model.gain_factor", 1.0
    )
    cl.metadata.set_item(
        "Signal.Noise_properties.Variance_linear_model.gain_offset", 0.0
    )
    k = haadf_data.shape[0] // counts.shape[0]
    haadf = hs.signals.Signal2D(
        haadf_data, axes=_image_axes(haadf_data.shape, pixel_size / k)
    )
    haadf.metadata.General.title = "Simulated HAADF"
    haadf.metadata.Signal.quantity = "Intensity (counts)"
    return haadf, cl


def _to_map(values, inside, fill=np.nan):
    out = np.full(
        inside.shape,
        fill,
        dtype=np.asarray(values).dtype if fill is not np.nan else float,
    )
    out[inside] = values
    return out
