"""Pixels whose binned fit found no Urbach tail, and their one-step fit.

Part of ``fit_emission``'s engine passes
(:func:`hyperspy_perovskite.signals._cl_start.run_fit`): where the binned
fit (:func:`~hyperspy_perovskite.signals._cl_start._coarse_start`)
converged without a tail, the full-resolution fit would mostly crawl along
the band <-> tail valley to the same minimum; it is first tried with at
most one step.
"""

from __future__ import annotations

import numpy as np

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


#: Step, in standard deviations, below which the full-resolution fit of a
#: pixel whose binned tail is absent stops (:func:`settle`).
SETTLED_STEP_IN_STD = 1.0


def settle(m, absent, fit_kwargs):
    """Pixels ``absent`` (:func:`tail_absent`) whose full-resolution fit
    converges at once: the engine's own test with a step below
    :data:`SETTLED_STEP_IN_STD` standard deviations (chi-squared lower by
    at most one noise variance), at most one step. Returns ``(settled,
    result of that fit)``; the other pixels ``absent`` get their starting
    values back, so that their full fit is the one they had without this
    test. ``(None, None)`` when there are none.

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
    pixels would need the rise measured from a converged fit.
    """
    from hyperspy_perovskite.fitting import fast_multifit
    from hyperspy_perovskite.fitting.flags import CONVERGED
    from hyperspy_perovskite.signals._cl_start import (
        _restore,
        _snapshot,
        std_tolerance,
    )

    if absent is None or not absent.any():
        return None, None
    binned = _snapshot(m, None)
    kw = {**fit_kwargs, "max_iterations": 1}
    kw["ftol"] = std_tolerance(m, SETTLED_STEP_IN_STD)
    at = fast_multifit(m, mask=~absent, starting_values="current", **kw)
    settled = absent & (np.asarray(at.array("convergence")) == CONVERGED)
    _restore(m, binned, absent & ~settled)  # the others start again from it
    for c in m:
        c.fetch_stored_values()
    return settled, at
