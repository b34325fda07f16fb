"""A fit works from a read-only installation and writes nothing into it.

A facility's shared environment installs the package in a folder users cannot
write. The engine's compiled code goes to the user's cache folder instead
(:func:`hyperspy_perovskite.fitting.cache_dir`), never beside the source.
"""

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import hyperspy_perovskite

_FIT = """
import numpy as np
import hyperspy.api as hs
import hyperspy_perovskite
from hyperspy_perovskite.components import GaussianEmission
from hyperspy_perovskite.fitting import cache_dir, fast_multifit

rng = np.random.default_rng(0)
x = np.arange(200.0)
y = rng.poisson(300 * np.exp(-0.5 * ((x - 90) / 12) ** 2) + 20, (4, 200))
s = hs.signals.Signal1D(y.astype(float))
for comp in (hs.model.components1D.Gaussian(A=9000, sigma=10, centre=95),
             GaussianEmission(A=9000, centre=95, sigma=10)):
    m = s.create_model()
    m.extend([comp, hs.model.components1D.Offset(offset=10)])
    result = fast_multifit(m, show_progressbar=False)
    assert result.n_converged == 4, result.flag_counts
    assert np.all(np.abs(comp.centre.map["values"] - 90) < 2)
print(hyperspy_perovskite.__file__)
print(cache_dir())
"""


def _snapshot(root):
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in root.rglob("*")
    }


def test_fit_from_read_only_install(tmp_path):
    # compile here first: the copy has the same sources, so the subprocess
    # loads this machine code from the user cache instead of compiling again
    exec(_FIT.replace("print(", "str("), {})
    site = tmp_path / "site"
    pkg = site / "hyperspy_perovskite"
    shutil.copytree(
        Path(hyperspy_perovskite.__file__).parent,
        pkg,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    read_only = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
    for path in [*pkg.rglob("*"), pkg]:
        path.chmod(read_only | (stat.S_IXUSR if path.is_dir() else 0))
    before = _snapshot(pkg)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(site)
    # bytecode files are Python's own, not the suite's: keep them out of the
    # check (root may write even into a read-only folder)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    try:
        out = subprocess.run(
            [sys.executable, "-c", _FIT],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            timeout=600,
        )
        assert out.returncode == 0, out.stderr[-3000:]
        module_file, cache = out.stdout.strip().splitlines()[-2:]
        assert Path(module_file).is_relative_to(pkg)  # the copy was used
        assert not Path(cache).is_relative_to(site)
        assert _snapshot(pkg) == before  # nothing written, changed or deleted
    finally:
        for path in [pkg, *pkg.rglob("*")]:
            path.chmod(stat.S_IRWXU)
