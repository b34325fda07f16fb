"""Shared helpers and the electron-dose methods of the in situ image series.

:class:`DoseMixin` holds :meth:`electron_dose` and :meth:`electron_dose_map`
of :class:`~hyperspy_perovskite.signals.insitu_image.InSituImageSeries`
(kept apart so that each module stays readable); the helpers resolve the
common options and wrap results.
"""

import warnings

import numpy as np
from hyperspy.signals import Signal2D

from hyperspy_perovskite.signals._base import compute, resolve_options
from hyperspy_perovskite.stimulus import dose as _dose
from hyperspy_perovskite.stimulus.dose_source import resolve_dose_rate
from hyperspy_perovskite.units import UnitError, parse_quantity
from hyperspy_perovskite.units_arguments import parse_pixels

# eager data are wrapped in dask chunks of about this size along time, so that
# the threaded scheduler spreads frames over the cores with bounded memory
_FRAME_BYTES_PER_CHUNK = 16 * 2**20


def _options(signal, show_progressbar, lazy_output, num_workers, inplace=False):
    """Resolved options; eager in-memory data show no bar unless asked."""
    if show_progressbar is None and not signal._lazy:
        show_progressbar = False
    return resolve_options(
        signal,
        inplace=inplace,
        lazy_output=lazy_output,
        show_progressbar=show_progressbar,
        num_workers=num_workers,
    )


def _whole_pixels(value, axes, name):
    """A pixel count from a number, ``"32 px"`` or a length that is a whole
    number of pixels through ``axes`` (``"6.4 nm"`` on 0.2 nm pixels)."""
    px = parse_pixels(value, axes, name=name)
    if not abs(px - round(px)) <= 1e-6 * max(1.0, abs(px)):
        raise UnitError(
            f"{name}: {value!r} is {px:.6g} pixels, not a whole number of "
            "pixels; give a whole number of px or a multiple of the pixel size."
        )
    return int(round(px))


def _directions(direction):
    """Spot directions in degrees: None, "auto", a number (deg), a string or
    quantity with an angle unit ("0.5 rad"), or a list of them (None kept)."""
    if direction is None or isinstance(direction, str) and direction == "auto":
        return direction
    if isinstance(direction, list | tuple | np.ndarray):
        return [
            None if v is None else parse_quantity(v, "degree", name="direction")
            for v in direction
        ]
    return parse_quantity(direction, "degree", name="direction")


def _d_spacings(d_spacing):
    """d-spacings in A from numbers (A), strings ("0.636 nm") or quantities."""
    items = (
        d_spacing if isinstance(d_spacing, (list, tuple, np.ndarray)) else [d_spacing]
    )
    d = np.array([parse_quantity(v, "angstrom", name="d_spacing") for v in items])
    if d.size == 0 or not np.all(np.isfinite(d)) or np.any(d <= 0):
        raise ValueError(f"d_spacing must be positive lengths (A), got {d_spacing!r}.")
    return d


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


class DoseMixin:
    """Electron-dose methods of an in situ image series."""

    # ------------------------------------------------------------------ dose
    def _region_masks(self, regions):
        """``{name: boolean mask}`` of the frame from ROIs, tuples or masks."""
        ny, nx = self.axes_manager.signal_shape[::-1]
        if regions is None:
            regions = {"frame": None}
        if not isinstance(regions, dict) or not regions:
            raise TypeError("regions must be a non-empty dict {name: ROI or mask}.")
        masks = {}
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
            masks[str(name)] = mask
        return masks

    def _beam_profile(self, beam_profile):
        if beam_profile is None:
            return None
        ny, nx = self.axes_manager.signal_shape[::-1]
        beam_profile = np.asarray(beam_profile, dtype=float)
        if beam_profile.shape != (ny, nx):
            raise ValueError(
                f"beam_profile must have the frame shape {(ny, nx)}, got "
                f"{beam_profile.shape}."
            )
        if np.any(beam_profile < 0) or not np.all(np.isfinite(beam_profile)):
            raise ValueError("beam_profile must be finite and >= 0.")
        return beam_profile

    def _dose_inputs(
        self, dose_rate, beam_current, illuminated_area, exposure, pre_dose
    ):
        """Frame times, rates, exposures and pre-dose (all checked)."""
        ax_t, times = self._time_axis()
        ny, nx = self.axes_manager.signal_shape[::-1]
        rate, source = resolve_dose_rate(
            self,
            times,
            lambda: ny * nx * self._pixel_size_angstrom() ** 2,
            dose_rate,
            beam_current,
            illuminated_area,
        )
        if exposure is None:
            if times.size < 2:
                raise ValueError("Give the exposure (s) of a single frame.")
            exposure = np.append(np.diff(times), times[-1] - times[-2])
        exposure = np.broadcast_to(
            parse_quantity(exposure, "s", name="exposure"), times.shape
        ).astype(float)
        fluence, cum = _dose.cumulative_dose(times, rate, exposure)
        pre_source = "given"
        if isinstance(pre_dose, str) and pre_dose == "auto":
            # frames sliced off the start of the movie (time axis not at 0)
            # were exposed at the first frame's rate from t = 0
            pre_dose = float(rate[0] * times[0]) if times[0] > 0 else 0.0
            pre_source = (
                "first frame's dose rate from t = 0" if times[0] > 0 else "none"
            )
        else:
            pre_dose = parse_quantity(pre_dose, "e/A^2", name="pre_dose")
        if not np.isfinite(pre_dose) or pre_dose < 0:
            raise ValueError(f"pre_dose must be >= 0 e/A^2, got {pre_dose!r}.")
        return (
            ax_t,
            times,
            rate,
            source,
            exposure,
            fluence,
            cum + pre_dose,
            (float(pre_dose), pre_source),
        )

    def _dose_metadata(self, title, source, cumulative, rate, times, pre):
        md = self._result_metadata(title, "Dose (e/A^2)")
        md.pop("Stimulus", None)
        guide = _dose.DOSE_RATE_GUIDELINE
        above = np.nonzero(rate > guide["dose_rate"])[0]
        if above.size:
            warnings.warn(
                f"The dose rate exceeds the guideline of {guide['dose_rate']:g} "
                f"e/(A^2 s) ({guide['source']}) in {above.size} frame(s), first at "
                f"t = {times[above[0]]:g} s (max {rate.max():.3g} e/(A^2 s)).",
                UserWarning,
                stacklevel=3,
            )
        md["Dose"] = {
            "dose_rate_source": source,
            "cumulative": bool(cumulative),
            "dose_units": "e/A^2",
            "pre_dose": pre[0],
            "pre_dose_units": "e/A^2",
            "pre_dose_source": pre[1],
            "max_dose_rate": float(np.max(rate)),
            "max_dose_rate_units": "e/A^2/s",
            "dose_rate_guideline": guide["dose_rate"],
            "dose_rate_guideline_units": guide["units"],
            "dose_rate_guideline_source": guide["source"],
            "dose_rate_guideline_exceeded": bool(above.size),
            "Regions": {},
        }
        return md

    def _critical(self, critical_dose, material):
        if material is not None:
            if critical_dose is not None:
                raise ValueError("Give either critical_dose or material, not both.")
            crit, entry = _dose.critical_dose(material)
            return crit, entry["source"]
        if critical_dose is None:
            return None, ""
        return parse_quantity(critical_dose, "e/A^2", name="critical_dose"), "user"

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
        pre_dose="auto",
    ):
        """Electron fluence per frame or cumulative dose (e/A^2), per region.

        The dose rate comes from, in this order: ``dose_rate`` (e/A^2/s),
        ``beam_current`` (A) over ``illuminated_area`` (A^2, default the frame
        area), a ``dose_rate`` or ``beam_current`` channel of the stimulus
        record (time-resolved; frames it does not cover are refused, never
        counted as zero), ``metadata.Stimulus.Dose``, or
        ``metadata.Acquisition_instrument.TEM.beam_current`` (nA, HyperSpy
        convention). Every value accepts a string with a unit (``"20 pA"``).
        Frames above the dose-rate guideline of
        :data:`~hyperspy_perovskite.stimulus.dose.DOSE_RATE_GUIDELINE`
        (90 e/(A^2 s), Hao & Cai, Microstructures 5, 2025012 (2025)) are
        flagged with a warning and in ``metadata.Dose``.

        Parameters
        ----------
        dose_rate, beam_current, illuminated_area : float or str, optional
            Dose rate (a number is in e/A^2/s), beam current (A) and
            illuminated area (A^2); a string carries its unit ("5 nA").
        exposure : float, str or array, optional
            Exposure per frame, s (default the frame interval).
        regions : dict, optional
            ``{name: RectangularROI, (left, right, top, bottom) or boolean mask}``;
            default one region "frame".
        beam_profile : numpy.ndarray, optional
            Relative beam intensity over the frame (1 = nominal dose rate).
        critical_dose : float or str, optional
            Critical dose (e/A^2); frames beyond it are flagged.
        material : str, optional
            Take the critical dose from
            :data:`hyperspy_perovskite.stimulus.dose.CRITICAL_DOSES`.
        cumulative : bool
            Cumulative dose (default) or fluence per frame.
        pre_dose : "auto", float or str
            Dose before the first frame (e/A^2). "auto": a movie whose time
            axis starts after 0 (e.g. sliced with ``s.inav[100:]``) received
            the first frame's dose rate since t = 0, so slicing keeps the
            cumulative dose.

        Returns
        -------
        Signal1D
            Navigation axis: region; signal axis: time. ``metadata.Dose``
            holds the sources, the guideline flag, and per region
            ``exceeded`` and the first frame/time beyond the critical dose.

        Examples
        --------
        >>> s = hs.signals.Signal2D(np.zeros((5, 16, 16)))
        >>> s.set_signal_type("insitu_image_series")
        >>> s.axes_manager[0].units, s.axes_manager[0].scale = "s", 0.04
        >>> d = s.electron_dose(dose_rate=50.0, critical_dose=5.0)
        >>> d.data
        array([ 2.,  4.,  6.,  8., 10.])
        >>> d.metadata.Dose.Regions.frame.critical_time  # 6 > 5 e/A^2 at frame 2
        0.08
        >>> s.inav[2:].electron_dose(dose_rate=50.0).data  # slicing keeps the dose
        array([ 6.,  8., 10.])
        """
        import hyperspy.api as hs

        ax_t, times, rate, source, _, fluence, cum, pre = self._dose_inputs(
            dose_rate, beam_current, illuminated_area, exposure, pre_dose
        )
        masks = self._region_masks(regions)
        profile = self._beam_profile(beam_profile)
        names = list(masks)
        factors = [
            1.0 if profile is None else float(profile[m].mean()) for m in masks.values()
        ]
        base = cum if cumulative else fluence
        data = np.asarray(factors)[:, None] * base[None, :]
        crit, crit_source = self._critical(critical_dose, material)
        md = self._dose_metadata(
            "Cumulative electron dose" if cumulative else "Electron fluence per frame",
            source,
            cumulative,
            rate,
            times,
            pre,
        )
        if crit is not None:
            md["Dose"].update(
                critical_dose=float(crit),
                critical_dose_units="e/A^2",
                critical_dose_source=crit_source,
            )
        for name, f in zip(names, factors, strict=True):
            md["Dose"]["Regions"][name] = self._region_flags(name, f * cum, crit, times)
        md["Dose"]["Regions"] = {
            k: dict(v, beam_factor=f)
            for (k, v), f in zip(md["Dose"]["Regions"].items(), factors, strict=True)
        }
        t_axis = _axis_dict(ax_t)
        if len(names) == 1:
            return hs.signals.Signal1D(data[0], axes=[t_axis], metadata=md)
        out = hs.signals.Signal1D(
            data, axes=[{"name": "region", "size": len(names)}, t_axis], metadata=md
        )
        out.metadata.set_item("Dose.region_names", names)
        return out

    @staticmethod
    def _region_flags(name, cum, crit, times):
        if crit is None:
            return {}
        i = _dose.first_exceedance(cum, crit)
        if i is not None:
            warnings.warn(
                f"Region {name!r} passes the critical dose {crit:g} e/A^2 at "
                f"frame {i} (t = {times[i]:g} s).",
                UserWarning,
                stacklevel=3,
            )
        return {
            "exceeded": i is not None,
            "critical_frame": -1 if i is None else i,
            "critical_time": float("nan") if i is None else float(times[i]),
        }

    def electron_dose_map(
        self,
        dose_rate=None,
        beam_current=None,
        illuminated_area=None,
        exposure=None,
        beam_profile=None,
        shifts=None,
        counts_per_electron=None,
        cumulative=True,
        pre_dose="auto",
        show_progressbar=None,
        lazy_output=None,
        num_workers=None,
    ):
        """Per-pixel dose-rate or cumulative-dose maps in sample coordinates.

        From the beam (dose rate as for :meth:`electron_dose` times a relative
        ``beam_profile``, moved onto the sample by the drift ``shifts``) or,
        with ``counts_per_electron``, from the recorded counts of every pixel
        (``counts / counts_per_electron / pixel area / exposure``).

        Parameters
        ----------
        dose_rate, beam_current, illuminated_area, exposure, pre_dose
            As for :meth:`electron_dose`.
        beam_profile : numpy.ndarray, optional
            Relative beam intensity on the detector, default uniform.
        shifts : Signal1D, optional
            :meth:`estimate_drift` output: the dose is accumulated where each
            sample point was (drift-aware).
        counts_per_electron : float, optional
            Detector counts per incident electron: the dose from the image
            itself.
        cumulative : bool
            Cumulative dose (e/A^2, default) or dose rate (e/A^2/s).
        show_progressbar, lazy_output, num_workers
            As for :meth:`hyperspy.api.signals.BaseSignal.map`.

        Returns
        -------
        InSituImageSeries
            Same axes as the movie; ``metadata.Dose`` as for
            :meth:`electron_dose` (sources, pre-dose, guideline flag).

        Examples
        --------
        >>> s = hs.signals.Signal2D(np.full((4, 8, 8), 200.0))
        >>> s.set_signal_type("insitu_image_series")
        >>> s.axes_manager[0].units, s.axes_manager[0].scale = "s", 0.5
        >>> for ax in s.axes_manager.signal_axes:
        ...     ax.units, ax.scale = "A", 2.0
        >>> m = s.electron_dose_map(counts_per_electron=10.0)
        >>> m.data[:, 0, 0].tolist()  # 200 / 10 / 4 A^2 / 0.5 s = 10 e/(A^2 s)
        [5.0, 10.0, 15.0, 20.0]
        """
        opts = _options(self, show_progressbar, lazy_output, num_workers)
        ny, nx = self.axes_manager.signal_shape[::-1]
        px = self._pixel_size_angstrom()
        if counts_per_electron is not None:
            if dose_rate is not None or beam_current is not None:
                raise ValueError(
                    "Give counts_per_electron (dose from the image counts) or a "
                    "beam dose rate / current, not both."
                )
            ax_t, times = self._time_axis()
            if exposure is None:
                exposure = np.append(np.diff(times), times[-1] - times[-2])
            exposure = np.broadcast_to(
                parse_quantity(exposure, "s", name="exposure"), times.shape
            ).astype(float)
            rmap = _dose.dose_rate_map(
                None,
                counts=self._dask_frames(copy=opts.lazy_output),
                counts_per_electron=float(counts_per_electron),
                pixel_area=px * px,
                exposure=exposure,
            )
            rate = np.full(times.shape, np.nan)
            source = f"image counts / {counts_per_electron:g} counts per electron"
            pre = (
                (0.0, "none")
                if pre_dose == "auto"
                else (parse_quantity(pre_dose, "e/A^2", name="pre_dose"), "given")
            )
        else:
            ax_t, times, rate, source, exposure, _, _, pre = self._dose_inputs(
                dose_rate, beam_current, illuminated_area, exposure, pre_dose
            )
            profile = self._beam_profile(beam_profile)
            profile = np.ones((ny, nx)) if profile is None else profile
            sh = None
            if shifts is not None:
                ax_x, ax_y = self.axes_manager.signal_axes
                sh = np.asarray(shifts.data, float).T / np.array(
                    [ax_y.scale, ax_x.scale]
                )
            frames = self._dask_frames(copy=opts.lazy_output)
            rmap = _dose.dose_rate_map(rate, profile, sh, chunks=frames.chunks[0])
        out = _dose.cumulative_dose_map(rmap, exposure, pre[0]) if cumulative else rmap
        out = compute(out, opts)
        md = self._dose_metadata(
            "Cumulative dose map" if cumulative else "Dose-rate map",
            source,
            cumulative,
            np.nan_to_num(rate),
            times,
            pre,
        )
        md["Signal"]["quantity"] = (
            "Dose (e/A^2)" if cumulative else "Dose rate (e/A^2/s)"
        )
        md["Signal"]["signal_type"] = "insitu_image_series"
        axes = [_axis_dict(ax) for ax in (ax_t, *self.axes_manager.signal_axes[::-1])]
        res = _make_signal(Signal2D, out, axes, md)
        res.set_signal_type("insitu_image_series")
        return res
