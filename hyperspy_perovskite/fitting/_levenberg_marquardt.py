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
0.1 (``initial_damping``), then is divided by 5 after an accepted step, times 10
after a rejected one (fewest iterations from ``estimate_parameters`` starts on
simulated emission maps); a trial step across a bound goes halfway to it.

The parameters in which the model is linear (offsets, polynomial
coefficients, amplitudes of amplitude x shape components) are moved to their
exact optimum after every accepted step that lowered chi-squared by more
than 0.1 %, from the normal equations already at hand (a variable-projection
step, :func:`_solve_linear_parameters`). On two-band + Urbach-tail emission
maps this ends in lower chi-squared minima (median 16 % lower, emission
centres and Urbach energies closer to the truth); on Gaussian + Offset maps
it saves a tenth of the model evaluations, about what the solves cost. It is
not applied at the starting point, where it moved two-band + tail fits into
worse minima. Measured and not kept: leaving the linear parameters
undamped in the step (damping only the others, the step of Kaufman's
variable projection, L. Kaufman, BIT 15, 49 (1975), to first order): on a
two-band + continuous-tail map (64 x 64, true Eu 50 meV) the binned pass
converged in 1002 instead of 3238 of 4096 pixels, fitted pixels
99.1 -> 69.8 %, band-valid 551 -> 252, CPU per spectrum 317 -> 713 us.
The damping's start decides which tails end identified, not the speed
(same map): starting at 0.01 or 0.001 instead of 0.1 gives 727 / 710
band-valid pixels instead of 550 (512 of the 550 among the 727; pulls of
Eu -0.78 / 0.89 against -0.70 / 0.69), the same CPU per spectrum
(316-320 us), and at a true Eu of 25 meV 95.1 % instead of 96.3 % of the
pixels fitted (0.01); starting at 1.0: 209 band-valid, 393 us.
Measured and not kept: geodesic acceleration (M. K. Transtrum and J. P.
Sethna, arXiv:1201.5885 (2012)): after the step ``v``, one more model
evaluation at ``theta + 0.1 v`` gives the residuals' second directional
derivative (finite difference, with ``J`` and ``r`` at ``theta`` kept and
carried through the linear solve exactly), the acceleration ``a`` from the
same Cholesky factor, step ``v + a / 2`` where ``2 |a| / |v| <= 0.75``
(norms scaled by ``diag(J^T J)``), else ``v``. On the two-band +
continuous-tail bench map (64 x 64 seed 0, binned pass of 128 channels,
load 2-3.4, fit_emission's whole CPU per spectrum): binned iterations per
pixel 25.2 / 27.5 / 30.2 -> 23.3 / 23.2 / 24.0 at true Eu 12 / 25 / 50 meV,
but with about two model evaluations per iteration the binned pass's CPU
68 / 71 / 78 -> 137 / 135 / 140 us per spectrum; more second starts (1469 /
1051 / 858 -> 2331 / 1892 / 1204 pixels) and full-resolution iterations
(6.9 -> 9.2 at 25 meV); in all 258 / 247-252 / 260 -> 414 / 408 / 357 us,
band-valid at 50 meV 550 -> 487. Variants, same map: always accepting the
acceleration (21.4 / 21.2 iterations at 25 / 50 meV, 125 / 127 us binned,
band-valid 461 at 50); probing only after an accepted step (22.1 / 23.2,
114 / 114 us, 485 valid); rejecting the step when ``2 |a| / |v| > 0.75``
as the paper does (27.6 iterations at 25 meV, 155 us, fitted 97.3 -> 94.2
%); on the full-resolution pass (1024 channels, 25 meV): 6.88 -> 6.67
iterations, 49 -> 105 us. A binned iteration costs 2.6 -> 5.8 us with the
probe, so break-even needs more than half of the iterations gone; the
second-order step shortens the crawl along the band <-> tail valley by
8-21 % (prototype: branch ``geodesic-accel``, commit 2abd733).
Measured and not kept (session 14; bench_cl_fit's scene 64 x 64 seed 0,
fit_emission's CPU per spectrum 246-268 us, band-valid 550 at true Eu 50
meV, fitted 97.3 / 99.2 % at 25 / 50 meV): true variable projection (G.
H. Golub and V. Pereyra, SIAM J. Numer. Anal. 10, 413 (1973); Kaufman's
step; D. P. O'Leary and B. W. Rust, Comput. Optim. Appl. 54, 579 (2013)):
the damped step on the 6 non-linear parameters from the Schur complement
``H_nn - H_nl H_ll^-1 H_ln`` and ``b_n - H_nl H_ll^-1 b_l``, and at every
trial point the 4 linear ones solved exactly before chi-squared is
compared. Damped on the complement's own diagonal, 2097 of 4096 binned
fits end singular; damped on ``diag(H_nn)``, the linear optimum is often
out of bounds (a negative band area) and its steps halved to the bound
collapse the amplitudes (chi-squared higher by > 4 variances in 2290
pixels); with the damped step on all parameters where the linear optimum
is out of bounds, binned iterations fall 27.5 -> 18.4 but binned
convergence 3045 -> 1892 (NO_PEAK 926 -> 2175, at the same chi-squared
within a variance): the projected descent runs down the band <-> tail
valley to its degenerate end (median tail amplitude 142 -> 333, Eu 25 ->
13 meV, the edge at the band centre: the tail is a copy of the band and
the band area's error explodes). fit_emission: 379 / 356 us, fitted 85.2
/ 91.5 %, band-valid 363. Variants: 5 or 10 plain iterations first
(binned NO_PEAK 1942 / 1935, 307 / 333 us, fitted 94.1 / 93.1 % at 25
meV); the plain damped step with the exact linear solve at every trial
(binned iterations 30.2 -> 18.1 at 50 meV; 308 / 305 us, fitted 94.3 %,
band-valid 466). A binned iteration costs 3.6-4.3 instead of 2.7 us (the
normal equations at every trial). Prototype: branch ``varpro``. Also
measured and not kept: Nielsen's damping update (H. B. Nielsen,
"Damping parameter in Marquardt's method", IMM-REP-1999-05, Technical
University of Denmark (1999): ``lam *= max(1/3, 1 - (2 rho - 1)^3)`` on
the gain ratio ``rho``, ``lam *= nu``, ``nu *= 2`` after a rejected
step): binned
iterations 27.5 -> 22.6 / 30.2 -> 20.5 at 25 / 50 meV, binned CPU 73 ->
66 / 80 -> 57 us, but binned NO_PEAK 926 -> 1573 at 25 meV and more
full-resolution work: fit_emission 300 / 265 us, fitted 93.7 % at 25
meV, band-valid 456 at 50. Both go further down the same valley than
this schedule, which stops where the step's decrease falls below the
tolerance (which pixels end valid follows the path).
"""

import math

import numpy as np
from numba import njit

from hyperspy_perovskite._numba_ops import max2, min2
from hyperspy_perovskite.fitting._collapse import collapse_run
from hyperspy_perovskite.fitting._linalg import (
    _LINEAR_SOLVE_MIN_DECREASE,
    _cholesky_factor,
    _cholesky_solve,
    _contract,
    _inverse_diagonal,
    _inverse_from_factor,
    _solve_linear_parameters,
)
from hyperspy_perovskite.fitting._normal_equations import (
    _channel_weights,
    _expand,
    _normal_products,
    _weighted_normal,
)
from hyperspy_perovskite.fitting._residual_rows import record_statistics
from hyperspy_perovskite.fitting.flags import (
    CONVERGED,
    MAX_ITERATIONS,
    NO_PEAK,
    NOT_FINITE_RESULT,
    SINGULAR,
)

# Columns of the per-pixel output row, after the 2 * n_parameters values/stds.
N_EXTRA_COLUMNS = 3  # chisq, flag, iterations


def workspace(n_pix, n_ch, n_p, src, theta_linear, statistics=False):
    """The arrays :func:`fit_block` works in, allocated once per block.

    Allocated here, in Python, so that the compiled solver allocates nothing:
    it runs without numba's reference counting and compiles faster (no
    allocation code to compile). Returns ``(out, active, lin, w,
    evaluation, normal, linear, uncertainty)``; ``out`` is the
    ``(n_pix, 2 n_p + 3)`` result, NaN-filled; with ``statistics`` two
    more columns, which :func:`fit_block` fills with the residual
    statistics of each fitted pixel (:mod:`~._residual_rows`).
    """
    nf = int(np.asarray(theta_linear).shape[0])
    active = np.flatnonzero(np.asarray(src) >= 0).astype(np.int64)
    lin = np.flatnonzero(np.asarray(theta_linear)).astype(np.int64)
    na = active.shape[0]
    evaluation = (
        np.empty(n_p),  # P
        np.zeros(n_p),  # grad
        np.empty(n_ch),  # f
        np.zeros((n_p, n_ch)),  # G
        np.empty(n_ch),  # rb
        np.empty(n_ch),  # bw
        np.empty(n_ch),  # bw2
        np.empty((na, na)),  # M
        np.empty(na),  # Mr
    )
    normal = (
        np.empty((nf, nf)),  # JtJ
        np.empty(nf),  # Jtr
        np.empty((nf, nf)),  # JtJ of the trial step
        np.empty(nf),  # Jtr of the trial step
        np.empty((nf, nf)),  # A (damped)
        np.zeros((nf, nf)),  # L (Cholesky factor)
        np.empty(nf),  # delta
        np.empty(nf),  # theta
        np.empty(nf),  # theta of the trial step
    )
    linear = (
        np.empty((nf, nf)),  # H
        np.empty(nf),  # b
        np.zeros((nf, nf)),  # L
        np.empty(nf),  # delta
        np.empty(na),  # fac
        np.empty(na),  # dP
        np.empty(nf + na),  # work
    )
    uncertainty = (
        np.empty(nf),  # col
        np.empty(nf),  # diag
        np.empty(n_ch),  # weights of the sandwich's variance
        np.empty((nf, nf)),  # J^T diag(var) J
    )
    out = np.full((n_pix, 2 * n_p + N_EXTRA_COLUMNS + 2 * bool(statistics)), np.nan)
    return out, active, lin, np.ones(n_ch), evaluation, normal, linear, uncertainty


def fit_block(
    model_block,
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
    peaks,
    collapse,
    initial_damping,
    count_factor,
    sandwich,
    out,
    active,
    lin,
    w,
    evaluation,
    normal,
    linear,
    uncertainty,
):
    """Fit every row of ``Y`` into ``out`` (``(n_pixels, 2 n_params + 3)``).

    Parameters
    ----------
    model_block : compiled function
        The model's ``evaluate`` of :mod:`hyperspy_perovskite.fitting._compile`
        (a first-class function of signature :data:`EVALUATE_TYPE`): the
        model, chi-squared and normal equations at a point.
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
    peaks, collapse, initial_damping : (n,) int64, (2,) float64, float
        The early end of :mod:`~._collapse`; the damping of the first step.
    count_factor : (n_channels,) or (0,) float64
        For unweighted fits of counts, the reported standard deviations are
        the sandwich's (:func:`sandwich_deviations`) with channel variance
        ``count_factor x model``; empty for every other fit.
    sandwich : compiled function
        :func:`sandwich_deviations` for fits of counts, else
        :func:`no_sandwich` (never called): a first-class function of type
        ``SANDWICH_TYPE`` (:mod:`~hyperspy_perovskite.fitting._compile`),
        compiled apart from the solver, so the solver is compiled once for
        all fits and the sandwich's code (about 40 % of the solver's compile
        time when it was compiled inside it) only for fits of counts.
    out, active, lin, w, evaluation, normal, linear, uncertainty
        The work arrays of :func:`workspace` (the results go into ``out``).
    """
    n_pix, n_ch = Y.shape
    n_p = P0.shape[1]
    nf = theta_index.shape[0]
    desc = (src, scale, shift, offsets, consts, active, amplitude_of, lower, upper)
    linear_solve = linear_solve and lin.shape[0] > 0
    P = evaluation[0]
    theta = normal[7]
    per_pixel_var = V.shape[0] == n_pix and V.shape[1] == n_ch
    uniform = 1.0
    if V.shape[0] == 1 and V.shape[1] == 1 and math.isfinite(V[0, 0]):
        uniform = 1.0 / math.sqrt(V[0, 0])
    for j in range(n_ch):
        w[j] = uniform
    # weights shared by every pixel unless each has its own variance
    unit_weights = _channel_weights(binw, w, evaluation[5], evaluation[6])
    for p in range(n_pix):
        if flags_in[p] != 0:
            out[p, 2 * n_p + 1] = flags_in[p]
            out[p, 2 * n_p + 2] = 0
            continue
        if per_pixel_var:
            for j in range(n_ch):
                w[j] = 1.0 / math.sqrt(V[p, j])
            unit_weights = _channel_weights(binw, w, evaluation[5], evaluation[6])
        for i in range(n_p):
            P[i] = P0[p, i]
        for k in range(nf):
            theta[k] = min2(max2(P0[p, theta_index[k]], lower[k]), upper[k])
        chi2, flag, it, fresh = _fit_pixel(
            model_block, x, Y[p], w, binw, unit_weights, desc,
            evaluation, normal, lin, linear, linear_solve, max_iterations, ftol,
            xtol, peaks, collapse, initial_damping,
        )  # fmt: skip
        _write_row(out[p], chi2, flag, it, n_ch, desc, evaluation, normal, uncertainty)
        if not math.isfinite(out[p, 2 * n_p]):
            continue
        sandwiched = count_factor.shape[0] == n_ch
        if sandwiched:
            _sandwich(
                model_block, sandwich, x, Y[p], w, binw, count_factor, desc,
                evaluation, normal, uncertainty, fresh, out[p],
            )  # fmt: skip
        if out.shape[1] == 2 * n_p + N_EXTRA_COLUMNS + 2:  # residual statistics
            if not (fresh or sandwiched):  # the model at the fitted point
                _evaluate(
                    model_block, theta, x, Y[p], w, binw, unit_weights, desc,
                    evaluation, normal[2], normal[3], False,
                )  # fmt: skip
            record_statistics(Y[p], evaluation, binw, out[p], 2 * n_p + 3)


# called from Python only: no C callback (compiles faster)
_SOLVER_OPTIONS = {
    "nogil": True,
    "error_model": "numpy",
    "_nrt": False,
    "no_cfunc_wrapper": True,
}
fit_block = njit(**_SOLVER_OPTIONS)(fit_block)


@njit(nogil=True, error_model="numpy", inline="always", _nrt=False)
def _evaluate(
    evaluate, theta, x, y, w, binw, unit_weights, desc, ev, JtJ, Jtr, normal=True
):  # fmt: skip
    """chi-squared and normal equations at ``theta`` (the model's ``evaluate``).

    With ``normal`` False only the model, its gradient rows and chi-squared
    (no reduction to the normal equations: ``evaluate`` sees no active row,
    and ``JtJ``, ``Jtr`` are zeroed): a trial step's normal equations are
    needed only if it is accepted (:func:`_normal_at_trial`).
    """
    src, scale, shift, offsets, consts, active, _, _, _ = desc
    P, grad, f, G, rb, bw, bw2, M, Mr = ev
    rows = active if normal else active[:0]
    return evaluate(
        theta, P, grad, f, G, rb, bw, bw2, unit_weights, rows,
        M, Mr, JtJ, Jtr, x, y, w, binw, src, scale, shift, offsets, consts,
    )  # fmt: skip


@njit(nogil=True, error_model="numpy", inline="always", _nrt=False)
def _normal_at_trial(unit_weights, desc, ev, JtJ, Jtr):
    """The normal equations of the last evaluation (made with ``normal``
    False, :func:`_evaluate`) into ``JtJ``, ``Jtr``: the same reduction, on
    the same rows, as ``evaluate`` makes (:func:`_weighted_normal`)."""
    src, scale, active = desc[0], desc[1], desc[5]
    G, rb, bw, M, Mr = ev[3], ev[4], ev[5], ev[7], ev[8]
    _weighted_normal(G, rb, bw, unit_weights, active, M, Mr, src, scale, JtJ, Jtr)


@njit(nogil=True, error_model="numpy", inline="always", _nrt=False)
def _fit_pixel(
    model_block, x, y, w, binw, unit_weights, desc, ev, normal, lin, linear,
    linear_solve, max_iterations, ftol, xtol, peaks, collapse, initial_damping,
):  # fmt: skip
    """Levenberg-Marquardt from ``theta`` (in ``normal``); ``(chi2, flag, its,
    fresh)``, ``fresh`` when the last evaluation was at ``theta`` (NO_PEAK: ``_collapse``)."""
    src, scale, _, _, _, active, amplitude_of, lower, upper = desc
    P, _, _, _, _, _, _, M, Mr = ev
    JtJ, Jtr, JtJ_t, Jtr_t, _, L, delta, theta, theta_t = normal
    H, b_lin, L_lin, d_lin, fac, dP, work = linear
    nf = theta.shape[0]
    chi2 = _evaluate(
        model_block, theta, x, y, w, binw, unit_weights, desc, ev, JtJ, Jtr
    )
    if not math.isfinite(chi2):
        return chi2, NOT_FINITE_RESULT, 0, False
    if chi2 == 0.0 or nf == 0:
        return chi2, CONVERGED, 0, True
    lam = initial_damping
    it = 0
    # the model's rows in ``ev`` (and ``JtJ``) are those of ``theta``: true
    # after an accepted evaluation, false after a trial or a linear solve
    fresh = True
    since = -1  # first iteration of a run of collapsed checks (_collapse)
    first = collapse[1] if peaks.shape[0] > 0 else math.inf  # no call before
    while it < max_iterations:
        if 2.0 * it >= first:
            since = collapse_run(normal, chi2, y, desc, peaks, collapse, it, since)
            if since == -2:
                return chi2, NO_PEAK, it, fresh
        it += 1
        # (JtJ + lam diag(JtJ)) delta = Jtr, the damped matrix not copied
        if not _cholesky_solve(JtJ, Jtr, L, delta, nf, lam):
            lam *= 10.0
            if lam > 1e20:
                return chi2, SINGULAR, it, fresh
            continue
        # predicted decrease of chi-squared for the linearised model
        pred = 0.0
        for a in range(nf):
            pred += delta[a] * (lam * max2(JtJ[a, a], 1e-300) * delta[a] + Jtr[a])
        if pred <= ftol * chi2:
            # no step can lower chi-squared by a relative ftol (MINPACK's test)
            return chi2, CONVERGED, it, fresh
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
        chi2_t = _evaluate(
            model_block, theta_t, x, y, w, binw, unit_weights, desc, ev, JtJ_t,
            Jtr_t, False,
        )  # fmt: skip
        fresh = False
        if math.isfinite(chi2_t) and chi2_t < chi2:
            fresh = True
            decrease = (chi2 - chi2_t) / chi2
            for k in range(nf):
                theta[k] = theta_t[k]
            # normal equations only of an accepted step (a third of the trial
            # steps are rejected in the binned pass of a two-band + tail fit)
            _normal_at_trial(unit_weights, desc, ev, JtJ, Jtr)
            chi2 = chi2_t
            if linear_solve and decrease > _LINEAR_SOLVE_MIN_DECREASE:
                chi2_t = _solve_linear_parameters(
                    theta, P, chi2, M, Mr, JtJ, Jtr, active, src, scale,
                    amplitude_of, lower, upper,
                    lin, H, b_lin, L_lin, d_lin, fac, dP, work,
                )  # fmt: skip
                fresh = chi2_t == chi2  # unmoved
                chi2 = chi2_t
            lam = max2(lam / 5.0, 1e-12)
            if decrease < ftol or step < xtol:
                return chi2, CONVERGED, it, fresh
        else:
            if step < xtol:
                # no step of relative size xtol improves chi-squared
                return chi2, CONVERGED, it, fresh
            lam *= 10.0
            if lam > 1e20:
                return chi2, CONVERGED, it, fresh
    return chi2, MAX_ITERATIONS, it, fresh


@njit(nogil=True, error_model="numpy", inline="always", _nrt=False)
def _write_row(row, chi2, flag, it, n_ch, desc, ev, normal, uncertainty):
    """Values, standard deviations, chi2, flag and iterations of one pixel."""
    src, scale, shift, _, _, _, _, _, _ = desc
    P = ev[0]
    JtJ, _, _, _, _, L, _, theta, _ = normal
    col, diag, _, _ = uncertainty
    n_p = P.shape[0]
    nf = theta.shape[0]
    _expand(theta, P, src, scale, shift)
    finite = math.isfinite(chi2)
    for i in range(n_p):
        row[i] = P[i]
        if not math.isfinite(P[i]):
            finite = False
    if not finite:
        flag = NOT_FINITE_RESULT
    elif nf > 0:
        dof = n_ch - nf
        if dof > 0 and _inverse_diagonal(JtJ, L, col, diag):
            factor = chi2 / dof
            for i in range(n_p):
                s = src[i]
                if s >= 0:
                    row[n_p + i] = abs(scale[i]) * math.sqrt(
                        max2(diag[s], 0.0) * factor
                    )
        elif flag == CONVERGED:
            flag = SINGULAR
    row[2 * n_p] = chi2
    row[2 * n_p + 1] = flag
    row[2 * n_p + 2] = it


@njit(nogil=True, error_model="numpy", inline="always", _nrt=False)
def _sandwich(
    model_block, sandwich, x, y, w, binw, count_factor, desc, ev, normal,
    uncertainty, fresh, row,
):  # fmt: skip
    """The sandwich's standard deviations of one fitted pixel into ``row``.

    ``B = J^T J`` at the fitted point into ``normal[4]``: the fit's own when
    its last evaluation was there (``fresh``), else from one evaluation of
    the model (unweighted: ``w`` holds ones); the model ``f`` and the
    Jacobian rows ``G`` of that evaluation are in ``ev``. Then the compiled
    ``sandwich`` (:func:`sandwich_deviations`) on them.
    """
    A = normal[4]
    if fresh:  # the fit's last evaluation was at theta: B = its J^T J
        JtJ = normal[0]
        nf = A.shape[0]
        for a in range(nf):
            for b in range(nf):
                A[a, b] = JtJ[a, b]
    else:
        unit = _channel_weights(binw, w, ev[5], ev[6])
        _evaluate(model_block, normal[7], x, y, w, binw, unit, desc, ev, A, normal[3])
    _, diag, sw, S = uncertainty
    sandwich(
        binw, count_factor, ev[2], ev[3], ev[4], ev[7], ev[8], desc[5], desc[0],
        desc[1], A, normal[5], normal[2], normal[3], diag, sw, S, row,
    )  # fmt: skip


_SANDWICH_OPTIONS = {"nogil": True, "error_model": "numpy", "_nrt": False}


@njit(**_SANDWICH_OPTIONS)
def sandwich_deviations(
    binw, count_factor, f, G, rb, M, Mr, active, src, scale, B, L, JtJ_t, Jtr_t,
    diag, sw, S, row,
):  # fmt: skip
    """Square roots of the diagonal of ``B^-1 S B^-1`` into ``row``'s stds.

    The covariance of the unweighted least-squares estimator when channel
    ``j`` has variance ``v_j = count_factor_j x model_j`` (photon counts;
    the "sandwich" of P. J. Huber, Proc. Fifth Berkeley Symp. Math.
    Statist. Probab. 1, 221 (1967) and H. White, Econometrica 48, 817
    (1980)): ``B = J^T J`` (given, with the model ``f`` and the Jacobian
    rows ``G`` times the bin width of the same evaluation), ``S = J^T
    diag(v) J`` from those rows scaled by ``sqrt(v)`` (:func:`_normal_products`,
    no second evaluation). The standard deviations are NaN when ``B`` is
    not positive definite. ``G``, ``M``, ``Mr``, ``L`` and the rest are
    overwritten (work arrays of :func:`workspace`).
    """
    nf = B.shape[0]
    n_ch = f.shape[0]
    for j in range(n_ch):
        v = f[j] * binw[j] * count_factor[j]
        sw[j] = math.sqrt(v) if v > 0.0 else 0.0
    for a in range(active.shape[0]):
        q = active[a]
        for j in range(n_ch):
            G[q, j] *= sw[j]
    _normal_products(G, rb, active, M, Mr)
    _contract(M, Mr, active, src, scale, JtJ_t, Jtr_t)
    # B factored once (L L^T), its inverse into B (S: work), then the
    # diagonal of B^-1 S B^-1 with S in JtJ_t: entry k is u^T S u, u = B^-1 e_k
    ok = _cholesky_factor(B, L, nf)
    if ok:
        _inverse_from_factor(L, S, B, nf)
        for k in range(nf):
            acc = 0.0
            for a in range(nf):
                t = 0.0
                for b in range(nf):
                    t += JtJ_t[a, b] * B[b, k]
                acc += B[k, a] * t
            diag[k] = acc
    n_p = src.shape[0]
    for i in range(n_p):
        s = src[i]
        if s >= 0:
            row[n_p + i] = (
                abs(scale[i]) * math.sqrt(max2(diag[s], 0.0)) if ok else math.nan
            )


@njit(**_SANDWICH_OPTIONS)
def no_sandwich(
    binw, count_factor, f, G, rb, M, Mr, active, src, scale, B, L, JtJ_t, Jtr_t,
    diag, sw, S, row,
):  # fmt: skip
    """The ``sandwich`` of every fit that is not of counts (never called)."""
    return
