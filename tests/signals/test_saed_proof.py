"""Issue 11 Proof: SAED with an off-centre beam (blocked: no direct beam) and
an amorphous halo displaced from the (002) spacing, against the simulator's
truth (rings computed independently of the crystallography code)."""

import warnings

import numpy as np
import pytest

from hyperspy_perovskite.data.saed_simulation import simulate_saed_series

KW = dict(
    n_frames=12,
    frame_interval=30.0,
    size=128,
    scale=0.0095,
    halo_d=3.4,
    center_offset=(3.0, -2.0),
    direct_beam=0.0,
)


@pytest.fixture(scope="module")
def case():
    s, truth = simulate_saed_series(**KW)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        prof = s.azimuthal_profile(show_progressbar=False)
    return s, truth, prof, [str(w.message) for w in rec]


def test_off_centre_found_and_corrected(case):
    s, truth, prof, msgs = case
    assert any("ring centre is 3.0, -2.0 px" in m for m in msgs)
    centres = prof.metadata.Diffraction_analysis.centers
    np.testing.assert_allclose(
        centres, np.broadcast_to(truth["center"], centres.shape), atol=0.1
    )
    # about the origin instead: smeared rings, negative counts, and a warning
    p0 = s.azimuthal_profile(center=False, show_progressbar=False)
    with pytest.warns(UserWarning, match="Negative ring counts"):
        s.hkl_intensities(families=["001", "002"], profile=p0)


def test_facets_right_side_up_with_displaced_halo(case):
    s, truth, prof, _ = case
    fams = ["001", "111", "002"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no negative counts
        inten = s.hkl_intensities(families=fams, profile=prof, poisson=True)
    ratio = inten.data[:, -1] / inten.data[:, 0]
    idx = [truth["families"].index(f) for f in fams]
    want = truth["integrated"][idx, -1] / truth["integrated"][idx, 0]  # .15 1 .15
    # the issue saw (001) 1.21 with the halo held at (002); now within 0.06
    np.testing.assert_allclose(ratio, want, atol=0.06)


def test_halo_position_found(case):
    s, truth, prof, _ = case
    d = s.halo_position(profile=prof, poisson=True)
    late = d.data[-6:]
    assert np.isfinite(late).all()
    # measured 3.49-3.56 A for a 3.40 A halo (a bias of ~3 %, between the
    # (111) and (002) rings); far from the (002) spacing 3.18 A it was held at
    assert np.all(np.abs(late - truth["halo_d"]) < 0.2)
    assert np.isnan(d.data[0])  # no halo yet: no position


@pytest.fixture(scope="module")
def off_centre_pulls():
    """Whole-pixel profiles about the found centre of patterns whose direct
    beam sits 3-5 px off the axes' origin: the bin model follows each bin's
    true pixel radii (the fraction was up to 0.3 too high before)."""
    from hyperspy_perovskite.data.saed_simulation import truth_in_range

    out = []
    for size, scale, off, seed in [
        (64, 0.015, (3.4, -4.3), 0),
        (64, 0.015, (-4.0, 3.0), 1),
        (96, 0.01, (3.4, -4.3), 2),
        (96, 0.01, (-2.5, 4.5), 3),
    ]:
        s, truth = simulate_saed_series(
            n_frames=10, frame_interval=30.0, size=size, scale=scale, halo_d=3.3,
            seed=300 + seed, center_offset=off, direct_beam=300.0,
        )  # fmt: skip
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # the off-centre notice
            prof = s.azimuthal_profile(center="auto", show_progressbar=False)
        centres = prof.metadata.Diffraction_analysis.centers
        assert np.all(np.abs(centres - truth["center"]) < 0.1)
        f = s.amorphous_fraction(profile=prof, poisson=True)
        std = np.sqrt(f.metadata.Signal.Noise_properties.variance.data)
        rings, halo = truth_in_range(
            truth, *f.metadata.Diffraction_analysis.radial_range
        )
        out.append((f.data - halo / (halo + rings.sum(0))) / std)
    return np.concatenate(out)


def test_off_centre_amorphous_fraction_within_its_error(off_centre_pulls):
    p = off_centre_pulls
    assert abs(p.mean()) < 0.6
    assert 0.6 < p.std() < 1.5
    assert np.mean(np.abs(p) < 2) > 0.85


def test_drifting_centre_is_flagged(case):
    """Per-frame centres more than 0.5 px apart: the whole-pixel bin model (of
    the mean centre) no longer describes every frame, and the methods say so."""
    s, _, prof, _ = case
    drifted = prof.deepcopy()
    c = np.asarray(drifted.metadata.Diffraction_analysis.centers, float)
    c[:, 0] += np.linspace(0.0, 2.0, c.shape[0])
    drifted.metadata.Diffraction_analysis.centers = c
    with pytest.warns(UserWarning, match="centre moves by up to 1.0 px"):
        s.amorphous_fraction(profile=drifted, poisson=True)
