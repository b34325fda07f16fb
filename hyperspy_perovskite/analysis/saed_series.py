"""Decomposition of a series of SAED azimuthal profiles (numpy).

:func:`decompose_series` is the computation behind
:meth:`InSituSAEDSeries.hkl_intensities
<hyperspy_perovskite.signals.insitu_diffraction.InSituSAEDSeries.hkl_intensities>`,
``amorphous_fraction``, ``halo_position`` and ``ring_positions``: ring
widths and the halo shape from the mean profiles (variable projection), the
halo position per frame (:func:`~.saed_fit.fit_halo_positions`), then the
linear amplitudes of every frame by (Poisson-)weighted least squares.
"""

import numpy as np

from hyperspy_perovskite.analysis import saed
from hyperspy_perovskite.analysis.saed_fit import (
    batched_wls,
    fit_halo_positions,
    poisson_weights,
)
from hyperspy_perovskite.analysis.saed_halo import fit_halo_series

__all__ = ["HaloUndetermined", "decompose_series", "group_families"]


class HaloUndetermined(ValueError):
    """The halo shape cannot be fitted from these profiles (hold it instead)."""


def _ring_width_guess(g, P, fams, has_atoms, q):
    step = g[1] - g[0]
    inside = [f for f in fams if g[0] + 6 * step < f.g < g[-1] - 6 * step]
    if not inside:
        raise ValueError("No ring of the phase lies inside the profile range.")
    if has_atoms:
        ref = max(inside, key=lambda f: f.intensity / f.g**2)
    else:
        first = P[:q].mean(0)
        ref = max(inside, key=lambda f: first[np.argmin(np.abs(g - f.g))])
    others = [abs(f.g - ref.g) for f in fams if f is not ref]
    gap = min(others) if others else 10 * step
    return saed.estimate_ring_width(
        g, P[:q].mean(0), ref.g, half_window=max(4 * step, 0.6 * gap)
    )


def group_families(fams, lo, hi, ring_width):
    """Families whose ring reaches into ``[lo, hi]`` (centre within 3 ring
    widths of it: the tails of rings just outside are part of the profile),
    merged when closer than half a ring width: ``(groups, labels, ring_g)``."""
    keep = [f for f in fams if lo - 3 * ring_width <= f.g <= hi + 3 * ring_width]
    groups = []
    for f in sorted(keep, key=lambda f: f.g):
        if groups and f.g - groups[-1][-1].g < 0.5 * ring_width:
            groups[-1].append(f)
        else:
            groups.append([f])
    labels = ["+".join(f.label for f in grp) for grp in groups]
    ring_g = np.array([np.mean([f.g for f in grp]) for grp in groups])
    return groups, labels, ring_g


def _halo_start(g, profiles, ring_g, wr, wh, order):
    """Halo position (1/A) minimising chi-squared of the given mean profiles."""
    lo, hi = g[0] + 1.5 * wh, g[-1] - 1.5 * wh
    if not hi > lo:
        raise ValueError("The profile range is too short for a halo.")
    grid = np.linspace(lo, hi, 30)
    best, best_amp = None, -np.inf
    for prof in profiles:
        chi = [
            batched_wls(saed.design_matrix(g, ring_g, wr, h, wh, order), prof[None])[2][
                0
            ]
            for h in grid
        ]
        hg = grid[int(np.argmin(chi))]
        D = saed.design_matrix(g, ring_g, wr, hg, wh, order)
        coef = batched_wls(D, prof[None])[0][0]
        if coef[len(ring_g)] > best_amp:
            best, best_amp = hg, coef[len(ring_g)]
    return float(best)


def _halo_from_change(g, Ps, ring_g, wr, wh, hg, order):
    """Halo width and position from what changes through the series (the
    leading principal component of the profiles, which uses every frame),
    where the constant background cancels (it biases a halo fitted to a
    single profile wide); kept only when the change holds a halo at more
    than 5 standard errors, else ``(wh, hg)`` are returned unchanged."""
    if Ps.shape[0] < 3:
        return wh, hg
    _, S, Vt = np.linalg.svd(Ps - Ps.mean(0), full_matrices=False)
    diff = Vt[0] * S[0]
    for sign in (1.0, -1.0):
        prof = sign * diff
        h0 = _halo_start(g, [prof], ring_g, wr, wh, min(order, 1))
        _, wh1 = saed.refine_widths(g, [prof], ring_g, wr, h0, wh, min(order, 1))
        h1 = _halo_start(g, [prof], ring_g, wr, wh1, min(order, 1))
        D = saed.design_matrix(g, ring_g, wr, h1, wh1, min(order, 1))
        coef, cov, chi2 = batched_wls(D, prof[None])
        j = len(ring_g)
        var = cov[0, j, j] * chi2[0] / max(g.size - D.shape[1], 1)
        if coef[0, j] > 5 * np.sqrt(var):
            return float(wh1), float(h1)
    return wh, hg


def _widths(gs, means, ring_g, wr0, halo, halo_d, ring_width, halo_width, order):
    """Ring width, halo width and starting halo position from the mean profiles."""
    background_order = order
    wh = halo_width if halo_width is not None else 5.0 * wr0
    halo_g0 = None
    if halo:
        if halo_d is not None:
            if not (np.isfinite(halo_d) and halo_d > 0):
                raise ValueError(
                    f"halo_d must be a positive d-spacing (A), got {halo_d}."
                )
            halo_g0 = 1.0 / halo_d
        else:
            halo_g0 = _halo_start(gs, means, ring_g, wr0, wh, background_order)
    wr = wr0
    if ring_width is None or (halo and halo_width is None):
        wr_f, wh_f = saed.refine_widths(
            gs, means, ring_g, wr0, halo_g0, wh, background_order
        )
        wr = wr_f if ring_width is None else ring_width
        if halo and halo_width is None:
            wh = wh_f
    return wr, wh, halo_g0


def _per_frame_halo(
    gs, Ps, means, ring_g, wr, wh, halo_g0, ring_width, halo_width,
    background_order, poisson,
):  # fmt: skip
    """Widths and halo position together from the mean profiles, then the
    halo position per frame (the per-frame decomposition of
    :func:`decompose_series`)."""
    # widths and halo position together: alternate until they settle
    for _ in range(2):
        prev = (wr, wh, halo_g0)
        halo_g0 = _halo_start(gs, means, ring_g, wr, wh, background_order)
        wr_f, wh_f = saed.refine_widths(
            gs, means, ring_g, wr, halo_g0, wh, background_order
        )
        wr = wr_f if ring_width is None else ring_width
        wh = wh_f if halo_width is None else halo_width
        if np.allclose(prev, (wr, wh, halo_g0), rtol=1e-3):
            break
    if halo_width is None:
        wh, halo_g0 = _halo_from_change(
            gs, Ps, ring_g, wr, wh, halo_g0, background_order
        )
    upper = max(np.ptp(gs) / 4, 3 * wr)
    if wh >= 0.95 * upper:
        raise HaloUndetermined(
            f"the fitted halo width {wh:.3f} 1/A reached its upper bound"
        )
    halo_fit = fit_halo_positions(
        gs, Ps, ring_g, wr, halo_g0, wh, background_order, poisson=poisson
    )
    # frames with a strong halo keep their own position; weak ones (where
    # a noise bump can pull a free position away) use the common one
    own = halo_fit["valid"] & (halo_fit["amplitude_snr"] >= 10)
    halo_g = np.where(own, halo_fit["halo_g"], halo_g0)
    return wr, wh, halo_g0, halo_fit, halo_g


def decompose_series(
    g,
    P,
    fams,
    has_atoms,
    r_inscribed,
    halo=True,
    halo_d=None,
    ring_width=None,
    halo_width=None,
    background_order=3,
    radial_range=None,
    poisson=False,
    joint=False,
    noise_gain=None,
    exposure=None,
):
    """Decompose every profile into {hkl} rings, the amorphous halo and background.

    Parameters
    ----------
    g : numpy.ndarray, shape (m,)
        Bin centres (1/A).
    P : numpy.ndarray, shape (n, m)
        Profiles (counts per bin).
    fams : list of ReflectionFamily
        Allowed families of the phase.
    has_atoms : bool
        Whether ``fams`` carry kinematic intensities.
    r_inscribed : float
        Radius (1/A) of the largest full circle on the detector.
    halo : bool
    halo_d : float or None
        Fixed halo d-spacing (A); None fits the halo position frame by frame.
    ring_width, halo_width : float or None
        Fixed widths (1/A); None fits them.
    background_order : int
    radial_range : (float, float) or None
    poisson : bool
        Counted electrons: Poisson-weighted fit and variances.
    joint : bool
        Fit the halo shape, the ring width and one background shape shared
        by all frames jointly (:func:`~.saed_halo.fit_halo_series`, with the
        covariance of every frame's counts in ``cov_integrated``) instead of
        a free polynomial background per frame.
    noise_gain : float, optional
        Noise variance per unit of signal for ``joint`` when ``poisson`` is
        False (see :func:`~.saed_halo.fit_halo_series`).
    exposure : numpy.ndarray, shape (m,), optional
        Pixels per bin for ``joint`` (whole-pixel profiles).

    Returns
    -------
    dict
        ``integrated`` (n, r [+1]), ``variance`` (or None), ``labels``,
        ``groups``, ``ring_g``, ``halo_g`` (n,) used per frame,
        ``halo_fit`` (dict of :func:`fit_halo_positions` or None),
        ``coef``, ``design`` (n, m', c), ``g`` (m',), ``P`` (n, m'),
        ``ring_width``, ``halo_width``, ``radial_range``.
    """
    step = g[1] - g[0]
    n = P.shape[0]
    q = max(1, n // 10)
    wr0 = ring_width
    if wr0 is None:
        wr0 = _ring_width_guess(g, P, fams, has_atoms, q)
    if not (np.isfinite(wr0) and wr0 > 0):
        raise ValueError(f"ring_width must be positive (1/A), got {ring_width}.")
    if radial_range is None:
        radial_range = (
            # the joint fit starts halfway to the first ring at the least:
            # closer in, a direct beam's tail is not in the background basis
            max(
                fams[0].g - 6 * wr0, 0.5 * fams[0].g if joint else 0.0, g[0] + 2 * step
            ),
            min(r_inscribed, g[-1]),
        )
    lo, hi = radial_range
    if not lo < hi:
        raise ValueError(f"radial_range must be increasing, got {radial_range}.")
    sel = (g >= lo) & (g <= hi)
    gs, Ps = g[sel], P[:, sel]
    groups, labels, ring_g = group_families(fams, lo, hi, wr0)
    if not groups:
        raise ValueError("No ring of the phase lies inside the radial range.")
    if halo and joint:
        return _decompose_with_halo(
            gs, Ps, groups, labels, ring_g, wr0, halo_d, ring_width, halo_width,
            background_order, poisson, (lo, hi), noise_gain,
            None if exposure is None else np.asarray(exposure, float)[sel],
        )  # fmt: skip
    means = [Ps[:q].mean(0), Ps[-q:].mean(0)]
    wr, wh, halo_g0 = _widths(
        gs, means, ring_g, wr0, halo, halo_d, ring_width, halo_width, background_order
    )
    halo_fit = None
    halo_g = np.full(n, np.nan if halo_g0 is None else halo_g0)
    if halo and halo_d is None:
        wr, wh, halo_g0, halo_fit, halo_g = _per_frame_halo(
            gs, Ps, means, ring_g, wr, wh, halo_g0, ring_width, halo_width,
            background_order, poisson,
        )  # fmt: skip
    D = np.stack(
        [
            saed.design_matrix(
                gs,
                ring_g,
                wr,
                hg if halo else None,
                wh if halo else None,
                background_order,
            )
            for hg in halo_g
        ]
    )
    n_terms = len(groups) + (1 if halo else 0)
    W = None
    if poisson:
        if np.nanmin(Ps) < -1e-9 * max(np.nanmax(np.abs(Ps)), 1.0):
            raise ValueError(
                "poisson=True needs counts (non-negative data); the profiles "
                "hold negative values (dark-subtracted data?)."
            )
        W = poisson_weights(D, Ps)
    coef, cov, chi2 = batched_wls(D, Ps, W)
    colsum = D[:, :, :n_terms].sum(axis=1)
    integrated = coef[:, :n_terms] * colsum
    variance = None
    if poisson:
        variance = np.einsum("fcc->fc", cov)[:, :n_terms] * colsum**2
    return {
        "integrated": integrated,
        "variance": variance,
        "labels": labels,
        "groups": groups,
        "ring_g": ring_g,
        "halo_g": halo_g if halo else None,
        "halo_fit": halo_fit,
        "coef": coef,
        "cov": cov,
        "chi2": chi2,
        "design": D,
        "weights": W,
        "g": gs,
        "P": Ps,
        "ring_width": float(wr),
        "halo_width": float(wh) if halo else None,
        "radial_range": (float(lo), float(hi)),
    }


def _check_counts(Ps):
    if np.nanmin(Ps) < -1e-9 * max(np.nanmax(np.abs(Ps)), 1.0):
        raise ValueError(
            "poisson=True needs counts (non-negative data); the profiles "
            "hold negative values (dark-subtracted data?)."
        )


def _decompose_with_halo(
    gs, Ps, groups, labels, ring_g, wr0, halo_d, ring_width, halo_width, order,
    poisson, radial_range, noise_gain=None, exposure=None,
):  # fmt: skip
    """Rings, halo and shared background fitted jointly (:mod:`.saed_halo`)."""
    if halo_d is not None and not (np.isfinite(halo_d) and halo_d > 0):
        raise ValueError(f"halo_d must be a positive d-spacing (A), got {halo_d}.")
    if poisson:
        _check_counts(Ps)
    # starting widths from the mean profiles of the first and last frames
    # (on full circles: bins cut by the frame edge or jagged bins of whole
    # pixels rescaled to the circumference the start model assumes)
    q = max(1, Ps.shape[0] // 10)
    Pc = Ps
    if exposure is not None:
        e_bin = exposure.sum(1) if exposure.ndim == 2 else exposure
        Pc = Ps * (gs * e_bin.sum() / gs.sum()) / e_bin
    means = [Pc[:q].mean(0), Pc[-q:].mean(0)]
    wr_s, wh_s, _ = _widths(
        gs, means, ring_g, wr0, True, halo_d, ring_width, halo_width, order
    )
    hf = fit_halo_series(
        gs,
        Ps,
        ring_g,
        wr_s,
        halo_g=None if halo_d is None else 1.0 / float(halo_d),
        halo_width=wh_s,
        background_order=order,
        poisson=poisson,
        fix_centre=halo_d is not None,
        fix_width=halo_width is not None,
        fix_ring_width=ring_width is not None,
        noise_gain=noise_gain,
        exposure=exposure,
    )
    snr = hf["amplitude_snr"]
    valid = np.isfinite(hf["halo_g_std"]) & (snr > 5.0)
    if halo_d is not None:
        valid[:] = False  # a held position is not a measurement
    cov = hf["cov"]
    return {
        "integrated": hf["integrated"],
        "variance": np.einsum("fii->fi", cov) if poisson else None,
        "cov_integrated": cov,
        "labels": labels,
        "groups": groups,
        "ring_g": ring_g,
        "halo_g": hf["halo_g"],
        "halo_fit": {
            "halo_g": np.where(valid, hf["halo_g"], np.nan),
            "halo_g_std": np.where(valid, hf["halo_g_std"], np.nan),
            "valid": valid,
            "amplitude_snr": snr,
        },
        "coef": hf["coef"],
        "design": hf["design"],
        "g": gs,
        "P": Ps,
        "ring_width": float(hf["ring_width"]),
        "halo_width": float(hf["halo_width"]),
        "radial_range": (float(radial_range[0]), float(radial_range[1])),
        "joint_fit": hf,
    }
