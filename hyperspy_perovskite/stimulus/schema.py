"""The stimulus record: ONE metadata schema for what was applied to a sample.

This module is the single documented place for the layout of
``metadata.Stimulus`` (also described in ``docs/user_guide/metadata.rst``).
Every part of the suite (in situ image and diffraction series, EDX under
bias) reads and writes stimuli through the functions here. Following the
HyperSpy convention, nodes are capitalised, leaves are lowercase and the units
of a leaf ``x`` are stored in the leaf ``x_units``.

Layout
------
::

    metadata.Stimulus
    ├── Bias_condition                 what the potentiostat/galvanostat was set to
    │   ├── mode = "potentiostatic" | "galvanostatic"
    │   ├── voltage, voltage_units = "V"     set-point (potentiostatic) or None
    │   ├── current, current_units = "A"     set-point (galvanostatic) or None
    │   ├── polarity = "forward" | "reverse"
    │   ├── duration, duration_units = "s"   how long the bias was held (or None)
    │   ├── start_time, start_time_units = "s"
    │   │                                    switch-on on the FRAME time axis (or None)
    │   ├── anode = str                      electrode names, e.g. "ITO", "Au"
    │   └── cathode = str
    ├── Record                         time-resolved log (holder, potentiostat, ...)
    │   ├── source = str                     file name, "csv", "signal", ...
    │   ├── start_datetime = str             ISO 8601 time of log t = 0 (or "")
    │   ├── time, time_units = "s"           1D float array, log clock, strictly increasing
    │   ├── time_offset, time_offset_units = "s"
    │   │                                    frame_time = time + time_offset
    │   └── Channels
    │       └── <Name>                       e.g. Channel_A_voltage, Temperature
    │           ├── values                   1D float array, same length as time
    │           ├── values_units             canonical unit of the quantity (below)
    │           ├── quantity                 one of QUANTITIES
    │           └── interpolation = "hold" | "linear"
    └── Dose                           electron dose bookkeeping (see stimulus.dose)
        ├── dose_rate, dose_rate_units = "e/A^2/s"
        ├── beam_current, beam_current_units = "A"
        ├── illuminated_area, illuminated_area_units = "A^2"
        ├── critical_dose, critical_dose_units = "e/A^2"
        └── critical_dose_source = str

Values are always stored in the canonical unit of their quantity
(:data:`QUANTITIES`); readers convert on the way in with :func:`to_canonical`
and refuse unknown units. Interpolation onto frame times is ``"hold"``
(zero-order, value of the last log entry at or before the frame) for
set-points and ``"linear"`` for measured quantities.
"""

import numpy as np

__all__ = [
    "QUANTITIES",
    "set_bias_condition",
    "get_bias_condition",
    "has_record",
    "get_record",
    "to_canonical",
    "canonical_unit",
    "bias_switch_on_time",
]

#: Quantities the record knows, with their canonical unit.
QUANTITIES = {
    "voltage": "V",
    "current": "A",
    "resistance": "Ohm",
    "temperature": "degC",
    "pressure": "Pa",
    "humidity": "%",
    "gas_flow": "sccm",
    "illumination": "on/off",
    "wavelength": "nm",
    "power": "W",
    "irradiance": "mW/cm^2",
    "beam_current": "A",
    "dose_rate": "e/A^2/s",
    "time": "s",
}

# Labels that are not physical units (a stimulus log writes them in place of
# one) and the quantity they stand for; every physical unit is read by
# :mod:`hyperspy_perovskite.units` (pint through HyperSpy's registry).
_LABELS = {
    "on/off": "illumination",
    "bool": "illumination",
    "%": "humidity",
    "percent": "humidity",
    "%rh": "humidity",
    "rh": "humidity",
    "sccm": "gas_flow",
}

# spellings of holder/potentiostat logs that pint reads otherwise or not at
# all: in a stimulus log "C" is a temperature in degrees Celsius (a charge is
# not a stimulus quantity), "Ohms"/"kOhm"/"MOhm" are resistances, "Torr" the
# torr (1 Torr = 101325/760 Pa, ISO 80000-4).
_LOG_SPELLINGS = {
    "c": "degC",
    "degrees c": "degC",
    "deg c": "degC",
    "celsius": "degC",
    "ohms": "ohm",
    "kohm": "kohm",
    "mohm": None,  # ambiguous case-folded: decided below
    "torr": "torr",
    "mtorr": "millitorr",
    "amp": "A",
    "amps": "A",
    "volts": "V",
    "seconds": "s",
    "milliseconds": "ms",
    "microseconds": "us",
    "minutes": "min",
    "hours": "h",
}

# the order in which a unit without a stated quantity is matched: "A" alone
# is a current here, "nm" a wavelength (the only length of the record)
_MATCH_ORDER = (
    "voltage",
    "current",
    "resistance",
    "temperature",
    "pressure",
    "time",
    "wavelength",
    "power",
    "irradiance",
    "dose_rate",
)

# quantities sharing a dimension with another quantity
_DIMENSION_OF = {"beam_current": "current"}


def _pint_unit(quantity):
    """The canonical unit of a quantity as pint reads it."""
    return {"Ohm": "ohm"}.get(QUANTITIES[quantity], QUANTITIES[quantity])


def _log_spelling(units):
    key = units.strip()
    low = key.lower()
    if low == "mohm":
        return "megaohm" if key.startswith("M") else "milliohm"
    return _LOG_SPELLINGS.get(low, key)


def _lookup_unit(units, quantity=None):
    """``(quantity, pint unit or None)`` of a unit string of a stimulus log."""
    from hyperspy_perovskite.units import UnitError, parse_unit

    if not isinstance(units, str):
        raise TypeError(f"units must be a string, got {type(units).__name__}.")
    label = _LABELS.get(units.strip().lower())
    if label is not None:
        return label, None
    text = _log_spelling(units)
    candidates = (
        [_DIMENSION_OF.get(quantity, quantity)] if quantity else list(_MATCH_ORDER)
    )
    for q in candidates:
        if q in _LABELS.values():
            continue
        try:
            return q, parse_unit(text, expected=_pint_unit(q), name="units")
        except UnitError:
            continue
    if quantity is not None:
        raise ValueError(
            f"Unit {units!r} does not measure {quantity}; give a unit of "
            f"{quantity} (canonical {QUANTITIES[quantity]!r})."
        )
    raise ValueError(
        f"Unknown unit {units!r}: not a unit of any stimulus quantity "
        f"({', '.join(f'{q} [{QUANTITIES[q]}]' for q in _MATCH_ORDER)}). "
        "Pass the units explicitly (units={channel: unit})."
    )


def canonical_unit(quantity):
    """Return the canonical unit of a stimulus quantity.

    Parameters
    ----------
    quantity : str
        One of :data:`QUANTITIES`.

    Returns
    -------
    str

    Examples
    --------
    >>> from hyperspy_perovskite.stimulus.schema import canonical_unit
    >>> canonical_unit("pressure")
    'Pa'
    """
    if quantity not in QUANTITIES:
        raise ValueError(
            f"Unknown stimulus quantity {quantity!r}; use one of {sorted(QUANTITIES)}."
        )
    return QUANTITIES[quantity]


def quantity_of_unit(units):
    """Return the quantity a unit measures, e.g. ``"mV" -> "voltage"``.

    A bare ``"A"`` is a current, a length a wavelength (the only lengths of a
    stimulus record).
    """
    return _lookup_unit(units)[0]


def to_canonical(values, units, quantity=None):
    """Convert values to the canonical unit of their quantity.

    Units are read by :func:`hyperspy_perovskite.units.parse_unit` (pint
    through HyperSpy's registry), with the spellings of holder logs
    (``"Degrees C"``, ``"Amps"``, ``"Milliseconds"``, ``"Torr"``); ``"A"`` is
    an ampere unless ``quantity`` asks for a length-based unit (a dose rate in
    ``"e/A^2/s"`` is per square angstrom).

    Parameters
    ----------
    values : float or array-like
    units : str
        Unit of ``values`` (e.g. ``"mV"``, ``"Torr"``, ``"Milliseconds"``).
    quantity : str, optional
        Expected quantity; a unit of another dimension raises.

    Returns
    -------
    values : numpy.ndarray or float
        In the canonical unit.
    quantity : str
    canonical : str
        The canonical unit.

    Examples
    --------
    >>> from hyperspy_perovskite.stimulus.schema import to_canonical
    >>> to_canonical(1500.0, "Milliseconds")
    (1.5, 'time', 's')
    >>> round(to_canonical(300.0, "K", "temperature")[0], 2)
    26.85
    >>> to_canonical(0.05, "e/nm^2/s", "dose_rate")[0]
    0.0005
    """
    from hyperspy_perovskite.units import parse_unit, ureg

    if quantity is not None:
        canonical_unit(quantity)
    found, unit = _lookup_unit(units, quantity)
    if quantity is None:
        quantity = found
    elif _DIMENSION_OF.get(quantity, quantity) != found:
        raise ValueError(
            f"Unit {units!r} measures {found}, not {quantity}; give a unit of "
            f"{quantity} (canonical {QUANTITIES[quantity]!r})."
        )
    scalar = np.ndim(values) == 0
    v = np.asarray(values, dtype=float)
    if unit is not None:
        target = parse_unit(_pint_unit(quantity), expected=_pint_unit(quantity))
        v = np.asarray(ureg.Quantity(v, unit).to(target).magnitude, dtype=float)
    out = float(v) if scalar else v
    return out, quantity, QUANTITIES[quantity]


def _check_signal(signal):
    from hyperspy.signal import BaseSignal

    if not isinstance(signal, BaseSignal):
        raise TypeError(
            f"Expected a HyperSpy signal, got {type(signal).__name__}. Load the "
            "data with hs.load or wrap the array with hs.signals.Signal2D."
        )


def set_bias_condition(
    signal,
    mode,
    voltage=None,
    current=None,
    polarity="forward",
    duration=None,
    anode=None,
    cathode=None,
    start_time=None,
    voltage_units="V",
    current_units="A",
    duration_units="s",
):
    """Write ``metadata.Stimulus.Bias_condition`` (in place).

    Parameters
    ----------
    signal : hyperspy.signal.BaseSignal
        The signal to annotate (its metadata is modified in place: annotation
        is the purpose of this function).
    mode : {"potentiostatic", "galvanostatic"}
        Constant voltage (potentiostatic) or constant current (galvanostatic).
    voltage : float, optional
        Voltage set-point; required for ``"potentiostatic"``.
    current : float, optional
        Current set-point; required for ``"galvanostatic"``.
    polarity : {"forward", "reverse"}
        Forward bias drives the device as a diode/LED in its working direction.
    duration : float, optional
        How long the bias was held.
    anode, cathode : str, optional
        Names of the electrodes (e.g. ``"ITO"``, ``"Au"``).
    start_time : float, optional
        Switch-on time on the frame time axis, in s.
    voltage_units, current_units, duration_units : str
        Units of the values given; stored converted to V, A and s.

    Examples
    --------
    >>> from hyperspy_perovskite.stimulus import set_bias_condition, get_bias_condition
    >>> s = hs.signals.Signal2D(np.zeros((2, 4, 4)))
    >>> set_bias_condition(s, "potentiostatic", voltage=1.0, duration=300,
    ...                    anode="ITO", cathode="Au")
    >>> get_bias_condition(s)["voltage"]
    1.0
    """
    _check_signal(signal)
    if mode not in ("potentiostatic", "galvanostatic"):
        raise ValueError(
            f"mode must be 'potentiostatic' (constant voltage) or 'galvanostatic' "
            f"(constant current), got {mode!r}."
        )
    if polarity not in ("forward", "reverse"):
        raise ValueError(f"polarity must be 'forward' or 'reverse', got {polarity!r}.")
    if mode == "potentiostatic" and voltage is None:
        raise ValueError("A potentiostatic condition needs the voltage set-point.")
    if mode == "galvanostatic" and current is None:
        raise ValueError("A galvanostatic condition needs the current set-point.")
    for name, val in (
        ("voltage", voltage),
        ("current", current),
        ("duration", duration),
        ("start_time", start_time),
    ):
        if val is not None and not np.isfinite(np.asarray(val, dtype=float)).all():
            raise ValueError(f"{name} must be a finite number, got {val!r}.")
    if duration is not None and float(duration) < 0:
        raise ValueError(f"duration must be >= 0, got {duration!r}.")
    for name, val in (("anode", anode), ("cathode", cathode)):
        if val is not None and not isinstance(val, str):
            raise TypeError(f"{name} must be a string (electrode name), got {val!r}.")
    if voltage is not None:
        voltage = to_canonical(float(voltage), voltage_units, "voltage")[0]
    if current is not None:
        current = to_canonical(float(current), current_units, "current")[0]
    if duration is not None:
        duration = to_canonical(float(duration), duration_units, "time")[0]
    node = "Stimulus.Bias_condition"
    md = signal.metadata
    if md.has_item(node):
        md.Stimulus.Bias_condition.__init__({})
    md.set_item(f"{node}.mode", mode)
    md.set_item(f"{node}.voltage", voltage)
    md.set_item(f"{node}.voltage_units", "V")
    md.set_item(f"{node}.current", current)
    md.set_item(f"{node}.current_units", "A")
    md.set_item(f"{node}.polarity", polarity)
    md.set_item(f"{node}.duration", duration)
    md.set_item(f"{node}.duration_units", "s")
    md.set_item(f"{node}.start_time", None if start_time is None else float(start_time))
    md.set_item(f"{node}.start_time_units", "s")
    md.set_item(f"{node}.anode", anode)
    md.set_item(f"{node}.cathode", cathode)


_BIAS_KEYS = (
    "mode",
    "voltage",
    "voltage_units",
    "current",
    "current_units",
    "polarity",
    "duration",
    "duration_units",
    "start_time",
    "start_time_units",
    "anode",
    "cathode",
)


def get_bias_condition(signal):
    """Return ``metadata.Stimulus.Bias_condition`` as a dict.

    Raises
    ------
    ValueError
        If the signal has no bias condition (call :func:`set_bias_condition`).

    Examples
    --------
    >>> from hyperspy_perovskite.stimulus import set_bias_condition, get_bias_condition
    >>> s = hs.signals.Signal1D(np.zeros(4))
    >>> set_bias_condition(s, "galvanostatic", current=2, current_units="uA")
    >>> get_bias_condition(s)["current"]
    2e-06
    """
    _check_signal(signal)
    node = "Stimulus.Bias_condition"
    if not signal.metadata.has_item(f"{node}.mode"):
        raise ValueError(
            "This signal has no bias condition (metadata.Stimulus.Bias_condition). "
            "Set it with hyperspy_perovskite.stimulus.set_bias_condition(signal, "
            "mode, voltage=..., ...)."
        )
    out = {}
    for key in _BIAS_KEYS:
        out[key] = signal.metadata.get_item(f"{node}.{key}", None)
    return out


def has_record(signal):
    """True if the signal carries a time-resolved stimulus record."""
    _check_signal(signal)
    return signal.metadata.has_item("Stimulus.Record.time")


def get_record(signal):
    """Return the stimulus record as a dict.

    Returns
    -------
    dict
        ``time`` (log clock, s), ``time_offset`` (s), ``source``,
        ``start_datetime`` and ``channels``: name -> dict with ``values``,
        ``values_units``, ``quantity``, ``interpolation`` and the channel's
        own ``time``, ``time_offset`` and ``source`` (those of the record
        unless the channel came from another log).

    Raises
    ------
    ValueError
        If no record is attached (use ``s.attach_stimulus``).
    """
    if not has_record(signal):
        raise ValueError(
            "This signal has no stimulus record (metadata.Stimulus.Record). Attach "
            "one with s.attach_stimulus(source) or "
            "hyperspy_perovskite.stimulus.attach_stimulus(signal, source)."
        )
    rec = signal.metadata.Stimulus.Record
    channels = {}
    for name, node in rec.Channels:
        channels[name] = {
            "values": np.asarray(node.values, dtype=float),
            "values_units": node.values_units,
            "quantity": node.quantity,
            "interpolation": node.interpolation,
            # a channel added from another log has its own clock and source
            "time": np.asarray(node.get_item("time", rec.time), dtype=float),
            "time_offset": float(
                node.get_item("time_offset", rec.get_item("time_offset", 0.0))
            ),
            "source": node.get_item("source", rec.get_item("source", "")),
        }
    return {
        "time": np.asarray(rec.time, dtype=float),
        "time_offset": float(rec.get_item("time_offset", 0.0)),
        "source": rec.get_item("source", ""),
        "start_datetime": rec.get_item("start_datetime", ""),
        "channels": channels,
    }


def bias_switch_on_time(signal, channel=None, threshold=None):
    """Time (on the frame time axis, s) at which the bias was switched on.

    Read from the stimulus record when one is attached: the first log time at
    which ``|channel|`` reaches ``threshold`` (default: half of the set-point
    of the bias condition if set, else half of the channel's maximum absolute
    value). For a ``"linear"`` (measured) channel the crossing is
    interpolated between the two bracketing log entries; for a ``"hold"``
    (set-point) channel it is the time of the first entry that reaches it.
    Without a record, ``Bias_condition.start_time`` is returned.

    Parameters
    ----------
    signal : hyperspy.signal.BaseSignal
    channel : str, optional
        Record channel to read; default the first ``voltage`` channel
        (``current`` for a galvanostatic condition).
    threshold : float, optional
        Absolute value (canonical units) that marks "on".

    Returns
    -------
    float

    Examples
    --------
    >>> from hyperspy_perovskite.stimulus import attach_stimulus, bias_switch_on_time
    >>> s = hs.signals.Signal2D(np.zeros((10, 4, 4)))
    >>> s.axes_manager[0].scale = 1.0
    >>> s.axes_manager[0].units = "s"
    >>> t = np.arange(0.0, 10.0, 0.5)
    >>> v = np.where(t >= 3.0, 1.0, 0.0)
    >>> s = attach_stimulus(s, {"time": t, "Bias": (v, "V")})
    >>> bias_switch_on_time(s)
    2.75
    """
    _check_signal(signal)
    bias = None
    if signal.metadata.has_item("Stimulus.Bias_condition.mode"):
        bias = get_bias_condition(signal)
    if not has_record(signal):
        if bias is not None and bias["start_time"] is not None:
            return float(bias["start_time"])
        raise ValueError(
            "No stimulus record and no Bias_condition.start_time: attach a log "
            "with s.attach_stimulus(...) or give start_time to set_bias_condition."
        )
    rec = get_record(signal)
    want = (
        "current" if bias is not None and bias["mode"] == "galvanostatic" else "voltage"
    )
    if channel is None:
        names = [n for n, c in rec["channels"].items() if c["quantity"] == want]
        if not names:
            raise ValueError(
                f"The stimulus record has no {want} channel; pass channel= one of "
                f"{list(rec['channels'])}."
            )
        channel = names[0]
    if channel not in rec["channels"]:
        raise ValueError(
            f"No channel {channel!r} in the stimulus record; available: "
            f"{list(rec['channels'])}."
        )
    v = np.abs(rec["channels"][channel]["values"])
    t = rec["channels"][channel]["time"] + rec["channels"][channel]["time_offset"]
    if threshold is None:
        setpoint = None
        if bias is not None:
            setpoint = bias["voltage"] if want == "voltage" else bias["current"]
        ref = abs(setpoint) if setpoint else np.nanmax(v)
        threshold = 0.5 * ref
    if not np.isfinite(threshold) or threshold <= 0:
        raise ValueError(
            f"threshold must be a positive number, got {threshold!r} (is the "
            f"channel {channel!r} all zero?)."
        )
    on = np.nonzero(v >= threshold)[0]
    if on.size == 0:
        raise ValueError(
            f"Channel {channel!r} never reaches {threshold:g}: the bias is never "
            "switched on in this record."
        )
    i = int(on[0])
    if i == 0 or rec["channels"][channel]["interpolation"] == "hold":
        # a held set-point is on from the first entry that reaches it
        return float(t[i])
    # linear crossing between entries i-1 and i
    v0, v1 = v[i - 1], v[i]
    frac = (threshold - v0) / (v1 - v0) if v1 != v0 else 1.0
    return float(t[i - 1] + frac * (t[i] - t[i - 1]))
