"""CL <-> HAADF correlation, halide composition and segregation on CL signals."""

import hyperspy.api as hs
import numpy as np
import pytest

from hyperspy_perovskite.analysis.halide import (
    bandgap_from_fraction,
    energy_to_wavelength,
    fraction_from_energy,
)
from hyperspy_perovskite.data.cl_simulation import simulate_cl_map
from hyperspy_perovskite.fitting import fast_multifit
from hyperspy_perovskite.results import ResultTable
from hyperspy_perovskite.signals._cl_correlation import (
    ParticleTable,
    particle_table_as_dict,
)


def _fit_gaussian(cl, truth):
    """One Gaussian + offset per particle pixel with the compiled engine.

    Two passes: unweighted, then weighted by the Poisson variance predicted by
    the first fit (so that the reported std is the Poisson uncertainty).
    """
    m = cl.create_model()
    g = hs.model.components1D.Gaussian()
    m.extend([g, hs.model.components1D.Offset()])
    mask = truth["labels"] == 0
    fast_multifit(m, starting_values="estimate", mask=mask)
    # masked (matrix) pixels are left unset, as by m.multifit(mask=...);
    # m.as_signal() needs every pixel set: mark them so (their model is the
    # components' default values; the variance is floored below anyway)
    for comp in m:
        for par in comp.parameters:
            par.map["is_set"][mask] = True
    var = m.as_signal()
    var.data = np.maximum(np.nan_to_num(var.data), 0.5)
    cl.metadata.set_item("Signal.Noise_properties.variance", var)
    result = fast_multifit(m, mask=mask)
    del cl.metadata.Signal.Noise_properties.variance
    return m, g, result.convergence.data == 0


@pytest.fixture(scope="module")
def edge_scene():
    haadf, cl, truth = simulate_cl_map(
        shape=(48, 48), n_channels=96, seed=21, haadf_oversampling=2
    )
    m, g, ok = _fit_gaussian(cl, truth)
    return haadf, cl, truth, m, g, ok


@pytest.fixture(scope="module")
def flat_scene():
    """Negative control: sigma does not depend on the edge distance."""
    haadf, cl, truth = simulate_cl_map(
        shape=(48, 48), n_channels=96, seed=21, sigma_edge=14.0, haadf_oversampling=2
    )
    m, g, ok = _fit_gaussian(cl, truth)
    return haadf, cl, truth, m, g, ok


def test_fitted_sigma_larger_at_edges(edge_scene):
    haadf, cl, truth, m, g, ok = edge_scene
    prof = cl.edge_profile(g.sigma, haadf=haadf, valid=ok)
    test = prof.metadata.Processing.Edge_profile.test
    assert test.significant and test.test == "paired" and test.p_value < 1e-3
    # the profile follows the simulated law within its standard error
    x = prof.axes_manager[0].axis
    law = truth["sigma_core"] + (truth["sigma_edge"] - truth["sigma_core"]) * np.exp(
        -x / truth["edge_length"]
    )
    sem = np.sqrt(prof.metadata.Signal.Noise_properties.variance.data)
    good = np.isfinite(sem) & (prof.metadata.Processing.Edge_profile.count >= 10)
    # binning over a pixel of depth and the fit's noise: within 4 sem + 0.7 nm
    assert np.all(np.abs(prof.data - law)[good] < 4 * sem[good] + 0.7)
    assert prof.axes_manager[0].units == "nm"
    assert prof.metadata.Signal.quantity == "sigma (nm)"


def test_no_edge_effect_is_not_reported(flat_scene):
    haadf, cl, truth, m, g, ok = flat_scene
    test = cl.edge_profile(
        g.sigma, haadf=haadf, valid=ok
    ).metadata.Processing.Edge_profile.test
    assert not test.significant
    assert abs(test.difference) < 4 * test.difference_sem + 0.2


def test_intensity_does_not_follow_size(edge_scene):
    haadf, cl, truth, m, g, ok = edge_scene
    tab = cl.particle_table(
        haadf=haadf, intensity=g.A, centre=g.centre, sigma=g.sigma, valid=ok
    )
    assert isinstance(tab, ResultTable)
    corr = tab.correlation
    assert corr.n >= 8 and not corr.significant
    cols = particle_table_as_dict(tab)
    # particle centres recovered: match each segmented particle to the truth
    lab = cl.particle_labels(haadf=haadf).data
    for k, c, sem in zip(
        cols["label"], cols["centre_mean"], cols["centre_sem"], strict=True
    ):
        true_ids = truth["labels"][lab == k]
        true_id = np.bincount(true_ids[true_ids > 0]).argmax()
        assert abs(c - truth["particle_centre"][true_id - 1]) < 4 * sem + 0.3
    # areas: within two pixel perimeters of the true disc area
    assert np.all(cols["area"] > 0)
    assert tab.units["area"] == "nm^2" and tab.units["equivalent_diameter"] == "nm"
    np.testing.assert_array_equal(tab.std["centre_mean"], cols["centre_sem"])
    assert tab.plot().get_xlabel() == "area (nm^2)"


def test_intensity_size_correlation_detected_when_present():
    haadf, cl, truth = simulate_cl_map(
        shape=(48, 48),
        n_channels=16,
        seed=21,
        intensity_size_exponent=3.0,
        intensity_spread=0.2,
    )
    tab = cl.particle_table(haadf=haadf, intensity=truth["area"])
    corr = tab.correlation
    assert corr.significant and corr.spearman_rho > 0.5


def test_halide_fraction_recovered():
    haadf, cl, truth = simulate_cl_map(
        shape=(24, 24),
        n_channels=96,
        seed=5,
        halide_x=0.5,
        centre_spread=0.0,
        sigma_core=9.0,
        sigma_edge=9.0,
        system="MAPb(Br1-xIx)3",
    )
    m, g, ok = _fit_gaussian(cl, truth)
    x = cl.halide_fraction(g.centre, system="MAPb(Br1-xIx)3")
    xs = np.sqrt(x.metadata.Signal.Noise_properties.variance.data)
    inside = ok & (truth["labels"] > 0)
    z = (x.data - 0.5)[inside] / xs[inside]
    assert np.mean(np.abs(z) < 3) > 0.9
    assert np.nanmean(x.data[inside]) == pytest.approx(0.5, abs=0.01)
    assert x.metadata.Processing.Halide_composition.bowing_eV == 0.33
    # units: from the model; the same from a wavelength array in nm or an energy map in eV
    x_nm = cl.halide_fraction(
        np.where(inside, g.centre.map["values"], np.nan),
        units="nm",
        system="MAPb(Br1-xIx)3",
    )
    from hyperspy_perovskite.analysis.halide import wavelength_to_energy

    e = wavelength_to_energy(g.centre.map["values"])
    x_ev = cl.halide_fraction(
        np.where(inside, e, np.nan), units="eV", system="MAPb(Br1-xIx)3"
    )
    assert np.allclose(x_nm.data, x_ev.data, equal_nan=True)
    with pytest.raises(ValueError, match="unit of the centre"):
        cl.halide_fraction(np.ones(cl.axes_manager._navigation_shape_in_array))


def _two_peak_model(cl, truth):
    m = cl.create_model()
    g1, g2 = hs.model.components1D.Gaussian(), hs.model.components1D.Gaussian()
    m.extend([g1, g2, hs.model.components1D.Offset()])
    ax = cl.axes_manager.signal_axes[0]
    mid = 0.5 * (np.nanmedian(truth["centre"]) + np.nanmax(truth["centre"]) + 30)
    g1.estimate_parameters(cl, ax.low_value, mid, only_current=False)
    g2.estimate_parameters(cl, mid, ax.high_value, only_current=False)
    for g in (g1, g2):
        g.A.bmin, g.sigma.bmin, g.sigma.bmax = 0.0, 1.0, 50.0
    fast_multifit(m, mask=truth["labels"] == 0)
    return m


def test_segregation_found_where_simulated():
    haadf, cl, truth = simulate_cl_map(
        shape=(32, 32),
        n_channels=128,
        seed=4,
        halide_x=0.2,
        segregation=True,
        centre_spread=2.0,
        sigma_core=8.0,
        sigma_edge=10.0,
    )
    m = _two_peak_model(cl, truth)
    seg, sep = cl.segregation_map(model=m, return_separation=True)
    inside = truth["labels"] > 0
    s = seg.data
    rim = (
        inside
        & (truth["iodide_rich_weight"] > 0.25)
        & (truth["iodide_rich_weight"] < 0.75)
    )
    assert rim.sum() > 20 and s[rim].mean() > 0.9
    assert s[inside & ~truth["segregated"]].mean() < 0.03
    assert not s[~inside].any()
    # the separation is the simulated one: E(x=0.2) vs E(x=0.4) in nm
    true_sep = energy_to_wavelength(bandgap_from_fraction(0.4)) - energy_to_wavelength(
        bandgap_from_fraction(0.2)
    )
    assert np.median(sep.data[rim & s]) == pytest.approx(true_sep, rel=0.1)
    assert seg.metadata.Processing.Segregation.method == "two_peak_fit"
    # shift method: single-peak centres move red where the I-rich rim emits
    m1 = cl.create_model()
    g = hs.model.components1D.Gaussian()
    m1.extend([g, hs.model.components1D.Offset()])
    fast_multifit(m1, starting_values="estimate", mask=truth["labels"] == 0)
    s2 = cl.segregation_map(
        centre=g.centre, reference=float(np.nanmedian(truth["centre"])), min_shift=8.0
    ).data
    strong = inside & (truth["iodide_rich_weight"] > 0.6)
    assert s2[strong].mean() > 0.9
    assert s2[inside & ~truth["segregated"]].mean() < 0.03


def test_segregation_not_found_without_it():
    haadf, cl, truth = simulate_cl_map(
        shape=(24, 24),
        n_channels=128,
        seed=4,
        halide_x=0.2,
        segregation=False,
        centre_spread=2.0,
        sigma_core=8.0,
        sigma_edge=10.0,
    )
    m = _two_peak_model(cl, truth)
    seg = cl.segregation_map(model=m)
    assert seg.data[truth["labels"] > 0].mean() < 0.03


def test_registration_through_calibrated_axes():
    haadf, cl, truth = simulate_cl_map(
        shape=(40, 36), n_channels=16, seed=8, haadf_oversampling=3
    )
    lab = cl.particle_labels(haadf=haadf).data
    assert lab.shape == (40, 36)
    assert ((lab > 0) == (truth["labels"] > 0)).mean() > 0.96
    d = cl.edge_distance(haadf=haadf).data
    near = np.abs(truth["distance"]) < 40
    assert np.median(np.abs(d - truth["distance"])[near]) < 3.0
    # HAADF in um is converted to nm
    h_um = haadf.deepcopy()
    for ax in h_um.axes_manager.signal_axes:
        ax.scale, ax.offset, ax.units = ax.scale / 1000, ax.offset / 1000, "µm"
    assert np.array_equal(cl.particle_labels(haadf=h_um).data, lab)
    # a user mask on the CL grid (array) and a calibrated mask signal both work
    mask = truth["labels"] > 0
    assert np.array_equal(cl.particle_labels(mask=mask).data > 0, mask)
    ms = hs.signals.Signal2D(truth["haadf_labels"] > 0)
    for a, b in zip(
        ms.axes_manager.signal_axes, haadf.axes_manager.signal_axes, strict=True
    ):
        a.scale, a.offset, a.units = b.scale, b.offset, b.units
    assert ((cl.particle_labels(mask=ms).data > 0) == mask).mean() > 0.97


def test_mismatched_haadf_refused():
    haadf, cl, truth = simulate_cl_map(shape=(20, 20), n_channels=16, seed=8)
    # shifted beyond the CL field of view
    shifted = haadf.deepcopy()
    shifted.axes_manager.signal_axes[0].offset += 60.0
    with pytest.raises(ValueError, match="does not cover"):
        cl.particle_labels(haadf=shifted)
    # smaller field of view
    with pytest.raises(ValueError, match="does not cover"):
        cl.particle_labels(haadf=haadf.isig[:15, :15])
    # spatial units that are not lengths
    bad = haadf.deepcopy()
    for ax in bad.axes_manager.signal_axes:
        ax.units = "eV"
    with pytest.raises(ValueError, match="not a length unit"):
        cl.particle_labels(haadf=bad)
    # no units and a different shape: cannot register
    raw = hs.signals.Signal2D(haadf.data[:10, :10])
    with pytest.raises(ValueError, match="no length units"):
        cl.particle_labels(haadf=raw)
    # uncalibrated image of the same shape: used pixel for pixel, with a warning
    with pytest.warns(UserWarning, match="pixel for pixel"):
        lab = cl.particle_labels(haadf=hs.signals.Signal2D(haadf.data)).data
    assert np.array_equal(lab, cl.particle_labels(haadf=haadf).data)
    # numpy array of the wrong shape, a stack, both/neither inputs
    with pytest.raises(ValueError, match="does not match the CL navigation"):
        cl.particle_labels(haadf=haadf.data[:10])
    with pytest.raises(ValueError, match="without navigation"):
        cl.particle_labels(haadf=hs.stack([haadf, haadf]))
    with pytest.raises(ValueError, match="exactly one"):
        cl.particle_labels()
    with pytest.raises(ValueError, match="exactly one"):
        cl.particle_labels(haadf=haadf, mask=truth["labels"] > 0)
    with pytest.raises(ValueError, match="No particle"):
        cl.particle_labels(mask=np.zeros((20, 20), bool))
    with pytest.raises(ValueError, match="2 navigation"):
        cl.inav[0].particle_labels(haadf=haadf)
    with pytest.raises(ValueError, match="shape"):
        cl.edge_profile(np.ones((3, 3)), haadf=haadf)
    with pytest.raises(TypeError, match="Parameter, a signal or a numpy"):
        cl.edge_profile("sigma", haadf=haadf)
    with pytest.raises(ValueError, match="valid"):
        cl.edge_profile(truth["sigma"], haadf=haadf, valid=np.ones((2, 2), bool))
    with pytest.raises(ValueError, match="exactly two peak"):
        m = cl.create_model()
        m.append(hs.model.components1D.Gaussian())
        cl.segregation_map(model=m)


def test_inputs_not_modified(edge_scene):
    haadf, cl, truth, m, g, ok = edge_scene
    h0, c0, s0 = haadf.data.copy(), cl.data.copy(), g.sigma.map.copy()
    cl.edge_profile(g.sigma, haadf=haadf, valid=ok)
    cl.particle_table(haadf=haadf, intensity=g.A, valid=ok)
    cl.halide_fraction(g.centre)
    assert np.array_equal(haadf.data, h0) and np.array_equal(cl.data, c0)
    for key in ("values", "std", "is_set"):
        assert np.array_equal(g.sigma.map[key], s0[key], equal_nan=key != "is_set")


@pytest.mark.parametrize("lazy", [False, True])
def test_lazy_equals_eager(lazy):
    haadf, cl, truth = simulate_cl_map(
        shape=(24, 24), n_channels=16, seed=9, haadf_oversampling=2
    )
    sigma = hs.signals.Signal2D(truth["sigma"])
    if lazy:
        cl, haadf, sigma = cl.as_lazy(), haadf.as_lazy(), sigma.as_lazy()
        assert cl._lazy and type(cl).__name__ == "LazyCLSTEMPerovskiteSpectrum"
    _, cl_e, _ = simulate_cl_map(
        shape=(24, 24), n_channels=16, seed=9, haadf_oversampling=2
    )
    h_e = simulate_cl_map(shape=(24, 24), n_channels=16, seed=9, haadf_oversampling=2)[
        0
    ]
    pairs = [
        (cl.particle_labels(haadf=haadf), cl_e.particle_labels(haadf=h_e)),
        (cl.edge_distance(haadf=haadf), cl_e.edge_distance(haadf=h_e)),
        (
            cl.edge_profile(sigma, haadf=haadf),
            cl_e.edge_profile(truth["sigma"], haadf=h_e),
        ),
        (
            cl.halide_fraction(truth["centre"], units="nm"),
            cl_e.halide_fraction(truth["centre"], units="nm"),
        ),
        (
            cl.segregation_map(centre=truth["centre"], reference=710.0, min_shift=2.0),
            cl_e.segregation_map(
                centre=truth["centre"], reference=710.0, min_shift=2.0
            ),
        ),
    ]
    for a, b in pairs:
        assert a._lazy == lazy
        if lazy:
            a.compute()
        np.testing.assert_array_equal(a.data, b.data)
    table = cl.particle_table(haadf=haadf, intensity=sigma)
    assert table == cl_e.particle_table(haadf=h_e, intensity=truth["sigma"])
    prof = pairs[2][0]
    assert (
        prof.metadata.Processing.Edge_profile.test.p_value
        == pairs[2][1].metadata.Processing.Edge_profile.test.p_value
    )


@pytest.mark.parametrize("ext", ["hspy", "zspy"])
def test_results_survive_save_load(tmp_path, ext):
    haadf, cl, truth = simulate_cl_map(shape=(40, 40), n_channels=16, seed=9)
    c = np.where(truth["labels"] > 0, truth["centre"], np.nan)
    results = {
        "labels": cl.particle_labels(haadf=haadf),
        "distance": cl.edge_distance(haadf=haadf),
        "profile": cl.edge_profile(truth["sigma"], haadf=haadf),
        "x": cl.halide_fraction(truth["centre"], units="nm", system="MAPb(Br1-xIx)3"),
        "seg": cl.segregation_map(centre=c, reference=710.0, min_shift=3.0),
    }
    for name, s in results.items():
        f = tmp_path / f"{name}.{ext}"
        s.save(f)
        r = hs.load(f)
        np.testing.assert_array_equal(r.data, s.data)
        assert r.axes_manager[0].units == s.axes_manager[0].units
    r = hs.load(tmp_path / f"profile.{ext}")
    t0, t1 = (
        results["profile"].metadata.Processing.Edge_profile.test,
        r.metadata.Processing.Edge_profile.test,
    )
    assert t1.p_value == t0.p_value and t1.significant == t0.significant
    np.testing.assert_array_equal(
        r.metadata.Signal.Noise_properties.variance.data,
        results["profile"].metadata.Signal.Noise_properties.variance.data,
    )
    table = cl.particle_table(
        haadf=haadf, intensity=truth["area"], centre=truth["centre"]
    )
    table.to_metadata(cl.metadata, "Particle_table")
    cl.save(tmp_path / f"cl.{ext}")
    r = ParticleTable.from_metadata(
        hs.load(tmp_path / f"cl.{ext}").metadata, "Particle_table"
    )
    assert r == table and isinstance(r, ParticleTable)
    assert r.correlation.p_value == table.correlation.p_value
    r = hs.load(tmp_path / f"x.{ext}")
    assert r.metadata.Processing.Halide_composition.system == "MAPb(Br1-xIx)3"
    r = hs.load(tmp_path / f"seg.{ext}")
    assert r.metadata.Processing.Segregation.method == "peak_shift"


def test_edge_vs_core_figure(edge_scene, tmp_path):
    haadf, cl, truth, m, g, ok = edge_scene
    fig = cl.plot_edge_vs_core(
        g.sigma, haadf=haadf, valid=ok, parameter_label="sigma (nm)"
    )
    assert len(fig.axes) == 4  # three panels + colour bar
    assert "significant" in fig.axes[2].get_title()
    fig.savefig(tmp_path / "edge.png")
    assert (tmp_path / "edge.png").stat().st_size > 10000


def test_segregation_from_fit_emission_two_peaks():
    """The whole user path: CL-1's fit_emission(n_peaks=2) -> segregation map."""
    haadf, cl, truth = simulate_cl_map(
        shape=(32, 32),
        n_channels=128,
        seed=4,
        halide_x=0.2,
        segregation=True,
        centre_spread=2.0,
        sigma_core=8.0,
        sigma_edge=10.0,
    )
    m = cl.fit_emission(n_peaks=2, mask=truth["labels"] == 0)
    seg = cl.segregation_map(model=m).data
    inside = truth["labels"] > 0
    rim = (
        inside
        & (truth["iodide_rich_weight"] > 0.3)
        & (truth["iodide_rich_weight"] < 0.7)
    )
    assert s_mean(seg, rim) > 0.9
    assert s_mean(seg, inside & ~truth["segregated"]) < 0.06
    # composition of the unsegregated particles from the single-peak fit
    m1 = cl.fit_emission(n_peaks=1, mask=truth["labels"] == 0)
    x = cl.halide_fraction(m1["Emission"].centre)
    unseg = inside & ~truth["segregated"]
    # centre_spread shifts each particle's emission: the truth follows the centre
    e_true = 1239.8419843320026 / truth["centre"]
    x_true, _, _ = fraction_from_energy(e_true)
    err = (x.data - x_true)[unseg & np.isfinite(x.data)]
    assert err.size >= 30 and np.median(np.abs(err)) < 0.01


def s_mean(a, where):
    return float(np.asarray(a)[where].mean())


def test_works_with_emission_maps():
    """The maps of CL-1's emission_maps (std as separate signals) are accepted."""
    haadf, cl, truth = simulate_cl_map(shape=(32, 32), n_channels=96, seed=21)
    m = cl.fit_emission(n_peaks=1, mask=truth["labels"] == 0)
    maps = cl.emission_maps(m)
    a = cl.halide_fraction(maps["centre"], centre_std=maps["centre_std"])
    b = cl.halide_fraction(m["Emission"].centre)
    v = maps["valid"].data
    np.testing.assert_allclose(a.data[v], b.data[v])
    va = a.metadata.Signal.Noise_properties.variance.data
    vb = b.metadata.Signal.Noise_properties.variance.data
    np.testing.assert_allclose(va[v], vb[v])
    p1 = cl.edge_profile(maps["sigma"], haadf=haadf, valid=maps["valid"])
    p2 = cl.edge_profile(m["Emission"].sigma, haadf=haadf, valid=v)
    np.testing.assert_allclose(p1.data, p2.data)
    assert p1.metadata.Signal.quantity.endswith("(nm)")
    with pytest.raises(ValueError, match="centre_std"):
        cl.halide_fraction(maps["centre"], centre_std=np.ones((3, 3)))
