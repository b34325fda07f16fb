"""Migration metrics of EDS_TEM_biased series against the simulator's truth."""

import numpy as np
import pytest

from hyperspy_perovskite.data.device_simulation import simulate_device_eds
from hyperspy_perovskite.signals.eds_biased import EDSTEMBiasedSpectrum


@pytest.fixture(scope="module")
def operando():
    return simulate_device_eds(
        shape=(16, 64), pixel_size=8.0, times=[0, 1, 3, 300], seed=6
    )


def _true_fraction(truth, distance):
    comp = truth["composition"]
    el = truth["elements"].index("I")
    i = comp[..., el].mean(axis=1)  # (n_t, nx)
    x = (np.arange(comp.shape[2]) + 0.5) * truth["pixel_size"]
    x = x - truth["interfaces"]["SnO2/perovskite"]
    thick = (
        truth["interfaces"]["perovskite/Spiro-OMeTAD"]
        - truth["interfaces"]["SnO2/perovskite"]
    )
    inl = (x >= 0) & (x <= thick)
    near = inl & (x <= distance)
    return i[:, near].sum(1) / i[:, inl].sum(1)


def test_accumulated_fraction_recovers_truth(operando):
    s, truth = operando
    f = s.get_accumulated_fraction(
        "I_La", "SnO2/perovskite", 40.0, side="right", layer="perovskite"
    )
    sd = np.sqrt(f.metadata.Signal.Noise_properties.variance.data)
    true = _true_fraction(truth, 40.0)
    assert f.axes_manager.signal_axes[0].name == "Time"
    # grows with bias time, as iodide piles up at the cathode side (“Imaging real-time amorphization of hybrid perovskite solar cells under electrical biasing”)
    assert np.all(np.diff(f.data) > 0)
    # within the propagated uncertainty (plus 1 % for the background model)
    assert np.all(np.abs(f.data - true) < 3 * sd + 0.01 * true)
    assert f.metadata.Device.Migration.interface == "SnO2/perovskite"


def test_difference_centroid_kymograph(operando):
    s, truth = operando
    d = s.get_difference_profile("I_La", 0, -1, reference="SnO2/perovskite")
    x = d.axes_manager.signal_axes[0].axis
    dv = d.metadata.Signal.Noise_properties.variance.data
    near = (x > 0) & (x < 30)
    # redistribution: more iodide next to the cathode-side interface ...
    assert d.data[near].sum() > 5 * np.sqrt(dv[near].sum())
    # ... conserved: the normalised difference sums to 0
    assert abs(d.data.sum()) < 1e-9
    c = s.get_centroid_shift("I_La", layer="perovskite")
    cs = np.sqrt(c.metadata.Signal.Noise_properties.variance.data)
    assert c.data[0] == 0 and cs[0] == 0
    assert c.data[-1] < -5 * cs[-1]  # towards the interface at 0 nm
    k = s.get_kymograph("I_La", reference="SnO2/perovskite")
    assert k.axes_manager.signal_shape == (64, 4)
    np.testing.assert_allclose(k.data[-1], d.data, atol=1e-12)
    with pytest.raises(ValueError, match="series"):
        s.inav[:, :, 0].get_kymograph("I_La")


def test_contact_uptake_cl_at_al():
    s, truth = simulate_device_eds(
        stack="nanoled",
        shape=(12, 64),
        pixel_size=8.0,
        times=[0, 300],
        bias=2e-6,
        seed=7,
    )
    assert truth["mobile"] == "Cl"
    res = s.get_contact_uptake(
        "Cl_Ka", "TPBi/Al", metal_side="left", background_state=0
    )
    f = res["fraction"]
    fs = np.sqrt(f.metadata.Signal.Noise_properties.variance.data)
    # pristine: no Cl beyond its own background; biased: Cl piles up at the Al
    assert abs(f.data[0]) < 3 * fs[0] + 1e-9
    near = s.get_accumulated_fraction("Cl_Ka", "TPBi/Al", 30.0, side="left")
    ns = np.sqrt(near.metadata.Signal.Noise_properties.variance.data)
    assert near.data[1] - near.data[0] > 5 * np.hypot(ns[0], ns[1])


def test_fit_accumulation_recovers_decay_length_and_einstein(operando):
    s, truth = operando
    fit = s.fit_accumulation(
        "I_La", "SnO2/perovskite", "perovskite", field=truth["field"]
    )
    lam = fit["decay_length"]
    assert abs(lam.value[-1] - truth["decay_length"]) < 3 * lam.std[-1]
    ein = fit["einstein_ratio"]
    assert abs(ein.value[-1] - 1.0) < 3 * ein.std[-1]
    assert fit.result.convergence.data[-1] == 0
    with pytest.raises(ValueError, match="not a boundary"):
        s.fit_accumulation("I_La", "ITO/SnO2", "perovskite")


def test_migration_bad_input(operando):
    s, _ = operando
    single = s.inav[:, :, 0]
    assert isinstance(single, EDSTEMBiasedSpectrum)
    with pytest.raises(ValueError, match="series"):
        single.get_accumulated_fraction("I_La", "SnO2/perovskite", 40.0)
    with pytest.raises(ValueError, match="Unknown interface"):
        s.get_accumulated_fraction("I_La", "nope", 40.0)
    with pytest.raises(ValueError, match="outside the 4 series"):
        s.get_difference_profile("I_La", 0, 9)
    with pytest.raises(TypeError):
        s.get_difference_profile(["I_La"])
    with pytest.raises(ValueError, match="Unknown layer"):
        s.get_centroid_shift("I_La", layer="glass")


def test_fit_migration_transient_recovers_D_and_mobility():
    """D and mu separately from an operando series (t = 0, 1, 3, 300 s; the
    front crosses the 280 nm perovskite in L / (mu E) = 3.9 s). Pb-rich
    clusters are left out: inside the accumulation layer they dent the
    halide profile, which drift-diffusion does not describe."""
    s, truth = simulate_device_eds(
        shape=(16, 64),
        pixel_size=8.0,
        times=[0, 1, 3, 300],
        counts_per_pixel=3000,
        seed=6,
        n_clusters=0,
        n_clusters_biased=0,
    )
    fit = s.fit_migration_transient(
        "I_La", "SnO2/perovskite", "perovskite", field=truth["field"]
    )
    assert fit.model[0].thickness == pytest.approx(280.0)
    assert np.isnan(fit["D"].value[0])  # pristine: not fitted
    assert np.all(fit.converged[1:3])
    for name, key in (("D", "diffusion_coefficient"), ("mobility", "mobility")):
        v, e = fit[name].value[1:3], fit[name].std[1:3]
        assert np.all(np.abs(v - truth[key]) < 3 * e), (name, v / truth[key])
        comb = fit.combined(name)
        assert abs(comb.value - truth[key]) < 3 * comb.std
        assert comb.std / truth[key] < 0.1
    assert np.isnan(fit["D"].value[3])  # steady state: lambda only
    # default field: the bias over the layer, 5x the simulator's screened
    # field (field_fraction = 0.2), so mu comes out 5x too small
    fit_v = s.fit_migration_transient("I_La", "SnO2/perovskite", "perovskite")
    ratio = fit_v.combined("mobility").value / fit.combined("mobility").value
    assert ratio == pytest.approx(0.2, rel=1e-3)
    with pytest.raises(ValueError, match="not a boundary"):
        s.fit_migration_transient("I_La", "ITO/SnO2", "perovskite")
    with pytest.raises(ValueError, match="Unknown layer"):
        s.fit_migration_transient("I_La", "SnO2/perovskite", "glass")
