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
from hyperspy_perovskite.fitting.engine import FastFitResult
from hyperspy_perovskite.fitting.engine import fast_multifit as _fast_multifit
from hyperspy_perovskite.fitting.registry import (
    KernelSpec,
    UnsupportedComponentError,
    register_kernel,
    supported_components,
)

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


def __getattr__(name):
    # ``fast_multifit`` is looked up here the first time (``from
    # hyperspy_perovskite.fitting import fast_multifit``): after an install or
    # upgrade, a second process starts compiling the solver (shared by every
    # model) into the cache now, while the user loads data and the first fit
    # compiles its model (hyperspy_perovskite.fitting._background). Importing
    # the package for its registry (components do) starts nothing.
    if name == "fast_multifit":
        _compile.start_solver_compile()
        globals()["fast_multifit"] = _fast_multifit
        return _fast_multifit
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), "fast_multifit"})
