"""Demo part: the batched fitting engine on a simulated CL map.

Three timings, reported separately: the first call in the process (mostly
loading or compiling the kernels), the steady-state fit of the whole map, and
HyperSpy's own ``m.multifit`` on a crop of the same map, with the agreement of
the two fits on that crop.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np


def _model(signal):
    import hyperspy.api as hs

    m = signal.create_model()
    g = hs.model.components1D.Gaussian()
    m.extend([g, hs.model.components1D.Offset()])
    return m, g


def _timings(s, crop):
    """First call, and ``m.multifit`` on ``crop`` pixels per side."""
    from hyperspy_perovskite.fitting import fast_multifit

    first, _ = _model(s.inav[:4, :4])
    t0 = time.perf_counter()
    fast_multifit(first, starting_values="estimate", show_progressbar=False)
    first_call = time.perf_counter() - t0
    print(
        f"    first call (kernel loading/compilation): {first_call:.1f} s", flush=True
    )

    sub = s.inav[:crop, :crop]
    mh, gh = _model(sub)
    gh.estimate_parameters(
        sub, *sub.axes_manager.signal_axes[0].axis[[0, -1]], only_current=False
    )
    t0 = time.perf_counter()
    mh.multifit(show_progressbar=False)
    multifit_s = time.perf_counter() - t0
    print(f"    m.multifit on a {crop}x{crop} crop: {multifit_s:.1f} s", flush=True)
    return first_call, multifit_s, gh.centre.map["values"].copy()


def _figure(s, g, result):
    import matplotlib.pyplot as plt

    from hyperspy_perovskite.report.figures import show_map

    converged = np.asarray(result.convergence.data) == 0  # 0 = converged
    fig, axes = plt.subplots(2, 2, figsize=(9, 7.8), layout="constrained")
    panels = [
        (g.centre.map["values"], "centre", "nm", "viridis"),
        (g.sigma.map["values"] * 2 * np.sqrt(2 * np.log(2)), "FWHM", "nm", "magma"),
        (g.A.map["values"], "area", "counts nm", "inferno"),
        (np.asarray(result.reduced_chisq.data), "reduced chi-squared", "", "cividis"),
    ]
    for ax, (img, label, unit, cmap) in zip(axes.flat, panels, strict=True):
        img = s._get_navigation_signal(data=np.asarray(img, dtype=float))
        show_map(ax, img, label, unit, cmap=cmap, valid=converged)
        ax.set_title(label)
    return fig


def run(out_dir: Path, shape=(96, 96), seed=0, crop=16) -> list[Path]:
    """Fit a simulated Gaussian emission map; write maps and a fit summary.

    Returns the paths written: ``fitting_parameter_maps.png`` and
    ``fitting_summary.json`` (first-call and steady-state times, throughput
    against ``m.multifit`` on a crop, convergence counts, accuracy against
    the simulation's ground truth).
    """
    import matplotlib.pyplot as plt

    from hyperspy_perovskite.data import simulated_emission_map
    from hyperspy_perovskite.fitting import fast_multifit

    s, truth = simulated_emission_map(shape=shape, n_channels=512, seed=seed)
    expected, _ = simulated_emission_map(
        shape=shape, n_channels=512, seed=seed, noise=False
    )
    s.metadata.set_item("Signal.Noise_properties.variance", expected)
    first_call, multifit_s, centre_hs = _timings(s, crop)
    m, g = _model(s)
    result = fast_multifit(m, starting_values="estimate", show_progressbar=False)
    rate = result.spectra_per_second
    multifit_rate = crop * crop / multifit_s
    print(
        f"    fast_multifit on {result.n_pixels} spectra: {result.elapsed:.2f} s "
        f"({rate:,.0f} spectra/s, {rate / multifit_rate:,.0f}x m.multifit)",
        flush=True,
    )
    fig = _figure(s, g, result)
    fig.suptitle(
        f"fast_multifit: {result.n_pixels} spectra, {rate:,.0f} spectra/s "
        f"({rate / multifit_rate:,.0f}x m.multifit); first call {first_call:.1f} s"
    )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fig_path = out_dir / "fitting_parameter_maps.png"
    fig.savefig(fig_path, dpi=150, bbox_inches="tight")
    plt.close(fig)

    z = np.abs(g.centre.map["values"] - truth["centre"]) / g.centre.map["std"]
    agree = np.abs(g.centre.map["values"][:crop, :crop] - centre_hs)
    summary = result.summary()
    summary.update(
        {
            "model": "Gaussian + Offset, 512 channels",
            "first_call_seconds": round(first_call, 2),
            "steady_state_seconds": round(float(result.elapsed), 3),
            "multifit_crop": f"{crop}x{crop}",
            "multifit_spectra_per_second": round(multifit_rate, 1),
            "speedup_vs_multifit": round(rate / multifit_rate, 1),
            "median_abs_centre_difference_to_multifit_nm": float(np.median(agree)),
            "median_abs_centre_error_nm": float(
                np.median(np.abs(g.centre.map["values"] - truth["centre"]))
            ),
            "fraction_centre_within_3_std": float(np.mean(z < 3)),
        }
    )
    json_path = out_dir / "fitting_summary.json"
    json_path.write_text(json.dumps(summary, indent=2))
    return [fig_path, json_path]
