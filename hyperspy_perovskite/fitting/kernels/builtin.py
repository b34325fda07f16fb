"""Compiled point kernels for HyperSpy's own components.

Every kernel follows one contract (see :mod:`hyperspy_perovskite.fitting.registry`)::

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

from hyperspy_perovskite._numba_cache import njit_internal
from hyperspy_perovskite._numba_ops import bits_to_float, float_bits, max2, min2, to_int

_INV_SQRT2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT2 = math.sqrt(2.0)
_FOUR_LN2 = 4.0 * math.log(2.0)
_TWO_OVER_SQRTPI = 2.0 / math.sqrt(math.pi)


@njit(nogil=True, error_model="numpy", inline="always")
def offset(x, P, o, grad, c):
    """``offset``; parameters (offset,)."""
    grad[o] = 1.0
    return P[o]


@njit(nogil=True, error_model="numpy", inline="always")
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


@njit(nogil=True, error_model="numpy", inline="always")
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


@njit(nogil=True, error_model="numpy", inline="always")
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


@njit(nogil=True, error_model="numpy", inline="always")
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


@njit(nogil=True, error_model="numpy", inline="always")
def exponential(x, P, o, grad, c):
    """``A exp(-x / tau)``; parameters (A, tau)."""
    A = P[o]
    tau = P[o + 1]
    e = math.exp(-x / tau)
    f = A * e
    grad[o] = e
    grad[o + 1] = f * x / (tau * tau)
    return f


@njit(nogil=True, error_model="numpy", inline="always")
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


_REANCHOR = 32  # steps of 8 channels between exact exp() anchors in gaussian_block


@njit(nogil=True, error_model="numpy", inline="always", _nrt=False)
def _is_uniform(x):
    """True when the channels of ``x`` are equally spaced (relative 1e-9).

    Branch-free count of the irregular steps, so that the loop vectorises:
    it runs on every evaluation of a Gaussian block.
    """
    n = x.shape[0]
    if n < 3:
        return False
    dx = x[1] - x[0]
    if dx == 0.0:
        return False
    tol = 1e-9 * abs(dx)
    # an axis of photon energies from equally spaced wavelengths shows its
    # irregular steps at either end: no pass over every channel then
    if abs((x[n - 1] - x[n - 2]) - dx) > tol or abs((x[2] - x[1]) - dx) > tol:
        return False
    bad = 0
    for j in range(2, n):
        bad += abs((x[j] - x[j - 1]) - dx) > tol
    return bad == 0


@njit(nogil=True, error_model="numpy", inline="always", _nrt=False)
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


_LOG2E = 1.4426950408889634
# ln 2 in two parts (fdlibm's): n * _LN2_HI is exact for |n| < 2^11
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_ROUND = 6755399441055744.0  # 1.5 * 2^52: x + _ROUND rounds x to an integer
_ROUND_BITS = 0x4338000000000000  # the bits of _ROUND
_EXP_LO = -708.3964185322641  # log of the smallest normal number
_EXP_HI = 709.782712893384  # log of the largest finite number


@njit_internal(nogil=True, error_model="numpy", _nrt=False)
def _exp_inplace(a, t, n):
    """``a[j] = exp(a[j])`` for the first ``n`` entries, without calling ``exp``.

    Cody and Waite's reduction (W. J. Cody and W. Waite, Software Manual
    for the Elementary Functions, Prentice-Hall (1980)): ``x = n ln 2 + r``
    with ``n`` the nearest integer (rounded by adding 1.5 x 2^52) and
    ``|r| <= ln 2 / 2``, ``exp(r)`` from its Taylor series to degree 13
    (remainder below 2e-16), times ``2^n`` built from its bits in the
    scratch ``t`` (its bits as integers). Within 1 ulp of ``np.exp`` for every
    result above the smallest normal number (tested); smaller results are
    0; ``inf`` above 709.78, NaN stays NaN. Three loops without calls or
    branches: they vectorise (numba has no vector ``exp`` without Intel's
    SVML), about 3x faster than a series of steps on smooth exponents.
    """
    for j in range(n):
        v = a[j]
        c = min2(max2(v, _EXP_LO), _EXP_HI)
        k = c * _LOG2E + _ROUND
        m = k - _ROUND
        r = (c - m * _LN2_HI) - m * _LN2_LO
        p = 1.0 / 6227020800.0
        p = p * r + 1.0 / 479001600.0
        p = p * r + 1.0 / 39916800.0
        p = p * r + 1.0 / 3628800.0
        p = p * r + 1.0 / 362880.0
        p = p * r + 1.0 / 40320.0
        p = p * r + 1.0 / 5040.0
        p = p * r + 1.0 / 720.0
        p = p * r + 1.0 / 120.0
        p = p * r + 1.0 / 24.0
        p = p * r + 1.0 / 6.0
        p = p * r + 0.5
        p = p * r + 1.0
        p = p * r + 1.0
        # 2^n for n <= 0 and 2 x 2^(n - 1) above: every scale is normal
        up = 1.0 if c > 0.0 else 0.0
        t[j] = k - up
        p = p * (1.0 + up) if v <= _EXP_HI else math.inf
        a[j] = p if v >= _EXP_LO else (0.0 if v < _EXP_LO else v)
    for j in range(n):  # the bits of t[j], not numba's view (0.1-0.2 s to compile)
        t[j] = bits_to_float((float_bits(t[j]) - _ROUND_BITS + 1023) << 52)
    for j in range(n):
        a[j] *= t[j]


@njit_internal(nogil=True, error_model="numpy", _nrt=False)
def _exp_half_square_outwards(v0, h, j_start, direction, count, out):
    """Write ``exp(-v^2 / 2)`` at ``count`` channels from ``j_start`` outwards.

    Channel ``j_start + direction * m`` holds ``v = v0 + m h``, ``h > 0`` the
    channel step in units of sigma and ``v = +-u`` the distance from the
    centre in sigma, signed so that it grows along the walk; the walk starts
    at the channel nearest the centre (``v0 >= -h / 2``) and moves away from
    it. Eight interleaved recurrences (lanes, held in registers) advance
    eight channels per step with two multiplications each,

        g[m + 8] = g[m] Q[m],   Q[m + 8] = Q[m] exp(-64 h^2),

    ``Q[m] = exp(-8 v[m] h - 32 h^2)`` (exact algebra), so the lanes run in
    parallel. Every ratio is below one: values only decrease and underflow
    harmlessly. Rounding grows with the square of the number of steps, so
    the lanes are re-anchored with ``exp`` every ``_REANCHOR`` steps (relative
    error below 1e-11).
    """
    L = 8
    c1 = math.exp(-h * h)
    rQ = math.exp(-L * h * h)
    cL = math.exp(-L * L * h * h)
    n_steps = count // L
    s = 0
    while s < n_steps:
        # (re-)anchor the lanes at m = s L .. s L + 7 with exp()
        v = v0 + s * L * h
        g = math.exp(-0.5 * v * v)
        q = math.exp(-v * h - 0.5 * h * h)
        Q = math.exp(-v * L * h - 0.5 * L * L * h * h)
        g0 = g
        Q0 = Q
        g *= q
        q *= c1
        Q *= rQ
        g1 = g
        Q1 = Q
        g *= q
        q *= c1
        Q *= rQ
        g2 = g
        Q2 = Q
        g *= q
        q *= c1
        Q *= rQ
        g3 = g
        Q3 = Q
        g *= q
        q *= c1
        Q *= rQ
        g4 = g
        Q4 = Q
        g *= q
        q *= c1
        Q *= rQ
        g5 = g
        Q5 = Q
        g *= q
        q *= c1
        Q *= rQ
        g6 = g
        Q6 = Q
        g *= q
        Q *= rQ
        g7 = g
        Q7 = Q
        stop = min2(s + _REANCHOR, n_steps)
        for step in range(s, stop):
            # a slice with constant, non-negative indices: no wraparound checks
            if direction > 0:
                b = j_start + step * L
                seg = out[b : b + L]
                seg[0] = g0
                seg[1] = g1
                seg[2] = g2
                seg[3] = g3
                seg[4] = g4
                seg[5] = g5
                seg[6] = g6
                seg[7] = g7
            else:
                b = j_start - step * L
                seg = out[b - L + 1 : b + 1]
                seg[7] = g0
                seg[6] = g1
                seg[5] = g2
                seg[4] = g3
                seg[3] = g4
                seg[2] = g5
                seg[1] = g6
                seg[0] = g7
            g0 *= Q0
            g1 *= Q1
            g2 *= Q2
            g3 *= Q3
            g4 *= Q4
            g5 *= Q5
            g6 *= Q6
            g7 *= Q7
            Q0 *= cL
            Q1 *= cL
            Q2 *= cL
            Q3 *= cL
            Q4 *= cL
            Q5 *= cL
            Q6 *= cL
            Q7 *= cL
        s = stop
    # the last count % 8 channels, one exp each
    for m in range(n_steps * L, count):
        v = v0 + m * h
        out[j_start + direction * m] = math.exp(-0.5 * v * v)


@njit(nogil=True, error_model="numpy", _nrt=False)
def gaussian_block(x, P, o, c, f, G):
    """Gaussian over all ``x``: adds to ``f``, writes its rows of ``G``.

    Parameters (A, sigma, centre) at ``P[o:o + 3]`` (block-kernel contract
    of :mod:`hyperspy_perovskite.fitting.registry`).

    On equally spaced channels ``exp(-u^2 / 2)`` is propagated outwards from
    the channel nearest the centre by interleaved multiplicative recurrences
    (:func:`_exp_half_square_outwards`, written into the area row of ``G``),
    then one vectorised loop forms the value and the three derivatives.
    Other axes take it from :func:`_exp_inplace` (no call of ``exp``).
    """
    i_area = o
    i_sigma = o + 1
    i_centre = o + 2
    A = P[i_area]
    inv_sigma = 1.0 / P[i_sigma]
    centre = P[i_centre]
    k = inv_sigma * _INV_SQRT2PI
    n = x.shape[0]
    if not (
        n >= 16
        and math.isfinite(inv_sigma)
        and inv_sigma > 0.0
        and math.isfinite(centre)
        and _is_uniform(x)
    ):
        row = G[i_area]
        for j in range(n):
            u = (x[j] - centre) * inv_sigma
            row[j] = -0.5 * u * u
        _exp_inplace(row, G[i_sigma], n)  # sigma row: scratch
        for j in range(n):
            _gaussian_channel(
                x, j, row[j], A, inv_sigma, k, centre, i_area, i_sigma, i_centre, f, G
            )
        return
    dx = x[1] - x[0]
    h = abs(dx) * inv_sigma
    pos = (centre - x[0]) / dx
    j0 = 0 if pos < 0.0 else (n - 1 if pos > n - 1 else to_int(pos + 0.5))
    u0 = (x[j0] - centre) * inv_sigma
    # u grows with the channel index when dx > 0: walk up from j0, then down
    up = 1 if dx > 0.0 else -1
    row = G[i_area]
    # one call site (one compiled specialisation) for both walks
    for walk in range(2):
        if walk == 0:
            v_start, j_start, direction, count = u0 * up, j0, 1, n - j0
        else:
            v_start = -(u0 - dx * inv_sigma) * up
            j_start, direction, count = j0 - 1, -1, j0
        if count > 0:
            _exp_half_square_outwards(v_start, h, j_start, direction, count, row)
    for j in range(n):
        _gaussian_channel(
            x, j, row[j], A, inv_sigma, k, centre, i_area, i_sigma, i_centre, f, G
        )


@njit(nogil=True, error_model="numpy", _nrt=False)
def offset_block(x, P, o, c, f, G):
    """Offset over all ``x``: adds to ``f``, writes its row of ``G``."""
    value = P[o]
    for j in range(x.shape[0]):
        f[j] += value
        G[o, j] = 1.0


def _polynomial_names(component):
    order = component.get_polynomial_order()
    names = {p.name for p in component.parameters}
    width = len(str(order))
    out = tuple(f"a{str(i).zfill(width)}" for i in range(order + 1))
    if set(out) != names:  # pragma: no cover - guards HyperSpy renaming
        from hyperspy_perovskite.fitting.registry import UnsupportedComponentError

        raise UnsupportedComponentError(
            f"Unexpected Polynomial parameter names {sorted(names)}."
        )
    return out


def _polynomial_constants(component):
    return (float(component.get_polynomial_order()),)


def register_builtins():
    """Register the kernels of HyperSpy's own components (not this suite's)."""
    from hyperspy.api import model

    from hyperspy_perovskite.fitting.registry import register_kernel

    c1d = model.components1D
    register_kernel(c1d.Offset, offset, ("offset",), block=offset_block, linear=True)
    register_kernel(
        c1d.Gaussian,
        gaussian,
        ("A", "sigma", "centre"),
        block=gaussian_block,
        position="centre",
        amplitude="A",
        proportional_to="A",
    )
    register_kernel(
        c1d.GaussianHF,
        gaussian_hf,
        ("height", "fwhm", "centre"),
        position="centre",
        amplitude="height",
        proportional_to="height",
    )
    register_kernel(
        c1d.Lorentzian,
        lorentzian,
        ("A", "gamma", "centre"),
        position="centre",
        amplitude="A",
        proportional_to="A",
    )
    register_kernel(
        c1d.Polynomial,
        polynomial,
        _polynomial_names,
        constants=_polynomial_constants,
        linear=True,
    )
    register_kernel(c1d.Exponential, exponential, ("A", "tau"), proportional_to="A")
    register_kernel(c1d.Erf, erf_step, ("A", "sigma", "origin"), proportional_to="A")
