"""Where the dose rate of an in situ series comes from (signal level).

One reader for every method that needs a dose rate: an explicit
``dose_rate`` (e/A^2/s) or ``beam_current`` (A) with ``illuminated_area``
(A^2), a ``dose_rate``/``beam_current`` channel of the stimulus record
(time-resolved), ``metadata.Stimulus.Dose``, or HyperSpy's
``metadata.Acquisition_instrument.TEM.beam_current`` (nA). Every value
accepts a plain number in its default unit or a string with a unit
(``"2 nA"``, ``"0.5 e/A^2/s"``, ``"1 um^2"``).
"""

import numpy as np

from hyperspy_perovskite.stimulus import dose as _dose
from hyperspy_perovskite.stimulus import record as _record
from hyperspy_perovskite.stimulus.schema import get_record, has_record
from hyperspy_perovskite.units import parse_quantity

__all__ = ["resolve_dose_rate"]


def _from_record(signal, times):
    rec = get_record(signal)
    for name, ch in rec["channels"].items():
        if ch["quantity"] in ("dose_rate", "beam_current"):
            vals = _record.interpolate_channel(
                ch["time"] + ch["time_offset"],
                ch["values"],
                times,
                ch["interpolation"],
            )
            return ch["quantity"], vals, f"stimulus record channel {name}"
    return None


def _from_metadata(md):
    if md.has_item("Stimulus.Dose.dose_rate"):
        return (
            "dose_rate",
            float(md.Stimulus.Dose.dose_rate),
            ("metadata.Stimulus.Dose.dose_rate"),
        )
    if md.has_item("Stimulus.Dose.beam_current"):
        return (
            "beam_current",
            float(md.Stimulus.Dose.beam_current),
            ("metadata.Stimulus.Dose.beam_current"),
        )
    if md.has_item("Acquisition_instrument.TEM.beam_current"):
        # HyperSpy stores the beam current in nA
        return (
            "beam_current",
            float(md.Acquisition_instrument.TEM.beam_current) * 1e-9,
            ("metadata.Acquisition_instrument.TEM.beam_current"),
        )
    return None


def resolve_dose_rate(
    signal, times, frame_area, dose_rate=None, beam_current=None, illuminated_area=None
):
    """Dose rate of every frame (e/A^2/s) and where it came from.

    Parameters
    ----------
    signal : hyperspy.signal.BaseSignal
    times : numpy.ndarray
        Frame times, s.
    frame_area : float or callable
        Area of a frame, A^2 (the default illuminated area), or a function
        returning it (called only when a beam current needs it).
    dose_rate : float, str or array-like, optional
        e/A^2/s.
    beam_current : float, str or array-like, optional
        A (``"20 pA"``).
    illuminated_area : float or str, optional
        A^2 (``"0.25 um^2"``).

    Returns
    -------
    rate : numpy.ndarray, shape (t,)
    source : str

    Raises
    ------
    ValueError
        Without any dose-rate source, or with both ``dose_rate`` and
        ``beam_current``.
    """
    if dose_rate is not None and beam_current is not None:
        raise ValueError(
            "Give either dose_rate (e/A^2/s) or beam_current (A), not both."
        )
    found = None
    if dose_rate is not None:
        found = (
            "dose_rate",
            parse_quantity(dose_rate, "e/A^2/s", name="dose_rate"),
            "dose_rate argument",
        )
    elif beam_current is not None:
        found = (
            "beam_current",
            parse_quantity(beam_current, "A", name="beam_current"),
            "beam_current argument",
        )
    elif has_record(signal):
        found = _from_record(signal, times)
    if found is None:
        found = _from_metadata(signal.metadata)
    if found is None:
        raise ValueError(
            "No dose rate: pass dose_rate (e/A^2/s) or beam_current (A), or attach "
            "a stimulus record with a dose_rate/beam_current channel."
        )
    kind, value, source = found
    if kind == "beam_current":
        area = (
            (frame_area() if callable(frame_area) else frame_area)
            if illuminated_area is None
            else parse_quantity(
                illuminated_area, "angstrom**2", name="illuminated_area"
            )
        )
        current = np.asarray(value, dtype=float)
        if np.any(current[np.isfinite(current)] < 0):
            raise ValueError("The beam current must be >= 0 A.")
        if not (np.isfinite(area) and area > 0):
            raise ValueError(
                f"The illuminated area must be positive (A^2), got {area!r}."
            )
        # NaN (frames the record does not cover) stays NaN and is refused later
        value = current / _dose.ELEMENTARY_CHARGE / area
    rate = np.broadcast_to(np.asarray(value, dtype=float), np.shape(times)).copy()
    if np.any(rate[np.isfinite(rate)] < 0):
        raise ValueError("The dose rate must be >= 0 e/A^2/s.")
    return rate, source
