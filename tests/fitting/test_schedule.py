"""Where fast_multifit's blocks are fitted: the blocks of the thread pool."""

import hyperspy.api as hs
import numpy as np
import pytest

from hyperspy_perovskite.data import simulated_emission_map
from hyperspy_perovskite.fitting import fast_multifit, flags
from hyperspy_perovskite.fitting._schedule import (
    LARGEST_SHARE,
    MIN_BLOCK_PIXELS,
    _balanced_blocks,
    _flat_views,
)


@pytest.mark.parametrize("n_threads", [1, 2, 8])
@pytest.mark.parametrize("chunk_pixels", [5, 64, 8192])
@pytest.mark.parametrize("fraction", [0.0, 0.03, 0.5, 1.0])
def test_blocks_cover_every_pixel_once_with_equal_work(
    n_threads, chunk_pixels, fraction
):
    rng = np.random.default_rng(3)
    mask = rng.random(5000) >= fraction  # True: not fitted
    blocks = _balanced_blocks(mask, n_threads, chunk_pixels)
    edges = [b.start for b in blocks] + [blocks[-1].stop]
    assert edges[0] == 0 and edges[-1] == mask.size
    assert all(b.step is None for b in blocks)
    assert np.all(np.diff(edges) > 0)  # consecutive, no gap, no overlap
    todo = np.array([np.count_nonzero(~mask[b]) for b in blocks])
    total = np.count_nonzero(~mask)
    assert todo.sum() == total
    if total:
        # guided: sizes never grow, none above the largest share or
        # chunk_pixels, none but the last below the smallest block
        assert np.all(np.diff(todo) <= 0)
        largest = max(MIN_BLOCK_PIXELS, -(-total // (LARGEST_SHARE * n_threads)))
        assert todo[0] <= min(chunk_pixels, largest)
        assert np.all(todo[:-1] >= min(MIN_BLOCK_PIXELS, chunk_pixels))
        assert todo[-1] > 0


def test_scattered_pixels_are_shared_among_blocks():
    """A pass over a few pixels of one corner is not one block (rows would
    give the whole corner to one thread)."""
    mask = np.ones((128, 128), bool)
    mask[:8, :] = False  # 1024 pixels to fit, all in the first 8 rows
    blocks = _balanced_blocks(mask.ravel(), 2, 8192)
    sizes = [np.count_nonzero(~mask.ravel()[b]) for b in blocks]
    assert len(blocks) > 2 * LARGEST_SHARE and max(sizes) <= 1024 // 16


def test_flat_views_are_views_or_none():
    data = np.zeros((6, 4, 10))
    var = np.ones_like(data)
    P0 = np.zeros((24, 3))
    flat = _flat_views(data, var, P0, np.zeros((6, 4), bool), 24)
    assert flat[0].shape == (24, 10) and np.shares_memory(flat[0], data)
    assert np.shares_memory(flat[1], var)
    assert _flat_views(data[:, :2], None, P0[:12], np.zeros((6, 2), bool), 12) is None


def _fit(data, mask, **kwargs):
    s = hs.signals.Signal1D(data)
    s.metadata.set_item(
        "Signal.Noise_properties.variance", hs.signals.Signal1D(1.0 + np.abs(data))
    )
    m = s.create_model()
    g = hs.model.components1D.Gaussian()
    m.extend([g, hs.model.components1D.Offset()])
    result = fast_multifit(m, mask=mask, starting_values="estimate", **kwargs)
    return result, np.stack([g.centre.map["values"], g.centre.map["std"]])


def test_scattered_mask_same_fits_on_every_schedule():
    """The same numbers from the balanced blocks, from blocks of rows (data
    whose pixels are not in one memory order), from one thread and from
    dask's chunks (lazy data)."""
    s, _ = simulated_emission_map(shape=(16, 24), n_channels=128, seed=4)
    data = np.asarray(s.data, dtype=np.float64)[:, :20]  # rows not contiguous
    assert _flat_views(data, None, np.zeros((320, 1)), np.zeros((16, 20)), 320) is None
    rng = np.random.default_rng(0)
    mask = rng.random(data.shape[:-1]) > 0.3
    runs = [
        _fit(data, mask),  # blocks of rows
        _fit(np.ascontiguousarray(data), mask),  # balanced blocks
        _fit(np.ascontiguousarray(data), mask, num_workers=1),
        _fit(np.ascontiguousarray(data), mask, chunk_pixels=7),
    ]
    lazy = hs.signals.Signal1D(np.ascontiguousarray(data)).as_lazy()
    lazy.metadata.set_item(
        "Signal.Noise_properties.variance", hs.signals.Signal1D(1.0 + np.abs(data))
    )
    m = lazy.create_model()
    g = hs.model.components1D.Gaussian()
    m.extend([g, hs.model.components1D.Offset()])
    fast_multifit(m, mask=mask, starting_values="estimate")
    lazy_maps = np.stack([g.centre.map["values"], g.centre.map["std"]])
    result0, maps0 = runs[0]
    assert (result0.convergence.data[mask] == flags.MASKED).all()
    assert (result0.convergence.data[~mask] == flags.CONVERGED).all()
    for result, maps in runs[1:]:
        np.testing.assert_array_equal(maps, maps0)
        np.testing.assert_array_equal(result.iterations.data, result0.iterations.data)
    np.testing.assert_allclose(lazy_maps, maps0, rtol=1e-12)


@pytest.mark.parametrize("old_numpy", [False, True])
def test_view_as_views_or_none_on_any_numpy(monkeypatch, old_numpy):
    """A view where the shape allows one, else None (never a copy), also
    where ``np.reshape`` has no ``copy`` keyword (NumPy < 2.1)."""
    from hyperspy_perovskite.fitting._schedule import view_as

    if old_numpy:
        reshape = np.reshape

        def no_copy_keyword(a, shape, **kwargs):
            if "copy" in kwargs:
                raise TypeError("reshape() got an unexpected keyword argument 'copy'")
            return reshape(a, shape, **kwargs)

        monkeypatch.setattr(np, "reshape", no_copy_keyword)
    a = np.arange(24.0).reshape(4, 6)
    flat = view_as(a, (24,))
    assert flat is not None and np.shares_memory(flat, a)
    assert view_as(a[:, :3], (12,)) is None
    maps = np.zeros((3, 4), dtype=[("values", "f8"), ("std", "f8")])
    values = view_as(maps["values"], (-1,))
    values[[1, 5]] = 7.0  # written through the view into the map's field
    assert maps["values"][0, 1] == 7.0 and maps["values"][1, 1] == 7.0
