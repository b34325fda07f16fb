"""``fast_multifit``: fill a HyperSpy model's parameter maps with compiled fits."""

from __future__ import annotations

import time
import warnings
from functools import partial

import numpy as np

from hyperspy_perovskite.fitting import _residual_rows
from hyperspy_perovskite.fitting import flags as F
from hyperspy_perovskite.fitting._cache import cache_once
from hyperspy_perovskite.fitting._compile import (
    compiled_model,
    kernel_probes,
    start_solver_compile,
)
from hyperspy_perovskite.fitting._levenberg_marquardt import workspace
from hyperspy_perovskite.fitting._result import (
    FastFitResult,
    _navigation_array,
)
from hyperspy_perovskite.fitting._schedule import run_blocks, view_as
from hyperspy_perovskite.fitting._screen import screen_inputs
from hyperspy_perovskite.fitting.model_description import describe_model

__all__ = ["fast_multifit"]

_STARTING_VALUES = ("current", "estimate")


def _channel_selection(switches):
    """A slice when the fitted channels are contiguous (no copy), else indices."""
    idx = np.flatnonzero(switches)
    if idx.size == 0:
        raise ValueError(
            "The model's signal range is empty: call m.reset_signal_range() or "
            "m.set_signal_range(x1, x2) with a range inside the axis."
        )
    if idx[-1] - idx[0] + 1 == idx.size:
        return slice(int(idx[0]), int(idx[-1]) + 1)
    return idx


def _estimate_starting_values(model, desc, x_range, mask):
    """Run each component's whole-map estimator; keep fixed and masked values.

    HyperSpy's estimators write every parameter of their component for every
    pixel; fixed parameters and masked pixels get their previous maps back.
    """
    for comp in desc.components:
        estimate = getattr(comp, "estimate_parameters", None)
        if estimate is None or not any(p.free for p in comp.parameters):
            continue
        saved = [(p, p.map.copy(), p.value) for p in comp.parameters]
        try:
            estimate(model.signal, x_range[0], x_range[1], only_current=False)
        except TypeError:
            # estimators without the (signal, x1, x2, only_current) signature
            continue
        for par, old_map, old_value in saved:
            if not par.free or par.twin is not None:
                par.map[...] = old_map
                par.value = old_value
            elif mask.any():
                par.map[mask] = old_map[mask]


def _starting_parameters(model, desc, nav_shape, starting_values, x_range, mask):
    """``(n_pixels, n_params)`` starting values from maps, current values or estimates."""
    if starting_values not in _STARTING_VALUES:
        raise ValueError(
            f"starting_values must be one of {_STARTING_VALUES}, "
            f"not {starting_values!r}."
        )
    if starting_values == "estimate":
        _estimate_starting_values(model, desc, x_range, mask)
    n_pix = int(np.prod(nav_shape)) if nav_shape else 1
    todo = np.flatnonzero(~np.asarray(mask, bool).reshape(n_pix))
    if todo.size == n_pix:
        todo = slice(None)
    # the masked pixels' rows are never read (NaN)
    P0 = np.full((n_pix, desc.n_parameters), np.nan)
    for i, par in enumerate(desc.parameters):
        flat = np.asarray(par.map["values"], dtype=float).reshape(n_pix)
        values = flat[todo]
        use = np.asarray(par.map["is_set"], dtype=bool).reshape(n_pix)[todo]
        use = use | _written_by_fit(par, flat)[todo]
        P0[todo, i] = np.where(use & np.isfinite(values), values, float(par.value))
    for i, j, a, b in desc.fixed_twins:
        P0[todo, i] = a * P0[todo, j] + b
    return P0


def _fit_chunk(
    data,
    variance,
    p0,
    mask,
    *,
    selection,
    saturation,
    min_variance,
    x,
    binw,
    desc_arrays,
    fit_block,
    max_iterations,
    ftol,
    xtol,
    linear_solve,
    count_factor,
    statistics=False,
    collapse=None,
    initial_damping=0.1,
):
    """Fit one block of spectra; the unit of work for dask (eager, lazy, distributed).

    Only the spectra that are not masked are copied and fitted (a second
    start on a few pixels of a map copies those pixels only); masked rows
    of the result hold the flag ``MASKED``, zero iterations and NaN.
    """
    nav_shape = data.shape[:-1]
    n = int(np.prod(nav_shape))
    masked = np.asarray(mask).reshape(n)
    todo = None if not masked.any() else np.flatnonzero(~masked)

    def rows(a):
        a = np.asarray(a).reshape(n, a.shape[-1])
        return a if todo is None else a[todo]

    Y = np.ascontiguousarray(rows(data)[:, selection], dtype=np.float64)
    if variance is None:
        V = np.full((1, 1), np.nan)
    elif np.ndim(variance) == 0:
        V = np.full((1, 1), max(float(variance), min_variance or 0.0))
    else:
        V = np.ascontiguousarray(rows(variance)[:, selection], dtype=np.float64)
        if min_variance is not None:
            V = np.maximum(V, min_variance)
    flags = np.zeros(Y.shape[0], dtype=np.int8)
    screen_inputs(Y, V, np.inf if saturation is None else float(saturation), flags)
    P0 = np.ascontiguousarray(rows(p0), dtype=np.float64)
    src, theta_linear = desc_arrays[0], desc_arrays[-1]
    n_p = P0.shape[1]
    work = workspace(Y.shape[0], Y.shape[1], n_p, src, theta_linear, statistics)
    fit_block(
        x,
        Y,
        V,
        P0,
        flags,
        binw,
        *desc_arrays,
        max_iterations,
        ftol,
        xtol,
        linear_solve,
        *(collapse or _collapse_rule(None, None)),
        initial_damping,
        count_factor,
        *work,
    )
    out = work[0]
    if todo is not None:
        full = np.full((n, out.shape[1]), np.nan)
        full[:, 2 * n_p + 1] = F.MASKED
        full[:, 2 * n_p + 2] = 0
        full[todo] = out
        out = full
    return out.reshape(nav_shape + (out.shape[-1],))


def fast_multifit(
    model,
    mask=None,
    starting_values="current",
    bounded=True,
    max_iterations=100,
    ftol=1.49012e-08,
    xtol=1.49012e-08,
    saturation=None,
    min_variance=None,
    min_peak_significance=1.0,
    chunk_pixels=8192,
    show_progressbar=None,
    num_workers=None,
    linear_solve=True,
    count_variance=None,
    collapse=None,
    initial_damping=0.1,
):
    """Fit every navigation pixel of a HyperSpy ``Model1D`` with compiled code.

    A drop-in for ``m.multifit()`` when all components have compiled kernels
    (:func:`~hyperspy_perovskite.fitting.supported_components`): the
    parameter maps (``values``, ``std``, ``is_set``), ``m.chisq`` and
    ``m.dof`` are filled as ``multifit`` fills them, so ``m.plot()``,
    ``m.as_signal()``, ``parameter.as_signal()``, ``m.save()`` and
    ``m.export_results()`` work unchanged. Spectra are fitted in blocks by a
    compiled Levenberg-Marquardt solver; dask runs the blocks on threads, or
    on a dask.distributed cluster when a client is active, and streams lazy
    signals chunk by chunk.

    Parameters
    ----------
    model : hyperspy.models.model1d.Model1D
        The model, e.g. from ``s.create_model()``. Free and fixed parameters,
        bounds, twins of the form ``a*x + b``, the signal range
        (``m.set_signal_range``) and the noise variance in
        ``metadata.Signal.Noise_properties.variance`` (weights
        ``1/sqrt(variance)``) are honoured.
    mask : array of bool or None
        Navigation-shaped; True pixels are not fitted (flag ``MASKED``) and
        their maps are left untouched, as in ``m.multifit(mask=...)``.
    starting_values : {"current", "estimate"}
        "current": each pixel starts from its stored map value where
        ``is_set``, else from the parameter's current value. "estimate": each
        component's ``estimate_parameters(signal, x1, x2, only_current=False)``
        over the fitted range fills the maps first.
    bounded : bool
        Keep free parameters within ``bmin``/``bmax`` (unlike ``multifit``'s
        default, bounds apply unless you pass False).
    max_iterations : int
        Levenberg-Marquardt iterations per pixel before flag ``MAX_ITERATIONS``.
    ftol, xtol : float
        Convergence when the actual or predicted relative decrease of
        chi-squared is below ``ftol``, or the largest relative step is below
        ``xtol`` (defaults as ``scipy.optimize.leastsq``, used by
        ``m.multifit``).
    saturation : float or None
        Spectra with any fitted channel at or above this level are flagged
        ``SATURATED`` and not fitted. None: the largest value of an integer
        dtype; no check for float data.
    min_variance : float or None
        Lower bound applied to the noise variance, e.g. 1 for Poisson counts
        whose variance was estimated from the data
        (``estimate_poissonian_noise_variance`` gives 0 in empty channels).
        None: a pixel with a zero, negative or non-finite variance is flagged
        ``BAD_VARIANCE`` and not fitted.
    min_peak_significance : float
        A peak component (one with an amplitude parameter) whose
        ``|amplitude| / std`` is below this, or whose position ends outside
        the fitted range, is flagged ``NO_PEAK``.
    chunk_pixels : int
        Largest number of spectra per block for in-memory data; smaller
        blocks are used so that every core gets several (lazy data keep
        their chunks).
    %s
    num_workers : int or None
        Threads of the local dask scheduler (ignored under dask.distributed).
    linear_solve : bool
        Move the parameters in which the model is linear (offsets, polynomial
        coefficients, amplitudes) to their exact least-squares optimum after
        every accepted step, without evaluating the model again (a
        variable-projection step): fewer iterations, and models with local
        minima (two bands and a tail) end in lower ones. False gives plain
        Levenberg-Marquardt.
    count_variance : array or None
        For unweighted fits (no noise variance set) of photon counts: per
        channel of the signal axis, the factor ``g`` of the count variance
        ``g x model`` (ones for counts; after ``to_eV``, the converted
        spectrum of a spectrum of ones). The standard deviations are then
        the sandwich's, ``diag((J^T J)^-1 J^T diag(g f) J (J^T J)^-1)^1/2``
        at the fitted point (Huber 1967; White 1980), not HyperSpy's
        equal-noise ``diag((J^T J)^-1) chisq / dof``; the values do not
        change. One more model evaluation per pixel.
    collapse : (float, int) or None
        ``(significance, iterations)``: end a fit early, flagged ``NO_PEAK``,
        whose peak amplitude has been below ``significance`` of its standard
        deviation at every iteration of its second half, from ``iterations``
        on (:mod:`~hyperspy_perovskite.fitting._collapse`). None: never.
    initial_damping : float
        Marquardt's damping ``lambda`` of each pixel's first step, relative
        to the diagonal of ``J^T J`` (> 0; then divided by 5 after an
        accepted step, multiplied by 10 after a rejected one). Smaller:
        nearer the Gauss-Newton step, for refits that start near their
        minimum (the Urbach resolution test of ``fit_emission``: 1e-4).

    Returns
    -------
    FastFitResult
        Convergence flags, chi-squared maps, iterations and timings.

    Raises
    ------
    UnsupportedComponentError
        If a component has no compiled kernel (use ``m.multifit()``).

    Examples
    --------
    >>> from hyperspy_perovskite.data import simulated_emission_map
    >>> from hyperspy_perovskite.fitting import fast_multifit
    >>> s, truth = simulated_emission_map(shape=(8, 8), seed=1)
    >>> m = s.create_model()
    >>> g = hs.model.components1D.Gaussian()
    >>> m.extend([g, hs.model.components1D.Offset()])
    >>> result = fast_multifit(m, starting_values="estimate")
    >>> result.n_converged
    64
    >>> bool(np.all(np.abs(g.centre.map["values"] - truth["centre"]) < 1.0))
    True
    """
    t0 = time.perf_counter()
    if not (np.isfinite(initial_damping) and initial_damping > 0):
        raise ValueError(f"initial_damping must be positive, not {initial_damping!r}")
    start_solver_compile()  # first fit after an install: in a second process
    desc = describe_model(model, bounded=bounded)
    cache_once(screen_inputs)
    signal = model.signal
    nav_shape = tuple(signal.data.shape[:-1])
    selection, x, binw = _axis_arrays(model)
    x_range = (float(x.min()), float(x.max()))
    mask = _navigation_mask(mask, nav_shape)
    if saturation is None and np.issubdtype(signal.data.dtype, np.integer):
        saturation = float(np.iinfo(signal.data.dtype).max)
    variance = _noise_variance(signal)
    count_factor = _count_factor(count_variance, variance, selection, x.size)
    P0 = _starting_parameters(model, desc, nav_shape, starting_values, x_range, mask)
    statistics = _residual_rows.wanted(model, binw)  # asked for by fit_emission
    func = partial(
        _fit_chunk,
        selection=selection,
        saturation=saturation,
        min_variance=None if min_variance is None else float(min_variance),
        x=x,
        binw=binw,
        desc_arrays=_description_arrays(desc),
        fit_block=compiled_model(
            desc.signature,
            kernel_probes(
                desc.components, desc.parameters, desc.offsets, desc.consts, x
            ),
        ).fit_block,
        max_iterations=int(max_iterations),
        ftol=float(ftol),
        xtol=float(xtol),
        linear_solve=bool(linear_solve),
        count_factor=count_factor,
        statistics=statistics,
        collapse=_collapse_rule(desc, collapse),
        initial_damping=float(initial_damping),
    )
    out = run_blocks(
        func,
        signal,
        variance,
        P0,
        mask,
        desc,
        chunk_pixels,
        show_progressbar,
        num_workers,
        2 * statistics,
    )
    if statistics:
        fitted = out[:, 2 * desc.n_parameters + 1] != F.MASKED
        _residual_rows.remember(model, desc, out, fitted, selection)
    result = _finish(model, desc, out, x, x_range, min_peak_significance, t0)
    # a model class that keeps fit results (flags, validity) with the model,
    # e.g. hyperspy_perovskite.models.PerovskiteModel1D, receives them here
    store = getattr(model, "_store_fast_fit", None)
    if callable(store):
        store(result)
    return result


def _collapse_rule(desc, collapse):
    """The solver's ``(peaks, collapse)`` arrays (no peaks: no rule)."""
    if collapse is None:
        return np.empty(0, np.int64), np.zeros(2)
    significance, iterations = collapse
    peaks = [i for i in desc.amplitude_index if desc.src[i] >= 0]
    return np.array(peaks, np.int64), np.array([significance, iterations], float)


def _count_factor(count_variance, variance, selection, n_fitted):
    """``count_variance`` on the fitted channels (empty array: none)."""
    if count_variance is None:
        return np.empty(0)
    if variance is not None:
        raise ValueError(
            "count_variance is for unweighted fits: the signal has a noise "
            "variance (metadata.Signal.Noise_properties.variance), whose "
            "weights already give the standard deviations."
        )
    g = np.ascontiguousarray(np.asarray(count_variance, dtype=np.float64).ravel())
    g = np.ascontiguousarray(g[selection]) if g.size > n_fitted else g
    if g.size != n_fitted or not np.all(np.isfinite(g)) or np.any(g < 0):
        raise ValueError(
            "count_variance must hold one finite, non-negative factor per "
            f"channel of the signal axis ({n_fitted} fitted channels)."
        )
    return g


def _axis_arrays(model):
    """Channel selection, axis values and bin widths of the fitted channels."""
    axis = model.axis
    selection = _channel_selection(np.asarray(model._channel_switches, dtype=bool))
    x_all = np.asarray(axis.axis, dtype=np.float64)
    if axis.is_binned:
        bw_all = (
            np.full(x_all.shape, float(axis.scale))
            if axis.is_uniform
            else np.gradient(x_all)
        )
    else:
        bw_all = np.ones_like(x_all)
    return (
        selection,
        np.ascontiguousarray(x_all[selection]),
        np.ascontiguousarray(bw_all[selection]),
    )


def _navigation_mask(mask, nav_shape):
    if mask is None:
        return np.zeros(nav_shape, dtype=bool)
    mask = np.asarray(mask, dtype=bool)
    if nav_shape == () and mask.size == 1:  # a lone spectrum's maps are (1,)
        return mask.reshape(())
    if mask.shape != nav_shape:
        raise ValueError(
            f"mask has shape {mask.shape} but the navigation shape of the "
            f"signal (numpy order) is {nav_shape}."
        )
    return mask


def _noise_variance(signal):
    """The noise variance: None, a positive number or an array like the data."""
    variance = signal.get_noise_variance()
    if variance is not None and not np.isscalar(variance):
        variance = variance.data
        if variance.shape != signal.data.shape:
            raise ValueError(
                f"The noise variance has shape {variance.shape} but the signal "
                f"{signal.data.shape}; set metadata.Signal.Noise_properties."
                "variance to a number or a signal of the same shape."
            )
    elif variance is not None and not (np.isfinite(variance) and variance > 0):
        raise ValueError(
            f"The noise variance is {variance}; it must be a positive finite "
            "number or a signal (see s.estimate_poissonian_noise_variance())."
        )
    return variance


def _description_arrays(desc):
    return (
        desc.src,
        desc.scale,
        desc.shift,
        desc.theta_index,
        desc.lower,
        desc.upper,
        desc.offsets,
        desc.consts,
        desc.amplitude_of,
        desc.theta_linear,
    )


def _finish(model, desc, out, x, x_range, min_peak_significance, t0):
    """Flags, maps written into the model, and the :class:`FastFitResult`."""
    nav_shape = tuple(model.signal.data.shape[:-1])
    n_p = desc.n_parameters
    flag_map = out[:, 2 * n_p + 1].astype(np.int8)
    _apply_peak_checks(desc, out, flag_map, x_range, min_peak_significance)
    _write_maps(model, desc, out, flag_map)
    chisq = out[:, 2 * n_p].reshape(nav_shape)
    dof_fit = x.size - desc.n_free
    red = chisq / dof_fit if dof_fit > 0 else np.full_like(chisq, np.nan)
    counts = F.count_flags(flag_map)
    if counts.get("bad_variance"):
        warnings.warn(
            f"{counts['bad_variance']} pixel(s) were not fitted because their noise "
            "variance is zero, negative or not finite in the fitted range. For "
            "Poisson counts estimated from the data, pass min_variance=1.",
            stacklevel=3,
        )
    return FastFitResult(  # the signals are made when first read
        convergence=_navigation_array(model, flag_map.reshape(nav_shape)),
        chisq=_navigation_array(model, chisq),
        reduced_chisq=_navigation_array(model, red),
        iterations=_navigation_array(
            model, out[:, 2 * n_p + 2].reshape(nav_shape).astype(np.int32)
        ),
        n_pixels=out.shape[0],
        elapsed=time.perf_counter() - t0,
        flag_counts=counts,
        model=model,
    )


fast_multifit.__doc__ = fast_multifit.__doc__ % (
    "show_progressbar : None or bool\n"
    "        Show a progress bar; None follows HyperSpy's preferences."
)


def _apply_peak_checks(desc, out, flag_map, x_range, min_peak_significance):
    n_p = desc.n_parameters
    ok = flag_map == F.CONVERGED
    for i in desc.position_index:
        pos = out[:, i]
        outside = (pos < x_range[0]) | (pos > x_range[1])
        flag_map[ok & outside] = F.NO_PEAK
    if min_peak_significance and min_peak_significance > 0:
        for i in desc.amplitude_index:
            if desc.src[i] < 0:
                continue  # fixed amplitude: nothing to test
            val = np.abs(out[:, i])
            std = out[:, n_p + i]
            with np.errstate(invalid="ignore", divide="ignore"):
                weak = ~(val >= min_peak_significance * std)
            flag_map[(flag_map == F.CONVERGED) & weak] = F.NO_PEAK


def _update(array, fitted, new):
    """``array[fitted] = new[fitted]`` for an array of any (navigation) shape;
    ``fitted`` a boolean mask, or the flat indices of its True pixels."""
    shape = np.shape(array)
    if fitted.dtype == bool and fitted.all():  # no copy of the map: in place
        array[...] = np.reshape(new, shape)
        return
    idx = np.flatnonzero(fitted) if fitted.dtype == bool else fitted
    if not idx.size:
        return
    flat = view_as(array, (-1,))  # a map's field is a strided view
    if flat is None:
        array[np.unravel_index(idx, shape)] = new[idx]
    else:
        flat[idx] = new[idx]


def _write_maps(model, desc, out, flag_map):
    """Fill maps, chisq and dof as ``multifit`` does; masked pixels untouched."""
    n_p = desc.n_parameters
    fitted = flag_map != F.MASKED
    rejected = np.isin(flag_map, F.INPUT_REJECTED)
    converged = flag_map == F.CONVERGED
    where = fitted if fitted.all() else np.flatnonzero(fitted)
    any_rejected = rejected.any()
    for i, par in enumerate(desc.parameters):
        values = out[:, i]
        if desc.src[i] >= 0:
            if any_rejected:
                values = values.copy()
                values[rejected] = np.nan
            _update(par.map["std"], where, out[:, n_p + i])
        _update(par.map["values"], where, values)
        _update(par.map["is_set"], where, converged)
        _record_written(par, fitted, converged)
    _update(model.chisq.data, where, out[:, 2 * n_p])
    _update(model.dof.data, where, np.full(out.shape[0], desc.n_free))
    model.fetch_stored_values()


# A pixel whose fit did not converge keeps its values with ``is_set`` False
# (``is_set`` means converged here); a later ``starting_values="current"``
# fit starts it from those values, not from the parameter's single value.
# The record holds those pixels' values (not the converged ones': they are
# ``is_set``), so a map changed since (restored, re-created, edited) is
# trusted only where ``is_set``.
def _record_written(par, fitted, converged):
    """Remember the values this fit wrote, unconverged, into ``par``'s map."""
    values = np.asarray(par.map["values"], dtype=float).reshape(-1)
    idx = np.flatnonzero(_written_by_fit(par, values) & ~fitted)
    new = np.flatnonzero(fitted & ~converged & np.isfinite(values))
    idx = np.concatenate([idx, new])
    par._fast_fit_written = (values.size, idx, values[idx])


def _written_by_fit(par, values):
    """Pixels of ``values`` (flat) that still hold what a fit wrote unconverged."""
    out = np.zeros(values.shape, bool)
    record = getattr(par, "_fast_fit_written", None)
    if record is not None and record[0] == values.size:
        out[record[1]] = values[record[1]] == record[2]
    return out
