"""Quantification of X-ray line intensities: arrays in, arrays out.

Cliff-Lorimer (with the thin-film absorption correction) and zeta factors,
as exSpy's ``quantification`` computes them
(:mod:`hyperspy_perovskite.analysis.eds_quant`), with the Poisson variances
of the intensities propagated to the atomic fractions
(:func:`~hyperspy_perovskite.analysis.xray_lines.cliff_lorimer_variance`).
"""

from __future__ import annotations

import numpy as np
from exspy.material import elements as elements_db

from hyperspy_perovskite.analysis import eds_quant as eq
from hyperspy_perovskite.analysis import xray_lines as xl

__all__ = ["atomic_k_factors", "quantify_intensities"]


def atomic_k_factors(lines, k):
    """exSpy k-factors (weight fractions) -> atomic-fraction factors ``k / A``.

    Parameters
    ----------
    lines : sequence of str
        X-ray lines (``"I_La"``); the element is the part before ``_``.
    k : sequence of float
        exSpy's Cliff-Lorimer factors of ``lines``.

    Returns
    -------
    list of float

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.eds.quantify import atomic_k_factors
    >>> [round(v, 5) for v in atomic_k_factors(["Pb_La"], [1.0])]
    [0.00483]
    """
    return [
        kk / elements_db[ln.split("_")[0]].General_properties.atomic_weight
        for ln, kk in zip(lines, k, strict=True)
    ]


def quantify_intensities(
    inten,
    var,
    lines,
    k,
    method="CL",
    thickness=None,
    take_off_angle=None,
    dose=None,
    absorption_correction=False,
):
    """Atomic percentages (and the mass thickness for zeta) with variances.

    Parameters
    ----------
    inten, var : numpy.ndarray
        ``(n_lines, ...)`` net line intensities and their variances.
    lines : sequence of str
    k : sequence of float
        exSpy's k-factors (``method="CL"``) or zeta factors (kg/m^2 per
        electron, ``method="zeta"``) of ``lines``.
    method : {"CL", "zeta"}
    thickness : float, optional
        Specimen thickness (nm) for the Cliff-Lorimer absorption correction.
    take_off_angle : float, optional
        Degrees, for the absorption correction.
    dose : numpy.ndarray, optional
        Electrons per point (zeta).
    absorption_correction : bool

    Returns
    -------
    values, variances : numpy.ndarray
        ``(..., n_out)``: at% per line, then the mass thickness (kg/m^2)
        for zeta.
    names : list of str
        ``lines`` (+ ``"mass_thickness"`` for zeta).

    Examples
    --------
    >>> import numpy as np
    >>> from hyperspy_perovskite.analysis.eds.quantify import quantify_intensities
    >>> v, _, names = quantify_intensities(
    ...     np.array([[100.0], [300.0]]), np.array([[100.0], [300.0]]),
    ...     ["Pb_La", "I_La"], [1.0, 1.0])
    >>> names, bool(v[0, 0] < v[0, 1])
    (['Pb_La', 'I_La'], True)
    """
    inten = np.asarray(inten, dtype=float)
    var = np.asarray(var, dtype=float)
    elements = [ln.split("_")[0] for ln in lines]
    shape = (-1,) + (1,) * (inten.ndim - 1)
    mass_thickness = None
    if method == "CL":
        acf = np.ones_like(inten)
        if absorption_correction:
            _, acf = eq.cliff_lorimer_absorption(
                inten, k, elements, lines, thickness, take_off_angle
            )
        kk = np.asarray(atomic_k_factors(lines, k)).reshape(shape)
    else:
        _, mass_thickness, acf = eq.zeta_absorption(
            inten, k, elements, lines, dose, take_off_angle, absorption_correction
        )
        weights = [elements_db[e].General_properties.atomic_weight for e in elements]
        kk = (np.asarray(k) / weights).reshape(shape)
    # atomic fractions: C_i = kk_i I_i ACF_i / sum_j (...) (exSpy's rule)
    c, cvar = xl.cliff_lorimer_variance(inten * acf, var * acf**2, kk.ravel())
    values = np.moveaxis(c, 0, -1) * 100.0
    cvar = np.moveaxis(cvar, 0, -1) * 100.0**2
    names = list(lines)
    if mass_thickness is not None:
        rel = (
            np.sum(var * (kk * acf) ** 2, axis=0)
            / np.sum(kk * acf * inten, axis=0) ** 2
        )
        values = np.concatenate([values, mass_thickness[..., None]], axis=-1)
        cvar = np.concatenate([cvar, (mass_thickness**2 * rel)[..., None]], axis=-1)
        names.append("mass_thickness")
    return values, cvar, names
