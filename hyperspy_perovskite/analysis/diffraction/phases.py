"""Phase maps by ring matching on masked radial profiles.

The matrix crystal's spots (its whole reciprocal lattice, found from the
reference region) are masked; what remains of each pattern is azimuthally
summed into radial bins. Each candidate phase contributes a ring template
(Gaussian rings at its allowed ``1/d`` with kinematic intensities
``multiplicity |F|^2`` where the library has atom sites, ``multiplicity``
otherwise) and a smooth background (broad Gaussians every 0.08 1/A, wide
enough not to mimic a ring) takes the diffuse scattering and amorphous
halos. Amplitudes are fitted per pattern by weighted linear least squares
(Poisson variance of the binned counts); a phase is *present* where its
amplitude exceeds ``n_sigma`` standard errors.
"""

import numpy as np

from hyperspy_perovskite.crystallography import get_phase, reflection_families

__all__ = ["ring_templates", "background_basis", "fit_phase_profiles", "lattice_mask"]


def ring_templates(phases, edges, ring_width, kept_fraction=None):
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
        fam = reflection_families(ph, d_min=1.0 / gmax)
        t = np.zeros(len(edges) - 1)
        for f in fam:
            inten = f.multiplicity * (f.structure_factor**2 if f.structure_factor else 1.0)
            inten *= np.exp(-0.5 * (f.g / 2) ** 2)  # B = 2 A^2 thermal damping
            c = np.diff(erf((edges - f.g) / (np.sqrt(2) * ring_width))) / 2
            t += inten * c
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


def background_basis(edges, npix, spacing=0.08):
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
    std = np.sqrt(np.diagonal(cov, axis1=1, axis2=2)[:, :npha] * np.maximum(red, 1.0)[:, None])
    out = np.concatenate([x[:, :npha], std, red[:, None]], axis=1)
    return out.reshape(lead + (2 * npha + 1,))


def lattice_mask(kx_px, ky_px, beam, spot_offsets, radius):
    """Pixels of the matrix's reciprocal lattice (and direct beam) to mask.

    The lattice basis is the shortest pair of non-collinear spot offsets;
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
    off = np.asarray(spot_offsets, float).reshape(-1, 2)
    pts = [np.zeros(2)] + list(off)
    if len(off) >= 2:
        order = np.argsort(np.hypot(off[:, 0], off[:, 1]))
        v1 = off[order[0]]
        v2 = None
        for i in order[1:]:
            cr = abs(v1[0] * off[i, 1] - v1[1] * off[i, 0])
            if cr > 0.2 * np.hypot(*v1) * np.hypot(*off[i]):
                v2 = off[i]
                break
        if v2 is not None:
            span = int(np.ceil(2 * max(kx_px.max(), ky_px.max()) / min(np.hypot(*v1), np.hypot(*v2)))) + 1
            for a in range(-span, span + 1):
                for b in range(-span, span + 1):
                    pts.append(a * v1 + b * v2)
    m = np.zeros(kx_px.shape, bool)
    for p in pts:
        x, y = beam[0] + p[0], beam[1] + p[1]
        if -radius <= x <= kx_px.max() + radius and -radius <= y <= ky_px.max() + radius:
            m |= np.hypot(kx_px - x, ky_px - y) <= radius
    return m
