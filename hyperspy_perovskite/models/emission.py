"""``EmissionModel``: a model of luminescence spectra (CL / PL) maps."""

from __future__ import annotations

import math

import numpy as np

from hyperspy_perovskite.models.base import PerovskiteModel1D
from hyperspy_perovskite.validity import apply_validity

__all__ = ["EmissionModel"]


def _resolution(signal, resolution):
    """The resolution (FWHM) in the unit of ``signal``'s axis, or None.

    Given, or read from ``metadata`` (:data:`~hyperspy_perovskite.metadata.SPECTRAL_RESOLUTION`);
    a wavelength resolution on a photon-energy axis is converted at the
    middle of the axis, ``dE = dlambda E^2 n_air / hc``.
    """
    from hyperspy_perovskite.components.emission_bands import (
        WAVELENGTH_OFFSET_CONSTANT,
    )
    from hyperspy_perovskite.metadata import SPECTRAL_RESOLUTION
    from hyperspy_perovskite.units import UnitError, parse_quantity

    ax = signal.axes_manager.signal_axes[0]
    name = "resolution"
    if resolution is None:
        resolution = signal.metadata.get_item(SPECTRAL_RESOLUTION)
        if resolution is None:
            return None
        name = f"metadata.{SPECTRAL_RESOLUTION}"
        if ax.units == "eV" and not isinstance(resolution, str):
            resolution = f"{float(resolution)} nm"  # a number there is in nm
    try:
        return parse_quantity(resolution, ax.units, name=name)
    except UnitError:
        if ax.units != "eV":
            raise
    e = 0.5 * (ax.low_value + ax.high_value)
    dl = parse_quantity(resolution, "nm", name=name)
    return dl * e * e / (WAVELENGTH_OFFSET_CONSTANT * 1e3)


_SIGMA2FWHM = 2.0 * math.sqrt(2.0 * math.log(2.0))


class EmissionModel(PerovskiteModel1D):
    """Model of an emission-spectrum map whose bands are Gaussians.

    A :class:`~hyperspy_perovskite.models.PerovskiteModel1D` (flags,
    chi-squared and validity persist) with the maps derived from its
    emission bands (HyperSpy ``Gaussian`` or
    :class:`~hyperspy_perovskite.components.GaussianEmission` components).

    Examples
    --------
    >>> from hyperspy_perovskite.data import simulated_emission_map
    >>> from hyperspy_perovskite.fitting import fast_multifit
    >>> from hyperspy_perovskite.models import EmissionModel
    >>> s, truth = simulated_emission_map(shape=(4, 4), seed=0)
    >>> m = EmissionModel(s)
    >>> m.extend([hs.model.components1D.Gaussian(), hs.model.components1D.Offset()])
    >>> _ = fast_multifit(m, starting_values="estimate")
    >>> maps = m.band_maps()
    >>> sorted(maps)
    ['area', 'centre', 'fwhm', 'height']
    >>> bool(np.allclose(maps["fwhm"].data, 2.3548 * m[0].sigma.map["values"], rtol=1e-4))
    True
    """

    def __init__(self, signal1D, dictionary=None, **kwargs):
        super().__init__(signal1D, dictionary=None, **kwargs)
        # the Urbach energies judged by the resolution test (NaN: not yet;
        # signals._cl_urbach.eu_tested), kept by m.store and saved files
        self._eu_tested = np.full(self.chisq.data.shape, np.nan)
        self._whitelist["_eu_tested"] = None
        self._slicing_whitelist["_eu_tested"] = "inav"
        # the tail shape shared by the fitted pixels (signals._cl_shared)
        self._shared_urbach = {}
        self._whitelist["_shared_urbach"] = None
        self._shape_consistent = np.full(self.chisq.data.shape, np.nan)
        self._whitelist["_shape_consistent"] = None
        self._slicing_whitelist["_shape_consistent"] = "inav"
        # each tested pixel's step of Eu and its variance (shared_urbach_test)
        self._eu_score = np.full(self.chisq.data.shape + (2,), np.nan)
        self._whitelist["_eu_score"] = None
        self._slicing_whitelist["_eu_score"] = "inav"
        if dictionary is not None:
            self._load_dictionary(dictionary)

    def emission_maps(
        self,
        component=None,
        n_sigma=3.0,
        resolution=None,
        max_reduced_chisq=None,
        residual_test=True,
        max_residual=0.1,
        keep_invalid=False,
    ):
        """Maps of a fitted emission band with uncertainties and validity.

        The fit-derived maps of ``fit_emission``: see
        :func:`~hyperspy_perovskite.signals._cl_statistics.emission_maps`
        (``s.emission_maps(m)`` is the same). Every map is NaN where the fit
        is not valid (``keep_invalid=True`` keeps the raw values).

        Parameters
        ----------
        component : str or component, optional
            Band to map (default ``"Emission"``).
        n_sigma : float
            Significance threshold (band and tail amplitudes, residual test).
        resolution : float or str, optional
            Spectral resolution (FWHM) in the unit of the fitted axis (nm or
            eV, or a string with its unit such as ``"0.5 nm"``): narrower
            bands are rejected. Default: ``metadata.Acquisition_instrument.
            Spectrometer.resolution`` (a number in nm or a string with its
            unit; on an energy axis a wavelength resolution is converted at
            the middle of the fitted range), else one channel.
        max_reduced_chisq : float, optional
        residual_test : bool
        max_residual : float
        keep_invalid : bool

        Returns
        -------
        dict of hyperspy signals

        Examples
        --------
        >>> from hyperspy_perovskite.data import simulated_emission_map
        >>> s, truth = simulated_emission_map(shape=(4, 4), seed=0)
        >>> s.set_signal_type("CL_STEM_perovskite")
        >>> m = s.fit_emission()
        >>> maps = m.emission_maps()
        >>> maps["centre"].metadata.Signal.quantity, int(maps["valid"].data.sum())
        ('centre (nm)', 16)
        """
        from hyperspy_perovskite.signals import _cl_statistics
        from hyperspy_perovskite.signals._cl_limits import warn_unidentified_tails
        from hyperspy_perovskite.validity import Validity

        resolution = _resolution(self.signal, resolution)
        maps = _cl_statistics.emission_maps(
            self,
            component=component,
            n_sigma=n_sigma,
            resolution=resolution,
            max_reduced_chisq=max_reduced_chisq,
            residual_test=residual_test,
            max_residual=max_residual,
            keep_invalid=keep_invalid,
        )
        # the band's validity, which every map carries
        warn_unidentified_tails(Validity.from_metadata(maps["valid"].metadata))
        return maps

    @property
    def shared_urbach_energy(self):
        """The Urbach tail shape shared by the fitted pixels of
        ``fit_emission(urbach_energy="shared")``, or None: ``Eu`` and the
        edge's offset below the band centre (``edge``) in eV with their
        standard deviations (``Eu_std``, ``edge_std``; 0 where held), the
        number of pixels that determined them and how
        (:func:`~hyperspy_perovskite.signals._cl_shared.shared_fit`), and
        whether the map rejects the value (``rejected_by_map``: then it
        holds materials of different tails, ``Eu`` is an average of them and
        ``Eu_std``, which assumes one material, is not its error; measured on
        two materials: 0.03-0.10 meV while 0.5-0.8 meV off; fit the regions
        apart with ``mask``). Kept by ``m.store``, saved files and ``m.inav``
        (the region's value).

        Examples
        --------
        >>> from hyperspy_perovskite.data import simulated_emission_map
        >>> s, truth = simulated_emission_map(shape=(2, 2), seed=0)
        >>> s.set_signal_type("CL_STEM_perovskite")
        >>> s.fit_emission().shared_urbach_energy is None
        True
        """
        return dict(self._shared_urbach) if self._shared_urbach else None

    def shared_urbach_test(self, regions, false_discovery_rate=None):
        """Test whether each region of the map agrees with the shared Urbach
        energy of ``fit_emission(urbach_energy="shared")``: its pixels'
        score steps of ``Eu`` combined (Stouffer, the shared value's
        error added), a chi-squared of one degree of freedom per region,
        Benjamini-Hochberg over the regions. See
        :func:`~hyperspy_perovskite.signals._cl_region.shared_urbach_test`.

        Parameters
        ----------
        regions : array or hyperspy signal
            Navigation-shaped integer labels (0: no region), e.g. a
            particle segmentation or a user's mask; lazy ones are computed.
        false_discovery_rate : float, optional
            Over the regions (default 0.05).

        Returns
        -------
        ResultTable
            Per label: ``n_pixels``, ``Eu_change`` (meV, with its std),
            ``statistic``, ``p_value``, ``rejects``.

        Examples
        --------
        A map whose left half has a short tail (12 meV) and right half a long
        one (50 meV): the shared value suits neither half.

        >>> import warnings
        >>> from hyperspy_perovskite.data.emission_simulation import (
        ...     simulate_emission_spectra)
        >>> kw = dict(n_pixels=40, tail_fraction=0.3, edge_offset=0.03)
        >>> a, _ = simulate_emission_spectra(urbach_energy=0.012, seed=1, **kw)
        >>> b, _ = simulate_emission_spectra(urbach_energy=0.05, seed=2, **kw)
        >>> s = hs.stack([a, b], axis=0, show_progressbar=False)
        >>> s.set_signal_type("CL_STEM_perovskite")
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     m = s.fit_emission(tail=True, axis="energy",
        ...                        urbach_energy="shared", urbach_edge="30 meV")
        >>> halves = np.repeat([1, 2], 40)  # a label per pixel
        >>> t = m.shared_urbach_test(halves)
        >>> t["rejects"].tolist(), bool(t["Eu_change"][0] < 0 < t["Eu_change"][1])
        ([True, True], True)
        """
        from hyperspy_perovskite.signals._cl_region import shared_urbach_test

        return shared_urbach_test(self, regions, false_discovery_rate)

    def check_urbach_resolution(self, n_sigma=3.0, count_variance=None):
        """Test that the data resolve the Urbach energies of a model fitted
        otherwise than by ``fit_emission`` (which tests them after its fit),
        e.g. by ``m.multifit``: see
        :func:`~hyperspy_perovskite.signals._cl_urbach.check_urbach_resolution`.
        Returns the model.

        Examples
        --------
        >>> from hyperspy_perovskite.data import simulated_emission_map
        >>> s, truth = simulated_emission_map(shape=(4, 4), seed=0)
        >>> s.set_signal_type("CL_STEM_perovskite")
        >>> m = s.fit_emission()
        >>> m.check_urbach_resolution() is m  # no Urbach tail: nothing to test
        True
        """
        from hyperspy_perovskite.signals._cl_urbach import check_urbach_resolution

        return check_urbach_resolution(self, n_sigma, count_variance)

    def urbach_energy_map(self, component=None, **kwargs):
        """Urbach energy map (meV on an eV axis) and its standard deviation.

        NaN where the tail is not valid (amplitude not significant, Eu out of
        its physical range or at a bound, or the band itself not valid).

        Parameters
        ----------
        component : str or tail component, optional
        **kwargs
            Passed to :meth:`emission_maps`.

        Returns
        -------
        eu, eu_std : hyperspy signals
        """
        from hyperspy_perovskite.signals import _cl_statistics

        t = _cl_statistics._find(self, component, _cl_statistics._tail_classes())
        maps = _cl_statistics.emission_maps(self, tail=t, **kwargs)
        return maps["urbach_energy"], maps["urbach_energy_std"]

    def _bands(self):
        return [
            c
            for c in self
            if c.active
            and all(hasattr(c, n) for n in ("A", "sigma", "centre"))
            and type(c).__name__ in ("Gaussian", "GaussianEmission")
        ]

    def band_maps(self, component=None, keep_invalid=False):
        """Centre, FWHM, height and area maps of an emission band.

        Parameters
        ----------
        component : str, int, Component or None
            The band; None: the only Gaussian band of the model.
        keep_invalid : bool
            Keep raw values where the fit is not valid (NaN by default).

        Returns
        -------
        dict of str to hyperspy.signal.BaseSignal
            ``centre`` and ``fwhm`` in the signal axis units, ``height`` in
            data units, ``area`` in data x axis units (data units when the
            axis is binned); each carries the validity in its metadata.
        """
        if component is None:
            bands = self._bands()
            if len(bands) != 1:
                raise ValueError(
                    f"The model has {len(bands)} Gaussian emission bands; name "
                    "the one you want: band_maps(component='...')."
                )
            comp = bands[0]
        else:
            comp = self._get_component(component)
            if comp not in self._bands():
                raise ValueError(
                    f"{comp.name} is not a Gaussian emission band (Gaussian or "
                    "GaussianEmission)."
                )
        validity = self.validity
        if validity is None:
            raise ValueError(
                "The model has no validity yet: fit it (fast_multifit) or call "
                "m.update_validity() after m.multifit()."
            )
        units = self.axis.units
        area = comp.A.as_signal()
        sigma = np.asarray(comp.sigma.map["values"], float)
        derived = {
            "centre": (comp.centre.as_signal(), units),
            "fwhm": (area._deepcopy_with_new_data(_SIGMA2FWHM * sigma), units),
            "height": (
                area._deepcopy_with_new_data(
                    np.asarray(comp.A.map["values"], float)
                    / (sigma * math.sqrt(2.0 * math.pi))
                ),
                None,
            ),
            "area": (area, None),
        }
        out = {}
        for name, (sig, unit) in derived.items():
            sig.metadata.General.title = f"{comp.name} {name}"
            if unit is not None:
                sig.metadata.set_item("Signal.quantity", f"{name} ({unit})")
            out[name] = apply_validity(sig, validity, keep_invalid=keep_invalid)
        return out
