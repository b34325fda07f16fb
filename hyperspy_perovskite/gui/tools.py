"""Interactive tools behind the ``gui()`` widgets (toolkit independent).

Each tool holds the choices of one method of the suite as traits, with the
unit of every number in its label, and a ``gui()`` method that HyperSpy's GUI
registry (:mod:`hyperspy.ui_registry`) serves with the ipywidgets
(``hyperspy_gui_ipywidgets``) or traitsui (``hyperspy_gui_traitsui``)
toolkit, exactly as ``roi.gui()`` or ``m.gui()`` are served:

- :class:`EmissionFitTool`: fit options of ``fit_emission`` (CL/PL maps);
- :class:`StimulusAlignmentTool`: time offset or trigger alignment of a
  stimulus log (``attach_stimulus``);
- :class:`DeviceGeometryTool`: stack direction, band width, interfaces and
  layers of an EDX map (``set_device_geometry``), with a line ROI to drag on
  the map;
- :class:`FringeROITool`: d-spacings (Å), band tolerance, tiles and a
  rectangular ROI picked on the image (``fringe_intensity``).

``apply()`` runs the method and keeps its output in ``result``; the Apply
button of both toolkits calls it and writes any error, in the tool's own
terms, into ``status`` instead of closing the widget.

Examples
--------
>>> s = hs.signals.Signal2D(np.zeros((3, 32, 32)))
>>> s.set_signal_type("insitu_image_series")
>>> for ax, u in zip(s.axes_manager._axes, ("s", "nm", "nm")):
...     ax.units = u
>>> tool = FringeROITool(s)
>>> tool.d_spacing = "6.36, 6.96"
>>> tool.kwargs()["d_spacing"]
[6.36, 6.96]
"""

import numpy as np
import traits.api as t
from hyperspy.ui_registry import add_gui_method

from hyperspy_perovskite.units import unit_label

__all__ = [
    "DeviceGeometryTool",
    "EmissionFitTool",
    "FringeROITool",
    "StimulusAlignmentTool",
]


def _numbers(text, name):
    """Comma-separated numbers or quantities ("280, 600" or "28 nm, 0.6 um")."""
    items = [p.strip() for p in str(text).split(",") if p.strip()]
    out = []
    for p in items:
        try:
            out.append(float(p))
        except ValueError:
            out.append(p)  # a quantity string, parsed by the method
    if not out:
        raise ValueError(f"{name}: give at least one value, e.g. '6.36, 6.96'.")
    return out


def _draw(roi, signal, axes):
    if signal._plot is None or not signal._plot.is_active:
        signal.plot()
    roi.add_widget(signal, axes=tuple(axes))


def _optional(value):
    return None if value is None or not np.isfinite(value) else float(value)


class _Tool(t.HasTraits):
    """Shared part: labelled fields, Apply button, status line, result."""

    apply_button = t.Button("Apply")
    status = t.Str("")
    #: (trait name, label) in display order; the unit is added by unit_of
    fields = ()

    def __init__(self, signal, **traits):
        super().__init__(**traits)
        self.signal = signal
        self.result = None

    def unit_of(self, name):
        """Unit shown beside field ``name`` ('' for none)."""
        return ""

    def label_of(self, name):
        label = dict(self.fields)[name]
        unit = self.unit_of(name)
        return f"{label} ({unit})" if unit else label

    def kwargs(self):  # pragma: no cover - every tool overrides it
        raise NotImplementedError

    def _run(self):
        raise NotImplementedError  # pragma: no cover

    def apply(self):
        """Run the method with the current choices; the output is ``result``."""
        self.result = self._run()
        self.status = self._summary()
        return self.result

    def _summary(self):
        return "Done."

    def _apply_button_fired(self):
        try:
            self.apply()
        except Exception as err:  # shown in the widget, which stays open
            self.status = f"Error: {err}"


@add_gui_method(toolkey="hyperspy_perovskite.EmissionFitTool")
class EmissionFitTool(_Tool):
    """Fit options of ``fit_emission`` for a CL / PL spectrum image.

    Parameters
    ----------
    signal : CL_STEM_perovskite, CL_SEM_perovskite or PL_perovskite signal

    Examples
    --------
    >>> s = hs.signals.Signal1D(np.ones((2, 64)))
    >>> s.set_signal_type("CL_SEM_perovskite")
    >>> s.axes_manager[-1].units = "nm"
    >>> tool = EmissionFitTool(s)
    >>> tool.axis = "energy"
    >>> tool.label_of("range_start")
    'Range start (eV)'
    """

    n_peaks = t.Enum(1, 2)
    band = t.Enum("gaussian", "asymmetric", "lorentzian")
    tail = t.Enum("none", "continuous", "step")
    background = t.Enum("offset", "linear", "none", "energy_offset")
    axis = t.Enum("wavelength", "energy")
    range_start = t.Float(np.nan)
    range_end = t.Float(np.nan)
    poisson = t.Bool(False)
    spikes = t.Bool(True)
    # the tail's shape held or shared (fit_emission's urbach_energy and
    # urbach_edge, meV): NaN = free in every pixel
    urbach_energy = t.Float(np.nan)
    share_urbach_energy = t.Bool(False)
    urbach_edge = t.Float(np.nan)
    fields = (
        ("n_peaks", "Bands"),
        ("band", "Band shape"),
        ("tail", "Urbach tail"),
        ("urbach_energy", "Urbach energy, held"),
        ("share_urbach_energy", "Urbach energy shared by the map"),
        ("urbach_edge", "Edge below band centre"),
        ("background", "Background"),
        ("axis", "Fit axis"),
        ("range_start", "Range start"),
        ("range_end", "Range end"),
        ("poisson", "Poisson weights"),
        ("spikes", "Remove spikes"),
    )

    def unit_of(self, name):
        if name in ("range_start", "range_end"):
            return "eV" if self.axis == "energy" else "nm"
        return "meV" if name in ("urbach_energy", "urbach_edge") else ""

    def kwargs(self):
        lo, hi = _optional(self.range_start), _optional(self.range_end)
        if (lo is None) != (hi is None):
            raise ValueError(
                f"Fit range: give both ends in {self.unit_of('range_start')} "
                "or leave both empty for the whole spectrum."
            )
        if self.tail != "none" and self.axis != "energy":
            raise ValueError(
                "An Urbach tail is fitted on the energy axis: set Fit axis to 'energy'."
            )
        out = dict(
            n_peaks=self.n_peaks,
            band=self.band,
            tail=False if self.tail == "none" else self.tail,
            background=self.background,
            axis=self.axis,
            signal_range=None if lo is None else (lo, hi),
            poisson=self.poisson,
            spikes=self.spikes,
        )
        return out | self._tail_shape()

    def _tail_shape(self):
        """``urbach_energy`` / ``urbach_edge`` of ``fit_emission`` where given
        (``fit_emission`` checks them: both or neither)."""
        eu, edge = _optional(self.urbach_energy), _optional(self.urbach_edge)
        out = {}
        if self.share_urbach_energy:
            out["urbach_energy"] = "shared"
        elif eu is not None:
            out["urbach_energy"] = f"{eu!r} meV"
        if edge is not None:
            out["urbach_edge"] = f"{edge!r} meV"
        return out

    def _run(self):
        return self.signal.fit_emission(**self.kwargs())

    def _summary(self):
        valid = getattr(self.result, "validity", None)
        frac = (
            "" if valid is None else f", {100 * valid.fraction:.1f} % of pixels valid"
        )
        return f"Fitted {self.n_peaks} band(s){frac}."


@add_gui_method(toolkey="hyperspy_perovskite.StimulusAlignmentTool")
class StimulusAlignmentTool(_Tool):
    """Align a stimulus log on the frame clock (``attach_stimulus``).

    Either a fixed ``time_offset`` (frame time of the log's t = 0, s), or an
    event: the first log time at which ``|trigger_channel| >=
    trigger_threshold`` is put at frame time ``trigger_time``.

    Parameters
    ----------
    signal : signal with a time navigation axis
    source : str, pathlib.Path, dict or Signal1D
        The log, as :func:`hyperspy_perovskite.stimulus.attach_stimulus` takes it.

    Examples
    --------
    >>> s = hs.signals.Signal2D(np.zeros((4, 8, 8)))
    >>> s.set_signal_type("insitu_image_series")
    >>> s.axes_manager[0].units = "s"
    >>> tool = StimulusAlignmentTool(s, {"time": [0, 1, 2, 3], "Bias": ([0, 1, 1, 1], "V")})
    >>> tool.time_offset = 0.0  # log t = 0 is frame time 0
    >>> tool.apply().metadata.Stimulus.Record.time_offset
    0.0
    """

    mode = t.Enum("time offset", "trigger")
    time_offset = t.Float(0.0)
    trigger_channel = t.Str("")
    trigger_threshold = t.Float(np.nan)
    trigger_time = t.Float(0.0)
    replace = t.Bool(False)
    fields = (
        ("mode", "Align by"),
        ("time_offset", "Time offset"),
        ("trigger_channel", "Trigger channel"),
        ("trigger_threshold", "Trigger threshold"),
        ("trigger_time", "Trigger frame time"),
        ("replace", "Replace existing log"),
    )

    def __init__(self, signal, source, **traits):
        super().__init__(signal, **traits)
        self.source = source

    def unit_of(self, name):
        if name in ("time_offset", "trigger_time"):
            return "s"
        if name == "trigger_threshold":
            return "channel unit (V, A, °C)"
        return ""

    def kwargs(self):
        if self.mode == "time offset":
            return dict(time_offset=self.time_offset, replace=self.replace)
        if not self.trigger_channel.strip():
            raise ValueError("Trigger: name the channel to align on (e.g. 'Bias').")
        return dict(
            trigger_channel=self.trigger_channel.strip(),
            trigger_threshold=_optional(self.trigger_threshold),
            trigger_time=self.trigger_time,
            replace=self.replace,
        )

    def _run(self):
        return self.signal.attach_stimulus(self.source, **self.kwargs())

    def _summary(self):
        rec = self.result.metadata.Stimulus.Record
        return f"Log attached, time offset {float(rec.time_offset):.6g} s."


@add_gui_method(toolkey="hyperspy_perovskite.DeviceGeometryTool")
class DeviceGeometryTool(_Tool):
    """Stack direction, interfaces and layers of an EDX map (``set_device_geometry``).

    ``x1, y1 -> x2, y2`` run from the first layer to the last, in the
    calibrated units of the map; :meth:`add_roi` draws them as a line ROI on
    the map that can be dragged (the fields follow). Interfaces are distances
    from the start point ("280, 600" in the axis unit, or "280 nm, 0.6 um").
    ``apply()`` annotates the signal in place (``metadata.Device.Geometry``).

    Examples
    --------
    >>> s = hs.signals.Signal1D(np.ones((10, 20, 32)))
    >>> s.set_signal_type("EDS_TEM_biased")
    >>> for ax in s.axes_manager.navigation_axes:
    ...     ax.units = "nm"
    >>> tool = DeviceGeometryTool(s)
    >>> _ = tool.trait_set(y1=5, x2=19, y2=5, interfaces="6, 12 nm", layers="ITO, perovskite, Au")
    >>> tool.apply().interface_names
    ['ITO/perovskite', 'perovskite/Au']
    """

    x1 = t.Float(0.0)
    y1 = t.Float(0.0)
    x2 = t.Float(0.0)
    y2 = t.Float(0.0)
    width = t.Float(np.nan)
    interfaces = t.Str("")
    layers = t.Str("")
    fields = (
        ("x1", "Start x"),
        ("y1", "Start y"),
        ("x2", "End x"),
        ("y2", "End y"),
        ("width", "Band width"),
        ("interfaces", "Interfaces from start"),
        ("layers", "Layers, start to end"),
    )

    def __init__(self, signal, **traits):
        super().__init__(signal, **traits)
        self.roi = None

    def unit_of(self, name):
        if name == "layers":
            return ""
        return unit_label(self.signal.axes_manager.navigation_axes[0].units)

    def kwargs(self):
        interfaces = (
            _numbers(self.interfaces, "Interfaces") if self.interfaces.strip() else None
        )
        layers = [p.strip() for p in self.layers.split(",") if p.strip()] or None
        return dict(
            start=(self.x1, self.y1),
            end=(self.x2, self.y2),
            interfaces=interfaces,
            layers=layers,
            width=_optional(self.width),
        )

    def add_roi(self, show=True):
        """Draw the stack line as a ``Line2DROI`` on the map; the fields follow it.

        With ``show``, the signal is plotted if needed and the line is put on
        its navigator (the map), where it can be dragged.
        """
        from hyperspy.roi import Line2DROI

        if self.x1 == self.x2 and self.y1 == self.y2:
            ax_x, ax_y = self.signal.axes_manager.navigation_axes[:2]
            self.trait_set(
                x1=ax_x.axis[0], y1=ax_y.axis[ax_y.size // 2],
                x2=ax_x.axis[-1], y2=ax_y.axis[ax_y.size // 2],
            )  # fmt: skip
        width = self.width if np.isfinite(self.width) else 0.0
        self.roi = Line2DROI(self.x1, self.y1, self.x2, self.y2, linewidth=width)
        for name in ("x1", "y1", "x2", "y2"):
            self.roi.sync_trait(name, self, name, mutual=True)
        if show:
            _draw(self.roi, self.signal, self.signal.axes_manager.navigation_axes[:2])
        return self.roi

    def _run(self):
        self.signal.set_device_geometry(**self.kwargs())
        return self.signal.get_device_geometry()

    def _summary(self):
        names = ", ".join(self.result.interface_names) or "none"
        return f"Geometry set; interfaces: {names}."


@add_gui_method(toolkey="hyperspy_perovskite.FringeROITool")
class FringeROITool(_Tool):
    """Fringe power vs time in a region picked on the image (``fringe_intensity``).

    ``d_spacing``: comma-separated spacings in Å (or with their unit,
    "0.636 nm"); the region is a ``RectangularROI`` in the calibrated image
    units (:meth:`add_roi` puts it on the image to be dragged; the fields
    follow). ``tile_size`` 0 means the region as one window. NaN bounds mean
    the whole frame.

    Examples
    --------
    >>> s = hs.signals.Signal2D(np.zeros((2, 32, 32)))
    >>> s.set_signal_type("insitu_image_series")
    >>> for ax, u in zip(s.axes_manager._axes, ("s", "nm", "nm")):
    ...     ax.units = u
    >>> tool = FringeROITool(s)
    >>> tool.label_of("left")
    'Left (nm)'
    """

    d_spacing = t.Str("6.36")
    tolerance = t.Float(0.02)
    tile_size = t.Int(0)
    background = t.Bool(True)
    left = t.Float(np.nan)
    right = t.Float(np.nan)
    top = t.Float(np.nan)
    bottom = t.Float(np.nan)
    fields = (
        ("d_spacing", "d-spacings"),
        ("tolerance", "Band half-width"),
        ("tile_size", "Tile size"),
        ("background", "Subtract background"),
        ("left", "Left"),
        ("right", "Right"),
        ("top", "Top"),
        ("bottom", "Bottom"),
    )

    def __init__(self, signal, **traits):
        super().__init__(signal, **traits)
        self.roi = None

    def unit_of(self, name):
        if name == "d_spacing":
            return "Å"
        if name == "tolerance":
            return "relative"
        if name == "tile_size":
            return "px, 0 = whole region"
        if name in ("left", "right", "top", "bottom"):
            return unit_label(self.signal.axes_manager.signal_axes[0].units)
        return ""

    def _roi(self):
        box = dict(left=self.left, top=self.top, right=self.right, bottom=self.bottom)
        if not np.all(np.isfinite(list(box.values()))):
            return None
        from hyperspy.roi import RectangularROI

        return RectangularROI(**box)

    def kwargs(self):
        if self.tolerance <= 0:
            raise ValueError("Band half-width must be > 0 (relative, e.g. 0.02).")
        return dict(
            d_spacing=_numbers(self.d_spacing, "d-spacings"),
            tolerance=self.tolerance,
            roi=self._roi(),
            tile_size=self.tile_size or None,
            background=self.background,
        )

    def add_roi(self, show=True):
        """Put the region as a ``RectangularROI`` on the image; the fields follow it.

        With ``show``, the signal is plotted if needed and the rectangle is put
        on the image, where it can be dragged and resized.
        """
        from hyperspy.roi import RectangularROI

        if not np.all(np.isfinite([self.left, self.right, self.top, self.bottom])):
            ax_x, ax_y = self.signal.axes_manager.signal_axes
            self.trait_set(
                left=ax_x.axis[ax_x.size // 4], right=ax_x.axis[3 * ax_x.size // 4],
                top=ax_y.axis[ax_y.size // 4], bottom=ax_y.axis[3 * ax_y.size // 4],
            )  # fmt: skip
        self.roi = RectangularROI(
            left=self.left, top=self.top, right=self.right, bottom=self.bottom
        )
        for name in ("left", "right", "top", "bottom"):
            self.roi.sync_trait(name, self, name, mutual=True)
        if show:
            _draw(self.roi, self.signal, self.signal.axes_manager.signal_axes)
        return self.roi

    def _run(self):
        return self.signal.fringe_intensity(**self.kwargs())

    def _summary(self):
        return f"Fringe power of {len(self.kwargs()['d_spacing'])} spacing(s) computed."
