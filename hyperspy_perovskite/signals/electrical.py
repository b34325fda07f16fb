"""Electrical logs under bias as signals: resistance, conductance, EL and onsets.

:func:`electrical_log` reads the voltage and current channels of a stimulus
record (a signal with ``metadata.Stimulus.Record``, the dict of
:func:`~hyperspy_perovskite.stimulus.read_stimulus`, a file or a dict it
reads) and returns an :class:`ElectricalLog`: resistance and conductance vs
time, the electroluminescence when given, and their change-point onsets
(:func:`hyperspy_perovskite.analysis.transport.electrical.change_point_onset`)
as a :class:`~hyperspy_perovskite.results.ResultTable`. Times are on the
frame clock of the record (s), with the bias switch-on from the voltage (or
current) channel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hyperspy_perovskite.analysis.transport import electrical as _el
from hyperspy_perovskite.results import ResultTable
from hyperspy_perovskite.units import parse_quantity

__all__ = ["ElectricalLog", "electrical_log"]

_UNITS = {"resistance": "Ω", "conductance": "S", "voltage": "V", "current": "A",
          "el": "counts"}  # fmt: skip


@dataclass
class ElectricalLog:
    """Arrays of one electrical log (time in s, V, A, Ω, S, EL counts).

    ``mode`` is "potentiostatic" (constant voltage: the current is measured)
    or "galvanostatic" (constant current: the voltage is measured);
    ``bias_on`` the time at which the bias reached half its set-point (s).
    Only the samples with the bias on enter ``resistance``/``conductance``
    (NaN elsewhere).
    """

    time: np.ndarray
    voltage: np.ndarray
    current: np.ndarray
    resistance: np.ndarray
    conductance: np.ndarray
    mode: str
    bias_on: float
    el_time: np.ndarray | None = None
    el: np.ndarray | None = None

    def onset(self, quantity="auto", sigma=None, t_range=None, **kwargs):
        """Change-point onset of one trace (dict of
        :func:`~hyperspy_perovskite.analysis.transport.electrical.change_point_onset`).

        Parameters
        ----------
        quantity : {"auto", "resistance", "conductance", "el"}
            "auto": the trace proportional to the MEASURED channel, whose noise
            is uniform: conductance at constant voltage, resistance at
            constant current.
        sigma : float, optional
            Noise std of the trace (its unit); default from the residuals.
        t_range : (float, float), optional
            Times (s) to fit; default from the bias switch-on to the end.
        """
        if quantity == "auto":
            quantity = "conductance" if self.mode == "potentiostatic" else "resistance"
        if quantity not in ("resistance", "conductance", "el"):
            raise ValueError(
                f"quantity must be 'auto', 'resistance', 'conductance' or 'el', got "
                f"{quantity!r}."
            )
        if quantity == "el":
            if self.el is None:
                raise ValueError("This log has no electroluminescence; pass el=.")
            t, y = self.el_time, self.el
        else:
            t, y = self.time, getattr(self, quantity)
        if t_range is None:
            t_range = (self.bias_on, np.inf)
        keep = (t >= t_range[0]) & (t <= t_range[1]) & np.isfinite(y)
        return _el.change_point_onset(t[keep], y[keep], sigma=sigma, **kwargs)

    def onset_table(self, quantities=("auto",), **kwargs):
        """Onsets of several traces as a ResultTable (times in s).

        Examples
        --------
        >>> from hyperspy_perovskite.data.jv_simulation import simulate_electrical_log
        >>> from hyperspy_perovskite.signals.electrical import electrical_log
        >>> d = simulate_electrical_log(seed=0)
        >>> log = electrical_log({"time": d["time"], "Bias": (d["voltage"], "V"),
        ...                       "Current": (d["current"], "A")})
        >>> t = log.onset_table()
        >>> t.index, bool(abs(t["onset"][0] - 80) < 3 * t.std["onset"][0])
        (['conductance'], True)
        """
        rows, cols = [], {k: [] for k in ("onset", "onset_after_bias", "change",
                                           "significant")}  # fmt: skip
        std = {"onset": [], "onset_after_bias": [], "change": []}
        for q in quantities:
            name = (
                q
                if q != "auto"
                else ("conductance" if self.mode == "potentiostatic" else "resistance")
            )
            r = self.onset(q, **kwargs)
            rows.append(name)
            cols["onset"].append(r["onset"])
            cols["onset_after_bias"].append(r["onset"] - self.bias_on)
            cols["change"].append(r["change"])
            cols["significant"].append(r["significant"])
            std["onset"].append(r["onset_std"])
            std["onset_after_bias"].append(r["onset_std"])
            std["change"].append(r["change_std"])
        units = {"onset": "s", "onset_after_bias": "s", "change": "per s",
                 "significant": ""}  # fmt: skip
        return ResultTable(
            cols, units=units, std=std, index=rows, title="Electrical onsets",
            description="Two-segment (hinge) fit, 68 % profile-likelihood interval; "
            f"bias switched on at {self.bias_on:.4g} s; 'change' is the slope "
            "change in the trace's unit per s.",
        )  # fmt: skip

    def to_signals(self):
        """Each trace as a HyperSpy Signal1D on its time axis (s).

        Returns
        -------
        dict of str to hyperspy.signals.Signal1D
        """
        import hyperspy.api as hs

        out = {}
        traces = [(k, self.time, getattr(self, k)) for k in
                  ("voltage", "current", "resistance", "conductance")]  # fmt: skip
        if self.el is not None:
            traces.append(("el", self.el_time, self.el))
        for name, t, y in traces:
            s = hs.signals.Signal1D(
                np.asarray(y, float), axes=[{"axis": t, "units": "s", "name": "time"}]
            )
            s.metadata.General.title = name.capitalize() if name != "el" else "EL"
            label = "Electroluminescence" if name == "el" else name.capitalize()
            s.metadata.Signal.quantity = f"{label} ({_UNITS[name]})"
            out[name] = s
        return out


def _record(source):
    from hyperspy.signal import BaseSignal

    from hyperspy_perovskite.stimulus import get_record, read_stimulus

    if isinstance(source, BaseSignal) and source.metadata.has_item("Stimulus.Record"):
        rec = get_record(source)
    elif isinstance(source, dict) and "channels" in source:
        rec = dict(source)
        rec.setdefault("time_offset", 0.0)
    else:
        rec = read_stimulus(source)
        rec.setdefault("time_offset", 0.0)
    return rec


def _channel(rec, name, quantity):
    chans = rec["channels"]
    if name is not None:
        if name not in chans:
            raise ValueError(f"No channel {name!r}; the record has {list(chans)}.")
        return chans[name]["values"]
    found = [n for n, c in chans.items() if c["quantity"] == quantity]
    if not found:
        raise ValueError(
            f"The record has no {quantity} channel (channels: {list(chans)}); name "
            f"it with {quantity}_channel= or add it with units."
        )
    return chans[found[0]]["values"]


def electrical_log(
    source, *, voltage_channel=None, current_channel=None, el=None, mode=None
):
    """Resistance, conductance (and EL) vs time from a voltage/current log.

    Parameters
    ----------
    source : signal, dict, str or path
        A signal with an attached stimulus record, a record dict (from
        :func:`~hyperspy_perovskite.stimulus.read_stimulus`), or anything
        ``read_stimulus`` reads (file, ``{"time": t, "Bias": (v, "V"),
        "Current": (i, "uA")}``). Voltage and current channels are found by
        their units.
    voltage_channel, current_channel : str, optional
        Channel names, when several of a kind.
    el : (array, array) or Signal1D, optional
        Electroluminescence: ``(time in s, intensity)`` or a Signal1D on a
        time axis.
    mode : {None, "potentiostatic", "galvanostatic"}
        None: the channel with the smaller relative spread is the set-point.

    Returns
    -------
    ElectricalLog

    Examples
    --------
    >>> from hyperspy_perovskite.signals.electrical import electrical_log
    >>> t = np.arange(0.0, 10.0)
    >>> log = electrical_log({"time": t, "Bias": (np.ones(10), "V"),
    ...                       "Current": (np.full(10, 50.0), "uA")})
    >>> log.mode, float(log.resistance[0])
    ('potentiostatic', 20000.0)
    """
    rec = _record(source)
    t = np.asarray(rec["time"], float) + float(rec.get("time_offset", 0.0))
    v = np.asarray(_channel(rec, voltage_channel, "voltage"), float)
    i = np.asarray(_channel(rec, current_channel, "current"), float)
    on = (np.abs(v) > 0.05 * np.nanmax(np.abs(v))) & (
        np.abs(i) > 0.05 * np.nanmax(np.abs(i))
    )
    if not on.any():
        raise ValueError("Voltage and current are never both on in this log.")
    if mode is None:
        spread = [np.nanstd(x[on]) / abs(np.nanmean(x[on])) for x in (v, i)]
        mode = "potentiostatic" if spread[0] <= spread[1] else "galvanostatic"
    if mode not in ("potentiostatic", "galvanostatic"):
        raise ValueError(
            f"mode must be 'potentiostatic' or 'galvanostatic', got {mode!r}."
        )
    setpoint = v if mode == "potentiostatic" else i
    half = 0.5 * np.nanmax(np.abs(setpoint))
    bias_on = float(t[np.argmax(np.abs(setpoint) >= half)])
    r, _ = _el.resistance(np.where(on, v, np.nan), i)
    g, _ = _el.conductance(np.where(on, v, np.nan), i)
    el_t = el_y = None
    if el is not None:
        if hasattr(el, "axes_manager"):
            ax = el.axes_manager.signal_axes[0]
            el_t = ax.axis * parse_quantity(f"1 {ax.units}", "s", name="EL time axis")
            el_y = np.asarray(el.data, float)
        else:
            el_t, el_y = (np.asarray(x, float) for x in el)
    return ElectricalLog(t, v, i, r, g, mode, bias_on, el_t, el_y)
