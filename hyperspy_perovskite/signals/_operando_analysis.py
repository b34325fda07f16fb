"""The one-pass operando 4D-STEM analysis and its result.

:func:`analyse` (called as :meth:`Operando4DSTEM.analyse
<hyperspy_perovskite.signals.operando_4dstem.Operando4DSTEM.analyse>`) reads
every pattern once (:mod:`hyperspy_perovskite.analysis.diffraction.pipeline`)
and derives everything else from the per-pattern table: drift, strain maps
with uncertainties against a reference region, phase maps, and per
interface the strain and phase fractions vs time with the electrical record.
"""

from __future__ import annotations

import numpy as np

from hyperspy_perovskite.analysis.diffraction import interfaces as itf
from hyperspy_perovskite.analysis.diffraction import pipeline as pl
from hyperspy_perovskite.analysis.diffraction import products as prd
from hyperspy_perovskite.analysis.diffraction.registration import register_series
from hyperspy_perovskite.analysis.diffraction.strain import (
    STRAIN_REASONS,
    strain_reasons,
    strain_series,
    to_device_frame,
)
from hyperspy_perovskite.metadata import DeviceGeometry
from hyperspy_perovskite.signals._base import compute, resolve_options
from hyperspy_perovskite.signals.operando_4dstem import (
    diffraction_rotation as stored_rotation,
)
from hyperspy_perovskite.validity import Validity

__all__ = ["analyse", "OperandoAnalysis", "COMPONENTS", "to_device_frame"]

COMPONENTS = ("exx", "eyy", "exy", "theta")
_REASONS = STRAIN_REASONS


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
    alpha=1e-4,
    min_cluster=2,
    layer_phases=None,
    min_spots=3,
    max_redchi=5.0,
    reference_time="each",
    diffraction_rotation=None,
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
    phases : sequence of str, path or Phase
        Candidate product phases: library names
        (:func:`~hyperspy_perovskite.crystallography.list_phases`), paths of
        the user's CIF files (read with
        :func:`~hyperspy_perovskite.crystallography.read_cif`) or
        :class:`~hyperspy_perovskite.crystallography.Phase` objects.
    n_spots : int
        Strongest reference spots used for strain.
    half_window : int, optional
        Half size (px) of the spot fitting windows; default three widths of
        the direct beam (at least 4).
    interface_width, phase_width : float
        Full width (nm) of the bands at each interface for strain and phase
        fractions.
    alpha : float
        False-positive rate per pattern of the product test (a Friedel pair
        of spots on a candidate ring; Bonferroni over windows and rings,
        :mod:`~hyperspy_perovskite.analysis.diffraction.products`).
    min_cluster : int
        Product positions count only in 4-connected clusters of at least
        this many scan positions (a grain larger than the scan step).
    layer_phases : dict of str to str, optional
        Phase of a known layer of the device (``{"Al": "Al"}``): its rings are
        not tested inside that layer. Default: every layer whose name is a
        library phase.
    min_spots : int
        Fewer valid spots give no strain at that position.
    max_redchi : float
        Lattice fits with a larger reduced chi-squared are invalid.
    reference_time : {"each", "first"}
        Measure the reference lattice in every scan (cancels camera-length
        and descan drifts) or only in the first.
    diffraction_rotation : float or str, optional
        Rotation of the diffraction pattern relative to the scan (degrees,
        anticlockwise on the detector: a reciprocal vector along the scan x
        axis appears at this angle from kx; "2 deg" or "0.035 rad" accepted).
        With the stack direction of ``Device.Geometry`` it turns the strain
        into the device frame (see Returns). Default: the value stored by
        ``calibrate(rotation=...)`` in ``metadata.Diffraction_calibration``,
        else 0. The value used is stored with every result map.
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
        Strain in the device frame: ``exx`` along the stack (the growth
        direction, from ``Device.Geometry.start`` to ``end``, normal to the
        interfaces), ``eyy`` along the interfaces, ``exy`` the shear and
        ``theta`` the rigid rotation (rad, anticlockwise from the stack
        direction towards the interfaces' direction).
    """
    from hyperspy_perovskite.units import parse_quantity

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
    phases = [_phase(p) for p in phases]
    band_hw = max(2.0 * sig_beam, 1.5) * kpix
    plan = pl.make_plan(
        mean,
        int(ref0.sum()),
        kpix,
        beam_fit,
        dets,
        n_spots,
        hw,
        sig_beam,
        bands=(
            (
                lambda g: prd.make_bands(
                    phases, (g[0] + band_hw, g[1] - band_hw), band_hw, kpix=kpix
                )
            )
            if phases
            else None
        ),
    )
    table = compute(pl.process(signal.data, plan), opts)
    spots, det, prof, band_tab = pl.split(table, plan)
    images = {d.name: det[..., i] for i, d in enumerate(plan.detectors)}
    if drift:
        off_px, off_std, _ = register_series(images["ADF"])
    else:
        off_px, off_std = np.zeros((len(times), 2)), np.zeros((len(times), 2))
    offsets = off_px * step
    s = itf.stack_coordinate(y, x, offsets, geom.start, geom.end)
    if diffraction_rotation is None:
        diffraction_rotation = stored_rotation(signal.metadata, 0.0)
    rho = parse_quantity(diffraction_rotation, "degree", name="diffraction_rotation")
    psi = np.degrees(
        np.arctan2(geom.end[1] - geom.start[1], geom.end[0] - geom.start[0])
    )
    frame = np.radians(psi + rho)
    strain, ref_std = strain_series(
        to_device_frame(spots, frame), s, band, ref0, reference_time, min_spots
    )
    validity = _strain_validity(strain, min_spots, max_redchi)
    products = _products(
        band_tab,
        plan,
        geom,
        s,
        layer_phases,
        alpha,
        min_cluster,
        phase_width,
    )
    res = OperandoAnalysis(
        signal=signal,
        strain=strain,
        validity=validity,
        ref_std=ref_std,
        phases=[p.name for p in phases],
        products=products,
        images=images,
        beam=spots[..., 0, :4],
        offsets=offsets,
        offsets_std=off_std * step,
        s=s,
        geom=geom,
        times=times,
        plan=plan,
        reference_band=band,
        rotation=float(rho),
    )
    res._tables(interface_width, phase_width, halide)
    return res


def _strain_validity(strain, min_spots, max_redchi):
    return Validity(
        *strain_reasons(strain, min_spots, max_redchi),
        _REASONS,
        {"min_spots": int(min_spots), "max_redchi": float(max_redchi)},
    )


def _phase(p):
    """A library name, a Phase, or the path of a CIF file (read with read_cif)."""
    import os

    from hyperspy_perovskite.crystallography import get_phase, read_cif

    if isinstance(p, os.PathLike) or (
        isinstance(p, str) and p.lower().endswith((".cif", ".mcif"))
    ):
        return read_cif(p)
    return get_phase(p)


def _known_layers(geom, layer_phases):
    """``{layer: phase}`` of the device's layers that are known crystals."""
    from hyperspy_perovskite.crystallography import list_phases

    if layer_phases is None:
        return {n: n for n in geom.layers if n in list_phases()}
    out = dict(layer_phases)
    for n in out:
        if n not in geom.layers:
            raise ValueError(
                f"layer_phases names layer {n!r}; the device's layers are {geom.layers}."
            )
    return out


def _products(band_tab, plan, geom, s, layer_phases, alpha, min_cluster, margin):
    """Product detection and identification (see :mod:`.products`).

    Bands are not tested where a known crystal's own spots can fall in them:
    inside known layers (nanocrystalline: spots at any azimuth), bands within
    a spot's reach of the layer's rings. The single-crystal matrix's spots
    are masked and their tails modelled (:mod:`.pipeline`), so its rings are
    tested inside it.
    """
    if plan.bands is None:
        return None
    b = plan.bands
    pv = prd.band_pvalues(band_tab, b["n_half"])
    usable = np.isfinite(pv)
    reach = b.get("spot_reach", b["half_width"].min())
    # the matrix's spots are masked out to where their tails vanish and the
    # tails left beyond the mask are modelled in every pattern from the fitted
    # lattice (:func:`~.pipeline._matrix_model`): the rings that carry a
    # matrix reflection are tested inside the matrix too
    # the layer's own spots reach as far as the matrix's brightest
    # (measured, :func:`~.pipeline.product_mask`) beyond their ring
    k_range = (b["centre"].min() / 2, b["centre"].max() * 1.5)
    layer_rings = [
        (
            layer,
            geom.layer_bounds(layer),
            prd.make_bands([ph], k_range, 1e-9, n_rings=50)["centre"],
        )
        for layer, ph in _known_layers(geom, layer_phases).items()
    ]
    usable, excluded = itf.exclude_layer_rings(
        usable, b["centre"], b["half_width"], reach, s, layer_rings, margin
    )
    product, hits, p_min = prd.detect_products(pv, usable, alpha, min_cluster)
    possible, label = prd.identify(product, hits, b["compatible"])
    ntest = usable.sum(axis=-1)
    return {
        "product": product,
        "hits": hits,
        "p_min": p_min,
        "possible": possible,
        "label": label,
        "tested": ntest > 0,
        "angle": band_tab[..., 4],
        "bands": b,
        "excluded": excluded,
        "alpha": float(alpha),
        "min_cluster": int(min_cluster),
    }


from hyperspy_perovskite.signals._operando_result import OperandoAnalysis  # noqa: E402
