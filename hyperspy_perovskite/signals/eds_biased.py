"""EDX spectrum images of perovskite devices under electrical bias.

:class:`EDSTEMBiasedSpectrum` (``signal_type="EDS_TEM_biased"``) subclasses
exSpy's :class:`~exspy.signals.EDSTEMSpectrum`, so X-ray line intensities,
Cliff-Lorimer / zeta-factor quantification and the X-ray line database keep
working, and adds what a cross-section under bias needs (“Imaging real-time amorphization of hybrid perovskite solar cells under electrical biasing”, Fig. S11-S12; Nature (2026), doi:10.1038/s41586-026-10238-8): the device
geometry, element and composition profiles across the layer stack with
Poisson uncertainties, halide-to-Pb ratios, line-overlap checks, migration
between states and Pb-rich cluster detection. A series of maps (pristine /
biased / recovered, or operando frames) is ONE signal with an extra
navigation axis carrying the times (:func:`stack_bias_series`).

The bias condition lives in the shared stimulus schema
(:mod:`hyperspy_perovskite.stimulus.schema`, ``metadata.Stimulus``).

Device geometry metadata
------------------------
The stack direction and interfaces are stored in ``metadata.Device.Geometry``
(all lengths in nm, in the map's calibrated frame: axis value times the
factor of its unit to nm)::

    metadata.Device.Geometry
    ├── start = [x, y]                  first point of the stack line (nm)
    ├── end = [x, y]                    second point; the stack runs start -> end
    ├── position_units = "nm"
    ├── width = float or None           default band width (nm), None = whole map
    ├── layers = [str, ...]             layer names from start to end (may be [])
    ├── interface_names = [str, ...]    e.g. "SnO2/perovskite"
    ├── interface_positions = [float]   distance from start along the line (nm)
    └── method = "manual" | "roi" | "elements" | "haadf"

Profiles are given in nm from a named interface (``reference=``; default
the first interface, or the start of the line when no interface is set).
"""

from __future__ import annotations

import copy
import warnings
from contextlib import contextmanager

import dask.array as da
import numpy as np
from exspy._misc.eds import utils as eds_utils
from exspy.material import elements as elements_db
from exspy.signals import EDSTEMSpectrum
from hyperspy._signals.lazy import LazySignal
from hyperspy.misc.utils import DictionaryTreeBrowser
from hyperspy.signals import Signal1D, Signal2D

from hyperspy_perovskite.analysis import device_geometry as geo
from hyperspy_perovskite.analysis import xray_lines as xl
from hyperspy_perovskite.signals._eds_migration import MigrationMixin

__all__ = [
    "EDSTEMBiasedSpectrum",
    "LazyEDSTEMBiasedSpectrum",
    "LineOverlapWarning",
    "stack_bias_series",
]

_GEOM = "Device.Geometry"


class LineOverlapWarning(UserWarning):
    """An X-ray line used for an intensity overlaps a line of another element."""


def _lazy_flag(signal, lazy_output, inplace=False):
    if lazy_output and inplace:
        raise ValueError("lazy_output=True and inplace=True cannot be combined.")
    return signal._lazy if lazy_output is None else bool(lazy_output)


class EDSTEMBiasedSpectrum(MigrationMixin, EDSTEMSpectrum):
    """EDX spectrum image (STEM) of a device cross-section under bias.

    Navigation axes: the two spatial axes of the map first (x, y), then any
    series axis (state or time). The signal axis is the X-ray energy.

    Examples
    --------
    >>> s = hs.signals.Signal1D(np.ones((4, 5, 64)))
    >>> s.set_signal_type("EDS_TEM_biased")
    >>> type(s).__name__, s.metadata.Signal.signal_type
    ('EDSTEMBiasedSpectrum', 'EDS_TEM_biased')
    >>> type(s.as_lazy()).__name__
    'LazyEDSTEMBiasedSpectrum'
    """

    _signal_type = "EDS_TEM_biased"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)

    def _set_default_param(self):
        # exSpy hard-codes signal_type = "EDS_TEM" here (CONVENTIONS.md):
        # restore ours so the class survives save/load and as_lazy().
        super()._set_default_param()
        self.metadata.Signal.signal_type = self._signal_type

    @contextmanager
    def _as_eds_tem(self):
        # exSpy branches on signal_type == "EDS_TEM" (line energies, take-off
        # angle): present that type while its code runs, then restore ours.
        sig = self.metadata.Signal
        old = sig.signal_type
        sig.signal_type = "EDS_TEM"
        try:
            yield
        finally:
            sig.signal_type = old

    def _get_line_energy(self, Xray_line, FWHM_MnKa=None):
        with self._as_eds_tem():
            return super()._get_line_energy(Xray_line, FWHM_MnKa=FWHM_MnKa)

    def get_take_off_angle(self):
        """Take-off angle (degrees), see exSpy's ``get_take_off_angle``."""
        with self._as_eds_tem():
            return super().get_take_off_angle()

    # ------------------------------------------------------------------ bias
    @property
    def bias_condition(self):
        """The bias condition (dict) from ``metadata.Stimulus.Bias_condition``.

        Raises
        ------
        ValueError
            If no bias record is set (see
            :func:`hyperspy_perovskite.stimulus.schema.set_bias_condition`).
        """
        from hyperspy_perovskite.stimulus.schema import get_bias_condition

        return get_bias_condition(self)

    # -------------------------------------------------------------- geometry
    def _spatial_axes(self):
        nav = self.axes_manager.navigation_axes
        if len(nav) < 2:
            raise ValueError(
                "A device map needs two spatial navigation axes (x, y); this "
                f"signal has {len(nav)} navigation axis/axes. For a line scan, "
                "use the element profile methods of exSpy directly."
            )
        ax_x, ax_y = nav[0], nav[1]
        for ax in (ax_x, ax_y):
            if not ax.is_uniform:
                raise ValueError(f"Spatial axis {ax.name!r} must be uniform.")
        return ax_x, ax_y

    def _pixel_grid_nm(self):
        ax_x, ax_y = self._spatial_axes()
        fx, fy = geo.to_nm(ax_x.units), geo.to_nm(ax_y.units)
        x = ax_x.axis * fx
        y = ax_y.axis * fy
        yy, xx = np.meshgrid(y, x, indexing="ij")
        return xx, yy, abs(ax_x.scale * fx), abs(ax_y.scale * fy)

    def _check_points_inside(self, points):
        xx, yy, sx, sy = self._pixel_grid_nm()
        lo_x, hi_x = xx.min() - sx / 2, xx.max() + sx / 2
        lo_y, hi_y = yy.min() - sy / 2, yy.max() + sy / 2
        for p in points:
            if not (lo_x <= p[0] <= hi_x and lo_y <= p[1] <= hi_y):
                raise ValueError(
                    f"Point ({p[0]:.4g}, {p[1]:.4g}) nm lies outside the map "
                    f"(x {lo_x:.4g}..{hi_x:.4g} nm, y {lo_y:.4g}..{hi_y:.4g} nm). "
                    "Give points in the calibrated units of the navigation axes."
                )

    def set_device_geometry(
        self,
        start=None,
        end=None,
        roi=None,
        interfaces=None,
        layers=None,
        width=None,
    ):
        """Set the stack direction and the layer interfaces by hand.

        Annotates ``metadata.Device.Geometry`` in place (like exSpy's
        ``set_microscope_parameters``); the data are not touched.

        Parameters
        ----------
        start, end : sequence of 2 float, optional
            ``(x, y)`` points in the calibrated units of the navigation axes;
            the stack runs from ``start`` to ``end``.
        roi : hyperspy.roi.Line2DROI, optional
            Instead of ``start``/``end``: a line ROI (its ``linewidth``, if
            non-zero, becomes the default band width).
        interfaces : dict or sequence of float, optional
            ``{name: position}`` or positions, as distances from ``start``
            along the line in the units of the navigation axes.
        layers : sequence of str, optional
            Layer names from start to end (one more than the interfaces);
            interface names become ``"A/B"``.
        width : float, optional
            Default band width in the navigation units.

        Raises
        ------
        ValueError
            For points outside the map, coinciding points, interfaces outside
            the line or a layer count that does not match the interfaces.

        Examples
        --------
        >>> s = hs.signals.Signal1D(np.ones((10, 20, 32)))
        >>> s.set_signal_type("EDS_TEM_biased")
        >>> for ax in s.axes_manager.navigation_axes:
        ...     ax.units = "nm"
        >>> s.set_device_geometry((0, 5), (19, 5), interfaces=[6.0, 12.0],
        ...                       layers=["ITO", "perovskite", "Au"])
        >>> s.get_device_geometry()["interface_names"]
        ['ITO/perovskite', 'perovskite/Au']
        """
        ax_x, ax_y = self._spatial_axes()
        fx, fy = geo.to_nm(ax_x.units), geo.to_nm(ax_y.units)
        method = "manual"
        if roi is not None:
            if start is not None or end is not None:
                raise ValueError("Give either start/end or roi, not both.")
            for attr in ("x1", "y1", "x2", "y2"):
                if not np.isfinite(getattr(roi, attr, np.nan)):
                    raise ValueError(
                        "The line ROI is not fully defined (x1, y1, x2, y2)."
                    )
            start, end = (roi.x1, roi.y1), (roi.x2, roi.y2)
            if width is None and getattr(roi, "linewidth", 0):
                width = roi.linewidth
            method = "roi"
        if start is None or end is None:
            raise ValueError(
                "Give the stack direction as two points (start, end) or a "
                "Line2DROI (roi=), or use find_device_geometry()."
            )
        p0 = np.array([float(start[0]) * fx, float(start[1]) * fy])
        p1 = np.array([float(end[0]) * fx, float(end[1]) * fy])
        self._check_points_inside((p0, p1))
        length = float(np.hypot(*(p1 - p0)))
        if not length > 0:
            raise ValueError("start and end coincide: give two distinct points.")
        # interfaces in navigation units -> nm (the x-axis unit factor; a map
        # with different x and y units is converted per component above)
        scale_u = fx
        names, pos = _parse_interfaces(interfaces, layers)
        pos = [p * scale_u for p in pos]
        for n, p in zip(names, pos, strict=False):
            if not (0 <= p <= length):
                raise ValueError(
                    f"Interface {n!r} at {p:.4g} nm lies outside the stack line "
                    f"(0..{length:.4g} nm from start)."
                )
        if width is not None:
            width = float(width) * scale_u
            if not width > 0:
                raise ValueError(f"width must be positive, got {width}.")
        _store_geometry(self.metadata, p0, p1, width, layers, names, pos, method)

    def get_device_geometry(self):
        """The device geometry (dict, lengths in nm).

        Raises
        ------
        ValueError
            If no geometry is set.
        """
        if not self.metadata.has_item(f"{_GEOM}.start"):
            raise ValueError(
                "No device geometry: set it with s.set_device_geometry(start, "
                "end, interfaces=..., layers=...) or s.find_device_geometry()."
            )
        g = self.metadata.get_item(_GEOM)
        return {
            "start": np.asarray(g.start, dtype=float),
            "end": np.asarray(g.end, dtype=float),
            "width": g.get_item("width", None),
            "layers": list(g.get_item("layers", [])),
            "interface_names": list(g.get_item("interface_names", [])),
            "interface_positions": [
                float(v) for v in g.get_item("interface_positions", [])
            ],
            "method": g.get_item("method", "manual"),
        }

    def find_device_geometry(
        self,
        n_interfaces,
        xray_lines=None,
        haadf=None,
        layers=None,
        direction=None,
        width=None,
        bin_size=None,
        smooth=1.0,
    ):
        """Find the stack direction and the interfaces automatically.

        The direction is the dominant gradient orientation (structure tensor)
        of the element maps or of the HAADF image; the interfaces are the
        largest changes of the profiles along it
        (:func:`~hyperspy_perovskite.analysis.device_geometry.find_interfaces`).
        Only ``metadata.Device.Geometry`` is written.

        Parameters
        ----------
        n_interfaces : int
            Number of interfaces to find.
        xray_lines : sequence of str, optional
            Lines whose maps are used (default ``metadata.Sample.xray_lines``).
            Ignored when ``haadf`` is given.
        haadf : hyperspy.signals.Signal2D, optional
            HAADF image of the same area (same spatial shape).
        layers : sequence of str, optional
            ``n_interfaces + 1`` layer names from start to end.
        direction : sequence of 2 float, optional
            Impose the stack direction ``(ux, uy)`` instead of finding it.
        width, bin_size : float, optional
            Band width and bin size in nm for the profiles (default: whole
            map, the larger pixel size).
        smooth : float
            Smoothing (bins) of the profiles before differentiation.

        Returns
        -------
        dict
            The geometry (see :meth:`get_device_geometry`) plus ``anisotropy``
            (0 = no layered structure, 1 = perfect stripes).
        """
        xx, yy, sx, sy = self._pixel_grid_nm()
        if haadf is not None:
            img = np.asarray(haadf.data, dtype=float)
            if img.shape != xx.shape:
                raise ValueError(
                    f"The HAADF image shape {img.shape} differs from the map "
                    f"{xx.shape}."
                )
            maps = img[None]
            method = "haadf"
        else:
            lines = self._lines_in_range(xray_lines)
            inten, _ = self._intensity_arrays(lines, background=False)
            arr = inten
            if arr.ndim > 3:  # sum a series over its extra axes
                arr = arr.sum(axis=tuple(range(arr.ndim - 3)))
            if isinstance(arr, da.Array):
                arr = arr.compute()
            maps = np.moveaxis(np.asarray(arr, dtype=float), -1, 0)
            method = "elements"
        if direction is None:
            u, aniso = geo.find_stack_direction(maps)
            # pixel -> calibrated direction
            u = np.array([u[0] * sx, u[1] * sy])
            u /= np.hypot(*u)
        else:
            u = np.asarray(direction, dtype=float)
            if u.shape != (2,) or not np.hypot(*u) > 0:
                raise ValueError("direction must be a non-zero (ux, uy) pair.")
            u = u / np.hypot(*u)
            aniso = float("nan")
        p0, p1 = geo.line_across_map(u, xx, yy)
        bin_size = float(bin_size) if bin_size is not None else max(sx, sy)
        index, centres, npix = geo.band_bin_index(xx, yy, p0, p1, width, bin_size)
        prof = (
            np.stack(
                [np.bincount(index[index >= 0], weights=m[index >= 0]) for m in maps]
            )
            / npix
        )
        pos = geo.find_interfaces(prof, centres, n_interfaces, smooth=smooth)
        if layers is not None and len(layers) != n_interfaces + 1:
            raise ValueError(
                f"{n_interfaces} interfaces need {n_interfaces + 1} layer names, "
                f"got {len(layers)}."
            )
        names, _ = _parse_interfaces(list(pos), layers)
        _store_geometry(self.metadata, p0, p1, width, layers, names, list(pos), method)
        out = self.get_device_geometry()
        out["anisotropy"] = aniso
        return out

    def _reference_position(self, geom, reference):
        if reference is None:
            if geom["interface_names"]:
                return geom["interface_names"][0], geom["interface_positions"][0]
            return "start", 0.0
        if reference == "start":
            return "start", 0.0
        if reference not in geom["interface_names"]:
            raise ValueError(
                f"Unknown interface {reference!r}; the geometry has "
                f"{geom['interface_names'] or 'no interfaces'} (or use 'start')."
            )
        i = geom["interface_names"].index(reference)
        return reference, geom["interface_positions"][i]

    # ------------------------------------------------------------- line scan
    def get_stack_linescan(
        self,
        width=None,
        bin_size=None,
        reference=None,
        show_progressbar=None,
        lazy_output=None,
    ):
        """Sum the spectra in bins along the stack: a line scan across it.

        Pixels within ``width / 2`` of the stack line are binned by their
        distance along it and their spectra summed (one pass over the data,
        chunk by chunk). The result is an ``EDS_TEM_biased`` line scan whose
        first navigation axis is the distance in nm from the reference
        interface (series axes follow), so exSpy's ``get_lines_intensity`` and
        ``quantification`` apply to it directly. Its counts are sums of raw
        counts, hence Poisson.

        Parameters
        ----------
        width : float, optional
            Band width in nm (default: the geometry's, else the whole map).
        bin_size : float, optional
            Bin size in nm (default: the larger pixel size).
        reference : str, optional
            Interface name the distances are measured from (default: the
            first interface), or ``"start"``.
        show_progressbar : bool, optional
            Unused for the lazy reduction (kept for API symmetry).
        lazy_output : bool, optional
            Lazy result (default: same as the input).

        Returns
        -------
        EDSTEMBiasedSpectrum
            With ``metadata.Device.Profile`` (width, bin_size, reference,
            pixels_per_bin).

        Examples
        --------
        >>> from hyperspy_perovskite.data.device_simulation import simulate_device_eds
        >>> s, truth = simulate_device_eds(shape=(8, 16), n_channels=512)
        >>> ls = s.get_stack_linescan(bin_size=truth["pixel_size"])
        >>> ls.axes_manager.navigation_shape
        (16,)
        """
        del show_progressbar
        lazy = _lazy_flag(self, lazy_output)
        index, centres, _, axes, md = self._band_setup(width, bin_size, reference)
        out = geo.project_to_stack(self.data, index, centres.size)
        if not lazy and isinstance(out, da.Array):
            out = out.compute()
        elif lazy and not isinstance(out, da.Array):
            out = da.from_array(out, chunks=out.shape)
        res = EDSTEMBiasedSpectrum(out, axes=axes, metadata=md)
        if lazy:
            res = res.as_lazy()
        return res

    def _band_setup(self, width, bin_size, reference, full_metadata=True):
        """Bin index, line-scan axes and metadata of a band (no data read).

        Returns ``index, centres, pixels_per_bin, axes, metadata``: the axes
        (array order: series axes, distance, energy) and the metadata
        (with ``Device.Profile``) of the stack line scan; only the nodes that
        profiles keep unless ``full_metadata`` (a copy of the whole metadata
        would copy e.g. a variance map).
        """
        geom = self.get_device_geometry()
        xx, yy, sx, sy = self._pixel_grid_nm()
        width = geom["width"] if width is None else width
        bin_size = max(sx, sy) if bin_size is None else float(bin_size)
        index, centres, npix = geo.band_bin_index(
            xx, yy, geom["start"], geom["end"], width, bin_size
        )
        ref_name, ref_pos = self._reference_position(geom, reference)
        nav = self.axes_manager.navigation_axes
        axes = [self.axes_manager.signal_axes[0].get_axis_dictionary()]
        for ax in nav[2:]:
            axes.insert(0, ax.get_axis_dictionary())
        axes.insert(
            -1,
            {
                "name": f"Distance from {ref_name}",
                "units": "nm",
                "scale": bin_size,
                "offset": float(centres[0] - ref_pos),
                "size": centres.size,
                "navigate": True,
            },
        )
        for a in axes[:-1]:
            a["navigate"] = True
        axes[-1]["navigate"] = False
        if full_metadata:
            md = self.metadata.deepcopy()
        else:
            md = DictionaryTreeBrowser(
                {
                    node: self.metadata.get_item(node).as_dictionary()
                    for node in _PROFILE_NODES
                    if self.metadata.has_item(node)
                }
            )
        md.set_item(
            "General.title", f"Stack line scan of {self.metadata.General.title}"
        )
        md.set_item(
            "Device.Profile",
            {
                "width": None if width is None else float(width),
                "width_units": "nm",
                "bin_size": float(bin_size),
                "reference": ref_name,
                "pixels_per_bin": npix.tolist(),
            },
        )
        return index, centres, npix, axes, md.as_dictionary()

    def _band_line_sums(
        self, xray_lines, width, bin_size, reference, background, integration_windows
    ):
        """Line intensities, variances and gross window counts of a band.

        ONE streaming pass over the data: only the channels of the line and
        background windows are summed over the band's bins
        (:func:`~hyperspy_perovskite.analysis.device_geometry.project_to_stack`
        with ``channels``), each chunk reduced at once to its
        ``(..., n_bins, n_channels)`` partial sums; the windows are then
        applied to the small result. Equal to the window sums of the line
        scan (:meth:`get_stack_linescan`): the weights are linear.

        Returns
        -------
        intensity, variance, gross : numpy.ndarray
            ``(..., n_bins, n_lines)`` each.
        header : tuple
            ``(axes, metadata)`` of the line scan, for :func:`_wrap_profiles`.
        """
        index, centres, _, axes, md = self._band_setup(
            width, bin_size, reference, full_metadata=False
        )
        w = self._weights(xray_lines, background, integration_windows)
        g = self._weights(xray_lines, False, integration_windows)
        wg = np.concatenate([w, w**2, g], axis=1)
        used = np.flatnonzero(np.any(wg != 0, axis=1))
        sums = geo.project_to_stack(self.data, index, centres.size, channels=used)
        if isinstance(sums, da.Array):
            sums = sums.compute()
        res = sums @ wg[used]
        n = len(xray_lines)
        md = {node: md[node] for node in _PROFILE_NODES if node in md}
        return res[..., :n], res[..., n : 2 * n], res[..., 2 * n :], (axes[:-1], md)

    # ------------------------------------------------------ line intensities
    def _lines_in_range(self, xray_lines):
        """Validate X-ray lines: known, and inside the energy axis."""
        if xray_lines is None:
            xray_lines = list(self.metadata.get_item("Sample.xray_lines", []))
            if not xray_lines:
                raise ValueError(
                    "No X-ray lines given and none in metadata.Sample.xray_lines: "
                    "pass xray_lines=['I_La', 'Pb_Ma', ...] or s.add_lines()."
                )
        if isinstance(xray_lines, str):
            xray_lines = [xray_lines]
        ax = self.axes_manager.signal_axes[0]
        lo, hi = ax.low_value, ax.high_value
        out = []
        for line in xray_lines:
            try:
                energy = eds_utils._get_energy_xray_line(line)
            except Exception as exc:
                raise ValueError(
                    f"{line!r} is not an X-ray line of exSpy's database "
                    "(use e.g. 'I_La', 'Pb_Ma', 'Cl_Ka')."
                ) from exc
            if not lo <= energy <= hi:
                raise ValueError(
                    f"{line} at {energy:.3f} keV is outside the energy range "
                    f"{lo:.3f}..{hi:.3f} keV of this spectrum: choose another "
                    "line of the element (e.g. its L or M line)."
                )
            out.append(line)
        return out

    def _weights(self, xray_lines, background=True, integration_windows=2.0):
        ax = self.axes_manager.signal_axes[0]
        iw = self.estimate_integration_windows(
            windows_width=integration_windows, xray_lines=xray_lines
        )
        wins = []
        for k, (a, b) in enumerate(iw):
            if a < ax.low_value or b > ax.high_value:
                raise ValueError(
                    f"The integration window of {xray_lines[k]} "
                    f"({a:.3f}..{b:.3f} keV) extends beyond the energy axis."
                )
            i0, i1 = ax.value2index(a), ax.value2index(b)
            if i1 <= i0:  # window narrower than a channel: the line's channel
                i0 = ax.value2index(0.5 * (a + b))
                i1 = i0 + 1
            wins.append((i0, i1))
        bws = None
        if background:
            bw = self._background_windows(xray_lines)
            bws = []
            for k, row in enumerate(bw):
                if row[0] < ax.low_value or row[3] > ax.high_value:
                    raise ValueError(
                        f"The background windows of {xray_lines[k]} extend "
                        "beyond the energy axis: use background=False."
                    )
                bws.append(tuple(ax.value2index(v) for v in row))
        return xl.window_weights(ax.size, wins, bws)

    def _background_windows(self, xray_lines):
        """exSpy-style background windows moved off the lines present.

        See :func:`~hyperspy_perovskite.analysis.xray_lines.line_free_background_windows`.
        """
        ax = self.axes_manager.signal_axes[0]
        elements = set(self.metadata.get_item("Sample.elements", []))
        elements |= {ln.split("_")[0] for ln in xray_lines}
        others = [
            node["energy (keV)"]
            for el in elements
            for _, node in elements_db[el].Atomic_properties.Xray_lines
            if node["weight"] >= 0.05
        ]
        factor = 1000.0 if ax.units == "eV" else 1.0
        rows = []
        for line in xray_lines:
            e0, fwhm = self._get_line_energy(line, FWHM_MnKa="auto")
            e0, fwhm = e0 / factor, fwhm / factor
            oth = [e for e in others if abs(e - e0) > 1e-6]
            rows.append(
                xl.line_free_background_windows(
                    e0, fwhm, oth, ax.low_value / factor, ax.high_value / factor
                )
                * factor
            )
        return np.asarray(rows)

    def _intensity_arrays(self, xray_lines, background=True, integration_windows=2.0):
        w = self._weights(xray_lines, background, integration_windows)
        return xl.line_intensities(self.data, w)

    def _fit_intensities(self, xray_lines, show_progressbar=None):
        """Line areas and variances from exSpy's EDS model (overlaps separated).

        exSpy's ``create_model`` (polynomial bremsstrahlung + every line
        family of ``metadata.Sample.elements``) fitted by linear least
        squares with Poisson weights ``max(counts, 1)``; the area of each
        requested line's family and its standard error.
        """
        sig = self.deepcopy()
        if sig._lazy:
            sig.compute()
        sig.metadata.set_item(
            "Signal.Noise_properties.variance",
            sig._deepcopy_with_new_data(np.maximum(np.asarray(sig.data, float), 1.0)),
        )
        elements = set(sig.metadata.get_item("Sample.elements", []))
        missing = {ln.split("_")[0] for ln in xray_lines} - elements
        if missing:
            sig.add_elements(sorted(missing))
        with sig._as_eds_tem():
            m = sig.create_model(auto_background=True, auto_add_lines=True)
            names = [c.name for c in m]
            for ln in xray_lines:
                if ln not in names:
                    m.add_family_lines([ln])
            m.multifit(
                optimizer="lstsq",
                calculate_errors=True,
                show_progressbar=show_progressbar,
            )
        vals = np.stack([m[ln].A.map["values"] for ln in xray_lines], axis=-1)
        std = np.stack([m[ln].A.map["std"] for ln in xray_lines], axis=-1)
        return vals.astype(float), std.astype(float) ** 2

    def check_line_overlaps(self, xray_lines=None, elements=None, warn=True):
        """Lines of other elements within each line's integration window.

        Parameters
        ----------
        xray_lines : sequence of str, optional
            Lines to check (default ``metadata.Sample.xray_lines``).
        elements : sequence of str, optional
            Elements present (default ``metadata.Sample.elements``).
        warn : bool
            Issue a :class:`LineOverlapWarning` for each overlapped line.

        Returns
        -------
        dict
            ``{line: [overlapping lines]}`` and, under ``"free_lines"``, for
            each overlapped line the element's lines free of overlap that lie
            within the energy range (use one of them instead).

        Examples
        --------
        >>> s = hs.signals.Signal1D(np.ones(2048))
        >>> s.set_signal_type("EDS_TEM_biased")
        >>> s.axes_manager[0].scale = 0.01
        >>> s.axes_manager[0].units = "keV"
        >>> s.add_elements(["Br", "Al", "Pb"])
        >>> r = s.check_line_overlaps(["Br_La"], warn=False)
        >>> r["Br_La"], r["free_lines"]["Br_La"]
        (['Al_Ka'], ['Br_Ka'])
        """
        xray_lines = self._lines_in_range(xray_lines)
        if elements is None:
            elements = list(self.metadata.get_item("Sample.elements", []))
        elements = set(elements) | {ln.split("_")[0] for ln in xray_lines}
        ax = self.axes_manager.signal_axes[0]
        lo, hi = ax.low_value, ax.high_value
        neighbours = {}
        for el in elements:
            for name, node in elements_db[el].Atomic_properties.Xray_lines:
                e = node["energy (keV)"]
                if lo <= e <= hi:
                    neighbours[f"{el}_{name}"] = (e, node["weight"])

        def reach(line):
            e, fwhm = self._get_line_energy(line, FWHM_MnKa="auto")
            return fwhm * 2.0  # half window (1 FWHM) + the neighbour's tail (1 FWHM)

        res = xl.find_overlaps(
            {ln: eds_utils._get_energy_xray_line(ln) for ln in xray_lines},
            {ln: reach(ln) for ln in xray_lines},
            neighbours,
        )
        free = {}
        for line, hits in res.items():
            if not hits:
                continue
            el = line.split("_")[0]
            cands = {
                f"{el}_{n}": node["energy (keV)"]
                for n, node in elements_db[el].Atomic_properties.Xray_lines
                if node["weight"] >= 0.5
                and lo <= node["energy (keV)"] <= hi
                and n[0] != line.split("_")[1][0]  # another family (K/L/M)
            }
            cands.pop(line, None)
            ok = xl.find_overlaps(cands, {c: reach(c) for c in cands}, neighbours)
            free[line] = sorted(c for c, h in ok.items() if not h)
            if warn:
                alt = (
                    f" Use a free line instead: {', '.join(free[line])}."
                    if free[line]
                    else " No free line of this element is in range: fit the "
                    "spectrum (s.create_model()) to separate them."
                )
                warnings.warn(
                    f"{line} overlaps {', '.join(hits)}: its window intensity "
                    f"includes counts of the other line(s).{alt}",
                    LineOverlapWarning,
                    stacklevel=2,
                )
        res["free_lines"] = free
        return res

    # -------------------------------------------------------------- profiles
    def get_element_profiles(
        self,
        xray_lines=None,
        width=None,
        bin_size=None,
        reference=None,
        background=True,
        integration_windows=2.0,
        check_overlaps=True,
        method="windows",
        show_progressbar=None,
        lazy_output=None,
    ):
        """X-ray line intensity profiles across the stack, with Poisson errors.

        Intensities are integrated over a band of ``width`` around the stack
        line (see :meth:`get_stack_linescan`) in exSpy's integration windows,
        with background-window subtraction when ``background`` (exSpy's rule,
        with windows moved off the lines of the elements present:
        :func:`~hyperspy_perovskite.analysis.xray_lines.line_free_background_windows`). The
        variance of each point, ``sum(w**2 * counts)``, is stored in
        ``metadata.Signal.Noise_properties.variance`` so that model fits are
        weighted by it.

        Parameters
        ----------
        xray_lines : sequence of str, optional
            Default ``metadata.Sample.xray_lines``.
        width, bin_size, reference
            See :meth:`get_stack_linescan`.
        background : bool
            Subtract the background estimated in exSpy's background windows.
        integration_windows : float
            Window width in units of the line FWHM (exSpy's default 2).
        check_overlaps : bool
            Warn about overlapped lines (:meth:`check_line_overlaps`); only
            with ``method="windows"``.
        method : {"windows", "fit"}
            ``"windows"``: window sums (fast, linear in the counts).
            ``"fit"``: exSpy's EDS model (bremsstrahlung polynomial and all
            line families of the elements present) fitted to every bin of the
            line scan by weighted linear least squares; separates overlapped
            lines (Br_La / Al_Ka, I_La / Cs_La / Ti_Ka, Pb_Ma / Au_Ma, a
            line's own family in the background windows). The variance is
            the fit's.
        show_progressbar, lazy_output
            As in :meth:`hyperspy.signal.BaseSignal.map`.

        Returns
        -------
        list of hyperspy.signals.Signal1D
            One profile per line, signal axis the distance in nm from the
            reference interface, series axes as navigation.

        Raises
        ------
        ValueError
            For lines outside the energy range, or a band with zero counts
            of a line.

        Examples
        --------
        >>> from hyperspy_perovskite.data.device_simulation import simulate_device_eds
        >>> s, truth = simulate_device_eds(shape=(8, 16), n_channels=512)
        >>> p = s.get_element_profiles(["I_La"], check_overlaps=False)
        >>> p[0].axes_manager.signal_axes[0].units
        'nm'
        """
        lines = self._lines_in_range(xray_lines)
        if method not in ("windows", "fit"):
            raise ValueError(f"method must be 'windows' or 'fit', got {method!r}.")
        if check_overlaps and method == "windows":
            self.check_line_overlaps(lines)
        lazy = _lazy_flag(self, lazy_output)
        if method == "fit":
            ls = self.get_stack_linescan(
                width=width, bin_size=bin_size, reference=reference, lazy_output=False
            )
            inten, var = ls._fit_intensities(lines, show_progressbar)
            gross = ls._intensity_arrays(lines, False, integration_windows)[0]
            header = _linescan_header(ls)
        else:
            inten, var, gross, header = self._band_line_sums(
                lines, width, bin_size, reference, background, integration_windows
            )
        gross = np.asarray(gross).reshape((-1, len(lines))).sum(axis=0)
        for name, g in zip(lines, gross, strict=False):
            if not g > 0:
                raise ValueError(
                    f"The band has zero counts in the {name} window: the element "
                    "is absent there or the band misses the device; widen or move "
                    "the band, or choose another line."
                )
        if lazy:
            inten = da.from_array(inten, chunks=inten.shape)
            var = da.from_array(var, chunks=var.shape)
        return _wrap_profiles(*header, lines, inten, var, "X-ray counts")

    # ----------------------------------------------------------- composition
    def _k_list(self, kfactors, lines):
        if isinstance(kfactors, dict):
            missing = [ln for ln in lines if ln not in kfactors]
            if missing:
                raise ValueError(f"No k-factor given for {missing}.")
            k = [float(kfactors[ln]) for ln in lines]
        else:
            k = [float(v) for v in kfactors]
            if len(k) != len(lines):
                raise ValueError(
                    f"{len(k)} k-factors for {len(lines)} X-ray lines {lines}: give "
                    "one per line (or a dict {line: k})."
                )
        if not all(np.isfinite(v) and v > 0 for v in k):
            raise ValueError("k-factors must be positive numbers.")
        return k

    def get_composition_profiles(
        self,
        kfactors,
        xray_lines=None,
        width=None,
        bin_size=None,
        reference=None,
        background=True,
        check_overlaps=True,
        method="windows",
        profiles=None,
        show_progressbar=None,
        lazy_output=None,
    ):
        """Composition profiles (at%) across the stack by exSpy's Cliff-Lorimer.

        The line intensities of the band are those of
        :meth:`get_element_profiles` (one streaming pass over the map, or
        none when its ``profiles`` are passed); they are quantified with
        exSpy's Cliff-Lorimer (the array core of
        ``EDSTEMSpectrum.quantification(method="CL")``:
        :func:`~hyperspy_perovskite.analysis.xray_lines.cliff_lorimer_atomic`)
        and the user's k-factors. Uncertainties are propagated linearly from
        the Poisson variances of the intensities
        (:func:`~hyperspy_perovskite.analysis.xray_lines.cliff_lorimer_variance`)
        and stored as ``metadata.Signal.Noise_properties.variance``.

        Parameters
        ----------
        kfactors : dict or sequence of float
            Cliff-Lorimer k-factors in exSpy's convention (weight
            fractions: ``C_wt,A / C_wt,B = k_A / k_B * I_A / I_B``),
            ``{line: k}`` or one per line.
        xray_lines, width, bin_size, reference, background, check_overlaps, method
            See :meth:`get_element_profiles` (``method="fit"`` separates
            overlapped lines).
        profiles : list of hyperspy.signals.Signal1D, optional
            Element profiles already returned by :meth:`get_element_profiles`
            (at least two lines): they are quantified as they are, without
            reading the map again (``width``, ``bin_size``, ``reference``,
            ``background``, ``check_overlaps`` and ``method`` are then those
            the profiles were made with). ``xray_lines``, if given, must list
            the same lines.
        show_progressbar, lazy_output
            As in ``BaseSignal.map``. The line scan is small, so it is
            computed; ``lazy_output=True`` returns lazy signals.

        Returns
        -------
        list of hyperspy.signals.Signal1D
            One at% profile per line.

        Examples
        --------
        >>> from hyperspy_perovskite.data.device_simulation import simulate_device_eds
        >>> s, truth = simulate_device_eds(shape=(8, 16), n_channels=1024)
        >>> lines = ["Pb_La", "I_La", "Br_Ka"]
        >>> c = s.get_composition_profiles(truth["k_factors"], lines,
        ...                                check_overlaps=False)
        >>> c[0].metadata.Signal.quantity
        'Composition (at%)'
        """
        lazy = _lazy_flag(self, lazy_output)
        if method not in ("windows", "fit"):
            raise ValueError(f"method must be 'windows' or 'fit', got {method!r}.")
        if profiles is None:
            lines = self._lines_in_range(xray_lines)
            k = self._k_list(kfactors, lines)
            profiles = self.get_element_profiles(
                lines,
                width=width,
                bin_size=bin_size,
                reference=reference,
                background=background,
                check_overlaps=check_overlaps,
                method=method,
                show_progressbar=show_progressbar,
                lazy_output=False,
            )
        else:
            lines = _profile_lines(profiles, xray_lines)
            k = self._k_list(kfactors, lines)
        inten = np.stack([_eager(p.data) for p in profiles], axis=-1)
        var = np.stack(
            [
                _eager(p.metadata.Signal.Noise_properties.variance.data)
                for p in profiles
            ],
            axis=-1,
        )
        # exSpy's Cliff-Lorimer (EDSTEMSpectrum.quantification(method="CL"),
        # no absorption, no mask), at the array level
        at = xl.cliff_lorimer_atomic(
            np.moveaxis(inten, -1, 0), k, [ln.split("_")[0] for ln in lines]
        )
        _, cvar = xl.cliff_lorimer_variance(
            np.moveaxis(inten, -1, 0), np.moveaxis(var, -1, 0), _atomic_k(lines, k)
        )
        values = np.moveaxis(at, 0, -1)
        # exSpy quantification's at% against the propagated variance (fraction^2)
        cvar = np.moveaxis(cvar, 0, -1) * 100.0**2
        if lazy:
            values = da.from_array(values, chunks=values.shape)
            cvar = da.from_array(cvar, chunks=cvar.shape)
        out = _wrap_profiles(
            *_linescan_header(profiles[0], drop_energy=False),
            lines,
            values,
            cvar,
            "Composition (at%)",
        )
        for p, line in zip(out, lines, strict=False):
            p.metadata.General.title = f"{line.split('_')[0]} composition profile"
            p.metadata.set_item("Quantification.method", "CL")
            p.metadata.set_item(
                "Quantification.k_factors", dict(zip(lines, k, strict=False))
            )
        return out

    @staticmethod
    @contextmanager
    def _as_eds_tem_of(sig):
        with sig._as_eds_tem():
            yield

    # ---------------------------------------------------------------- ratios
    def _halide_lines(self, halide_lines, pb_line):
        if halide_lines is None:
            halide_lines = [
                ln
                for ln in self.metadata.get_item("Sample.xray_lines", [])
                if ln.split("_")[0] in ("I", "Br", "Cl")
            ]
            if not halide_lines:
                raise ValueError(
                    "No halide line given and none of I, Br, Cl in "
                    "metadata.Sample.xray_lines: pass halide_lines=['I_La', ...]."
                )
        if isinstance(halide_lines, str):
            halide_lines = [halide_lines]
        for ln in halide_lines:
            if ln.split("_")[0] not in ("I", "Br", "Cl", "F"):
                raise ValueError(f"{ln} is not a halide line (I, Br, Cl, F).")
        if pb_line.split("_")[0] != "Pb":
            raise ValueError(f"pb_line must be a Pb line, got {pb_line!r}.")
        return self._lines_in_range(list(halide_lines) + [pb_line])

    def _ratio_arrays(self, kfactors, halide_lines, pb_line, background, sig):
        lines = self._halide_lines(halide_lines, pb_line)
        k = self._k_list(kfactors, lines)
        inten, var = sig._intensity_arrays(lines, background)
        n = len(lines)
        k_at = _atomic_k(lines, k)
        r, v = xl.halide_ratio(
            [inten[..., i] for i in range(n)],
            [var[..., i] for i in range(n)],
            k_at[:-1],
            k_at[-1],
        )
        return lines, r, v, inten[..., -1], var[..., -1]

    def get_halide_ratio_map(
        self,
        kfactors,
        halide_lines=None,
        pb_line="Pb_La",
        background=True,
        show_progressbar=None,
        lazy_output=None,
    ):
        """Atomic halide-to-Pb ratio map ``X/Pb`` (3 for ABX3), with variance.

        Cliff-Lorimer ratio of the summed halide lines to the Pb line per
        pixel (:func:`~hyperspy_perovskite.analysis.xray_lines.halide_ratio`);
        one pass over the data for all lines.

        Parameters
        ----------
        kfactors : dict or sequence of float
            Cliff-Lorimer k-factors (exSpy's weight-fraction convention,
            converted to atomic with the atomic weights), ``{line: k}`` or
            one per line: the halide lines then the Pb line.
        halide_lines : sequence of str, optional
            Default: the I, Br, Cl lines of ``metadata.Sample.xray_lines``.
        pb_line : str
            ``"Pb_La"`` by default (``Pb_Ma`` overlaps ``Au_Ma`` and ``S_Ka``).
        background : bool
            Subtract exSpy's background-window estimate.
        show_progressbar, lazy_output
            As in ``BaseSignal.map``.

        Returns
        -------
        hyperspy.signals.Signal2D
            Spatial axes as signal axes, series axes as navigation; NaN where
            there is no Pb signal; ``metadata.Signal.Noise_properties.variance``.

        Examples
        --------
        >>> from hyperspy_perovskite.data.device_simulation import simulate_device_eds
        >>> s, truth = simulate_device_eds(shape=(8, 16), n_channels=1024)
        >>> r = s.get_halide_ratio_map(truth["k_factors"], ["I_La", "Br_Ka"])
        >>> r.axes_manager.signal_shape
        (16, 8)
        """
        del show_progressbar
        lazy = _lazy_flag(self, lazy_output)
        self._spatial_axes()
        lines, r, v, _, _ = self._ratio_arrays(
            kfactors, halide_lines, pb_line, background, self
        )
        return self._wrap_maps(r, v, "X/Pb ratio", "Halide/Pb (atomic)", lazy, lines)

    def get_halide_ratio_profile(
        self,
        kfactors,
        halide_lines=None,
        pb_line="Pb_La",
        width=None,
        bin_size=None,
        reference=None,
        background=True,
        show_progressbar=None,
        lazy_output=None,
    ):
        """Halide-to-Pb ratio profile across the stack, with variance.

        Same as :meth:`get_halide_ratio_map` on the band summed into a line
        scan (:meth:`get_stack_linescan`), computed in one streaming pass
        over the window channels only (as :meth:`get_element_profiles`).
        Returns a Signal1D over the distance (nm) from the reference
        interface.

        Examples
        --------
        >>> from hyperspy_perovskite.data.device_simulation import simulate_device_eds
        >>> s, truth = simulate_device_eds(shape=(8, 16), n_channels=1024)
        >>> p = s.get_halide_ratio_profile(truth["k_factors"], ["I_La", "Br_Ka"])
        >>> p.axes_manager.signal_axes[0].units
        'nm'
        """
        del show_progressbar
        lazy = _lazy_flag(self, lazy_output)
        lines = self._halide_lines(halide_lines, pb_line)
        k_at = _atomic_k(lines, self._k_list(kfactors, lines))
        # one streaming pass over the band (see get_element_profiles)
        inten, var, _, header = self._band_line_sums(
            lines, width, bin_size, reference, background, 2.0
        )
        n = len(lines)
        r, v = xl.halide_ratio(
            [inten[..., i] for i in range(n)],
            [var[..., i] for i in range(n)],
            k_at[:-1],
            k_at[-1],
        )
        if lazy:
            r = da.from_array(r, chunks=r.shape)
            v = da.from_array(v, chunks=v.shape)
        prof = _wrap_profiles(
            *header, ["X/Pb"], r[..., None], v[..., None], "Halide/Pb (atomic)"
        )[0]
        prof.metadata.General.title = "X/Pb ratio profile"
        prof.metadata.Sample.xray_lines = lines
        prof.metadata.Sample.elements = sorted({ln.split("_")[0] for ln in lines})
        return prof

    def get_nonstoichiometry_mask(
        self,
        kfactors,
        halide_lines=None,
        pb_line="Pb_La",
        nominal=3.0,
        tolerance=0.1,
        n_sigma=2.0,
        background=True,
        show_progressbar=None,
        lazy_output=None,
    ):
        """Map of significant departures of ``X/Pb`` from ``nominal``.

        ``-1`` halide-poor (Pb-rich), ``+1`` halide-rich, ``0`` stoichiometric
        or no Pb (see
        :func:`~hyperspy_perovskite.analysis.xray_lines.nonstoichiometry_mask`).

        Examples
        --------
        >>> from hyperspy_perovskite.data.device_simulation import simulate_device_eds
        >>> s, truth = simulate_device_eds(shape=(8, 16), n_channels=1024)
        >>> m = s.get_nonstoichiometry_mask(truth["k_factors"], ["I_La", "Br_Ka"])
        >>> str(m.data.dtype)
        'int8'
        """
        r = self.get_halide_ratio_map(
            kfactors, halide_lines, pb_line, background, show_progressbar, lazy_output
        )
        var = r.metadata.Signal.Noise_properties.variance
        mask = xl.nonstoichiometry_mask(r.data, var.data, nominal, tolerance, n_sigma)
        out = r._deepcopy_with_new_data(mask)
        if out.metadata.has_item("Signal.Noise_properties"):
            del out.metadata.Signal.Noise_properties
        out.metadata.General.title = "Non-stoichiometry (-1 Pb-rich, +1 halide-rich)"
        out.metadata.Signal.quantity = "flag"
        out.metadata.set_item(
            "Device.Stoichiometry",
            {
                "nominal": float(nominal),
                "tolerance": float(tolerance),
                "n_sigma": float(n_sigma),
            },
        )
        return out

    # -------------------------------------------------------------- clusters
    def find_pb_clusters(
        self,
        kfactors,
        halide_lines=None,
        pb_line="Pb_La",
        nominal=3.0,
        tolerance=0.3,
        n_sigma=2.0,
        min_size=8,
        haadf=None,
        layers=None,
        background=True,
        show_progressbar=None,
    ):
        """Detect Pb-rich clusters in the ``X/Pb`` ratio map(s).

        Connected pixels whose ratio lies significantly below ``nominal``
        (:func:`~hyperspy_perovskite.analysis.clusters.label_pb_rich`); for
        each: size, position, mean ratio, distance to the nearest interface
        of the device geometry, and HAADF contrast when an image is given.
        For a series (pristine / biased / frames), each map is analysed.

        Parameters
        ----------
        kfactors, halide_lines, pb_line, background
            See :meth:`get_halide_ratio_map`.
        nominal, tolerance, n_sigma, min_size
            See :func:`~hyperspy_perovskite.analysis.clusters.label_pb_rich`;
            the default flags ``X/Pb < 2.1`` (PbX2 has 2, CsPb2X5 2.5, metallic
            Pb 0) in groups of at least 8 pixels.
        haadf : hyperspy.signals.Signal2D, optional
            HAADF image(s) of the same area (same spatial shape, optionally
            the same series shape).
        layers : sequence of str, optional
            Search only these layers of the device geometry (default: the
            layers whose name contains "perovskite", else the whole map).
            Pixels without significant Pb signal are never searched (L lines
            of Au overlap those of Pb in the contacts).
        show_progressbar : bool, optional
            Unused (kept for API symmetry).

        Returns
        -------
        dict
            ``labels`` (Signal2D of int32 labels, series as navigation),
            ``count`` (numpy array, one per map), ``clusters`` (list per map
            of lists of dicts, see
            :func:`~hyperspy_perovskite.analysis.clusters.cluster_properties`),
            ``labels_of_series`` (the series labels if any).

        Examples
        --------
        >>> from hyperspy_perovskite.data.device_simulation import simulate_device_eds
        >>> s, truth = simulate_device_eds(shape=(16, 32), pixel_size=16.0)
        >>> res = s.find_pb_clusters(truth["k_factors"], ["I_La", "Br_Ka"])
        >>> int(res["count"][0]) == len(truth["clusters"][0])
        True
        """
        from hyperspy_perovskite.analysis import clusters as cl

        del show_progressbar
        self._spatial_axes()
        lines, r, var, pb, pbvar = self._ratio_arrays(
            kfactors, halide_lines, pb_line, background, self
        )
        # one pass over a lazy map for the four arrays (shared graph)
        r, var, pb, pbvar = (
            np.asarray(a, dtype=float) for a in da.compute(r, var, pb, pbvar)
        )
        # only where Pb is significantly present ...
        with np.errstate(invalid="ignore"):
            r = np.where(pb > n_sigma * np.sqrt(np.abs(pbvar)), r, np.nan)
        xx, yy, _, _ = self._pixel_grid_nm()
        try:
            geom = self.get_device_geometry()
            start, end = geom["start"], geom["end"]
            interfaces = geom["interface_positions"]
        except ValueError:
            geom = None
            start = end = None
            interfaces = []
        # ... and inside the chosen layers
        if layers is None and geom is not None:
            layers = [n for n in geom["layers"] if "perovskite" in n.lower()] or None
        if layers is not None:
            if geom is None or not geom["layers"]:
                raise ValueError(
                    "layers= needs a device geometry with layer names "
                    "(s.set_device_geometry(..., layers=[...]))."
                )
            unknown = [n for n in layers if n not in geom["layers"]]
            if unknown:
                raise ValueError(f"Unknown layers {unknown}; have {geom['layers']}.")
            s_pix, _ = geo.stack_coordinates(xx, yy, start, end)
            edges = [-np.inf] + list(interfaces) + [np.inf]
            inside = np.zeros(xx.shape, dtype=bool)
            for n in layers:
                i = geom["layers"].index(n)
                inside |= (s_pix >= edges[i]) & (s_pix < edges[i + 1])
            r = np.where(inside, r, np.nan)
        lead = r.shape[:-2]
        r2 = r.reshape((-1,) + r.shape[-2:])
        v2 = var.reshape(r2.shape)
        h2 = None
        if haadf is not None:
            h = np.asarray(haadf.data, dtype=float)
            if h.shape[-2:] != r.shape[-2:]:
                raise ValueError(
                    f"The HAADF image shape {h.shape[-2:]} differs from the map "
                    f"{r.shape[-2:]}."
                )
            h2 = np.broadcast_to(h.reshape((-1,) + h.shape[-2:]), r2.shape)
        labels = np.zeros(r2.shape, dtype=np.int32)
        counts, props = [], []
        for i in range(r2.shape[0]):
            lab, n = cl.label_pb_rich(
                r2[i], v2[i], nominal, tolerance, n_sigma, min_size
            )
            labels[i] = lab
            counts.append(n)
            props.append(
                cl.cluster_properties(
                    lab,
                    r2[i],
                    xx,
                    yy,
                    start,
                    end,
                    interfaces,
                    None if h2 is None else h2[i],
                )
            )
        lab_sig = self._wrap_maps(
            labels.reshape(r.shape),
            np.zeros(r.shape),
            "Pb-rich clusters (labels)",
            "label",
            False,
            lines,
        )
        del lab_sig.metadata.Signal.Noise_properties
        return {
            "labels": lab_sig,
            "count": np.asarray(counts).reshape(lead) if lead else np.asarray(counts),
            "clusters": props,
            "labels_of_series": self.metadata.get_item("Device.Series.labels", None),
        }

    def _wrap_maps(self, values, variances, title, quantity, lazy, lines=None):
        """Wrap (..., ny, nx) arrays as Signal2D with the spatial axes."""
        nav = self.axes_manager.navigation_axes
        axes = [a.get_axis_dictionary() for a in nav[:1:-1]]
        for a in axes:
            a["navigate"] = True
        for a in (nav[1], nav[0]):
            d = a.get_axis_dictionary()
            d["navigate"] = False
            axes.append(d)
        md = {"General": {"title": title}, "Signal": {"quantity": quantity}}
        for node in ("Device", "Stimulus", "Acquisition_instrument"):
            if self.metadata.has_item(node):
                md[node] = self.metadata.get_item(node).as_dictionary()
        if lines is not None:
            md["Sample"] = {"xray_lines": list(lines)}
        if lazy and not isinstance(values, da.Array):
            values = da.from_array(values, chunks=values.shape)
            variances = da.from_array(variances, chunks=variances.shape)
        elif not lazy and isinstance(values, da.Array):
            values, variances = da.compute(values, variances)
        out = Signal2D(values, axes=axes, metadata=md)
        var = Signal2D(variances, axes=copy.deepcopy(axes))
        if lazy:
            out, var = out.as_lazy(), var.as_lazy()
        out.metadata.set_item("Signal.Noise_properties.variance", var)
        return out


class LazyEDSTEMBiasedSpectrum(LazySignal, EDSTEMBiasedSpectrum):
    """Lazy EDX spectrum image of a device cross-section under bias."""

    _lazy = True


_PROFILE_NODES = ("Device", "Stimulus", "Acquisition_instrument")


def _linescan_header(sig, drop_energy=True):
    """``(axes, metadata)`` for :func:`_wrap_profiles` from a line scan or profile.

    The axes are the series axes and the distance axis, in array order (the
    energy axis of a line scan is dropped); the metadata holds the nodes
    profiles keep.
    """
    axes = [a.get_axis_dictionary() for a in sig.axes_manager._axes]
    if drop_energy:
        axes = axes[:-1]
    md = {
        node: sig.metadata.get_item(node).as_dictionary()
        for node in _PROFILE_NODES
        if sig.metadata.has_item(node)
    }
    return axes, md


def _wrap_profiles(axes, metadata, names, values, variances, quantity):
    """Wrap ``(..., nbins, n)`` arrays as one Signal1D profile per name.

    ``axes`` are the axis dictionaries in array order (series axes, then the
    distance) and ``metadata`` a metadata dictionary: the distance becomes
    the signal axis, the series axes navigate, and the ``Device``,
    ``Stimulus`` and ``Acquisition_instrument`` nodes are kept.
    """
    out = []
    for k, name in enumerate(names):
        d = values[..., k]
        v = variances[..., k]
        prof_axes = [dict(a, navigate=True) for a in copy.deepcopy(axes[:-1])]
        prof_axes.append(dict(copy.deepcopy(axes[-1]), navigate=False))
        md = {
            "General": {"title": f"{name} profile"},
            "Signal": {"quantity": quantity},
            "Sample": {"xray_lines": [name], "elements": [name.split("_")[0]]},
        }
        for node in _PROFILE_NODES:
            if node in metadata:
                md[node] = copy.deepcopy(metadata[node])
        prof = Signal1D(d, axes=prof_axes, metadata=md)
        var = Signal1D(v, axes=copy.deepcopy(prof_axes))
        if isinstance(d, da.Array):
            prof = prof.as_lazy()
            var = var.as_lazy()
        prof.metadata.set_item("Signal.Noise_properties.variance", var)
        out.append(prof)
    return out


def _eager(a):
    """A numpy array from a numpy or dask array."""
    return np.asarray(a.compute() if isinstance(a, da.Array) else a, dtype=float)


def _profile_lines(profiles, xray_lines):
    """Validate element profiles passed for quantification; their lines."""
    if not isinstance(profiles, (list, tuple)) or not all(
        isinstance(p, Signal1D) for p in profiles
    ):
        raise TypeError(
            "profiles must be the list of Signal1D returned by "
            "get_element_profiles(...)."
        )
    lines = []
    for p in profiles:
        xr = p.metadata.get_item("Sample.xray_lines", [])
        if (
            len(xr) != 1
            or p.metadata.get_item("Signal.quantity") != "X-ray counts"
            or not p.metadata.has_item("Signal.Noise_properties.variance")
        ):
            raise ValueError(
                "Each profile must be an X-ray line intensity profile with its "
                "variance, as returned by get_element_profiles(...) (one line "
                "in metadata.Sample.xray_lines)."
            )
        lines.append(xr[0])
    if len(lines) < 2:
        raise ValueError("Cliff-Lorimer quantification needs at least two lines.")
    if len({p.data.shape for p in profiles}) != 1:
        raise ValueError("The profiles do not share one shape (same band and bins).")
    if xray_lines is not None:
        given = [xray_lines] if isinstance(xray_lines, str) else list(xray_lines)
        if given != lines:
            raise ValueError(
                f"xray_lines {given} differ from the lines of the profiles {lines}."
            )
    return lines


def _atomic_k(lines, k):
    """exSpy k-factors (weight fractions) -> atomic-fraction factors k / A."""
    return [
        kk / elements_db[ln.split("_")[0]].General_properties.atomic_weight
        for ln, kk in zip(lines, k, strict=False)
    ]


def _parse_interfaces(interfaces, layers):
    if interfaces is None:
        names, pos = [], []
    elif isinstance(interfaces, dict):
        names = [str(k) for k in interfaces]
        pos = [float(v) for v in interfaces.values()]
    else:
        pos = [float(v) for v in interfaces]
        names = None
    if layers is not None:
        layers = [str(v) for v in layers]
        if len(layers) != len(pos) + 1:
            raise ValueError(
                f"{len(pos)} interfaces need {len(pos) + 1} layer names (from "
                f"start to end), got {len(layers)}."
            )
        if names is None:
            names = [f"{a}/{b}" for a, b in zip(layers[:-1], layers[1:], strict=False)]
    if names is None:
        names = [f"interface_{i}" for i in range(len(pos))]
    if len(set(names)) != len(names):
        raise ValueError(f"Interface names must be unique, got {names}.")
    if any(np.diff(pos) <= 0):
        raise ValueError(
            "Interfaces must be given in increasing order along the stack."
        )
    return names, pos


def _store_geometry(md, p0, p1, width, layers, names, pos, method):
    md.set_item(
        _GEOM,
        {
            "start": [float(v) for v in p0],
            "end": [float(v) for v in p1],
            "position_units": "nm",
            "width": None if width is None else float(width),
            "layers": [] if layers is None else [str(v) for v in layers],
            "interface_names": list(names),
            "interface_positions": [float(v) for v in pos],
            "method": method,
        },
    )


def stack_bias_series(signals, times, time_units="s", labels=None):
    """Stack maps of the same area into one series with a time axis.

    Parameters
    ----------
    signals : sequence of EDSTEMBiasedSpectrum
        Maps (pristine, biased, recovered, or operando frames) with the same
        spatial and energy calibration.
    times : sequence of float
        Time of each map (e.g. seconds of bias); must increase.
    time_units : str
        Units of ``times``.
    labels : sequence of str, optional
        State names stored in ``metadata.Device.Series.labels``.

    Returns
    -------
    EDSTEMBiasedSpectrum
        Navigation ``(x, y, time)``; metadata (bias condition, geometry) of
        the first map. Lazy if any input is lazy. Inputs are not modified.

    Raises
    ------
    ValueError
        If the maps do not share a calibration (shape, scale, offset, units)
        or the times are not increasing or do not match the maps.
    """
    signals = list(signals)
    if len(signals) < 2:
        raise ValueError("A series needs at least two maps.")
    times = np.asarray(times, dtype=float)
    if times.shape != (len(signals),):
        raise ValueError(f"Give one time per map ({len(signals)}), got {times.size}.")
    if np.any(np.diff(times) <= 0):
        raise ValueError("times must be strictly increasing.")
    ref = signals[0]
    for i, s in enumerate(signals):
        if not isinstance(s, EDSTEMSpectrum):
            raise TypeError(f"Map {i} is a {type(s).__name__}, not an EDS spectrum.")
        if s.axes_manager.navigation_dimension != 2:
            raise ValueError(f"Map {i} is not a 2D map (navigation dimension 2).")
        for a, b in zip(ref.axes_manager._axes, s.axes_manager._axes, strict=False):
            same = a.size == b.size and a.units == b.units
            if same and a.is_uniform and b.is_uniform:
                same = np.isclose(a.scale, b.scale, rtol=1e-6) and np.isclose(
                    a.offset, b.offset, rtol=1e-6, atol=1e-9 * max(1.0, abs(a.scale))
                )
            if not same:
                raise ValueError(
                    f"Map {i} does not share the calibration of map 0 on axis "
                    f"{a.name!r} (size/scale/offset/units {a.size}/{a.scale}/"
                    f"{a.offset}/{a.units} vs {b.size}/{b.scale}/{b.offset}/"
                    f"{b.units}): recalibrate or rebin to a common one first."
                )
    lazy = any(s._lazy for s in signals)
    if lazy:
        data = da.stack([da.asarray(s.data) for s in signals])
    else:
        data = np.stack([s.data for s in signals])
    axes = [a.get_axis_dictionary() for a in ref.axes_manager._axes]
    nav = [a for a in axes if a["navigate"]]
    sig = [a for a in axes if not a["navigate"]]
    time_ax = {"name": "Time", "units": time_units, "navigate": True}
    if times.size > 1 and np.allclose(np.diff(times), times[1] - times[0]):
        time_ax.update(
            scale=float(times[1] - times[0]), offset=float(times[0]), size=times.size
        )
    else:
        time_ax["axis"] = times
    # axes_manager._axes is in array order (y, x, E): prepend the time axis
    arr_axes = [time_ax] + nav + sig
    md = ref.metadata.deepcopy().as_dictionary()
    out = EDSTEMBiasedSpectrum(data, axes=arr_axes, metadata=md)
    if lazy:
        out = out.as_lazy()
    if labels is not None:
        labels = [str(v) for v in labels]
        if len(labels) != len(signals):
            raise ValueError("Give one label per map.")
        out.metadata.set_item("Device.Series.labels", labels)
    out.metadata.set_item("Device.Series.times", times.tolist())
    out.metadata.set_item("Device.Series.times_units", time_units)
    return out
