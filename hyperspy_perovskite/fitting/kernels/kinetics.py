"""Compiled point kernels of the in situ kinetics components (codes 20-29).

Contract: :mod:`hyperspy_perovskite.fitting.kernels`.
"""

import math

from numba import njit

# exp(-p) underflows to 0 in double precision beyond p ~ 745; stop earlier.
_P_MAX = 700.0


@njit(cache=True, nogil=True)
def crystallinity_jmak(x, P, o, grad, c):
    """``A exp(-(k (x - t0))^n)`` for ``x > t0``, ``A`` before the onset;
    parameters (A, k, n, t0).

    Safe for every parameter within the component's bounds (k >= 0, n >= 1):
    ``z^(n-1)`` is evaluated with ``pow`` (``0^0 = 1``), ``z^n ln z`` is 0 at
    ``z = 0``, and the decayed tail (``z^n > 700``) returns exactly 0.
    """
    A = P[o]
    k = P[o + 1]
    n = P[o + 2]
    u = x - P[o + 3]
    grad[o] = 1.0
    grad[o + 1] = 0.0
    grad[o + 2] = 0.0
    grad[o + 3] = 0.0
    if u <= 0.0:
        return A
    z = k * u
    if z <= 0.0:
        # No decay (k = 0). d/dk of z^n at z = 0 is n z^(n-1) u: u for n = 1.
        if n == 1.0:
            grad[o + 1] = -A * u
        return A
    lnz = math.log(z)
    p = math.exp(n * lnz)
    if p > _P_MAX:
        grad[o] = 0.0
        return 0.0
    zn1 = math.exp((n - 1.0) * lnz)
    e = math.exp(-p)
    f = A * e
    grad[o] = e
    grad[o + 1] = -f * n * zn1 * u
    grad[o + 2] = -f * p * lnz
    grad[o + 3] = f * n * zn1 * k
    return f
