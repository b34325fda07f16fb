"""Demo part: EDX maps of a solar-cell cross-section before and after bias.

Simulated device (“Imaging real-time amorphization of hybrid perovskite solar cells under electrical biasing”: ITO / SnO2 / perovskite /
Spiro-OMeTAD / Au, 1 V forward bias for 300 s) with its ground truth:
iodide profiles pristine vs biased, the fitted accumulation at the
cathode-side interface (decay length, Einstein check), the accumulated
fraction, the X/Pb ratio map and the Pb-rich clusters.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np

__all__ = ["run"]


def _analyse(s, truth, ref):
    """All measurements; the I La / Sn overlap is said on the profile figure."""
    import warnings

    from hyperspy_perovskite.signals._eds_lines import LineOverlapWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LineOverlapWarning)
        return _measure(s, truth, ref)


def _measure(s, truth, ref):
    kf = truth["k_factors"]
    overlaps = s.check_line_overlaps(["I_La", "Pb_La"], warn=False)
    return {
        "prof": s.get_element_profiles(
            ["I_La", "Pb_La"], reference=ref, check_overlaps=False
        ),
        "ratio": s.get_halide_ratio_profile(kf, ["I_La", "Br_Ka"], reference=ref),
        "frac": s.get_accumulated_fraction(
            "I_La", ref, 40.0, side="right", layer="perovskite"
        ),
        "fit": s.fit_accumulation("I_La", ref, "perovskite", field=truth["field"]),
        "clusters": s.find_pb_clusters(kf, ["I_La", "Br_Ka"]),
        "rmap": s.get_halide_ratio_map(kf, ["I_La", "Br_Ka"]),
        "overlaps": {k: v for k, v in overlaps.items() if k != "free_lines" and v},
    }


def _true_fraction(truth, ref):
    comp = truth["composition"][..., truth["elements"].index("I")].mean(axis=1)
    x = (np.arange(comp.shape[1]) + 0.5) * truth["pixel_size"]
    x = x - truth["interfaces"][ref]
    thick = truth["interfaces"]["perovskite/Spiro-OMeTAD"] - truth["interfaces"][ref]
    inl = (x >= 0) & (x <= thick)
    return comp[:, inl & (x <= 40.0)].sum(1) / comp[:, inl].sum(1), thick


def _profiles_figure(r, truth, ref, thick):
    import matplotlib.pyplot as plt

    from hyperspy_perovskite.report.figures import note_warnings

    prof, ratio = r["prof"][0], r["ratio"]
    fig, axs = plt.subplots(1, 2, figsize=(10, 3.8))
    xs = prof.axes_manager.signal_axes[0].axis
    for k, label in enumerate(("pristine", "biased 300 s")):
        e = np.sqrt(prof.metadata.Signal.Noise_properties.variance.data[k])
        axs[0].errorbar(xs, prof.data[k], e, label=label, lw=1)
        sel = (xs > 0) & (xs < thick)  # the ratio is defined in the perovskite
        re_ = np.sqrt(ratio.metadata.Signal.Noise_properties.variance.data[k][sel])
        axs[1].errorbar(xs[sel], ratio.data[k][sel], re_, label=label, lw=1)
    x0 = truth["interfaces"][ref]
    for name, pos in truth["interfaces"].items():
        for ax in axs:
            ax.axvline(pos - x0, color="0.7", lw=0.8)
        axs[0].annotate(name, (pos - x0, 1.0), xycoords=("data", "axes fraction"),
                        rotation=90, va="top", ha="right", fontsize=6, color="0.4")  # fmt: skip
    sno2 = truth["interfaces"]["ITO/SnO2"] - x0
    axs[0].axvspan(sno2, 0, color="C3", alpha=0.12, label="I La on Sn lines")
    axs[0].set(xlabel=f"distance from {ref} (nm)", ylabel="I La intensity (counts)",
               title="Iodide across the stack")  # fmt: skip
    axs[1].set(xlabel=f"distance from {ref} (nm)", ylabel="X/Pb (atomic ratio)",
               ylim=(0, 8), title="Halide/Pb ratio in the perovskite (3 for ABX3)")  # fmt: skip
    axs[1].axhline(3.0, color="k", ls="--", lw=0.8, label="ABX3")
    axs[0].legend(fontsize=8, loc="center right")
    axs[1].legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    note_warnings(fig, [
        f"{line} overlaps {', '.join(o)}: the counts in SnO2 (shaded) are Sn, not I."
        for line, o in r["overlaps"].items()
    ])  # fmt: skip
    return fig


def _ratio_map_figure(r):
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    from hyperspy_perovskite.report.figures import show_map

    rmap, clusters = r["rmap"], r["clusters"]
    fig, axs = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
    for k, label in enumerate(("pristine", "biased 300 s")):
        im = show_map(axs[k], rmap.inav[k], "X/Pb", "atomic ratio", robust=False)
        im.set_clim(0, 6)
        axs[k].contour(clusters["labels"].data[k] > 0, levels=[0.5], colors="r",
                       linewidths=0.8)  # fmt: skip
        n = int(clusters["count"][k])
        axs[k].set_title(f"X/Pb, {label}: {n} Pb-rich clusters", fontsize=9)
    handles = [
        Line2D([], [], color="r", lw=0.8, label="Pb-rich cluster"),
        Line2D([], [], ls="", marker="s", color="0.85", label="outside the perovskite"),
    ]
    fig.legend(handles=handles, fontsize=8, loc="outside lower center", ncol=2)
    return fig


def _summary(r, truth, true_frac):
    fit, frac, clusters = r["fit"], r["frac"], r["clusters"]
    lam, ein = fit["decay_length"], fit["einstein_ratio"]
    return {
        "decay_length_nm": {
            "fit": float(lam.value[-1]),
            "std": float(lam.std[-1]),
            "truth": truth["decay_length"],
        },
        "D_over_mu_V": {
            "fit": float(fit["D_over_mu"].value[-1]),
            "std": float(fit["D_over_mu"].std[-1]),
            "truth": truth["diffusion_coefficient"] / truth["mobility"],
        },
        "einstein_ratio": {"fit": float(ein.value[-1]), "std": float(ein.std[-1])},
        "accumulated_fraction_40nm": {
            "measured": frac.data.tolist(),
            "std": np.sqrt(
                frac.metadata.Signal.Noise_properties.variance.data
            ).tolist(),
            "truth": true_frac.tolist(),
        },
        "pb_rich_clusters": {
            "found": [int(c) for c in clusters["count"]],
            "truth": [len(c) for c in truth["clusters"]],
        },
        "line_overlaps": r["overlaps"],
        "fit_convergence_flags": fit.result.convergence.data.tolist(),
    }


def run(out_dir: pathlib.Path, figures=None) -> list[pathlib.Path]:
    """Run the EDX-under-bias demo into ``out_dir``.

    Parameters
    ----------
    out_dir : pathlib.Path
    figures : dict, optional
        Receives the matplotlib figures (not closed), by file stem.

    Returns
    -------
    list of pathlib.Path
        ``eds_profiles.png``, ``eds_ratio_clusters.png`` and ``eds_summary.json``.
    """
    import matplotlib

    matplotlib.use("Agg")

    from hyperspy_perovskite.data.device_simulation import simulate_device_eds
    from hyperspy_perovskite.report.figures import save_figure

    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    s, truth = simulate_device_eds(times=[0.0, 300.0], seed=0)
    ref = "SnO2/perovskite"
    r = _analyse(s, truth, ref)
    true_frac, thick = _true_fraction(truth, ref)
    paths = [
        save_figure(_profiles_figure(r, truth, ref, thick),
                    out_dir / "eds_profiles.png", figures),
        save_figure(_ratio_map_figure(r), out_dir / "eds_ratio_clusters.png", figures),
    ]  # fmt: skip
    p3 = out_dir / "eds_summary.json"
    p3.write_text(json.dumps(_summary(r, truth, true_frac), indent=2))
    paths.append(p3)
    return paths
