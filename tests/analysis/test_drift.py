"""Sub-pixel drift estimation and Fourier-shift correction."""

import dask.array as da
import numpy as np
import pytest
import scipy.ndimage

from hyperspy_perovskite.analysis.drift import apply_shifts, estimate_shifts


def _moving_frames(n=6, size=96, seed=0):
    rng = np.random.default_rng(seed)
    big = scipy.ndimage.gaussian_filter(rng.standard_normal((size + 40, size + 40)), 2)
    truth = np.cumsum(rng.uniform(-1.2, 1.2, (n, 2)), axis=0)
    truth[0] = 0
    frames = np.stack(
        [
            scipy.ndimage.shift(big, d, order=3, mode="nearest")[20:-20, 20:-20]
            for d in truth
        ]
    )
    return frames, truth


@pytest.mark.parametrize("lazy", [False, True])
def test_recovers_subpixel_drift(lazy):
    frames, truth = _moving_frames()
    data = da.from_array(frames, chunks=(2, -1, -1)) if lazy else frames
    sh = estimate_shifts(data, frames[0], upsample=20)
    if lazy:
        assert isinstance(sh, da.Array)
        sh = sh.compute()
    np.testing.assert_allclose(sh, -truth, atol=0.06)


def test_apply_shifts_registers_and_keeps_fringe_amplitude():
    # odd size: no Nyquist component, so the round trip is exact
    y, x = np.mgrid[:63, :63]
    img = np.cos(2 * np.pi * x / 4.3) + np.cos(2 * np.pi * y / 5.1)
    F = np.fft.fft2(img)
    moved = np.fft.ifft2(scipy.ndimage.fourier_shift(F, (0.37, -1.61))).real
    back = apply_shifts(moved[None], np.array([[-0.37, 1.61]]))[0]
    np.testing.assert_allclose(back, img, atol=1e-10)
    assert np.std(moved) == pytest.approx(np.std(img))
    lazy = apply_shifts(
        da.from_array(np.stack([moved, moved]), chunks=(1, -1, -1)),
        np.array([[-0.37, 1.61], [0.0, 0.0]]),
    )
    np.testing.assert_allclose(lazy.compute()[0], img, atol=1e-10)


def test_errors():
    frames, _ = _moving_frames(2)
    with pytest.raises(ValueError, match="reference frame has shape"):
        estimate_shifts(frames, frames[0, :10])
    with pytest.raises(ValueError, match="upsample"):
        estimate_shifts(frames, frames[0], upsample=0)
    with pytest.raises(ValueError, match=r"\(time, y, x\)"):
        estimate_shifts(frames[0], frames[0])
    with pytest.raises(ValueError, match="shifts must have shape"):
        apply_shifts(frames, np.zeros((3, 2)))
