"""MigrationModel: the domain model of migration fits persists with its meaning."""

import hyperspy.api as hs
import numpy as np
import pytest

from hyperspy_perovskite.analysis import drift_diffusion as dd
from hyperspy_perovskite.models import MigrationModel, PerovskiteModel1D
from hyperspy_perovskite.signals.migration_fit import fit_migration_profile

FIELD = 2e6  # V/m
MU = 1e-16  # m^2/(V s)
D = dd.einstein_diffusion_coefficient(MU, 300.0)


def _signal(counts, scale=2.0):
    s = hs.signals.Signal1D(np.asarray(counts, dtype=float))
    ax = s.axes_manager[-1]
    ax.scale, ax.offset, ax.units = scale, 0.5 * scale, "nm"
    return s


@pytest.fixture(scope="module")
def series():
    """Closed 300 nm layer (finite-volume solution): early frames are
    transients, the last one is at the steady state."""
    times = np.array([20.0, 60.0, 150.0, 3000.0])
    x = np.arange(0.0, 300.0, 2.0) + 1.0
    rng = np.random.default_rng(3)
    rows = []
    for t in times:
        z, c = dd.transient_profile_layer(300.0, t, D, MU * FIELD, n_cells=600)
        rows.append(rng.poisson(200.0 * np.interp(x, z, c)))
    return _signal(np.array(rows)), times


def test_fit_returns_domain_model_with_validity_reasons(series):
    s, times = series
    with pytest.warns(UserWarning):
        m = fit_migration_profile(
            s, "transient", wall=0.0, field=FIELD, time=times, thickness=300.0
        )
    assert isinstance(m, MigrationModel) and isinstance(m, PerovskiteModel1D)
    assert m.kind == "transient" and m.model is m
    # components are still found by name, quantities by theirs
    assert type(m["DriftDiffusionTransient"]).__name__ == "DriftDiffusionTransient"
    assert m["D"].units == "m^2/s"
    with pytest.raises(KeyError, match="quantities"):
        _ = m["not_a_quantity"]
    v = m.validity
    # the last frame is at the steady state: D and mu undetermined, flagged
    assert not v.mask[-1]
    assert "steady state: D and mu undetermined" in v.explain(3)
    assert np.isnan(m["D"].value[-1])
    # the first frame: mu E t = 4 nm, under 3 std: mobility not measured
    assert v.explain(0) == ["DriftDiffusionTransient.drift_distance not significant"]
    assert np.all(v.mask[1:3])
    ok = v.mask
    pull = (m["D"].value[ok] - D) / m["D"].std[ok]
    assert np.all(np.abs(pull) < 4), pull
    dmap = m.quantity_map("D")
    assert np.isnan(dmap.data[-1]) and dmap.metadata.has_item("Validity.mask")
    np.testing.assert_allclose(m.as_signal("D").data, dmap.data)
    assert m.as_signal().data.shape == s.data.shape  # the model spectra


@pytest.mark.parametrize("ext", ["hspy", "zspy"])
def test_quantities_flags_and_validity_survive_save_restore(tmp_path, ext):
    lam = 12.0
    x = np.arange(0.0, 200.0, 1.0) + 0.5
    rng = np.random.default_rng(1)
    counts = rng.poisson(50 + dd.steady_state_profile(x, lam, 100.0, 200.0), (5, 200))
    counts[2] = rng.poisson(80.0, 200)  # no accumulation: not significant
    s = _signal(counts, 1.0)
    s.axes_manager[0].units = "s"
    m = fit_migration_profile(
        s, "steady", wall=0.0, field=FIELD, diffusion_coefficient=D
    )
    assert m.validity.mask.tolist() == [True, True, False, True, True]
    assert "DriftDiffusionAccumulation.A not significant" in m.validity.explain(2)
    fname = tmp_path / f"fit.{ext}"
    m.save(fname, name="iodine")
    m2 = MigrationModel.restore(hs.load(fname), "iodine")
    assert m2.kind == "steady"
    assert m2.result is None
    np.testing.assert_array_equal(m2.fit_flags.data, m.fit_flags.data)
    np.testing.assert_array_equal(m2.validity.mask, m.validity.mask)
    assert m2.validity.reason_names == m.validity.reason_names
    for name in ("decay_length", "mobility", "einstein_ratio", "effective_field"):
        np.testing.assert_allclose(m2[name].value, m[name].value, rtol=1e-10)
        np.testing.assert_allclose(m2[name].std, m[name].std, rtol=1e-10)
    assert m2.combined("decay_length").value == pytest.approx(
        m.combined("decay_length").value
    )
    good = m.validity.mask
    pull = (m["decay_length"].value[good] - lam) / m["decay_length"].std[good]
    assert np.all(np.abs(pull) < 4)


def test_interdiffusion_time_none_and_never_fitted_model():
    x = np.arange(-40.0, 40.0, 1.0) + 0.5
    from scipy.special import erfc

    rng = np.random.default_rng(2)
    s = _signal(rng.poisson(40 + 300 * 0.5 * erfc(x / 6.0), (2, x.size)), 1.0)
    s.axes_manager[-1].offset = -39.5
    m = fit_migration_profile(s, "interdiffusion")
    assert "D" not in m.quantities and m["length"].value.shape == (2,)
    bare = MigrationModel(s)
    with pytest.raises(ValueError, match="fit_migration_profile"):
        _ = bare.kind
