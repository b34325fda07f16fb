"""Figures of merit of J-V curves as signals, tables and hysteresis indices."""

from __future__ import annotations

import numpy as np

from hyperspy_perovskite.analysis.transport import jv as _jv
from hyperspy_perovskite.metadata import DEVICE_JV
from hyperspy_perovskite.results import ResultTable
from hyperspy_perovskite.signals._base import wrap_navigation_map
from hyperspy_perovskite.validity import Validity

__all__ = ["JVFiguresOfMerit"]

#: name -> (title, unit)
QUANTITIES = {
    "jsc": ("Short-circuit current density Jsc", "mA/cm^2"),
    "voc": ("Open-circuit voltage Voc", "V"),
    "ff": ("Fill factor FF", "%"),
    "pce": ("Power conversion efficiency PCE", "%"),
    "pmax": ("Maximum power density Pmax", "mW/cm^2"),
    "vmp": ("Voltage at maximum power Vmp", "V"),
    "jmp": ("Current density at maximum power Jmp", "mA/cm^2"),
    "r_sc": ("Slope resistance at short circuit (shunt) R_sc", "Ω cm^2"),
    "r_oc": ("Slope resistance at open circuit (series) R_oc", "Ω cm^2"),
    "g_sc": ("Slope conductance at short circuit g_sc", "mS/cm^2"),
    "g_oc": ("Slope conductance at open circuit g_oc", "mS/cm^2"),
    "sigma": ("Current density noise", "mA/cm^2"),
}
_TABLE = ("jsc", "voc", "ff", "pce", "pmax", "vmp", "r_sc", "r_oc")
_TABLE_NAMES = {
    "jsc": "Jsc", "voc": "Voc", "ff": "FF", "pce": "PCE", "pmax": "Pmax",
    "vmp": "Vmp", "r_sc": "R_sc", "r_oc": "R_oc",
}  # fmt: skip


def _axis_labels(source):
    """Row label of every navigation position (array C order)."""
    p = source.metadata.get_item(DEVICE_JV)
    p = p.as_dictionary() if p is not None else {}
    nav = source.axes_manager.navigation_axes[::-1]  # array order
    if not nav:
        return ["curve"]
    per_axis = []
    for ax in nav:
        vals = ax.axis
        if ax.name == "scan" and len(p.get("scan_directions", [])) == ax.size:
            per_axis.append(list(p["scan_directions"]))
        elif ax.name == "condition" and len(p.get("conditions", [])) == ax.size:
            per_axis.append(list(p["conditions"]))
        else:
            unit = "" if str(ax.units) in ("", "<undefined>") else f" {ax.units}"
            per_axis.append([f"{ax.name}={v:g}{unit}" for v in vals])
    labels = [""]
    for options in per_axis:
        labels = [f"{a}, {b}" if a else b for a in labels for b in options]
    return labels


class JVFiguresOfMerit:
    """Per-curve figures of merit: one navigation-map signal per quantity.

    ``fom["jsc"]``, ``fom["jsc_std"]``... are HyperSpy signals on the
    navigation axes of the J-V signal (NaN where the validity is False),
    carrying ``metadata.Validity``. :meth:`to_table` gives a
    :class:`~hyperspy_perovskite.results.ResultTable`, :meth:`hysteresis_index`
    the hysteresis index per condition.
    """

    def __init__(self, maps, units, validity, labels, scan, criteria):
        self.maps = maps
        self.units = units
        self._validity = validity
        self.labels = labels
        self._scan = scan  # (array axis index, directions) or None
        self.criteria = criteria

    @property
    def validity(self):
        """:class:`~hyperspy_perovskite.validity.Validity` per curve (a lazy
        result's, stored lazily in every map's ``metadata.Validity``, is
        computed here on first use)."""
        if self._validity is not None and self._validity.lazy:
            self._validity = self._validity.compute()
        return self._validity

    @classmethod
    def from_arrays(cls, values, source, options, criteria):
        """Wrap :func:`~hyperspy_perovskite.analysis.transport.jv.assemble_figures_of_merit`
        output as signals on ``source``'s navigation axes."""
        nav_shape = tuple(source.axes_manager.navigation_shape[::-1])
        reasons = values["reasons"].reshape(nav_shape or (1,))
        # lazy reasons give a lazy validity (NaN applied lazily, mask stored
        # lazily), computed with each map when an eager output is asked
        validity = Validity(reasons == 0, reasons, _jv.REASONS, criteria)
        maps, units = {}, {}
        for name, (title, unit) in QUANTITIES.items():
            for suffix in ("", "_std"):
                key = name + suffix
                if key not in values:
                    continue
                data = values[key].reshape(nav_shape or (1,))
                maps[key] = wrap_navigation_map(
                    data, source, title=title + (" (std)" if suffix else ""),
                    quantity=title, units=unit, options=options, validity=validity,
                )  # fmt: skip
                units[key] = unit
        p = source.metadata.get_item(DEVICE_JV)
        p = p.as_dictionary() if p is not None else {}
        scan = None
        nav = source.axes_manager.navigation_axes[::-1]
        for i, ax in enumerate(nav):
            if ax.name == "scan" and len(p.get("scan_directions", [])) == ax.size:
                scan = (i, list(p["scan_directions"]))
        return cls(maps, units, validity, _axis_labels(source), scan, criteria)

    def __getitem__(self, name):
        if name not in self.maps:
            raise KeyError(f"No quantity {name!r}; available: {sorted(self.maps)}.")
        return self.maps[name]

    @property
    def names(self):
        """Quantities available (each also with ``_std``)."""
        return [k for k in self.maps if not k.endswith("_std")]

    def _array(self, key):
        s = self.maps[key]
        data = s.data.compute() if s._lazy else s.data
        return np.asarray(data, dtype=float)

    def to_table(self, title="J-V figures of merit"):
        """One row per curve: Jsc, Voc, FF, PCE, Pmax, Vmp, R_sc, R_oc with std.

        Examples
        --------
        >>> from hyperspy_perovskite.data.jv_simulation import simulate_table_s1
        >>> t = simulate_table_s1(seed=0).figures_of_merit().to_table()
        >>> t.units["PCE"], len(t)
        ('%', 12)
        """
        cols, std, units = {}, {}, {}
        for k in _TABLE:
            name = _TABLE_NAMES[k]
            cols[name] = self._array(k).ravel()
            std[name] = self._array(k + "_std").ravel()
            units[name] = self.units[k]
        return ResultTable(
            cols, units=units, std=std, index=self.labels, title=title,
            description="Local least-squares fits around V = 0, J = 0 and the "
            "power maximum; std from the current-density noise.",
        )  # fmt: skip

    def hysteresis_index(self):
        """HI per condition: ``(PCE_reverse - PCE_forward) / PCE_reverse``.

        S. N. Habisreutinger, N. K. Noel, H. J. Snaith, ACS Energy Lett. 3,
        2472 (2018). ``type`` is "normal" (HI > 0), "inverted" (HI < 0) or
        "none" (``|HI| < 2 std``).

        Returns
        -------
        hyperspy_perovskite.results.ResultTable
        """
        if self._scan is None:
            raise ValueError(
                "No navigation axis named 'scan' with metadata.Device.JV."
                "scan_directions: set them with s.set_device(scan_directions=["
                "'reverse', 'forward']) and name the axis "
                "(s.axes_manager[0].name = 'scan')."
            )
        axis, dirs = self._scan
        if "reverse" not in dirs or "forward" not in dirs:
            raise ValueError(f"Need a reverse and a forward scan, got {dirs}.")
        ir, jf = dirs.index("reverse"), dirs.index("forward")
        pce, pce_s = self._array("pce"), self._array("pce_std")
        take = lambda a, i: np.take(a, i, axis=axis).ravel()  # noqa: E731
        r, rs, f, fs = take(pce, ir), take(pce_s, ir), take(pce, jf), take(pce_s, jf)
        hi, hi_s = _jv.hysteresis_index(r, f, rs, fs)
        kind = np.where(
            np.abs(hi) < 2 * hi_s, "none", np.where(hi > 0, "normal", "inverted")
        )
        labels = np.array(self.labels, dtype=object).reshape(pce.shape)
        rows = [
            ", ".join(p for p in str(lab).split(", ") if p not in dirs) or "curve"
            for lab in np.atleast_1d(np.take(labels, ir, axis=axis)).ravel()
        ]
        return ResultTable(
            {"PCE_reverse": r, "PCE_forward": f, "HI": hi, "type": kind},
            units={"PCE_reverse": "%", "PCE_forward": "%", "HI": "", "type": ""},
            std={"PCE_reverse": rs, "PCE_forward": fs, "HI": hi_s},
            index=rows,
            title="Hysteresis index",
            description="HI = (PCE_reverse - PCE_forward) / PCE_reverse "
            "(Habisreutinger, Noel, Snaith, ACS Energy Lett. 3, 2472 (2018)); "
            "HI > 0 normal, HI < 0 inverted hysteresis.",
        )
