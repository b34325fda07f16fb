"""Single-diode fits of simulated curves: recovery over seeds, validity, table."""

import numpy as np
import pytest

from hyperspy_perovskite.data.jv_simulation import simulate_jv, table_s1_params
from hyperspy_perovskite.readers import jv_curve


def _curves(n_curves, seed=5):
    p = table_s1_params("open-circuit aging", "aged 16 h")
    v = np.round(np.arange(-0.1, 1.2 + 1e-9, 0.005), 12)
    rng = np.random.default_rng(seed)
    J = simulate_jv(v, **p) + rng.normal(0, 0.05, (n_curves, v.size))
    return jv_curve(v, J), p


def test_diode_parameters_recovered_within_std():
    """Pulls over 250 curves fitted with fast_multifit."""
    s, p = _curves(250)
    m = s.create_model()
    result = m.fit_single_diode(n=1.5, show_progressbar=False)
    assert result.n_converged == 250
    t = m.diode_table()
    truth = {"Jph": p["jph"], "n": p["n"], "Rs": p["rs"], "Rsh": p["rsh"]}
    for k, val in truth.items():
        pull = (t[k] - val) / t.std[k]
        assert abs(pull.mean()) < 0.2, (k, pull.mean())
        assert 0.85 < pull.std() < 1.15, (k, pull.std())
        assert 0.6 < np.mean(np.abs(pull) < 1) < 0.76, k
        assert 0.91 < np.mean(np.abs(pull) < 2) < 0.985, k
    lj0 = np.log10(t["J0"])
    pull = (lj0 - np.log10(p["j0"])) / (t.std["J0"] / t["J0"] / np.log(10))
    assert abs(pull.mean()) < 0.2 and 0.85 < pull.std() < 1.15
    assert t["valid"].mean() > 0.97
    assert m.validity.fraction == t["valid"].mean()
    assert t.units["Rs"] == "Ω cm^2"


def test_fast_multifit_agrees_with_multifit():
    s, p = _curves(6, seed=9)
    fast = s.create_model()
    fast.fit_single_diode(n=1.5, show_progressbar=False)
    slow = s.create_model()
    slow.fit_single_diode(n=1.5, method="multifit", show_progressbar=False)
    tf, ts = fast.diode_table(), slow.diode_table()
    for k in ("Jph", "n", "Rs", "Rsh", "J0"):
        np.testing.assert_allclose(tf[k], ts[k], rtol=0, atol=0.05 * tf.std[k].max())
        np.testing.assert_allclose(tf.std[k], ts.std[k], rtol=0.02)


def test_fixed_ideality_and_bad_method():
    p = table_s1_params("thermal recovery", "initial")
    v = np.round(np.arange(-0.1, 1.2 + 1e-9, 0.01), 12)
    m = jv_curve(v, simulate_jv(v, **p)).create_model()
    m.fit_single_diode(n=p["n"], fix_n=True, method="multifit")
    assert m.diode.n.value == p["n"] and not m.diode.n.free
    assert abs(m.diode.Rs.value - p["rs"]) < 0.05
    with pytest.raises(ValueError, match="method"):
        m.fit_single_diode(method="magic")


@pytest.mark.parametrize("ext", ["hspy", "zspy"])
def test_jv_model_keeps_flags_and_validity_through_save(tmp_path, ext):
    """JVModel is a PerovskiteModel1D: flags, reduced chi-squared and validity
    survive m.save / hs.load / s.models.restore, as the same class."""
    import hyperspy.api as hs

    from hyperspy_perovskite.models import JVModel

    s, _ = _curves(6, seed=3)
    s.data[2] = np.nan  # a curve that cannot be fitted
    m = s.create_model()
    m.fit_single_diode(n=1.5, show_progressbar=False)
    v = m.validity
    assert not v.mask[2] and v.mask.sum() == 5
    m.save(tmp_path / f"jv.{ext}", name="diode")
    loaded = hs.load(tmp_path / f"jv.{ext}")
    restored = loaded.models.restore("diode")
    assert type(restored) is JVModel
    np.testing.assert_array_equal(restored.fit_flags.data, m.fit_flags.data)
    np.testing.assert_array_equal(restored.validity.mask, v.mask)
    np.testing.assert_array_equal(restored.validity.reasons, v.reasons)
    np.testing.assert_allclose(
        restored.reduced_chisq.data, m.reduced_chisq.data, equal_nan=True
    )
    t0, t1 = m.diode_table(), restored.diode_table()
    np.testing.assert_allclose(t1["n"], t0["n"], equal_nan=True)
    assert np.isnan(t1["n"][2])
    model = restored.as_signal(show_progressbar=False)
    assert np.isnan(model.data[2]).all() and np.isfinite(model.data[0]).all()
