"""The solver's record of residual statistics equals a full evaluation."""

import numpy as np
import pytest

from hyperspy_perovskite.data import simulated_emission_map
from hyperspy_perovskite.fitting import _residual_rows, _residuals, fast_multifit
from hyperspy_perovskite.fitting import flags as F


def _model(kind, lazy=False):
    """A Gaussian band and an offset on a simulated map (6 x 7)."""
    import hyperspy.api as hs

    s, _ = simulated_emission_map(shape=(6, 7), n_channels=300, seed=4, lazy=lazy)
    if kind == "weighted":
        s.set_noise_variance(s._deepcopy_with_new_data(np.maximum(s.data, 1.0)))
    m = s.create_model()
    g = hs.model.components1D.Gaussian()
    g.centre.value, g.sigma.value, g.A.value = 700.0, 10.0, 1.0e4
    m.extend([g, hs.model.components1D.Offset()])
    return m


def _full_evaluation(m, pixels=None):
    """``residual_statistics`` without the record: every pixel evaluated."""
    saved = m.__dict__.pop("_residual_record", None)
    try:
        return _residuals.residual_statistics(m, pixels=pixels)
    finally:
        if saved is not None:
            m._residual_record = saved


@pytest.mark.parametrize("kind", ["counts", "plain", "weighted"])
def test_recorded_statistics_equal_a_full_evaluation(kind):
    """Fits of counts (the sandwich's evaluation at the fitted point), plain
    unweighted and weighted fits (an evaluation where the solver's last was
    not at the fitted point): the statistics the solver records are those
    of evaluating the fitted model again, bit for bit, and are used."""
    m = _model(kind)
    _residual_rows.start_record(m)
    kw = {"count_variance": np.ones(300)} if kind == "counts" else {}
    result = fast_multifit(m, show_progressbar=False, **kw)
    assert result.n_converged >= 40
    rec = m._residual_record
    fitted = np.isfinite(rec["params"]).all(axis=1)
    assert fitted.sum() >= 40
    z, size = _full_evaluation(m)
    np.testing.assert_array_equal(rec["stats"][fitted, 0], z.reshape(-1)[fitted])
    np.testing.assert_array_equal(rec["stats"][fitted, 1], size.reshape(-1)[fitted])
    # the record is read where the parameters are the fitted ones
    spy = {}
    real = _residuals.recorded

    def recorded(*args):
        spy["use"] = real(*args)[0]
        return real(*args)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_residuals, "recorded", recorded)
        z1, size1 = _residuals.residual_statistics(m)
    np.testing.assert_array_equal(spy["use"], fitted)
    np.testing.assert_array_equal(z1, z)
    np.testing.assert_array_equal(size1, size)


def test_changed_parameters_are_evaluated_again():
    """A pixel whose parameters changed after the fit (restored, swapped,
    edited) is evaluated again, not read from the record."""
    m = _model("plain")
    _residual_rows.start_record(m)
    fast_multifit(m, show_progressbar=False)
    centre = m[0].centre.map["values"]
    centre[2, 3] += 5.0  # the band moved: a residual with structure
    z, size = _residuals.residual_statistics(m)
    z0, size0 = _full_evaluation(m)
    np.testing.assert_array_equal(z, z0)
    np.testing.assert_array_equal(size, size0)
    i = 2 * 7 + 3
    assert size[2, 3] != m._residual_record["stats"][i, 1]
    assert z[2, 3] < -3 and size[2, 3] > 0.1


def test_masked_pixels_keep_their_flags_and_record():
    """With the statistics' two more columns, masked pixels are still
    flagged MASKED with no iterations, and keep what an earlier fit
    recorded."""
    m = _model("plain")
    _residual_rows.start_record(m)
    fast_multifit(m, show_progressbar=False)
    first = m._residual_record["stats"].copy()
    mask = np.zeros((6, 7), bool)
    mask[1:3] = True
    m[0].centre.map["values"][~mask] += 0.5  # a new start where fitted
    result = fast_multifit(m, mask=mask, show_progressbar=False)
    conv = np.asarray(result.array("convergence"))
    assert np.all(conv[mask] == F.MASKED)
    assert np.all(np.asarray(result.array("iterations"))[mask] == 0)
    assert np.all(conv[~mask] == F.CONVERGED)
    kept = mask.reshape(-1)
    np.testing.assert_array_equal(m._residual_record["stats"][kept], first[kept])
    z, _ = _full_evaluation(m)
    np.testing.assert_array_equal(m._residual_record["stats"][:, 0], z.reshape(-1))


def test_lazy_fit_records_what_the_eager_one_does():
    eager, lazy = _model("plain"), _model("plain", lazy=True)
    for m in (eager, lazy):
        _residual_rows.start_record(m)
        fast_multifit(m, show_progressbar=False)
    np.testing.assert_array_equal(
        lazy._residual_record["stats"], eager._residual_record["stats"]
    )
    assert np.isfinite(eager._residual_record["stats"][:, 1]).all()


def test_no_record_unless_asked_or_on_a_binned_axis():
    m = _model("plain")
    assert not _residual_rows.wanted(m, np.ones(3))
    _residual_rows.start_record(m)
    assert _residual_rows.wanted(m, np.ones(3))
    assert not _residual_rows.wanted(m, np.full(3, 0.5))  # binned: y - f * width
    _residual_rows.stop_record(m)
    assert not hasattr(m, "_residual_record")
    assert _residual_rows.recorded(m, None, None, None, 5) is None


def test_fit_emission_validity_as_a_full_evaluation():
    """``fit_emission`` reads the record for its validity and forgets it:
    the same validity as judged again from a full evaluation."""
    from hyperspy_perovskite.signals._cl_statistics import emission_validity

    s, _ = simulated_emission_map(shape=(5, 6), n_channels=400, seed=3)
    s.set_signal_type("CL_STEM_perovskite")
    m = s.fit_emission(n_peaks=2, tail=True, axis="energy", show_progressbar=False)
    assert not hasattr(m, "_residual_record")
    again = emission_validity(m)[0]
    np.testing.assert_array_equal(np.asarray(m.validity.mask), np.asarray(again.mask))
    np.testing.assert_array_equal(
        np.asarray(m.validity.reasons), np.asarray(again.reasons)
    )
    assert m.validity.reason_names == again.reason_names


def test_paused_record_is_kept_and_not_written():
    """Fits inside ``paused`` record nothing; the record made before is
    kept and still read where the parameters were restored."""
    m = _model("plain")
    _residual_rows.start_record(m)
    fast_multifit(m, show_progressbar=False)
    before = {k: v.copy() for k, v in m._residual_record.items() if k != "key"}
    saved = [p.map.copy() for c in m for p in c.parameters]
    with _residual_rows.paused(m):
        assert not hasattr(m, "_residual_record")
        m[0].centre.map["values"] += 1.0
        fast_multifit(m, show_progressbar=False)
    for k, v in before.items():
        np.testing.assert_array_equal(m._residual_record[k], v)
    for p, s in zip([p for c in m for p in c.parameters], saved, strict=True):
        p.map[...] = s
    from hyperspy_perovskite.fitting.engine import _axis_arrays
    from hyperspy_perovskite.fitting.model_description import describe_model

    desc = describe_model(m, bounded=False)
    params = _residuals._parameter_matrix(desc, np.arange(42))
    use, _ = _residual_rows.recorded(m, desc, params, _axis_arrays(m)[0], 5)
    assert use.all()
