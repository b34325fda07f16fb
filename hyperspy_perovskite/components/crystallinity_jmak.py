"""JMAK (Avrami) crystallinity decay with an onset time."""

import math

import dask.array as da
import numpy as np
from hyperspy.component import Component
from numba import njit

from hyperspy_perovskite.analysis.kinetics import estimate_jmak
from hyperspy_perovskite.fitting.registry import register_kernel

__all__ = ["CrystallinityJMAK"]


class CrystallinityJMAK(Component):
    r"""Crystallinity decay after an onset, JMAK/Avrami law.

    .. math::

        f(t) = A \exp\left(-\left[k (t - t_0)\right]^n\right)
        \quad (t > t_0), \qquad f(t) = A \quad (t \le t_0)

    ============ ==========================================
    Variable      Parameter
    ============ ==========================================
    :math:`A`     A (initial crystalline signal; linear)
    :math:`k`     k (rate, 1/[time units])
    :math:`n`     n (Avrami exponent, >= 1)
    :math:`t_0`   t0 (onset time, time-axis units)
    ============ ==========================================

    Johnson-Mehl-Avrami-Kolmogorov kinetics (M. Avrami, J. Chem. Phys. 7,
    1103 (1939)) of the fraction still crystalline, e.g. the lattice-fringe
    power or a {hkl} ring intensity during bias-induced amorphization (“Imaging real-time amorphization of hybrid perovskite solar cells under electrical biasing”). Add an ``Offset`` for a residual crystalline level. ``n = 1`` is
    first-order (exponential) decay: ``first_order=True`` fixes it. A custom
    :class:`~hyperspy.component.Component` rather than an ``Expression``
    because the piecewise onset needs gradients that stay finite at
    ``t = t0`` (sympy gives ``0 * log(0)``). ``n`` is bounded below by 1: for
    ``n < 1`` the initial decay rate is infinite at the onset.

    The compiled kernel for
    :func:`~hyperspy_perovskite.fitting.fast_multifit` is
    :func:`crystallinity_jmak_kernel` (below).

    Parameters
    ----------
    A, k, n, t0 : float
        Initial values.
    first_order : bool
        Fix ``n = 1`` (first-order decay).

    Examples
    --------
    >>> from hyperspy_perovskite.components import CrystallinityJMAK
    >>> c = CrystallinityJMAK(A=2.0, k=0.1, n=1.0, t0=10.0)
    >>> c.function(np.array([0.0, 10.0, 20.0])).round(3)
    array([2.   , 2.   , 0.736])
    >>> CrystallinityJMAK(first_order=True).n.free
    False
    """

    def __init__(self, A=1.0, k=0.01, n=1.0, t0=0.0, first_order=False):
        Component.__init__(self, ("A", "k", "n", "t0"), ["A"])
        self.A.value = A
        self.k.value = k
        self.n.value = 1.0 if first_order else n
        self.t0.value = t0
        self.A.bmin = 0.0
        self.k.bmin = 0.0
        self.n.bmin = 1.0
        self.n.bmax = 10.0
        self.n.free = not first_order
        self.isbackground = False
        self.convolved = False
        for name in ("A", "k", "n", "t0"):
            getattr(self, name).grad = getattr(self, f"grad_{name}")

    # ``_terms`` evaluates the function and the pieces the gradients share.
    def _terms(self, x):
        x = np.asarray(x, dtype=float)
        A, k, n = self.A.value, self.k.value, self.n.value
        u = np.clip(x - self.t0.value, 0.0, None)
        z = k * u
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            lnz = np.where(z > 0, np.log(np.where(z > 0, z, 1.0)), 0.0)
            p = np.where(z > 0, np.exp(n * lnz), 0.0)
            zn1 = np.where(z > 0, np.exp((n - 1.0) * lnz), 1.0 if n == 1.0 else 0.0)
        p = np.minimum(p, 745.0)
        f = A * np.exp(-p)
        return f, u, z, lnz, p, zn1

    def function(self, x):
        return self._terms(x)[0]

    def grad_A(self, x):
        return np.exp(-self._terms(x)[4])

    def grad_k(self, x):
        f, u, z, lnz, p, zn1 = self._terms(x)
        return -f * self.n.value * zn1 * u

    def grad_n(self, x):
        f, u, z, lnz, p, zn1 = self._terms(x)
        return -f * p * lnz

    def grad_t0(self, x):
        f, u, z, lnz, p, zn1 = self._terms(x)
        return np.where(u > 0, f * self.n.value * zn1 * self.k.value, 0.0)

    def estimate_parameters(self, signal, x1, x2, only_current=False):
        """Estimate A, k, n and t0 from the trace(s) between ``x1`` and ``x2``.

        Vectorised over the whole navigation space (lazy signals are reduced
        chunk by chunk): see
        :func:`hyperspy_perovskite.analysis.kinetics.estimate_jmak`. ``A`` is
        the drop from the initial to the final level (the final level belongs
        to an ``Offset`` component, if any). ``n`` is left at 1 when fixed.

        Parameters
        ----------
        signal : hyperspy.signals.Signal1D
            Trace(s) on a time axis.
        x1, x2 : float
            Time range (axis units).
        only_current : bool
            Estimate only the current navigation position.

        Returns
        -------
        bool
            True.

        Examples
        --------
        >>> from hyperspy_perovskite.components import CrystallinityJMAK
        >>> from hyperspy_perovskite.analysis.kinetics import jmak
        >>> t = np.linspace(0, 300, 121)
        >>> s = hs.signals.Signal1D(jmak(t, 5.0, 0.02, 1.0, 50.0))
        >>> s.axes_manager[-1].scale = t[1]
        >>> c = CrystallinityJMAK()
        >>> c.estimate_parameters(s, 0, 300, only_current=True)
        True
        >>> round(c.A.value, 2)
        5.0
        """
        super()._estimate_parameters(signal)
        axis = signal.axes_manager.signal_axes[0]
        i1, i2 = axis.value_range_to_indices(x1, x2)
        t = axis.axis[i1 : i2 + 1]
        if len(t) < 6:
            raise ValueError(
                f"Need at least 6 time points between {x1} and {x2} to estimate "
                "the kinetics; widen the range."
            )
        fixed_n = not self.n.free

        def _est(y):
            e = estimate_jmak(t, y)
            return np.stack([e["A"], e["k"], e["n"], e["t0"]], axis=-1)

        if only_current:
            vals = _est(np.asarray(signal._get_current_data()[i1 : i2 + 1]))
        else:
            data = signal.data[..., i1 : i2 + 1]
            if signal._lazy:
                data = data.rechunk({data.ndim - 1: -1})
                vals = da.map_blocks(
                    _est, data, chunks=data.chunks[:-1] + ((4,),), dtype=float
                ).compute()
            else:
                vals = _est(np.asarray(data))
        if axis.is_binned:
            vals[..., 0] /= axis.scale
        names = ("A", "k", "n", "t0")
        if only_current:
            for j, name in enumerate(names):
                if name == "n" and fixed_n:
                    continue
                getattr(self, name).value = float(vals[..., j])
            return True
        if self.A.map is None:
            self._create_arrays()
        for j, name in enumerate(names):
            if name == "n" and fixed_n:
                continue
            par = getattr(self, name)
            par.map["values"][:] = vals[..., j]
            par.map["is_set"][:] = True
        self.fetch_stored_values()
        return True


# --- compiled kernel (fast_multifit) ---

# exp(-p) underflows to 0 in double precision beyond p ~ 745; stop earlier.
_P_MAX = 700.0


@njit(nogil=True, error_model="numpy")
def crystallinity_jmak_kernel(x, P, o, grad, c):
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


register_kernel(
    CrystallinityJMAK,
    crystallinity_jmak_kernel,
    ("A", "k", "n", "t0"),
    amplitude="A",
    proportional_to="A",
)
