"""Compiled point kernels of the ion-migration components.

Contract: see :mod:`hyperspy_perovskite.fitting.kernels`. The expressions are
those of :mod:`hyperspy_perovskite.analysis.drift_diffusion` (which documents
the physics and its sources); the components in
:mod:`hyperspy_perovskite.components` evaluate the same formulas, and
``tests/fitting/test_kernels_migration.py`` checks every kernel against
``component.function`` and against finite differences.

``c[0]`` of the two drift-diffusion kernels is the side of the wall on which
the layer lies: ``+1`` for ``x > wall``, ``-1`` for ``x < wall``. Outside the
layer (inside the electrode) both return 0 with zero derivatives, so no
parameter value within bounds can overflow: every exponential has a
non-positive argument there.
"""

import math

import numpy as np
from numba import njit

_INV_SQRTPI = 1.0 / math.sqrt(math.pi)


@njit(cache=True, nogil=True, error_model="numpy")
def interdiffusion(x, P, o, grad, c):
    """``c_right + (c_left - c_right) / 2 erfc((x - centre) / L_eff)``, with
    ``L_eff = sqrt(length^2 + 2 resolution^2)`` (the erfc blurred by a
    Gaussian of std ``resolution`` = ``c[0]``, axis units);
    parameters (c_left, c_right, centre, length)."""
    cl = P[o]
    cr = P[o + 1]
    L = P[o + 3]
    Le = math.sqrt(L * L + 2.0 * c[0] * c[0])
    u = (x - P[o + 2]) / Le
    ec = math.erfc(u)
    g = (cl - cr) * _INV_SQRTPI * math.exp(-u * u) / Le
    grad[o] = 0.5 * ec
    grad[o + 1] = 1.0 - 0.5 * ec
    grad[o + 2] = g
    grad[o + 3] = g * u * L / Le
    return cr + 0.5 * (cl - cr) * ec


@njit(cache=True, nogil=True, error_model="numpy")
def accumulation(x, P, o, grad, c):
    """``A exp(-z / decay_length)`` with ``z = side (x - wall) >= 0``, else 0,
    blurred by a Gaussian of std ``c[1]`` (axis units; 0: none);
    parameters (A, decay_length, wall), ``c[0]`` = side (+1 or -1)."""
    side = c[0]
    sig = c[1]
    z = side * (x - P[o + 2])
    lam = P[o + 1]
    if sig > 0.0:
        return _accumulation_blurred(z, P[o], lam, sig, side, grad, o)
    if z < 0.0:
        grad[o] = 0.0
        grad[o + 1] = 0.0
        grad[o + 2] = 0.0
        return 0.0
    e = math.exp(-z / lam)
    f = P[o] * e
    grad[o] = e
    grad[o + 1] = f * z / (lam * lam)
    grad[o + 2] = f * side / lam
    return f


@njit(cache=True, nogil=True, error_model="numpy")
def _accumulation_blurred(z, A, lam, sig, side, grad, o):
    """``A exp(-z/lam) H(z)`` convolved with a Gaussian of std ``sig``:
    ``A/2 exp(sig^2/(2 lam^2) - z/lam) erfc((sig/lam - z/sig)/sqrt(2))``,
    evaluated through ``erfcx`` where the exponential alone would overflow."""
    u = (sig / lam - z / sig) / math.sqrt(2.0)
    gauss = math.exp(-0.5 * z * z / (sig * sig))  # E exp(-u^2)
    if u >= 0.0:
        eq = gauss * _erfcx(u)
    else:
        eq = math.exp(0.5 * sig * sig / (lam * lam) - z / lam) * math.erfc(u)
    d = 2.0 * _INV_SQRTPI * gauss  # E * 2/sqrt(pi) exp(-u^2)
    grad[o] = 0.5 * eq
    grad[o + 1] = (
        0.5
        * A
        * (
            eq * (z / (lam * lam) - sig * sig / (lam * lam * lam))
            + d * sig / (lam * lam * math.sqrt(2.0))
        )
    )
    dfdz = 0.5 * A * (-eq / lam + d / (sig * math.sqrt(2.0)))
    grad[o + 2] = -side * dfdz
    return 0.5 * A * eq


@njit(cache=True, nogil=True, error_model="numpy")
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


@njit(cache=True, nogil=True, error_model="numpy")
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


@njit(cache=True, nogil=True, error_model="numpy")
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


@njit(cache=True, nogil=True, error_model="numpy")
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


@njit(cache=True, nogil=True, error_model="numpy")
def transient(x, P, o, grad, c):
    """Drift-diffusion transient at a blocking wall.

    Parameters (c_bulk, drift_distance, length, wall); ``c[0]`` = side,
    ``c[1]`` = layer thickness ``L`` (axis units) of a closed layer, or 0 for
    a semi-infinite layer. Semi-infinite: ``c_bulk [1/2 erfc(-(z + d)/s) +
    exp(-4 z d / s^2) (1/2 erfc(a) + 2 d / s ierfc(a))]`` with ``a = (z -
    d)/s``, ``z = side (x - wall)``; closed layer: :func:`closed_layer_point`
    (``c_bulk`` is then the mean, i.e. initial, concentration). 0 inside the
    electrode(s).
    """
    side = c[0]
    L = c[1]
    cb = P[o]
    d = P[o + 1]
    s = P[o + 2]
    z = side * (x - P[o + 3])
    if z < 0.0 or (L > 0.0 and z > L):
        grad[o] = 0.0
        grad[o + 1] = 0.0
        grad[o + 2] = 0.0
        grad[o + 3] = 0.0
        return 0.0
    if L > 0.0:
        g, g_z, g_d, g_s = closed_layer_point(z, d, s, L)
    else:
        g, g_z, g_d, g_s = _smoluchowski(z, d, s)
    grad[o] = g
    grad[o + 1] = cb * g_d
    grad[o + 2] = cb * g_s
    grad[o + 3] = -side * cb * g_z
    return cb * g


@njit(cache=True, nogil=True, error_model="numpy")
def transient_array(x, P, side, thickness=0.0):
    """:func:`transient` over an array ``x``: values and ``(n, 4)`` gradients.

    ``thickness``: closed-layer thickness (axis units), 0 for semi-infinite.

    Used by :class:`~hyperspy_perovskite.components.DriftDiffusionTransient`
    for its analytical gradients (one home for the derivatives).
    """
    n = x.shape[0]
    f = np.empty(n)
    g = np.empty((n, 4))
    grad = np.zeros(4)
    c = np.array([side, thickness, 0.0, 0.0])
    for i in range(n):
        f[i] = transient(x[i], P, 0, grad, c)
        g[i, :] = grad
    return f, g


@njit(cache=True, nogil=True, error_model="numpy")
def closed_layer_values(z, d, s, L):
    """:func:`closed_layer_point` element-wise over flat arrays (c_mean = 1).

    ``z``, ``d``, ``s``: float64 arrays of equal length; 0 outside ``[0, L]``.
    """
    out = np.zeros(z.shape[0])
    for i in range(z.shape[0]):
        if 0.0 <= z[i] <= L:
            out[i] = closed_layer_point(z[i], d[i], s[i], L)[0]
    return out
