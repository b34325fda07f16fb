"""Domain model of crystallinity kinetics: JMAK fits of time traces.

:class:`KineticsModel` is the one shape of a kinetics result: a HyperSpy
model (a :class:`~hyperspy_perovskite.models.PerovskiteModel1D`) holding a
:class:`~hyperspy_perovskite.components.CrystallinityJMAK` and, for a
residual crystalline level, an ``Offset``. Besides the parameter maps it
keeps what the fit found about the onset (its profile-likelihood interval,
the stimulus switch-on time and the "onset before the stimulus" flags) with
the model, so ``m.store()``, ``s.models.restore`` and ``hs.load`` of
``.hspy`` / ``.zspy`` files give the same onsets, intervals, flags and
validity back. :func:`hyperspy_perovskite.signals.kinetics.fit_kinetics`
builds and fits it.
"""

from __future__ import annotations

import numpy as np

from hyperspy_perovskite.models.base import PerovskiteModel1D

__all__ = ["KineticsModel"]

_UNITS = {"onset": "s", "rate": "1/s", "half_time": "s", "onset_after_bias": "s"}


class KineticsModel(PerovskiteModel1D):
    """JMAK (or first-order) crystallinity decay of every trace, in seconds.

    The signal is the trace with its time axis in s (any time unit of the
    original trace is converted by
    :func:`~hyperspy_perovskite.signals.kinetics.fit_kinetics`). Attributes
    read from the fit (arrays shaped like the navigation, times in s, rate
    in 1/s): ``onset``, ``onset_std`` (half the 68 % profile-likelihood
    interval ``onset_interval`` when ``onset_method == "profile"``, else the
    fit covariance), ``rate``, ``avrami_n``, ``amplitude``, ``residual``
    (each with ``*_std``), ``half_time`` (``onset + ln(2)^(1/n) / rate``),
    ``converged``, ``bias_on``, ``onset_after_bias`` and
    ``onset_before_stimulus`` (onsets before the stimulus switch-on beyond
    their interval). ``validity`` (inherited) holds converged, no parameter
    at a bound and a significant amplitude.

    Parameters
    ----------
    signal1D : hyperspy.signals.Signal1D
        Time traces, signal axis in s.
    dictionary : dict, optional
        A stored model to restore.
    first_order : bool
        Fix ``n = 1``.
    residual : bool
        Add an ``Offset`` for a residual crystalline level.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.kinetics import jmak
    >>> from hyperspy_perovskite.signals.kinetics import fit_kinetics
    >>> t = np.arange(0, 300, 5.0)
    >>> rng = np.random.default_rng(1)
    >>> y = jmak(t, 8.0, 0.02, 2.0, 60.0, 2.0) + rng.normal(0, 0.05, t.size)
    >>> s = hs.signals.Signal1D(y)
    >>> s.axes_manager[-1].scale, s.axes_manager[-1].units = 5.0, "s"
    >>> m = fit_kinetics(s, bias_on=30.0)
    >>> type(m).__name__, round(float(m.onset), 0), m.validity.fraction
    ('KineticsModel', 60.0, 1.0)
    >>> m.store("jmak")
    >>> r = KineticsModel.restore(m.signal, "jmak")
    >>> round(float(r.onset_interval[1] - r.onset_interval[0]), 1) > 0, r.bias_on
    (True, 30.0)
    """

    def __init__(self, signal1D, dictionary=None, first_order=False, residual=True):
        super().__init__(signal1D, dictionary=None)
        self._kinetics_store = {
            "first_order": bool(first_order),
            "bias_on": np.nan,
            "onset_method": "covariance",
            "onset_interval": np.zeros((0,)),
        }
        self._whitelist["_kinetics_store"] = None
        if dictionary is not None:
            self._load_dictionary(dictionary)
            return
        from hyperspy.api import model as hs_model

        from hyperspy_perovskite.components import CrystallinityJMAK

        comps = [CrystallinityJMAK(first_order=first_order)]
        if residual:
            comps.append(hs_model.components1D.Offset())
        self.extend(comps)

    # ------------------------------------------------------------ components
    @property
    def jmak(self):
        """The CrystallinityJMAK component."""
        from hyperspy_perovskite.components import CrystallinityJMAK

        for c in self:
            if isinstance(c, CrystallinityJMAK):
                return c
        raise ValueError("This model has no CrystallinityJMAK component.")

    @property
    def offset(self):
        """The Offset component (residual level) or None."""
        for c in self:
            if type(c).__name__ == "Offset":
                return c
        return None

    @property
    def model(self):
        """This model (results of earlier versions had a ``model`` attribute)."""
        return self

    # --------------------------------------------------------------- results
    def _nav_shape(self):
        return self.signal.axes_manager.navigation_shape[::-1]

    def _map(self, par, key="values"):
        a = np.asarray(par.map[key], float).reshape(self._nav_shape())
        return a.copy()

    first_order = property(lambda self: bool(self._kinetics_store["first_order"]))
    time_units = "s"
    rate = property(lambda self: self._map(self.jmak.k))
    rate_std = property(lambda self: self._map(self.jmak.k, "std"))
    avrami_n = property(lambda self: self._map(self.jmak.n))
    amplitude = property(lambda self: self._map(self.jmak.A))
    amplitude_std = property(lambda self: self._map(self.jmak.A, "std"))
    onset = property(lambda self: self._map(self.jmak.t0))

    @property
    def avrami_n_std(self):
        if self.first_order:
            return np.zeros(self._nav_shape())
        return self._map(self.jmak.n, "std")

    @property
    def residual(self):
        off = self.offset
        return np.zeros(self._nav_shape()) if off is None else self._map(off.offset)

    @property
    def residual_std(self):
        off = self.offset
        if off is None:
            return np.zeros(self._nav_shape())
        return self._map(off.offset, "std")

    @property
    def onset_method(self):
        """ "profile" (profile-likelihood interval) or "covariance"."""
        return str(self._kinetics_store["onset_method"])

    @property
    def onset_interval(self):
        """68 % profile-likelihood interval of every onset, shape nav + (2,), or None."""
        a = np.asarray(self._kinetics_store["onset_interval"], float)
        return None if a.size == 0 else a.reshape(self._nav_shape() + (2,))

    @property
    def onset_std(self):
        iv = self.onset_interval
        if iv is None:
            return self._map(self.jmak.t0, "std")
        return (iv[..., 1] - iv[..., 0]) / 2

    @property
    def half_time(self):
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.onset + np.log(2.0) ** (1.0 / self.avrami_n) / self.rate

    @property
    def converged(self):
        return np.asarray(self._converged()).reshape(self._nav_shape())

    @property
    def bias_on(self):
        """Stimulus switch-on time (s) or None."""
        b = float(self._kinetics_store["bias_on"])
        return None if np.isnan(b) else b

    @property
    def onset_after_bias(self):
        b = self.bias_on
        return None if b is None else self.onset - b

    @property
    def onset_before_stimulus(self):
        """True where the onset precedes the switch-on beyond its uncertainty."""
        b = self.bias_on
        if b is None:
            return None
        iv = self.onset_interval
        upper = iv[..., 1] if iv is not None else self.onset + self.onset_std
        return np.asarray(upper < b)

    def _set_onset_info(self, interval, method, bias_on):
        self._kinetics_store["onset_interval"] = (
            np.zeros((0,)) if interval is None else np.asarray(interval, float)
        )
        self._kinetics_store["onset_method"] = str(method)
        self._kinetics_store["bias_on"] = np.nan if bias_on is None else float(bias_on)

    # ----------------------------------------------------------------- tables
    def table(self, title="JMAK kinetics"):
        """The fitted parameters as a :class:`~hyperspy_perovskite.results.ResultTable`.

        One row per trace (navigation position, flattened), times in s,
        with a ``valid`` column from the model's validity.
        """
        from hyperspy_perovskite.results import ResultTable

        def col(a):
            return np.atleast_1d(np.asarray(a, dtype=float)).ravel()

        cols = {
            k: col(getattr(self, k))
            for k in ("onset", "rate", "avrami_n", "amplitude", "residual")
        }
        cols["half_time"] = col(self.half_time)
        red = np.asarray(self.reduced_chisq.data, float)
        cols["reduced_chisq"] = col(red)
        cols["converged"] = np.atleast_1d(self.converged).ravel()
        validity = self.validity
        if validity is not None:
            cols["valid"] = np.atleast_1d(validity.mask).ravel()
        if self.bias_on is not None:
            cols["onset_after_bias"] = col(self.onset_after_bias)
            cols["onset_before_stimulus"] = np.atleast_1d(
                self.onset_before_stimulus
            ).ravel()
        std = {
            k: col(getattr(self, f"{k}_std"))
            for k in ("onset", "rate", "avrami_n", "amplitude", "residual")
        }
        return ResultTable(
            cols,
            units=_UNITS,
            std=std,
            title=title,
            description=f"onset uncertainty: {self.onset_method}",
        )

    def to_dict(self):
        """JSON-friendly summary of the results (lists and floats)."""
        out = {"time_units": "s", "onset_method": self.onset_method}
        for k in (
            "rate", "rate_std", "avrami_n", "avrami_n_std", "onset", "onset_std",
            "amplitude", "amplitude_std", "residual", "residual_std", "half_time",
            "converged", "onset_interval", "onset_after_bias",
            "onset_before_stimulus",
        ):  # fmt: skip
            v = getattr(self, k)
            out[k] = None if v is None else np.asarray(v).tolist()
        out["reduced_chisq"] = np.asarray(self.reduced_chisq.data).tolist()
        out["first_order"] = self.first_order
        out["bias_on"] = self.bias_on
        return out
