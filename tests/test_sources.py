"""Compiled code is never cached under the fingerprint of files it was not built from."""

import os
import shutil
import subprocess
import sys
import textwrap

from hyperspy_perovskite._sources import snapshot, tree_fingerprint


def test_fingerprint_stable_then_none_after_a_change(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("x = 1\n")
    snapshot(pkg)
    first = tree_fingerprint(pkg)
    assert first is not None and tree_fingerprint(pkg) == first
    (pkg / "__init__.py").write_text("x = 22\n")  # an upgrade under a running session
    assert tree_fingerprint(pkg) is None
    (pkg / "new.py").write_text("")
    assert tree_fingerprint(pkg) is None


def test_changed_sources_are_not_cached(tmp_path):
    """A package edited after import compiles without writing the disk cache."""
    src = tmp_path / "site" / "hyperspy_perovskite"
    import hyperspy_perovskite

    shutil.copytree(
        os.path.dirname(hyperspy_perovskite.__file__),
        src,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    cache = tmp_path / "cache"
    script = textwrap.dedent(
        f"""
        import pathlib, warnings
        import hyperspy_perovskite
        from hyperspy_perovskite import _numba_cache
        target = pathlib.Path({str(src)!r}) / "results.py"
        target.write_text(target.read_text() + "\\n# edited\\n")
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            key = _numba_cache.source_fingerprint([_numba_cache.source_fingerprint])
        assert key is None, key
        assert any("changed after they were imported" in str(x.message) for x in w)
        print("ok")
        """
    )
    env = dict(
        os.environ,
        NUMBA_CACHE_DIR=str(cache),
        PYTHONPATH=str(src.parent) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "ok"
