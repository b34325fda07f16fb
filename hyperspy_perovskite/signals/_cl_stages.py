"""Wall and CPU time of each stage of ``fit_emission``, when asked for.

The fit's steps mark their stages with :func:`stage` (``with
stage("to_eV"): ...``). Nothing is measured unless a caller opens
:func:`timing`: outside it :func:`stage` returns one shared do-nothing
context (a global read and a call, about 0.1 us, a few dozen times per
fit). Inside it each stage records its wall time, the CPU time of the
whole process (all threads: what the stage costs the machine) and the CPU
time of the calling thread (the single-threaded Python and NumPy work the
other cores wait for). Stages nest: a stage opened inside another is
recorded under its path (``"run_fit/coarse/engine"``), and each stage's
``self`` figures are its own less its children's.

Only the thread that opened :func:`timing` records: a stage entered on
another thread (a block of :func:`~hyperspy_perovskite._threads.on_threads`)
is not timed, its time is part of the stage that waits for it.
"""

from __future__ import annotations

import contextlib
import threading
import time

__all__ = ["StageTimes", "stage", "timing"]

_NULL = contextlib.nullcontext()
_ACTIVE = None  # the StageTimes being recorded, or None


class StageTimes:
    """The stages recorded by :func:`timing`, in the order first entered.

    ``stages`` maps each stage's path to ``[calls, wall, cpu, thread_cpu]``
    (seconds, summed over its calls).
    """

    def __init__(self):
        self.stages = {}
        self._path = []
        self._thread = threading.get_ident()

    def _enter(self, name):
        self._path.append(name)
        # made on entry: the stages are listed in the order first entered
        self.stages.setdefault("/".join(self._path), [0, 0.0, 0.0, 0.0])
        return time.perf_counter(), time.process_time(), time.thread_time()

    def _leave(self, start):
        wall = time.perf_counter() - start[0]
        cpu = time.process_time() - start[1]
        own = time.thread_time() - start[2]
        row = self.stages["/".join(self._path)]
        row[0] += 1
        row[1] += wall
        row[2] += cpu
        row[3] += own
        self._path.pop()

    def as_dict(self, digits=4):
        """``{path: {"calls", "wall", "cpu", "thread_cpu", "self_wall",
        "self_cpu", "self_thread_cpu"}}`` in seconds; ``self_*``: less the
        stages nested directly inside it.

        Examples
        --------
        >>> from hyperspy_perovskite.signals._cl_stages import stage, timing
        >>> with timing() as t:
        ...     with stage("outer"):
        ...         with stage("inner"):
        ...             pass
        >>> sorted(t.as_dict())
        ['outer', 'outer/inner']
        >>> t.as_dict()["outer"]["calls"]
        1
        """
        out = {}
        for path, (calls, wall, cpu, own) in self.stages.items():
            kids = [
                v
                for p, v in self.stages.items()
                if p.startswith(path + "/") and "/" not in p[len(path) + 1 :]
            ]
            out[path] = {
                "calls": calls,
                "wall": round(wall, digits),
                "cpu": round(cpu, digits),
                "thread_cpu": round(own, digits),
                "self_wall": round(wall - sum(k[1] for k in kids), digits),
                "self_cpu": round(cpu - sum(k[2] for k in kids), digits),
                "self_thread_cpu": round(own - sum(k[3] for k in kids), digits),
            }
        return out

    def table(self):
        """The stages as text, one line each, indented by depth, in ms:
        calls, wall, CPU (process), CPU (this thread), and the same three
        less the nested stages."""
        lines = [
            f"{'stage':<40}{'n':>3}{'wall':>8}{'cpu':>8}{'thread':>8}"
            f"{'self w':>8}{'self c':>8}{'self t':>8}"
        ]
        for path, r in self.as_dict(digits=6).items():
            name = "  " * path.count("/") + path.rsplit("/", 1)[-1]
            ms = [
                1e3 * r[k]
                for k in (
                    "wall",
                    "cpu",
                    "thread_cpu",
                    "self_wall",
                    "self_cpu",
                    "self_thread_cpu",
                )
            ]
            lines.append(
                f"{name[:40]:<40}{r['calls']:>3}" + "".join(f"{v:8.1f}" for v in ms)
            )
        return "\n".join(lines)


class _Stage:
    __slots__ = ("_name", "_times", "_start")

    def __init__(self, times, name):
        self._times, self._name = times, name

    def __enter__(self):
        self._start = self._times._enter(self._name)

    def __exit__(self, *exc):
        self._times._leave(self._start)


def stage(name):
    """A context that times the stage ``name`` while :func:`timing` is open
    (on the thread that opened it); otherwise a shared do-nothing context.

    Examples
    --------
    >>> from hyperspy_perovskite.signals._cl_stages import stage
    >>> with stage("not timed"):  # no timing() open: nothing recorded
    ...     pass
    """
    times = _ACTIVE
    if times is None or threading.get_ident() != times._thread:
        return _NULL
    return _Stage(times, name)


@contextlib.contextmanager
def timing():
    """Record the stages of the ``fit_emission`` calls made inside it.

    Yields a :class:`StageTimes`, filled as the stages run (read it after
    the block). Not reentrant: a second :func:`timing` inside the first
    raises ``RuntimeError``.

    Examples
    --------
    >>> from hyperspy_perovskite.signals._cl_stages import timing
    >>> s = hs.signals.Signal1D(np.random.default_rng(0).poisson(50, (4, 64)))
    >>> s.set_signal_type("CL_STEM_perovskite")
    >>> s.axes_manager[-1].units = "nm"
    >>> s.axes_manager[-1].offset, s.axes_manager[-1].scale = 650.0, 1.0
    >>> with timing() as t:
    ...     m = s.fit_emission()
    >>> "prepare" in t.as_dict()
    True
    """
    global _ACTIVE
    if _ACTIVE is not None:
        raise RuntimeError("timing() is already open.")
    _ACTIVE = StageTimes()
    try:
        yield _ACTIVE
    finally:
        _ACTIVE = None
