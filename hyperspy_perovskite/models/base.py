"""``PerovskiteModel1D``: a HyperSpy ``Model1D`` that keeps what a fit found.

HyperSpy's ``Model1D`` saves parameter maps, chi-squared and degrees of
freedom. This subclass adds, in the same persistent way (the model's
``_whitelist``, so ``m.store()``, ``m.save()``, ``s.models.restore`` and
``hs.load`` of ``.hspy``/``.zspy`` keep them):

- ``fit_flags``: the per-pixel outcome codes of
  :func:`~hyperspy_perovskite.fitting.fast_multifit`
  (:mod:`hyperspy_perovskite.fitting.flags`), a navigation signal like
  ``chisq``;
- the :class:`~hyperspy_perovskite.validity.Validity` of the fit, built from
  all its parameters (:meth:`PerovskiteModel1D.update_validity`).

Domain models (:class:`~hyperspy_perovskite.models.EmissionModel` and those
of the workflows) subclass it, as exSpy's ``EDSTEMModel`` subclasses
``EDSModel``, and own the fit-derived methods.
"""

from __future__ import annotations

import warnings

import numpy as np
from hyperspy.misc.utils import DictionaryTreeBrowser
from hyperspy.model import ModelSpecialSlicers
from hyperspy.models.model1d import Model1D

from hyperspy_perovskite.fitting import flags as F
from hyperspy_perovskite.fitting.registry import UnsupportedComponentError, kernel_spec
from hyperspy_perovskite.validity import Validity, apply_validity, validity_from_fit

__all__ = ["PerovskiteModel1D"]


class _DomainModelSlicer(ModelSpecialSlicers):
    """``m.inav[...]`` / ``m.isig[...]`` of a domain model: HyperSpy's slice
    (a model of whatever class the sliced signal's ``create_model`` gives,
    with the whitelisted state sliced or copied), rebuilt as the domain
    model's class from its dictionary (as ``restore`` does), with the fit
    flags and the validity of the slice."""

    def __getitem__(self, slices):
        src = self.model
        nav_dims = src.axes_manager.navigation_dimension
        array_slices = src.signal._get_array_slices(slices, self.isNavigation)
        plain = super().__getitem__(slices)
        for key, flags in src._whitelist.items():
            # HyperSpy set the domain's whitelisted attributes on the plain
            # slice (sliced where _slicing_whitelist says so): keep them
            plain._whitelist.setdefault(key, flags)
        out = type(src)(plain.signal, dictionary=plain.as_dictionary())
        validity = src.validity
        if validity is not None:
            if self.isNavigation:
                validity = validity[tuple(array_slices[:nav_dims])]
            shape = out.chisq.data.shape
            if validity.mask.size == int(np.prod(shape)):
                validity = validity[...]
                validity.mask = validity.mask.reshape(shape)
                validity.reasons = validity.reasons.reshape(shape)
            out.validity = validity
        return out


class PerovskiteModel1D(Model1D):
    """A ``Model1D`` whose fit flags, chi-squared and validity persist.

    Create it like HyperSpy's model, ``PerovskiteModel1D(signal)``, or get it
    from ``s.create_model()`` of a signal class that returns it. Fitted with
    :func:`~hyperspy_perovskite.fitting.fast_multifit`, it keeps the flags
    and builds the validity at once; fitted with ``m.multifit()``, call
    :meth:`update_validity` (pixels whose parameters are all set count as
    converged).

    Parameters
    ----------
    signal1D : hyperspy.signals.Signal1D
    dictionary : dict or None
        A model dictionary (``m.as_dictionary()``) to restore, as HyperSpy's
        ``create_model(dictionary=...)`` passes it.

    Examples
    --------
    >>> from hyperspy_perovskite.data import simulated_emission_map
    >>> from hyperspy_perovskite.fitting import fast_multifit
    >>> from hyperspy_perovskite.models import PerovskiteModel1D
    >>> s, truth = simulated_emission_map(shape=(4, 4), seed=0)
    >>> m = PerovskiteModel1D(s)
    >>> m.extend([hs.model.components1D.Gaussian(), hs.model.components1D.Offset()])
    >>> _ = fast_multifit(m, starting_values="estimate")
    >>> m.fit_flags.data.tolist()[0]
    [0, 0, 0, 0]
    >>> m.validity.fraction
    1.0
    >>> centre = m.parameter_map("Gaussian", "centre")
    >>> centre.data.shape
    (4, 4)
    """

    def __init__(self, signal1D, dictionary=None, **kwargs):
        super().__init__(signal1D, dictionary=None, **kwargs)
        # top-level attributes only: a plain Model1D restoring this model's
        # dictionary (s.models.restore of a generic signal) sets them harmlessly
        self._fit_flags_data = np.full(
            self.chisq.data.shape, F.NOT_FITTED, dtype=np.int8
        )
        self._validity_store = {}
        self._whitelist["_fit_flags_data"] = None
        self._whitelist["_validity_store"] = None
        self._slicing_whitelist["_fit_flags_data"] = "inav"
        # slices keep the domain class, the flags and the validity
        self.inav = _DomainModelSlicer(self, True)
        self.isig = _DomainModelSlicer(self, False)
        if dictionary is not None:
            self._load_dictionary(dictionary)

    def gui(self, display=True, toolkit=None, **kwargs):
        """HyperSpy's model widget, also on non-uniform (energy) axes, with units.

        See :func:`hyperspy_perovskite.gui.model_widgets.model_gui`.
        """
        from hyperspy_perovskite.gui.model_widgets import model_gui

        return model_gui(self, display=display, toolkit=toolkit, **kwargs)

    def _make_position_adjuster(self, component, fix_it, show_label):
        # HyperSpy's position label reads axis.offset, which a non-uniform
        # axis lacks (see hyperspy_perovskite.gui.model_widgets)
        from hyperspy_perovskite.gui.model_widgets import uniform_axis_attributes

        with uniform_axis_attributes(self.axes_manager):
            super()._make_position_adjuster(component, fix_it, show_label)

    @classmethod
    def restore(cls, signal, name):
        """Restore a model stored in ``signal`` (``m.store(name)``) as this class.

        ``signal.models.restore(name)`` gives the class that
        ``signal.create_model`` returns (a plain ``Model1D`` for a generic
        ``Signal1D``); this gives the domain model whatever the signal class.

        Examples
        --------
        >>> from hyperspy_perovskite.models import PerovskiteModel1D
        >>> s = hs.signals.Signal1D(np.ones((2, 10)))
        >>> m = PerovskiteModel1D(s)
        >>> m.append(hs.model.components1D.Offset())
        >>> m.store("fit")
        >>> type(PerovskiteModel1D.restore(s, "fit")).__name__
        'PerovskiteModel1D'
        """
        import copy

        key = signal.models._check_name(name, True)
        dictionary = signal.models._models.get_item(key + "._dict").as_dictionary()
        return cls(signal, dictionary=copy.deepcopy(dictionary))

    @property
    def fit_flags(self):
        """Per-pixel outcome of the fit (codes of
        :mod:`hyperspy_perovskite.fitting.flags`; -1 never fitted), a
        navigation signal like ``chisq``."""
        out = self.chisq._deepcopy_with_new_data(
            np.asarray(self._fit_flags_data, dtype=np.int8).reshape(
                self.chisq.data.shape
            )
        )
        out.metadata.General.title = self.signal.metadata.General.title + " fit flags"
        return out

    # -- results kept with the model ------------------------------------------
    def _store_fast_fit(self, result):
        """Keep the flags of a :func:`fast_multifit` run (called by the engine)."""
        old = np.asarray(self._fit_flags_data, dtype=np.int8)
        new = np.asarray(result.array("convergence"), dtype=np.int8).reshape(old.shape)
        self._fit_flags_data = np.where(new == F.MASKED, old, new).astype(np.int8)
        self.update_validity()

    @property
    def reduced_chisq(self):
        """Chi-squared / (fitted channels - free parameters), per pixel.

        A navigation signal; NaN where the pixel was not fitted.
        """
        out = self.chisq._deepcopy_with_new_data(self._reduced_chisq_data())
        out.metadata.General.title = (
            self.signal.metadata.General.title + " reduced chi-squared"
        )
        return out

    def _reduced_chisq_data(self):
        """The data of :attr:`reduced_chisq` (no signal made)."""
        n = int(np.count_nonzero(self._channel_switches))
        dof = np.asarray(self.dof.data, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(
                (n - dof) > 0, np.asarray(self.chisq.data, float) / (n - dof), np.nan
            )

    def _converged(self):
        """Converged pixels: fit flag 0, or all free parameters set where the
        pixel was never fitted by fast_multifit (e.g. after ``m.multifit``)."""
        flags = np.asarray(self._fit_flags_data)
        all_set = np.ones(flags.shape, dtype=bool)
        for comp in self:
            if not comp.active:
                continue
            for par in comp.free_parameters:
                all_set &= np.asarray(par.map["is_set"], dtype=bool).reshape(
                    flags.shape
                )
        return np.where(flags == F.NOT_FITTED, all_set, flags == F.CONVERGED)

    def _fit_arrays(self):
        """Values, std, bounds and amplitudes of all free parameters, by name."""
        values, std, bounds, significant = {}, {}, {}, []
        shape = self.chisq.data.shape
        for comp in self:
            if not comp.active:
                continue
            try:
                amplitude = kernel_spec(comp).amplitude
            except UnsupportedComponentError:
                amplitude = None
            for par in comp.free_parameters:
                if par._number_of_elements != 1:
                    continue
                name = f"{comp.name}.{par.name}"
                values[name] = np.asarray(par.map["values"], float).reshape(shape)
                std[name] = np.asarray(par.map["std"], float).reshape(shape)
                if par.bmin is not None or par.bmax is not None:
                    bounds[name] = (par.bmin, par.bmax)
                if par.name == amplitude:
                    significant.append(name)
        return values, std, bounds, significant

    def update_validity(self, n_sigma=3.0, ranges=None, max_reduced_chisq=None):
        """Build the validity of the fit from ALL its free parameters.

        A pixel is valid where the fit converged, no free parameter sits at
        a bound, every peak amplitude (the amplitude declared by the
        component's registered kernel) exceeds ``n_sigma`` standard
        deviations, every value named in ``ranges`` lies in its range and,
        if given, the reduced chi-squared is at most ``max_reduced_chisq``.

        Parameters
        ----------
        n_sigma : float
            Significance required of amplitudes.
        ranges : dict, optional
            ``"Component.parameter" -> (low, high)`` physical ranges (None
            for an open end), in the parameter's units.
        max_reduced_chisq : float, optional
            Largest acceptable reduced chi-squared.

        Returns
        -------
        Validity
            Also kept with the model (:attr:`validity`).
        """
        values, std, bounds, significant = self._fit_arrays()
        if not values:
            raise ValueError(
                "The model has no free parameter: there is no fit whose "
                "validity could be assessed."
            )
        unknown = set(ranges or {}) - set(values)
        if unknown:
            raise KeyError(
                f"ranges names {sorted(unknown)} are not free parameters; use "
                f"'Component.parameter' names among {sorted(values)}."
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            validity = validity_from_fit(
                values,
                std,
                converged=self._converged(),
                bounds=bounds,
                significant=significant,
                n_sigma=n_sigma,
                ranges=ranges,
                reduced_chisq=self._reduced_chisq_data(),
                max_reduced_chisq=max_reduced_chisq,
            )
        self.validity = validity
        return validity

    @property
    def validity(self):
        """The :class:`~hyperspy_perovskite.validity.Validity` of the fit.

        None before any fit; set by :func:`fast_multifit` or
        :meth:`update_validity`, or assign one.
        """
        if not self._validity_store:
            return None
        validity = Validity.from_metadata(DictionaryTreeBrowser(self._validity_store))
        if validity is None or validity.mask.shape != self.chisq.data.shape:
            return None  # e.g. a model sliced after its validity was built
        return validity

    @validity.setter
    def validity(self, validity):
        if validity is None:
            self._validity_store = {}
            return
        shape = self.chisq.data.shape
        if validity.mask.shape != shape:
            raise ValueError(
                f"The validity mask has shape {validity.mask.shape}, the "
                f"navigation shape of the model (numpy order) is {shape}."
            )
        md = DictionaryTreeBrowser()
        validity.to_metadata(md)
        self._validity_store = md.as_dictionary()

    # -- maps -------------------------------------------------------------------
    def _parameter(self, component, parameter):
        comp = self._get_component(component)
        par = getattr(comp, parameter, None) if isinstance(parameter, str) else None
        if par is None or par not in comp.parameters:
            names = [p.name for p in comp.parameters]
            raise ValueError(
                f"{parameter!r} is not a parameter of {comp.name}; choose one "
                f"of {names}."
            )
        return par

    def parameter_map(self, component, parameter, keep_invalid=False):
        """Map of a parameter, NaN outside the fit's validity.

        Parameters
        ----------
        component : str, int or Component
            The component (name, index or object).
        parameter : str
            The parameter name.
        keep_invalid : bool
            Keep the raw values where the fit is not valid (the validity is
            still attached).

        Returns
        -------
        hyperspy.signal.BaseSignal
            The map, carrying the validity in ``metadata.Validity``.

        Raises
        ------
        ValueError
            If the model was never fitted (no validity).
        """
        par = self._parameter(component, parameter)
        validity = self.validity
        if validity is None:
            raise ValueError(
                "The model has no validity yet: fit it (fast_multifit) or call "
                "m.update_validity() after m.multifit()."
            )
        return apply_validity(par.as_signal(), validity, keep_invalid=keep_invalid)

    def as_signal(self, component_list=None, out_of_range_to_nan=True, **kwargs):
        """The model as a signal, NaN at pixels whose parameters are not set.

        HyperSpy's ``as_signal`` refuses a map where any pixel is not set,
        which is the case after any fit with a pixel that did not converge;
        here those pixels are NaN and the others are HyperSpy's result.
        Other arguments are those of ``Model1D.as_signal``.
        """
        comps = list(self) if component_list is None else component_list
        comps = [self._get_component(c) for c in comps]
        saved = []
        for comp in comps:
            for par in comp.parameters:
                is_set = np.asarray(par.map["is_set"], dtype=bool)
                if not is_set.all():
                    saved.append((par, par.map.copy()))
                    par.map["values"][~is_set] = np.nan
                    par.map["is_set"][...] = True
        try:
            with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
                return super().as_signal(
                    component_list=component_list,
                    out_of_range_to_nan=out_of_range_to_nan,
                    **kwargs,
                )
        finally:
            for par, old in saved:
                par.map[...] = old
