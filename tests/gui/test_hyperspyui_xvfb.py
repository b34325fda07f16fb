"""A real hyperspyUI window under Xvfb: the window stays responsive while a fit
runs, and screenshots are kept as test artefacts (in the test's tmp folder).

hyperspyUI is started through its own launcher in a fresh process on a
virtual X display (skipped where ``Xvfb`` is not installed); a scenario
driven by Qt timers selects a CL map in the Data View, runs Fit emission
from the Perovskite menu (its dialog's OK), counts how often a 20 ms UI
timer fires while the fit runs (a frozen window would not fire it), then
shows the emission maps, grabbing the screen at each step.
"""

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytest.importorskip("hyperspyui")

_SCENARIO = textwrap.dedent(
    """
    import json, runpy, sys, time
    from pathlib import Path
    from qtpy import QtCore, QtWidgets

    from hyperspy_perovskite.gui import install_hyperspyui_plugin

    out = Path(sys.argv[2])
    install_hyperspyui_plugin(sys.argv[1])
    settings = QtCore.QSettings("Hyperspy", "HyperSpyUI")
    settings.setValue("plugins/Version selector/check_for_updates_on_start", False)
    settings.setValue("General/allow_multiple_instances", True)
    settings.sync()

    import hyperspyui.mainwindow as mw

    state = {"ticks": 0, "shots": []}

    def shot(name):
        app = QtWidgets.QApplication.instance()
        pix = app.primaryScreen().grabWindow(0)
        path = out / f"{name}.png"
        pix.save(str(path))
        state["shots"].append(str(path))

    def later(ms, f):
        QtCore.QTimer.singleShot(ms, f)

    def start(ui):
        from hyperspy_perovskite.data import simulated_emission_map

        s, _ = simulated_emission_map(shape=(64, 64), n_channels=600, seed=0)
        s.set_signal_type("CL_STEM_perovskite")
        s.metadata.General.title = "CL map"
        ui.resize(1580, 980)
        plugin = ui.plugins["Perovskite"]
        plugin.add_signal(s)
        sw = next(w for w in ui.signals if w.signal is s)
        ui.tree.tree.setCurrentItem(ui.tree.lut[sw])
        state["enabled"] = plugin.action("fit_emission").isEnabled()
        plugin.action("fit_emission").trigger()
        dialog = plugin.dialogs[-1]
        dialog.n_peaks.setValue(1)
        later(500, lambda: run_fit(ui, plugin, dialog, s))

    def run_fit(ui, plugin, dialog, s):
        shot("1_dialog")
        ticker = QtCore.QTimer()
        ticker.setInterval(20)
        ticker.timeout.connect(lambda: state.__setitem__("ticks", state["ticks"] + 1))
        ticker.start()
        state["ticker"] = ticker
        state["t0"] = time.perf_counter()
        dialog.buttons.button(QtWidgets.QDialogButtonBox.Ok).click()
        later(150, lambda: shot("2_during_fit"))
        later(100, lambda: wait_fit(ui, plugin, dialog, s))

    def wait_fit(ui, plugin, dialog, s):
        if any(not j.delivered for j in plugin.jobs):
            later(100, lambda: wait_fit(ui, plugin, dialog, s))
            return
        state["ticker"].stop()
        state["fit_s"] = time.perf_counter() - state["t0"]
        try:  # a dialog that succeeded is closed and deleted
            state["error"] = dialog.error_text()
        except RuntimeError:
            state["error"] = ""
        state["signals"] = [w.signal.metadata.General.title for w in ui.signals]
        later(300, lambda: maps(ui, plugin, s))

    def maps(ui, plugin, s):
        shot("3_after_fit")
        sw = next(w for w in ui.signals if w.signal is s)
        ui.tree.tree.setCurrentItem(ui.tree.lut[sw])
        plugin.action("emission_maps").trigger()
        d = plugin.dialogs[-1]
        d.buttons.button(QtWidgets.QDialogButtonBox.Ok).click()
        later(200, lambda: wait_maps(ui, plugin))

    def wait_maps(ui, plugin):
        if any(not j.delivered for j in plugin.jobs):
            later(100, lambda: wait_maps(ui, plugin))
            return
        later(800, lambda: finish(ui))

    def finish(ui):
        shot("4_maps")
        state["signals_end"] = [w.signal.metadata.General.title for w in ui.signals]
        state.pop("ticker", None)
        print("RESULT " + json.dumps(state), flush=True)
        QtWidgets.QApplication.instance().quit()

    init = mw.MainWindow.__init__

    def patched(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.load_complete.connect(lambda: later(1500, lambda: start(self)))

    mw.MainWindow.__init__ = patched
    sys.argv = ["hyperspyui"]
    runpy.run_module("hyperspyui", run_name="__main__")
    """
)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("Xvfb") is None, reason="Xvfb is not installed")
def test_real_window_stays_responsive_and_screenshots(tmp_path):
    display = f":{90 + os.getpid() % 9}"
    xvfb = subprocess.Popen(
        ["Xvfb", display, "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(1.0)
        home = tmp_path / "home"
        (home / ".config").mkdir(parents=True)
        runtime = tmp_path / "runtime"
        runtime.mkdir(mode=0o700)
        shots = tmp_path / "screenshots"
        shots.mkdir()
        env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
        # settings in tmp, but the user's compiled-kernel cache (else the
        # first fit compiles every kernel: slow, though the window stays live)
        cache = os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache"))
        pythonpath = os.pathsep.join(
            p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p
        )
        env.update(
            PYTHONPATH=pythonpath,  # this checkout's package, not another install
            XDG_CACHE_HOME=cache,
            DISPLAY=display,
            HOME=str(home),
            XDG_CONFIG_HOME=str(home / ".config"),
            XDG_RUNTIME_DIR=str(runtime),
            QTWEBENGINE_CHROMIUM_FLAGS="--no-sandbox",
            QT_QPA_PLATFORM="xcb",
        )
        driver = tmp_path / "scenario.py"
        driver.write_text(_SCENARIO)
        proc = subprocess.run(
            [sys.executable, str(driver), str(tmp_path / "plugins"), str(shots)],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        xvfb.terminate()
        xvfb.wait(10)
    if 'Could not load the Qt platform plugin "xcb"' in proc.stderr:
        pytest.skip("Qt's xcb platform needs libxcb-icccm4, -keysyms1, -xinerama0")
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    assert lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    state = json.loads(lines[-1][len("RESULT ") :])
    assert state["enabled"] and state["error"] == ""
    # the UI timer kept firing while the fit ran in its thread
    expected = state["fit_s"] / 0.02
    assert state["ticks"] > 0.3 * expected, state
    assert state["signals"].count("CL map") == 1  # the original is kept
    assert "CL map: centre" in state["signals_end"]
    from PIL import Image

    for path in state["shots"]:
        im = Image.open(path).convert("L")
        assert im.size == (1600, 1000)
        lo, hi = im.getextrema()
        assert hi - lo > 50  # not a blank screen
    print("screenshots:", shots)
