"""X-ray line intensities, halide/Pb ratios and line overlaps (arrays only).

Line intensities are linear in the counts: each line is a weight vector over
the energy channels (1 in the integration window, ``-c`` in the background
windows, exactly as exSpy's ``get_lines_intensity`` with ``background_windows``
computes them), so all lines come from ONE tensor contraction of the data with
a weight matrix ``W`` (``n_channels x n_lines``), and the Poisson variance of
each intensity is the contraction with ``W**2``.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "window_weights",
    "line_intensities",
    "cliff_lorimer_atomic",
    "cliff_lorimer_variance",
    "halide_ratio",
    "nonstoichiometry_mask",
    "find_overlaps",
    "line_free_background_windows",
]


def window_weights(n_channels, windows, background_windows=None):
    """Channel weight matrix of the X-ray line intensities.

    Parameters
    ----------
    n_channels : int
        Size of the energy axis.
    windows : sequence of (int, int)
        ``(start, stop)`` channel slice of each line's integration window.
    background_windows : sequence of (int, int, int, int), optional
        Left ``(start, stop)`` and right ``(start, stop)`` channel slices of
        each line's background windows. The background under the line is the
        linear interpolation, at the line window's centre, between the mean
        counts per channel of the two windows, times the line window's
        width. For windows placed symmetrically with equal widths this is
        exSpy's rule ``(left + right) * n_line / (n_left + n_right)``; an
        empty window counts as its single start channel, as in exSpy.

    Returns
    -------
    numpy.ndarray
        ``(n_channels, n_lines)`` float64.

    Raises
    ------
    ValueError
        If a window is empty or outside the energy axis.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.xray_lines import window_weights
    >>> w = window_weights(8, [(3, 5)], [(0, 2, 6, 8)])
    >>> w[:, 0].tolist()
    [-0.5, -0.5, 0.0, 1.0, 1.0, 0.0, -0.5, -0.5]
    """
    n_channels = int(n_channels)
    w = np.zeros((n_channels, len(windows)), dtype=np.float64)
    for k, (a, b) in enumerate(windows):
        a, b = int(a), int(b)
        if not (0 <= a < b <= n_channels):
            raise ValueError(
                f"Integration window {k} (channels {a}:{b}) is empty or outside "
                f"the energy axis (0:{n_channels})."
            )
        w[a:b, k] = 1.0
        if background_windows is not None:
            l0, l1, r0, r1 = (int(v) for v in background_windows[k])
            left = slice(l0, l1) if l1 > l0 else slice(l0, l0 + 1)
            right = slice(r0, r1) if r1 > r0 else slice(r0, r0 + 1)
            for sl in (left, right):
                if sl.start < 0 or sl.stop > n_channels:
                    raise ValueError(
                        f"Background window of line {k} is outside the energy "
                        "axis: use narrower background windows."
                    )
            nl = left.stop - left.start
            nr = right.stop - right.start
            cl = 0.5 * (left.start + left.stop - 1)
            cr = 0.5 * (right.start + right.stop - 1)
            c0 = 0.5 * (a + b - 1)
            wl = (cr - c0) / (cr - cl) if cr != cl else 0.5
            w[left, k] -= (b - a) * wl / nl
            w[right, k] -= (b - a) * (1.0 - wl) / nr
    return w


def line_intensities(data, weights):
    """Intensities and Poisson variances of X-ray lines.

    Parameters
    ----------
    data : numpy.ndarray or dask.array.Array
        Counts, energy on the last axis.
    weights : numpy.ndarray
        ``(n_channels, n_lines)`` from :func:`window_weights`.

    Returns
    -------
    intensity, variance : array
        ``(..., n_lines)`` each (lazy for dask input: ONE contraction, so
        computing both reads the data once). The variance assumes the data
        are raw counts (Poisson): ``sum(w**2 * counts)``. Only the channels
        where some weight is non-zero are read.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.xray_lines import line_intensities
    >>> w = np.array([[1.0], [1.0], [0.0]])
    >>> i, v = line_intensities(np.array([[2.0, 3.0, 4.0]]), w)
    >>> i.tolist(), v.tolist()
    ([[5.0]], [[5.0]])
    """
    weights = np.asarray(weights, dtype=np.float64)
    if data.shape[-1] != weights.shape[0]:
        raise ValueError(
            f"The data have {data.shape[-1]} energy channels but the weights "
            f"{weights.shape[0]}."
        )
    # only the channels of the windows are read and cast to float (a few
    # percent of a spectrum): for a dask array with a chunked energy axis the
    # other chunks are not even loaded
    used = np.flatnonzero(np.any(weights != 0, axis=1))
    if used.size < weights.shape[0]:
        if used.size == 0:
            raise ValueError("The weights are all zero: no window to integrate.")
        # np.take: a far faster gather than fancy indexing for numpy
        data = (
            np.take(data, used, axis=-1)
            if isinstance(data, np.ndarray)
            else data[..., used]
        )
        weights = weights[used]
    both = data @ np.concatenate([weights, weights**2], axis=1)
    n = weights.shape[1]
    return both[..., :n], both[..., n:]


def cliff_lorimer_atomic(intensities, k_factors, elements):
    """exSpy's Cliff-Lorimer quantification of arrays, in atomic percent.

    The array core of exSpy's ``EDSTEMSpectrum.quantification(method="CL")``
    without absorption correction or navigation mask: exSpy's
    ``quantification_cliff_lorimer`` (weight fractions; a point with fewer
    than two intensities above 0.1 gets 0, or 100 % for its one line) and
    ``exspy.material.weight_to_atomic``, NaN set to 0 as exSpy does. The
    same numbers as the signal method, without building HyperSpy signals
    (which, on a profile, costs far more than the numbers).

    Parameters
    ----------
    intensities : numpy.ndarray
        ``(n_lines, ...)`` line intensities.
    k_factors : sequence of float
        exSpy's (weight-fraction) Cliff-Lorimer factors, one per line.
    elements : sequence of str
        The element of each line.

    Returns
    -------
    numpy.ndarray
        ``(n_lines, ...)`` atomic percent.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.xray_lines import cliff_lorimer_atomic
    >>> at = cliff_lorimer_atomic(np.array([[100.0], [100.0]]), [1.0, 1.0],
    ...                           ["Pb", "I"])
    >>> np.round(at[:, 0], 2).tolist()  # equal weights: Pb 207.2, I 126.9 g/mol
    [37.98, 62.02]
    """
    from exspy._misc.eds.utils import quantification_cliff_lorimer
    from exspy.material import weight_to_atomic

    i_arr = np.asarray(intensities, dtype=float)
    k = [float(v) for v in k_factors]
    elements = list(elements)
    if not (i_arr.ndim >= 1 and i_arr.shape[0] == len(k) == len(elements)):
        raise ValueError(
            "Give one k-factor and one element per X-ray line (first axis of "
            "the intensities)."
        )
    if i_arr.ndim == 1:
        i_arr = i_arr[:, None]
        squeeze = True
    else:
        squeeze = False
    wt = quantification_cliff_lorimer(i_arr, k) * 100.0
    with np.errstate(divide="ignore", invalid="ignore"):
        at = np.nan_to_num(np.asarray(weight_to_atomic(wt, elements), dtype=float))
    return at[:, 0] if squeeze else at


def cliff_lorimer_variance(intensities, variances, k_factors):
    """Variance of Cliff-Lorimer atomic fractions by linear propagation.

    ``C_i = k_i I_i / sum_j k_j I_j`` (Cliff & Lorimer, J. Microsc. 103 (1975)
    203), so ``dC_i/dI_j = k_j (delta_ij k_i S / k_j - k_i I_i) / S**2`` with
    ``S = sum_j k_j I_j``; independent Poisson intensities.

    Parameters
    ----------
    intensities, variances : numpy.ndarray
        ``(n_lines, ...)``.
    k_factors : sequence of float
        One per line.

    Returns
    -------
    composition, variance : numpy.ndarray
        Atomic fractions (0..1) and their variances, ``(n_lines, ...)``; NaN
        where ``S <= 0``.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.xray_lines import cliff_lorimer_variance
    >>> c, v = cliff_lorimer_variance(np.array([[100.0], [300.0]]),
    ...                               np.array([[100.0], [300.0]]), [1.0, 1.0])
    >>> c[:, 0].tolist(), np.round(np.sqrt(v[:, 0]), 4).tolist()
    ([0.25, 0.75], [0.0217, 0.0217])
    """
    i_arr = np.asarray(intensities, dtype=float)
    v_arr = np.asarray(variances, dtype=float)
    k = np.asarray(k_factors, dtype=float).reshape((-1,) + (1,) * (i_arr.ndim - 1))
    if k.shape[0] != i_arr.shape[0]:
        raise ValueError("Give one k-factor per X-ray line.")
    ki = k * i_arr
    s = ki.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        good = s > 0
        s_safe = np.where(good, s, 1.0)
        c = np.where(good, ki / s_safe, np.nan)
        # dC_i/dI_j = k_i (delta_ij - C_i ... ) -> var_i = sum_j (dC_i/dI_j)^2 v_j
        var = np.empty_like(c)
        for i in range(i_arr.shape[0]):
            d = -c[i] * k / s_safe  # j != i terms
            d[i] = k[i] * (1 - c[i]) / s_safe
            var[i] = np.where(good, np.sum(d**2 * v_arr, axis=0), np.nan)
    return c, var


def halide_ratio(intensities, variances, k_halides, k_pb):
    """Atomic halide-to-Pb ratio ``X/Pb`` by Cliff-Lorimer, with its variance.

    ``C_A / C_B = k_A / k_B * I_A / I_B`` (Cliff & Lorimer, J. Microsc. 103
    (1975) 203), summed over the halides: ``X/Pb = sum_i k_i I_i / (k_Pb I_Pb)``.
    For ABX3 perovskites the ratio is 3.

    Parameters
    ----------
    intensities, variances : sequence of arrays
        Halide line intensities first, the Pb line last (same shapes).
    k_halides : sequence of float
        Cliff-Lorimer factors of the halide lines (same reference as ``k_pb``).
    k_pb : float
        Cliff-Lorimer factor of the Pb line.

    Returns
    -------
    ratio, variance : numpy.ndarray or dask.array.Array
        NaN where the Pb intensity is not positive.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.xray_lines import halide_ratio
    >>> r, v = halide_ratio([np.array([300.0]), np.array([100.0])],
    ...                     [np.array([300.0]), np.array([100.0])], [1.0], 1.0)
    >>> r.tolist(), np.round(v, 3).tolist()
    ([3.0], [0.12])
    """
    *xs, pb = intensities
    *vxs, vpb = variances
    if len(xs) != len(k_halides) or not xs:
        raise ValueError(
            "Give one k-factor per halide line and at least one halide line."
        )
    num = sum(float(k) * x for k, x in zip(k_halides, xs, strict=False))
    vnum = sum(float(k) ** 2 * v for k, v in zip(k_halides, vxs, strict=False))
    den = float(k_pb) * pb
    with np.errstate(divide="ignore", invalid="ignore"):
        good = pb > 0
        ratio = np.where(good, num / np.where(good, den, 1.0), np.nan)
        rel_pb = np.where(good, vpb / np.where(good, pb, 1.0) ** 2, np.nan)
        var = np.where(
            good, vnum / np.where(good, den, 1.0) ** 2 + ratio**2 * rel_pb, np.nan
        )
    return ratio, var


def nonstoichiometry_mask(ratio, variance, nominal=3.0, tolerance=0.1, n_sigma=2.0):
    """Where ``X/Pb`` departs significantly from the nominal ratio.

    A pixel is flagged when ``|r - nominal| > tolerance * nominal`` AND
    ``|r - nominal| > n_sigma * sigma`` (so noise alone does not flag it).

    Parameters
    ----------
    ratio, variance : array
        Ratio and its variance (from :func:`halide_ratio`).
    nominal : float
        Stoichiometric ratio (3 for ABX3).
    tolerance : float
        Relative tolerance.
    n_sigma : float
        Significance threshold in standard deviations.

    Returns
    -------
    numpy.ndarray or dask.array.Array of int8
        ``-1`` halide-poor (Pb-rich), ``+1`` halide-rich, ``0`` stoichiometric
        or undefined (NaN ratio).

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.xray_lines import nonstoichiometry_mask
    >>> nonstoichiometry_mask(np.array([3.0, 2.0, 4.0, 2.0]),
    ...                       np.array([0.01, 0.01, 0.01, 1.0])).tolist()
    [0, -1, 1, 0]
    """
    if not nominal > 0 or not tolerance >= 0 or not n_sigma >= 0:
        raise ValueError("nominal must be > 0, tolerance and n_sigma >= 0.")
    dev = ratio - nominal
    sig = np.sqrt(np.abs(variance))
    with np.errstate(invalid="ignore"):
        flag = (np.abs(dev) > tolerance * nominal) & (np.abs(dev) > n_sigma * sig)
        flag = flag & np.isfinite(ratio)
    return np.where(flag, np.sign(np.where(flag, dev, 0.0)), 0).astype(np.int8)


def find_overlaps(lines, reach, neighbours, min_weight=0.1):
    """Lines of other elements close enough to bias each line's intensity.

    The overlaps that matter in perovskite devices (issue 5) are caught this
    way from exSpy's line database: Br_La 1.480 / Al_Ka 1.487 keV; I_La 3.938
    with I_Lb1 4.221 under Cs_La 4.286 and Cs_Lb1 4.620 next to Ti_Ka 4.511;
    Pb_Ma 2.346 / Au_Ma 2.123 (and S_Ka 2.307).

    Parameters
    ----------
    lines : dict
        ``{"I_La": energy_keV, ...}`` the lines to be integrated.
    reach : dict
        ``{"I_La": keV, ...}`` distance within which a neighbour line counts
        (typically half the integration window plus half a detector FWHM).
    neighbours : dict
        ``{"Cs_La": (energy_keV, weight), ...}`` all lines of the other
        elements present (any family).
    min_weight : float
        Ignore neighbour lines weaker than this (relative to their family's
        alpha line, exSpy's ``weight``).

    Returns
    -------
    dict
        ``{line: [overlapping lines, closest first]}``; the lines of the same
        element are never counted.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.xray_lines import find_overlaps
    >>> find_overlaps({"Br_La": 1.480}, {"Br_La": 0.1},
    ...               {"Al_Ka": (1.4865, 1.0), "Pb_Ma": (2.3459, 1.0)})
    {'Br_La': ['Al_Ka']}
    """
    out = {}
    for name, e in lines.items():
        el = name.split("_")[0]
        hits = []
        for other, (eo, wo) in neighbours.items():
            if other.split("_")[0] == el or wo < min_weight:
                continue
            if abs(eo - e) < reach[name]:
                hits.append((abs(eo - e), other))
        out[name] = [h[1] for h in sorted(hits)]
    return out


def line_free_background_windows(
    energy, fwhm, other_lines, e_min, e_max, max_shift=15.0
):
    """Background windows on either side of a line that avoid other lines.

    Starts from exSpy's default (windows of 1 FWHM at 2 FWHM from the line)
    and moves each window outwards by half-FWHM steps until no other line
    lies within 1 FWHM of it (exSpy's default windows of an L line hold its
    own Lb lines, which biases the net intensity). The two windows may end
    at different distances: :func:`window_weights` interpolates linearly.

    Parameters
    ----------
    energy, fwhm : float
        Line energy and detector FWHM (keV).
    other_lines : sequence of float
        Energies of every other line present (same and other elements).
    e_min, e_max : float
        Energy range of the spectrum.
    max_shift : float
        Largest distance (in FWHM) a window may be moved.

    Returns
    -------
    numpy.ndarray
        ``[left_start, left_end, right_start, right_end]`` (keV); a side
        with no clean window within ``max_shift`` keeps its best attempt.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.xray_lines import (
    ...     line_free_background_windows)
    >>> w = line_free_background_windows(3.938, 0.13, [4.221, 3.485], 0, 20)
    >>> bool(w[2] > 4.221 + 0.13), bool(w[1] < 3.485 - 0.13)
    (True, True)
    """
    others = np.asarray(list(other_lines), dtype=float)

    def clean(lo, hi):
        if lo < e_min or hi > e_max:
            return False
        return not np.any((others > lo - fwhm) & (others < hi + fwhm))

    out = []
    for side in (-1, 1):
        best = None
        for shift in np.arange(2.0, max_shift + 1e-9, 0.5):
            a = energy + side * shift * fwhm
            b = a + side * fwhm
            lo, hi = min(a, b), max(a, b)
            if best is None and e_min <= lo and hi <= e_max:
                best = (lo, hi)
            if clean(lo, hi):
                best = (lo, hi)
                break
        if best is None:
            best = (
                (energy - 3 * fwhm, energy - 2 * fwhm)
                if side < 0
                else (energy + 2 * fwhm, energy + 3 * fwhm)
            )
        out.extend(best)
    return np.asarray(out)
