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
    """``c_right + (c_left - c_right) / 2 erfc((x - centre) / length)``;
    parameters (c_left, c_right, centre, length)."""
    cl = P[o]
    cr = P[o + 1]
    L = P[o + 3]
    u = (x - P[o + 2]) / L
    ec = math.erfc(u)
    g = (cl - cr) * _INV_SQRTPI * math.exp(-u * u) / L
    grad[o] = 0.5 * ec
    grad[o + 1] = 1.0 - 0.5 * ec
    grad[o + 2] = g
    grad[o + 3] = g * u
    return cr + 0.5 * (cl - cr) * ec


@njit(cache=True, nogil=True, error_model="numpy")
def accumulation(x, P, o, grad, c):
    """``A exp(-z / decay_length)`` with ``z = side (x - wall) >= 0``, else 0;
    parameters (A, decay_length, wall), ``c[0]`` = side (+1 or -1)."""
    side = c[0]
    z = side * (x - P[o + 2])
    if z < 0.0:
        grad[o] = 0.0
        grad[o + 1] = 0.0
        grad[o + 2] = 0.0
        return 0.0
    lam = P[o + 1]
    e = math.exp(-z / lam)
    f = P[o] * e
    grad[o] = e
    grad[o + 1] = f * z / (lam * lam)
    grad[o + 2] = f * side / lam
    return f


@njit(cache=True, nogil=True, error_model="numpy")
def transient(x, P, o, grad, c):
    """Semi-infinite drift-diffusion transient at a blocking wall.

    ``c_bulk [1/2 erfc(-(z + d)/s) + exp(-4 z d / s^2) (1/2 erfc(a)
    + 2 d / s ierfc(a))]`` with ``a = (z - d)/s``, ``z = side (x - wall)``
    (0 for ``z < 0``); parameters (c_bulk, drift_distance, length, wall),
    ``c[0]`` = side.
    """
    side = c[0]
    cb = P[o]
    d = P[o + 1]
    s = P[o + 2]
    z = side * (x - P[o + 3])
    if z < 0.0:
        grad[o] = 0.0
        grad[o + 1] = 0.0
        grad[o + 2] = 0.0
        grad[o + 3] = 0.0
        return 0.0
    b = (z + d) / s
    a = (z - d) / s
    eb = math.exp(-b * b) * _INV_SQRTPI
    ea = math.exp(-a * a) * _INV_SQRTPI
    erfca = math.erfc(a)
    ierfca = ea - a * erfca
    r = 2.0 * d / s
    P_ = math.exp(-4.0 * z * d / (s * s))
    E = 0.5 * erfca + r * ierfca
    g = 0.5 * math.erfc(-b) + P_ * E
    # dE/da at fixed r, and the common factor of the a-derivatives
    dEda = -ea - r * erfca
    # d g / d z
    dgdz = eb / s + P_ * (-4.0 * d / (s * s) * E + dEda / s)
    # d g / d d
    dgdd = eb / s + P_ * (-4.0 * z / (s * s) * E - dEda / s + 2.0 / s * ierfca)
    # d g / d s
    dgds = -b * eb / s + P_ * (
        8.0 * z * d / (s * s * s) * E - dEda * a / s - 2.0 * d / (s * s) * ierfca
    )
    grad[o] = g
    grad[o + 1] = cb * dgdd
    grad[o + 2] = cb * dgds
    grad[o + 3] = -side * cb * dgdz
    return cb * g


@njit(cache=True, nogil=True, error_model="numpy")
def transient_array(x, P, side):
    """:func:`transient` over an array ``x``: values and ``(n, 4)`` gradients.

    Used by :class:`~hyperspy_perovskite.components.DriftDiffusionTransient`
    for its analytical gradients (one home for the derivatives).
    """
    n = x.shape[0]
    f = np.empty(n)
    g = np.empty((n, 4))
    grad = np.zeros(4)
    c = np.array([side, 0.0, 0.0, 0.0])
    for i in range(n):
        f[i] = transient(x[i], P, 0, grad, c)
        g[i, :] = grad
    return f, g
