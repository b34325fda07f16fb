"""The engine's on-disk cache of machine code (see :mod:`hyperspy_perovskite._numba_cache`)."""

from hyperspy_perovskite._numba_cache import (  # noqa: F401
    cache_dir,
    cache_once,
    compile_once,
    enable_disk_cache,
    keyed,
    njit_cached,
    source_fingerprint,
)

__all__ = ["cache_dir", "source_fingerprint"]
