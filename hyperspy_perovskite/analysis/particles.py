"""Particle segmentation, distance to particle edges, and grid registration.

Arrays only (numpy/scipy/scikit-image). Used to correlate a CL spectrum image
with its simultaneously acquired HAADF image (Li et al., Nat. Commun. 14, 7612 (2023),
Fig. 2c-f): which pixels belong to which nanocrystal, and how deep below the
particle edge each pixel lies.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

__all__ = [
    "labels_from_mask",
    "resample_to_grid",
    "segment_particles",
    "signed_edge_distance",
    "split_touching",
]


def _check_image(image, name="image"):
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"{name} must be 2D, got shape {image.shape}.")
    if min(image.shape) < 2:
        raise ValueError(f"{name} must be at least 2x2, got shape {image.shape}.")
    return image


def labels_from_mask(mask, min_size=1, fill_holes=True):
    """Label the connected particles (4-connectivity) of a boolean mask.

    Parameters
    ----------
    mask : array_like of bool
        True on particles.
    min_size : int
        Objects smaller than this many pixels are dropped.
    fill_holes : bool
        Fill holes inside particles.

    Returns
    -------
    numpy.ndarray of int32
        0 outside particles, 1..n on particles (consecutive).

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.particles import labels_from_mask
    >>> m = np.zeros((5, 7), bool); m[1:3, 1:3] = True; m[2:4, 5] = True
    >>> labels_from_mask(m, min_size=3).max()
    np.int32(1)
    """
    mask = _check_image(mask, "mask")
    if mask.dtype != bool:
        if not np.isin(np.unique(mask), (0, 1)).all():
            raise ValueError("mask must be boolean (or 0/1).")
        mask = mask.astype(bool)
    if min_size < 1:
        raise ValueError(f"min_size must be >= 1, got {min_size}.")
    if fill_holes:
        mask = ndi.binary_fill_holes(mask)
    labels, n = ndi.label(mask)
    if n and min_size > 1:
        sizes = np.bincount(labels.ravel(), minlength=n + 1)
        keep = sizes >= min_size
        keep[0] = False
        new = np.zeros(n + 1, np.int32)
        new[keep] = np.arange(1, keep.sum() + 1)
        labels = new[labels]
    return labels.astype(np.int32)


def split_touching(labels, min_distance=3):
    """Split touching particles by a watershed on the distance transform.

    Each maximum of the distance to the matrix (at least ``min_distance``
    pixels apart) seeds one particle; the watershed of the negated distance
    divides merged objects along their necks.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.particles import split_touching
    >>> yy, xx = np.mgrid[0:20, 0:32]
    >>> two = (np.hypot(yy - 10, xx - 9) < 7) | (np.hypot(yy - 10, xx - 22) < 7)
    >>> int(split_touching(two.astype(int)).max())
    2
    """
    from skimage.feature import peak_local_max
    from skimage.segmentation import watershed

    labels = _check_image(labels, "labels")
    if min_distance < 1:
        raise ValueError(f"min_distance must be >= 1, got {min_distance}.")
    mask = labels > 0
    dist = ndi.distance_transform_edt(mask)
    peaks = peak_local_max(
        dist,
        min_distance=int(min_distance),
        labels=ndi.label(mask)[0],
        exclude_border=False,
    )
    markers = np.zeros(labels.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    split = watershed(-dist, markers, mask=mask)
    uniq = np.unique(split[split > 0])
    lut = np.zeros(int(split.max()) + 1, np.int32)
    lut[uniq] = np.arange(1, uniq.size + 1)
    return lut[split]


def segment_particles(
    image,
    threshold=None,
    smoothing=1.0,
    min_size=4,
    fill_holes=True,
    split=False,
    min_distance=3,
):
    """Segment bright particles in a HAADF image.

    The image is smoothed with a Gaussian of ``smoothing`` pixels (to beat
    Poisson noise), thresholded (Otsu's threshold by default: heavy CsPbI3
    nanocrystals are brighter than the ZIF-62 glass in Z-contrast), holes are
    filled, connected objects labelled and objects below ``min_size`` pixels
    dropped. Touching particles are split only with ``split=True``.

    Parameters
    ----------
    image : array_like
        2D HAADF image.
    threshold : float, optional
        Intensity threshold on the smoothed image; default Otsu.
    smoothing : float
        Gaussian smoothing sigma in pixels (0 for none).
    min_size : int
        Minimum object size in pixels.
    fill_holes : bool
        Fill holes inside particles.
    split : bool
        Split touching particles (:func:`split_touching`).
    min_distance : int
        Minimum distance in pixels between particle centres when splitting.

    Returns
    -------
    numpy.ndarray of int32
        Particle labels, 0 = matrix.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.particles import segment_particles
    >>> img = np.ones((20, 20)); img[4:10, 4:10] = 5; img[12:18, 11:19] = 5
    >>> int(segment_particles(img, smoothing=0).max())
    2
    """
    image = _check_image(image).astype(float)
    if not np.all(np.isfinite(image)):
        raise ValueError("image contains NaN or inf; replace them before segmenting.")
    if smoothing < 0:
        raise ValueError(f"smoothing must be >= 0, got {smoothing}.")
    smooth = ndi.gaussian_filter(image, smoothing) if smoothing > 0 else image
    if threshold is None:
        if np.ptp(smooth) == 0:
            raise ValueError("image is uniform: no particles to segment.")
        from skimage.filters import threshold_otsu

        threshold = threshold_otsu(smooth)
    labels = labels_from_mask(
        smooth > threshold, min_size=min_size, fill_holes=fill_holes
    )
    if split and labels.any():
        labels = split_touching(labels, min_distance=min_distance)
    return labels


def signed_edge_distance(labels, pixel_size=(1.0, 1.0)):
    """Signed distance of each pixel centre to the nearest particle edge.

    Positive inside particles (depth below the edge), negative in the matrix.
    The edge lies half way between a particle pixel and its nearest matrix
    pixel, so the outermost particle pixels are at ``+pixel/2`` and the
    matrix pixels next to them at ``-pixel/2``.

    Parameters
    ----------
    labels : array_like
        Labels or boolean mask (non-zero = particle).
    pixel_size : float or (float, float)
        Pixel size ``(dy, dx)`` in physical units.

    Returns
    -------
    numpy.ndarray of float
        The signed distance in the units of ``pixel_size``. If there is no
        particle (or no matrix) pixel, the distance on that side is ``-inf``
        (``+inf``).

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.particles import signed_edge_distance
    >>> m = np.zeros((3, 7), bool); m[:, 1:6] = True
    >>> signed_edge_distance(m, 10.0)[1].tolist()
    [-5.0, 5.0, 15.0, 25.0, 15.0, 5.0, -5.0]
    """
    inside = _check_image(labels, "labels") != 0
    sampling = np.broadcast_to(np.asarray(pixel_size, float), (2,))
    if np.any(sampling <= 0):
        raise ValueError(f"pixel_size must be positive, got {pixel_size}.")
    out = np.empty(inside.shape)
    if inside.all():
        out[:] = np.inf
        return out
    if not inside.any():
        out[:] = -np.inf
        return out
    for region, sign in ((inside, 1.0), (~inside, -1.0)):
        # distance to the nearest pixel of the other kind, minus half a pixel
        # measured along the direction to it (exact for anisotropic pixels
        # along the axes)
        dist, idx = ndi.distance_transform_edt(
            region, sampling=sampling, return_indices=True
        )
        grid = np.indices(region.shape)
        vy = (idx[0] - grid[0]) * sampling[0]
        vx = (idx[1] - grid[1]) * sampling[1]
        with np.errstate(invalid="ignore", divide="ignore"):
            half = 0.5 * np.hypot(vy * sampling[0], vx * sampling[1]) / dist
        out[region] = sign * (dist[region] - half[region])
    return out


def resample_to_grid(image, src_y, src_x, dst_y, dst_x, order=0, name="image"):
    """Resample a 2D image from one calibrated grid onto another.

    Both grids are given by the pixel-centre coordinates of their rows and
    columns (uniform, in the same physical unit). Every destination pixel
    centre must lie inside the source field of view (the source pixel
    centres +/- half a pixel); otherwise a :class:`ValueError` says by how
    much the fields of view disagree.

    Parameters
    ----------
    image : array_like
        Source image, shape ``(src_y.size, src_x.size)``.
    src_y, src_x, dst_y, dst_x : array_like
        Pixel-centre coordinates.
    order : int
        0 (nearest: labels, masks) or 1 (bilinear: intensities, distances).
    name : str
        Name of the source in error messages.

    Returns
    -------
    numpy.ndarray
        Shape ``(dst_y.size, dst_x.size)``.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.particles import resample_to_grid
    >>> img = np.arange(16.0).reshape(4, 4)
    >>> c4 = np.arange(4) * 1.0 + 0.5; c2 = np.arange(2) * 2.0 + 1.0
    >>> resample_to_grid(img, c4, c4, c2, c2, order=1).tolist()
    [[2.5, 4.5], [10.5, 12.5]]
    """
    image = _check_image(image, name)
    src = [np.asarray(src_y, float), np.asarray(src_x, float)]
    dst = [np.asarray(dst_y, float), np.asarray(dst_x, float)]
    if image.shape != (src[0].size, src[1].size):
        raise ValueError(
            f"{name} shape {image.shape} does not match its axes "
            f"({src[0].size}, {src[1].size})."
        )
    if order not in (0, 1):
        raise ValueError(f"order must be 0 or 1, got {order}.")
    idx = []
    for axis_name, s, d in zip(("y", "x"), src, dst, strict=True):
        step = s[1] - s[0] if s.size > 1 else 1.0
        if step == 0:
            raise ValueError(f"{name} {axis_name} axis has zero scale.")
        lo = min(s[0], s[-1]) - 0.5 * abs(step)
        hi = max(s[0], s[-1]) + 0.5 * abs(step)
        dstep = abs(d[1] - d[0]) if d.size > 1 else 0.0
        tol = 1e-6 * max(abs(step), dstep, 1e-12)
        d_lo, d_hi = d.min(), d.max()
        if d_lo < lo - tol or d_hi > hi + tol:
            raise ValueError(
                f"The {name} field of view along {axis_name} "
                f"[{lo:.6g}, {hi:.6g}] does not cover the target grid's pixel "
                f"centres [{d_lo:.6g}, {d_hi:.6g}]: the two maps do not overlap "
                "fully. Check the axes offsets/scales (and units) or crop the "
                "CL map to the HAADF field of view."
            )
        idx.append((d - s[0]) / step)
    iy, ix = np.meshgrid(idx[0], idx[1], indexing="ij")
    return ndi.map_coordinates(
        image.astype(float) if order == 1 else image,
        [iy, ix],
        order=order,
        mode="nearest",
    )
