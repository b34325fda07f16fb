"""Band validity when the Urbach tail's edge sits inside the band.

On the scene of ``benchmarks/bench_cl_fit.py`` (tail edge 20 meV below the
centre of a band of sigma 25-35 meV, Urbach energy 25 meV, tail 30 % of the
band height, a minor band 100 meV below) band and tail are not told apart
by the data in most pixels: ``fit_emission(n_peaks=2, tail=True,
axis="energy")`` loses the tail (Eu ~ 1 meV or its amplitude within 3 std
of 0) and the band absorbs it, or the tail (Eu 9-14 meV, edge 2.6-2.8 band
sigmas below the centre, a near-Gaussian line) stands in for the minor
band. There the minimum of chi-squared itself is biased (the band centres
5-12 of their linearised std off) and no error formula can fix it: the
band is rejected as ``"band tail not identified"``
(``_cl_limits.tail_identified``: tail valid on its own AND its free edge
within ``TAIL_EDGE_REACH`` = 2 band sigmas of the centre). The tests here
check that the remaining valid centres are honest and that the wrong ones
are flagged.

The spectra are written here with scipy's exponentially modified normal
distribution (E. Grushka, Anal. Chem. 44, 1733 (1972)), independently of the
suite's simulators and kernels.

History (16 x 16 pixels): before the flag, band-valid 73-82 % with centre
pulls -2.8 to -4.3 mean, 3.2-5.6 spread (within 1 / 2 std: 0.46-0.50 /
0.52-0.59, seeds 11-13, session 7 sandwich errors included). Profile
likelihood over the centre and multi-starts over E0 did not reach the
truth's valley (the truth is not a local minimum in many pixels).

Measured with the flag (session 7, clflag), seeds 11 / 12 / 13:

* band-valid fraction 5.1 / 6.2 / 7.8 % (13 / 16 / 20 of 256 pixels): the
  scene is not identified, that is the truth;
* centre pulls over them -0.41 / 0.25, -0.46 / 0.48, -0.69 / 0.50 (mean /
  std), within 1 std 1.00 / 0.94 / 0.75, within 2 std 1.00 in all three:
  conservative, no valid centre off by more than 2 std;
* every converged pixel whose centre is off by more than 3 std is flagged.
* which rule: the tail's own validity (amplitude > 3 std, Eu in 2-200 meV,
  nothing at a bound) leaves 6-8 % valid with 2-3 pixels per seed 6-12 std
  off: all with the edge 2.6-2.8 band sigmas from the centre (the tail
  standing in for the minor band) and a well located edge (E0 std 0.06-0.18
  band sigma), so an "E0 std < 0.5 sigma" rule would keep exactly those;
  recovered tails have their edge 1.0-1.7 sigma from the centre.
"""

import warnings

import hyperspy.api as hs
import numpy as np
import pytest
from scipy.stats import exponnorm

from hyperspy_perovskite.analysis.cl_maps import emission_centroid
from hyperspy_perovskite.signals._cl_statistics import emission_validity
from hyperspy_perovskite.signals._cl_urbach import eu_resolved
from hyperspy_perovskite.validity import Validity

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
    return s, c1, band + minor + tail


@pytest.fixture(scope="module")
def fitted():
    s, centre, emission = _scene(n=16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = s.fit_emission(n_peaks=2, tail=True, axis="energy")
        maps = m.emission_maps()
    band, tail = emission_validity(m)[:2]
    # the band-valid pixels before the Urbach resolution test: at true Eu 25
    # meV (the band sigma) it flags every one of them "Eu not resolved
    # below the band width" (tests/signals/test_cl_urbach.py)
    std = m["Urbach"].Eu.map["std"]
    unresolved = ~eu_resolved(m["Urbach"])
    std[unresolved] = 1.0
    before = emission_validity(m)[0]
    std[unresolved] = np.nan
    assert not (band.mask & ~before.mask).any()
    return m, centre, band, tail, maps, emission, before


def test_band_valid_centres_are_honest(fitted):
    """Over the band-valid pixels without the Urbach resolution test (at
    least 3 %, measured 5-8 %), the centres lie within 3 of their std in >=
    95 % and within 2 std in at least the Gaussian 95 % less 3 binomial
    std; pulls centred within 1."""
    m, centre = fitted[:2]
    band = fitted[6]
    c = m["Emission"].centre.map
    pull = ((c["values"] - centre) / c["std"])[band.mask]
    n = pull.size
    assert n >= 0.03 * band.mask.size, f"valid fraction {n / band.mask.size:.3f}"
    assert np.all(np.isfinite(pull))
    assert np.mean(np.abs(pull) <= 3) >= 0.95, np.sort(pull)
    assert np.mean(np.abs(pull) < 2) >= 0.95 - 3 * np.sqrt(0.95 * 0.05 / n)
    assert abs(pull.mean()) < 1.0, pull.mean()


def test_wrong_band_centres_are_flagged(fitted):
    """The converged pixels whose centre is off by more than 3 of its std
    are not valid (>= 95 %, measured 100 %), with the new reason."""
    m, centre, band, tail, maps = fitted[:5]
    c = m["Emission"].centre.map
    with np.errstate(invalid="ignore", divide="ignore"):
        pull = (c["values"] - centre) / c["std"]
    wrong = np.asarray(c["is_set"], bool) & (np.abs(pull) > 3)
    assert wrong.sum() >= 0.2 * wrong.size  # the scene's defect is there
    assert np.mean(~band.mask[wrong]) >= 0.95
    bit = band.reason_names.index("band tail not identified")
    flagged = (band.reasons >> bit) & 1
    assert flagged[wrong].mean() >= 0.9
    # the tail is valid only where its band is, and both maps agree
    assert not (tail.mask & ~band.mask).any()
    assert np.isnan(maps["centre"].data[~band.mask]).all()
    assert np.isfinite(maps["centre"].data[band.mask]).all()


def test_centroid_where_band_and_tail_are_not_told_apart(fitted, tmp_path):
    """Where the band is "band tail not identified" the emission centroid
    (data less fitted background, over the window part symmetric about it:
    no band/tail split) is estimable, with honest errors against the
    truth's centroid computed the same way from the noiseless emission:
    pulls N(0, 1) within 3 sampling std, coverage 0.68 / 0.95 within 3
    binomial std. Measured, seeds 11 / 12 / 13: 96 / 96 / 93 % valid,
    pulls 0.12/1.00, 0.08/1.10, 0.20/1.05 (the ideal estimator, true
    background and variance: 0.17/1.04 on seed 13). Survives save/load
    with its validity."""
    m, _, band, _, maps, emission = fitted[:6]
    x = m.signal.axes_manager.signal_axes[0].axis
    on = np.asarray(m._channel_switches, bool)
    truth = emission_centroid(x[on], emission[..., on], 0.0, emission[..., on])[0]
    v = Validity.from_metadata(maps["centroid"].metadata).mask
    n = v.sum()
    assert v.mean() >= 0.9
    not_split = (
        band.reasons >> band.reason_names.index("band tail not identified")
    ) & 1
    assert v[not_split == 1].mean() >= 0.9  # the map to use there
    z = ((maps["centroid"].data - truth) / maps["centroid_std"].data)[v]
    assert abs(z.mean()) <= 3 / np.sqrt(n), z.mean()
    assert abs(z.std() - 1) <= 3 / np.sqrt(2 * n), z.std()
    assert abs(np.mean(np.abs(z) < 1) - 0.68) <= 3 * np.sqrt(0.68 * 0.32 / n)
    assert np.mean(np.abs(z) < 2) >= 0.95 - 3 * np.sqrt(0.95 * 0.05 / n)
    assert np.isnan(maps["centroid"].data[~v]).all()
    for ext in ("hspy", "zspy"):
        maps["centroid"].save(tmp_path / f"c.{ext}")
        back = hs.load(tmp_path / f"c.{ext}")
        np.testing.assert_array_equal(back.data, maps["centroid"].data)
        assert np.array_equal(Validity.from_metadata(back.metadata).mask, v)
