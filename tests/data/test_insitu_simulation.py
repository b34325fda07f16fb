"""The simulated in situ HRTEM movie and its ground truth."""

import numpy as np
import pytest

from hyperspy_perovskite.data.insitu_simulation import (
    D_PBI2_001,
    D_PEROVSKITE_001,
    simulate_insitu_hrtem,
)
from hyperspy_perovskite.stimulus import get_bias_condition, get_record


def test_lazy_equals_eager_and_counts():
    kw = dict(n_frames=5, shape=(64, 80), frame_interval=30.0)
    s, truth = simulate_insitu_hrtem(**kw)
    lz, truth_l = simulate_insitu_hrtem(lazy=True, chunk_frames=2, **kw)
    assert lz._lazy and type(lz).__name__ == "LazyInSituImageSeries"
    assert lz.data.chunks[0] == (2, 2, 1)
    np.testing.assert_array_equal(lz.data.compute(), s.data)
    np.testing.assert_array_equal(truth["drift"], truth_l["drift"])
    # Poisson counts around dose_rate * exposure * px**2
    assert s.data.dtype == np.float32
    assert np.all(s.data >= 0) and np.all(s.data == np.round(s.data))
    assert s.data.mean() == pytest.approx(truth["mean_counts"], rel=0.05)
    assert s.axes_manager[1].units == "A" and s.axes_manager[0].scale == 30.0


def test_truth_and_stimulus():
    s, truth = simulate_insitu_hrtem(n_frames=31, shape=(64, 64), frame_interval=10.0)
    X = truth["crystalline_fraction"]
    t = truth["times"]
    names = [g["name"] for g in truth["grains"]]
    assert names == ["perovskite_B", "PbI2_B", "perovskite_A"]
    assert [g["d"] for g in truth["grains"]] == [
        D_PEROVSKITE_001,
        D_PBI2_001,
        D_PEROVSKITE_001,
    ]
    np.testing.assert_array_equal(X[0][t <= truth["onset"]], 1.0)
    expected = np.exp(-((truth["rate"] * (t - truth["onset"]).clip(0)) ** 2))
    np.testing.assert_allclose(X[0], expected)
    np.testing.assert_array_equal(X[1:], 1.0)
    assert truth["power_rate"] == pytest.approx(np.sqrt(2) * truth["rate"])
    b = get_bias_condition(s)
    assert b["voltage"] == 1.0 and b["start_time"] == truth["bias_on"]
    rec = get_record(s)
    assert rec["time_offset"] == truth["time_offset"]
    assert set(rec["channels"]) == {"Bias_setpoint", "Current"}
    assert rec["channels"]["Bias_setpoint"]["interpolation"] == "hold"
    # the drift is linear plus a small random walk, zero at the first frame
    np.testing.assert_array_equal(truth["drift"][0], 0.0)
    v = np.polyfit(t, truth["drift"][:, 1], 1)[0]
    assert v == pytest.approx(-0.015, abs=0.005)


def test_csv_written(tmp_path):
    p = tmp_path / "log.csv"
    s, truth = simulate_insitu_hrtem(n_frames=3, shape=(32, 32), csv_path=p)
    lines = p.read_text().splitlines()
    assert lines[1] == "time (s), Bias setpoint (V), Current (uA)"
    assert get_record(s)["source"] == "log.csv"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_frames=0), "n_frames"),
        (dict(shape=(8, 8)), "shape"),
        (dict(pixel_size=0.0), "pixel_size"),
        (dict(dose_rate=-1.0), "dose_rate"),
        (dict(exponent=0.5), "exponent"),
    ],
)
def test_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        simulate_insitu_hrtem(**kwargs)
