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


# --- bridge: copies of the kernels beside the components in
# hyperspy_perovskite/components/emission_bands.py, for the engine that has
# no public register_kernel yet (removed when the registry lands) ---
_SQRT2 = math.sqrt(2.0)
_SQRTPI = math.sqrt(math.pi)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _erfcx(z):
    """Scaled complementary error function ``exp(z^2) erfc(z)`` for z >= 0."""
    if z < 25.0:
        return math.exp(z * z) * math.erfc(z)
    iz2 = 1.0 / (z * z)
    return (1.0 - 0.5 * iz2 * (1.0 - 1.5 * iz2 * (1.0 - 2.5 * iz2))) / (z * _SQRTPI)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _g_and_partials(d, sigma, tau):
    """``g``, ``dg/dd``, ``dg/dsigma``, ``dg/dtau`` (see the module doc).

    With the normal density ``N = exp(-d^2 / 2 sigma^2) / (sigma sqrt(2 pi))``:
    ``dg/dd = g / tau - N``, ``dg/dsigma = g sigma / tau^2 - N (sigma / tau -
    d / sigma)`` and ``dg/dtau = -g (d + sigma^2 / tau) / tau^2 + N sigma^2 /
    tau^2``.
    """
    u = d / sigma
    z = (u + sigma / tau) / _SQRT2
    gauss = math.exp(-0.5 * u * u)
    if z >= 0.0:
        g = 0.5 * gauss * _erfcx(z)
    else:
        g = 0.5 * math.exp(d / tau + 0.5 * (sigma / tau) ** 2) * math.erfc(z)
    n = gauss / (sigma * _SQRT2PI)
    it = 1.0 / tau
    dd = g * it - n
    ds = g * sigma * it * it - n * (sigma * it - u)
    dt = -g * (d + sigma * sigma * it) * it * it + n * sigma * sigma * it * it
    return g, dd, ds, dt


@njit(cache=True, nogil=True, error_model="numpy")
def asymmetric_emission_kernel(x, P, o, grad, c):
    """``A / tau g(s (centre - x); sigma, tau)``, parameters (A, centre,
    sigma, tau, s); ``s`` (fixed) is -1 for a tail towards lower x, +1
    towards higher x."""
    A = P[o]
    centre = P[o + 1]
    sigma = P[o + 2]
    tau = P[o + 3]
    s = P[o + 4]
    g, dd, ds, dt = _g_and_partials(s * (centre - x), sigma, tau)
    it = 1.0 / tau
    f = A * g * it
    grad[o] = g * it
    grad[o + 1] = s * A * dd * it
    grad[o + 2] = A * ds * it
    grad[o + 3] = A * (dt * it - g * it * it)
    grad[o + 4] = 0.0
    return f


@njit(cache=True, nogil=True, error_model="numpy")
def continuous_urbach_kernel(x, P, o, grad, c):
    """``A g(x - E0; sigma, Eu)``, parameters (A, E0, Eu, sigma)."""
    A = P[o]
    e0 = P[o + 1]
    eu = P[o + 2]
    sigma = P[o + 3]
    g, dd, ds, dt = _g_and_partials(x - e0, sigma, eu)
    grad[o] = g
    grad[o + 1] = -A * dd
    grad[o + 2] = A * dt
    grad[o + 3] = A * ds
    return A * g


@njit(cache=True, nogil=True, error_model="numpy")
def wavelength_offset_kernel(x, P, o, grad, c):
    """``offset * c[0] / x^2``, parameter (offset,); linear."""
    b = c[0] / (x * x)
    grad[o] = b
    return P[o] * b
