"""Array geometry of device cross-sections."""

import dask.array as da
import numpy as np
import pytest

from hyperspy_perovskite.analysis import device_geometry as geo


def test_layering_contrast_refuses_noise_and_finds_tilted_layers():
    rng = np.random.default_rng(1)
    y, x = np.mgrid[0:64, 0:64].astype(float) * 5.0
    flat = rng.poisson(30.0, (2, 64, 64)).astype(float)
    var = np.maximum(flat, 1.0)
    for u in ((1, 0), (0, 1), (0.6, 0.8)):
        assert geo.layering_contrast(flat, x, y, u, var) == 0.0
    # noisy stripes tilted by 12 degrees, low counts
    t = np.radians(12.0)
    s = x * np.cos(t) + y * np.sin(t)
    lam = np.stack([np.where(s < 120, 4.0, 1.0), np.where(s > 200, 3.0, 0.5)])
    maps = rng.poisson(lam).astype(float)
    u = geo.refine_stack_direction(maps, x, y, np.maximum(maps, 1.0))
    assert abs(np.degrees(np.arctan2(u[1], u[0])) - 12.0) < 3.0
    assert geo.layering_contrast(maps, x, y, u, np.maximum(maps, 1.0)) > 0.8
    pos = np.arange(0.0, 320.0, 5.0) + 2.5
    bins = np.floor(s / 5.0).astype(int)
    prof = np.stack([np.bincount(bins.ravel(), m.ravel())[:64] for m in maps])
    n = np.bincount(bins.ravel())[:64]
    got, z = geo.find_interfaces(
        prof / n, pos, 2, variance=np.maximum(prof, 1) / n**2, return_significance=True
    )
    np.testing.assert_allclose(got, [120.0, 200.0], atol=7.5)
    assert np.all(z > 5)
    with pytest.raises(ValueError, match="composition changes"):
        geo.find_interfaces(prof / n, pos, 5, variance=np.maximum(prof, 1) / n**2)


def test_stack_coordinates_rotated_line():
    ang = np.deg2rad(30)
    u = np.array([np.cos(ang), np.sin(ang)])
    p = np.array([2.0, 1.0]) + 5.0 * u + 2.0 * np.array([-u[1], u[0]])
    s, t = geo.stack_coordinates(p[0], p[1], (2.0, 1.0), (2.0, 1.0) + 10 * u)
    assert s == pytest.approx(5.0) and t == pytest.approx(2.0)
    with pytest.raises(ValueError, match="coincide"):
        geo.stack_coordinates(0, 0, (1, 1), (1, 1))


def test_band_bin_index_counts_and_errors():
    y, x = np.mgrid[0:10, 0:20] + 0.5
    idx, centres, n = geo.band_bin_index(x, y, (0, 5), (20, 5), 4.0, 2.0)
    assert centres.size == 10 and np.all(n == 8)  # 4 rows x 2 columns
    assert np.all(idx[[0, 1, 2, 7, 8, 9]] == -1)
    with pytest.raises(ValueError, match="no pixel"):
        geo.band_bin_index(x, y, (0, 5.0), (20, 5.0), 0.5, 1.0)
    with pytest.raises(ValueError, match="contain no pixel"):
        geo.band_bin_index(x, y, (0, 5.5), (20, 5.5), 0.5, 0.3)
    with pytest.raises(ValueError, match="positive"):
        geo.band_bin_index(x, y, (0, 5), (20, 5), -1, 1.0)
    with pytest.raises(ValueError, match="bin_size"):
        geo.band_bin_index(x, y, (0, 5), (20, 5), 1, 0)


@pytest.mark.parametrize("lazy", [False, True])
def test_project_to_stack_matches_bincount(lazy):
    rng = np.random.default_rng(0)
    data = rng.poisson(5.0, (3, 12, 16, 7)).astype(float)
    y, x = np.mgrid[0:12, 0:16] + 0.5
    idx, centres, _ = geo.band_bin_index(x, y, (0.0, 0.0), (16.0, 12.0), 6.0, 1.5)
    ref = np.zeros((3, centres.size, 7))
    for b in range(centres.size):
        ref[:, b] = data[:, idx == b].sum(axis=1)
    arr = da.from_array(data, chunks=(2, 5, 7, 7)) if lazy else data
    out = geo.project_to_stack(arr, idx, centres.size)
    assert isinstance(out, da.Array) == lazy
    np.testing.assert_allclose(np.asarray(out), ref)
    with pytest.raises(ValueError, match="does not match"):
        geo.project_to_stack(data, idx[:-1], centres.size)


def test_direction_line_and_interfaces_of_tilted_stripes():
    ang = np.deg2rad(20)
    y, x = np.mgrid[0:64, 0:64] + 0.5
    s = x * np.cos(ang) + y * np.sin(ang)
    maps = np.stack([(s < 30).astype(float), ((s >= 30) & (s < 50)).astype(float)])
    u, aniso = geo.find_stack_direction(maps)
    assert aniso > 0.9
    assert abs(abs(u @ [np.cos(ang), np.sin(ang)]) - 1) < 0.01
    p0, p1 = geo.line_across_map(u, x, y)
    idx, centres, n = geo.band_bin_index(x, y, p0, p1, 20.0, 1.0)
    prof = np.stack([np.bincount(idx[idx >= 0], weights=m[idx >= 0]) / n for m in maps])
    pos = geo.find_interfaces(prof, centres, 2)
    s0 = p0 @ [np.cos(ang), np.sin(ang)]
    np.testing.assert_allclose(pos + s0, [30.0, 50.0], atol=1.0)
    with pytest.raises(ValueError, match="uniform"):
        geo.find_stack_direction(np.ones((8, 8)))
    with pytest.raises(ValueError, match="composition changes"):
        geo.find_interfaces(prof, centres, 5)


@pytest.mark.parametrize("lazy", [False, True])
def test_project_to_stack_selected_channels(lazy):
    rng = np.random.default_rng(1)
    data = rng.poisson(3.0, (2, 12, 16, 40)).astype(np.uint16)
    y, x = np.mgrid[0:12, 0:16] + 0.5
    idx, centres, _ = geo.band_bin_index(x, y, (0.0, 6.0), (16.0, 6.0), 6.0, 2.0)
    ch = np.array([1, 5, 6, 7, 30, 39])
    full = geo.project_to_stack(data, idx, centres.size)
    if lazy:
        # energy axis chunked too: only the chunks holding the channels matter
        for chunks in ((1, 5, 7, -1), (2, 4, 16, 10)):
            arr = da.from_array(data, chunks=chunks)
            out = geo.project_to_stack(arr, idx, centres.size, channels=ch)
            assert isinstance(out, da.Array) and out.dtype == np.float64
            np.testing.assert_array_equal(out.compute(), full[..., ch])
    else:
        out = geo.project_to_stack(data, idx, centres.size, channels=ch)
        np.testing.assert_array_equal(out, full[..., ch])
        # whole counts, summed exactly
        assert np.all(out == np.round(out)) and out.sum() > 0
    for bad in ([], [-1], [40]):
        with pytest.raises(ValueError, match="channels"):
            geo.project_to_stack(data, idx, centres.size, channels=bad)


def test_project_to_stack_eager_row_blocks(monkeypatch):
    # an in-memory array is cut into row blocks: same sums as one block
    rng = np.random.default_rng(2)
    data = rng.poisson(2.0, (20, 9, 30)).astype(np.uint16)
    y, x = np.mgrid[0:20, 0:9] + 0.5
    idx, centres, _ = geo.band_bin_index(x, y, (4.5, 0.0), (4.5, 20.0), 5.0, 2.0)
    ref = np.stack([data[idx == b].sum(axis=0) for b in range(centres.size)])
    monkeypatch.setattr(geo, "EAGER_BLOCK_BYTES", 9 * 30 * 2 * 3)  # 3 rows
    np.testing.assert_array_equal(geo.project_to_stack(data, idx, centres.size), ref)


def _peak_mb(compute):
    import tracemalloc

    import dask

    tracemalloc.start()
    try:
        with dask.config.set(scheduler="threads", num_workers=2):
            out = compute()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return out, peak / 2**20


def test_project_to_stack_memory_bounded_by_chunks_not_their_number():
    # Lazily generated maps, never held whole: 144 and 576 chunks of the
    # same size, 32 bins each (as float64 the data would take 18 / 72 MB,
    # the partial sums of all chunks 3.7 / 15 MB). dask's own bookkeeping
    # grows with the number of tasks, so the projection is compared with a
    # plain dask reduction of the same array: what it adds must stay at a
    # few chunks and partials (< 4 MB), whatever the number of chunks.
    ne, c = 256, 8
    channels = np.arange(60, 160)
    extra = []
    for n in (32, 96, 192):  # the first one warms up (imports, caches)
        arr = da.random.default_rng(3).integers(
            0, 3, size=(n, n, ne), chunks=(c, c, ne), dtype=np.uint16
        )
        y, x = np.mgrid[0:n, 0:n] + 0.5
        idx, centres, npix = geo.band_bin_index(
            x, y, (0, n / 2), (n, n / 2), n / 2, n / 32
        )
        _, base = _peak_mb(lambda a=arr: a.sum(axis=(0, 1)).compute())
        out, peak = _peak_mb(
            lambda a=arr, i=idx, k=centres.size: geo.project_to_stack(
                a, i, k, channels=channels
            ).compute()
        )
        assert out.shape == (32, channels.size)
        # uniform counts 0..2 (mean 1): each bin sum is close to its pixels
        np.testing.assert_allclose(out.mean(axis=1), npix, rtol=0.05)
        extra.append(peak - base)
    assert max(extra[1:]) < 4.0, extra
