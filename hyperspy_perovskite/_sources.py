"""Fingerprints of the source files the compiled machine code is built from.

The on-disk cache of compiled code (:mod:`hyperspy_perovskite._numba_cache`)
keys every entry on the SHA-256 of the source files it depends on. The key
must describe the code that was actually imported and compiled, not what is
on disk at the time of the first fit: if files change while Python runs (a
``pip install --upgrade`` under a running Jupyter kernel, an edit during
development), the process still runs the old code, and caching that code
under the new files' key would hand stale machine code to every later
session: wrong numbers or a crash.

So the size and modification time of every file are recorded when the
package is imported (the first snapshot of a folder), and :func:`tree_fingerprint` returns None, meaning
"do not use the disk cache", as soon as any file's size or modification time
differs from that snapshot. This module imports nothing heavy.
"""

from __future__ import annotations

import threading
from pathlib import Path

__all__ = ["snapshot", "tree_fingerprint"]

_SNAPSHOTS: dict = {}
_LOCK = threading.Lock()


def _files(root):
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def _stats(files):
    out = []
    for path in files:
        st = path.stat()
        out.append((str(path), st.st_mtime_ns, st.st_size))
    return tuple(out)


def _digest(root, files):
    import hashlib

    h = hashlib.sha256()
    for path in files:
        h.update(str(path.relative_to(root.parent)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def snapshot(root):
    """Record the size and modification time of every source under ``root``.

    Cheap (no file is read): called when the package is imported. The first
    snapshot of a folder in a process is kept.
    """
    root = Path(root)
    with _LOCK:
        if root not in _SNAPSHOTS:
            _SNAPSHOTS[root] = [_stats(_files(root)), None]


def tree_fingerprint(root):
    """SHA-256 of the sources under ``root`` as first seen by this process.

    Returns None when a file was added, removed or changed since the first
    snapshot: the code that runs may then differ from the files, and nothing
    compiled from it may be cached under their fingerprint.

    Examples
    --------
    >>> from pathlib import Path
    >>> import hyperspy_perovskite
    >>> from hyperspy_perovskite._sources import tree_fingerprint
    >>> len(tree_fingerprint(Path(hyperspy_perovskite.__file__).parent))
    64
    """
    root = Path(root)
    snapshot(root)
    files = _files(root)
    entry = _SNAPSHOTS[root]
    if _stats(files) != entry[0]:
        return None
    if entry[1] is None:
        digest = _digest(root, files)
        if _stats(files) != entry[0]:  # changed while being read
            return None
        entry[1] = digest
    return entry[1]
