"""CIF import against independent truth: analytic structure factors, the
reflection conditions of International Tables, and diffpy.structure's own
expansion of the same file; malformed files give clear errors."""

import numpy as np
import pytest
from diffsims.utils.atomic_scattering_params import ATOMIC_SCATTERING_PARAMS

from hyperspy_perovskite.crystallography import (
    PHASES,
    CIFError,
    Phase,
    add_phase,
    get_phase,
    index_rings,
    read_cif,
    reflection_families,
    score_phases,
    structure_factors,
)


def _f(el, s2):
    """Electron scattering factor straight from the tabulated coefficients."""
    c = np.asarray(ATOMIC_SCATTERING_PARAMS[el])
    return float(np.sum(c[:, 0] * np.exp(-c[:, 1] * s2)))


def _write(tmp_path, text, name="x.cif"):
    p = tmp_path / name
    p.write_text(text)
    return p


# Cubic CsPbBr3 above 130 C: C. K. Moller, Nature 182, 1436 (1958),
# a = 5.874 A; Pm-3m with Pb 1a, Br 3d, Cs 1b (positions fixed by symmetry).
CUBIC = """# written for the test from the published cell
data_CsPbBr3_cubic
_chemical_formula_sum 'Cs Pb Br3'
_cell_length_a 5.874(1)
_cell_length_b 5.874(1)
_cell_length_c 5.874(1)
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
_symmetry_space_group_name_H-M 'P m -3 m'
_symmetry_Int_Tables_number 221
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_occupancy
Pb1 Pb2+ 0 0 0 1
Br1 Br1- 0.5 0 0 1
Cs1 Cs1+ 0.5 0.5 0.5 1
"""

# 2H-PbI2 (CdI2 type), P-3m1, a = 4.557, c = 6.979 A, I at 2d (1/3, 2/3, z),
# z = 0.265 (R. W. G. Wyckoff, Crystal Structures vol. 1 (1963)); the 12
# operations of P-3m1 (International Tables A, No. 164) written out.
PBI2 = """data_PbI2
_cell_length_a 4.557
_cell_length_b 4.557
_cell_length_c 6.979
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 120
_space_group_name_H-M_alt 'P -3 m 1'
loop_
_space_group_symop_operation_xyz
'x, y, z'
'-y, x-y, z'
'-x+y, -x, z'
'y, x, -z'
'x-y, -y, -z'
'-x, -x+y, -z'
'-x, -y, -z'
'y, -x+y, -z'
'x-y, x, -z'
'-y, -x, z'
'-x+y, y, z'
'x, x-y, z'
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_U_iso_or_equiv
Pb1 Pb 0 0 0 0.02
I1 I 0.33333 0.66667 0.265 0.03
"""


def test_cubic_structure_factors_analytic(tmp_path):
    ph = read_cif(_write(tmp_path, CUBIC))
    assert ph.name == "CsPbBr3_cubic" and ph.a == 5.874 and ph.gamma == 90
    assert [a[0] for a in ph.atoms] == ["Pb", "Br", "Cs"]  # charges dropped
    assert "5.874" not in ph.source and "CsPbBr3_cubic" in ph.source
    fams = reflection_families(ph, d_min=1.2)
    # primitive cubic, Laue group m-3m: one family per sorted |h|,|k|,|l|,
    # every one allowed, 1/d^2 = (h^2+k^2+l^2)/a^2
    nmax = (5.874 / 1.2) ** 2
    truth = {
        (l0, k0, h0)
        for h0 in range(6)
        for k0 in range(h0 + 1)
        for l0 in range(k0 + 1)
        if 0 < h0 * h0 + k0 * k0 + l0 * l0 <= nmax
    }
    assert {f.hkl for f in fams} == truth
    for f in fams:
        assert (5.874 / f.d) ** 2 == pytest.approx(sum(v * v for v in f.hkl))
    for f in fams:
        h, k, ll = f.hkl
        s2 = 1 / (4 * f.d**2)
        F = (
            _f("Pb", s2)
            + _f("Br", s2) * ((-1) ** h + (-1) ** k + (-1) ** ll)
            + _f("Cs", s2) * (-1) ** (h + k + ll)
        )
        assert f.structure_factor == pytest.approx(abs(F), rel=1e-9, abs=1e-9)
    # the same reflections as the library's cubic CsPbBr3
    lib = reflection_families("cubic-CsPbBr3", d_min=1.2)
    assert [f.hkl for f in lib] == [f.hkl for f in fams]
    np.testing.assert_allclose(
        [f.structure_factor for f in lib], [f.structure_factor for f in fams]
    )


def test_explicit_operations_and_displacement(tmp_path):
    ph = read_cif(_write(tmp_path, PBI2))
    assert len(ph.symmetry_operations) == 12
    assert ph.b_iso == pytest.approx((8 * np.pi**2 * 0.02, 8 * np.pi**2 * 0.03))
    fams = {f.hkl: f for f in reflection_families(ph, d_min=1.0)}
    assert fams[(0, 0, 1)].d == pytest.approx(6.979)
    assert fams[(0, 1, 0)].d == pytest.approx(4.557 * np.sqrt(3) / 2)
    assert fams[(0, 1, 0)].multiplicity == 6 and fams[(0, 0, 1)].multiplicity == 2
    for ll in (1, 2, 3, 4):
        s2 = 1 / (4 * 6.979**2) * ll**2
        bpb, bi = ph.b_iso
        F = _f("Pb", s2) * np.exp(-bpb * s2) + 2 * _f("I", s2) * np.exp(
            -bi * s2
        ) * np.cos(2 * np.pi * ll * 0.265)
        assert fams[(0, 0, ll)].structure_factor == pytest.approx(abs(F), rel=1e-4)
    # debye_waller=0 switches the displacements off
    F0 = structure_factors(ph, [[0, 0, 3]], debye_waller=0.0)
    Fb = structure_factors(ph, [[0, 0, 3]])
    assert abs(F0[0]) > abs(Fb[0])


def test_agrees_with_diffpy_expansion(tmp_path):
    """diffpy.structure expands the same file with its own code: |F| agree."""
    from diffpy.structure import loadStructure

    path = _write(tmp_path, PBI2)
    ph = read_cif(path)
    st = loadStructure(str(path))
    assert len(st) == 3  # Pb + 2 I in the cell
    for f in reflection_families(ph, d_min=1.2, debye_waller=0.0):
        s2 = 1 / (4 * f.d**2)
        F = sum(
            _f(a.element.rstrip("+-0123456789"), s2)
            * np.exp(2j * np.pi * np.dot(f.hkl, a.xyz))
            for a in st
        )
        assert f.structure_factor == pytest.approx(abs(F), rel=1e-3, abs=1e-3)


# Pbnm (No. 62 in the setting of gamma-CsPbI3, A. Marronnier et al., ACS Nano
# 12, 3477 (2018)), general positions written from the glide/screw elements.
PBNM_OPS = [
    "x,y,z",
    "-x,-y,z+1/2",
    "x+1/2,-y+1/2,-z",
    "-x+1/2,y+1/2,-z+1/2",
    "-x,-y,-z",
    "x,y,-z+1/2",
    "-x+1/2,y+1/2,z",
    "x+1/2,-y+1/2,z+1/2",
]


def test_nonstandard_setting_reflection_conditions(tmp_path):
    ops = "\n".join(f"'{o}'" for o in PBNM_OPS)
    text = f"""data_pbnm_test
_cell_length_a 8.6185
_cell_length_b 8.8191
_cell_length_c 12.5017
_symmetry_space_group_name_H-M 'P b n m'
loop_
_symmetry_equiv_pos_as_xyz
{ops}
loop_
_atom_site_label
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
Pb1 0.1234 0.2345 0.3456
"""
    ph = read_cif(_write(tmp_path, text))
    got = set()
    for f in reflection_families(ph, d_min=1.5):
        from hyperspy_perovskite.crystallography.reflections import family_members

        got |= set(family_members(ph, f.hkl))

    def allowed(h, k, ll):  # International Tables A, No. 62, setting Pbnm
        if h == 0 and k % 2:
            return False
        if k == 0 and (h + ll) % 2:
            return False
        if h == 0 and k == 0 and ll % 2:
            return False
        if k == 0 and ll == 0 and h % 2:
            return False
        return True

    G = np.diag([1 / 8.6185**2, 1 / 8.8191**2, 1 / 12.5017**2])
    truth = set()
    for h in range(-6, 7):
        for k in range(-6, 7):
            for ll in range(-9, 10):
                v = np.array([h, k, ll])
                if v.any() and v @ G @ v <= 1 / 1.5**2 and allowed(h, k, ll):
                    truth.add((h, k, ll))
    assert got == truth
    # a general position: no allowed reflection is extinct by the atoms
    F = np.abs(structure_factors(ph, sorted(truth)))
    assert F.min() > 1e-6
    # the same as the library's gamma-CsPbI3 (diffpy's Pbnm)
    lib = {f.hkl for f in reflection_families("gamma-CsPbI3", d_min=1.5)}
    assert lib == {f.hkl for f in reflection_families(ph, d_min=1.5)}


def test_add_phase_and_use_by_name(tmp_path):
    ph = read_cif(_write(tmp_path, CUBIC), name="user-CsPbBr3")
    try:
        add_phase(ph)
        assert get_phase("user-CsPbBr3") is ph
        m = index_rings([5.874, 4.153], ["user-CsPbBr3"], tolerance=0.01)
        assert [r.hkl for r in m] == [(0, 0, 1), (0, 1, 1)]
        ranked = score_phases([5.874, 4.153, 3.391, 2.937], ["user-CsPbBr3", "PbI2"])
        assert ranked[0].phase == "user-CsPbBr3"
        with pytest.raises(ValueError, match="already in the library"):
            add_phase(read_cif(_write(tmp_path, PBI2, "p.cif"), name="user-CsPbBr3"))
        with pytest.raises(ValueError, match="already in the library"):
            add_phase(Phase("PbI2", "PbI2", 1, 1, 1, 90, 90, 90, "P1"))
    finally:
        PHASES.pop("user-CsPbBr3", None)
    assert Phase.from_cif(_write(tmp_path, CUBIC)).a == 5.874


def test_several_blocks(tmp_path):
    path = _write(tmp_path, CUBIC + "\n" + PBI2)
    with pytest.raises(CIFError, match="block="):
        read_cif(path)
    assert read_cif(path, block="PbI2").c == 6.979
    assert read_cif(path, block="data_CsPbBr3_cubic").a == 5.874
    with pytest.raises(CIFError, match="no data block 'nope'"):
        read_cif(path, block="nope")


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda t: t.replace("_cell_length_b 5.874(1)\n", ""), "_cell_length_b"),
        (
            lambda t: t.replace("_cell_length_a 5.874(1)", "_cell_length_a abc"),
            "not a number",
        ),
        (
            lambda t: t.replace("_cell_angle_beta 90", "_cell_angle_beta 190"),
            "angles in \\(0, 180\\)",
        ),
        (lambda t: t.replace("Br1 Br1-", "Xx1 Xx"), "element"),
        (
            lambda t: t.replace("Cs1 Cs1+ 0.5 0.5 0.5 1", "Cs1 Cs1+ 0.5 0.5 0.5 1.5"),
            "occupancy",
        ),
        (
            lambda t: t.replace(
                "_symmetry_space_group_name_H-M 'P m -3 m'\n", ""
            ).replace("_symmetry_Int_Tables_number 221\n", ""),
            "no symmetry",
        ),
        (
            lambda t: t.replace("'P m -3 m'", "'Q 9 z'").replace(
                "_symmetry_Int_Tables_number 221\n", ""
            ),
            "not known",
        ),
        (
            lambda t: t.replace("loop_\n_atom_site_label", "loop_\n'unclosed\n"),
            "not valid CIF syntax",
        ),
        (
            lambda t: "just some text\nwith no structure\n",
            "not valid CIF|no data block",
        ),
        (lambda t: t.replace("_atom_site_fract_y\n", ""), "column|not a number|syntax"),
    ],
)
def test_malformed_cif_clear_error(tmp_path, edit, match):
    with pytest.raises(CIFError, match=match):
        read_cif(_write(tmp_path, edit(CUBIC)))


@pytest.mark.parametrize(
    "op, match",
    [
        ("x, y", "three"),
        ("x, y, w", "three"),
        ("2x, y, z", "not a crystallographic"),
        ("x, y, z+1/0", "three"),
    ],
)
def test_bad_symmetry_operation(tmp_path, op, match):
    text = PBI2.replace("'-y, x-y, z'", f"'{op}'")
    with pytest.raises(CIFError, match=match):
        read_cif(_write(tmp_path, text))


def test_missing_identity_and_file(tmp_path):
    with pytest.raises(CIFError, match="identity"):
        read_cif(_write(tmp_path, PBI2.replace("'x, y, z'\n", "")))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_cif(tmp_path / "none.cif")


def test_b_iso_length_checked():
    with pytest.raises(ValueError, match="one B"):
        Phase(
            "x",
            "Pb",
            5,
            5,
            5,
            90,
            90,
            90,
            "Fm-3m",
            (("Pb", 0, 0, 0, 1.0),),
            b_iso=(1.0, 2.0),
        )
