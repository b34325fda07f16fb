"""The built wheel carries the registry; HyperSpy sees every entry of it."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TOP_LEVEL = ROOT / "hspy_extension.yaml"
PACKAGE_COPY = ROOT / "hyperspy_perovskite" / "hyperspy_extension.yaml"


def _registry():
    return yaml.safe_load(TOP_LEVEL.read_text())


def test_one_source_of_truth():
    assert TOP_LEVEL.read_bytes() == PACKAGE_COPY.read_bytes()


def test_hyperspy_sees_every_entry():
    from hyperspy.extensions import ALL_EXTENSIONS

    reg = _registry()
    for section in ("signals", "components1D"):
        for name, spec in (reg.get(section) or {}).items():
            assert name in ALL_EXTENSIONS[section], f"{section}.{name} not registered"
            assert ALL_EXTENSIONS[section][name]["module"] == spec["module"]


def test_signal_types_are_unique_and_have_lazy_twins():
    from hyperspy.extensions import ALL_EXTENSIONS

    reg = _registry()
    ours = reg.get("signals") or {}
    foreign_types = {
        spec["signal_type"]
        for name, spec in ALL_EXTENSIONS["signals"].items()
        if name not in ours and spec.get("signal_type")
    }
    for name, spec in ours.items():
        assert spec["signal_type"] not in foreign_types, name
        twin = name[4:] if spec["lazy"] else "Lazy" + name
        assert twin in ours, f"{name} has no lazy/eager twin {twin}"
        assert ours[twin]["signal_type"] == spec["signal_type"]
        assert ours[twin].get("signal_type_aliases") == spec.get("signal_type_aliases")


def test_every_registered_class_imports():
    import importlib

    reg = _registry()
    for section in ("signals", "components1D"):
        for name, spec in (reg.get(section) or {}).items():
            module = importlib.import_module(spec["module"])
            assert hasattr(module, name), f"{spec['module']} has no {name}"


@pytest.mark.slow
def test_built_wheel_carries_registry_and_entry_point(tmp_path):
    # build a copy: setuptools writes build/ and *.egg-info beside pyproject.toml
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE", "hspy_extension.yaml"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(
        ROOT / "hyperspy_perovskite",
        src / "hyperspy_perovskite",
        symlinks=True,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.nbi", "*.nbc"),
    )
    outdir = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(outdir),
            str(src),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = outdir.glob("hyperspy_perovskite-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        assert "hyperspy_perovskite/hyperspy_extension.yaml" in names
        packaged = zf.read("hyperspy_perovskite/hyperspy_extension.yaml")
        assert packaged == TOP_LEVEL.read_bytes()
        (ep,) = [n for n in names if n.endswith("entry_points.txt")]
        text = zf.read(ep).decode()
    assert "[hyperspy.extensions]" in text
    assert "hyperspy_perovskite = hyperspy_perovskite" in text
    assert "hspy-perovskite = hyperspy_perovskite.cli:main" in text
    for module in ("fitting/engine.py", "cli.py", "__init__.py"):
        assert f"hyperspy_perovskite/{module}" in names
    # the real files `hspy-perovskite report --example` points at
    for f in (
        "cl/test_spectral_map.sur",
        "eds/test_TEM.bcf",
        "protochips/protochips_electrical.csv",
        "README.md",
    ):
        assert f"hyperspy_perovskite/data/files/{f}" in names


def test_components_are_restorable_by_name():
    """A saved model restores a component through its ``module`` and ``class``."""
    reg = _registry()
    for name, spec in (reg.get("components1D") or {}).items():
        assert spec.get("class") == name, f"{name}: 'class' key missing or different"
        assert spec.get("description"), f"{name}: no description"
