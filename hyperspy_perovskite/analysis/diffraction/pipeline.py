"""One pass over an operando 4D-STEM series: every per-pattern number at once.

A :class:`Plan` fixes what is measured in each pattern (the spot windows,
the virtual detectors and the radial bins of the masked profile); then
:func:`process` reads each pattern once (numpy, or dask ``map_blocks`` for
lazy data, so the same call runs on a laptop or a dask.distributed cluster)
and returns a compact table per pattern:

``[spots (n + 1) x 9 | detector sums | radial profile bins | product bands x 5]``

Everything else (strain, phases, drift, profiles, timelines) is computed
from that table without touching the patterns again.
"""

from __future__ import annotations

from dataclasses import dataclass

import dask.array as da
import numpy as np

from hyperspy_perovskite.analysis.diffraction.peaks import (
    NF,
    find_reference_spots,
    fit_spots,
)
from hyperspy_perovskite.analysis.diffraction.phases import lattice_mask, lattice_points
from hyperspy_perovskite.analysis.diffraction.products import BAND_FIELDS, ring_sectors
from hyperspy_perovskite.analysis.diffraction.virtual import (
    Detector,
    accumulate,
    build_accumulator,
    radial_profiles,
)

__all__ = ["Plan", "make_plan", "process", "split"]


@dataclass
class Plan:
    """What :func:`process` measures in every pattern.

    Attributes
    ----------
    beam : (float, float)
        Direct-beam position (x, y) in pixels where the fit starts.
    offsets : numpy.ndarray, shape (n, 2)
        Expected spot offsets from the beam (pixels) of the strain spots.
    half_window, beam_half_window : int
    sigma : float
        Starting Gaussian width (pixels).
    detectors : list of Detector
    edges : numpy.ndarray
        Radial bin edges (1/A) of the masked profile.
    ptr, col, n_out, npix
        The sparse accumulator of the detectors
        (:func:`~.virtual.build_accumulator`); ``n_out`` counts the detectors
        and the radial bins, ``npix`` the pixels of each.
    kpix : float
        1/A per pixel.
    all_offsets : numpy.ndarray
        Every spot found in the reference pattern (masked in the profile).
    keep : numpy.ndarray of bool
        Pixels of the radial profile (relative to ``beam``; moved with each
        pattern's fitted beam).
    n_det : int
        Number of detectors.
    bands : dict or None
        Product-detection bands (:func:`~.products.make_bands`, in pixels).
    keep_products : numpy.ndarray of bool or None
        Pixels used by the product test: the matrix's bright spots are
        masked out to where their tails fall below 0.3 std of the local
        background (:func:`product_mask`).
    matrix : dict or None
        The matrix model of the product test: ``template`` (the reference
        mean's excess over its radial profile on the unmasked pixels,
        :func:`matrix_template`), ``offsets`` (refined offsets of the
        strain spots) and ``amplitude`` (their fitted amplitude per pattern
        in the reference mean: the brightness of the template).
    """

    beam: tuple
    offsets: np.ndarray
    half_window: int
    beam_half_window: int
    sigma: float
    detectors: list
    edges: np.ndarray
    ptr: np.ndarray
    col: np.ndarray
    n_out: int
    npix: np.ndarray
    kpix: float
    all_offsets: np.ndarray
    keep: np.ndarray
    n_det: int
    bands: dict | None = None
    keep_products: np.ndarray | None = None
    matrix: dict | None = None

    @property
    def n_bands(self):
        """Product-detection bands (0 without)."""
        return 0 if self.bands is None else len(self.bands["centre"])

    @property
    def n_fields(self):
        """Numbers per pattern in the output of :func:`process`."""
        return (
            (len(self.offsets) + 1) * NF + self.n_out + self.n_bands * len(BAND_FIELDS)
        )


def make_plan(
    reference_mean,
    n_reference,
    kpix,
    beam,
    detectors,
    n_spots=8,
    half_window=4,
    sigma=1.5,
    radial_range=None,
    n_sigma=6.0,
    bands=None,
):
    """Build a :class:`Plan` from the mean pattern of the reference region.

    Parameters
    ----------
    reference_mean : numpy.ndarray, shape (ky, kx)
        Mean pattern of the reference region.
    n_reference : int
        Number of patterns in that mean.
    kpix : float
        Calibration, 1/A per pixel.
    beam : (float, float)
        Direct beam (x, y) in pixels (the calibrated origin).
    detectors : list of Detector
    n_spots : int
        Strongest spots used for strain.
    half_window : int
        Half size (pixels) of the spot fitting windows.
    sigma : float
        Starting width (pixels) of the spot fits.
    radial_range : (float, float), optional
        Range of the masked radial profile (1/A); default from just outside
        the direct beam's window to the inscribed circle of the detector.
    n_sigma : float
        Detection threshold of reference spots.
    bands : callable, optional
        ``bands(g_range) -> dict`` (:func:`~.products.make_bands` with
        ``kpix``), called with the usable radial range (1/A): the product
        test runs on these bands.

    Returns
    -------
    Plan

    Raises
    ------
    ValueError
        When fewer than two non-collinear spots are found (no strain can be
        measured from that region).
    """
    m = np.asarray(reference_mean, float)
    off, _ = find_reference_spots(m, beam, n_reference, half_window, n_sigma)
    if len(off) < 2:
        raise ValueError(
            f"Only {len(off)} diffraction spot(s) found in the reference region's "
            "mean pattern: choose a region of the crystal (reference=...) or "
            "lower n_sigma."
        )
    strain = off[: int(n_spots)]
    g = strain / np.hypot(strain[:, :1], strain[:, 1:])
    cross = np.abs(g[:, None, 0] * g[None, :, 1] - g[:, None, 1] * g[None, :, 0])
    if cross.max() < 0.2:
        raise ValueError(
            "The strain spots are collinear: a 2D strain tensor needs spots in "
            "two directions. Increase n_spots or choose another region."
        )
    ky, kx = m.shape
    yy, xx = np.indices(m.shape)
    kxv, kyv = (xx - beam[0]) * kpix, (yy - beam[1]) * kpix
    if radial_range is None:
        rmax = min(beam[0], beam[1], kx - 1 - beam[0], ky - 1 - beam[1])
        radial_range = ((half_window + 3) * kpix, rmax * kpix)
    lo, hi = radial_range
    if not (0 <= lo < hi):
        raise ValueError(
            f"radial_range must be (low, high) in 1/A, got {radial_range}."
        )
    edges = np.arange(lo, hi + 0.25 * kpix, 0.5 * kpix)
    # refine the spot positions on the mean pattern for the lattice basis
    fit = fit_spots(m[None] * max(n_reference, 1), beam, off, half_window)[0]
    # a refined position more than a pixel from the detected maximum is a
    # fit pulled away (by the direct beam's tail near the beam): keep the
    # maximum, or the lattice basis (and every mask built on it) is wrong
    moved = np.hypot(*(fit[1:, :2] - fit[:1, :2] - off).T)
    good = (fit[1:, 8] > 0) & (moved < 1.0)
    refined = np.where(good[:, None], fit[1:, :2] - fit[:1, :2], off)
    basis = refined
    # mask the matrix's spots out to 2.5 widths (96 % of a spot)
    mr = max(2.5 * float(sigma), 1.5)
    excl = lattice_mask(xx, yy, beam, basis, mr)
    for o in refined:
        excl |= np.hypot(xx - beam[0] - o[0], yy - beam[1] - o[1]) <= mr
    ptr, col, nd, npd = build_accumulator(kxv, kyv, detectors)
    keep = ~excl
    r = np.hypot(kxv, kyv)
    b = np.floor((r - edges[0]) / (0.5 * kpix)).astype(int)
    nb = len(edges) - 1
    inr = keep & (r >= edges[0]) & (b < nb)
    npb = np.bincount(b[inr], minlength=nb).astype(float)
    keep_products = None
    if bands is not None:
        bands = bands((lo, hi))
        keep_products, reach, bright = product_mask(m, beam, refined, keep, radius=mr)
        bands["spot_reach"] = reach * kpix
        bands["matrix_rings"] = np.unique(np.round(bright * kpix, 5))
        ns = len(strain)
        matrix = {
            "template": matrix_template(m, beam, keep_products),
            "offsets": refined[:ns],
            "amplitude": np.where(good[:ns], fit[1 : ns + 1, 4], np.nan)
            / max(n_reference, 1),
        }
    else:
        matrix = None
    return Plan(
        tuple(float(v) for v in beam),
        strain,
        int(half_window),
        int(half_window) + 2,
        float(sigma),
        list(detectors),
        edges,
        ptr,
        col,
        nd + 2 * nb,
        np.concatenate([npd, npb, npb]),
        float(kpix),
        refined,
        keep,
        nd,
        bands,
        keep_products,
        matrix,
    )


def product_mask(mean, beam, offsets, keep, fraction=0.3, radius=1.5):
    """Mask the matrix's spots out to where their tails vanish in the noise.

    For each point of the matrix's reciprocal lattice on the detector
    (:func:`~.phases.lattice_points`), the excess of the reference mean
    pattern over the
    azimuthal median (about the beam) is averaged in rings about the spot;
    the spot is masked out to the first ring where that excess falls below
    ``fraction`` times the Poisson std of one pattern's background there,
    plus half a pixel (strain moves spots). Bright spots get wide masks,
    weak ones narrow (a window summing their residual tails must not look
    like a nanocrystal's spot).

    Parameters
    ----------
    mean : numpy.ndarray, shape (ky, kx)
        Reference mean pattern (counts per pattern).
    beam : (float, float)
    offsets : numpy.ndarray, shape (n, 2)
        Spot offsets (x, y) from the beam in pixels (they fix the lattice).
    keep : numpy.ndarray of bool
        The base mask (every lattice point), narrowed further here.
    fraction : float
    radius : float
        Base mask radius (pixels) of the lattice points.

    Returns
    -------
    keep : numpy.ndarray of bool
    reach : float
        The largest mask radius (pixels): how far a bright spot's tail
        reaches.
    bright : numpy.ndarray
        Distances (pixels) from the beam of the spots whose tails reach
        beyond ``radius``: the matrix's bright rings.
    """
    yy, xx = np.indices(mean.shape)
    rb = np.round(2 * np.hypot(xx - beam[0], yy - beam[1])).astype(int)
    med = np.zeros(rb.max() + 1)
    for k in np.unique(rb):
        med[k] = np.median(mean[rb == k])
    exc = mean - med[rb]
    out = keep.copy()
    reach = float(radius)
    bright = []
    ky, kx = mean.shape
    for o in lattice_points(offsets, radius, max(kx, ky)):
        px, py = beam[0] + o[0], beam[1] + o[1]
        if not (-radius <= px <= kx - 1 + radius and -radius <= py <= ky - 1 + radius):
            continue
        if np.hypot(*o) == 0:
            continue  # the direct beam lies inside the radial range's hole
        d = np.hypot(xx - px, yy - py)
        db = (2 * d).astype(int).ravel()
        prof = np.bincount(db, exc.ravel(), minlength=60)[:60] / np.maximum(
            np.bincount(db, minlength=60)[:60], 1
        )
        bg = max(float(np.median(med[rb][(d > 5) & (d < 8)])), 0.05)
        below = np.flatnonzero(prof < fraction * np.sqrt(bg))
        rmask = (below[0] / 2 if below.size else 30.0) + 0.5
        reach = max(reach, rmask)
        if rmask > radius:
            bright.append(float(np.hypot(*o)))
        out &= d > rmask
    return out, reach, np.array(sorted(bright))


def _block(block, plan):
    spots = fit_spots(
        block,
        plan.beam,
        plan.offsets,
        plan.half_window,
        plan.beam_half_window,
        plan.sigma,
    )
    acc = accumulate(block, plan.ptr, plan.col, plan.n_det)
    nb = (plan.n_out - plan.n_det) // 2
    prof = radial_profiles(
        block,
        spots[..., 0, :2],
        plan.beam,
        plan.keep,
        plan.edges[0] / plan.kpix,
        0.5,
        nb,
    )
    lead = block.shape[:-2]
    parts = [spots.reshape(lead + (-1,)), acc, prof]
    if plan.n_bands:
        bands = ring_sectors(
            block,
            spots[..., 0, :2],
            plan.beam,
            plan.keep_products,
            plan.bands,
            matrix=_matrix_model(spots, plan),
        )
        parts.append(bands.reshape(lead + (-1,)))
    return np.concatenate(parts, axis=-1)


def matrix_template(mean, beam, keep):
    """The matrix's own pattern on the unmasked pixels: what a ring test sees.

    The excess of the reference mean pattern over its radial profile
    (mean of the unmasked pixels in rings of 0.5 px about the beam): on the
    unmasked pixels, the tails of the masked spots and every spot too weak
    to be found and masked. Scaled to each pattern's brightness and placed by its fitted
    lattice (:func:`_matrix_model`), it is the product test's expectation
    of the matrix (:func:`~.products.ring_sectors`).

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.diffraction.pipeline import matrix_template
    >>> m = np.ones((32, 32)); m[16, 26] = 5.0  # a masked spot on a flat background
    >>> keep = np.ones((32, 32), bool); keep[16, 26] = False
    >>> e = matrix_template(m, (16.0, 16.0), keep)
    >>> float(e[16, 26]), float(e[16, 6])
    (4.0, 0.0)
    """
    yy, xx = np.indices(mean.shape)
    rb = np.round(2 * np.hypot(xx - beam[0], yy - beam[1])).astype(int)
    k = keep.ravel()
    s = np.bincount(rb.ravel()[k], mean.ravel()[k], minlength=rb.max() + 1)
    n = np.bincount(rb.ravel()[k], minlength=rb.max() + 1)
    prof = s / np.maximum(n, 1)
    # defined on every pixel (masked ones too): a pattern's kept pixel maps
    # between reference pixels and is interpolated from its neighbours
    return mean - prof[rb]


def _matrix_model(spots, plan):
    """Where each pattern's pixels lie in the reference, and its brightness.

    The affine map that takes the reference strain spots to the fitted
    ones (least squares over the fitted spots, about the fitted beam) is
    inverted: each pixel's offset from the beam maps back to the reference
    frame, where the mask and the matrix template were measured (strain
    and rotation move the mask and the template with the spots). The
    brightness is the median ratio of the fitted spot amplitudes to the
    reference's; 0 where fewer than two spots were fitted (no matrix).
    """
    mx = plan.matrix
    lead = spots.shape[:-2]
    if mx is None:
        return None
    ok = spots[..., 1:, 8] > 0
    q = np.where(ok[..., None], spots[..., 1:, :2] - spots[..., :1, :2], 0.0)
    o = np.asarray(mx["offsets"], float)
    w = ok.astype(float)
    # reference offset = B q: B = (sum w o q^T) (sum w q q^T)^-1 per pattern
    oq = np.einsum("...k,ki,...kj->...ij", w, o, q)
    qq = np.einsum("...k,...ki,...kj->...ij", w, q, q)
    det = qq[..., 0, 0] * qq[..., 1, 1] - qq[..., 0, 1] * qq[..., 1, 0]
    scale_qq = np.maximum(np.abs(qq).max(axis=(-1, -2)), 1e-12)
    good = (ok.sum(axis=-1) >= 2) & (np.abs(det) > 1e-3 * scale_qq**2)
    adj = np.stack(
        [
            np.stack([qq[..., 1, 1], -qq[..., 0, 1]], -1),
            np.stack([-qq[..., 1, 0], qq[..., 0, 0]], -1),
        ],
        -2,
    )
    b = (
        np.einsum("...ij,...jk->...ik", oq, adj)
        / np.where(good, det, 1.0)[..., None, None]
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(ok, spots[..., 1:, 4] / mx["amplitude"], np.nan)
    scale = _finite_median(np.where(np.isfinite(ratio), ratio, np.nan))
    # fits on noise (no matrix) give wild maps: a crystal's lattice is
    # within 10 % of the reference's and its spots are positive
    good &= np.isfinite(b).all(axis=(-1, -2)) & (
        np.abs(np.nan_to_num(b, nan=9.0) - np.eye(2)).max(axis=(-1, -2)) < 0.1
    )
    good &= np.nan_to_num(scale) > 0
    b = np.where(good[..., None, None], b, np.eye(2))
    scale = np.where(good, np.nan_to_num(scale), 0.0)
    return b.reshape(lead + (2, 2)), scale, mx["template"]


def _finite_median(x):
    """Median over the last axis ignoring NaN (NaN where all are NaN), quietly."""
    out = np.full(x.shape[:-1], np.nan)
    has = np.isfinite(x).any(axis=-1)
    if has.any():
        out[has] = np.nanmedian(x[has], axis=-1)
    return out


def process(data, plan):
    """Measure every pattern of ``data`` (..., ky, kx) according to ``plan``.

    Parameters
    ----------
    data : numpy.ndarray or dask.array.Array
    plan : Plan

    Returns
    -------
    numpy.ndarray or dask.array.Array, shape (..., plan.n_fields)
        Lazy for dask input (one ``map_blocks``; patterns are read once).
    """
    if isinstance(data, da.Array):
        nd = data.ndim
        if len(data.chunks[-1]) > 1 or len(data.chunks[-2]) > 1:
            data = data.rechunk({nd - 2: -1, nd - 1: -1})
        return da.map_blocks(
            _block,
            data,
            plan,
            dtype=float,
            drop_axis=[nd - 2, nd - 1],
            new_axis=[nd - 2],
            chunks=data.chunks[:-2] + ((plan.n_fields,),),
            meta=np.empty((0,) * (nd - 1)),
        )
    return _block(np.asarray(data), plan)


def split(table, plan):
    """Split the output of :func:`process` into its parts.

    Returns
    -------
    spots : (..., n + 1, 9), detectors : (..., n_det), profiles : (..., n_bins),
    bands : (..., n_bands, 5)
    """
    n = (len(plan.offsets) + 1) * NF
    nd = len(plan.detectors)
    spots = table[..., :n].reshape(table.shape[:-1] + (len(plan.offsets) + 1, NF))
    end = n + plan.n_out
    bands = table[..., end:].reshape(
        table.shape[:-1] + (plan.n_bands, len(BAND_FIELDS))
    )
    return spots, table[..., n : n + nd], table[..., n + nd : end], bands


def default_detectors(kpix, beam_radius_px, adf=None):
    """Bright field inside the direct beam, ADF outside the spots' reach."""
    bf = Detector("BF", "disk", 0.0, beam_radius_px * kpix)
    lo, hi = adf if adf is not None else (0.6, 1.5)
    return [bf, Detector("ADF", "annulus", lo, hi)]
