"""The hyperspyUI plugin, driven headless (QT_QPA_PLATFORM=offscreen).

One hyperspyUI main window is started for the module, with its settings in a
temporary directory and the plugin installed by
``install_hyperspyui_plugin`` (so the installation path is what is tested).
Actions are triggered as a user would (QAction.trigger, dialog fields,
OK button); modal message boxes and the file dialog are intercepted.
"""

import builtins
import contextlib
import gc
import os
import sys

import numpy as np
import pytest

pytest.importorskip("hyperspyui")
pytest.importorskip("PyQt5")

import hyperspy.api as hs  # noqa: E402
import matplotlib  # noqa: E402
from qtpy import QtCore, QtWidgets  # noqa: E402

from hyperspy_perovskite.data import simulated_emission_map  # noqa: E402
from hyperspy_perovskite.gui import (  # noqa: E402
    install_hyperspyui_plugin,
    uninstall_hyperspyui_plugin,
)
from hyperspy_perovskite.gui._install import SETTING, SHIM_NAME  # noqa: E402

DATA = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data")
PROTOCHIPS = os.path.join(DATA, "protochips", "protochips_electrical.csv")
INVALID = os.path.join(DATA, "protochips", "invalid_protochips_file.csv")

#: spread over the xdist workers, not grouped by the module's window fixture
#: (tests/conftest.py): grouped, the module starts beside test_lazy_eager.py
#: and its early CL fits compile the CL kernels a second time (~30 s CPU on an
#: empty numba cache); spread, they run after the groups, from the cache. A
#: second window costs ~3 s.
pytestmark = pytest.mark.xdist_spread


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def settings_dir(tmp_path_factory):
    """hyperspyUI's QSettings redirected to a temporary directory."""
    path = tmp_path_factory.mktemp("qsettings")
    QS = QtCore.QSettings
    for fmt in (QS.NativeFormat, QS.IniFormat):
        QS.setPath(fmt, QS.UserScope, str(path))
        QS.setPath(fmt, QS.SystemScope, str(path))
    QtCore.QCoreApplication.setOrganizationName("Hyperspy")
    QtCore.QCoreApplication.setApplicationName("HyperSpyUI")
    QS().setValue("plugins/Version selector/check_for_updates_on_start", False)
    return path


@pytest.fixture(scope="module")
def ui(settings_dir, tmp_path_factory):
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    plugin_dir = tmp_path_factory.mktemp("hyperspyui_plugins")
    install_hyperspyui_plugin(plugin_dir)
    saved = _process_globals()
    preloaded = "hyperspy_perovskite.gui.hyperspyui_plugin" in sys.modules
    # pyqode (hyperspyUI's editor) calls builtins._ as gettext when it exists;
    # a doctest run earlier in this process leaves its last result there
    if not callable(getattr(builtins, "_", print)):
        del builtins._
    from hyperspyui.mainwindow import MainWindow

    with _one_pending_sweep():
        window = MainWindow(None, argv=[])
    # hyperspyUI replaces hyperspy.signal.BaseSignal by a subclass whose plot()
    # registers the signal; in a shared test process HyperSpy's signal classes
    # already exist without it, and a half-hooked process cannot plot image
    # stacks (their navigator fails isinstance(navigator, BaseSignal)). Undo
    # it: the plugin's add_signal registers signals with the window itself.
    from hyperspyui import hooksignal

    hooksignal.dehook_signal()
    window.plugin_dir = plugin_dir
    window.plugin_preloaded = preloaded
    yield window
    # no app.processEvents(): it would first paint every pending plot (slow)
    window.close_all_signals()
    window.close()
    window.deleteLater()
    app.sendPostedEvents(None, QtCore.QEvent.DeferredDelete)
    _restore_process(window, saved)


@contextlib.contextmanager
def _one_pending_sweep():
    """hyperspyUI without a pile-up of its garbage-collection timers.

    hyperspyUI's ``_sweeper`` starts a 1 s timer calling ``gc.collect()`` for
    every signal removed. The tests remove their signals without running the
    event loop (:func:`_close_figures`), so the timers piled up and the next
    test that processed events ran them all: 14 full collections of about
    1e6 objects (7.9 s) in one test, 52-64 s when the whole module ran.
    Inside this context, windows made get a sweeper that restarts ONE timer:
    a collection 1 s after the last removal, as in the application.
    """
    from hyperspyui.mainwindowhyperspy import MainWindowHyperspy

    timer = QtCore.QTimer()
    timer.setSingleShot(True)
    timer.setInterval(1000)
    timer.timeout.connect(gc.collect)

    def sweeper(self, removed):
        del removed
        timer.start()

    sweeper.timer = timer  # kept alive with the window's bound method
    saved = MainWindowHyperspy._sweeper
    MainWindowHyperspy._sweeper = sweeper  # bound by the window's __init__
    try:
        yield
    finally:
        MainWindowHyperspy._sweeper = saved


def _process_globals():
    """What importing and starting hyperspyUI changes for the whole process."""
    import hyperspy.drawing.utils as dutils
    import hyperspy.external.progressbar as pbar
    import hyperspy.signal
    from hyperspy.defaults_parser import preferences
    from hyperspy.drawing.figure import BlittedFigure

    return {
        "blitted_close": BlittedFigure.close,
        "backend": matplotlib.get_backend(),
        "excepthook": sys.excepthook,
        "progressbar": pbar.progressbar,
        "BaseSignal": hyperspy.signal.BaseSignal,
        "on_figure_window_close": dutils.on_figure_window_close,
        "ipywidgets": preferences.GUIs.enable_ipywidgets_gui,
        "traitsui": preferences.GUIs.enable_traitsui_gui,
    }


def _restore_process(window, saved):
    """Undo hyperspyUI's process-wide hooks so that later tests run as before."""
    import hyperspy.drawing.utils as dutils
    import hyperspy.external.progressbar as pbar
    import hyperspy.signal
    import matplotlib.pyplot as plt
    from hyperspy.defaults_parser import preferences
    from hyperspyui import hooksignal, mdi_mpl_backend

    hooksignal.disconnect_plotting(window.on_signal_plotting)
    hooksignal._plotted_cbs.disconnect(window.on_signal_plotted)
    mdi_mpl_backend.disconnect_on_new_figure(window.on_new_figure)
    mdi_mpl_backend.disconnect_on_destroy(window.on_destroy_figure)
    hyperspy.signal.BaseSignal = saved["BaseSignal"]
    pbar.progressbar = saved["progressbar"]
    dutils.on_figure_window_close = saved["on_figure_window_close"]
    preferences.GUIs.enable_ipywidgets_gui = saved["ipywidgets"]
    preferences.GUIs.enable_traitsui_gui = saved["traitsui"]
    sys.excepthook = saved["excepthook"]
    from hyperspy.drawing.figure import BlittedFigure
    from matplotlib._pylab_helpers import Gcf

    BlittedFigure.close = saved["blitted_close"]  # the plugin's close patch
    for num, manager in list(Gcf.figs.items()):
        try:
            manager.window.objectName()
        except (AttributeError, RuntimeError):  # its window went with the UI
            Gcf.figs.pop(num, None)
    plt.switch_backend(saved["backend"])


@pytest.fixture(autouse=True)
def _close_figures(request):
    """Replaces the suite's ``plt.close("all")``, which fails on hyperspyUI's
    matplotlib backend (its figure managers have no canvas once closed):
    close the signals through hyperspyUI instead."""
    yield
    if "ui" in request.fixturenames:
        window = request.getfixturevalue("ui")
        window.close_all_signals()  # no processEvents: it would paint every plot


@pytest.fixture
def plugin(ui):
    return ui.plugins["Perovskite"]


@pytest.fixture(autouse=True)
def errors(monkeypatch):
    """Texts of the error message boxes shown (instead of blocking on exec_:
    autouse, so that an unexpected dialog fails a test instead of hanging it)."""
    shown = []

    def fake_exec(box):
        shown.append(box.text())
        return QtWidgets.QMessageBox.Ok

    monkeypatch.setattr(QtWidgets.QMessageBox, "exec_", fake_exec)
    global _SHOWN
    _SHOWN = shown
    return shown


_SHOWN = []


def select(ui, signal):
    """Select ``signal`` as a user clicking its plot would."""
    sw = next(sw for sw in ui.signals if sw.signal is signal)
    ui.tree.tree.setCurrentItem(ui.tree.lut[sw])
    ui.check_action_selections(sw.signal_plot)
    return sw


def run_dialog(plugin, key, fill=None):
    """Trigger an action, fill its dialog and press OK."""
    n = len(plugin.dialogs)
    plugin.action(key).trigger()
    assert len(plugin.dialogs) == n + 1, "the action opened no dialog"
    dialog = plugin.dialogs[-1]
    if fill is not None:
        fill(dialog)
    dialog.buttons.button(QtWidgets.QDialogButtonBox.Ok).click()
    plugin.wait()  # the action runs in a background thread
    if dialog.error_text():  # errors are shown in the dialog, which stays open
        assert dialog.isVisible()
        _SHOWN.append(dialog.error_text())
    else:
        assert not dialog.isVisible()
    return dialog


def new_signals(ui, before):
    ids = {id(s) for s in before}
    return [sw.signal for sw in ui.signals if id(sw.signal) not in ids]


def signals_of(ui):
    return [sw.signal for sw in ui.signals]


@pytest.fixture
def cl():
    s, truth = simulated_emission_map(shape=(3, 4), n_channels=160, seed=1)
    s.set_signal_type("CL_STEM_perovskite")
    s.metadata.General.title = "CL map"
    return s, truth


def fringe_series(units="A", amplitudes=(2.0, 1.5, 1.0, 0.5)):
    """Frames with fringes of period 6.4 A (1 A pixels) fading in time."""
    y, x = np.mgrid[:64, :64]
    frames = np.stack([10 + a * np.cos(2 * np.pi * x / 6.4) for a in amplitudes])
    s = hs.signals.Signal2D(frames)
    s.set_signal_type("insitu_image_series")
    s.axes_manager[0].units = "s"  # frame times are never guessed
    for ax in s.axes_manager.signal_axes:
        ax.units = units
    s.metadata.General.title = "HRTEM"
    return s


# --------------------------------------------------------------- installing
def test_installed_plugin_is_loaded_from_plugin_directory(ui, settings_dir):
    assert "Perovskite" in ui.plugins
    # hyperspyUI reads the directory from its own settings ...
    dirs = ui.plugin_manager.settings["extra_plugin_directories"]
    assert str(ui.plugin_dir) in dirs.split(os.pathsep)
    assert (ui.plugin_dir / SHIM_NAME).is_file()
    # ... and imported the plugin module through the shim (unless another test
    # of this session imported it before the window was created)
    if not ui.plugin_preloaded:
        assert "hyperspy_perovskite.gui.hyperspyui_plugin" in sys.modules
    labels = [a.text() for a in ui.menus["Perovskite"].actions()]
    assert labels == [
        "Fast multifit",
        "Fit emission",
        "Emission maps",
        "Attach stimulus log",
        "Fringe intensity",
        "Stimulus overlay",
        "EDX profiles",
        "Ion migration fit",
        "SAED families",
        "SAED amorphous halo",
        "4D-STEM virtual images",
        "4D-STEM strain",
        "J-V figures of merit",
    ]


def test_install_is_idempotent_and_uninstall(settings_dir, tmp_path):
    qs = QtCore.QSettings("Hyperspy", "HyperSpyUI")
    before = qs.value(SETTING)
    d = tmp_path / "plugins"
    shim = install_hyperspyui_plugin(d)
    install_hyperspyui_plugin(d)
    assert shim == d / SHIM_NAME and shim.is_file()
    assert "PerovskitePlugin" in shim.read_text()
    dirs = qs.value(SETTING).split(os.pathsep)
    assert dirs.count(str(d)) == 1
    assert uninstall_hyperspyui_plugin(d) is True
    assert not shim.exists()
    assert str(d) not in (qs.value(SETTING) or "").split(os.pathsep)
    # other directories kept (an absent and an empty setting both mean none:
    # which one a test finds depends on the tests the worker ran before it)
    assert (qs.value(SETTING) or "") == (before or "")
    assert uninstall_hyperspyui_plugin(d) is False


def test_install_into_a_file_raises(settings_dir, tmp_path):
    f = tmp_path / "not_a_dir"
    f.write_text("")
    with pytest.raises(ValueError, match="is a file"):
        install_hyperspyui_plugin(f)


# ---------------------------------------------------------- action enabling
def test_actions_enabled_for_the_right_signal_types(ui, plugin, cl, errors):
    s, _ = cl
    series = fringe_series()
    plugin.add_signal(s)
    plugin.add_signal(series)
    select(ui, s)
    assert plugin.action("fit_emission").isEnabled()
    assert not plugin.action("fringe_intensity").isEnabled()
    assert not plugin.action("attach_stimulus").isEnabled()
    assert not plugin.action("emission_maps").isEnabled()  # no fit yet
    assert not plugin.action("fast_multifit").isEnabled()  # no model yet
    select(ui, series)
    assert not plugin.action("fit_emission").isEnabled()
    assert plugin.action("fringe_intensity").isEnabled()
    assert plugin.action("attach_stimulus").isEnabled()
    plain = hs.signals.Signal1D(np.ones((2, 8)))
    plugin.add_signal(plain)
    select(ui, plain)
    assert not any(plugin.action(k).isEnabled() for k, _, _ in plugin._ACTIONS)
    assert errors == []


# ------------------------------------------------------------- CL emission
def test_fit_emission_and_maps(ui, plugin, cl, errors):
    s, truth = cl
    plugin.add_signal(s)
    select(ui, s)
    data = s.data.copy()
    before = signals_of(ui)

    def fill(d):
        d.range_start.setText("640")
        d.range_end.setText("780")

    run_dialog(plugin, "fit_emission", fill)
    assert errors == []
    sw = select(ui, s)
    assert len(sw.models) == 1
    m = sw.models[0].model
    c = m["Emission"].centre.map
    assert np.all(c["is_set"])
    # fitted centres agree with the simulated truth within 4 standard errors
    assert np.all(np.abs(c["values"] - truth["centre"]) < 4 * c["std"] + 0.05)
    # it is the suite's fit_emission (same options -> same numbers)
    ref = s.fit_emission(signal_range=(640.0, 780.0))
    np.testing.assert_allclose(c["values"], ref["Emission"].centre.map["values"])
    np.testing.assert_array_equal(s.data, data)  # input not modified
    assert new_signals(ui, before) == []  # wavelength fit: the model's signal is s

    assert plugin.action("emission_maps").isEnabled()

    def pick(d):
        for i in range(d.maps.count()):
            item = d.maps.item(i)
            on = item.text() in ("centre", "sigma_std")
            item.setCheckState(QtCore.Qt.Checked if on else QtCore.Qt.Unchecked)

    run_dialog(plugin, "emission_maps", pick)
    assert errors == []
    added = new_signals(ui, before)
    titles = sorted(a.metadata.General.title for a in added)
    assert titles == ["CL map: centre", "CL map: sigma_std"]
    centre = next(a for a in added if a.metadata.General.title.endswith("centre"))
    np.testing.assert_allclose(centre.data, c["values"])
    assert centre.axes_manager.navigation_shape == () and centre.data.shape == (3, 4)


def test_fit_emission_energy_axis_adds_converted_signal(ui, plugin, cl, errors):
    s, truth = cl
    plugin.add_signal(s)
    select(ui, s)
    before = signals_of(ui)
    m = plugin.fit_emission(axis="energy")
    added = new_signals(ui, before)
    assert len(added) == 1 and added[0] is m.signal
    assert m.signal.axes_manager.signal_axes[0].units == "eV"
    assert m.signal.metadata.General.title == "CL map (energy fit)"
    wrappers = [sw for sw in ui.signals if sw.signal is m.signal][0].models
    assert [mw.model for mw in wrappers] == [m]
    # 1239.84 eV nm (hc), centre in eV vs truth in nm
    e = m["Emission"].centre.map["values"]
    np.testing.assert_allclose(1239.84198 / e, truth["centre"], atol=1.0)


def test_fit_emission_bad_range_shows_error(ui, plugin, cl, errors):
    s, _ = cl
    plugin.add_signal(s)
    sw = select(ui, s)

    def fill(d):
        d.range_start.setText("abc")
        d.range_end.setText("780")

    run_dialog(plugin, "fit_emission", fill)
    assert len(errors) == 1 and "must be two numbers" in errors[0]

    def outside(d):
        d.range_start.setText("100")
        d.range_end.setText("200")

    run_dialog(plugin, "fit_emission", outside)
    assert len(errors) == 2 and "must lie within the axis" in errors[1]

    def tail(d):
        d.tail.setChecked(True)  # the tail needs the energy axis

    run_dialog(plugin, "fit_emission", tail)
    assert len(errors) == 3 and "'Urbach tail' needs Axis = energy" in errors[2]
    assert sw.models == []


def test_fit_emission_holds_the_tail_shape(ui, plugin, cl, errors):
    """The dialog's Urbach energy and edge reach fit_emission: held in the
    model (not free, the value in eV), a half-given shape is refused with
    fit_emission's own message, and the recorded code repeats the call."""
    s, _ = cl
    plugin.add_signal(s)
    sw = select(ui, s)

    def half(d):
        d.tail.setChecked(True)
        d.axis.setCurrentText("energy")
        d.urbach_energy.setText("25 meV")

    run_dialog(plugin, "fit_emission", half)
    assert len(errors) == 1 and "urbach_edge" in errors[0]

    def bare(d):
        half(d)
        d.urbach_energy.setText("25")  # 25 eV to the API: the unit is asked for
        d.urbach_edge.setText("20 meV")

    run_dialog(plugin, "fit_emission", bare)
    assert len(errors) == 2 and "give the unit, e.g. '25 meV'" in errors[1]

    def held(d):
        half(d)
        d.urbach_edge.setText("20 meV")

    run_dialog(plugin, "fit_emission", held)
    assert len(errors) == 2
    m = [mw.model for w in ui.signals for mw in w.models][-1]
    t = m["Urbach"]
    assert not t.Eu.free and t.E0.twin is m["Emission"].centre
    np.testing.assert_allclose(t.Eu.value, 0.025)
    assert sw.models == []  # the energy fit's model belongs to the converted copy


def test_script_api_raises_on_wrong_signal(ui, plugin):
    series = fringe_series()
    with pytest.raises(TypeError, match="CL_STEM_perovskite"):
        plugin.fit_emission(signal=series)
    with pytest.raises(TypeError, match="insitu_image_series"):
        plugin.fringe_intensity(6.4, signal=hs.signals.Signal2D(np.ones((2, 8, 8))))


# ------------------------------------------------------------ fast multifit
def test_fast_multifit_on_selected_model(ui, plugin, cl, errors):
    s, truth = cl
    s.estimate_poissonian_noise_variance()  # weights: reduced chi2 ~ 1
    m = s.create_model()
    g = hs.model.components1D.Gaussian()
    m.extend([g, hs.model.components1D.Offset()])
    g.centre.value, g.sigma.value, g.A.value = 705.0, 10.0, 1.5e4
    plugin.add_model(m)
    select(ui, s)
    assert plugin.action("fast_multifit").isEnabled()
    before = signals_of(ui)
    plugin.action("fast_multifit").trigger()
    plugin.wait()
    assert errors == []
    c = g.centre.map
    assert np.all(c["is_set"])
    assert np.all(np.abs(c["values"] - truth["centre"]) < 4 * c["std"] + 0.05)
    added = new_signals(ui, before)
    titles = sorted(a.metadata.General.title for a in added)
    assert titles == ["CL map: convergence", "CL map: reduced chi-squared"]
    conv = next(a for a in added if "convergence" in a.metadata.General.title)
    assert conv.data.shape == (3, 4) and np.all(conv.data == 0)
    red = next(a for a in added if "chi" in a.metadata.General.title)
    assert 0.7 < np.median(red.data) < 1.3  # Poisson data, Poisson weights


def test_fast_multifit_unsupported_component_shows_error(ui, plugin, errors):
    s = hs.signals.Signal1D(np.random.default_rng(0).random((2, 3, 32)))
    m = s.create_model()
    m.append(hs.model.components1D.Expression("a * x ** 3", "cubic", a=1.0))
    plugin.add_model(m)
    select(ui, s)
    plugin.action("fast_multifit").trigger()
    plugin.wait()
    assert len(errors) == 1 and "Fast multifit: " in errors[0] and "kernel" in errors[0]
    assert not np.any(m[0].a.map["is_set"])


def test_fast_multifit_without_model_raises(ui, plugin):
    s = hs.signals.Signal1D(np.ones((2, 8)))
    plugin.add_signal(s)
    select(ui, s)
    with pytest.raises(ValueError, match="Select a model"):
        plugin.fast_multifit()


# ---------------------------------------------------------------- in situ
def test_fringe_intensity_dialog(ui, plugin, errors):
    s = fringe_series()
    plugin.add_signal(s)
    select(ui, s)
    before = signals_of(ui)
    dialog = run_dialog(
        plugin, "fringe_intensity", lambda d: d.d_spacing.setText("6.4")
    )
    assert errors == []
    (out,) = new_signals(ui, before)
    # a fringe of amplitude a carries power a**2 / 2
    np.testing.assert_allclose(
        out.data, np.array([2.0, 1.5, 1.0, 0.5]) ** 2 / 2, rtol=0.02
    )
    assert out.metadata.General.title == "HRTEM: fringe power at 6.4 A"
    np.testing.assert_allclose(out.data, s.fringe_intensity(6.4).data)
    assert plugin.settings["d_spacing"] == "6.4"  # remembered for next time
    assert dialog.d_spacing.text() == "6.4"


def test_fringe_intensity_two_spacings(ui, plugin, errors):
    s = fringe_series()
    plugin.add_signal(s)
    select(ui, s)
    before = signals_of(ui)
    run_dialog(plugin, "fringe_intensity", lambda d: d.d_spacing.setText("6.4, 9.1"))
    assert errors == []
    (out,) = new_signals(ui, before)
    assert out.data.shape == (2, 4)
    assert out.data[0, 0] == pytest.approx(2.0, rel=0.02)
    assert abs(out.data[1, 0]) < 0.05  # no fringes at 9.1 A


@pytest.mark.parametrize(
    "units, text, message",
    [
        ("A", "abc", "not a number"),
        ("A", "", "at least one d-spacing"),
        ("A", "-3", "must be positive"),
        ("<undefined>", "6.4", "unit"),
    ],
)
def test_fringe_intensity_bad_input_shows_error(
    ui, plugin, errors, units, text, message
):
    s = fringe_series(units=units)
    plugin.add_signal(s)
    select(ui, s)
    before = signals_of(ui)
    run_dialog(plugin, "fringe_intensity", lambda d: d.d_spacing.setText(text))
    assert len(errors) == 1 and message in errors[0]
    assert new_signals(ui, before) == []


def test_attach_stimulus_with_file_dialog(ui, plugin, errors, monkeypatch):
    s = fringe_series(amplitudes=np.linspace(2, 0.5, 8))
    s.axes_manager[0].scale = 2.0  # frames every 2 s, the log spans 15.3 s
    plugin.add_signal(s)
    select(ui, s)
    asked = []

    def fake_prompt(*args, **kwargs):
        asked.append(kwargs.get("title"))
        return [PROTOCHIPS]

    monkeypatch.setattr(ui, "prompt_files", fake_prompt)
    before = signals_of(ui)
    dialog = run_dialog(plugin, "attach_stimulus")
    assert asked == ["Stimulus log"]  # the action opened the file dialog
    assert dialog.path.text() == PROTOCHIPS
    assert errors == []
    (out,) = new_signals(ui, before)
    assert out.metadata.General.title == "HRTEM (stimulus)"
    assert "Stimulus" not in s.metadata  # the selected signal is not modified
    ref = s.attach_stimulus(PROTOCHIPS)
    assert sorted(out.stimulus) == sorted(ref.stimulus) and len(out.stimulus) > 0
    for name in ref.stimulus:
        np.testing.assert_allclose(out.stimulus[name].data, ref.stimulus[name].data)
    assert out.data is s.data  # shares the data


def test_attach_stimulus_time_offset(ui, plugin, errors, monkeypatch):
    s = fringe_series()
    plugin.add_signal(s)
    select(ui, s)
    monkeypatch.setattr(ui, "prompt_files", lambda *a, **k: [PROTOCHIPS])
    before = signals_of(ui)
    run_dialog(plugin, "attach_stimulus", lambda d: d.time_offset.setValue(-5.0))
    assert errors == []
    (out,) = new_signals(ui, before)
    ref = s.attach_stimulus(PROTOCHIPS, time_offset=-5.0)
    other = s.attach_stimulus(PROTOCHIPS)
    name = next(iter(ref.stimulus))
    np.testing.assert_allclose(out.stimulus[name].data, ref.stimulus[name].data)
    assert not np.allclose(ref.stimulus[name].data, other.stimulus[name].data)


@pytest.mark.parametrize(
    "path, message",
    [(INVALID, "is not a valid Protochips log"), ("", "Choose a stimulus log file")],
)
def test_attach_stimulus_bad_file_shows_error(
    ui, plugin, errors, monkeypatch, path, message
):
    s = fringe_series()
    plugin.add_signal(s)
    select(ui, s)
    monkeypatch.setattr(ui, "prompt_files", lambda *a, **k: [path] if path else [])
    before = signals_of(ui)
    run_dialog(plugin, "attach_stimulus")
    assert len(errors) == 1 and message in errors[0]
    assert new_signals(ui, before) == []


def test_cancel_runs_nothing(ui, plugin, errors):
    s = fringe_series()
    plugin.add_signal(s)
    select(ui, s)
    before = signals_of(ui)
    plugin.action("fringe_intensity").trigger()
    plugin.dialogs[-1].buttons.button(QtWidgets.QDialogButtonBox.Cancel).click()
    assert errors == [] and new_signals(ui, before) == []


@pytest.mark.parametrize("lazy", [False, True])
def test_lazy_signals_give_the_eager_results(ui, plugin, errors, lazy):
    s, truth = simulated_emission_map(shape=(2, 3), n_channels=128, seed=2)
    s.set_signal_type("CL_STEM_perovskite")
    series = fringe_series()
    if lazy:
        s, series = s.as_lazy(), series.as_lazy()
    m = plugin.fit_emission(signal=s)
    c = m["Emission"].centre.map
    assert np.all(np.abs(c["values"] - truth["centre"]) < 4 * c["std"] + 0.05)
    eager, _ = simulated_emission_map(shape=(2, 3), n_channels=128, seed=2)
    eager.set_signal_type("CL_STEM_perovskite")
    ref = eager.fit_emission()["Emission"].centre.map["values"]
    np.testing.assert_allclose(c["values"], ref, rtol=1e-6)
    out = plugin.fringe_intensity("6.4", signal=series)
    np.testing.assert_allclose(
        np.asarray(out.data), np.array([2.0, 1.5, 1.0, 0.5]) ** 2 / 2, rtol=0.02
    )
    assert errors == []


# ------------------------------------------------------ threads and cancel
def test_dialog_runs_in_background_with_progress(ui, plugin, errors):
    s, _ = simulated_emission_map(shape=(24, 24), n_channels=200, seed=3)
    s.set_signal_type("CL_STEM_perovskite")
    s.metadata.General.title = "big CL map"
    plugin.add_signal(s)
    select(ui, s)
    plugin.action("fit_emission").trigger()
    dialog = plugin.dialogs[-1]
    dialog.buttons.button(QtWidgets.QDialogButtonBox.Ok).click()
    # OK returned at once: the fit runs in a thread, the dialog shows progress
    job = plugin.jobs[-1]
    assert job._thread.is_alive() or job.finished
    assert dialog.progress.isVisibleTo(dialog) or job.finished
    assert not dialog.buttons.button(QtWidgets.QDialogButtonBox.Ok).isEnabled()
    plugin.wait()
    assert errors == [] and not dialog.isVisible()
    assert len(select(ui, s).models) == 1


def test_cancel_discards_the_result(ui, plugin, errors):
    import time

    delivered = []
    job = plugin.run_job("slow", lambda: time.sleep(0.3) or 1, delivered.append)
    job.cancel()
    job.wait()
    assert delivered == [] and job.delivered


def test_cancel_stops_dask_work_at_the_next_task(ui, plugin):
    import time

    import dask
    import dask.array as da

    @dask.delayed
    def slow(i):
        time.sleep(0.05)
        return np.array([i])

    arr = da.concatenate([da.from_delayed(slow(i), (1,), dtype=int) for i in range(60)])
    out = []
    job = plugin.run_job("dask", lambda: arr.compute(scheduler="sync"), out.append)
    time.sleep(0.3)
    job.cancel()
    t0 = time.perf_counter()
    job.wait()
    assert time.perf_counter() - t0 < 1.0  # not the 3 s of the whole graph
    assert out == [] and job.error is not None  # stopped, nothing delivered
    assert 0 < job.fraction < 1


# ------------------------------------------------- no lost signals, Data View
def test_energy_fit_keeps_the_original_signal(ui, plugin, cl, errors):
    s, _ = cl
    plugin.add_signal(s)
    select(ui, s)
    run_dialog(plugin, "fit_emission", lambda d: d.axis.setCurrentText("energy"))
    assert errors == []
    copy = next(
        sw
        for sw in ui.signals
        if sw.signal.metadata.General.title.endswith("(energy fit)")
    )
    assert any(sw.signal is s for sw in ui.signals)  # the original is kept
    assert [mw.name for mw in copy.models] == ["Emission fit"]


def test_closing_the_copy_window_by_hand_keeps_the_original(ui, plugin, cl, errors):
    s, _ = cl
    plugin.add_signal(s)
    select(ui, s)
    original = next(sw for sw in ui.signals if sw.signal is s)
    run_dialog(plugin, "fit_emission", lambda d: d.axis.setCurrentText("energy"))
    assert errors == []
    copy = next(
        sw
        for sw in ui.signals
        if sw.signal.metadata.General.title.endswith("(energy fit)")
    )
    # the copy has its own windows, none of the original's
    own = {id(w) for w in (copy.signal_plot, copy.navigator_plot) if w is not None}
    theirs = {id(w) for w in (original.signal_plot, original.navigator_plot) if w}
    assert own and not own & theirs
    copy.signal_plot.close()  # the user closes the copy's spectrum window
    QtWidgets.QApplication.processEvents()
    gc.collect()  # hyperspyUI's sweep after a removal: the original survives it
    assert original in ui.signals and original.signal is s
    assert original.signal_plot is not None and s._plot.is_active
    assert copy not in ui.signals


def test_actions_follow_the_data_view_selection(ui, plugin, cl, errors):
    s, _ = cl
    series = fringe_series()
    plugin.add_signal(s)
    plugin.add_signal(series)
    for sig, on, off in (
        (s, "fit_emission", "fringe_intensity"),
        (series, "fringe_intensity", "fit_emission"),
    ):
        sw = next(w for w in ui.signals if w.signal is sig)
        ui.tree.tree.setCurrentItem(ui.tree.lut[sw])  # only the Data View
        assert plugin.action(on).isEnabled()
        assert not plugin.action(off).isEnabled()


def test_emission_maps_are_masked_where_invalid(ui, plugin, errors):
    s, _ = simulated_emission_map(shape=(3, 4), n_channels=160, seed=1)
    s.data[0, 0] = np.random.default_rng(0).poisson(5.0, s.data.shape[-1])  # no band
    s.set_signal_type("CL_STEM_perovskite")
    plugin.fit_emission(signal=s)
    maps = plugin.emission_maps(signal=s, names=["centre", "quality"])
    valid = maps["valid"].data
    assert not valid[0, 0] and valid.sum() >= 10
    assert np.isnan(maps["centre"].data[0, 0])
    assert np.all(np.isfinite(maps["centre"].data[valid]))
    assert maps["quality"].data[0, 0] != 0  # flags kept whole


# ------------------------------------------------------- workflow actions
def test_stimulus_overlay(ui, plugin, errors):
    s = fringe_series()
    s.axes_manager[0].units, s.axes_manager[0].name = "s", "time"
    s = s.attach_stimulus({"time": [0, 1, 2, 3], "Bias": ([0, 1, 1, 1], "V")})
    plugin.add_signal(s)
    select(ui, s)
    assert plugin.action("stimulus_overlay").isEnabled()
    fig = plugin.stimulus_overlay()
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["Bias (V)"]
    power = plugin.fringe_intensity(6.4, signal=s)
    fig = plugin.stimulus_overlay(power)
    assert any(ax.get_ylabel() == "Bias (V)" for ax in fig.axes)


def test_edx_profiles_dialog_with_line_on_the_map(ui, plugin, errors):
    from hyperspy_perovskite.data.device_simulation import simulate_device_eds

    s, truth = simulate_device_eds(shape=(8, 32), pixel_size=16.0, seed=3)
    s.metadata.General.title = "device"
    plugin.add_signal(s)
    select(ui, s)
    assert plugin.action("edx_profiles").isEnabled()
    before = signals_of(ui)

    def pick(d):
        d.pick_button.click()  # a line across the map, its ends in the fields
        assert d.x0.text() and d.x1.text()

    run_dialog(plugin, "edx_profiles", pick)
    assert errors == []
    added = new_signals(ui, before)
    assert {a.metadata.General.title for a in added} >= {"device: Pb_La profile"}
    prof = next(a for a in added if "I_La" in a.metadata.General.title)
    assert prof.axes_manager.signal_axes[0].units == "nm"
    # iodine piles up at the cathode side after the bias (simulated truth)
    assert truth["accumulate_at"] in truth["interfaces"]


def test_edx_profiles_bad_point_stays_in_dialog(ui, plugin, errors):
    from hyperspy_perovskite.data.device_simulation import simulate_device_eds

    s, _ = simulate_device_eds(shape=(8, 32), pixel_size=16.0, seed=3)
    plugin.add_signal(s)
    select(ui, s)

    def fill(d):
        d.x0.setText("abc")

    run_dialog(plugin, "edx_profiles", fill)
    assert len(errors) == 1 and errors[0].startswith("Start: give x and y as numbers")


def test_saed_families_dialog(ui, plugin, errors):
    from hyperspy_perovskite.data.saed_simulation import simulate_saed_series

    s, truth = simulate_saed_series(
        n_frames=10, frame_interval=30.0, size=72, scale=0.016
    )
    plugin.add_signal(s)
    select(ui, s)
    assert plugin.action("saed_families").isEnabled()
    before = signals_of(ui)
    run_dialog(plugin, "saed_families", lambda d: d.families.setText("001, 111, 002"))
    assert errors == []
    (out,) = new_signals(ui, before)
    ratio = out.data[:, -1] / out.data[:, 0]
    assert ratio[0] < 0.5 and 0.8 < ratio[1] < 1.2  # (001) fades, (111) stays
    run_dialog(plugin, "saed_families", lambda d: d.families.setText("1a1"))
    assert "not Miller indices" in errors[-1]


def test_fringe_intensity_in_regions_drawn_on_the_image(ui, plugin, errors):
    s = fringe_series()
    plugin.add_signal(s)
    select(ui, s)
    before = signals_of(ui)

    def regions(d):
        d.d_spacing.setText("6.4")
        d.roi_button.click()
        d.roi_button.click()
        assert d.roi_label.text() == "2 region(s)"

    run_dialog(plugin, "fringe_intensity", regions)
    assert errors == []
    (out,) = new_signals(ui, before)
    assert out.data.shape[0] == 2  # one trace per region
    np.testing.assert_allclose(out.data[:, 0] / out.data[:, -1], 16.0, rtol=0.1)


# ------------------------------------------ J-V, SAED halo, 4D-STEM actions
def _trigger(plugin, key):
    assert plugin.action(key).isEnabled(), key
    plugin.action(key).trigger()  # runs in the background
    plugin.wait()


def test_jv_figures_of_merit_action(ui, plugin, errors):
    from hyperspy_perovskite.data.jv_simulation import simulate_jv_scans
    from hyperspy_perovskite.readers import jv_curve

    p = dict(jph=22.0, j0=1e-10, n=1.5, rs=2.0, rsh=5000.0)  # Voc about 1.0 V
    v, curves, truth = simulate_jv_scans(p, step=0.01, noise=0.05, seed=2)
    s = jv_curve(v, curves[0])
    plugin.add_signal(s)
    select(ui, s)
    assert not plugin.action("operando_strain").isEnabled()
    _trigger(plugin, "jv_figures")
    assert errors == []
    table = plugin._tables[-1].table
    jsc = float(np.interp(0.0, v, truth[0]["clean"]))  # the noise-free curve
    col = next(c for c in table.column_names if c.lower().startswith("jsc"))
    got, std = float(table[col][0]), float(table.std[col][0])
    assert abs(got - jsc) < 3 * std + 0.01, (got, std, jsc)


def test_saed_halo_action(ui, plugin, errors):
    from hyperspy_perovskite.data.saed_simulation import (
        simulate_saed_series,
        truth_in_range,
    )

    s, truth = simulate_saed_series(n_frames=12, frame_interval=25.0, size=96, seed=0)
    plugin.add_signal(s)
    select(ui, s)
    before = signals_of(ui)
    _trigger(plugin, "saed_halo")
    assert errors == []
    (halo,) = new_signals(ui, before)
    assert halo.metadata.General.title.endswith("halo fraction")
    # the action gives what the method gives
    np.testing.assert_allclose(halo.data, s.amorphous_fraction().data)
    lo, hi = halo.metadata.Diffraction_analysis.radial_range
    rings, h = truth_in_range(truth, lo, hi)  # simulated, over the fitted range
    true = h / (h + rings.sum(0))
    assert (halo.data[-1] - halo.data[0]) * (true[-1] - true[0]) > 0  # it grows


def test_operando_virtual_images_and_strain_actions(ui, plugin, errors):
    from hyperspy_perovskite.data.operando_4dstem_simulation import (
        simulate_operando_4dstem,
    )

    s, _ = simulate_operando_4dstem(
        n_time=2, scan_shape=(6, 24), pattern_size=48, seed=5
    )
    plugin.add_signal(s)
    select(ui, s)
    assert not plugin.action("jv_figures").isEnabled()
    before = signals_of(ui)
    _trigger(plugin, "virtual_images")
    titles = {a.metadata.General.title for a in new_signals(ui, before)}
    assert any(t.endswith("virtual BF") for t in titles)
    assert any(t.endswith("virtual ADF") for t in titles)
    select(ui, s)
    before = signals_of(ui)
    _trigger(plugin, "operando_strain")
    assert errors == []
    added = new_signals(ui, before)
    exx = next(a for a in added if a.metadata.General.title.endswith("strain exx"))
    from hyperspy_perovskite.validity import Validity

    valid = Validity.from_metadata(exx.metadata)
    assert np.all(np.isnan(exx.data[~valid.mask]))  # invalid pixels masked
    assert np.all(np.isfinite(exx.data[valid.mask]))
    assert "Interface strain" in plugin._tables[-1].windowTitle()


def test_migration_fit_dialog(ui, plugin, errors):
    from hyperspy_perovskite.data.device_simulation import simulate_device_eds

    s, truth = simulate_device_eds(times=[0.0, 300.0], seed=0)
    plugin.add_signal(s)
    select(ui, s)

    def fill(d, field="abc"):
        d.line.setCurrentText("I_La")
        d.interface.setCurrentText("SnO2/perovskite")
        d.layer.setCurrentText("perovskite")
        d.field.setText(field)

    run_dialog(plugin, "migration_fit", fill)  # a field that is not a number
    assert errors[-1].startswith("Field: 'abc' is not a number")
    select(ui, s)
    run_dialog(plugin, "migration_fit", lambda d: fill(d, repr(truth["field"])))
    assert len(errors) == 1
    table = plugin._tables[-1].table
    lam, std = float(table["decay_length"][-1]), float(table.std["decay_length"][-1])
    assert abs(lam - truth["decay_length"]) < 3 * std  # the simulated decay length
