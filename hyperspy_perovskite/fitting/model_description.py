"""Translate a HyperSpy ``Model1D`` into the arrays the compiled engine reads.

Nothing here fits: it reads the model (components, parameters, free/fixed,
twins, bounds, maps, signal range, binning) and builds a
:class:`ModelDescription`, refusing clearly what the engine cannot honour.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hyperspy_perovskite.fitting.registry import UnsupportedComponentError, kernel_spec

__all__ = ["ModelDescription", "describe_model"]

_MAX_CONSTANTS = 4


@dataclass
class ModelDescription:
    """The model as flat arrays (see :func:`describe_model`)."""

    components: list
    parameters: list  # HyperSpy Parameter objects in kernel order
    signature: tuple  # (kernel, block) per component: the compiled model's key
    offsets: np.ndarray  # first parameter of each component, then n_parameters
    consts: np.ndarray
    src: np.ndarray
    scale: np.ndarray
    shift: np.ndarray
    theta_index: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    fixed_twins: list  # (index, master index, scale, shift) for twins of fixed params
    position_index: list  # indices in P of position parameters
    amplitude_index: list  # indices in P of amplitude parameters
    amplitude_of: np.ndarray  # index in P of the amplitude a parameter scales with
    theta_linear: np.ndarray  # free parameters in which the model is linear

    @property
    def n_parameters(self):
        return len(self.parameters)

    @property
    def n_free(self):
        return len(self.theta_index)


def _linear_twin(parameter):
    """``(a, b)`` with ``value = a * twin.value + b``, or raise if not linear."""
    expr = parameter.twin_function_expr
    if expr.strip() in ("", "x"):  # HyperSpy's default twin is the identity
        return 1.0, 0.0
    import sympy

    x = sympy.Symbol("x")
    try:
        poly = sympy.Poly(sympy.sympify(expr), x)
    except sympy.PolynomialError:
        poly = None
    if poly is None or poly.degree() > 1 or len(poly.free_symbols) > 1:
        raise UnsupportedComponentError(
            f"Parameter '{parameter.component.name}.{parameter.name}' is twinned "
            f"through '{expr}', which is not linear in x; fast_multifit supports "
            "twins of the form a*x + b. Use m.multifit() for this model."
        )
    coeffs = poly.all_coeffs()
    a = float(coeffs[0]) if poly.degree() == 1 else 0.0
    b = float(coeffs[-1]) if poly.degree() == 1 else float(coeffs[0])
    return a, b


def describe_model(model, bounded=True):
    """Flatten the active components of ``model`` for the compiled engine.

    Parameters
    ----------
    model : hyperspy.models.model1d.Model1D
    bounded : bool
        If True, ``bmin``/``bmax`` of free parameters become box bounds.

    Returns
    -------
    ModelDescription

    Raises
    ------
    UnsupportedComponentError
        For a component without kernel, a convolved model, a component active
        per pixel, a multi-valued parameter or a non-linear twin.
    """
    from hyperspy.models.model1d import Model1D

    if not isinstance(model, Model1D):
        raise TypeError(
            f"fast_multifit fits a HyperSpy Model1D (from s.create_model()), "
            f"not {type(model).__name__}."
        )
    try:
        convolved = bool(model.convolved)
    except NotImplementedError:  # models that cannot convolve (e.g. optical)
        convolved = False
    if convolved:
        raise UnsupportedComponentError(
            "fast_multifit does not fit convolved models (low-loss convolution); "
            "use m.multifit() for this model."
        )
    components = [c for c in model if c.active]
    if not components:
        raise ValueError(
            "The model has no active component: add one (m.append(...)) or "
            "activate it (component.active = True) before fitting."
        )
    layout = _component_layout(components)
    parameters = layout["parameters"]
    n_p = len(parameters)
    src, scale, shift, theta_index, lower, upper = _free_parameters(parameters, bounded)
    fixed_twins = _resolve_twins(parameters, src, scale, shift)
    # a free parameter is linear when every parameter it sets is
    theta_linear = np.ones(len(theta_index), dtype=bool)
    for i in range(n_p):
        if src[i] >= 0 and not layout["linear"][i]:
            theta_linear[src[i]] = False
    return ModelDescription(
        components=components,
        parameters=parameters,
        signature=tuple(layout["signature"]),
        offsets=np.asarray(layout["offsets"] + [n_p], dtype=np.int64),
        consts=np.asarray(layout["consts"], dtype=np.float64).reshape(
            len(components), _MAX_CONSTANTS
        ),
        src=src,
        scale=scale,
        shift=shift,
        theta_index=np.asarray(theta_index, dtype=np.int64),
        lower=np.asarray(lower, dtype=np.float64),
        upper=np.asarray(upper, dtype=np.float64),
        fixed_twins=fixed_twins,
        position_index=layout["position_index"],
        amplitude_index=layout["amplitude_index"],
        amplitude_of=np.asarray(layout["amplitude_of"], dtype=np.int64),
        theta_linear=theta_linear,
    )


def _component_layout(components):
    """Kernels, parameters (kernel order), offsets and roles of the components."""
    out = {
        k: []
        for k in (
            "parameters",
            "signature",
            "offsets",
            "consts",
            "position_index",
            "amplitude_index",
            "linear",
            "amplitude_of",
        )
    }
    parameters = out["parameters"]
    for comp in components:
        if comp.active_is_multidimensional:
            raise UnsupportedComponentError(
                f"Component '{comp.name}' is active per pixel "
                "(active_is_multidimensional=True), which fast_multifit does not "
                "support; set comp.active_is_multidimensional = False or use "
                "m.multifit()."
            )
        spec = kernel_spec(comp)
        names = spec.parameter_names(comp)
        first = len(parameters)
        out["offsets"].append(first)
        out["signature"].append((spec.kernel, spec.block))
        c = tuple(spec.constants(comp))
        if len(c) > _MAX_CONSTANTS:  # pragma: no cover - guards new kernels
            raise ValueError(f"At most {_MAX_CONSTANTS} kernel constants.")
        out["consts"].append(c + (0.0,) * (_MAX_CONSTANTS - len(c)))
        for name in names:
            par = getattr(comp, name)
            if par._number_of_elements != 1:
                raise UnsupportedComponentError(
                    f"Parameter '{comp.name}.{name}' holds "
                    f"{par._number_of_elements} values; fast_multifit fits "
                    "single-valued parameters only. Use m.multifit()."
                )
            if name == spec.position:
                out["position_index"].append(len(parameters))
            if name == spec.amplitude:
                out["amplitude_index"].append(len(parameters))
            out["linear"].append(spec.linear or name == spec.proportional_to)
            out["amplitude_of"].append(
                first + names.index(spec.proportional_to)
                if spec.proportional_to is not None and name != spec.proportional_to
                else -1
            )
            parameters.append(par)
    return out


def _free_parameters(parameters, bounded):
    """``src`` (free index or -1), scale, shift, free indices and bounds."""
    n_p = len(parameters)
    src = np.full(n_p, -1, dtype=np.int64)
    scale = np.ones(n_p)
    shift = np.zeros(n_p)
    theta_index, lower, upper = [], [], []
    for i, par in enumerate(parameters):
        if par.twin is None and par.free:
            src[i] = len(theta_index)
            theta_index.append(i)
            lo = par.bmin if (bounded and par.bmin is not None) else -np.inf
            hi = par.bmax if (bounded and par.bmax is not None) else np.inf
            if lo > hi:
                raise ValueError(
                    f"Parameter '{par.component.name}.{par.name}' has bmin={lo} "
                    f"> bmax={hi}; correct the bounds."
                )
            lower.append(lo)
            upper.append(hi)
    return src, scale, shift, theta_index, lower, upper


def _resolve_twins(parameters, src, scale, shift):
    """Twinned parameters follow their master (``src``, ``scale``, ``shift``
    updated in place); returns the twins of fixed masters."""
    index_of = {id(p): i for i, p in enumerate(parameters)}
    fixed_twins = []
    for i, par in enumerate(parameters):
        if par.twin is None:
            continue
        # resolve chains of twins down to the master parameter
        a, b = 1.0, 0.0
        master = par
        seen = set()
        while master.twin is not None:
            if id(master) in seen:  # pragma: no cover - HyperSpy forbids cycles
                raise ValueError("Circular twins.")
            seen.add(id(master))
            ai, bi = _linear_twin(master)
            a, b = a * ai, a * bi + b
            master = master.twin
        if id(master) not in index_of:
            raise UnsupportedComponentError(
                f"Parameter '{par.component.name}.{par.name}' is twinned to "
                f"'{master.component.name}.{master.name}', which is not in an "
                "active component of this model. Activate it or remove the twin."
            )
        j = index_of[id(master)]
        if src[j] >= 0:
            src[i] = src[j]
            scale[i] = a * scale[j]
            shift[i] = a * shift[j] + b
        else:
            fixed_twins.append((i, j, a, b))
    return fixed_twins
