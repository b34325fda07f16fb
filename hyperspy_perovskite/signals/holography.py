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
from hyperspy_perovskite.metadata import DeviceGeometry
from hyperspy_perovskite.units import axis_factor, parse_quantity

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
    fx = axis_factor(ax_x, "nm", name="an image axis (x)")
    fy = axis_factor(ax_y, "nm", name="an image axis (y)")
    y, x = np.meshgrid(ax_y.axis * fy, ax_x.axis * fx, indexing="ij")
    return x, y


def _geometry(phase, geometry, start, end, width):
    """The stack geometry (:class:`DeviceGeometry`) with any overrides."""
    if geometry is None:
        geom = DeviceGeometry.from_metadata(phase.metadata, required=False)
    elif hasattr(geometry, "metadata"):
        geom = DeviceGeometry.from_metadata(geometry.metadata, required=False)
        if geom is None:
            raise ValueError(
                "The signal given as geometry has no metadata.Device.Geometry: "
                "set it first (set_device_geometry / find_device_geometry)."
            )
    elif isinstance(geometry, DeviceGeometry):
        geom = geometry
    else:
        raise TypeError(
            "geometry must be a signal carrying metadata.Device.Geometry or a "
            f"DeviceGeometry, got {type(geometry).__name__}."
        )
    if geom is None and (start is None or end is None):
        raise ValueError(
            "No stack geometry: pass start=(x, y) and end=(x, y) in nm, or "
            "geometry=<signal with metadata.Device.Geometry>."
        )
    if geom is None:
        geom = DeviceGeometry(start, end)
    start = geom.start if start is None else [_nm(v, "start") for v in start]
    end = geom.end if end is None else [_nm(v, "end") for v in end]
    keep = (start, end) == (geom.start, geom.end)
    return DeviceGeometry(
        start,
        end,
        geom.interface_positions if keep else [],
        geom.interface_names if keep else None,
        geom.layers if keep else [],
        geom.width if width is None else _nm(width, "width"),
        geom.method,
        geom.confidence,
    )


def _nm(value, name):
    return parse_quantity(value, "nm", name=name)


def _reference(geom, reference):
    if reference is None:
        names = geom.interface_names
        return (names[0], geom.interface_positions[0]) if names else ("start", 0.0)
    if reference == "start":
        return "start", 0.0
    if reference not in geom.interface_names:
        raise ValueError(
            f"Unknown interface {reference!r}; the geometry has "
            f"{geom.interface_names or 'no interfaces'} (or use 'start')."
        )
    return reference, geom.interface(reference)


def _correlated_covariance(data, x, y, geom, bin_size, pos, mean, max_lag):
    """Bin covariance ``(n, n)`` of the phase profile under correlated noise."""
    from hyperspy_perovskite.analysis.device_geometry import band_bin_index

    if bin_size is None:
        bin_size = float(
            min(np.abs(np.diff(x[0, :2]))[0], np.abs(np.diff(y[:2, 0]))[0])
        )
    else:
        bin_size = _nm(bin_size, "bin_size")
    index, _, _ = band_bin_index(x, y, geom.start, geom.end, geom.width, bin_size)
    img = np.asarray(data.compute() if hasattr(data, "compute") else data, float)
    img = img.reshape((-1,) + index.shape)
    m = np.asarray(mean, float).reshape((-1, pos.size))
    resid = np.where(index >= 0, img - m[:, np.maximum(index, 0)], 0.0)
    autocov = holo.noise_autocovariance(resid, index, max_lag)
    return holo.bin_covariance(index, pos.size, autocov)


def _beam_energy(phase, beam_energy):
    if beam_energy is None:
        beam_energy = phase.metadata.get_item("Acquisition_instrument.TEM.beam_energy")
    if beam_energy is None:
        raise ValueError(
            "No beam energy: pass beam_energy=<kV> or set "
            "metadata.Acquisition_instrument.TEM.beam_energy."
        )
    kv = parse_quantity(beam_energy, "kV", name="beam_energy")
    if not 1.0 <= kv <= 3000.0:
        raise ValueError(
            f"beam_energy = {kv:g} kV is not an electron microscope's: give it in "
            "kV (e.g. 300) or as a string with a unit ('300 kV')."
        )
    return kv


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
    noise="correlated",
    max_lag=8,
):
    """Potential, field and charge density across the stack from a phase image.

    Parameters
    ----------
    phase : Signal2D or ComplexSignal2D
        Unwrapped phase (rad), or the reconstructed complex wave (holoSpy
        ``reconstruct_phase``), whose phase is unwrapped here. Navigation
        axes (bias steps, times) are kept. Lazy signals are projected chunk
        by chunk; the returned profiles are in memory.
    thickness : float or str
        Specimen thickness along the beam (number in nm, or ``"120 nm"``).
    beam_energy : float, str or None
        kV (or ``"300 kV"``); default ``metadata.Acquisition_instrument.TEM.beam_energy``.
    eps_r : float
        Relative permittivity used for the charge density.
    geometry : signal, dict or None
        Source of ``Device.Geometry`` (e.g. the EDX map of the same area);
        default: the phase's own metadata.
    start, end, width : optional
        Override the stack line and band width (numbers in nm in the
        calibrated image frame, or strings with a unit).
    bin_size : float, str or None
        Along the stack (number in nm; default: pixel size).
    reference : str or None
        Interface the positions are measured from (default: the first
        interface, else the line start).
    zero_bias_phase : Signal2D or ComplexSignal2D or None
        Phase of the same area without bias; subtracted to remove the mean
        inner potential of the layers, leaving the bias-induced potential.
    window, polyorder : int
        Savitzky-Golay derivative window (bins) and order.
    noise : {"correlated", "independent"}
        "correlated" (default): the phase noise of a reconstructed hologram
        is correlated over a few pixels (the sideband aperture); its
        autocovariance is estimated from the residuals inside the band
        (pooled over the navigation; the part the bin means take out is
        restored by simulation, so pulls have std ~1) and propagated to the
        covariance of
        the bins and on to the potential, field and charge density
        (:func:`~hyperspy_perovskite.analysis.holography.noise_autocovariance`,
        :func:`~hyperspy_perovskite.analysis.holography.bin_covariance`).
        "independent": the scatter of the pixels in a bin over their number
        (too small an error under correlated noise).
    max_lag : int
        Largest correlation lag estimated (pixels).

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
    thickness = _nm(thickness, "thickness")
    geom = _geometry(phase, geometry, start, end, width)
    ref_name, ref_pos = _reference(geom, reference)
    x, y = _pixel_grid_nm(ph)
    data = ph.data
    if ref_data is not None:
        data = data - ref_data
    pos, mean, var = holo.phase_to_stack_profile(
        data,
        x,
        y,
        geom.start,
        geom.end,
        geom.width,
        None if bin_size is None else _nm(bin_size, "bin_size"),
    )
    if hasattr(mean, "compute"):
        import dask

        mean, var = dask.compute(mean, var)
    cov = None
    if noise == "correlated":
        cov = _correlated_covariance(data, x, y, geom, bin_size, pos, mean, max_lag)
        var = np.broadcast_to(np.diagonal(cov), mean.shape).copy()
    elif noise != "independent":
        raise ValueError(f"noise must be 'correlated' or 'independent', got {noise!r}.")
    res = holo.electrostatic_profiles(
        pos,
        mean,
        var,
        E0,
        thickness,
        eps_r=eps_r,
        window=window,
        polyorder=polyorder,
        phase_covariance=cov,
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
        geom.to_metadata(s.metadata)
        s.metadata.set_item("Device.Profile.reference", ref_name)
        out[name] = s
    return out
