"""The engine's small dense linear algebra against numpy's."""

import numpy as np
import pytest
from numba import njit

from hyperspy_perovskite.fitting import _linalg


@njit
def _solve(A, b, L, out):  # the helpers are for compiled callers only
    return _linalg._cholesky_solve(A, b, L, out, A.shape[0])


@njit
def _inv_diag(A, L, col, diag):
    return _linalg._inverse_diagonal(A, L, col, diag)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 10, 11])
def test_cholesky_solve_and_inverse_diagonal_equal_numpy(n):
    """The solve, and the diagonal of A^-1 from the columns of L^-1, on well
    and badly conditioned systems the size of the engine's."""
    rng = np.random.default_rng(n)
    X = rng.normal(size=(n, 3 * n)) * np.logspace(0, 6, n)[:, None]
    A = X @ X.T
    b = rng.normal(size=n)
    L, out = np.zeros((n, n)), np.zeros(n)
    assert _solve(A, b, L, out)
    np.testing.assert_allclose(out, np.linalg.solve(A, b), rtol=1e-9)
    diag = np.zeros(n)
    assert _inv_diag(A, np.zeros((n, n)), np.zeros(n), diag)
    np.testing.assert_allclose(diag, np.diag(np.linalg.inv(A)), rtol=1e-9)


def test_not_positive_definite_is_refused():
    A = np.array([[1.0, 2.0], [2.0, 1.0]])  # eigenvalues 3 and -1
    z = np.zeros(2)
    assert not _solve(A, np.ones(2), np.zeros((2, 2)), z.copy())
    assert not _inv_diag(A, np.zeros((2, 2)), z.copy(), z.copy())
    A[1, 1] = np.nan
    assert not _solve(A, np.ones(2), np.zeros((2, 2)), z.copy())
