"""The metadata module: DeviceGeometry and processing records."""

import hyperspy.api as hs
import numpy as np
import pytest

from hyperspy_perovskite.metadata import DeviceGeometry, record_processing


def test_geometry_round_trip(tmp_path):
    g = DeviceGeometry(
        (0, 5), (300, 5), [40.0, 280.0], layers=["SnO2", "PVK", "Au"], width=20
    )
    s = hs.signals.Signal1D(np.zeros(3))
    g.to_metadata(s.metadata)
    s.save(tmp_path / "g.hspy")
    back = DeviceGeometry.from_signal(hs.load(tmp_path / "g.hspy"))
    assert back == g
    assert back.layer_bounds("PVK") == (40.0, 280.0)
    assert back.length == 300.0


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"interface_positions": [50, 40]}, "increasing order"),
        ({"interface_positions": [50], "layers": ["a"]}, "one more layer"),
        ({"width": -1}, "positive"),
        ({"end": (0, 5)}, "coincide"),
    ],
)
def test_geometry_refuses_bad_input(kwargs, fragment):
    args = {"start": (0, 5), "end": (100, 5)} | kwargs
    with pytest.raises(ValueError, match=fragment):
        DeviceGeometry(**args)


def test_missing_geometry_error_says_how():
    s = hs.signals.Signal1D(np.zeros(3))
    with pytest.raises(ValueError, match="set_device_geometry"):
        DeviceGeometry.from_signal(s)
    assert DeviceGeometry.from_signal(s, required=False) is None


def test_unknown_interface():
    g = DeviceGeometry((0, 0), (10, 0), [5.0])
    with pytest.raises(KeyError, match="interface_0"):
        g.interface("ITO/SnO2")


def test_record_processing_storable():
    s = hs.signals.Signal1D(np.zeros(3))
    record_processing(s.metadata, "Step", window=None, sizes=(1, 2), label="x")
    node = s.metadata.Processing.Step
    assert node.window == "None" and node.sizes == [1, 2] and node.version


# ------------------------------------------- every node written is documented
def _metadata_writes(source):
    """Literal top-level paths written through ``*.metadata`` or ``md``."""
    import ast

    def is_md(node):
        return (isinstance(node, ast.Name) and node.id in ("md", "metadata")) or (
            isinstance(node, ast.Attribute) and node.attr == "metadata"
        )

    def literal_prefix(node):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.JoinedStr) and node.values:
            first = node.values[0]
            if isinstance(first, ast.Constant):
                return first.value
        return ""

    out = []
    for node in ast.walk(ast.parse(source)):
        path = ""
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("set_item", "add_node")
            and is_md(node.func.value)
            and node.args
        ):
            path = literal_prefix(node.args[0])
        elif isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Subscript) and is_md(t.value):
                    path = literal_prefix(t.slice)
                elif isinstance(t, ast.Attribute) and is_md(t.value):
                    path = t.attr
        if path and "." in path or (path and path[:1].isupper()):
            out.append((node.lineno, path))
    return sorted(out)


def test_metadata_writes_are_documented():
    """Scan the package for metadata writes; each node is named and documented."""
    from pathlib import Path

    from hyperspy_perovskite.metadata import HYPERSPY_NODES, SUITE_NODES

    root = Path(__file__).resolve().parents[1]
    rst = (root / "docs" / "user_guide" / "metadata.rst").read_text(encoding="utf-8")
    for node in SUITE_NODES:
        assert f"``{node}" in rst, f"{node} is not documented in metadata.rst"
    top = {n.split(".")[0] for n in SUITE_NODES} | set(HYPERSPY_NODES)
    device = {n.split(".")[1] for n in SUITE_NODES if "." in n}
    bad = []
    for f in sorted((root / "hyperspy_perovskite").rglob("*.py")):
        for line, path in _metadata_writes(f.read_text(encoding="utf-8")):
            parts = path.split(".")
            where = f"{f.relative_to(root)}:{line}: {path!r}"
            if parts[0] and parts[0] not in top:
                bad.append(where)
            elif parts[0] == "Device" and len(parts) > 1 and parts[1]:
                if parts[1] not in device:
                    bad.append(where)
    assert not bad, "metadata nodes not in metadata.SUITE_NODES: " + "; ".join(bad)


def test_metadata_scan_finds_writes():
    src = (
        'md.set_item("Stimulus.Record.time", t)\n'
        's.metadata.set_item(f"Device.Foo.{k}", v)\n'
        'md["Drift"] = {}\n'
        'node.set_item("quantity", 1)\n'
    )
    assert [p for _, p in _metadata_writes(src)] == [
        "Stimulus.Record.time",
        "Device.Foo.",
        "Drift",
    ]
