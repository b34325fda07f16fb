"""A Gaussian luminescence emission band (CL / PL)."""

import math

import numpy as np
from hyperspy.component import _get_scaling_factor

from hyperspy_perovskite.analysis.cl_emission import SIGMA2FWHM, estimate_band
from hyperspy_perovskite.components._expression_cache import CachedExpression
from hyperspy_perovskite.fitting.kernels.builtin import gaussian, gaussian_block
from hyperspy_perovskite.fitting.registry import register_kernel

__all__ = ["GaussianEmission"]

_SQRT2PI = math.sqrt(2.0 * math.pi)


def _signal_slice(signal, x1, x2, only_current):
    """Axis values and data (spectral axis last) of ``signal`` in [x1, x2]."""
    axis = signal.axes_manager.signal_axes[0]
    i1, i2 = axis.value_range_to_indices(x1, x2)
    x = axis.axis[i1:i2]
    if only_current:
        data = np.asarray(signal._get_current_data()[i1:i2])[None]
    else:
        data = signal.data[..., i1:i2]
    return axis, x, data


class GaussianEmission(CachedExpression):
    r"""Gaussian emission band in the unit of the axis it is fitted on.

    .. math::

        f(x) = \frac{A}{\sigma\sqrt{2\pi}}
               \exp\left[-\frac{(x - x_0)^2}{2\sigma^2}\right]

    The same function and parameters as HyperSpy's ``Gaussian`` (``A`` area,
    ``centre``, ``sigma``), fitted on a wavelength (nm) or photon energy (eV)
    axis; Li et al., Nat. Commun. 14, 7612 (2023) fits one per pixel of a STEM-CL map
    (Fig. 2f, S10-S11). ``fwhm`` and ``height`` are derived, as in HyperSpy's
    ``Gaussian``. :meth:`estimate_parameters` is robust on noisy spectra with
    a background (half-maximum width on a smoothed spectrum, not moments).

    Parameters
    ----------
    A : float
        Area (counts x axis unit; counts when the axis is binned).
    centre : float
        Band centre.
    sigma : float
        Standard deviation; ``fwhm = 2 sqrt(2 ln 2) sigma``.

    Examples
    --------
    >>> from hyperspy_perovskite.components import GaussianEmission
    >>> g = GaussianEmission(A=100.0, centre=710.0, sigma=8.0)
    >>> round(g.fwhm, 2), round(g.height, 3)
    (18.84, 4.987)
    >>> bool(np.isclose(g.function(np.array([710.0]))[0], g.height))
    True
    """

    def __init__(self, A=1.0, centre=0.0, sigma=1.0, module=None, **kwargs):
        super().__init__(
            expression="A / (sigma * sqrt(2 * pi)) * exp(-(x - centre) ** 2 / "
            "(2 * sigma ** 2))",
            name="GaussianEmission",
            A=A,
            centre=centre,
            sigma=sigma,
            position="centre",
            module=module,
            autodoc=False,
            **kwargs,
        )
        self.A.bmin = 0.0
        self.A.bmax = None
        self.sigma.bmin = 1e-6
        self.sigma.bmax = None
        self.isbackground = False
        self.convolved = True

    @property
    def fwhm(self):
        """Full width at half maximum, ``2 sqrt(2 ln 2) sigma``."""
        return self.sigma.value * SIGMA2FWHM

    @fwhm.setter
    def fwhm(self, value):
        self.sigma.value = value / SIGMA2FWHM

    @property
    def height(self):
        """Peak height, ``A / (sigma sqrt(2 pi))``."""
        return self.A.value / (self.sigma.value * _SQRT2PI)

    @height.setter
    def height(self, value):
        self.A.value = value * self.sigma.value * _SQRT2PI

    def estimate_parameters(
        self, signal, x1, x2, only_current=False, baseline="offset"
    ):
        """Estimate ``A``, ``centre`` and ``sigma`` from the data in [x1, x2].

        Vectorised over the whole map (numpy or dask); see
        :func:`hyperspy_perovskite.analysis.cl_emission.estimate_band`.

        Parameters
        ----------
        signal : hyperspy.signals.Signal1D
        x1, x2 : float
            Spectral range used for the estimate (axis units).
        only_current : bool
            Estimate the current pixel only (else the whole map).
        baseline : {"offset", "linear", "none"}
            Background assumed under the band.

        Returns
        -------
        bool

        Examples
        --------
        >>> from hyperspy_perovskite.components import GaussianEmission
        >>> x = np.linspace(650, 770, 241)
        >>> s = hs.signals.Signal1D(5 + 100 * np.exp(-0.5 * ((x - 712) / 6) ** 2))
        >>> s.axes_manager[-1].offset, s.axes_manager[-1].scale = 650, 0.5
        >>> g = GaussianEmission()
        >>> g.estimate_parameters(s, 650, 770, only_current=True)
        True
        >>> round(g.centre.value, 1), round(g.sigma.value, 1)
        (712.0, 6.0)
        """
        super()._estimate_parameters(signal)
        axis, x, data = _signal_slice(signal, x1, x2, only_current)
        est = estimate_band(x, data, baseline=baseline)
        centre, sigma, area = est[..., 0], est[..., 1], est[..., 3]
        if axis.is_binned:
            area = area / _get_scaling_factor(signal, axis, centre)
        if only_current:
            self.centre.value = float(centre[0])
            self.sigma.value = float(sigma[0])
            self.A.value = float(area[0])
            return True
        if self.A.map is None:
            self._create_arrays()
        for p, v in ((self.A, area), (self.centre, centre), (self.sigma, sigma)):
            p.map["values"][:] = v
            p.map["is_set"][:] = True
        self.fetch_stored_values()
        return True


# --- compiled kernel (fast_multifit) ---
# The function of HyperSpy's Gaussian: its kernels, with the parameters in
# the kernel order (A, sigma, centre).

register_kernel(
    GaussianEmission,
    gaussian,
    ("A", "sigma", "centre"),
    block=gaussian_block,
    position="centre",
    amplitude="A",
    proportional_to="A",
)
