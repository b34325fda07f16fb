"""hyperspyUI's own launcher starts with the ``gui`` extra and shows our menu.

The plugin tests (test_hyperspyui_plugin.py) build hyperspyUI's ``MainWindow``
in the test process; this test runs the program as a user does: hyperspyUI's
console entry point (``hyperspyui.__main__:main``, which imports
``QtWebEngineWidgets`` before anything else) in a fresh process, headless
(``QT_QPA_PLATFORM=offscreen``), with its settings and home folder in a
temporary directory and the plugin installed by
:func:`~hyperspy_perovskite.gui.install_hyperspyui_plugin`. A timer started
with the main window reports its menus and quits.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytest.importorskip("hyperspyui")
pytest.importorskip("PyQt5")

_DRIVER = textwrap.dedent(
    """
    import json, runpy, sys
    from qtpy import QtCore, QtWidgets

    from hyperspy_perovskite.gui import install_hyperspyui_plugin

    install_hyperspyui_plugin(sys.argv[1])
    settings = QtCore.QSettings("Hyperspy", "HyperSpyUI")
    settings.setValue("plugins/Version selector/check_for_updates_on_start", False)
    settings.setValue("General/allow_multiple_instances", True)
    settings.sync()

    import hyperspyui.mainwindow as mw

    init = mw.MainWindow.__init__

    def report():
        app = QtWidgets.QApplication.instance()
        wins = [w for w in app.topLevelWidgets() if isinstance(w, mw.MainWindow)]
        menus = {}
        for w in wins:
            for a in w.menuBar().actions():
                if a.menu() is not None:
                    menus[a.text().replace("&", "")] = [
                        b.text() for b in a.menu().actions() if b.text()
                    ]
        print("RESULT " + json.dumps({
            "windows": len(wins),
            "visible": [w.isVisible() for w in wins],
            "plugins": sorted(wins[0].plugins) if wins else [],
            "menus": menus,
        }), flush=True)
        app.quit()

    def patched(self, *args, **kwargs):
        init(self, *args, **kwargs)
        QtCore.QTimer.singleShot(500, report)

    mw.MainWindow.__init__ = patched
    sys.argv = ["hyperspyui"]
    runpy.run_module("hyperspyui", run_name="__main__")
    """
)


@pytest.mark.slow
def test_launcher_opens_main_window_with_perovskite_menu(tmp_path):
    home = tmp_path / "home"
    (home / ".config").mkdir(parents=True)
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    env = dict(
        os.environ,
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_RUNTIME_DIR=str(runtime),
        QT_QPA_PLATFORM="offscreen",
        MPLBACKEND="Agg",
        QTWEBENGINE_CHROMIUM_FLAGS="--no-sandbox",
        # this checkout's package, not another install
        PYTHONPATH=os.pathsep.join(
            p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p
        ),
    )
    driver = tmp_path / "driver.py"
    driver.write_text(_DRIVER)
    proc = subprocess.run(
        [sys.executable, str(driver), str(tmp_path / "plugins")],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
    )
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    assert lines, f"hyperspyUI did not start:\n{proc.stdout}\n{proc.stderr}"
    result = json.loads(lines[-1][len("RESULT ") :])
    assert result["windows"] == 1
    assert result["visible"] == [True]
    assert "Perovskite" in result["plugins"]
    assert "Perovskite" in result["menus"], result["menus"].keys()
    assert any("Fit emission" in t for t in result["menus"]["Perovskite"])
    assert "Traceback" not in proc.stderr, proc.stderr
