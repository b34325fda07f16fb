"""A simulated emission map with known truth, for the fitting engine.

One Gaussian emission band on a constant background per pixel, with Poisson
noise. Centres wander smoothly by a few nm around 710 nm and widths by a few
nm, the CsPbI3 emission seen in STEM-CL (Li et al., Nat. Commun. 14, 7612 (2023), Fig. 2:
peaks near 710 nm, centres varying by about +/-5 nm between particles).
"""

import numpy as np

__all__ = ["simulated_emission_map"]


def simulated_emission_map(
    shape=(64, 64),
    n_channels=512,
    wavelength_range=(600.0, 820.0),
    centre=710.0,
    centre_spread=5.0,
    sigma=12.0,
    sigma_spread=2.0,
    area=2.0e4,
    area_spread=0.3,
    offset=20.0,
    noise=True,
    seed=None,
    lazy=False,
):
    """Simulate a Gaussian-band-plus-offset spectrum image with Poisson noise.

    Parameters
    ----------
    shape : tuple of int
        Navigation shape (rows, columns).
    n_channels : int
        Number of wavelength channels.
    wavelength_range : (float, float)
        First and last channel wavelength in nm.
    centre, centre_spread : float
        Mean emission centre and the amplitude of its smooth variation (nm).
    sigma, sigma_spread : float
        Mean Gaussian sigma and the amplitude of its variation (nm).
    area, area_spread : float
        Mean integrated counts of the band (counts x nm / nm per channel) and
        its relative variation.
    offset : float
        Constant background in counts per channel.
    noise : bool
        Draw Poisson counts (True) or return the expectation (False).
    seed : int or None
        Random seed.
    lazy : bool
        Return a lazy signal.

    Returns
    -------
    signal : hyperspy.signals.Signal1D
        Counts with a wavelength axis in nm (not binned).
    truth : dict of numpy.ndarray
        ``A``, ``centre``, ``sigma``, ``offset`` per pixel, as the
        parameters of HyperSpy's Gaussian and Offset.

    Examples
    --------
    >>> from hyperspy_perovskite.data import simulated_emission_map
    >>> s, truth = simulated_emission_map(shape=(4, 5), n_channels=128, seed=0)
    >>> s.data.shape, truth["centre"].shape
    ((4, 5, 128), (4, 5))
    """
    import hyperspy.api as hs

    rng = np.random.default_rng(seed)
    rows, cols = shape
    yy, xx = np.mgrid[0:rows, 0:cols]
    phase = rng.uniform(0, 2 * np.pi, 3)
    u = 2 * np.pi * xx / max(cols, 1)
    v = 2 * np.pi * yy / max(rows, 1)
    centres = centre + centre_spread * np.sin(u + phase[0]) * np.cos(v + phase[1])
    sigmas = sigma + sigma_spread * np.cos(u + v + phase[2])
    areas = area * (1.0 + area_spread * np.sin(v + phase[0]) * np.sin(u + phase[2]))
    x = np.linspace(wavelength_range[0], wavelength_range[1], n_channels)
    scale = x[1] - x[0]
    g = np.exp(-0.5 * ((x - centres[..., None]) / sigmas[..., None]) ** 2)
    expected = areas[..., None] / (sigmas[..., None] * np.sqrt(2 * np.pi)) * g + offset
    data = rng.poisson(expected).astype(np.float64) if noise else expected
    s = hs.signals.Signal1D(data)
    s.metadata.General.title = "Simulated emission map"
    ax = s.axes_manager.signal_axes[0]
    ax.name, ax.units, ax.offset, ax.scale = "Wavelength", "nm", x[0], scale
    for axis, name in zip(s.axes_manager.navigation_axes, ("x", "y"), strict=False):
        axis.name, axis.units, axis.scale = name, "nm", 10.0
    truth = {
        "A": areas,
        "centre": centres,
        "sigma": sigmas,
        "offset": np.full(shape, float(offset)),
    }
    return (s.as_lazy() if lazy else s), truth
