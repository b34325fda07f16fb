"""SingleDiode: function, analytic and compiled gradients, Lambert W kernel."""

import numpy as np
import pytest
from scipy.special import lambertw

from hyperspy_perovskite.components import SingleDiode
from hyperspy_perovskite.components.single_diode import (
    lambertw_exp_nb,
    single_diode_kernel,
)
from hyperspy_perovskite.data.jv_simulation import simulate_jv, table_s1_params
from hyperspy_perovskite.readers import jv_curve

NAMES = ("Jph", "log10_J0", "n", "Rs", "Rsh")


def _component(p):
    return SingleDiode(Jph=p["jph"], log10_J0=np.log10(p["j0"]), n=p["n"],
                       Rs=p["rs"], Rsh=p["rsh"])  # fmt: skip


def test_compiled_lambertw_against_scipy_and_overflow_range():
    x = np.concatenate([np.linspace(-745.0, 700.0, 4001), [1e-3, 0.5, 1.0, 1.0001]])
    ref = lambertw(np.exp(x)).real
    got = np.array([lambertw_exp_nb(v) for v in x])
    np.testing.assert_allclose(got, ref, rtol=2e-15, atol=1e-320)
    for big in (710.0, 1e4, 1e7, 1e12):  # exp(x) overflows: log-domain Halley
        w = lambertw_exp_nb(big)
        assert abs(w + np.log(w) - big) <= 1e-14 * big


@pytest.mark.parametrize("rs", [3.3, 0.0])
def test_function_matches_brentq_simulation(rs):
    p = dict(table_s1_params("open-circuit aging", "initial"), rs=rs)
    v = np.linspace(-0.3, 1.6, 200)
    np.testing.assert_allclose(_component(p).function(v), simulate_jv(v, **p),
                               atol=1e-10)  # fmt: skip


@pytest.mark.parametrize("key", [("open-circuit aging", "initial"),
                                 ("thermal recovery", "aged")])  # fmt: skip
def test_kernel_and_gradients_against_finite_differences(key):
    d = _component(table_s1_params(*key))
    v = np.linspace(-0.2, 1.5, 120)
    P = np.array([getattr(d, n).value for n in NAMES])
    c = np.array([d.thermal_voltage, 0.0, 0.0, 0.0])
    g = np.zeros(5)

    def kernel(P):
        out, grads = [], []
        for x in v:
            out.append(single_diode_kernel(x, P, 0, g, c))
            grads.append(g.copy())
        return np.array(out), np.array(grads)

    f, G = kernel(P)
    np.testing.assert_allclose(f, d.function(v), atol=1e-11)
    for i, name in enumerate(NAMES):
        h = 1e-6 * max(1.0, abs(P[i]))
        Pp, Pm = P.copy(), P.copy()
        Pp[i] += h
        Pm[i] -= h
        fd = (kernel(Pp)[0] - kernel(Pm)[0]) / (2 * h)
        scale = np.abs(fd).max()
        np.testing.assert_allclose(G[:, i], fd, atol=1e-5 * scale, err_msg=name)
        an = getattr(d, f"grad_{name}")(v)
        np.testing.assert_allclose(an, G[:, i], rtol=1e-9, atol=1e-12 * scale)


def test_estimate_parameters_lazy_equals_eager():
    p = table_s1_params("open-circuit aging", "initial")
    v = np.round(np.arange(-0.1, 1.2 + 1e-9, 0.005), 12)
    J = simulate_jv(v, **p) + np.random.default_rng(0).normal(0, 0.02, (3, v.size))
    s = jv_curve(v, J, scan_directions=["reverse", "forward", "reverse"])
    out = []
    for sig in (s, s.as_lazy()):
        m = sig.create_model()
        m.diode.estimate_parameters(sig, -0.1, 1.2)
        out.append(np.array([m.diode.Jph.map["values"], m.diode.Rsh.map["values"]]))
    np.testing.assert_allclose(out[0], out[1])
    assert np.all(np.abs(out[0][0] - p["jph"]) < 0.1)


def test_temperature_survives_model_save_load(tmp_path):
    v = np.round(np.arange(-0.1, 1.2 + 1e-9, 0.01), 12)
    s = jv_curve(v, simulate_jv(v, **table_s1_params("thermal recovery", "initial")),
                 temperature=323.15)  # fmt: skip
    m = s.create_model()
    assert m.diode.temperature == 323.15
    m.store("diode")
    s.save(tmp_path / "jv.hspy")
    import hyperspy.api as hs

    s2 = hs.load(tmp_path / "jv.hspy")
    m2 = s2.models.restore("diode")
    assert type(m2.diode) is SingleDiode and m2.diode.temperature == 323.15
