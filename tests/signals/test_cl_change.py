"""The count noise of a refit's chi-squared change by the compiled model
(``signals/_cl_change.py``), against HyperSpy's own evaluation of each
pixel's components, and the NumPy fallback of ``_cl_refit.change_scale``."""

import warnings

import numpy as np
import pytest

from hyperspy_perovskite.data import simulated_emission_map
from hyperspy_perovskite.signals import _cl_change, _cl_refit
from hyperspy_perovskite.signals._cl_snapshot import _snapshot


@pytest.fixture(scope="module")
def fitted():
    """A band + Urbach tail + dark level fitted by ``fit_emission`` (so the
    model's compiled ``evaluate`` exists), and a second set of values: the
    tail steeper and shifted, the band wider, the dark level higher."""
    s, _ = simulated_emission_map(shape=(3, 4), seed=5)
    s.set_signal_type("CL_STEM_perovskite")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = s.fit_emission(tail=True, axis="energy")
    params = [p for c in m for p in c.parameters]
    before = {p: np.array(p.map["values"], float).reshape(-1) for p in params}
    after = dict(before)
    t, band = m["Urbach"], m["Emission"]
    after[t.Eu] = 0.7 * before[t.Eu]
    after[t.E0] = before[t.E0] - 0.01
    after[t.A] = 1.4 * before[t.A]
    after[band.sigma] = 1.1 * before[band.sigma]
    assert t.sigma.twin is band.sigma  # the maps hold a twin's values too
    after[t.sigma] = after[band.sigma]
    off = [p for p in params if p.name == "offset"][0]
    after[off] = before[off] + 2.0
    return m, params, before, after


def _hyperspy_curve(m, params, values, i, x):
    """The sum of ``m``'s active components at pixel ``i`` on ``x``, by
    HyperSpy's ``component.function`` with each parameter's value set (a
    twin's value follows its twin)."""
    for p in params:
        if p.twin is None:
            p.value = float(values[p][i])
    return sum(c.function(x) for c in m if c.active)


def test_change_ratio_is_hyperspys_curves_reduced(fitted):
    m, params, before, after = fitted
    channels, x = _cl_refit._curve_channels(m)
    g = np.linspace(0.5, 2.0, x.size)  # count variance per unit of the model
    got = _cl_change.change_ratio(m, x, g, before, after)
    n = got.size
    assert n == 12 and np.isfinite(got).all()
    want = np.empty(n)
    for i in range(n):
        f0 = _hyperspy_curve(m, params, before, i, x)
        d2 = (_hyperspy_curve(m, params, after, i, x) - f0) ** 2
        want[i] = (d2 * np.maximum(g * f0, 1.0)).sum() / d2.sum()
    np.testing.assert_allclose(got, want, rtol=1e-9)
    # the ratio is a mean of g f0 where the model moved: between its extremes
    assert (got > 1.0).all() and (got < (g * 1e6).max()).all()


def test_change_ratio_nan_where_a_value_is_not_finite_or_nothing_moved(fitted):
    m, params, before, after = fitted
    _, x = _cl_refit._curve_channels(m)
    g = np.ones(x.size)
    bad = {p: v.copy() for p, v in after.items()}
    bad[params[0]][3] = np.nan
    got = _cl_change.change_ratio(m, x, g, before, bad)
    assert np.isnan(got[3]) and np.isfinite(np.delete(got, 3)).all()
    assert np.isnan(_cl_change.change_ratio(m, x, g, before, before)).all()


def test_change_scale_compiled_and_numpy_agree(fitted, monkeypatch):
    """``change_scale`` by the compiled pass and by its NumPy fallback (the
    curves of HyperSpy's forms, ``_cl_curves.pixel_model``) on the same
    pixels: the same scales to rounding."""
    m, params, before, after = fitted
    shape = np.shape(m.chisq.data)
    first = _snapshot(m, None)
    saved = [np.array(p.map["values"]) for p in params]
    where = np.ones(shape, bool)
    where.flat[[1, 6]] = False
    g = np.ones(int(np.count_nonzero(m._channel_switches)))
    kw = {"count_variance": g}
    chi0 = np.array(m.chisq.data)
    try:
        for p in params:
            p.map["values"][...] = after[p].reshape(shape)
        compiled = _cl_refit.change_scale(m, where, first, chi0, kw)
        monkeypatch.setattr(_cl_change, "change_ratio", lambda *a: None)
        numpy = _cl_refit.change_scale(m, where, first, chi0, kw)
    finally:
        for p, v in zip(params, saved, strict=True):
            p.map["values"][...] = v
    assert np.isnan(compiled[~where]).all() and np.isnan(numpy[~where]).all()
    assert np.isfinite(compiled[where]).all()
    np.testing.assert_allclose(compiled[where], numpy[where], rtol=1e-9)
