"""``gui()`` widgets of the suite's tools through HyperSpy's GUI registry.

ipywidgets are driven in process (values typed into the widgets, Apply
clicked); traitsui dialogs are opened in a subprocess with a Qt toolkit
(offscreen) and driven through their editors. The truth is independent:
fringes of known amplitude drawn into a frame, a bias log with a known step
time, a stack line with known interfaces, a Gaussian band of known centre.
"""

import importlib
import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import hyperspy.api as hs
import numpy as np
import pytest
import yaml

pytest.importorskip("hyperspy_gui_ipywidgets")
if importlib.util.find_spec("hyperspy_gui_traitsui") is None:
    # not imported here: importing it fixes the process' ETS toolkit ("null"
    # on Agg), after which hyperspyUI (tests/gui) cannot start in this process
    pytest.skip("hyperspy_gui_traitsui is not installed", allow_module_level=True)

from hyperspy.ui_registry import UI_REGISTRY  # noqa: E402

from hyperspy_perovskite.gui.model_widgets import uniform_axis_attributes  # noqa: E402
from hyperspy_perovskite.gui.tools import (  # noqa: E402
    DeviceGeometryTool,
    EmissionFitTool,
    FringeROITool,
    StimulusAlignmentTool,
)

TOOLS = (
    "EmissionFitTool",
    "StimulusAlignmentTool",
    "DeviceGeometryTool",
    "FringeROITool",
)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _ipy(tool):
    return tool.gui(display=False, toolkit="ipywidgets")["ipywidgets"]["wdict"]


def test_registry_serves_both_toolkits():
    from traits.etsconfig.api import ETSConfig

    toolkit = ETSConfig._toolkit
    with open(os.path.join(ROOT, "hspy_extension.yaml")) as f:
        gui = yaml.safe_load(f)["GUI"]
    for name in TOOLS:
        key = f"hyperspy_perovskite.{name}"
        assert key in gui["toolkeys"]
        assert set(UI_REGISTRY[key]) == {"ipywidgets", "traitsui"}
        for spec in UI_REGISTRY[key].values():
            assert callable(
                getattr(importlib.import_module(spec["module"]), spec["function"])
            )
    # importing the widget modules leaves the ETS toolkit as it was (hyperspyUI,
    # started later in this process, sets Qt)
    assert ETSConfig._toolkit == toolkit


def _image_series(n=3, size=96, scale=0.1):
    """Frames (nm) with fringes of d = 6.36 Å, amplitude 8 in the left half only."""
    rng = np.random.default_rng(1)
    y, x = np.mgrid[:size, :size] * scale  # nm
    fringe = 8.0 * np.cos(2 * np.pi * x / 0.636)
    frames = 100.0 + rng.normal(0, 1.0, (n, size, size))
    frames[:, :, : size // 2] += fringe[:, : size // 2]
    s = hs.signals.Signal2D(frames)
    s.set_signal_type("insitu_image_series")
    for ax, u, sc in zip(
        s.axes_manager._axes, ("s", "nm", "nm"), (1.0, scale, scale), strict=True
    ):
        ax.units, ax.scale = u, sc
    return s


def test_fringe_roi_tool_ipywidgets_region_picked_on_image():
    s = _image_series()
    tool = FringeROITool(s)
    w = _ipy(tool)
    assert w["d_spacing"].description == "d-spacings (Å)"
    assert w["left"].description == "Left (nm)"
    roi = tool.add_roi()  # plotted, the rectangle on the image
    # drag the ROI onto the fringed half: the fields follow
    roi.left, roi.right, roi.top, roi.bottom = 0.3, 4.3, 2.0, 6.0
    assert w["left"].value == pytest.approx(0.3) and w["right"].value == pytest.approx(
        4.3
    )
    w["d_spacing"].value = "6.36"
    w["apply_button"].click()
    assert w["status"].value.startswith("Fringe power"), w["status"].value
    power = np.asarray(tool.result.data).reshape(3, -1)[:, 0]
    # a cosine of amplitude a gives a**2 / 2 (the method's normalisation)
    assert np.allclose(power, 8.0**2 / 2, rtol=0.15), power
    # the amorphous half gives zero within the tool's own numbers
    w["left"].value, w["right"].value = 5.2, 9.2
    w["apply_button"].click()
    assert np.all(np.abs(np.asarray(tool.result.data)) < 0.1 * 32), tool.result.data
    w["tolerance"].value = -1.0
    w["apply_button"].click()
    assert w["status"].value.startswith("Error: Band half-width"), w["status"].value


def test_stimulus_alignment_tool_trigger():
    s = hs.signals.Signal2D(np.zeros((10, 4, 4)))
    s.set_signal_type("insitu_image_series")
    s.axes_manager[0].units = "s"
    t_log = np.arange(0, 8, 0.5)
    bias = np.where(t_log >= 2.0, 1.5, 0.0)  # step at log time 2 s
    log = {"time": t_log, "Bias": (bias, "V")}
    tool = StimulusAlignmentTool(s, log)
    w = _ipy(tool)
    w["mode"].value = "trigger"
    w["apply_button"].click()
    assert w["status"].value.startswith("Error: Trigger"), w["status"].value
    w["trigger_channel"].value = "Bias"
    w["trigger_time"].value = 5.0
    with pytest.warns(UserWarning, match="frames outside the log get NaN"):
        w["apply_button"].click()  # the log starts at frame time 3 s
    assert "time offset 3 s" in w["status"].value, w["status"].value
    frames = tool.result.stimulus["Bias"].data
    assert frames[4] == 0.0 and frames[5] == 1.5  # step now at frame time 5 s
    assert "time_offset" not in s.metadata.get_item("Stimulus.Record", {})  # input kept


def test_device_geometry_tool_line_roi():
    s = hs.signals.Signal1D(np.ones((10, 20, 16)))
    s.set_signal_type("EDS_TEM_biased")
    for ax in s.axes_manager.navigation_axes:
        ax.units, ax.scale = "nm", 2.0
    tool = DeviceGeometryTool(s)
    w = _ipy(tool)
    assert w["x1"].description == "Start x (nm)"
    roi = tool.add_roi()  # on the navigator (the map)
    assert roi.widgets
    roi.x1, roi.y1, roi.x2, roi.y2 = 2.0, 10.0, 36.0, 10.0  # dragged on the map
    assert (tool.x1, tool.x2) == (2.0, 36.0)
    w["interfaces"].value = "10, 0.024 um"
    w["layers"].value = "ITO, perovskite, Au"
    w["apply_button"].click()
    geometry = s.get_device_geometry()
    assert geometry.interface_names == ["ITO/perovskite", "perovskite/Au"]
    assert np.allclose(geometry.interface_positions, [10.0, 24.0])
    w["interfaces"].value = "10, 100"  # the second beyond the 34 nm line
    w["apply_button"].click()
    assert w["status"].value.startswith("Error:") and "outside" in w["status"].value


def _cl_map():
    rng = np.random.default_rng(2)
    wl = np.linspace(650, 750, 120)
    band = 400 * np.exp(-0.5 * ((wl - 700.0) / 8.0) ** 2) + 20
    s = hs.signals.Signal1D(rng.poisson(np.tile(band, (2, 2, 1))).astype(float))
    s.set_signal_type("CL_SEM_perovskite")
    ax = s.axes_manager.signal_axes[0]
    ax.units, ax.name, ax.offset, ax.scale = "nm", "Wavelength", 650.0, wl[1] - wl[0]
    return s


def test_emission_fit_tool_and_model_widgets_on_energy_axis():
    s = _cl_map()
    tool = EmissionFitTool(s)
    w = _ipy(tool)
    assert w["range_start"].description == "Range start (nm)"
    w["axis"].value = "energy"  # the unit follows the axis
    assert w["range_start"].description == "Range start (eV)"
    w["range_start"].value = 1.68
    w["apply_button"].click()
    assert w["status"].value.startswith("Error: Fit range"), w["status"].value
    w["range_end"].value = 1.88
    w["apply_button"].click()
    assert w["status"].value.startswith("Fitted 1 band"), w["status"].value
    m = tool.result
    direct = s.fit_emission(axis="energy", signal_range=(1.68, 1.88))
    assert np.allclose(
        m["Emission"].centre.map["values"], direct["Emission"].centre.map["values"]
    )
    truth = 1239.841984 / 700.0  # eV (vacuum); air correction < 0.3 meV
    assert np.allclose(m["Emission"].centre.map["values"], truth, atol=3e-3)
    # HyperSpy's model widget and dragging on the non-uniform energy axis
    axis = m.signal.axes_manager.signal_axes[0]
    assert not axis.is_uniform
    mw = m.gui(display=False)["ipywidgets"]["wdict"]
    slider = mw["component_Emission"]["parameter_centre"]["value"]
    assert slider.description == "centre (eV)"
    slider.value = 1.75
    assert m["Emission"].centre.value == pytest.approx(1.75)
    m.plot()
    m.enable_adjust_position()
    line = m._position_widgets[m["Emission"].centre][0]
    line.position = (1.8,)
    assert m["Emission"].centre.value == pytest.approx(1.8)
    assert not hasattr(axis, "scale") and not hasattr(axis, "offset")


def test_emission_fit_tool_passes_the_tail_shape_in_mev():
    tool = EmissionFitTool(_cl_map())
    assert tool.label_of("urbach_energy") == "Urbach energy, held (meV)"
    assert "urbach_energy" not in tool.kwargs()  # NaN: free per pixel
    tool.tail, tool.axis = "continuous", "energy"
    tool.urbach_energy, tool.urbach_edge = 25.0, 20.0
    kw = tool.kwargs()
    assert kw["urbach_energy"] == "25.0 meV" and kw["urbach_edge"] == "20.0 meV"
    tool.share_urbach_energy = True
    assert tool.kwargs()["urbach_energy"] == "shared"
    tool.share_urbach_energy, tool.urbach_edge = False, np.nan
    tool.apply_button = True  # the widget's button: fit_emission's error shown
    assert tool.status.startswith("Error: Give urbach_energy"), tool.status


def test_uniform_axis_attributes_leave_uniform_axes_alone():
    s = hs.signals.Signal1D(np.ones(5))
    ax = s.axes_manager[0]
    with uniform_axis_attributes(s.axes_manager):
        assert ax.scale == 1.0
    assert ax.scale == 1.0 and ax.is_uniform


_TRAITSUI = textwrap.dedent(
    """
    import json, numpy as np, hyperspy.api as hs
    from qtpy import QtWidgets
    from hyperspy_perovskite.gui.tools import FringeROITool, EmissionFitTool
    s = hs.signals.Signal2D(np.zeros((2, 32, 32)))
    s.set_signal_type("insitu_image_series")
    for ax, u in zip(s.axes_manager._axes, ("s", "nm", "nm")):
        ax.units = u
    out = {}
    tool = FringeROITool(s)
    d = tool.gui(display=False, toolkit="traitsui")["traitsui"]
    ui = d["obj"].edit_traits(view=d["view"])
    ui.get_editors("tolerance")[0].value = 0.05
    out["tolerance"] = tool.tolerance
    ui.get_editors("tile_size")[0].value = 3
    ui.get_editors("apply_button")[0].update_object()
    out["status"] = tool.status
    out["labels"] = sorted(w.text() for w in ui.control.findChildren(QtWidgets.QLabel))
    ui.dispose()
    tool = EmissionFitTool(hs.signals.Signal1D(np.ones((2, 8))))
    d = tool.gui(display=False, toolkit="traitsui")["traitsui"]
    ui = d["obj"].edit_traits(view=d["view"])
    ui.get_editors("axis")[0].value = "energy"
    out["axis"] = tool.axis
    ui.dispose()
    print(json.dumps(out))
    """
)


def test_traitsui_dialogs_in_qt(tmp_path):
    env = dict(
        os.environ, QT_QPA_PLATFORM="offscreen", ETS_TOOLKIT="qt", MPLBACKEND="qtagg"
    )
    env["HOME"] = str(tmp_path)
    run = subprocess.run(
        [sys.executable, "-c", _TRAITSUI], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["tolerance"] == 0.05
    # a tile of 3 px cannot resolve the band: the error is shown, dialog open
    assert out["status"].startswith("Error:"), out["status"]
    assert "d-spacings (Å):" in out["labels"] or "d-spacings (Å)" in out["labels"]
    assert any(label.startswith("Left (nm)") for label in out["labels"])
    assert out["axis"] == "energy"
