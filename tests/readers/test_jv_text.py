"""J-V text exports: instrument layouts written to tmp_path and read back."""

import numpy as np
import pytest

from hyperspy_perovskite.data.jv_simulation import simulate_jv, table_s1_params
from hyperspy_perovskite.readers import jv_curve, read_jv_text

P = table_s1_params("open-circuit aging", "initial")
VR = np.round(np.arange(1.2, -0.1 - 1e-9, -0.01), 12)  # reverse: Voc -> Jsc


def _keithley(path, area=0.07, turn_twice=True):
    """Keithley 2400-style sweep export: preamble, current in A, passive sign
    (photocurrent negative), reverse then forward in one column pair."""
    jr = simulate_jv(VR, **P)
    vf = VR[::-1] if turn_twice else VR[::-1][1:]
    v = np.r_[VR, vf]
    i = -np.r_[jr, jr[::-1] if turn_twice else jr[::-1][1:]] * area * 1e-3
    lines = ["# Keithley 2400 sweep", "Area: 0.07 cm2", "Scan rate: 100 mV/s",
             "Irradiance: 100 mW/cm2", "Voltage (V),Current (A),Time (s)"]  # fmt: skip
    lines += [
        f"{a:.4f},{b:.6e},{k * 0.1:.2f}"
        for k, (a, b) in enumerate(zip(v, i, strict=True))
    ]
    path.write_text("\n".join(lines) + "\n")
    return jr


def test_keithley_csv_two_sweeps(tmp_path):
    f = tmp_path / "cell.csv"
    jr = _keithley(f)
    s = read_jv_text(f)
    assert s.data.shape == (2, VR.size)
    assert s.metadata.Device.JV.scan_directions == ["reverse", "forward"]
    assert s.metadata.Device.JV.area == pytest.approx(0.07)
    assert s.metadata.Device.JV.scan_rate == pytest.approx(0.1)
    np.testing.assert_allclose(s.data[0], jr[::-1], atol=1e-5)  # sign flipped
    fom = s.figures_of_merit(sigma=1e-4).to_table()
    assert round(float(fom["PCE"][0]), 1) == 18.7


def test_turning_point_once_gives_two_signals(tmp_path):
    f = tmp_path / "cell.csv"
    _keithley(f, turn_twice=False)
    out = read_jv_text(f)
    assert isinstance(out, list) and len(out) == 2
    assert out[1].metadata.Device.JV.scan_directions == ["forward"]


def test_potentiostat_tab_column_pairs_in_current_density(tmp_path):
    vf = VR[::-1]
    jr = simulate_jv(VR, **P)
    jf = simulate_jv(vf, **table_s1_params("open-circuit aging", "initial", "forward"))
    rows = [f"{a}\t{b}\t{c}\t{d}" for a, b, c, d in zip(VR, jr, vf, jf, strict=True)]
    f = tmp_path / "potentiostat.txt"
    f.write_text("Ewe_rev/V [V]\tj_rev [mA/cm2]\tEwe_fwd [V]\tj_fwd [mA/cm2]\n"
                 + "\n".join(rows))  # fmt: skip
    s = read_jv_text(f)
    assert s.metadata.Device.JV.scan_directions == ["reverse", "forward"]
    hi = s.hysteresis_index(sigma=1e-4)
    assert hi["type"][0] == "normal"
    np.testing.assert_allclose(s.data[1], jf, atol=1e-9)


def test_errors(tmp_path):
    f = tmp_path / "noarea.csv"
    f.write_text("Voltage (V),Current (mA)\n" + "\n".join(
        f"{v},{-20 + 30 * v}" for v in np.linspace(0, 1, 11)))  # fmt: skip
    with pytest.raises(ValueError, match="without the cell area"):
        read_jv_text(f)
    assert read_jv_text(f, area="7 mm^2").metadata.Device.JV.area == pytest.approx(0.07)
    g = tmp_path / "jitter.csv"
    v = np.array([0.0, 0.1, 0.2, 0.15, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    g.write_text("V (V),J (mA/cm2)\n" + "\n".join(f"{a},{20 - a}" for a in v))
    with pytest.raises(ValueError, match="not monotonic within a scan"):
        read_jv_text(g)
    h = tmp_path / "nohead.csv"
    h.write_text("0,1\n1,2\n")
    with pytest.raises(ValueError, match="No header"):
        read_jv_text(h)
    with pytest.raises(ValueError, match="does not exist"):
        read_jv_text(tmp_path / "missing.csv")
    with pytest.raises(ValueError, match="not monotonic"):
        jv_curve([0.0, 0.2, 0.1, 0.3, 0.4], np.zeros(5))
    with pytest.raises(ValueError, match="exactly one"):
        jv_curve([0.0, 0.1], None)
