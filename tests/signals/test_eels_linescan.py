"""EELS line scans across CsPbI3/glass: edge profiles and diffusion lengths."""

import numpy as np
import pytest
from hyperspy.signals import Signal1D

from hyperspy_perovskite.analysis.eels_edges import edge_intensity
from hyperspy_perovskite.data.eels_simulation import simulate_eels_linescan
from hyperspy_perovskite.signals.eels_linescan import (
    edge_onset,
    get_edge_profiles,
)
from hyperspy_perovskite.signals.migration_fit import fit_migration_profile


def test_edge_intensity_variance_matches_scatter():
    """Poisson + background-extrapolation variance == scatter over repeats."""
    rng = np.random.default_rng(0)
    e = np.arange(500.0, 800.0, 0.5)
    mean = 3e11 * e**-3.2 + np.where(e >= 620, 40.0 * (e / 620) ** -2.5, 0.0)
    counts = rng.poisson(mean, size=(2000, e.size)).astype(float)
    i, v = edge_intensity(e, counts, 620.0, 50.0, (560.0, 615.0))
    true = (
        np.where(e >= 620, 40.0 * (e / 620) ** -2.5, 0.0)[(e >= 620) & (e < 670)]
    ).sum()
    z = (i - true) / np.sqrt(v)
    assert abs(z.mean()) < 0.15 and 0.85 < z.std() < 1.15, (z.mean(), z.std())


def test_profiles_axis_reference_and_errors():
    s, truth = simulate_eels_linescan(seed=0)
    p = get_edge_profiles(s, ["I_M45", "Cs_M45", "Zn_L23"], reference="CsPbI3/glass")
    ax = p[0].axes_manager.signal_axes[0]
    np.testing.assert_allclose(ax.axis, truth["positions"])
    assert p[2].data[-10:].mean() > 5 * abs(p[2].data[:10].mean())  # Zn in glass
    lz = get_edge_profiles(s.as_lazy(), ["I_M45"], reference="CsPbI3/glass")
    assert lz[0]._lazy
    lz[0].compute()
    np.testing.assert_allclose(lz[0].data, p[0].data)
    with pytest.raises(ValueError, match="exSpy's database"):
        edge_onset("I_Q9")
    with pytest.raises(KeyError, match="No interface"):
        get_edge_profiles(s, ["I_M45"], reference="nope")
    with pytest.raises(TypeError, match="EELSSpectrum"):
        get_edge_profiles(p[0], ["I_M45"])


def test_diffusion_lengths_recovered_over_seeds():
    """I ~10 nm into the glass, Cs within ~1 nm (Li et al. 2023), with a
    0.85 nm probe: pulls of the diffusion length over seeds."""
    profiles = {"I": [], "Cs": []}
    for seed in range(12):
        s, truth = simulate_eels_linescan(seed=seed)
        p = get_edge_profiles(s, ["I_M45", "Cs_M45"], reference="CsPbI3/glass")
        profiles["I"].append(p[0])
        profiles["Cs"].append(p[1])
    res, limits = {}, []
    for el, profs in profiles.items():  # all seeds in one fit per element
        data = np.stack([q.data for q in profs])
        var = np.stack(
            [q.metadata.Signal.Noise_properties.variance.data for q in profs]
        )
        ax = profs[0].axes_manager.signal_axes[0].get_axis_dictionary()
        stacked = Signal1D(data, axes=[{"size": data.shape[0], "navigate": True}, ax])
        stacked.metadata.set_item(
            "Signal.Noise_properties.variance", stacked._deepcopy_with_new_data(var)
        )
        f = fit_migration_profile(
            stacked,
            "interdiffusion",
            resolution=truth["probe_sigma"],
            poisson=False,
            time=3600.0,
        )
        res[el] = np.stack([f["length"].value, f["length"].std], axis=-1)
        if el == "Cs":  # not significant: the 95 % upper limit is the result
            limits = f["length_upper_limit"].value[~f.validity.mask]
    a = res["I"]
    z = (a[:, 0] - 10.0) / a[:, 1]
    assert abs(z.mean()) < 0.6 and 0.6 < z.std() < 1.5, (z.mean(), z.std())
    b = res["Cs"]
    ok = b[:, 0] > 0.05  # not at the bound 0 (a length below the blur)
    assert ok.sum() >= 8
    zc = (b[ok, 0] - 1.0) / b[ok, 1]
    assert abs(zc.mean()) < 0.6 and zc.std() < 1.5, (zc.mean(), zc.std())
    assert np.median(b[:, 0]) < 2.0 < np.median(a[:, 0])
    # Cs lengths below the blur: upper limits that cover the truth (1 nm)
    # and say "within ~2 nm"
    limits = np.array(limits)
    assert limits.size >= 4
    assert np.mean(limits >= 1.0) >= 0.85 and np.median(limits) < 2.5, limits
