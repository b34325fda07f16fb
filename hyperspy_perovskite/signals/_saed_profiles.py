"""Azimuthal profiles of an SAED series about each frame's own centre
(the whole-pixel route of
:meth:`~hyperspy_perovskite.signals.insitu_diffraction.InSituSAEDSeries.azimuthal_profile`)."""

import dask.array as da
import numpy as np
from hyperspy.signals import Signal1D

from hyperspy_perovskite.analysis import saed_geometry

__all__ = ["profile_about"]


def profile_about(signal, center, npt, radial_range, mask, lazy_output):
    """Whole pixels of every frame summed in one-pixel radial bins about the
    frame's centre (``center``: a method of
    :meth:`~.InSituSAEDSeries.direct_beam_positions` or positions in px), with
    the pixels per bin and per sub-bin of radius stored for the bin model."""
    ax_x, ax_y = signal.axes_manager.signal_axes
    n = signal.axes_manager.navigation_shape[0]
    if isinstance(center, str):
        centers, _ = signal.direct_beam_positions(method=center)
        centers = saed_geometry.steady_centres(centers)
    else:
        centers = np.broadcast_to(np.asarray(center, float), (n, 2)).copy()
    if not np.all(np.isfinite(centers)):
        raise ValueError(
            "No centre found in some frames; use center='rings' or give the "
            "positions (x, y) in pixels."
        )
    if npt is None:
        npt = int(np.ceil(np.hypot(ax_x.size, ax_y.size)))
    keep = None if mask is None else ~np.asarray(mask, bool)

    def _block(block, block_info=None):
        lo = block_info[0]["array-location"][0][0] if block_info else 0
        f = np.asarray(block, float)
        if keep is not None:
            f = f * keep
        c = centers[lo : lo + f.shape[0]]
        return saed_geometry.radial_profiles(f, c, 1.0, npt)

    data = signal.data
    if isinstance(data, da.Array):
        data = data.rechunk({1: -1, 2: -1})
        prof = da.map_blocks(
            _block,
            data,
            drop_axis=[1, 2],
            new_axis=1,
            chunks=(data.chunks[0], (int(npt),)),
            dtype=float,
        )
        if lazy_output is False:
            prof = prof.compute()
    else:
        prof = _block(data)
    out = Signal1D(prof, metadata=signal.metadata.deepcopy().as_dictionary())
    if isinstance(prof, da.Array):
        out = out.as_lazy()
    out.metadata.Signal.signal_type = ""
    ax = out.axes_manager.signal_axes[0]
    ax.name, ax.units, ax.scale, ax.offset = (
        "g",
        "k_A^-1",
        ax_x.scale,
        ax_x.scale / 2,
    )
    signal._copy_time_nav(out)
    out.metadata.General.title = f"Azimuthal profile of {signal.metadata.General.title}"
    out.metadata.set_item("Diffraction_analysis.centers", centers)
    # pixels per bin (small annuli of whole pixels are jagged): the
    # profile models multiply an intensity per pixel by it
    ny, nx = ax_y.size, ax_x.size
    ones = np.ones((1, ny, nx)) if keep is None else keep[None].astype(float)
    npix = saed_geometry.radial_profiles(ones, centers.mean(0)[None], 1.0, npt)
    out.metadata.set_item("Diffraction_analysis.pixels_per_bin", npix[0])
    # and their radii within each bin, for the ring and halo models
    sub = saed_geometry.pixels_per_subbin((ny, nx), centers.mean(0), npt, 8, keep)
    out.metadata.set_item("Diffraction_analysis.pixels_per_subbin", sub)
    out.metadata.set_item("Diffraction_analysis.pixels_per_bin_g", ax.axis.copy())
    if radial_range is not None:
        out = out.isig[float(radial_range[0]) : float(radial_range[1])]
    return out
