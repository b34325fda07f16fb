"""Which HyperSpy components the batched engine can fit, and how.

A component joins :func:`~hyperspy_perovskite.fitting.fast_multifit` by
registering its compiled point kernel with :func:`register_kernel`, usually
right below the component class, in the same module. The engine knows
components only through these registrations: it never imports them.
HyperSpy's own components (Offset, Gaussian, GaussianHF, Lorentzian,
Polynomial, Exponential, Erf) are registered here, on first use.

Contract of a point kernel (numba ``@njit(nogil=True, error_model="numpy")``:
a division by zero must give inf/nan, which the engine flags, never raise)::

    value = kernel(x, P, o, grad, c)

- ``x``: float, one value of the signal axis (in the axis units);
- ``P``: float64 vector, all parameters of the model at one pixel;
- ``o``: int, index in ``P`` of this component's first parameter, the others
  follow in the order given by ``parameters``;
- ``grad``: float64 vector as long as ``P``; the kernel writes
  ``d value / d P[o + k]`` into ``grad[o + k]`` for each of its parameters;
- ``c``: float64 vector of 4 per-component constants (``constants``).

An optional block kernel evaluates the component over a whole spectrum
(faster for the most used components)::

    block(x, P, o, c, f, G)

adds the component at every ``x[j]`` to ``f[j]`` and writes its partial
derivatives into the rows ``G[o + k, :]``. Binning and weighting are applied
by the engine, never by a kernel. The engine compiles, for each model, one
function that calls exactly the kernels of its components, and caches it on
disk (:mod:`hyperspy_perovskite.fitting._cache`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = [
    "KernelSpec",
    "UnsupportedComponentError",
    "kernel_spec",
    "register_kernel",
    "supported_components",
]


class UnsupportedComponentError(TypeError):
    """Raised when a model holds a component without a compiled kernel."""


def _no_constants(component):
    return ()


@dataclass(frozen=True)
class KernelSpec:
    """How the compiled engine evaluates one component class.

    Parameters
    ----------
    kernel : numba dispatcher
        The point kernel (contract in :mod:`hyperspy_perovskite.fitting.registry`).
    parameters : tuple of str or callable
        Parameter names in kernel order, or ``f(component) -> tuple of str``
        when the number of parameters depends on the instance (Polynomial).
    block : numba dispatcher or None
        Optional block kernel over a whole spectrum.
    position : str or None
        Name of a position parameter (a peak centre). A fit whose position
        ends outside the fitted signal range is flagged "no peak in range".
    amplitude : str or None
        Name of the parameter whose significance (value / std) tells whether
        a peak was found.
    constants : callable
        ``f(component) -> tuple of float`` (at most 4), passed to the kernel.
    proportional_to : str or None
        Name of the parameter ``a`` when the component is ``a * shape(other
        parameters)``: the model is linear in ``a`` and the derivatives with
        respect to the others scale with it, which the engine's exact solve
        of the linear parameters uses.
    linear : bool
        The component is linear in every parameter, with basis functions that
        depend on none of them (Offset, Polynomial).
    """

    kernel: Callable
    parameters: tuple | Callable
    block: Callable | None = None
    position: str | None = None
    amplitude: str | None = None
    constants: Callable = field(default=_no_constants)
    proportional_to: str | None = None
    linear: bool = False

    def parameter_names(self, component):
        if callable(self.parameters):
            return tuple(self.parameters(component))
        return tuple(self.parameters)


_REGISTRY: dict = {}
_BUILTINS_DONE = False
_LOCK = threading.RLock()


def _as_kernel(function, what):
    """A numba dispatcher for ``function`` (jitted here if plain Python)."""
    if function is None:
        return None
    if hasattr(function, "py_func"):
        return function
    if not callable(function):
        raise TypeError(f"{what} must be a function, not {type(function).__name__}.")
    from numba import njit

    return njit(nogil=True, error_model="numpy")(function)


def register_kernel(
    component_class,
    kernel,
    parameters,
    *,
    block=None,
    position=None,
    amplitude=None,
    constants=None,
    proportional_to=None,
    linear=False,
    replace=False,
):
    """Let :func:`~hyperspy_perovskite.fitting.fast_multifit` fit a component.

    Registers the compiled point kernel of ``component_class`` (and an
    optional block kernel). The exact class is registered: a subclass that
    changes the function must register its own kernel. The engine compiles
    the kernels of a model only when that model is first fitted, and keeps
    the machine code in a user cache folder for the next sessions.

    Parameters
    ----------
    component_class : type
        A HyperSpy ``Component`` (or ``Expression``) subclass.
    kernel : callable
        ``kernel(x, P, o, grad, c) -> float``: the component's value at the
        axis value ``x`` for the parameters ``P[o], P[o + 1], ...`` (in the
        order of ``parameters``), writing its partial derivatives to
        ``grad[o + k]``; ``c`` holds the constants. A numba-jitted function,
        or plain Python that numba can compile (it is jitted with
        ``nogil=True, error_model="numpy"``). Define it in a module (a file):
        kernels typed at the prompt work but are compiled in every session.
        It must compute with scalars (no ``np.empty``, ``np.zeros`` or
        array expressions) and touch ``P[o + k]`` and ``grad[o + k]`` for
        ``k < len(parameters)`` only: the engine runs it without numba's
        reference counting and without bounds checks, so before a model
        is first compiled each kernel is probed, and one that allocates or
        reads or writes outside its parameters is refused with
        ``KernelError``.
    parameters : tuple of str or callable
        The component's parameter names in kernel order, or
        ``f(component) -> tuple of str``.
    block : callable, optional
        ``block(x, P, o, c, f, G)``: the component over all channels ``x``,
        added to ``f``, derivatives written into rows ``G[o + k]``.
    position, amplitude : str, optional
        Peak position and amplitude parameters, used to flag pixels where no
        peak was found (``flags.NO_PEAK``).
    constants : callable, optional
        ``f(component) -> tuple of at most 4 floats`` passed as ``c``.
    proportional_to : str, optional
        The amplitude ``a`` when the component is ``a * shape(others)``.
    linear : bool
        True when the component is linear in all its parameters with
        parameter-free basis functions.
    replace : bool
        Replace an existing registration (else a second registration of the
        same class with another kernel is refused).

    Returns
    -------
    KernelSpec

    Examples
    --------
    A user's own component, an exponential decay with a constant floor:

    >>> import math
    >>> Expression = hs.model.components1D.Expression
    >>> from hyperspy_perovskite.fitting import fast_multifit, register_kernel
    >>> class Decay(Expression):
    ...     def __init__(self, A=1.0, tau=1.0):
    ...         super().__init__("A * exp(-x / tau)", name="Decay", A=A, tau=tau)
    >>> def decay_kernel(x, P, o, grad, c):
    ...     e = math.exp(-x / P[o + 1])
    ...     grad[o] = e
    ...     grad[o + 1] = P[o] * e * x / P[o + 1] ** 2
    ...     return P[o] * e
    >>> spec = register_kernel(Decay, decay_kernel, ("A", "tau"), proportional_to="A")
    >>> t = np.linspace(0, 10, 200)
    >>> rng = np.random.default_rng(0)
    >>> s = hs.signals.Signal1D(50 * np.exp(-t / 2.5) + rng.normal(0, 0.5, (3, 200)))
    >>> s.axes_manager[-1].scale = t[1]
    >>> m = s.create_model()
    >>> m.append(Decay(A=30.0, tau=1.0))
    >>> result = fast_multifit(m)
    >>> result.n_converged
    3
    >>> bool(np.all(np.abs(m[0].tau.map["values"] - 2.5) < 0.1))
    True
    """
    if not isinstance(component_class, type):
        raise TypeError(
            "register_kernel needs the component class (e.g. MyComponent), not "
            f"an instance of {type(component_class).__name__}."
        )
    if not callable(parameters):
        parameters = tuple(parameters)
        if not parameters or not all(isinstance(p, str) for p in parameters):
            raise ValueError(
                "parameters must be the component's parameter names in kernel "
                f"order (a tuple of str), got {parameters!r}."
            )
        named = (position, amplitude, proportional_to)
        unknown = [n for n in named if n is not None and n not in parameters]
        if unknown:
            raise ValueError(f"{unknown} not among the kernel parameters {parameters}.")
    spec = KernelSpec(
        kernel=_as_kernel(kernel, "kernel"),
        parameters=parameters,
        block=_as_kernel(block, "block"),
        position=position,
        amplitude=amplitude,
        constants=constants if constants is not None else _no_constants,
        proportional_to=proportional_to,
        linear=bool(linear),
    )
    with _LOCK:
        old = _REGISTRY.get(component_class)
        if old is not None and not replace and old.kernel is not spec.kernel:
            same_code = getattr(old.kernel, "py_func", None) is getattr(
                spec.kernel, "py_func", None
            )
            if not same_code:
                raise ValueError(
                    f"{component_class.__name__} already has a kernel; pass "
                    "replace=True to change it."
                )
        _REGISTRY[component_class] = spec
    return spec


def _registry():
    """All registrations, HyperSpy's own components included."""
    global _BUILTINS_DONE
    if not _BUILTINS_DONE:
        from hyperspy_perovskite.fitting.kernels.builtin import register_builtins

        with _LOCK:
            if not _BUILTINS_DONE:
                register_builtins()
                _BUILTINS_DONE = True
    return _REGISTRY


def supported_components():
    """Names of the component classes :func:`fast_multifit` can fit.

    Components register on import: those of this suite when
    :mod:`hyperspy_perovskite.components` is imported, a user's when
    :func:`register_kernel` is called.

    Examples
    --------
    >>> from hyperspy_perovskite.fitting import supported_components
    >>> "Gaussian" in supported_components()
    True
    """
    return sorted(cls.__name__ for cls in _registry())


def kernel_spec(component):
    """The :class:`KernelSpec` of ``component``.

    The exact class is looked up (a subclass may change the function), so a
    user-defined subclass must be registered on its own.

    Raises
    ------
    UnsupportedComponentError
        If the component has no compiled kernel.
    """
    spec = _registry().get(type(component))
    if spec is None:
        raise UnsupportedComponentError(
            f"Component '{component.name}' ({type(component).__name__}) has no "
            "compiled kernel, so fast_multifit cannot fit it. Supported: "
            f"{', '.join(supported_components())}. Register one with "
            "hyperspy_perovskite.fitting.register_kernel, fit this model with "
            "m.multifit() instead, or replace the component."
        )
    return spec
