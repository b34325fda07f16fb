"""Fitted ranges of migration profiles (analysis.migration_ranges)."""

import numpy as np
import pytest

from hyperspy_perovskite.analysis.migration_ranges import layer_end, layer_fit_range

X = np.arange(1.0, 200.0, 2.0)  # 2 nm bins, centres 1..199 nm


def test_layer_end_next_interface_on_each_side():
    assert layer_end(X, 50.0, 1, [10.0, 50.0, 120.0, 180.0]) == 120.0
    assert layer_end(X, 50.0, -1, [10.0, 50.0, 120.0]) == 10.0
    assert layer_end(X, 50.0, 1, [10.0, 250.0]) is None  # beyond the profile


@pytest.mark.parametrize("side", [1, -1])
def test_range_keeps_whole_bins_inside_the_layer(side):
    # a 70 nm layer between a wall and the next interface
    wall = 50.0 if side == 1 else 150.0
    far = wall + side * 70.0
    lo, hi = layer_fit_range(X, wall, side, interfaces=[far])
    inside = X[(X >= lo) & (X <= hi)]
    # every kept bin (width 2 nm) lies entirely inside the layer
    edges = np.sort([wall, far])
    assert inside.min() - 1.0 >= edges[0] - 1e-9
    assert inside.max() + 1.0 <= edges[1] + 1e-9
    assert inside.size == 35  # all 35 bins of the layer


def test_blur_and_half_layer():
    lo, hi = layer_fit_range(X, 50.0, 1, interfaces=[120.0], blur=3.0)
    assert (lo, hi) == (59.0, 111.0)  # 3 std of the blur clear of both ends
    lo, hi = layer_fit_range(X, 50.0, 1, interfaces=[120.0], half_layer=True)
    assert (lo, hi) == (51.0, 85.0)  # up to the middle of the layer


def test_user_range_clipped_with_a_warning():
    assert layer_fit_range(X, 50.0, 1, (60.0, 100.0), [120.0]) == (60.0, 100.0)
    with pytest.warns(UserWarning, match="reaches beyond the layer"):
        got = layer_fit_range(X, 50.0, 1, (40.0, 100.0), [120.0], units="nm")
    assert got == (51.0, 100.0)
    with pytest.raises(ValueError, match="outside the layer"):
        layer_fit_range(X, 50.0, 1, (130.0, 150.0), [120.0])
    with pytest.raises(ValueError, match="wall=250.0 lies outside"):
        layer_fit_range(X, 250.0, 1, units="nm")
