"""Score test of a held parameter at every pixel of a fitted model, compiled.

Whether the data of a pixel reject the value at which one parameter ``eta``
was held, without fitting the pixel again with ``eta`` free: the score
(Lagrange multiplier) test of C. R. Rao, Proc. Camb. Phil. Soc. 44, 50
(1948). At the held fit the model's compiled ``evaluate`` (the function the
solver calls, compiled when the model was fitted) gives, with ``eta`` made
free, the normal equations ``A = J^T W J`` and the gradient ``g = J^T W r``
of the least-squares objective; the other parameters are profiled out
through ``A`` itself. The one Gauss-Newton step of ``eta``, ``d = (A^-1
g)_eta``, is ``U / I`` with ``U`` the efficient score of ``eta`` (its
gradient less its regression on the other parameters' gradients, which
also absorbs a fit stopped a little short of its minimum) and ``I =
1 / (A^-1)_eta,eta`` its efficient information. The statistic is ``d**2 /
var(d)``, chi-squared of one degree of freedom where the held value is
true:

- weighted fit (noise variance set): ``var(d) = (A^-1)_eta,eta``, the
  statistic ``U**2 / I``, Rao's;
- unweighted fit of photon counts (``count_variance``: channel variance
  ``g x model``): ``var(d) = c^T J^T diag(v) J c`` with ``c`` the column
  ``eta`` of ``A^-1``, the sandwich of the engine's errors (Huber, White;
  ``_levenberg_marquardt.sandwich_deviations``) in the one direction;
- other unweighted fits: ``var(d) = s^2 (A^-1)_eta,eta`` with ``s^2`` the
  residual mean square of the held fit.

In the linear limit the statistic is the likelihood ratio of the refit with
``eta`` free (chi-squared drop over its noise variance): the same test
without the refit. Blocks of spectra run on threads (GIL-free).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from hyperspy_perovskite._numba_ops import max2
from hyperspy_perovskite._threads import on_threads
from hyperspy_perovskite.fitting import _cache
from hyperspy_perovskite.fitting._compile import EVALUATE_TYPE
from hyperspy_perovskite.fitting._linalg import _cholesky_factor, _cholesky_substitute
from hyperspy_perovskite.fitting._normal_equations import _REDUCE, _channel_weights
from hyperspy_perovskite.fitting._residuals import (
    _parameter_matrix,
    compiled_evaluate,
    fitted_rows,
)

__all__ = ["score_statistics"]


@njit(nogil=True, error_model="numpy", fastmath=_REDUCE, _nrt=False)
def _score_block(
    evaluate, x, Y, V, PM, binw, src, scale, shift, offsets, consts,
    theta_index, count_factor, eta, out,
    P, grad, f, G, rb, bw, bw2, w, theta, active, M, Mr, JtJ, Jtr, L, e, col,
    delta, Jc,
):  # fmt: skip
    """``d``, ``var(d)`` and chi-squared of every row of ``Y`` into ``out``
    (n_pixels, 3): NaN where a parameter is not finite or ``A`` is not
    positive definite. ``V`` as the solver's (``(1, 1)`` NaN: unweighted,
    ``(1, 1)`` number: one variance, else per pixel and channel)."""
    n_pix, n_ch = Y.shape
    n_p = PM.shape[1]
    nf = theta_index.shape[0]
    per_pixel_var = V.shape[0] == n_pix and V.shape[1] == n_ch
    uniform = 1.0
    if V.shape[0] == 1 and V.shape[1] == 1 and math.isfinite(V[0, 0]):
        uniform = 1.0 / math.sqrt(V[0, 0])
    for j in range(n_ch):
        w[j] = uniform
    unit = _channel_weights(binw, w, bw, bw2)
    counts = count_factor.shape[0] == n_ch
    for p in range(n_pix):
        finite = True
        for i in range(n_p):
            P[i] = PM[p, i]
            finite = finite and math.isfinite(P[i])
        out[p, 0] = math.nan
        out[p, 1] = math.nan
        out[p, 2] = math.nan
        if not finite:
            continue
        if per_pixel_var:
            for j in range(n_ch):
                w[j] = 1.0 / math.sqrt(V[p, j])
            unit = _channel_weights(binw, w, bw, bw2)
        for k in range(nf):
            theta[k] = P[theta_index[k]]
        chi2 = evaluate(
            theta, P, grad, f, G, rb, bw, bw2, unit, active, M, Mr, JtJ, Jtr,
            x, Y[p], w, binw, src, scale, shift, offsets, consts,
        )  # fmt: skip
        out[p, 2] = chi2
        if not _cholesky_factor(JtJ, L, nf):
            continue
        _cholesky_substitute(L, Jtr, delta, nf)
        for k in range(nf):
            e[k] = 1.0 if k == eta else 0.0
        _cholesky_substitute(L, e, col, nf)
        var = col[eta]
        if counts:  # c^T J^T diag(v) J c, J's rows the (weighted) G rows
            for j in range(n_ch):
                Jc[j] = 0.0
            for a in range(active.shape[0]):
                q = active[a]
                c = col[src[q]] * scale[q]
                for j in range(n_ch):
                    Jc[j] += c * G[q, j]
            var = 0.0
            for j in range(n_ch):
                v = f[j] * binw[j] * count_factor[j]
                var += Jc[j] * Jc[j] * max2(v, 0.0)
        out[p, 0] = delta[eta]
        out[p, 1] = var


_COMPILED_PASS = None


def _compiled_pass():
    """:func:`_score_block`, compiled once for every model (disk cache)."""
    global _COMPILED_PASS
    if _COMPILED_PASS is None:
        from numba import types

        a1, a2 = types.float64[::1], types.float64[:, ::1]
        i1, i = types.int64[::1], types.int64
        _cache.compile_once(
            _score_block,
            (EVALUATE_TYPE, a1, a2, a2, a2, a1, i1, a1, a1, i1, a2, i1, a1, i, a2,
             a1, a1, a1, a2, a1, a1, a1, a1, a1, i1, a2, a1, a2, a1, a2, a1, a1,
             a1, a1),
            "score_block",
        )  # fmt: skip
        _COMPILED_PASS = _score_block
    return _COMPILED_PASS


def score_statistics(
    model,
    parameter,
    pixels=None,
    count_variance=None,
    min_variance=None,
    block=4096,
    num_workers=None,
    parts=False,
):
    """Rao's score statistic for freeing a held ``parameter`` (see the module).

    Parameters
    ----------
    model : hyperspy.models.model1d.Model1D
        A model fitted by :func:`~hyperspy_perovskite.fitting.fast_multifit`
        in this session (its compiled ``evaluate`` exists), with
        ``parameter`` fixed (not free, not twinned) at its held values.
    parameter : hyperspy.component.Parameter
        The held parameter to test.
    pixels : array of bool, optional
        Navigation-shaped: the pixels to test (NaN elsewhere).
    count_variance : array, optional
        As ``fast_multifit``'s: for an unweighted fit of photon counts, the
        per-channel factor ``g`` of the channel variance ``g x model``.
    min_variance : float, optional
        As ``fast_multifit``'s (a weighted fit's lower bound of the noise
        variance).
    block, num_workers
        Spectra per block (lazy data are computed block by block), threads.
    parts : bool
        Also return ``d`` (the one Gauss-Newton step of ``parameter``, in
        its unit) and ``var(d)``, navigation-shaped.

    Returns
    -------
    numpy.ndarray or None
        Navigation-shaped statistic ``d**2 / var(d)`` (chi-squared of one
        degree of freedom where the held value is true; NaN where not
        tested or not finite), or None when the model's structure has no
        compiled ``evaluate`` in this session (the caller then refits);
        ``(statistic, d, var(d))`` with ``parts``.

    Examples
    --------
    >>> from hyperspy_perovskite.data import simulated_emission_map
    >>> from hyperspy_perovskite.fitting._score import score_statistics
    >>> s, truth = simulated_emission_map(shape=(2, 3), seed=0)
    >>> s.set_signal_type("CL_STEM_perovskite")
    >>> m = s.fit_emission(axis="energy", poisson=True)
    >>> sigma = m["Emission"].sigma
    >>> sigma.map["values"] *= 1.2  # held 20 % wide: rejected
    >>> sigma.free = False
    >>> bool((score_statistics(m, sigma) > 9).all())
    True
    >>> sigma.free = True
    """
    from hyperspy_perovskite.fitting.engine import (
        _axis_arrays,
        _count_factor,
        _noise_variance,
    )

    if parameter.free or parameter.twin is not None:
        raise ValueError(
            f"score_statistics tests a held parameter; "
            f"'{parameter.component.name}.{parameter.name}' is free or twinned."
        )
    parameter.free = True
    try:
        found = compiled_evaluate(model)
    finally:
        parameter.free = False
    if found is None:
        return None
    desc, evaluate = found
    index = next(i for i, p in enumerate(desc.parameters) if p is parameter)
    eta = int(desc.src[index])
    run = _compiled_pass()
    selection, x, bw = _axis_arrays(model)
    signal = model.signal
    variance = _noise_variance(signal)
    g = _count_factor(count_variance, variance, selection, x.size)
    nav = signal.axes_manager._navigation_shape_in_array
    n = int(np.prod(nav)) if nav else 1
    flat = signal.data.reshape(n, signal.data.shape[-1])
    flat_var = None
    if variance is not None and np.ndim(variance) > 0:
        flat_var = variance.reshape(n, variance.shape[-1])
    n_p, n_ch, nf = desc.n_parameters, x.size, desc.n_free
    params = _parameter_matrix(desc, np.arange(n))
    if pixels is not None:
        params[~np.asarray(pixels, dtype=bool).reshape(n)] = np.nan
    active = np.flatnonzero(desc.src >= 0).astype(np.int64)
    na = active.size
    result = np.full((n, 3), np.nan)
    if variance is None:
        v_all = np.full((1, 1), np.nan)
    elif flat_var is None:
        v_all = np.full((1, 1), max(float(variance), min_variance or 0.0))

    def one(rows):
        todo = np.isfinite(params[rows]).all(axis=1)
        if not todo.any():
            return
        y = fitted_rows(flat, rows, selection, todo)
        v = v_all if flat_var is None else fitted_rows(flat_var, rows, selection, todo)
        if flat_var is not None and min_variance is not None:
            v = np.maximum(v, min_variance)
        out = np.empty((int(todo.sum()), 3))
        run(
            evaluate, x, y, v, np.ascontiguousarray(params[rows][todo]),
            bw, desc.src, desc.scale, desc.shift, desc.offsets, desc.consts,
            desc.theta_index, g, eta, out,
            np.empty(n_p), np.zeros(n_p), np.empty(n_ch), np.zeros((n_p, n_ch)),
            np.empty(n_ch), np.empty(n_ch), np.empty(n_ch), np.empty(n_ch),
            np.empty(nf), active, np.empty((na, na)), np.empty(na),
            np.empty((nf, nf)), np.empty(nf), np.zeros((nf, nf)), np.empty(nf),
            np.empty(nf), np.empty(nf), np.empty(n_ch),
        )  # fmt: skip
        result[np.arange(rows.start, rows.stop)[todo]] = out

    on_threads(one, n, max_rows=block, num_workers=num_workers)
    d, var, chi2 = result.T
    if variance is None and g.size == 0:  # residual mean square of the held fit
        var = var * chi2 / (n_ch - (nf - 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        stat = (d * d / var).reshape(nav)
    return (stat, d.reshape(nav), var.reshape(nav)) if parts else stat
