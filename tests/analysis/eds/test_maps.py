"""Map-level EDX array algorithms (analysis.eds.maps)."""

import numpy as np

from hyperspy_perovskite.analysis.eds.maps import band_profiles, image_noise_variance


def test_band_profiles_match_a_loop_over_pixels():
    rng = np.random.default_rng(1)
    maps = rng.poisson(50.0, (2, 9, 11)).astype(float)
    index = rng.integers(-1, 4, (9, 11))
    npix = np.bincount(index[index >= 0], minlength=4)
    p, v = band_profiles(maps, maps, index, npix)
    for b in range(4):
        sel = index == b
        np.testing.assert_allclose(p[:, b], maps[:, sel].mean(axis=1))
        np.testing.assert_allclose(v[:, b], maps[:, sel].sum(axis=1) / sel.sum() ** 2)


def test_image_noise_ignores_steps():
    """Layers (steps along x) do not inflate the noise estimate."""
    rng = np.random.default_rng(2)
    img = np.repeat(np.repeat([0.0, 100.0, 30.0], 60)[None], 150, axis=0)
    img = img + rng.normal(0.0, 3.0, img.shape)
    assert abs(image_noise_variance(img) - 9.0) < 0.6


def test_cluster_search_ratio_judges_significant_pb_only():
    from hyperspy_perovskite.analysis.eds.maps import cluster_search_ratio

    # two halide windows of 3 and 5 channels (k = 2 and 0.5), Pb's last (k 1.5)
    w = np.zeros((12, 3))
    w[0:3, 0], w[3:8, 1], w[8:12, 2] = 1.0, 1.0, 1.0
    ratio = np.array([[3.0, 2.9, 0.1]])
    var = np.full((1, 3), 0.01)
    pb = np.array([[400.0, 3.0, 50.0]])  # 3 counts: not 2 sigma of 3
    r, v = cluster_search_ratio(ratio, var, pb, pb, [2.0, 0.5, 1.5], w, 2.0)
    assert np.isnan(r[0, 1]) and r[0, 0] == 3.0 and r[0, 2] == 0.1
    floor = 4.0 * 3 + 0.25 * 5  # k^2 x channels of each halide window
    np.testing.assert_allclose(v, 0.01 + floor / (1.5 * np.maximum(pb, 1.0)) ** 2)


def test_layer_mask_end_layers_reach_beyond_the_line():
    from hyperspy_perovskite.analysis.eds.maps import layer_mask

    s = np.array([-10.0, 0.0, 50.0, 99.0, 100.0, 150.0, 210.0])
    assert layer_mask(s, [(0.0, 100.0)], 200.0).tolist() == [1, 1, 1, 1, 0, 0, 0]
    assert layer_mask(s, [(100.0, 200.0)], 200.0).tolist() == [0, 0, 0, 0, 1, 1, 1]
    both = layer_mask(s, [(0.0, 50.0), (150.0, 200.0)], 200.0)
    assert both.tolist() == [1, 1, 0, 0, 0, 1, 1]
