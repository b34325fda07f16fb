"""Every metadata node the suite writes, named once.

HyperSpy's convention: capitalised nodes, lowercase leaves, the units of a leaf
``x`` in ``x_units``. The suite writes only the nodes below (documented in the
metadata page of the user guide) and adds nothing inside HyperSpy's own
``Signal`` node beyond what HyperSpy defines (``quantity``,
``Noise_properties``).

=========================== =================================================
node                        what
=========================== =================================================
``Stimulus``                bias condition, time-resolved logs, dose
                            (:mod:`hyperspy_perovskite.stimulus.schema`)
``Device.Geometry``         stack direction, band width, layers, interfaces
                            (:class:`DeviceGeometry`)
``Device.Series``           times and labels of maps stacked into a series
``Device.Profile``          how a profile across the stack was made (band
                            width, bin size, reference interface, blur)
``Device.JV``               J-V measurement: area, illumination, scan rate,
                            temperature, scan directions
                            (:mod:`hyperspy_perovskite.signals.jv`)
``Validity``                per-pixel validity of a result
                            (:class:`hyperspy_perovskite.validity.Validity`)
``Results.<Name>``          tables that belong to a signal
                            (:class:`hyperspy_perovskite.results.ResultTable`)
``Processing.<Step>``       provenance of the suite's processing steps
                            (:func:`record_processing`)
``Dose``                    on a dose trace (``electron_dose``): dose-rate
                            source, pre-dose, guideline, critical dose and
                            per-region flags
``Device.Migration``        on migration metrics: interface, distance, side,
                            layer, X-ray line
``Fringe_tracking``         on fringe power traces: d-spacings, tolerance,
                            directions, tile size, pixel size
``Holography``              on holography profiles: interaction constant,
                            beam energy, thickness, permittivity, smoothing
``Drift``                   on drift shifts (``estimate_drift``): reference
                            frame, upsampling, shift units, blank handling
``Diffraction_analysis``    on SAED time traces (``hkl_intensities``,
                            ``amorphous_fraction``): phase, families, ring and
                            halo widths, background order, radial range
``Diffraction_calibration`` on operando 4D-STEM series and their strain
                            results: rotation of the pattern relative to the
                            scan (the device frame of the strain)
=========================== =================================================

HyperSpy's own nodes (``General``, ``Signal``, ``Acquisition_instrument``,
``Sample``, ``_HyperSpy``) are used as HyperSpy, exSpy and LumiSpy define them.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "STIMULUS",
    "DEVICE_GEOMETRY",
    "DEVICE_SERIES",
    "DEVICE_JV",
    "DEVICE_PROFILE",
    "DOSE",
    "DRIFT",
    "DIFFRACTION_ANALYSIS",
    "DIFFRACTION_CALIBRATION",
    "DEVICE_MIGRATION",
    "FRINGE_TRACKING",
    "HOLOGRAPHY",
    "SUITE_NODES",
    "HYPERSPY_NODES",
    "HYPERSPY_SIGNAL_KEYS",
    "VALIDITY",
    "RESULTS",
    "PROCESSING",
    "SPECTRAL_RESOLUTION",
    "DeviceGeometry",
    "record_processing",
]

STIMULUS = "Stimulus"
DEVICE_GEOMETRY = "Device.Geometry"
DEVICE_SERIES = "Device.Series"
DEVICE_JV = "Device.JV"
VALIDITY = "Validity"
RESULTS = "Results"
PROCESSING = "Processing"
DEVICE_PROFILE = "Device.Profile"
DOSE = "Dose"
DRIFT = "Drift"
DIFFRACTION_ANALYSIS = "Diffraction_analysis"
DIFFRACTION_CALIBRATION = "Diffraction_calibration"
DEVICE_MIGRATION = "Device.Migration"
FRINGE_TRACKING = "Fringe_tracking"
HOLOGRAPHY = "Holography"

#: Every node the suite writes (top level, or ``Device.<Name>``); the metadata
#: page of the user guide documents each, and a test checks every result of
#: every public method against this list.
SUITE_NODES = (
    STIMULUS,
    DEVICE_GEOMETRY,
    DEVICE_SERIES,
    DEVICE_PROFILE,
    DEVICE_JV,
    VALIDITY,
    RESULTS,
    PROCESSING,
    DOSE,
    DRIFT,
    DIFFRACTION_ANALYSIS,
    DIFFRACTION_CALIBRATION,
    DEVICE_MIGRATION,
    FRINGE_TRACKING,
    HOLOGRAPHY,
)
#: HyperSpy's own top-level nodes (also used by exSpy, LumiSpy and pyxem).
HYPERSPY_NODES = ("General", "Signal", "Acquisition_instrument", "Sample", "_HyperSpy")
#: What HyperSpy defines inside ``metadata.Signal``: the suite adds nothing else.
HYPERSPY_SIGNAL_KEYS = (
    "signal_type",
    "quantity",
    "Noise_properties",
    "signal_origin",
    "FFT",
    "record_by",
    "binned",
    "ragged",
)
#: Spectral resolution (FWHM) of a luminescence spectrometer: a number in nm
#: or a string with its unit ("0.5 nm", "2 meV"); read by the CL/PL validity
#: (LumiSpy's ``Acquisition_instrument.Spectrometer`` node).
SPECTRAL_RESOLUTION = "Acquisition_instrument.Spectrometer.resolution"


@dataclass
class DeviceGeometry:
    """Geometry of a device cross-section: the ONE reader/writer of
    ``metadata.Device.Geometry``.

    All lengths are in nm, measured in the calibrated navigation coordinates
    of the map (``start``/``end``) or along the stack line from ``start``
    (``interface_positions``).

    Attributes
    ----------
    start, end : tuple of float
        ``(x, y)`` in nm: the stack runs from ``start`` to ``end``.
    interface_positions : list of float
        Distances from ``start`` in nm, increasing.
    interface_names : list of str
        One per interface (``"ITO/perovskite"`` when layers are named).
    layers : list of str
        Layer names from start to end (one more than the interfaces), or empty.
    width : float or None
        Band width in nm for profiles across the stack (None: whole map).
    method : str
        ``"manual"``, ``"roi"`` or ``"automatic"``.
    confidence : float or None
        For automatic geometry, a figure between 0 and 1.
    interface_std, interface_width : list of float or None
        For automatic geometry: the standard deviation (nm) of each interface
        position and the fitted edge width (Gaussian sigma, nm).
    interface_valid : list of bool or None
        For automatic geometry: whether each interface is resolved and
        significant (the reasons are in ``Device.Geometry.interface_reasons``).

    Examples
    --------
    >>> import hyperspy.api as hs, numpy as np
    >>> from hyperspy_perovskite.metadata import DeviceGeometry
    >>> g = DeviceGeometry((0, 5), (100, 5), [40.0, 80.0],
    ...                    layers=["SnO2", "perovskite", "Spiro"])
    >>> g.interface_names
    ['SnO2/perovskite', 'perovskite/Spiro']
    >>> s = hs.signals.Signal1D(np.zeros(4))
    >>> g.to_metadata(s.metadata)
    >>> DeviceGeometry.from_metadata(s.metadata).interface("perovskite/Spiro")
    80.0
    """

    start: tuple
    end: tuple
    interface_positions: list = field(default_factory=list)
    interface_names: list | None = None
    layers: list = field(default_factory=list)
    width: float | None = None
    method: str = "manual"
    confidence: float | None = None
    interface_std: list | None = None
    interface_width: list | None = None
    interface_valid: list | None = None

    def __post_init__(self):
        self.start = tuple(float(v) for v in self.start)
        self.end = tuple(float(v) for v in self.end)
        if len(self.start) != 2 or len(self.end) != 2:
            raise ValueError("start and end are (x, y) points in nm.")
        self.interface_positions = [float(v) for v in self.interface_positions]
        if np.any(np.diff(self.interface_positions) <= 0):
            raise ValueError(
                "Interfaces must be given in increasing order along the stack, "
                f"got {self.interface_positions} nm."
            )
        self.layers = [str(v) for v in (self.layers or [])]
        n = len(self.interface_positions)
        if self.layers and len(self.layers) != n + 1:
            raise ValueError(
                f"{len(self.layers)} layers for {n} interfaces: give one more "
                "layer name than interfaces (from start to end)."
            )
        if self.interface_names is None:
            if self.layers:
                self.interface_names = [
                    f"{a}/{b}"
                    for a, b in zip(self.layers[:-1], self.layers[1:], strict=True)
                ]
            else:
                self.interface_names = [f"interface_{i}" for i in range(n)]
        self.interface_names = [str(v) for v in self.interface_names]
        if len(self.interface_names) != n:
            raise ValueError(f"{len(self.interface_names)} names for {n} interfaces.")
        if len(set(self.interface_names)) != n:
            raise ValueError(
                f"Interface names must be unique, got {self.interface_names}."
            )
        if self.width is not None:
            self.width = float(self.width)
            if not self.width > 0:
                raise ValueError(f"width must be positive (nm), got {self.width}.")
        if self.length <= 0:
            raise ValueError("start and end coincide: give two distinct points.")

    @property
    def length(self):
        """Length of the stack line in nm."""
        return float(np.hypot(self.end[0] - self.start[0], self.end[1] - self.start[1]))

    @property
    def direction(self):
        """Unit vector from start to end."""
        d = np.subtract(self.end, self.start)
        return d / np.hypot(*d)

    @property
    def interfaces(self):
        """``{name: position in nm}``."""
        return dict(zip(self.interface_names, self.interface_positions, strict=True))

    def interface(self, name):
        """Position (nm) of the interface ``name``; a clear error if unknown."""
        if name not in self.interfaces:
            raise KeyError(
                f"No interface {name!r}; the device geometry has "
                f"{self.interface_names or 'none'}."
            )
        return self.interfaces[name]

    def layer_bounds(self, layer):
        """``(start, end)`` in nm of a named layer along the stack."""
        if layer not in self.layers:
            raise KeyError(
                f"No layer {layer!r}; the layers are {self.layers or 'unnamed'}."
            )
        edges = [0.0, *self.interface_positions, self.length]
        i = self.layers.index(layer)
        return edges[i], edges[i + 1]

    def to_metadata(self, metadata):
        """Write ``metadata.Device.Geometry`` (replacing any previous one)."""
        node = {
            "start": list(self.start),
            "end": list(self.end),
            "position_units": "nm",
            "interface_positions": list(self.interface_positions),
            "interface_names": list(self.interface_names),
            "layers": list(self.layers),
            "method": self.method,
        }
        if self.width is not None:
            node["width"] = self.width
        if self.confidence is not None:
            node["confidence"] = float(self.confidence)
        for key in ("interface_std", "interface_width", "interface_valid"):
            value = getattr(self, key)
            if value is not None:
                cast = bool if key == "interface_valid" else float
                node[key] = [cast(v) for v in value]
        if metadata.has_item(DEVICE_GEOMETRY):
            del metadata.Device.Geometry
        metadata.set_item(DEVICE_GEOMETRY, node)

    @classmethod
    def from_metadata(cls, metadata, required=True):
        """Read ``metadata.Device.Geometry``.

        Parameters
        ----------
        metadata : hyperspy.misc.utils.DictionaryTreeBrowser
        required : bool
            Raise when there is none (default); otherwise return None.
        """
        if not metadata.has_item(f"{DEVICE_GEOMETRY}.start"):
            if not required:
                return None
            raise ValueError(
                "No device geometry in metadata.Device.Geometry: set it with "
                "s.set_device_geometry(start, end, interfaces=..., layers=...) or "
                "s.find_device_geometry()."
            )
        g = metadata.get_item(DEVICE_GEOMETRY)
        units = g.get_item("position_units", "nm")
        if units != "nm":
            raise ValueError(f"Device.Geometry positions in {units!r}; nm expected.")
        width = g.get_item("width", None)
        width = None if width is None or (np.isscalar(width) and width < 0) else width
        return cls(
            tuple(g.start),
            tuple(g.end),
            list(g.get_item("interface_positions", [])),
            list(g.get_item("interface_names", [])) or None,
            list(g.get_item("layers", [])),
            width,
            g.get_item("method", "manual"),
            g.get_item("confidence", None),
            *(
                _list_or_none(g.get_item(key, None))
                for key in ("interface_std", "interface_width", "interface_valid")
            ),
        )

    @classmethod
    def from_signal(cls, signal, required=True):
        """Read the geometry of a signal (``signal.metadata``)."""
        return cls.from_metadata(signal.metadata, required=required)


def _list_or_none(value):
    return None if value is None else list(value)


def record_processing(metadata, step, **parameters):
    """Record a processing step and its parameters under ``Processing.<step>``.

    Values that HyperSpy cannot store (None, objects) are stored as strings;
    the package version and the UTC time are added.

    Examples
    --------
    >>> import hyperspy.api as hs, numpy as np
    >>> from hyperspy_perovskite.metadata import record_processing
    >>> s = hs.signals.Signal1D(np.zeros(4))
    >>> record_processing(s.metadata, "Drift_correction", method="phase correlation")
    >>> s.metadata.Processing.Drift_correction.method
    'phase correlation'
    """
    from hyperspy_perovskite import __version__

    node = {
        "package": "hyperspy_perovskite",
        "version": __version__,
        "time": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    for key, value in parameters.items():
        node[key] = _storable(value)
    metadata.set_item(f"{PROCESSING}.{step}", node)


def _storable(value):
    if value is None:
        return "None"
    if isinstance(value, (bool, int, float, str, np.ndarray, np.generic)):
        return value
    if isinstance(value, (list, tuple)):
        try:
            return np.asarray(value).tolist()
        except (ValueError, TypeError):
            return str(value)
    if isinstance(value, dict):
        return {str(k): _storable(v) for k, v in value.items()}
    return str(value)
