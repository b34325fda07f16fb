"""Diffraction calibration of :class:`~hyperspy_perovskite.signals.operando_4dstem.Operando4DSTEM`.

Reads the arguments of :meth:`Operando4DSTEM.calibrate` through the units
layer (:func:`~hyperspy_perovskite.units.parse_quantity`,
:func:`~hyperspy_perovskite.units_arguments.parse_pixels`,
:func:`~hyperspy_perovskite.units_arguments.parse_position`) and returns the scale in
1/A per pixel and the direct-beam pixel; the array work is in
:mod:`hyperspy_perovskite.analysis.diffraction.calibration`.
"""

from __future__ import annotations

import numpy as np

from hyperspy_perovskite.analysis.diffraction import calibration as cal
from hyperspy_perovskite.units import (
    UnitError,
    parse_pixels,
    parse_position,
    parse_quantity,
)

__all__ = ["calibration"]


def _beam_energy(signal, beam_energy):
    if beam_energy is None:
        beam_energy = signal.metadata.get_item("Acquisition_instrument.TEM.beam_energy")
        if beam_energy is None:
            raise ValueError(
                "No beam energy: give beam_energy= (kV) or set "
                "metadata.Acquisition_instrument.TEM.beam_energy."
            )
    try:
        return parse_quantity(beam_energy, "kV", name="beam_energy")
    except UnitError as voltage_error:
        # an electron's kinetic energy in keV is its accelerating voltage in kV
        try:
            return parse_quantity(beam_energy, "keV", name="beam_energy")
        except UnitError:
            raise voltage_error from None


def _center(signal, center):
    kx, ky = signal.axes_manager.signal_axes
    if center is None:
        return ((kx.size - 1) / 2, (ky.size - 1) / 2)
    if not isinstance(center, list | tuple | np.ndarray) or len(center) != 2:
        raise ValueError(f"center must be (x, y), got {center!r}.")
    return tuple(
        parse_position(c, ax, name=f"center[{i}]")
        for i, (c, ax) in enumerate(zip(center, (kx, ky), strict=True))
    )


def calibration(
    signal,
    scale=None,
    d_spacing=None,
    radius=None,
    detector_pixel_size=None,
    camera_length=None,
    beam_energy=None,
    center=None,
):
    """``(scale, center)``: 1/A per pixel and the direct beam (x, y) in pixels.

    See :meth:`Operando4DSTEM.calibrate` for the arguments; the centre is
    read on the axes as they are (pixels, or calibrated coordinates).
    """
    center = _center(signal, center)
    if scale is not None:
        scale = parse_quantity(scale, "1/angstrom", name="scale")
    elif d_spacing is not None:
        d = parse_quantity(d_spacing, "angstrom", name="d_spacing")
        if radius is not None:
            radius = parse_pixels(
                radius, signal.axes_manager.signal_axes, name="radius"
            )
        first = signal.data[0].reshape((-1,) + signal.data.shape[-2:])
        mean = np.asarray(first.mean(axis=0))
        r, _, _ = cal.measure_reflection_radius(mean, center, first.shape[0], radius)
        scale = cal.scale_from_reflection(r, d)
    elif detector_pixel_size is not None and camera_length is not None:
        p = parse_quantity(detector_pixel_size, "um", name="detector_pixel_size")
        L = parse_quantity(camera_length, "mm", name="camera_length")
        scale = cal.scale_from_camera(p, L, _beam_energy(signal, beam_energy))
    else:
        raise ValueError(
            "Give scale= (1/A per pixel), d_spacing= (A) of a known reflection, "
            "or detector_pixel_size= (um) and camera_length= (mm)."
        )
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be positive (1/A per pixel), got {scale}.")
    return float(scale), center
