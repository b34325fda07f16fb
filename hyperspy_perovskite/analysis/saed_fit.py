"""Frame-by-frame fits of SAED azimuthal profiles (numpy, no HyperSpy objects).

The profile model is that of :mod:`hyperspy_perovskite.analysis.saed`
(narrow rings, a broad amorphous halo, a smooth background). Its linear
amplitudes are solved by weighted least squares for all frames at once
(batched normal equations); the non-linear parameters are found by profile
likelihood, i.e. by minimising chi-squared over a grid and refining the
minimum by a parabola:

* :func:`fit_ring_positions`: the position of every ring in every frame with
  its standard error (Gauss-Newton on the ring with the rest of the fitted
  model held);
* :func:`lattice_from_rings`: lattice parameters of a crystal system from the
  ring positions by weighted linear least squares on ``1/d^2``.

Weights: with ``poisson=True`` the bins are counted electrons and each bin is
weighted by ``1 / model`` (one re-weighting from an unweighted fit, which
avoids the downward bias of weighting by the observed counts); otherwise the
fit is unweighted and the noise variance is estimated from the residuals.
"""

import numpy as np

from hyperspy_perovskite.analysis.saed_halo import _Bins

__all__ = [
    "batched_wls",
    "fit_ring_positions",
    "lattice_from_rings",
]


def batched_wls(D, P, W=None):
    """Weighted least squares of every frame.

    Parameters
    ----------
    D : numpy.ndarray, shape (m, c) or (n, m, c)
        Design matrix (shared, or one per frame).
    P : numpy.ndarray, shape (n, m)
        Profiles.
    W : numpy.ndarray, shape (n, m), optional
        Weights (inverse variances); None for unweighted.

    Returns
    -------
    coef : (n, c)
    cov : (n, c, c)
        ``(D^T W D)^-1``: the covariance for true inverse-variance weights;
        multiply by the residual variance for unweighted fits.
    chi2 : (n,)
        Weighted residual sum of squares.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.saed_fit import batched_wls
    >>> D = np.stack([np.ones(5), np.arange(5.0)], axis=1)
    >>> coef, cov, chi2 = batched_wls(D, np.array([[1.0, 3, 5, 7, 9]]))
    >>> coef.round(6).tolist(), float(chi2[0]) < 1e-20
    ([[1.0, 2.0]], True)
    """
    P = np.asarray(P, float)
    n, m = P.shape
    W = np.ones((n, m)) if W is None else np.asarray(W, float)
    if D.ndim == 2:
        A = np.einsum("mc,fm,md->fcd", D, W, D)
        b = np.einsum("mc,fm->fc", D, W * P)
    else:
        A = np.einsum("fmc,fm,fmd->fcd", D, W, D)
        b = np.einsum("fmc,fm->fc", D, W * P)
    # scale columns for conditioning
    s = np.sqrt(np.clip(np.einsum("fcc->fc", A), 1e-300, None))
    As = A / s[:, :, None] / s[:, None, :]
    cov_s = np.linalg.pinv(As)
    cov = cov_s / s[:, :, None] / s[:, None, :]
    coef = np.einsum("fcd,fd->fc", cov, b)
    model = D @ coef.T if D.ndim == 2 else None
    model = model.T if model is not None else np.einsum("fmc,fc->fm", D, coef)
    chi2 = np.sum(W * (P - model) ** 2, axis=1)
    return coef, cov, chi2


def poisson_weights(D, P):
    """``1 / model`` weights from an unweighted fit (counted electrons)."""
    coef, _, _ = batched_wls(D, P)
    model = (D @ coef.T).T if D.ndim == 2 else np.einsum("fmc,fc->fm", D, coef)
    return 1.0 / np.maximum(model, 1.0)


def fit_ring_positions(
    g, P, model_coef, design, ring_g, ring_width, poisson=False, n_sigma=3.0,
    exposure=None,
):  # fmt: skip
    """Position (1/A) of every ring in every frame with its standard error.

    Each ring is fitted by Gauss-Newton (position, amplitude and a local
    linear background, within 2.5 ring widths) to the profile minus the rest
    of the fitted model (the other rings, the halo and the background held at
    ``model_coef``).

    Parameters
    ----------
    g : (m,)
    P : (n, m)
    model_coef : (n, c)
        Coefficients of the fitted model (:func:`batched_wls`).
    design : (m, c) or (n, m, c)
        Its design matrix; the first ``len(ring_g)`` columns are the rings.
    ring_g : (r,)
    ring_width : float
    poisson : bool
    n_sigma : float
        Positions of rings weaker than ``n_sigma`` standard errors are NaN.
    exposure : numpy.ndarray, shape (m,) or (m, K), optional
        Pixels per bin (or per sub-bin of radius) of whole-pixel profiles:
        the ring is then integrated over each bin's pixel radii (see
        :func:`~hyperspy_perovskite.analysis.saed_halo.fit_halo_series`);
        default proportional to ``g``.

    Returns
    -------
    position, std : numpy.ndarray, shape (n, r)

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.saed import design_matrix
    >>> from hyperspy_perovskite.analysis.saed_fit import batched_wls, fit_ring_positions
    >>> g = np.linspace(0.1, 0.6, 400)
    >>> P = (design_matrix(g, [0.2, 0.4023], 0.01, None, None, 1)
    ...      @ [90, 50, 0, 0, 5, 0.0])[None]
    >>> D = design_matrix(g, [0.2, 0.4], 0.01, None, None, 1)
    >>> coef, _, _ = batched_wls(D, P)
    >>> pos, std = fit_ring_positions(g, P + 0.0, coef, D, [0.2, 0.4], 0.01)
    >>> pos.round(4).tolist()
    [[0.2, 0.4023]]
    """
    g = np.asarray(g, float)
    P = np.atleast_2d(np.asarray(P, float))
    n = P.shape[0]
    ring_g = np.atleast_1d(np.asarray(ring_g, float))
    Dn = np.broadcast_to(design, (n,) + design.shape[-2:])
    full = np.einsum("fmc,fc->fm", Dn, model_coef)
    pos = np.full((n, ring_g.size), np.nan)
    std = np.full((n, ring_g.size), np.nan)
    for j, g0 in enumerate(ring_g):
        sel = np.abs(g - g0) <= 2.5 * ring_width
        if sel.sum() < 6:
            continue
        gs = g[sel]
        bins = _Bins(gs, gs if exposure is None else np.asarray(exposure)[sel])
        target = P[:, sel] - full[:, sel] + Dn[:, sel, j] * model_coef[:, j : j + 1]
        w = 1.0 / np.maximum(full[:, sel], 1.0) if poisson else np.ones_like(target)
        c = np.full(n, g0)
        a = model_coef[:, j].copy()
        b0 = np.zeros(n)
        b1 = np.zeros(n)
        for _ in range(8):
            shape, dshape, _ = bins.halo(c, ring_width)
            J = np.stack(
                [
                    shape,
                    a[:, None] * dshape,
                    np.ones_like(shape),
                    gs[None] - g0 + 0 * c[:, None],
                ],
                axis=2,
            )
            r = target - (a[:, None] * shape + b0[:, None] + b1[:, None] * (gs - g0))
            A = np.einsum("fmp,fm,fmq->fpq", J, w, J)
            rhs = np.einsum("fmp,fm->fp", J, w * r)
            step = np.linalg.solve(A + 1e-12 * np.eye(4), rhs[..., None])[..., 0]
            step[:, 1] = np.clip(step[:, 1], -0.5 * ring_width, 0.5 * ring_width)
            a, c, b0, b1 = (
                a + step[:, 0],
                c + step[:, 1],
                b0 + step[:, 2],
                b1 + step[:, 3],
            )
        shape = bins.halo(c, ring_width)[0]
        r = target - (a[:, None] * shape + b0[:, None] + b1[:, None] * (gs - g0))
        cov = np.linalg.inv(np.einsum("fmp,fm,fmq->fpq", J, w, J))
        s2 = 1.0 if poisson else np.sum(w * r**2, axis=1) / max(sel.sum() - 4, 1)
        var_c = cov[:, 1, 1] * s2
        var_a = cov[:, 0, 0] * s2
        ok = (
            (a > n_sigma * np.sqrt(var_a))
            & (np.abs(c - g0) < ring_width)
            & np.isfinite(var_c)
        )
        pos[:, j] = np.where(ok, c, np.nan)
        std[:, j] = np.where(ok, np.sqrt(var_c), np.nan)
    return pos, std


_SYSTEMS = {
    # 1/d^2 = sum_k x_k * term_k(h, k, l); parameters from x
    "cubic": (lambda h, k, ll: [h * h + k * k + ll * ll], ("a",)),
    "tetragonal": (lambda h, k, ll: [h * h + k * k, ll * ll], ("a", "c")),
    "orthorhombic": (lambda h, k, ll: [h * h, k * k, ll * ll], ("a", "b", "c")),
    "hexagonal": (
        lambda h, k, ll: [4.0 / 3.0 * (h * h + h * k + k * k), ll * ll],
        ("a", "c"),
    ),
}


def lattice_from_rings(hkl, g, g_std, system):
    """Lattice parameters (A) from ring positions by weighted least squares.

    ``1/d^2 = g^2`` is linear in the reciprocal metric (e.g.
    ``(h^2 + k^2) / a^2 + l^2 / c^2`` for tetragonal); the fit is weighted by
    ``1 / var(g^2) = 1 / (2 g sigma_g)^2`` per ring and frame, and the
    parameters' standard errors follow from the covariance.

    Parameters
    ----------
    hkl : sequence of (h, k, l)
        One representative per ring, in the setting of the phase.
    g, g_std : numpy.ndarray, shape (n, r)
        Ring positions and standard errors (1/A); NaN rings are skipped.
    system : {"cubic", "tetragonal", "orthorhombic", "hexagonal"}

    Returns
    -------
    values, std : numpy.ndarray, shape (n, p)
        Parameters in angstrom (``a``; ``a, c``; ``a, b, c``) per frame, NaN
        where the rings present do not determine them.
    names : tuple of str

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.saed_fit import lattice_from_rings
    >>> hkl = [(0, 0, 1), (1, 1, 0), (1, 1, 1)]
    >>> g = np.array([[1 / 6.0, np.sqrt(2) / 6.0, np.sqrt(3) / 6.0]])
    >>> v, s, names = lattice_from_rings(hkl, g, np.full_like(g, 1e-4), "cubic")
    >>> names, v.round(6).tolist()
    (('a',), [[6.0]])
    """
    if system not in _SYSTEMS:
        raise ValueError(
            f"system must be one of {sorted(_SYSTEMS)}, got {system!r}; monoclinic "
            "and triclinic cells need more rings than SAED usually resolves."
        )
    terms, names = _SYSTEMS[system]
    X = np.array([terms(*map(float, h)) for h in hkl])  # (r, p)
    g = np.atleast_2d(np.asarray(g, float))
    g_std = np.atleast_2d(np.asarray(g_std, float))
    n, p = g.shape[0], X.shape[1]
    vals = np.full((n, p), np.nan)
    stds = np.full((n, p), np.nan)
    for f in range(n):
        ok = np.isfinite(g[f]) & np.isfinite(g_std[f]) & (g_std[f] > 0)
        Xf = X[ok]
        if ok.sum() < p or np.linalg.matrix_rank(Xf) < p:
            continue
        y = g[f, ok] ** 2
        w = 1.0 / (2 * g[f, ok] * g_std[f, ok]) ** 2
        A = Xf.T @ (w[:, None] * Xf)
        cov = np.linalg.inv(A)
        x = cov @ (Xf.T @ (w * y))
        if np.any(x <= 0):
            continue
        vals[f] = 1.0 / np.sqrt(x)
        # d(1/sqrt(x))/dx = -0.5 x^-1.5
        jac = 0.5 * x**-1.5
        stds[f] = jac * np.sqrt(np.diag(cov))
    return vals, stds, names
