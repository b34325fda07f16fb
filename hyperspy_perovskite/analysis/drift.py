"""Sub-pixel drift estimation and correction along time (numpy/dask, no HyperSpy).

Each frame is registered to a reference frame in two steps, fast enough for
4k x 4k movies at the speed they are recorded:

1. **Coarse**: both frames are binned (compiled, to at most ~512 px; binning
   also averages the shot noise and the lattice fringes away), apodised with a
   Hann window, low-passed (Gaussian, ``sigma`` pixels of the full frame) and
   cross-correlated by FFT; the integer peak with a parabolic sub-pixel fit
   gives the shift to a fraction of a binned pixel.
2. **Fine**: a central crop of the reference (``crop`` px) is registered
   against the crop of the frame displaced by the coarse shift by
   unnormalised cross-correlation (robust to shot noise) with a 3-point
   Gaussian peak fit; the crop is Fourier-shifted by the estimate and
   registered again until the correction is below ``1 / upsample`` pixel,
   which removes the bias of the apodisation and of the peak fit.

A frame whose correlation peak does not stand out of the correlation noise
(``peak_significance``, in standard deviations of the correlation map) or that
is constant (blank, beam off) gets NaN shifts and is reported as such: it is
never given a plausible false shift. Frames are shifted back with a Fourier
shift, which preserves the amplitude of lattice fringes (an interpolating
shift would damp them by an amount that depends on the sub-pixel shift). The
Fourier shift is periodic: a border as wide as the shift wraps around.
"""

import numpy as np
import scipy.fft
import scipy.ndimage

from hyperspy_perovskite._numba_cache import njit_cached

__all__ = ["estimate_shifts", "apply_shifts", "bin_factor", "fill_blank"]


@njit_cached(nogil=True)
def _bin_frame(frame, b, out):  # pragma: no cover
    """Mean of ``b x b`` blocks of ``frame`` into ``out`` (float32).

    Rows are summed first (a vectorised loop along x), then groups of ``b``
    columns.
    """
    ny, nx = out.shape
    row_sum = np.empty(nx * b, np.float32)
    inv = np.float32(1.0 / (b * b))
    for i in range(ny):
        row_sum[:] = 0.0
        for r in range(b):
            row = frame[i * b + r]
            for x in range(nx * b):
                row_sum[x] += np.float32(row[x])
        for j in range(nx):
            acc = np.float32(0.0)
            for c in range(b):
                acc += row_sum[j * b + c]
            out[i, j] = acc * inv


def bin_factor(shape, target=512):
    """Binning of the coarse step: the smallest factor giving <= ``target`` px.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.drift import bin_factor
    >>> bin_factor((4096, 4096)), bin_factor((1024, 1024)), bin_factor((200, 300))
    (8, 2, 1)
    """
    return max(1, int(np.ceil(min(shape) / target)))


def _binned(frame, b):
    frame = np.ascontiguousarray(frame)
    if b == 1:
        out = frame.astype(np.float32)
    else:
        out = np.empty((frame.shape[0] // b, frame.shape[1] // b), np.float32)
        if frame.dtype.kind not in "iuf" or not frame.dtype.isnative:
            frame = frame.astype(np.float32)
        _bin_frame(frame, b, out)
    return out - out.mean(dtype=np.float64)


class _Reference:
    """FFTs of the binned and cropped reference, and the filters (float32)."""

    def __init__(self, reference, b, crop, sigma):
        self.b = b
        small = _binned(reference, b)
        self.small_shape = small.shape
        self.win_small = _hann(small.shape)
        self.lowpass = _gaussian_lowpass(
            small.shape, None if sigma is None else sigma / b
        )
        self.small = np.conj(scipy.fft.rfft2(small * self.win_small)) * self.lowpass
        Y, X = reference.shape
        c = (min(crop, Y), min(crop, X))
        self.crop = c
        self.origin = ((Y - c[0]) // 2, (X - c[1]) // 2)
        self.win_crop = _hann(c)
        # the reference carries the low-pass twice (|H|^2): a Gaussian of
        # sigma * sqrt(2) on the correlation, the matched filter of the noise
        lp = _gaussian_lowpass(c, sigma)
        self.crop_fft = np.conj(self.fine(reference, self.origin)) * lp * lp
        self.ky = np.fft.fftfreq(c[0]).astype(np.float32)
        self.kx = np.fft.rfftfreq(c[1]).astype(np.float32)
        # rfft columns other than 0 (and Nyquist) stand for two columns
        w = np.full(self.kx.size, 2.0, np.float32)
        w[0] = 1.0
        if c[1] % 2 == 0:
            w[-1] = 1.0
        self.kx_weight = w
        # the frequencies where the filtered cross-power is not negligible
        keep = (
            np.ones((c[0], c[1] // 2 + 1), bool) if np.ndim(lp) == 0 else lp * lp > 1e-4
        )
        self.rows = np.nonzero(keep.any(axis=1))[0].astype(np.int64)
        self.cols = np.nonzero(keep.any(axis=0))[0].astype(np.int64)

    def fine(self, frame, origin, shift=None):
        """rfft of the apodised crop at ``origin`` (float32, complex64).

        With ``shift`` the crop is Fourier-shifted by it before the window.
        """
        (y0, x0), (cy, cx) = origin, self.crop
        f = np.asarray(frame[y0 : y0 + cy, x0 : x0 + cx], dtype=np.float32)
        f = f - np.float32(f.mean(dtype=np.float64))
        if shift is not None:
            ry = np.exp(-2j * np.pi * self.ky * shift[0]).astype(np.complex64)
            rx = np.exp(-2j * np.pi * self.kx * shift[1]).astype(np.complex64)
            F = scipy.fft.rfft2(f)
            F *= ry[:, None]
            F *= rx[None, :]
            f = scipy.fft.irfft2(F, s=f.shape)
        return scipy.fft.rfft2(f * self.win_crop)


def _hann(shape):
    return np.outer(np.hanning(shape[0]), np.hanning(shape[1])).astype(np.float32)


def _gaussian_lowpass(shape, sigma):
    """Transfer function of a Gaussian blur of ``sigma`` pixels (rfft layout)."""
    if not sigma:
        return np.float32(1.0)
    ky = np.fft.fftfreq(shape[0])[:, None]
    kx = np.fft.rfftfreq(shape[1])[None, :]
    return np.exp(-2 * np.pi**2 * sigma**2 * (ky**2 + kx**2)).astype(np.float32)


def _parabola(c_m, c_0, c_p):
    den = c_m - 2 * c_0 + c_p
    return 0.0 if den >= 0 else 0.5 * (c_m - c_p) / den


def _coarse(frame, ref, significance):
    """Shift in full-frame pixels from the binned correlation, or None."""
    small = _binned(frame, ref.b)
    if not np.any(small):
        return None
    cc = scipy.fft.irfft2(
        scipy.fft.rfft2(small * ref.win_small) * ref.small, s=ref.small_shape
    )
    i, j = np.unravel_index(int(np.argmax(cc)), cc.shape)
    peak = cc[i, j]
    sd = cc.std()
    if not sd > 0:
        return None
    if significance is None:
        # pure noise against a textured reference reaches ~7.5 on 512^2
        # binned frames, real frames 100 and more; on smaller frames the two
        # overlap at low dose and only constant frames are flagged
        significance = 10.0 if cc.size > 256**2 else 0.0
    if (peak - cc.mean()) / sd < significance:
        return None
    ny, nx = cc.shape
    dy = _parabola(cc[i - 1, j], peak, cc[(i + 1) % ny, j])
    dx = _parabola(cc[i, j - 1], peak, cc[i, (j + 1) % nx])
    sy = (i + ny // 2) % ny - ny // 2 + dy
    sx = (j + nx // 2) % nx - nx // 2 + dx
    # cc peaks at -shift (frame = reference moved by -shift)
    return -np.array([sy, sx]) * ref.b


@njit_cached(nogil=True)
def _dft_region(cross, rows, cols, ey, ex, out):  # pragma: no cover
    """``out = Re(ey @ cross[rows][:, cols] @ ex)`` without BLAS threads."""
    na, nr = ey.shape
    nb = ex.shape[1]
    tmp = np.zeros((nr, nb), np.complex64)
    for r in range(nr):
        row = cross[rows[r]]
        for c in range(cols.size):
            v = row[cols[c]]
            for b in range(nb):
                tmp[r, b] += v * ex[c, b]
    for a in range(na):
        for b in range(nb):
            acc = np.complex64(0.0)
            for r in range(nr):
                acc += ey[a, r] * tmp[r, b]
            out[a, b] = acc.real


def _upsampled_cc(cross, ref, centre, upsample, half):
    """Cross-correlation on a grid of ``1 / upsample`` px around ``centre``.

    The matrix-multiply DFT of Guizar-Sicairos, Thurman & Fienup, Opt. Lett.
    33, 156 (2008), on the rfft half-plane and on the frequencies the
    low-pass leaves: the exact band-limited interpolation of the
    correlation, without an FFT of the upsampled size.
    """
    offs = np.arange(-half, half + 1, dtype=np.float64) / upsample
    ky, kx = ref.ky[ref.rows], ref.kx[ref.cols]
    ey = np.exp(2j * np.pi * np.outer(centre[0] + offs, ky)).astype(np.complex64)
    ex = np.exp(2j * np.pi * np.outer(kx, centre[1] + offs))
    ex = (ex * ref.kx_weight[ref.cols, None]).astype(np.complex64)
    out = np.empty((offs.size, offs.size), np.float32)
    _dft_region(cross, ref.rows, ref.cols, ey, ex, out)
    return out


def _refine(cross, ref, centre, upsample):
    """Peak of the upsampled correlation near ``centre`` (px, on the 1/upsample grid)."""
    half = max(2, int(np.ceil(0.3 * upsample)))
    up = _upsampled_cc(cross, ref, centre, upsample, half)
    a, b = np.unravel_index(int(np.argmax(up)), up.shape)
    n = up.shape[0]
    da = _parabola(up[a - 1, b], up[a, b], up[a + 1, b]) if 0 < a < n - 1 else 0.0
    db = _parabola(up[a, b - 1], up[a, b], up[a, b + 1]) if 0 < b < n - 1 else 0.0
    return centre + np.array([a - half + da, b - half + db]) / upsample


def _fine(frame, ref, origin, upsample):
    """Sub-pixel shift of the crop at ``origin`` onto the reference crop.

    The integer peak of the correlation with a parabola (within ~0.2 px),
    the upsampled correlation +-0.3 px around it with a parabola on the fine
    grid; then, since the window biases the peak towards zero in proportion
    to the shift, the crop is Fourier-shifted by the estimate and registered
    again (near zero, where the bias vanishes) until the correction is below
    ``1 / upsample`` pixel.
    """
    cross = ref.fine(frame, origin) * ref.crop_fft
    cc = scipy.fft.irfft2(cross, s=ref.crop)
    ny, nx = cc.shape
    i, j = np.unravel_index(int(np.argmax(cc)), cc.shape)
    peak = np.array([(i + ny // 2) % ny - ny // 2, (j + nx // 2) % nx - nx // 2], float)
    peak += [
        _parabola(cc[i - 1, j], cc[i, j], cc[(i + 1) % ny, j]),
        _parabola(cc[i, j - 1], cc[i, j], cc[i, (j + 1) % nx]),
    ]
    # cc peaks at minus the shift that moves the frame crop onto the reference
    est = -_refine(cross, ref, np.round(peak * upsample) / upsample, upsample)
    for _ in range(3):
        cross = ref.fine(frame, origin, est) * ref.crop_fft
        step = -_refine(cross, ref, np.zeros(2), upsample)
        est = est + step
        if np.all(np.abs(step) < 1.0 / upsample):
            break
    return est


def _one_frame(frame, ref, upsample, significance):
    coarse = _coarse(frame, ref, significance)
    if coarse is None:
        return np.array([np.nan, np.nan])
    Y, X = frame.shape
    oy = int(np.clip(ref.origin[0] - np.round(coarse[0]), 0, Y - ref.crop[0]))
    ox = int(np.clip(ref.origin[1] - np.round(coarse[1]), 0, X - ref.crop[1]))
    used = np.array([ref.origin[0] - oy, ref.origin[1] - ox], float)
    return used + _fine(frame, ref, (oy, ox), upsample)


def _shifts_block(block, ref, upsample, significance):
    out = np.empty((block.shape[0], 2))
    for i in range(block.shape[0]):
        out[i] = _one_frame(np.asarray(block[i]), ref, upsample, significance)
    return out


def estimate_shifts(
    data,
    reference,
    upsample=20,
    sigma=2.0,
    crop=512,
    bin_to=512,
    peak_significance=None,
):
    """Shifts (dy, dx) in pixels that register each frame onto the reference.

    Parameters
    ----------
    data : numpy.ndarray or dask.array.Array, shape (t, Y, X)
    reference : numpy.ndarray, shape (Y, X)
        The reference frame (computed).
    upsample : int
        The fine step iterates until its correction is below
        ``1 / upsample`` pixel (at most four passes).
    sigma : float or None
        Gaussian low-pass (pixels of the full frame) before correlation
        (default 2: shot noise otherwise dominates the sub-pixel estimate;
        None for none).
    crop : int
        Size of the central crop of the fine step, pixels.
    bin_to : int
        The coarse step bins the frames to at most this many pixels.
    peak_significance : float, optional
        A frame whose coarse correlation peak is less than this many standard
        deviations above the mean of the correlation map is blank or
        featureless: its shifts are NaN. Default 10 for binned frames of at
        more than 256 x 256 pixels (frames above 512 px; dark noise reaches
        about 7.5, real frames 100 and more); smaller frames are only tested
        for being constant (at low dose their correlation peaks overlap with
        those of noise).

    Returns
    -------
    numpy.ndarray or dask.array.Array, shape (t, 2)
        ``apply_shifts(frame, shift)`` moves the frame onto the reference;
        a feature that drifted by ``+d`` gives a shift ``-d``. NaN for
        blank frames.

    Examples
    --------
    >>> import scipy.ndimage
    >>> from hyperspy_perovskite.analysis.drift import estimate_shifts
    >>> rng = np.random.default_rng(0)
    >>> ref = scipy.ndimage.gaussian_filter(rng.random((64, 64)), 3)
    >>> moved = scipy.ndimage.fourier_shift(np.fft.fft2(ref), (1.5, -2.25))
    >>> moved = np.fft.ifft2(moved).real
    >>> np.round(estimate_shifts(np.stack([ref, moved, 0 * ref]), ref), 1)
    array([[ 0. ,  0. ],
           [-1.5,  2.2],
           [ nan,  nan]])
    """
    import dask.array as da

    if data.ndim != 3:
        raise ValueError(f"Expected (time, y, x) data, got shape {data.shape}.")
    reference = np.asarray(reference)
    if reference.shape != tuple(data.shape[1:]):
        raise ValueError(
            f"The reference frame has shape {reference.shape}, the frames "
            f"{tuple(data.shape[1:])}."
        )
    if int(upsample) < 1:
        raise ValueError(f"upsample must be an integer >= 1, got {upsample!r}.")
    if not np.all(np.isfinite(reference)) or not np.any(reference != reference.flat[0]):
        raise ValueError(
            "The reference frame is blank (constant) or holds NaN: choose another "
            "reference frame (reference=<index>)."
        )
    ref = _Reference(reference, bin_factor(reference.shape, bin_to), int(crop), sigma)
    args = (ref, int(upsample), peak_significance)
    if isinstance(data, da.Array):
        data = data.rechunk({1: -1, 2: -1})
        return da.map_blocks(
            _shifts_block,
            data,
            *args,
            dtype=float,
            drop_axis=[1, 2],
            new_axis=[1],
            chunks=(data.chunks[0], (2,)),
            meta=np.empty((0, 0)),
        )
    return _shifts_block(data, *args)


def fill_blank(shifts):
    """Shifts with the NaN rows (blank frames) interpolated linearly in time.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.drift import fill_blank
    >>> fill_blank(np.array([[0.0, 0.0], [np.nan, np.nan], [2.0, 4.0]]))
    array([[0., 0.],
           [1., 2.],
           [2., 4.]])
    """
    sh = np.array(shifts, dtype=float)
    ok = np.all(np.isfinite(sh), axis=1)
    if not ok.any():
        raise ValueError("Every frame is blank: no shift to interpolate from.")
    idx = np.arange(sh.shape[0])
    for c in range(2):
        sh[:, c] = np.interp(idx, idx[ok], sh[ok, c])
    return sh


def _apply_block(block, shifts):
    out = np.empty(block.shape, dtype=np.result_type(block.dtype, np.float32))
    shifts = np.asarray(shifts, dtype=float).reshape(block.shape[0], 2)
    for i in range(block.shape[0]):
        F = scipy.fft.fft2(block[i])
        out[i] = scipy.fft.ifft2(scipy.ndimage.fourier_shift(F, shifts[i])).real
    return out


def apply_shifts(data, shifts):
    """Shift every frame by its (dy, dx) with a Fourier shift (lazy stays lazy).

    Parameters
    ----------
    data : numpy.ndarray or dask.array.Array, shape (t, Y, X)
    shifts : numpy.ndarray or dask.array.Array, shape (t, 2)

    Returns
    -------
    numpy.ndarray or dask.array.Array, shape (t, Y, X), float
    """
    import dask.array as da

    if data.ndim != 3:
        raise ValueError(f"Expected (time, y, x) data, got shape {data.shape}.")
    if tuple(shifts.shape) != (data.shape[0], 2):
        raise ValueError(
            f"shifts must have shape (n_frames, 2) = ({data.shape[0]}, 2), got "
            f"{tuple(shifts.shape)}."
        )
    if not isinstance(shifts, da.Array):
        bad = np.nonzero(~np.all(np.isfinite(np.asarray(shifts, float)), axis=1))[0]
        if bad.size:
            raise ValueError(
                f"{bad.size} frame(s) have no shift (NaN: blank or featureless "
                f"frames), first {bad[:5].tolist()}. Drop them (s.inav[...]) or "
                "fill them (estimate_drift(blank='interpolate') or "
                "analysis.drift.fill_blank)."
            )
    if isinstance(data, da.Array) or isinstance(shifts, da.Array):
        data = da.asarray(data).rechunk({1: -1, 2: -1})
        shifts = da.asarray(shifts).rechunk((data.chunks[0], 2))
        dtype = np.result_type(data.dtype, np.float32)
        return da.map_blocks(
            _apply_block,
            data,
            shifts[:, :, None],
            dtype=dtype,
            meta=np.empty((0, 0, 0), dtype=dtype),
        )
    return _apply_block(np.asarray(data), np.asarray(shifts))
