"""Map-level array algorithms of EDX under bias: band profiles for the
automatic geometry, the HAADF noise, Pb-rich clusters of a series of maps.

Arrays in, arrays out; the signal methods of
:class:`~hyperspy_perovskite.signals.eds_biased.EDSTEMBiasedSpectrum`
(``find_device_geometry``, ``find_pb_clusters``) validate, call and wrap.
"""

from __future__ import annotations

import numpy as np

from hyperspy_perovskite.analysis import clusters as cl

__all__ = ["band_profiles", "image_noise_variance", "label_cluster_series"]


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
