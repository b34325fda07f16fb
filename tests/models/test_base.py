"""PerovskiteModel1D keeps flags, chi-squared and validity through save/restore.

Truth: Gaussian bands on a flat background, Poisson counts simulated here with
the true expected counts as the noise variance; two pixels are made unusable
(an empty spectrum and one with a NaN channel).
"""

import hyperspy.api as hs
import numpy as np
import pytest

from hyperspy_perovskite.fitting import fast_multifit
from hyperspy_perovskite.fitting import flags as F
from hyperspy_perovskite.models import EmissionModel, PerovskiteModel1D

SHAPE = (8, 10)
EMPTY, NAN = (0, 0), (3, 4)


def _map(seed=1):
    rng = np.random.default_rng(seed)
    x = np.linspace(600.0, 800.0, 201)  # nm
    centre = rng.uniform(690.0, 710.0, SHAPE)
    sigma = rng.uniform(9.0, 12.0, SHAPE)
    area = 4000.0 * 2.5 * sigma
    expected = (
        area[..., None]
        / (sigma[..., None] * np.sqrt(2 * np.pi))
        * np.exp(-0.5 * ((x - centre[..., None]) / sigma[..., None]) ** 2)
        + 30.0
    )
    counts = rng.poisson(expected).astype(float)
    counts[EMPTY] = 0.0
    counts[NAN][50] = np.nan
    s = hs.signals.Signal1D(counts)
    ax = s.axes_manager[-1]
    ax.offset, ax.scale, ax.units, ax.name = x[0], x[1] - x[0], "nm", "Wavelength"
    var = expected.copy()
    var[EMPTY] = 1.0
    s.set_noise_variance(hs.signals.Signal1D(var))
    return s, {"centre": centre, "sigma": sigma, "A": area}


def _fitted(cls=PerovskiteModel1D):
    s, truth = _map()
    m = cls(s)
    m.extend(
        [
            hs.model.components1D.Gaussian(A=9e4, sigma=10.0, centre=700.0),
            hs.model.components1D.Offset(offset=20.0),
        ]
    )
    fast_multifit(m, show_progressbar=False)
    return s, m, truth


def test_flags_validity_and_reduced_chisq_after_fast_fit():
    s, m, truth = _fitted()
    flags = m.fit_flags.data
    assert flags[EMPTY] == F.EMPTY and flags[NAN] == F.NOT_FINITE_DATA
    good = np.ones(SHAPE, bool)
    good[EMPTY] = good[NAN] = False
    assert np.all(flags[good] == F.CONVERGED)
    v = m.validity
    assert not v.mask[EMPTY] and not v.mask[NAN]
    assert v.mask[good].mean() > 0.95
    red = m.reduced_chisq.data
    assert np.isnan(red[EMPTY]) or not v.mask[EMPTY]
    # true variance: the reduced chi-squared is ~ 1 (std sqrt(2/197) ~ 0.1)
    assert abs(np.median(red[good]) - 1.0) < 0.1
    # pulls of the centre against the truth (calibrated errors)
    c = m[0].centre.map
    pulls = ((c["values"] - truth["centre"]) / c["std"])[good]
    assert abs(pulls.mean()) < 0.35 and 0.7 < pulls.std() < 1.3


def test_as_signal_with_unconverged_pixels():
    s, m, truth = _fitted()
    model = m.as_signal(show_progressbar=False)
    assert np.isnan(model.data[EMPTY]).all() and np.isnan(model.data[NAN]).all()
    ok = np.isfinite(model.data).all(axis=-1)
    assert ok.sum() == SHAPE[0] * SHAPE[1] - 2
    # the model where set equals HyperSpy's evaluation of the fitted maps
    x = s.axes_manager[-1].axis
    g = m[0]
    i = (5, 6)
    ref = (
        g.A.map["values"][i]
        / (g.sigma.map["values"][i] * np.sqrt(2 * np.pi))
        * np.exp(
            -0.5 * ((x - g.centre.map["values"][i]) / g.sigma.map["values"][i]) ** 2
        )
        + m[1].offset.map["values"][i]
    )
    np.testing.assert_allclose(model.data[i], ref, rtol=1e-10)
    # the maps are untouched by as_signal
    assert not m[0].A.map["is_set"][EMPTY]


def test_parameter_map_is_nan_outside_validity():
    s, m, truth = _fitted()
    centre = m.parameter_map("Gaussian", "centre")
    assert np.isnan(centre.data[EMPTY]) and np.isnan(centre.data[NAN])
    raw = m.parameter_map("Gaussian", "centre", keep_invalid=True)
    assert np.isnan(raw.data[EMPTY])  # rejected input: the engine wrote NaN
    assert centre.metadata.has_item("Validity.mask")
    with pytest.raises(ValueError, match="not a parameter"):
        m.parameter_map("Gaussian", "width")


def _same(m1, m2):
    np.testing.assert_array_equal(m1.fit_flags.data, m2.fit_flags.data)
    v1, v2 = m1.validity, m2.validity
    np.testing.assert_array_equal(v1.mask, v2.mask)
    np.testing.assert_array_equal(v1.reasons, v2.reasons)
    assert v1.reason_names == v2.reason_names
    np.testing.assert_array_equal(m1.chisq.data, m2.chisq.data)
    np.testing.assert_array_equal(m1.reduced_chisq.data, m2.reduced_chisq.data)
    np.testing.assert_array_equal(
        m1[0].centre.map["values"], m2[0].centre.map["values"]
    )


def test_store_and_restore():
    s, m, _ = _fitted()
    m.store("fit")
    restored = PerovskiteModel1D.restore(s, "fit")
    assert isinstance(restored, PerovskiteModel1D)
    _same(m, restored)
    # a generic signal restores a plain Model1D without error
    plain = s.models.restore("fit")
    assert plain.chisq.data.shape == SHAPE


@pytest.mark.parametrize("ext", ["hspy", "zspy"])
def test_save_and_load(tmp_path, ext):
    s, m, _ = _fitted(EmissionModel)
    m.save(tmp_path / f"fit.{ext}", name="fit")
    loaded = hs.load(tmp_path / f"fit.{ext}")
    restored = EmissionModel.restore(loaded, "fit")
    _same(m, restored)
    as_sig = restored.as_signal(show_progressbar=False)
    assert np.isnan(as_sig.data[EMPTY]).all()


def test_validity_after_multifit_uses_set_parameters():
    s, _ = _map()
    small = s.inav[:3, :2]
    m = PerovskiteModel1D(small)
    m.extend(
        [
            hs.model.components1D.Gaussian(A=9e4, sigma=10.0, centre=700.0),
            hs.model.components1D.Offset(offset=20.0),
        ]
    )
    m.multifit(show_progressbar=False)
    assert np.all(m.fit_flags.data == F.NOT_FITTED)
    v = m.update_validity(ranges={"Gaussian.sigma": (5.0, 15.0)})
    assert v.mask.shape == (2, 3)
    assert not v.mask[EMPTY]  # the empty spectrum has no significant band
    with pytest.raises(KeyError, match="Component.parameter"):
        m.update_validity(ranges={"sigma": (5.0, 15.0)})


def test_emission_band_maps_recover_truth():
    s, m, truth = _fitted(EmissionModel)
    maps = m.band_maps()
    fwhm_true = 2 * np.sqrt(2 * np.log(2)) * truth["sigma"]
    good = np.isfinite(maps["fwhm"].data)
    assert good.sum() >= SHAPE[0] * SHAPE[1] - 4
    rel = (maps["fwhm"].data[good] - fwhm_true[good]) / fwhm_true[good]
    assert abs(np.median(rel)) < 0.01
    assert np.isnan(maps["height"].data[EMPTY])
    assert maps["centre"].metadata.Signal.quantity == "centre (nm)"


@pytest.mark.parametrize("cls", [PerovskiteModel1D, EmissionModel])
def test_slices_keep_class_flags_and_validity(cls):
    """``m.inav`` / ``m.isig`` give the domain model of the slice (HyperSpy's
    own slicer returns a plain Model1D), with its flags and validity."""
    s, m, _ = _fitted(cls)
    v, flags = m.validity, m.fit_flags.data
    sl = m.inav[3:6, 0:4]  # x 3..5, y 0..3 (numpy [0:4, 3:6]): holds NAN
    assert type(sl) is cls
    np.testing.assert_array_equal(sl.fit_flags.data, flags[0:4, 3:6])
    np.testing.assert_array_equal(sl.validity.mask, v.mask[0:4, 3:6])
    assert sl.validity.explain((3, 1)) == v.explain(NAN)  # NAN = (3, 4)
    np.testing.assert_array_equal(
        sl.parameter_map(0, "centre").data,
        m.parameter_map(0, "centre").data[0:4, 3:6],
    )
    one = m.inav[EMPTY[1], EMPTY[0]]
    assert type(one) is cls and not one.validity.mask.any()
    assert one.fit_flags.data.ravel()[0] == F.EMPTY
    band = m.isig[50:150]  # integers: the variance signal has no calibration
    assert type(band) is cls
    np.testing.assert_array_equal(band.validity.mask, v.mask)
    assert band.axes_manager.signal_shape[0] < m.axes_manager.signal_shape[0]
