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


@pytest.mark.parametrize("lazy", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_align_frames_recovers_drift_and_keeps_counts(seed, lazy):
    s, truth = simulate_eds_frames(n_frames=5, seed=seed)
    if lazy:
        s = s.as_lazy()
    a = s.align_frames()
    t = ResultTable.from_metadata(a.metadata, "Frame_shifts")
    np.testing.assert_array_equal(t["shift_y_px"], truth["shifts_px"][:, 0])
    np.testing.assert_array_equal(t["shift_x_px"], truth["shifts_px"][:, 1])
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
    np.testing.assert_allclose(t["shift_x"], truth["shifts_px"][:, 1] * 5.0)


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
