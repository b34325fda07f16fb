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
    cen = cl.centroid_map(signal_range=(660, 760))
    inside = truth["labels"] > 0
    valid = maps["valid"].data & inside

    # emission maps (Li et al., Nat. Commun. 14, 7612 (2023), Fig. 2c-f)
    fig, axes = plt.subplots(2, 3, figsize=(12, 7.5), constrained_layout=True)
    panels = [
        (haadf.data, "HAADF", "gray"),
        (integ.data, "CL integrated 700-720 nm", "inferno"),
        (np.where(valid, maps["centre"].data, np.nan), "centre (nm)", "viridis"),
        (np.where(valid, maps["sigma"].data, np.nan), "sigma (nm)", "magma"),
        (np.where(inside, cen.data, np.nan), "centroid, no fit (nm)", "viridis"),
        (maps["quality"].data, "fit quality flags (0 = good)", "tab10"),
    ]
    for ax, (img, title, cmap) in zip(axes.flat, panels, strict=True):
        im = ax.imshow(img, cmap=cmap)
        ax.set_title(title)
        ax.axis("off")
        fig.colorbar(im, ax=ax, shrink=0.8)
    p = out_dir / "cl_emission_maps.png"
    fig.savefig(p, dpi=90)
    plt.close(fig)
    written.append(p)

    # histograms and 2D histograms over valid particle pixels (Fig. S11)
    valid_sig = maps["valid"].deepcopy()
    valid_sig.data = valid
    fig = cl.plot_emission_statistics(maps, bins=25, valid=valid_sig)
    p = out_dir / "cl_statistics.png"
    fig.savefig(p, dpi=90)
    plt.close(fig)
    written.append(p)

    # edge versus core: is sigma larger at particle edges? (Fig. 2f)
    sigma_param = m["Emission"].sigma
    fig = cl.plot_edge_vs_core(
        sigma_param, haadf=haadf, valid=maps["valid"], parameter_label="sigma (nm)"
    )
    p = out_dir / "cl_edge_vs_core.png"
    fig.savefig(p, dpi=90)
    plt.close(fig)
    written.append(p)
    prof = cl.edge_profile(sigma_param, haadf=haadf, valid=maps["valid"])
    test = prof.metadata.Edge_profile.test.as_dictionary()

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
    mt = clt.fit_emission(
        tail=True, axis="energy", poisson=True, show_progressbar=False
    )
    mapst = clt.emission_maps(mt)
    vt = mapst["valid"].data & (trt["labels"] > 0)
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
    ax.set_title(
        f"Urbach energy {eu_px:.1f} meV (truth {trt['urbach_energy'] * 1e3:.0f} meV)"
    )
    ax.legend()
    p = out_dir / "cl_urbach_tail.png"
    fig.savefig(p, dpi=90)
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


def _jsonable(v):
    if isinstance(v, (np.generic,)):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v
