"""The warning of :func:`~hyperspy_perovskite.signals._cl_limits.warn_unidentified_tails`
on an independent simulation of the emission physics
(:func:`~hyperspy_perovskite.data.emission_simulation.simulate_emission_spectra`:
Urbach's exponential density of states, Phys. Rev. 92, 1324 (1953), convolved
with the band's Gaussian, Poisson noise), with Eu equal to the band sigma."""

import warnings

import dask.array as da
import pytest

from hyperspy_perovskite.data.emission_simulation import simulate_emission_spectra
from hyperspy_perovskite.signals._cl_limits import (
    TAIL_NOT_IDENTIFIED,
    warn_unidentified_tails,
)
from hyperspy_perovskite.validity import Validity


@pytest.fixture(scope="module")
def scene():
    s, _ = simulate_emission_spectra(
        n_pixels=120,
        urbach_energy=0.025,
        edge_offset=0.03,
        tail_fraction=0.3,
        band_photons=3.0e4,
        seed=11,
    )
    return s


def _maps(m):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        maps = m.emission_maps()
    return maps, [str(x.message) for x in w if TAIL_NOT_IDENTIFIED in str(x.message)]


def _fit(s, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return s.fit_emission(tail=True, axis="energy", **kw)


def test_free_tail_that_hides_the_bands_warns_with_the_remedy(scene):
    """Free Eu and edge at Eu = band sigma: most bands are rejected for
    their tail (measured 0 valid of 200 on seeds 11 / 12), and the maps say
    how to get them (the held fit of the same pixels gives them all, see
    tests/signals/test_cl_shared.py)."""
    maps, msgs = _maps(_fit(scene))
    n = Validity.from_metadata(maps["valid"].metadata).counts()[TAIL_NOT_IDENTIFIED]
    assert n > 60
    assert len(msgs) == 1
    assert "urbach_energy='shared'" in msgs[0] and f"{n} of 120" in msgs[0]


def test_held_tail_does_not_warn(scene):
    maps, msgs = _maps(_fit(scene, urbach_energy="25 meV", urbach_edge="30 meV"))
    assert maps["valid"].data.sum() > 100
    assert msgs == []


def test_few_unidentified_tails_do_not_warn():
    v = Validity([True] * 8 + [False] * 2, [0] * 8 + [1] * 2, (TAIL_NOT_IDENTIFIED,))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_unidentified_tails(v)  # 2 of 10, fewer than the 8 valid


def test_lazy_validity_is_not_computed_for_the_warning():
    mask = da.from_array([False] * 10)
    v = Validity(mask, da.ones(10, dtype="uint32"), (TAIL_NOT_IDENTIFIED,))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_unidentified_tails(v)
