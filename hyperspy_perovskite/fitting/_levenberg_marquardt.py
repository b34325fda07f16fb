"""Compiled, batched Levenberg-Marquardt least squares over many spectra.

One serial, GIL-free numba function fits every spectrum of a block; dask
spreads blocks over threads, processes or a dask.distributed cluster, so the
same compiled code serves eager, lazy and distributed data.

The model is the sum of the compiled component kernels (registered with
:func:`hyperspy_perovskite.fitting.register_kernel`; one compiled function
per model signature, :mod:`hyperspy_perovskite.fitting._compile`), multiplied by the
bin width when the axis is binned, exactly as ``Model1D.__call__`` does. The
minimised quantity is HyperSpy's: ``sum(((y - model) * w) ** 2)`` with
``w = 1 / sqrt(variance)`` when a noise variance is set, else ``w = 1``.
Parameter standard deviations follow HyperSpy's ``_calculate_parameter_std``:
``sqrt(diag((J^T W J)^-1) * chisq / (n_channels - n_free))``.

Algorithm: Levenberg-Marquardt with Marquardt's diagonal scaling
(Marquardt, J. Soc. Ind. Appl. Math. 11, 431 (1963)); the damping starts at
0.1, is divided by 5 after an accepted step and multiplied by 10 after a
rejected one (values chosen on simulated emission maps: fewest iterations
from ``estimate_parameters`` starting values); a trial step that would cross
a bound goes halfway to it, so iterates stay feasible.

The parameters in which the model is linear (offsets, polynomial
coefficients, amplitudes of amplitude x shape components) are moved to their
exact optimum after every accepted step that lowered chi-squared by more
than 0.1 %, from the normal equations already at hand (a variable-projection
step, :func:`_solve_linear_parameters`). On two-band + Urbach-tail emission
maps this ends in lower chi-squared minima (median 16 % lower, emission
centres and Urbach energies closer to the truth); on Gaussian + Offset maps
it saves a tenth of the model evaluations, about what the solves cost. It is
not applied at the starting point, where it moved two-band + tail fits into
worse minima.
"""

import math

import numpy as np
from numba import njit

from hyperspy_perovskite.fitting.flags import (
    CONVERGED,
    MAX_ITERATIONS,
    NOT_FINITE_RESULT,
    SINGULAR,
)

# The linear parameters are solved after an accepted step that lowered
# chi-squared by more than this fraction; closer to the minimum they are
# already at their optimum and the solve would cost more than it saves.
_LINEAR_SOLVE_MIN_DECREASE = 1e-3

# ``model_block`` (and ``_chi2_and_normal``) are bound per model signature by
# hyperspy_perovskite.fitting._compile; these placeholders only say so.
model_block = None

# Columns of the per-pixel output row, after the 2 * n_parameters values/stds.
N_EXTRA_COLUMNS = 3  # chisq, flag, iterations


@njit(nogil=True, error_model="numpy", _nrt=False)
def _expand(theta, P, src, scale, shift):
    """Write the free vector ``theta`` into the full parameter vector ``P``."""
    for i in range(P.shape[0]):
        s = src[i]
        if s >= 0:
            P[i] = scale[i] * theta[s] + shift[i]


# Reassociation lets LLVM vectorise the channel reductions; NaN/inf semantics
# are kept (no "nnan"/"ninf"), so a non-finite chi-squared is still seen.
_REDUCE = {"reassoc", "contract"}


@njit(nogil=True, error_model="numpy", fastmath=_REDUCE, _nrt=False)
def _normal_products(G, rb, bw2, unit_weights, active, M, Mr):
    """``M = G_a W2 G_a^T`` and ``Mr = G_a rb`` over the ``active`` rows of ``G``.

    ``W2 = diag(bw2)`` unless ``unit_weights``. The rows are taken four at a
    time: one sweep over the channels gives a diagonal 4 x 4 tile (10
    products) and the four products with ``rb``, one sweep per off-diagonal
    tile gives 16 products, so every load of a row serves several products
    and the accumulators vectorise (Gaussian + Offset: one sweep in all).
    Rows past the last are repeats of it, computed and not stored.
    """
    na = active.shape[0]
    n_ch = G.shape[1]
    last = na - 1
    for ti in range(0, na, 4):
        a0 = active[ti]
        a1 = active[min(ti + 1, last)]
        a2 = active[min(ti + 2, last)]
        a3 = active[min(ti + 3, last)]
        r0 = r1 = r2 = r3 = 0.0
        m00 = m01 = m02 = m03 = m11 = m12 = m13 = m22 = m23 = m33 = 0.0
        for j in range(n_ch):
            g0 = G[a0, j]
            g1 = G[a1, j]
            g2 = G[a2, j]
            g3 = G[a3, j]
            rj = rb[j]
            r0 += g0 * rj
            r1 += g1 * rj
            r2 += g2 * rj
            r3 += g3 * rj
            if not unit_weights:
                wj = bw2[j]
                g0 *= wj
                g1 *= wj
                g2 *= wj
                g3 *= wj
                # the second factor unweighted: re-read the rows
                m00 += g0 * G[a0, j]
                m01 += g0 * G[a1, j]
                m02 += g0 * G[a2, j]
                m03 += g0 * G[a3, j]
                m11 += g1 * G[a1, j]
                m12 += g1 * G[a2, j]
                m13 += g1 * G[a3, j]
                m22 += g2 * G[a2, j]
                m23 += g2 * G[a3, j]
                m33 += g3 * G[a3, j]
            else:
                m00 += g0 * g0
                m01 += g0 * g1
                m02 += g0 * g2
                m03 += g0 * g3
                m11 += g1 * g1
                m12 += g1 * g2
                m13 += g1 * g3
                m22 += g2 * g2
                m23 += g2 * g3
                m33 += g3 * g3
        _store_tile(
            M, Mr, ti, ti, na, r0, r1, r2, r3,
            m00, m01, m02, m03, m01, m11, m12, m13,
            m02, m12, m22, m23, m03, m13, m23, m33,
        )  # fmt: skip
        for tj in range(ti + 4, na, 4):
            b0 = active[tj]
            b1 = active[min(tj + 1, last)]
            b2 = active[min(tj + 2, last)]
            b3 = active[min(tj + 3, last)]
            t00 = t01 = t02 = t03 = t10 = t11 = t12 = t13 = 0.0
            t20 = t21 = t22 = t23 = t30 = t31 = t32 = t33 = 0.0
            for j in range(n_ch):
                g0 = G[a0, j]
                g1 = G[a1, j]
                g2 = G[a2, j]
                g3 = G[a3, j]
                if not unit_weights:
                    wj = bw2[j]
                    g0 *= wj
                    g1 *= wj
                    g2 *= wj
                    g3 *= wj
                h0 = G[b0, j]
                h1 = G[b1, j]
                h2 = G[b2, j]
                h3 = G[b3, j]
                t00 += g0 * h0
                t01 += g0 * h1
                t02 += g0 * h2
                t03 += g0 * h3
                t10 += g1 * h0
                t11 += g1 * h1
                t12 += g1 * h2
                t13 += g1 * h3
                t20 += g2 * h0
                t21 += g2 * h1
                t22 += g2 * h2
                t23 += g2 * h3
                t30 += g3 * h0
                t31 += g3 * h1
                t32 += g3 * h2
                t33 += g3 * h3
            _store_tile(
                M, Mr, ti, tj, na, 0.0, 0.0, 0.0, 0.0,
                t00, t01, t02, t03, t10, t11, t12, t13,
                t20, t21, t22, t23, t30, t31, t32, t33,
            )  # fmt: skip


@njit(nogil=True, error_model="numpy", inline="always", _nrt=False)
def _store_tile(
    M, Mr, ti, tj, na, r0, r1, r2, r3,
    t00, t01, t02, t03, t10, t11, t12, t13,
    t20, t21, t22, t23, t30, t31, t32, t33,
):  # fmt: skip
    """Store the valid entries of a 4 x 4 tile (and, on the diagonal, of ``Mr``)."""
    tile = (
        (t00, t01, t02, t03),
        (t10, t11, t12, t13),
        (t20, t21, t22, t23),
        (t30, t31, t32, t33),
    )
    rr = (r0, r1, r2, r3)
    for i in range(4):
        if ti + i >= na:
            break
        if ti == tj:
            Mr[ti + i] = rr[i]
        for k in range(4):
            if tj + k >= na:
                break
            M[ti + i, tj + k] = tile[i][k]
            M[tj + k, ti + i] = tile[i][k]


# --- Templates compiled once per model by hyperspy_perovskite.fitting._compile,
# with ``model_block`` (and ``_chi2_and_normal``) bound to the model's kernels.


def _chi2_and_normal(
    theta,
    P,
    grad,
    f,
    G,
    rb,
    bw,
    bw2,
    unit_weights,
    active,
    M,
    Mr,
    JtJ,
    Jtr,
    x,
    y,
    w,
    binw,
    src,
    scale,
    shift,
    offsets,
    consts,
):
    """chi-squared, ``J^T W J`` (full, symmetric) and ``J^T W r`` at ``theta``.

    ``G`` (n_params, n_channels) receives the model gradients. The weighted
    Jacobian column of free parameter ``s`` is ``sum_i scale[i] G[i] bw`` over
    the parameters ``i`` with ``src[i] == s`` (``bw`` = bin width x weight),
    so the normal equations are reductions over the rows of ``G`` of the
    ``active`` (non-fixed) parameters (:func:`_normal_products`; ``bw2 =
    bw ** 2``, ``rb`` = weighted residual x ``bw``), contracted to the free
    parameters through ``src`` and ``scale``. With
    ``unit_weights`` (unbinned, unweighted) the weights are skipped.
    """
    _expand(theta, P, src, scale, shift)
    model_block(x, P, offsets, consts, grad, f, G)
    n_ch = x.shape[0]
    chi2 = 0.0
    if unit_weights:
        for j in range(n_ch):
            rj = y[j] - f[j]
            rb[j] = rj
            chi2 += rj * rj
    else:
        for j in range(n_ch):
            rj = (y[j] - f[j] * binw[j]) * w[j]
            rb[j] = rj * bw[j]
            chi2 += rj * rj
    _normal_products(G, rb, bw2, unit_weights, active, M, Mr)
    _contract(M, Mr, active, src, scale, JtJ, Jtr)
    return chi2


@njit(nogil=True, error_model="numpy", _nrt=False)
def _contract(M, Mr, active, src, scale, JtJ, Jtr):
    """Normal equations of the free parameters from those of the active ones."""
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


@njit(nogil=True, error_model="numpy", _nrt=False)
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


@njit(nogil=True, error_model="numpy", _nrt=False)
def _cholesky_solve(A, rhs, L, out, n=-1):
    """Solve ``A out = rhs`` for symmetric positive definite ``A``.

    Only the leading ``n`` x ``n`` block is used when ``n >= 0`` (no slicing:
    the engine calls this for tiny systems in its inner loop). Returns False
    when ``A`` is not positive definite.
    """
    if n < 0:
        n = A.shape[0]
    for i in range(n):
        for j in range(i + 1):
            s = A[i, j]
            for k in range(j):
                s -= L[i, k] * L[j, k]
            if i == j:
                if not (s > 0.0) or not math.isfinite(s):
                    return False
                L[i, i] = math.sqrt(s)
            else:
                L[i, j] = s / L[j, j]
    # forward then backward substitution
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
    return True


@njit(nogil=True, error_model="numpy", _nrt=False)
def _inverse_diagonal(A, L, e, col, diag):
    """Diagonal of ``A^-1`` for symmetric positive definite ``A``; False if singular."""
    n = A.shape[0]
    for k in range(n):
        for i in range(n):
            e[i] = 0.0
        e[k] = 1.0
        if not _cholesky_solve(A, e, L, col):
            return False
        diag[k] = col[k]
    return True


@njit(nogil=True, error_model="numpy", _nrt=False)
def _channel_weights(binw, w, bw, bw2):
    """``bw = binw * w`` and ``bw2 = bw ** 2``; True when all are one (no weights)."""
    n_other = 0
    for j in range(w.shape[0]):
        bw[j] = binw[j] * w[j]
        bw2[j] = bw[j] * bw[j]
        n_other += (bw[j] != 1.0) | (w[j] != 1.0)
    return n_other == 0


def fit_block(
    x,
    Y,
    V,
    P0,
    flags_in,
    binw,
    src,
    scale,
    shift,
    theta_index,
    lower,
    upper,
    offsets,
    consts,
    amplitude_of,
    theta_linear,
    max_iterations,
    ftol,
    xtol,
    linear_solve,
):
    """Fit every row of ``Y``; return ``(n_pixels, 2 n_params + 3)`` results.

    Parameters
    ----------
    x : (n_channels,) float64
        Axis values of the fitted channels.
    Y : (n_pixels, n_channels) float64
        Data of the fitted channels.
    V : (n_pixels, n_channels) or (1, 1) float64
        Noise variance; a ``(1, 1)`` array means unweighted when it holds
        ``nan``, or one variance for all when it holds a number.
    P0 : (n_pixels, n_params) float64
        Starting values of all parameters (fixed ones hold their values).
    flags_in : (n_pixels,) int8
        Pixels with a non-zero flag are not fitted and keep that flag.
    binw : (n_channels,) float64
        Bin widths (ones for an unbinned axis).
    src, scale, shift : (n_params,)
        ``P[i] = scale[i] * theta[src[i]] + shift[i]`` where ``src[i] >= 0``.
    theta_index : (n_free,) int64
        For each free parameter, its index in ``P`` (to start ``theta``).
    lower, upper : (n_free,) float64
        Bounds (``-inf``/``inf`` where unbounded).
    offsets, consts
        The model description: index of each component's first parameter
        in ``P`` (one more entry: ``n_params``) and its constants.
    amplitude_of : (n_params,) int64
        For a parameter of an amplitude x shape component (other than the
        amplitude), the index in ``P`` of that amplitude; -1 otherwise.
    theta_linear : (n_free,) bool
        Free parameters in which the model is linear.
    max_iterations : int
    ftol, xtol : float
        Relative chi-squared decrease and relative step size that end the fit.
    linear_solve : bool
        Move the linear parameters to their exact optimum after every
        accepted step (:func:`_solve_linear_parameters`).
    """
    n_pix, n_ch = Y.shape
    n_p = P0.shape[1]
    nf = theta_index.shape[0]
    out = np.full((n_pix, 2 * n_p + 3), np.nan)
    P = np.empty(n_p)
    grad = np.zeros(n_p)
    f = np.empty(n_ch)
    G = np.zeros((n_p, n_ch))
    rb = np.empty(n_ch)
    bw = np.empty(n_ch)
    bw2 = np.empty(n_ch)
    active = np.nonzero(src >= 0)[0]
    na = active.shape[0]
    M = np.empty((na, na))
    Mr = np.empty(na)
    lin = np.nonzero(theta_linear)[0]
    H = np.empty((nf, nf))
    b_lin = np.empty(nf)
    L_lin = np.zeros((nf, nf))
    d_lin = np.empty(nf)
    fac = np.empty(na)
    dP = np.empty(na)
    work = np.empty(nf + na)
    linear_solve = linear_solve and lin.shape[0] > 0
    JtJ = np.empty((nf, nf))
    Jtr = np.empty(nf)
    JtJ_t = np.empty((nf, nf))
    Jtr_t = np.empty(nf)
    A = np.empty((nf, nf))
    L = np.zeros((nf, nf))
    delta = np.empty(nf)
    theta = np.empty(nf)
    theta_t = np.empty(nf)
    e = np.empty(nf)
    col = np.empty(nf)
    diag = np.empty(nf)
    w = np.ones(n_ch)
    per_pixel_var = V.shape[0] == n_pix and V.shape[1] == n_ch
    scalar_var = V.shape[0] == 1 and V.shape[1] == 1 and math.isfinite(V[0, 0])
    if scalar_var:
        w[:] = 1.0 / math.sqrt(V[0, 0])
    # weights shared by every pixel unless each has its own variance
    unit_weights = _channel_weights(binw, w, bw, bw2)
    for p in range(n_pix):
        if flags_in[p] != 0:
            out[p, 2 * n_p + 1] = flags_in[p]
            out[p, 2 * n_p + 2] = 0
            continue
        y = Y[p]
        if per_pixel_var:
            for j in range(n_ch):
                w[j] = 1.0 / math.sqrt(V[p, j])
            unit_weights = _channel_weights(binw, w, bw, bw2)
        for i in range(n_p):
            P[i] = P0[p, i]
        for k in range(nf):
            t = P0[p, theta_index[k]]
            if t < lower[k]:
                t = lower[k]
            elif t > upper[k]:
                t = upper[k]
            theta[k] = t
        chi2 = _chi2_and_normal(
            theta,
            P,
            grad,
            f,
            G,
            rb,
            bw,
            bw2,
            unit_weights,
            active,
            M,
            Mr,
            JtJ,
            Jtr,
            x,
            y,
            w,
            binw,
            src,
            scale,
            shift,
            offsets,
            consts,
        )
        flag = MAX_ITERATIONS
        lam = 0.1
        it = 0
        if not math.isfinite(chi2):
            flag = NOT_FINITE_RESULT
        elif chi2 == 0.0 or nf == 0:
            flag = CONVERGED
        else:
            while it < max_iterations:
                it += 1
                for a in range(nf):
                    for b in range(nf):
                        A[a, b] = JtJ[a, b]
                    d = JtJ[a, a]
                    A[a, a] = d + lam * (d if d > 1e-300 else 1e-300)
                if not _cholesky_solve(A, Jtr, L, delta):
                    lam *= 10.0
                    if lam > 1e20:
                        flag = SINGULAR
                        break
                    continue
                # predicted decrease of chi-squared for the linearised model
                pred = 0.0
                for a in range(nf):
                    pred += delta[a] * (
                        lam * max(JtJ[a, a], 1e-300) * delta[a] + Jtr[a]
                    )
                if pred <= ftol * chi2:
                    # no step can lower chi-squared by a relative ftol (MINPACK's test)
                    flag = CONVERGED
                    break
                step = 0.0
                for k in range(nf):
                    t = theta[k] + delta[k]
                    # a step across a bound goes halfway to it: iterates stay
                    # feasible and interior (sigma never hits 0 in one jump)
                    if t < lower[k]:
                        t = 0.5 * (theta[k] + lower[k])
                    elif t > upper[k]:
                        t = 0.5 * (theta[k] + upper[k])
                    theta_t[k] = t
                    rel = abs(t - theta[k]) / (abs(theta[k]) + xtol)
                    if rel > step:
                        step = rel
                chi2_t = _chi2_and_normal(
                    theta_t,
                    P,
                    grad,
                    f,
                    G,
                    rb,
                    bw,
                    bw2,
                    unit_weights,
                    active,
                    M,
                    Mr,
                    JtJ_t,
                    Jtr_t,
                    x,
                    y,
                    w,
                    binw,
                    src,
                    scale,
                    shift,
                    offsets,
                    consts,
                )
                if math.isfinite(chi2_t) and chi2_t < chi2:
                    decrease = (chi2 - chi2_t) / chi2
                    for k in range(nf):
                        theta[k] = theta_t[k]
                        Jtr[k] = Jtr_t[k]
                        for b in range(nf):
                            JtJ[k, b] = JtJ_t[k, b]
                    chi2 = chi2_t
                    if linear_solve and decrease > _LINEAR_SOLVE_MIN_DECREASE:
                        chi2 = _solve_linear_parameters(
                            theta, P, chi2, M, Mr, JtJ, Jtr, active, src, scale,
                            amplitude_of, lower, upper,
                            lin, H, b_lin, L_lin, d_lin, fac, dP, work,
                        )  # fmt: skip
                    lam = max(lam / 5.0, 1e-12)
                    if decrease < ftol or step < xtol:
                        flag = CONVERGED
                        break
                else:
                    if step < xtol:
                        # no step of relative size xtol improves chi-squared
                        flag = CONVERGED
                        break
                    lam *= 10.0
                    if lam > 1e20:
                        flag = CONVERGED
                        break
        _expand(theta, P, src, scale, shift)
        for i in range(n_p):
            out[p, i] = P[i]
        finite = math.isfinite(chi2)
        for i in range(n_p):
            if not math.isfinite(P[i]):
                finite = False
        if not finite:
            flag = NOT_FINITE_RESULT
        elif nf > 0:
            dof = n_ch - nf
            if dof > 0 and _inverse_diagonal(JtJ, L, e, col, diag):
                factor = chi2 / dof
                for i in range(n_p):
                    s = src[i]
                    if s >= 0:
                        out[p, n_p + i] = abs(scale[i]) * math.sqrt(
                            max(diag[s], 0.0) * factor
                        )
            elif flag == CONVERGED:
                flag = SINGULAR
        out[p, 2 * n_p] = chi2
        out[p, 2 * n_p + 1] = flag
        out[p, 2 * n_p + 2] = it
    return out
