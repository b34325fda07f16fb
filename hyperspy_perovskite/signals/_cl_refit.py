"""One home for "refit with a parameter held or freed, then restore".

After ``fit_emission``'s fit, several tests fit some pixels of the map again
with one parameter changed and compare: the Gaussian limit of an
asymmetric band (``tau`` held at its bound, :mod:`._cl_limits`), its second
reading (the map's median shape as start), the resolution of the Urbach
energy (``Eu`` held two std lower, :mod:`._cl_urbach`), a held ``Eu``'s
given std carried into the band errors (``Eu`` at +-1 std,
:mod:`._cl_shared`) and the shared ``Eu``'s per-pixel test (``Eu`` freed,
:mod:`._cl_consistency`). :func:`refit` does what they share: snapshot the
maps, set the starting values, hold or free the parameters, run the
compiled engine on the chosen pixels from the current values, measure the
rise of chi-squared in noise variances, and restore the maps and the
parameters' free state wherever the refit is not kept. What differs is in
its arguments: the pixels, the iteration cap, the tolerance, the
reference chi-squared and the noise scale of the rise (:func:`noise_scale`
or, for an unweighted fit of photon counts, :func:`change_scale`).
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from hyperspy_perovskite.signals._cl_stages import stage

__all__ = ["Refit", "change_scale", "noise_scale", "refit"]


class Refit:
    """What :func:`refit` yields: the engine's outcome ``new``, its
    ``flags`` (the convergence map), the chi-squared ``rise`` over the
    reference in noise variances (None unless asked for) and the pixels
    ``kept`` (none until :meth:`keep`)."""

    def __init__(self, new, rise, where):
        self.new, self.rise = new, rise
        self.flags = np.asarray(new.array("convergence"))
        self.kept = np.zeros(np.shape(where), bool)

    def keep(self, where):
        """Keep the refit (maps, chi-squared and the engine's outcome) at the
        pixels ``where``; everywhere else the maps are restored."""
        self.kept = np.asarray(where, bool)


@contextmanager
def refit(
    m,
    result,
    where,
    fit_kwargs,
    *,
    hold=(),
    release=(),
    start=None,
    max_iterations=None,
    ftol=None,
    reference=None,
    scale=None,
):
    """Fit the pixels ``where`` of a fitted model again, changed; restore after.

    Parameters
    ----------
    m : hyperspy.models.model1d.Model1D
        The fitted model (its maps hold the fit).
    result : FitResult
        The engine's outcome of the fit: gains the refit's elapsed time, and
        its outcome at the pixels kept (:meth:`Refit.keep`).
    where : numpy.ndarray of bool
        Navigation-shaped: the pixels to fit again.
    fit_kwargs : dict
        Keyword arguments of ``fast_multifit`` (as the fit's).
    hold, release : sequence of Parameter
        Parameters made fixed (``hold``) or free (``release``) for the refit;
        their free state is put back after it, also on error.
    start : dict, optional
        ``{parameter: values}``: starting values at ``where`` (a scalar or a
        navigation-shaped array), set after the snapshot.
    max_iterations : int, optional
        Cap of the refit's iterations (the fit's own cap if lower).
    ftol : float, optional
        Tolerance of the refit unless ``fit_kwargs`` gives one.
    reference : numpy.ndarray, optional
        The chi-squared the rise is measured from (default: the model's at
        the call).
    scale : {None, "residual", "change"}
        The rise's unit for an unweighted fit (a weighted fit's chi-squared
        is in noise variances already): ``"residual"`` the residual mean
        square (:func:`noise_scale`), ``"change"`` the noise variance of the
        change itself (:func:`change_scale`, for photon counts with
        ``count_variance`` in ``fit_kwargs``). None: no rise measured.

    Yields
    ------
    Refit
        The refit's outcome, with the maps holding the refit until the end
        of the ``with`` block; then they are restored at ``where`` but at
        the pixels kept, the parameters' values fetched.

    Examples
    --------
    >>> from hyperspy_perovskite.data import simulated_emission_map
    >>> from hyperspy_perovskite.signals._cl_refit import refit
    >>> s, truth = simulated_emission_map(shape=(2, 3), seed=0)
    >>> s.set_signal_type("CL_STEM_perovskite")
    >>> m = s.fit_emission(axis="energy", poisson=True)
    >>> r0 = m.fast_fit_result
    >>> sigma = m["Emission"].sigma
    >>> before = sigma.map["values"].copy()
    >>> everywhere = np.ones((2, 3), bool)
    >>> with refit(m, r0, everywhere, {}, hold=[sigma],
    ...            start={sigma: 1.2 * before}, scale="residual") as r:
    ...     bool((r.rise > 0).all())  # a wider band fits worse
    True
    >>> bool((sigma.map["values"] == before).all()), sigma.free  # restored
    (True, True)
    """
    from hyperspy_perovskite.fitting import fast_multifit
    from hyperspy_perovskite.signals._cl_snapshot import (
        _restore,
        _snapshot,
        _take_outcome,
    )

    with stage("snapshot"):
        first = _snapshot(m, result)
    chi0 = np.array(m.chisq.data, float) if reference is None else reference
    weighted = m.signal.metadata.has_item("Signal.Noise_properties.variance")
    out = None
    try:
        for p, v in (start or {}).items():
            p.map["values"][where] = v if np.ndim(v) == 0 else v[where]
        flips = [(p, False) for p in hold] + [(p, True) for p in release]
        was = [p.free for p, _ in flips]
        for p, free in flips:
            p.free = free
        try:
            for c in m:
                c.fetch_stored_values()
            kw = dict(fit_kwargs) if ftol is None else {"ftol": ftol, **fit_kwargs}
            if max_iterations is not None:
                cap = kw.get("max_iterations") or max_iterations
                kw["max_iterations"] = min(cap, max_iterations)
            with stage("engine"):
                new = fast_multifit(m, mask=~where, starting_values="current", **kw)
        finally:
            for (p, _), w in zip(flips, was, strict=True):
                p.free = w
        rise = None  # the refit's chi-squared over the reference, if asked
        if scale is not None:
            rise = np.asarray(m.chisq.data, float) - chi0
        if scale is not None and not weighted:
            with stage("rise scale"):
                rise = rise / (
                    change_scale(m, where, first, chi0, fit_kwargs)
                    if scale == "change"
                    else noise_scale(m, chi0)
                )
        out = Refit(new, rise, where)
        yield out
    finally:
        kept = out.kept if out is not None else np.zeros(np.shape(where), bool)
        with stage("restore"):
            _restore(m, first, where & ~kept)
            if out is not None:
                _take_outcome(result, out.new, kept)
            for c in m:
                c.fetch_stored_values()


def noise_scale(m, chisq):
    """Noise variance per unit of ``m.chisq``: 1 for a weighted fit (noise
    variance set, chi-squared in noise variances), else the residual mean
    square ``chisq / dof`` of each pixel (unweighted: chi-squared is the
    sum of squared residuals)."""
    md = m.signal.metadata
    if md.has_item("Signal.Noise_properties.variance"):
        return 1.0
    n_ch = int(np.count_nonzero(m._channel_switches))
    with np.errstate(invalid="ignore", divide="ignore"):
        dof = n_ch - np.asarray(m.dof.data, float)
        return np.where(dof > 0, chisq / dof, np.nan)


#: Channel step of the model curves of :func:`change_scale`: its scale is a
#: ratio of sums of smooth curves over the band (hundreds of channels), so
#: every 4th channel gives it; the numpy evaluation of the curves was 60 %
#: of the Urbach resolution test's cost on all channels.
CURVE_STEP = 4


def _curve_channels(m):
    """Every :data:`CURVE_STEP`-th fitted channel of ``m``: indices, axis values."""
    ax = m.signal.axes_manager.signal_axes[0]
    channels = np.flatnonzero(np.asarray(m._channel_switches, dtype=bool))
    channels = channels[::CURVE_STEP]
    return channels, np.asarray(ax.axis, float)[channels]


def _curves(m, where, maps=None):
    """The model at the pixels ``where`` (rows) on the channels of
    :func:`_curve_channels`, by HyperSpy's forms of the components
    (:func:`~hyperspy_perovskite.signals._cl_curves.pixel_model`; ``maps``
    its): what :func:`change_scale` falls back to where the model has no
    compiled ``evaluate``."""
    from hyperspy_perovskite.signals._cl_curves import pixel_model

    _, x = _curve_channels(m)
    return pixel_model(m, x, np.flatnonzero(where.ravel()), maps)


def change_scale(m, where, first, chi0, fit_kwargs):
    """Noise variance per unit of an unweighted fit's chi-squared change.

    The fit minimises the sum of squares; between two fits whose models
    differ by ``d`` the change of that sum is ``sum d**2`` and its noise
    ``sum d**2 var``, so one noise variance of the change is ``sum d**2
    var / sum d**2`` (``var = count_variance x model`` for photon counts,
    where the change lies in the band's wing and not over the whole range;
    else the residual mean square, :func:`noise_scale`), over the channels
    of :func:`_curve_channels`. ``first``: the
    :func:`~hyperspy_perovskite.signals._cl_snapshot._snapshot` of the
    first fit; the model's maps hold the second.

    The two models of each pixel are made and reduced by the model's
    compiled ``evaluate`` (:func:`~._cl_change.change_ratio`), else by
    HyperSpy's forms (:func:`_curves`). Session 17, bench_cl_fit's map
    (true Eu 25 meV, the Urbach resolution test's 1025 pixels): 33-40 ms
    of CPU for both curves (the first made on a kept thread beside the
    refit) -> 8-9 ms; the scales agree to 1.5e-12 relative
    (``tests/signals/test_cl_change.py``: against HyperSpy's
    ``component.function``)."""
    from hyperspy_perovskite.signals._cl_change import change_ratio

    g = fit_kwargs.get("count_variance")
    if g is None:
        return noise_scale(m, chi0)
    channels, x = _curve_channels(m)
    g = np.asarray(g, float)
    if g.size != np.size(m._channel_switches):  # given on the fitted channels
        full = np.full(np.size(m._channel_switches), np.nan)
        full[np.asarray(m._channel_switches, bool)] = g
        g = full
    g = g[channels]
    params = [p for c in m for p in c.parameters]
    idx = np.flatnonzero(where.ravel())
    before = {
        p: np.asarray(saved["values"], float).reshape(-1)[idx]
        for p, saved in zip(params, first["maps"], strict=True)
    }
    after = {p: np.asarray(p.map["values"], float).reshape(-1)[idx] for p in params}
    ratio = change_ratio(m, x, g, before, after)
    if ratio is None:
        f0 = _curves(m, where, dict(zip(params, first["maps"], strict=True)))
        d2 = (_curves(m, where) - f0) ** 2
        with np.errstate(invalid="ignore", divide="ignore"):
            var = np.maximum(g * f0, 1.0)  # at least one count's variance
            ratio = (d2 * var).sum(-1) / d2.sum(-1)
    out = np.full(where.shape, np.nan)
    out.ravel()[idx] = ratio
    return out
