"""The per-stage timer of ``fit_emission``
(:mod:`hyperspy_perovskite.signals._cl_stages`)."""

import threading
import time
import warnings

import numpy as np
import pytest

from hyperspy_perovskite import fitting
from hyperspy_perovskite.data.cl_simulation import simulate_cl_map
from hyperspy_perovskite.signals import _cl_stages
from hyperspy_perovskite.signals._cl_stages import stage, timing

#: Two bands and an Urbach tail, bright enough for the coarse pass to run.
_SCENE = {"n_particles": 3, "peak_counts": 300.0, "tail": True, "second_peak": True}


def _scene(n=6, n_channels=1024, seed=4):
    """A CL map in wavelength (:func:`simulate_cl_map`) of ``_SCENE``."""
    return simulate_cl_map(shape=(n, n), n_channels=n_channels, seed=seed, **_SCENE)[1]


def test_off_records_nothing():
    """Without timing() every stage is the one shared do-nothing context."""
    assert stage("a") is stage("b") is _cl_stages._NULL
    with stage("a"):
        pass
    assert _cl_stages._ACTIVE is None


def test_nested_stages_and_self_times():
    """Paths join the nesting; a stage's self time is its own less its
    children's; calls are counted."""
    with timing() as t:
        for _ in range(2):
            with stage("outer"):
                time.sleep(0.002)
                with stage("inner"):
                    time.sleep(0.01)
    d = t.as_dict(digits=9)
    assert list(d) == ["outer", "outer/inner"]
    assert d["outer"]["calls"] == d["outer/inner"]["calls"] == 2
    assert d["outer/inner"]["wall"] >= 0.02
    assert d["outer"]["self_wall"] == pytest.approx(
        d["outer"]["wall"] - d["outer/inner"]["wall"]
    )
    assert d["outer"]["self_wall"] >= 0.004  # its own sleeps
    # sleeping costs no CPU
    assert d["outer/inner"]["thread_cpu"] < 0.5 * d["outer/inner"]["wall"]
    assert "inner" in t.table().splitlines()[2]


def test_other_threads_and_reentry():
    """A stage entered on another thread is not recorded (it is part of the
    stage that waits for it); timing() is not reentrant."""
    with timing() as t:
        worker = threading.Thread(target=lambda: stage("elsewhere").__enter__())
        worker.start()
        worker.join()
        with pytest.raises(RuntimeError):
            with timing():
                pass
    assert t.stages == {}
    assert _cl_stages._ACTIVE is None


def test_every_engine_call_of_a_fit_is_an_engine_stage(monkeypatch):
    """Each fast_multifit call of a free-tail fit (binned, second starts,
    one-step fits, full resolution, Urbach refits) runs inside a stage named
    "engine"; the top-level stages are the fit's steps, within its time."""
    s = _scene()
    n_calls = [0]
    inner = fitting.fast_multifit

    def counting(*args, **kwargs):
        n_calls[0] += 1
        return inner(*args, **kwargs)

    monkeypatch.setattr(fitting, "fast_multifit", counting)
    with warnings.catch_warnings(), timing() as t:
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        s.fit_emission(n_peaks=2, tail=True, axis="energy")
        wall = time.perf_counter() - t0
    d = t.as_dict(digits=9)
    engine = [p for p in d if p.rsplit("/", 1)[-1] == "engine"]
    assert n_calls[0] >= 4
    assert sum(d[p]["calls"] for p in engine) == n_calls[0]
    for path in ("prepare/to_eV", "run_fit/coarse/engine", "finish_fit"):
        assert path in d
    top = [p for p in d if "/" not in p]
    for step in ("prepare", "build_model", "run_fit", "finish_fit", "keep_outcome"):
        assert step in top
    assert sum(d[p]["wall"] for p in top) <= wall
    assert np.isfinite([r["cpu"] for r in d.values()]).all()
