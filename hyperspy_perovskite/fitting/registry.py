"""Which HyperSpy components the batched engine can fit, and how.

A :class:`KernelSpec` links a component class to its compiled point kernel
(:mod:`hyperspy_perovskite.fitting.kernels`): the kernel code, the names of
the component's parameters in the order the kernel reads them, and optional
hints the engine uses to flag pixels where a peak was not found.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from hyperspy_perovskite.fitting.kernels import _dispatch as codes

__all__ = [
    "KernelSpec",
    "UnsupportedComponentError",
    "kernel_spec",
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
    code : int
        Branch of :func:`~hyperspy_perovskite.fitting.kernels.model_point`.
    parameters : tuple of str or callable
        Parameter names in kernel order, or ``f(component) -> tuple of str``
        when the number of parameters depends on the instance (Polynomial).
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
        of the linear parameters uses (checked for every kernel by the tests).
    linear : bool
        The component is linear in every parameter, with basis functions that
        depend on none of them (Offset, Polynomial).
    """

    code: int
    parameters: tuple | Callable
    position: str | None = None
    amplitude: str | None = None
    constants: Callable = field(default=_no_constants)
    proportional_to: str | None = None
    linear: bool = False

    def parameter_names(self, component):
        if callable(self.parameters):
            return tuple(self.parameters(component))
        return tuple(self.parameters)


def _polynomial_names(component):
    order = component.get_polynomial_order()
    names = {p.name for p in component.parameters}
    width = len(str(order))
    out = tuple(f"a{str(i).zfill(width)}" for i in range(order + 1))
    if set(out) != names:  # pragma: no cover - guards HyperSpy renaming
        raise UnsupportedComponentError(
            f"Unexpected Polynomial parameter names {sorted(names)}."
        )
    return out


def _polynomial_constants(component):
    return (float(component.get_polynomial_order()),)


def _builtin_specs():
    from hyperspy.api import model

    c1d = model.components1D

    return {
        c1d.Offset: KernelSpec(codes.OFFSET, ("offset",), linear=True),
        c1d.Gaussian: KernelSpec(
            codes.GAUSSIAN,
            ("A", "sigma", "centre"),
            position="centre",
            amplitude="A",
            proportional_to="A",
        ),
        c1d.GaussianHF: KernelSpec(
            codes.GAUSSIAN_HF,
            ("height", "fwhm", "centre"),
            position="centre",
            amplitude="height",
            proportional_to="height",
        ),
        c1d.Lorentzian: KernelSpec(
            codes.LORENTZIAN,
            ("A", "gamma", "centre"),
            position="centre",
            amplitude="A",
            proportional_to="A",
        ),
        c1d.Polynomial: KernelSpec(
            codes.POLYNOMIAL,
            _polynomial_names,
            constants=_polynomial_constants,
            linear=True,
        ),
        c1d.Exponential: KernelSpec(
            codes.EXPONENTIAL, ("A", "tau"), proportional_to="A"
        ),
        c1d.Erf: KernelSpec(codes.ERF, ("A", "sigma", "origin"), proportional_to="A"),
    }


def _suite_specs():
    """Kernel specs of this suite's own components (one line per component)."""
    specs = {}
    # --- cathodoluminescence components ---
    from hyperspy_perovskite.components import GaussianEmission, UrbachTail

    specs[GaussianEmission] = KernelSpec(
        codes.GAUSSIAN_EMISSION,
        ("A", "centre", "sigma"),
        position="centre",
        amplitude="A",
        proportional_to="A",
    )
    specs[UrbachTail] = KernelSpec(
        codes.URBACH_TAIL, ("A", "E0", "Eu"), proportional_to="A"
    )
    # bridge until the public register_kernel lands (emission_bands registers)
    from hyperspy_perovskite.components import (
        AsymmetricEmission,
        ContinuousUrbachTail,
        WavelengthOffset,
    )
    from hyperspy_perovskite.components.emission_bands import (
        WAVELENGTH_OFFSET_CONSTANT,
    )

    specs[AsymmetricEmission] = KernelSpec(
        codes.ASYMMETRIC_EMISSION,
        ("A", "centre", "sigma", "tau", "s"),
        position="centre",
        amplitude="A",
        proportional_to="A",
    )
    specs[ContinuousUrbachTail] = KernelSpec(
        codes.CONTINUOUS_URBACH, ("A", "E0", "Eu", "sigma"), proportional_to="A"
    )
    specs[WavelengthOffset] = KernelSpec(
        codes.WAVELENGTH_OFFSET,
        ("offset",),
        constants=lambda c: (WAVELENGTH_OFFSET_CONSTANT,),
        linear=True,
    )
    # --- in situ kinetics components ---
    from hyperspy_perovskite.components import CrystallinityJMAK

    specs[CrystallinityJMAK] = KernelSpec(
        codes.CRYSTALLINITY_JMAK,
        ("A", "k", "n", "t0"),
        amplitude="A",
        proportional_to="A",
    )
    # --- migration / interdiffusion components ---
    from hyperspy_perovskite.components.drift_diffusion_accumulation import (
        DriftDiffusionAccumulation,
    )
    from hyperspy_perovskite.components.drift_diffusion_transient import (
        DriftDiffusionTransient,
    )
    from hyperspy_perovskite.components.interdiffusion import Interdiffusion

    def _side(component):
        return (float(1 if component.side == "right" else -1),)

    def _resolution(component):
        # Gaussian blur (std, axis units) of the probe / interface, 0: none
        return (float(getattr(component, "resolution", 0.0) or 0.0),)

    specs[Interdiffusion] = KernelSpec(
        codes.INTERDIFFUSION,
        ("c_left", "c_right", "centre", "length"),
        constants=_resolution,
    )
    specs[DriftDiffusionAccumulation] = KernelSpec(
        codes.DD_ACCUMULATION,
        ("A", "decay_length", "wall"),
        constants=lambda c: _side(c) + _resolution(c),
        proportional_to="A",
    )

    def _side_thickness(component):
        # closed-layer thickness (axis units), 0 for a semi-infinite layer
        L = getattr(component, "thickness", None)
        return _side(component) + (0.0 if L is None else float(L),)

    specs[DriftDiffusionTransient] = KernelSpec(
        codes.DD_TRANSIENT,
        ("c_bulk", "drift_distance", "length", "wall"),
        constants=_side_thickness,
        proportional_to="c_bulk",
    )
    return specs


_REGISTRY: dict | None = None


def _registry():
    global _REGISTRY
    if _REGISTRY is None:
        reg = _builtin_specs()
        reg.update(_suite_specs())
        _REGISTRY = reg
    return _REGISTRY


def supported_components():
    """Names of the component classes :func:`fast_multifit` can fit.

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
            f"{', '.join(supported_components())}. Fit this model with "
            "m.multifit() instead, or replace the component."
        )
    return spec
