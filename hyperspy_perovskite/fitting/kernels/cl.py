"""Compiled point kernels of the cathodoluminescence components.

Contract: see :mod:`hyperspy_perovskite.fitting.kernels`. Expressions mirror
:class:`~hyperspy_perovskite.components.GaussianEmission` and
:class:`~hyperspy_perovskite.components.UrbachTail` exactly.
"""

import math

from numba import njit

_SQRT2PI = math.sqrt(2.0 * math.pi)


@njit(cache=True, nogil=True, error_model="numpy")
def gaussian_emission(x, P, o, grad, c):
    """``A / (sigma sqrt(2 pi)) exp(-(x - centre)^2 / (2 sigma^2))``;
    parameters (A, centre, sigma). ``sigma`` >= its bound (> 0): the
    exponent is <= 0, so nothing overflows."""
    A = P[o]
    centre = P[o + 1]
    sigma = P[o + 2]
    u = (x - centre) / sigma
    g = math.exp(-0.5 * u * u) / (sigma * _SQRT2PI)
    f = A * g
    grad[o] = g
    grad[o + 1] = f * u / sigma
    grad[o + 2] = f * (u * u - 1.0) / sigma
    return f


@njit(cache=True, nogil=True, error_model="numpy")
def urbach_tail(x, P, o, grad, c):
    """``A exp((x - E0) / Eu)`` for ``x <= E0``, else 0; parameters (A, E0, Eu).
    The exponent is <= 0 wherever it is evaluated, so nothing overflows."""
    A = P[o]
    e0 = P[o + 1]
    eu = P[o + 2]
    d = x - e0
    if d > 0.0:
        grad[o] = 0.0
        grad[o + 1] = 0.0
        grad[o + 2] = 0.0
        return 0.0
    e = math.exp(d / eu)
    f = A * e
    grad[o] = e
    grad[o + 1] = -f / eu
    grad[o + 2] = -f * d / (eu * eu)
    return f
