"""Compiled and scipy kernels of the windowed-FFT fringe power (numpy only).

:func:`fringe_power_frames` contracts ``|F|^2`` of every window of every
frame with a weight matrix (columns: band sums and background ring means,
built by :func:`hyperspy_perovskite.analysis.fringes.band_weights`). Tile
grids of power-of-two tiles go through compiled, GIL-free kernels: the
transforms along y are shared by horizontally overlapping tiles (two tile
rows per complex FFT, as the real and imaginary parts) and only the rows
``0 <= ky <=`` outer ring are kept (the power of a real window is symmetric,
so the weights are folded onto that half-plane); the transforms along x then
run per tile. Both are radix-4 FFTs vectorised across the batch, in float32;
the power is contracted with the weights of the nonzero frequency pixels
without being stored. Other windows (single regions of any size) use
``scipy.fft``. The two paths agree to float32 rounding.
"""

import numpy as np
import scipy.fft

from hyperspy_perovskite._numba_cache import njit_cached

__all__ = ["fringe_power_frames"]


def fringe_power_frames(frames, oy, ox, window, weights, workers=None):
    """Fringe power of every window of every frame (the batched kernel).

    Tiles of power-of-two size on a regular grid of column origins (every
    tile grid of :func:`tile_origins` with at least two rows) go through
    compiled, GIL-free kernels (batched radix-4 FFTs in float32; the power
    is contracted with the weights without being stored, summed in float32
    within a batch of ky rows and in float64 across batches); other windows
    (single regions, any size) through ``scipy.fft``. Both give the same
    result to float32 rounding.

    Parameters
    ----------
    frames : numpy.ndarray, shape (t, Y, X)
    oy, ox : numpy.ndarray of int
        Window origins (a grid: every ``oy`` with every ``ox``).
    window : numpy.ndarray, shape (h, w)
        Separable apodisation window.
    weights : numpy.ndarray, shape (h * (w // 2 + 1), n_bands)
    workers : int, optional
        Threads for ``scipy.fft`` (windows that are not powers of two).

    Returns
    -------
    numpy.ndarray, shape (t, len(oy), len(ox), n_bands), float64

    Raises
    ------
    ValueError
        If the window is not separable.
    """
    frames = np.asarray(frames)
    oy = np.asarray(oy, dtype=np.int64)
    ox = np.asarray(ox, dtype=np.int64)
    h, w = window.shape
    # separable apodisation: window = outer(win_y, win_x)
    win_y = window.sum(axis=1)
    win_x = window.sum(axis=0) / window.sum()
    if not np.allclose(np.outer(win_y, win_x), window, atol=1e-9):
        raise ValueError("The apodisation window must be separable.")
    if frames.ndim != 3:
        raise ValueError(f"Expected (time, y, x) frames, got shape {frames.shape}.")
    for o, n, L, name in (
        (oy, h, frames.shape[1], "oy"),
        (ox, w, frames.shape[2], "ox"),
    ):
        if o.ndim != 1 or o.size == 0 or o.min() < 0 or o.max() + n > L:
            raise ValueError(f"The windows at {name} do not fit in the frames.")
    steps = np.diff(ox)
    regular = ox.size == 1 or (steps[0] > 0 and np.all(steps == steps[0]))
    tiled = oy.size >= 2 and np.all(np.diff(oy) >= 0)
    if tiled and regular and _is_pow2(h) and _is_pow2(w):
        return _power_compiled(frames, oy, ox, win_y, win_x, weights)
    return _power_scipy(frames, oy, ox, win_y, win_x, weights, workers)


def _is_pow2(n):
    return n >= 4 and (n & (n - 1)) == 0


def _twiddles(n):
    k = np.exp(-2j * np.pi * np.arange(n) / n)
    return k.real.astype(np.float32), k.imag.astype(np.float32)


def _folded_weights(weights, h, w):
    """Band weights of the rfft layout moved to the ``ky >= 0`` half-plane.

    The power of a real window is symmetric, ``|F(-k)|^2 = |F(k)|^2``; the
    rfft layout (all ky, ``0 <= kx <= w/2``, inner columns counting twice)
    is spread over the full plane and folded onto ``0 <= ky <= h/2`` (all
    kx, FFT order). Returns the rows ``kys`` with a weight, the start of
    each row's pixels in ``pair_kx`` (CSR) and their weights (pixels, bands).
    """
    nc = w // 2 + 1
    nb = weights.shape[1]
    colf = np.full(nc, 2.0)
    colf[0] = 1.0
    if w % 2 == 0:
        colf[-1] = 1.0
    full = np.zeros((h, w, nb))
    full[:, :nc] = weights.reshape(h, nc, nb) / colf[:, None]
    neg_ky = -np.arange(h) % h
    full[:, nc:] = full[neg_ky][:, w - np.arange(nc, w)]
    hh = h // 2
    fold = full[: hh + 1].copy()
    fold[1:hh] += full[neg_ky[1:hh]][:, -np.arange(w) % w]
    nz = np.any(fold != 0, axis=2)
    kys = np.nonzero(nz.any(axis=1))[0]
    ky_idx, kx = np.nonzero(nz[kys])
    start = np.searchsorted(ky_idx, np.arange(kys.size + 1))
    return (
        kys.astype(np.int64),
        start.astype(np.int64),
        kx.astype(np.int64),
        np.ascontiguousarray(fold[kys[ky_idx], kx]),
    )


def _power_compiled(frames, oy, ox, win_y, win_x, weights):
    """:func:`fringe_power_frames` through :func:`_tiles_frame`."""
    h, w = win_y.size, win_x.size
    t = frames.shape[0]
    ny, nx = oy.size, ox.size
    nb = weights.shape[1]
    out = np.empty((t, ny, nx, nb))
    kys, start, kx, pw = _folded_weights(weights, h, w)
    if kys.size == 0:
        out[:] = 0.0
        return out
    native = frames.dtype.isnative and (
        frames.dtype.kind in "iu" or frames.dtype in (np.float32, np.float64)
    )
    if not native:  # float16, bool, big-endian...: the kernel reads float32
        frames = frames.astype(np.float32)
    sx = int(ox[1] - ox[0]) if nx > 1 else w
    nbk = -(-((nx - 1) * sx + w) // sx)  # column blocks of sx pixels
    lanes = nbk * sx
    # transforms per batch: about 32k samples (4 buffers: half the L2 cache)
    chunk = max(16, min(512, 32768 // max(h, w)), nbk)
    # ring of frame rows: the rows of two tile rows
    n_ring = int(np.max(oy[1::2] - oy[: oy.size - 1 : 2], initial=0)) + h
    ring = np.zeros((n_ring, lanes), np.float32)
    # pass-1 output, padded for the shifted reads of the last row
    hr = np.zeros((2, lanes * kys.size + nbk), np.float32)
    hi = np.zeros_like(hr)
    bufs = [np.empty((max(h, w), chunk), np.float32) for _ in range(4)]
    acc32 = np.empty((nb, nbk), np.float32)
    acc = np.empty((nb, nbk))
    twy = _twiddles(h)
    twx = _twiddles(w)
    wy = win_y.astype(np.float32)
    wx = win_x.astype(np.float32)
    pw = pw.astype(np.float32)
    for i in range(t):
        _tiles_frame(
            frames[i],
            oy,
            int(ox[0]),
            sx,
            nx,
            wy,
            wx,
            *twy,
            *twx,
            kys,
            start,
            kx,
            pw,
            out[i],
            ring,
            hr,
            hi,
            *bufs,
            acc32,
            acc,
        )
    return out


def _power_scipy(frames, oy, ox, win_y, win_x, weights, workers):
    """:func:`fringe_power_frames` with ``scipy.fft`` (any window size).

    The row transforms along x are shared by vertically overlapping tiles;
    only the rfft columns up to the outer ring are transformed along y.
    """
    h, w = win_y.size, win_x.size
    t = frames.shape[0]
    out = np.empty((t, len(oy), len(ox), weights.shape[1]))
    win_y = win_y.astype(np.float32)
    win_x = win_x.astype(np.float32)
    # only the rfft columns (kx) that carry a weight are transformed along y
    ncol = w // 2 + 1
    W3 = weights.reshape(h, ncol, -1)
    used = np.nonzero(np.any(W3 != 0, axis=(0, 2)))[0]
    nc = int(used.max()) + 1 if used.size else 1
    # weights in the (kx, ky) layout of F below
    Wt = np.ascontiguousarray(
        W3[:, :nc, :].transpose(1, 0, 2).reshape(nc * h, -1), dtype=np.float32
    )
    sw = np.lib.stride_tricks.sliding_window_view
    for i in range(t):
        f = np.asarray(frames[i], dtype=np.float32)
        # the frame mean (not each tile's) is removed: the residual DC of a
        # tile leaks nothing measurable into annuli many frequency steps away
        f = f - f.mean(dtype=np.float64).astype(np.float32)
        # transform along x once per row segment: vertically overlapping
        # tiles share these row transforms
        V = sw(f, w, axis=1)[:, ox] * win_x  # (Y, nx, w)
        G = scipy.fft.rfft(V, axis=-1, workers=workers)[..., :nc]  # (Y, nx, nc)
        # y last and contiguous, so that the tile windows are contiguous runs
        G = np.ascontiguousarray(G.transpose(1, 2, 0))  # (nx, nc, Y)
        T = sw(G, h, axis=-1)[:, :, oy] * win_y  # (nx, nc, ny, h)
        F = scipy.fft.fft(T, axis=-1, workers=workers, overwrite_x=True)
        P = F.real * F.real
        P += F.imag * F.imag
        P = np.ascontiguousarray(P.transpose(2, 0, 1, 3))  # (ny, nx, nc, h)
        out[i] = P.reshape(len(oy), len(ox), -1) @ Wt
    return out


# --------------------------------------------------------------------------
# compiled path: batched radix-4 Stockham FFTs, vectorised across transforms


@njit_cached(nogil=True, fastmath={"contract", "nsz"})
def _fft_batched(n_total, xr, xi, yr, yi, nb, twr, twi):  # pragma: no cover
    """Forward FFT along axis 0 of ``xr + 1j * xi`` for the columns ``:nb``.

    Stockham radix-4 passes (one radix-2 pass for odd powers of two) that
    alternate between ``(xr, xi)`` and ``(yr, yi)``; the innermost loop runs
    over the batch of transforms, contiguous in memory, so that it
    vectorises. ``n_total`` is a power of two and ``twr + 1j * twi`` holds
    ``exp(-2j pi k / n_total)``. Returns True if the result is in
    ``(yr, yi)``, False if in ``(xr, xi)``.
    """
    n = n_total
    s = 1
    in_y = False
    while n >= 4:
        n1 = n // 4
        n2 = n // 2
        n3 = n1 + n2
        st = n_total // n
        if in_y:
            sr, si, dr, di = yr, yi, xr, xi
        else:
            sr, si, dr, di = xr, xi, yr, yi
        for p in range(n1):
            w1r = twr[p * st]
            w1i = twi[p * st]
            w2r = twr[2 * p * st]
            w2i = twi[2 * p * st]
            w3r = twr[3 * p * st]
            w3i = twi[3 * p * st]
            for q in range(s):
                ar = sr[q + s * p]
                ai = si[q + s * p]
                br = sr[q + s * (p + n1)]
                bi = si[q + s * (p + n1)]
                cr = sr[q + s * (p + n2)]
                ci = si[q + s * (p + n2)]
                er = sr[q + s * (p + n3)]
                ei = si[q + s * (p + n3)]
                o = q + 4 * s * p
                r0 = dr[o]
                i0 = di[o]
                r1 = dr[o + s]
                i1 = di[o + s]
                r2 = dr[o + 2 * s]
                i2 = di[o + 2 * s]
                r3 = dr[o + 3 * s]
                i3 = di[o + 3 * s]
                if p == 0:  # unit twiddles (the whole last pass)
                    for b in range(nb):
                        apcr = ar[b] + cr[b]
                        apci = ai[b] + ci[b]
                        amcr = ar[b] - cr[b]
                        amci = ai[b] - ci[b]
                        bper = br[b] + er[b]
                        bpei = bi[b] + ei[b]
                        jr = ei[b] - bi[b]
                        ji = br[b] - er[b]
                        r0[b] = apcr + bper
                        i0[b] = apci + bpei
                        r1[b] = amcr - jr
                        i1[b] = amci - ji
                        r2[b] = apcr - bper
                        i2[b] = apci - bpei
                        r3[b] = amcr + jr
                        i3[b] = amci + ji
                    continue
                for b in range(nb):
                    apcr = ar[b] + cr[b]
                    apci = ai[b] + ci[b]
                    amcr = ar[b] - cr[b]
                    amci = ai[b] - ci[b]
                    bper = br[b] + er[b]
                    bpei = bi[b] + ei[b]
                    jr = ei[b] - bi[b]  # 1j * (b - e)
                    ji = br[b] - er[b]
                    r0[b] = apcr + bper
                    i0[b] = apci + bpei
                    ur = amcr - jr
                    ui = amci - ji
                    r1[b] = w1r * ur - w1i * ui
                    i1[b] = w1r * ui + w1i * ur
                    ur = apcr - bper
                    ui = apci - bpei
                    r2[b] = w2r * ur - w2i * ui
                    i2[b] = w2r * ui + w2i * ur
                    ur = amcr + jr
                    ui = amci + ji
                    r3[b] = w3r * ur - w3i * ui
                    i3[b] = w3r * ui + w3i * ur
        n = n1
        s *= 4
        in_y = not in_y
    if n == 2:
        if in_y:
            sr, si, dr, di = yr, yi, xr, xi
        else:
            sr, si, dr, di = xr, xi, yr, yi
        for q in range(s):
            ar = sr[q]
            ai = si[q]
            br = sr[q + s]
            bi = si[q + s]
            r0 = dr[q]
            i0 = di[q]
            r1 = dr[q + s]
            i1 = di[q + s]
            for b in range(nb):
                r0[b] = ar[b] + br[b]
                i0[b] = ai[b] + bi[b]
                r1[b] = ar[b] - br[b]
                i1[b] = ai[b] - bi[b]
        in_y = not in_y
    return in_y


@njit_cached(nogil=True, fastmath={"reassoc", "contract", "nsz"})
def _frame_mean(frame):  # pragma: no cover
    """Mean of a 2D array, accumulated in float64."""
    tot = 0.0
    for y in range(frame.shape[0]):
        acc = 0.0
        for x in range(frame.shape[1]):
            acc += frame[y, x]
        tot += acc
    return tot / frame.size


@njit_cached(nogil=True, fastmath={"contract"}, inline="always")
def _gather_windowed(dr, di, sr, si, wgt, n):  # pragma: no cover
    """``dr, di = sr * wgt, si * wgt`` over the first ``n`` lanes."""
    for b in range(n):
        dr[b] = sr[b] * wgt
        di[b] = si[b] * wgt


@njit_cached(nogil=True, fastmath={"contract"}, inline="always")
def _fill_ring(frame, ring, y0, y1, ox0, sx, nbk, x_hi, mean):  # pragma: no cover
    """Rows ``y0 <= y < y1`` of ``frame``, minus ``mean``, into the ring buffer
    in block-transposed order (lanes beyond ``x_hi`` stay zero)."""
    n_ring = ring.shape[0]
    for y in range(y0, y1):
        row = ring[y % n_ring]
        for b in range(nbk):
            x0 = ox0 + b * sx
            seg = frame[y, x0 : min(x0 + sx, x_hi)]
            for m in range(seg.size):
                row[m * nbk + b] = np.float32(seg[m] - mean)


@njit_cached(nogil=True, fastmath={"contract"}, inline="always")
def _pass_y(
    ring, r0, r1, sx, nbk, g1, win_y, tw_r, tw_i, kys, hr, hi, bufs
):  # pragma: no cover
    """Transforms along y of the tile rows starting at ``r0`` (real part) and
    ``r1`` (imaginary part), split into the two real transforms, rows ``kys``
    kept in ``hr + 1j * hi`` (layout: see :func:`_tiles_frame`)."""
    ar, ai, br, bi = bufs
    h = win_y.size
    n_ring = ring.shape[0]
    nky = kys.size
    row_len = nky * nbk
    for m0 in range(0, sx, g1):
        g = min(g1, sx - m0)
        l0 = m0 * nbk
        nl = g * nbk
        for r in range(h):
            s0 = ring[(r0 + r) % n_ring, l0 : l0 + nl]
            s1 = ring[(r1 + r) % n_ring, l0 : l0 + nl]
            _gather_windowed(ar[r], ai[r], s0, s1, win_y[r], nl)
        if _fft_batched(h, ar, ai, br, bi, nl, tw_r, tw_i):
            zr, zi = br, bi
        else:
            zr, zi = ar, ai
        # split the two real transforms: A = (Z_k + conj Z_-k) / 2,
        # B = (Z_k - conj Z_-k) / 2j
        for k in range(nky):
            ky = kys[k]
            kn = (h - ky) % h
            for mm in range(g):
                s = mm * nbk
                d = (m0 + mm) * row_len + k * nbk
                for b in range(nbk):
                    a_r, a_i = zr[ky, s + b], zi[ky, s + b]
                    n_r, n_i = zr[kn, s + b], zi[kn, s + b]
                    hr[0, d + b] = np.float32(0.5) * (a_r + n_r)
                    hi[0, d + b] = np.float32(0.5) * (a_i - n_i)
                    hr[1, d + b] = np.float32(0.5) * (a_i + n_i)
                    hi[1, d + b] = np.float32(0.5) * (n_r - a_r)


@njit_cached(nogil=True, fastmath={"contract"}, inline="always")
def _pass_x(
    gr, gi, sx, nbk, kc, win_x, tw_r, tw_i, pairs, bufs, acc32, acc
):  # pragma: no cover
    """Transforms along x of one tile row (``gr + 1j * gi``) and the
    contraction of ``|F|^2`` with the band weights into ``acc`` (bands, tiles)."""
    pair_start, pair_kx, pair_w = pairs
    ar, ai, br, bi = bufs
    w = win_x.size
    nky = pair_start.size - 1
    row_len = nky * nbk
    nbands = pair_w.shape[1]
    acc[:, :] = 0.0
    for k0 in range(0, nky, kc):
        k1 = min(nky, k0 + kc)
        nl = (k1 - k0) * nbk
        for m in range(w):
            src = (m % sx) * row_len + k0 * nbk + m // sx
            _gather_windowed(
                ar[m], ai[m], gr[src : src + nl], gi[src : src + nl], win_x[m], nl
            )
        if _fft_batched(w, ar, ai, br, bi, nl, tw_r, tw_i):
            fr, fi = br, bi
        else:
            fr, fi = ar, ai
        acc32[:, :] = 0.0
        for k in range(k0, k1):
            d0 = (k - k0) * nbk
            for p in range(pair_start[k], pair_start[k + 1]):
                vr = fr[pair_kx[p], d0 : d0 + nbk]
                vi = fi[pair_kx[p], d0 : d0 + nbk]
                for c in range(nbands):
                    wgt = pair_w[p, c]
                    a = acc32[c]
                    for b in range(nbk):
                        a[b] += wgt * (vr[b] * vr[b] + vi[b] * vi[b])
        for c in range(nbands):
            for b in range(nbk):
                acc[c, b] += acc32[c, b]


@njit_cached(nogil=True, fastmath={"contract"})
def _tiles_frame(
    frame,
    oy,
    ox0,
    sx,
    nx,
    win_y,
    win_x,
    twy_r,
    twy_i,
    twx_r,
    twx_i,
    kys,
    pair_start,
    pair_kx,
    pair_w,
    out,
    ring,
    hr,
    hi,
    ar,
    ai,
    br,
    bi,
    acc32,
    acc,
):  # pragma: no cover
    """Fringe power of every tile of one frame into ``out`` (ny, nx, n_bands).

    Rows of ``frame`` (Y, X) are mean-subtracted in float32 and stored in
    the ring buffer ``ring`` in block-transposed order: ``x = ox0 + b * sx +
    m`` at lane ``m * nbk + b``. Pass 1 transforms along y two tile rows at
    a time (one complex FFT of two real inputs), batched over the lanes, and
    keeps the rows ``ky = kys`` (``0 <= ky <= h / 2``) in ``hr + 1j * hi``
    with layout ``(tile row of the pair, m, ky, b)`` (lane ``m * nbk + b``),
    so that sample ``s`` of the tile in column ``j``, at ``(s % sx, ky, j +
    s // sx)``, is for all ``(ky, j)`` one contiguous run shifted by
    ``s // sx``. Pass 2 transforms along x, batched over (ky, b), and
    contracts ``|F|^2`` with the folded band weights ``pair_w`` of the nonzero
    ``(ky, kx)`` pixels (grouped by ky row: ``pair_start``): in float32
    within a chunk of ky rows, in float64 across chunks.
    """
    h = win_y.size
    w = win_x.size
    ny = oy.size
    nky = kys.size
    nbands = pair_w.shape[1]
    nbk = ring.shape[1] // sx
    x_hi = ox0 + (nx - 1) * sx + w
    # the frame mean is removed (not each tile's): the residual DC of a tile
    # leaks nothing measurable into annuli many frequency steps away
    mean = _frame_mean(frame)
    y_next = oy[0]  # next frame row to copy into the ring
    chunk = ar.shape[1]
    g1 = max(1, chunk // nbk)  # values of m per lane chunk of pass 1
    # ky rows per lane chunk of pass 2, as even as possible
    kc = max(1, chunk // nbk)
    kc = -(-nky // -(-nky // kc))
    bufs = (ar, ai, br, bi)
    pairs = (pair_start, pair_kx, pair_w)
    for i0 in range(0, ny, 2):
        i1 = min(i0 + 1, ny - 1)
        if y_next < oy[i1] + h:
            _fill_ring(frame, ring, y_next, oy[i1] + h, ox0, sx, nbk, x_hi, mean)
            y_next = oy[i1] + h
        _pass_y(
            ring, oy[i0], oy[i1], sx, nbk, g1, win_y, twy_r, twy_i, kys, hr, hi, bufs
        )
        for half in range(2 if i1 != i0 else 1):
            _pass_x(
                hr[half],
                hi[half],
                sx,
                nbk,
                kc,
                win_x,
                twx_r,
                twx_i,
                pairs,
                bufs,
                acc32,
                acc,
            )
            i = i0 + half
            for j in range(nx):
                for c in range(nbands):
                    out[i, j, c] = acc[c, j]
