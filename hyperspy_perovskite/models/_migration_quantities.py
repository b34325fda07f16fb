"""Physical quantities derived from a fitted migration model (private).

Used by :class:`hyperspy_perovskite.models.MigrationModel`:
lengths in nm, ``D`` (m^2/s), mobility (m^2/(V s)), decay length and the
Einstein ratio, with their standard deviations (the covariance of the fitted
lengths included where a quantity combines them).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from hyperspy_perovskite.components._profile_common import parameter_arrays

__all__ = ["MigrationQuantity", "derive_quantities"]


@dataclass
class MigrationQuantity:
    """A fitted or derived quantity: navigation-shaped value and std."""

    value: np.ndarray
    std: np.ndarray
    units: str
    description: str = ""

    def to_dict(self):
        v = np.asarray(self.value, dtype=float)
        s = np.asarray(self.std, dtype=float)
        if v.ndim == 0:
            return {"value": float(v), "std": float(s), "units": self.units}
        return {
            "mean": float(np.nanmean(v)),
            "std_of_values": float(np.nanstd(v)),
            "median_std": float(np.nanmedian(s)),
            "units": self.units,
        }


#: below this significance (sqrt of the chi-squared between the fitted
#: closed-layer transient and the steady state of the same decay length) a
#: profile is taken as steady: D and mu are not separately determined
_MIN_SIGNIFICANCE = 5.0
#: above this reduced chi-squared (Poisson or supplied variance) a closed-layer
#: transient fit is taken as a misfit: D and mu are not reported
_MAX_REDUCED_CHISQ = 4.0


def _transient_significance(s, comp, offset, x1, x2, wall, sgn, thickness):
    """``sqrt(sum(((transient - steady) / sigma)^2))`` over the fitted bins.

    The steady state has the fitted ``lambda = s^2 / (4 d)`` and the same
    mean level (:func:`~hyperspy_perovskite.analysis.drift_diffusion.steady_state_profile`).
    """
    from hyperspy_perovskite.analysis.drift_diffusion import (
        steady_state_profile,
        transient_profile_closed_layer,
    )
    from hyperspy_perovskite.components._profile_common import profile_slice

    var = s.metadata.get_item("Signal.Noise_properties.variance")
    xx, _ = profile_slice(s, x1, x2, False)
    z = sgn * (xx - wall)
    cb, _ = parameter_arrays(comp.c_bulk)
    d, _ = parameter_arrays(comp.drift_distance)
    sl, _ = parameter_arrays(comp.length)
    cb, d, sl = (np.asarray(a, dtype=float)[..., None] for a in (cb, d, sl))
    lam = np.where(d > 0, sl**2 / (4 * np.where(d > 0, d, 1.0)), np.inf)
    with np.errstate(invalid="ignore", over="ignore"):
        tr = transient_profile_closed_layer(
            z, np.nan_to_num(d), np.where(sl > 0, sl, 1.0), thickness
        )
        st = np.where(
            np.isfinite(lam),
            steady_state_profile(
                np.clip(z, 0, thickness),
                np.where(np.isfinite(lam) & (lam > 0), lam, 1.0),
                1.0,
                thickness,
            ),
            1.0,
        )
    if var is None:
        sigma2 = np.ones_like(tr)
    else:
        v = var.data if hasattr(var, "data") else var
        ax = s.axes_manager.signal_axes[0]
        i1, i2 = ax.value_range_to_indices(x1, x2)
        v = np.broadcast_to(np.asarray(v, dtype=float), s.data.shape)[..., i1:i2]
        sigma2 = np.asarray(v.compute() if hasattr(v, "compute") else v, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sqrt(np.sum((cb * (tr - st)) ** 2 / sigma2, axis=-1))


def _length_correlation(s, comp, offset, x1, x2):
    """Correlation of the fitted ``drift_distance`` and ``length`` per profile.

    From the weighted Jacobian of the model at the fitted values over the
    fitted channels (the component's analytic derivatives,
    ``DriftDiffusionTransient._jacobian_nd``), ``(J^T W J)^-1``
    with the free parameters ``c_bulk``, ``drift_distance``, ``length`` (and
    the ``Offset``).
    """
    from hyperspy_perovskite.components._profile_common import profile_slice

    xx, _ = profile_slice(s, x1, x2, False)
    names = [p.name for p in comp.parameters]
    vals = {
        n: np.asarray(parameter_arrays(p)[0], float)
        for n, p in zip(names, comp.parameters, strict=True)
    }
    nav = np.shape(vals["length"])

    def f(v):
        if nav == ():
            saved = {n: p.value for n, p in zip(names, comp.parameters, strict=True)}
            for n, p in zip(names, comp.parameters, strict=True):
                p.value = float(v[n])
            try:
                return comp.function(xx)
            finally:
                for n, p in zip(names, comp.parameters, strict=True):
                    p.value = saved[n]
        return comp.function_nd(xx, [v[n] for n in names])

    if hasattr(comp, "_jacobian_nd"):  # analytic: one pass over the profile
        J = comp._jacobian_nd(xx, vals)
        if nav == ():
            J = J.reshape(np.shape(xx) + (3,))
        cols = [J[..., i] for i in range(3)]
    else:
        cols = []
        for n in ("c_bulk", "drift_distance", "length"):
            h = 1e-6 * np.maximum(np.abs(vals[n]), 1e-3)
            up, dn = dict(vals), dict(vals)
            up[n], dn[n] = vals[n] + h, vals[n] - h
            hh = np.asarray(h)[..., None] if nav else h
            cols.append((f(up) - f(dn)) / (2 * hh))
    if offset is not None:
        cols.append(np.ones_like(cols[0]))
    J = np.stack(cols, axis=-1)  # (..., n_channels, n_params)
    var = s.metadata.get_item("Signal.Noise_properties.variance")
    if var is None:
        w = np.ones(J.shape[:-1])
    else:
        v = var.data if hasattr(var, "data") else var
        ax = s.axes_manager.signal_axes[0]
        i1, i2 = ax.value_range_to_indices(x1, x2)
        v = np.broadcast_to(np.asarray(v, dtype=float), s.data.shape)[..., i1:i2]
        v = np.asarray(v.compute() if hasattr(v, "compute") else v, float)
        w = 1.0 / np.maximum(v, 1e-300)
    A = np.einsum("...ci,...c,...cj->...ij", J, w, J)
    with np.errstate(invalid="ignore", divide="ignore"):
        try:
            cov = np.linalg.inv(A)
        except np.linalg.LinAlgError:
            return np.zeros(nav)
        rho = cov[..., 1, 2] / np.sqrt(cov[..., 1, 1] * cov[..., 2, 2])
    return np.nan_to_num(rho)


def derive_quantities(
    kind, comp, offset, s, nm, field, D_known, vt, t, closed, rng, conv, redchi
):
    """``{name: MigrationQuantity}`` of a fitted model of ``kind``."""
    q = {}

    def nmq(param, name, desc):
        v, e = parameter_arrays(param)
        q[name] = MigrationQuantity(v * nm, e * nm, "nm", desc)
        return v * nm, e * nm

    if kind == "steady":
        _steady(q, nmq, comp, field, D_known, vt)
    elif kind == "transient":
        _transient(q, nmq, comp, offset, s, rng, closed, t, field, vt, conv, redchi)
    else:
        _interdiffusion(q, nmq, comp, t)
    return q


def _steady(q, nmq, comp, field, D_known, vt):
    lam, lam_e = nmq(comp.decay_length, "decay_length", "lambda = D / (mu E)")
    A, A_e = parameter_arrays(comp.A)
    q["amplitude"] = MigrationQuantity(A, A_e, "", "excess at the wall")
    q["accumulated"] = MigrationQuantity(
        A * lam,
        np.sqrt((A_e * lam) ** 2 + (A * lam_e) ** 2),
        "x nm",
        "excess ions per unit area: A lambda",
    )
    E_eff = vt / (lam * 1e-9)
    q["effective_field"] = MigrationQuantity(
        E_eff, E_eff * lam_e / lam, "V/m", "k_B T / (z q lambda), Einstein assumed"
    )
    if field is not None and D_known is not None:
        mu = D_known / (lam * 1e-9 * field)
        q["mobility"] = MigrationQuantity(
            mu, mu * lam_e / lam, "m^2/(V s)", "D / (lambda E), D given"
        )
    if field is not None:
        ratio = lam * 1e-9 * field
        ratio_e = lam_e * 1e-9 * field
        q["D_over_mu"] = MigrationQuantity(ratio, ratio_e, "V", "lambda E")
        q["einstein_ratio"] = MigrationQuantity(
            ratio / vt, ratio_e / vt, "", "(D/mu) / (k_B T / z q)"
        )
        q["decay_length_einstein"] = MigrationQuantity(
            np.asarray(vt / field / 1e-9), np.asarray(0.0), "nm", "k_B T / (z q E)"
        )


def _transient(q, nmq, comp, offset, s, rng, closed, t, field, vt, conv, redchi):
    x1, x2, wall, sgn = rng
    d, d_e = nmq(comp.drift_distance, "drift_distance", "mu E t")
    sl, sl_e = nmq(comp.length, "length", "2 sqrt(D t)")
    cb, cb_e = parameter_arrays(comp.c_bulk)
    q["c_bulk"] = MigrationQuantity(
        cb, cb_e, "", "mean mobile level" if closed else "far-field level"
    )
    if offset is not None:
        o, o_e = parameter_arrays(offset.offset)
        q["offset"] = MigrationQuantity(o, o_e, "", "immobile part + background")
    tt = np.where(t > 0, t, np.nan)
    if closed is not None:
        sig = _transient_significance(s, comp, offset, x1, x2, wall, sgn, closed)
        q["transient_significance"] = MigrationQuantity(
            sig, np.zeros_like(sig), "", "sqrt(chi2 of steady vs transient)"
        )
        # a profile indistinguishable from the steady state (same lambda)
        # fixes lambda = s^2 / (4 d) but not d and s: D and mu undetermined
        steady = ~(sig >= _MIN_SIGNIFICANCE)
        # a profile the model does not describe (e.g. a Pb-rich cluster
        # in the accumulation layer) mimics a transient: no D and mu
        misfit = np.asarray(redchi > _MAX_REDUCED_CHISQ) & conv
        if np.any(misfit):
            warnings.warn(
                f"{int(np.sum(misfit))} profile(s) are not described by "
                f"drift-diffusion (reduced chi-squared > {_MAX_REDUCED_CHISQ:g}"
                "): D and mu are NaN there. Check the band for Pb-rich "
                "clusters or other layers, and the noise variance.",
                UserWarning,
                stacklevel=4,
            )
        steady = steady | misfit
        n_steady = int(np.sum(steady & ~misfit & conv & (t > 0)))
        if n_steady:
            warnings.warn(
                f"{n_steady} profile(s) are indistinguishable from the "
                "steady state (transient_significance < "
                f"{_MIN_SIGNIFICANCE:g}): they fix lambda = D / (mu E) but "
                "not D and mu, which are NaN there. Use profiles taken "
                "before the depletion front crossed the layer (t < L / "
                "(mu E)), or kind='steady'.",
                UserWarning,
                stacklevel=4,
            )
        sl_e = np.where(steady, np.nan, sl_e)
        d_e = np.where(steady, np.nan, d_e)
        tt = np.where(steady, np.nan, tt)
    D = (sl * 1e-9) ** 2 / (4 * tt)
    D_e = 2 * D * sl_e / sl
    q["D"] = MigrationQuantity(D, D_e, "m^2/s", "s^2 / (4 t)")
    v = d * 1e-9 / tt
    q["velocity"] = MigrationQuantity(v, d_e * 1e-9 / tt, "m/s", "d / t")
    lam = np.where(d > 0, sl**2 / (4 * np.where(d > 0, d, 1)), np.inf)
    # lambda = s^2 / (4 d): the fitted s and d are correlated
    rho = _length_correlation(s, comp, offset, x1, x2)
    rs, rd = 2 * sl_e / sl, d_e / np.where(d > 0, d, 1)
    lam_e = lam * np.sqrt(np.maximum(rs**2 + rd**2 - 2 * rho * rs * rd, 0.0))
    q["decay_length"] = MigrationQuantity(
        lam, lam_e, "nm", "D / v (covariance of s and d included)"
    )
    if field is not None:
        mu = v / field
        mu_e = d_e * 1e-9 / tt / field
        q["mobility"] = MigrationQuantity(mu, mu_e, "m^2/(V s)", "d / (E t)")
        ratio = lam * 1e-9 * field
        q["D_over_mu"] = MigrationQuantity(ratio, lam_e * 1e-9 * field, "V", "D / mu")
        q["einstein_ratio"] = MigrationQuantity(
            ratio / vt, lam_e * 1e-9 * field / vt, "", "(D/mu) / (k_B T / z q)"
        )
        q["D_einstein"] = MigrationQuantity(
            mu * vt, mu_e * vt, "m^2/s", "mu k_B T / (z q)"
        )


def _interdiffusion(q, nmq, comp, t):
    L, L_e = nmq(comp.length, "length", "2 sqrt(D t)")
    nmq(comp.centre, "interface", "interface position")
    cl, cl_e = parameter_arrays(comp.c_left)
    cr, cr_e = parameter_arrays(comp.c_right)
    q["c_left"] = MigrationQuantity(cl, cl_e, "", "far left level")
    q["c_right"] = MigrationQuantity(cr, cr_e, "", "far right level")
    if t is not None:
        tt = np.where(t > 0, t, np.nan)
        D = (L * 1e-9) ** 2 / (4 * tt)
        q["D"] = MigrationQuantity(D, 2 * D * L_e / L, "m^2/s", "L^2 / (4 t)")
