"""Actions of the hyperspyUI plugin for J-V curves, the SAED amorphous halo and
operando 4D-STEM (a mixin of
:class:`~hyperspy_perovskite.gui.hyperspyui_plugin.PerovskitePlugin`).

Each action runs in the background (progress window with Cancel) and adds its
results to the UI: signals to the Data View, tables in a window of their own.
The script forms (``jv_figures()``, ``saed_halo()``, ``virtual_images()``,
``operando_strain()``) run synchronously and raise on bad input.
"""

from qtpy import QtWidgets

__all__ = ["DeviceActions"]


class DeviceActions:
    """J-V figures of merit, SAED halo fraction, 4D-STEM virtual images and strain."""

    @staticmethod
    def _jv_classes():
        from hyperspy_perovskite.signals.jv import JVCurve

        return (JVCurve,)

    @staticmethod
    def _operando_classes():
        from hyperspy_perovskite.signals.operando_4dstem import Operando4DSTEM

        return (Operando4DSTEM,)

    def show_table(self, table, title):
        """Show a :class:`~hyperspy_perovskite.results.ResultTable` in a window."""
        box = QtWidgets.QDialog(self.ui)
        box.setWindowTitle(title)
        view = QtWidgets.QTextBrowser(box)
        view.setHtml(table._repr_html_())
        QtWidgets.QVBoxLayout(box).addWidget(view)
        box.resize(760, 260)
        box.table = table
        box.show()
        self._tables = [*getattr(self, "_tables", []), box]
        return box

    def _title(self, signal, default):
        return signal.metadata.General.title or default

    # -------------------------------------------------------------- J-V
    def _prepare_jv_figures(self, signal=None):
        signal = self._selected_signal(signal, self._jv_classes, "a JV_curve signal")

        def work():
            return signal.figures_of_merit(show_progressbar=False)

        def deliver(fom):
            table = fom.to_table(
                title=f"{self._title(signal, 'J-V')}: figures of merit"
            )
            self.show_table(table, "J-V figures of merit")
            self.record_code("<p>.jv_figures()")
            return table

        return work, deliver

    def jv_figures(self, signal=None):
        """Jsc, Voc, FF and PCE (with std) of the selected J-V curves, as a table."""
        return self._run_now(*self._prepare_jv_figures(signal))

    def _on_jv_figures(self):
        self._background("J-V figures of merit", self._prepare_jv_figures)

    # ------------------------------------------------------------ SAED halo
    def _prepare_saed_halo(self, signal=None):
        signal = self._selected_signal(
            signal, self._saed_classes, "an insitu_SAED_series signal"
        )

        def work():
            out = signal.amorphous_fraction(show_progressbar=False)
            if out._lazy:
                out.compute(show_progressbar=False)
            return out

        def deliver(out):
            out.metadata.General.title = f"{self._title(signal, 'SAED')}: halo fraction"
            self.add_signal(out)
            self.record_code("<p>.saed_halo()")
            return out

        return work, deliver

    def saed_halo(self, signal=None):
        """Amorphous-halo fraction vs time of an SAED series, added to the UI."""
        return self._run_now(*self._prepare_saed_halo(signal))

    def _on_saed_halo(self):
        self._background("SAED amorphous halo", self._prepare_saed_halo)

    # ------------------------------------------------------- 4D-STEM
    def _prepare_virtual_images(self, signal=None):
        signal = self._selected_signal(
            signal, self._operando_classes, "an operando_4DSTEM_perovskite signal"
        )

        def work():
            return signal.get_virtual_image_series(show_progressbar=False)

        def deliver(images):
            t = self._title(signal, "4D-STEM")
            for name, img in images.items():
                if img._lazy:
                    img.compute(show_progressbar=False)
                img.metadata.General.title = f"{t}: virtual {name}"
                self.add_signal(img)
            self.record_code("<p>.virtual_images()")
            return images

        return work, deliver

    def virtual_images(self, signal=None):
        """Virtual BF and ADF image series of an operando 4D-STEM series."""
        return self._run_now(*self._prepare_virtual_images(signal))

    def _on_virtual_images(self):
        self._background("4D-STEM virtual images", self._prepare_virtual_images)

    def _prepare_operando_strain(self, signal=None, **kwargs):
        signal = self._selected_signal(
            signal, self._operando_classes, "an operando_4DSTEM_perovskite signal"
        )
        kwargs.setdefault("show_progressbar", False)

        def work():
            return signal.analyse(**kwargs)

        def deliver(res):
            t = self._title(signal, "4D-STEM")
            strain = res.strain
            for name in ("exx", "eyy"):
                strain[name].metadata.General.title = f"{t}: strain {name}"
                self.add_signal(strain[name])
            self.show_table(res.interface_strain, "Interface strain vs time")
            self.record_code("<p>.operando_strain()")
            return res

        return work, deliver

    def operando_strain(self, signal=None, **kwargs):
        """Strain maps (NaN where invalid) and the interface strain table.

        ``kwargs`` are those of ``Operando4DSTEM.analyse`` (``reference``,
        ``phases``, ...). Returns the ``OperandoAnalysis``.
        """
        return self._run_now(*self._prepare_operando_strain(signal, **kwargs))

    def _on_operando_strain(self):
        self._background("4D-STEM strain", self._prepare_operando_strain)

    # ---------------------------------------------------------------- shared
    def _background(self, title, prepare):
        """Prepare on the UI thread (errors in a dialog), run in the background."""
        halves = self._guarded(title, prepare)
        if halves is None:
            return None
        return self.run_job(title, *halves)
