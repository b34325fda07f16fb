"""The threaded cast-and-Jacobian product of ``to_eV`` equals NumPy's."""

import numpy as np
import pytest

from hyperspy_perovskite.signals import _cl_axes


@pytest.mark.parametrize("dtype", [np.int64, np.uint16, np.float32, np.float64])
def test_times_equals_cast_then_product(dtype):
    rng = np.random.default_rng(1)
    data = rng.poisson(50.0, (3, 400, 64)).astype(dtype)[..., ::-1]  # reversed view
    out_dtype = np.dtype(dtype) if np.dtype(dtype).kind == "f" else np.float32
    jac = rng.uniform(0.5, 2.0, 64).astype(out_dtype)
    got = _cl_axes._times(data, jac, out_dtype)
    ref = data.astype(out_dtype) * jac
    assert got.dtype == ref.dtype
    np.testing.assert_array_equal(got, ref)
