"""Decomposition of a series of SAED azimuthal profiles (numpy).

:func:`decompose_series` is the computation behind
:meth:`InSituSAEDSeries.hkl_intensities
<hyperspy_perovskite.signals.insitu_diffraction.InSituSAEDSeries.hkl_intensities>`,
``amorphous_fraction``, ``halo_position`` and ``ring_positions``: starting
ring and halo widths from the mean profiles (variable projection), then the
one fit of the whole series with the halo
(:func:`~.saed_halo.fit_halo_series`: rings, halo and a background shape
shared by all frames, Poisson maximum likelihood), or, without a halo, the
linear amplitudes of every frame with a free background by
(Poisson-)weighted least squares.
"""

import numpy as np

from hyperspy_perovskite.analysis import saed
from hyperspy_perovskite.analysis.saed_fit import batched_wls, poisson_weights
from hyperspy_perovskite.analysis.saed_halo import fit_halo_series

__all__ = ["decompose_series", "group_families"]


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


def _widths(gs, means, ring_g, wr0, halo, halo_d, ring_width, halo_width, order):
    """Ring width, halo width and starting halo position from the mean profiles."""
    background_order = order
    # a start that fits the range (the halo fit bounds its width at a quarter)
    wh = halo_width if halo_width is not None else min(5.0 * wr0, np.ptp(gs) / 4)
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
        Include the amorphous halo: the whole series is then fitted at once
        (:func:`~.saed_halo.fit_halo_series`: one halo width, ring width and
        background shape shared by all frames, the halo centre per frame where
        the halo is strong, with the covariance of every frame's counts in
        ``cov_integrated``). Without it, every frame has a free polynomial
        background.
    halo_d : float or None
        Fixed halo d-spacing (A); None fits the halo position.
    ring_width, halo_width : float or None
        Fixed widths (1/A); None fits them.
    background_order : int
    radial_range : (float, float) or None
    poisson : bool
        Counted electrons: Poisson-weighted fit and variances.
    noise_gain : float, optional
        Noise variance per unit of signal for the halo fit when ``poisson``
        is False (see :func:`~.saed_halo.fit_halo_series`).
    exposure : numpy.ndarray, shape (m,) or (m, K), optional
        Pixels per bin, or per sub-bin of radius, of whole-pixel profiles
        (see :func:`~.saed_halo.fit_halo_series`).

    Returns
    -------
    dict
        ``integrated`` (n, r [+1]), ``variance`` (or None), ``labels``,
        ``groups``, ``ring_g``, ``halo_g`` (n,) used per frame,
        ``halo_fit`` (dict: ``halo_g``, ``halo_g_std``, ``valid``,
        ``amplitude_snr`` per frame, or None),
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
            # the halo fit starts halfway to the first ring at the least:
            # closer in, a direct beam's tail is not in the background basis
            max(fams[0].g - 6 * wr0, 0.5 * fams[0].g if halo else 0.0, g[0] + 2 * step),
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
    if halo:
        return _decompose_with_halo(
            gs, Ps, groups, labels, ring_g, wr0, halo_d, ring_width, halo_width,
            background_order, poisson, (lo, hi), noise_gain,
            None if exposure is None else np.asarray(exposure, float)[sel],
        )  # fmt: skip
    # no halo: rings and a free background per frame, linear
    q = max(1, Ps.shape[0] // 10)
    means = [Ps[:q].mean(0), Ps[-q:].mean(0)]
    wr, _, _ = _widths(
        gs, means, ring_g, wr0, False, None, ring_width, None, background_order
    )
    D = saed.design_matrix(gs, ring_g, wr, None, None, background_order)
    D = np.broadcast_to(D, (n,) + D.shape)
    n_terms = len(groups)
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
        "halo_g": None,
        "halo_fit": None,
        "coef": coef,
        "cov": cov,
        "chi2": chi2,
        "design": D,
        "weights": W,
        "g": gs,
        "P": Ps,
        "ring_width": float(wr),
        "halo_width": None,
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
        # frame to frame (the weights of a kinetics fit); the uncertainty of
        # the shape shared by all frames is in cov_integrated
        "variance": np.einsum("fii->fi", hf["cov_frame"]) if poisson else None,
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
        "exposure": exposure,
        "joint_fit": hf,
    }
