"""``counts_check`` tested in blocks gives what the whole sample gives."""

import numpy as np
import pytest

from hyperspy_perovskite.analysis import cl_checks


def _whole_sample(y, max_pixels=1024, seed=0):
    """The tests of ``counts_check`` on the whole sample at once (its code
    before session 17): the reference."""
    flat = y.reshape(-1, y.shape[-1])
    rng = np.random.default_rng(seed)
    n = flat.shape[0]
    take = np.sort(rng.choice(n, size=min(n, max_pixels), replace=False))
    sample = np.asarray(flat[take], dtype=float)
    sample = sample[np.all(np.isfinite(sample), axis=-1)]
    if sample.size == 0:
        return False, ["no finite spectrum"], np.nan
    reasons = []
    if np.any(sample < 0):
        frac = float(np.mean(sample < 0))
        reasons.append(
            f"{100 * frac:.2g} % negative values (background-subtracted data?)"
        )
    if np.max(np.abs(sample - np.round(sample))) > 1e-6:
        reasons.append("values are not integers (scaled data?)")
    dispersion = np.nan
    if sample.shape[-1] > 4 and np.all(sample >= 0):
        dispersion = cl_checks._dispersion(sample[:256], seed)
    if np.isfinite(dispersion) and not 0.5 <= dispersion <= 2.0:
        reasons.append(
            f"variance/mean = {dispersion:.3g} (Poisson counts give ~1: gain "
            "not 1, or smoothed data?)"
        )
    return not reasons, reasons, dispersion


def _maps():
    rng = np.random.default_rng(7)
    counts = rng.poisson(30.0, (40, 37, 64)).astype(float)
    nan_rows = counts.copy()
    nan_rows[rng.random((40, 37)) < 0.3, 5] = np.nan  # some in the first 256
    negative = counts - 3.0
    few = counts[:3, :5].copy()  # 15 spectra: fewer than a block
    few[1, 2, 0] = np.inf
    all_nan = np.full((4, 4, 10), np.nan)
    return {
        "counts": counts,
        "scaled": counts * 1.7,
        "smoothed": (counts[..., :-1] + counts[..., 1:]) / 2,
        "negative": negative,
        "nan rows": nan_rows,
        "integers": rng.poisson(5.0, (50, 50, 30)).astype(np.uint16),
        "few": few,
        "all nan": all_nan,
        "four channels": counts[..., :4],
    }


@pytest.mark.parametrize("name", list(_maps()))
def test_counts_check_equals_the_whole_sample(name):
    y = _maps()[name]
    ok, reasons, dispersion = cl_checks.counts_check(y)
    ref = _whole_sample(y)
    assert (ok, reasons) == ref[:2]
    np.testing.assert_array_equal(dispersion, ref[2])


def test_counts_check_lazy_equals_eager():
    import dask.array as da

    y = _maps()["nan rows"]
    lazy = cl_checks.counts_check(da.from_array(y, chunks=(7, 37, 64)))
    eager = cl_checks.counts_check(y)
    assert lazy[:2] == eager[:2]
    np.testing.assert_array_equal(lazy[2], eager[2])
