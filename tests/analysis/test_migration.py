"""Migration metrics: truth recovered, propagated errors match Monte Carlo."""

import dask.array as da
import numpy as np
import pytest

from hyperspy_perovskite.analysis import drift_diffusion as dd
from hyperspy_perovskite.analysis import migration as mg

X = np.arange(0.0, 300.0, 2.0) + 1.0  # bin centres, nm (layer 0-300 nm)
LAM = 15.0
RNG = np.random.default_rng(11)


def _steady(total=6e4):
    shape = dd.steady_state_profile(X, LAM, 1.0, 300.0)
    return total * shape / shape.sum()


def _mc(expected, n=4000):
    return RNG.poisson(expected, size=(n, expected.size)).astype(float)


def test_accumulated_fraction_truth_and_errors():
    mean = _steady()
    draws = _mc(mean)
    f, v = mg.accumulated_fraction(X, draws, 0.0, 30.0, side="right")
    # truth: integral of exp(-z/lambda) over 0-30 nm of 0-300 nm
    truth = (1 - np.exp(-30.0 / LAM)) / (1 - np.exp(-300.0 / LAM))
    assert f.mean() == pytest.approx(truth, abs=3 * np.sqrt(v.mean() / f.size) + 2e-3)
    # propagated error matches the spread of the Monte Carlo draws
    assert np.sqrt(v.mean()) == pytest.approx(f.std(), rel=0.08)
    # every single draw within 4 sigma of truth
    assert np.all(np.abs(f - truth) < 4 * np.sqrt(v) + 2e-3)


def test_accumulated_fraction_uniform_and_layer():
    flat = np.full(X.size, 500.0)
    f, _ = mg.accumulated_fraction(X, flat, 300.0, 30.0, side="left")
    assert f == pytest.approx(0.1)
    f2, _ = mg.accumulated_fraction(X, flat, 100.0, 20.0, side="both", layer=(0, 200))
    assert f2 == pytest.approx(0.2)


def test_normalized_and_difference_errors_match_monte_carlo():
    mean_a = np.full(X.size, 200.0)
    mean_b = _steady(200.0 * X.size)
    a, b = _mc(mean_a), _mc(mean_b)
    d, v = mg.difference_profile(a, b)
    truth = mean_b / mean_b.sum() - mean_a / mean_a.sum()
    assert np.all(np.abs(d.mean(0) - truth) < 5 * np.sqrt(v.mean(0) / 4000) + 1e-12)
    ok = mean_b > 20  # Poisson variance from counts needs counts
    np.testing.assert_allclose(np.sqrt(v.mean(0))[ok], d.std(0)[ok], rtol=0.1)
    d_raw, v_raw = mg.difference_profile(a, b, normalize=False)
    np.testing.assert_allclose(v_raw, a + b)
    np.testing.assert_allclose(d_raw, b - a)


def test_centroid_shift_truth_and_errors():
    mean_a = np.full(X.size, 300.0)
    mean_b = _steady(300.0 * X.size)
    a, b = _mc(mean_a), _mc(mean_b)
    s, v = mg.centroid_shift(X, a, b)
    truth = (X * mean_b).sum() / mean_b.sum() - 150.0
    assert s.mean() == pytest.approx(truth, abs=0.05)
    assert np.sqrt(v.mean()) == pytest.approx(s.std(), rel=0.08)
    c, vc = mg.centroid(X, mean_b, window=(0, 100))
    w = X <= 100
    assert c == pytest.approx((X[w] * mean_b[w]).sum() / mean_b[w].sum())


def test_kymograph_transient_series():
    times = np.array([0.0, 20.0, 60.0, 200.0])
    D, v = 1e-17, 1e-9
    z, c = dd.transient_profile_layer(300.0, times, D, v, n_cells=150)
    counts = RNG.poisson(300 * c).astype(float)
    k, vk = mg.kymograph(counts, reference=0)
    assert k.shape == (4, 150)
    np.testing.assert_array_equal(k[0], 0.0)
    np.testing.assert_array_equal(vk[0], 0.0)
    # accumulation at the wall grows with time, beyond the noise
    assert np.all(np.diff(k[:, 0]) > 0)
    assert k[-1, 0] > 5 * np.sqrt(vk[-1, 0])
    # fraction near the wall increases monotonically over the frames
    f, vf = mg.accumulated_fraction(z, counts, 0.0, 20.0)
    assert np.all(np.diff(f) > 0)
    k_abs, _ = mg.kymograph(counts, reference=None, normalize=False)
    np.testing.assert_array_equal(k_abs, counts)


def test_contact_uptake_truth():
    # Cl profile: layer 0-200 nm, Al contact 200-300 nm with Cl uptake
    x = X
    mean = np.where(x < 200, 100.0, 10.0) + 5.0  # 5 counts background
    draws = _mc(mean, n=2000)
    u, vu, f, vf = mg.contact_uptake(x, draws, 200.0, background=5.0)
    n_metal = np.sum(x > 200)
    assert u.mean() == pytest.approx(10.0 * n_metal, rel=0.01)
    assert np.sqrt(vu.mean()) == pytest.approx(u.std(), rel=0.08)
    truth_f = 10.0 * n_metal / (10.0 * n_metal + 100.0 * (x.size - n_metal))
    assert f.mean() == pytest.approx(truth_f, rel=0.01)
    assert np.sqrt(vf.mean()) == pytest.approx(f.std(), rel=0.1)
    u2, *_ = mg.contact_uptake(x, mean, 200.0, metal_side="right", depth=20.0)
    assert u2 == pytest.approx(15.0 * 10)


def test_dask_equals_numpy():
    counts = RNG.poisson(_steady(), size=(6, X.size)).astype(float)
    lazy = da.from_array(counts, chunks=(2, X.size))
    for fn in (
        lambda p: mg.accumulated_fraction(X, p, 0.0, 20.0),
        lambda p: mg.centroid(X, p),
        lambda p: mg.kymograph(p, reference=1),
        lambda p: mg.difference_profile(p[0], p),
        lambda p: mg.contact_uptake(X, p, 250.0),
    ):
        eager = fn(counts)
        res = fn(lazy)
        assert isinstance(res[0], da.Array)
        for e, r in zip(eager, da.compute(*res), strict=True):
            np.testing.assert_allclose(r, e, rtol=1e-12)


def test_inputs_not_modified():
    counts = RNG.poisson(_steady(), size=(3, X.size)).astype(float)
    before = counts.copy()
    mg.kymograph(counts)
    mg.accumulated_fraction(X, counts, 0.0, 20.0)
    np.testing.assert_array_equal(counts, before)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: mg.accumulated_fraction(X, np.ones(5), 0.0, 10.0), "bins"),
        (
            lambda: mg.accumulated_fraction(X[::-1], np.ones(X.size), 0.0, 10.0),
            "increasing",
        ),
        (lambda: mg.accumulated_fraction(X, np.ones(X.size), 0.0, -1.0), "distance"),
        (
            lambda: mg.accumulated_fraction(X, np.ones(X.size), 0.0, 1.0, side="up"),
            "side",
        ),
        (lambda: mg.accumulated_fraction(X, np.ones(X.size), 900.0, 5.0), "No bin"),
        (
            lambda: mg.accumulated_fraction(X, np.zeros(X.size), 0.0, 10.0),
            "zero counts",
        ),
        (
            lambda: mg.accumulated_fraction(X, -np.ones(X.size), 0.0, 10.0),
            "non-negative",
        ),
        (lambda: mg.centroid(X, np.ones(X.size), window=(500, 600)), "layer range"),
        (lambda: mg.normalized_profile(np.ones(4), np.ones(3)), "variance shape"),
        (lambda: mg.kymograph(np.ones(4)), "time axis"),
        (lambda: mg.kymograph(np.ones((2, 4)), reference=5), "outside"),
        (lambda: mg.contact_uptake(X, np.ones(X.size), 500.0), "outside the profile"),
        (
            lambda: mg.contact_uptake(X, np.ones(X.size), 100.0, metal_side="x"),
            "metal_side",
        ),
        (lambda: mg.contact_uptake(X, np.ones(X.size), 100.0, depth=0.0), "depth"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_contact_background_truth_and_error():
    # a contact (x > 250 nm) holding 4 counts per bin on average: the mean
    # of Poisson draws and its variance (4 / n_bins) against Monte Carlo
    mean = np.where(X > 250.0, 4.0, 100.0)
    draws = _mc(mean, n=2000)
    got = np.array([mg.contact_background(X, d, 250.0, "right") for d in draws])
    n_bins = int(np.sum(X > 250.0))
    assert got[:, 0].mean() == pytest.approx(4.0, abs=4 * np.sqrt(4.0 / n_bins / 2000))
    assert got[:, 1].mean() == pytest.approx(4.0 / n_bins, rel=0.02)
    assert got[:, 0].var() == pytest.approx(4.0 / n_bins, rel=0.1)
    # depth and side: only the 10 nm (5 bins) left of 50 nm
    b, _ = mg.contact_background(X, X, 50.0, "left", depth=10.0)
    assert b == pytest.approx(np.mean([41.0, 43.0, 45.0, 47.0, 49.0]))
    with pytest.raises(ValueError, match="No bin"):
        mg.contact_background(X, X, 299.5, "right", depth=0.1)


def test_wall_side_range_and_field():
    assert mg.wall_side(0.0, 280.0) == "right"
    assert mg.wall_side(-280.0, 0.0) == "left"
    with pytest.raises(ValueError, match="not bounded"):
        mg.wall_side(-10.0, 270.0)
    # 16 nm bins over a 0-280 nm layer: centres 8 nm inside each end
    assert mg.wall_fit_range(0.0, 280.0, 16.0) == (8.0, 272.0)
    assert mg.wall_fit_range(0.0, 280.0, -16.0, (300.0, 40.0)) == (40.0, 272.0)
    with pytest.raises(ValueError, match="No bin"):
        mg.wall_fit_range(0.0, 280.0, 16.0, (275.0, 290.0))
    # 1 V over 280 nm
    assert mg.layer_field(-1.0, 0.0, 280.0) == pytest.approx(1.0 / 280e-9)
    with pytest.raises(ValueError, match="no thickness"):
        mg.layer_field(1.0, 5.0, 5.0)
