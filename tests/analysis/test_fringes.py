"""Windowed-FFT fringe power against analytical truth."""

import dask.array as da
import numpy as np
import pytest

from hyperspy_perovskite.analysis._fringe_fft import _power_scipy
from hyperspy_perovskite.analysis.fringes import (
    band_weights,
    fringe_power,
    fringe_power_frames,
    tile_origins,
)

#: the compiled tile kernel (one per frame dtype) is shared with test_fringe_spots.py:
#: one xdist worker runs them (pyproject: --dist loadgroup)
pytestmark = pytest.mark.xdist_group("fringe_kernels")


def _fringe(shape, px, d, amp, angle=0.3, phase=0.7, mean=0.0):
    y, x = np.mgrid[: shape[0], : shape[1]] * px
    return mean + amp * np.cos(
        2 * np.pi * (x * np.cos(angle) + y * np.sin(angle)) / d + phase
    )


@pytest.mark.parametrize("n", [64, 128, 200])
def test_power_is_fringe_variance(n):
    rng = np.random.default_rng(n)
    out = []
    for _ in range(8):
        d = rng.uniform(5.0, 8.0)
        img = _fringe((n, n), 1.2, d, 3.0, rng.uniform(0, np.pi), rng.uniform(0, 6))
        out.append(fringe_power(img[None], 1.2, [d])[0, 0, 0, 0, 0])
    # a**2 / 2 = 4.5; the annulus keeps about 94 % (at least 88 %) at 64 px
    assert np.min(out) > 0.88 * 4.5
    assert np.mean(out) > (0.92 if n == 64 else 0.97) * 4.5
    assert np.max(out) < 1.01 * 4.5


def test_background_subtraction_removes_shot_noise():
    rng = np.random.default_rng(1)
    lam = 50.0 + _fringe((256, 256), 1.5, 6.36, 5.0)
    frames = rng.poisson(np.broadcast_to(lam, (20, 256, 256))).astype(float)
    p = fringe_power(frames, 1.5, [6.36, 6.96], tolerance=0.01)[:, 0, 0, :, 0]
    # perovskite band: 12.5 within noise; PbI2 band: zero within noise
    assert abs(p[:, 0].mean() - 12.5) < 0.05 * 12.5
    assert abs(p[:, 1].mean()) < 4 * p[:, 1].std() / np.sqrt(20) + 0.05
    raw = fringe_power(frames, 1.5, [6.96], tolerance=0.01, background=False)[..., 0]
    # without background subtraction the noise floor shows
    assert raw.mean() > 10 * abs(p[:, 1].mean())
    # pure noise: zero on average
    noise = rng.poisson(50.0, (20, 256, 256)).astype(float)
    q = fringe_power(noise, 1.5, [6.36])[:, 0, 0, 0, 0]
    assert abs(q.mean()) < 4 * q.std() / np.sqrt(20)


def test_tiles_localise_fringes_and_lazy_equals_eager():
    img = np.zeros((128, 192))
    img[:64, :96] = _fringe((64, 96), 1.2, 6.36, 2.0)
    frames = np.stack([img, 0.5 * img, np.zeros_like(img)])
    eager = fringe_power(frames, 1.2, [6.36], window_shape=(32, 32))
    assert eager.shape == (3, 7, 11, 1, 2)
    lazy = fringe_power(
        da.from_array(frames, chunks=(1, 64, 64)), 1.2, [6.36], window_shape=(32, 32)
    )
    assert isinstance(lazy, da.Array)
    np.testing.assert_allclose(lazy.compute(), eager, rtol=1e-5, atol=1e-6)
    t0 = eager[0, :, :, 0, 0]
    assert t0[0, 0] > 1.5  # inside the fringe area (a**2/2 = 2)
    assert abs(t0[-1, -1]) < 1e-3  # outside
    np.testing.assert_allclose(
        eager[1, ..., 0], eager[0, ..., 0] / 4, rtol=1e-4, atol=1e-6
    )


def test_tile_origins_and_step():
    np.testing.assert_array_equal(tile_origins(100, 32, 16), [0, 16, 32, 48, 64])
    with pytest.raises(ValueError, match="larger than the frame"):
        tile_origins(16, 32, 16)
    p = fringe_power(np.zeros((1, 64, 64)), 1.0, [6.4], window_shape=(32, 32), step=32)
    assert p.shape == (1, 2, 2, 1, 2)


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        (((4, 4), 1.0, [6.0]), {}, "at least 8x8"),
        (((64, 64), 1.0, [-6.0]), {}, "positive"),
        (((64, 64), 1.0, [6.0]), {"tolerance": 0.7}, "tolerance"),
        (((64, 64), 0.0, [6.0]), {}, "pixel_size"),
        (((64, 64), 4.0, [6.0]), {}, "Nyquist"),
    ],
)
def test_band_weight_errors(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        band_weights(*args, **kwargs)


def test_overlapping_annuli_warn():
    with pytest.warns(UserWarning, match="overlaps the band"):
        band_weights((64, 64), 1.2, [6.36, 6.96])


def test_bad_shapes():
    with pytest.raises(ValueError, match=r"\(time, y, x\)"):
        fringe_power(np.zeros((64, 64)), 1.0, [6.0])
    with pytest.raises(ValueError, match="step"):
        fringe_power(np.zeros((1, 64, 64)), 1.0, [6.0], window_shape=(32, 32), step=0)


@pytest.mark.parametrize(
    "shape, tile, step, d",
    [
        ((256, 320), (64, 64), (32, 32), [6.36, 6.96]),  # odd number of tile rows
        ((200, 300), (32, 64), (16, 24), [6.36]),
        ((300, 200), (64, 32), (20, 16), [6.36, 8.0]),
        ((256, 256), (16, 16), (8, 8), [6.36]),
        ((256, 256), (32, 32), (32, 40), [6.36]),  # tiles apart along x
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint16])
@pytest.mark.filterwarnings("ignore:The band of d")
def test_compiled_tiles_match_scipy(shape, tile, step, d, dtype):
    """The compiled tile kernel agrees with the scipy.fft path."""
    rng = np.random.default_rng(shape[0] + tile[1])
    frames = 100 + _fringe(shape, 1.5, 6.36, 5.0) + rng.poisson(50, (3, *shape))
    frames = frames.astype(dtype)
    b = band_weights(tile, 1.5, d, background=False)
    W, win = b.weights, b.window
    oy = tile_origins(shape[0], tile[0], step[0])
    ox = tile_origins(shape[1], tile[1], step[1])
    got = fringe_power_frames(frames, oy, ox, win, W)
    ref = _power_scipy(
        frames, oy, ox, win.sum(axis=1), win.sum(axis=0) / win.sum(), W, 1
    )
    assert got.shape == (3, oy.size, ox.size, W.shape[1])
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-5 * np.abs(ref).max())


def test_windows_must_fit():
    b = band_weights((32, 32), 1.0, [6.4])
    with pytest.raises(ValueError, match="do not fit"):
        fringe_power_frames(np.zeros((1, 64, 64)), [0, 40], [0], b.window, b.weights)
