"""fast_multifit(count_variance=...): sandwich errors of unweighted fits of counts."""

import hyperspy.api as hs
import numpy as np
import pytest

from hyperspy_perovskite.data import simulated_emission_map
from hyperspy_perovskite.fitting import fast_multifit

c1d = hs.model.components1D
NAMES = (("centre", 0), ("sigma", 0), ("A", 0), ("offset", 1))


def _fit(s, **kw):
    m = s.create_model()
    g, o = c1d.Gaussian(), c1d.Offset()
    m.extend([g, o])
    result = fast_multifit(m, starting_values="estimate", **kw)
    return m, (g, o), result


@pytest.fixture(scope="module")
def counts_map():
    """Poisson counts (peak ~960 counts on a level of 20): far from equal noise."""
    s, truth = simulated_emission_map(shape=(32, 32), n_channels=256, seed=7)
    plain = _fit(s)
    sandwich = _fit(s, count_variance=np.ones(256))
    return s, truth, plain, sandwich


def _pulls(comps, truth, name, k):
    par = getattr(comps[k], name)
    return (par.map["values"] - truth[name]) / par.map["std"]


def test_sandwich_errors_cover_the_truth(counts_map):
    """Pulls over 1024 pixels: spread ~1 and coverage ~0.68 / 0.95 with the
    sandwich; HyperSpy's equal-noise errors miss (spread 1.6-1.9 for the
    band, 0.5 for the level)."""
    _, truth, plain, sandwich = counts_map
    assert sandwich[2].n_converged == 32 * 32
    for name, k in NAMES:
        z = _pulls(sandwich[1], truth, name, k)
        assert abs(np.mean(z)) < 0.1, name
        assert 0.88 < np.std(z) < 1.12, name
        assert 0.62 < np.mean(np.abs(z) < 1) < 0.75, name
        assert np.mean(np.abs(z) < 2) > 0.92, name
    z_plain = _pulls(plain[1], truth, "centre", 0)
    assert np.std(z_plain) > 1.4  # the test can fail: equal-noise errors do


def test_sandwich_leaves_values_unchanged(counts_map):
    _, _, plain, sandwich = counts_map
    for name, k in NAMES:
        a = getattr(plain[1][k], name).map["values"]
        b = getattr(sandwich[1][k], name).map["values"]
        np.testing.assert_array_equal(a, b)


def test_sandwich_equals_the_formula_with_finite_differences(counts_map):
    """Against (J^T J)^-1 J^T diag(f) J (J^T J)^-1 with J from central
    differences of HyperSpy's own component functions (not the kernels)."""
    s, _, _, (m, (g, o), _) = counts_map
    x = s.axes_manager.signal_axes[0].axis
    for iy, ix in ((0, 0), (5, 17), (31, 9)):
        p = np.array(
            [g.A.map["values"][iy, ix], g.centre.map["values"][iy, ix]]
            + [g.sigma.map["values"][iy, ix], o.offset.map["values"][iy, ix]]
        )

        def model(q):
            g.A.value, g.centre.value, g.sigma.value, o.offset.value = q
            return g.function(x) + o.function(x)

        J = np.empty((x.size, 4))
        for i in range(4):
            h = 1e-6 * max(abs(p[i]), 1e-3)
            up, down = p.copy(), p.copy()
            up[i] += h
            down[i] -= h
            J[:, i] = (model(up) - model(down)) / (2 * h)
        f = model(p)
        Binv = np.linalg.inv(J.T @ J)
        C = Binv @ (J.T * f) @ J @ Binv
        want = np.sqrt(np.diag(C))
        got = [
            g.A.map["std"][iy, ix],
            g.centre.map["std"][iy, ix],
            g.sigma.map["std"][iy, ix],
            o.offset.map["std"][iy, ix],
        ]
        np.testing.assert_allclose(got, want, rtol=1e-5)


def test_count_variance_is_checked():
    s, _ = simulated_emission_map(shape=(2, 2), n_channels=64, seed=1)
    with pytest.raises(ValueError, match="one finite, non-negative factor"):
        _fit(s, count_variance=np.ones(10))
    with pytest.raises(ValueError, match="one finite, non-negative factor"):
        _fit(s, count_variance=-np.ones(64))
    s.metadata.set_item("Signal.Noise_properties.variance", 1.0)
    with pytest.raises(ValueError, match="unweighted fits"):
        _fit(s, count_variance=np.ones(64))


def test_only_fits_of_counts_use_the_sandwich(monkeypatch):
    """One solver for all fits: without ``count_variance`` it is given the
    no-op (a cold session compiles and waits for less), with it the
    sandwich; given no count factor, the sandwich writes exactly what the
    no-op does."""
    import copy

    from hyperspy_perovskite.fitting import _compile
    from hyperspy_perovskite.fitting import _levenberg_marquardt as lm

    calls, asked = [], []
    solve, function = _compile.solve, _compile.sandwich_function

    def spy(evaluate, *args):
        calls.append((evaluate, copy.deepcopy(args)))
        return solve(evaluate, *args)

    monkeypatch.setattr(_compile, "solve", spy)
    monkeypatch.setattr(
        _compile, "sandwich_function", lambda c: asked.append(c) or function(c)
    )
    s, _ = simulated_emission_map(shape=(6, 6), n_channels=128, seed=3)
    _fit(s)
    n_first = len(calls)  # one call of the solver per block of pixels
    _fit(s, count_variance=np.ones(128))
    sizes = [args[_compile._COUNT_FACTOR].size for _, args in calls]
    assert sizes == [0] * n_first + [128] * (len(calls) - n_first)
    assert len(calls) > n_first
    assert set(asked) == {False, True} and asked.index(True) == n_first
    assert function(False) is lm.no_sandwich
    assert function(True) is lm.sandwich_deviations
    evaluate, args = calls[0]
    k = _compile._COUNT_FACTOR
    out = {}
    for counts in (False, True):
        run = copy.deepcopy(args)
        run = (*run[:k], np.empty(0), function(counts), *run[k + 1 :])
        _compile.fit_block()(evaluate, *run)
        out[counts] = run[k + 2]  # the result rows
    assert np.isfinite(out[False][:, :-3]).all()
    np.testing.assert_array_equal(out[False], out[True])
