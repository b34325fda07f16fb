"""Phase library, reflections, wavelength and indexing against literature values."""

import numpy as np
import pytest

from hyperspy_perovskite.crystallography import (
    PHASES,
    d_spacing,
    electron_wavelength,
    family_members,
    get_phase,
    index_rings,
    index_spots,
    interplanar_angle,
    list_phases,
    parse_hkl,
    reflection_families,
    scattering_angle,
    structure_factors,
)

REQUIRED = [
    "alpha-FAPbI3",
    "MAPbI3",
    "alpha-CsPbI3",
    "gamma-CsPbI3",
    "delta-CsPbI3",
    "CsPbBr3",
    "PbI2",
    "PbBr2",
    "Pb",
    "Cs4PbI6",
    "CsPb2Br5",
    "AlCl3",
]


# ---------------------------------------------------------------- wavelength
@pytest.mark.parametrize(
    "kv, lam",
    # tabulated relativistic wavelengths (pm): 2.5079 at 200 kV, 1.9687 at
    # 300 kV, 3.7014 at 100 kV (Williams & Carter, TEM, Table 1.1 gives
    # 0.00370, 0.00251, 0.00197 nm)
    [(100.0, 0.037014), (200.0, 0.025079), (300.0, 0.019687)],
)
def test_wavelength_tabulated(kv, lam):
    assert electron_wavelength(kv) == pytest.approx(lam, abs=2e-6)


def test_wavelength_array_and_angle():
    lam = electron_wavelength([200.0, 300.0])
    assert lam.shape == (2,) and lam[0] > lam[1]
    # small-angle Bragg: 2 theta ~ lambda / d
    assert scattering_angle(3.18, 300.0) == pytest.approx(0.019687 / 3.18, rel=1e-4)


@pytest.mark.parametrize("bad", [0.0, -200.0, np.nan, [200.0, -1.0]])
def test_wavelength_bad_input(bad):
    with pytest.raises(ValueError, match="beam_energy"):
        electron_wavelength(bad)


def test_scattering_angle_bad_d():
    with pytest.raises(ValueError, match="d_spacing"):
        scattering_angle(0.0, 300.0)


# ------------------------------------------------------------------ library
def test_library_complete_and_sourced():
    names = list_phases()
    for n in REQUIRED:
        assert n in names
    for p in PHASES.values():
        assert len(p.source) > 20, p.name  # every entry cites its source
        fam = reflection_families(p, d_min=2.0)
        assert fam, p.name
        d = [f.d for f in fam]
        assert d == sorted(d, reverse=True)
        assert all(f.multiplicity >= 1 for f in fam)


@pytest.mark.parametrize(
    "phase, hkl, d, tol",
    [
        # d quoted in the amorphization-under-bias study (docs: references)
        ("alpha-FAPbI3", "001", 6.36, 0.005),
        ("alpha-FAPbI3", "002", 3.18, 0.005),  # halo at (002)
        ("PbI2", "001", 6.96, 0.03),  # 6.96 A quoted; JCPDS 6.979
        ("MAPbI3", "110", 6.26, 0.01),  # MAPbI3 14.1 deg (Cu Ka) doublet
        ("MAPbI3", "002", 6.33, 0.01),
        ("Pb", "111", 2.858, 0.001),  # fcc a = 4.9502 A
        ("alpha-CsPbI3", "002", 3.145, 0.001),
    ],
)
def test_d_spacings_literature(phase, hkl, d, tol):
    assert d_spacing(phase, hkl) == pytest.approx(d, abs=tol)


def test_systematic_absences():
    def labels(p, d_min=1.5):
        return {f.hkl for f in reflection_families(p, d_min=d_min)}

    pb = labels("Pb")  # F-centred: h, k, l all even or all odd
    assert (1, 1, 1) in pb and (0, 0, 2) in pb and (0, 2, 2) in pb
    assert (0, 0, 1) not in pb and (0, 1, 1) not in pb and (0, 1, 2) not in pb
    mapi = labels("MAPbI3")  # I-centred: h + k + l even
    assert (0, 0, 1) not in mapi and (0, 0, 2) in mapi and (1, 1, 0) in mapi
    assert (0, 0, 3) not in mapi
    # R-3c (hexagonal axes): 00l needs l = 6n
    cs4 = labels("Cs4PbI6", d_min=2.9)
    assert (0, 0, 6) in cs4 and (0, 0, 3) not in cs4 and (0, 0, 2) not in cs4
    # Pnma: h00 needs h even, 0k0 k even, 00l l even
    d = labels("delta-CsPbI3", d_min=1.5)
    assert (0, 0, 1) not in d and (0, 0, 2) in d and (1, 0, 0) not in d


def test_multiplicities_cubic():
    fam = {
        f.hkl: f.multiplicity for f in reflection_families("alpha-FAPbI3", d_min=1.6)
    }
    assert fam[(0, 0, 1)] == 6
    assert fam[(0, 1, 1)] == 12
    assert fam[(1, 1, 1)] == 8
    assert fam[(0, 1, 2)] == 24
    assert fam[(1, 2, 3)] == 48
    assert len(family_members("alpha-FAPbI3", "123")) == 48


def test_hexagonal_families_distinct():
    # -3m1: (011) and (101) are different families with the same d
    fam = {f.hkl: f for f in reflection_families("PbI2", d_min=3.0)}
    assert (0, 1, 1) in fam and (1, 0, 1) in fam
    assert fam[(0, 1, 1)].d == pytest.approx(fam[(1, 0, 1)].d)
    assert fam[(0, 1, 1)].multiplicity == 6


def test_structure_factor_fcc():
    from diffsims.utils.atomic_scattering_params import ATOMIC_SCATTERING_PARAMS

    c = np.asarray(ATOMIC_SCATTERING_PARAMS["Pb"])
    d = d_spacing("Pb", "111")
    s2 = 1 / (4 * d * d)
    f = np.sum(c[:, 0] * np.exp(-c[:, 1] * s2))
    F = structure_factors("Pb", [[1, 1, 1], [1, 0, 0]])
    assert abs(F[0]) == pytest.approx(4 * f, rel=1e-9)  # 4 atoms in phase
    assert abs(F[1]) < 1e-9
    # FAPbI3: (002) all in phase (Pb + 3 I) is the strongest low-order ring
    fam = {f.hkl: f for f in reflection_families("alpha-FAPbI3", d_min=2.5)}
    assert fam[(0, 0, 2)].structure_factor > fam[(1, 1, 1)].structure_factor
    assert fam[(1, 1, 1)].structure_factor > fam[(0, 0, 1)].structure_factor


def test_no_atoms_no_structure_factor():
    assert get_phase("MAPbI3").has_atoms is False
    assert reflection_families("MAPbI3", d_min=3)[0].structure_factor is None
    with pytest.raises(ValueError, match="no atom sites"):
        structure_factors("MAPbI3", [[0, 0, 2]])


def test_interplanar_angle():
    assert interplanar_angle("alpha-FAPbI3", "001", "111") == pytest.approx(
        54.7356, abs=1e-3
    )
    assert interplanar_angle("PbI2", "100", "010") == pytest.approx(60.0, abs=1e-9)


@pytest.mark.parametrize("bad", ["abc", (0, 0, 0), [1, 2], "1,2,3,4", (1.5, 0, 0)])
def test_parse_hkl_bad(bad):
    with pytest.raises(ValueError, match="Miller"):
        parse_hkl(bad)


def test_get_phase_bad():
    with pytest.raises(ValueError, match="known phases"):
        get_phase("FAPbI4")
    with pytest.raises(TypeError):
        get_phase(3)
    with pytest.raises(ValueError, match="d_min"):
        reflection_families("Pb", d_min=0)


# ----------------------------------------------------------------- indexing
def test_index_rings_mixed_phases():
    d = [6.36, 6.96, 3.67, 3.18, 2.86]
    m = index_rings(d, ["alpha-FAPbI3", "PbI2", "Pb"], tolerance=0.005)
    best = {}
    for r in m:
        best.setdefault(r.ring, r)
    assert (best[0].phase, best[0].hkl) == ("alpha-FAPbI3", (0, 0, 1))
    assert (best[1].phase, best[1].hkl) == ("PbI2", (0, 0, 1))
    assert (best[2].phase, best[2].hkl) == ("alpha-FAPbI3", (1, 1, 1))
    assert (best[3].phase, best[3].hkl) == ("alpha-FAPbI3", (0, 0, 2))
    assert (best[4].phase, best[4].hkl) == ("Pb", (1, 1, 1))
    assert all(abs(r.error) <= 0.005 for r in m)


def test_index_rings_bad():
    with pytest.raises(ValueError, match="tolerance"):
        index_rings([6.36], "Pb", tolerance=0.0)
    with pytest.raises(ValueError, match="positive"):
        index_rings([], "Pb")
    with pytest.raises(ValueError, match="positive"):
        index_rings([-1.0], "Pb")


def test_index_spots_zone_100_rotated():
    a = get_phase("alpha-FAPbI3").a
    rot = np.radians(17.0)
    R = np.array([[np.cos(rot), -np.sin(rot)], [np.sin(rot), np.cos(rot)]])
    # [100] zone: reflections (0 k l) at (k, l) / a
    kl = [(1, 0), (0, 1), (1, 1), (2, 0), (-1, 1), (0, 2), (2, 1)]
    g = np.array([R @ (np.array(v) / a) for v in kl])
    res = index_spots(g, "alpha-FAPbI3")
    assert len(res) == len(kl)
    fams = [m.family for m in res]
    assert fams == [
        (0, 0, 1),
        (0, 0, 1),
        (0, 1, 1),
        (0, 0, 2),
        (0, 1, 1),
        (0, 0, 2),
        (0, 1, 2),
    ]
    assert all(m.angle_error < 0.5 for m in res)
    zone = np.abs(res[0].zone_axis)
    assert sorted(zone) == [0, 0, 1]
    # every assigned hkl is perpendicular to the zone axis
    for m in res:
        assert np.dot(m.hkl, res[0].zone_axis) == 0


def test_index_spots_bad():
    with pytest.raises(ValueError, match="g_vectors"):
        index_spots([1.0, 2.0], "Pb")
    with pytest.raises(ValueError, match="direct beam"):
        index_spots([[0.0, 0.0]], "Pb")


def test_reciprocal_pixel_size():
    from hyperspy_perovskite.crystallography import reciprocal_pixel_size

    # 15 um pixel at 300 mm, 300 kV: 5e-5 rad / 0.019687 A
    assert reciprocal_pixel_size(15.0, 300.0, 300.0) == pytest.approx(
        5e-5 / 0.019687, rel=1e-4
    )
    with pytest.raises(ValueError, match="camera_length"):
        reciprocal_pixel_size(15.0, 0.0, 300.0)
    with pytest.raises(ValueError, match="beam_energy"):
        reciprocal_pixel_size(15.0, 300.0, -1.0)


def test_score_phases_beats_chance():
    from hyperspy_perovskite.crystallography import score_phases

    fa = [f.d * 1.003 for f in reflection_families("alpha-FAPbI3", d_min=1.5)][:8]
    res = score_phases(fa, list_phases(), tolerance=0.01)
    assert res[0].phase == "alpha-FAPbI3" and res[0].matched == 8
    assert res[0].strong_present == 1.0
    by = {r.phase: r for r in res}
    # the large delta-CsPbI3 cell matches many rings by chance: its score is low
    assert by["delta-CsPbI3"].expected_by_chance > 0.5 * by["delta-CsPbI3"].matched
    assert by["delta-CsPbI3"].score < res[0].score - 2
    pbi2 = score_phases([6.98, 3.49, 3.44, 2.28], ["PbI2", "alpha-FAPbI3"], 0.01)
    assert pbi2[0].phase == "PbI2"
    with pytest.raises(ValueError, match="positive"):
        score_phases([0.0], ["Pb"])
