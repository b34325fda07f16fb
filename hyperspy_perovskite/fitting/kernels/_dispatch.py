"""The one compiled dispatch that evaluates a whole model at one axis value.

Two functions walk the components: :func:`model_point` evaluates one axis
value (used to check kernels), :func:`model_block` a whole spectrum with the
component loop outside the channel loop, which is what makes the engine fast.
Both must have a branch for every kernel code.

A model is described to the compiled code by three arrays built in
:mod:`hyperspy_perovskite.fitting.registry`: ``codes`` (one kernel code per
active component), ``offsets`` (index of each component's first parameter in
the full parameter vector ``P``) and ``consts`` (a ``(n_components, 4)`` float
array of per-component constants). Adding a component to the suite means
writing its point kernel (contract in :mod:`.builtin`), giving it a code here
and a branch in :func:`model_point` and in :func:`model_block`, and
registering its
:class:`~hyperspy_perovskite.fitting.registry.KernelSpec`.
"""

from numba import njit

from hyperspy_perovskite.fitting.kernels import (
    builtin,
    kinetics,  # in situ kinetics (20-29)
    migration,  # migration components (30-39)
)

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
from hyperspy_perovskite.fitting.kernels import cl as _cl  # noqa: E402

GAUSSIAN_EMISSION = 10
URBACH_TAIL = 11
ASYMMETRIC_EMISSION = 12
CONTINUOUS_URBACH = 13
WAVELENGTH_OFFSET = 14
# --- in situ kinetics components (20-29) ---
CRYSTALLINITY_JMAK = 20
# --- migration / interdiffusion components (30-39) ---
INTERDIFFUSION = 30
DD_ACCUMULATION = 31
DD_TRANSIENT = 32


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
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
        elif code == GAUSSIAN_EMISSION:
            total += _cl.gaussian_emission(x, P, o, grad, c)
        elif code == URBACH_TAIL:
            total += _cl.urbach_tail(x, P, o, grad, c)
        elif code == ASYMMETRIC_EMISSION:
            total += _cl.asymmetric_emission_kernel(x, P, o, grad, c)
        elif code == CONTINUOUS_URBACH:
            total += _cl.continuous_urbach_kernel(x, P, o, grad, c)
        elif code == WAVELENGTH_OFFSET:
            total += _cl.wavelength_offset_kernel(x, P, o, grad, c)
        # --- in situ kinetics branches ---
        elif code == CRYSTALLINITY_JMAK:
            total += kinetics.crystallinity_jmak(x, P, o, grad, c)
        # --- migration / interdiffusion branches ---
        elif code == INTERDIFFUSION:
            total += migration.interdiffusion(x, P, o, grad, c)
        elif code == DD_ACCUMULATION:
            total += migration.accumulation(x, P, o, grad, c)
        elif code == DD_TRANSIENT:
            total += migration.transient(x, P, o, grad, c)
    return total


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def _accumulate(kernel, x, P, o, end, grad, c, f, G):
    """Add ``kernel`` over all channels to ``f``; its gradients to ``G[o:end, :]``."""
    for j in range(x.shape[0]):
        f[j] += kernel(x[j], P, o, grad, c)
        for q in range(o, end):
            G[q, j] = grad[q]


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def model_block(x, P, codes, offsets, consts, grad, f, G):
    """Model over all channels ``x`` into ``f``; partial derivatives into ``G``.

    ``G`` has shape ``(len(P), len(x))``; ``grad`` is a work vector as long
    as ``P``.
    """
    f[:] = 0.0
    n_comp = codes.shape[0]
    for k in range(n_comp):
        code = codes[k]
        o = offsets[k]
        c = consts[k]
        end = offsets[k + 1] if k + 1 < n_comp else P.shape[0]
        if code == GAUSSIAN:  # (A, sigma, centre)
            builtin.gaussian_block(x, P, o, o + 1, o + 2, f, G)
        elif code == OFFSET:
            builtin.offset_block(x, P, o, f, G)
        elif code == GAUSSIAN_HF:
            _accumulate(builtin.gaussian_hf, x, P, o, end, grad, c, f, G)
        elif code == LORENTZIAN:
            _accumulate(builtin.lorentzian, x, P, o, end, grad, c, f, G)
        elif code == POLYNOMIAL:
            _accumulate(builtin.polynomial, x, P, o, end, grad, c, f, G)
        elif code == EXPONENTIAL:
            _accumulate(builtin.exponential, x, P, o, end, grad, c, f, G)
        elif code == ERF:
            _accumulate(builtin.erf_step, x, P, o, end, grad, c, f, G)
        # --- cathodoluminescence block branches ---
        elif code == GAUSSIAN_EMISSION:  # (A, centre, sigma): the Gaussian block
            builtin.gaussian_block(x, P, o, o + 2, o + 1, f, G)
        elif code == URBACH_TAIL:
            _accumulate(_cl.urbach_tail, x, P, o, end, grad, c, f, G)
        elif code == ASYMMETRIC_EMISSION:
            _accumulate(_cl.asymmetric_emission_kernel, x, P, o, end, grad, c, f, G)
        elif code == CONTINUOUS_URBACH:
            _accumulate(_cl.continuous_urbach_kernel, x, P, o, end, grad, c, f, G)
        elif code == WAVELENGTH_OFFSET:
            _accumulate(_cl.wavelength_offset_kernel, x, P, o, end, grad, c, f, G)
        # --- in situ kinetics block branches ---
        elif code == CRYSTALLINITY_JMAK:
            _accumulate(kinetics.crystallinity_jmak, x, P, o, end, grad, c, f, G)
        # --- migration / interdiffusion block branches ---
        elif code == INTERDIFFUSION:
            _accumulate(migration.interdiffusion, x, P, o, end, grad, c, f, G)
        elif code == DD_ACCUMULATION:
            _accumulate(migration.accumulation, x, P, o, end, grad, c, f, G)
        elif code == DD_TRANSIENT:
            _accumulate(migration.transient, x, P, o, end, grad, c, f, G)
