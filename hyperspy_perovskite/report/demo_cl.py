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
    inside = truth["labels"] > 0  # the truth: only to score the fit below
    valid = maps["valid"].data  # from the fit alone: glass holds no band

    # emission maps (Li et al., Nat. Commun. 14, 7612 (2023), Fig. 2c-f)
    p = out_dir / "cl_emission_maps.png"
    _maps_figure(haadf, integ, maps, cen, valid).savefig(
        p, dpi=150, bbox_inches="tight"
    )
    plt.close("all")
    written.append(p)

    # histograms and 2D histograms over the valid pixels (Fig. S11)
    fig = cl.plot_emission_statistics(maps, bins=25)
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
    p, urbach = _urbach_part(out_dir, n_channels, seed)
    written.append(p)

    dc = (maps["centre"].data - truth["centre"])[valid & inside]
    summary = {
        "shape": list(shape) + [n_channels],
        "fit": m.fast_fit_result.summary(),
        "n_valid_particle_pixels": int((valid & inside).sum()),
        "n_particle_pixels": int(inside.sum()),
        "n_valid_glass_pixels": int((valid & ~inside).sum()),
        "n_glass_pixels": int((~inside).sum()),
        "median_abs_centre_error_nm": float(np.median(np.abs(dc))),
        "median_centre_std_nm": float(
            np.median(maps["centre_std"].data[valid & inside])
        ),
        "centre_spread_nm": [
            float(np.min(maps["centre"].data[valid & inside])),
            float(np.max(maps["centre"].data[valid & inside])),
        ],
        "edge_vs_core_sigma_test": {k: _jsonable(v) for k, v in test.items()},
        "urbach_energy_meV": urbach,
    }
    p = out_dir / "cl_summary.json"
    p.write_text(json.dumps(summary, indent=2))
    written.append(p)
    return written


def _urbach_part(out_dir, n_channels, seed):
    """Gaussian + Urbach tail on a photon-energy scale (Li et al. 2023, Fig.
    2g, S12): one valid pixel's spectrum and fit on a log scale; returns the
    figure's path and the Urbach energies over the valid tails."""
    import matplotlib.pyplot as plt

    from hyperspy_perovskite.data.cl_simulation import simulate_cl_map

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
    vt = mapst["urbach_valid"].data  # the fit's own validity, no truth mask
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
    eu = mapst["urbach_energy"].data
    eu_med = float(np.median(eu[vt])) if vt.any() else None
    ax.set_title(
        f"pixel (x, y) = ({ix}, {iy}): Eu = {eu[iy, ix]:.1f} meV; median over "
        f"{int(vt.sum())} valid tails {eu_med or np.nan:.1f} meV "
        f"(truth {trt['urbach_energy'] * 1e3:.0f} meV)",
        fontsize=9,
    )
    ax.legend()
    p = out_dir / "cl_urbach_tail.png"
    fig.savefig(p, dpi=150, bbox_inches="tight")
    plt.close(fig)
    return p, {
        "median": eu_med,
        "truth": float(trt["urbach_energy"] * 1e3),
        "n_valid": int(vt.sum()),
        "n_valid_glass": int((vt & (trt["labels"] == 0)).sum()),
    }


def _flag_panel(ax, validity, signal):
    """Rejected pixels coloured by their first reason (the fit's own
    :class:`~hyperspy_perovskite.validity.Validity` names), with a legend."""
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    from hyperspy_perovskite.report.figures import add_scale_bar

    q = np.asarray(validity.reasons, dtype=np.int64)
    names = validity.reason_names
    code = np.zeros(q.shape, dtype=int)  # 0 = valid, i = first reason bit i-1
    for i in reversed(range(len(names))):
        code[(q & (1 << i)) != 0] = i + 1
    import matplotlib

    tab = matplotlib.colormaps["tab20"].colors  # 20 distinct colours
    colours = ["#f0f0f0"] + [
        tab[(2 * i) % 20 + (i // 10) % 2] for i in range(len(names))
    ]
    ax.imshow(
        code,
        cmap=ListedColormap(colours),
        vmin=-0.5,
        vmax=len(names) + 0.5,
        interpolation="nearest",
    )
    ax.set_xticks([])
    ax.set_yticks([])
    am = signal.axes_manager
    ax_x = (am.signal_axes or am.navigation_axes)[0]
    add_scale_bar(ax, ax_x.scale, ax_x.units, code.shape[1])
    handles = [
        Patch(
            color=colours[i],
            label=(
                f"valid ({np.sum(code == 0)} px)"
                if i == 0
                else f"{names[i - 1]} ({np.sum(code == i)} px)"
            ),
        )
        for i in sorted(set(np.unique(code)))
    ]
    ax.legend(
        handles=handles,
        fontsize=7,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.02),
        frameon=False,
    )


def _maps_figure(haadf, integ, maps, cen, valid):
    import matplotlib.pyplot as plt

    from hyperspy_perovskite.report.figures import show_map
    from hyperspy_perovskite.validity import Validity

    fig, axes = plt.subplots(2, 3, figsize=(13, 8.5), layout="constrained")
    panels = [
        (haadf, "HAADF", "HAADF intensity", "counts", "gray", None),
        (
            integ,
            "CL integrated 700-720 nm",
            "CL intensity",
            "counts nm",
            "inferno",
            None,
        ),
        (
            maps["centre"],
            "emission centre (grey: no valid band)",
            "centre",
            "nm",
            "viridis",
            valid,
        ),
        (
            maps["sigma"],
            "emission width (grey: no valid band)",
            "sigma",
            "nm",
            "magma",
            valid,
        ),
        (
            cen,
            "centroid, no fit (where a band is valid)",
            "centroid",
            "nm",
            "viridis",
            valid,
        ),
    ]
    for ax, (sig, title, label, unit, cmap, mask) in zip(
        axes.flat, panels, strict=False
    ):
        show_map(ax, sig, label, unit, cmap=cmap, valid=mask)
        ax.set_title(title, fontsize=10)
    _flag_panel(
        axes.flat[5], Validity.from_metadata(maps["valid"].metadata), maps["valid"]
    )
    axes.flat[5].set_title("why pixels were rejected (first reason)", fontsize=10)
    return fig


def _jsonable(v):
    if isinstance(v, (np.generic,)):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v
