"""Demo part: CL emission maps, their statistics and the edge-vs-core figure.

A simulated STEM-CL map of CsPbI3 nanocrystals in a glass (Li et al., Nat. Commun. 14, 7612 (2023), Fig. 2c-f, S10-S11) is fitted with one Gaussian band per
pixel; the demo writes the emission maps, the histograms and 2D histograms,
the edge-versus-core figure and a Gaussian + Urbach tail fit on an energy
scale (Fig. 2g, S12), with a JSON summary compared against the ground truth.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def run(out_dir: Path, shape=(48, 48), n_channels=256, seed=0) -> list[Path]:
    """Run the CL demo into ``out_dir``; return the files written.

    Files: ``cl_emission_maps.png``, ``cl_statistics.png``,
    ``cl_edge_vs_core.png``, ``cl_urbach_tail.png`` and ``cl_summary.json``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hyperspy_perovskite.data.cl_simulation import simulate_cl_map

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []

    haadf, cl, truth = simulate_cl_map(
        shape=shape, n_channels=n_channels, peak_counts=120.0, seed=seed
    )
    m = cl.fit_emission(poisson=True, show_progressbar=False)
    maps = cl.emission_maps(m)
    integ = cl.integrated_intensity_map((700, 720))
    cen = cl.centroid(signal_range=(660, 760))
    inside = truth["labels"] > 0
    valid = maps["valid"].data & inside

    # emission maps (Li et al., Nat. Commun. 14, 7612 (2023), Fig. 2c-f)
    p = out_dir / "cl_emission_maps.png"
    _maps_figure(haadf, integ, maps, cen, valid, inside).savefig(
        p, dpi=150, bbox_inches="tight"
    )
    plt.close("all")
    written.append(p)

    # histograms and 2D histograms over valid particle pixels (Fig. S11)
    valid_sig = maps["valid"].deepcopy()
    valid_sig.data = valid
    fig = cl.plot_emission_statistics(maps, bins=25, valid=valid_sig)
    p = out_dir / "cl_statistics.png"
    fig.savefig(p, dpi=150, bbox_inches="tight")
    plt.close(fig)
    written.append(p)

    # edge versus core: is sigma larger at particle edges? (Fig. 2f)
    sigma_param = m["Emission"].sigma
    fig = cl.plot_edge_vs_core(
        sigma_param, haadf=haadf, valid=maps["valid"], parameter_label="sigma (nm)"
    )
    p = out_dir / "cl_edge_vs_core.png"
    fig.savefig(p, dpi=150, bbox_inches="tight")
    plt.close(fig)
    written.append(p)
    prof = cl.edge_profile(sigma_param, haadf=haadf, valid=maps["valid"])
    test = prof.metadata.Processing.Edge_profile.test.as_dictionary()

    # Gaussian + Urbach tail on an energy scale (Fig. 2g, S12)
    _, clt, trt = simulate_cl_map(
        shape=(12, 12),
        n_channels=n_channels,
        n_particles=2,
        radius_range=(40.0, 50.0),
        tail=True,
        tail_fraction=0.3,
        peak_counts=400.0,
        seed=seed + 1,
    )
    # the simulated tail steps at the band centre: the matching "step" model
    mt = clt.fit_emission(
        tail="step", axis="energy", poisson=True, show_progressbar=False
    )
    mapst = clt.emission_maps(mt)
    vt = mapst["urbach_valid"].data & (trt["labels"] > 0)
    iy, ix = np.argwhere(vt)[0] if vt.any() else (0, 0)
    E = mt.signal.axes_manager.signal_axes[0].axis
    mt.axes_manager.indices = (ix, iy)
    fig, ax = plt.subplots(figsize=(6, 4.2), constrained_layout=True)
    ax.semilogy(E, np.clip(mt.signal.data[iy, ix], 1e-3, None), ".", ms=3, label="data")
    for c in mt:
        c.fetch_stored_values()
    fit = sum(c.function(E) for c in mt if c.active)
    ax.semilogy(E, np.clip(fit, 1e-3, None), "-", label="Gaussian + Urbach tail")
    ax.set_ylim(bottom=0.1)
    ax.set_xlabel("photon energy (eV)")
    ax.set_ylabel("intensity (counts / meV)")
    eu_px = mapst["urbach_energy"].data[iy, ix]
    eu_med = float(np.median(mapst["urbach_energy"].data[vt])) if vt.any() else np.nan
    ax.set_title(
        f"pixel (x, y) = ({ix}, {iy}): Eu = {eu_px:.1f} meV; median over "
        f"{int(vt.sum())} valid pixels {eu_med:.1f} meV "
        f"(truth {trt['urbach_energy'] * 1e3:.0f} meV)",
        fontsize=9,
    )
    ax.legend()
    p = out_dir / "cl_urbach_tail.png"
    fig.savefig(p, dpi=150, bbox_inches="tight")
    plt.close(fig)
    written.append(p)

    dc = (maps["centre"].data - truth["centre"])[valid]
    summary = {
        "shape": list(shape) + [n_channels],
        "fit": m.fast_fit_result.summary(),
        "n_valid_particle_pixels": int(valid.sum()),
        "n_particle_pixels": int(inside.sum()),
        "median_abs_centre_error_nm": float(np.median(np.abs(dc))),
        "median_centre_std_nm": float(np.median(maps["centre_std"].data[valid])),
        "centre_spread_nm": [
            float(np.min(maps["centre"].data[valid])),
            float(np.max(maps["centre"].data[valid])),
        ],
        "edge_vs_core_sigma_test": {k: _jsonable(v) for k, v in test.items()},
        "urbach_energy_meV": {
            "median": float(np.median(mapst["urbach_energy"].data[vt]))
            if vt.any()
            else None,
            "truth": float(trt["urbach_energy"] * 1e3),
            "n_valid": int(vt.sum()),
        },
    }
    p = out_dir / "cl_summary.json"
    p.write_text(json.dumps(summary, indent=2))
    written.append(p)
    return written


def _flag_panel(ax, quality):
    """Rejected pixels coloured by their first reason, with a legend."""
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    from hyperspy_perovskite.analysis.cl_emission import QUALITY_FLAGS

    q = np.asarray(quality, dtype=int)
    bits = list(QUALITY_FLAGS)
    code = np.zeros(q.shape, dtype=int)  # 0 = valid
    for i, bit in reversed(list(enumerate(bits, start=1))):
        code[(q & bit) != 0] = i
    colours = [
        "#f0f0f0",
        "#d62728",
        "#9467bd",
        "#ff7f0e",
        "#8c564b",
        "#e377c2",
        "#7f7f7f",
    ]
    ax.imshow(
        code,
        cmap=ListedColormap(colours[: len(bits) + 1]),
        vmin=-0.5,
        vmax=len(bits) + 0.5,
        interpolation="nearest",
    )
    ax.set_xticks([])
    ax.set_yticks([])
    present = sorted(set(np.unique(code)))
    handles = [
        Patch(color=colours[i], label="valid" if i == 0 else QUALITY_FLAGS[bits[i - 1]])
        for i in present
    ]
    ax.legend(
        handles=handles,
        fontsize=7,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.02),
        frameon=False,
    )


def _maps_figure(haadf, integ, maps, cen, valid, inside):
    import matplotlib.pyplot as plt

    from hyperspy_perovskite.report.figures import show_map

    fig, axes = plt.subplots(2, 3, figsize=(13, 8.5), layout="constrained")
    panels = [
        (haadf, "HAADF", "HAADF intensity", "", "gray", None),
        (
            integ,
            "CL integrated 700-720 nm",
            "CL intensity",
            "counts nm",
            "inferno",
            None,
        ),
        (maps["centre"], "emission centre", "centre", "nm", "viridis", valid),
        (maps["sigma"], "emission width", "sigma", "nm", "magma", valid),
        (cen, "centroid (no fit)", "centroid", "nm", "viridis", inside),
    ]
    for ax, (sig, title, label, unit, cmap, mask) in zip(
        axes.flat, panels, strict=False
    ):
        show_map(ax, sig, label, unit, cmap=cmap, valid=mask)
        ax.set_title(title)
    _flag_panel(axes.flat[5], maps["quality"].data)
    axes.flat[5].set_title("fit quality: why pixels were rejected")
    return fig


def _jsonable(v):
    if isinstance(v, (np.generic,)):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v
