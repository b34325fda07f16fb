"""Pixels whose binned fit converged, and their one-step fit.

Part of ``fit_emission``'s engine passes
(:func:`hyperspy_perovskite.signals._cl_start.run_fit`): where the binned
fit (:func:`~hyperspy_perovskite.signals._cl_start._coarse_start`)
converged, the full-resolution fit would mostly crawl along the band <->
tail valley to the same minimum; it is first tried with at most one step,
where the tail is absent (:func:`settle`) and where it is present but not
a candidate of the Urbach resolution test (:func:`settle_present`).
"""

from __future__ import annotations

import numpy as np

from hyperspy_perovskite.signals._cl_stages import stage

#: Binned tail amplitude, in its standard deviations, below which the
#: full-resolution fit is first tried with one step (:func:`settle`).
TAIL_ABSENT_STD = 1.0


def tail_absent(mc, settings, ok):
    """Pixels whose binned fit found no tail (:func:`settle` follows).

    Those where the binned fit (``mc``) converged with a free continuous
    tail whose amplitude is below :data:`TAIL_ABSENT_STD` standard
    deviations: the tail is not there at that minimum (Eu -> 0 or a flat
    Eu, where band and tail are nearly the same function and the
    amplitude's std is tens of times the value). None without a free tail
    (held or shared shape: the band does not wait for the tail).

    Measured on bench_cl_fit's scene (session 13, 849e822): 53-58 % of the
    pixels at true Eu 25 and 50 meV, holding 48-58 % of the first
    full-resolution iterations and 45-86 % of the full-resolution second
    start's; their full-resolution fit lowered chi-squared by a median
    0.04-0.07 noise variances (90th percentile 0.22-0.26): the same
    minimum, reached by crawling along the band <-> tail valley. Of the
    band-valid pixels at Eu 50 meV, 6 of 2158 (128 x 128 seed 0) and 0-3
    of 521-550 (64 x 64) came from such pixels: a full-resolution fit
    that crawled out to an identified tail (chi-squared 9-92 variances
    lower), or ended NO_PEAK and was saved by the second start.
    """
    if settings.tail != "continuous" or settings.eu_mode is not None:
        return None
    a = mc["Urbach"].A.map
    with np.errstate(invalid="ignore", divide="ignore"):
        weak = np.abs(a["values"]) < TAIL_ABSENT_STD * a["std"]
    return ok & weak


def binned_tails(mc, settings, ok):
    """``(absent, present)``: the pixels of :func:`tail_absent`, and those
    whose binned fit (``mc``) converged (``ok``) with a free continuous
    tail not absent that is not a candidate of the Urbach resolution test
    on the binned data
    (:func:`~hyperspy_perovskite.signals._cl_urbach.test_candidates`):
    the pixels of :func:`settle_present`. ``(None, None)`` where
    :func:`tail_absent` gives None."""
    from hyperspy_perovskite.signals._cl_urbach import test_candidates

    absent = tail_absent(mc, settings, ok)
    if absent is None:
        return None, None
    return absent, ok & ~absent & ~test_candidates(mc)


def one_step_fits(m, coarse, mask, fit_kwargs):
    """The one-step fits of :func:`settle` and :func:`settle_present` at
    the pixels of :func:`binned_tails` (``coarse``: the binned fit's
    outcome, with ``tail_absent`` and ``tail_present``). Returns ``(full,
    done)``: the mask of the full fit (``mask`` and the settled pixels)
    and the ``(settled, result)`` of each one-step fit that ran.

    Both fits restore their unsettled pixels from one snapshot of the maps
    taken before the first: their pixel sets are disjoint and the engine
    writes nothing outside the pixels it fits
    (``tests/signals/test_cl_settle.py``), so the maps at the second's
    pixels are the same before and after the first. Session 16: one
    snapshot of the 128 x 128 map's 11 parameter maps fewer, 1.5 ms.
    """
    from hyperspy_perovskite.signals._cl_snapshot import _snapshot

    pixels = [coarse.tail_absent, coarse.tail_present]
    binned = None
    if any(p is not None and p.any() for p in pixels):
        with stage("snapshot"):
            binned = _snapshot(m, None)
    done = [
        settle(m, pixels[0], fit_kwargs, binned=binned),
        settle_present(m, pixels[1], fit_kwargs, binned=binned),
    ]
    done = [(settled, at) for settled, at in done if at is not None]
    full = mask
    for settled, _ in done:
        full = settled if full is None else np.asarray(full, bool) | settled
    return full, done


def start_later(m, s, settings, x1, x2, variant, pixels):
    """:func:`~hyperspy_perovskite.signals._cl_start._start_at`, its
    estimates (:func:`~hyperspy_perovskite.signals._cl_start.estimates`) made on a kept
    thread from now on: returns the function that waits for them and puts
    them into ``m`` (the other pixels keep their values, as then).

    :func:`~hyperspy_perovskite.signals._cl_start.run_fit` calls it before the one-step fits and the returned
    function after them: those fit other pixels (the binned fit converged
    there, not at these) and write nothing elsewhere, so the maps are the
    same as with ``_start_at`` before them, and the estimates use the
    core the engine leaves idle while its calling thread prepares and
    writes its maps. Session 16 (128 x 128, idle): these estimates (1190
    reversed pixels, 32 us of CPU each at 1024 channels) took 29-40 ms
    of wall before the one-step fits. The full-resolution second start
    (``_second_start``) makes its two variants' estimates side by side
    with it (the first variant's at the reversed pixels here, the second's
    there): 17-21 -> 14.5-15.4 ms of wall.
    """
    from hyperspy_perovskite._threads import submit, thread_count
    from hyperspy_perovskite.signals._cl_start import _start_at, estimates

    if not pixels.any():
        return lambda: None
    work = submit(thread_count(), estimates, s, settings, x1, x2, variant, pixels)
    return lambda: _start_at(m, s, settings, x1, x2, variant, pixels, sv=work.result())


#: Step, in standard deviations, below which the full-resolution fit of a
#: pixel whose binned tail is absent stops (:func:`settle`).
SETTLED_STEP_IN_STD = 1.0


def settle(
    m, absent, fit_kwargs, step=SETTLED_STEP_IN_STD, keep=None, steps=1, binned=None
):
    """Pixels ``absent`` (:func:`tail_absent`) whose full-resolution fit
    converges at once: the engine's own test with a step below
    :data:`SETTLED_STEP_IN_STD` standard deviations (chi-squared lower by
    at most one noise variance), at most one step. Returns ``(settled,
    result of that fit)``; the other pixels ``absent`` get their starting
    values back, so that their full fit is the one they had without this
    test. ``(None, None)`` when there are none. ``step`` (the tolerance, in
    standard deviations), ``keep`` (a function of the fitted model: the
    pixels that may settle, default all) and ``steps`` (the most
    iterations) are those of :func:`settle_present` there. ``binned``: a
    snapshot (:func:`~hyperspy_perovskite.signals._cl_snapshot._snapshot`)
    holding the maps at ``absent`` as they are now (default: taken here).

    A settled pixel keeps a converged full-resolution fit (sandwich errors,
    chi-squared); its tail stays not significant, its band "band tail not
    identified". Other pixels' fits are unchanged (bit-identical); lost
    are the few that would have crawled out of the binned minimum or been
    saved by the second start (bench_cl_fit's docstring, session 13).

    Measured and not kept (session 14): the same one-step fit also where
    the binned fit converged with a tail, at a 0.3-std tolerance. On
    bench_cl_fit's scene it looked good: 128 x 128 seed 0, 211 -> 197 us
    of CPU per spectrum at true Eu 25 meV (alternating, load 3.3-3.5:
    180.5 / 189.8 against 212.1 / 200.8), fitted 97.57 / 96.46 / 99.32 ->
    97.74 / 96.52 / 99.37 % at 25 / 12 / 50 meV, band-valid at 50 meV 2346
    -> 2476 with slightly better pulls, median errors centre 0.907 ->
    0.872 meV, Eu 6.29 -> 6.06 meV; parameters of pixels valid both ways
    moved by 0.05-0.08 std at the 90th percentile (64 x 64, 50 meV). But
    on the real files of ``tests/signals/test_cl_real_files.py`` valid
    pixels fell 120 -> 96 (Attolight) and 29 -> 25 (MonoCL): the Urbach
    resolution test
    (:func:`~hyperspy_perovskite.signals._cl_urbach.urbach_resolution`)
    measures its profile's rise from the fit's chi-squared, which the
    one-step fit leaves above the minimum, so the rise is underestimated
    and the pixels become "Eu not resolved below the band width"; and at
    25 meV on 64 x 64 seed 1 band-valid 16 -> 1. A one-step fit of such
    pixels would need the rise measured from a converged fit: landed in
    session 15 as :func:`settle_present`, which leaves every pixel the
    test judges its full fit.
    """
    from hyperspy_perovskite.fitting import fast_multifit
    from hyperspy_perovskite.fitting.flags import CONVERGED
    from hyperspy_perovskite.signals._cl_snapshot import _restore, _snapshot
    from hyperspy_perovskite.signals._cl_start import std_tolerance

    if absent is None or not absent.any():
        return None, None
    if binned is None:
        with stage("snapshot"):
            binned = _snapshot(m, None)
    kw = {**fit_kwargs, "max_iterations": steps}
    kw["ftol"] = std_tolerance(m, step)
    with stage("engine"):
        at = fast_multifit(m, mask=~absent, starting_values="current", **kw)
    settled = absent & (np.asarray(at.array("convergence")) == CONVERGED)
    if keep is not None:
        with stage("keep"):
            settled &= keep(m)
    with stage("restore"):
        _restore(m, binned, absent & ~settled)  # the others start again from it
        for c in m:
            c.fetch_stored_values()
    return settled, at


#: Step, in standard deviations, below which the full-resolution fit of a
#: pixel whose binned fit found a tail stops (:func:`settle_present`).
PRESENT_STEP_IN_STD = 0.3

#: Most iterations of the short full-resolution fit of :func:`settle_present`.
PRESENT_STEPS = 3


def settle_present(m, present, fit_kwargs, binned=None):
    """The short fit of :func:`settle` (at most :data:`PRESENT_STEPS`
    iterations, a step below :data:`PRESENT_STEP_IN_STD` standard
    deviations) at the pixels ``present``, where the binned fit converged
    with a tail that is not a candidate of the Urbach resolution test
    (:func:`binned_tails`). A pixel whose short fit is such a candidate
    (:func:`~hyperspy_perovskite.signals._cl_urbach.test_candidates`) is
    not settled: it starts the full fit again from the binned values.
    Returns :func:`settle`'s ``(settled, result)``; ``binned`` is
    :func:`settle`'s.

    So the test's verdicts do not hang on this stopping rule: a pixel it
    judges has the fit it had without the short fit, bit for bit (its rise
    measured from the same converged fit), and a settled pixel is not
    judged (its tail fails the cheaper tests: band not identified). Where
    the binned fit is already a candidate the short fit is not tried:
    with one step, 209 of 1688 such pixels at true Eu 25 meV and 471 of
    1852 at 50 meV became candidates after it (64 x 64 seed 0), each a
    wasted step.

    Measured (session 15, against main 17043dc, bench_cl_fit's scene).
    With one step: 128 x 128 seed 0 (load 3.8-4.8), fitted 97.57 / 96.46 /
    99.32 -> 97.74 / 96.52 / 99.37 % at true Eu 25 / 12 / 50 meV,
    band-valid at 50 meV 2346 -> 2338 (pulls within 0.001: centre -0.76 /
    0.93, Eu -0.70 / 0.72), median errors over the map centre 0.907 ->
    0.875 meV, Eu 6.29 -> 6.08 meV; 64 x 64 seeds 0 / 1 band-valid at 50
    meV 603 -> 600 and 551 -> 550 (every one kept with a bit-identical
    fit), 16 -> 16 at 25 meV (seed 1); fitted up at every Eu; the real
    files of ``tests/signals/test_cl_real_files.py`` keep their valid
    pixels (Attolight 120 of 120, MonoCL 29 of 67). Of the 1306 pixels
    (64 x 64 seed 0, 25 meV) one step converged 872; with at most 2 / 3 /
    5 / 10 steps the full fit afterwards had 866 / 857 / 850 / 844 pixels
    instead of 1223 (one-step fits 1.0 -> 1.1 iterations per pixel),
    band-valid at 50 meV 599 for 3-10; continuing the full fit from the
    short fit's point instead of the binned one saves only its first
    evaluation (8.4 instead of 9.6 iterations per pixel of the full fit).
    Figures of the landed rule: ``benchmarks/bench_cl_fit.py`` (session
    15, engine).
    """
    from hyperspy_perovskite.signals._cl_urbach import test_candidates

    keep = lambda m: ~test_candidates(m)  # noqa: E731
    return settle(
        m, present, fit_kwargs, PRESENT_STEP_IN_STD, keep, PRESENT_STEPS, binned
    )
