"""Absorption-corrected Cliff-Lorimer and zeta-factor quantification (arrays).

The array cores of exSpy's ``EDSTEMSpectrum.quantification`` with
``absorption_correction=True``, for profiles (one row per X-ray line):

- Cliff-Lorimer with a known specimen thickness: the weight fractions give
  the mass thickness ``rho t = t sum_i w_i rho_i`` (exSpy's
  ``CL_get_mass_thickness``), which gives the absorption correction factors
  ``ACF = chi rho t / (1 - exp(-chi rho t))``, ``chi = (mu/rho)_mix csc(TOA)``
  (exSpy's ``get_abs_corr_zeta``; Watanabe & Williams, J. Microsc. 221 (2006)
  89), iterated to convergence.
- zeta factors (Watanabe & Williams 2006): ``rho t = sum_i zeta_i I_i ACF_i /
  D_e`` and ``w_i = zeta_i I_i ACF_i / sum_j zeta_j I_j ACF_j``, with the
  electron dose ``D_e``; no thickness needed.

Mass absorption coefficients are exSpy's (Chantler et al., NIST X-ray form
factor, attenuation and scattering tables v2.1, 2005). The variances are
propagated linearly from the intensities with the factors held fixed (they
depend on the composition only weakly).
"""

from __future__ import annotations

import numpy as np
from exspy._misc.material import mass_absorption_mixture
from exspy.material import elements as elements_db

__all__ = [
    "absorption_factors",
    "cliff_lorimer_absorption",
    "zeta_absorption",
    "weight_to_atomic",
]


def _densities(elements):
    return np.array(
        [elements_db[el].Physical_properties["density (g/cm^3)"] for el in elements]
    )


def _weights(elements):
    return np.array(
        [elements_db[el].General_properties.atomic_weight for el in elements]
    )


def weight_to_atomic(weight_fraction, elements):
    """Weight fractions ``(n, ...)`` to atomic fractions.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.eds_quant import weight_to_atomic
    >>> np.round(weight_to_atomic(np.array([0.5, 0.5]), ["Pb", "I"]), 3).tolist()
    [0.38, 0.62]
    """
    w = np.asarray(weight_fraction, dtype=float)
    a = _weights(elements).reshape((-1,) + (1,) * (w.ndim - 1))
    n = w / a
    with np.errstate(invalid="ignore", divide="ignore"):
        return n / n.sum(axis=0)


def absorption_factors(
    weight_fraction, elements, xray_lines, mass_thickness, take_off_angle
):
    """Absorption correction factors ``ACF >= 1`` of each line (exSpy's rule).

    Parameters
    ----------
    weight_fraction : numpy.ndarray
        ``(n_lines, ...)`` weight fractions (0..1).
    elements, xray_lines : sequence of str
        One per row.
    mass_thickness : numpy.ndarray or float
        ``rho t`` in kg/m^2, broadcastable to ``weight_fraction[0]``.
    take_off_angle : float
        Degrees.

    Returns
    -------
    numpy.ndarray
        ``(n_lines, ...)``.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.eds_quant import absorption_factors
    >>> acf = absorption_factors(np.array([0.53, 0.47]), ["I", "Pb"],
    ...                          ["I_La", "Pb_La"], 6.2e-4, 18.0)
    >>> bool(acf[0] > acf[1] > 1.0)  # I La (3.9 keV) absorbed more than Pb La
    True
    """
    w = np.asarray(weight_fraction, dtype=float)
    flat = np.nan_to_num(w.reshape(w.shape[0], -1)) * 100.0
    mac = np.asarray(
        mass_absorption_mixture(
            list(flat), elements=list(elements), energies=list(xray_lines)
        )
    ).reshape(w.shape)
    chi = mac * 0.1 / np.sin(np.radians(float(take_off_angle)))  # cm^2/g -> m^2/kg
    expo = chi * np.asarray(mass_thickness, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(expo > 1e-12, expo / -np.expm1(-expo), 1.0)


def _cl_weight(intensities, k_factors):
    k = np.asarray(k_factors, float).reshape((-1,) + (1,) * (intensities.ndim - 1))
    ki = k * intensities
    with np.errstate(invalid="ignore", divide="ignore"):
        return ki / ki.sum(axis=0)


def _iterate(first, update, max_iterations, tol):
    """Fixed-point iteration of weight fractions ``(n, ...)``; bins that do
    not converge (noise: negative or vanishing intensities) become NaN with
    a warning, never a number that is not a solution."""
    w = first()
    done = np.zeros(w.shape[1:], dtype=bool)
    for _ in range(max_iterations):
        w_new = update(w)
        with np.errstate(invalid="ignore"):
            done = np.all(np.abs(w_new - w) < tol, axis=0)
        w = w_new
        if done.all():
            return w
    bad = ~done & np.all(np.isfinite(w), axis=0)
    if bad.any():
        import warnings

        warnings.warn(
            f"The absorption correction did not converge in {max_iterations} "
            f"iterations in {int(bad.sum())} of {bad.size} bins (noisy or "
            "negative intensities): they are NaN. Check the thickness (nm).",
            UserWarning,
            stacklevel=3,
        )
    return np.where(done, w, np.nan)


def cliff_lorimer_absorption(
    intensities,
    k_factors,
    elements,
    xray_lines,
    thickness,
    take_off_angle,
    max_iterations=30,
    tol=1e-6,
):
    """Cliff-Lorimer weight fractions corrected for absorption, and the factors.

    Parameters
    ----------
    intensities : numpy.ndarray
        ``(n_lines, ...)`` line intensities.
    k_factors : sequence of float
        exSpy's (weight-fraction) k-factors, one per line.
    elements, xray_lines : sequence of str
    thickness : float or numpy.ndarray
        Specimen thickness in nm.
    take_off_angle : float
        Degrees.

    Returns
    -------
    weight_fraction, acf : numpy.ndarray
        ``(n_lines, ...)`` each.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.eds_quant import cliff_lorimer_absorption
    >>> w, acf = cliff_lorimer_absorption(np.array([[1000.0], [1000.0]]), [1.0, 1.0],
    ...                                   ["I", "Pb"], ["I_La", "Pb_La"], 200.0, 18.0)
    >>> bool(w[0, 0] > 0.5)  # I La is absorbed more: corrected upwards
    True
    """
    i_arr = np.asarray(intensities, dtype=float)
    rho = _densities(elements).reshape((-1,) + (1,) * (i_arr.ndim - 1))
    t = np.asarray(thickness, dtype=float)

    def update(w):
        mt = t * np.sum(np.nan_to_num(w) * rho, axis=0) * 1e-6  # g/cm3 nm -> kg/m2
        acf = absorption_factors(w, elements, xray_lines, mt, take_off_angle)
        return _cl_weight(i_arr * acf, k_factors)

    w = _iterate(lambda: _cl_weight(i_arr, k_factors), update, max_iterations, tol)
    mt = t * np.sum(np.nan_to_num(w) * rho, axis=0) * 1e-6
    return w, absorption_factors(w, elements, xray_lines, mt, take_off_angle)


def zeta_absorption(
    intensities,
    zeta_factors,
    elements,
    xray_lines,
    dose,
    take_off_angle,
    absorption=True,
    max_iterations=30,
    tol=1e-6,
):
    """zeta-factor weight fractions, mass thickness (kg/m^2) and factors.

    Parameters
    ----------
    intensities : numpy.ndarray
        ``(n_lines, ...)``.
    zeta_factors : sequence of float
        exSpy's zeta factors (kg electrons / (m^2 photons)), one per line.
    elements, xray_lines : sequence of str
    dose : float or numpy.ndarray
        Number of electrons (``live_time * current / e``) per intensity.
    take_off_angle : float
    absorption : bool
        Iterate the absorption correction (exSpy's).

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.eds_quant import zeta_absorption
    >>> w, mt, acf = zeta_absorption(np.array([[500.0], [500.0]]), [2e3, 2e3],
    ...                              ["I", "Pb"], ["I_La", "Pb_La"], 1e9, 18.0,
    ...                              absorption=False)
    >>> w[:, 0].tolist(), float(mt[0])
    ([0.5, 0.5], 0.002)
    """
    i_arr = np.asarray(intensities, dtype=float)
    z = np.asarray(zeta_factors, float).reshape((-1,) + (1,) * (i_arr.ndim - 1))
    dose = np.asarray(dose, dtype=float)

    def solve(acf):
        zi = z * i_arr * acf
        s = zi.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return zi / s, s / dose

    acf = np.ones_like(i_arr)
    w, mt = solve(acf)
    if not absorption:
        return w, mt, acf

    def update(w):
        mt = solve(absorption_factors(w, elements, xray_lines, _mt[0], take_off_angle))
        _mt[0] = mt[1]
        return mt[0]

    _mt = [mt]
    w = _iterate(lambda: w, update, max_iterations, tol)
    acf = absorption_factors(w, elements, xray_lines, _mt[0], take_off_angle)
    w, mt = solve(acf)
    return w, mt, acf
