"""Issue 10: backgrounds on a converted axis, validity from every parameter,
spikes, band order, counts check, new bands, PL type, small defects.

Truth comes from :func:`simulate_emission_spectra`, which bins photon densities
in energy into air-wavelength channels (no code shared with the fit).
"""

import warnings

import hyperspy.api as hs
import numpy as np
import pytest

from hyperspy_perovskite.data.cl_simulation import simulate_emission_spectra
from hyperspy_perovskite.validity import Validity


def _coverage(fit, std, truth):
    z = (np.asarray(fit) - truth) / np.asarray(std)
    z = z[np.isfinite(z)]
    return np.mean(np.abs(z) < 1), np.mean(np.abs(z) < 2), z.size


def test_dark_level_carried_through_the_jacobian():
    # a 20-count dark level flat in wavelength, band + minor band, energy axis
    s, t = simulate_emission_spectra(
        n_pixels=48, dark_counts=20.0, second_band=0.1, n_spikes=4, seed=2
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = s.fit_emission(axis="energy", n_peaks=2)
    # default background: no background warning; photon counts fitted
    # unweighted get the sandwich errors, without a warning
    assert not [w for w in caught if "background" in str(w.message)]
    assert not [w for w in caught if "photon counts" in str(w.message)]
    maps = s.emission_maps(m)
    v = maps["valid"].data
    assert v.mean() > 0.8
    f1, f2, n = _coverage(
        maps["centre"].data[v], maps["centre_std"].data[v], t["centre"][v]
    )
    assert f2 > 0.85, (f1, f2, n)
    # LumiSpy reads counts per channel as a density per nm: the area over eV
    # of its per-meV spectrum is photons x channel width / 1000
    area = t["photons"] * t["channel_width"] / 1000.0
    f1, f2, n = _coverage(maps["area"].data[v], maps["area_std"].data[v], area[v])
    assert f2 > 0.85, (f1, f2, n)
    bg = m["Background"].offset.map["values"][v]
    assert abs(np.median(bg) - 20.0) < 1.0  # the dark level, in wavelength space
    # the minor band is labelled Emission_2 (lower energy) in every pixel
    c2 = m["Emission_2"].centre.map["values"][v]
    assert np.all(c2 < maps["centre"].data[v])
    # asking for a constant on the energy axis warns
    with pytest.warns(UserWarning, match="lambda"):
        s.fit_emission(axis="energy", background="energy_offset")


def test_continuous_tail_recovers_free_edge_and_eu():
    s, t = simulate_emission_spectra(
        n_pixels=48, urbach_energy=0.025, edge_offset=0.03, dark_counts=5.0, seed=4
    )
    m = s.fit_emission(axis="energy", tail=True)
    maps = s.emission_maps(m)
    v = maps["urbach_valid"].data
    assert v.mean() > 0.7
    eu = maps["urbach_energy"].data[v]
    assert abs(np.median(eu) - 25.0) < 3.0
    f1, f2, n = _coverage(eu, maps["urbach_energy_std"].data[v], 25.0)
    assert f2 > 0.8, (f1, f2, n)
    # the edge E0 is free and recovered (measured 0.62 / 0.91 over 47 pixels)
    e0 = m["Urbach"].E0.map
    f1, f2, n = _coverage(e0["values"][v], e0["std"][v], t["E0"][v])
    assert f2 > 0.8, (f1, f2, n)
    # the Urbach map is NaN wherever the tail is not valid
    assert np.all(np.isnan(maps["urbach_energy"].data[~maps["urbach_valid"].data]))
    # a reduced chi-squared limit rejects with its own reason
    strict = s.emission_maps(m, max_reduced_chisq=1e-3)
    assert not strict["valid"].data.any()
    assert (
        Validity.from_metadata(strict["valid"].metadata).counts()["chi-squared"] == 48
    )


def test_no_tail_gives_nan_urbach_map():
    s, t = simulate_emission_spectra(n_pixels=24, seed=5)
    maps = s.emission_maps(s.fit_emission(axis="energy", tail=True))
    # no tail in the data: the tail amplitude is not significant or Eu out of
    # range almost everywhere, and those pixels are NaN
    assert maps["urbach_valid"].data.mean() < 0.3
    assert np.isnan(maps["urbach_energy"].data[~maps["urbach_valid"].data]).all()


def test_asymmetric_band_needs_asymmetric_model():
    s, t = simulate_emission_spectra(
        n_pixels=32, asymmetry=0.05, band_sigma=(0.02, 0.03), seed=6
    )
    gauss = s.emission_maps(s.fit_emission(axis="energy"))
    asym = s.emission_maps(s.fit_emission(axis="energy", band="asymmetric"))
    reasons = Validity.from_metadata(gauss["valid"].metadata).counts()
    assert reasons.get("residual structure out of range", 0) >= 0.7 * 32
    v = asym["valid"].data
    assert v.mean() > 0.8
    f1, f2, n = _coverage(
        asym["centre"].data[v], asym["centre_std"].data[v], t["centre"][v]
    )
    assert f2 > 0.6, (f1, f2, n)  # measured 0.31 / 0.75: stds a bit small
    tau = asym["tau"].data[v]
    assert abs(np.median(tau) - 0.05) < 0.005


@pytest.mark.parametrize("poisson", [True, False])
def test_unresolved_tail_fitted_in_its_gaussian_limit(poisson):
    """A Gaussian band fitted as an asymmetric band: its tau is not
    identified, so the band is refitted in its Gaussian limit (valid, with
    the errors of a Gaussian fit, not inflated by the unresolved tau) and
    the tau map is NaN with the reason "tau not identified". Unweighted
    (the default) too: the likelihood-ratio test counts chi-squared in
    noise variances, not in squared counts (before: the Gaussian limit
    kept in 55 % of such pixels, centre pulls -0.85 / 1.72)."""
    s, t = simulate_emission_spectra(n_pixels=40, band_photons=1e5, seed=8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        gauss = s.emission_maps(s.fit_emission(axis="energy", poisson=poisson))
        m = s.fit_emission(axis="energy", band="asymmetric", poisson=poisson)
    asym = s.emission_maps(m)
    v = asym["valid"].data
    assert v.mean() > 0.9
    lim = ~np.isfinite(m["Emission"].tau.map["std"])
    assert lim.mean() > 0.8  # a tail of 1e5 photons is sometimes significant
    assert np.all(np.isnan(asym["tau"].data[lim]))
    tau_v = Validity.from_metadata(asym["tau"].metadata)
    assert tau_v.counts()["tau not identified"] == lim.sum()
    both = v & lim & gauss["valid"].data
    ratio = asym["centre_std"].data[both] / gauss["centre_std"].data[both]
    assert np.all(np.abs(ratio - 1) < 0.05), ratio  # not inflated by tau
    f1, f2, n = _coverage(
        asym["centre"].data[v], asym["centre_std"].data[v], t["centre"][v]
    )
    assert f1 > 0.5 and f2 > 0.85, (f1, f2, n)


def test_voigt_on_resolution_limited_lines_is_their_gaussian_limit():
    """A Voigt fitted to Gaussian lines: gamma is not needed (Gaussian
    limit, 'gamma not identified'), the lines stay valid (before: 7 of 60
    rejected with gamma at its bound) and their centres and areas cover."""
    s, t = simulate_emission_spectra(
        n_pixels=40,
        space="wavelength",
        wavelength_range=(660, 680),
        n_channels=800,
        band_energy=(668, 672),
        band_sigma=(0.08, 0.12),
        band_photons=2e4,
        seed=5,
    )
    maps = s.emission_maps(s.fit_emission(band="voigt", poisson=True))
    assert maps["valid"].data.all()
    gamma_v = Validity.from_metadata(maps["gamma"].metadata)
    assert gamma_v.counts()["gamma not identified"] >= 36
    assert np.all(np.isfinite(maps["fwhm_std"].data))
    for key, truth in (("centre", t["centre"]), ("area", 2e4 * t["channel_width"])):
        f1, f2, n = _coverage(maps[key].data, maps[f"{key}_std"].data, truth)
        assert f1 > 0.5 and f2 > 0.85, (key, f1, f2, n)


def test_lorentzian_band_on_lifetime_limited_lines():
    """band="lorentzian" (HyperSpy's Lorentzian, half width gamma) on lines
    whose Gaussian part (sigma 0.02-0.03 nm, about one 0.025 nm channel) is
    far below their Lorentzian width: centres, gamma and areas recovered
    within their errors, every line valid."""
    s, t = simulate_emission_spectra(
        n_pixels=32,
        space="wavelength",
        wavelength_range=(664, 676),
        n_channels=480,
        band_energy=(668, 672),
        band_sigma=(0.02, 0.03),
        line_gamma=0.15,
        band_photons=2e4,
        seed=13,
    )
    maps = s.emission_maps(s.fit_emission(band="lorentzian", poisson=True))
    v = maps["valid"].data
    assert v.mean() > 0.9
    f1, f2, n = _coverage(
        maps["centre"].data[v], maps["centre_std"].data[v], t["centre"][v]
    )
    assert f1 > 0.5 and f2 > 0.85, (f1, f2, n)
    assert abs(np.median(maps["gamma"].data[v]) - 0.15) < 0.01  # nm
    np.testing.assert_array_equal(maps["sigma"].data, maps["gamma"].data)  # HWHM
    area = 2e4 * t["channel_width"]
    f1, f2, n = _coverage(maps["area"].data[v], maps["area_std"].data[v], area)
    assert f1 > 0.5 and f2 > 0.85, (f1, f2, n)


def test_spikes_removed_and_one_channel_bands_rejected():
    s, t = simulate_emission_spectra(n_pixels=16, n_spikes=6, seed=7)
    before = s.data.copy()
    m = s.fit_emission(axis="energy")
    np.testing.assert_array_equal(s.data, before)
    assert s.emission_maps(m)["valid"].data.mean() > 0.9
    # a sharp one-channel line on a flat level: no valid band
    y = np.random.default_rng(0).poisson(20.0, (4, 200)).astype(float)
    y[:, 100] += 400
    line = hs.signals.Signal1D(y)
    line.set_signal_type("CL_STEM_perovskite")
    ax = line.axes_manager.signal_axes[0]
    ax.units, ax.offset, ax.scale = "nm", 650.0, 0.5
    maps = line.emission_maps(line.fit_emission(spikes=False))
    assert not maps["valid"].data.any()


def test_poisson_counts_check_warns():
    s, t = simulate_emission_spectra(n_pixels=8, seed=8)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        s.fit_emission(poisson=True)
    scaled = s._deepcopy_with_new_data(s.data * 3.7)
    with pytest.warns(UserWarning, match="not integers"):
        scaled.fit_emission(poisson=True)
    shifted = s._deepcopy_with_new_data(s.data - 30.0)
    with pytest.warns(UserWarning, match="negative"):
        shifted.fit_emission(poisson=True)


def test_counts_check_not_fooled_by_sharp_lines_and_spikes():
    """Genuine Poisson counts of Voigt lines with cosmic-ray spikes pass."""
    from hyperspy_perovskite.analysis.cl_checks import counts_check

    s, _ = simulate_emission_spectra(
        n_pixels=32,
        space="wavelength",
        wavelength_range=(660, 680),
        n_channels=800,
        band_energy=(668, 672),
        band_sigma=(0.08, 0.12),
        line_gamma=0.15,
        band_photons=2.0e4,
        n_spikes=4,
        seed=5,
    )
    ok, reasons, dispersion = counts_check(s.data)
    assert ok, reasons
    assert 0.8 < dispersion < 1.25
    assert not counts_check(s.data * 3)[0]  # a gain of 3


@pytest.mark.parametrize("mean", [0.3, 1.0, 3.0, 200.0])
def test_counts_check_holds_at_a_few_counts_per_channel(mean):
    """Dark pixels of a CL map hold ~1 count per channel: the median of a
    discrete distribution is biased there (alone it read 0.37 for Poisson
    counts of mean 1, and fit_emission(poisson=True) warned on the gallery's
    genuine counts); a gain of 3 is still caught where it can be told
    (from ~5 counts per channel)."""
    from hyperspy_perovskite.analysis.cl_checks import counts_check

    y = np.random.default_rng(int(mean * 10)).poisson(mean, (400, 256))
    ok, reasons, dispersion = counts_check(y)
    assert ok and 0.7 < dispersion < 1.3, (reasons, dispersion)
    if mean >= 10:
        assert not counts_check(3 * y)[0]


def test_simulated_map_counts_pass_the_check():
    from hyperspy_perovskite.data.cl_simulation import simulate_cl_map

    _, cl, _ = simulate_cl_map(shape=(12, 12), n_channels=128, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        cl.fit_emission(poisson=True)


@pytest.mark.parametrize("poisson", [True, False])
def test_noise_only_spectra_hold_no_valid_band(poisson):
    """Spectra without any band (flat Poisson counts, as the glass between
    particles): a fit over the whole window finds its largest fluctuation,
    so "A > 3 std" alone passed 1.7-5.4 % of them with Poisson weights (the
    gallery's glass pixels showed valid "bands" at 580-850 nm). With the
    look-elsewhere threshold the false rate is that of 3 standard deviations
    (0.13 %); aim within 3 binomial standard deviations over 300 pixels."""
    rng = np.random.default_rng(12 + poisson)
    y = rng.poisson(np.repeat([1.0, 5.0, 50.0], 100)[:, None], (300, 400))
    s = hs.signals.Signal1D(y.astype(float))
    s.set_signal_type("CL_STEM_perovskite")
    ax = s.axes_manager.signal_axes[0]
    ax.units, ax.offset, ax.scale = "nm", 600.0, 0.55
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        maps = s.emission_maps(s.fit_emission(poisson=poisson))
    false_rate = maps["valid"].data.mean()
    assert false_rate <= 0.00135 + 3 * np.sqrt(0.00135 / 300), false_rate
    reasons = Validity.from_metadata(maps["valid"].metadata).counts()
    assert reasons.get("A detection out of range", 0) > 0


def test_masked_pixels_unset_and_small_defects():
    s, t = simulate_emission_spectra(n_pixels=6, seed=9)
    mask = np.zeros(6, bool)
    mask[2] = True
    m = s.fit_emission(mask=mask)
    assert not m["Emission"].centre.map["is_set"][2]
    assert np.isnan(m["Emission"].centre.map["values"][2])
    # float16 data: finite after to_eV
    h = s._deepcopy_with_new_data(s.data.astype(np.float16))
    assert np.isfinite(h.to_eV(inplace=False).data).all()
    # descending wavelength axis: same fit as ascending
    rev = hs.signals.Signal1D(s.data[:, ::-1].copy())
    rev.set_signal_type("CL_STEM_perovskite")
    ax, ax0 = rev.axes_manager.signal_axes[0], s.axes_manager.signal_axes[0]
    ax.units, ax.offset, ax.scale = "nm", ax0.high_value, -ax0.scale
    c_rev = rev.fit_emission()["Emission"].centre.map["values"]
    c = s.fit_emission()["Emission"].centre.map["values"]
    np.testing.assert_allclose(c_rev, c, rtol=1e-6)


def test_pl_type_and_lazy_twin_fit(tmp_path):
    """A PL map is LumiSpy's PLSpectrum with the same analysis: fits, maps NaN
    outside validity (glass-like dark pixels rejected), lazy == eager, and
    the type survives save/load."""
    import lumispy.signals as ls

    s, t = simulate_emission_spectra(n_pixels=8, seed=10)
    data = s.data.copy()
    data[6:] = np.random.default_rng(1).poisson(5.0, data[6:].shape)  # no band
    pl = hs.signals.Signal1D(data)
    pl.axes_manager.signal_axes[0].update_from(
        s.axes_manager.signal_axes[0], ("units", "offset", "scale")
    )
    pl.set_signal_type("PL_perovskite")
    assert type(pl).__name__ == "PLPerovskiteSpectrum"
    assert isinstance(pl, ls.PLSpectrum) and isinstance(pl, ls.LumiSpectrum)
    lazy = pl.as_lazy()
    assert type(lazy).__name__ == "LazyPLPerovskiteSpectrum"
    maps = pl.emission_maps(pl.fit_emission(axis="energy", poisson=True))
    v = maps["valid"].data
    assert v[:6].all() and not v[6:].any()
    assert np.isnan(maps["centre"].data[~v]).all()
    assert Validity.from_metadata(maps["centre"].metadata).fraction == 0.75
    z = (maps["centre"].data[v] - t["centre"][:6]) / maps["centre_std"].data[v]
    assert np.all(np.abs(z) < 4)
    b = lazy.emission_maps(lazy.fit_emission(axis="energy", poisson=True))
    b = b["centre"].data
    np.testing.assert_allclose(maps["centre"].data, b, rtol=1e-6)
    pl.save(tmp_path / "pl.hspy")
    assert type(hs.load(tmp_path / "pl.hspy")).__name__ == "PLPerovskiteSpectrum"


def test_halide_fraction_uses_validity_of_centre_map():
    from hyperspy_perovskite.data.cl_simulation import simulate_cl_map

    haadf, cl, truth = simulate_cl_map(
        shape=(16, 16), n_channels=128, halide_x=0.5, centre_spread=0.0, seed=3
    )
    maps = cl.emission_maps(cl.fit_emission())
    x = cl.halide_fraction(maps["centre"])
    glass = truth["labels"] == 0
    # glass pixels hold no band: not valid, so no composition there
    assert np.isnan(x.data[glass]).mean() > 0.95
    v = Validity.from_metadata(x.metadata)
    assert v is not None and v.mask[glass].mean() < 0.05
    inside = v.mask & ~glass
    assert abs(np.nanmedian(x.data[inside]) - 0.5) < 0.02
    # an explicit valid mask overrides
    x_all = cl.halide_fraction(maps["centre"], valid=np.ones((16, 16), bool))
    assert np.isfinite(x_all.data).sum() >= np.isfinite(x.data).sum()


@pytest.mark.parametrize("ext", ["hspy", "zspy"])
def test_emission_model_keeps_flags_and_validity(tmp_path, ext):
    s, t = simulate_emission_spectra(n_pixels=6, seed=11)
    s.data[2] = 0.0  # an empty spectrum: not fitted
    m = s.fit_emission()
    assert type(m).__name__ == "EmissionModel"
    v = m.validity
    assert v is not None and not v.mask[2] and v.mask[[0, 1, 3, 4, 5]].all()
    m.store("emission")
    s.save(tmp_path / f"fit.{ext}")
    s2 = hs.load(tmp_path / f"fit.{ext}")
    m2 = s2.models.restore("emission")
    assert type(m2).__name__ == "EmissionModel"
    np.testing.assert_array_equal(m2.validity.mask, v.mask)
    np.testing.assert_array_equal(m2.fit_flags.data, m.fit_flags.data)
    centre = m2.parameter_map("Emission", "centre")
    assert np.isnan(centre.data[2]) and np.isfinite(centre.data[0])


def test_one_shape_per_band():
    """band=("asymmetric", "gaussian"): each band keeps its shape and name."""
    from hyperspy_perovskite.components import AsymmetricEmission, GaussianEmission

    s, t = simulate_emission_spectra(
        n_pixels=8,
        asymmetry=0.04,
        band_sigma=(0.02, 0.03),
        second_band=0.3,
        second_shift=0.15,
        seed=3,
    )
    m = s.fit_emission(
        axis="energy", band=("asymmetric", "gaussian"), n_peaks=2, poisson=True
    )
    assert type(m["Emission"]) is AsymmetricEmission
    assert type(m["Emission_2"]) is GaussianEmission
    c2 = m["Emission_2"].centre.map["values"]
    np.testing.assert_allclose(c2, t["second_centre"], atol=0.02)  # eV
    with pytest.raises(ValueError, match="one of them per band"):
        s.fit_emission(n_peaks=2, band=("gaussian",))
    with pytest.raises(ValueError, match="one of them per band"):
        s.fit_emission(band="pseudo")


def test_resolution_read_from_metadata_on_both_axes():
    """metadata.Acquisition_instrument.Spectrometer.resolution (FWHM) rejects
    bands narrower than it; on the energy axis it is converted from nm."""
    from hyperspy_perovskite.metadata import SPECTRAL_RESOLUTION

    s, t = simulate_emission_spectra(n_pixels=6, seed=8)  # sigma 30-40 meV
    m = s.fit_emission(axis="energy", poisson=True)
    assert m.emission_maps()["valid"].data.all()
    # 20 nm FWHM is 49 meV at 1.75 eV (sigma 21 meV): the bands are wider
    m.signal.metadata.set_item(SPECTRAL_RESOLUTION, 20.0)
    assert m.emission_maps()["valid"].data.all()
    # 100 nm is 0.25 eV FWHM: every band is narrower, so rejected for that
    m.signal.metadata.set_item(SPECTRAL_RESOLUTION, "100 nm")
    maps = m.emission_maps()
    assert not maps["valid"].data.any()
    v = Validity.from_metadata(maps["valid"].metadata)
    assert set(v.counts()) == {"sigma out of range"}
    m.signal.metadata.set_item(SPECTRAL_RESOLUTION, "300 meV")
    assert not m.emission_maps()["valid"].data.any()
    # an explicit argument wins
    assert m.emission_maps(resolution="10 meV")["valid"].data.all()
