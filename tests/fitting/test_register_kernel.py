"""A user's own component joins fast_multifit through register_kernel.

The component and its kernel are defined here, as a user would in their own
module; the engine has never seen them. The truth is simulated independently
(Poisson counts of a known decay), and recovery is judged by pulls over
pixels and by agreement with HyperSpy's own ``m.multifit``.
"""

import math

import hyperspy.api as hs
import numpy as np
import pytest

from hyperspy_perovskite.fitting import (
    UnsupportedComponentError,
    fast_multifit,
    register_kernel,
    supported_components,
)

Expression = hs.model.components1D.Expression


class StretchedDecay(Expression):
    """``A exp(-(x / tau)^stretch)``: a user component unknown to the suite."""

    def __init__(self, A=1.0, tau=1.0, stretch=1.0):
        super().__init__(
            "A * exp(-(x / tau) ** stretch)",
            name="StretchedDecay",
            A=A,
            tau=tau,
            stretch=stretch,
        )


def stretched_decay_kernel(x, P, o, grad, c):
    A = P[o]
    tau = P[o + 1]
    stretch = P[o + 2]
    if x <= 0.0:
        grad[o] = 1.0
        grad[o + 1] = 0.0
        grad[o + 2] = 0.0
        return A
    u = x / tau
    lnu = math.log(u)
    p = math.exp(stretch * lnu)
    e = math.exp(-p)
    f = A * e
    grad[o] = e
    grad[o + 1] = f * p * stretch / tau
    grad[o + 2] = -f * p * lnu
    return f


register_kernel(
    StretchedDecay,
    stretched_decay_kernel,
    ("A", "tau", "stretch"),
    amplitude="A",
    proportional_to="A",
)


def _decay_map(n_pix, seed):
    """Photon-counting decays, ``A = 400``, ``tau = 3 ns``, ``stretch = 0.7``."""
    rng = np.random.default_rng(seed)
    t = np.arange(0.05, 20.0, 0.1)  # ns
    truth = {"A": 400.0, "tau": 3.0, "stretch": 0.7}
    expected = truth["A"] * np.exp(-((t / truth["tau"]) ** truth["stretch"]))
    counts = rng.poisson(np.broadcast_to(expected + 2.0, (n_pix, t.size)))
    s = hs.signals.Signal1D(counts.astype(float))
    axis = s.axes_manager[-1]
    axis.offset, axis.scale, axis.units = t[0], 0.1, "ns"
    s.set_noise_variance(
        hs.signals.Signal1D(np.broadcast_to(expected + 2.0, (n_pix, t.size)).copy())
    )
    return s, truth


def _model(s):
    m = s.create_model()
    m.extend(
        [StretchedDecay(A=300.0, tau=2.0, stretch=1.0), hs.model.components1D.Offset()]
    )
    m[1].offset.value = 1.0
    return m


def test_user_component_is_supported():
    assert "StretchedDecay" in supported_components()


def test_user_component_recovers_truth_with_calibrated_errors():
    s, truth = _decay_map(300, seed=11)
    m = _model(s)
    result = fast_multifit(m, show_progressbar=False)
    assert result.n_converged == 300
    comp = m[0]
    for name in ("tau", "stretch"):
        v = comp.parameters[[p.name for p in comp.parameters].index(name)]
        pulls = (v.map["values"] - truth[name]) / v.map["std"]
        assert abs(np.mean(pulls)) < 0.25, name
        assert 0.8 < np.std(pulls) < 1.2, name
        inside = np.mean(np.abs(pulls) < 1)
        assert 0.6 < inside < 0.77, name  # 68 % coverage at 1 sigma


def test_user_component_agrees_with_multifit():
    s, _ = _decay_map(3, seed=5)
    m_fast = _model(s)
    fast_multifit(m_fast, show_progressbar=False)
    m_ref = _model(s)
    m_ref.multifit(show_progressbar=False)
    for p_fast, p_ref in zip(m_fast[0].parameters, m_ref[0].parameters, strict=True):
        np.testing.assert_allclose(
            p_fast.map["values"], p_ref.map["values"], rtol=1e-4, err_msg=p_fast.name
        )


def test_plain_python_kernel_is_jitted():
    class Ramp(Expression):
        def __init__(self, a=1.0):
            super().__init__("a * x", name="Ramp", a=a)

    def ramp(x, P, o, grad, c):
        grad[o] = x
        return P[o] * x

    spec = register_kernel(Ramp, ramp, ("a",), linear=True)
    assert hasattr(spec.kernel, "py_func")  # compiled by numba
    s = hs.signals.Signal1D(np.arange(1.0, 41.0)[None] * [[2.0], [3.0]])
    s.axes_manager[-1].offset = 1.0  # x = 1 ... 40
    m = s.create_model()
    m.append(Ramp())
    fast_multifit(m, show_progressbar=False)
    np.testing.assert_allclose(m[0].a.map["values"], [2.0, 3.0], rtol=1e-10)


def test_registration_errors_say_what_to_do():
    with pytest.raises(ValueError, match="replace=True"):
        register_kernel(
            StretchedDecay, lambda x, P, o, g, c: 0.0, ("A", "tau", "stretch")
        )
    with pytest.raises(ValueError, match="not among the kernel parameters"):
        register_kernel(
            StretchedDecay,
            stretched_decay_kernel,
            ("A", "tau", "stretch"),
            position="centre",
            replace=True,
        )
    with pytest.raises(TypeError, match="component class"):
        register_kernel(
            StretchedDecay(), stretched_decay_kernel, ("A", "tau", "stretch")
        )

    class Unregistered(StretchedDecay):
        pass

    s, _ = _decay_map(2, seed=0)
    m = s.create_model()
    m.append(Unregistered())
    with pytest.raises(UnsupportedComponentError, match="register_kernel"):
        fast_multifit(m, show_progressbar=False)
