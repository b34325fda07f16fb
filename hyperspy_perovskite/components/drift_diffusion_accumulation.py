"""Steady-state ion accumulation next to a blocking electrode."""

import math

import numpy as np
from hyperspy.component import Component
from numba import njit

from hyperspy_perovskite.analysis._drift_diffusion_numba import _erfcx
from hyperspy_perovskite.analysis.drift_diffusion import (
    thermal_voltage,
)
from hyperspy_perovskite.analysis.migration_estimates import estimate_accumulation
from hyperspy_perovskite.components._profile_common import (
    axis_nm_factor,
    parameter_arrays,
    profile_slice,
    side_sign,
)
from hyperspy_perovskite.fitting.registry import register_kernel

__all__ = ["DriftDiffusionAccumulation"]


class DriftDiffusionAccumulation(Component):
    r"""Steady-state drift-diffusion accumulation at a blocking electrode.

    .. math::

        c(x) = \begin{cases} A \exp(-z / \lambda) & z \ge 0 \\
               0 & z < 0 \end{cases}, \qquad z = \pm (x - x_w)

    Zero ionic flux ``-D dc/dz - mu E c = 0`` next to a blocking electrode
    at ``x_w`` gives an exponential accumulation with the decay length
    ``lambda = D / (mu E)``; the Einstein relation ``D = mu k_B T / (z q)``
    predicts ``lambda = k_B T / (z q E)`` (“Imaging real-time amorphization of hybrid perovskite solar cells under electrical biasing”:
    ions follow the drift-diffusion model and accumulate at the interfaces
    under bias). Add an ``Offset`` for the bulk level or the other species.
    ``z < 0`` is the electrode: the component is 0 there. Restrict the fitted
    range to the layer (``m.set_signal_range``); ``wall`` is fixed by default
    (set it from the device geometry).

    ================ =============
    Variable         Parameter
    ================ =============
    :math:`A`        A
    :math:`\lambda`  decay_length
    :math:`x_w`      wall
    ================ =============

    Parameters
    ----------
    A : float
        Excess concentration at the electrode (linear).
    decay_length : float
        ``lambda`` in the axis unit (> 0).
    resolution : float
        Standard deviation (axis unit) of a Gaussian blur of the measured
        profile (probe, interface roughness), fixed; the accumulation is
        then convolved with it (and spills past the wall), so the fit can
        use the bins next to the wall. Saved with the model.
    wall : float
        Electrode position in the axis unit (fixed by default).
    side : {"right", "left"}
        The layer is at ``x > wall`` ("right") or ``x < wall`` ("left").
        Saved with the model.

    Examples
    --------
    >>> from hyperspy_perovskite.components import DriftDiffusionAccumulation
    >>> c = DriftDiffusionAccumulation(A=2.0, decay_length=10.0, wall=5.0)
    >>> np.round(c.function(np.array([0.0, 5.0, 15.0])), 4)
    array([0.    , 2.    , 0.7358])
    """

    def __init__(
        self, A=1.0, decay_length=10.0, wall=0.0, side="right", resolution=0.0, **kwargs
    ):
        Component.__init__(self, ("A", "decay_length", "wall"), ["A"], **kwargs)
        self._id_name = "DriftDiffusionAccumulation"
        self.name = "DriftDiffusionAccumulation"
        self.side = "right" if side_sign(side) == 1 else "left"
        self._whitelist["side"] = ("init", self.side)
        r = float(resolution or 0.0)
        if not (np.isfinite(r) and r >= 0):
            raise ValueError(
                f"resolution is a Gaussian std in the axis unit (>= 0), got {resolution!r}."
            )
        self.resolution = r
        self._whitelist["resolution"] = ("init", r)
        self.A.value = A
        self.decay_length.value = decay_length
        self.wall.value = wall
        self.decay_length.bmin = 1e-3
        self.decay_length.bmax = None
        self.wall.free = False
        self._position = self.wall
        self.isbackground = False
        self.convolved = True

    @property
    def _sign(self):
        return side_sign(self.side)

    def _z(self, x, wall):
        return self._sign * (np.asarray(x, dtype=float) - wall)

    def _eval(self, x, A, lam, wall):
        z = self._z(x, wall)
        if self.resolution > 0:
            e = _blurred_unit(z, lam, self.resolution)
            return A * e, e, z
        inside = z >= 0
        e = np.exp(-np.where(inside, z, 0.0) / lam)
        return np.where(inside, A * e, 0.0), np.where(inside, e, 0.0), z

    def function(self, x):
        return self._eval(x, self.A.value, self.decay_length.value, self.wall.value)[0]

    def function_nd(self, axis, parameters_values=None):
        """Component over ``axis`` for every navigation position."""
        if not self._is_navigation_multidimensional:
            return self.function(axis)
        if parameters_values is None:
            parameters_values = [p.map["values"] for p in self.parameters]
        v = {
            p.name: np.asarray(a)[..., None]
            for p, a in zip(self.parameters, parameters_values, strict=True)
        }
        return self._eval(axis, v["A"], v["decay_length"], v["wall"])[0]

    def grad_A(self, x):
        return self._eval(x, 1.0, self.decay_length.value, self.wall.value)[1]

    def grad_decay_length(self, x):
        lam = self.decay_length.value
        if self.resolution > 0:
            h = 1e-6 * lam
            return (
                self._eval(x, self.A.value, lam + h, self.wall.value)[0]
                - self._eval(x, self.A.value, lam - h, self.wall.value)[0]
            ) / (2 * h)
        f, _, z = self._eval(x, self.A.value, lam, self.wall.value)
        return f * np.where(z >= 0, z, 0.0) / lam**2

    def grad_wall(self, x):
        lam = self.decay_length.value
        if self.resolution > 0:
            h = 1e-6 * max(lam, self.resolution)
            w = self.wall.value
            return (
                self._eval(x, self.A.value, lam, w + h)[0]
                - self._eval(x, self.A.value, lam, w - h)[0]
            ) / (2 * h)
        f = self._eval(x, self.A.value, lam, self.wall.value)[0]
        return f * self._sign / lam

    def estimate_parameters(self, signal, x1, x2, only_current=False):
        """Estimate ``A`` and ``decay_length`` over the layer (wall kept).

        The bulk level (farthest 20 % of the layer) is subtracted; ``A`` is
        the excess at the wall and ``lambda`` the excess area over ``A``
        (:func:`~hyperspy_perovskite.analysis.migration_estimates.estimate_accumulation`).

        Returns
        -------
        bool

        Examples
        --------
        >>> from hyperspy_perovskite.components import DriftDiffusionAccumulation
        >>> x = np.arange(0, 200.0, 0.5)
        >>> s = hs.signals.Signal1D(1 + 3 * np.exp(-x / 12))
        >>> s.axes_manager[-1].scale = 0.5
        >>> c = DriftDiffusionAccumulation(wall=0.0)
        >>> c.estimate_parameters(s, 0, 200, only_current=True)
        True
        >>> round(c.decay_length.value)
        12
        """
        super()._estimate_parameters(signal)
        x, data = profile_slice(signal, x1, x2, only_current)
        if only_current:
            est = estimate_accumulation(x, data, self.wall.value, self._sign)
            self.A.value = float(est[0])
            self.decay_length.value = float(est[1])
            return True
        if self.A.map is None:
            self._create_arrays()
        wall = (
            self.wall.map["values"]
            if self.wall.map["is_set"].all()
            else (np.full(self.wall.map.shape, self.wall.value))
        )
        est = estimate_accumulation(x, data, wall, self._sign)
        self.wall.map["values"][:] = wall
        self.wall.map["is_set"][:] = True
        for k, p in enumerate((self.A, self.decay_length)):
            p.map["values"][:] = est[..., k]
            p.map["is_set"][:] = True
        self.fetch_stored_values()
        return True

    def field_from_einstein(self, temperature=300.0, charge_number=1):
        """Field (V/m) that the Einstein relation predicts from ``lambda``.

        ``E = k_B T / (z q lambda)``: compare with the applied ``V / L`` to
        test the Einstein relation (a larger fitted ``lambda`` means a
        screened field or an enhanced ``D / mu``).

        Returns
        -------
        E, E_std : ndarray
            Navigation-shaped maps.
        """
        lam, lam_std = parameter_arrays(self.decay_length)
        lam_m = np.abs(lam) * axis_nm_factor(self) * 1e-9
        E = thermal_voltage(temperature, charge_number) / lam_m
        return E, E * lam_std / np.abs(lam)

    def diffusion_to_mobility(self, field):
        """``D / mu = lambda E`` in volts and its std, for an applied field (V/m).

        The Einstein relation predicts ``k_B T / (z q)`` (25.85 mV at 300 K,
        ``ELEMENTARY_CHARGE`` exact in the SI).

        Returns
        -------
        ratio, ratio_std : ndarray
        """
        E = float(field)
        if not np.isfinite(E) or E <= 0:
            raise ValueError(f"field must be a positive field in V/m, got {field!r}.")
        lam, lam_std = parameter_arrays(self.decay_length)
        f = axis_nm_factor(self) * 1e-9
        return np.abs(lam) * f * E, lam_std * f * E


def _blurred_unit(z, lam, sig):
    """``exp(-z/lam) H(z)`` convolved with a Gaussian of std ``sig``:
    ``1/2 exp(sig^2/(2 lam^2) - z/lam) erfc((sig/lam - z/sig)/sqrt(2))``
    (through ``erfcx`` where the exponential alone would overflow)."""
    from scipy.special import erfc, erfcx

    z = np.asarray(z, dtype=float)
    lam = np.asarray(lam, dtype=float)
    u = (sig / lam - z / sig) / np.sqrt(2.0)
    gauss = np.exp(-0.5 * z**2 / sig**2)
    with np.errstate(over="ignore", invalid="ignore"):
        neg = np.exp(0.5 * sig**2 / lam**2 - z / lam) * erfc(u)
    return 0.5 * np.where(u >= 0, gauss * erfcx(np.maximum(u, 0.0)), neg)


# --- compiled kernel (fast_multifit) ---


@njit(nogil=True, error_model="numpy")
def accumulation_kernel(x, P, o, grad, c):
    """``A exp(-z / decay_length)`` with ``z = side (x - wall) >= 0``, else 0,
    blurred by a Gaussian of std ``c[1]`` (axis units; 0: none);
    parameters (A, decay_length, wall), ``c[0]`` = side (+1 or -1)."""
    side = c[0]
    sig = c[1]
    z = side * (x - P[o + 2])
    lam = P[o + 1]
    if sig > 0.0:
        return _accumulation_blurred(z, P[o], lam, sig, side, grad, o)
    if z < 0.0:
        grad[o] = 0.0
        grad[o + 1] = 0.0
        grad[o + 2] = 0.0
        return 0.0
    e = math.exp(-z / lam)
    f = P[o] * e
    grad[o] = e
    grad[o + 1] = f * z / (lam * lam)
    grad[o + 2] = f * side / lam
    return f


@njit(nogil=True, error_model="numpy")
def _accumulation_blurred(z, A, lam, sig, side, grad, o):
    """``A exp(-z/lam) H(z)`` convolved with a Gaussian of std ``sig``:
    ``A/2 exp(sig^2/(2 lam^2) - z/lam) erfc((sig/lam - z/sig)/sqrt(2))``,
    evaluated through ``erfcx`` where the exponential alone would overflow."""
    u = (sig / lam - z / sig) / math.sqrt(2.0)
    gauss = math.exp(-0.5 * z * z / (sig * sig))  # E exp(-u^2)
    if u >= 0.0:
        eq = gauss * _erfcx(u)
    else:
        eq = math.exp(0.5 * sig * sig / (lam * lam) - z / lam) * math.erfc(u)
    d = 2.0 * _INV_SQRTPI * gauss  # E * 2/sqrt(pi) exp(-u^2)
    grad[o] = 0.5 * eq
    grad[o + 1] = (
        0.5
        * A
        * (
            eq * (z / (lam * lam) - sig * sig / (lam * lam * lam))
            + d * sig / (lam * lam * math.sqrt(2.0))
        )
    )
    dfdz = 0.5 * A * (-eq / lam + d / (sig * math.sqrt(2.0)))
    grad[o + 2] = -side * dfdz
    return 0.5 * A * eq


_INV_SQRTPI = 1.0 / math.sqrt(math.pi)


def _side_resolution(component):
    """(side, Gaussian blur std in axis units, 0: none)."""
    side = float(1 if component.side == "right" else -1)
    return (side, float(getattr(component, "resolution", 0.0) or 0.0))


register_kernel(
    DriftDiffusionAccumulation,
    accumulation_kernel,
    ("A", "decay_length", "wall"),
    constants=_side_resolution,
    proportional_to="A",
)
