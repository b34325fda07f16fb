"""Cathodoluminescence spectrum images of halide perovskites (STEM-CL, SEM-CL).

The classes subclass LumiSpy's :class:`~lumispy.signals.CLSTEMSpectrum` and
:class:`~lumispy.signals.CLSEMSpectrum`, so ``to_eV`` (with its Jacobian),
background and spike removal keep working, and add emission fitting, emission
maps and their statistics (Li et al., Nat. Commun. 14, 7612 (2023), Fig. 2, S10-S14).

The spectral axis unit is validated and normalised before any use (nm for a
wavelength, eV for a photon energy): an Attolight ``.sur`` file writes its
wavelengths in mm, which LumiSpy's ``to_eV`` would read as nm.
"""

import numpy as np
from hyperspy._signals.lazy import LazySignal
from hyperspy.docstrings.signal import (
    LAZY_OUTPUT_ARG,
    NUM_WORKERS_ARG,
    SHOW_PROGRESSBAR_ARG,
)
from lumispy.signals import CLSEMSpectrum, CLSTEMSpectrum

from hyperspy_perovskite.analysis.cl_emission import (
    centroid,
    emission_starting_values,
    poisson_variance,
)
from hyperspy_perovskite.analysis.cl_units import (
    check_monotonic,
    check_wavelength_values,
    parse_spectral_unit,
)
from hyperspy_perovskite.signals import _cl_statistics
from hyperspy_perovskite.signals._cl_correlation import CLCorrelationMixin

__all__ = [
    "CLSEMPerovskiteSpectrum",
    "CLSTEMPerovskiteSpectrum",
    "LazyCLSEMPerovskiteSpectrum",
    "LazyCLSTEMPerovskiteSpectrum",
]

_BACKGROUNDS = ("offset", "linear", "none")
_AXES = ("wavelength", "energy")


def _lazy_output(result, lazy_output):
    """Return ``result`` lazy or computed as asked (None: as it is)."""
    if lazy_output is None:
        return result
    if lazy_output and not result._lazy:
        return result.as_lazy()
    if not lazy_output and result._lazy:
        result.compute()
    return result


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
    from hyperspy_perovskite.fitting.flags import FLAG_NAMES

    codes, counts = np.unique(np.asarray(result.convergence.data), return_counts=True)
    result.flag_counts = {
        FLAG_NAMES[int(k)]: int(n) for k, n in zip(codes, counts, strict=True)
    }
    result.elapsed += r0.elapsed
    for c in m:
        c.fetch_stored_values()


class CLEmissionMixin:
    """Emission fitting, maps and statistics of CL spectrum images."""

    # ------------------------------------------------------------------ units
    def _spectral_kind(self):
        """Validate the spectral axis; return (canonical unit, kind, factor)."""
        if self.axes_manager.signal_dimension != 1:
            raise ValueError(
                "A CL spectrum image needs exactly one signal axis, this signal has "
                f"{self.axes_manager.signal_dimension}."
            )
        ax = self.axes_manager.signal_axes[0]
        canonical, kind, factor = parse_spectral_unit(ax.units)
        check_monotonic(ax.axis)
        check_wavelength_values(ax.axis, ax.units)
        return canonical, kind, factor

    def normalize_spectral_axis(self, inplace=False):
        """Express the spectral axis in nm (wavelength) or eV (photon energy).

        Unit spellings such as ``"mm"`` (Attolight .sur files), ``"um"``,
        ``"μm"``, ``"$\\mu$m"`` or ``"\\mathrm{nm}"`` are recognised; the axis
        values are rescaled, never reinterpreted. Missing or unknown units,
        values implausible for light in the given unit, and non-monotonic
        axes raise a ValueError that says how to fix them. Non-uniform axes
        (Delmic) are rescaled point by point. Data are not copied.

        Parameters
        ----------
        inplace : bool
            Change this signal's axis (True) or return a new signal sharing
            the data (False).

        Returns
        -------
        signal or None

        Examples
        --------
        >>> s = hs.signals.Signal1D(np.ones((2, 10)))
        >>> s.set_signal_type("CL_SEM_perovskite")
        >>> ax = s.axes_manager.signal_axes[0]
        >>> ax.units, ax.offset, ax.scale = "mm", 6.9e-4, 1e-6
        >>> s2 = s.normalize_spectral_axis()
        >>> s2.axes_manager.signal_axes[0].units, round(s2.axes_manager.signal_axes[0].offset, 6)
        ('nm', 690.0)
        >>> s.axes_manager.signal_axes[0].units
        'mm'
        """
        canonical, kind, factor = self._spectral_kind()
        s = (
            self
            if inplace
            else self._deepcopy_with_new_data(self.data, copy_variance=True)
        )
        ax = s.axes_manager.signal_axes[0]
        target = "nm" if kind == "wavelength" else "eV"
        if factor != 1.0:
            if ax.is_uniform:
                ax.offset = ax.offset * factor
                ax.scale = ax.scale * factor
            else:
                ax.axis = np.asarray(ax.axis, dtype=float) * factor
        ax.units = target
        return None if inplace else s

    def to_eV(self, inplace=True, jacobian=True):
        """Convert the wavelength axis to photon energy (eV), with the Jacobian.

        As LumiSpy's ``to_eV`` (same refractive index of air and Jacobian
        ``I(E) = I(lambda) dlambda/dE``, Mooney and Kambhampati, J. Phys.
        Chem. Lett. 4, 3316 (2013)), after normalising the wavelength unit
        (:meth:`normalize_spectral_axis`), and lazy signals stay lazy.

        Parameters
        ----------
        inplace : bool
            Convert this signal (default, as LumiSpy) or return a new one.
        jacobian : bool
            Apply the Jacobian to the intensity (and its square to the
            variance).

        Examples
        --------
        >>> s = hs.signals.Signal1D(np.ones(50))
        >>> s.set_signal_type("CL_STEM_perovskite")
        >>> ax = s.axes_manager.signal_axes[0]
        >>> ax.units, ax.offset, ax.scale = "mm", 6.9e-4, 1e-6
        >>> e = s.to_eV(inplace=False)
        >>> round(float(e.axes_manager.signal_axes[0].axis[-1]), 3)
        1.796
        """
        from lumispy.utils.axes import axis2eV, data2eV, var2eV

        canonical, kind, factor = self._spectral_kind()
        if kind == "energy":
            raise ValueError(
                f"The spectral axis is already a photon energy ({canonical}); "
                "nothing to convert."
            )
        if inplace:
            self.normalize_spectral_axis(inplace=True)
            s = self
        else:
            s = self.normalize_spectral_axis(inplace=False)
        ax0 = s.axes_manager.signal_axes[0]
        evaxis, jfactor = axis2eV(ax0)
        rev = s.isig[::-1]
        data = rev.data
        if jacobian:
            data = data2eV(data, jfactor, evaxis.axis, ax0)
        elif not s._lazy:
            data = np.array(data)
        var = s.metadata.get_item("Signal.Noise_properties.variance")
        new_var = None
        if var is not None:
            vdata = var.isig[::-1].data if hasattr(var, "isig") else None
            if jacobian:
                if vdata is None:
                    vdata = np.full(rev.data.shape, float(var))
                new_var = var2eV(vdata, jfactor, evaxis.axis, ax0)
            elif vdata is not None:
                new_var = vdata
        axind = ax0.index_in_axes_manager
        if inplace:
            out = self
            out.data = data
        else:
            out = s._deepcopy_with_new_data(data, copy_variance=False)
        out.axes_manager.set_axis(evaxis, axind)
        if new_var is not None:
            vs = out._deepcopy_with_new_data(new_var, copy_variance=False)
            out.set_noise_variance(vs)
            if jacobian:
                out._reset_variance_linear_model()
        elif var is not None and not inplace:
            out.set_noise_variance(var)
        return None if inplace else out

    def _fit_signal(self, axis):
        """The signal a fit runs on: normalised units, in nm or eV."""
        if axis not in _AXES:
            raise ValueError(f"axis must be one of {_AXES}, not {axis!r}.")
        canonical, kind, factor = self._spectral_kind()
        if axis == "wavelength":
            if kind == "energy":
                raise ValueError(
                    "The spectral axis is a photon energy; fit it with axis='energy'."
                )
            if canonical == "nm" and self.axes_manager.signal_axes[0].units == "nm":
                return self
            return self.normalize_spectral_axis(inplace=False)
        if kind == "energy":
            if canonical == "eV" and self.axes_manager.signal_axes[0].units == "eV":
                return self
            return self.normalize_spectral_axis(inplace=False)
        return self.to_eV(inplace=False, jacobian=True)

    # ---------------------------------------------------------------- fitting
    def fit_emission(
        self,
        n_peaks=1,
        tail=False,
        background="offset",
        axis="wavelength",
        signal_range=None,
        mask=None,
        poisson=False,
        bounded=True,
        max_iterations=100,
        show_progressbar=None,
        num_workers=None,
    ):
        """Fit Gaussian emission band(s) to every pixel with the compiled engine.

        Builds a HyperSpy ``Model1D`` of :class:`GaussianEmission` band(s),
        an optional :class:`UrbachTail` and a background, fills robust
        starting values for the whole map at once
        (:func:`~hyperspy_perovskite.analysis.cl_emission.estimate_band`), and
        fits all pixels with :func:`hyperspy_perovskite.fitting.fast_multifit`.
        Li et al., Nat. Commun. 14, 7612 (2023) fits one Gaussian per pixel of a STEM-CL map
        (Fig. 2f, S10-S11), two Gaussians (Fig. S13-S14) and a Gaussian with
        an Urbach tail on an energy scale (Fig. 2g, S12).

        Parameters
        ----------
        n_peaks : {1, 2}
            Number of Gaussian bands (components ``"Emission"`` and
            ``"Emission_2"``, the second starting on the residual).
        tail : bool
            Add an ``"Urbach"`` tail whose ``E0`` is tied to the main band's
            centre. Needs ``axis="energy"``.
        background : {"offset", "linear", "none"}
            ``Offset`` or first-order ``Polynomial`` component ``"Background"``.
        axis : {"wavelength", "energy"}
            Fit on the wavelength axis (nm) or on photon energy (eV) after
            :meth:`to_eV` with its Jacobian. The model then belongs to the
            converted signal (``m.signal``); this signal is not modified.
            As in LumiSpy, the converted intensity is per meV, so the band
            area ``A`` (over eV) is the wavelength-integrated counts / 1000.
        signal_range : tuple of float, optional
            ``(start, end)`` of the fitted range in the unit of ``axis`` (nm
            or eV).
        mask : array of bool, optional
            Navigation-shaped; True pixels are not fitted.
        poisson : bool
            Weight the fit for photon counting, with the variance estimated
            as the counts smoothed over 7 channels (at least 1; see
            :func:`~hyperspy_perovskite.analysis.cl_emission.poisson_variance`)
            on the fitted copy (this signal's metadata are not changed), so
            that the reported standard deviations are those of Poisson data.
            Otherwise an existing ``metadata.Signal.Noise_properties.variance``
            is used, or the fit is unweighted as ``m.multifit()``.
        bounded : bool
            Keep parameters within their bounds (A >= 0, sigma > 0, Eu > 0).
        max_iterations : int
            Levenberg-Marquardt iterations per pixel.
        %s
        %s

        Returns
        -------
        hyperspy.models.model1d.Model1D
            The fitted model; the engine's per-pixel outcome is in
            ``m.fast_fit_result`` (convergence flags, reduced chi-squared).
            Pixels that did not converge have ``is_set`` False. The model
            belongs to ``m.signal`` (this signal, or its unit-normalised,
            energy-converted or Poisson-weighted copy): save it with
            ``m.save(filename)``.

        Examples
        --------
        >>> from hyperspy_perovskite.data import simulated_emission_map
        >>> s, truth = simulated_emission_map(shape=(4, 4), seed=0)
        >>> s.set_signal_type("CL_STEM_perovskite")
        >>> m = s.fit_emission()
        >>> c = m["Emission"].centre.map["values"]
        >>> bool(np.all(np.abs(c - truth["centre"]) < 1.0))
        True
        """
        from hyperspy.api import model as hs_model

        from hyperspy_perovskite.components import GaussianEmission, UrbachTail
        from hyperspy_perovskite.fitting import fast_multifit

        if isinstance(n_peaks, bool) or n_peaks not in (1, 2):
            raise ValueError(f"n_peaks must be 1 or 2, not {n_peaks!r}.")
        if background not in _BACKGROUNDS:
            raise ValueError(
                f"background must be one of {_BACKGROUNDS}, not {background!r}."
            )
        if not isinstance(tail, bool):
            raise TypeError(f"tail must be True or False, not {tail!r}.")
        if tail and axis != "energy":
            raise ValueError(
                "The Urbach tail is exponential in photon energy: use "
                "fit_emission(tail=True, axis='energy')."
            )
        base = self
        if poisson:  # before any Jacobian, which then transforms the variance
            base = self._deepcopy_with_new_data(self.data, copy_variance=False)
            var = poisson_variance(base.data)
            base.set_noise_variance(
                base._deepcopy_with_new_data(var, copy_variance=False)
            )
        s = base._fit_signal(axis)
        ax = s.axes_manager.signal_axes[0]
        if signal_range is not None:
            try:
                x1, x2 = (float(v) for v in signal_range)
            except (TypeError, ValueError) as err:
                raise ValueError(
                    f"signal_range must be (start, end) in {ax.units}, got {signal_range!r}."
                ) from err
            lo, hi = min(ax.low_value, ax.high_value), max(ax.low_value, ax.high_value)
            if not (lo <= min(x1, x2) < max(x1, x2) <= hi):
                raise ValueError(
                    f"signal_range {signal_range} must lie within the axis "
                    f"({lo:.6g}-{hi:.6g} {ax.units}) and have start < end."
                )
            x1, x2 = min(x1, x2), max(x1, x2)
        else:
            x1, x2 = ax.low_value, ax.high_value
        if mask is not None:
            mask = np.asarray(mask, dtype=bool)
            if mask.shape != s.axes_manager._navigation_shape_in_array:
                raise ValueError(
                    f"mask has shape {mask.shape}; it must have the navigation shape "
                    f"{s.axes_manager._navigation_shape_in_array}."
                )

        m = s.create_model()
        g1 = GaussianEmission()
        g1.name = "Emission"
        comps = [g1]
        if n_peaks == 2:
            g2 = GaussianEmission()
            g2.name = "Emission_2"
            comps.append(g2)
        if tail:
            t = UrbachTail()
            t.name = "Urbach"
            comps.append(t)
        if background == "offset":
            b = hs_model.components1D.Offset()
        elif background == "linear":
            b = hs_model.components1D.Polynomial(order=1)
        if background != "none":
            b.name = "Background"
            comps.append(b)
        m.extend(comps)
        m.set_signal_range(x1, x2)

        kw = dict(
            mask=mask,
            starting_values="current",
            bounded=bounded,
            max_iterations=max_iterations,
            show_progressbar=show_progressbar,
            num_workers=num_workers,
        )
        self._starting_values(m, s, x1, x2, background, n_peaks, tail)
        result = fast_multifit(m, **kw)
        if tail or n_peaks == 2:
            # these models have local minima: a second start, and each pixel
            # keeps the fit with the lower chi-squared
            first = _snapshot(m, result)
            self._starting_values(m, s, x1, x2, background, n_peaks, tail, variant=1)
            result = fast_multifit(m, **kw)
            _keep_better(m, result, first)
        m.fast_fit_result = result
        return m

    fit_emission.__doc__ %= (SHOW_PROGRESSBAR_ARG, NUM_WORKERS_ARG)

    @staticmethod
    def _starting_values(m, s, x1, x2, background, n_peaks, tail, variant=0):
        """Fill every parameter map with vectorised robust estimates.

        ``variant=1`` is the second start of models with local minima: band
        width from both half-maximum crossings and the tail starting at
        Eu = 25 meV (ref. 33 of Li et al., Nat. Commun. 14, 7612 (2023): tens of meV for CsPbX3).
        """
        ax = s.axes_manager.signal_axes[0]
        i1, i2 = ax.value_range_to_indices(x1, x2)
        x = np.asarray(ax.axis[i1 : i2 + 1], dtype=float)
        data = s.data[..., i1 : i2 + 1]
        width = 1.0
        if ax.is_binned:
            width = (
                ax.scale if ax.is_uniform else np.gradient(ax.axis)[i1 : i2 + 1].mean()
            )
        sv = emission_starting_values(
            x,
            data,
            baseline=background,
            n_peaks=n_peaks,
            tail=tail,
            variant=variant,
            binned_width=width,
        )
        centre, sigma, height, area, a0, a1, c2, s2, A2, tA, eu = np.moveaxis(sv, -1, 0)

        def put(param, values):
            if param.map is None or param.map.shape != np.shape(values):
                param._create_array()
            param.map["values"][:] = values
            param.map["is_set"][:] = True

        g1 = m["Emission"]
        put(g1.A, area)
        put(g1.centre, centre)
        put(g1.sigma, sigma)
        if n_peaks == 2:
            put(m["Emission_2"].A, A2)
            put(m["Emission_2"].centre, c2)
            put(m["Emission_2"].sigma, s2)
        if tail:
            t = m["Urbach"]
            t.E0.twin_function_expr = "x"  # explicit identity twin: E0 = centre
            t.E0.twin_inverse_function_expr = "x"
            t.E0.twin = g1.centre
            put(t.A, tA)
            put(t.E0, centre)
            put(t.Eu, eu)
        if background == "offset":
            put(m["Background"].offset, a0 + a1 * 0.5 * (x[0] + x[-1]))
        elif background == "linear":
            b = m["Background"]
            put(b.a0, a0)
            put(b.a1, a1)
        for c in m:
            c.fetch_stored_values()

    # ------------------------------------------------------------------- maps
    def emission_maps(
        self, model, component=None, min_significance=3.0, max_reduced_chisq=None
    ):
        """Maps of the fitted emission band with uncertainties and quality.

        Parameters
        ----------
        model : hyperspy.models.model1d.Model1D
            From :meth:`fit_emission` (or restored from a file).
        component : str or GaussianEmission, optional
            Band to map (default ``"Emission"``, the first band).
        min_significance : float
            Bands whose area is below this many standard deviations are
            flagged invalid.
        max_reduced_chisq : float, optional
            Also flag pixels whose reduced chi-squared exceeds this.

        Returns
        -------
        dict of hyperspy signals
            ``centre``, ``fwhm``, ``sigma``, ``height``, ``area``, each with
            ``<name>_std``; ``reduced_chisq``; ``quality`` (bit flags, 0 =
            good); ``valid``; with a tail ``urbach_energy`` (meV) and its std.

        Examples
        --------
        >>> from hyperspy_perovskite.data import simulated_emission_map
        >>> s, truth = simulated_emission_map(shape=(4, 4), seed=0)
        >>> s.set_signal_type("CL_STEM_perovskite")
        >>> maps = s.emission_maps(s.fit_emission())
        >>> int(maps["valid"].data.sum())
        16
        """
        return _cl_statistics.emission_maps(
            model,
            component=component,
            min_significance=min_significance,
            max_reduced_chisq=max_reduced_chisq,
        )

    def urbach_energy_map(self, model, component=None):
        """Urbach energy map (meV) and its standard deviation from a tail fit.

        Parameters
        ----------
        model : hyperspy.models.model1d.Model1D
            From ``fit_emission(tail=True, axis="energy")``.
        component : str or UrbachTail, optional

        Returns
        -------
        eu, eu_std : hyperspy signals
        """
        from hyperspy_perovskite.components import UrbachTail

        t = _cl_statistics._find(model, component, UrbachTail)
        maps = _cl_statistics.emission_maps(model, tail=t)
        return maps["urbach_energy"], maps["urbach_energy_std"]

    def integrated_intensity_map(self, window, lazy_output=None):
        """Intensity integrated over a spectral window, per pixel (no fit).

        Li et al., Nat. Commun. 14, 7612 (2023), Fig. 2d: the CL map integrated around the
        710 nm emission.

        Parameters
        ----------
        window : tuple of float
            ``(start, end)`` in nm for a wavelength axis (whatever unit the
            file uses) or in eV for an energy axis.
        %s

        Returns
        -------
        hyperspy signal
            Navigation-shaped map of the integral (counts x axis unit).

        Examples
        --------
        >>> s = hs.signals.Signal1D(np.ones((2, 3, 100)))
        >>> s.set_signal_type("CL_STEM_perovskite")
        >>> ax = s.axes_manager.signal_axes[0]
        >>> ax.units, ax.offset = "nm", 650.0
        >>> s.integrated_intensity_map((700, 720)).data[0, 0]
        np.float64(19.0)
        """
        s = self._fit_signal(
            "energy" if self._spectral_kind()[1] == "energy" else "wavelength"
        )
        x1, x2 = self._window(s, window)
        out = s.isig[x1:x2].integrate1D(-1)
        ax = s.axes_manager.signal_axes[0]
        out.metadata.General.title = f"Integrated intensity {x1:g}-{x2:g} {ax.units}"
        out.metadata.Signal.quantity = f"intensity (counts {ax.units})"
        out = out.T if out.axes_manager.navigation_dimension else out
        return _lazy_output(out, lazy_output)

    integrated_intensity_map.__doc__ %= (LAZY_OUTPUT_ARG,)

    @staticmethod
    def _window(s, window):
        ax = s.axes_manager.signal_axes[0]
        try:
            x1, x2 = (float(v) for v in window)
        except (TypeError, ValueError) as err:
            raise ValueError(
                f"window must be (start, end) in {ax.units}, got {window!r}."
            ) from err
        lo, hi = sorted((ax.low_value, ax.high_value))
        x1, x2 = sorted((x1, x2))
        if x1 == x2 or x2 < lo or x1 > hi:
            raise ValueError(
                f"window ({x1:g}, {x2:g}) {ax.units} does not overlap the spectral "
                f"axis ({lo:.6g}-{hi:.6g} {ax.units}) or is empty."
            )
        return max(x1, lo), min(x2, hi)

    def centroid_map(self, signal_range=None, subtract_baseline=True, lazy_output=None):
        """Intensity-weighted mean wavelength (or energy) per pixel, no fit.

        Parameters
        ----------
        signal_range : tuple of float, optional
            ``(start, end)`` in nm (wavelength axis) or eV.
        subtract_baseline : bool
            Remove each spectrum's 10th percentile first (see
            :func:`~hyperspy_perovskite.analysis.cl_emission.centroid`).
        %s

        Returns
        -------
        hyperspy signal
            Navigation-shaped map in nm or eV; NaN for dark pixels.

        Examples
        --------
        >>> x = np.linspace(650, 770, 121)
        >>> s = hs.signals.Signal1D(np.exp(-0.5 * ((x - 712) / 5) ** 2) * np.ones((2, 1)))
        >>> s.set_signal_type("CL_STEM_perovskite")
        >>> ax = s.axes_manager.signal_axes[0]
        >>> ax.units, ax.offset = "nm", 650.0
        >>> np.round(s.centroid_map().data, 1)
        array([712., 712.])
        """
        s = self._fit_signal(
            "energy" if self._spectral_kind()[1] == "energy" else "wavelength"
        )
        if signal_range is not None:
            x1, x2 = self._window(s, signal_range)
            s = s.isig[x1:x2]
        ax = s.axes_manager.signal_axes[0]
        data = centroid(ax.axis, s.data, subtract_baseline=subtract_baseline)
        out = _cl_statistics._map_signal_from_signal(
            s, data, "Centroid", ax.units, "centroid"
        )
        return _lazy_output(out, lazy_output)

    centroid_map.__doc__ %= (LAZY_OUTPUT_ARG,)

    # ------------------------------------------------------------- statistics
    @staticmethod
    def emission_histograms(maps, names=_cl_statistics.MAP_NAMES, bins=30, valid=None):
        """Histogram of each emission map over the valid pixels.

        See :func:`hyperspy_perovskite.signals._cl_statistics.emission_histograms`.

        Examples
        --------
        >>> from hyperspy_perovskite.data import simulated_emission_map
        >>> s, truth = simulated_emission_map(shape=(4, 4), seed=0)
        >>> s.set_signal_type("CL_STEM_perovskite")
        >>> h = s.emission_histograms(s.emission_maps(s.fit_emission()), bins=5)
        >>> int(h["centre"].data.sum())
        16
        """
        return _cl_statistics.emission_histograms(
            maps, names=names, bins=bins, valid=valid
        )

    @staticmethod
    def emission_histogram2d(maps, x="centre", y="sigma", bins=30, valid=None):
        """2D histogram of two emission maps (e.g. centre vs sigma, centre vs area).

        See :func:`hyperspy_perovskite.signals._cl_statistics.emission_histogram2d`.
        """
        return _cl_statistics.emission_histogram2d(
            maps, x=x, y=y, bins=bins, valid=valid
        )

    @staticmethod
    def plot_emission_statistics(maps, bins=30, valid=None, intensity="area"):
        """Figure of histograms and 2D histograms (after Li et al., Nat. Commun. 14, 7612 (2023), Fig. S11).

        Returns
        -------
        matplotlib.figure.Figure
        """
        return _cl_statistics.plot_emission_statistics(
            maps, bins=bins, valid=valid, intensity=intensity
        )


class CLSTEMPerovskiteSpectrum(CLCorrelationMixin, CLEmissionMixin, CLSTEMSpectrum):
    """STEM cathodoluminescence spectrum image of a halide perovskite.

    Examples
    --------
    >>> s = hs.signals.Signal1D(np.ones((2, 3, 10)))
    >>> s.set_signal_type("CL_STEM_perovskite")
    >>> type(s).__name__
    'CLSTEMPerovskiteSpectrum'
    """

    _signal_type = "CL_STEM_perovskite"


class LazyCLSTEMPerovskiteSpectrum(LazySignal, CLSTEMPerovskiteSpectrum):
    """Lazy STEM cathodoluminescence spectrum image of a halide perovskite."""

    _lazy = True


class CLSEMPerovskiteSpectrum(CLCorrelationMixin, CLEmissionMixin, CLSEMSpectrum):
    """SEM cathodoluminescence spectrum image of a halide perovskite.

    Examples
    --------
    >>> s = hs.signals.Signal1D(np.ones((2, 3, 10)))
    >>> s.set_signal_type("CL_SEM_perovskite")
    >>> type(s).__name__
    'CLSEMPerovskiteSpectrum'
    """

    _signal_type = "CL_SEM_perovskite"


class LazyCLSEMPerovskiteSpectrum(LazySignal, CLSEMPerovskiteSpectrum):
    """Lazy SEM cathodoluminescence spectrum image of a halide perovskite."""

    _lazy = True
