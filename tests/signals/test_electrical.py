"""Electrical logs from stimulus records, signals and files."""

import hyperspy.api as hs
import numpy as np
import pytest

from hyperspy_perovskite.data.jv_simulation import simulate_electrical_log
from hyperspy_perovskite.signals.electrical import electrical_log
from hyperspy_perovskite.stimulus import attach_stimulus


def test_log_from_signal_record_with_bias_switch_on_and_el():
    d = simulate_electrical_log(seed=1, el0=500.0)
    v = np.where(d["time"] < 20.0, 0.0, d["voltage"])
    i = np.where(d["time"] < 20.0, 0.0, d["current"])
    frames = hs.signals.Signal2D(np.zeros((30, 4, 4)))
    frames.axes_manager[0].scale, frames.axes_manager[0].units = 10.0, "s"
    frames = attach_stimulus(frames, {"time": d["time"], "Bias": (v, "V"),
                                      "Current": (i * 1e6, "uA")})  # fmt: skip
    el = hs.signals.Signal1D(d["el"], axes=[{"axis": d["time"] * 1e3, "units": "ms"}])
    log = electrical_log(frames, el=el)
    assert log.mode == "potentiostatic" and log.bias_on == 20.0
    assert np.isnan(log.resistance[0]) and log.resistance[-1] > 2e4
    t = log.onset_table(quantities=("auto", "el"))
    for k in range(2):
        assert abs(t["onset"][k] - 80.0) < 3 * t.std["onset"][k]
    assert t["onset_after_bias"][0] == pytest.approx(t["onset"][0] - 20.0)
    sig = log.to_signals()
    assert sig["resistance"].metadata.Signal.quantity == "Resistance (Ω)"
    assert sig["el"].axes_manager[0].units == "s"


def test_galvanostatic_file(tmp_path):
    d = simulate_electrical_log(seed=2, mode="galvanostatic", setpoint=5e-5)
    f = tmp_path / "led.csv"
    f.write_text(
        "time (s), Voltage (V), Current (uA)\n"
        + "\n".join(
            f"{a},{b},{c * 1e6}"
            for a, b, c in zip(d["time"], d["voltage"], d["current"], strict=True)
        )
    )
    log = electrical_log(str(f))
    assert log.mode == "galvanostatic"
    r = log.onset()
    assert abs(r["onset"] - 80.0) < 3 * r["onset_std"] and r["change"] > 0


def test_errors():
    rec = {"time": np.arange(5.0), "Bias": (np.ones(5), "V")}
    with pytest.raises(ValueError, match="no current channel"):
        electrical_log(rec)
    d = {"time": np.arange(30.0), "Bias": (np.ones(30), "V"),
         "Current": (np.full(30, 1e-5), "A")}  # fmt: skip
    log = electrical_log(d)
    with pytest.raises(ValueError, match="no electroluminescence"):
        log.onset("el")
    with pytest.raises(ValueError, match="quantity must be"):
        log.onset("power")
