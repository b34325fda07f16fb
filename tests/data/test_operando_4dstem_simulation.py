"""The operando 4D-STEM simulator: shapes, lazy == eager, physics of the truth."""

import numpy as np
import pytest

from hyperspy_perovskite.crystallography import (
    electron_wavelength,
    reciprocal_pixel_size,
)
from hyperspy_perovskite.data.operando_4dstem_simulation import (
    A_EMITTER,
    simulate_operando_4dstem,
    strain_field,
)
from hyperspy_perovskite.metadata import DeviceGeometry


@pytest.fixture(scope="module")
def small():
    return simulate_operando_4dstem(
        n_time=3, scan_shape=(6, 20), pattern_size=48, seed=2
    )


def test_shapes_axes_metadata(small):
    s, tr = small
    assert s.data.shape == (3, 6, 20, 48, 48) and s.data.dtype == np.uint16
    ax_x, ax_y, ax_t = s.axes_manager.navigation_axes
    assert (ax_t.units, ax_x.units, ax_y.units) == ("s", "nm", "nm")
    assert s.axes_manager.signal_axes[0].units == "k_A^-1"
    g = DeviceGeometry.from_signal(s)
    assert g.interface_names == list(tr["interfaces"])
    assert s.metadata.Stimulus.Bias_condition.mode == "galvanostatic"
    assert tr["strain"].shape == (4, 3, 6, 20)


def test_lazy_equals_eager(small):
    s, _ = small
    lazy, _ = simulate_operando_4dstem(
        n_time=3,
        scan_shape=(6, 20),
        pattern_size=48,
        seed=2,
        lazy=True,
        chunks=(2, 4, 7),
    )
    assert lazy._lazy
    np.testing.assert_array_equal(lazy.data.compute(), s.data)


def test_camera_length_consistent_with_calibration(small):
    s, tr = small
    md = s.metadata.Acquisition_instrument.TEM
    # the package's own camera formula, with its own CODATA wavelength
    k = reciprocal_pixel_size(55.0, md.camera_length, md.beam_energy)
    assert k == pytest.approx(tr["kpix"], rel=1e-6)
    assert tr["wavelength"] == pytest.approx(electron_wavelength(300.0), rel=1e-9)


def test_spots_where_the_lattice_puts_them(small):
    """The (200) spots of the unstrained emitter lie at 2 / a from the beam."""
    s, tr = small
    k = s.axes_manager.signal_shape[0]
    bulk = tr["emitter"][0] & (tr["strain"][0, 0] == 0)
    mean = s.data[0][bulk].mean(axis=0)
    r200 = 2.0 / A_EMITTER / tr["kpix"]
    yy, xx = np.indices(mean.shape)
    c = np.mean(tr["centre"][0][bulk], axis=0)
    for ang in (0, 90, 180, 270):
        px = c[0] + r200 * np.cos(np.radians(ang))
        py = c[1] + r200 * np.sin(np.radians(ang))
        win = (np.abs(xx - px) <= 3) & (np.abs(yy - py) <= 3)
        w = mean * win - np.median(mean)
        w = np.clip(w, 0, None)
        cx, cy = (w * xx).sum() / w.sum(), (w * yy).sum() / w.sum()
        assert np.hypot(cx - px, cy - py) < 0.15, (ang, cx, cy, px, py)
    assert 0 < r200 < k / 2


def test_strain_step_grows_after_bias():
    x = np.array([20.0, 26.0])
    e0 = strain_field(x, 0.0, 40.0, 45.0, 60.0)
    e1 = strain_field(x, 300.0, 40.0, 45.0, 60.0)
    assert e0[0, 0] == 0 and e1[0, 0] == 0
    assert e0[0, 1] == pytest.approx(0.006)
    assert e1[0, 1] == pytest.approx(0.006 + 0.012 * (1 - np.exp(-255 / 60)))


def test_pb_appears_only_after_onset():
    s, tr = simulate_operando_4dstem(
        n_time=6, scan_shape=(9, 20), pattern_size=32, seed=1
    )
    first = tr["times"][tr["pb"].any(axis=(1, 2))]
    assert first.size and first[0] >= tr["pb_onset"]
    assert not tr["pb"][tr["times"] < tr["pb_onset"]].any()


def test_bad_arguments():
    with pytest.raises(ValueError, match="pattern_size"):
        simulate_operando_4dstem(pattern_size=8)
