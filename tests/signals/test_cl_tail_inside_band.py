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
"""

import warnings

import hyperspy.api as hs
import numpy as np
import pytest
from scipy.stats import exponnorm

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


@pytest.mark.xfail(
    strict=True,
    reason="known defect: band errors too small when the tail edge is inside "
    "the band (local minima, E0 not identified); see bench_cl_fit.py",
)
def test_band_centre_pulls_with_tail_inside_band():
    s, centre = _scene()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = s.fit_emission(n_peaks=2, tail=True, axis="energy")
        valid = np.asarray(m.emission_maps()["valid"].data, bool)
    c = m["Emission"].centre.map
    pull = ((c["values"] - centre) / c["std"])[valid]
    pull = pull[np.isfinite(pull)]
    assert pull.size >= 32
    assert abs(pull.mean()) < 0.5
    assert 0.7 < pull.std() < 1.4
