"""Halide composition from emission energy, and halide segregation (arrays only).

Mixed-halide lead perovskites ``APb(Br1-xIx)3`` have a band gap that moves
from the bromide to the iodide end member with a small downward bowing:

.. math::

    E_g(x) = (1 - x) E_g^{Br} + x E_g^{I} - b x (1 - x)

with ``x`` the iodide fraction. The emission (PL/CL peak) energy is taken as
``E_g`` minus an optional Stokes shift. Literature values used
(:data:`HALIDE_SYSTEMS`):

* ``MAPb(Br1-xIx)3``: Noh et al., Nano Lett. 13, 1764-1769 (2013), who fitted
  ``E_g = 1.57 + 0.39 y + 0.33 y^2`` eV for MAPb(I1-yBry)3 with ``y`` the
  bromide fraction. With ``y = 1 - x`` this is the form above with
  ``E_g^I = 1.57`` eV, ``E_g^Br = 2.29`` eV and bowing ``b = 0.33`` eV.
* ``CsPb(Br1-xIx)3``: end members ``E_g^I = 1.73`` eV (gamma/black CsPbI3,
  Eperon et al., J. Mater. Chem. A 3, 19688 (2015)) and ``E_g^Br = 2.30`` eV
  (Beal et al., J. Phys. Chem. Lett. 7, 746 (2016), who measured the
  CsPb(BrzI1-z)3 series from 1.73 to 2.30 eV and 1.92 eV for CsPbBrI2). The
  CsPbBrI2 point lies on the straight line between the end members
  (1.73 + 0.57/3 = 1.92 eV), so the bowing for the inorganic series is small;
  ``b = 0`` is used and can be overridden (``bowing=``).

Segregation of a mixed-halide particle into I-rich and Br-rich domains under
light or the electron beam (Hao & Cai, Microstructures 5, 2025012 (2025), Fig. 3B:
CsPb(Br0.8I0.2)3 -> I-rich CsPb(Br0.6I0.4)3) shows in the emission as a red
shift or a split peak; :func:`segregation_from_two_peaks` and
:func:`segregation_from_shift` turn fitted peak maps into a segregation map.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "HC_EV_NM",
    "HALIDE_SYSTEMS",
    "bandgap_from_fraction",
    "energy_to_wavelength",
    "fraction_from_energy",
    "segregation_from_shift",
    "segregation_from_two_peaks",
    "wavelength_to_energy",
]

#: Planck constant times speed of light in eV nm (CODATA 2018, exact SI:
#: h = 6.62607015e-34 J s, c = 299792458 m/s, e = 1.602176634e-19 C).
HC_EV_NM = 1239.8419843320026

#: Band-gap end members (eV) and bowing (eV) of mixed-halide systems
#: ``APb(Br1-xIx)3``; x is the iodide fraction. Sources in the module docstring.
HALIDE_SYSTEMS = {
    "CsPb(Br1-xIx)3": {"E_Br": 2.30, "E_I": 1.73, "bowing": 0.0},
    "MAPb(Br1-xIx)3": {"E_Br": 2.29, "E_I": 1.57, "bowing": 0.33},
}


def wavelength_to_energy(wavelength):
    """Photon energy (eV) of a wavelength measured in air (nm).

    Spectrometers measure wavelengths in air: as LumiSpy's ``to_eV`` (whose
    ``nm2eV`` this is), ``E = hc / (n_air lambda)`` with the refractive index
    of air of E. R. Peck and K. Reeder, J. Opt. Soc. Am. 62, 958 (1972). The
    whole suite (fits on the energy axis, compositions, simulators) uses this
    one convention; the vacuum value ``hc / lambda`` is 0.5 meV higher at
    710 nm.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.halide import wavelength_to_energy
    >>> round(float(wavelength_to_energy(710.0)), 4)
    1.7458
    """
    from lumispy.utils.axes import nm2eV

    return nm2eV(np.asarray(wavelength, dtype=float))


def energy_to_wavelength(energy):
    """Wavelength in air (nm) of a photon energy (eV); inverse of
    :func:`wavelength_to_energy` (LumiSpy's ``eV2nm``).

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.halide import energy_to_wavelength
    >>> round(float(energy_to_wavelength(1.73)), 1)
    716.5
    """
    from lumispy.utils.axes import eV2nm

    return eV2nm(np.asarray(energy, dtype=float))


def _system(system, bowing=None, e_br=None, e_i=None):
    if isinstance(system, dict):
        params = dict(system)
    else:
        if system not in HALIDE_SYSTEMS:
            raise ValueError(
                f"Unknown halide system {system!r}; use one of "
                f"{sorted(HALIDE_SYSTEMS)} or a dict with keys E_Br, E_I, bowing."
            )
        params = dict(HALIDE_SYSTEMS[system])
    for key, val in (("bowing", bowing), ("E_Br", e_br), ("E_I", e_i)):
        if val is not None:
            params[key] = float(val)
    missing = {"E_Br", "E_I", "bowing"} - set(params)
    if missing:
        raise ValueError(f"Halide system dict lacks {sorted(missing)}.")
    if not params["E_Br"] > params["E_I"] > 0:
        raise ValueError("The band gap must satisfy E_Br > E_I > 0 (eV).")
    if params["bowing"] < 0 or params["bowing"] >= params["E_Br"] - params["E_I"]:
        raise ValueError(
            "bowing must lie in [0, E_Br - E_I) so that E_g(x) is monotonic in x."
        )
    return params["E_Br"], params["E_I"], params["bowing"]


def bandgap_from_fraction(x, system="CsPb(Br1-xIx)3", bowing=None):
    """Band gap (eV) of ``APb(Br1-xIx)3`` at iodide fraction ``x``.

    Parameters
    ----------
    x : array_like
        Iodide fraction, 0 (pure bromide) to 1 (pure iodide).
    system : str or dict
        A key of :data:`HALIDE_SYSTEMS` or a dict ``{"E_Br", "E_I", "bowing"}``.
    bowing : float, optional
        Override the system's bowing parameter (eV).

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.halide import bandgap_from_fraction
    >>> float(bandgap_from_fraction(1.0, "MAPb(Br1-xIx)3"))
    1.57
    >>> round(float(bandgap_from_fraction(0.5, "MAPb(Br1-xIx)3")), 4)
    1.8475
    """
    e_br, e_i, b = _system(system, bowing)
    x = np.asarray(x, dtype=float)
    return (1.0 - x) * e_br + x * e_i - b * x * (1.0 - x)


def fraction_from_energy(
    energy, energy_std=None, system="CsPb(Br1-xIx)3", bowing=None, stokes_shift=0.0
):
    """Iodide fraction x of ``APb(Br1-xIx)3`` from its emission energy.

    Inverts :func:`bandgap_from_fraction` (the quadratic root in [0, 1]) after
    adding ``stokes_shift`` to the emission energy; propagates ``energy_std``
    to first order, ``std_x = std_E / |dE_g/dx|``. Energies outside the
    end-member range give NaN (and are counted in the ``out_of_range`` mask).

    Parameters
    ----------
    energy : array_like
        Emission (peak centre) energy in eV.
    energy_std : array_like, optional
        Its standard deviation in eV.
    system : str or dict
        See :func:`bandgap_from_fraction`.
    bowing : float, optional
        Override the bowing parameter (eV).
    stokes_shift : float
        Emission energy below the band gap, eV (default 0).

    Returns
    -------
    x, x_std : numpy.ndarray
        Iodide fraction and its standard deviation (NaN where unknown).
    out_of_range : numpy.ndarray of bool
        Finite energies outside ``[E_I, E_Br]``.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.halide import fraction_from_energy
    >>> x, sx, bad = fraction_from_energy(1.8475, 0.01, "MAPb(Br1-xIx)3")
    >>> round(float(x), 3), round(float(sx), 4)
    (0.5, 0.0139)
    """
    e_br, e_i, b = _system(system, bowing)
    eg = np.asarray(energy, dtype=float) + float(stokes_shift)
    # E(x) = e_br + (e_i - e_br - b) x + b x^2  ->  b x^2 + p x + (e_br - E) = 0
    p = e_i - e_br - b
    q = e_br - eg
    if b == 0:
        x = -q / p
    else:
        disc = np.maximum(p * p - 4.0 * b * q, 0.0)
        # root in [0, 1]: numerically stable form of (-p - sqrt(disc)) / (2b)
        x = 2.0 * q / (-p + np.sqrt(disc))
    slope = np.abs(p + 2.0 * b * x)
    tol = 1e-9
    out_of_range = np.isfinite(eg) & ((x < -tol) | (x > 1.0 + tol))
    x = np.where(out_of_range, np.nan, np.clip(x, 0.0, 1.0))
    if energy_std is None:
        x_std = np.full_like(x, np.nan)
    else:
        x_std = np.asarray(energy_std, dtype=float) / slope
        x_std = np.where(np.isfinite(x), x_std, np.nan)
    return x, x_std, out_of_range


def segregation_from_two_peaks(
    centre1,
    centre1_std,
    area1,
    area1_std,
    centre2,
    centre2_std,
    area2,
    area2_std,
    min_separation,
    n_sigma=3.0,
    min_fraction=0.05,
):
    """Segregation map from a two-peak fit: two significant, separated peaks.

    A pixel is segregated when both peak areas are significant
    (``area / std > n_sigma``), the weaker peak holds at least
    ``min_fraction`` of the total area, and the centres differ by more than
    ``min_separation`` and by more than ``n_sigma`` combined standard
    deviations. Centres may be in nm or eV (``min_separation`` in the same
    unit).

    Returns
    -------
    segregated : numpy.ndarray of bool
    separation : numpy.ndarray
        ``|centre2 - centre1|`` and its standard deviation ``separation_std``.
    minor_fraction : numpy.ndarray
        Area fraction of the weaker peak.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.halide import segregation_from_two_peaks
    >>> seg, sep, sep_std, frac = segregation_from_two_peaks(
    ...     560.0, 0.5, 100.0, 5.0, 610.0, 0.8, 60.0, 5.0, min_separation=10.0)
    >>> bool(seg), float(sep), round(float(frac), 3)
    (True, 50.0, 0.375)
    """
    c1, c2 = np.asarray(centre1, float), np.asarray(centre2, float)
    s1, s2 = np.asarray(centre1_std, float), np.asarray(centre2_std, float)
    a1, a2 = np.asarray(area1, float), np.asarray(area2, float)
    sa1, sa2 = np.asarray(area1_std, float), np.asarray(area2_std, float)
    if min_separation < 0 or n_sigma < 0 or not 0 <= min_fraction < 0.5:
        raise ValueError(
            "min_separation and n_sigma must be >= 0 and min_fraction in [0, 0.5)."
        )
    sep = np.abs(c2 - c1)
    sep_std = np.hypot(s1, s2)
    total = a1 + a2
    with np.errstate(divide="ignore", invalid="ignore"):
        minor = np.minimum(a1, a2) / total
        sig1 = a1 / sa1
        sig2 = a2 / sa2
    seg = (
        (sig1 > n_sigma)
        & (sig2 > n_sigma)
        & (minor >= min_fraction)
        & (sep > min_separation)
        & (sep > n_sigma * sep_std)
    )
    return np.asarray(seg & np.isfinite(sep)), sep, sep_std, minor


def segregation_from_shift(
    centre, centre_std, reference, reference_std=0.0, n_sigma=3.0, min_shift=0.0
):
    """Segregation map from a single-peak centre shifted from a reference.

    A pixel is flagged when ``|centre - reference|`` exceeds both
    ``min_shift`` and ``n_sigma`` times the combined standard deviation.

    Returns
    -------
    segregated : numpy.ndarray of bool
    shift, shift_std : numpy.ndarray
        ``centre - reference`` (signed) and its standard deviation.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.halide import segregation_from_shift
    >>> seg, shift, _ = segregation_from_shift([710.0, 725.0], [1.0, 1.0], 710.0, min_shift=5.0)
    >>> seg.tolist(), shift.tolist()
    ([False, True], [0.0, 15.0])
    """
    if min_shift < 0 or n_sigma < 0:
        raise ValueError("min_shift and n_sigma must be >= 0.")
    c = np.asarray(centre, float)
    shift = c - np.asarray(reference, float)
    shift_std = np.hypot(
        np.asarray(centre_std, float), np.asarray(reference_std, float)
    )
    seg = (np.abs(shift) > min_shift) & (np.abs(shift) > n_sigma * shift_std)
    return np.asarray(seg & np.isfinite(shift)), shift, shift_std
