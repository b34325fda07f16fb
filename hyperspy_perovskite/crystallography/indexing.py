"""Ring and spot indexing of electron diffraction against the phase library.

Rings (polycrystalline patterns, azimuthal profiles) are indexed by their
d-spacing alone; spots by their d-spacing and, for pairs of spots, by the
angle between their reciprocal vectors (which must match an interplanar
angle of the assigned families).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import gcd

import numpy as np

from hyperspy_perovskite.crystallography.phases import get_phase
from hyperspy_perovskite.crystallography.reflections import (
    _metric,
    family_members,
    reflection_families,
)

__all__ = [
    "PhaseScore",
    "RingMatch",
    "SpotMatch",
    "index_rings",
    "index_spots",
    "score_phases",
]


@dataclass(frozen=True)
class RingMatch:
    """A candidate index of one measured ring.

    ``error`` is the relative d-spacing mismatch ``(d_measured - d) / d``.
    """

    ring: int
    d_measured: float
    phase: str
    hkl: tuple
    d: float
    multiplicity: int
    error: float


@dataclass(frozen=True)
class SpotMatch:
    """Index of one diffraction spot.

    ``hkl`` is a specific reflection of the family ``family``, chosen so that
    the angles to the first indexed spot match; ``angle_error`` (degrees) is
    the mismatch of that angle (0 for the reference spot), ``zone_axis`` the
    zone ``[uvw]`` of the first two non-collinear indexed spots.
    """

    spot: int
    g: tuple
    d_measured: float
    family: tuple
    hkl: tuple
    d: float
    error: float
    angle_error: float
    zone_axis: tuple | None


def _check_tol(tolerance):
    if not (np.isfinite(tolerance) and 0 < tolerance < 0.5):
        raise ValueError(
            f"tolerance is a relative d-spacing mismatch in (0, 0.5), got {tolerance}."
        )


def index_rings(d_measured, phases, tolerance=0.02):
    """Index measured ring d-spacings against one or several phases.

    Parameters
    ----------
    d_measured : array-like of float
        Ring d-spacings in angstrom (``1 / g`` of the ring radius in 1/A).
    phases : str, Phase or sequence of them
        Library phases to test (:func:`list_phases`).
    tolerance : float
        Largest accepted relative mismatch ``|d_measured - d| / d``.

    Returns
    -------
    list of RingMatch
        Every candidate within tolerance, ordered by ring then by ``|error|``.
        A ring without candidates has no entry.

    Examples
    --------
    >>> from hyperspy_perovskite.crystallography import index_rings
    >>> m = index_rings([6.36, 6.96], ["alpha-FAPbI3", "PbI2"], tolerance=0.01)
    >>> [(r.ring, r.phase, r.hkl) for r in m]
    [(0, 'alpha-FAPbI3', (0, 0, 1)), (1, 'PbI2', (0, 0, 1))]
    """
    _check_tol(tolerance)
    d_meas = np.atleast_1d(np.asarray(d_measured, dtype=float))
    if d_meas.size == 0 or np.any(~np.isfinite(d_meas)) or np.any(d_meas <= 0):
        raise ValueError(
            "d_measured must be a non-empty list of positive d-spacings (A)."
        )
    if isinstance(phases, str) or not hasattr(phases, "__iter__"):
        phases = [phases]
    phases = [get_phase(p) for p in phases]
    d_lo = d_meas.min() * (1 - tolerance) * 0.999
    out = []
    for i, dm in enumerate(d_meas):
        cands = []
        for ph in phases:
            for fam in reflection_families(ph, d_min=d_lo):
                err = (dm - fam.d) / fam.d
                if abs(err) <= tolerance:
                    cands.append(
                        RingMatch(
                            i,
                            float(dm),
                            ph.name,
                            fam.hkl,
                            fam.d,
                            fam.multiplicity,
                            float(err),
                        )
                    )
        cands.sort(key=lambda r: abs(r.error))
        out.extend(cands)
    return out


def _reduce(v):
    v = [int(x) for x in v]
    g = 0
    for x in v:
        g = gcd(g, abs(x))
    return tuple(x // g for x in v) if g else tuple(v)


def index_spots(g_vectors, phase, tolerance=0.03, angle_tolerance=3.0):
    """Index diffraction spots of one crystal.

    Parameters
    ----------
    g_vectors : array-like, shape (n, 2)
        Spot positions relative to the direct beam, in 1/angstrom (x, y).
    phase : str or Phase
    tolerance : float
        Relative d-spacing tolerance.
    angle_tolerance : float
        Largest accepted angle mismatch in degrees.

    Returns
    -------
    list of SpotMatch
        One entry per spot that could be indexed consistently with the first
        indexed spot (the spot nearest the centre among those matching a
        family).

    Examples
    --------
    >>> from hyperspy_perovskite.crystallography import index_spots, d_spacing
    >>> g1 = 1 / d_spacing("alpha-FAPbI3", "001")
    >>> spots = [[g1, 0.0], [0.0, g1], [g1, g1]]
    >>> res = index_spots(spots, "alpha-FAPbI3")
    >>> [m.hkl for m in res], res[0].zone_axis
    ([(0, 0, 1), (1, 0, 0), (1, 0, 1)], (0, 1, 0))
    """
    _check_tol(tolerance)
    g = np.asarray(g_vectors, dtype=float)
    if g.ndim != 2 or g.shape[1] != 2 or len(g) == 0 or not np.all(np.isfinite(g)):
        raise ValueError(
            "g_vectors must be a finite (n, 2) array of spot positions (1/A)."
        )
    gl = np.hypot(g[:, 0], g[:, 1])
    if np.any(gl <= 0):
        raise ValueError("A spot sits on the direct beam (|g| = 0); remove it.")
    ph = get_phase(phase)
    d_meas = 1.0 / gl
    fams = reflection_families(ph, d_min=d_meas.min() * (1 - tolerance) * 0.999)
    _, Gs = _metric(ph)

    def ang(h1, h2):
        h1 = np.asarray(h1, float)
        h2 = np.asarray(h2, float)
        c = (h1 @ Gs @ h2) / np.sqrt((h1 @ Gs @ h1) * (h2 @ Gs @ h2))
        return np.degrees(np.arccos(np.clip(c, -1, 1)))

    cand = []
    for i in range(len(g)):
        best = [f for f in fams if abs((d_meas[i] - f.d) / f.d) <= tolerance]
        best.sort(key=lambda f: abs((d_meas[i] - f.d) / f.d))
        cand.append(best)
    order = [i for i in np.argsort(gl) if cand[i]]
    if not order:
        return []
    ref = order[0]
    ref_fam = cand[ref][0]
    ref_hkl = ref_fam.hkl
    out = {
        ref: SpotMatch(
            int(ref),
            tuple(g[ref]),
            float(d_meas[ref]),
            ref_fam.hkl,
            ref_hkl,
            ref_fam.d,
            float((d_meas[ref] - ref_fam.d) / ref_fam.d),
            0.0,
            None,
        )
    }
    second = None  # (spot, hkl) fixing the in-plane sense of rotation
    for i in order[1:]:
        meas = np.degrees(
            np.arctan2(g[i, 1], g[i, 0]) - np.arctan2(g[ref, 1], g[ref, 0])
        )
        meas = (meas + 180.0) % 360.0 - 180.0
        best = None
        for fam in cand[i]:
            for h in family_members(ph, fam.hkl):
                err = abs(ang(ref_hkl, h) - abs(meas))
                if second is not None:
                    s_i, s_h = second
                    m2 = np.degrees(
                        np.arctan2(g[i, 1], g[i, 0]) - np.arctan2(g[s_i, 1], g[s_i, 0])
                    )
                    m2 = abs((m2 + 180.0) % 360.0 - 180.0)
                    err = max(err, abs(ang(s_h, h) - m2))
                key = (
                    round(err, 6),
                    abs((d_meas[i] - fam.d) / fam.d),
                    tuple(-v for v in h),
                )
                if err <= angle_tolerance and (best is None or key < best[0]):
                    best = (key, fam, h, err)
        if best is None:
            continue
        _, fam, h, err = best
        out[i] = SpotMatch(
            int(i),
            tuple(g[i]),
            float(d_meas[i]),
            fam.hkl,
            tuple(h),
            fam.d,
            float((d_meas[i] - fam.d) / fam.d),
            float(err),
            None,
        )
        if second is None and 5.0 < abs(meas) < 175.0:
            second = (i, tuple(h))
    zone = None
    if second is not None:
        zone = _reduce(np.cross(ref_hkl, second[1]))
    return [
        SpotMatch(**{**m.__dict__, "zone_axis": zone}) for _, m in sorted(out.items())
    ]


@dataclass(frozen=True)
class PhaseScore:
    """How well one phase explains a set of measured rings.

    ``matched``: rings with a reflection of the phase within tolerance;
    ``expected_by_chance``: rings a random set of lines of the same local
    density would match (Poisson); ``score``: ``matched -
    expected_by_chance``, so a phase with a dense line list (a large cell)
    is not favoured by coincidences; ``strong_present``: fraction of the
    phase's five strongest kinematic rings in range that are observed (None
    without atom sites); ``score_std``: standard deviation of the score
    under chance matching (``sqrt(sum p (1 - p))`` over the rings, ``p`` the
    chance probability of each); ``rms_error``: root-mean-square relative
    d mismatch of the matched rings; ``tied_with``: the phases whose score
    differs from this one by less than the combined standard deviation
    ``sqrt(std_1^2 + std_2^2)``: the data do not tell them apart.
    """

    phase: str
    matched: int
    n_rings: int
    expected_by_chance: float
    score: float
    strong_present: float | None
    score_std: float = 0.0
    rms_error: float | None = None
    tied_with: tuple = ()

    @property
    def is_tied(self):
        """True when another candidate scores within the uncertainty."""
        return bool(self.tied_with)


def score_phases(d_measured, phases, tolerance=0.02):
    """Rank candidate phases by how many measured rings they explain beyond chance.

    Parameters
    ----------
    d_measured : array-like of float
        Ring d-spacings (A).
    phases : sequence of str or Phase
    tolerance : float
        Relative d tolerance.

    Returns
    -------
    list of PhaseScore
        Best first (equal scores: smaller ``rms_error`` first). Phases whose
        scores differ by less than their combined uncertainty are named in
        each other's ``tied_with``: report them together, e.g. cubic
        alpha-FAPbI3 (a = 6.36 A) and alpha-CsPbI3 (a = 6.29 A) match the
        same rings at a 2 % tolerance.

    Examples
    --------
    >>> from hyperspy_perovskite.crystallography.indexing import score_phases
    >>> d = [6.36, 4.50, 3.67, 3.18, 2.25]   # alpha-FAPbI3 rings
    >>> res = score_phases(d, ["delta-CsPbI3", "alpha-FAPbI3", "PbI2", "alpha-CsPbI3"])
    >>> res[0].phase, res[0].tied_with
    ('alpha-FAPbI3', ('alpha-CsPbI3',))
    """
    _check_tol(tolerance)
    d_meas = np.atleast_1d(np.asarray(d_measured, dtype=float))
    if d_meas.size == 0 or np.any(~np.isfinite(d_meas)) or np.any(d_meas <= 0):
        raise ValueError(
            "d_measured must be a non-empty list of positive d-spacings (A)."
        )
    if isinstance(phases, str) or not hasattr(phases, "__iter__"):
        phases = [phases]
    g_meas = 1.0 / d_meas
    out = []
    for ph in (get_phase(p) for p in phases):
        fams = reflection_families(ph, d_min=d_meas.min() / (1 + 6 * tolerance))
        g = np.array([f.g for f in fams])
        matched = 0
        chance = 0.0
        var = 0.0
        errs = []
        for gi in g_meas:
            w = tolerance * gi
            if g.size and np.min(np.abs(g - gi)) <= w:
                matched += 1
                errs.append(np.min(np.abs(g - gi)) / gi)
            # local line density from a window 5x wider on each side
            lam = np.count_nonzero(np.abs(g - gi) <= 5 * w) / 5.0
            p = 1.0 - np.exp(-lam)
            chance += p
            var += p * (1.0 - p)
        strong = None
        if ph.has_atoms and fams:
            inside = [f for f in fams if f.d <= d_meas.max() * (1 + tolerance)]
            top = sorted(inside, key=lambda f: -(f.intensity / f.g**2))[:5]
            if top:
                hit = [np.min(np.abs(g_meas - f.g)) <= tolerance * f.g for f in top]
                strong = float(np.mean(hit))
        out.append(
            PhaseScore(
                ph.name,
                matched,
                int(d_meas.size),
                float(chance),
                float(matched - chance),
                strong,
                float(np.sqrt(var)),
                float(np.sqrt(np.mean(np.square(errs)))) if errs else None,
            )
        )
    from dataclasses import replace

    ties = [
        tuple(
            q.phase
            for q in out
            if q is not p
            and abs(q.score - p.score) < np.hypot(q.score_std, p.score_std)
        )
        for p in out
    ]
    out = [replace(p, tied_with=t) for p, t in zip(out, ties, strict=True)]
    out.sort(key=lambda p: (-p.score, np.inf if p.rms_error is None else p.rms_error))
    return out
