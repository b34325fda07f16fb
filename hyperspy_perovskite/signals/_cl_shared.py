"""The Urbach tail's shape held (``Eu`` and the edge offset) or ``Eu`` shared.

With ``Eu`` and the edge ``E0`` free in every pixel, a band and its Urbach
tail are only marginally told apart at the signal-to-noise of a CL map:
which pixels pass the tail's identification is then mostly a property of
the noise (two noise realisations of the same truth share 159 of about 515
valid pixels, ``benchmarks/bench_cl_fit.py``, true Eu 50 meV), and at Eu
near the band sigma no band is valid. The tail's shape is a property of the
material (film, grain, phase): ``fit_emission(tail=True, axis="energy",
urbach_energy=..., urbach_edge=...)`` holds the Urbach energy and the
edge's offset below the band centre (``E0 = centre - urbach_edge``, ``E0``
twinned to the centre) in every pixel (``Eu`` from absorption or from
``urbach_energy="shared"``; the edge from absorption: the emission data
hardly place it, below). The per-pixel fit then measures the band
(centre, width, area) and the tail's amplitude, and the band's validity no
longer waits for the tail's identification
(:func:`~hyperspy_perovskite.signals._cl_limits.tail_identified` is not
applied: :func:`held_tail`); the tail is valid where its amplitude is
significant, and the Urbach energy map is the held value with the given
standard deviation (0 by default). A standard deviation given with the
value (``urbach_energy=("60 meV", "10 meV")``) is carried into every other
parameter's error (:func:`_carry_eu_std`: the map refitted at ``Eu`` one
std higher and lower, about 3 times the CPU). Measured (bench scene 64 x
64, true Eu 50 meV, band pulls centre / sigma / area mean, within 2 std):
held at 60 +- 10 meV -1.02 / +0.92 / +1.04 (0.93 / 0.97 / 0.96; without
the std -2.98 / +2.32 / +4.82, area within 2 std 0.04); 40 +- 10 +0.45 /
-0.59 / -0.57 (0.98-0.99); 55 +- 5 -0.83 / +0.75 / +0.94 (0.91-0.95);
50 +- 10 within 0.08 of 0 (spreads 0.44-0.55: the truth at the value).

Both are needed. Measured on the bench scene (``bench_cl_fit.simulate``:
edge 20 meV below the band centre, band sigma 25-35 meV, 48 x 48, seed 0),
band pulls over all converged pixels, mean / std (within 1 / 2 std):

* ``Eu`` alone held at the truth, the edge free: true Eu 25 meV centre
  -1.43 / 2.60 (0.67 / 0.78), area +2.23 / 4.21 (0.63 / 0.73); 50 meV
  centre -0.55 / 1.17, area +0.71 / 1.60; the edge ends 13 meV (median)
  from the truth at 25 meV: it is the other direction the data hardly
  determine. Refused (ValueError).
* both held at the truth (64 x 64, seeds 0 / 1; every converged pixel is
  band-valid: 4092-4096 of 4096): true Eu 8 meV centre +0.10 / 0.81 (0.79 /
  0.98), +0.12 / 0.79, area -0.13 / 0.81, -0.14 / 0.80; 12 meV centre
  +0.08 / 0.88 (0.76 / 0.97), +0.09 / 0.87, area -0.10 / 0.89, -0.11 /
  0.87; 25 meV centre +0.07 / 0.96 (0.72 / 0.96), +0.07 / 0.98, area -0.09
  / 0.96, -0.09 / 0.98; 50 meV centre -0.01 / 1.02 (0.68 / 0.95), -0.02 /
  1.00, area 0.00 / 1.02, +0.01 / 1.01; sigma within 0.13 of 0 and 0.82-1.01
  everywhere. The free fit of the same maps: 0 band-valid at 8-25 meV,
  about 550 (13 %) at 50 meV, with centre pulls -0.8 and area +1.1 there.
  CPU 111-126 us per spectrum (warm, load 1-2) against about 280 free.

Held wrong, the band is biased (64 x 64, seed 0; centre / sigma / area
pull means, spreads 0.86-1.26): ``Eu`` 20 % high / low at a true 12 meV
-0.02 / -0.02 / +0.03 and +0.19 / -0.15 / -0.24; at 25 meV -0.02 / +0.03 /
+0.05 and +0.20 / -0.13 / -0.28; at 50 meV **-2.98 / +2.32 / +4.82** and
+0.58 / -0.83 / -0.84. The edge 20 % deeper / shallower (24 / 16 meV for
20) at 12 meV -0.16 / +0.04 / +0.28 and +0.28 / -0.18 / -0.40; at 25 meV
-0.27 / +0.12 / +0.48 and +0.38 / -0.19 / -0.59; at 50 meV -0.77 / +0.43 /
+1.38 and +0.58 / -0.38 / -1.04. Where the tail is long (Eu above the band
sigma) the band is sensitive to the held values: an ``Eu`` too long takes
the band's low-energy side into the tail. Hold values measured on the same
material, and compare the maps at the values' own limits of error.

``urbach_energy="shared"`` (the edge given) estimates one ``Eu`` for all
fitted pixels (:func:`shared_fit`), then tests each pixel against it
(:mod:`~hyperspy_perovskite.signals._cl_consistency`). Measured over 20
maps of the bench scene each (16 x 16, seeds 100-119, edge held at the
truth), pulls of the shared ``Eu`` mean / std (within 1 / 2 std): true
25 meV +0.20 / 0.82 (0.75 / 1.00), std 0.23 meV; 50 meV -0.30 / 0.82
(0.75 / 0.95), 0.14 meV; 12 meV (below the band sigma, a profile flat on
its low side) +0.57 / 1.64 (0.75 / 0.90), 2.2 meV, one map at +6.8 (its
profile lower at 20 meV than at the true 12 by 7.7 noise variances); all
256 pixels band-valid with band pulls per map within 0.3 of 0 (spreads
0.83-1.06); 64 x 64 (256 of 4096 pixels searched), 10 maps at 25 meV
-0.09 / 1.04 (0.70 / 1.00). 16-26 profile points; 1.7-2.1 ms of CPU per spectrum on these
256-pixel maps (the search costs about what fitting the 256 pixels of
:data:`SHARED_PIXELS` 20 times costs, whatever the map's size).

The edge cannot be shared: pooled over 256 pixels (bench scene, true Eu
25 and 50 meV) the profile varies by under 60 noise variances over edges
from 20 meV above to 20 meV below the band centre, with minima on both
sides, while the band areas move by 5 standard deviations: the data do
not place the edge, so it is the user's (a refused argument).
"""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["edge_twin", "finish_held", "held_tail", "parse_urbach_energy"]


def parse_urbach_energy(value, tail):
    """``(mode, Eu, Eu std, edge offset)`` of ``fit_emission``'s
    ``(urbach_energy, urbach_edge)``.

    ``mode`` is None (``Eu`` and the edge free per pixel), ``"held"`` (both
    given) or ``"shared"`` (``Eu`` ``"shared"``, the edge given): ``Eu`` in
    eV with its standard deviation (0 unless given as a pair; None where
    shared), the edge's offset below the band centre in eV. The edge is
    always needed: ``Eu`` held with the edge free leaves the band wrong,
    and the data do not determine a shared edge (see the module's
    documentation).

    Examples
    --------
    >>> from hyperspy_perovskite.signals._cl_shared import parse_urbach_energy
    >>> parse_urbach_energy(("25 meV", 0.02), "continuous")
    ('held', 0.025, 0.0, 0.02)
    >>> parse_urbach_energy(((0.03, "2 meV"), "20 meV"), "continuous")
    ('held', 0.03, 0.002, 0.02)
    >>> parse_urbach_energy(("shared", "20 meV"), "continuous")
    ('shared', None, None, 0.02)
    """
    eu, edge = value
    if eu is None and edge is None:
        return None, None, None, None
    if not tail:
        raise ValueError(
            "urbach_energy and urbach_edge need an Urbach tail: "
            "fit_emission(tail=True, axis='energy', ...)."
        )
    if isinstance(edge, str) and edge.strip().lower() == "shared":
        raise ValueError(
            "urbach_edge cannot be shared: the data do not determine it, "
            "even pooled over a map (bench_cl_fit scene, 256 pixels: the "
            "profile likelihood varies by under 60 noise variances over edges "
            "from 20 meV above to 20 meV below the band centre, while the "
            "band areas move by 5 standard deviations). Give its value."
        )
    if isinstance(eu, str) and eu.strip().lower() == "shared" and edge is not None:
        return "shared", None, None, _held_edge(edge)
    if eu is None or edge is None:
        raise ValueError(
            "Give urbach_energy (a value or 'shared') and urbach_edge "
            "together: with the Urbach energy held and the edge free (or "
            "the reverse) the band and its tail are still not told apart, "
            "and the band's centre and area are biased (bench_cl_fit scene, "
            "Eu held at the truth: centre pulls -1.4, area +2.2 standard "
            "deviations)."
        )
    return ("held",) + _held_eu(eu) + (_held_edge(edge),)


def _held_eu(value):
    """``(Eu, std)`` in eV of a value or a ``(value, std)`` pair."""
    from hyperspy_perovskite.units import parse_quantity

    pair = isinstance(value, (tuple, list)) and len(value) == 2
    eu, std = value if pair else (value, 0.0)
    eu = parse_quantity(eu, "eV", name="urbach_energy")
    std = parse_quantity(std, "eV", name="urbach_energy std")
    from hyperspy_perovskite.signals._cl_statistics import URBACH_RANGE_EV

    if not (eu > 0 and std >= 0 and np.isfinite([eu, std]).all()):
        raise ValueError(
            "urbach_energy must be a positive Urbach energy (with a standard "
            f"deviation >= 0), or 'shared', not {value!r}."
        )
    lo, hi = URBACH_RANGE_EV
    if not lo <= eu <= hi:  # held out of range: the band's validity would trust it
        raise ValueError(
            f"urbach_energy {eu * 1e3:.10g} meV lies outside the physical range "
            f"of Urbach energies, {lo * 1e3:g}-{hi * 1e3:g} meV (a bare number is "
            "in eV: write '25 meV' or 0.025)."
        )
    return float(eu), float(std)


def _held_edge(value):
    from hyperspy_perovskite.units import parse_quantity

    edge = parse_quantity(value, "eV", name="urbach_edge")
    if not np.isfinite(edge):
        raise ValueError(f"urbach_edge must be finite, not {value!r}.")
    if abs(edge) > EDGE_LIMIT_EV:  # a unit slip: 20 is 20 eV
        raise ValueError(
            f"urbach_edge {edge * 1e3:.10g} meV lies further than "
            f"{EDGE_LIMIT_EV * 1e3:g} meV from the band centre: the edge of the "
            "band's own tail lies within a few band widths of it (a bare number "
            "is in eV: write '20 meV' or 0.02)."
        )
    return float(edge)


#: Largest held edge offset from the band centre (eV). The free fit keeps an
#: edge within ``_cl_limits.TAIL_EDGE_REACH`` = 2 band sigmas of the centre
#: (CL band sigmas 10-60 meV); beyond 200 meV the "edge" is not the band's.
EDGE_LIMIT_EV = 0.2


def held_tail(t):
    """Whether tail ``t`` has its shape held: ``Eu`` fixed and the edge
    ``E0`` tied to its band's centre (``fit_emission(urbach_energy=...,
    urbach_edge=...)``). Its band then needs no per-pixel identification
    of the tail."""
    return not t.Eu.free and t.E0.twin is not None and t.E0.twin.name == "centre"


def edge_twin(settings):
    """``(twin expression, inverse)`` tying a tail's edge ``E0`` to its band
    centre: ``E0 = centre - offset`` (0 for a step tail without a held
    edge), or None for a free edge."""
    off = settings.eu_edge
    if off is None:
        return ("x", "x") if settings.tail == "step" else None
    off = float(off)
    return f"x - {off!r}", f"x + {off!r}"


def finish_held(m, settings, result, mask, fit_kwargs):
    """Write the held (or shared) ``Eu`` and its standard deviation into the
    tail's map at every fitted pixel (the engine leaves a held parameter's
    error as it was); a standard deviation given with a held value is
    carried into the other parameters' errors (:func:`_carry_eu_std`)."""
    if settings.eu_mode is None:
        return
    t = m["Urbach"]
    fitted = np.isfinite(np.asarray(t.A.map["values"], float))
    if mask is not None:
        fitted &= ~np.asarray(mask, bool)
    if settings.eu_mode == "held" and settings.eu_std:
        _carry_eu_std(m, settings, result, fitted, fit_kwargs)
    t.Eu.map["values"][fitted] = settings.eu_value
    t.Eu.map["std"][fitted] = settings.eu_std
    t.fetch_stored_values()


def _carry_eu_std(m, settings, result, fitted, fit_kwargs):
    """Add to the errors of every free parameter, in quadrature, its larger
    change when the map is fitted again with ``Eu`` one given standard
    deviation higher and lower (from the fit's values; NaN where a refit
    fails), then put the fit back. A shared ``Eu``'s own error is not carried: measured
    negligible (its std, 0.14-0.23 meV on 256 pixels, moves the bands by
    under 0.07 of their std at 25-50 meV, from the held-off figures above).
    """
    from hyperspy_perovskite.signals._cl_refit import refit
    from hyperspy_perovskite.signals._cl_start import std_tolerance

    ok = fitted & (np.asarray(result.array("convergence")) == 0)
    if not ok.any():
        return
    free = [p for c in m for p in c.parameters if p.free and p.twin is None]
    before = [np.array(p.map["values"], float) for p in free]
    shift = [np.zeros(ok.shape) for _ in free]
    eu_held = m["Urbach"].Eu
    for sign in (1.0, -1.0):  # the larger change of the two (not linear)
        eu = max(settings.eu_value + sign * settings.eu_std, 0.25 * settings.eu_value)
        with refit(
            m, result, ok, fit_kwargs, start={eu_held: eu}, ftol=std_tolerance(m)
        ) as r:
            done = r.flags == 0
            for k, (p, b) in enumerate(zip(free, before, strict=True)):
                d = np.where(done, np.abs(p.map["values"] - b), np.nan)
                shift[k] = np.maximum(shift[k], d) if sign < 0 else d
    for p, d in zip(free, shift, strict=True):
        p.map["std"][ok] = np.hypot(p.map["std"], d)[ok]
    for c in m:
        c.fetch_stored_values()


# ------------------------------------------------------------------ shared
#: Pixels of the subsample on which the shared Urbach energy is searched:
#: drawn among the band-bearing ones of :data:`SHARED_CANDIDATES` fitted
#: pixels drawn over the map (always the same; all of them on a smaller map).
SHARED_PIXELS = 256
#: Fitted pixels drawn over the map, fitted once at the first guess to find
#: the band-bearing ones (on a map of particles on a bare substrate about
#: half are substrate, which fixed no value when drawn directly).
SHARED_CANDIDATES = 4 * SHARED_PIXELS


class SharedShape:
    """The shared Urbach energy found by :func:`shared_fit` and the held edge
    offset: values in eV, their standard deviations (the edge's 0), the
    number of pixels that determined them and how."""

    def __init__(self, eu, eu_std, edge, edge_std, n_pixels, method):
        self.eu, self.eu_std, self.edge, self.edge_std = eu, eu_std, edge, edge_std
        self.n_pixels, self.method = int(n_pixels), method

    def record(self):
        return {
            "Eu": self.eu,
            "Eu_std": self.eu_std,
            "edge": self.edge,
            "edge_std": self.edge_std,
            "n_pixels": self.n_pixels,
            "method": self.method,
        }


def shared_fit(m, s, settings, x1, x2, mask, fit_kwargs):
    """Fit the map with one Urbach energy shared by all fitted pixels, the
    edge held (``fit_emission(urbach_energy="shared", urbach_edge=...)``).

    ``Eu`` is the maximum of the map's likelihood with it shared and every
    other parameter per pixel: a profile in ``ln Eu``, each point of which
    is the subsample (at most :data:`SHARED_PIXELS` drawn among the pixels
    with a band above 3 std at 25 meV of :data:`SHARED_CANDIDATES` drawn)
    fitted from fresh starting values with ``Eu`` held, on channels
    averaged as in ``_cl_start._coarse_start``; Newton steps on quadratics
    fitted to it (:func:`_newton`), and the standard deviation where the
    profile rises by one noise variance (:func:`_profile_std`). The
    subsample is fitted weighted (counts: their Poisson variance after the
    Jacobian; else the noise variance, or each pixel's residual mean
    square), so its chi-squared is in noise variances; it is computed from
    a lazy signal (bounded memory), whose map is then fitted as usual. The
    whole map is fitted at the optimum (``run_fit``), and each pixel
    tested against it
    (:func:`~hyperspy_perovskite.signals._cl_consistency.shape_consistency`).
    Returns the map's engine result; ``m._shared_urbach`` holds
    :meth:`SharedShape.record` (``m.shared_urbach_energy``), and the fit
    logs it (logger ``hyperspy_perovskite.signals._cl_shared``, INFO).
    The standard deviation is the subsample's (``n_pixels``); the bands'
    errors do not carry it.
    """
    from hyperspy_perovskite.signals._cl_start import (
        _binned_window,
        _coarse_factor,
        run_fit,
    )

    sub, sub_settings, weight = _subsample(s, settings, mask)
    k = _coarse_factor(sub, settings, x1, x2)
    b1, b2 = x1, x2
    if k > 1:
        sub, b1, b2 = _binned_window(sub, x1, x2, k)
    shape = _search(sub, sub_settings, b1, b2, fit_kwargs, weight, settings)
    settings.eu_value, settings.eu_std, settings.eu_edge = (
        shape.eu,
        shape.eu_std,
        shape.edge,
    )
    m._shared_urbach = shape.record()
    _log_shape(shape)
    return run_fit(m, s, settings, x1, x2, mask, fit_kwargs)


#: Stopping rule of the subsample's fits in the search (standard deviations
#: of a last step, as ``_cl_start.STEP_IN_STD``): the profile is a sum over
#: up to :data:`SHARED_PIXELS` pixels, each of which stops above its
#: minimum by about this squared, in noise variances.
SEARCH_STEP_IN_STD = 0.01


def _subsample(s, settings, mask):
    """At most :data:`SHARED_CANDIDATES` fitted pixels of ``s`` as a signal of
    one navigation axis (computed, for lazy data too), with a noise variance
    where one is known or the data are counts; its settings (unweighted
    count errors off) and whether it is weighted."""
    import copy

    import hyperspy.api as hs

    from hyperspy_perovskite.analysis.cl_maps import poisson_variance

    nav = s.axes_manager._navigation_shape_in_array
    fitted = np.ones(nav, bool) if mask is None else ~np.asarray(mask, bool)
    # spread over the whole map (every k-th flat index would take a few
    # columns of it), the same pixels at every call
    flat = np.flatnonzero(_draw(fitted.ravel(), SHARED_CANDIDATES))
    rows = _rows(s.data, flat, nav)
    ax = s.axes_manager.signal_axes[0].get_axis_dictionary() | {"navigate": False}
    pix = {"size": rows.shape[0], "name": "pixel", "navigate": True}
    sub = hs.signals.Signal1D(rows, axes=[pix, ax])
    sub.set_signal_type(s.metadata.Signal.get_item("signal_type", ""))
    var = s.get_noise_variance()
    if var is not None:
        v = var if np.isscalar(var) else _rows(var.data, flat, nav)
        sub.set_noise_variance(v if np.isscalar(v) else sub._deepcopy_with_new_data(v))
    elif settings.counts:  # y = g c for counts c: var(y) = g^2 var(c)
        g = np.asarray(settings.count_factor, float)
        v = g * g * poisson_variance(rows / g)
        sub.set_noise_variance(sub._deepcopy_with_new_data(v))
    sub_settings = copy.copy(settings)
    sub_settings.counts, sub_settings.count_factor = False, None
    return sub, sub_settings, sub.get_noise_variance() is not None


def _rows(data, flat, nav):
    """The spectra of the flat pixel indices ``flat`` as a numpy array."""
    where = np.unravel_index(flat, nav)
    if isinstance(data, np.ndarray):
        return np.asarray(data[where], float)
    return np.asarray(data.vindex[where].compute(), float)


#: Fewest band-bearing pixels (converged, band area above 3 std) from which
#: a shared tail shape is estimated.
SHARED_MIN_PIXELS = 10


class _Profile:
    """Chi-squared of the subsample, in noise variances, with the tail shape
    held at ``(Eu, edge)``: the band-bearing pixels of its fit at the first
    guess, each point fitted from fresh starting values."""

    def __init__(self, sub, settings, x1, x2, fit_kwargs, weighted, guess):
        from hyperspy_perovskite.signals._cl_fit import build_model
        from hyperspy_perovskite.signals._cl_start import (
            STEP_IN_STD,
            run_fit,
            std_tolerance,
        )

        self.m, self.settings = build_model(sub, settings, x1, x2), settings
        settings.eu_value, settings.eu_edge = guess
        result = run_fit(self.m, sub, settings, x1, x2, None, fit_kwargs)
        g = self.m["Emission"]
        a, sa = np.asarray(g.A.map["values"]), np.asarray(g.A.map["std"])
        with np.errstate(invalid="ignore"):
            self.keep = (np.asarray(result.array("convergence")) == 0) & (a > 3 * sa)
        self.keep = _draw(self.keep)
        if self.keep.sum() < SHARED_MIN_PIXELS:
            raise ValueError(
                f"Only {int(self.keep.sum())} pixels hold a significant band: "
                "too few to estimate a shared Urbach tail; give its values "
                "(urbach_energy=..., urbach_edge=...)."
            )
        chisq = np.asarray(self.m.chisq.data, float)
        n_ch = int(np.count_nonzero(self.m._channel_switches))
        dof = n_ch - np.asarray(self.m.dof.data, float)
        self.scale = 1.0 if weighted else chisq / dof  # residual mean square
        ftol = std_tolerance(self.m) * (SEARCH_STEP_IN_STD / STEP_IN_STD) ** 2
        self.kw = {**fit_kwargs, "ftol": ftol}
        self.points, self.window = {}, (sub, x1, x2)

    def __call__(self, eu, edge):
        """Chi-squared of the subsample's fit from fresh starting values at
        ``(eu, edge)``: fits started from another point's keep some pixels
        in its minima (measured: 16 x 16 bench scene, true Eu 25 meV, held
        at 40 meV: 71427 noise variances from the fit at 30 meV, 34585 from
        fresh starts)."""
        from hyperspy_perovskite.signals._cl_start import run_fit

        key = (float(eu), float(edge))
        if key not in self.points:
            self.settings.eu_value, self.settings.eu_edge = key
            s, x1, x2 = self.window
            run_fit(self.m, s, self.settings, x1, x2, ~self.keep, self.kw)
            chi = (np.asarray(self.m.chisq.data, float) / self.scale)[self.keep]
            self.points[key] = float(np.sum(chi)) if np.isfinite(chi).all() else np.inf
        return self.points[key]


def _draw(keep, n=None):
    """At most ``n`` (default :data:`SHARED_PIXELS`) of the pixels ``keep``
    (1-D mask), drawn at random (the same at every call)."""
    n = SHARED_PIXELS if n is None else n
    idx = np.flatnonzero(keep)
    if idx.size > n:
        idx = np.sort(np.random.default_rng(0).choice(idx, n, False))
    out = np.zeros_like(keep)
    out[idx] = True
    return out


def _search(sub, sub_settings, x1, x2, fit_kwargs, weighted, settings):
    """The shared ``Eu`` (:class:`SharedShape`) of the subsample at the held
    edge: Newton steps on quadratics fitted to the profile in ``ln Eu``
    (:func:`_newton`, from 25 meV, the first grid 12.5-50 meV), then its
    standard deviation from the profile itself (:func:`_profile_std`)."""
    edge = settings.eu_edge
    f = _Profile(sub, sub_settings, x1, x2, fit_kwargs, weighted, (0.025, edge))
    bounds = np.log([0.002, 0.2])  # URBACH_RANGE_EV of _cl_statistics

    def profile(x):
        return f(float(np.exp(np.clip(x[0], *bounds))), edge)

    x, cov, done = _newton(profile, np.log([0.025]), np.array([0.69]))
    if not done:  # the best point seen
        x = np.log([min(f.points, key=f.points.get)[0]])
        _warn_search(f, x)
    x = np.clip(x, *bounds)
    std = np.sqrt(cov[0, 0]) if cov is not None and done else np.nan
    std = _profile_std(profile, x, std, bounds)
    eu = float(np.exp(x[0]))
    n = int(f.keep.sum())
    how = "" if done else ", NOT CONVERGED"
    return SharedShape(
        eu,
        eu * std,  # first order in ln Eu
        edge,
        0.0,
        n,
        f"profile likelihood of {n} pixels ({len(f.points)} points{how})",
    )


def _warn_search(f, x):
    warnings.warn(
        "The shared Urbach energy's search did not converge: the profile "
        f"likelihood of the {int(f.keep.sum())} band-bearing pixels has no "
        f"single smooth minimum within {SEARCH_ITERATIONS} steps (the best "
        f"point, Eu = {np.exp(x[0]) * 1e3:.3g} meV, is used). A map of "
        "materials with different tails does this: fit the regions apart "
        "with mask=..., or give the value (urbach_energy=...).",
        UserWarning,
        stacklevel=6,
    )


def _profile_std(profile, x, std, bounds):
    """Standard deviation of ``ln Eu`` at the profile's minimum ``x`` from
    the profile itself: on each side, where it rises by one noise variance
    (``sqrt`` of the rise interpolated linearly between points 1, 2, 4, 8
    times ``std`` away, the quadratic's value); the larger of the two
    (where ``Eu`` lies below the band width the profile is flat on its low
    side and the quadratic's curvature is too large: bench scene, true Eu
    12 meV, 16 x 16, one map of 20 at +7 of its quadratic's standard
    deviations). Infinite where one side does not rise by one within the
    physical range: the shared ``Eu`` is then not resolved."""
    if not np.isfinite(std):
        std = 0.1
    f0 = profile(x)
    widths = []
    for side in (-1.0, 1.0):
        prev_d, prev_r, width = 0.0, 0.0, np.inf
        for k in (1.0, 2.0, 4.0, 8.0):
            d = k * std
            at = x[0] + side * d
            if not bounds[0] <= at <= bounds[1]:
                break
            r = np.sqrt(max(profile(np.array([at])) - f0, 0.0))
            if r >= 1.0:
                width = prev_d + (d - prev_d) * (1.0 - prev_r) / (r - prev_r)
                break
            prev_d, prev_r = d, r
        widths.append(width)
    return float(max(widths))


#: Newton iterations of :func:`_newton` (each a grid of 3 points per shared
#: parameter and direction).
SEARCH_ITERATIONS = 16


def _newton(objective, x, step):
    """Minimum and covariance of ``objective`` (chi-squared in noise
    variances): at each step a quadratic is fitted to it on a grid of
    ``3 ** n`` points about ``x`` (:func:`_quadratic`), ``x`` moves to the
    quadratic's minimum (at most two grid steps; to the grid's best point
    where the quadratic has none), and the grid step shrinks towards 1.5
    of the standard deviations it gives; done when the move is below a
    third of them on a grid of at most 3 of them. The covariance is twice
    the inverse Hessian of the last quadratic with a minimum (None if
    none); the last item says whether it converged."""
    cov = None
    for _ in range(SEARCH_ITERATIONS):
        grad, hess, best = _quadratic(objective, x, step)
        if not np.all(np.linalg.eigvalsh(hess) > 0):
            x = x + best  # no minimum in reach: the grid's best point
            continue
        cov = 2.0 * np.linalg.inv(hess)
        std = np.sqrt(np.diag(cov))
        move = np.clip(-np.linalg.solve(hess, grad), -2 * step, 2 * step)
        x = x + move
        if np.all(np.abs(move) < 0.3 * std) and np.all(step < 3 * std):
            return x, cov, True
        step = np.clip(1.5 * std, step / 3, step)
    return x, cov, False


def _quadratic(objective, x, step):
    """Gradient and Hessian at ``x`` of the quadratic fitted to ``objective``
    on the grid ``x + step * {-1, 0, 1} ** n``, and the grid's best offset."""
    import itertools

    n = x.size
    grid = np.array(list(itertools.product((-1, 0, 1), repeat=n))) * step
    y = np.array([objective(x + d) for d in grid])
    pairs = [(i, j) for i in range(n) for j in range(i, n)]
    cols = [np.ones(len(grid))] + [grid[:, i] for i in range(n)]
    cols += [grid[:, i] * grid[:, j] for i, j in pairs]
    finite = np.isfinite(y)
    coef = np.linalg.lstsq(
        np.array(cols).T[finite], (y - np.min(y[finite]))[finite], rcond=None
    )[0]
    hess = np.zeros((n, n))
    for (i, j), c in zip(pairs, coef[1 + n :], strict=True):
        hess[i, j] = hess[j, i] = c if i != j else 2 * c
    return coef[1 : 1 + n], hess, grid[int(np.nanargmin(np.where(finite, y, np.nan)))]


def _log_shape(shape):
    import logging

    logging.getLogger(__name__).info(
        "Shared Urbach energy: Eu = %.2f +- %.2f meV, edge %.2f +- %.2f meV "
        "below the band centre (%s).",
        shape.eu * 1e3,
        shape.eu_std * 1e3,
        shape.edge * 1e3,
        shape.edge_std * 1e3,
        shape.method,
    )
