"""traitsui front-end of the suite's tools (registered in HyperSpy's GUI registry).

Each function takes the tool object (``obj``) and ``display``: with
``display=True`` a live traitsui dialog opens (Qt; hyperspyUI and
``%matplotlib qt`` sessions); with ``display=False`` ``{"obj": obj, "view":
view}`` is returned so that the caller (or a test) can open it with
``obj.edit_traits(view=view)``. Labels carry the units; Apply runs the method
and its result or error is shown in the read-only status line, the dialog
staying open. These functions are not called directly: ``tool.gui()`` finds
them through ``hyperspy_extension.yaml``.
"""

__all__ = [
    "device_geometry_traitsui",
    "emission_fit_traitsui",
    "fringe_roi_traitsui",
    "stimulus_alignment_traitsui",
]


def tool_view(obj, title):
    """The traitsui ``View`` of a tool: one labelled item per field, Apply, status.

    traitsui is imported here, not with the module: importing it fixes the
    process' ETS toolkit for good (``hyperspy_gui_traitsui``, imported first,
    picks it from the matplotlib backend: "null" on Agg, so no Qt window is
    attempted without a display), which must not happen as a side effect of
    importing this module (hyperspyUI sets the Qt toolkit itself).
    """
    import hyperspy_gui_traitsui  # noqa: F401, I001
    import traitsui.api as tu

    items = [tu.Item(name, label=obj.label_of(name)) for name, _ in obj.fields]
    items.append(tu.Item("apply_button", show_label=False))
    items.append(tu.Item("status", style="readonly", show_label=False))
    return tu.View(tu.Group(*items), title=title, kind="live", resizable=True,
                   buttons=[tu.OKButton])  # fmt: skip


def _show(obj, title, display):
    view = tool_view(obj, title)
    if display:
        obj.edit_traits(view=view)
        return None
    return {"obj": obj, "view": view}


def emission_fit_traitsui(obj, display=True, **kwargs):
    """Fit options of ``fit_emission``."""
    return _show(obj, "Emission fit", display)


def stimulus_alignment_traitsui(obj, display=True, **kwargs):
    """Time alignment of a stimulus log."""
    return _show(obj, "Stimulus alignment", display)


def device_geometry_traitsui(obj, display=True, **kwargs):
    """Device geometry of an EDX map."""
    return _show(obj, "Device geometry", display)


def fringe_roi_traitsui(obj, display=True, **kwargs):
    """Fringe power in a region of the image."""
    return _show(obj, "Fringe intensity", display)
