"""What the dependencies and extras declare makes HyperSpy and hyperspyUI work."""

import logging
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]


def _project():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _names(requirements):
    return {Requirement(r).name.lower(): Requirement(r) for r in requirements}


def test_numexpr_is_a_dependency_and_silences_hyperspy(caplog):
    assert "numexpr" in _names(_project()["dependencies"])
    import hyperspy.api as hs

    with caplog.at_level(logging.WARNING, logger="hyperspy"):
        hs.model.components1D.Expression("a * x + b", name="line")
    assert not [r for r in caplog.records if "Numexpr" in r.getMessage()]


def test_gui_extra_brings_hyperspyui_web_engine():
    """hyperspyUI's launcher imports QtWebEngineWidgets: its ``pyqt`` extra (PyQt5
    and PyQtWebEngine) must come with ours, or hyperspyUI crashes at start."""
    gui = _names(_project()["optional-dependencies"]["gui"])
    names = set(gui)
    if "hyperspyui" in gui and "pyqt" in gui["hyperspyui"].extras:
        names |= {"pyqt5", "pyqtwebengine"}
    assert {"hyperspyui", "pyqt5", "pyqtwebengine"} <= names, names


def test_tests_extra_pulls_gui_and_docs():
    tests = _names(_project()["optional-dependencies"]["tests"])
    assert {"gui", "docs"} <= tests["hyperspy-perovskite"].extras
    assert "ruff" in tests


def test_widgets_extra_brings_both_toolkits_and_tests_use_it():
    """gui() widgets are served by HyperSpy's registry from the two toolkit
    packages; the widget tests need both, so the tests extra pulls them."""
    extras = _project()["optional-dependencies"]
    widgets = _names(extras["widgets"])
    assert {"hyperspy-gui-ipywidgets", "ipywidgets", "hyperspy-gui-traitsui"} <= {
        n.replace("_", "-") for n in widgets
    }
    assert "widgets" in _names(extras["tests"])["hyperspy-perovskite"].extras
    assert "widgets" in _names(extras["gui"])["hyperspy-perovskite"].extras
