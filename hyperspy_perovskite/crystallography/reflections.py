"""Allowed reflections of a phase: {hkl} families, d-spacings, multiplicities
and kinematic structure factors.

Systematic absences follow from the space group's symmetry operations
(``diffpy.structure``): a reflection ``h`` is absent when some operation
``(R, t)`` leaves it invariant (``h R = h``) with a non-integer phase ``h.t``.
Families are orbits of ``h`` under the Laue group (the point group plus
Friedel's law, which holds for kinematic electron scattering).

Structure factors use the electron atomic scattering factors of
International Tables for Crystallography Vol. C, Table 4.3.2.3 (five-Gaussian
fits, as shipped with diffsims): ``f(s) = sum_i a_i exp(-b_i s^2)`` with
``s = 1 / (2 d)``; ``F(h) = sum_j occ_j f_j(s) exp(2 pi i h.x_j)
exp(-B s^2)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from hyperspy_perovskite.crystallography.phases import get_phase

__all__ = [
    "ReflectionFamily",
    "reflection_families",
    "d_spacing",
    "interplanar_angle",
    "parse_hkl",
    "hkl_label",
]


@dataclass(frozen=True)
class ReflectionFamily:
    """One {hkl} family of allowed reflections.

    Attributes
    ----------
    hkl : tuple of int
        Representative indices (the smallest non-negative member).
    d : float
        Interplanar spacing in angstrom.
    multiplicity : int
        Number of reflections in the family (Laue group orbit).
    structure_factor : float or None
        ``|F(hkl)|`` in angstrom (electron scattering factors), None when the
        phase has no atom sites.
    intensity : float or None
        Kinematic ring intensity ``multiplicity * |F|^2`` (angstrom^2).
    """

    hkl: tuple
    d: float
    multiplicity: int
    structure_factor: float | None
    intensity: float | None

    @property
    def g(self):
        """Reciprocal spacing ``1 / d`` in 1/angstrom."""
        return 1.0 / self.d

    @property
    def label(self):
        """Compact label, e.g. ``"001"`` or ``"1,-1,0"``."""
        return hkl_label(self.hkl)


def hkl_label(hkl):
    """Compact label of Miller indices.

    Examples
    --------
    >>> from hyperspy_perovskite.crystallography import hkl_label
    >>> hkl_label((0, 0, 1)), hkl_label((1, -1, 10))
    ('001', '1,-1,10')
    """
    h = tuple(int(v) for v in hkl)
    if all(0 <= v <= 9 for v in h):
        return "".join(str(v) for v in h)
    return ",".join(str(v) for v in h)


def parse_hkl(hkl):
    """Miller indices from ``"001"``, ``"1,-1,0"``, ``"(1 1 1)"`` or a 3-sequence.

    Raises
    ------
    ValueError
        If the input does not describe three integers, or is (0, 0, 0).

    Examples
    --------
    >>> from hyperspy_perovskite.crystallography import parse_hkl
    >>> parse_hkl("002"), parse_hkl("(1 -1 0)"), parse_hkl([1, 1, 1])
    ((0, 0, 2), (1, -1, 0), (1, 1, 1))
    """
    if isinstance(hkl, str):
        txt = hkl.strip().strip("(){}[]").replace(",", " ").split()
        if len(txt) == 1 and txt[0].isdigit() and len(txt[0]) == 3:
            txt = list(txt[0])
        try:
            out = tuple(int(v) for v in txt)
        except ValueError:
            out = ()
    else:
        try:
            vals = list(hkl)
            out = tuple(int(v) for v in vals)
            if any(int(v) != v for v in vals):
                out = ()
        except (TypeError, ValueError):
            out = ()
    if len(out) != 3 or out == (0, 0, 0):
        raise ValueError(
            f"Cannot read Miller indices from {hkl!r}: give three integers, not "
            "all zero, e.g. '001', '1,-1,0' or (1, 1, 1)."
        )
    return out


def _metric(phase):
    a, b, c = phase.a, phase.b, phase.c
    al, be, ga = np.radians([phase.alpha, phase.beta, phase.gamma])
    G = np.array(
        [
            [a * a, a * b * np.cos(ga), a * c * np.cos(be)],
            [a * b * np.cos(ga), b * b, b * c * np.cos(al)],
            [a * c * np.cos(be), b * c * np.cos(al), c * c],
        ]
    )
    return G, np.linalg.inv(G)


def d_spacing(phase, hkl):
    """Interplanar spacing (angstrom) of ``hkl`` in ``phase`` (no absence check).

    Examples
    --------
    >>> from hyperspy_perovskite.crystallography import d_spacing
    >>> round(d_spacing("alpha-FAPbI3", "001"), 3)
    6.362
    """
    phase = get_phase(phase)
    h = np.asarray(parse_hkl(hkl), dtype=float)
    _, Gs = _metric(phase)
    return float(1.0 / np.sqrt(h @ Gs @ h))


def interplanar_angle(phase, hkl1, hkl2):
    """Angle (degrees) between the reciprocal vectors of two reflections.

    Examples
    --------
    >>> from hyperspy_perovskite.crystallography import interplanar_angle
    >>> round(interplanar_angle("alpha-FAPbI3", "001", "011"), 1)
    45.0
    """
    phase = get_phase(phase)
    _, Gs = _metric(phase)
    h1 = np.asarray(parse_hkl(hkl1), dtype=float)
    h2 = np.asarray(parse_hkl(hkl2), dtype=float)
    c = (h1 @ Gs @ h2) / np.sqrt((h1 @ Gs @ h1) * (h2 @ Gs @ h2))
    return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))


@lru_cache(maxsize=64)
def _symops(space_group):
    from diffpy.structure.spacegroups import GetSpaceGroup

    try:
        sg = GetSpaceGroup(space_group)
    except Exception as err:  # diffpy raises its own ValueError subclass
        raise ValueError(f"Unknown space group {space_group!r}: {err}") from None
    R = np.array([op.R for op in sg.symop_list])
    t = np.array([op.t for op in sg.symop_list])
    return R, t


def _phase_symops(phase):
    """Symmetry operations (R, t) of a phase: explicit ones (CIF) first."""
    if phase.symmetry_operations:
        R = np.array([op[0] for op in phase.symmetry_operations], dtype=float)
        t = np.array([op[1] for op in phase.symmetry_operations], dtype=float)
        return R, t
    return _symops(phase.space_group)


def _b_factors(phase):
    if phase.b_iso:
        return [float(b) for b in phase.b_iso]
    return [0.0] * len(phase.atoms)


def _full_cell(phase):
    R, t = _phase_symops(phase)
    sites = []
    for (el, x, y, z, occ), b in zip(phase.atoms, _b_factors(phase), strict=True):
        pos = (R @ np.array([x, y, z]) + t) % 1.0
        pos[np.isclose(pos, 1.0, atol=1e-6)] = 0.0
        uniq = []
        for p in pos:
            if not any(np.allclose(p, q, atol=1e-4) for q in uniq):
                uniq.append(p)
        sites.extend((el, p, occ, b) for p in uniq)
    return sites


def _scattering_factor(element, s2):
    from diffsims.utils.atomic_scattering_params import ATOMIC_SCATTERING_PARAMS

    try:
        coeffs = np.asarray(ATOMIC_SCATTERING_PARAMS[element])
    except KeyError:
        raise ValueError(
            f"No electron scattering factor for element {element!r}."
        ) from None
    return np.sum(coeffs[:, 0] * np.exp(-np.outer(s2, coeffs[:, 1])), axis=1)


def structure_factors(phase, hkl, debye_waller=None):
    """Complex kinematic structure factors ``F(hkl)`` (angstrom).

    Parameters
    ----------
    phase : str or Phase
    hkl : array-like, shape (n, 3)
    debye_waller : float, optional
        Isotropic B factor in angstrom^2 applied to every atom. None (default)
        uses each site's own ``Phase.b_iso`` (from a CIF's ``U_iso`` or
        ``B_iso``), 0 where the phase has none.

    Raises
    ------
    ValueError
        If the phase has no atom sites.

    Examples
    --------
    >>> from hyperspy_perovskite.crystallography.reflections import structure_factors
    >>> F = structure_factors("Pb", [[1, 0, 0], [1, 1, 1]])
    >>> bool(abs(F[0]) < 1e-9), bool(abs(F[1]) > 1)
    (True, True)
    """
    phase = get_phase(phase)
    if not phase.has_atoms:
        raise ValueError(
            f"Phase {phase.name!r} has no atom sites in the library, so no "
            "structure factors; d-spacings and multiplicities are still available."
        )
    H = np.atleast_2d(np.asarray(hkl, dtype=float))
    _, Gs = _metric(phase)
    s2 = np.einsum("ni,ij,nj->n", H, Gs, H) / 4.0
    F = np.zeros(len(H), dtype=complex)
    for el, pos, occ, b in _full_cell(phase):
        b = b if debye_waller is None else float(debye_waller)
        F += (
            occ
            * _scattering_factor(el, s2)
            * np.exp(-b * s2)
            * np.exp(2j * np.pi * (H @ pos))
        )
    return F


def reflection_families(phase, d_min=1.0, d_max=np.inf, debye_waller=None):
    """All allowed {hkl} families of ``phase`` with ``d_min <= d <= d_max``.

    Parameters
    ----------
    phase : str or Phase
        Library name (:func:`list_phases`) or a :class:`Phase`.
    d_min, d_max : float
        Range of interplanar spacings in angstrom.
    debye_waller : float, optional
        Isotropic B factor (angstrom^2) for the structure factors; None uses
        the phase's own per-site values (``Phase.b_iso``, 0 if none).

    Returns
    -------
    list of ReflectionFamily
        Sorted by decreasing d. Families whose kinematic ``|F|`` vanishes by
        the atom positions alone (not by symmetry) are kept, with ``|F| ~ 0``.

    Examples
    --------
    >>> from hyperspy_perovskite.crystallography import reflection_families
    >>> fam = reflection_families("alpha-FAPbI3", d_min=3.0)
    >>> [(f.label, round(f.d, 2), f.multiplicity) for f in fam]
    [('001', 6.36, 6), ('011', 4.5, 12), ('111', 3.67, 8), ('002', 3.18, 6)]
    """
    phase = get_phase(phase)
    if not (np.isfinite(d_min) and d_min > 0 and d_max > d_min):
        raise ValueError(
            f"Need 0 < d_min < d_max (angstrom), got d_min={d_min}, d_max={d_max}."
        )
    _, Gs = _metric(phase)
    hmax = [int(np.floor(L / d_min)) for L in (phase.a, phase.b, phase.c)]
    if np.prod([2 * m + 1 for m in hmax]) > 2_000_000:
        raise ValueError(
            f"d_min={d_min} A gives too many reflections for {phase.name}; "
            "use a larger d_min."
        )
    grids = np.meshgrid(*[np.arange(-m, m + 1) for m in hmax], indexing="ij")
    H = np.stack([g.ravel() for g in grids], axis=1)
    H = H[np.any(H != 0, axis=1)]
    g2 = np.einsum("ni,ij,nj->n", H.astype(float), Gs, H.astype(float))
    d = 1.0 / np.sqrt(g2)
    keep = (d >= d_min) & (d <= d_max)
    H, d = H[keep], d[keep]
    R, t = _phase_symops(phase)
    absent = np.zeros(len(H), dtype=bool)
    members = []
    for Ri, ti in zip(R, t, strict=True):
        HR = np.rint(H @ Ri).astype(int)
        invariant = np.all(HR == H, axis=1)
        ph = H @ ti
        absent |= invariant & (np.abs(ph - np.rint(ph)) > 1e-6)
        members.append(HR)
        members.append(-HR)
    M = np.stack(members)  # (2 n_ops, n, 3)
    base = 2 * max(hmax) + 1
    off = max(hmax)
    code = ((M[..., 0] + off) * base + (M[..., 1] + off)) * base + (M[..., 2] + off)
    nonneg = np.all(M >= 0, axis=2)
    # representative: the smallest all-non-negative member, else the largest
    key = np.where(nonneg, code, 2 * base**3 - code)
    canon = key.min(axis=0)
    srt = np.sort(code, axis=0)
    mult = 1 + np.count_nonzero(np.diff(srt, axis=0), axis=0)
    H, d, canon, mult = H[~absent], d[~absent], canon[~absent], mult[~absent]
    _, first = np.unique(canon, return_index=True)
    reps = []
    for i in first:
        c = canon[i] if canon[i] < base**3 else 2 * base**3 - canon[i]
        rep = (c // base**2 - off, (c // base) % base - off, c % base - off)
        reps.append((rep, d[i], int(mult[i])))
    reps.sort(key=lambda r: (-r[1], r[0]))
    if phase.has_atoms and reps:
        F = np.abs(structure_factors(phase, [r[0] for r in reps], debye_waller))
    else:
        F = [None] * len(reps)
    out = []
    for (rep, dd, m), f in zip(reps, F, strict=True):
        fval = None if f is None else float(f)
        inten = None if f is None else float(m * f * f)
        out.append(
            ReflectionFamily(tuple(int(v) for v in rep), float(dd), m, fval, inten)
        )
    return out


def family_members(phase, hkl):
    """All reflections equivalent to ``hkl`` under the Laue group of ``phase``.

    Examples
    --------
    >>> from hyperspy_perovskite.crystallography.reflections import family_members
    >>> len(family_members("alpha-FAPbI3", "001"))
    6
    """
    phase = get_phase(phase)
    h = np.asarray(parse_hkl(hkl))
    R, _ = _phase_symops(phase)
    HR = np.rint(np.einsum("i,nij->nj", h, R)).astype(int)
    allm = np.concatenate([HR, -HR])
    return [tuple(int(v) for v in m) for m in np.unique(allm, axis=0)]
