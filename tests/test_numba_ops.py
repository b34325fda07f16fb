"""min2, max2 and to_int against numba's builtins min, max and int."""

import itertools

import numpy as np
import pytest
from numba import njit

from hyperspy_perovskite._numba_ops import bits_to_float, float_bits, max2, min2, to_int

_FLOATS = (0.0, -0.0, 1.5, -2.25, 1e-300, np.inf, -np.inf, np.nan)
_INTS = (0, 1, -3, 7)


@njit
def _ours(a, b):
    return min2(a, b), max2(a, b)


@njit
def _builtins(a, b):
    return min(a, b), max(a, b)


@njit(fastmath={"reassoc", "contract"}, _nrt=False)
def _ours_fastmath(a, b):
    return min2(a, b), max2(a, b)


@njit(fastmath={"reassoc", "contract"}, _nrt=False)
def _builtins_fastmath(a, b):
    return min(a, b), max(a, b)


def _same(x, y):
    """Same value, type and sign (of zeros); NaN equals NaN."""
    assert type(x) is type(y)
    if isinstance(x, float) and np.isnan(x):
        return np.isnan(y)
    return x == y and np.signbit(x) == np.signbit(y)


@pytest.mark.parametrize(
    "a, b",
    list(itertools.product(_FLOATS, _FLOATS))
    + list(itertools.product(_INTS, _INTS))
    + list(itertools.product(_INTS, _FLOATS))
    + list(itertools.product(_FLOATS, _INTS)),
)
def test_min2_max2_equal_the_builtins(a, b):
    # NaN first or second, signed zeros, infinities, mixed int/float
    for ours, theirs in ((_ours, _builtins), (_ours_fastmath, _builtins_fastmath)):
        got, want = ours(a, b), theirs(a, b)
        assert all(_same(g, w) for g, w in zip(got, want, strict=True)), (
            a,
            b,
            got,
            want,
        )


def test_min2_max2_refuse_non_numbers():
    @njit
    def f(a):
        return min2(a, 1.0)

    with pytest.raises(Exception, match="min2"):
        f(np.zeros(2))


@njit
def _int_ours(v):
    return to_int(v)


@njit
def _int_builtin(v):
    return int(v)


@pytest.mark.parametrize("v", [0.0, 2.7, -2.7, 0.5, -0.5, 1e15 + 0.5, 3.0])
def test_to_int_equals_int(v):
    got = _int_ours(v)
    assert got == _int_builtin(v) == int(v)
    assert isinstance(got, int)


@njit
def _bits(v):
    return float_bits(v), bits_to_float(float_bits(v))


@pytest.mark.parametrize(
    "v", [1.0, -0.0, 2.5e-310, np.inf, -np.inf, 6755399441055744.0]
)
def test_float_bits_are_numpys_view(v):
    bits, back = _bits(v)
    assert bits == np.float64(v).view(np.int64)
    assert np.float64(back).view(np.int64) == bits  # same bits back (NaN too)
