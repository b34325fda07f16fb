"""Halide-to-Pb ratios, non-stoichiometry and Pb-rich clusters.

A mixin of :class:`~hyperspy_perovskite.signals.eds_biased.EDSTEMBiasedSpectrum`.
A ratio is defined only where both the halide and the Pb lines have
significant net counts (``n_sigma`` standard deviations): elsewhere a ratio
such as ``0 +- 0`` from one Pb count and no halide count would be read as a
Pb-rich pixel. The array work is in
:mod:`hyperspy_perovskite.analysis.xray_lines` and
:mod:`hyperspy_perovskite.analysis.clusters`.
"""

from __future__ import annotations

import copy

import dask.array as da
import numpy as np
from hyperspy.signals import Signal2D

from hyperspy_perovskite.analysis import device_geometry as geo
from hyperspy_perovskite.analysis import xray_lines as xl
from hyperspy_perovskite.analysis.eds.maps import (
    cluster_search_ratio,
    label_cluster_series,
    layer_mask,
)
from hyperspy_perovskite.analysis.eds.quantify import atomic_k_factors as _atomic_k
from hyperspy_perovskite.metadata import record_processing
from hyperspy_perovskite.signals._base import as_requested, resolve_options
from hyperspy_perovskite.signals._eds_geometry import PROFILE_NODES, options_doc
from hyperspy_perovskite.signals._eds_profiles import wrap_profiles
from hyperspy_perovskite.units_arguments import parse_pixels
from hyperspy_perovskite.validity import Validity

__all__ = ["RatiosMixin"]

_HALIDES = ("I", "Br", "Cl", "F")


def _where(cond, x, y):
    return (da.where if isinstance(cond, da.Array) else np.where)(cond, x, y)


class RatiosMixin:
    """Halide/Pb ratio maps and profiles, stoichiometry, clusters."""

    def _halide_lines(self, halide_lines, pb_line):
        if halide_lines is None:
            halide_lines = [
                ln
                for ln in self.metadata.get_item("Sample.xray_lines", [])
                if ln.split("_")[0] in _HALIDES[:3]
            ]
            if not halide_lines:
                raise ValueError(
                    "No halide line given and none of I, Br, Cl in "
                    "metadata.Sample.xray_lines: pass halide_lines=['I_La', ...]."
                )
        if isinstance(halide_lines, str):
            halide_lines = [halide_lines]
        for ln in halide_lines:
            if ln.split("_")[0] not in _HALIDES:
                raise ValueError(f"{ln} is not a halide line (I, Br, Cl, F).")
        if pb_line.split("_")[0] != "Pb":
            raise ValueError(f"pb_line must be a Pb line, got {pb_line!r}.")
        return self._lines_in_range(list(halide_lines) + [pb_line])

    def _ratio_arrays(self, kfactors, halide_lines, pb_line, background, n_sigma):
        """Ratio, variance and the significance of both lines, per pixel.

        Returns ``lines, ratio, variance, pb, pb_variance, significant`` (dask
        arrays for lazy maps: one pass computes them all).
        """
        lines = self._halide_lines(halide_lines, pb_line)
        k_at = _atomic_k(lines, self._k_list(kfactors, lines))
        w = self._weights(lines, background)
        inten, var = xl.line_intensities(self.data, w)
        var_map = self._map_variance()
        if var_map is not None:
            var = xl.line_intensities(var_map, w)[1]
        n = len(lines)
        hal = [inten[..., i] for i in range(n - 1)]
        hvar = [var[..., i] for i in range(n - 1)]
        r, v = xl.halide_ratio(
            hal + [inten[..., -1]], hvar + [var[..., -1]], k_at[:-1], k_at[-1]
        )
        num = sum(k * x for k, x in zip(k_at[:-1], hal, strict=True))
        vnum = sum(k**2 * x for k, x in zip(k_at[:-1], hvar, strict=True))
        pb, pbvar = inten[..., -1], var[..., -1]
        sig = (num > n_sigma * abs(vnum) ** 0.5) & (pb > n_sigma * abs(pbvar) ** 0.5)
        return lines, r, v, pb, pbvar, sig

    @options_doc()
    def get_halide_ratio_map(
        self,
        kfactors,
        halide_lines=None,
        pb_line="Pb_La",
        background=True,
        n_sigma=2.0,
        keep_invalid=False,
        show_progressbar=None,
        lazy_output=None,
        num_workers=None,
    ):
        """Atomic halide-to-Pb ratio map ``X/Pb`` (3 for ABX3), with variance.

        Cliff-Lorimer ratio of the summed halide lines to the Pb line per
        pixel (:func:`~hyperspy_perovskite.analysis.xray_lines.halide_ratio`);
        one pass over the data for all lines. Valid only where both the
        halide and the Pb net counts exceed ``n_sigma`` standard deviations
        (``metadata.Validity``; NaN elsewhere unless ``keep_invalid``).

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
        n_sigma : float
            Significance both lines need.
        keep_invalid : bool
            Keep the values where the ratio is not valid.
        %(options)s

        Returns
        -------
        hyperspy.signals.Signal2D
            Spatial axes as signal axes, series axes as navigation;
            ``metadata.Signal.Noise_properties.variance`` and
            ``metadata.Validity`` (lazy for a lazy output: computed with the
            data by :func:`~hyperspy_perovskite.validity.compute_validity`).

        Examples
        --------
        >>> from hyperspy_perovskite.data.device_simulation import simulate_device_eds
        >>> s, truth = simulate_device_eds(shape=(8, 16), n_channels=1024)
        >>> r = s.get_halide_ratio_map(truth["k_factors"], ["I_La", "Br_Ka"])
        >>> r.axes_manager.signal_shape
        (16, 8)
        """
        opts = resolve_options(
            self,
            lazy_output=lazy_output,
            show_progressbar=show_progressbar,
            num_workers=num_workers,
        )
        self._spatial_axes()
        lines, r, v, _, _, sig = self._ratio_arrays(
            kfactors, halide_lines, pb_line, background, n_sigma
        )
        if not keep_invalid:
            r = _where(sig, r, np.nan)
        if not opts.lazy_output and isinstance(r, da.Array):
            r, v, sig = da.compute(r, v, sig, **opts.compute_kwargs)  # one pass
        elif opts.lazy_output and not isinstance(r, da.Array):
            r, v, sig = (da.from_array(np.asarray(a)) for a in (r, v, sig))
        # the same Validity, lazy (dask mask, stored lazily) or eager
        validity = Validity(
            sig,
            _where(sig, 0, 1).astype(np.uint32),
            ["halide or Pb not significant"],
            {"n_sigma": float(n_sigma)},
        )
        out = self._wrap_maps(r, v, "X/Pb ratio", "Halide/Pb (atomic)", opts, lines)
        validity.to_metadata(out.metadata)
        return out

    @options_doc()
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
        num_workers=None,
    ):
        """Halide-to-Pb ratio profile across the stack, with variance.

        Same as :meth:`get_halide_ratio_map` on the band summed into a line
        scan (:meth:`get_stack_linescan`), in one streaming pass over the
        window channels only (as :meth:`get_element_profiles`).

        Parameters
        ----------
        kfactors, halide_lines, pb_line, background
            See :meth:`get_halide_ratio_map`.
        width, bin_size, reference
            See :meth:`get_stack_linescan`.
        %(options)s

        Returns
        -------
        hyperspy.signals.Signal1D
            Over the distance (nm) from the reference interface.

        Examples
        --------
        >>> from hyperspy_perovskite.data.device_simulation import simulate_device_eds
        >>> s, truth = simulate_device_eds(shape=(8, 16), n_channels=1024)
        >>> p = s.get_halide_ratio_profile(truth["k_factors"], ["I_La", "Br_Ka"])
        >>> p.axes_manager.signal_axes[0].units
        'nm'
        """
        opts = resolve_options(
            self,
            lazy_output=lazy_output,
            show_progressbar=show_progressbar,
            num_workers=num_workers,
        )
        lines = self._halide_lines(halide_lines, pb_line)
        k_at = _atomic_k(lines, self._k_list(kfactors, lines))
        inten, var, header = self._band_line_sums(
            lines, width, bin_size, reference, background, 2.0, opts
        )
        n = len(lines)
        r, v = xl.halide_ratio(
            [inten[..., i] for i in range(n)],
            [var[..., i] for i in range(n)],
            k_at[:-1],
            k_at[-1],
        )
        prof = wrap_profiles(
            *header, ["X/Pb"], r[..., None], v[..., None], "Halide/Pb (atomic)"
        )[0]
        prof.metadata.General.title = "X/Pb ratio profile"
        prof.metadata.Sample.xray_lines = lines
        prof.metadata.Sample.elements = sorted({ln.split("_")[0] for ln in lines})
        return as_requested(prof, opts)

    @options_doc()
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
        num_workers=None,
    ):
        """Map of significant departures of ``X/Pb`` from ``nominal``.

        ``-1`` halide-poor (Pb-rich), ``+1`` halide-rich, ``0`` stoichiometric
        or undefined: a pixel is judged only where both the halide and the Pb
        lines have net counts above ``n_sigma`` standard deviations (see
        :func:`~hyperspy_perovskite.analysis.xray_lines.nonstoichiometry_mask`),
        so a sample without Pb has no Pb-rich pixel.

        Parameters
        ----------
        kfactors, halide_lines, pb_line, background
            See :meth:`get_halide_ratio_map`.
        nominal : float
            3 for ABX3.
        tolerance : float
            Relative tolerance on ``nominal``.
        n_sigma : float
            Significance of the departure and of both lines.
        %(options)s

        Examples
        --------
        >>> from hyperspy_perovskite.data.device_simulation import simulate_device_eds
        >>> s, truth = simulate_device_eds(shape=(8, 16), n_channels=1024)
        >>> m = s.get_nonstoichiometry_mask(truth["k_factors"], ["I_La", "Br_Ka"])
        >>> str(m.data.dtype)
        'int8'
        """
        r = self.get_halide_ratio_map(
            kfactors,
            halide_lines,
            pb_line,
            background,
            n_sigma,
            show_progressbar=show_progressbar,
            lazy_output=lazy_output,
            num_workers=num_workers,
        )
        var = r.metadata.Signal.Noise_properties.variance
        mask = xl.nonstoichiometry_mask(r.data, var.data, nominal, tolerance, n_sigma)
        out = r._deepcopy_with_new_data(mask)
        if out.metadata.has_item("Signal.Noise_properties"):
            del out.metadata.Signal.Noise_properties
        out.metadata.General.title = "Non-stoichiometry (-1 Pb-rich, +1 halide-rich)"
        out.metadata.Signal.quantity = "flag"
        record_processing(
            out.metadata,
            "Stoichiometry",
            nominal=float(nominal),
            tolerance=float(tolerance),
            n_sigma=float(n_sigma),
        )
        return out

    @options_doc()
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
        lazy_output=None,
        num_workers=None,
    ):
        """Detect Pb-rich clusters in the ``X/Pb`` ratio map(s).

        Connected pixels whose ratio lies significantly below ``nominal``
        (:func:`~hyperspy_perovskite.analysis.clusters.label_pb_rich`); for
        each: size, position, mean ratio, distance to the nearest interface
        of the device geometry, and HAADF contrast when an image is given.
        Only pixels with significant Pb net counts are searched; the ratio's
        variance counts at least one count's worth of halide noise, so a
        metallic Pb grain (no halide) is found while one stray Pb count is
        not. For a series each map is analysed.

        Parameters
        ----------
        kfactors, halide_lines, pb_line, background
            See :meth:`get_halide_ratio_map`.
        nominal, tolerance, n_sigma
            See :func:`~hyperspy_perovskite.analysis.clusters.label_pb_rich`;
            the default flags ``X/Pb < 2.1`` (PbX2 has 2, CsPb2X5 2.5, metallic
            Pb 0).
        min_size : float or str
            Smallest cluster: a number is in pixels (default 8 pixels), or an
            area with its unit (``"2000 nm^2"``), converted through the
            spatial axes.
        haadf : hyperspy.signals.Signal2D, optional
            HAADF image(s) of the same area (same spatial shape).
        layers : sequence of str, optional
            Search only these layers of the device geometry (default: the
            layers whose name contains "perovskite", else the whole map).
        %(options)s

        Returns
        -------
        dict
            ``labels`` (Signal2D of int32 labels, series as navigation; lazy
            as ``lazy_output`` asks: the labelling of connected pixels needs
            the whole ratio map, which is computed in either case),
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
        opts = resolve_options(
            self,
            lazy_output=lazy_output,
            show_progressbar=show_progressbar,
            num_workers=num_workers,
        )
        min_size = parse_pixels(
            min_size, self._spatial_axes(), name="min_size", power=2
        )
        lines, r, var, pb, pbvar, _ = self._ratio_arrays(
            kfactors, halide_lines, pb_line, background, n_sigma
        )
        w = self._weights(lines, background)
        k_at = _atomic_k(lines, self._k_list(kfactors, lines))
        parts = [r, var, pb, pbvar]
        if any(isinstance(a, da.Array) for a in parts):
            parts = da.compute(*parts, **opts.compute_kwargs)
        r, var, pb, pbvar = (np.asarray(a, dtype=float) for a in parts)
        r, var = cluster_search_ratio(r, var, pb, pbvar, k_at, w, n_sigma)
        xx, yy, _, _ = self._pixel_grid_nm()
        geom = self._geometry_or_none()
        r = np.where(self._layer_mask(geom, layers, xx, yy), r, np.nan)
        out = self._label_clusters(
            r, var, nominal, tolerance, n_sigma, min_size, haadf, geom, xx, yy, lines
        )
        out["labels"] = as_requested(out["labels"], opts)
        return out

    def _geometry_or_none(self):
        from hyperspy_perovskite.metadata import DeviceGeometry

        return DeviceGeometry.from_metadata(self.metadata, required=False)

    def _layer_mask(self, geom, layers, xx, yy):
        if layers is None and geom is not None:
            layers = [n for n in geom.layers if "perovskite" in n.lower()] or None
        if layers is None:
            return np.ones(xx.shape, dtype=bool)
        if geom is None or not geom.layers:
            raise ValueError(
                "layers= needs a device geometry with layer names "
                "(s.set_device_geometry(..., layers=[...]))."
            )
        s_pix, _ = geo.stack_coordinates(xx, yy, geom.start, geom.end)
        return layer_mask(s_pix, [geom.layer_bounds(n) for n in layers], geom.length)

    def _label_clusters(
        self, r, var, nominal, tolerance, n_sigma, min_size, haadf, geom, xx, yy, lines
    ):
        geometry = (
            None if geom is None else (geom.start, geom.end, geom.interface_positions)
        )
        labels, counts, props = label_cluster_series(
            r,
            var,
            nominal,
            tolerance,
            n_sigma,
            min_size,
            (xx, yy),
            geometry,
            None if haadf is None else haadf.data,
        )
        lab_sig = self._wrap_maps(
            labels,
            None,
            "Pb-rich clusters (labels)",
            "label",
            resolve_options(self, lazy_output=False),
            lines,
        )
        return {
            "labels": lab_sig,
            "count": counts,
            "clusters": props,
            "labels_of_series": self.metadata.get_item("Device.Series.labels", None),
        }

    def _wrap_maps(self, values, variances, title, quantity, options, lines=None):
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
        for node in PROFILE_NODES:
            if self.metadata.has_item(node):
                md[node] = self.metadata.get_item(node).as_dictionary()
        if lines is not None:
            md["Sample"] = {"xray_lines": list(lines)}
        out = Signal2D(values, axes=axes, metadata=md)
        if isinstance(values, da.Array):
            out = out.as_lazy()
        if variances is not None:
            var = Signal2D(variances, axes=copy.deepcopy(axes))
            if isinstance(variances, da.Array):
                var = var.as_lazy()
            out.metadata.set_item("Signal.Noise_properties.variance", var)
        return out
