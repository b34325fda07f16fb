"""Fitted ranges of migration profiles: the layer next to a blocking wall.

Plain NumPy on the profile's bin centres (any length unit, the one of the
wall and the interfaces); used by
:func:`~hyperspy_perovskite.signals.migration_fit.fit_migration_profile`.
"""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["layer_end", "layer_fit_range"]


def layer_end(x, wall, side, interfaces):
    """The far end of the layer next to the wall.

    Parameters
    ----------
    x : array
        Bin centres of the profile.
    wall : float
        Position of the blocking wall.
    side : {1, -1}
        The layer lies at positions above (1) or below (-1) the wall.
    interfaces : sequence of float
        Interface positions of the profile's geometry.

    Returns
    -------
    float or None
        The next interface on that side within the profile, or None when the
        profile ends first.

    Examples
    --------
    >>> import numpy as np
    >>> from hyperspy_perovskite.analysis.migration_ranges import layer_end
    >>> x = np.arange(0.5, 100.0)
    >>> layer_end(x, 20.0, 1, [20.0, 60.0, 150.0]), layer_end(x, 20.0, -1, [60.0])
    (60.0, None)
    """
    x = np.asarray(x, dtype=float)
    lo, hi = float(x.min()), float(x.max())
    eps = 1e-9 * max(1.0, abs(wall))
    others = np.asarray(list(interfaces), dtype=float)
    if side == 1:
        far = others[(others > wall + eps) & (others <= hi)]
        return float(far.min()) if far.size else None
    far = others[(others < wall - eps) & (others >= lo)]
    return float(far.max()) if far.size else None


def layer_fit_range(
    x,
    wall,
    side,
    signal_range=None,
    interfaces=(),
    half_layer=False,
    blur=0.0,
    units="",
):
    """Fitted range over the layer next to a wall: ``(start, end)``.

    Only bins entirely inside the layer (half a bin from the wall and from
    the far interface) and, with a ``blur`` (probe std), 3 std clear of
    both, where the blurred steps of the neighbours lie. ``half_layer``:
    the half of the layer next to the wall (the semi-infinite transient).
    A user's ``signal_range`` is clipped to the layer (with a warning when
    clipping drops bins).

    Parameters
    ----------
    x : array
        Bin centres.
    wall : float
    side : {1, -1}
    signal_range : (float, float), optional
    interfaces : sequence of float
        Interface positions (the layer ends at the next one on its side).
    half_layer : bool
    blur : float
        Probe blur std (units of ``x``).
    units : str
        Unit of ``x``, for messages.

    Raises
    ------
    ValueError
        When the wall lies outside the profile or the range misses the layer.

    Examples
    --------
    >>> import numpy as np
    >>> from hyperspy_perovskite.analysis.migration_ranges import layer_fit_range
    >>> x = np.arange(1.0, 100.0, 2.0)  # 2 nm bins
    >>> layer_fit_range(x, 0.0, 1, interfaces=[60.0])
    (1.0, 59.0)
    >>> layer_fit_range(x, 0.0, 1, interfaces=[60.0], blur=2.0)
    (6.0, 54.0)
    """
    x = np.asarray(x, dtype=float)
    lo, hi = float(x.min()), float(x.max())
    half_bin = 0.5 * float(np.abs(np.gradient(x)).max())
    # the electrode may sit at the edge of the first or last bin
    if not lo - half_bin <= wall <= hi + half_bin:
        raise ValueError(
            f"wall={wall} lies outside the profile ({lo} to {hi} "
            f"{units}); give the electrode position in the axis units."
        )
    # the layer ends at the next interface on its side (profile geometry or
    # the thickness given)
    far_end = layer_end(x, wall, side, interfaces)
    if far_end is None:
        end = hi if side == 1 else lo
    else:
        # only bins entirely inside the layer at the far interface too, and
        # (with a blur) clear of the next layer's blurred signal
        end = far_end - side * max(half_bin, 3.0 * blur)
    # with a blur, the bins within 3 std of the wall also hold the blurred
    # step of the immobile level and of the electrode's own signal
    start = wall + side * max(half_bin, 3.0 * blur)
    full = (start, end) if side == 1 else (end, start)
    if half_layer:
        # the semi-infinite transient ignores the far electrode: fit the half
        # of the layer next to the wall (the far half depletes in a closed
        # layer once d + 3 s approaches the thickness)
        end = 0.5 * (wall + (end if far_end is None else far_end))
    layer = (start, end) if side == 1 else (end, start)
    if signal_range is None:
        return layer
    # a range of the user's: never past the layer (the fit would include the
    # electrode or the next layer)
    a, b = sorted(float(v) for v in signal_range)
    lo_l, hi_l = sorted(full)
    clipped = (max(a, lo_l), min(b, hi_l))
    n_given = np.count_nonzero((x >= a - 1e-9) & (x <= b + 1e-9))
    n_kept = np.count_nonzero((x >= clipped[0] - 1e-9) & (x <= clipped[1] + 1e-9))
    if n_kept < n_given:
        warnings.warn(
            f"signal_range ({a:g}, {b:g}) {units} reaches beyond the layer "
            f"({lo_l:g}, {hi_l:g}): fitted over ({clipped[0]:g}, {clipped[1]:g}).",
            UserWarning,
            stacklevel=3,
        )
    if not clipped[1] > clipped[0]:
        raise ValueError(
            f"signal_range ({a:g}, {b:g}) lies outside the layer ({lo_l:g}, "
            f"{hi_l:g}) {units}."
        )
    return clipped
