"""Compile the model-independent solver in a second process, beside the first fit.

The first ``fast_multifit`` after a fresh install (or an upgrade) compiles
two independent pieces of machine code: the Levenberg-Marquardt solver,
shared by every model, and the model's own ``evaluate``. numba compiles with
Python's global interpreter lock held, so a thread cannot overlap the two;
a process can. When ``fast_multifit`` is imported (or a fit starts) and the
solver is not on disk, :func:`start` launches a Python process that compiles
it into the user cache folder (:func:`hyperspy_perovskite.fitting.cache_dir`),
while the user's process goes on loading data and compiling the model of its
first fit; the fit then waits for that process (:func:`wait`) and loads the solver
from the cache. On two cores this takes the solver's compile time off the
first call. It happens once per installed version of the sources: later
sessions load the solver from the cache.

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
- after the solver it compiles the sandwich's function (the standard
  deviations of unweighted fits of counts, passed to the solver), and a fit
  waits only for what it needs;
- when anything fails (no writable cache folder, the process cannot start,
  crashes or times out) the fitting process compiles the solver itself, as it
  would without this module.

Set ``HYPERSPY_PEROVSKITE_BACKGROUND_COMPILE=0`` to compile everything in the
fitting process.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

__all__ = ["start", "wait"]

_ENV = "HYPERSPY_PEROVSKITE_BACKGROUND_COMPILE"
#: Longest wait for the second process (s); then the caller compiles itself.
_TIMEOUT = 600.0
#: Interval (s) at which a waiting fit looks for the variant it needs.
_POLL = 0.02

_PROCESS: dict = {}  # cache entry (str) -> Popen
_CHILD = (
    "import sys; from hyperspy_perovskite.fitting._background import _main; "
    "sys.exit(_main(sys.argv[1]))"
)
_LOCK = threading.Lock()


def enabled():
    """False when ``HYPERSPY_PEROVSKITE_BACKGROUND_COMPILE`` is 0/false/no."""
    return os.environ.get(_ENV, "1").strip().lower() not in ("0", "false", "no")


def start(key, entry):
    """Compile the solver under ``key`` in a second process (once per entry).

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
    if not enabled() or not sys.executable:  # embedded Python: no interpreter
        return False
    with _LOCK:
        if str(entry) in _PROCESS:
            return True
        try:
            entry.mkdir(parents=True, exist_ok=True)
            if not os.access(entry, os.W_OK):
                return False
            import hyperspy_perovskite

            root = str(Path(hyperspy_perovskite.__file__).resolve().parent.parent)
            env = dict(os.environ)
            env[_ENV] = "0"  # its own import of the engine starts nothing
            env["PYTHONPATH"] = os.pathsep.join(
                [root, *filter(None, [env.get("PYTHONPATH")])]
            )
            _PROCESS[str(entry)] = subprocess.Popen(
                [sys.executable, "-c", _CHILD, key],
                cwd=root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        except (OSError, ValueError):
            return False
    return True


def wait(entry, timeout=_TIMEOUT, ready=None):
    """Wait for the second process compiling into ``entry``.

    Parameters
    ----------
    entry : pathlib.Path
        The entry given to :func:`start`.
    timeout : float
        Longest wait (s).
    ready : callable or None
        When given, the wait also ends as soon as ``ready()`` is True (the
        variant the caller needs is stored, while the process goes on with
        the other).

    Returns
    -------
    bool
        True when the process succeeded or ``ready()`` became True.
    """
    with _LOCK:
        process = _PROCESS.get(str(entry))
    if process is None:
        return False
    deadline = time.monotonic() + timeout
    while ready is not None:
        if process.poll() is not None:
            break
        if ready():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(_POLL)
    try:
        return process.wait(max(deadline - time.monotonic(), 0.0)) == 0
    except subprocess.TimeoutExpired:
        return False


@atexit.register
def _release():
    # a process still compiling finishes the cache entry on its own; polling
    # marks the others as reaped (no ResourceWarning at exit)
    for process in list(_PROCESS.values()):
        process.poll()


def _main(key):
    """The second process: compile the solver into the cache under ``key``.

    In the order a first CL fit (``fit_emission``) needs them: the solver
    (:func:`~hyperspy_perovskite.fitting._compile.fit_block`), then the
    other model-independent functions of a fit
    (:func:`~hyperspy_perovskite.fitting._compile.shared_functions`) and the
    sandwich's (:func:`~hyperspy_perovskite.fitting._compile.sandwich_function`:
    fits of counts), then the residual pass of the fit statistics
    (``_residuals._compiled_pass``). A fit
    waiting for one of them loads it as soon as it is stored; the fitting
    process meanwhile compiles its spike screen, starting values and model.
    All at the user's priority: the first fit waits for each in turn.
    """
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
        from hyperspy_perovskite.fitting import _residuals

        _compile.fit_block()
        _compile.shared_functions()
        _compile.sandwich_function(False)
        _compile.sandwich_function(True)
        _residuals._compiled_pass()
    return 0
