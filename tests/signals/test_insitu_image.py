"""InSituImageSeries against the simulated movie's ground truth."""

import warnings

import hyperspy.api as hs
import numpy as np
import pytest

from hyperspy_perovskite.components import CrystallinityJMAK
from hyperspy_perovskite.data.insitu_simulation import simulate_insitu_hrtem
from hyperspy_perovskite.signals.insitu_image import (
    InSituImageSeries,
    LazyInSituImageSeries,
)
from hyperspy_perovskite.stimulus import bias_switch_on_time, get_record
from hyperspy_perovskite.stimulus.plot import plot_with_stimulus
from hyperspy_perovskite.units import UnitError

PX = 1.5


@pytest.fixture(scope="module")
def movie(tmp_path_factory):
    csv = tmp_path_factory.mktemp("insitu") / "bias.csv"
    s, truth = simulate_insitu_hrtem(
        n_frames=31, frame_interval=10.0, shape=(256, 256), pixel_size=PX, csv_path=csv
    )
    return s, truth


def _rois(truth):
    return [g["roi"] for g in truth["grains"]]


def _own_traces(s, truth, lazy_output=None):
    """Each grain's fringe power at its own d-spacing."""
    out = []
    for g in truth["grains"]:
        out.append(s.fringe_intensity(g["d"], roi=g["roi"], lazy_output=lazy_output))
    return out


# ---------------------------------------------------------------- registration
def test_registration_and_lazy_twin():
    s = hs.signals.Signal2D(np.zeros((3, 16, 16)))
    s.set_signal_type("insitu_image_series")
    assert isinstance(s, InSituImageSeries)
    # the frame axis is named time but gets NO unit: never silently seconds
    assert s.axes_manager[0].name == "time"
    with pytest.raises(UnitError, match="no physical unit"):
        s.electron_dose(dose_rate=1.0)
    lz = s.as_lazy()
    assert isinstance(lz, LazyInSituImageSeries)
    s2 = hs.signals.Signal2D(np.zeros((3, 16, 16))).as_lazy()
    s2.set_signal_type("InSituImageSeries")
    assert isinstance(s2, LazyInSituImageSeries)
    # __init__ is idempotent and never overwrites an axis set by the user
    s.axes_manager[0].units = "ms"
    s._assign_subclass()
    assert s.axes_manager[0].units == "ms"


# ------------------------------------------------------------------- stimulus
def test_simulated_csv_attached_with_offset(movie):
    s, truth = movie
    rec = get_record(s)
    assert rec["source"] == "bias.csv"
    assert rec["time_offset"] == pytest.approx(truth["time_offset"])
    st = s.stimulus
    bias = st["Bias_setpoint"]
    assert bias.axes_manager[0].scale == 10.0
    np.testing.assert_array_equal(bias.data, (truth["times"] >= 50.0) * 1.0)
    assert st["Current"].data[-1] == pytest.approx(2e-6, abs=3e-7)
    assert bias_switch_on_time(s) == pytest.approx(truth["bias_on"])


# ------------------------------------------------------------ fringe tracking
def test_which_grains_amorphize(movie):
    s, truth = movie
    for g, tr in zip(truth["grains"], _own_traces(s, truth), strict=True):
        assert tr.axes_manager[0].name == "time"
        p = tr.data
        ratio = p[-5:].mean() / p[:5].mean()
        if g["amorphizes"]:
            assert ratio < 0.05, g["name"]
        else:
            assert 0.85 < ratio < 1.15, g["name"]
        # absolute scale: (c * counts)**2 / 2 for a filled window (99 % kept
        # without noise); the shot-noise cross term scatters frames by ~8 %
        assert (
            0.85 * truth["fringe_power"] < p[:5].mean() < 1.15 * truth["fringe_power"]
        )


def test_fringe_power_follows_truth(movie):
    s, truth = movie
    tr = _own_traces(s, truth)[0]
    p = tr.data / tr.data[:5].mean()
    expected = truth["crystalline_fraction"][0] ** 2
    noise = np.std(p[:5])
    assert np.max(np.abs(p - expected)) < 4 * max(noise, 0.03)


def test_kinetics_fit_recovers_onset_rate_and_exponent(movie):
    from hyperspy_perovskite.fitting import fast_multifit

    s, truth = movie
    tr = _own_traces(s, truth)[0]
    m = tr.create_model()
    c = CrystallinityJMAK(A=float(tr.data[:5].mean()), k=0.01, n=1.5, t0=55.0)
    m.append(c)
    res = fast_multifit(m)
    assert int(res.convergence.data.ravel()[0]) == 0
    for name, true in (
        ("t0", truth["onset"]),
        ("k", truth["power_rate"]),
        ("n", truth["exponent"]),
    ):
        par = getattr(c, name)
        assert par.std < 0.3 * true  # a meaningful uncertainty, not a failed fit
        assert abs(par.value - true) < 3 * par.std, (name, par.value, par.std, true)
    # onset reported against the bias switch-on read from the stimulus record
    delay = c.t0.value - bias_switch_on_time(tr)
    assert abs(delay - (truth["onset"] - truth["bias_on"])) < 3 * c.t0.std


@pytest.fixture(scope="module")
def corrected(movie):
    s, truth = movie
    shifts = hs.signals.Signal1D(-truth["drift"].T * PX)  # the true correction
    return s.correct_drift(shifts)


def test_fit_kinetics_reads_bias_switch_on_from_trace(movie):
    from hyperspy_perovskite.signals.kinetics import fit_kinetics

    s, truth = movie
    tr = _own_traces(s, truth)[0]
    r = fit_kinetics(tr)
    assert r.bias_on == pytest.approx(truth["bias_on"])
    delay = truth["onset"] - truth["bias_on"]
    assert float(r.onset_std) < 20
    assert abs(float(r.onset_after_bias) - delay) < 3 * float(r.onset_std)


def test_several_d_spacings_whole_frame(corrected, movie):
    # drift-corrected first: the whole-frame Hann window weights an off-centre
    # grain by w**2, which drift would change
    s, truth = movie
    f = corrected.fringe_intensity([6.36, 6.96], tolerance=0.01)
    assert f.data.shape == (2, 31)
    assert f.axes_manager.navigation_axes[0].name == "d-spacing"
    perov, pbi2 = f.data / f.data[:, :5].mean(axis=1, keepdims=True)
    # one of the two perovskite grains amorphizes; the whole-frame Hann window
    # weights each grain's power by w**2 over its area
    w2 = np.outer(np.hanning(256), np.hanning(256)) ** 2
    yy, xx = np.mgrid[:256, :256]

    def weight(g):
        cy, cx = g["centre"]
        return w2[(yy - cy) ** 2 + (xx - cx) ** 2 <= g["radius"] ** 2].sum()

    g_b, g_a = truth["grains"][0], truth["grains"][2]
    expected = weight(g_a) / (weight(g_a) + weight(g_b))
    # (plus ~2 % of edge-broadened PbI2 power leaking into the annulus)
    assert abs(perov[-5:].mean() - expected) < 0.06
    assert 0.9 < pbi2[-5:].mean() < 1.1


def test_several_rois_shape_and_axes(movie):
    s, truth = movie
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 64-px ROIs do not separate the two
        f = s.fringe_intensity([6.36, 6.96], roi=_rois(truth))
    assert f.data.shape == (3, 2, 31)
    names = [ax.name for ax in f.axes_manager.navigation_axes]
    assert names == ["d-spacing", "ROI"]
    np.testing.assert_allclose(f.axes_manager["d-spacing"].axis, [6.36, 6.96])
    assert f.metadata.Fringe_tracking.pixel_size == PX


def test_tiles_crystallinity_map(movie):
    s, truth = movie
    t = s.fringe_intensity(6.36, tile_size=64)
    assert t.axes_manager.signal_shape == (7, 7)
    assert t.axes_manager.navigation_shape == (31,)
    ax_x = t.axes_manager.signal_axes[0]
    assert ax_x.scale == 32 * PX and ax_x.offset == pytest.approx(31.5 * PX)
    g_b, g_a = truth["grains"][0], truth["grains"][2]

    def tile_at(g):
        cy, cx = g["centre"]
        return int(round((cy - 31.5) / 32)), int(round((cx - 31.5) / 32))

    yb, xb = tile_at(g_b)
    ya, xa = tile_at(g_a)
    first, last = t.data[:5].mean(0), t.data[-5:].mean(0)
    assert last[yb, xb] < 0.1 * first[yb, xb]
    assert 0.7 < last[ya, xa] / first[ya, xa] < 1.3


@pytest.mark.parametrize("mode", ["roi", "tiles"])
def test_lazy_equals_eager(movie, mode):
    s, truth = movie
    kw = {"roi": truth["grains"][0]["roi"]} if mode == "roi" else {"tile_size": 64}
    eager = s.fringe_intensity(6.36, **kw)
    lz = s.as_lazy()
    lz.data = lz.data.rechunk((7, -1, -1))
    lazy = lz.fringe_intensity(6.36, **kw)
    assert lazy._lazy
    lazy.compute()
    np.testing.assert_allclose(lazy.data, eager.data, rtol=1e-5, atol=1e-5)
    assert s.fringe_intensity(6.36, lazy_output=True, **kw)._lazy


def test_lazy_output_of_eager_data_keeps_its_frames(movie):
    """A lazy result of eager data is not changed by later edits of the data
    (the eager result, computed at once, reads the frames without a copy)."""
    s, _ = movie
    s = s.deepcopy()
    eager = s.fringe_intensity(6.36, tile_size=64)
    lazy = s.fringe_intensity(6.36, tile_size=64, lazy_output=True)
    s.data[:] = 0.0
    lazy.compute()
    np.testing.assert_allclose(lazy.data, eager.data, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("ext", ["hspy", "zspy"])
def test_fringe_result_survives_save_load(movie, tmp_path, ext):
    s, truth = movie
    f = s.fringe_intensity([6.36, 6.96], tolerance=0.01)
    f.save(tmp_path / f"f.{ext}")
    r = hs.load(tmp_path / f"f.{ext}")
    np.testing.assert_allclose(r.data, f.data)
    np.testing.assert_allclose(r.metadata.Fringe_tracking.d_spacings, [6.36, 6.96])
    assert bias_switch_on_time(r) == pytest.approx(truth["bias_on"])
    np.testing.assert_allclose(r.axes_manager["d-spacing"].axis, [6.36, 6.96])


def test_plot_with_stimulus(movie):
    s, truth = movie
    f = s.fringe_intensity([6.36, 6.96], tolerance=0.01)
    ax, ax2 = plot_with_stimulus(f, channels=["Bias_setpoint"], normalize=True)
    assert len(ax.lines) == 2 and len(ax2.lines) == 1
    assert ax2.get_ylabel() == "Bias_setpoint (V)"
    np.testing.assert_allclose(
        ax2.lines[0].get_ydata(), s.stimulus["Bias_setpoint"].data
    )
    with pytest.raises(ValueError, match="No stimulus channels"):
        plot_with_stimulus(f, channels=["Heater"])
    with pytest.raises(ValueError, match="not its time axis"):
        plot_with_stimulus(f.T)
    with pytest.raises(ValueError, match="labels"):
        plot_with_stimulus(f, labels=["a"])


def test_fringe_errors(movie):
    s, truth = movie
    with pytest.raises(ValueError, match="either roi or tile_size"):
        s.fringe_intensity(6.36, roi=truth["grains"][0]["roi"], tile_size=64)
    with pytest.raises(ValueError, match="tile_size must be an integer"):
        s.fringe_intensity(6.36, tile_size=4)
    with pytest.raises(ValueError, match="outside the image"):
        s.fringe_intensity(6.36, roi=(0, 50, 1e4, 2e4))
    with pytest.raises(ValueError, match="smaller than 8 x 8"):
        s.fringe_intensity(6.36, roi=(0, 3, 0, 3))
    with pytest.raises(TypeError, match="RectangularROI"):
        s.fringe_intensity(6.36, roi="grain")
    with pytest.raises(ValueError, match="positive"):
        s.fringe_intensity(-1.0)
    bare = hs.signals.Signal2D(np.zeros((3, 32, 32)))
    bare.set_signal_type("insitu_image_series")
    bare.axes_manager[0].units = "s"
    with pytest.raises(UnitError, match="pixel size has no physical unit"):
        bare.fringe_intensity(6.36)
    with pytest.raises(UnitError, match="d_spacing"):
        s.fringe_intensity("6.36 s")
    multi = hs.signals.Signal2D(np.zeros((2, 3, 32, 32)))
    multi.set_signal_type("insitu_image_series")
    with pytest.raises(ValueError, match="exactly one navigation axis"):
        multi.fringe_intensity(6.36)


# --------------------------------------------------------------------- drift
@pytest.mark.parametrize("lazy", [False, True])
def test_drift_recovered_and_corrected(movie, lazy):
    s, truth = movie
    sub = s.inav[::3]  # 11 frames keep the test short
    src = sub.as_lazy() if lazy else sub
    sh = src.estimate_drift(sigma=1.5)
    assert sh._lazy == lazy
    if lazy:
        sh.compute()
    assert sh.data.shape == (2, 11)
    assert sh.axes_manager.signal_axes[0].name == "time"
    assert sh.axes_manager.signal_axes[0].scale == 30.0
    # a feature drifting by +d needs a shift of -d (calibrated units)
    np.testing.assert_allclose(sh.data.T, -truth["drift"][::3] * PX, atol=0.3 * PX)
    c = src.correct_drift(sh)
    assert c._lazy == lazy
    assert isinstance(c, InSituImageSeries)
    if lazy:
        c.compute()
    np.testing.assert_allclose(
        c.metadata.Processing.Drift_correction.shifts, sh.data.T / PX
    )
    resid = c.estimate_drift(sigma=1.5).data
    assert np.abs(resid).max() < 0.3 * PX
    assert not s.metadata.has_item("Processing.Drift_correction")  # input untouched


def test_drift_inplace_and_errors(movie):
    s, truth = movie
    small = s.inav[:4].deepcopy()
    sh = small.estimate_drift(sigma=1.5, roi=truth["grains"][2]["roi"])
    before = small.data.copy()
    assert small.correct_drift(sh, inplace=True) is None
    assert not np.allclose(small.data, before)
    with pytest.raises(ValueError, match="cannot be combined"):
        small.correct_drift(sh, inplace=True, lazy_output=True)
    with pytest.raises(ValueError, match="returned by estimate_drift"):
        small.correct_drift(sh.isig[:2])
    with pytest.raises(ValueError, match="out of range"):
        small.estimate_drift(reference=10)
    with pytest.raises(TypeError, match="Unexpected arguments"):
        small.correct_drift(sh, sigma=2)


# ---------------------------------------------------------------------- dose
def test_electron_dose_from_metadata_and_flags(movie):
    s, truth = movie
    # metadata.Stimulus.Dose.dose_rate = 200 e/A^2/s; continuous acquisition
    d = s.electron_dose()
    np.testing.assert_allclose(d.data, 200.0 * 10.0 * np.arange(1, 32))
    d = s.electron_dose(exposure=0.04, cumulative=False)
    np.testing.assert_allclose(d.data, truth["dose_per_frame"])
    profile = np.zeros((256, 256))
    profile[:, 128:] = 1.0  # beam on region A only; region B biased, no beam
    regions = {"A": truth["grains"][2]["roi"], "B": truth["grains"][0]["roi"]}
    with pytest.warns(UserWarning, match="Region 'A' passes the critical dose"):
        d = s.electron_dose(
            exposure=0.04, regions=regions, beam_profile=profile, material="MAPbI3"
        )
    assert d.data.shape == (2, 31)
    np.testing.assert_allclose(d.data[1], 0.0)
    reg = d.metadata.Dose.Regions
    assert reg.A.exceeded and not reg.B.exceeded
    # 8 e/A^2 per frame: 10.5 is passed at the second frame (16 e/A^2)
    assert reg.A.critical_frame == 1 and reg.A.critical_time == 10.0
    assert "Chen" in d.metadata.Dose.critical_dose_source


def test_electron_dose_from_beam_current():
    s = hs.signals.Signal2D(np.zeros((3, 100, 100)))
    s.set_signal_type("insitu_image_series")
    for ax in s.axes_manager.signal_axes:
        ax.scale, ax.units = 0.1, "nm"
    s.axes_manager[0].scale, s.axes_manager[0].units = 2.0, "s"
    np.testing.assert_allclose(
        s.electron_dose(beam_current="1 pA").data,
        s.electron_dose(beam_current=1e-12).data,
    )
    d = s.electron_dose(beam_current=1e-12)  # 1 pA over 100 A x 100 A, 2 s frames
    rate = 1e-12 / 1.602176634e-19 / 1e4
    np.testing.assert_allclose(d.data, rate * 2.0 * np.arange(1, 4))
    s.metadata.set_item("Acquisition_instrument.TEM.beam_current", 0.001)  # nA
    np.testing.assert_allclose(s.electron_dose().data, d.data)


def test_electron_dose_from_record_channel():
    s = hs.signals.Signal2D(np.zeros((4, 16, 16)))
    s.set_signal_type("insitu_image_series")
    s.axes_manager[0].units = "s"
    for ax in s.axes_manager.signal_axes:
        ax.units = "A"
    t = np.arange(4.0)
    s = s.attach_stimulus(
        {"time": t, "Dose rate": ([10.0, 10.0, 0.0, 20.0], "e/A^2/s")},
        interpolation="hold",
    )
    np.testing.assert_allclose(s.electron_dose().data, [10, 20, 20, 40])


def test_electron_dose_errors(movie):
    s, truth = movie
    bare = hs.signals.Signal2D(np.zeros((3, 16, 16)))
    bare.set_signal_type("insitu_image_series")
    bare.axes_manager[0].units = "s"
    for ax in bare.axes_manager.signal_axes:
        ax.units = "nm"
    with pytest.raises(ValueError, match="No dose rate"):
        bare.electron_dose()
    with pytest.raises(ValueError, match="either dose_rate"):
        s.electron_dose(dose_rate=1.0, beam_current=1e-9)
    with pytest.raises(ValueError, match="beam_profile must have the frame shape"):
        s.electron_dose(beam_profile=np.ones((3, 3)))
    with pytest.raises(ValueError, match="either critical_dose or material"):
        s.electron_dose(critical_dose=1.0, material="MAPbI3")
    with pytest.raises(ValueError, match="No sourced critical dose"):
        s.electron_dose(material="graphene")
    with pytest.raises(TypeError, match="non-empty dict"):
        s.electron_dose(regions=[truth["grains"][0]["roi"]])
    with pytest.raises(ValueError, match="is empty"):
        s.electron_dose(regions={"x": np.zeros((256, 256), bool)})


# ------------------------------------------------------------------- regions
def test_compare_regions_biased_vs_control(movie):
    s, truth = movie
    r = s.compare_regions(truth["grains"][2]["roi"], truth["grains"][0]["roi"], 6.36)
    assert r["significant"] and r["changed_b"] and not r["changed_a"]
    assert r["change_b"] < -0.9
    assert r["traces"].data.shape == (2, 31)
    # two unbiased grains: no significant difference
    r = s.compare_regions(truth["grains"][2]["roi"], truth["grains"][1]["roi"], 6.96)
    assert not r["changed_b"]
    with pytest.raises(ValueError, match="one d_spacing"):
        s.compare_regions(truth["grains"][2]["roi"], truth["grains"][0]["roi"], [6.36])


# --------------------------------------------------------------- distributed
def test_fringe_tracking_on_localcluster(movie):
    from dask.distributed import Client, LocalCluster

    s, truth = movie
    eager = s.fringe_intensity(6.36, tile_size=64)
    lz = s.as_lazy()
    lz.data = lz.data.rechunk((8, -1, -1))
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster),
    ):
        out = lz.fringe_intensity(6.36, tile_size=64)
        out.compute()
    np.testing.assert_allclose(out.data, eager.data, rtol=1e-5, atol=1e-5)
