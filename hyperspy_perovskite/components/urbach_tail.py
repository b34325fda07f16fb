"""The exponential (Urbach) sub-band-gap tail of a luminescence spectrum."""

import math

import numpy as np
from numba import njit

from hyperspy_perovskite.analysis.cl_emission import estimate_urbach
from hyperspy_perovskite.components._expression_cache import CachedExpression
from hyperspy_perovskite.components.gaussian_emission import _signal_slice
from hyperspy_perovskite.fitting.registry import register_kernel

__all__ = ["UrbachTail"]


class UrbachTail(CachedExpression):
    r"""Urbach tail: exponential emission below the band edge.

    .. math::

        f(E) = \begin{cases} A \exp\left[(E - E_0)/E_u\right] & E \le E_0 \\
               0 & E > E_0 \end{cases}

    on a photon-energy axis (eV). With a :class:`GaussianEmission` it fits
    PL/CL spectra on a log scale, the tail carrying the low-energy shoulder
    that Li et al., Nat. Commun. 14, 7612 (2023) (Fig. 2g, S12) attributes to disorder at
    the crystal surface; ``Eu`` is the Urbach energy. Above ``E0`` the tail is
    zero: the band itself is described by the Gaussian (``fit_emission`` ties
    ``E0`` to the Gaussian centre).

    Parameters
    ----------
    A : float
        Tail intensity at ``E0``.
    E0 : float
        Energy where the tail ends (band edge), in the axis unit.
    Eu : float
        Urbach energy, in the axis unit (typically 0.01-0.05 eV).

    Examples
    --------
    >>> from hyperspy_perovskite.components import UrbachTail
    >>> t = UrbachTail(A=10.0, E0=1.75, Eu=0.02)
    >>> np.round(t.function(np.array([1.73, 1.75, 1.80])), 4)
    array([ 3.6788, 10.    ,  0.    ])
    """

    def __init__(self, A=1.0, E0=1.7, Eu=0.02, module=None, **kwargs):
        super().__init__(
            expression="Piecewise((A * exp((x - E0) / Eu), x <= E0), (0, True))",
            name="UrbachTail",
            A=A,
            E0=E0,
            Eu=Eu,
            position="E0",
            module=module,
            autodoc=False,
            **kwargs,
        )
        self.A.bmin = 0.0
        self.A.bmax = None
        self.Eu.bmin = 1e-4
        self.Eu.bmax = None
        self.isbackground = False
        self.convolved = True

    def estimate_parameters(self, signal, x1, x2, only_current=False):
        """Estimate ``A``, ``E0``, ``Eu`` by a log-linear fit of the low side.

        ``E0`` is put at the emission maximum and ``Eu`` is the inverse slope
        of ``log(I)`` between 2 % and 50 % of the maximum below it; see
        :func:`hyperspy_perovskite.analysis.cl_emission.estimate_urbach`.
        The axis must be photon energy, increasing.

        Returns
        -------
        bool

        Examples
        --------
        >>> from hyperspy_perovskite.components import UrbachTail
        >>> E = np.linspace(1.5, 1.8, 301)
        >>> s = hs.signals.Signal1D(np.where(E < 1.75, 50 * np.exp((E - 1.75) / 0.02), 0))
        >>> s.axes_manager[-1].offset, s.axes_manager[-1].scale = 1.5, 0.001
        >>> t = UrbachTail()
        >>> t.estimate_parameters(s, 1.5, 1.8, only_current=True)
        True
        >>> round(t.Eu.value, 3)
        0.02
        """
        super()._estimate_parameters(signal)
        axis, x, data = _signal_slice(signal, x1, x2, only_current)
        if np.any(np.diff(x) <= 0):
            raise ValueError(
                "UrbachTail needs an increasing photon-energy axis; convert "
                "with `s.to_eV()` first."
            )
        est = estimate_urbach(x, data)
        if only_current:
            self.A.value, self.E0.value, self.Eu.value = (float(v) for v in est[0, :3])
            return True
        if self.A.map is None:
            self._create_arrays()
        for k, p in enumerate((self.A, self.E0, self.Eu)):
            p.map["values"][:] = est[..., k]
            p.map["is_set"][:] = True
        self.fetch_stored_values()
        return True


# --- compiled kernel (fast_multifit) ---


@njit(nogil=True, error_model="numpy")
def urbach_tail_kernel(x, P, o, grad, c):
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


register_kernel(UrbachTail, urbach_tail_kernel, ("A", "E0", "Eu"), proportional_to="A")
