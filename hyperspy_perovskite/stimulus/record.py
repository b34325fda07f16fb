"""Read stimulus logs, align them to frame times and attach them to signals.

Sources
-------
* a Protochips holder log (``.csv`` written by the Protochips software), read
  through RosettaSciIO's Protochips reader. The reader resamples the time
  axis to a uniform one; the REAL time stamps (``original_metadata.
  Protochips_header.Time_axis``) are used here instead.
* a generic CSV file: one header line of column names with units in
  brackets (``time (s), Bias (V), Current [uA]``), then numeric rows. Lines
  starting with ``#`` are comments.
* a dict ``{"time": t or (t, units), "Name": (values, units), ...}``.
* HyperSpy ``Signal1D`` (or a list of them) whose signal axis is the log time
  (uniform or not); units from ``metadata.Signal.quantity`` like
  ``"Voltage (V)"`` or from ``units=``.

Alignment
---------
The log keeps its own clock; ``Record.time_offset`` maps it onto the frame
time axis, ``frame_time = log_time + time_offset``. The offset is given
directly, found from a trigger (the first time a channel reaches a threshold is
put at a given frame time), or from the absolute start times
(``time_offset="datetime"``: ``metadata.General.date/time`` of the frames and
the start time of the log). On the frame times, set-point channels are held
(zero-order: the last log entry at or before the frame) and measured channels
are interpolated linearly; frames outside the log get NaN.
"""

import csv
import os
import re
import warnings

import numpy as np

from .schema import (
    _check_signal,
    get_record,
    quantity_of_unit,
    to_canonical,
)

__all__ = [
    "read_stimulus",
    "attach_stimulus",
    "stimulus_channels",
    "frame_time_axis",
]

_HOLD_QUANTITIES = ("illumination", "wavelength")


def _node_name(name):
    n = re.sub(r"[^0-9A-Za-z]+", "_", str(name)).strip("_")
    if not n:
        raise ValueError(f"Channel name {name!r} has no letters or digits.")
    if n[0].isdigit():
        n = "C_" + n
    return n[0].upper() + n[1:]


def _split_name_units(header):
    """'Bias (V)' / 'Bias [V]' / 'Bias/V' -> ('Bias', 'V'); no units -> (name, None)."""
    h = header.strip()
    m = re.match(r"^(.*?)\s*[\(\[]\s*([^\)\]]*)\s*[\)\]]\s*$", h)
    if m:
        return m.group(1).strip(), m.group(2).strip()
    m = re.match(r"^(.*?)\s*/\s*(\S+)$", h)
    if m and m.group(1):
        return m.group(1).strip(), m.group(2).strip()
    return h, None


def _quantity_for(name, units):
    q = quantity_of_unit(units)
    if q == "current" and "beam" in name.lower():
        q = "beam_current"
    return q


def _default_interpolation(name, quantity):
    low = name.lower()
    if quantity in _HOLD_QUANTITIES or "set" in low:
        return "hold"
    return "linear"


def _check_times(t, what):
    t = np.asarray(t, dtype=float)
    if t.ndim != 1 or t.size < 1:
        raise ValueError(f"The time column of {what} must be 1D and non-empty.")
    if not np.isfinite(t).all():
        raise ValueError(f"The time column of {what} contains NaN or inf values.")
    d = np.diff(t)
    if (d == 0).any():
        i = int(np.nonzero(d == 0)[0][0])
        raise ValueError(
            f"Duplicated time {t[i]:g} s in {what} (entries {i} and {i + 1}): "
            "times must be strictly increasing. Remove or average duplicates."
        )
    if (d < 0).any():
        i = int(np.nonzero(d < 0)[0][0])
        raise ValueError(
            f"Non-monotonic times in {what}: {t[i]:g} s is followed by "
            f"{t[i + 1]:g} s (entry {i + 1}). Times must be strictly increasing; "
            "sort the log or fix the clock."
        )
    return t


def _make_record(time, channels, source, start_datetime="", interpolation=None):
    """channels: list of (name, values, units, quantity-or-None)."""
    time = _check_times(time, source)
    out = {}
    for name, values, units, quantity in channels:
        if units is None:
            raise ValueError(
                f"Channel {name!r} of {source} has no units. Put them in the "
                "header as 'name (unit)' or pass units={name: unit}."
            )
        if quantity is None:
            quantity = _quantity_for(name, units)
        vals, quantity, cunits = to_canonical(values, units, quantity)
        vals = np.atleast_1d(np.asarray(vals, dtype=float))
        if vals.shape != time.shape:
            raise ValueError(
                f"Channel {name!r} has {vals.size} values but the time column "
                f"has {time.size}."
            )
        node = _node_name(name)
        if node in out:
            raise ValueError(f"Two channels map to the same name {node!r}.")
        if isinstance(interpolation, dict):
            interp = interpolation.get(name, interpolation.get(node))
        else:
            interp = interpolation
        if interp is None:
            interp = _default_interpolation(name, quantity)
        if interp not in ("hold", "linear"):
            raise ValueError(
                f"interpolation must be 'hold' (set-points) or 'linear' "
                f"(measurements), got {interp!r} for channel {name!r}."
            )
        out[node] = {
            "values": vals,
            "values_units": cunits,
            "quantity": quantity,
            "interpolation": interp,
        }
    if not out:
        raise ValueError(f"{source} has no stimulus channels besides time.")
    return {
        "time": time,
        "source": str(source),
        "start_datetime": start_datetime or "",
        "channels": out,
    }


def _is_protochips(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        first = f.readline()
    cols = [c.strip().lower() for c in first.split(",")]
    return len(cols) >= 2 and cols[0] == "time" and cols[1] == "notes"


def _read_protochips(path, units=None, interpolation=None):
    import hyperspy.api as hs

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import logging

            log = logging.getLogger("rsciio.protochips._api")
            level = log.level
            log.setLevel(logging.ERROR)
            hlog = logging.getLogger("hyperspy.io")
            hlevel = hlog.level
            hlog.setLevel(logging.CRITICAL)
            try:
                sigs = hs.load(path, file_format="Protochips")
            finally:
                log.setLevel(level)
                hlog.setLevel(hlevel)
    except Exception as err:
        raise ValueError(
            f"{os.path.basename(path)} is not a valid Protochips log ({err}). "
            "Check that the file is an unmodified export of the Protochips "
            "software (header lines 'Time units = ...', '<quantity> units = ...')."
        ) from err
    if not isinstance(sigs, list):
        sigs = [sigs]
    header = sigs[0].original_metadata.Protochips_header
    t_node = header.Time_axis
    t, _, _ = to_canonical(np.asarray(t_node.value, dtype=float), t_node.units, "time")
    start = header.get_item("Start_time", None)
    start = "" if start is None else str(np.datetime64(start))
    channels = []
    for s in sigs:
        title = s.metadata.General.title
        name, u = _split_name_units(title)
        # the reader titles are "Channel A Current (Amps)"; "... (Degrees C) ()"
        name = re.sub(r"\s*\(.*$", "", title).strip()
        key = name.replace(" ", "_") + "_units"
        u = header.get_item(key, u)
        if units and name in units:
            u = units[name]
        qword = name.split()[-1].lower()
        quantity = (
            qword
            if qword in ("voltage", "current", "resistance", "temperature", "pressure")
            else None
        )
        if s.data.shape[-1] != t.size:
            raise ValueError(
                f"{os.path.basename(path)}: channel {name!r} has "
                f"{s.data.shape[-1]} values but {t.size} time stamps."
            )
        channels.append((name, np.asarray(s.data, dtype=float), u, quantity))
    return _make_record(t, channels, os.path.basename(path), start, interpolation)


def _spreadsheet_rows(lines):
    """Rows of a CSV, semicolon- (decimal comma) or tab-separated export."""
    header = lines[0]
    delim = max((",", ";", "\t"), key=header.count)
    if header.count(delim) == 0:
        delim = ","
    rows = list(csv.reader(lines, delimiter=delim))
    if delim != ",":
        # European spreadsheets write 1,5 for 1.5 when ';' separates fields
        rows = [rows[0]] + [[x.replace(",", ".") for x in r] for r in rows[1:]]
    return rows


def _read_csv(path, time_column=None, units=None, interpolation=None):
    base = os.path.basename(path)
    # utf-8-sig: spreadsheet exports start with a byte-order mark
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as f:
        lines = [ln for ln in f if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise ValueError(f"{base} is empty: expected a header line and data rows.")
    rows = _spreadsheet_rows(lines)
    header = [h.strip() for h in rows[0]]
    parsed = [_split_name_units(h) for h in header]
    names = [p[0] for p in parsed]
    hunits = [p[1] for p in parsed]
    if units:
        for i, n in enumerate(names):
            if n in units:
                hunits[i] = units[n]
    if time_column is None:
        cand = [i for i, n in enumerate(names) if n.lower() in ("time", "t")]
        if not cand:
            raise ValueError(
                f"{base} has no time column (header: {header}). Name one column "
                "'time (s)' or pass time_column='<name>'."
            )
        it = cand[0]
    else:
        if time_column not in names:
            raise ValueError(
                f"time_column {time_column!r} is not in the header of {base}: {names}."
            )
        it = names.index(time_column)
    if hunits[it] is None:
        raise ValueError(
            f"The time column of {base} has no units; write e.g. 'time (s)' in "
            "the header or pass units={'time': 's'}."
        )
    data = []
    for k, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise ValueError(
                f"{base}, data line {k}: {len(row)} fields but the header has "
                f"{len(header)}. The file is malformed."
            )
        try:
            data.append([float(x) if x.strip() else np.nan for x in row])
        except ValueError as err:
            raise ValueError(
                f"{base}, data line {k}: non-numeric value ({err}). The file is "
                "malformed."
            ) from None
    if not data:
        raise ValueError(f"{base} has a header but no data rows.")
    arr = np.asarray(data, dtype=float)
    t = to_canonical(arr[:, it], hunits[it], "time")[0]
    channels = [
        (names[i], arr[:, i], hunits[i], None) for i in range(len(names)) if i != it
    ]
    return _make_record(t, channels, base, "", interpolation)


def _read_dict(d, units=None, interpolation=None):
    if "time" not in d:
        raise ValueError(
            "A dict stimulus source needs a 'time' entry: {'time': (t, 's'), "
            "'Bias': (v, 'V')}."
        )
    tv = d["time"]
    if isinstance(tv, tuple):
        t = to_canonical(tv[0], tv[1], "time")[0]
    else:
        t = np.asarray(tv, dtype=float)
    channels = []
    for name, v in d.items():
        if name == "time":
            continue
        if isinstance(v, tuple):
            vals, u = v
        else:
            vals, u = v, (units or {}).get(name)
        channels.append((name, np.asarray(vals, dtype=float), u, None))
    return _make_record(np.atleast_1d(t), channels, "dict", "", interpolation)


def _read_signals(sigs, units=None, interpolation=None):
    from hyperspy.signal import BaseSignal

    if isinstance(sigs, BaseSignal):
        sigs = [sigs]
    t = None
    channels = []
    for s in sigs:
        if not isinstance(s, BaseSignal) or s.axes_manager.signal_dimension != 1:
            raise TypeError("Stimulus signals must be Signal1D with a time axis.")
        if s.axes_manager.navigation_dimension:
            raise ValueError(
                f"Stimulus signal {s.metadata.General.title!r} has navigation "
                "axes; give one 1D trace per channel."
            )
        ax = s.axes_manager.signal_axes[0]
        tu = ax.units if isinstance(ax.units, str) and ax.units else None
        if tu is None:
            raise ValueError(
                f"The time axis of {s.metadata.General.title!r} has no units; set "
                "s.axes_manager[0].units = 's'."
            )
        ts = to_canonical(np.asarray(ax.axis, dtype=float), tu, "time")[0]
        if t is None:
            t = ts
        elif ts.shape != t.shape or not np.allclose(ts, t):
            raise ValueError(
                "All stimulus signals must share the same time axis; resample "
                "them first or attach them as separate dict entries."
            )
        title = s.metadata.General.title or "Channel"
        name, u = _split_name_units(title)
        q = s.metadata.get_item("Signal.quantity", "")
        if q:
            qn, qu = _split_name_units(q)
            u = qu or u
            if name == "Channel" or not s.metadata.General.title:
                name = qn
        if units and name in units:
            u = units[name]
        channels.append((name, np.asarray(s.data, dtype=float), u, None))
    return _make_record(t, channels, "signal", "", interpolation)


def read_stimulus(
    source, file_format=None, time_column=None, units=None, interpolation=None
):
    """Read a stimulus log into a record dict (canonical units, log clock).

    Parameters
    ----------
    source : str, pathlib.Path, dict, Signal1D or list of Signal1D
        See the module docstring.
    file_format : {None, "Protochips", "csv"}
        For files; ``None`` detects a Protochips log by its header.
    time_column : str, optional
        Name of the time column of a CSV file (default: the column named
        ``time`` or ``t``).
    units : dict, optional
        ``{channel name: unit}`` for columns whose header has no units.
    interpolation : {None, "hold", "linear"} or dict
        Per-channel override of the default (hold for set-points, i.e. names
        containing "set", and for illumination/wavelength; linear otherwise).

    Returns
    -------
    dict
        ``time``, ``source``, ``start_datetime``, ``channels``.

    Examples
    --------
    >>> from hyperspy_perovskite.stimulus import read_stimulus
    >>> rec = read_stimulus({"time": ([0, 500, 1000], "ms"), "Bias": ([0, 1, 1], "V")})
    >>> rec["time"], rec["channels"]["Bias"]["quantity"]
    (array([0. , 0.5, 1. ]), 'voltage')
    """
    from hyperspy.signal import BaseSignal

    if isinstance(source, dict):
        return _read_dict(source, units, interpolation)
    if isinstance(source, BaseSignal) or (
        isinstance(source, (list, tuple))
        and source
        and all(isinstance(s, BaseSignal) for s in source)
    ):
        return _read_signals(source, units, interpolation)
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if not os.path.isfile(path):
            raise ValueError(f"Stimulus file {path!r} does not exist.")
        fmt = file_format.lower() if isinstance(file_format, str) else file_format
        if fmt is None:
            fmt = "protochips" if _is_protochips(path) else "csv"
        if fmt == "protochips":
            return _read_protochips(path, units, interpolation)
        if fmt == "csv":
            return _read_csv(path, time_column, units, interpolation)
        raise ValueError(
            f"file_format must be None, 'Protochips' or 'csv', got {file_format!r}."
        )
    raise TypeError(
        f"Cannot read a stimulus from {type(source).__name__}: give a file path, "
        "a dict {'time': ..., name: (values, units)} or HyperSpy Signal1D."
    )


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
    >>> from hyperspy_perovskite.stimulus.record import frame_time_axis
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
    >>> from hyperspy_perovskite.stimulus.record import interpolate_channel
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
