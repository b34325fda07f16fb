"""Simulated time-resolved EDX: drifting frames of a film losing halide.

Ground truth for :meth:`~hyperspy_perovskite.signals.eds_biased.EDSTEMBiasedSpectrum.align_frames`
and :meth:`~hyperspy_perovskite.signals.eds_biased.EDSTEMBiasedSpectrum.get_composition_vs_frame`,
written independently of them: a CsPbI3 film of grains with voids (the
texture drift is measured on), scanned frame after frame while the specimen
drifts by a random walk of whole pixels; from a chosen frame on, the beam
removes iodine (halide loss under the beam, reviewed in L. Hao, S. Cai,
Microstructures 5, 2025012 (2025), doi:10.20517/microstructures.2024.10).
Spectra are exSpy line shapes (:func:`~hyperspy_perovskite.data.device_simulation.element_templates`)
on a Kramers bremsstrahlung, with Poisson counts.
"""

from __future__ import annotations

import numpy as np
from exspy.material import elements as elements_db
from scipy import ndimage

from hyperspy_perovskite.data.device_simulation import element_templates

__all__ = ["simulate_eds_frames"]


def simulate_eds_frames(
    n_frames=8,
    shape=(48, 48),
    pixel_size=5.0,
    n_channels=1024,
    energy_scale=0.02,
    counts_per_pixel=40.0,
    drift_step=2,
    onset=None,
    loss_per_frame=0.08,
    frame_time=26.2,
    seed=0,
):
    """A series of EDX frames of a drifting CsPbI3 film.

    Parameters
    ----------
    n_frames : int
    shape : (int, int)
        ``(ny, nx)`` pixels of each frame.
    pixel_size : float
        nm.
    n_channels, energy_scale : int, float
        Energy axis (keV per channel).
    counts_per_pixel : float
        Mean line counts per pixel and frame where the film is full.
    drift_step : int
        Largest drift per frame and axis (pixels, random walk).
    onset : int, optional
        First frame with iodine loss (None: no damage).
    loss_per_frame : float
        Fraction of the iodine removed per frame from ``onset`` on.
    frame_time : float
        Seconds per frame.
    seed : int

    Returns
    -------
    signal : EDSTEMBiasedSpectrum
        Navigation ``(x, y, frame)`` with ``metadata.Device.Series.times``.
    truth : dict
        ``shifts_px`` (``(n, 2)`` ``(dy, dx)``: ``aligned[y, x] =
        frame[y - dy, x - dx]``), ``onset``, ``iodine_fraction`` per frame
        (relative to the start), ``k_factors`` of the default lines, ``X_Pb``
        (true I/Pb per frame).

    Examples
    --------
    >>> from hyperspy_perovskite.data.frame_simulation import simulate_eds_frames
    >>> s, truth = simulate_eds_frames(n_frames=3, seed=1)
    >>> s.axes_manager.navigation_shape, truth["shifts_px"].shape
    ((48, 48, 3), (3, 2))
    """
    from hyperspy_perovskite.signals.eds_biased import EDSTEMBiasedSpectrum

    rng = np.random.default_rng(seed)
    ny, nx = shape
    steps = rng.integers(-drift_step, drift_step + 1, size=(n_frames, 2))
    steps[0] = 0
    shifts = np.cumsum(steps, axis=0)
    pad = int(np.abs(shifts).max()) + 1
    big = (ny + 2 * pad, nx + 2 * pad)
    # grains: a smooth random thickness field with voids (texture to align on)
    field = ndimage.gaussian_filter(rng.standard_normal(big), 3.0)
    film = np.clip(0.6 + 2.5 * field / field.std() * 0.25, 0.05, 1.2)
    frac_i = np.ones(n_frames)
    if onset is not None:
        k = np.arange(n_frames) - onset + 1
        frac_i = np.where(k > 0, (1 - loss_per_frame) ** np.clip(k, 0, None), 1.0)
    elements = ["Cs", "Pb", "I"]
    energy = (np.arange(n_channels) + 0.5) * energy_scale
    templ = element_templates(elements, energy, 130.0, 200.0)
    kramers = (200.0 - energy) / energy * (1.0 - np.exp(-((energy / 0.3) ** 2)))
    kramers /= kramers.sum()
    data = np.empty((n_frames, ny, nx, n_channels), dtype=np.float32)
    for f, (dy, dx) in enumerate(shifts):
        # frame f sees the specimen moved: frame[y, x] = specimen[y + dy, x + dx]
        view = film[pad + dy : pad + dy + ny, pad + dx : pad + dx + nx]
        atoms = np.array([1.0, 1.0, 3.0 * frac_i[f]])
        spec = atoms @ templ
        scale = counts_per_pixel / spec.sum()
        expected = view[..., None] * scale * (spec + 0.3 * spec.sum() * kramers)
        data[f] = rng.poisson(expected)
    axes = [
        {
            "name": "Frame",
            "units": "s",
            "scale": frame_time,
            "offset": 0.0,
            "size": n_frames,
        },
        {"name": "y", "units": "nm", "scale": pixel_size, "offset": 0.0, "size": ny},
        {"name": "x", "units": "nm", "scale": pixel_size, "offset": 0.0, "size": nx},
        {
            "name": "Energy",
            "units": "keV",
            "scale": energy_scale,
            "offset": energy_scale / 2,
            "size": n_channels,
            "navigate": False,
        },
    ]
    for a in axes[:3]:
        a["navigate"] = True
    s = EDSTEMBiasedSpectrum(data, axes=axes)
    s.metadata.General.title = "Simulated CsPbI3 frames"
    s.set_microscope_parameters(beam_energy=200.0, energy_resolution_MnKa=130.0)
    s.add_elements(elements)
    lines = ["Cs_La", "Pb_La", "I_La"]
    s.metadata.set_item("Sample.xray_lines", lines)
    s.metadata.set_item(
        "Device.Series.times", (np.arange(n_frames) * frame_time).tolist()
    )
    s.metadata.set_item("Device.Series.times_units", "s")
    k = {}
    for line in lines:  # exSpy's weight-fraction k-factors of the default windows
        el = line.split("_")[0]
        e0, fwhm = s._get_line_energy(line, FWHM_MnKa="auto")
        win = (energy >= e0 - fwhm) & (energy < e0 + fwhm)
        k[line] = elements_db[el].General_properties.atomic_weight / float(
            templ[elements.index(el), win].sum()
        )
    return s, {
        "shifts_px": shifts,
        "onset": onset,
        "iodine_fraction": frac_i,
        "k_factors": k,
        "X_Pb": 3.0 * frac_i,
    }
