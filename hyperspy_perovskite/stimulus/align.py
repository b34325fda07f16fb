"""Align a stimulus record to the frame times of a signal and attach it.

The log keeps its own clock; ``Record.time_offset`` maps it onto the frame
time axis, ``frame_time = log_time + time_offset``. The offset is given
directly, found from a trigger (the first time a channel reaches a threshold is
put at a given frame time), or from the absolute start times
(``time_offset="datetime"``: ``metadata.General.date/time`` of the frames and
the start time of the log). On the frame times, set-point channels are held
(zero-order: the last log entry at or before the frame) and measured channels
are interpolated linearly; frames outside the log get NaN.

Reading the logs is :mod:`hyperspy_perovskite.stimulus.logs`.
"""

import warnings

import numpy as np

from .logs import _node_name, read_stimulus
from .schema import _check_signal, get_record

__all__ = [
    "attach_stimulus",
    "frame_time_axis",
    "interpolate_channel",
    "stimulus_channels",
]


def frame_time_axis(signal):
    """Return the time axis of a signal (navigation first), in seconds.

    The axis is the one named ``time``/``t`` (any case), else the one whose
    units are a time unit (s, ms, min, h, ...: read by
    :func:`hyperspy_perovskite.units.axis_values`). An axis named time
    without a time unit (an undefined unit, ``"px"``, ``"z"``, ``"frame"``)
    is refused with a message that says how to set the frame time: it is
    never taken as seconds.

    Returns
    -------
    axis : hyperspy.axes.DataAxis
    times : numpy.ndarray
        Axis values converted to s.

    Raises
    ------
    hyperspy_perovskite.units.UnitError
        If the time axis has no time unit.

    Examples
    --------
    >>> import hyperspy.api as hs, numpy as np
    >>> from hyperspy_perovskite.stimulus.align import frame_time_axis
    >>> s = hs.signals.Signal2D(np.zeros((3, 4, 4)))
    >>> s.axes_manager[0].name, s.axes_manager[0].units = "time", "ms"
    >>> s.axes_manager[0].scale = 40
    >>> frame_time_axis(s)[1]
    array([0.  , 0.04, 0.08])
    """
    from hyperspy_perovskite.units import UnitError, axis_values, same_dimension

    _check_signal(signal)
    axes = list(signal.axes_manager.navigation_axes) + list(
        signal.axes_manager.signal_axes
    )

    def unit_is_time(ax):
        return isinstance(ax.units, str) and same_dimension(ax.units, "s")

    named = [a for a in axes if str(a.name).lower() in ("time", "t")]
    timed = [a for a in axes if unit_is_time(a)]
    cand = [a for a in named if unit_is_time(a)] or timed or named
    if not cand:
        nav = signal.axes_manager.navigation_axes
        hint = (
            f" The navigation axis {nav[0].name!r} has units {nav[0].units!r}."
            if len(nav) == 1
            else ""
        )
        raise UnitError(
            "The signal has no time axis." + hint + " Give the frame time, e.g. "
            "s.axes_manager[0].name = 'time'; s.axes_manager[0].units = 's'; "
            "s.axes_manager[0].scale = 0.04 (for 25 frames/s)."
        )
    ax = cand[0]
    return ax, axis_values(ax, "s", name="frame time")


def _parse_frame_datetime(signal):
    md = signal.metadata.General
    date = md.get_item("date", None)
    time = md.get_item("time", None)
    if not date or not time:
        raise ValueError(
            "time_offset='datetime' needs metadata.General.date and .time of the "
            "first frame."
        )
    return np.datetime64(f"{date}T{time}")


def _crossing_time(t, v, threshold):
    on = np.nonzero(np.abs(v) >= threshold)[0]
    if on.size == 0:
        raise ValueError(
            f"The trigger channel never reaches {threshold:g}; check the "
            "threshold (canonical units) or the channel."
        )
    return float(t[on[0]])


def attach_stimulus(
    signal,
    source,
    time_offset=0.0,
    trigger_channel=None,
    trigger_threshold=None,
    trigger_time=0.0,
    file_format=None,
    time_column=None,
    units=None,
    interpolation=None,
    replace=False,
    inplace=False,
):
    """Attach a stimulus log to a signal as ``metadata.Stimulus.Record``.

    Parameters
    ----------
    signal : hyperspy.signal.BaseSignal
        A signal with a time axis (see :func:`frame_time_axis`).
    source : str, pathlib.Path, dict, Signal1D or list of Signal1D
        The log (see :func:`read_stimulus`).
    time_offset : float or "datetime"
        Frame time of the log's t = 0, in s (``frame_time = log_time +
        time_offset``); ``"datetime"`` computes it from the absolute start
        times. Ignored when ``trigger_channel`` is given.
    trigger_channel : str, optional
        Align on an event: the first log time at which ``|channel| >=
        trigger_threshold`` is put at frame time ``trigger_time``.
    trigger_threshold : float, optional
        In the canonical unit of the channel (V, A, degC, ...); default half
        of the channel's maximum absolute value.
    trigger_time : float
        Frame time (s) of the trigger event.
    file_format, time_column, units, interpolation
        Passed to :func:`read_stimulus`.
    replace : bool
        Replace an existing record. By default a second log (temperature
        after bias, gas after temperature, ...) is added to the record: its
        channels keep their own clock, time offset and source (a channel
        whose name is taken gets a ``_2`` suffix).
    inplace : bool
        Write into ``signal``'s metadata; otherwise return a new signal that
        shares the data (the input is not modified).

    Returns
    -------
    hyperspy.signal.BaseSignal or None
        The annotated signal (``None`` if ``inplace``).

    Raises
    ------
    ValueError
        Log times that do not overlap the frames, non-monotonic or duplicated
        times, unknown units, a missing time column, a malformed file.

    Examples
    --------
    >>> from hyperspy_perovskite.stimulus import attach_stimulus
    >>> s = hs.signals.Signal2D(np.zeros((5, 4, 4)))
    >>> s.axes_manager[0].units = "s"
    >>> t = np.linspace(0, 4, 9)
    >>> s2 = attach_stimulus(s, {"time": t, "Bias setpoint": (t >= 2, "V")})
    >>> s2.metadata.Stimulus.Record.Channels.Bias_setpoint.interpolation
    'hold'
    """
    _check_signal(signal)
    _, ftimes = frame_time_axis(signal)
    rec = read_stimulus(source, file_format, time_column, units, interpolation)
    t = rec["time"]
    if trigger_channel is not None:
        node = _node_name(trigger_channel)
        if node not in rec["channels"]:
            raise ValueError(
                f"trigger_channel {trigger_channel!r} is not in the log; "
                f"channels: {list(rec['channels'])}."
            )
        v = rec["channels"][node]["values"]
        thr = trigger_threshold
        if thr is None:
            thr = 0.5 * np.nanmax(np.abs(v))
        if not np.isfinite(thr) or thr <= 0:
            raise ValueError(f"trigger_threshold must be positive, got {thr!r}.")
        offset = float(trigger_time) - _crossing_time(t, v, thr)
    elif isinstance(time_offset, str):
        if time_offset != "datetime":
            raise ValueError(
                f"time_offset must be a number (s) or 'datetime', got {time_offset!r}."
            )
        if not rec["start_datetime"]:
            raise ValueError(
                "time_offset='datetime' needs the log's start time; this source "
                "has none (only Protochips logs record it)."
            )
        f0 = _parse_frame_datetime(signal)
        l0 = np.datetime64(rec["start_datetime"])
        offset = float((l0 - f0) / np.timedelta64(1, "us")) * 1e-6 + float(ftimes[0])
    else:
        offset = float(time_offset)
        if not np.isfinite(offset):
            raise ValueError(f"time_offset must be finite, got {time_offset!r}.")
    lo, hi = t[0] + offset, t[-1] + offset
    f_lo, f_hi = float(np.min(ftimes)), float(np.max(ftimes))
    if hi < f_lo or lo > f_hi:
        raise ValueError(
            f"The stimulus log ({lo:g} to {hi:g} s on the frame clock) does not "
            f"overlap the frames ({f_lo:g} to {f_hi:g} s). Adjust time_offset or "
            "the trigger."
        )
    if lo > f_lo or hi < f_hi:
        warnings.warn(
            f"The stimulus log covers {lo:g} to {hi:g} s but the frames span "
            f"{f_lo:g} to {f_hi:g} s: frames outside the log get NaN.",
            UserWarning,
        )
    out = signal if inplace else signal._deepcopy_with_new_data(signal.data)
    md = out.metadata
    if md.has_item("Stimulus.Record") and not replace:
        _add_log(md, rec, t, offset)
        return None if inplace else out
    if md.has_item("Stimulus.Record"):
        del md.Stimulus.Record
    base = "Stimulus.Record"
    md.set_item(f"{base}.source", rec["source"])
    md.set_item(f"{base}.start_datetime", rec["start_datetime"])
    md.set_item(f"{base}.time", t)
    md.set_item(f"{base}.time_units", "s")
    md.set_item(f"{base}.time_offset", offset)
    md.set_item(f"{base}.time_offset_units", "s")
    for name, ch in rec["channels"].items():
        for k, v in ch.items():
            md.set_item(f"{base}.Channels.{name}.{k}", v)
    return None if inplace else out


def _add_log(md, rec, t, offset):
    """Add the channels of another log, each with its own clock and source."""
    base = "Stimulus.Record.Channels"
    existing = set(dict(md.Stimulus.Record.Channels).keys())
    for name, ch in rec["channels"].items():
        node, k = name, 2
        while node in existing:
            node, k = f"{name}_{k}", k + 1
        if node != name:
            warnings.warn(
                f"Channel {name!r} of {rec['source']} is already in the record; "
                f"stored as {node!r}.",
                UserWarning,
                stacklevel=3,
            )
        existing.add(node)
        for key, v in ch.items():
            md.set_item(f"{base}.{node}.{key}", v)
        md.set_item(f"{base}.{node}.time", t)
        md.set_item(f"{base}.{node}.time_units", "s")
        md.set_item(f"{base}.{node}.time_offset", offset)
        md.set_item(f"{base}.{node}.time_offset_units", "s")
        md.set_item(f"{base}.{node}.source", rec["source"])
        md.set_item(f"{base}.{node}.start_datetime", rec["start_datetime"])


def interpolate_channel(t_log, values, frame_times, interpolation):
    """Values of one channel at frame times (NaN outside the log).

    ``"hold"``: value of the last log entry at or before the frame;
    ``"linear"``: linear between the bracketing entries.

    Examples
    --------
    >>> from hyperspy_perovskite.stimulus.align import interpolate_channel
    >>> t = np.array([0.0, 1.0, 2.0]); v = np.array([0.0, 1.0, 3.0])
    >>> interpolate_channel(t, v, np.array([-1, 0.5, 1.5, 2.5]), "hold")
    array([nan,  0.,  1., nan])
    >>> interpolate_channel(t, v, np.array([0.5, 1.5]), "linear")
    array([0.5, 2. ])
    """
    ft = np.asarray(frame_times, dtype=float)
    if interpolation == "hold":
        idx = np.searchsorted(t_log, ft, side="right") - 1
        out = values[np.clip(idx, 0, len(values) - 1)].astype(float)
        out[idx < 0] = np.nan
    elif interpolation == "linear":
        out = np.interp(ft, t_log, values)
    else:
        raise ValueError(f"Unknown interpolation {interpolation!r}.")
    out[(ft < t_log[0]) | (ft > t_log[-1])] = np.nan
    return out


def stimulus_channels(signal):
    """Each stimulus channel as a Signal1D on the signal's frame time axis.

    Returns
    -------
    dict
        ``{channel name: Signal1D}``; the signal axis is a copy of the frame
        time axis, values in the canonical unit of the channel.

    Examples
    --------
    >>> from hyperspy_perovskite.stimulus import attach_stimulus, stimulus_channels
    >>> s = hs.signals.Signal2D(np.zeros((3, 4, 4)))
    >>> s.axes_manager[0].units = "s"
    >>> s = attach_stimulus(s, {"time": [0, 1, 2], "Temperature": ([25, 50, 75], "degC")})
    >>> stimulus_channels(s)["Temperature"].data
    array([25., 50., 75.])
    """
    import hyperspy.api as hs

    rec = get_record(signal)
    ax, ftimes = frame_time_axis(signal)
    out = {}
    for name, ch in rec["channels"].items():
        t = ch["time"] + ch["time_offset"]
        vals = interpolate_channel(t, ch["values"], ftimes, ch["interpolation"])
        if ax.is_uniform:
            axis = {
                "size": ftimes.size,
                "offset": float(ftimes[0]),
                "scale": float(ftimes[1] - ftimes[0]) if ftimes.size > 1 else 1.0,
                "units": "s",
                "name": "time",
            }
        else:
            axis = {"axis": ftimes, "units": "s", "name": "time"}
        s = hs.signals.Signal1D(vals, axes=[axis])
        s.metadata.General.title = name
        s.metadata.Signal.quantity = f"{ch['quantity']} ({ch['values_units']})"
        s.metadata.set_item("Stimulus.interpolation", ch["interpolation"])
        s.metadata.set_item("Stimulus.source", ch["source"])
        out[name] = s
    return out
