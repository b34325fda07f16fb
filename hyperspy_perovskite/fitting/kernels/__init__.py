"""Compiled point kernels, one per supported component, and their dispatch.

Contract of a point kernel (numba
``@njit(cache=True, nogil=True, error_model="numpy")``: a division by zero
must give inf/nan, which the engine flags, never raise)::

    value = kernel(x, P, o, grad, c)

- ``x``: float, one value of the signal axis (in the axis units);
- ``P``: float64 vector, all parameters of the model at one pixel;
- ``o``: int, index in ``P`` of this component's first parameter, the others
  follow in the order given by its ``KernelSpec.parameters``;
- ``grad``: float64 vector as long as ``P``; the kernel writes
  ``d value / d P[o + k]`` into ``grad[o + k]`` for each of its parameters;
- ``c``: float64 vector of per-component constants (``KernelSpec.constants``).

Binning (multiplying by the bin width) and weighting are applied by the
engine, never by a kernel.
"""

from hyperspy_perovskite.fitting.kernels._dispatch import model_block, model_point

__all__ = ["model_block", "model_point"]
