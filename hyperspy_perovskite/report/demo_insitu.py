"""Demo part: lattice-fringe tracking in a simulated in situ HRTEM movie under bias.

“Imaging real-time amorphization of hybrid perovskite solar cells under electrical biasing” (Fig. 1c, S5): perovskite (001) fringes (6.36 Å)
fade under 1 V forward bias, PbI2 (001) fringes (6.96 Å) persist, and the
beam-only control region A does not change. The demo simulates such a movie
with its potentiostat log, attaches the log, tracks fringe power per grain and
per tile, fits the JMAK kinetics, reports the onset against the bias
switch-on, compares the biased and control regions, estimates the drift and
the electron dose.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def _traces_figure(stack, grains, notes=()):
    import matplotlib.pyplot as plt

    from hyperspy_perovskite.report.figures import note_warnings
    from hyperspy_perovskite.stimulus.plot import plot_with_stimulus

    fig, ax = plt.subplots(figsize=(7.5, 4.2), constrained_layout=True)
    labels = [f"{g['name']} ({g['d']} Å)" for g in grains]
    plot_with_stimulus(
        stack, channels=["Bias_setpoint"], ax=ax, normalize=True, labels=labels
    )
    ax.set_ylabel("fringe power / first frame")
    for other in fig.axes:  # the bias axis stays behind the traces and legend
        if other is not ax:
            ax.set_zorder(other.get_zorder() + 1)
            ax.patch.set_visible(False)
    ax.set_title("Fringe power per grain, bias overlaid (dashed)", fontsize=10)
    note_warnings(fig, notes)
    return fig


def _tiles_figure(s, tiles, grains, px):
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from hyperspy_perovskite.report.figures import show_map

    n = tiles.axes_manager.navigation_axes[0].size
    idx = [0, n // 2, n - 1]
    t_axis = tiles.axes_manager.navigation_axes[0].axis
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.4), constrained_layout=True)
    show_map(axes[0], s.inav[0], "intensity", "counts", cmap="gray")
    for g in grains:
        left, right, top, bottom = (v / px for v in g["roi"])
        axes[0].add_patch(Rectangle((left, top), right - left, bottom - top,
                                    fill=False, color="C1", lw=1))  # fmt: skip
        axes[0].annotate(g["name"], (left, top), color="C1", fontsize=7,
                         va="bottom", xytext=(0, 1), textcoords="offset points")  # fmt: skip
    axes[0].set_title("frame at t = 0 s, grain regions", fontsize=9)
    vmax = float(np.nanmax(tiles.data[0]))
    for a, i in zip(axes[1:], idx, strict=True):
        im = show_map(a, tiles.inav[i], "6.36 Å fringe power", "counts²",
                      cmap="magma", robust=False)  # fmt: skip
        im.set_clim(0, vmax)
        a.set_title(f"64-px tiles, t = {t_axis[i]:.0f} s", fontsize=9)
    return fig


def _kinetics_figure(trace, res):
    import matplotlib.pyplot as plt

    t = trace.axes_manager[-1].axis
    fig, ax = plt.subplots(figsize=(6.5, 4), constrained_layout=True)
    ax.plot(t, trace.data, "o", ms=3, label="perovskite_B, 6.36 Å")
    from hyperspy_perovskite.analysis.kinetics import jmak

    p = [float(np.ravel(getattr(res, k))[0])
         for k in ("amplitude", "rate", "avrami_n", "onset", "residual")]  # fmt: skip
    ax.plot(t, jmak(t, *p), "-", label="JMAK fit")
    ax.axvline(res.bias_on, color="k", ls="--", label="bias on (stimulus record)")
    ax.axvline(float(res.onset), color="C3", ls=":",
               label=f"fitted onset {float(res.onset):.0f} ± {float(res.onset_std):.0f} s")  # fmt: skip
    ax.set_xlabel("time (s)")
    ax.set_ylabel("fringe power (counts²)")
    ax.legend(fontsize="small")
    return fig


def _drift_figure(shifts, truth, px):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 3.6), constrained_layout=True)
    st = shifts.axes_manager.signal_axes[0].axis
    for k, lab in enumerate(("y", "x")):
        ax.plot(st, shifts.data[k], color=f"C{k}", label=f"estimated {lab}")
        ax.plot(st, -truth["drift"][:, k] * px, ":", color=f"C{k}", lw=1,
                label=f"simulated {lab}")  # fmt: skip
    ax.set_xlabel("time (s)")
    ax.set_ylabel("drift correction (Å)")
    ax.legend(fontsize="small", ncol=2)
    return fig


def _dose(s):
    """Cumulative dose (beam on during the 0.04 s exposures) and its warnings."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dose = s.electron_dose(exposure=0.04)
    return dose, [str(w.message).replace("A^2", "Å²") for w in caught]


def _summary(s, truth, grains, traces, res, cmp_ab, drift_err, dose, shape):
    from hyperspy_perovskite.stimulus import bias_switch_on_time

    ratios = {
        g["name"]: float(tr.data[-5:].mean() / tr.data[:5].mean())
        for g, tr in zip(grains, traces, strict=True)
    }
    return {
        "n_frames": int(s.axes_manager.navigation_axes[0].size),
        "frame_shape": list(shape),
        "bias_on_s": float(bias_switch_on_time(s)),
        "bias_on_true_s": truth["bias_on"],
        "onset_s": float(res.onset),
        "onset_std_s": float(res.onset_std),
        "onset_true_s": truth["onset"],
        "onset_after_bias_s": float(res.onset_after_bias),
        "rate_per_s": float(res.rate),
        "rate_std_per_s": float(res.rate_std),
        "power_rate_true_per_s": truth["power_rate"],
        "avrami_n": float(res.avrami_n),
        "avrami_n_std": float(res.avrami_n_std),
        "avrami_n_true": truth["exponent"],
        "final_over_initial_power": ratios,
        "amorphized": {k: v < 0.2 for k, v in ratios.items()},
        "amorphized_true": {g["name"]: bool(g["amorphizes"]) for g in grains},
        "region_B_vs_A": {
            k: cmp_ab[k]
            for k in ("change_a", "change_b", "difference", "error", "significant")
        },
        "drift_rms_error_px": float(np.sqrt(np.mean(drift_err**2))),
        "cumulative_dose_e_per_A2": float(dose.data[-1]),
    }


def run(
    out_dir: Path, n_frames=61, shape=(256, 256), seed=0, figures=None
) -> list[Path]:
    """Run the in situ part; write figures and ``insitu_summary.json``.

    ``figures`` (a dict) receives the matplotlib figures by file stem, not
    closed. Returns the paths written: ``insitu_bias_log.csv``,
    ``insitu_fringe_traces.png``, ``insitu_crystallinity_tiles.png``,
    ``insitu_kinetics_fit.png``, ``insitu_drift.png`` and
    ``insitu_summary.json``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import hyperspy.api as hs

    from hyperspy_perovskite.data.insitu_simulation import simulate_insitu_hrtem
    from hyperspy_perovskite.report.figures import save_figure
    from hyperspy_perovskite.signals.kinetics import fit_kinetics

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    px = 1.5
    csv = out_dir / "insitu_bias_log.csv"
    s, truth = simulate_insitu_hrtem(
        n_frames=n_frames, frame_interval=300.0 / (n_frames - 1), shape=shape,
        pixel_size=px, csv_path=csv, seed=seed,
    )  # fmt: skip
    shifts = s.estimate_drift(sigma=1.5, show_progressbar=False)
    drift_err = shifts.data.T / px + truth["drift"]
    s = s.correct_drift(shifts, show_progressbar=False)
    grains = truth["grains"]
    traces = [
        s.fringe_intensity(g["d"], roi=g["roi"], show_progressbar=False) for g in grains
    ]
    tiles = s.fringe_intensity(6.36, tile_size=64, show_progressbar=False)
    res = fit_kinetics(traces[0], show_progressbar=False)
    stack = hs.stack(traces, show_progressbar=False)
    dose, notes = _dose(s)
    written = [csv]
    for fig, name in (
        (_traces_figure(stack, grains, notes), "insitu_fringe_traces"),
        (_tiles_figure(s, tiles, grains, px), "insitu_crystallinity_tiles"),
        (_kinetics_figure(traces[0], res), "insitu_kinetics_fit"),
        (_drift_figure(shifts, truth, px), "insitu_drift"),
    ):
        written.append(save_figure(fig, out_dir / f"{name}.png", figures))
    cmp_ab = s.compare_regions(grains[2]["roi"], grains[0]["roi"], 6.36)
    summary = _summary(s, truth, grains, traces, res, cmp_ab, drift_err, dose, shape)
    p5 = out_dir / "insitu_summary.json"
    p5.write_text(json.dumps(summary, indent=2))
    written.append(p5)
    return written
