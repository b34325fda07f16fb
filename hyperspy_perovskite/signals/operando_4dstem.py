"""Operando 4D-STEM series of a device under bias: (time, scan y, scan x | ky, kx).

:class:`Operando4DSTEM` subclasses pyxem's
:class:`~pyxem.signals.InSituDiffraction2D` (so ``get_time_series``,
``get_drift_vectors``, ``correct_real_space_drift``,
``get_direct_beam_position`` and ``center_direct_beam`` keep working) and
adds, for the operando study of perovskite LEDs under constant current
("Multimodal electron microscopy of halide perovskite interfacial
dynamics", Nature (2026), doi:10.1038/s41586-026-10238-8):

* :meth:`~Operando4DSTEM.calibrate`: 1/A per pixel from the camera geometry
  or a known reflection (units checked);
* :meth:`~Operando4DSTEM.get_virtual_image_series`: BF, ADF and virtual dark
  field at a reflection or a d-spacing, one image per time step;
* :meth:`~Operando4DSTEM.estimate_scan_drift`: sample drift between scans;
* :meth:`~Operando4DSTEM.analyse`: one pass over the patterns giving strain
  maps with uncertainties, phase maps, drift, interface strain and phase
  fractions vs time, and the timeline with the electrical record
  (:class:`~hyperspy_perovskite.signals._operando_analysis.OperandoAnalysis`).

The stimulus record (``metadata.Stimulus``) and the device geometry
(``metadata.Device.Geometry``, shared with the EDX workflow) are read from
the metadata.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
from hyperspy._signals.lazy import LazySignal
from pyxem.signals import InSituDiffraction2D

from hyperspy_perovskite.analysis.diffraction.virtual import (
    Detector,
    accumulate,
    build_accumulator,
)
from hyperspy_perovskite.metadata import DIFFRACTION_CALIBRATION
from hyperspy_perovskite.signals._base import (
    OPTIONS_PARAMETERS,
    compute,
    resolve_options,
)
from hyperspy_perovskite.signals._operando_calibrate import calibration
from hyperspy_perovskite.units import (
    UnitError,
    axis_factor,
    parse_pixels,
    parse_quantity,
)

__all__ = [
    "Operando4DSTEM",
    "LazyOperando4DSTEM",
    "stack_scans",
    "set_diffraction_rotation",
    "diffraction_rotation",
]


def _reciprocal_factor(ax):
    """Factor from an axis' units to 1/A (pyxem's ``k_A^-1`` understood)."""
    try:
        return axis_factor(ax, "1/angstrom", name="a diffraction axis")
    except UnitError:
        raise UnitError(
            f"The diffraction axis {ax.name!r} is not calibrated (units "
            f"{ax.units!r}). Calibrate it first: s.calibrate(scale=<1/A per px>), "
            "s.calibrate(d_spacing=<A>) on a known reflection, or "
            "s.calibrate(detector_pixel_size=<um>, camera_length=<mm>) with the "
            "beam energy in metadata.Acquisition_instrument.TEM.beam_energy (kV)."
        ) from None


class Operando4DSTEM(InSituDiffraction2D):
    """Operando 4D-STEM: navigation (x, y, time), signal (kx, ky).

    Examples
    --------
    >>> from hyperspy_perovskite.signals.operando_4dstem import Operando4DSTEM
    >>> s = hs.signals.Signal2D(np.zeros((3, 4, 5, 16, 16)))
    >>> s.set_signal_type("operando_4DSTEM_perovskite")
    >>> type(s).__name__
    'Operando4DSTEM'
    """

    _signal_type = "operando_4DSTEM_perovskite"

    # ------------------------------------------------------------------ checks
    def _check_series(self, calibrated=True):
        am = self.axes_manager
        if am.navigation_dimension != 3:
            raise ValueError(
                "An operando 4D-STEM series needs three navigation axes (time, "
                f"scan y, scan x); this signal has {am.navigation_dimension}. Stack "
                "single scans with hyperspy_perovskite.signals.operando_4dstem."
                "stack_scans(scans, times)."
            )
        tax = am.navigation_axes[2]
        if tax.size < 2:
            raise ValueError(
                "A single time step: operando analysis compares scans in time; "
                "give at least two (the first one pristine, before the bias)."
            )
        axis_factor(tax, "s", name="time axis")
        for ax in am.navigation_axes[:2]:
            axis_factor(ax, "nm", name="scan axis")
        kx, ky = am.signal_axes
        if kx.size != ky.size:
            raise ValueError(
                f"Patterns of {kx.size} x {ky.size} pixels: square patterns are "
                "expected (crop with s.isig[...])."
            )
        if calibrated:
            f = [_reciprocal_factor(a) for a in (kx, ky)]
            if not np.isclose(kx.scale * f[0], ky.scale * f[1], rtol=1e-6):
                raise ValueError("kx and ky have different scales (1/A per pixel).")

    def _kpix_beam(self):
        kx, ky = self.axes_manager.signal_axes
        f = _reciprocal_factor(kx)
        beam = (-kx.offset / kx.scale, -ky.offset / ky.scale)
        return float(kx.scale * f), beam

    def _scan(self):
        ax_x, ax_y, ax_t = self.axes_manager.navigation_axes
        fx = axis_factor(ax_x, "nm", name="scan x")
        fy = axis_factor(ax_y, "nm", name="scan y")
        ft = axis_factor(ax_t, "s", name="time")
        return ax_y.axis * fy, ax_x.axis * fx, ax_t.axis * ft, ax_x.scale * fx

    # ------------------------------------------------------------ calibration
    def calibrate(
        self,
        scale=None,
        d_spacing=None,
        radius=None,
        detector_pixel_size=None,
        camera_length=None,
        beam_energy=None,
        center=None,
        rotation=None,
        inplace=False,
    ):
        """Calibrate the diffraction axes in 1/A with the direct beam at 0.

        Give one of: ``scale`` (1/A per pixel); ``d_spacing`` of a known
        reflection (A; the strongest spot family of the mean of the first
        scan, or the one nearest ``radius``); or ``detector_pixel_size``
        (um) and ``camera_length`` (mm) with ``beam_energy`` (kV, default from
        ``metadata.Acquisition_instrument.TEM.beam_energy``). Plain numbers
        are in these units; strings and pint quantities with a unit are
        accepted ("0.2 nm", "146 mm", "300 kV", "300000 V"; the electrons'
        energy "300 keV" is 300 kV).

        Parameters
        ----------
        scale, d_spacing, detector_pixel_size, camera_length, beam_energy
            See above.
        radius : float or str, optional
            Distance of the reflection from the beam: a number is in pixels,
            or a reciprocal length on calibrated axes (``"0.3 1/A"``).
        center : (float, float), optional
            Direct beam (x, y): numbers (or ``"15.5 px"``) are pixel indices;
            on calibrated axes a position with its unit (``("0 1/A", "0
            1/A")`` for the current ``k = 0``). Default the centre of the
            pattern.
        rotation : float or str, optional
            Rotation of the diffraction pattern relative to the scan
            (degrees, anticlockwise on the detector: a reciprocal vector
            along the scan x axis appears at this angle from kx; "0.035 rad"
            accepted), stored in ``metadata.Diffraction_calibration`` and
            used by :meth:`analyse` to give the strain in the device frame.
            Default: leave the stored value (none: 0).
        %s

        Returns
        -------
        Operando4DSTEM or None

        Examples
        --------
        >>> from hyperspy_perovskite.signals.operando_4dstem import Operando4DSTEM
        >>> s = Operando4DSTEM(np.zeros((2, 2, 2, 64, 64)))
        >>> c = s.calibrate(detector_pixel_size="55 um", camera_length=146.26,
        ...                 beam_energy=300)
        >>> round(c.axes_manager.signal_axes[0].scale, 4)
        0.0191
        """
        scale, center = calibration(
            self,
            scale,
            d_spacing,
            radius,
            detector_pixel_size,
            camera_length,
            beam_energy,
            center,
        )
        out = self if inplace else self._deepcopy_with_new_data(self.data)
        if rotation is not None:
            set_diffraction_rotation(
                out.metadata, parse_quantity(rotation, "degree", name="rotation")
            )
        for ax, c in zip(out.axes_manager.signal_axes, center, strict=True):
            ax.scale, ax.units, ax.offset = (
                float(scale),
                "k_A^-1",
                -float(c) * float(scale),
            )
        return None if inplace else out

    calibrate.__doc__ %= OPTIONS_PARAMETERS["inplace"]

    # --------------------------------------------------------- virtual images
    def _detectors(self, detectors, kpix, vdf):
        if detectors is None:
            kx = self.axes_manager.signal_axes[0]
            rmax = kpix * min(
                kx.size - 1 - (-kx.offset / kx.scale), -kx.offset / kx.scale
            )
            detectors = [
                Detector("BF", "disk", 0.0, 2.5 * kpix),
                Detector("ADF", "annulus", 0.7 * rmax, 10 * rmax),
            ]
        detectors = list(detectors)
        for i, v in enumerate(vdf or ()):
            detectors.append(_vdf_detector(v, kpix, i))
        names = [d.name for d in detectors]
        if len(set(names)) != len(names):
            raise ValueError(f"Detector names must be unique, got {names}.")
        return detectors

    def get_virtual_image_series(
        self,
        detectors=None,
        vdf=None,
        show_progressbar=None,
        lazy_output=None,
        num_workers=None,
    ):
        """Virtual images per time step (BF, ADF, virtual dark fields).

        Parameters
        ----------
        detectors : list of Detector, optional
            Default: bright field (disk of 2.5 px) and an annular dark field
            from 70 %% of the inscribed detector radius outwards.
        vdf : list, optional
            Virtual dark fields: ``{"g": (gx, gy), "radius": r}`` (1/A, an
            aperture on a reflection) or ``{"d_spacing": d, "width": w}`` (A and
            1/A, an annulus at ``1/d``); plain strings with units accepted.
        %s
        %s
        %s

        Returns
        -------
        dict of str to Signal2D
            One image series (time | scan y, scan x) per detector.

        Examples
        --------
        >>> from hyperspy_perovskite.data.operando_4dstem_simulation import (
        ...     simulate_operando_4dstem)
        >>> s, _ = simulate_operando_4dstem(n_time=2, scan_shape=(4, 10), pattern_size=32)
        >>> v = s.get_virtual_image_series(vdf=[{"d_spacing": 2.9, "width": 0.02}])
        >>> sorted(v), v["ADF"].axes_manager.navigation_shape
        (['ADF', 'BF', 'VDF_d2.9'], (2,))
        """
        self._check_series()
        opts = resolve_options(
            self,
            lazy_output=lazy_output,
            show_progressbar=show_progressbar,
            num_workers=num_workers,
        )
        kpix, beam = self._kpix_beam()
        dets = self._detectors(detectors, kpix, vdf)
        yy, xx = np.indices(self.data.shape[-2:])
        ptr, col, n, _ = build_accumulator(
            (xx - beam[0]) * kpix, (yy - beam[1]) * kpix, dets
        )
        data = self.data
        if isinstance(data, da.Array):
            nd = data.ndim
            data = data.rechunk({nd - 2: -1, nd - 1: -1})
            arr = da.map_blocks(
                accumulate,
                data,
                ptr,
                col,
                n,
                dtype=float,
                drop_axis=[nd - 2, nd - 1],
                new_axis=[nd - 2],
                chunks=data.chunks[:-2] + ((n,),),
            )
        else:
            arr = accumulate(data, ptr, col, n)
        arr = compute(arr, opts)
        return {d.name: self._image_series(arr[..., i], d) for i, d in enumerate(dets)}

    get_virtual_image_series.__doc__ %= (
        OPTIONS_PARAMETERS["show_progressbar"],
        OPTIONS_PARAMETERS["lazy_output"],
        OPTIONS_PARAMETERS["num_workers"],
    )

    def _image_series(self, data, det=None, title=None, quantity="Intensity (counts)"):
        import hyperspy.api as hs

        s = hs.signals.Signal2D(data)
        if isinstance(data, da.Array):
            s = s.as_lazy()
        ax_x, ax_y, ax_t = self.axes_manager.navigation_axes
        for new, old in zip(
            list(s.axes_manager.signal_axes) + list(s.axes_manager.navigation_axes),
            (ax_x, ax_y, ax_t),
            strict=True,
        ):
            new.name, new.units, new.scale, new.offset = (
                old.name,
                old.units,
                old.scale,
                old.offset,
            )
        s.metadata.General.title = title or f"Virtual {det.name} ({det!r})"
        s.metadata.set_item("Signal.quantity", quantity)
        for node in ("Stimulus", "Device", DIFFRACTION_CALIBRATION):
            if self.metadata.has_item(node):
                s.metadata.add_dictionary(
                    {node: self.metadata.get_item(node).as_dictionary()}
                )
        return s

    def estimate_scan_drift(
        self,
        detector="ADF",
        upsample=20,
        sigma=1.0,
        images=None,
        show_progressbar=None,
        lazy_output=None,
        num_workers=None,
    ):
        """Sample drift between scans, from a virtual image series.

        Each scan's virtual image is registered on the first one
        (:func:`hyperspy_perovskite.analysis.drift.estimate_shifts`: phase
        correlation, sub-pixel by DFT upsampling).

        Parameters
        ----------
        detector : str
            Virtual detector of :meth:`get_virtual_image_series` to register.
        upsample : int
            Sub-pixel precision ``1 / upsample`` scan pixel.
        sigma : float or str
            Gaussian low-pass before correlation: a number is in scan
            pixels, or a length with its unit (``"2 nm"``), converted through
            the scan axes.
        images : Signal2D, optional
            A precomputed image series (time | y, x).
        %s
        %s
        %s

        Returns
        -------
        Signal1D
            (time | 2): the sample offset ``(dy, dx)`` in nm; the sample point
            under scan position ``p`` at time ``t`` is ``p + offset(t)`` and a
            feature appears moved by ``-offset``.

        Examples
        --------
        >>> from hyperspy_perovskite.data.operando_4dstem_simulation import (
        ...     simulate_operando_4dstem)
        >>> s, truth = simulate_operando_4dstem(n_time=2, scan_shape=(8, 24),
        ...                                     pattern_size=32)
        >>> d = s.estimate_scan_drift()
        >>> d.data.shape, d.axes_manager.navigation_axes[0].units
        ((2, 2), 's')
        """
        self._check_series(calibrated=images is None)
        sigma = parse_pixels(sigma, self.axes_manager.navigation_axes[:2], name="sigma")
        opts = resolve_options(
            self,
            lazy_output=lazy_output,
            show_progressbar=show_progressbar,
            num_workers=num_workers,
        )
        if images is None:
            images = self.get_virtual_image_series(
                show_progressbar=show_progressbar,
                num_workers=num_workers,
                lazy_output=self._lazy,
            )[detector]
        frames = images.data
        n = frames.shape[0]
        if isinstance(frames, da.Array):
            # registration on the first frame: the whole series in one block
            shifts = da.map_blocks(
                _frame_shifts,
                frames.rechunk(-1),
                upsample,
                sigma,
                dtype=float,
                drop_axis=[1, 2],
                new_axis=[1],
                chunks=((n,), (2,)),
            )
        else:
            shifts = _frame_shifts(frames, upsample, sigma)
        _, _, _, step = self._scan()
        return self._drift_signal(compute(shifts * step, opts))

    estimate_scan_drift.__doc__ %= (
        OPTIONS_PARAMETERS["show_progressbar"],
        OPTIONS_PARAMETERS["lazy_output"],
        OPTIONS_PARAMETERS["num_workers"],
    )

    def _drift_signal(self, offsets):
        import hyperspy.api as hs

        ax_t = self.axes_manager.navigation_axes[2]
        s = hs.signals.Signal1D(offsets)
        if isinstance(offsets, da.Array):
            s = s.as_lazy()
        s.axes_manager.navigation_axes[0].update_from(
            ax_t, ("name", "units", "scale", "offset")
        )
        s.axes_manager.signal_axes[0].name = "(dy, dx)"
        s.metadata.General.title = "Sample drift under the scan"
        s.metadata.set_item("Signal.quantity", "Offset (nm)")
        return s

    # -------------------------------------------------------------- analysis
    def analyse(self, reference=None, **kwargs):
        """Strain, phases, drift and the interface timeline in one pass.

        See :func:`hyperspy_perovskite.signals._operando_analysis.analyse`
        for the parameters.

        Returns
        -------
        OperandoAnalysis
        """
        from hyperspy_perovskite.signals._operando_analysis import analyse

        return analyse(self, reference=reference, **kwargs)


class LazyOperando4DSTEM(LazySignal, Operando4DSTEM):
    """Lazy twin of :class:`Operando4DSTEM`."""

    _lazy = True


def set_diffraction_rotation(metadata, degrees):
    """Write the pattern's rotation relative to the scan (degrees) into
    ``metadata.Diffraction_calibration``.

    Examples
    --------
    >>> from hyperspy_perovskite.signals.operando_4dstem import (
    ...     diffraction_rotation, set_diffraction_rotation)
    >>> s = hs.signals.Signal2D(np.zeros((2, 4, 4)))
    >>> set_diffraction_rotation(s.metadata, 12.5)
    >>> diffraction_rotation(s.metadata)
    12.5
    """
    metadata.set_item(
        DIFFRACTION_CALIBRATION,
        {
            "rotation": float(degrees),
            "rotation_units": "deg",
            "frame": "device: strain x along the stack (Device.Geometry start to "
            "end), y along the interfaces; rotation anticlockwise on the detector",
        },
    )


def diffraction_rotation(metadata, default=None):
    """The stored rotation (degrees) of ``metadata.Diffraction_calibration``."""
    node = metadata.get_item(DIFFRACTION_CALIBRATION)
    if node is None or not node.has_item("rotation"):
        return default
    return parse_quantity(
        f"{node.rotation} {node.get_item('rotation_units', 'deg')}",
        "degree",
        name="Diffraction_calibration.rotation",
    )


def _frame_shifts(frames, upsample, sigma):
    """Offsets (t, 2) of every frame on the first, in scan pixels."""
    from hyperspy_perovskite.analysis.drift import estimate_shifts

    f = np.asarray(frames, float)
    return np.asarray(estimate_shifts(f, f[0], upsample=upsample, sigma=sigma), float)


def _vdf_detector(spec, kpix, i):
    if not isinstance(spec, dict):
        raise TypeError(
            "vdf entries are dicts: {'g': (gx, gy), 'radius': r} or "
            "{'d_spacing': d, 'width': w}."
        )
    if "g" in spec:
        g = [parse_quantity(v, "1/angstrom", name="g") for v in spec["g"]]
        r = parse_quantity(spec.get("radius", 3 * kpix), "1/angstrom", name="radius")
        name = spec.get("name", f"VDF_g({g[0]:.3g},{g[1]:.3g})")
        return Detector(name, "disk", 0.0, r, centre=g)
    if "d_spacing" in spec:
        d = parse_quantity(spec["d_spacing"], "angstrom", name="d_spacing")
        w = parse_quantity(spec.get("width", 2 * kpix), "1/angstrom", name="width")
        name = spec.get("name", f"VDF_d{d:.3g}")
        return Detector(name, "annulus", max(1 / d - w, 0.0), 1 / d + w)
    raise ValueError(f"vdf entry {i} needs 'g' or 'd_spacing', got {sorted(spec)}.")


def stack_scans(scans, times, time_units="s"):
    """Stack single 4D-STEM scans (scan y, scan x | ky, kx) into a series.

    Parameters
    ----------
    scans : sequence of Signal2D
        Same scan shape, pattern size and calibration.
    times : sequence of float
        Time of each scan (increasing).
    time_units : str

    Returns
    -------
    Operando4DSTEM or LazyOperando4DSTEM

    Raises
    ------
    ValueError
        For fewer than two scans, mismatched pattern sizes, scan shapes or
        calibrations, or times that do not increase.
    """
    import hyperspy.api as hs

    scans = list(scans)
    if len(scans) < 2:
        raise ValueError("A single time step: give at least two scans to stack.")
    t = np.asarray(times, float)
    if t.shape != (len(scans),) or np.any(np.diff(t) <= 0):
        raise ValueError(
            f"times must be {len(scans)} increasing values, got {times!r}."
        )
    s0 = scans[0]
    for i, s in enumerate(scans[1:], 1):
        if s.axes_manager.signal_shape != s0.axes_manager.signal_shape:
            raise ValueError(
                f"Scan {i} has patterns of {s.axes_manager.signal_shape} pixels, scan 0 "
                f"of {s0.axes_manager.signal_shape}: bin or crop them to one size."
            )
        if s.axes_manager.navigation_shape != s0.axes_manager.navigation_shape:
            raise ValueError(
                f"Scan {i} has {s.axes_manager.navigation_shape} positions, scan 0 "
                f"{s0.axes_manager.navigation_shape}: crop them to one scan shape."
            )
        for a, b in zip(
            s.axes_manager.signal_axes, s0.axes_manager.signal_axes, strict=True
        ):
            if a.units != b.units or not np.isclose(a.scale, b.scale):
                raise ValueError(
                    f"Scan {i} has another diffraction calibration than scan 0."
                )
    out = hs.stack(scans, new_axis_name="time", show_progressbar=False)
    ax = out.axes_manager.navigation_axes[-1]
    ax.convert_to_non_uniform_axis() if not np.allclose(
        np.diff(t), t[1] - t[0]
    ) else None
    if ax.is_uniform:
        ax.offset, ax.scale = float(t[0]), float(t[1] - t[0])
    else:
        ax.axis = t
    ax.units = time_units
    out.set_signal_type("operando_4DSTEM_perovskite")
    return out
