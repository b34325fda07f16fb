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
    assert _compile.solver_on_disk(key)  # the solver and the sandwich
    assert all(p.is_relative_to(tmp_path) for p in tmp_path.rglob("*"))
    # and the model-independent functions a first fit would compile next
    stored = {p.parent.name.split("-")[0] for p in tmp_path.rglob("*.nbc")}
    names = {"_normal_products", "screen_inputs", "no_sandwich", "_residual_block"}
    assert names <= stored, stored
    # fresh dispatchers load that machine code: no compilation
    fresh = njit(nogil=True, error_model="numpy", _nrt=False)(lm.fit_block.py_func)
    assert _cache.enable_disk_cache(fresh, key)
    fresh.compile(_compile._fit_block_args())
    sandwich = njit(nogil=True, error_model="numpy", _nrt=False)(
        lm.sandwich_deviations.py_func
    )
    _cache.cache_once(sandwich)
    sandwich.compile(_compile.SANDWICH_TYPE.signature)
    for function in (fresh, sandwich):
        assert sum(function._cache_hits.values()) == 1
        assert sum(function._cache_misses.values()) == 0


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
    started = []
    monkeypatch.setattr(_background, "start", lambda *a: started.append(a))
    monkeypatch.setattr(_compile, "_SOLVERS", {})  # none compiled here
    entry = _compile.solver_cache_entry(key)
    sandwich = _compile._cache.cache_dir() / "models" / "sandwich"
    monkeypatch.setattr(_compile, "_stored", lambda d: _compile._entry_stored(sandwich))
    for folder in (entry, sandwich):
        folder.mkdir(parents=True)
        (folder / "f.nbi").touch()
    assert not _compile.solver_on_disk(key)  # an index without its data
    _compile.start_solver_compile()
    (entry / "fit_block.1.nbc").touch()
    assert _compile.solver_on_disk(key, sandwich=False)
    _compile.start_solver_compile()  # the sandwich missing: compile it
    assert started == [(key, entry)] * 2
    (sandwich / "f.1.nbc").touch()  # both on disk
    _compile.start_solver_compile()
    monkeypatch.setattr(_compile, "_SOLVERS", dict.fromkeys(("solver", 0, 1)))
    _compile.start_solver_compile()  # compiled here
    assert len(started) == 2  # nothing to do in either case


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


def test_a_fit_waits_only_for_what_it_needs(tmp_path, monkeypatch):
    # the second process compiles the solver, then the sandwich: a fit that
    # needs the first loads it once stored, without waiting for the second
    import subprocess
    import sys
    import time

    entry = tmp_path / "entry"
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    monkeypatch.setattr(_background, "_PROCESS", {str(entry): process})
    try:
        t0 = time.monotonic()
        checks = []
        assert _background.wait(
            entry, ready=lambda: checks.append(1) or len(checks) > 3
        )
        assert time.monotonic() - t0 < 10.0 and process.poll() is None
        assert not _background.wait(entry, timeout=0.1, ready=lambda: False)
    finally:
        process.kill()
        process.wait()
    # a process that ends (stored both, or failed) ends the wait too
    assert not _background.wait(entry, ready=lambda: False)
