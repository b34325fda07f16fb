"""Standard deviations of unweighted least-squares fits of photon counts.

An unweighted fit (HyperSpy's default, ``fit_emission(poisson=False)``
without a noise variance) minimises ``sum (y - f)^2``. HyperSpy reports
``sqrt(diag((J^T J)^-1) * chisq / dof)``, the covariance of that estimator
only when every channel has the same noise. Photon counts have their
variance where the band is bright, and the covariance of the unweighted
estimator is then the "sandwich"

    ``C = (J^T J)^-1 (J^T diag(var) J) (J^T J)^-1``

(P. J. Huber, Proc. Fifth Berkeley Symp. Math. Statist. Probab. 1, 221
(1967); H. White, Econometrica 48, 817 (1980)), with ``var`` the Poisson
variance of each channel predicted by the fitted model. On the two-band +
Urbach-tail scene of ``tests/signals/test_cl_tail_inside_band.py`` started
from the truth, HyperSpy's formula gives centre pulls with a spread of 1.6.

For data converted by ``to_eV`` (Jacobian ``g``: ``y = g c`` for counts
``c``) the variance of a channel is ``g`` times its expected value; ``g``
is the converted spectrum of a spectrum of ones
(:func:`count_factor`).

One compiled pass evaluates, per pixel, ``J^T J`` and ``J^T diag(var) J``
with the model's own compiled ``evaluate`` (the function the solver calls,
:mod:`hyperspy_perovskite.fitting._compile`); the inverses are batched in
numpy.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from hyperspy_perovskite.fitting._normal_equations import _channel_weights

__all__ = ["count_factor", "sandwich_std"]


@njit(nogil=True, error_model="numpy", _nrt=False)
def _sandwich_block(
    evaluate, x, Y, PM, g, binw, src, scale, shift, offsets, consts,
    theta_index, active, B, S,
    P, grad, f, G, rb, bw, bw2, w, theta, M, Mr, JtJ, Jtr, var,
):  # fmt: skip
    """``B = J^T J`` and ``S = J^T diag(var) J`` of every row of ``Y``.

    ``PM`` (n_pixels, n_params) holds the fitted parameters; ``var`` is
    ``g`` times the model (binned as the data), at least 0. Rows with a
    non-finite parameter get NaN.
    """
    n_pix, n_ch = Y.shape
    n_p = PM.shape[1]
    nf = theta_index.shape[0]
    for p in range(n_pix):
        finite = True
        for i in range(n_p):
            P[i] = PM[p, i]
            if not math.isfinite(P[i]):
                finite = False
        if not finite:
            for a in range(nf):
                for b in range(nf):
                    B[p, a, b] = np.nan
                    S[p, a, b] = np.nan
            continue
        for k in range(nf):
            theta[k] = PM[p, theta_index[k]]
        for j in range(n_ch):
            w[j] = 1.0
        unit = _channel_weights(binw, w, bw, bw2)
        evaluate(
            theta, P, grad, f, G, rb, bw, bw2, unit, active, M, Mr, JtJ, Jtr,
            x, Y[p], w, binw, src, scale, shift, offsets, consts,
        )  # fmt: skip
        for a in range(nf):
            for b in range(nf):
                B[p, a, b] = JtJ[a, b]
        for j in range(n_ch):
            v = f[j] * binw[j] * g[j]
            var[j] = v if v > 0.0 else 0.0
            w[j] = math.sqrt(var[j])
        unit = _channel_weights(binw, w, bw, bw2)
        evaluate(
            theta, P, grad, f, G, rb, bw, bw2, False, active, M, Mr, JtJ, Jtr,
            x, Y[p], w, binw, src, scale, shift, offsets, consts,
        )  # fmt: skip
        for a in range(nf):
            for b in range(nf):
                S[p, a, b] = JtJ[a, b]


_COMPILED_PASS = None


def _compiled_pass():
    """:func:`_sandwich_block`, compiled once for every model (disk cache)."""
    global _COMPILED_PASS
    if _COMPILED_PASS is None:
        from numba import types

        from hyperspy_perovskite.fitting import _cache
        from hyperspy_perovskite.fitting._compile import EVALUATE_TYPE

        a1, a2, a3 = types.float64[::1], types.float64[:, ::1], types.float64[:, :, ::1]
        i1 = types.int64[::1]
        key = _cache.source_fingerprint([_sandwich_block])
        if key is not None:
            _cache.enable_disk_cache(_sandwich_block, _cache.keyed(key, "sandwich"))
        _sandwich_block.compile(
            (EVALUATE_TYPE, a1, a2, a2, a1, a1, i1, a1, a1, i1, a2, i1, i1, a3, a3,
             a1, a1, a1, a2, a1, a1, a1, a1, a1, a2, a1, a2, a1, a1)
        )  # fmt: skip
        _sandwich_block.disable_compile()
        _COMPILED_PASS = _sandwich_block
    return _COMPILED_PASS


def sandwich_covariance(B, S, keep=None):
    """``B^-1 S B^-1`` of stacks of matrices ``(n, k, k)``; NaN where singular.

    ``keep`` (n, k) bool: the parameters of each row that enter (others, e.g.
    a band's ``tau`` held at its Gaussian limit, are left out: their rows
    and columns are removed, and their variance is NaN).

    Examples
    --------
    >>> import numpy as np
    >>> B = np.array([[[2.0, 0.0], [0.0, 4.0]]])
    >>> S = np.array([[[8.0, 0.0], [0.0, 4.0]]])
    >>> np.diag(sandwich_covariance(B, S)[0]).tolist()
    [2.0, 0.25]
    """
    B = np.array(B, dtype=float)
    S = np.array(S, dtype=float)
    n, k, _ = B.shape
    if keep is not None:
        drop = ~np.asarray(keep, bool)
        eye = np.broadcast_to(np.eye(k, dtype=bool), B.shape)
        off = (drop[:, :, None] | drop[:, None, :]) & ~eye
        B[off] = 0.0
        S[drop[:, :, None] | drop[:, None, :]] = 0.0
        B[eye & drop[:, :, None]] = 1.0
    out = np.full((n, k, k), np.nan)
    with np.errstate(all="ignore"):
        d = np.sqrt(np.abs(np.diagonal(B, axis1=1, axis2=2)))
        ok = np.all(np.isfinite(B), axis=(1, 2)) & np.all(np.isfinite(S), axis=(1, 2))
        ok &= np.all(d > 0, axis=1)
        if not ok.any():
            return out
        dinv = 1.0 / d[ok]
        # scaled to unit diagonal: parameters of very different sizes
        Bn = B[ok] * dinv[:, :, None] * dinv[:, None, :]
        Sn = S[ok] * dinv[:, :, None] * dinv[:, None, :]
        inv = np.full_like(Bn, np.nan)
        good = np.linalg.cond(Bn) < 1e12
        if good.any():
            inv[good] = np.linalg.inv(Bn[good])
        Cn = inv @ Sn @ inv
        out[ok] = Cn * dinv[:, :, None] * dinv[:, None, :]
    if keep is not None:
        out[drop[:, :, None] | drop[:, None, :]] = np.nan
    return out


def count_factor(signal, fit_signal):
    """Per-channel factor ``g`` with variance = ``g`` x expected value.

    1 on the measured axis; after a conversion with a Jacobian (``to_eV``),
    the converted spectrum of a spectrum of ones, obtained by
    ``fit_signal(ones)`` (the same conversion as the data's).
    """
    import hyperspy.api as hs

    ax = signal.axes_manager.signal_axes[0]
    one = hs.signals.Signal1D(
        np.ones(ax.size), axes=[ax.get_axis_dictionary() | {"navigate": False}]
    )
    one.set_signal_type(signal.metadata.Signal.get_item("signal_type", ""))
    return np.asarray(fit_signal(one).data, dtype=float)


def sandwich_std(model, g, skip=None, block=4096):
    """Sandwich standard deviations of every free parameter of ``model``.

    Parameters
    ----------
    model : hyperspy.models.model1d.Model1D
        Fitted unweighted by :func:`~hyperspy_perovskite.fitting.fast_multifit`
        in this session (its compiled ``evaluate`` exists).
    g : (n_channels,) array
        Count factor of every channel of the signal (:func:`count_factor`).
    skip : dict, optional
        Parameter -> navigation-shaped bool: pixels where that free
        parameter was held (e.g. at its Gaussian limit) and is left out.
    block : int
        Spectra per block (lazy data are computed block by block).

    Returns
    -------
    dict or None
        Parameter -> navigation-shaped standard deviations (NaN where the
        model is singular or a parameter is not finite); None when the
        model has no compiled ``evaluate`` in this session.
    """
    from hyperspy_perovskite.fitting._compile import _COMPILED
    from hyperspy_perovskite.fitting._residuals import _parameter_matrix
    from hyperspy_perovskite.fitting.model_description import describe_model

    desc = describe_model(model, bounded=False)
    compiled = _COMPILED.get(tuple(desc.signature))
    if compiled is None:
        return None
    switches = np.asarray(model._channel_switches, dtype=bool)
    ax = model.axis
    x = np.ascontiguousarray(np.asarray(ax.axis, float)[switches])
    bw = np.ones(x.size)
    if ax.is_binned:
        bw = (
            np.full(x.size, float(ax.scale))
            if ax.is_uniform
            else np.gradient(np.asarray(ax.axis, float))[switches]
        )
    bw = np.ascontiguousarray(bw, dtype=float)
    gs = np.ascontiguousarray(np.asarray(g, float)[switches])
    data = model.signal.data
    nav = model.signal.axes_manager._navigation_shape_in_array
    n = int(np.prod(nav)) if nav else 1
    flat = data.reshape(n, data.shape[-1])
    n_p, n_ch, nf = desc.n_parameters, x.size, len(desc.theta_index)
    active = np.flatnonzero(desc.src >= 0).astype(np.int64)
    na = active.size
    B = np.full((n, nf, nf), np.nan)
    S = np.full((n, nf, nf), np.nan)
    run = _compiled_pass()
    for i0 in range(0, n, block):
        idx = np.arange(i0, min(n, i0 + block))
        y = flat[i0 : i0 + idx.size]
        if not isinstance(y, np.ndarray):
            y = y.compute()
        y = np.ascontiguousarray(np.asarray(y)[:, switches], dtype=np.float64)
        pm = np.ascontiguousarray(_parameter_matrix(desc, idx))
        run(
            compiled.evaluate, x, y, pm, gs, bw, desc.src, desc.scale, desc.shift,
            desc.offsets, desc.consts, desc.theta_index, active,
            B[i0 : i0 + idx.size], S[i0 : i0 + idx.size],
            np.empty(n_p), np.zeros(n_p), np.empty(n_ch), np.zeros((n_p, n_ch)),
            np.empty(n_ch), np.empty(n_ch), np.empty(n_ch), np.empty(n_ch),
            np.empty(nf), np.empty((na, na)), np.empty(na), np.empty((nf, nf)),
            np.empty(nf), np.empty(n_ch),
        )  # fmt: skip
    keep = np.ones((n, nf), bool)
    for par, where in (skip or {}).items():
        i = desc.parameters.index(par)
        if desc.src[i] >= 0:
            keep[np.asarray(where, bool).reshape(-1), desc.src[i]] = False
    C = sandwich_covariance(B, S, keep)
    var = np.diagonal(C, axis1=1, axis2=2)
    out = {}
    for i, par in enumerate(desc.parameters):
        s = desc.src[i]
        if s >= 0:
            with np.errstate(invalid="ignore"):
                std = abs(desc.scale[i]) * np.sqrt(var[:, s])
            out[par] = std.reshape(nav)
    return out
