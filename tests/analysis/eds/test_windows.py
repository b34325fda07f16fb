"""Channel windows of X-ray lines: the channels HyperSpy's axis would pick."""

import hyperspy.api as hs
import numpy as np
import pytest

from hyperspy_perovskite.analysis.eds.windows import window_channels


def _axis(offset=0.01, scale=0.02, size=512):
    s = hs.signals.Signal1D(np.zeros(size))
    ax = s.axes_manager[0]
    ax.offset, ax.scale = offset, scale
    return ax


def test_same_channels_as_value2index():
    # random windows, plus edges on exact half-channel ties
    ax = _axis()
    rng = np.random.default_rng(3)
    starts = rng.uniform(ax.low_value, ax.high_value - 0.5, 200)
    ends = starts + rng.uniform(0.001, 0.4, 200)
    ties = ax.offset + ax.scale * (np.arange(10, 300, 29) + 0.5)
    windows = np.concatenate([np.c_[starts, ends], np.c_[ties, ties + 0.1]])
    wins, _ = window_channels(ax.axis, windows, uniform=(ax.offset, ax.scale))
    for (a, b), (i0, i1) in zip(windows, wins, strict=True):
        j0, j1 = ax.value2index(a), ax.value2index(b)
        if j1 <= j0:
            j0 = ax.value2index(0.5 * (a + b))
            j1 = j0 + 1
        assert (i0, i1) == (j0, j1), (a, b)


def test_background_windows_and_errors():
    ax = _axis(scale=10.0, offset=5.0, size=200)  # eV
    wins, bws = window_channels(
        ax.axis,
        [(600.0, 700.0)],
        [(400.0, 450.0, 900.0, 950.0)],
        names=["X_Ka"],
        uniform=(ax.offset, ax.scale),
    )
    assert wins == [(59, 69)]  # 600 eV lies between channels 59 and 60: lower
    assert bws == [(39, 44, 89, 94)]
    with pytest.raises(ValueError, match="integration window of X_Ka.*eV"):
        window_channels(ax.axis, [(1990.0, 2100.0)], names=["X_Ka"], units="eV")
    with pytest.raises(ValueError, match="background windows of X_Ka"):
        window_channels(
            ax.axis, [(600.0, 700.0)], [(-40.0, 0.0, 900.0, 950.0)], names=["X_Ka"]
        )


def test_non_uniform_axis():
    e = np.sqrt(np.linspace(1.0, 100.0, 300))  # channels closer at high energy
    wins, _ = window_channels(e, [(3.0, 4.0)])
    i0, i1 = wins[0]
    assert np.argmin(np.abs(e - 3.0)) == i0 and np.argmin(np.abs(e - 4.0)) == i1
