"""HyperSpy ``Expression`` components whose sympy work is done once per class.

HyperSpy's :class:`~hyperspy._components.expression.Expression` parses its
expression with sympy, differentiates it for every parameter, lambdifies the
function and its gradients and tests the linearity of every parameter each
time a component is created: 0.05-0.2 s per component, most of the cost of
building a model (``fit_emission`` builds two). The results depend only on
the class, the expression, the module and the renamed parameters, so
:class:`CachedExpression` keeps them from the first instance and gives later
instances the same lambdified functions (pure functions of their arguments)
and the same linear parameters. The component is otherwise HyperSpy's own:
same parameters, ``function``, ``grad_*`` methods, save and load.
"""

from __future__ import annotations

import threading

from hyperspy._components.expression import Expression

__all__ = ["CachedExpression"]

_CACHE: dict = {}
_LOCK = threading.Lock()


class CachedExpression(Expression):
    """An ``Expression`` that reuses the sympy work of its first instance.

    Examples
    --------
    >>> from hyperspy_perovskite.components import GaussianEmission
    >>> a, b = GaussianEmission(A=2.0, sigma=1.0), GaussianEmission(A=4.0, sigma=1.0)
    >>> a._f is b._f, float(b.function(np.array([0.0]))[0] / a.function(np.array([0.0]))[0])
    (True, 2.0)
    >>> [p.name for p in b.parameters if p._linear]
    ['A']
    """

    def __init__(self, expression, name, module="numpy", **kwargs):
        key = (
            type(self).__module__,
            type(self).__qualname__,
            expression,
            repr(module),
            repr(sorted(kwargs.get("rename_pars", {}).items())),
            bool(kwargs.get("compute_gradients", True)),
            kwargs.get("add_rotation", False),
        )
        cached = _CACHE.get(key)
        if cached is not None and "linear_parameter_list" not in kwargs:
            kwargs["linear_parameter_list"] = list(cached["linear"])
            kwargs.setdefault("check_parameter_linearity", False)
        self._cached_compilation = cached
        try:
            super().__init__(expression, name, module=module, **kwargs)
        finally:
            self._cached_compilation = None
        if cached is None:
            record = self._record_compilation()
            if record is not None:
                with _LOCK:
                    _CACHE.setdefault(key, record)

    def _record_compilation(self):
        """What :meth:`compile_function` made, or None when not reusable."""
        if self._is2D:
            return None
        grads = {}
        if self._compute_gradients:
            for name in self._parameter_strings:
                method = getattr(self, f"grad_{name}", None)
                func = getattr(method, "__func__", None)
                if func is None:  # e.g. np.vectorize of a constant gradient
                    return None
                grads[name] = func
        return {
            "parsed": self._parsed_expr,
            "f": self._f,
            "parameter_strings": tuple(self._parameter_strings),
            "grads": grads,
            "linear": tuple(p.name for p in self.parameters if p._linear),
        }

    def compile_function(self, module, position=False):
        cached = getattr(self, "_cached_compilation", None)
        if cached is None:
            return super().compile_function(module, position=position)
        self._parsed_expr = cached["parsed"]
        self._is2D = False
        self._f = cached["f"]

        def f(x):
            return self._f(x, *[p.value for p in self.parameters])

        self.function = f
        self._parameter_strings = list(cached["parameter_strings"])
        for name, func in cached["grads"].items():
            setattr(self, f"grad_{name}", func.__get__(self, Expression))
        return None
