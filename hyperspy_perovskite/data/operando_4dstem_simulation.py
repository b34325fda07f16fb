"""Simulated operando 4D-STEM of a perovskite nanoLED cross-section under bias.

Written from the physics, independently of the analysis code: every number a
test compares against is returned in ``truth``.

The device ("Multimodal electron microscopy of halide perovskite
interfacial dynamics", Nature (2026), doi:10.1038/s41586-026-10238-8, as in
:mod:`hyperspy_perovskite.data.device_simulation`) is a cross-section along
the scan x axis: PEDOT:PSS hole-transport layer (amorphous) / CsPbBr2Cl
emitter (single crystal on the [001] zone) / TPBi electron-transport layer
(amorphous) / Al cathode (nanocrystalline fcc, rings). Each scan position
gives one nano-beam electron diffraction pattern:

* **Spot positions** are kinematic: a reflection ``g0 = (h/a, k/a)`` of the
  reference cubic lattice moves to ``g = F^-T g0`` under the real-space
  deformation gradient ``F = R(theta) (I + eps)`` (``eps`` symmetric strain,
  ``theta`` rigid rotation, anticlockwise in the (x, y) frame of the
  sample: x along the stack); the whole pattern is then turned by the
  ``detector_rotation`` relative to the scan. Pseudo-cubic lattice
  parameter from Vegard's law between cubic CsPbBr3 (a = 5.874 A) and
  CsPbCl3 (a = 5.605 A), C. K. Moller, Nature 182, 1436 (1958).
* **Spot intensities** are ``|F_hk0|^2`` of the ABX3 cell (B at the origin, A
  at the body centre, X at the face centres) with screened-Rutherford
  scattering amplitudes ``f ~ Z / (s^2 + s0^2)`` times a Debye-Waller factor (B = 2 A^2),
  good enough for relative spot strengths.
* **Spot shape**: the probe's convergence disk (radius ``alpha / lambda``)
  blurred by the detector point-spread function (Gaussian).
* A **strain step** next to the emitter/TPBi interface: pre-existing in the
  pristine device and growing as ``1 - exp(-(t - t_on) / tau)`` after the
  bias switch-on; a smaller compressive pre-strain at PEDOT:PSS/emitter that
  does not change.
* **Metallic Pb** (fcc, a = 4.9502 A, Wyckoff, Crystal Structures (1963))
  nucleating near the emitter/TPBi interface after an onset, grains growing
  linearly; each grain is seen on its [1-10] zone (spots 111, 11-1, 002, 220)
  at a random in-plane angle.
* Amorphous halos of the organic layers; the nanocrystalline Al cathode
  (a = 4.0495 A, Wyckoff 1963) as a continuous ring plus the spots of the
  grain under the probe (3 nm grains on their [1-10] zone, random in-plane
  angles); a diffuse background, mass-thickness contrast, pristine Pb-rich
  (amorphous) clusters, descan of the direct beam, **scan drift** between
  time steps, and **Poisson noise**.
* The galvanostatic **electrical record** (current set-point, measured
  voltage whose resistance rises after switch-on).
"""

from __future__ import annotations

import dask.array as da
import numpy as np

from hyperspy_perovskite.data._operando_physics import (
    _DEFAULT_STEP,
    A_EMITTER,
    LAYERS,
    _al_reflections,
    _emitter_reflections,
    _pattern_params,
    _pb_reflections,
    _wavelength,
    strain_field,
)
from hyperspy_perovskite.data._operando_render import (
    _radial_tables,
    _render,
    _spot_profile,
)

__all__ = ["simulate_operando_4dstem", "LAYERS", "strain_field"]


def _config(
    n_time,
    scan_shape,
    pattern_size,
    dt,
    t_on,
    tau,
    pb_onset,
    dose,
    seed,
    convergence_angle,
    drift_per_step,
    step,
    beam_energy,
    rotation=0.0,
    pb_sites=(-3.0, 1.0),
):
    rng = np.random.default_rng(seed)
    ny, nx = scan_shape
    width = nx * step
    lam = _wavelength(beam_energy)
    refl = _emitter_reflections(1e9)
    g220 = np.sqrt(8) / A_EMITTER
    kpix = g220 / (0.8 * pattern_size / 2)
    refl = refl[np.hypot(refl[:, 0], refl[:, 1]) / kpix < 0.47 * pattern_size]
    refl[:, 2] /= refl[:, 2].sum()
    times = np.arange(n_time) * dt
    # sample offset: sample coordinate = scan coordinate + offset (nm)
    steps = np.zeros((n_time, 2))
    steps[1:] = np.asarray(drift_per_step, float) + rng.normal(0, 0.15, (n_time - 1, 2))
    offset = np.cumsum(steps, axis=0) * step
    nk = 5
    field = (
        rng.normal(0, 1.0 / (6.0 * step), (nk, 2)),
        rng.uniform(0, 2 * np.pi, nk),
        0.18 / np.sqrt(nk),
        [
            (
                rng.uniform(0, width),
                rng.uniform(0, ny * step),
                rng.uniform(1.0, 2.0) * step,
            )
            for _ in range(max(2, (nx * ny) // 120))
        ],
    )
    # Pb nuclei near the emitter/TPBi interface
    x2 = LAYERS[2][1] * width
    n_nuc = max(3, ny // 3)
    nuclei = np.column_stack(
        [
            x2 + rng.uniform(float(pb_sites[0]), float(pb_sites[1]), n_nuc) * step,
            rng.uniform(-2.0, ny + 2.0, n_nuc) * step,
            pb_onset + np.concatenate([[0.0], rng.exponential(1.5 * dt, n_nuc - 1)]),
            rng.uniform(0, 360, n_nuc),
        ]
    )
    descan = np.array([0.03, -0.02])  # px of beam shift per scan pixel (x, y)
    jitter = rng.normal(0, 0.05, (n_time, ny, nx, 2))
    al_grain = 3.0  # nm, Al grain size under the probe
    al_angle = rng.uniform(
        0, 360, (int(ny * step / al_grain) + 9, int(width / al_grain) + 9)
    )
    return {
        "rng_seed": seed,
        "ny": ny,
        "nx": nx,
        "K": pattern_size,
        "step": step,
        "width": width,
        "kpix": kpix,
        "lam": lam,
        "refl": refl,
        "times": times,
        "offset": offset,
        "field": field,
        "nuclei": nuclei,
        "descan": descan,
        "jitter": jitter,
        "t_on": t_on,
        "tau": tau,
        "dose": dose,
        "disk": convergence_angle * 1e-3 / lam / kpix,
        "pb": _pb_reflections(),
        "al": _al_reflections(),
        "al_grain": al_grain,
        "al_angle": al_angle,
        "rotation": float(rotation),
        "tables": _radial_tables(kpix, int(pattern_size * 3)),
    }


def _block(cfg, prof, seed, block_info=None, shape=None, loc=None):
    if block_info is not None:
        loc = [tuple(v) for v in block_info[None]["array-location"][:3]]
    sl = [np.arange(a, b) for a, b in loc]
    ti, yi, xi = (v.ravel() for v in np.meshgrid(*sl, indexing="ij"))
    spots, cen, bg, _ = _pattern_params(cfg, ti, yi, xi)
    ny, nx = cfg["ny"], cfg["nx"]
    seeds = (seed * 1000003 + (ti * ny + yi) * nx + xi).astype(np.int64) % (2**31)
    k = cfg["K"]
    out = np.empty((ti.size, k, k), np.uint16)
    _render(out, cen, spots, prof, 0.05, bg, 0.25, seeds)
    return out.reshape(tuple(len(v) for v in sl) + (k, k))


def _stimulus(times, t_on, seed):
    rng = np.random.default_rng(seed + 7)
    t = np.arange(times[0] - 10.0, times[-1] + 10.0 + 1e-9, 1.0)
    i0, r0 = 10e-9, 2.5e8
    on = t >= t_on
    r = r0 * (1.0 + np.where(on, (t - t_on) / 200.0, 0.0) ** 1.5)
    v = np.where(on, i0 * r, 0.0) + rng.normal(0, 2e-3, t.size)
    return {
        "time": (t, "s"),
        "Current setpoint": (np.where(on, i0, 0.0), "A"),
        "Voltage": (v, "V"),
    }, {"current": i0, "resistance": np.where(on, r, np.nan), "time": t}


def simulate_operando_4dstem(
    n_time=6,
    scan_shape=(12, 40),
    pattern_size=64,
    dt=30.0,
    bias_on=45.0,
    tau=60.0,
    pb_onset=85.0,
    dose=20000.0,
    convergence_angle=0.5,
    drift_per_step=(-0.15, 0.3),
    scan_step=1.0,
    beam_energy=300.0,
    detector_pixel_size=55.0,
    detector_rotation=0.0,
    pb_sites=(-3.0, 1.0),
    calibrated=True,
    lazy=False,
    chunks=None,
    seed=0,
):
    """Simulate an operando 4D-STEM series (time, scan y, scan x | ky, kx).

    Parameters
    ----------
    n_time : int
        Number of scans (time steps), ``dt`` seconds apart, the first at 0 s.
    scan_shape : (int, int)
        Scan positions (y, x); x runs across the layer stack.
    pattern_size : int
        Detector pixels per side.
    dt, bias_on, tau, pb_onset : float
        Scan interval, bias switch-on, strain growth time and the first Pb
        nucleation, all in s.
    dose : float
        Electrons per pattern.
    convergence_angle : float
        Probe convergence semi-angle in mrad (disk radius ``alpha / lambda``).
    drift_per_step : (float, float)
        Mean sample drift (y, x) per time step in scan pixels (plus a random
        walk of 0.15 px per step).
    scan_step : float
        Scan step in nm.
    beam_energy : float
        kV.
    detector_pixel_size : float
        um; with the calibration, it fixes the camera length in the metadata.
    detector_rotation : float
        Degrees: the diffraction pattern is turned anticlockwise by this angle
        relative to the scan (a reciprocal vector along the scan x axis
        appears at this angle from kx).
    pb_sites : (float, float)
        Range of the Pb nuclei's centres across the stack, in scan steps from
        the emitter/TPBi interface (negative: inside the emitter). The
        default puts them on both sides; ``(-2.5, -1.0)`` makes Pb nucleate
        inside the emitter, under its single-crystal spots (one Pb ring,
        111, lies on the emitter's 200 ring).
    calibrated : bool
        Calibrate the diffraction axes (1/A, direct beam at 0); otherwise they
        are in pixels and only the camera geometry is in the metadata.
    lazy : bool
        Return a lazy signal whose patterns are rendered on compute (equal to
        the eager ones: every pattern has its own random seed).
    chunks : tuple, optional
        Dask chunks of the lazy navigation axes (t, y, x).
    seed : int

    Returns
    -------
    signal : Operando4DSTEM
    truth : dict
        ``strain`` (4, t, y, x: exx, eyy, exy, theta in the sample frame:
        x along the stack, the growth direction, from PEDOT:PSS to Al; y
        along the interfaces),
        ``emitter`` and ``pb`` (t, y, x bool), ``centre`` (t, y, x, 2 px),
        ``offset`` (t, 2: sample drift (y, x) in nm; a feature moves by
        ``-offset`` in the scan), ``pb_onset`` (s, first nucleation),
        ``interfaces`` (name -> nm at t = 0), ``kpix`` (1/A per px),
        ``camera_length`` (mm), ``step`` strain parameters, ``resistance``.

    Examples
    --------
    >>> from hyperspy_perovskite.data.operando_4dstem_simulation import (
    ...     simulate_operando_4dstem)
    >>> s, truth = simulate_operando_4dstem(n_time=2, scan_shape=(4, 10),
    ...                                     pattern_size=32)
    >>> s.data.shape, s.data.dtype.name
    ((2, 4, 10, 32, 32), 'uint16')
    """
    if n_time < 1 or min(scan_shape) < 1 or pattern_size < 16:
        raise ValueError("n_time >= 1, scan sizes >= 1 and pattern_size >= 16.")
    cfg = _config(
        n_time,
        scan_shape,
        pattern_size,
        dt,
        bias_on,
        tau,
        pb_onset,
        dose,
        seed,
        convergence_angle,
        drift_per_step,
        scan_step,
        beam_energy,
        detector_rotation,
        pb_sites,
    )
    prof, _ = _spot_profile(max(cfg["disk"], 0.3), 0.7)
    ny, nx = scan_shape
    k = pattern_size
    shape = (n_time, ny, nx, k, k)
    if lazy:
        ch = chunks or (1, ny, nx)
        arr = da.map_blocks(
            _block,
            cfg,
            prof,
            seed,
            dtype=np.uint16,
            chunks=da.core.normalize_chunks(tuple(ch) + (k, k), shape),
            meta=np.empty((0,) * 5, np.uint16),
        )
    else:
        arr = _block(cfg, prof, seed, loc=[(0, n_time), (0, ny), (0, nx)])
    sig = _make_signal(arr, cfg, calibrated, beam_energy, detector_pixel_size)
    truth = _truth(cfg, sig)
    record, elec = _stimulus(cfg["times"], bias_on, seed)
    _annotate(sig, record, bias_on, truth)
    truth["resistance"] = elec
    return sig, truth


def _truth(cfg, sig):
    t, ny, nx = len(cfg["times"]), cfg["ny"], cfg["nx"]
    ti, yi, xi = (v.ravel() for v in np.indices((t, ny, nx)))
    _, _, _, tr = _pattern_params(cfg, ti, yi, xi)
    shp = (t, ny, nx)
    width = cfg["width"]
    names = [f"{a}/{b}" for (a, _), (b, _) in zip(LAYERS[:-1], LAYERS[1:], strict=True)]
    lam = cfg["lam"]
    return {
        "strain": tr["strain"].reshape((4,) + shp),
        "emitter": tr["emitter"].reshape(shp),
        "pb": tr["pb"].reshape(shp),
        "centre": tr["centre"].reshape(shp + (2,)),
        "layer": tr["layer"].reshape(shp),
        "offset": cfg["offset"].copy(),
        "pb_onset": float(cfg["nuclei"][:, 2].min()),
        "bias_on": float(cfg["t_on"]),
        "interfaces": {
            n: f * width for n, (_, f) in zip(names, LAYERS[1:], strict=True)
        },
        "layers": [n for n, _ in LAYERS],
        "kpix": cfg["kpix"],
        "wavelength": lam,
        "camera_length": None,
        "step": dict(_DEFAULT_STEP),
        "times": cfg["times"].copy(),
        "lattice": A_EMITTER,
    }


def _make_signal(arr, cfg, calibrated, beam_energy, pixel_size):
    from hyperspy_perovskite.signals.operando_4dstem import (
        LazyOperando4DSTEM,
        Operando4DSTEM,
    )

    cls = LazyOperando4DSTEM if isinstance(arr, da.Array) else Operando4DSTEM
    s = cls(arr)
    ax_x, ax_y, ax_t = s.axes_manager.navigation_axes
    ax_t.name, ax_t.units, ax_t.scale = (
        "time",
        "s",
        float(cfg["times"][1] - cfg["times"][0]) if len(cfg["times"]) > 1 else 1.0,
    )
    for ax, name in ((ax_x, "x"), (ax_y, "y")):
        ax.name, ax.units, ax.scale = name, "nm", cfg["step"]
    k = cfg["K"]
    for ax, name in zip(s.axes_manager.signal_axes, ("kx", "ky"), strict=True):
        ax.name = name
        if calibrated:
            ax.units, ax.scale, ax.offset = (
                "k_A^-1",
                cfg["kpix"],
                -(k - 1) / 2 * cfg["kpix"],
            )
        else:
            ax.units = "px"
    lam = cfg["lam"]
    cam = pixel_size * 1e4 / (cfg["kpix"] * lam) * 1e-7  # mm
    md = s.metadata
    md.General.title = "Simulated operando 4D-STEM (nanoLED under constant current)"
    md.set_item("Acquisition_instrument.TEM.beam_energy", float(beam_energy))
    md.set_item("Acquisition_instrument.TEM.camera_length", float(cam))
    md.set_item(
        "Acquisition_instrument.TEM.Detector.Diffraction.pixel_size", float(pixel_size)
    )
    md.set_item(
        "Acquisition_instrument.TEM.Detector.Diffraction.pixel_size_units", "um"
    )
    md.set_item("Sample.phase", "cubic-CsPbBr3")
    return s


def _annotate(sig, record, bias_on, truth):
    from hyperspy_perovskite.stimulus import attach_stimulus, set_bias_condition

    attach_stimulus(sig, record, inplace=True)
    set_bias_condition(
        sig,
        "galvanostatic",
        current=10e-9,
        start_time=bias_on,
        anode="ITO",
        cathode="Al",
    )
    ny = sig.axes_manager.navigation_axes[1].size
    width = truth["interfaces"]["Al" and "TPBi/Al"] / LAYERS[3][1]
    step = sig.axes_manager.navigation_axes[0].scale
    _write_geometry(
        sig.metadata,
        (0.0, ny * step / 2),
        (width, ny * step / 2),
        truth["layers"],
        truth["interfaces"],
    )
    truth["camera_length"] = sig.metadata.Acquisition_instrument.TEM.camera_length


def _write_geometry(md, start, end, layers, interfaces):
    try:
        from hyperspy_perovskite.metadata import DeviceGeometry
    except ImportError:  # foundation without the shared geometry
        DeviceGeometry = None
    if DeviceGeometry is not None:
        DeviceGeometry(
            start=tuple(start),
            end=tuple(end),
            layers=tuple(layers),
            interface_names=tuple(interfaces),
            interface_positions=tuple(interfaces.values()),
            method="manual",
        ).to_metadata(md)
        return
    md.set_item(
        "Device.Geometry",
        {
            "start": list(start),
            "end": list(end),
            "position_units": "nm",
            "width": None,
            "layers": list(layers),
            "interface_names": list(interfaces),
            "interface_positions": [float(v) for v in interfaces.values()],
            "method": "manual",
        },
    )
