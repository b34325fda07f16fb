"""The one refit helper of the CL validity tests (``signals/_cl_refit.py``):
what it restores, keeps, holds, frees and measures.

The spectra are Gaussian bands with Poisson noise written here (centre
1.70-1.78 eV, sigma 25-35 meV, 40 counts of dark level, 256 channels over
1.5-2.0 eV), so that the refit's outcomes are known: a band width held 20 %
off its fit makes chi-squared rise, the width held at its fitted value
leaves it where it was.
"""

import warnings

import hyperspy.api as hs
import numpy as np
import pytest

from hyperspy_perovskite.fitting.flags import MAX_ITERATIONS, count_flags
from hyperspy_perovskite.signals._cl_refit import (
    change_scale,
    noise_scale,
    refit,
)

SQRT2PI = np.sqrt(2.0 * np.pi)


def _signal(poisson, seed=3, shape=(4, 5)):
    rng = np.random.default_rng(seed)
    E = np.linspace(1.5, 2.0, 256)
    c = rng.uniform(1.70, 1.78, shape)[..., None]
    sg = rng.uniform(0.025, 0.035, shape)[..., None]
    area = rng.uniform(40.0, 60.0, shape)[..., None]
    mu = area / (sg * SQRT2PI) * np.exp(-0.5 * ((E - c) / sg) ** 2) + 40.0
    s = hs.signals.Signal1D(rng.poisson(mu).astype(float))
    ax = s.axes_manager.signal_axes[0]
    ax.offset, ax.scale, ax.units, ax.name = E[0], E[1] - E[0], "eV", "Energy"
    s.set_signal_type("CL_STEM_perovskite")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = s.fit_emission(axis="energy", poisson=poisson)
    return m


def _state(m):
    maps = [np.array(p.map) for c in m for p in c.parameters]
    free = [p.free for c in m for p in c.parameters]
    return maps, np.array(m.chisq.data), np.array(m.dof.data), free


def _same(a, b):
    maps_a, chi_a, dof_a, free_a = a
    maps_b, chi_b, dof_b, free_b = b
    for x, y in zip(maps_a, maps_b, strict=True):
        for f in ("values", "std", "is_set"):
            np.testing.assert_array_equal(x[f], y[f])
    np.testing.assert_array_equal(chi_a, chi_b)
    np.testing.assert_array_equal(dof_a, dof_b)
    assert free_a == free_b


@pytest.fixture(scope="module", params=[True, False], ids=["weighted", "unweighted"])
def fitted(request):
    return _m_and_result(request.param)


def _m_and_result(poisson):
    m = _signal(poisson)
    return m, m.fast_fit_result


def test_held_off_the_fit_rises_and_everything_is_restored(fitted):
    m, result = fitted
    before, flags0 = _state(m), np.array(result.array("convergence"))
    elapsed0 = result.elapsed
    sigma = m["Emission"].sigma
    s0 = np.array(sigma.map["values"])
    where = np.ones(s0.shape, bool)
    where[0, 0] = False
    with refit(
        m, result, where, {}, hold=[sigma], start={sigma: 1.2 * s0}, scale="residual"
    ) as r:
        # inside: the refit's maps, sigma held where it was set (its free
        # state already put back)
        assert sigma.free
        np.testing.assert_array_equal(sigma.map["values"][where], 1.2 * s0[where])
        assert sigma.map["values"][0, 0] == s0[0, 0]
        assert (r.flags[where] == 0).all()
        # the rise in noise variances: chi-squared change over the unit
        chi = np.array(m.chisq.data)
        unit = noise_scale(m, before[1])
        np.testing.assert_allclose(r.rise, (chi - before[1]) / unit)
        assert (r.rise[where] > 9).all()  # 20 % off: many noise variances
        assert r.rise[0, 0] == 0.0  # not refitted
    _same(_state(m), before)
    np.testing.assert_array_equal(result.array("convergence"), flags0)
    assert result.elapsed > elapsed0


def test_held_at_the_fit_does_not_rise(fitted):
    m, result = fitted
    sigma = m["Emission"].sigma
    where = np.ones(np.shape(m.chisq.data), bool)
    with refit(m, result, where, {}, hold=[sigma], scale="residual") as r:
        rise = np.array(r.rise)
    # the fit's minimum, up to its stopping rule: well under a noise variance
    assert np.abs(rise).max() < 0.1


def test_kept_pixels_hold_the_refit_and_its_outcome():
    m, result = _m_and_result(True)
    before = _state(m)
    sigma = m["Emission"].sigma
    s0 = np.array(sigma.map["values"])
    where = np.ones(s0.shape, bool)
    keep = np.zeros(s0.shape, bool)
    keep[1, 2] = keep[3, 4] = True
    result.array("iterations")[...] = -1
    result.array("convergence")[0, 0] = MAX_ITERATIONS  # not kept: it stays
    with refit(m, result, where, {}, hold=[sigma], start={sigma: 1.2 * s0}) as r:
        assert r.rise is None  # no scale asked
        chi_refit = np.array(m.chisq.data)
        r.keep(keep)
    np.testing.assert_array_equal(sigma.map["values"][keep], 1.2 * s0[keep])
    np.testing.assert_array_equal(sigma.map["values"][~keep], s0[~keep])
    np.testing.assert_array_equal(m.chisq.data[keep], chi_refit[keep])
    np.testing.assert_array_equal(m.chisq.data[~keep], before[1][~keep])
    its = np.asarray(result.array("iterations"))
    assert (its[keep] >= 1).all() and (its[~keep] == -1).all()
    # the flag counts follow the merged outcome (a failure made up before)
    flags = np.asarray(result.array("convergence"))
    assert flags[0, 0] == MAX_ITERATIONS and (flags[keep] == 0).all()
    assert result.flag_counts == count_flags(flags)
    assert sigma.free
    assert sigma.value == sigma.map["values"][m.axes_manager.indices[::-1]]


def test_release_frees_a_fixed_parameter_and_caps_iterations():
    m, result = _m_and_result(True)
    sigma = m["Emission"].sigma
    s0 = np.array(sigma.map["values"])
    where = np.ones(s0.shape, bool)
    sigma.free = False
    try:
        with refit(m, result, where, {}, release=[sigma], start={sigma: 1.2 * s0}) as r:
            assert not sigma.free  # put back as it was after the refit
            moved = np.array(sigma.map["values"])
        assert not sigma.free
        assert (np.abs(moved - s0) < 0.1 * s0).all()  # freed: back near the fit
        with refit(
            m, result, where, {}, release=[sigma], start={sigma: 1.2 * s0},
            max_iterations=1,
        ) as r:  # fmt: skip
            assert (np.asarray(r.new.array("iterations")) <= 1).all()
        with refit(
            m, result, where, {"max_iterations": 2}, release=[sigma],
            max_iterations=50,
        ) as r:  # fmt: skip
            assert (np.asarray(r.new.array("iterations")) <= 2).all()
    finally:
        sigma.free = True


def test_restored_on_error():
    m, result = _m_and_result(False)
    before = _state(m)
    sigma = m["Emission"].sigma
    where = np.ones(np.shape(m.chisq.data), bool)
    with pytest.raises(RuntimeError, match="inside"):
        with refit(m, result, where, {}, hold=[sigma], start={sigma: 0.05}):
            raise RuntimeError("inside")
    _same(_state(m), before)
    with pytest.raises(TypeError):  # the engine refuses: flags and maps back
        with refit(
            m, result, where, {"no_such_kwarg": 1}, hold=[sigma], start={sigma: 0.05}
        ):
            pass
    _same(_state(m), before)


def test_change_scale_of_counts_is_the_count_variance_where_the_model_moves():
    """Unweighted fit of counts: one noise variance of the chi-squared change
    is ``sum d**2 var / sum d**2`` over the channels where the model moved
    (``var`` the counts of the first fit), not the residual mean square."""
    m, result = _m_and_result(False)
    where = np.ones(np.shape(m.chisq.data), bool)
    g = np.ones(int(np.count_nonzero(m._channel_switches)))
    sigma = m["Emission"].sigma
    s0 = np.array(sigma.map["values"])
    kw = {"count_variance": g}
    from hyperspy_perovskite.signals._cl_snapshot import _snapshot

    first = _snapshot(m, result)
    chi0 = np.array(m.chisq.data)
    with refit(
        m, result, where, kw, hold=[sigma], start={sigma: 1.2 * s0}, scale="change"
    ) as r:
        unit = change_scale(m, where, first, chi0, kw)
        np.testing.assert_allclose(r.rise, (np.array(m.chisq.data) - chi0) / unit)
    # the band moved, not the flat dark level: its counts weigh, between
    # the dark level and the band's peak (~ 640-960 counts over 40)
    assert (unit > 40).all() and (unit < 1000).all()
    assert not np.allclose(unit, noise_scale(m, chi0))
