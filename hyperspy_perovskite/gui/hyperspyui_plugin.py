"""hyperspyUI plugin: the suite's main actions on the selected signal.

The plugin adds a "Perovskite" menu to hyperspyUI, each action enabled only
for the signal selected in the Data View (or the active figure) when it
applies:

* **Fast multifit** - fit the selected model (or the selected signal's last
  model) with :func:`hyperspy_perovskite.fitting.fast_multifit`;
* **Fit emission** - :meth:`~hyperspy_perovskite.signals.cl.CLEmissionMixin.fit_emission`
  on a ``CL_STEM_perovskite`` / ``CL_SEM_perovskite`` spectrum image;
* **Emission maps** - :meth:`~hyperspy_perovskite.signals.cl.CLEmissionMixin.emission_maps`
  of the fitted emission model, invalid pixels masked (NaN);
* **Attach stimulus log** - ``attach_stimulus`` on an ``insitu_image_series``;
* **Fringe intensity** - ``fringe_intensity`` at d-spacings in angstrom, for
  the whole frame or for regions drawn on the image;
* **Stimulus overlay** - a time trace with the stimulus channels, or the
  channels of a series, against time;
* **EDX profiles** - element profiles across the device stack of an
  ``EDS_TEM_biased`` map, along a line typed or drawn on the map;
* **SAED families** - ``hkl_intensities`` of an ``insitu_SAED_series``.

Long actions run off the UI thread (:mod:`hyperspy_perovskite.gui._jobs`):
the window stays responsive, the dialog shows progress and a Cancel button,
and results are added as new signals (the selected signal is never modified
or replotted). Bad input and errors are shown inside the dialog, in the
dialog's terms, and the dialog stays open.

The same operations are methods of the plugin for scripts and for
hyperspyUI's code recorder, e.g. ``ui.plugins["Perovskite"].fringe_intensity(6.36)``;
these run synchronously and raise instead of showing a dialog.

Install the plugin into hyperspyUI with
:func:`hyperspy_perovskite.gui.install_hyperspyui_plugin`.
"""

import numpy as np
from hyperspyui.plugins.plugin import Plugin
from hyperspyui.util import win2sig
from qtpy import QtCore

from hyperspy_perovskite.gui._device_actions import DeviceActions
from hyperspy_perovskite.gui._ui_base import UIBase, close_only_own_figure, explain
from hyperspy_perovskite.gui._workflow_actions import WorkflowActions
from hyperspy_perovskite.gui.dialogs import (
    _DEFAULT_MAPS,
    AttachStimulusDialog,
    EmissionMapsDialog,
    FitEmissionDialog,
    FringeIntensityDialog,
    parse_d_spacings,
    parse_range,
)

__all__ = [
    "AttachStimulusDialog",
    "EmissionMapsDialog",
    "FitEmissionDialog",
    "FringeIntensityDialog",
    "PerovskitePlugin",
    "explain",
    "parse_d_spacings",
    "parse_range",
]

_MENU = "Perovskite"


def tr(text):
    return QtCore.QCoreApplication.translate("PerovskitePlugin", text)


def _cl_classes():
    from hyperspy_perovskite.signals.cl import CLEmissionMixin

    return (CLEmissionMixin,)


def _insitu_classes():
    from hyperspy_perovskite.signals.insitu_image import InSituImageSeries

    return (InSituImageSeries,)


def _emission_components(model):
    from hyperspy_perovskite.components import GaussianEmission

    return [c for c in model if isinstance(c, GaussianEmission)]


class PerovskitePlugin(WorkflowActions, DeviceActions, UIBase, Plugin):
    """hyperspyUI actions of hyperspy-perovskite (menu "Perovskite").

    Examples
    --------
    In hyperspyUI's console, after selecting an in situ series:

    >>> p = ui.plugins["Perovskite"]  # doctest: +SKIP
    >>> power = p.fringe_intensity([6.36, 6.96])  # doctest: +SKIP
    """

    name = "Perovskite"

    _ACTIONS = (
        ("fast_multifit", "Fast multifit", "Fit the model at every pixel (compiled)"),
        ("fit_emission", "Fit emission", "Fit Gaussian emission band(s) to a CL map"),
        ("emission_maps", "Emission maps", "Maps of the fitted emission band"),
        ("attach_stimulus", "Attach stimulus log", "Attach a bias/heat/gas log"),
        ("fringe_intensity", "Fringe intensity", "Lattice-fringe power vs time"),
        ("stimulus_overlay", "Stimulus overlay", "Plot against the stimulus record"),
        ("edx_profiles", "EDX profiles", "Element profiles across the device stack"),
        ("migration_fit", "Ion migration fit", "Accumulation at a blocking interface"),
        ("saed_families", "SAED families", "{hkl} family intensities vs time"),
        ("saed_halo", "SAED amorphous halo", "Amorphous-halo fraction vs time"),
        ("virtual_images", "4D-STEM virtual images", "Virtual BF/ADF series"),
        ("operando_strain", "4D-STEM strain", "Strain maps and interface strain"),
        ("jv_figures", "J-V figures of merit", "Jsc, Voc, FF, PCE with std"),
    )

    def __init__(self, main_window):
        self.jobs = []
        close_only_own_figure()  # closing a copy's window kept closing its original
        super().__init__(main_window)
        # perovskite (FAPbI3)x(MAPbBr3)1-x (001), d = 6.36 Å (the amorphization-
        # under-bias study, Fig. 1c); the last value used is remembered
        self.settings.set_default("d_spacing", "6.36")

    # --------------------------------------------------------------- set-up
    def _rules(self):
        return {
            "fast_multifit": self._has_model,
            "fit_emission": lambda sw: self._is(sw, _cl_classes),
            "emission_maps": self._has_emission_model,
            "attach_stimulus": lambda sw: self._is(sw, _insitu_classes),
            "fringe_intensity": lambda sw: self._is(sw, _insitu_classes),
            "stimulus_overlay": self._has_stimulus,
            "edx_profiles": lambda sw: self._is(sw, self._eds_classes),
            "migration_fit": lambda sw: self._is(sw, self._eds_classes),
            "saed_families": lambda sw: self._is(sw, self._saed_classes),
            "saed_halo": lambda sw: self._is(sw, self._saed_classes),
            "virtual_images": lambda sw: self._is(sw, self._operando_classes),
            "operando_strain": lambda sw: self._is(sw, self._operando_classes),
            "jv_figures": lambda sw: self._is(sw, self._jv_classes),
        }

    def create_actions(self):
        rules = self._rules()
        for key, label, tip in self._ACTIONS:
            rule = rules[key]
            self.add_action(
                self._key(key),
                label,
                getattr(self, "_on_" + key),
                tip=tip,
                selection_callback=lambda win, action, rule=rule: action.setEnabled(
                    bool(rule(self._wrapper_of(win)))
                ),
            )

    def create_menu(self):
        for key, _, _ in self._ACTIONS:
            self.add_menuitem(_MENU, self.ui.actions[self._key(key)])
        self._hook_tree()

    def _hook_tree(self):
        """Follow the Data View selection, not only the active figure (the
        Data View may be created after the plugins: hooked at first use)."""
        if getattr(self, "_tree_hooked", False):
            return
        tree = getattr(getattr(self.ui, "tree", None), "tree", None)
        if tree is not None:
            tree.itemSelectionChanged.connect(self.update_actions)
            self._tree_hooked = True

    def _key(self, key):
        return f"{self.name}.{key}"

    def action(self, key):
        """The QAction of ``key`` (e.g. ``"fit_emission"``)."""
        return self.ui.actions[self._key(key)]

    # ------------------------------------------------------ selection rules
    def _tree_wrapper(self):
        try:
            return self.ui.tree.get_selected_wrapper()
        except (AttributeError, TypeError):
            return None

    def _wrapper_of(self, win):
        """The active figure's signal, else the Data View's selected one."""
        self._hook_tree()
        sw = win2sig(win, self.ui.signals, self.ui._plotting_signal) if win else None
        return sw if sw is not None else self._tree_wrapper()

    def update_actions(self):
        """Enable the actions for the signal selected in the Data View."""
        sw = self._tree_wrapper()
        if sw is None:
            sw = self._wrapper_of(self.ui.main_frame.activeSubWindow())
        for key, rule in self._rules().items():
            self.action(key).setEnabled(bool(rule(sw)))

    @staticmethod
    def _is(sw, classes):
        return sw is not None and isinstance(sw.signal, classes())

    def _has_model(self, sw):
        return self.ui.get_selected_model() is not None or (
            sw is not None and len(sw.models) > 0
        )

    def _has_emission_model(self, sw):
        return self._is(sw, _cl_classes) and any(
            _emission_components(mw.model) for mw in sw.models
        )

    # --------------------------------------------------------------- helpers
    def _wrapper(self, signal):
        for sw in self.ui.signals:
            if sw.signal is signal:
                return sw
        return None

    def _selected_signal(self, signal, classes, what):
        if signal is None:
            signal = self.ui.get_selected_signal()
        if signal is None:
            raise ValueError(f"Select {what} first (load it or click its plot).")
        if not isinstance(signal, classes()):
            raise TypeError(
                f"This action needs {what}, but the selected signal "
                f"'{signal.metadata.General.title}' is a {type(signal).__name__} "
                "(use Signal > Set signal type)."
            )
        return signal

    def _selected_model(self, model):
        if model is not None:
            return model
        model = self.ui.get_selected_model()
        if model is None:
            sw = self.ui.get_selected_wrapper()
            if sw is not None and sw.models:
                model = sw.models[-1].model
        if model is None:
            raise ValueError(
                "Select a model (create one with Add model and add components) "
                "before running Fast multifit."
            )
        return model

    # --------------------------------------------------------- fast multifit
    def _prepare_fast_multifit(self, model=None, **kwargs):
        from hyperspy_perovskite.fitting import fast_multifit

        model = self._selected_model(model)
        if model.axes_manager.navigation_dimension == 0:
            raise ValueError(
                "Fast multifit fits every navigation pixel; this model's signal "
                "has a single spectrum: use the model's Fit instead."
            )
        kwargs.setdefault("show_progressbar", False)

        def deliver(result):
            title = model.signal.metadata.General.title or "model"
            for name, sig in (
                ("convergence", result.convergence),
                ("reduced chi-squared", result.reduced_chisq),
            ):
                sig.metadata.General.title = f"{title}: {name}"
                self.add_signal(sig)
            if model._plot is not None and model._plot.is_active:
                model.update_plot()
            self.ui.set_status(
                f"Fast multifit: {result.n_converged}/{result.n_pixels} pixels "
                f"converged in {result.elapsed:.2f} s"
            )
            self.record_code(f"<p>.fast_multifit({_kw(kwargs)})")
            return result

        return (lambda: fast_multifit(model, **kwargs)), deliver

    def fast_multifit(self, model=None, **kwargs):
        """Fit ``model`` (default: the selected one) at every pixel.

        Calls :func:`hyperspy_perovskite.fitting.fast_multifit` with
        ``kwargs``, updates the model's plot and adds the convergence flags
        (0 = converged) and reduced chi-squared maps to hyperspyUI.

        Returns
        -------
        hyperspy_perovskite.fitting.FastFitResult
        """
        return self._run_now(*self._prepare_fast_multifit(model, **kwargs))

    def _on_fast_multifit(self):
        prep = self._guarded("Fast multifit", self._prepare_fast_multifit)
        if prep is not None:
            self.run_job("Fast multifit", *prep)

    # ---------------------------------------------------------- fit emission
    def _prepare_fit_emission(self, signal=None, **kwargs):
        signal = self._selected_signal(
            signal, _cl_classes, "a CL_STEM_perovskite or CL_SEM_perovskite signal"
        )
        rng = kwargs.get("signal_range")
        if rng is not None and kwargs.get("axis", "wavelength") == "wavelength":
            ax = signal.axes_manager.signal_axes[0]
            lo, hi = sorted((ax.axis[0], ax.axis[-1]))
            if not (lo <= min(rng) and max(rng) <= hi):
                raise ValueError(
                    f"Range start/end {rng[0]:g}-{rng[1]:g} must lie within the axis "
                    f"({lo:.4g}-{hi:.4g} {ax.units})."
                )
        kwargs.setdefault("show_progressbar", False)

        def deliver(model):
            if model.signal is not signal:
                t = signal.metadata.General.title or "CL"
                axis = kwargs.get("axis", "wavelength")
                model.signal.metadata.General.title = f"{t} ({axis} fit)"
            self.add_model(model, name="Emission fit")
            res = model.fast_fit_result
            self.ui.set_status(
                f"Fit emission: {res.n_converged}/{res.n_pixels} pixels converged"
            )
            shown = {k: v for k, v in kwargs.items() if k != "show_progressbar"}
            self.record_code(f"<p>.fit_emission({_kw(shown)})")
            self.update_actions()
            return model

        return (lambda: signal.fit_emission(**kwargs)), deliver

    def fit_emission(self, signal=None, **kwargs):
        """Fit emission band(s) to a CL spectrum image; add the model to the UI.

        ``kwargs`` are those of ``fit_emission`` (``n_peaks``, ``tail``,
        ``background``, ``axis``, ``signal_range``, ``poisson``, ...). When
        the fit runs on a converted copy (energy axis, normalised units,
        Poisson weights) that copy is added to hyperspyUI with the model; the
        original stays as it is.

        Returns
        -------
        hyperspy.models.model1d.Model1D
        """
        return self._run_now(*self._prepare_fit_emission(signal, **kwargs))

    def _on_fit_emission(self):
        self._open(
            FitEmissionDialog(self.ui), "Fit emission", self._prepare_fit_emission
        )

    # --------------------------------------------------------- emission maps
    def _emission_model(self, signal):
        sw = self._wrapper(signal)
        selected = self.ui.get_selected_model()
        if selected is not None and selected.signal is signal:
            if _emission_components(selected):
                return selected
        if sw is not None:
            for mw in reversed(sw.models):
                if _emission_components(mw.model):
                    return mw.model
        raise ValueError(
            "No emission model for this signal: run Fit emission first "
            "(a model with GaussianEmission components)."
        )

    def _prepare_emission_maps(self, signal=None, model=None, names=None, **kwargs):
        signal = self._selected_signal(
            signal, _cl_classes, "a CL_STEM_perovskite or CL_SEM_perovskite signal"
        )
        if model is None:
            model = self._emission_model(signal)
        names = list(_DEFAULT_MAPS if names is None else names)
        if not names:
            raise ValueError("Tick at least one map.")

        def work():
            maps = signal.emission_maps(model, **kwargs)
            unknown = [n for n in names if n not in maps]
            if unknown:
                raise ValueError(
                    f"Unknown emission map(s) {unknown}; choose from {sorted(maps)}."
                )
            return _masked(maps)

        def deliver(maps):
            t = signal.metadata.General.title or "CL"
            for n in names:
                maps[n].metadata.General.title = f"{t}: {n}"
                self.add_signal(maps[n])
            self.record_code(f"<p>.emission_maps(names={names!r}{_kw(kwargs, ', ')})")
            return maps

        return work, deliver

    def emission_maps(self, signal=None, model=None, names=None, **kwargs):
        """Emission maps of a fitted model, added to hyperspyUI.

        Maps of fitted values are NaN where the fit is not valid (the
        ``valid`` map); ``quality`` and ``valid`` themselves are kept whole.

        Parameters
        ----------
        signal : CL perovskite signal, optional
            Default: the selected signal (the signal the model belongs to).
        model : Model1D, optional
            Default: the selected model, else the signal's last emission fit.
        names : list of str, optional
            Maps to add (default centre, fwhm, area, quality).
        **kwargs
            ``component``, ``n_sigma``, ``max_reduced_chisq``.

        Returns
        -------
        dict of hyperspy signals
            All maps of ``emission_maps``; those in ``names`` are shown.
        """
        return self._run_now(
            *self._prepare_emission_maps(signal, model, names, **kwargs)
        )

    def _on_emission_maps(self):
        def names_of_maps():
            s = self._selected_signal(None, _cl_classes, "a CL perovskite signal")
            return list(s.emission_maps(self._emission_model(s)))

        names = self._guarded("Emission maps", names_of_maps)
        if names is not None:
            self._open(
                EmissionMapsDialog(names, self.ui),
                "Emission maps",
                self._prepare_emission_maps,
            )

    # ------------------------------------------------------- attach stimulus
    def _prepare_attach_stimulus(self, path, signal=None, **kwargs):
        signal = self._selected_signal(
            signal, _insitu_classes, "an insitu_image_series signal"
        )

        def deliver(out):
            t = signal.metadata.General.title or "series"
            out.metadata.General.title = f"{t} (stimulus)"
            self.add_signal(out)
            self.record_code(f"<p>.attach_stimulus({str(path)!r}{_kw(kwargs, ', ')})")
            return out

        return (lambda: signal.attach_stimulus(path, **kwargs)), deliver

    def attach_stimulus(self, path, signal=None, **kwargs):
        """Attach a stimulus log to an in situ series; add the result to the UI.

        The selected signal is not modified: the annotated series (sharing
        the data) is added as a new signal.

        Parameters
        ----------
        path : str
            Protochips log or CSV (see
            :func:`hyperspy_perovskite.stimulus.read_stimulus`).
        **kwargs
            ``time_offset``, ``trigger_channel``, ``replace``, ...
        """
        return self._run_now(*self._prepare_attach_stimulus(path, signal, **kwargs))

    def _on_attach_stimulus(self):
        dialog = AttachStimulusDialog(self.ui, self.ui)
        self._open(dialog, "Attach stimulus log", self._prepare_attach_stimulus)
        if not dialog.path.text():
            dialog.browse()

    # ------------------------------------------------------ fringe intensity
    def _prepare_fringe_intensity(self, d_spacing, signal=None, **kwargs):
        signal = self._selected_signal(
            signal, _insitu_classes, "an insitu_image_series signal"
        )
        if isinstance(d_spacing, str):
            d_spacing = parse_d_spacings(d_spacing)
        kwargs.setdefault("show_progressbar", False)

        def work():
            out = signal.fringe_intensity(d_spacing, **kwargs)
            if out._lazy:
                out.compute(show_progressbar=False)
            return out

        def deliver(out):
            t = signal.metadata.General.title or "series"
            out.metadata.General.title = f"{t}: fringe power at {d_spacing} A"
            self.settings["d_spacing"] = ", ".join(
                str(v) for v in np.atleast_1d(d_spacing)
            )
            self.add_signal(out)
            shown = {
                k: v for k, v in kwargs.items() if k not in ("show_progressbar", "roi")
            }
            self.record_code(f"<p>.fringe_intensity({d_spacing!r}{_kw(shown, ', ')})")
            return out

        return work, deliver

    def fringe_intensity(self, d_spacing, signal=None, **kwargs):
        """Fringe power at ``d_spacing`` (angstrom) vs time, added to the UI.

        ``kwargs`` are those of ``fringe_intensity`` (``tolerance``, ``roi``,
        ``tile_size``, ...).
        """
        return self._run_now(
            *self._prepare_fringe_intensity(d_spacing, signal, **kwargs)
        )

    def _on_fringe_intensity(self):
        dialog = FringeIntensityDialog(str(self.settings["d_spacing"]), self.ui)
        dialog.on_add_roi = lambda: self._guarded(
            "Fringe intensity", self.add_image_roi
        )
        self._open(dialog, "Fringe intensity", self._prepare_fringe_intensity)


def _masked(maps):
    """Emission maps with invalid pixels NaN (fitted values and their std)."""
    valid = np.asarray(maps["valid"].data, dtype=bool)
    for name, sig in maps.items():
        if name in ("valid", "quality") or not np.issubdtype(
            sig.data.dtype, np.floating
        ):
            continue
        sig.data = np.where(valid, sig.data, np.nan)
    return maps


def _kw(kwargs, lead=""):
    """``kwargs`` as recorded code (``a=1, b='x'``)."""
    if not kwargs:
        return ""
    return lead + ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
