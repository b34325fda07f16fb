"""_normal_products (the tiles of the normal equations) against NumPy."""

import numpy as np
import pytest
from numba import njit

from hyperspy_perovskite.fitting._normal_equations import _normal_products


@njit
def _products(G, rb, active, M, Mr):
    _normal_products(G, rb, active, M, Mr)


@pytest.mark.parametrize("n_active", range(1, 14))
@pytest.mark.parametrize("n_ch", [5, 128])
def test_normal_products_equal_numpy(n_active, n_ch):
    # every tile shape: 4-row tiles, a last tile of 1, 2 (repeated rows) or
    # 3 rows, and the off-diagonal 4 x 3 tiles; rows in any order
    rng = np.random.default_rng(n_active * 100 + n_ch)
    G = rng.normal(size=(n_active + 3, n_ch))
    rb = rng.normal(size=n_ch)
    active = rng.permutation(n_active + 3)[:n_active].astype(np.int64)
    M = np.full((n_active, n_active), np.nan)
    Mr = np.full(n_active, np.nan)
    _products(G, rb, active, M, Mr)
    Ga = G[active]
    np.testing.assert_allclose(M, Ga @ Ga.T, rtol=1e-12, atol=1e-12 * n_ch)
    np.testing.assert_allclose(Mr, Ga @ rb, rtol=1e-12, atol=1e-12 * n_ch)
    np.testing.assert_array_equal(M, M.T)
