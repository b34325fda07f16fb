"""The compiled batched fitting engine shared by every fit in the suite.

:func:`fast_multifit` fills an ordinary HyperSpy ``Model1D`` the way
``m.multifit()`` does, hundreds of times faster, for models whose components
all have compiled kernels (:func:`supported_components`). A component joins
through :func:`register_kernel`; the engine compiles only the kernels of the
model it fits, once, and keeps the machine code in a user cache folder
(:func:`cache_dir`), never in the installed package.

The engine knows components only through their registered kernels: it
imports nothing from the rest of the suite.
"""

from hyperspy_perovskite.fitting import _compile, flags
from hyperspy_perovskite.fitting._cache import cache_dir
from hyperspy_perovskite.fitting._kernel_check import KernelError
from hyperspy_perovskite.fitting.engine import FastFitResult, fast_multifit
from hyperspy_perovskite.fitting.registry import (
    KernelSpec,
    UnsupportedComponentError,
    register_kernel,
    supported_components,
)

# After an install or upgrade, the solver (shared by every model) is compiled
# into the cache by a second process from now on, while the user loads data
# and the first fit compiles its model (hyperspy_perovskite.fitting._background)
_compile.start_solver_compile()
_compile.prefetch()  # the cached solver, in the background (reads only)
# numba's typing and target contexts (they import scipy and cffi) are set up
# here rather than inside the first fit, which then costs what later ones do
_compile.refresh_numba_contexts()

__all__ = [
    "FastFitResult",
    "KernelError",
    "KernelSpec",
    "UnsupportedComponentError",
    "cache_dir",
    "fast_multifit",
    "flags",
    "register_kernel",
    "supported_components",
]
