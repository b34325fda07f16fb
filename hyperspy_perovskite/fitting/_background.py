"""Compile the model-independent solver in a second process, beside the first fit.

The first ``fast_multifit`` after a fresh install (or an upgrade) compiles
two independent pieces of machine code: the Levenberg-Marquardt solver,
shared by every model, and the model's own ``evaluate``. numba compiles with
Python's global interpreter lock held, so a thread cannot overlap the two;
a process can. When a fit needs a solver that is not on disk yet,
:func:`start` launches a Python process
which compiles the solver into the user cache folder
(:func:`hyperspy_perovskite.fitting.cache_dir`) while the fitting process
compiles the model; the fitting process then waits for it (:func:`wait`) and
loads the solver from the cache. On two cores this takes the solver's compile
time off the first call.

The cache stays correct, and nothing is written outside it:

- the second process computes the solver's cache key from the sources IT
  imported (:func:`hyperspy_perovskite._numba_cache.source_fingerprint`) and
  does nothing unless that key is the one the fitting process asked for, so
  code compiled from files changed in between is never stored under the key
  of the code that runs (the stale-cache protection of
  :mod:`hyperspy_perovskite._sources`);
- it imports the same ``hyperspy_perovskite`` as the fitting process (its
  folder comes first on the path);
- several processes starting at once (``pytest -n 2``, two notebooks) compile
  the solver once: a lock file beside the cache entry serialises them;
- when anything fails (no writable cache folder, the process cannot start,
  crashes or times out) the fitting process compiles the solver itself, as it
  would without this module.

Set ``HYPERSPY_PEROVSKITE_BACKGROUND_COMPILE=0`` to compile everything in the
fitting process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

__all__ = ["start", "wait"]

_ENV = "HYPERSPY_PEROVSKITE_BACKGROUND_COMPILE"
#: Longest wait for the second process (s); then the caller compiles itself.
_TIMEOUT = 600.0

_PROCESS: dict = {}  # key -> Popen
_CHILD = (
    "import sys; from hyperspy_perovskite.fitting._background import _main; "
    "sys.exit(_main(sys.argv[1]))"
)
_LOCK = threading.Lock()


def enabled():
    """False when ``HYPERSPY_PEROVSKITE_BACKGROUND_COMPILE`` is 0/false/no."""
    return os.environ.get(_ENV, "1").strip().lower() not in ("0", "false", "no")


def start(key, entry):
    """Compile the solver under ``key`` in a second process (once per key).

    Parameters
    ----------
    key : str
        The solver's cache key in this process.
    entry : pathlib.Path
        Its cache folder (``cache_dir() / "models" / "fit_block-<key>"``).

    Returns
    -------
    bool
        True when a second process is compiling it (or already did).
    """
    if not enabled():
        return False
    with _LOCK:
        if key in _PROCESS:
            return True
        try:
            entry.mkdir(parents=True, exist_ok=True)
            if not os.access(entry, os.W_OK):
                return False
            import hyperspy_perovskite

            root = str(Path(hyperspy_perovskite.__file__).resolve().parent.parent)
            env = dict(os.environ)
            env["PYTHONPATH"] = os.pathsep.join(
                [root, *filter(None, [env.get("PYTHONPATH")])]
            )
            _PROCESS[key] = subprocess.Popen(
                [sys.executable, "-c", _CHILD, key],
                cwd=root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        except OSError:
            return False
    return True


def wait(key, timeout=_TIMEOUT):
    """Wait for the second process compiling ``key`` (if any); True if it succeeded."""
    with _LOCK:
        process = _PROCESS.get(key)
    if process is None:
        return False
    try:
        return process.wait(timeout) == 0
    except subprocess.TimeoutExpired:
        return False


def _main(key):
    """The second process: compile the solver into the cache under ``key``."""
    from hyperspy_perovskite.fitting import _compile

    if _compile._solver_cache_key() != key:
        return 3  # the sources changed since the caller imported them
    entry = _compile.solver_cache_entry(key)
    entry.mkdir(parents=True, exist_ok=True)
    with open(entry / "compile.lock", "a") as lock:
        try:
            import fcntl
        except ImportError:  # Windows: no lock, at worst compiled twice
            fcntl = None
        if fcntl is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be at it
        if not _compile.solver_on_disk(key):
            _compile.fit_block()
    return 0
