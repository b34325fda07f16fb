"""Channel windows of X-ray lines on an energy axis (plain NumPy).

The integration and background windows of the line intensities are energy
intervals (exSpy's ``estimate_integration_windows`` and
:func:`~hyperspy_perovskite.analysis.xray_lines.line_free_background_windows`);
:func:`window_channels` turns them into the channel slices that
:func:`~hyperspy_perovskite.analysis.xray_lines.window_weights` sums, on an
axis given by its channel energies (uniform or not).
"""

from __future__ import annotations

import numpy as np

__all__ = ["window_channels"]


def _indexer(energies, uniform):
    """The channel nearest an energy, as HyperSpy's ``value2index`` picks it.

    On a uniform axis ``(offset, scale)``, HyperSpy's rule: the fractional
    index truncated at 1e-12, then rounded half towards zero (ties: the
    lower channel). Otherwise the nearest channel energy (ties: the lower).
    """
    if uniform is None:
        return lambda value: int(np.argmin(np.abs(energies - value)))
    offset, scale = (float(v) for v in uniform)

    def index(value):
        x = np.trunc((value - offset) / scale * 1e12) / 1e12
        return int(np.sign(x) * np.ceil(abs(x) - 0.5))

    return index


def window_channels(
    energies, windows, background_windows=None, names=None, units="", uniform=None
):
    """Channel slices of line windows and background windows.

    Parameters
    ----------
    energies : array ``(n_channels,)``
        Channel energies, increasing (any unit, the one of the windows).
    windows : array ``(n_lines, 2)``
        ``(start, end)`` energy of each line's integration window.
    background_windows : array ``(n_lines, 4)``, optional
        Left ``(start, end)`` and right ``(start, end)`` energies of each
        line's background windows.
    names : sequence of str, optional
        Line names, for error messages.
    units : str
        Unit of the energies, for error messages.
    uniform : (float, float), optional
        ``(offset, scale)`` of a uniform axis: channels are then picked by
        HyperSpy's ``value2index`` rule exactly (ties within 1e-12 of a
        half channel go to the lower channel).

    Returns
    -------
    windows : list of (int, int)
        ``(start, stop)`` channel slice of each window: from the channel
        nearest its start to the one nearest its end; a window narrower
        than a channel is the channel nearest its centre.
    background : list of (int, int, int, int) or None
        The channels nearest the background window edges.

    Raises
    ------
    ValueError
        If a window extends beyond the axis (the message names the line).

    Examples
    --------
    >>> import numpy as np
    >>> from hyperspy_perovskite.analysis.eds.windows import window_channels
    >>> e = 0.01 + 0.02 * np.arange(100)  # keV
    >>> window_channels(e, [(0.5, 0.7), (1.0, 1.005)], uniform=(0.01, 0.02))
    ([(24, 34), (49, 50)], None)
    """
    e = np.asarray(energies, dtype=float)
    nearest = _indexer(e, uniform)
    names = (
        list(names) if names is not None else [f"line {k}" for k in range(len(windows))]
    )
    lo, hi = e[0], e[-1]
    wins = []
    for k, (a, b) in enumerate(windows):
        if a < lo or b > hi:
            raise ValueError(
                f"The integration window of {names[k]} ({a:.4g}..{b:.4g} {units}) "
                "extends beyond the energy axis."
            )
        i0, i1 = nearest(a), nearest(b)
        if i1 <= i0:  # window narrower than a channel: the line's channel
            i0 = nearest(0.5 * (a + b))
            i1 = i0 + 1
        wins.append((i0, i1))
    if background_windows is None:
        return wins, None
    bws = []
    for k, row in enumerate(background_windows):
        if row[0] < lo or row[3] > hi:
            raise ValueError(
                f"The background windows of {names[k]} extend beyond the energy "
                "axis: use background=False."
            )
        bws.append(tuple(nearest(v) for v in row))
    return wins, bws
