"""Photoluminescence spectrum images of halide perovskites.

The same emission analysis as the CL classes (fits, maps with validity,
statistics, halide composition and segregation maps) on LumiSpy's
:class:`~lumispy.signals.PLSpectrum`. PL peak-centre and intensity maps are
how the in situ biasing study ("Imaging real-time amorphization of hybrid
perovskite solar cells under electrical biasing") ruled out halide
segregation.
"""

from hyperspy._signals.lazy import LazySignal
from lumispy.signals import PLSpectrum

from hyperspy_perovskite.signals._cl_correlation import CLCorrelationMixin
from hyperspy_perovskite.signals.cl import CLEmissionMixin

__all__ = ["PLPerovskiteSpectrum", "LazyPLPerovskiteSpectrum"]


class PLPerovskiteSpectrum(CLCorrelationMixin, CLEmissionMixin, PLSpectrum):
    """Photoluminescence spectrum image of a halide perovskite.

    Examples
    --------
    >>> import hyperspy.api as hs, numpy as np
    >>> s = hs.signals.Signal1D(np.ones((2, 3, 10)))
    >>> s.set_signal_type("PL_perovskite")
    >>> type(s).__name__
    'PLPerovskiteSpectrum'
    """

    _signal_type = "PL_perovskite"


class LazyPLPerovskiteSpectrum(LazySignal, PLPerovskiteSpectrum):
    """Lazy photoluminescence spectrum image of a halide perovskite."""

    _lazy = True
