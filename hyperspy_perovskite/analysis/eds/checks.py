"""Checks of band line counts before profiles are trusted (arrays in).

NaN data and empty windows are refused; a line without significant net
counts (an absent element's window over the bremsstrahlung) and counts that
are not raw (denoised or rescaled maps, for which Poisson errors fail) are
warned about.
"""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["LineAbsentWarning", "NonPoissonWarning", "check_band_counts"]


class LineAbsentWarning(UserWarning):
    """An X-ray line has no significant net counts: the element may be absent."""


class NonPoissonWarning(UserWarning):
    """The counts are not raw counts (denoised or rescaled): Poisson errors fail."""


def check_band_counts(lines, net, var, gross, counts, poisson, n_sigma=3.0):
    """Refuse NaN data and empty windows; warn about lines without
    significant net counts and about summed counts that are not integers.

    Parameters
    ----------
    lines : sequence of str
    net, var, gross : numpy.ndarray
        ``(..., n_lines)`` net counts, their variance and the gross counts
        of the band's bins (summed over the bins here).
    counts : numpy.ndarray
        The summed raw counts (must be integers when ``poisson``).
    poisson : bool
        No variance set on the map: the counts must be raw.
    n_sigma : float
        Significance of the net counts below which a line is "absent".

    Raises
    ------
    ValueError
        NaN or infinite values in a window; zero gross counts.

    Warns
    -----
    LineAbsentWarning, NonPoissonWarning
    """
    net = np.asarray(net).reshape((-1, len(lines))).sum(axis=0)
    sd = np.sqrt(np.asarray(var).reshape((-1, len(lines))).sum(axis=0))
    gross = np.asarray(gross).reshape((-1, len(lines))).sum(axis=0)
    for name, v, s, g in zip(lines, net, sd, gross, strict=True):
        if not (np.isfinite(v) and np.isfinite(g)):
            raise ValueError(
                f"The map holds NaN or infinite values in the channels of "
                f"{name}: remove them first (e.g. s.data = np.nan_to_num(s.data))."
            )
        if not g > 0:
            raise ValueError(
                f"The band has zero counts in the {name} window: the element "
                "is absent there or the band misses the device; widen or move "
                "the band, or choose another line."
            )
        if not v > n_sigma * s:
            warnings.warn(
                f"The band has no significant net {name} counts ({v:.4g} +- "
                f"{s:.3g} after the background, below {n_sigma:g} sigma): the "
                "element may be absent, its profile is bremsstrahlung noise.",
                LineAbsentWarning,
                stacklevel=4,
            )
    if poisson and np.any(np.abs(counts - np.round(counts)) > 1e-6):
        warnings.warn(
            "The summed counts are not integers: the map is not raw counts "
            "(denoised, e.g. by PCA, or rescaled), so Poisson uncertainties "
            "do not apply. Set the map's variance "
            "(metadata.Signal.Noise_properties.variance) or use the raw map.",
            NonPoissonWarning,
            stacklevel=4,
        )
