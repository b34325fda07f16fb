"""Lazy == eager for EVERY public method of the registered signal classes.

The public methods are enumerated by introspection from the registry
(``hspy_extension.yaml``): every method or property defined by a
hyperspy_perovskite class in the MRO of a registered signal class. Each must
have an entry in :data:`CASES` (a small input from the suite's simulators and
a call, run on the eager signal and on its lazy twin, results compared) or in
:data:`EXEMPT` (with the reason and, for plots, a check that the figure is
drawn from a lazy signal whose data are never computed). A new public method
without an entry fails :func:`test_every_public_method_has_an_entry`.

The options audit (:func:`test_options_signature` and
:func:`test_options_are_honoured`): every method that returns a signal accepts
``lazy_output``, ``show_progressbar`` and ``num_workers`` as HyperSpy's
``BaseSignal.map`` does, or :data:`OPTIONS_NOT_APPLICABLE` says why not; and
``lazy_output`` is honoured both ways (eager input -> lazy output, lazy input
-> eager output). Methods with ``inplace`` return None and change the signal
as the copy would be changed; no method changes its input otherwise.
"""

import dataclasses
import functools
import importlib
import inspect
import re
import warnings
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import yaml
from hyperspy.model import BaseModel
from hyperspy.signal import BaseSignal

from hyperspy_perovskite.results import ResultTable

ROOT = Path(__file__).resolve().parents[1]
OPTIONS = ("lazy_output", "show_progressbar", "num_workers")

#: the cached inputs and the compiled kernels of every method are shared with
#: test_units_methods.py: one xdist worker runs them (pyproject: --dist loadgroup)
pytestmark = pytest.mark.xdist_group("lazy_eager")


# ----------------------------------------------------------------- registry
def _registered_classes():
    reg = yaml.safe_load((ROOT / "hspy_extension.yaml").read_text(encoding="utf-8"))
    out = []
    for name, spec in reg["signals"].items():
        out.append(getattr(importlib.import_module(spec["module"]), name))
    return out


def public_methods():
    """``{"Class.name": (registered class, name)}`` over the registry.

    Every public method or property that a hyperspy_perovskite class in the
    MRO defines, keyed by the first registered class (registry order) that
    has it, so that moving a method between mixins changes nothing; a class
    that overrides it with its own function gets its own key.
    """
    found, seen = {}, set()
    for cls in _registered_classes():
        for name in dir(cls):
            if name.startswith("_"):
                continue
            for c in cls.__mro__:
                if name in c.__dict__:
                    obj = c.__dict__[name]
                    if c.__module__.startswith("hyperspy_perovskite") and (
                        (name, id(obj)) not in seen
                    ):
                        seen.add((name, id(obj)))
                        found.setdefault(f"{cls.__name__}.{name}", (cls, name))
                    break
    return found


# ------------------------------------------------------------- small inputs
def _quiet(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn(*args, **kwargs)

    return wrapper


@functools.cache
@_quiet
def _emission():
    from hyperspy_perovskite.data import simulated_emission_map

    s, truth = simulated_emission_map(shape=(3, 4), n_channels=256, seed=0)
    s.set_signal_type("CL_STEM_perovskite")
    return s, truth


@functools.cache
@_quiet
def _cl_map():
    from hyperspy_perovskite.data.cl_simulation import simulate_cl_map

    return simulate_cl_map(shape=(24, 24), n_channels=32, halide_x=0.5, seed=1)


@functools.cache
@_quiet
def _movie():
    from hyperspy_perovskite.data.insitu_simulation import simulate_insitu_hrtem

    return simulate_insitu_hrtem(n_frames=6, frame_interval=20.0, shape=(96, 96))


@functools.cache
@_quiet
def _device():
    from hyperspy_perovskite.data.device_simulation import simulate_device_eds

    return simulate_device_eds(
        shape=(8, 32), pixel_size=16.0, times=[0, 1, 3, 300], n_channels=1024, seed=6
    )


@functools.cache
@_quiet
def _frames():
    from hyperspy_perovskite.data.frame_simulation import simulate_eds_frames

    return simulate_eds_frames(n_frames=5, shape=(24, 24), onset=3, seed=0)


@functools.cache
@_quiet
def _saed(spots=False):
    from hyperspy_perovskite.data.saed_simulation import simulate_saed_series

    kw = {"spot_zone": "100", "spot_fraction": 1.0} if spots else {}
    return simulate_saed_series(n_frames=6, size=64, scale=0.02, **kw)


@functools.cache
@_quiet
def _jv():
    from hyperspy_perovskite.data.jv_simulation import simulate_table_s1

    return simulate_table_s1(seed=0, rows=[("open-circuit aging", "initial")])


@functools.cache
@_quiet
def _4d():
    from hyperspy_perovskite.data.operando_4dstem_simulation import (
        simulate_operando_4dstem,
    )

    return simulate_operando_4dstem(n_time=3, scan_shape=(6, 20), pattern_size=32)


@functools.cache
@_quiet
def _saed_profile(lazy):
    """The azimuthal profile of the SAED series (lazy from the lazy twin):
    the decompositions below start from it (azimuthal_profile has its case)."""
    return _twin(_saed()[0], lazy).azimuthal_profile(show_progressbar=False)


def _twin(s, lazy):
    """A fresh copy of ``s`` (eager), or its lazy twin."""
    s = s.deepcopy()
    return s.as_lazy() if lazy else s


# ------------------------------------------------------------------- cases
@dataclasses.dataclass
class Case:
    """``make(lazy)`` -> signal; ``call(signal, **options)`` -> result."""

    make: object
    call: object


def _cl(lazy):
    return _twin(_emission()[0], lazy)


def _clmap(lazy):
    return _twin(_cl_map()[1], lazy)


def _mm(lazy):
    s = _cl(lazy)
    ax = s.axes_manager.signal_axes[0]
    ax.units, ax.offset, ax.scale = "mm", ax.offset * 1e-6, ax.scale * 1e-6
    return s


def _maps(s):
    return s.emission_maps(s.fit_emission(show_progressbar=False))


def _eds(lazy):
    return _twin(_device()[0], lazy)


def _kf():
    return _device()[1]["k_factors"]


def _fr(lazy):
    return _twin(_frames()[0], lazy)


def _fkf():
    return _frames()[1]["k_factors"]


HAL = ["I_La", "Br_Ka"]
FRAME_LINES = ["Cs_La", "Pb_La", "I_La"]
LOG = {"time": [0, 40, 80, 120], "Bias": ([0, 1, 1, 1], "V")}


def _line(s):
    """Start and end (axis units) of a horizontal line through the map."""
    x, y = s.axes_manager.navigation_axes[:2]
    mid = y.axis[y.size // 2]
    return (x.axis[0], mid), (x.axis[-1], mid)


def _as_current(s):
    s.data = s.data * 0.07e-3  # mA/cm^2 on 0.07 cm^2 -> A
    s.metadata.Signal.quantity = "Current (A)"
    return s


def _haadf():
    return _cl_map()[0]


def _grain_rois():
    g = _movie()[1]["grains"]
    return g[0]["roi"], g[1]["roi"]


CASES = {
    # --- CL / PL
    "CLSTEMPerovskiteSpectrum.centroid": Case(_cl, lambda s, **o: s.centroid(**o)),
    "CLSTEMPerovskiteSpectrum.create_model": Case(_cl, lambda s: s.create_model()),
    "CLSTEMPerovskiteSpectrum.emission_histogram2d": Case(
        _cl, lambda s: s.emission_histogram2d(_maps(s), bins=4)
    ),
    "CLSTEMPerovskiteSpectrum.emission_histograms": Case(
        _cl, lambda s: s.emission_histograms(_maps(s), bins=4)
    ),
    "CLSTEMPerovskiteSpectrum.emission_maps": Case(_cl, _maps),
    "CLSTEMPerovskiteSpectrum.fit_emission": Case(
        _cl, lambda s, **o: s.fit_emission(**o)
    ),
    "CLSTEMPerovskiteSpectrum.integrated_intensity_map": Case(
        _cl, lambda s, **o: s.integrated_intensity_map((690, 730), **o)
    ),
    "CLSTEMPerovskiteSpectrum.normalize_spectral_axis": Case(
        _mm, lambda s, **o: s.normalize_spectral_axis(**o)
    ),
    "CLSTEMPerovskiteSpectrum.to_eV": Case(_mm, lambda s, **o: s.to_eV(**o)),
    "CLSTEMPerovskiteSpectrum.urbach_energy_map": Case(
        _cl,
        lambda s: s.urbach_energy_map(
            s.fit_emission(tail=True, axis="energy", show_progressbar=False)
        ),
    ),
    "CLSTEMPerovskiteSpectrum.edge_distance": Case(
        _clmap, lambda s, **o: s.edge_distance(haadf=_haadf(), **o)
    ),
    "CLSTEMPerovskiteSpectrum.edge_profile": Case(
        _clmap,
        lambda s, **o: s.edge_profile(_cl_map()[2]["sigma"], haadf=_haadf(), **o),
    ),
    "CLSTEMPerovskiteSpectrum.halide_fraction": Case(
        _clmap,
        lambda s, **o: s.halide_fraction(_cl_map()[2]["centre"], units="nm", **o),
    ),
    "CLSTEMPerovskiteSpectrum.particle_labels": Case(
        _clmap, lambda s, **o: s.particle_labels(haadf=_haadf(), **o)
    ),
    "CLSTEMPerovskiteSpectrum.particle_table": Case(
        _clmap,
        lambda s, **o: s.particle_table(
            haadf=_haadf(), intensity=_cl_map()[2]["area"], **o
        ),
    ),
    "CLSTEMPerovskiteSpectrum.segregation_map": Case(
        _clmap,
        lambda s, **o: s.segregation_map(
            centre=_cl_map()[2]["centre"], reference=710.0, min_shift=1.0, **o
        ),
    ),
    # --- in situ image series
    "InSituImageSeries.attach_stimulus": Case(
        lambda lazy: _twin(_movie()[0], lazy),
        lambda s, **o: s.attach_stimulus(LOG, replace=True, **o),
    ),
    "InSituImageSeries.average_frames": Case(
        lambda lazy: _twin(_movie()[0], lazy), lambda s, **o: s.average_frames(2, **o)
    ),
    "InSituImageSeries.compare_regions": Case(
        lambda lazy: _twin(_movie()[0], lazy),
        lambda s: s.compare_regions(*_grain_rois(), 6.36),
    ),
    "InSituImageSeries.correct_drift": Case(
        lambda lazy: _twin(_movie()[0], lazy), lambda s, **o: s.correct_drift(**o)
    ),
    "InSituImageSeries.estimate_drift": Case(
        lambda lazy: _twin(_movie()[0], lazy), lambda s, **o: s.estimate_drift(**o)
    ),
    "InSituImageSeries.fringe_intensity": Case(
        lambda lazy: _twin(_movie()[0], lazy),
        lambda s, **o: (
            s.fringe_intensity(6.36, tile_size=32, **o),
            s.fringe_intensity(6.36, tile_size=32, direction="auto", **o),
        ),
    ),
    "InSituImageSeries.stimulus": Case(
        lambda lazy: _twin(_movie()[0], lazy), lambda s: s.stimulus
    ),
    "InSituImageSeries.electron_dose": Case(
        lambda lazy: _twin(_movie()[0], lazy),
        lambda s: s.electron_dose(dose_rate=50.0, critical_dose=500.0),
    ),
    "InSituImageSeries.electron_dose_map": Case(
        lambda lazy: _twin(_movie()[0], lazy),
        lambda s, **o: s.electron_dose_map(dose_rate=50.0, **o),
    ),
    # --- EDX under bias
    "EDSTEMBiasedSpectrum.align_frames": Case(_fr, lambda s, **o: s.align_frames(**o)),
    "EDSTEMBiasedSpectrum.get_composition_vs_frame": Case(
        _fr, lambda s, **o: s.get_composition_vs_frame(_fkf(), FRAME_LINES, **o)
    ),
    "EDSTEMBiasedSpectrum.get_frame_times": Case(_fr, lambda s: s.get_frame_times()),
    "EDSTEMBiasedSpectrum.get_frames_before_damage": Case(
        _fr, lambda s, **o: s.get_frames_before_damage(_fkf(), FRAME_LINES, **o)
    ),
    "EDSTEMBiasedSpectrum.bias_condition": Case(_eds, lambda s: s.bias_condition),
    "EDSTEMBiasedSpectrum.get_take_off_angle": Case(
        _eds, lambda s: s.get_take_off_angle()
    ),
    "EDSTEMBiasedSpectrum.check_line_overlaps": Case(
        _eds, lambda s: s.check_line_overlaps(HAL, warn=False)
    ),
    "EDSTEMBiasedSpectrum.find_device_geometry": Case(
        _eds,
        lambda s: s.find_device_geometry(
            4, xray_lines=["In_La", "Sn_La", "Pb_La", "Au_La"]
        ),
    ),
    "EDSTEMBiasedSpectrum.get_device_geometry": Case(
        _eds, lambda s: s.get_device_geometry()
    ),
    "EDSTEMBiasedSpectrum.set_device_geometry": Case(
        _eds,
        lambda s: (
            s.set_device_geometry(*_line(s), interfaces=[100.0, "0.2 um"]),
            s.get_device_geometry(),
        ),
    ),
    "EDSTEMBiasedSpectrum.get_stack_linescan": Case(
        _eds, lambda s, **o: s.get_stack_linescan(**o)
    ),
    "EDSTEMBiasedSpectrum.find_pb_clusters": Case(
        _eds, lambda s, **o: s.find_pb_clusters(_kf(), HAL, **o)
    ),
    "EDSTEMBiasedSpectrum.get_halide_ratio_map": Case(
        _eds, lambda s, **o: s.get_halide_ratio_map(_kf(), HAL, **o)
    ),
    "EDSTEMBiasedSpectrum.get_halide_ratio_profile": Case(
        _eds, lambda s, **o: s.get_halide_ratio_profile(_kf(), HAL, **o)
    ),
    "EDSTEMBiasedSpectrum.get_nonstoichiometry_mask": Case(
        _eds, lambda s, **o: s.get_nonstoichiometry_mask(_kf(), HAL, **o)
    ),
    "EDSTEMBiasedSpectrum.get_element_profiles": Case(
        _eds, lambda s, **o: s.get_element_profiles(HAL, check_overlaps=False, **o)
    ),
    "EDSTEMBiasedSpectrum.get_composition_profiles": Case(
        _eds,
        lambda s, **o: s.get_composition_profiles(
            _kf(), ["Pb_La", *HAL], check_overlaps=False, **o
        ),
    ),
    "EDSTEMBiasedSpectrum.fit_accumulation": Case(
        _eds,
        lambda s, **o: s.fit_accumulation("I_La", "SnO2/perovskite", "perovskite", **o),
    ),
    "EDSTEMBiasedSpectrum.fit_migration_transient": Case(
        _eds,
        lambda s, **o: s.fit_migration_transient(
            "I_La", "SnO2/perovskite", "perovskite", **o
        ),
    ),
    "EDSTEMBiasedSpectrum.get_accumulated_fraction": Case(
        _eds,
        lambda s, **o: s.get_accumulated_fraction(
            "I_La", "SnO2/perovskite", 40.0, layer="perovskite", **o
        ),
    ),
    "EDSTEMBiasedSpectrum.get_centroid_shift": Case(
        _eds, lambda s, **o: s.get_centroid_shift("I_La", layer="perovskite", **o)
    ),
    "EDSTEMBiasedSpectrum.get_contact_uptake": Case(
        _eds, lambda s, **o: s.get_contact_uptake("I_La", "SnO2/perovskite", **o)
    ),
    "EDSTEMBiasedSpectrum.get_difference_profile": Case(
        _eds, lambda s, **o: s.get_difference_profile("Pb_La", **o)
    ),
    "EDSTEMBiasedSpectrum.get_kymograph": Case(
        _eds, lambda s, **o: s.get_kymograph("I_La", **o)
    ),
    # --- SAED series
    "InSituSAEDSeries.amorphous_fraction": Case(
        lambda lazy: _twin(_saed()[0], lazy),
        lambda s, **o: s.amorphous_fraction(profile=_saed_profile(s._lazy), **o),
    ),
    "InSituSAEDSeries.attach_stimulus": Case(
        lambda lazy: _twin(_saed()[0], lazy),
        lambda s, **o: s.attach_stimulus(LOG, replace=True, **o),
    ),
    "InSituSAEDSeries.azimuthal_profile": Case(
        lambda lazy: _twin(_saed()[0], lazy), lambda s, **o: s.azimuthal_profile(**o)
    ),
    "InSituSAEDSeries.calibrate": Case(
        lambda lazy: _twin(_saed()[0], lazy),
        lambda s, **o: s.calibrate(scale=0.021, **o),
    ),
    "InSituSAEDSeries.check_direct_beam": Case(
        lambda lazy: _twin(_saed()[0], lazy), lambda s: s.check_direct_beam()
    ),
    "InSituSAEDSeries.hkl_intensities": Case(
        lambda lazy: _twin(_saed()[0], lazy),
        lambda s, **o: s.hkl_intensities(
            families=["001", "111"], profile=_saed_profile(s._lazy), **o
        ),
    ),
    "InSituSAEDSeries.index_rings": Case(
        lambda lazy: _twin(_saed()[0], lazy),
        lambda s: s.index_rings(
            ["alpha-FAPbI3", "PbI2"], profile=_saed_profile(s._lazy)
        ),
    ),
    "InSituSAEDSeries.index_spots": Case(
        lambda lazy: _twin(_saed(True)[0], lazy),
        lambda s: s.index_spots("alpha-FAPbI3"),
    ),
    "InSituSAEDSeries.direct_beam_positions": Case(
        lambda lazy: _twin(_saed()[0], lazy), lambda s: s.direct_beam_positions()
    ),
    "InSituSAEDSeries.electron_dose": Case(
        lambda lazy: _twin(_saed()[0], lazy),
        lambda s: s.electron_dose(dose_rate=2.0, critical_dose=50.0),
    ),
    "InSituSAEDSeries.halo_position": Case(
        lambda lazy: _twin(_saed()[0], lazy),
        lambda s, **o: s.halo_position(profile=_saed_profile(s._lazy), **o),
    ),
    "InSituSAEDSeries.identify_phases": Case(
        lambda lazy: _twin(_saed()[0], lazy),
        lambda s, **o: s.identify_phases(
            ["alpha-FAPbI3", "PbI2"], profile=_saed_profile(s._lazy), **o
        ),
    ),
    "InSituSAEDSeries.lattice_parameters": Case(
        lambda lazy: _twin(_saed()[0], lazy),
        lambda s, **o: s.lattice_parameters(profile=_saed_profile(s._lazy), **o),
    ),
    "InSituSAEDSeries.ring_positions": Case(
        lambda lazy: _twin(_saed()[0], lazy),
        lambda s, **o: s.ring_positions(profile=_saed_profile(s._lazy), **o),
    ),
    "InSituSAEDSeries.stimulus": Case(
        lambda lazy: _twin(_saed()[0], lazy), lambda s: s.stimulus
    ),
    # --- J-V
    "JVCurve.create_model": Case(
        lambda lazy: _twin(_jv(), lazy), lambda s: s.create_model()
    ),
    "JVCurve.device_parameters": Case(
        lambda lazy: _twin(_jv(), lazy), lambda s: s.device_parameters()
    ),
    "JVCurve.figures_of_merit": Case(
        lambda lazy: _twin(_jv(), lazy),
        lambda s, **o: s.figures_of_merit(sigma=0.02, **o),
    ),
    "JVCurve.fit_single_diode": Case(
        lambda lazy: _twin(_jv(), lazy),
        lambda s, **o: s.fit_single_diode(**o),
    ),
    "JVCurve.hysteresis_index": Case(
        lambda lazy: _twin(_jv(), lazy), lambda s: s.hysteresis_index()
    ),
    "JVCurve.set_device": Case(
        lambda lazy: _twin(_jv(), lazy),
        lambda s: (s.set_device(area="7 mm^2", irradiance=100), s.metadata.Device)[1],
    ),
    "JVCurve.to_current_density": Case(
        lambda lazy: _as_current(_twin(_jv(), lazy)),
        lambda s, **o: s.to_current_density("0.07 cm^2", **o),
    ),
    # --- operando 4D-STEM
    "Operando4DSTEM.analyse": Case(
        lambda lazy: _twin(_4d()[0], lazy), lambda s, **o: s.analyse(**o)
    ),
    "Operando4DSTEM.calibrate": Case(
        lambda lazy: _twin(_4d()[0], lazy),
        lambda s, **o: s.calibrate(
            detector_pixel_size="55 um", camera_length=146.26, beam_energy=300, **o
        ),
    ),
    "Operando4DSTEM.estimate_scan_drift": Case(
        lambda lazy: _twin(_4d()[0], lazy), lambda s, **o: s.estimate_scan_drift(**o)
    ),
    "Operando4DSTEM.get_virtual_image_series": Case(
        lambda lazy: _twin(_4d()[0], lazy),
        lambda s, **o: s.get_virtual_image_series(**o),
    ),
}

#: Methods checked otherwise: name -> (reason, check(lazy signal) or None).
EXEMPT = {}


def _poisoned(s):
    """A lazy twin of ``s`` whose data raise if any chunk is computed."""

    def boom(block):
        raise AssertionError("the plot computed the signal's data")

    lazy = s.as_lazy()
    lazy.data = da.map_blocks(boom, lazy.data, dtype=lazy.data.dtype)
    return lazy


def _plot_edge_vs_core():
    haadf, cl, truth = _cl_map()
    fig = _poisoned(cl).plot_edge_vs_core(truth["sigma"], haadf=haadf)
    assert len(fig.axes) >= 3


def _plot_emission_statistics():
    s = _cl(True)
    fig = s.plot_emission_statistics(_maps(s), bins=6)
    assert len(fig.axes) >= 2


EXEMPT = {
    "CLSTEMPerovskiteSpectrum.plot_edge_vs_core": (
        "a plot: drawn from the HAADF and a parameter map, never from the "
        "spectra (checked on a lazy signal whose chunks raise if computed)",
        _plot_edge_vs_core,
    ),
    "CLSTEMPerovskiteSpectrum.plot_emission_statistics": (
        "a plot of the maps of a lazy fit (checked to draw); the maps' "
        "lazy == eager is covered by emission_maps",
        _plot_emission_statistics,
    ),
}

#: Methods returning a signal that do not take every option of ``map``:
#: name -> reason (what is not accepted and why).
_NO_COMPUTE = (
    "changes axes or metadata only (the data are shared or scaled "
    "element-wise, lazy stays lazy): nothing to show progress for or to "
    "parallelise, as HyperSpy's own calibration and set_* methods"
)
_IN_MEMORY_MAPS = (
    "works on in-memory 2D maps (HAADF segmentation, fitted parameter maps, "
    "per-frame metadata), not on the spectra: no dask computation to show "
    "progress for or to spread over workers"
)
OPTIONS_NOT_APPLICABLE = {
    "CLSTEMPerovskiteSpectrum.normalize_spectral_axis": _NO_COMPUTE,
    "InSituImageSeries.attach_stimulus": _NO_COMPUTE,
    "InSituSAEDSeries.attach_stimulus": _NO_COMPUTE,
    "InSituSAEDSeries.calibrate": _NO_COMPUTE,
    "Operando4DSTEM.calibrate": _NO_COMPUTE,
    "JVCurve.to_current_density": _NO_COMPUTE,
    "CLSTEMPerovskiteSpectrum.emission_histogram2d": _IN_MEMORY_MAPS,
    "CLSTEMPerovskiteSpectrum.emission_histograms": _IN_MEMORY_MAPS,
    "CLSTEMPerovskiteSpectrum.emission_maps": _IN_MEMORY_MAPS,
    "CLSTEMPerovskiteSpectrum.urbach_energy_map": _IN_MEMORY_MAPS,
    "CLSTEMPerovskiteSpectrum.edge_distance": _IN_MEMORY_MAPS,
    "CLSTEMPerovskiteSpectrum.edge_profile": _IN_MEMORY_MAPS,
    "CLSTEMPerovskiteSpectrum.halide_fraction": _IN_MEMORY_MAPS,
    "CLSTEMPerovskiteSpectrum.particle_labels": _IN_MEMORY_MAPS,
    "CLSTEMPerovskiteSpectrum.particle_table": _IN_MEMORY_MAPS,
    "CLSTEMPerovskiteSpectrum.segregation_map": _IN_MEMORY_MAPS,
    "InSituImageSeries.electron_dose": _IN_MEMORY_MAPS,
    "InSituSAEDSeries.electron_dose": _IN_MEMORY_MAPS,
    "InSituImageSeries.compare_regions": (
        "the options are passed on to fringe_intensity through **fringe_kwargs"
    ),
}
#: Methods that compute from the data but do not take every option yet
#: (debt for their owners; an entry may only shrink): name -> missing options.
OPTIONS_MISSING = {}


# --------------------------------------------------------------- comparing
def _data(x):
    x = x.compute() if isinstance(x, da.Array) else x
    return np.asarray(x)


def _same_array(a, b, where):
    a, b = _data(a), _data(b)
    assert a.shape == b.shape, f"{where}: shape {a.shape} (eager) != {b.shape} (lazy)"
    if a.dtype.kind in "fc" or b.dtype.kind in "fc":
        scale = np.nanmax(np.abs(a)) if a.size and np.isfinite(a).any() else 1.0
        np.testing.assert_allclose(
            b, a, rtol=1e-6, atol=1e-9 * scale, equal_nan=True, err_msg=where
        )
    else:
        np.testing.assert_array_equal(b, a, err_msg=where)


#: Keys that legitimately differ: HyperSpy's own bookkeeping, the lazy flag of
#: a lazy variance, processing time stamps and elapsed times.
_SKIP_KEYS = {"_HyperSpy", "_lazy", "elapsed"}
_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d")


def _validity(x):
    """A Validity from a ``Validity`` metadata node (dict) or itself."""
    from hyperspy_perovskite.validity import Validity

    if isinstance(x, Validity):
        return x
    return Validity(x["mask"], x.get("reasons"), x.get("reason_names", ()))


def same_validity(a, b, where):
    """The stored validity of a lazy result equals the eager one: the mask,
    and pixel by pixel the reasons (by name: a lazy validity lists every
    possible reason, an eager one those that apply)."""
    va, vb = _validity(a), _validity(b).compute()
    _same_array(va.mask, vb.mask, f"{where}.mask")
    ra, rb = va.rejected(), vb.rejected()
    assert set(ra) == set(rb), f"{where}: reasons {sorted(ra)} != {sorted(rb)}"
    for name in ra:
        _same_array(ra[name], rb[name], f"{where}: {name}")


#: Every stored validity compared (path -> method), for the report below.
VALIDITY_COMPARED = {}
#: Methods whose lazy result does not store its validity yet (the NaNs outside
#: validity ARE applied to the lazy data, which the data comparison checks):
#: debt for their owner (the EDX engineer), who applies
#: ``hyperspy_perovskite.validity`` lazily and deletes the line; an entry may
#: only shrink (an entry whose lazy result has its validity fails).
LAZY_VALIDITY_MISSING = set()
#: While comparing one method of LAZY_VALIDITY_MISSING: the paths skipped.
_SKIPPED_VALIDITY = []
_ALLOW_MISSING = [False]


def same(a, b, where="result", depth=0):
    """Assert that the lazy result ``b`` equals the eager result ``a``."""
    assert depth < 12, f"{where}: nested too deep to compare"
    if isinstance(a, BaseSignal):
        assert isinstance(b, BaseSignal), f"{where}: {type(b).__name__} is no signal"
        assert b.axes_manager.shape == a.axes_manager.shape, where
        for ax_a, ax_b in zip(a.axes_manager._axes, b.axes_manager._axes, strict=True):
            assert ax_a.units == ax_b.units and ax_a.name == ax_b.name, where
            _same_array(ax_a.axis, ax_b.axis, f"{where}: axis {ax_a.name}")
        _same_array(a.data, b.data, f"{where}.data")
        same(a.metadata.as_dictionary(), b.metadata.as_dictionary(),
             f"{where}.metadata", depth + 1)  # fmt: skip
    elif isinstance(a, BaseModel):
        assert type(a) is type(b), where
        assert [c.name for c in a] == [c.name for c in b], where
        for ca, cb in zip(a, b, strict=True):
            for pa, pb in zip(ca.parameters, cb.parameters, strict=True):
                w = f"{where}[{ca.name}].{pa.name}"
                _same_array(pa.map["values"], pb.map["values"], w)
                _same_array(pa.map["std"], pb.map["std"], w + " std")
        _same_array(a.chisq.data, b.chisq.data, f"{where}.chisq")
    elif isinstance(a, ResultTable):
        same(a.to_dict(), b.to_dict(), where, depth + 1)
    elif isinstance(a, dict) or hasattr(a, "as_dictionary"):
        a = a if isinstance(a, dict) else a.as_dictionary()
        b = b if isinstance(b, dict) else b.as_dictionary()
        keys = set(a) - _SKIP_KEYS
        if "Validity" in keys and "Validity" not in b and _ALLOW_MISSING[0]:
            _SKIPPED_VALIDITY.append(where)
            keys.discard("Validity")
        assert keys == set(b) - _SKIP_KEYS, f"{where}: keys {keys} != {set(b)}"
        if "Validity" in keys and isinstance(a["Validity"], dict):
            same_validity(a["Validity"], b["Validity"], f"{where}['Validity']")
            VALIDITY_COMPARED[f"{where}['Validity']"] = True
            keys.discard("Validity")
        for k in sorted(keys, key=str):
            same(a[k], b[k], f"{where}[{k!r}]", depth + 1)
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f"{where}: length {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same(x, y, f"{where}[{i}]", depth + 1)
    elif isinstance(a, (np.ndarray, da.Array)) or isinstance(b, da.Array):
        _same_array(a, b, where)
    elif isinstance(a, (float, np.floating, int, np.integer)) and not isinstance(
        a, bool
    ):
        _same_array(np.asarray(a), np.asarray(b), where)
    elif type(a).__name__ == "Validity":
        assert b is not None, f"{where}: the lazy result has no validity"
        same_validity(a, b, where)
        VALIDITY_COMPARED[where] = True
    elif dataclasses.is_dataclass(a) and not isinstance(a, type):
        assert type(a) is type(b), where
        for f in dataclasses.fields(a):
            if f.name in _SKIP_KEYS:
                continue
            same(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}",
                 depth + 1)  # fmt: skip
    elif hasattr(a, "__dict__") and not isinstance(a, type) and not callable(a):
        assert type(a) is type(b), where
        # the state, and the validity a result object exposes as a property
        # (private state held lazily, e.g. dask flags computed on use, is
        # compared through the public property instead)
        deferred = {
            k for k, v in vars(b).items() if isinstance(v, da.Array) and k.startswith("_")
            and vars(a).get(k) is None
        }  # fmt: skip
        pub = {k: v for k, v in vars(a).items() if k not in deferred}
        pub_b = {k: v for k, v in vars(b).items() if k not in deferred}
        if isinstance(getattr(type(a), "validity", None), property):
            pub["validity"], pub_b["validity"] = a.validity, b.validity
        same(pub, pub_b, where, depth + 1)
    elif isinstance(a, str) and _TIMESTAMP.match(a):
        assert isinstance(b, str) and _TIMESTAMP.match(b), where
    else:
        assert a == b, f"{where}: {a!r} (eager) != {b!r} (lazy)"


def _signals(x, depth=0):
    """Every signal in a result (nested in dicts, lists, tuples)."""
    if isinstance(x, BaseSignal):
        return [x]
    if depth > 3:
        return []
    if isinstance(x, dict):
        return [s for v in x.values() for s in _signals(v, depth + 1)]
    if isinstance(x, (list, tuple)):
        return [s for v in x for s in _signals(v, depth + 1)]
    return []


def _run(case, lazy, **options):
    s = case.make(lazy)
    before = (_data(s.data).copy(), s.metadata.as_dictionary())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = case.call(s, **options)
    return s, before, out


def check_metadata_nodes(md, where):
    """Only documented nodes; nothing in ``Signal`` beyond HyperSpy's keys."""
    from hyperspy_perovskite.metadata import (
        HYPERSPY_NODES,
        HYPERSPY_SIGNAL_KEYS,
        SUITE_NODES,
    )

    d = md.as_dictionary()
    top = {n.split(".")[0] for n in SUITE_NODES} | set(HYPERSPY_NODES)
    extra = set(d) - top
    assert not extra, (
        f"{where} writes undocumented metadata nodes {sorted(extra)}: name them "
        "in hyperspy_perovskite/metadata.py and docs/user_guide/metadata.rst"
    )
    device = {n.split(".")[1] for n in SUITE_NODES if n.startswith("Device.")}
    extra = set(d.get("Device", {})) - device
    assert not extra, f"{where} writes undocumented Device nodes {sorted(extra)}"
    extra = set(d.get("Signal", {})) - set(HYPERSPY_SIGNAL_KEYS)
    assert not extra, (
        f"{where} writes {sorted(extra)} inside HyperSpy's Signal node; only "
        f"{HYPERSPY_SIGNAL_KEYS} belong there"
    )


# ------------------------------------------------------------------- tests
def test_every_public_method_has_an_entry():
    methods = set(public_methods())
    missing = sorted(methods - set(CASES) - set(EXEMPT))
    assert not missing, (
        "Public methods without a lazy == eager case or a justified exemption "
        f"in tests/test_lazy_eager.py: {missing}"
    )
    stale = sorted((set(CASES) | set(EXEMPT)) - methods)
    assert not stale, f"Entries naming no public method (remove them): {stale}"
    assert not set(CASES) & set(EXEMPT)
    for table in (OPTIONS_NOT_APPLICABLE, OPTIONS_MISSING):
        assert set(table) <= set(CASES), sorted(set(table) - set(CASES))
    assert not set(OPTIONS_NOT_APPLICABLE) & set(OPTIONS_MISSING)


@pytest.mark.parametrize("name", sorted(EXEMPT))
def test_exempt_methods_checked(name):
    reason, check = EXEMPT[name]
    assert len(reason) > 20, "an exemption needs its reason"
    if check is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            check()


def _method(name):
    cls, attr = public_methods()[name]
    fn = inspect.getattr_static(cls, attr)
    return fn if isinstance(fn, property) else getattr(fn, "__func__", fn)


def _check_options_signature(name, params):
    """A method returning a signal takes map's options, or a table says why."""
    missing = [o for o in OPTIONS if o not in params]
    if name in OPTIONS_NOT_APPLICABLE:
        assert missing, f"{name} takes every option now: remove its exemption"
        return
    if name in OPTIONS_MISSING:
        assert set(missing) <= set(OPTIONS_MISSING[name]), (
            f"{name} lost {sorted(set(missing) - set(OPTIONS_MISSING[name]))}"
        )
        assert missing, f"{name} takes every option now: remove it from OPTIONS_MISSING"
        return
    assert not missing, (
        f"{name} returns a signal but does not accept {missing} (HyperSpy's "
        "BaseSignal.map options); add them through signals/_base.resolve_options, "
        "or give the reason in OPTIONS_NOT_APPLICABLE"
    )


@pytest.fixture
def _validity_debt(request):
    """Allow a missing lazy validity for the methods of LAZY_VALIDITY_MISSING."""
    _ALLOW_MISSING[0] = request.node.callspec.params["name"] in LAZY_VALIDITY_MISSING
    _SKIPPED_VALIDITY.clear()
    yield
    _ALLOW_MISSING[0] = False


@pytest.mark.usefixtures("_validity_debt")
@pytest.mark.parametrize("name", sorted(CASES))
def test_lazy_equals_eager(name):
    """Eager and lazy input give the same result; the options are honoured.

    - lazy == eager (data, axes, metadata; validity where the lazy result has it);
    - only documented metadata nodes; the input is left unchanged;
    - a method returning a signal takes lazy_output/show_progressbar/num_workers;
    - lazy_output is honoured both ways, with show_progressbar=False and
      num_workers=1 giving the same numbers; inplace=True returns None and
      changes the signal as the copy was changed.
    """
    case = CASES[name]
    method = _method(name)
    params = (
        {} if isinstance(method, property) else inspect.signature(method).parameters
    )
    s_e, before, eager = _run(case, False)
    s_l, _, lazy = _run(case, True)
    same(eager, lazy, name)
    if name in LAZY_VALIDITY_MISSING:
        assert _SKIPPED_VALIDITY, (
            f"{name}: its lazy result stores its validity now: remove it from "
            "LAZY_VALIDITY_MISSING"
        )
    if eager is None and lazy is None:  # changed in place (to_eV, setters)
        same(s_e, s_l, f"{name}: the signal changed in place")
    sigs = _signals(eager)
    for sig in sigs + _signals(lazy):
        check_metadata_nodes(sig.metadata, name)
    inplace = params.get("inplace")
    if (inplace is None or inplace.default is False) and not name.endswith(
        ("set_device", "set_device_geometry")
    ):
        _same_array(before[0], s_e.data, f"{name}: input data changed")
    if not sigs or isinstance(method, property):
        return
    _check_options_signature(name, params)
    takes_options = any(
        p.kind is p.VAR_KEYWORD
        for p in inspect.signature(case.call).parameters.values()
    )
    if not takes_options:
        return
    if "lazy_output" in params:
        assert all(x._lazy for x in _signals(lazy)), f"{name}: lazy in, eager out"
        kw = {k: v for k, v in (("show_progressbar", False), ("num_workers", 1))
              if k in params}  # fmt: skip
        _, _, out = _run(case, True, lazy_output=False, **kw)
        assert all(not x._lazy for x in _signals(out)), f"{name}: lazy_output=False"
        same(eager, out, f"{name}(lazy_output=False, {kw})")
        _, _, out = _run(case, False, lazy_output=True)
        assert all(x._lazy for x in _signals(out)), f"{name}: lazy_output=True"
        same(eager, out, f"{name}(lazy_output=True)")
        if "inplace" in params:
            with pytest.raises(ValueError):
                _run(case, False, lazy_output=True, inplace=True)
    if "inplace" in params:
        s2, _, ret = _run(case, False, inplace=True)
        assert ret is None, f"{name}(inplace=True) must return None"
        same(eager if inplace.default is False else s_e, s2, f"{name}(inplace=True)")
