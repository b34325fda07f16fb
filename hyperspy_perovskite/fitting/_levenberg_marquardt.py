"""Compiled, batched Levenberg-Marquardt least squares over many spectra.

One serial, GIL-free numba function fits every spectrum of a block; dask
spreads blocks over threads, processes or a dask.distributed cluster, so the
same compiled code serves eager, lazy and distributed data.

The model is the sum of the compiled component kernels
(:func:`hyperspy_perovskite.fitting.kernels.model_point`), multiplied by the
bin width when the axis is binned, exactly as ``Model1D.__call__`` does. The
minimised quantity is HyperSpy's: ``sum(((y - model) * w) ** 2)`` with
``w = 1 / sqrt(variance)`` when a noise variance is set, else ``w = 1``.
Parameter standard deviations follow HyperSpy's ``_calculate_parameter_std``:
``sqrt(diag((J^T W J)^-1) * chisq / (n_channels - n_free))``.

Algorithm: Levenberg-Marquardt with Marquardt's diagonal scaling
(Marquardt, J. Soc. Ind. Appl. Math. 11, 431 (1963)); the damping starts at
0.1, is divided by 5 after an accepted step and multiplied by 10 after a
rejected one (values chosen on simulated emission maps: fewest iterations
from ``estimate_parameters`` starting values); a trial step that would cross a bound goes halfway to it, so
iterates stay feasible.
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
from hyperspy_perovskite.fitting.kernels import model_block

# Columns of the per-pixel output row, after the 2 * n_parameters values/stds.
N_EXTRA_COLUMNS = 3  # chisq, flag, iterations


@njit(cache=True, nogil=True, error_model="numpy")
def _expand(theta, P, src, scale, shift):
    """Write the free vector ``theta`` into the full parameter vector ``P``."""
    for i in range(P.shape[0]):
        s = src[i]
        if s >= 0:
            P[i] = scale[i] * theta[s] + shift[i]


# Reassociation lets LLVM vectorise the channel reductions; NaN/inf semantics
# are kept (no "nnan"/"ninf"), so a non-finite chi-squared is still seen.
_REDUCE = {"reassoc", "contract"}


@njit(cache=True, nogil=True, error_model="numpy", fastmath=_REDUCE)
def _normal_products(G, rb, bw2, unit_weights, active, M, Mr):
    """``M = G_a W2 G_a^T`` and ``Mr = G_a rb`` over the ``active`` rows of ``G``.

    Each sweep over the channels multiplies one row by three partner rows
    (and by ``rb`` on its first sweep), so every load of the row serves
    several products; ``W2 = diag(bw2)`` unless ``unit_weights``.
    """
    na = active.shape[0]
    n_ch = G.shape[1]
    last = na - 1
    for ia in range(na):
        a = active[ia]
        ib = ia
        first = True
        while first or ib < na:
            b0 = active[min(ib, last)]
            b1 = active[min(ib + 1, last)]
            b2 = active[min(ib + 2, last)]
            s0 = 0.0
            s1 = 0.0
            s2 = 0.0
            sr = 0.0
            if unit_weights:
                for j in range(n_ch):
                    ga = G[a, j]
                    sr += ga * rb[j]
                    s0 += ga * G[b0, j]
                    s1 += ga * G[b1, j]
                    s2 += ga * G[b2, j]
            else:
                for j in range(n_ch):
                    sr += G[a, j] * rb[j]
                    ga = G[a, j] * bw2[j]
                    s0 += ga * G[b0, j]
                    s1 += ga * G[b1, j]
                    s2 += ga * G[b2, j]
            if first:
                Mr[ia] = sr
                first = False
            if ib < na:
                M[ia, ib] = s0
                M[ib, ia] = s0
            if ib + 1 < na:
                M[ia, ib + 1] = s1
                M[ib + 1, ia] = s1
            if ib + 2 < na:
                M[ia, ib + 2] = s2
                M[ib + 2, ia] = s2
            ib += 3


@njit(cache=True, nogil=True, error_model="numpy", fastmath=_REDUCE)
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
    codes,
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
    model_block(x, P, codes, offsets, consts, grad, f, G)
    n_ch = x.shape[0]
    nf = theta.shape[0]
    na = active.shape[0]
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
    return chi2


@njit(cache=True, nogil=True, error_model="numpy")
def _cholesky_solve(A, rhs, L, out):
    """Solve ``A out = rhs`` for symmetric positive definite ``A``.

    Returns False when ``A`` is not positive definite.
    """
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


@njit(cache=True, nogil=True, error_model="numpy")
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


@njit(cache=True, nogil=True, error_model="numpy")
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
    codes,
    offsets,
    consts,
    max_iterations,
    ftol,
    xtol,
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
    codes, offsets, consts
        The model description for :func:`model_point`.
    max_iterations : int
    ftol, xtol : float
        Relative chi-squared decrease and relative step size that end the fit.
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
    M = np.empty((active.shape[0], active.shape[0]))
    Mr = np.empty(active.shape[0])
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
    for p in range(n_pix):
        if flags_in[p] != 0:
            out[p, 2 * n_p + 1] = flags_in[p]
            out[p, 2 * n_p + 2] = 0
            continue
        y = Y[p]
        if per_pixel_var:
            for j in range(n_ch):
                w[j] = 1.0 / math.sqrt(V[p, j])
        unit_weights = True
        for j in range(n_ch):
            bw[j] = binw[j] * w[j]
            bw2[j] = bw[j] * bw[j]
            if bw[j] != 1.0 or w[j] != 1.0:
                unit_weights = False
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
            codes,
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
                    codes,
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
