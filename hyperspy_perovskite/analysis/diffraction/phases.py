"""Phase maps by ring matching on masked radial profiles.

The matrix crystal's spots (its whole reciprocal lattice, found from the
reference region) are masked; what remains of each pattern is azimuthally
summed into radial bins. Each candidate phase contributes a ring template
(Gaussian rings at its strongest allowed ``1/d`` with kinematic intensities
``multiplicity |F|^2`` where the library has atom sites, ``multiplicity``
times a heavy-atom form-factor falloff otherwise: approximate, give atom
sites for quantitative templates) and a smooth background (broad Gaussians
every 0.15 1/A, wide enough not to mimic a ring) takes the diffuse scattering and amorphous
halos. Amplitudes are fitted per pattern by weighted linear least squares
(Poisson variance of the binned counts); a phase is *present* where its
amplitude exceeds ``n_sigma`` standard errors.
"""

import numpy as np

from hyperspy_perovskite.crystallography import get_phase, reflection_families

__all__ = [
    "ring_templates",
    "background_basis",
    "fit_phase_profiles",
    "lattice_mask",
    "lattice_points",
    "ring_positions",
    "ring_scores",
    "spot_ring_scores",
]


def _intensities(ph, fam):
    if ph.has_atoms:
        return np.array([f.multiplicity * f.structure_factor**2 for f in fam])
    # no atom sites: multiplicity times a screened-Rutherford falloff of a
    # heavy-atom scatterer, f ~ 1 / (s^2 + s0^2), s0 = 0.74 1/A for Pb
    s = np.array([f.g / 2 for f in fam])
    return np.array([f.multiplicity for f in fam]) / (s**2 + 0.74**2) ** 2


def ring_templates(phases, edges, ring_width, kept_fraction=None, n_rings=5):
    """Binned ring templates of the phases (unit total intensity each).

    Parameters
    ----------
    phases : sequence of str or Phase
    edges : numpy.ndarray
        Radial bin edges in 1/A.
    ring_width : float
        Gaussian standard deviation of a ring (1/A): the spot/ring size.
    kept_fraction : numpy.ndarray, optional
        Fraction of each bin's ring area that is not masked.
    n_rings : int
        The strongest rings of each phase inside the range make its template
        (weak rings add nothing but overlap with other phases).

    Returns
    -------
    numpy.ndarray, shape (n_phases, n_bins)

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.diffraction.phases import ring_templates
    >>> e = np.linspace(0.2, 0.6, 81)
    >>> t = ring_templates(["Pb"], e, 0.01)
    >>> round(float(e[np.argmax(t[0])] + 0.0025), 4)  # Pb 111 at 0.3499 1/A
    0.3475
    """
    from scipy.special import erf

    gmax = float(edges[-1]) + 4 * ring_width
    out = []
    for ph in phases:
        ph = get_phase(ph)
        fam = [f for f in reflection_families(ph, d_min=1.0 / gmax) if f.g >= edges[0]]
        inten = _intensities(ph, fam) * np.exp(
            -0.5 * (np.array([f.g for f in fam]) / 2) ** 2
        )
        t = np.zeros(len(edges) - 1)
        for i in np.argsort(-inten)[: int(n_rings)]:
            c = np.diff(erf((edges - fam[i].g) / (np.sqrt(2) * ring_width))) / 2
            t += inten[i] * c
        if kept_fraction is not None:
            t = t * kept_fraction
        s = t.sum()
        if s <= 0:
            raise ValueError(
                f"Phase {ph.name} has no reflection between {edges[0]:.3f} and "
                f"{edges[-1]:.3f} 1/A: widen the radial range."
            )
        out.append(t / s)
    return np.array(out)


def background_basis(edges, npix, spacing=0.15):
    """Smooth background columns: broad Gaussians times the pixels per bin."""
    c = 0.5 * (edges[1:] + edges[:-1])
    centres = np.arange(edges[0], edges[-1] + spacing, spacing)
    basis = np.exp(-0.5 * ((c[None, :] - centres[:, None]) / spacing) ** 2)
    return basis * npix[None, :] / np.maximum(npix.max(), 1)


def fit_phase_profiles(profiles, templates, background):
    """Amplitudes and standard errors of every template in every profile.

    Parameters
    ----------
    profiles : numpy.ndarray, shape (..., n_bins)
        Summed counts per radial bin.
    templates : numpy.ndarray, shape (n_phases, n_bins)
    background : numpy.ndarray, shape (n_bg, n_bins)

    Returns
    -------
    numpy.ndarray, shape (..., 2 * n_phases + 1)
        Amplitudes (counts in each phase's rings), their std, and the
        reduced chi-squared.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.diffraction.phases import (
    ...     ring_templates, background_basis, fit_phase_profiles)
    >>> e = np.linspace(0.2, 0.7, 51)
    >>> t = ring_templates(["Pb"], e, 0.01)
    >>> b = background_basis(e, np.full(50, 100.0))
    >>> y = 500 * t[0] + 3 * b.sum(axis=0)
    >>> np.round(fit_phase_profiles(y[None], t, b)[0, 0])
    np.float64(500.0)
    """
    y = np.asarray(profiles, float)
    lead = y.shape[:-1]
    y = y.reshape(-1, y.shape[-1])
    a = np.vstack([templates, background]).T  # bins x params
    w = 1.0 / np.maximum(y, 1.0)
    nmat = np.einsum("nb,bk,bl->nkl", w, a, a)
    rhs = np.einsum("nb,bk,nb->nk", w, a, y)
    nmat += np.eye(a.shape[1]) * 1e-12 * np.trace(nmat, axis1=1, axis2=2)[:, None, None]
    cov = np.linalg.inv(nmat)
    x = np.einsum("nkl,nl->nk", cov, rhs)
    res = y - x @ a.T
    dof = max(a.shape[0] - a.shape[1], 1)
    red = (res**2 * w).sum(axis=1) / dof
    npha = templates.shape[0]
    std = np.sqrt(
        np.diagonal(cov, axis1=1, axis2=2)[:, :npha] * np.maximum(red, 1.0)[:, None]
    )
    out = np.concatenate([x[:, :npha], std, red[:, None]], axis=1)
    return out.reshape(lead + (2 * npha + 1,))


def lattice_points(spot_offsets, radius, extent):
    """Offsets of the matrix's reciprocal lattice points (and the given spots).

    The basis is the shortest pair of non-collinear vectors among the spot
    offsets and their differences longer than ``2 radius`` (weak spots
    reveal a finer lattice than the strong ones); every integer combination
    reaching ``2 extent`` pixels is listed, with the beam (0, 0) and the
    spots themselves.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.diffraction.phases import lattice_points
    >>> p = lattice_points(np.array([[10.0, 0], [0, 10.0]]), 2.0, 10)
    >>> bool(np.any(np.all(np.isclose(p, [-10.0, 10.0]), axis=1)))
    True
    """
    off = np.asarray(spot_offsets, float).reshape(-1, 2)
    pts = [np.zeros(2)] + list(off)
    if len(off) >= 2:
        # primitive basis: shortest vectors among the spots and their
        # differences (weak spots reveal a finer lattice than the strong ones)
        cand = np.concatenate([off, (off[:, None] - off[None]).reshape(-1, 2)])
        ln = np.hypot(cand[:, 0], cand[:, 1])
        cand, ln = cand[ln > 2.0 * radius], ln[ln > 2.0 * radius]
        order = np.argsort(ln)
        v1 = cand[order[0]]
        v2 = None
        for i in order[1:]:
            cr = abs(v1[0] * cand[i, 1] - v1[1] * cand[i, 0])
            if cr > 0.2 * ln[order[0]] * ln[i]:
                v2 = cand[i]
                break
        if v2 is not None:
            span = int(np.ceil(2 * extent / min(np.hypot(*v1), np.hypot(*v2)))) + 1
            for a in range(-span, span + 1):
                for b in range(-span, span + 1):
                    pts.append(a * v1 + b * v2)
    return np.array(pts)


def lattice_mask(kx_px, ky_px, beam, spot_offsets, radius):
    """Pixels of the matrix's reciprocal lattice (and direct beam) to mask.

    The lattice basis is the shortest pair of non-collinear vectors among
    the spot offsets and their differences (longer than the disk diameter);
    every integer combination inside the detector is masked by a disk of
    ``radius`` pixels, and so is every given spot.

    Parameters
    ----------
    kx_px, ky_px : numpy.ndarray
        Pixel coordinate grids (column, row).
    beam : (float, float)
    spot_offsets : numpy.ndarray, shape (n, 2)
        Spot offsets (x, y) from the beam in pixels.
    radius : float

    Returns
    -------
    numpy.ndarray of bool
    """
    pts = lattice_points(spot_offsets, radius, max(kx_px.max(), ky_px.max()))
    m = np.zeros(kx_px.shape, bool)
    for p in pts:
        x, y = beam[0] + p[0], beam[1] + p[1]
        if (
            -radius <= x <= kx_px.max() + radius
            and -radius <= y <= ky_px.max() + radius
        ):
            m |= np.hypot(kx_px - x, ky_px - y) <= radius
    return m


def ring_intensities(phase, g_range):
    """Ring radii (1/A) of ``phase`` inside ``g_range`` and their intensities.

    Kinematic intensities (multiplicity times the squared structure factor,
    or a heavy-atom falloff for phases without atom sites) damped by
    ``exp(-(g/2)^2 / 2)``, in the order of
    :func:`~hyperspy_perovskite.crystallography.reflection_families`.

    Raises
    ------
    ValueError
        If the phase has no ring in ``g_range``.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.diffraction.phases import ring_intensities
    >>> g, inten = ring_intensities("Pb", (0.2, 0.45))
    >>> np.round(g, 3).tolist()
    [0.35, 0.404]
    """
    ph = get_phase(phase)
    fam = [
        f
        for f in reflection_families(ph, d_min=1.0 / g_range[1])
        if g_range[0] <= f.g <= g_range[1]
    ]
    if not fam:
        raise ValueError(
            f"Phase {ph.name} has no ring between {g_range[0]:.3f} and "
            f"{g_range[1]:.3f} 1/A: it cannot be detected on this detector."
        )
    g = np.array([f.g for f in fam])
    return g, _intensities(ph, fam) * np.exp(-0.5 * (g / 2) ** 2)


def ring_positions(phases, g_range, n_rings=4):
    """The ``n_rings`` strongest ring positions (1/A) of each phase in ``g_range``.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.diffraction.phases import ring_positions
    >>> np.round(ring_positions(["Pb"], (0.2, 0.45), 2)[0], 3).tolist()
    [0.35, 0.404]
    """
    out = []
    for ph in phases:
        g, inten = ring_intensities(ph, g_range)
        out.append(np.sort(g[np.argsort(-inten)[: int(n_rings)]]))
    return out


def ring_scores(profiles, npix, edges, rings, half_width):
    """Excess counts of every ring over its local background, in std.

    The ring band is ``|g - g_ring| <= half_width``; the background is the
    mean of the count densities of the bands ``2 half_width < |g - g_ring|
    <= 4 half_width`` on either side (unbiased on a linear slope such as an
    amorphous halo's flank; a neighbouring ring only lowers the score);
    Poisson errors of all three bands.

    Parameters
    ----------
    profiles : numpy.ndarray, shape (..., n_bins)
    npix : numpy.ndarray, shape (n_bins,)
        Pixels summed in each bin.
    edges : numpy.ndarray
        Bin edges (1/A).
    rings : list of numpy.ndarray
        Ring positions of each phase (:func:`ring_positions`).
    half_width : float
        1/A.

    Returns
    -------
    numpy.ndarray, shape (..., n_phases, max_rings)
        z-scores (NaN where a ring has no unmasked pixel or no background).

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.diffraction.phases import ring_scores
    >>> e = np.linspace(0.2, 0.6, 81); g = 0.5 * (e[1:] + e[:-1])
    >>> npix = np.full(80, 50.0)
    >>> prof = 100.0 + 400 * (np.abs(g - 0.35) < 0.006)
    >>> z = ring_scores(prof[None], npix, e, [np.array([0.35, 0.45])], 0.01)
    >>> bool(z[0, 0, 0] > 10), bool(abs(z[0, 0, 1]) < 1)
    (True, True)
    """
    y = np.asarray(profiles, float)
    g = 0.5 * (edges[1:] + edges[:-1])
    nmax = max(len(r) for r in rings)
    out = np.full(y.shape[:-1] + (len(rings), nmax), np.nan)
    for p, rr in enumerate(rings):
        for k, g0 in enumerate(rr):
            d = g - g0
            peak = np.abs(d) <= half_width
            npk = npix[peak].sum()
            lo = (d < -2 * half_width) & (d >= -4 * half_width)
            hi = (d > 2 * half_width) & (d <= 4 * half_width)
            if npk == 0 or npix[lo].sum() == 0 or npix[hi].sum() == 0:
                continue
            a = y[..., peak].sum(axis=-1)
            # the lower of the two sides: a neighbouring ring on one side
            # must not hide this one
            bl, bh = y[..., lo].sum(axis=-1), y[..., hi].sum(axis=-1)
            rl, rh = npk / npix[lo].sum(), npk / npix[hi].sum()
            # mean of the two sides' densities: unbiased on a linear slope
            # (amorphous halos); a neighbouring ring only lowers the score
            bg = 0.5 * (bl * rl + bh * rh)
            var = a + 0.25 * (bl * rl * rl + bh * rh * rh)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[..., p, k] = (a - bg) / np.sqrt(np.maximum(var, 1.0))
    return out


def spot_ring_scores(sums, excess, edges, rings, half_width):
    """Significance of compact spots on each ring: excess over the azimuthal median.

    Parameters
    ----------
    sums, excess : numpy.ndarray, shape (..., n_bins)
        From :func:`~hyperspy_perovskite.analysis.diffraction.virtual.radial_profiles`.
    edges : numpy.ndarray
    rings : list of numpy.ndarray
        Ring positions (1/A) of each phase.
    half_width : float
        Half width (1/A) of a ring band.

    Returns
    -------
    numpy.ndarray, shape (..., n_phases, max_rings)
        ``sum(excess) / sqrt(sum(counts))`` over the band (Poisson).

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.diffraction.phases import spot_ring_scores
    >>> e = np.linspace(0.3, 0.4, 11)
    >>> s = np.full((1, 10), 100.0); x = np.zeros((1, 10)); x[0, 5] = 80.0
    >>> np.round(spot_ring_scores(s, x, e, [np.array([0.355])], 0.006), 1).tolist()
    [[[8.0]]]
    """
    g = 0.5 * (edges[1:] + edges[:-1])
    nmax = max(len(r) for r in rings)
    out = np.full(sums.shape[:-1] + (len(rings), nmax), np.nan)
    for p, rr in enumerate(rings):
        for k, g0 in enumerate(rr):
            band = np.abs(g - g0) <= half_width
            if not band.any():
                continue
            a = sums[..., band].sum(axis=-1)
            x = excess[..., band].sum(axis=-1)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[..., p, k] = x / np.sqrt(np.maximum(a, 1.0))
    return out
