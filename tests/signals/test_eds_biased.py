"""EDS_TEM_biased: registration, geometry, profiles, ratios, clusters, files."""

import os
import warnings

import dask
import hyperspy.api as hs
import numpy as np
import pytest
from hyperspy.roi import Line2DROI

from hyperspy_perovskite.analysis.eds.quantify import atomic_k_factors as _atomic_k
from hyperspy_perovskite.data.device_simulation import simulate_device_eds
from hyperspy_perovskite.signals.eds_biased import (
    EDSTEMBiasedSpectrum,
    GeometryWarning,
    LazyEDSTEMBiasedSpectrum,
    LineOverlapWarning,
    stack_bias_series,
)

DATA = os.path.join(os.path.dirname(__file__), "..", "data", "eds")
LINES = ["Pb_La", "I_La", "Br_Ka"]


@pytest.fixture(scope="module")
def sim():
    return simulate_device_eds(shape=(16, 32), pixel_size=16.0, seed=3)


@pytest.fixture(scope="module")
def series():
    return simulate_device_eds(shape=(24, 48), pixel_size=10.0, times=[0, 300], seed=4)


def _maybe_lazy(s, lazy):
    if lazy:
        s = s.as_lazy()
        s.data = s.data.rechunk((5,) * (s.data.ndim - 2) + (7, -1))
    return s


# ----------------------------------------------------------------- the class
@pytest.mark.parametrize("alias", ["EDS_TEM_biased", "EDS_TEM_bias", "biased_EDS_TEM"])
def test_registration_and_lazy_twin(alias):
    s = hs.signals.Signal1D(np.ones((2, 3, 16)))
    s.set_signal_type(alias)
    assert isinstance(s, EDSTEMBiasedSpectrum)
    assert s.metadata.Signal.signal_type == "EDS_TEM_biased"
    lz = s.as_lazy()
    assert isinstance(lz, LazyEDSTEMBiasedSpectrum)
    assert lz.metadata.Signal.signal_type == "EDS_TEM_biased"
    lz2 = hs.signals.Signal1D(np.ones((2, 3, 16))).as_lazy()
    lz2.set_signal_type(alias)
    assert isinstance(lz2, LazyEDSTEMBiasedSpectrum)
    eager = lz.deepcopy()
    eager.compute()  # in place: the Lazy twin becomes the eager class
    assert type(eager) is EDSTEMBiasedSpectrum
    assert not eager._lazy and isinstance(eager.data, np.ndarray)


@pytest.mark.parametrize("ext", ["hspy", "zspy"])
def test_save_load_keeps_type_bias_and_geometry(sim, tmp_path, ext):
    s, _ = sim
    f = tmp_path / f"m.{ext}"
    s.save(f)
    r = hs.load(f)
    assert isinstance(r, EDSTEMBiasedSpectrum)
    assert r.metadata.Signal.signal_type == "EDS_TEM_biased"
    assert r.bias_condition["voltage"] == 1.0
    assert r.bias_condition["cathode"] == "ITO"
    g0, g1 = s.get_device_geometry(), r.get_device_geometry()
    assert g1.interface_names == g0.interface_names
    np.testing.assert_allclose(g1.interface_positions, g0.interface_positions)
    rl = hs.load(f, lazy=True)
    assert isinstance(rl, LazyEDSTEMBiasedSpectrum)


def test_exspy_still_works(sim):
    s, _ = sim
    # untilted stage: the take-off angle is the detector elevation (35 deg here)
    tem = s.metadata.Acquisition_instrument.TEM
    assert tem.get_item("Stage.tilt_alpha", 0.0) == 0.0
    elevation = tem.Detector.EDS.elevation_angle
    assert elevation == 35.0
    assert s.get_take_off_angle() == pytest.approx(elevation, abs=1e-6)
    ints = s.get_lines_intensity(["Pb_La"])
    assert ints[0].axes_manager.navigation_shape == (32, 16)


def test_no_bias_record_raises():
    s = EDSTEMBiasedSpectrum(np.ones((3, 4, 16)))
    with pytest.raises(ValueError, match="no bias condition"):
        _ = s.bias_condition


# ------------------------------------------------------------------ geometry
def test_geometry_by_hand_roi_and_errors(sim):
    s, truth = sim
    s = s.deepcopy()
    roi = Line2DROI(0, 100, 512, 100, linewidth=64)
    s.set_device_geometry(
        roi=roi,
        interfaces=list(truth["interfaces"].values()),
        layers=[n for n, _ in truth["layers"]],
    )
    g = s.get_device_geometry()
    assert g.method == "roi" and g.width == 64
    with pytest.raises(ValueError, match="outside the map"):
        s.set_device_geometry((0, 100), (900, 100))
    with pytest.raises(ValueError, match="coincide"):
        s.set_device_geometry((10, 100), (10, 100))
    with pytest.raises(ValueError, match="outside the stack line"):
        s.set_device_geometry((0, 100), (200, 100), interfaces=[300.0])
    with pytest.raises(ValueError, match="layer names"):
        s.set_device_geometry((0, 100), (500, 100), interfaces=[100.0], layers=["a"])
    with pytest.raises(ValueError, match="Unknown interface"):
        s.get_element_profiles(["Pb_La"], reference="nope", check_overlaps=False)
    t = EDSTEMBiasedSpectrum(np.ones((3, 4, 16)))
    with pytest.raises(ValueError, match="No device geometry"):
        t.get_stack_linescan()
    with pytest.raises(ValueError, match="no physical unit"):
        t.set_device_geometry((0, 0), (3, 2))


@pytest.fixture(scope="module")
def fine():
    return simulate_device_eds(shape=(12, 64), pixel_size=8.0, seed=3)


@pytest.mark.parametrize("source", ["elements", "haadf"])
def test_find_geometry_recovers_interfaces(fine, source):
    s, truth = fine
    s = s.deepcopy()
    del s.metadata.Device
    true = np.array(list(truth["interfaces"].values()))
    if source == "haadf":
        # Z contrast: In and Sn oxides look alike, so ITO/SnO2 is not seen,
        # and the iodide pile-up adds a contrast step inside the perovskite,
        # 22 nm from SnO2/perovskite: that 4th "interface" is flagged invalid
        with pytest.warns(GeometryWarning, match="Not valid"):
            g = s.find_device_geometry(4, haadf=truth["haadf"])
        expected = true[1:]
        assert g.confidence <= 0.75
    else:
        g = s.find_device_geometry(4, xray_lines=["In_La", "Sn_La", "Pb_La", "Au_La"])
        expected = true
        assert g.confidence > 0.8 and all(g.interface_valid)
    assert g.method == "automatic"
    d = np.subtract(g.end, g.start)
    assert abs(d[1]) < 0.02 * abs(d[0])  # stack along x (within ~1 degree)
    found = np.asarray(g.interface_positions) + g.start[0]
    for e in expected:
        assert np.min(np.abs(found - e)) < 0.5 * truth["pixel_size"]
    # a valid interface is a true one within 3 of its reported std
    std = np.asarray(g.interface_std)
    for f, sd, ok in zip(found, std, g.interface_valid, strict=True):
        assert not ok or np.min(np.abs(true - f)) < 3 * sd
    if source == "elements":
        names = [n for n, _ in truth["layers"]]
        g2 = s.find_device_geometry(
            4, xray_lines=["In_La", "Sn_La", "Pb_La", "Au_La"], layers=names
        )
        assert g2.interface_names[1] == "SnO2/perovskite"
        with pytest.raises(ValueError, match="composition changes"):
            s.find_device_geometry(9, xray_lines=["Pb_La"])


def test_find_geometry_rotated_map(fine):
    s, truth = fine
    t = EDSTEMBiasedSpectrum(np.swapaxes(s.data, 0, 1).copy())
    for ax in t.axes_manager.navigation_axes:
        ax.scale, ax.offset, ax.units = 8.0, 4.0, "nm"
    t.axes_manager.signal_axes[0].update_from(
        s.axes_manager.signal_axes[0], ("scale", "offset", "units")
    )
    t.metadata.Acquisition_instrument = s.metadata.Acquisition_instrument.deepcopy()
    t.add_elements(truth["elements"])
    g = t.find_device_geometry(4, xray_lines=["In_La", "Sn_La", "Pb_La", "Au_La"])
    d = np.subtract(g.end, g.start)
    assert abs(d[0]) < 0.02 * abs(d[1])  # stack now along y


# ------------------------------------------------------------------ profiles
def test_linescan_equals_manual_sum(sim):
    s, _ = sim
    ls = s.get_stack_linescan(lazy_output=False)
    np.testing.assert_allclose(ls.data, s.data.sum(axis=0), rtol=1e-6)
    assert ls.axes_manager.navigation_axes[0].units == "nm"
    assert ls.axes_manager.navigation_axes[0].name == "Distance from ITO/SnO2"
    # narrow band: only the central rows
    s2 = s.deepcopy()
    g = s2.get_device_geometry()
    y0 = g.start[1]
    ls2 = s2.get_stack_linescan(width=32.0)
    rows = np.abs(s.axes_manager[1].axis - y0) <= 16.0
    np.testing.assert_allclose(ls2.data, s.data[rows].sum(axis=0), rtol=1e-6)


def test_window_intensities_match_exspy(sim):
    s, _ = sim
    ls = s.get_stack_linescan()
    prof = s.get_element_profiles(["Pb_La"], background=False, check_overlaps=False)
    ex = ls.get_lines_intensity(["Pb_La"])
    np.testing.assert_allclose(prof[0].data, ex[0].data, rtol=1e-9)
    # Poisson variance of a window sum = the sum itself
    var = prof[0].metadata.Signal.Noise_properties.variance.data
    np.testing.assert_allclose(var, prof[0].data, rtol=1e-9)


def test_profile_uncertainties_are_poisson(sim):
    s, truth = sim
    exp = s._deepcopy_with_new_data(truth["expected_counts"][0])
    got = s.get_element_profiles(LINES, check_overlaps=False)
    ref = exp.get_element_profiles(LINES, check_overlaps=False)
    z = np.concatenate(
        [
            (a.data - b.data)
            / np.sqrt(a.metadata.Signal.Noise_properties.variance.data)
            for a, b in zip(got, ref, strict=False)
        ]
    )
    assert abs(z.mean()) < 0.35
    assert 0.75 < z.std() < 1.3


@pytest.mark.parametrize("lazy", [False, True])
def test_lazy_equals_eager_profiles_and_ratios(series, lazy):
    s, truth = series
    t = _maybe_lazy(s, lazy)
    p = t.get_element_profiles(LINES, check_overlaps=False)
    r = t.get_halide_ratio_map(truth["k_factors"], ["I_La", "Br_Ka"])
    assert p[0]._lazy == lazy and r._lazy == lazy
    pe = s.get_element_profiles(LINES, check_overlaps=False)
    re_ = s.get_halide_ratio_map(truth["k_factors"], ["I_La", "Br_Ka"])
    if lazy:
        for a in p:
            a.compute()
        r.compute()
    for a, b in zip(p, pe, strict=False):
        np.testing.assert_allclose(a.data, b.data, rtol=1e-9)
        assert a.axes_manager.navigation_shape == (2,)
    np.testing.assert_allclose(r.data, re_.data, rtol=1e-9, equal_nan=True)
    lz = t.get_stack_linescan(lazy_output=not lazy)
    assert lz._lazy == (not lazy)
    with pytest.raises(ValueError, match="num_workers"):
        t.get_halide_ratio_map(truth["k_factors"], ["I_La", "Br_Ka"], num_workers=0)


def test_composition_and_ratio_recover_truth(sim):
    s, truth = sim
    comp = truth["composition"][0].mean(axis=0)
    els = truth["elements"]
    m = comp[:, [els.index(ln.split("_")[0]) for ln in LINES]]
    true_at = 100 * m / m.sum(axis=1, keepdims=True)
    c = s.get_composition_profiles(truth["k_factors"], LINES, check_overlaps=False)
    bulk = slice(10, 25)  # inside the perovskite
    for k in range(3):
        sd = np.sqrt(c[k].metadata.Signal.Noise_properties.variance.data)
        z = (c[k].data - true_at[:, k])[bulk] / sd[bulk]
        assert np.all(np.abs(z) < 4 + 0.03 * true_at[bulk, k] / sd[bulk]), (LINES[k], z)
    assert (
        c[0].metadata.get_item("Processing.Quantification.factors.Pb_La")
        == truth["k_factors"]["Pb_La"]
    )
    r = s.get_halide_ratio_profile(truth["k_factors"], ["I_La", "Br_Ka"])
    rt = (m[:, 1] + m[:, 2]) / m[:, 0]
    sd = np.sqrt(r.metadata.Signal.Noise_properties.variance.data)
    z = ((r.data - rt) / sd)[bulk]
    assert np.all(np.abs(z) < 4 + 0.03 * rt[bulk] / sd[bulk])


def test_composition_by_fit_separates_overlaps():
    s, truth = simulate_device_eds(
        shape=(4, 16),
        pixel_size=32.0,
        n_channels=512,
        energy_scale=0.025,
        counts_per_pixel=4000,
        seed=5,
    )
    comp = truth["composition"][0].mean(axis=0)
    els = truth["elements"]
    m = comp[:, [els.index(ln.split("_")[0]) for ln in LINES]]
    true_at = 100 * m / m.sum(axis=1, keepdims=True)
    c = s.get_composition_profiles(truth["k_factors"], LINES, method="fit")
    bulk = slice(5, 12)
    for k in range(3):
        sd = np.sqrt(c[k].metadata.Signal.Noise_properties.variance.data)
        z = (c[k].data - true_at[:, k])[bulk] / sd[bulk]
        assert np.all(np.abs(z) < 4), (LINES[k], z)


def test_nonstoichiometry_mask_and_clusters(series):
    s, truth = series
    kf = truth["k_factors"]
    mask = s.get_nonstoichiometry_mask(kf, ["I_La", "Br_Ka"])
    assert mask.data.dtype == np.int8
    res = s.find_pb_clusters(kf, ["I_La", "Br_Ka"], haadf=truth["haadf"])
    assert list(res["count"]) == [len(c) for c in truth["clusters"]]
    for got, true in zip(res["clusters"], truth["clusters"], strict=False):
        for c in true:
            d = [np.hypot(g["x"] - c["x"], g["y"] - c["y"]) for g in got]
            i = int(np.argmin(d))
            assert d[i] < truth["pixel_size"]
            assert (
                abs(got[i]["distance_to_interface"] - c["distance_to_interface"])
                < (truth["pixel_size"])
            )
            # every cluster pixel is flagged Pb-rich in the mask
    t_idx = 1
    lab = res["labels"].inav[t_idx].data
    assert np.all(mask.inav[t_idx].data[lab > 0] == -1)
    assert res["labels"].axes_manager.navigation_shape == (2,)


def test_overlaps_warned_and_free_line_suggested():
    s = EDSTEMBiasedSpectrum(np.ones(2048))
    s.axes_manager[0].scale = 0.01
    s.axes_manager[0].units = "keV"
    s.add_elements(["Br", "Al", "I", "Cs", "Ti", "Pb", "Au"])
    with pytest.warns(LineOverlapWarning, match="Br_La overlaps Al_Ka"):
        r = s.check_line_overlaps(["Br_La", "I_La", "Pb_Ma", "Cs_La", "Ti_Ka"])
    assert r["Br_La"] == ["Al_Ka"]
    assert "Au_Mb" in r["Pb_Ma"]
    assert {"I_Lb1", "Ti_Ka"} <= set(r["Cs_La"])
    assert {"Cs_La", "Cs_Lb1"} <= set(r["Ti_Ka"])
    assert r["I_La"] == []  # I_La itself is clear of Cs_La at this resolution
    assert r["free_lines"]["Pb_Ma"] == ["Pb_La"]
    assert r["free_lines"]["Ti_Ka"][0].startswith("Ti_L")
    # without Au, Br_Ka is free (Au_Lb2 11.585 keV sits next to Br_Ka)
    s2 = EDSTEMBiasedSpectrum(np.ones(2048))
    s2.axes_manager[0].scale = 0.01
    s2.axes_manager[0].units = "keV"
    s2.add_elements(["Br", "Al", "Pb"])
    r2 = s2.check_line_overlaps(["Br_La"], warn=False)
    assert r2["free_lines"]["Br_La"] == ["Br_Ka"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert s2.check_line_overlaps(["Br_Ka"], warn=False)["Br_Ka"] == []


# ----------------------------------------------------------------- bad input
def test_bad_inputs_and_inputs_untouched(sim):
    s, truth = sim
    before = s.data.copy()
    md_before = s.metadata.as_dictionary()
    with pytest.raises(ValueError, match="outside the energy range"):
        s.get_element_profiles(["I_Ka"])
    with pytest.raises(ValueError, match="not an X-ray line"):
        s.get_element_profiles(["Xx_Ka"])
    with pytest.raises(ValueError, match="contain no pixel"):
        s.get_element_profiles(["Pb_La"], bin_size=1.0, width=2.0, check_overlaps=False)
    s_between = s.deepcopy()
    s_between.set_device_geometry((0, 64.0), (500, 64.0))  # between pixel rows
    with pytest.raises(ValueError, match="contains no pixel"):
        s_between.get_stack_linescan(width=1.0)
    z = s._deepcopy_with_new_data(np.zeros_like(s.data))
    with pytest.raises(ValueError, match="zero counts|no significant net"):
        z.get_element_profiles(["Pb_La"], check_overlaps=False)
    with pytest.raises(ValueError, match="k-factors"):
        s.get_composition_profiles([1.0], LINES, check_overlaps=False)
    with pytest.raises(ValueError, match="not a halide"):
        s.get_halide_ratio_map(truth["k_factors"], ["Au_La"])
    with pytest.raises(ValueError, match="method"):
        s.get_element_profiles(["Pb_La"], method="magic")
    np.testing.assert_array_equal(s.data, before)
    assert s.metadata.as_dictionary().keys() == md_before.keys()


def test_series_stacking_and_calibration_errors(sim):
    s, _ = sim
    b = s.deepcopy()
    ser = stack_bias_series([s, b], [0.0, 300.0], labels=["pristine", "biased"])
    assert ser.axes_manager.navigation_shape == (32, 16, 2)
    assert ser.axes_manager[2].name == "Time"
    assert ser.metadata.Device.Series.labels == ["pristine", "biased"]
    lz = stack_bias_series([s.as_lazy(), b], [0.0, 300.0])
    assert lz._lazy
    c = s.deepcopy()
    c.axes_manager.signal_axes[0].scale *= 1.01
    with pytest.raises(ValueError, match="calibration"):
        stack_bias_series([s, c], [0, 1])
    d = s.deepcopy()
    d.axes_manager[0].scale = 20.0
    with pytest.raises(ValueError, match="calibration"):
        stack_bias_series([s, d], [0, 1])
    with pytest.raises(ValueError, match="increasing"):
        stack_bias_series([s, b], [1, 0])


# ---------------------------------------------------------------- real files
def test_real_bruker_bcf_profiles_and_haadf_geometry():
    haadf, eds = hs.load(os.path.join(DATA, "test_TEM.bcf"))
    eds.set_signal_type("EDS_TEM_biased")
    assert isinstance(eds, EDSTEMBiasedSpectrum)
    # two points in the map's calibrated units (um)
    eds.set_device_geometry((0.0, 0.024), (0.048, 0.024), width=0.02)
    prof = eds.get_element_profiles(["Cu_Ka", "Ti_Ka"], check_overlaps=False)
    ls = eds.get_stack_linescan()
    assert prof[0].axes_manager.signal_axes[0].units == "nm"
    # counts equal a manual sum of the band
    ex = ls.get_lines_intensity(["Cu_Ka"])[0].data
    p0 = eds.get_element_profiles(["Cu_Ka"], background=False, check_overlaps=False)
    np.testing.assert_allclose(p0[0].data, ex)
    assert p0[0].data.sum() > 0
    g = eds.find_device_geometry(1, haadf=haadf)
    assert g.method == "automatic" and len(g.interface_positions) == 1


def test_real_jeol_pts_frames():
    items = hs.load(
        os.path.join(DATA, "jeol", "rawdata.ASW"),
        sum_frames=False,
        downsample=16,
        rebin_energy=8,
        cutoff_at_kV=20,
    )
    eds = [x for x in items if x.metadata.Signal.signal_type == "EDS_TEM"][0]
    eds.set_signal_type("EDS_TEM_biased")
    assert eds.axes_manager.navigation_shape == (32, 32, 14)
    ax = eds.axes_manager.navigation_axes
    eds.set_device_geometry(
        (ax[0].low_value, ax[1].axis[16]), (ax[0].high_value, ax[1].axis[16])
    )
    prof = eds.get_element_profiles(
        ["Fe_Ka", "Cu_Ka"], background=False, check_overlaps=False
    )
    assert prof[0].axes_manager.navigation_shape == (14,)
    total = eds.sum(axis=2)
    total.set_signal_type("EDS_TEM_biased")
    total.metadata.Device = eds.metadata.Device.deepcopy()
    ptot = total.get_element_profiles(["Fe_Ka"], background=False, check_overlaps=False)
    np.testing.assert_allclose(prof[0].data.sum(axis=0), ptot[0].data, rtol=1e-6)
    # full 512 x 512 frames, lazily (RosettaSciIO needs the 'sparse' package;
    # its lazy reader fails with downsample): lazy == eager
    kw = dict(sum_frames=False, rebin_energy=32, cutoff_at_kV=20, frame_list=[0, 1])
    f = os.path.join(DATA, "jeol", "rawdata.ASW")
    out = []
    for lazy in (True, False):
        sig = [
            x
            for x in hs.load(f, lazy=lazy, **kw)
            if x.metadata.Signal.signal_type == "EDS_TEM"
        ][0]
        sig.set_signal_type("EDS_TEM_biased")
        ax = sig.axes_manager.navigation_axes
        sig.set_device_geometry(
            (ax[0].low_value, ax[1].axis[256]),
            (ax[0].high_value, ax[1].axis[256]),
            width=64 * ax[1].scale,
        )
        p = sig.get_element_profiles(["Fe_Ka"], background=False, check_overlaps=False)
        assert p[0]._lazy == lazy
        if lazy:
            p[0].compute()
        out.append(p[0].data)
    assert out[0].shape == (2, 511)
    np.testing.assert_allclose(out[0], out[1])
    assert out[1].sum() > 0


# ------------------------------------------------ streaming profiles (perf)
def _counting_lazy(s, chunks):
    """Lazy copy of ``s`` whose chunk reads are counted."""
    import dask.array as da

    reads = []

    def read(block):
        if block.size:  # not dask's meta probes on empty arrays
            reads.append(block.shape)
        return block

    lz = s.as_lazy()
    lz.data = da.from_array(np.asarray(s.data), chunks=chunks).map_blocks(
        read, dtype=s.data.dtype
    )
    return lz, reads


def test_profiles_and_composition_read_each_chunk_once(series):
    s, truth = series
    lz, reads = _counting_lazy(s, (1, 8, 12, -1))
    nchunks = lz.data.npartitions
    prof = lz.get_element_profiles(LINES, check_overlaps=False, lazy_output=False)
    assert len(reads) == nchunks  # ONE pass over the map
    comp = lz.get_composition_profiles(truth["k_factors"], profiles=prof)
    ratio = lz.get_halide_ratio_profile(truth["k_factors"], ["I_La", "Br_Ka"])
    assert len(reads) == nchunks  # lazy outputs: nothing read at call time
    assert all(c._lazy for c in comp) and ratio._lazy
    ratio.compute()
    assert len(reads) == 2 * nchunks  # one pass for the ratio
    # lazy profiles of several lines: one pass when computed together
    lp = lz.get_element_profiles(LINES, check_overlaps=False)
    assert lp[0]._lazy and len(reads) == 2 * nchunks
    dask.compute(*[p.data for p in lp])
    assert len(reads) == 3 * nchunks
    # same numbers as the eager map, from scratch, and as the line scan
    ce = s.get_composition_profiles(truth["k_factors"], LINES, check_overlaps=False)
    pe = s.get_element_profiles(LINES, check_overlaps=False)
    ls = s.get_stack_linescan()
    w = s._weights(LINES, True, 2.0)
    for k in range(3):
        comp[k].compute()
        np.testing.assert_allclose(prof[k].data, pe[k].data, rtol=1e-12)
        np.testing.assert_allclose(prof[k].data, ls.data @ w[:, k], rtol=1e-9)
        np.testing.assert_allclose(comp[k].data, ce[k].data, rtol=1e-9)
        vc = comp[k].metadata.Signal.Noise_properties.variance
        vc.compute()
        np.testing.assert_allclose(
            vc.data, ce[k].metadata.Signal.Noise_properties.variance.data, rtol=1e-9
        )
        assert comp[k].metadata.Processing.Quantification.method == "CL"
        assert comp[k].metadata.Signal.quantity == "Composition (at%)"
        assert comp[k].metadata.Device.Profile.bin_size == pytest.approx(10.0)
        assert comp[k].axes_manager.navigation_shape == (2,)
    re_ = s.get_halide_ratio_profile(truth["k_factors"], ["I_La", "Br_Ka"])
    np.testing.assert_allclose(ratio.data, re_.data, rtol=1e-12, equal_nan=True)
    assert np.nanmedian(ratio.data) > 0


@pytest.mark.parametrize("ext", ["hspy", "zspy"])
def test_composition_from_profiles_survives_save_load(sim, tmp_path, ext):
    s, truth = sim
    prof = s.get_element_profiles(LINES, check_overlaps=False)
    comp = s.get_composition_profiles(truth["k_factors"], profiles=prof)
    f = tmp_path / f"c.{ext}"
    comp[1].save(f)
    r = hs.load(f)
    np.testing.assert_allclose(r.data, comp[1].data)
    assert (
        r.metadata.get_item("Processing.Quantification.factors.I_La")
        == truth["k_factors"]["I_La"]
    )
    assert r.axes_manager.signal_axes[0].units == "nm"
    np.testing.assert_allclose(
        r.metadata.Signal.Noise_properties.variance.data,
        comp[1].metadata.Signal.Noise_properties.variance.data,
    )


def test_composition_from_profiles_bad_input(sim):
    s, truth = sim
    prof = s.get_element_profiles(LINES, check_overlaps=False)
    before = [p.data.copy() for p in prof]
    with pytest.raises(TypeError, match="list of Signal1D"):
        s.get_composition_profiles(truth["k_factors"], profiles=prof[0])
    with pytest.raises(ValueError, match="at least two"):
        s.get_composition_profiles(truth["k_factors"], profiles=prof[:1])
    with pytest.raises(ValueError, match="differ from the lines"):
        s.get_composition_profiles(
            truth["k_factors"], ["Pb_La", "Br_Ka", "I_La"], profiles=prof
        )
    comp = s.get_composition_profiles(truth["k_factors"], profiles=prof)
    with pytest.raises(ValueError, match="intensity profile"):
        s.get_composition_profiles(truth["k_factors"], profiles=comp)
    with pytest.raises(ValueError, match="k-factor"):
        s.get_composition_profiles({"Pb_La": 1.0}, profiles=prof)
    for p, b in zip(prof, before, strict=True):
        np.testing.assert_array_equal(p.data, b)
        assert p.metadata.Signal.quantity == "X-ray counts"


def test_lazy_profile_memory_bounded():
    # a 128 x 128 x 1024 map generated lazily in 64 chunks: as float64 it
    # would take 128 MB; the streaming profile holds a few chunks (2 MB of
    # uint16 each) and partial sums of the window channels only
    import tracemalloc

    import dask
    import dask.array as da

    t, _ = simulate_device_eds(shape=(2, 128), n_channels=1024, seed=5)
    axes = [a.get_axis_dictionary() for a in t.axes_manager._axes]
    axes[0]["size"] = 128
    data = da.random.default_rng(0).integers(
        0, 4, size=(128, 128, 1024), chunks=(16, 16, 1024), dtype=np.uint16
    )
    lz = EDSTEMBiasedSpectrum(data, axes=axes, metadata=t.metadata.as_dictionary())
    lz = lz.as_lazy()
    lz.get_element_profiles(["Pb_La"], check_overlaps=False)  # warm-up
    tracemalloc.start()
    try:
        with dask.config.set(scheduler="threads", num_workers=2):
            p = lz.get_element_profiles(LINES, check_overlaps=False)
            c = lz.get_composition_profiles({ln: 1.0 for ln in LINES}, profiles=p)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()
    assert peak < 24.0, peak
    # uniform counts 0..3 (mean 1.5) in every channel: gross window sums are
    # 1.5 x pixels x channels; the background-subtracted lines vanish
    g = lz.get_element_profiles(LINES, check_overlaps=False, background=False)
    npix = np.asarray(p[0].metadata.Device.Profile.pixels_per_bin)
    w = lz._weights(LINES, False, 2.0)
    for k in range(3):
        g[k].compute()
        n = npix * w[:, k].sum()  # values summed per bin
        z = (g[k].data - 1.5 * n) / np.sqrt(1.25 * n)  # uniform 0..3: var 1.25
        assert np.all(np.abs(z) < 5.5) and abs(z.mean()) < 0.5, z
        # a composition only where the k-weighted intensities sum above 0
        kat = _atomic_k(LINES, [1.0, 1.0, 1.0])
        total = sum(kf * np.asarray(q.data) for kf, q in zip(kat, p, strict=True))
        np.testing.assert_array_equal(np.isfinite(np.asarray(c[k].data)), total > 0)


def test_lazy_clusters_read_each_chunk_once_and_equal_eager(series):
    s, truth = series
    kf = truth["k_factors"]
    lz, reads = _counting_lazy(s, (1, 12, 24, -1))
    res = lz.find_pb_clusters(kf, ["I_La", "Br_Ka"], haadf=truth["haadf"])
    assert len(reads) == lz.data.npartitions  # ratio, variance, Pb: one pass
    ref = s.find_pb_clusters(kf, ["I_La", "Br_Ka"], haadf=truth["haadf"])
    assert (
        list(res["count"]) == list(ref["count"]) == [len(c) for c in truth["clusters"]]
    )
    lab = res["labels"]
    if lab._lazy:
        lab.compute()
    np.testing.assert_array_equal(lab.data, ref["labels"].data)
