"""Check a registered kernel before the engine compiles it into a model.

The engine runs kernels inside code compiled without numba's reference
counting and without bounds checks (for speed), so a kernel that

- reads or writes parameters beyond the ones it was registered with
  (``P[o + k]`` or ``grad[o + k]`` with ``k >= len(parameters)``, e.g. a
  parameter missing from ``parameters``), or
- allocates arrays (``np.empty``, ``np.zeros``, array expressions),

would silently read other components' parameters, overwrite memory that is
not its own or unbalance numba's reference counts: wrong fits, or a crash
("double free") in a later fit. Each kernel is therefore called once on
probe arrays before the first compilation of a model that uses it (never
when the model's machine code comes from the disk cache: it was checked
when it was compiled), and refused with :class:`KernelError` when it reads
or writes outside its parameters or allocates.
"""

from __future__ import annotations

import numpy as np

__all__ = ["KernelError", "check_kernels"]

_PAD = 3  # probe entries on each side of a component's parameters
_SENTINELS = (np.nan, 1.5)  # other components' parameters in the two probes
_GRAD_SENTINEL = -7.25e11
_CHECKED: set = set()


class KernelError(ValueError):
    """A registered kernel cannot be run safely by the compiled engine."""


_ALLOCATORS = ("NRT_MemInfo_alloc", "NRT_MemInfo_varsize_alloc", "NRT_MemInfo_new")


def _allocates(func):
    """True when the compiled ``func`` (or anything it calls) allocates.

    Read from its LLVM IR, which holds the code of its callees; None when
    the IR is not available (machine code loaded from a cache).
    """
    try:
        irs = func.inspect_llvm()
    except Exception:  # noqa: BLE001 - loaded from numba's own cache
        return None
    text = "\n".join(irs.values())
    return any(name in text for name in _ALLOCATORS)


def _probe_point(kernel, name, n, values, c, x):
    o = _PAD
    outputs = []
    for sentinel in _SENTINELS:
        P = np.full(o + n + _PAD, sentinel)
        P[o : o + n] = values
        grad = np.full(P.shape, _GRAD_SENTINEL)
        value = np.array([kernel(float(xi), P, o, grad, c) for xi in x])
        outside = np.r_[grad[:o], grad[o + n :]]
        if np.any(outside != _GRAD_SENTINEL):
            raise KernelError(
                f"The kernel registered for {name} writes grad[o + k] for k "
                f"outside its {n} parameter(s): register_kernel(..., "
                "parameters=...) must list every parameter the kernel uses, in "
                "kernel order, and the kernel may write grad[o] .. "
                f"grad[o + {n - 1}] only."
            )
        outputs.append(value)
    if not np.array_equal(outputs[0], outputs[1], equal_nan=True):
        raise KernelError(
            f"The kernel registered for {name} reads P[o + k] for k outside its "
            f"{n} parameter(s) (other components' parameters change its "
            "value): list every parameter it uses in register_kernel(..., "
            "parameters=...), in kernel order."
        )
    if _allocates(kernel):
        raise KernelError(_allocation_message(name))


def _probe_block(block, name, n, values, c, x):
    o = _PAD
    outputs = []
    for sentinel in _SENTINELS:
        P = np.full(o + n + _PAD, sentinel)
        P[o : o + n] = values
        f = np.zeros(x.shape)
        G = np.full((P.size, x.size), _GRAD_SENTINEL)
        block(x, P, o, c, f, G)
        if np.any(G[:o] != _GRAD_SENTINEL) or np.any(G[o + n :] != _GRAD_SENTINEL):
            raise KernelError(
                f"The block kernel registered for {name} writes rows of G "
                f"outside its {n} parameter(s) (it may write G[o] .. G[o + "
                f"{n - 1}] only): check register_kernel(..., parameters=...)."
            )
        outputs.append(f)
    if not np.array_equal(outputs[0], outputs[1], equal_nan=True):
        raise KernelError(
            f"The block kernel registered for {name} reads P[o + k] for k "
            f"outside its {n} parameter(s): list every parameter it uses in "
            "register_kernel(..., parameters=...), in kernel order."
        )
    if _allocates(block):
        raise KernelError(_allocation_message(name))


def _allocation_message(name):
    return (
        f"The kernel registered for {name} allocates memory (np.empty, "
        "np.zeros, an array expression or a returned array). The engine runs "
        "kernels without numba's reference counting, so a kernel must compute "
        "with scalars and write only into grad (or f and G for a block "
        "kernel): rewrite it without creating arrays."
    )


def check_kernels(probes):
    """Check each kernel of a model once per session (see the module doc).

    Parameters
    ----------
    probes : list of tuple
        ``(name, kernel, block, values, consts, x)`` per component: its
        class name, point kernel, block kernel (or None), current parameter
        values in kernel order, its 4 constants and a few axis values.

    Raises
    ------
    KernelError
        If a kernel reads or writes outside its parameters, or allocates.
    """
    for name, kernel, block, values, consts, x in probes:
        values = np.asarray(values, dtype=np.float64)
        c = np.ascontiguousarray(consts, dtype=np.float64)
        x = np.ascontiguousarray(x, dtype=np.float64)
        # the kernel the model runs: the block kernel when there is one
        func, probe = (kernel, _probe_point) if block is None else (block, _probe_block)
        key = (id(func), values.size)
        if key in _CHECKED:
            continue
        with np.errstate(all="ignore"):
            probe(func, name, values.size, values, c, x)
        _CHECKED.add(key)
