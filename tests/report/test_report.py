"""``hspy-perovskite report``: the example on the bundled real files, errors,
sections that fail, a section added by registration, and a movie section
checked against the simulator's truth."""

import base64
import hashlib
import io
import json
import re

import hyperspy.api as hs
import numpy as np
import pytest
from scipy.optimize import curve_fit

from hyperspy_perovskite import cli
from hyperspy_perovskite.report import build_report, write_example
from hyperspy_perovskite.report.example import bundled_file
from hyperspy_perovskite.report.experiment import ExperimentError, load_experiment
from hyperspy_perovskite.report.sections import _REGISTERED, Section, register_section


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    root = tmp_path_factory.mktemp("example")
    toml = write_example(root)
    stream = io.StringIO()
    result = build_report(toml, stream=stream)
    html = result["html"].read_text(encoding="utf-8")
    data = json.loads(result["json"].read_text(encoding="utf-8"))
    return {"toml": toml, "result": result, "html": html, "json": data, "log": stream}


def _numbers(data, section):
    out = {}
    for item in data["sections"][section]["items"]:
        if item["kind"] == "numbers":
            out.update({n["name"]: n for n in item["numbers"]})
    return out


def test_example_report_has_every_section_and_no_failure(example):
    assert example["result"]["failed"] == []
    html = example["html"]
    for key in ("cl", "insitu", "eds", "provenance"):
        assert f"id='{key}'" in html
    assert "This section failed" not in html
    # progress was printed for every step
    log = example["log"].getvalue()
    assert "[cl] fit the emission band in 120 pixels" in log
    assert "[eds] element profiles across the stack" in log


def test_example_figures_are_embedded_at_150_dpi(example):
    from PIL import Image

    pngs = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", example["html"])
    assert len(pngs) >= 6  # CL maps, statistics, spectrum; stimulus; EDX maps, profiles
    for b in pngs:
        im = Image.open(io.BytesIO(base64.b64decode(b)))
        assert im.info["dpi"][0] == pytest.approx(150, abs=0.5)
    assert "src='http" not in example["html"]  # self-contained


def test_cl_numbers_match_an_independent_fit(example):
    """The report's median centre and FWHM against scipy's curve_fit of a
    Gaussian + offset on every pixel of the same file and range."""
    nums = _numbers(example["json"], "cl")
    assert nums["valid pixels: emission fit"]["unit"] == "%"
    centre = nums["emission centre, median"]
    assert centre["unit"] == "nm" and centre["std"] > 0
    s = hs.load(bundled_file("cl/test_spectral_map.sur"))
    ax = s.axes_manager.signal_axes[0]
    x = ax.axis * 1e6  # mm -> nm
    sel = (x >= 340) & (x <= 420)

    def g(x, a, c, sig, b):
        return a * np.exp(-0.5 * ((x - c) / sig) ** 2) + b

    cs, fw = [], []
    for y in s.data.reshape(-1, x.size):
        p, _ = curve_fit(g, x[sel], y[sel], p0=(y[sel].max(), 360, 5, y[sel].min()))
        cs.append(p[1])
        fw.append(2.3548 * abs(p[2]))
    assert centre["value"] == pytest.approx(np.median(cs), abs=0.05)
    fwhm = nums["FWHM, median"]
    assert fwhm["value"] == pytest.approx(np.median(fw), rel=0.01)


def test_warnings_are_shown_in_place(example):
    eds = example["json"]["sections"]["eds"]["items"]
    kinds = [i["kind"] for i in eds]
    w = [i for i in eds if i["kind"] == "warning"]
    assert any("O_Ka" in i["text"] and "Ti" in i["text"] for i in w)
    # the overlap warning comes before the maps it concerns
    assert kinds.index("warning") < kinds.index("figure")
    assert "overlapping lines" in w[0]["caption"]


def test_provenance_hashes_versions_and_parameters(example):
    prov = example["json"]["provenance"]
    files = {f["path"]: f for f in prov["inputs"]}
    for name in (
        "cl/test_spectral_map.sur",
        "eds/test_TEM.bcf",
        "protochips/protochips_electrical.csv",
    ):
        path = bundled_file(name)
        assert (
            files[str(path)]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        )
    for pkg in ("hyperspy", "hyperspy-perovskite", "exspy", "lumispy", "numpy"):
        assert pkg in prov["versions"]
    params = example["json"]["sections"]["cl"]["parameters"]
    assert params["signal_range"] == [340.0, 420.0] and params["n_peaks"] == 1
    assert "min_significance" in params  # defaults listed too


def test_results_load_back_with_their_model(example):
    paths = {p.name: p for p in example["result"]["results"]}
    assert "cl_emission_model.zspy" in paths
    s = hs.load(paths["cl_emission_model.zspy"])
    m = s.models.restore("emission_model")
    assert "Emission" in [c.name for c in m]
    centre = hs.load(paths["cl_centre_map.zspy"])
    assert centre.data.shape == (12, 10)
    prof = hs.load(paths["eds_profile_Ti_Ka.zspy"])
    assert prof.axes_manager.signal_axes[0].units == "nm"


def test_experiment_errors_name_what_to_fix(tmp_path):
    f = tmp_path / "e.toml"
    f.write_text('[cl]\nmap = "nofile.dm4"\n')
    with pytest.raises(
        ExperimentError, match="no such file .*relative to the experiment"
    ):
        load_experiment(f)
    f.write_text('[cl]\nmapp = "x"\n')
    with pytest.raises(ExperimentError, match=r"no option \['mapp'\].*'map'"):
        load_experiment(f)
    f.write_text('[cll]\nmap = "x"\n')
    with pytest.raises(ExperimentError, match="unknown entry.*'cl'"):
        load_experiment(f)
    f.write_text("[cl]\n")
    with pytest.raises(ExperimentError, match=r"needs \['map'\]"):
        load_experiment(f)
    f.write_text('title = "x"\n')
    with pytest.raises(ExperimentError, match="names no analysis"):
        load_experiment(f)
    f.write_text("[cl\n")
    with pytest.raises(ExperimentError, match="not valid TOML"):
        load_experiment(f)
    assert cli.main(["report", str(f)]) == 2


def test_registered_section_and_failure_reported(tmp_path):
    def ok(ctx, options):
        with ctx.step("count"):
            ctx.text(f"n = {options['n']}")

    def broken(ctx, options):
        raise RuntimeError("the instrument file is truncated")

    register_section(Section("counting", "Counting", ok, defaults={"n": 3}))
    register_section(Section("broken", "Broken", broken, defaults={}))
    try:
        f = tmp_path / "e.toml"
        f.write_text("[counting]\nn = 5\n[broken]\n")
        result = build_report(f, stream=io.StringIO())
        html = result["html"].read_text()
        assert result["failed"] == ["broken"]
        assert "n = 5" in html
        assert "This section failed" in html and "truncated" in html
        assert cli.main(["report", str(f), "--out", str(tmp_path / "o")]) == 1
    finally:
        _REGISTERED.pop("counting", None)
        _REGISTERED.pop("broken", None)


def test_movie_section_against_simulated_truth(tmp_path):
    """Fringe power from the report: the perovskite grain in the biased region
    amorphizes, PbI2 persists (simulator with known JMAK kinetics)."""
    from hyperspy_perovskite.data.insitu_simulation import (
        _default_grains,
        simulate_insitu_hrtem,
    )

    # the biased perovskite grain (amorphizes) and PbI2 (persists), no control
    grains = _default_grains((256, 256))[:2]
    assert [g["amorphizes"] for g in grains] == [True, False]
    log = tmp_path / "log.csv"
    s, truth = simulate_insitu_hrtem(
        n_frames=10,
        shape=(256, 256),
        dose_rate=2000.0,
        frame_interval=12.0,
        bias_on=10.0,
        onset_delay=5.0,
        rate=1 / 40.0,
        csv_path=log,
        grains=grains,
        seed=2,
    )
    s.save(tmp_path / "movie.hspy")
    f = tmp_path / "e.toml"
    f.write_text(
        '[insitu]\nstimulus = "log.csv"\nmovie = "movie.hspy"\n'
        f"time_offset = {truth['time_offset']}\n"
    )
    result = build_report(f, stream=io.StringIO())
    assert result["failed"] == []
    nums = _numbers(json.loads(result["json"].read_text()), "insitu")
    perov = nums["fringe power, last / first frame, d = 6.36 Å"]["value"]
    pbi2 = nums["fringe power, last / first frame, d = 6.96 Å"]["value"]
    frac = truth["crystalline_fraction"]
    assert frac[0, -1] < 0.2 and frac[1, -1] == 1.0
    assert perov < 0.2  # the perovskite fringes fade
    assert 0.7 < pbi2 < 1.3  # PbI2 persists


def test_jv_section_against_the_diode_it_was_made_from(tmp_path):
    """Jsc and Voc of an ideal-diode sweep written as a text export."""
    v = np.round(np.linspace(1.2, -0.1, 131), 4)
    jsc, j0, nvt = 22.0, 1e-9, 0.05  # mA/cm², mA/cm², V
    j = jsc - j0 * (np.exp(v / nvt) - 1)  # photocurrent positive
    i = -j * 0.07 * 1e-3  # A over 0.07 cm², instrument sign
    rows = "\n".join(
        f"{a},{b}" for a, b in zip(np.r_[v, v[::-1]], np.r_[i, i[::-1]], strict=True)
    )
    (tmp_path / "cell.csv").write_text(
        "Area: 0.07 cm2\nVoltage (V),Current (A)\n" + rows
    )
    (tmp_path / "e.toml").write_text('[jv]\nfile = "cell.csv"\n')
    result = build_report(tmp_path / "e.toml", stream=io.StringIO())
    assert result["failed"] == []
    data = json.loads(result["json"].read_text())
    (table,) = [
        it["table"]
        for it in data["sections"]["jv"]["items"]
        if it["kind"] == "table" and "Figures of merit" in it["caption"]
    ]
    cols = table["columns"]
    names = {k.lower(): k for k in cols}
    jcol = next(k for lk, k in names.items() if lk.startswith("jsc"))
    vcol = next(k for lk, k in names.items() if lk.startswith("voc"))
    voc = nvt * np.log(jsc / j0 + 1)
    np.testing.assert_allclose(np.asarray(cols[jcol], float), jsc, rtol=0.01)
    np.testing.assert_allclose(np.asarray(cols[vcol], float), voc, atol=0.01)
