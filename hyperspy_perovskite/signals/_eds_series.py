"""Series of EDX maps: stacking in time, frame alignment, composition per frame.

A series (pristine / biased / recovered states, or the frames of an operando
or beam-exposure acquisition) is ONE ``EDS_TEM_biased`` signal with a
navigation axis after x and y that carries the times (``metadata.Device.Series``).

- :func:`stack_bias_series` stacks maps of one area; their calibration and
  beam energy must agree.
- :class:`SeriesMixin` (methods of the signal):
  :meth:`~SeriesMixin.align_frames` (per-frame drift from the HAADF images or
  the X-ray counts, phase correlation), :meth:`~SeriesMixin.get_composition_vs_frame`
  (composition of a region per frame, the onset of halide loss) and
  :meth:`~SeriesMixin.select_frames` (keep only the frames before damage).
"""

from __future__ import annotations

import dask.array as da
import numpy as np
from exspy.signals import EDSTEMSpectrum

from hyperspy_perovskite.metadata import DEVICE_SERIES, record_processing
from hyperspy_perovskite.units import parse_quantity

__all__ = ["stack_bias_series", "series_times"]


def _beam_energy(s):
    for mic in ("TEM", "SEM"):
        v = s.metadata.get_item(f"Acquisition_instrument.{mic}.beam_energy")
        if v is not None:
            return float(v)
    return None


def _check_same_calibration(signals):
    ref = signals[0]
    kv0 = _beam_energy(ref)
    for i, s in enumerate(signals):
        if not isinstance(s, EDSTEMSpectrum):
            raise TypeError(f"Map {i} is a {type(s).__name__}, not an EDS spectrum.")
        if s.axes_manager.navigation_dimension != 2:
            raise ValueError(f"Map {i} is not a 2D map (navigation dimension 2).")
        kv = _beam_energy(s)
        if kv0 is not None and kv is not None and not np.isclose(kv, kv0, rtol=1e-6):
            raise ValueError(
                f"Map {i} was acquired at {kv:g} kV and map 0 at {kv0:g} kV: X-ray "
                "yields and k-factors depend on the beam energy, so maps at "
                "different kV cannot be compared in one series."
            )
        for a, b in zip(ref.axes_manager._axes, s.axes_manager._axes, strict=True):
            same = a.size == b.size and a.units == b.units
            if same and a.is_uniform and b.is_uniform:
                same = np.isclose(a.scale, b.scale, rtol=1e-6) and np.isclose(
                    a.offset, b.offset, rtol=1e-6, atol=1e-9 * max(1.0, abs(a.scale))
                )
            if not same:
                raise ValueError(
                    f"Map {i} does not share the calibration of map 0 on axis "
                    f"{a.name!r} (size/scale/offset/units {a.size}/{a.scale}/"
                    f"{a.offset}/{a.units} vs {b.size}/{b.scale}/{b.offset}/"
                    f"{b.units}): recalibrate or rebin to a common one first."
                )


def stack_bias_series(signals, times, time_units="s", labels=None):
    """Stack maps of the same area into one series with a time axis.

    Parameters
    ----------
    signals : sequence of EDSTEMBiasedSpectrum
        Maps (pristine, biased, recovered, or operando frames) with the same
        spatial and energy calibration and beam energy.
    times : sequence of float or str
        Time of each map (numbers in ``time_units``, or strings such as
        ``"5 min"``); must increase.
    time_units : str
        Unit of plain-number ``times`` and of the series axis (s, ms, min, h).
    labels : sequence of str, optional
        State names stored in ``metadata.Device.Series.labels``.

    Returns
    -------
    EDSTEMBiasedSpectrum
        Navigation ``(x, y, time)``; metadata (bias condition, geometry) of
        the first map. Lazy if any input is lazy. Inputs are not modified.

    Raises
    ------
    ValueError
        If the maps do not share a calibration or a beam energy (kV), or the
        times are not increasing or do not match the maps.

    Examples
    --------
    >>> from hyperspy_perovskite.data.device_simulation import simulate_device_eds
    >>> a, _ = simulate_device_eds(shape=(4, 8), n_channels=256, seed=0)
    >>> b, _ = simulate_device_eds(shape=(4, 8), n_channels=256, seed=1)
    >>> s = stack_bias_series([a, b], ["0 s", "2 min"], labels=["pristine", "1 V"])
    >>> s.axes_manager.navigation_shape, s.axes_manager[2].axis.tolist()
    ((8, 4, 2), [0.0, 120.0])
    """
    from hyperspy_perovskite.signals.eds_biased import EDSTEMBiasedSpectrum

    signals = list(signals)
    if len(signals) < 2:
        raise ValueError("A series needs at least two maps.")
    times = (
        np.array(
            [parse_quantity(t, time_units, name="times") for t in np.atleast_1d(times)],
            dtype=float,
        )
        if not np.isscalar(times)
        else np.atleast_1d(float(times))
    )
    if times.shape != (len(signals),):
        raise ValueError(f"Give one time per map ({len(signals)}), got {times.size}.")
    if np.any(np.diff(times) <= 0):
        raise ValueError("times must be strictly increasing.")
    _check_same_calibration(signals)
    ref = signals[0]
    lazy = any(s._lazy for s in signals)
    if lazy:
        data = da.stack([da.asarray(s.data) for s in signals])
    else:
        data = np.stack([s.data for s in signals])
    axes = [a.get_axis_dictionary() for a in ref.axes_manager._axes]
    time_ax = {"name": "Time", "units": time_units, "navigate": True}
    if np.allclose(np.diff(times), times[1] - times[0]):
        time_ax.update(
            scale=float(times[1] - times[0]), offset=float(times[0]), size=times.size
        )
    else:
        time_ax["axis"] = times
    # axes_manager._axes is in array order (y, x, E): prepend the time axis
    out = EDSTEMBiasedSpectrum(
        data, axes=[time_ax] + axes, metadata=ref.metadata.deepcopy().as_dictionary()
    )
    if lazy:
        out = out.as_lazy()
    if labels is not None:
        labels = [str(v) for v in labels]
        if len(labels) != len(signals):
            raise ValueError("Give one label per map.")
        out.metadata.set_item(f"{DEVICE_SERIES}.labels", labels)
    out.metadata.set_item(f"{DEVICE_SERIES}.times", times.tolist())
    out.metadata.set_item(f"{DEVICE_SERIES}.times_units", time_units)
    record_processing(out.metadata, "Series", n_maps=len(signals))
    return out


def series_times(signal, unit="s"):
    """Times (in ``unit``) of the series entries of a signal, or None.

    From ``metadata.Device.Series.times`` (written by
    :func:`stack_bias_series` and the frame readers) or the navigation axis
    after x and y when its unit is a time. Never from the frame index.
    """
    from hyperspy_perovskite.units import UnitError, axis_values

    md = signal.metadata.get_item(f"{DEVICE_SERIES}.times")
    if md is not None:
        u = signal.metadata.get_item(f"{DEVICE_SERIES}.times_units", "s")
        return np.asarray(
            [parse_quantity(f"{t} {u}", unit, name="series times") for t in md]
        )
    nav = signal.axes_manager.navigation_axes
    if len(nav) < 3:
        return None
    try:
        return axis_values(nav[2], unit, name="the series time")
    except UnitError:
        return None
