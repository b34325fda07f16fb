"""Single-diode model of an illuminated solar cell, solved exactly."""

import math

import dask.array as da
import numpy as np
from hyperspy.component import Component
from numba import njit

from hyperspy_perovskite.analysis.transport.jv import (
    estimate_single_diode,
    single_diode_current,
    thermal_voltage,
)
from hyperspy_perovskite.fitting import register_kernel

__all__ = ["SingleDiode"]

_LN10 = math.log(10.0)
_NAMES = ("Jph", "log10_J0", "n", "Rs", "Rsh")


class SingleDiode(Component):
    r"""Current density of a single-diode solar cell (photocurrent positive).

    .. math::

        J = J_{ph} - J_0 \left[\exp\left(\frac{V + J R_s}{n V_t}\right)
        - 1\right] - \frac{V + J R_s}{R_{sh}}

    solved exactly for :math:`J` with the Lambert W function (A. Jain,
    A. Kapoor, Sol. Energy Mater. Sol. Cells 81, 269 (2004)); the argument
    of W is kept in the log domain, so no overflow at forward bias.

    ============== ===============================================
    Variable        Parameter
    ============== ===============================================
    :math:`J_{ph}`  Jph (photocurrent density, mA/cm²)
    :math:`J_0`     log10_J0 (log10 of the saturation current
                    density in mA/cm²; ``J0`` property)
    :math:`n`       n (ideality factor)
    :math:`R_s`     Rs (series resistance, Ω cm²)
    :math:`R_{sh}`  Rsh (shunt resistance, Ω cm²)
    ============== ===============================================

    The signal axis is the voltage in V and the data are current densities
    in mA/cm² (the J-V signal of the suite,
    :class:`~hyperspy_perovskite.signals.jv.JVCurve`). ``J0`` is fitted as
    its logarithm because it spans many decades (1e-15 to 1e-5 mA/cm²).
    ``Vt = k T / q`` at ``temperature`` (K). The compiled kernel for
    :func:`~hyperspy_perovskite.fitting.fast_multifit` is
    :func:`single_diode_kernel` (beside this class).

    Parameters
    ----------
    Jph, log10_J0, n, Rs, Rsh : float
        Initial values.
    temperature : float
        Cell temperature, K (default 298.15 K).

    Examples
    --------
    >>> from hyperspy_perovskite.components import SingleDiode
    >>> d = SingleDiode(Jph=23.6, log10_J0=-9.62, n=1.6, Rs=3.3, Rsh=3000.0)
    >>> d.function(np.array([0.0, 0.5])).round(2)
    array([23.57, 23.41])
    >>> float(d.J0) < 1e-9
    True
    """

    def __init__(
        self, Jph=20.0, log10_J0=-10.0, n=1.5, Rs=1.0, Rsh=1000.0, temperature=298.15
    ):
        Component.__init__(self, _NAMES)
        for name, value in zip(_NAMES, (Jph, log10_J0, n, Rs, Rsh), strict=True):
            getattr(self, name).value = float(value)
        self.temperature = float(temperature)
        self._whitelist["temperature"] = ("init", self.temperature)
        self.Jph.bmin, self.Jph.bmax = 0.0, 1e3
        self.log10_J0.bmin, self.log10_J0.bmax = -40.0, 0.0
        self.n.bmin, self.n.bmax = 0.5, 10.0
        self.Rs.bmin, self.Rs.bmax = 0.0, 1e4
        self.Rsh.bmin, self.Rsh.bmax = 1.0, 1e7
        self.isbackground = False
        self.convolved = False
        for name in _NAMES:
            getattr(self, name).grad = getattr(self, f"grad_{name}")

    @property
    def J0(self):
        """Saturation current density, mA/cm² (``10 ** log10_J0``)."""
        return 10.0**self.log10_J0.value

    @property
    def thermal_voltage(self):
        """``k T / q`` at the component's temperature, V."""
        return thermal_voltage(self.temperature)

    def _values(self):
        return tuple(getattr(self, name).value for name in _NAMES)

    def function(self, x):
        jph, l0, n, rs, rsh = self._values()
        return single_diode_current(x, jph, 10.0**l0, n, rs, rsh, self.temperature)

    def _implicit(self, x):
        """Partial derivatives of ``F(J, p) = 0`` at the solution and ``K = -dF/dJ``."""
        jph, l0, n, rs, rsh = self._values()
        J = self.function(x)
        a = n * self.thermal_voltage
        vd = np.asarray(x, dtype=float) + J * rs * 1e-3
        D = np.exp(l0 * _LN10 + vd / a)  # J0 exp(vd / a), finite at the solution
        K = 1.0 + rs * 1e-3 * (D / a + 1e3 / rsh)
        return J, a, vd, D, K, 10.0**l0

    def grad_Jph(self, x):
        return 1.0 / self._implicit(x)[4]

    def grad_log10_J0(self, x):
        J, a, vd, D, K, j0 = self._implicit(x)
        return -_LN10 * (D - j0) / K

    def grad_n(self, x):
        J, a, vd, D, K, j0 = self._implicit(x)
        return D * vd / (a * self.n.value) / K

    def grad_Rs(self, x):
        J, a, vd, D, K, j0 = self._implicit(x)
        return -(D / a + 1e3 / self.Rsh.value) * J * 1e-3 / K

    def grad_Rsh(self, x):
        J, a, vd, D, K, j0 = self._implicit(x)
        return vd * 1e3 / self.Rsh.value**2 / K

    def estimate_parameters(self, signal, x1, x2, only_current=False):
        """Starting values from the curve's Jsc, Voc and slopes.

        Vectorised over the navigation space (lazy data chunk by chunk):
        :func:`hyperspy_perovskite.analysis.transport.jv.estimate_single_diode`.
        ``n`` keeps its current value (the estimate assumes it).

        Parameters
        ----------
        signal : hyperspy.signals.Signal1D
            J-V curve(s): voltage axis in V, current density in mA/cm².
        x1, x2 : float
            Voltage range, V.
        only_current : bool

        Returns
        -------
        bool

        Examples
        --------
        >>> from hyperspy_perovskite.components import SingleDiode
        >>> from hyperspy_perovskite.analysis.transport.jv import single_diode_current
        >>> v = np.linspace(-0.1, 1.2, 261)
        >>> s = hs.signals.Signal1D(single_diode_current(v, 23.6, 2.4e-10, 1.6, 3.3, 3e3))
        >>> s.axes_manager[-1].offset, s.axes_manager[-1].scale = -0.1, 0.005
        >>> d = SingleDiode(n=1.6)
        >>> d.estimate_parameters(s, -0.1, 1.2, only_current=True)
        True
        >>> round(d.Jph.value, 1)
        23.6
        """
        super()._estimate_parameters(signal)
        axis = signal.axes_manager.signal_axes[0]
        i1, i2 = axis.value_range_to_indices(x1, x2)
        v = np.asarray(axis.axis[i1 : i2 + 1], dtype=float)
        n, T = self.n.value, self.temperature

        def _est(y):
            e = estimate_single_diode(v, y, n=n, temperature=T)
            return np.stack([e[k] for k in ("jph", "log10_j0", "rs", "rsh")], -1)

        if only_current:
            vals = _est(np.asarray(signal._get_current_data()[i1 : i2 + 1], float))
        else:
            data = signal.data[..., i1 : i2 + 1]
            if signal._lazy:
                data = data.rechunk({data.ndim - 1: -1})
                vals = da.map_blocks(
                    _est, data, chunks=data.chunks[:-1] + ((4,),), dtype=float
                ).compute()
            else:
                vals = _est(np.asarray(data, dtype=float))
        names = ("Jph", "log10_J0", "Rs", "Rsh")
        if only_current:
            for j, name in enumerate(names):
                getattr(self, name).value = float(vals[..., j])
            return True
        if self.Jph.map is None:
            self._create_arrays()
        for j, name in enumerate(names):
            par = getattr(self, name)
            par.map["values"][:] = vals[..., j]
            par.map["is_set"][:] = True
        self.fetch_stored_values()
        return True


# --- compiled kernel (fast_multifit) -------------------------------------------


@njit(nogil=True, error_model="numpy")
def lambertw_exp_nb(x):
    """Principal branch ``W(exp(x))`` for any real ``x`` (no overflow).

    ``x > 1``: Halley iterations on ``w + ln w = x`` from ``x - ln x``;
    otherwise Halley on ``w e^w = e^x`` from Winitzki's approximation.
    """
    if x > 1.0:
        L1 = math.log(x)
        w = x - L1
        if (
            x > 3.0
        ):  # asymptotic series (Corless et al., Adv. Comput. Math. 5, 329 (1996))
            L2 = math.log(L1)
            w += L2 / L1 + L2 * (L2 - 2.0) / (2.0 * L1 * L1)
        for _ in range(30):
            f = w + math.log(w) - x
            d1 = 1.0 + 1.0 / w
            step = f / (d1 + f / (2.0 * w * w * d1))
            w -= step
            if abs(step) <= 1e-15 * w:
                break
        return w
    t = math.exp(x)
    if t < 1e-300:
        return t
    if t < 1e-6:  # W(t) = t - t^2 + 3 t^3 / 2 - ..., next term 8 t^4 / 3
        return t * (1.0 - t * (1.0 - 1.5 * t))
    L = math.log1p(t)
    w = L * (1.0 - math.log1p(L) / (2.0 + L))
    for _ in range(30):
        ew = math.exp(w)
        f = w * ew - t
        d1 = ew * (w + 1.0)
        step = f / (d1 - (w + 2.0) * f / (2.0 * w + 2.0))
        w -= step
        if abs(step) <= 1e-15 * max(abs(w), 1e-300):
            break
    return w


@njit(nogil=True, error_model="numpy")
def single_diode_kernel(x, P, o, grad, c):
    """Single-diode ``J(V)``; parameters (Jph, log10_J0, n, Rs, Rsh), ``c[0] = Vt``.

    Units: ``x`` in V, J in mA/cm², Rs and Rsh in Ω cm². Gradients by
    implicit differentiation of the diode equation at the solution.
    """
    jph = P[o]
    l0 = P[o + 1]
    n = P[o + 2]
    rs = P[o + 3] * 1e-3
    rsh = P[o + 4] * 1e-3
    a = n * c[0]
    j0 = math.exp(l0 * _LN10)
    if rs <= 1e-15:
        e = math.exp(min(x / a, 700.0))
        J = jph - j0 * (e - 1.0) - x / rsh
    else:
        tot = rs + rsh
        ln_theta = math.log(rs * rsh * j0 / (a * tot)) + rsh * (rs * (jph + j0) + x) / (
            a * tot
        )
        J = (rsh * (jph + j0) - x) / tot - a / rs * lambertw_exp_nb(ln_theta)
    vd = x + J * rs
    D = math.exp(min(l0 * _LN10 + vd / a, 700.0))
    K = 1.0 + rs * (D / a + 1.0 / rsh)
    grad[o] = 1.0 / K
    grad[o + 1] = -_LN10 * (D - j0) / K
    grad[o + 2] = D * vd / (a * n) / K
    grad[o + 3] = -(D / a + 1.0 / rsh) * J * 1e-3 / K
    grad[o + 4] = vd / (rsh * rsh) * 1e-3 / K
    return J


def _vt(component):
    return (thermal_voltage(component.temperature),)


register_kernel(SingleDiode, single_diode_kernel, _NAMES, constants=_vt)
