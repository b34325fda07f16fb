"""The EDX-under-bias demo part."""

import json

import numpy as np

from hyperspy_perovskite.report.demo_eds import run


def test_demo_eds_writes_figures_and_truthful_summary(tmp_path):
    paths = run(tmp_path)
    assert [p.name for p in paths] == [
        "eds_profiles.png",
        "eds_ratio_clusters.png",
        "eds_summary.json",
    ]
    assert all(p.stat().st_size > 1000 for p in paths[:2])
    s = json.loads(paths[2].read_text())
    lam = s["decay_length_nm"]
    assert abs(lam["fit"] - lam["truth"]) < 3 * lam["std"]
    assert abs(s["einstein_ratio"]["fit"] - 1) < 3 * s["einstein_ratio"]["std"]
    f = s["accumulated_fraction_40nm"]
    for m, e, t in zip(f["measured"], f["std"], f["truth"], strict=False):
        assert abs(m - t) < 3 * e + 0.01 * t
    assert s["pb_rich_clusters"]["found"] == s["pb_rich_clusters"]["truth"]


def test_demo_eds_figures_are_publication_quality(tmp_path, fig_checks):
    figures = {}
    paths = run(tmp_path, figures=figures)
    for p in paths[:2]:
        assert fig_checks.png_dpi(p) >= 150
    prof = figures["eds_profiles"]
    axes = [a for a in prof.axes if a.get_label() != "<colorbar>"]
    assert all(fig_checks.labelled(a) for a in axes)
    assert all(a.get_legend() is not None for a in axes)
    # the Sn overlap of I La is said on the figure, not only in the console
    assert any("Sn" in t.get_text() and "Warning" in t.get_text() for t in prof.texts)
    assert fig_checks.no_overlap(prof) is None
    maps = figures["eds_ratio_clusters"]
    assert [c.get_ylabel() for c in fig_checks.colorbars(maps)] == [
        "X/Pb (atomic ratio)"
    ] * 2
    ax0, ax1 = (a for a in maps.axes if a.get_label() != "<colorbar>")
    assert fig_checks.scale_bar(ax0, "nm") and fig_checks.scale_bar(ax1, "nm")
    legend = [t.get_text() for t in maps.legends[0].get_texts()]
    assert "Pb-rich cluster" in legend
    # pixels outside the perovskite (NaN ratio) are masked, not coloured
    from hyperspy_perovskite.data.device_simulation import simulate_device_eds

    s, truth = simulate_device_eds(times=[0.0, 300.0], seed=0)
    rmap = s.get_halide_ratio_map(truth["k_factors"], ["I_La", "Br_Ka"])
    invalid = ~np.isfinite(rmap.data[1])
    assert invalid.any() and fig_checks.masked_where(ax1.images[0], invalid)
