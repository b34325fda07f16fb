"""Joint fit of rings, amorphous halo and background over an SAED series (numpy).

A broad amorphous halo (standard deviation ~0.05 1/A) and a smooth
background are nearly interchangeable in a single azimuthal profile: a free
polynomial background per frame absorbs part of the halo, and the halo
fraction of a frame can then be off by more than its size. What separates
them is the series. The diffuse background (inelastic and thermal diffuse
scattering, the support film, the tail of the direct beam) keeps its shape
while the sample amorphizes and only scales with the beam current and the
thickness; the halo grows where the crystal is lost. The model of frame
``i`` is therefore

``mu_i(g) = sum_r a_ir R_r(g; w_r) + h_i H(g; c_i, w_h) + s_i B(g)``

with rings ``R_r = g exp(-(g - g_r)^2 / (2 w_r^2))`` at the positions of the
phase, the halo ``H`` of the same shape with a free centre and width, and
one background shape ``B = sum_k beta_k phi_k`` (the basis of
:func:`~hyperspy_perovskite.analysis.saed.design_matrix`: ``1/g^2``,
``1/g`` and a polynomial, times ``g``) shared by all frames with a per-frame
scale ``s_i``. Shared: ``beta``, the halo width ``w_h``, the ring width
``w_r`` and the halo centre ``c``; frames whose halo is strong (amplitude at
``own_centre_snr`` standard errors or more) get their own centre ``c_i``
(a halo can move as the amorphous phase relaxes), the others share ``c``.

The fit maximises the Poisson likelihood by iteratively reweighted
Gauss-Newton (weights ``1 / mu``, whose fixed point is the Poisson
maximum-likelihood estimate), starting from a profile-likelihood grid over
the halo centre and width. The normal equations have one block per frame
and one shared block; they are solved through the Schur complement, whose
(pseudo-)inverse also gives the covariance of every per-frame quantity
including the uncertainty of the shared shape (the scale of ``beta`` against
``s_i`` is a gauge freedom; the quantities reported do not depend on it).
For data that are not counted electrons (``poisson=False``) the covariance
is scaled by the Pearson chi-squared per degree of freedom (an unknown
detector gain, or the bin correlations of pixel-splitting integration).
"""

import numpy as np

from hyperspy_perovskite.analysis._content_cache import ContentCache, digest
from hyperspy_perovskite.analysis.saed import design_matrix

__all__ = ["fit_halo_series", "fraction_with_std", "clear_cache"]

#: fits kept by :func:`fit_halo_series` (see :func:`clear_cache`)
_CACHE = ContentCache(4)


def clear_cache():
    """Forget the fits :func:`fit_halo_series` keeps (e.g. before timing it).

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.saed_halo import clear_cache
    >>> clear_cache()
    """
    _CACHE.clear()


class _Bins:
    """How an intensity per pixel ``f(g)`` becomes counts per radial bin.

    ``exposure`` (m,): the pixels (or circumference) of bin ``j`` all at its
    centre, ``counts_j = e_j f(g_j)``. ``exposure`` (m, K): the pixels of bin
    ``j`` in K equal sub-bins of radius, ``counts_j = sum_k e_jk f(g_jk)``,
    with ``g_jk`` the sub-bin centres: the bin model integrated over the
    bin's true pixel-radius distribution (whole pixels summed about an
    off-centre pattern's centre, where a sharp ring is jagged in the bins).
    """

    def __init__(self, g, exposure):
        w = np.asarray(exposure, float)
        w = w[:, None] if w.ndim == 1 else w
        if w.shape[0] != g.size or np.any(w < 0) or np.any(w.sum(1) <= 0):
            raise ValueError(
                "exposure must be positive, one value (or one row of sub-bins) "
                "per bin of g."
            )
        K = w.shape[1]
        step = (g[-1] - g[0]) / max(g.size - 1, 1)
        self.gf = g[:, None] + ((np.arange(K) + 0.5) / K - 0.5)[None, :] * step
        self.w = w

    def rings(self, ring_g, wr):
        """Ring columns (m, r) and their ring-width derivative."""
        d = self.gf[..., None] - np.asarray(ring_g, float)  # (m, K, r)
        E = self.w[..., None] * np.exp(-0.5 * (d / wr) ** 2)
        return E.sum(1), (E * d**2).sum(1) / wr**3

    def halo(self, c, w):
        """Halo columns (n, m) for centres ``c`` (n,), and their c- and
        w-derivatives."""
        d = self.gf[None] - np.asarray(c, float)[:, None, None]  # (n, m, K)
        E = self.w[None] * np.exp(-0.5 * (d / w) ** 2)
        return E.sum(2), (E * d).sum(2) / w**2, (E * d**2).sum(2) / w**3

    def background(self, order):
        """Background basis (``saed.design_matrix``'s, per pixel), scaled."""
        m, K = self.gf.shape
        gf = self.gf.ravel()
        D = design_matrix(gf, [], 1.0, None, None, order) / gf[:, None]
        D = (D.reshape(m, K, -1) * self.w[..., None]).sum(1)
        return D / np.maximum(np.abs(D).max(axis=0), 1e-300)


def _inv(A):
    """Batched inverse with diagonal scaling (pseudo-inverse if singular)."""
    s = np.sqrt(np.clip(np.einsum("...ii->...i", A), 1e-300, None))
    As = A / s[..., :, None] / s[..., None, :]
    try:  # LU is ~5x faster than the SVD of pinv; pinv where singular
        Ai = np.linalg.inv(As)
        if not np.all(np.isfinite(Ai)):
            raise np.linalg.LinAlgError
    except np.linalg.LinAlgError:
        Ai = np.linalg.pinv(As)
    return Ai / s[..., :, None] / s[..., None, :]


class _Model:
    """Parameters of the series model and its Jacobian blocks."""

    def __init__(self, g, P, ring_g, Phi, fix, e):
        self.g, self.P, self.ring_g, self.Phi = g, P, np.asarray(ring_g, float), Phi
        self.e = e  # _Bins: pixels (or circumference) per bin
        self.fix = fix  # dict: centre, width, ring_width -> bool
        self.n, self.m = P.shape
        self.r = self.ring_g.size
        self.k = Phi.shape[1]

    def evaluate(self, st):
        R, dR = self.e.rings(self.ring_g, st["wr"])
        c_i = np.where(st["own"], st["ci"], st["c"])
        H, dHc, dHw = self.e.halo(c_i, st["wh"])
        B = self.Phi @ st["beta"]
        mu = st["a"] @ R.T + st["h"][:, None] * H + st["s"][:, None] * B[None]
        return mu, (R, dR, H, dHc, dHw, B)

    def blocks(self, st, cols):
        """Per-frame Jacobian J (n, m, p) and shared Jacobian K (n, m, q)."""
        R, dR, H, dHc, dHw, B = cols
        n, m, r = self.n, self.m, self.r
        own = st["own"]
        J = np.zeros((n, m, r + 3))
        J[:, :, :r] = R[None]
        J[:, :, r] = H
        J[:, :, r + 1] = B[None]
        J[:, :, r + 2] = np.where(own[:, None], st["h"][:, None] * dHc, 0.0)
        K = np.zeros((n, m, self.k + 3))
        K[:, :, : self.k] = st["s"][:, None, None] * self.Phi[None]
        if not self.fix["centre"]:
            K[:, :, self.k] = np.where(~own[:, None], st["h"][:, None] * dHc, 0.0)
        if not self.fix["width"]:
            K[:, :, self.k + 1] = st["h"][:, None] * dHw
        if not self.fix["ring_width"]:
            K[:, :, self.k + 2] = st["a"] @ dR.T
        return J, K

    def step(self, st, W, damping=0.0):
        """Levenberg-Marquardt step (``damping`` 0: Gauss-Newton) through the
        Schur complement, and the blocks of the inverse for the covariance."""
        mu, cols = self.evaluate(st)
        J, K = self.blocks(st, cols)
        res = self.P - mu
        # normal equations by batched matrix products (BLAS, not einsum)
        JWt = (J * W[:, :, None]).transpose(0, 2, 1)
        KW = K * W[:, :, None]
        A = JWt @ J
        # a frame without its own centre: the column is zero, hold it
        A[~st["own"], -1, -1] = 1.0
        idx = np.arange(A.shape[1])
        A[:, idx, idx] *= 1.0 + damping
        Bm = JWt @ K
        u = (JWt @ res[:, :, None])[:, :, 0]
        Ai = _inv(A)
        AiB = Ai @ Bm
        n, m, q = K.shape
        D = KW.reshape(n * m, q).T @ K.reshape(n * m, q)
        D[np.diag_indices_from(D)] *= 1.0 + damping
        pp = Bm.shape[1]
        S = D - Bm.reshape(n * pp, q).T @ AiB.reshape(n * pp, q)
        v = KW.reshape(n * m, q).T @ res.reshape(-1) - AiB.reshape(
            n * pp, q
        ).T @ u.reshape(-1)
        # the scale of beta against the s_i is a gauge freedom (S is
        # singular along beta): fix it with a penalty along beta, which
        # leaves every gauge-invariant quantity and its variance unchanged
        k = self.k
        bh = st["beta"] / max(np.linalg.norm(st["beta"]), 1e-300)
        S[:k, :k] += np.trace(S[:k, :k]) / k * np.outer(bh, bh)
        for j, held in enumerate(("centre", "width", "ring_width")):
            if self.fix[held]:
                S[k + j, :] = S[:, k + j] = 0.0
                S[k + j, k + j] = 1.0
        Si = _inv(S)
        dq = Si @ v
        dp = (Ai @ u[:, :, None])[:, :, 0] - AiB @ dq
        return dp, dq, (Ai, AiB, Si)

    def project(self, st, W):
        """The per-frame linear parameters (ring amplitudes, halo amplitude,
        background scale) solved exactly for the shared ones (weighted least
        squares, one small system per frame): the variable projection that
        keeps the iterate on the floor of the valley of the bilinear
        ``s_i * B(beta)`` term, where plain Gauss-Newton steps creep."""
        R, _ = self.e.rings(self.ring_g, st["wr"])
        H = self.e.halo(np.where(st["own"], st["ci"], st["c"]), st["wh"])[0]
        B = self.Phi @ st["beta"]
        n, m, r = self.n, self.m, self.r
        X = np.empty((n, m, r + 2))
        X[:, :, :r] = R[None]
        X[:, :, r] = H
        X[:, :, r + 1] = B[None]
        XW = (X * W[:, :, None]).transpose(0, 2, 1)
        x = (_inv(XW @ X) @ (XW @ self.P[:, :, None]))[:, :, 0]
        return dict(st, a=x[:, :r], h=x[:, r], s=x[:, r + 1])

    def update(self, st, dp, dq, lam):
        r, k = self.r, self.k
        new = dict(st)
        new["a"] = st["a"] + lam * dp[:, :r]
        new["h"] = st["h"] + lam * dp[:, r]
        new["s"] = st["s"] + lam * dp[:, r + 1]
        new["ci"] = np.where(st["own"], st["ci"] + lam * dp[:, r + 2], st["ci"])
        new["beta"] = st["beta"] + lam * dq[:k]
        lo, hi = self.g[0], self.g[-1]
        span = hi - lo
        new["wh"] = float(np.clip(st["wh"] + lam * dq[k + 1], 1e-3 * span, span / 4))
        edge = min(1.5 * new["wh"], 0.45 * span)
        new["c"] = float(np.clip(st["c"] + lam * dq[k], lo + edge, hi - edge))
        new["wr"] = float(np.clip(st["wr"] + lam * dq[k + 2], 1e-4 * span, span / 4))
        return new


def _weights(mu, floor):
    return 1.0 / np.maximum(mu, floor)


def _deviance(P, mu, floor):
    """Poisson deviance (the objective; quasi-Poisson for scaled data)."""
    from scipy.special import xlogy

    mu = np.maximum(mu, floor)
    Pp = np.maximum(P, 0.0)
    return float(2.0 * np.sum(xlogy(Pp, Pp / mu) - (P - mu)))


def _inner(model, c, wh, wr, floor, n_iter=12):
    """Amplitudes, background shape and scales for fixed (c, wh, wr):
    alternating Poisson-weighted least squares (the background shape shared)."""
    P, Phi, r = model.P, model.Phi, model.r
    R, _ = model.e.rings(model.ring_g, wr)
    H = model.e.halo([c], wh)[0][0]
    X0 = np.column_stack([R, H, Phi])
    Pm = P.mean(0)
    w = _weights(np.maximum(Pm, 0) + 1e-3 * np.abs(Pm).mean(), floor)
    coef = np.linalg.lstsq(X0 * np.sqrt(w)[:, None], Pm * np.sqrt(w), rcond=None)[0]
    beta = coef[r + 1 :]
    W = np.broadcast_to(w, P.shape)
    for _ in range(n_iter):
        X = np.column_stack([R, H, Phi @ beta])
        XW = X.T[None] * W[:, None, :]  # (f, c, m)
        A = XW @ X
        x = (_inv(A) @ (XW @ P[:, :, None]))[:, :, 0]
        a, h, s = x[:, :r], x[:, r], x[:, r + 1]
        resid = P - a @ R.T - h[:, None] * H[None]
        M = (Phi.T * ((s**2) @ W)) @ Phi
        beta = _inv(M) @ (Phi.T @ ((s[:, None] * W * resid).sum(0)))
        mu = a @ R.T + h[:, None] * H[None] + s[:, None] * (Phi @ beta)[None]
        W = _weights(mu, floor)
    return {"a": a, "h": h, "s": s, "beta": beta}, _deviance(P, mu, floor)


def _grid_start(model, c0, wh0, wr, floor, fix):
    """Profile likelihood over the halo centre and width on a coarse grid,
    on at most 16 block sums of the frames (the shape is shared)."""
    g, P = model.g, model.P
    groups = np.array_split(np.arange(P.shape[0]), min(16, P.shape[0]))
    Pb = np.array([P[i].sum(0) for i in groups])
    sub = _Model(g, Pb, model.ring_g, model.Phi, model.fix, model.e)
    ws = [wh0] if fix["width"] else wh0 * np.array([0.5, 0.7, 1.0, 1.4, 2.0])
    best, best_any = None, None
    for wh in ws:
        lo, hi = g[0] + 1.5 * wh, g[-1] - 1.5 * wh
        if fix["centre"]:
            cs = [c0]
        elif hi > lo:
            cs = np.linspace(lo, hi, max(int((hi - lo) / (0.3 * wh)), 6))
        else:
            continue
        for c in cs:
            lin, dev = _inner(sub, c, wh, wr, floor, n_iter=6)
            if best_any is None or dev < best_any[0]:
                best_any = (dev, c, wh)
            # a negative halo only mimics background: prefer positive ones
            if lin["h"].mean() > 0 and (best is None or dev < best[0]):
                best = (dev, c, wh)
    if best_any is None:
        raise ValueError(
            "The radial range is too short for a halo: it needs 1.5 halo "
            "widths on each side of the halo centre."
        )
    # no positive halo anywhere (a crystalline series): the fraction is
    # still estimated (near 0, with its error); the centre means nothing
    best = best if best is not None else best_any
    lin, _ = _inner(model, best[1], best[2], wr, floor)
    return best[1], best[2], lin


def _gauss_newton(model, st, floor, max_iter):
    """Levenberg-Marquardt (Fisher scoring) on the Poisson deviance, each
    step followed by the projection of the per-frame linear parameters
    (:meth:`_Model.project`). Returns the state, the weights, the number of
    iterations and whether the deviance stopped falling (relative change
    below 1e-9, or no step lowers it) before ``max_iter``."""
    P = model.P
    mu = model.evaluate(st)[0]
    dev = _deviance(P, mu, floor)
    damping = 1e-3
    for it in range(1, max_iter + 1):
        W = _weights(mu, floor)
        for _ in range(12):
            dp, dq, _ = model.step(st, W, damping)
            new = model.project(model.update(st, dp, dq, 1.0), W)
            mu_new = model.evaluate(new)[0]
            dev_new = _deviance(P, mu_new, floor)
            if dev_new <= dev:
                damping = max(damping * 0.3, 1e-9)
                break
            damping *= 10.0
        else:
            return st, _weights(mu, floor), it, True  # no descent: the minimum
        st, mu, done = new, mu_new, dev - dev_new < 1e-9 * max(dev, 1.0)
        dev = dev_new
        if done:
            return st, _weights(mu, floor), it, True
    return st, _weights(mu, floor), max_iter, False


def fit_halo_series(
    g,
    P,
    ring_g,
    ring_width,
    halo_g=None,
    halo_width=None,
    background_order=1,
    poisson=False,
    fix_centre=False,
    fix_width=False,
    fix_ring_width=False,
    own_centre_snr=5.0,
    max_iter=200,
    noise_gain=None,
    exposure=None,
):
    """Rings, halo and shared background of every frame, with covariances.

    See the module docstring for the model. The last few fits are kept
    (keyed by all the inputs, the profiles' values included, so a change of
    the data, calibration, centring or any argument fits again): the SAED
    methods that share one whole-series fit (``ring_positions``,
    ``identify_phases``, ``amorphous_fraction``, ...) fit it once.
    :func:`clear_cache` forgets them.

    Parameters
    ----------
    g : numpy.ndarray, shape (m,)
        Bin centres (1/A).
    P : numpy.ndarray, shape (n, m)
        Profiles (counts per radial bin, or proportional to them).
    ring_g : array-like, shape (r,)
        Ring positions (1/A), held.
    ring_width : float
        Ring standard deviation (1/A): the start, or the value held with
        ``fix_ring_width``.
    halo_g, halo_width : float, optional
        Halo centre and standard deviation (1/A): starting values (default a
        grid over the range and four ring widths), or the values held with
        ``fix_centre`` / ``fix_width``.
    background_order : int
        Polynomial order of the shared background shape.
    poisson : bool
        Counted electrons: the covariance is that of Poisson noise.
        Otherwise it is scaled by the Pearson chi-squared per degree of
        freedom.
    noise_gain : float, optional
        Noise variance per unit of signal (detector gain; see
        :func:`~hyperspy_perovskite.analysis.saed_geometry.gain_from_annuli`),
        used instead of the residuals when ``poisson`` is False: with
        pixel-splitting integration the per-bin residuals read low while
        broad features such as the halo see the full noise.
    exposure : numpy.ndarray, shape (m,) or (m, K), optional
        Pixels per radial bin (whole-pixel binning, where small annuli are
        jagged), or per sub-bin: row ``j`` counts the pixels of bin ``j``
        whose radius falls in each of K equal parts of the bin (the model
        is then integrated over the bin's true pixel-radius distribution,
        which a ring as narrow as a pixel needs when the pattern centre is
        not on a pixel corner). Default proportional to ``g`` (the
        circumference, as for pixel-splitting integration). Every term of
        the model is an intensity per pixel times it.
    own_centre_snr : float
        Frames whose halo amplitude is at this many standard errors or more
        get their own halo centre; ``np.inf`` shares one centre.
    max_iter : int
        Iterations per stage (shared halo centre, then own centres); the
        fit converges in about 10 to 20.

    Returns
    -------
    dict
        ``integrated`` (n, r + 1): counts in each ring and (last) the halo
        over the range of ``g``; ``cov`` (n, r + 1, r + 1) their covariance
        (shared-shape uncertainty included); ``cov_frame`` the same given the
        shared shape (the frame-to-frame part, common errors left out: the
        weights of a fit through time); ``halo_g``, ``halo_g_std``
        (n,): the halo centre used per frame and its standard error;
        ``own_centre`` (n,) bool; ``amplitude_snr`` (n,); ``halo_width``,
        ``ring_width`` (with ``*_std``); ``model`` (n, m); ``background``
        (n, m); ``design`` (n, m, r + 2) and ``coef`` (n, r + 2) (rings,
        halo, background scale); ``chi2`` (Pearson), ``dof``, ``scale``;
        ``iterations`` (of both stages) and ``converged`` (False when
        ``max_iter`` stopped the last stage while the deviance still fell).

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.saed_halo import fit_halo_series
    >>> g = np.linspace(0.1, 0.5, 160)
    >>> ring = lambda c: g * np.exp(-0.5 * ((g - c) / 0.01) ** 2)
    >>> halo = g * np.exp(-0.5 * ((g - 0.29) / 0.05) ** 2)
    >>> bg = g * (3 + 0.02 / g**2)
    >>> amp = np.linspace(0, 400, 8)[:, None]
    >>> P = 500 * ring(0.2) + 300 * ring(0.35) + amp * halo + 200 * bg
    >>> res = fit_halo_series(g, P, [0.2, 0.35], 0.012, poisson=True)
    >>> round(float(res["halo_g"][-1]), 4), round(res["halo_width"], 4)
    (0.29, 0.05)
    """
    g = np.asarray(g, float)
    P = np.atleast_2d(np.asarray(P, float))
    ring_g = np.atleast_1d(np.asarray(ring_g, float))
    key = digest(
        g, P, ring_g, ring_width, halo_g, halo_width, background_order, poisson,
        fix_centre, fix_width, fix_ring_width, own_centre_snr, max_iter,
        noise_gain, exposure,
    )  # fmt: skip
    out = _CACHE.get(key)
    if out is None:
        out = _fit(
            g, P, ring_g, ring_width, halo_g, halo_width, background_order,
            poisson, (fix_centre, fix_width, fix_ring_width), own_centre_snr,
            max_iter, noise_gain, exposure,
        )  # fmt: skip
        _CACHE.put(key, out)
    return out


def _fit(
    g, P, ring_g, ring_width, halo_g, halo_width, background_order, poisson, fixes,
    own_centre_snr, max_iter, noise_gain, exposure,
):  # fmt: skip
    """The fit of :func:`fit_halo_series` (no cache)."""
    fix_centre, fix_width, fix_ring_width = fixes
    e = _Bins(g, g if exposure is None else exposure)
    Phi = e.background(background_order)
    fix = {"centre": fix_centre, "width": fix_width, "ring_width": fix_ring_width}
    if (fix_centre and halo_g is None) or (fix_width and halo_width is None):
        raise ValueError("A held halo centre or width needs its value (1/A).")
    model = _Model(g, P, ring_g, Phi, fix, e)
    scale_p = np.nanmedian(np.abs(P))
    floor = 1.0 if poisson else max(1e-3 * scale_p, 1e-300)
    wh0 = 4.0 * ring_width if halo_width is None else float(halo_width)
    c0 = 0.5 * (g[0] + g[-1]) if halo_g is None else float(halo_g)
    c, wh, lin = _grid_start(model, c0, wh0, ring_width, floor, fix)
    n = P.shape[0]
    st = dict(lin, c=c, wh=wh, wr=float(ring_width), ci=np.full(n, c))
    st["own"] = np.zeros(n, bool)
    st, W, n_iter, converged = _gauss_newton(model, st, floor, max_iter)
    out = _results(model, st, W, poisson, noise_gain)
    if not fix_centre and np.isfinite(own_centre_snr):
        own = out["amplitude_snr"] >= own_centre_snr
        if own.any():
            st = dict(st, own=own, ci=np.full(n, st["c"]))
            st, W, more, converged = _gauss_newton(model, st, floor, max_iter)
            n_iter += more
            out = _results(model, st, W, poisson, noise_gain)
    out["iterations"], out["converged"] = n_iter, converged
    return out


def _results(model, st, W, poisson, noise_gain=None):
    """Integrated intensities, halo centres and their covariances."""
    r, k, n = model.r, model.k, model.n
    mu, cols = model.evaluate(st)
    R, dR, H, dHc, dHw, B = cols
    _, _, (Ai, AiB, Si) = model.step(st, W)
    own = st["own"]
    Cpp = Ai + np.einsum("fpq,qr,fsr->fps", AiB, Si, AiB)
    Cpq = -AiB @ Si
    chi2 = float(np.sum((model.P - mu) ** 2 / np.maximum(mu, 1e-300)))
    n_free = (
        n * (r + 2) + int(own.sum()) + k - 1 + sum(not v for v in model.fix.values())
    )
    dof = max(model.P.size - n_free, 1)
    if poisson:
        scale = 1.0
    elif noise_gain is not None:
        scale = float(noise_gain)
    else:
        scale = chi2 / dof
    # gradients of the integrated intensities (rings, halo)
    p, q = r + 3, k + 3
    Gp = np.zeros((n, r + 1, p))
    Gq = np.zeros((n, r + 1, q))
    Gp[:, np.arange(r), np.arange(r)] = R.sum(0)
    Gp[:, r, r] = H.sum(1)
    Gp[:, r, r + 2] = np.where(own, st["h"] * dHc.sum(1), 0.0)
    Gq[:, r, k] = np.where(own, 0.0, st["h"] * dHc.sum(1))
    Gq[:, r, k + 1] = st["h"] * dHw.sum(1)
    Gq[:, :r, k + 2] = st["a"] * dR.sum(0)[None]
    for j, held in enumerate(("centre", "width", "ring_width")):
        if model.fix[held]:
            Gq[:, :, k + j] = 0.0
    cov = (
        np.einsum("fip,fpq,fjq->fij", Gp, Cpp, Gp)
        + np.einsum("fip,fpq,fjq->fij", Gp, Cpq, Gq)
        + np.einsum("fjp,fpq,fiq->fij", Gp, Cpq, Gq)
        + np.einsum("fip,pq,fjq->fij", Gq, Si, Gq)
    ) * scale
    # given the shared shape: what varies from frame to frame only
    cov_frame = np.einsum("fip,fpq,fjq->fij", Gp, Ai, Gp) * scale
    integrated = np.column_stack([st["a"] * R.sum(0)[None], st["h"] * H.sum(1)])
    var_h = np.maximum(Cpp[:, r, r] * scale, 1e-300)
    var_c = np.where(own, Cpp[:, r + 2, r + 2], Si[k, k]) * scale
    c_i = np.where(own, st["ci"], st["c"])
    design = np.concatenate([np.broadcast_to(R, (n,) + R.shape), H[..., None]], 2)
    design = np.concatenate(
        [design, np.broadcast_to(B[None, :, None], (n, B.size, 1))], 2
    )
    return {
        "integrated": integrated,
        "cov": cov,
        "cov_frame": cov_frame,
        "halo_g": c_i,
        "halo_g_std": np.sqrt(np.maximum(var_c, 0.0)),
        "own_centre": own.copy(),
        "amplitude_snr": st["h"] / np.sqrt(var_h),
        "halo_width": st["wh"],
        "halo_width_std": float(np.sqrt(max(Si[k + 1, k + 1] * scale, 0.0))),
        "ring_width": st["wr"],
        "ring_width_std": float(np.sqrt(max(Si[k + 2, k + 2] * scale, 0.0))),
        "model": mu,
        "background": st["s"][:, None] * B[None],
        "design": design,
        "coef": np.column_stack([st["a"], st["h"], st["s"]]),
        "chi2": chi2,
        "dof": dof,
        "scale": scale,
    }


def fraction_with_std(integrated, cov):
    """Halo fraction ``I_h / (I_h + sum_r I_r)`` and its standard error.

    Parameters
    ----------
    integrated : numpy.ndarray, shape (n, r + 1)
        Ring counts and (last column) halo counts.
    cov : numpy.ndarray, shape (n, r + 1, r + 1)

    Returns
    -------
    fraction, std : numpy.ndarray, shape (n,)

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.saed_halo import fraction_with_std
    >>> f, s = fraction_with_std(np.array([[30.0, 50.0, 20.0]]), np.diag([9.0, 25, 16])[None])
    >>> float(f[0]), round(float(s[0]), 4)
    (0.2, 0.0341)
    """
    integrated = np.atleast_2d(integrated)
    halo = integrated[:, -1]
    total = integrated.sum(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = halo / total
        grad = np.empty_like(integrated)
        grad[:, :-1] = -halo[:, None] / total[:, None] ** 2
        grad[:, -1] = (total - halo) / total**2
    var = np.einsum("fi,fij,fj->f", grad, cov, grad)
    return frac, np.sqrt(np.maximum(var, 0.0))
