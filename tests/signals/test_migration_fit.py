"""Ground truth recovered by fit_migration_profile (D, mobility, lambda)."""

import hyperspy.api as hs
import numpy as np
import pytest

from hyperspy_perovskite.analysis import drift_diffusion as dd
from hyperspy_perovskite.components import (
    DriftDiffusionAccumulation,
    DriftDiffusionTransient,
    Interdiffusion,
)
from hyperspy_perovskite.signals.migration_fit import fit_migration_profile

T = 300.0
FIELD = 1.0 / 500e-9  # 1 V across 500 nm, V/m
MU = 1e-16  # m^2/(V s)
D = dd.einstein_diffusion_coefficient(MU, T)  # Einstein relation holds
TIME = 100.0  # s
BIN = 2.0  # nm


def _signal(counts, lazy=False):
    s = hs.signals.Signal1D(counts.astype(float))
    ax = s.axes_manager[-1]
    ax.scale, ax.offset, ax.units, ax.name = BIN, 0.5 * BIN, "nm", "position"
    return s.as_lazy() if lazy else s


@pytest.fixture(scope="module")
def transient_counts():
    """Numerical (finite-volume) solution of a 600 nm layer, Poisson counts."""
    z, c = dd.transient_profile_layer(600.0, TIME, D, MU * FIELD, n_cells=600)
    x = np.arange(0.0, 400.0, BIN) + 0.5 * BIN
    truth = np.interp(x, z, c)
    rng = np.random.default_rng(42)
    return rng.poisson(300.0 * truth, size=(16, x.size))


@pytest.fixture(scope="module")
def steady_counts():
    lam = dd.debye_like_length(FIELD, T)  # 12.9 nm
    x = np.arange(0.0, 300.0, BIN) + 0.5 * BIN
    truth = 60.0 + dd.steady_state_profile(x, lam, 100.0, 300.0)
    rng = np.random.default_rng(7)
    return rng.poisson(truth, size=(16, x.size)), lam


def _pulls(est, std, truth):
    pull = (np.asarray(est) - truth) / np.asarray(std)
    assert np.all(np.isfinite(pull))
    return pull


@pytest.mark.parametrize("lazy", [False, True])
def test_transient_recovers_D_mobility_einstein(transient_counts, lazy):
    s = _signal(transient_counts, lazy)
    fit = fit_migration_profile(
        s, "transient", wall=0.0, field=FIELD, time=TIME, temperature=T
    )
    assert fit.result.n_converged == 16
    for name, truth in (("D", D), ("mobility", MU)):
        pull = _pulls(fit[name].value, fit[name].std, truth)
        assert abs(pull.mean()) < 0.8, (name, pull)
        assert 0.4 < pull.std() < 1.7, (name, pull)
        # each pixel within 4 sigma and the reported error is meaningful
        assert np.all(np.abs(pull) < 4)
        assert np.all(fit[name].std / truth < 0.25)
    ratio = fit["einstein_ratio"]
    assert abs(np.mean(ratio.value) - 1) < 3 * np.mean(ratio.std) / 4
    lam_true = dd.debye_like_length(FIELD, T)
    assert np.mean(fit["decay_length"].value) == pytest.approx(lam_true, rel=0.1)
    # input untouched
    assert s.metadata.get_item("Signal.Noise_properties.variance") is None


def test_transient_lazy_equals_eager(transient_counts):
    fe = fit_migration_profile(
        _signal(transient_counts), "transient", wall=0.0, field=FIELD, time=TIME
    )
    fl = fit_migration_profile(
        _signal(transient_counts, True), "transient", wall=0.0, field=FIELD, time=TIME
    )
    for k in ("D", "mobility", "einstein_ratio"):
        np.testing.assert_allclose(fl[k].value, fe[k].value, rtol=1e-6)
        np.testing.assert_allclose(fl[k].std, fe[k].std, rtol=1e-6)


def test_transient_fast_matches_multifit(transient_counts):
    s = _signal(transient_counts[:3])
    ff = fit_migration_profile(s, "transient", wall=0.0, field=FIELD, time=TIME)
    fm = fit_migration_profile(
        s, "transient", wall=0.0, field=FIELD, time=TIME, method="multifit"
    )
    np.testing.assert_allclose(ff["D"].value, fm["D"].value, rtol=1e-3)
    np.testing.assert_allclose(ff["mobility"].value, fm["mobility"].value, rtol=1e-3)
    np.testing.assert_allclose(ff["D"].std, fm["D"].std, rtol=2e-2)


@pytest.mark.parametrize("lazy", [False, True])
def test_steady_state_recovers_lambda_and_einstein(steady_counts, lazy):
    counts, lam = steady_counts
    fit = fit_migration_profile(
        _signal(counts, lazy), "steady", wall=0.0, field=FIELD, temperature=T
    )
    pull = _pulls(fit["decay_length"].value, fit["decay_length"].std, lam)
    assert abs(pull.mean()) < 0.8 and 0.4 < pull.std() < 1.7
    ratio = fit["einstein_ratio"]
    np.testing.assert_allclose(
        np.mean(ratio.value), 1.0, atol=3 * np.mean(ratio.std) / 4
    )
    assert fit["decay_length_einstein"].value == pytest.approx(lam)
    pull_E = _pulls(fit["effective_field"].value, fit["effective_field"].std, FIELD)
    assert abs(pull_E.mean()) < 0.8
    # with a known D the steady state gives the mobility
    fit_mu = fit_migration_profile(
        _signal(counts, lazy), "steady", wall=0.0, field=FIELD, diffusion_coefficient=D
    )
    pull_mu = _pulls(fit_mu["mobility"].value, fit_mu["mobility"].std, MU)
    assert abs(pull_mu.mean()) < 0.8 and np.all(np.abs(pull_mu) < 4)
    # accumulated excess A lambda against the truth c(0) lambda - bulk part
    r = 300.0 / lam
    c0 = 100.0 * r / (-np.expm1(-r))
    acc = fit["accumulated"]
    assert np.mean(acc.value) == pytest.approx(c0 * lam, rel=0.05)


def test_steady_state_left_side_single_profile(steady_counts):
    counts, lam = steady_counts
    s = _signal(counts[0][::-1].copy())  # electrode on the right at 300 nm
    fit = fit_migration_profile(s, "steady", wall=300.0, side="left", field=FIELD)
    v, e = fit["decay_length"].value, fit["decay_length"].std
    assert np.ndim(v) == 0
    assert abs(v - lam) < 3 * e


def test_interdiffusion_li2023_like():
    # Li et al., Nat. Commun. 14, 7612 (2023): I reaches ~10 nm into the glass; length 2 sqrt(D t) = 6 nm
    t = 3600.0
    L = 6.0
    x = np.arange(-40.0, 40.0, 0.5)
    truth = dd.interdiffusion_profile(x, 400.0, 20.0, 1.5, L)
    rng = np.random.default_rng(3)
    counts = rng.poisson(truth, size=(12, x.size))
    s = hs.signals.Signal1D(counts.astype(float))
    s.axes_manager[-1].scale, s.axes_manager[-1].offset = 0.5, -40.0
    s.axes_manager[-1].units = "nm"
    fit = fit_migration_profile(s, "interdiffusion", time=t)
    pull = _pulls(fit["length"].value, fit["length"].std, L)
    assert abs(pull.mean()) < 0.8 and 0.4 < pull.std() < 1.7
    Dt = dd.diffusion_coefficient_from_length(L, t)
    pullD = _pulls(fit["D"].value, fit["D"].std, Dt)
    assert abs(pullD.mean()) < 0.8
    assert np.mean(fit["interface"].value) == pytest.approx(1.5, abs=0.1)
    # in micrometres the same physics
    s2 = s.deepcopy()
    s2.axes_manager[-1].scale, s2.axes_manager[-1].offset = 0.5e-3, -40e-3
    s2.axes_manager[-1].units = "µm"
    fit2 = fit_migration_profile(s2, "interdiffusion", time=t)
    np.testing.assert_allclose(fit2["D"].value, fit["D"].value, rtol=1e-4)


@pytest.mark.parametrize("ext", ["hspy", "zspy"])
def test_fitted_model_survives_save_load(transient_counts, tmp_path, ext):
    s = _signal(transient_counts[:4])
    fit = fit_migration_profile(s, "transient", wall=0.0, field=FIELD, time=TIME)
    fit.model.store("transient")
    fname = tmp_path / f"fit.{ext}"
    fit.model.signal.save(fname)
    s2 = hs.load(fname)
    m2 = s2.models.restore("transient")
    c2 = m2[0]
    assert isinstance(c2, DriftDiffusionTransient)
    assert c2.time == TIME and c2.side == "right"
    c1 = fit.model[0]
    for p in ("drift_distance", "length", "c_bulk"):
        np.testing.assert_allclose(
            getattr(c2, p).map["values"], getattr(c1, p).map["values"]
        )
    D2, _ = c2.diffusion_coefficient()
    np.testing.assert_allclose(D2, fit["D"].value, rtol=1e-10)


@pytest.mark.parametrize("ext", ["hspy", "zspy"])
def test_other_components_survive_save_load(tmp_path, ext):
    x = np.arange(0, 100.0)
    s = hs.signals.Signal1D(np.ones((2, x.size)))
    s.axes_manager[-1].units = "nm"
    m = s.create_model()
    m.extend(
        [
            Interdiffusion(c_left=3.0, length=4.0, time=60.0),
            DriftDiffusionAccumulation(A=2.0, decay_length=7.0, wall=90.0, side="left"),
        ]
    )
    m.assign_current_values_to_all()
    m.save(tmp_path / f"m.{ext}", name="both")
    m2 = hs.load(tmp_path / f"m.{ext}").models.restore("both")
    assert isinstance(m2[0], Interdiffusion) and m2[0].time == 60.0
    assert isinstance(m2[1], DriftDiffusionAccumulation) and m2[1].side == "left"
    assert m2[1].decay_length.value == 7.0 and m2[1].wall.free is False
    np.testing.assert_allclose(m2.as_signal().data, m.as_signal().data)


def test_as_signal_carries_navigation_and_variance(transient_counts):
    s = _signal(transient_counts[:4])
    s.axes_manager[0].units = "s"
    fit = fit_migration_profile(s, "transient", wall=0.0, field=FIELD, time=TIME)
    D_sig = fit.as_signal("D")
    assert D_sig.data.shape == (4,)
    assert D_sig.axes_manager.signal_axes[0].units == "s"
    var = D_sig.metadata.Signal.Noise_properties.variance
    np.testing.assert_allclose(var.data, fit["D"].std ** 2)
    summary = fit.to_dict()
    assert summary["kind"] == "transient" and summary["D"]["units"] == "m^2/s"


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"kind": "bogus"}, ValueError, "kind"),
        ({"kind": "steady"}, ValueError, "wall"),
        ({"kind": "steady", "wall": 900.0}, ValueError, "outside"),
        ({"kind": "transient", "wall": 0.0}, ValueError, "time"),
        ({"kind": "steady", "wall": 0.0, "field": -1.0}, ValueError, "field"),
        ({"kind": "steady", "wall": 0.0, "side": "up"}, ValueError, "side"),
        ({"kind": "steady", "wall": 0.0, "method": "x"}, ValueError, "method"),
        ({"kind": "interdiffusion", "time": -5.0}, ValueError, "time"),
        (
            {"kind": "steady", "wall": 0.0, "diffusion_coefficient": 0.0},
            ValueError,
            "diffusion",
        ),
        (
            {"kind": "steady", "wall": 0.0, "signal_range": (0, 3)},
            ValueError,
            "at least 5",
        ),
    ],
)
def test_bad_input(steady_counts, kwargs, exc, match):
    s = _signal(steady_counts[0][:2])
    kind = kwargs.pop("kind")
    with pytest.raises(exc, match=match):
        fit_migration_profile(s, kind, **kwargs)


def test_bad_signals():
    with pytest.raises(TypeError, match="Signal1D"):
        fit_migration_profile(hs.signals.Signal2D(np.ones((8, 8))), wall=0.0)
    s = hs.signals.Signal1D(np.ones(20))  # no length unit
    with pytest.raises(ValueError, match="units"):
        fit_migration_profile(s, wall=0.0)
    s.axes_manager[-1].units = "nm"
    s.data[3] = -2.0
    with pytest.raises(ValueError, match="non-negative"):
        fit_migration_profile(s, wall=0.0)
    with pytest.raises(ValueError, match="at least 5"):
        fit_migration_profile(_signal(np.ones(3)), wall=0.0)


def test_transient_in_closed_layer_default_range():
    """A 400 nm layer closed by two blocking electrodes, late in the transient:
    the default range (half the layer next to the wall) avoids the far
    electrode's depletion, so the semi-infinite form still recovers D and mu."""
    L, t = 400.0, 200.0
    field = 1.0 / (L * 1e-9)
    z, c = dd.transient_profile_layer(L, t, D, MU * field, n_cells=400)
    x = np.arange(0.0, L, BIN) + 0.5 * BIN
    rng = np.random.default_rng(5)
    counts = rng.poisson(250.0 * np.interp(x, z, c), size=(8, x.size))
    fit = fit_migration_profile(
        _signal(counts), "transient", wall=0.0, field=field, time=t
    )
    for name, truth in (("D", D), ("mobility", MU)):
        pull = _pulls(fit[name].value, fit[name].std, truth)
        assert np.all(np.abs(pull) < 4) and abs(pull.mean()) < 1.2, (name, pull)
    # fitting the whole closed layer with the semi-infinite form fails: no
    # convergence (values NaN) or a biased D
    bad = fit_migration_profile(
        _signal(counts), "transient", wall=0.0, field=field, time=t, signal_range=(0, L)
    )
    bad_D = bad["D"].value
    assert np.all(~np.isfinite(bad_D) | (np.abs(bad_D - D) / D > 0.5))
    good_chi = np.median(fit.result.reduced_chisq.data)
    assert 0.7 < good_chi < 1.3
    assert np.median(bad.result.reduced_chisq.data) > good_chi
    # the exact closed-layer form fits the whole layer (both electrodes)
    closed = fit_migration_profile(
        _signal(counts), "transient", wall=0.0, field=field, time=t, thickness=L
    )
    assert closed.model[0].thickness == L and closed.result.n_converged == 8
    xs = closed.model.axis.axis[closed.model._channel_switches]
    assert xs.min() == 1.0 and xs.max() == L - 1.0
    for name, truth in (("D", D), ("mobility", MU)):
        pull = _pulls(closed[name].value, closed[name].std, truth)
        assert np.all(np.abs(pull) < 4) and abs(pull.mean()) < 1.2, (name, pull)
        comb = closed.combined(name)
        assert abs(comb.value - truth) < 3 * comb.std
    # with the far electrode in the fit the errors are smaller
    assert np.median(closed["D"].std) < np.median(fit["D"].std)


@pytest.fixture(scope="module")
def device_iodine_profile():
    """I_La profile of a simulated biased solar-cell cross-section (EDX)."""
    import warnings

    from hyperspy_perovskite.data.device_simulation import simulate_device_eds

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s, truth = simulate_device_eds(
            shape=(16, 128),
            pixel_size=4.0,
            n_channels=512,
            counts_per_pixel=3000,
            seed=2,
            n_clusters=0,
            n_clusters_biased=0,
        )
        prof = s.get_element_profiles(
            ["I_La"], check_overlaps=False, reference="SnO2/perovskite"
        )[0]
    return prof, truth


def test_end_to_end_simulated_edx_device(device_iodine_profile):
    """Steady-state iodide accumulation at the cathode-side interface of a
    simulated EDX map: lambda = k_B T / (q E) and the Einstein ratio recovered,
    with the wall and the layer taken from the profile's geometry."""
    prof, truth = device_iodine_profile
    fit = fit_migration_profile(
        prof, "steady", wall="SnO2/perovskite", field=truth["field"]
    )
    lam = fit["decay_length"]
    assert abs(lam.value - truth["decay_length"]) < 3 * lam.std
    ratio = fit["einstein_ratio"]
    assert abs(ratio.value - 1.0) < 3 * ratio.std
    # the default range stops at the next interface (perovskite/Spiro-OMeTAD)
    xs = fit.model.axis.axis[fit.model._channel_switches]
    assert xs.min() > 0 and xs.max() < 280.0
    # profile metadata untouched, variance kept from get_element_profiles
    assert prof.metadata.Signal.Noise_properties.variance is not None
    with pytest.raises(ValueError, match="Unknown interface"):
        fit_migration_profile(prof, "steady", wall="ITO/Au")


@pytest.fixture(scope="module")
def operando_iodine_profiles():
    """I_La profiles of a simulated operando series of the solar cell: the
    pristine map, four frames while the iodide front crosses the perovskite
    (L / (mu E) = 3.9 s) and one at the steady state."""
    import warnings

    from hyperspy_perovskite.data.device_simulation import simulate_device_eds

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s, truth = simulate_device_eds(
            shape=(16, 64),
            pixel_size=8.0,
            times=[0, 0.5, 1, 2, 4, 300],
            counts_per_pixel=3000,
            seed=3,
            n_clusters=0,
            n_clusters_biased=0,
        )
        prof = s.get_element_profiles(["I_La"], reference="SnO2/perovskite")[0]
    return prof, truth


@pytest.mark.parametrize("lazy", [False, True])
def test_operando_series_recovers_D_and_mobility(operando_iodine_profiles, lazy):
    """Issue 5 proof: D and mu separately from the simulated EDX series, with
    the wall, the closed layer and the bias times read from the profile."""
    prof, truth = operando_iodine_profiles
    p = prof.as_lazy() if lazy else prof
    fit = fit_migration_profile(
        p, "transient", wall="SnO2/perovskite", field=truth["field"]
    )
    comp = fit.model[0]
    assert comp.thickness == pytest.approx(280.0)  # perovskite layer
    # background-subtracted windows: negative counts, their own variance
    assert prof.data.min() < 0
    conv = fit.result.convergence.data
    assert conv[0] == 7  # pristine: masked, not fitted
    assert np.all(np.isnan([fit["D"].value[0], fit["mobility"].value[0]]))
    early = slice(1, 5)
    assert np.all(fit.converged[early])
    sig = fit["transient_significance"].value
    assert np.all(sig[early] > 5) and not sig[5] > 5
    for name, key in (("D", "diffusion_coefficient"), ("mobility", "mobility")):
        truth_v = truth[key]
        v, e = fit[name].value, fit[name].std
        assert np.all(np.abs(v[early] - truth_v) < 3 * e[early]), (name, v / truth_v)
        assert np.all(e[early] / truth_v < 0.15)
        # the steady-state frame does not determine D and mu separately
        assert np.isnan(v[5])
        comb = fit.combined(name)
        assert abs(comb.value - truth_v) < 3 * comb.std, (name, comb.value / truth_v)
        assert comb.std / truth_v < 0.05
    # lambda and the Einstein check hold in every fitted frame that converged
    lam = fit["decay_length"]
    ok = fit.converged & np.isfinite(lam.std)  # no std for a steady frame
    assert ok.sum() == 4
    assert np.all(np.abs(lam.value[ok] - truth["decay_length"]) < 3 * lam.std[ok])
    ein = fit.combined("einstein_ratio")
    assert abs(ein.value - 1) < 3 * ein.std
    # the steady frame converged (or not), nothing else is presented
    assert fit.result.flag_counts.get("masked") == 1


def test_operando_series_lazy_equals_eager_and_times_given(operando_iodine_profiles):
    prof, truth = operando_iodine_profiles
    kw = dict(wall="SnO2/perovskite", field=truth["field"])
    fe = fit_migration_profile(prof, "transient", **kw)
    fl = fit_migration_profile(prof.as_lazy(), "transient", **kw)
    ft = fit_migration_profile(prof, "transient", time=truth["times"], **kw)
    # the bias times read from a time axis in ms are the same times
    pm = prof.deepcopy()
    tax = next(a for a in pm.axes_manager.navigation_axes if a.units == "s")
    tax.units, tax.axis = "ms", tax.axis * 1e3
    fm = fit_migration_profile(pm, "transient", **kw)
    for k in ("D", "mobility", "decay_length"):
        np.testing.assert_allclose(fl[k].value, fe[k].value, rtol=1e-6)
        np.testing.assert_allclose(ft[k].value, fe[k].value, rtol=1e-12)
        np.testing.assert_allclose(fm[k].value, fe[k].value, rtol=1e-9)
    with pytest.raises(ValueError, match="broadcastable"):
        fit_migration_profile(prof, "transient", time=[1.0, 2.0], **kw)
    with pytest.raises(ValueError, match="Every time is 0"):
        fit_migration_profile(prof, "transient", time=np.zeros(6), **kw)
    with pytest.raises(ValueError, match="thickness"):
        fit_migration_profile(prof, "transient", thickness=-1.0, time=1.0, **kw)
    with pytest.raises(ValueError, match="thickness bounds"):
        fit_migration_profile(prof, "interdiffusion", thickness=100.0)


def test_supplied_variance_is_used_and_negative_data_allowed():
    """A background-subtracted profile (negative values) with its own variance:
    the variance weights the fit (x4 variance -> x2 errors), not the counts."""
    lam = dd.debye_like_length(FIELD, T)
    x = np.arange(0.0, 200.0, BIN) + 0.5 * BIN
    truth = dd.steady_state_profile(x, lam, 100.0, 200.0) - 20.0
    var = np.full(x.size, 400.0)
    rng = np.random.default_rng(11)
    data = truth + rng.normal(0, 20.0, size=(6, x.size))
    s = _signal(data)
    v = s._deepcopy_with_new_data(np.broadcast_to(var, data.shape).copy())
    s.metadata.set_item("Signal.Noise_properties.variance", v)
    assert s.data.min() < 0
    fit = fit_migration_profile(s, "steady", wall=0.0, field=FIELD)
    pull = _pulls(fit["decay_length"].value, fit["decay_length"].std, lam)
    assert np.all(np.abs(pull) < 4)
    assert 0.6 < np.median(fit.result.reduced_chisq.data) < 1.5
    s4 = s.deepcopy()
    s4.metadata.Signal.Noise_properties.variance.data *= 4.0
    fit4 = fit_migration_profile(s4, "steady", wall=0.0, field=FIELD)
    # same minimum; chi2 scales with 1 / variance (HyperSpy scales the
    # parameter std by the reduced chi2, so the std do not change)
    np.testing.assert_allclose(
        fit4["decay_length"].value, fit["decay_length"].value, rtol=1e-6
    )
    np.testing.assert_allclose(
        fit4.result.reduced_chisq.data, fit.result.reduced_chisq.data / 4, rtol=1e-6
    )
    # the input keeps its own variance object, untouched
    np.testing.assert_array_equal(
        s.metadata.Signal.Noise_properties.variance.data, var[None].repeat(6, 0)
    )
    # without a variance negative data are refused for Poisson weights
    s.metadata.Signal.Noise_properties.variance = None
    with pytest.raises(ValueError, match="non-negative"):
        fit_migration_profile(s, "steady", wall=0.0, field=FIELD)


def test_bin_straddling_the_wall_is_left_out(steady_counts):
    """With the wall at a bin centre the bin across it (half electrode) is not
    fitted; with it at a bin edge the first bin is."""
    counts, lam = steady_counts
    s = _signal(counts[:4])  # bin centres 1, 3, 5, ...
    fit = fit_migration_profile(s, "steady", wall=3.0, field=FIELD)
    xs = fit.model.axis.axis[fit.model._channel_switches]
    assert xs.min() == 5.0
    fit0 = fit_migration_profile(s, "steady", wall=0.0, field=FIELD)
    assert fit0.model.axis.axis[fit0.model._channel_switches].min() == 1.0


def test_single_profile_goes_through_fast_multifit(steady_counts):
    from hyperspy_perovskite.fitting.engine import FastFitResult

    counts, lam = steady_counts
    fit = fit_migration_profile(_signal(counts[0]), "steady", wall=0.0, field=FIELD)
    assert isinstance(fit.result, FastFitResult)
    assert fit.result.n_pixels == 1 and fit.result.n_converged == 1
    assert bool(fit.converged) and np.ndim(fit["decay_length"].value) == 0


def test_closed_layer_fast_matches_multifit(operando_iodine_profiles):
    prof, truth = operando_iodine_profiles
    p = prof.inav[1:4]
    kw = dict(wall="SnO2/perovskite", field=truth["field"])
    ff = fit_migration_profile(p, "transient", **kw)
    fm = fit_migration_profile(p, "transient", method="multifit", **kw)
    for k in ("D", "mobility"):
        np.testing.assert_allclose(ff[k].value, fm[k].value, rtol=1e-3)
        np.testing.assert_allclose(ff[k].std, fm[k].std, rtol=2e-2)


@pytest.mark.parametrize("clusters", [0, 3])
def test_single_steady_map_gives_no_D_and_mu(clusters):
    """The EDX engineer's case: one map after 300 s of bias (the front crossed
    the layer in 3.9 s). Without clusters the profile is steady: lambda is
    recovered, D and mu are NaN with a warning (not wrong numbers). With
    Pb-rich clusters in the accumulation layer the model does not fit
    (reduced chi2 >> 1): D and mu are NaN with a warning as well."""
    import warnings

    from hyperspy_perovskite.data.device_simulation import simulate_device_eds

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s, truth = simulate_device_eds(
            shape=(16, 64), seed=1, n_clusters=clusters, n_clusters_biased=clusters
        )
        prof = s.get_element_profiles(["I_La"], reference="SnO2/perovskite")[0]
    match = "steady state" if clusters == 0 else "not described"
    with pytest.warns(UserWarning, match=match):
        fit = fit_migration_profile(
            prof, "transient", wall="SnO2/perovskite", field=truth["field"], time=300
        )
    assert bool(fit.converged)
    assert np.isnan(fit["D"].value) and np.isnan(fit["mobility"].value)
    if clusters == 0:
        assert fit["transient_significance"].value < 5
        lam = fit["decay_length"].value
        assert lam == pytest.approx(truth["decay_length"], rel=0.05)


def test_transient_range_bounded_by_thickness_and_clipped_ranges():
    """thickness limits the fit to the layer (it fitted 1 to 299 nm before)."""
    L = 280.0
    z, c = dd.transient_profile_layer(L, TIME, D, MU * FIELD, n_cells=400)
    x = np.arange(0.0, 300.0, BIN) + 0.5 * BIN
    truth = np.where(x < L, np.interp(x, z, c), 3.0)  # another layer beyond
    rng = np.random.default_rng(7)
    s = _signal(rng.poisson(300.0 * truth, size=(4, x.size)))
    fit = fit_migration_profile(
        s, "transient", wall=0.0, field=FIELD, time=TIME, thickness=L
    )
    used = s.axes_manager[-1].axis[np.asarray(fit.model._channel_switches)]
    assert used.max() < L and used.min() > 0.0
    with pytest.warns(UserWarning, match="beyond the layer"):
        f2 = fit_migration_profile(
            s,
            "transient",
            wall=0.0,
            field=FIELD,
            time=TIME,
            thickness=L,
            signal_range=(10.0, 299.0),
        )
    used2 = s.axes_manager[-1].axis[np.asarray(f2.model._channel_switches)]
    assert used2.max() < L and used2.min() >= 10.0
    # steady state: the thickness bounds the range too
    f3 = fit_migration_profile(s.inav[0], "steady", wall=0.0, field=FIELD, thickness=L)
    used3 = s.axes_manager[-1].axis[np.asarray(f3.model._channel_switches)]
    assert used3.max() < L


def test_arguments_with_units(steady_counts, transient_counts):
    """Numbers in the documented units, strings and pint quantities agree;
    a wrong dimension is refused naming the argument."""
    from hyperspy_perovskite.units import UnitError, ureg

    s = _signal(steady_counts[0][:2])
    forms = [
        dict(wall=0.0, field=FIELD, temperature=T, thickness=250.0,
             signal_range=(4.0, 200.0), diffusion_coefficient=1e-12),
        dict(wall="0 nm", field=f"{FIELD * 1e-6} V/um", temperature=f"{T - 273.15} degC",
             thickness="0.25 um", signal_range=("40 A", "0.2 um"),
             diffusion_coefficient="1e-8 cm^2/s"),
        dict(wall=0.0 * ureg.nm, field=FIELD * ureg("V/m"),
             temperature=ureg.Quantity(T, "K"), thickness=250.0 * ureg.nm,
             signal_range=(4.0 * ureg.nm, 200.0 * ureg.nm),
             diffusion_coefficient=1e-12 * ureg("m^2/s")),
    ]  # fmt: skip
    fits = [fit_migration_profile(s, "steady", **kw) for kw in forms]
    for name in ("decay_length", "mobility", "einstein_ratio"):
        for f in fits[1:]:
            np.testing.assert_allclose(f[name].value, fits[0][name].value, rtol=1e-9)
    # the transient's time: "5 min" is 300 s
    tr = _signal(transient_counts[:2])
    a = fit_migration_profile(tr, "transient", wall=0.0, field=FIELD, time=TIME)
    b = fit_migration_profile(
        tr, "transient", wall=0.0, field=FIELD, time=f"{TIME / 60} min"
    )
    np.testing.assert_allclose(b["D"].value, a["D"].value, rtol=1e-9)
    for kw in ({"field": "2 V"}, {"temperature": "300 V"}, {"thickness": "250 s"}):
        with pytest.raises(UnitError, match=next(iter(kw))):
            fit_migration_profile(s, "steady", **{**forms[0], **kw})
