"""EDX spectrum images of perovskite devices under electrical bias.

:class:`EDSTEMBiasedSpectrum` (``signal_type="EDS_TEM_biased"``) subclasses
exSpy's :class:`~exspy.signals.EDSTEMSpectrum`, so X-ray line intensities,
Cliff-Lorimer / zeta-factor quantification and the X-ray line database keep
working, and adds what a cross-section under bias needs ("Imaging real-time
amorphization of hybrid perovskite solar cells under electrical biasing",
Fig. S11-S12; "Multimodal electron microscopy of halide perovskite
interfacial dynamics", Nature (2026), doi:10.1038/s41586-026-10238-8): the
device geometry, element and composition profiles across the layer stack
with their uncertainties, halide-to-Pb ratios, line-overlap checks, migration
between states, Pb-rich cluster detection and time-resolved series. A series
of maps (pristine / biased / recovered, or operando frames) is ONE signal
with an extra navigation axis carrying the times (:func:`stack_bias_series`).

The methods live in mixins grouped by job, each a thin layer over
:mod:`hyperspy_perovskite.analysis`:

======================================================= ====================================
module                                                  job
======================================================= ====================================
:mod:`~hyperspy_perovskite.signals._eds_geometry`       device geometry, stack line scan
:mod:`~hyperspy_perovskite.signals._eds_lines`          X-ray windows, overlaps
:mod:`~hyperspy_perovskite.signals._eds_profiles`       element and composition profiles
:mod:`~hyperspy_perovskite.signals._eds_ratios`         X/Pb ratios, stoichiometry, clusters
:mod:`~hyperspy_perovskite.signals._eds_migration`      migration metrics of a series
:mod:`~hyperspy_perovskite.signals._eds_migration_fits` drift-diffusion profile fits
:mod:`~hyperspy_perovskite.signals._eds_frames`         frame alignment, damage onset
:mod:`~hyperspy_perovskite.signals._eds_series`         stacking maps into a series
======================================================= ====================================

The bias condition lives in ``metadata.Stimulus``
(:mod:`hyperspy_perovskite.stimulus.schema`), the geometry in
``metadata.Device.Geometry`` (:class:`hyperspy_perovskite.metadata.DeviceGeometry`,
positions in nm). Lengths given as plain numbers are in nm unless a method
says otherwise; strings with a unit (``"0.28 um"``) are accepted everywhere.
The energy axis may be in keV or eV, as in exSpy.
"""

from __future__ import annotations

from contextlib import contextmanager

from exspy.signals import EDSTEMSpectrum
from hyperspy._signals.lazy import LazySignal

from hyperspy_perovskite.signals._eds_frames import FramesMixin
from hyperspy_perovskite.signals._eds_geometry import GeometryMixin, GeometryWarning
from hyperspy_perovskite.signals._eds_lines import LineOverlapWarning, XrayLinesMixin
from hyperspy_perovskite.signals._eds_migration import MigrationMixin
from hyperspy_perovskite.signals._eds_migration_fits import MigrationFitsMixin
from hyperspy_perovskite.signals._eds_profiles import (
    LineAbsentWarning,
    NonPoissonWarning,
    ProfilesMixin,
)
from hyperspy_perovskite.signals._eds_ratios import RatiosMixin
from hyperspy_perovskite.signals._eds_series import stack_bias_series

__all__ = [
    "EDSTEMBiasedSpectrum",
    "LazyEDSTEMBiasedSpectrum",
    "GeometryWarning",
    "LineAbsentWarning",
    "LineOverlapWarning",
    "NonPoissonWarning",
    "stack_bias_series",
]


class EDSTEMBiasedSpectrum(
    GeometryMixin,
    XrayLinesMixin,
    ProfilesMixin,
    RatiosMixin,
    MigrationMixin,
    MigrationFitsMixin,
    FramesMixin,
    EDSTEMSpectrum,
):
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


class LazyEDSTEMBiasedSpectrum(LazySignal, EDSTEMBiasedSpectrum):
    """Lazy EDX spectrum image of a device cross-section under bias."""

    _lazy = True
