"""Virtual detectors and masked radial profiles in one compiled pass.

Every detector (bright field, annular dark field, a virtual dark-field
aperture at a reflection, an annulus at a d-spacing) and every radial bin of
the profile is a column of one sparse pixel-to-output matrix; a pattern is
read once and each pixel is added to the outputs it belongs to.
"""

import numba
import numpy as np

__all__ = ["Detector", "build_accumulator", "accumulate"]


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
            raise ValueError(f"Detector kind must be 'disk' or 'annulus', got {kind!r}.")
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


@numba.njit(cache=True, nogil=True)
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
    flat = np.ascontiguousarray(patterns.reshape(-1, patterns.shape[-2] * patterns.shape[-1]))
    out = np.empty((flat.shape[0], n_out))
    _accumulate(flat, ptr, col, out)
    return out.reshape(lead + (n_out,))
