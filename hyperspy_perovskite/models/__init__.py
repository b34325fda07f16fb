"""Domain models: HyperSpy models that own the methods derived from a fit.

Following exSpy (``EDSTEMModel`` returned by ``EDSTEMSpectrum.create_model``),
a fit of this suite is a HyperSpy model whose class knows what the fit means:

- :class:`PerovskiteModel1D`, the base: ``fit_flags``, ``reduced_chisq``,
  ``validity`` and :meth:`~PerovskiteModel1D.parameter_map` (NaN outside the
  validity), all surviving ``m.store()``, ``m.save()``,
  ``s.models.restore()`` and ``hs.load`` of ``.hspy`` / ``.zspy`` files;
  ``as_signal()`` works when some pixels did not converge (NaN there).
- :class:`EmissionModel`: emission-band maps of CL / PL spectra.
- :class:`JVModel`: single-diode fits of J-V curves.
- :class:`KineticsModel`: JMAK crystallinity kinetics of time traces.
- :class:`MigrationModel`: ion-migration profile fits (D, mobility, decay
  length, Einstein ratio), from ``fit_migration_profile``.

A signal class returns its domain model from ``create_model``, which is also
what ``s.models.restore(name)`` calls, so a restored model gets its class
back::

    class CLSpectrum(Signal1D):
        def create_model(self, dictionary=None):
            from hyperspy_perovskite.models import EmissionModel

            return EmissionModel(self, dictionary=dictionary)

A new domain model subclasses :class:`PerovskiteModel1D` and adds its
fit-derived methods; to keep more state with the model, add an attribute and
its name to ``self._whitelist`` in ``__init__`` before loading ``dictionary``
(see :class:`PerovskiteModel1D`).
"""

from hyperspy_perovskite.models.base import PerovskiteModel1D
from hyperspy_perovskite.models.emission import EmissionModel
from hyperspy_perovskite.models.jv import JVModel
from hyperspy_perovskite.models.kinetics import KineticsModel
from hyperspy_perovskite.models.migration import MigrationModel

__all__ = [
    "EmissionModel",
    "JVModel",
    "KineticsModel",
    "MigrationModel",
    "PerovskiteModel1D",
]
