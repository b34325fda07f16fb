"""EELS line scans across an interface: edge intensity profiles.

Works on exSpy's :class:`~exspy.signals.EELSSpectrum` (a line scan: one
navigation axis of positions, the energy loss as signal axis). The edge
onsets come from exSpy's element database; the background under each edge is
Egerton's power law fitted before the onset with Poisson weights, and each
intensity carries its variance
(:func:`~hyperspy_perovskite.analysis.eels_edges.edge_intensity`). The
profiles are measured from a named interface of the line scan's
:class:`~hyperspy_perovskite.metadata.DeviceGeometry`, and fit directly with
:func:`~hyperspy_perovskite.signals.migration_fit.fit_migration_profile`
(``kind="interdiffusion"``) for the diffusion length, e.g. iodine diffusing
~10 nm into a hybrid glass and Cs staying within ~1 nm after sintering
(X. Li et al., Nat. Commun. 14, 7612 (2023), doi:10.1038/s41467-023-43247-6).

Examples
--------
>>> from hyperspy_perovskite.data.eels_simulation import simulate_eels_linescan
>>> from hyperspy_perovskite.signals.eels_linescan import get_edge_profiles
>>> s, truth = simulate_eels_linescan(seed=0)
>>> p = get_edge_profiles(s, ["I_M45", "Cs_M45"], reference="CsPbI3/glass")
>>> p[0].axes_manager.signal_axes[0].units, p[0].metadata.General.title
('nm', 'I_M45 edge profile')
"""

from __future__ import annotations

import numpy as np
from exspy.material import elements as elements_db
from exspy.signals import EELSSpectrum
from hyperspy.signals import Signal1D

from hyperspy_perovskite.analysis.eels_edges import edge_intensity
from hyperspy_perovskite.metadata import DeviceGeometry, record_processing
from hyperspy_perovskite.signals._base import compute, resolve_options
from hyperspy_perovskite.signals._eds_geometry import options_doc
from hyperspy_perovskite.units import axis_factor, axis_values, parse_quantity

__all__ = ["get_edge_profiles", "set_linescan_interfaces", "edge_onset"]

_FIRST_SHELL = {"K": "K", "L23": "L3", "L3": "L3", "M45": "M5", "M5": "M5", "N45": "N5"}


def edge_onset(edge):
    """Onset energy (eV) of an edge such as ``"I_M45"`` from exSpy's database.

    Examples
    --------
    >>> from hyperspy_perovskite.signals.eels_linescan import edge_onset
    >>> edge_onset("Cs_M45"), edge_onset("O_K")
    (726.0, 532.0)
    """
    try:
        el, shell = edge.split("_")
        node = elements_db[el].Atomic_properties.Binding_energies
        return float(node[_FIRST_SHELL.get(shell, shell)]["onset_energy (eV)"])
    except (ValueError, KeyError, AttributeError) as exc:
        raise ValueError(
            f"{edge!r} is not an edge of exSpy's database; write element_shell, "
            "e.g. 'I_M45', 'Cs_M45', 'Zn_L23', 'O_K'."
        ) from exc


def _positions_nm(signal):
    nav = signal.axes_manager.navigation_axes
    if len(nav) != 1:
        raise ValueError(
            "An EELS line scan has one navigation axis (positions); this signal "
            f"has {len(nav)}. Take a line with s.inav[...] or a band average first."
        )
    return axis_values(nav[0], "nm", name="the line-scan position")


def set_linescan_interfaces(signal, interfaces, layers=None):
    """Write the interfaces of a line scan as its ``metadata.Device.Geometry``.

    Parameters
    ----------
    signal : EELSSpectrum
        Line scan (one navigation axis, a length).
    interfaces : sequence of float or str
        Positions on the scan axis (numbers in its unit, or ``"12 nm"``).
    layers : sequence of str, optional
        Layer names (one more than the interfaces), e.g.
        ``["CsPbI3", "glass"]`` names the interface ``"CsPbI3/glass"``.
    """
    x = _positions_nm(signal)
    unit = str(signal.axes_manager.navigation_axes[0].units)
    pos = [
        parse_quantity(p, "nm", name="interfaces", default_unit=unit) - x[0]
        for p in interfaces
    ]
    DeviceGeometry(
        (x[0], 0.0), (x[-1], 0.0), pos, None, list(layers or [])
    ).to_metadata(signal.metadata)


def _edge_block(block, energy, onset, width, window):
    i, v = edge_intensity(energy, block, onset, width, window)
    return np.stack([i, v], axis=-1)


@options_doc()
def get_edge_profiles(
    signal,
    edges,
    width=50.0,
    background_window=None,
    reference=None,
    show_progressbar=None,
    lazy_output=None,
    num_workers=None,
):
    """Background-subtracted edge intensity profiles with Poisson errors.

    Parameters
    ----------
    signal : exspy.signals.EELSSpectrum
        Line scan (raw counts), energy loss in eV.
    edges : sequence of str
        e.g. ``["I_M45", "Cs_M45", "Zn_L23"]`` (onsets from exSpy).
    width : float or dict
        Integration window above each onset (eV), or ``{edge: width}``.
    background_window : dict, optional
        ``{edge: (start, end)}`` pre-edge fit windows (eV); default
        ``(onset - 60, onset - 5)``.
    reference : str, optional
        Interface the distances are measured from (default: the first of
        ``metadata.Device.Geometry``, or the scan start).
    %(options)s

    Returns
    -------
    list of hyperspy.signals.Signal1D
        One profile per edge (signal axis: distance in nm from ``reference``),
        variance in ``metadata.Signal.Noise_properties.variance``.
    """
    if not isinstance(signal, EELSSpectrum):
        raise TypeError(
            "signal must be exSpy's EELSSpectrum (s.set_signal_type('EELS')), got "
            f"{type(signal).__name__}."
        )
    opts = resolve_options(
        signal,
        lazy_output=lazy_output,
        show_progressbar=show_progressbar,
        num_workers=num_workers,
    )
    x = _positions_nm(signal)
    eax = signal.axes_manager.signal_axes[0]
    energy = eax.axis * axis_factor(eax, "eV", name="the energy loss")
    geom = DeviceGeometry.from_metadata(signal.metadata, required=False)
    ref_name, ref_pos = "start", x[0]
    if geom is not None and (reference is not None or geom.interface_names):
        ref_name = reference or geom.interface_names[0]
        ref_pos = x[0] + geom.interface(ref_name)
    elif reference not in (None, "start"):
        raise ValueError(
            f"No interface {reference!r}: set them with set_linescan_interfaces()."
        )
    data = compute(signal.data, opts) if not opts.lazy_output else signal.data
    out = []
    for edge in edges:
        e0 = edge_onset(edge)
        w = float(width[edge] if isinstance(width, dict) else width)
        bw = (background_window or {}).get(edge, (e0 - 60.0, e0 - 5.0))
        if hasattr(data, "map_blocks"):  # dask: blockwise over the positions
            arr = data.rechunk({-1: -1})
            both = arr.map_blocks(
                _edge_block,
                energy=energy,
                onset=e0,
                width=w,
                window=tuple(bw),
                chunks=arr.chunks[:-1] + ((2,),),
                dtype=float,
            )
            inten, var = both[..., 0], both[..., 1]
        else:
            inten, var = edge_intensity(energy, data, e0, w, bw)
        prof = Signal1D(inten)
        vs = Signal1D(var)
        for sig in (prof, vs):
            ax = sig.axes_manager.signal_axes[0]
            ax.name, ax.units = f"Distance from {ref_name}", "nm"
            ax.scale, ax.offset = float(x[1] - x[0]), float(x[0] - ref_pos)
        if hasattr(inten, "map_blocks"):
            prof, vs = prof.as_lazy(), vs.as_lazy()
        prof.metadata.General.title = f"{edge} edge profile"
        prof.metadata.set_item("Signal.quantity", "Edge intensity (counts)")
        prof.metadata.set_item("Signal.Noise_properties.variance", vs)
        if geom is not None:
            geom.to_metadata(prof.metadata)
        prof.metadata.set_item("Device.Profile.reference", ref_name)
        record_processing(
            prof.metadata,
            "EELS_edge_intensity",
            edge=edge,
            onset_eV=e0,
            width_eV=w,
            background_window_eV=list(bw),
            background="power law, Poisson-weighted",
        )
        out.append(prof)
    return out
