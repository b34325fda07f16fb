"""The count noise of a refit's chi-squared change, by the compiled model.

:func:`~hyperspy_perovskite.signals._cl_refit.change_scale` needs, for every
refitted pixel, the model before and after the refit on every
:data:`~hyperspy_perovskite.signals._cl_refit.CURVE_STEP`-th fitted channel,
and from them one number: ``sum d**2 var / sum d**2`` (``d`` the change of
the model, ``var = max(g f0, 1)`` the count variance of the first fit).
:func:`change_ratio` makes both curves with the model's own compiled
``evaluate`` (the function the solver calls, compiled when the model was
fitted: nothing is compiled per model here) and reduces them at once, in
blocks of pixels on threads: no curve is kept.

Session 17 (bench_cl_fit's map, 128 x 128, true Eu 25 meV, 1025 pixels
refitted by the Urbach resolution test, load 4-5): the two sets of curves
by HyperSpy's NumPy and numexpr forms of the components
(:func:`~hyperspy_perovskite.signals._cl_curves.pixel_model`, the first on
a kept thread beside the refit) cost 33-40 ms of CPU, 15-18 % of the
test; here the scale takes 8-9 ms (the whole test 223-234 -> 202-208 ms
of CPU, alternating with 0981ec7). The scales agree to 1.5e-12 relative
(64 x 64 seed 0, true Eu 12 / 25 / 50 meV, 35 / 258 / 623 pixels), so the
test's verdicts are those of the curves (``cl_same_maps``: 0 of 1770
arrays differ).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from hyperspy_perovskite._threads import on_threads

__all__ = ["change_ratio"]


@njit(nogil=True, error_model="numpy", _nrt=False)
def _change_block(
    evaluate, x, P0, P1, g, offsets, consts, out,
    src, scale, shift, P, grad, f, G, rb, bw, bw2, w, y, f0, theta, active,
    M, Mr, JtJ, Jtr,
):  # fmt: skip
    """``sum d**2 max(g f0, 1) / sum d**2`` of every row, into ``out``.

    ``f0`` is the model at ``P0``'s row, ``d`` the model at ``P1``'s row
    less ``f0`` (``src`` all -1: ``evaluate`` takes each row as it is; no
    bin width: the components' sum, as HyperSpy evaluates them). NaN where
    a parameter is not finite, and where the model did not move.
    """
    n_pix = P0.shape[0]
    n_ch = x.shape[0]
    n_p = P0.shape[1]
    for j in range(n_ch):
        w[j] = 1.0
        bw[j] = 1.0
        bw2[j] = 1.0
        y[j] = 0.0
    for p in range(n_pix):
        finite = True
        for i in range(n_p):
            if not (math.isfinite(P0[p, i]) and math.isfinite(P1[p, i])):
                finite = False
        if not finite:
            out[p] = np.nan
            continue
        for i in range(n_p):
            P[i] = P0[p, i]
        evaluate(
            theta, P, grad, f, G, rb, bw, bw2, True, active, M, Mr, JtJ, Jtr,
            x, y, w, bw, src, scale, shift, offsets, consts,
        )  # fmt: skip
        for j in range(n_ch):
            f0[j] = f[j]
        for i in range(n_p):
            P[i] = P1[p, i]
        evaluate(
            theta, P, grad, f, G, rb, bw, bw2, True, active, M, Mr, JtJ, Jtr,
            x, y, w, bw, src, scale, shift, offsets, consts,
        )  # fmt: skip
        num = 0.0
        den = 0.0
        for j in range(n_ch):
            d = f[j] - f0[j]
            d2 = d * d
            var = g[j] * f0[j]
            if var < 1.0:  # at least one count's variance (NaN stays NaN)
                var = 1.0
            num += d2 * var
            den += d2
        out[p] = num / den


_COMPILED_PASS = None


def _compiled_pass():
    """:func:`_change_block`, compiled once for every model (disk cache)."""
    global _COMPILED_PASS
    if _COMPILED_PASS is None:
        from numba import types

        from hyperspy_perovskite._numba_cache import compile_once
        from hyperspy_perovskite.fitting._compile import EVALUATE_TYPE

        a1, a2 = types.float64[::1], types.float64[:, ::1]
        i1 = types.int64[::1]
        compile_once(
            _change_block,
            (EVALUATE_TYPE, a1, a2, a2, a1, i1, a2, a1,
             i1, a1, a1, a1, a1, a1, a2, a1, a1, a1, a1, a1, a1, a1, i1,
             a2, a1, a2, a1),
            "change_block",
        )  # fmt: skip
        _COMPILED_PASS = _change_block
    return _COMPILED_PASS


def change_ratio(m, x, g, before, after):
    """``sum d**2 max(g f0, 1) / sum d**2`` per row, by the compiled model.

    Parameters
    ----------
    m : hyperspy.models.model1d.Model1D
        A model whose structure :func:`~hyperspy_perovskite.fitting.fast_multifit`
        fitted in this session (its compiled ``evaluate`` exists).
    x : numpy.ndarray, shape (n,)
        The channels' axis values.
    g : numpy.ndarray, shape (n,)
        Count variance per unit of the model on those channels.
    before, after : dict
        ``{parameter: values}`` of every parameter of ``m`` (rows: the
        pixels): ``f0`` is the model at ``before``, ``d`` its change to
        ``after``.

    Returns
    -------
    numpy.ndarray or None
        One value per row (NaN where a parameter is not finite or the model
        did not move); None when the model has no compiled ``evaluate``
        (the caller then evaluates the curves with NumPy).

    Examples
    --------
    A band 10 % brighter, with no count variance above the floor of one
    count: one count's variance per unit of the change.

    >>> from hyperspy_perovskite.data import simulated_emission_map
    >>> from hyperspy_perovskite.signals._cl_change import change_ratio
    >>> s, truth = simulated_emission_map(shape=(1, 2), seed=0)
    >>> s.set_signal_type("CL_STEM_perovskite")
    >>> m = s.fit_emission(axis="energy")
    >>> before = {p: p.map["values"].ravel() for c in m for p in c.parameters}
    >>> A = m["Emission"].A
    >>> after = {**before, A: 1.1 * before[A]}
    >>> x = m.axis.axis[::4]
    >>> change_ratio(m, x, np.zeros(x.size), before, after).round(12).tolist()
    [1.0, 1.0]
    """
    from hyperspy_perovskite.fitting._residuals import compiled_evaluate

    found = compiled_evaluate(m)
    if found is None:
        return None
    desc, evaluate = found
    run = _compiled_pass()
    P0 = np.column_stack([np.asarray(before[p], float) for p in desc.parameters])
    P1 = np.column_stack([np.asarray(after[p], float) for p in desc.parameters])
    n, n_p, n_ch = P0.shape[0], desc.n_parameters, x.size
    x = np.ascontiguousarray(x, dtype=float)
    g = np.ascontiguousarray(g, dtype=float)
    src = np.full(n_p, -1, dtype=np.int64)
    ones, zeros = np.ones(n_p), np.zeros(n_p)
    out = np.full(n, np.nan)

    def one(rows):
        run(
            evaluate, x, np.ascontiguousarray(P0[rows]),
            np.ascontiguousarray(P1[rows]), g, desc.offsets, desc.consts,
            out[rows], src, ones, zeros, np.empty(n_p), np.zeros(n_p),
            np.empty(n_ch), np.zeros((n_p, n_ch)), np.empty(n_ch),
            np.empty(n_ch), np.empty(n_ch), np.empty(n_ch), np.empty(n_ch),
            np.empty(n_ch), np.empty(0), np.empty(0, np.int64),
            np.empty((0, 0)), np.empty(0), np.empty((0, 0)), np.empty(0),
        )  # fmt: skip

    on_threads(one, n)
    return out
