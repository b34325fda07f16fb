"""Biased holography: field and charge recovered from simulated phase and holograms."""

import hyperspy.api as hs
import numpy as np
import pytest
from scipy.special import erf

from hyperspy_perovskite.analysis import holography as holo
from hyperspy_perovskite.signals.holography import holography_stack_profiles

PIX = 0.5  # nm
N = 128
T = 120.0  # nm, lamella thickness (“Imaging real-time amorphization of hybrid perovskite solar cells under electrical biasing”: ~120 nm FIB lamella)
THETA = np.deg2rad(20.0)
U = np.array([np.cos(THETA), np.sin(THETA)])
CENTRE = np.array([32.0, 32.0])
START = CENTRE - 28 * U
END = CENTRE + 28 * U
S0 = 28.0  # interface at the centre, nm from START
RHO0, A, W = 1e5, 5.0, 3.0  # C/m^3, nm, nm


def _rho_field(s):
    g = lambda c: np.exp(-((s - c) ** 2) / (2 * W**2))  # noqa: E731
    rho = RHO0 * (g(S0 - A) - g(S0 + A))

    def cum(c):
        return W * 1e-9 * np.sqrt(np.pi / 2) * (1 + erf((s - c) / (np.sqrt(2) * W)))  # noqa: E731

    return rho, RHO0 / holo.VACUUM_PERMITTIVITY * (cum(S0 - A) - cum(S0 + A))


def _potential_map(x, y):
    s_pix = (x - START[0]) * U[0] + (y - START[1]) * U[1]
    fine = np.linspace(-40.0, 100.0, 28001)
    V = holo.potential_from_charge(fine, _rho_field(fine)[0])
    return np.interp(s_pix, fine, V), s_pix


def _grid(n=N, pix=PIX):
    y, x = (np.mgrid[0:n, 0:n] + 0.5) * pix
    return x, y


def _calibrate(s, pix=PIX):
    for ax in s.axes_manager.signal_axes:
        ax.units, ax.scale, ax.offset = "nm", pix, 0.5 * pix
    s.metadata.set_item("Acquisition_instrument.TEM.beam_energy", 300.0)
    s.metadata.set_item(
        "Device.Geometry",
        {
            "start": START.tolist(),
            "end": END.tolist(),
            "width": 20.0,
            "interface_names": ["HTL/perovskite"],
            "interface_positions": [S0],
        },
    )
    return s


@pytest.fixture(scope="module")
def phase_stack():
    x, y = _grid()
    V, s_pix = _potential_map(x, y)
    mip = 0.3 * (
        s_pix > S0
    )  # mean inner potential step (V), removed by the zero-bias image
    ce_t = holo.interaction_constant(300.0) * T * 1e-9
    rng = np.random.default_rng(1)
    noisy = ce_t * (V + mip) + rng.normal(0, 0.003, size=(6, N, N))
    s = _calibrate(hs.signals.Signal2D(noisy))
    s.axes_manager[0].name, s.axes_manager[0].units = "bias step", ""
    ref = _calibrate(hs.signals.Signal2D(ce_t * mip))
    return s, ref


@pytest.mark.parametrize("lazy", [False, True])
def test_field_and_charge_recovered(phase_stack, lazy):
    s, ref = phase_stack
    s_in = s.as_lazy() if lazy else s
    out = holography_stack_profiles(s_in, T, eps_r=1.0, zero_bias_phase=ref, window=9)
    field = out["field"]
    pos = field.axes_manager.signal_axes[0].axis  # nm from the interface
    assert field.axes_manager.signal_axes[0].name == "position from HTL/perovskite"
    assert field.data.shape == (6, pos.size)
    rho_t, E_t = _rho_field(pos + S0)
    E_sd = np.sqrt(field.metadata.Signal.Noise_properties.variance.data)
    inner = slice(6, -6)
    pull = (field.data - E_t)[:, inner] / E_sd[:, inner]
    assert np.abs(pull).max() < 5
    assert 0.5 < pull.std() < 1.6
    rho = out["charge_density"]
    rho_sd = np.sqrt(rho.metadata.Signal.Noise_properties.variance.data)
    pull_r = (rho.data - rho_t)[:, inner] / rho_sd[:, inner]
    assert np.abs(pull_r).max() < 5
    # the peak charges are found at the right places (+-1 bin)
    mean_rho = rho.data.mean(0)
    assert pos[np.argmax(mean_rho)] == pytest.approx(-A, abs=0.6)
    assert pos[np.argmin(mean_rho)] == pytest.approx(A, abs=0.6)
    md = field.metadata.Holography
    assert md.interaction_constant == pytest.approx(6.526e6, rel=1e-3)
    assert md.zero_bias_subtracted is True
    assert out["potential"].axes_manager.navigation_axes[0].name == "bias step"


def test_lazy_equals_eager(phase_stack):
    s, ref = phase_stack
    a = holography_stack_profiles(s, T, zero_bias_phase=ref)
    b = holography_stack_profiles(s.as_lazy(), T, zero_bias_phase=ref)
    for k in a:
        np.testing.assert_allclose(b[k].data, a[k].data, rtol=1e-10, atol=1e-12)


def test_without_zero_bias_the_mip_step_shows(phase_stack):
    s, ref = phase_stack
    raw = holography_stack_profiles(s.inav[0], T, reference="start")
    sub = holography_stack_profiles(
        s.inav[0], T, reference="start", zero_bias_phase=ref
    )
    dV = raw["potential"].data - sub["potential"].data
    # the 0.3 V mean-inner-potential step is what the zero-bias image removes
    assert dV[-5:].mean() - dV[:5].mean() == pytest.approx(0.3, abs=1e-6)
    assert raw["potential"].axes_manager.signal_axes[0].offset == pytest.approx(0.25)
    assert raw["potential"].metadata.Holography.zero_bias_subtracted is False


@pytest.mark.parametrize("ext", ["hspy", "zspy"])
def test_profiles_survive_save_load(phase_stack, tmp_path, ext):
    s, ref = phase_stack
    out = holography_stack_profiles(s.inav[:2], T, zero_bias_phase=ref)
    f = tmp_path / f"field.{ext}"
    out["field"].save(f)
    back = hs.load(f)
    np.testing.assert_allclose(back.data, out["field"].data)
    assert back.metadata.Holography.thickness == T
    assert back.metadata.Device.Profile.reference == "HTL/perovskite"
    np.testing.assert_allclose(
        back.metadata.Signal.Noise_properties.variance.data,
        out["field"].metadata.Signal.Noise_properties.variance.data,
    )


def test_holospy_reconstruction_of_a_simulated_hologram():
    from holospy.signals import HologramImage

    pix = 1.0
    x, y = _grid(128, pix)
    # broader layer for the hologram resolution (sideband ~ 1/3 of the carrier)
    global W
    w_saved, W = W, 6.0
    try:
        V, _ = _potential_map(x, y)
        fine_s = np.arange(0.0, 56.0, 1.0) + 0.5
        _, E_true = _rho_field(fine_s)
    finally:
        W = w_saved
    phase = holo.interaction_constant(300.0) * T * 1e-9 * V
    q = (0.23, 0.13)  # carrier, cycles per pixel
    yy, xx = np.mgrid[0:128, 0:128]

    def hologram(ph):
        h = HologramImage(2.0 + 1.6 * np.cos(2 * np.pi * (q[0] * xx + q[1] * yy) + ph))
        return _calibrate(h, pix)

    wave = hologram(phase).reconstruct_phase(
        hologram(np.zeros_like(phase)), sb="upper", show_progressbar=False
    )
    _calibrate(wave, pix)
    out = holography_stack_profiles(wave, T, reference="start", window=7)
    pos = out["field"].axes_manager.signal_axes[0].axis
    E = out["field"].data
    E_t = np.interp(pos, fine_s, E_true)
    inner = (pos > 10) & (pos < 46)
    assert np.abs(E - E_t)[inner].max() < 0.15 * np.abs(E_true).max()
    assert pos[np.argmax(E)] == pytest.approx(S0, abs=1.5)


def test_input_not_modified(phase_stack):
    s, ref = phase_stack
    before = s.data.copy()
    holography_stack_profiles(s, T, zero_bias_phase=ref)
    np.testing.assert_array_equal(s.data, before)


def test_bad_input(phase_stack):
    s, ref = phase_stack
    with pytest.raises(TypeError, match="Signal2D"):
        holography_stack_profiles(hs.signals.Signal1D(np.zeros(10)), T)
    bare = hs.signals.Signal2D(np.zeros((16, 16)))
    for ax in bare.axes_manager.signal_axes:
        ax.units = "nm"
    with pytest.raises(ValueError, match="beam energy"):
        holography_stack_profiles(bare, T, start=(0, 8), end=(16, 8))
    with pytest.raises(ValueError, match="No stack geometry"):
        holography_stack_profiles(bare, T, beam_energy=300.0)
    with pytest.raises(ValueError, match="Unknown interface"):
        holography_stack_profiles(s, T, reference="nope")
    with pytest.raises(ValueError, match="no pixel"):
        holography_stack_profiles(s, T, start=(500, 500), end=(600, 500))
    with pytest.raises(ValueError, match="same image shape"):
        holography_stack_profiles(s, T, zero_bias_phase=ref.isig[:64, :64])
    with pytest.raises(ValueError, match="thickness"):
        holography_stack_profiles(s, -1.0)
    uncal = hs.signals.Signal2D(np.zeros((16, 16)))
    with pytest.raises(ValueError, match="units"):
        holography_stack_profiles(
            uncal, T, beam_energy=300.0, start=(0, 8), end=(16, 8)
        )
    eds_like = hs.signals.Signal1D(np.zeros((4, 4, 10)))
    with pytest.raises(ValueError, match="Device.Geometry"):
        holography_stack_profiles(s, T, geometry=eds_like)


def test_correlated_phase_noise_gives_honest_errors():
    """Phase noise correlated over ~2 px (the sideband aperture): the
    estimated noise covariance gives pulls ~1 for potential and field, where
    independent-pixel errors are 2-3x too small."""
    from scipy.ndimage import gaussian_filter

    x, y = _grid()
    V, _ = _potential_map(x, y)
    ce_t = holo.interaction_constant(300.0) * T * 1e-9
    rng = np.random.default_rng(3)
    white = rng.normal(0, 1.0, size=(8, N, N))
    corr = np.stack([gaussian_filter(w, 2.0, mode="wrap") for w in white])
    corr *= 0.01 / corr.std()
    s = _calibrate(hs.signals.Signal2D(ce_t * V + corr))
    inner = slice(8, -8)
    pulls = {}
    for noise in ("correlated", "independent"):
        out = holography_stack_profiles(s, T, window=9, noise=noise)
        pos = out["field"].axes_manager.signal_axes[0].axis + S0
        E_t = _rho_field(pos)[1]
        V_t = np.interp(pos, *_profile_truth())
        for name, truth in (("field", E_t), ("potential", V_t)):
            sig = out[name]
            sd = np.sqrt(sig.metadata.Signal.Noise_properties.variance.data)
            d = sig.data - truth
            if name == "potential":  # the phase offset is arbitrary
                d = d - d[:, inner].mean(axis=1, keepdims=True)
            pulls[(noise, name)] = (d / sd)[:, inner]
    for name in ("field", "potential"):
        z = pulls[("correlated", name)]
        assert 0.8 < z.std() < 1.2, (name, z.std())
        assert pulls[("independent", name)].std() > 1.8 * z.std()


def _profile_truth():
    fine = np.linspace(-40.0, 100.0, 28001)
    return fine, holo.potential_from_charge(fine, _rho_field(fine)[0])
