"""Demo part: facet-dependent amorphization in a simulated in situ SAED movie.

“Imaging real-time amorphization of hybrid perovskite solar cells under electrical biasing” (Fig. 2, S6): under 1 V forward bias the perovskite
(001) and (002) reflections fade while (111) and (022) stay, and an amorphous
ring grows at the (002) spacing. The demo simulates such a movie with its
bias record, indexes the rings against the phase library, measures the
intensity of each {hkl} family and the amorphous-halo fraction vs time, tells
which families fade, and fits JMAK kinetics to the fading ones with the onset
reported against the bias switch-on.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

FAMILIES = ["001", "011", "111", "002", "022"]


def _analyse(s):
    from hyperspy_perovskite.analysis.kinetics import significant_decrease
    from hyperspy_perovskite.crystallography import list_phases, score_phases
    from hyperspy_perovskite.signals.kinetics import fit_kinetics

    prof = s.azimuthal_profile(show_progressbar=False)
    # the phases of the amorphization-under-bias study: the perovskite and its
    # PbI2 decomposition product
    rings = s.index_rings(["alpha-FAPbI3", "PbI2"], profile=prof)
    best = {}
    for r in rings:
        best.setdefault(r.ring, r)
    # which library phase explains the rings beyond chance coincidences
    ranking = score_phases(
        [r.d_measured for r in best.values()], list_phases(), tolerance=0.02
    )
    inten = s.hkl_intensities(
        families=FAMILIES, profile=prof, poisson=True, show_progressbar=False
    )
    halo = s.amorphous_fraction(profile=prof, show_progressbar=False)
    t = inten.axes_manager.signal_axes[0].axis
    faded, rel, _ = significant_decrease(t, inten.data)
    # all families are fitted at once (fast_multifit); the fading ones reported
    res = fit_kinetics(inten, show_progressbar=False)
    return dict(best=best, ranking=ranking, inten=inten, halo=halo, t=t,
                faded=faded, rel=rel, res=res)  # fmt: skip


def _halo_truth(truth, halo):
    """Simulated amorphous fraction over the fitted radial range (as measured)."""
    from hyperspy_perovskite.data.saed_simulation import truth_in_range

    lo, hi = halo.metadata.Diffraction_analysis.radial_range
    rings, h = truth_in_range(truth, lo, hi)
    return h / (h + rings.sum(0))


def _pattern_figure(s, best, t):
    import matplotlib.pyplot as plt

    ax_k = s.axes_manager.signal_axes[0]
    ext = [ax_k.low_value, ax_k.high_value] * 2
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.6), constrained_layout=True)
    for ax, i in ((axes[0], 0), (axes[1], -1)):
        im = ax.imshow(np.sqrt(s.data[i]), extent=ext, cmap="inferno", origin="lower")
        ax.set_title(f"SAED, t = {t[i]:.0f} s", fontsize=10)
        ax.set_xlabel("$k_x$ (1/Å)")
        ax.set_ylabel("$k_y$ (1/Å)")
        fig.colorbar(im, ax=ax, shrink=0.85, label="√intensity (√counts)")
    shown = [r for r in best.values()
             if r.phase == "alpha-FAPbI3" and r.hkl in [(0, 0, 1), (1, 1, 1), (0, 0, 2)]]  # fmt: skip
    angles = (150, 95, 35)  # one direction per ring: labels never overlap
    for j, r in enumerate(sorted(shown, key=lambda r: r.d, reverse=True)):
        k, angle = 1 / r.d, np.deg2rad(angles[j % 3])
        axes[0].add_patch(plt.Circle((0, 0), k, fill=False, ls="--", color="c", lw=0.8))
        axes[0].annotate(
            f"({''.join(map(str, r.hkl))}) {r.d:.2f} Å",
            (k * np.cos(angle), k * np.sin(angle)), color="c", fontsize=7,
            ha="center", va="center",
            bbox=dict(boxstyle="round,pad=0.2", fc="black", alpha=0.7, lw=0),
        )  # fmt: skip
    axes[0].plot([], [], "c--", lw=0.8, label="α-FAPbI3 rings (indexed)")
    axes[0].legend(fontsize=7, loc="lower left")
    return fig


def _facets_figure(a, truth):
    import matplotlib.pyplot as plt

    from hyperspy_perovskite.stimulus.plot import plot_with_stimulus

    fig, (a1, a2) = plt.subplots(2, 1, figsize=(7.5, 7), sharex=True,
                                 constrained_layout=True)  # fmt: skip
    plot_with_stimulus(a["inten"], ax=a1, normalize=True,
                       labels=[f"({f})" for f in FAMILIES])  # fmt: skip
    a1.set_ylabel("intensity / first frame")
    for other in fig.axes:  # the bias axis stays behind the traces and legend
        if other not in (a1, a2):
            a1.set_zorder(other.get_zorder() + 1)
            a1.patch.set_visible(False)
    a1.set_xlabel("")
    a1.set_title(
        "{hkl} family intensities, bias dashed (right axis): (001) and (002) fade",
        fontsize=10,
    )
    a2.plot(a["t"], a["halo"].data, "o-", ms=3, label="measured")
    a2.plot(a["t"], _halo_truth(truth, a["halo"]), "k--", label="simulated")
    a2.set_xlabel("time (s)")
    a2.set_ylabel("amorphous-halo fraction")
    a2.legend(fontsize=8)
    return fig


def _kinetics_figure(a):
    import matplotlib.pyplot as plt

    from hyperspy_perovskite.analysis.kinetics import jmak

    res, t, inten = a["res"], a["t"], a["inten"]
    fig, ax = plt.subplots(figsize=(7, 4), constrained_layout=True)
    for i, fading in enumerate(a["faded"]):
        if not fading:
            continue
        p = [
            res.amplitude[i],
            res.rate[i],
            res.avrami_n[i],
            res.onset[i],
            res.residual[i],
        ]
        ax.plot(
            t, inten.data[i], "o", ms=3, color=f"C{i}", label=f"({FAMILIES[i]}) data"
        )
        ax.plot(t, jmak(t, *p), "-", color=f"C{i}", label=f"({FAMILIES[i]}) JMAK fit")
    if res.bias_on is not None:
        ax.axvline(res.bias_on, color="k", ls=":", label="bias on")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("ring intensity (counts)")
    ax.legend(fontsize=8)
    return fig


def _summary(a, truth):
    res, inten = a["res"], a["inten"]
    fading_idx = [i for i, f in enumerate(a["faded"]) if f]
    fams = {
        FAMILIES[j]: {
            "rate_per_s": float(res.rate[j]),
            "rate_std": float(res.rate_std[j]),
            "avrami_n": float(res.avrami_n[j]),
            "avrami_n_std": float(res.avrami_n_std[j]),
            "onset_s": float(res.onset[j]),
            "onset_std": float(res.onset_std[j]),
            "onset_after_bias_s": None
            if res.onset_after_bias is None
            else float(res.onset_after_bias[j]),
        }
        for j in fading_idx
    }
    return {
        "rings_indexed": [
            {"ring": r.ring, "d": round(r.d_measured, 3), "phase": r.phase,
             "hkl": list(r.hkl)}
            for r in a["best"].values()
        ],
        "phase_ranking": [
            {"phase": p.phase, "matched": p.matched, "score": round(p.score, 2),
             "strong_present": p.strong_present, "tied_with": list(p.tied_with)}
            for p in a["ranking"][:4]
        ],
        "families": FAMILIES,
        "faded": [FAMILIES[i] for i in fading_idx],
        "relative_drop": {f: float(x) for f, x in zip(FAMILIES, a["rel"], strict=True)},
        "truth_faded": [
            f for f, x in zip(truth["families"], truth["fading"], strict=True) if x
        ],
        "kinetics": fams,
        "truth": {
            "rate_per_s": truth["rate"],
            "avrami_n": truth["avrami_n"],
            "onset_s": truth["t0"],
            "bias_on_s": truth["bias_on"],
        },
        "bias_on_s": res.bias_on,
        "halo_fraction_final": float(a["halo"].data[-1]),
        "halo_fraction_final_truth": float(_halo_truth(truth, a["halo"])[-1]),
        "ring_width": float(inten.metadata.Diffraction_analysis.ring_width),
        "halo_width": float(inten.metadata.Diffraction_analysis.halo_width),
    }  # fmt: skip


def run(out_dir: Path, n_frames=41, size=128, seed=0, figures=None) -> list[Path]:
    """Run the diffraction part; write figures and ``diffraction_summary.json``.

    ``figures`` (a dict) receives the matplotlib figures by file stem, not
    closed. Returns the paths written: ``diffraction_pattern.png``,
    ``diffraction_facets.png`` ({hkl} intensities with the bias overlay and
    the halo fraction), ``diffraction_kinetics_fit.png`` and
    ``diffraction_summary.json``.
    """
    import matplotlib

    matplotlib.use("Agg")

    from hyperspy_perovskite.data.saed_simulation import simulate_saed_series
    from hyperspy_perovskite.report.figures import save_figure

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    s, truth = simulate_saed_series(
        n_frames=n_frames, frame_interval=300.0 / (n_frames - 1), size=size,
        scale=0.01, seed=seed,
    )  # fmt: skip
    a = _analyse(s)
    written = [
        save_figure(fig, out_dir / f"{name}.png", figures)
        for fig, name in (
            (_pattern_figure(s, a["best"], a["t"]), "diffraction_pattern"),
            (_facets_figure(a, truth), "diffraction_facets"),
            (_kinetics_figure(a), "diffraction_kinetics_fit"),
        )
    ]
    p4 = out_dir / "diffraction_summary.json"
    p4.write_text(json.dumps(_summary(a, truth), indent=2))
    written.append(p4)
    return written
