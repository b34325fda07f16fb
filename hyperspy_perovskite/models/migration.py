"""``MigrationModel``: the domain model of ion-migration profile fits.

:func:`~hyperspy_perovskite.signals.migration_fit.fit_migration_profile`
returns it: a :class:`~hyperspy_perovskite.models.PerovskiteModel1D` holding
one migration component (:class:`~hyperspy_perovskite.components.Interdiffusion`,
:class:`~hyperspy_perovskite.components.DriftDiffusionAccumulation` or
:class:`~hyperspy_perovskite.components.DriftDiffusionTransient`, plus an
``Offset``), which keeps what the fit was told (kind, field, bias times,
temperature, layer, fitted range) and derives the physical quantities (``D``,
mobility, decay length, Einstein ratio, diffusion length) with their
standard deviations. Flags, chi-squared, the validity and the fit set-up
survive ``m.store()``, ``m.save()`` and :meth:`MigrationModel.restore` of
``.hspy`` / ``.zspy`` files, so the quantities of a restored model are those
of the fit.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
from hyperspy.signal import BaseSignal

from hyperspy_perovskite.models._migration_quantities import (
    _MAX_REDUCED_CHISQ,
    _MIN_SIGNIFICANCE,
    MigrationQuantity,
    derive_quantities,
)
from hyperspy_perovskite.models.base import PerovskiteModel1D
from hyperspy_perovskite.validity import Validity

__all__ = ["MigrationModel", "MigrationQuantity"]

#: chi-squared test level below which a fitted profile is flagged a misfit
_MISFIT_P = 1e-4

_KINDS = ("steady", "transient", "interdiffusion")
_COMPONENTS = {
    "steady": "DriftDiffusionAccumulation",
    "transient": "DriftDiffusionTransient",
    "interdiffusion": "Interdiffusion",
}

#: parameters of the migration component that must exceed n_sigma std
_SIGNIFICANT = {
    "steady": ("A", "decay_length"),
    "transient": ("drift_distance", "length"),
    "interdiffusion": ("length",),
}


def _nan_none(v):
    return float("nan") if v is None else float(v)


def _none_nan(v):
    return None if v is None or not np.isfinite(v) else float(v)


class MigrationModel(PerovskiteModel1D):
    """A fitted migration model that derives D, mobility and decay lengths.

    Built and fitted by
    :func:`~hyperspy_perovskite.signals.migration_fit.fit_migration_profile`
    (which documents every quantity). Its quantities are read like a
    dictionary, ``m["D"]`` (a :class:`MigrationQuantity`: navigation-shaped
    value and std, units, description); ``m["Offset"]`` and other component
    names still give the components, as in any HyperSpy model.

    Its ``validity`` (a :class:`~hyperspy_perovskite.validity.Validity`)
    keeps the profiles that converged, have no free parameter at a bound,
    whose accumulation and fitted lengths are significant (above 3 std) and,
    for a closed-layer transient, that are distinguishable from the steady
    state (``D`` and ``mu`` determined) with a reduced chi-squared of at
    most 4, and that pass the chi-squared test at ``p >= 1e-4`` (every
    kind: a profile the model does not describe, e.g. a band crossing a
    Pb-rich cluster, is flagged "misfit" instead of reporting a biased
    length with a too small error).

    Attributes
    ----------
    kind : str
        "steady", "transient" or "interdiffusion".
    result : FastFitResult or None
        Flags and chi-squared maps of the ``fast_multifit`` run (None after
        ``method="multifit"`` or a restore; the flags persist as
        :attr:`fit_flags`).
    quantities : dict of str to MigrationQuantity
        Fitted and derived quantities; NaN where the fit did not converge.
    converged : numpy.ndarray of bool
        Converged profiles (navigation shape, 0-d for one profile).

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.drift_diffusion import steady_state_profile
    >>> from hyperspy_perovskite.signals.migration_fit import fit_migration_profile
    >>> x = np.arange(0.0, 200.0, 1.0) + 0.5
    >>> rng = np.random.default_rng(0)
    >>> counts = rng.poisson(50 + steady_state_profile(x, 12.0, 100.0, 200.0), (3, 200))
    >>> s = hs.signals.Signal1D(counts.astype(float))
    >>> s.axes_manager[-1].offset, s.axes_manager[-1].units = 0.5, "nm"
    >>> m = fit_migration_profile(s, "steady", wall=0.0, field=2e6)
    >>> type(m).__name__, m.kind, m.validity.fraction
    ('MigrationModel', 'steady', 1.0)
    >>> bool(np.all(np.abs(m["decay_length"].value - 12.0) < 4 * m["decay_length"].std))
    True
    >>> m.quantity_map("decay_length").data.shape
    (3,)
    """

    def __init__(self, signal1D, dictionary=None, **kwargs):
        super().__init__(signal1D, dictionary=None, **kwargs)
        self._migration_setup = "{}"
        self._migration_time = np.array([np.nan])
        self._whitelist["_migration_setup"] = None
        self._whitelist["_migration_time"] = None
        self.result = None
        self._quantities = None
        if dictionary is not None:
            self._load_dictionary(dictionary)

    # -- set-up kept with the model --------------------------------------------
    def _set_setup(
        self, kind, *, field, D_known, vt, time, closed, rng, nm, temperature, charge
    ):
        """Record what the fit was told (called by ``fit_migration_profile``)."""
        if kind not in _KINDS:
            raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}.")
        x1, x2, wall, sgn = rng
        setup = {
            "kind": kind,
            "field": _nan_none(field),
            "diffusion_coefficient": _nan_none(D_known),
            "thermal_voltage": float(vt),
            "temperature": float(temperature),
            "charge_number": int(charge),
            "thickness": _nan_none(closed),
            "range": [float(x1), float(x2)],
            "wall": _nan_none(wall),
            "side": int(sgn),
            "nm_per_unit": float(nm),
            "time_ndim": -1 if time is None else int(np.ndim(time)),
        }
        self._migration_setup = json.dumps(setup)
        self._migration_time = np.atleast_1d(
            np.asarray(np.nan if time is None else time, dtype=float)
        ).copy()
        self._quantities = None

    @property
    def _setup(self):
        setup = json.loads(self._migration_setup)
        if not setup:
            raise ValueError(
                "This MigrationModel was never fitted: build it with "
                "fit_migration_profile(profile, kind, ...)."
            )
        return setup

    @property
    def kind(self):
        """ "steady", "transient" or "interdiffusion"."""
        return self._setup["kind"]

    @property
    def model(self):
        """The model itself (kept for code written for the former
        ``MigrationFit`` container, whose ``.model`` was this model)."""
        return self

    @property
    def converged(self):
        """Converged profiles (navigation shape; 0-d for one profile)."""
        conv = self._converged()
        if self.axes_manager.navigation_dimension == 0:
            return np.asarray(bool(np.all(conv)))
        return conv

    def _time(self, setup):
        if setup["time_ndim"] < 0:
            return None
        t = np.asarray(self._migration_time, dtype=float)
        return float(t.ravel()[0]) if setup["time_ndim"] == 0 else t

    def _migration_component(self):
        name = _COMPONENTS[self.kind]
        for c in self:
            if type(c).__name__ == name:
                return c
        raise ValueError(f"The model has no {name} component.")

    def _offset(self):
        for c in self:
            if type(c).__name__ == "Offset":
                return c
        return None

    def _fit_arrays(self):
        """As the base, plus the lengths and levels that must be significant
        (a profile with no accumulation or no measurable length is not a
        result): ``A`` and ``decay_length`` (steady), ``drift_distance`` and
        ``length`` (transient), ``length``
        (interdiffusion)."""
        values, std, bounds, significant = super()._fit_arrays()
        setup = json.loads(self._migration_setup)
        if setup:
            name = self._migration_component().name
            for p in _SIGNIFICANT[setup["kind"]]:
                if f"{name}.{p}" in values and f"{name}.{p}" not in significant:
                    significant.append(f"{name}.{p}")
        return values, std, bounds, significant

    # -- quantities -------------------------------------------------------------
    def update_quantities(self, warn=True):
        """Derive the quantities from the fitted parameters (and the validity).

        Called by ``fit_migration_profile``; call it again after refitting
        the model yourself (``m.multifit()`` or ``fast_multifit(m)``).

        Parameters
        ----------
        warn : bool
            Warn about closed-layer transients that are indistinguishable
            from the steady state or not described by drift-diffusion.

        Returns
        -------
        dict of str to MigrationQuantity
        """
        setup = self._setup
        conv = self.converged
        redchi = np.asarray(self.reduced_chisq.data, dtype=float).reshape(conv.shape)
        x1, x2 = setup["range"]
        rng = (x1, x2, _none_nan(setup["wall"]), setup["side"])
        with warnings.catch_warnings():
            if not warn:
                warnings.simplefilter("ignore")
            q = derive_quantities(
                setup["kind"],
                self._migration_component(),
                self._offset(),
                self.signal,
                setup["nm_per_unit"],
                _none_nan(setup["field"]),
                _none_nan(setup["diffusion_coefficient"]),
                setup["thermal_voltage"],
                self._time(setup),
                _none_nan(setup["thickness"]),
                rng,
                conv,
                redchi,
            )
        bad = ~np.asarray(conv, dtype=bool)
        if np.any(bad):  # no wrong value presented as a result
            for qq in q.values():
                if np.shape(qq.value) == bad.shape:
                    qq.value = np.where(bad, np.nan, qq.value)
                    qq.std = np.where(bad, np.nan, np.broadcast_to(qq.std, bad.shape))
        self._update_migration_validity(q, conv, redchi)
        if setup["kind"] == "interdiffusion":
            up = self._length_upper_limits(setup)
            shape = np.shape(q["length"].value)
            up.value, up.std = up.value.reshape(shape), up.std.reshape(shape)
            q["length_upper_limit"] = up
        self._quantities = q
        return q

    def _length_upper_limits(self, setup, confidence=0.95):
        """95 % upper limit of the diffusion length where the length is not
        significant or at its bound (NaN elsewhere): see
        :func:`interdiffusion_upper_limit`."""
        comp = self._migration_component()
        validity = self.validity
        shape = validity.mask.shape
        names = [
            f"{comp.name}.length not significant",
            f"{comp.name}.length at bound",
        ]
        flag = np.zeros(shape, dtype=bool)
        for i, name in enumerate(validity.reason_names):
            if name in names:
                flag |= (validity.reasons & np.uint32(1 << i)) != 0
        out = np.full(shape, np.nan)
        sig = self.signal
        x = self.axis.axis[self._channel_switches]
        var = sig.metadata.get_item("Signal.Noise_properties.variance")
        data = np.asarray(sig.data.compute() if sig._lazy else sig.data, float)
        data = data.reshape(shape + (-1,))[..., self._channel_switches]
        if var is None:
            v = np.ones_like(data)
        else:
            v = var.data if hasattr(var, "data") else var
            v = np.asarray(v.compute() if hasattr(v, "compute") else v, float)
            v = np.broadcast_to(v, sig.data.shape).reshape(shape + (-1,))
            v = v[..., self._channel_switches]
        red = np.asarray(self.reduced_chisq.data, float).reshape(shape)

        def arr(p, key):
            return np.broadcast_to(np.asarray(p.map[key], float), shape)

        L, Ls, c = (
            arr(comp.length, "values"),
            arr(comp.length, "std"),
            arr(comp.centre, "values"),
        )
        for idx in zip(*np.nonzero(flag), strict=True):
            vv = v[idx] * (red[idx] if var is None and np.isfinite(red[idx]) else 1.0)
            out[idx] = interdiffusion_upper_limit(
                x, data[idx], vv, L[idx], Ls[idx], c[idx], comp.resolution, confidence
            )
        nm = setup["nm_per_unit"]
        return MigrationQuantity(
            out * nm,
            np.zeros(shape),
            "nm",
            "95 % upper limit (profile likelihood) where the length is not significant",
        )

    def _update_migration_validity(self, q, conv, redchi):
        base = self.update_validity() & self._chisq_validity()
        self.validity = base
        setup = self._setup
        if setup["kind"] != "transient" or "transient_significance" not in q:
            return
        shape = base.mask.shape
        sig = np.broadcast_to(q["transient_significance"].value, shape)
        steady = ~(sig >= _MIN_SIGNIFICANCE)
        misfit = np.broadcast_to(redchi > _MAX_REDUCED_CHISQ, shape)
        reasons = steady.astype(np.uint32) | (misfit.astype(np.uint32) << 1)
        extra = Validity(
            ~(steady | misfit),
            reasons,
            ("steady state: D and mu undetermined", "misfit: reduced chi-squared"),
            {
                "min_transient_significance": _MIN_SIGNIFICANCE,
                "max_reduced_chisq": _MAX_REDUCED_CHISQ,
            },
        )
        self.validity = base & extra

    def _chisq_validity(self):
        """Profiles the model does not describe: the chi-squared test.

        Chi-squared with the fit's weights (Poisson or the supplied
        variance) exceeds its ``1 - _MISFIT_P`` quantile for the residual
        degrees of freedom: a feature the model lacks (e.g. a Pb-rich,
        halide-poor cluster inside the band of an accumulation profile)
        biases the fitted lengths while the standard deviations, scaled by
        the reduced chi-squared, do not cover the bias. Pearson's test
        (Pearson, Phil. Mag. 50, 157 (1900)).
        """
        from scipy.stats import chi2

        shape = self.chisq.data.shape
        n = int(np.count_nonzero(self._channel_switches))
        dof = n - np.asarray(self.dof.data, dtype=float).reshape(shape)
        chisq = np.asarray(self.chisq.data, dtype=float).reshape(shape)
        with np.errstate(invalid="ignore"):
            p = np.where(dof > 0, chi2.sf(chisq, np.maximum(dof, 1)), np.nan)
        misfit = np.asarray(p < _MISFIT_P) & np.asarray(self._converged()).reshape(
            shape
        )
        return Validity(
            ~misfit,
            misfit.astype(np.uint32),
            (f"misfit: chi-squared test p < {_MISFIT_P:g}",),
            {"misfit_p_value": _MISFIT_P},
        )

    @property
    def quantities(self):
        """Fitted and derived quantities (name -> :class:`MigrationQuantity`)."""
        if self._quantities is None:
            self.update_quantities(warn=False)
        return self._quantities

    def __getitem__(self, value):
        if isinstance(value, str) and value not in [c.name for c in self]:
            q = self.quantities
            if value not in q:
                raise KeyError(
                    f"{value!r} is neither a quantity nor a component of this "
                    f"{self.kind} fit; quantities: {sorted(q)}; components: "
                    f"{[c.name for c in self]}."
                )
            return q[value]
        return super().__getitem__(value)

    def combined(self, name):
        """Inverse-variance weighted mean of ``name`` over the navigation.

        Uses the converged fits with a finite value and std (e.g. the frames
        of an operando series taken at different bias times: each frame gives
        ``D`` and ``mu``; frames at the steady state carry large errors on
        them and weigh little).

        Returns
        -------
        MigrationQuantity
            Scalar value and std; ``description`` gives the number of
            estimates and the reduced chi-squared of their scatter (about 1
            when they agree within their errors).
        """
        from hyperspy_perovskite.analysis.drift_diffusion import weighted_mean

        q = self[name]
        mean, std, chi2, n = weighted_mean(q.value, q.std, self.converged)
        return MigrationQuantity(
            np.asarray(mean),
            np.asarray(std),
            q.units,
            f"weighted mean of {n} estimates of {name}; reduced chi2 {chi2:.3g}",
        )

    def to_dict(self):
        """JSON-ready summary (scalars, or means over the navigation)."""
        return {
            "kind": self.kind,
            **{k: q.to_dict() for k, q in self.quantities.items()},
        }

    def quantity_map(self, name, keep_invalid=False):
        """The quantity ``name`` as a HyperSpy signal over the navigation axes.

        Like ``Parameter.as_signal``: the navigation axes of the profile
        become the signal axes; the std is stored as
        ``metadata.Signal.Noise_properties.variance`` and the validity of the
        fit in ``metadata.Validity`` (NaN outside it unless
        ``keep_invalid``).

        Parameters
        ----------
        name : str
            A quantity (``sorted(m.quantities)`` lists them).
        keep_invalid : bool
            Keep the values of profiles the validity rejects.

        Returns
        -------
        hyperspy.signal.BaseSignal
        """
        q = self[name]
        value = np.asarray(q.value, dtype=float)
        var = np.broadcast_to(np.asarray(q.std, dtype=float) ** 2, value.shape).copy()
        validity = self.validity
        if validity is not None and value.shape == validity.mask.shape:
            value = validity.apply(value, keep_invalid=keep_invalid)
            var = validity.apply(var, keep_invalid=keep_invalid)
        sig = self.signal
        if sig.axes_manager.navigation_dimension == 0 or value.ndim == 0:
            out = [BaseSignal(np.atleast_1d(value)), BaseSignal(np.atleast_1d(var))]
        else:
            out = []
            for data in (np.array(value), var):
                s = sig._get_navigation_signal(data=data)
                if s._lazy:
                    s.compute(show_progressbar=False)
                for ax in s.axes_manager._axes:
                    ax.navigate = False
                out.append(s)
        s, v = out
        s.metadata.General.title = f"{name} ({q.units})"
        v.metadata.General.title = "Variance"
        s.metadata.set_item("Signal.Noise_properties.variance", v)
        s.metadata.set_item("Signal.quantity", f"{name} ({q.units})")
        if validity is not None and validity.mask.size == s.data.size:
            validity.to_metadata(s.metadata)
        return s

    def as_signal(self, component_list=None, out_of_range_to_nan=True, **kwargs):
        """The model as a signal, or ``as_signal("D")``: a quantity map.

        With a quantity name, the same as :meth:`quantity_map`; otherwise
        :meth:`PerovskiteModel1D.as_signal` (the model spectra, NaN at
        profiles whose parameters are not set).
        """
        if isinstance(component_list, str):
            return self.quantity_map(component_list, **kwargs)
        return super().as_signal(
            component_list=component_list,
            out_of_range_to_nan=out_of_range_to_nan,
            **kwargs,
        )


def _erfc_step_chi2(x, y, w, s, centre0, span):
    """Least chi-squared of ``c_r + (c_l - c_r)/2 erfc((x - c)/s)`` over
    ``c_l``, ``c_r`` (linear) and the centre ``c`` (bounded search)."""
    from scipy.optimize import minimize_scalar
    from scipy.special import erfc

    sw = np.sqrt(w)

    def chi2(c):
        e = 0.5 * erfc((x - c) / s)
        A = np.column_stack([e, 1.0 - e]) * sw[:, None]
        coef, *_ = np.linalg.lstsq(A, y * sw, rcond=None)
        r = y * sw - A @ coef
        return float(r @ r)

    res = minimize_scalar(
        chi2, bounds=(centre0 - span, centre0 + span), method="bounded",
        options={"xatol": 1e-4 * span},
    )  # fmt: skip
    return min(res.fun, chi2(centre0))


def interdiffusion_upper_limit(x, y, var, length, std, centre, blur, confidence=0.95):
    """One-sided upper limit of the diffusion length of a blurred erfc step.

    The blurred step depends on the length only through ``u = length^2``
    (its width is ``sqrt(u + 2 blur^2)``): the chi-squared is profiled over
    ``u`` (levels and centre refitted at each ``u``), allowed below 0 down to
    ``-2 blur^2`` so that a step narrower than the blur is seen as such,
    and the limit is where it rises by the one-sided ``confidence``
    quantile of chi-squared(1) above its minimum in the physical region
    ``u >= 0`` (2.71 for 95 %, the convention of the Particle Data Group
    for a bounded parameter). For a length comparable to or below the blur,
    where its std is meaningless (Cs at a glass interface with a 2 nm probe),
    this is the result to quote: "L < upper limit".

    Parameters
    ----------
    x, y, var : ndarray
        Positions (axis units), data and variance of the fitted channels.
    length, std, centre : float
        The fitted length, its std and the centre (axis units): the scan
        range.
    blur : float
        Gaussian blur std (axis units).
    confidence : float

    Returns
    -------
    float
        The upper limit (axis units); NaN when the profile holds no step.
    """
    from scipy.stats import chi2 as _chi2

    d = float(_chi2.ppf(2 * confidence - 1, 1))  # one-sided
    w = 1.0 / np.maximum(var, 1e-300)
    step = max(abs(length) if np.isfinite(length) else 0.0, blur, 1e-6)
    hi = (step + 6.0 * max(std if np.isfinite(std) else step, blur, step)) ** 2
    u_grid = np.concatenate(
        [np.linspace(-2.0 * blur**2 * 0.98, 0.0, 8)[:-1], np.linspace(0.0, hi, 60)]
    )
    span = 3.0 * np.sqrt(hi + 2 * blur**2)
    c2 = np.array(
        [
            _erfc_step_chi2(x, y, w, np.sqrt(u + 2 * blur**2), centre, span)
            for u in u_grid
        ]
    )
    phys = u_grid >= 0
    ref = c2[phys].min()
    k0 = int(np.argmin(np.where(phys, c2, np.inf)))
    above = np.nonzero((c2 > ref + d) & (np.arange(u_grid.size) > k0))[0]
    if not above.size:
        return np.nan
    k = above[0]
    u_up = np.interp(ref + d, [c2[k - 1], c2[k]], [u_grid[k - 1], u_grid[k]])
    return float(np.sqrt(max(u_up, 0.0)))
