"""SAED movie simulator: ground truth consistency, lazy == eager, bad input."""

import numpy as np
import pytest

from hyperspy_perovskite.data.saed_simulation import simulate_saed_series

KW = dict(n_frames=8, size=64, scale=0.02, frame_interval=40.0)


def test_truth_consistent_with_frames():
    s, truth = simulate_saed_series(noise=False, background=0.0, **KW)
    # noise-free, no background: each frame holds exactly rings + halo
    total = s.data.sum(axis=(1, 2))
    want = truth["integrated"].sum(0) + truth["halo_integrated"]
    np.testing.assert_allclose(total, want, rtol=1e-5)
    assert truth["families"][:4] == ["001", "011", "111", "002"]
    fading = [f for f, x in zip(truth["families"], truth["fading"], strict=True) if x]
    assert fading == ["001", "002"]
    # fading families lose (1 - residual) of their intensity; the others stay
    i001 = truth["integrated"][0]
    assert i001[-1] / i001[0] == pytest.approx(
        truth["crystalline_fraction"][-1], rel=1e-12
    )
    assert np.ptp(truth["integrated"][2]) == 0  # (111) constant
    assert truth["halo_fraction"][0] == 0 and truth["halo_fraction"][-1] > 0.1
    assert truth["halo_d"] == pytest.approx(3.181, abs=1e-3)  # (002)


def test_metadata_axes_and_stimulus():
    s, truth = simulate_saed_series(**KW)
    t = s.axes_manager.navigation_axes[0]
    assert (t.units, t.scale, t.name) == ("s", 40.0, "time")
    kx = s.axes_manager.signal_axes[0]
    assert kx.units == "k_A^-1" and kx.scale == 0.02
    assert kx.value2index(0.0) == 32  # direct beam at the origin
    assert s.metadata.Acquisition_instrument.TEM.beam_energy == 300.0
    assert s.metadata.has_item("Stimulus.Record")
    assert s.metadata.Signal.signal_type == "insitu_SAED_series"


def test_lazy_equals_eager():
    s, _ = simulate_saed_series(**KW)
    sl, _ = simulate_saed_series(lazy=True, chunk_frames=3, **KW)
    assert sl._lazy and type(sl).__name__ == "LazyInSituSAEDSeries"
    assert sl.data.chunks[0] == (3, 3, 2)
    np.testing.assert_array_equal(sl.data.compute(), s.data)


def test_spots_added():
    s0, _ = simulate_saed_series(noise=False, **KW)
    s1, _ = simulate_saed_series(noise=False, spot_zone="100", spot_fraction=1.0, **KW)
    assert s1.data[0].max() > 1.5 * s0.data[0].max()


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(n_frames=3), "n_frames"),
        (dict(size=16), "size"),
        (dict(scale=0.0), "scale"),
        (dict(counts=-1.0), "counts"),
        (dict(avrami_n=0.5), "avrami_n"),
        (dict(residual=1.0), "residual"),
        (dict(fading=("100", "009")), "not an allowed"),
        (dict(phase="MAPbI3"), "atom sites"),
    ],
)
def test_bad_input(kw, match):
    args = {**KW, **kw}
    with pytest.raises(ValueError, match=match):
        simulate_saed_series(**args)
