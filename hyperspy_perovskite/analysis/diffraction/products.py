"""Detection and identification of nanocrystalline products (Pb, PbX2, ...).

A nanocrystal under the probe gives compact spots (the convergence disks) on
the rings of its phase, in Friedel pairs ``+g`` and ``-g`` (Friedel's law of
kinematic diffraction). For every candidate ring radius (a *band*), each
pattern is divided into angular half-sectors about its own fitted direct
beam; the best window (two adjacent half-sectors and the two opposite ones)
is kept with its counts ``P``, and the band's total ``T`` over ``N``
pixels. The matrix crystal's spots are masked; windows that
touch a masked sector (or its neighbours, where the masked spots' tails
leak) are not used.

Significance: with no nanocrystal, ``P`` is Poisson with a mean given by the
band's radial profile over the window's pixels (less the window's own
excess); the best one-sided window (two half-sectors: the opposite spot may
lie under a masked matrix spot) is tested too. The p-value is
Bonferroni-corrected for the windows of the band, for the two window kinds
and for the bands tested at that position, so the
per-pattern false-positive rate is at most ``alpha`` by construction (the
tests measure it on simulated patterns without product). Detections are kept
only in spatially connected clusters of at least ``min_cluster`` scan
positions (a grain covers more than one position once it is larger than the
scan step; an isolated false positive does not).

Identification: the hit bands of a pattern must all lie on rings of a phase
(any allowed reflection of that phase within the band) for the phase to be
*compatible*; a pattern is *identified* only when one candidate is
compatible, *ambiguous* otherwise. At short camera lengths the dense ring
lists of PbBr2 and CsPb2Br5 reach every band of Pb: the result then says
"ambiguous" at every position rather than picking one.

Rings of a known layer of the device (its name a phase of the library, e.g.
``"Al"``) are not tested inside that layer: nanocrystalline Al gives spots
on its own rings (Al 111 at 0.428 1/A lies within 1.2 pixels of Pb 002 at
0.404 1/A at typical calibrations).
"""

from __future__ import annotations

import math

import numpy as np

from hyperspy_perovskite._numba_cache import njit_cached
from hyperspy_perovskite.analysis.diffraction.phases import ring_intensities
from hyperspy_perovskite.crystallography import get_phase

__all__ = [
    "BAND_FIELDS",
    "make_bands",
    "ring_sectors",
    "band_pvalues",
    "detect_products",
    "identify",
]

#: Per band and pattern: best Friedel-pair window counts, their expectation
#: from the band's radial profile, band counts, band pixels, window azimuth
#: (rad), and the best one-sided window's counts and expectation (the
#: opposite spot may be hidden under a masked matrix spot).
BAND_FIELDS = ("P", "expected", "T", "N", "angle", "P_single", "expected_single")


def make_bands(phases, g_range, half_width, n_rings=3, sector=None, kpix=None):
    """Radial bands to test: the strongest rings of every candidate, merged.

    Parameters
    ----------
    phases : sequence of str or Phase
    g_range : (float, float)
        Usable radii (1/A).
    half_width : float
        Half width (1/A) of a band about its ring (the spot's radial reach).
    n_rings : int
        Strongest rings of each phase that get a band.
    sector : float, optional
        Arc length (1/A) of one test window; default ``4 * half_width``.
    kpix : float, optional
        1/A per pixel, to express the bands in pixels.

    Returns
    -------
    dict
        ``centre`` and ``half_width`` (1/A) per band, ``n_half`` (half-sectors,
        even), ``members`` (phases x bands bool: the band holds one of the
        phase's strongest rings), ``compatible`` (phases x bands bool: any
        allowed ring of the phase lies in the band) and ``all_rings`` (per
        phase, every allowed ring radius in range).

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.diffraction.products import make_bands
    >>> b = make_bands(["Pb"], (0.15, 0.6), 0.03)
    >>> np.round(b["centre"], 3).tolist()
    [0.35, 0.404, 0.571]
    """
    sector = 4 * half_width if sector is None else sector
    lists = [ring_intensities(p, g_range) for p in phases]
    strong = []
    for g, w in lists:
        strong += list(g[np.argsort(-w)[: int(n_rings)]])
    strong = np.sort(np.asarray(strong))
    # one band per ring (bands may overlap); rings closer than a quarter of
    # the half width share one
    centre = [strong[0]]
    for g in strong[1:]:
        if g - centre[-1] >= 0.25 * half_width:
            centre.append(g)
    centre = np.array(centre)
    hw = np.full(centre.shape, float(half_width))
    n_half = 2 * np.maximum(4, np.round(2 * np.pi * centre / sector)).astype(np.int64)
    members = np.zeros((len(phases), len(centre)), bool)
    compatible = np.zeros_like(members)
    for i, (g, w) in enumerate(lists):
        top = g[np.argsort(-w)[: int(n_rings)]]
        d = np.abs(np.subtract.outer(centre, top))
        members[i] = (d <= hw[:, None] + 1e-9).any(axis=1)
        compatible[i] = (np.abs(np.subtract.outer(centre, g)) <= hw[:, None]).any(
            axis=1
        )
    out = {
        "centre": centre,
        "half_width": hw,
        "n_half": n_half,
        "members": members,
        "compatible": compatible,
        "all_rings": [g for g, _ in lists],
        "phases": [get_phase(p).name for p in phases],
    }
    if kpix is not None:
        out["centre_px"] = centre / kpix
        out["half_width_px"] = hw / kpix
    return out


@njit_cached(nogil=True)
def _bin_pattern(
    pix,
    ky,
    kx,
    cx,
    cy,
    beam0,
    keep,
    aff,
    sc,
    template,
    radii,
    hw,
    nhalf,
    rlo,
    rhi,
    acc,
    cnt,
    geo,
    mod,
    sub,
    rs,
    rn,
):  # pragma: no cover - compiled
    # one pattern's band pixels into half-sectors and radial sub-bins
    nb = radii.size
    acc[:, :] = 0.0
    cnt[:, :] = 0.0
    geo[:, :] = 0.0
    mod[:, :] = 0.0
    sub[:, :, :] = 0.0
    rs[:, :] = 0.0
    rn[:, :] = 0.0
    a00, a01, a10, a11 = aff[0, 0], aff[0, 1], aff[1, 0], aff[1, 1]
    for y in range(ky):
        fy = y - cy
        for x in range(kx):
            fx = x - cx
            r = math.sqrt(fx * fx + fy * fy)
            if r < rlo or r > rhi:
                continue
            # the pixel in the reference frame (the pattern's lattice
            # mapped back onto the reference's), where mask and matrix
            # template were measured
            xr = beam0[0] + a00 * fx + a01 * fy
            yr = beam0[1] + a10 * fx + a11 * fy
            xm, ym = int(np.round(xr)), int(np.round(yr))
            kept = 0 <= ym < ky and 0 <= xm < kx and keep[ym, xm]
            u = (math.atan2(fy, fx) + math.pi) / (2.0 * math.pi)
            v = pix[y * kx + x]
            mv = 0.0
            if kept and sc != 0.0:
                x0, y0 = int(math.floor(xr)), int(math.floor(yr))
                if 0 <= x0 < kx - 1 and 0 <= y0 < ky - 1:
                    wx, wy = xr - x0, yr - y0
                    mv = sc * (
                        template[y0, x0] * (1 - wx) * (1 - wy)
                        + template[y0, x0 + 1] * wx * (1 - wy)
                        + template[y0 + 1, x0] * (1 - wx) * wy
                        + template[y0 + 1, x0 + 1] * wx * wy
                    )
            for b in range(nb):
                d = r - radii[b] + hw[b]
                if d < 0.0 or d > 2.0 * hw[b]:
                    continue
                j = min(int(u * nhalf[b]), nhalf[b] - 1)
                geo[b, j] += 1.0
                if kept:
                    k = int(2.0 * d)
                    acc[b, j] += v
                    mod[b, j] += mv
                    cnt[b, j] += 1.0
                    sub[b, j, k] += 1.0
                    rs[b, k] += v - mv
                    rn[b, k] += 1.0


@njit_cached(nogil=True)
def _expected(b, m, acc, cnt, mod, sub, rs, rn, exp):  # pragma: no cover - compiled
    # expected counts of each half-sector from the band's radial profile (a
    # ring's flank or a halo is not uniform in r) of what the matrix leaves,
    # plus the matrix's own (template) counts; the band's counts and pixels
    tot = 0.0
    npx = 0.0
    for j in range(m):
        tot += acc[b, j]
        npx += cnt[b, j]
        e = mod[b, j]
        for k in range(sub.shape[2]):
            if rn[b, k] > 0:
                e += sub[b, j, k] * rs[b, k] / rn[b, k]
        exp[j] = e
    return tot, npx


@njit_cached(nogil=True)
def _sectors(
    flat,
    ky,
    kx,
    centres,
    beam0,
    keep,
    radii,
    hw,
    nhalf,
    cover,
    guard,
    affine,
    mscale,
    template,
    out,
):  # pragma: no cover - compiled
    n = flat.shape[0]
    nb = radii.size
    mh = 0
    nsub = 0
    for b in range(nb):
        mh = max(mh, nhalf[b])
        nsub = max(nsub, int(4.0 * hw[b]) + 2)
    acc = np.zeros((nb, mh))
    cnt = np.zeros((nb, mh))
    geo = np.zeros((nb, mh))
    mod = np.zeros((nb, mh))  # matrix spot tails (model) per half-sector
    sub = np.zeros((nb, mh, nsub))  # kept pixels per half-sector and radial sub-bin
    rs = np.zeros((nb, nsub))  # counts per radial sub-bin (0.5 px)
    rn = np.zeros((nb, nsub))
    exp = np.zeros(mh)
    rlo = 1e30
    rhi = 0.0
    for b in range(nb):
        rlo = min(rlo, radii[b] - hw[b])
        rhi = max(rhi, radii[b] + hw[b])
    for i in range(n):
        cx, cy = centres[i, 0], centres[i, 1]
        if not (np.isfinite(cx) and np.isfinite(cy)):
            cx, cy = beam0[0], beam0[1]
        sc = mscale[i]
        _bin_pattern(
            flat[i],
            ky,
            kx,
            cx,
            cy,
            beam0,
            keep,
            affine[i],
            sc,
            template,
            radii,
            hw,
            nhalf,
            rlo,
            rhi,
            acc,
            cnt,
            geo,
            mod,
            sub,
            rs,
            rn,
        )
        for b in range(nb):
            m = nhalf[b]
            half = m // 2
            tot, npx = _expected(b, m, acc, cnt, mod, sub, rs, rn, exp)
            best = -1e30
            best1 = -1e30
            out[i, b, 5] = np.nan
            out[i, b, 6] = np.nan
            for j in range(m):
                ok = True
                p = 0.0
                ep = 0.0
                for q0 in (j, j + 1):
                    q = q0 % m
                    if geo[b, q] == 0 or cnt[b, q] < cover * geo[b, q]:
                        ok = False
                    p += acc[b, q]
                    ep += exp[q]
                if not ok or ep <= 0:
                    continue
                z = (p - ep) / math.sqrt(max(ep, 1.0))
                if z > best1:
                    best1 = z
                    out[i, b, 5] = p
                    out[i, b, 6] = ep
            out[i, b, 0] = np.nan
            out[i, b, 1] = np.nan
            out[i, b, 4] = np.nan
            out[i, b, 2] = tot
            out[i, b, 3] = npx
            for j in range(m):
                ok = True
                p = 0.0
                ep = 0.0
                for q0 in (j, j + 1, j + half, j + half + 1):
                    q = q0 % m
                    for k in range(q - guard, q + guard + 1):
                        kk = k % m
                        if geo[b, kk] == 0 or cnt[b, kk] < cover * geo[b, kk]:
                            ok = False
                    p += acc[b, q]
                    ep += exp[q]
                if not ok or ep <= 0:
                    continue
                z = (p - ep) / math.sqrt(max(ep, 1.0))
                if z > best:
                    best = z
                    out[i, b, 0] = p
                    out[i, b, 1] = ep
                    out[i, b, 4] = (j + 1.0) / m * 2.0 * math.pi - math.pi


def ring_sectors(
    patterns, centres, beam0, keep, bands, cover=0.2, guard=0, matrix=None
):
    """Best Friedel-pair window of every band in every pattern.

    Parameters
    ----------
    patterns : numpy.ndarray, shape (..., ky, kx)
    centres : numpy.ndarray, shape (..., 2)
        Direct beam (x, y) per pattern in pixels (NaN: ``beam0``).
    beam0 : (float, float)
        Beam position the ``keep`` mask refers to.
    keep : numpy.ndarray of bool, shape (ky, kx)
        Unmasked pixels about ``beam0`` (each pattern's pixels are mapped
        onto it about their own beam, through ``matrix``'s affine map).
    bands : dict
        From :func:`make_bands` with ``kpix`` given.
    cover : float
        A half-sector is usable when this fraction of its pixels is unmasked
        (and so must be its two neighbours).
    guard : int
        Half-sectors on each side of a Friedel-pair window that must be
        usable too.
    matrix : (affine, scale, template), optional
        The single-crystal matrix: ``affine`` (..., 2, 2) maps a pixel's
        offset from the pattern's beam to the reference frame of ``keep``
        (the pattern's lattice onto the reference's: strain and rotation
        move the mask with the spots), ``scale`` (...,) the pattern's
        brightness relative to the reference and ``template`` (ky, kx) the
        reference's excess over its radial profile on the kept pixels
        (:func:`~hyperspy_perovskite.analysis.diffraction.pipeline.matrix_template`).
        The scaled template is added to each window's expected counts and
        removed from the band's radial profile: the windows are tested
        against what the matrix leaves there (tails of masked spots, spots
        too weak to mask). Default: no matrix, the mask moves with the
        beam.

    Returns
    -------
    numpy.ndarray, shape (..., n_bands, 7)
        Fields :data:`BAND_FIELDS`.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.diffraction.products import (
    ...     make_bands, ring_sectors)
    >>> b = make_bands(["Pb"], (0.15, 0.6), 0.04, kpix=0.02)
    >>> rng = np.random.default_rng(0)
    >>> p = rng.poisson(5.0, (1, 64, 64)).astype(float)
    >>> r = b["centre_px"][0]  # two spots of a Pb 111 Friedel pair
    >>> p[0, 32, 32 + int(round(r))] += 300; p[0, 32, 32 - int(round(r))] += 300
    >>> out = ring_sectors(p, np.array([[32.0, 32.0]]), (32, 32),
    ...                    np.ones((64, 64), bool), b)
    >>> bool(out[0, 0, 0] - out[0, 0, 1] > 500)  # counts over the expected
    True
    """
    patterns = np.asarray(patterns)
    lead = patterns.shape[:-2]
    ky, kx = patterns.shape[-2:]
    flat = np.ascontiguousarray(patterns.reshape(-1, ky * kx))
    c = np.ascontiguousarray(np.asarray(centres, float).reshape(-1, 2))
    nb = len(bands["centre"])
    n = flat.shape[0]
    if matrix is None:
        aff, msc, tmpl = np.tile(np.eye(2), (n, 1, 1)), np.zeros(n), np.zeros((1, 1))
    else:
        aff, msc, tmpl = matrix
        aff = np.asarray(aff, float).reshape(n, 2, 2)
        msc = np.nan_to_num(np.asarray(msc, float).reshape(n))
        tmpl = np.asarray(tmpl, float)
    out = np.empty((n, nb, len(BAND_FIELDS)))
    _sectors(
        flat,
        ky,
        kx,
        c,
        np.asarray(beam0, float),
        np.ascontiguousarray(keep),
        np.ascontiguousarray(bands["centre_px"], float),
        np.ascontiguousarray(bands["half_width_px"], float),
        np.ascontiguousarray(bands["n_half"], np.int64),
        float(cover),
        int(guard),
        np.ascontiguousarray(aff),
        np.ascontiguousarray(msc),
        np.ascontiguousarray(tmpl),
        out,
    )
    return out.reshape(lead + (nb, len(BAND_FIELDS)))


def band_pvalues(table, n_half):
    """Bonferroni p-value of the best window of every band (Poisson null).

    Parameters
    ----------
    table : numpy.ndarray, shape (..., n_bands, 5)
        From :func:`ring_sectors`.
    n_half : numpy.ndarray of int, shape (n_bands,)
        Windows per band (the Bonferroni factor).

    Returns
    -------
    numpy.ndarray, shape (..., n_bands)
        NaN where the band had no usable window.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.diffraction.products import band_pvalues
    >>> t = np.array([[[40.0, 10.0, 1000.0, 1000.0, 0.0, 20.0, 5.0]]])  # 40, 9.7 expected
    >>> float(band_pvalues(t, np.array([40]))[0, 0]) < 1e-6
    True
    """
    from scipy.stats import poisson

    tot = table[..., 2]
    out = []
    for ip, ie in ((0, 1), (5, 6)):
        p, ep = table[..., ip], table[..., ie]
        with np.errstate(invalid="ignore", divide="ignore"):
            # the radial profile includes the window's own excess: remove it
            mu = ep * np.clip((tot - p) / np.maximum(tot - ep, 1e-9), 0.0, 1.0)
            pv = poisson.sf(p - 1, np.maximum(mu, 1e-12)) * np.asarray(n_half, float)
        out.append(np.where(np.isfinite(p) & (tot > p), pv, np.nan))
    # two tests (pair and one-sided window): Bonferroni factor 2
    with np.errstate(invalid="ignore"):
        best = 2.0 * np.fmin(out[0], out[1])
    return np.minimum(best, 1.0)


def detect_products(pvalues, usable, alpha=1e-3, min_cluster=2):
    """Patterns with a nanocrystal on a candidate ring, in spatial clusters.

    Parameters
    ----------
    pvalues : numpy.ndarray, shape (t, ny, nx, n_bands)
        From :func:`band_pvalues`.
    usable : numpy.ndarray of bool, shape (t, ny, nx, n_bands)
        Bands tested at each position (False: a known layer's ring, no
        window).
    alpha : float
        Per-pattern false-positive rate (Bonferroni over the usable bands).
    min_cluster : int
        Smallest cluster of hit positions (4-connected in the scan) kept; an
        isolated position is kept when its p-value is below ``alpha ** 2``
        (as improbable as two neighbouring chance hits): a grain smaller
        than the scan step is found in the scan where it appears.

    Returns
    -------
    product : numpy.ndarray of bool, shape (t, ny, nx)
    hits : numpy.ndarray of bool, shape (t, ny, nx, n_bands)
        Bands significant at ``alpha`` (after the correction).
    p_min : numpy.ndarray, shape (t, ny, nx)
        Corrected p-value of the position (NaN: no usable band).

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.diffraction.products import detect_products
    >>> p = np.ones((1, 3, 3, 1)); p[0, 1, 1] = p[0, 1, 2] = 1e-4; p[0, 0, 0] = 1e-4
    >>> p[0, 2, 0] = 1e-7
    >>> prod, hits, pm = detect_products(p, np.ones_like(p, bool))
    >>> prod[0].astype(int).tolist()  # the weak isolated hit at (0, 0) is dropped
    [[0, 0, 0], [0, 1, 1], [1, 0, 0]]
    """
    from scipy import ndimage

    if not 0 < alpha < 1:
        raise ValueError(f"alpha is a probability in (0, 1), got {alpha}.")
    pv = np.where(usable & np.isfinite(pvalues), pvalues, np.nan)
    nuse = np.maximum(np.isfinite(pv).sum(axis=-1), 1)
    corr = np.minimum(pv * nuse[..., None], 1.0)
    hits = np.nan_to_num(corr, nan=1.0) < alpha
    with np.errstate(invalid="ignore"):
        p_min = np.where(
            np.isfinite(pv).any(axis=-1),
            np.nanmin(np.nan_to_num(corr, nan=1.0), -1),
            np.nan,
        )
    single = hits.any(axis=-1)
    product = np.zeros_like(single)
    for t in range(single.shape[0]):
        lab, n = ndimage.label(single[t])
        if n:
            size = np.bincount(lab.ravel())
            product[t] = (size[lab] >= int(min_cluster)) & (lab > 0)
    product |= np.nan_to_num(p_min, nan=1.0) < alpha**2
    return product, hits, p_min


def identify(product, hits, compatible):
    """Phases compatible with the hit bands of each product position.

    Parameters
    ----------
    product : numpy.ndarray of bool, shape (...)
    hits : numpy.ndarray of bool, shape (..., n_bands)
    compatible : numpy.ndarray of bool, shape (n_phases, n_bands)

    Returns
    -------
    possible : numpy.ndarray of bool, shape (..., n_phases)
        The phase has a ring in every hit band (and the position holds a
        product).
    label : numpy.ndarray of int, shape (...)
        Index of the only compatible phase; -1 ambiguous (several), -2 none
        compatible (an unknown product), -3 no product.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.diffraction.products import identify
    >>> comp = np.array([[True, True, False], [True, True, True]])
    >>> hits = np.array([[True, True, False], [False, False, True]])
    >>> pos, lab = identify(np.array([True, True]), hits, comp)
    >>> lab.tolist()
    [-1, 1]
    """
    h = np.asarray(hits, bool)
    c = np.asarray(compatible, bool)
    # phase p is possible when no hit band lies outside its rings
    bad = np.einsum("...b,pb->...p", h.astype(np.int32), (~c).astype(np.int32))
    possible = (bad == 0) & np.asarray(product, bool)[..., None]
    n = possible.sum(axis=-1)
    label = np.where(n == 1, np.argmax(possible, axis=-1), np.where(n > 1, -1, -2))
    label = np.where(product, label, -3)
    return possible, label
