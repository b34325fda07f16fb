"""Stale compiled code is cleared when a kernel source changes."""

from hyperspy_perovskite.fitting import _cache


def test_fingerprint_changes_with_any_kernel_source(tmp_path, monkeypatch):
    pkg = tmp_path / "fitting"
    (pkg / "kernels" / "__pycache__").mkdir(parents=True)
    (pkg / "__pycache__").mkdir()
    (pkg / "engine.py").write_text("a = 1\n")
    (pkg / "kernels" / "k.py").write_text("b = 1\n")
    monkeypatch.setattr(_cache, "_PACKAGE", pkg)
    monkeypatch.setattr(_cache, "_STAMP", pkg / "__pycache__" / "kernels.fingerprint")
    stale = pkg / "__pycache__" / "engine.fit_block-1.py311.nbi"
    stale.write_text("x")
    assert _cache.refresh_numba_cache() is True  # first time: no stamp yet
    assert not stale.exists()
    stale.write_text("x")
    assert _cache.refresh_numba_cache() is False  # nothing changed: kept
    assert stale.exists()
    (pkg / "kernels" / "k.py").write_text("b = 2\n")  # a callee changed
    assert _cache.refresh_numba_cache() is True
    assert not stale.exists()
