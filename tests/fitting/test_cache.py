"""The compiled code goes to a user cache folder keyed by the sources."""

import importlib
import sys
from pathlib import Path

import pytest

import hyperspy_perovskite
from hyperspy_perovskite import _numba_cache as nc

PACKAGE = Path(hyperspy_perovskite.__file__).parent


def test_cache_dir_honours_numba_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    assert nc.cache_dir() == tmp_path / "hyperspy_perovskite"
    monkeypatch.delenv("NUMBA_CACHE_DIR")
    default = nc.cache_dir()
    assert default.name == "numba" and "hyperspy_perovskite" in default.parts
    assert not default.is_relative_to(PACKAGE)


def _make_package(root, body):
    pkg = root / "userkernels"
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "helpers.py").write_text(body)
    return pkg


def test_fingerprint_follows_every_source_of_the_package(tmp_path, monkeypatch):
    pkg = _make_package(tmp_path, "SCALE = 2.0\n")
    (pkg / "kern.py").write_text(
        "from userkernels.helpers import SCALE\n\ndef k(x):\n    return SCALE * x\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [m for m in sys.modules if m.startswith("userkernels")]:
        monkeypatch.delitem(sys.modules, name)
    kern = importlib.import_module("userkernels.kern")
    first = nc.source_fingerprint([kern.k])
    assert first == nc.source_fingerprint([kern.k])  # stable
    (pkg / "helpers.py").write_text("SCALE = 3.0\n")  # a callee's module changed
    # this process still runs the old code: nothing may be cached under a key
    with pytest.warns(RuntimeWarning, match="changed after they were imported"):
        assert nc.source_fingerprint([kern.k]) is None
    # a new process (a new snapshot) gets a new key
    from hyperspy_perovskite import _sources

    monkeypatch.delitem(_sources._SNAPSHOTS, pkg)
    assert nc.source_fingerprint([kern.k]) not in (None, first)

    def interactive(x):  # defined here, in a test module: it has a file
        return x

    interactive.__module__ = "__main__"
    assert nc.source_fingerprint([interactive]) is None


def test_njit_cached_writes_in_the_cache_folder_only(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(cache))
    src = tmp_path / "src"
    pkg = _make_package(
        src,
        "from hyperspy_perovskite._numba_cache import njit_cached\n\n"
        "@njit_cached(nogil=True)\ndef triple(x):\n    return 3 * x\n",
    )
    monkeypatch.syspath_prepend(str(src))
    for name in [m for m in sys.modules if m.startswith("userkernels")]:
        monkeypatch.delitem(sys.modules, name)
    helpers = importlib.import_module("userkernels.helpers")
    assert helpers.triple(2) == 6
    written = list((cache / "hyperspy_perovskite").rglob("*.nbi"))
    assert written, "no cache index written"
    assert not list(pkg.rglob("*.nbi")) and not list(pkg.rglob("*.nbc"))


def test_helpers_for_compiled_callers_only(tmp_path, monkeypatch):
    """The engine's helpers compiled without Python entry points (faster to
    compile) refuse a Python call instead of crashing, and work from the
    disk cache in compiled callers."""
    import numpy as np
    from numba import njit, types

    from hyperspy_perovskite.fitting import _linalg, _normal_equations
    from hyperspy_perovskite.fitting.kernels import builtin

    helpers = (
        _linalg._cholesky_solve,
        _linalg._solve_linear_parameters,
        _linalg._inverse_diagonal,
        _normal_equations._normal_products,
        builtin._exp_inplace,
        builtin._exp_half_square_outwards,
    )
    for helper in helpers:
        assert isinstance(helper, nc.CompiledOnly)
    with pytest.raises(TypeError, match="compiled for numba functions only"):
        _linalg._cholesky_solve(np.eye(2), np.ones(2), np.zeros((2, 2)), np.ones(2))
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    py_func = _normal_equations._normal_products.py_func
    options = dict(nogil=True, error_model="numpy", _nrt=False)
    sig = (types.float64[:, ::1], types.float64[::1], types.int64[::1]) + (
        types.float64[:, ::1],
        types.float64[::1],
    )
    stored, loaded = (nc.njit_internal(**options)(py_func) for _ in range(2))
    for dispatcher in (stored, loaded):
        assert nc.enable_disk_cache(dispatcher, "k" * 24)
        dispatcher.compile(sig)
    assert sum(loaded._cache_hits.values()) == 1

    @njit
    def products(G, rb, active, M, Mr):
        loaded(G, rb, active, M, Mr)

    rng = np.random.default_rng(0)
    G, rb = rng.normal(size=(5, 40)), rng.normal(size=40)
    active = np.array([0, 2, 3, 4])
    M, Mr = np.empty((4, 4)), np.empty(4)
    products(G, rb, active, M, Mr)
    np.testing.assert_allclose(M, G[active] @ G[active].T, rtol=1e-12)
    np.testing.assert_allclose(Mr, G[active] @ rb, rtol=1e-12)


def _doubled(x):
    return 2 * x


def test_saving_signatures_at_once_keeps_the_index_consistent(tmp_path, monkeypatch):
    """Two savers of one cache entry (processes; here threads with their own
    caches, as the lock is per open file) save one after the other: while
    the first is inside numba's save, the second waits, so each signature's
    index line names its own machine code."""
    import threading

    from numba import njit, types
    from numba.core import caching

    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    compiled = njit(_doubled)
    sigs = [(types.float64,), (types.int64,)]
    for sig in sigs:
        compiled.compile(sig)
    results = [compiled.overloads[sig] for sig in sigs]
    monkeypatch.setattr(_doubled, "_hspy_cache_key", "r" * 24, raising=False)
    order, gate, inside = [], threading.Event(), threading.Event()
    save = caching.IndexDataCacheFile.save

    def slow_save(self, key, data):
        name = threading.current_thread().name
        order.append(f"{name} in")
        if name == "first":
            inside.set()
            gate.wait(10)
        save(self, key, data)
        order.append(f"{name} out")

    monkeypatch.setattr(caching.IndexDataCacheFile, "save", slow_save)
    threads = [
        threading.Thread(
            name=name,
            target=nc._KeyedFunctionCache(_doubled).save_overload,
            args=(sig, result),
        )
        for name, sig, result in zip(("first", "second"), sigs, results, strict=True)
    ]
    threads[0].start()
    assert inside.wait(10)
    threads[1].start()
    threads[1].join(0.5)
    assert order == ["first in"]  # the second waits for the lock
    gate.set()
    for t in threads:
        t.join(10)
    assert order == ["first in", "first out", "second in", "second out"]
    monkeypatch.undo()
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    fresh = njit(_doubled)
    assert nc.enable_disk_cache(fresh, "r" * 24)
    for sig in sigs:
        fresh.compile(sig)
    assert sum(fresh._cache_hits.values()) == 2
    assert fresh(2.5) == 5.0 and fresh(3) == 6
