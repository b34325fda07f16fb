"""Starting values and the run of the emission fit (the speed-critical steps).

Part of ``fit_emission`` (see :mod:`hyperspy_perovskite.signals._cl_fit`):
fill the starting values of every pixel from the compiled whole-map
estimates (:mod:`hyperspy_perovskite.analysis.cl_start_values`), run the
compiled engine with a tolerance matched to the parameters' standard
deviations, and a second start only where the first failed. The array
steps are in :mod:`hyperspy_perovskite.analysis.cl_fit_steps`; this module
writes their results into the model.
"""

from __future__ import annotations

import numpy as np

from hyperspy_perovskite.analysis import cl_fit_steps as steps
from hyperspy_perovskite.analysis.cl_emission import emission_starting_values
from hyperspy_perovskite.signals._cl_settle import (
    binned_tails,
    one_step_fits,
    start_later,
)
from hyperspy_perovskite.signals._cl_snapshot import (
    _keep_better,
    _snapshot,
    _take_outcome,
)
from hyperspy_perovskite.signals._cl_stages import stage


def _width_parameter(c):
    return c.sigma if hasattr(c, "sigma") else c.gamma


# ---------------------------------------------------------- starting values
def _put(param, values):
    if param.map is None or param.map.shape != np.shape(values):
        param._create_array()
    param.map["values"][:] = values
    param.map["is_set"][:] = True


def _put_band(c, area, centre, sigma):
    _put(c.A, area)
    _put(c.centre, centre)
    if hasattr(c, "gamma") and hasattr(c, "sigma"):  # Voigt
        sigma_g, gamma = steps.voigt_start_widths(sigma)
        _put(c.sigma, sigma_g)
        _put(c.gamma, gamma)
    elif hasattr(c, "gamma"):  # Lorentzian: half width at half maximum
        _put(c.gamma, steps.lorentzian_start_gamma(sigma))
    else:
        _put(c.sigma, sigma)
    if hasattr(c, "tau"):
        _put(c.tau, 0.5 * sigma)
        _put(c.s, np.full(np.shape(area), c.s.value))


def starting_values(m, s, settings, x1, x2, variant=0, pixels=None, sv=None):
    """Fill every parameter map with vectorised robust estimates.

    ``variant=1`` is the second start of models with local minima: band
    width from both half-maximum crossings and the tail starting at Eu = 25
    meV (tens of meV for CsPbX3: ref. 33 of X. Li et al., Nat. Commun. 14,
    7612 (2023)). ``pixels`` (navigation-shaped bool): estimate only there
    (NaN elsewhere, for a fit masked outside them). ``sv``: estimates
    already made (columns of ``cl_emission.STARTING_VALUE_COLUMNS``).
    Returns the estimates.
    """
    ax = s.axes_manager.signal_axes[0]
    i1, i2 = ax.value_range_to_indices(x1, x2)
    x = np.asarray(ax.axis[i1 : i2 + 1], dtype=float)
    if sv is None:
        sv = estimates(s, settings, x1, x2, variant, pixels)
    centre, sigma, height, area, a0, a1, c2, s2, A2, tA, eu = np.moveaxis(sv, -1, 0)
    _put_band(m["Emission"], area, centre, sigma)
    if settings.n_peaks == 2:
        _put_band(m["Emission_2"], A2, c2, s2)
    if settings.tail:
        _start_tail(m, settings, centre, sigma, tA, eu, (x[0], x[-1]))
    _start_background(m, settings.background, a0, a1, x)
    for c in m:
        c.fetch_stored_values()
    return sv


def estimates(s, settings, x1, x2, variant=0, pixels=None):
    """The estimates :func:`starting_values` puts into the model (no model
    needed: array work only, which may run on another thread)."""
    ax = s.axes_manager.signal_axes[0]
    i1, i2 = ax.value_range_to_indices(x1, x2)
    x = np.asarray(ax.axis[i1 : i2 + 1], dtype=float)
    width = 1.0
    if ax.is_binned:
        width = ax.scale if ax.is_uniform else np.gradient(ax.axis)[i1 : i2 + 1].mean()
    bg = settings.background
    est = emission_starting_values(
        x,
        s.data[..., i1 : i2 + 1],
        baseline="linear" if bg == "linear" else ("none" if bg == "none" else "offset"),
        n_peaks=settings.n_peaks,
        tail=bool(settings.tail),
        variant=variant,
        binned_width=width,
        pixels=pixels,  # those spectra only, not copied
    )
    if pixels is None:
        return est
    sv = np.full(np.shape(pixels) + est.shape[-1:], np.nan)
    sv[pixels] = est
    return sv


def _start_tail(m, settings, centre, sigma, tA, eu, window):
    """Starting values of the tail; a continuous tail's edge and Urbach
    energy are bounded by what the fitted window can measure.

    ``E0`` within the window and ``Eu`` at most its width: an edge outside
    the measured range, or an exponential longer than the range, cannot be
    determined from the data (outside them the tail is a Gaussian of the
    band's width or a straight slope, and ``E0``, ``A`` and ``Eu`` run off
    together without changing the fit; they are judged not valid anyway,
    see :func:`~hyperspy_perovskite.signals._cl_statistics.emission_validity`).
    A pixel whose tail ends at such a bound keeps a valid band and an
    invalid tail.
    """
    from hyperspy_perovskite.signals._cl_shared import edge_twin

    t, g1 = m["Urbach"], m["Emission"]
    tie = edge_twin(settings)  # E0 tied to the band centre (rigid tail)
    if tie is not None:
        _twin(t.E0, g1.centre, *tie)
    if settings.tail != "step":  # continuous tail, broadened as the band
        _twin(t.sigma, _width_parameter(g1))
        _put(t.sigma, sigma)
        tA = 2.0 * tA  # g(0) ~ 1/2 for a narrow broadening
        lo, hi = sorted(float(v) for v in window)
        t.E0.bmin, t.E0.bmax = lo, hi
        t.Eu.bmax = hi - lo
        centre = np.clip(centre, lo, hi)
        eu = np.minimum(eu, hi - lo)
    if settings.eu_value is not None:  # held (_cl_shared): the same everywhere
        eu = np.full(np.shape(eu), settings.eu_value)
    _put(t.A, tA)
    _put(t.E0, centre)
    _put(t.Eu, eu)


def _twin(p, source, expr="", inverse=""):
    """``p`` twinned to ``source`` (identity, or ``expr`` of ``x``), once per
    model (HyperSpy parses the expressions with sympy every time they are
    set). The identity is HyperSpy's empty expression, which needs no
    parsing (value and setting pass through unchanged, as with ``"x"``;
    "x" cost 2.7 ms of sympy per twin, two twins per ``fit_emission``)."""
    if p.twin is source and p.twin_function_expr == expr:
        return
    p.twin_function_expr = expr
    p.twin_inverse_function_expr = inverse
    p.twin = source


def _start_background(m, bg, a0, a1, x):
    if bg == "none":
        return
    b = m["Background"]
    if bg == "linear":
        _put(b.a0, a0)
        _put(b.a1, a1)
        return
    level = a0 + a1 * 0.5 * (x[0] + x[-1])
    if type(b).__name__ == "WavelengthOffset":
        # level seen at the middle of the window -> level in wavelength space
        from hyperspy_perovskite.components.emission_bands import (
            WAVELENGTH_OFFSET_CONSTANT,
        )

        xm = 0.5 * (x[0] + x[-1])
        level = steps.wavelength_dark_level(level, xm, WAVELENGTH_OFFSET_CONSTANT)
    _put(b.offset, level)


# ------------------------------------------------------------------- run
#: A fit stops when its last step lowered chi-squared by less than
#: ``STEP_IN_STD ** 2`` in units of the noise variance (the fit's own
#: reduced chi-squared), i.e. when the step along its direction is below
#: 0.1 standard deviation of the parameters. Measured on bench_cl_fit's
#: scene (two bands + continuous tail, 256 pixels) against fits run to
#: ftol = 1e-11: parameter differences of 0.01 std (median) and 0.05 std
#: (90th percentile; 0.15 for the tail's weakly determined E0 and Eu), at
#: 16 instead of 240 iterations per pixel.
STEP_IN_STD = 0.1


def std_tolerance(m, step_in_std=None):
    """``ftol`` of the engine for a step of ``step_in_std`` (default
    :data:`STEP_IN_STD`) standard deviations.

    The engine stops when the relative decrease of chi-squared falls below
    ``ftol``; chi-squared is about ``dof`` times the noise variance, so a
    decrease of ``STEP_IN_STD ** 2`` variances is a relative decrease of
    ``STEP_IN_STD ** 2 / dof``.
    """
    n_ch = int(np.count_nonzero(m._channel_switches))
    n_free = sum(p.free and p.twin is None for c in m for p in c.parameters)
    step = STEP_IN_STD if step_in_std is None else step_in_std
    return steps.std_step_ftol(n_ch, n_free, step)


def start_order(settings):
    """The starting-value variants tried, first one first.

    With a continuous tail the first start is variant 1 (the tail at Eu =
    25 meV, a tenth of the band height, the band width from both
    half-maximum crossings): on bench_cl_fit's scene with true Urbach
    energies of 12, 25 and 50 meV (576-1024 pixels each) it ended in a
    chi-squared lower by more than 4 noise variances than variant 0 in 27 %,
    45 % and 69 % of the pixels, and higher in 1 %, 2 % and 10 %: variant
    0's tail, fitted as a step exponential on the residual of the bands,
    mostly falls into the minimum where the tail is a Gaussian of the band's
    width (Eu -> 0). Other models start with variant 0.
    """
    return (1, 0) if settings.tail == "continuous" else (0, 1)


#: ``fast_multifit``'s ``collapse`` in the first full-resolution fit, which
#: a second start follows (:func:`run_fit`; measured: ``fitting/_collapse``).
FULL_COLLAPSE = (1.0, 10)


def run_fit(m, s, settings, x1, x2, mask, fit_kwargs):
    """Fit with the engine; a second start where the model has local minima.

    Unless ``fit_kwargs`` gives ``ftol``, the fit stops at a step below a
    tenth of a standard deviation (:func:`std_tolerance`), not at machine
    precision. The starts are :func:`start_order`; which pixels get the
    second is :func:`_needs_second_start` on the full data, the better fit
    kept per pixel (:func:`_keep_better`). With a coarse pass
    (:func:`_coarse_start`), the pixels where both binned starts failed
    (:func:`_reversed_pixels`) take the starts in the opposite order, and
    those where it converged without a tail get a full-resolution fit of
    at most one step first (:func:`~hyperspy_perovskite.signals._cl_settle.settle`).
    """
    from hyperspy_perovskite.fitting import fast_multifit
    from hyperspy_perovskite.signals._cl_fit import count_kwargs

    own_ftol = "ftol" in fit_kwargs  # then every pixel is fitted to it
    free = settings.tail == "continuous" and settings.eu_mode is None
    fit_kwargs = {"ftol": std_tolerance(m), **fit_kwargs}
    first_variant, second_variant = start_order(settings)
    with stage("coarse"):
        coarse = _coarse_start(m, s, settings, x1, x2, mask, fit_kwargs, not own_ftol)
    fit_kwargs.update(count_kwargs(settings))  # the full-resolution fits
    reverse, reversed_starts = None, lambda: None
    with stage("starting values"):
        if coarse is None:
            starting_values(m, s, settings, x1, x2, variant=first_variant)
        elif settings.multistart:  # made beside the one-step fits
            reverse = _reversed_pixels(coarse, mask)
            reversed_starts = start_later(
                m, s, settings, x1, x2, second_variant, reverse
            )
    full, done = mask, []  # the full fit leaves out the settled pixels
    if coarse is not None and not own_ftol:
        with stage("one-step fits"):
            full, done = one_step_fits(m, coarse, mask, fit_kwargs)
    with stage("reversed starts"):
        reversed_starts()
    with stage("full resolution"), stage("engine"):
        kw = {"collapse": FULL_COLLAPSE, **fit_kwargs} if free else fit_kwargs
        result = fast_multifit(m, mask=full, starting_values="current", **kw)
    if coarse is not None:
        result.elapsed += coarse.elapsed
    for settled, at in done:
        _take_outcome(result, at, settled)
    if settings.multistart:
        redo = _needs_second_start(result, mask, settings)
        if redo.any():
            with stage("second start"):
                result = _second_start(
                    m, s, settings, x1, x2, result, redo, fit_kwargs, reverse
                )
    return result


def _reversed_pixels(coarse, mask):
    """Pixels whose full-resolution fits take the starts of
    :func:`start_order` in the opposite order: those where the binned fit
    did not converge from either start (``coarse``: the result of
    :func:`_coarse_start`), never the ``mask`` pixels.

    There the full-resolution fit from the first start (the binned data's
    estimates) converged in 21 % of the pixels after 35 iterations on
    average, and from the second start (the full data's estimates) in 67 %
    after 18 (bench_cl_fit's scene, 64 x 64, seed 0, 356 such pixels); the
    other start still follows where the first fails.
    """
    reverse = np.asarray(coarse.array("convergence")) != 0
    if mask is not None:
        reverse &= ~np.asarray(mask, bool)
    return reverse


def _start_at(m, s, settings, x1, x2, variant, pixels, sv=None):
    """Starting values of ``variant`` (:func:`starting_values`) at the
    pixels ``pixels`` only; every other pixel keeps its values."""
    if not pixels.any():
        return
    kept = [(p, p.map["values"].copy()) for c in m for p in c.parameters]
    starting_values(m, s, settings, x1, x2, variant, pixels=pixels, sv=sv)
    for p, values in kept:
        p.map["values"][~pixels] = values[~pixels]
    for c in m:
        c.fetch_stored_values()


def _second_start(m, s, settings, x1, x2, result, redo, fit_kwargs, reverse=None):
    """Fit the pixels ``redo`` of ``m`` again from the second start
    (:func:`start_order`; the first at the pixels ``reverse``, which
    started from the second); per pixel the better fit is kept
    (:func:`_keep_better`). Returns the second fit's (updated) result.

    With the continuous tail (bench_cl_fit's scene, session 13, 128 x 128
    seed 0 and 64 x 64 seeds 0-1): the binned second start runs on 21-25 %
    of the pixels and is kept in 78-90 % of them; the full-resolution one
    on 5-12 %, kept in 81-88 % (it turns 1182 of 1907 failed pixels into
    converged ones at true Eu 25 meV). Band-valid among its pixels: none
    at 25 meV; at 50 meV 15 (binned) and 4 (full resolution) of 2158, 1
    of 550 and 1 of 521 (64 x 64): few, but not none, so it stays.
    Measured and not kept (session 14, 64 x 64 seed 0): where the binned
    fit had converged from the first start (170 / 102 of the 309 / 175
    full-resolution second starts at true Eu 25 / 50 meV), the second
    start fitted on the binned data first and its converged values
    starting the full-resolution fit: the second start's CPU per spectrum
    25.2 -> 19.5 + 4.4 (binned) us at 25 meV, 15.7 -> 12.0 + 4.3 at 50
    (binned 26-37 iterations, then 16-17 at full resolution instead of
    22), and fewer of these pixels
    converge (197 -> 183 at 25 meV; fitted 97.3 -> 96.9 %, 99.2 -> 98.9
    %). Session 16 (main 554b42e, 64 x 64 seed 0, true Eu 50 / 25 meV):
    the binned one on 898 / 915 pixels (first fits: 862 / 884 NO_PEAK),
    kept in 797 / 772; the full-resolution one on 104 / 181 (28 / 17
    iterations each), kept in 89 / 148, converged there in 75 / 108 where
    the first fit had not (1.8 / 2.6 % of the map's pixels), 2 / 0
    of them band-valid: no sharper trigger keeps the fitted fraction.
    """
    from hyperspy_perovskite.fitting import fast_multifit

    with stage("snapshot"):
        first = _snapshot(m, result)
    first_variant, second_variant = start_order(settings)
    with stage("starting values"):
        if reverse is None or not (redo & reverse).any():
            starting_values(m, s, settings, x1, x2, second_variant, pixels=redo)
        else:  # the two variants' estimates side by side
            later = start_later(m, s, settings, x1, x2, first_variant, redo & reverse)
            starting_values(
                m, s, settings, x1, x2, second_variant, pixels=redo & ~reverse
            )
            later()
    with stage("engine"):
        result = fast_multifit(m, mask=~redo, starting_values="current", **fit_kwargs)
    with stage("keep better"):
        _keep_better(m, result, first)
    return result


#: Channels of the fitted window below which no coarse pass is made.
COARSE_MIN_CHANNELS = 256
#: Channels averaged per bin in the coarse pass (at most).
COARSE_FACTOR = 8


def _coarse_factor(s, settings, x1, x2):
    """Channels per bin of the coarse pass (1: none).

    Only for the continuous tail, whose fits take tens of iterations: with
    at least :data:`COARSE_MIN_CHANNELS` channels, bins of up to
    :data:`COARSE_FACTOR` channels keeping at least 128 of them.
    """
    if settings.tail != "continuous":
        return 1
    ax = s.axes_manager.signal_axes[0]
    i1, i2 = ax.value_range_to_indices(x1, x2)
    n = i2 - i1 + 1
    return 1 if n < COARSE_MIN_CHANNELS else max(1, min(COARSE_FACTOR, n // 128))


def _binned_window(s, x1, x2, k):
    """The fitted window of ``s`` averaged over ``k`` channels, as a signal.

    Means, not sums, so that every parameter keeps its value and unit; the
    noise variance, when set, is averaged as a mean's (sum / k^2). The
    axis holds the bin centres (mean of the channel values: a non-uniform
    axis, e.g. after ``to_eV``, stays exact). Lazy data are computed (the
    binned map is k times smaller).
    """
    import hyperspy.api as hs

    from hyperspy_perovskite.signals._cl_axes import _empty_small_pages

    ax = s.axes_manager.signal_axes[0]
    i1, i2 = ax.value_range_to_indices(x1, x2)
    n = (i2 - i1 + 1) // k * k

    def binned(a, out=None):
        return steps.bin_mean(a, i1, n, k, out)

    out = None  # small pages (steps.bin_mean)
    if isinstance(s.data, np.ndarray) and s.data.ndim > 1:
        out = _empty_small_pages(s.data.shape[:-1] + (n // k,), np.float64)
    data = binned(s.data, out)
    x = binned(np.asarray(ax.axis, dtype=float))
    axes = [dict(a) for a in s.axes_manager._get_axes_dicts()]
    sig = s.axes_manager.signal_indices_in_array[0]
    axes[sig] = {"axis": x, "name": ax.name, "units": ax.units, "navigate": False}
    b = hs.signals.Signal1D(data, axes=axes)
    b.set_signal_type(s.metadata.Signal.get_item("signal_type", ""))
    var = s.get_noise_variance()
    if var is not None:
        v = var if np.isscalar(var) else binned(var.data) / k
        b.set_noise_variance(v / k if np.isscalar(v) else b._deepcopy_with_new_data(v))
    return b, float(x.min()), float(x.max())


#: Step, in standard deviations, below which the binned fit of a free
#: tail stops (:func:`binned_step`).
BINNED_STEP_IN_STD = 0.2


def binned_step(settings, settles=True):
    """The binned fit's stopping step, in standard deviations: with a free
    tail whose binned fit the one-step fit follows (``settles``: the
    caller gave no ``ftol``) :data:`BINNED_STEP_IN_STD`, else
    :data:`STEP_IN_STD`.

    With a free tail, the pixels whose binned fit ends without a tail get
    a full-resolution fit of at most one step at a 1-std tolerance
    (:func:`~hyperspy_perovskite.signals._cl_settle.settle`), so the
    binned crawl along the band <-> tail valley to a 0.1-std step mostly
    bought nothing. Measured (session 14, bench_cl_fit's scene, true Eu
    25 / 12 / 50 meV, 0.2 against 0.1 std), 128 x 128 seed 0: CPU per
    spectrum 243 -> 215 us at 25 meV (engine 3.21 -> 2.79 s, load 3.6-4.3;
    binned iterations 27.5 -> 17.9 per pixel, full-resolution 6.9 -> 9.3
    on 64 x 64), fitted 96.5 / 94.3 / 99.2 -> 97.6 / 96.5 / 99.3 %,
    band-valid at 50 meV 2156 -> 2346 with pulls (mean / std, within 1 /
    2 std) centre -0.83 / 0.95 (0.67 / 0.87) -> -0.76 / 0.93 (0.70 /
    0.89), area +1.12 / 1.26 (0.61 / 0.80) -> +1.01 / 1.24 (0.65 / 0.82),
    Eu -0.77 / 0.74 -> -0.70 / 0.72; median errors over the map (25 meV)
    centre 0.976 -> 0.907 meV, Eu 7.15 -> 6.29 meV. 64 x 64 seeds 0 / 1:
    226 / 237 against 250 / 243 us, fitted up at every Eu, band-valid at
    50 meV 550 -> 603 and 520 -> 551, at 25 meV 0 -> 0 and 17 -> 16.
    Before the one-step fit existed, the same rule cost CPU (the crawl
    moved to the full data: :func:`_coarse_start`). 0.15 std: 64 x 64
    seed 0, 179 against 193 us of engine CPU (0.2: 171), band-valid 591;
    0.3 std: more CPU than 0.1 at 25 meV (full-resolution iterations 13.9
    per pixel). Held or shared Urbach energies have no one-step fit and
    keep the fit's own rule. Re-measured on main 347654b against the same
    code with 0.1 std, five alternating pairs of ``bench_cl_fit.py --eu
    25`` (128 x 128, load 0.8-1.25): median 8199 against 7237 spectra/s,
    217.5 against 248 us of CPU per spectrum, engine 2.94 against 3.44 s
    of CPU.
    """
    free = settings.tail == "continuous" and settings.eu_mode is None
    return BINNED_STEP_IN_STD if free and settles else STEP_IN_STD


def _coarse_start(m, s, settings, x1, x2, mask, fit_kwargs, settles=True):
    """Starting values of ``m`` from a fit of the same model on binned data.

    The model (same components, bounds and twins, same starts) is first
    fitted on the window averaged over :func:`_coarse_factor` channels
    (:func:`_binned_window`): with bins of 4 meV under bands of 25-35 meV
    its minima are those of the full data to a fraction of their standard
    deviations, at an eighth of the cost per iteration. Its converged
    values replace the starting values of ``m``, which is then fitted on
    the full data (a few iterations); the others start from the binned
    data's estimates. The Gaussian widths are corrected for the averaging
    (:func:`~hyperspy_perovskite.analysis.cl_fit_steps.sheppard_sigma`:
    ``sigma^2`` less ``(k^2 - 1) d^2 / 12``, 0.07 % of ``sigma`` for 8
    channels of 0.5 meV under a band of 30 meV, about 0.1 of its standard
    deviation): measured on bench_cl_fit's scene (64 x 64, seeds 0-5), the
    full-resolution iterations per pixel fall from 7.9-9.0 to 7.2-8.2,
    0.1-0.4 % more pixels converge and 0-14 more are band-valid, no
    chi-squared moves by more than one noise variance, parameters move by
    at most 0.03 std at the 90th percentile, and the median errors of the
    centre and of Eu on the pixels converged both ways fall by 0.5-0.8 %
    and 0.5-1.7 %. Models with local minima get their second start
    (:func:`start_order`) on the binned data too, where the first binned
    fit failed (:func:`_needs_second_start`), the better binned fit kept
    (:func:`_keep_better`). Measured on bench_cl_fit's scene (64 x 64,
    seeds 0-2, against fits without it): the full-resolution fit takes 7.4
    instead of 11.7 iterations, full-resolution iterations per pixel
    (both starts) fall from 16.0 to 12.6 while binned ones rise from 27.5
    to 32.3; 95 % instead of 92 % of the pixels converge; on the pixels
    both fit, median centre and Eu errors equal to 1 % (0.973 / 0.968 /
    0.976 meV against 0.972 / 0.961 / 0.977; Eu 7.01 / 6.94 / 6.89 against
    7.02 / 6.91 / 6.95), chi-squared lower by more than 4 noise variances
    in 24 / 10 / 15 of about 3770 pixels and higher in 22 / 20 / 19 (the
    other differences are within a variance: the same minimum), the same
    band-valid pixels (one more on seed 2). These pixels no longer get the
    full-resolution second start as well unless their full-resolution fit
    fails (:func:`run_fit`): where it converged, that second start ended
    within one noise variance of it in every pixel (it was kept in 306 of
    635 pixels, seed 0), i.e. in the same minimum. Measured and not kept:
    the binned fit not kept (it is the failed first start there: none
    converged) as the full-resolution second start (converged 95.4 ->
    91.7 % when NO_PEAK fits are used); a pass on 256 or 512 channels
    between the binned and the full-resolution fit (the fit crawls again
    at each resolution: 6.6 iterations on 256 channels, then 4.9 instead of
    7.4 on 1024, more CPU in all); a tighter binned stopping rule (0.03 or
    0.01 std: more binned and full-resolution iterations, band-valid 5.8 ->
    5.2 %, median Eu error 7.3 -> 13-18 meV); a cap of 50 instead of 100
    binned iterations (true Eu 50 meV, 64 x 64 seed 0: band-valid 551 ->
    541, 298 pixels ending more than 4 noise variances higher, no clear
    CPU gain); spatial coarse-to-fine starts, each pixel's binned fit
    started from the fit of the mean spectrum of its 2 x 2 or 4 x 4 pixel
    block (a fallback to these starts where that fit failed): on
    bench_cl_fit's scene, whose neighbouring pixels have independent band
    centres and widths, the block means are mixtures and their fits end
    near Eu -> 0, where most pixels then stay (64 x 64 seed 0, Eu 50 meV:
    CPU per spectrum 317 -> 232 us but band-valid 551 -> 112 (4 x 4) and
    235 (2 x 2), chi-squared higher by more than 4 noise variances in 1566
    of 4051 pixels, median Eu 36 -> 2.5 meV; starting only the tail's Eu,
    edge offset and amplitude ratio from the block: 104 band-valid);
    (session 13, 128 x 128 seed 0, against the same code) bins of 16
    channels (64 of them): 309 / 280 against 285 / 283 us of CPU per
    spectrum at true Eu 25 / 50 meV, band-valid at 50 meV 2152 against
    2158, fitted pixels 94.6 against 95.6 % at 25 meV; a binned stopping
    rule 2 or 3 times looser (a step below 0.2 / 0.3 std; before the
    one-step fit of :func:`run_fit`, now kept for a free tail:
    :func:`binned_step`): binned
    iterations per pixel 27.9 -> 18.0 / 14.4, but full-resolution ones
    5.6 -> 9.4 / 12.2 (the crawl along the band <-> tail valley moves to
    the full data), 308 / 339 against about 285 us (band-valid at 50 meV
    2357 / 2364 against 2158: which pixels end valid follows the path).

    Returns the coarse fit's result (after the binned second start), or
    None when no coarse pass is made (``m`` untouched).
    """
    from hyperspy_perovskite.fitting import fast_multifit
    from hyperspy_perovskite.signals._cl_fit import build_model

    k = _coarse_factor(s, settings, x1, x2)
    if k < 2:
        return None
    with stage("binned window"):
        b, b1, b2 = _binned_window(s, x1, x2, k)
    with stage("build_model"):
        mc = build_model(b, settings, b1, b2)
    first_variant, _ = start_order(settings)
    with stage("starting values"):
        sv = starting_values(mc, b, settings, b1, b2, variant=first_variant)
        # the same estimates start the full model (means keep the values)
        starting_values(m, s, settings, x1, x2, sv=sv)
    kw = {**fit_kwargs, "ftol": std_tolerance(mc, binned_step(settings, settles))}
    with stage("engine"):
        result = fast_multifit(mc, mask=mask, starting_values="current", **kw)
    if settings.multistart:  # the second start, at an eighth of the cost
        redo = _needs_second_start(result, mask, settings)
        if redo.any():
            with stage("second start"):
                result = _second_start(mc, b, settings, b1, b2, result, redo, kw)
    ok = np.asarray(result.array("convergence")) == 0
    with stage("binned tails"):
        result.tail_absent, result.tail_present = binned_tails(mc, settings, ok)
    x = s.axes_manager.signal_axes[0].axis
    for c in m:
        cc = mc[c.name]
        for p in c.parameters:
            if p.twin is None and p.free:
                vals = np.asarray(getattr(cc, p.name).map["values"])
                if p.name == "sigma" and hasattr(cc, "centre"):  # Sheppard
                    centre = np.asarray(cc.centre.map["values"])
                    vals = steps.sheppard_sigma(vals, centre, x, k)
                p.map["values"][ok] = vals[ok]
    for c in m:
        c.fetch_stored_values()
    return result


def _needs_second_start(result, mask, settings=None):
    """Pixels a second start may improve.

    Those that did not converge; and, except with a continuous tail, those
    with a reduced chi-squared above 1.1 times the median of the map (a
    local minimum). With a continuous tail the first start
    (:func:`start_order`) rarely ends above the second (1-10 % of the
    pixels by more than 4 noise variances, measured), and the chi-squared
    test cannot find them: a minimum 4-25 variances higher is 0.4-2.5 % of
    chi-squared, within the spread of the reduced chi-squared over 1000
    channels (4.4 %, and more from pixel to pixel with the counts); it only
    picked the brightest pixels.
    """
    return steps.second_start_pixels(
        result.array("convergence"),
        result.array("reduced_chisq"),
        mask,
        by_chisq=settings is None or settings.tail != "continuous",
    )
