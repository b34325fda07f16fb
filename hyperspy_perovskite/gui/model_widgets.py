"""Model widgets and position dragging on non-uniform (energy) axes, with units.

HyperSpy 2.5's model widgets read ``axis.scale`` (``hyperspy_gui_ipywidgets``,
slider step of a position parameter) and ``axis.offset`` (the label of
``m.enable_adjust_position()``), which a non-uniform ``DataAxis`` does not
have: on a CL spectrum converted to photon energy (``to_eV``, a non-uniform
axis) ``m.gui()`` and ``m.enable_adjust_position()`` raise ``AttributeError``
(see ``docs/user_guide/known_issues.rst`` and the upstream report linked
there). The work-around: while the widgets are built, every non-uniform
signal axis gets the two attributes they read, ``scale`` = the median channel
step and ``offset`` = the first value, removed again afterwards (they are
only used to size the slider step and to place the label; dragging then
works on the axis values themselves).

:class:`~hyperspy_perovskite.models.PerovskiteModel1D` (so every model of the
suite) uses :func:`model_gui` for ``m.gui()`` and :func:`uniform_axis_attributes`
around HyperSpy's position adjuster; :func:`model_gui` also works on plain
HyperSpy models. :func:`set_parameter_units` fills ``Parameter.units`` from
the axis and signal units, and the ipywidgets labels show them.

Examples
--------
>>> s = hs.signals.Signal1D(np.ones(50))
>>> s.axes_manager[0].units = "eV"
>>> s.axes_manager[0].convert_to_non_uniform_axis()
>>> m = s.create_model()
>>> m.append(hs.model.components1D.Gaussian())
>>> set_parameter_units(m)
>>> m[0].centre.units, m[0].A.units
('eV', 'a.u. eV')
"""

import contextlib
import re

import numpy as np

__all__ = ["model_gui", "set_parameter_units", "uniform_axis_attributes"]

# unit of each parameter as (power of the signal unit y, power of the axis unit
# x): centre/width in x, areas in y x, heights in y, rates in 1/x
_UNITS = {
    "Gaussian": {"A": (1, 1), "centre": (0, 1), "sigma": (0, 1)},
    "GaussianHF": {"height": (1, 0), "centre": (0, 1), "fwhm": (0, 1)},
    "Lorentzian": {"A": (1, 1), "centre": (0, 1), "gamma": (0, 1)},
    "Offset": {"offset": (1, 0)},
    "GaussianEmission": {"A": (1, 1), "centre": (0, 1), "sigma": (0, 1)},
    "AsymmetricEmission": {"A": (1, 1), "centre": (0, 1), "sigma": (0, 1), "tau": (0, 1)},
    "ContinuousUrbachTail": {"A": (1, 0), "E0": (0, 1), "Eu": (0, 1), "sigma": (0, 1)},
    "UrbachTail": {"A": (1, 0), "E0": (0, 1), "Eu": (0, 1)},
    "Interdiffusion": {"c_left": (1, 0), "c_right": (1, 0), "centre": (0, 1), "length": (0, 1)},
    "DriftDiffusionAccumulation": {"A": (1, 0), "decay_length": (0, 1), "wall": (0, 1)},
    "DriftDiffusionTransient": {
        "c_bulk": (1, 0), "drift_distance": (0, 1), "length": (0, 1), "wall": (0, 1),
    },
    "CrystallinityJMAK": {"A": (1, 0), "k": (0, -1), "t0": (0, 1)},
}  # fmt: skip


def _signal_unit(signal):
    """Unit of the data from ``metadata.Signal.quantity`` ("Intensity (counts)")."""
    quantity = signal.metadata.get_item("Signal.quantity", "")
    found = re.search(r"\(([^()]+)\)\s*$", str(quantity))
    return found.group(1) if found else "a.u."


def _compose(y, x, py, px):
    parts = [y] if py else []
    parts += {1: [x], -1: [f"1/{x}"]}.get(px, [])
    return " ".join(parts)


def set_parameter_units(model, overwrite=False):
    """Fill ``Parameter.units`` of known components from the axis and data units.

    Positions and widths take the signal axis unit, heights the data unit
    (from ``metadata.Signal.quantity``, "a.u." when it has none) and areas
    their product. Units already set are kept unless ``overwrite``.
    """
    from hyperspy_perovskite.units import unit_label

    axis = model.axes_manager.signal_axes[0]
    x = unit_label(axis.units) if str(axis.units) not in ("", "<undefined>") else "px"
    y = _signal_unit(model.signal)
    for component in model:
        table = _UNITS.get(type(component).__name__, {})
        for parameter in component.parameters:
            if parameter.name in table and (overwrite or not parameter.units):
                parameter.units = _compose(y, x, *table[parameter.name])


@contextlib.contextmanager
def uniform_axis_attributes(axes_manager):
    """Give non-uniform signal axes the ``scale``/``offset`` HyperSpy's widgets read.

    ``scale`` is the median step and ``offset`` the first axis value; both are
    removed on exit. Uniform axes are not touched.
    """
    added = []
    for axis in axes_manager.signal_axes:
        if not axis.is_uniform and not hasattr(axis, "scale"):
            values = np.asarray(axis.axis, dtype=float)
            axis.scale = float(np.median(np.diff(values))) if values.size > 1 else 1.0
            axis.offset = float(values[0])
            added.append(axis)
    try:
        yield
    finally:
        for axis in added:
            del axis.scale
            del axis.offset


def _label_units(wdict, model):
    """Put each parameter's unit in its ipywidgets slider label."""
    for component in model:
        cw = wdict.get(f"component_{component.name}", {})
        for parameter in component.parameters:
            pw = cw.get(f"parameter_{parameter.name}", {})
            if parameter.units and "value" in pw:
                pw["value"].description = f"{parameter.name} ({parameter.units})"


def model_gui(model, display=True, toolkit=None, **kwargs):
    """HyperSpy's model widget (``m.gui()``), also on non-uniform axes, units in labels.

    Parameters
    ----------
    model : hyperspy.models.model1d.Model1D
    display : bool
        Show the widget; if False, return ``{toolkit: widgets}`` as HyperSpy does.
    toolkit : str, iterable of str or None
        As for HyperSpy's ``gui()``.
    """
    from hyperspy.ui_registry import get_gui

    set_parameter_units(model)
    with uniform_axis_attributes(model.axes_manager):
        widgets = get_gui(
            model, "hyperspy.Model", display=False, toolkit=toolkit, **kwargs
        )
    if "ipywidgets" in widgets:
        _label_units(widgets["ipywidgets"]["wdict"], model)
    if not display:
        return widgets
    if "ipywidgets" in widgets:
        from IPython.display import display as show

        show(widgets["ipywidgets"]["widget"])
    return None
