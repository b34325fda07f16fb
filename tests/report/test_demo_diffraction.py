"""The diffraction demo part writes its figures and a truthful summary."""

import json

from hyperspy_perovskite.report.demo import DEMO_PARTS
from hyperspy_perovskite.report.demo_diffraction import run


def test_demo_diffraction(tmp_path):
    assert any("demo_diffraction:run" in p[1] for p in DEMO_PARTS)
    paths = run(tmp_path, n_frames=25, size=112)
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
