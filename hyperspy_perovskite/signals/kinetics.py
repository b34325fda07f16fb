"""Fit crystallinity kinetics to time traces (signal level).

:func:`fit_kinetics` fits :class:`~hyperspy_perovskite.components.CrystallinityJMAK`
(plus an ``Offset`` for the residual crystalline level) to any ``Signal1D``
on a time axis: an {hkl} family intensity from
:meth:`~hyperspy_perovskite.signals.insitu_diffraction.InSituSAEDSeries.hkl_intensities`,
a lattice-fringe power trace, a crystallinity map per tile. All navigation
positions are fitted at once by
:func:`~hyperspy_perovskite.fitting.fast_multifit`; the onset is reported
against the bias switch-on of the stimulus record
(:func:`~hyperspy_perovskite.stimulus.bias_switch_on_time`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from hyperspy.signal import BaseSignal

from hyperspy_perovskite.analysis.kinetics import estimate_jmak, profile_onset
from hyperspy_perovskite.units import axis_factor, parse_quantity

__all__ = ["KineticsResult", "fit_kinetics"]

#: Traces up to this many get the profile-likelihood onset uncertainty by
#: default (each costs about 20 constrained refits).
PROFILE_MAX_TRACES = 64


@dataclass
class KineticsResult:
    """Fitted kinetics of one or many traces (arrays shaped like the navigation).

    Times are in seconds whatever the unit of the trace's time axis (s, ms,
    min, h: ``time_units`` is always ``"s"``); ``rate`` in 1/s. ``*_std`` are
    one-standard-deviation uncertainties from the fit covariance, except
    ``onset_std``: half the 68 % profile-likelihood interval
    (``onset_interval``) when ``onset_method == "profile"`` (the JMAK law
    has a kink at the onset, where the covariance is not a good guide).
    ``onset_after_bias`` is ``onset - bias_on`` (None without a bias time);
    ``onset_before_stimulus`` flags onsets significantly (beyond their
    interval) before the stimulus switch-on. ``half_time`` is when half of
    the decaying part is gone, ``onset + ln(2)^(1/n) / rate``. ``converged``
    is False where the engine flagged the fit
    (see :mod:`hyperspy_perovskite.fitting.flags`).
    """

    model: object
    time_units: str
    rate: np.ndarray
    rate_std: np.ndarray
    avrami_n: np.ndarray
    avrami_n_std: np.ndarray
    onset: np.ndarray
    onset_std: np.ndarray
    amplitude: np.ndarray
    amplitude_std: np.ndarray
    residual: np.ndarray
    residual_std: np.ndarray
    half_time: np.ndarray
    reduced_chisq: np.ndarray
    converged: np.ndarray
    first_order: bool
    bias_on: float | None
    onset_after_bias: np.ndarray | None
    onset_interval: np.ndarray | None = None
    onset_method: str = "covariance"
    onset_before_stimulus: np.ndarray | None = None

    def table(self, title="JMAK kinetics"):
        """The fitted parameters as a :class:`~hyperspy_perovskite.results.ResultTable`.

        One row per trace (navigation position, flattened), times in s.
        """
        from hyperspy_perovskite.results import ResultTable

        def col(a):
            return np.atleast_1d(np.asarray(a, dtype=float)).ravel()

        cols = {
            "onset": col(self.onset),
            "rate": col(self.rate),
            "avrami_n": col(self.avrami_n),
            "amplitude": col(self.amplitude),
            "residual": col(self.residual),
            "half_time": col(self.half_time),
            "reduced_chisq": col(self.reduced_chisq),
            "converged": np.atleast_1d(self.converged).ravel(),
        }
        if self.onset_after_bias is not None:
            cols["onset_after_bias"] = col(self.onset_after_bias)
            cols["onset_before_stimulus"] = np.atleast_1d(
                self.onset_before_stimulus
            ).ravel()
        std = {
            "onset": col(self.onset_std),
            "rate": col(self.rate_std),
            "avrami_n": col(self.avrami_n_std),
            "amplitude": col(self.amplitude_std),
            "residual": col(self.residual_std),
        }
        units = {"onset": "s", "rate": "1/s", "half_time": "s", "onset_after_bias": "s"}
        return ResultTable(
            cols,
            units=units,
            std=std,
            title=title,
            description=f"onset uncertainty: {self.onset_method}",
        )

    def to_dict(self):
        """JSON-friendly summary (lists and floats)."""
        out = {}
        for k, v in self.__dict__.items():
            if k == "model":
                continue
            if isinstance(v, np.ndarray):
                v = v.tolist()
            elif isinstance(v, np.generic):
                v = v.item()
            out[k] = v
        return out


def _param(par, nav_shape):
    if nav_shape == ():
        return np.asarray(par.value, float), np.asarray(
            np.nan if par.std is None else par.std, float
        )
    return par.map["values"].copy(), par.map["std"].copy()


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
    KineticsResult

    Raises
    ------
    TypeError
        If ``trace`` is not a one-dimensional signal.
    ValueError
        Fewer than 6 time points, non-finite data or a bad ``time_range``.
    hyperspy_perovskite.units.UnitError
        A time axis without a time unit.

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
    from hyperspy.api import model as hs_model

    from hyperspy_perovskite.components import CrystallinityJMAK
    from hyperspy_perovskite.fitting import fast_multifit, flags

    if not isinstance(trace, BaseSignal) or trace.axes_manager.signal_dimension != 1:
        raise TypeError(
            "trace must be a Signal1D whose signal axis is time, e.g. "
            "s.hkl_intensities(...) or a fringe-power trace; got "
            f"{type(trace).__name__}."
        )
    trace, axis_units = _in_seconds(trace)
    ax = trace.axes_manager.signal_axes[0]
    units = "s"
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
    data = trace.data[..., i1 : i2 + 1]
    data = np.asarray(data.compute() if hasattr(data, "compute") else data, float)
    if not np.all(np.isfinite(data)):
        raise ValueError(
            "The trace holds NaN or inf values; remove or interpolate them."
        )
    if i2 - i1 + 1 < 6:
        raise ValueError("time_range holds fewer than 6 points.")

    m = trace.create_model()
    c = CrystallinityJMAK(first_order=first_order)
    c.t0.bmin = float(t[0] - (t[-1] - t[0]))
    c.t0.bmax = float(t[-1])
    comps = [c]
    off = None
    if residual:
        off = hs_model.components1D.Offset()
        comps.append(off)
    m.extend(comps)
    if (lo, hi) != (t[0], t[-1]):
        m.set_signal_range(lo, hi)
    nav_shape = trace.axes_manager.navigation_shape[::-1]
    c.estimate_parameters(trace, lo, hi, only_current=nav_shape == ())
    est = estimate_jmak(t[i1 : i2 + 1], data)
    if not residual:
        # no residual level: the whole final level belongs to the decay
        amp = est["A"] + est["residual"]
        if nav_shape == ():
            c.A.value = float(amp)
        else:
            c.A.map["values"][:] = amp
    else:
        if nav_shape == ():
            off.offset.value = float(est["residual"])
        else:
            off._create_arrays()
            off.offset.map["values"][:] = est["residual"]
            off.offset.map["is_set"][:] = True
    if nav_shape != ():
        for comp in comps:
            comp.fetch_stored_values()

    res = fast_multifit(
        m,
        starting_values="current",
        bounded=True,
        max_iterations=max_iterations,
        show_progressbar=show_progressbar,
    )
    conv = np.asarray(res.convergence.data)
    converged = conv == flags.CONVERGED
    rchi = np.asarray(res.reduced_chisq.data, float)
    if nav_shape == ():
        converged = converged.reshape(())
        rchi = rchi.reshape(())
        m.fetch_stored_values()
    k, ks = _param(c.k, nav_shape)
    n, ns = _param(c.n, nav_shape)
    t0, t0s = _param(c.t0, nav_shape)
    A, As = _param(c.A, nav_shape)
    if first_order:
        ns = np.zeros_like(n)
    if off is not None:
        R, Rs = _param(off.offset, nav_shape)
    else:
        R, Rs = np.zeros_like(A), np.zeros_like(A)
    with np.errstate(divide="ignore", invalid="ignore"):
        half = t0 + np.log(2.0) ** (1.0 / n) / k
    b = None
    if isinstance(bias_on, str) and bias_on != "auto":
        try:
            bias_on = parse_quantity(
                bias_on, "s", name="bias_on", default_unit=axis_units
            )
        except ValueError:
            pass
    if isinstance(bias_on, str):
        if bias_on != "auto":
            raise ValueError(
                f"bias_on must be 'auto', a time or None, got {bias_on!r}."
            )
        from hyperspy_perovskite.stimulus.schema import bias_switch_on_time

        try:
            b = float(bias_switch_on_time(trace))
        except (ValueError, AttributeError, KeyError):
            b = None
    elif bias_on is not None:
        b = parse_quantity(bias_on, "s", name="bias_on", default_unit=axis_units)
    interval, method = _onset_interval(
        t[i1 : i2 + 1],
        data,
        (A, k, n, t0, R),
        first_order,
        residual,
        onset_uncertainty,
    )
    if interval is not None:
        t0s = (interval[..., 1] - interval[..., 0]) / 2
    before = None
    if b is not None:
        upper = interval[..., 1] if interval is not None else t0 + t0s
        before = np.asarray(upper < b)
        if np.any(before):
            warnings.warn(
                f"{int(np.sum(before))} fitted onset(s) lie before the stimulus "
                f"switch-on at {b:g} s beyond their uncertainty: a change that "
                "precedes the stimulus (beam damage, drift, an earlier event) or a "
                "wrong time offset of the stimulus record. See "
                "result.onset_before_stimulus.",
                UserWarning,
                stacklevel=2,
            )
    return KineticsResult(
        model=m,
        time_units=units,
        rate=k,
        rate_std=ks,
        avrami_n=n,
        avrami_n_std=ns,
        onset=t0,
        onset_std=t0s,
        amplitude=A,
        amplitude_std=As,
        residual=R,
        residual_std=Rs,
        half_time=half,
        reduced_chisq=rchi,
        converged=converged,
        first_order=bool(first_order),
        bias_on=b,
        onset_after_bias=None if b is None else t0 - b,
        onset_interval=interval,
        onset_method=method,
        onset_before_stimulus=before,
    )


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


def _onset_interval(t, data, params, first_order, residual, mode):
    """Profile-likelihood 68 % intervals of the onsets, or None."""
    if mode not in ("auto", "profile", "covariance"):
        raise ValueError(
            f"onset_uncertainty must be 'auto', 'profile' or 'covariance', got {mode!r}."
        )
    n_traces = int(np.prod(data.shape[:-1]))
    if mode == "covariance" or (mode == "auto" and n_traces > PROFILE_MAX_TRACES):
        return None, "covariance"
    flat = data.reshape(n_traces, -1)
    A, k, n, t0, R = (np.broadcast_to(p, data.shape[:-1]).ravel() for p in params)
    out = np.full((n_traces, 2), np.nan)
    for i in range(n_traces):
        if not np.all(np.isfinite([A[i], k[i], n[i], t0[i], R[i]])):
            continue
        lo, hi, _ = profile_onset(
            t,
            flat[i],
            dict(A=A[i], k=k[i], n=n[i], t0=t0[i], residual=R[i]),
            first_order=first_order,
            residual=residual,
        )
        out[i] = lo, hi
    return out.reshape(data.shape[:-1] + (2,)), "profile"
