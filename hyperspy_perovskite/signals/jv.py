"""J-V curves of solar cells (signal type ``JV_curve``) and their Lazy twin.

Signal axis: voltage (V or mV, strictly increasing); data: current density in
mA/cm² with the photocurrent POSITIVE. Navigation: anything, typically a
``scan`` axis (reverse / forward, listed in ``metadata.Device.JV.
scan_directions``) and a ``condition`` axis (pristine, aged, recovered...).

``metadata.Device.JV`` (see the metadata page of the user guide)::

    area, area_units                  aperture area (cm^2)
    illumination                      "AM1.5G", "dark" or a description
    irradiance, irradiance_units      incident power density (mW/cm^2)
    scan_rate, scan_rate_units        V/s
    temperature, temperature_units    K
    scan_directions                   list of "reverse"/"forward" (axis "scan")
    conditions                        list of labels (axis "condition")
    sign_convention                   "photocurrent positive"

Methods are thin: they check the axes and metadata, call
:mod:`hyperspy_perovskite.analysis.transport.jv` and wrap the result.
"""

from __future__ import annotations

import numpy as np
from hyperspy._signals.lazy import LazySignal
from hyperspy.signals import Signal1D

from hyperspy_perovskite.analysis.transport import jv as _jv
from hyperspy_perovskite.metadata import DEVICE_JV
from hyperspy_perovskite.signals._base import (
    OPTIONS_PARAMETERS,
    compute,
    resolve_options,
)
from hyperspy_perovskite.units import UnitError, axis_values, parse_quantity

__all__ = ["JVCurve", "LazyJVCurve", "STRUCTURAL_REASONS"]

_J_UNIT = "mA/cm^2"


def _opt(name):
    """A common-option entry for a method docstring (8-space indentation)."""
    return OPTIONS_PARAMETERS[name].replace("\n", "\n" + " " * 8)


#: Reasons that make a curve unusable for figures of merit (bits of REASONS).
STRUCTURAL_REASONS = tuple(range(len(_jv.REASONS)))

_FIX = {
    _jv._local.NONFINITE: "remove or interpolate the NaN/inf points",
    _jv._local.NO_SC: "measure through V = 0 (start the scan below 0 V)",
    _jv._local.NO_OC: "extend the scan beyond Voc so that the current changes sign",
    _jv._local.DARK: "PCE needs an illuminated curve; for dark curves fit the diode",
    _jv._local.NO_MPP: "check the curve shape; the power has no maximum before Voc",
    _jv._local.FEW_POINTS: "use a finer voltage step",
    _jv._local.NEGATIVE: "the photocurrent is negative: multiply the data by -1 "
    "(s.data *= -1) or read the file with photocurrent_sign=-1",
}


def _check_voltage_axis(signal):
    axis = signal.axes_manager.signal_axes[0]
    v = axis_values(axis, "V", name="voltage")
    if v.size < 5:
        raise ValueError(f"A J-V curve needs at least 5 voltage points, got {v.size}.")
    if np.any(np.diff(v) <= 0):
        raise ValueError(
            "The voltage axis is not monotonic: it must increase strictly within "
            "a scan. Split the file into scans (read_jv_text does it) and put each "
            "on an ascending axis; keep the direction in scan_directions."
        )
    return np.ascontiguousarray(v)


def _current_density_factor(signal):
    """Factor from the data's unit to mA/cm² (from ``metadata.Signal.quantity``)."""
    q = signal.metadata.get_item("Signal.quantity", "")
    unit = q[q.rfind("(") + 1 : q.rfind(")")] if "(" in q and q.endswith(")") else ""
    if not unit:
        return 1.0  # documented default: mA/cm^2
    try:
        return parse_quantity(f"1 {unit}", _J_UNIT, name="current density")
    except UnitError:
        pass
    try:
        parse_quantity(f"1 {unit}", "mA", name="current")
    except UnitError as exc:
        raise UnitError(
            f"The data are in {unit!r} (metadata.Signal.quantity = {q!r}); a J-V "
            "curve holds current density, e.g. 'Current density (mA/cm^2)'."
        ) from exc
    raise ValueError(
        f"The data are a current ({unit}) without the cell area: convert with "
        "s.to_current_density(area=0.07) (area in cm^2, or a string such as "
        "'7 mm^2')."
    )


class JVCurve(Signal1D):
    """Current density vs voltage of solar cells; photocurrent positive.

    See the module docstring for the axes and metadata. Build one from arrays
    with :func:`hyperspy_perovskite.readers.jv_text.jv_curve` or read an
    instrument export with :func:`hyperspy_perovskite.readers.read_jv_text`.

    Examples
    --------
    >>> from hyperspy_perovskite.readers import jv_curve
    >>> from hyperspy_perovskite.analysis.transport.jv import single_diode_current
    >>> v = np.linspace(-0.1, 1.2, 261)
    >>> s = jv_curve(v, single_diode_current(v, 23.6, 2.4e-10, 1.6, 3.3, 3e3))
    >>> s.metadata.Signal.signal_type, s.metadata.Device.JV.irradiance
    ('JV_curve', 100.0)
    """

    _signal_type = "JV_curve"
    _signal_dimension = 1

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)

    # -- metadata ---------------------------------------------------------------
    def set_device(
        self,
        *,
        area=None,
        illumination=None,
        irradiance=None,
        scan_rate=None,
        temperature=None,
        scan_directions=None,
        conditions=None,
    ):
        """Set ``metadata.Device.JV`` (only the arguments given).

        Parameters
        ----------
        area : float or str
            Aperture area; a number is cm², or e.g. ``"7 mm^2"``.
        illumination : str
            ``"AM1.5G"``, ``"dark"`` or a description.
        irradiance : float or str
            Incident power density; a number is mW/cm², or e.g. ``"1000 W/m^2"``.
        scan_rate : float or str
            A number is V/s, or e.g. ``"100 mV/s"``.
        temperature : float or str
            A number is K, or e.g. ``"298 K"``.
        scan_directions : list of str
            ``"reverse"``/``"forward"`` along the navigation axis ``scan``.
        conditions : list of str
            Labels along the navigation axis ``condition``.

        Examples
        --------
        >>> s = hs.signals.Signal1D(np.zeros((2, 10)))
        >>> s.set_signal_type("JV_curve")
        >>> s.set_device(area="7 mm^2", irradiance=100)
        >>> s.metadata.Device.JV.area
        0.07
        """
        md = self.metadata
        put = md.set_item
        if area is not None:
            put(f"{DEVICE_JV}.area", parse_quantity(area, "cm^2", name="area"))
            put(f"{DEVICE_JV}.area_units", "cm^2")
        if illumination is not None:
            put(f"{DEVICE_JV}.illumination", str(illumination))
        if irradiance is not None:
            val = parse_quantity(irradiance, "mW/cm^2", name="irradiance")
            put(f"{DEVICE_JV}.irradiance", val)
            put(f"{DEVICE_JV}.irradiance_units", "mW/cm^2")
        if scan_rate is not None:
            put(
                f"{DEVICE_JV}.scan_rate",
                parse_quantity(scan_rate, "V/s", name="scan_rate"),
            )
            put(f"{DEVICE_JV}.scan_rate_units", "V/s")
        if temperature is not None:
            put(
                f"{DEVICE_JV}.temperature",
                parse_quantity(temperature, "K", name="temperature"),
            )
            put(f"{DEVICE_JV}.temperature_units", "K")
        for key, labels in (
            ("scan_directions", scan_directions),
            ("conditions", conditions),
        ):
            if labels is not None:
                labels = [str(x) for x in labels]
                if key == "scan_directions" and set(labels) - {"reverse", "forward"}:
                    raise ValueError(
                        f"scan_directions must be 'reverse' or 'forward', got {labels}."
                    )
                put(f"{DEVICE_JV}.{key}", labels)
        put(f"{DEVICE_JV}.sign_convention", "photocurrent positive")

    def device_parameters(self):
        """``metadata.Device.JV`` as a dict (empty if not set)."""
        node = self.metadata.get_item(DEVICE_JV)
        return node.as_dictionary() if node is not None else {}

    def _irradiance(self, irradiance):
        if irradiance is not None:
            return parse_quantity(irradiance, "mW/cm^2", name="irradiance")
        p = self.device_parameters()
        if str(p.get("illumination", "")).lower() == "dark":
            raise ValueError(
                "These are dark curves (metadata.Device.JV.illumination = 'dark'): "
                "a PCE needs illumination. Use fit_single_diode for dark curves, or "
                "pass irradiance= if the metadata are wrong."
            )
        if p.get("irradiance") is None:
            raise ValueError(
                "No illumination power for the PCE: set it with "
                "s.set_device(irradiance=100) (mW/cm^2, AM1.5G) or pass irradiance=."
            )
        return float(p["irradiance"])

    def to_current_density(self, area, inplace=False):
        """Divide a current by the cell area: data in mA/cm².

        Parameters
        ----------
        area : float or str
            A number is cm², or e.g. ``"7 mm^2"``.
        %s

        Examples
        --------
        >>> s = hs.signals.Signal1D(np.full(6, 1.4e-3))
        >>> s.set_signal_type("JV_curve")
        >>> s.metadata.Signal.quantity = "Current (A)"
        >>> float(s.to_current_density("0.07 cm^2").data[0])
        20.0
        """
        a = parse_quantity(area, "cm^2", name="area")
        if not a > 0:
            raise ValueError(f"The cell area must be positive, got {a} cm^2.")
        q = self.metadata.get_item("Signal.quantity", "")
        unit = q[q.rfind("(") + 1 : q.rfind(")")] if "(" in q else ""
        if not unit:
            raise ValueError(
                "Set the current unit first, e.g. s.metadata.Signal.quantity = "
                "'Current (A)'."
            )
        factor = parse_quantity(f"1 {unit}", "mA", name="current") / a
        out = self if inplace else self.deepcopy()
        out.data = out.data * factor
        out.metadata.Signal.quantity = f"Current density ({_J_UNIT})"
        out.set_device(area=a)
        return None if inplace else out

    to_current_density.__doc__ %= _opt("inplace")

    # -- figures of merit ----------------------------------------------------------
    def figures_of_merit(
        self,
        *,
        sigma=None,
        irradiance=None,
        sc_range=(-0.25, 0.3),
        oc_fraction=0.1,
        mpp_fraction=0.02,
        min_points=5,
        on_invalid="raise",
        show_progressbar=None,
        lazy_output=None,
        num_workers=None,
    ):
        """Jsc, Voc, FF, PCE, maximum-power point and slope resistances, with std.

        Local least-squares fits around ``V = 0``, ``J = 0`` and the power
        maximum; see
        :func:`hyperspy_perovskite.analysis.transport.jv.figures_of_merit`
        for the method and the keyword arguments.

        Parameters
        ----------
        sigma : float or str, optional
            Noise std of the current density (mA/cm²); default: the noise
            variance in ``metadata.Signal.Noise_properties.variance`` if a
            number, else pooled from the fit residuals.
        irradiance : float or str, optional
            mW/cm²; default ``metadata.Device.JV.irradiance``.
        sc_range : (float, float)
            Voltage range of the short-circuit line, in fractions of Voc.
        oc_fraction : float
            Open-circuit window: points with ``|J| <= oc_fraction * Jsc``.
        mpp_fraction : float
            Maximum-power window: points with ``P >= (1 - mpp_fraction) Pmax``.
        min_points : int
            Smallest number of points of the Voc and Pmax fits.
        on_invalid : {"raise", "flag"}
            "raise": a curve without V = 0, without a zero crossing, dark,
            with a negative photocurrent or non-finite values raises a
            ValueError saying which and how to fix it. "flag": such curves
            are NaN and flagged in the validity (lazy outputs always flag).
        %s
        %s
        %s

        Returns
        -------
        hyperspy_perovskite.signals._jv_results.JVFiguresOfMerit

        Examples
        --------
        >>> from hyperspy_perovskite.readers import jv_curve
        >>> from hyperspy_perovskite.analysis.transport.jv import single_diode_current
        >>> v = np.linspace(-0.1, 1.2, 261)
        >>> s = jv_curve(v, single_diode_current(v, 23.6, 2.4e-10, 1.6, 3.3, 3e3))
        >>> f = s.figures_of_merit(sigma=0.02)
        >>> round(float(f["pce"].data[0]), 1), f.units["pce"]
        (18.7, '%%')
        """
        from hyperspy_perovskite.signals._jv_results import JVFiguresOfMerit

        if on_invalid not in ("raise", "flag"):
            raise ValueError(
                f"on_invalid must be 'raise' or 'flag', got {on_invalid!r}."
            )
        opts = resolve_options(
            self,
            lazy_output=lazy_output,
            show_progressbar=show_progressbar,
            num_workers=num_workers,
        )
        v = _check_voltage_axis(self)
        factor = _current_density_factor(self)
        irr = self._irradiance(irradiance)
        sig = self._noise_sigma(sigma, factor)
        data = self.data if factor == 1.0 else self.data * factor
        raw = _jv.raw_figures_of_merit(
            v, data, sigma=sig, sc_range=sc_range, oc_fraction=oc_fraction,
            mpp_fraction=mpp_fraction, min_points=min_points,
        )  # fmt: skip
        raw = compute(raw, opts)
        values = _jv.assemble_figures_of_merit(raw, irr)
        if on_invalid == "raise" and not opts.lazy_output:
            self._raise_invalid(values["reasons"])
        criteria = {
            "sc_range": list(sc_range), "oc_fraction": oc_fraction,
            "mpp_fraction": mpp_fraction, "min_points": min_points,
            "irradiance_mW_cm2": irr,
        }  # fmt: skip
        return JVFiguresOfMerit.from_arrays(values, self, opts, criteria)

    figures_of_merit.__doc__ %= (
        _opt("show_progressbar"),
        _opt("lazy_output"),
        _opt("num_workers"),
    )

    def _noise_sigma(self, sigma, factor):
        if sigma is not None:
            return parse_quantity(sigma, _J_UNIT, name="sigma")
        var = self.metadata.get_item("Signal.Noise_properties.variance", None)
        if isinstance(var, (int, float)) and var > 0:
            return float(np.sqrt(var)) * factor
        return None

    def _raise_invalid(self, reasons):
        reasons = np.asarray(reasons)
        bad = np.flatnonzero(reasons.ravel())
        if bad.size == 0:
            return
        first = int(reasons.ravel()[bad[0]])
        idx = np.unravel_index(bad[0], reasons.shape) if reasons.ndim else ()
        msgs = [
            f"{_jv.REASONS[b]} ({_FIX[b]})"
            for b in range(len(_jv.REASONS))
            if first & (1 << b)
        ]
        raise ValueError(
            f"{bad.size} of {reasons.size} curve(s) have no valid figures of merit; "
            f"the first (navigation index {tuple(int(i) for i in idx)}): "
            + "; ".join(msgs)
            + ". Pass on_invalid='flag' to get NaN for these curves instead."
        )

    # -- hysteresis and diode fit --------------------------------------------------
    def hysteresis_index(self, figures=None, **kwargs):
        """Hysteresis index per condition from the reverse and forward scans.

        ``HI = (PCE_reverse - PCE_forward) / PCE_reverse`` (S. N.
        Habisreutinger, N. K. Noel, H. J. Snaith, ACS Energy Lett. 3, 2472
        (2018)); positive for normal hysteresis, negative when inverted. The
        navigation axis named ``scan`` and ``metadata.Device.JV.
        scan_directions`` tell the directions.

        Parameters
        ----------
        figures : JVFiguresOfMerit, optional
            From :meth:`figures_of_merit` (computed with ``kwargs`` if None).

        Returns
        -------
        hyperspy_perovskite.results.ResultTable

        Examples
        --------
        >>> from hyperspy_perovskite.data.jv_simulation import simulate_table_s1
        >>> s = simulate_table_s1(seed=0)
        >>> t = s.hysteresis_index()
        >>> bool(t["HI"][0] > 0), bool(t["HI"][1] < 0)
        (True, True)
        """
        if figures is None:
            figures = self.figures_of_merit(**kwargs)
        return figures.hysteresis_index()

    def create_model(self, dictionary=None):
        """A :class:`~hyperspy_perovskite.models.jv.JVModel` of these curves.

        Examples
        --------
        >>> from hyperspy_perovskite.readers import jv_curve
        >>> s = jv_curve(np.linspace(-0.1, 1.2, 27), np.linspace(20, -5, 27))
        >>> type(s.create_model()).__name__
        'JVModel'
        """
        from hyperspy_perovskite.models.jv import JVModel

        return JVModel(self, dictionary=dictionary)

    def fit_single_diode(self, **kwargs):
        """Fit the single-diode model to every curve; see
        :meth:`hyperspy_perovskite.models.jv.JVModel.fit_single_diode`.

        Returns
        -------
        JVModel
        """
        m = self.create_model()
        m.fit_single_diode(**kwargs)
        return m


class LazyJVCurve(LazySignal, JVCurve):
    """Lazy twin of :class:`JVCurve`."""

    _lazy = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
