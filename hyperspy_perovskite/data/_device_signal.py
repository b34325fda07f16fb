"""The EDX signal of :func:`~hyperspy_perovskite.data.device_simulation.simulate_device_eds`.

Axes, microscope / sample / bias / geometry metadata, the default X-ray
lines and the Cliff-Lorimer factors of the simulated map, and the HAADF
image of its composition.
"""

from __future__ import annotations

import numpy as np
from exspy.material import elements as elements_db


def _axes(times, pixel_size, ny, nx, energy_scale, n_channels):
    axes = []
    if times is not None:
        uniform = times.size >= 2 and np.allclose(np.diff(times), times[1] - times[0])
        axes.append(
            {
                "name": "Time",
                "units": "s",
                "scale": float(times[1] - times[0]),
                "offset": float(times[0]),
                "size": times.size,
            }
            if uniform
            else {"name": "Time", "units": "s", "navigate": True, "axis": times}
        )
    for name, size in (("y", ny), ("x", nx)):
        axes.append(
            {
                "name": name,
                "units": "nm",
                "scale": pixel_size,
                "offset": pixel_size / 2,
                "size": size,
                "navigate": True,
            }
        )
    axes.append(
        {
            "name": "Energy",
            "units": "keV",
            "scale": energy_scale,
            "offset": energy_scale / 2,
            "size": int(n_channels),
            "navigate": False,
        }
    )
    return axes


def _signal(counts, cfg, dev, stack, times, pixel, energy, detector, bias):
    """The EDX signal with microscope, sample, bias and geometry metadata."""
    from hyperspy_perovskite.signals.eds_biased import EDSTEMBiasedSpectrum
    from hyperspy_perovskite.stimulus.schema import set_bias_condition

    times, series = times
    ny, nx = dev["y"].size, dev["x"].size
    escale = 2 * energy[0]  # channel centres (k + 0.5) * scale
    axes = _axes(times if series else None, pixel, ny, nx, escale, energy.size)
    s = EDSTEMBiasedSpectrum(counts, axes=axes)
    s.metadata.General.title = f"Simulated {stack} cross-section"
    resolution, beam_energy = detector
    s.set_microscope_parameters(
        beam_energy=beam_energy, energy_resolution_MnKa=resolution
    )
    s.add_elements(dev["elements"])
    lines = _default_lines(dev["elements"], energy[-1] - 0.3)
    s.metadata.set_item("Sample.xray_lines", lines)
    potentiostatic = cfg["mode"] == "potentiostatic"
    set_bias_condition(
        s,
        "potentiostatic" if potentiostatic else "galvanostatic",
        **{"voltage" if potentiostatic else "current": float(bias)},
        duration=float(times.max()),
        anode=cfg["anode"],
        cathode=cfg["cathode"],
        start_time=0.0,
    )
    y_mid = dev["y"][ny // 2]
    s.set_device_geometry(
        (0.0, y_mid),
        (dev["total"], y_mid),
        interfaces=list(dev["interfaces"].values()),
        layers=dev["names"],
    )
    if series:
        s.metadata.set_item("Device.Series.times", times.tolist())
        s.metadata.set_item("Device.Series.times_units", "s")
    return s


def _k_factors(s, default_lines, elements, energy, templ):
    """Cliff-Lorimer factors (exSpy convention: weight fractions,
    C_wt,i ~ k_i I_i) of the default lines in exSpy's default windows:
    I_i ~ atoms_i * window area, so k_i ~ atomic weight / window area."""
    k = {}
    for line in default_lines:
        el = line.split("_")[0]
        e0, fwhm = s._get_line_energy(line, FWHM_MnKa="auto")
        win = (energy >= e0 - fwhm) & (energy < e0 + fwhm)
        a_w = elements_db[el].General_properties.atomic_weight
        k[line] = a_w / float(templ[elements.index(el), win].sum())
    ref = min(k.values())
    return {ln: v / ref for ln, v in k.items()}


def _haadf(comp, elements, pixel_size):
    """Z-contrast image ``sum c Z^1.7`` of one composition map."""
    from hyperspy.signals import Signal2D

    z_num = np.array([elements_db[el].General_properties.Z for el in elements], float)
    haadf = Signal2D(comp @ z_num**1.7)
    for ax, name in zip(haadf.axes_manager.signal_axes, ("x", "y"), strict=False):
        ax.name, ax.units, ax.scale, ax.offset = name, "nm", pixel_size, pixel_size / 2
    return haadf


def _default_lines(elements, e_max):
    """Default lines: free of the overlaps that matter where possible (issue 5).

    Pb_La before Pb_Ma (Pb_Ma sits under Au_Ma / S_Ka), Br_Ka before Br_La
    (Br_La = Al_Ka), I_La (I_Ka is above 20 keV); the light elements (C, N,
    O) are left out because their windows sit on the detector's low-energy
    cut-off. A line above ``e_max`` (keV) falls back to the next one.
    """
    prefer = {
        "Pb": ("Pb_La", "Pb_Ma"),
        "Br": ("Br_Ka", "Br_La"),
        "I": ("I_La",),
        "Au": ("Au_La", "Au_Ma"),
        "Sn": ("Sn_La",),
        "In": ("In_La",),
        "Cs": ("Cs_La",),
        "Cl": ("Cl_Ka",),
        "Al": ("Al_Ka",),
        "S": ("S_Ka",),
    }
    out = []
    for el in elements:
        for line in prefer.get(el, ()):
            name = line.split("_")[1]
            e = elements_db[el].Atomic_properties.Xray_lines[name]["energy (keV)"]
            if e < e_max:
                out.append(line)
                break
    return out
