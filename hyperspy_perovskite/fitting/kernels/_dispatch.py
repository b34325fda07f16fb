"""The one compiled dispatch that evaluates a whole model at one axis value.

A model is described to the compiled code by three arrays built in
:mod:`hyperspy_perovskite.fitting.registry`: ``codes`` (one kernel code per
active component), ``offsets`` (index of each component's first parameter in
the full parameter vector ``P``) and ``consts`` (a ``(n_components, 4)`` float
array of per-component constants). Adding a component to the suite means
writing its point kernel (contract in :mod:`.builtin`), giving it a code here
and a branch in :func:`model_point`, and registering its
:class:`~hyperspy_perovskite.fitting.registry.KernelSpec`.
"""

from numba import njit

from hyperspy_perovskite.fitting.kernels import builtin

# Kernel codes. Values are part of no file format: they only link the Python
# registry to the branches below.
OFFSET = 0
GAUSSIAN = 1
GAUSSIAN_HF = 2
LORENTZIAN = 3
POLYNOMIAL = 4
EXPONENTIAL = 5
ERF = 6
# --- cathodoluminescence components (10-19) ---
# --- in situ kinetics components (20-29) ---
# --- migration / interdiffusion components (30-39) ---


@njit(cache=True, nogil=True)
def model_point(x, P, codes, offsets, consts, grad):
    """Sum of all components at ``x``; writes every partial derivative to ``grad``."""
    total = 0.0
    for k in range(codes.shape[0]):
        code = codes[k]
        o = offsets[k]
        c = consts[k]
        if code == GAUSSIAN:
            total += builtin.gaussian(x, P, o, grad, c)
        elif code == OFFSET:
            total += builtin.offset(x, P, o, grad, c)
        elif code == GAUSSIAN_HF:
            total += builtin.gaussian_hf(x, P, o, grad, c)
        elif code == LORENTZIAN:
            total += builtin.lorentzian(x, P, o, grad, c)
        elif code == POLYNOMIAL:
            total += builtin.polynomial(x, P, o, grad, c)
        elif code == EXPONENTIAL:
            total += builtin.exponential(x, P, o, grad, c)
        elif code == ERF:
            total += builtin.erf_step(x, P, o, grad, c)
        # --- cathodoluminescence branches ---
        # --- in situ kinetics branches ---
        # --- migration / interdiffusion branches ---
    return total
