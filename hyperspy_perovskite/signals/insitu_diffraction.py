"""In situ SAED movies: a time series of selected-area diffraction patterns.

:class:`InSituSAEDSeries` subclasses pyxem's
:class:`~pyxem.signals.ElectronDiffraction2D` (signal_type
``insitu_SAED_series``, distinct from pyxem's ``insitu_diffraction``, which is
for 4D-STEM), so pyxem's centre finding and azimuthal integration keep
working. It adds, on the time axis (“Imaging real-time amorphization of hybrid perovskite solar cells under electrical biasing”: facet-dependent amorphization
under bias, Fig. 2 and S6):

* :meth:`~InSituSAEDSeries.azimuthal_profile`: pyxem's azimuthal integral per
  frame, radial axis at bin centres;
* :meth:`~InSituSAEDSeries.index_rings` and
  :meth:`~InSituSAEDSeries.index_spots`: indexing against the phase library
  (:mod:`hyperspy_perovskite.crystallography`);
* :meth:`~InSituSAEDSeries.hkl_intensities`: integrated intensity of each
  {hkl} family vs time;
* :meth:`~InSituSAEDSeries.amorphous_fraction`: amorphous-halo fraction vs
  time.

Requirements: one navigation axis (time, s) and signal axes calibrated in
1/A (units ``k_A^-1``, pyxem's convention) with the direct beam at the
origin of the axes (``s.center_direct_beam`` / ``s.calibration.center``).
"""

import dask.array as da
import numpy as np
from hyperspy._signals.lazy import LazySignal
from hyperspy.docstrings.signal import (
    LAZY_OUTPUT_ARG,
    NUM_WORKERS_ARG,
    SHOW_PROGRESSBAR_ARG,
)
from hyperspy.signals import Signal1D
from pyxem.signals import ElectronDiffraction2D

from hyperspy_perovskite.analysis import saed
from hyperspy_perovskite.crystallography import (
    d_spacing,
    get_phase,
    index_rings,
    reflection_families,
)
from hyperspy_perovskite.crystallography import (
    index_spots as _index_spots_fn,
)
from hyperspy_perovskite.units import UnitError, parse_quantity

__all__ = ["InSituSAEDSeries", "LazyInSituSAEDSeries"]

_RECIPROCAL_A = {"k_A^-1", "A^-1", "1/A", "Å^-1", "1/Å", "k_Å^-1", "A-1", "Å-1"}
_FMT = {
    "show_progressbar": SHOW_PROGRESSBAR_ARG,
    "lazy_output": LAZY_OUTPUT_ARG,
    "num_workers": NUM_WORKERS_ARG,
}

_DECOMP_PARAMS = """phase : str or Phase, optional
            Library phase (:func:`~hyperspy_perovskite.crystallography.list_phases`);
            default ``metadata.Sample.phase``.
        halo_d : float or None
            d-spacing (A) of the amorphous halo; default the phase's (002)
            spacing (“Imaging real-time amorphization of hybrid perovskite solar cells under electrical biasing”: the amorphous ring overlaps (002)).
        ring_width : float or None
            Gaussian standard deviation of the rings (1/A); default fitted
            (with the halo width) to the mean profiles of the first and last
            10 %% of frames, starting from a fit of the strongest ring.
        halo_width : float or None
            Gaussian standard deviation of the halo (1/A); default fitted.
        background_order : int
            Polynomial order of the smooth background.
        radial_range : (float, float) or None
            Range of ``g`` (1/A) used; default from 6 ring widths below the
            first ring to the inscribed circle of the frame (full rings only).
        profile : Signal1D or None
            A precomputed :meth:`azimuthal_profile` (saves recomputing it).
        npt : int or None
            Radial bins of the azimuthal profile when it is computed."""


# plausible ranges of plain numbers in the default units (TEMs run at
# 20-3000 kV; SAED camera lengths are 0.01-100 m; detector pixels 0.5-1000 um)
_PLAUSIBLE = {
    "beam_energy": ("kV", 20.0, 3000.0, "eV"),
    "camera_length": ("mm", 10.0, 1e5, "m"),
    "detector_pixel_size": ("um", 0.5, 1000.0, "mm"),
}


def _camera_geometry(detector_pixel_size, camera_length, beam_energy):
    """Detector pixel (um), camera length (mm), beam energy (kV), checked."""
    out = []
    for name, value in (
        ("detector_pixel_size", detector_pixel_size),
        ("camera_length", camera_length),
        ("beam_energy", beam_energy),
    ):
        unit, lo, hi, other = _PLAUSIBLE[name]
        try:
            v = parse_quantity(value, unit, name=name)
        except UnitError:
            if name != "beam_energy":
                raise
            # an electron energy in eV is the accelerating voltage in V
            v = parse_quantity(value, "keV", name=name)
        if not lo <= v <= hi:
            raise UnitError(
                f"{name}={value!r} is {v:g} {unit}, outside the range of TEMs "
                f"({lo:g}-{hi:g} {unit}). A plain number is in {unit}; if it is "
                f"in {other}, write it with its unit, e.g. {name}='{value} {other}'."
            )
        out.append(v)
    return out


def _check_not_both(lazy_output, inplace=False):
    if lazy_output and inplace:
        raise ValueError("lazy_output=True and inplace=True cannot be combined.")


class InSituSAEDSeries(ElectronDiffraction2D):
    """An SAED movie: ``(time | ky, kx)`` in 1/A, built on pyxem.

    Examples
    --------
    >>> from hyperspy_perovskite.signals.insitu_diffraction import InSituSAEDSeries
    >>> s = hs.signals.Signal2D(np.zeros((3, 32, 32)))
    >>> s.set_signal_type("insitu_SAED_series")
    >>> type(s).__name__
    'InSituSAEDSeries'
    """

    _signal_type = "insitu_SAED_series"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)

    # ------------------------------------------------------------------ checks
    def _check_series(self):
        if self.axes_manager.navigation_dimension != 1:
            raise ValueError(
                "An SAED series needs exactly one navigation axis (time); this "
                f"signal has {self.axes_manager.navigation_dimension}. Use "
                "s.transpose(...) or s.inav[...] to get a (time | ky, kx) signal."
            )
        for ax in self.axes_manager.signal_axes:
            if str(ax.units) not in _RECIPROCAL_A:
                raise ValueError(
                    f"The diffraction axes must be calibrated in 1/A (units "
                    f"'k_A^-1'); axis '{ax.name}' has units '{ax.units}'. Set "
                    "ax.scale (1/A per pixel), ax.units = 'k_A^-1' and put the "
                    "direct beam at the origin (ax.offset)."
                )
        if self.axes_manager.signal_axes[0].scale <= 0:
            raise ValueError(
                "The diffraction calibration (axis scale) must be positive."
            )

    def _phase(self, phase):
        if phase is None:
            phase = self.metadata.get_item("Sample.phase")
            if phase is None:
                raise ValueError(
                    "Give phase= (a library name, see "
                    "hyperspy_perovskite.crystallography.list_phases()) or set "
                    "metadata.Sample.phase."
                )
        return get_phase(phase)

    def _time_axis_of(self, out):
        tax = self.axes_manager.navigation_axes[0]
        ax = out.axes_manager.signal_axes[0]
        ax.name, ax.units, ax.scale, ax.offset = (
            tax.name,
            tax.units,
            tax.scale,
            tax.offset,
        )
        if ax.name in (None, "<undefined>"):
            ax.name = "time"

    # --------------------------------------------------------------- stimulus
    def attach_stimulus(self, source, inplace=False, **kwargs):
        """Attach a stimulus log (bias, temperature, gas, ...) to the series.

        Same as :meth:`InSituImageSeries.attach_stimulus
        <hyperspy_perovskite.signals.insitu_image.InSituImageSeries.attach_stimulus>`
        (:func:`hyperspy_perovskite.stimulus.attach_stimulus`): several logs
        can be attached one after the other, each channel keeping its source.

        Examples
        --------
        >>> from hyperspy_perovskite.signals.insitu_diffraction import InSituSAEDSeries
        >>> s = InSituSAEDSeries(np.zeros((4, 16, 16)))
        >>> s.axes_manager[0].name, s.axes_manager[0].units = "time", "s"
        >>> s2 = s.attach_stimulus({"time": [0, 1, 2, 3], "T": ([25, 90, 130, 140], "degC")})
        >>> s2.stimulus["T"].data
        array([ 25.,  90., 130., 140.])
        """
        from hyperspy_perovskite.stimulus import record as _record

        return _record.attach_stimulus(self, source, inplace=inplace, **kwargs)

    @property
    def stimulus(self):
        """Each stimulus channel as a Signal1D on the frame time axis (dict)."""
        from hyperspy_perovskite.stimulus import record as _record

        return _record.stimulus_channels(self)

    # ------------------------------------------------------------ calibration
    def calibrate(
        self,
        scale=None,
        detector_pixel_size=None,
        camera_length=None,
        beam_energy=None,
        center=None,
        inplace=False,
    ):
        """Calibrate the diffraction axes in 1/A with the direct beam at 0.

        Give either ``scale`` (1/A per pixel) or the camera geometry
        (``detector_pixel_size``, ``camera_length`` and the beam energy, read
        from ``metadata.Acquisition_instrument.TEM.beam_energy`` in kV when
        not given), see
        :func:`~hyperspy_perovskite.crystallography.reciprocal_pixel_size`.
        Every length and energy accepts a plain number in its default unit
        or a string with a unit (``"15 um"``, ``"0.3 m"``, ``"300 kV"``);
        a plain number far outside the range of TEMs (a beam energy above
        3000 kV, a camera length below 10 mm, a detector pixel outside
        0.5-1000 um) is refused: it is almost always a value in another unit
        (eV for kV, m for mm).

        Parameters
        ----------
        scale : float or str, optional
            1/A per pixel (``"0.0025 1/A"``).
        detector_pixel_size : float or str, optional
            Default unit um.
        camera_length : float or str, optional
            Default unit mm.
        beam_energy : float or str, optional
            Default unit kV.
        center : (float, float), optional
            Direct-beam position (x, y) in pixels; default the frame centre.
        inplace : bool
            Calibrate this signal; otherwise return a calibrated copy (the
            data are shared with lazy signals, copied otherwise).

        Returns
        -------
        InSituSAEDSeries or None

        Raises
        ------
        hyperspy_perovskite.units.UnitError
            For a value of the wrong dimension or a plain number out of range.

        Examples
        --------
        >>> from hyperspy_perovskite.signals.insitu_diffraction import InSituSAEDSeries
        >>> s = InSituSAEDSeries(np.zeros((3, 64, 64)))
        >>> s.metadata.set_item("Acquisition_instrument.TEM.beam_energy", 300.0)
        >>> c = s.calibrate(detector_pixel_size=15.0, camera_length="0.3 m")
        >>> ax = c.axes_manager.signal_axes[0]
        >>> ax.units, round(ax.scale, 5), ax.value2index(0.0)
        ('k_A^-1', 0.00254, 32)
        """
        from hyperspy_perovskite.crystallography import reciprocal_pixel_size

        if scale is None:
            if detector_pixel_size is None or camera_length is None:
                raise ValueError(
                    "Give scale= (1/A per pixel) or detector_pixel_size= (um) and "
                    "camera_length= (mm)."
                )
            if beam_energy is None:
                beam_energy = self.metadata.get_item(
                    "Acquisition_instrument.TEM.beam_energy"
                )
                if beam_energy is None:
                    raise ValueError(
                        "No beam energy: give beam_energy= (kV) or set "
                        "metadata.Acquisition_instrument.TEM.beam_energy."
                    )
            detector_pixel_size, camera_length, beam_energy = _camera_geometry(
                detector_pixel_size, camera_length, beam_energy
            )
            scale = reciprocal_pixel_size(
                detector_pixel_size, camera_length, beam_energy
            )
        else:
            scale = parse_quantity(scale, "1/angstrom", name="scale")
        if not (np.isfinite(scale) and scale > 0):
            raise ValueError(f"scale must be positive (1/A per pixel), got {scale}.")
        out = self if inplace else self._deepcopy_with_new_data(self.data)
        ax_x, ax_y = out.axes_manager.signal_axes
        if center is None:
            center = (ax_x.size // 2, ax_y.size // 2)
        for ax, c in zip((ax_x, ax_y), center, strict=True):
            ax.scale, ax.units, ax.offset = (
                float(scale),
                "k_A^-1",
                -float(c) * float(scale),
            )
        if beam_energy is not None:
            out.metadata.set_item(
                "Acquisition_instrument.TEM.beam_energy", float(beam_energy)
            )
        return None if inplace else out

    # --------------------------------------------------------------- profiles
    def azimuthal_profile(
        self,
        npt=None,
        radial_range=None,
        mask=None,
        show_progressbar=None,
        lazy_output=None,
        num_workers=None,
    ):
        """Azimuthal integral of every frame (pyxem), on the time axis.

        Parameters
        ----------
        npt : int or None
            Number of radial bins; default one per pixel of radius (to the
            furthest corner).
        radial_range : (float, float) or None
            Radial range in 1/A; default the whole frame.
        mask : numpy.ndarray of bool or None
            Pixels to exclude (True), e.g. the beam stop.
        %(show_progressbar)s
        %(lazy_output)s
        %(num_workers)s

        Returns
        -------
        pyxem.signals.ElectronDiffraction1D
            ``(time | g)``, summed intensity per radial bin. The radial axis
            gives bin centres (pyxem labels bins by their lower edge).

        Examples
        --------
        >>> from hyperspy_perovskite.data.saed_simulation import simulate_saed_series
        >>> s, _ = simulate_saed_series(n_frames=6, size=64, scale=0.02)
        >>> p = s.azimuthal_profile()
        >>> p.axes_manager.signal_shape, p.axes_manager.navigation_shape
        ((46,), (6,))
        """
        self._check_series()
        self.check_direct_beam()
        if npt is None:  # one bin per pixel of radius, to the furthest corner
            ax_x, ax_y = self.axes_manager.signal_axes
            r = np.hypot(
                max(abs(ax_x.low_value), abs(ax_x.high_value)),
                max(abs(ax_y.low_value), abs(ax_y.high_value)),
            )
            npt = int(np.ceil(r / ax_x.scale))
        if int(npt) < 8:
            raise ValueError(f"npt must be >= 8, got {npt}.")
        prof = self.get_azimuthal_integral1d(
            npt=int(npt),
            radial_range=radial_range,
            mask=mask,
            show_progressbar=show_progressbar,
            lazy_output=lazy_output,
            num_workers=num_workers,
        )
        ax = prof.axes_manager.signal_axes[0]
        ax.offset = ax.offset + ax.scale / 2.0
        ax.name = "g"
        self._copy_time_nav(prof)
        prof.metadata.General.title = (
            f"Azimuthal profile of {self.metadata.General.title}"
        )
        return prof

    azimuthal_profile.__doc__ %= _FMT

    def check_direct_beam(self, frame=0, tolerance=1.0, search=8):
        """Offset (x, y) in pixels of the direct beam from the axes' origin.

        The brightest spot of the (Gaussian-blurred) pattern near the centre,
        refined by its centre of mass, against the pixel where both axes are
        0. Ring intensities need the beam at the origin: an offset of a few
        pixels smears every ring and can make background-subtracted counts
        negative. A warning is given above ``tolerance`` pixels, with the
        call that fixes it.

        Only a peak within ``search`` pixels of the origin that stands at
        least three times above its surroundings counts as the direct beam;
        patterns without one (beam stop, blocked beam) return NaN and no
        warning.

        Returns
        -------
        numpy.ndarray
            ``(dx, dy)`` in pixels (NaN when no direct beam is seen).

        Examples
        --------
        >>> from hyperspy_perovskite.signals.insitu_diffraction import InSituSAEDSeries
        >>> y, x = np.mgrid[:64, :64]
        >>> p = np.exp(-((x - 35) ** 2 + (y - 32) ** 2) / 4.0) * 100
        >>> s = InSituSAEDSeries(np.stack([p, p])).calibrate(scale=0.01)
        >>> import warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     np.round(s.check_direct_beam(), 1)
        array([3., 0.])
        """
        import warnings

        from scipy.ndimage import center_of_mass, gaussian_filter

        ax_x, ax_y = self.axes_manager.signal_axes
        img = np.asarray(self.inav[frame].data, dtype=float)
        ny, nx = img.shape
        oy = (0.0 - ax_y.offset) / ax_y.scale
        ox = (0.0 - ax_x.offset) / ax_x.scale
        # search within `search` px of the origin: a beam further off is not
        # a centring error but a wrong calibration (and Bragg spots start
        # further out)
        blur = gaussian_filter(img, 1.5)
        yy, xx = np.mgrid[:ny, :nx]
        near = np.hypot(yy - oy, xx - ox) <= search
        ring = (np.hypot(yy - oy, xx - ox) > search) & (
            np.hypot(yy - oy, xx - ox) <= search + 3
        )
        if not near.any() or not ring.any():
            return np.array([np.nan, np.nan])
        peak = np.max(np.where(near, blur, -np.inf))
        if not peak > 3 * max(np.median(blur[ring]), np.median(blur), 1e-12):
            return np.array([np.nan, np.nan])  # no direct beam visible
        iy, ix = np.unravel_index(
            int(np.argmax(np.where(near, blur, -np.inf))), img.shape
        )
        r = 3
        win = img[max(iy - r, 0) : iy + r + 1, max(ix - r, 0) : ix + r + 1]
        win = np.clip(win - np.median(img), 0, None)
        cy, cx = center_of_mass(win) if win.sum() > 0 else (r, r)
        by, bx = max(iy - r, 0) + cy, max(ix - r, 0) + cx
        off = np.array([bx - ox, by - oy])
        if np.hypot(*off) > tolerance:
            warnings.warn(
                f"The direct beam is {off[0]:.1f}, {off[1]:.1f} px (x, y) from the "
                "origin of the diffraction axes: ring intensities would be "
                "smeared (even negative after background subtraction). Centre it "
                f"with s.calibrate(scale=..., center=({bx:.1f}, {by:.1f})) or "
                "pyxem's s.center_direct_beam(method='blur', sigma=...).",
                UserWarning,
                stacklevel=2,
            )
        return off

    def _copy_time_nav(self, out):
        tax = self.axes_manager.navigation_axes[0]
        ax = out.axes_manager.navigation_axes[0]
        ax.name, ax.units, ax.scale, ax.offset = (
            tax.name,
            tax.units,
            tax.scale,
            tax.offset,
        )

    def _profile_arrays(self, profile, npt, show_progressbar, num_workers):
        if profile is None:
            profile = self.azimuthal_profile(
                npt=npt, show_progressbar=show_progressbar, num_workers=num_workers
            )
        if not isinstance(profile, Signal1D):
            raise TypeError(
                "profile must be the Signal1D returned by azimuthal_profile()."
            )
        if profile.axes_manager.navigation_shape != self.axes_manager.navigation_shape:
            raise ValueError(
                "profile does not match this series: navigation shapes "
                f"{profile.axes_manager.navigation_shape} and "
                f"{self.axes_manager.navigation_shape}."
            )
        g = profile.axes_manager.signal_axes[0].axis.copy()
        data = profile.data
        # profiles are small (n_frames x npt): held in memory
        P = np.asarray(
            data.compute() if isinstance(data, da.Array) else data, dtype=float
        )
        return g, P

    # --------------------------------------------------------------- indexing
    def index_rings(
        self,
        phases=None,
        tolerance=0.02,
        profile=None,
        npt=None,
        show_progressbar=None,
    ):
        """Find the rings of the time-averaged profile and index them.

        Rings are curvature maxima of the mean profile
        (:func:`~hyperspy_perovskite.analysis.saed.find_ring_peaks`) above 5
        noise standard deviations (noise from frame-to-frame differences).

        Parameters
        ----------
        phases : str, Phase or list of them, optional
            Candidate phases; default ``metadata.Sample.phase``.
        tolerance : float
            Relative d-spacing tolerance.
        profile : Signal1D, optional
            A precomputed :meth:`azimuthal_profile`.
        npt : int, optional
        %(show_progressbar)s

        Returns
        -------
        list of RingMatch
            Candidates of each ring (``ring`` numbers rings strongest first).

        Examples
        --------
        >>> from hyperspy_perovskite.data.saed_simulation import simulate_saed_series
        >>> s, _ = simulate_saed_series(n_frames=6, size=72, scale=0.016)
        >>> m = s.index_rings(["alpha-FAPbI3", "PbI2"], tolerance=0.02)
        >>> {(0, 0, 1), (1, 1, 1), (0, 0, 2)} <= {r.hkl for r in m}
        True
        """
        self._check_series()
        if phases is None:
            phases = [self._phase(None)]
        g, P = self._profile_arrays(profile, npt, show_progressbar, None)
        mean = P.mean(axis=0)
        step = g[1] - g[0]
        noise = None
        if P.shape[0] >= 3:
            # noise of the mean profile from frame-to-frame differences
            noise = np.median(np.std(np.diff(P, axis=0), axis=0)) / np.sqrt(
                2 * P.shape[0]
            )
        gp, _ = saed.find_ring_peaks(g, mean, noise)
        gp = gp[gp > 2 * step]
        if gp.size == 0:
            raise ValueError("No ring found in the profile.")
        return index_rings(1.0 / gp, phases, tolerance=tolerance)

    index_rings.__doc__ %= _FMT

    def index_spots(
        self,
        phase=None,
        frame=0,
        nsigma=8.0,
        min_distance=3,
        g_min=None,
        tolerance=0.03,
        angle_tolerance=3.0,
    ):
        """Find the spots of one frame and index them against ``phase``.

        Rings and halo are removed by subtracting the frame's rotational
        median; spots are local maxima above ``nsigma`` robust standard
        deviations of the remainder.

        Parameters
        ----------
        phase : str or Phase, optional
        frame : int
            Frame index.
        nsigma : float
            Detection threshold.
        min_distance : int
            Minimum spot separation (pixels).
        g_min : float, optional
            Ignore spots closer than this to the direct beam (1/A); default
            half the largest allowed reciprocal spacing... i.e. ``0.5 / d_max``.
        tolerance, angle_tolerance : float
            See :func:`~hyperspy_perovskite.crystallography.index_spots`.

        Returns
        -------
        list of SpotMatch

        Examples
        --------
        >>> from hyperspy_perovskite.data.saed_simulation import simulate_saed_series
        >>> s, _ = simulate_saed_series(n_frames=6, size=72, scale=0.016,
        ...                             spot_zone="100", spot_fraction=1.0)
        >>> sorted({m.family for m in s.index_spots("alpha-FAPbI3")})[:2]
        [(0, 0, 1), (0, 0, 2)]
        """
        from skimage.feature import peak_local_max

        self._check_series()
        ph = self._phase(phase)
        n = self.axes_manager.navigation_shape[0]
        if not -n <= int(frame) < n:
            raise ValueError(f"frame must be in [0, {n}), got {frame}.")
        img = self.inav[int(frame)].data
        img = np.asarray(img.compute() if isinstance(img, da.Array) else img, float)
        ax_x, ax_y = self.axes_manager.signal_axes
        gx, gy = np.meshgrid(ax_x.axis, ax_y.axis)
        gr = np.hypot(gx, gy)
        rbin = np.rint(gr / ax_x.scale).astype(int)
        # rotational median (robust to the spots themselves)
        flat_r, flat_i = rbin.ravel(), img.ravel()
        order = np.argsort(flat_r, kind="stable")
        bounds = np.searchsorted(flat_r[order], np.arange(flat_r.max() + 2))
        prof = np.array(
            [
                np.median(flat_i[order[a:b]]) if b > a else 0.0
                for a, b in zip(bounds[:-1], bounds[1:], strict=True)
            ]
        )
        rest = img - prof[rbin]
        sigma = 1.4826 * np.median(np.abs(rest - np.median(rest)))
        if g_min is None:
            fams = reflection_families(ph, d_min=1.0 / gr.max())
            g_min = 0.5 * fams[0].g if fams else 0.0
        peaks = peak_local_max(
            rest,
            min_distance=int(min_distance),
            threshold_abs=nsigma * max(sigma, 1e-12),
        )
        peaks = np.array([p for p in peaks if gr[p[0], p[1]] >= g_min])
        if len(peaks) == 0:
            raise ValueError(
                f"No spot above {nsigma} sigma in frame {frame}; lower nsigma."
            )
        g = np.stack(
            [gx[peaks[:, 0], peaks[:, 1]], gy[peaks[:, 0], peaks[:, 1]]], axis=1
        )
        return _index_spots_fn(
            g, ph, tolerance=tolerance, angle_tolerance=angle_tolerance
        )

    # ----------------------------------------------------------- intensities
    def _decompose(
        self,
        phase,
        halo_d,
        ring_width,
        halo_width,
        background_order,
        radial_range,
        profile,
        npt,
        show_progressbar,
        num_workers,
        halo=True,
        poisson=False,
    ):
        self._check_series()
        ph = self._phase(phase)
        g, P = self._profile_arrays(profile, npt, show_progressbar, num_workers)
        step = g[1] - g[0]
        nf = P.shape[0]
        q = max(1, nf // 10)
        fams = reflection_families(ph, d_min=1.0 / (g[-1] + step))
        if not fams:
            raise ValueError(
                f"No allowed reflection of {ph.name} inside the profile range."
            )
        ring_width_guess = ring_width
        if ring_width is None:
            inside = [f for f in fams if g[0] + 6 * step < f.g < g[-1] - 6 * step]
            if ph.has_atoms:
                ref = max(inside, key=lambda f: f.intensity / f.g**2)
            else:
                first = P[:q].mean(0)
                ref = max(inside, key=lambda f: first[np.argmin(np.abs(g - f.g))])
            gap = min(abs(f.g - ref.g) for f in fams if f is not ref)
            ring_width_guess = saed.estimate_ring_width(
                g, P[:q].mean(0), ref.g, half_window=max(4 * step, 0.6 * gap)
            )
        if not (np.isfinite(ring_width_guess) and ring_width_guess > 0):
            raise ValueError(f"ring_width must be positive (1/A), got {ring_width}.")
        if radial_range is None:
            # full circles only: beyond the inscribed circle the arcs shrink
            ax_x, ax_y = self.axes_manager.signal_axes
            r_in = min(
                abs(ax_x.low_value),
                abs(ax_x.high_value),
                abs(ax_y.low_value),
                abs(ax_y.high_value),
            )
            radial_range = (
                max(fams[0].g - 6 * ring_width_guess, g[0]),
                min(r_in, g[-1]),
            )
        lo, hi = radial_range
        if not lo < hi:
            raise ValueError(f"radial_range must be increasing, got {radial_range}.")
        sel = (g >= lo) & (g <= hi)
        gs, Ps = g[sel], P[:, sel]
        keep = [
            f
            for f in fams
            if lo + 3 * ring_width_guess <= f.g <= hi - 3 * ring_width_guess
        ]
        # merge families closer than half a ring width (unresolvable)
        groups = []
        for f in sorted(keep, key=lambda f: f.g):
            if groups and f.g - groups[-1][-1].g < 0.5 * ring_width_guess:
                groups[-1].append(f)
            else:
                groups.append([f])
        labels = ["+".join(f.label for f in grp) for grp in groups]
        ring_g = np.array([np.mean([f.g for f in grp]) for grp in groups])
        d = 1.0 / ring_g
        halo_g = None
        if halo:
            if halo_d is None:
                halo_d = d_spacing(ph, "002")
            if not (np.isfinite(halo_d) and halo_d > 0):
                raise ValueError(
                    f"halo_d must be a positive d-spacing (A), got {halo_d}."
                )
            halo_g = 1.0 / halo_d
        fit_ring, fit_halo = ring_width is None, halo and halo_width is None
        if fit_ring or fit_halo:
            wr0 = ring_width if ring_width is not None else ring_width_guess
            wh0 = halo_width if halo_width is not None else 5.0 * wr0
            wr, wh = saed.refine_widths(
                gs,
                [Ps[:q].mean(0), Ps[-q:].mean(0)],
                ring_g,
                wr0,
                halo_g,
                wh0,
                background_order,
            )
            ring_width = wr if fit_ring else ring_width
            if halo:
                halo_width = wh if fit_halo else halo_width
        D = saed.design_matrix(
            gs, ring_g, ring_width, halo_g, halo_width, background_order
        )
        n_terms = len(groups) + (1 if halo else 0)
        integrated = saed.decompose_profiles(Ps, D, n_terms)
        variance = None
        if poisson:
            if np.nanmin(Ps) < -1e-9 * max(np.nanmax(np.abs(Ps)), 1.0):
                raise ValueError(
                    "poisson=True needs counts (non-negative data); the profiles "
                    "hold negative values (dark-subtracted data?)."
                )
            variance = saed.decompose_variance(np.clip(Ps, 0.0, None), D, n_terms)
        info = {
            "phase": ph.name,
            "families": labels,
            "d_spacings": d,
            "ring_width": float(ring_width),
            "halo_d": None if halo_d is None else float(halo_d),
            "halo_width": None if halo_width is None else float(halo_width),
            "background_order": int(background_order),
            "radial_range": (float(lo), float(hi)),
        }
        return integrated, variance, info

    def _wrap_time_signal(self, data, title, info, lazy_output):
        md = self.metadata.deepcopy().as_dictionary()
        md.setdefault("General", {})["title"] = title
        md.setdefault("Signal", {})["signal_type"] = ""
        out = Signal1D(data, metadata=md)
        if lazy_output:
            out = out.as_lazy()
        out.metadata.Signal.set_item("quantity", "Intensity (counts)")
        for k, v in info.items():
            out.metadata.set_item(
                f"Diffraction_analysis.{k}",
                list(v) if isinstance(v, (tuple, np.ndarray)) else v,
            )
        self._time_axis_of(out)
        return out

    def hkl_intensities(
        self,
        phase=None,
        families=None,
        halo=True,
        poisson=False,
        halo_d=None,
        ring_width=None,
        halo_width=None,
        background_order=3,
        radial_range=None,
        profile=None,
        npt=None,
        show_progressbar=None,
        lazy_output=None,
        num_workers=None,
    ):
        """Integrated intensity of each {hkl} family vs time.

        The azimuthal profile of every frame is decomposed into narrow rings
        at the allowed {hkl} spacings, the amorphous halo and a smooth
        background (:mod:`hyperspy_perovskite.analysis.saed`; linear least
        squares with fixed positions and widths, all frames at once). The
        result are the counts in each ring per frame: facet-dependent
        amorphization shows as (001)/(002) fading while (111) stays (“Imaging real-time amorphization of hybrid perovskite solar cells under electrical biasing”).

        Parameters
        ----------
        %(decomp)s
        families : list of str, optional
            Families to return (e.g. ``["001", "002", "111"]``); default all
            inside the range. All are always fitted.
        halo : bool
            Include the amorphous halo in the model.
        poisson : bool
            The data are counted electrons: propagate the Poisson variance of
            the profiles to each intensity and store it as
            ``metadata.Signal.Noise_properties.variance`` (then
            :func:`~hyperspy_perovskite.signals.kinetics.fit_kinetics` weights
            the fit by it).
        %(show_progressbar)s
        %(lazy_output)s
        %(num_workers)s

        Returns
        -------
        hyperspy.signals.Signal1D
            ``(family | time)``; labels and d-spacings in
            ``metadata.Diffraction_analysis``; the stimulus record and beam
            energy are kept.

        Examples
        --------
        >>> from hyperspy_perovskite.data.saed_simulation import simulate_saed_series
        >>> s, truth = simulate_saed_series(n_frames=10, frame_interval=30.0,
        ...                                 size=72, scale=0.016)
        >>> inten = s.hkl_intensities(families=["001", "111", "002"])
        >>> inten.metadata.Diffraction_analysis.families
        ['001', '111', '002']
        >>> (inten.data[:, -1] / inten.data[:, 0]).round(1)  # (001), (002) fade
        array([0.2, 1. , 0.2])
        """
        _check_not_both(lazy_output)
        if lazy_output is None:
            lazy_output = self._lazy
        integrated, variance, info = self._decompose(
            phase,
            halo_d,
            ring_width,
            halo_width,
            background_order,
            radial_range,
            profile,
            npt,
            show_progressbar,
            num_workers,
            halo=halo,
            poisson=poisson,
        )
        labels = info["families"]
        if families is None:
            idx = list(range(len(labels)))
        else:
            idx = []
            for fam in families:
                from hyperspy_perovskite.crystallography import (
                    family_members,
                    parse_hkl,
                )

                h = parse_hkl(fam)
                hit = [
                    i
                    for i, lbl in enumerate(labels)
                    if any(
                        h in family_members(info["phase"], parse_hkl(p))
                        for p in lbl.split("+")
                    )
                ]
                if not hit:
                    raise ValueError(
                        f"Family {fam!r} is not among the fitted rings of "
                        f"{info['phase']}: {labels}."
                    )
                idx.append(hit[0])
        info["families"] = [labels[i] for i in idx]
        info["d_spacings"] = np.asarray(info["d_spacings"])[idx]
        data = np.ascontiguousarray(integrated[:, idx].T)
        var = None if variance is None else np.ascontiguousarray(variance[:, idx].T)
        out = self._wrap_time_signal(
            data,
            f"{{hkl}} intensities of {self.metadata.General.title}",
            info,
            lazy_output,
        )
        fax = out.axes_manager.navigation_axes[0]
        fax.name = "family"
        if var is not None:
            vs = out._deepcopy_with_new_data(da.from_array(var) if lazy_output else var)
            vs.metadata.General.title = "Variance of " + out.metadata.General.title
            out.metadata.set_item("Signal.Noise_properties.variance", vs)
        return out

    hkl_intensities.__doc__ = hkl_intensities.__doc__ % {
        **_FMT,
        "decomp": _DECOMP_PARAMS,
    }

    def amorphous_fraction(
        self,
        phase=None,
        halo_d=None,
        ring_width=None,
        halo_width=None,
        background_order=3,
        radial_range=None,
        profile=None,
        npt=None,
        show_progressbar=None,
        lazy_output=None,
        num_workers=None,
    ):
        """Fraction of the diffracted intensity in the amorphous halo vs time.

        ``halo / (halo + sum of all {hkl} rings)`` from the same profile
        decomposition as :meth:`hkl_intensities`.

        Parameters
        ----------
        %(decomp)s
        %(show_progressbar)s
        %(lazy_output)s
        %(num_workers)s

        Returns
        -------
        hyperspy.signals.Signal1D
            On the time axis, dimensionless.

        Examples
        --------
        >>> from hyperspy_perovskite.data.saed_simulation import simulate_saed_series
        >>> s, truth = simulate_saed_series(n_frames=10, frame_interval=30.0,
        ...                                 size=72, scale=0.016)
        >>> f = s.amorphous_fraction()
        >>> bool(f.data[-1] > f.data[0] + 0.1)
        True
        """
        _check_not_both(lazy_output)
        if lazy_output is None:
            lazy_output = self._lazy
        integrated, _, info = self._decompose(
            phase,
            halo_d,
            ring_width,
            halo_width,
            background_order,
            radial_range,
            profile,
            npt,
            show_progressbar,
            num_workers,
            halo=True,
        )
        halo = integrated[:, -1]
        total = halo + integrated[:, :-1].sum(axis=1)
        frac = halo / np.where(total != 0, total, np.nan)
        out = self._wrap_time_signal(
            frac,
            f"Amorphous fraction of {self.metadata.General.title}",
            info,
            lazy_output,
        )
        out.metadata.Signal.quantity = "Amorphous fraction"
        return out

    amorphous_fraction.__doc__ = amorphous_fraction.__doc__ % {
        **_FMT,
        "decomp": _DECOMP_PARAMS,
    }


class LazyInSituSAEDSeries(LazySignal, InSituSAEDSeries):
    """Lazy :class:`InSituSAEDSeries` (dask), chunked along time."""

    _lazy = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
