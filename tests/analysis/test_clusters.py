"""Pb-rich cluster labelling and properties."""

import numpy as np
import pytest

from hyperspy_perovskite.analysis import clusters as cl


def test_label_and_properties_of_known_discs():
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:40, 0:60] + 0.5
    ratio = 3.0 + rng.normal(0, 0.1, x.shape)
    centres = [(10.5, 10.5), (40.5, 25.5)]
    for cx, cy in centres:
        ratio[np.hypot(x - cx, y - cy) <= 3] = 1.0
    var = np.full(x.shape, 0.01)
    lab, n = cl.label_pb_rich(ratio, var)
    assert n == 2
    props = cl.cluster_properties(
        lab, ratio, x, y, (0, 20), (60, 20), [30.0], haadf=np.where(lab > 0, 2.0, 1.0)
    )
    got = sorted((p["x"], p["y"]) for p in props)
    np.testing.assert_allclose(got, centres, atol=0.1)
    for p in props:
        assert p["pixels"] == 29  # disc of radius 3 px
        assert p["distance_to_interface"] == pytest.approx(abs(p["x"] - 30.0), abs=0.1)
        assert p["mean_ratio"] == pytest.approx(1.0)
        assert p["haadf_contrast"] > 0.9
    # noise alone (large variance) is not a cluster; small groups are dropped
    lab2, n2 = cl.label_pb_rich(ratio, np.full(x.shape, 4.0))
    assert n2 == 0
    lab3, n3 = cl.label_pb_rich(ratio, var, min_size=30)
    assert n3 == 0
    with pytest.raises(ValueError):
        cl.label_pb_rich(ratio, var[:-1])
    with pytest.raises(ValueError):
        cl.label_pb_rich(ratio, var, tolerance=1.5)
    assert (
        cl.cluster_properties(
            np.zeros((3, 3), int), ratio[:3, :3], x[:3, :3], y[:3, :3]
        )
        == []
    )
