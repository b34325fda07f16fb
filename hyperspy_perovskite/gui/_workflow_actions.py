"""Actions of the hyperspyUI plugin for the EDX, SAED and stimulus workflows,
and the regions of interest drawn on figures (a mixin of
:class:`~hyperspy_perovskite.gui.hyperspyui_plugin.PerovskitePlugin`)."""

from hyperspy_perovskite.gui.dialogs import (
    EDXProfilesDialog,
    MigrationFitDialog,
    SAEDFamiliesDialog,
)

__all__ = ["WorkflowActions"]


class WorkflowActions:
    """Stimulus overlay, EDX profiles, SAED families, ROIs on figures."""

    # ---------------------------------------------------------------- types
    @staticmethod
    def _eds_classes():
        from hyperspy_perovskite.signals.eds_biased import EDSTEMBiasedSpectrum

        return (EDSTEMBiasedSpectrum,)

    @staticmethod
    def _saed_classes():
        from hyperspy_perovskite.signals.insitu_diffraction import InSituSAEDSeries

        return (InSituSAEDSeries,)

    @staticmethod
    def _has_stimulus(sw):
        from hyperspy_perovskite.stimulus.schema import has_record

        try:
            return sw is not None and has_record(sw.signal)
        except (TypeError, ValueError):
            return False

    # ------------------------------------------------------------ ROIs
    def _plotted(self, signal):
        """The signal's figure (plotted and added to the UI if needed)."""
        if signal._plot is None or not signal._plot.is_active:
            self.add_signal(signal)
        return signal._plot

    def add_image_roi(self, signal=None):
        """Draw a rectangle on the selected series' image (half its size).

        Move and resize it with the mouse; :meth:`fringe_intensity` with
        ``roi=`` uses it. Returns the ``RectangularROI`` (axis units).
        """
        from hyperspy.roi import RectangularROI

        from hyperspy_perovskite.gui.hyperspyui_plugin import _insitu_classes

        signal = self._selected_signal(
            signal, _insitu_classes, "an insitu_image_series signal"
        )
        self._plotted(signal)
        ax_x, ax_y = signal.axes_manager.signal_axes
        x0, x1 = ax_x.axis[0], ax_x.axis[-1]
        y0, y1 = ax_y.axis[0], ax_y.axis[-1]
        # half the frame: fringe power needs windows of >= 32 px
        wx, wy = (x1 - x0) / 2, (y1 - y0) / 2
        n = len(getattr(self, "_rois", []))
        cx = x0 + (0.75 + 0.5 * (n % 2)) * wx
        cy = y0 + (0.75 + 0.5 * ((n // 2) % 2)) * wy
        roi = RectangularROI(cx - wx / 2, cy - wy / 2, cx + wx / 2, cy + wy / 2)
        roi.add_widget(signal, axes=signal.axes_manager.signal_axes)
        self._rois = [*getattr(self, "_rois", []), roi]
        return roi

    def add_map_line(self, signal=None):
        """Draw a line across the selected EDX map's navigator (a Line2DROI).

        Drag its ends onto the stack; :meth:`edx_profiles` takes its end
        points and width.
        """
        from hyperspy.roi import Line2DROI

        signal = self._selected_signal(
            signal, self._eds_classes, "an EDS_TEM_biased signal"
        )
        self._plotted(signal)
        ax_x, ax_y = signal.axes_manager.navigation_axes[:2]
        ym = ax_y.axis[len(ax_y.axis) // 2]
        roi = Line2DROI(ax_x.axis[0], ym, ax_x.axis[-1], ym, linewidth=0)
        roi.add_widget(signal, axes=signal.axes_manager.navigation_axes[:2])
        return roi

    # ------------------------------------------------------ stimulus overlay
    def stimulus_overlay(self, signal=None):
        """Plot the selected signal against its stimulus record.

        A time trace (signal axis in time, e.g. a fringe power) is drawn with
        the stimulus channels on a second axis; for a series (time on the
        navigation axis) the stimulus channels are drawn on the frame times.

        Returns
        -------
        matplotlib.figure.Figure
        """
        import matplotlib.pyplot as plt

        from hyperspy_perovskite.stimulus.plot import plot_with_stimulus
        from hyperspy_perovskite.stimulus.record import stimulus_channels

        if signal is None:
            signal = self.ui.get_selected_signal()
        if signal is None or not self._has_stimulus(
            self._wrapper(signal) or _Fake(signal)
        ):
            raise ValueError(
                "Select a signal that carries a stimulus log (use Attach stimulus "
                "log on the series first)."
            )
        fig, ax = plt.subplots(figsize=(7, 4))
        title = signal.metadata.General.title or "signal"
        if signal.axes_manager.signal_dimension == 1:
            plot_with_stimulus(signal, ax=ax)
        else:
            from hyperspy_perovskite.report.figures import axis_label, si_scale

            for name, ch in stimulus_channels(signal).items():
                q = ch.metadata.get_item("Signal.quantity", "")
                unit = q[q.find("(") + 1 : q.rfind(")")] if "(" in q else ""
                factor, u = si_scale(ch.data, unit) if unit else (1.0, unit)
                ax.plot(
                    ch.axes_manager.signal_axes[0].axis,
                    ch.data * factor,
                    label=axis_label(name.replace("_", " "), u, current=True),
                )
            ax.set_xlabel("frame time (s)")
            ax.set_ylabel("stimulus")
            ax.legend(fontsize=8)
        ax.set_title(f"{title}: stimulus")
        fig.tight_layout()
        fig.canvas.draw_idle()
        self.record_code("<p>.stimulus_overlay()")
        return fig

    def _on_stimulus_overlay(self):
        self._guarded("Stimulus overlay", self.stimulus_overlay)

    # ---------------------------------------------------------- EDX profiles
    def _prepare_edx_profiles(
        self, start, end, width=None, xray_lines=None, signal=None, **kwargs
    ):
        signal = self._selected_signal(
            signal, self._eds_classes, "an EDS_TEM_biased signal"
        )
        signal.set_device_geometry(start, end, width=width)
        kwargs.setdefault("show_progressbar", False)

        def work():
            return signal.get_element_profiles(xray_lines, **kwargs)

        def deliver(profiles):
            profiles = profiles if isinstance(profiles, list) else [profiles]
            t = signal.metadata.General.title or "EDX"
            for prof in profiles:
                line = prof.metadata.get_item("Sample.xray_lines", ["?"])[0]
                prof.metadata.General.title = f"{t}: {line} profile"
                self.add_signal(prof)
            self.record_code(
                f"<p>.edx_profiles({tuple(start)!r}, {tuple(end)!r}, width={width!r}, "
                f"xray_lines={xray_lines!r})"
            )
            return profiles

        return work, deliver

    def edx_profiles(
        self, start, end, width=None, xray_lines=None, signal=None, **kwargs
    ):
        """Element profiles along a stack line of an ``EDS_TEM_biased`` map.

        Sets the device geometry (``start``/``end`` points and band
        ``width`` in the map's axis unit) and adds one profile per X-ray line,
        with Poisson errors, to the UI.

        Returns
        -------
        list of hyperspy signals
        """
        return self._run_now(
            *self._prepare_edx_profiles(start, end, width, xray_lines, signal, **kwargs)
        )

    def _on_edx_profiles(self):
        sig = self._guarded(
            "EDX profiles",
            self._selected_signal,
            None,
            self._eds_classes,
            "an EDS_TEM_biased signal",
        )
        if sig is None:
            return
        unit = sig.axes_manager.navigation_axes[0].units
        lines = ", ".join(sig.metadata.get_item("Sample.xray_lines", []))
        dialog = EDXProfilesDialog(unit, lines, self.ui)
        dialog.on_pick_line = lambda: self._guarded(
            "EDX profiles", self.add_map_line, sig
        )
        self._open(dialog, "EDX profiles", self._prepare_edx_profiles)

    # --------------------------------------------------------- migration fit
    def _prepare_migration_fit(
        self, xray_line, interface, layer, field=None, signal=None
    ):
        signal = self._selected_signal(
            signal, self._eds_classes, "an EDS_TEM_biased signal"
        )

        def work():
            return signal.fit_accumulation(
                xray_line, interface, layer, field=field, show_progressbar=False
            )

        def deliver(fit):
            from hyperspy_perovskite.results import ResultTable

            names = ("decay_length", "D_over_mu", "einstein_ratio")
            table = ResultTable(
                {n: [float(v) for v in fit[n].value] for n in names},
                units={"decay_length": "nm", "D_over_mu": "V", "einstein_ratio": ""},
                std={n: [float(v) for v in fit[n].std] for n in names},
                title=f"{xray_line} accumulation at {interface}",
            )
            self.show_table(table, "Ion migration fit")
            self.record_code(
                f"<p>.migration_fit({xray_line!r}, {interface!r}, {layer!r}, "
                f"field={field!r})"
            )
            return fit

        return work, deliver

    def migration_fit(self, xray_line, interface, layer, field=None, signal=None):
        """Steady-state accumulation fit (decay length, D/mu, Einstein ratio).

        Needs the device geometry (set by EDX profiles or
        ``set_device_geometry``); the results are shown as a table with std.
        """
        return self._run_now(
            *self._prepare_migration_fit(xray_line, interface, layer, field, signal)
        )

    def _on_migration_fit(self):
        sig = self._guarded(
            "Ion migration fit", self._selected_signal, None, self._eds_classes,
            "an EDS_TEM_biased signal",
        )  # fmt: skip
        if sig is None:
            return
        geometry = sig.metadata.get_item("Device.Geometry")
        names = list(geometry.interface_names) if geometry is not None else []
        layers = list(geometry.layers) if geometry is not None else []
        lines = sig.metadata.get_item("Sample.xray_lines", [])
        dialog = MigrationFitDialog(lines, names, layers, self.ui)
        self._open(dialog, "Ion migration fit", self._prepare_migration_fit)

    # --------------------------------------------------------- SAED families
    def _prepare_saed_families(self, signal=None, **kwargs):
        signal = self._selected_signal(
            signal, self._saed_classes, "an insitu_SAED_series signal"
        )
        kwargs.setdefault("show_progressbar", False)

        def work():
            out = signal.hkl_intensities(**kwargs)
            if out._lazy:
                out.compute(show_progressbar=False)
            return out

        def deliver(out):
            t = signal.metadata.General.title or "SAED"
            out.metadata.General.title = f"{t}: {{hkl}} intensities"
            self.add_signal(out)
            shown = {k: v for k, v in kwargs.items() if k != "show_progressbar"}
            self.record_code(f"<p>.saed_families({_kw(shown)})")
            return out

        return work, deliver

    def saed_families(self, signal=None, **kwargs):
        """{hkl} family intensities vs time of an SAED series, added to the UI.

        ``kwargs`` are those of ``hkl_intensities`` (``families``, ``halo``,
        ``poisson``, ``phase``, ...).
        """
        return self._run_now(*self._prepare_saed_families(signal, **kwargs))

    def _on_saed_families(self):
        self._open(
            SAEDFamiliesDialog(self.ui), "SAED families", self._prepare_saed_families
        )


class _Fake:
    def __init__(self, signal):
        self.signal = signal


def _kw(kwargs):
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
