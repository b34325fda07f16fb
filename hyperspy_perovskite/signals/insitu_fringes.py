"""Lattice-fringe methods of :class:`~hyperspy_perovskite.signals.InSituImageSeries`.

Thin methods: they read the axes, call
:func:`hyperspy_perovskite.analysis.fringes.fringe_power` (one dask path for
eager and lazy movies) and wrap the power and its variance as signals on the
time axis that keep the stimulus record.
"""

import numpy as np

from hyperspy_perovskite.analysis import fringes as _fringes
from hyperspy_perovskite.analysis import regions as _regions
from hyperspy_perovskite.signals._base import compute
from hyperspy_perovskite.signals._insitu_common import (
    _axis_dict,
    _d_spacings,
    _directions,
    _make_signal,
    _options,
    _whole_pixels,
)
from hyperspy_perovskite.units import parse_quantity

__all__ = ["FringeMixin"]


def _compute_all(arrays, opts):
    """Several dask arrays of one graph in one pass (progress bar if asked)."""
    import contextlib

    import dask

    bar = contextlib.nullcontext()
    if opts.show_progressbar:
        from dask.diagnostics import ProgressBar

        bar = ProgressBar()
    with bar:
        return dask.compute(*arrays, **opts.compute_kwargs)


class FringeMixin:
    """Fringe power maps and traces, region comparison (image series)."""

    def _tile_axes(self, shape, tile_size, step, first=(0, 0)):
        ax_x, ax_y = self.axes_manager.signal_axes
        sy, sx = (step, step) if np.ndim(step) == 0 else step
        return [
            {
                "name": ax.name if isinstance(ax.name, str) else n,
                "units": ax.units,
                "size": int(shape[k]),
                "offset": ax.offset + (first[k] + (tile_size - 1) / 2) * ax.scale,
                "scale": st * ax.scale,
            }
            for k, (ax, st, n) in enumerate(((ax_y, sy, "y"), (ax_x, sx, "x")))
        ]

    def _shifts_px(self, shifts):
        """Shifts (t, 2) in pixels from an :meth:`estimate_drift` signal."""
        from hyperspy.signal import BaseSignal

        n = self.axes_manager.navigation_size
        if not isinstance(shifts, BaseSignal) or shifts.data.shape != (2, n):
            raise ValueError(
                "shifts must be the Signal1D returned by estimate_drift, of shape "
                f"(2, {n})."
            )
        ax_x, ax_y = self.axes_manager.signal_axes
        sh = np.asarray(shifts.data, dtype=float).T / np.array([ax_y.scale, ax_x.scale])
        bad = np.nonzero(~np.all(np.isfinite(sh), axis=1))[0]
        if bad.size:
            raise ValueError(
                f"{bad.size} frame(s) have no shift (NaN: blank frames), first "
                f"{bad[:5].tolist()}: drop them or use estimate_drift(blank="
                "'interpolate')."
            )
        return sh

    def fringe_intensity(
        self,
        d_spacing,
        tolerance=0.02,
        roi=None,
        tile_size=None,
        step=None,
        background=True,
        direction=None,
        angular_width=15.0,
        shifts=None,
        show_progressbar=None,
        lazy_output=None,
        num_workers=None,
    ):
        """Lattice-fringe power at given d-spacings vs time, with its uncertainty.

        The power in the FFT band at ``1/d`` (periodic Hann window, background
        interpolated in log space from rings on both sides, never from
        ``k = 0`` or beyond Nyquist) is normalised so that a fringe of
        amplitude ``a`` counts gives ``a**2 / 2``; an amorphous or empty
        region gives zero within its standard deviation at any sampling (see
        :mod:`hyperspy_perovskite.analysis.fringes`). The standard deviation
        of every value is in ``metadata.Signal.Noise_properties.variance``
        (as a variance, HyperSpy's convention). A tile too small to resolve
        a band is refused with the smallest tile that does.

        Parameters
        ----------
        d_spacing : float, str or list of them
            Lattice spacings; a plain number is in A, a string carries its
            unit (``"0.636 nm"``), e.g. ``[6.36, 6.96]`` for the perovskite
            (001) and PbI2 (001) fringes ("Imaging real-time amorphization of
            hybrid perovskite solar cells under electrical biasing", Fig. 1c).
        tolerance : float
            Relative half-width of the band in spatial frequency (widened
            by one frequency step of the window).
        roi : RectangularROI, tuple or list of them, optional
            Region(s) of interest in the calibrated units of the image axes
            (default the whole frame).
        tile_size : int or str, optional
            Square tiles of this many pixels (or a length with its unit that
            is a whole number of pixels, ``"6.4 nm"``), overlapping by half
            (``step`` default ``tile_size // 2``): a crystallinity map per
            frame.
        step : int or str, optional
            Tile step in pixels, or a length with its unit (default half the
            tile).
        background : bool
            Subtract the noise/amorphous background around each band.
        direction : float, list of (float or None) or "auto", optional
            Orientation-selective power: direction of each band's spot
            (reciprocal-lattice vector, normal to the fringes) in degrees from
            the image x axis towards +y, modulo 180 (numbers in degrees, or
            strings or quantities with an angle unit); only the sector within
            ``angular_width`` of it (both ``+g`` and ``-g``) counts. Separates
            phases of close d-spacing and different orientation. "auto"
            (tile maps): the strongest spot of every d-spacing in every tile,
            found on the mean over all frames, each sector direction counted
            for the d-spacing strongest there
            (:mod:`hyperspy_perovskite.analysis.fringe_spots`); the spot
            directions are in ``metadata.Fringe_tracking.spot_direction``
            (deg, NaN where a tile has no significant spot) and the tiles
            with a spot in ``metadata.Fringe_tracking.Validity`` (lazy for
            a lazy result, see
            :func:`~hyperspy_perovskite.validity.compute_validity`).
        angular_width : float or str
            Half-width of the sector: a number is in degrees, or an angle
            with its unit (``"0.26 rad"``).
        shifts : Signal1D, optional
            :meth:`estimate_drift` output (tile mode): the tiles follow the
            specimen instead of the frames being resampled (fast on 4k
            movies; only tiles inside every frame are kept; the tile axes
            are in the reference frame's coordinates).
        show_progressbar, lazy_output, num_workers
            As for :meth:`hyperspy.api.signals.BaseSignal.map`. Eager data
            show no progress bar unless asked.

        Returns
        -------
        Signal1D or Signal2D
            ROI mode: Signal1D with time as signal axis, navigation axes
            d-spacing (if several) and ROI (if several). Tile mode: Signal2D
            (tile rows, tile columns) navigated by time and d-spacing (if
            several). The stimulus record is kept.

        Examples
        --------
        >>> y, x = np.mgrid[:64, :64]
        >>> frames = np.stack([10 + a * np.cos(2 * np.pi * x / 6.4) for a in (2, 1)])
        >>> s = hs.signals.Signal2D(frames)
        >>> s.set_signal_type("insitu_image_series")
        >>> s.axes_manager[0].units = "s"
        >>> for ax in s.axes_manager.signal_axes:
        ...     ax.units = "A"
        >>> np.round(s.fringe_intensity("0.64 nm").data, 2)
        array([2. , 0.5])
        """
        self._frame_axis()
        image_axes = self.axes_manager.signal_axes
        if tile_size is not None:
            tile_size = _whole_pixels(tile_size, image_axes, "tile_size")
        if step is not None and np.ndim(step) == 0:
            step = _whole_pixels(step, image_axes, "step")
        angular_width = parse_quantity(angular_width, "degree", name="angular_width")
        direction = _directions(direction)
        opts = _options(self, show_progressbar, lazy_output, num_workers)
        d = _d_spacings(d_spacing)
        scalar_d = not isinstance(d_spacing, (list, tuple, np.ndarray))
        px = self._pixel_size_angstrom()
        # eager data: the graph is computed here unless a lazy output is asked
        data = self._dask_frames(copy=opts.lazy_output)
        if shifts is not None:
            if tile_size is None:
                raise ValueError("shifts= is for tile maps (give tile_size).")
            shifts = self._shifts_px(shifts)
        kw = dict(
            shifts=shifts,
            tolerance=tolerance,
            background=background,
            directions=direction,
            angular_width=angular_width,
        )
        if tile_size is not None:
            out = self._fringe_tiles(
                data, px, d, scalar_d, tile_size, step, roi, kw, opts
            )
        else:
            out = self._fringe_rois(data, px, d, scalar_d, roi, kw, opts)
        for key, value in {
            "d_spacings": d,
            "d_spacings_units": "A",
            "tolerance": float(tolerance),
            "background": bool(background),
            "direction": str(direction)
            if direction is None or isinstance(direction, str)
            else np.atleast_1d(np.asarray(direction, dtype=float)),
            "direction_units": "deg",
            "angular_width": float(angular_width),
            "tile_size": -1 if tile_size is None else int(tile_size),
            "pixel_size": px,
            "pixel_size_units": "A",
        }.items():
            # keys one by one: the node may hold the spot directions already
            out.metadata.set_item(f"Fringe_tracking.{key}", value)
        return out

    def _with_variance(self, cls, p, axes, md):
        power = _make_signal(cls, p[..., 0], axes, md)
        var = _make_signal(
            cls, p[..., 1] ** 2, axes, {"General": {"title": "variance"}}
        )
        power.metadata.set_item("Signal.Noise_properties.variance", var)
        return power

    def _fringe_tiles(self, data, px, d, scalar_d, tile_size, step, roi, kw, opts):
        import hyperspy.api as hs

        if roi is not None:
            raise ValueError("Give either roi or tile_size, not both.")
        if int(tile_size) != tile_size or tile_size < 8:
            raise ValueError(f"tile_size must be an integer >= 8, got {tile_size!r}.")
        tile_size = int(tile_size)
        step = tile_size // 2 if step is None else step
        spots = None
        if isinstance(kw["directions"], str):
            p, spots = self._strongest_spot_power(data, px, d, tile_size, step, kw)
        else:
            p = _fringes.fringe_power(
                data,
                px,
                d,
                window_shape=(tile_size, tile_size),
                step=step,
                workers=1,
                **kw,
            )
        p = p.transpose(3, 0, 1, 2, 4)  # (nb, t, ny, nx, 2)
        if scalar_d:
            p = p[0]
        if spots is None:
            p = compute(p, opts)
        elif not opts.lazy_output:
            p, *spots = _compute_all((p, *spots), opts)
        d_axis = {"name": "d-spacing", "units": "A", "axis": d}
        axes = ([] if scalar_d else [d_axis]) + [_axis_dict(self._frame_axis())]
        sh = kw.get("shifts")
        first = (
            (0, 0)
            if sh is None
            else tuple(max(0, int(np.round(sh[:, k]).max())) for k in (0, 1))
        )
        axes += self._tile_axes(p.shape[-3:-1], tile_size, step, first)
        md = self._result_metadata(
            "Crystallinity map (fringe power)", "Fringe power (counts^2)"
        )
        out = self._with_variance(hs.signals.Signal2D, p, axes, md)
        if spots is not None:
            self._store_spots(out, spots, axes, scalar_d, kw["angular_width"])
        return out

    def _strongest_spot_power(self, data, px, d, tile_size, step, kw):
        """Power of every d-spacing at its strongest spot per tile
        (:mod:`hyperspy_perovskite.analysis.fringe_spots`)."""
        import warnings

        import dask.array as da

        from hyperspy_perovskite.analysis import fringe_spots

        if kw["directions"] != "auto":
            raise ValueError(
                f"direction must be an angle (degrees), a list of them or 'auto', "
                f"got {kw['directions']!r}."
            )
        centres = fringe_spots.sector_directions(kw["angular_width"])
        kw = dict(kw, directions=list(centres))
        parts = []
        # one d-spacing at a time: its background rings may then pass the
        # other d-spacings' annuli (all their directions are requested; a
        # joint call would leave no ring between close d-spacings); sectors
        # where another phase's spot leaks in belong to that phase (below)
        for di in d:
            with warnings.catch_warnings():
                # the sectors of one d-spacing overlap by design
                warnings.filterwarnings("ignore", message="The band of d =")
                parts.append(
                    _fringes.fringe_power(
                        data,
                        px,
                        np.full(centres.size, di),
                        window_shape=(tile_size, tile_size),
                        step=step,
                        workers=1,
                        **kw,
                    )
                )
        p = parts[0] if len(parts) == 1 else da.concatenate(parts, axis=3)
        power, sector, significant = fringe_spots.strongest_spot(p, len(d))
        return power, (sector, significant)

    @staticmethod
    def _store_spots(out, spots, axes, scalar_d, width):
        """Spot direction map (deg, NaN without a spot) and validity in metadata."""
        import dask.array as da
        import hyperspy.api as hs

        from hyperspy_perovskite.analysis.fringe_spots import sector_directions
        from hyperspy_perovskite.validity import Validity

        sector, significant = spots
        centres = sector_directions(width)
        if isinstance(sector, da.Array):
            angle = sector.map_blocks(centres.__getitem__, dtype=centres.dtype)
            angle = da.where(significant, angle, np.nan)
        else:
            angle = np.where(significant, centres[sector], np.nan)
        angle = np.moveaxis(angle, -1, 0)  # (nb, ny, nx)
        significant = np.moveaxis(significant, -1, 0)
        if scalar_d:
            angle, significant = angle[0], significant[0]
        tile_axes = ([] if scalar_d else [axes[0]]) + axes[-2:]
        direction = hs.signals.Signal2D(angle)
        if isinstance(angle, da.Array):
            direction = direction.as_lazy()
        for ax, spec in zip(direction.axes_manager._axes, tile_axes, strict=True):
            for key in ("name", "units", "scale", "offset"):
                if key in spec:
                    setattr(ax, key, spec[key])
        direction.metadata.General.title = "Spot direction (deg from x towards +y)"
        out.metadata.set_item("Fringe_tracking.spot_direction", direction)
        # lazy output: a lazy mask of the same graph, computed with the power
        # by compute_validity or when read
        Validity(
            significant,
            (~significant).astype(np.uint32),
            ("no significant spot in the tile",),
            {"n_sigma": 3.0},
        ).to_metadata(out.metadata.Fringe_tracking)

    def _fringe_rois(self, data, px, d, scalar_d, roi, kw, opts):
        import dask.array as da
        import hyperspy.api as hs

        rois = [None] if roi is None else (roi if isinstance(roi, list) else [roi])
        parts = []
        for r in rois:
            ys, xs = (slice(None), slice(None)) if r is None else self._roi_slices(r)
            p = _fringes.fringe_power(data[:, ys, xs], px, d, workers=1, **kw)
            parts.append(p[:, 0, 0].transpose(1, 0, 2))  # (nb, t, 2)
        p = da.stack(parts) if len(parts) > 1 else parts[0]
        if scalar_d:
            p = p[:, 0] if len(parts) > 1 else p[0]
        p = compute(p, opts)
        axes = []
        if len(parts) > 1:
            axes.append({"name": "ROI", "size": len(parts)})
        if not scalar_d:
            axes.append({"name": "d-spacing", "units": "A", "axis": d})
        axes.append(_axis_dict(self._frame_axis()))
        md = self._result_metadata("Fringe power", "Fringe power (counts^2)")
        return self._with_variance(hs.signals.Signal1D, p, axes, md)

    # ------------------------------------------------------------- regions
    def compare_regions(
        self,
        region_a,
        region_b,
        d_spacing,
        before=None,
        after=None,
        n_sigma=3.0,
        **fringe_kwargs,
    ):
        """Compare the fringe-power change of two regions (control A vs biased B).

        Parameters
        ----------
        region_a, region_b : RectangularROI or tuple
            Control (e.g. beam only) and test (e.g. biased) regions.
        d_spacing : float
            Lattice spacing (A).
        before, after : slice, optional
            Frames of the initial and final windows (default first/last 10 %).
        n_sigma : float
            Significance threshold.
        **fringe_kwargs
            Passed to :meth:`fringe_intensity`.

        Returns
        -------
        dict
            See :func:`hyperspy_perovskite.analysis.regions.compare_traces`,
            plus ``traces``: the Signal1D of both traces (navigation: ROI).
        """
        if np.ndim(d_spacing) != 0:
            raise ValueError("compare_regions takes one d_spacing.")
        fringe_kwargs["lazy_output"] = False
        traces = self.fringe_intensity(
            d_spacing, roi=[region_a, region_b], **fringe_kwargs
        )
        res = _regions.compare_traces(
            traces.data[0], traces.data[1], before=before, after=after, n_sigma=n_sigma
        )
        res["traces"] = traces
        return res
