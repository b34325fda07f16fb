"""Which pixels get which start in ``fit_emission``'s engine passes
(:func:`hyperspy_perovskite.signals._cl_start.run_fit`).

The scene is bench_cl_fit's (two Gaussian bands, the minor one 100 meV
below, an Urbach tail with its edge 20 meV below the main band's centre,
Eu = 25 meV, a flat offset, Poisson counts, 1024 channels over 1.45-1.95
eV), written here with scipy's exponentially modified normal distribution
(E. Grushka, Anal. Chem. 44, 1733 (1972)), independently of the suite's
kernels. The engine's calls are recorded: 128 channels for the binned pass
of :func:`~hyperspy_perovskite.signals._cl_start._coarse_start`, 1024 for
the full-resolution fits.
"""

import warnings

import hyperspy.api as hs
import numpy as np
import pytest
from scipy.stats import exponnorm

from hyperspy_perovskite import fitting
from hyperspy_perovskite.signals import _cl_settle, _cl_start, _cl_urbach

SQRT2PI = np.sqrt(2 * np.pi)


def _scene(n=12, n_channels=1024, seed=3):
    rng = np.random.default_rng(seed)
    E = np.linspace(1.45, 1.95, n_channels)
    c1 = rng.uniform(1.725, 1.755, (n, n))[..., None]
    s1 = rng.uniform(0.025, 0.035, (n, n))[..., None]
    a1 = rng.uniform(60.0, 90.0, (n, n))[..., None]
    eu, e0 = 0.025, c1 - 0.02
    band = a1 / (s1 * SQRT2PI) * np.exp(-0.5 * ((E - c1) / s1) ** 2)
    minor = 0.2 * a1 / (s1 * SQRT2PI) * np.exp(-0.5 * ((E - c1 + 0.1) / s1) ** 2)
    tail = 0.3 * a1 / (s1 * SQRT2PI) * eu
    tail = tail * exponnorm.pdf(-(E - e0), eu / s1, loc=0.0, scale=s1)
    s = hs.signals.Signal1D(rng.poisson(band + minor + tail + 3.0).astype(float))
    s.set_signal_type("CL_STEM_perovskite")
    ax = s.axes_manager.signal_axes[0]
    ax.offset, ax.scale, ax.units, ax.name = E[0], E[1] - E[0], "eV", "Energy"
    return s


@pytest.fixture(scope="module")
def calls():
    """Each engine call of one fit: channels, pixels fitted, outcome flags
    and the starting Urbach energies."""
    s = _scene(seed=4)  # a scene with pixels the one-step fit does not settle
    out = []
    inner = fitting.fast_multifit

    def recording(model, mask=None, **kwargs):
        eu = np.array(model["Urbach"].Eu.map["values"])
        result = inner(model, mask=mask, **kwargs)
        fitted = np.ones(eu.shape, bool) if mask is None else ~np.asarray(mask)
        out.append(
            {
                "channels": int(np.count_nonzero(model._channel_switches)),
                "eu_free": model["Urbach"].Eu.free,
                "settle": kwargs.get("max_iterations") in (1, _cl_settle.PRESENT_STEPS),
                "tail_z": None,
                "fitted": fitted,
                "flags": np.array(result.array("convergence")),
                "start_eu": eu,
                "collapse": kwargs.get("collapse"),
            }
        )
        a = model["Urbach"].A.map
        with np.errstate(invalid="ignore", divide="ignore"):
            out[-1]["tail_z"] = np.abs(a["values"]) / a["std"]
        out[-1]["iterations"] = np.array(result.array("iterations"))
        out[-1]["candidates"] = _cl_urbach.test_candidates(model)
        return result

    fitting.fast_multifit = recording
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            s.fit_emission(n_peaks=2, tail=True, axis="energy")
    finally:
        fitting.fast_multifit = inner
    return out


def _passes(calls):
    """The fit's passes (not the refits with Eu held of _cl_urbach, nor the
    one-step fit of the pixels without a binned tail, _cl_settle.settle)."""
    calls = [c for c in calls if c["eu_free"] and not c["settle"]]
    binned = [c for c in calls if c["channels"] == 128]
    full = [c for c in calls if c["channels"] == 1024]
    return binned, full


_FAST_MULTIFIT = fitting.fast_multifit


def _run_fit_recording(monkeypatch, name, urbach=(None, None), kw=None, n=3):
    """``run_fit`` of two bands + a continuous tail on ``_scene(n)``
    (``urbach``: FitSettings' held or shared Urbach energy and edge;
    ``kw``: run_fit's ``fit_kwargs``). Returns the model and, per engine
    call, its number of fitted channels and keyword ``name``."""
    from hyperspy_perovskite.signals import _cl_fit

    seen = []
    inner = _FAST_MULTIFIT

    def recording(model, **kwargs):
        channels = int(np.count_nonzero(model._channel_switches))
        seen.append((channels, kwargs.get(name)))
        return inner(model, **kwargs)

    monkeypatch.setattr(fitting, "fast_multifit", recording)
    s = _scene(n=n)
    settings = _cl_fit.FitSettings(2, "gaussian", True, "offset", "energy", urbach)
    x1, x2 = _cl_fit.fit_range(s, None)
    m = _cl_fit.build_model(s, settings, x1, x2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _cl_start.run_fit(m, s, settings, x1, x2, None, kw or {})
    return m, seen


def _settle(calls, present=False):
    """The one-step fit of the pixels whose binned fit found no tail
    (``_cl_settle.settle``) or, with ``present``, found one
    (``_cl_settle.settle_present``)."""
    absent, found = [c for c in calls if c["settle"]]
    return found if present else absent


def _settled(calls):
    """Pixels whose one-step fit is their full-resolution fit."""
    absent, present = _settle(calls), _settle(calls, present=True)
    settled = absent["fitted"] & (absent["flags"] == 0)
    return settled | (
        present["fitted"] & (present["flags"] == 0) & ~present["candidates"]
    )


def _first_full_flags(calls):
    """The first full-resolution outcome of every pixel: its one-step fit
    where that converged, else its first full fit."""
    first = _passes(calls)[1][0]
    settled = _settled(calls)
    return np.where(settled, 0, first["flags"])


def test_one_step_full_fit_where_the_binned_tail_is_absent(calls):
    """Pixels whose binned fit converged with the tail's amplitude below
    TAIL_ABSENT_STD of its std get a full-resolution fit of at most one
    step at the tolerance of SETTLED_STEP_IN_STD; those it converges are
    left out of the full fit, the others start it again from the binned
    values (the start every other pixel has)."""
    binned, full = _passes(calls)
    settle = _settle(calls)
    ended = np.where(binned[1]["fitted"], binned[1]["flags"], binned[0]["flags"])
    z = np.where(binned[1]["fitted"], binned[1]["tail_z"], binned[0]["tail_z"])
    absent = (ended == 0) & (z < _cl_settle.TAIL_ABSENT_STD)
    assert 0 < absent.sum() < absent.size
    np.testing.assert_array_equal(settle["fitted"], absent)
    assert np.all(settle["iterations"][absent] <= 1)
    settled = absent & (settle["flags"] == 0)
    moving = absent & ~settled
    assert settled.sum() > moving.sum() > 0
    np.testing.assert_array_equal(full[0]["fitted"], ~_settled(calls))
    np.testing.assert_array_equal(
        full[0]["start_eu"][moving], settle["start_eu"][moving]
    )
    # their tail is still not there at full resolution: band not identified
    assert np.median(settle["tail_z"][settled]) < 1.0


def test_one_step_full_fit_where_the_binned_tail_is_present(calls):
    """Pixels whose binned fit converged with a tail (amplitude at least
    TAIL_ABSENT_STD of its std) that is not a candidate of the Urbach
    resolution test get a full-resolution fit of at most one step at the
    tolerance of PRESENT_STEP_IN_STD (at most PRESENT_STEPS steps). Those it converges and that are not
    candidates of the test then keep it; the candidates, and those it does
    not converge, start the full fit again from the binned values (so the
    test measures its rise from the fit they had without the step)."""
    binned, full = _passes(calls)
    present = _settle(calls, present=True)
    ended = np.where(binned[1]["fitted"], binned[1]["flags"], binned[0]["flags"])
    z = np.where(binned[1]["fitted"], binned[1]["tail_z"], binned[0]["tail_z"])
    binned_tested = np.where(
        binned[1]["fitted"], binned[1]["candidates"], binned[0]["candidates"]
    )
    found = (ended == 0) & (z >= _cl_settle.TAIL_ABSENT_STD)
    assert (found & binned_tested).any()  # the binned test's candidates
    found &= ~binned_tested
    assert 0 < found.sum() < found.size
    np.testing.assert_array_equal(present["fitted"], found)
    assert np.all(present["iterations"][found] <= _cl_settle.PRESENT_STEPS)
    converged = found & (present["flags"] == 0)
    kept = converged & ~present["candidates"]
    tested = converged & present["candidates"]
    assert kept.sum() > 0 and tested.sum() > 0
    again = found & ~kept
    assert not full[0]["fitted"][kept].any()
    assert full[0]["fitted"][again].all()
    np.testing.assert_array_equal(
        full[0]["start_eu"][again], present["start_eu"][again]
    )


def test_full_resolution_second_start_only_where_the_full_fit_failed(calls):
    """The full-resolution second start fits exactly the pixels whose first
    full-resolution fit did not converge, not also those given the binned
    second start (where it found the same minimum: measured, chi-squared
    within one noise variance of the first in every such pixel that
    converged)."""
    binned, full = _passes(calls)
    assert len(binned) == 2 and len(full) == 2
    second = full[1]
    first = _first_full_flags(calls)
    binned_redo = binned[1]["fitted"]
    # the case the old union covered is present: binned second start on a
    # pixel whose first full-resolution fit converged
    assert np.any(binned_redo & (first == 0))
    np.testing.assert_array_equal(second["fitted"], first != 0)


def test_collapse_ends_only_the_first_full_resolution_fit(calls):
    """The early end of collapsing fits (``fast_multifit(collapse=...)``)
    only in the first full-resolution fit of a free tail, which the second
    start follows; the pixels it ended get that second start."""
    binned, full = _passes(calls)
    assert full[0]["collapse"] == _cl_start.FULL_COLLAPSE
    assert [c for c in calls if c["collapse"] is not None] == [full[0]]
    ended = full[0]["fitted"] & (full[0]["flags"] == fitting.flags.NO_PEAK)
    assert full[1]["fitted"][ended].all()


@pytest.mark.parametrize("mode", [("25 meV", "20 meV"), ("shared", "20 meV")])
def test_no_collapse_rule_with_the_tail_held_or_shared(monkeypatch, mode):
    """Held or shared Urbach energies: no early end (their maps unchanged)."""
    _, seen = _run_fit_recording(monkeypatch, "collapse", mode)
    assert len(seen) >= 2 and [v for _, v in seen] == [None] * len(seen)


def test_start_order_reversed_where_both_binned_starts_failed(calls):
    """Where the binned fit failed from both starts, the full-resolution
    fit starts from the second start's estimates (a tail from the
    residual, not the first start's Eu = 25 meV) and the first start
    follows where it fails."""
    binned, full = _passes(calls)
    both_failed = binned[1]["flags"] != 0
    both_failed &= binned[1]["fitted"]
    assert both_failed.sum() >= 2
    start = full[0]["start_eu"]
    assert np.all(start[both_failed] != 0.025)
    again = both_failed & (_first_full_flags(calls) != 0)
    np.testing.assert_allclose(full[1]["start_eu"][again], 0.025)


def test_reversed_pixels_never_masked():
    class Result:
        def array(self, name):
            assert name == "convergence"
            return np.array([0, 6, 1, 6], np.int8)

    mask = np.array([False, False, False, True])
    rev = _cl_start._reversed_pixels(Result(), mask)
    assert rev.tolist() == [False, True, True, False]
    assert _cl_start._reversed_pixels(Result(), None).tolist() == [
        False,
        True,
        True,
        True,
    ]


def test_no_one_step_fit_with_the_callers_ftol(monkeypatch):
    """A tolerance given to run_fit (``ftol``, as the shared mode's refits
    give) holds for every pixel: no pixel is settled at the one-step fit's
    looser tolerance."""
    for kw, settles in (({"ftol": 1e-6}, False), ({}, True)):
        _, seen = _run_fit_recording(monkeypatch, "max_iterations", kw=kw, n=4)
        assert len(seen) >= 3
        # this scene has pixels without a tail
        assert (1 in [v for _, v in seen]) is settles


@pytest.mark.parametrize(
    "kw, held, step",
    [({}, False, 0.2), ({"ftol": 1e-6}, False, 0.1), ({}, True, 0.1)],
)
def test_binned_stopping_step(monkeypatch, kw, held, step):
    """The binned fit (128 channels) stops at a step of 0.2 std where the
    one-step fit follows (a free tail, no ``ftol`` of the caller), else at
    the fit's own 0.1 std (Eu and the edge held): ftol = step^2 / dof."""
    urbach = ("25 meV", "20 meV") if held else (None, None)
    m, seen = _run_fit_recording(monkeypatch, "ftol", urbach, kw)
    seen = [v for channels, v in seen if channels == 128]
    n_free = sum(p.free and p.twin is None for c in m for p in c.parameters)
    assert n_free == (8 if held else 10)
    assert seen and seen[0] == pytest.approx(step**2 / (128 - n_free), rel=1e-12)


def test_identity_twin_needs_no_expression():
    """The tail's width twinned to the band's as HyperSpy's identity (empty
    expression: no sympy parse); values pass through both ways as with "x"."""
    from hyperspy_perovskite.components import ContinuousUrbachTail, GaussianEmission
    from hyperspy_perovskite.signals._cl_start import _twin

    t, g = ContinuousUrbachTail(), GaussianEmission()
    _twin(t.sigma, g.sigma)
    assert t.sigma.twin is g.sigma and t.sigma.twin_function_expr == ""
    assert t.sigma._twin_function is None
    g.sigma.value = 0.031
    assert t.sigma.value == 0.031
    t.sigma.value = 0.029
    assert g.sigma.value == 0.029
    _twin(t.E0, g.centre, "x - 0.02", "x + 0.02")  # a held edge: parsed
    g.centre.value = 1.74
    assert abs(t.E0.value - 1.72) < 1e-12


def test_lone_spectrum_fits_as_a_one_pixel_map():
    """A lone spectrum (no navigation axis) takes the same passes as the
    same spectrum in a 1 x 1 map: its second start runs (it raised a
    ValueError on the (1,) mask) and a settled pixel is not fitted again
    (the engine ignored the mask of a lone spectrum)."""
    s = _scene(n=2, seed=0)
    kw = dict(n_peaks=2, tail=True, axis="energy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for iy in range(2):
            for ix in range(2):
                lone = s.inav[ix, iy].fit_emission(**kw)
                one = s.inav[ix : ix + 1, iy : iy + 1].fit_emission(**kw)
                for c in lone:
                    for p in c.parameters:
                        want = getattr(one[c.name], p.name).map["values"]
                        np.testing.assert_array_equal(
                            np.ravel(p.map["values"]), np.ravel(want)
                        )


def test_binned_window_on_small_pages(monkeypatch):
    """fit_emission's binned window writes the binned map into an array of
    small pages mapped beforehand (no huge-page advice), NumPy's means."""
    import hyperspy.api as hs

    from hyperspy_perovskite.signals import _cl_axes
    from hyperspy_perovskite.signals._cl_start import _binned_window

    made = []
    inner = _cl_axes._empty_small_pages
    monkeypatch.setattr(
        _cl_axes, "_empty_small_pages", lambda *a: made.append(a) or inner(*a)
    )
    a = np.random.default_rng(1).poisson(50.0, (40, 50, 512)).astype(float)
    s = hs.signals.Signal1D(a)
    ax = s.axes_manager.signal_axes[0]
    b, _, _ = _binned_window(s, ax.low_value, ax.high_value, 8)
    assert made == [((40, 50, 64), np.float64)]
    np.testing.assert_array_equal(b.data, a.reshape(40, 50, 64, 8).mean(-1))
