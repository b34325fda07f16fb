"""Small dense linear algebra of the engine (no allocation, GIL-free)."""

import math

from numba import njit

from hyperspy_perovskite._numba_cache import njit_internal

# The linear parameters are solved after an accepted step that lowered
# chi-squared by more than this fraction; closer to the minimum they are
# already at their optimum and the solve would cost more than it saves.
_LINEAR_SOLVE_MIN_DECREASE = 1e-3


@njit(nogil=True, error_model="numpy", inline="always", _nrt=False)
def _contract(M, Mr, active, src, scale, JtJ, Jtr):
    """Normal equations of the free parameters from those of the active ones.

    Measured and not pursued (session 15, main 17043dc): 0.15 us per call
    for the two-band + continuous-tail model (11 active, 10 free
    parameters), once per accepted iteration; precomputed active -> free
    maps (about 35 % faster, session 14) would save about 0.05 us of a
    binned iteration's 2.7-2.9 us, under 1 us of CPU per spectrum of
    bench_cl_fit's map, for a change of ``evaluate``'s signature (every
    model's cached machine code).
    """
    nf = Jtr.shape[0]
    na = active.shape[0]
    for k in range(nf):
        Jtr[k] = 0.0
        for q in range(nf):
            JtJ[k, q] = 0.0
    for ia in range(na):
        sa = src[active[ia]]
        ca = scale[active[ia]]
        Jtr[sa] += ca * Mr[ia]
        for ib in range(na):
            JtJ[sa, src[active[ib]]] += ca * scale[active[ib]] * M[ia, ib]


@njit_internal(nogil=True, error_model="numpy", _nrt=False)
def _solve_linear_parameters(
    theta,
    P,
    chi2,
    M,
    Mr,
    JtJ,
    Jtr,
    active,
    src,
    scale,
    amplitude_of,
    lower,
    upper,
    lin,
    H,
    b,
    L,
    delta,
    fac,
    dP,
    work,
):
    """Move the linear parameters to their exact optimum; return the new chi2.

    The model is linear in the free parameters ``lin`` (indices: an
    Offset, Polynomial coefficients, the amplitude of a component that is
    amplitude x shape), so with the others held, the least-squares step
    ``H delta = b`` (``H``, ``b`` the linear block of ``J^T W J`` and
    ``J^T W r``) reaches their optimum exactly and lowers chi-squared by
    ``delta . b``. The normal equations at the new point follow without
    evaluating the model: a column of a linear parameter does not change,
    the column of a parameter ``p`` of an amplitude x shape component scales
    by ``f_p`` = new / old amplitude, and the residual changes by minus the
    linear columns times ``delta``, so ``M' = f M f`` and ``Mr' = f (Mr - M
    dP)`` on the active parameters (variable projection, Golub & Pereyra,
    SIAM J. Numer. Anal. 10, 413 (1973), applied after every accepted
    Levenberg-Marquardt step). Nothing changes if the step would cross a
    bound, ``H`` is not positive definite or an amplitude is zero.
    """
    nf = theta.shape[0]
    na = active.shape[0]
    nl = lin.shape[0]
    if nl == 0:
        return chi2
    for i in range(nl):
        b[i] = Jtr[lin[i]]
        for j in range(nl):
            H[i, j] = JtJ[lin[i], lin[j]]
    if not _cholesky_solve(H, b, L, delta, nl):
        return chi2
    decrease = 0.0
    for i in range(nl):
        t = theta[lin[i]] + delta[i]
        if not (lower[lin[i]] <= t <= upper[lin[i]]):
            return chi2
        decrease += delta[i] * b[i]
    new_chi2 = chi2 - decrease
    if not (math.isfinite(new_chi2) and 0.0 <= new_chi2 <= chi2):
        return chi2
    # step of every free parameter (zero for the non-linear ones)
    for k in range(nf):
        work[k] = 0.0
    for i in range(nl):
        work[lin[i]] = delta[i]
    for ia in range(na):
        p = active[ia]
        dP[ia] = scale[p] * work[src[p]]
        q = amplitude_of[p]
        fac[ia] = 1.0
        if q >= 0:
            old = P[q]
            new = old + (scale[q] * work[src[q]] if src[q] >= 0 else 0.0)
            if old == 0.0 or not math.isfinite(new):
                return chi2
            fac[ia] = new / old
    for ia in range(na):
        acc = Mr[ia]
        for ib in range(na):
            acc -= M[ia, ib] * dP[ib]
        work[nf + ia] = fac[ia] * acc
    for ia in range(na):
        Mr[ia] = work[nf + ia]
        for ib in range(na):
            M[ia, ib] *= fac[ia] * fac[ib]
    for i in range(nl):
        theta[lin[i]] += delta[i]
    _contract(M, Mr, active, src, scale, JtJ, Jtr)
    return new_chi2


@njit(nogil=True, error_model="numpy", inline="always", _nrt=False)
def _cholesky_factor(A, L, n, damping=0.0):
    """``L L^T = A`` over the leading ``n`` x ``n`` block (lower ``L``).

    With ``damping``, of ``A`` with Marquardt's damping on its diagonal,
    ``A_jj + damping max(A_jj, 1e-300)`` (the Levenberg-Marquardt step's
    matrix, without a copy of ``A``). Returns False when the matrix is not
    positive definite. Column by column:
    every entry is the same sum in the same order as row by row
    (``A[i, j] - L[i, 0] L[j, 0] - L[i, 1] L[j, 1] - ...``, then the
    square root or the division), so the factor is bit for bit the same,
    and the first diagonal entry that fails is the same one; but the
    entries of a column do not wait for each other, so the processor
    overlaps their sums (10 x 10: 240 -> 135 ns).
    """
    for j in range(n):
        s = A[j, j]
        if damping != 0.0:
            s = s + damping * (s if s > 1e-300 else 1e-300)
        for k in range(j):
            s -= L[j, k] * L[j, k]
        if not (s > 0.0) or not math.isfinite(s):
            return False
        d = math.sqrt(s)
        L[j, j] = d
        for i in range(j + 1, n):
            t = A[i, j]
            for k in range(j):
                t -= L[i, k] * L[j, k]
            L[i, j] = t / d
    return True


@njit(nogil=True, error_model="numpy", inline="always", _nrt=False)
def _cholesky_substitute(L, rhs, out, n):
    """Solve ``L L^T out = rhs`` (forward then backward substitution)."""
    for i in range(n):
        s = rhs[i]
        for k in range(i):
            s -= L[i, k] * out[k]
        out[i] = s / L[i, i]
    for i in range(n - 1, -1, -1):
        s = out[i]
        for k in range(i + 1, n):
            s -= L[k, i] * out[k]
        out[i] = s / L[i, i]


@njit_internal(nogil=True, error_model="numpy", _nrt=False)
def _cholesky_solve(A, rhs, L, out, n=-1, damping=0.0):
    """Solve ``A out = rhs`` for symmetric positive definite ``A``.

    Only the leading ``n`` x ``n`` block is used when ``n >= 0`` (no slicing:
    the engine calls this for tiny systems in its inner loop); ``damping``:
    of the damped matrix (:func:`_cholesky_factor`). Returns False when
    the matrix is not positive definite.
    """
    if n < 0:
        n = A.shape[0]
    if not _cholesky_factor(A, L, n, damping):
        return False
    _cholesky_substitute(L, rhs, out, n)
    return True


@njit_internal(nogil=True, error_model="numpy", _nrt=False)
def _inverse_diagonal(A, L, col, diag):
    """Diagonal of ``A^-1`` for symmetric positive definite ``A``; False if singular.

    ``A^-1 = L^-T L^-1``, so its ``k``-th diagonal entry is the squared norm
    of column ``k`` of ``L^-1``, which forward substitution gives from row
    ``k`` on (``n^3 / 6`` multiply-adds in all, not the ``n^3`` of ``n``
    solves).
    """
    n = A.shape[0]
    if not _cholesky_factor(A, L, n):
        return False
    for k in range(n):
        diag[k] = _inverse_column_norm(L, k, n, col)
    return True


@njit(nogil=True, error_model="numpy", inline="always", _nrt=False)
def _inverse_column_norm(L, k, n, col):
    """Squared norm of column ``k`` of ``L^-1`` (``L`` lower triangular,
    ``n`` x ``n``): entry ``k`` of the diagonal of ``(L L^T)^-1``. Forward
    substitution from row ``k`` on; rows ``k..n-1`` of ``col`` hold the
    column after."""
    z = 1.0 / L[k, k]
    col[k] = z
    acc = z * z
    for i in range(k + 1, n):
        s = 0.0
        for m in range(k, i):
            s -= L[i, m] * col[m]
        z = s / L[i, i]
        col[i] = z
        acc += z * z
    return acc


@njit(nogil=True, error_model="numpy", inline="always", _nrt=False)
def _inverse_from_factor(L, K, C, n):
    """``C = A^-1`` from the Cholesky factor ``L`` of ``A`` (``A = L L^T``):
    ``K = L^-1`` by forward substitution, column by column from the
    diagonal (``n^3 / 6`` multiply-adds), then ``C = K^T K`` (``n^3 / 6``
    more, each entry once for both triangles). ``K`` is a work array.

    The sandwich (``_levenberg_marquardt.sandwich_deviations``) takes
    ``diag(B^-1 S B^-1)`` from it: ``u^T S u`` with ``u`` a column of
    ``B^-1``. Before (session 17) each column came from two substitutions
    on a unit vector, chains of dependent multiply-adds: 10 x 10, 2.4 us of
    the sandwich's 8.1 (idle; the scaled product 3.4, the scaling and
    square roots 2.1). Measured on bench_cl_fit's map (a full-resolution
    fit with no iteration, the sandwich's share per pixel, two alternating
    pairs, load 5-6): 7.45 / 8.49 -> 6.73 / 6.62 us, about 19000
    sandwiches per fit of the map (-25 ms of CPU). The same deviations to
    5e-12 (relative) on held and shared maps, 3e-8 on the asymmetric
    bands' (``cl_same_maps``); where ``B`` is nearly singular (deviations
    above 10^3 of the value, no such pixel valid) both are rounding and
    differ by up to their size, which moved one pixel's second-band
    validity on two of the six free maps (2739 -> 2740, 2717 -> 2716 of
    4096); band validity unchanged.
    """
    for k in range(n):
        K[k, k] = 1.0 / L[k, k]
        for i in range(k + 1, n):
            s = 0.0
            for m in range(k, i):
                s -= L[i, m] * K[m, k]
            K[i, k] = s / L[i, i]
    for a in range(n):
        for b in range(a, n):
            s = 0.0
            for m in range(b, n):
                s += K[m, a] * K[m, b]
            C[a, b] = s
            C[b, a] = s
