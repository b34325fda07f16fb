"""The fitted model at chosen pixels (``signals/_cl_curves.py``), against
HyperSpy's own evaluation of each pixel's components."""

import hyperspy.api as hs
import numpy as np

from hyperspy_perovskite import _threads
from hyperspy_perovskite.components import ContinuousUrbachTail, GaussianEmission
from hyperspy_perovskite.signals import _cl_curves


def _model(shape=(6, 7), n=120, seed=2):
    rng = np.random.default_rng(seed)
    s = hs.signals.Signal1D(np.zeros(shape + (n,)))
    ax = s.axes_manager.signal_axes[0]
    ax.offset, ax.scale, ax.units, ax.name = 1.5, 0.5 / n, "eV", "Energy"
    m = s.create_model()
    g, t, b = GaussianEmission(), ContinuousUrbachTail(), hs.model.components1D.Offset()
    m.extend([g, t, b])
    ranges = {
        g.A: (40, 60), g.centre: (1.70, 1.78), g.sigma: (0.025, 0.035),
        t.A: (5, 20), t.E0: (1.65, 1.72), t.Eu: (0.01, 0.06), t.sigma: (0.02, 0.03),
        b.offset: (1, 5),
    }  # fmt: skip
    for p, (lo, hi) in ranges.items():
        p._create_array()
        p.map["values"][:] = rng.uniform(lo, hi, shape)
        p.map["is_set"][:] = True
    return m, np.asarray(ax.axis, float)


def test_pixel_model_is_hyperspys_sum_of_components_on_threads(monkeypatch):
    m, x = _model()
    calls = []
    monkeypatch.setattr(_threads, "MIN_ROWS", 4)  # several blocks of rows
    real = _cl_curves.on_threads
    monkeypatch.setattr(
        _cl_curves, "on_threads", lambda run, n: calls.append(n) or real(run, n)
    )
    idx = np.array([0, 3, 5, 8, 13, 21, 22, 30, 34, 40, 41])
    got = _cl_curves.pixel_model(m, x[::3], idx)
    assert calls == [idx.size]  # the tail on threads, the rest on this one
    for row, flat in enumerate(idx):
        m.axes_manager.indices = np.unravel_index(flat, (6, 7))[::-1]
        m.fetch_stored_values()
        want = sum(c.function(x[::3]) for c in m)
        np.testing.assert_allclose(got[row], want, rtol=1e-12, atol=1e-12)
    # inactive components are left out
    m[0].active = False
    rest = _cl_curves.pixel_model(m, x, idx) - _cl_curves.pixel_model(m[1:], x, idx)
    assert not rest.any()


def test_pixel_model_from_given_maps():
    """``maps`` (a snapshot's copies) are read instead of the parameters'
    own: the curves of the maps as they were, bit for bit, after the maps
    changed; parameters not in ``maps`` are read from the model."""
    m, x = _model()
    idx = np.array([1, 4, 9, 17, 30])
    params = [p for c in m for p in c.parameters]
    saved = {p: p.map.copy() for p in params}
    before = _cl_curves.pixel_model(m, x, idx)
    for p in params:
        p.map["values"] *= 1.1
    assert not np.array_equal(_cl_curves.pixel_model(m, x, idx), before)
    assert np.array_equal(_cl_curves.pixel_model(m, x, idx, saved), before)
    offset = m[2].offset
    partial = {p: v for p, v in saved.items() if p is not offset}
    shift = 0.1 * saved[offset]["values"].reshape(-1)[idx][:, None]
    assert np.allclose(_cl_curves.pixel_model(m, x, idx, partial), before + shift)
