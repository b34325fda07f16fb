"""Simulated in situ HRTEM movie of perovskite and PbI2 grains under bias.

Physics (“Imaging real-time amorphization of hybrid perovskite solar cells under electrical biasing”, Fig. 1c and S5): a lamella with grains of
the perovskite (FAPbI3)x(MAPbBr3)1-x, (001) fringes at d = 6.36 A, and of PbI2,
(001) fringes at d = 6.96 A, on an amorphous/mass-thickness background. A
forward bias is switched on at ``bias_on``; after an onset ``t0 = bias_on +
onset_delay`` the perovskite grains in the biased region B amorphize with
JMAK kinetics, crystalline fraction ``X(t) = exp(-(k (t - t0))^n)``
(M. Avrami, J. Chem. Phys. 7, 1103 (1939)), while PbI2 persists and a
perovskite grain in the beam-only control region A does not change (“Imaging real-time amorphization of hybrid perovskite solar cells under electrical biasing”,
regions A and B). The amorphization proceeds through the thickness of the
lamella (~120 nm, “Imaging real-time amorphization of hybrid perovskite solar cells under electrical biasing”), so that in the weak-phase approximation the
fringe amplitude is proportional to the crystalline fraction of the
thickness, ``X(t)``, and the fringe POWER to ``X(t)**2``: a JMAK law again,
with the same onset and exponent and the rate ``2**(1/n) k``
(``truth["power_rate"]``).

Each frame is the specimen (fringes evaluated analytically at drifted
coordinates, so sub-pixel drift does not damp them) times the electron
fluence per pixel, with Poisson shot noise. Frames are generated
independently (seeded by frame index), so the same code produces an eager
array or a lazy dask array of any length.
"""

import os

import numpy as np
import scipy.ndimage

__all__ = ["simulate_insitu_hrtem", "D_PEROVSKITE_001", "D_PBI2_001"]

#: (FAPbI3)x(MAPbBr3)1-x (001) spacing, A (“Imaging real-time amorphization of hybrid perovskite solar cells under electrical biasing”, Fig. 1c).
D_PEROVSKITE_001 = 6.36
#: PbI2 (001) spacing, A (“Imaging real-time amorphization of hybrid perovskite solar cells under electrical biasing”, Fig. 1c).
D_PBI2_001 = 6.96


def _default_grains(shape):
    ny, nx = shape
    r = 0.17 * min(ny, nx)
    return [
        {
            "name": "perovskite_B",
            "phase": "perovskite",
            "d": D_PEROVSKITE_001,
            "centre": (0.27 * ny, 0.25 * nx),
            "radius": r,
            "angle": 20.0,
            "region": "B",
            "amorphizes": True,
        },
        {
            "name": "PbI2_B",
            "phase": "PbI2",
            "d": D_PBI2_001,
            "centre": (0.73 * ny, 0.25 * nx),
            "radius": r,
            "angle": 75.0,
            "region": "B",
            "amorphizes": False,
        },
        {
            "name": "perovskite_A",
            "phase": "perovskite",
            "d": D_PEROVSKITE_001,
            "centre": (0.5 * ny, 0.75 * nx),
            "radius": r,
            "angle": -35.0,
            "region": "A",
            "amorphizes": False,
        },
    ]


def _jmak_fraction(t, t0, k, n):
    u = np.clip(np.asarray(t, dtype=float) - t0, 0.0, None)
    return np.exp(-((k * u) ** n))


class _Specimen:
    """Everything that does not depend on the frame: maps, grains, drift."""

    def __init__(self, p):
        self.p = p
        ny, nx = p["shape"]
        rng = np.random.default_rng(p["seed"])
        # mass-thickness variation (~12 px) plus the static speckle of the
        # amorphous layer (~2 px), which drifts with the specimen
        bg = scipy.ndimage.gaussian_filter(rng.standard_normal((ny, nx)), 12.0)
        sp = scipy.ndimage.gaussian_filter(rng.standard_normal((ny, nx)), 2.0)
        self.background = (
            1.0
            + p["background_contrast"] * bg / bg.std()
            + p["background_contrast"] * sp / sp.std()
        )
        self.grains = p["grains"]
        yy, xx = np.mgrid[:ny, :nx].astype(float)
        self.masks = []
        for g in self.grains:
            cy, cx = g["centre"]
            self.masks.append((yy - cy) ** 2 + (xx - cx) ** 2 <= g["radius"] ** 2)
        T = p["n_frames"]
        self.times = np.arange(T) * p["frame_interval"]
        drng = np.random.default_rng(p["seed"] + 1)
        walk = np.cumsum(drng.normal(0, p["drift_jitter"], (T, 2)), axis=0)
        self.drift = np.asarray(p["drift_velocity"])[None, :] * self.times[:, None]
        self.drift = self.drift + walk - walk[0]
        self.fractions = np.ones((len(self.grains), T))
        t0 = p["bias_on"] + p["onset_delay"]
        X = _jmak_fraction(self.times, t0, p["rate"], p["exponent"])
        for i, g in enumerate(self.grains):
            if g["amorphizes"]:
                self.fractions[i] = X

    def frame(self, i):
        p = self.p
        ny, nx = p["shape"]
        dy, dx = self.drift[i]
        yy, xx = np.mgrid[:ny, :nx].astype(float)
        # specimen coordinates of each pixel: the content moved by (dy, dx)
        ys, xs = yy - dy, xx - dx
        img = scipy.ndimage.shift(self.background, (dy, dx), order=1, mode="nearest")
        t = self.times[i]
        t0 = p["bias_on"] + p["onset_delay"]
        X = _jmak_fraction(t, t0, p["rate"], p["exponent"])
        for g, mask in zip(self.grains, self.masks, strict=True):
            m = scipy.ndimage.shift(mask.astype(float), (dy, dx), order=1)
            if g["amorphizes"]:
                m = m * X
            a = np.deg2rad(g["angle"])
            kpx = p["pixel_size"] / g["d"]  # cycles per pixel
            phase = 2 * np.pi * kpx * (xs * np.cos(a) + ys * np.sin(a))
            img = img + p["fringe_contrast"] * m * np.cos(phase + g.get("phi", 0.0))
        mean_counts = p["dose_rate"] * p["exposure"] * p["pixel_size"] ** 2
        lam = np.clip(img, 0.0, None) * mean_counts
        rng = np.random.default_rng([p["seed"], 7, int(i)])
        return rng.poisson(lam).astype(np.float32)

    def block(self, idx):
        return np.stack([self.frame(int(i)) for i in np.ravel(idx)])


def simulate_insitu_hrtem(
    n_frames=61,
    shape=(256, 256),
    pixel_size=1.2,
    frame_interval=5.0,
    exposure=0.04,
    dose_rate=200.0,
    fringe_contrast=0.3,
    background_contrast=0.1,
    grains=None,
    bias_voltage=1.0,
    bias_on=50.0,
    onset_delay=10.0,
    rate=1.0 / 80.0,
    exponent=2.0,
    drift_velocity=(0.01, -0.015),
    drift_jitter=0.05,
    log_interval=0.5,
    log_lead=12.0,
    csv_path=None,
    lazy=False,
    chunk_frames=8,
    seed=0,
):
    """Simulate an in situ HRTEM movie under bias, with its stimulus log.

    Parameters
    ----------
    n_frames : int
    shape : tuple of int
        Frame shape (pixels).
    pixel_size : float
        A per pixel.
    frame_interval : float
        Time between frames, s (a subsampled movie: the seed recorded 25 fps).
    exposure : float
        Exposure per frame, s (0.04 s at 25 fps, “Imaging real-time amorphization of hybrid perovskite solar cells under electrical biasing”).
    dose_rate : float
        e/A^2/s; the mean counts per pixel are ``dose_rate * exposure *
        pixel_size**2`` (a counting camera, Poisson noise).
    fringe_contrast : float
        Fringe amplitude relative to the mean intensity.
    background_contrast : float
        Relative std of the mass-thickness background and, separately, of the
        amorphous speckle (about 2 px).
    grains : list of dict, optional
        ``name, phase, d (A), centre (y, x px), radius (px), angle (deg),
        region, amorphizes``; default a perovskite and a PbI2 grain in the
        biased region B and a perovskite grain in the control region A.
    bias_voltage : float
        Forward bias, V (1 V in “Imaging real-time amorphization of hybrid perovskite solar cells under electrical biasing”).
    bias_on : float
        Frame time at which the bias is switched on, s.
    onset_delay : float
        JMAK onset after switch-on, s.
    rate, exponent : float
        JMAK rate (1/s) and Avrami exponent.
    drift_velocity : tuple
        Linear drift (dy, dx), px/s.
    drift_jitter : float
        Random-walk drift per frame, px.
    log_interval : float
        Sampling interval of the stimulus log, s.
    log_lead : float
        The log starts this many seconds before the first frame (its clock
        is offset: attach with ``time_offset=-log_lead``).
    csv_path : str or pathlib.Path, optional
        Write the stimulus log there (``time (s), Bias setpoint (V),
        Current (uA)``) and attach it from the file.
    lazy : bool
        Return a lazy signal (frames generated on demand, chunked along time).
    chunk_frames : int
    seed : int

    Returns
    -------
    signal : InSituImageSeries
        With the stimulus record and the bias condition attached.
    truth : dict
        ``times``, ``bias_on``, ``onset``, ``rate``, ``exponent``,
        ``power_rate`` (JMAK rate of the fringe power), ``time_offset``,
        ``drift`` (content displacement per frame, px, (y,
        x)), ``grains`` (with ``roi`` in A as (left, right, top, bottom)),
        ``crystalline_fraction`` (n_grains, n_frames), ``dose_per_frame``,
        ``mean_counts``, ``fringe_power`` (expected ``(c * counts)**2 / 2``
        per fully crystalline, fully filled window).

    Examples
    --------
    >>> from hyperspy_perovskite.data.insitu_simulation import simulate_insitu_hrtem
    >>> s, truth = simulate_insitu_hrtem(n_frames=4, shape=(64, 64))
    >>> s.data.shape, truth["onset"]
    ((4, 64, 64), 60.0)
    """
    _check_parameters(
        n_frames, shape, pixel_size, frame_interval, exposure, dose_rate, rate,
        log_interval, exponent,
    )  # fmt: skip
    shape = (int(shape[0]), int(shape[1]))
    if grains is None:
        grains = _default_grains(shape)
    p = dict(
        n_frames=int(n_frames),
        shape=shape,
        pixel_size=float(pixel_size),
        frame_interval=float(frame_interval),
        exposure=float(exposure),
        dose_rate=float(dose_rate),
        fringe_contrast=float(fringe_contrast),
        background_contrast=float(background_contrast),
        grains=grains,
        bias_on=float(bias_on),
        onset_delay=float(onset_delay),
        rate=float(rate),
        exponent=float(exponent),
        drift_velocity=np.asarray(drift_velocity, dtype=float),
        drift_jitter=float(drift_jitter),
        seed=int(seed),
    )
    spec = _Specimen(p)
    s = _movie(spec, p, lazy, chunk_frames)
    _attach_log(s, spec, bias_voltage, bias_on, log_interval, log_lead, csv_path, seed)
    return s, _truth(spec, p, log_lead)


def _check_parameters(
    n_frames, shape, pixel_size, frame_interval, exposure, dose_rate, rate,
    log_interval, exponent,
):  # fmt: skip
    if int(n_frames) < 1:
        raise ValueError(f"n_frames must be >= 1, got {n_frames!r}.")
    if len(shape) != 2 or min(shape) < 16:
        raise ValueError(f"shape must be two sizes >= 16, got {shape!r}.")
    for name, val in (
        ("pixel_size", pixel_size),
        ("frame_interval", frame_interval),
        ("exposure", exposure),
        ("dose_rate", dose_rate),
        ("rate", rate),
        ("log_interval", log_interval),
    ):
        if not (np.isfinite(val) and val > 0):
            raise ValueError(f"{name} must be positive, got {val!r}.")
    if exponent < 1:
        raise ValueError(f"exponent must be >= 1, got {exponent!r}.")


def _movie(spec, p, lazy, chunk_frames):
    """The frames as an InSituImageSeries (lazy: generated chunk by chunk)."""
    import dask.array as da
    import hyperspy.api as hs
    from hyperspy.signals import LazySignal2D

    T, shape = p["n_frames"], p["shape"]
    if lazy:
        idx = da.arange(T, chunks=int(chunk_frames))
        data = da.map_blocks(
            spec.block,
            idx,
            dtype=np.float32,
            new_axis=[1, 2],
            chunks=(idx.chunks[0], (shape[0],), (shape[1],)),
            meta=np.empty((0, 0, 0), np.float32),
        )
        s = LazySignal2D(data)
    else:
        s = hs.signals.Signal2D(spec.block(np.arange(T)))
    s.set_signal_type("insitu_image_series")
    t_ax = s.axes_manager.navigation_axes[0]
    t_ax.name, t_ax.units, t_ax.offset = "time", "s", 0.0
    t_ax.scale = p["frame_interval"]
    for ax, name in zip(s.axes_manager.signal_axes, ("x", "y"), strict=True):
        ax.name, ax.units, ax.scale = name, "A", p["pixel_size"]
    s.metadata.General.title = "Simulated in situ HRTEM under bias"
    s.metadata.set_item("Acquisition_instrument.TEM.beam_energy", 300.0)
    s.metadata.set_item("Stimulus.Dose.dose_rate", p["dose_rate"])
    s.metadata.set_item("Stimulus.Dose.dose_rate_units", "e/A^2/s")
    return s


def _attach_log(s, spec, bias_voltage, bias_on, log_interval, log_lead, csv_path, seed):
    """The potentiostat log on its own clock (from ``log_lead`` s before the
    first frame), attached, and the bias condition."""
    from hyperspy_perovskite.stimulus import attach_stimulus, set_bias_condition

    t_end = spec.times[-1] + log_lead + 2 * log_interval
    t_log = np.arange(0.0, t_end, log_interval)
    t_frame = t_log - log_lead
    v = np.where(t_frame >= bias_on, float(bias_voltage), 0.0)
    lrng = np.random.default_rng(seed + 2)
    # measured current: a capacitive spike decaying to a steady ionic/electronic
    # current (shape of “Imaging real-time amorphization of hybrid perovskite solar cells under electrical biasing”, Fig. S2b), with noise
    on = t_frame >= bias_on
    tau = np.clip(t_frame - bias_on, 0, None)
    cur = np.where(on, 2.0 + 6.0 * np.exp(-tau / 20.0), 0.0)
    cur = cur + lrng.normal(0, 0.05, cur.size)
    if csv_path is not None:
        csv_path = os.fspath(csv_path)
        with open(csv_path, "w", encoding="utf-8") as f:
            f.write("# simulated potentiostat log (hyperspy_perovskite)\n")
            f.write("time (s), Bias setpoint (V), Current (uA)\n")
            for row in zip(t_log, v, cur, strict=True):
                f.write(f"{row[0]:.4f}, {row[1]:.6g}, {row[2]:.6g}\n")
        source = csv_path
    else:
        source = {
            "time": t_log,
            "Bias setpoint": (v, "V"),
            "Current": (cur, "uA"),
        }
    attach_stimulus(s, source, time_offset=-float(log_lead), inplace=True)
    set_bias_condition(
        s,
        "potentiostatic",
        voltage=float(bias_voltage),
        polarity="forward",
        duration=max(float(spec.times[-1] - bias_on), 0.0),
        anode="ITO",
        cathode="Au",
        start_time=float(bias_on),
    )


def _truth(spec, p, log_lead):
    """The ground truth of the simulated movie (see simulate_insitu_hrtem)."""
    px = p["pixel_size"]
    gtruth = []
    for g in p["grains"]:
        cy, cx = g["centre"]
        half = g["radius"] / np.sqrt(2)  # square inscribed in the disc
        gt = dict(g)
        gt["roi"] = (
            (cx - half) * px,
            (cx + half) * px,
            (cy - half) * px,
            (cy + half) * px,
        )
        gtruth.append(gt)
    mean_counts = p["dose_rate"] * p["exposure"] * px**2
    exponent, rate = p["exponent"], p["rate"]
    return {
        "times": spec.times,
        "bias_on": p["bias_on"],
        "onset": p["bias_on"] + p["onset_delay"],
        "rate": rate,
        "power_rate": float(2 ** (1 / exponent) * rate),
        "exponent": exponent,
        "time_offset": -float(log_lead),
        "drift": spec.drift,
        "grains": gtruth,
        "crystalline_fraction": spec.fractions,
        "dose_per_frame": float(p["dose_rate"] * p["exposure"]),
        "mean_counts": float(mean_counts),
        "fringe_power": float((p["fringe_contrast"] * mean_counts) ** 2 / 2),
        "pixel_size": px,
    }
