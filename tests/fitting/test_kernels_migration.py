"""The compiled migration kernels against the components and finite differences."""

import numpy as np
import pytest

from hyperspy_perovskite.components import (
    DriftDiffusionAccumulation,
    DriftDiffusionTransient,
    Interdiffusion,
)
from hyperspy_perovskite.fitting._compile import for_components
from hyperspy_perovskite.fitting.registry import kernel_spec


def model_point(x, P, kernel, offsets, consts, grad):
    """The kernel at ``x``, its parameters starting at ``P[offsets[0]]``."""
    return kernel(x, P, int(offsets[0]), grad, consts[0])


X = np.linspace(-60.0, 120.0, 181)

CASES = [
    (Interdiffusion, {"c_left": 2.0, "c_right": 0.5, "centre": 3.0, "length": 7.0}, {}),
    (
        Interdiffusion,
        {"c_left": -1.0, "c_right": 4.0, "centre": -20.0, "length": 0.8},
        {},
    ),
    (
        Interdiffusion,
        {"c_left": 1e3, "c_right": 10.0, "centre": 50.0, "length": 40.0},
        {},
    ),
    (
        DriftDiffusionAccumulation,
        {"A": 3.0, "decay_length": 8.0, "wall": 2.5},
        {"side": "right"},
    ),
    (
        DriftDiffusionAccumulation,
        {"A": -1.0, "decay_length": 0.5, "wall": 60.0},
        {"side": "left"},
    ),
    (DriftDiffusionAccumulation, {"A": 50.0, "decay_length": 200.0, "wall": -30.0}, {}),
    (
        DriftDiffusionTransient,
        {"c_bulk": 1.5, "drift_distance": 4.0, "length": 9.0, "wall": 2.0},
        {"side": "right"},
    ),
    (
        DriftDiffusionTransient,
        {"c_bulk": 0.3, "drift_distance": 40.0, "length": 3.0, "wall": 80.0},
        {"side": "left"},
    ),
    (
        DriftDiffusionTransient,
        {"c_bulk": 7.0, "drift_distance": 0.01, "length": 60.0, "wall": -10.0},
        {"side": "right"},
    ),
    # closed layer: two semi-infinite solutions (thin boundary layers) ...
    (
        DriftDiffusionTransient,
        {"c_bulk": 1.5, "drift_distance": 4.0, "length": 9.0, "wall": 2.5},
        {"side": "right", "thickness": 97.3},
    ),
    # ... and the eigenfunction series (overlapping, near steady, no drift)
    (
        DriftDiffusionTransient,
        {"c_bulk": 2.0, "drift_distance": 40.0, "length": 30.0, "wall": -10.5},
        {"side": "right", "thickness": 97.3},
    ),
    (
        DriftDiffusionTransient,
        {"c_bulk": 0.7, "drift_distance": 300.0, "length": 80.0, "wall": 110.5},
        {"side": "left", "thickness": 97.3},
    ),
    (
        DriftDiffusionTransient,
        {"c_bulk": 3.0, "drift_distance": 0.01, "length": 60.0, "wall": -10.5},
        {"side": "right", "thickness": 97.3},
    ),
    # blurred (probe / interface): semi-infinite, closed layer, thin layer
    (
        DriftDiffusionTransient,
        {"c_bulk": 1.5, "drift_distance": 10.0, "length": 9.0, "wall": 2.0},
        {"side": "right", "resolution": 1.5},
    ),
    (
        DriftDiffusionTransient,
        {"c_bulk": 2.0, "drift_distance": 40.0, "length": 30.0, "wall": 80.5},
        {"side": "left", "thickness": 97.3, "resolution": 3.0},
    ),
]


def _arrays(comp):
    spec = kernel_spec(comp)
    names = spec.parameter_names(comp)
    P = np.array([getattr(comp, n).value for n in names], dtype=float)
    consts = np.zeros((1, 4))
    c = spec.constants(comp)
    consts[0, : len(c)] = c
    return (
        names,
        P,
        spec.kernel,
        np.array([0], dtype=np.int64),
        consts,
    )


def _eval(x, P, cds, offs, consts):
    g = np.zeros_like(P)
    f = model_point(x, P, cds, offs, consts, g)
    return f, g.copy()


@pytest.mark.parametrize("cls, values, init", CASES)
def test_kernel_matches_component_and_finite_differences(cls, values, init):
    comp = cls(**init)
    for k, v in values.items():
        getattr(comp, k).value = v
    names, P, cds, offs, consts = _arrays(comp)
    ref = comp.function(X)
    for i, x in enumerate(X):
        f, g = _eval(x, P, cds, offs, consts)
        assert f == pytest.approx(ref[i], rel=1e-12, abs=1e-12)
        # skip points within one step of the wall (derivative jumps there)
        if "wall" in values and abs(x - values["wall"]) < 1e-3:
            continue
        for k in range(P.size):
            h = 1e-6 * max(1.0, abs(P[k]))
            Pp, Pm = P.copy(), P.copy()
            Pp[k] += h
            Pm[k] -= h
            num = (
                _eval(x, Pp, cds, offs, consts)[0] - _eval(x, Pm, cds, offs, consts)[0]
            ) / (2 * h)
            assert g[k] == pytest.approx(num, rel=1e-5, abs=1e-7 * max(1.0, abs(f))), (
                names[k]
            )


@pytest.mark.parametrize("cls, values, init", CASES)
def test_component_gradients_match_kernel(cls, values, init):
    comp = cls(**init)
    for k, v in values.items():
        getattr(comp, k).value = v
    names, P, cds, offs, consts = _arrays(comp)
    grads = np.array([_eval(x, P, cds, offs, consts)[1] for x in X])
    for k, n in enumerate(names):
        np.testing.assert_allclose(getattr(comp, n).grad(X), grads[:, k], atol=1e-12)


def test_kernels_are_finite_at_extreme_bounds():
    # no overflow for any parameter within bounds, anywhere on the axis
    for comp in (
        DriftDiffusionAccumulation(A=1e6, decay_length=1e-3, wall=0.0),
        DriftDiffusionAccumulation(A=1e6, decay_length=1e-3, wall=0.0, side="left"),
        DriftDiffusionTransient(c_bulk=1e6, drift_distance=1e4, length=1e-3),
        DriftDiffusionTransient(c_bulk=1e6, drift_distance=0.0, length=1e-3),
        DriftDiffusionTransient(
            c_bulk=1e6, drift_distance=1e4, length=1e-3, thickness=100.0
        ),
        DriftDiffusionTransient(
            c_bulk=1e6, drift_distance=99.999, length=1e-3, thickness=100.0
        ),
        DriftDiffusionTransient(
            c_bulk=1e6, drift_distance=50.0, length=1e-3, thickness=100.0
        ),
        DriftDiffusionTransient(
            c_bulk=1e6, drift_distance=1e4, length=1e4, thickness=100.0
        ),
        DriftDiffusionTransient(c_bulk=1e6, drift_distance=0.0, length=1e4),
        Interdiffusion(c_left=1e6, length=1e-3),
    ):
        names, P, cds, offs, consts = _arrays(comp)
        for x in np.linspace(-1e4, 1e4, 2001):
            f, g = _eval(x, P, cds, offs, consts)
            assert np.isfinite(f) and np.all(np.isfinite(g))


@pytest.mark.parametrize("cls, values, init", CASES)
def test_model_block_matches_model_point(cls, values, init):
    """The engine's compiled model over a spectrum equals the kernel point-wise."""
    comp = cls(**init)
    for k, v in values.items():
        getattr(comp, k).value = v
    names, P, cds, offs, consts = _arrays(comp)
    f = np.empty(X.size)
    G = np.zeros((P.size, X.size))
    cm, offsets, consts_m, _ = for_components([comp])
    cm.model_block(X, P, offsets, consts_m, np.zeros_like(P), f, G)
    for j, x in enumerate(X):
        fp, gp = _eval(x, P, cds, offs, consts)
        assert f[j] == pytest.approx(fp, rel=1e-13, abs=1e-300)
        np.testing.assert_allclose(G[:, j], gp, rtol=1e-13, atol=1e-300)
    assert np.any(f != 0)


def test_closed_layer_kernel_branches_agree_where_both_hold():
    """The two representations of the closed layer agree (thin boundary
    layers, moderate L / lambda), and the series conserves the ions."""
    from hyperspy_perovskite.analysis._drift_diffusion_numba import (
        _closed_layer_series,
        _smoluchowski,
    )

    for d, s, L in ((12.5, 22.7, 400.0), (50.0, 45.5, 400.0), (20.0, 30.0, 280.0)):
        A, tau = 2 * d * L / s**2, s**2 / (4 * L**2)
        for z in np.linspace(0.0, L, 41):
            ser = _closed_layer_series(z / L, A, tau)[0]
            sup = _smoluchowski(z, d, s)[0] + _smoluchowski(L - z, -d, s)[0] - 1
            assert ser == pytest.approx(sup, abs=1e-6)
