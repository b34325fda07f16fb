"""``fast_multifit(collapse=...)``: the early end of a fit whose peak collapses
(:mod:`hyperspy_perovskite.fitting._collapse`)."""

import hyperspy.api as hs
import numpy as np
import pytest
from numba import njit

from hyperspy_perovskite.fitting import fast_multifit, flags
from hyperspy_perovskite.fitting._collapse import collapsed

c1d = hs.model.components1D


@njit
def _collapsed(JtJ, theta, chi2, dof, peaks, src, scale, shift, significance):
    n = theta.shape[0]
    return collapsed(
        JtJ, np.zeros((n, n)), np.empty(n), theta, chi2, dof, peaks, src, scale,
        shift, significance,
    )  # fmt: skip


@pytest.mark.parametrize("seed", range(6))
def test_collapsed_against_the_inverse(seed):
    """The test against numpy's inverse: some peak amplitude below
    ``significance`` of ``sqrt(diag(JtJ^-1) chi2 / dof)``."""
    rng = np.random.default_rng(seed)
    n = 6
    J = rng.normal(size=(40, n))
    JtJ = J.T @ J
    theta = rng.normal(size=n)
    src = np.array([0, 3, 5, 1], np.int64)  # P index -> theta index
    scale = np.array([1.0, -2.0, 0.5, 1.0])
    shift = np.zeros(4)
    peaks = np.array([1, 2], np.int64)
    chi2, dof = 30.0, 34
    std = np.sqrt(np.diag(np.linalg.inv(JtJ)) * chi2 / dof)
    value = np.abs(scale[peaks] * theta[src[peaks]])
    z = value / (np.abs(scale[peaks]) * std[src[peaks]])
    for significance in (0.5 * z.min(), 0.5 * (z.min() + z.max()), 2 * z.max()):
        expected = bool(np.any(z < significance))
        args = (theta, chi2, dof, peaks, src, scale, shift, significance)
        assert _collapsed(JtJ, *args) is expected
    # nothing can be told: not positive definite, or no degrees of freedom
    assert not _collapsed(-JtJ, theta, chi2, dof, peaks, src, scale, shift, 1e9)
    assert not _collapsed(JtJ, theta, chi2, 0, peaks, src, scale, shift, 1e9)


def _two_band_map(seed=0):
    """Rows 0-1: two bands; rows 2-3: the second band absent (its amplitude
    collapses in the fit)."""
    rng = np.random.default_rng(seed)
    x = np.linspace(600.0, 800.0, 400)
    data = np.empty((4, 6, x.size))
    for i in range(4):
        for j in range(6):
            second = 4000.0 if i < 2 else 0.0
            f = 8000.0 * np.exp(-0.5 * ((x - 690.0 - j) / 12.0) ** 2)
            f = f / (12.0 * np.sqrt(2 * np.pi))
            f += second * np.exp(-0.5 * ((x - 740.0) / 15.0) ** 2) / (15 * 2.5066)
            data[i, j] = rng.poisson(f + 20.0)
    s = hs.signals.Signal1D(data)
    ax = s.axes_manager.signal_axes[0]
    ax.offset, ax.scale = x[0], x[1] - x[0]
    m = s.create_model()
    g1 = c1d.Gaussian(A=8000.0, centre=690.0, sigma=12.0)
    g2 = c1d.Gaussian(A=3000.0, centre=735.0, sigma=40.0)
    m.extend([g1, g2, c1d.Offset(offset=20.0)])
    for g in (g1, g2):
        g.A.bmin = 0.0
        g.sigma.bmin = 1.0
    return m, g2


def _fit(collapse):
    m, g2 = _two_band_map()
    m.assign_current_values_to_all()
    r = fast_multifit(m, starting_values="current", collapse=collapse)
    maps = [np.array(p.map) for c in m for p in c.parameters]
    flag = np.array(r.array("convergence"))
    return maps, flag, np.array(r.array("iterations")), g2


def test_collapse_ends_fits_without_the_band_early():
    """Without a second band the fits crawl (to the iteration cap, a singular
    matrix or NO_PEAK); with the rule each ends, flagged NO_PEAK, at the
    rule's first iteration, at a point where that band's amplitude is below
    the given significance of its (equal-noise) deviation. The other
    pixels' fits are bit for bit those without the rule."""
    maps0, flag0, it0, _ = _fit(None)
    maps1, flag1, it1, g2 = _fit((1.0, 4))
    absent = np.zeros(flag0.shape, bool)
    absent[2:] = True
    assert np.all(flag0[~absent] == flags.CONVERGED)
    assert np.sum(flag0[absent] == flags.CONVERGED) <= 1
    assert it0[absent].sum() > 4 * it1[absent].sum()
    assert np.all(flag1[absent] == flags.NO_PEAK)
    assert np.all(it1[absent] == 4)  # not before ``iterations``
    a = g2.A.map
    assert np.all(np.abs(a["values"][absent]) < a["std"][absent])
    for before, after in zip(maps0, maps1, strict=True):
        for field in ("values", "std", "is_set"):
            np.testing.assert_array_equal(before[field][~absent], after[field][~absent])
    np.testing.assert_array_equal(flag1[~absent], flag0[~absent])
