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


def run(out_dir: pathlib.Path) -> list[pathlib.Path]:
    """Run the EDX-under-bias demo into ``out_dir``.

    Returns
    -------
    list of pathlib.Path
        Two PNG figures and ``eds_summary.json``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hyperspy_perovskite.data.device_simulation import simulate_device_eds

    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    s, truth = simulate_device_eds(times=[0.0, 300.0], seed=0)
    ref = "SnO2/perovskite"
    kf = truth["k_factors"]
    prof = s.get_element_profiles(
        ["I_La", "Pb_La"], reference=ref, check_overlaps=False
    )
    ratio = s.get_halide_ratio_profile(kf, ["I_La", "Br_Ka"], reference=ref)
    frac = s.get_accumulated_fraction(
        "I_La", ref, 40.0, side="right", layer="perovskite"
    )
    fit = s.fit_accumulation("I_La", ref, "perovskite", field=truth["field"])
    clusters = s.find_pb_clusters(kf, ["I_La", "Br_Ka"])
    rmap = s.get_halide_ratio_map(kf, ["I_La", "Br_Ka"])

    # truth of the accumulated fraction
    comp = truth["composition"][..., truth["elements"].index("I")].mean(axis=1)
    x = (np.arange(comp.shape[1]) + 0.5) * truth["pixel_size"] - truth["interfaces"][
        ref
    ]
    thick = truth["interfaces"]["perovskite/Spiro-OMeTAD"] - truth["interfaces"][ref]
    inl = (x >= 0) & (x <= thick)
    true_frac = comp[:, inl & (x <= 40.0)].sum(1) / comp[:, inl].sum(1)

    paths = []
    fig, axs = plt.subplots(1, 2, figsize=(10, 3.6))
    xs = prof[0].axes_manager.signal_axes[0].axis
    for k, label in enumerate(("pristine", "biased 300 s")):
        p = prof[0].data[k]
        e = np.sqrt(prof[0].metadata.Signal.Noise_properties.variance.data[k])
        axs[0].errorbar(xs, p, e, label=label, lw=1)
        sel = (xs > 0) & (xs < thick)  # the ratio is defined in the perovskite
        r = ratio.data[k][sel]
        re_ = np.sqrt(ratio.metadata.Signal.Noise_properties.variance.data[k][sel])
        axs[1].errorbar(xs[sel], r, re_, label=label, lw=1)
    for pos in truth["interfaces"].values():
        for ax in axs:
            ax.axvline(pos - truth["interfaces"][ref], color="0.7", lw=0.8)
    axs[0].set(
        xlabel=f"Distance from {ref} (nm)",
        ylabel="I La counts",
        title="Iodide across the stack",
    )
    axs[1].set(
        xlabel=f"Distance from {ref} (nm)",
        ylabel="X/Pb (atomic)",
        ylim=(0, 8),
        title="Halide/Pb ratio (3 for ABX3)",
    )
    axs[1].axhline(3.0, color="k", ls="--", lw=0.8)
    axs[0].legend()
    fig.tight_layout()
    p1 = out_dir / "eds_profiles.png"
    fig.savefig(p1, dpi=150, bbox_inches="tight")
    plt.close(fig)
    paths.append(p1)

    fig, axs = plt.subplots(1, 2, figsize=(10, 3.6))
    for k, label in enumerate(("pristine", "biased 300 s")):
        im = axs[k].imshow(rmap.data[k], vmin=0, vmax=6, cmap="viridis")
        lab = clusters["labels"].data[k]
        axs[k].contour(lab > 0, levels=[0.5], colors="r", linewidths=0.8)
        axs[k].set_title(f"X/Pb {label}: {int(clusters['count'][k])} Pb-rich clusters")
    fig.colorbar(im, ax=axs, shrink=0.8)
    p2 = out_dir / "eds_ratio_clusters.png"
    fig.savefig(p2, dpi=150, bbox_inches="tight")
    plt.close(fig)
    paths.append(p2)

    lam, ein = fit["decay_length"], fit["einstein_ratio"]
    summary = {
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
        "fit_convergence_flags": fit.result.convergence.data.tolist(),
    }
    p3 = out_dir / "eds_summary.json"
    p3.write_text(json.dumps(summary, indent=2))
    paths.append(p3)
    return paths
