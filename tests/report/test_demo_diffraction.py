"""The diffraction demo part writes its figures and a truthful summary."""

import json

from hyperspy_perovskite.report.demo import DEMO_PARTS
from hyperspy_perovskite.report.demo_diffraction import run


def test_demo_diffraction(tmp_path, fig_checks):
    assert any("demo_diffraction:run" in p[1] for p in DEMO_PARTS)
    figures = {}
    paths = run(tmp_path, n_frames=25, size=112, figures=figures)
    names = sorted(p.name for p in paths)
    assert names == [
        "diffraction_facets.png",
        "diffraction_kinetics_fit.png",
        "diffraction_pattern.png",
        "diffraction_summary.json",
    ]
    for p in paths:
        assert p.exists() and p.stat().st_size > 1000
    d = json.loads((tmp_path / "diffraction_summary.json").read_text())
    assert d["faded"] == d["truth_faded"] == ["001", "002"]
    k = d["kinetics"]["001"]
    truth = d["truth"]
    assert abs(k["onset_s"] - truth["onset_s"]) < 3 * k["onset_std"] + 3.0
    assert abs(k["rate_per_s"] - truth["rate_per_s"]) < 3 * k["rate_std"] + 0.001
    assert abs(k["onset_after_bias_s"] - (truth["onset_s"] - truth["bias_on_s"])) < (
        3 * k["onset_std"] + 3.0
    )
    assert abs(d["halo_fraction_final"] - d["halo_fraction_final_truth"]) < 0.05
    hkls = {tuple(r["hkl"]) for r in d["rings_indexed"] if r["phase"] == "alpha-FAPbI3"}
    assert {(0, 0, 1), (1, 1, 1), (0, 0, 2)} <= hkls
    top = {p["phase"] for p in d["phase_ranking"][:2]}
    assert "alpha-FAPbI3" in top  # (alpha-CsPbI3, a 1 % smaller cube, ties)
    # publication-quality figures: objects and PNGs
    assert all(fig_checks.png_dpi(p) >= 150 for p in paths if p.suffix == ".png")
    pattern = figures["diffraction_pattern"]
    assert [c.get_ylabel() for c in fig_checks.colorbars(pattern)] == [
        "√intensity (√counts)"
    ] * 2
    maps = [a for a in pattern.axes if a.get_label() != "<colorbar>"]
    assert all(fig_checks.labelled(a) and "1/Å" in a.get_xlabel() for a in maps)
    ring_labels = [t.get_text() for t in maps[0].texts]
    assert len(ring_labels) == 3 and all(t.endswith("Å") for t in ring_labels)
    for name in ("diffraction_pattern", "diffraction_kinetics_fit"):
        assert fig_checks.no_overlap(figures[name]) is None, name
    kin = figures["diffraction_kinetics_fit"].axes[0]
    assert fig_checks.labelled(kin) and kin.get_legend() is not None
