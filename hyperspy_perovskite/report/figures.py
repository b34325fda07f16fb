"""Figure helpers of the report: maps with scale bars, masked pixels, labels.

Every map drawn here shows invalid pixels in light grey (NaN), carries a
scale bar in the navigation-axis unit and a colourbar labelled with quantity
and unit; units are written with :func:`hyperspy_perovskite.units.unit_label`
(``Å``, ``µm``).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "add_scale_bar",
    "axis_label",
    "note_warnings",
    "save_figure",
    "si_scale",
    "show_map",
]

_NICE = (1, 2, 5)


def axis_label(name, unit, current=False):
    """``"name (unit)"`` with the unit written as a reader expects (Å, µm).

    ``current=True`` keeps ``"A"`` as ampere (otherwise a bare ``"A"`` is a
    length and is written Å).
    """
    from hyperspy_perovskite.units import unit_label

    unit = "" if unit is None else str(unit)
    if unit in ("", "<undefined>", "Undefined"):
        return str(name)
    if current:
        return f"{name} ({unit})"
    try:
        unit = unit_label(unit)
    except Exception:  # an unknown unit is shown as written
        pass
    return f"{name} ({unit})"


_PREFIXES = ((1e-12, "p"), (1e-9, "n"), (1e-6, "µ"), (1e-3, "m"), (1.0, ""))


def si_scale(values, unit):
    """Factor and unit that put ``max |values|`` in [1, 1000) (A -> mA, µA...).

    Only for plain SI units without a prefix (A, V, W, Ohm); others are
    returned unchanged.

    Examples
    --------
    >>> from hyperspy_perovskite.report.figures import si_scale
    >>> si_scale([0.0, 0.018], "A")
    (1000.0, 'mA')
    >>> si_scale([0.0, 40.0], "V")
    (1.0, 'V')
    """
    v = np.asarray(values, dtype=float)
    v = np.abs(v[np.isfinite(v)])
    if unit not in ("A", "V", "W") or v.size == 0 or v.max() == 0 or v.max() >= 1:
        return 1.0, unit
    best = _PREFIXES[0]
    for factor, prefix in _PREFIXES:
        if v.max() >= factor:
            best = (factor, prefix)
    return 1.0 / best[0], best[1] + unit


def _nice_length(target):
    """The largest 1/2/5 x 10^n not above ``target``."""
    if not np.isfinite(target) or target <= 0:
        return None
    exp = np.floor(np.log10(target))
    best = None
    for e in (exp - 1, exp):
        for n in _NICE:
            v = n * 10**e
            if v <= target:
                best = v
    return best


def add_scale_bar(ax, pixel_size, unit, n_pixels_x, fraction=0.25):
    """Draw a scale bar of a round length near ``fraction`` of the width.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Axes of an ``imshow`` in pixel coordinates.
    pixel_size : float
        Size of one pixel in ``unit``.
    unit : str
    n_pixels_x : int
        Width of the image in pixels.
    fraction : float
        Target length as a fraction of the image width.

    Returns
    -------
    float or None
        The bar length in ``unit`` (None if the pixel size is unusable); a
        length unit is labelled in nm, µm or mm, whichever reads best
        ("200 nm", not "0.0002 mm").

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from hyperspy_perovskite.report.figures import add_scale_bar
    >>> fig, ax = plt.subplots()
    >>> _ = ax.imshow(np.zeros((12, 12)))
    >>> float(round(add_scale_bar(ax, 2.5e-5, "mm", 12), 6))  # labelled "50 nm"
    5e-05
    >>> plt.close(fig)
    """
    from matplotlib import font_manager
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    to_nm = {"m": 1e9, "mm": 1e6, "um": 1e3, "µm": 1e3, "μm": 1e3, "nm": 1.0}
    shown_unit, per_unit = unit, 1.0  # a length is labelled in nm, µm or mm
    if unit in to_nm:
        width_nm = abs(pixel_size) * to_nm[unit] * n_pixels_x * fraction
        shown_unit = "nm" if width_nm < 1e3 else ("µm" if width_nm < 1e6 else "mm")
        per_unit = to_nm[shown_unit] / to_nm[unit]  # `unit`s per shown unit
    length = _nice_length(abs(pixel_size) * n_pixels_x * fraction / per_unit)
    if length is None:
        return None
    label = axis_label("", shown_unit).strip().strip("()")
    text = f"{length:g} {label}".strip()
    length = length * per_unit  # back to `unit`
    bar = AnchoredSizeBar(
        ax.transData,
        length / abs(pixel_size),
        text,
        "lower left",
        pad=0.3,
        color="white",
        frameon=False,
        size_vertical=max(n_pixels_x / 100.0, 0.15),
        fontproperties=font_manager.FontProperties(size=8),
    )
    bar.txt_label._text.set_path_effects(_outline())
    ax.add_artist(bar)
    return length


def _outline():
    from matplotlib import patheffects

    return [patheffects.withStroke(linewidth=2, foreground="black")]


def show_map(ax, signal, label, unit="", cmap="viridis", valid=None, robust=True):
    """Show a 2D map with masked invalid pixels, colourbar label and scale bar.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    signal : hyperspy.signal.BaseSignal or numpy.ndarray
        A 2D map; a HyperSpy signal gives the pixel size and unit of the
        scale bar (its navigation or signal axes, whichever are 2D).
    label : str
        Quantity shown (colourbar label).
    unit : str
        Unit of the values.
    cmap : str
    valid : numpy.ndarray of bool, optional
        True where a pixel is valid; others are NaN (light grey).
    robust : bool
        Colour limits from the 1st and 99th percentiles of the valid pixels.

    Returns
    -------
    matplotlib.image.AxesImage
    """
    import matplotlib.pyplot as plt

    data = np.asarray(getattr(signal, "data", signal), dtype=float).copy()
    if data.ndim != 2:
        raise ValueError(f"show_map needs a 2D map, got shape {data.shape}.")
    if valid is not None:
        data[~np.asarray(valid, dtype=bool)] = np.nan
    finite = data[np.isfinite(data)]
    vmin = vmax = None
    if robust and finite.size:
        vmin, vmax = np.percentile(finite, [1, 99])
        if vmin == vmax:
            vmin, vmax = None, None
    cm = plt.get_cmap(cmap).with_extremes(bad="0.85")
    im = ax.imshow(data, cmap=cm, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    cb = ax.figure.colorbar(im, ax=ax, shrink=0.85)
    cb.set_label(axis_label(label, unit))
    axes = _map_axes(signal)
    if axes is not None:
        add_scale_bar(ax, axes[0].scale, axes[0].units, data.shape[1])
    return im


def _map_axes(signal):
    am = getattr(signal, "axes_manager", None)
    if am is None:
        return None
    for group in (am.signal_axes, am.navigation_axes):
        if len(group) == 2 and all(getattr(a, "is_uniform", False) for a in group):
            return group
    return None


def note_warnings(fig, messages, y=-0.02):
    """Write the warnings that concern a figure under it (wrapped, in red).

    Returns the text artist (None when there is nothing to say).
    """
    import textwrap

    messages = [m for m in dict.fromkeys(str(m) for m in messages) if m]
    if not messages:
        return None
    width = int(fig.get_figwidth() * 14)
    text = "\n".join(textwrap.fill(f"Warning: {m}", width) for m in messages)
    return fig.text(0.01, y, text, ha="left", va="top", fontsize=7, color="C3",
                    wrap=True)  # fmt: skip


def save_figure(fig, path, figures=None, dpi=150):
    """Save ``fig`` at ``dpi`` (tight); close it unless ``figures`` keeps it.

    ``figures`` (a dict) receives ``{path.stem: fig}`` so that tests can check
    the matplotlib objects of a demo's figures.
    """
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    if figures is None:
        plt.close(fig)
    else:
        figures[path.stem] = fig
    return path
