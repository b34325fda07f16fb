"""``min``, ``max`` and ``int`` of two numbers for compiled code, compiled once.

numba implements the builtins ``min``, ``max`` and ``int`` as overloads: each
is a small function of its own, compiled again for every set of compile
flags of its callers (``_nrt``, ``fastmath``, the Python entry points of
:func:`~hyperspy_perovskite._numba_cache.njit_internal`: numba keys an
overload's compilation on the caller's flags as well as on the argument
types). The package mixes several such sets, so a first CL fit on a fresh
install compiled them about a dozen times (0.5-0.6 s of its compile time,
bench_first_call.py). These are numba's own code generation for the same
operations (``numba.cpython.builtins.do_minmax``, a cast to ``intp``) emitted
inline at the call, with no function to compile: the same machine
operations and the same results as the builtins, NaN included
(``min2(a, b)`` is ``b if b < a else a``, as Python's ``min``).

They can only be called from compiled code (under ``NUMBA_DISABLE_JIT`` they
are the builtins).
"""

from __future__ import annotations

import operator

import numpy as np
from numba.core import config, types
from numba.cpython.builtins import do_minmax
from numba.extending import intrinsic

__all__ = ["bits_to_float", "float_bits", "max2", "min2", "to_int"]


def _number_pair(typingctx, a, b):
    """The common type of two numbers (as the builtins unify them), or None."""
    if not all(isinstance(t, (types.Number, types.Boolean)) for t in (a, b)):
        return None
    return typingctx.unify_types(types.unliteral(a), types.unliteral(b))


@intrinsic
def min2(typingctx, a, b):
    """``min(a, b)`` of two numbers (compiled code only).

    Examples
    --------
    >>> from numba import njit
    >>> from hyperspy_perovskite._numba_ops import min2
    >>> @njit
    ... def clip_low(v):
    ...     return min2(v, 0.5)
    >>> float(clip_low(2.0)), float(clip_low(-1.0))
    (0.5, -1.0)
    """
    ty = _number_pair(typingctx, a, b)
    if ty is None:
        return None

    def codegen(context, builder, sig, args):
        return do_minmax(context, builder, list(sig.args), list(args), operator.lt)

    return ty(types.unliteral(a), types.unliteral(b)), codegen


@intrinsic
def max2(typingctx, a, b):
    """``max(a, b)`` of two numbers (compiled code only).

    Examples
    --------
    >>> from numba import njit
    >>> from hyperspy_perovskite._numba_ops import max2
    >>> @njit
    ... def at_least_one(n):
    ...     return max2(n, 1)
    >>> at_least_one(0), at_least_one(7)
    (1, 7)
    """
    ty = _number_pair(typingctx, a, b)
    if ty is None:
        return None

    def codegen(context, builder, sig, args):
        return do_minmax(context, builder, list(sig.args), list(args), operator.gt)

    return ty(types.unliteral(a), types.unliteral(b)), codegen


@intrinsic
def to_int(typingctx, x):
    """``int(x)`` of a float (truncated toward zero, as an ``intp``; compiled
    code only).

    Examples
    --------
    >>> from numba import njit
    >>> from hyperspy_perovskite._numba_ops import to_int
    >>> @njit
    ... def nearest(v):
    ...     return to_int(v + 0.5)
    >>> nearest(2.7), nearest(-0.2)
    (3, 0)
    """
    if not isinstance(x, types.Float):
        return None

    def codegen(context, builder, sig, args):
        return context.cast(builder, args[0], sig.args[0], sig.return_type)

    return types.intp(x), codegen


@intrinsic
def float_bits(typingctx, x):
    """The bits of a float64 as an int64 (``np.float64(x).view(np.int64)``
    for a scalar, without numba's array ``view``; compiled code only).

    Examples
    --------
    >>> from numba import njit
    >>> from hyperspy_perovskite._numba_ops import bits_to_float, float_bits
    >>> @njit
    ... def round_trip(v):
    ...     return float_bits(v), bits_to_float(float_bits(v))
    >>> round_trip(1.0)
    (4607182418800017408, 1.0)
    """
    if x != types.float64:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], context.get_value_type(types.int64))

    return types.int64(x), codegen


@intrinsic
def bits_to_float(typingctx, i):
    """The float64 with the bits of the int64 ``i`` (the inverse of
    :func:`float_bits`; compiled code only)."""
    if i != types.int64:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], context.get_value_type(types.float64))

    return types.float64(i), codegen


if config.DISABLE_JIT:  # plain Python: the builtins
    min2, max2 = min, max

    def to_int(x):
        return int(x)

    def float_bits(x):
        return int(np.float64(x).view(np.int64))

    def bits_to_float(i):
        return float(np.int64(i).view(np.float64))
