"""Tables of the units layer (:mod:`hyperspy_perovskite.units`).

Spellings that instrument files and users write and pint does not read, the
names of dimensions for error messages and the figure labels of units. Data
only: every conversion is pint's, through HyperSpy's registry.
"""

import re

#: Unit strings that say "this axis is not calibrated" (not a physical unit).
_UNCALIBRATED = {
    "",
    "<undefined>",
    "undefined",
    "none",
    "px",
    "pixel",
    "pixels",
    "z",
    "frame",
    "frames",
    "index",
    "channel",
    "channels",
    "t.u.",
    "a.u.",
    "au",
    "arb. units",
}


# spellings pint does not know (instrument files, LaTeX, spreadsheets)
# characters pint does not know, replaced wherever they stand
_SYMBOLS = {
    "µ": "u",  # micro sign
    "μ": "u",  # Greek mu
    "\u00c5": "angstrom",  # Latin capital A with ring
    "\u212b": "angstrom",  # angstrom sign
    "Ω": "ohm",
    "°C": "degC",
    "e⁻": "elementary_charge",
    "k_A^-1": "1/angstrom",  # pyxem's reciprocal-space axes
    "k_nm^-1": "1/nm",
    "k_angstrom^-1": "1/angstrom",  # "k_Å^-1" after the Å above
    "angstrom-1": "1/angstrom",  # "Å-1", exports
}
# whole words of instrument files and spreadsheets (never inside a longer word)
_WORDS = {
    "deg C": "degC",
    "Degrees C": "degC",
    "Celsius": "degC",
    "e-": "elementary_charge",
    "sec": "s",
    "secs": "s",
    "seconds": "s",
    "Seconds": "s",
    "Milliseconds": "ms",
    "milliseconds": "ms",
    "mins": "min",
    "Volts": "V",
    "volts": "V",
    "Amps": "A",
    "amps": "A",
    "microns": "um",
    "micron": "um",
    "A-1": "1/A",  # reciprocal angstrom in exports (A by the expected dimension)
    "nm-1": "1/nm",
}


_DIMENSION_NAMES = {
    "m": "length",
    "s": "time",
    "A": "current",
    "V": "voltage",
    "eV": "energy",
    "K": "temperature",
    "Pa": "pressure",
    "ohm": "resistance",
    "W": "power",
    "1/m": "reciprocal length",
    "A/m^2": "current density",
    "elementary_charge/m^2": "electron dose",
    "elementary_charge/m^2/s": "electron dose rate",
    "W/m^2": "irradiance",
    "m^2/s": "diffusivity",
    "m^2/V/s": "mobility",
    "V/m": "electric field",
    "": "dimensionless number",
}


_PRETTY = {
    "angstrom": "Å",
    "A": "Å",
    "um": "µm",
    "micrometer": "µm",
    "degC": "°C",
    "1/A": "Å⁻¹",
    "1/angstrom": "Å⁻¹",
    "1/nm": "nm⁻¹",
    "e/A^2": "e⁻/Å²",
    "e/A^2/s": "e⁻/(Å² s)",
    "e/A**2": "e⁻/Å²",
    "e/A**2/s": "e⁻/(Å² s)",
    "mA/cm^2": "mA/cm²",
    "mW/cm^2": "mW/cm²",
    "cm^2": "cm²",
    "ohm": "Ω",
    "Ohm": "Ω",
    "ohm cm^2": "Ω cm²",
    "cm^2/s": "cm²/s",
    "cm^2/(V s)": "cm²/(V s)",
}

#: pint's names of a pixel ("px" is a CSS pixel, 1/96 inch, to pint: never
#: converted as a length here)
_PIXEL_NAMES = {"css_pixel", "pixel", "px", "pix", "dot", "pel", "picture_element"}
_PIXEL_TEXT = re.compile(r"(?:px|pix|pixels?)(?:\s*(?:\*\*|\^)\s*([12])|(²))?")
