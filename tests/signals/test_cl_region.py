"""The region-level test of a shared Urbach energy (``m.shared_urbach_test``),
against the independent simulation of the emission physics
(:func:`~hyperspy_perovskite.data.emission_simulation.simulate_emission_spectra`:
Urbach's exponential density of states, Phys. Rev. 92, 1324 (1953), convolved
with the band's Gaussian, Poisson noise). Its size and power on the particle
scene of ``benchmarks/cl_particles.py`` are in ``_cl_region``'s figures."""

import warnings

import dask.array as da
import hyperspy.api as hs
import numpy as np
import pytest

from hyperspy_perovskite.data.emission_simulation import simulate_emission_spectra
from hyperspy_perovskite.signals._cl_region import shared_urbach_test

EDGE = 0.03


def _scene(n, seed, eu):
    return simulate_emission_spectra(
        n_pixels=n,
        urbach_energy=eu,
        edge_offset=EDGE,
        tail_fraction=0.3,
        band_photons=3.0e4,
        seed=seed,
    )[0]


def _stack(parts):
    ax = parts[0].axes_manager.signal_axes[0].get_axis_dictionary()
    data = np.concatenate([p.data for p in parts])
    s = hs.signals.Signal1D(
        data, axes=[{"size": len(data), "navigate": True}, ax | {"navigate": False}]
    )
    s.set_signal_type("CL_STEM_perovskite")
    return s


def _fit(s, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return s.fit_emission(tail=True, axis="energy", **kw)


def _shared(s):
    return _fit(s, urbach_energy="shared", urbach_edge=EDGE)


@pytest.fixture(scope="module")
def halves():
    """100 pixels at Eu 12 meV, 100 at 50 meV."""
    s = _stack([_scene(100, 31, 0.012), _scene(100, 32, 0.05)])
    return s, _shared(s), np.repeat([1, 2], 100)


@pytest.fixture(scope="module")
def uniform():
    """150 pixels at Eu 25 meV, in 10 regions of 15."""
    s = _scene(150, 21, 0.025)
    return s, _shared(s), np.repeat(np.arange(1, 11), 15)


def test_both_halves_of_a_two_tail_map_reject_the_shared_value(halves):
    """Each half pools its pixels' steps: the 12 meV half's change is
    negative, the 50 meV half's positive, both far beyond their errors
    (the per-pixel test rejects in only some of the pixels)."""
    s, m, labels = halves
    t = m.shared_urbach_test(labels)
    assert t.index == ["1", "2"] and t["n_pixels"].tolist() == [100, 100]
    assert t["rejects"].tolist() == [True, True]
    assert t["Eu_change"][0] < 0 < t["Eu_change"][1]
    assert (t["statistic"] > 10).all() and (t["p_value"] < 1e-3).all()
    np.testing.assert_allclose(
        t["statistic"], (t["Eu_change"] / t.std["Eu_change"]) ** 2
    )
    per_pixel = np.nansum(m._shape_consistent == 0)
    assert per_pixel < 200  # the pixels alone miss some


def test_regions_of_one_material_agree(uniform):
    """One material in 10 regions: none rejects, and the statistics look
    like chi-squared of 1 degree of freedom (over seeds, the share of p <
    0.05 is measured in ``_cl_region``)."""
    s, m, labels = uniform
    t = m.shared_urbach_test(labels)
    assert len(t) == 10 and not t["rejects"].any()
    assert t["n_pixels"].sum() >= 140
    assert np.mean(t["statistic"]) < 3.0


def test_a_region_combines_its_pixels_by_stouffer(uniform):
    """The table of one region: its pixels' steps (``m._eu_score``, eV)
    weighted by their inverse standard deviations, its variance Stouffer's
    plus the shared value's."""
    s, m, labels = uniform
    d, v = m._eu_score[:15, 0], m._eu_score[:15, 1]
    t = m.shared_urbach_test(labels)
    w = 1 / np.sqrt(v)
    np.testing.assert_allclose(t["Eu_change"][0], 1e3 * np.sum(d * w) / np.sum(w))
    own = np.sqrt(15) / np.sum(w)
    std = np.hypot(own, m.shared_urbach_energy["Eu_std"])
    np.testing.assert_allclose(t.std["Eu_change"][0], 1e3 * std)
    np.testing.assert_allclose(
        t["statistic"][0], (np.sum(d * w) / np.sum(w) / std) ** 2
    )


def test_labels_without_tested_pixels_and_label_forms(uniform):
    s, m, labels = uniform
    lab = labels.copy()
    lab[:15] = 0
    lab[15:30] = 99  # a label where no band was detected: not tested
    saved = m._eu_score.copy()
    m._eu_score[15:30] = np.nan
    try:
        t = m.shared_urbach_test(lab)
    finally:
        m._eu_score[:] = saved
    assert "1" not in t.index and t.row("99")["n_pixels"] == 0
    assert np.isnan(t.row("99")["p_value"]) and not t.row("99")["rejects"]
    whole = m.shared_urbach_test(np.ones(150, bool))  # a mask: one region
    assert whole.index == ["1"]
    assert whole["n_pixels"][0] == np.isfinite(m._eu_score[:, 0]).sum()
    full = m.shared_urbach_test(labels)["statistic"]
    lazy = m.shared_urbach_test(da.from_array(labels, chunks=50))
    signal = m.shared_urbach_test(hs.signals.BaseSignal(labels.astype(float)).T)
    for other in (lazy, signal):
        np.testing.assert_array_equal(other["statistic"], full)


def test_wrong_inputs_raise(uniform, halves):
    s, m, labels = uniform
    with pytest.raises(ValueError, match="navigation shape"):
        m.shared_urbach_test(labels[:10])
    with pytest.raises(ValueError, match="integer labels"):
        m.shared_urbach_test(labels + 0.5)
    with pytest.raises(ValueError, match="false_discovery_rate"):
        m.shared_urbach_test(labels, false_discovery_rate=1.5)
    held = _fit(s, urbach_energy="25 meV", urbach_edge=EDGE)
    with pytest.raises(ValueError, match="shared Urbach energy"):
        held.shared_urbach_test(labels)


def test_refit_path_has_no_score_and_says_so(monkeypatch):
    from hyperspy_perovskite.fitting import _score

    monkeypatch.setattr(_score, "score_statistics", lambda *a, **k: None)
    m = _shared(_scene(40, 5, 0.05))
    with pytest.raises(ValueError, match="no per-pixel score"):
        m.shared_urbach_test(np.ones(40, int))


@pytest.mark.parametrize("ext", ["hspy", "zspy"])
def test_survives_store_files_inav_and_lazy_fit(halves, tmp_path, ext):
    s, m, labels = halves
    t = m.shared_urbach_test(labels)
    m.store("shared")
    m.signal.save(tmp_path / f"s.{ext}")
    back = hs.load(tmp_path / f"s.{ext}").models.restore("shared")
    np.testing.assert_array_equal(
        back.shared_urbach_test(labels)["statistic"], t["statistic"]
    )
    part = m.inav[:100].shared_urbach_test(labels[:100])
    np.testing.assert_array_equal(part["statistic"], t["statistic"][:1])
    lazy = _shared(s.as_lazy())
    np.testing.assert_allclose(
        shared_urbach_test(lazy, labels)["statistic"], t["statistic"], rtol=1e-9
    )


def test_labels_from_the_package_particle_segmentation():
    """A 2-D map, left 12 meV and right 50 meV, labelled by
    ``s.particle_labels(mask=...)`` (eager and lazy): the left particle
    rejects the shared value (near the right one's) with a negative change."""
    a, b = _scene(40, 51, 0.012), _scene(40, 52, 0.05)
    data = np.concatenate([a.data.reshape(8, 5, -1), b.data.reshape(8, 5, -1)], axis=1)
    ax = a.axes_manager.signal_axes[0].get_axis_dictionary() | {"navigate": False}
    nav = [{"size": n, "navigate": True, "name": k} for n, k in ((8, "y"), (10, "x"))]
    s = hs.signals.Signal1D(data, axes=[*nav, ax])
    s.set_signal_type("CL_STEM_perovskite")
    m = _shared(s)
    mask = np.ones((8, 10), bool)
    mask[:, 4:6] = False  # two particles
    labels = s.particle_labels(mask=mask)
    t = m.shared_urbach_test(labels)
    assert t.index == ["1", "2"] and t["n_pixels"].tolist() == [32, 32]
    assert t["rejects"][0] and t["Eu_change"][0] < 0
    lazy = m.shared_urbach_test(s.particle_labels(mask=mask, lazy_output=True))
    np.testing.assert_array_equal(lazy["statistic"], t["statistic"])
