"""Migration between states / along time for ``EDS_TEM_biased`` series.

A mixin of :class:`~hyperspy_perovskite.signals.eds_biased.EDSTEMBiasedSpectrum`:
thin methods that take element profiles of a series (pristine / biased /
recovered, or operando frames: the navigation axes after x and y) and call
the array functions of :mod:`hyperspy_perovskite.analysis.migration`, which
propagate the Poisson variances. “Imaging real-time amorphization of hybrid perovskite solar cells under electrical biasing” (Fig. S12:
iodine accumulates at the cathode after 1 V) and Nature (2026), doi:10.1038/s41586-026-10238-8
(Cl reaches the Al cathode) are the use cases.
"""

from __future__ import annotations

import numpy as np
from hyperspy.signals import Signal1D, Signal2D

from hyperspy_perovskite.analysis import migration as mig
from hyperspy_perovskite.signals._base import as_requested, resolve_options
from hyperspy_perovskite.signals._eds_geometry import options_doc
from hyperspy_perovskite.units import parse_quantity

__all__ = ["MigrationMixin"]


def _computed(a):
    return np.asarray(a.compute() if hasattr(a, "compute") else a, dtype=float)


class MigrationMixin:
    """Migration metrics of a series of maps (see module docstring)."""

    def _series_profile(
        self, xray_line, width, bin_size, reference, background, options=None
    ):
        if self.axes_manager.navigation_dimension < 3:
            raise ValueError(
                "Migration metrics need a series: a map with a time/state "
                "navigation axis after x and y (stack maps with "
                "stack_bias_series)."
            )
        if not isinstance(xray_line, str):
            raise TypeError("Give one X-ray line, e.g. 'I_La'.")
        prof = self.get_element_profiles(
            [xray_line],
            width=width,
            bin_size=bin_size,
            reference=reference,
            background=background,
            check_overlaps=True,
            lazy_output=False,
            show_progressbar=None if options is None else options.show_progressbar,
            num_workers=None if options is None else options.num_workers,
        )[0]
        x = prof.axes_manager.signal_axes[0].axis.astype(float)
        p = _computed(prof.data)
        v = _computed(prof.metadata.Signal.Noise_properties.variance.data)
        return prof, x, p.reshape((-1, x.size)), v.reshape((-1, x.size))

    def _interface_in_profile(self, prof, name):
        geom = self.get_device_geometry()
        if name not in geom.interface_names:
            raise ValueError(
                f"Unknown interface {name!r}; the geometry has "
                f"{geom.interface_names or 'no interfaces'}."
            )
        ref = prof.metadata.Device.Profile.reference
        ref_pos = 0.0 if ref == "start" else geom.interface(ref)
        return geom.interface(name) - ref_pos

    def _layer_range(self, prof, layer):
        if layer is None:
            return None
        if not isinstance(layer, str):
            return tuple(parse_quantity(v, "nm", name="layer") for v in layer)
        geom = self.get_device_geometry()
        if layer not in geom.layers:
            raise ValueError(f"Unknown layer {layer!r}; have {geom.layers}.")
        i = geom.layers.index(layer)
        names = geom.interface_names
        x = prof.axes_manager.signal_axes[0].axis
        lo = self._interface_in_profile(prof, names[i - 1]) if i > 0 else x[0]
        hi = self._interface_in_profile(prof, names[i]) if i < len(names) else x[-1]
        return (lo, hi)

    def _series_axis_signal(self, values, variances, title, units):
        """Wrap one value per series entry as a Signal1D over the series axis."""
        nav = self.axes_manager.navigation_axes[2:]
        values = np.asarray(values, dtype=float).reshape(
            tuple(a.size for a in nav[::-1])
        )
        variances = np.asarray(variances, dtype=float).reshape(values.shape)
        axes = [a.get_axis_dictionary() for a in nav[::-1]]
        for a in axes[:-1]:
            a["navigate"] = True
        axes[-1]["navigate"] = False
        out = Signal1D(values, axes=axes)
        var = Signal1D(variances, axes=[dict(a) for a in axes])
        out.metadata.General.title = title
        out.metadata.Signal.quantity = units
        out.metadata.set_item("Signal.Noise_properties.variance", var)
        for node in ("Device", "Stimulus"):
            if self.metadata.has_item(node):
                out.metadata.set_item(node, self.metadata.get_item(node).deepcopy())
        return out

    @options_doc()
    def get_difference_profile(
        self,
        xray_line,
        state_a=0,
        state_b=-1,
        normalize=True,
        width=None,
        bin_size=None,
        reference=None,
        background=True,
        show_progressbar=None,
        lazy_output=None,
        num_workers=None,
    ):
        """Difference of an element profile between two series entries.

        ``b - a`` of the (normalised) profiles with propagated variance
        (:func:`~hyperspy_perovskite.analysis.migration.difference_profile`).

        Parameters
        ----------
        xray_line : str
            e.g. ``"I_La"``.
        state_a, state_b : int
            Series indices (default first and last: pristine -> biased).
        normalize : bool
            Compare fractions per bin (removes dose differences).
        width, bin_size, reference, background
            See :meth:`get_element_profiles`.

        %(options)s

        Returns
        -------
        hyperspy.signals.Signal1D
            Over the distance (nm) from the reference interface, with
            ``metadata.Signal.Noise_properties.variance``.

        Examples
        --------
        >>> from hyperspy_perovskite.data.device_simulation import simulate_device_eds
        >>> s, truth = simulate_device_eds(shape=(8, 32), pixel_size=16.0,
        ...                                times=[0, 300])
        >>> d = s.get_difference_profile("Pb_La")
        >>> d.axes_manager.signal_axes[0].units
        'nm'
        """
        opts = resolve_options(
            self,
            lazy_output=lazy_output,
            show_progressbar=show_progressbar,
            num_workers=num_workers,
        )
        prof, x, p, v = self._series_profile(
            xray_line, width, bin_size, reference, background, opts
        )
        n = p.shape[0]
        for k in (state_a, state_b):
            if not -n <= int(k) < n:
                raise ValueError(f"State index {k} is outside the {n} series entries.")
        d, dv = mig.difference_profile(
            p[int(state_a)],
            p[int(state_b)],
            v[int(state_a)],
            v[int(state_b)],
            normalize,
        )
        ax = prof.axes_manager.signal_axes[0].get_axis_dictionary()
        out = Signal1D(np.asarray(d), axes=[ax])
        out.metadata.set_item(
            "Signal.Noise_properties.variance",
            Signal1D(np.asarray(dv), axes=[dict(ax)]),
        )
        out.metadata.General.title = f"{xray_line} difference ({state_b} - {state_a})"
        out.metadata.Signal.quantity = (
            "fraction per bin" if normalize else "X-ray counts"
        )
        out.metadata.set_item("Device", prof.metadata.Device.deepcopy())
        return as_requested(out, opts)

    @options_doc()
    def get_accumulated_fraction(
        self,
        xray_line,
        interface,
        distance,
        side="right",
        layer=None,
        width=None,
        bin_size=None,
        background=True,
        show_progressbar=None,
        lazy_output=None,
        num_workers=None,
    ):
        """Fraction of an element within ``distance`` of a named interface.

        For each series entry (:func:`~hyperspy_perovskite.analysis.migration.accumulated_fraction`):
        e.g. iodide within 30 nm of the cathode-side interface before and
        after bias (“Imaging real-time amorphization of hybrid perovskite solar cells under electrical biasing”, Fig. S12).

        Parameters
        ----------
        xray_line : str
        interface : str
            Interface name of the device geometry.
        distance : float or str
            A number is in nm, or a length with its unit (``"0.03 um"``).
        side : {"right", "left", "both"}
            Side of the interface (along the stack) that is counted.
        layer : str or (float, float), optional
            Layer name (or range from the interface: numbers in nm, or
            strings with a unit) the fraction refers to; default the whole
            profile.
        width, bin_size, background
            See :meth:`get_element_profiles`.

        %(options)s

        Returns
        -------
        hyperspy.signals.Signal1D
            One fraction per series entry, over the series axis, with
            variance.
        """
        opts = resolve_options(
            self,
            lazy_output=lazy_output,
            show_progressbar=show_progressbar,
            num_workers=num_workers,
        )
        distance = parse_quantity(distance, "nm", name="distance")
        prof, x, p, v = self._series_profile(
            xray_line, width, bin_size, interface, background, opts
        )
        pos = self._interface_in_profile(prof, interface)
        rng = self._layer_range(prof, layer)
        f, fv = mig.accumulated_fraction(x, p, pos, distance, side, rng, v)
        out = self._series_axis_signal(
            f, fv, f"{xray_line} within {distance:g} nm of {interface}", "fraction"
        )
        out.metadata.set_item(
            "Device.Migration",
            {
                "interface": interface,
                "distance": float(distance),
                "side": side,
                "layer": str(layer),
                "xray_line": xray_line,
            },
        )
        return as_requested(out, opts)

    @options_doc()
    def get_centroid_shift(
        self,
        xray_line,
        reference_state=0,
        layer=None,
        width=None,
        bin_size=None,
        reference=None,
        background=True,
        show_progressbar=None,
        lazy_output=None,
        num_workers=None,
    ):
        """Shift of the element's centroid from the reference state (nm).

        :func:`~hyperspy_perovskite.analysis.migration.centroid_shift` for
        every series entry against ``reference_state``, optionally within
        a layer.

        Parameters
        ----------
        xray_line : str
        reference_state : int
            Index of the reference entry of the series (e.g. 0, pristine).
        layer : str or (float, float), optional
            Layer name (or nm range from ``reference``); default the whole
            profile.
        width, bin_size, reference, background
            See :meth:`get_element_profiles` (``width`` and ``bin_size`` in nm).

        %(options)s

        Returns
        -------
        hyperspy.signals.Signal1D
            Over the series axis, nm, with variance.
        """
        opts = resolve_options(
            self,
            lazy_output=lazy_output,
            show_progressbar=show_progressbar,
            num_workers=num_workers,
        )
        prof, x, p, v = self._series_profile(
            xray_line, width, bin_size, reference, background, opts
        )
        rng = self._layer_range(prof, layer)
        r = int(reference_state)
        if not -p.shape[0] <= r < p.shape[0]:
            raise ValueError(f"reference_state {r} is outside the series.")
        d, dv = mig.centroid_shift(x, p[r][None], p, v[r][None], v, rng)
        dv = np.where(np.arange(p.shape[0]) == r % p.shape[0], 0.0, dv)
        out = self._series_axis_signal(d, dv, f"{xray_line} centroid shift", "nm")
        return as_requested(out, opts)

    @options_doc()
    def get_kymograph(
        self,
        xray_line,
        reference_state=0,
        normalize=True,
        width=None,
        bin_size=None,
        reference=None,
        background=True,
        show_progressbar=None,
        lazy_output=None,
        num_workers=None,
    ):
        """Position x time map of the change of an element profile.

        :func:`~hyperspy_perovskite.analysis.migration.kymograph` of the
        series (one row per entry), minus the reference entry.

        Parameters
        ----------
        xray_line : str
        reference_state : int
            Index of the entry subtracted from every row.
        normalize : bool
            Normalise each profile to its total first (fraction per bin).
        width, bin_size, reference, background
            See :meth:`get_element_profiles` (``width`` and ``bin_size`` in nm).

        %(options)s

        Returns
        -------
        hyperspy.signals.Signal2D
            Signal axes: distance (nm) and the series axis; with variance.
        """
        opts = resolve_options(
            self,
            lazy_output=lazy_output,
            show_progressbar=show_progressbar,
            num_workers=num_workers,
        )
        if self.axes_manager.navigation_dimension != 3:
            raise ValueError("A kymograph needs exactly one series axis.")
        prof, x, p, v = self._series_profile(
            xray_line, width, bin_size, reference, background, opts
        )
        k, kv = mig.kymograph(p, v, reference_state, normalize)
        t_ax = self.axes_manager.navigation_axes[2].get_axis_dictionary()
        x_ax = prof.axes_manager.signal_axes[0].get_axis_dictionary()
        for a in (t_ax, x_ax):
            a["navigate"] = False
        out = Signal2D(np.asarray(k), axes=[t_ax, x_ax])
        out.metadata.set_item(
            "Signal.Noise_properties.variance",
            Signal2D(np.asarray(kv), axes=[dict(t_ax), dict(x_ax)]),
        )
        out.metadata.General.title = f"{xray_line} kymograph"
        out.metadata.Signal.quantity = (
            "fraction per bin" if normalize else "X-ray counts"
        )
        return as_requested(out, opts)

    @options_doc()
    def get_contact_uptake(
        self,
        xray_line,
        interface,
        metal_side="right",
        depth=None,
        background_state=None,
        width=None,
        bin_size=None,
        background=True,
        show_progressbar=None,
        lazy_output=None,
        num_workers=None,
    ):
        """Halide that crossed into a metal contact (Cl at Al, Nature (2026), doi:10.1038/s41586-026-10238-8).

        :func:`~hyperspy_perovskite.analysis.migration.contact_uptake` for
        each series entry. With ``background_state`` (e.g. 0, pristine), the
        mean counts per bin inside the contact in that state are subtracted.

        Parameters
        ----------
        xray_line : str
        interface : str
            The perovskite/contact interface of the device geometry.
        metal_side : {"right", "left"}
            Side of ``interface`` (along the stack) where the contact is.
        depth : float or str, optional
            Depth into the contact counted: a number is in nm, or a length
            with its unit (``"50 nm"``); default the whole contact.
        background_state : int, optional
            Series entry whose mean counts per bin in the contact are
            subtracted.
        width, bin_size, background
            See :meth:`get_element_profiles` (``width`` and ``bin_size`` in nm).

        %(options)s

        Returns
        -------
        dict
            ``uptake`` and ``fraction``: Signal1D over the series axis with
            variances.
        """
        opts = resolve_options(
            self,
            lazy_output=lazy_output,
            show_progressbar=show_progressbar,
            num_workers=num_workers,
        )
        if depth is not None:
            depth = parse_quantity(depth, "nm", name="depth")
        prof, x, p, v = self._series_profile(
            xray_line, width, bin_size, interface, background, opts
        )
        pos = self._interface_in_profile(prof, interface)
        bkg = bkg_var = 0.0
        if background_state is not None:
            k = int(background_state)
            bkg, bkg_var = mig.contact_background(x, p[k], pos, metal_side, depth, v[k])
        u, uv, f, fv = mig.contact_uptake(x, p, pos, metal_side, depth, bkg, bkg_var, v)
        return {
            "uptake": as_requested(
                self._series_axis_signal(
                    u,
                    uv,
                    f"{xray_line} in the contact beyond {interface}",
                    "X-ray counts",
                ),
                opts,
            ),
            "fraction": as_requested(
                self._series_axis_signal(
                    f, fv, f"{xray_line} fraction in the contact", "fraction"
                ),
                opts,
            ),
        }
