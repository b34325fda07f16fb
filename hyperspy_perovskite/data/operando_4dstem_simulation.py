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
  detector, which is aligned with the scan here). Pseudo-cubic lattice
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
* Amorphous halos of the organic layers, Al rings (a = 4.0495 A, Wyckoff
  1963), a diffuse background, mass-thickness contrast, pristine Pb-rich
  (amorphous) clusters, descan of the direct beam, **scan drift** between
  time steps, and **Poisson noise**.
* The galvanostatic **electrical record** (current set-point, measured
  voltage whose resistance rises after switch-on).
"""

from __future__ import annotations

import dask.array as da
import numpy as np

from hyperspy_perovskite.data._operando_render import (
    _radial_tables,
    _render,
    _spot_profile,
)

__all__ = ["simulate_operando_4dstem", "LAYERS", "strain_field"]

# CODATA 2018 (NIST SP 961, 2019)
_H = 6.62607015e-34
_E = 1.602176634e-19
_M0 = 9.1093837015e-31
_C = 299792458.0

#: Layers along the stack (name, start as a fraction of the scan width).
LAYERS = (("PEDOT:PSS", 0.0), ("CsPbBr2Cl", 0.2), ("TPBi", 0.7), ("Al", 0.85))

A_BR, A_CL = 5.874, 5.605  # cubic CsPbBr3 / CsPbCl3, Moller (1958)
A_EMITTER = (2 * A_BR + A_CL) / 3.0  # Vegard, CsPbBr2Cl
A_PB = 4.9502
A_AL = 4.0495


def _wavelength(kv):
    ev = _E * kv * 1e3
    return 1e10 * _H / np.sqrt(2 * _M0 * ev * (1 + ev / (2 * _M0 * _C**2)))


def _f_el(z, s):
    # screened Rutherford (Wentzel) amplitude, s = sin(theta)/lambda (1/A);
    # screening from the Thomas-Fermi radius 0.885 a0 Z^-1/3 (q = 4 pi s)
    s0 = z ** (1 / 3) / (4 * np.pi * 0.885 * 0.529)
    return z / (s**2 + s0**2)


def _emitter_reflections(kmax):
    out = []
    for h in range(-4, 5):
        for k in range(-4, 5):
            if h == 0 and k == 0:
                continue
            g = np.hypot(h, k) / A_EMITTER
            if g > kmax:
                continue
            s = g / 2
            zx = (2 * 35 + 17) / 3.0  # Br2Cl average
            f = (
                _f_el(82, s)
                + _f_el(55, s) * (-1) ** (h + k)
                + _f_el(zx, s) * (1 + (-1) ** h + (-1) ** k)
            )
            out.append((h / A_EMITTER, k / A_EMITTER, (f**2) * np.exp(-2.0 * s**2)))
    r = np.array(out)
    r[:, 2] /= r[:, 2].sum()
    return r


def _pb_reflections():
    # fcc Pb on the [1-10] zone: 002 along u, 111 and 11-1 at +-54.74 deg
    a = A_PB
    g111, g002, g220 = np.sqrt(3) / a, 2 / a, np.sqrt(8) / a
    ang = np.degrees(np.arccos(1 / np.sqrt(3)))
    refl = []
    for g, phi, w in ((g002, 0.0, 0.8), (g111, ang, 1.0), (g111, -ang, 1.0)):
        refl += [(g, phi, w), (g, phi + 180.0, w)]
    refl += [(g220, 90.0, 0.4), (g220, 270.0, 0.4)]
    r = np.array(refl)
    r[:, 2] /= r[:, 2].sum()
    return r


def strain_field(x, t, width, t_on, tau, step=None, pre_left=None):
    """True strain (exx, eyy, exy, theta) at stack position ``x`` (nm), time ``t`` (s).

    ``step`` maps each component to ``(pre, bias_amplitude)`` in the layer of
    thickness ``step["h"]`` nm next to the emitter/TPBi interface;
    ``pre_left`` maps components to a constant pre-strain in the 4 nm next to
    PEDOT:PSS/emitter. Elsewhere the emitter is unstrained (the reference).

    Examples
    --------
    >>> from hyperspy_perovskite.data.operando_4dstem_simulation import strain_field
    >>> e = strain_field(np.array([20.0, 27.0]), 120.0, 40.0, 45.0, 60.0)
    >>> np.round(e[0], 4).tolist()  # exx in the bulk and in the step
    [0.0, 0.0146]
    """
    step = step or _DEFAULT_STEP
    pre_left = pre_left or _DEFAULT_LEFT
    x = np.asarray(x, float)
    x1, x2 = LAYERS[1][1] * width, LAYERS[2][1] * width
    growth = np.where(t > t_on, 1.0 - np.exp(-(t - t_on) / tau), 0.0)
    in_step = (x >= x2 - step["h"]) & (x < x2)
    in_left = (x >= x1) & (x < x1 + 4.0)
    out = np.zeros((4,) + x.shape)
    for i, c in enumerate(("exx", "eyy", "exy", "theta")):
        pre, amp = step[c]
        out[i] = np.where(in_step, pre + amp * growth, 0.0)
        out[i] = np.where(in_left, pre_left.get(c, 0.0), out[i])
    return out


_DEFAULT_STEP = {
    "h": 5.0,
    "exx": (0.006, 0.012),
    "eyy": (-0.002, -0.003),
    "exy": (0.001, 0.002),
    "theta": (0.0017, 0.0035),
}
_DEFAULT_LEFT = {"exx": -0.004, "eyy": 0.001}


def _thickness(xs, ys, rng_params):
    k, ph, amp, clusters = rng_params
    th = np.ones_like(xs)
    for (kx, ky), p in zip(k, ph, strict=True):
        th += amp * np.cos(2 * np.pi * (kx * xs + ky * ys) + p)
    cl = np.zeros_like(xs)
    for cx, cy, r in clusters:
        cl += np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * r**2))
    return th, cl


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
            x2 + rng.uniform(-3.0, 1.0, n_nuc) * step,
            rng.uniform(-2.0, ny + 2.0, n_nuc) * step,
            pb_onset + np.concatenate([[0.0], rng.exponential(1.5 * dt, n_nuc - 1)]),
            rng.uniform(0, 360, n_nuc),
        ]
    )
    descan = np.array([0.03, -0.02])  # px of beam shift per scan pixel (x, y)
    jitter = rng.normal(0, 0.05, (n_time, ny, nx, 2))
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
        "tables": _radial_tables(kpix, int(pattern_size * 3)),
    }


def _pattern_params(cfg, ti, yi, xi):
    """Everything that defines the patterns at flat index arrays (t, y, x)."""
    t = cfg["times"][ti]
    off = cfg["offset"][ti]
    step, width, kpix = cfg["step"], cfg["width"], cfg["kpix"]
    xs, ys = xi * step + off[:, 1], yi * step + off[:, 0]
    bounds = np.array([f for _, f in LAYERS[1:]]) * width
    # interfaces are not abrupt in projection (roughness through the lamella
    # and the probe size): occupancy of each layer with erf edges of 0.6 nm
    from scipy.special import erf

    edges = np.concatenate([[-np.inf], bounds, [np.inf]])
    occ = np.stack(
        [
            0.5
            * (
                erf((xs - edges[i]) / (np.sqrt(2) * 0.6))
                - erf((xs - edges[i + 1]) / (np.sqrt(2) * 0.6))
            )
            for i in range(len(LAYERS))
        ]
    )
    layer = np.searchsorted(bounds, xs, side="right")
    th, cl = _thickness(xs, ys, cfg["field"])
    # emitter that projects beyond an interface (roughness) carries the strain
    # of the emitter at that interface
    x_em = np.clip(xs, LAYERS[1][1] * width, LAYERS[2][1] * width - 1e-6)
    e = strain_field(x_em, t, width, cfg["t_on"], cfg["tau"])
    k = cfg["K"]
    cen = np.column_stack(
        [(k - 1) / 2 + cfg["descan"][0] * xi, (k - 1) / 2 + cfg["descan"][1] * yi]
    )
    cen = cen + cfg["jitter"][ti, yi, xi][:, ::-1]
    nuc = cfg["nuclei"]
    age = t[:, None] - nuc[None, :, 2]
    radius = np.where(age >= 0, 1.0 * step + 0.02 * step * age, -1.0)
    dist = np.hypot(xs[:, None] - nuc[None, :, 0], ys[:, None] - nuc[None, :, 1])
    inside = dist <= radius
    grain = np.where(inside.any(axis=1), np.argmax(inside, axis=1), -1)
    mu = np.array([0.25, 0.6, 0.25, 0.45]) @ occ + 0.5 * cl
    fs = 1.0 - np.exp(-mu * th)
    n_e = cfg["dose"]
    refl, pbr = cfg["refl"], cfg["pb"]
    nsp = 1 + len(refl) + len(pbr)
    spots = np.zeros((ti.size, nsp, 3))
    spots[:, 0, :2] = cen
    spots[:, 0, 2] = n_e * (1 - fs)
    emitter = occ[1] > 0.5
    pb = grain >= 0
    exx, eyy, exy, th_rot = e
    c, s = np.cos(th_rot), np.sin(th_rot)
    # F = R (I + eps); reciprocal vectors transform with F^-T
    f11 = c * (1 + exx) - s * exy
    f12 = c * exy - s * (1 + eyy)
    f21 = s * (1 + exx) + c * exy
    f22 = s * exy + c * (1 + eyy)
    det = f11 * f22 - f12 * f21
    # inverse transpose of [[f11, f12], [f21, f22]]
    m11, m12, m21, m22 = f22 / det, -f21 / det, -f12 / det, f11 / det
    bragg = occ[1] * 0.45 * fs * n_e * np.where(pb, 0.6, 1.0)
    gx = m11[:, None] * refl[None, :, 0] + m12[:, None] * refl[None, :, 1]
    gy = m21[:, None] * refl[None, :, 0] + m22[:, None] * refl[None, :, 1]
    spots[:, 1 : 1 + len(refl), 0] = cen[:, :1] + gx / kpix
    spots[:, 1 : 1 + len(refl), 1] = cen[:, 1:] + gy / kpix
    spots[:, 1 : 1 + len(refl), 2] = bragg[:, None] * refl[None, :, 2]
    phi = np.radians(nuc[np.maximum(grain, 0), 3][:, None] + pbr[None, :, 1])
    j = 1 + len(refl)
    spots[:, j:, 0] = cen[:, :1] + pbr[None, :, 0] * np.cos(phi) / kpix
    spots[:, j:, 1] = cen[:, 1:] + pbr[None, :, 0] * np.sin(phi) / kpix
    spots[:, j:, 2] = np.where(pb, 0.3 * fs * n_e, 0.0)[:, None] * pbr[None, :, 2]
    w = np.column_stack(
        [
            (0.35 * fs + 0.08 * cl) * n_e,
            (occ[0] + occ[2]) * 0.5 * fs * n_e,
            occ[3] * 0.5 * fs * n_e,
        ]
    )
    truth = {"strain": e, "emitter": emitter, "pb": pb, "centre": cen, "layer": layer}
    return spots, cen, w @ cfg["tables"], truth


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
        ``strain`` (4, t, y, x: exx, eyy, exy, theta in the detector frame),
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
