"""Keep numba's on-disk cache of the engine consistent with its kernels.

numba invalidates a cached function only when the file that defines it
changes, not when a function it calls from another file does. The engine's
``fit_block`` calls every component kernel through the dispatch, so after a
kernel or the dispatch changes, a stale cache would keep running old machine
code. This module fingerprints all source files of the engine and clears the
engine's numba cache files whenever the fingerprint changes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_STAMP = _PACKAGE / "__pycache__" / "kernels.fingerprint"


def _sources():
    return sorted(_PACKAGE.glob("*.py")) + sorted((_PACKAGE / "kernels").glob("*.py"))


def fingerprint():
    """SHA-256 of the engine's and kernels' source files."""
    h = hashlib.sha256()
    for path in _sources():
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def refresh_numba_cache():
    """Delete cached machine code if any engine or kernel source changed.

    Returns True when stale cache files were removed. Does nothing (and
    returns False) where the package folder cannot be written.
    """
    current = fingerprint()
    try:
        if _STAMP.exists() and _STAMP.read_text() == current:
            return False
        _STAMP.parent.mkdir(exist_ok=True)
        _STAMP.write_text(current)
    except OSError:
        return False
    removed = False
    for folder in (_PACKAGE / "__pycache__", _PACKAGE / "kernels" / "__pycache__"):
        for pattern in ("*.nbi", "*.nbc"):
            for path in folder.glob(pattern):
                try:
                    path.unlink()
                    removed = True
                except OSError:
                    pass
    return removed
