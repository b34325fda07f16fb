"""Interface positions, their std and the resolution flags of the automatic
device geometry, on a stack simulated here independently of the code under
test: fixed layer thicknesses (nm) rendered at several pixel sizes, each
interface broadened by a Gaussian (sigma 3 nm: probe, beam spreading and
roughness), sampled at the pixel centres with a random shift of the stack
against the pixel grid, X-ray lines from exSpy's database, Poisson noise."""

import warnings

import numpy as np
from scipy.special import ndtr

from hyperspy_perovskite.analysis.interface_fit import (
    fit_interface_steps,
    resolution_limit,
)
from hyperspy_perovskite.data.device_simulation import element_templates
from hyperspy_perovskite.signals._eds_geometry import GeometryWarning
from hyperspy_perovskite.signals.eds_biased import EDSTEMBiasedSpectrum

#: ITO / SnO2 / perovskite / Spiro-OMeTAD / Au (nm, atom fractions)
LAYERS = [
    (96.0, {"In": 0.36, "Sn": 0.04, "O": 0.60}),
    (40.0, {"Sn": 1.0, "O": 2.0}),
    (280.0, {"C": 1.0, "N": 1.85, "Pb": 1.0, "I": 2.55, "Br": 0.45}),
    (56.0, {"C": 81.0, "N": 4.0, "O": 8.0}),
    (40.0, {"Au": 1.0}),
]
LINES = ["In_La", "Sn_La", "Pb_La", "Au_La"]
SIGMA = 3.0  # nm, edge broadening


def _render(pixel, seed, ny=8, counts=1000.0):
    """An EDS map of the stack; returns it and the true interfaces (x, nm)."""
    rng = np.random.default_rng(seed)
    nx = int(round(512.0 / pixel))
    energy = (np.arange(1024) + 0.5) * 0.02  # keV
    els = sorted({e for _, c in LAYERS for e in c})
    s = EDSTEMBiasedSpectrum(np.zeros((ny, nx, energy.size), np.float32))
    for ax, name in zip(s.axes_manager.navigation_axes, "xy", strict=True):
        ax.name, ax.units, ax.scale, ax.offset = name, "nm", pixel, pixel / 2
    e_ax = s.axes_manager.signal_axes[0]
    e_ax.name, e_ax.units, e_ax.scale, e_ax.offset = "Energy", "keV", 0.02, 0.01
    s.set_microscope_parameters(beam_energy=200.0, energy_resolution_MnKa=130.0)
    s.add_elements(els)
    bounds = np.cumsum([0.0] + [t for t, _ in LAYERS]) + rng.uniform(-pixel, pixel)
    x = s.axes_manager[0].axis
    lo = np.r_[-np.inf, bounds[1:-1]]
    hi = np.r_[bounds[1:-1], np.inf]
    comp = np.zeros((nx, len(els)))
    for (_, c), a, b in zip(LAYERS, lo, hi, strict=True):
        occ = ndtr((x - a) / SIGMA) - ndtr((x - b) / SIGMA)
        for e, f in c.items():
            comp[:, els.index(e)] += occ * f / sum(c.values())
    spec = counts * comp @ element_templates(els, energy) + 0.3 * counts / energy.size
    s.data = rng.poisson(np.broadcast_to(spec, (ny, nx, energy.size))).astype(
        np.float32
    )
    return s, bounds[1:-1]


def _pulls(pixel, seeds):
    pulls, valid = [], []
    for seed in seeds:
        s, truth = _render(pixel, seed)
        with warnings.catch_warnings():
            warnings.simplefilter("error", GeometryWarning)
            g = s.find_device_geometry(4, xray_lines=LINES)
        found = np.asarray(g.interface_positions) + g.start[0]
        pulls.append((found - truth) / np.asarray(g.interface_std))
        valid.append(g.interface_valid)
    return np.concatenate(pulls), np.concatenate(valid)


def test_fine_maps_recover_interfaces_within_their_std():
    # 2 and 4 nm pixels: every interface valid, no warning, honest std
    p2, v2 = _pulls(2.0, range(2))
    p4, v4 = _pulls(4.0, range(3, 8))
    pulls = np.r_[p2, p4]
    assert np.all(v2) and np.all(v4)
    assert abs(pulls.mean()) < 0.5
    assert 0.6 < pulls.std() < 1.6
    assert np.mean(np.abs(pulls) < 2) >= 0.85
    assert np.mean(np.abs(pulls) < 1) >= 0.5


def test_coarse_maps_are_flagged_never_confident():
    # 16 nm pixels: the 40 nm SnO2 layer is 2.5 px; its interfaces merge.
    # Either the method refuses (too few steps) or it warns and reports
    # the merged/unresolved interfaces invalid with a low confidence.
    for seed in range(4):
        s, truth = _render(16.0, seed)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                g = s.find_device_geometry(4, xray_lines=LINES)
            except ValueError as err:
                assert "composition changes" in str(err)
                continue
        msgs = [str(w.message) for w in caught if w.category is GeometryWarning]
        assert any("Not valid" in m for m in msgs)
        assert g.confidence < 0.5
        assert not all(g.interface_valid)
        md = s.metadata.Device.Geometry
        assert len(md.interface_reasons) == 4 and md.resolution[0] >= 48.0


def test_step_fit_and_resolution_limit():
    rng = np.random.default_rng(1)
    y, x = np.mgrid[0:4, 0:80] + 0.5  # 1 nm pixels
    idx = np.broadcast_to(np.arange(80), (4, 80))
    errs = []
    for _ in range(30):
        x0 = rng.uniform(35, 45)
        img = rng.poisson(300 + 600 * ndtr((x - x0) / 2.0)).astype(float)
        prof = img.sum(axis=0)[None]
        r = fit_interface_steps(prof, prof, x, idx, x[0], 1.0, [40.0], 80.0)
        assert r["valid"].all()
        errs.append((r["position"][0] - x0) / r["std"][0])
        assert abs(r["width"][0] - 2.0) < 5 * r["width_std"][0]
    assert abs(np.mean(errs)) < 0.5 and 0.7 < np.std(errs) < 1.4
    # a thin layer (a bump, not a step) is flagged "not a single step"
    bump = 300 + 900 * (ndtr((x - 38) / 1.0) - ndtr((x - 42) / 1.0))
    prof = rng.poisson(bump).astype(float).sum(axis=0)[None]
    r = fit_interface_steps(prof, prof, x, idx, x[0], 1.0, [40.0], 80.0)
    assert not r["valid"][0] and r["reasons"][0] & 4
    # two interfaces closer than the resolution: both "layer unresolved"
    r = fit_interface_steps(prof, prof, x, idx, x[0], 1.0, [38.0, 42.0], 80.0)
    assert np.all(r["reasons"] & 2)
    assert resolution_limit(3.0, 3.0, 16.0) == 48.0
