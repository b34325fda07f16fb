"""Operando 4D-STEM series: (time, scan y, scan x | ky, kx)."""

from hyperspy._signals.lazy import LazySignal
from pyxem.signals import InSituDiffraction2D

__all__ = ["Operando4DSTEM", "LazyOperando4DSTEM"]


class Operando4DSTEM(InSituDiffraction2D):
    """Operando 4D-STEM of a device under bias."""

    _signal_type = "operando_4DSTEM_perovskite"


class LazyOperando4DSTEM(LazySignal, Operando4DSTEM):
    """Lazy twin of :class:`Operando4DSTEM`."""

    _lazy = True
