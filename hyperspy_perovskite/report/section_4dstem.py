"""Report section ``[4dstem]``: operando 4D-STEM series of a device under bias.

Loads a series (time, scan y, scan x | ky, kx) as
:class:`~hyperspy_perovskite.signals.operando_4dstem.Operando4DSTEM`,
calibrates it when asked (a known reflection or a scale), sets the device
geometry from the file's options when the file has none, and runs
:meth:`~hyperspy_perovskite.signals.operando_4dstem.Operando4DSTEM.analyse`:
virtual BF/ADF images of the first and last scan, strain maps (NaN where the
lattice fit is not valid), strain across the stack, interface strain, phase
fractions and onsets at each interface, and the timeline with the electrical
record (the operando LED study "Multimodal electron microscopy of halide
perovskite interfacial dynamics", Nature (2026),
doi:10.1038/s41586-026-10238-8). All maps and tables are saved in one signal
(:meth:`~hyperspy_perovskite.signals._operando_result.OperandoAnalysis.to_signal`).
"""

from __future__ import annotations

import numpy as np

from hyperspy_perovskite.report._context import Number
from hyperspy_perovskite.report.sections import Section

__all__ = ["SECTION", "run"]


def _load(ctx, options):
    import hyperspy.api as hs

    with ctx.step("load and calibrate the series"):
        s = hs.load(options["file"], lazy=bool(options["lazy"]))
        s.set_signal_type("operando_4DSTEM_perovskite")
        if options.get("d_spacing") is not None:
            s = s.calibrate(d_spacing=float(options["d_spacing"]))
        elif options.get("scale") is not None:
            s = s.calibrate(scale=float(options["scale"]))
        if options.get("interfaces") is not None:
            _set_geometry(s, options)
        elif s.metadata.get_item("Device.Geometry") is None:
            raise ValueError(
                f"[4dstem] {options['file'].name} has no device geometry: give "
                "start and end (x, y in nm), interfaces (nm from start) and layers."
            )
    return s


def _set_geometry(s, options):
    from hyperspy_perovskite.metadata import DeviceGeometry

    missing = [k for k in ("start", "end", "layers") if options.get(k) is None]
    if missing:
        raise ValueError(f"[4dstem] interfaces given: also give {missing} (nm).")
    layers = list(options["layers"])
    pos = [float(p) for p in options["interfaces"]]
    names = [f"{a}/{b}" for a, b in zip(layers[:-1], layers[1:], strict=True)]
    DeviceGeometry(
        start=options["start"], end=options["end"], interface_positions=pos,
        interface_names=names, layers=layers,
    ).to_metadata(s.metadata)  # fmt: skip


def _maps_figure(res, vi, component):
    import matplotlib.pyplot as plt

    from hyperspy_perovskite.report.figures import show_map

    strain = res.strain[component]
    last = strain.axes_manager.navigation_axes[0].size - 1
    t = res.times
    fig, axes = plt.subplots(2, 2, figsize=(10, 5.2), constrained_layout=True)
    panels = (
        (vi["ADF"].inav[0], "ADF intensity", "counts", "gray", None),
        (vi["ADF"].inav[last], "ADF intensity", "counts", "gray", None),
        (strain.inav[0], f"strain {component}", "%", "RdBu_r", res.validity.mask[0]),
        (strain.inav[last], f"strain {component}", "%", "RdBu_r", res.validity.mask[last]),
    )  # fmt: skip
    for ax, (sig, label, unit, cmap, valid) in zip(axes.flat, panels, strict=True):
        data = sig.deepcopy()
        if unit == "%":
            data.data = 100 * np.asarray(data.data, float)
        show_map(ax, data, label, unit, cmap=cmap, valid=valid)
    for ax, ti in zip(axes.flat, (t[0], t[last]) * 2, strict=True):
        ax.set_title(f"t = {ti:g} s", fontsize=9)
    fig.text(
        0.5, -0.02,
        "Grey: no valid lattice fit (fewer spots or a poor fit).",
        ha="center", fontsize=8,
    )  # fmt: skip
    return fig


def _profile_figure(res, component):
    import matplotlib.pyplot as plt

    prof = res.strain_profiles(component)
    x = prof.axes_manager.signal_axes[0].axis
    data = np.asarray(prof.data, float)  # (time, value/std, stack)
    fig, ax = plt.subplots(figsize=(7.5, 4))
    for i, ti in enumerate(res.times):
        ax.errorbar(x, 100 * data[i, 0], 100 * data[i, 1], fmt=".-", ms=3,
                    capsize=2, label=f"t = {ti:g} s")  # fmt: skip
    for name, pos in zip(
        res.geometry.interface_names, res.geometry.interface_positions, strict=True
    ):
        ax.axvline(pos, color="0.5", lw=0.8, ls=":")
        ax.annotate(name, (pos, 1.0), xycoords=("data", "axes fraction"),
                    rotation=90, va="top", ha="right", fontsize=7)  # fmt: skip
    ax.set_xlabel("distance along the stack (nm)")
    ax.set_ylabel(f"strain {component} (%)")
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig


def run(ctx, options):
    """Run the 4D-STEM section (see the module docstring)."""
    s = _load(ctx, options)
    component = options["component"]
    with ctx.step("virtual images"):
        vi = s.get_virtual_image_series(show_progressbar=False)
    with ctx.step("strain, phases and drift (one pass over the patterns)"):
        kwargs = {"phases": tuple(options["phases"]), "show_progressbar": False}
        if options.get("reference") is not None:
            kwargs["reference"] = options["reference"]
        res = s.analyse(**kwargs)
    ctx.validity("strain maps (all scans)", res.validity.mask)
    std = res.reference_std
    ctx.numbers(
        [
            Number("scans", len(res.times), None, ""),
            Number("scan interval", float(np.median(np.diff(res.times))), None, "s")
            if len(res.times) > 1
            else Number("scan interval", float("nan"), None, "s"),
            Number("bias switched on", res.bias_on if res.bias_on is not None else float("nan"), None, "s"),
            Number("strain noise in the reference region", 100 * float(np.nanmedian(np.atleast_1d(std))), None, "%"),
        ],
        caption=f"Series {options['file'].name}",
    )  # fmt: skip
    with ctx.step("figures"):
        ctx.figure(
            _maps_figure(res, vi, component),
            f"Virtual ADF and {component} strain (in %, relative to the reference "
            "region) in the first and the last scan; scale bars in the scan unit.",
        )
        ctx.figure(
            _profile_figure(res, component),
            f"{component} strain across the stack (mean ± standard error in 1 nm "
            "bins) at every scan; dotted lines: interfaces.",
        )
        ctx.figure(res.plot_timeline(), "Timeline: electrical record, interface "
                   "strain and phase fractions on one time axis.")  # fmt: skip
    ctx.table(res.interface_strain, caption="Strain at each interface vs time")
    ctx.table(res.phase_fractions, caption="Phase fractions at each interface")
    ctx.table(res.onsets, caption="Phase onsets (NaN: never detected)")
    with ctx.step("save results"):
        ctx.save(res.to_signal(), "analysis")


SECTION = Section(
    key="4dstem",
    title="Operando 4D-STEM: strain and phases at the interfaces",
    run=run,
    defaults={
        "file": None,
        "lazy": False,
        "d_spacing": None,
        "scale": None,
        "start": None,
        "end": None,
        "interfaces": None,
        "layers": None,
        "reference": None,
        "phases": ["Pb", "PbBr2", "CsPb2Br5"],
        "component": "exx",
    },
    files=("file",),
    required=("file",),
    help={
        "file": "4D-STEM series (time, y, x | ky, kx): .hspy, .zspy or a pyxem file",
        "lazy": "load lazily (series larger than memory)",
        "d_spacing": "calibrate on the strongest ring of this spacing, Å",
        "scale": "or give the calibration, 1/Å per detector pixel",
        "start": "stack start (x, y), nm (if the file has no geometry)",
        "end": "stack end (x, y), nm",
        "interfaces": "interface positions from start, nm",
        "layers": "layer names from start to end",
        "reference": "unstrained reference: a layer name (default: widest layer)",
        "phases": "candidate product phases",
        "component": "strain component shown: exx, eyy, exy or theta",
    },
)
