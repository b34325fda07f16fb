"""The EDX-under-bias demo part."""

import json

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
