"""In situ image series (HRTEM/STEM movies) with their stimulus record.

An :class:`InSituImageSeries` is a Signal2D whose navigation axis is time in
seconds (“Imaging real-time amorphization of hybrid perovskite solar cells under electrical biasing”: 4k x 4k HRTEM at 25 fps for 300 s under
1 V). Methods are thin: they validate inputs, read axes and metadata, call the
array kernels of :mod:`hyperspy_perovskite.analysis` (one dask code path for
eager and lazy data, chunked along time) and wrap the results as signals on
the time axis that keep the stimulus record.
"""

import copy

import numpy as np
from hyperspy._signals.lazy import LazySignal
from hyperspy.signals import Signal2D

from hyperspy_perovskite._dask import dask_view
from hyperspy_perovskite.analysis import drift as _drift
from hyperspy_perovskite.signals._base import compute
from hyperspy_perovskite.signals._insitu_common import (
    _FRAME_BYTES_PER_CHUNK,
    DoseMixin,
    _axis_dict,
    _make_signal,
    _options,
)
from hyperspy_perovskite.signals.insitu_fringes import FringeMixin
from hyperspy_perovskite.stimulus import record as _record
from hyperspy_perovskite.units import axis_factor
from hyperspy_perovskite.units_arguments import parse_pixels

__all__ = ["InSituImageSeries", "LazyInSituImageSeries"]


class InSituImageSeries(FringeMixin, DoseMixin, Signal2D):
    """An in situ image series: Signal2D with a time navigation axis (s).

    The stimulus record (bias, current, temperature, light, gas, dose rate)
    lives in ``metadata.Stimulus`` (layout:
    :mod:`hyperspy_perovskite.stimulus.schema`). Fringe power maps and
    traces (``fringe_intensity``, ``compare_regions``) come from
    :class:`~hyperspy_perovskite.signals.insitu_fringes.FringeMixin`, dose
    (``electron_dose``, ``electron_dose_map``) from
    :class:`~hyperspy_perovskite.signals._insitu_common.DoseMixin`.

    Examples
    --------
    >>> s = hs.signals.Signal2D(np.zeros((3, 32, 32)))
    >>> s.set_signal_type("insitu_image_series")
    >>> s.axes_manager[0].name  # its unit is not guessed: set it
    'time'
    >>> s.axes_manager[0].units, s.axes_manager[0].scale = "s", 0.04
    """

    _signal_type = "insitu_image_series"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # idempotent: name a bare navigation axis "time", never overwrite; its
        # unit is NOT set: a frame axis without a time unit is refused by the
        # methods that need times until the user gives the frame time
        nav = self.axes_manager.navigation_axes
        if len(nav) == 1:
            ax = nav[0]
            if not isinstance(ax.name, str) or ax.name in ("", "<undefined>"):
                ax.name = "time"

    # ------------------------------------------------------------------ utils
    def _time_axis(self):
        nav = self.axes_manager.navigation_axes
        if len(nav) != 1:
            raise ValueError(
                "An in situ image series needs exactly one navigation axis (time); "
                f"this signal has {len(nav)}. Use s.inav / s.transpose to select it."
            )
        return _record.frame_time_axis(self)

    def _frame_axis(self):
        """The navigation axis of the frames (any unit: drift needs no times)."""
        nav = self.axes_manager.navigation_axes
        if len(nav) != 1:
            raise ValueError(
                "An in situ image series needs exactly one navigation axis (time); "
                f"this signal has {len(nav)}. Use s.inav / s.transpose to select it."
            )
        return nav[0]

    def _pixel_size_angstrom(self):
        ax_x, ax_y = self.axes_manager.signal_axes
        for ax in (ax_x, ax_y):
            if not ax.is_uniform:
                raise ValueError("The image axes must be uniform.")
        px = abs(ax_x.scale) * axis_factor(ax_x, "angstrom", name="pixel size")
        py = abs(ax_y.scale) * axis_factor(ax_y, "angstrom", name="pixel size")
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
        >>> s.axes_manager[0].units = "s"
        >>> s2 = s.attach_stimulus({"time": [0, 1, 2, 3], "Bias": ([0, 1, 1, 1], "V")})
        >>> s2.stimulus["Bias"].data
        array([0., 1., 1., 1.])
        """
        return _record.attach_stimulus(self, source, inplace=inplace, **kwargs)

    @property
    def stimulus(self):
        """Each stimulus channel as a Signal1D on the frame time axis (dict)."""
        return _record.stimulus_channels(self)

    # ---------------------------------------------------------------- drift
    def estimate_drift(
        self,
        reference=0,
        roi=None,
        upsample=20,
        sigma=2.0,
        blank="nan",
        show_progressbar=None,
        lazy_output=None,
        num_workers=None,
    ):
        """Estimate the drift of every frame against a reference (sub-pixel).

        Coarse phase correlation on binned frames, then a sub-pixel
        refinement on a central crop (:mod:`hyperspy_perovskite.analysis.drift`):
        fast enough for 4k x 4k movies. Blank or featureless frames (beam
        off, no correlation peak above the noise) get NaN shifts and are
        listed in ``metadata.Validity`` of the result (a lazy mask for a lazy
        result, see :func:`~hyperspy_perovskite.validity.compute_validity`);
        they are never given a false shift.

        Parameters
        ----------
        reference : int or numpy.ndarray
            Index of the reference frame, or the reference image.
        roi : RectangularROI or tuple, optional
            Register on this region only (calibrated units of the image axes).
        upsample : int
            Precision ``1 / upsample`` pixel.
        sigma : float, str or None
            Gaussian low-pass before correlation: a number is in pixels
            (default 2), or a length with its unit (``"0.5 nm"``), converted
            through the image axes; None: none.
        blank : {"nan", "interpolate"}
            Shifts of blank frames: NaN (default; :meth:`correct_drift` then
            refuses them) or interpolated in time from their neighbours.
        show_progressbar, lazy_output, num_workers
            As for :meth:`hyperspy.api.signals.BaseSignal.map`.

        Returns
        -------
        Signal1D
            Shape (2 | time): the shifts (y, x) in calibrated units that move
            each frame back onto the reference (a feature drifting by ``+d``
            gives ``-d``).

        Examples
        --------
        >>> s = hs.signals.Signal2D(np.random.default_rng(0).random((3, 32, 32)))
        >>> s.set_signal_type("insitu_image_series")
        >>> s.estimate_drift().data.shape
        (2, 3)
        """
        import hyperspy.api as hs

        from hyperspy_perovskite.validity import Validity

        if blank not in ("nan", "interpolate"):
            raise ValueError(f"blank must be 'nan' or 'interpolate', got {blank!r}.")
        ax_t = self._frame_axis()
        if sigma is not None:
            sigma = parse_pixels(sigma, self.axes_manager.signal_axes, name="sigma")
        opts = _options(self, show_progressbar, lazy_output, num_workers)
        data = self._dask_frames(copy=opts.lazy_output)
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
        if opts.lazy_output and blank == "interpolate":
            raise ValueError("blank='interpolate' needs an eager result.")
        shifts = compute(shifts, opts)
        # lazy output: a lazy mask from the same graph (computed with the
        # shifts by compute_validity, or when read)
        ok = np.all(np.isfinite(shifts), axis=1)
        validity = Validity(
            np.broadcast_to(ok, (2, ok.shape[0])),
            np.broadcast_to((~ok).astype(np.uint32), (2, ok.shape[0])),
            ("blank or featureless frame",),
            {"sigma": -1.0 if sigma is None else float(sigma)},
        )
        if blank == "interpolate" and not ok.all():
            shifts = _drift.fill_blank(shifts)
        shifts = shifts * scale
        md = self._result_metadata("Drift correction shifts", f"Shift ({ax_x.units})")
        md.pop("Stimulus", None)
        md["Drift"] = {
            "reference": int(reference) if np.ndim(reference) == 0 else -1,
            "upsample": int(upsample),
            "shift_units": str(ax_x.units),
            "blank": blank,
        }
        out = _make_signal(
            hs.signals.Signal1D,
            shifts.T,
            [{"name": "shift (y, x)", "size": 2}, _axis_dict(ax_t)],
            md,
        )
        validity.to_metadata(out.metadata)
        return out

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
            ``estimate_kwargs``). NaN shifts (blank frames) are refused.
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
        from hyperspy.signal import BaseSignal

        from hyperspy_perovskite.metadata import record_processing

        opts = _options(self, show_progressbar, lazy_output, num_workers, inplace)
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
        if not isinstance(shifts, BaseSignal) or shifts.data.shape != (
            2,
            self.axes_manager.navigation_size,
        ):
            raise ValueError(
                "shifts must be the Signal1D returned by estimate_drift, of shape "
                f"(2, {self.axes_manager.navigation_size})."
            )
        ax_x, ax_y = self.axes_manager.signal_axes
        sh = np.asarray(shifts.data, dtype=float).T / np.array([ax_y.scale, ax_x.scale])
        corrected = _drift.apply_shifts(self._dask_frames(copy=opts.lazy_output), sh)
        corrected = compute(corrected, opts)
        if inplace:
            self.data = corrected
            target = self
        else:
            target = self._deepcopy_with_new_data(corrected)
            if opts.lazy_output and not target._lazy:
                target = target.as_lazy()
            elif not opts.lazy_output and target._lazy:
                target._lazy = False
                target._assign_subclass()
        record_processing(
            target.metadata,
            "Drift_correction",
            shifts=sh,
            shifts_units="px",
            method="Fourier shift",
        )
        return None if inplace else target

    # ------------------------------------------------------------ low dose
    def average_frames(
        self, n, shifts=None, show_progressbar=None, lazy_output=None, num_workers=None
    ):
        """Sum groups of ``n`` frames (after drift correction) for low-dose movies.

        Counts are summed, not averaged, so that the result stays in counts
        (Poisson statistics, ``counts_per_electron`` dose maps) and the dose
        is carried: each new frame starts at the start of its group and lasts
        ``n`` frame intervals, so :meth:`electron_dose` of the result gives
        the same cumulative dose at the end of each group as the original
        movie. Frames left over at the end (fewer than ``n``) are dropped.

        Parameters
        ----------
        n : int
            Frames per group.
        shifts : Signal1D, optional
            :meth:`estimate_drift` output: the frames are drift-corrected
            (Fourier shift) before they are summed.
        show_progressbar, lazy_output, num_workers
            As for :meth:`hyperspy.api.signals.BaseSignal.map`.

        Returns
        -------
        InSituImageSeries
            ``metadata.Processing.Frame_averaging`` records ``n`` and whether
            the drift was corrected.

        Examples
        --------
        >>> s = hs.signals.Signal2D(np.ones((7, 8, 8)))
        >>> s.set_signal_type("insitu_image_series")
        >>> s.axes_manager[0].units, s.axes_manager[0].scale = "s", 0.04
        >>> a = s.average_frames(3)
        >>> a.data.shape, float(a.data[0, 0, 0]), a.axes_manager[0].scale
        ((2, 8, 8), 3.0, 0.12)
        """
        from hyperspy_perovskite.metadata import record_processing

        if int(n) != n or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}.")
        n = int(n)
        ax = self._frame_axis()
        if not ax.is_uniform:
            raise ValueError("Frame averaging needs a uniform frame axis.")
        m = ax.size // n
        if m == 0:
            raise ValueError(f"The movie has {ax.size} frames, fewer than n = {n}.")
        src = (
            self
            if shifts is None
            else self.correct_drift(
                shifts,
                show_progressbar=show_progressbar,
                lazy_output=True,
                num_workers=num_workers,
            )
        )
        opts = _options(self, show_progressbar, lazy_output, num_workers)
        data = src._dask_frames(copy=opts.lazy_output)[: m * n]
        summed = data.reshape((m, n) + tuple(data.shape[1:])).sum(
            axis=1, dtype=np.float32
        )
        summed = compute(summed, opts)
        out = self.inav[:m]._deepcopy_with_new_data(summed)
        if opts.lazy_output and not out._lazy:
            out = out.as_lazy()
        elif not opts.lazy_output and out._lazy:
            out._lazy = False
            out._assign_subclass()
        oax = out.axes_manager.navigation_axes[0]
        oax.scale = ax.scale * n
        oax.offset = ax.offset
        record_processing(
            out.metadata,
            "Frame_averaging",
            n=n,
            drift_corrected=shifts is not None,
            operation="sum",
        )
        return out

    # -------------------------------------------------------------- fringes


class LazyInSituImageSeries(LazySignal, InSituImageSeries):
    """Lazy in situ image series (dask), chunked along time."""

    _lazy = True
