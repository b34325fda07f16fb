"""Biased electron holography of a device cross-section (holoSpy phase images).

Thin signal-facing layer over :mod:`hyperspy_perovskite.analysis.holography`:
it reads the beam energy and the device geometry from the metadata, projects
the unwrapped phase along the interfaces and returns potential, field and
charge-density profiles across the stack as HyperSpy signals, in nm from a
named interface, on the same geometry as the EDX maps
(``metadata.Device.Geometry``, documented in
:mod:`hyperspy_perovskite.signals.eds_biased`).

Typical use with holoSpy::

    wave = hologram.reconstruct_phase(reference_hologram, sb_size=..., ...)
    out = holography_stack_profiles(wave, thickness=120.0, eps_r=30.0,
                                    geometry=eds_map)
"""

from __future__ import annotations

import numpy as np
from hyperspy.signals import ComplexSignal2D, Signal1D, Signal2D

from hyperspy_perovskite.analysis import holography as holo
from hyperspy_perovskite.analysis.device_geometry import to_nm

__all__ = ["holography_stack_profiles"]

_UNITS = {
    "phase": "rad",
    "potential": "V",
    "field": "V/m",
    "charge_density": "C/m^3",
}


def _unwrapped_phase(signal):
    if isinstance(signal, ComplexSignal2D):
        return signal.unwrapped_phase(show_progressbar=False)
    if isinstance(signal, Signal2D):
        if np.iscomplexobj(signal.data):
            raise TypeError(
                "Complex data in a real Signal2D: convert it with "
                "s.set_signal_type('') / hs.signals.ComplexSignal2D first."
            )
        return signal
    raise TypeError(
        "phase must be a HyperSpy Signal2D with the unwrapped phase (rad) or the "
        "ComplexSignal2D wave from holoSpy's HologramImage.reconstruct_phase, got "
        f"{type(signal).__name__}."
    )


def _pixel_grid_nm(signal):
    ax_x, ax_y = signal.axes_manager.signal_axes
    fx, fy = to_nm(ax_x.units), to_nm(ax_y.units)
    if fx != fy:
        raise ValueError("The two image axes must have the same length unit.")
    y, x = np.meshgrid(ax_y.axis * fy, ax_x.axis * fx, indexing="ij")
    return x, y


def _geometry(phase, geometry, start, end, width):
    geom = {}
    src = geometry
    if src is None:
        src = phase.metadata.get_item("Device.Geometry")
        src = src.as_dictionary() if src is not None else None
    elif hasattr(src, "metadata"):
        node = src.metadata.get_item("Device.Geometry")
        if node is None:
            raise ValueError(
                "The signal given as geometry has no metadata.Device.Geometry: "
                "set it first (set_device_geometry / find_device_geometry)."
            )
        src = node.as_dictionary()
    if src is not None:
        geom.update(dict(src))
    if start is not None:
        geom["start"] = [float(v) for v in start]
    if end is not None:
        geom["end"] = [float(v) for v in end]
    if width is not None:
        geom["width"] = float(width)
    if "start" not in geom or "end" not in geom:
        raise ValueError(
            "No stack geometry: pass start=(x, y) and end=(x, y) in nm, or "
            "geometry=<signal or dict with metadata.Device.Geometry>."
        )
    geom.setdefault("width", None)
    geom.setdefault("interface_names", [])
    geom.setdefault("interface_positions", [])
    return geom


def _reference(geom, reference):
    names = list(geom["interface_names"])
    pos = list(geom["interface_positions"])
    if reference is None:
        return (names[0], pos[0]) if names else ("start", 0.0)
    if reference == "start":
        return "start", 0.0
    if reference not in names:
        raise ValueError(
            f"Unknown interface {reference!r}; the geometry has "
            f"{names or 'no interfaces'} (or use 'start')."
        )
    return reference, pos[names.index(reference)]


def _beam_energy(phase, beam_energy):
    if beam_energy is None:
        beam_energy = phase.metadata.get_item("Acquisition_instrument.TEM.beam_energy")
    if beam_energy is None:
        raise ValueError(
            "No beam energy: pass beam_energy=<kV> or set "
            "metadata.Acquisition_instrument.TEM.beam_energy."
        )
    return float(beam_energy)


def holography_stack_profiles(
    phase,
    thickness,
    *,
    beam_energy=None,
    eps_r=1.0,
    geometry=None,
    start=None,
    end=None,
    width=None,
    bin_size=None,
    reference=None,
    zero_bias_phase=None,
    window=7,
    polyorder=3,
):
    """Potential, field and charge density across the stack from a phase image.

    Parameters
    ----------
    phase : Signal2D or ComplexSignal2D
        Unwrapped phase (rad), or the reconstructed complex wave (holoSpy
        ``reconstruct_phase``), whose phase is unwrapped here. Navigation
        axes (bias steps, times) are kept. Lazy signals are projected chunk
        by chunk; the returned profiles are in memory.
    thickness : float
        Specimen thickness along the beam (nm).
    beam_energy : float or None
        kV; default ``metadata.Acquisition_instrument.TEM.beam_energy``.
    eps_r : float
        Relative permittivity used for the charge density.
    geometry : signal, dict or None
        Source of ``Device.Geometry`` (e.g. the EDX map of the same area);
        default: the phase's own metadata.
    start, end, width : optional
        Override the stack line (nm, calibrated image frame) and band width.
    bin_size : float or None
        nm along the stack (default: pixel size).
    reference : str or None
        Interface the positions are measured from (default: the first
        interface, else the line start).
    zero_bias_phase : Signal2D or ComplexSignal2D or None
        Phase of the same area without bias; subtracted to remove the mean
        inner potential of the layers, leaving the bias-induced potential.
    window, polyorder : int
        Savitzky-Golay derivative window (bins) and order.

    Returns
    -------
    dict of str -> Signal1D
        ``phase``, ``potential``, ``field``, ``charge_density``; each carries
        its variance in ``metadata.Signal.Noise_properties.variance`` and the
        interaction constant, thickness and permittivity under
        ``metadata.Holography``.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.holography import interaction_constant
    >>> from hyperspy_perovskite.signals.holography import holography_stack_profiles
    >>> x = np.arange(64) + 0.5
    >>> V = np.tile(0.01 * x, (16, 1))  # 10 mV/nm ramp along x
    >>> ph = hs.signals.Signal2D(interaction_constant(300.0) * 100e-9 * V)
    >>> for ax in ph.axes_manager.signal_axes:
    ...     ax.units = "nm"
    >>> out = holography_stack_profiles(ph, 100.0, beam_energy=300.0,
    ...                                 start=(0, 8), end=(64, 8))
    >>> round(float(out["field"].data[30]) / -1e7, 6)
    1.0
    """
    ph = _unwrapped_phase(phase)
    if zero_bias_phase is not None:
        ref = _unwrapped_phase(zero_bias_phase)
        if ref.axes_manager.signal_shape != ph.axes_manager.signal_shape:
            raise ValueError(
                "zero_bias_phase must have the same image shape as the phase "
                f"({ph.axes_manager.signal_shape}), got "
                f"{ref.axes_manager.signal_shape}."
            )
        if ref.axes_manager.navigation_dimension:
            raise ValueError("zero_bias_phase must be a single image.")
        ref_data = ref.data
    else:
        ref_data = None
    E0 = _beam_energy(phase, beam_energy)
    geom = _geometry(phase, geometry, start, end, width)
    ref_name, ref_pos = _reference(geom, reference)
    x, y = _pixel_grid_nm(ph)
    data = ph.data
    if ref_data is not None:
        data = data - ref_data
    pos, mean, var = holo.phase_to_stack_profile(
        data, x, y, geom["start"], geom["end"], geom["width"], bin_size
    )
    if hasattr(mean, "compute"):
        import dask

        mean, var = dask.compute(mean, var)
    res = holo.electrostatic_profiles(
        pos, mean, var, E0, thickness, eps_r=eps_r, window=window, polyorder=polyorder
    )
    res["phase"], res["phase_variance"] = mean, var
    out = {}
    for name in ("phase", "potential", "field", "charge_density"):
        s = Signal1D(np.asarray(res[name]))
        s.metadata.set_item(
            "Signal.Noise_properties.variance",
            Signal1D(np.asarray(res[name + "_variance"])),
        )
        nav_src = ph.axes_manager.navigation_axes
        for dst, src in zip(s.axes_manager.navigation_axes, nav_src, strict=True):
            dst.name, dst.scale, dst.offset, dst.units = (
                src.name,
                src.scale,
                src.offset,
                src.units,
            )
        ax = s.axes_manager.signal_axes[0]
        ax.name = f"position from {ref_name}"
        ax.units = "nm"
        ax.scale = float(pos[1] - pos[0])
        ax.offset = float(pos[0] - ref_pos)
        s.metadata.General.title = f"{name.replace('_', ' ')} ({_UNITS[name]})"
        s.metadata.set_item("Signal.quantity", f"{name} ({_UNITS[name]})")
        s.metadata.set_item(
            "Holography",
            {
                "interaction_constant": float(res["interaction_constant"]),
                "interaction_constant_units": "rad/(V m)",
                "beam_energy": E0,
                "beam_energy_units": "kV",
                "thickness": float(thickness),
                "thickness_units": "nm",
                "eps_r": float(eps_r),
                "zero_bias_subtracted": ref_data is not None,
                "savgol_window": int(window),
                "savgol_polyorder": int(polyorder),
            },
        )
        s.metadata.set_item(
            "Device.Geometry",
            {
                "start": [float(v) for v in geom["start"]],
                "end": [float(v) for v in geom["end"]],
                "position_units": "nm",
                "width": None if geom["width"] is None else float(geom["width"]),
                "interface_names": list(geom["interface_names"]),
                "interface_positions": [float(v) for v in geom["interface_positions"]],
                "reference": ref_name,
            },
        )
        out[name] = s
    return out
