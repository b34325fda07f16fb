"""The phase library: lattices, space groups and (where known) atom sites.

Every entry carries the literature source of its numbers (``source``). The
lattice parameters were entered from the cited references while writing this
module without database access; ``note`` says where a setting was changed or
where atom sites are idealised. Check an entry against its CIF before using
it for quantitative structure refinement; for ring and spot indexing (errors
of 0.1 % in a lattice parameter shift a ring by far less than its width) they
are adequate.

Atom sites are given as the asymmetric unit ``(element, x, y, z, occupancy)``;
the full cell is generated from the space group's symmetry operations
(:mod:`hyperspy_perovskite.crystallography.reflections`). Phases without
atom sites still give allowed reflections and d-spacings, but no structure
factors.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "CSPBBR3_POLYMORPHS",
    "Phase",
    "add_phase",
    "get_phase",
    "list_phases",
    "PHASES",
]


@dataclass(frozen=True)
class Phase:
    """One crystalline phase.

    Parameters
    ----------
    name : str
        Library key, e.g. ``"alpha-FAPbI3"``.
    formula : str
    a, b, c : float
        Lattice parameters in angstrom.
    alpha, beta, gamma : float
        Cell angles in degrees.
    space_group : str
        Hermann-Mauguin symbol as understood by ``diffpy.structure``
        (``"H-3c"`` is R-3c in the hexagonal setting).
    atoms : tuple
        Asymmetric unit, ``(element, x, y, z, occupancy)``; may be empty.
    source : str
        Literature reference of the lattice (and atom sites).
    note : str
        Settings, idealisations, temperature.
    symmetry_operations : tuple, optional
        Explicit symmetry operations ``((R, t), ...)`` (``R`` a 3x3 nested
        tuple acting on fractional coordinates, ``t`` a 3-tuple), as listed in
        a CIF. When given they are used instead of looking ``space_group`` up,
        so any setting (e.g. ``P 1 21/n 1`` or ``Pbnm``) works. Empty for the
        library phases.
    b_iso : tuple of float, optional
        Isotropic displacement (Debye-Waller) factor ``B = 8 pi^2 U_iso`` in
        angstrom^2 of each atom of ``atoms`` (same order); empty means 0.

    Examples
    --------
    A phase can be typed in, read from a CIF (:meth:`from_cif`) or taken
    from the library (:func:`get_phase`):

    >>> from hyperspy_perovskite.crystallography import Phase, reflection_families
    >>> nacl = Phase("NaCl", "NaCl", 5.640, 5.640, 5.640, 90, 90, 90, "Fm-3m",
    ...              (("Na", 0, 0, 0, 1.0), ("Cl", 0.5, 0.5, 0.5, 1.0)))
    >>> [f.label for f in reflection_families(nacl, d_min=2.0)]
    ['111', '002']
    """

    name: str
    formula: str
    a: float
    b: float
    c: float
    alpha: float
    beta: float
    gamma: float
    space_group: str
    atoms: tuple = field(default=())
    source: str = ""
    note: str = ""
    symmetry_operations: tuple = field(default=(), repr=False)
    b_iso: tuple = field(default=(), repr=False)

    def __post_init__(self):
        if self.b_iso and len(self.b_iso) != len(self.atoms):
            raise ValueError(
                f"Phase {self.name!r}: b_iso has {len(self.b_iso)} values for "
                f"{len(self.atoms)} atom sites; give one B (angstrom^2) per site "
                "or none."
            )

    @property
    def has_atoms(self):
        """True when atom sites are known (structure factors can be computed)."""
        return len(self.atoms) > 0

    @classmethod
    def from_cif(cls, filename, name=None, *, block=None):
        """Read a phase from a CIF file; see :func:`~.cif.read_cif`.

        Examples
        --------
        >>> from hyperspy_perovskite.crystallography import Phase
        >>> Phase.from_cif("no_such_file.cif")  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        FileNotFoundError: CIF file 'no_such_file.cif' does not exist.
        """
        from hyperspy_perovskite.crystallography.cif import read_cif

        return read_cif(filename, name, block=block)


def _cubic(name, formula, a, sg, atoms, source, note=""):
    return Phase(name, formula, a, a, a, 90.0, 90.0, 90.0, sg, atoms, source, note)


# Ideal cubic perovskite ABX3 (Pm-3m): B at 1a (0,0,0), X at 3d (1/2,0,0),
# A at 1b (1/2,1/2,1/2).
PHASES = {
    p.name: p
    for p in (
        _cubic(
            "alpha-FAPbI3",
            "HC(NH2)2PbI3",
            6.3620,
            "Pm-3m",
            (
                ("Pb", 0.0, 0.0, 0.0, 1.0),
                ("I", 0.5, 0.0, 0.0, 1.0),
                # Disordered formamidinium approximated by C + 2 N at the
                # cage centre (hydrogen neglected).
                ("C", 0.5, 0.5, 0.5, 1.0),
                ("N", 0.5, 0.5, 0.5, 2.0),
            ),
            "M. T. Weller et al., Chem. Commun. 51, 4180 (2015): cubic "
            "alpha-[HC(NH2)2]PbI3 at 298 K, a = 6.3620(8) A. “Imaging real-time amorphization of hybrid perovskite solar cells under electrical biasing” quotes "
            "the perovskite (001) spacing as 6.36 A.",
            "FA cation placed at the cube centre as C + 2N (orientational disorder).",
        ),
        Phase(
            "MAPbI3",
            "CH3NH3PbI3",
            8.855,
            8.855,
            12.659,
            90.0,
            90.0,
            90.0,
            "I4/mcm",
            (),
            "A. Poglitsch and D. Weber, J. Chem. Phys. 87, 6373 (1987): "
            "tetragonal CH3NH3PbI3 at room temperature, I4/mcm, a = 8.855 A, "
            "c = 12.659 A.",
            "Tetragonal room-temperature phase; atom sites not included.",
        ),
        _cubic(
            "alpha-CsPbI3",
            "CsPbI3",
            6.2894,
            "Pm-3m",
            (
                ("Pb", 0.0, 0.0, 0.0, 1.0),
                ("I", 0.5, 0.0, 0.0, 1.0),
                ("Cs", 0.5, 0.5, 0.5, 1.0),
            ),
            "D. M. Trots and S. V. Myagkota, J. Phys. Chem. Solids 69, 2520 "
            "(2008): cubic alpha-CsPbI3 at 634 K, a = 6.2894(1) A.",
            "High-temperature cubic phase.",
        ),
        Phase(
            "gamma-CsPbI3",
            "CsPbI3",
            8.6185,
            8.8191,
            12.5017,
            90.0,
            90.0,
            90.0,
            "Pbnm",
            (),
            "A. Marronnier et al., ACS Nano 12, 3477 (2018): orthorhombic "
            "gamma-CsPbI3 at 325 K, Pbnm, a = 8.6185, b = 8.8191, c = 12.5017 A.",
            "Pbnm setting of Pnma (No. 62) as published; atom sites not included.",
        ),
        Phase(
            "delta-CsPbI3",
            "CsPbI3",
            10.4342,
            4.7905,
            17.761,
            90.0,
            90.0,
            90.0,
            "Pnma",
            (),
            "R. J. Sutton et al., ACS Energy Lett. 3, 1787 (2018): yellow "
            "non-perovskite delta-CsPbI3 at room temperature, Pnma, "
            "a = 10.4342, b = 4.7905, c = 17.761 A.",
            "Atom sites not included.",
        ),
        Phase(
            "CsPbBr3",
            "CsPbBr3",
            8.244,
            11.735,
            8.198,
            90.0,
            90.0,
            90.0,
            "Pnma",
            (),
            "C. C. Stoumpos et al., Cryst. Growth Des. 13, 2722 (2013): "
            "orthorhombic CsPbBr3 at room temperature, Pnma, a = 8.244, "
            "b = 11.735, c = 8.198 A.",
            "Room-temperature orthorhombic phase: -> tetragonal at 88 C -> cubic "
            "at 130 C (M. Rodova, J. Brozek, K. Knizek and K. Nitsch, J. Therm. "
            "Anal. Calorim. 71, 667 (2003); about 90 and 133 C as quoted by L. "
            "Hao and S. Cai, Microstructures 5, 2025012 (2025)). Atom sites not "
            "included: read a CIF (read_cif) for structure factors.",
        ),
        Phase(
            "tetragonal-CsPbBr3",
            "CsPbBr3",
            8.26,
            8.26,
            5.89,
            90.0,
            90.0,
            90.0,
            "P4/mbm",
            (),
            "Tetragonal CsPbBr3 between 88 and 130 C, P4/mbm (a0a0c+ octahedral "
            "tilt; sqrt(2) a_p x sqrt(2) a_p x a_p cell): M. Rodova, J. Brozek, "
            "K. Knizek and K. Nitsch, J. Therm. Anal. Calorim. 71, 667 (2003); "
            "transition temperatures also in C. C. Stoumpos et al., Cryst. Growth "
            "Des. 13, 2722 (2013).",
            "Lattice given to 0.01 A only (entered without database access; "
            "a / sqrt(2) and c lie between the orthorhombic pseudo-cubic cell of "
            "Stoumpos et al. and the cubic cell of Moller); verify against a CIF "
            "(read_cif) before quantitative use. Atom sites not included.",
        ),
        _cubic(
            "cubic-CsPbBr3",
            "CsPbBr3",
            5.874,
            "Pm-3m",
            (
                ("Pb", 0.0, 0.0, 0.0, 1.0),
                ("Br", 0.5, 0.0, 0.0, 1.0),
                ("Cs", 0.5, 0.5, 0.5, 1.0),
            ),
            "C. K. Moller, Nature 182, 1436 (1958): cubic CsPbBr3 above 130 C, "
            "a = 5.874 A (transition temperatures: Rodova et al., J. Therm. "
            "Anal. Calorim. 71, 667 (2003)).",
            "High-temperature cubic phase.",
        ),
        Phase(
            "PbI2",
            "PbI2",
            4.557,
            4.557,
            6.979,
            90.0,
            90.0,
            120.0,
            "P-3m1",
            (("Pb", 0.0, 0.0, 0.0, 1.0), ("I", 1 / 3, 2 / 3, 0.265, 1.0)),
            "R. W. G. Wyckoff, Crystal Structures vol. 1 (1963) and JCPDS "
            "07-0235: 2H-PbI2 (CdI2 type), P-3m1, a = 4.557, c = 6.979 A. "
            "“Imaging real-time amorphization of hybrid perovskite solar cells under electrical biasing” quotes PbI2 (001) as 6.96 A.",
            "CdI2-type sites; I z = 0.265 (idealised value 1/4 in CdI2).",
        ),
        Phase(
            "PbBr2",
            "PbBr2",
            8.059,
            4.7319,
            9.540,
            90.0,
            90.0,
            90.0,
            "Pnma",
            (),
            "PbCl2 (cotunnite) type PbBr2, Pnma; a = 805.90, b = 954.0, "
            "c = 473.19 pm as tabulated in Wikipedia 'Lead(II) bromide' "
            "(chembox, ref. 3).",
            "Axes re-ordered to the standard Pnma setting of cotunnite "
            "(short axis = b); atom sites not included.",
        ),
        _cubic(
            "Pb",
            "Pb",
            4.9502,
            "Fm-3m",
            (("Pb", 0.0, 0.0, 0.0, 1.0),),
            "R. W. G. Wyckoff, Crystal Structures vol. 1 (1963); JCPDS "
            "04-0686: fcc lead, a = 4.9502 A.",
        ),
        _cubic(
            "Al",
            "Al",
            4.0495,
            "Fm-3m",
            (("Al", 0.0, 0.0, 0.0, 1.0),),
            "R. W. G. Wyckoff, Crystal Structures vol. 1 (1963); JCPDS "
            "04-0787: fcc aluminium, a = 4.0495 A (the Al cathode of perovskite "
            'LEDs in "Multimodal electron microscopy of halide perovskite '
            'interfacial dynamics", Nature (2026), '
            "doi:10.1038/s41586-026-10238-8).",
        ),
        Phase(
            "Cs4PbI6",
            "Cs4PbI6",
            14.50,
            14.50,
            18.30,
            90.0,
            90.0,
            120.0,
            "H-3c",
            (),
            "K4CdCl6-type Cs4PbI6, R-3c (hexagonal axes), a = 14.50, c = 18.30 A "
            "(approximate values of the Cs4PbX6 literature, e.g. review 000 for "
            "its formation from CsPbI3 at 300 C).",
            "Lattice given to 0.01 A only; verify against a CIF before "
            "quantitative use. Atom sites not included.",
        ),
        Phase(
            "CsPb2Br5",
            "CsPb2Br5",
            8.48,
            8.48,
            15.25,
            90.0,
            90.0,
            90.0,
            "I4/mcm",
            (),
            "JCPDS 25-0211: tetragonal CsPb2Br5, I4/mcm, a = 8.48, c = 15.25 A "
            "(also I. Dursun et al., ChemSusChem 10, 3746 (2017)).",
            "Atom sites not included.",
        ),
        Phase(
            "AlCl3",
            "AlCl3",
            5.93,
            10.24,
            6.17,
            90.0,
            108.0,
            90.0,
            "C2/m",
            (),
            "J. A. A. Ketelaar, C. H. MacGillavry and P. A. Renes, Rec. Trav. "
            "Chim. 66, 501 (1947): monoclinic AlCl3, C2/m, a = 5.93, b = 10.24, "
            "c = 6.17 A, beta = 108 deg (AFLOW prototype AB3_mC16_12_g_ij). "
            "Forms at the Al cathode of perovskite LEDs (Nature (2026), doi:10.1038/s41586-026-10238-8).",
            "Atom sites not included.",
        ),
    )
}


#: CsPbBr3 polymorphs on heating: (library name, space group, stable from,
#: stable to) in degrees C. M. Rodova, J. Brozek, K. Knizek and K. Nitsch,
#: J. Therm. Anal. Calorim. 71, 667 (2003): orthorhombic -> tetragonal at
#: 88 C, tetragonal -> cubic at 130 C.
CSPBBR3_POLYMORPHS = (
    ("CsPbBr3", "Pnma", -273.15, 88.0),
    ("tetragonal-CsPbBr3", "P4/mbm", 88.0, 130.0),
    ("cubic-CsPbBr3", "Pm-3m", 130.0, 567.0),
)


def list_phases():
    """Names of the phases in the library.

    Examples
    --------
    >>> from hyperspy_perovskite.crystallography import list_phases
    >>> "alpha-FAPbI3" in list_phases()
    True
    """
    return sorted(PHASES)


def get_phase(phase):
    """A :class:`Phase` from its library name (or the phase itself).

    Raises
    ------
    ValueError
        For an unknown name (the message lists the known ones).
    TypeError
        If ``phase`` is neither a string nor a :class:`Phase`.

    Examples
    --------
    >>> from hyperspy_perovskite.crystallography import get_phase
    >>> get_phase("PbI2").c
    6.979
    """
    if isinstance(phase, Phase):
        return phase
    if not isinstance(phase, str):
        raise TypeError(
            f"phase must be a library name (str) or a Phase, got {type(phase).__name__}."
        )
    try:
        return PHASES[phase]
    except KeyError:
        raise ValueError(
            f"Unknown phase {phase!r}; known phases: {', '.join(list_phases())}."
        ) from None


def add_phase(phase, overwrite=False):
    """Add a phase (e.g. read from a user's CIF) to the library by its name.

    Once added, the name works everywhere a library name does (indexing,
    ranking, signal methods, metadata written by them). The library lives
    for the Python session only; keep the CIF to add it again.

    Parameters
    ----------
    phase : Phase
    overwrite : bool
        Replace a phase of the same name. Library phases can be replaced only
        with ``overwrite=True``.

    Returns
    -------
    Phase
        The phase added.

    Raises
    ------
    ValueError
        If the name is taken and ``overwrite`` is False.

    Examples
    --------
    >>> from hyperspy_perovskite.crystallography import (
    ...     PHASES, Phase, add_phase, get_phase)
    >>> p = Phase("my-Pb", "Pb", 4.95, 4.95, 4.95, 90, 90, 90, "Fm-3m",
    ...           (("Pb", 0, 0, 0, 1.0),), source="typed in for this example")
    >>> _ = add_phase(p)
    >>> get_phase("my-Pb").a
    4.95
    >>> _ = PHASES.pop("my-Pb")  # remove it again
    """
    if not isinstance(phase, Phase):
        raise TypeError(f"add_phase needs a Phase, got {type(phase).__name__}.")
    if phase.name in PHASES and not overwrite and PHASES[phase.name] != phase:
        raise ValueError(
            f"A phase named {phase.name!r} is already in the library; pass "
            "overwrite=True to replace it or give the new phase another name "
            "(read_cif(..., name='...'))."
        )
    PHASES[phase.name] = phase
    return phase
