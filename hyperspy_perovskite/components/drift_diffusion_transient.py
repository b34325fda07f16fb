"""Transient drift-diffusion accumulation at a blocking electrode."""

import numpy as np
from hyperspy.component import Component
from numba import njit

from hyperspy_perovskite._numba_cache import njit_cached
from hyperspy_perovskite.analysis._drift_diffusion_numba import (
    _smoluchowski,
    blurred_transient_point,
    blurred_transient_values,
    closed_layer_point,
    transient_gradients,
)
from hyperspy_perovskite.analysis.drift_diffusion import (
    diffusion_coefficient_from_length,
    transient_profile_closed_layer,
    transient_profile_semi_infinite,
)
from hyperspy_perovskite.analysis.migration_estimates import estimate_transient
from hyperspy_perovskite.components._profile_common import (
    axis_nm_factor,
    optional_time,
    parameter_arrays,
    profile_slice,
    side_sign,
)
from hyperspy_perovskite.fitting.registry import register_kernel

__all__ = ["DriftDiffusionTransient"]


def _thickness(thickness):
    if thickness is None:
        return None
    L = float(thickness)
    if not np.isfinite(L) or L <= 0:
        raise ValueError(
            f"thickness must be a positive layer thickness in the axis unit, or "
            f"None for a semi-infinite layer, got {thickness!r}."
        )
    return L


class DriftDiffusionTransient(Component):
    r"""Ion profile a time ``t`` after a field drives ions towards a blocking wall.

    .. math::

        \frac{c}{c_b} = \tfrac12\mathrm{erfc}\left(-\frac{z + d}{s}\right)
        + e^{-4zd/s^2}\left[\tfrac12\mathrm{erfc}\left(\frac{z - d}{s}\right)
        + \frac{2d}{s}\,\mathrm{ierfc}\left(\frac{z - d}{s}\right)\right]

    for ``z = +-(x - x_w) >= 0`` (0 inside the electrode), with the drift
    distance ``d = mu E t`` and the diffusion length ``s = 2 sqrt(D t)``: the
    closed-form solution for a semi-infinite layer with a reflecting wall and
    a uniform initial concentration
    (:func:`~hyperspy_perovskite.analysis.drift_diffusion.transient_profile_semi_infinite`,
    which documents the derivation). Given the bias time ``t`` and the field
    ``E``, a fit yields ``D = s^2 / (4 t)`` and ``mu = d / (E t)`` separately,
    so the Einstein relation ``D / mu = k_B T / (z q)`` can be tested.
    Valid while the accumulation is thin compared with the layer.

    With ``thickness=L`` the layer is closed by a second blocking electrode
    at ``z = L`` (a real device layer: the ions cannot leave it), and the
    exact closed-layer solution is used
    (:func:`~hyperspy_perovskite.analysis.drift_diffusion.transient_profile_closed_layer`:
    eigenfunction series of the Mason-Weaver problem, or the two
    semi-infinite solutions while the accumulation and the far-wall
    depletion do not overlap); ``c_bulk`` is then the mean (initial)
    concentration of the layer and the component is 0 beyond ``z = L``.
    Once the profile reaches its steady state (``d`` well above ``L``)
    only ``lambda = s^2 / (4 d)`` is determined, not ``d`` and ``s``
    separately: use profiles taken before the depletion front crosses the
    layer.

    ================ ===============
    Variable          Parameter
    ================ ===============
    :math:`c_b`       c_bulk
    :math:`d`         drift_distance
    :math:`s`         length
    :math:`x_w`       wall
    ================ ===============

    Parameters
    ----------
    c_bulk : float
        Initial (far-field) concentration (linear).
    drift_distance : float
        ``d = mu E t`` in the axis unit (>= 0).
    length : float
        ``s = 2 sqrt(D t)`` in the axis unit (> 0).
    wall : float
        Electrode position in the axis unit (fixed by default).
    side : {"right", "left"}
        The layer is at ``x > wall`` ("right") or ``x < wall`` ("left").
    time : float or None
        Bias duration in s, used by :meth:`diffusion_coefficient` and
        :meth:`mobility`.
    thickness : float or None
        Thickness of a closed layer in the axis unit (> 0), or ``None`` for a
        semi-infinite layer.
    resolution : float
        Standard deviation (axis unit) of a Gaussian blur of the measured
        profile (probe size, interface roughness), fixed: the profile (0
        inside the electrodes) is convolved with it
        (:func:`~hyperspy_perovskite.analysis._drift_diffusion_numba.blurred_transient_point`,
        Gauss-Legendre quadrature, relative error < 1e-8), so it spills past
        the walls as a measured one does. 0: none. ``side``, ``time``,
        ``thickness`` and ``resolution`` are saved with the model.

    Examples
    --------
    >>> from hyperspy_perovskite.components import DriftDiffusionTransient
    >>> c = DriftDiffusionTransient(c_bulk=1.0, drift_distance=5.0, length=10.0)
    >>> np.round(c.function(np.array([-1.0, 0.0, 100.0])), 3)
    array([0.  , 2.72, 1.  ])
    """

    def __init__(
        self,
        c_bulk=1.0,
        drift_distance=1.0,
        length=10.0,
        wall=0.0,
        side="right",
        time=None,
        thickness=None,
        resolution=0.0,
        **kwargs,
    ):
        Component.__init__(
            self, ("c_bulk", "drift_distance", "length", "wall"), ["c_bulk"], **kwargs
        )
        self._id_name = "DriftDiffusionTransient"
        self.name = "DriftDiffusionTransient"
        self.side = "right" if side_sign(side) == 1 else "left"
        self.time = optional_time(time)
        self._whitelist["side"] = ("init", self.side)
        self._whitelist["time"] = ("init", self.time)
        self.thickness = _thickness(thickness)
        self._whitelist["thickness"] = ("init", self.thickness)
        r = float(resolution or 0.0)
        if not (np.isfinite(r) and r >= 0):
            raise ValueError(
                "resolution is a Gaussian std in the axis unit (>= 0), got "
                f"{resolution!r}."
            )
        self.resolution = r
        self._whitelist["resolution"] = ("init", r)
        self.c_bulk.value = c_bulk
        self.drift_distance.value = drift_distance
        self.length.value = length
        self.wall.value = wall
        self.c_bulk.bmin = 0.0
        self.drift_distance.bmin = 0.0
        self.length.bmin = 1e-3
        self.wall.free = False
        self._position = self.wall
        self.isbackground = False
        self.convolved = True

    @property
    def _sign(self):
        return side_sign(self.side)

    def _profile(self, z, d, s, cb):
        z, d, s, cb = np.broadcast_arrays(
            *(np.asarray(a, float) for a in (z, d, s, cb))
        )
        # unset (NaN) parameters of unconverged pixels give NaN, not an error
        ok = np.isfinite(d) & np.isfinite(s) & np.isfinite(cb) & (d >= 0) & (s > 0)
        if not np.all(ok):
            d, s, cb = np.where(ok, d, 1.0), np.where(ok, s, 1.0), np.where(ok, cb, 0.0)
        if self.resolution > 0:
            L = 0.0 if self.thickness is None else float(self.thickness)
            g = blurred_transient_values(
                *(np.ascontiguousarray(a).ravel() for a in (z, d, s)),
                L,
                self.resolution,
            ).reshape(z.shape)
            out = cb * g
        elif self.thickness is None:
            out = transient_profile_semi_infinite(z, d, s, cb)
        else:
            out = transient_profile_closed_layer(z, d, s, self.thickness, cb)
        return np.where(ok, out, np.nan) if not np.all(ok) else out

    def function(self, x):
        z = self._sign * (np.asarray(x, dtype=float) - self.wall.value)
        return self._profile(
            z, self.drift_distance.value, self.length.value, self.c_bulk.value
        )

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
        z = self._sign * (np.asarray(axis, dtype=float) - v["wall"])
        return self._profile(z, v["drift_distance"], v["length"], v["c_bulk"])

    def _jacobian_nd(self, axis, values):
        """d(component)/d(c_bulk, drift_distance, length) over ``axis``.

        ``values``: dict of parameter arrays (navigation shape); returns an
        array ``(..., n_channels, 3)`` from the closed forms' derivatives
        (blurred when ``resolution > 0``), in one pass.
        """
        v = {k: np.asarray(a, float)[..., None] for k, a in values.items()}
        z = self._sign * (np.asarray(axis, dtype=float) - v["wall"])
        z, d, s, cb = np.broadcast_arrays(
            z, v["drift_distance"], v["length"], v["c_bulk"]
        )
        L = 0.0 if self.thickness is None else float(self.thickness)
        flat = [np.ascontiguousarray(a, dtype=float).ravel() for a in (z, d, s)]
        g = transient_gradients(*flat, L, float(self.resolution))
        g = g.reshape(z.shape + (3,))
        return np.stack([g[..., 0], cb * g[..., 1], cb * g[..., 2]], axis=-1)

    def _grads(self, x):
        P = np.array(
            [
                self.c_bulk.value,
                self.drift_distance.value,
                self.length.value,
                self.wall.value,
            ],
            dtype=float,
        )
        L = 0.0 if self.thickness is None else float(self.thickness)
        x = np.asarray(x, dtype=float)
        return transient_array(x, P, float(self._sign), L, self.resolution)[1]

    def grad_c_bulk(self, x):
        return self._grads(x)[:, 0]

    def grad_drift_distance(self, x):
        return self._grads(x)[:, 1]

    def grad_length(self, x):
        return self._grads(x)[:, 2]

    def grad_wall(self, x):
        return self._grads(x)[:, 3]

    def estimate_parameters(self, signal, x1, x2, only_current=False):
        """Estimate ``c_bulk``, ``drift_distance``, ``length`` (wall kept).

        See :func:`~hyperspy_perovskite.analysis.migration_estimates.estimate_transient`.

        Returns
        -------
        bool

        Examples
        --------
        >>> from hyperspy_perovskite.components import DriftDiffusionTransient
        >>> c0 = DriftDiffusionTransient(c_bulk=2.0, drift_distance=6.0, length=15.0)
        >>> s = hs.signals.Signal1D(c0.function(np.arange(0, 300.0, 0.5)))
        >>> s.axes_manager[-1].scale = 0.5
        >>> c = DriftDiffusionTransient()
        >>> c.estimate_parameters(s, 0, 300, only_current=True)
        True
        >>> round(c.drift_distance.value, 1)
        6.0
        """
        super()._estimate_parameters(signal)
        x, data = profile_slice(signal, x1, x2, only_current)
        params = (self.c_bulk, self.drift_distance, self.length)
        if only_current:
            est = estimate_transient(x, data, self.wall.value, self._sign)
            for p, v in zip(params, est, strict=True):
                p.value = float(v)
            return True
        if self.c_bulk.map is None:
            self._create_arrays()
        wall = (
            self.wall.map["values"]
            if self.wall.map["is_set"].all()
            else np.full(self.wall.map.shape, self.wall.value)
        )
        est = estimate_transient(x, data, wall, self._sign)
        self.wall.map["values"][:] = wall
        self.wall.map["is_set"][:] = True
        for k, p in enumerate(params):
            p.map["values"][:] = est[..., k]
            p.map["is_set"][:] = True
        self.fetch_stored_values()
        return True

    def diffusion_coefficient(self, time=None):
        """``D = s^2 / (4 t)`` in m^2/s and its std (navigation maps)."""
        t = optional_time(self.time if time is None else time, required=True)
        s, s_std = parameter_arrays(self.length)
        D = diffusion_coefficient_from_length(np.abs(s) * axis_nm_factor(self), t)
        return D, 2.0 * D * s_std / np.abs(s)

    def mobility(self, field, time=None):
        """``mu = d / (E t)`` in m^2/(V s) and its std, for a field ``E`` (V/m)."""
        t = optional_time(self.time if time is None else time, required=True)
        E = float(field)
        if not np.isfinite(E) or E <= 0:
            raise ValueError(f"field must be a positive field in V/m, got {field!r}.")
        d, d_std = parameter_arrays(self.drift_distance)
        f = axis_nm_factor(self) * 1e-9 / (E * t)
        return d * f, d_std * f


# --- compiled kernel (fast_multifit) ---


@njit(nogil=True, error_model="numpy")
def transient_kernel(x, P, o, grad, c):
    """Drift-diffusion transient at a blocking wall.

    Parameters (c_bulk, drift_distance, length, wall); ``c[0]`` = side,
    ``c[1]`` = layer thickness ``L`` (axis units) of a closed layer, or 0 for
    a semi-infinite layer; ``c[2]`` = std of a Gaussian blur (axis units,
    :func:`blurred_transient_point`; 0: none). Semi-infinite: ``c_bulk [1/2 erfc(-(z + d)/s) +
    exp(-4 z d / s^2) (1/2 erfc(a) + 2 d / s ierfc(a))]`` with ``a = (z -
    d)/s``, ``z = side (x - wall)``; closed layer: :func:`closed_layer_point`
    (``c_bulk`` is then the mean, i.e. initial, concentration). 0 inside the
    electrode(s).
    """
    side = c[0]
    L = c[1]
    cb = P[o]
    d = P[o + 1]
    s = P[o + 2]
    z = side * (x - P[o + 3])
    if c[2] > 0.0:
        g, g_z, g_d, g_s = blurred_transient_point(z, d, s, L, c[2])
        grad[o] = g
        grad[o + 1] = cb * g_d
        grad[o + 2] = cb * g_s
        grad[o + 3] = -side * cb * g_z
        return cb * g
    if z < 0.0 or (L > 0.0 and z > L):
        grad[o] = 0.0
        grad[o + 1] = 0.0
        grad[o + 2] = 0.0
        grad[o + 3] = 0.0
        return 0.0
    if L > 0.0:
        g, g_z, g_d, g_s = closed_layer_point(z, d, s, L)
    else:
        g, g_z, g_d, g_s = _smoluchowski(z, d, s)
    grad[o] = g
    grad[o + 1] = cb * g_d
    grad[o + 2] = cb * g_s
    grad[o + 3] = -side * cb * g_z
    return cb * g


@njit_cached(nogil=True, error_model="numpy")
def transient_array(x, P, side, thickness=0.0, resolution=0.0):
    """:func:`transient` over an array ``x``: values and ``(n, 4)`` gradients.

    ``thickness``: closed-layer thickness (axis units), 0 for semi-infinite;
    ``resolution``: Gaussian blur std (axis units), 0 for none.

    Used by :class:`~hyperspy_perovskite.components.DriftDiffusionTransient`
    for its analytical gradients (one home for the derivatives).
    """
    n = x.shape[0]
    f = np.empty(n)
    g = np.empty((n, 4))
    grad = np.zeros(4)
    c = np.array([side, thickness, resolution, 0.0])
    for i in range(n):
        f[i] = transient_kernel(x[i], P, 0, grad, c)
        g[i, :] = grad
    return f, g


def _side_thickness(component):
    """(side, closed-layer thickness in axis units or 0 for a semi-infinite
    layer, Gaussian blur std in axis units or 0 for none)."""
    L = getattr(component, "thickness", None)
    return (
        float(1 if component.side == "right" else -1),
        0.0 if L is None else float(L),
        float(getattr(component, "resolution", 0.0) or 0.0),
    )


register_kernel(
    DriftDiffusionTransient,
    transient_kernel,
    ("c_bulk", "drift_distance", "length", "wall"),
    constants=_side_thickness,
    proportional_to="c_bulk",
)
