"""Units and validity of the spectral axis of luminescence spectrum images.

Plain numpy, no HyperSpy objects. Instrument files write the wavelength unit
in many ways: ``"nm"``, ``"um"``, ``"µm"`` (micro sign U+00B5), ``"μm"`` (Greek
mu U+03BC), ``"mm"`` (Attolight .sur files), ``"$\\mu$m"``,
``"\\mathrm{nm}"``... LumiSpy's ``to_eV`` recognises only ``"µm"`` and treats
every other unit as nm, so a wavelength axis in mm gives energies wrong by a
factor of 10**6. :func:`parse_spectral_unit` maps each spelling to one
canonical unit and a factor to nanometres, or refuses it with a clear error;
:func:`check_wavelength_values` catches an axis whose values are implausible
for its unit (a unit label that is wrong).
"""

import re

import numpy as np

__all__ = [
    "WAVELENGTH_FACTORS_TO_NM",
    "ENERGY_FACTORS_TO_EV",
    "parse_spectral_unit",
    "check_wavelength_values",
    "check_monotonic",
]

#: Factor that converts a value in the canonical unit to nanometres.
WAVELENGTH_FACTORS_TO_NM = {
    "pm": 1e-3,
    "Å": 0.1,
    "nm": 1.0,
    "µm": 1e3,
    "mm": 1e6,
    "m": 1e9,
}
#: Factor that converts a value in the canonical unit to electronvolts.
ENERGY_FACTORS_TO_EV = {"eV": 1.0, "meV": 1e-3}

_MICRO = ("µ", "μ", "u", "micro", "\\mu", "\\micro", "mu")
_ALIASES = {
    "nm": "nm",
    "nanometer": "nm",
    "nanometers": "nm",
    "nanometre": "nm",
    "nanometres": "nm",
    "\\nano\\metre": "nm",
    "\\nano\\meter": "nm",
    "mm": "mm",
    "millimeter": "mm",
    "millimeters": "mm",
    "millimetre": "mm",
    "millimetres": "mm",
    "\\milli\\metre": "mm",
    "\\milli\\meter": "mm",
    "m": "m",
    "meter": "m",
    "meters": "m",
    "metre": "m",
    "metres": "m",
    "pm": "pm",
    "å": "Å",
    "angstrom": "Å",
    "\\angstrom": "Å",
    "\\micro\\metre": "µm",
    "\\micro\\meter": "µm",
    "micron": "µm",
    "microns": "µm",
    "micrometer": "µm",
    "micrometers": "µm",
    "micrometre": "µm",
    "micrometres": "µm",
    "ev": "eV",
    "\\electronvolt": "eV",
    "mev": "meV",
    "\\milli\\electronvolt": "meV",
}


def _strip_latex(units):
    r"""Remove LaTeX decoration: ``$...$``, ``\mathrm{...}``, ``\si{...}``,
    ``\text{...}``, braces, tildes, and spaces."""
    u = units.strip()
    u = u.replace("$", "")
    for _ in range(3):
        u = re.sub(
            r"\\(?:mathrm|text|textrm|rm|mbox|si|unit|SI)\s*\{([^{}]*)\}", r"\1", u
        )
    u = re.sub(r"\\(?:mathrm|textrm|rm)\b", "", u)
    u = u.replace("{", "").replace("}", "").replace("~", "").replace("\\,", "")
    u = u.replace("\\ ", "")
    return re.sub(r"\s+", "", u)


def parse_spectral_unit(units):
    r"""Canonical unit and kind of a spectral axis unit string.

    Parameters
    ----------
    units : str
        The unit string as written by the instrument or the user.

    Returns
    -------
    canonical : str
        ``"nm"``, ``"µm"``, ``"mm"``, ``"m"``, ``"pm"``, ``"Å"``, ``"eV"`` or
        ``"meV"``.
    kind : str
        ``"wavelength"`` or ``"energy"``.
    factor : float
        Multiply a value in ``canonical`` by ``factor`` to get nm
        (wavelength) or eV (energy).

    Raises
    ------
    ValueError
        If the unit is missing or not a wavelength or photon-energy unit.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.cl_units import parse_spectral_unit
    >>> parse_spectral_unit("mm")
    ('mm', 'wavelength', 1000000.0)
    >>> parse_spectral_unit(r"$\mu$m")
    ('µm', 'wavelength', 1000.0)
    >>> parse_spectral_unit(r"\mathrm{nm}")
    ('nm', 'wavelength', 1.0)
    """
    if (
        units is None
        or not isinstance(units, str)
        or units.strip()
        in (
            "",
            "<undefined>",
            "<Undefined>",
        )
    ):
        raise ValueError(
            f"The spectral axis has no units ({units!r}), so wavelength and energy "
            "cannot be told apart. Set them, e.g. "
            "`s.axes_manager.signal_axes[0].units = 'nm'`."
        )
    u = _strip_latex(units)
    low = u.lower()
    canonical = _ALIASES.get(low)
    if canonical is None and low.endswith("m"):
        prefix = u[:-1]
        if prefix in _MICRO or prefix.lower() in _MICRO:
            canonical = "µm"
    if canonical is None and u == "meV":
        canonical = "meV"
    if canonical is None:
        raise ValueError(
            f"Spectral axis unit {units!r} is not understood. Use a wavelength "
            "unit (nm, µm/um, mm, m, Å) or a photon energy unit (eV, meV), e.g. "
            "`s.axes_manager.signal_axes[0].units = 'nm'`."
        )
    if canonical in WAVELENGTH_FACTORS_TO_NM:
        return canonical, "wavelength", WAVELENGTH_FACTORS_TO_NM[canonical]
    return canonical, "energy", ENERGY_FACTORS_TO_EV[canonical]


#: Wavelengths (nm) a luminescence spectrometer can plausibly record: deep UV
#: to short-wave infrared.
PLAUSIBLE_NM = (100.0, 5000.0)
#: Photon energies (eV) matching :data:`PLAUSIBLE_NM` (hc = 1239.84 eV nm,
#: CODATA 2018).
PLAUSIBLE_EV = (1239.84198 / PLAUSIBLE_NM[1], 1239.84198 / PLAUSIBLE_NM[0])


def check_wavelength_values(values, units):
    """Refuse an axis whose values are implausible for light in ``units``.

    Parameters
    ----------
    values : array_like
        Axis values in ``units``.
    units : str
        Unit string (any spelling :func:`parse_spectral_unit` accepts).

    Returns
    -------
    kind : str
        ``"wavelength"`` or ``"energy"``.

    Raises
    ------
    ValueError
        If the values, read in ``units``, fall outside 100-5000 nm (or the
        matching 0.25-12.4 eV): the unit label is then almost certainly wrong.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.cl_units import check_wavelength_values
    >>> check_wavelength_values([0.0007, 0.00072], "mm")
    'wavelength'
    """
    canonical, kind, factor = parse_spectral_unit(units)
    v = np.asarray(values, dtype=float) * factor
    lo, hi = PLAUSIBLE_NM if kind == "wavelength" else PLAUSIBLE_EV
    vmin, vmax = np.nanmin(v), np.nanmax(v)
    if vmin < lo or vmax > hi:
        name = "nm" if kind == "wavelength" else "eV"
        raise ValueError(
            f"The spectral axis runs from {vmin:.4g} to {vmax:.4g} {name} when read "
            f"in its unit {units!r}, outside the range of luminescence "
            f"({lo:.4g}-{hi:.4g} {name}). The unit label is probably wrong: set "
            "`s.axes_manager.signal_axes[0].units` to the unit the values are in."
        )
    return kind


def check_monotonic(values):
    """Refuse an axis that is not finite and strictly monotonic.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.cl_units import check_monotonic
    >>> check_monotonic([1.0, 2.0, 3.0])
    1
    >>> check_monotonic([3.0, 2.0, 1.0])
    -1
    """
    v = np.asarray(values, dtype=float)
    if v.ndim != 1 or v.size < 2:
        raise ValueError("The spectral axis needs at least two values.")
    if not np.all(np.isfinite(v)):
        raise ValueError(
            "The spectral axis contains NaN or infinite values; recalibrate it."
        )
    d = np.diff(v)
    if np.all(d > 0):
        return 1
    if np.all(d < 0):
        return -1
    bad = int(np.flatnonzero(np.sign(d) != np.sign(d[0]))[0]) if np.any(d) else 0
    raise ValueError(
        "The spectral axis is not strictly monotonic (first break at index "
        f"{bad + 1}). Sort the channels or recalibrate the axis before fitting."
    )
