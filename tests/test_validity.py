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


# --------------------------------------------------------------- lazy validity
def _lazy_fit_maps():
    import dask.array as da

    rng = np.random.default_rng(2)
    values, std = _fit_maps(rng, (6, 8))
    values["A"][0, 0] = 2.0  # not significant
    values["sigma"][1, 1] = np.nan  # not finite
    values["centre"][2, 2] = 1.5  # at bound
    kw = dict(significant=["A"], n_sigma=3, bounds={"centre": (1.5, 2.0)})
    eager = validity_from_fit(values, std, **kw)
    lazy_values = {k: da.from_array(v, chunks=(3, 4)) for k, v in values.items()}
    lazy_std = {k: da.from_array(v, chunks=(3, 4)) for k, v in std.items()}
    return eager, validity_from_fit(lazy_values, lazy_std, **kw)


def test_validity_from_fit_lazy_equals_eager():
    eager, lazy = _lazy_fit_maps()
    assert lazy.lazy and not eager.lazy
    assert "lazy" in repr(lazy)  # nothing computed to print it
    done = lazy.compute()
    np.testing.assert_array_equal(done.mask, eager.mask)
    assert done.rejected().keys() == eager.rejected().keys()
    for name, hit in eager.rejected().items():
        np.testing.assert_array_equal(done.rejected()[name], hit)
    # a lazy validity keeps every possible reason, firing or not
    assert set(eager.reason_names) < set(lazy.reason_names)
    assert lazy.fraction == eager.fraction == 1 - 3 / 48


def test_lazy_combine_and_slice():
    import dask.array as da

    a = Validity(da.from_array([True, False, True]), da.from_array([0, 1, 0]), ["x"])
    b = Validity([True, True, False], [0, 0, 1], ["y"])
    c = (a & b).compute()
    assert c.mask.tolist() == [True, False, False]
    assert c.explain(2) == ["y"] and c.explain(1) == ["x"]
    assert b[1:].mask.tolist() == [True, False] and b[1:].explain(1) == ["y"]


def _lazy_result(counter):
    """A lazy result whose validity comes from the same graph as its data;
    ``counter`` counts the evaluations of the expensive upstream block."""
    import dask.array as da

    def upstream(block):
        if block.size:  # not dask's probe of the output type
            counter.append(1)
        return block * 2.0

    raw = da.from_array(np.array([1.0, -1.0, 2.0, 3.0]), chunks=4)
    shared = raw.map_blocks(upstream, dtype=float)
    ok = shared > 0
    v = Validity(ok, (~ok).astype(np.uint32), ["negative"])
    return apply_validity(hs.signals.Signal1D(shared).as_lazy(), v), v


def test_compute_validity_one_pass_and_compute_keeps_it():
    from hyperspy_perovskite.validity import compute_validity

    calls = []
    s, _ = _lazy_result(calls)
    assert Validity.from_metadata(s.metadata).lazy
    compute_validity(s, show_progressbar=False)
    assert calls == [1], "data and mask must share one evaluation of the graph"
    assert not s._lazy
    v = Validity.from_metadata(s.metadata)
    assert not v.lazy and v.mask.tolist() == [True, False, True, True]
    assert np.isnan(s.data[1]) and s.data[3] == 6.0
    # HyperSpy's own compute() keeps the lazy mask, still right when read
    s2, _ = _lazy_result([])
    s2.compute()
    assert Validity.from_metadata(s2.metadata).compute().explain(1) == ["negative"]


@pytest.mark.parametrize("ext", ["hspy", "zspy"])
@pytest.mark.parametrize("lazy_load", [False, True])
def test_lazy_validity_survives_save_load(tmp_path, ext, lazy_load):
    s, v = _lazy_result([])
    s.save(tmp_path / f"m.{ext}")
    back = hs.load(tmp_path / f"m.{ext}", lazy=lazy_load)
    got = Validity.from_metadata(back.metadata)
    assert got.lazy is lazy_load
    got = got.compute()
    np.testing.assert_array_equal(got.mask, [True, False, True, True])
    assert got.explain(1) == ["negative"] and got.reason_names == v.reason_names


def test_apply_lazy_validity_to_eager_signal_stays_eager():
    _, v = _lazy_result([])
    out = apply_validity(hs.signals.Signal1D(np.ones(4)), v)
    assert not out._lazy and isinstance(out.data, np.ndarray)
    assert isinstance(out.metadata.Validity.mask, np.ndarray)
    assert np.isnan(out.data[1])
