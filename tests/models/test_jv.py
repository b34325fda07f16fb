"""Single-diode fits of simulated curves: recovery over seeds, validity, table."""

import numpy as np
import pytest

from hyperspy_perovskite.data.jv_simulation import simulate_jv, table_s1_params
from hyperspy_perovskite.readers import jv_curve


def _fast_available():
    from hyperspy_perovskite.components import SingleDiode
    from hyperspy_perovskite.fitting import registry

    try:
        registry.kernel_spec(SingleDiode())
    except Exception:
        return False
    return True


@pytest.mark.parametrize("method", ["multifit", "fast"])
def test_diode_parameters_recovered_within_std(method):
    if method == "fast" and not _fast_available():
        pytest.skip("SingleDiode kernel not registered with this engine")
    p = table_s1_params("open-circuit aging", "aged 16 h")
    v = np.round(np.arange(-0.1, 1.2 + 1e-9, 0.01), 12)
    n_curves = 15 if method == "multifit" else 400  # multifit: a smoke-level check
    tol = 0.5 if method == "multifit" else 0.2
    J = simulate_jv(v, **p) + np.random.default_rng(5).normal(
        0, 0.05, (n_curves, v.size)
    )
    m = jv_curve(v, J).create_model()
    m.fit_single_diode(n=1.5, method=method)
    t = m.diode_table()
    truth = {"Jph": p["jph"], "n": p["n"], "Rs": p["rs"], "Rsh": p["rsh"]}
    for k, val in truth.items():
        pull = (t[k] - val) / t.std[k]
        assert abs(pull.mean()) < tol, (k, pull.mean())
        assert 1 - 2 * tol < pull.std() < 1 + 2 * tol, (k, pull.std())
        assert np.mean(np.abs(pull) < 2) > 0.95 - tol / 2, k
    lj0 = np.log10(t["J0"])
    pull = (lj0 - np.log10(p["j0"])) / (t.std["J0"] / t["J0"] / np.log(10))
    assert abs(pull.mean()) < tol and 1 - 2 * tol < pull.std() < 1 + 2 * tol
    assert t["valid"].mean() > 0.95
    assert t.units["Rs"] == "Ω cm^2"


def test_fixed_ideality_and_bad_method():
    p = table_s1_params("thermal recovery", "initial")
    v = np.round(np.arange(-0.1, 1.2 + 1e-9, 0.01), 12)
    m = jv_curve(v, simulate_jv(v, **p)).create_model()
    m.fit_single_diode(n=p["n"], fix_n=True, method="multifit")
    assert m.diode.n.value == p["n"] and not m.diode.n.free
    assert abs(m.diode.Rs.value - p["rs"]) < 0.05
    with pytest.raises(ValueError, match="method"):
        m.fit_single_diode(method="magic")
