"""Compiled point kernels for HyperSpy's own components.

Every kernel follows one contract (see :mod:`hyperspy_perovskite.fitting.kernels`)::

    value = kernel(x, P, o, grad, c)

``x`` is one axis value, ``P`` the full parameter vector of the model at one
pixel, ``o`` the index in ``P`` of the component's first parameter, ``grad`` a
vector as long as ``P`` into which the kernel writes the partial derivatives of
its value with respect to its own parameters (``grad[o + k]``), and ``c`` a
small float vector of per-component constants. The expressions mirror the
sympy strings of ``hyperspy._components`` exactly; the test suite checks every
kernel against ``component.function`` and against finite differences.
"""

import math

from numba import njit

_INV_SQRT2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT2 = math.sqrt(2.0)
_FOUR_LN2 = 4.0 * math.log(2.0)
_TWO_OVER_SQRTPI = 2.0 / math.sqrt(math.pi)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def offset(x, P, o, grad, c):
    """``offset``; parameters (offset,)."""
    grad[o] = 1.0
    return P[o]


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def gaussian(x, P, o, grad, c):
    """``A / (sigma sqrt(2 pi)) exp(-(x - centre)^2 / (2 sigma^2))``;
    parameters (A, sigma, centre)."""
    A = P[o]
    inv_sigma = 1.0 / P[o + 1]  # one division per point: the engine's hot path
    u = (x - P[o + 2]) * inv_sigma
    g = math.exp(-0.5 * u * u) * inv_sigma * _INV_SQRT2PI
    f = A * g
    grad[o] = g
    grad[o + 1] = f * (u * u - 1.0) * inv_sigma
    grad[o + 2] = f * u * inv_sigma
    return f


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def gaussian_hf(x, P, o, grad, c):
    """``height exp(-(x - centre)^2 4 ln2 / fwhm^2)``;
    parameters (height, fwhm, centre)."""
    h = P[o]
    w = P[o + 1]
    d = x - P[o + 2]
    e = math.exp(-d * d * _FOUR_LN2 / (w * w))
    f = h * e
    grad[o] = e
    grad[o + 1] = f * 2.0 * _FOUR_LN2 * d * d / (w * w * w)
    grad[o + 2] = f * 2.0 * _FOUR_LN2 * d / (w * w)
    return f


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def lorentzian(x, P, o, grad, c):
    """``A / pi * gamma / ((x - centre)^2 + gamma^2)``;
    parameters (A, gamma, centre)."""
    A = P[o]
    gam = P[o + 1]
    d = x - P[o + 2]
    den = d * d + gam * gam
    base = gam / (math.pi * den)
    grad[o] = base
    grad[o + 1] = A / math.pi * (d * d - gam * gam) / (den * den)
    grad[o + 2] = A / math.pi * gam * 2.0 * d / (den * den)
    return A * base


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def polynomial(x, P, o, grad, c):
    """``sum_i a_i x^i``; parameters (a0, a1, ..., an), ``c[0]`` = order n."""
    n = int(c[0])
    f = 0.0
    xp = 1.0
    for i in range(n + 1):
        grad[o + i] = xp
        f += P[o + i] * xp
        xp *= x
    return f


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def exponential(x, P, o, grad, c):
    """``A exp(-x / tau)``; parameters (A, tau)."""
    A = P[o]
    tau = P[o + 1]
    e = math.exp(-x / tau)
    f = A * e
    grad[o] = e
    grad[o + 1] = f * x / (tau * tau)
    return f


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def erf_step(x, P, o, grad, c):
    """``A erf((x - origin) / (sqrt(2) sigma)) / 2``; parameters (A, sigma, origin)."""
    A = P[o]
    sigma = P[o + 1]
    z = (x - P[o + 2]) / (_SQRT2 * sigma)
    er = math.erf(z)
    dz = 0.5 * A * _TWO_OVER_SQRTPI * math.exp(-z * z)
    grad[o] = 0.5 * er
    grad[o + 1] = -dz * z / sigma
    grad[o + 2] = -dz / (_SQRT2 * sigma)
    return 0.5 * A * er


# --- Block kernels: the same functions over a whole spectrum -----------------
# Optional fast paths for the most used components; :func:`model_block` uses
# them instead of looping over the point kernel. They must equal the point
# kernels (tested in tests/fitting/test_kernels_builtin.py).


_REANCHOR = 32  # channels between exact exp() evaluations in gaussian_block


@njit(cache=True, nogil=True, error_model="numpy")
def _is_uniform(x):
    """True when the channels of ``x`` are equally spaced (relative 1e-9)."""
    n = x.shape[0]
    if n < 3:
        return False
    dx = x[1] - x[0]
    if dx == 0.0:
        return False
    tol = 1e-9 * abs(dx)
    for j in range(2, n):
        if abs((x[j] - x[j - 1]) - dx) > tol:
            return False
    return True


@njit(cache=True, nogil=True, error_model="numpy")
def _gaussian_channel(
    x, j, g, A, inv_sigma, k, centre, i_area, i_sigma, i_centre, f, G
):
    u = (x[j] - centre) * inv_sigma
    gn = g * k
    v = A * gn
    f[j] += v
    G[i_area, j] = gn
    G[i_sigma, j] = v * (u * u - 1.0) * inv_sigma
    G[i_centre, j] = v * u * inv_sigma


@njit(cache=True, nogil=True, error_model="numpy")
def gaussian_block(x, P, i_area, i_sigma, i_centre, f, G):
    """Gaussian over all ``x``: adds to ``f``, writes its rows of ``G``.

    The parameter indices are passed explicitly, so that Gaussians whose
    parameters come in another order (GaussianEmission) share this loop.

    On equally spaced channels ``exp(-u^2 / 2)`` is propagated from the
    channel nearest the centre outwards by two multiplications per channel,
    ``g[j+1] = g[j] q[j]`` with ``q[j+1] = q[j] exp(-h^2)``, ``h`` the
    channel step in units of sigma (exact algebra). Moving away
    from the centre every ratio is below one, so values only decrease and
    underflow harmlessly. Rounding grows with the square of the number of
    steps, so ``g`` and ``q`` are recomputed with ``exp`` every
    ``_REANCHOR`` channels (relative error below 1e-12). Other axes evaluate
    ``exp`` at every channel.
    """
    A = P[i_area]
    inv_sigma = 1.0 / P[i_sigma]
    centre = P[i_centre]
    k = inv_sigma * _INV_SQRT2PI
    n = x.shape[0]
    if not (_is_uniform(x) and math.isfinite(inv_sigma) and math.isfinite(centre)):
        for j in range(n):
            u = (x[j] - centre) * inv_sigma
            g = math.exp(-0.5 * u * u)
            _gaussian_channel(
                x, j, g, A, inv_sigma, k, centre, i_area, i_sigma, i_centre, f, G
            )
        return
    dx = x[1] - x[0]
    h = dx * inv_sigma
    c = math.exp(-h * h)
    pos = (centre - x[0]) / dx
    j0 = 0 if pos < 0.0 else (n - 1 if pos > n - 1 else int(pos + 0.5))
    u0 = (x[j0] - centre) * inv_sigma
    g0 = math.exp(-0.5 * u0 * u0)
    # outwards to higher channels: ratio exp(-u h - h^2 / 2)
    g = g0
    q = math.exp(-u0 * h - 0.5 * h * h)
    for j in range(j0, n):
        if (j - j0) % _REANCHOR == _REANCHOR - 1:
            u = (x[j] - centre) * inv_sigma
            g = math.exp(-0.5 * u * u)
            q = math.exp(-u * h - 0.5 * h * h)
        _gaussian_channel(
            x, j, g, A, inv_sigma, k, centre, i_area, i_sigma, i_centre, f, G
        )
        g *= q
        q *= c
    # outwards to lower channels: ratio exp(u h - h^2 / 2)
    q = math.exp(u0 * h - 0.5 * h * h)
    g = g0 * q
    q *= c
    for j in range(j0 - 1, -1, -1):
        if (j0 - j) % _REANCHOR == _REANCHOR - 1:
            u = (x[j] - centre) * inv_sigma
            g = math.exp(-0.5 * u * u)
            q = math.exp(u * h - 0.5 * h * h)
        _gaussian_channel(
            x, j, g, A, inv_sigma, k, centre, i_area, i_sigma, i_centre, f, G
        )
        g *= q
        q *= c


@njit(cache=True, nogil=True, error_model="numpy")
def offset_block(x, P, o, f, G):
    """Offset over all ``x``: adds to ``f``, writes its row of ``G``."""
    value = P[o]
    for j in range(x.shape[0]):
        f[j] += value
        G[o, j] = 1.0
