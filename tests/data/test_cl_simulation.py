"""The STEM-CL simulator: geometry, physics and ground truth."""

import numpy as np
import pytest
from scipy import stats

from hyperspy_perovskite.analysis.halide import (
    bandgap_from_fraction,
    energy_to_wavelength,
    wavelength_to_energy,
)
from hyperspy_perovskite.data.cl_simulation import simulate_cl_map


def _expected(cl, truth):
    """Noise-free spectra of the main Gaussian + dark level (no options)."""
    wl = cl.axes_manager.signal_axes[0].axis
    c, s, a = (np.nan_to_num(truth[k])[..., None] for k in ("centre", "sigma", "area"))
    with np.errstate(invalid="ignore", divide="ignore"):
        g = a / (s * np.sqrt(2 * np.pi)) * np.exp(-0.5 * ((wl - c) / s) ** 2)
    return truth["dark_counts"] + np.where(truth["labels"][..., None] > 0, g, 0.0)


def test_axes_and_types():
    haadf, cl, truth = simulate_cl_map(shape=(64, 64), n_channels=512, seed=0)
    assert cl.data.shape == (64, 64, 512)
    assert cl.metadata.Signal.signal_type == "CL_STEM_perovskite"
    assert type(cl).__name__ == "CLSTEMPerovskiteSpectrum"
    assert haadf.data.shape == (64, 64)
    wl = cl.axes_manager.signal_axes[0]
    assert wl.units == "nm" and wl.low_value < 650 < 760 < wl.high_value
    for ax in cl.axes_manager.navigation_axes + haadf.axes_manager.signal_axes:
        assert ax.units == "nm" and ax.scale == 10.0
    assert truth["labels"].max() == truth["particle_radius"].size >= 10


def test_poisson_counts_match_the_truth():
    _, cl, truth = simulate_cl_map(shape=(32, 32), n_channels=128, seed=1)
    mu = _expected(cl, truth)
    assert np.all(cl.data >= 0) and np.all(cl.data == np.round(cl.data))
    # total counts: Poisson sum, mean mu.sum() and variance mu.sum()
    z = (cl.data.sum() - mu.sum()) / np.sqrt(mu.sum())
    assert abs(z) < 4
    # per-channel chi-square of the residual is ~1 (Poisson variance = mean)
    chi2 = np.mean((cl.data - mu) ** 2 / mu)
    assert 0.95 < chi2 < 1.05


def test_emission_physics_of_li2023():
    _, _, truth = simulate_cl_map(shape=(64, 64), n_channels=64, seed=2)
    inside = truth["labels"] > 0
    # centres within 710 +/- 5 nm, constant within a particle
    assert np.all(np.abs(truth["particle_centre"] - 710) <= 5)
    for lab in range(1, truth["labels"].max() + 1):
        assert np.ptp(truth["centre"][truth["labels"] == lab]) == 0
    # sigma decreases with depth below the edge
    d, s = truth["distance"][inside], truth["sigma"][inside]
    assert stats.spearmanr(d, s)[0] < -0.9
    assert np.all(s <= truth["sigma_edge"]) and np.all(s >= truth["sigma_core"])
    # brightness independent of size (by construction) ...
    r = stats.spearmanr(truth["particle_radius"], truth["particle_intensity"])
    assert r.pvalue > 0.05
    # ... unless asked otherwise
    _, _, t2 = simulate_cl_map(
        shape=(64, 64), n_channels=16, seed=2, intensity_size_exponent=3.0
    )
    assert stats.spearmanr(t2["particle_radius"], t2["particle_intensity"])[0] > 0.6
    # the glass is dark
    assert np.all(np.isnan(truth["centre"][~inside]))


def test_haadf_contrast_and_oversampling():
    haadf, cl, truth = simulate_cl_map(
        shape=(24, 20), n_channels=16, seed=3, haadf_oversampling=3
    )
    assert haadf.data.shape == (72, 60)
    assert haadf.axes_manager[0].scale == pytest.approx(10 / 3)
    lab = truth["haadf_labels"] > 0
    # particles (heavy CsPbI3) are brighter than the glass
    assert haadf.data[lab].mean() > 1.5 * haadf.data[~lab].mean()
    # same field of view
    assert haadf.axes_manager[0].high_value + haadf.axes_manager[
        0
    ].scale / 2 == pytest.approx(cl.axes_manager.navigation_axes[0].high_value + 5.0)


def test_tail_and_second_peak_add_low_energy_signal():
    kw = dict(shape=(16, 16), n_channels=256, seed=4, wavelength_range=(600, 900))
    _, cl0, t0 = simulate_cl_map(peak_counts=2000, **kw)
    _, cl1, t1 = simulate_cl_map(
        tail=True, tail_fraction=0.3, urbach_energy=0.05, peak_counts=2000, **kw
    )
    _, cl2, t2 = simulate_cl_map(second_peak=True, **kw)
    wl = cl0.axes_manager.signal_axes[0].axis
    inside = t0["labels"] > 0
    # the tail is exponential in energy with slope 1/Eu (after the Jacobian)
    red = (wl > 790) & (wl < 860)
    diff = cl1.data[inside][:, red].mean(0) - cl0.data[inside][:, red].mean(0)
    e = wavelength_to_energy(wl[red])
    slope = np.polyfit(e, np.log(diff / (e / wl[red])), 1)[0]
    assert slope == pytest.approx(1 / 0.05, rel=0.15)
    assert t1["urbach_energy"] == 0.05
    assert np.allclose(
        t1["tail_E0"][inside], wavelength_to_energy(t1["centre"][inside])
    )
    expected_c2 = energy_to_wavelength(wavelength_to_energy(t2["centre"]) - 0.06)
    assert np.allclose(t2["second_centre"][inside], expected_c2[inside])
    assert np.allclose(t2["second_area"][inside], 0.15 * t2["area"][inside])
    _, cl0s, _ = simulate_cl_map(**kw)
    extra = cl2.data.sum() - cl0s.data.sum()
    assert extra == pytest.approx(
        np.nansum(t2["second_area"]) / (wl[1] - wl[0]), rel=0.05
    )


def test_halide_composition_and_segregation():
    _, cl, truth = simulate_cl_map(
        shape=(32, 32),
        n_channels=64,
        seed=5,
        halide_x=0.2,
        segregation=True,
        centre_spread=0,
    )
    e = bandgap_from_fraction(0.2, "CsPb(Br1-xIx)3")
    inside = truth["labels"] > 0
    assert np.allclose(truth["centre"][inside], energy_to_wavelength(e))
    assert truth["iodide_rich_x"] == pytest.approx(0.4)
    seg_p = truth["particle_segregated"]
    assert 0 < seg_p.sum() < seg_p.size
    # segregated pixels only in segregated particles, rim weighted
    assert np.all(truth["iodide_rich_weight"][truth["segregated"] == 0] == 0)
    w = truth["iodide_rich_weight"][truth["segregated"]]
    d = truth["distance"][truth["segregated"]]
    assert stats.spearmanr(d, w)[0] < -0.9


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(shape=(1, 5)), "shape"),
        (dict(n_channels=4), "n_channels"),
        (dict(pixel_size=0), "pixel_size"),
        (dict(radius_range=(5, 1)), "radius_range"),
        (dict(sigma_core=-1), "sigma_core"),
        (dict(peak_counts=0), "peak_counts"),
        (dict(haadf_oversampling=0), "haadf_oversampling"),
        (dict(system="CsSn"), "system"),
        (dict(segregation=True), "halide_x"),
        (dict(halide_x=1.5), "halide_x"),
        (dict(halide_x=0.5, segregation=True, iodide_rich_x=0.3), "iodide_rich_x"),
        (dict(wavelength_range=(800, 600)), "wavelength_range"),
    ],
)
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        simulate_cl_map(**{"n_channels": 16, "seed": 0, **kwargs})


def test_seed_reproducible():
    a = simulate_cl_map(shape=(8, 8), n_channels=16, seed=7)
    b = simulate_cl_map(shape=(8, 8), n_channels=16, seed=7)
    assert np.array_equal(a[1].data, b[1].data) and np.array_equal(a[0].data, b[0].data)
