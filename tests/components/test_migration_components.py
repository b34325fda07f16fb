"""Migration components: estimates over whole maps, derived quantities, errors."""

import hyperspy.api as hs
import numpy as np
import pytest

from hyperspy_perovskite.analysis import drift_diffusion as dd
from hyperspy_perovskite.components import (
    DriftDiffusionAccumulation,
    DriftDiffusionTransient,
    Interdiffusion,
)


def _map(profiles, x, units="nm", lazy=False):
    s = hs.signals.Signal1D(np.asarray(profiles, dtype=float))
    ax = s.axes_manager[-1]
    ax.offset, ax.scale, ax.units = x[0], x[1] - x[0], units
    return s.as_lazy() if lazy else s


@pytest.mark.parametrize("lazy", [False, True])
def test_interdiffusion_estimate_whole_map(lazy):
    x = np.linspace(-50, 50, 201)
    L = np.array([[3.0, 6.0], [9.0, 12.0]])
    c0 = np.array([[-5.0, 0.0], [4.0, 10.0]])
    data = dd.interdiffusion_profile(x, 100.0, 10.0, c0[..., None], L[..., None])
    s = _map(data, x, lazy=lazy)
    m = s.create_model()
    c = Interdiffusion()
    m.append(c)
    assert c.estimate_parameters(s, -50, 50) is True
    np.testing.assert_allclose(c.length.map["values"], L, rtol=0.05)
    np.testing.assert_allclose(c.centre.map["values"], c0, atol=0.3)
    np.testing.assert_allclose(c.c_left.map["values"], 100.0, rtol=0.01)
    assert c.length.map["is_set"].all()


@pytest.mark.parametrize("lazy", [False, True])
def test_transient_estimate_and_derived(lazy):
    x = np.arange(0.0, 300.0, 1.0)
    d = np.array([4.0, 10.0, 20.0])
    sl = np.array([15.0, 20.0, 25.0])
    data = dd.transient_profile_semi_infinite(x, d[:, None], sl[:, None], 50.0)
    s = _map(data, x, lazy=lazy)
    m = s.create_model()
    c = DriftDiffusionTransient(time=10.0)
    m.append(c)
    c.estimate_parameters(s, 0, 300)
    np.testing.assert_allclose(c.drift_distance.map["values"], d, rtol=0.05)
    np.testing.assert_allclose(c.length.map["values"], sl, rtol=0.1)
    # exact values -> derived quantities
    c.drift_distance.map["values"][:] = d
    c.length.map["values"][:] = sl
    c.length.map["std"][:] = 0.1 * sl
    c.drift_distance.map["std"][:] = 0.0
    D, D_std = c.diffusion_coefficient()
    np.testing.assert_allclose(D, (sl * 1e-9) ** 2 / 40.0)
    np.testing.assert_allclose(D_std, 0.2 * D)
    mu, _ = c.mobility(field=1e6)
    np.testing.assert_allclose(mu, d * 1e-9 / (1e6 * 10.0))
    # the model reproduces the data with the exact parameters
    np.testing.assert_allclose(m.as_signal().data, data, rtol=1e-10)


def test_accumulation_estimate_left_side_and_units():
    x = np.arange(0.0, 0.3, 0.001)  # micrometres
    data = 5.0 + 40.0 * np.exp(-(0.3 - x) / 0.015)
    s = _map(data[None].repeat(2, 0), x, units="µm")
    m = s.create_model()
    c = DriftDiffusionAccumulation(wall=0.3, side="left")
    m.append(c)
    c.estimate_parameters(s, 0.0, 0.3)
    np.testing.assert_allclose(c.decay_length.map["values"], 0.015, rtol=0.1)
    c.decay_length.map["values"][:] = 0.015
    c.decay_length.map["std"][:] = 0.0
    E, _ = c.field_from_einstein(temperature=300.0)
    np.testing.assert_allclose(E, dd.thermal_voltage(300.0) / 15e-9)
    ratio, _ = c.diffusion_to_mobility(field=E[0])
    np.testing.assert_allclose(ratio, dd.thermal_voltage(300.0))


def test_components_function_nd_matches_function():
    x = np.linspace(-20, 80, 101)
    s = _map(np.zeros((3, x.size)), x)
    m = s.create_model()
    comps = [
        DriftDiffusionAccumulation(A=2.0, decay_length=5.0, wall=10.0),
        DriftDiffusionTransient(c_bulk=1.0, drift_distance=3.0, length=7.0, wall=0.0),
    ]
    m.extend(comps)
    m.assign_current_values_to_all()
    comps[0].decay_length.map["values"][:] = [3.0, 5.0, 8.0]
    nd = comps[0].function_nd(x)
    for i, lam in enumerate([3.0, 5.0, 8.0]):
        comps[0].decay_length.value = lam
        np.testing.assert_allclose(nd[i], comps[0].function(x))
    np.testing.assert_allclose(comps[1].function_nd(x)[1], comps[1].function(x))


def test_inputs_not_modified_by_estimates():
    x = np.arange(0.0, 100.0)
    s = _map(np.exp(-x / 10.0)[None].repeat(2, 0), x)
    before = s.data.copy()
    m = s.create_model()
    c = DriftDiffusionAccumulation()
    m.append(c)
    c.estimate_parameters(s, 0, 100)
    np.testing.assert_array_equal(s.data, before)


def test_component_bad_input():
    with pytest.raises(ValueError, match="side"):
        DriftDiffusionAccumulation(side="top")
    with pytest.raises(ValueError, match="time"):
        DriftDiffusionTransient(time=-1.0)
    with pytest.raises(ValueError, match="not in a model"):
        DriftDiffusionTransient(time=1.0).diffusion_coefficient()
    x = np.arange(0.0, 50.0)
    s = _map(np.ones((2, x.size)), x)
    m = s.create_model()
    c = Interdiffusion()
    m.append(c)
    with pytest.raises(ValueError, match="duration"):
        c.diffusion_coefficient()
    t = DriftDiffusionTransient(time=5.0)
    m.append(t)
    with pytest.raises(ValueError, match="field"):
        t.mobility(field=0.0)
    acc = DriftDiffusionAccumulation(wall=100.0)  # layer beyond the data
    m.append(acc)
    with pytest.raises(ValueError, match="layer side"):
        acc.estimate_parameters(s, 0, 50)
    s2 = _map(np.ones((2, x.size)), x, units="<undefined>")
    m2 = s2.create_model()
    c2 = Interdiffusion(time=1.0)
    m2.append(c2)
    with pytest.raises(ValueError, match="units"):
        c2.diffusion_coefficient()


def test_closed_layer_transient_function_nd_save_load(tmp_path):
    """A closed layer (``thickness``): function_nd == function, the closed form
    of the analysis module, 0 in both electrodes, thickness saved."""
    x = np.linspace(-20, 140, 161)
    s = _map(np.zeros((3, x.size)), x)
    m = s.create_model()
    c = DriftDiffusionTransient(
        c_bulk=2.0,
        drift_distance=30.0,
        length=25.0,
        wall=110.0,
        side="left",
        thickness=100.0,
        time=4.0,
    )
    m.append(c)
    m.assign_current_values_to_all()
    c.drift_distance.map["values"][:] = [5.0, 30.0, 400.0]
    nd = c.function_nd(x)
    for i, d in enumerate([5.0, 30.0, 400.0]):
        c.drift_distance.value = d
        f = c.function(x)
        np.testing.assert_allclose(nd[i], f)
        z = 110.0 - x
        ref = dd.transient_profile_closed_layer(z, d, 25.0, 100.0, 2.0)
        np.testing.assert_allclose(f, ref)
        assert np.all(f[(x < 10.0) | (x > 110.0)] == 0)
    for ext in ("hspy", "zspy"):
        m.save(tmp_path / f"c.{ext}", name="closed")
        c2 = hs.load(tmp_path / f"c.{ext}").models.restore("closed")[0]
        assert c2.thickness == 100.0 and c2.side == "left" and c2.time == 4.0
        np.testing.assert_allclose(c2.function(x), c.function(x))
    with pytest.raises(ValueError, match="thickness"):
        DriftDiffusionTransient(thickness=-5.0)
