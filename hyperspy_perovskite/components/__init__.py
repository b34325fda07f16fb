"""HyperSpy components of the suite.

They are registered under ``components1D`` in ``hyperspy_extension.yaml`` so
that saved models restore them by name, and each has a compiled kernel so
that :func:`hyperspy_perovskite.fitting.fast_multifit` fits them. Import them
from here::

    from hyperspy_perovskite.components import GaussianEmission
"""

__all__ = []
# --- cathodoluminescence components ---
# --- in situ kinetics components ---
# --- migration / interdiffusion components ---
