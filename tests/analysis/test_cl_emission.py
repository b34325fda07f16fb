"""Array algorithms of emission bands: estimates, centroid, flags, histograms."""

import dask.array as da
import numpy as np
import pytest

from hyperspy_perovskite.analysis.cl_emission import estimate_band, estimate_urbach
from hyperspy_perovskite.analysis.cl_maps import (
    centroid,
    histogram2d_valid,
    histogram_valid,
    poisson_variance,
    quality_flags,
)

X = np.linspace(640.0, 800.0, 321)


def _band(c, s, h, b0=0.0, b1=0.0):
    return h * np.exp(-0.5 * ((X - c) / s) ** 2) + b0 + b1 * X


@pytest.mark.parametrize("baseline", ["offset", "linear", "none"])
def test_estimate_band_exact(baseline):
    b0, b1 = {"offset": (20.0, 0.0), "linear": (-50.0, 0.1), "none": (0.0, 0.0)}[
        baseline
    ]
    y = np.stack([_band(700, 6, 80, b0, b1), _band(725, 12, 40, b0, b1)])
    est = estimate_band(X, y, baseline=baseline)
    np.testing.assert_allclose(est[:, 0], [700, 725], atol=0.3)
    np.testing.assert_allclose(est[:, 1], [6, 12], rtol=0.06)
    np.testing.assert_allclose(est[:, 2], [80, 40], rtol=0.06)
    np.testing.assert_allclose(est[:, 3], est[:, 2] * est[:, 1] * np.sqrt(2 * np.pi))


def test_estimate_band_lazy_equals_eager_and_dark_nan():
    rng = np.random.default_rng(0)
    y = rng.poisson(_band(710, 8, 50, 10) * np.ones((4, 5, 1))).astype(float)
    y[0, 0] = 0.0
    y[0, 1, 10] = np.nan
    e = estimate_band(X, y)
    lz = estimate_band(X, da.from_array(y, chunks=(2, 2, 100)))
    np.testing.assert_allclose(e, lz)
    assert e[0, 0, 3] == 0.0 and np.isfinite(e[0, 0]).all()
    assert abs(e[0, 1, 0] - 710) < 1.5


def test_estimate_band_bad_input():
    with pytest.raises(ValueError, match="baseline"):
        estimate_band(X, np.ones((2, X.size)), baseline="cubic")
    with pytest.raises(ValueError, match="channels"):
        estimate_band(X, np.ones((2, 10)))


def test_estimate_urbach():
    E = np.linspace(1.5, 1.8, 301)
    y = np.stack(
        [np.where(E <= 1.75, 100 * np.exp((E - 1.75) / eu), 0) for eu in (0.015, 0.04)]
    )
    est = estimate_urbach(E, y)
    np.testing.assert_allclose(est[:, 2], [0.015, 0.04], rtol=0.05)
    np.testing.assert_allclose(est[:, 1], 1.75, atol=0.005)  # smoothed cusp


def test_centroid_and_lazy():
    y = _band(712, 5, 30, 4) * np.ones((3, 1))
    np.testing.assert_allclose(centroid(X, y), 712, atol=0.05)
    # without baseline removal the flat background pulls it to the middle
    assert abs(centroid(X, y, subtract_baseline=False)[0] - 720) < abs(712 - 720)
    lz = centroid(X, da.from_array(y, chunks=(1, 100)))
    np.testing.assert_allclose(lz.compute(), centroid(X, y))


def test_quality_flags_bits():
    f = quality_flags(
        area=np.array([100.0, 100.0, 1.0, 100.0, 100.0, np.nan, 100.0]),
        area_std=np.array([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]),
        centre=np.array([700.0, 900.0, 700.0, 700.0, 700.0, 700.0, 700.0]),
        sigma=np.array([5.0, 5.0, 5.0, 0.01, 5.0, 5.0, 5.0]),
        x_range=(640, 800),
        channel_width=0.5,
        convergence=np.array([0, 0, 0, 0, 1, 0, 0]),
        reduced_chisq=np.array([1, 1, 1, 1, 1, 1, 9.0]),
        max_reduced_chisq=3.0,
    )
    assert f.tolist() == [0, 8, 4, 16, 1, 2 | 4, 32]


def test_histograms():
    v = np.array([1.0, 2.0, 2.5, 3.0, np.nan])
    ok = np.array([True, True, True, False, True])
    c, e = histogram_valid(v, ok, bins=3, range=(0.5, 3.5))
    assert c.tolist() == [1, 1, 1]
    h, ea, eb = histogram2d_valid(v, v * 10, ok, bins=2)
    assert h.sum() == 3
    with pytest.raises(ValueError, match="No valid pixel"):
        histogram_valid(v, np.zeros(5, bool))
    with pytest.raises(ValueError, match="No valid pixel"):
        histogram2d_valid(v, v, np.zeros(5, bool))


def test_poisson_variance_lazy():
    y = np.array([[0.0, 4.0, 8.0, np.nan, 2.0]])
    v = poisson_variance(y, width=3)
    assert np.isnan(v[0, 3]) and (v[0, [0, 1, 2, 4]] >= 1).all()
    np.testing.assert_allclose(
        poisson_variance(da.from_array(y), width=3).compute(), v, equal_nan=True
    )
