"""The solver compiled by a second process is what a fit loads, never stale code."""

from numba import njit

from hyperspy_perovskite.fitting import _background, _cache, _compile
from hyperspy_perovskite.fitting import _levenberg_marquardt as lm


def test_second_process_compiles_the_solver_into_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(_background, "_PROCESS", {})
    key = _compile._solver_cache_key()
    assert key is not None and not _compile.solver_on_disk(key)
    assert _background.start(key, _compile.solver_cache_entry(key))
    assert _background.start(key, _compile.solver_cache_entry(key))  # once per key
    assert len(_background._PROCESS) == 1
    assert _background.wait(_compile.solver_cache_entry(key))
    assert _compile.solver_on_disk(key)
    assert all(p.is_relative_to(tmp_path) for p in tmp_path.rglob("*"))
    # a fresh dispatcher of the solver loads that machine code: no compilation
    fresh = njit(nogil=True, error_model="numpy", _nrt=False)(lm.fit_block.py_func)
    assert _cache.enable_disk_cache(fresh, key)
    fresh.compile(_compile._fit_block_args())
    assert sum(fresh._cache_hits.values()) == 1
    assert sum(fresh._cache_misses.values()) == 0


def test_second_process_refuses_another_key(tmp_path, monkeypatch):
    # the caller's sources differ from the ones the second process imported
    # (edited in between): it must not store its code under the caller's key
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    assert _background._main("0" * 24) == 3
    assert not list(tmp_path.rglob("*.nbi"))


def test_off_switch_and_solver_at_hand(tmp_path, monkeypatch):
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(_background, "_PROCESS", {})
    monkeypatch.setenv("HYPERSPY_PEROVSKITE_BACKGROUND_COMPILE", "0")
    assert not _background.enabled()
    key = _compile._solver_cache_key()
    assert not _background.start(key, _compile.solver_cache_entry(key))
    monkeypatch.delenv("HYPERSPY_PEROVSKITE_BACKGROUND_COMPILE")
    entry = _compile.solver_cache_entry(key)
    entry.mkdir(parents=True)
    (entry / "fit_block.nbi").touch()  # on disk: loaded when needed
    _compile.start_solver_compile()
    monkeypatch.setattr(_compile, "_FIT_BLOCK", object())  # compiled here
    _compile.start_solver_compile()
    assert _background._PROCESS == {}  # nothing to do in either case


def test_looking_up_fast_multifit_starts_it(monkeypatch):
    # ``from hyperspy_perovskite.fitting import fast_multifit`` (a fit is
    # coming) starts the second process; importing the package for its
    # registry, as components do, does not (tests/fitting/test_import_graph.py)
    import hyperspy_perovskite.fitting as fitting

    calls = []
    monkeypatch.setattr(_compile, "start_solver_compile", lambda: calls.append(1))
    monkeypatch.delitem(vars(fitting), "fast_multifit", raising=False)
    assert "fast_multifit" in dir(fitting)
    assert fitting.fast_multifit is fitting.engine.fast_multifit
    assert calls == [1]
