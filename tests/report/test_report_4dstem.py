"""Report section ``[4dstem]`` on a small simulated operando series.

The series comes from the independent simulator
(:func:`~hyperspy_perovskite.data.operando_4dstem_simulation.simulate_operando_4dstem`),
saved to a file as a user's own data would be; the report's numbers are checked
against the simulator's settings and its figures on the matplotlib objects.
"""

import base64
import io
import json
import re

import hyperspy.api as hs
import numpy as np
import pytest

from hyperspy_perovskite.data.operando_4dstem_simulation import simulate_operando_4dstem
from hyperspy_perovskite.report import build_report


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("r4d")
    s, truth = simulate_operando_4dstem(
        n_time=3, scan_shape=(6, 24), pattern_size=48, dt=30.0, bias_on=45.0, seed=3
    )
    s.save(root / "series.hspy")
    (root / "e.toml").write_text('[4dstem]\nfile = "series.hspy"\nphases = ["Pb"]\n')
    result = build_report(root / "e.toml", stream=io.StringIO())
    return {
        "result": result,
        "html": result["html"].read_text(encoding="utf-8"),
        "json": json.loads(result["json"].read_text(encoding="utf-8")),
        "truth": truth,
    }


def test_section_numbers_tables_and_figures(report):
    assert report["result"]["failed"] == []
    html = report["html"]
    assert "id='4dstem'" in html
    items = report["json"]["sections"]["4dstem"]["items"]
    numbers = {
        n["name"]: n for it in items if it["kind"] == "numbers" for n in it["numbers"]
    }
    assert numbers["scans"]["value"] == 3
    assert numbers["scan interval"]["value"] == pytest.approx(30.0)
    assert numbers["bias switched on"]["value"] == pytest.approx(45.0, abs=1.0)
    assert 0 < numbers["valid pixels: strain maps (all scans)"]["value"] <= 100
    captions = [it.get("caption", "") for it in items if it["kind"] == "table"]
    for c in ("Strain at each interface", "Phase fractions", "Phase onsets"):
        assert any(c in x for x in captions), captions
    figures = [it for it in items if it["kind"] == "figure"]
    assert len(figures) == 3
    section = html[html.index("id='4dstem'") :]
    pngs = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", section)
    from PIL import Image

    im = Image.open(io.BytesIO(base64.b64decode(pngs[0])))
    assert im.info["dpi"][0] >= 150
    saved = [p for p in report["result"]["results"] if "4dstem" in p.name]
    from hyperspy_perovskite.signals._operando_result import OperandoAnalysis

    tables = OperandoAnalysis.tables_from_signal(hs.load(saved[0]))
    assert set(tables) == {"interface_strain", "phase_fractions", "onsets", "timeline"}


def test_maps_figure_is_publication_quality():
    from hyperspy_perovskite.report import section_4dstem as sec

    s, _ = simulate_operando_4dstem(
        n_time=2, scan_shape=(6, 24), pattern_size=48, seed=4
    )
    res = s.analyse(phases=("Pb",), show_progressbar=False)
    fig = sec._maps_figure(
        res, s.get_virtual_image_series(show_progressbar=False), "exx"
    )
    cbars = [a for a in fig.axes if a.get_label() == "<colorbar>"]
    labels = [c.get_ylabel() for c in cbars]
    assert labels.count("ADF intensity (counts)") == 2
    assert labels.count("strain exx (%)") == 2
    maps = [a for a in fig.axes if a.get_label() != "<colorbar>"]
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    for ax in maps:  # a scale bar in nm on every map
        bars = [a for a in ax.artists if isinstance(a, AnchoredSizeBar)]
        assert bars and bars[0].txt_label.get_text().endswith(" nm")
    strain = maps[3].images[0].get_array()
    invalid = ~res.validity.mask[-1]
    assert (
        np.ma.getmaskarray(strain)[invalid].all()
        or np.isnan(np.asarray(strain.filled(np.nan))[invalid]).all()
    )
