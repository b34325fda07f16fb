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
