"""Spectral-axis logic of luminescence spectrum images (no HyperSpy objects).

Units themselves are parsed by :mod:`hyperspy_perovskite.units` (pint through
HyperSpy's registry): this module only adds what is specific to a spectral
axis of light.

- Instrument files write wavelength units in LaTeX or long forms
  (``"$\\mu$m"``, ``"\\si{\\micro\\metre}"``, ``"nanometre"``); they are reduced
  to plain unit text before :func:`~hyperspy_perovskite.units.parse_unit`.
- Whether the axis is a wavelength or a photon energy is decided by the
  dimension of its unit (a length or an energy), never by the string.
- An axis whose values are implausible for light in its unit (an Attolight
  ``.sur`` file in mm read as nm) is refused by
  :func:`check_wavelength_values`; a non-monotonic axis by
  :func:`check_monotonic`.

Wavelengths are those measured in air by the spectrometer; conversions to
photon energy use the refractive index of air (E. R. Peck and K. Reeder,
J. Opt. Soc. Am. 62, 958 (1972)), as LumiSpy's ``to_eV`` does.
"""

import functools
import re

import numpy as np

from hyperspy_perovskite.units import UnitError, parse_quantity, parse_unit

__all__ = [
    "parse_spectral_unit",
    "check_wavelength_values",
    "check_monotonic",
]

_MICRO = ("µ", "μ", "u", "micro", "\\mu", "\\micro", "mu")
# long and LaTeX (siunitx) spellings that pint does not read
_ALIASES = {
    "\\nano\\metre": "nm",
    "\\nano\\meter": "nm",
    "\\milli\\metre": "mm",
    "\\milli\\meter": "mm",
    "\\micro\\metre": "um",
    "\\micro\\meter": "um",
    "\\angstrom": "angstrom",
    "å": "angstrom",
    "\\electronvolt": "eV",
    "\\milli\\electronvolt": "meV",
}
_PRETTY = {"micrometer": "µm", "angstrom": "Å", "nanometer": "nm"}


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


def _plain_unit(units):
    """Plain unit text for :func:`~hyperspy_perovskite.units.parse_unit`."""
    u = _strip_latex(units)
    u = _ALIASES.get(u.lower(), u)
    if u.endswith("m") and u[:-1] in _MICRO:
        u = "um"
    return u


def parse_spectral_unit(units):
    r"""Canonical unit, kind and factor of a spectral axis unit string.

    Parameters
    ----------
    units : str
        The unit string as written by the instrument or the user.

    Returns
    -------
    canonical : str
        The unit as the suite writes it (``"nm"``, ``"µm"``, ``"mm"``,
        ``"Å"``, ``"eV"``, ``"meV"``...).
    kind : str
        ``"wavelength"`` (a length) or ``"energy"`` (a photon energy).
    factor : float
        Multiply a value in ``units`` by ``factor`` to get nm (wavelength) or
        eV (energy).

    Raises
    ------
    hyperspy_perovskite.units.UnitError
        (a ValueError) If the unit is missing or not a length or an energy.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.cl_units import parse_spectral_unit
    >>> parse_spectral_unit("mm")
    ('mm', 'wavelength', 1000000.0)
    >>> parse_spectral_unit(r"$\mu$m")
    ('µm', 'wavelength', 1000.0)
    >>> parse_spectral_unit("meV")
    ('meV', 'energy', 0.001)
    """
    if isinstance(units, str):  # pint's parse once per spelling
        return _parse_spectral_unit(units)
    return _parse_spectral_unit.__wrapped__(units)


@functools.lru_cache(maxsize=64)
def _parse_spectral_unit(units):
    how = "Set them, e.g. `s.axes_manager.signal_axes[0].units = 'nm'`."
    if not isinstance(units, str) or units.strip() in ("", "<undefined>"):
        raise UnitError(
            f"The spectral axis has no units ({units!r}), so wavelength and "
            f"energy cannot be told apart. {how}"
        )
    plain = _plain_unit(units)
    for kind, target in (("wavelength", "nm"), ("energy", "eV")):
        try:
            unit = parse_unit(plain, expected=target, name="spectral axis")
        except UnitError:
            continue
        factor = parse_quantity(1.0, target, name="spectral axis", default_unit=plain)
        text = f"{unit:~P}" if str(unit) not in _PRETTY else _PRETTY[str(unit)]
        return text.replace("μ", "µ"), kind, float(f"{factor:.12g}")
    raise UnitError(
        f"Spectral axis unit {units!r} is not understood: it is neither a "
        "wavelength (nm, µm/um, mm, m, Å) nor a photon energy (eV, meV). " + how
    )


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
