"""ipywidgets front-end of the suite's tools (registered in HyperSpy's GUI registry).

Each function takes the tool object (``obj``) and ``display``: with
``display=True`` the widget is shown in the notebook; with ``display=False`` a
dictionary ``{"widget": box, "wdict": {field: widget, "apply_button": ...,
"status": ...}}`` is returned, as ``hyperspy_gui_ipywidgets`` does. Every field
is linked both ways to the tool's trait, its label carries the unit, and the
status line shows the result or the error of Apply (the widget stays open).
These functions are not called directly: ``tool.gui()`` finds them through
``hyperspy_extension.yaml``.
"""

import ipywidgets
import traits.api as t
from link_traits import link

__all__ = [
    "device_geometry_ipy",
    "emission_fit_ipy",
    "fringe_roi_ipy",
    "stimulus_alignment_ipy",
]


def _field_widget(obj, name):
    trait = obj.trait(name).trait_type
    label = obj.label_of(name)
    style = {"description_width": "initial"}
    if isinstance(trait, t.Enum):
        w = ipywidgets.Dropdown(
            options=list(trait.values), description=label, style=style
        )
    elif isinstance(trait, t.Bool):
        w = ipywidgets.Checkbox(description=label, style=style)
    elif isinstance(trait, t.Int):
        w = ipywidgets.IntText(description=label, style=style)
    elif isinstance(trait, t.Float):
        w = ipywidgets.FloatText(description=label, style=style)
    else:
        w = ipywidgets.Text(description=label, style=style)
    w.value = getattr(obj, name)
    w._link = link((obj, name), (w, "value"))  # kept alive with the widget
    return w


def _tool_widget(obj, title, display=True):
    wdict = {name: _field_widget(obj, name) for name, _ in obj.fields}
    apply = ipywidgets.Button(
        description="Apply", tooltip=f"Run {title} with these choices."
    )
    status = ipywidgets.HTML(value=obj.status)
    status._link = link((obj, "status"), (status, "value"))
    apply.on_click(lambda _b: obj._apply_button_fired())

    def relabel(_change=None):  # a unit that depends on another field
        for name, _ in obj.fields:
            wdict[name].description = obj.label_of(name)

    for name in wdict:
        obj.on_trait_change(relabel, name)
    wdict["apply_button"] = apply
    wdict["status"] = status
    box = ipywidgets.VBox(
        [ipywidgets.HTML(f"<b>{title}</b>")]
        + [wdict[name] for name, _ in obj.fields]
        + [apply, status]
    )
    out = {"widget": box, "wdict": wdict}
    if display:
        from IPython.display import display as show

        show(box)
        return None
    return out


def emission_fit_ipy(obj, display=True, **kwargs):
    """Fit options of ``fit_emission``."""
    return _tool_widget(obj, "Emission fit", display)


def stimulus_alignment_ipy(obj, display=True, **kwargs):
    """Time alignment of a stimulus log."""
    return _tool_widget(obj, "Stimulus alignment", display)


def device_geometry_ipy(obj, display=True, **kwargs):
    """Device geometry of an EDX map."""
    return _tool_widget(obj, "Device geometry", display)


def fringe_roi_ipy(obj, display=True, **kwargs):
    """Fringe power in a region of the image."""
    return _tool_widget(obj, "Fringe intensity", display)
