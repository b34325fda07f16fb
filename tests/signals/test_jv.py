"""JVCurve: registration, lazy == eager, bad input, save/load of results."""

import hyperspy.api as hs
import numpy as np
import pytest

from hyperspy_perovskite.data.jv_simulation import (
    simulate_jv,
    simulate_table_s1,
    table_s1_params,
)
from hyperspy_perovskite.readers import jv_curve
from hyperspy_perovskite.signals.jv import JVCurve, LazyJVCurve
from hyperspy_perovskite.units import UnitError
from hyperspy_perovskite.validity import Validity

#: the compiled figures-of-merit kernel is shared with
#: tests/analysis/transport/test_jv.py: one xdist worker runs them (pyproject: --dist
#: loadgroup)
pytestmark = pytest.mark.xdist_group("jv_kernels")

V = np.round(np.arange(-0.1, 1.2 + 1e-9, 0.01), 12)


@pytest.fixture(scope="module")
def clean():
    return simulate_jv(V, **table_s1_params("open-circuit aging", "initial"))


def test_registered_with_lazy_twin():
    s = hs.signals.Signal1D(np.zeros((2, 10)))
    s.set_signal_type("JV_curve")
    assert type(s) is JVCurve
    s = s.as_lazy()
    s.set_signal_type("J-V")
    assert type(s) is LazyJVCurve


def test_lazy_equals_eager_for_10000_curves(clean):
    rng = np.random.default_rng(0)
    J = clean + rng.normal(0.0, 0.05, (100, 100, V.size))
    s = jv_curve(V, J.reshape(-1, V.size).reshape(100, 100, V.size))
    eager = s.figures_of_merit()
    lazy = s.as_lazy().figures_of_merit(lazy_output=True)
    assert lazy["pce"]._lazy
    for k in ("jsc", "voc", "ff", "pce", "pce_std", "r_oc"):
        np.testing.assert_array_equal(eager[k].data, lazy[k].data.compute())
    computed = s.as_lazy().figures_of_merit(lazy_output=False)  # lazy in, eager out
    np.testing.assert_array_equal(eager["ff"].data, computed["ff"].data)
    assert computed.validity.fraction == 1.0


def test_bad_input_raises_clear_errors(clean):
    s = jv_curve(V, clean)
    bare = hs.signals.Signal1D(clean)
    bare.axes_manager[-1].offset, bare.axes_manager[-1].scale = V[0], 0.01
    bare.axes_manager[-1].units = "V"
    bare.set_signal_type("JV_curve")
    with pytest.raises(ValueError, match="No illumination power"):
        bare.figures_of_merit()
    dark = jv_curve(V, clean, illumination="dark")
    with pytest.raises(ValueError, match="dark curves"):
        dark.figures_of_merit()
    dark_data = jv_curve(V, simulate_jv(V, 0.0, 2.4e-10, 1.6, 3.3, 3e3)
                         + np.random.default_rng(2).normal(0, 0.01, V.size))  # fmt: skip
    with pytest.raises(ValueError, match="dark curve"):
        dark_data.figures_of_merit()
    with pytest.raises(ValueError, match="never crosses zero"):
        jv_curve(V, 23.0 - 5.0 * V).figures_of_merit()
    with pytest.raises(ValueError, match="multiply the data by -1"):
        jv_curve(V, -clean).figures_of_merit()
    flagged = jv_curve(V, np.array([clean, -clean])).figures_of_merit(on_invalid="flag")
    assert flagged.validity.mask.tolist() == [True, False]
    assert np.isnan(flagged["pce"].data[1])
    # lazy: the same NaN outside validity, and the same validity on demand
    lazy = jv_curve(V, np.array([clean, -clean])).as_lazy().figures_of_merit()
    assert lazy["pce"]._lazy
    np.testing.assert_array_equal(
        np.isnan(lazy["pce"].data.compute()), np.isnan(flagged["pce"].data)
    )
    np.testing.assert_array_equal(lazy.validity.reasons, flagged.validity.reasons)
    cur = s.deepcopy()
    cur.metadata.Signal.quantity = "Current (mA)"
    with pytest.raises(ValueError, match="without the cell area"):
        cur.figures_of_merit()
    nu = hs.signals.Signal1D(clean, axes=[{"axis": np.r_[V[:50], V[49:-1] + 1e-3][::-1]
                                           if False else np.sort(np.r_[V[:-1], 0.305]),
                                           "units": "V"}])  # fmt: skip
    nu.data = np.r_[clean[:-1], 0.0][np.argsort(np.r_[V[:-1], 0.305])]
    nu.set_signal_type("JV_curve")
    nu.axes_manager[-1].axis[10] = nu.axes_manager[-1].axis[9]  # repeated voltage
    with pytest.raises(ValueError, match="not monotonic"):
        nu.figures_of_merit(irradiance=100)
    s.axes_manager[-1].units = ""
    with pytest.raises(UnitError, match="units"):
        s.figures_of_merit()
    with pytest.raises(UnitError):
        jv_curve(V, clean).set_device(area="3 V")


def test_units_and_no_modification(clean):
    s = jv_curve(V * 1e3, clean, voltage_units="mV", irradiance="1000 W/m^2")
    assert s.axes_manager[-1].units == "V"
    a = s.data.copy()
    f = s.figures_of_merit(sigma="0.05 mA/cm^2")
    np.testing.assert_array_equal(s.data, a)
    assert round(float(f["voc"].data[0]), 2) == 1.04
    mv = s.deepcopy()
    mv.axes_manager[-1].scale *= 1e3
    mv.axes_manager[-1].offset *= 1e3
    mv.axes_manager[-1].units = "mV"
    np.testing.assert_allclose(mv.figures_of_merit()["voc"].data,
                               s.figures_of_merit()["voc"].data)  # fmt: skip
    s.set_device(area="7 mm2", temperature="25 degC", scan_rate="100 mV/s")
    assert s.metadata.Device.JV.area == pytest.approx(0.07)
    assert s.metadata.Device.JV.temperature == pytest.approx(298.15)
    assert s.metadata.Device.JV.scan_rate == pytest.approx(0.1)
    cur = jv_curve(V, current=clean * 0.07e-3, area="7 mm^2")
    np.testing.assert_allclose(cur.data, clean)
    s2 = hs.signals.Signal1D(clean * 0.07e-3)
    s2.set_signal_type("JV_curve")
    s2.metadata.Signal.quantity = "Current (A)"
    np.testing.assert_allclose(s2.to_current_density(0.07).data, clean)
    assert s2.metadata.Signal.quantity == "Current (A)"  # input untouched


def test_hysteresis_and_results_survive_save_load(tmp_path):
    s = simulate_table_s1(
        seed=0,
        rows=[("open-circuit aging", "initial"), ("open-circuit aging", "aged 16 h")],
    )
    f = s.figures_of_merit()
    hi = f.hysteresis_index()
    assert hi["type"].tolist() == ["normal", "inverted"]
    assert hi.index == ["open-circuit aging: initial", "open-circuit aging: aged 16 h"]
    table = f.to_table()
    for ext in ("hspy", "zspy"):
        pce = f["pce"]
        table.to_metadata(pce.metadata, "JV")
        pce.save(tmp_path / f"pce.{ext}")
        back = hs.load(tmp_path / f"pce.{ext}")
        np.testing.assert_array_equal(back.data, pce.data)
        assert Validity.from_metadata(back.metadata).fraction == 1.0
        assert type(table).from_metadata(back.metadata, "JV") == table
        s.save(tmp_path / f"jv.{ext}")
        s2 = hs.load(tmp_path / f"jv.{ext}")
        assert type(s2) is JVCurve
        assert s2.metadata.Device.JV.scan_directions == ["reverse", "forward"]


def test_single_diode_fit_through_the_signal():
    s = simulate_table_s1(seed=1, rows=[("thermal recovery", "initial")])
    m = s.fit_single_diode(method="multifit")
    t = m.diode_table()
    p = table_s1_params("thermal recovery", "initial")
    assert abs(t["n"][0] - p["n"]) < 4 * t.std["n"][0]
    assert abs(t["Rs"][0] - p["rs"]) < 4 * t.std["Rs"][0]
    assert t["valid"].all()
