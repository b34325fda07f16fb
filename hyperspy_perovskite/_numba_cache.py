"""Where the suite keeps its compiled machine code, and how it stays correct.

The fitting engine compiles its solver once and one small function per model
signature (the kernels of the model's components, in order); other numba
functions of the suite use :func:`njit_cached`. All keep their machine code
on disk in a user-writable folder that is never the installed package
(numba's own ``cache=True`` writes a ``__pycache__`` beside the source when
it can):

- ``$NUMBA_CACHE_DIR/hyperspy_perovskite`` when ``NUMBA_CACHE_DIR`` is set;
- otherwise the user's cache folder, ``~/.cache/hyperspy_perovskite/numba``
  on Linux (the platform's equivalent elsewhere, as numba's own user-wide
  cache does).

numba alone would key a cached function on its own source file only, so a
change in a kernel it calls from another file would leave stale machine code
in use. Here every entry is keyed on a fingerprint of ALL the source files
the compiled code depends on (the engine, and the package of every kernel in
the model, see :func:`source_fingerprint`) and on numba's version: any change
gives a new entry, nothing is ever deleted or rewritten in place. Models with
a kernel whose source is not in a file (defined at the prompt or in a
doctest) are compiled without a disk cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
from pathlib import Path

from numba.core.caching import (
    CompileResultCacheImpl,
    FunctionCache,
    _CacheLocator,
)
from numba.core.registry import CPUDispatcher

from hyperspy_perovskite._sources import tree_fingerprint

__all__ = ["cache_dir", "njit_cached", "njit_internal", "source_fingerprint"]

_ENV = "NUMBA_CACHE_DIR"


def cache_dir():
    """The folder holding the engine's compiled code (created on first use).

    Returns
    -------
    pathlib.Path
        ``$NUMBA_CACHE_DIR/hyperspy_perovskite`` when that variable is set,
        else the user's cache folder for hyperspy_perovskite plus ``numba``.

    Examples
    --------
    >>> from hyperspy_perovskite._numba_cache import cache_dir
    >>> cache_dir().name in ("numba", "hyperspy_perovskite")
    True
    """
    env = os.environ.get(_ENV)
    if env:
        return Path(env) / "hyperspy_perovskite"
    from numba.misc.appdirs import AppDirs

    base = AppDirs(appname="hyperspy_perovskite", appauthor=False).user_cache_dir
    return Path(base) / "numba"


def _source_root(module_name):
    """The top-level package folder (or single file) that defines a module."""
    if not module_name:
        return None
    top = sys.modules.get(module_name.split(".")[0])
    path = getattr(top, "__file__", None)
    if path is None:
        return None
    path = Path(path)
    return path.parent if path.name == "__init__.py" else path


def source_fingerprint(functions):
    """A fingerprint of the source files that ``functions`` depend on.

    Each function contributes every ``.py`` file of the top-level package
    that defines it (so helpers it calls from other modules of that package
    count too). Returns None when a function has no source file (defined at
    the prompt, in a doctest or in ``__main__``): such code is not cached.

    Parameters
    ----------
    functions : iterable
        Python functions or numba dispatchers.
    """
    import numba

    roots = set()
    for func in functions:
        py = getattr(func, "py_func", func)
        module = getattr(py, "__module__", None)
        if module in (None, "__main__") or module.startswith("<"):
            return None
        root = _source_root(module)
        if root is None or not root.exists():
            return None
        roots.add(str(root))
    h = hashlib.sha256(f"numba {numba.__version__} {sys.version}".encode())
    for root in sorted(roots):
        digest = tree_fingerprint(root)
        if digest is None:  # sources changed since import: never cache
            _warn_changed(root)
            return None
        h.update(digest.encode())
    return h.hexdigest()[:24]


_WARNED: set = set()


def _warn_changed(root):
    if root in _WARNED:
        return
    _WARNED.add(root)
    import warnings

    warnings.warn(
        f"The source files under {root} changed after they were imported; "
        "compiled code is not cached on disk in this session (restart Python "
        "to use the cache again).",
        RuntimeWarning,
        stacklevel=3,
    )


class _KeyedLocator(_CacheLocator):
    """A locator in :func:`cache_dir`, keyed by the function's fingerprint."""

    def __init__(self, py_func, key):
        self._key = key
        name = getattr(py_func, "__qualname__", py_func.__name__)
        self._path = cache_dir() / "models" / f"{name}-{key}"

    def get_cache_path(self):
        return str(self._path)

    def get_source_stamp(self):
        return self._key

    def get_disambiguator(self):
        return self._key[:8]

    @classmethod
    def from_function(cls, py_func, py_file):
        key = getattr(py_func, "_hspy_cache_key", None)
        if key is None:
            return None
        self = cls(py_func, key)
        self._py_file = py_file  # named by numba's "cannot cache" warning
        try:
            self.ensure_cache_path()
        except OSError:
            return None
        return self


class _KeyedCacheImpl(CompileResultCacheImpl):
    _locator_classes = [_KeyedLocator]


class _KeyedFunctionCache(FunctionCache):
    _impl_class = _KeyedCacheImpl

    def save_overload(self, sig, data):
        # numba reads the entry's index, picks a data file name for a new
        # signature, then writes the index and the data file, each whole but
        # not together: two processes saving different signatures of one
        # function at once can both pick the same name, and the index then
        # names one signature's machine code for the other (numba checks
        # nothing on load: wrong code runs). Under an exclusive lock on the
        # entry (POSIX; other processes saving into it wait), the index and
        # its data files stay consistent.
        with _entry_lock(self._cache_path):
            super().save_overload(sig, data)


@contextlib.contextmanager
def _entry_lock(folder):
    """Hold an exclusive lock on the cache entry ``folder`` (POSIX only)."""
    try:
        import fcntl
    except ImportError:  # Windows: no lock (numba's own behaviour)
        yield
        return
    try:
        lock = open(os.path.join(folder, "save.lock"), "a")
    except OSError:  # read-only or gone: numba's save fails on its own
        yield
        return
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def keyed(*parts):
    """A short key combining ``parts`` (strings)."""
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


_ENABLED: set = set()


def cache_once(dispatcher):
    """Disk-cache a function of this package, keyed by the package's sources.

    For functions that call nothing outside the package (the input screen).
    Done on first use, so importing the engine writes nothing anywhere.
    """
    if id(dispatcher) in _ENABLED:
        return
    _ENABLED.add(id(dispatcher))
    key = source_fingerprint([dispatcher])
    if key is not None:
        enable_disk_cache(dispatcher, keyed(key, dispatcher.py_func.__qualname__))


def compile_once(dispatcher, signature, name, cached=None):
    """``dispatcher`` compiled for ``signature`` alone, its machine code in
    the disk cache (:func:`enable_disk_cache`, keyed by the package's
    sources and ``name``), further compilation disabled; returns it.

    For the compiled passes that take a model's ``evaluate`` as an
    argument (one compiled function serves every model: the residual
    statistics, the score test, the Urbach test's change ratio). ``cached``: called
    with the dispatcher once its disk cache is enabled, before it is
    compiled (e.g. to wait for a second process that stores it); not
    called when no cache folder is available.
    """
    key = source_fingerprint([dispatcher])
    if key is not None and enable_disk_cache(dispatcher, keyed(key, name)):
        if cached is not None:
            cached(dispatcher)
    dispatcher.compile(signature)
    dispatcher.disable_compile()
    return dispatcher


def enable_disk_cache(dispatcher, key):
    """Cache ``dispatcher``'s machine code in :func:`cache_dir` under ``key``.

    ``key`` must change whenever anything the function compiles changes
    (:func:`source_fingerprint`). Returns False, leaving the dispatcher
    uncached, when no writable cache folder is available.
    """
    dispatcher.py_func._hspy_cache_key = key
    try:
        dispatcher._cache = _KeyedFunctionCache(dispatcher.py_func)
    except RuntimeError:  # no locator: the cache folder cannot be written
        return False
    return True


def njit_cached(*args, **options):
    """``numba.njit`` with the machine code cached in :func:`cache_dir`.

    Use it instead of ``@njit(cache=True)``, which writes into the package
    folder. The cache entry is keyed by the sources of the package that
    defines the function (so callees in other modules of the package count)
    and by numba's version.

    Examples
    --------
    >>> from hyperspy_perovskite._numba_cache import njit_cached
    >>> @njit_cached(nogil=True)
    ... def twice(x):
    ...     return 2 * x
    >>> twice(3)
    6
    """
    options.pop("cache", None)

    def wrap(func):
        from numba import njit

        dispatcher = njit(**options)(func)
        key = source_fingerprint([dispatcher])
        if key is not None:
            name = f"{func.__module__}.{func.__qualname__}"
            enable_disk_cache(dispatcher, keyed(key, name))
        return dispatcher

    if args and callable(args[0]) and len(args) == 1:
        return wrap(args[0])
    return wrap


class CompiledOnly(CPUDispatcher):
    """A numba function compiled without a Python entry point (:func:`njit_internal`)."""

    def __call__(self, *args, **kwargs):
        name = self.py_func.__qualname__
        raise TypeError(
            f"{name} is compiled for numba functions only (no Python entry "
            "point): call it from a function compiled with numba, or call "
            f"{name}.py_func for its pure-Python version."
        )


def njit_internal(**options):
    """``numba.njit`` for a helper that only compiled code calls.

    numba compiles every function with two entry points for callers outside
    compiled code: a Python wrapper (boxing and unboxing every argument)
    and a C callback. A helper called only from other numba functions uses
    neither; without them its first compilation takes less time (the
    engine's solver, a tenth less; bench_first_call.py). Calling it from
    Python raises TypeError (numba itself would crash: there is no entry
    point to call). The machine code of the helper is the same.

    Examples
    --------
    >>> from numba import njit
    >>> from hyperspy_perovskite._numba_cache import njit_internal
    >>> @njit_internal(nogil=True)
    ... def half(x):
    ...     return 0.5 * x
    >>> @njit
    ... def use(x):
    ...     return half(x)
    >>> use(3.0)
    1.5
    >>> half(3.0)
    Traceback (most recent call last):
    ...
    TypeError: half is compiled for numba functions only (no Python entry point): call it from a function compiled with numba, or call half.py_func for its pure-Python version.
    """
    from numba import njit

    def wrap(func):
        dispatcher = njit(no_cpython_wrapper=True, no_cfunc_wrapper=True, **options)(
            func
        )
        if type(dispatcher) is CPUDispatcher:  # not under NUMBA_DISABLE_JIT
            dispatcher.__class__ = CompiledOnly
        return dispatcher

    return wrap
