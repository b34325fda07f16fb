r"""Voigt emission band (sharp lines of quantum emitters), with its compiled kernel.

A Voigt profile is a Lorentzian (homogeneous, lifetime-limited line of half
width :math:`\gamma`) convolved with a Gaussian (inhomogeneous broadening and
the spectrometer's resolution, standard deviation :math:`\sigma`):

.. math::

    f(x) = A\, \frac{\operatorname{Re}\, w(z)}{\sigma\sqrt{2\pi}}, \qquad
    z = \frac{x - x_0 + i\gamma}{\sigma\sqrt2},

with :math:`w` the Faddeeva function (B. H. Armstrong, J. Quant. Spectrosc.
Radiat. Transfer 7, 61 (1967)). The Python side (``component.function``, what
``m.multifit`` uses) evaluates :math:`w` exactly with
:func:`scipy.special.wofz`; the compiled kernel of
:func:`~hyperspy_perovskite.fitting.fast_multifit` uses the rational
approximation W4 of J. Humlicek, J. Quant. Spectrosc. Radiat. Transfer 27,
437 (1982), which numba compiles (``wofz`` does not): its largest deviation
from the exact profile is 3.3e-5 of the peak height (tested), far below the
photon noise of any measured line. The partial derivatives follow from
:math:`w'(z) = -2 z w(z) + 2i/\sqrt\pi`.
"""

from __future__ import annotations

import cmath
import math

import numpy as np
from numba import njit
from scipy.special import wofz

from hyperspy_perovskite.components._expression_cache import CachedExpression

__all__ = ["VoigtEmission", "voigt_fwhm", "voigt_quantities"]

_SQRT2 = math.sqrt(2.0)
_SQRT2PI = math.sqrt(2.0 * math.pi)
_TWO_OVER_SQRTPI = 2.0 / math.sqrt(math.pi)
_SIGMA2FWHM = 2.0 * math.sqrt(2.0 * math.log(2.0))


@njit(nogil=True, error_model="numpy")
def _humlicek_w4(x, y):
    """Faddeeva function ``w(z)``, ``z = x + iy``, ``y >= 0``, and ``dw/dz``
    (Humlicek 1982, W4).

    In the two outer regions (``|x| + y >= 5.5``) the derivative is that of
    the rational approximation itself: there ``w'(z) = -2 z w + 2i/sqrt(pi)``
    cancels to a small difference of large terms and would amplify the
    approximation's error by ``|z|^2``.
    """
    t = complex(y, -x)
    s = abs(x) + y
    if s >= 15.0:
        d = 0.5 + t * t
        w = t * 0.5641896 / d
        return w, complex(0.0, -1.0) * 0.5641896 * (0.5 - t * t) / (d * d)
    if s >= 5.5:
        u = t * t
        num = t * (1.410474 + u * 0.5641896)
        den = 0.75 + u * (3.0 + u)
        dnum = 1.410474 + 3.0 * 0.5641896 * u
        dden = 2.0 * t * (3.0 + 2.0 * u)
        w = num / den
        return w, complex(0.0, -1.0) * (dnum * den - num * dden) / (den * den)
    if y >= 0.195 * abs(x) - 0.176:
        num = 16.4955 + t * (20.20933 + t * (11.96482 + t * (3.778987 + t * 0.5642236)))
        den = 16.4955 + t * (
            38.82363 + t * (39.27121 + t * (21.69274 + t * (6.699398 + t)))
        )
        w = num / den
    else:
        u = t * t
        num = t * (
            36183.31
            - u
            * (
                3321.9905
                - u
                * (
                    1540.787
                    - u * (219.0313 - u * (35.76683 - u * (1.320522 - u * 0.56419)))
                )
            )
        )
        den = 32066.6 - u * (
            24322.84
            - u
            * (
                9022.228
                - u * (2186.181 - u * (364.2191 - u * (61.57037 - u * (1.841439 - u))))
            )
        )
        w = cmath.exp(u) - num / den
    z = complex(x, y)
    return w, -2.0 * z * w + complex(0.0, _TWO_OVER_SQRTPI)


@njit(nogil=True, error_model="numpy")
def voigt_emission_kernel(x, P, o, grad, c):
    """``A Re w(z) / (sigma sqrt(2 pi))``, parameters (A, centre, sigma, gamma)."""
    A = P[o]
    centre = P[o + 1]
    sigma = P[o + 2]
    gamma = P[o + 3]
    k = 1.0 / (sigma * _SQRT2)
    z = complex((x - centre) * k, gamma * k)
    w, dw = _humlicek_w4(z.real, z.imag)
    norm = 1.0 / (sigma * _SQRT2PI)
    v = w.real * norm
    f = A * v
    grad[o] = v
    grad[o + 1] = -A * norm * dw.real * k
    grad[o + 2] = -A * norm * (w + dw * z).real / sigma
    grad[o + 3] = -A * norm * dw.imag * k
    return f


def voigt_fwhm(sigma, gamma):
    """Full width at half maximum of a Voigt profile.

    ``0.5346 fL + sqrt(0.2166 fL^2 + fG^2)`` with ``fG = 2 sqrt(2 ln 2) sigma``
    and ``fL = 2 gamma`` (J. J. Olivero and R. L. Longbothum, J. Quant.
    Spectrosc. Radiat. Transfer 17, 233 (1977): accurate to 0.02 %).

    Examples
    --------
    >>> from hyperspy_perovskite.components.voigt_emission import voigt_fwhm
    >>> round(float(voigt_fwhm(1.0, 0.0)), 4), round(float(voigt_fwhm(1e-9, 1.0)), 3)
    (2.3548, 2.0)
    """
    fg = _SIGMA2FWHM * np.asarray(sigma, float)
    fl = 2.0 * np.asarray(gamma, float)
    return 0.5346 * fl + np.sqrt(0.2166 * fl * fl + fg * fg)


def _peak(sigma, gamma):
    """Value at the centre of a unit-area Voigt profile."""
    with np.errstate(invalid="ignore", divide="ignore"):
        z = 1j * np.asarray(gamma, float) / (np.asarray(sigma, float) * _SQRT2)
        return wofz(z).real / (np.asarray(sigma, float) * _SQRT2PI)


def voigt_quantities(A, A_std, sigma, sigma_std, gamma, gamma_std):
    """FWHM and height of Voigt bands with first-order standard deviations.

    The derivatives with respect to ``sigma`` and ``gamma`` are taken
    numerically; the covariances between parameters are not known from
    parameter maps and are neglected.

    Returns
    -------
    fwhm, fwhm_std, height, height_std : numpy.ndarray

    Examples
    --------
    >>> from hyperspy_perovskite.components.voigt_emission import voigt_quantities
    >>> f, sf, h, sh = voigt_quantities(2.0, 0.0, 1.0, 0.0, 1e-12, 0.0)
    >>> round(float(f), 4), round(float(h), 4)  # a Gaussian: 2.3548, 2 / sqrt(2 pi)
    (2.3548, 0.7979)
    """
    A, sigma, gamma = (np.asarray(v, float) for v in (A, sigma, gamma))
    with np.errstate(invalid="ignore", divide="ignore"):
        es = 1e-6 * sigma
        eg = 1e-6 * np.maximum(gamma, 1e-3 * sigma)
        fwhm, peak = voigt_fwhm(sigma, gamma), _peak(sigma, gamma)
        dfs = (voigt_fwhm(sigma + es, gamma) - fwhm) / es
        dfg = (voigt_fwhm(sigma, gamma + eg) - fwhm) / eg
        dps = (_peak(sigma + es, gamma) - peak) / es
        dpg = (_peak(sigma, gamma + eg) - peak) / eg
        fwhm_std = np.hypot(dfs * sigma_std, dfg * gamma_std)
        height_std = np.sqrt(
            (peak * A_std) ** 2
            + (A * dps * sigma_std) ** 2
            + (A * dpg * gamma_std) ** 2
        )
    return fwhm, fwhm_std, A * peak, height_std


class VoigtEmission(CachedExpression):
    r"""Voigt emission band: a Lorentzian line convolved with a Gaussian.

    .. math::

        f(x) = A\, \frac{\operatorname{Re}\, w\!\left(\frac{x - x_0 + i\gamma}
        {\sigma\sqrt2}\right)}{\sigma\sqrt{2\pi}}

    (module doc). For the sharp lines of quantum emitters: :math:`\gamma`
    is the half width at half maximum of the homogeneous (Lorentzian) line,
    :math:`\sigma` the standard deviation of the Gaussian part (inhomogeneous
    broadening and the spectrometer's resolution). As HyperSpy's ``Voigt``,
    with the area called ``A`` as in the suite's other bands. ``A`` is the
    area; ``fwhm`` (Olivero and Longbothum 1977) and ``height`` are
    properties.

    Parameters
    ----------
    A : float
        Area (counts x axis unit).
    centre : float
    sigma : float
        Gaussian standard deviation (axis unit, > 0).
    gamma : float
        Lorentzian half width at half maximum (axis unit, >= 0).

    Examples
    --------
    >>> import numpy as np
    >>> from hyperspy_perovskite.components import VoigtEmission
    >>> v = VoigtEmission(A=10.0, centre=670.0, sigma=0.1, gamma=0.2)
    >>> x = np.linspace(600, 740, 140001)
    >>> round(float(np.trapezoid(v.function(x), x)), 2)  # area (wings cut at +/-70)
    9.98
    >>> round(v.fwhm, 3)
    0.514
    """

    def __init__(self, A=1.0, centre=0.0, sigma=1.0, gamma=1.0, module=None, **kw):
        super().__init__(
            expression="A * re(wofz((x - centre + 1j * gamma_) / (sigma * sqrt(2.0))))"
            " / (sigma * sqrt(2.0 * pi))",
            name="VoigtEmission",
            A=A,
            centre=centre,
            sigma=sigma,
            gamma=gamma,
            position="centre",
            module=["numpy", "scipy"] if module is None else module,
            compute_gradients=False,
            autodoc=False,
            rename_pars={"gamma_": "gamma"},
            **kw,
        )
        self.A.bmin, self.A.bmax = 0.0, None
        self.sigma.bmin, self.sigma.bmax = 1e-6, None
        self.gamma.bmin, self.gamma.bmax = 0.0, None
        self.isbackground = False
        self.convolved = True
        self._f = self._exact

    @staticmethod
    def _exact(x, A, centre, gamma, sigma):
        # parameters in the alphabetical order Expression passes them
        z = (x - centre + 1j * gamma) / (sigma * _SQRT2)
        return A * wofz(z).real / (sigma * _SQRT2PI)

    @property
    def fwhm(self):
        """Full width at half maximum (:func:`voigt_fwhm`)."""
        return float(voigt_fwhm(self.sigma.value, self.gamma.value))

    @property
    def height(self):
        """Value at the centre."""
        return float(self.A.value * _peak(self.sigma.value, self.gamma.value))


def _register():
    """Register the kernel with the engine (public ``register_kernel``)."""
    from hyperspy_perovskite.fitting.registry import register_kernel

    register_kernel(
        VoigtEmission,
        voigt_emission_kernel,
        ("A", "centre", "sigma", "gamma"),
        position="centre",
        amplitude="A",
        proportional_to="A",
    )


_register()
