"""The solver's first-class functions handed over by address."""

import numpy as np
from numba import njit, types

from hyperspy_perovskite.data import simulated_emission_map
from hyperspy_perovskite.fitting import _addresses, _compile
from hyperspy_perovskite.fitting._addresses import by_address


def test_address_made_once_and_called_like_the_dispatcher():
    twice = njit("float64(float64)")(lambda v: 2.0 * v)
    ftype = types.FunctionType(types.float64(types.float64))
    f = by_address(twice, ftype)
    assert isinstance(f, _addresses._Address)
    assert f is by_address(twice, ftype)
    call = njit(lambda g, v: g(v))
    assert call(f, 1.5) == call(twice, 1.5) == 3.0


def test_no_address_falls_back_to_the_function():
    def plain(v):
        return v

    ftype = types.FunctionType(types.float64(types.float64))
    assert by_address(plain, ftype) is plain
    # a compiled function without that signature, its compilation disabled
    other = njit("int64(int64)")(lambda v: v)
    other.disable_compile()
    assert by_address(other, ftype) is other


def test_solver_by_address_gives_the_dispatchers_fit():
    """The solver called with the model and the sandwich as addresses gives,
    bit for bit, its fit with them as dispatchers (numba converts those)."""
    import hyperspy.api as hs

    from hyperspy_perovskite.fitting import engine, fast_multifit

    s, _ = simulated_emission_map(shape=(3, 4), n_channels=128, seed=2)
    m = s.create_model()
    m.extend([hs.model.components1D.Gaussian(), hs.model.components1D.Offset()])
    calls = []
    inner = engine._fit_chunk

    def keep(*args, **kwargs):
        calls.append((args, kwargs))
        return inner(*args, **kwargs)

    engine._fit_chunk = keep
    try:
        fast_multifit(m, starting_values="estimate", count_variance=np.ones(128))
    finally:
        engine._fit_chunk = inner
    args, kwargs = calls[0]
    by_addr = inner(*args, **kwargs)
    evaluate = kwargs["fit_block"].args[0]

    def with_dispatchers(*a):
        k = _compile._COUNT_FACTOR
        sandwich = _compile.sandwich_function(True)
        return _compile.fit_block()(evaluate, *a[: k + 1], sandwich, *a[k + 1 :])

    direct = inner(*args, **{**kwargs, "fit_block": with_dispatchers})
    assert np.isfinite(by_addr).any()
    np.testing.assert_array_equal(by_addr, direct)
