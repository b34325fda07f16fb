"""Report section ``[eds]``: element maps and profiles across the device stack.

Loads an EDX spectrum image (Bruker .bcf, JEOL .pts/.ASW, .hspy, ...; the
HAADF image stored in the same file is used when present) as an
``EDS_TEM_biased`` signal; shows the X-ray line intensity maps with scale
bars, checks the integration windows for overlapping lines of the elements
present (warnings shown in place), and, with a stack line (``line_start``,
``line_end``), gives the element profiles across the stack with Poisson
errors, interfaces marked (iodine accumulating near the cathode after bias:
“Imaging real-time amorphization of hybrid perovskite solar cells under
electrical biasing”, Fig. S11-S12).
"""

from __future__ import annotations

import numpy as np

from hyperspy_perovskite.report._context import Number
from hyperspy_perovskite.report.sections import Section

__all__ = ["SECTION", "run"]


def _load_eds(path, haadf_path):
    import hyperspy.api as hs

    loaded = hs.load(path)
    loaded = loaded if isinstance(loaded, list) else [loaded]
    spectra = [
        x
        for x in loaded
        if x.axes_manager.signal_dimension == 1
        and x.axes_manager.navigation_dimension >= 2
    ]
    if not spectra:
        raise ValueError(f"{path.name} holds no EDX spectrum image.")
    s = spectra[0]
    s.set_signal_type("EDS_TEM_biased")
    images = [x for x in loaded if x.axes_manager.signal_dimension == 2]
    if haadf_path is not None:
        images = hs.load(haadf_path)
        images = images if isinstance(images, list) else [images]
    haadf = images[0] if images else None
    for sig, which in ((s, "navigation"), (haadf, "signal")):
        if sig is None:
            continue
        group = getattr(sig.axes_manager, f"{which}_axes")
        if all(a.is_uniform for a in group):
            try:  # readable units (nm rather than 0.000771 µm)
                sig.axes_manager.convert_units(axes=which, same_units=True)
            except Exception:  # uncalibrated axes stay as they are
                pass
    return s, haadf


def _position(value, unit, name):
    from hyperspy_perovskite.units import parse_quantity

    return parse_quantity(value, unit, name=name, default_unit=unit)


def _maps_figure(maps, haadf, geometry=None, binning=1):
    import matplotlib.pyplot as plt

    from hyperspy_perovskite.report.figures import show_map

    panels = ([(haadf, "HAADF", "", "gray")] if haadf is not None else []) + [
        (m, m.metadata.Sample.xray_lines[0].replace("_", " "), "counts", "viridis")
        for m in maps
    ]
    label_of = {"": "HAADF intensity"}
    ncol = min(3, len(panels))
    nrow = int(np.ceil(len(panels) / ncol))
    fig, axes = plt.subplots(
        nrow, ncol, figsize=(4.2 * ncol, 3.6 * nrow), squeeze=False
    )
    for ax, (sig, label, unit, cmap) in zip(axes.flat, panels, strict=False):
        quantity = (
            f"counts per {binning} x {binning} pixels" if binning > 1 else "counts"
        )
        show_map(ax, sig, label_of.get(unit, quantity), "", cmap=cmap)
        ax.set_title(label)
        if geometry is not None:
            _draw_line(ax, sig, geometry)
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def _geo(geometry, name):
    """A field of the device geometry (a DeviceGeometry or a dict)."""
    if isinstance(geometry, dict):
        return geometry.get(name)
    return getattr(geometry, name, None)


def _draw_line(ax, sig, geometry):
    """The stack line (start -> end) on a map, in pixel coordinates."""
    am = sig.axes_manager
    group = am.signal_axes if am.signal_dimension == 2 else am.navigation_axes
    ax_x, ax_y = group[0], group[1]
    from hyperspy_perovskite.units import axis_factor

    try:
        fx = axis_factor(ax_x, "nm", name="x axis")
        fy = axis_factor(ax_y, "nm", name="y axis")
    except ValueError:
        return
    (x0, y0), (x1, y1) = _geo(geometry, "start"), _geo(geometry, "end")
    px = [(x0 / fx - ax_x.offset) / ax_x.scale, (x1 / fx - ax_x.offset) / ax_x.scale]
    py = [(y0 / fy - ax_y.offset) / ax_y.scale, (y1 / fy - ax_y.offset) / ax_y.scale]
    ax.annotate(
        "",
        (px[1], py[1]),
        (px[0], py[0]),
        arrowprops={"arrowstyle": "->", "color": "red", "lw": 1.5},
    )


def _profiles_figure(profiles, geometry):
    import matplotlib.pyplot as plt

    from hyperspy_perovskite.report.figures import axis_label

    profiles = profiles if isinstance(profiles, list) else [profiles]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for i, prof in enumerate(profiles):
        ax_d = prof.axes_manager.signal_axes[0]
        x = ax_d.axis
        y = np.asarray(prof.data, dtype=float).reshape(-1, x.size)[-1]
        var = prof.metadata.get_item("Signal.Noise_properties.variance", None)
        lines = prof.metadata.get_item("Sample.xray_lines", [])
        label = lines[0].replace("_", " ") if lines else str(i)
        if var is not None:
            err = np.sqrt(np.asarray(getattr(var, "data", var), dtype=float))
            err = err.reshape(-1, x.size)[-1]
            ax.errorbar(x, y, yerr=err, fmt=".-", ms=3, capsize=0, label=label)
        else:
            ax.plot(x, y, ".-", label=label)
    for name, pos in zip(
        _geo(geometry, "interface_names") or [],
        _geo(geometry, "interface_positions") or [],
        strict=False,
    ):
        ax.axvline(pos, color="0.5", ls=":", lw=1)
        ax.annotate(
            name,
            (pos, 1.0),
            xycoords=("data", "axes fraction"),
            rotation=90,
            va="top",
            ha="right",
            fontsize=8,
            color="0.3",
        )
    ax.set_xlabel(axis_label("distance along the stack", ax_d.units))
    ax.set_ylabel("X-ray counts (background subtracted)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _set_geometry(s, options, unit):
    start = [_position(v, unit, "line_start") for v in options["line_start"]]
    end = [_position(v, unit, "line_end") for v in options["line_end"]]
    width = options.get("width")
    width = _position(width, unit, "width") if width is not None else None
    interfaces = options.get("interfaces")
    if interfaces is not None:
        interfaces = [_position(v, unit, "interfaces") for v in interfaces]
    s.set_device_geometry(
        start, end, interfaces=interfaces, layers=options.get("layers"), width=width
    )
    return s.get_device_geometry()


def _profiles(ctx, s, options, geometry):
    with ctx.step("element profiles across the stack"):
        profiles = s.get_element_profiles(
            options.get("xray_lines"),
            bin_size=options.get("bin_size"),
            integration_windows=float(options["integration_windows"]),
            background=bool(options["background"]),
            check_overlaps=False,  # checked (and reported) above
            show_progressbar=False,
        )
    ctx.figure(
        _profiles_figure(profiles, geometry),
        "Element profiles along the stack line (red arrow on the maps; error "
        "bars: one Poisson standard error); dotted lines: interfaces.",
    )
    with ctx.step("save profiles"):
        for prof in profiles if isinstance(profiles, list) else [profiles]:
            lines = prof.metadata.get_item("Sample.xray_lines", ["profile"])
            ctx.save(prof, f"profile_{lines[0]}")


def run(ctx, options):
    """Run the EDX section (see the module docstring)."""
    with ctx.step("load the EDX map"):
        s, haadf = _load_eds(options["map"], options.get("haadf"))
        if options.get("elements"):
            s.set_elements(list(options["elements"]))
        if options.get("xray_lines"):
            s.set_lines(list(options["xray_lines"]))
        elif not s.metadata.get_item("Sample.xray_lines"):
            s.add_lines()
    nav = s.axes_manager.navigation_axes
    unit = nav[0].units
    ctx.text(
        f"{options['map'].name}: {nav[0].size} x {nav[1].size} pixels of "
        f"{nav[0].scale:.4g} {unit}, {s.axes_manager.signal_axes[0].size} channels; "
        f"elements {s.metadata.get_item('Sample.elements', [])}, lines "
        f"{s.metadata.get_item('Sample.xray_lines', [])}. Positions in this "
        f'section are in {unit} (or give a unit, e.g. "12 nm").'
    )
    geometry = None
    if options.get("line_start") is not None and options.get("line_end") is not None:
        geometry = _set_geometry(s, options, unit)
    with ctx.step("check the integration windows for overlapping lines"):
        s.check_line_overlaps(warn=True)
    binning = int(options["map_binning"])
    with ctx.step("X-ray line intensity maps"):
        maps = s.get_lines_intensity(
            integration_windows=float(options["integration_windows"]),
            show_progressbar=False,
        )
        if binning > 1:
            maps = [m.rebin(scale=(binning, binning)) for m in maps]
    totals = []
    for m in maps:
        total = float(np.sum(m.data))
        totals.append(
            Number(
                f"{m.metadata.Sample.xray_lines[0]} counts in the map",
                total,
                float(np.sqrt(max(total, 0.0))),
                "counts",
                "Poisson error",
            )
        )
    ctx.numbers(
        totals, caption="Integrated line intensities (no background subtraction)"
    )
    ctx.figure(
        _maps_figure(maps, haadf, geometry, binning),
        "X-ray line intensity maps"
        + (f", binned {binning} x {binning}" if binning > 1 else "")
        + ". Scale bars in the scan unit.",
    )
    with ctx.step("save maps"):
        for m in maps:
            ctx.save(m, f"map_{m.metadata.Sample.xray_lines[0]}")
    if geometry is not None:
        _profiles(ctx, s, options, geometry)
    else:
        ctx.text(
            "No stack line given: add line_start = [x, y] and line_end = [x, y] "
            f"({unit}) to [eds] for element profiles across the device stack."
        )


SECTION = Section(
    key="eds",
    title="EDX maps under bias: element maps and profiles",
    run=run,
    defaults={
        "map": None,
        "haadf": None,
        "elements": None,
        "xray_lines": None,
        "integration_windows": 2.0,
        "map_binning": 1,
        "background": True,
        "line_start": None,
        "line_end": None,
        "width": None,
        "bin_size": None,
        "interfaces": None,
        "layers": None,
    },
    files=("map", "haadf"),
    required=("map",),
    help={
        "map": "EDX spectrum image (.bcf, .pts/.ASW, .hspy, ...)",
        "haadf": "HAADF image, if not stored in the map's file (optional)",
        "elements": 'elements present, e.g. ["Pb", "I", "Sn"] (default: from the file)',
        "xray_lines": 'lines to map, e.g. ["Pb_La", "I_La"] (default: from the file)',
        "integration_windows": "integration window width, in FWHM of each line",
        "map_binning": "sum n x n pixels in the maps shown (sparse counts)",
        "background": "subtract the background windows in the profiles",
        "line_start": "[x, y] start of the stack line, in the map's unit (e.g. nm)",
        "line_end": "[x, y] end of the stack line",
        "width": "band width around the line (default: the whole map width)",
        "bin_size": "profile bin along the line (default: one pixel)",
        "interfaces": "interface positions along the line from line_start",
        "layers": "layer names from start to end (one more than interfaces)",
    },
)
