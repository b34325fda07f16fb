"""Operando 4D-STEM signal: ground truth recovery, lazy == eager, storage, errors."""

import hyperspy.api as hs
import numpy as np
import pytest

from hyperspy_perovskite.analysis.diffraction.registration import register_series
from hyperspy_perovskite.data.operando_4dstem_simulation import (
    simulate_operando_4dstem,
    strain_field,
)
from hyperspy_perovskite.metadata import DeviceGeometry
from hyperspy_perovskite.signals._operando_result import OperandoAnalysis
from hyperspy_perovskite.signals.operando_4dstem import (
    LazyOperando4DSTEM,
    Operando4DSTEM,
    diffraction_rotation,
    stack_scans,
)
from hyperspy_perovskite.units import UnitError

#: one xdist worker runs the whole module: the session-scoped simulations
#: below are built once (with ``--dist loadgroup``), not once per worker
pytestmark = pytest.mark.xdist_group("operando_4dstem")

COMP = ("exx", "eyy", "exy", "theta")


SIZE = {"n_time": 5, "scan_shape": (6, 40), "pattern_size": 64}
ALL = ("Pb", "PbBr2", "CsPb2Br5")
#: Pb nuclei inside the emitter (under its single-crystal spots)
IN_EMITTER = (-2.5, -1.0)


@pytest.fixture(scope="session")
def runs():
    """Seed 0: detector aligned with the scan, Pb only; seed 1: the pattern
    turned by 15 deg, three candidate phases; seeds 2 and 3: Pb nucleating
    inside the emitter (aligned, and turned by -8 deg)."""
    out = []
    for seed, rot, phases, sites in (
        (0, 0.0, ("Pb",), (-3.0, 1.0)),
        (1, 15.0, ALL, (-3.0, 1.0)),
        (2, 0.0, ("Pb",), IN_EMITTER),
        (3, -8.0, ("Pb",), IN_EMITTER),
    ):
        s, tr = simulate_operando_4dstem(
            seed=seed, detector_rotation=rot, pb_sites=sites, **SIZE
        )
        res = s.analyse(phases=phases, diffraction_rotation=rot)
        out.append((s, tr, res))
    return out


def _truth_at(tr, name, t):
    x = tr["interfaces"][name] + (-0.5 if name.endswith("TPBi") else 0.5)
    width = tr["interfaces"]["TPBi/Al"] / 0.85
    return np.array(
        [strain_field(np.array([x]), tt, width, 45.0, 60.0)[:, 0] for tt in t]
    )


def _pulls(tr, tab):
    pulls = []
    for name in ("PEDOT:PSS/CsPbBr2Cl", "CsPbBr2Cl/TPBi"):
        rows = [i for i, n in enumerate(tab["interface"]) if n == name]
        truth = _truth_at(tr, name, np.asarray(tab["time"])[rows])
        for c, comp in enumerate(COMP):
            m = np.asarray(tab[comp])[rows]
            e = np.asarray(tab.std[comp])[rows]
            pulls += list((m - truth[:, c]) / e)
    return np.array(pulls)


def test_interface_strain_pulls_and_coverage(runs):
    """Strain in the device frame (x along the stack), also with the pattern
    turned 15 deg and -8 deg on the detector."""
    p = np.concatenate([_pulls(tr, r.interface_strain) for _, tr, r in runs])
    assert np.isfinite(p).all() and p.size == 160
    assert abs(p.mean()) < 0.3
    assert 0.8 < p.std() < 1.25
    assert 0.58 < (np.abs(p) < 1).mean() < 0.8
    assert (np.abs(p) < 2).mean() > 0.9


def test_rotated_pattern_needs_the_rotation(runs):
    """Without the diffraction rotation the 15-deg case is read in the wrong
    frame: the interface strain misses the truth (the tensor is mixed). The
    rotation stored by ``calibrate(rotation=...)`` is used by default."""
    s, tr, r = runs[1]
    two = s.inav[:, :, ::4]  # 0 s and 120 s: the pristine and the grown step
    kx = two.axes_manager.signal_axes[0]
    stored = two.calibrate(
        scale=kx.scale, center=(-kx.offset / kx.scale,) * 2, rotation="15 deg"
    )
    good = stored.analyse(phases=())
    bad = two.analyse(phases=())
    assert good.diffraction_rotation == pytest.approx(15.0)
    assert bad.diffraction_rotation == 0.0
    pg, pb = _pulls(tr, good.interface_strain), _pulls(tr, bad.interface_strain)
    assert np.sqrt(np.mean(pg**2)) < 1.6 and np.abs(pg).max() < 3
    assert np.sqrt(np.mean(pb**2)) > 2.0 and np.abs(pb).max() > 5


def test_pristine_and_bias_induced_strain(runs):
    _, tr, r = runs[0]
    tab = r.interface_strain
    rows = [i for i, n in enumerate(tab["interface"]) if n == "CsPbBr2Cl/TPBi"]
    pre, pre_e = tab["exx_pristine"][rows][0], tab.std["exx_pristine"][rows][0]
    assert abs(pre - 0.006) < 3 * pre_e  # pre-existing step of the pristine device
    bias = np.asarray(tab["exx_bias"])[rows]
    t = np.asarray(tab["time"])[rows]
    growth = 0.012 * np.where(t > 45, 1 - np.exp(-(t - 45) / 60), 0)
    assert np.all(np.abs(bias - growth) < 4 * np.asarray(tab.std["exx_bias"])[rows])


@pytest.fixture(scope="session")
def drift_pulls():
    """Drift pulls over 12 seeds (small patterns: the ADF image is what is
    registered; its counts barely depend on the detector's sampling)."""
    out = []
    for seed in range(12):
        s, tr = simulate_operando_4dstem(
            seed=50 + seed, n_time=5, scan_shape=(8, 40), pattern_size=16
        )
        off, std, _ = register_series(s.get_virtual_image_series()["ADF"].data)
        out.append(((off - tr["offset"])[1:] / std[1:]).ravel())  # 1 nm steps
    return np.concatenate(out)


def test_drift_within_error_bars(runs, drift_pulls):
    for _, tr, r in runs:
        assert np.abs(r.offsets - tr["offset"]).max() < 0.5  # nm (6 scan rows)
    p = drift_pulls
    assert p.size == 96 and np.isfinite(p).all()
    assert abs(p.mean()) < 0.3 and 0.8 < p.std() < 1.25
    assert 0.56 < (np.abs(p) < 1).mean() < 0.8
    assert (np.abs(p) < 2).mean() > 0.88


def _pb_in_band(tr, width=1.5):
    nx = tr["pb"].shape[-1]
    sx = np.arange(nx)[None, None, :] + tr["offset"][:, 1, None, None]
    band = np.abs(sx - tr["interfaces"]["CsPbBr2Cl/TPBi"]) <= width
    return tr["pb"] & np.broadcast_to(band, tr["pb"].shape)


def test_pb_onset_at_the_nucleation_scan(runs):
    for _, tr, r in runs:
        on = r.onsets
        first = tr["times"][np.flatnonzero(_pb_in_band(tr).any(axis=(1, 2)))[0]]
        for phase in ("product", "Pb"):
            i = [
                k
                for k in range(len(on))
                if on["interface"][k] == "CsPbBr2Cl/TPBi" and on["phase"][k] == phase
            ][0]
            assert on["onset_at"][i] == first  # the scan where Pb appeared
            assert on["onset_after"][i] == first - 30.0
            assert on.std["onset"][i] == pytest.approx(30 / np.sqrt(12))
            assert on["onset_bias"][i] == pytest.approx(first - 15.0 - 45.0)


def test_pb_inside_the_emitter(runs):
    """Pb nucleating under the emitter's single-crystal spots (Pb 111 lies on
    the emitter's 200 ring) is found there, in the scan where it appears."""
    for _, tr, r in runs[2:]:
        em = tr["layer"] == 1
        pb_em = tr["pb"] & em
        assert pb_em.sum() > 10
        assert r.tested[em].all()  # every emitter position is tested
        assert (r.product[pb_em]).mean() > 0.9
        first = np.flatnonzero(pb_em.any(axis=(1, 2)))[0]
        found = np.flatnonzero((r.product & em).any(axis=(1, 2)))[0]
        assert found == first
        hit = r.products["hits"][pb_em]
        band = np.argmin(np.abs(r.products["bands"]["centre"] - 0.35))  # Pb 111
        assert hit[:, band].mean() > 0.5  # on the ring the emitter shares


def test_no_false_products(runs):
    """Calibrated false-positive rate: no product where there is no Pb (one
    scan pixel of slack for the probe and the interface roughness), and
    inside the emitter, where the matrix's spots share the Pb rings, the
    per-pattern hit rate of the test stays at alpha."""
    from scipy import ndimage

    n_null = n_false = n_single = 0
    p_em = []
    for _, tr, r in runs:
        near = np.stack([ndimage.binary_dilation(p) for p in tr["pb"]])
        null = ~near & r.tested
        n_null += null.sum()
        n_false += (r.product & null).sum()
        n_single += (r.products["hits"].any(axis=-1) & null).sum()
        assert r.product[tr["times"] < tr["pb_onset"]].sum() == 0
        p_em.append(r.products["p_min"][null & (tr["layer"] == 1)])
    assert n_null > 3000
    assert n_false == 0
    # single-pattern hits before the cluster criterion: at most alpha = 1e-4
    # by construction (Bonferroni), a few in 3000 allowed for misfit
    assert n_single / n_null < 2e-3
    p_em = np.concatenate(p_em)
    assert p_em.size > 2000
    for alpha in (0.1, 0.01):
        assert (np.nan_to_num(p_em, nan=1.0) < alpha).mean() <= 1.2 * alpha


def test_phases_told_apart_or_flagged_ambiguous(runs):
    _, tr, r0 = runs[0]
    assert (r0.identification[r0.product] == 0).all()  # Pb, the only candidate
    _, tr, r1 = runs[1]
    lab = r1.identification[r1.product]
    # at this camera length PbBr2 and CsPb2Br5 have rings in every band of Pb:
    # every product position says so, none is given to one phase silently
    assert lab.size > 10 and (lab == -1).all()
    assert all(r1.present[p][r1.product].all() for p in ALL)
    f = r1.phase_fractions
    rows = [
        i
        for i in range(len(f))
        if f["phase"][i] == "product" and f["interface"][i] == "CsPbBr2Cl/TPBi"
    ]
    amb = np.asarray(f["ambiguous"])[rows]
    assert np.all(amb[np.isfinite(amb)] == 1.0)


def test_al_layer_rings_are_not_read_as_pb(runs):
    """Al 111 spots (0.428 1/A) sit next to Pb 002 (0.404 1/A): the known Al
    layer of the device geometry keeps them out; without it they are read as
    Pb."""
    s, tr, r = runs[0]
    al = tr["layer"] == 3
    assert r.product[al].sum() == 0 and not r.tested[al].any()
    blind = s.inav[:, :, :2].analyse(phases=("Pb",), layer_phases={})
    assert blind.product[al[:2] & ~tr["pb"][:2]].sum() > 8


def test_phases_from_a_cif_file(runs, tmp_path):
    s, _, r = runs[0]
    cif = tmp_path / "lead.cif"
    cif.write_text(
        "data_Pb\n_cell_length_a 4.9502\n_cell_length_b 4.9502\n"
        "_cell_length_c 4.9502\n_cell_angle_alpha 90\n_cell_angle_beta 90\n"
        "_cell_angle_gamma 90\n_symmetry_space_group_name_H-M 'F m -3 m'\n"
        "loop_\n_atom_site_label\n_atom_site_type_symbol\n_atom_site_fract_x\n"
        "_atom_site_fract_y\n_atom_site_fract_z\nPb1 Pb 0 0 0\n"
    )
    rc = s.analyse(phases=(cif,))
    assert rc.phases == ["Pb"]
    assert rc.product.sum() > 5
    np.testing.assert_array_equal(rc.product, r.product)
    np.testing.assert_array_equal(rc.onsets["onset_at"], r.onsets["onset_at"])


def test_timeline_resistance_and_figure(runs):
    s, tr, r = runs[0]
    tl = r.timeline
    t = np.asarray(tl["time"])
    on = t >= 45
    expected = np.interp(
        t, tr["resistance"]["time"], np.nan_to_num(tr["resistance"]["resistance"])
    )
    np.testing.assert_allclose(tl["resistance"][on], expected[on], rtol=0.01)
    assert np.isnan(tl["resistance"][~on]).all()
    fig = r.plot_timeline()
    assert len(fig.axes) >= 3
    assert "Time (s)" in [a.get_xlabel() for a in fig.axes]


def test_maps_have_validity_and_units(runs):
    _, _, r = runs[0]
    m = r.strain
    assert m["exx"].axes_manager.navigation_axes[0].units == "s"
    assert np.isnan(m["exx"].data[~r.validity.mask]).all()
    assert "Validity" in m["exx"].metadata
    prof = r.strain_profiles("exx")
    assert prof.axes_manager.signal_axes[0].units == "nm"


@pytest.mark.parametrize("ext", ["hspy", "zspy"])
def test_save_load_keeps_tables_validity_and_rotation(runs, tmp_path, ext):
    s, _, r = runs[1]
    sig = r.to_signal()
    f = tmp_path / f"analysis.{ext}"
    sig.save(f)
    back = hs.load(f)
    tabs = OperandoAnalysis.tables_from_signal(back)
    assert tabs["interface_strain"] == r.interface_strain
    np.testing.assert_allclose(np.asarray(tabs["timeline"]["time"]), r.times)
    assert back.metadata.Diffraction_calibration.rotation == 15.0
    assert back.metadata.Diffraction_calibration.rotation_units == "deg"
    assert back.axes_manager.navigation_axes[0].units == "s"
    assert back.data.shape[1] == 5  # (quantity, time, y, x)
    np.testing.assert_allclose(
        back.data[0], r.validity.apply(r._strain[..., 0]), equal_nan=True
    )
    small = s.inav[:3, :2, :2].calibrate(scale=0.02, rotation="0.25 rad")
    f2 = tmp_path / f"series.{ext}"
    small.save(f2)
    s2 = hs.load(f2)
    assert isinstance(s2, Operando4DSTEM)
    assert DeviceGeometry.from_signal(s2) == DeviceGeometry.from_signal(s)
    assert s2.metadata.Stimulus.Bias_condition.current == 1e-8
    assert diffraction_rotation(s2.metadata) == pytest.approx(np.degrees(0.25))


def test_lazy_equals_eager(runs):
    s = runs[0][0].inav[:, :, :2]
    lazy = s.as_lazy()
    assert isinstance(lazy, LazyOperando4DSTEM)
    a, b = s.analyse(), lazy.analyse()
    np.testing.assert_allclose(a._strain, b._strain, equal_nan=True)
    np.testing.assert_allclose(a.offsets, b.offsets)
    np.testing.assert_array_equal(a.product, b.product)
    v1 = s.get_virtual_image_series()
    v2 = lazy.get_virtual_image_series()
    assert v2["ADF"]._lazy
    np.testing.assert_allclose(v1["ADF"].data, v2["ADF"].data.compute())


def test_calibrate_from_camera_and_reflection():
    s, tr = simulate_operando_4dstem(
        n_time=2, scan_shape=(6, 20), pattern_size=48, calibrated=False
    )
    with pytest.raises(UnitError, match="calibrat"):
        s.analyse()
    c = s.calibrate(
        detector_pixel_size="55 um", camera_length=f"{tr['camera_length']} mm"
    )
    assert c.axes_manager.signal_axes[0].scale == pytest.approx(tr["kpix"], rel=1e-6)
    assert s.axes_manager.signal_axes[0].units == "px"  # input untouched
    # the emitter's (200) spots are the strongest: d = a / 2
    c2 = s.calibrate(d_spacing=f"{tr['lattice'] / 2 / 10} nm")
    assert c2.axes_manager.signal_axes[0].scale == pytest.approx(tr["kpix"], rel=0.01)
    with pytest.raises(UnitError):
        s.calibrate(camera_length="3 s", detector_pixel_size=55)


def test_bad_input_errors():
    s, _ = simulate_operando_4dstem(n_time=2, scan_shape=(4, 20), pattern_size=32)
    with pytest.raises(ValueError, match="single time step"):
        s.inav[:, :, :1].analyse()
    with pytest.raises(ValueError, match="three navigation axes"):
        s.inav[:, :, 0].get_virtual_image_series()
    bad = s.deepcopy()
    DeviceGeometry((0, 1), (400, 1), [80.0, 280.0]).to_metadata(bad.metadata)
    with pytest.raises(ValueError, match="outside the scan"):
        bad.analyse()
    scans = [s.inav[:, :, 0], s.inav[:, :, 1].isig[:30, :30]]
    with pytest.raises(ValueError, match="patterns of"):
        stack_scans(scans, [0, 1])
    with pytest.raises(ValueError, match="single time step"):
        stack_scans(scans[:1], [0])
    ok = stack_scans([s.inav[:, :, 0], s.inav[:, :, 1]], [0, 30])
    assert ok.axes_manager.navigation_axes[2].scale == 30


def test_registration():
    t = hs.signals.Signal2D(np.zeros((2, 3, 4, 16, 16)))
    t.set_signal_type("operando_4DSTEM")
    assert isinstance(t, Operando4DSTEM)
    assert isinstance(t.as_lazy(), LazyOperando4DSTEM)


def test_halide_from_an_edx_series_on_the_timeline():
    """An EDX halide signal on its own time axis (minutes) is put on the
    timeline's time axis (seconds) and drawn in its own panel."""
    s, _ = simulate_operando_4dstem(n_time=3, scan_shape=(6, 20), pattern_size=32)
    t_min = np.linspace(0, 1.5, 7)  # 0 to 90 s
    hal = hs.signals.Signal1D(0.2 + 0.1 * t_min)
    ax = hal.axes_manager.signal_axes[0]
    ax.scale, ax.units = t_min[1] - t_min[0], "min"
    hal.metadata.set_item("Signal.quantity", "Cl fraction at the Al contact")
    r = s.analyse(phases=(), halide=hal)
    tl = r.timeline
    np.testing.assert_allclose(tl["halide"], 0.2 + 0.1 * np.asarray(tl["time"]) / 60)
    assert tl.units["halide"] == "Cl fraction at the Al contact"
    fig = r.plot_timeline()
    assert len(fig.axes) >= 4
    bad = hs.signals.Signal1D(np.ones(5))
    with pytest.raises(Exception, match="units|unit"):
        s.analyse(phases=(), halide=bad)
