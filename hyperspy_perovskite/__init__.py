"""hyperspy-perovskite: HyperSpy extension suite for in situ electron microscopy
of halide perovskites.

Signals are registered with HyperSpy through ``hyperspy_extension.yaml`` and
become available with ``s.set_signal_type(...)`` or
``hs.load(..., signal_type=...)``. Components are imported from
:mod:`hyperspy_perovskite.components`; the batched fitting engine is
:func:`hyperspy_perovskite.fitting.fast_multifit`.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]


def _snapshot_sources():
    # fingerprint the sources as imported (see hyperspy_perovskite._sources)
    from pathlib import Path

    from hyperspy_perovskite._sources import snapshot

    snapshot(Path(__file__).parent)


_snapshot_sources()
