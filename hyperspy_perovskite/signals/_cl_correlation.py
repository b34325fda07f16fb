"""Correlation of a CL spectrum image with its HAADF image.

:class:`CLCorrelationMixin` is a base of the CL signal classes of
:mod:`hyperspy_perovskite.signals.cl`. Its methods are thin: they validate
inputs, register the HAADF image (or a user mask) onto the CL navigation grid
through the calibrated axes, call the array code of
:mod:`hyperspy_perovskite.analysis.particles`,
:mod:`~hyperspy_perovskite.analysis.edge_statistics` and
:mod:`~hyperspy_perovskite.analysis.particle_statistics`, and wrap the results
as HyperSpy signals with axes, units and metadata, or as a
:class:`~hyperspy_perovskite.signals._cl_results.ParticleTable` (Li et al.,
Nat. Commun. 14, 7612 (2023), Fig. 2c-f). Halide composition and segregation
maps come from :class:`~hyperspy_perovskite.signals._cl_halide.CLHalideMixin`.

Parameter maps (``parameter``, ``centre``, ``intensity``, ...) may be given as
a HyperSpy model :class:`~hyperspy.component.Parameter` (values, std and
``is_set`` are read from its map), a signal holding one value per CL pixel
(its variance, if any, in ``metadata.Signal.Noise_properties.variance``), or
a numpy array of the CL navigation shape.
"""

from __future__ import annotations

import warnings

import numpy as np

from hyperspy_perovskite.analysis import edge_statistics, particle_statistics
from hyperspy_perovskite.analysis import particles as _particles
from hyperspy_perovskite.metadata import PROCESSING
from hyperspy_perovskite.signals._base import resolve_options
from hyperspy_perovskite.signals._cl_halide import CLHalideMixin
from hyperspy_perovskite.signals._cl_inputs import (
    _as_map,
    _check_lazy_inplace,
    _image_grid,
    _param_name,
    _to_numpy,
)
from hyperspy_perovskite.signals._cl_results import (
    ParticleTable,
    edge_vs_core_figure,
    particle_table_as_dict,
)
from hyperspy_perovskite.units import parse_quantity
from hyperspy_perovskite.units_arguments import parse_pixels

__all__ = [
    "CLCorrelationMixin",
    "ParticleTable",
    "edge_vs_core_figure",
    "particle_table_as_dict",
]


class CLCorrelationMixin(CLHalideMixin):
    """HAADF correlation, particle statistics and halide composition of CL maps."""

    # ---- grids -------------------------------------------------------------
    def _cl_nav_grid(self):
        am = self.axes_manager
        if am.navigation_dimension != 2:
            raise ValueError(
                "HAADF correlation needs a CL map with 2 navigation dimensions "
                f"(y, x); this signal has {am.navigation_dimension}."
            )
        x_ax, y_ax = am.navigation_axes
        (cy, cx), units = _image_grid((y_ax, x_ax), "CL navigation")
        return cy, cx, units, (y_ax, x_ax)

    def _nav_shape(self):
        return tuple(self.axes_manager._navigation_shape_in_array)

    def _map_signal(self, data, title, quantity, units=None, lazy_output=None):
        """Wrap a (ny, nx) array as a Signal2D on the CL navigation axes."""
        import hyperspy.api as hs

        _, _, _, (y_ax, x_ax) = self._cl_nav_grid()
        axes = []
        for ax in (y_ax, x_ax):
            d = ax.get_axis_dictionary()
            d["navigate"] = False
            axes.append(d)
        s = hs.signals.Signal2D(data, axes=axes)
        s.metadata.General.title = f"{title} of {self.metadata.General.title}".strip()
        s.metadata.Signal.quantity = (
            quantity if units is None else f"{quantity} ({units})"
        )
        return s.as_lazy() if self._lazy_output(lazy_output) else s

    def _lazy_output(self, lazy_output):
        return resolve_options(self, lazy_output=lazy_output).lazy_output

    def _labels_and_distance(
        self,
        haadf=None,
        mask=None,
        threshold=None,
        smoothing=1.0,
        min_size=4,
        split=False,
    ):
        """Particle labels and signed edge distance (nm) on the CL grid."""
        from hyperspy.signal import BaseSignal

        if (haadf is None) == (mask is None):
            raise ValueError("Give exactly one of haadf (an image to segment) or mask.")
        cy, cx, units, _ = self._cl_nav_grid()
        cl_px = (
            abs(cy[1] - cy[0]) if cy.size > 1 else 1.0,
            abs(cx[1] - cx[0]) if cx.size > 1 else 1.0,
        )
        src = haadf if haadf is not None else mask
        what = "HAADF image" if haadf is not None else "mask"
        if isinstance(src, BaseSignal):
            if (
                src.axes_manager.signal_dimension != 2
                or src.axes_manager.navigation_dimension
            ):
                raise ValueError(
                    f"{what} must be a Signal2D without navigation axes, got {src}."
                )
            data = _to_numpy(src.data)
            sx, sy = src.axes_manager.signal_axes
            (gy, gx), src_units = _image_grid((sy, sx), what)
            px = (abs(gy[1] - gy[0]), abs(gx[1] - gx[0]))
            registered = src_units is not None and units is not None
            if not registered and data.shape != self._nav_shape():
                raise ValueError(
                    f"{what} shape {data.shape} differs from the CL navigation shape "
                    f"{self._nav_shape()} and the axes carry no length units to register "
                    "them: set the units (e.g. 'nm') of both."
                )
            if not registered and (src_units is None) != (units is None):
                warnings.warn(
                    f"Only one of the {what} and the CL map has calibrated length "
                    f"units; as their shapes are equal, the {what} is taken to lie on "
                    "the CL grid pixel for pixel. Calibrate both to register them.",
                    UserWarning,
                )
        else:
            data = np.asarray(src)
            if data.shape != self._nav_shape():
                raise ValueError(
                    f"{what} array shape {data.shape} does not match the CL navigation "
                    f"shape {self._nav_shape()}; pass a calibrated Signal2D to register it."
                )
            registered, px = False, cl_px
        if haadf is not None:
            labels = _particles.segment_particles(
                data,
                threshold=threshold,
                smoothing=smoothing,
                min_size=_min_size_pixels(min_size, src, self),
                split=split,
            )
        else:
            labels = _particles.labels_from_mask(data, min_size=1)
        dist = _particles.signed_edge_distance(labels, px)
        if registered:
            labels = _particles.resample_to_grid(
                labels, gy, gx, cy, cx, order=0, name=what
            )
            dist = _particles.resample_to_grid(dist, gy, gx, cy, cx, order=1, name=what)
        if not (labels > 0).any():
            raise ValueError(f"No particle found in the {what} on the CL grid.")
        return labels.astype(np.int32), dist, cl_px, units

    # ---- public methods ----------------------------------------------------
    def particle_labels(
        self,
        haadf=None,
        mask=None,
        threshold=None,
        smoothing=1.0,
        min_size=4,
        split=False,
        lazy_output=None,
    ):
        """Particle labels on the CL navigation grid, from a HAADF image or a mask.

        The HAADF image is segmented on its own grid
        (:func:`~hyperspy_perovskite.analysis.particles.segment_particles`:
        Gaussian smoothing, Otsu threshold, hole filling, small objects
        dropped) and the labels are sampled at the CL pixel centres through
        the calibrated axes. HAADF and CL maps may have different pixel sizes
        and shapes as long as the HAADF field of view covers the CL map.

        Parameters
        ----------
        haadf : hyperspy.signals.Signal2D or numpy.ndarray, optional
            The HAADF image (an array must have the CL navigation shape).
        mask : hyperspy.signals.Signal2D or numpy.ndarray of bool, optional
            A user particle mask instead of ``haadf``.
        threshold, smoothing, min_size, split
            Passed to :func:`~hyperspy_perovskite.analysis.particles.segment_particles`
            (``smoothing``: Gaussian sigma in HAADF pixels; ``min_size``: a
            number of HAADF pixels, or an area such as ``"50 nm^2"``;
            ``split=True`` separates touching particles by a watershed).
        lazy_output : bool, optional
            Return a lazy signal (default: lazy if this signal is lazy).

        Returns
        -------
        hyperspy.signals.Signal2D
            Integer labels (0 = matrix) on the CL navigation axes.

        Raises
        ------
        ValueError
            If the maps do not overlap, units are missing or not lengths,
            shapes mismatch without calibration, or no particle is found.

        Examples
        --------
        >>> from hyperspy_perovskite.data.cl_simulation import simulate_cl_map
        >>> haadf, cl, truth = simulate_cl_map(shape=(24, 24), n_channels=32, seed=1)
        >>> labels = cl.particle_labels(haadf=haadf)
        >>> labels.data.shape, bool(labels.data.max() > 0)
        ((24, 24), True)
        """
        labels, _, _, _ = self._labels_and_distance(
            haadf, mask, threshold, smoothing, min_size, split
        )
        s = self._map_signal(
            labels, "Particle labels", "Particle label", lazy_output=lazy_output
        )
        s.metadata.set_item(
            f"{PROCESSING}.Particles.n_particles",
            int(len(np.unique(labels[labels > 0]))),
        )
        s.metadata.set_item(
            f"{PROCESSING}.Particles.source",
            "HAADF segmentation" if haadf is not None else "user mask",
        )
        return s

    def edge_distance(
        self,
        haadf=None,
        mask=None,
        threshold=None,
        smoothing=1.0,
        min_size=4,
        split=False,
        lazy_output=None,
    ):
        """Signed distance of each CL pixel to the nearest particle edge (nm).

        Positive inside particles (depth below the edge), negative in the
        matrix; computed on the HAADF (or mask) grid and interpolated onto the
        CL grid. See :meth:`particle_labels` for the parameters.

        Returns
        -------
        hyperspy.signals.Signal2D
            The distance, in nm (or pixels when the axes have no units).

        Examples
        --------
        >>> from hyperspy_perovskite.data.cl_simulation import simulate_cl_map
        >>> haadf, cl, truth = simulate_cl_map(shape=(24, 24), n_channels=32, seed=1)
        >>> d = cl.edge_distance(haadf=haadf)
        >>> d.metadata.Signal.quantity
        'Distance to edge (nm)'
        """
        _, dist, _, units = self._labels_and_distance(
            haadf, mask, threshold, smoothing, min_size, split
        )
        return self._map_signal(
            dist,
            "Distance to particle edge",
            "Distance to edge",
            units or "px",
            lazy_output,
        )

    def edge_profile(
        self,
        parameter,
        haadf=None,
        mask=None,
        bins=None,
        edge_width=None,
        valid=None,
        alternative="greater",
        alpha=0.05,
        threshold=None,
        smoothing=1.0,
        min_size=4,
        split=False,
        lazy_output=None,
    ):
        """Profile of a parameter versus depth below the particle edge, with a test.

        Answers "is sigma larger at particle edges?" (Li et al., Nat. Commun. 14, 7612 (2023), Fig. 2f): the
        mean and standard error of ``parameter`` per distance bin inside the
        particles, and an edge-versus-core test
        (:func:`~hyperspy_perovskite.analysis.edge_statistics.edge_core_test`:
        per-particle paired t-test, or Welch's t-test over pixels when fewer
        than three particles have both zones).

        Parameters
        ----------
        parameter : Parameter, signal or numpy.ndarray
            The parameter map (e.g. ``m[0].sigma`` of a fitted model).
        haadf, mask
            The HAADF image to segment, or a particle mask.
        threshold, smoothing, min_size, split
            See :meth:`particle_labels`.
        bins : int or array_like, optional
            Number of distance bins or bin edges (nm); default one bin per CL
            pixel of depth.
        edge_width : float, str or pint.Quantity, optional
            Depth of the edge zone (a number in nm, or ``"2 nm"``,
            ``"20 Å"``; in CL pixels when the map has no length unit);
            default one CL pixel.
        valid : array_like of bool or signal, optional
            Pixels to use (e.g. a fit-quality mask); a Parameter's ``is_set``
            map is always applied.
        alternative : {"greater", "less", "two-sided"}
            Alternative hypothesis for edge minus core.
        alpha : float
            Significance level.
        lazy_output : bool, optional
            Return a lazy signal (default: lazy if this signal is lazy).

        Returns
        -------
        hyperspy.signals.Signal1D
            Mean parameter per distance bin (axis "Distance to edge", nm) with
            the squared standard error as variance; the pixel counts and the
            test result are in ``metadata.Processing.Edge_profile``.

        Examples
        --------
        >>> from hyperspy_perovskite.data.cl_simulation import simulate_cl_map
        >>> haadf, cl, truth = simulate_cl_map(shape=(32, 32), n_channels=32, seed=1)
        >>> prof = cl.edge_profile(truth["sigma"], haadf=haadf)
        >>> bool(prof.metadata.Processing.Edge_profile.test.significant)
        True
        """
        import hyperspy.api as hs

        _check_lazy_inplace(lazy_output)
        shape = self._nav_shape()
        values, _, is_set, units = _as_map(parameter, shape, "parameter")
        labels, dist, px, dunits = self._labels_and_distance(
            haadf, mask, threshold, smoothing, min_size, split
        )
        ok = np.ones(shape, bool) if is_set is None else is_set.copy()
        if valid is not None:
            ok &= self._valid_array(valid)
        step = float(np.mean(px))
        if edge_width is None:
            edge_width = step
        elif dunits:
            edge_width = parse_quantity(edge_width, dunits, name="edge_width")
        else:  # an uncalibrated map: CL pixels
            edge_width = step * parse_pixels(
                edge_width, self.axes_manager.navigation_axes, name="edge_width"
            )
        if bins is None:
            inside = dist[(labels > 0) & ok & np.isfinite(values)]
            if inside.size == 0:
                raise ValueError("No valid pixel inside the particles.")
            n = max(1, int(np.ceil(inside.max() / step)))
            bins = np.arange(n + 1) * step
        prof = edge_statistics.profile_vs_distance(values, dist, bins=bins, valid=ok)
        test = edge_statistics.edge_core_test(
            values,
            dist,
            edge_width,
            labels=labels,
            valid=ok,
            alternative=alternative,
            alpha=alpha,
        )
        edges = prof["edges"]
        widths = np.diff(edges)
        if np.allclose(widths, widths[0]):
            axis = {
                "name": "Distance to edge",
                "size": widths.size,
                "offset": float(prof["centres"][0]),
                "scale": float(widths[0]),
                "units": dunits or "px",
            }
        else:
            axis = {
                "name": "Distance to edge",
                "axis": prof["centres"],
                "units": dunits or "px",
            }
        s = hs.signals.Signal1D(prof["mean"], axes=[axis])
        s.metadata.General.title = (
            f"{_param_name(parameter)} vs distance to particle edge"
        )
        s.metadata.Signal.quantity = f"{_param_name(parameter)}" + (
            f" ({units})" if units else ""
        )
        var = hs.signals.Signal1D(prof["sem"] ** 2, axes=[dict(axis)])
        s.metadata.set_item("Signal.Noise_properties.variance", var)
        s.metadata.set_item(f"{PROCESSING}.Edge_profile.count", prof["count"])
        s.metadata.set_item(f"{PROCESSING}.Edge_profile.std", prof["std"])
        s.metadata.set_item(f"{PROCESSING}.Edge_profile.bin_edges", edges)
        s.metadata.set_item(f"{PROCESSING}.Edge_profile.test", test)
        s.metadata.set_item(
            f"{PROCESSING}.Edge_profile.source",
            "HAADF segmentation" if haadf is not None else "user mask",
        )
        return s.as_lazy() if self._lazy_output(lazy_output) else s

    def _valid_array(self, valid):
        from hyperspy.signal import BaseSignal

        data = (
            _to_numpy(valid.data)
            if isinstance(valid, BaseSignal)
            else np.asarray(valid)
        )
        if data.shape != self._nav_shape():
            raise ValueError(
                f"valid {data.shape} must have the CL navigation shape {self._nav_shape()}."
            )
        if data.dtype != bool:
            if not np.isin(np.unique(data), (0, 1)).all():
                raise ValueError("valid must be boolean (or 0/1).")
            data = data.astype(bool)
        return data

    def particle_table(
        self,
        haadf=None,
        mask=None,
        intensity=None,
        centre=None,
        sigma=None,
        valid=None,
        alpha=0.05,
        threshold=None,
        smoothing=1.0,
        min_size=4,
        split=False,
    ):
        """Per-particle table (area, mean intensity, centre, sigma) and whether
        intensity follows particle size.

        Particles come from the HAADF image or a mask (registered onto the CL
        grid); areas are counted on the CL grid in nm^2. The intensity-size
        rank correlation
        (:func:`~hyperspy_perovskite.analysis.particle_statistics.size_intensity_correlation`)
        answers Li et al.'s question "does intensity follow particle size?".
        The table is computed (also for a lazy signal): it is small.

        Parameters
        ----------
        haadf, mask, threshold, smoothing, min_size, split
            See :meth:`particle_labels`.
        intensity, centre, sigma : Parameter, signal or numpy.ndarray, optional
            Parameter maps (e.g. an integrated-intensity map, ``m[0].centre``);
            ``centre`` and ``sigma`` may also be a string or pint quantity
            (``"710 nm"``, ``array * ureg.nm``), whose unit the table keeps.
        valid : array_like of bool or signal, optional
            Pixels whose parameters are used.
        alpha : float
            Significance level of the correlation test.

        Returns
        -------
        ParticleTable
            A :class:`~hyperspy_perovskite.results.ResultTable`, one row per
            particle: ``label``, ``n_pixels``, ``area`` (nm^2),
            ``equivalent_diameter`` (nm), ``n_valid``, ``intensity_mean``,
            ``centre_mean`` and ``sigma_mean`` with their standard errors in
            ``table.std``; ``table.correlation`` holds the intensity-size
            test and ``table.plot()`` draws intensity versus area. Store it
            with ``table.to_metadata(signal.metadata, "Particle_table")``.

        Examples
        --------
        >>> from hyperspy_perovskite.data.cl_simulation import simulate_cl_map
        >>> haadf, cl, truth = simulate_cl_map(shape=(48, 48), n_channels=32, seed=3)
        >>> t = cl.particle_table(haadf=haadf, intensity=truth["area"])
        >>> t.units["area"], bool(t.correlation.significant)
        ('nm^2', False)
        """
        shape = self._nav_shape()
        labels, _, px, dunits = self._labels_and_distance(
            haadf, mask, threshold, smoothing, min_size, split
        )
        ok = np.ones(shape, bool)
        if valid is not None:
            ok &= self._valid_array(valid)
        maps, units = {}, {}
        for name, obj in (
            ("intensity", intensity),
            ("centre", centre),
            ("sigma", sigma),
        ):
            if obj is None:
                maps[name] = None
                continue
            v, _, is_set, u = _as_map(obj, shape, name, spectral=name != "intensity")
            if is_set is not None:
                v = np.where(is_set, v, np.nan)
            maps[name] = np.where(ok, v, np.nan)
            units[name] = u or ""
        table = particle_statistics.particle_table(
            labels, px[0] * px[1], valid=ok, **maps
        )
        lu = dunits or "px"
        columns = {
            "label": table["label"].astype(int),
            "n_pixels": table["n_pixels"].astype(int),
            "area": table["area"],
            "equivalent_diameter": table["equivalent_diameter"],
            "n_valid": table["n_valid"].astype(int),
        }
        col_units = {"area": f"{lu}^2", "equivalent_diameter": lu}
        std = {}
        for name in ("intensity", "centre", "sigma"):
            columns[f"{name}_mean"] = table[f"{name}_mean"]
            std[f"{name}_mean"] = table[f"{name}_sem"]
            col_units[f"{name}_mean"] = units.get(name, "")
        corr = None
        if intensity is not None and np.isfinite(table["intensity_mean"]).sum() >= 4:
            corr = particle_statistics.size_intensity_correlation(
                table["area"], table["intensity_mean"], alpha=alpha
            )
        return ParticleTable(
            columns,
            units=col_units,
            std=std,
            index=[str(int(k)) for k in table["label"]],
            title=f"Particle table of {self.metadata.General.title}",
            description="Per-particle means over valid pixels; std = standard "
            "error of the mean.",
            correlation=corr,
            source="HAADF segmentation" if haadf is not None else "user mask",
        )

    def plot_edge_vs_core(self, parameter, haadf=None, mask=None, **kwargs):
        """Figure: HAADF with particle outlines, the parameter map, and its
        profile versus distance to the particle edge with the test result.

        See :func:`edge_vs_core_figure` (this is ``edge_vs_core_figure(self, ...)``).

        Examples
        --------
        >>> from hyperspy_perovskite.data.cl_simulation import simulate_cl_map
        >>> haadf, cl, truth = simulate_cl_map(shape=(24, 24), n_channels=32, seed=1)
        >>> fig = cl.plot_edge_vs_core(truth["sigma"], haadf=haadf)
        >>> len(fig.axes) >= 3
        True
        """
        return edge_vs_core_figure(self, parameter, haadf=haadf, mask=mask, **kwargs)


def _min_size_pixels(min_size, src, cl):
    """``min_size`` as a number of pixels of the segmented image: a plain
    number is pixels; an area (``"50 nm^2"``) is converted through the
    image's axes (a signal) or the CL map's (an array on its grid)."""
    from hyperspy.signal import BaseSignal

    axes = (
        src.axes_manager.signal_axes
        if isinstance(src, BaseSignal)
        else cl.axes_manager.navigation_axes
    )
    return max(1, int(round(parse_pixels(min_size, axes, name="min_size", power=2))))
