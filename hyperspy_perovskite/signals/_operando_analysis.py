"""The one-pass operando 4D-STEM analysis and its result.

:func:`analyse` (called as :meth:`Operando4DSTEM.analyse
<hyperspy_perovskite.signals.operando_4dstem.Operando4DSTEM.analyse>`) reads
every pattern once (:mod:`hyperspy_perovskite.analysis.diffraction.pipeline`)
and derives everything else from the per-pattern table: drift, strain maps
with uncertainties against a reference region, phase maps, and per
interface the strain and phase fractions vs time with the electrical record.
"""

from __future__ import annotations

import warnings

import numpy as np

from hyperspy_perovskite.analysis.diffraction import interfaces as itf
from hyperspy_perovskite.analysis.diffraction import pipeline as pl
from hyperspy_perovskite.analysis.diffraction.phases import ring_positions, ring_scores
from hyperspy_perovskite.analysis.diffraction.registration import register_series
from hyperspy_perovskite.analysis.diffraction.strain import (
    STRAIN_FIELDS,
    fit_strain,
    reference_vectors,
)
from hyperspy_perovskite.metadata import DeviceGeometry
from hyperspy_perovskite.signals._base import compute, resolve_options
from hyperspy_perovskite.validity import Validity

__all__ = ["analyse", "OperandoAnalysis", "COMPONENTS"]

COMPONENTS = ("exx", "eyy", "exy", "theta")
_REASONS = ("too few spots", "lattice misfit", "no strain fit")


def _geometry(signal, y, x):
    g = DeviceGeometry.from_signal(signal)
    step = max(
        abs(x[1] - x[0]) if len(x) > 1 else 1.0, abs(y[1] - y[0]) if len(y) > 1 else 1.0
    )
    lo_x, hi_x = x.min() - step, x.max() + step
    lo_y, hi_y = y.min() - step, y.max() + step
    for name, p in (("start", g.start), ("end", g.end)):
        if not (lo_x <= p[0] <= hi_x and lo_y <= p[1] <= hi_y):
            raise ValueError(
                f"Device.Geometry {name} {p} nm lies outside the scan (x {x.min():g} to "
                f"{x.max():g} nm, y {y.min():g} to {y.max():g} nm): the geometry belongs "
                "to another scan shape or calibration. Set it again with the scan axes in nm."
            )
    return g


def _reference_band(reference, geom):
    if reference is None:
        if not geom.layers:
            raise ValueError(
                "Give reference= (a layer name or (start, end) in nm along the stack)."
            )
        edges = [0.0, *geom.interface_positions, geom.length]
        i = int(np.argmax(np.diff(edges)))
        reference = geom.layers[i]
    if isinstance(reference, str):
        a, b = geom.layer_bounds(reference)
        return a + 0.25 * (b - a), b - 0.25 * (b - a)
    lo, hi = (float(v) for v in reference)
    if not hi > lo:
        raise ValueError(
            f"reference must be (start, end) nm along the stack, got {reference}."
        )
    return lo, hi


def _beam_width(mean, beam):
    from hyperspy_perovskite.analysis.diffraction.peaks import fit_spots

    f = fit_spots(mean[None] * 100.0, beam, np.zeros((0, 2)), 4, 6)[0, 0]
    if f[8] == 0:
        raise ValueError(
            "No direct beam at the calibrated origin of the first scan's reference "
            "region: set the centre (s.calibrate(..., center=(x, y)))."
        )
    return float(f[6]), (float(f[0]), float(f[1]))


def analyse(
    signal,
    reference=None,
    phases=("Pb", "PbBr2", "CsPb2Br5"),
    n_spots=8,
    half_window=None,
    interface_width=3.0,
    phase_width=3.0,
    n_sigma_phase=5.0,
    min_spots=3,
    max_redchi=5.0,
    reference_time="each",
    drift=True,
    halide=None,
    show_progressbar=None,
    num_workers=None,
):
    """Strain, phases, drift and the interface timeline of an operando series.

    Parameters
    ----------
    signal : Operando4DSTEM
        Calibrated (1/A), with ``metadata.Device.Geometry`` and, for the
        electrical record and the bias-induced change, ``metadata.Stimulus``.
    reference : str, (float, float) or None
        Unstrained reference region: a layer name (its middle half), or a
        range (nm) along the stack; default the middle of the widest layer.
    phases : sequence of str
        Candidate phases (:func:`~hyperspy_perovskite.crystallography.list_phases`).
    n_spots : int
        Strongest reference spots used for strain.
    half_window : int, optional
        Half size (px) of the spot fitting windows; default three widths of
        the direct beam (at least 4).
    interface_width, phase_width : float
        Full width (nm) of the bands at each interface for strain and phase
        fractions.
    n_sigma_phase : float
        A phase is present where its ring amplitude exceeds this many std.
    min_spots : int
        Fewer valid spots give no strain at that position.
    max_redchi : float
        Lattice fits with a larger reduced chi-squared are invalid.
    reference_time : {"each", "first"}
        Measure the reference lattice in every scan (cancels camera-length
        and descan drifts) or only in the first.
    drift : bool
        Correct positions for sample drift between scans (from the ADF
        series) when assigning them to bands.
    halide : Signal1D, optional
        EDX halide signal vs time (time axis in s), put on the timeline.
    show_progressbar, num_workers
        As for :meth:`hyperspy.signal.BaseSignal.map`.

    Returns
    -------
    OperandoAnalysis
    """
    from hyperspy_perovskite.signals.operando_4dstem import _PYXEM_UNITS  # noqa: F401

    signal._check_series()
    if reference_time not in ("each", "first"):
        raise ValueError(
            f"reference_time must be 'each' or 'first', got {reference_time!r}."
        )
    opts = resolve_options(
        signal,
        lazy_output=False,
        show_progressbar=show_progressbar,
        num_workers=num_workers,
    )
    y, x, times, step = signal._scan()
    geom = _geometry(signal, y, x)
    kpix, beam = signal._kpix_beam()
    band = _reference_band(reference, geom)
    s0 = itf.stack_coordinate(y, x, np.zeros((1, 2)), geom.start, geom.end)[0]
    ref0 = (s0 >= band[0]) & (s0 <= band[1])
    if ref0.sum() < 2:
        raise ValueError(
            f"The reference region {band} nm holds {ref0.sum()} scan positions."
        )
    k = signal.axes_manager.signal_shape[0]
    first = signal.data[0].reshape((-1, k, k))[np.flatnonzero(ref0.ravel())]
    mean = np.asarray(compute(first.mean(axis=0), opts), float)
    sig_beam, beam_fit = _beam_width(mean, beam)
    hw = int(half_window) if half_window else max(4, int(np.ceil(3 * sig_beam)))
    dets = signal._detectors(None, kpix, None)
    plan = pl.make_plan(
        mean, int(ref0.sum()), kpix, beam_fit, dets, n_spots, hw, sig_beam
    )
    table = compute(pl.process(signal.data, plan), opts)
    spots, det, prof = pl.split(table, plan)
    images = {d.name: det[..., i] for i, d in enumerate(plan.detectors)}
    if drift:
        off_px, off_std, _ = register_series(images["ADF"])
    else:
        off_px, off_std = np.zeros((len(times), 2)), np.zeros((len(times), 2))
    offsets = off_px * step
    s = itf.stack_coordinate(y, x, offsets, geom.start, geom.end)
    strain, ref_std = _strain(spots, s, band, ref0, reference_time, min_spots)
    validity = _strain_validity(strain, min_spots, max_redchi)
    phase_z, phase_valid, rings_used = _phases(prof, plan, list(phases))
    res = OperandoAnalysis(
        signal=signal,
        strain=strain,
        validity=validity,
        ref_std=ref_std,
        phases=list(phases),
        phase_z=phase_z,
        phase_valid=phase_valid,
        n_sigma_phase=n_sigma_phase,
        images=images,
        beam=spots[..., 0, :4],
        offsets=offsets,
        offsets_std=off_std * step,
        s=s,
        geom=geom,
        times=times,
        plan=plan,
        reference_band=band,
    )
    res._tables(interface_width, phase_width, halide)
    return res


def _strain(spots, s, band, ref0, reference_time, min_spots):
    t = spots.shape[0]
    out = np.empty(spots.shape[:3] + (len(STRAIN_FIELDS),))
    ref_std = np.zeros((t, 4))
    g0 = None
    w = spots[..., 1:, 6][ref0[None] & (spots[..., 1:, 8] > 0).all(axis=-1)]
    sw = float(np.nanmedian(w)) if w.size else np.nan
    srange = (0.6 * sw, 1.6 * sw) if np.isfinite(sw) else (0.0, np.inf)
    for i in range(t):
        mask = ((s[i] >= band[0]) & (s[i] <= band[1])) if i else ref0
        if reference_time == "each" or g0 is None:
            g0, _ = reference_vectors(spots[i], mask)
        out[i] = fit_strain(spots[i], g0, min_spots, srange)
        r = out[i][mask]
        ok = np.isfinite(r[:, 0])
        if ok.sum() > 1:
            # the reference lattice is a mean over the region: its error is common
            # to every position of the scan
            ref_std[i] = r[ok, :4].std(axis=0, ddof=1) / np.sqrt(ok.sum())
    return out, ref_std


def _strain_validity(strain, min_spots, max_redchi):
    n = strain[..., 8]
    red = strain[..., 9]
    reasons = np.zeros(n.shape, np.uint32)
    reasons |= np.where(n < min_spots, 1, 0).astype(np.uint32)
    reasons |= np.where(np.isfinite(red) & (red > max_redchi), 2, 0).astype(np.uint32)
    bad = ~np.isfinite(strain[..., :8]).all(axis=-1)
    reasons |= np.where(bad & (n >= min_spots), 4, 0).astype(np.uint32)
    return Validity(
        reasons == 0,
        reasons,
        _REASONS,
        {"min_spots": int(min_spots), "max_redchi": float(max_redchi)},
    )


def _phases(prof, plan, phases, n_rings=4):
    """Per pattern and phase: the mean z-score of its two best rings.

    Scores are the counts of the ring band (0.8 px each side) above the local
    background of the neighbouring bands (:func:`ring_scores`). Rings that fall on a ring of the
    matrix crystal (its reference spots) are left out: the matrix's masked
    spots leak there. Returns the scores, the validity and, per phase, the
    rings used.
    """
    if not phases:
        return np.zeros(prof.shape[:-1] + (0,)), np.ones(prof.shape[:-1], bool), []
    e = plan.edges
    hw = 0.8 * plan.kpix
    rings = ring_positions(phases, (e[0] + 4 * hw, e[-1] - 4 * hw), n_rings)
    used = rings
    for i, r in enumerate(rings):
        close = [
            phases[j]
            for j, q in enumerate(rings)
            if j != i and np.min(np.abs(np.subtract.outer(r[:2], q))) < 2 * hw
        ]
        if close:
            warnings.warn(
                f"{phases[i]}: its strongest rings lie within {2 * hw:.3f} 1/A of rings of "
                f"{', '.join(close)} at this calibration; each pattern goes to the phase "
                "with the most significant rings, which may confuse them. Compare "
                "phases=[...] one at a time, or use a longer camera length.",
                UserWarning,
                stacklevel=3,
            )
    nb = prof.shape[-1] // 2
    z = ring_scores(
        prof[..., :nb], plan.npix[plan.n_det : plan.n_det + nb], e, used, hw
    )
    zs = -np.sort(-np.where(np.isfinite(z), z, -np.inf), axis=-1)
    # two rings: a single band can be any phase's; the mean of the two best
    score = zs[..., 0] if zs.shape[-1] < 2 else 0.5 * (zs[..., 0] + zs[..., 1])
    return score, np.isfinite(prof).all(axis=-1), used


from hyperspy_perovskite.signals._operando_result import OperandoAnalysis  # noqa: E402
