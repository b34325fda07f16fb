"""Read stimulus logs into a record (canonical units, the log's own clock).

Sources
-------
* a Protochips holder log (``.csv`` written by the Protochips software), read
  through RosettaSciIO's Protochips reader. The reader resamples the time
  axis to a uniform one; the REAL time stamps (``original_metadata.
  Protochips_header.Time_axis``) are used here instead.
* a generic CSV file: one header line of column names with units in
  brackets (``time (s), Bias (V), Current [uA]``), then numeric rows. Lines
  starting with ``#`` are comments; semicolon or tab separators, decimal
  commas and a byte-order mark are accepted.
* a dict ``{"time": t or (t, units), "Name": (values, units), ...}``.
* HyperSpy ``Signal1D`` (or a list of them) whose signal axis is the log time
  (uniform or not); units from ``metadata.Signal.quantity`` like
  ``"Voltage (V)"`` or from ``units=``.

Aligning a record to frame times and attaching it to a signal is
:mod:`hyperspy_perovskite.stimulus.align`.
"""

import csv
import os
import re
import warnings

import numpy as np

from .schema import quantity_of_unit, to_canonical

__all__ = ["read_stimulus"]

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
