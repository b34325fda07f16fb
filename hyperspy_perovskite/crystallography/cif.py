"""Phases from Crystallographic Information Files (CIF).

:func:`read_cif` turns one data block of a CIF (the format of the IUCr, of
the ICSD, the CSD, the COD and the Materials Project, and what
``diffpy.structure`` and ``orix`` read) into a :class:`~.phases.Phase`: the
cell, the space group with its symmetry operations as listed in the file
(any setting), and the asymmetric unit (element, fractional coordinates,
occupancy, isotropic displacement). Everything the library phases do then
works for it: allowed reflections and kinematic electron structure factors
(:func:`~.reflections.reflection_families`), ring and spot indexing, phase
ranking, SAED simulation and the 4D-STEM phase maps. :func:`add_phase` makes
its name usable wherever a library name is.

The file is parsed with PyCifRW (the CIF parser ``diffpy.structure`` uses);
this module reads the items itself so that every problem is reported with
what is missing and how to fix it (:class:`CIFError`).

Items read (CIF 1.1 and the CIF 2 / DDLm synonyms):

- cell: ``_cell_length_a/b/c``, ``_cell_angle_alpha/beta/gamma`` (angles
  default to 90 degrees when all three are absent);
- symmetry: ``_space_group_symop_operation_xyz`` or
  ``_symmetry_equiv_pos_as_xyz``; without them the space group is looked up
  from ``_space_group_name_H-M_alt`` / ``_symmetry_space_group_name_H-M`` or
  ``_space_group_IT_number`` / ``_symmetry_Int_Tables_number`` (standard
  setting);
- sites: ``_atom_site_fract_x/y/z``, ``_atom_site_type_symbol`` (else the
  element is read from ``_atom_site_label``; ion charges such as ``Pb2+``
  are dropped: the electron scattering factors are those of neutral atoms),
  ``_atom_site_occupancy`` (default 1), ``_atom_site_U_iso_or_equiv`` or
  ``_atom_site_B_iso_or_equiv`` (default 0); anisotropic-only sites use
  ``U_eq = (U11 + U22 + U33) / 3`` (exact for orthogonal axes);
- provenance: data block name, formula, journal reference and DOI,
  measurement temperature, all kept in ``Phase.source`` / ``Phase.note``.

Standard uncertainties in parentheses (``8.244(3)``) are read and dropped.
"""

from __future__ import annotations

import os
import re

import numpy as np

from hyperspy_perovskite.crystallography.phases import Phase

__all__ = ["CIFError", "read_cif", "parse_symmetry_operation"]


class CIFError(ValueError):
    """A CIF cannot be turned into a phase (the message says what and how to fix)."""


_CELL = ("_cell_length_a", "_cell_length_b", "_cell_length_c")
_ANGLES = ("_cell_angle_alpha", "_cell_angle_beta", "_cell_angle_gamma")
_SYMOPS = ("_space_group_symop_operation_xyz", "_symmetry_equiv_pos_as_xyz")
_HM = ("_space_group_name_H-M_alt", "_symmetry_space_group_name_H-M")
_NUMBER = ("_space_group_IT_number", "_symmetry_Int_Tables_number")
_NUM = re.compile(r"^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(\(\d+\))?\s*$")


def _number(value, item, where):
    """Float from a CIF value such as ``8.244(3)``; CIFError otherwise."""
    if isinstance(value, list):
        value = value[0] if value else "?"
    m = _NUM.match(str(value))
    if not m:
        raise CIFError(f"{where}: {item} = {value!r} is not a number.")
    return float(m.group(1))


def _first(block, names):
    for n in names:
        v = block.get(n)
        if v is not None and v not in ("?", "."):
            return n, v
    return None, None


def parse_symmetry_operation(text):
    """Matrix ``R`` and translation ``t`` of a CIF symmetry operation.

    Parameters
    ----------
    text : str
        An operation as written in ``_symmetry_equiv_pos_as_xyz``, e.g.
        ``"-x+1/2, y, z+1/2"`` or ``"x-y,x,-z"``.

    Returns
    -------
    R : numpy.ndarray, shape (3, 3)
    t : numpy.ndarray, shape (3,)
        ``x' = R x + t`` on fractional coordinates.

    Raises
    ------
    CIFError
        If the text is not three linear expressions in x, y, z.

    Examples
    --------
    >>> from hyperspy_perovskite.crystallography.cif import parse_symmetry_operation
    >>> R, t = parse_symmetry_operation("-x+1/2, y, z+1/2")
    >>> R.tolist(), t.tolist()
    ([[-1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], [0.5, 0.0, 0.5])
    """
    parts = str(text).strip().strip("'\"").lower().replace(" ", "").split(",")
    bad = CIFError(
        f"Cannot read the symmetry operation {text!r}: expected three "
        "comma-separated expressions in x, y, z such as '-x+1/2, y, z+1/2'."
    )
    if len(parts) != 3:
        raise bad
    R = np.zeros((3, 3))
    t = np.zeros(3)
    term = re.compile(r"([+-]?)(\d*\.?\d*(?:/\d+)?)\*?([xyz]?)")
    for i, expr in enumerate(parts):
        if not expr:
            raise bad
        pos = 0
        while pos < len(expr):
            m = term.match(expr, pos)
            if m is None or m.end() == pos or not (m.group(2) or m.group(3)):
                raise bad
            sign = -1.0 if m.group(1) == "-" else 1.0
            num = m.group(2)
            if num:
                if "/" in num:
                    a, b = num.split("/")
                    if not a or float(b) == 0:
                        raise bad
                    val = float(a) / float(b)
                else:
                    val = float(num)
            else:
                val = 1.0
            if m.group(3):
                R[i, "xyz".index(m.group(3))] += sign * val
            else:
                t[i] += sign * val
            pos = m.end()
    if abs(abs(np.linalg.det(R)) - 1.0) > 1e-6:
        raise CIFError(
            f"The symmetry operation {text!r} is not a crystallographic "
            f"operation (|det R| = {abs(np.linalg.det(R)):.3g}, expected 1)."
        )
    return R, t


def _symmetry(block, where):
    """(space-group label, explicit operations or ())."""
    _, hm = _first(block, _HM)
    _, number = _first(block, _NUMBER)
    hm = None if hm is None else " ".join(str(hm).split())
    label = hm or (f"No. {number}" if number is not None else None)
    item, ops = _first(block, _SYMOPS)
    if ops is not None:
        ops = ops if isinstance(ops, list) else [ops]
        parsed = [parse_symmetry_operation(o) for o in ops]
        # keep the translations in [0, 1)
        out = tuple(
            (
                tuple(tuple(float(v) for v in row) for row in R),
                tuple(float(v) for v in np.mod(t, 1.0)),
            )
            for R, t in parsed
        )
        if not any(np.allclose(R, np.eye(3)) and np.allclose(t, 0) for R, t in parsed):
            raise CIFError(
                f"{where}: the symmetry operations listed in {item} do not "
                "include the identity 'x, y, z'; the list is incomplete."
            )
        return label or "from CIF operations", out
    from diffpy.structure.spacegroups import GetSpaceGroup

    for key in (hm, hm.replace(" ", "") if hm else None, number):
        if key is None:
            continue
        try:
            sg = GetSpaceGroup(int(key) if key is number else key)
        except Exception:
            continue
        return sg.short_name if key is number else hm, ()
    if label is None:
        raise CIFError(
            f"{where}: no symmetry: give the operations "
            "(_space_group_symop_operation_xyz or _symmetry_equiv_pos_as_xyz) "
            "or the space group (_symmetry_space_group_name_H-M or "
            "_space_group_IT_number). For no symmetry at all write "
            "_space_group_IT_number 1."
        )
    raise CIFError(
        f"{where}: space group {label!r} is not known to diffpy.structure; list "
        "its symmetry operations in the CIF (_symmetry_equiv_pos_as_xyz)."
    )


def _element(symbol, label):
    txt = symbol if symbol not in (None, "?", ".") else label
    m = re.match(r"^([A-Za-z][a-z]?)", str(txt))
    if not m:
        return None
    el = m.group(1)
    el = el[0].upper() + el[1:].lower()
    return "H" if el == "D" else el


def _sites(block, where):
    xs = block.get("_atom_site_fract_x")
    if xs is None:
        if block.get("_atom_site_cartn_x") is not None:
            raise CIFError(
                f"{where}: atom sites are given in Cartesian coordinates "
                "(_atom_site_Cartn_x); fractional coordinates "
                "(_atom_site_fract_x/y/z) are needed."
            )
        return (), ()
    cols = {}
    for k in ("_atom_site_fract_x", "_atom_site_fract_y", "_atom_site_fract_z"):
        v = block.get(k)
        if v is None:
            raise CIFError(f"{where}: the atom-site loop has no {k} column.")
        cols[k] = v if isinstance(v, list) else [v]
    n = len(cols["_atom_site_fract_x"])
    labels = block.get("_atom_site_label") or [f"site{i + 1}" for i in range(n)]
    labels = labels if isinstance(labels, list) else [labels]
    types = block.get("_atom_site_type_symbol") or [None] * n
    types = types if isinstance(types, list) else [types]
    occ = block.get("_atom_site_occupancy") or ["1"] * n
    occ = occ if isinstance(occ, list) else [occ]
    b_iso = _displacements(block, labels, n, where)
    from diffsims.utils.atomic_scattering_params import ATOMIC_SCATTERING_PARAMS

    atoms = []
    for i in range(n):
        lab = labels[i]
        el = _element(types[i], lab)
        if el not in ATOMIC_SCATTERING_PARAMS:
            raise CIFError(
                f"{where}: site {lab!r}: element {types[i] or lab!r} is not a "
                "chemical element with an electron scattering factor; set "
                "_atom_site_type_symbol (e.g. 'Pb', 'Br1-')."
            )
        xyz = [
            _number(cols[k][i], k, f"{where}, site {lab!r}")
            for k in ("_atom_site_fract_x", "_atom_site_fract_y", "_atom_site_fract_z")
        ]
        o = 1.0 if occ[i] in ("?", ".") else _number(occ[i], "occupancy", where)
        if not 0 < o <= 1.0 + 1e-6:
            raise CIFError(
                f"{where}: site {lab!r} has occupancy {o}; it must be in (0, 1]."
            )
        atoms.append((el, *xyz, o))
    return tuple(atoms), b_iso


def _displacements(block, labels, n, where):
    """B (angstrom^2) per site from U_iso/B_iso or the trace of U_ij."""
    u = block.get("_atom_site_u_iso_or_equiv")
    b = block.get("_atom_site_b_iso_or_equiv")
    out = [None] * n
    for vals, factor in ((u, 8 * np.pi**2), (b, 1.0)):
        if vals is None:
            continue
        vals = vals if isinstance(vals, list) else [vals]
        for i, v in enumerate(vals):
            if out[i] is None and v not in ("?", "."):
                out[i] = factor * _number(v, "U_iso/B_iso", where)
    aniso = block.get("_atom_site_aniso_label")
    if aniso is not None and any(v is None for v in out):
        aniso = aniso if isinstance(aniso, list) else [aniso]
        us = [block.get(f"_atom_site_aniso_u_{k}") for k in ("11", "22", "33")]
        if all(x is not None for x in us):
            us = [x if isinstance(x, list) else [x] for x in us]
            for j, lab in enumerate(aniso):
                if lab in labels and out[labels.index(lab)] is None:
                    ueq = np.mean([_number(x[j], "U_aniso", where) for x in us])
                    out[labels.index(lab)] = 8 * np.pi**2 * ueq
    if all(v is None for v in out):
        return ()
    return tuple(0.0 if v is None else float(v) for v in out)


def _provenance(block, block_name, filename):
    parts = []
    authors = block.get("_publ_author_name")
    if authors:
        authors = authors if isinstance(authors, list) else [authors]
        parts.append(authors[0] + (" et al." if len(authors) > 1 else ""))
    journal = [
        str(block.get(k))
        for k in (
            "_journal_name_full",
            "_journal_volume",
            "_journal_page_first",
            "_journal_year",
        )
        if block.get(k) not in (None, "?", ".")
    ]
    if journal:
        parts.append(" ".join(journal))
    doi = block.get("_journal_paper_doi")
    if doi not in (None, "?", "."):
        parts.append(f"doi:{doi}")
    parts.append(f"read from CIF {os.path.basename(filename)} (data_{block_name})")
    temp = _first(
        block, ("_cell_measurement_temperature", "_diffrn_ambient_temperature")
    )
    note = ""
    if temp[1] is not None:
        note = f"Measured at {temp[1]} K."
    return ", ".join(parts), note


def _pick_block(cf, block, filename):
    names = list(cf.keys())
    with_cell = [k for k in names if cf[k].get("_cell_length_a") is not None]
    if block is not None:
        key = str(block).removeprefix("data_").lower()
        match = [k for k in names if k.lower() == key]
        if not match:
            raise CIFError(
                f"{filename}: no data block {block!r}; blocks: "
                f"{', '.join(names) or 'none'}."
            )
        return match[0]
    if len(with_cell) == 1:
        return with_cell[0]
    if not with_cell:
        raise CIFError(
            f"{filename}: no data block has a unit cell (_cell_length_a); this "
            "is not a crystal-structure CIF."
        )
    raise CIFError(
        f"{filename}: {len(with_cell)} data blocks hold a structure "
        f"({', '.join(with_cell)}); choose one with block='...'."
    )


def read_cif(filename, name=None, *, block=None):
    """Read a crystal structure from a CIF file into a :class:`Phase`.

    Parameters
    ----------
    filename : str or os.PathLike
        Path of the CIF file.
    name : str, optional
        Name of the phase (default: the data block name). Use it to tell
        several CIFs of one compound apart, e.g. ``"CsPbBr3-403K"``.
    block : str, optional
        Data block to read when the file holds several structures.

    Returns
    -------
    Phase
        With ``symmetry_operations`` as listed in the file (or empty when
        the file names only the space group), the asymmetric unit in
        ``atoms``, per-site ``b_iso`` and the file's reference in
        ``source``. Pass it (or its name, after :func:`add_phase`) to
        :func:`~.reflections.reflection_families`, :func:`~.indexing.index_rings`,
        :func:`~.indexing.score_phases` and the signal methods.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    CIFError
        (a ``ValueError``) for a file that is not valid CIF syntax (with the
        parser's position), a missing or non-numeric cell parameter, a cell
        with no volume, missing symmetry, an unreadable symmetry operation,
        an unknown element or an occupancy outside (0, 1].

    Examples
    --------
    >>> import tempfile, os
    >>> from hyperspy_perovskite.crystallography import read_cif, reflection_families
    >>> text = '''data_cubic_CsPbBr3
    ... _cell_length_a 5.874
    ... _cell_length_b 5.874
    ... _cell_length_c 5.874
    ... _symmetry_space_group_name_H-M 'P m -3 m'
    ... loop_
    ... _atom_site_label
    ... _atom_site_fract_x
    ... _atom_site_fract_y
    ... _atom_site_fract_z
    ... Pb1 0 0 0
    ... Br1 0.5 0 0
    ... Cs1 0.5 0.5 0.5
    ... '''
    >>> path = os.path.join(tempfile.mkdtemp(), "CsPbBr3.cif")
    >>> with open(path, "w") as f:
    ...     _ = f.write(text)
    >>> ph = read_cif(path)
    >>> ph.name, ph.space_group, len(ph.atoms)
    ('cubic_CsPbBr3', 'P m -3 m', 3)
    >>> [f.label for f in reflection_families(ph, d_min=2.8)]
    ['001', '011', '111', '002']
    """
    import CifFile

    filename = os.fspath(filename)
    if not os.path.isfile(filename):
        raise FileNotFoundError(f"CIF file {filename!r} does not exist.")
    try:
        cf = CifFile.ReadCif(filename)
    except Exception as err:  # CifFile.StarError and parser errors
        msg = " ".join(str(err).split())
        raise CIFError(
            f"{filename} is not valid CIF syntax: {msg}. Check quotes, loop_ "
            "headers and that the file starts with a data_ block."
        ) from None
    key = _pick_block(cf, block, filename)
    blk = cf[key]
    with open(filename, encoding="utf-8", errors="replace") as f:
        # PyCifRW lower-cases block names; keep the file's spelling
        spelled = re.findall(r"(?im)^\s*data_(\S+)", f.read())
    key = next((b for b in spelled if b.lower() == key.lower()), key)
    where = f"{os.path.basename(filename)} (data_{key})"
    missing = [k for k in _CELL if blk.get(k) in (None, "?", ".")]
    if missing:
        raise CIFError(
            f"{where}: cell parameter(s) {', '.join(missing)} missing; a CIF "
            "needs _cell_length_a, _cell_length_b and _cell_length_c in angstrom."
        )
    abc = [_number(blk.get(k), k, where) for k in _CELL]
    angles = [
        90.0 if blk.get(k) in (None, "?", ".") else _number(blk.get(k), k, where)
        for k in _ANGLES
    ]
    if min(abc) <= 0 or not all(0 < x < 180 for x in angles):
        raise CIFError(
            f"{where}: cell lengths must be > 0 angstrom and angles in (0, 180) "
            f"degrees, got {abc} and {angles}."
        )
    ca, cb, cg = np.cos(np.radians(angles))
    if 1 - ca**2 - cb**2 - cg**2 + 2 * ca * cb * cg <= 1e-8:
        raise CIFError(f"{where}: the cell angles {angles} give no volume.")
    space_group, ops = _symmetry(blk, where)
    atoms, b_iso = _sites(blk, where)
    formula = blk.get("_chemical_formula_sum") or blk.get(
        "_chemical_formula_structural"
    )
    if formula in (None, "?", "."):
        formula = " ".join(sorted({a[0] for a in atoms}))
    source, note = _provenance(blk, key, filename)
    if not atoms:
        note = (note + " No atom sites in the CIF: no structure factors.").strip()
    return Phase(
        name or key,
        " ".join(str(formula).split()),
        *abc,
        *angles,
        space_group,
        atoms,
        source,
        note,
        symmetry_operations=ops,
        b_iso=b_iso,
    )
