"""Pb-rich cluster detection from halide/Pb ratio maps (arrays only).

Pb-rich clusters (metallic Pb, PbX2, CsPb2X5) exist in pristine perovskite
LEDs and form near the emitter/transport-layer interfaces under bias (Nature (2026), doi:10.1038/s41586-026-10238-8). In an ``X/Pb`` ratio map they are connected groups of
pixels whose ratio lies significantly below the ABX3 value of 3.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from hyperspy_perovskite.analysis.device_geometry import stack_coordinates

__all__ = ["label_pb_rich", "cluster_properties"]


def label_pb_rich(ratio, variance, nominal=3.0, tolerance=0.3, n_sigma=2.0, min_size=3):
    """Label connected Pb-rich regions of one ratio map.

    A pixel is Pb-rich when ``ratio < nominal * (1 - tolerance)`` and
    ``nominal - ratio > n_sigma * sigma``; 8-connected groups of at least
    ``min_size`` such pixels are clusters.

    Parameters
    ----------
    ratio, variance : numpy.ndarray
        ``(ny, nx)`` ``X/Pb`` map and its variance (NaN = no Pb).
    nominal, tolerance, n_sigma : float
        Stoichiometric ratio, relative tolerance, significance.
    min_size : int
        Smallest cluster (pixels).

    Returns
    -------
    labels : numpy.ndarray of int32
        0 = background, 1..n = clusters.
    n : int

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.clusters import label_pb_rich
    >>> r = np.full((10, 10), 3.0)
    >>> r[2:5, 2:5] = 1.0
    >>> lab, n = label_pb_rich(r, np.full((10, 10), 0.01))
    >>> n, int((lab == 1).sum())
    (1, 9)
    """
    ratio = np.asarray(ratio, dtype=float)
    variance = np.asarray(variance, dtype=float)
    if ratio.ndim != 2 or ratio.shape != variance.shape:
        raise ValueError("ratio and variance must be 2D maps of the same shape.")
    if not (nominal > 0 and 0 <= tolerance < 1 and n_sigma >= 0 and min_size >= 1):
        raise ValueError(
            "Need nominal > 0, 0 <= tolerance < 1, n_sigma >= 0 and min_size >= 1."
        )
    sig = np.sqrt(np.abs(variance))
    with np.errstate(invalid="ignore"):
        rich = (ratio < nominal * (1 - tolerance)) & (nominal - ratio > n_sigma * sig)
    rich &= np.isfinite(ratio)
    labels, n = ndimage.label(rich, structure=np.ones((3, 3), dtype=int))
    if n:
        sizes = ndimage.sum_labels(
            np.ones_like(labels), labels, index=np.arange(1, n + 1)
        )
        keep = np.flatnonzero(sizes >= min_size) + 1
        relabel = np.zeros(n + 1, dtype=np.int32)
        relabel[keep] = np.arange(1, keep.size + 1)
        labels = relabel[labels]
        n = int(keep.size)
    return labels.astype(np.int32), n


def cluster_properties(
    labels, ratio, x, y, start=None, end=None, interfaces=(), haadf=None
):
    """Size, position, ratio and distance to the nearest interface of clusters.

    Parameters
    ----------
    labels : numpy.ndarray
        From :func:`label_pb_rich`.
    ratio : numpy.ndarray
        The ratio map.
    x, y : numpy.ndarray
        ``(ny, nx)`` pixel-centre coordinates (nm).
    start, end : sequence of 2 float, optional
        Stack line (nm); with ``interfaces`` gives the distance to the
        nearest interface along the stack.
    interfaces : sequence of float
        Interface positions (nm from ``start`` along the line).
    haadf : numpy.ndarray, optional
        HAADF image: each cluster's mean intensity relative to the median of
        the map is reported (metallic Pb clusters are bright).

    Returns
    -------
    list of dict
        ``label``, ``area`` (nm^2), ``pixels``, ``equivalent_radius`` (nm),
        ``x``, ``y`` (centroid, nm), ``position`` (nm along the stack),
        ``distance_to_interface`` (nm), ``nearest_interface`` (index),
        ``mean_ratio``, ``haadf_contrast``.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.clusters import cluster_properties
    >>> lab = np.zeros((6, 6), int)
    >>> lab[1:3, 1:3] = 1
    >>> y, x = np.mgrid[0:6, 0:6] + 0.5
    >>> p = cluster_properties(lab, np.ones((6, 6)), x, y, (0, 3), (6, 3), [4.0])
    >>> p[0]["x"], p[0]["distance_to_interface"]
    (2.0, 2.0)
    """
    labels = np.asarray(labels)
    n = int(labels.max()) if labels.size else 0
    if n == 0:
        return []
    dx = abs(float(np.median(np.diff(x, axis=1)))) if x.shape[1] > 1 else 1.0
    dy = abs(float(np.median(np.diff(y, axis=0)))) if y.shape[0] > 1 else 1.0
    idx = np.arange(1, n + 1)
    ones = np.ones_like(labels, dtype=float)
    npx = ndimage.sum_labels(ones, labels, idx)
    cx = ndimage.sum_labels(x, labels, idx) / npx
    cy = ndimage.sum_labels(y, labels, idx) / npx
    r = np.where(np.isfinite(ratio), ratio, 0.0)
    nr = ndimage.sum_labels(np.isfinite(ratio).astype(float), labels, idx)
    mr = ndimage.sum_labels(r, labels, idx) / np.maximum(nr, 1)
    if haadf is not None:
        h = np.asarray(haadf, dtype=float)
        med = float(np.median(h))
        hc = ndimage.sum_labels(h, labels, idx) / npx / med - 1.0 if med else None
    out = []
    interfaces = np.asarray(list(interfaces), dtype=float)
    for i in range(n):
        d = dict(
            label=i + 1,
            pixels=int(npx[i]),
            area=float(npx[i] * dx * dy),
            equivalent_radius=float(np.sqrt(npx[i] * dx * dy / np.pi)),
            x=float(cx[i]),
            y=float(cy[i]),
            mean_ratio=float(mr[i]),
            position=float("nan"),
            distance_to_interface=float("nan"),
            nearest_interface=-1,
            haadf_contrast=float("nan"),
        )
        if start is not None and end is not None:
            s, _ = stack_coordinates(cx[i], cy[i], start, end)
            d["position"] = float(s)
            if interfaces.size:
                dist = np.abs(interfaces - float(s))
                d["nearest_interface"] = int(np.argmin(dist))
                d["distance_to_interface"] = float(dist.min())
        if haadf is not None and hc is not None:
            d["haadf_contrast"] = float(hc[i])
        out.append(d)
    return out
