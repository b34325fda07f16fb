"""Diffraction calibration: from the camera geometry or a known reflection."""

import numpy as np

from hyperspy_perovskite.analysis.diffraction.peaks import (
    find_reference_spots,
    fit_spots,
)
from hyperspy_perovskite.crystallography import reciprocal_pixel_size

__all__ = ["scale_from_camera", "scale_from_reflection", "measure_reflection_radius"]


def scale_from_camera(detector_pixel_size, camera_length, beam_energy):
    """1/A per pixel from the detector pixel (um), camera length (mm) and kV.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.diffraction.calibration import scale_from_camera
    >>> round(scale_from_camera(55.0, 146.26, 300.0), 5)
    0.0191
    """
    return reciprocal_pixel_size(detector_pixel_size, camera_length, beam_energy)


def measure_reflection_radius(
    mean_pattern, beam, n_patterns, radius=None, half_window=4, tolerance=2.0
):
    """Distance (px) of a reflection family from the beam, from fitted spots.

    The spots of ``mean_pattern`` are found and fitted; those within
    ``tolerance`` pixels of ``radius`` (default: the radius of the strongest
    spot) are averaged.

    Returns
    -------
    radius, radius_std : float
        Mean distance and its standard error (px).
    n : int
        Spots averaged.
    """
    off, _ = find_reference_spots(mean_pattern, beam, n_patterns, half_window)
    if len(off) == 0:
        raise ValueError("No diffraction spot found to calibrate on.")
    r0 = np.hypot(off[:, 0], off[:, 1])
    target = r0[0] if radius is None else float(radius)
    pick = np.abs(r0 - target) <= tolerance
    if not pick.any():
        raise ValueError(
            f"No spot within {tolerance} px of radius {target:.1f} px; spots are at "
            f"{np.round(np.unique(np.round(r0, 1)), 1).tolist()} px."
        )
    scaled = np.asarray(mean_pattern, float) * n_patterns
    fit = fit_spots(scaled[None], beam, off[pick], half_window)[0]
    ok = fit[1:, 8] > 0
    if not ok.any():
        raise ValueError("The calibration spots could not be fitted.")
    d = fit[1:, :2][ok] - fit[0, :2]
    r = np.hypot(d[:, 0], d[:, 1])
    err = r.std(ddof=1) / np.sqrt(len(r)) if len(r) > 1 else float(fit[1, 2])
    return float(r.mean()), float(err), int(len(r))


def scale_from_reflection(radius_px, d_spacing):
    """1/A per pixel when a reflection of spacing ``d_spacing`` (A) lies at ``radius_px``.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.diffraction.calibration import scale_from_reflection
    >>> scale_from_reflection(20.0, 2.5)
    0.02
    """
    if not (radius_px > 0 and d_spacing > 0):
        raise ValueError(
            f"radius (px) and d_spacing (A) must be positive, got {radius_px}, {d_spacing}."
        )
    return float(1.0 / d_spacing / radius_px)
