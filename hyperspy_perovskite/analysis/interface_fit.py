"""Interface positions with their uncertainty, and whether they are resolved.

Arrays only (used by
:meth:`~hyperspy_perovskite.signals.eds_biased.EDSTEMBiasedSpectrum.find_device_geometry`
after :func:`~hyperspy_perovskite.analysis.stack_detection.find_interfaces`
has picked the steps). Each interface is refined by a weighted least-squares
fit of ONE broadened step to the band profiles around it (all profiles share
the position ``x0`` and the edge width ``sigma``; each has its own levels on
the two sides). The model of a bin is the mean over the map pixels in that bin
of ``Phi((s - x0) / sigma)``, ``s`` the pixel centre's distance along the stack
line: a point-sampled Gaussian-broadened step (probe, beam spreading in the
lamella, interface roughness), exact for any tilt of the stack on the pixel
grid. Its standard deviation is the fit's (covariance times the reduced
chi-squared when above 1). An edge sharper than the sampling (sigma below a
quarter of a bin) cannot be placed inside the gap between two sampled
positions (pixel centres along the line, grouped when closer than a quarter
of a bin): the chi-squared is flat there, and a continuous fit only moves
single pixels across, fitting noise. The position is then the middle of the
gap where a sharp step fits best, and its standard deviation the uniform
spread over that gap, ``gap / sqrt(12)``. With fewer than 3 bins on a
side of the step (a thin neighbouring layer), the linearised standard
deviation is too small (the levels, width and position are then strongly
coupled): it is raised to at least the spread over one bin,
``bin / sqrt(12)``.

Validity (reasons, bit flags, per interface):

- ``not significant``: the step is below ``n_sigma`` standard deviations;
- ``layer unresolved``: a layer next to the interface is thinner than the
  resolution ``max(3 bins, 2 sigma_left + 2 sigma_right + 1 bin)``. The step
  detector compares means over 3 bins on each side, so closer interfaces
  merge; and a layer needs at least one bin outside both edges' 2-sigma
  extent to show its own composition;
- ``not a single step``: the step model does not describe a profile around
  the interface: its chi-squared is one pure noise exceeds with a probability
  below 1e-6 (about 5 standard deviations) AND its excess over the number
  of bins is above 10 % of the
  contrast of its own fitted step (so that layers that are not perfectly
  flat, e.g. a pile-up or clusters under a nearly noise-free HAADF profile,
  are not rejected). Typically two interfaces of a layer thinner than the
  resolution merged into one (a bump, not a step), or a feature that is no
  interface;
- ``window too small``: fewer than 2 bins on a side of the step.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize, special, stats

__all__ = ["fit_interface_steps", "REASON_NAMES", "resolution_limit"]

#: bit i of the per-interface reasons means REASON_NAMES[i]
REASON_NAMES = (
    "not significant",
    "layer unresolved",
    "not a single step",
    "window too small",
)

#: bins per side the step detector averages (find_interfaces)
DETECTOR_BINS = 3

#: a step model is rejected when pure noise would give a larger chi-squared
#: with less than this probability (about 5 standard deviations)
P_NOISE = 1e-6

#: a row's unexplained structure (excess chi-squared) must also exceed this
#: fraction of its step's own contrast to reject the step model
STRUCTURE = 0.1

#: an edge sigma below this fraction of a bin is sharper than the sampling
SHARP = 0.5


def resolution_limit(sigma_left, sigma_right, bin_size):
    """Thinnest layer (nm) whose two interfaces are told apart.

    ``max(3 bins, 2 sigma_left + 2 sigma_right + 1 bin)``: the step detector
    averages 3 bins on each side of a step, and a layer shows its own
    composition only where at least one bin lies outside both edges' 2-sigma
    extent.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.interface_fit import resolution_limit
    >>> resolution_limit(4.0, 4.0, 4.0), resolution_limit(1.0, 1.0, 16.0)
    (20.0, 48.0)
    """
    return float(
        max(DETECTOR_BINS * bin_size, 2 * sigma_left + 2 * sigma_right + bin_size)
    )


def _step_model(theta, s, pix_bin, nb, npix, n_rows):
    x0, sigma = theta[0], np.exp(theta[1])
    frac = np.bincount(pix_bin, special.ndtr((s - x0) / sigma), minlength=nb) / npix
    a = theta[2 : 2 + n_rows, None]
    b = theta[2 + n_rows :, None]
    return a + (b - a) * frac[None, :]


def _fit_one(p, v, s, pix_bin, nb, npix, x_start, lo, hi, bin_size):
    """Fit one step in a window: position, edge sigma, their std, misfit."""
    n_rows = p.shape[0]
    w = 1.0 / np.sqrt(np.maximum(v, 1e-300))
    a0 = [np.mean(r[: max(1, nb // 3)]) for r in p]
    b0 = [np.mean(r[-max(1, nb // 3) :]) for r in p]
    sig_lo, sig_hi = np.log(0.02 * bin_size), np.log(max(hi - lo, 2 * bin_size))
    theta0 = np.r_[
        np.clip(x_start, lo, hi), np.clip(np.log(bin_size), sig_lo, sig_hi), a0, b0
    ]
    lower = np.r_[lo, sig_lo, np.full(2 * n_rows, -np.inf)]
    upper = np.r_[hi, sig_hi, np.full(2 * n_rows, np.inf)]
    args = (s, pix_bin, nb, npix, n_rows)

    def resid(theta):
        return ((p - _step_model(theta, *args)) * w).ravel()

    fit = optimize.least_squares(
        resid, theta0, bounds=(lower, upper), x_scale="jac", method="trf"
    )
    chi2 = float(np.sum(fit.fun**2))
    dof = max(p.size - fit.x.size, 1)
    cov = np.linalg.pinv(fit.jac.T @ fit.jac)
    scale = max(1.0, chi2 / dof)
    sigma = float(np.exp(fit.x[1]))
    # per row: excess chi-squared over its noise expectation, against the
    # contrast of the row's own fitted step (same weighted units)
    model = _step_model(fit.x, *args)
    chi_r = (((p - model) * w) ** 2).sum(1)
    n_r = max(nb - 2, 1)
    wm = w**2
    mean = (model * wm).sum(1, keepdims=True) / wm.sum(1, keepdims=True)
    step_r = ((model - mean) ** 2 * wm).sum(1)
    excess = chi_r - n_r
    bad = (chi_r > stats.chi2.isf(P_NOISE, n_r)) & (excess > STRUCTURE * step_r)
    return {
        "x0": float(fit.x[0]),
        "sigma": sigma,
        "std_x0": float(np.sqrt(max(cov[0, 0], 0.0) * scale)),
        "std_sigma": float(sigma * np.sqrt(max(cov[1, 1], 0.0) * scale)),
        "reduced_chisq": chi2 / dof,
        "not_a_step": bool(np.any(bad)),
    }


def _levels_chi2(p, w, frac):
    """Chi-squared of ``a + (b - a) frac`` with the best levels of each row."""
    g0, g1 = 1.0 - frac, frac
    chi2 = 0.0
    for row, wr in zip(p, w, strict=True):
        m = np.array(
            [[g0 @ (g0 * wr), g0 @ (g1 * wr)], [g0 @ (g1 * wr), g1 @ (g1 * wr)]]
        )
        ab = np.linalg.lstsq(m, [g0 @ (wr * row), g1 @ (wr * row)], rcond=None)[0]
        chi2 += float(((row - ab[0] * g0 - ab[1] * g1) ** 2 * wr).sum())
    return chi2


def _sharp_step(p, v, s, pix_bin, nb, npix, bin_size):
    """Position and std of a step sharper than the sampling.

    The pixels' positions along the line form groups (one per column of a
    stack aligned with the grid, closer than a quarter of a bin); a sharp
    step can lie anywhere in the gap between two groups. The gap whose sharp
    step fits best is chosen: its middle, and the uniform spread over it.
    """
    levels = np.unique(s)
    cut = np.flatnonzero(np.diff(levels) > 0.25 * bin_size)
    if cut.size == 0:
        return None
    lo, hi = levels[cut], levels[cut + 1]
    w = 1.0 / np.maximum(v, 1e-300)
    chi2 = [
        _levels_chi2(p, w, np.bincount(pix_bin, s > m, minlength=nb) / npix)
        for m in 0.5 * (lo + hi)
    ]
    k = int(np.argmin(chi2))
    return 0.5 * (lo[k] + hi[k]), float(hi[k] - lo[k]) / np.sqrt(12.0)


def fit_interface_steps(
    profiles,
    variance,
    s,
    index,
    centres,
    bin_size,
    positions,
    length,
    significance=None,
    n_sigma=5.0,
    window_bins=6,
):
    """Refine interface positions by step fits; their std and validity.

    Parameters
    ----------
    profiles, variance : numpy.ndarray
        ``(n, nbins)`` band profiles and their noise variance.
    s : numpy.ndarray
        ``(ny, nx)`` distance of each pixel centre along the stack line (nm).
    index : numpy.ndarray of int
        ``(ny, nx)`` bin of each pixel (``-1`` outside the band).
    centres : numpy.ndarray
        ``(nbins,)`` bin centres (nm along the line).
    bin_size : float
        nm.
    positions : sequence of float
        Detected interfaces (nm along the line), increasing.
    length : float
        Length of the stack line (nm).
    significance : sequence of float, optional
        Step significance of each interface (standard deviations).
    n_sigma : float
        Significance an interface must reach.
    window_bins : int
        Half-width of the fit window in bins (also bounded by the midpoints
        to the neighbouring interfaces).

    Returns
    -------
    dict
        ``position``, ``std``, ``width`` (edge sigma), ``width_std`` (nm),
        ``reduced_chisq``, ``valid`` (bool), ``reasons`` (uint32 bit flags
        of :data:`REASON_NAMES`), ``reason_names``, ``criteria`` and
        ``resolution`` (the thinnest resolved layer next to each interface,
        nm).

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.interface_fit import fit_interface_steps
    >>> rng = np.random.default_rng(0)
    >>> y, x = np.mgrid[0:4, 0:64] + 0.5          # 1 nm pixels, stack along x
    >>> truth = 0.5 * (1 + np.tanh((x - 30.3) / 3.0))
    >>> img = rng.poisson(400 + 800 * truth).astype(float)
    >>> prof, var = img.sum(axis=0)[None], img.sum(axis=0)[None]
    >>> idx = np.broadcast_to(np.arange(64), (4, 64))
    >>> r = fit_interface_steps(prof, var, x, idx, x[0], 1.0, [30.0], 64.0)
    >>> bool(abs(r["position"][0] - 30.3) < 3 * r["std"][0]), r["valid"].tolist()
    (True, [True])
    """
    p = np.atleast_2d(np.asarray(profiles, dtype=float))
    v = np.atleast_2d(np.asarray(variance, dtype=float))
    pos = np.asarray(positions, dtype=float)
    n = pos.size
    keep = index >= 0
    s_pix, b_pix = np.asarray(s, float)[keep], np.asarray(index)[keep]
    edges = np.r_[0.0, pos, length]
    out = {k: np.full(n, np.nan) for k in ("position", "std", "width", "width_std")}
    out["reduced_chisq"] = np.full(n, np.nan)
    reasons = np.zeros(n, dtype=np.uint32)
    half = window_bins * bin_size
    for k in range(n):
        lo = max(0.5 * (edges[k] + edges[k + 1]), pos[k] - half)
        hi = min(0.5 * (edges[k + 1] + edges[k + 2]), pos[k] + half)
        bins = np.flatnonzero((centres >= lo) & (centres <= hi))
        if np.sum(centres[bins] < pos[k]) < 2 or np.sum(centres[bins] > pos[k]) < 2:
            reasons[k] |= 1 << 3
            out["position"][k] = pos[k]
            out["std"][k] = bin_size / np.sqrt(12)
            continue
        sel = np.isin(b_pix, bins)
        local = np.searchsorted(bins, b_pix[sel])
        npix = np.bincount(local, minlength=bins.size)
        f = _fit_one(
            p[:, bins], v[:, bins], s_pix[sel], local, bins.size, npix,
            pos[k], centres[bins[0]], centres[bins[-1]], bin_size,
        )  # fmt: skip
        x0, sx = f["x0"], f["std_x0"]
        if f["sigma"] < SHARP * bin_size:  # sharper than the sampling
            sharp = _sharp_step(
                p[:, bins], v[:, bins], s_pix[sel], local, bins.size, npix, bin_size
            )
            if sharp is not None:
                x0, sx = sharp
        elif min(np.sum(centres[bins] < x0), np.sum(centres[bins] > x0)) < 3:
            # levels from 2 bins on a side: the linearised std is too small
            sx = max(sx, bin_size / np.sqrt(12.0))
        out["position"][k], out["std"][k] = x0, sx
        out["width"][k], out["width_std"][k] = f["sigma"], f["std_sigma"]
        out["reduced_chisq"][k] = f["reduced_chisq"]
        if f["not_a_step"]:
            reasons[k] |= 1 << 2
    if significance is not None:
        reasons[np.asarray(significance, float) < n_sigma] |= 1 << 0
    width = np.where(np.isfinite(out["width"]), out["width"], 0.0)
    resolution = np.zeros(n)
    for k in range(n - 1):
        limit = resolution_limit(width[k], width[k + 1], bin_size)
        resolution[k] = max(resolution[k], limit)
        resolution[k + 1] = max(resolution[k + 1], limit)
        if out["position"][k + 1] - out["position"][k] < limit:
            reasons[k] |= 1 << 1
            reasons[k + 1] |= 1 << 1
    out.update(
        valid=reasons == 0,
        reasons=reasons,
        reason_names=REASON_NAMES,
        resolution=resolution,
        criteria={
            "n_sigma": float(n_sigma),
            "not_a_step": (
                f"P(chi2 | noise) < {P_NOISE:g} and excess chi2 > "
                f"{STRUCTURE:g} x the step's contrast"
            ),
            "resolution": "max(3 bins, 2 sigma_left + 2 sigma_right + 1 bin)",
            "bin_size_nm": float(bin_size),
        },
    )
    return out
