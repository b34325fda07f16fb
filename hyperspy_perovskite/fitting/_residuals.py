"""Residual structure of every pixel of a fitted model, in one compiled pass.

For each pixel the model is evaluated at its stored parameter maps by the
model's compiled ``evaluate`` (the function the solver calls, compiled when
the model was fitted: nothing is compiled per model here), and two numbers
are reduced from the residual ``r = y - model`` without any temporary the
size of the data:

- the Wald-Wolfowitz runs-test z-score of the residual signs (Wald and
  Wolfowitz, Ann. Math. Statist. 11, 147 (1940)), exactly as
  :func:`hyperspy_perovskite.analysis.cl_checks.runs_test`;
- the largest absolute residual after a ``width``-channel boxcar
  (``scipy.ndimage.uniform_filter1d``, mode ``"reflect"``), relative to the
  model's range (largest minus smallest value over the fitted channels).

Blocks of spectra run on threads (the compiled pass holds no GIL). Pixels
whose parameters are exactly those at which the solver recorded the same
two numbers during ``fit_emission`` (:mod:`~._residual_rows`) are read from
that record instead (session 14: 13.8 -> 0.4 us of CPU per spectrum of the
bench map, the solver's share 2.8 us per fitted pixel).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from hyperspy_perovskite._threads import on_threads
from hyperspy_perovskite.fitting import _cache, _compile
from hyperspy_perovskite.fitting._compile import _COMPILED, EVALUATE_TYPE
from hyperspy_perovskite.fitting._residual_rows import recorded, row_statistics

__all__ = ["residual_statistics"]


@njit(nogil=True, error_model="numpy", _nrt=False)
def _residual_block(
    evaluate, x, Y, PM, binw, src, scale, shift, offsets, consts, width, out,
    P, grad, f, G, rb, bw, bw2, w, theta, active, M, Mr, JtJ, Jtr,
):  # fmt: skip
    """Runs-test z and relative boxcar residual of every row of ``Y``.

    ``PM`` (n_pixels, n_params) holds every parameter (``src`` all -1: the
    model is evaluated at ``PM``'s row as it is). ``out`` (n_pixels, 2)
    receives ``z`` and ``size``.
    """
    n_pix, n_ch = Y.shape
    n_p = PM.shape[1]
    for j in range(n_ch):
        w[j] = 1.0
    unit = True
    for j in range(n_ch):
        bw[j] = binw[j]
        bw2[j] = binw[j] * binw[j]
        if binw[j] != 1.0:
            unit = False
    for p in range(n_pix):
        finite_p = True
        for i in range(n_p):
            P[i] = PM[p, i]
            if not math.isfinite(P[i]):
                finite_p = False
        if not finite_p:
            out[p, 0] = np.nan
            out[p, 1] = np.nan
            continue
        y = Y[p]
        evaluate(
            theta, P, grad, f, G, rb, bw, bw2, unit, active, M, Mr, JtJ, Jtr,
            x, y, w, binw, src, scale, shift, offsets, consts,
        )  # fmt: skip
        # rb = y - model, the model being f times the bin width (binned axis)
        row_statistics(rb, f, binw, width, out[p], 0)


_COMPILED_PASS = None


def _compiled_pass():
    """:func:`_residual_block`, compiled once for every model (disk cache)."""
    global _COMPILED_PASS
    if _COMPILED_PASS is None:
        from numba import types

        a1, a2 = types.float64[::1], types.float64[:, ::1]
        i1 = types.int64[::1]
        _cache.compile_once(
            _residual_block,
            (EVALUATE_TYPE, a1, a2, a2, a1, i1, a1, a1, i1, a2, types.int64, a2,
             a1, a1, a1, a2, a1, a1, a1, a1, a1, i1, a2, a1, a2, a1),
            "residual_block",
            cached=_compile.from_second_process,  # it compiles it too
        )  # fmt: skip
        _COMPILED_PASS = _residual_block
    return _COMPILED_PASS


def compiled_evaluate(model):
    """``(description, evaluate)`` of ``model``: its
    :func:`~hyperspy_perovskite.fitting.model_description.describe_model`
    (unbounded) and the compiled ``evaluate`` of its structure, which
    :func:`~hyperspy_perovskite.fitting.fast_multifit` compiled in this
    session; None when a component has no kernel or the structure was not
    compiled (the caller then uses NumPy or refits). For the compiled passes
    that evaluate a fitted model per pixel (this module's,
    :mod:`~hyperspy_perovskite.fitting._score`,
    :mod:`~hyperspy_perovskite.signals._cl_change`)."""
    from hyperspy_perovskite.fitting.model_description import describe_model
    from hyperspy_perovskite.fitting.registry import UnsupportedComponentError

    try:
        desc = describe_model(model, bounded=False)
    except (UnsupportedComponentError, TypeError, ValueError):
        return None
    compiled = _COMPILED.get(tuple(desc.signature))
    return None if compiled is None else (desc, compiled.evaluate)


def _parameter_matrix(desc, flat_index):
    """(n, n_params) stored values of the pixels ``flat_index``."""
    out = np.empty((len(flat_index), desc.n_parameters))
    for i, par in enumerate(desc.parameters):
        values = np.asarray(par.map["values"], dtype=float).reshape(-1)
        out[:, i] = values[flat_index]
    return out


def fitted_rows(flat, rows, selection, todo=None):
    """The spectra of the block ``rows`` (slice) of ``flat`` (eager or lazy;
    a lazy block is computed), only the rows ``todo`` (mask) if given, on
    the fitted channels ``selection``, as contiguous float64 (a slice of
    contiguous channels of float64 data is a view: no copy)."""
    y = flat[rows]
    if not isinstance(y, np.ndarray):
        y = y.compute()
    y = np.asarray(y) if todo is None else np.asarray(y)[todo]
    return np.ascontiguousarray(y[:, selection], dtype=np.float64)


def residual_statistics(model, width=5, block=4096, num_workers=None, pixels=None):
    """Runs-test z and relative smoothed residual of every pixel, compiled.

    Parameters
    ----------
    model : hyperspy.models.model1d.Model1D
        A model whose structure was fitted by
        :func:`~hyperspy_perovskite.fitting.fast_multifit` in this session
        (its compiled ``evaluate`` exists).
    width : int
        Odd boxcar width in channels.
    block : int
        Spectra per block (lazy data are computed block by block).
    num_workers : int or None
        Threads (None: one per core).
    pixels : array of bool, optional
        Navigation-shaped: evaluate the model only there (NaN elsewhere),
        e.g. the converged pixels.

    Returns
    -------
    (z, size) : tuple of numpy.ndarray or None
        Navigation-shaped maps (NaN where a parameter is not finite), or
        None when the model's structure has no compiled ``evaluate`` in this
        session or ``width`` is even (the caller then uses numpy).
    """
    if int(width) % 2 != 1:
        return None
    found = compiled_evaluate(model)
    if found is None:
        return None
    desc, evaluate = found
    run = _compiled_pass()
    from hyperspy_perovskite.fitting.engine import _axis_arrays

    selection, x, bw = _axis_arrays(model)
    data = model.signal.data
    nav = model.signal.axes_manager._navigation_shape_in_array
    n = int(np.prod(nav)) if nav else 1
    flat = data.reshape(n, data.shape[-1])
    n_p, n_ch = desc.n_parameters, x.size
    src = np.full(n_p, -1, dtype=np.int64)
    ones, zeros = np.ones(n_p), np.zeros(n_p)
    result = np.full((n, 2), np.nan)
    # every parameter of every pixel once (NaN rows are not evaluated)
    params = _parameter_matrix(desc, np.arange(n))
    if pixels is not None:
        params[~np.asarray(pixels, dtype=bool).reshape(n)] = np.nan
    # the solver's statistics where the parameters are those it fitted
    known = recorded(model, desc, params, selection, width)
    if known is not None:
        use, stats = known
        result[use] = stats[use]
        params[use] = np.nan  # not evaluated again

    def one(rows):
        todo = np.isfinite(params[rows]).all(axis=1)
        if not todo.any():
            return
        todo = None if todo.all() else todo  # then only those rows are read
        y = fitted_rows(flat, rows, selection, todo)
        pm = np.ascontiguousarray(params[rows] if todo is None else params[rows][todo])
        out = np.empty((pm.shape[0], 2))
        run(
            evaluate, x, y, pm, bw, src, ones, zeros, desc.offsets, desc.consts,
            int(width), out,
            np.empty(n_p), np.zeros(n_p), np.empty(n_ch), np.zeros((n_p, n_ch)),
            np.empty(n_ch), np.empty(n_ch), np.empty(n_ch), np.empty(n_ch),
            np.empty(0), np.empty(0, np.int64), np.empty((0, 0)), np.empty(0),
            np.empty((0, 0)), np.empty(0),
        )  # fmt: skip
        if todo is None:
            result[rows] = out
        else:
            result[rows][todo] = out

    on_threads(one, n, max_rows=block, num_workers=num_workers)
    return result[:, 0].reshape(nav), result[:, 1].reshape(nav)
