"""EDX profiles: units, absorption, significance checks and the real files."""

import os

import hyperspy.api as hs
import numpy as np
import pytest

from hyperspy_perovskite.data.device_simulation import simulate_device_eds
from hyperspy_perovskite.signals.eds_biased import (
    GeometryWarning,
    LineAbsentWarning,
    NonPoissonWarning,
    stack_bias_series,
)

DATA = os.path.join(os.path.dirname(__file__), "..", "data", "eds")
LINES = ["Pb_La", "I_La", "Br_Ka"]


@pytest.fixture(scope="module")
def sim():
    return simulate_device_eds(shape=(16, 32), pixel_size=16.0, seed=3)


def _in_ev(s):
    e = s.deepcopy()
    ax = e.axes_manager.signal_axes[0]
    ax.scale, ax.offset, ax.units = ax.scale * 1e3, ax.offset * 1e3, "eV"
    return e


def test_energy_axis_in_ev_gives_the_same_profiles(sim):
    s, _ = sim
    pk = s.get_element_profiles(LINES, check_overlaps=False)
    pe = _in_ev(s).get_element_profiles(LINES, check_overlaps=False)
    for a, b in zip(pk, pe, strict=True):
        np.testing.assert_allclose(a.data, b.data)
    with pytest.raises(ValueError, match="keV or eV"):
        t = s.deepcopy()
        t.axes_manager.signal_axes[0].units = "J"
        t.get_element_profiles(LINES, check_overlaps=False)


def test_lengths_with_units(sim):
    s, _ = sim
    a = s.get_element_profiles(
        ["I_La"], width=64.0, bin_size=16.0, check_overlaps=False
    )
    b = s.get_element_profiles(
        ["I_La"], width="0.064 um", bin_size="160 A", check_overlaps=False
    )
    np.testing.assert_allclose(a[0].data, b[0].data)
    with pytest.raises(ValueError, match="length"):
        s.get_element_profiles(["I_La"], width="3 s", check_overlaps=False)


def test_bad_windows_nan_and_absent_lines(sim):
    s, _ = sim
    with pytest.raises(ValueError, match="positive"):
        s.get_element_profiles(["I_La"], integration_windows=-1, check_overlaps=False)
    t = s.deepcopy()
    i0 = t.axes_manager.signal_axes[0].value2index(3.94)
    t.data[0, 0, i0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        t.get_element_profiles(["I_La"], check_overlaps=False)
    # no Fe in the device: its window holds bremsstrahlung only
    with pytest.warns(LineAbsentWarning, match="Fe_Ka"):
        s.get_element_profiles(["Fe_Ka"], check_overlaps=False)


def test_lazy_output_runs_the_same_checks(sim):
    """lazy_output=True: nothing is computed at the call, and computing the
    profiles raises and warns exactly as the eager call does."""
    s, _ = sim
    t = s.deepcopy()
    i0 = t.axes_manager.signal_axes[0].value2index(3.94)
    t.data[0, 0, i0] = np.nan
    lazy = t.as_lazy()
    p = lazy.get_element_profiles(["I_La"], check_overlaps=False, lazy_output=True)
    assert p[0]._lazy
    with pytest.raises(ValueError, match="NaN"):
        p[0].compute()
    q = s.as_lazy().get_element_profiles(
        ["Fe_Ka"], check_overlaps=False, lazy_output=True
    )
    with pytest.warns(LineAbsentWarning, match="Fe_Ka"):
        q[0].compute()
    d = s.as_lazy()
    d.data = d.data * 0.37
    r = d.get_element_profiles(["I_La"], check_overlaps=False, lazy_output=True)
    with pytest.warns(NonPoissonWarning):
        r[0].compute()
    good = s.as_lazy().get_element_profiles(
        ["I_La"], check_overlaps=False, lazy_output=True
    )
    eager = s.get_element_profiles(["I_La"], check_overlaps=False)
    good[0].compute()
    np.testing.assert_allclose(good[0].data, eager[0].data)


def test_denoised_map_warns_and_map_variance_is_used(sim):
    s, _ = sim
    d = s.deepcopy()
    d.data = d.data * 0.37  # rescaled: not counts
    with pytest.warns(NonPoissonWarning):
        d.get_element_profiles(["I_La"], check_overlaps=False)
    v = s.deepcopy()
    v.metadata.set_item(
        "Signal.Noise_properties.variance", v._deepcopy_with_new_data(4.0 * v.data)
    )
    p0 = s.get_element_profiles(["I_La"], check_overlaps=False)[0]
    p1 = v.get_element_profiles(["I_La"], check_overlaps=False)[0]
    np.testing.assert_allclose(
        p1.metadata.Signal.Noise_properties.variance.data,
        4.0 * p0.metadata.Signal.Noise_properties.variance.data,
    )


def test_series_refuses_other_kv(sim):
    s, _ = sim
    b = s.deepcopy()
    b.metadata.Acquisition_instrument.TEM.beam_energy = 300.0
    with pytest.raises(ValueError, match="kV"):
        stack_bias_series([s, b], [0, 10])
    ok = stack_bias_series([s, s.deepcopy()], ["0 s", "2 min"])
    np.testing.assert_allclose(ok.axes_manager[2].axis, [0.0, 120.0])


def test_absorption_matches_exspy_route(sim):
    """Absorption-corrected Cliff-Lorimer of the profiles == exSpy's
    quantification(absorption_correction=True) on the line scan."""
    s, truth = sim
    lines = ["Pb_La", "I_La", "Br_Ka"]
    kf = truth["k_factors"]
    prof = s.get_composition_profiles(
        kf, lines, check_overlaps=False, absorption_correction=True, thickness=300.0
    )
    plain = s.get_composition_profiles(kf, lines, check_overlaps=False)
    ls = s.get_stack_linescan()
    ints = ls.get_lines_intensity(lines)
    # same background-subtracted intensities as the profiles
    for i, line in enumerate(lines):
        pi = s.get_element_profiles([line], check_overlaps=False)[0]
        ints[i].data = np.asarray(pi.data, float)
    with ls._as_eds_tem():
        ex = ls.quantification(
            ints,
            "CL",
            [kf[ln] for ln in lines],
            absorption_correction=True,
            thickness=300.0,
            convergence_criterion=1e-4,
            show_progressbar=False,
        )
    if isinstance(ex, tuple):  # (composition, mass thickness)
        ex = ex[0]
    # exSpy zeroes bins with an intensity below 0.1: compare the others
    ok = np.all([np.asarray(i.data) > 0.1 for i in ints], axis=0)
    assert ok.sum() > 10
    for p, e in zip(prof, ex, strict=True):
        np.testing.assert_allclose(p.data[ok], e.data[ok], rtol=2e-3, atol=0.02)
    # absorption raises I (3.9 keV) against Pb La (10.5 keV) in a thick lamella
    pero = ok & (np.asarray(plain[1].data) > 40)
    assert pero.sum() >= 5
    assert np.all(prof[1].data[pero] > plain[1].data[pero])
    with pytest.raises(ValueError, match="thickness"):
        s.get_composition_profiles(kf, lines, absorption_correction=True)


def test_automatic_geometry_refuses_or_warns_without_layers():
    rng = np.random.default_rng(0)
    s, _ = simulate_device_eds(shape=(16, 32), pixel_size=16.0, seed=1)
    flat = s.deepcopy()
    mean = s.data.mean(axis=(0, 1))
    flat.data = rng.poisson(np.broadcast_to(mean, s.data.shape)).astype(np.float32)
    with pytest.raises(ValueError, match="no layering"):
        flat.find_device_geometry(2, xray_lines=["Pb_La", "Au_La"])
    # steps demanded far beyond their significance: confidence 0, a warning
    with pytest.warns(GeometryWarning, match="low confidence"):
        g = s.find_device_geometry(
            4, xray_lines=["In_La", "Sn_La", "Pb_La", "Au_La"], n_sigma=1e6
        )
    assert g.confidence == 0.0
    # 16 nm pixels: the 40 nm SnO2 layer (2.5 px) is below the resolution,
    # its two interfaces merge: flagged, never a confident geometry
    with pytest.warns(GeometryWarning, match="Not valid"):
        g = s.find_device_geometry(4, xray_lines=["In_La", "Sn_La", "Pb_La", "Au_La"])
    assert g.confidence < 0.5 and not all(g.interface_valid)


def test_no_pb_rich_pixels_where_there_is_no_pb_real_bruker():
    haadf, eds = hs.load(os.path.join(DATA, "test_TEM.bcf"))
    eds.set_signal_type("EDS_TEM_biased")
    # the Bruker specimen holds no Pb and no halide: no pixel may be flagged
    m = eds.get_nonstoichiometry_mask({"Cl_Ka": 1.0, "Pb_La": 1.0}, ["Cl_Ka"], "Pb_La")
    assert int(np.sum(m.data == -1)) == 0
    r = eds.get_halide_ratio_map({"Cl_Ka": 1.0, "Pb_La": 1.0}, ["Cl_Ka"], "Pb_La")
    assert r.metadata.has_item("Validity.mask")
    assert np.all(np.isnan(r.data[~np.asarray(r.metadata.Validity.mask)]))


def test_no_pb_rich_pixels_where_there_is_no_pb_real_jeol():
    items = hs.load(
        os.path.join(DATA, "jeol", "rawdata.ASW"),
        sum_frames=False,
        downsample=16,
        rebin_energy=8,
        cutoff_at_kV=20,
    )
    eds = [x for x in items if x.metadata.Signal.signal_type == "EDS_TEM"][0]
    eds.set_signal_type("EDS_TEM_biased")
    kf = {"I_La": 1.0, "Pb_La": 1.0}
    m = eds.get_nonstoichiometry_mask(kf, ["I_La"], "Pb_La")
    assert m.data.shape == (14, 32, 32)
    assert int(np.sum(m.data == -1)) == 0


@pytest.mark.parametrize(
    "method", ["get_halide_ratio_map", "get_nonstoichiometry_mask"]
)
def test_lazy_validity_stored_and_equal_to_eager(sim, method, tmp_path):
    """The lazy ratio map and mask store their validity (a lazy mask) in
    metadata; computed, it is the eager one, and it survives save/load."""
    from hyperspy_perovskite.validity import Validity, compute_validity

    s, t = sim
    args = (t["k_factors"], ["I_La", "Br_Ka"])
    eager = getattr(s, method)(*args)
    lazy = getattr(s.as_lazy(), method)(*args)
    v_lazy = Validity.from_metadata(lazy.metadata)
    assert v_lazy.lazy
    v_eager = Validity.from_metadata(eager.metadata)
    assert 0 < v_eager.fraction < 1  # the electrodes have no halide or Pb
    np.testing.assert_array_equal(v_lazy.compute().mask, v_eager.mask)
    compute_validity(lazy)
    np.testing.assert_array_equal(lazy.data, eager.data)
    lazy.save(tmp_path / "r.zspy")
    back = Validity.from_metadata(hs.load(tmp_path / "r.zspy").metadata)
    np.testing.assert_array_equal(back.compute().mask, v_eager.mask)
