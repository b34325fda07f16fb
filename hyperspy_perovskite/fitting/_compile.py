"""Compile the engine for one model signature, only when that model is fitted.

A model signature is the sequence of (point kernel, block kernel) of its
active components. For each signature this module builds, once per session:

- ``evaluate(theta, P, ..., consts) -> chi2``: the model over all channels
  (straight-line code calling exactly the kernels of the model, no dispatch
  over kernels it does not use), its chi-squared and the normal equations
  (:func:`~._normal_equations._residual_and_normal`), in one compiled
  function cached on disk (:mod:`~hyperspy_perovskite.fitting._cache`);
- ``model_block(x, P, offsets, consts, grad, f, G)`` and ``model_point(x, P,
  offsets, consts, grad)`` for checks and tests (compiled on first use only).

The Levenberg-Marquardt solver of
:mod:`~hyperspy_perovskite.fitting._levenberg_marquardt` takes ``evaluate``
as a first-class function (a pointer): it is compiled once for every model
and cached, allocates nothing and calls nothing that a model compiles again.
Where the first compilation goes (measured with numba's compile events and
LLVM pass timings): every compiled call level links and re-optimises all the
machine code below it, so the solver inlines its thin helpers at numba's IR
level (one LLVM module), the model's kernels and the reduction to the normal
equations live in ``evaluate`` (compiled once per model), and the work
arrays are allocated in Python (no allocation code to compile).

Before a model is first compiled its kernels are probed
(:mod:`~hyperspy_perovskite.fitting._kernel_check`).

``offsets`` holds the index in ``P`` of each component's first parameter,
plus one last entry equal to ``len(P)``; ``consts`` is ``(n_components, 4)``.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import pathlib
import threading
from dataclasses import dataclass

import numpy as np
from numba import njit, types

from hyperspy_perovskite.fitting import _addresses, _background, _cache
from hyperspy_perovskite.fitting import _levenberg_marquardt as _lm
from hyperspy_perovskite.fitting._kernel_check import check_kernels
from hyperspy_perovskite.fitting._normal_equations import (
    _REDUCE,
    _expand,
    _normal_products,
    _residual_and_normal,
)

__all__ = ["CompiledModel", "compiled_model"]

_OPTIONS = {"nogil": True, "error_model": "numpy"}


def _generate(signature, point, tag):
    """Source of ``model_block`` (or ``model_point``) for ``signature``.

    Straight-line code with one call per component: each compiled level of
    calls costs numba and LLVM a re-optimisation of everything below it, so
    the model is one level, whatever its number of components.
    """
    if point:
        lines = [
            f"def model_point_{tag}(x, P, offsets, consts, grad):",
            "    total = 0.0",
        ]
        for k in range(len(signature)):
            lines.append(
                f"    total += kernel_{k}(x, P, offsets[{k}], grad, consts[{k}])"
            )
        lines.append("    return total")
        return "\n".join(lines) + "\n"
    lines = [
        f"def model_block_{tag}(x, P, offsets, consts, grad, f, G):",
        "    f[:] = 0.0",
    ]
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


_EVALUATE_ARGS = (
    "theta, P, grad, f, G, rb, bw, bw2, unit_weights, active, M, Mr, JtJ, Jtr, "
    "x, y, w, binw, src, scale, shift, offsets, consts"
)


def _generate_evaluate(signature, tag):
    """Source of ``evaluate``: the model, then chi-squared and normal equations.

    Compiled once per model, with the model's kernels and the reduction to
    the normal equations in one function (the solver calls it through a
    pointer, so the solver's machine code is shared by every model and none
    of this is compiled again inside it). The model's code is the body of
    ``model_block``, inlined: one level of compiled calls fewer.
    """
    body = _generate(signature, False, tag).splitlines()[1:]
    return (
        f"def evaluate_{tag}({_EVALUATE_ARGS}):\n"
        "    _expand(theta, P, src, scale, shift)\n"
        + "\n".join(body)
        + "\n    return _residual_and_normal(\n"
        "        f, G, rb, bw, bw2, unit_weights, active, M, Mr, JtJ, Jtr, y, w,\n"
        "        binw, src, scale\n"
        "    )\n"
    )


def _model_functions(signature, tag):
    # a cached function's environment is rebuilt from its module's name
    namespace = {
        "__name__": __name__,
        "_expand": _expand,
        "_residual_and_normal": _residual_and_normal,
    }
    for k, (kernel, block) in enumerate(signature):
        namespace[f"kernel_{k}"] = kernel
        namespace[f"block_{k}"] = block
    exec(
        compile(_generate(signature, False, tag), "generated_model", "exec"), namespace
    )
    exec(compile(_generate(signature, True, tag), "generated_model", "exec"), namespace)
    block = njit(_nrt=False, **_OPTIONS)(namespace[f"model_block_{tag}"])
    exec(
        compile(_generate_evaluate(signature, tag), "generated_model", "exec"),
        namespace,
    )
    evaluate = njit(_nrt=False, fastmath=_REDUCE, **_OPTIONS)(
        namespace[f"evaluate_{tag}"]
    )
    point = njit(**_OPTIONS)(namespace[f"model_point_{tag}"])
    return block, point, evaluate


@dataclass(frozen=True)
class CompiledModel:
    """The compiled functions of one model signature (see the module doc)."""

    signature: tuple
    model_block: object
    model_point: object
    evaluate: object
    cached: bool

    @property
    def fit_block(self):
        """``fit_block(*args)`` of the solver with this model bound first.

        The arguments are those of
        :func:`~._levenberg_marquardt.fit_block` after the model and
        without its ``sandwich`` (:func:`solve`).
        """
        return functools.partial(solve, self.evaluate)

    def chi2_and_normal(self, *args):
        """chi-squared and normal equations of this model (``evaluate``)."""
        return self.evaluate(*args)


_COMPILED: dict = {}
_LOCK = threading.Lock()


_A1 = types.float64[::1]
_A2 = types.float64[:, ::1]
_I1 = types.int64[::1]

#: Type of a compiled ``model_block(x, P, offsets, consts, grad, f, G)``.
MODEL_BLOCK_TYPE = types.FunctionType(types.void(_A1, _A1, _I1, _A2, _A1, _A1, _A2))

#: Type of a compiled ``evaluate`` (arguments: :data:`_EVALUATE_ARGS`).
EVALUATE_TYPE = types.FunctionType(
    types.float64(
        _A1, _A1, _A1, _A1, _A2, _A1, _A1, _A1, types.boolean, _I1, _A2, _A1,
        _A2, _A1, _A1, _A1, _A1, _A1, _I1, _A1, _A1, _I1, _A2,
    )
)  # fmt: skip

_FIT_BLOCK_ARGS = (
    EVALUATE_TYPE,
    _A1,  # x
    _A2,  # Y
    _A2,  # V
    _A2,  # P0
    types.int8[::1],  # flags_in
    _A1,  # binw
    _I1,  # src
    _A1,  # scale
    _A1,  # shift
    _I1,  # theta_index
    _A1,  # lower
    _A1,  # upper
    _I1,  # offsets
    _A2,  # consts
    _I1,  # amplitude_of
    types.boolean[::1],  # theta_linear
    types.int64,  # max_iterations
    *(types.float64, types.float64),  # ftol, xtol
    types.boolean,  # linear_solve
    *(_I1, _A1),  # peaks, collapse
    types.float64,  # initial_damping
)

_SANDWICH_TYPE_ARGS = (
    _A1, _A1, _A1, _A2, _A1, _A2, _A1, _I1, _I1, _A1, _A2, _A2, _A2, _A1,
    _A1, _A1, _A2, _A1,
)  # fmt: skip

#: Type of the solver's ``sandwich`` argument
#: (:func:`~._levenberg_marquardt.sandwich_deviations` or
#: :func:`~._levenberg_marquardt.no_sandwich`).
SANDWICH_TYPE = types.FunctionType(types.void(*_SANDWICH_TYPE_ARGS))

#: Position of ``count_factor`` in the solver's arguments after the model.
_COUNT_FACTOR = len(_FIT_BLOCK_ARGS) - 1


def _fit_block_args():
    """The solver's argument types: the above, ``count_factor``, the
    ``sandwich`` function, then its work arrays."""
    from numba import typeof

    sample = _lm.workspace(1, 2, 2, np.array([0, 1]), np.array([True, False]))
    return _FIT_BLOCK_ARGS + (_A1, SANDWICH_TYPE) + tuple(typeof(a) for a in sample)


def solve(evaluate, *args):
    """Run the solver on the model ``evaluate``.

    ``args`` are those of :func:`~._levenberg_marquardt.fit_block` after
    the model, without its ``sandwich``: the sandwich's function
    (:func:`sandwich_function`) is compiled (or loaded) only for fits of
    counts (a non-empty ``count_factor``).
    """
    k = _COUNT_FACTOR
    sandwich = sandwich_function(args[k].shape[0] > 0)
    sandwich = _addresses.by_address(sandwich, SANDWICH_TYPE)  # no conversion
    evaluate = _addresses.by_address(evaluate, EVALUATE_TYPE)  # at each call
    return fit_block()(evaluate, *args[: k + 1], sandwich, *args[k + 1 :])


def fit_block():
    """The solver (:func:`~._levenberg_marquardt.fit_block`), compiled once.

    It takes the model and the sandwich's function as first-class functions,
    so one compiled solver serves every model and every fit; its machine
    code is cached on disk, keyed by the engine's sources. When a second
    process is compiling it (:func:`start_solver_compile`), it is loaded
    from the cache once that process has stored it; if the process fails,
    it is compiled here.
    """
    return _once(_SOLVERS, "solver", _build_solver)


def _build_solver():
    dispatcher = _lm.fit_block
    key = _solver_cache_key()
    if key is not None:
        _cache.enable_disk_cache(dispatcher, key)
        _background.wait(
            solver_cache_entry(key),
            ready=functools.partial(solver_on_disk, key, False),
        )
    shared_functions(screen=False)  # linked in: compiled at their own level
    with _optimisation_level(_SOLVER_OPT):
        dispatcher.compile(_fit_block_args())
    dispatcher.disable_compile()  # never a per-model specialisation
    return dispatcher


def sandwich_function(counts=True):
    """The solver's ``sandwich`` argument, compiled (or loaded) once.

    With ``counts``, :func:`~._levenberg_marquardt.sandwich_deviations`
    (the standard deviations of unweighted fits of counts), else the no-op
    :func:`~._levenberg_marquardt.no_sandwich` of every other fit. Both are
    cached on disk; a fit of counts waits for the second process
    (:func:`start_solver_compile`) while it compiles the sandwich.
    """
    counts = bool(counts)
    return _once(_SOLVERS, counts, functools.partial(_build_sandwich, counts))


def _build_sandwich(counts):
    dispatcher = _lm.sandwich_deviations if counts else _lm.no_sandwich
    _cache.cache_once(dispatcher)
    if counts:
        from_second_process(dispatcher)
        shared_functions(screen=False)  # it links _normal_products
    dispatcher.compile(SANDWICH_TYPE.signature)
    dispatcher.disable_compile()
    return dispatcher


def _once(table, key, build):
    """``table[key]``, made by ``build()`` once: under the lock (the others
    wait), checked again inside it; later requests take no lock."""
    value = table.get(key)
    if value is None:
        with _LOCK:
            value = table.get(key)
            if value is None:
                value = table[key] = build()
    return value


def from_second_process(dispatcher):
    """Wait while the second process (:func:`start_solver_compile`) runs,
    until it has stored the disk-cached ``dispatcher`` (it compiles it too);
    nothing to wait for when no such process runs."""
    key = _solver_cache_key()
    if key is not None:
        ready = functools.partial(_stored, dispatcher)
        _background.wait(solver_cache_entry(key), ready=ready)


def _stored(dispatcher):
    """True when a disk-cached ``dispatcher``'s machine code is stored."""
    path = getattr(getattr(dispatcher, "_cache", None), "_cache_path", None)
    return path is not None and _entry_stored(pathlib.Path(path))


def _entry_stored(entry):  # numba writes the index, then the data, each whole
    return entry.is_dir() and any(entry.glob("*.nbi")) and any(entry.glob("*.nbc"))


#: LLVM optimisation level of the solver. Its loops run over the few free
#: parameters (the channel loops are in each model's ``evaluate``, compiled
#: at numba's default level 3); at level 1 it compiles in a quarter less
#: time and fits as fast (bench_first_call.py).
_SOLVER_OPT = 1


@contextlib.contextmanager
def _optimisation_level(level):
    """Compile at LLVM optimisation ``level`` (numba's ``NUMBA_OPT``) inside.

    Under numba's compiler lock (re-entrant), so that no other thread
    compiles at this level meanwhile; code compiled inside and linked into
    later functions is optimised again at their level.
    """
    from numba.core import config
    from numba.core.compiler_lock import global_compiler_lock

    with global_compiler_lock:
        saved = config.OPT
        if int(saved) > level:
            config.OPT = config._OptLevel(level)
        try:
            yield
        finally:
            config.OPT = saved


def solver_cache_entry(key):
    """The solver's folder in the cache (created on first use); it also
    holds the second process's lock file
    (:mod:`~hyperspy_perovskite.fitting._background`)."""
    return _cache.cache_dir() / "models" / f"fit_block-{key}"


def solver_on_disk(key, sandwich=True):
    """True when the solver's machine code for ``key`` is in the cache.

    With ``sandwich``, the sandwich's function too (everything the second
    process compiles for a fit of counts). An entry counts once numba has
    written its data file (after its index, each file written whole), so a
    process that sees it can load it.
    """
    if not _entry_stored(solver_cache_entry(key)):
        return False
    if not sandwich:
        return True
    dispatcher = _lm.sandwich_deviations
    _cache.cache_once(dispatcher)
    return _stored(dispatcher)


def start_solver_compile():
    """Have a second process compile the solver, unless it is at hand.

    Called when a fit starts, before its model is compiled: the two compile
    at once (:mod:`~hyperspy_perovskite.fitting._background`). Nothing
    happens when the solver and the sandwich are compiled in this process
    or on disk, or when their code cannot be cached (sources changed since
    import, no writable cache folder).
    """
    if _SOLVERS.keys() >= {"solver", False, True} or not _background.enabled():
        return
    key = _solver_cache_key()
    if key is None or solver_on_disk(key):
        return
    _background.start(key, solver_cache_entry(key))


_SOLVERS: dict = {}  # "solver", and the sandwich's functions (True, False)


def _signature_names(signature):
    """The model's structure: its kernels (module and name) in order."""
    return ";".join(
        ",".join(
            "-" if f is None else f"{f.py_func.__module__}.{f.py_func.__qualname__}"
            for f in pair
        )
        for pair in signature
    )


_UNCACHED = itertools.count()


def _on_disk(dispatcher):
    """True when ``dispatcher`` has an entry in the disk cache (no load)."""
    import os

    cache = getattr(dispatcher, "_cache", None)
    index = getattr(getattr(cache, "_cache_file", None), "_index_path", None)
    return index is not None and os.path.exists(index)


def _build(signature, probes=None):
    start_solver_compile()  # in a second process, while this one compiles
    functions = [f for pair in signature for f in pair if f is not None]
    # the generator (this package) and the kernels' packages
    key = _cache.source_fingerprint([_lm.fit_block, *functions])
    names = _signature_names(signature)
    # A unique function name per model structure: machine code loaded from
    # the cache keeps the symbol names it was compiled with, and two models
    # whose functions had the same name would resolve to one of them.
    tag = _cache.keyed(names) if key is not None else f"u{next(_UNCACHED)}"
    block, point, evaluate = _model_functions(signature, tag)
    cached = False
    if key is not None:
        cached = _cache.enable_disk_cache(evaluate, _cache.keyed(key, names))
    if probes is not None and not (cached and _on_disk(evaluate)):
        # checked before its first compilation (a cached model was checked
        # in the session that compiled it)
        check_kernels(probes)
    shared_functions(screen=False)  # loaded if the second process stored it
    evaluate.compile(EVALUATE_TYPE.signature)
    return CompiledModel(signature, block, point, evaluate, cached)


def compiled_model(signature, probes=None):
    """The :class:`CompiledModel` of ``signature`` (built on first request).

    Parameters
    ----------
    signature : tuple of (kernel, block or None)
        One pair per active component, in model order.
    probes : list or None
        Per component ``(name, kernel, block, values, consts, x)``: its
        kernels are checked (:func:`~._kernel_check.check_kernels`) before
        the model is first compiled.

    Raises
    ------
    KernelError
        If a kernel reads or writes outside its parameters, or allocates.
    """
    signature = tuple(signature)
    return _once(_COMPILED, signature, functools.partial(_build, signature, probes))


def kernel_probes(components, parameters, offsets, consts, x):
    """The ``probes`` of :func:`compiled_model` for a described model."""
    from hyperspy_perovskite.fitting.registry import kernel_spec

    x = np.asarray(x, dtype=np.float64)
    sample = x[np.unique(np.linspace(0, x.size - 1, 5).astype(int))]
    probes = []
    for k, comp in enumerate(components):
        spec = kernel_spec(comp)
        values = [float(p.value) for p in parameters[offsets[k] : offsets[k + 1]]]
        probes.append(
            (type(comp).__name__, spec.kernel, spec.block, values, consts[k], sample)
        )
    return probes


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
    offsets.append(len(params))
    consts = np.array(consts, dtype=np.float64).reshape(len(signature), 4)
    probes = kernel_probes(components, params, offsets, consts, np.linspace(0, 1, 5))
    return (
        compiled_model(signature, probes),
        np.array(offsets, dtype=np.int64),
        consts,
        params,
    )


def shared_functions(screen=True):
    """Compile (or load from the disk cache) the engine's model-independent
    functions other than the solver.

    With ``screen``, the input screen (:func:`~._screen.screen_inputs`),
    then ``_normal_products`` (the normal equations' products, linked into
    every model's ``evaluate``, into the solver and the sandwich), each
    cached on disk under the package's sources (:func:`~._cache.cache_once`).
    The second process (:mod:`~hyperspy_perovskite.fitting._background`)
    compiles them too: a first fit that gets there later loads them.
    Always at numba's default optimisation level (never inside
    :func:`_optimisation_level`): the same machine code whoever compiles
    it.
    """
    if screen:  # first: a first fit needs it after its model, when it may be stored
        from hyperspy_perovskite.fitting._screen import screen_inputs

        _cache.cache_once(screen_inputs)
        screen_inputs.compile((_A2, _A2, types.float64, types.int8[::1]))
    _cache.cache_once(_normal_products)
    _normal_products.compile((_A2, _A1, _I1, _A2, _A1))


def _solver_cache_key():
    key = _cache.source_fingerprint([_lm.fit_block])
    return None if key is None else _cache.keyed(key, "fit_block")


def _prefetch():
    try:
        key = _solver_cache_key()
        if key is None:
            return
        if not solver_on_disk(key):
            return  # never compiled here: compile on first fit, not now
        fit_block()
        shared_functions()
    except Exception:  # noqa: BLE001 - best effort: the first fit loads it anyway
        pass


def prefetch():
    """Load the cached solver in a background thread (nothing if not cached).

    Called when :mod:`hyperspy_perovskite.fitting` is imported: loading the
    machine code and numba's own start-up then overlap with the user's data
    loading and model building instead of delaying the first fit. Nothing is
    written here.

    It is OFF unless ``HYPERSPY_PEROVSKITE_PREFETCH=1`` is set: numba work in
    a background thread while the main thread imports or compiles other numba
    code (orix compiles its gufuncs on import) crashed a test process, so the
    default keeps all numba work on the caller's thread.
    """
    import os

    if os.environ.get("HYPERSPY_PEROVSKITE_PREFETCH", "") not in ("1", "true", "yes"):
        return None
    thread = threading.Thread(
        target=_prefetch, name="hyperspy_perovskite-prefetch", daemon=True
    )
    thread.start()
    return thread


def refresh_numba_contexts():
    """Set up numba's CPU typing and target contexts now (about 0.5 s, once).

    numba does it on the first call or compilation of any jitted function; doing it
    when the engine is imported keeps that fixed cost out of the first fit of a
    session (which otherwise loads cached machine code). It imports scipy and cffi.
    """
    from numba.core.registry import cpu_target

    cpu_target.typing_context.refresh()
    cpu_target.target_context.refresh()
