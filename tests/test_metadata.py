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
