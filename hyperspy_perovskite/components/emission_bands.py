"""Emission-band components beyond the Gaussian, each with its compiled kernel.

- :class:`AsymmetricEmission`: an exponentially modified Gaussian band (a
  Gaussian convolved with a one-sided exponential), for bands with a tail on
  one side.
- :class:`ContinuousUrbachTail`: an exponential (Urbach) tail below an edge
  ``E0`` that is free, broadened by a Gaussian so that it is continuous and
  smooth at the edge (no step).
- :class:`WavelengthOffset`: a level that is constant in wavelength (a dark
  level, counts per nm) as it appears on a photon-energy axis after the
  Jacobian, ``offset * hc / (n_air E^2)``.

Sharp lines (quantum emitters) use HyperSpy's own ``Lorentzian`` (area ``A``,
half width ``gamma``, ``centre``), which the engine already fits.

All share one numerically stable helper for the exponentially modified
Gaussian,

.. math::

    g(d; \\sigma, \\tau) = \\tfrac12 \\exp\\left(\\frac{d}{\\tau}
        + \\frac{\\sigma^2}{2\\tau^2}\\right)
        \\operatorname{erfc}\\left(\\frac{1}{\\sqrt2}\\left(\\frac{d}{\\sigma}
        + \\frac{\\sigma}{\\tau}\\right)\\right),

the convolution of :math:`e^{d/\\tau}` for :math:`d \\le 0` (zero above) with
a normalised Gaussian of standard deviation :math:`\\sigma`; its integral over
:math:`d` is :math:`\\tau` (E. Grushka, Anal. Chem. 44, 1733 (1972)).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from scipy.special import erfc, erfcx

from hyperspy_perovskite._numba_ops import max2, min2, to_int
from hyperspy_perovskite.components._expression_cache import CachedExpression
from hyperspy_perovskite.fitting.kernels.builtin import (
    _exp_half_square_outwards,
    _exp_inplace,
    _is_uniform,
)

__all__ = ["AsymmetricEmission", "ContinuousUrbachTail", "WavelengthOffset"]

_SQRT2 = math.sqrt(2.0)
_SQRT2PI = math.sqrt(2.0 * math.pi)
_SQRTPI = math.sqrt(math.pi)
#: hc / e in eV nm (CODATA 2018, exact), times 1e-3 for intensities per meV as
#: LumiSpy's ``to_eV`` writes them.
_HC_EV_NM = 1239.841984
#: Refractive index of air at 700 nm (E. R. Peck and K. Reeder, J. Opt. Soc.
#: Am. 62, 958 (1972)); it varies by < 1e-5 over 400-1000 nm.
_N_AIR_700 = 1.000275654


# ----------------------------------------------------------------- helpers
def _g_numpy(d, sigma, tau):
    """Stable exponentially modified Gaussian ``g(d; sigma, tau)`` (numpy).

    Both branches for every element. Not kept (session 16, bench_cl_fit's
    tail, 1500 pixels x 256 channels): each branch on its own elements
    (gather, scatter) 19.2 -> 21.1 ms: ``erfcx(0)`` and ``erfc(0)`` (the
    clipped arguments) are fast paths, 1.1 and 2.6 against 8.8 and 8.0 ms
    per 384k elements; ufuncs' ``where=`` crash SciPy 1.17's ``erfc`` (2-D).
    """
    d, sigma, tau = np.broadcast_arrays(
        np.asarray(d, float), np.asarray(sigma, float), np.asarray(tau, float)
    )
    z = (d / sigma + sigma / tau) / _SQRT2
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        pos = 0.5 * np.exp(-0.5 * (d / sigma) ** 2) * erfcx(np.maximum(z, 0.0))
        neg = (
            0.5
            * np.exp(np.minimum(d / tau + 0.5 * (sigma / tau) ** 2, 700.0))
            * erfc(np.minimum(z, 0.0))
        )
    return np.where(z >= 0, pos, neg)


@njit(nogil=True, error_model="numpy")
def _erfcx(z):
    """Scaled complementary error function ``exp(z^2) erfc(z)`` for z >= 0."""
    if z < 25.0:
        return math.exp(z * z) * math.erfc(z)
    iz2 = 1.0 / (z * z)
    return (1.0 - 0.5 * iz2 * (1.0 - 1.5 * iz2 * (1.0 - 2.5 * iz2))) / (z * _SQRTPI)


@njit(nogil=True, error_model="numpy")
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


# ------------------------------------------------------- asymmetric band
@njit(nogil=True, error_model="numpy")
def asymmetric_emission_kernel(x, P, o, grad, c):
    """``A / tau g(s (centre - x); sigma, tau)``, parameters (A, centre,
    sigma, tau); ``s = c[0]`` (the fixed ``s`` parameter, a constant of the
    kernel) is -1 for a tail towards lower x, +1 towards higher x."""
    A = P[o]
    centre = P[o + 1]
    sigma = P[o + 2]
    tau = P[o + 3]
    s = c[0]
    g, dd, ds, dt = _g_and_partials(s * (centre - x), sigma, tau)
    it = 1.0 / tau
    f = A * g * it
    grad[o] = g * it
    grad[o + 1] = s * A * dd * it
    grad[o + 2] = A * ds * it
    grad[o + 3] = A * (dt * it - g * it * it)
    return f


class AsymmetricEmission(CachedExpression):
    r"""Emission band with an exponential tail on one side (exponentially
    modified Gaussian).

    .. math::

        f(x) = \frac{A}{\tau}\, g\big(s\,(x_0 - x); \sigma, \tau\big)

    with :math:`g` of the module doc (E. Grushka, Anal. Chem. 44, 1733
    (1972)): a Gaussian band of standard deviation :math:`\sigma` convolved
    with a one-sided exponential of decay length :math:`\tau` on the side
    :math:`s` (``tail_side=-1``: towards lower x, the low-energy side on a
    photon-energy axis, e.g. an exponential density of tail states; ``+1``:
    towards higher x, the long-wavelength side on a wavelength axis).
    ``A`` is the band area; :math:`x_0` is the centre of the Gaussian
    part, so the maximum lies on the tail side of it; the mean is
    :math:`x_0 + s\tau`. As :math:`\tau \to 0` it becomes HyperSpy's
    ``Gaussian``.

    Parameters
    ----------
    A : float
        Area (counts x axis unit).
    centre : float
        Centre of the Gaussian part.
    sigma : float
        Standard deviation of the Gaussian part.
    tau : float
        Decay length of the exponential tail (axis unit, > 0).
    tail_side : {-1, 1}

    Examples
    --------
    >>> import numpy as np
    >>> from hyperspy_perovskite.components import AsymmetricEmission
    >>> b = AsymmetricEmission(A=10.0, centre=1.75, sigma=0.02, tau=0.015)
    >>> x = np.linspace(1.4, 2.0, 6001)
    >>> round(float(np.trapezoid(b.function(x), x)), 4)
    10.0
    >>> round(float(np.trapezoid(x * b.function(x), x) / 10.0), 4)  # mean
    1.735
    """

    def __init__(
        self, A=1.0, centre=0.0, sigma=1.0, tau=1.0, tail_side=-1, module=None, **kw
    ):
        super().__init__(
            expression="A / tau / 2 * exp(s * (centre - x) / tau + sigma ** 2 / "
            "(2 * tau ** 2)) * erfc((s * (x - centre) / sigma + sigma / tau) "
            "/ sqrt(2))",
            name="AsymmetricEmission",
            A=A,
            centre=centre,
            sigma=sigma,
            tau=tau,
            s=float(tail_side),
            position="centre",
            module=module,
            autodoc=False,
            **kw,
        )
        self.s.free = False
        self.A.bmin, self.A.bmax = 0.0, None
        self.sigma.bmin, self.sigma.bmax = 1e-6, None
        self.tau.bmin, self.tau.bmax = 1e-6, None
        self.isbackground = False
        self.convolved = True
        self._f = self._stable

    @property
    def tail_side(self):
        """-1: tail towards lower x; +1: towards higher x."""
        return int(np.sign(self.s.value)) or -1

    @staticmethod
    def _stable(x, A, centre, s, sigma, tau):
        # parameters in the alphabetical order Expression passes them
        return A / tau * _g_numpy(s * (centre - x), sigma, tau)


# ---------------------------------------------------- continuous Urbach tail
@njit(nogil=True, error_model="numpy")
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


def _erfcx_chebyshev_coefficients(degree=20, k=3.75):
    """Chebyshev coefficients of ``(1 + 2x) erfcx(x)`` in ``y = (x - k)/(x + k)``.

    The form of Shepherd and Laframboise (Math. Comp. 36, 249 (1981)): the
    map sends ``x`` in ``[0, inf)`` to ``y`` in ``[-1, 1)`` and the function
    is smooth there (``2 / sqrt(pi)`` at ``y = 1``). The coefficients are
    interpolated at Chebyshev points from scipy's ``erfcx`` (the Faddeeva
    package of S. G. Johnson), computed once on import; degree 20 keeps the
    relative error below 1e-14 for every ``x >= 0`` (tested).
    """
    from numpy.polynomial import chebyshev

    def scaled(y):
        y = np.minimum(y, 1.0 - 1e-15)
        x = k * (1.0 + y) / (1.0 - y)
        return np.where(y < 1.0 - 2e-15, (1.0 + 2.0 * x) * erfcx(x), 2.0 / _SQRTPI)

    return np.ascontiguousarray(chebyshev.chebinterpolate(scaled, degree))


#: Chebyshev coefficients of :func:`_erfcx_fast`'s function (degree 20).
_ERFCX_CHEB = _erfcx_chebyshev_coefficients()
_ERFCX_K = 3.75
#: The same polynomial in the power basis of ``y`` (frozen into the compiled
#: code): on ``[-1, 1]`` its coefficients stay below 1.3, so summing it in
#: this basis loses nothing (within 4e-15 of scipy's ``erfcx``, tested).
_ERFCX_POWER = np.ascontiguousarray(np.polynomial.chebyshev.cheb2poly(_ERFCX_CHEB))
assert _ERFCX_POWER.shape == (21,)  # _erfcx_fast's sum is written for degree 20


@njit(nogil=True, error_model="numpy", inline="always", _nrt=False)
def _erfcx_fast(a):
    """``exp(a^2) erfc(a)`` for ``a >= 0``: no exp or erfc, only arithmetic.

    The degree-20 polynomial of :data:`_ERFCX_POWER` at ``y = (a - k)/(a +
    k)``, divided by ``1 + 2a`` (one division for both quotients), summed
    by Estrin's scheme (G. Estrin, Proc. Western Joint Computer Conf. 1960,
    33): independent pairs combined with ``y^2, y^4, y^8, y^16``, a chain of
    six multiply-adds instead of Horner's twenty (or Clenshaw's forty), so
    a vectorised loop over channels is not held up by their latency.
    Branch-free.
    """
    den = 1.0 + 2.0 * a
    q = 1.0 / ((a + _ERFCX_K) * den)
    y = (a - _ERFCX_K) * den * q
    c = _ERFCX_POWER
    y2 = y * y
    y4 = y2 * y2
    y8 = y4 * y4
    e0 = c[0] + c[1] * y
    e1 = c[2] + c[3] * y
    e2 = c[4] + c[5] * y
    e3 = c[6] + c[7] * y
    e4 = c[8] + c[9] * y
    e5 = c[10] + c[11] * y
    e6 = c[12] + c[13] * y
    e7 = c[14] + c[15] * y
    e8 = c[16] + c[17] * y
    e9 = c[18] + c[19] * y
    f0 = e0 + e1 * y2
    f1 = e2 + e3 * y2
    f2 = e4 + e5 * y2
    f3 = e6 + e7 * y2
    f4 = e8 + e9 * y2
    g0 = f0 + f1 * y4
    g1 = f2 + f3 * y4
    g2 = f4 + c[20] * y4
    s = (g0 + g1 * y8) + g2 * (y8 * y8)
    return s * (a + _ERFCX_K) * q


@njit(nogil=True, error_model="numpy", _nrt=False)
def _tail_exponentials(x, e0, sigma, tau, gauss, expo, scratch):
    """``exp(-u^2 / 2)`` into ``gauss`` and ``exp(d/tau + sigma^2/2tau^2)``
    into ``expo`` (where ``z < 0``, else 0), ``d = x - e0``, ``u = d/sigma``.

    On equally spaced increasing channels the Gaussian is propagated from
    its centre by the interleaved recurrences of the Gaussian block
    (:func:`~hyperspy_perovskite.fitting.kernels.builtin._exp_half_square_outwards`)
    and the exponential downwards from the edge ``z = 0`` by a constant
    ratio below one (values only decrease, so nothing overflows and an
    underflow is harmless), re-anchored with ``exp`` every 64 channels.
    Other axes take both from the vectorised ``exp``
    (:func:`~hyperspy_perovskite.fitting.kernels.builtin._exp_inplace`,
    ``scratch`` its work row).
    """
    n = x.shape[0]
    inv_sigma = 1.0 / sigma
    shift = 0.5 * (sigma / tau) ** 2
    x_edge = e0 - sigma * sigma / tau  # z = 0
    dx = x[1] - x[0] if n > 1 else 0.0
    fast = (
        n >= 16 and dx > 0.0 and math.isfinite(inv_sigma) and inv_sigma > 0.0
        and tau > 0.0 and math.isfinite(e0) and _is_uniform(x)
    )  # fmt: skip
    if not fast:
        # a non-uniform axis (photon energies from equally spaced
        # wavelengths): both exponentials by the vectorised exp
        # (the exponential only below the edge: channels from ``below`` on
        # all have z >= 0, so none is computed there on an increasing axis)
        r = sigma / tau
        below = n - n  # int64, not a literal 0: one compilation of _exp_inplace
        for j in range(n):
            d = x[j] - e0
            u = d * inv_sigma
            gauss[j] = -0.5 * u * u
            expo[j] = min2(d / tau + shift, 0.0)
            below = max2(below, j + 1 if u + r < 0.0 else 0)
        _exp_inplace(gauss, scratch, n)
        _exp_inplace(expo, scratch, below)
        for j in range(below):
            if (x[j] - e0) * inv_sigma + r >= 0.0:
                expo[j] = 0.0
        for j in range(below, n):
            expo[j] = 0.0
        return
    h = dx * inv_sigma
    pos = (e0 - x[0]) / dx
    j0 = 0 if pos < 0.0 else (n - 1 if pos > n - 1 else to_int(pos + 0.5))
    u0 = (x[j0] - e0) * inv_sigma
    for walk in range(2):  # one call site: one copy of the recurrence
        if walk == 0:
            v_start, j_start, direction, count = u0, j0, 1, n - j0
        else:
            v_start, j_start, direction, count = -(u0 - h), j0 - 1, -1, j0
        if count > 0:
            _exp_half_square_outwards(v_start, h, j_start, direction, count, gauss)
    # from one channel above the edge (a margin for rounding) downwards by
    # exp(-dx / tau); the exponent there is at most dx / tau - shift
    pe = (x_edge - x[0]) / dx
    je = -1 if pe < -1.0 else (n - 1 if pe > n - 2 else math.floor(pe) + 1)
    for j in range(je + 1, n):
        expo[j] = 0.0
    ratio = math.exp(-dx / tau)
    j = je
    while j >= 0:
        v = math.exp(min2((x[j] - e0) / tau + shift, 700.0))
        stop = max2(j - 64, -1)
        while j > stop:
            expo[j] = v
            v *= ratio
            j -= 1


@njit(nogil=True, error_model="numpy", _nrt=False)
def continuous_urbach_block(x, P, o, c, f, G):
    """:func:`continuous_urbach_kernel` over all channels (block contract).

    ``g = 0.5 N erfcx(z)`` above the edge (``z >= 0``) and ``g = e -
    0.5 N erfcx(-z)`` below it, with ``N = exp(-u^2/2)`` and ``e =
    exp(d/tau + sigma^2/2tau^2)``: the same function as the point kernel
    (``erfc(z) = 2 - erfc(-z)``), no cancellation (``g >= e/2`` below the
    edge), and the derivatives from ``g`` and ``N`` as in
    :func:`_g_and_partials`. The two exponentials come from
    :func:`_tail_exponentials` (written into the rows of ``Eu`` and
    ``sigma`` as scratch), ``erfcx`` from :func:`_erfcx_fast`, so the last
    loops have no call and vectorise.
    """
    A = P[o]
    e0 = P[o + 1]
    tau = P[o + 2]
    sigma = P[o + 3]
    n = x.shape[0]
    scaled = G[o]
    gauss = G[o + 2]
    expo = G[o + 3]
    _tail_exponentials(x, e0, sigma, tau, gauss, expo, G[o + 1])  # E0 row: scratch
    inv_sigma = 1.0 / sigma
    it = 1.0 / tau
    r = sigma * it
    k = inv_sigma / _SQRT2PI
    s2t2 = r * r
    c = inv_sigma / _SQRT2
    b = (r - e0 * inv_sigma) / _SQRT2
    for j in range(n):  # |z|, then erfcx(|z|) in place: one array, vectorises
        scaled[j] = abs(x[j] * c + b)
    for j in range(n):
        scaled[j] = _erfcx_fast(scaled[j])
    # one output row per loop, each reading rows it does not write: the
    # loops vectorise (one loop writing f and four rows of G did not)
    for j in range(n):  # g, into the area row
        half = 0.5 * gauss[j] * scaled[j]
        above = (x[j] - e0) * inv_sigma + r >= 0.0
        scaled[j] = half if above else expo[j] - half
    row_e0 = G[o + 1]
    for j in range(n):
        g = scaled[j]
        f[j] += A * g
        row_e0[j] = -A * (g * it - gauss[j] * k)
    for j in range(n):  # the sigma row (the exponential is no longer needed)
        u = (x[j] - e0) * inv_sigma
        expo[j] = A * (scaled[j] * r * it - gauss[j] * k * (r - u))
    for j in range(n):  # the Eu row, over the Gaussian
        d = x[j] - e0
        gauss[j] = A * (-scaled[j] * (d + sigma * r) * it * it + gauss[j] * k * s2t2)


class ContinuousUrbachTail(CachedExpression):
    r"""Urbach tail below a free edge, continuous and smooth at the edge.

    .. math::

        f(E) = A\, g(E - E_0; \sigma, E_u)
             = \int A\, e^{(E' - E_0)/E_u}\, \Theta(E_0 - E')\,
               \frac{e^{-(E - E')^2 / 2\sigma^2}}{\sigma\sqrt{2\pi}}\, dE'

    An exponential (Urbach) density of tail states below the edge
    :math:`E_0` (F. Urbach, Phys. Rev. 92, 1324 (1953)) broadened by a
    Gaussian of standard deviation :math:`\sigma` (the band's broadening),
    i.e. an exponentially modified Gaussian (E. Grushka, Anal. Chem. 44, 1733
    (1972)). Far below the edge :math:`f \propto e^{(E - E_0)/E_u}` with the
    Urbach energy :math:`E_u`; unlike :class:`UrbachTail` it has no step at
    :math:`E_0`, and :math:`E_0` is a free parameter, not tied to the band
    centre. As :math:`\sigma \to 0` it becomes :class:`UrbachTail`.

    Parameters
    ----------
    A : float
        Amplitude of the unbroadened exponential at :math:`E_0`.
    E0 : float
        Edge (eV on a photon-energy axis).
    Eu : float
        Urbach energy (axis unit; tens of meV for CsPbX3).
    sigma : float
        Gaussian broadening (axis unit); ``fit_emission`` twins it to the
        band's sigma.

    Examples
    --------
    >>> import numpy as np
    >>> from hyperspy_perovskite.components import ContinuousUrbachTail
    >>> t = ContinuousUrbachTail(A=10.0, E0=1.75, Eu=0.02, sigma=0.005)
    >>> f = t.function(np.array([1.55, 1.57, 1.75, 1.80]))
    >>> round(float(f[0] / f[1]), 4), round(float(np.exp(-1)), 4)
    (0.3679, 0.3679)
    >>> bool(f[3] < 1e-3 * f[2])
    True
    """

    def __init__(self, A=1.0, E0=1.7, Eu=0.02, sigma=0.01, module=None, **kw):
        super().__init__(
            expression="A / 2 * exp((x - E0) / Eu + sigma ** 2 / (2 * Eu ** 2)) "
            "* erfc(((x - E0) / sigma + sigma / Eu) / sqrt(2))",
            name="ContinuousUrbachTail",
            A=A,
            E0=E0,
            Eu=Eu,
            sigma=sigma,
            position="E0",
            module=module,
            autodoc=False,
            **kw,
        )
        self.A.bmin, self.A.bmax = 0.0, None
        self.Eu.bmin, self.Eu.bmax = 1e-4, None
        self.sigma.bmin, self.sigma.bmax = 1e-6, None
        self.isbackground = False
        self.convolved = True
        self._f = self._stable

    @staticmethod
    def _stable(x, A, E0, Eu, sigma):
        return A * _g_numpy(x - E0, sigma, Eu)


# ------------------------------------------------------ wavelength offset
@njit(nogil=True, error_model="numpy")
def wavelength_offset_kernel(x, P, o, grad, c):
    """``offset * c[0] / x^2``, parameter (offset,); linear."""
    b = c[0] / (x * x)
    grad[o] = b
    return P[o] * b


@njit(nogil=True, error_model="numpy", _nrt=False)
def wavelength_offset_block(x, P, o, c, f, G):
    """:func:`wavelength_offset_kernel` over all channels (block contract)."""
    b = P[o]
    k = c[0]
    for j in range(x.shape[0]):
        g = k / (x[j] * x[j])
        f[j] += b * g
        G[o, j] = g


class WavelengthOffset(CachedExpression):
    r"""A level constant in wavelength, on a photon-energy axis.

    .. math::

        f(E) = b\, \frac{hc}{n_{\mathrm{air}} E^2} \times 10^{-3}

    A detector dark level (or any background) flat in the measured
    wavelength space becomes proportional to :math:`\lambda^2` after the
    Jacobian :math:`I(E) = I(\lambda)\, d\lambda/dE` (Mooney and
    Kambhampati, J. Phys. Chem. Lett. 4, 3316 (2013)) that LumiSpy's
    ``to_eV`` applies (intensity per meV, hence :math:`10^{-3}`): a constant
    offset on the energy axis would be wrong. ``b`` is the level as it
    appears on the wavelength axis (data units); :math:`hc` = 1239.841984
    eV nm (CODATA 2018) and :math:`n_{\mathrm{air}}` = 1.000276 at 700 nm
    (E. R. Peck and K. Reeder, J. Opt. Soc. Am. 62, 958 (1972); it varies by
    less than 1e-5 over 400-1000 nm). Needs an axis in eV.

    Examples
    --------
    >>> import numpy as np
    >>> from hyperspy_perovskite.components import WavelengthOffset
    >>> b = WavelengthOffset(offset=5.0)
    >>> round(float(b.function(np.array([1.771]))[0]), 3)  # 5 x 0.395 nm/meV
    1.976
    """

    def __init__(self, offset=0.0, module=None, **kw):
        super().__init__(
            expression=f"offset * {_HC_EV_NM * 1e-3 / _N_AIR_700!r} / x ** 2",
            name="WavelengthOffset",
            offset=offset,
            module=module,
            autodoc=False,
            **kw,
        )
        self.isbackground = True
        self.convolved = False
        self.offset._linear = True


#: Constant of the :class:`WavelengthOffset` kernel.
WAVELENGTH_OFFSET_CONSTANT = _HC_EV_NM * 1e-3 / _N_AIR_700


def _register():
    """Register the kernels with the engine (public ``register_kernel``)."""
    try:
        from hyperspy_perovskite.fitting.registry import register_kernel
    except ImportError:  # pragma: no cover - engine without the public registry
        return
    register_kernel(
        AsymmetricEmission,
        asymmetric_emission_kernel,
        ("A", "centre", "sigma", "tau"),
        position="centre",
        amplitude="A",
        constants=lambda c: (float(c.s.value),),
        proportional_to="A",
    )
    register_kernel(
        ContinuousUrbachTail,
        continuous_urbach_kernel,
        ("A", "E0", "Eu", "sigma"),
        block=continuous_urbach_block,
        proportional_to="A",
    )
    register_kernel(
        WavelengthOffset,
        wavelength_offset_kernel,
        ("offset",),
        block=wavelength_offset_block,
        constants=lambda c: (WAVELENGTH_OFFSET_CONSTANT,),
        linear=True,
    )


_register()
