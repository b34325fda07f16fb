"""Relativistic electron wavelength and scattering geometry.

Constants are CODATA 2018 (NIST SP 961, 2019; h and e exact since the 2019
SI redefinition), the values ``scipy.constants`` also carries.
"""

import numpy as np

__all__ = ["electron_wavelength", "reciprocal_pixel_size", "scattering_angle"]

# CODATA 2018 (NIST, https://physics.nist.gov/cuu/Constants/).
PLANCK_H = 6.62607015e-34  # J s (exact)
ELEMENTARY_CHARGE = 1.602176634e-19  # C (exact)
ELECTRON_MASS = 9.1093837015e-31  # kg
SPEED_OF_LIGHT = 299792458.0  # m/s (exact)


def electron_wavelength(beam_energy):
    """Relativistic wavelength of an electron accelerated through ``beam_energy``.

    ``lambda = h / sqrt(2 m0 e V (1 + e V / (2 m0 c^2)))`` (Williams & Carter,
    *Transmission Electron Microscopy*, 2nd ed., Eq. 1.6), with CODATA 2018
    constants.

    Parameters
    ----------
    beam_energy : float or array-like
        Accelerating voltage in kV (the ``beam_energy`` of HyperSpy's
        ``Acquisition_instrument.TEM`` metadata, in keV). Must be > 0.

    Returns
    -------
    float or numpy.ndarray
        Wavelength in angstrom.

    Raises
    ------
    ValueError
        If an energy is not positive and finite.

    Examples
    --------
    >>> from hyperspy_perovskite.crystallography import electron_wavelength
    >>> round(electron_wavelength(200.0), 5)
    0.02508
    >>> round(electron_wavelength(300.0), 5)
    0.01969
    """
    e = np.asarray(beam_energy, dtype=float)
    if not np.all(np.isfinite(e)) or np.any(e <= 0):
        raise ValueError(
            f"beam_energy must be positive and finite (in kV), got {beam_energy!r}."
        )
    eV = ELEMENTARY_CHARGE * e * 1e3  # J
    m0 = ELECTRON_MASS
    lam = PLANCK_H / np.sqrt(
        2.0 * m0 * eV * (1.0 + eV / (2.0 * m0 * SPEED_OF_LIGHT**2))
    )
    lam = lam * 1e10
    return float(lam) if lam.ndim == 0 else lam


def scattering_angle(d_spacing, beam_energy):
    """Full scattering angle 2-theta (rad) of a reflection in a TEM (Bragg's law).

    Parameters
    ----------
    d_spacing : float or array-like
        Interplanar spacing in angstrom (> 0).
    beam_energy : float
        Accelerating voltage in kV.

    Returns
    -------
    float or numpy.ndarray
        ``2 arcsin(lambda / (2 d))`` in radians.

    Examples
    --------
    >>> from hyperspy_perovskite.crystallography import scattering_angle
    >>> round(1e3 * scattering_angle(6.36, 300.0), 3)  # mrad
    3.096
    """
    d = np.asarray(d_spacing, dtype=float)
    if np.any(~np.isfinite(d)) or np.any(d <= 0):
        raise ValueError(f"d_spacing must be positive (angstrom), got {d_spacing!r}.")
    out = 2.0 * np.arcsin(electron_wavelength(beam_energy) / (2.0 * d))
    return float(out) if out.ndim == 0 else out


def reciprocal_pixel_size(detector_pixel_size, camera_length, beam_energy):
    """Diffraction calibration (1/A per pixel) from the camera geometry.

    Small-angle approximation: a pixel of size ``p`` at camera length ``L``
    subtends ``p / L`` rad, i.e. ``p / (L lambda)`` in reciprocal space.

    Parameters
    ----------
    detector_pixel_size : float
        Physical pixel size in micrometre (after binning).
    camera_length : float
        Camera length in mm.
    beam_energy : float
        Accelerating voltage in kV.

    Returns
    -------
    float
        1/A per pixel.

    Examples
    --------
    >>> from hyperspy_perovskite.crystallography import reciprocal_pixel_size
    >>> round(reciprocal_pixel_size(15.0, 300.0, 300.0), 5)
    0.00254
    """
    for name, v in (
        ("detector_pixel_size", detector_pixel_size),
        ("camera_length", camera_length),
    ):
        if not (np.isfinite(v) and v > 0):
            raise ValueError(f"{name} must be positive, got {v}.")
    angle = (detector_pixel_size * 1e-6) / (camera_length * 1e-3)
    return float(angle / electron_wavelength(beam_energy))
