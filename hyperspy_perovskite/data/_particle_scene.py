"""Geometry of the simulated nanocrystal-in-glass scene of
:func:`~hyperspy_perovskite.data.cl_simulation.simulate_cl_map`: particle
placement, labels and signed edge distance, the per-pixel band, HAADF counts.
"""

from __future__ import annotations

import numpy as np


def _place_particles(rng, shape, pixel_size, n_particles, radius_range, gap):
    """Non-overlapping discs: rejection sampling, centres and radii in nm."""
    ny, nx = shape
    height_nm, width_nm = ny * pixel_size, nx * pixel_size
    centres, radii = [], []
    r_max = min(radius_range[1], 0.45 * min(height_nm, width_nm))
    if radius_range[0] > r_max:
        raise ValueError(
            f"The field of view ({height_nm:g} x {width_nm:g} nm) is too small for "
            f"particles of radius >= {radius_range[0]:g} nm: enlarge shape or "
            "pixel_size, or lower radius_range."
        )
    tries = 0
    while len(radii) < n_particles and tries < 200 * n_particles:
        tries += 1
        r = rng.uniform(radius_range[0], r_max)
        cy = rng.uniform(r, height_nm - r)
        cx = rng.uniform(r, width_nm - r)
        ok = all(
            np.hypot(cy - py, cx - px) > r + pr + gap
            for (py, px), pr in zip(centres, radii, strict=True)
        )
        if ok:
            centres.append((cy, cx))
            radii.append(r)
    return np.asarray(centres, float).reshape(-1, 2), np.asarray(radii, float)


def _scene(centres, radii, yy, xx):
    """Labels (0 = glass) and signed distance to the nearest particle edge (nm).

    Inside a particle the distance is positive (depth below its edge); in the
    glass it is negative (minus the distance to the nearest particle).
    """
    labels = np.zeros(yy.shape, dtype=np.int32)
    signed = np.full(yy.shape, -np.inf)
    for i, ((cy, cx), r) in enumerate(zip(centres, radii, strict=True)):
        d = r - np.hypot(yy - cy, xx - cx)
        labels[d > 0] = i + 1
        signed = np.maximum(signed, d)
    return labels, signed


def _pixels(shape, pixel_size, centres_xy, radii, p, widths, rim_width):
    """Labels, signed edge distance and the band of every particle pixel."""
    ny, nx = shape
    sigma_core, sigma_edge, edge_length = widths
    yy, xx = np.meshgrid(
        (np.arange(ny) + 0.5) * pixel_size,
        (np.arange(nx) + 0.5) * pixel_size,
        indexing="ij",
    )
    labels, distance = _scene(centres_xy, radii, yy, xx)
    inside = labels > 0
    idx = labels[inside] - 1
    depth = distance[inside]
    px = {
        "centre": p["centre"][idx],
        "sigma": sigma_core + (sigma_edge - sigma_core) * np.exp(-depth / edge_length),
        "area": p["area"][idx],
        "w_rich": np.zeros_like(depth),
        "c_rich": None,
    }
    if rim_width is not None:
        px["w_rich"] = np.where(p["segregated"][idx], np.exp(-depth / rim_width), 0.0)
        px["c_rich"] = p["rich_wl"] + p["shift"][idx]
    return labels, distance, px


def _haadf_counts(
    rng, shape, pixel_size, k, centres_xy, radii, dose, thickness, z_contrast
):
    """HAADF labels and counts on a grid ``k`` times finer over the same field."""
    ny, nx = shape
    hp = pixel_size / k
    hyy, hxx = np.meshgrid(
        (np.arange(ny * k) + 0.5) * hp, (np.arange(nx * k) + 0.5) * hp, indexing="ij"
    )
    hlabels, _ = _scene(centres_xy, radii, hyy, hxx)
    t_particle = np.where(
        hlabels > 0, np.minimum(2.0 * np.append(0.0, radii)[hlabels], thickness), 0.0
    )
    mu = (
        (dose / k**2) * ((thickness - t_particle) + z_contrast * t_particle) / thickness
    )
    return hlabels, rng.poisson(mu).astype(np.float32)
