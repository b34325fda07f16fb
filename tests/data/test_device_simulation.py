"""The device cross-section simulator and its ground truth."""

import numpy as np
import pytest

from hyperspy_perovskite.analysis import drift_diffusion as dd
from hyperspy_perovskite.data.device_simulation import simulate_device_eds


def test_truth_is_consistent_and_physical():
    s, truth = simulate_device_eds(shape=(8, 32), pixel_size=16.0, times=[0, 300])
    assert s.axes_manager.navigation_shape == (32, 8, 2)
    assert s.bias_condition["cathode"] == "ITO"
    # Einstein relation and the steady-state decay length
    assert truth["diffusion_coefficient"] == pytest.approx(
        dd.einstein_diffusion_coefficient(truth["mobility"], 300.0)
    )
    assert truth["decay_length"] == pytest.approx(
        dd.debye_like_length(truth["field"], 300.0)
    )
    # ions conserved by the drift-diffusion redistribution
    c = truth["mobile_profile"]["c"]
    np.testing.assert_allclose(c.mean(axis=1), 1.0, rtol=1e-9)
    assert c[1, 0] > 3 * c[0, 0]  # piled up at the cathode side after bias
    # expected counts: the noise is Poisson about them
    e = truth["expected_counts"]
    z = (s.data - e) / np.sqrt(np.maximum(e, 1e-9))
    assert abs(z[e > 20].mean()) < 0.05 and abs(z[e > 20].std() - 1) < 0.05
    # clusters: pristine ones persist, new ones form near the interfaces
    assert len(truth["clusters"][1]) > len(truth["clusters"][0])
    assert all(k["formed"] == "pristine" for k in truth["clusters"][0])


def test_nanoled_and_lazy_and_errors():
    s, truth = simulate_device_eds(
        stack="nanoled", shape=(8, 32), pixel_size=16.0, lazy=True, bias=2e-6
    )
    assert s._lazy and truth["mobile"] == "Cl"
    assert s.bias_condition["mode"] == "galvanostatic"
    assert "TPBi/Al" in truth["interfaces"]
    with pytest.raises(ValueError, match="stack"):
        simulate_device_eds(stack="tandem")
    with pytest.raises(ValueError, match="increasing"):
        simulate_device_eds(shape=(4, 16), times=[5, 1])
    with pytest.raises(ValueError, match="mobile_fraction"):
        simulate_device_eds(shape=(4, 16), mobile_fraction=2)
