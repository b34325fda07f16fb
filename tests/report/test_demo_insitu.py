"""The in situ demo part runs and its summary recovers the simulation's truth."""

import json

from hyperspy_perovskite.report.demo import DEMO_PARTS
from hyperspy_perovskite.report.demo_insitu import run


def test_demo_insitu(tmp_path, fig_checks):
    assert any("demo_insitu:run" in target for _, target in DEMO_PARTS)
    figures = {}
    paths = run(tmp_path, n_frames=31, shape=(192, 192), figures=figures)
    names = {p.name for p in paths}
    assert {
        "insitu_fringe_traces.png",
        "insitu_crystallinity_tiles.png",
        "insitu_kinetics_fit.png",
        "insitu_drift.png",
        "insitu_summary.json",
    } <= names
    for p in paths:
        assert p.exists() and p.stat().st_size > 0
    s = json.loads((tmp_path / "insitu_summary.json").read_text())
    assert s["bias_on_s"] == s["bias_on_true_s"]
    # a real fit: uncertainties small enough to mean something
    assert s["onset_std_s"] < 20 and s["avrami_n_std"] < 1.0
    assert s["rate_std_per_s"] < 0.5 * s["rate_per_s"]
    assert abs(s["onset_s"] - s["onset_true_s"]) < 3 * s["onset_std_s"]
    assert abs(s["avrami_n"] - s["avrami_n_true"]) < 3 * s["avrami_n_std"]
    assert abs(s["rate_per_s"] - s["power_rate_true_per_s"]) < 3 * s["rate_std_per_s"]
    assert s["amorphized"] == s["amorphized_true"]
    assert s["region_B_vs_A"]["significant"]
    assert s["drift_rms_error_px"] < 0.3
    # 200 e/A^2/s during 0.04 s exposures, 31 frames
    assert abs(s["cumulative_dose_e_per_A2"] - 200 * 0.04 * 31) < 1e-6
    # publication-quality figures: objects and PNGs
    for p in paths:
        if p.suffix == ".png":
            assert fig_checks.png_dpi(p) >= 150
    tiles = figures["insitu_crystallinity_tiles"]
    labels = [c.get_ylabel() for c in fig_checks.colorbars(tiles)]
    assert labels == ["intensity (counts)"] + ["6.36 Å fringe power (counts²)"] * 3
    maps = [a for a in tiles.axes if a.get_label() != "<colorbar>"]
    assert all(fig_checks.scale_bar(a, "Å") for a in maps)
    for name in ("insitu_kinetics_fit", "insitu_drift"):
        (ax,) = figures[name].axes
        assert fig_checks.labelled(ax) and ax.get_legend() is not None
        assert fig_checks.no_overlap(figures[name]) is None
    assert "Å" in figures["insitu_drift"].axes[0].get_ylabel()
    traces = figures["insitu_fringe_traces"]
    assert any("Å" in t.get_text() for t in traces.axes[0].get_legend().get_texts())
    # the dose warning concerns this movie: it is on the figure
    assert any("dose rate exceeds" in t.get_text() for t in traces.texts)
