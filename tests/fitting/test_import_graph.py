"""The layers import only downwards, and the engine imports little.

``fitting`` knows components only through registered kernels and imports
nothing above it; ``analysis`` (array algorithms) imports neither the engine
nor HyperSpy-object layers. Checked twice: statically (every import statement
of the package's source) and in a fresh interpreter (what a fit really loads).
"""

import ast
import json
import subprocess
import sys
from pathlib import Path

import hyperspy_perovskite

PACKAGE = Path(hyperspy_perovskite.__file__).parent

# layer -> subpackages of hyperspy_perovskite it must never import
FORBIDDEN = {
    "fitting": (
        "components",
        "signals",
        "models",
        "analysis",
        "data",
        "gui",
        "report",
        "demos",
    ),
    "analysis": ("fitting", "signals", "models", "components", "gui", "report"),
}


def _imports(path):
    """Every module name imported by the file at ``path`` (absolute form)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
            names += [f"{node.module}.{a.name}" for a in node.names]
    return names


def test_layers_import_only_downwards():
    bad = []
    for layer, forbidden in FORBIDDEN.items():
        for path in sorted((PACKAGE / layer).rglob("*.py")):
            for name in _imports(path):
                parts = name.split(".")
                if parts[0] == "hyperspy_perovskite" and len(parts) > 1:
                    if parts[1] in forbidden:
                        bad.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert not bad, "\n".join(bad)


_PROBE = """
import json, sys
import numpy as np
import hyperspy.api as hs
before = set(sys.modules)
import hyperspy_perovskite.fitting as fitting
after_import = set(sys.modules)
started = bool(fitting._background._PROCESS)  # the registry alone starts nothing
s = hs.signals.Signal1D(np.random.default_rng(0).poisson(50, (3, 64)) + 1.0)
m = s.create_model()
m.extend([hs.model.components1D.Gaussian(A=10, sigma=5, centre=30),
          hs.model.components1D.Offset()])
fitting.fast_multifit(m, show_progressbar=False)
print(json.dumps({"import": sorted(after_import - before),
                  "fit": sorted(set(sys.modules) - before), "started": started}))
"""


def test_engine_loads_no_analysis_module():
    out = subprocess.run(
        [sys.executable, "-c", _PROBE],
        capture_output=True,
        text=True,
        check=True,
        cwd=PACKAGE.parent,
    )
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded.pop("started") is False
    for stage, modules in loaded.items():
        ours = [m for m in modules if m.startswith("hyperspy_perovskite.")]
        assert ours, stage  # the probe did load the engine
        outside = [
            m
            for m in ours
            if not m.startswith(
                ("hyperspy_perovskite.fitting", "hyperspy_perovskite._")
            )
        ]
        assert not outside, f"{stage}: {outside}"
        assert "scipy.signal" not in modules, stage
