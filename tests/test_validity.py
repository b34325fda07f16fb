"""The one validity model: built from all parameters, applied, persisted."""

import hyperspy.api as hs
import numpy as np
import pytest

from hyperspy_perovskite.validity import Validity, apply_validity, validity_from_fit


def _fit_maps(rng, shape=(20, 30)):
    values = {
        "A": rng.normal(100, 5, shape),
        "centre": rng.normal(1.7, 0.01, shape),
        "sigma": rng.normal(0.04, 0.002, shape),
    }
    std = {k: np.full(shape, 1.0 if k == "A" else 0.001) for k in values}
    return values, std


def test_each_criterion_rejects_its_pixel_and_only_it():
    rng = np.random.default_rng(0)
    values, std = _fit_maps(rng)
    values["A"][0, 0] = 2.0  # 2 sigma: not significant at 3
    values["sigma"][0, 1] = 0.001  # below resolution
    values["centre"][0, 2] = 1.5  # at the lower bound
    values["centre"][0, 3] = np.nan
    converged = np.ones((20, 30), bool)
    converged[0, 4] = False
    chisq = np.ones((20, 30))
    chisq[0, 5] = 9.0
    v = validity_from_fit(
        values,
        std,
        converged=converged,
        bounds={"centre": (1.5, 2.0)},
        significant=["A"],
        n_sigma=3,
        ranges={"sigma": (0.005, None)},
        reduced_chisq=chisq,
        max_reduced_chisq=3.0,
    )
    expected = {
        (0, 0): ["A not significant"],
        (0, 1): ["sigma out of range"],
        (0, 2): ["centre at bound"],
        (0, 4): ["not converged"],
        (0, 5): ["chi-squared"],
    }
    for idx, reasons in expected.items():
        assert v.explain(idx) == reasons, idx
    assert "centre not finite" in v.explain((0, 3))
    assert v.mask.sum() == 20 * 30 - 6
    assert v.counts()["A not significant"] == 1


def test_apply_nan_outside_and_keep_raw():
    v = Validity([[True, False]])
    out = v.apply(np.array([[1.0, 2.0]]))
    assert np.isnan(out[0, 1]) and out[0, 0] == 1
    assert v.apply(np.array([[1.0, 2.0]]), keep_invalid=True)[0, 1] == 2


def test_apply_lazy_stays_lazy():
    import dask.array as da

    v = Validity([[True, False]])
    out = v.apply(da.ones((1, 2, 3)))
    assert isinstance(out, da.Array)
    assert np.isnan(out.compute()[0, 1]).all()


def test_combine_merges_reasons():
    a = Validity([True, False, True], [0, 1, 0], ["x"])
    b = Validity([True, True, False], [0, 0, 1], ["y"])
    c = a & b
    assert c.mask.tolist() == [True, False, False]
    assert c.explain(2) == ["y"] and c.explain(1) == ["x"]


@pytest.mark.parametrize("ext", ["hspy", "zspy"])
def test_survives_save_load(tmp_path, ext):
    rng = np.random.default_rng(1)
    values, std = _fit_maps(rng, (4, 5))
    values["A"][1, 1] = 0.1
    v = validity_from_fit(values, std, significant=["A"], n_sigma=3)
    s = apply_validity(hs.signals.Signal2D(values["A"]), v)
    s.save(tmp_path / f"m.{ext}")
    back = Validity.from_metadata(hs.load(tmp_path / f"m.{ext}").metadata)
    np.testing.assert_array_equal(back.mask, v.mask)
    np.testing.assert_array_equal(back.reasons, v.reasons)
    assert back.reason_names == v.reason_names
    assert back.criteria["n_sigma"] == 3.0


def test_input_not_modified():
    s = hs.signals.Signal2D(np.ones((2, 2)))
    apply_validity(s, Validity(np.zeros((2, 2), bool)))
    assert np.all(s.data == 1) and not s.metadata.has_item("Validity")
