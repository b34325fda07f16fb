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
from scipy import ndimage, signal, sparse

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


def find_stack_direction(maps):
    """Dominant direction across which the maps change (the stack normal).

    The largest-eigenvalue eigenvector of the structure tensor summed over
    the (normalised, smoothed) maps: layers are stripes, so the intensity
    gradients point along the stack.

    Parameters
    ----------
    maps : numpy.ndarray
        ``(n, ny, nx)`` element maps or an HAADF image ``(ny, nx)``.

    Returns
    -------
    direction : numpy.ndarray
        Unit ``(ux, uy)`` in pixel coordinates, oriented so that its larger
        component is positive.
    anisotropy : float
        ``(l1 - l2) / (l1 + l2)`` of the tensor: near 0 means no layered
        structure was found.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.device_geometry import find_stack_direction
    >>> y, x = np.mgrid[0:32, 0:32]
    >>> u, a = find_stack_direction((y > 16).astype(float))
    >>> np.round(np.abs(u), 3).tolist(), a > 0.9
    ([0.0, 1.0], True)
    """
    maps = np.asarray(maps, dtype=float)
    if maps.ndim == 2:
        maps = maps[None]
    jxx = jyy = jxy = 0.0
    for m in maps:
        rng = np.ptp(m)
        if not rng > 0:
            continue
        m = ndimage.gaussian_filter((m - m.min()) / rng, 1.0)
        gy, gx = np.gradient(m)
        jxx = jxx + np.sum(gx * gx)
        jyy = jyy + np.sum(gy * gy)
        jxy = jxy + np.sum(gx * gy)
    tensor = np.array([[jxx, jxy], [jxy, jyy]], dtype=float)
    if not np.trace(tensor) > 0:
        raise ValueError(
            "The maps are uniform: no layer structure to find the stack "
            "direction from. Set the direction by hand (two points)."
        )
    w, v = np.linalg.eigh(tensor)
    u = v[:, 1]
    if u[np.argmax(np.abs(u))] < 0:
        u = -u
    return u, float((w[1] - w[0]) / (w[1] + w[0]))


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


def profile_contrast(maps, x, y, direction, variances, bin_size=None):
    """Excess variance of the maps' profiles along ``direction``, in noise units.

    The pixels are binned by their distance along ``direction`` (bins of
    ``bin_size``, default the smaller pixel step); for each map the
    chi-squared of the bin means about their mean, with the noise variance of
    each mean, minus its expectation for pure noise (the degrees of freedom).
    About 0 (standard deviation ``sqrt(2 dof)``) for a map that does not
    change along ``direction``; large for layers crossed by it.

    Parameters
    ----------
    maps, variances : numpy.ndarray
        ``(n, ny, nx)`` maps and the noise variance of each pixel.
    x, y : numpy.ndarray
        ``(ny, nx)`` pixel-centre coordinates (nm).
    direction : sequence of 2 float
        ``(ux, uy)``.
    bin_size : float, optional

    Returns
    -------
    float
        Summed over the maps.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.device_geometry import profile_contrast
    >>> y, x = np.mgrid[0:32, 0:32].astype(float)
    >>> m = np.where(x < 16, 100.0, 400.0)[None]
    >>> across = profile_contrast(m, x, y, (1, 0), m)
    >>> along = profile_contrast(m, x, y, (0, 1), m)
    >>> across > 100 > abs(along)
    True
    """
    u = np.asarray(direction, dtype=float)
    u = u / np.hypot(*u)
    if bin_size is None:
        steps = [np.abs(np.diff(x, axis=1)).max(), np.abs(np.diff(y, axis=0)).max()]
        bin_size = float(min(s for s in steps if s > 0))
    s = (x * u[0] + y * u[1]).ravel()
    idx = np.floor((s - s.min()) / bin_size).astype(int)
    n = np.bincount(idx)
    ok = n > 0
    total = 0.0
    for m, v in zip(maps, variances, strict=True):
        sums = np.bincount(idx, weights=m.ravel())[ok]
        var = np.bincount(idx, weights=v.ravel())[ok] / n[ok] ** 2
        mean = sums / n[ok]
        w = 1.0 / np.maximum(var, 1e-300)
        mbar = np.sum(w * mean) / np.sum(w)
        total += np.sum(w * (mean - mbar) ** 2) - (mean.size - 1)
    return float(total)


def refine_stack_direction(maps, x, y, variances):
    """Stack direction that maximises :func:`profile_contrast`.

    The structure tensor (:func:`find_stack_direction`) gives the start; the
    angle is then searched within +-45 degrees in 1 degree steps and refined
    to 0.1 degree. Robust to Poisson noise, which biases the structure
    tensor of sparse maps.

    Parameters
    ----------
    maps, variances : numpy.ndarray
        ``(n, ny, nx)`` maps and their noise variance.
    x, y : numpy.ndarray
        ``(ny, nx)`` pixel-centre coordinates (nm).

    Returns
    -------
    numpy.ndarray
        Unit ``(ux, uy)`` in calibrated coordinates, larger component positive.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.device_geometry import refine_stack_direction
    >>> y, x = np.mgrid[0:40, 0:40].astype(float)
    >>> m = np.where(x + 0.3 * y < 20, 50.0, 200.0)[None]
    >>> u = refine_stack_direction(m, x, y, m)
    >>> bool(abs(np.degrees(np.arctan2(u[1], u[0])) - 16.7) < 1.5)  # atan(0.3)
    True
    """
    maps = np.asarray(maps, dtype=float)
    variances = np.asarray(variances, dtype=float)
    sx = float(np.abs(np.diff(x, axis=1)).max()) if x.shape[1] > 1 else 1.0
    sy = float(np.abs(np.diff(y, axis=0)).max()) if y.shape[0] > 1 else 1.0
    try:
        u0, _ = find_stack_direction(maps)
        u0 = np.array([u0[0] * sx, u0[1] * sy])
        theta0 = float(np.arctan2(u0[1], u0[0]))
    except ValueError:
        theta0 = 0.0

    def score(t):
        return profile_contrast(maps, x, y, (np.cos(t), np.sin(t)), variances)

    best = theta0
    for step, half in (
        (np.radians(1.0), np.radians(45.0)),
        (np.radians(0.1), np.radians(2.0)),
    ):
        grid = best + np.arange(-half, half + step / 2, step)
        sc = np.array([score(t) for t in grid])
        # on narrow maps the peak is a plateau: the centroid of the angles
        # whose contrast is within noise of the maximum (a non-central
        # chi-squared of mean dof + lambda has a variance 2 (dof + 2 lambda))
        top = sc.max()
        dof = len(maps) * max(x.shape + y.shape)
        tol = np.sqrt(2.0 * (dof + 2.0 * max(top, 0.0)))
        if score(theta0) >= top - tol:  # the structure tensor is as good
            best = theta0
            break
        best = float(np.mean(grid[sc >= top - tol]))
    u = np.array([np.cos(best), np.sin(best)])
    if u[np.argmax(np.abs(u))] < 0:
        u = -u
    return u


def layering_contrast(maps, x, y, direction, variances):
    """How layered the maps are along ``direction``: 0 (not) to 1 (stripes).

    ``(C_along - C_across) / C_along`` of :func:`profile_contrast` along the
    direction and perpendicular to it; 0 when the contrast along the
    direction is not significant (below 5 standard deviations of pure noise).

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.device_geometry import layering_contrast
    >>> y, x = np.mgrid[0:32, 0:32].astype(float)
    >>> m = np.where(x < 16, 100.0, 400.0)[None]
    >>> round(layering_contrast(m, x, y, (1, 0), m), 2)
    1.0
    >>> rng = np.random.default_rng(0)
    >>> flat = rng.poisson(50.0, (1, 32, 32)).astype(float)
    >>> layering_contrast(flat, x, y, (1, 0), np.full_like(flat, 50.0))
    0.0
    """
    u = np.asarray(direction, dtype=float)
    u = u / np.hypot(*u)
    along = profile_contrast(maps, x, y, u, variances)
    across = profile_contrast(maps, x, y, (-u[1], u[0]), variances)
    dof = len(maps) * max(x.shape + y.shape)
    # pure noise: chi2 - dof has a standard deviation of sqrt(2 dof)
    if not along > 5.0 * np.sqrt(2.0 * dof):
        return 0.0
    return float(np.clip((along - max(across, 0.0)) / along, 0.0, 1.0))


def _step_significance(p, v, k, half):
    """Step of profile rows ``p`` at bin ``k`` over its noise (combined rows)."""
    n = p.shape[-1]
    lo, hi = max(0, k - half), min(n, k + half + 1)
    left, right = slice(lo, k), slice(k + 1, hi)
    if k - lo < 1 or hi - k - 1 < 1:
        return 0.0
    z2 = 0.0
    for row, var in zip(p, v, strict=True):
        step = row[right].mean() - row[left].mean()
        err = np.sqrt(
            var[right].sum() / (hi - k - 1) ** 2 + var[left].sum() / (k - lo) ** 2
        )
        z2 += (step / err) ** 2 if err > 0 else 0.0
    return float(np.sqrt(z2))


def find_interfaces(
    profiles,
    positions,
    n_interfaces,
    smooth=1.0,
    variance=None,
    return_significance=False,
    min_significance=3.0,
):
    """Interface positions from profiles across the stack.

    Each profile is normalised to its range; the summed absolute gradient
    peaks where the composition (or HAADF contrast) changes. The bins at the
    line ends are never interfaces. With the profiles' ``variance``, the
    candidate peaks are ranked by the significance of the step they mark
    (means over 3 bins on each side, all profiles combined) and kept at least
    two bins apart; without it, by the gradient height. Each is refined to
    sub-bin precision by a parabola through the peak and its neighbours.

    Parameters
    ----------
    profiles : numpy.ndarray
        ``(n, nbins)`` or ``(nbins,)`` profiles along the stack.
    positions : numpy.ndarray
        ``(nbins,)`` bin centres (nm), uniformly spaced.
    n_interfaces : int
        How many interfaces to return.
    smooth : float
        Gaussian smoothing (in bins) before differentiation.
    variance : numpy.ndarray, optional
        Noise variance of ``profiles`` (same shape).
    return_significance : bool
        Also return the step significance (standard deviations; NaN
        without ``variance``).
    min_significance : float
        With ``variance``: steps below it (standard deviations) are noise.

    Returns
    -------
    numpy.ndarray
        Sorted interface positions (nm) (and their significance).

    Raises
    ------
    ValueError
        If fewer than ``n_interfaces`` changes are found.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.device_geometry import find_interfaces
    >>> pos = np.arange(100) + 0.5
    >>> prof = np.where(pos < 30.0, 1.0, 0.0) + np.where(pos > 70.0, 2.0, 0.0)
    >>> find_interfaces(prof, pos, 2).round(1).tolist()
    [30.0, 70.0]
    """
    p = np.atleast_2d(np.asarray(profiles, dtype=float))
    positions = np.asarray(positions, dtype=float)
    if p.shape[-1] != positions.size:
        raise ValueError("profiles and positions have different lengths.")
    n_interfaces = int(n_interfaces)
    if n_interfaces < 1:
        raise ValueError("n_interfaces must be at least 1.")
    g = np.zeros(positions.size)
    for row in p:
        rng = np.nanmax(row) - np.nanmin(row)
        if not rng > 0:
            continue
        r = (row - np.nanmin(row)) / rng
        if smooth:
            r = ndimage.gaussian_filter1d(r, smooth, mode="nearest")
        g += np.abs(np.gradient(r))
    peaks, props = signal.find_peaks(
        g,
        height=0.0 if variance is not None else (0.05 * g.max() if g.max() > 0 else 1),
    )
    peaks = peaks[(peaks > 0) & (peaks < g.size - 1)]  # never the line ends
    if variance is not None:
        v = np.atleast_2d(np.asarray(variance, dtype=float))
        z = np.array([_step_significance(p, v, k, 3) for k in peaks])
        keep = z >= min_significance  # a step, not noise
        peaks, z = peaks[keep], z[keep]
    else:
        z = g[peaks]
    chosen = []
    for k in peaks[np.argsort(z)[::-1]]:
        if all(abs(k - c) >= 2 for c in chosen):
            chosen.append(k)
        if len(chosen) == n_interfaces:
            break
    if len(chosen) < n_interfaces:
        raise ValueError(
            f"Found {len(chosen)} composition changes along the stack but "
            f"{n_interfaces} interfaces were asked for: set them by hand, use "
            "other elements, or a wider band."
        )
    chosen = np.sort(np.asarray(chosen))
    step = positions[1] - positions[0] if positions.size > 1 else 1.0
    out = []
    for k in chosen:
        a, b, c = g[k - 1], g[k], g[k + 1]
        den = a - 2 * b + c
        shift = float(np.clip(0.5 * (a - c) / den, -0.5, 0.5)) if den != 0 else 0.0
        out.append(positions[k] + shift * step)
    out = np.asarray(out)
    if not return_significance:
        return out
    if variance is None:
        return out, np.full(out.size, np.nan)
    return out, np.array([_step_significance(p, v, k, 3) for k in chosen])
