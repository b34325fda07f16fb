"""Virtual detectors and masked radial profiles in one compiled pass.

Every detector (bright field, annular dark field, a virtual dark-field
aperture at a reflection, an annulus at a d-spacing) and every radial bin of
the profile is a column of one sparse pixel-to-output matrix; a pattern is
read once and each pixel is added to the outputs it belongs to.
"""

import numpy as np

from hyperspy_perovskite._numba_cache import njit_cached

__all__ = ["Detector", "build_accumulator", "accumulate", "radial_profiles"]


class Detector:
    """A virtual detector on the calibrated diffraction plane (1/A).

    Parameters
    ----------
    name : str
    kind : {"disk", "annulus"}
    inner, outer : float
        Radii in 1/A (``inner`` ignored for a disk).
    centre : (float, float)
        Centre (kx, ky) in 1/A relative to the direct beam (0, 0 for BF/ADF).

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.diffraction.virtual import Detector
    >>> Detector("ADF", "annulus", 0.3, 0.6)
    Detector('ADF', annulus, 0.3-0.6 1/A at (0, 0))
    """

    def __init__(self, name, kind, inner, outer, centre=(0.0, 0.0)):
        if kind not in ("disk", "annulus"):
            raise ValueError(
                f"Detector kind must be 'disk' or 'annulus', got {kind!r}."
            )
        if not (outer > 0 and (kind == "disk" or 0 <= inner < outer)):
            raise ValueError(
                f"Detector {name!r}: radii must satisfy 0 <= inner < outer (1/A), "
                f"got inner={inner}, outer={outer}."
            )
        self.name, self.kind = str(name), kind
        self.inner, self.outer = float(inner), float(outer)
        self.centre = (float(centre[0]), float(centre[1]))

    def __repr__(self):
        return (
            f"Detector({self.name!r}, {self.kind}, {self.inner:g}-{self.outer:g} 1/A "
            f"at ({self.centre[0]:g}, {self.centre[1]:g}))"
        )

    def mask(self, kx, ky):
        """Boolean mask on a grid of kx, ky (1/A, direct beam at 0)."""
        r = np.hypot(kx - self.centre[0], ky - self.centre[1])
        if self.kind == "disk":
            return r <= self.outer
        return (r >= self.inner) & (r < self.outer)


def build_accumulator(kx, ky, detectors, bin_edges=None, exclude=None):
    """Sparse pixel -> output map: detectors first, then radial bins.

    Parameters
    ----------
    kx, ky : numpy.ndarray, shape (ky, kx)
        Calibrated coordinates of every pixel (1/A, direct beam at 0).
    detectors : sequence of Detector
    bin_edges : numpy.ndarray, optional
        Edges (1/A) of the radial profile's bins.
    exclude : numpy.ndarray of bool, optional
        Pixels left out of the radial profile (e.g. the matrix's spots).

    Returns
    -------
    ptr, col : numpy.ndarray of int
        CSR layout over the flattened pixels.
    n_out : int
    npix : numpy.ndarray
        Pixels in each output (detectors, then bins).
    """
    cols = [[] for _ in range(kx.size)]
    n_out = 0
    npix = []
    for d in detectors:
        for p in np.flatnonzero(d.mask(kx, ky).ravel()):
            cols[p].append(n_out)
        npix.append(int(d.mask(kx, ky).sum()))
        n_out += 1
    if bin_edges is not None:
        r = np.hypot(kx, ky).ravel()
        b = np.searchsorted(bin_edges, r, side="right") - 1
        keep = (b >= 0) & (b < len(bin_edges) - 1)
        if exclude is not None:
            keep &= ~np.asarray(exclude, bool).ravel()
        for p in np.flatnonzero(keep):
            cols[p].append(n_out + b[p])
        npix += np.bincount(b[keep], minlength=len(bin_edges) - 1).tolist()
        n_out += len(bin_edges) - 1
    ptr = np.zeros(kx.size + 1, np.int64)
    ptr[1:] = np.cumsum([len(c) for c in cols])
    col = np.array([v for c in cols for v in c], np.int64)
    return ptr, col, n_out, np.asarray(npix, float)


@njit_cached(nogil=True)
def _accumulate(flat, ptr, col, out):  # pragma: no cover - compiled
    n, p = flat.shape
    for i in range(n):
        for j in range(out.shape[1]):
            out[i, j] = 0.0
        for q in range(p):
            v = flat[i, q]
            if v == 0:
                continue
            for k in range(ptr[q], ptr[q + 1]):
                out[i, col[k]] += v


def accumulate(patterns, ptr, col, n_out):
    """Sum every pattern's pixels into the outputs of :func:`build_accumulator`.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.diffraction.virtual import (
    ...     Detector, build_accumulator, accumulate)
    >>> k = (np.arange(8) - 3.5) * 0.1
    >>> kx, ky = np.meshgrid(k, k)
    >>> ptr, col, n, npix = build_accumulator(kx, ky, [Detector("BF", "disk", 0, 0.2)])
    >>> accumulate(np.ones((2, 8, 8)), ptr, col, n).ravel().tolist()
    [12.0, 12.0]
    """
    patterns = np.asarray(patterns)
    lead = patterns.shape[:-2]
    flat = np.ascontiguousarray(
        patterns.reshape(-1, patterns.shape[-2] * patterns.shape[-1])
    )
    out = np.empty((flat.shape[0], n_out))
    _accumulate(flat, ptr, col, out)
    return out.reshape(lead + (n_out,))


@njit_cached(nogil=True)
def _radial(flat, ky, kx, centres, beam0, keep, lo, bw, out):  # pragma: no cover
    # out[:, :nb] = sum per bin, out[:, nb:] = sum minus the azimuthal median
    n = flat.shape[0]
    nb = out.shape[1] // 2
    idx = np.empty(ky * kx, np.int64)
    cnt = np.zeros(nb + 1, np.int64)
    buf = np.empty(ky * kx)
    for i in range(n):
        cx, cy = centres[i, 0], centres[i, 1]
        if not (np.isfinite(cx) and np.isfinite(cy)):
            cx, cy = beam0[0], beam0[1]
        dx = int(np.round(cx - beam0[0]))
        dy = int(np.round(cy - beam0[1]))
        cnt[:] = 0
        for y in range(ky):
            for x in range(kx):
                q = y * kx + x
                idx[q] = -1
                ym, xm = y - dy, x - dx
                if ym < 0 or ym >= ky or xm < 0 or xm >= kx or not keep[ym, xm]:
                    continue
                r = np.sqrt((x - cx) ** 2 + (y - cy) ** 2)
                b = int((r - lo) / bw)
                if r >= lo and b < nb:
                    idx[q] = b
                    cnt[b + 1] += 1
        for b in range(nb):
            cnt[b + 1] += cnt[b]
        fill = cnt[:nb].copy()
        for q in range(ky * kx):
            b = idx[q]
            if b >= 0:
                buf[fill[b]] = flat[i, q]
                fill[b] += 1
        for b in range(nb):
            a, e = cnt[b], cnt[b + 1]
            if e == a:
                out[i, b] = 0.0
                out[i, nb + b] = 0.0
                continue
            seg = np.sort(buf[a:e])
            m = e - a
            med = seg[m // 2] if m % 2 else 0.5 * (seg[m // 2 - 1] + seg[m // 2])
            tot = seg.sum()
            out[i, b] = tot
            out[i, nb + b] = tot - m * med


def radial_profiles(patterns, centres, beam0, keep, lo_px, bin_px, n_bins):
    """Radial profiles about each pattern's own beam centre (descan followed).

    Each bin gives the summed counts and the counts above the bin's
    azimuthal median: compact spots of nanocrystals stand out of the
    median, continuous rings and amorphous halos do not.

    Parameters
    ----------
    patterns : numpy.ndarray, shape (..., ky, kx)
    centres : numpy.ndarray, shape (..., 2)
        Beam (x, y) per pattern in pixels (NaN: use ``beam0``).
    beam0 : (float, float)
        Beam position the ``keep`` mask refers to.
    keep : numpy.ndarray of bool, shape (ky, kx)
        Pixels used (the mask moves with the beam, by whole pixels).
    lo_px, bin_px : float
        First edge and bin width in pixels.
    n_bins : int

    Returns
    -------
    numpy.ndarray, shape (..., 2 * n_bins)
        Sums, then sums minus ``n_pixels * median``.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.diffraction.virtual import radial_profiles
    >>> p = np.ones((1, 9, 9)); p[0, 4, 6] = 5.0
    >>> radial_profiles(p, np.array([[4.0, 4.0]]), (4, 4), np.ones((9, 9), bool),
    ...                 0.0, 1.0, 3).tolist()
    [[1.0, 8.0, 20.0, 0.0, 0.0, 4.0]]
    """
    patterns = np.asarray(patterns)
    lead = patterns.shape[:-2]
    ky, kx = patterns.shape[-2:]
    flat = np.ascontiguousarray(patterns.reshape(-1, ky * kx))
    c = np.ascontiguousarray(np.asarray(centres, float).reshape(-1, 2))
    out = np.empty((flat.shape[0], 2 * int(n_bins)))
    _radial(
        flat,
        ky,
        kx,
        c,
        np.asarray(beam0, float),
        np.ascontiguousarray(keep),
        float(lo_px),
        float(bin_px),
        out,
    )
    return out.reshape(lead + (2 * int(n_bins),))
