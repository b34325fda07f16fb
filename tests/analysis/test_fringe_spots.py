"""Strongest spot per tile: two phases of close d-spacing (perovskite (001),
6.36 A, and PbI2 (001), 6.96 A) in grains of different orientation, simulated
here (cosine fringes on Poisson counts) independently of the package."""

import hyperspy.api as hs
import numpy as np
import pytest

from hyperspy_perovskite.analysis.fringe_spots import sector_directions, strongest_spot

PX, D_PVK, D_PBI2 = 0.5, 6.36, 6.96

#: the compiled tile kernel (one per frame dtype) is shared with test_fringes.py: one
#: xdist worker runs them (pyproject: --dist loadgroup)
pytestmark = pytest.mark.xdist_group("fringe_kernels")


def _movie(n_frames=4, seed=0, amp=10.0, mean=100.0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:256, :512] * PX
    img = np.full(y.shape, mean)
    for d, ang, side in ((D_PVK, 30.0, x < 128), (D_PBI2, 100.0, x >= 128)):
        a = np.radians(ang)  # direction of g, from x towards +y
        img += side * amp * np.cos(2 * np.pi * (x * np.cos(a) + y * np.sin(a)) / d)
    s = hs.signals.Signal2D(
        rng.poisson(img, (n_frames,) + img.shape).astype(np.float32)
    )
    s.set_signal_type("insitu_image_series")
    s.axes_manager[0].units = "s"
    for ax in s.axes_manager.signal_axes:
        ax.units, ax.scale = "A", PX
    return s, amp**2 / 2


def test_auto_direction_separates_close_phases():
    s, truth = _movie()
    kw = dict(tile_size=128, step=128)
    with pytest.warns(UserWarning, match="overlaps"):  # full annuli at 128 px
        full = s.fringe_intensity([D_PVK, D_PBI2], **kw).data.mean(axis=1)
    auto = s.fringe_intensity([D_PVK, D_PBI2], direction="auto", **kw)
    p = auto.data.mean(axis=1)  # (band, tile row, tile column)
    # perovskite tiles: columns 0-1 (x < 128 A); PbI2 tiles: columns 2-3
    pvk_in_pvk, pvk_in_pbi2 = p[0][:, :2].mean(), p[0][:, 2:].mean()
    pbi2_in_pbi2, pbi2_in_pvk = p[1][:, 2:].mean(), p[1][:, :2].mean()
    assert pvk_in_pvk == pytest.approx(truth, rel=0.15)
    assert pbi2_in_pbi2 == pytest.approx(truth, rel=0.15)
    # crosstalk: a full annulus takes the other phase's radial leakage
    assert full[0][:, 2:].mean() / truth > 0.2
    assert pvk_in_pbi2 / truth < 0.05 and pbi2_in_pvk / truth < 0.05
    # spot directions within a sector half-width of the truth
    ang = auto.metadata.Fringe_tracking.spot_direction.data
    np.testing.assert_allclose(ang[0][:, :2], 30.0, atol=15.0)
    np.testing.assert_allclose(ang[1][:, 2:], 100.0, atol=15.0)
    from hyperspy_perovskite.validity import Validity

    v = Validity.from_metadata(auto.metadata.Fringe_tracking)
    assert v.mask[0][:, :2].all() and v.mask[1][:, 2:].all()
    # lazy gives the same
    lazy = s.as_lazy().fringe_intensity([D_PVK, D_PBI2], direction="auto", **kw)
    np.testing.assert_allclose(np.asarray(lazy.data), auto.data, rtol=1e-5)
    # with the validity of the spot choice, lazy until computed with the power
    from hyperspy_perovskite.validity import compute_validity

    assert Validity.from_metadata(lazy.metadata.Fringe_tracking).lazy
    compute_validity(lazy, show_progressbar=False)
    lv = Validity.from_metadata(lazy.metadata.Fringe_tracking)
    assert not lv.lazy
    np.testing.assert_array_equal(lv.mask, v.mask)


def test_strongest_spot_without_own_sector_least_dominated():
    p = np.zeros((3, 1, 1, 4, 2))
    p[..., 1] = 1.0
    p[:, 0, 0, 2:, 0] = [30.0, 5.0]  # band 1 strongest in both directions
    p[:, 0, 0, :2, 0] = [20.0, 2.0]  # band 0 leaks into sector 0 mostly
    power, sector, sig = strongest_spot(p, 2)
    assert sector[0, 0].tolist() == [1, 0] and power[0, 0, 0, 0, 0] == 2.0
    assert sig[0, 0].tolist() == [False, True]
    assert sector_directions(45.0).tolist() == [0.0, 45.0, 90.0, 135.0]
    with pytest.raises(ValueError, match="angular_width"):
        sector_directions(0.0)
