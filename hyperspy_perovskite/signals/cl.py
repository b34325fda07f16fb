"""Cathodoluminescence spectrum images of halide perovskites (STEM-CL, SEM-CL).

The classes subclass LumiSpy's :class:`~lumispy.signals.CLSTEMSpectrum` and
:class:`~lumispy.signals.CLSEMSpectrum`, so ``to_eV`` (with its Jacobian),
background and spike removal keep working, and add emission fitting, emission
maps and their statistics (Li et al., Nat. Commun. 14, 7612 (2023), Fig. 2, S10-S14).

The spectral axis unit is validated and normalised before any use (nm for a
wavelength, eV for a photon energy): an Attolight ``.sur`` file writes its
wavelengths in mm, which LumiSpy's ``to_eV`` would read as nm.
"""

from hyperspy._signals.lazy import LazySignal
from lumispy.signals import CLSEMSpectrum, CLSTEMSpectrum

from hyperspy_perovskite.analysis.cl_maps import centroid
from hyperspy_perovskite.analysis.cl_units import (
    check_monotonic,
    check_wavelength_values,
    parse_spectral_unit,
)
from hyperspy_perovskite.signals import _cl_axes, _cl_fit, _cl_statistics
from hyperspy_perovskite.signals._base import (
    OPTIONS_PARAMETERS,
    as_requested,
    compute,
    resolve_options,
    wrap_navigation_map,
)
from hyperspy_perovskite.signals._cl_correlation import CLCorrelationMixin

__all__ = [
    "CLSEMPerovskiteSpectrum",
    "CLSTEMPerovskiteSpectrum",
    "LazyCLSEMPerovskiteSpectrum",
    "LazyCLSTEMPerovskiteSpectrum",
]


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
        (Delmic) are rescaled point by point. A decreasing axis is made
        increasing (channels reversed). Data are not copied unless reversed.

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
        self._spectral_kind()
        return _cl_axes.normalize_axis(self, inplace)

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
        canonical, kind, factor = self._spectral_kind()
        if kind == "energy":
            raise ValueError(
                f"The spectral axis is already a photon energy ({canonical}); "
                "nothing to convert."
            )
        return _cl_axes.convert_to_eV(self, inplace, jacobian)

    def _fit_signal(self, axis):
        """The signal a fit runs on: normalised units, in nm or eV."""
        if axis not in _cl_fit.AXES:
            raise ValueError(f"axis must be one of {_cl_fit.AXES}, not {axis!r}.")
        canonical, kind, factor = self._spectral_kind()
        ax = self.axes_manager.signal_axes[0]
        ready = check_monotonic(ax.axis) > 0 and ax.units in ("nm", "eV")
        if axis == "wavelength":
            if kind == "energy":
                raise ValueError(
                    "The spectral axis is a photon energy; fit it with axis='energy'."
                )
            return self if ready else self.normalize_spectral_axis(inplace=False)
        if kind == "energy":
            return self if ready else self.normalize_spectral_axis(inplace=False)
        return self.to_eV(inplace=False, jacobian=True)

    def create_model(self, dictionary=None):
        """An :class:`~hyperspy_perovskite.models.EmissionModel` of this
        signal (also what ``s.models.restore`` returns), whose fit flags and
        validity survive ``m.store``, ``.hspy`` and ``.zspy`` files.

        Examples
        --------
        >>> s = hs.signals.Signal1D(np.ones((2, 10)))
        >>> s.set_signal_type("CL_STEM_perovskite")
        >>> type(s.create_model()).__name__
        'EmissionModel'
        """
        from hyperspy_perovskite.models import EmissionModel

        return EmissionModel(self, dictionary=dictionary)

    # ---------------------------------------------------------------- fitting
    def fit_emission(
        self,
        n_peaks=1,
        tail=False,
        band="gaussian",
        background="offset",
        axis="wavelength",
        signal_range=None,
        mask=None,
        poisson=False,
        spikes=True,
        bounded=True,
        max_iterations=100,
        show_progressbar=None,
        num_workers=None,
        urbach_energy=None,
        urbach_edge=None,
    ):
        """Fit emission band(s) to every pixel with the compiled engine.

        Builds a HyperSpy ``Model1D`` of band(s), an optional Urbach tail and
        a background, fills robust starting values for the whole map at once,
        and fits all pixels with :func:`hyperspy_perovskite.fitting.fast_multifit`.
        X. Li et al., Nat. Commun. 14, 7612 (2023) fit one Gaussian per pixel
        of a STEM-CL map (Fig. 2f, S10-S11), two Gaussians (Fig. S13-S14) and a
        Gaussian with an Urbach tail on an energy scale (Fig. 2g, S12).

        Parameters
        ----------
        n_peaks : {1, 2}
            Number of bands. With two, ``"Emission"`` is the band at the
            higher photon energy, pixel by pixel (as every map uses it).
        tail : {False, True, "continuous", "step"}
            Add an ``"Urbach"`` tail (needs ``axis="energy"``). True is
            ``"continuous"``: :class:`~hyperspy_perovskite.components.ContinuousUrbachTail`
            with its edge ``E0`` free and its broadening twinned to the band
            width. ``"step"``: :class:`~hyperspy_perovskite.components.UrbachTail`
            with ``E0`` tied to the band centre (biased when the edge is not
            at the centre). Its band is NaN where the tail is not identified
            (reason ``"band tail not identified"``: hold or share its shape, below).
        band : {"gaussian", "asymmetric", "lorentzian", "voigt"} or tuple
            :class:`~hyperspy_perovskite.components.GaussianEmission`,
            :class:`~hyperspy_perovskite.components.AsymmetricEmission` (tail
            on the low-energy side), HyperSpy's ``Lorentzian`` or
            :class:`~hyperspy_perovskite.components.VoigtEmission` (quantum emitters). A
            tuple gives one shape per band (``("asymmetric", "gaussian")``), named
            (``"Emission"``: the first, on the strongest band), not by energy. An
            asymmetric band whose ``tau`` is not identified, with another band
            unresolved on its tail side: both NaN ("asymmetric tail and minor band not
            identified").
        background : {"offset", "linear", "none", "energy_offset"}
            ``"offset"`` (default) is a level constant in the measured
            space (a detector dark level): an ``Offset`` on the axis the data
            were recorded on, and, for wavelength data fitted with
            ``axis="energy"``, a
            :class:`~hyperspy_perovskite.components.WavelengthOffset`: the same
            level carried through the Jacobian. ``"linear"`` is a first-order
            polynomial on the fitted axis; ``"energy_offset"`` a constant on
            the energy axis (both warn on the energy axis).
        axis : {"wavelength", "energy"}
            Fit on the wavelength axis (nm) or on photon energy (eV) after
            :meth:`to_eV` with its Jacobian (air wavelengths, as LumiSpy).
            The model then belongs to the converted signal (``m.signal``);
            this signal is not modified. The converted intensity is per meV,
            so a band area ``A`` over eV is the wavelength-integrated counts/1000.
        signal_range : tuple, optional
            ``(start, end)`` of the fitted range: numbers in the unit of
            ``axis`` (nm or eV), strings or pint quantities (``("690 nm",
            "0.73 um")``), or a quantity of two values.
        mask : array of bool, optional
            Navigation-shaped; True pixels are not fitted (their parameters
            are NaN with ``is_set`` False).
        poisson : bool
            Weight the fit for photon counting, with the variance estimated
            as the counts smoothed over 7 channels (at least 1; see
            :func:`~hyperspy_perovskite.analysis.cl_maps.poisson_variance`).
            The data are first checked to look like counts (non-negative,
            integer, variance near the mean;
            :func:`~hyperspy_perovskite.analysis.cl_checks.counts_check`) and
            a warning says why when they do not. Default (False): an existing
            ``metadata.Signal.Noise_properties.variance`` is used, or the fit
            is unweighted as ``m.multifit()``; on data that look like counts
            its errors are then the sandwich covariance of the unweighted
            estimator under Poisson noise (``_cl_fit.count_kwargs``).
        spikes : bool
            Replace one- and two-channel spikes (cosmic rays) by the running
            median before fitting
            (:func:`~hyperspy_perovskite.analysis.cl_checks.remove_spikes`);
            this signal is not modified.
        bounded : bool
            Keep parameters within their bounds (A >= 0, sigma > 0, Eu > 0).
        max_iterations : int
            Levenberg-Marquardt iterations per pixel.
        %s
        %s
        urbach_energy, urbach_edge : None or float, str, (value, std)
            With ``tail=True``, both or neither: None fits ``Eu`` and the
            edge ``E0`` per pixel; values (eV, or ``"25 meV"``) hold ``Eu``
            and the edge's offset below the band centre (``E0 = centre -
            urbach_edge``) in every pixel; ``urbach_energy="shared"`` fits
            one ``Eu`` for all fitted pixels (``m.shared_urbach_energy``),
            pixels rejecting it flagged. See
            :mod:`~hyperspy_perovskite.signals._cl_shared`.

        Returns
        -------
        hyperspy.models.model1d.Model1D
            The fitted :class:`~hyperspy_perovskite.models.EmissionModel`:
            per-pixel outcome in ``m.fit_flags`` (and ``m.fast_fit_result``),
            the main band's validity (:meth:`emission_maps`) in ``m.validity``,
            both kept by ``m.store`` and saved files. Pixels not converged or
            masked have ``is_set`` False.

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
        settings = _cl_fit.FitSettings(
            n_peaks, band, tail, background, axis, (urbach_energy, urbach_edge)
        )
        options = resolve_options(
            self, show_progressbar=show_progressbar, num_workers=num_workers
        )
        fit_kwargs = dict(
            bounded=bounded,
            max_iterations=max_iterations,
            show_progressbar=options.show_progressbar,
            num_workers=options.num_workers,
        )
        return _cl_fit.fit(
            self, settings, signal_range, mask, poisson, spikes, fit_kwargs
        )

    fit_emission.__doc__ %= (
        OPTIONS_PARAMETERS["show_progressbar"],
        OPTIONS_PARAMETERS["num_workers"],
    )

    # ------------------------------------------------------------------- maps
    def emission_maps(
        self,
        model,
        component=None,
        n_sigma=3.0,
        resolution=None,
        max_reduced_chisq=None,
        residual_test=True,
        max_residual=0.1,
        keep_invalid=False,
    ):
        """Maps of a fitted emission band with uncertainties and validity.

        The same as ``model.emission_maps(...)``
        (:meth:`~hyperspy_perovskite.models.EmissionModel.emission_maps`).
        Every map is NaN where the fit is not valid (``keep_invalid=True``
        keeps the raw values); the validity is built from all parameters
        (see :func:`~hyperspy_perovskite.signals._cl_statistics.emission_validity`)
        and travels in ``metadata.Validity``.

        Parameters
        ----------
        model : hyperspy.models.model1d.Model1D
            From :meth:`fit_emission` (or restored from a file).
        component : str or component, optional
            Band to map (default ``"Emission"``, the higher-energy band).
        n_sigma : float
            Significance threshold (band and tail amplitudes, residual test).
        resolution : float or str, optional
            Spectral resolution (FWHM) in the unit of the fitted axis (nm or
            eV; a string with a unit such as ``"0.5 nm"`` is converted):
            narrower bands are rejected. Default: one channel.
        max_reduced_chisq : float, optional
            Also reject pixels whose reduced chi-squared exceeds this.
        residual_test : bool
            Reject pixels whose residuals keep structure that is significant
            (runs test) and larger than ``max_residual`` times the band
            height: the chosen model does not describe the data.
        max_residual : float
        keep_invalid : bool

        Returns
        -------
        dict of hyperspy signals
            See :func:`~hyperspy_perovskite.signals._cl_statistics.emission_maps`.

        Examples
        --------
        >>> from hyperspy_perovskite.data import simulated_emission_map
        >>> s, truth = simulated_emission_map(shape=(4, 4), seed=0)
        >>> s.set_signal_type("CL_STEM_perovskite")
        >>> maps = s.emission_maps(s.fit_emission())
        >>> int(maps["valid"].data.sum())
        16
        """
        from hyperspy_perovskite.models import EmissionModel

        # unbound: a plain Model1D holding the same components works as well
        return EmissionModel.emission_maps(
            model,
            component=component,
            n_sigma=n_sigma,
            resolution=resolution,
            max_reduced_chisq=max_reduced_chisq,
            residual_test=residual_test,
            max_residual=max_residual,
            keep_invalid=keep_invalid,
        )

    def urbach_energy_map(self, model, component=None, **kwargs):
        """Urbach energy map (meV) and its standard deviation from a tail fit.

        NaN where the tail is not valid (amplitude not significant, Eu out of
        its physical range or at a bound, or the band itself not valid).

        Parameters
        ----------
        model : hyperspy.models.model1d.Model1D
            From ``fit_emission(tail=True, axis="energy")``.
        component : str or tail component, optional
        **kwargs
            Passed to :meth:`emission_maps`.

        Returns
        -------
        eu, eu_std : hyperspy signals
        """
        from hyperspy_perovskite.models import EmissionModel

        return EmissionModel.urbach_energy_map(model, component=component, **kwargs)

    def integrated_intensity_map(
        self, signal_range, lazy_output=None, show_progressbar=None, num_workers=None
    ):
        """Intensity integrated over a spectral range, per pixel (no fit).

        X. Li et al., Nat. Commun. 14, 7612 (2023), Fig. 2d: the CL map
        integrated around the 710 nm emission.

        Parameters
        ----------
        signal_range : tuple
            ``(start, end)``: numbers in nm for a wavelength axis (whatever
            unit the file uses) or in eV for an energy axis, strings or pint
            quantities (``("0.69 um", "730 nm")``), or a quantity of two
            values.
        %s
        %s
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
        options = resolve_options(
            self,
            lazy_output=lazy_output,
            show_progressbar=show_progressbar,
            num_workers=num_workers,
        )
        s = self._fit_signal(self._spectral_kind()[1])
        x1, x2 = _cl_axes.window(s, signal_range)
        out = s.isig[x1:x2].integrate1D(-1)
        ax = s.axes_manager.signal_axes[0]
        out.metadata.General.title = f"Integrated intensity {x1:g}-{x2:g} {ax.units}"
        out.metadata.Signal.quantity = f"intensity (counts {ax.units})"
        out = out.T if out.axes_manager.navigation_dimension else out
        return as_requested(out, options)

    integrated_intensity_map.__doc__ %= (
        OPTIONS_PARAMETERS["lazy_output"],
        OPTIONS_PARAMETERS["show_progressbar"],
        OPTIONS_PARAMETERS["num_workers"],
    )

    def centroid(
        self,
        signal_range=None,
        subtract_baseline=True,
        lazy_output=None,
        show_progressbar=None,
        num_workers=None,
    ):
        """Intensity-weighted mean wavelength (or energy) per pixel, no fit.

        LumiSpy's ``centroid`` with the same name and ``signal_range``, made
        vectorised (one pass over the data, lazy stays lazy), unit-safe (an
        axis in mm is read as such) and, by default, with each spectrum's
        baseline removed so that a flat background does not pull the centroid
        to the middle of the range.

        Parameters
        ----------
        signal_range : tuple, optional
            ``(start, end)``: numbers in nm (wavelength axis) or eV, strings
            or pint quantities, or a quantity of two values.
        subtract_baseline : bool
            Remove each spectrum's 10th percentile first (see
            :func:`~hyperspy_perovskite.analysis.cl_maps.centroid`).
        %s
        %s
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
        >>> np.round(s.centroid().data, 1)
        array([712., 712.])
        """
        options = resolve_options(
            self,
            lazy_output=lazy_output,
            show_progressbar=show_progressbar,
            num_workers=num_workers,
        )
        s = self._fit_signal(self._spectral_kind()[1])
        if signal_range is not None:
            x1, x2 = _cl_axes.window(s, signal_range)
            s = s.isig[x1:x2]
        ax = s.axes_manager.signal_axes[0]
        data = centroid(ax.axis, s.data, subtract_baseline=subtract_baseline)
        return wrap_navigation_map(
            compute(data, options),
            s,
            title="Centroid",
            quantity="Centroid",
            units=ax.units,
            options=options,
        )

    centroid.__doc__ %= (
        OPTIONS_PARAMETERS["lazy_output"],
        OPTIONS_PARAMETERS["show_progressbar"],
        OPTIONS_PARAMETERS["num_workers"],
    )

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

        Returns a :class:`matplotlib.figure.Figure`; see
        :func:`hyperspy_perovskite.signals._cl_plots.plot_emission_statistics`.
        """
        from hyperspy_perovskite.signals._cl_plots import plot_emission_statistics as f

        return f(maps, bins=bins, valid=valid, intensity=intensity)


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
