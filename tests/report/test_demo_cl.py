"""The CL demo part writes its figures and a summary that matches the truth."""

import json

from hyperspy_perovskite.report import demo
from hyperspy_perovskite.report.demo_cl import run


def test_demo_cl(tmp_path):
    files = run(tmp_path, shape=(32, 32), n_channels=128, seed=2)
    names = {f.name for f in files}
    assert names == {
        "cl_emission_maps.png",
        "cl_statistics.png",
        "cl_edge_vs_core.png",
        "cl_urbach_tail.png",
        "cl_summary.json",
    }
    for f in files:
        assert f.exists() and f.stat().st_size > 1000
    s = json.loads((tmp_path / "cl_summary.json").read_text())
    assert s["n_valid_particle_pixels"] > 0.8 * s["n_particle_pixels"]
    # the maps are masked by the fit's own validity (no truth mask): glass
    # pixels hold no band and are valid at most at the 3-std false rate
    # (0.13 %, +3 binomial std); before the look-elsewhere threshold 2-5 %
    n_glass = s["n_glass_pixels"]
    assert (
        s["n_valid_glass_pixels"] <= 0.00135 * n_glass + 3 * (0.00135 * n_glass) ** 0.5
    )
    # centres recovered to a fraction of a nm (uncertainty-sized)
    assert s["median_abs_centre_error_nm"] < 2 * s["median_centre_std_nm"]
    # the simulated particles have larger sigma at their edges (Li et al., Nat. Commun. 14, 7612 (2023))
    assert s["edge_vs_core_sigma_test"]["significant"]
    assert s["edge_vs_core_sigma_test"]["difference"] > 0
    eu = s["urbach_energy_meV"]
    assert abs(eu["median"] - eu["truth"]) < 6


def test_demo_cl_registered():
    assert any(
        p[1] == "hyperspy_perovskite.report.demo_cl:run" for p in demo.DEMO_PARTS
    )
