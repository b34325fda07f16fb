"""Time-resolved EDX: frame alignment, composition per frame, frame times."""

import os

import hyperspy.api as hs
import numpy as np
import pytest
from scipy import ndimage

from hyperspy_perovskite.data.frame_simulation import simulate_eds_frames
from hyperspy_perovskite.results import ResultTable
from hyperspy_perovskite.signals._eds_frames import jeol_frame_period

DATA = os.path.join(os.path.dirname(__file__), "..", "data", "eds")


# three drift draws; the lazy route once (lazy == eager for align_frames is
# checked exactly in tests/test_lazy_eager.py)
@pytest.mark.parametrize("seed, lazy", [(0, False), (1, True), (2, False)])
def test_align_frames_recovers_drift_and_keeps_counts(seed, lazy):
    s, truth = simulate_eds_frames(n_frames=5, seed=seed)
    if lazy:
        s = s.as_lazy()
    a = s.align_frames()
    t = ResultTable.from_metadata(a.metadata, "Frame_shifts")
    np.testing.assert_array_equal(t["applied_y_px"], truth["shifts_px"][:, 0])
    np.testing.assert_array_equal(t["applied_x_px"], truth["shifts_px"][:, 1])
    # measured to a fraction of a pixel from sparse counts
    assert np.abs(t["shift_y_px"] - truth["shifts_px"][:, 0]).max() < 0.35
    assert np.abs(t["shift_x_px"] - truth["shifts_px"][:, 1]).max() < 0.35
    assert a._lazy == lazy
    if lazy:
        a.compute()
    # aligned frames: the same specimen pixel in every frame
    m = a.data.sum(-1).astype(float)
    r = [np.corrcoef(m[0].ravel(), f.ravel())[0, 1] for f in m[1:]]
    assert min(r) > 0.5
    # whole-pixel shifts: raw integer counts, nothing interpolated
    assert np.all(a.data == np.round(a.data))
    assert t.units["shift_x"] == "nm"
    np.testing.assert_allclose(
        t["shift_x"], truth["shifts_px"][:, 1] * 5.0, atol=0.35 * 5.0
    )


def test_composition_vs_frame_finds_onset_and_keeps_frames_before():
    s, truth = simulate_eds_frames(
        n_frames=8, onset=5, loss_per_frame=0.15, counts_per_pixel=60, seed=3
    )
    kf = truth["k_factors"]
    table = s.get_composition_vs_frame(kf, ["Cs_La", "Pb_La", "I_La"])
    assert "frame 5" in table.description
    np.testing.assert_array_equal(table["damaged"], np.arange(8) >= 5)
    # X/Pb follows the truth within its errors
    z = (table["X/Pb"] - truth["X_Pb"]) / table.std["X/Pb"]
    assert np.all(np.abs(z) < 4), z
    kept = s.get_frames_before_damage(kf, ["Cs_La", "Pb_La", "I_La"])
    assert kept.axes_manager.navigation_shape[-1] == 5
    np.testing.assert_allclose(s.get_frame_times()[:3], [0.0, 26.2, 52.4])
    # no damage: every frame kept
    s2, truth2 = simulate_eds_frames(n_frames=5, onset=None, seed=4)
    t2 = s2.get_composition_vs_frame(truth2["k_factors"], ["Cs_La", "Pb_La", "I_La"])
    assert not t2["damaged"].any() and "none" in t2.description


def test_frames_need_a_series():
    s, _ = simulate_eds_frames(n_frames=2, seed=0)
    one = s.inav[:, :, 0]
    with pytest.raises(ValueError, match="series of maps"):
        one.align_frames()


def test_real_jeol_frame_times_do_not_depend_on_downsample():
    f = os.path.join(DATA, "jeol", "rawdata.ASW")
    periods = []
    for ds in (16, 8):
        items = hs.load(
            f, sum_frames=False, downsample=ds, rebin_energy=64, cutoff_at_kV=20
        )
        eds = [x for x in items if x.metadata.Signal.signal_type == "EDS_TEM"][0]
        eds.set_signal_type("EDS_TEM_biased")
        periods.append(np.diff(eds.get_frame_times()))
    # 0.1 ms dwell x 512 x 512 pixels as acquired
    for p in periods:
        np.testing.assert_allclose(p, 0.1e-3 * 512 * 512)
    assert jeol_frame_period(eds.original_metadata) == pytest.approx(26.2144)


def test_real_jeol_frames_aligned():
    """The drift measured at two samplings agrees in nm; aligned frames
    correlate with the first at least as well as the raw frames."""
    f = os.path.join(DATA, "jeol", "rawdata.ASW")
    shifts = []
    for ds in (4, 2):
        items = hs.load(
            f, sum_frames=False, downsample=ds, rebin_energy=64, cutoff_at_kV=20
        )
        eds = [x for x in items if x.metadata.Signal.signal_type == "EDS_TEM"][0]
        eds.set_signal_type("EDS_TEM_biased")
        a = eds.align_frames(smooth=2.0 * 4 / ds)
        t = ResultTable.from_metadata(a.metadata, "Frame_shifts")
        assert len(t) == 14
        shifts.append(np.stack([t["shift_y"], t["shift_x"]], axis=1))
        if ds == 2:

            def corr(sig):  # later frames against the mean of the first three
                m = sig.data.sum(-1).astype(float)
                m = np.stack([ndimage.gaussian_filter(x, 2.0) for x in m])
                ref = m[:3].mean(0)
                c = [np.corrcoef(ref.ravel(), x.ravel())[0, 1] for x in m[3:]]
                return np.mean(c)

            assert corr(a) > corr(eds)
    # same drift (nm) within one coarse pixel (34.8 nm) at both samplings
    assert np.max(np.abs(shifts[0] - shifts[1])) <= 35.0
    assert np.max(np.abs(shifts[1])) > 0  # the specimen did drift


def _specimen(y, x, rng_blobs):
    """A HAADF-like specimen: Gaussian grains (2-4 px) at analytic positions,
    so any sub-pixel drift is evaluated exactly (no interpolation)."""
    cy, cx, w, h = rng_blobs
    img = np.zeros(np.broadcast(y, x).shape)
    for a, b, s, v in zip(cy, cx, w, h, strict=True):
        img += v * np.exp(-((y - a) ** 2 + (x - b) ** 2) / (2 * s**2))
    return img


@pytest.mark.parametrize("lazy", [False, True])
def test_align_frames_subpixel_from_haadf(lazy):
    """Sub-pixel drift (random, up to 3 px) measured from noisy HAADF frames
    to < 0.06 px, and applied bilinearly: the aligned count maps match the
    reference frame far better than whole-pixel alignment."""
    from hyperspy_perovskite.signals.eds_biased import EDSTEMBiasedSpectrum

    rng = np.random.default_rng(7)
    n, ny, nx, nch = 6, 48, 48, 4
    blobs = (
        rng.uniform(-8, 56, 90),
        rng.uniform(-8, 56, 90),
        rng.uniform(2, 4, 90),
        rng.uniform(0.5, 1.5, 90),
    )
    shifts = np.vstack([[0.0, 0.0], rng.uniform(-3, 3, (n - 1, 2))])
    y, x = np.mgrid[0:ny, 0:nx].astype(float)
    haadf = np.empty((n, ny, nx))
    counts = np.empty((n, ny, nx, nch))
    for f, (dy, dx) in enumerate(shifts):
        # aligned[y, x] = frame[y - dy, x - dx]: frame[y, x] = specimen[y + dy, x + dx]
        spec = _specimen(y + dy, x + dx, blobs)
        haadf[f] = rng.poisson(2000.0 * spec + 200.0)
        counts[f] = rng.poisson(50.0 * spec[..., None] + 5.0, (ny, nx, nch))
    s = EDSTEMBiasedSpectrum(counts)
    s.axes_manager[0].units = s.axes_manager[1].units = "nm"
    s.axes_manager[2].units, s.axes_manager[2].scale = "s", 10.0
    s.axes_manager[3].units, s.axes_manager[3].scale = "keV", 1.0
    h = hs.signals.Signal2D(haadf)
    if lazy:
        s = s.as_lazy()
    a = s.align_frames(haadf=h, interpolation="bilinear")
    t = ResultTable.from_metadata(a.metadata, "Frame_shifts")
    measured = np.column_stack([t["shift_y_px"], t["shift_x_px"]])
    assert np.abs(measured - shifts).max() < 0.06, measured - shifts
    np.testing.assert_allclose(
        np.column_stack([t["applied_y_px"], t["applied_x_px"]]), measured
    )
    assert a._lazy == lazy
    near = s.align_frames(haadf=h)  # whole pixels
    for al in (a, near):
        if al._lazy:
            al.compute()

    def similarity(al):
        maps = np.asarray(al.data, float).sum(axis=-1)
        ref = maps[0]
        return np.mean([np.corrcoef(ref.ravel(), m.ravel())[0, 1] for m in maps[1:]])

    # the sub-pixel aligned frames match the reference better
    assert similarity(a) > similarity(near)
