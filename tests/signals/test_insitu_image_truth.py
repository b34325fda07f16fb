"""InSituImageSeries on movies simulated here, independently of the suite.

The simulator below is written for these tests only (it shares no code with
``hyperspy_perovskite.data``): an amorphous film is a Gaussian random field
whose power spectrum has a low-frequency tail and a hump at 1/3.4 A (the
first amorphous ring of a halide glass), crystalline grains are sums of
cosines with the perovskite (001) spacing 6.36 A and PbI2 (001) spacing
6.96 A in different orientations, and the counts are Poisson.
"""

import warnings

import hyperspy.api as hs
import numpy as np
import pytest

from hyperspy_perovskite.units import UnitError

D_PVK, D_PBI2 = 6.36, 6.96


def _amorphous(n, px, rng, std=6.0):
    ky = np.fft.fftfreq(n, px)[:, None]
    kx = np.fft.fftfreq(n, px)[None, :]
    k = np.hypot(ky, kx)
    spectrum = np.exp(-(((k - 1 / 3.4) / 0.08) ** 2)) + 2e-4 / (k**2 + 1e-4)
    field = np.fft.ifft2(np.fft.fft2(rng.normal(size=(n, n))) * np.sqrt(spectrum)).real
    return field / field.std() * std


def _fringe(n, px, d, amp, angle_deg, rng):
    y, x = np.mgrid[:n, :n] * px
    a = np.radians(angle_deg)
    phase = rng.uniform(0, 2 * np.pi)
    return amp * np.cos(2 * np.pi * (x * np.cos(a) + y * np.sin(a)) / d + phase)


def _movie(px, n=256, frames=3, seed=0, amp=4.0, mean=120.0):
    """Left half: perovskite at 30 deg; right half: PbI2 at 100 deg; a
    256-px amorphous band at the bottom. Returns the series and the masks."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(frames):
        img = mean + _amorphous(n, px, rng)
        pvk = _fringe(n, px, D_PVK, amp, 30.0, rng)
        pbi = _fringe(n, px, D_PBI2, amp, 100.0, rng)
        img[: n // 2, : n // 2] += pvk[: n // 2, : n // 2]
        img[: n // 2, n // 2 :] += pbi[: n // 2, n // 2 :]
        out.append(rng.poisson(np.clip(img, 0, None)))
    s = hs.signals.Signal2D(np.stack(out).astype(np.float32))
    s.set_signal_type("insitu_image_series")
    s.axes_manager[0].units, s.axes_manager[0].scale = "s", 0.04
    for ax in s.axes_manager.signal_axes:
        ax.units, ax.scale = "nm", px / 10
    return s


@pytest.mark.parametrize("px, tile", [(0.5, 128), (1.5, 64)])
def test_tiles_unbiased_and_orientations_separated(px, tile):
    s = _movie(px)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the bands overlap without directions
        m = s.fringe_intensity(
            [D_PVK, D_PBI2], tile_size=tile, step=tile, direction=[30, 100]
        )
        iso = s.fringe_intensity([D_PVK, D_PBI2], tile_size=tile, step=tile)
    p = m.data  # (band, t, ny, nx)
    sd = np.sqrt(m.metadata.Signal.Noise_properties.variance.data)
    ny = p.shape[2]
    amorph = p[:, :, ny // 2 :]
    z = amorph / sd[:, :, ny // 2 :]
    # amorphous tiles: zero within their std (no negative bias)
    assert abs(z.mean()) < 0.35 and 0.6 < z.std() < 1.4
    truth = 4.0**2 / 2
    pvk_tiles = p[0, :, : ny // 2, : p.shape[3] // 2]
    pbi_tiles = p[1, :, : ny // 2, p.shape[3] // 2 :]
    assert abs(pvk_tiles.mean() / truth - 1) < 0.1
    assert abs(pbi_tiles.mean() / truth - 1) < 0.1
    # crosstalk of the other phase into each band below 5 %
    cross_a = p[1, :, : ny // 2, : p.shape[3] // 2].mean() / pvk_tiles.mean()
    cross_b = p[0, :, : ny // 2, p.shape[3] // 2 :].mean() / pbi_tiles.mean()
    assert abs(cross_a) < 0.05 and abs(cross_b) < 0.05
    # without directions the two phases are not separated at these tiles
    iso_cross = iso.data[1, :, : ny // 2, : p.shape[3] // 2].mean() / truth
    assert iso_cross > 0.2


def test_tile_that_cannot_resolve_is_refused():
    s = _movie(0.25, n=128, frames=1)
    with pytest.raises(ValueError, match="at least 128 px"):
        s.fringe_intensity(D_PVK, tile_size=64)
    with pytest.raises(ValueError, match="Nyquist"):
        s.fringe_intensity("0.4 A", tile_size=64, background=False)


def test_d_spacing_units_and_eager_has_no_progressbar(capsys):
    s = _movie(1.0, n=128, frames=2)
    a = s.fringe_intensity(D_PVK, show_progressbar=None).data
    b = s.fringe_intensity("0.636 nm").data
    np.testing.assert_allclose(a, b)
    assert "[" not in capsys.readouterr().out
    lazy = s.as_lazy().fringe_intensity(D_PVK, tile_size=64)
    assert lazy._lazy
    np.testing.assert_allclose(
        lazy.compute() or lazy.data, s.fringe_intensity(D_PVK, tile_size=64).data
    )


# ----------------------------------------------------------------------- dose
def _flat(n_frames=5, dt=0.5, px_nm=0.2, n=32):
    s = hs.signals.Signal2D(np.full((n_frames, n, n), 100.0, np.float32))
    s.set_signal_type("insitu_image_series")
    s.axes_manager[0].units, s.axes_manager[0].scale = "s", dt
    for ax in s.axes_manager.signal_axes:
        ax.units, ax.scale = "nm", px_nm
    return s


def test_dose_maps_against_analytic_totals():
    s = _flat()
    # 50 pA over the frame (64 A x 64 A): rate = I / (e A)
    rate = 50e-12 / 1.602176634e-19 / 64.0**2
    d = s.electron_dose(beam_current="50 pA")
    np.testing.assert_allclose(d.data, rate * 0.5 * np.arange(1, 6), rtol=1e-12)
    m = s.electron_dose_map(beam_current="50 pA")
    np.testing.assert_allclose(m.data[:, 5, 7], d.data, rtol=1e-6)
    # from the counts: 100 counts / (2 counts/e) / (2 A x 2 A) / 0.5 s = 25 e/(A^2 s)
    c = s.electron_dose_map(counts_per_electron=2.0, cumulative=False)
    np.testing.assert_allclose(c.data, 25.0)
    # a beam on the left half only, drifting by +4 px in x over the movie:
    # sample pixels near the left edge of the beam get less dose
    profile = np.zeros((32, 32))
    profile[:, :16] = 1.0
    sh = hs.signals.Signal1D(np.zeros((2, 5)))  # as estimate_drift gives, nm
    sh.data[1] = np.linspace(0, 4, 5) * 0.2  # x shifts
    dm = s.electron_dose_map(dose_rate=10.0, beam_profile=profile, shifts=sh)
    last = dm.data[-1]
    assert last[:, 4:12].max() == pytest.approx(25.0)  # 5 frames x 0.5 s x 10
    assert last[:, 16:20].mean() < 25.0 and last[:, 16:20].mean() > 0


def test_beam_dose_map_is_lazy_on_a_lazy_movie():
    """A beam-profile dose map of a lazy movie stays lazy (a 400-frame 4k map
    is 27 GB) and equals the eager one."""
    s = _flat(n_frames=6)
    profile = np.exp(-(((np.arange(32) - 16.0) / 8.0) ** 2))[None, :] * np.ones((32, 1))
    sh = hs.signals.Signal1D(np.zeros((2, 6)))
    sh.data[0] = np.linspace(0, 1.0, 6)  # y shifts, nm
    eager = s.electron_dose_map(dose_rate=10.0, beam_profile=profile, shifts=sh)
    lazy = s.as_lazy().electron_dose_map(
        dose_rate=10.0, beam_profile=profile, shifts=sh
    )
    assert lazy._lazy and not eager._lazy
    np.testing.assert_allclose(lazy.data.compute(), eager.data, rtol=1e-6)
    # no drift: the centre column gets 6 frames x 0.5 s x 10 e/(A^2 s) x 1
    flat = s.as_lazy().electron_dose_map(dose_rate=10.0, beam_profile=profile)
    np.testing.assert_allclose(flat.data[-1, :, 16].compute(), 30.0, rtol=1e-6)


def test_dose_guideline_nan_and_slicing():
    s = _flat()
    with pytest.warns(UserWarning, match="Microstructures 5, 2025012"):
        d = s.electron_dose(dose_rate="120 e/A^2/s")
    assert d.metadata.Dose.dose_rate_guideline_exceeded
    assert d.metadata.Dose.dose_rate_guideline == 90.0
    full = s.electron_dose(dose_rate=10.0).data
    np.testing.assert_allclose(s.inav[2:].electron_dose(dose_rate=10.0).data, full[2:])
    s2 = s.attach_stimulus({"time": [0.0, 1.0], "Dose rate": ([10.0, 10.0], "e/A^2/s")})
    with pytest.raises(ValueError, match="never counted as zero"):
        s2.electron_dose()


# ---------------------------------------------------------------------- drift
def test_blank_frame_flagged_and_nan_shift_refused():
    rng = np.random.default_rng(3)
    base = _amorphous(256, 1.0, rng, std=20.0) + 200
    frames = np.stack([base, np.roll(base, 3, axis=1), np.zeros_like(base), base])
    s = hs.signals.Signal2D(rng.poisson(np.clip(frames, 0, None)).astype(np.float32))
    s.set_signal_type("insitu_image_series")
    sh = s.estimate_drift()
    assert np.all(np.isnan(sh.data[:, 2]))
    assert sh.data[1, 1] == pytest.approx(-3.0, abs=0.1)
    assert not sh.metadata.Validity.mask[0, 2]
    with pytest.raises(ValueError, match="no shift"):
        s.correct_drift(sh)
    filled = s.estimate_drift(blank="interpolate")
    assert np.all(np.isfinite(filled.data))
    # a lazy result stores the same validity, lazily (computed on read)
    from hyperspy_perovskite.validity import Validity

    lazy = Validity.from_metadata(s.as_lazy().estimate_drift().metadata)
    assert lazy.lazy
    np.testing.assert_array_equal(lazy.compute().mask, sh.metadata.Validity.mask)


def test_real_stem_movie_frame_axis_refused_until_frame_time_given():
    """The JEOL STEM-EDS acquisition (RosettaSciIO test data) kept as frames."""
    import os

    f = os.path.join(
        os.path.dirname(__file__), "..", "data", "eds", "jeol", "rawdata.ASW"
    )
    sig = [
        x for x in hs.load(f, sum_frames=False, downsample=[4, 4]) if x.data.ndim == 4
    ]
    if not sig:
        pytest.skip("this RosettaSciIO version does not keep the frames")
    movie = sig[0].sum(-1).T  # (frame | y, x) HAADF-like counts
    movie = hs.signals.Signal2D(np.asarray(movie.data, np.float32))
    movie.set_signal_type("insitu_image_series")
    with pytest.raises(UnitError, match="axes_manager\\[0\\].units = 's'"):
        movie.electron_dose(dose_rate=1.0)
    movie.axes_manager[0].units, movie.axes_manager[0].scale = "s", 1.2
    for ax in movie.axes_manager.signal_axes:
        ax.units = "nm"
    assert movie.electron_dose(dose_rate=1.0).data[-1] > 0


def test_tiles_follow_the_drift():
    """Tile maps on a drifting movie with shifts= stay on the specimen."""
    rng = np.random.default_rng(5)
    n, px = 320, 1.5
    field = 120 + _amorphous(n, px, rng, std=15.0)
    field[:160, :160] += _fringe(n, px, D_PVK, 6.0, 30.0, rng)[:160, :160]
    frames = np.stack(
        [field[3 * i : 256 + 3 * i, 5 * i : 256 + 5 * i] for i in range(5)]
    )
    s = hs.signals.Signal2D(frames.astype(np.float32))  # noise-free: exact check
    s.set_signal_type("insitu_image_series")
    for ax in s.axes_manager.signal_axes:
        ax.units, ax.scale = "A", px
    sh = s.estimate_drift()
    np.testing.assert_allclose(sh.data[:, -1], [12 * px, 20 * px], atol=0.1 * px)
    follow = s.fringe_intensity(D_PVK, tile_size=64, step=32, shifts=sh).data
    fixed = s.fringe_intensity(D_PVK, tile_size=64, step=32).data
    # tiles that follow the specimen see the same specimen in every frame;
    # fixed tiles on the grain edge do not
    scale = 6.0**2 / 2
    assert follow.std(axis=0).max() < 0.02 * scale
    assert fixed.std(axis=0).max() > 0.1 * scale
    with pytest.raises(ValueError, match="tile maps"):
        s.fringe_intensity(D_PVK, shifts=sh)


def test_frame_averaging_carries_counts_and_dose():
    s = _flat(n_frames=9, dt=0.04)
    a = s.average_frames(3)
    np.testing.assert_allclose(a.data, 300.0)  # counts summed
    full = s.electron_dose(dose_rate=50.0).data
    np.testing.assert_allclose(a.electron_dose(dose_rate=50.0).data, full[2::3])
    # dose from the counts is the same before and after
    m1 = s.electron_dose_map(counts_per_electron=2.0).data[2::3, 0, 0]
    m3 = a.electron_dose_map(counts_per_electron=2.0).data[:, 0, 0]
    np.testing.assert_allclose(m3, m1, rtol=1e-6)
    lazy = s.as_lazy().average_frames(3)
    assert lazy._lazy and lazy.metadata.Processing.Frame_averaging.n == 3
