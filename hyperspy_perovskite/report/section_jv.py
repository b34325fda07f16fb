"""Report section ``[jv]``: device figures of merit from J-V sweeps.

Reads a delimited J-V export (:func:`hyperspy_perovskite.readers.read_jv_text`:
voltage and current or current-density columns, scans in both directions),
gives Jsc, Voc, FF and PCE of every scan with their standard errors
(:meth:`~hyperspy_perovskite.signals.jv.JVCurve.figures_of_merit`) and, with a
reverse and a forward scan, the hysteresis index (the definition and its
source are in :meth:`~hyperspy_perovskite.signals.jv.JVCurve.hysteresis_index`).
"""

from __future__ import annotations

import numpy as np

from hyperspy_perovskite.report.sections import Section

__all__ = ["SECTION", "run"]


def _figure(s):
    import matplotlib.pyplot as plt

    from hyperspy_perovskite.report.figures import axis_label

    ax_v = s.axes_manager.signal_axes[0]
    data = np.asarray(s.data, dtype=float).reshape(-1, ax_v.size)
    labels = list(s.metadata.get_item("Device.JV.scan_directions", []))
    q = s.metadata.get_item("Signal.quantity", "current density (mA/cm²)")
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for i, y in enumerate(data):
        ax.plot(
            ax_v.axis,
            y,
            ".-",
            ms=3,
            label=labels[i] if i < len(labels) else f"scan {i}",
        )
    ax.axhline(0, color="0.6", lw=0.8)
    ax.set_xlabel(axis_label(ax_v.name or "voltage", ax_v.units))
    ax.set_ylabel(q)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def run(ctx, options):
    """Run the J-V section (see the module docstring)."""
    from hyperspy_perovskite.readers import read_jv_text

    kwargs = {
        k: options[k] for k in ("area", "irradiance") if options.get(k) is not None
    }
    with ctx.step("read the J-V file"):
        s = read_jv_text(
            str(options["file"]), illumination=options["illumination"], **kwargs
        )
    curves = s if isinstance(s, list) else [s]
    for i, c in enumerate(curves):
        with ctx.step("figures of merit"):
            fom = c.figures_of_merit()
            table = fom.to_table()
        ctx.table(table, caption=f"Figures of merit, {options['file'].name}")
        ctx.figure(_figure(c), "J-V sweeps (positive photocurrent).")
        dirs = c.metadata.get_item("Device.JV.scan_directions", [])
        if "reverse" in dirs and "forward" in dirs:
            with ctx.step("hysteresis index"):
                ctx.table(c.hysteresis_index(fom), caption="Hysteresis")
        with ctx.step("save results"):
            ctx.save(c, f"jv_{i}")


SECTION = Section(
    key="jv",
    title="Device performance: J-V figures of merit",
    run=run,
    defaults={"file": None, "area": None, "illumination": "AM1.5G", "irradiance": None},
    files=("file",),
    required=("file",),
    help={
        "file": "J-V text export (voltage and current columns; both scan directions)",
        "area": "cell area, cm² (if the file states none)",
        "illumination": "AM1.5G or dark",
        "irradiance": "mW/cm² (default 100 for AM1.5G)",
    },
)
