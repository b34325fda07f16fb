"""Rendering of diffraction patterns for the operando 4D-STEM simulator.

Spots are the probe's convergence disk blurred by the detector PSF, drawn
from a radial table; radial backgrounds (diffuse, amorphous halo, Al rings)
come from tables; counts are Poisson (numba's generator, one seed per
pattern so that lazy and eager data agree).
"""

import numpy as np

from hyperspy_perovskite._numba_cache import njit_cached

A_AL = 4.0495  # fcc Al, Wyckoff, Crystal Structures vol. 1 (1963)


def _radial_tables(kpix, n):
    r = np.arange(n) * 0.25  # px
    g = r * kpix
    diffuse = 1.0 / (1.0 + (g / 0.15) ** 2) ** 1.5
    halo = np.exp(-0.5 * ((g - 0.22) / 0.045) ** 2) + 0.5 * np.exp(
        -0.5 * ((g - 0.45) / 0.08) ** 2
    )
    al = np.zeros_like(g)
    for hkl, w in (((1, 1, 1), 1.0), ((2, 0, 0), 0.55), ((2, 2, 0), 0.35)):
        g0 = np.sqrt(sum(v * v for v in hkl)) / A_AL
        al += w * np.exp(-0.5 * ((g - g0) / (1.2 * kpix)) ** 2) / max(g0, 1e-9)
    tabs = np.stack([diffuse, halo, al])
    # normalise each to unit integral over the plane (2 pi r dr)
    norm = (tabs * 2 * np.pi * np.maximum(r, 0.125) * 0.25).sum(axis=1)
    return tabs / norm[:, None]


def _spot_profile(radius, psf):
    # disk of radius `radius` (px) convolved with a Gaussian psf, radial table
    f = 8
    half = int(np.ceil(radius + 5 * psf)) + 1
    ax = (np.arange(-half * f, half * f) + 0.5) / f
    yy, xx = np.meshgrid(ax, ax, indexing="ij")
    disk = (np.hypot(xx, yy) <= radius).astype(float)
    kx = np.fft.fftfreq(ax.size, d=1 / f)
    kk = np.hypot(*np.meshgrid(kx, kx, indexing="ij"))
    img = np.fft.ifft2(np.fft.fft2(disk) * np.exp(-2 * (np.pi * psf * kk) ** 2)).real
    rr = np.hypot(xx, yy).ravel()
    r = np.arange(0, half, 0.05)
    prof = np.interp(r, np.sort(rr), img.ravel()[np.argsort(rr)])
    prof = np.clip(prof, 0, None)
    prof /= (prof * 2 * np.pi * np.maximum(r, 0.025) * 0.05).sum()
    return prof, 0.05


@njit_cached(nogil=True)
def _render(out, centres, spots, prof, pdr, bg, bdr, seeds):  # pragma: no cover
    n, ny, nx = out.shape
    nprof = prof.size
    nbg = bg.shape[1]
    lam = np.zeros((ny, nx))
    for i in range(n):
        np.random.seed(seeds[i])  # noqa: NPY002 (numba's generator)
        cx, cy = centres[i, 0], centres[i, 1]
        for y in range(ny):
            for x in range(nx):
                r = np.sqrt((x - cx) ** 2 + (y - cy) ** 2) / bdr
                j = int(r)
                if j < nbg - 1:
                    w = r - j
                    lam[y, x] = bg[i, j] * (1 - w) + bg[i, j + 1] * w
                else:
                    lam[y, x] = bg[i, nbg - 1]
        rmax = (nprof - 2) * pdr
        for s in range(spots.shape[1]):
            amp = spots[i, s, 2]
            if amp <= 0:
                continue
            sx, sy = spots[i, s, 0], spots[i, s, 1]
            x0, x1 = max(int(sx - rmax), 0), min(int(sx + rmax) + 2, nx)
            y0, y1 = max(int(sy - rmax), 0), min(int(sy + rmax) + 2, ny)
            for y in range(y0, y1):
                for x in range(x0, x1):
                    r = np.sqrt((x - sx) ** 2 + (y - sy) ** 2) / pdr
                    j = int(r)
                    if j < nprof - 1:
                        w = r - j
                        lam[y, x] += amp * (prof[j] * (1 - w) + prof[j + 1] * w)
        for y in range(ny):
            for x in range(nx):
                v = np.random.poisson(lam[y, x]) if lam[y, x] > 0 else 0  # noqa: NPY002
                out[i, y, x] = min(v, 65535)
