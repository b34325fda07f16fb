"""Electron dose of an SAED series (the image series' dose methods, adapted).

A diffraction pattern has no real-space pixels, so the dose cannot default
to "the frame area" as for an image: the dose rate comes from ``dose_rate``,
from ``beam_current`` over the ``illuminated_area`` (the area of the
illuminated disc on the sample, not the selected-area aperture), or from a
``dose_rate`` / ``beam_current`` channel of the stimulus record. Per-pixel
dose maps and regions belong to images (the sample is not imaged here).
"""

from __future__ import annotations

from hyperspy_perovskite.signals._insitu_common import DoseMixin
from hyperspy_perovskite.stimulus import record as _record

__all__ = ["SAEDDoseMixin"]


class SAEDDoseMixin:
    """Electron-dose method of an SAED series."""

    # the image series' helpers, used as they are
    _dose_inputs = DoseMixin._dose_inputs
    _dose_metadata = DoseMixin._dose_metadata
    _critical = DoseMixin._critical
    _region_masks = DoseMixin._region_masks
    _beam_profile = DoseMixin._beam_profile
    _region_flags = staticmethod(DoseMixin._region_flags)

    def _result_metadata(self, title, quantity):
        md = self.metadata.deepcopy().as_dictionary()
        md.setdefault("General", {})["title"] = title
        sig = md.setdefault("Signal", {})
        sig["quantity"] = quantity
        sig["signal_type"] = ""
        return md

    def _time_axis(self):
        self._check_series()
        return _record.frame_time_axis(self)

    def _pixel_size_angstrom(self):
        raise ValueError(
            "The dose of an SAED series cannot default to the frame area: the "
            "pattern is in reciprocal space (1/A). Give illuminated_area= (the "
            "illuminated disc on the sample, e.g. '0.8 um^2' or a number in "
            "A^2) with beam_current=, or dose_rate= (e/A^2/s)."
        )

    def electron_dose(
        self,
        dose_rate=None,
        beam_current=None,
        illuminated_area=None,
        exposure=None,
        critical_dose=None,
        material=None,
        cumulative=True,
        pre_dose="auto",
    ):
        """Electron fluence per frame or cumulative dose (e/A^2) of the series.

        As :meth:`InSituImageSeries.electron_dose
        <hyperspy_perovskite.signals.insitu_image.InSituImageSeries.electron_dose>`
        (same sources, guideline flag, critical dose, pre-dose, slicing that
        keeps the cumulative dose), for the illuminated area of the sample
        that the pattern comes from. The dose rate comes from, in this order:
        ``dose_rate`` (e/A^2/s), ``beam_current`` (A) over
        ``illuminated_area`` (A^2; required: a diffraction pattern has no
        real-space frame area), a ``dose_rate`` or ``beam_current`` channel
        of the stimulus record (frames it does not cover are refused, never
        counted as zero), ``metadata.Stimulus.Dose``, or
        ``metadata.Acquisition_instrument.TEM.beam_current`` (nA) with
        ``illuminated_area``. Frames above the dose-rate guideline of
        :data:`~hyperspy_perovskite.stimulus.dose.DOSE_RATE_GUIDELINE`
        (90 e/(A^2 s), Hao & Cai, Microstructures 5, 2025012 (2025)) are
        flagged with a warning and in ``metadata.Dose``.

        Parameters
        ----------
        dose_rate, beam_current, illuminated_area : float or str, optional
            Dose rate (a number is in e/A^2/s), beam current (A) and
            illuminated area (A^2); a string carries its unit ("5 nA",
            "0.8 um^2").
        exposure : float, str or array, optional
            Exposure per frame, s (default the frame interval).
        critical_dose : float or str, optional
            Critical dose (e/A^2); frames beyond it are flagged.
        material : str, optional
            Take the critical dose from
            :data:`hyperspy_perovskite.stimulus.dose.CRITICAL_DOSES`.
        cumulative : bool
            Cumulative dose (default) or fluence per frame.
        pre_dose : "auto", float or str
            Dose before the first frame (e/A^2); "auto": a series whose time
            axis starts after 0 (e.g. ``s.inav[10:]``) received the first
            frame's dose rate since t = 0.

        Returns
        -------
        hyperspy.signals.Signal1D
            On the time axis, e/A^2; ``metadata.Dose`` holds the sources, the
            guideline flag and the critical-dose flags (region ``"frame"``).

        Raises
        ------
        ValueError
            Without a dose-rate source, or with a beam current but no
            illuminated area.

        Examples
        --------
        >>> from hyperspy_perovskite.signals.insitu_diffraction import InSituSAEDSeries
        >>> s = InSituSAEDSeries(np.zeros((4, 16, 16)))
        >>> s.axes_manager[0].units, s.axes_manager[0].scale = "s", 2.0
        >>> for ax in s.axes_manager.signal_axes:
        ...     ax.units, ax.scale = "k_A^-1", 0.02
        >>> # 1 nA on 100 um^2: 6.24e9 e/s over 1e10 A^2 = 0.624 e/A^2/s
        >>> d = s.electron_dose(beam_current="1 nA", illuminated_area="100 um^2")
        >>> d.data.round(3)
        array([1.248, 2.497, 3.745, 4.993])
        >>> s.inav[2:].electron_dose(dose_rate=0.5).data  # slicing keeps the dose
        array([3., 4.])
        """
        return DoseMixin.electron_dose(
            self,
            dose_rate=dose_rate,
            beam_current=beam_current,
            illuminated_area=illuminated_area,
            exposure=exposure,
            regions=None,
            beam_profile=None,
            critical_dose=critical_dose,
            material=material,
            cumulative=cumulative,
            pre_dose=pre_dose,
        )
