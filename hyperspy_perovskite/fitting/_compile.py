"""Compile the engine for one model signature, only when that model is fitted.

A model signature is the sequence of (point kernel, block kernel) of its
active components. For each signature this module builds, once per session:

- ``model_block(x, P, offsets, consts, grad, f, G)``: the model over all
  channels into ``f``, partial derivatives into the rows of ``G``, calling
  exactly the kernels of the model in straight-line code (no dispatch over
  kernels that the model does not use);
- ``model_point(x, P, offsets, consts, grad)``: the model at one axis value;
- ``fit_block``: the Levenberg-Marquardt solver of
  :mod:`~hyperspy_perovskite.fitting._levenberg_marquardt` bound to that
  ``model_block``, with its machine code cached on disk
  (:mod:`~hyperspy_perovskite.fitting._cache`), so a new session loads it
  instead of compiling.

``offsets`` holds the index in ``P`` of each component's first parameter,
plus one last entry equal to ``len(P)``; ``consts`` is ``(n_components, 4)``.
"""

from __future__ import annotations

import threading
import types
from dataclasses import dataclass

import numpy as np
from numba import njit

from hyperspy_perovskite.fitting import _cache
from hyperspy_perovskite.fitting import _levenberg_marquardt as _lm

__all__ = ["CompiledModel", "compiled_model"]

_OPTIONS = {"nogil": True, "error_model": "numpy"}


def _generate(signature, point):
    """Source of ``model_block`` (or ``model_point``) for ``signature``.

    Straight-line code with one call per component: each compiled level of
    calls costs numba and LLVM a re-optimisation of everything below it, so
    the model is one level, whatever its number of components.
    """
    if point:
        lines = ["def model_point(x, P, offsets, consts, grad):", "    total = 0.0"]
        for k in range(len(signature)):
            lines.append(
                f"    total += kernel_{k}(x, P, offsets[{k}], grad, consts[{k}])"
            )
        lines.append("    return total")
        return "\n".join(lines) + "\n"
    lines = ["def model_block(x, P, offsets, consts, grad, f, G):", "    f[:] = 0.0"]
    for k, (_, block) in enumerate(signature):
        if block is not None:
            lines.append(f"    block_{k}(x, P, offsets[{k}], consts[{k}], f, G)")
            continue
        lines += [
            f"    o = offsets[{k}]",
            f"    end = offsets[{k + 1}]",
            f"    c = consts[{k}]",
            "    for j in range(x.shape[0]):",
            f"        f[j] += kernel_{k}(x[j], P, o, grad, c)",
            "        for q in range(o, end):",
            "            G[q, j] = grad[q]",
        ]
    return "\n".join(lines) + "\n"


def _model_functions(signature):
    namespace = {}
    for k, (kernel, block) in enumerate(signature):
        namespace[f"kernel_{k}"] = kernel
        namespace[f"block_{k}"] = block
    exec(compile(_generate(signature, False), "<model_block>", "exec"), namespace)
    exec(compile(_generate(signature, True), "<model_point>", "exec"), namespace)
    block = njit(_nrt=False, **_OPTIONS)(namespace["model_block"])
    point = njit(**_OPTIONS)(namespace["model_point"])
    return block, point


def _rebind(function, namespace):
    """``function`` with its globals replaced by ``namespace``."""
    new = types.FunctionType(
        function.__code__,
        namespace,
        function.__name__,
        function.__defaults__,
        function.__closure__,
    )
    new.__qualname__ = function.__qualname__
    new.__module__ = function.__module__
    new.__doc__ = function.__doc__
    return new


@dataclass(frozen=True)
class CompiledModel:
    """The compiled functions of one model signature (see the module doc)."""

    signature: tuple
    model_block: object
    model_point: object
    chi2_and_normal: object
    fit_block: object
    cached: bool


_COMPILED: dict = {}
_LOCK = threading.Lock()


def _build(signature):
    block, point = _model_functions(signature)
    namespace = dict(vars(_lm))
    namespace["model_block"] = block
    chi2 = njit(fastmath=_lm._REDUCE, _nrt=False, **_OPTIONS)(
        _rebind(_lm._chi2_and_normal, namespace)
    )
    namespace["_chi2_and_normal"] = chi2
    fit = njit(**_OPTIONS)(_rebind(_lm.fit_block, namespace))
    functions = [_lm.fit_block] + [f for pair in signature for f in pair if f]
    key = _cache.source_fingerprint(functions)
    cached = False
    if key is not None:
        # the kernels' identity (module and name) is part of the key too
        names = "|".join(
            f"{f.py_func.__module__}.{f.py_func.__qualname__}"
            for pair in signature
            for f in pair
            if f is not None
        )
        key = _cache.keyed(key, names)
        cached = _cache.enable_disk_cache(fit, key)
    return CompiledModel(signature, block, point, chi2, fit, cached)


def compiled_model(signature):
    """The :class:`CompiledModel` of ``signature`` (built on first request).

    Parameters
    ----------
    signature : tuple of (kernel, block or None)
        One pair per active component, in model order.
    """
    signature = tuple(signature)
    compiled = _COMPILED.get(signature)
    if compiled is None:
        with _LOCK:
            compiled = _COMPILED.get(signature)
            if compiled is None:
                compiled = _COMPILED[signature] = _build(signature)
    return compiled


def for_components(components):
    """Compiled model and arrays of a list of components (for checks and tests).

    Returns ``(compiled, offsets, consts, parameters)``: the
    :class:`CompiledModel`, the offsets (with the closing entry), the
    constants and the HyperSpy parameters in kernel order.
    """
    from hyperspy_perovskite.fitting.registry import kernel_spec

    signature, offsets, consts, params = [], [], [], []
    for comp in components:
        spec = kernel_spec(comp)
        signature.append((spec.kernel, spec.block))
        offsets.append(len(params))
        c = tuple(spec.constants(comp))
        consts.append(c + (0.0,) * (4 - len(c)))
        params.extend(getattr(comp, n) for n in spec.parameter_names(comp))
    return (
        compiled_model(signature),
        np.array(offsets + [len(params)], dtype=np.int64),
        np.array(consts, dtype=np.float64).reshape(len(signature), 4),
        params,
    )
