"""Halide composition and segregation maps of CL spectrum images.

:class:`CLHalideMixin` is a base of
:class:`~hyperspy_perovskite.signals._cl_correlation.CLCorrelationMixin`; its
methods read a centre map (or a two-band model), call the array code of
:mod:`hyperspy_perovskite.analysis.halide` and wrap the result on the CL
navigation axes with its validity and variance.
"""

from __future__ import annotations

import numpy as np

from hyperspy_perovskite.analysis import halide
from hyperspy_perovskite.analysis.cl_units import parse_spectral_unit
from hyperspy_perovskite.metadata import PROCESSING
from hyperspy_perovskite.signals._cl_inputs import (
    _as_map,
    _check_lazy_inplace,
    _std_override,
    _value_in,
)
from hyperspy_perovskite.units import parse_quantity
from hyperspy_perovskite.validity import Validity

__all__ = ["CLHalideMixin"]


class CLHalideMixin:
    """Halide fraction and segregation maps (needs the grid helpers of
    :class:`~hyperspy_perovskite.signals._cl_correlation.CLCorrelationMixin`)."""

    def halide_fraction(
        self,
        centre,
        centre_std=None,
        units=None,
        system="CsPb(Br1-xIx)3",
        bowing=None,
        stokes_shift=0.0,
        valid=None,
        lazy_output=None,
    ):
        """Iodide fraction x of ``APb(Br1-xIx)3`` from a peak-centre map.

        Converts the emission centre (wavelength or photon energy) to energy
        and inverts the band-gap-composition relation with bowing of
        :mod:`hyperspy_perovskite.analysis.halide` (end members and bowing
        with their sources there: Noh et al. 2013 for MAPb(Br1-xIx)3; Eperon
        et al. 2015 / Beal et al. 2016 for CsPb(Br1-xIx)3). The centre's
        standard deviation propagates to ``x`` to first order.

        Parameters
        ----------
        centre : Parameter, signal, numpy.ndarray, str or pint.Quantity
            Emission centre map (a model Parameter brings its std and unit;
            a string or quantity, ``"0.71 um"`` or ``array * ureg.nm``, its
            unit, converted to ``units`` when given; a single value stands
            for every pixel).
        centre_std : signal, numpy.ndarray, str or pint.Quantity, optional
            Its standard deviation (e.g. ``emission_maps(m)["centre_std"]``);
            overrides the std carried by ``centre``; a string or quantity is
            converted to the unit of ``centre``.
        units : str, optional
            Unit of ``centre`` given as numbers (nm, µm, eV, meV, ...); read
            from the model's signal axis for a Parameter, or
            ``metadata.Signal.units``.
        system : str or dict
            ``"CsPb(Br1-xIx)3"``, ``"MAPb(Br1-xIx)3"`` or a dict
            ``{"E_Br", "E_I", "bowing"}`` in eV.
        bowing : float, optional
            Override the bowing parameter (eV).
        stokes_shift : float, str or pint.Quantity
            Emission energy below the band gap (a number in eV, or
            ``"30 meV"``).
        valid : array of bool or signal, optional
            Pixels where the centre is valid. Default: the
            ``metadata.Validity`` the centre map carries (from
            :meth:`emission_maps`), or a Parameter's ``is_set``; glass and
            failed-fit pixels then get no composition.
        lazy_output : bool, optional
            Return a lazy signal (default: lazy if this signal is lazy).

        Returns
        -------
        hyperspy.signals.Signal2D
            ``x`` with its variance (``std**2``) in
            ``metadata.Signal.Noise_properties.variance``; NaN where the energy
            lies outside the end-member range (counted in
            ``metadata.Processing.Halide_composition.n_out_of_range``).

        Examples
        --------
        >>> from hyperspy_perovskite.data.cl_simulation import simulate_cl_map
        >>> haadf, cl, truth = simulate_cl_map(shape=(16, 16), n_channels=32, halide_x=0.5, centre_spread=0, seed=1)
        >>> x = cl.halide_fraction(truth["centre"], units="nm")
        >>> round(float(np.nanmean(x.data)), 3)
        0.5
        """
        _check_lazy_inplace(lazy_output)
        shape = self._nav_shape()
        values, std, is_set, u = _as_map(
            centre, shape, "centre", unit=units, spectral=True
        )
        units = units or u
        if centre_std is not None:
            std = _std_override(centre_std, shape, "centre_std", units)
        stokes_shift = parse_quantity(stokes_shift, "eV", name="stokes_shift")
        if not units:
            raise ValueError(
                "The unit of the centre map is unknown: pass units='nm' (or 'eV', ...)."
            )
        canonical, kind, factor = parse_spectral_unit(units)
        ok = self._centre_validity(centre, valid, is_set)
        values = np.where(ok, values, np.nan)
        if kind == "wavelength":
            wl = values * factor
            energy = halide.wavelength_to_energy(wl)
            e_std = None if std is None else energy / wl * std * factor
        else:
            energy = values * factor
            e_std = None if std is None else std * factor
        x, x_std, out = halide.fraction_from_energy(
            energy, e_std, system=system, bowing=bowing, stokes_shift=stokes_shift
        )
        s = self._map_signal(
            x, "Iodide fraction x", "Iodide fraction x", lazy_output=False
        )
        Validity(
            ok & ~out,
            np.where(ok, 0, 1) | np.where(out & ok, 2, 0),
            ("centre not valid", "energy outside the end members"),
        ).to_metadata(s.metadata)
        if e_std is not None:
            var = s._deepcopy_with_new_data(x_std**2)
            s.metadata.set_item("Signal.Noise_properties.variance", var)
        e_br, e_i, b = halide._system(system, bowing)
        s.metadata.set_item(
            f"{PROCESSING}.Halide_composition",
            {
                "system": system if isinstance(system, str) else "custom",
                "E_Br_eV": e_br,
                "E_I_eV": e_i,
                "bowing_eV": b,
                "stokes_shift_eV": float(stokes_shift),
                "relation": "Eg(x) = (1-x) E_Br + x E_I - b x (1-x), x = iodide fraction",
                "n_out_of_range": int(out.sum()),
            },
        )
        return s.as_lazy() if self._lazy_output(lazy_output) else s

    def _centre_validity(self, centre, valid, is_set):
        """Boolean mask of the pixels whose centre may be used."""
        from hyperspy.signal import BaseSignal

        ok = np.ones(self._nav_shape(), bool)
        if is_set is not None:
            ok &= is_set
        if valid is not None:
            ok &= self._valid_array(valid)
        elif isinstance(centre, BaseSignal):
            v = Validity.from_metadata(centre.metadata)
            if v is not None and v.mask.shape == ok.shape:
                ok &= v.mask
        return ok

    def segregation_map(
        self,
        model=None,
        centre=None,
        centre_std=None,
        reference=None,
        reference_std=0.0,
        min_separation=None,
        min_shift=0.0,
        n_sigma=3.0,
        min_fraction=0.05,
        return_separation=False,
        lazy_output=None,
    ):
        """Map of halide segregation: split peaks (two-peak fit) or shifted peaks.

        Mixed-halide perovskites segregate into I-rich and Br-rich domains
        under light or the beam (Hao & Cai, Microstructures 5, 2025012 (2025), Fig. 3B), which
        splits the emission peak or shifts it.

        * ``model``: a fitted model with exactly two peak components (each with
          ``A`` and ``centre`` parameters, e.g. from ``fit_emission(n_peaks=2)``).
          A pixel is segregated when both peaks are significant, the weaker
          holds at least ``min_fraction`` of the area, and the centres are
          further apart than ``min_separation`` (axis units; default the
          larger fitted sigma of the two peaks, i.e. resolved peaks) and than
          ``n_sigma`` combined standard deviations
          (:func:`~hyperspy_perovskite.analysis.halide.segregation_from_two_peaks`).
        * ``centre``: a single-peak centre map; a pixel is segregated when its
          centre differs from ``reference`` (default: the median of the map)
          by more than ``min_shift`` and ``n_sigma`` standard deviations
          (:func:`~hyperspy_perovskite.analysis.halide.segregation_from_shift`).
          ``centre_std`` gives its standard deviation when ``centre`` does not
          carry it (e.g. ``emission_maps(m)["centre_std"]``).

        Parameters
        ----------
        model : hyperspy.models.model1d.Model1D, optional
            A fitted two-peak model.
        centre, centre_std : Parameter, signal, numpy.ndarray, str or pint.Quantity, optional
            Single-peak centre map and its std, in the unit of the spectral
            axis (nm or eV; a Parameter brings its std); a string or quantity
            (``"0.71 um"``, ``array * ureg.nm``) carries its unit, and
            ``centre_std`` is then converted to it.
        reference, reference_std : float
            Reference centre and its std, in the unit of ``centre``; default
            the median of the map.
        min_separation : float, str or pint.Quantity, optional
            Smallest peak separation: a number in the unit of the model's
            spectral axis, or ``"2 nm"``, ``"5 meV"``.
        min_shift : float, str or pint.Quantity
            Smallest centre shift: a number in the unit of ``centre``, or a
            string or quantity converted to it.
        n_sigma : float
            Significance of the separation or shift.
        min_fraction : float
            Smallest area fraction of the weaker peak.
        return_separation : bool
            Also return the separation (or shift) map with its variance.
        lazy_output : bool, optional
            Return a lazy signal (default: lazy if this signal is lazy).

        Returns
        -------
        hyperspy.signals.Signal2D or tuple
            Boolean segregation map (``metadata.Processing.Segregation`` holds the method,
            thresholds and segregated fraction); with ``return_separation``
            also the peak separation (or signed shift) map with its variance.

        Examples
        --------
        >>> from hyperspy_perovskite.data.cl_simulation import simulate_cl_map
        >>> haadf, cl, truth = simulate_cl_map(shape=(16, 16), n_channels=32, seed=1)
        >>> c = np.where(truth["labels"] > 0, 710.0, np.nan); c[0, 0] = 730.0
        >>> seg = cl.segregation_map(centre=c, reference=710.0, min_shift=5.0)
        >>> int(seg.data.sum())
        1
        """
        _check_lazy_inplace(lazy_output)
        shape = self._nav_shape()
        if (model is None) == (centre is None):
            raise ValueError(
                "Give exactly one of model (two-peak fit) or centre (peak shift)."
            )
        if model is not None:
            seg, second, second_std, is_set, unit, info = _two_peak_segregation(
                model, shape, min_separation, n_sigma, min_fraction
            )
            second_name = "Peak separation"
        else:
            seg, second, second_std, is_set, unit, info = _shift_segregation(
                centre, centre_std, shape, reference, reference_std, n_sigma, min_shift
            )
            second_name = "Peak shift"
        seg = np.asarray(seg, bool)
        s = self._map_signal(seg, "Halide segregation", "Segregated", lazy_output=False)
        finite = np.isfinite(second)
        if is_set is not None:
            finite &= is_set
        info["fraction_segregated"] = float(seg.sum() / max(1, finite.sum()))
        info["n_segregated"] = int(seg.sum())
        s.metadata.set_item(f"{PROCESSING}.Segregation", info)
        lazy_output = self._lazy_output(lazy_output)
        if not return_separation:
            return s.as_lazy() if lazy_output else s
        d = self._map_signal(
            second, second_name, second_name, unit or None, lazy_output=False
        )
        d.metadata.set_item(
            "Signal.Noise_properties.variance", d._deepcopy_with_new_data(second_std**2)
        )
        if lazy_output:
            return s.as_lazy(), d.as_lazy()
        return s, d


def _two_peak_segregation(model, shape, min_separation, n_sigma, min_fraction):
    """Segregation from a two-peak fit (see ``segregation_map``)."""
    peaks = [c for c in model if c.active and hasattr(c, "centre") and hasattr(c, "A")]
    if len(peaks) != 2:
        raise ValueError(
            f"segregation_map needs a model with exactly two peak components "
            f"(A, centre), found {len(peaks)}: fit with n_peaks=2."
        )
    if tuple(model.axes_manager._navigation_shape_in_array) != shape:
        raise ValueError("The model's navigation shape differs from this signal's.")
    m1, m2 = (p.centre.map for p in peaks)
    a1, a2 = (p.A.map for p in peaks)
    is_set = m1["is_set"] & m2["is_set"]
    if min_separation is None:
        sig = [
            p.sigma.map["values"] if hasattr(p, "sigma") else np.zeros(shape)
            for p in peaks
        ]
        min_sep = np.maximum(sig[0], sig[1])
    else:
        unit = model.axes_manager.signal_axes[0].units
        min_sep = _value_in(min_separation, unit, "min_separation")
    seg, sep, sep_std, _ = halide.segregation_from_two_peaks(
        m1["values"],
        m1["std"],
        a1["values"],
        a1["std"],
        m2["values"],
        m2["std"],
        a2["values"],
        a2["std"],
        min_separation=0.0,
        n_sigma=n_sigma,
        min_fraction=min_fraction,
    )
    seg = seg & (sep > min_sep) & is_set
    info = {
        "method": "two_peak_fit",
        "min_separation": "max fitted sigma" if min_separation is None else min_sep,
        "n_sigma": float(n_sigma),
        "min_fraction": float(min_fraction),
    }
    unit = model.axes_manager.signal_axes[0].units
    return seg, sep, sep_std, is_set, unit, info


def _shift_segregation(
    centre, centre_std, shape, reference, reference_std, n_sigma, min_shift
):
    """Segregation from the shift of a one-peak centre (see ``segregation_map``)."""
    values, std, is_set, unit = _as_map(centre, shape, "centre", spectral=True)
    if centre_std is not None:
        std = _std_override(centre_std, shape, "centre_std", unit)
    min_shift = _value_in(min_shift, unit, "min_shift")
    if std is None:
        std = np.zeros(shape)
    if is_set is not None:
        values = np.where(is_set, values, np.nan)
    if reference is None:
        if not np.isfinite(values).any():
            raise ValueError("The centre map holds no finite value.")
        reference = float(np.nanmedian(values))
    seg, shift, shift_std = halide.segregation_from_shift(
        values, std, reference, reference_std, n_sigma=n_sigma, min_shift=min_shift
    )
    info = {
        "method": "peak_shift",
        "reference": float(np.mean(reference)),
        "min_shift": float(min_shift),
        "n_sigma": float(n_sigma),
    }
    return seg, shift, shift_std, is_set, unit, info
