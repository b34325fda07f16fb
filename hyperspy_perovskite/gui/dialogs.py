"""Dialogs of the hyperspyUI plugin.

Every dialog stays open on OK until its action has finished: bad input and
errors of the analysis are shown inside the dialog, in the dialog's terms,
and the fields keep what was typed; while the action runs, a progress bar
with a Cancel button is shown at the bottom of the dialog.
"""

import numpy as np
from qtpy import QtCore, QtWidgets

from hyperspy_perovskite.gui._jobs import ProgressPanel

__all__ = [
    "AttachStimulusDialog",
    "EDXProfilesDialog",
    "EmissionMapsDialog",
    "FitEmissionDialog",
    "FringeIntensityDialog",
    "MigrationFitDialog",
    "SAEDFamiliesDialog",
    "parse_d_spacings",
    "parse_list",
    "parse_range",
]

_DEFAULT_MAPS = ("centre", "fwhm", "area", "quality")


def tr(text):
    return QtCore.QCoreApplication.translate("PerovskitePlugin", text)


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


def parse_list(text, what, example):
    """Comma-separated names; empty text gives None (the default).

    Examples
    --------
    >>> parse_list("Pb_La, I_La", "X-ray lines", "Pb_La, I_La")
    ['Pb_La', 'I_La']
    >>> parse_list("  ", "X-ray lines", "Pb_La") is None
    True
    """
    items = [p.strip() for p in str(text).replace(";", ",").split(",")]
    items = [p for p in items if p]
    return items or None


def parse_point(x, y, what):
    """Two numbers from text fields (a point in the map's axis unit)."""
    try:
        return float(x), float(y)
    except ValueError:
        raise ValueError(
            f"{what}: give x and y as numbers in the map's axis unit, or pick "
            "the line on the map."
        ) from None


class _OkCancelDialog(QtWidgets.QDialog):
    """A form dialog with OK / Cancel, an error line and a progress panel.

    OK calls :attr:`on_ok` (set by the plugin) and leaves the dialog open;
    the plugin closes it with :meth:`finish` once the action succeeded.
    """

    def __init__(self, title, parent=None):
        super().__init__(parent)
        self.setWindowTitle(tr(title))
        self.form = QtWidgets.QFormLayout()
        self.buttons = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.Ok | QtWidgets.QDialogButtonBox.Cancel
        )
        self.buttons.accepted.connect(self._ok)
        self.buttons.rejected.connect(self._cancel_or_close)
        self.error_label = QtWidgets.QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #b00020")
        self.error_label.setVisible(False)
        self.progress = ProgressPanel(self)
        self.on_ok = None
        vbox = QtWidgets.QVBoxLayout(self)
        vbox.addLayout(self.form)
        vbox.addWidget(self.error_label)
        vbox.addWidget(self.progress)
        vbox.addWidget(self.buttons)

    def _ok(self):
        if self.on_ok is None:
            self.accept()
        else:
            self.on_ok()

    def _cancel_or_close(self):
        if self.progress.job is not None:
            self.progress.job.cancel()
        else:
            self.reject()

    def show_error(self, text):
        """Show ``text`` in the dialog (None hides the line)."""
        self.error_label.setText(text or "")
        self.error_label.setVisible(bool(text))

    def error_text(self):
        return self.error_label.text() if self.error_label.isVisible() else ""

    def set_busy(self, busy):
        """Disable the fields and OK while the action runs."""
        for i in range(self.form.count()):
            w = self.form.itemAt(i).widget()
            if w is not None:
                w.setEnabled(not busy)
        self.buttons.button(QtWidgets.QDialogButtonBox.Ok).setEnabled(not busy)

    def finish(self):
        """Close after a successful action."""
        self.done(QtWidgets.QDialog.Accepted)


class FitEmissionDialog(_OkCancelDialog):
    """Options of :meth:`fit_emission`: bands, tail (its shape free, held or
    shared), background, axis, range."""

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
        # the tail's shape held or shared (fit_emission's urbach_energy and
        # urbach_edge): empty = free in every pixel
        self.urbach_energy = QtWidgets.QLineEdit()
        self.urbach_energy.setPlaceholderText(tr("free per pixel; 25 meV or shared"))
        self.urbach_edge = QtWidgets.QLineEdit()
        self.urbach_edge.setPlaceholderText(tr("with a held or shared Eu: 20 meV"))
        self.form.addRow(tr("Gaussian bands"), self.n_peaks)
        self.form.addRow("", self.tail)
        self.form.addRow(tr("Urbach energy"), self.urbach_energy)
        self.form.addRow(tr("Edge below band centre"), self.urbach_edge)
        self.form.addRow(tr("Background"), self.background)
        self.form.addRow(tr("Axis"), self.axis)
        self.form.addRow(tr("Range start"), self.range_start)
        self.form.addRow(tr("Range end"), self.range_end)
        self.form.addRow("", self.poisson)

    def options(self):
        """Keyword arguments of ``fit_emission`` (ValueError on a bad range)."""
        if self.tail.isChecked() and self.axis.currentText() != "energy":
            raise ValueError(
                "'Urbach tail' needs Axis = energy (the tail is exponential in "
                "photon energy): choose energy, or untick 'Urbach tail'."
            )
        out = {
            "n_peaks": self.n_peaks.value(),
            "tail": self.tail.isChecked(),
            "background": self.background.currentText(),
            "axis": self.axis.currentText(),
            "signal_range": parse_range(self.range_start.text(), self.range_end.text()),
            "poisson": self.poisson.isChecked(),
        }
        for name in ("urbach_energy", "urbach_edge"):  # given: fit_emission parses
            text = getattr(self, name).text().strip()
            if text and _is_number(text):  # the API reads a bare number in eV
                raise ValueError(
                    f"{name}: give the unit, e.g. '{text} meV' (a bare number "
                    "would be read in eV)."
                )
            if text:
                out[name] = text
        return out


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

    # default: perovskite (001) fringes, d = 6.36 Å (the amorphization-under-
    # bias study, “Imaging real-time amorphization of hybrid perovskite solar
    # cells under electrical biasing”, Fig. 1c)
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
        self.rois = []
        self.on_add_roi = None
        self.roi_button = QtWidgets.QPushButton(tr("Add a region on the image"))
        self.roi_button.setToolTip(
            tr(
                "Draws a rectangle on the image: move and resize it, add more, "
                "then press OK (no region: the whole frame)"
            )
        )
        self.roi_button.clicked.connect(self._add_roi)
        self.roi_label = QtWidgets.QLabel(tr("whole frame"))
        self.clear_button = QtWidgets.QPushButton(tr("Clear regions"))
        self.clear_button.clicked.connect(self.clear_rois)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.roi_label, 1)
        row.addWidget(self.roi_button)
        row.addWidget(self.clear_button)
        self.form.addRow(tr("d-spacing (\u00c5)"), self.d_spacing)
        self.form.addRow(tr("Relative tolerance"), self.tolerance)
        self.form.addRow(tr("Regions"), row)

    def _add_roi(self):
        if self.on_add_roi is not None:
            roi = self.on_add_roi()
            if roi is not None:
                self.rois.append(roi)
        self._update_roi_label()

    def clear_rois(self):
        for roi in self.rois:
            for widget in list(getattr(roi, "widgets", [])):
                widget.close()
        self.rois = []
        self._update_roi_label()

    def _update_roi_label(self):
        n = len(self.rois)
        self.roi_label.setText(tr("whole frame") if n == 0 else f"{n} region(s)")

    def options(self):
        out = {
            "d_spacing": parse_d_spacings(self.d_spacing.text()),
            "tolerance": self.tolerance.value(),
        }
        if self.rois:
            out["roi"] = list(self.rois)
        return out


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


class EDXProfilesDialog(_OkCancelDialog):
    """Stack line (typed or picked on the map), band width and X-ray lines."""

    def __init__(self, unit="", lines="", parent=None):
        super().__init__("EDX profiles across the stack", parent)
        u = f" ({unit})" if unit else ""
        self.x0, self.y0, self.x1, self.y1 = (QtWidgets.QLineEdit() for _ in range(4))
        self.width = QtWidgets.QLineEdit()
        self.width.setPlaceholderText(tr("whole map"))
        self.lines = QtWidgets.QLineEdit(lines)
        self.lines.setPlaceholderText(tr("lines of the signal's metadata"))
        self.on_pick_line = None
        self.line_roi = None
        self.pick_button = QtWidgets.QPushButton(tr("Pick the line on the map"))
        self.pick_button.clicked.connect(self._pick)
        for label, a, b in (
            ("Start x, y", self.x0, self.y0),
            ("End x, y", self.x1, self.y1),
        ):
            row = QtWidgets.QHBoxLayout()
            row.addWidget(a)
            row.addWidget(b)
            self.form.addRow(tr(label) + u, row)
        self.form.addRow("", self.pick_button)
        self.form.addRow(tr("Band width") + u, self.width)
        self.form.addRow(tr("X-ray lines"), self.lines)

    def _pick(self):
        if self.on_pick_line is not None:
            self.line_roi = self.on_pick_line()
            if self.line_roi is not None:
                self.line_roi.events.changed.connect(self._from_roi, [])
                self._from_roi()

    def _from_roi(self):
        r = self.line_roi
        for field, v in (
            (self.x0, r.x1),
            (self.y0, r.y1),
            (self.x1, r.x2),
            (self.y1, r.y2),
        ):
            field.setText(f"{v:.4g}")
        if getattr(r, "linewidth", 0):
            self.width.setText(f"{r.linewidth:.4g}")

    def options(self):
        start = parse_point(self.x0.text(), self.y0.text(), "Start")
        end = parse_point(self.x1.text(), self.y1.text(), "End")
        width = self.width.text().strip()
        try:
            width = float(width) if width else None
        except ValueError:
            raise ValueError(
                f"Band width {width!r} is not a number: give it in the map's "
                "axis unit, or leave it empty for the whole map."
            ) from None
        return {
            "start": start,
            "end": end,
            "width": width,
            "xray_lines": parse_list(self.lines.text(), "X-ray lines", "Pb_La, I_La"),
        }


class SAEDFamiliesDialog(_OkCancelDialog):
    """{hkl} families to integrate, halo and Poisson options."""

    def __init__(self, parent=None):
        super().__init__("SAED {hkl} family intensities", parent)
        self.families = QtWidgets.QLineEdit()
        self.families.setPlaceholderText(tr("all in range, e.g. 001, 111, 002"))
        self.halo = QtWidgets.QCheckBox(tr("Fit the amorphous halo"))
        self.halo.setChecked(True)
        self.poisson = QtWidgets.QCheckBox(tr("Counted electrons (Poisson errors)"))
        self.form.addRow(tr("Families"), self.families)
        self.form.addRow("", self.halo)
        self.form.addRow("", self.poisson)

    def options(self):
        fam = parse_list(self.families.text(), "families", "001, 111")
        if fam is not None:
            bad = [f for f in fam if not f.lstrip("-").replace("-", "").isdigit()]
            if bad:
                raise ValueError(
                    f"Families {bad} are not Miller indices: write them as digits, "
                    "e.g. 001, 111, 002."
                )
        return {
            "families": fam,
            "halo": self.halo.isChecked(),
            "poisson": self.poisson.isChecked(),
        }


class MigrationFitDialog(_OkCancelDialog):
    """X-ray line, blocking interface, layer and field of a migration fit."""

    def __init__(self, lines=(), interfaces=(), layers=(), parent=None):
        super().__init__("Ion migration fit (steady-state accumulation)", parent)
        self.line = QtWidgets.QComboBox()
        self.line.setEditable(True)
        self.line.addItems(list(lines))
        self.interface = QtWidgets.QComboBox()
        self.interface.addItems(list(interfaces))
        self.layer = QtWidgets.QComboBox()
        self.layer.addItems(list(layers))
        self.field = QtWidgets.QLineEdit()
        self.field.setPlaceholderText(tr("default: bias / layer thickness"))
        self.form.addRow(tr("X-ray line"), self.line)
        self.form.addRow(tr("Blocking interface"), self.interface)
        self.form.addRow(tr("Layer of the ions"), self.layer)
        self.form.addRow(tr("Field (V/m)"), self.field)

    def options(self):
        text = self.field.text().strip()
        field = None
        if text:
            try:
                field = float(text)
            except ValueError:
                raise ValueError(
                    f"Field: {text!r} is not a number: give the field in the layer "
                    "in V/m (e.g. 3.3e6), or leave it empty."
                ) from None
        if not self.interface.currentText():
            raise ValueError(
                "No interfaces: set the device geometry first (EDX profiles, "
                "with interfaces), then fit."
            )
        return {
            "xray_line": self.line.currentText().strip(),
            "interface": self.interface.currentText(),
            "layer": self.layer.currentText(),
            "field": field,
        }


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True
