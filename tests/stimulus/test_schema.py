"""The stimulus schema: bias condition, units, switch-on time."""

import hyperspy.api as hs
import numpy as np
import pytest

from hyperspy_perovskite.stimulus import (
    attach_stimulus,
    bias_switch_on_time,
    canonical_unit,
    get_bias_condition,
    set_bias_condition,
    to_canonical,
)


def _series(n=10, dt=1.0):
    s = hs.signals.Signal2D(np.zeros((n, 8, 8)))
    s.axes_manager[0].scale = dt
    s.axes_manager[0].units = "s"
    return s


def test_bias_condition_roundtrip_and_units():
    s = _series()
    set_bias_condition(
        s,
        "potentiostatic",
        voltage=1000,
        voltage_units="mV",
        duration=5,
        duration_units="min",
        anode="ITO",
        cathode="Au",
        start_time=12.0,
    )
    b = get_bias_condition(s)
    assert b["voltage"] == pytest.approx(1.0)
    assert b["voltage_units"] == "V"
    assert b["duration"] == pytest.approx(300.0)
    assert b["polarity"] == "forward"
    assert (b["anode"], b["cathode"]) == ("ITO", "Au")
    assert s.metadata.Stimulus.Bias_condition.start_time == 12.0
    # replaced, not merged
    set_bias_condition(s, "galvanostatic", current=5, current_units="uA")
    b = get_bias_condition(s)
    assert b["voltage"] is None
    assert b["current"] == pytest.approx(5e-6)


@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        (dict(mode="constant", voltage=1.0), ValueError, "potentiostatic"),
        (dict(mode="potentiostatic"), ValueError, "voltage set-point"),
        (dict(mode="galvanostatic", voltage=1.0), ValueError, "current set-point"),
        (
            dict(mode="potentiostatic", voltage=1.0, polarity="up"),
            ValueError,
            "polarity",
        ),
        (dict(mode="potentiostatic", voltage=np.nan), ValueError, "finite"),
        (dict(mode="potentiostatic", voltage=1.0, duration=-1), ValueError, ">= 0"),
        (dict(mode="potentiostatic", voltage=1.0, anode=3), TypeError, "anode"),
        (
            dict(mode="potentiostatic", voltage=1.0, voltage_units="furlong"),
            ValueError,
            "does not measure",
        ),
        (
            dict(mode="potentiostatic", voltage=1.0, voltage_units="A"),
            ValueError,
            "does not measure voltage",
        ),
    ],
)
def test_bias_condition_errors(kwargs, err, match):
    s = _series()
    with pytest.raises(err, match=match):
        set_bias_condition(s, **kwargs)
    assert not s.metadata.has_item("Stimulus")


def test_get_bias_condition_absent():
    with pytest.raises(ValueError, match="no bias condition"):
        get_bias_condition(_series())
    with pytest.raises(TypeError, match="HyperSpy signal"):
        get_bias_condition(np.zeros(3))


def test_units():
    assert to_canonical(760.0, "Torr")[0] == pytest.approx(101325.0)
    assert to_canonical(1.0, "mbar", "pressure")[0] == pytest.approx(100.0)
    assert to_canonical(np.array([273.15]), "K")[0][0] == pytest.approx(0.0)
    assert to_canonical(2.0, "Degrees C")[1:] == ("temperature", "degC")
    assert to_canonical(3.0, "nA", "beam_current")[0] == pytest.approx(3e-9)
    assert canonical_unit("dose_rate") == "e/A^2/s"
    with pytest.raises(ValueError, match="Unknown stimulus quantity"):
        canonical_unit("mood")
    with pytest.raises(TypeError, match="string"):
        to_canonical(1.0, 5)


def test_bias_switch_on_time_hold_and_linear():
    s = _series(20)
    t = np.arange(0.0, 20.0, 0.5)
    v = np.where(t >= 7.0, 1.0, 0.0)
    sh = attach_stimulus(s, {"time": t, "Bias setpoint": (v, "V")}, time_offset=-2.0)
    # hold: on at the first entry at 1 V, log time 7 s -> frame time 5 s
    assert bias_switch_on_time(sh) == pytest.approx(5.0)
    sl = attach_stimulus(s, {"time": t, "Bias": (v, "V")}, time_offset=-2.0)
    # linear: crossing of 0.5 V between 6.5 and 7.0 s -> 4.75 s on the frame clock
    assert bias_switch_on_time(sl) == pytest.approx(4.75)
    # the set-point of the bias condition defines the default threshold
    set_bias_condition(sl, "potentiostatic", voltage=0.2)
    assert bias_switch_on_time(sl) == pytest.approx(4.55)  # 0.1 V = half of 0.2
    assert bias_switch_on_time(sl, threshold=0.9) == pytest.approx(4.95)


def test_bias_switch_on_time_errors_and_fallback():
    s = _series()
    with pytest.raises(ValueError, match="No stimulus record"):
        bias_switch_on_time(s)
    set_bias_condition(s, "potentiostatic", voltage=1.0, start_time=3.0)
    assert bias_switch_on_time(s) == 3.0
    t = np.arange(10.0)
    s2 = attach_stimulus(_series(), {"time": t, "Temperature": (t, "degC")})
    with pytest.raises(ValueError, match="no voltage channel"):
        bias_switch_on_time(s2)
    with pytest.raises(ValueError, match="No channel 'Bias'"):
        bias_switch_on_time(s2, channel="Bias")
    s3 = attach_stimulus(_series(), {"time": t, "Bias": (np.zeros(10), "V")})
    with pytest.raises(ValueError, match="positive"):
        bias_switch_on_time(s3)
    with pytest.raises(ValueError, match="never reaches"):
        bias_switch_on_time(s3, threshold=0.1)
