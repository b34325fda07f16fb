"""Report section ``[insitu]``: stimulus record and, with a movie, fringe power.

Reads the stimulus log (Protochips holder log or a CSV with a time column,
see :func:`hyperspy_perovskite.stimulus.read_stimulus`) and shows every
channel against time, grouped by quantity, with a table of its range. With a
``movie`` (an image series with a time axis), attaches the log to the frames
and tracks the lattice-fringe power at the given d-spacings (default the
perovskite and PbI2 (001) spacings, 6.36 Å and 6.96 Å, of the
amorphization-under-bias study “Imaging real-time amorphization of hybrid
perovskite solar cells under electrical biasing”, Fig. 1c) with the stimulus
overlaid.
"""

from __future__ import annotations

import numpy as np

from hyperspy_perovskite.report._context import Number
from hyperspy_perovskite.report.sections import Section

__all__ = ["SECTION", "run"]


def _channel_table(record, channels):
    from hyperspy_perovskite.results import ResultTable

    rows = {"quantity": [], "unit": [], "minimum": [], "maximum": [], "last": []}
    for name in channels:
        ch = record["channels"][name]
        v = np.asarray(ch["values"], dtype=float)
        f = v[np.isfinite(v)]
        rows["quantity"].append(ch["quantity"])
        rows["unit"].append(ch["values_units"])
        rows["minimum"].append(float(f.min()) if f.size else float("nan"))
        rows["maximum"].append(float(f.max()) if f.size else float("nan"))
        rows["last"].append(float(f[-1]) if f.size else float("nan"))
    return ResultTable(rows, index=list(channels), title="Stimulus channels")


def _stimulus_figure(record, channels):
    import matplotlib.pyplot as plt

    from hyperspy_perovskite.report.figures import axis_label, si_scale

    by_quantity = {}
    for name in channels:
        by_quantity.setdefault(record["channels"][name]["quantity"], []).append(name)
    n = len(by_quantity)
    fig, axes = plt.subplots(
        n, 1, figsize=(7.5, 2.2 * n + 0.6), sharex=True, squeeze=False
    )
    t = np.asarray(record["time"], dtype=float)
    for ax, (quantity, names) in zip(axes[:, 0], by_quantity.items(), strict=True):
        unit = record["channels"][names[0]]["values_units"]
        allv = np.concatenate(
            [np.asarray(record["channels"][n]["values"]) for n in names]
        )
        factor, unit = si_scale(allv, unit)
        for name in names:
            y = np.asarray(record["channels"][name]["values"], dtype=float) * factor
            ax.plot(t, y, label=name.replace("_", " "))
        ax.set_ylabel(axis_label(quantity, unit, current=quantity == "current"))
        ax.legend(fontsize=8, loc="best")
    axes[-1, 0].set_xlabel("time since the start of the log (s)")
    fig.tight_layout()
    return fig


def _movie(ctx, options):
    import hyperspy.api as hs

    from hyperspy_perovskite.stimulus.plot import plot_with_stimulus

    with ctx.step("load the movie and attach the log"):
        s = hs.load(options["movie"], lazy=bool(options["lazy"]))
        s.set_signal_type("insitu_image_series")
        kwargs = {
            "time_offset": float(options["time_offset"]),
            "trigger_time": float(options["trigger_time"]),
        }
        if options.get("trigger_channel"):
            kwargs["trigger_channel"] = options["trigger_channel"]
            if options.get("trigger_threshold") is not None:
                kwargs["trigger_threshold"] = float(options["trigger_threshold"])
        from hyperspy_perovskite.stimulus.schema import has_record

        if has_record(s):
            ctx.warn(
                f"{options['movie'].name} already carries a stimulus record; the "
                f"log {options['stimulus'].name} named here replaces it.",
                step="load the movie and attach the log",
            )
        s = s.attach_stimulus(str(options["stimulus"]), replace=True, **kwargs)
    d = [float(x) for x in np.atleast_1d(options["d_spacings"])]
    with ctx.step(f"fringe power at d = {', '.join(f'{x:g}' for x in d)} Å"):
        trace = s.fringe_intensity(
            d, tolerance=float(options["tolerance"]), show_progressbar=False
        )
        if trace._lazy:
            trace.compute(show_progressbar=False)
    data = np.asarray(trace.data, dtype=float).reshape(-1, trace.data.shape[-1])
    numbers = []
    for di, y in zip(d, data, strict=False):
        f = y[np.isfinite(y)]
        if f.size >= 2 and f[0] != 0:
            numbers.append(
                Number(f"fringe power, last / first frame, d = {di:g} Å", f[-1] / f[0])
            )
    ctx.numbers(numbers, caption="Fringe power")
    with ctx.step("figures"):
        ax, _ = plot_with_stimulus(
            trace, labels=[f"d = {x:g} Å" for x in d][: data.shape[0]]
        )
        ax.figure.set_size_inches(8, 4.5)
        ax.figure.tight_layout()
        ctx.figure(
            ax.figure,
            "Lattice-fringe power at each d-spacing (left axis) with the stimulus "
            "channels on the frame times (right axis).",
        )
    with ctx.step("save results"):
        ctx.save(trace, "fringe_power")


def run(ctx, options):
    """Run the in situ section (see the module docstring)."""
    from hyperspy_perovskite.stimulus import read_stimulus

    with ctx.step("read the stimulus log"):
        record = read_stimulus(
            str(options["stimulus"]), file_format=options["file_format"]
        )
    channels = options.get("channels") or list(record["channels"])
    unknown = [c for c in channels if c not in record["channels"]]
    if unknown:
        raise ValueError(
            f"[insitu] channels {unknown} are not in the log; it has "
            f"{list(record['channels'])}."
        )
    t = np.asarray(record["time"], dtype=float)
    steps = np.diff(t)
    ctx.numbers(
        [
            Number("log duration", t[-1] - t[0], None, "s"),
            Number("log points", t.size, None, ""),
            Number(
                "median time step",
                float(np.median(steps)),
                None,
                "s",
                f"largest step {steps.max():.3g} s" if steps.size else "",
            ),
        ],
        caption=f"Stimulus log {options['stimulus'].name}",
    )
    ctx.table(_channel_table(record, channels))
    with ctx.step("stimulus figure"):
        ctx.figure(
            _stimulus_figure(record, channels), "Stimulus channels against time."
        )
    if options.get("movie"):
        _movie(ctx, options)
    else:
        ctx.text(
            'No movie given: add movie = "your_movie.dm4" to [insitu] to track '
            "lattice fringes against this record."
        )


SECTION = Section(
    key="insitu",
    title="In situ series: stimulus and lattice fringes",
    run=run,
    defaults={
        "stimulus": None,
        "file_format": None,
        "channels": None,
        "movie": None,
        "lazy": False,
        "d_spacings": [6.36, 6.96],
        "tolerance": 0.02,
        "time_offset": 0.0,
        "trigger_channel": None,
        "trigger_threshold": None,
        "trigger_time": 0.0,
    },
    files=("stimulus", "movie"),
    required=("stimulus",),
    help={
        "stimulus": "stimulus log: Protochips CSV or a CSV with a time column",
        "file_format": "Protochips or csv (default: detected)",
        "channels": "channels to show (default all)",
        "movie": "image series with a time axis (.dm4, .hspy, ...), optional",
        "lazy": "load the movie lazily (larger than memory)",
        "d_spacings": "lattice spacings to track, Å",
        "tolerance": "relative half-width of the FFT annulus",
        "time_offset": "frame time of the log's t = 0, s",
        "trigger_channel": "align on the first time this channel passes trigger_threshold",
        "trigger_threshold": "threshold in the channel's unit (V, A, degC)",
        "trigger_time": "frame time of the trigger event, s",
    },
)
