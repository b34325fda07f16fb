"""Crystallography for indexing in situ diffraction of halide perovskites.

- :mod:`.phases`: the phase library (lattice, space group, atom sites, source);
- :mod:`.cif`: phases from the user's CIF files (:func:`read_cif`,
  :meth:`Phase.from_cif`, :func:`add_phase` to use them by name);
- :mod:`.reflections`: allowed {hkl} families, d-spacings, multiplicities and
  kinematic structure factors;
- :mod:`.wavelength`: relativistic electron wavelength (CODATA 2018);
- :mod:`.indexing`: ring and spot indexing against the library.
"""

from hyperspy_perovskite.crystallography.cif import CIFError, read_cif
from hyperspy_perovskite.crystallography.indexing import (
    PhaseScore,
    RingMatch,
    SpotMatch,
    index_rings,
    index_spots,
    score_phases,
)
from hyperspy_perovskite.crystallography.phases import (
    PHASES,
    Phase,
    add_phase,
    get_phase,
    list_phases,
)
from hyperspy_perovskite.crystallography.reflections import (
    ReflectionFamily,
    d_spacing,
    family_members,
    hkl_label,
    interplanar_angle,
    parse_hkl,
    reflection_families,
    structure_factors,
)
from hyperspy_perovskite.crystallography.wavelength import (
    electron_wavelength,
    reciprocal_pixel_size,
    scattering_angle,
)

__all__ = [
    "CIFError",
    "PHASES",
    "Phase",
    "PhaseScore",
    "ReflectionFamily",
    "RingMatch",
    "add_phase",
    "SpotMatch",
    "d_spacing",
    "electron_wavelength",
    "family_members",
    "get_phase",
    "hkl_label",
    "index_rings",
    "index_spots",
    "interplanar_angle",
    "list_phases",
    "parse_hkl",
    "reciprocal_pixel_size",
    "read_cif",
    "reflection_families",
    "scattering_angle",
    "score_phases",
    "structure_factors",
]
