"""Compiled local fits of J-V curves (short circuit, open circuit, maximum power).

One function, :func:`fom_block`, walks a block of curves sharing one
ascending voltage axis and writes :data:`FOM_FIELDS` per curve. Every number
comes from a local least-squares polynomial whose covariance (scaled by the
current-density noise) gives its standard deviation:

- short circuit: straight line ``J = a + b V`` over ``sc_range`` (fractions of
  a first Voc estimate; the diode current is negligible there), ``Jsc = a``,
  slope conductance ``g_sc = -b``;
- open circuit: quadratic in ``V`` over the points with ``|J| <= oc_fraction
  Jsc`` around the zero crossing (at least ``min_points``), ``Voc`` its root,
  slope conductance ``g_oc = -dJ/dV`` there;
- maximum power: cubic in ``V`` of ``P = V J`` (weights ``1 / V``: the
  noise of ``P`` is ``V sigma_J``) over the points with ``P >= (1 -
  mpp_fraction) P_max`` (at least ``min_points + 2``; the window is doubled,
  up to three times, while the cubic has no maximum inside it), ``Pmax`` its
  maximum.

Uncertainties follow by first-order propagation through each fit. The noise
``sigma`` is given, or pooled from the residuals of the three fits.
"""

import math

import numpy as np

from hyperspy_perovskite._numba_cache import njit_cached

FOM_FIELDS = (
    "jsc", "jsc_std", "voc", "voc_std", "pmax", "pmax_std", "vmp", "vmp_std",
    "jmp", "ff", "ff_std", "g_sc", "g_sc_std", "g_oc", "g_oc_std", "sigma",
    "reasons",
)  # fmt: skip
N_FIELDS = len(FOM_FIELDS)

#: Validity bits (bit i of ``reasons``).
REASONS = (
    "non-finite current",
    "V = 0 not inside the scan",
    "never crosses zero current (no Voc)",
    "no significant photocurrent (dark curve)",
    "no power maximum between 0 and Voc",
    "too few points for a local fit",
    "photocurrent negative (other sign convention)",
)
NONFINITE, NO_SC, NO_OC, DARK, NO_MPP, FEW_POINTS, NEGATIVE = range(7)


@njit_cached(nogil=True)
def _polyfit(x, y, w, lo, hi, x0, deg, coef, cov):
    """Weighted polynomial fit of ``y`` on ``x - x0`` for points ``lo..hi-1``.

    Writes coefficients (ascending powers) to ``coef`` and the unscaled
    covariance ``(X^T W X)^-1`` to ``cov``; returns the weighted residual sum
    of squares, or -1 when the normal matrix is singular.
    """
    m = deg + 1
    h = 0.0
    for i in range(lo, hi):
        h = max(h, abs(x[i] - x0))
    if h == 0.0:
        return -1.0
    A = np.zeros((m, 2 * m))
    b = np.zeros(m)
    for i in range(lo, hi):
        u = (x[i] - x0) / h
        wi = w[i] * w[i]
        pj = 1.0
        for j in range(m):
            pk = 1.0
            for k in range(m):
                A[j, k] += wi * pj * pk
                pk *= u
            b[j] += wi * pj * y[i]
            pj *= u
    for j in range(m):
        A[j, m + j] = 1.0
    for c in range(m):  # Gauss-Jordan with partial pivoting
        p = c
        for r in range(c + 1, m):
            if abs(A[r, c]) > abs(A[p, c]):
                p = r
        if A[p, c] == 0.0:
            return -1.0
        for k in range(2 * m):
            A[c, k], A[p, k] = A[p, k], A[c, k]
        piv = A[c, c]
        for k in range(2 * m):
            A[c, k] /= piv
        for r in range(m):
            if r != c:
                f = A[r, c]
                for k in range(2 * m):
                    A[r, k] -= f * A[c, k]
    for j in range(m):
        s = 0.0
        for k in range(m):
            s += A[j, m + k] * b[k]
        coef[j] = s / h**j
        for k in range(m):
            cov[j, k] = A[j, m + k] / (h**j * h**k)
    rss = 0.0
    for i in range(lo, hi):
        u = x[i] - x0
        f = 0.0
        for j in range(m - 1, -1, -1):
            f = f * u + coef[j]
        rss += (w[i] * (y[i] - f)) ** 2
    return rss


@njit_cached(nogil=True)
def _quad_form(g, cov):
    s = 0.0
    for i in range(g.shape[0]):
        for j in range(g.shape[0]):
            s += g[i] * cov[i, j] * g[j]
    return s


@njit_cached(nogil=True)
def _grow(lo, hi, n, min_points):
    """Widen ``[lo, hi)`` symmetrically until it holds ``min_points`` points."""
    while hi - lo < min_points and (lo > 0 or hi < n):
        if lo > 0:
            lo -= 1
        if hi - lo < min_points and hi < n:
            hi += 1
    return lo, hi


@njit_cached(nogil=True)
def _crossing(V, J):
    """Index i of the last + to - zero crossing (J[i] > 0 >= J[i+1]) with V > 0."""
    idx = -1
    for i in range(V.shape[0] - 1):
        if V[i + 1] > 0.0 and J[i] > 0.0 and J[i + 1] <= 0.0:
            idx = i
    return idx


@njit_cached(nogil=True)
def _mpp_fit(V, P, voc, im, frac, min_pts, c4, cov4):
    """Cubic of ``P`` around ``im`` over ``P >= (1 - frac) P[im]``.

    Returns (ok, x of the maximum relative to ``V[im]``, P'' there, rss,
    number of points); ok is False when the cubic has no maximum inside the
    window.
    """
    n = V.shape[0]
    lo, hi = im, im + 1
    lim = (1.0 - frac) * P[im]
    while lo > 0 and V[lo - 1] > 0.0 and P[lo - 1] >= lim:
        lo -= 1
    while hi < n and V[hi] < voc and P[hi] >= lim:
        hi += 1
    lo, hi = _grow(lo, hi, n, min_pts)
    w = np.zeros(n)
    for i in range(lo, hi):
        w[i] = 1.0 / max(abs(V[i]), 1e-3)
    rss = _polyfit(V, P, w, lo, hi, V[im], 3, c4, cov4)
    b, c, d = c4[1], c4[2], c4[3]
    xm = 0.0  # Newton on P' from the sampled maximum
    for _ in range(20):
        d2 = 2.0 * c + 6.0 * d * xm
        if d2 == 0.0:
            break
        xm -= (b + 2.0 * c * xm + 3.0 * d * xm * xm) / d2
    d2 = 2.0 * c + 6.0 * d * xm
    ok = rss >= 0.0 and d2 < 0.0 and V[lo] - V[im] <= xm <= V[hi - 1] - V[im]
    return ok, xm, d2, rss, hi - lo


@njit_cached(nogil=True)
def fom_curve(V, J, sigma, sc_lo, sc_hi, oc_fraction, mpp_fraction, min_points, out):
    """Figures of merit of one curve (ascending ``V``) into ``out``."""
    n = V.shape[0]
    for k in range(N_FIELDS):
        out[k] = np.nan
    reasons = 0
    var_pm_u = 0.0
    var_vm_u = 0.0
    for i in range(n):
        if not math.isfinite(J[i]):
            out[N_FIELDS - 1] = 1 << NONFINITE
            return
    ones = np.ones(n)
    coef = np.zeros(3)
    cov = np.zeros((3, 3))
    g = np.zeros(3)
    c4 = np.zeros(4)
    cov4 = np.zeros((4, 4))
    g4 = np.zeros(4)
    if V[0] > 0.0 or V[n - 1] < 0.0:
        out[N_FIELDS - 1] = 1 << NO_SC
        return
    i0 = np.argmin(np.abs(V))
    ic = _crossing(V, J)
    if J[i0] < 0.0 and ic < 0:
        out[N_FIELDS - 1] = 1 << NEGATIVE
        return
    if ic < 0:
        out[N_FIELDS - 1] = 1 << NO_OC
        return
    voc0 = V[ic] - J[ic] * (V[ic + 1] - V[ic]) / (J[ic + 1] - J[ic])
    # --- short circuit: straight line over sc_range (fractions of Voc)
    lo = np.searchsorted(V, sc_lo * voc0)
    hi = np.searchsorted(V, sc_hi * voc0, side="right")
    lo, hi = _grow(lo, hi, n, 3)
    rss_sc = _polyfit(V, J, ones, lo, hi, 0.0, 1, coef, cov)
    if rss_sc < 0.0 or hi - lo < 3:
        out[N_FIELDS - 1] = 1 << FEW_POINTS
        return
    jsc, b_sc = coef[0], coef[1]
    c_sc00, c_sc11 = cov[0, 0], cov[1, 1]
    dof = hi - lo - 2
    rss = rss_sc
    # --- open circuit: quadratic around the crossing, |J| <= oc_fraction Jsc
    lo, hi = ic, ic + 2
    lim = oc_fraction * abs(jsc)
    while lo > 0 and abs(J[lo - 1]) <= lim:
        lo -= 1
    while hi < n and abs(J[hi]) <= lim:
        hi += 1
    lo, hi = _grow(lo, hi, n, min_points)
    rss_oc = _polyfit(V, J, ones, lo, hi, voc0, 2, coef, cov)
    if rss_oc < 0.0 or hi - lo < 4:
        out[N_FIELDS - 1] = 1 << FEW_POINTS
        return
    a, b, c = coef[0], coef[1], coef[2]
    x = -a / b
    for _ in range(3):
        x -= (a + b * x + c * x * x) / (b + 2.0 * c * x)
    s = b + 2.0 * c * x
    g[0], g[1], g[2] = -1.0 / s, -x / s, -x * x / s
    var_voc_u = _quad_form(g, cov)
    g[0], g[1], g[2] = 2.0 * c * g[0], 1.0 + 2.0 * c * g[1], 2.0 * x + 2.0 * c * g[2]
    var_goc_u = _quad_form(g, cov)
    voc = voc0 + x
    dof += hi - lo - 3
    rss += rss_oc
    # --- maximum power: cubic of P = V J, weights 1 / V
    P = V * J
    im = -1
    for i in range(n):
        if V[i] > 0.0 and V[i] < voc and (im < 0 or P[i] > P[im]):
            im = i
    ok = False
    if im >= 0 and P[im] > 0.0:
        frac = mpp_fraction
        for _ in range(4):  # widen the window while the cubic has no maximum in it
            ok, xm, d2, rss_mp, npts = _mpp_fit(
                V, P, voc, im, frac, min_points + 2, c4, cov4
            )
            if ok:
                break
            frac *= 2.0
    if not ok:
        reasons |= 1 << NO_MPP
    else:
        a, b, c, d = c4[0], c4[1], c4[2], c4[3]
        # envelope theorem: dPmax/dtheta = dP/dtheta at the maximum
        g4[0], g4[1], g4[2], g4[3] = 1.0, xm, xm * xm, xm * xm * xm
        var_pm_u = _quad_form(g4, cov4)
        g4[0], g4[1] = 0.0, -1.0 / d2
        g4[2], g4[3] = -2.0 * xm / d2, -3.0 * xm * xm / d2
        var_vm_u = _quad_form(g4, cov4)
        out[4] = a + xm * (b + xm * (c + xm * d))
        out[6] = V[im] + xm
        out[8] = out[4] / out[6]
        dof += npts - 4
        rss += rss_mp
    sig = sigma
    if not sig > 0.0:
        sig = math.sqrt(rss / dof) if dof > 0 else np.nan
    out[0], out[1] = jsc, sig * math.sqrt(c_sc00)
    out[2], out[3] = voc, sig * math.sqrt(var_voc_u)
    out[11], out[12] = -b_sc, sig * math.sqrt(c_sc11)
    out[13], out[14] = -s, sig * math.sqrt(var_goc_u)
    out[15] = sig
    if not (jsc > 5.0 * out[1]):
        reasons |= 1 << DARK
    if (reasons >> NO_MPP) & 1 == 0:
        out[5] = sig * math.sqrt(var_pm_u)
        out[7] = sig * math.sqrt(var_vm_u)
        ff = out[4] / (jsc * voc)
        rel = (out[5] / out[4]) ** 2 + (out[1] / jsc) ** 2 + (out[3] / voc) ** 2
        out[9], out[10] = 100.0 * ff, 100.0 * ff * math.sqrt(rel)
    out[N_FIELDS - 1] = reasons


@njit_cached(nogil=True)
def fom_block(V, J2, sigma, sc_lo, sc_hi, oc_fraction, mpp_fraction, min_points):
    """:func:`fom_curve` over the rows of ``J2`` (curves x voltages)."""
    out = np.empty((J2.shape[0], N_FIELDS))
    for r in range(J2.shape[0]):
        fom_curve(
            V, J2[r], sigma[r], sc_lo, sc_hi, oc_fraction, mpp_fraction,
            min_points, out[r],
        )  # fmt: skip
    return out
