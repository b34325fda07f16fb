"""Domain model of J-V curves: the single-diode fit of every curve."""

from __future__ import annotations

import numpy as np

from hyperspy_perovskite.metadata import DEVICE_JV
from hyperspy_perovskite.models.base import PerovskiteModel1D
from hyperspy_perovskite.results import ResultTable

__all__ = ["JVModel"]

_PARAMS = ("Jph", "log10_J0", "n", "Rs", "Rsh")
_UNITS = {"Jph": "mA/cm^2", "J0": "mA/cm^2", "log10_J0": "", "n": "", "Rs": "Ω cm^2",
          "Rsh": "Ω cm^2"}  # fmt: skip
#: Physical ranges outside which a fitted value is flagged (not a bound):
#: ideality factors of real cells lie between 1 and 2 (up to ~5 with
#: recombination through deep traps and contact barriers); Rs above
#: 100 Ω cm² or Rsh below 10 Ω cm² leave no working solar cell.
RANGES = {"n": (0.8, 5.0), "Rs": (0.0, 100.0), "Rsh": (10.0, 1e7)}


class JVModel(PerovskiteModel1D):
    """A domain model of J-V curves holding one
    :class:`~hyperspy_perovskite.components.SingleDiode`.

    A :class:`~hyperspy_perovskite.models.PerovskiteModel1D`: fit flags and
    validity persist with the model.

    Created by :meth:`hyperspy_perovskite.signals.jv.JVCurve.create_model`;
    saved and restored like any HyperSpy model (``m.store()``,
    ``s.models.restore``). The diode temperature comes from
    ``metadata.Device.JV.temperature`` (default 298.15 K).

    Examples
    --------
    >>> from hyperspy_perovskite.data.jv_simulation import simulate_table_s1
    >>> s = simulate_table_s1(seed=0, rows=[("open-circuit aging", "initial")])
    >>> m = s.create_model()
    >>> [c.__class__.__name__ for c in m]
    ['SingleDiode']
    """

    def __init__(self, signal1D, dictionary=None):
        super().__init__(signal1D, dictionary=dictionary)
        if dictionary is None:
            from hyperspy_perovskite.components import SingleDiode

            T = signal1D.metadata.get_item(f"{DEVICE_JV}.temperature", 298.15)
            self.append(SingleDiode(temperature=float(T)))

    @property
    def diode(self):
        """The SingleDiode component."""
        from hyperspy_perovskite.components import SingleDiode

        for c in self:
            if isinstance(c, SingleDiode):
                return c
        raise ValueError("This model has no SingleDiode component.")

    def fit_single_diode(
        self, n=1.5, fix_n=False, method="fast", starting_values="estimate", **kwargs
    ):
        """Fit the single-diode model to every curve.

        Parameters
        ----------
        n : float
            Ideality factor used for the starting values (and kept if
            ``fix_n``).
        fix_n : bool
            Keep ``n`` fixed.
        method : {"fast", "multifit"}
            "fast": :func:`hyperspy_perovskite.fitting.fast_multifit` (compiled,
            all curves at once); "multifit": HyperSpy's ``m.multifit()``.
        starting_values : {"estimate", "current"}
            "estimate": from each curve's Jsc, Voc and slopes
            (:meth:`SingleDiode.estimate_parameters`).
        **kwargs
            Passed to the fitting function.

        Returns
        -------
        hyperspy_perovskite.fitting.FastFitResult or None

        Examples
        --------
        >>> from hyperspy_perovskite.data.jv_simulation import simulate_table_s1
        >>> s = simulate_table_s1(seed=0, rows=[("open-circuit aging", "initial")])
        >>> m = s.create_model()
        >>> result = m.fit_single_diode(n=1.5, show_progressbar=False)
        >>> result.n_converged, m.validity.fraction
        (2, 1.0)
        >>> round(float(m.diode.n.map["values"][0, 0]), 1)
        1.6
        """
        d = self.diode
        d.n.value = float(n)
        d.n.free = not fix_n
        if starting_values == "estimate":
            ax = self.signal.axes_manager.signal_axes[0]
            d.estimate_parameters(self.signal, ax.low_value, ax.high_value)
            if d.n.map is not None:
                d.n.map["values"][:] = float(n)
                d.n.map["is_set"][:] = True
        if method == "fast":
            from hyperspy_perovskite.fitting import fast_multifit

            result = fast_multifit(self, starting_values="current", **kwargs)
            self.diode_validity()
            return result
        if method == "multifit":
            kwargs.setdefault("bounded", True)
            self.multifit(**kwargs)
            self.diode_validity()
            return None
        raise ValueError(f"method must be 'fast' or 'multifit', got {method!r}.")

    def _maps(self):
        d = self.diode
        vals = {p: np.asarray(getattr(d, p).map["values"], float) for p in _PARAMS}
        std = {p: np.asarray(getattr(d, p).map["std"], float) for p in _PARAMS}
        return vals, std

    def diode_validity(self, n_sigma=3.0):
        """Validity of the fitted diode parameters per curve (kept with the model).

        :meth:`~hyperspy_perovskite.models.PerovskiteModel1D.update_validity`
        with the physical :data:`RANGES` of ``n``, ``Rs`` and ``Rsh``:
        converged, no parameter at a bound, values in range.

        Returns
        -------
        hyperspy_perovskite.validity.Validity
        """
        name = self.diode.name
        ranges = {
            f"{name}.{p}": r for p, r in RANGES.items() if getattr(self.diode, p).free
        }
        return self.update_validity(n_sigma=n_sigma, ranges=ranges)

    def diode_table(self, title="Single-diode fit"):
        """Jph, J0, n, Rs, Rsh (with std) per curve, and the validity.

        ``J0`` and its std are derived from ``log10_J0`` (std by first-order
        propagation, ``ln 10 J0 std(log10 J0)``).

        Returns
        -------
        hyperspy_perovskite.results.ResultTable
        """
        from hyperspy_perovskite.signals._jv_results import _axis_labels

        vals, std = self._maps()
        cols, errs = {}, {}
        for p in ("Jph", "n", "Rs", "Rsh"):
            cols[p], errs[p] = vals[p].ravel(), std[p].ravel()
        j0 = 10.0 ** vals["log10_J0"].ravel()
        cols["J0"], errs["J0"] = j0, np.log(10.0) * j0 * std["log10_J0"].ravel()
        validity = self.validity if self.validity is not None else self.diode_validity()
        cols["valid"] = validity.mask.ravel()
        return ResultTable(
            cols, units={k: _UNITS.get(k, "") for k in cols}, std=errs,
            index=_axis_labels(self.signal), title=title,
            description="Single-diode model solved with the Lambert W function; "
            "std from the fit covariance scaled by the reduced chi-squared.",
        )  # fmt: skip
