"""Pixels whose binned fit found no Urbach tail
(:mod:`hyperspy_perovskite.signals._cl_settle`); their passes through a
whole fit are tested in ``test_cl_start.py``."""

import numpy as np
import pytest

from hyperspy_perovskite.signals import _cl_settle


def test_tail_absent_only_with_a_free_tail():
    """Held or shared shape (the band does not wait for the tail), or no
    continuous tail: every pixel gets its full-resolution fit."""

    class Settings:
        tail, eu_mode = "continuous", "held"

    assert _cl_settle.tail_absent(None, Settings(), np.ones(3, bool)) is None
    Settings.tail, Settings.eu_mode = "step", None
    assert _cl_settle.tail_absent(None, Settings(), np.ones(3, bool)) is None


def _scene(n=8, n_channels=512, seed=5):
    """Two bands and an Urbach tail on an energy axis."""
    import hyperspy.api as hs

    rng = np.random.default_rng(seed)
    E = np.linspace(1.45, 1.95, n_channels)
    c1 = rng.uniform(1.725, 1.755, (n, n))[..., None]
    s1 = rng.uniform(0.025, 0.035, (n, n))[..., None]
    band = 2500.0 * np.exp(-0.5 * ((E - c1) / s1) ** 2)
    minor = 500.0 * np.exp(-0.5 * ((E - c1 + 0.1) / s1) ** 2)
    tail = 300.0 * np.exp(np.minimum(E - c1 + 0.02, 0.0) / 0.025)
    s = hs.signals.Signal1D(rng.poisson(band + minor + tail + 3.0).astype(float))
    s.set_signal_type("CL_STEM_perovskite")
    ax = s.axes_manager.signal_axes[0]
    ax.offset, ax.scale, ax.units, ax.name = E[0], E[1] - E[0], "eV", "Energy"
    return s


def _state(m):
    """Every map the engine may write: parameter maps, chi-squared, dof."""
    maps = [p.map.copy() for c in m for p in c.parameters]
    return maps + [m.chisq.data.copy(), m.dof.data.copy()]


@pytest.mark.parametrize("max_iterations", [1, 3, 50])
def test_engine_writes_nothing_outside_its_pixels(max_iterations):
    """What one_step_fits' single snapshot rests on: a fit of some pixels
    (fast_multifit's ``mask`` leaves the others out) leaves every map of
    the other pixels bit for bit as it was, whatever the fit's outcome
    (converged, stopped at the iteration cap, failed)."""
    import warnings

    from hyperspy_perovskite.fitting import fast_multifit

    s = _scene()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = s.fit_emission(n_peaks=2, tail=True, axis="energy")
    rng = np.random.default_rng(max_iterations)
    for p in (q for c in m for q in c.parameters if q.free and q.twin is None):
        p.map["values"] *= rng.uniform(0.9, 1.1, p.map.shape)  # refit from here
    fitted = rng.random(m.chisq.data.shape) < 0.5
    before = _state(m)
    result = fast_multifit(
        m, mask=~fitted, starting_values="current", max_iterations=max_iterations
    )
    after = _state(m)
    flags = np.asarray(result.array("convergence"))
    assert (flags[fitted] != 0).any() or max_iterations == 50
    changed = np.zeros(fitted.shape, bool)
    for a, b in zip(before, after, strict=True):
        for name in a.dtype.names or (None,):
            x, y = (a, b) if name is None else (a[name], b[name])
            same = (
                (x == y) | (np.isnan(x) & np.isnan(y))
                if x.dtype.kind == "f"
                else x == y
            )
            assert same[~fitted].all()  # nothing written outside
            changed |= ~same
    assert changed[fitted].all()  # the fitted pixels were written


def test_one_snapshot_serves_both_one_step_fits(monkeypatch):
    """one_step_fits takes one snapshot for settle and settle_present."""
    from hyperspy_perovskite.signals import _cl_snapshot

    taken = []
    inner = _cl_snapshot._snapshot

    def counting(m, result):
        taken.append(result)
        return inner(m, result)

    monkeypatch.setattr(_cl_snapshot, "_snapshot", counting)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _scene(n=6, n_channels=1024).fit_emission(n_peaks=2, tail=True, axis="energy")
    assert len([r for r in taken if r is None]) == 1


@pytest.mark.parametrize("lazy", [False, True])
def test_start_later_puts_what_start_at_puts(lazy):
    """The reversed pixels' starting values made on a kept thread
    (start_later, beside the one-step fits) are _start_at's, bit for bit,
    at those pixels only; lazy data too."""
    import threading
    import warnings

    from hyperspy_perovskite.signals import _cl_start
    from hyperspy_perovskite.signals._cl_fit import FitSettings, build_model

    s = _scene(n=5)
    if lazy:
        s = s.as_lazy()
    settings = FitSettings(2, "gaussian", True, "offset", "energy")
    ax = s.axes_manager.signal_axes[0]
    x1, x2 = ax.low_value, ax.high_value
    pixels = np.random.default_rng(0).random((5, 5)) < 0.4
    maps = []
    for later in (False, True):
        m = build_model(s, settings, x1, x2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _cl_start.starting_values(m, s, settings, x1, x2, variant=1)
        if later:
            threads = []
            inner = _cl_start.estimates

            def recording(*args, inner=inner, threads=threads):
                threads.append(threading.current_thread())
                return inner(*args)

            _cl_start.estimates = recording
            try:
                _cl_settle.start_later(m, s, settings, x1, x2, 0, pixels)()
            finally:
                _cl_start.estimates = inner
            assert threads and threads[0] is not threading.current_thread()
        else:
            _cl_start._start_at(m, s, settings, x1, x2, 0, pixels)
        maps.append([p.map.copy() for c in m for p in c.parameters])
    for a, b in zip(*maps, strict=True):
        assert np.array_equal(a["values"], b["values"], equal_nan=True)
        assert (a["is_set"] == b["is_set"]).all()
