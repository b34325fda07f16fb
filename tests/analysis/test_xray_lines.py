"""Line intensities, Cliff-Lorimer errors, ratios, masks, overlaps."""

import dask.array as da
import hyperspy.api as hs
import numpy as np
import pytest

from hyperspy_perovskite.analysis import xray_lines as xl


def test_window_weights_exspy_rule_and_interpolation():
    w = xl.window_weights(20, [(8, 12)], [(3, 5, 15, 17)])
    # symmetric: exSpy's (left + right) * n_line / (n_left + n_right)
    np.testing.assert_allclose(w[[3, 4, 15, 16], 0], -1.0)
    # a linear background is removed exactly, also for asymmetric windows
    e = np.arange(20.0)
    bg = 3.0 + 0.5 * e
    w2 = xl.window_weights(20, [(8, 12)], [(1, 3, 15, 19)])
    assert bg @ w2[:, 0] == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="empty or outside"):
        xl.window_weights(20, [(12, 8)])
    with pytest.raises(ValueError, match="outside the energy"):
        xl.window_weights(20, [(8, 12)], [(2, 4, 18, 22)])


@pytest.mark.parametrize("lazy", [False, True])
def test_line_intensities_poisson_variance(lazy):
    rng = np.random.default_rng(1)
    lam = np.zeros(30)
    lam[10:14] = 50.0
    lam += 5.0
    data = rng.poisson(lam, (4000, 30)).astype(float)
    w = xl.window_weights(30, [(10, 14)], [(4, 8, 16, 20)])
    arr = da.from_array(data, chunks=(1000, 30)) if lazy else data
    i, v = xl.line_intensities(arr, w)
    i, v = np.asarray(i), np.asarray(v)
    assert i.mean() == pytest.approx(200.0, rel=0.01)
    # predicted variance matches the scatter
    assert i.std() ** 2 == pytest.approx(v.mean(), rel=0.08)
    with pytest.raises(ValueError, match="channels"):
        xl.line_intensities(data[:, :20], w)


def test_cliff_lorimer_variance_against_monte_carlo():
    rng = np.random.default_rng(2)
    lam = np.array([400.0, 900.0, 150.0])
    k = [1.0, 1.3, 0.7]
    draws = rng.poisson(lam, (20000, 3)).astype(float).T
    c, v = xl.cliff_lorimer_variance(draws, draws, k)
    assert np.allclose(c.sum(axis=0), 1.0)
    np.testing.assert_allclose(c.std(axis=1) ** 2, v.mean(axis=1), rtol=0.05)
    with pytest.raises(ValueError, match="one k-factor"):
        xl.cliff_lorimer_variance(draws, draws, [1.0])


def test_halide_ratio_and_mask():
    rng = np.random.default_rng(3)
    x = rng.poisson(3000.0, 20000).astype(float)
    pb = rng.poisson(1000.0, 20000).astype(float)
    r, v = xl.halide_ratio([x, pb], [x, pb], [1.0], 1.0)
    assert r.mean() == pytest.approx(3.0 * (1 + 1 / 1000), rel=1e-3)  # ratio bias
    assert r.std() ** 2 == pytest.approx(v.mean(), rel=0.05)
    r0, _ = xl.halide_ratio(
        [np.array([5.0]), np.array([0.0])], [np.ones(1)] * 2, [1], 1
    )
    assert np.isnan(r0[0])
    m = xl.nonstoichiometry_mask(np.array([3.0, 1.0, 5.0, np.nan]), np.full(4, 0.01))
    assert m.tolist() == [0, -1, 1, 0]
    with pytest.raises(ValueError):
        xl.halide_ratio([x, pb], [x, pb], [1.0, 2.0], 1.0)


def test_free_background_windows_avoid_lines():
    w = xl.line_free_background_windows(3.938, 0.12, [4.221, 4.508, 3.485], 0.0, 20.0)
    for e in (4.221, 4.508, 3.485):
        assert not (w[0] - 0.12 < e < w[1] + 0.12)
        assert not (w[2] - 0.12 < e < w[3] + 0.12)


@pytest.mark.parametrize("lazy", [False, True])
def test_line_intensities_read_only_window_channels(lazy):
    rng = np.random.default_rng(3)
    data = rng.poisson(4.0, (6, 5, 64)).astype(np.uint16)
    w = xl.window_weights(64, [(10, 14), (22, 25)], [(4, 8, 16, 20), (18, 20, 27, 30)])
    ref_i = data.astype(float) @ w
    ref_v = data.astype(float) @ w**2
    read = []

    def count(block, block_info=None):
        if block.size:
            read.append(block_info[0]["chunk-location"][-1])
        return block

    arr = data
    if lazy:
        arr = da.from_array(data, chunks=(3, 5, 16)).map_blocks(count, dtype=data.dtype)
    i, v = xl.line_intensities(arr, w)
    assert isinstance(i, da.Array) == lazy
    if lazy:
        i, v = da.compute(i, v)
        # the windows lie in channels 4..30: energy chunks 2 and 3 are not read
        assert sorted(set(read)) == [0, 1] and len(read) == 4
    np.testing.assert_allclose(i, ref_i, rtol=1e-12)
    np.testing.assert_allclose(v, ref_v, rtol=1e-12)
    with pytest.raises(ValueError, match="all zero"):
        xl.line_intensities(data, np.zeros((64, 1)))


def test_cliff_lorimer_atomic_equals_exspy_quantification():
    import exspy

    rng = np.random.default_rng(4)
    inten = rng.uniform(0, 500, (3, 5, 7))
    inten[:, 0, 0] = 0.0  # no line above threshold -> 0
    inten[1:, 0, 1] = 0.0  # one line -> 100 % of it
    lines = ["Pb_La", "I_La", "Br_Ka"]
    k = [1.9, 1.1, 1.3]
    s = exspy.signals.EDSTEMSpectrum(np.zeros((5, 7, 16)))
    s.set_microscope_parameters(beam_energy=200)
    ints = []
    for i, ln in enumerate(lines):
        sig = hs.signals.BaseSignal(inten[i]).T
        sig.metadata.set_item("Sample.xray_lines", [ln])
        sig.metadata.set_item("Sample.elements", [ln.split("_")[0]])
        ints.append(sig)
    ref = np.stack(
        [c.data for c in s.quantification(ints, "CL", k, navigation_mask=None)]
    )
    at = xl.cliff_lorimer_atomic(inten, k, [ln.split("_")[0] for ln in lines])
    np.testing.assert_allclose(at, ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(at[:, 0, 0], [0.0, 0.0, 0.0])
    np.testing.assert_allclose(at[:, 0, 1], [100.0, 0.0, 0.0])
    np.testing.assert_allclose(at.sum(axis=0)[1:], 100.0)
    # 1-D input: one point
    np.testing.assert_allclose(
        xl.cliff_lorimer_atomic(inten[:, 2, 3], k, ["Pb", "I", "Br"]), ref[:, 2, 3]
    )
    with pytest.raises(ValueError, match="one k-factor"):
        xl.cliff_lorimer_atomic(inten, k[:2], ["Pb", "I", "Br"])
