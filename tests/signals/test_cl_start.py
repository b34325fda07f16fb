"""Which pixels get which start in ``fit_emission``'s engine passes
(:func:`hyperspy_perovskite.signals._cl_start.run_fit`).

The scene is bench_cl_fit's (two Gaussian bands, the minor one 100 meV
below, an Urbach tail with its edge 20 meV below the main band's centre,
Eu = 25 meV, a flat offset, Poisson counts, 1024 channels over 1.45-1.95
eV), written here with scipy's exponentially modified normal distribution
(E. Grushka, Anal. Chem. 44, 1733 (1972)), independently of the suite's
kernels. The engine's calls are recorded: 128 channels for the binned pass
of :func:`~hyperspy_perovskite.signals._cl_start._coarse_start`, 1024 for
the full-resolution fits.
"""

import warnings

import hyperspy.api as hs
import numpy as np
import pytest
from scipy.stats import exponnorm

from hyperspy_perovskite import fitting
from hyperspy_perovskite.signals import _cl_start

SQRT2PI = np.sqrt(2 * np.pi)


def _scene(n=12, n_channels=1024, seed=3):
    rng = np.random.default_rng(seed)
    E = np.linspace(1.45, 1.95, n_channels)
    c1 = rng.uniform(1.725, 1.755, (n, n))[..., None]
    s1 = rng.uniform(0.025, 0.035, (n, n))[..., None]
    a1 = rng.uniform(60.0, 90.0, (n, n))[..., None]
    eu, e0 = 0.025, c1 - 0.02
    band = a1 / (s1 * SQRT2PI) * np.exp(-0.5 * ((E - c1) / s1) ** 2)
    minor = 0.2 * a1 / (s1 * SQRT2PI) * np.exp(-0.5 * ((E - c1 + 0.1) / s1) ** 2)
    tail = 0.3 * a1 / (s1 * SQRT2PI) * eu
    tail = tail * exponnorm.pdf(-(E - e0), eu / s1, loc=0.0, scale=s1)
    s = hs.signals.Signal1D(rng.poisson(band + minor + tail + 3.0).astype(float))
    s.set_signal_type("CL_STEM_perovskite")
    ax = s.axes_manager.signal_axes[0]
    ax.offset, ax.scale, ax.units, ax.name = E[0], E[1] - E[0], "eV", "Energy"
    return s


@pytest.fixture(scope="module")
def calls():
    """Each engine call of one fit: channels, pixels fitted, outcome flags
    and the starting Urbach energies."""
    s = _scene()
    out = []
    inner = fitting.fast_multifit

    def recording(model, mask=None, **kwargs):
        eu = np.array(model["Urbach"].Eu.map["values"])
        result = inner(model, mask=mask, **kwargs)
        fitted = np.ones(eu.shape, bool) if mask is None else ~np.asarray(mask)
        out.append(
            {
                "channels": int(np.count_nonzero(model._channel_switches)),
                "eu_free": model["Urbach"].Eu.free,
                "fitted": fitted,
                "flags": np.array(result.array("convergence")),
                "start_eu": eu,
            }
        )
        return result

    fitting.fast_multifit = recording
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            s.fit_emission(n_peaks=2, tail=True, axis="energy")
    finally:
        fitting.fast_multifit = inner
    return out


def _passes(calls):
    """The fit's passes (not the refits with Eu held of _cl_urbach)."""
    calls = [c for c in calls if c["eu_free"]]
    binned = [c for c in calls if c["channels"] == 128]
    full = [c for c in calls if c["channels"] == 1024]
    return binned, full


def test_full_resolution_second_start_only_where_the_full_fit_failed(calls):
    """The full-resolution second start fits exactly the pixels whose first
    full-resolution fit did not converge, not also those given the binned
    second start (where it found the same minimum: measured, chi-squared
    within one noise variance of the first in every such pixel that
    converged)."""
    binned, full = _passes(calls)
    assert len(binned) == 2 and len(full) == 2
    first, second = full
    binned_redo = binned[1]["fitted"]
    # the case the old union covered is present: binned second start on a
    # pixel whose first full-resolution fit converged
    assert np.any(binned_redo & (first["flags"] == 0))
    np.testing.assert_array_equal(second["fitted"], first["flags"] != 0)


def test_start_order_reversed_where_both_binned_starts_failed(calls):
    """Where the binned fit failed from both starts, the full-resolution
    fit starts from the second start's estimates (a tail from the
    residual, not the first start's Eu = 25 meV) and the first start
    follows where it fails."""
    binned, full = _passes(calls)
    both_failed = binned[1]["flags"] != 0
    both_failed &= binned[1]["fitted"]
    assert both_failed.sum() >= 2
    start = full[0]["start_eu"]
    assert np.all(start[both_failed] != 0.025)
    again = both_failed & (full[0]["flags"] != 0)
    np.testing.assert_allclose(full[1]["start_eu"][again], 0.025)


def test_reversed_pixels_never_masked():
    class Result:
        def array(self, name):
            assert name == "convergence"
            return np.array([0, 6, 1, 6], np.int8)

    mask = np.array([False, False, False, True])
    rev = _cl_start._reversed_pixels(Result(), mask)
    assert rev.tolist() == [False, True, True, False]
    assert _cl_start._reversed_pixels(Result(), None).tolist() == [
        False,
        True,
        True,
        True,
    ]
