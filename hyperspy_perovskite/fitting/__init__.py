"""The compiled batched fitting engine shared by every fit in the suite.

:func:`fast_multifit` fills an ordinary HyperSpy ``Model1D`` the way
``m.multifit()`` does, hundreds of times faster, for models whose components
all have compiled kernels (:func:`supported_components`).
"""

from hyperspy_perovskite.fitting._cache import refresh_numba_cache

refresh_numba_cache()  # before any compiled function is loaded from disk

from hyperspy_perovskite.fitting import flags  # noqa: E402
from hyperspy_perovskite.fitting.engine import FastFitResult, fast_multifit  # noqa: E402
from hyperspy_perovskite.fitting.registry import (  # noqa: E402
    KernelSpec,
    UnsupportedComponentError,
    supported_components,
)

__all__ = [
    "FastFitResult",
    "KernelSpec",
    "UnsupportedComponentError",
    "fast_multifit",
    "flags",
    "supported_components",
]
