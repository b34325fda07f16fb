"""Electron dose: fluence per frame, cumulative dose and critical doses.

Halide perovskites are beam sensitive; the review (Hao & Cai, Microstructures 5, 2025012 (2025),
section on electron-beam effects) stresses that every in situ study must first
establish a safe dose. Doses are in electrons per square angstrom (e/A^2),
dose rates in e/A^2/s.

From a beam current ``I`` spread uniformly over an illuminated area ``S``
(A^2), the dose rate is ``I / (e S)`` with ``e = 1.602176634e-19 C`` (exact,
SI 2019). The fluence of one frame is ``dose_rate * exposure``; the cumulative
dose at frame ``i`` is the sum of the fluences of frames ``0..i`` (the dose
received by the end of that frame). For continuous acquisition (no beam
blanking between frames, as with a OneView camera at 25 fps, “Imaging real-time amorphization of hybrid perovskite solar cells under electrical biasing”) the exposure is the frame interval.
"""

import numpy as np

__all__ = [
    "ELEMENTARY_CHARGE",
    "CRITICAL_DOSES",
    "critical_dose",
    "dose_rate_from_beam_current",
    "fluence_per_frame",
    "cumulative_dose",
    "first_exceedance",
    "length_to_angstrom",
]

#: Elementary charge in C (exact, 2019 SI definition).
ELEMENTARY_CHARGE = 1.602176634e-19

#: Critical doses (e/A^2) for common perovskites, with the observed criterion
#: and the source. Only numbers that could be sourced are listed.
CRITICAL_DOSES = {
    "MAPbI3": {
        "dose": 10.5,
        "criterion": "loss of MA+ columns visible in HRTEM (pristine at 0.7 e/A^2; "
        "MA0.5PbI3 intermediate at 28.0 e/A^2)",
        "source": "Chen et al., Nat. Commun. 12, 5516 (2021), Fig. 2 (ref. 39 of "
        "Hao & Cai, Microstructures 5, 2025012 (2025))",
    },
    "FA0.83Cs0.17PbI3": {
        "dose": 4.2,
        "criterion": "critical cumulative dose for structural change (ultralow-dose "
        "TEM)",
        "source": "'Unveiling the intrinsic structure and intragrain defects of "
        "organic-inorganic hybrid perovskites by ultralow dose transmission electron "
        "microscopy' (abstract: lowest critical dose, ~4.2 e/A^2)",
    },
    "FA0.15Cs0.85PbI3": {
        "dose": 84.0,
        "criterion": "critical cumulative dose for structural change (ultralow-dose "
        "TEM)",
        "source": "'Unveiling the intrinsic structure and intragrain defects of "
        "organic-inorganic hybrid perovskites by ultralow dose transmission electron "
        "microscopy' (abstract: highest critical dose, ~84 e/A^2)",
    },
    "CsPb(Br0.8I0.2)3": {
        "dose": 1140.0,
        "criterion": "Pb nanoparticles formed (phase segregation under the beam)",
        "source": "Hao & Cai, Microstructures 5, 2025012 (2025), Fig. 3B (Funk et al., J. Phys. Chem. "
        "Lett. 11, 4945 (2020), ref. 99)",
    },
}

_LENGTH_TO_A = {
    "A": 1.0,
    "Å": 1.0,
    "angstrom": 1.0,
    "nm": 10.0,
    "pm": 0.01,
    "um": 1e4,
    "µm": 1e4,
    "μm": 1e4,
}


def length_to_angstrom(value, units):
    """Convert a length to angstrom.

    Examples
    --------
    >>> from hyperspy_perovskite.stimulus.dose import length_to_angstrom
    >>> length_to_angstrom(0.12, "nm")
    1.2
    """
    if not isinstance(units, str) or units.strip() not in _LENGTH_TO_A:
        raise ValueError(
            f"Unknown length unit {units!r}; use one of {sorted(_LENGTH_TO_A)} "
            "(set the axis units, e.g. s.axes_manager[-1].units = 'nm')."
        )
    return float(np.round(value * _LENGTH_TO_A[units.strip()], 12))


def critical_dose(material):
    """Critical dose (e/A^2) of a material from :data:`CRITICAL_DOSES`.

    Returns
    -------
    dose : float
    entry : dict
        With ``criterion`` and ``source``.

    Examples
    --------
    >>> from hyperspy_perovskite.stimulus.dose import critical_dose
    >>> critical_dose("MAPbI3")[0]
    10.5
    """
    if material not in CRITICAL_DOSES:
        raise ValueError(
            f"No sourced critical dose for {material!r}; known: "
            f"{sorted(CRITICAL_DOSES)}. Pass critical_dose=<e/A^2> instead."
        )
    entry = CRITICAL_DOSES[material]
    return float(entry["dose"]), dict(entry)


def dose_rate_from_beam_current(beam_current, area):
    """Dose rate (e/A^2/s) from a beam current (A) over an area (A^2).

    Examples
    --------
    >>> from hyperspy_perovskite.stimulus.dose import dose_rate_from_beam_current
    >>> round(dose_rate_from_beam_current(10e-12, 1e6), 3)  # 10 pA on 100 nm x 100 nm
    62.415
    """
    i = np.asarray(beam_current, dtype=float)
    if np.any(i < 0) or not np.all(np.isfinite(i)):
        raise ValueError(f"beam_current must be >= 0 and finite, got {beam_current!r}.")
    if not (np.isfinite(area) and area > 0):
        raise ValueError(f"The illuminated area must be positive, got {area!r}.")
    out = i / ELEMENTARY_CHARGE / float(area)
    return float(out) if out.ndim == 0 else out


def fluence_per_frame(dose_rate, exposure):
    """Fluence (e/A^2) of each frame: ``dose_rate * exposure``."""
    r = np.asarray(dose_rate, dtype=float)
    e = np.asarray(exposure, dtype=float)
    if np.any(r < 0) or np.any(e < 0):
        raise ValueError("dose_rate and exposure must be >= 0.")
    return r * e


def cumulative_dose(frame_times, dose_rate, exposure=None):
    """Fluence per frame and cumulative dose at the end of each frame.

    Parameters
    ----------
    frame_times : array-like
        Start times of the frames, s (strictly increasing).
    dose_rate : float or array-like
        e/A^2/s, one value or one per frame (NaN counts as 0: beam off).
    exposure : float or array-like, optional
        Exposure per frame, s; default the frame interval (continuous
        acquisition; the last frame gets the previous interval).

    Returns
    -------
    fluence, cumulative : numpy.ndarray

    Examples
    --------
    >>> from hyperspy_perovskite.stimulus.dose import cumulative_dose
    >>> f, c = cumulative_dose([0.0, 0.04, 0.08], 100.0)
    >>> c
    array([ 4.,  8., 12.])
    """
    t = np.asarray(frame_times, dtype=float)
    if t.ndim != 1 or t.size < 1:
        raise ValueError("frame_times must be a non-empty 1D array.")
    if t.size > 1 and np.any(np.diff(t) <= 0):
        raise ValueError("frame_times must be strictly increasing.")
    if exposure is None:
        if t.size < 2:
            raise ValueError("Give the exposure for a single frame.")
        exposure = np.append(np.diff(t), t[-1] - t[-2])
    r = np.nan_to_num(np.broadcast_to(np.asarray(dose_rate, dtype=float), t.shape))
    e = np.broadcast_to(np.asarray(exposure, dtype=float), t.shape)
    f = fluence_per_frame(r, e)
    return f, np.cumsum(f)


def first_exceedance(cumulative, critical):
    """Index of the first frame whose cumulative dose exceeds ``critical`` (or None).

    Examples
    --------
    >>> from hyperspy_perovskite.stimulus.dose import first_exceedance
    >>> first_exceedance(np.array([1.0, 5.0, 11.0, 20.0]), 10.5)
    2
    """
    if not (np.isfinite(critical) and critical > 0):
        raise ValueError(f"critical dose must be positive, got {critical!r}.")
    idx = np.nonzero(np.asarray(cumulative) > critical)[0]
    return int(idx[0]) if idx.size else None
