"""Physics-based simulator of an in situ SAED movie under bias, with ground truth.

The scene follows “Imaging real-time amorphization of hybrid perovskite solar cells under electrical biasing” (Fig. 2, S6): a polycrystalline
perovskite film under 1 V forward bias for 300 s.

* Debye-Scherrer rings of every {hkl} family of an ideal cubic perovskite
  (:func:`cubic_perovskite_rings`: lattice, families and structure factors
  computed here, independently of the crystallography code the analysis
  uses), with kinematic ring intensity ``multiplicity |F|^2 / g^2``
  (electron scattering factors, International Tables Vol. C 4.3.2.3) and a
  Gaussian radial profile of standard deviation ``ring_width`` (1/A), out to
  the corners of the frame.
* The pattern centre may sit ``center_offset`` pixels from the origin of the
  axes (an off-centre beam), with or without a direct beam.
* Facet-dependent amorphization (“Imaging real-time amorphization of hybrid perovskite solar cells under electrical biasing”: "(001)/(002) fade, (111) and
  (022) remain"): the families in ``fading`` lose intensity after the onset
  ``t0`` following JMAK kinetics ``residual + (1 - residual)
  exp(-(k (t - t0))^n)``; the others stay constant.
* The amorphous ring grows at ``halo_d``, by default the (002) d-spacing
  (“Imaging real-time amorphization of hybrid perovskite solar cells under
  electrical biasing”: "the amorphous ring mostly overlapped with d-spacing
  of (002)"); its amplitude is
  proportional to the crystalline intensity lost, ``halo_gain`` times it.
* Optional single-crystal spots of one grain along a zone axis, fading with
  their family, for spot indexing.
* A diffuse background ``background (1 + 4 (0.05 / (g + 0.05))^2)`` (in
  units of ``counts``); Poisson noise at ``counts`` electrons for the
  brightest ring's peak.
* A bias record (0 V, then ``bias_voltage`` from ``bias_on``) is attached as
  the stimulus record.

Frames are generated lazily chunk by chunk (deterministic per frame), so the
eager and lazy series are identical and a long movie never sits in memory.
"""

from __future__ import annotations

import dask.array as da
import numpy as np

from hyperspy_perovskite.analysis.kinetics import jmak
from hyperspy_perovskite.crystallography import get_phase

__all__ = ["simulate_saed_series", "cubic_perovskite_rings", "truth_in_range"]


def _electron_f(element, s2):
    """Electron scattering factor (International Tables C 4.3.2.3 fits)."""
    from diffsims.utils.atomic_scattering_params import ATOMIC_SCATTERING_PARAMS

    c = np.asarray(ATOMIC_SCATTERING_PARAMS[element])
    return np.sum(c[:, 0] * np.exp(-np.outer(s2, c[:, 1])), axis=1)


def cubic_perovskite_rings(phase, g_max):
    """Rings of an ideal cubic perovskite, computed here from first principles.

    Written independently of :mod:`hyperspy_perovskite.crystallography`
    (which the analysis uses): every ``hkl`` of the primitive cubic lattice
    with ``g <= g_max`` is enumerated, grouped by ``sorted(|h|, |k|, |l|)``
    (the m-3m families) and given ``|F|^2`` from the atoms of the ideal
    Pm-3m sites (1a, 1b, 3c, 3d: every position is a permutation of 0 and
    1/2, so its orbit is the set of its permutations).

    Returns
    -------
    list of (label, g, members, intensity)
        ``members`` the list of (h, k, l), ``intensity`` ``sum |F|^2``.
    """
    ph = get_phase(phase)
    if ph.space_group.replace(" ", "") != "Pm-3m" or not ph.atoms:
        raise ValueError(
            f"Phase {ph.name!r} has no atom sites of an ideal cubic (Pm-3m) "
            "perovskite; the simulator needs them (e.g. 'alpha-FAPbI3', "
            "'alpha-CsPbI3', 'cubic-CsPbBr3')."
        )
    from itertools import permutations

    sites = []
    for el, x, y, z, occ in ph.atoms:
        p = (x, y, z)
        if any(v not in (0.0, 0.5) for v in p):
            raise ValueError(f"Atom {el} of {ph.name} is not on an ideal site.")
        sites += [(el, q, occ) for q in set(permutations(p))]
    a = ph.a
    hmax = int(np.floor(g_max * a))
    rng = np.arange(-hmax, hmax + 1)
    H = np.array(np.meshgrid(rng, rng, rng, indexing="ij")).reshape(3, -1).T
    H = H[np.any(H != 0, axis=1)]
    g = np.sqrt((H**2).sum(1)) / a
    H, g = H[g <= g_max], g[g <= g_max]
    s2 = (g / 2) ** 2
    F = np.zeros(len(H), complex)
    for el, q, occ in sites:
        F += occ * _electron_f(el, s2) * np.exp(2j * np.pi * (H @ np.array(q)))
    key = np.sort(np.abs(H), axis=1)
    out = {}
    for h, k_, gi, Fi in zip(H, map(tuple, key), g, F, strict=True):
        e = out.setdefault(k_, [gi, [], 0.0])
        e[1].append(tuple(int(v) for v in h))
        e[2] += abs(Fi) ** 2
    rings = [("".join(str(v) for v in k_), e[0], e[1], e[2]) for k_, e in out.items()]
    return sorted(rings, key=lambda r: (r[1], r[0]))


def _family_templates(phase, size, scale, ring_width, spot_zone, spot_fraction, c0):
    """Unit-amplitude image of each family (ring + optional spots)."""
    ph = get_phase(phase)
    g_max = (size // 2 - 2) * scale * np.sqrt(2) + 4 * ring_width
    rings = cubic_perovskite_rings(ph, g_max)
    c = np.arange(size)
    gy, gx = np.meshgrid((c - c0[1]) * scale, (c - c0[0]) * scale, indexing="ij")
    gr = np.hypot(gx, gy)
    weights = np.array([r[3] / r[1] ** 2 for r in rings])
    weights = weights / weights.max()
    templates = []
    zone = None if spot_zone is None else np.asarray(parse_hkl(spot_zone), float)
    for (_, gf, members, _), w in zip(rings, weights, strict=True):
        img = w * np.exp(-0.5 * ((gr - gf) / ring_width) ** 2)
        if zone is not None and w > 0.01:
            # spots of one grain: family members perpendicular to the zone
            # axis, placed in the plane with the cubic-metric in-plane basis
            e1 = (
                np.array([0.0, 1.0, 0.0]) if zone[0] != 0 else np.array([1.0, 0.0, 0.0])
            )
            e2 = np.cross(zone, e1)
            e2 = e2 / np.linalg.norm(e2)
            for h in members:
                h = np.asarray(h, float)
                if abs(h @ zone) > 1e-9:
                    continue
                gvec = h / ph.a
                x0, y0 = gvec @ e1, gvec @ e2
                img = (
                    img
                    + spot_fraction
                    * w
                    * np.exp(
                        -0.5 * ((gx - x0) ** 2 + (gy - y0) ** 2) / (1.5 * scale) ** 2
                    )
                    * (ring_width / (1.5 * scale))
                    * 8
                )
        templates.append(img)
    return rings, np.array(templates), gr


def _parse_hkl(hkl):
    txt = str(hkl).strip("()[] ")
    vals = [int(v) for v in (txt.split(",") if "," in txt else list(txt))]
    if len(vals) != 3:
        raise ValueError(f"Cannot read Miller indices from {hkl!r}.")
    return tuple(vals)


parse_hkl = _parse_hkl


def _radial_sums(img, c0, scale, nb):
    """Sum of an image in radial bins of one pixel about ``c0`` (x, y)."""
    ny, nx = img.shape[-2:]
    yy, xx = np.mgrid[:ny, :nx]
    b = np.floor(np.hypot(xx - c0[0], yy - c0[1])).astype(int)
    ok = b < nb
    flat = img.reshape(-1, ny * nx)[:, ok.ravel()]
    out = np.zeros((flat.shape[0], nb))
    for i in range(flat.shape[0]):
        out[i] = np.bincount(b[ok], weights=flat[i], minlength=nb)
    return out


def simulate_saed_series(
    n_frames=41,
    frame_interval=7.5,
    size=128,
    scale=0.01,
    phase="alpha-FAPbI3",
    beam_energy=300.0,
    fading=("001", "002"),
    t0=60.0,
    rate=0.012,
    avrami_n=2.0,
    residual=0.15,
    halo_gain=0.6,
    halo_d=None,
    halo_width=0.06,
    ring_width=0.015,
    counts=400.0,
    background=0.05,
    spot_zone=None,
    spot_fraction=0.0,
    bias_on=30.0,
    bias_voltage=1.0,
    noise=True,
    seed=0,
    lazy=False,
    chunk_frames=8,
    center_offset=(0.0, 0.0),
    direct_beam=0.0,
):
    """Simulate an SAED movie with fading {hkl} families and a growing halo.

    Parameters
    ----------
    n_frames : int
        Number of frames (>= 6).
    frame_interval : float
        Time between frames in s.
    size : int
        Frame size in pixels (square, >= 32).
    scale : float
        Camera calibration in 1/A per pixel.
    phase : str
        Library phase with atom sites (default alpha-FAPbI3, “Imaging real-time amorphization of hybrid perovskite solar cells under electrical biasing”).
    beam_energy : float
        kV, written to the metadata.
    fading : sequence of str
        {hkl} families that amorphize.
    t0, rate, avrami_n, residual : float
        JMAK onset (s), rate (1/s), exponent and remaining fraction of the
        fading families.
    halo_gain : float
        Halo integrated intensity per unit of crystalline intensity lost.
    halo_d : float or None
        d-spacing (A) of the amorphous halo; default the phase's (002).
    halo_width, ring_width : float
        Gaussian radial standard deviations (1/A) of the halo and the rings.
    counts : float
        Expected counts at the peak of the brightest ring.
    background : float
        Diffuse background level relative to ``counts``.
    spot_zone : str or None
        Zone axis of a single grain whose spots are added (e.g. ``"100"``).
    spot_fraction : float
        Spot strength relative to the ring of the same family.
    bias_on, bias_voltage : float
        Bias switch-on time (s) and voltage (V) of the stimulus record.
    noise : bool
        Poisson noise.
    seed : int
    lazy : bool
        Return a lazy signal chunked along time (``chunk_frames`` per chunk).
    center_offset : (float, float)
        Position (x, y) of the pattern centre in pixels from the origin of
        the diffraction axes (the frame centre): an off-centre beam.
    direct_beam : float
        Peak counts of the direct beam (0: none, as behind a beam stop).

    Returns
    -------
    signal : InSituSAEDSeries or LazyInSituSAEDSeries
    truth : dict
        ``time``, ``families`` (labels), ``d`` (A), ``fading`` (bool per
        family), ``amplitude`` (n_families, n_frames) ring peak amplitudes,
        ``integrated`` (n_families, n_frames) counts per family per frame,
        ``halo_integrated`` (n_frames,), ``halo_fraction`` (n_frames,),
        ``crystalline_fraction`` (n_frames,) of the fading families, ``t0``,
        ``rate``, ``avrami_n``, ``residual``, ``bias_on``, ``halo_d``,
        ``ring_width``, ``halo_width``, ``center`` (x, y) px, and the
        unit-amplitude radial sums of each ring and the halo about the true
        centre (``radial_g``, ``ring_radial``, ``halo_radial``) for
        :func:`truth_in_range`.

    Raises
    ------
    ValueError
        For sizes, counts or kinetics out of range, or unknown families.

    Examples
    --------
    >>> from hyperspy_perovskite.data.saed_simulation import simulate_saed_series
    >>> s, truth = simulate_saed_series(n_frames=8, size=64, scale=0.02)
    >>> s
    <InSituSAEDSeries, title: Simulated SAED series, dimensions: (8|64, 64)>
    >>> truth["families"][:4]
    ['001', '011', '111', '002']
    """
    _check_inputs(
        n_frames, size, frame_interval, scale, counts, ring_width, halo_width, rate
    )
    if avrami_n < 1 or not 0 <= residual < 1:
        raise ValueError("Need avrami_n >= 1 and 0 <= residual < 1.")
    ph = get_phase(phase)
    c0 = (
        int(size) // 2 + float(center_offset[0]),
        int(size) // 2 + float(center_offset[1]),
    )
    rings, templates, gr = _family_templates(
        ph, int(size), scale, ring_width, spot_zone, spot_fraction, c0
    )
    fade = _fading_mask(rings, fading, ph.name)
    t = np.arange(int(n_frames)) * float(frame_interval)
    X = jmak(t, 1.0 - residual, rate, avrami_n, t0, residual=residual)
    amp = np.where(fade[:, None], X[None, :], 1.0) * counts  # (n_fam, n_frames)
    integrated = amp * templates.sum(axis=(1, 2))[:, None]
    if halo_d is None:  # (002) of the cubic cell
        halo_d = ph.a / 2.0
    halo_img = np.exp(-0.5 * ((gr - 1.0 / halo_d) / halo_width) ** 2)
    halo_integrated = halo_gain * (integrated[:, :1] - integrated).sum(axis=0)
    halo_amp = halo_integrated / halo_img.sum()
    # diffuse background decaying with g (inelastic / thermal diffuse), and
    # the direct beam (Gaussian, 1.5 px standard deviation)
    bg_img = counts * background * (1.0 + 4.0 * (0.05 / (gr + 0.05)) ** 2)
    bg_img = bg_img + float(direct_beam) * np.exp(-0.5 * (gr / (1.5 * scale)) ** 2)
    nb = int(np.ceil(np.hypot(size, size)))
    radial = _radial_sums(np.concatenate([templates, halo_img[None]]), c0, 1.0, nb)
    arr = _frames(amp, templates, halo_amp, halo_img, bg_img, noise, seed, chunk_frames)
    s = _series(arr, lazy, frame_interval, size, scale, beam_energy, ph.name)
    tlog = np.arange(0.0, t[-1] + frame_interval, frame_interval / 4)
    v = np.where(tlog >= bias_on, float(bias_voltage), 0.0)
    from hyperspy_perovskite.stimulus import attach_stimulus

    attach_stimulus(s, {"time": tlog, "Bias setpoint": (v, "V")}, inplace=True)
    truth = {
        "time": t,
        "families": [r[0] for r in rings],
        "d": np.array([1.0 / r[1] for r in rings]),
        "fading": fade,
        "amplitude": amp,
        "integrated": integrated,
        "halo_integrated": halo_integrated,
        "halo_fraction": halo_integrated / (halo_integrated + integrated.sum(axis=0)),
        "crystalline_fraction": X,
        "t0": float(t0),
        "rate": float(rate),
        "avrami_n": float(avrami_n),
        "residual": float(residual),
        "bias_on": float(bias_on),
        "halo_d": float(halo_d),
        "ring_width": float(ring_width),
        "halo_width": float(halo_width),
        "center": np.array(c0),
        "radial_g": (np.arange(nb) + 0.5) * float(scale),
        "ring_radial": radial[:-1],
        "halo_radial": radial[-1],
    }
    return s, truth


def _check_inputs(n_frames, size, *positive):
    if int(n_frames) < 6 or int(size) < 32:
        raise ValueError(f"Need n_frames >= 6 and size >= 32, got {n_frames}, {size}.")
    names = ("frame_interval", "scale", "counts", "ring_width", "halo_width", "rate")
    for name, v in zip(names, positive, strict=True):
        if not (np.isfinite(v) and v > 0):
            raise ValueError(f"{name} must be positive, got {v}.")


def _frames(amp, templates, halo_amp, halo_img, bg_img, noise, seed, chunk_frames):
    """The movie as a dask array, generated chunk by chunk (deterministic per frame)."""
    n_frames = amp.shape[1]
    shape = halo_img.shape
    T = templates.reshape(templates.shape[0], -1).astype(np.float64)
    H = halo_img.ravel()
    B = bg_img.ravel()

    def _block(block_info=None):
        lo, hi = block_info[None]["array-location"][0]
        out = np.empty((hi - lo,) + shape, dtype=np.float32)
        for j, i in enumerate(range(lo, hi)):
            clean = amp[:, i] @ T + halo_amp[i] * H + B
            if noise:
                rng = np.random.default_rng([seed, i])
                clean = rng.poisson(clean)
            out[j] = clean.reshape(shape)
        return out

    chunks = (min(int(chunk_frames), n_frames), -1, -1)
    return da.map_blocks(
        _block,
        chunks=da.core.normalize_chunks(chunks, (n_frames,) + shape),
        dtype=np.float32,
        meta=np.empty((0, 0, 0), np.float32),
    )


def _series(arr, lazy, frame_interval, size, scale, beam_energy, phase_name):
    """The (lazy) InSituSAEDSeries with calibrated axes and metadata."""
    from hyperspy_perovskite.signals.insitu_diffraction import (
        InSituSAEDSeries,
        LazyInSituSAEDSeries,
    )

    s = LazyInSituSAEDSeries(arr) if lazy else InSituSAEDSeries(arr.compute())
    s.metadata.General.title = "Simulated SAED series"
    tax = s.axes_manager.navigation_axes[0]
    tax.name, tax.units, tax.scale, tax.offset = "time", "s", float(frame_interval), 0.0
    for ax, name in zip(s.axes_manager.signal_axes, ("kx", "ky"), strict=True):
        ax.name, ax.units, ax.scale = name, "k_A^-1", float(scale)
        ax.offset = -(int(size) // 2) * float(scale)  # origin: frame centre
    s.metadata.set_item("Acquisition_instrument.TEM.beam_energy", float(beam_energy))
    s.metadata.set_item("Sample.phase", phase_name)
    return s


def _fading_mask(rings, fading, name):
    labels = [r[0] for r in rings]
    fade = np.zeros(len(rings), bool)
    for h in fading:
        lbl = "".join(str(v) for v in sorted(abs(v) for v in _parse_hkl(h)))
        if lbl not in labels:
            raise ValueError(
                f"Family {h!r} is not an allowed reflection of {name} inside "
                f"the frame; allowed: {labels}."
            )
        fade[labels.index(lbl)] = True
    return fade


def truth_in_range(truth, g_lo, g_hi):
    """Ring counts (n_families, n_frames) and halo counts (n_frames,) within
    ``g_lo <= g < g_hi`` (1/A) of the true centre, from the simulated images.

    Examples
    --------
    >>> from hyperspy_perovskite.data.saed_simulation import (
    ...     simulate_saed_series, truth_in_range)
    >>> s, truth = simulate_saed_series(n_frames=6, size=64, scale=0.02)
    >>> rings, halo = truth_in_range(truth, 0.0, 10.0)
    >>> bool(np.allclose(rings, truth["integrated"]))
    True
    """
    g = truth["radial_g"]
    sel = (g >= g_lo) & (g < g_hi)
    unit_r = truth["ring_radial"][:, sel].sum(1)
    unit_h = truth["halo_radial"][sel].sum()
    unit_all = truth["halo_radial"].sum()
    rings = truth["amplitude"] * unit_r[:, None]
    halo = truth["halo_integrated"] * unit_h / unit_all
    return rings, halo
