"""Compiled whole-map starting values against the numpy reference."""

import numpy as np
import pytest

from hyperspy_perovskite.analysis import cl_emission as ce
from hyperspy_perovskite.analysis.cl_start_values import (
    _integer_powers,
    starting_values_map,
)

SQRT2PI = np.sqrt(2 * np.pi)


@pytest.fixture(scope="module")
def spectra():
    """Poisson spectra of two bands and an exponential tail (energy axis),
    with a NaN channel, a dark spectrum and a spike."""
    rng = np.random.default_rng(7)
    x = np.linspace(1.45, 1.95, 512)
    n = 40
    c = rng.uniform(1.72, 1.76, n)[:, None]
    s = rng.uniform(0.02, 0.035, n)[:, None]
    mu = 800 * np.exp(-0.5 * ((x - c) / s) ** 2)
    mu += 150 * np.exp(-0.5 * ((x - c + 0.1) / s) ** 2)
    mu += 200 * np.where(x < c - 0.02, np.exp((x - c + 0.02) / 0.025), 0.0) + 3.0
    y = rng.poisson(mu).astype(float)
    y[1, 10], y[3, 200] = np.nan, 5e4
    y[4] = 0.0
    return x, y


@pytest.mark.parametrize(
    "kw",
    [
        dict(baseline="offset", n_peaks=2, tail=True, variant=0),
        dict(baseline="offset", n_peaks=2, tail=True, variant=1),
        dict(baseline="linear", n_peaks=1, tail=False, variant=0),
        dict(baseline="none", n_peaks=2, tail=False, variant=0),
        dict(baseline="offset", n_peaks=1, tail=True, variant=0),
    ],
)
def test_compiled_equals_numpy_reference(spectra, kw):
    x, y = spectra
    ref = ce._starting_np(y, x=x, binned_width=0.5, **kw)
    got = ce.emission_starting_values(x, y, binned_width=0.5, **kw)
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12)


def test_tail_candidates_without_integer_base(spectra):
    """Urbach energies that are not base / integer: one exp per candidate,
    the same answer as the numpy reference."""
    x, y = spectra
    cands = (0.007, 0.0191, 0.033)
    assert _integer_powers(cands)[1] == 0.0
    assert _integer_powers(ce.EU_CANDIDATES)[1] == pytest.approx(0.24)
    sv = starting_values_map(x, y, "offset", 2, True, 0, 1.0, 9, cands)
    resid = y.copy()
    resid = np.nan_to_num(resid, nan=0.0, posinf=0.0, neginf=0.0)
    resid -= sv[:, 4:5] + sv[:, 5:6] * x
    resid -= sv[:, 2:3] * np.exp(-0.5 * ((x - sv[:, 0:1]) / sv[:, 1:2]) ** 2)
    h2 = sv[:, 8] / (sv[:, 7] * SQRT2PI)
    resid -= h2[:, None] * np.exp(-0.5 * ((x - sv[:, 6:7]) / sv[:, 7:8]) ** 2)
    a, eu = ce.estimate_tail_on_residual(x, resid, sv[:, 0], candidates=cands)
    np.testing.assert_allclose(sv[:, 10], eu)
    np.testing.assert_allclose(sv[:, 9], np.maximum(a, 0.01 * sv[:, 2]), rtol=1e-9)


def test_lazy_equals_eager(spectra):
    da = pytest.importorskip("dask.array")
    x, y = spectra
    kw = dict(baseline="offset", n_peaks=2, tail=True)
    eager = ce.emission_starting_values(x, y, **kw)
    lazy = ce.emission_starting_values(x, da.from_array(y, chunks=(16, 256)), **kw)
    np.testing.assert_array_equal(lazy, eager)


def test_infinite_channel_read_as_zero(spectra):
    """An inf channel counts as zero everywhere (the numpy reference turned
    it into 1.8e308 in the residual and gave a NaN second band)."""
    x, y = spectra
    y = y[:3].copy()
    clean = ce.emission_starting_values(x, y, n_peaks=2, tail=True)
    y[:, 20] = np.inf
    bad = ce.emission_starting_values(x, y, n_peaks=2, tail=True)
    assert np.all(np.isfinite(bad))
    np.testing.assert_allclose(bad[:, [0, 1, 6, 7]], clean[:, [0, 1, 6, 7]], rtol=0.02)


@pytest.mark.parametrize("width, max_width", [(7, 2), (5, 1)])
def test_compiled_spike_screen_equals_numpy(width, max_width):
    from hyperspy_perovskite.analysis import cl_checks

    rng = np.random.default_rng(3)
    x = np.arange(300.0)
    y = rng.poisson(5 + 800 * np.exp(-0.5 * ((x - 150) / 20) ** 2), (60, 300))
    y = y.astype(float)
    y[rng.integers(0, 60, 80), rng.integers(0, 300, 80)] += rng.uniform(1e2, 5e3, 80)
    y[5, 100:102] += 3000  # a two-channel spike
    y[6, 200:203] += 3000  # three channels: a line, kept
    y[7, [0, 299]] += 4000  # at the edges
    y[9] = 0.0
    ref = cl_checks._spikes_np(y, 8.0, width, max_width, compiled=False)
    got = cl_checks._spikes_np(y, 8.0, width, max_width)
    np.testing.assert_array_equal(got[0], ref[0])
    np.testing.assert_array_equal(got[1], ref[1])
    assert got[0][5, 100:102].all() == (max_width == 2) and not got[0][6].any()


def test_threaded_blocks_equal_one_pass(spectra, monkeypatch):
    """Blocks of spectra on threads give the one-pass values exactly."""
    from hyperspy_perovskite import _threads

    x, y = spectra
    args = (x, y, "offset", 2, True, 0, 1.0, 9, ce.EU_CANDIDATES)
    one = starting_values_map(*args)
    monkeypatch.setattr(_threads, "MIN_ROWS", 3)  # many small blocks
    np.testing.assert_array_equal(starting_values_map(*args), one)


@pytest.mark.parametrize("variant", [0, 1])
def test_pixels_equal_the_selected_spectra(spectra, monkeypatch, variant):
    """``pixels=`` gives the values of ``y[pixels]`` exactly (no copy of the
    map made), in small blocks on threads too; dask data as numpy."""
    import dask.array as da

    from hyperspy_perovskite import _threads

    x, y = spectra
    cube = y.reshape(4, 10, -1)
    pixels = np.zeros((4, 10), bool)
    pixels[[0, 1, 3], [2, 5, 9]] = True
    pixels[2, :7] = True
    kw = dict(n_peaks=2, tail=True, variant=variant)
    ref = ce.emission_starting_values(x, cube[pixels], **kw)
    monkeypatch.setattr(_threads, "MIN_ROWS", 2)  # several blocks
    got = ce.emission_starting_values(x, cube, pixels=pixels, block=3, **kw)
    assert got.shape == (pixels.sum(), ref.shape[-1])
    np.testing.assert_array_equal(got, ref)
    lazy = da.from_array(cube, chunks=(2, 5, -1))
    np.testing.assert_array_equal(
        ce.emission_starting_values(x, lazy, pixels=pixels, **kw), ref
    )
    strided = np.asfortranarray(cube)  # any strides: copied block by block
    np.testing.assert_array_equal(
        ce.emission_starting_values(x, strided, pixels=pixels, **kw), ref
    )


def test_helpers_compile_once(spectra):
    """Each compiled helper has one signature: a literal argument (``0``)
    would compile it a second time on a fresh install (numba specialises
    on literals), for the same machine code. A fresh copy of the pixel
    function compiles its helpers (the map function may come from the
    disk cache)."""
    from numba import njit

    from hyperspy_perovskite.analysis import cl_start_values as sv

    x, y = spectra
    pixel = njit(sv._pixel.py_func)
    powers, base = sv._integer_powers(np.array([0.02, 0.04]))
    tails = (powers, base, *sv.tail_work(2, x.size))
    for code in (0, 1, 2):
        pixel(
            y[0], x, code, 2, True, 0, 1.0, float(x[1] - x[0]), 5,
            np.array([0.02, 0.04]), tails, np.zeros(11), np.empty((4, x.size)),
        )  # fmt: skip
    sigs = sv._copy.signatures
    assert sigs and all("Literal" not in str(sig) for sig in sigs), sigs
