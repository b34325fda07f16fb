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


@njit
def _damped_solve(A, b, L, out, lam):
    return _linalg._cholesky_solve(A, b, L, out, A.shape[0], lam)


@njit
def _factor(A, L):
    return _linalg._cholesky_factor(A, L, A.shape[0])


def _row_by_row(A):
    """The factor row by row (the engine's order before session 14), in Python."""
    n = A.shape[0]
    L = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1):
            s = A[i, j]
            for k in range(j):
                s -= L[i, k] * L[j, k]
            L[i, j] = np.sqrt(s) if i == j else s / L[j, j]
    return L


@pytest.mark.parametrize("n", [1, 2, 3, 10, 11])
def test_cholesky_factor_is_the_row_by_row_sum_bit_for_bit(n):
    """Column by column, each entry is the same sum in the same order: the
    same bits as the row-by-row factor (so the fits do not move)."""
    rng = np.random.default_rng(10 + n)
    for _ in range(50):
        X = rng.normal(size=(n, 3 * n)) * rng.lognormal(0, 3, size=n)[:, None]
        A = X @ X.T
        L = np.zeros((n, n))
        assert _factor(A, L)
        assert np.array_equal(np.tril(L), _row_by_row(A))


@pytest.mark.parametrize("lam", [1e-3, 0.1, 10.0])
def test_damped_solve_is_marquardts_step(lam):
    """``damping``: the solve of ``A + lam diag(A)`` (a zero diagonal entry
    counts as 1e-300), A itself untouched."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(6, 18)) * np.logspace(0, 4, 6)[:, None]
    A = X @ X.T
    b = rng.normal(size=6)
    A0 = A.copy()
    out = np.zeros(6)
    assert _damped_solve(A, b, np.zeros((6, 6)), out, lam)
    D = A + lam * np.diag(np.maximum(np.diag(A), 1e-300))
    np.testing.assert_allclose(out, np.linalg.solve(D, b), rtol=1e-9)
    assert np.array_equal(A, A0)
    # an indefinite matrix that damping makes definite, and one it cannot
    B = np.array([[1.0, 1.2], [1.2, 1.0]])
    assert not _solve(B, np.ones(2), np.zeros((2, 2)), np.zeros(2))
    assert _damped_solve(B, np.ones(2), np.zeros((2, 2)), np.zeros(2), 1.0)
    C = np.array([[-1.0, 0.0], [0.0, 1.0]])
    assert not _damped_solve(C, np.ones(2), np.zeros((2, 2)), np.zeros(2), 10.0)


@njit
def _inverse(A, L, K, C):
    n = A.shape[0]
    ok = _linalg._cholesky_factor(A, L, n)
    if ok:
        _linalg._inverse_from_factor(L, K, C, n)
    return ok


@pytest.mark.parametrize("n", [1, 2, 3, 4, 10, 11])
def test_inverse_from_the_factor_equals_numpy(n):
    """The whole inverse from the Cholesky factor (the sandwich's
    ``B^-1``), symmetric bit for bit, and its diagonal that of
    :func:`_inverse_diagonal`, on well and badly conditioned systems."""
    rng = np.random.default_rng(10 + n)
    X = rng.normal(size=(n, 3 * n)) * np.logspace(0, 6, n)[:, None]
    A = X @ X.T
    C = np.full((n, n), np.nan)
    assert _inverse(A, np.zeros((n, n)), np.zeros((n, n)), C)
    np.testing.assert_allclose(C, np.linalg.inv(A), rtol=1e-8, atol=0)
    np.testing.assert_array_equal(C, C.T)
    diag = np.zeros(n)
    assert _inv_diag(A, np.zeros((n, n)), np.zeros(n), diag)
    np.testing.assert_allclose(np.diag(C), diag, rtol=1e-12)
