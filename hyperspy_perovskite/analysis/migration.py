"""Migration metrics of element profiles across a device stack, with errors.

Array functions (numpy or dask, no HyperSpy objects) on profiles across the
layer stack: element line intensities summed over a band, one value per bin
along the stack. Conventions, shared by every function:

- ``position``: 1D array of bin centres in nm (from a named interface),
  strictly increasing, length ``n``;
- ``profile``: array ``(..., n)``: counts per bin; leading axes (time,
  state, frame) are kept, so a kymograph is just a ``(n_times, n)`` profile;
- ``variance``: array like ``profile`` or ``None`` for Poisson counts
  (variance = counts, clipped at 0);
- every function returns ``(value, variance)``, first-order propagation of
  independent bin errors (the bins of an EDX projection are independent
  Poisson counts).

:class:`~hyperspy_perovskite.signals.eds_biased` wires them into signal
methods: iodine accumulating at the cathode after 1 V (“Imaging real-time amorphization of hybrid perovskite solar cells under electrical biasing”), Cl reaching
the Al cathode (Nature (2026), doi:10.1038/s41586-026-10238-8).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "difference_profile",
    "normalized_profile",
    "accumulated_fraction",
    "centroid",
    "centroid_shift",
    "kymograph",
    "contact_uptake",
    "contact_background",
    "wall_side",
    "wall_fit_range",
    "layer_field",
]


def _is_dask(a):
    return type(a).__module__.startswith("dask")


def _position(position, profile):
    x = np.asarray(position, dtype=float)
    if x.ndim != 1:
        raise ValueError("position must be a 1D array of bin centres (nm).")
    if profile.shape[-1] != x.size:
        raise ValueError(
            f"profile has {profile.shape[-1]} bins along its last axis but "
            f"position has {x.size}; they must match."
        )
    if x.size > 1 and np.any(np.diff(x) <= 0):
        raise ValueError("position must be strictly increasing (nm).")
    return x


def _variance(profile, variance):
    if variance is None:
        if not _is_dask(profile) and np.any(np.asarray(profile) < 0):
            raise ValueError(
                "Poisson variance needs counts (non-negative profile); pass the "
                "variance explicitly for background-subtracted data."
            )
        return np.maximum(profile, 0)
    if variance.shape != profile.shape:
        raise ValueError(
            f"variance shape {variance.shape} differs from profile shape "
            f"{profile.shape}."
        )
    return variance


def _nonzero_total(total, what):
    if not _is_dask(total) and np.any(np.asarray(total) == 0):
        raise ValueError(
            f"The {what} contains zero counts: nothing to normalise. Widen the "
            "band or the range, or check the element line."
        )


def _as_array(a):
    return a if _is_dask(a) else np.asarray(a, dtype=float)


def normalized_profile(profile, variance=None):
    """Profile divided by its total counts, with propagated variance.

    ``p_i = a_i / S``, ``S = sum a``; ``var p_i = var_i / S^2
    - 2 a_i var_i / S^3 + a_i^2 sum(var) / S^4`` (the total is correlated
    with each bin). Normalising removes dose and thickness differences
    between states.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.migration import normalized_profile
    >>> p, v = normalized_profile(np.array([10.0, 30.0]))
    >>> p.tolist()
    [0.25, 0.75]
    """
    a = _as_array(profile)
    var = _variance(a, None if variance is None else _as_array(variance))
    S = a.sum(axis=-1, keepdims=True)
    _nonzero_total(S, "profile")
    sv = var.sum(axis=-1, keepdims=True)
    p = a / S
    vp = var / S**2 - 2 * a * var / S**3 + a**2 * sv / S**4
    return p, vp


def difference_profile(
    profile_a, profile_b, variance_a=None, variance_b=None, normalize=True
):
    """``b - a`` between two states (e.g. pristine ``a``, biased ``b``).

    Parameters
    ----------
    profile_a, profile_b : array ``(..., n)``
        Counts per bin of the two states (broadcastable).
    variance_a, variance_b : array or None
        ``None``: Poisson.
    normalize : bool
        Normalise each profile to its total first (fraction per bin), so
        that the difference shows redistribution, not dose.

    Returns
    -------
    diff, variance : ndarray

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.migration import difference_profile
    >>> d, v = difference_profile(np.array([50.0, 50.0]), np.array([80.0, 20.0]))
    >>> np.round(d, 2).tolist()
    [0.3, -0.3]
    """
    a = _as_array(profile_a)
    b = _as_array(profile_b)
    if normalize:
        pa, va = normalized_profile(a, variance_a)
        pb, vb = normalized_profile(b, variance_b)
    else:
        pa, va = a, _variance(a, None if variance_a is None else _as_array(variance_a))
        pb, vb = b, _variance(b, None if variance_b is None else _as_array(variance_b))
    return pb - pa, va + vb


def _side_mask(x, interface, distance, side):
    if not np.isfinite(interface):
        raise ValueError(f"interface must be a position in nm, got {interface!r}.")
    if not (np.isfinite(distance) and distance > 0):
        raise ValueError(f"distance must be a positive length (nm), got {distance!r}.")
    if side == "right":
        return (x >= interface) & (x <= interface + distance)
    if side == "left":
        return (x <= interface) & (x >= interface - distance)
    if side == "both":
        return np.abs(x - interface) <= distance
    raise ValueError(f"side must be 'left', 'right' or 'both', got {side!r}.")


def _range_mask(x, layer):
    if layer is None:
        return np.ones(x.size, dtype=bool)
    lo, hi = sorted(float(v) for v in layer)
    m = (x >= lo) & (x <= hi)
    if not m.any():
        raise ValueError(
            f"The layer range {layer} contains no bin of the profile "
            f"({x[0]:.3g} to {x[-1]:.3g} nm)."
        )
    return m


def accumulated_fraction(
    position, profile, interface, distance, side="right", layer=None, variance=None
):
    """Fraction of the counts within ``distance`` of an interface.

    ``f = N / (N + R)`` with ``N`` the counts in the bins within
    ``distance`` of ``interface`` on ``side`` and ``R`` the rest of the
    layer; ``var f = (R^2 var N + N^2 var R) / (N + R)^4``. For a uniform
    profile ``f`` equals ``distance / layer thickness``: compare states
    (pristine, biased, recovered) or times.

    Parameters
    ----------
    position : array ``(n,)``
        nm.
    profile : array ``(..., n)``
    interface : float
        Interface position (nm).
    distance : float
        nm (> 0).
    side : {"right", "left", "both"}
        Which side of the interface is counted (the layer side).
    layer : (float, float) or None
        Range (nm) of the layer the fraction refers to; default: the whole
        profile.
    variance : array or None
        ``None``: Poisson.

    Returns
    -------
    fraction, variance : ndarray ``(...)``

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.migration import accumulated_fraction
    >>> x = np.arange(100) + 0.5
    >>> f, v = accumulated_fraction(x, np.full(100, 400.0), 0.0, 10.0)
    >>> round(float(f), 3), round(float(np.sqrt(v)), 4)
    (0.1, 0.0015)
    """
    p = _as_array(profile)
    x = _position(position, p)
    var = _variance(p, None if variance is None else _as_array(variance))
    inlayer = _range_mask(x, layer)
    near = _side_mask(x, float(interface), float(distance), side) & inlayer
    if not near.any():
        raise ValueError(
            f"No bin lies within {distance} nm of the interface at {interface} nm "
            f"on the {side} side inside the layer; check interface, side, layer."
        )
    rest = inlayer & ~near
    N = (p * near).sum(axis=-1)
    R = (p * rest).sum(axis=-1)
    vN = (var * near).sum(axis=-1)
    vR = (var * rest).sum(axis=-1)
    T = N + R
    _nonzero_total(T, "layer")
    return N / T, (R**2 * vN + N**2 * vR) / T**4


def centroid(position, profile, variance=None, window=None):
    """Centre of mass of the profile (nm) and its variance.

    ``xc = sum x c / sum c``; ``var xc = sum (x - xc)^2 var_i / (sum c)^2``.

    Parameters
    ----------
    window : (float, float) or None
        Restrict to a range (nm), e.g. one layer.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.migration import centroid
    >>> xc, v = centroid(np.array([0.0, 10.0]), np.array([100.0, 300.0]))
    >>> float(xc)
    7.5
    """
    p = _as_array(profile)
    x = _position(position, p)
    var = _variance(p, None if variance is None else _as_array(variance))
    m = _range_mask(x, window)
    S = (p * m).sum(axis=-1)
    _nonzero_total(S, "window")
    xc = (p * m * x).sum(axis=-1) / S
    vx = (((x - xc[..., None]) ** 2) * var * m).sum(axis=-1) / S**2
    return xc, vx


def centroid_shift(
    position, profile_a, profile_b, variance_a=None, variance_b=None, window=None
):
    """Centroid of ``b`` minus centroid of ``a`` (nm) and its variance.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.migration import centroid_shift
    >>> x = np.array([0.0, 10.0])
    >>> d, v = centroid_shift(x, np.array([100.0, 100.0]), np.array([100.0, 300.0]))
    >>> float(d)
    2.5
    """
    ca, va = centroid(position, profile_a, variance_a, window)
    cb, vb = centroid(position, profile_b, variance_b, window)
    return cb - ca, va + vb


def kymograph(profiles, variance=None, reference=0, normalize=True):
    """Position x time map of the change of a profile, and its variance.

    Parameters
    ----------
    profiles : array ``(n_times, n)``
        One profile per frame (time axis first; more leading axes allowed,
        the time axis is ``-2``).
    variance : array or None
        ``None``: Poisson.
    reference : int or None
        Frame subtracted from all frames (``None``: no subtraction, the
        (normalised) profiles themselves).
    normalize : bool
        Normalise each frame to its total first.

    Returns
    -------
    kymo, variance : ndarray ``(n_times, n)``
        With a reference, the variance adds the reference's variance to each
        frame (and the reference row is 0 with variance 0).

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.migration import kymograph
    >>> k, v = kymograph(np.array([[50.0, 50.0], [60.0, 40.0]]))
    >>> np.round(k, 2).tolist()
    [[0.0, 0.0], [0.1, -0.1]]
    """
    p = _as_array(profiles)
    if p.ndim < 2:
        raise ValueError("profiles must have a time axis: shape (n_times, n).")
    if normalize:
        q, vq = normalized_profile(p, variance)
    else:
        q, vq = p, _variance(p, None if variance is None else _as_array(variance))
    if reference is None:
        return q, vq
    r = int(reference)
    if not -p.shape[-2] <= r < p.shape[-2]:
        raise ValueError(
            f"reference frame {reference} is outside the {p.shape[-2]} frames."
        )
    r = r % p.shape[-2]
    out = q - q[..., r : r + 1, :]
    vout = vq + vq[..., r : r + 1, :]
    idx = np.arange(p.shape[-2]) == r
    vout = vout * ~idx[:, None]
    return out, vout


def contact_uptake(
    position,
    profile,
    interface,
    metal_side="right",
    depth=None,
    background=0.0,
    background_variance=0.0,
    variance=None,
):
    """Halide counts that crossed into a metal contact (Cl in Al, Nature (2026), doi:10.1038/s41586-026-10238-8).

    The counts in the bins on the metal side of ``interface`` (up to
    ``depth`` nm into the contact), minus a background level per bin (the
    same element measured in the contact of the pristine device, or the
    spectrum background), and their fraction of the total.

    Parameters
    ----------
    interface : float
        Contact interface position (nm).
    metal_side : {"right", "left"}
        Where the metal lies.
    depth : float or None
        How far into the metal to count (nm); default: to the profile end.
    background, background_variance : float
        Per-bin background counts and their variance.

    Returns
    -------
    uptake, uptake_var, fraction, fraction_var : ndarray ``(...)``
        Background-subtracted counts in the contact, and their fraction of
        the background-subtracted total.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.migration import contact_uptake
    >>> x = np.arange(10) + 0.5
    >>> prof = np.array([100.0] * 8 + [30.0, 30.0])
    >>> u, vu, f, vf = contact_uptake(x, prof, 8.0, background=5.0)
    >>> float(u), round(float(f), 4)
    (50.0, 0.0617)
    """
    p = _as_array(profile)
    x = _position(position, p)
    var = _variance(p, None if variance is None else _as_array(variance))
    if metal_side not in ("left", "right"):
        raise ValueError(f"metal_side must be 'left' or 'right', got {metal_side!r}.")
    interface = float(interface)
    if not x[0] <= interface <= x[-1]:
        raise ValueError(
            f"The contact interface {interface} nm lies outside the profile "
            f"({x[0]:.3g} to {x[-1]:.3g} nm)."
        )
    if depth is None:
        depth = np.inf
    depth = float(depth)
    metal = _metal_mask(x, interface, metal_side, depth)
    n_metal = int(metal.sum())
    n_all = x.size
    bkg = float(background)
    vb = float(background_variance)
    M = (p * metal).sum(axis=-1) - bkg * n_metal
    R = (p * ~metal).sum(axis=-1) - bkg * (n_all - n_metal)
    vM = (var * metal).sum(axis=-1) + vb * n_metal**2
    vR = (var * ~metal).sum(axis=-1) + vb * (n_all - n_metal) ** 2
    T = M + R
    _nonzero_total(T, "background-subtracted profile")
    # M and R share the background estimate: include its covariance
    cov = vb * n_metal * (n_all - n_metal)
    f = M / T
    vf = (R**2 * vM + M**2 * vR - 2 * M * R * cov) / T**4
    return M, vM, f, vf


def _metal_mask(x, interface, metal_side, depth):
    """Bins on the metal side of ``interface``, up to ``depth`` nm into it."""
    depth = np.inf if depth is None else float(depth)
    if not depth > 0:
        raise ValueError(f"depth must be a positive length (nm), got {depth!r}.")
    if metal_side == "right":
        metal = (x > interface) & (x <= interface + depth)
    else:
        metal = (x < interface) & (x >= interface - depth)
    if not metal.any():
        raise ValueError("No bin lies inside the metal contact; check interface.")
    return metal


def contact_background(
    position, profile, interface, metal_side="right", depth=None, variance=None
):
    """Mean counts per bin inside a contact, and the variance of that mean.

    The background level :func:`contact_uptake` subtracts, measured on one
    profile (e.g. the pristine state, before any halide crossed): the bins
    on the ``metal_side`` of ``interface`` up to ``depth`` nm into it.

    Parameters
    ----------
    position : array ``(n,)``
        Bin centres (nm).
    profile : array ``(n,)``
        Counts per bin.
    interface : float
        Contact interface position (nm).
    metal_side : {"right", "left"}
    depth : float or None
        nm; default to the profile end.
    variance : array ``(n,)`` or None
        Per-bin variance (None: Poisson).

    Returns
    -------
    background, background_variance : float

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.migration import contact_background
    >>> x = np.arange(10) + 0.5
    >>> prof = np.array([100.0] * 8 + [4.0, 6.0])
    >>> contact_background(x, prof, 8.0)
    (5.0, 2.5)
    """
    p = np.asarray(_as_array(profile), dtype=float)
    x = _position(position, p)
    var = np.asarray(_variance(p, None if variance is None else _as_array(variance)))
    metal = _metal_mask(x, float(interface), metal_side, depth)
    n = int(metal.sum())
    return float(p[metal].mean()), float(var[metal].sum() / n**2)


def wall_side(low, high, tol=1e-9):
    """Which side of a wall at 0 a layer ``(low, high)`` (nm) lies on.

    Returns ``"right"`` when the layer starts at the wall (``low == 0``),
    ``"left"`` when it ends there; a layer not bounded by the wall raises.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.migration import wall_side
    >>> wall_side(0.0, 250.0), wall_side(-250.0, 0.0)
    ('right', 'left')
    """
    if abs(low) < tol:
        return "right"
    if abs(high) < tol:
        return "left"
    raise ValueError(
        f"The layer ({low:.4g} to {high:.4g} nm from the interface) is not "
        "bounded by the interface."
    )


def wall_fit_range(low, high, bin_width, signal_range=None):
    """Fitted range (nm) of a profile across a layer ``(low, high)``.

    Only bins entirely inside the layer (their centres at least half a bin
    from its ends: a bin across the interface carries the neighbour
    layer's counts), clipped to ``signal_range`` (e.g. past the bins
    blurred by the probe) when given.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.migration import wall_fit_range
    >>> wall_fit_range(0.0, 200.0, 10.0)
    (5.0, 195.0)
    >>> wall_fit_range(0.0, 200.0, 10.0, signal_range=(150.0, 20.0))
    (20.0, 150.0)
    """
    half = 0.5 * abs(float(bin_width))
    lo, hi = float(low) + half, float(high) - half
    if signal_range is not None:
        a, b = sorted(float(v) for v in signal_range)
        lo, hi = max(a, lo), min(b, hi)
    if not hi > lo:
        raise ValueError(
            f"No bin lies inside the layer within the fitted range ({lo:.4g} to "
            f"{hi:.4g} nm): widen signal_range or use smaller bins."
        )
    return lo, hi


def layer_field(voltage, low, high):
    """Mean field (V/m) of a voltage across a layer from ``low`` to ``high`` nm.

    ``|V| / d``: an upper bound of the field in the layer when part of the
    bias drops at the contacts.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.migration import layer_field
    >>> layer_field(1.0, 0.0, 500.0)
    2000000.0
    """
    thickness = (float(high) - float(low)) * 1e-9
    if not thickness > 0:
        raise ValueError(f"The layer has no thickness ({low} to {high} nm).")
    return abs(float(voltage)) / thickness
