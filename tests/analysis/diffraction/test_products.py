"""Product detection: calibrated false positives on noise, Friedel pairs found."""

import numpy as np

from hyperspy_perovskite.analysis.diffraction.products import (
    band_pvalues,
    detect_products,
    identify,
    make_bands,
    ring_sectors,
)

K = 64
KPIX = 0.0191  # 1/A per pixel


def _background(rng, n):
    """Poisson patterns of a smooth diffuse background with a halo and a
    continuous ring (radial gradients across every band)."""
    yy, xx = np.indices((K, K))
    g = np.hypot(xx - 31.5, yy - 31.5) * KPIX
    lam = 3.0 / (1 + (g / 0.15) ** 2) ** 1.5 + 0.8 * np.exp(
        -0.5 * ((g - 0.42) / 0.02) ** 2
    )
    return rng.poisson(lam, (n, K, K)).astype(float)


def _run(p):
    b = make_bands(["Pb"], (0.2, 0.55), 2 * KPIX, kpix=KPIX)
    c = np.full((len(p), 2), 31.5)
    tab = ring_sectors(p, c, (31.5, 31.5), np.ones((K, K), bool), b)
    return b, band_pvalues(tab, b["n_half"])


def test_false_positive_rate_at_most_alpha():
    rng = np.random.default_rng(0)
    _, pv = _run(_background(rng, 4000))
    pmin = np.nanmin(pv, axis=-1) * pv.shape[-1]  # Bonferroni over bands
    for alpha in (0.1, 0.01):
        assert (pmin < alpha).mean() <= alpha * 1.2


def test_friedel_pair_found_and_identified():
    rng = np.random.default_rng(1)
    p = _background(rng, 20)
    b, _ = _run(p[:1])
    r = b["centre_px"][0]  # Pb 111
    yy, xx = np.indices((K, K))
    for i in range(10):
        phi = rng.uniform(0, np.pi)
        for s in (1, -1):
            cx, cy = 31.5 + s * r * np.cos(phi), 31.5 + s * r * np.sin(phi)
            p[i] += rng.poisson(
                40 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * 1.0**2))
            )
    _, pv = _run(p)
    prod, hits, _ = detect_products(
        pv[None, :, None, :], np.ones(pv[None, :, None, :].shape, bool), 1e-4, 1
    )
    assert prod[0, :10, 0].all() and not prod[0, 10:, 0].any()
    assert hits[0, :10, 0, 0].all()  # on the 111 band
    pos, lab = identify(prod, hits, b["compatible"])
    assert (lab[0, :10, 0] == 0).all() and (lab[0, 10:, 0] == -3).all()


def test_exclude_layer_rings_only_inside_the_layer_and_near_its_rings():
    from hyperspy_perovskite.analysis.diffraction.interfaces import (
        exclude_layer_rings,
    )

    centres = np.array([0.20, 0.33, 0.50])
    half = np.full(3, 0.01)
    s = np.linspace(0.0, 100.0, 11)  # patterns every 10 nm along the stack
    usable = np.ones((11, 3), bool)
    usable[0, 1] = False  # already untestable stays so
    rings = [("A", (30.0, 50.0), np.array([0.35])), ("B", (80.0, 100.0), [0.9])]
    got, excluded = exclude_layer_rings(usable, centres, half, 0.015, s, rings, 10.0)
    # 0.33 is within 0.01 + 0.015 of A's ring at 0.35; B has no ring nearby
    inside_a = (s >= 25.0) & (s <= 55.0)
    assert excluded == {"A": [0.33]}
    np.testing.assert_array_equal(got[:, 1], usable[:, 1] & ~inside_a)
    np.testing.assert_array_equal(got[:, [0, 2]], usable[:, [0, 2]])
    assert usable.all(axis=1)[1:].all()  # the input is not modified
