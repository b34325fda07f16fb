"""Correlation of a CL spectrum image with its HAADF image, halide composition.

:class:`CLCorrelationMixin` is a base of the CL signal classes of
:mod:`hyperspy_perovskite.signals.cl`. Its methods are thin: they validate
inputs, register the HAADF image (or a user mask) onto the CL navigation grid
through the calibrated axes, call the array code of
:mod:`hyperspy_perovskite.analysis.particles`,
:mod:`~hyperspy_perovskite.analysis.edge_statistics`,
:mod:`~hyperspy_perovskite.analysis.particle_statistics` and
:mod:`~hyperspy_perovskite.analysis.halide`, and wrap the results as HyperSpy
signals with axes, units and metadata (Li et al., Nat. Commun. 14, 7612 (2023), Fig. 2c-f).

Parameter maps (``parameter``, ``centre``, ``intensity``, ...) may be given as
a HyperSpy model :class:`~hyperspy.component.Parameter` (values, std and
``is_set`` are read from its map), a signal holding one value per CL pixel
(its variance, if any, in ``metadata.Signal.Noise_properties.variance``), or
a numpy array of the CL navigation shape.
"""

from __future__ import annotations

import re
import warnings

import numpy as np

from hyperspy_perovskite.analysis import edge_statistics, halide, particle_statistics
from hyperspy_perovskite.analysis import particles as _particles
from hyperspy_perovskite.analysis.cl_units import parse_spectral_unit
from hyperspy_perovskite.metadata import PROCESSING
from hyperspy_perovskite.signals._base import resolve_options
from hyperspy_perovskite.units import UnitError, parse_quantity
from hyperspy_perovskite.validity import Validity

__all__ = ["CLCorrelationMixin", "edge_vs_core_figure", "particle_table_as_dict"]


# ----------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------
def _length_factor(units, what):
    """Factor to nm of a spatial axis unit, or None when uncalibrated."""
    if units is None or str(units).strip().lower() in ("", "<undefined>", "px"):
        return None
    try:
        return parse_quantity(1.0, "nm", name=f"{what} axis", default_unit=units)
    except UnitError as err:
        raise ValueError(
            f"{what} axis unit {units!r} is not a length unit: {err}"
        ) from None


def _image_grid(axes_yx, what):
    """Pixel-centre coordinates (nm, or pixels when units are undefined)."""
    coords, factors = [], []
    for ax in axes_yx:
        if not ax.is_uniform:
            raise ValueError(
                f"{what} axis {ax.name!r} is not uniform; resample it first."
            )
        factors.append(_length_factor(ax.units, what))
        coords.append(np.asarray(ax.axis, float))
    if (factors[0] is None) != (factors[1] is None):
        raise ValueError(f"{what}: one spatial axis has units and the other not.")
    if factors[0] is None:
        return coords, None
    return [c * f for c, f in zip(coords, factors, strict=True)], "nm"


def _to_numpy(data):
    if hasattr(data, "compute"):
        data = data.compute()
    return np.asarray(data)


def _signal_axis_units(parameter):
    comp = getattr(parameter, "component", None)
    model = getattr(comp, "model", None)
    if model is None:
        return None
    return model.axes_manager.signal_axes[0].units


def _as_map(obj, shape, name):
    """(values, std or None, valid or None, units or None) of a parameter map."""
    from hyperspy.component import Parameter
    from hyperspy.signal import BaseSignal

    if isinstance(obj, Parameter):
        m = obj.map
        if m["values"].shape != shape:
            raise ValueError(
                f"{name}: parameter map shape {m['values'].shape} does not match the "
                f"CL navigation shape {shape}."
            )
        return (
            np.asarray(m["values"], float),
            np.asarray(m["std"], float),
            np.asarray(m["is_set"], bool),
            _signal_axis_units(obj),
        )
    if isinstance(obj, BaseSignal):
        values = _to_numpy(obj.data).astype(float)
        var = obj.metadata.get_item("Signal.Noise_properties.variance")
        std = None
        if isinstance(var, BaseSignal):
            std = np.sqrt(_to_numpy(var.data).astype(float))
        elif var is not None:
            std = np.full(values.shape, np.sqrt(float(var)))
        units = None
        if True:  # "centre (nm)" as written by emission_maps
            found = re.search(
                r"\(([^()]*)\)\s*$", str(obj.metadata.get_item("Signal.quantity", ""))
            )
            units = found.group(1) if found else None
        if values.shape != shape:
            values = values.reshape(shape) if values.size == np.prod(shape) else values
        if values.shape != shape:
            raise ValueError(
                f"{name}: signal data shape {obj.data.shape} does not match the CL "
                f"navigation shape {shape}."
            )
        if std is not None:
            std = std.reshape(shape)
        return values, std, None, units
    if not isinstance(obj, str) and (
        isinstance(obj, np.ndarray | list | tuple) or np.isscalar(obj)
    ):
        values = np.asarray(obj, float)
        if values.shape != shape:
            raise ValueError(
                f"{name}: array shape {values.shape} does not match the CL navigation "
                f"shape {shape}."
            )
        return values, None, None, None
    raise TypeError(
        f"{name} must be a model Parameter, a signal or a numpy array, got "
        f"{type(obj).__name__}."
    )


def _std_override(std, shape, name):
    """A separate standard-deviation map (signal or array) of the CL nav shape."""
    from hyperspy.signal import BaseSignal

    data = (
        _to_numpy(std.data) if isinstance(std, BaseSignal) else np.asarray(std, float)
    )
    if data.shape != shape:
        raise ValueError(
            f"{name} {data.shape} must have the CL navigation shape {shape}."
        )
    return data.astype(float)


def _check_lazy_inplace(lazy_output, inplace=False):
    if lazy_output and inplace:
        raise ValueError("lazy_output=True and inplace=True cannot be combined.")


def particle_table_as_dict(table):
    """Columns of a particle-table signal (from
    :meth:`CLCorrelationMixin.particle_table`) as a dict of numpy arrays.

    Examples
    --------
    >>> from hyperspy_perovskite.data.cl_simulation import simulate_cl_map
    >>> from hyperspy_perovskite.signals._cl_correlation import particle_table_as_dict
    >>> haadf, cl, truth = simulate_cl_map(shape=(24, 24), n_channels=32, seed=1)
    >>> t = particle_table_as_dict(cl.particle_table(haadf=haadf, intensity=truth["area"]))
    >>> sorted(t)[:3]
    ['area', 'centre_mean', 'centre_sem']
    """
    cols = list(table.metadata.Processing.Particle_table.columns)
    data = _to_numpy(table.data).reshape(-1, len(cols))
    return {c: data[:, i].copy() for i, c in enumerate(cols)}


# ----------------------------------------------------------------------------
# the mixin
# ----------------------------------------------------------------------------
class CLCorrelationMixin:
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
                min_size=min_size,
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
            (``smoothing``: Gaussian sigma in HAADF pixels; ``min_size``: in
            HAADF pixels; ``split=True`` separates touching particles by a
            watershed).
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
        edge_width : float, optional
            Depth (nm) of the edge zone; default one CL pixel.
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
        lazy_output=None,
    ):
        """Per-particle table (area, mean intensity, centre, sigma) and whether
        intensity follows particle size.

        Particles come from the HAADF image or a mask (registered onto the CL
        grid); areas are counted on the CL grid in nm^2. The intensity-size
        rank correlation
        (:func:`~hyperspy_perovskite.analysis.particle_statistics.size_intensity_correlation`)
        answers Li et al.'s question "does intensity follow particle size?".

        Parameters
        ----------
        haadf, mask, threshold, smoothing, min_size, split
            See :meth:`particle_labels`.
        intensity, centre, sigma : Parameter, signal or numpy.ndarray, optional
            Parameter maps (e.g. an integrated-intensity map, ``m[0].centre``);
            the column units come from a Parameter or signal (a plain array
            gives unitless columns).
        valid : array_like of bool or signal, optional
            Pixels whose parameters are used.
        alpha : float
            Significance level of the correlation test.
        lazy_output : bool, optional
            Return a lazy signal (default: lazy if this signal is lazy).

        Returns
        -------
        hyperspy.signals.Signal1D
            Navigation axis "Particle", signal axis "Column"; the column names
            and units are in ``metadata.Processing.Particle_table`` together with the
            correlation result (``Intensity_size_correlation``). Use
            :func:`particle_table_as_dict` for a dict of columns.

        Examples
        --------
        >>> from hyperspy_perovskite.data.cl_simulation import simulate_cl_map
        >>> haadf, cl, truth = simulate_cl_map(shape=(48, 48), n_channels=32, seed=3)
        >>> t = cl.particle_table(haadf=haadf, intensity=truth["area"])
        >>> bool(t.metadata.Processing.Particle_table.Intensity_size_correlation.significant)
        False
        """
        import hyperspy.api as hs

        _check_lazy_inplace(lazy_output)
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
            v, _, is_set, u = _as_map(obj, shape, name)
            if is_set is not None:
                v = np.where(is_set, v, np.nan)
            maps[name] = np.where(ok, v, np.nan)
            units[name] = u or ""
        table = particle_statistics.particle_table(
            labels, px[0] * px[1], valid=ok, **maps
        )
        cols = list(particle_statistics.PARTICLE_COLUMNS)
        data = np.stack([table[c] for c in cols], axis=-1)
        s = hs.signals.Signal1D(
            data,
            axes=[
                {"name": "Particle", "size": data.shape[0], "navigate": True},
                {"name": "Column", "size": data.shape[1], "navigate": False},
            ],
        )
        s.metadata.General.title = f"Particle table of {self.metadata.General.title}"
        lu = dunits or "px"
        col_units = {
            "label": "",
            "n_pixels": "",
            "area": f"{lu}^2",
            "equivalent_diameter": lu,
            "n_valid": "",
            "intensity_mean": units.get("intensity", ""),
            "intensity_sem": units.get("intensity", ""),
            "centre_mean": units.get("centre", ""),
            "centre_sem": units.get("centre", ""),
            "sigma_mean": units.get("sigma", ""),
            "sigma_sem": units.get("sigma", ""),
        }
        s.metadata.set_item(f"{PROCESSING}.Particle_table.columns", cols)
        s.metadata.set_item(
            f"{PROCESSING}.Particle_table.units", [col_units[c] for c in cols]
        )
        s.metadata.set_item(
            f"{PROCESSING}.Particle_table.source",
            "HAADF segmentation" if haadf is not None else "user mask",
        )
        if intensity is not None and np.isfinite(table["intensity_mean"]).sum() >= 4:
            corr = particle_statistics.size_intensity_correlation(
                table["area"], table["intensity_mean"], alpha=alpha
            )
            s.metadata.set_item(
                f"{PROCESSING}.Particle_table.Intensity_size_correlation", corr
            )
        return s.as_lazy() if self._lazy_output(lazy_output) else s

    def halide_fraction(
        self,
        centre,
        centre_std=None,
        units=None,
        system="CsPb(Br1-xIx)3",
        bowing=None,
        stokes_shift=0.0,
        valid=None,
        lazy_output=None,
    ):
        """Iodide fraction x of ``APb(Br1-xIx)3`` from a peak-centre map.

        Converts the emission centre (wavelength or photon energy) to energy
        and inverts the band-gap-composition relation with bowing of
        :mod:`hyperspy_perovskite.analysis.halide` (end members and bowing
        with their sources there: Noh et al. 2013 for MAPb(Br1-xIx)3; Eperon
        et al. 2015 / Beal et al. 2016 for CsPb(Br1-xIx)3). The centre's
        standard deviation propagates to ``x`` to first order.

        Parameters
        ----------
        centre : Parameter, signal or numpy.ndarray
            Emission centre map (a model Parameter brings its std and unit).
        centre_std : signal or numpy.ndarray, optional
            Its standard deviation (e.g. ``emission_maps(m)["centre_std"]``);
            overrides the std carried by ``centre``.
        units : str, optional
            Unit of ``centre`` (nm, µm, eV, meV, ...); read from the model's
            signal axis for a Parameter, or ``metadata.Signal.units``.
        system : str or dict
            ``"CsPb(Br1-xIx)3"``, ``"MAPb(Br1-xIx)3"`` or a dict
            ``{"E_Br", "E_I", "bowing"}`` in eV.
        bowing : float, optional
            Override the bowing parameter (eV).
        stokes_shift : float
            Emission energy below the band gap (eV).
        valid : array of bool or signal, optional
            Pixels where the centre is valid. Default: the
            ``metadata.Validity`` the centre map carries (from
            :meth:`emission_maps`), or a Parameter's ``is_set``; glass and
            failed-fit pixels then get no composition.
        lazy_output : bool, optional
            Return a lazy signal (default: lazy if this signal is lazy).

        Returns
        -------
        hyperspy.signals.Signal2D
            ``x`` with its variance (``std**2``) in
            ``metadata.Signal.Noise_properties.variance``; NaN where the energy
            lies outside the end-member range (counted in
            ``metadata.Processing.Halide_composition.n_out_of_range``).

        Examples
        --------
        >>> from hyperspy_perovskite.data.cl_simulation import simulate_cl_map
        >>> haadf, cl, truth = simulate_cl_map(shape=(16, 16), n_channels=32, halide_x=0.5, centre_spread=0, seed=1)
        >>> x = cl.halide_fraction(truth["centre"], units="nm")
        >>> round(float(np.nanmean(x.data)), 3)
        0.5
        """
        _check_lazy_inplace(lazy_output)
        shape = self._nav_shape()
        values, std, is_set, u = _as_map(centre, shape, "centre")
        if centre_std is not None:
            std = _std_override(centre_std, shape, "centre_std")
        units = units or u
        if not units:
            raise ValueError(
                "The unit of the centre map is unknown: pass units='nm' (or 'eV', ...)."
            )
        canonical, kind, factor = parse_spectral_unit(units)
        ok = self._centre_validity(centre, valid, is_set)
        values = np.where(ok, values, np.nan)
        if kind == "wavelength":
            wl = values * factor
            energy = halide.wavelength_to_energy(wl)
            e_std = None if std is None else energy / wl * std * factor
        else:
            energy = values * factor
            e_std = None if std is None else std * factor
        x, x_std, out = halide.fraction_from_energy(
            energy, e_std, system=system, bowing=bowing, stokes_shift=stokes_shift
        )
        s = self._map_signal(
            x, "Iodide fraction x", "Iodide fraction x", lazy_output=False
        )
        Validity(
            ok & ~out,
            np.where(ok, 0, 1) | np.where(out & ok, 2, 0),
            ("centre not valid", "energy outside the end members"),
        ).to_metadata(s.metadata)
        if e_std is not None:
            var = s._deepcopy_with_new_data(x_std**2)
            s.metadata.set_item("Signal.Noise_properties.variance", var)
        e_br, e_i, b = halide._system(system, bowing)
        s.metadata.set_item(
            f"{PROCESSING}.Halide_composition",
            {
                "system": system if isinstance(system, str) else "custom",
                "E_Br_eV": e_br,
                "E_I_eV": e_i,
                "bowing_eV": b,
                "stokes_shift_eV": float(stokes_shift),
                "relation": "Eg(x) = (1-x) E_Br + x E_I - b x (1-x), x = iodide fraction",
                "n_out_of_range": int(out.sum()),
            },
        )
        return s.as_lazy() if self._lazy_output(lazy_output) else s

    def _centre_validity(self, centre, valid, is_set):
        """Boolean mask of the pixels whose centre may be used."""
        from hyperspy.signal import BaseSignal

        ok = np.ones(self._nav_shape(), bool)
        if is_set is not None:
            ok &= is_set
        if valid is not None:
            ok &= self._valid_array(valid)
        elif isinstance(centre, BaseSignal):
            v = Validity.from_metadata(centre.metadata)
            if v is not None and v.mask.shape == ok.shape:
                ok &= v.mask
        return ok

    def segregation_map(
        self,
        model=None,
        centre=None,
        centre_std=None,
        reference=None,
        reference_std=0.0,
        min_separation=None,
        min_shift=0.0,
        n_sigma=3.0,
        min_fraction=0.05,
        return_separation=False,
        lazy_output=None,
    ):
        """Map of halide segregation: split peaks (two-peak fit) or shifted peaks.

        Mixed-halide perovskites segregate into I-rich and Br-rich domains
        under light or the beam (Hao & Cai, Microstructures 5, 2025012 (2025), Fig. 3B), which
        splits the emission peak or shifts it.

        * ``model``: a fitted model with exactly two peak components (each with
          ``A`` and ``centre`` parameters, e.g. from ``fit_emission(n_peaks=2)``).
          A pixel is segregated when both peaks are significant, the weaker
          holds at least ``min_fraction`` of the area, and the centres are
          further apart than ``min_separation`` (axis units; default the
          larger fitted sigma of the two peaks, i.e. resolved peaks) and than
          ``n_sigma`` combined standard deviations
          (:func:`~hyperspy_perovskite.analysis.halide.segregation_from_two_peaks`).
        * ``centre``: a single-peak centre map; a pixel is segregated when its
          centre differs from ``reference`` (default: the median of the map)
          by more than ``min_shift`` and ``n_sigma`` standard deviations
          (:func:`~hyperspy_perovskite.analysis.halide.segregation_from_shift`).
          ``centre_std`` gives its standard deviation when ``centre`` does not
          carry it (e.g. ``emission_maps(m)["centre_std"]``).

        Parameters
        ----------
        model : hyperspy.models.model1d.Model1D, optional
            A fitted two-peak model.
        centre, centre_std : Parameter, signal or numpy.ndarray, optional
            Single-peak centre map and its std, in the unit of the spectral
            axis (nm or eV; a Parameter brings its std).
        reference, reference_std : float
            Reference centre and its std, in the unit of ``centre``; default
            the median of the map.
        min_separation : float, optional
            Smallest peak separation, in the unit of the spectral axis.
        min_shift : float
            Smallest centre shift, in the unit of the spectral axis.
        n_sigma : float
            Significance of the separation or shift.
        min_fraction : float
            Smallest area fraction of the weaker peak.
        return_separation : bool
            Also return the separation (or shift) map with its variance.
        lazy_output : bool, optional
            Return a lazy signal (default: lazy if this signal is lazy).

        Returns
        -------
        hyperspy.signals.Signal2D or tuple
            Boolean segregation map (``metadata.Processing.Segregation`` holds the method,
            thresholds and segregated fraction); with ``return_separation``
            also the peak separation (or signed shift) map with its variance.

        Examples
        --------
        >>> from hyperspy_perovskite.data.cl_simulation import simulate_cl_map
        >>> haadf, cl, truth = simulate_cl_map(shape=(16, 16), n_channels=32, seed=1)
        >>> c = np.where(truth["labels"] > 0, 710.0, np.nan); c[0, 0] = 730.0
        >>> seg = cl.segregation_map(centre=c, reference=710.0, min_shift=5.0)
        >>> int(seg.data.sum())
        1
        """
        _check_lazy_inplace(lazy_output)
        shape = self._nav_shape()
        if (model is None) == (centre is None):
            raise ValueError(
                "Give exactly one of model (two-peak fit) or centre (peak shift)."
            )
        if model is not None:
            peaks = [
                c
                for c in model
                if c.active and hasattr(c, "centre") and hasattr(c, "A")
            ]
            if len(peaks) != 2:
                raise ValueError(
                    f"segregation_map needs a model with exactly two peak components "
                    f"(A, centre), found {len(peaks)}: fit with n_peaks=2."
                )
            if tuple(model.axes_manager._navigation_shape_in_array) != shape:
                raise ValueError(
                    "The model's navigation shape differs from this signal's."
                )
            m1, m2 = (p.centre.map for p in peaks)
            a1, a2 = (p.A.map for p in peaks)
            is_set = m1["is_set"] & m2["is_set"]
            if min_separation is None:
                sig = [
                    p.sigma.map["values"] if hasattr(p, "sigma") else np.zeros(shape)
                    for p in peaks
                ]
                min_sep = np.maximum(sig[0], sig[1])
            else:
                min_sep = float(min_separation)
            seg, sep, sep_std, minor = halide.segregation_from_two_peaks(
                m1["values"],
                m1["std"],
                a1["values"],
                a1["std"],
                m2["values"],
                m2["std"],
                a2["values"],
                a2["std"],
                min_separation=0.0,
                n_sigma=n_sigma,
                min_fraction=min_fraction,
            )
            seg &= sep > min_sep
            seg &= is_set
            unit = model.axes_manager.signal_axes[0].units
            info = {
                "method": "two_peak_fit",
                "min_separation": "max fitted sigma"
                if min_separation is None
                else float(min_separation),
                "n_sigma": float(n_sigma),
                "min_fraction": float(min_fraction),
            }
            second, second_std, second_name = sep, sep_std, "Peak separation"
        else:
            values, std, is_set, unit = _as_map(centre, shape, "centre")
            if centre_std is not None:
                std = _std_override(centre_std, shape, "centre_std")
            if std is None:
                std = np.zeros(shape)
            if is_set is not None:
                values = np.where(is_set, values, np.nan)
            if reference is None:
                if not np.isfinite(values).any():
                    raise ValueError("The centre map holds no finite value.")
                reference = float(np.nanmedian(values))
            seg, shift, shift_std = halide.segregation_from_shift(
                values,
                std,
                reference,
                reference_std,
                n_sigma=n_sigma,
                min_shift=min_shift,
            )
            info = {
                "method": "peak_shift",
                "reference": float(np.mean(reference)),
                "min_shift": float(min_shift),
                "n_sigma": float(n_sigma),
            }
            second, second_std, second_name = shift, shift_std, "Peak shift"
        seg = np.asarray(seg, bool)
        s = self._map_signal(seg, "Halide segregation", "Segregated", lazy_output=False)
        finite = np.isfinite(second)
        if is_set is not None:
            finite &= is_set
        info["fraction_segregated"] = float(seg.sum() / max(1, finite.sum()))
        info["n_segregated"] = int(seg.sum())
        s.metadata.set_item(f"{PROCESSING}.Segregation", info)
        lazy_output = self._lazy_output(lazy_output)
        if not return_separation:
            return s.as_lazy() if lazy_output else s
        d = self._map_signal(
            second, second_name, second_name, unit or None, lazy_output=False
        )
        d.metadata.set_item(
            "Signal.Noise_properties.variance", d._deepcopy_with_new_data(second_std**2)
        )
        if lazy_output:
            return s.as_lazy(), d.as_lazy()
        return s, d

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


def _param_name(parameter):
    name = getattr(parameter, "name", None)
    if isinstance(name, str) and name:
        return name
    title = getattr(
        getattr(getattr(parameter, "metadata", None), "General", None), "title", None
    )
    return title or "Parameter"


def edge_vs_core_figure(
    cl, parameter, haadf=None, mask=None, parameter_label=None, fig=None, **kwargs
):
    """The edge-versus-core figure (Li et al., Nat. Commun. 14, 7612 (2023), Fig. 2c, 2f): three panels.

    1. HAADF image (or mask) with the particle outlines found on the CL grid.
    2. The parameter map (e.g. fitted sigma) with the same outlines.
    3. Mean +/- standard error of the parameter versus distance to the
       particle edge, with the edge-versus-core test result.

    Parameters
    ----------
    cl : CL signal with :class:`CLCorrelationMixin`
        The CL map (gives the grid).
    parameter : Parameter, signal or numpy.ndarray
        The parameter map.
    haadf, mask
        See :meth:`CLCorrelationMixin.particle_labels`.
    parameter_label : str, optional
        Axis label of the parameter (default its name and unit).
    fig : matplotlib.figure.Figure, optional
        Figure to draw into (a new one by default).
    **kwargs
        Passed to :meth:`CLCorrelationMixin.edge_profile` (``bins``,
        ``edge_width``, ``valid``, ``alpha``...).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from hyperspy_perovskite.data.cl_simulation import simulate_cl_map
    >>> from hyperspy_perovskite.signals._cl_correlation import edge_vs_core_figure
    >>> haadf, cl, truth = simulate_cl_map(shape=(24, 24), n_channels=32, seed=1)
    >>> fig = edge_vs_core_figure(cl, truth["sigma"], haadf=haadf, parameter_label="sigma (nm)")
    >>> fig.axes[2].get_xlabel()
    'Distance to particle edge (nm)'
    """
    import matplotlib.pyplot as plt

    shape = cl._nav_shape()
    values, _, is_set, units = _as_map(parameter, shape, "parameter")
    if is_set is not None:
        values = np.where(is_set, values, np.nan)
    prof = cl.edge_profile(
        parameter, haadf=haadf, mask=mask, lazy_output=False, **kwargs
    )
    labels = _to_numpy(
        cl.particle_labels(haadf=haadf, mask=mask, lazy_output=False).data
    )
    cy, cx, dunits, _ = cl._cl_nav_grid()
    du = dunits or "px"
    extent = [
        cx[0] - 0.5 * (cx[1] - cx[0]),
        cx[-1] + 0.5 * (cx[1] - cx[0]),
        cy[-1] + 0.5 * (cy[1] - cy[0]),
        cy[0] - 0.5 * (cy[1] - cy[0]),
    ]
    label = parameter_label or (
        _param_name(parameter) + (f" ({units})" if units else "")
    )
    if fig is None:
        fig = plt.figure(figsize=(12, 3.8))
    ax0, ax1, ax2 = fig.subplots(1, 3)
    if haadf is not None and hasattr(haadf, "axes_manager"):
        sx, sy = haadf.axes_manager.signal_axes
        (gy, gx), _ = _image_grid((sy, sx), "HAADF image")
        hext = [
            gx[0] - 0.5 * (gx[1] - gx[0]),
            gx[-1] + 0.5 * (gx[1] - gx[0]),
            gy[-1] + 0.5 * (gy[1] - gy[0]),
            gy[0] - 0.5 * (gy[1] - gy[0]),
        ]
        ax0.imshow(_to_numpy(haadf.data), cmap="gray", extent=hext)
        ax0.set_title("HAADF")
    else:
        img = (
            haadf
            if haadf is not None
            else (mask.data if hasattr(mask, "data") else mask)
        )
        ax0.imshow(_to_numpy(img), cmap="gray", extent=extent)
        ax0.set_title("HAADF" if haadf is not None else "Particle mask")
    for ax in (ax0, ax1):
        ax.contour(
            cx,
            cy,
            (labels > 0).astype(float),
            levels=[0.5],
            colors="tab:orange",
            linewidths=0.8,
        )
        ax.set_xlabel(f"x ({du})")
        ax.set_ylabel(f"y ({du})")
    im = ax1.imshow(np.where(labels > 0, values, np.nan), extent=extent, cmap="viridis")
    fig.colorbar(im, ax=ax1, label=label)
    ax1.set_title(label)
    x = prof.axes_manager.signal_axes[0].axis
    var = prof.metadata.Signal.Noise_properties.variance
    ax2.errorbar(
        x, _to_numpy(prof.data), yerr=np.sqrt(_to_numpy(var.data)), fmt="o-", capsize=3
    )
    ax2.set_xlabel(f"Distance to particle edge ({du})")
    ax2.set_ylabel(label)
    t = prof.metadata.Processing.Edge_profile.test
    ax2.axvline(t.edge_width, color="0.6", ls="--", lw=0.8)
    ax2.set_title(
        f"edge - core = {t.difference:.3g} +/- {t.difference_sem:.2g}\n"
        f"p = {t.p_value:.2g} ({t.test}), "
        + ("significant" if t.significant else "not significant"),
        fontsize=9,
    )
    fig.tight_layout()
    return fig
