"""Sandwich standard deviations of a fitted model, compiled and on threads.

For unweighted least-squares fits of photon counts (HyperSpy's default
without a noise variance): the covariance of the estimator when channel
``j`` has variance ``g_j x model_j`` is ``(J^T J)^-1 J^T diag(g f) J
(J^T J)^-1`` (P. J. Huber, Proc. Fifth Berkeley Symp. Math. Statist.
Probab. 1, 221 (1967); H. White, Econometrica 48, 817 (1980)). The same
computation as ``fast_multifit(count_variance=g)`` (the solver's
``_sandwich_variance``), for a model already fitted: two evaluations of the
model's compiled ``evaluate`` per pixel, blocks of pixels on threads.
"""

from __future__ import annotations

import math
import os

import numpy as np
from numba import njit

from hyperspy_perovskite.fitting._levenberg_marquardt import (
    _sandwich_variance,
    workspace,
)

__all__ = ["sandwich_std"]


@njit(nogil=True, error_model="numpy", _nrt=False)
def _sandwich_rows(
    evaluate, x, Y, PM, keep, g, binw, src, scale, shift, theta_index, offsets,
    consts, active, amplitude_of, lower, upper, std, B,
    w, evaluation, normal, uncertainty,
):  # fmt: skip
    """Sandwich variances of the free parameters of every row of ``Y`` into
    ``std`` (``(n_pixels, n_free)``; NaN where a parameter is not finite,
    ``B`` is singular or ``keep`` is False) and ``J^T J`` (held parameters
    out) into ``B`` (``(n_pixels, n_free, n_free)``)."""
    n_pix = Y.shape[0]
    n_p = PM.shape[1]
    nf = theta_index.shape[0]
    desc = (src, scale, shift, offsets, consts, active, amplitude_of, lower, upper)
    P, theta, diag = evaluation[0], normal[7], uncertainty[2]
    for p in range(n_pix):
        finite = True
        for i in range(n_p):
            P[i] = PM[p, i]
            finite = finite and math.isfinite(P[i])
        for k in range(nf):
            std[p, k] = math.nan
        if not finite:
            continue
        for k in range(nf):
            theta[k] = PM[p, theta_index[k]]
        if not _sandwich_variance(
            evaluate, x, Y[p], w, binw, g, desc, evaluation, normal, uncertainty,
            keep[p],
        ):  # fmt: skip
            continue
        for a in range(nf):
            for b in range(nf):
                B[p, a, b] = normal[4][a, b]
        for k in range(nf):
            if keep[p, k]:
                std[p, k] = math.sqrt(max(diag[k], 0.0))


#: Largest condition number of ``J^T J`` scaled to a unit diagonal whose
#: inverse is trusted (16 digits of which 12 are lost: the errors keep 4).
MAX_CONDITION = 1e12


def _well_conditioned(B):
    """Pixels whose ``B`` scaled to a unit diagonal has a condition number
    below :data:`MAX_CONDITION` (eigenvalues of symmetric matrices)."""
    good = np.all(np.isfinite(B), axis=(1, 2))
    d = np.sqrt(np.abs(np.diagonal(B, axis1=1, axis2=2)))
    good &= np.all(d > 0, axis=1)
    if good.any():
        dinv = 1.0 / d[good]
        lam = np.linalg.eigvalsh(B[good] * dinv[:, :, None] * dinv[:, None, :])
        with np.errstate(divide="ignore", invalid="ignore"):
            good[good] = (lam[:, 0] > 0) & (lam[:, -1] / lam[:, 0] < MAX_CONDITION)
    return good


_COMPILED_PASS = None


def _compiled_pass():
    """:func:`_sandwich_rows`, compiled once for every model (disk cache)."""
    global _COMPILED_PASS
    if _COMPILED_PASS is None:
        from numba import typeof, types

        from hyperspy_perovskite.fitting import _cache
        from hyperspy_perovskite.fitting._compile import EVALUATE_TYPE

        a1, a2 = types.float64[::1], types.float64[:, ::1]
        i1 = types.int64[::1]
        _, _, _, w, ev, normal, _, unc = workspace(
            1, 2, 2, np.array([0, 1]), np.array([True, False])
        )
        key = _cache.source_fingerprint([_sandwich_rows])
        if key is not None:
            _cache.enable_disk_cache(_sandwich_rows, _cache.keyed(key, "sandwich"))
        _sandwich_rows.compile(
            (EVALUATE_TYPE, a1, a2, a2, types.boolean[:, ::1], a1, a1, i1, a1, a1,
             i1, i1, a2, i1, i1, a1, a1, a2, types.float64[:, :, ::1], typeof(w),
             typeof(ev),
             typeof(normal), typeof(unc))
        )  # fmt: skip
        _sandwich_rows.disable_compile()
        _COMPILED_PASS = _sandwich_rows
    return _COMPILED_PASS


def sandwich_std(model, count_variance, held=None, num_workers=None):
    """Sandwich standard deviations of every free parameter of a fitted model.

    Parameters
    ----------
    model : hyperspy.models.model1d.Model1D
        Fitted unweighted (its parameter maps hold the fitted values); its
        components have compiled kernels.
    count_variance : array
        Per channel of the signal axis, the factor ``g`` of the count
        variance ``g x model`` (ones for counts; after ``to_eV``, the
        converted spectrum of a spectrum of ones).
    held : dict, optional
        Free parameter -> navigation-shaped bool: pixels where that
        parameter was held (e.g. at a Gaussian limit); it is left out of the
        covariance there and its standard deviation is NaN.
    num_workers : int or None
        Threads (None: one per core).

    Returns
    -------
    dict
        Free parameter -> navigation-shaped standard deviations (NaN where
        a parameter is not finite, or ``J^T J`` scaled to a unit diagonal
        has a condition number above :data:`MAX_CONDITION`).

    Examples
    --------
    >>> from hyperspy_perovskite.data import simulated_emission_map
    >>> from hyperspy_perovskite.fitting import fast_multifit, sandwich_std
    >>> s, truth = simulated_emission_map(shape=(4, 4), n_channels=128, seed=0)
    >>> m = s.create_model()
    >>> g = hs.model.components1D.Gaussian()
    >>> m.extend([g, hs.model.components1D.Offset()])
    >>> _ = fast_multifit(m, starting_values="estimate")
    >>> std = sandwich_std(m, np.ones(128))
    >>> bool(np.all(std[g.centre] > 0))
    True
    """
    from hyperspy_perovskite.fitting._compile import compiled_model
    from hyperspy_perovskite.fitting.engine import _axis_arrays, _count_factor
    from hyperspy_perovskite.fitting.model_description import describe_model

    desc = describe_model(model, bounded=False)
    evaluate = compiled_model(desc.signature).evaluate
    selection, x, binw = _axis_arrays(model)
    g = _count_factor(count_variance, None, selection, x.size)
    nav = model.signal.axes_manager._navigation_shape_in_array
    n = int(np.prod(nav)) if nav else 1
    flat = model.signal.data.reshape(n, model.signal.data.shape[-1])
    nf = len(desc.theta_index)
    PM = np.empty((n, desc.n_parameters))
    for i, par in enumerate(desc.parameters):
        PM[:, i] = np.asarray(par.map["values"], dtype=float).reshape(n)
    keep = np.ones((n, nf), dtype=bool)
    for par, where in (held or {}).items():
        i = desc.parameters.index(par)
        if desc.src[i] >= 0:
            keep[np.asarray(where, bool).reshape(n), desc.src[i]] = False
    std = np.full((n, nf), np.nan)
    B = np.full((n, nf, nf), np.nan)
    run = _compiled_pass()
    arrays = (
        desc.src, desc.scale, desc.shift, desc.theta_index, desc.offsets,
        desc.consts, None, desc.amplitude_of, desc.lower, desc.upper,
    )  # fmt: skip

    def one(i0, i1):
        y = flat[i0:i1]
        if not isinstance(y, np.ndarray):
            y = y.compute()
        y = np.ascontiguousarray(np.asarray(y)[:, selection], dtype=np.float64)
        _, active, _, w, ev, normal, _, unc = workspace(
            1, x.size, desc.n_parameters, desc.src, desc.theta_linear
        )
        src, scale, shift, theta_index, offsets, consts, _, amp, lo, hi = arrays
        run(
            evaluate, x, y, PM[i0:i1], keep[i0:i1], g, binw, src, scale, shift,
            theta_index, offsets, consts, active, amp, lo, hi, std[i0:i1],
            B[i0:i1], w, ev, normal, unc,
        )  # fmt: skip

    threads = int(num_workers) if num_workers else (os.cpu_count() or 1)
    block = max(256, -(-n // (4 * threads)))
    spans = [(i0, min(n, i0 + block)) for i0 in range(0, n, block)]
    if threads <= 1 or len(spans) == 1:
        for span in spans:
            one(*span)
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(lambda span: one(*span), spans))
    std[~_well_conditioned(B)] = np.nan
    out = {}
    for i, par in enumerate(desc.parameters):
        s = desc.src[i]
        if s >= 0:
            out[par] = (abs(desc.scale[i]) * std[:, s]).reshape(nav)
    return out
