"""In situ image series (HRTEM/STEM movies) with their stimulus record.

An :class:`InSituImageSeries` is a Signal2D whose navigation axis is time in
seconds (“Imaging real-time amorphization of hybrid perovskite solar cells under electrical biasing”: 4k x 4k HRTEM at 25 fps for 300 s under
1 V). Methods are thin: they validate inputs, read axes and metadata, call the
array kernels of :mod:`hyperspy_perovskite.analysis` (one dask code path for
eager and lazy data, chunked along time) and wrap the results as signals on
the time axis that keep the stimulus record.
"""

import copy
import warnings

import numpy as np
from hyperspy._signals.lazy import LazySignal
from hyperspy.signals import Signal2D

from hyperspy_perovskite._dask import dask_view
from hyperspy_perovskite.analysis import drift as _drift
from hyperspy_perovskite.analysis import fringes as _fringes
from hyperspy_perovskite.analysis import regions as _regions
from hyperspy_perovskite.stimulus import dose as _dose
from hyperspy_perovskite.stimulus import record as _record

__all__ = ["InSituImageSeries", "LazyInSituImageSeries"]

# eager data are wrapped in dask chunks of about this size along time, so that
# the threaded scheduler spreads frames over the cores with bounded memory
_FRAME_BYTES_PER_CHUNK = 16 * 2**20


def _compute(arr, lazy_output, show_progressbar, num_workers):
    """Compute a dask array unless a lazy output is wanted."""
    if lazy_output:
        return arr
    if show_progressbar is None:
        import hyperspy.api as hs

        show_progressbar = hs.preferences.General.show_progressbar
    kwargs = {} if num_workers is None else {"num_workers": int(num_workers)}
    if show_progressbar:
        from dask.diagnostics import ProgressBar

        with ProgressBar():
            return arr.compute(**kwargs)
    return arr.compute(**kwargs)


def _axis_dict(ax):
    d = {"name": ax.name, "units": ax.units}
    if ax.is_uniform:
        d.update(size=ax.size, offset=ax.offset, scale=ax.scale)
    else:
        d["axis"] = np.asarray(ax.axis)
    return d


def _make_signal(cls, data, axes, metadata):
    """Signal1D/Signal2D, or its lazy twin for dask data."""
    import dask.array as da
    from hyperspy.signals import LazySignal1D, LazySignal2D, Signal1D

    if isinstance(data, da.Array):
        cls = LazySignal1D if issubclass(cls, Signal1D) else LazySignal2D
    return cls(data, axes=axes, metadata=metadata)


class InSituImageSeries(Signal2D):
    """An in situ image series: Signal2D with a time navigation axis (s).

    The stimulus record (bias, current, temperature, light, gas, dose rate)
    lives in ``metadata.Stimulus`` (layout:
    :mod:`hyperspy_perovskite.stimulus.schema`).

    Examples
    --------
    >>> s = hs.signals.Signal2D(np.zeros((3, 32, 32)))
    >>> s.set_signal_type("insitu_image_series")
    >>> s.axes_manager[0].name, s.axes_manager[0].units
    ('time', 's')
    """

    _signal_type = "insitu_image_series"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # idempotent: name a bare navigation axis "time" in s, never overwrite
        nav = self.axes_manager.navigation_axes
        if len(nav) == 1:
            ax = nav[0]
            if not isinstance(ax.name, str) or ax.name in ("", "<undefined>"):
                ax.name = "time"
            if not isinstance(ax.units, str) or ax.units in ("", "<undefined>"):
                ax.units = "s"

    # ------------------------------------------------------------------ utils
    def _time_axis(self):
        nav = self.axes_manager.navigation_axes
        if len(nav) != 1:
            raise ValueError(
                "An in situ image series needs exactly one navigation axis (time); "
                f"this signal has {len(nav)}. Use s.inav / s.transpose to select it."
            )
        return _record.frame_time_axis(self)

    def _pixel_size_angstrom(self):
        ax_x, ax_y = self.axes_manager.signal_axes
        for ax in (ax_x, ax_y):
            if not ax.is_uniform:
                raise ValueError("The image axes must be uniform.")
        px = _dose.length_to_angstrom(abs(ax_x.scale), ax_x.units)
        py = _dose.length_to_angstrom(abs(ax_y.scale), ax_y.units)
        if not np.isclose(px, py, rtol=1e-6):
            raise ValueError(
                f"Non-square pixels ({py} x {px} A) are not supported for fringe "
                "tracking; resample the images first."
            )
        return px

    def _dask_frames(self, copy=True):
        """The frames as a dask array chunked along time (whole frames).

        Parameters
        ----------
        copy : bool
            For eager data: let dask copy the array (it does so to guard the
            graph against later changes of the data). Pass False only when
            the graph is computed before control returns to the user.

        Returns
        -------
        dask.array.Array
        """
        import dask.array as da

        data = self.data
        if isinstance(data, da.Array):
            return data.rechunk({1: -1, 2: -1})
        frame_bytes = max(data[0].nbytes, 1)
        c = int(max(1, min(data.shape[0], _FRAME_BYTES_PER_CHUNK // frame_bytes)))
        # name=False: no hashing of the whole array to name the dask graph
        if not copy:
            return dask_view(data, (c, -1, -1))
        return da.from_array(data, chunks=(c, -1, -1), name=False)

    def _roi_slices(self, roi):
        """ROI -> (y slice, x slice) in pixels."""
        from hyperspy.roi import RectangularROI

        ax_x, ax_y = self.axes_manager.signal_axes
        if isinstance(roi, RectangularROI):
            left, right, top, bottom = roi.left, roi.right, roi.top, roi.bottom
        elif isinstance(roi, (tuple, list)) and len(roi) == 4:
            left, right, top, bottom = (float(v) for v in roi)
        else:
            raise TypeError(
                "roi must be a hyperspy RectangularROI or a tuple (left, right, "
                f"top, bottom) in calibrated units, got {roi!r}."
            )
        try:
            x0 = ax_x.value2index(left)
            x1 = ax_x.value2index(right, rounding=round)
            y0 = ax_y.value2index(top)
            y1 = ax_y.value2index(bottom, rounding=round)
        except ValueError as err:
            raise ValueError(f"The ROI {roi!r} lies outside the image: {err}") from err
        if x1 - x0 < 8 or y1 - y0 < 8:
            raise ValueError(
                f"The ROI {roi!r} is smaller than 8 x 8 pixels; enlarge it."
            )
        return slice(y0, y1), slice(x0, x1)

    def _result_metadata(self, title, quantity):
        md = copy.deepcopy(self.metadata.as_dictionary())
        md.setdefault("General", {})["title"] = title
        sig = md.setdefault("Signal", {})
        sig["quantity"] = quantity
        sig["signal_type"] = ""
        return md

    # --------------------------------------------------------------- stimulus
    def attach_stimulus(self, source, inplace=False, **kwargs):
        """Attach a stimulus log (see :func:`hyperspy_perovskite.stimulus.attach_stimulus`).

        Parameters
        ----------
        source : str, pathlib.Path, dict, Signal1D or list of Signal1D
            Protochips log, generic CSV, dict or HyperSpy signals.
        inplace : bool
            Annotate this signal instead of returning a new one (the data are
            shared either way).
        **kwargs
            ``time_offset``, ``trigger_channel``, ``trigger_threshold``,
            ``trigger_time``, ``file_format``, ``time_column``, ``units``,
            ``interpolation``, ``replace``.

        Examples
        --------
        >>> s = hs.signals.Signal2D(np.zeros((4, 16, 16)))
        >>> s.set_signal_type("insitu_image_series")
        >>> s2 = s.attach_stimulus({"time": [0, 1, 2, 3], "Bias": ([0, 1, 1, 1], "V")})
        >>> s2.stimulus["Bias"].data
        array([0., 1., 1., 1.])
        """
        return _record.attach_stimulus(self, source, inplace=inplace, **kwargs)

    @property
    def stimulus(self):
        """Each stimulus channel as a Signal1D on the frame time axis (dict)."""
        return _record.stimulus_channels(self)

    # ------------------------------------------------------------------ dose
    def electron_dose(
        self,
        dose_rate=None,
        beam_current=None,
        illuminated_area=None,
        exposure=None,
        regions=None,
        beam_profile=None,
        critical_dose=None,
        material=None,
        cumulative=True,
    ):
        """Electron fluence per frame or cumulative dose (e/A^2), per region.

        The dose rate comes from, in this order: ``dose_rate`` (e/A^2/s),
        ``beam_current`` (A) over ``illuminated_area`` (A^2, default the frame
        area), a ``dose_rate`` or ``beam_current`` channel of the stimulus
        record (time-resolved), ``metadata.Stimulus.Dose``, or
        ``metadata.Acquisition_instrument.TEM.beam_current`` (nA, HyperSpy
        convention).

        Parameters
        ----------
        dose_rate, beam_current, illuminated_area : float, optional
        exposure : float or array, optional
            Exposure per frame, s (default the frame interval).
        regions : dict, optional
            ``{name: RectangularROI, (left, right, top, bottom) or boolean mask}``;
            default one region "frame".
        beam_profile : numpy.ndarray, optional
            Relative beam intensity over the frame (1 = nominal dose rate), e.g.
            0 where the beam was blanked or outside the illuminated disc.
        critical_dose : float, optional
            Critical dose (e/A^2); frames beyond it are flagged.
        material : str, optional
            Take the critical dose from
            :data:`hyperspy_perovskite.stimulus.dose.CRITICAL_DOSES`.
        cumulative : bool
            Cumulative dose (default) or fluence per frame.

        Returns
        -------
        Signal1D
            Navigation axis: region; signal axis: time. ``metadata.Dose``
            holds the dose rate source, critical dose and, per region,
            ``exceeded`` and the first frame/time beyond it.

        Examples
        --------
        >>> s = hs.signals.Signal2D(np.zeros((5, 16, 16)))
        >>> s.set_signal_type("insitu_image_series")
        >>> s.axes_manager[0].scale = 0.04
        >>> d = s.electron_dose(dose_rate=100.0, critical_dose=10.0)
        >>> d.data
        array([ 4.,  8., 12., 16., 20.])
        >>> d.metadata.Dose.Regions.frame.critical_time
        0.08
        """
        import hyperspy.api as hs

        ax_t, times = self._time_axis()
        ny, nx = self.axes_manager.signal_shape[::-1]
        if dose_rate is not None and beam_current is not None:
            raise ValueError("Give either dose_rate or beam_current, not both.")
        source = None
        if dose_rate is not None:
            rate = np.asarray(dose_rate, dtype=float)
            source = "dose_rate argument"
        else:
            if beam_current is None and _record.has_record(self):
                rec = _record.get_record(self)
                for name, ch in rec["channels"].items():
                    if ch["quantity"] in ("dose_rate", "beam_current"):
                        vals = _record.interpolate_channel(
                            rec["time"] + rec["time_offset"],
                            ch["values"],
                            times,
                            ch["interpolation"],
                        )
                        if ch["quantity"] == "dose_rate":
                            rate = vals
                        else:
                            beam_current = vals
                        source = f"stimulus record channel {name}"
                        break
            if source is None and beam_current is None:
                md = self.metadata
                if md.has_item("Stimulus.Dose.dose_rate"):
                    rate = float(md.Stimulus.Dose.dose_rate)
                    source = "metadata.Stimulus.Dose.dose_rate"
                elif md.has_item("Stimulus.Dose.beam_current"):
                    beam_current = float(md.Stimulus.Dose.beam_current)
                    source = "metadata.Stimulus.Dose.beam_current"
                elif md.has_item("Acquisition_instrument.TEM.beam_current"):
                    # HyperSpy stores the beam current in nA
                    beam_current = (
                        float(md.Acquisition_instrument.TEM.beam_current) * 1e-9
                    )
                    source = "metadata.Acquisition_instrument.TEM.beam_current"
                else:
                    raise ValueError(
                        "No dose rate: pass dose_rate (e/A^2/s) or beam_current (A), "
                        "or attach a stimulus record with a dose_rate/beam_current "
                        "channel."
                    )
            if beam_current is not None:
                if illuminated_area is None:
                    px = self._pixel_size_angstrom()
                    illuminated_area = ny * nx * px * px
                rate = _dose.dose_rate_from_beam_current(beam_current, illuminated_area)
                source = source or "beam_current argument"
        if np.any(np.asarray(rate) < 0):
            raise ValueError("The dose rate must be >= 0.")
        fluence, cum = _dose.cumulative_dose(times, rate, exposure)
        if regions is None:
            regions = {"frame": None}
        if not isinstance(regions, dict) or not regions:
            raise TypeError("regions must be a non-empty dict {name: ROI or mask}.")
        if beam_profile is not None:
            beam_profile = np.asarray(beam_profile, dtype=float)
            if beam_profile.shape != (ny, nx):
                raise ValueError(
                    f"beam_profile must have the frame shape {(ny, nx)}, got "
                    f"{beam_profile.shape}."
                )
            if np.any(beam_profile < 0):
                raise ValueError("beam_profile must be >= 0.")
        names, factors = [], []
        for name, reg in regions.items():
            if reg is None:
                mask = np.ones((ny, nx), bool)
            elif isinstance(reg, np.ndarray) and reg.dtype == bool:
                if reg.shape != (ny, nx):
                    raise ValueError(
                        f"Region {name!r}: mask shape {reg.shape} != frame {(ny, nx)}."
                    )
                mask = reg
            else:
                ys, xs = self._roi_slices(reg)
                mask = np.zeros((ny, nx), bool)
                mask[ys, xs] = True
            if not mask.any():
                raise ValueError(f"Region {name!r} is empty.")
            f = 1.0 if beam_profile is None else float(beam_profile[mask].mean())
            names.append(str(name))
            factors.append(f)
        base = cum if cumulative else fluence
        data = np.asarray(factors)[:, None] * base[None, :]
        if material is not None:
            crit, entry = _dose.critical_dose(material)
            if critical_dose is not None:
                raise ValueError("Give either critical_dose or material, not both.")
            crit_source = entry["source"]
        else:
            crit = critical_dose
            crit_source = "user" if crit is not None else ""
        md = self._result_metadata(
            "Cumulative electron dose" if cumulative else "Electron fluence per frame",
            "Dose (e/A^2)",
        )
        md.pop("Stimulus", None)
        dose_md = {
            "dose_rate_source": source,
            "cumulative": bool(cumulative),
            "dose_units": "e/A^2",
            "Regions": {},
        }
        if crit is not None:
            dose_md.update(
                critical_dose=float(crit),
                critical_dose_units="e/A^2",
                critical_dose_source=crit_source,
            )
        for name, f in zip(names, factors, strict=True):
            reg_md = {"beam_factor": f}
            if crit is not None:
                i = _dose.first_exceedance(f * cum, crit)
                reg_md["exceeded"] = i is not None
                reg_md["critical_frame"] = -1 if i is None else i
                reg_md["critical_time"] = float("nan") if i is None else float(times[i])
                if i is not None:
                    warnings.warn(
                        f"Region {name!r} passes the critical dose {crit:g} e/A^2 at "
                        f"frame {i} (t = {times[i]:g} s).",
                        UserWarning,
                    )
            dose_md["Regions"][name] = reg_md
        md["Dose"] = dose_md
        t_axis = _axis_dict(ax_t)
        if len(names) == 1:
            out = hs.signals.Signal1D(data[0], axes=[t_axis], metadata=md)
        else:
            out = hs.signals.Signal1D(
                data,
                axes=[{"name": "region", "size": len(names)}, t_axis],
                metadata=md,
            )
            out.metadata.set_item("Dose.region_names", names)
        return out

    # ---------------------------------------------------------------- drift
    def estimate_drift(
        self,
        reference=0,
        roi=None,
        upsample=20,
        sigma=None,
        show_progressbar=None,
        lazy_output=None,
        num_workers=None,
    ):
        """Estimate the drift of every frame against a reference (sub-pixel).

        Parameters
        ----------
        reference : int or numpy.ndarray
            Index of the reference frame, or the reference image.
        roi : RectangularROI or tuple, optional
            Register on this region only (e.g. a region that does not change).
        upsample : int
            Precision ``1 / upsample`` pixel.
        sigma : float, optional
            Gaussian low-pass (pixels) before correlation; useful at low dose.
        show_progressbar, lazy_output, num_workers
            As for :meth:`hyperspy.api.signals.BaseSignal.map`.

        Returns
        -------
        Signal1D
            Shape (2 | time): the shifts (y, x) in calibrated units that move
            each frame back onto the reference (a feature drifting by ``+d``
            gives ``-d``). Plot with ``shifts.plot()`` or ``shifts.T.plot()``.

        Examples
        --------
        >>> s = hs.signals.Signal2D(np.random.default_rng(0).random((3, 32, 32)))
        >>> s.set_signal_type("insitu_image_series")
        >>> s.estimate_drift().data.shape
        (2, 3)
        """
        import hyperspy.api as hs

        ax_t, _ = self._time_axis()
        if lazy_output is None:
            lazy_output = self._lazy
        data = self._dask_frames()
        ys, xs = (slice(None), slice(None)) if roi is None else self._roi_slices(roi)
        data = data[:, ys, xs]
        if isinstance(reference, (int, np.integer)):
            n = data.shape[0]
            if not -n <= int(reference) < n:
                raise ValueError(
                    f"reference frame {reference} is out of range (0..{n - 1})."
                )
            ref = np.asarray(data[int(reference)])
        else:
            ref = np.asarray(reference)[ys, xs]
        shifts = _drift.estimate_shifts(data, ref, upsample=upsample, sigma=sigma)
        ax_x, ax_y = self.axes_manager.signal_axes
        scale = np.array([ax_y.scale, ax_x.scale])
        shifts = _compute(shifts * scale, lazy_output, show_progressbar, num_workers)
        md = self._result_metadata("Drift correction shifts", f"Shift ({ax_x.units})")
        md.pop("Stimulus", None)
        md["Drift"] = {
            "reference": int(reference) if np.ndim(reference) == 0 else -1,
            "upsample": int(upsample),
            "shift_units": ax_x.units,
        }
        return _make_signal(
            hs.signals.Signal1D,
            shifts.T,
            [{"name": "shift (y, x)", "size": 2}, _axis_dict(ax_t)],
            md,
        )

    def correct_drift(
        self,
        shifts=None,
        inplace=False,
        show_progressbar=None,
        lazy_output=None,
        num_workers=None,
        **estimate_kwargs,
    ):
        """Shift every frame back onto the reference (Fourier shift, sub-pixel).

        Parameters
        ----------
        shifts : Signal1D, optional
            Output of :meth:`estimate_drift` (estimated here if None, with
            ``estimate_kwargs``).
        inplace : bool
            Replace the data of this signal.
        show_progressbar, lazy_output, num_workers
            As for :meth:`hyperspy.api.signals.BaseSignal.map`.

        Returns
        -------
        InSituImageSeries or None
            The shifts are kept in ``metadata.Processing.Drift_correction``
            (pixels, y then x). The Fourier shift wraps a border as wide as the
            drift around the frame; keep ROIs away from it.

        Examples
        --------
        >>> s = hs.signals.Signal2D(np.random.default_rng(0).random((3, 32, 32)))
        >>> s.set_signal_type("insitu_image_series")
        >>> c = s.correct_drift()
        >>> c.metadata.Processing.Drift_correction.shifts.shape
        (3, 2)
        """
        if lazy_output and inplace:
            raise ValueError("lazy_output=True and inplace=True are incompatible.")
        if lazy_output is None:
            lazy_output = self._lazy
        if shifts is None:
            shifts = self.estimate_drift(
                show_progressbar=show_progressbar,
                lazy_output=False,
                num_workers=num_workers,
                **estimate_kwargs,
            )
        elif estimate_kwargs:
            raise TypeError(
                f"Unexpected arguments {sorted(estimate_kwargs)} with given shifts."
            )
        from hyperspy.signal import BaseSignal

        if not isinstance(shifts, BaseSignal) or shifts.data.shape != (
            2,
            self.axes_manager.navigation_size,
        ):
            raise ValueError(
                "shifts must be the Signal1D returned by estimate_drift, of shape "
                f"(2, {self.axes_manager.navigation_size})."
            )
        ax_x, ax_y = self.axes_manager.signal_axes
        sh = np.asarray(shifts.data).T / np.array([ax_y.scale, ax_x.scale])
        corrected = _drift.apply_shifts(self._dask_frames(), sh)
        corrected = _compute(corrected, lazy_output, show_progressbar, num_workers)
        if inplace:
            self.data = corrected
            target = self
        else:
            target = self._deepcopy_with_new_data(corrected)
            if lazy_output and not target._lazy:
                target = target.as_lazy()
            elif not lazy_output and target._lazy:
                target._lazy = False
                target._assign_subclass()
        target.metadata.set_item("Processing.Drift_correction.shifts", sh)
        target.metadata.set_item("Processing.Drift_correction.shifts_units", "px")
        target.metadata.set_item("Processing.Drift_correction.method", "Fourier shift")
        return None if inplace else target

    # -------------------------------------------------------------- fringes
    def fringe_intensity(
        self,
        d_spacing,
        tolerance=0.02,
        roi=None,
        tile_size=None,
        step=None,
        background=True,
        show_progressbar=None,
        lazy_output=None,
        num_workers=None,
    ):
        """Lattice-fringe power at given d-spacings vs time.

        The power in the FFT annulus at ``1/d`` (Hann-apodised window,
        background rings subtracted) is normalised so that a fringe of
        amplitude ``a`` counts gives ``a**2 / 2`` (see
        :mod:`hyperspy_perovskite.analysis.fringes`).

        Parameters
        ----------
        d_spacing : float or list of float
            Lattice spacings in angstrom, e.g. ``[6.36, 6.96]`` for perovskite
            (001) and PbI2 (001) (“Imaging real-time amorphization of hybrid perovskite solar cells under electrical biasing”, Fig. 1c).
        tolerance : float
            Relative half-width of the annulus in spatial frequency (widened
            by one frequency step of the window).
        roi : RectangularROI, tuple or list of them, optional
            Region(s) of interest (default the whole frame).
        tile_size : int, optional
            Square tiles of this many pixels, overlapping by half (``step``
            default ``tile_size // 2``): a crystallinity map per frame.
        step : int or (int, int), optional
            Tile step in pixels (default half the tile).
        background : bool
            Subtract the noise/amorphous background around each annulus.
        show_progressbar, lazy_output, num_workers
            As for :meth:`hyperspy.api.signals.BaseSignal.map`.

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
        >>> for ax in s.axes_manager.signal_axes:
        ...     ax.units = "A"
        >>> np.round(s.fringe_intensity(6.4).data, 2)
        array([2. , 0.5])
        """
        import hyperspy.api as hs

        ax_t, _ = self._time_axis()
        if lazy_output is None:
            lazy_output = self._lazy
        d = np.atleast_1d(np.asarray(d_spacing, dtype=float))
        scalar_d = np.ndim(d_spacing) == 0
        px = self._pixel_size_angstrom()
        # eager data: the graph is computed here unless a lazy output is asked
        data = self._dask_frames(copy=bool(lazy_output))
        d_axis = {"name": "d-spacing", "units": "A", "axis": d}
        workers = 1
        if tile_size is not None:
            if roi is not None:
                raise ValueError("Give either roi or tile_size, not both.")
            if int(tile_size) != tile_size or tile_size < 8:
                raise ValueError(
                    f"tile_size must be an integer >= 8, got {tile_size!r}."
                )
            tile_size = int(tile_size)
            step = tile_size // 2 if step is None else step
            p = _fringes.fringe_power(
                data,
                px,
                d,
                tolerance,
                window_shape=(tile_size, tile_size),
                step=step,
                background=background,
                workers=workers,
            )
            p = p.transpose(3, 0, 1, 2)  # (nb, t, ny, nx)
            if scalar_d:
                p = p[0]
            p = _compute(p, lazy_output, show_progressbar, num_workers)
            ax_x, ax_y = self.axes_manager.signal_axes
            sy, sx = (step, step) if np.ndim(step) == 0 else step
            tile_axes = [
                {
                    "name": ax.name if isinstance(ax.name, str) else n,
                    "units": ax.units,
                    "size": int(p.shape[-2 + k]),
                    "offset": ax.offset + (tile_size - 1) / 2 * ax.scale,
                    "scale": st * ax.scale,
                }
                for k, (ax, st, n) in enumerate(((ax_y, sy, "y"), (ax_x, sx, "x")))
            ]
            axes = ([] if scalar_d else [d_axis]) + [_axis_dict(ax_t)] + tile_axes
            md = self._result_metadata(
                "Crystallinity map (fringe power)", "Fringe power (counts^2)"
            )
            cls = hs.signals.Signal2D
        else:
            rois = [None] if roi is None else (roi if isinstance(roi, list) else [roi])
            parts = []
            for r in rois:
                ys, xs = (
                    (slice(None), slice(None)) if r is None else self._roi_slices(r)
                )
                sub = data[:, ys, xs]
                p = _fringes.fringe_power(
                    sub, px, d, tolerance, background=background, workers=workers
                )
                parts.append(p[:, 0, 0, :].T)  # (nb, t)
            import dask.array as da

            p = da.stack(parts) if len(parts) > 1 else parts[0]
            if scalar_d:
                p = p[..., 0, :] if len(parts) > 1 else p[0]
            p = _compute(p, lazy_output, show_progressbar, num_workers)
            axes = []
            if len(parts) > 1:
                axes.append({"name": "ROI", "size": len(parts)})
            if not scalar_d:
                axes.append(d_axis)
            axes.append(_axis_dict(ax_t))
            md = self._result_metadata("Fringe power", "Fringe power (counts^2)")
            cls = hs.signals.Signal1D
        md["Fringe_tracking"] = {
            "d_spacings": d,
            "d_spacings_units": "A",
            "tolerance": float(tolerance),
            "background": bool(background),
            "tile_size": -1 if tile_size is None else int(tile_size),
            "pixel_size": px,
            "pixel_size_units": "A",
        }
        out = _make_signal(cls, p, axes, md)
        return out

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


class LazyInSituImageSeries(LazySignal, InSituImageSeries):
    """Lazy in situ image series (dask), chunked along time."""

    _lazy = True
