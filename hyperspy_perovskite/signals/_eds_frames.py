"""Time-resolved EDX: frame times, frame alignment, composition per frame.

A mixin of :class:`~hyperspy_perovskite.signals.eds_biased.EDSTEMBiasedSpectrum`
for maps acquired as a series of frames (a JEOL ``.pts`` read with
``sum_frames=False``, an operando series) under the beam or a bias:

- :meth:`FramesMixin.get_frame_times`: frame start times from the
  acquisition record (dwell time x scanned pixels), never from the reader's
  ``downsample`` or the frame index.
- :meth:`FramesMixin.align_frames`: per-frame specimen drift from the HAADF
  images or the X-ray counts (phase correlation,
  :func:`~hyperspy_perovskite.analysis.frames.frame_shifts`, to 1/20 px),
  applied as whole pixels so the counts stay raw (Poisson), or bilinearly
  (sub-pixel, counts conserved but no longer Poisson), cropped to the area
  every frame covers.
- :meth:`FramesMixin.get_composition_vs_frame`: composition and halide/Pb
  ratio of a region per frame with the onset of halide loss
  (:func:`~hyperspy_perovskite.analysis.frames.damage_onset`), and
  :meth:`FramesMixin.get_frames_before_damage` to keep only the frames
  acquired before it.
"""

from __future__ import annotations

import re
from dataclasses import replace

import dask.array as da
import numpy as np

from hyperspy_perovskite.analysis import frames as fr
from hyperspy_perovskite.analysis import xray_lines as xl
from hyperspy_perovskite.analysis.eds.quantify import atomic_k_factors as _atomic_k
from hyperspy_perovskite.metadata import DEVICE_SERIES, record_processing
from hyperspy_perovskite.results import ResultTable
from hyperspy_perovskite.signals._base import as_requested, compute, resolve_options
from hyperspy_perovskite.signals._eds_geometry import options_doc
from hyperspy_perovskite.units_arguments import parse_pixels

__all__ = ["FramesMixin", "jeol_frame_period"]


def jeol_frame_period(original_metadata):
    """Frame period (s) of a JEOL ``.pts`` map from its acquisition record.

    The dwell time (``DwellTime(msec)``) times the pixels of the scan
    (``Meas Cond.Pixels``, e.g. ``"512x512"``): the scan as acquired, not as
    read (RosettaSciIO's ``downsample`` changes the pixels read, not the time
    a frame took). None when the record is missing.
    """
    om = original_metadata
    for root in ("EDS Data", "PTTD Data"):
        node = f"{root}.AnalyzableMap MeasData"
        dwell = om.get_item(f"{node}.Doc.DwellTime(msec)")
        pixels = om.get_item(f"{node}.Meas Cond.Pixels")
        if dwell is not None and pixels is not None:
            m = re.fullmatch(r"\s*(\d+)\s*x\s*(\d+)\s*", str(pixels))
            if m:
                return float(dwell) * 1e-3 * int(m.group(1)) * int(m.group(2))
    return None


class FramesMixin:
    """Frame times, alignment and damage onset of a series (see module)."""

    def _frames_axis(self):
        nav = self.axes_manager.navigation_axes
        if len(nav) != 3:
            raise ValueError(
                "Frame methods need a series of maps: navigation (x, y, frame); "
                f"this signal has {len(nav)} navigation axes. Read JEOL maps "
                "with sum_frames=False or stack maps with stack_bias_series."
            )
        return nav[2]

    def get_frame_times(self):
        """Start time (s) of each frame from the acquisition record.

        Order of sources: ``metadata.Device.Series.times``; the JEOL record
        (:func:`jeol_frame_period`); the frame axis when its unit is a time.

        Returns
        -------
        numpy.ndarray

        Raises
        ------
        ValueError
            When no source gives the times.
        """
        from hyperspy_perovskite.signals._eds_series import series_times

        ax = self._frames_axis()
        if self.metadata.has_item(f"{DEVICE_SERIES}.times"):
            return series_times(self)
        period = jeol_frame_period(self.original_metadata)
        if period is not None:
            return np.arange(ax.size) * period
        t = series_times(self)
        if t is None:
            raise ValueError(
                "No frame times: set metadata.Device.Series.times (s) or give "
                "the frame axis a time unit and scale (s.axes_manager[2].units "
                "= 's')."
            )
        return t

    def _frame_maps(self, haadf, xray_lines, options):
        """``(frames, ny, nx)`` images whose drift is measured."""
        if haadf is not None:
            img = np.asarray(haadf.data, dtype=float)
            if img.shape != self.data.shape[:-1]:
                raise ValueError(
                    f"The HAADF frames have shape {img.shape}; the map's frames "
                    f"{self.data.shape[:-1]}: give one HAADF image per frame."
                )
            return img
        if xray_lines is None:
            counts = self.data.sum(axis=-1)
        else:
            w = self._weights(self._lines_in_range(xray_lines), False)
            counts = xl.line_intensities(self.data, w)[0].sum(axis=-1)
        return np.asarray(compute(counts, options), dtype=float)

    @options_doc()
    def align_frames(
        self,
        haadf=None,
        xray_lines=None,
        reference=0,
        smooth=1.0,
        max_shift=None,
        interpolation="nearest",
        upsample_factor=20,
        show_progressbar=None,
        lazy_output=None,
        num_workers=None,
    ):
        """Align the frames of a series on the specimen (drift correction).

        Parameters
        ----------
        haadf : hyperspy.signals.Signal2D, optional
            HAADF image of every frame (navigation: frame); default: the
            X-ray counts of each frame.
        xray_lines : sequence of str, optional
            Count only these lines (default: all counts).
        reference : int
            Frame the others are aligned to.
        smooth : float or str
            Gaussian smoothing (sigma) of sparse count maps before the
            correlation: a number is in pixels; a length with its unit
            (``"16 nm"``) is converted through the spatial axes.
        max_shift : float or str, optional
            Largest drift per frame: a number is in pixels (default: a
            quarter of the smaller map side), or a length such as
            ``"0.2 um"``; larger correlation peaks are ignored.
        interpolation : {"nearest", "bilinear"}
            "nearest" (default): each frame is moved by the whole pixels
            nearest to its measured shift, so the counts stay raw (Poisson
            errors stay right; the residual misalignment is at most half a
            pixel). "bilinear": moved by the sub-pixel shift, the counts
            shared between neighbouring pixels (conserved, but correlated
            and non-integer: Poisson errors no longer apply, and profile
            methods warn).
        upsample_factor : int
            The shifts are measured to ``1 / upsample_factor`` px (upsampled
            phase correlation); 1: whole pixels.
        %(options)s

        Returns
        -------
        EDSTEMBiasedSpectrum
            A new aligned series, cropped to the area all frames cover,
            with the measured shifts (pixels and nm) and those applied
            (``applied_x_px``, ``applied_y_px``) in
            ``metadata.Results.Frame_shifts``
            (:class:`~hyperspy_perovskite.results.ResultTable`). Lazy if the
            input is (or as ``lazy_output`` asks); the shifts are measured
            from the computed frame images in either case.

        Examples
        --------
        >>> from hyperspy_perovskite.data.frame_simulation import simulate_eds_frames
        >>> from hyperspy_perovskite.results import ResultTable
        >>> s, truth = simulate_eds_frames(n_frames=4, seed=0)
        >>> a = s.align_frames()
        >>> t = ResultTable.from_metadata(a.metadata, "Frame_shifts")
        >>> np.array_equal(t["applied_y_px"], truth["shifts_px"][:, 0])
        True
        >>> bool(np.all(np.abs(t["shift_y_px"] - truth["shifts_px"][:, 0]) < 0.3))
        True
        """
        opts = resolve_options(
            self,
            lazy_output=lazy_output,
            show_progressbar=show_progressbar,
            num_workers=num_workers,
        )
        ax = self._frames_axis()
        spatial = self._spatial_axes()
        smooth = parse_pixels(smooth, spatial, name="smooth")
        if max_shift is not None:
            max_shift = parse_pixels(max_shift, spatial, name="max_shift")
        maps = self._frame_maps(haadf, xray_lines, replace(opts, lazy_output=False))
        if interpolation not in ("nearest", "bilinear"):
            raise ValueError(
                f"interpolation must be 'nearest' (whole pixels, raw counts) or "
                f"'bilinear' (sub-pixel), got {interpolation!r}."
            )
        if max_shift is None:
            max_shift = 0.25 * min(maps.shape[1:])
        shifts = np.asarray(
            fr.frame_shifts(maps, reference, smooth, max_shift, upsample_factor),
            dtype=float,
        )
        applied = np.round(shifts) if interpolation == "nearest" else shifts
        out = self._shifted_copy(applied)
        fx, fy = self._nm_factors()
        sx, sy = (
            self.axes_manager.navigation_axes[0].scale,
            self.axes_manager.navigation_axes[1].scale,
        )
        table = ResultTable(
            {
                "frame": np.arange(ax.size),
                "shift_x_px": shifts[:, 1],
                "shift_y_px": shifts[:, 0],
                "shift_x": shifts[:, 1] * sx * fx,
                "shift_y": shifts[:, 0] * sy * fy,
                "applied_x_px": applied[:, 1],
                "applied_y_px": applied[:, 0],
            },
            units={
                "shift_x": "nm",
                "shift_y": "nm",
                "shift_x_px": "px",
                "shift_y_px": "px",
                "applied_x_px": "px",
                "applied_y_px": "px",
            },
            title="Frame shifts (drift)",
            description=(
                f"drift measured by upsampled phase correlation (1/{int(upsample_factor)}"
                f" px); applied: {interpolation}"
            ),
        )
        table.to_metadata(out.metadata, "Frame_shifts")
        record_processing(
            out.metadata,
            "Frame_alignment",
            reference=int(reference),
            source="HAADF" if haadf is not None else "X-ray counts",
            smooth=float(smooth),
            interpolation=interpolation,
            upsample_factor=int(upsample_factor),
        )
        return as_requested(out, opts)

    def _shifted_copy(self, shifts):
        """Frames shifted (whole pixels: slices; fractional: bilinear),
        cropped to the common area."""
        ny, nx = self.data.shape[1:3]
        y0, y1, x0, x1 = fr.shifted_crop(shifts, (ny, nx))
        if y1 - y0 < 2 or x1 - x0 < 2:
            raise ValueError(
                f"The frames drift by up to {np.abs(shifts).max():.0f} pixels: no "
                "common area is left. Give max_shift or align a shorter series."
            )
        lib = da if isinstance(self.data, da.Array) else np
        parts = [
            fr.shift_frame(self.data[i], shift, (y0, y1, x0, x1))
            for i, shift in enumerate(shifts)
        ]
        data = lib.stack(parts)
        axes = [a.get_axis_dictionary() for a in self.axes_manager._axes]
        nav = self.axes_manager.navigation_axes
        for k, (lo, hi, a) in enumerate(((y0, y1, nav[1]), (x0, x1, nav[0]))):
            d = axes[1 + k]
            d.update(size=hi - lo, offset=a.offset + lo * a.scale)
        from hyperspy_perovskite.signals.eds_biased import EDSTEMBiasedSpectrum

        out = EDSTEMBiasedSpectrum(
            data,
            axes=axes,
            metadata=self.metadata.deepcopy().as_dictionary(),
            original_metadata=self.original_metadata.deepcopy().as_dictionary(),
        )
        if isinstance(data, da.Array):
            out = out.as_lazy()
        return out

    def _region_counts(self, lines, region, background, options):
        """Per-frame intensities and variances of ``lines`` in a region."""
        w = self._weights(lines, background)
        if region is None:
            mask = np.ones(self.data.shape[1:3], dtype=bool)
        elif isinstance(region, str):
            xx, yy, _, _ = self._pixel_grid_nm()
            mask = self._layer_mask(self.get_device_geometry(), [region], xx, yy)
        else:
            mask = np.asarray(region, dtype=bool)
            if mask.shape != self.data.shape[1:3]:
                raise ValueError(
                    f"region mask of shape {mask.shape}; the map is "
                    f"{self.data.shape[1:3]} (y, x)."
                )
        if isinstance(self.data, np.ndarray):
            summed = self.data[:, mask].sum(axis=1)
        else:  # dask cannot index two axes with one boolean mask
            summed = (self.data * mask[None, :, :, None]).sum(axis=(1, 2))
        inten, var = xl.line_intensities(summed, w)
        inten, var = (
            np.asarray(compute(a, options), dtype=float) for a in (inten, var)
        )
        return inten, var

    @options_doc("show_progressbar", "num_workers")
    def get_composition_vs_frame(
        self,
        kfactors,
        xray_lines,
        halide_lines=None,
        pb_line="Pb_La",
        region=None,
        background=True,
        n_reference=2,
        n_sigma=3.0,
        show_progressbar=None,
        num_workers=None,
    ):
        """Composition of a region per frame and the onset of halide loss.

        Parameters
        ----------
        kfactors : dict or sequence of float
            exSpy's Cliff-Lorimer k-factors of ``xray_lines``.
        xray_lines : sequence of str
            Lines quantified (Cliff-Lorimer, at%).
        halide_lines, pb_line : optional
            Halide and Pb lines for ``X/Pb`` and the damage onset (default:
            the halide lines among ``xray_lines`` and ``"Pb_La"``); without
            Pb (no halide perovskite) the onset uses the halide at%.
        region : str or array of bool, optional
            A layer name of the device geometry or a ``(ny, nx)`` mask
            (default: the whole map).
        n_reference : int
            Frames whose mean is the undamaged reference.
        n_sigma : float
            Significance of the loss (every later frame stays below too).
        %(options)s

        Returns
        -------
        hyperspy_perovskite.results.ResultTable
            Columns ``time`` (s), one at% column per line, ``X/Pb`` (when Pb
            is quantified) with std, ``damaged`` (bool); the onset frame in
            the description and in ``Processing.Damage_onset`` of the signal
            returned by :meth:`get_frames_before_damage`.
        """
        opts = resolve_options(
            self,
            lazy_output=False,
            show_progressbar=show_progressbar,
            num_workers=num_workers,
        )
        self._frames_axis()
        lines = self._lines_in_range(xray_lines)
        k = self._k_list(kfactors, lines)
        inten, var = self._region_counts(lines, region, background, opts)
        kk = np.asarray(_atomic_k(lines, k))
        c, cvar = xl.cliff_lorimer_variance(inten.T, var.T, kk)
        cols = {"time": self.get_frame_times()}
        std = {}
        for i, ln in enumerate(lines):
            cols[ln] = 100 * c[i]
            std[ln] = 100 * np.sqrt(cvar[i])
        units = {"time": "s", **{ln: "at%" for ln in lines}}
        hal = halide_lines or [
            ln for ln in lines if ln.split("_")[0] in ("I", "Br", "Cl")
        ]
        if not hal:
            raise ValueError("No halide line among xray_lines: give halide_lines=.")
        if pb_line in lines:
            ih = [lines.index(h) for h in hal]
            ip = lines.index(pb_line)
            r, rv = xl.halide_ratio(
                [inten[:, i] for i in ih] + [inten[:, ip]],
                [var[:, i] for i in ih] + [var[:, ip]],
                kk[ih],
                kk[ip],
            )
            cols["X/Pb"], std["X/Pb"], units["X/Pb"] = r, np.sqrt(rv), ""
            key = "X/Pb"
        else:
            key = hal[0]
        onset = fr.damage_onset(cols[key], std[key], n_reference, n_sigma)
        cols["damaged"] = np.arange(len(cols["time"])) >= (
            onset if onset is not None else 1 << 30
        )
        return ResultTable(
            cols,
            units=units,
            std=std,
            index=[f"frame {i}" for i in range(len(cols["time"]))],
            title="Composition vs frame",
            description=f"onset of halide loss ({key}): "
            + ("none" if onset is None else f"frame {onset}"),
        )

    @options_doc()
    def get_frames_before_damage(
        self,
        kfactors,
        xray_lines,
        halide_lines=None,
        pb_line="Pb_La",
        region=None,
        background=True,
        n_reference=2,
        n_sigma=3.0,
        show_progressbar=None,
        lazy_output=None,
        num_workers=None,
    ):
        """The frames acquired before the onset of halide loss.

        Calls :meth:`get_composition_vs_frame` (same arguments) and returns
        the series cut before the first damaged frame (all frames when no
        loss is found), with the table in ``metadata.Results.Composition_vs_frame``.

        Parameters
        ----------
        kfactors, xray_lines, halide_lines, pb_line, region, background
            See :meth:`get_composition_vs_frame`.
        n_reference, n_sigma
            See :meth:`get_composition_vs_frame`.
        %(options)s

        Returns
        -------
        EDSTEMBiasedSpectrum
            The frames before the onset (lazy as ``lazy_output`` asks), with
            ``metadata.Processing.Damage_onset``.

        Raises
        ------
        ValueError
            When the very first frames are already damaged.

        Examples
        --------
        >>> from hyperspy_perovskite.data.frame_simulation import simulate_eds_frames
        >>> s, truth = simulate_eds_frames(n_frames=4, seed=0)
        >>> kf = truth["k_factors"]
        >>> kept = s.get_frames_before_damage(kf, list(kf))
        >>> kept.axes_manager.navigation_shape[-1] <= 4
        True
        """
        opts = resolve_options(
            self,
            lazy_output=lazy_output,
            show_progressbar=show_progressbar,
            num_workers=num_workers,
        )
        table = self.get_composition_vs_frame(
            kfactors,
            xray_lines,
            halide_lines=halide_lines,
            pb_line=pb_line,
            region=region,
            background=background,
            n_reference=n_reference,
            n_sigma=n_sigma,
            show_progressbar=opts.show_progressbar,
            num_workers=opts.num_workers,
        )
        damaged = np.asarray(table["damaged"], dtype=bool)
        n = int(np.argmax(damaged)) if damaged.any() else damaged.size
        if n == 0:
            raise ValueError("Every frame is damaged: no frame before the onset.")
        out = self.inav[:, :, :n]
        table.to_metadata(out.metadata, "Composition_vs_frame")
        record_processing(
            out.metadata,
            "Damage_onset",
            onset_frame=None if n == damaged.size else n,
            kept_frames=n,
        )
        return as_requested(out, opts)
