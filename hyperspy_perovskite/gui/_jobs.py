"""Long actions off hyperspyUI's UI thread, with progress and cancel.

A :class:`Job` runs a function in a Python thread while a Qt timer on the UI
thread updates a :class:`ProgressPanel` (elapsed time; a fraction when the
work runs as dask tasks) and, when the function returns, delivers the result
or the error on the UI thread, where signals may be plotted and added to the
Data View. Cancel stops dask computations at the next task (a lazy signal, or
a chunked eager one); an eager computation that is not split into tasks runs
to its end in the background and its result is discarded.

Qt widgets are only touched on the UI thread; the function must not plot
(pass ``show_progressbar=False`` to HyperSpy methods: hyperspyUI replaces
HyperSpy's progress bar by a Qt widget).
"""

from __future__ import annotations

import threading
import time

from qtpy import QtCore, QtWidgets

__all__ = ["Cancelled", "Job", "ProgressPanel"]


class Cancelled(Exception):
    """The user pressed Cancel."""


def _dask_callback(job):
    from dask.callbacks import Callback

    class _Progress(Callback):
        def _start_state(self, dsk, state):
            self._total = len(dsk)
            self._done = 0

        def _pretask(self, key, dsk, state):
            if job.cancel_requested.is_set():
                raise Cancelled("cancelled by the user")

        def _posttask(self, key, result, dsk, state, worker_id):
            self._done += 1
            if self._total > 1:
                job.fraction = self._done / self._total

    return _Progress()


class Job:
    """One function run in a background thread.

    Parameters
    ----------
    title : str
        What runs (shown on the panel).
    func : callable
        Called without arguments in the background thread.
    on_done, on_error, on_cancel : callable, optional
        Called on the UI thread with the result, the exception, or nothing.
    panel : ProgressPanel, optional
        Updated while the job runs.
    """

    def __init__(
        self, title, func, on_done=None, on_error=None, on_cancel=None, panel=None
    ):
        self.title = title
        self.func = func
        self.on_done = on_done
        self.on_error = on_error
        self.on_cancel = on_cancel
        self.panel = panel
        self.fraction = None
        self.result = None
        self.error = None
        self.cancel_requested = threading.Event()
        self.finished = False
        self.delivered = False
        self._t0 = None
        self._thread = threading.Thread(target=self._run, daemon=True, name=title)
        self._timer = QtCore.QTimer()
        self._timer.setInterval(100)
        self._timer.timeout.connect(self.poll)

    def _run(self):
        try:
            with _dask_callback(self):
                self.result = self.func()
        except BaseException as err:  # delivered to the UI thread
            self.error = err
        finally:
            self.finished = True

    def start(self):
        """Start the thread and the UI timer; returns ``self``."""
        self._t0 = time.perf_counter()
        if self.panel is not None:
            self.panel.attach(self)
        self._thread.start()
        self._timer.start()
        return self

    def cancel(self):
        """Ask the job to stop; its result, if any, is discarded."""
        self.cancel_requested.set()
        if self.panel is not None:
            self.panel.label.setText(
                f"{self.title}: cancelling (a step that is already running "
                "finishes in the background; its result is discarded)"
            )

    @property
    def elapsed(self):
        return 0.0 if self._t0 is None else time.perf_counter() - self._t0

    def poll(self):
        """Update the panel; deliver the outcome once the thread has finished."""
        if self.delivered:
            return
        if self.panel is not None and not self.cancel_requested.is_set():
            self.panel.update_job(self)
        if not self.finished:
            return
        self._timer.stop()
        self.delivered = True
        if self.panel is not None:
            self.panel.detach()
        if self.cancel_requested.is_set() or isinstance(self.error, Cancelled):
            if self.on_cancel is not None:
                self.on_cancel()
        elif self.error is not None:
            if self.on_error is not None:
                self.on_error(self.error)
        elif self.on_done is not None:
            self.on_done(self.result)

    def wait(self, timeout=None):
        """Block until the thread ends, then deliver (for scripts and tests)."""
        self._thread.join(timeout)
        self.poll()
        return self.result


class ProgressPanel(QtWidgets.QWidget):
    """A progress bar, a status line and a Cancel button."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.bar = QtWidgets.QProgressBar()
        self.label = QtWidgets.QLabel()
        self.label.setWordWrap(True)
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.bar, 1)
        row.addWidget(self.cancel_button)
        box = QtWidgets.QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addLayout(row)
        box.addWidget(self.label)
        self.job = None
        self.cancel_button.clicked.connect(self._cancel)
        self.setVisible(False)

    def _cancel(self):
        if self.job is not None:
            self.job.cancel()

    def attach(self, job):
        self.job = job
        self.bar.setRange(0, 0)  # busy until a fraction is known
        self.label.setText(f"{job.title} ...")
        self.cancel_button.setEnabled(True)
        self.setVisible(True)

    def update_job(self, job):
        if job.fraction is not None:
            self.bar.setRange(0, 100)
            self.bar.setValue(int(100 * job.fraction))
        self.label.setText(f"{job.title}: {job.elapsed:.1f} s")

    def detach(self):
        self.job = None
        self.setVisible(False)
