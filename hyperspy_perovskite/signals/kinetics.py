"""Fit crystallinity kinetics to time traces (signal level).

:func:`fit_kinetics` fits :class:`~hyperspy_perovskite.components.CrystallinityJMAK`
(plus an ``Offset`` for the residual crystalline level) to any ``Signal1D``
on a time axis: an {hkl} family intensity from
:meth:`~hyperspy_perovskite.signals.insitu_diffraction.InSituSAEDSeries.hkl_intensities`,
a lattice-fringe power trace, a crystallinity map per tile. All navigation
positions are fitted at once by
:func:`~hyperspy_perovskite.fitting.fast_multifit`; the onset is reported
against the bias switch-on of the stimulus record
(:func:`~hyperspy_perovskite.stimulus.bias_switch_on_time`). The result is a
:class:`~hyperspy_perovskite.models.KineticsModel` (the fit, its onset
intervals, flags and validity, kept through save and restore).
"""

from __future__ import annotations

import warnings

import numpy as np
from hyperspy.signal import BaseSignal

from hyperspy_perovskite.analysis.kinetics import (
    estimate_jmak,
    profile_onset_intervals,
)
from hyperspy_perovskite.models.kinetics import KineticsModel
from hyperspy_perovskite.units import axis_factor, parse_quantity

__all__ = ["KineticsModel", "KineticsResult", "fit_kinetics"]

#: Traces up to this many get the profile-likelihood onset uncertainty by
#: default (each costs about 20 constrained refits).
PROFILE_MAX_TRACES = 64

#: The result of :func:`fit_kinetics` (earlier versions returned a dataclass
#: of this name with the same attributes).
KineticsResult = KineticsModel


def fit_kinetics(
    trace,
    first_order=False,
    residual=True,
    time_range=None,
    bias_on="auto",
    max_iterations=200,
    show_progressbar=None,
    onset_uncertainty="auto",
):
    """Fit JMAK (or first-order) crystallinity decay to time traces.

    Parameters
    ----------
    trace : hyperspy.signals.Signal1D
        Signal axis = time in any time unit (s, ms, min, h; an axis without
        a time unit is refused); any navigation shape. Results are in s.
    first_order : bool
        Fix the Avrami exponent ``n = 1`` (first-order decay).
    residual : bool
        Fit a constant residual level (an ``Offset`` component).
    time_range : (float or str, float or str) or None
        Fitted time range; plain numbers in the axis unit, strings with a
        unit (``"2 min"``); default all.
    bias_on : "auto", float, str or None
        Bias switch-on time (plain number in the axis unit); "auto" reads it
        from the trace's stimulus record (or bias condition) when there is
        one, else None.
    max_iterations : int
    show_progressbar : bool or None
    onset_uncertainty : {"auto", "profile", "covariance"}
        "profile": 68 % profile-likelihood interval of every onset (about 20
        refits per trace; calibrated: pulls of standard deviation ~1 on
        repeated simulations); "covariance": the fit covariance; "auto":
        profile for up to :data:`PROFILE_MAX_TRACES` traces.

    Returns
    -------
    KineticsModel
        The fitted model (signal: the trace with its time axis in s), with
        ``onset``, ``onset_std``, ``onset_interval``, ``rate``, ...,
        ``table()`` and ``validity``; ``m.store()`` keeps all of them.

    Raises
    ------
    TypeError
        If ``trace`` is not a one-dimensional signal.
    ValueError
        Fewer than 6 time points, non-finite data or a bad ``time_range``.
    hyperspy_perovskite.units.UnitError
        A time axis without a time unit.

    Notes
    -----
    The variance in ``metadata.Signal.Noise_properties.variance`` (e.g. of
    :meth:`~hyperspy_perovskite.signals.InSituImageSeries.fringe_intensity`)
    weights the fit and the profile of the onset: fringe power is noisier
    while the fringes are there (signal-noise cross term), and uniform
    weights then bias the onset and understate its uncertainty.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.kinetics import jmak
    >>> from hyperspy_perovskite.signals.kinetics import fit_kinetics
    >>> t = np.arange(0, 300, 5.0)
    >>> rng = np.random.default_rng(1)
    >>> s = hs.signals.Signal1D(jmak(t, 8.0, 0.02, 2.0, 60.0, 2.0) + rng.normal(0, 0.05, t.size))
    >>> s.axes_manager[-1].scale, s.axes_manager[-1].units = 5.0, "s"
    >>> r = fit_kinetics(s, bias_on=30.0)
    >>> round(float(r.onset), 0), round(float(r.avrami_n), 1), round(float(r.onset_after_bias), 0)
    (60.0, 2.0, 30.0)
    """
    from hyperspy_perovskite.fitting import fast_multifit

    if not isinstance(trace, BaseSignal) or trace.axes_manager.signal_dimension != 1:
        raise TypeError(
            "trace must be a Signal1D whose signal axis is time, e.g. "
            "s.hkl_intensities(...) or a fringe-power trace; got "
            f"{type(trace).__name__}."
        )
    trace, axis_units = _in_seconds(trace)
    t, lo, hi, i1, i2 = _time_window(trace, time_range, axis_units)
    data = _as_float(trace.data[..., i1 : i2 + 1])
    if not np.all(np.isfinite(data)):
        raise ValueError(
            "The trace holds NaN or inf values; remove or interpolate them."
        )
    m = KineticsModel(trace, first_order=first_order, residual=residual)
    c = m.jmak
    c.t0.bmin = float(t[0] - (t[-1] - t[0]))
    c.t0.bmax = float(t[-1])
    if (lo, hi) != (t[0], t[-1]):
        m.set_signal_range(lo, hi)
    _starting_values(m, trace, t[i1 : i2 + 1], data, lo, hi)
    fast_multifit(
        m,
        starting_values="current",
        bounded=True,
        max_iterations=max_iterations,
        show_progressbar=show_progressbar,
    )
    if m._nav_shape() == ():
        m.fetch_stored_values()
    b = _bias_time(trace, bias_on, axis_units)
    params = (m.amplitude, m.rate, m.avrami_n, m.onset, m.residual)
    sigma = _trace_sigma(trace, data.shape, i1, i2)
    interval, method = _onset_interval(
        t[i1 : i2 + 1], data, params, first_order, residual, onset_uncertainty, sigma
    )
    m._set_onset_info(interval, method, b)
    before = m.onset_before_stimulus
    if before is not None and np.any(before):
        warnings.warn(
            f"{int(np.sum(before))} fitted onset(s) lie before the stimulus "
            f"switch-on at {b:g} s beyond their uncertainty: a change that "
            "precedes the stimulus (beam damage, drift, an earlier event) or a "
            "wrong time offset of the stimulus record. See "
            "result.onset_before_stimulus.",
            UserWarning,
            stacklevel=2,
        )
    return m


def _as_float(data):
    return np.asarray(data.compute() if hasattr(data, "compute") else data, float)


def _time_window(trace, time_range, axis_units):
    """Times (s), fitted range (s) and its indices; checks the range."""
    ax = trace.axes_manager.signal_axes[0]
    if ax.size < 6:
        raise ValueError(f"Need at least 6 time points, the trace has {ax.size}.")
    t = ax.axis
    if time_range is None:
        lo, hi = t[0], t[-1]
    else:
        lo, hi = (
            parse_quantity(v, "s", name="time_range", default_unit=axis_units)
            for v in time_range
        )
    if not lo < hi or hi < t[0] or lo > t[-1]:
        raise ValueError(
            f"time_range {time_range} must be increasing and overlap the axis "
            f"[{t[0]}, {t[-1]}] s."
        )
    i1, i2 = ax.value_range_to_indices(lo, hi)
    if i2 - i1 + 1 < 6:
        raise ValueError("time_range holds fewer than 6 points.")
    return t, lo, hi, i1, i2


def _starting_values(m, trace, t, data, lo, hi):
    """JMAK estimates of every trace into the model's parameter maps."""
    c, off = m.jmak, m.offset
    scalar = m._nav_shape() == ()
    c.estimate_parameters(trace, lo, hi, only_current=scalar)
    est = estimate_jmak(t, data)
    if off is None:
        # no residual level: the whole final level belongs to the decay
        amp = est["A"] + est["residual"]
        if scalar:
            c.A.value = float(amp)
        else:
            c.A.map["values"][:] = amp
    elif scalar:
        off.offset.value = float(est["residual"])
    else:
        off._create_arrays()
        off.offset.map["values"][:] = est["residual"]
        off.offset.map["is_set"][:] = True
    if not scalar:
        for comp in m:
            comp.fetch_stored_values()


def _bias_time(trace, bias_on, axis_units):
    """Stimulus switch-on time in s, or None."""
    if isinstance(bias_on, str) and bias_on != "auto":
        try:
            return parse_quantity(bias_on, "s", name="bias_on", default_unit=axis_units)
        except ValueError:
            raise ValueError(
                f"bias_on must be 'auto', a time or None, got {bias_on!r}."
            ) from None
    if isinstance(bias_on, str):
        from hyperspy_perovskite.stimulus.schema import bias_switch_on_time

        try:
            return float(bias_switch_on_time(trace))
        except (ValueError, AttributeError, KeyError):
            return None
    if bias_on is None:
        return None
    return parse_quantity(bias_on, "s", name="bias_on", default_unit=axis_units)


def _trace_sigma(trace, shape, i1, i2):
    """Standard deviation of every fitted point from the noise variance, or None."""
    var = trace.metadata.get_item("Signal.Noise_properties.variance")
    if var is None:
        return None
    v = var.data if isinstance(var, BaseSignal) else var
    v = np.broadcast_to(_as_float(v), trace.data.shape)[..., i1 : i2 + 1]
    if not np.all(np.isfinite(v) & (v > 0)):
        return None
    return np.sqrt(np.broadcast_to(v, shape))


def _in_seconds(trace):
    """The trace (data shared) with its time axis converted to s."""
    ax = trace.axes_manager.signal_axes[0]
    factor = axis_factor(ax, "s", name="time")
    units = str(ax.units)
    if factor == 1.0 and units == "s":
        return trace, units
    out = trace._deepcopy_with_new_data(trace.data)
    var = trace.metadata.get_item("Signal.Noise_properties.variance")
    if var is not None:  # the weights of the fit (not copied above)
        out.metadata.set_item("Signal.Noise_properties.variance", var)
    oax = out.axes_manager.signal_axes[0]
    if oax.is_uniform:
        oax.scale, oax.offset = oax.scale * factor, oax.offset * factor
    else:
        oax.axis = np.asarray(oax.axis) * factor
    oax.units = "s"
    return out, units


def _onset_interval(t, data, params, first_order, residual, mode, sigma=None):
    """Profile-likelihood 68 % intervals of the onsets, or None."""
    if mode not in ("auto", "profile", "covariance"):
        raise ValueError(
            f"onset_uncertainty must be 'auto', 'profile' or 'covariance', got {mode!r}."
        )
    n_traces = int(np.prod(data.shape[:-1]))
    if mode == "covariance" or (mode == "auto" and n_traces > PROFILE_MAX_TRACES):
        return None, "covariance"
    intervals = profile_onset_intervals(t, data, params, first_order, residual, sigma)
    return intervals, "profile"
