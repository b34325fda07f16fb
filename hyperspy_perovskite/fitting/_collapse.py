"""An early end of a fit whose peak is collapsing (``fast_multifit(collapse=...)``).

A pixel whose fit ends with a peak amplitude below ``min_peak_significance``
of its standard deviation is flagged ``NO_PEAK`` after the fit
(``engine._apply_peak_checks``), however many iterations it took to get
there. With ``collapse=(significance, iterations)`` the solver
(:func:`~hyperspy_perovskite.fitting._levenberg_marquardt.fit_block`) ends a
fit at the start of an iteration ``k >= iterations`` when at every check
since iteration ``k / 2`` (one check per iteration from ``iterations / 2``
on) some peak amplitude was below ``significance`` of its standard
deviation (:func:`collapsed`, HyperSpy's equal-noise deviation at the
current point), flagged ``NO_PEAK``: the band has been collapsing for half
the fit. Its values and deviations are those of the point reached; a
caller with a second start (``signals/_cl_start.run_fit``) fits it again
from its other start.

Measured (session 17, bench_cl_fit's scene: two bands + continuous tail +
dark level, 1024 channels; main 7b10c62 against ``FULL_COLLAPSE = (1.0,
10)`` in ``signals/_cl_start``, the first full-resolution fit only). Where
the iterations went before (128 x 128 seed 0, true Eu 25 meV): the first
full-resolution fit spent 19.0 iterations on each of 791 pixels ending
NO_PEAK (15000 of its 34639), its second start 29.5 on each of 326 (9630
of 16518); the second start converged 475 of its 821 pixels (190 of the
407 whose binned fits and first full fit all ended NO_PEAK), none of them
band-valid at 12 and 25 meV, 4 of 2337 at 50 meV. The trajectories of the
amplitudes' significance (the fits rerun with caps of 1-70 iterations)
first: a rule on the significance at one iteration ends many fits that
would have converged (|A| < 1 std at iteration 10: 511 ended, 65 of them
converging later, at 25 meV); asking it over the second half of the fit
halves those (1.0 std from iteration 10: 334 ended, 46), 0.3 std fewer
(173, 18). In the second start every such end is a pixel lost (no start
follows): 0.3 std from iteration 10 there ends 24 of its converging fits
at 25 meV (0.15 % of the map) for 2532 iterations, so it is not used
there. The rule in the first full-resolution fit, against main (fitted
pixels, band-valid at 50 meV, iterations of the first full fit + its
second start), 128 x 128 seed 0 at 12 / 25 / 50 meV: fitted 15821 / 16038
/ 16286 -> 15807 / 16022 / 16277 (at most -0.10 %), band-valid 2337 ->
2337 (pulls identical), iterations 58923 / 51157 / 47668 -> 49373 / 45442
/ 41363 (-16 / -11 / -13 %); 64 x 64 seeds 0 / 1: fitted at most -0.12 %
(4023 -> 4020, 4077 -> 4073), band-valid at 50 meV 599 -> 598 and 550 ->
550, at 25 meV 16 -> 16 (seed 1), pulls within 0.001, iterations -13 to
-18 %; median errors over the map, centre 0.860 -> 0.862 meV and Eu 6.00
-> 6.00 meV (25 meV, 128 x 128), 0.879 -> 0.883 and 6.03 -> 6.06 (64 x
64 seed 1; the others within 0.2 %). Measured and not kept: 1.0 std from
iteration 6 (fitted 16038 -> 16009, 15821 -> 15789: -0.2 %, for 750
iterations more saved), 0.3 std from iteration 10 (half the saving:
51157 -> 48458 at 25 meV, fitted -7). Also measured on those
trajectories and not kept: iteration caps instead (128 x 128 seed 0, 25
meV; iterations saved / converging fits ended): the first full fit at 30
iterations 5479 / 58, at 50 2225 / 21, and on the pixels whose binned
fits both failed only (1190 pixels, 18344 iterations; none band-valid at
any Eu on 128 x 128) at 30 3493 / 33; the second start at 50 2255 / 6
(at 50 meV 1241 / 13, 3 of them band-valid), every end there a pixel
lost. The same rule in the binned first fit (``_cl_start._coarse_start``,
1.0 std from iteration 10): its iterations 294915 -> 244149 at 25 meV but
the binned second start's 32923 -> 58706, band-valid at 50 meV 2337 ->
2053, median errors over the map centre 0.860 -> 0.974 meV (25 meV) and
Eu 20.1 -> 43.7 meV (50 meV): the binned fits that end NO_PEAK still
carry the full fits' starts.
"""

import math

from hyperspy_perovskite._numba_cache import njit_internal
from hyperspy_perovskite.fitting._linalg import _cholesky_factor, _inverse_column_norm


@njit_internal(nogil=True, error_model="numpy", _nrt=False)
def collapsed(JtJ, L, z, theta, chi2, dof, peaks, src, scale, shift, significance):
    """Whether a peak amplitude of ``peaks`` (indices in ``P``, free ones:
    ``P = scale theta[src] + shift``) is below ``significance`` times its
    standard deviation ``sqrt((JtJ^-1)_ss chi2 / dof)``. ``L`` and ``z`` are
    overwritten (work arrays). False when ``JtJ`` is not positive definite
    or ``dof <= 0`` (nothing can be told).

    ``(JtJ^-1)_ss`` is the squared norm of column ``s`` of ``L^-1``
    (``JtJ = L L^T``; :func:`~hyperspy_perovskite.fitting._linalg._inverse_column_norm`).
    """
    nf = theta.shape[0]
    if dof <= 0 or not _cholesky_factor(JtJ, L, nf):
        return False
    for q in range(peaks.shape[0]):
        p = peaks[q]
        s = src[p]
        acc = _inverse_column_norm(L, s, nf, z)
        a = scale[p] * theta[s] + shift[p]
        std = abs(scale[p]) * math.sqrt(acc * chi2 / dof)
        if not (abs(a) >= significance * std):  # NaN: weak, as the flag's test
            return True
    return False


@njit_internal(nogil=True, error_model="numpy", _nrt=False)
def collapse_run(normal, chi2, y, desc, peaks, collapse, it, since):
    """The solver's check before its iteration ``it + 1``: the first
    iteration of the current run of collapsed checks (:func:`collapsed`;
    ``since``: before this check, -1 for none), or -2 to end the fit.
    ``normal``'s Cholesky factor and step are its work arrays (both are
    made anew by the step that follows)."""
    first = collapse[1] if peaks.shape[0] > 0 else math.inf
    if 2.0 * it < first:
        return since
    src, scale, shift = desc[0], desc[1], desc[2]
    JtJ, L, z, theta = normal[0], normal[5], normal[6], normal[7]
    dof = y.shape[0] - theta.shape[0]
    sig = collapse[0]
    if not collapsed(JtJ, L, z, theta, chi2, dof, peaks, src, scale, shift, sig):
        return -1
    since = it if since < 0 else since
    return -2 if it >= first and 2 * since <= it else since
