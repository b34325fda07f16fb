"""Checks of publication-quality figures, on the matplotlib objects and the PNG."""

import types

import numpy as np
import pytest


def _labelled(ax):
    """Both axis labels carry a unit in parentheses (or the axes are a map)."""
    return all("(" in lab and ")" in lab for lab in (ax.get_xlabel(), ax.get_ylabel()))


def _colorbars(fig):
    return [a for a in fig.axes if a.get_label() == "<colorbar>"]


def _scale_bar(ax, unit):
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    bars = [a for a in ax.artists if isinstance(a, AnchoredSizeBar)]
    return bool(bars) and bars[0].txt_label.get_text().endswith(f" {unit}")


def _png_dpi(path):
    from PIL import Image

    with Image.open(path) as im:
        return im.info["dpi"][0]


def _no_overlap(fig):
    """No two texts (titles, labels, tick labels of one axis excluded) overlap."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = []
    for ax in fig.axes:
        for t in (ax.title, ax.xaxis.label, ax.yaxis.label, *ax.texts):
            if t.get_visible() and t.get_text():
                boxes.append((t.get_text(), t.get_window_extent(renderer)))
    for i, (ta, a) in enumerate(boxes):
        for tb, b in boxes[i + 1 :]:
            if a.overlaps(b) and a.width > 0 and b.width > 0:
                return f"{ta!r} overlaps {tb!r}"
    return None


def _masked_where(image, invalid):
    arr = image.get_array()
    values = np.ma.filled(np.ma.asarray(arr, dtype=float), np.nan)
    return bool(np.all(np.isnan(values[np.asarray(invalid, bool)])))


@pytest.fixture
def fig_checks():
    return types.SimpleNamespace(
        labelled=_labelled,
        colorbars=_colorbars,
        scale_bar=_scale_bar,
        png_dpi=_png_dpi,
        no_overlap=_no_overlap,
        masked_where=_masked_where,
    )
