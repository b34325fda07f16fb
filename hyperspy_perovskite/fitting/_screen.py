"""Compiled screening of the input spectra before they are fitted.

One pass over each spectrum (and its noise variance) flags what cannot be
fitted, with the priority of :mod:`hyperspy_perovskite.fitting.flags`: data
that are not finite, empty (all zero), saturated, then a variance that is not
finite and positive. Pixels already flagged (masked) are left as they are.
Its machine code is cached in the engine's cache folder on first use
(:func:`hyperspy_perovskite.fitting._cache.cache_once`).
"""

import math

from numba import njit

from hyperspy_perovskite.fitting.flags import (
    BAD_VARIANCE,
    EMPTY,
    NOT_FINITE_DATA,
    SATURATED,
)


@njit(nogil=True, error_model="numpy")
def screen_inputs(Y, V, saturation, flags):
    """Set ``flags[p]`` for every unflagged spectrum ``Y[p]`` that cannot be fitted.

    Parameters
    ----------
    Y : (n_pixels, n_channels) float64
    V : (n_pixels, n_channels) float64, or (1, 1) for no per-pixel variance
    saturation : float
        Counts at or above this value mark a pixel saturated (``inf``: none).
    flags : (n_pixels,) int8
        Modified in place; non-zero entries are not screened.

    Examples
    --------
    >>> from hyperspy_perovskite.fitting._screen import screen_inputs
    >>> Y = np.array([[1.0, 2.0], [0.0, 0.0], [1.0, np.nan], [9.0, 1.0]])
    >>> flags = np.zeros(4, np.int8)
    >>> screen_inputs(Y, np.full((1, 1), np.nan), 9.0, flags)
    >>> flags.tolist()  # ok, empty, not finite, saturated
    [0, 3, 2, 4]
    """
    n_pix, n_ch = Y.shape
    per_pixel_var = V.shape[0] == n_pix and V.shape[1] == n_ch
    for p in range(n_pix):
        if flags[p] != 0:
            continue
        n_not_finite = 0
        n_nonzero = 0
        n_saturated = 0
        for j in range(n_ch):
            v = Y[p, j]
            n_not_finite += not math.isfinite(v)
            n_nonzero += v != 0.0
            n_saturated += v >= saturation
        if n_not_finite:
            flags[p] = NOT_FINITE_DATA
        elif n_nonzero == 0:
            flags[p] = EMPTY
        elif n_saturated:
            flags[p] = SATURATED
        elif per_pixel_var:
            n_bad = 0
            for j in range(n_ch):
                var = V[p, j]
                n_bad += not (var > 0.0 and math.isfinite(var))
            if n_bad:
                flags[p] = BAD_VARIANCE
