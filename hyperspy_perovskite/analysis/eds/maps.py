"""Map-level array algorithms of EDX under bias: band profiles for the
automatic geometry, the HAADF noise, Pb-rich clusters of a series of maps.

Arrays in, arrays out; the signal methods of
:class:`~hyperspy_perovskite.signals.eds_biased.EDSTEMBiasedSpectrum`
(``find_device_geometry``, ``find_pb_clusters``) validate, call and wrap.
"""

from __future__ import annotations

import numpy as np

from hyperspy_perovskite.analysis import clusters as cl

__all__ = [
    "band_profiles",
    "image_noise_variance",
    "label_cluster_series",
    "cluster_search_ratio",
    "layer_mask",
]


def band_profiles(maps, variances, index, n_bins):
    """Mean of each map per band bin, and the variance of that mean.

    Parameters
    ----------
    maps, variances : numpy.ndarray
        ``(n_maps, ny, nx)`` values and their variances.
    index : numpy.ndarray of int
        ``(ny, nx)`` bin of every pixel (-1: outside the band), from
        :func:`~hyperspy_perovskite.analysis.device_geometry.band_bin_index`.
    n_bins : numpy.ndarray
        Pixels per bin (``n_bins.size`` bins).

    Returns
    -------
    profile, variance : numpy.ndarray
        ``(n_maps, n_bins)``: ``sum / n`` and ``sum(var) / n^2``.

    Examples
    --------
    >>> import numpy as np
    >>> from hyperspy_perovskite.analysis.eds.maps import band_profiles
    >>> m = np.arange(6.0).reshape(1, 2, 3)
    >>> idx = np.array([[0, 1, -1], [0, 1, -1]])
    >>> p, v = band_profiles(m, m, idx, np.array([2, 2]))
    >>> p.tolist(), v.tolist()
    ([[1.5, 2.5]], [[0.75, 1.25]])
    """
    keep = index >= 0
    npix = np.asarray(n_bins, dtype=float)

    def sums(arrays):
        return np.stack(
            [
                np.bincount(index[keep], weights=a[keep], minlength=npix.size)
                for a in arrays
            ]
        )

    return sums(maps) / npix, sums(variances) / npix**2


def image_noise_variance(img):
    """White-noise variance of an image from its pixel-to-pixel differences.

    ``(1.4826 MAD(diff))^2 / 2`` along x: the median absolute deviation of
    neighbour differences (robust to edges and interfaces; 1.4826 makes it
    a Gaussian standard deviation, Rousseeuw & Croux, J. Am. Stat. Assoc.
    88, 1273 (1993)); the difference of two pixels has twice the variance.

    Examples
    --------
    >>> import numpy as np
    >>> from hyperspy_perovskite.analysis.eds.maps import image_noise_variance
    >>> img = np.random.default_rng(0).normal(0, 2.0, (200, 200))
    >>> bool(abs(image_noise_variance(img) - 4.0) < 0.3)
    True
    """
    d = np.diff(np.asarray(img, dtype=float), axis=1)
    return float((1.4826 * np.median(np.abs(d - np.median(d)))) ** 2 / 2)


def label_cluster_series(
    ratio, variance, nominal, tolerance, n_sigma, min_size, grid, geometry, haadf=None
):
    """Pb-rich clusters of every ``X/Pb`` map of a series.

    Parameters
    ----------
    ratio, variance : numpy.ndarray
        ``(..., ny, nx)`` ratio maps (NaN where not judged) and variances.
    nominal, tolerance, n_sigma, min_size
        See :func:`~hyperspy_perovskite.analysis.clusters.label_pb_rich`.
    grid : (numpy.ndarray, numpy.ndarray)
        Pixel positions ``xx, yy`` (nm).
    geometry : (start, end, interfaces) or None
        Stack line end points (nm) and interface positions along it.
    haadf : numpy.ndarray, optional
        HAADF image(s) broadcastable to the maps.

    Returns
    -------
    labels : numpy.ndarray of int32
        Shape of ``ratio``.
    counts : numpy.ndarray
        Clusters per map (shape ``ratio.shape[:-2]``).
    properties : list of list of dict
        :func:`~hyperspy_perovskite.analysis.clusters.cluster_properties`
        per map.
    """
    lead = ratio.shape[:-2]
    r2 = ratio.reshape((-1,) + ratio.shape[-2:])
    v2 = variance.reshape(r2.shape)
    h2 = None
    if haadf is not None:
        h = np.asarray(haadf, dtype=float)
        if h.shape[-2:] != ratio.shape[-2:]:
            raise ValueError(
                f"The HAADF image shape {h.shape[-2:]} differs from the map "
                f"{ratio.shape[-2:]}."
            )
        h2 = np.broadcast_to(h.reshape((-1,) + h.shape[-2:]), r2.shape)
    start, end, interfaces = geometry or (None, None, [])
    xx, yy = grid
    labels = np.zeros(r2.shape, dtype=np.int32)
    counts, props = [], []
    for i in range(r2.shape[0]):
        lab, n = cl.label_pb_rich(r2[i], v2[i], nominal, tolerance, n_sigma, min_size)
        labels[i] = lab
        counts.append(n)
        props.append(
            cl.cluster_properties(
                lab,
                r2[i],
                xx,
                yy,
                start,
                end,
                interfaces,
                None if h2 is None else h2[i],
            )
        )
    counts = np.asarray(counts)
    return labels.reshape(ratio.shape), counts.reshape(lead) if lead else counts, props


def cluster_search_ratio(ratio, variance, pb, pb_variance, k_atomic, weights, n_sigma):
    """The ``X/Pb`` ratio and variance searched for Pb-rich clusters.

    Only pixels with significant Pb net counts (``pb > n_sigma *
    sqrt(pb_variance)``) are judged (elsewhere NaN); the ratio's variance
    counts at least one count's worth of halide noise in every channel of
    the halide windows, so that a metallic Pb grain (no halide) is found
    while one stray Pb count is not.

    Parameters
    ----------
    ratio, variance : numpy.ndarray
        ``(..., ny, nx)`` halide-to-Pb atomic ratio and its variance.
    pb, pb_variance : numpy.ndarray
        Pb net counts and their variance, same shape.
    k_atomic : sequence of float
        Atomic k-factors of the halide lines, then Pb's (last).
    weights : numpy.ndarray
        ``(n_channels, n_lines)`` window weights, Pb's column last.
    n_sigma : float

    Returns
    -------
    ratio, variance : numpy.ndarray

    Examples
    --------
    >>> import numpy as np
    >>> from hyperspy_perovskite.analysis.eds.maps import cluster_search_ratio
    >>> w = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    >>> r, v = cluster_search_ratio(np.array([3.0, 0.0]), np.array([0.1, 0.1]),
    ...                             np.array([100.0, 1.0]), np.array([100.0, 1.0]),
    ...                             [1.0, 1.0], w, 2.0)
    >>> r.tolist(), v.tolist()
    ([3.0, nan], [0.1002, 2.1])
    """
    k = np.asarray(k_atomic, dtype=float)
    w = np.asarray(weights, dtype=float)
    floor = float(np.sum(k[:-1] ** 2 * np.sum(w[:, :-1] ** 2, axis=0)))
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(pb > n_sigma * np.sqrt(np.abs(pb_variance)), ratio, np.nan)
        variance = variance + floor / (k[-1] * np.maximum(pb, 1.0)) ** 2
    return ratio, variance


def layer_mask(stack_position, bounds, length):
    """Pixels inside any of the layers ``bounds`` along the stack.

    Parameters
    ----------
    stack_position : numpy.ndarray
        Position of every pixel along the stack line (nm from its start).
    bounds : sequence of (float, float)
        ``(start, end)`` of each layer along the stack (nm); a layer at an
        end of the stack extends beyond it (pixels past the line ends
        belong to the end layers).
    length : float
        Length of the stack line (nm).

    Examples
    --------
    >>> import numpy as np
    >>> from hyperspy_perovskite.analysis.eds.maps import layer_mask
    >>> layer_mask(np.array([-5.0, 5.0, 15.0, 25.0]), [(0.0, 10.0)], 20.0).tolist()
    [True, True, False, False]
    """
    inside = np.zeros(np.shape(stack_position), dtype=bool)
    for lo, hi in bounds:
        inside |= (stack_position >= (lo if lo > 0 else -np.inf)) & (
            stack_position < (hi if hi < length else np.inf)
        )
    return inside
