"""Shared test configuration: no progress bars, no windows, no writes to the tree."""

import hashlib
import os
import subprocess
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# one ETS (traits) toolkit for every test of a worker, the one hyperspyUI sets
# at import: hyperspy_gui_traitsui would otherwise choose "null" under Agg, and
# the toolkit cannot change once chosen (hyperspyUI's window then fails)
os.environ.setdefault("ETS_TOOLKIT", "qt4")

import matplotlib

matplotlib.use("Agg")

import hyperspy.api as hs  # noqa: E402
import pytest  # noqa: E402

hs.preferences.General.show_progressbar = False


def _import_pyxem_under_a_lock():
    """Import pyxem in one xdist worker at a time (machine-wide file lock).

    Importing pyxem compiles orix's numba functions into numba's on-disk
    cache when it is empty (CI: ~35 s). Two workers that compile them at once
    (both collect the doctests of ``signals/insitu_diffraction.py``, which
    imports pyxem) can leave a gufunc's wrapper from one process beside its
    kernel from the other (orix ``qu_multiply_gufunc``, numba 0.68): every
    later import of pyxem then segfaults, each replacement worker too ("no
    tests ran"; seen in a cold-cache run). Under the lock the first worker
    compiles and saves, the next loads the cache.
    """
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        return
    import tempfile

    path = os.path.join(tempfile.gettempdir(), "hyperspy_perovskite_pyxem.lock")
    try:
        lock = open(path, "a")
    except OSError:
        return
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        import pyxem  # noqa: F401


if os.environ.get("PYTEST_XDIST_WORKER"):
    _import_pyxem_under_a_lock()

REALDATA = os.path.join(os.path.dirname(__file__), "data")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


# ------------------------------------------------- one worker per shared fixture
_SHARED = ("module", "package", "session")


def _group_names(item):
    return {
        str(m.args[0] if m.args else m.kwargs.get("name", "default"))
        for m in item.iter_markers("xdist_group")
    }


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config, items):
    """Tests that share a module-, package- or session-scoped fixture of this
    suite run in one xdist worker (``--dist loadgroup``), so the fixture is
    built (and its numba kernels compiled) once, not once per worker.

    Tests are joined when they use one such fixture (pytest's own, like
    ``tmp_path_factory``, have no ``baseid`` and join nothing) or carry one
    ``xdist_group`` name; a joined set without an explicit group is named
    after the fixtures' module. Explicitly grouped tests keep their marker;
    tests marked ``xdist_spread`` are left to "load" (their fixture is built
    in each worker that runs them). Without xdist the marker is inert.
    """
    parent = {}

    def find(key):
        while parent.setdefault(key, key) != key:
            parent[key] = key = parent[parent[key]]
        return key

    keys = {}
    for i, item in enumerate(items):
        if item.get_closest_marker("xdist_spread"):
            continue
        info = getattr(item, "_fixtureinfo", None)
        shared = [
            ("fixture", d[-1].baseid, name)
            for name, d in (info.name2fixturedefs.items() if info else ())
            if d and d[-1].scope in _SHARED and d[-1].baseid
        ]
        shared += [("group", g) for g in _group_names(item)]
        keys[i] = shared
        for key in shared:
            parent[find(("item", i))] = find(key)
    members = {}
    for i, shared in keys.items():
        if shared:
            members.setdefault(find(("item", i)), []).append(i)
    for indices in members.values():
        explicit = set().union(*(_group_names(items[i]) for i in indices))
        if len(explicit) > 1:
            continue  # two named groups meet: leave them as they are
        name = (
            explicit.pop()
            if explicit
            else min(k[1] for i in indices for k in keys[i] if k[0] == "fixture")
        )
        for i in indices:
            if not _group_names(items[i]):
                items[i].add_marker(pytest.mark.xdist_group(name))


# ------------------------------------------- tests write nothing into the tree
def _tree_state():
    """Untracked/ignored files and the diff of tracked ones (None: not in git).

    ``__pycache__`` folders (Python's and numba's caches, written on import;
    the read-only install test covers numba's) are left out; anything else a
    test writes into the source tree (build/, egg-info, figures) shows.
    """

    def git(*args):
        return subprocess.run(
            ["git", "-C", str(ROOT), *args], capture_output=True, check=True
        ).stdout

    try:
        status = git("status", "--porcelain", "--ignored", "--untracked-files=all")
        diff = git("diff", "--no-ext-diff", "--binary")
    except (OSError, subprocess.CalledProcessError):
        return None
    lines = {
        line
        for line in status.decode(errors="replace").splitlines()
        if "__pycache__/" not in line
    }
    return lines, hashlib.sha256(diff).hexdigest()


def pytest_sessionstart(session):
    if not hasattr(session.config, "workerinput"):  # the xdist controller or no xdist
        session.config._tree_state = _tree_state()


def pytest_sessionfinish(session, exitstatus):
    before = getattr(session.config, "_tree_state", None)
    if before is None:
        return
    after = _tree_state()
    if after == before:
        return
    new = sorted(after[0] - before[0])
    changed = after[1] != before[1]
    message = (
        "The test run wrote into the source tree (tests must use tmp_path): "
        f"new or changed entries {new}"
        + ("; tracked files were modified" if changed else "")
    )
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line("")
        reporter.write_sep("!", message, red=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
