"""The J-V simulator: the implicit equation holds, Table S1 parameters give
Table S1 numbers (checked on clean curves with scipy root finding)."""

import numpy as np
from scipy.optimize import brentq, minimize_scalar

from hyperspy_perovskite.data.jv_simulation import (
    TABLE_S1,
    simulate_electrical_log,
    simulate_jv,
    simulate_jv_scans,
    table_s1_params,
    thermal_voltage,
)


def test_implicit_equation_holds():
    p = table_s1_params("thermal recovery", "aged")
    v = np.linspace(-0.5, 1.5, 101)
    J = simulate_jv(v, **p)
    vd = v + J * p["rs"] * 1e-3
    a = p["n"] * thermal_voltage()
    res = p["jph"] - p["j0"] * np.expm1(vd / a) - vd / p["rsh"] * 1e3 - J
    assert np.abs(res).max() < 1e-9


def test_table_s1_parameters_give_table_s1_numbers():
    for key, (jsc, voc, ff, pce) in TABLE_S1.items():
        p = table_s1_params(*key)
        f = lambda x, p=p: simulate_jv([x], **p)[0]  # noqa: E731
        j0 = f(0.0)
        vo = brentq(f, 0.3, 1.5, xtol=1e-12)
        r = minimize_scalar(
            lambda x, f=f: -x * f(x), bounds=(0.3, vo), method="bounded"
        )
        got = (round(j0, 1), round(vo, 2), round(-r.fun / (j0 * vo) * 100, 1),
               round(-r.fun, 1))  # fmt: skip
        assert got == (jsc, voc, ff, pce), key
        # hysteresis: forward worse before aging, better after
        pf = table_s1_params(*key, "forward")
        ff_fwd = -minimize_scalar(lambda x, pf=pf: -x * simulate_jv([x], **pf)[0],
                                  bounds=(0.3, vo), method="bounded").fun  # fmt: skip
        assert (ff_fwd < -r.fun) == ("aged" not in key[1])


def test_scans_and_logs_shapes_and_noise():
    v, J, truth = simulate_jv_scans(table_s1_params("open-circuit aging", "initial"),
                                    noise=0.1, seed=0)  # fmt: skip
    assert J.shape == (2, v.size) and truth[0]["direction"] == "reverse"
    assert 0.08 < np.std(J[0] - truth[0]["clean"]) < 0.12
    d = simulate_electrical_log(seed=0, mode="galvanostatic", setpoint=1e-5)
    r = d["voltage"] / d["current"]
    assert abs(r[0] / 2e4 - 1) < 0.05 and abs(r[-1] / (2e4 * 1.88) - 1) < 0.05
