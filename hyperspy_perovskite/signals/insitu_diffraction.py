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
1/A (units ``k_A^-1``, pyxem's convention, or any spelling the units layer
reads as 1/A) with the direct beam at the origin of the axes
(``s.center_direct_beam`` / ``s.calibration.center``). Axes in another
reciprocal length (``1/nm``) are converted to 1/A when the series is made
(same calibration); changed to another unit afterwards, they are refused
with the conversion to do.
"""

import dask.array as da
import numpy as np
from hyperspy._signals.lazy import LazySignal
from hyperspy.signals import Signal1D
from pyxem.signals import ElectronDiffraction2D

from hyperspy_perovskite.analysis import saed_geometry
from hyperspy_perovskite.crystallography import (
    get_phase,
)
from hyperspy_perovskite.units import UnitError, axis_factor, parse_quantity

__all__ = ["InSituSAEDSeries", "LazyInSituSAEDSeries"]

from hyperspy_perovskite.signals import _saed_profiles
from hyperspy_perovskite.signals import _saed_units as _u
from hyperspy_perovskite.signals._saed_dose import SAEDDoseMixin
from hyperspy_perovskite.signals._saed_indexing import SAEDIndexingMixin
from hyperspy_perovskite.signals._saed_lattice import SAEDLatticeMixin
from hyperspy_perovskite.signals._saed_rings import _FMT, SAEDRingsMixin


class InSituSAEDSeries(
    SAEDRingsMixin,
    SAEDLatticeMixin,
    SAEDIndexingMixin,
    SAEDDoseMixin,
    ElectronDiffraction2D,
):
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
        self._axes_to_reciprocal_angstrom()

    def _axes_to_reciprocal_angstrom(self):
        """Diffraction axes in another reciprocal length (``1/nm``) become
        1/A (``k_A^-1``, scale and offset converted, the same calibration):
        every SAED method reads them in 1/A. Axes that are not a reciprocal
        length are left for :meth:`_check_series` to refuse."""
        axes = self.axes_manager.signal_axes
        try:
            factors = [axis_factor(ax, "1/angstrom") for ax in axes]
        except UnitError:
            return
        for ax, f in zip(axes, factors, strict=True):
            if abs(f - 1.0) > 1e-12:
                # rounded to 15 significant digits, as units.parse_quantity does
                ax.scale = float(f"{ax.scale * f:.15g}")
                ax.offset = float(f"{ax.offset * f:.15g}")
                ax.units = "k_A^-1"

    # ------------------------------------------------------------------ checks
    def _check_series(self):
        if self.axes_manager.navigation_dimension != 1:
            raise ValueError(
                "An SAED series needs exactly one navigation axis (time); this "
                f"signal has {self.axes_manager.navigation_dimension}. Use "
                "s.transpose(...) or s.inav[...] to get a (time | ky, kx) signal."
            )
        for ax in self.axes_manager.signal_axes:
            try:
                f = axis_factor(ax, "1/angstrom", name="a diffraction axis")
            except UnitError as err:
                raise UnitError(
                    f"The diffraction axes must be calibrated in 1/A (units "
                    f"'k_A^-1'); axis '{ax.name}' has units '{ax.units}'. Set "
                    "ax.scale (1/A per pixel), ax.units = 'k_A^-1' and put the "
                    "direct beam at the origin (ax.offset), or use "
                    f"s.calibrate(). ({err})"
                ) from None
            if abs(f - 1.0) > 1e-12:  # units changed after the series was made
                raise UnitError(
                    f"The diffraction axis '{ax.name}' is in {ax.units} (1 "
                    f"{ax.units} = {f:g} 1/A); the SAED methods read 1/A. "
                    "Convert it (same calibration): "
                    "s.axes_manager.convert_units('signal', units='1/angstrom')."
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
            Direct-beam position (x, y) in pixels (plain numbers, ``"33 px"``,
            pixel quantities, or coordinates of the present calibration such
            as ``"0 1/A"``); default the frame centre.
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
            detector_pixel_size, camera_length, beam_energy = (
                saed_geometry.camera_geometry(
                    detector_pixel_size, camera_length, beam_energy
                )
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
        center = _u.pixel_position(center, self.axes_manager.signal_axes, "center")
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
        center=None,
    ):
        """Azimuthal integral of every frame, on the time axis.

        Parameters
        ----------
        center : None, False, "beam", "rings", "auto" or array-like
            None (default): the centre of the first frame is checked (the
            direct beam, or the rings when no beam is seen); within 1 px of
            the origin of the axes, pyxem's integral about the origin is
            returned, otherwise a warning is given and every frame is
            integrated about its own centre (``"auto"``). False: pyxem's
            integral about the origin without a check. Otherwise every frame
            is summed about its own centre (whole pixels into one-pixel
            radial bins, so counts stay Poisson):
            ``"beam"`` the direct beam found in each frame, ``"rings"`` the
            centre of the rings (when the beam is blocked, saturated or
            absent), ``"auto"`` the beam where it is seen and the rings
            elsewhere, or given positions ``(x, y)`` / ``(n_frames, 2)`` in
            pixels (numbers, ``"33 px"`` strings, pixel quantities or
            calibrated coordinates such as ``"0 1/A"``) (see :meth:`direct_beam_positions`). The centres are
            stored in ``metadata.Diffraction_analysis.centers``.
        npt : int or None
            Number of radial bins; default one per pixel of radius (to the
            furthest corner).
        radial_range : (float, float) or None
            Radial range in 1/A (numbers, strings such as ``"0.1 1/A"`` or
            quantities); default the whole frame.
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
        radial_range = _u.g_range(radial_range, "radial_range")
        if center is not None and center is not False and not isinstance(center, str):
            center = _u.pixel_position(center, self.axes_manager.signal_axes, "center")
        if center is None and np.hypot(*self._centre_offset(warn=True)) > 1.0:
            center = "auto"
        if center is not None and center is not False:
            return self._profile_about(center, npt, radial_range, mask, lazy_output)
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

    def _centre_offset(self, warn):
        """Offset (px) of frame 0's centre from the axes' origin (beam, else rings)."""
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            off = self.check_direct_beam()
        how = "direct beam"
        if not np.all(np.isfinite(off)):
            ax_x, ax_y = self.axes_manager.signal_axes
            ox = (0.0 - ax_x.offset) / ax_x.scale
            oy = (0.0 - ax_y.offset) / ax_y.scale
            try:
                pos, _ = self.inav[:1].direct_beam_positions("rings")
            except ValueError:
                return np.zeros(2)  # no rings to centre on: nothing to correct
            off, how = pos[0] - (ox, oy), "ring centre"
        if warn and np.hypot(*off) > 1.0:
            warnings.warn(
                f"The {how} is {off[0]:.1f}, {off[1]:.1f} px (x, y) from the origin "
                "of the diffraction axes: integrated about the origin, every ring "
                "would be smeared and background-subtracted ring counts can go "
                "negative. Each frame is integrated about its own centre "
                "(center='auto'); pass center=False to keep the origin.",
                UserWarning,
                stacklevel=3,
            )
        return off

    def _profile_about(self, center, npt, radial_range, mask, lazy_output):
        return _saed_profiles.profile_about(
            self, center, npt, radial_range, mask, lazy_output
        )

    def direct_beam_positions(self, method="auto", search=8, ring_range=None):
        """Centre (x, y) of every frame's pattern, in pixels.

        Parameters
        ----------
        method : {"auto", "beam", "rings", "pyxem"}
            ``"beam"``: the direct beam (brightest blurred spot within
            ``search`` px of the origin, refined by its centre of mass; NaN
            where none stands 3x above its surroundings); ``"pyxem"``: pyxem's
            ``get_direct_beam_position(method="blur")`` (whole pixels);
            ``"rings"``: the centre of the rings
            (:func:`~hyperspy_perovskite.analysis.saed_geometry.ring_center`,
            from the radial shift of 16 azimuthal sectors), for a blocked or
            saturated beam; ``"auto"``: the beam where it is seen, the rings
            elsewhere.
        search : int
            Beam search radius (px) around the origin of the axes.
        ring_range : (float, float), optional
            Radii holding rings for ``"rings"``: pixels (numbers or ``"20 px"``)
            or reciprocal lengths (``"0.2 1/A"``, through the calibration);
            default 15 % to 90 % of the largest full circle.

        Returns
        -------
        positions : numpy.ndarray, shape (n_frames, 2)
            (x, y) in pixels, in the frame's pixel indices.
        std : numpy.ndarray, shape (n_frames, 2)
            Standard errors for ``"rings"`` (NaN for the beam methods).

        Examples
        --------
        >>> from hyperspy_perovskite.data.saed_simulation import simulate_saed_series
        >>> s, truth = simulate_saed_series(n_frames=6, size=96, scale=0.013,
        ...                                 center_offset=(3.0, -2.0))
        >>> pos, std = s.direct_beam_positions("rings")
        >>> bool(np.all(np.abs(pos.mean(0) - truth["center"]) < 0.2))
        True
        """
        if method not in ("auto", "beam", "rings", "pyxem"):
            raise ValueError(
                f"method must be 'auto', 'beam', 'rings' or 'pyxem', got {method!r}."
            )
        ax_x, ax_y = self.axes_manager.signal_axes
        ox = (0.0 - ax_x.offset) / ax_x.scale
        oy = (0.0 - ax_y.offset) / ax_y.scale
        n = self.axes_manager.navigation_shape[0]
        if method == "pyxem":
            sh = self.get_direct_beam_position(
                method="blur",
                sigma=1.5,
                half_square_width=int(search) + 2,
                show_progressbar=False,
            ).data
            sh = np.asarray(sh.compute() if isinstance(sh, da.Array) else sh)
            pos = np.stack([ax_x.size / 2 - sh[:, 0], ax_y.size / 2 - sh[:, 1]], 1)
            return pos, np.full((n, 2), np.nan)
        r_in = min(ox, oy, ax_x.size - 1 - ox, ax_y.size - 1 - oy)
        if ring_range is None:
            lo, hi = 0.15 * r_in, 0.9 * r_in
        else:
            lo, hi = (_u.pixels(v, ax_x, "ring_range") for v in ring_range)
        kw = dict(method=method, origin=(ox, oy), search=search, ring_range=(lo, hi))
        data = self.data
        if isinstance(data, da.Array):  # one pass over the chunks (not per frame)
            data = data.rechunk({1: -1, 2: -1})
            res = da.map_blocks(
                saed_geometry.frame_centres, data, **kw, drop_axis=[1, 2],
                new_axis=1, chunks=(data.chunks[0], (4,)), dtype=float,
            ).compute()  # fmt: skip
        else:
            res = saed_geometry.frame_centres(data, **kw)
        return res[:, :2], res[:, 2:]

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

        ax_x, ax_y = self.axes_manager.signal_axes
        img = self.inav[frame].data
        img = np.asarray(img.compute() if isinstance(img, da.Array) else img, float)
        ox = (0.0 - ax_x.offset) / ax_x.scale
        oy = (0.0 - ax_y.offset) / ax_y.scale
        bx, by = saed_geometry.beam_offset(img, ox, oy, search)
        off = np.array([bx - ox, by - oy])
        if np.hypot(*off) > tolerance:
            warnings.warn(
                f"The direct beam is {off[0]:.1f}, {off[1]:.1f} px (x, y) from the "
                "origin of the diffraction axes: ring intensities would be "
                "smeared (even negative after background subtraction). Integrate "
                "about the measured centre with s.azimuthal_profile(center='beam') "
                "(or center='rings' when the beam is blocked), or re-calibrate "
                f"with s.calibrate(scale=..., center=({bx:.1f}, {by:.1f})).",
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


class LazyInSituSAEDSeries(LazySignal, InSituSAEDSeries):
    """Lazy :class:`InSituSAEDSeries` (dask), chunked along time."""

    _lazy = True
