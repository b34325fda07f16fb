"""hyperspyUI plugin: the suite's main actions on the selected signal.

The plugin adds a "Perovskite" menu to hyperspyUI with five
actions, each enabled only for the signals it applies to:

* **Fast multifit** - fit the selected model (or the selected signal's last
  model) with :func:`hyperspy_perovskite.fitting.fast_multifit`;
* **Fit emission** - :meth:`~hyperspy_perovskite.signals.cl.CLEmissionMixin.fit_emission`
  on a ``CL_STEM_perovskite`` / ``CL_SEM_perovskite`` spectrum image;
* **Emission maps** - :meth:`~hyperspy_perovskite.signals.cl.CLEmissionMixin.emission_maps`
  of the fitted emission model;
* **Attach stimulus log** - :meth:`~hyperspy_perovskite.signals.insitu_image.InSituImageSeries.attach_stimulus`
  on an ``insitu_image_series`` (file dialog);
* **Fringe intensity** - :meth:`~hyperspy_perovskite.signals.insitu_image.InSituImageSeries.fringe_intensity`
  at d-spacings given in angstrom.

Every action calls the public API of the suite; nothing is re-implemented
here. Results are added to hyperspyUI as new signals (plotted, so that they
appear in the data view) or, for fits, as models of their signal. Bad input
(for example a d-spacing that is not a number, image axes without a length
unit, or a log that does not overlap the frames) is reported in an error
dialog with the message of the underlying ``ValueError``/``TypeError``.

The same operations are methods of the plugin for scripts and for
hyperspyUI's code recorder, e.g. ``ui.plugins["Perovskite"].fringe_intensity(6.36)``;
these raise instead of showing a dialog.

Install the plugin into hyperspyUI with
:func:`hyperspy_perovskite.gui.install_hyperspyui_plugin`.
"""

import traceback

import numpy as np
from hyperspyui.modelwrapper import ModelWrapper
from hyperspyui.plugins.plugin import Plugin
from hyperspyui.util import win2sig
from qtpy import QtCore, QtWidgets

__all__ = [
    "AttachStimulusDialog",
    "EmissionMapsDialog",
    "FitEmissionDialog",
    "FringeIntensityDialog",
    "PerovskitePlugin",
]

_MENU = "Perovskite"
_DEFAULT_MAPS = ("centre", "fwhm", "area", "quality")


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


def parse_d_spacings(text):
    """Parse one or more d-spacings (angstrom) from a comma-separated string.

    Parameters
    ----------
    text : str
        E.g. ``"6.36"`` or ``"6.36, 6.96"``.

    Returns
    -------
    float or list of float
        A float for one value, a list for several.

    Examples
    --------
    >>> parse_d_spacings("6.36, 6.96")
    [6.36, 6.96]
    >>> parse_d_spacings(" 6.36 ")
    6.36
    """
    parts = [p.strip() for p in str(text).replace(";", ",").split(",")]
    parts = [p for p in parts if p]
    if not parts:
        raise ValueError(
            "Enter at least one d-spacing in angstrom, e.g. 6.36 or 6.36, 6.96."
        )
    values = []
    for p in parts:
        try:
            v = float(p)
        except ValueError:
            raise ValueError(
                f"{p!r} is not a number: enter d-spacings in angstrom separated "
                "by commas, e.g. 6.36, 6.96."
            ) from None
        if not np.isfinite(v) or v <= 0:
            raise ValueError(f"d-spacings must be positive (angstrom), got {p}.")
        values.append(v)
    return values[0] if len(values) == 1 else values


def parse_range(start, end):
    """Parse a signal range from two text fields; both empty means the whole axis.

    Examples
    --------
    >>> parse_range("", "") is None
    True
    >>> parse_range("650", "780")
    (650.0, 780.0)
    """
    start, end = str(start).strip(), str(end).strip()
    if not start and not end:
        return None
    try:
        return float(start), float(end)
    except ValueError:
        raise ValueError(
            f"The fit range ({start!r}, {end!r}) must be two numbers in the unit "
            "of the fitted axis (nm or eV), or both left empty for the whole axis."
        ) from None


class _OkCancelDialog(QtWidgets.QDialog):
    """A form dialog with OK / Cancel buttons."""

    def __init__(self, title, parent=None):
        super().__init__(parent)
        self.setWindowTitle(tr(title))
        self.form = QtWidgets.QFormLayout()
        self.buttons = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.Ok | QtWidgets.QDialogButtonBox.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        vbox = QtWidgets.QVBoxLayout(self)
        vbox.addLayout(self.form)
        vbox.addWidget(self.buttons)


class FitEmissionDialog(_OkCancelDialog):
    """Options of :meth:`fit_emission`: bands, tail, background, axis, range."""

    def __init__(self, parent=None):
        super().__init__("Fit emission", parent)
        self.n_peaks = QtWidgets.QSpinBox()
        self.n_peaks.setRange(1, 2)
        self.tail = QtWidgets.QCheckBox(tr("Urbach tail (energy axis only)"))
        self.background = QtWidgets.QComboBox()
        self.background.addItems(["offset", "linear", "none"])
        self.axis = QtWidgets.QComboBox()
        self.axis.addItems(["wavelength", "energy"])
        self.range_start = QtWidgets.QLineEdit()
        self.range_end = QtWidgets.QLineEdit()
        for w in (self.range_start, self.range_end):
            w.setPlaceholderText(tr("whole axis"))
        self.poisson = QtWidgets.QCheckBox(tr("Poisson weights (photon counts)"))
        self.form.addRow(tr("Gaussian bands"), self.n_peaks)
        self.form.addRow("", self.tail)
        self.form.addRow(tr("Background"), self.background)
        self.form.addRow(tr("Axis"), self.axis)
        self.form.addRow(tr("Range start"), self.range_start)
        self.form.addRow(tr("Range end"), self.range_end)
        self.form.addRow("", self.poisson)

    def options(self):
        """Keyword arguments of ``fit_emission`` (ValueError on a bad range)."""
        return {
            "n_peaks": self.n_peaks.value(),
            "tail": self.tail.isChecked(),
            "background": self.background.currentText(),
            "axis": self.axis.currentText(),
            "signal_range": parse_range(self.range_start.text(), self.range_end.text()),
            "poisson": self.poisson.isChecked(),
        }


class EmissionMapsDialog(_OkCancelDialog):
    """Which emission maps to show, and the significance threshold."""

    def __init__(self, names, parent=None):
        super().__init__("Emission maps", parent)
        self.maps = QtWidgets.QListWidget()
        for name in names:
            item = QtWidgets.QListWidgetItem(name)
            item.setFlags(item.flags() | QtCore.Qt.ItemIsUserCheckable)
            item.setCheckState(
                QtCore.Qt.Checked if name in _DEFAULT_MAPS else QtCore.Qt.Unchecked
            )
            self.maps.addItem(item)
        self.min_significance = QtWidgets.QDoubleSpinBox()
        self.min_significance.setRange(0.0, 1000.0)
        self.min_significance.setValue(3.0)
        self.form.addRow(tr("Maps"), self.maps)
        self.form.addRow(tr("Min. significance (std)"), self.min_significance)

    def selected(self):
        return [
            self.maps.item(i).text()
            for i in range(self.maps.count())
            if self.maps.item(i).checkState() == QtCore.Qt.Checked
        ]

    def options(self):
        return {
            "names": self.selected(),
            "n_sigma": self.min_significance.value(),
        }


class FringeIntensityDialog(_OkCancelDialog):
    """d-spacing(s) in angstrom and the annulus tolerance."""

    # default: perovskite (001) fringes, d = 6.36 A (“Imaging real-time amorphization of hybrid perovskite solar cells under electrical biasing”)
    def __init__(self, default="6.36", parent=None):
        super().__init__("Fringe intensity", parent)
        self.d_spacing = QtWidgets.QLineEdit(default)
        self.d_spacing.setToolTip(
            tr("One or more d-spacings in angstrom, separated by commas")
        )
        self.tolerance = QtWidgets.QDoubleSpinBox()
        self.tolerance.setDecimals(3)
        self.tolerance.setRange(0.001, 0.5)
        self.tolerance.setSingleStep(0.005)
        self.tolerance.setValue(0.02)
        self.form.addRow(tr("d-spacing (\u00c5)"), self.d_spacing)
        self.form.addRow(tr("Relative tolerance"), self.tolerance)

    def options(self):
        return {
            "d_spacing": parse_d_spacings(self.d_spacing.text()),
            "tolerance": self.tolerance.value(),
        }


class AttachStimulusDialog(_OkCancelDialog):
    """Stimulus log file (with a Browse button), time offset, replace."""

    def __init__(self, ui, parent=None):
        super().__init__("Attach stimulus log", parent)
        self.ui = ui
        self.path = QtWidgets.QLineEdit()
        browse = QtWidgets.QPushButton(tr("Browse..."))
        browse.clicked.connect(self.browse)
        self.browse_button = browse
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.path)
        row.addWidget(browse)
        self.time_offset = QtWidgets.QDoubleSpinBox()
        self.time_offset.setRange(-1e6, 1e6)
        self.time_offset.setDecimals(3)
        self.time_offset.setSuffix(" s")
        self.time_offset.setToolTip(
            tr("Frame time of the log's t = 0 (frame_time = log_time + offset)")
        )
        self.replace = QtWidgets.QCheckBox(tr("Replace an existing record"))
        self.form.addRow(tr("Log file"), row)
        self.form.addRow(tr("Time offset"), self.time_offset)
        self.form.addRow("", self.replace)

    def browse(self):
        """Choose the log with hyperspyUI's file dialog."""
        names = self.ui.prompt_files(
            tr("Stimulus logs (*.csv *.txt);;All files (*)"),
            exists=True,
            title=tr("Stimulus log"),
        )
        if isinstance(names, str):
            names = [names] if names else []
        if names:
            self.path.setText(names[0])

    def options(self):
        path = self.path.text().strip()
        if not path:
            raise ValueError(
                "Choose a stimulus log file (Browse...), e.g. a Protochips CSV."
            )
        return {
            "path": path,
            "time_offset": self.time_offset.value(),
            "replace": self.replace.isChecked(),
        }


class PerovskitePlugin(Plugin):
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
    )

    def __init__(self, main_window):
        super().__init__(main_window)
        # perovskite (FAPbI3)x(MAPbBr3)1-x (001), d = 6.36 A (seed
        # “Imaging real-time amorphization of hybrid perovskite solar cells under electrical biasing”, Fig. 1c); the last value used is remembered
        self.settings.set_default("d_spacing", "6.36")

    # --------------------------------------------------------------- set-up
    def create_actions(self):
        rules = {
            "fast_multifit": self._select_model,
            "fit_emission": self._select_cl,
            "emission_maps": self._select_cl_model,
            "attach_stimulus": self._select_insitu,
            "fringe_intensity": self._select_insitu,
        }
        for key, label, tip in self._ACTIONS:
            self.add_action(
                self._key(key),
                label,
                getattr(self, "_on_" + key),
                tip=tip,
                selection_callback=rules[key],
            )

    def create_menu(self):
        for key, _, _ in self._ACTIONS:
            self.add_menuitem(_MENU, self.ui.actions[self._key(key)])

    def _key(self, key):
        return f"{self.name}.{key}"

    def action(self, key):
        """The QAction of ``key`` (e.g. ``"fit_emission"``)."""
        return self.ui.actions[self._key(key)]

    # ------------------------------------------------------ selection rules
    def _wrapper_of(self, win):
        return win2sig(win, self.ui.signals, self.ui._plotting_signal)

    def _select_type(self, classes, win, action):
        sw = self._wrapper_of(win)
        action.setEnabled(sw is not None and isinstance(sw.signal, classes()))

    def _select_cl(self, win, action):
        self._select_type(_cl_classes, win, action)

    def _select_insitu(self, win, action):
        self._select_type(_insitu_classes, win, action)

    def _select_model(self, win, action):
        sw = self._wrapper_of(win)
        ok = self.ui.get_selected_model() is not None or (
            sw is not None and len(sw.models) > 0
        )
        action.setEnabled(ok)

    def _select_cl_model(self, win, action):
        sw = self._wrapper_of(win)
        ok = sw is not None and isinstance(sw.signal, _cl_classes())
        ok = ok and any(_emission_components(mw.model) for mw in sw.models)
        action.setEnabled(ok)

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

    def add_signal(self, signal):
        """Show ``signal`` in hyperspyUI (plot it and add it to the data view).

        hyperspyUI registers plotted signals through a hook in the class of
        the signal, present only in classes created after hyperspyUI started;
        for other signals the main window's plotting callbacks are called
        here, exactly as the hook calls them.

        Returns
        -------
        hyperspyui.signalwrapper.SignalWrapper
        """
        from hyperspyui.hooksignal import HookedSignal

        sw = self._wrapper(signal)
        if sw is not None:
            return sw
        if isinstance(signal, HookedSignal):
            signal.plot()
        else:
            self.ui.on_signal_plotting(signal)
            try:
                signal.plot()
            except Exception:
                sw = self._wrapper(signal)
                if sw is not None:
                    self.ui.signals.remove(sw)
                self.ui._plotting_signal = None
                raise
            self.ui.on_signal_plotted(signal)
        return self._wrapper(signal)

    def add_model(self, model, name=None):
        """Add a model of a signal (added first if needed) to hyperspyUI."""
        sw = self.add_signal(model.signal)
        for mw in sw.models:
            if mw.model is model:
                return mw
        mw = ModelWrapper(model, sw, name or f"Model {sw._model_id}")
        sw._model_id += 1
        sw.add_model(mw)
        mw.plot()
        return mw

    def show_error(self, title, error):
        """Report ``error`` in a modal message box, as hyperspyUI's plugins do."""
        mb = QtWidgets.QMessageBox(
            QtWidgets.QMessageBox.Critical,
            tr(title),
            f"{type(error).__name__}: {error}",
            QtWidgets.QMessageBox.Ok,
            self.ui,
        )
        mb.setDetailedText(
            "".join(traceback.format_exception(type(error), error, error.__traceback__))
        )
        mb.exec_()
        return mb

    def _guarded(self, title, func, *args, **kwargs):
        """Run ``func``; an exception becomes an error dialog (returns None)."""
        try:
            return func(*args, **kwargs)
        except Exception as err:  # the GUI boundary: report, never crash the UI
            self.show_error(title, err)
            return None

    def _open(self, dialog, title, run):
        """Open ``dialog`` (non-modal); on OK call ``run(**dialog.options())``."""

        def on_accept():
            opts = self._guarded(title, dialog.options)
            if opts is not None:
                self._guarded(title, run, **opts)

        dialog.accepted.connect(on_accept)
        self.open_dialog(dialog)
        return dialog

    # --------------------------------------------------------- fast multifit
    def fast_multifit(self, model=None, **kwargs):
        """Fit ``model`` (default: the selected one) at every pixel.

        Calls :func:`hyperspy_perovskite.fitting.fast_multifit` with
        ``kwargs``, updates the model's plot and adds the convergence flags
        (0 = converged) and reduced chi-squared maps to hyperspyUI.

        Returns
        -------
        hyperspy_perovskite.fitting.FastFitResult
        """
        from hyperspy_perovskite.fitting import fast_multifit

        model = self._selected_model(model)
        if model.axes_manager.navigation_dimension == 0:
            raise ValueError(
                "Fast multifit fits every navigation pixel; this model's signal "
                "has a single spectrum: use the model's Fit instead."
            )
        result = fast_multifit(model, **kwargs)
        title = model.signal.metadata.General.title or "model"
        for name, sig in (
            ("convergence", result.convergence),
            ("reduced chi-squared", result.reduced_chisq),
        ):
            sig.metadata.General.title = f"{title}: {name}"
            self.add_signal(sig)
        if model._plot is not None and model._plot.is_active:
            model.update_plot()
        n = result.n_pixels
        self.ui.set_status(
            f"Fast multifit: {result.n_converged}/{n} pixels converged in "
            f"{result.elapsed:.2f} s"
        )
        self.record_code(f"<p>.fast_multifit({_kw(kwargs)})")
        return result

    def _on_fast_multifit(self):
        self._guarded("Fast multifit", self.fast_multifit)

    # ---------------------------------------------------------- fit emission
    def fit_emission(self, signal=None, **kwargs):
        """Fit emission band(s) to a CL spectrum image; add the model to the UI.

        ``kwargs`` are those of ``fit_emission`` (``n_peaks``, ``tail``,
        ``background``, ``axis``, ``signal_range``, ``poisson``, ...). When
        the fit runs on a converted copy (energy axis, normalised units,
        Poisson weights) that copy is added to hyperspyUI with the model.

        Returns
        -------
        hyperspy.models.model1d.Model1D
        """
        signal = self._selected_signal(
            signal, _cl_classes, "a CL_STEM_perovskite or CL_SEM_perovskite signal"
        )
        model = signal.fit_emission(**kwargs)
        if model.signal is not signal:
            t = signal.metadata.General.title or "CL"
            axis = kwargs.get("axis", "wavelength")
            model.signal.metadata.General.title = f"{t} ({axis} fit)"
        self.add_model(model, name="Emission fit")
        res = model.fast_fit_result
        self.ui.set_status(
            f"Fit emission: {res.n_converged}/{res.n_pixels} pixels converged"
        )
        self.record_code(f"<p>.fit_emission({_kw(kwargs)})")
        return model

    def _on_fit_emission(self):
        self._open(FitEmissionDialog(self.ui), "Fit emission", self.fit_emission)

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

    def emission_maps(self, signal=None, model=None, names=None, **kwargs):
        """Emission maps of a fitted model, added to hyperspyUI.

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
        signal = self._selected_signal(
            signal, _cl_classes, "a CL_STEM_perovskite or CL_SEM_perovskite signal"
        )
        if model is None:
            model = self._emission_model(signal)
        maps = signal.emission_maps(model, **kwargs)
        names = list(_DEFAULT_MAPS if names is None else names)
        unknown = [n for n in names if n not in maps]
        if unknown:
            raise ValueError(
                f"Unknown emission map(s) {unknown}; choose from {sorted(maps)}."
            )
        t = signal.metadata.General.title or "CL"
        for n in names:
            maps[n].metadata.General.title = f"{t}: {n}"
            self.add_signal(maps[n])
        self.record_code(f"<p>.emission_maps(names={names!r}{_kw(kwargs, ', ')})")
        return maps

    def _on_emission_maps(self):
        def names_of_maps():
            s = self._selected_signal(None, _cl_classes, "a CL perovskite signal")
            return list(s.emission_maps(self._emission_model(s)))

        names = self._guarded("Emission maps", names_of_maps)
        if names is not None:
            self._open(
                EmissionMapsDialog(names, self.ui), "Emission maps", self.emission_maps
            )

    # ------------------------------------------------------- attach stimulus
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
        signal = self._selected_signal(
            signal, _insitu_classes, "an insitu_image_series signal"
        )
        out = signal.attach_stimulus(path, **kwargs)
        t = signal.metadata.General.title or "series"
        out.metadata.General.title = f"{t} (stimulus)"
        self.add_signal(out)
        self.record_code(f"<p>.attach_stimulus({str(path)!r}{_kw(kwargs, ', ')})")
        return out

    def _on_attach_stimulus(self):
        dialog = AttachStimulusDialog(self.ui, self.ui)
        self._open(dialog, "Attach stimulus log", self.attach_stimulus)
        if not dialog.path.text():
            dialog.browse()

    # ------------------------------------------------------ fringe intensity
    def fringe_intensity(self, d_spacing, signal=None, **kwargs):
        """Fringe power at ``d_spacing`` (angstrom) vs time, added to the UI.

        ``kwargs`` are those of ``fringe_intensity`` (``tolerance``, ``roi``,
        ``tile_size``, ...).
        """
        signal = self._selected_signal(
            signal, _insitu_classes, "an insitu_image_series signal"
        )
        if isinstance(d_spacing, str):
            d_spacing = parse_d_spacings(d_spacing)
        out = signal.fringe_intensity(d_spacing, **kwargs)
        t = signal.metadata.General.title or "series"
        out.metadata.General.title = f"{t}: fringe power at {d_spacing} A"
        self.settings["d_spacing"] = ", ".join(str(v) for v in np.atleast_1d(d_spacing))
        self.add_signal(out)
        self.record_code(f"<p>.fringe_intensity({d_spacing!r}{_kw(kwargs, ', ')})")
        return out

    def _on_fringe_intensity(self):
        dialog = FringeIntensityDialog(str(self.settings["d_spacing"]), self.ui)
        self._open(dialog, "Fringe intensity", self.fringe_intensity)


def _kw(kwargs, lead=""):
    """``kwargs`` as recorded code (``a=1, b='x'``)."""
    if not kwargs:
        return ""
    return lead + ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
