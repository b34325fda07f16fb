"""Simulated EELS line scan across a CsPbI3 / hybrid-glass interface.

Ground truth for the EELS edge profiles and interdiffusion fits, written
independently of them: after sintering, iodine diffuses about 10 nm into the
glass while Cs stays within about 1 nm of the interface (X. Li et al.,
"Interfacial alloying between lead halide perovskite crystals and hybrid
glasses", Nat. Commun. 14, 7612 (2023), doi:10.1038/s41467-023-43247-6).
Each element follows the erfc of two semi-infinite media (J. Crank, *The
Mathematics of Diffusion*, 2nd ed., 1975, eq. 2.14), blurred by a Gaussian
probe and averaged over each scan step. Spectra: a power-law background
(Egerton, *EELS in the Electron Microscope*, 3rd ed., 2011, sec. 3.5) and
delayed-maximum M4,5 edges (I, Cs, with the Cs white lines) and the Zn L2,3
and N K edges of the glass (ZIF-62: Zn imidazolate), Poisson counts.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.special import erfc

__all__ = ["simulate_eels_linescan"]

#: edge onset (eV), jump per unit concentration (counts/channel), decay
#: exponent above the edge, delay (eV) and rise width (eV) of the maximum
_EDGES = {
    "N_K": (401.0, 8.0, 3.0, 2.0, 2.0),
    "I_M45": (620.0, 30.0, 2.5, 15.0, 6.0),
    "Cs_M45": (726.0, 60.0, 2.5, 10.0, 4.0),
    "Zn_L23": (1020.0, 40.0, 2.0, 8.0, 4.0),
}


def _edge_shape(e, onset, jump, decay, delay, rise):
    step = 1.0 / (1.0 + np.exp(-(e - onset - delay) / rise))
    return jump * step * (np.maximum(e, onset) / onset) ** -decay * (e >= onset)


def simulate_eels_linescan(
    n_positions=121,
    step=0.5,
    lengths=None,
    probe_sigma=0.85,
    background=3000.0,
    energy=(350.0, 1100.0, 0.5),
    thickness_modulation=0.0,
    seed=0,
):
    """An EELS line scan across CsPbI3 (x < 0) / glass (x > 0).

    Parameters
    ----------
    n_positions : int
        Scan positions, centred on the interface.
    step : float
        Scan step (nm).
    lengths : dict, optional
        Diffusion lengths ``2 sqrt(D t)`` (nm) per element; default I 10 nm,
        Cs 1 nm, Zn and N 1.5 nm.
    probe_sigma : float
        Gaussian std of the probe (nm); a 2 nm FWHM probe is 0.85 nm.
    background : float
        Background counts per channel at the lowest energy loss.
    energy : (float, float, float)
        First and last energy loss and channel width (eV).
    thickness_modulation : float
        Relative amplitude of a thickness change along the scan (sine of
        44 nm period) that scales background and edges alike.
    seed : int

    Returns
    -------
    signal : exspy.signals.EELSSpectrum
        With the interface in ``metadata.Device.Geometry`` (``CsPbI3/glass``).
    truth : dict
        ``lengths`` (nm), ``probe_sigma`` (nm), ``concentration`` per element
        (the blurred, step-averaged profiles at the positions),
        ``positions`` (nm).

    Examples
    --------
    >>> from hyperspy_perovskite.data.eels_simulation import simulate_eels_linescan
    >>> s, truth = simulate_eels_linescan(seed=1)
    >>> s.axes_manager.navigation_shape, truth["lengths"]["I"]
    ((121,), 10.0)
    """
    import exspy  # noqa: F401  (registers the EELS signal type)
    from exspy.signals import EELSSpectrum

    from hyperspy_perovskite.signals.eels_linescan import set_linescan_interfaces

    rng = np.random.default_rng(seed)
    L = {"I": 10.0, "Cs": 1.0, "Zn": 1.5, "N": 1.5, **(lengths or {})}
    x = (np.arange(n_positions) - (n_positions - 1) / 2) * step
    fine_step = step / 20
    xf = np.arange(x[0] - step / 2 - 10, x[-1] + step / 2 + 10, fine_step)
    # left levels (perovskite) and right levels (glass), relative atoms
    levels = {"I": (3.0, 0.0), "Cs": (1.0, 0.0), "Zn": (0.0, 1.0), "N": (0.0, 4.0)}
    conc = {}
    for el, (cl, cr) in levels.items():
        c = cr + (cl - cr) / 2 * erfc(xf / L[el])
        c = gaussian_filter1d(c, probe_sigma / fine_step, mode="nearest")
        # average over each scan step (the probe moves during the dwell)
        conc[el] = np.array(
            [c[(xf >= a - step / 2) & (xf < a + step / 2)].mean() for a in x]
        )
    e = np.arange(energy[0], energy[1], energy[2]) + energy[2] / 2
    bkg = background * (e / e[0]) ** -3.2
    # thickness varies a little along the scan: background and edges scale
    t = 1.0 + thickness_modulation * np.sin(x / 7.0)
    spec = t[:, None] * bkg[None, :]
    for edge, par in _EDGES.items():
        el = edge.split("_")[0]
        shape = _edge_shape(e, *par)
        spec = spec + t[:, None] * conc[el][:, None] * shape[None, :]
        if el == "Cs":  # M5 and M4 white lines
            for e_w, a_w in ((728.0, 250.0), (742.0, 180.0)):
                lor = a_w / (1 + ((e - e_w) / 1.5) ** 2) / np.pi / 1.5
                spec = spec + t[:, None] * conc[el][:, None] * lor[None, :]
    counts = rng.poisson(spec).astype(float)
    s = EELSSpectrum(counts)
    nav = s.axes_manager.navigation_axes[0]
    nav.name, nav.units, nav.scale, nav.offset = "position", "nm", step, float(x[0])
    ax = s.axes_manager.signal_axes[0]
    ax.name, ax.units, ax.scale, ax.offset = "Energy loss", "eV", energy[2], float(e[0])
    s.metadata.General.title = "Simulated CsPbI3/glass EELS line scan"
    s.set_microscope_parameters(
        beam_energy=300.0, convergence_angle=20.0, collection_angle=50.0
    )
    set_linescan_interfaces(s, [0.0], layers=["CsPbI3", "glass"])
    return s, {
        "lengths": L,
        "probe_sigma": float(probe_sigma),
        "concentration": conc,
        "positions": x,
        "thickness_modulation": t,
    }
