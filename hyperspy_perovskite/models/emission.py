"""``EmissionModel``: a model of luminescence spectra (CL / PL) maps."""

from __future__ import annotations

import math

import numpy as np

from hyperspy_perovskite.models.base import PerovskiteModel1D
from hyperspy_perovskite.validity import apply_validity

__all__ = ["EmissionModel"]

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
