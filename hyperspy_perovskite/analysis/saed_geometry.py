"""Geometry of SAED patterns: camera calibration checks, the direct-beam and
ring centre, and azimuthal profiles about a per-frame centre (numpy).

A ring pattern integrated about a point that is not its centre smears every
ring over ``2 * offset`` in radius: at a few pixels offset the narrow rings
of a perovskite film lose their peak and background-subtracted ring counts
can go negative. The centre is found from the direct beam
(:func:`beam_offset`: brightest blurred spot near the origin, refined by its
centre of mass; pyxem's ``get_direct_beam_position(method="blur")`` does the
same on whole stacks) or, when the beam is blocked, saturated or absent, from
the rings themselves (:func:`ring_center`: the radial shift of each
azimuthal sector's profile against the full profile is ``dx cos(phi) + dy
sin(phi)``, solved by least squares and iterated). :func:`radial_profiles`
then sums each frame about its own centre (whole pixels into radial bins, so
Poisson counts stay Poisson).
"""

import numpy as np

from hyperspy_perovskite.units import UnitError, parse_quantity

__all__ = [
    "gain_from_annuli",
    "camera_geometry",
    "beam_offset",
    "ring_center",
    "radial_profiles",
    "pixels_per_subbin",
    "steady_centres",
    "frame_centres",
]

# plausible ranges of plain numbers in the default units (TEMs run at
# 20-3000 kV; SAED camera lengths are 0.01-100 m; detector pixels 0.5-1000 um)
_PLAUSIBLE = {
    "beam_energy": ("kV", 20.0, 3000.0, "eV"),
    "camera_length": ("mm", 10.0, 1e5, "m"),
    "detector_pixel_size": ("um", 0.5, 1000.0, "mm"),
}


def camera_geometry(detector_pixel_size, camera_length, beam_energy):
    """Detector pixel (um), camera length (mm), beam energy (kV), checked.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.saed_geometry import camera_geometry
    >>> camera_geometry("15 um", "0.3 m", 300)
    [15.0, 300.0, 300.0]
    """
    out = []
    for name, value in (
        ("detector_pixel_size", detector_pixel_size),
        ("camera_length", camera_length),
        ("beam_energy", beam_energy),
    ):
        unit, lo, hi, other = _PLAUSIBLE[name]
        try:
            v = parse_quantity(value, unit, name=name)
        except UnitError:
            if name != "beam_energy":
                raise
            # an electron energy in eV is the accelerating voltage in V
            v = parse_quantity(value, "keV", name=name)
        if not lo <= v <= hi:
            raise UnitError(
                f"{name}={value!r} is {v:g} {unit}, outside the range of TEMs "
                f"({lo:g}-{hi:g} {unit}). A plain number is in {unit}; if it is "
                f"in {other}, write it with its unit, e.g. {name}='{value} {other}'."
            )
        out.append(float(v))
    return out


def beam_offset(img, ox, oy, search=8):
    """Direct-beam position (x, y) in pixels, or NaN when no beam is seen.

    The brightest spot of the Gaussian-blurred pattern within ``search``
    pixels of ``(ox, oy)`` that stands at least three times above its
    surroundings, refined by its centre of mass.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.saed_geometry import beam_offset
    >>> y, x = np.mgrid[:64, :64]
    >>> img = np.exp(-((x - 35.3) ** 2 + (y - 30.0) ** 2) / 4.0) * 100 + 1
    >>> np.round(beam_offset(img, 32, 32), 1)
    array([35.3, 30. ])
    """
    from scipy.ndimage import center_of_mass, gaussian_filter

    img = np.asarray(img, float)
    ny, nx = img.shape
    blur = gaussian_filter(img, 1.5)
    yy, xx = np.mgrid[:ny, :nx]
    r = np.hypot(yy - oy, xx - ox)
    near = r <= search
    ring = (r > search) & (r <= search + 3)
    if not near.any() or not ring.any():
        return np.array([np.nan, np.nan])
    masked = np.where(near, blur, -np.inf)
    peak = np.max(masked)
    if not peak > 3 * max(np.median(blur[ring]), np.median(blur), 1e-12):
        return np.array([np.nan, np.nan])
    iy, ix = np.unravel_index(int(np.argmax(masked)), img.shape)
    h = 3
    win = img[max(iy - h, 0) : iy + h + 1, max(ix - h, 0) : ix + h + 1]
    win = np.clip(win - np.median(img), 0, None)
    cy, cx = center_of_mass(win) if win.sum() > 0 else (h, h)
    return np.array([max(ix - h, 0) + cx, max(iy - h, 0) + cy])


def _sector_profiles(img, cx, cy, r_max, n_sectors, sub=4):
    ny, nx = img.shape
    yy, xx = np.mgrid[:ny, :nx]
    dx, dy = xx - cx, yy - cy
    r = np.hypot(dx, dy)
    phi = np.arctan2(dy, dx)
    nb = int(r_max * sub)
    rb = np.floor(r * sub).astype(int)
    sb = np.floor((phi + np.pi) / (2 * np.pi) * n_sectors).astype(int) % n_sectors
    ok = rb < nb
    idx = sb[ok] * nb + rb[ok]
    s = np.bincount(idx, weights=img[ok], minlength=n_sectors * nb)
    c = np.bincount(idx, minlength=n_sectors * nb)
    with np.errstate(invalid="ignore", divide="ignore"):
        prof = (s / c).reshape(n_sectors, nb)
    x = np.arange(nb)
    for k in range(n_sectors):  # fine bins without a pixel: interpolate
        bad = np.isnan(prof[k])
        if bad.any() and (~bad).sum() >= 2:
            prof[k, bad] = np.interp(x[bad], x[~bad], prof[k, ~bad])
    return prof


def _symmetry_centre(img, x0, y0, r_max):
    """Coarse pattern centre (x, y) from the point symmetry of the rings.

    A ring pattern is centrosymmetric about its centre ``c``: correlated with
    itself rotated by 180 degrees it peaks at a shift of ``2 (c - o)`` (``o``
    the array centre). Unlike radial shifts of sectors, this cannot lock onto
    a neighbouring ring when the centre is off by more than the ring spacing.
    The smooth background is removed (it is symmetric about the beam too, but
    broad) and only the disc of radius ``r_max`` about ``(x0, y0)`` is used.
    """
    from scipy.ndimage import gaussian_filter

    ny, nx = img.shape
    hp = img - gaussian_filter(img, 3.0)
    yy, xx = np.mgrid[:ny, :nx]
    hp = np.where(np.hypot(xx - x0, yy - y0) <= r_max, hp, 0.0)
    F = np.fft.rfft2(hp)
    G = np.fft.rfft2(hp[::-1, ::-1])
    xc = np.fft.fftshift(np.fft.irfft2(F * np.conj(G), s=(ny, nx)))
    iy, ix = np.unravel_index(int(np.argmax(xc)), xc.shape)
    sub = []
    for i, n_, line in ((ix, nx, xc[iy]), (iy, ny, xc[:, ix])):
        f = 0.0
        if 0 < i < n_ - 1:
            a, b, c = line[i - 1], line[i], line[i + 1]
            den = a - 2 * b + c
            f = 0.5 * (a - c) / den if den < 0 else 0.0
        sub.append(i - n_ // 2 + float(np.clip(f, -0.5, 0.5)))
    # hp[::-1, ::-1] is hp rotated about o = ((n - 1) / 2): shift = 2 (c - o)
    return np.array([(nx - 1) / 2 + sub[0] / 2, (ny - 1) / 2 + sub[1] / 2])


def ring_center(img, x0, y0, r_min, r_max, n_sectors=16, iterations=4):
    """Centre (x, y) of the rings of one pattern, with its standard error (px).

    Parameters
    ----------
    img : numpy.ndarray, shape (ny, nx)
    x0, y0 : float
        Starting centre (pixels).
    r_min, r_max : float
        Radial range (pixels) holding rings, fully on the detector.
    n_sectors : int
        Azimuthal sectors.
    iterations : int

    Returns
    -------
    center : numpy.ndarray, (x, y)
    std : numpy.ndarray, (x, y)

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.saed_geometry import ring_center
    >>> y, x = np.mgrid[:128, :128]
    >>> r = np.hypot(x - 66.4, y - 61.2)
    >>> img = 100 * np.exp(-0.5 * ((r - 30) / 1.5) ** 2) + 60 * np.exp(
    ...     -0.5 * ((r - 45) / 1.5) ** 2) + 5
    >>> c, s = ring_center(img, 64, 64, 15, 55)
    >>> np.round(c, 1)
    array([66.4, 61.2])
    """
    img = np.asarray(img, float)
    cx, cy = float(x0), float(y0)
    # start from the point-symmetry centre: the sector shifts below can lock
    # onto a neighbouring ring when the start is off by a ring spacing
    start = _symmetry_centre(img, cx, cy, r_max)
    max_px = 8
    if np.hypot(start[0] - cx, start[1] - cy) < 0.5 * r_max:
        (cx, cy), max_px = start, 3
    sub = 4
    phi = (np.arange(n_sectors) + 0.5) / n_sectors * 2 * np.pi - np.pi
    A = np.stack([np.cos(phi), np.sin(phi)], axis=1)
    std = np.array([np.nan, np.nan])
    for _ in range(int(iterations)):
        prof = _sector_profiles(img, cx, cy, r_max + 8, n_sectors, sub)
        full = np.nanmean(prof, axis=0)
        lo, hi = int(r_min * sub), int(r_max * sub)
        ref = full[lo:hi] - np.nanmean(full[lo:hi])
        max_shift = max_px * sub
        shifts = np.arange(-max_shift, max_shift + 1)
        delta = np.full(n_sectors, np.nan)
        for k in range(n_sectors):
            p = prof[k]
            cc = []
            for s in shifts:
                seg = p[lo + s : hi + s] if lo + s >= 0 else None
                if seg is None or seg.size != ref.size or np.isnan(seg).any():
                    cc.append(-np.inf)
                    continue
                cc.append(np.dot(seg - seg.mean(), ref))
            cc = np.asarray(cc)
            i = int(np.argmax(cc))
            if not np.isfinite(cc[i]) or i == 0 or i == cc.size - 1:
                continue
            y0_, y1_, y2_ = cc[i - 1], cc[i], cc[i + 1]
            den = y0_ - 2 * y1_ + y2_
            ok_den = np.isfinite(den) and den < 0
            frac = 0.5 * (y0_ - y2_) / den if ok_den else 0.0
            delta[k] = (shifts[i] + np.clip(frac, -0.5, 0.5)) / sub
        ok = np.isfinite(delta)
        if ok.sum() < 4:
            raise ValueError(
                "Too few azimuthal sectors show the rings to find their centre; "
                "widen r_min/r_max to include strong rings."
            )
        sol, *_ = np.linalg.lstsq(A[ok], delta[ok], rcond=None)
        cx, cy = cx + sol[0], cy + sol[1]
        res = delta[ok] - A[ok] @ sol
        s2 = np.sum(res**2) / max(ok.sum() - 2, 1)
        std = np.sqrt(np.diag(np.linalg.inv(A[ok].T @ A[ok])) * s2)
        if np.hypot(*sol) < 0.01:
            break
    return np.array([cx, cy]), std


def frame_centres(frames, method, origin, search, ring_range):
    """Pattern centre of every frame (the per-block computation of
    :meth:`~hyperspy_perovskite.signals.insitu_diffraction.InSituSAEDSeries.direct_beam_positions`).

    Parameters
    ----------
    frames : numpy.ndarray, shape (n, ny, nx)
    method : {"beam", "rings", "auto"}
    origin : (float, float)
        Pixel (x, y) of the axes' origin, where the search starts.
    search : int
        Beam search radius (px).
    ring_range : (float, float)
        Radii (px) holding rings.

    Returns
    -------
    numpy.ndarray, shape (n, 4)
        ``x, y`` and their standard errors (NaN for the beam).

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.saed_geometry import frame_centres
    >>> y, x = np.mgrid[:64, :64]
    >>> f = np.exp(-((x - 35.0) ** 2 + (y - 30.0) ** 2) / 4.0)[None] * 100 + 1
    >>> frame_centres(f, "beam", (32, 32), 8, (5, 25))[0, :2].round(1).tolist()
    [35.0, 30.0]
    """
    ox, oy = origin
    lo, hi = ring_range
    out = np.full((frames.shape[0], 4), np.nan)
    for i, img in enumerate(np.asarray(frames, float)):
        if method in ("beam", "auto"):
            out[i, :2] = beam_offset(img, ox, oy, search)
        if method == "rings" or (method == "auto" and np.isnan(out[i, 0])):
            out[i, :2], out[i, 2:] = ring_center(img, ox, oy, lo, hi)
    return out


def radial_profiles(frames, centers, bin_width, npt):
    """Sum of each frame in radial bins about its own centre.

    Parameters
    ----------
    frames : numpy.ndarray, shape (n, ny, nx)
    centers : numpy.ndarray, shape (n, 2)
        (x, y) in pixels.
    bin_width : float
        Radial bin width in pixels.
    npt : int
        Number of bins (from radius 0).

    Returns
    -------
    numpy.ndarray, shape (n, npt)
        Counts per bin (whole pixels, so Poisson counts stay Poisson); bin
        ``i`` holds radii ``[i, i + 1) * bin_width``.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.saed_geometry import radial_profiles
    >>> f = np.ones((2, 9, 9))
    >>> radial_profiles(f, np.array([[4.0, 4.0], [4.0, 4.0]]), 1.0, 3).tolist()
    [[1.0, 8.0, 16.0], [1.0, 8.0, 16.0]]
    """
    frames = np.asarray(frames)
    n, ny, nx = frames.shape
    yy, xx = np.mgrid[:ny, :nx]
    out = np.zeros((n, int(npt)))
    for i in range(n):
        r = np.hypot(xx - centers[i, 0], yy - centers[i, 1])
        b = np.floor(r / bin_width).astype(int)  # bin i: [i, i + 1) widths
        ok = b < npt
        out[i] = np.bincount(b[ok], weights=frames[i][ok], minlength=int(npt))
    return out


def pixels_per_subbin(shape, center, npt, n_sub=8, keep=None):
    """Pixels of each one-pixel radial bin in ``n_sub`` equal parts of radius.

    The radial distribution of the pixels that :func:`radial_profiles` sums
    into each bin: about a centre that is not on a pixel corner, a bin of
    whole pixels holds radii spread unevenly over its width (and small bins
    are jagged), so a model of a ring as narrow as a pixel must be
    integrated over this distribution, not evaluated at the bin centre.

    Parameters
    ----------
    shape : (int, int)
        Frame shape (ny, nx).
    center : (float, float)
        (x, y) in pixels.
    npt : int
        Number of one-pixel bins (from radius 0).
    n_sub : int
        Sub-bins per bin.
    keep : numpy.ndarray of bool, optional
        Pixels used (False: masked).

    Returns
    -------
    numpy.ndarray, shape (npt, n_sub)
        Pixel counts; row sums are the pixels per bin.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.saed_geometry import pixels_per_subbin
    >>> w = pixels_per_subbin((9, 9), (4.0, 4.0), 3, n_sub=2)
    >>> w.tolist()
    [[1.0, 0.0], [8.0, 0.0], [12.0, 4.0]]
    """
    ny, nx = shape
    yy, xx = np.mgrid[:ny, :nx]
    r = np.hypot(xx - center[0], yy - center[1])
    idx = np.floor(r * int(n_sub)).astype(int)  # sub-bin of width 1 / n_sub
    ok = idx < int(npt) * int(n_sub)
    if keep is not None:
        ok &= np.asarray(keep, bool)
    counts = np.bincount(idx[ok], minlength=int(npt) * int(n_sub))
    return counts.reshape(int(npt), int(n_sub)).astype(float)


def steady_centres(centers, drift=0.5):
    """Found centres that agree within ``drift`` px are replaced by their mean.

    Whole pixels are summed into one-pixel radial bins: a centre moved by the
    scatter of its estimate (~0.01 px) moves the pixels near a bin edge into
    the next bin, a whole bright ring pixel at a time, which the bin model
    (the pixels per bin of one centre) cannot follow. A beam that really
    drifts (by more than ``drift``) keeps its per-frame centres.
    """
    ok = np.all(np.isfinite(centers), axis=1)
    if not ok.any():
        return centers
    mean = centers[ok].mean(0)
    if np.max(np.hypot(*(centers[ok] - mean).T)) <= drift:
        return np.where(ok[:, None], mean[None], centers)
    return centers


def gain_from_annuli(frames, centers, r_min=3.0, chunk=64):
    """Noise variance per unit of signal (detector gain) from pixels at the
    same distance from the pattern centre.

    In a powder pattern the expected value depends on the radius only
    (rings, halo and diffuse background are azimuthally uniform), so two
    pixels at nearly the same radius differ by noise: with the pixels sorted
    by radius, ``(v_i - v_{i+1})^2`` has expectation ``G (mu_i + mu_{i+1})``
    for shot noise recorded with ``G`` detector units per electron (the
    radius changes by ~1 / (2 pi r) px between neighbours, so even sharp
    rings add little). The median of ``sum d^2 / sum (v_i + v_{i+1})`` over
    chunks of ``chunk`` pairs is robust to the few chunks that texture or
    single-crystal spots make uneven (these can only raise it).

    Parameters
    ----------
    frames : numpy.ndarray, shape (k, ny, nx)
    centers : numpy.ndarray, shape (k, 2)
        Pattern centres (x, y) in pixels.
    r_min : float
        Inner radius (px) excluded (direct beam).
    chunk : int
        Pairs per chunk.

    Returns
    -------
    float
        ``G``; 1 for counted electrons.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.saed_geometry import gain_from_annuli
    >>> rng = np.random.default_rng(0)
    >>> yy, xx = np.mgrid[:64, :64]
    >>> r = np.hypot(xx - 32, yy - 32)
    >>> lam = 30 + 300 * np.exp(-0.5 * ((r - 15) / 1.0) ** 2)  # a sharp ring
    >>> img = 3.0 * rng.poisson(lam, (4, 64, 64))  # 3 units per electron
    >>> round(gain_from_annuli(img, np.full((4, 2), 32.0)), 1)
    3.0
    """
    frames = np.asarray(frames, float)
    k, ny, nx = frames.shape
    yy, xx = np.mgrid[:ny, :nx]
    ratios = []
    for f, (cx, cy) in zip(frames, np.asarray(centers, float), strict=True):
        r = np.hypot(xx - cx, yy - cy).ravel()
        v = f.ravel()
        ok = (r >= r_min) & np.isfinite(v)
        order = np.argsort(r[ok], kind="stable")
        vs = v[ok][order]
        d2 = np.diff(vs) ** 2
        s2 = vs[1:] + vs[:-1]
        nc = d2.size // chunk
        if nc == 0:
            continue
        num = d2[: nc * chunk].reshape(nc, chunk).sum(1)
        den = s2[: nc * chunk].reshape(nc, chunk).sum(1)
        good = den > 0
        ratios.append(num[good] / den[good])
    ratios = np.concatenate(ratios) if ratios else np.array([])
    if ratios.size < 3:
        raise ValueError(
            "Too few pixels to estimate the noise level from the frames; pass "
            "poisson=True for counted electrons."
        )
    return float(np.median(ratios))
