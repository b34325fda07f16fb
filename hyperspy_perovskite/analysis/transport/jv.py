"""Figures of merit of J-V curves, the single-diode equation and hysteresis.

Conventions (used throughout the suite): photocurrent POSITIVE (the
"generator" convention: ``J > 0`` between short and open circuit under light),
voltage ``V`` in V, current density ``J`` in mA/cm², power density in mW/cm²,
series and shunt resistances in Ω cm² (area-normalised), conductances in
mS/cm². Incident irradiance defaults to AM1.5G, 100 mW/cm² (the reference
spectrum of ASTM G173-03 and IEC 60904-3), as in the J-V measurements of
"Imaging real-time amorphization of hybrid perovskite solar cells under
electrical biasing".

Functions here work on numpy or dask arrays of curves sharing one ascending
voltage axis (the last axis); dask arrays are processed chunk by chunk with
:func:`dask.array.map_blocks` through the same compiled code
(:mod:`hyperspy_perovskite.analysis.transport._jv_local`).
"""

from __future__ import annotations

import dask.array as da
import numpy as np
import scipy.constants as const
from scipy.special import lambertw

from hyperspy_perovskite.analysis.transport import _jv_local as _local
from hyperspy_perovskite.analysis.transport._jv_local import FOM_FIELDS, REASONS

__all__ = [
    "AM15G_IRRADIANCE",
    "FOM_FIELDS",
    "REASONS",
    "assemble_figures_of_merit",
    "estimate_single_diode",
    "figures_of_merit",
    "hysteresis_index",
    "lambertw_exp",
    "raw_figures_of_merit",
    "single_diode_current",
    "thermal_voltage",
]

#: Irradiance of the AM1.5G reference spectrum, mW/cm² (ASTM G173-03;
#: IEC 60904-3).
AM15G_IRRADIANCE = 100.0


def thermal_voltage(temperature=298.15):
    """``k T / q`` in V at ``temperature`` (K), CODATA via :mod:`scipy.constants`.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.transport.jv import thermal_voltage
    >>> round(thermal_voltage(300.0), 5)
    0.02585
    """
    return const.k * float(temperature) / const.e


def lambertw_exp(x):
    """Principal branch ``W(exp(x))`` without forming ``exp(x)``.

    For ``x <= 500`` scipy's :func:`scipy.special.lambertw` of ``exp(x)``;
    above, Halley iterations on ``w + ln w = x`` (``exp(x)`` would overflow).

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.transport.jv import lambertw_exp
    >>> w = lambertw_exp(np.array([0.0, 1000.0]))
    >>> round(float(w[0]), 6), bool(abs(w[1] + np.log(w[1]) - 1000.0) < 1e-9)
    (0.567143, True)
    """
    x = np.asarray(x, dtype=float)
    out = np.empty_like(x)
    small = x <= 500.0
    out[small] = lambertw(np.exp(x[small])).real
    xb = x[~small]
    w = xb - np.log(xb)
    for _ in range(6):
        f = w + np.log(w) - xb
        d1 = 1.0 + 1.0 / w
        d2 = -1.0 / (w * w)
        w = w - f / (d1 - f * d2 / (2.0 * d1))
    out[~small] = w
    return out


def single_diode_current(voltage, jph, j0, n, rs, rsh, temperature=298.15):
    """Exact single-diode current density by the Lambert W function.

    Solves ``J = Jph - J0 (exp((V + J Rs)/(n Vt)) - 1) - (V + J Rs)/Rsh``
    explicitly (A. Jain, A. Kapoor, Sol. Energy Mater. Sol. Cells 81, 269
    (2004)); the argument of W is handled in the log domain
    (:func:`lambertw_exp`), so no overflow at large forward bias.

    Parameters
    ----------
    voltage : array-like
        V.
    jph, j0 : float or array
        Photocurrent and saturation current densities, mA/cm².
    n : float or array
        Ideality factor.
    rs, rsh : float or array
        Series and shunt resistance, Ω cm² (``rs = 0`` allowed).
    temperature : float
        K.

    Returns
    -------
    numpy.ndarray
        mA/cm², photocurrent positive.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.transport.jv import single_diode_current
    >>> J = single_diode_current([0.0, 0.5], 23.6, 2.4e-10, 1.6, 3.3, 3000.0)
    >>> np.round(J, 3)
    array([23.574, 23.407])
    """
    V = np.asarray(voltage, dtype=float)
    a = n * thermal_voltage(temperature)
    r_s = np.asarray(rs, dtype=float) * 1e-3  # V per (mA/cm²)
    r_sh = np.asarray(rsh, dtype=float) * 1e-3
    V, a, r_s, r_sh, jph, j0 = np.broadcast_arrays(V, a, r_s, r_sh, jph, j0)
    out = np.empty(V.shape)
    zero = r_s <= 0.0
    out[zero] = (
        jph[zero] - j0[zero] * np.expm1(V[zero] / a[zero]) - V[zero] / r_sh[zero]
    )
    k = ~zero
    rs_, rsh_, a_, jl, i0, v = r_s[k], r_sh[k], a[k], jph[k], j0[k], V[k]
    tot = rs_ + rsh_
    ln_theta = np.log(rs_ * rsh_ * i0 / (a_ * tot)) + rsh_ * (rs_ * (jl + i0) + v) / (
        a_ * tot
    )
    out[k] = (rsh_ * (jl + i0) - v) / tot - a_ / rs_ * lambertw_exp(ln_theta)
    return out


def _fom_numpy(J, V, sigma, sc_range, oc_fraction, mpp_fraction, min_points):
    shape = J.shape[:-1]
    J2 = np.ascontiguousarray(J, dtype=float).reshape(-1, J.shape[-1])
    sig = np.broadcast_to(np.asarray(sigma, dtype=float), shape).reshape(-1)
    out = _local.fom_block(
        V, J2, np.ascontiguousarray(sig), float(sc_range[0]), float(sc_range[1]),
        float(oc_fraction), float(mpp_fraction), int(min_points),
    )  # fmt: skip
    return out.reshape(shape + (len(FOM_FIELDS),))


def figures_of_merit(
    voltage,
    current_density,
    *,
    sigma=None,
    irradiance=AM15G_IRRADIANCE,
    sc_range=(-0.25, 0.3),
    oc_fraction=0.1,
    mpp_fraction=0.02,
    min_points=5,
):
    """Jsc, Voc, maximum-power point, FF, PCE and slope conductances, with std.

    Each number comes from a local least-squares fit (see
    :mod:`hyperspy_perovskite.analysis.transport._jv_local`): a straight line
    around ``V = 0`` (Jsc and the short-circuit slope conductance ``g_sc``,
    i.e. ``1 / R_sh`` from the slope), a quadratic around ``J = 0`` (Voc and
    ``g_oc``, i.e. ``1 / R_s`` from the slope) and a quadratic of ``P = V J``
    around its maximum (Pmax, Vmp). Standard deviations propagate the noise
    of the current density through each fit; FF and PCE combine them.

    Parameters
    ----------
    voltage : array-like, 1D
        Ascending voltages, V (the signal axis).
    current_density : numpy.ndarray or dask.array.Array
        Curves on the last axis, mA/cm², photocurrent positive.
    sigma : float, array or None
        Noise std of the current density, mA/cm² (per curve, broadcast over
        the navigation shape). None: pooled from the fit residuals.
    irradiance : float or None
        Incident power density, mW/cm², for PCE (None: PCE not computed).
    sc_range : (float, float)
        Voltage range of the short-circuit line, in fractions of Voc.
    oc_fraction : float
        Open-circuit window: points with ``|J| <= oc_fraction * Jsc``.
    mpp_fraction : float
        Maximum-power window: points with ``P >= (1 - mpp_fraction) Pmax``.
    min_points : int
        Smallest number of points of the Voc and Pmax fits.

    Returns
    -------
    dict
        Arrays with the navigation shape: ``jsc`` (mA/cm²), ``voc`` (V),
        ``pmax`` (mW/cm²), ``vmp`` (V), ``jmp`` (mA/cm²), ``ff`` (%),
        ``pce`` (%), ``g_sc``, ``g_oc`` (mS/cm²), ``r_sc``, ``r_oc``
        (Ω cm², ``1000 / g``), each with ``*_std``; ``sigma`` (the noise
        used) and ``reasons`` (uint32 bit flags, :data:`REASONS`). Lazy in,
        lazy out.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.transport.jv import (
    ...     figures_of_merit, single_diode_current)
    >>> v = np.linspace(-0.1, 1.2, 261)
    >>> J = single_diode_current(v, 23.6, 2.4e-10, 1.6, 3.3, 3000.0)
    >>> f = figures_of_merit(v, J, sigma=0.02)
    >>> round(float(f["jsc"]), 2), round(float(f["voc"]), 3), round(float(f["ff"]), 1)
    (23.57, 1.04, 76.2)
    """
    raw = raw_figures_of_merit(
        voltage, current_density, sigma=sigma, sc_range=sc_range,
        oc_fraction=oc_fraction, mpp_fraction=mpp_fraction, min_points=min_points,
    )  # fmt: skip
    return assemble_figures_of_merit(raw, irradiance)


def raw_figures_of_merit(
    voltage,
    current_density,
    *,
    sigma=None,
    sc_range=(-0.25, 0.3),
    oc_fraction=0.1,
    mpp_fraction=0.02,
    min_points=5,
):
    """The compiled local fits as one array ``(..., len(FOM_FIELDS))``.

    Same arguments as :func:`figures_of_merit`; lazy (dask) in, lazy out, so
    that a lazy stack is computed once. :func:`assemble_figures_of_merit`
    turns it into named values.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.transport.jv import raw_figures_of_merit
    >>> v = np.linspace(-0.1, 1.2, 27)
    >>> raw_figures_of_merit(v, np.linspace(20, -5, 27)[None]).shape
    (1, 17)
    """
    V = np.ascontiguousarray(voltage, dtype=float)
    if V.ndim != 1 or V.size != current_density.shape[-1]:
        raise ValueError(
            f"voltage must be 1D with {current_density.shape[-1]} values (the last "
            f"axis of current_density), got shape {V.shape}."
        )
    if np.any(np.diff(V) <= 0):
        raise ValueError(
            "The voltage axis must increase strictly (sort each scan by voltage; "
            "the scan direction is kept separately)."
        )
    sig = np.nan if sigma is None else sigma
    args = (V, sig, sc_range, oc_fraction, mpp_fraction, min_points)
    if isinstance(current_density, da.Array):
        if np.ndim(sig) > 0:
            raise ValueError("A per-curve sigma array is not supported for dask input.")
        J = current_density.rechunk({current_density.ndim - 1: -1})
        return da.map_blocks(
            lambda b: _fom_numpy(b, *args),
            J,
            chunks=J.chunks[:-1] + ((len(FOM_FIELDS),),),
            dtype=float,
        )
    return _fom_numpy(np.asarray(current_density), *args)


def assemble_figures_of_merit(raw, irradiance):
    """Named values (see :func:`figures_of_merit`) from :func:`raw_figures_of_merit`."""
    out = {name: raw[..., i] for i, name in enumerate(FOM_FIELDS)}
    out["reasons"] = out["reasons"].astype(np.uint32)
    with np.errstate(divide="ignore", invalid="ignore"):
        for kind in ("sc", "oc"):
            g, gs = out[f"g_{kind}"], out[f"g_{kind}_std"]
            out[f"r_{kind}"] = 1e3 / g
            out[f"r_{kind}_std"] = 1e3 * gs / g**2
        if irradiance is None:
            out["pce"] = out["pce_std"] = out["pmax"] * np.nan
        else:
            out["pce"] = 100.0 * out["pmax"] / irradiance
            out["pce_std"] = 100.0 * out["pmax_std"] / irradiance
    return out


def hysteresis_index(
    pce_reverse, pce_forward, pce_reverse_std=0.0, pce_forward_std=0.0
):
    """Hysteresis index ``HI = (PCE_reverse - PCE_forward) / PCE_reverse``.

    The definition discussed by S. N. Habisreutinger, N. K. Noel, H. J.
    Snaith, "Hysteresis Index: A Figure without Merit for Quantifying
    Hysteresis in Perovskite Solar Cells", ACS Energy Lett. 3, 2472 (2018).
    Sign: HI > 0 is "normal" hysteresis (reverse scan, Voc -> Jsc, more
    efficient); HI < 0 is inverted hysteresis (forward scan more efficient),
    as after aging in "Imaging real-time amorphization of hybrid perovskite
    solar cells under electrical biasing". Both PCEs must come from scans at
    the same rate; the std propagates independent PCE uncertainties.

    Returns
    -------
    hi, hi_std : numpy.ndarray

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.transport.jv import hysteresis_index
    >>> hi, s = hysteresis_index(18.7, 17.2, 0.1, 0.1)
    >>> round(float(hi), 4), round(float(s), 4)
    (0.0802, 0.0073)
    """
    r = np.asarray(pce_reverse, dtype=float)
    f = np.asarray(pce_forward, dtype=float)
    if np.any(r <= 0):
        raise ValueError(
            "The reverse-scan PCE must be positive for a hysteresis index; got "
            f"{r[r <= 0][:3]} %. Check the illumination and the sign convention."
        )
    hi = (r - f) / r
    std = np.sqrt((f / r**2 * pce_reverse_std) ** 2 + (pce_forward_std / r) ** 2)
    return hi, std


def estimate_single_diode(voltage, current_density, *, n=1.5, temperature=298.15):
    """Starting values of the single-diode parameters from a curve's shape.

    From the local fits of :func:`figures_of_merit`: ``Rsh = 1 / g_sc``;
    ``Rs = 1 / g_oc - n Vt / Jsc`` (the slope resistance at open circuit
    minus the diode's own, floored at 0.1 Ω cm²); ``Jph = Jsc (1 + Rs /
    Rsh)``; ``J0`` from ``J(Voc) = 0`` at the given ideality factor ``n``.
    Curves without a Voc fall back to a dark-diode guess.

    Parameters
    ----------
    voltage : array-like
        Ascending voltages, V.
    current_density : numpy.ndarray
        Curves on the last axis, mA/cm².
    n : float
        Assumed ideality factor.
    temperature : float
        K.

    Returns
    -------
    dict
        ``jph`` (mA/cm²), ``log10_j0`` (log10 of mA/cm²), ``rs``, ``rsh``
        (Ω cm²), arrays of the navigation shape.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.transport.jv import (
    ...     estimate_single_diode, single_diode_current)
    >>> v = np.linspace(-0.1, 1.2, 261)
    >>> J = single_diode_current(v, 23.6, 2.4e-10, 1.6, 3.3, 3000.0)
    >>> e = estimate_single_diode(v, J, n=1.6)
    >>> round(float(e["jph"]), 1), round(float(e["log10_j0"]), 1)
    (23.6, -9.6)
    """
    J = np.asarray(current_density, dtype=float)
    f = figures_of_merit(voltage, J, irradiance=None)
    a = n * thermal_voltage(temperature)
    with np.errstate(divide="ignore", invalid="ignore"):
        rsh = np.clip(np.where(f["g_sc"] > 0, 1e3 / f["g_sc"], 1e6), 10.0, 1e8)
        rs = 1e3 / f["g_oc"] - 1e3 * a / f["jsc"]
        rs = np.clip(np.where(np.isfinite(rs), rs, 1.0), 0.1, 1e3)
        jph = f["jsc"] * (1.0 + rs / rsh)
        l0 = np.log10(np.clip(jph - f["voc"] * 1e3 / rsh, 1e-6, None)) - f["voc"] / (
            a * np.log(10.0)
        )
    ok = np.isfinite(jph) & np.isfinite(l0)
    jph = np.where(ok, jph, np.clip(np.nan_to_num(f["jsc"]), 0.0, None))
    l0 = np.where(ok, l0, -10.0)
    return {"jph": jph, "log10_j0": np.clip(l0, -39.0, -0.1), "rs": rs, "rsh": rsh}
