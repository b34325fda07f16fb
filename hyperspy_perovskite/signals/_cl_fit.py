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
    remove_spikes,
    spike_rows,
)
from hyperspy_perovskite.analysis.cl_maps import poisson_variance
from hyperspy_perovskite.fitting import _residual_rows
from hyperspy_perovskite.fitting._compile import start_solver_compile
from hyperspy_perovskite.signals import _cl_axes
from hyperspy_perovskite.signals._cl_shared import parse_urbach_energy
from hyperspy_perovskite.signals._cl_stages import stage
from hyperspy_perovskite.signals._cl_start import (  # noqa: F401  (the fit's steps)
    STEP_IN_STD,
    _needs_second_start,
    run_fit,
    starting_values,
    std_tolerance,
)

BANDS = ("gaussian", "asymmetric", "lorentzian", "voigt")
TAILS = (False, True, "continuous", "step")
BACKGROUNDS = ("offset", "linear", "none", "energy_offset")
AXES = ("wavelength", "energy")
_SQRT2PI = float(np.sqrt(2.0 * np.pi))


class FitSettings:
    """The checked options of one ``fit_emission`` call."""

    def __init__(self, n_peaks, band, tail, background, axis, urbach=(None, None)):
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
        # Eu and the edge: None (free per pixel) or "held" (_cl_shared)
        held = parse_urbach_energy(urbach, tail)
        self.eu_mode, self.eu_value, self.eu_std, self.eu_edge = held
        self.background, self.axis = background, axis
        self.converted = False  # fitted on an energy axis converted by to_eV
        self.counts = False  # unweighted fit of photon counts (sandwich errors)
        self.count_factor = None  # its count variance per model unit, per channel

    @property
    def multistart(self):
        return bool(self.tail) or self.n_peaks == 2 or "asymmetric" in self.bands


# ----------------------------------------------------------------- prepare
def prepare_signal(signal, settings, poisson, spikes):
    """The signal the fit runs on: spikes removed, weights, converted axis.

    ``signal`` is never modified: a copy is made when anything changes.
    """
    # a first fit after an install: the solver starts compiling in a second
    # process now, beside the spike screen and the starting values
    start_solver_compile()
    base, own = signal, False  # own: base's data are a copy made here
    counted = None
    if not poisson and signal.get_noise_variance() is None:
        # unweighted: photon counts get the sandwich errors (count_factor);
        # the check runs on its own thread beside the threaded spike screen
        # and conversion (it is serial NumPy work)
        counted = _in_background(counts_check, signal.data)
    if spikes:
        # a copy only when there is something to remove (the model then
        # belongs to the copy, as for the energy axis)
        with stage("spike screen"):
            data = _without_spikes(base.data)
        if data is not None:
            base = base._deepcopy_with_new_data(data, copy_variance=True)
            own = True
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
        own = True
    settings.converted = (
        settings.axis == "energy" and signal._spectral_kind()[1] == "wavelength"
    )
    with stage("to_eV"):
        if settings.converted and own and isinstance(base.data, np.ndarray):
            # the copy made here converted in its own array (no second one)
            s, jac = base, _cl_axes.converted(base, True, True, overwrite=True)[1]
        elif settings.converted:  # base.to_eV(inplace=False), and its Jacobian
            s, jac = _cl_axes.converted(base, False, True)
        else:
            s, jac = base._fit_signal(settings.axis), None
    if counted is not None:
        with stage("counts check (wait)"):
            settings.counts = counted()[0]
    if settings.counts:  # = count_factor(signal, settings.axis), already known
        settings.count_factor = (
            jac if jac is not None else count_factor(signal, settings.axis)
        )
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


def _in_background(func, *args):
    """Start ``func(*args)`` on a thread of its own (kept for the next fit:
    :func:`~hyperspy_perovskite._threads._pool` of one thread); returns a
    function that waits for its result (exceptions are raised there)."""
    from hyperspy_perovskite._threads import _pool

    return _pool(1).submit(func, *args).result


def _without_spikes(data):
    """``remove_spikes(data)``, or None when there is no spike (numpy data):
    the screen runs once over the map, the median only on the spectra that
    have a spike. Lazy data: always the lazy ``remove_spikes``."""
    if not isinstance(data, np.ndarray):
        return remove_spikes(data)
    rows = spike_rows(data)  # = find_spikes(data).any(axis=-1)
    if not rows.any():
        return None
    out = data.astype(np.result_type(data.dtype, np.float32))
    out[rows] = remove_spikes(data[rows])
    return out


def fit_range(s, signal_range):
    """``(x1, x2)`` of the fit in the axis unit, checked."""
    ax = s.axes_manager.signal_axes[0]
    lo, hi = sorted((ax.low_value, ax.high_value))
    if signal_range is None:
        return lo, hi
    from hyperspy_perovskite.units_arguments import parse_range

    x1, x2 = parse_range(signal_range, ax.units, name="signal_range")
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
    """``s.create_model()`` with the bands, tail and background asked for.

    Twice per fit with a coarse pass (the full and the binned model), 8 ms
    each of single-threaded Python (session 16, bench_cl_fit's map, idle);
    81 % of it is HyperSpy's ``Model1D.__init__``, whose chi-squared and
    degrees-of-freedom navigation signals wire trait observers for their
    axes managers: nothing of the package's to do once per call.
    """
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
        t.Eu.free = settings.eu_mode is None  # else held (_cl_shared)
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


def fit(signal, settings, signal_range, mask, poisson, spikes, fit_kwargs):
    """The steps of ``fit_emission`` (see its documentation): returns the
    fitted model. Its arrays are made on small pages
    (:func:`~hyperspy_perovskite.signals._cl_axes.small_pages`)."""
    with _cl_axes.small_pages():
        return _fit(signal, settings, signal_range, mask, poisson, spikes, fit_kwargs)


def _fit(signal, settings, signal_range, mask, poisson, spikes, fit_kwargs):
    from hyperspy_perovskite.signals import _cl_shared
    from hyperspy_perovskite.signals._cl_consistency import shape_consistency

    with stage("prepare"):
        s = prepare_signal(signal, settings, poisson, spikes)
    x1, x2 = fit_range(s, signal_range)
    mask = check_mask(s, mask)
    with stage("build_model"):
        m = build_model(s, settings, x1, x2)
    # the solver keeps the residual statistics of the points it fits: the
    # validity reads them where the parameters are still those
    _residual_rows.start_record(m)
    try:
        if settings.eu_mode == "shared":
            with stage("shared_fit"):
                result = _cl_shared.shared_fit(m, s, settings, x1, x2, mask, fit_kwargs)
        else:
            with stage("run_fit"):
                result = run_fit(m, s, settings, x1, x2, mask, fit_kwargs)
        # not the refits of finish_fit: most are restored (the Urbach
        # profile always), and where one is kept its pixel is evaluated
        with _residual_rows.paused(m), stage("finish_fit"):
            result = finish_fit(m, signal, settings, result, mask, fit_kwargs)
        if settings.n_peaks == 2:
            with stage("order_bands"):
                order_bands(m, settings.axis)
        refit_kwargs = {**fit_kwargs, **count_kwargs(settings)}  # as the errors
        with stage("finish_held"):
            _cl_shared.finish_held(m, settings, result, mask, refit_kwargs)
        with stage("shape_consistency"):
            shape_consistency(m, settings, result, mask, refit_kwargs)
        unset_unfitted(m, mask)
        m.fast_fit_result = result
        with stage("keep_outcome"):
            keep_outcome(m, result)
    finally:
        _residual_rows.stop_record(m)
    return m


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
    m._fit_flags_data = np.asarray(result.array("convergence"), dtype=np.int8).reshape(
        m.chisq.data.shape
    )
    from hyperspy_perovskite.signals._cl_statistics import emission_validity

    m.validity = emission_validity(m)[0]


def finish_fit(m, signal, settings, result, mask, fit_kwargs):
    """The Gaussian limits
    (:func:`~hyperspy_perovskite.signals._cl_limits.gaussian_limit`) and
    the Urbach energies not resolved below the band width
    (:func:`~hyperspy_perovskite.signals._cl_urbach.urbach_resolution`),
    their refits with the sandwich errors of :func:`count_kwargs`. Returns
    the engine's result."""
    from hyperspy_perovskite.signals._cl_limits import gaussian_limit
    from hyperspy_perovskite.signals._cl_urbach import urbach_resolution

    kw = {**fit_kwargs, **count_kwargs(settings)}
    with stage("gaussian_limit"):
        result = gaussian_limit(m, result, mask, kw)
    with stage("urbach_resolution"):
        return urbach_resolution(m, result, mask, kw)


def count_kwargs(settings):
    """``{"count_variance": g}`` for an unweighted fit of photon counts
    (``poisson=False``, no noise variance, data passing
    :func:`~hyperspy_perovskite.analysis.cl_checks.counts_check`), else
    ``{}``: the engine then reports the covariance of the unweighted
    estimator under Poisson noise, ``(J^T J)^-1 (J^T diag(g f) J) (J^T
    J)^-1`` with ``f`` the fitted model (P. J. Huber, Proc. Fifth Berkeley
    Symp. Math. Statist. Probab. 1, 221 (1967); H. White, Econometrica 48,
    817 (1980)), instead of HyperSpy's equal-noise errors (chi-squared /
    dof times ``(J^T J)^-1``), which are too small where a band of counts is
    bright. Parameters held fixed (a ``tau`` at its Gaussian limit) are
    left out, as in the fit.
    """
    g = settings.count_factor
    return {} if g is None else {"count_variance": g}


def count_factor(signal, axis):
    """Per-channel factor ``g`` of the count variance, ``var = g x model``,
    on the axis the fit runs on: ones on the measured axis; after
    ``to_eV`` (``y = J c`` for counts ``c``) the Jacobian ``J``, i.e. the
    converted spectrum of a spectrum of ones (the data's own conversion).

    Examples
    --------
    >>> s = hs.signals.Signal1D(np.ones((2, 5)))
    >>> s.set_signal_type("CL_STEM_perovskite")
    >>> ax = s.axes_manager[-1]
    >>> ax.units, ax.offset, ax.scale = "nm", 600.0, 50.0
    >>> count_factor(s, "wavelength").tolist()
    [1.0, 1.0, 1.0, 1.0, 1.0]
    >>> g = count_factor(s, "energy")  # ~ lambda^2: largest at the red end (first)
    >>> bool(np.all(np.diff(g) < 0))
    True
    """
    import hyperspy.api as hs

    ax = signal.axes_manager.signal_axes[0]
    one = hs.signals.Signal1D(
        np.ones(ax.size), axes=[ax.get_axis_dictionary() | {"navigate": False}]
    )
    one.set_signal_type(signal.metadata.Signal.get_item("signal_type", ""))
    return np.asarray(one._fit_signal(axis).data, dtype=float)
