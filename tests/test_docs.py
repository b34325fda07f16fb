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
