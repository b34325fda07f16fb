"""Report section ``[cl]``: emission maps of a CL spectrum image.

Loads a CL spectrum image (Gatan .dm4, Attolight .sur, Delmic .h5, .hspy...,
anything ``hs.load`` reads) and optionally its HAADF/SE image; fits a Gaussian
emission band (optionally two, or with an Urbach tail on an energy scale) to
every pixel with
:meth:`~hyperspy_perovskite.signals.cl.CLEmissionMixin.fit_emission`; shows
the maps with invalid pixels masked, their statistics over the valid pixels
(after Li et al., Nat. Commun. 14, 7612 (2023), Fig. 2c-f and S11), one
spectrum with its fit, and the reasons pixels were rejected.
"""

from __future__ import annotations

import numpy as np

from hyperspy_perovskite.report._context import Number
from hyperspy_perovskite.report.sections import Section

__all__ = ["SECTION", "run"]

_MAPS = (
    ("centre", "emission centre", "viridis"),
    ("fwhm", "FWHM", "magma"),
    ("area", "band area", "inferno"),
)


def _load_cl(path, signal_type):
    import hyperspy.api as hs

    s = hs.load(path)
    if isinstance(s, list):
        spectra = [x for x in s if x.axes_manager.signal_dimension == 1]
        if not spectra:
            raise ValueError(f"{path.name} holds no spectrum image (1D signals).")
        s = spectra[0]
    if s.axes_manager.signal_dimension != 1 or s.axes_manager.navigation_dimension < 1:
        raise ValueError(
            f"{path.name} is not a spectrum image (navigation x spectrum): "
            f"{s.axes_manager.navigation_shape}|{s.axes_manager.signal_shape}."
        )
    if signal_type in (None, "", "auto"):
        signal_type = (
            "CL_SEM_perovskite" if "SEM" in type(s).__name__ else ("CL_STEM_perovskite")
        )
    s.set_signal_type(signal_type)
    s = s.normalize_spectral_axis()
    nav = s.axes_manager.navigation_axes
    if all(a.is_uniform for a in nav):
        try:
            s.axes_manager.convert_units(axes="navigation", same_units=True)
        except Exception:  # uncalibrated axes stay as they are
            pass
    return s


def _valid_mask(maps):
    """Valid pixels of the emission maps (the Validity node when present)."""
    try:
        from hyperspy_perovskite.validity import Validity

        v = Validity.from_metadata(maps["centre"].metadata)
        if v is not None:
            return np.asarray(v.mask, dtype=bool)
    except Exception:  # maps written before the Validity node existed
        pass
    return np.asarray(maps["valid"].data, dtype=bool)


def _flag_table(maps):
    from hyperspy_perovskite.results import ResultTable
    from hyperspy_perovskite.validity import Validity

    v = Validity.from_metadata(maps["valid"].metadata)
    counts = v.counts() if v is not None else {}
    size = max(np.size(maps["valid"].data), 1)
    return ResultTable(
        {
            "pixels": list(counts.values()),
            "% of map": 100.0 * np.asarray(list(counts.values()), float) / size,
        },
        index=list(counts),
        title="Why pixels were rejected (a pixel may have several reasons)",
    )


def _summary_numbers(maps, valid):
    out = []
    n = int(valid.sum())
    for name, label, _ in _MAPS + (("sigma", "sigma", None),):
        sig = maps[name]
        unit = sig.metadata.Signal.get_item("quantity", "")
        unit = unit[unit.find("(") + 1 : unit.rfind(")")] if "(" in unit else ""
        vals = np.asarray(sig.data, dtype=float)[valid]
        stds = np.asarray(maps[f"{name}_std"].data, dtype=float)[valid]
        vals = vals[np.isfinite(vals)]
        if vals.size == 0:
            out.append(Number(f"{label}, median", float("nan"), None, unit))
            continue
        q1, med, q3 = np.percentile(vals, [25, 50, 75])
        # standard error of a median, from the pixel-to-pixel spread
        sem = 1.2533 * np.std(vals) / np.sqrt(vals.size) if vals.size > 1 else None
        note = (
            f"median over {n} valid pixels; spread between pixels (IQR) "
            f"{q1:.4g}-{q3:.4g}; median fit uncertainty per pixel "
            f"{np.nanmedian(stds):.2g}"
        )
        out.append(Number(f"{label}, median", med, sem, unit, note))
    return out


def _maps_figure(s, maps, valid, haadf, integrated):
    import matplotlib.pyplot as plt

    from hyperspy_perovskite.report.figures import show_map

    panels = []
    if haadf is not None:
        panels.append((haadf, "HAADF / SE intensity", "", "gray", None))
    binned = (
        integrated.metadata.get_item("Signal.binned", False)
        or s.axes_manager.signal_axes[0].is_binned
    )
    unit = "counts" if binned else f"counts {s.axes_manager.signal_axes[0].units}"
    panels.append((integrated, "CL intensity, fitted range", unit, "inferno", None))
    for name, label, cmap in _MAPS:
        unit = maps[name].metadata.Signal.get_item("quantity", "")
        unit = unit[unit.find("(") + 1 : unit.rfind(")")] if "(" in unit else ""
        panels.append((maps[name], label, unit, cmap, valid))
    ncol = 2 if len(panels) == 4 else 3
    nrow = int(np.ceil(len(panels) / ncol))
    fig, axes = plt.subplots(
        nrow, ncol, figsize=(4.2 * ncol, 3.6 * nrow), squeeze=False
    )
    for ax, (sig, label, unit, cmap, mask) in zip(axes.flat, panels, strict=False):
        show_map(ax, sig, label, unit, cmap=cmap, valid=mask)
        ax.set_title(label)
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def _spectrum_figure(m, maps, valid):
    """Data, fit and residual at the valid pixel of median band area."""
    import matplotlib.pyplot as plt

    from hyperspy_perovskite.report.figures import axis_label

    area = np.where(valid, np.asarray(maps["area"].data, dtype=float), np.nan)
    if not np.isfinite(area).any():
        return None
    med = np.nanmedian(area)
    idx = np.unravel_index(np.nanargmin(np.abs(area - med)), area.shape)
    m.axes_manager.indices = tuple(int(i) for i in idx[::-1])
    ax_sig = m.signal.axes_manager.signal_axes[0]
    x = ax_sig.axis
    y = np.asarray(m.signal.data[idx], dtype=float)
    for c in m:
        c.fetch_stored_values()
    fit = np.asarray(m._get_current_data(onlyactive=True), dtype=float)
    if fit.size != x.size:  # the model covers the fitted range only
        switches = np.asarray(m._channel_switches, dtype=bool)
        x, y = x[switches], y[switches]
    fig, (a0, a1) = plt.subplots(
        2, 1, figsize=(7, 5), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    a0.plot(x, y, ".", ms=3, color="0.3", label="data")
    a0.plot(x, fit, "-", color="C3", label="model (sum)")
    for c in m:
        if c.active:
            curve = m._get_current_data(component_list=[c])
            a0.plot(x, np.asarray(curve, dtype=float), "--", lw=1, label=c.name)
    a0.set_ylabel(
        axis_label("intensity", m.signal.metadata.Signal.get_item("quantity", "counts"))
    )
    a0.legend(fontsize=8)
    a1.plot(x, y - fit, ".", ms=2, color="0.3")
    a1.axhline(0, color="C3", lw=1)
    a1.set_ylabel("residual")
    a1.set_xlabel(axis_label(ax_sig.name or "spectral axis", ax_sig.units))
    a0.set_title(f"pixel (x, y) = {tuple(int(i) for i in idx[::-1])}: median band area")
    fig.tight_layout()
    return fig


def run(ctx, options):
    """Run the CL section (see the module docstring)."""
    import hyperspy.api as hs

    with ctx.step("load the CL map"):
        s = _load_cl(options["map"], options["signal_type"])
        haadf = hs.load(options["haadf"]) if options.get("haadf") else None
        if isinstance(haadf, list):
            haadf = next(x for x in haadf if x.axes_manager.signal_dimension == 2)
    shape = s.axes_manager.navigation_shape
    ax = s.axes_manager.signal_axes[0]
    ctx.text(
        f"{options['map'].name}: {type(s).__name__}, {shape[0]} x "
        f"{shape[1] if len(shape) > 1 else 1} pixels, {ax.size} channels "
        f"{ax.axis[0]:.4g}-{ax.axis[-1]:.4g} {ax.units}."
    )
    rng = options.get("signal_range")
    fit_kwargs = {
        "n_peaks": int(options["n_peaks"]),
        "tail": bool(options["tail"]),
        "background": options["background"],
        "axis": options["axis"],
        "signal_range": tuple(rng) if rng else None,
        "poisson": bool(options["poisson"]),
        "show_progressbar": False,
        "spikes": False,  # as the independent check in tests/report
    }
    with ctx.step(f"fit the emission band in {s.axes_manager.navigation_size} pixels"):
        m = s.fit_emission(**fit_kwargs)
        maps = s.emission_maps(
            m,
            n_sigma=float(options["min_significance"]),
            # a Gaussian leaves > 10 % structure on this real band; the report
            # keeps the Gaussian numbers (band="asymmetric" passes the test)
            residual_test=False,
            max_reduced_chisq=options.get("max_reduced_chisq"),
        )
    valid = _valid_mask(maps)
    ctx.validity("emission fit", valid)
    ctx.numbers(_summary_numbers(maps, valid), caption="Emission band")
    with ctx.step("figures"):
        sub = m.signal.isig[rng[0] : rng[1]] if rng else m.signal
        integrated = sub.integrate1D(-1)
        ctx.figure(
            _maps_figure(s, maps, valid, haadf, integrated),
            "Emission maps; grey pixels failed the validity checks (table below). "
            "Scale bars in the scan unit.",
        )
        ctx.table(_flag_table(maps))
        if valid.sum() >= 2:
            fig = s.plot_emission_statistics(maps, bins=25, valid=maps["valid"])
            ctx.figure(fig, "Histograms and 2D histograms over the valid pixels.")
        fig = _spectrum_figure(m, maps, valid)
        if fig is not None:
            ctx.figure(fig, "One spectrum with the fitted model and its residual.")
    with ctx.step("save results"):
        ctx.save(m, "emission_model")
        for name in ("centre", "fwhm", "area", "quality"):
            ctx.save(maps[name], f"{name}_map")
    return maps


SECTION = Section(
    key="cl",
    title="Cathodoluminescence: emission maps",
    run=run,
    defaults={
        "map": None,
        "haadf": None,
        "signal_type": "auto",
        "signal_range": None,
        "n_peaks": 1,
        "tail": False,
        "background": "offset",
        "axis": "wavelength",
        "poisson": False,
        "min_significance": 3.0,
        "max_reduced_chisq": None,
    },
    files=("map", "haadf"),
    required=("map",),
    help={
        "map": "CL spectrum image file (.dm4, .sur, .h5, .hspy, ...)",
        "haadf": "HAADF or SE image of the same area (optional)",
        "signal_type": "CL_STEM_perovskite, CL_SEM_perovskite or auto",
        "signal_range": "[low, high] spectral range of the fit, nm (eV with axis = energy)",
        "n_peaks": "number of Gaussian bands, 1 or 2",
        "tail": "add an Urbach tail (needs axis = energy)",
        "background": "offset, linear or none",
        "axis": "fit on wavelength (nm) or energy (eV, with the Jacobian)",
        "poisson": "weight the fit with Poisson variances (raw counts only)",
        "min_significance": "band area must exceed this many standard errors",
        "max_reduced_chisq": "also reject pixels above this reduced chi-squared",
    },
)
