"""The Sphinx documentation builds without warnings; every example runs."""

import os
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").rglob("plot_*.py"))


@pytest.mark.slow
def test_docs_build_without_warnings(tmp_path):
    # build a copy: sphinx-gallery and autosummary write into the source folder
    src = tmp_path / "src"
    for name in ("docs", "examples"):
        shutil.copytree(
            ROOT / name,
            src / name,
            ignore=shutil.ignore_patterns(
                "_build", "auto_examples", "gen_modules", "generated", "__pycache__"
            ),
        )
    pythonpath = os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p
    )
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=pythonpath)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-q",
            "-b",
            "html",
            "-d",
            str(tmp_path / "doctrees"),
            "-D",
            "sphinx_gallery_conf.plot_gallery=0",
            str(src / "docs"),
            str(tmp_path / "html"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-5000:]
    assert (tmp_path / "html" / "index.html").exists()


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs(path, monkeypatch):
    monkeypatch.chdir(path.parent)
    runpy.run_path(str(path), run_name="__main__")
    plt.close("all")


def _readme_blocks(section):
    text = (ROOT / "README.md").read_text()
    body = text.split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    import re

    return re.findall(r"```python\n(.*?)```", body, flags=re.S)


def test_readme_own_data_examples_run_on_real_files(tmp_path, monkeypatch):
    """The three "Your own data" snippets, verbatim except for the file names
    (the bundled real files; a small movie made here for the in situ one)."""
    import hyperspy.api as hs
    import numpy as np

    from hyperspy_perovskite.report.example import bundled_file

    blocks = _readme_blocks("Your own data")
    assert len(blocks) == 3
    frames = np.random.default_rng(0).poisson(50, (7, 64, 64)).astype(float)
    y, x = np.mgrid[:64, :64]
    frames += 20 * np.cos(2 * np.pi * x * 1.0 / 6.36)[None]
    movie = hs.signals.Signal2D(frames)
    movie.axes_manager[0].name, movie.axes_manager[0].units = "time", "s"
    movie.axes_manager[0].scale = 2.5
    for ax in movie.axes_manager.signal_axes:
        ax.units, ax.scale = "Å", 1.0
    movie.save(tmp_path / "movie.hspy")
    names = {
        '"cl_map.dm4"': repr(str(bundled_file("cl/test_spectral_map.sur"))),
        "signal_range=(680, 740)": "signal_range=(340, 420)",
        '"movie.dm4"': repr(str(tmp_path / "movie.hspy")),
        '"protochips_electrical.csv"': repr(
            str(bundled_file("protochips/protochips_electrical.csv"))
        ),
        '"eds_map.bcf"': repr(str(bundled_file("eds/test_TEM.bcf"))),
    }
    monkeypatch.chdir(tmp_path)
    for block in blocks:
        code = block
        for old, new in names.items():
            code = code.replace(old, new)
        namespace = {}
        exec(compile(code, "README.md", "exec"), namespace)
        plt.close("all")
    assert len(namespace["profiles"]) == 4  # Cu, O, Pd, Ti lines of the .bcf
