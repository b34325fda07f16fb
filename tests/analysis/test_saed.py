"""Profile decomposition algorithms against exact synthetic profiles."""

import dask.array as da
import numpy as np
import pytest

from hyperspy_perovskite.analysis.saed import (
    decompose_profiles,
    design_matrix,
    estimate_ring_width,
    find_ring_peaks,
    refine_widths,
)

G = np.linspace(0.1, 0.6, 400)
RINGS = [0.157, 0.222, 0.272, 0.314, 0.351]


def _profiles(n=5, ring_w=0.012, halo_w=0.05):
    D = design_matrix(G, RINGS, ring_w, 0.314, halo_w, 2)
    rng = np.random.default_rng(0)
    coef = np.abs(rng.normal(1.0, 0.3, (n, D.shape[1])))
    return D, coef, coef @ D.T


def test_decompose_exact_numpy_and_dask():
    D, coef, P = _profiles()
    got = decompose_profiles(P, D, len(RINGS) + 1)
    want = coef[:, : len(RINGS) + 1] * D[:, : len(RINGS) + 1].sum(0)
    np.testing.assert_allclose(got, want, rtol=1e-8)
    lazy = decompose_profiles(da.from_array(P, chunks=(2, -1)), D, len(RINGS) + 1)
    assert isinstance(lazy, da.Array)
    np.testing.assert_allclose(lazy.compute(), got)


def test_refine_widths_recovers():
    D, coef, P = _profiles(ring_w=0.011, halo_w=0.045)
    wr, wh = refine_widths(G, P[:2], RINGS, 0.008, 0.314, 0.03, 2)
    assert wr == pytest.approx(0.011, rel=1e-3)
    assert wh == pytest.approx(0.045, rel=1e-3)
    wr2, none = refine_widths(G, P[:2], RINGS, 0.008, None, None, 2)
    assert none is None and wr2 > 0


def test_estimate_ring_width():
    g = np.linspace(0.1, 0.5, 200)
    p = 5 * g * np.exp(-0.5 * ((g - 0.3) / 0.01) ** 2) + 0.2 + 0.1 * g
    assert estimate_ring_width(g, p, 0.3) == pytest.approx(0.01, rel=1e-3)
    with pytest.raises(ValueError, match="Too few"):
        estimate_ring_width(g, p, 0.3, half_window=0.002)


def test_find_ring_peaks_strongest_first():
    D, coef, P = _profiles(n=1)
    rng = np.random.default_rng(1)
    prof = P[0] * 100 + rng.normal(0, 0.1, G.size)
    gp, prom = find_ring_peaks(G, prof, noise=0.1, smooth=4.0)
    assert np.all(np.diff(prom) <= 0)
    for r in RINGS:
        assert np.min(np.abs(gp - r)) < 0.003  # also (002) under the halo
    assert len(find_ring_peaks(G, prof, smooth=4.0)[0]) >= len(RINGS)  # robust noise


def test_design_matrix_bad():
    with pytest.raises(ValueError, match="positive"):
        design_matrix(G, RINGS, 0.0)
    with pytest.raises(ValueError, match="positive"):
        design_matrix(G, RINGS, 0.01, 0.3, None)
    with pytest.raises(ValueError, match="background_order"):
        design_matrix(G, RINGS, 0.01, background_order=-1)
