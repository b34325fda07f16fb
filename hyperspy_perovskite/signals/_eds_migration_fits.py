"""Migration fits of ``EDS_TEM_biased`` maps and series.

A mixin of :class:`~hyperspy_perovskite.signals.eds_biased.EDSTEMBiasedSpectrum`:
the element profile from a named interface across a named layer, fitted by
:func:`~hyperspy_perovskite.signals.migration_fit.fit_migration_profile`
(steady-state accumulation, or the drift-diffusion transient of a series).
"""

from __future__ import annotations

import numpy as np

from hyperspy_perovskite.analysis import migration as mig
from hyperspy_perovskite.units import parse_quantity, same_dimension
from hyperspy_perovskite.units_arguments import parse_range

__all__ = ["MigrationFitsMixin"]


def _fit_inputs(field, temperature, signal_range):
    """``field`` (V/m or None), ``temperature`` (K), ``signal_range`` (nm)."""
    if field is not None:
        field = parse_quantity(field, "V/m", name="field")
    temperature = parse_quantity(temperature, "K", name="temperature")
    signal_range = parse_range(signal_range, "nm", name="signal_range")
    return field, temperature, signal_range


class MigrationFitsMixin:
    """Drift-diffusion fits of element profiles (see module docstring)."""

    def _wall_profile(self, xray_line, interface, layer, width, bin_size, series):
        """Profile of ``xray_line`` from ``interface``, the extent of ``layer``
        on it (nm) and the side of the wall the layer lies on."""
        geom = self.get_device_geometry()
        if layer not in geom.layers:
            raise ValueError(f"Unknown layer {layer!r}; have {geom.layers}.")
        if series:
            prof = self._series_profile(xray_line, width, bin_size, interface, False)[0]
        else:
            prof = self.get_element_profiles(
                [xray_line],
                width=width,
                bin_size=bin_size,
                reference=interface,
                background=False,
                check_overlaps=True,
                lazy_output=False,
            )[0]
        lo, hi = self._layer_range(prof, layer)
        try:
            side = mig.wall_side(lo, hi)
        except ValueError:
            raise ValueError(
                f"The interface {interface!r} is not a boundary of layer {layer!r}."
            ) from None
        return prof, lo, hi, side

    def _layer_field(self, field, lo, hi):
        """``field`` (V/m), or the bias voltage over the layer thickness."""
        if field is None:
            bias = self.bias_condition
            if bias["voltage"] is None:
                raise ValueError("No voltage in the bias condition: give field= (V/m).")
            field = mig.layer_field(bias["voltage"], lo, hi)
        return field

    def fit_accumulation(
        self,
        xray_line,
        interface,
        layer,
        field=None,
        temperature=300.0,
        width=None,
        bin_size=None,
        method="fast",
        signal_range=None,
        show_progressbar=None,
    ):
        """Fit the steady-state accumulation of an ion at a blocking interface.

        Builds the element profile (raw window counts: Poisson, the
        bremsstrahlung under the line is the fitted ``Offset``) of every
        series entry, takes the wall and the fitted range from the device
        geometry (the bins fully inside ``layer``), and fits MIGRATION's
        :class:`~hyperspy_perovskite.components.DriftDiffusionAccumulation`
        through :func:`hyperspy_perovskite.signals.migration_fit.fit_migration_profile`
        (:func:`~hyperspy_perovskite.fitting.fast_multifit`).

        Parameters
        ----------
        xray_line : str
            e.g. ``"I_La"``.
        interface : str
            The blocking interface (the wall), a name of the geometry.
        layer : str
            The layer the ions are in (adjacent to ``interface``).
        field : float or str, optional
            Field in the layer for ``D / mu = lambda E`` and the Einstein
            check: a number is in V/m, or a string or quantity with a unit
            (``"2 V/um"``). Default: the bias condition's voltage over the
            layer thickness (an upper bound: part of the bias drops at the
            contacts).
        temperature : float or str
            A number is in K, or ``"25 degC"``.
        width, bin_size
            See :meth:`get_element_profiles`.
        method : {"fast", "multifit"}
            Fitting engine.
        signal_range : (float, float), optional
            Fitted range from ``interface``, clipped to the layer: e.g.
            drop the bins next to the wall blurred by the probe. Numbers in
            nm, or strings or quantities with a unit (``("20 nm", "0.2 um")``).
        show_progressbar : bool, optional

        Returns
        -------
        MigrationFit
            See :func:`~hyperspy_perovskite.signals.migration_fit.fit_migration_profile`
            (``decay_length`` nm, ``D_over_mu`` V, ``einstein_ratio``).
        """
        from hyperspy_perovskite.signals.migration_fit import fit_migration_profile

        field, temperature, signal_range = _fit_inputs(field, temperature, signal_range)
        prof, lo, hi, side = self._wall_profile(
            xray_line, interface, layer, width, bin_size, series=False
        )
        bin_width = prof.axes_manager.signal_axes[0].scale
        rng = mig.wall_fit_range(lo, hi, bin_width, signal_range)
        field = self._layer_field(field, lo, hi)
        return fit_migration_profile(
            prof,
            "steady",
            wall=0.0,
            side=side,
            field=field,
            temperature=temperature,
            signal_range=rng,
            method=method,
            show_progressbar=show_progressbar,
        )

    def fit_migration_transient(
        self,
        xray_line,
        interface,
        layer,
        field=None,
        temperature=300.0,
        width=None,
        bin_size=None,
        method="fast",
        signal_range=None,
        show_progressbar=None,
    ):
        """Fit D and the mobility of an ion from the frames of a bias series.

        Builds the element profile of every series entry (raw window counts:
        Poisson; the immobile part and the bremsstrahlung are the fitted
        ``Offset``) and fits the exact closed-layer drift-diffusion transient
        of :class:`~hyperspy_perovskite.components.DriftDiffusionTransient`
        over ``layer`` (both of its interfaces block the ions), each frame
        with its own bias time from the series axis, through
        :func:`hyperspy_perovskite.signals.migration_fit.fit_migration_profile`
        (:func:`~hyperspy_perovskite.fitting.fast_multifit`). Only frames
        taken before the depletion front crosses the layer (``t`` below
        about ``L / (mu E)``) determine ``D`` and ``mu`` separately; later
        frames give ``lambda`` only (their ``D`` and ``mu`` are NaN), the
        pristine frame (t = 0) is not fitted.

        Parameters
        ----------
        xray_line : str
            e.g. ``"I_La"``.
        interface : str
            The blocking interface the ions drift to (a geometry name).
        layer : str
            The layer the ions are in (bounded by ``interface``).
        field : float or str, optional
            Field in the layer: a number is in V/m, or ``"2 V/um"``. Default: the bias condition's voltage
            over the layer thickness (an upper bound: part of the bias drops
            at the contacts, so ``mu`` is then a lower bound).
        temperature : float or str
            A number is in K, or ``"25 degC"``.
        width, bin_size
            See :meth:`get_element_profiles`.
        method : {"fast", "multifit"}
        signal_range : (float, float), optional
            Fitted range from ``interface``, clipped to the layer: numbers in
            nm, or strings or quantities with a unit.
        show_progressbar : bool, optional

        Returns
        -------
        MigrationFit
            Per frame ``D`` (m^2/s), ``mobility`` (m^2/(V s)),
            ``decay_length`` (nm), ``einstein_ratio``,
            ``transient_significance``; ``fit.combined("D")`` averages the
            frames.
        """
        from hyperspy_perovskite.signals.migration_fit import fit_migration_profile

        field, temperature, signal_range = _fit_inputs(field, temperature, signal_range)
        prof, lo, hi, side = self._wall_profile(
            xray_line, interface, layer, width, bin_size, series=True
        )
        times = self.metadata.get_item("Device.Series.times")
        time_axes = [
            ax
            for ax in prof.axes_manager.navigation_axes
            if same_dimension(str(ax.units), "s")
        ]
        if times is None and len(time_axes) != 1:
            raise ValueError(
                "The series has no bias times: give the maps a navigation axis "
                "in s (stack_bias_series) to fit the transient."
            )
        field = self._layer_field(field, lo, hi)
        return fit_migration_profile(
            prof,
            "transient",
            wall=0.0,
            side=side,
            field=field,
            time=None if len(time_axes) == 1 else np.asarray(times, dtype=float),
            temperature=temperature,
            thickness=hi - lo,
            signal_range=signal_range,
            method=method,
            show_progressbar=show_progressbar,
        )
