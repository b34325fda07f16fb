"""Reading stimulus logs, aligning them to frames, attaching them, save/load."""

import os
import warnings

import hyperspy.api as hs
import numpy as np
import pytest

from hyperspy_perovskite.stimulus import (
    attach_stimulus,
    get_record,
    read_stimulus,
    stimulus_channels,
)
from hyperspy_perovskite.stimulus.record import interpolate_channel

HERE = os.path.dirname(__file__)
PROTO = os.path.join(HERE, "..", "data", "protochips")


def _series(n=10, dt=1.0, lazy=False):
    s = hs.signals.Signal2D(np.zeros((n, 8, 8)))
    s.axes_manager[0].scale = dt
    s.axes_manager[0].units = "s"
    return s.as_lazy() if lazy else s


def _protochips_true_times(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sigs = hs.load(os.path.join(PROTO, name), file_format="Protochips")
    sigs = sigs if isinstance(sigs, list) else [sigs]
    h = sigs[0].original_metadata.Protochips_header
    return np.asarray(h.Time_axis.value, float) / 1000.0, sigs


@pytest.mark.parametrize(
    "name, n_channels, quantities",
    [
        ("protochips_electrical.csv", 6, {"current", "voltage", "resistance"}),
        ("protochips_thermal.csv", 1, {"temperature"}),
        ("protochips_electrothermal.csv", 4, {"temperature", "current", "voltage"}),
        ("protochips_gas_cell.csv", 5, {"temperature", "pressure"}),
    ],
)
def test_real_protochips_logs_keep_true_times(name, n_channels, quantities):
    t_true, sigs = _protochips_true_times(name)
    rec = read_stimulus(os.path.join(PROTO, name))
    np.testing.assert_allclose(rec["time"], t_true, rtol=1e-12)
    # the reader's uniform axis differs from the true stamps
    uniform = sigs[0].axes_manager[0].axis
    assert not np.allclose(uniform, t_true - t_true[0], atol=1e-3)
    assert len(rec["channels"]) == n_channels
    assert {c["quantity"] for c in rec["channels"].values()} >= quantities
    assert rec["start_datetime"].startswith("2014-")


def test_protochips_electrical_values_and_attach():
    t_true, sigs = _protochips_true_times("protochips_electrical.csv")
    s = _series(16, 1.0)
    s2 = attach_stimulus(s, os.path.join(PROTO, "protochips_electrical.csv"))
    assert not s.metadata.has_item("Stimulus")  # input untouched
    rec = get_record(s2)
    v = rec["channels"]["Channel_A_Voltage"]
    assert v["values_units"] == "V" and v["interpolation"] == "linear"
    np.testing.assert_allclose(v["values"], sigs[1].data)
    ch = stimulus_channels(s2)["Channel_A_Voltage"]
    assert ch.data[0] == pytest.approx(sigs[1].data[0])
    # frames interpolate between the TRUE stamps, not the reader's uniform axis
    np.testing.assert_allclose(
        ch.data[:15], np.interp(np.arange(15.0), t_true, sigs[1].data)
    )
    # the log ends at 15.276 s: the last frame (15 s) is inside, nothing NaN
    assert np.isfinite(ch.data).all()
    assert ch.metadata.Signal.quantity == "voltage (V)"


def test_protochips_pressure_converted_from_torr():
    rec = read_stimulus(os.path.join(PROTO, "protochips_gas_cell.csv"))
    p = rec["channels"]["Holder_Pressure"]
    assert p["values_units"] == "Pa"
    # 733.15 Torr in the first data row of the file
    assert p["values"][0] == pytest.approx(733.154293872 * 101325 / 760, rel=1e-9)


def test_invalid_protochips_file_refused():
    s = _series()
    with pytest.raises(ValueError, match="not a valid Protochips log"):
        attach_stimulus(s, os.path.join(PROTO, "invalid_protochips_file.csv"))
    assert not s.metadata.has_item("Stimulus")


def test_protochips_datetime_alignment():
    s = _series(10, 1.0)
    s.metadata.General.date = "2014-10-08"
    s.metadata.General.time = "16:26:49.738"
    s2 = attach_stimulus(
        s, os.path.join(PROTO, "protochips_electrical.csv"), time_offset="datetime"
    )
    assert get_record(s2)["time_offset"] == pytest.approx(2.0)


def _write(tmp_path, text, name="log.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_generic_csv_and_interpolation(tmp_path):
    p = _write(
        tmp_path,
        "# potentiostat\ntime (ms), Bias setpoint [V], Current (uA), Light (on/off)\n"
        "0, 0, 0.0, 0\n1000, 1, 2.0, 1\n2000, 1, 4.0, 1\n3000, 0, 0.0, 0\n",
    )
    s = _series(4, 0.5)
    s2 = attach_stimulus(s, p, time_offset=0.25)
    st = stimulus_channels(s2)
    # frames at 0, .5, 1, 1.5 s; log at 0.25, 1.25, 2.25, 3.25 s on the frame clock
    np.testing.assert_array_equal(st["Bias_setpoint"].data[1:], [0.0, 0.0, 1.0])
    assert np.isnan(st["Bias_setpoint"].data[0])
    np.testing.assert_allclose(st["Current"].data[1:], [0.5e-6, 1.5e-6, 2.5e-6])
    assert get_record(s2)["channels"]["Light"]["interpolation"] == "hold"
    assert get_record(s2)["channels"]["Light"]["quantity"] == "illumination"


def test_interpolation_override_and_trigger(tmp_path):
    t = np.arange(0.0, 30.0, 0.1)
    v = np.where(t >= 12.3, 1.0, 0.0)
    s = _series(10, 1.0)
    s2 = attach_stimulus(
        s,
        {"time": t, "Bias": (v, "V")},
        trigger_channel="Bias",
        trigger_time=4.0,
        interpolation="hold",
    )
    rec = get_record(s2)
    assert rec["time_offset"] == pytest.approx(4.0 - 12.3)
    assert rec["channels"]["Bias"]["interpolation"] == "hold"
    np.testing.assert_array_equal(
        stimulus_channels(s2)["Bias"].data, (np.arange(10) >= 4) * 1.0
    )


@pytest.mark.parametrize(
    "text, match",
    [
        ("a (s), b (V)\n0, 1\n1, 2\n", "no time column"),
        ("time, b (V)\n0, 1\n1, 2\n", "time column of .* has no units"),
        ("time (s), b (V)\n0, 1\n1, 2, 3\n", "malformed"),
        ("time (s), b (V)\n0, 1\n1, x\n", "malformed"),
        ("time (s), b (blarg)\n0, 1\n1, 2\n", "Unknown unit"),
        ("time (s), b\n0, 1\n1, 2\n", "has no units"),
        ("time (s), b (V)\n0, 1\n2, 2\n1, 3\n", "Non-monotonic"),
        ("time (s), b (V)\n0, 1\n1, 2\n1, 3\n", "Duplicated time"),
        ("time (s), b (V)\n", "no data rows"),
        ("", "empty"),
        ("time (s)\n0\n1\n", "no stimulus channels"),
    ],
)
def test_csv_errors(tmp_path, text, match):
    p = _write(tmp_path, text)
    s = _series()
    with pytest.raises(ValueError, match=match):
        attach_stimulus(s, p)
    assert not s.metadata.has_item("Stimulus")


def test_attach_errors():
    t = np.arange(5.0)
    s = _series(10)
    with pytest.raises(ValueError, match="does not overlap"):
        attach_stimulus(s, {"time": t, "Bias": (t, "V")}, time_offset=100.0)
    with pytest.warns(UserWarning, match="frames outside the log get NaN"):
        attach_stimulus(s, {"time": t, "Bias": (t, "V")})
    s2 = attach_stimulus(s, {"time": t * 3, "Bias": (t, "V")})
    with pytest.warns(UserWarning, match="stored as 'Bias_2'"):
        s2b = attach_stimulus(s2, {"time": t * 3, "Bias": (t, "V")})
    assert list(get_record(s2b)["channels"]) == ["Bias", "Bias_2"]
    s3 = attach_stimulus(s2, {"time": t * 3, "I": (t, "mA")}, replace=True)
    assert list(get_record(s3)["channels"]) == ["I"]
    with pytest.raises(ValueError, match="does not exist"):
        attach_stimulus(s, "/nonexistent/log.csv")
    with pytest.raises(TypeError, match="Cannot read a stimulus"):
        attach_stimulus(s, 42)
    with pytest.raises(ValueError, match="needs a 'time' entry"):
        attach_stimulus(s, {"Bias": (t, "V")})
    with pytest.raises(ValueError, match="5 values but the time column has 4"):
        attach_stimulus(s, {"time": t[:4], "Bias": (t, "V")})
    with pytest.raises(ValueError, match="interpolation must be"):
        attach_stimulus(s, {"time": t * 3, "Bias": (t, "V")}, interpolation="cubic")
    with pytest.raises(ValueError, match="trigger_channel 'X'"):
        attach_stimulus(s, {"time": t * 3, "Bias": (t, "V")}, trigger_channel="X")
    with pytest.raises(ValueError, match="'datetime'"):
        attach_stimulus(s, {"time": t * 3, "Bias": (t, "V")}, time_offset="later")
    with pytest.raises(ValueError, match="needs the log's start time"):
        attach_stimulus(s, {"time": t * 3, "Bias": (t, "V")}, time_offset="datetime")
    with pytest.raises(ValueError, match="file_format"):
        attach_stimulus(
            s, os.path.join(PROTO, "protochips_thermal.csv"), file_format="xml"
        )
    nt = hs.signals.Signal1D(np.zeros(5))
    with pytest.raises(ValueError, match="no time axis"):
        attach_stimulus(nt, {"time": t, "Bias": (t, "V")})


def test_signals_as_source():
    t = np.array([0.0, 0.7, 1.1, 2.5, 4.0, 9.5])
    volt = hs.signals.Signal1D(
        np.array([0, 1, 1, 1, 0.5, 0.0]), axes=[{"axis": t, "units": "s"}]
    )
    volt.metadata.General.title = "Bias"
    volt.metadata.Signal.quantity = "Voltage (V)"
    cur = hs.signals.Signal1D(np.arange(6.0), axes=[{"axis": t * 1000, "units": "ms"}])
    cur.metadata.General.title = "Current (nA)"
    s2 = attach_stimulus(_series(10), [volt, cur])
    rec = get_record(s2)
    np.testing.assert_allclose(rec["time"], t)
    assert rec["channels"]["Current"]["values"][2] == pytest.approx(2e-9)
    assert rec["channels"]["Bias"]["quantity"] == "voltage"
    bad = hs.signals.Signal1D(np.zeros(6))
    with pytest.raises(ValueError, match="time axis of"):
        attach_stimulus(_series(10), bad)
    other = hs.signals.Signal1D(np.zeros(6), axes=[{"axis": t + 1, "units": "s"}])
    other.metadata.Signal.quantity = "T (degC)"
    with pytest.raises(ValueError, match="share the same time axis"):
        attach_stimulus(_series(10), [volt, other])


def test_interpolate_channel_nan_outside():
    t = np.array([1.0, 2.0, 3.0])
    v = np.array([1.0, 2.0, 4.0])
    out = interpolate_channel(t, v, np.array([0.0, 1.0, 2.5, 3.0, 3.5]), "linear")
    np.testing.assert_allclose(out, [np.nan, 1.0, 3.0, 4.0, np.nan])
    with pytest.raises(ValueError, match="Unknown interpolation"):
        interpolate_channel(t, v, t, "spline")


@pytest.mark.parametrize("lazy", [False, True])
@pytest.mark.parametrize("ext", ["hspy", "zspy"])
def test_record_survives_save_load(tmp_path, lazy, ext):
    s = _series(16, 1.0, lazy=lazy)
    s.set_signal_type("insitu_image_series")
    s2 = s.attach_stimulus(os.path.join(PROTO, "protochips_electrical.csv"))
    assert s2._lazy == lazy
    f = tmp_path / f"rec.{ext}"
    s2.save(f)
    r = hs.load(f, lazy=lazy)
    assert type(r).__name__ == (
        "LazyInSituImageSeries" if lazy else "InSituImageSeries"
    )
    a, b = get_record(s2), get_record(r)
    np.testing.assert_array_equal(a["time"], b["time"])
    assert a["start_datetime"] == b["start_datetime"]
    for name, ch in a["channels"].items():
        np.testing.assert_array_equal(ch["values"], b["channels"][name]["values"])
        assert ch["values_units"] == b["channels"][name]["values_units"]
    np.testing.assert_array_equal(
        stimulus_channels(r)["Channel_A_Current"].data,
        s2.stimulus["Channel_A_Current"].data,
    )


REAL = os.path.join(os.path.dirname(__file__), "..", "data", "protochips")


def test_real_protochips_logs_combined():
    """Bias, temperature and gas-cell logs on one movie, each with its source."""
    s = hs.signals.Signal2D(np.zeros((16, 4, 4)))
    s.axes_manager[0].units, s.axes_manager[0].scale = "s", 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # logs longer/shorter than the movie
        s = attach_stimulus(s, os.path.join(REAL, "protochips_electrical.csv"))
        s = attach_stimulus(s, os.path.join(REAL, "protochips_thermal.csv"))
        s = attach_stimulus(
            s, os.path.join(REAL, "protochips_gas_cell.csv"), time_offset=-2.0
        )
    rec = get_record(s)
    by_source = {}
    for ch in rec["channels"].values():
        by_source.setdefault(ch["source"], []).append(ch["quantity"])
    assert set(by_source) == {
        "protochips_electrical.csv",
        "protochips_thermal.csv",
        "protochips_gas_cell.csv",
    }
    assert "voltage" in by_source["protochips_electrical.csv"]
    assert "temperature" in by_source["protochips_thermal.csv"]
    assert "pressure" in by_source["protochips_gas_cell.csv"]
    ch = stimulus_channels(s)
    gas = [n for n in rec["channels"] if rec["channels"][n]["quantity"] == "pressure"]
    # the gas log keeps its own clock and offset: ~733 Torr = 97.7 kPa at t = 0
    assert rec["channels"][gas[0]]["time_offset"] == -2.0
    assert ch[gas[0]].data[0] == pytest.approx(97_700, rel=0.01)
    assert ch[gas[0]].metadata.Stimulus.source == "protochips_gas_cell.csv"


@pytest.mark.parametrize(
    "text",
    [
        "\ufefftime (s),Bias (V)\n0,0\n1,1\n2,1\n",
        "time (s);Bias (V)\n0;0\n1;1,0\n2;1,0\n",
        "time (s)\tBias (V)\n0\t0\n1\t1\n2\t1\n",
    ],
    ids=["utf8-bom", "semicolon-decimal-comma", "tab"],
)
def test_spreadsheet_exports(tmp_path, text):
    f = tmp_path / "log.csv"
    f.write_text(text, encoding="utf-8")
    rec = read_stimulus(str(f))
    np.testing.assert_allclose(rec["channels"]["Bias"]["values"], [0, 1, 1])
