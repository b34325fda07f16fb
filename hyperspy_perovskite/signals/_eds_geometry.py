"""Device geometry and the stack line scan of ``EDS_TEM_biased`` maps.

A mixin of :class:`~hyperspy_perovskite.signals.eds_biased.EDSTEMBiasedSpectrum`:
the stack direction, the interfaces (read and written ONLY through
:class:`hyperspy_perovskite.metadata.DeviceGeometry`, ``metadata.Device.Geometry``)
and the binning of a band of the map along the stack. The array work is in
:mod:`hyperspy_perovskite.analysis.device_geometry`.
"""

from __future__ import annotations

import warnings

import dask.array as da
import numpy as np
from hyperspy.misc.utils import DictionaryTreeBrowser

from hyperspy_perovskite.analysis import device_geometry as geo
from hyperspy_perovskite.analysis import xray_lines as xl
from hyperspy_perovskite.analysis.eds.maps import band_profiles, image_noise_variance
from hyperspy_perovskite.analysis.interface_fit import fit_interface_steps
from hyperspy_perovskite.metadata import DeviceGeometry
from hyperspy_perovskite.signals._base import (
    OPTIONS_PARAMETERS,
    compute,
    resolve_options,
)
from hyperspy_perovskite.units import axis_factor, parse_quantity
from hyperspy_perovskite.validity import Validity

__all__ = ["GeometryMixin", "GeometryWarning", "PROFILE_NODES", "options_doc"]

#: metadata nodes a profile or line scan keeps from its map
PROFILE_NODES = ("Device", "Stimulus", "Acquisition_instrument")

#: below this confidence :meth:`GeometryMixin.find_device_geometry` warns
MIN_CONFIDENCE = 0.5


class GeometryWarning(UserWarning):
    """An automatically found device geometry is uncertain."""


def options_doc(*names):
    """Fill ``%(options)s`` in a docstring with HyperSpy's text of the common
    options (``show_progressbar``, ``lazy_output``, ``num_workers`` by
    default), indented like the placeholder."""
    names = names or ("show_progressbar", "lazy_output", "num_workers")

    def decorate(func):
        doc = func.__doc__
        line = next(ln for ln in doc.splitlines() if "%(options)s" in ln)
        pad = "\n" + line[: len(line) - len(line.lstrip())]
        text = pad.join(OPTIONS_PARAMETERS[n].replace("\n", pad) for n in names)
        func.__doc__ = doc.replace("%(options)s", text)
        return func

    return decorate


def _length(value, name, default_unit="nm"):
    """A length in nm from a number (``default_unit``), a string or a quantity."""
    if value is None:
        return None
    return parse_quantity(value, "nm", name=name, default_unit=default_unit)


class GeometryMixin:
    """Stack direction, interfaces and the band line scan (see module)."""

    # ------------------------------------------------------------- the map
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

    def _nm_factors(self):
        ax_x, ax_y = self._spatial_axes()
        return (
            axis_factor(ax_x, "nm", name="a spatial axis (x)"),
            axis_factor(ax_y, "nm", name="a spatial axis (y)"),
        )

    def _pixel_grid_nm(self):
        ax_x, ax_y = self._spatial_axes()
        fx, fy = self._nm_factors()
        yy, xx = np.meshgrid(ax_y.axis * fy, ax_x.axis * fx, indexing="ij")
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
                    "Give points in the calibrated units of the navigation axes "
                    "(or as strings with a unit, e.g. '250 nm')."
                )

    # ------------------------------------------------------------ geometry
    def set_device_geometry(
        self, start=None, end=None, roi=None, interfaces=None, layers=None, width=None
    ):
        """Set the stack direction and the layer interfaces by hand.

        Annotates ``metadata.Device.Geometry`` in place (like exSpy's
        ``set_microscope_parameters``); the data are not touched.

        Parameters
        ----------
        start, end : sequence of 2 float or str, optional
            ``(x, y)`` points; plain numbers are in the calibrated units of
            the navigation axes (as HyperSpy ROIs), strings carry their unit
            (``("0 nm", "0.2 um")``). The stack runs from ``start`` to ``end``.
        roi : hyperspy.roi.Line2DROI, optional
            Instead of ``start``/``end``: a line ROI (its ``linewidth``, if
            non-zero, becomes the default band width).
        interfaces : dict or sequence of float or str, optional
            ``{name: position}`` or positions, distances from ``start`` along
            the line (numbers in the x-axis unit, or strings such as
            ``"280 nm"``).
        layers : sequence of str, optional
            Layer names from start to end (one more than the interfaces);
            interface names become ``"A/B"``.
        width : float or str, optional
            Default band width (number in the x-axis unit, or ``"64 nm"``).

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
        >>> s.set_device_geometry((0, 5), (19, 5), interfaces=[6.0, "12 nm"],
        ...                       layers=["ITO", "perovskite", "Au"])
        >>> s.get_device_geometry().interface_names
        ['ITO/perovskite', 'perovskite/Au']
        """
        ax_x, ax_y = self._spatial_axes()
        ux, uy = str(ax_x.units), str(ax_y.units)
        self._nm_factors()  # refuses uncalibrated axes with a clear message
        method = "manual"
        if roi is not None:
            if start is not None or end is not None:
                raise ValueError("Give either start/end or roi, not both.")
            if not all(
                np.isfinite(getattr(roi, a, np.nan)) for a in "x1 y1 x2 y2".split()
            ):
                raise ValueError("The line ROI is not fully defined (x1, y1, x2, y2).")
            start, end = (roi.x1, roi.y1), (roi.x2, roi.y2)
            if width is None and getattr(roi, "linewidth", 0):
                width = roi.linewidth
            method = "roi"
        if start is None or end is None:
            raise ValueError(
                "Give the stack direction as two points (start, end) or a "
                "Line2DROI (roi=), or use find_device_geometry()."
            )
        p0 = [_length(start[0], "start[0]", ux), _length(start[1], "start[1]", uy)]
        p1 = [_length(end[0], "end[0]", ux), _length(end[1], "end[1]", uy)]
        self._check_points_inside((p0, p1))
        if not np.hypot(p1[0] - p0[0], p1[1] - p0[1]) > 0:
            raise ValueError("start and end coincide: give two distinct points.")
        names, pos = _parse_interfaces(interfaces, layers, ux)
        length = float(np.hypot(p1[0] - p0[0], p1[1] - p0[1]))
        for n, p in zip(names, pos, strict=True):
            if not (0 <= p <= length):
                raise ValueError(
                    f"Interface {n!r} at {p:.4g} nm lies outside the stack line "
                    f"(0..{length:.4g} nm from start)."
                )
        DeviceGeometry(
            p0,
            p1,
            pos,
            names,
            list(layers or []),
            _length(width, "width", ux),
            method,
        ).to_metadata(self.metadata)

    def get_device_geometry(self):
        """The device geometry of ``metadata.Device.Geometry``.

        Returns
        -------
        hyperspy_perovskite.metadata.DeviceGeometry
            Positions in nm.

        Raises
        ------
        ValueError
            If no geometry is set (the message says how to set one).
        """
        return DeviceGeometry.from_metadata(self.metadata)

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
        n_sigma=5.0,
    ):
        """Find the stack direction and the interfaces automatically.

        The direction is the one along which the band profiles of the element
        maps (or of the HAADF image) vary most against their noise: the
        structure tensor gives a first guess, refined by maximising the
        noise-normalised profile contrast over angles
        (:func:`~hyperspy_perovskite.analysis.device_geometry.refine_stack_direction`).
        The interfaces are the largest significant steps of the profiles
        along it, never the line ends
        (:func:`~hyperspy_perovskite.analysis.device_geometry.find_interfaces`).
        Only ``metadata.Device.Geometry`` is written, with ``method =
        "automatic"`` and a ``confidence`` between 0 and 1: the fraction of
        the profile contrast that is layered (across minus along the layers,
        over across) times the fraction of the requested interfaces whose
        step exceeds ``n_sigma`` standard deviations.

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
        width, bin_size : float or str, optional
            Band width and bin size (number in nm, or ``"20 nm"``; default:
            whole map, the larger pixel size).
        smooth : float
            Smoothing (bins) of the profiles before differentiation.
        n_sigma : float
            Significance an interface step must reach.

        Returns
        -------
        hyperspy_perovskite.metadata.DeviceGeometry
            With ``confidence``.

        Raises
        ------
        ValueError
            When the maps show no layering (profile contrast across the
            layers not above the noise), or fewer steps than asked for.

        Warns
        -----
        GeometryWarning
            When the confidence is below 0.5: check the geometry, or set it
            by hand.
        """
        xx, yy, sx, sy = self._pixel_grid_nm()
        maps, noise, method = self._geometry_maps(xray_lines, haadf, xx.shape)
        if direction is None:
            u = geo.refine_stack_direction(maps, xx, yy, noise)
        else:
            u = np.asarray(direction, dtype=float)
            if u.shape != (2,) or not np.hypot(*u) > 0:
                raise ValueError("direction must be a non-zero (ux, uy) pair.")
            u = u / np.hypot(*u)
        layered = geo.layering_contrast(maps, xx, yy, u, noise)
        if not layered > 0:
            raise ValueError(
                "The maps show no layering: their profiles along the stack "
                "direction vary no more than across it or than the noise. Set "
                "the geometry by hand (s.set_device_geometry) or use other "
                "elements or the HAADF image."
            )
        p0, p1 = geo.line_across_map(u, xx, yy)
        width = _length(width, "width")
        bin_size = max(sx, sy) if bin_size is None else _length(bin_size, "bin_size")
        index, centres, npix = geo.band_bin_index(xx, yy, p0, p1, width, bin_size)
        prof, pvar = band_profiles(maps, noise, index, npix)
        pos, z = geo.find_interfaces(
            prof,
            centres,
            n_interfaces,
            smooth=smooth,
            variance=pvar,
            return_significance=True,
        )
        if layers is not None and len(layers) != n_interfaces + 1:
            raise ValueError(
                f"{n_interfaces} interfaces need {n_interfaces + 1} layer names, "
                f"got {len(layers)}."
            )
        s_pix = geo.stack_coordinates(xx, yy, p0, p1)[0]
        line = float(np.hypot(*np.subtract(p1, p0)))
        fit = fit_interface_steps(
            prof, pvar, s_pix, index, centres, bin_size, pos, line, z, n_sigma
        )
        confidence = float(layered * np.mean(fit["valid"]))
        g = DeviceGeometry(
            p0,
            p1,
            list(fit["position"]),
            None,
            list(layers or []),
            width,
            "automatic",
            confidence,
            interface_std=list(fit["std"]),
            interface_width=list(fit["width"]),
            interface_valid=list(fit["valid"]),
        )
        g.to_metadata(self.metadata)
        _store_interface_fit(self.metadata, z, fit, method)
        _warn_geometry(g, layered, z, n_sigma, fit)
        return g

    def _geometry_maps(self, xray_lines, haadf, shape):
        """``(maps, variances, source)`` for the automatic geometry."""
        if haadf is not None:
            img = np.asarray(haadf.data, dtype=float)
            if img.shape != shape:
                raise ValueError(
                    f"The HAADF image shape {img.shape} differs from the map {shape}."
                )
            noise = image_noise_variance(img)  # pixel-to-pixel scatter (MAD)
            return img[None], np.full((1,) + shape, max(noise, 1e-30)), "haadf"
        lines = self._lines_in_range(xray_lines)
        w = self._weights(lines, False)
        inten = xl.line_intensities(self.data, w)[0]
        lead = tuple(range(inten.ndim - 3))
        if lead:
            inten = inten.sum(axis=lead)
        inten = np.asarray(compute(inten, resolve_options(self, lazy_output=False)))
        maps = np.moveaxis(inten, -1, 0)
        return maps, np.maximum(maps, 1.0), "elements"

    def _reference_position(self, geom, reference):
        if reference is None:
            if geom.interface_names:
                return geom.interface_names[0], geom.interface_positions[0]
            return "start", 0.0
        if reference == "start":
            return "start", 0.0
        if reference not in geom.interface_names:
            raise ValueError(
                f"Unknown interface {reference!r}; the geometry has "
                f"{geom.interface_names or 'no interfaces'} (or use 'start')."
            )
        return reference, geom.interface(reference)

    # ---------------------------------------------------------- line scan
    @options_doc()
    def get_stack_linescan(
        self,
        width=None,
        bin_size=None,
        reference=None,
        show_progressbar=None,
        lazy_output=None,
        num_workers=None,
    ):
        """Sum the spectra in bins along the stack: a line scan across it.

        Pixels within ``width / 2`` of the stack line are binned by their
        distance along it and their spectra summed (one pass over the data,
        chunk by chunk). The result is an ``EDS_TEM_biased`` line scan whose
        first navigation axis is the distance in nm from the reference
        interface (series axes follow), so exSpy's ``get_lines_intensity`` and
        ``quantification`` apply to it directly. Its counts are sums of raw
        counts, hence Poisson; a variance set on the map is summed alike.

        Parameters
        ----------
        width : float or str, optional
            Band width (number in nm, or ``"64 nm"``; default: the
            geometry's, else the whole map).
        bin_size : float or str, optional
            Bin size (number in nm; default: the larger pixel size).
        reference : str, optional
            Interface name the distances are measured from (default: the
            first interface), or ``"start"``.
        %(options)s

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
        opts = resolve_options(
            self,
            lazy_output=lazy_output,
            show_progressbar=show_progressbar,
            num_workers=num_workers,
        )
        index, centres, _, axes, md = self._band_setup(width, bin_size, reference)
        out = compute(geo.project_to_stack(self.data, index, centres.size), opts)
        var = self._map_variance()
        if var is not None:
            var = compute(geo.project_to_stack(var, index, centres.size), opts)
        from hyperspy_perovskite.signals.eds_biased import EDSTEMBiasedSpectrum

        res = EDSTEMBiasedSpectrum(out, axes=axes, metadata=md)
        if isinstance(out, da.Array):
            res = res.as_lazy()
        if var is not None:
            res.metadata.set_item(
                "Signal.Noise_properties.variance", res._deepcopy_with_new_data(var)
            )
        return res

    def _map_variance(self):
        """The variance array set on the map (None when Poisson applies)."""
        v = self.metadata.get_item("Signal.Noise_properties.variance", None)
        if v is None:
            return None
        data = v.data if hasattr(v, "data") else v
        if np.ndim(data) == 0:
            return np.broadcast_to(np.asarray(data, float), self.data.shape)
        if tuple(np.shape(data)) != tuple(self.data.shape):
            raise ValueError(
                f"The variance set on the map has shape {np.shape(data)}, not the "
                f"data's {self.data.shape}: set a variance of the data's shape "
                "(s.estimate_poissonian_noise_variance()) or remove it."
            )
        return data

    def _band_setup(self, width, bin_size, reference, full_metadata=True):
        """Bin index, line-scan axes and metadata of a band (no data read).

        Returns ``index, centres, pixels_per_bin, axes, metadata``: the axes
        (array order: series axes, distance, energy) and the metadata
        (with ``Device.Profile``) of the stack line scan; only the nodes that
        profiles keep unless ``full_metadata``.
        """
        geom = self.get_device_geometry()
        xx, yy, sx, sy = self._pixel_grid_nm()
        width = geom.width if width is None else _length(width, "width")
        bin_size = max(sx, sy) if bin_size is None else _length(bin_size, "bin_size")
        index, centres, npix = geo.band_bin_index(
            xx, yy, geom.start, geom.end, width, bin_size
        )
        ref_name, ref_pos = self._reference_position(geom, reference)
        nav = self.axes_manager.navigation_axes
        axes = [ax.get_axis_dictionary() for ax in nav[:1:-1]]
        axes.append(
            {
                "name": f"Distance from {ref_name}",
                "units": "nm",
                "scale": bin_size,
                "offset": float(centres[0] - ref_pos),
                "size": centres.size,
            }
        )
        for a in axes:
            a["navigate"] = True
        energy = self.axes_manager.signal_axes[0].get_axis_dictionary()
        energy["navigate"] = False
        axes.append(energy)
        if full_metadata:
            md = self.metadata.deepcopy()
            if md.has_item("Signal.Noise_properties.variance"):
                del md.Signal.Noise_properties.variance
        else:
            md = DictionaryTreeBrowser(
                {
                    node: self.metadata.get_item(node).as_dictionary()
                    for node in PROFILE_NODES
                    if self.metadata.has_item(node)
                }
            )
        md.set_item(
            "General.title", f"Stack line scan of {self.metadata.General.title}"
        )
        profile = {
            "width_units": "nm",
            "bin_size": float(bin_size),
            "reference": ref_name,
            "pixels_per_bin": npix.tolist(),
        }
        if width is not None:  # absent: the whole map
            profile["width"] = float(width)
        md.set_item("Device.Profile", profile)
        return index, centres, npix, axes, md.as_dictionary()


def _parse_interfaces(interfaces, layers, units):
    """Names and positions (nm) of interfaces given by hand."""
    if interfaces is None:
        names, pos = [], []
    elif isinstance(interfaces, dict):
        names = [str(k) for k in interfaces]
        pos = list(interfaces.values())
    else:
        pos = list(interfaces)
        names = None
    pos = [_length(p, "interfaces", units) for p in pos]
    if layers is not None:
        layers = [str(v) for v in layers]
        if len(layers) != len(pos) + 1:
            raise ValueError(
                f"{len(pos)} interfaces need {len(pos) + 1} layer names (from "
                f"start to end), got {len(layers)}."
            )
        if names is None:
            names = [f"{a}/{b}" for a, b in zip(layers[:-1], layers[1:], strict=True)]
    if names is None:
        names = [f"interface_{i}" for i in range(len(pos))]
    if len(set(names)) != len(names):
        raise ValueError(f"Interface names must be unique, got {names}.")
    if any(np.diff(pos) <= 0):
        raise ValueError(
            "Interfaces must be given in increasing order along the stack."
        )
    return names, pos


def _store_interface_fit(metadata, z, fit, source):
    """The per-interface detail of an automatic geometry (Device.Geometry)."""
    node = "Device.Geometry."
    metadata.set_item(node + "interface_significance", [float(v) for v in z])
    metadata.set_item(
        node + "interface_width_std", [float(v) for v in fit["width_std"]]
    )
    metadata.set_item(
        node + "interface_reduced_chisq", [float(v) for v in fit["reduced_chisq"]]
    )
    metadata.set_item(node + "interface_reasons", [int(v) for v in fit["reasons"]])
    metadata.set_item(node + "interface_reason_names", list(fit["reason_names"]))
    metadata.set_item(node + "resolution", [float(v) for v in fit["resolution"]])
    metadata.set_item(node + "source", source)


def _warn_geometry(g, layered, z, n_sigma, fit):
    """GeometryWarning for an invalid interface or a low confidence."""
    validity = Validity(fit["valid"], fit["reasons"], fit["reason_names"])
    bad = []
    for k, name in enumerate(g.interface_names):
        why = validity.explain(k)
        if why:
            bad.append(f"{name} ({', '.join(why)})")
    if not bad and g.confidence >= MIN_CONFIDENCE:
        return
    res = np.round(fit["resolution"], 1).tolist()
    warnings.warn(
        f"Automatic device geometry of low confidence ({g.confidence:.2f}; "
        f"layered contrast {layered:.2f}, interface steps of "
        f"{np.round(z, 1).tolist()} sigma for >= {n_sigma:g}). "
        + (
            f"Not valid: {'; '.join(bad)}; resolution (thinnest layer told "
            f"apart) {res} nm at {fit['criteria']['bin_size_nm']:.3g} nm bins: "
            "a layer thinner than that may be merged or missed, and a reported "
            "interface may be spurious. Use a finer map (smaller pixels), "
            if bad
            else ""
        )
        + "check it (s.get_device_geometry()) or set it by hand.",
        GeometryWarning,
        stacklevel=3,
    )
