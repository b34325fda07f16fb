"""fast_multifit against ground truth, against m.multifit, and on bad input."""

import dask.array as da
import hyperspy.api as hs
import numpy as np
import pytest

from hyperspy_perovskite.data import simulated_emission_map
from hyperspy_perovskite.fitting import (
    UnsupportedComponentError,
    fast_multifit,
    flags,
)

c1d = hs.model.components1D


def _gauss_offset_model(s):
    m = s.create_model()
    g = c1d.Gaussian()
    o = c1d.Offset()
    m.extend([g, o])
    return m, g, o


@pytest.fixture(scope="module")
def weighted_map():
    """Poisson map weighted by its true variance (the noise-free expectation).

    Weighting by the observed counts (``estimate_poissonian_noise_variance``)
    biases low-count parameters such as the offset (Neyman's chi-squared), so
    the uncertainty test uses the true variance.
    """
    s, truth = simulated_emission_map(shape=(32, 32), n_channels=256, seed=7)
    expected, _ = simulated_emission_map(
        shape=(32, 32), n_channels=256, seed=7, noise=False
    )
    s.metadata.set_item("Signal.Noise_properties.variance", expected)
    return s, truth


@pytest.mark.parametrize("lazy", [False, True])
def test_ground_truth_within_reported_uncertainty(weighted_map, lazy):
    s, truth = weighted_map
    s = s.as_lazy() if lazy else s
    m, g, o = _gauss_offset_model(s)
    result = fast_multifit(m, starting_values="estimate")
    assert result.n_converged == 32 * 32
    for name, comp in (("centre", g), ("sigma", g), ("A", g), ("offset", o)):
        par = getattr(comp, name)
        z = np.abs(par.map["values"] - truth[name]) / par.map["std"]
        assert np.mean(z < 3) >= 0.98, name
        # the reported std is not inflated either: most errors are within 1 std
        assert np.mean(z < 1) >= 0.55, name
    assert np.all(g.A.map["is_set"])
    # Poisson-weighted fit: reduced chi-squared close to 1
    assert 0.9 < np.median(result.reduced_chisq.data) < 1.15


def test_lazy_equals_eager(weighted_map):
    s, _ = weighted_map
    m1, g1, _ = _gauss_offset_model(s)
    fast_multifit(m1, starting_values="estimate")
    m2, g2, _ = _gauss_offset_model(s.as_lazy())
    fast_multifit(m2, starting_values="estimate")
    for name in ("A", "sigma", "centre"):
        a = getattr(g1, name).map
        b = getattr(g2, name).map
        np.testing.assert_allclose(a["values"], b["values"], rtol=1e-9)
        np.testing.assert_allclose(a["std"], b["std"], rtol=1e-9)
    np.testing.assert_allclose(m1.chisq.data, m2.chisq.data, rtol=1e-9)


def test_lazy_input_is_streamed_in_chunks():
    s, _ = simulated_emission_map(shape=(16, 16), n_channels=128, seed=3, lazy=True)
    s.data = s.data.rechunk((4, 16, 128))
    m, g, _ = _gauss_offset_model(s)
    result = fast_multifit(m, starting_values="estimate")
    assert result.n_converged == 256
    assert isinstance(s.data, da.Array)


def test_agrees_with_multifit():
    s, _ = simulated_emission_map(shape=(3, 4), n_channels=256, seed=11)
    s.estimate_poissonian_noise_variance()
    m1, g1, o1 = _gauss_offset_model(s)
    m2, g2, o2 = _gauss_offset_model(s)
    for g, o in ((g1, o1), (g2, o2)):
        g.estimate_parameters(s, 600, 820, only_current=False)
        o.estimate_parameters(s, 600, 820, only_current=False)
    m1.multifit(grad="analytical")
    fast_multifit(m2)
    for name in ("A", "sigma", "centre"):
        a = getattr(g1, name).map
        b = getattr(g2, name).map
        np.testing.assert_allclose(b["values"], a["values"], rtol=1e-5)
        np.testing.assert_allclose(b["std"], a["std"], rtol=1e-3)
    np.testing.assert_allclose(m2.chisq.data, m1.chisq.data, rtol=1e-6)
    np.testing.assert_array_equal(m2.dof.data, m1.dof.data)
    np.testing.assert_allclose(m2.red_chisq.data, m1.red_chisq.data, rtol=1e-6)


def _synthetic(component, x, n=3, noise=0.01, seed=0):
    rng = np.random.default_rng(seed)
    y = component.function(x)
    data = y + noise * np.abs(y).max() * rng.standard_normal((n, x.size))
    s = hs.signals.Signal1D(data)
    ax = s.axes_manager[-1]
    ax.offset, ax.scale = x[0], x[1] - x[0]
    return s


@pytest.mark.parametrize(
    "make, start",
    [
        (
            lambda: c1d.Lorentzian(A=50.0, gamma=2.0, centre=12.0),
            {"centre": 11.0, "gamma": 3.0},
        ),
        (
            lambda: c1d.GaussianHF(height=9.0, fwhm=4.0, centre=10.0),
            {"centre": 11.0, "fwhm": 6.0},
        ),
        (lambda: c1d.Exponential(A=30.0, tau=6.0), {"tau": 4.0, "A": 20.0}),
        (lambda: c1d.Erf(A=4.0, sigma=2.0, origin=9.0), {"origin": 10.0, "sigma": 1.0}),
    ],
    ids=["Lorentzian", "GaussianHF", "Exponential", "Erf"],
)
def test_other_components_agree_with_multifit(make, start):
    x = np.linspace(0.0, 24.0, 200)
    truth = make()
    s = _synthetic(truth, x)
    results = []
    for fit in ("multifit", "fast"):
        m = s.create_model()
        comp = make()
        for k, v in start.items():
            getattr(comp, k).value = v
        m.append(comp)
        if fit == "multifit":
            m.multifit()
        else:
            assert fast_multifit(m).n_converged == 3
        results.append({p.name: p.map["values"].copy() for p in comp.parameters})
    for name in results[0]:
        np.testing.assert_allclose(results[1][name], results[0][name], rtol=1e-4)
        truth_value = getattr(truth, name).value
        np.testing.assert_allclose(results[1][name], truth_value, rtol=0.05)


def test_polynomial_is_linear_and_exact():
    x = np.linspace(-5, 5, 101)
    p = c1d.Polynomial(order=3)
    p.a0.value, p.a1.value, p.a2.value, p.a3.value = 1.0, -2.0, 0.5, 0.1
    s = _synthetic(p, x, noise=0.0)
    m = s.create_model()
    q = c1d.Polynomial(order=3)
    m.append(q)
    fast_multifit(m)
    for name, v in (("a0", 1.0), ("a1", -2.0), ("a2", 0.5), ("a3", 0.1)):
        np.testing.assert_allclose(getattr(q, name).map["values"], v, rtol=1e-8)


def test_fixed_parameters_twins_and_bounds():
    s, truth = simulated_emission_map(shape=(2, 3), n_channels=256, seed=5, noise=False)
    m = s.create_model()
    g1, g2, o = c1d.Gaussian(), c1d.Gaussian(), c1d.Offset()
    m.extend([g1, g2, o])
    g1.estimate_parameters(s, 600, 820, only_current=False)
    # fixed: offset known exactly
    o.offset.value = 20.0
    o.offset.free = False
    # twin: g2 is the same band split in two halves of the area
    g2.sigma.twin = g1.sigma
    g2.centre.twin = g1.centre
    g2.A.twin_function_expr = "x"
    g2.A.twin = g1.A
    fast_multifit(m)
    np.testing.assert_allclose(o.offset.map["values"], 20.0)
    np.testing.assert_allclose(g2.sigma.map["values"], g1.sigma.map["values"])
    np.testing.assert_allclose(g1.A.map["values"] * 2, truth["A"], rtol=1e-6)
    np.testing.assert_allclose(g1.centre.map["values"], truth["centre"], rtol=1e-8)
    # bounds: a ceiling below the true centre holds
    m2, g, _ = _gauss_offset_model(s)
    g.estimate_parameters(s, 600, 820, only_current=False)
    g.centre.bmax = 700.0
    g.centre.map["values"] = np.minimum(g.centre.map["values"], 699.0)
    fast_multifit(m2)
    assert np.all(g.centre.map["values"] <= 700.0)
    fast_multifit(m2, bounded=False)
    np.testing.assert_allclose(g.centre.map["values"], truth["centre"], rtol=1e-6)


def test_linear_twin_function():
    s, truth = simulated_emission_map(shape=(2, 2), n_channels=256, seed=2, noise=False)
    m = s.create_model()
    g1, g2, o = c1d.Gaussian(), c1d.Gaussian(), c1d.Offset()
    m.extend([g1, g2, o])
    g1.estimate_parameters(s, 600, 820, only_current=False)
    g2.A.twin_function_expr = "3 * x"
    g2.A.twin = g1.A
    g2.sigma.twin = g1.sigma
    g2.centre.twin = g1.centre
    fast_multifit(m)
    np.testing.assert_allclose(g1.A.map["values"] * 4, truth["A"], rtol=1e-6)
    np.testing.assert_allclose(g2.A.map["values"], 3 * g1.A.map["values"])
    g2.A.twin_function_expr = "x**2"
    with pytest.raises(UnsupportedComponentError, match="not linear"):
        fast_multifit(m)


def test_signal_range_and_binned_axis_match_multifit():
    s, _ = simulated_emission_map(shape=(2, 2), n_channels=256, seed=9)
    s.axes_manager[-1].is_binned = True
    fits = []
    for fit in ("multifit", "fast"):
        m, g, o = _gauss_offset_model(s)
        m.set_signal_range(650.0, 780.0)
        g.estimate_parameters(s, 650, 780, only_current=False)
        o.estimate_parameters(s, 650, 780, only_current=False)
        if fit == "multifit":
            m.multifit()
        else:
            fast_multifit(m)
        fits.append((g.A.map["values"].copy(), g.centre.map["values"].copy()))
    np.testing.assert_allclose(fits[1][0], fits[0][0], rtol=1e-5)
    np.testing.assert_allclose(fits[1][1], fits[0][1], rtol=1e-6)


def test_bad_pixels_are_flagged_never_set():
    s, truth = simulated_emission_map(shape=(3, 4), n_channels=256, seed=4)
    s.data[0, 0, 10] = np.nan
    s.data[0, 1] = 0.0
    s.data[0, 2, 50] = np.inf
    rng = np.random.default_rng(0)
    s.data[1, 0] = rng.poisson(20.0, 256)  # background only: no peak
    m, g, o = _gauss_offset_model(s)
    g.estimate_parameters(s, 600, 820, only_current=False)
    result = fast_multifit(m)
    conv = result.convergence.data
    assert conv[0, 0] == flags.NOT_FINITE_DATA
    assert conv[0, 1] == flags.EMPTY
    assert conv[0, 2] == flags.NOT_FINITE_DATA
    assert conv[1, 0] in (flags.NO_PEAK, flags.SINGULAR)
    good = conv == flags.CONVERGED
    assert good.sum() == 12 - 4
    assert not g.A.map["is_set"][~good].any()
    assert np.isnan(g.centre.map["values"][0, :3]).all()
    np.testing.assert_allclose(
        g.centre.map["values"][good], truth["centre"][good], atol=1.0
    )


def test_saturated_pixels_flagged_for_integer_data():
    s, _ = simulated_emission_map(shape=(2, 2), n_channels=128, seed=4)
    s.data = np.clip(s.data, 0, 250).astype(np.uint8)
    s.data[1, 1, 60:64] = 255
    m, g, _ = _gauss_offset_model(s)
    g.estimate_parameters(s, 600, 820, only_current=False)
    result = fast_multifit(m)
    assert result.convergence.data[1, 1] == flags.SATURATED
    result = fast_multifit(m, saturation=1e9)
    assert result.convergence.data[1, 1] != flags.SATURATED


def test_mask_leaves_maps_untouched():
    s, _ = simulated_emission_map(shape=(2, 3), n_channels=128, seed=4)
    m, g, _ = _gauss_offset_model(s)
    g.estimate_parameters(s, 600, 820, only_current=False)
    before = g.centre.map["values"].copy()
    mask = np.zeros((2, 3), bool)
    mask[1, 2] = True
    result = fast_multifit(m, mask=mask)
    assert result.convergence.data[1, 2] == flags.MASKED
    assert g.centre.map["values"][1, 2] == before[1, 2]
    assert result.n_converged == 5
    with pytest.raises(ValueError, match="navigation shape"):
        fast_multifit(m, mask=np.zeros((3, 2), bool))


def test_masked_rows_not_copied_same_fit():
    """Only unmasked spectra are fitted: same numbers as without the mask."""
    s, _ = simulated_emission_map(shape=(2, 3), n_channels=128, seed=5)
    s.estimate_poissonian_noise_variance()  # a per-pixel variance, subset too
    s.metadata.Signal.Noise_properties.variance.data += 1.0
    m, g, _ = _gauss_offset_model(s)
    g.estimate_parameters(s, 600, 820, only_current=False)
    start = [p.map.copy() for p in g.parameters]
    centre_start = g.centre.map["values"].copy()
    full = fast_multifit(m)
    values = g.centre.map["values"].copy(), g.centre.map["std"].copy()
    for p, saved in zip(g.parameters, start, strict=True):
        p.map[...] = saved
    mask = np.array([[True, False, True], [False, True, False]])
    part = fast_multifit(m, mask=mask)
    assert (part.convergence.data[mask] == flags.MASKED).all()
    assert (part.iterations.data[mask] == 0).all()
    np.testing.assert_array_equal(
        part.iterations.data[~mask], full.iterations.data[~mask]
    )
    np.testing.assert_allclose(g.centre.map["values"][~mask], values[0][~mask])
    np.testing.assert_allclose(
        g.centre.map["std"][~mask], values[1][~mask], rtol=1e-5
    )  # reductions vectorised in another order: last digits
    np.testing.assert_array_equal(g.centre.map["values"][mask], centre_start[mask])


def test_single_spectrum():
    s, truth = simulated_emission_map(shape=(1, 1), n_channels=256, seed=1)
    s = s.inav[0, 0]
    m, g, _ = _gauss_offset_model(s)
    g.estimate_parameters(s, 600, 820)
    result = fast_multifit(m)
    assert result.n_converged == 1
    assert g.centre.value == pytest.approx(truth["centre"][0, 0], abs=1.0)


def test_clear_errors():
    s, _ = simulated_emission_map(shape=(2, 2), n_channels=64, seed=0)
    m = s.create_model()
    m.append(c1d.Voigt())
    with pytest.raises(UnsupportedComponentError, match=r"Voigt.*m\.multifit"):
        fast_multifit(m)
    m = s.create_model()
    with pytest.raises(ValueError, match="no active component"):
        fast_multifit(m)
    m, g, _ = _gauss_offset_model(s)
    with pytest.raises(ValueError, match="starting_values"):
        fast_multifit(m, starting_values="guess")
    s.metadata.set_item("Signal.Noise_properties.variance", -1.0)
    with pytest.raises(ValueError, match="positive finite"):
        fast_multifit(m)
    s.metadata.Signal.Noise_properties.variance = hs.signals.Signal1D(
        np.ones((2, 2, 3))
    )
    with pytest.raises(ValueError, match="same shape"):
        fast_multifit(m)


def test_results_work_with_hyperspy_tools(tmp_path):
    s, truth = simulated_emission_map(shape=(4, 4), n_channels=128, seed=2)
    m, g, o = _gauss_offset_model(s)
    fast_multifit(m, starting_values="estimate")
    model_signal = m.as_signal()
    assert model_signal.data.shape == s.data.shape
    assert np.abs(model_signal.data - s.data).mean() < 5 * np.sqrt(s.data.mean())
    centre = g.centre.as_signal()
    np.testing.assert_allclose(centre.data, truth["centre"], atol=1.0)
    m.export_results(folder=str(tmp_path), format="hspy")
    assert any(tmp_path.iterdir())
    for ext in ("hspy", "zspy"):
        m.save(str(tmp_path / f"model.{ext}"), name="fast", overwrite=True)
        s2 = hs.load(str(tmp_path / f"model.{ext}"))
        m2 = s2.models.restore("fast")
        np.testing.assert_allclose(m2[0].centre.map["values"], g.centre.map["values"])
        np.testing.assert_array_equal(m2[0].centre.map["is_set"], True)


def test_local_cluster():
    # one worker process: the blocks (and the compiled model) travel to another
    # process as they would to many; each extra worker only costs start-up
    distributed = pytest.importorskip("distributed")
    s, truth = simulated_emission_map(shape=(8, 8), n_channels=128, seed=12, lazy=True)
    s.data = s.data.rechunk((4, 8, 128))
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster),
    ):
        m, g, _ = _gauss_offset_model(s)
        result = fast_multifit(m, starting_values="estimate")
    assert result.n_converged == 64
    np.testing.assert_allclose(g.centre.map["values"], truth["centre"], atol=1.0)


def test_zero_variance_flagged_or_floored():
    s, truth = simulated_emission_map(shape=(2, 2), n_channels=128, seed=8, offset=0.0)
    s.estimate_poissonian_noise_variance()
    m, g, _ = _gauss_offset_model(s)
    g.estimate_parameters(s, 600, 820, only_current=False)
    assert (s.metadata.Signal.Noise_properties.variance.data == 0).any()
    with pytest.warns(UserWarning, match="min_variance=1"):
        result = fast_multifit(m)
    assert (result.convergence.data == flags.BAD_VARIANCE).all()
    result = fast_multifit(m, min_variance=1.0)
    assert result.n_converged == 4
    np.testing.assert_allclose(g.centre.map["values"], truth["centre"], atol=1.0)


def test_estimate_keeps_fixed_parameters_and_masked_pixels():
    s, truth = simulated_emission_map(shape=(2, 3), n_channels=128, seed=4)
    m, g, o = _gauss_offset_model(s)
    g.sigma.value = 12.0
    g.sigma.free = False
    mask = np.zeros((2, 3), bool)
    mask[0, 0] = True
    result = fast_multifit(m, starting_values="estimate", mask=mask)
    np.testing.assert_allclose(g.sigma.map["values"][~mask], 12.0)
    assert not g.A.map["is_set"][0, 0]
    assert g.A.map["is_set"][~mask].all()
    assert result.convergence.data[0, 0] == flags.MASKED


def test_linear_solve_reaches_the_same_minimum_in_fewer_iterations():
    s, truth = simulated_emission_map(shape=(16, 16), n_channels=512, seed=4)
    runs = {}
    for linear_solve in (False, True):
        m, g, o = _gauss_offset_model(s)
        g.estimate_parameters(s, 600, 820, only_current=False)
        o.estimate_parameters(s, 600, 820, only_current=False)
        r = fast_multifit(m, linear_solve=linear_solve)
        assert r.n_converged == 256
        runs[linear_solve] = (
            {p.name: p.map["values"].copy() for p in g.parameters + o.parameters},
            g.centre.map["std"].copy(),
            r.chisq.data.copy(),
            r.iterations.data.mean(),
        )
    (plain, std, chi_plain, it_plain), (vp, _, chi_vp, it_vp) = runs[False], runs[True]
    # same minimum: parameters within 1 % of their standard deviation
    assert np.max(np.abs(vp["centre"] - plain["centre"]) / std) < 0.01
    np.testing.assert_allclose(chi_vp, chi_plain, rtol=1e-6)
    assert it_vp < it_plain


def test_initial_damping_is_the_first_steps_and_defaults_to_the_old_path():
    """``initial_damping``: 0.1 (the default) is the path fitted before the
    option, bit for bit; from starts near the minimum (the fit's own
    values moved by a few standard deviations, as a refit starts) a
    smaller first damping reaches the same minimum in fewer iterations; a
    damping that is not positive is refused."""
    s, _ = simulated_emission_map(shape=(12, 12), n_channels=512, seed=6)
    m, g, o = _gauss_offset_model(s)
    g.estimate_parameters(s, 600, 820, only_current=False)
    o.estimate_parameters(s, 600, 820, only_current=False)
    fast_multifit(m)
    params = g.parameters + o.parameters
    fitted = {p: p.map.copy() for p in params}
    runs = {}
    for damping in (None, 0.1, 1e-4):
        for p in params:
            p.map[...] = fitted[p]
        g.centre.map["values"] += 3 * fitted[g.centre]["std"]
        g.sigma.map["values"] *= 1.1
        kw = {} if damping is None else {"initial_damping": damping}
        r = fast_multifit(m, **kw)
        assert r.n_converged == 144
        runs[damping] = (
            {p: p.map.copy() for p in params},
            r.chisq.data.copy(),
            r.iterations.data.copy(),
        )
    default, same, small = runs[None], runs[0.1], runs[1e-4]
    for p in params:
        for f in ("values", "std"):
            np.testing.assert_array_equal(same[0][p][f], default[0][p][f])
        # the same minimum: within 1 % of the standard deviation
        dz = (small[0][p]["values"] - default[0][p]["values"]) / default[0][p]["std"]
        assert np.max(np.abs(dz)) < 0.01
    np.testing.assert_array_equal(same[2], default[2])
    np.testing.assert_allclose(small[1], default[1], rtol=1e-6)
    assert small[2].mean() < default[2].mean()
    for bad in (0.0, -1.0, np.nan):
        with pytest.raises(ValueError, match="initial_damping"):
            fast_multifit(m, initial_damping=bad)


def test_linear_solve_with_shared_width_and_separate_amplitudes():
    """Two Gaussians share sigma (twin) with free amplitudes: the rescaled
    width column mixes both amplitudes; the fit must still match multifit."""
    x = np.linspace(600.0, 820.0, 441)
    rng = np.random.default_rng(1)
    width = 9.0
    clean = (
        3e4 * np.exp(-0.5 * ((x - 690) / width) ** 2) / (width * np.sqrt(2 * np.pi))
        + 1e4 * np.exp(-0.5 * ((x - 730) / width) ** 2) / (width * np.sqrt(2 * np.pi))
        + 15.0
    )
    s = hs.signals.Signal1D(rng.poisson(np.tile(clean, (3, 1))).astype(float))
    s.axes_manager[-1].offset, s.axes_manager[-1].scale = x[0], x[1] - x[0]
    fits = []
    for fit in ("multifit", "fast"):
        m = s.create_model()
        g1 = c1d.Gaussian(A=2e4, sigma=12.0, centre=688.0)
        g2 = c1d.Gaussian(A=2e4, sigma=12.0, centre=733.0)
        o = c1d.Offset(offset=5.0)
        m.extend([g1, g2, o])
        g2.sigma.twin = g1.sigma
        for p in g1.parameters + g2.parameters + o.parameters:
            p.map["values"][:] = p.value
            p.map["is_set"][:] = True
        if fit == "multifit":
            m.multifit()
        else:
            r = fast_multifit(m)
            assert r.n_converged == 3
        fits.append(
            [
                (p.map["values"].copy(), p.map["std"].copy())
                for p in (g1.A, g2.A, g1.sigma, g1.centre, g2.centre, o.offset)
            ]
        )
    # the same minimum: within 1 % of a standard deviation
    for (ref, _), (fast, std) in zip(*fits, strict=True):
        assert np.all(np.abs(fast - ref) < 0.01 * std)


def test_current_start_of_unconverged_pixels_is_their_map():
    """A pixel whose fit stopped unconverged keeps its values with ``is_set``
    False; the next ``starting_values="current"`` fit starts from them (a
    0-iteration fit returns its start), not from the parameter's single
    value. A map changed since by hand is used only where ``is_set``."""
    s, _ = simulated_emission_map(shape=(4, 6), n_channels=256, seed=5)
    m, g, o = _gauss_offset_model(s)
    r1 = fast_multifit(m, starting_values="estimate", max_iterations=2)
    failed = np.asarray(r1.convergence.data) == flags.MAX_ITERATIONS
    assert failed.sum() >= 3 and not g.centre.map["is_set"][failed].any()
    first = {p: p.map["values"].copy() for p in g.parameters + o.parameters}
    g.centre.value = 123.0  # the single value an unset pixel would start from
    fast_multifit(m, starting_values="current", max_iterations=0)
    for p, v in first.items():
        np.testing.assert_array_equal(p.map["values"], v, err_msg=p.name)
    # values edited without is_set are not a fit's: the single value is used
    g.centre.map["values"][failed] += 1.0
    g.centre.map["is_set"][:] = False
    fast_multifit(m, starting_values="current", max_iterations=0)
    np.testing.assert_array_equal(g.centre.map["values"][failed], 123.0)


@pytest.mark.parametrize("shape", [(3, 4), (1, 1)])
def test_result_maps_made_when_read(shape):
    """The result's maps are HyperSpy navigation signals made on first read
    (titled, axes of the navigation space); ``array`` gives their data
    without making them, and writes through it are the signal's."""
    s, _ = simulated_emission_map(shape=shape, n_channels=128, seed=2)
    if shape == (1, 1):
        s = s.inav[0, 0]  # no navigation axis: maps of one value
    m, g, _ = _gauss_offset_model(s)
    result = fast_multifit(m, starting_values="estimate")
    assert all(isinstance(v, np.ndarray) for v in result._maps.values())
    flags_ = result.array("convergence")
    assert flags_.dtype == np.int8 and result.array("iterations").dtype == np.int32
    nav = s.axes_manager._navigation_shape_in_array or (1,)
    assert flags_.shape == result.array("chisq").shape == nav
    flags_[0] = flags.NO_PEAK
    sig = result.convergence
    assert sig.data is flags_ and sig.data.flat[0] == flags.NO_PEAK
    assert sig.metadata.General.title.endswith("fit convergence flags")
    assert result.convergence is sig  # made once
    red = result.reduced_chisq
    if shape != (1, 1):  # a map over the navigation axes of the fitted signal
        assert red.axes_manager.signal_shape == s.axes_manager.navigation_shape
    np.testing.assert_array_equal(result.array("reduced_chisq"), red.data)
    with pytest.raises(KeyError, match="convergence"):
        result.array("flags")


@pytest.mark.parametrize("nav", [(), (5,), (3, 4), (2, 3, 2)])
def test_result_maps_as_hyperspy_navigation_signals(nav):
    """The maps made on first read are what HyperSpy's
    ``_get_navigation_signal`` makes (class, axes, title); the result does
    not keep the fitted signal (and its data) alive."""
    import gc
    import weakref

    rng = np.random.default_rng(0)
    x = np.linspace(-5, 5, 64)
    y = 10 * np.exp(-0.5 * x**2) + 2 + rng.normal(0, 0.1, nav + (64,))
    s = hs.signals.Signal1D(y)
    s.axes_manager.signal_axes[0].offset = -5.0
    s.axes_manager.signal_axes[0].scale = 10 / 63
    for i, ax in enumerate(s.axes_manager.navigation_axes):
        ax.name, ax.units, ax.scale, ax.offset = f"n{i}", "nm", 0.5 + i, 3.0 * i
    s.metadata.General.title = "Map"
    m, g, o = _gauss_offset_model(s)
    g.centre.value, g.sigma.value, g.A.value = 0.0, 1.0, 25.0
    result = fast_multifit(m)
    for name in ("convergence", "chisq", "reduced_chisq", "iterations"):
        data = result.array(name)
        ref = s._get_navigation_signal(data=data)
        sig = getattr(result, name)
        assert type(sig) is type(ref) and np.shares_memory(sig.data, data)
        assert sig.data.shape == ref.data.shape
        assert sig.axes_manager.shape == ref.axes_manager.shape
        for a, b in zip(sig.axes_manager._axes, ref.axes_manager._axes, strict=True):
            assert a.get_axis_dictionary() == b.get_axis_dictionary()
        assert sig.metadata.General.title.startswith("Map ")
    alive = weakref.ref(s)
    del s, m, g, o, ref, sig, a, b
    ax = None  # (an axis keeps its signal alive)
    gc.collect()
    assert alive() is None and result.array("chisq") is not None


@pytest.mark.parametrize("mask", [True, np.array([True]), False, np.array([False])])
def test_lone_spectrum_honours_its_mask(mask):
    """A lone spectrum (no navigation axis) is left as it is when masked,
    whether the mask is a scalar or the (1,) array of a lone spectrum's
    maps, and fitted when not."""
    s, _ = simulated_emission_map(shape=(1, 1), seed=0)
    one = s.inav[0, 0]
    m = one.create_model()
    m.extend([hs.model.components1D.Gaussian(), hs.model.components1D.Offset()])
    m[0].centre.value = float(one.axes_manager.signal_axes[0].axis.mean())
    m[0].A.value, m[0].sigma.value = 1.0, 10.0
    start = [float(np.ravel(p.map["values"])[0]) for c in m for p in c.parameters]
    result = fast_multifit(m, mask=mask, starting_values="current")
    flag = int(np.ravel(result.array("convergence"))[0])
    now = [float(np.ravel(p.map["values"])[0]) for c in m for p in c.parameters]
    if np.any(mask):
        assert flag == flags.MASKED
        assert now == start
    else:
        assert flag != flags.MASKED
        assert now != start
