"""Plot time traces with the stimulus record overlaid."""

import numpy as np

from .record import frame_time_axis, stimulus_channels
from .schema import has_record

__all__ = ["plot_with_stimulus"]


def plot_with_stimulus(trace, channels=None, ax=None, normalize=False, labels=None):
    """Plot time trace(s) with stimulus channels on a twin y axis.

    Parameters
    ----------
    trace : hyperspy.signal.BaseSignal
        A Signal1D whose signal axis is time (e.g. the output of
        ``InSituImageSeries.fringe_intensity``); navigation indices are
        plotted as separate lines. It must carry the stimulus record (outputs
        of the suite keep it) unless ``channels`` is empty.
    channels : list of str, optional
        Stimulus channels to overlay (default all).
    ax : matplotlib.axes.Axes, optional
    normalize : bool
        Divide each trace by its first finite value.
    labels : list of str, optional
        One label per line.

    Returns
    -------
    ax, ax_stimulus : matplotlib.axes.Axes
        ``ax_stimulus`` is None when nothing is overlaid.

    Examples
    --------
    >>> from hyperspy_perovskite.stimulus import attach_stimulus
    >>> from hyperspy_perovskite.stimulus.plot import plot_with_stimulus
    >>> tr = hs.signals.Signal1D(np.linspace(1, 0, 11))
    >>> tr.axes_manager[0].name, tr.axes_manager[0].units = "time", "s"
    >>> tr = attach_stimulus(tr, {"time": np.arange(11.0), "Bias": (np.ones(11), "V")})
    >>> ax, ax2 = plot_with_stimulus(tr)
    >>> ax2.get_ylabel()
    'Bias (V)'
    """
    import matplotlib.pyplot as plt
    from hyperspy.signal import BaseSignal

    if not isinstance(trace, BaseSignal) or trace.axes_manager.signal_dimension != 1:
        raise TypeError("trace must be a Signal1D with time as its signal axis.")
    sig_ax = trace.axes_manager.signal_axes[0]
    tax, t = frame_time_axis(trace)
    if tax is not sig_ax:
        raise ValueError(
            "The signal axis of trace is not its time axis; transpose it "
            "(e.g. trace.T) so that time is the signal axis."
        )
    data = np.asarray(trace.data)
    data = data.reshape(-1, data.shape[-1])
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    if labels is not None and len(labels) != data.shape[0]:
        raise ValueError(f"Give {data.shape[0]} labels, got {len(labels)}.")
    for i, y in enumerate(data):
        if normalize:
            finite = y[np.isfinite(y)]
            if finite.size == 0 or finite[0] == 0:
                raise ValueError("Cannot normalise a trace whose first value is 0.")
            y = y / finite[0]
        lab = (
            labels[i]
            if labels is not None
            else (None if data.shape[0] == 1 else f"{i}")
        )
        ax.plot(t, y, label=lab)
    ax.set_xlabel("Time (s)")
    q = trace.metadata.get_item("Signal.quantity", "")
    ax.set_ylabel(("Normalised " + q) if normalize and q else (q or "Signal"))
    if data.shape[0] > 1 or labels is not None:
        ax.legend(loc="best", fontsize="small")
    ax2 = None
    if channels is None or len(channels):
        if not has_record(trace):
            raise ValueError(
                "The trace has no stimulus record to overlay; attach one with "
                "attach_stimulus or pass channels=[]."
            )
        st = stimulus_channels(trace)
        names = list(st) if channels is None else list(channels)
        missing = [n for n in names if n not in st]
        if missing:
            raise ValueError(f"No stimulus channels {missing}; available {list(st)}.")
        ax2 = ax.twinx()
        for k, n in enumerate(names):
            s = st[n]
            ax2.plot(
                t,
                s.data,
                color=f"C{(k + data.shape[0]) % 10}",
                ls="--",
                drawstyle="steps-post"
                if s.metadata.get_item("Stimulus.interpolation") == "hold"
                else "default",
                label=n,
            )
        if len(names) == 1:
            units = st[names[0]].metadata.Signal.quantity.split("(")[-1].rstrip(")")
            ax2.set_ylabel(f"{names[0]} ({units})")
        else:
            ax2.set_ylabel("Stimulus")
            ax2.legend(loc="upper right", fontsize="small")
    return ax, ax2
