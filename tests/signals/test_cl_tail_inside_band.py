"""Band uncertainties when the Urbach tail's edge sits inside the band.

A known defect, tracked here: on the scene of ``benchmarks/bench_cl_fit.py``
(tail edge 20 meV below the centre of a band of sigma 25-35 meV, Urbach
energy 25 meV, tail 30 % of the band height) the default
``fit_emission(n_peaks=2, tail=True, axis="energy")`` ends in a local
minimum where the tail collapses in most pixels, and the main band's
reported standard deviations are several times too small in pixels marked
valid. The test is a strict xfail: it fails the suite the day the pulls are
right, so that it is turned into a normal test then.

The spectra are written here with scipy's exponentially modified normal
distribution (E. Grushka, Anal. Chem. 44, 1733 (1972)), independently of the
suite's simulators and kernels.

Measured on this scene (16 x 16 pixels, seed 11, session 6; cl engineer):

* default fit (unweighted): band-valid 82 %, centre pulls -4.31 / 5.61
  (within 1 / 2 std: 0.49 / 0.56); with ``poisson=True``: 78 %, -1.78 / 3.24
  (0.67 / 0.79). Unweighted errors assume the same noise in every channel;
  on photon counts they are too small where the band is bright.
* started from the truth (same engine): chi-squared lower by more than one
  noise variance in only 18 % (unweighted) / 7 % (Poisson) of the pixels,
  yet pulls -0.51 / 1.63 (unweighted) and -0.51 / 1.37 (Poisson), median
  centre 0.42 meV low: in many pixels the truth is not a local minimum; the
  fit slides to a solution where the tail (E0 at the minor band, Eu 9-15
  meV, i.e. nearly a Gaussian of the band's width) replaces the minor band
  (its amplitude 0.3-2 std) and the main band absorbs the real tail, with
  an equal or lower chi-squared. A multi-start cannot fix those pixels;
  only a flag or a wider (non-linear) interval can.
* a multi-start over E0 (8 edges at -3 ... +1 band sigmas, E0 held then
  free, on the 8-channel-binned window) with a band "not identified" flag
  (a solution within 9 noise variances moving the centre by more than 3 of
  its std) and profile-widened errors: band-valid 22-35 %, pulls -0.9 to
  -1.0 / 1.5-1.7 (Poisson), -2.0 / 3.0-3.2 (unweighted); the same on the
  full-resolution spectra: 80 % valid, -0.50 / 1.05-1.41. Not landed: it
  also moved the calibrated energy_tail recovery case, and the valid pulls
  are still not at the aim.

Session 7 (clerr), 16 x 16 pixels:

* the default fit now reports the sandwich errors of the unweighted
  estimator under Poisson noise (``fast_multifit(count_variance=...)``). Band-valid
  centre pulls (within 1 / 2 std), seeds 11 / 12 / 13: -2.78 / 3.31 (0.50 /
  0.57), -3.40 / 3.88 (0.46 / 0.52), -2.86 / 3.23 (0.50 / 0.59) over 76 /
  79 / 73 % valid pixels; Eu over tail-valid pixels (6-8 %): -1.30 / 2.81,
  -1.12 / 2.67, -0.26 / 1.02. bench_cl_fit.py, 64 x 64, seed 0 (wavelength
  data converted to energy): band-valid 71 %, centre -3.56 / 3.73 (0.42 /
  0.49), Eu -0.63 / 2.10 over 6.8 %.
* what is left is not the error formula: the minimum itself is biased.
  Fitted to ftol 1e-10 (400 iterations) the band-valid centres are off by
  -1.22 meV (median; 5-95 %: -1.62 to +0.16) for linearised errors of
  0.1-0.3 meV; started from the truth, by -0.34 (-2.05 to +2.13). In 70 %
  of the valid pixels the tail is lost (Eu ~ 1 meV or amplitude within 3
  std of 0) and the band absorbs it.
* a profile of chi-squared in the centre (binned window, Poisson-weighted,
  centre held at +-1...32 linearised std, three starts per point) is a
  plateau or not closed within +-32 std in 72 % of the pixels; flagging
  those leaves 15-17 % valid pixels with pulls still -1.2 to -1.4 / 1.8-2.0:
  the starts do not reach the valley where the truth lies in every pixel.
  Not landed; the attempt is /work/wt/clerr_profile_wip.patch. Note for a
  next attempt: ``fast_multifit`` leaves ``is_set`` False where a fit fails,
  and the next fit then starts those pixels from the parameter's single
  ``value``, not from its map (set ``is_set`` before each fit).
"""

import warnings

import hyperspy.api as hs
import numpy as np
import pytest
from scipy.stats import exponnorm

from hyperspy_perovskite.signals._cl_statistics import emission_validity

SQRT2PI = np.sqrt(2 * np.pi)


def _scene(n=8, n_channels=1024, seed=11):
    rng = np.random.default_rng(seed)
    E = np.linspace(1.45, 1.95, n_channels)
    c1 = rng.uniform(1.725, 1.755, (n, n))
    s1 = rng.uniform(0.025, 0.035, (n, n))
    a1 = rng.uniform(60.0, 90.0, (n, n))
    eu, e0 = 0.025, c1 - 0.02
    band = a1[..., None] / (s1[..., None] * SQRT2PI)
    band = band * np.exp(-0.5 * ((E - c1[..., None]) / s1[..., None]) ** 2)
    minor = 0.2 * a1[..., None] / (s1[..., None] * SQRT2PI)
    minor = minor * np.exp(-0.5 * ((E - c1[..., None] + 0.1) / s1[..., None]) ** 2)
    height = a1 / (s1 * SQRT2PI)
    tail = (0.3 * height * eu)[..., None] * exponnorm.pdf(
        -(E - e0[..., None]), (eu / s1)[..., None], loc=0.0, scale=s1[..., None]
    )
    s = hs.signals.Signal1D(rng.poisson(band + minor + tail + 3.0).astype(float))
    s.set_signal_type("CL_STEM_perovskite")
    ax = s.axes_manager.signal_axes[0]
    ax.offset, ax.scale, ax.units, ax.name = E[0], E[1] - E[0], "eV", "Energy"
    return s, c1


@pytest.fixture(scope="module")
def fitted():
    s, centre = _scene(n=16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = s.fit_emission(n_peaks=2, tail=True, axis="energy")
    band, tail = emission_validity(m)[:2]
    return m, centre, band, tail


def _calibrated(values, std, truth, valid):
    """The aim: at least 40 % of the pixels valid; over them, pulls of mean
    within 0.3 and spread 0.8-1.25, coverage within 1 / 2 std at 0.68 /
    0.95 within 3 binomial standard deviations."""
    pull = ((values - truth) / std)[valid]
    pull = pull[np.isfinite(pull)]
    n = pull.size
    assert n >= 0.4 * valid.size, f"valid fraction {n / valid.size:.2f}"
    assert abs(pull.mean()) < 0.3, pull.mean()
    assert 0.8 < pull.std() < 1.25, pull.std()
    assert abs(np.mean(np.abs(pull) < 1) - 0.68) <= 3 * np.sqrt(0.68 * 0.32 / n)
    assert np.mean(np.abs(pull) < 2) >= 0.95 - 3 * np.sqrt(0.95 * 0.05 / n)


_DEFECT = pytest.mark.xfail(
    strict=True,
    reason="known defect: band errors too small when the tail edge is inside "
    "the band (the minimum itself is biased, E0 not identified); see the "
    "module docstring and bench_cl_fit.py",
)


@_DEFECT
def test_band_centre_pulls_with_tail_inside_band(fitted):
    m, centre, band, _ = fitted
    c = m["Emission"].centre.map
    _calibrated(c["values"], c["std"], centre, band.mask)


@_DEFECT
def test_urbach_energy_pulls_with_tail_inside_band(fitted):
    m, _, _, tail = fitted
    eu = m["Urbach"].Eu.map
    _calibrated(eu["values"], eu["std"], 0.025, tail.mask)
