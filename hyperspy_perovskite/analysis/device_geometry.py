"""Geometry of a device cross-section: stack direction, band and interfaces.

Pure numpy/dask array code (no HyperSpy objects). A cross-section map has two
spatial axes; the *stack direction* is a line from ``start`` to ``end`` (in nm)
crossing the layers, and every position is expressed as the distance ``s``
along that line. A *band* of width ``w`` around the line selects the pixels
whose perpendicular distance ``|t| <= w / 2``; the pixels are binned in ``s``
and summed, which turns a spectrum image into a line scan across the stack.

The signal methods of :class:`~hyperspy_perovskite.signals.eds_biased.EDSTEMBiasedSpectrum`
call these functions; the metadata node they fill is documented there.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
from scipy import sparse

from hyperspy_perovskite.analysis.stack_detection import (  # noqa: E402,F401
    find_interfaces,
    find_stack_direction,
    layering_contrast,
    profile_contrast,
    refine_stack_direction,
)

__all__ = [
    "stack_coordinates",
    "band_bin_index",
    "project_to_stack",
    "find_stack_direction",
    "line_across_map",
    "find_interfaces",
    "profile_contrast",
    "refine_stack_direction",
    "layering_contrast",
]


def stack_coordinates(x, y, start, end):
    """Distance along and across the stack line for pixel positions.

    Parameters
    ----------
    x, y : array_like
        Pixel-centre coordinates (nm), broadcastable to each other.
    start, end : sequence of 2 float
        ``(x, y)`` of the two points defining the stack direction (nm).

    Returns
    -------
    s, t : numpy.ndarray
        ``s`` is the distance from ``start`` along ``end - start``; ``t`` is
        the signed perpendicular distance (positive to the left of the
        direction).

    Raises
    ------
    ValueError
        If ``start`` and ``end`` coincide.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.device_geometry import stack_coordinates
    >>> s, t = stack_coordinates(np.array([0.0, 1.0]), np.array([1.0, 1.0]),
    ...                          (0, 0), (0, 10))
    >>> s.tolist(), t.tolist()
    ([1.0, 1.0], [0.0, -1.0])
    """
    start = np.asarray(start, dtype=float)
    end = np.asarray(end, dtype=float)
    d = end - start
    length = float(np.hypot(*d))
    if not length > 0:
        raise ValueError(
            "The two points defining the stack direction coincide; give two "
            "distinct points (start != end)."
        )
    u = d / length
    dx = np.asarray(x, dtype=float) - start[0]
    dy = np.asarray(y, dtype=float) - start[1]
    s = dx * u[0] + dy * u[1]
    t = -dx * u[1] + dy * u[0]
    return s, t


def band_bin_index(x, y, start, end, width, bin_size):
    """Bin index of every pixel in a band around the stack line.

    Parameters
    ----------
    x, y : numpy.ndarray
        Pixel-centre coordinates (nm) of the map, both of shape ``(ny, nx)``.
    start, end : sequence of 2 float
        The stack line (nm).
    width : float
        Full width of the band (nm); ``None`` or ``inf`` for the whole map.
    bin_size : float
        Bin size along the stack (nm).

    Returns
    -------
    index : numpy.ndarray of int
        ``(ny, nx)`` bin of each pixel, ``-1`` outside the band.
    centres : numpy.ndarray
        Bin centres (nm from ``start``).
    counts : numpy.ndarray of int
        Number of pixels in each bin.

    Raises
    ------
    ValueError
        For a non-positive width or bin size, or when the band contains no
        pixel or some bins contain no pixel (bins smaller than the pixels).

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.device_geometry import band_bin_index
    >>> y, x = np.mgrid[0:4, 0:3] + 0.5
    >>> idx, centres, n = band_bin_index(x, y, (1.5, 0), (1.5, 4), 3, 1.0)
    >>> centres.tolist(), n.tolist()
    ([0.5, 1.5, 2.5, 3.5], [3, 3, 3, 3])
    """
    if not (bin_size is not None and np.isfinite(bin_size) and bin_size > 0):
        raise ValueError(f"bin_size must be a positive length in nm, got {bin_size}.")
    if width is None:
        width = np.inf
    if not width > 0:
        raise ValueError(f"The band width must be positive (nm), got {width}.")
    s, t = stack_coordinates(x, y, start, end)
    length = float(np.hypot(*(np.asarray(end, float) - np.asarray(start, float))))
    nbins = max(int(np.floor(length / bin_size + 1e-9)), 1)
    edges = np.arange(nbins + 1) * bin_size
    # pixels exactly on a bin edge (e.g. a line drawn through pixel centres)
    # go to the upper bin, whatever the rounding of s
    s = s + 1e-6 * bin_size
    inside = (np.abs(t) <= width / 2 * (1 + 1e-9)) & (s >= 0) & (s < edges[-1])
    index = np.where(inside, np.floor(s / bin_size).astype(int), -1)
    index[index >= nbins] = -1
    counts = np.bincount(index[index >= 0].ravel(), minlength=nbins)
    if counts.sum() == 0:
        raise ValueError(
            "The band around the stack line contains no pixel: the line lies "
            "outside the map or the band is too narrow. Check start/end and "
            "increase the width."
        )
    if np.any(counts == 0):
        raise ValueError(
            f"{int(np.sum(counts == 0))} of {nbins} bins along the stack "
            "contain no pixel (band with zero counts): increase bin_size or the "
            "band width (bins must be at least about one pixel)."
        )
    return index, 0.5 * (edges[:-1] + edges[1:]), counts


def _project_block(block, index, nbins, channels):
    # block: (..., by, bx, ne); index: (by, bx) -> (..., 1, 1, nbins, nc):
    # the block is reduced at once to its small partial bin sums, so nothing
    # of the size of the block outlives this call
    lead = block.shape[:-3]
    flat = block.reshape((-1, index.size, block.shape[-1]))
    idx = index.ravel()
    keep = np.flatnonzero(idx >= 0)
    nc = flat.shape[-1] if channels is None else channels.size
    out = np.zeros((flat.shape[0], nbins, nc), dtype=np.float64)
    if keep.size:
        # sparse (bins x pixels) indicator times the spectra: exact sums of
        # the counts. All channels: no copy of the block. Some channels:
        # only they (then the band's pixels) are copied out of the block.
        some = channels is not None and keep.size < idx.size
        P = sparse.csr_matrix(
            (np.ones(keep.size), (idx[keep], np.arange(keep.size) if some else keep)),
            shape=(nbins, keep.size if some else idx.size),
        )
        for k in range(flat.shape[0]):
            # np.take: a far faster gather than fancy indexing here
            sub = flat[k] if channels is None else np.take(flat[k], channels, axis=1)
            out[k] = P @ (sub[keep] if some else sub)
    return out.reshape(lead + (1, 1, nbins, nc))


#: Partial bin sums combined per task of the tree reduction: with the
#: threaded scheduler at most about ``workers * split_every`` partials of
#: ``(..., nbins, n_channels)`` are alive at once, whatever the number of chunks.
SPLIT_EVERY = 8

#: Target size (bytes) of the row blocks an in-memory array is cut into, so
#: that the temporaries of an eager projection are bounded too.
EAGER_BLOCK_BYTES = 32 * 2**20


def project_to_stack(data, index, nbins, channels=None):
    """Sum a spectrum image over the pixels of each bin along the stack.

    ONE streaming pass over the data: every chunk is reduced at once to its
    partial bin sums ``(..., nbins, n_channels)`` and the partials are added
    by a tree reduction (``split_every`` :data:`SPLIT_EVERY`), so the memory
    is bounded by a few chunks and a few partials, independently of the
    number of chunks. Identical for numpy and dask input (numpy input is cut
    into row blocks of about :data:`EAGER_BLOCK_BYTES`). The sums of integer
    counts are exact in float64.

    Parameters
    ----------
    data : numpy.ndarray or dask.array.Array
        ``(..., ny, nx, ne)``: leading axes (time, state, frames) are kept.
    index : numpy.ndarray of int
        ``(ny, nx)`` bin index from :func:`band_bin_index` (``-1`` = skip).
    nbins : int
        Number of bins.
    channels : array_like of int, optional
        Energy channels to keep (default all). Projecting only the channels
        of the X-ray line and background windows makes profiles cheap; when
        the energy axis of a dask array is chunked, chunks holding none of
        them are not even read.

    Returns
    -------
    numpy.ndarray or dask.array.Array
        ``(..., nbins, ne)`` (or ``(..., nbins, len(channels))``) float64 sums
        (lazy when ``data`` is dask).

    Raises
    ------
    ValueError
        If the index map does not match the data, or a channel is outside
        the energy axis.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.device_geometry import project_to_stack
    >>> data = np.ones((2, 4, 3, 5))
    >>> index = np.array([[0, 0, 0], [1, 1, 1], [2, 2, -1], [3, 3, 3]])
    >>> project_to_stack(data, index, 4)[0, :, 0].tolist()
    [3.0, 3.0, 2.0, 3.0]
    >>> project_to_stack(data, index, 4, channels=[1, 3]).shape
    (2, 4, 2)
    """
    lazy = isinstance(data, da.Array)
    index = np.asarray(index)
    shape = data.shape
    if len(shape) < 3 or tuple(shape[-3:-1]) != index.shape:
        raise ValueError(
            f"data of shape {shape} does not match the bin index map of "
            f"shape {index.shape} (expected (..., ny, nx, ne))."
        )
    if channels is not None:
        channels = np.asarray(channels, dtype=np.intp).ravel()
        if channels.size == 0 or channels.min() < 0 or channels.max() >= shape[-1]:
            raise ValueError(
                f"channels must be indices of the energy axis (0..{shape[-1] - 1})."
            )
    if lazy:
        arr = data
        if channels is not None and arr.numblocks[-1] > 1:
            # read only the energy chunks holding the wanted channels
            arr = arr[..., channels]
            channels = None
    else:
        itemsize = max(np.dtype(data.dtype).itemsize, 1)
        row_bytes = max(shape[-2] * shape[-1] * itemsize, 1)
        rows = int(max(1, min(shape[-3], EAGER_BLOCK_BYTES // row_bytes)))
        arr = da.from_array(
            data, chunks=(1,) * (len(shape) - 3) + (rows, -1, -1), asarray=False
        )
    ychunks, xchunks = arr.chunks[-3], arr.chunks[-2]
    idx_da = da.from_array(index, chunks=(ychunks, xchunks))
    nlead = arr.ndim - 3
    lead = "".join(chr(ord("a") + i) for i in range(nlead))
    adjust = {"y": 1, "x": 1}
    if channels is not None:  # a single energy chunk here
        adjust["e"] = channels.size
    # the energy chunks stay separate (never concatenated): each task holds
    # one chunk of the data
    out = da.blockwise(
        _project_block,
        lead + "yxbe",
        arr,
        lead + "yxe",
        idx_da,
        "yx",
        nbins=nbins,
        channels=channels,
        new_axes={"b": nbins},
        adjust_chunks=adjust,
        dtype=np.float64,
        concatenate=True,
    )
    out = out.sum(axis=(nlead, nlead + 1), split_every=SPLIT_EVERY)
    if lazy:
        return out
    return out.compute(scheduler="synchronous")


def line_across_map(direction, x, y):
    """Longest segment along ``direction`` through the map centre (nm).

    Parameters
    ----------
    direction : sequence of 2 float
        Unit vector ``(ux, uy)`` in calibrated coordinates.
    x, y : numpy.ndarray
        Pixel-centre coordinates (nm) of the map.

    Returns
    -------
    start, end : numpy.ndarray
        End points inside the map (pixel-centre hull).

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.device_geometry import line_across_map
    >>> y, x = np.mgrid[0:5, 0:3] * 2.0
    >>> [p.tolist() for p in line_across_map((0, 1), x, y)]
    [[2.0, 0.0], [2.0, 8.0]]
    """
    u = np.asarray(direction, dtype=float)
    u = u / np.hypot(*u)
    xmin, xmax = float(np.min(x)), float(np.max(x))
    ymin, ymax = float(np.min(y)), float(np.max(y))
    c = np.array([(xmin + xmax) / 2, (ymin + ymax) / 2])
    ts = []
    for k, (lo, hi) in enumerate(((xmin, xmax), (ymin, ymax))):
        if abs(u[k]) > 1e-12:
            ts.append(sorted(((lo - c[k]) / u[k], (hi - c[k]) / u[k])))
    tmin = max(t[0] for t in ts)
    tmax = min(t[1] for t in ts)
    return c + tmin * u, c + tmax * u
