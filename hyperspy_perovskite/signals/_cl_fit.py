"""Building, starting and finishing the emission fit of CL/PL spectrum images.

The steps of ``fit_emission``, each a short function: prepare the signal the
fit runs on (units, direction, spikes, weights), build the model, fill the
starting values of every pixel, run the compiled engine (with a second start
for models that have local minima), then order two bands by photon energy and
unset the pixels that were not fitted.
"""

from __future__ import annotations

import warnings

import numpy as np

from hyperspy_perovskite.analysis.cl_checks import (
    counts_check,
    find_spikes,
    remove_spikes,
)
from hyperspy_perovskite.analysis.cl_emission import emission_starting_values
from hyperspy_perovskite.analysis.cl_maps import poisson_variance

BANDS = ("gaussian", "asymmetric", "lorentzian", "voigt")
TAILS = (False, True, "continuous", "step")
BACKGROUNDS = ("offset", "linear", "none", "energy_offset")
AXES = ("wavelength", "energy")
_SQRT2PI = float(np.sqrt(2.0 * np.pi))


class FitSettings:
    """The checked options of one ``fit_emission`` call."""

    def __init__(self, n_peaks, band, tail, background, axis):
        if isinstance(n_peaks, bool) or n_peaks not in (1, 2):
            raise ValueError(f"n_peaks must be 1 or 2, not {n_peaks!r}.")
        bands = (band,) * int(n_peaks) if isinstance(band, str) else tuple(band)
        if len(bands) != int(n_peaks) or any(b not in BANDS for b in bands):
            raise ValueError(
                f"band must be one of {BANDS}, or a tuple of one of them per band "
                f"(n_peaks={n_peaks}), not {band!r}."
            )
        if tail not in TAILS or (not isinstance(tail, (bool, str))):
            raise ValueError(
                f"tail must be False, True (= 'continuous') or 'step', not {tail!r}."
            )
        if background not in BACKGROUNDS:
            raise ValueError(
                f"background must be one of {BACKGROUNDS}, not {background!r}."
            )
        if axis not in AXES:
            raise ValueError(f"axis must be one of {AXES}, not {axis!r}.")
        tail = "continuous" if tail is True else tail
        if tail and axis != "energy":
            raise ValueError(
                "The Urbach tail is exponential in photon energy: use "
                "fit_emission(tail=True, axis='energy')."
            )
        if background == "energy_offset" and axis != "energy":
            raise ValueError(
                "background='energy_offset' is a constant on the energy axis; "
                "on the wavelength axis use background='offset'."
            )
        self.n_peaks, self.bands, self.tail = int(n_peaks), bands, tail
        self.background, self.axis = background, axis
        self.converted = False  # fitted on an energy axis converted by to_eV

    @property
    def multistart(self):
        return bool(self.tail) or self.n_peaks == 2 or "asymmetric" in self.bands


# ----------------------------------------------------------------- prepare
def prepare_signal(signal, settings, poisson, spikes):
    """The signal the fit runs on: spikes removed, weights, converted axis.

    ``signal`` is never modified: a copy is made when anything changes.
    """
    base = signal
    if spikes and (base._lazy or np.any(find_spikes(base.data))):
        # a copy only when there is something to remove (the model then
        # belongs to the copy, as for the energy axis)
        base = base._deepcopy_with_new_data(
            remove_spikes(base.data), copy_variance=True
        )
    if poisson:
        ok, reasons, _ = counts_check(signal.data)
        if not ok:
            warnings.warn(
                "poisson=True but the data do not look like photon counts: "
                + "; ".join(reasons)
                + ". The reported uncertainties assume Poisson noise and are "
                "then wrong; fit without poisson=True, or give the variance "
                "with s.set_noise_variance(...).",
                UserWarning,
                stacklevel=4,
            )
        if base is signal:
            base = base._deepcopy_with_new_data(base.data, copy_variance=False)
        var = poisson_variance(base.data)
        base.set_noise_variance(base._deepcopy_with_new_data(var, copy_variance=False))
    if base.data.dtype.kind == "f" and base.data.dtype.itemsize < 4:
        base = base._deepcopy_with_new_data(
            base.data.astype(np.float32), copy_variance=True
        )
    settings.converted = (
        settings.axis == "energy" and signal._spectral_kind()[1] == "wavelength"
    )
    s = base._fit_signal(settings.axis)
    if settings.converted and settings.background in ("linear", "energy_offset"):
        warnings.warn(
            f"background={settings.background!r} fits a "
            f"{'line' if settings.background == 'linear' else 'constant'} on "
            "the energy axis, but a background flat in the measured wavelengths "
            "(a detector dark level) is proportional to lambda^2 there after "
            "the Jacobian: use background='offset' (the default), which fits "
            "the dark level in wavelength space.",
            UserWarning,
            stacklevel=4,
        )
    return s


def fit_range(s, signal_range):
    """``(x1, x2)`` of the fit in the axis unit, checked."""
    ax = s.axes_manager.signal_axes[0]
    lo, hi = sorted((ax.low_value, ax.high_value))
    if signal_range is None:
        return lo, hi
    try:
        x1, x2 = (float(v) for v in signal_range)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"signal_range must be (start, end) in {ax.units}, got {signal_range!r}."
        ) from err
    if not (lo <= min(x1, x2) < max(x1, x2) <= hi):
        raise ValueError(
            f"signal_range {signal_range} must lie within the axis "
            f"({lo:.6g}-{hi:.6g} {ax.units}) and have start < end."
        )
    return min(x1, x2), max(x1, x2)


def check_mask(s, mask):
    if mask is None:
        return None
    mask = np.asarray(mask, dtype=bool)
    shape = s.axes_manager._navigation_shape_in_array
    if mask.shape != shape:
        raise ValueError(
            f"mask has shape {mask.shape}; it must have the navigation shape {shape}."
        )
    return mask


# ------------------------------------------------------------------- build
def _band(shape, name, tail_side):
    from hyperspy.api import model as hs_model

    from hyperspy_perovskite.components import (
        AsymmetricEmission,
        GaussianEmission,
        VoigtEmission,
    )

    if shape == "gaussian":
        c = GaussianEmission()
    elif shape == "asymmetric":
        c = AsymmetricEmission(tail_side=tail_side)
    elif shape == "voigt":
        c = VoigtEmission()
    else:
        c = hs_model.components1D.Lorentzian()
        c.A.bmin, c.gamma.bmin = 0.0, 1e-6
    c.name = name
    return c


def build_model(s, settings, x1, x2):
    """``s.create_model()`` with the bands, tail and background asked for."""
    from hyperspy.api import model as hs_model

    from hyperspy_perovskite.components import (
        ContinuousUrbachTail,
        UrbachTail,
        WavelengthOffset,
    )

    m = s.create_model()
    # an energy axis has its tail on the low-energy (lower x) side; a
    # wavelength axis on the long-wavelength (higher x) side
    side = -1 if settings.axis == "energy" else 1
    comps = [_band(settings.bands[0], "Emission", side)]
    if settings.n_peaks == 2:
        comps.append(_band(settings.bands[1], "Emission_2", side))
    if settings.tail:
        t = ContinuousUrbachTail() if settings.tail == "continuous" else UrbachTail()
        t.name = "Urbach"
        comps.append(t)
    bg = settings.background
    if bg == "offset":
        b = WavelengthOffset() if settings.converted else None
        b = b or hs_model.components1D.Offset()
    elif bg == "energy_offset":
        b = hs_model.components1D.Offset()
    elif bg == "linear":
        b = hs_model.components1D.Polynomial(order=1)
    if bg != "none":
        b.name = "Background"
        comps.append(b)
    m.extend(comps)
    m.set_signal_range(x1, x2)
    return m


def _width_parameter(c):
    return c.sigma if hasattr(c, "sigma") else c.gamma


# ---------------------------------------------------------- starting values
def _put(param, values):
    if param.map is None or param.map.shape != np.shape(values):
        param._create_array()
    param.map["values"][:] = values
    param.map["is_set"][:] = True


def _put_band(c, area, centre, sigma):
    _put(c.A, area)
    _put(c.centre, centre)
    if hasattr(c, "gamma") and hasattr(c, "sigma"):
        # Voigt: the measured FWHM shared equally by its Gaussian and
        # Lorentzian parts (FWHM_V = 1.6376 f for fG = fL = f, Olivero and
        # Longbothum 1977)
        f = sigma * 2.0 * np.sqrt(2.0 * np.log(2.0)) / 1.6376
        _put(c.sigma, f / (2.0 * np.sqrt(2.0 * np.log(2.0))))
        _put(c.gamma, 0.5 * f)
    elif hasattr(c, "gamma"):  # Lorentzian: half width at half maximum
        _put(c.gamma, sigma * np.sqrt(2.0 * np.log(2.0)))
    else:
        _put(c.sigma, sigma)
    if hasattr(c, "tau"):
        _put(c.tau, 0.5 * sigma)
        _put(c.s, np.full(np.shape(area), c.s.value))


def starting_values(m, s, settings, x1, x2, variant=0):
    """Fill every parameter map with vectorised robust estimates.

    ``variant=1`` is the second start of models with local minima: band
    width from both half-maximum crossings and the tail starting at Eu = 25
    meV (tens of meV for CsPbX3: ref. 33 of X. Li et al., Nat. Commun. 14,
    7612 (2023)).
    """
    ax = s.axes_manager.signal_axes[0]
    i1, i2 = ax.value_range_to_indices(x1, x2)
    x = np.asarray(ax.axis[i1 : i2 + 1], dtype=float)
    width = 1.0
    if ax.is_binned:
        width = ax.scale if ax.is_uniform else np.gradient(ax.axis)[i1 : i2 + 1].mean()
    bg = settings.background
    sv = emission_starting_values(
        x,
        s.data[..., i1 : i2 + 1],
        baseline="linear" if bg == "linear" else ("none" if bg == "none" else "offset"),
        n_peaks=settings.n_peaks,
        tail=bool(settings.tail),
        variant=variant,
        binned_width=width,
    )
    centre, sigma, height, area, a0, a1, c2, s2, A2, tA, eu = np.moveaxis(sv, -1, 0)
    _put_band(m["Emission"], area, centre, sigma)
    if settings.n_peaks == 2:
        _put_band(m["Emission_2"], A2, c2, s2)
    if settings.tail:
        _start_tail(m, settings, centre, sigma, tA, eu, (x[0], x[-1]))
    _start_background(m, bg, a0, a1, x)
    for c in m:
        c.fetch_stored_values()


def _start_tail(m, settings, centre, sigma, tA, eu, window):
    """Starting values of the tail; a continuous tail's edge and Urbach
    energy are bounded by what the fitted window can measure.

    ``E0`` within the window and ``Eu`` at most its width: an edge outside
    the measured range, or an exponential longer than the range, cannot be
    determined from the data (outside them the tail is a Gaussian of the
    band's width or a straight slope, and ``E0``, ``A`` and ``Eu`` run off
    together without changing the fit; they are judged not valid anyway,
    see :func:`~hyperspy_perovskite.signals._cl_statistics.emission_validity`).
    A pixel whose tail ends at such a bound keeps a valid band and an
    invalid tail.
    """
    t, g1 = m["Urbach"], m["Emission"]
    if settings.tail == "step":  # E0 tied to the band centre (rigid tail)
        t.E0.twin_function_expr = "x"
        t.E0.twin_inverse_function_expr = "x"
        t.E0.twin = g1.centre
    else:  # continuous tail: E0 free, broadened as the band
        t.sigma.twin_function_expr = "x"
        t.sigma.twin_inverse_function_expr = "x"
        t.sigma.twin = _width_parameter(g1)
        _put(t.sigma, sigma)
        tA = 2.0 * tA  # g(0) ~ 1/2 for a narrow broadening
        lo, hi = sorted(float(v) for v in window)
        t.E0.bmin, t.E0.bmax = lo, hi
        t.Eu.bmax = hi - lo
        centre = np.clip(centre, lo, hi)
        eu = np.minimum(eu, hi - lo)
    _put(t.A, tA)
    _put(t.E0, centre)
    _put(t.Eu, eu)


def _start_background(m, bg, a0, a1, x):
    if bg == "none":
        return
    b = m["Background"]
    if bg == "linear":
        _put(b.a0, a0)
        _put(b.a1, a1)
        return
    level = a0 + a1 * 0.5 * (x[0] + x[-1])
    if type(b).__name__ == "WavelengthOffset":
        # level seen at the middle of the window -> level in wavelength space
        from hyperspy_perovskite.components.emission_bands import (
            WAVELENGTH_OFFSET_CONSTANT,
        )

        xm = 0.5 * (x[0] + x[-1])
        level = level * xm**2 / WAVELENGTH_OFFSET_CONSTANT
    _put(b.offset, level)


# ------------------------------------------------------------------- run
#: A fit stops when its last step lowered chi-squared by less than
#: ``STEP_IN_STD ** 2`` in units of the noise variance (the fit's own
#: reduced chi-squared), i.e. when the step along its direction is below
#: 0.1 standard deviation of the parameters. Measured on bench_cl_fit's
#: scene (two bands + continuous tail, 256 pixels) against fits run to
#: ftol = 1e-11: parameter differences of 0.01 std (median) and 0.05 std
#: (90th percentile; 0.15 for the tail's weakly determined E0 and Eu), at
#: 16 instead of 240 iterations per pixel.
STEP_IN_STD = 0.1


def std_tolerance(m):
    """``ftol`` of the engine for a step of :data:`STEP_IN_STD` std.

    The engine stops when the relative decrease of chi-squared falls below
    ``ftol``; chi-squared is about ``dof`` times the noise variance, so a
    decrease of ``STEP_IN_STD ** 2`` variances is a relative decrease of
    ``STEP_IN_STD ** 2 / dof``.
    """
    n_ch = int(np.count_nonzero(m._channel_switches))
    n_free = sum(p.free and p.twin is None for c in m for p in c.parameters)
    return STEP_IN_STD**2 / max(n_ch - n_free, 1)


def run_fit(m, s, settings, x1, x2, mask, fit_kwargs):
    """Fit with the engine; a second start where the model has local minima.

    Unless ``fit_kwargs`` gives ``ftol``, the fit stops at a step below a
    tenth of a standard deviation (:func:`std_tolerance`), not at machine
    precision.
    """
    from hyperspy_perovskite.fitting import fast_multifit

    fit_kwargs = {"ftol": std_tolerance(m), **fit_kwargs}
    starting_values(m, s, settings, x1, x2)
    result = fast_multifit(m, mask=mask, starting_values="current", **fit_kwargs)
    if settings.multistart:
        redo = _needs_second_start(result, mask)
        if redo.any():
            first = _snapshot(m, result)
            starting_values(m, s, settings, x1, x2, variant=1)
            result = fast_multifit(
                m, mask=~redo, starting_values="current", **fit_kwargs
            )
            _keep_better(m, result, first)
    return result


def _needs_second_start(result, mask):
    """Pixels a second start may improve: not converged, or a reduced
    chi-squared above 1.1 times the median of the map (a local minimum)."""
    flags = np.asarray(result.convergence.data)
    red = np.asarray(result.reduced_chisq.data, dtype=float)
    ok = flags == 0
    typical = np.nanmedian(red[ok]) if ok.any() else np.inf
    redo = ~ok | ~(red <= 1.1 * typical)
    if mask is not None:
        redo &= ~mask
    return redo


def _snapshot(m, result):
    """Copies of a fitted model's maps, chi-squared and outcome flags."""
    return {
        "maps": [p.map.copy() for c in m for p in c.parameters],
        "chisq": m.chisq.data.copy(),
        "dof": m.dof.data.copy(),
        "result": result,
    }


def _keep_better(m, result, first):
    """Per pixel, restore the first fit where it has the lower chi-squared.

    A converged fit beats one that did not converge; among converged (or
    among unconverged) fits the lower chi-squared wins. The engine's outcome
    maps in ``result`` are updated to match.
    """
    from hyperspy_perovskite.fitting.flags import FLAG_NAMES

    r0 = first["result"]
    f0 = np.asarray(r0.convergence.data)
    f1 = np.asarray(result.convergence.data)
    c0 = np.nan_to_num(first["chisq"], nan=np.inf)
    c1 = np.nan_to_num(np.asarray(m.chisq.data, dtype=float), nan=np.inf)
    ok0, ok1 = f0 == 0, f1 == 0
    take0 = (ok0 & ~ok1) | ((ok0 == ok1) & (c0 < c1))
    params = [p for c in m for p in c.parameters]
    for p, saved in zip(params, first["maps"], strict=True):
        p.map[take0] = saved[take0]
    m.chisq.data[take0] = first["chisq"][take0]
    m.dof.data[take0] = first["dof"][take0]
    for name in ("convergence", "chisq", "reduced_chisq", "iterations"):
        new = getattr(result, name)
        new.data[take0] = np.asarray(getattr(r0, name).data)[take0]
    codes, counts = np.unique(np.asarray(result.convergence.data), return_counts=True)
    result.flag_counts = {
        FLAG_NAMES[int(k)]: int(n) for k, n in zip(codes, counts, strict=True)
    }
    result.elapsed += r0.elapsed
    for c in m:
        c.fetch_stored_values()


# ---------------------------------------------------------------- finish
def band_parameters(c):
    """The shape parameters of a band component, in a fixed order."""
    return [p for p in c.parameters if p.name != "s"]


def order_bands(m, axis_kind):
    """Make ``"Emission"`` the band at the higher photon energy in every pixel.

    Only when both bands have the same shape: bands of different shapes
    (``band=("asymmetric", "gaussian")``) are told apart by their shape and
    keep their names (``"Emission"`` the first shape, started on the
    strongest band).

    On a wavelength axis that is the shorter wavelength. The rule is the one
    used by the maps, histograms and the segregation map: ``"Emission"`` is
    the higher-energy band, ``"Emission_2"`` the lower-energy one (the minor
    low-energy band of X. Li et al., Nat. Commun. 14, 7612 (2023), Fig. S13;
    the iodide-rich domain of a segregated mixed-halide particle).
    """
    b1, b2 = m["Emission"], m["Emission_2"]
    if type(b1) is not type(b2):  # bands of different shapes keep their names
        return np.zeros(b1.centre.map.shape, bool)
    c1 = b1.centre.map["values"]
    c2 = b2.centre.map["values"]
    swap = (c2 > c1) if axis_kind == "energy" else (c2 < c1)
    swap &= np.isfinite(c1) & np.isfinite(c2)
    for p1, p2 in zip(band_parameters(b1), band_parameters(b2), strict=True):
        a, b = p1.map.copy(), p2.map.copy()
        p1.map[swap], p2.map[swap] = b[swap], a[swap]
    for c in m:
        c.fetch_stored_values()
    return swap


def unset_unfitted(m, mask):
    """Pixels excluded by ``mask`` keep no value that looks like a result."""
    if mask is None or not np.any(mask):
        return
    for c in m:
        for p in c.parameters:
            if p.map is not None:
                p.map["is_set"][mask] = False
                p.map["values"][mask] = np.nan
                p.map["std"][mask] = np.nan
    m.chisq.data[mask] = np.nan


def keep_outcome(m, result):
    """Store the final flags and the band validity with a domain model."""
    if not hasattr(m, "_store_fast_fit"):
        return
    m._fit_flags_data = np.asarray(result.convergence.data, dtype=np.int8).reshape(
        m.chisq.data.shape
    )
    from hyperspy_perovskite.signals._cl_statistics import emission_validity

    m.validity = emission_validity(m)[0]
