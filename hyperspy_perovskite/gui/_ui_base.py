"""hyperspyUI plumbing of the plugin: adding results, errors, background jobs."""

import traceback

from hyperspyui.modelwrapper import ModelWrapper
from qtpy import QtCore, QtWidgets

from hyperspy_perovskite.gui._jobs import Job, ProgressPanel

__all__ = ["UIBase", "explain", "close_only_own_figure"]

#: Messages of the analysis, said again in the terms of the dialogs
#: (substring of the error -> text shown).
_EXPLAIN = (
    (
        "axis='energy'",
        "'Urbach tail' needs Axis = energy: choose energy, or untick 'Urbach tail'.",
    ),
    (
        "has no length unit",
        "The image axes carry no length unit: set it in Signal > Axes (e.g. Å or "
        "nm) and try again.",
    ),
    (
        "does not overlap",
        "The log's times do not overlap the frames: adjust 'Time offset' (frame "
        "time of the log's t = 0).",
    ),
)


def close_only_own_figure():
    """Make HyperSpy's figure ``close`` close its own figure, never the current one.

    HyperSpy 2.5's ``BlittedFigure.close`` clears ``self.figure`` (in
    ``_on_close``) before ``plt.close(self.get_mpl_figure())``, so it calls
    ``plt.close(None)``, which closes matplotlib's *current* figure. In
    hyperspyUI the current figure is the active window, often the signal a
    copy was made from: closing the copy's window by hand closed the
    original's windows and removed it from the Data View. Patched (once, in
    the hyperspyUI process only, as hyperspyUI's own ``overrides`` patch
    HyperSpy) to take the figure before clearing it; see the known-issues
    page.
    """
    import matplotlib.pyplot as plt
    from hyperspy.drawing.figure import BlittedFigure

    if getattr(BlittedFigure.close, "_perovskite_fixed", False):
        return

    def close(self):
        figure = self.get_mpl_figure()
        self._on_close()
        if figure is not None:
            plt.close(figure)

    close._perovskite_fixed = True
    close.__doc__ = BlittedFigure.close.__doc__
    BlittedFigure.close = close


def tr(text):
    return QtCore.QCoreApplication.translate("PerovskitePlugin", text)


def explain(error):
    """The error said in the dialog's terms (the analysis' message otherwise).

    Examples
    --------
    >>> explain(ValueError("use fit_emission(tail=True, axis='energy')"))
    "'Urbach tail' needs Axis = energy: choose energy, or untick 'Urbach tail'."
    >>> explain(ValueError("d must be positive"))
    'd must be positive'
    """
    text = str(error)
    for key, said in _EXPLAIN:
        if key in text:
            return said
    return text or type(error).__name__


class UIBase:
    """Adding results to hyperspyUI, error reporting and background jobs."""

    def add_signal(self, signal):
        """Show ``signal`` in hyperspyUI (plot it and add it to the data view).

        hyperspyUI registers plotted signals through a hook in the class of
        the signal, present only in classes created after hyperspyUI started;
        for other signals the main window's plotting callbacks are called
        here, exactly as the hook calls them. A result that carries a plot
        of another signal (a copy made while that one was plotted) gets its
        own figure: closing or replotting it never closes the original.

        Returns
        -------
        hyperspyui.signalwrapper.SignalWrapper
        """
        from hyperspyui.hooksignal import HookedSignal

        sw = self._wrapper(signal)
        if sw is not None:
            return sw
        if getattr(signal, "_plot", None) is not None and any(
            getattr(w.signal, "_plot", None) is signal._plot for w in self.ui.signals
        ):
            signal._plot = None
        if isinstance(signal, HookedSignal):
            signal.plot()
        else:
            self.ui.on_signal_plotting(signal)
            try:
                signal.plot()
            except Exception:
                sw = self._wrapper(signal)
                if sw is not None:
                    self.ui.signals.remove(sw)
                self.ui._plotting_signal = None
                raise
            self.ui.on_signal_plotted(signal)
        return self._wrapper(signal)

    def add_model(self, model, name=None):
        """Add a model of a signal (added first if needed) to hyperspyUI.

        A signal new to hyperspyUI (e.g. the converted copy of an energy
        fit) is plotted once, with its model: replotting such a copy after
        it was shown makes hyperspyUI close the figures, and the Data View
        entry, of the signal it was copied from.
        """
        from hyperspyui.hooksignal import HookedSignal

        sw = self._wrapper(model.signal)
        if sw is not None:
            for mw in sw.models:
                if mw.model is model:
                    return mw
            mw = ModelWrapper(model, sw, name or f"Model {sw._model_id}")
            sw._model_id += 1
            sw.add_model(mw)
            mw.plot()
            return mw
        signal = model.signal
        if isinstance(signal, HookedSignal):
            model.plot()
        else:
            self.ui.on_signal_plotting(signal)
            model.plot()
            self.ui.on_signal_plotted(signal)
        sw = self._wrapper(signal)
        mw = ModelWrapper(model, sw, name or f"Model {sw._model_id}")
        sw._model_id += 1
        sw.add_model(mw)
        if sw.signal_plot is not None:
            sw.signal_plot.setProperty("hyperspyUI.ModelWrapper", mw)
        return mw

    def show_error(self, title, error):
        """Report ``error`` in a modal message box (actions without a dialog)."""
        mb = QtWidgets.QMessageBox(
            QtWidgets.QMessageBox.Critical,
            tr(title),
            f"{title}: {explain(error)}",
            QtWidgets.QMessageBox.Ok,
            self.ui,
        )
        mb.setDetailedText(
            "".join(traceback.format_exception(type(error), error, error.__traceback__))
        )
        mb.exec_()
        return mb

    def _guarded(self, title, func, *args, **kwargs):
        """Run ``func``; an exception becomes an error dialog (returns None)."""
        try:
            return func(*args, **kwargs)
        except Exception as err:  # the GUI boundary: report, never crash the UI
            self.show_error(title, err)
            return None

    # ------------------------------------------------------------ threading
    @staticmethod
    def _run_now(work, deliver):
        """Scripts: run an action's two halves synchronously."""
        return deliver(work())

    def run_job(self, title, work, deliver, panel=None, on_error=None, on_done=None):
        """Run ``work()`` in the background; ``deliver(result)`` on the UI thread.

        Returns
        -------
        hyperspy_perovskite.gui._jobs.Job
        """
        box = None
        if panel is None:  # an action without a dialog: a small progress window
            box = QtWidgets.QDialog(self.ui)
            box.setWindowTitle(tr(title))
            panel = ProgressPanel(box)
            QtWidgets.QVBoxLayout(box).addWidget(panel)
            box.show()

        def close_box():
            if box is not None:
                box.close()
                box.deleteLater()

        def done(result):
            close_box()
            try:
                out = deliver(result)
            except Exception as err:  # delivering (plotting) failed
                (on_error or (lambda e: self.show_error(title, e)))(err)
                return
            if on_done is not None:
                on_done(out)

        def failed(err):
            close_box()
            (on_error or (lambda e: self.show_error(title, e)))(err)

        def cancelled():
            close_box()
            self.ui.set_status(f"{title}: cancelled, nothing was added")
            if on_error is not None:
                on_error(None)

        job = Job(title, work, done, failed, cancelled, panel).start()
        self.jobs = [j for j in self.jobs if not j.delivered] + [job]
        return job

    def wait(self, timeout=None):
        """Block until every running action has finished and delivered."""
        for job in list(self.jobs):
            job.wait(timeout)
        self.jobs = [j for j in self.jobs if not j.delivered]

    def _open(self, dialog, title, prepare):
        """Open ``dialog`` (non-modal). OK: ``prepare(**options)`` gives the
        two halves of the action; errors stay in the dialog, which closes
        once the results are added."""

        def on_error(err):
            dialog.set_busy(False)
            dialog.show_error(
                "Cancelled: nothing was added." if err is None else explain(err)
            )

        def on_ok():
            dialog.show_error(None)
            try:
                work, deliver = prepare(**dialog.options())
            except Exception as err:  # bad input: say so, keep the dialog open
                on_error(err)
                return
            dialog.set_busy(True)
            self.run_job(
                title,
                work,
                deliver,
                panel=dialog.progress,
                on_error=on_error,
                on_done=lambda _: dialog.finish(),
            )

        dialog.on_ok = on_ok
        self.open_dialog(dialog)
        return dialog
