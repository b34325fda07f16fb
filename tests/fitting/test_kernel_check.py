"""Unsafe kernels are refused before the engine compiles them into a model.

The engine runs kernels without numba's reference counting and without
bounds checks, so a kernel that allocates, or that reads or writes beyond
the parameters it was registered with, must be refused with a clear error
(it once corrupted later fits: a "double free"). A safe kernel with a fixed
parameter, fitted after a refused one, must give the same numbers as
HyperSpy's own ``m.multifit``.
"""

import math

import hyperspy.api as hs
import numpy as np
import pytest
from numba import njit

from hyperspy_perovskite.fitting import fast_multifit, register_kernel
from hyperspy_perovskite.fitting._kernel_check import KernelError

Expression = hs.model.components1D.Expression


def _expression(name):
    class _Line(Expression):
        def __init__(self, a=1.0, b=0.0):
            super().__init__("a * x + b", name=name, a=a, b=b)

    _Line.__name__ = _Line.__qualname__ = name
    return _Line


def _line_allocating(x, P, o, grad, c):
    tmp = np.empty(2)  # an allocation inside a kernel
    tmp[0] = x
    tmp[1] = 1.0
    grad[o] = tmp[0]
    grad[o + 1] = tmp[1]
    return P[o] * tmp[0] + P[o + 1]


def _line_reads_beyond(x, P, o, grad, c):
    grad[o] = x
    grad[o + 1] = 1.0
    return P[o] * x + P[o + 1] + 0.0 * P[o + 2]  # a third, unregistered one


def _line_writes_beyond(x, P, o, grad, c):
    grad[o] = x
    grad[o + 1] = 1.0
    grad[o + 2] = 0.0  # not its own
    return P[o] * x + P[o + 1]


def _line_ok(x, P, o, grad, c):
    grad[o] = x
    grad[o + 1] = 1.0
    return P[o] * x + P[o + 1]


@njit(nogil=True, error_model="numpy")
def _block_writes_beyond(x, P, o, c, f, G):
    for j in range(x.shape[0]):
        f[j] += P[o] * x[j] + P[o + 1]
        G[o, j] = x[j]
        G[o + 1, j] = 1.0
        G[o + 2, j] = 0.0  # not its own


def _line_map(seed=0, n_pix=6):
    rng = np.random.default_rng(seed)
    x = np.linspace(0.0, 10.0, 64)
    truth = 2.0 * x + 5.0 + 40.0 * np.exp(-0.5 * ((x - 5.0) / 0.8) ** 2)
    s = hs.signals.Signal1D(truth + rng.normal(0.0, 0.5, (n_pix, x.size)))
    s.axes_manager[-1].scale = x[1] - x[0]
    return s


def _model(signal, line):
    m = signal.create_model()
    g = hs.model.components1D.Gaussian(A=90.0, sigma=1.0, centre=5.0)
    m.extend([line, g])
    return m


@pytest.mark.parametrize(
    "kernel, block, what",
    [
        (_line_allocating, None, "allocates memory"),
        (_line_reads_beyond, None, "reads P"),
        (_line_writes_beyond, None, "writes grad"),
        (_line_ok, _block_writes_beyond, "writes rows of G"),
    ],
)
def test_unsafe_kernels_are_refused(kernel, block, what):
    cls = _expression(f"Line_{kernel.__name__}_{block is not None}")
    register_kernel(cls, kernel, ("a", "b"), block=block)
    with pytest.raises(KernelError, match=what):
        fast_multifit(_model(_line_map(), cls(a=1.0, b=0.0)))


def test_fits_after_a_refused_kernel_are_right():
    s = _line_map()
    bad = _expression("LineBad")
    register_kernel(bad, _line_writes_beyond, ("a", "b"))
    with pytest.raises(KernelError):
        fast_multifit(_model(s, bad()))
    # a safe kernel, one parameter fixed, right after the refusal
    good = _expression("LineGood")
    register_kernel(good, _line_ok, ("a", "b"))
    line = good(a=2.0, b=1.0)
    line.a.free = False
    m = _model(s, line)
    result = fast_multifit(m)
    assert result.n_converged == 6
    ref = _model(s, good(a=2.0, b=1.0))
    ref[0].a.free = False
    ref.multifit()
    for p, q in ((m[0].b, ref[0].b), (m[1].centre, ref[1].centre)):
        np.testing.assert_allclose(p.map["values"], q.map["values"], rtol=1e-4)
    np.testing.assert_array_equal(m[0].a.map["values"], 2.0)


def test_a_safe_kernel_passes_the_check():
    from hyperspy_perovskite.fitting._kernel_check import check_kernels

    kernel = njit(nogil=True, error_model="numpy")(_line_ok)
    x = np.linspace(0.0, 1.0, 5)
    check_kernels([("Line", kernel, None, [2.0, 1.0], np.zeros(4), x)])
    assert math.isfinite(kernel(0.5, np.array([2.0, 1.0]), 0, np.zeros(2), np.zeros(4)))
