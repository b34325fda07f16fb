"""Compiled closed forms of the drift-diffusion transient (numba).

The semi-infinite solution at a blocking wall and the closed-layer solution
between two blocking walls, with their derivatives: used by
:func:`hyperspy_perovskite.analysis.drift_diffusion.transient_profile_closed_layer`
and by the kernel of
:class:`~hyperspy_perovskite.components.DriftDiffusionTransient`, one home
for the numerics.
"""

import math

import numpy as np
from numba import njit

from hyperspy_perovskite._numba_cache import njit_cached

_INV_SQRTPI = 1.0 / math.sqrt(math.pi)


@njit(nogil=True, error_model="numpy")
def _erfcx(x):
    """Scaled complementary error function ``exp(x^2) erfc(x)`` for ``x >= 0``.

    Direct below 4; above, the continued fraction of erfc (Abramowitz &
    Stegun, *Handbook of Mathematical Functions*, 1964, eq. 7.1.14), 60 levels
    (relative error < 1e-15 for x >= 4).
    """
    if x < 4.0:
        return math.exp(x * x) * math.erfc(x)
    f = x
    for k in range(60, 0, -1):
        f = x + 0.5 * k / f
    return _INV_SQRTPI / f


@njit(nogil=True, error_model="numpy")
def _smoluchowski(z, d, s):
    """Semi-infinite solution ``g(z; d, s)`` (c_bulk = 1) and its derivatives.

    Returns ``(g, dg/dz, dg/dd, dg/ds)``. ``d > 0``: drift towards
    the wall (accumulation); ``d < 0``: drift away from it (depletion, the
    same closed form with ``v -> -v``). Products ``exp(-4 z d / s^2) *
    erfc(a)`` are formed as ``exp(-((z + d)/s)^2) * erfcx(a)`` when ``a >= 0``,
    so nothing overflows for any sign of ``d``.
    """
    b = (z + d) / s
    a = (z - d) / s
    eb = math.exp(-b * b) * _INV_SQRTPI
    r = 2.0 * d / s
    if a >= 0.0:
        w = math.exp(-b * b)
        ex = _erfcx(a)
        p_erfc = w * ex  # exp(-4zd/s^2) erfc(a)
        p_ea = w * _INV_SQRTPI  # exp(-4zd/s^2) exp(-a^2)/sqrt(pi)
        p_ierfc = w * (_INV_SQRTPI - a * ex)
    else:
        p = math.exp(-4.0 * z * d / (s * s))
        erfca = math.erfc(a)
        ea = math.exp(-a * a) * _INV_SQRTPI
        p_erfc = p * erfca
        p_ea = p * ea
        p_ierfc = p * (ea - a * erfca)
    pE = 0.5 * p_erfc + r * p_ierfc
    pdEda = -p_ea - r * p_erfc
    g = 0.5 * math.erfc(-b) + pE
    g_z = eb / s + (-4.0 * d / (s * s)) * pE + pdEda / s
    g_d = eb / s + (-4.0 * z / (s * s)) * pE - pdEda / s + 2.0 / s * p_ierfc
    g_s = (
        -b * eb / s
        + 8.0 * z * d / (s * s * s) * pE
        - pdEda * a / s
        - 2.0 * d / (s * s) * p_ierfc
    )
    return g, g_z, g_d, g_s


#: largest exponent of a series term (exp(600) ~ 4e260: no overflow even
#: after the polynomial factors of the terms and their derivatives)
_MAX_EXP = 600.0


@njit(nogil=True, error_model="numpy")
def _closed_layer_series(zeta, A, tau):
    """Eigenfunction series of the closed layer, ``h(zeta; A, tau)``.

    Returns ``(h, dh/dzeta, dh/dA, dh/dtau)``; ``zeta = z / L``,
    ``A = v L / (2 D)``, ``tau = D t / L^2`` (see :func:`closed_layer_point`).
    """
    # steady state 2A exp(-2 A zeta) / (1 - exp(-2A)) and its derivatives
    if A < 1e-3:
        pre = 1.0 + A + A * A / 3.0  # 2A / (1 - exp(-2A)), Taylor
        dlog = 1.0 - A / 3.0 + A * A * A / 45.0  # 1/A - 2/expm1(2A)
    else:
        pre = 2.0 * A / (-math.expm1(-2.0 * A))
        dlog = 1.0 / A - 2.0 / math.expm1(2.0 * A)
    cs = pre * math.exp(-2.0 * A * zeta)
    h = cs
    h_z = -2.0 * A * cs
    h_A = cs * (dlog - 2.0 * zeta)
    h_t = 0.0
    x0 = A - A * A * tau  # largest exponent of the far-wall part (zeta = 0)
    if x0 < 0.0:
        x0 = 0.0
    nmax = int(math.sqrt((x0 + 40.0) / tau) / math.pi) + 2
    if nmax > 20000:
        nmax = 20000
    sgn = 1.0
    for n in range(1, nmax + 1):
        sgn = -sgn  # (-1)^n
        k = n * math.pi
        den = A * A + k * k
        coef = 4.0 * k / (den * den)
        decay = den * tau
        e1x = A * (1.0 - zeta) - decay
        e2x = -A * zeta - decay
        e1 = sgn * math.exp(min(e1x, _MAX_EXP))
        e2 = math.exp(min(e2x, _MAX_EXP))
        P = e1 - e2
        sk = math.sin(k * zeta)
        ck = math.cos(k * zeta)
        Q = k * ck - A * sk
        T = A * coef * P * Q
        h += T
        h_t += -den * T
        h_z += A * coef * (-A * P * Q - P * k * (k * sk + A * ck))
        P_A = (1.0 - zeta) * e1 + zeta * e2 - 2.0 * A * tau * P
        h_A += coef * (P * Q * (1.0 - 4.0 * A * A / den) + A * P_A * Q - A * P * sk)
        if n > 3 and e1x < -40.0 and e2x < -40.0:
            break
    return h, h_z, h_A, h_t


@njit(nogil=True, error_model="numpy")
def closed_layer_point(z, d, s, L):
    """Drift-diffusion transient of a closed layer ``0 <= z <= L`` (c_mean = 1).

    Both electrodes block (zero flux ``D dc/dz + v c = 0`` at ``z = 0`` and
    ``z = L``), the initial concentration is uniform, ions drift towards
    ``z = 0`` with ``d = v t`` and ``s = 2 sqrt(D t)``. Returns ``(h, dh/dz,
    dh/dd, dh/ds)``.

    Two exact representations, chosen per call:

    - while the accumulation at ``z = 0`` and the depletion at ``z = L`` do not
      overlap (``L - d - min(d, 5 lambda) > 5 s``, ``lambda = s^2 / (4 d)``),
      their sum ``g(z; d, s) + g(L - z; -d, s) - 1`` of two semi-infinite
      solutions (:func:`_smoluchowski`); the neglected coupling is below
      ``exp(-25)``;
    - otherwise the eigenfunction expansion of the Mason-Weaver problem (Mason
      & Weaver, Phys. Rev. 23, 412 (1924)): with ``a = v / (2D)``,
      ``c = exp(-a z) u`` turns the equation into ``u_t = D u_zz - D a^2 u``
      with Robin conditions ``u' + a u = 0`` at both walls, whose
      eigenfunctions are ``k_n cos(k_n z) - a sin(k_n z)``, ``k_n = n pi / L``
      (plus the steady state ``exp(-2 a z)``), giving, in ``zeta = z / L``,
      ``A = a L = 2 d L / s^2``, ``tau = D t / L^2 = s^2 / (4 L^2)``::

          h = 2A e^{-2A zeta} / (1 - e^{-2A})
              + sum_n 4 A k_n [(-1)^n e^{A(1 - zeta)} - e^{-A zeta}]
                (k_n cos k_n zeta - A sin k_n zeta)
                e^{-(k_n^2 + A^2) tau} / (A^2 + k_n^2)^2.

      The terms of the far-wall part reach ``exp(A - d^2/s^2)``, so rounding
      limits the precision to about ``1e-16 exp(A - d^2 / s^2)``: exact to
      better than 1e-5 while ``L / lambda = 2A < 50``; beyond that (a very thin
      accumulation layer while the depletion front crosses it) the series is
      evaluated with its exponents capped and loses precision.
    """
    lam5 = 5.0 * s * s / (4.0 * d) if d > 0.0 else 1e300
    near = d if d < lam5 else lam5
    if L - d - near > 5.0 * s:
        g0, gz, gd, gs = _smoluchowski(z, d, s)
        f0, fz, fd, fs = _smoluchowski(L - z, -d, s)
        return g0 + f0 - 1.0, gz - fz, gd - fd, gs + fs
    A = 2.0 * d * L / (s * s)
    tau = s * s / (4.0 * L * L)
    h, h_z, h_A, h_t = _closed_layer_series(z / L, A, tau)
    return (
        h,
        h_z / L,
        h_A * 2.0 * L / (s * s),
        h_A * (-2.0 * A / s) + h_t * (2.0 * tau / s),
    )


@njit_cached(nogil=True, error_model="numpy")
def closed_layer_values(z, d, s, L):
    """:func:`closed_layer_point` element-wise over flat arrays (c_mean = 1).

    ``z``, ``d``, ``s``: float64 arrays of equal length; 0 outside ``[0, L]``.
    """
    out = np.zeros(z.shape[0])
    for i in range(z.shape[0]):
        if 0.0 <= z[i] <= L:
            out[i] = closed_layer_point(z[i], d[i], s[i], L)[0]
    return out


#: Gauss-Legendre nodes and weights on [-1, 1] (24 points per panel) for the
#: Gaussian blur of the transient (:func:`blurred_transient_point`)
_GL_X, _GL_W = np.polynomial.legendre.leggauss(24)
#: the blur integral spans +- this many standard deviations
_BLUR_SPAN = 8.0


@njit(nogil=True, error_model="numpy")
def _transient_unblurred(z, d, s, L):
    """``(g, dg/dz, dg/dd, dg/ds)`` of the transient (c_bulk = 1), 0 outside
    the layer ``0 <= z (<= L when L > 0)``."""
    if z < 0.0 or (L > 0.0 and z > L):
        return 0.0, 0.0, 0.0, 0.0
    if L > 0.0:
        return closed_layer_point(z, d, s, L)
    return _smoluchowski(z, d, s)


@njit(nogil=True, error_model="numpy")
def blurred_transient_point(z, d, s, L, sig):
    """The transient (c_bulk = 1) convolved with a Gaussian of std ``sig``.

    ``F(z) = int g(z') exp(-(z - z')^2 / (2 sig^2)) / (sqrt(2 pi) sig) dz'``
    over the layer (``g`` is 0 inside the electrodes, so the blurred profile
    spills past the walls as a measured one does), by Gauss-Legendre
    quadrature on two panels that meet at ``z`` (24 nodes each, over +- 8
    ``sig``): both panels hold a smooth integrand, since the walls are
    integration limits. Returns ``(F, dF/dz, dF/dd, dF/ds)``; ``dF/dz`` is
    the integral of ``g`` against the derivative of the Gaussian.
    ``L = 0``: semi-infinite layer.
    """
    lo = z - _BLUR_SPAN * sig
    hi = z + _BLUR_SPAN * sig
    if lo < 0.0:
        lo = 0.0
    if L > 0.0 and hi > L:
        hi = L
    F = 0.0
    Fz = 0.0
    Fd = 0.0
    Fs = 0.0
    if hi <= lo:
        return F, Fz, Fd, Fs
    norm = 1.0 / (math.sqrt(2.0 * math.pi) * sig)
    for panel in range(2):
        if panel == 0:
            a = lo
            b = z if z < hi else hi
        else:
            a = z if z > lo else lo
            b = hi
        if b <= a:
            continue
        half = 0.5 * (b - a)
        mid = 0.5 * (b + a)
        for k in range(_GL_X.shape[0]):
            zp = mid + half * _GL_X[k]
            u = (z - zp) / sig
            w = _GL_W[k] * half * norm * math.exp(-0.5 * u * u)
            g, g_z, g_d, g_s = _transient_unblurred(zp, d, s, L)
            F += w * g
            Fz += -w * g * u / sig
            Fd += w * g_d
            Fs += w * g_s
    return F, Fz, Fd, Fs


@njit_cached(nogil=True, error_model="numpy")
def blurred_transient_values(z, d, s, L, sig):
    """:func:`blurred_transient_point` (value only) over flat arrays."""
    out = np.empty(z.shape[0])
    for i in range(z.shape[0]):
        out[i] = blurred_transient_point(z[i], d[i], s[i], L, sig)[0]
    return out


@njit_cached(nogil=True, error_model="numpy")
def transient_gradients(z, d, s, L, sig):
    """``(g, dg/dd, dg/ds)`` of the transient (c_bulk = 1) over flat arrays.

    Blurred (:func:`blurred_transient_point`) when ``sig > 0``, else
    :func:`_transient_unblurred`; ``L = 0``: semi-infinite layer. Returns an
    ``(n, 3)`` array: the Jacobian columns of a fitted profile in one pass.
    """
    out = np.empty((z.shape[0], 3))
    for i in range(z.shape[0]):
        if sig > 0.0:
            g, _, g_d, g_s = blurred_transient_point(z[i], d[i], s[i], L, sig)
        else:
            g, _, g_d, g_s = _transient_unblurred(z[i], d[i], s[i], L)
        out[i, 0] = g
        out[i, 1] = g_d
        out[i, 2] = g_s
    return out
