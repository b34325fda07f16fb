"""The operando timeline figure: electrical record, strain, phases, halide."""

import numpy as np

__all__ = ["plot_timeline"]


def plot_timeline(res, interfaces=None, phases=None, fig=None):
    """Stacked panels sharing the time axis (see ``OperandoAnalysis.plot_timeline``).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    tl = res.timeline
    interfaces = list(interfaces or res.geometry.interface_names)
    phases = ["product"] + list(phases or res.phases)
    has_halide = "halide" in tl
    n = 3 + int(has_halide)
    if fig is None:
        fig = plt.figure(figsize=(7.0, 2.0 * n + 0.6), dpi=150)
    axes = fig.subplots(n, 1, sharex=True)
    t = tl["time"]
    ax = axes[0]
    if "resistance" in tl:
        ax.plot(t, tl["resistance"] / 1e6, "k.-", label="resistance")
        ax.set_ylabel("Resistance (MΩ)")
    volt = [c for c in tl.column_names if tl.units.get(c) == "V"]
    if volt:
        ax2 = ax.twinx()
        ax2.plot(t, tl[volt[0]], "C3.--", label=volt[0])
        ax2.set_ylabel(f"{volt[0]} (V)", color="C3")
    ax.set_title("Electrical record (constant current)", fontsize=9)
    ax = axes[1]
    for i, name in enumerate(interfaces):
        key = f"exx {name}"
        if key in tl:
            ax.errorbar(
                t,
                100 * tl[key],
                100 * tl.std[key],
                fmt="o-",
                ms=3,
                color=f"C{i}",
                capsize=2,
                label=f"e_xx at {name}",
            )
    ax.axhline(0, color="0.6", lw=0.5)
    ax.set_ylabel("Strain e_xx (%)")
    ax.legend(fontsize=7, loc="best")
    ax = axes[2]
    for i, name in enumerate(interfaces):
        for j, p in enumerate(phases):
            key = f"{p} fraction {name}"
            if key in tl and np.nanmax(np.nan_to_num(tl[key])) > 0:
                ax.errorbar(
                    t,
                    100 * tl[key],
                    100 * tl.std[key],
                    fmt="s-",
                    ms=3,
                    capsize=2,
                    color=f"C{(i * len(phases) + j) % 10}",
                    label=f"{p} at {name}",
                )
    ax.set_ylabel("Phase fraction (%)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="best")
    if has_halide:
        axes[3].plot(t, tl["halide"], "g^-")
        axes[3].set_ylabel(tl.units.get("halide") or "Halide")
    for a in axes:
        if np.isfinite(res.bias_on):
            a.axvline(res.bias_on, color="k", ls=":", lw=1)
    axes[0].text(
        res.bias_on if np.isfinite(res.bias_on) else t[0],
        1.02,
        " bias on",
        transform=axes[0].get_xaxis_transform(),
        fontsize=7,
    )
    axes[-1].set_xlabel("Time (s)")
    fig.tight_layout()
    return fig
