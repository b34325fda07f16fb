"""``min``, ``max``, ``int`` and a float's bits in compiled code, with no
function of their own to compile.

numba implements the builtins ``min``, ``max`` and ``int`` as overloads: each
is a small function of its own, compiled again for every set of compile
flags of its callers (``_nrt``, ``fastmath``, the Python entry points of
:func:`~hyperspy_perovskite._numba_cache.njit_internal`: numba keys an
overload's compilation on the caller's flags as well as on the argument
types). The package mixes several such sets, so a first CL fit on a fresh
install compiled them about a dozen times (0.6-0.7 s of its compile time,
bench_first_call.py). These emit the builtins' operations inline at the
call, with no function to compile: both arguments cast to their common
type, then ``min2(a, b)`` is ``b if b < a else a`` (a compare and a select,
as numba's ``min`` and Python's, so NaN is returned only where they return
it) and ``max2`` the same with ``>``; ``to_int`` is numba's cast of a float
to ``intp``. Only numba's public extension API is used (``intrinsic``, the
target context's ``cast`` and ``get_function``); the tests compare them
with the builtins, compiled with and without ``fastmath``.

``float_bits`` and ``bits_to_float`` reinterpret a float64 as an int64 and
back (an LLVM bitcast), where numba's array ``view`` cost its own
compilation (0.1-0.2 s).

They can only be called from compiled code (under ``NUMBA_DISABLE_JIT`` they
are the builtins and NumPy's ``view``).
"""

from __future__ import annotations

import operator

import numpy as np
from numba.core import config, types
from numba.core.typing import signature
from numba.extending import intrinsic

__all__ = ["bits_to_float", "float_bits", "max2", "min2", "to_int"]


def _select(context, builder, sig, args, op):
    """``b if op(b, a) else a`` after casting both to the return type (the
    code numba generates for ``min(a, b)`` with ``op`` "<", ``max`` with
    ">")."""
    ty = sig.return_type
    a = context.cast(builder, args[0], sig.args[0], ty)
    b = context.cast(builder, args[1], sig.args[1], ty)
    compare = context.get_function(op, signature(types.boolean, ty, ty))
    return builder.select(compare(builder, (b, a)), b, a)


def _min_or_max(typingctx, a, b, op):
    """The signature and code generator of ``min2`` (``op`` "<") or ``max2``
    (">") of two numbers of the common type the builtins unify them to, or
    None for other arguments."""
    if not all(isinstance(t, (types.Number, types.Boolean)) for t in (a, b)):
        return None
    ty = typingctx.unify_types(types.unliteral(a), types.unliteral(b))
    if ty is None:
        return None

    def codegen(context, builder, sig, args):
        return _select(context, builder, sig, args, op)

    return ty(types.unliteral(a), types.unliteral(b)), codegen


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
    return _min_or_max(typingctx, a, b, operator.lt)


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
    return _min_or_max(typingctx, a, b, operator.gt)


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
