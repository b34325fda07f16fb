"""X-ray lines of ``EDS_TEM_biased`` maps: windows, weights, overlaps.

A mixin of :class:`~hyperspy_perovskite.signals.eds_biased.EDSTEMBiasedSpectrum`.
Energies follow exSpy: the energy axis may be in keV or eV (exSpy's two
units); every comparison is made in keV through :mod:`hyperspy_perovskite.units`.
The array work is in :mod:`hyperspy_perovskite.analysis.xray_lines` and
:mod:`hyperspy_perovskite.analysis.eds.windows`.
"""

from __future__ import annotations

import warnings

import numpy as np
from exspy._misc.eds import utils as eds_utils
from exspy.material import elements as elements_db

from hyperspy_perovskite.analysis import xray_lines as xl
from hyperspy_perovskite.analysis.eds.windows import window_channels
from hyperspy_perovskite.units import UnitError, axis_factor

__all__ = ["XrayLinesMixin", "LineOverlapWarning"]


class LineOverlapWarning(UserWarning):
    """An X-ray line used for an intensity overlaps a line of another element."""


class XrayLinesMixin:
    """Line windows, channel weights and overlap checks (see module)."""

    def _kev(self):
        """keV per unit of the energy axis (exSpy's units: keV or eV)."""
        ax = self.axes_manager.signal_axes[0]
        if str(ax.units) not in ("keV", "eV"):
            raise UnitError(
                f"The energy axis is in {ax.units!r}; exSpy works on keV or eV: "
                "set s.axes_manager.signal_axes[0].units = 'keV' (or 'eV') and "
                "its scale and offset in that unit."
            )
        return axis_factor(ax, "keV", name="the X-ray energy")

    def _lines_in_range(self, xray_lines):
        """Validate X-ray lines: known, and inside the energy axis."""
        if xray_lines is None:
            xray_lines = list(self.metadata.get_item("Sample.xray_lines", []))
            if not xray_lines:
                raise ValueError(
                    "No X-ray lines given and none in metadata.Sample.xray_lines: "
                    "pass xray_lines=['I_La', 'Pb_Ma', ...] or s.add_lines()."
                )
        if isinstance(xray_lines, str):
            xray_lines = [xray_lines]
        ax = self.axes_manager.signal_axes[0]
        f = self._kev()
        lo, hi = ax.low_value * f, ax.high_value * f
        out = []
        for line in xray_lines:
            try:
                energy = eds_utils._get_energy_xray_line(line)
            except Exception as exc:
                raise ValueError(
                    f"{line!r} is not an X-ray line of exSpy's database "
                    "(use e.g. 'I_La', 'Pb_Ma', 'Cl_Ka')."
                ) from exc
            if not lo <= energy <= hi:
                raise ValueError(
                    f"{line} at {energy:.3f} keV is outside the energy range "
                    f"{lo:.3f}..{hi:.3f} keV of this spectrum: choose another "
                    "line of the element (e.g. its L or M line)."
                )
            out.append(line)
        return out

    def _weights(self, xray_lines, background=True, integration_windows=2.0):
        """``(n_channels, n_lines)`` window weights (background subtracted)."""
        if not (np.isscalar(integration_windows) and np.isfinite(integration_windows)):
            raise ValueError(
                "integration_windows is a window width in units of the line "
                f"FWHM (a positive number, exSpy's default 2), got "
                f"{integration_windows!r}."
            )
        if not integration_windows > 0:
            raise ValueError(
                "integration_windows must be positive (window width in units "
                f"of the line FWHM), got {integration_windows!r}."
            )
        ax = self.axes_manager.signal_axes[0]
        with self._as_eds_tem():
            iw = self.estimate_integration_windows(
                windows_width=integration_windows, xray_lines=xray_lines
            )
        wins, bws = window_channels(
            ax.axis,
            iw,
            self._background_windows(xray_lines) if background else None,
            names=xray_lines,
            units=str(ax.units),
            uniform=(ax.offset, ax.scale) if ax.is_uniform else None,
        )
        return xl.window_weights(ax.size, wins, bws)

    def _background_windows(self, xray_lines):
        """exSpy-style background windows moved off the lines present.

        See :func:`~hyperspy_perovskite.analysis.xray_lines.line_free_background_windows`.
        Returned in the units of the energy axis.
        """
        ax = self.axes_manager.signal_axes[0]
        f = self._kev()
        elements = set(self.metadata.get_item("Sample.elements", []))
        elements |= {ln.split("_")[0] for ln in xray_lines}
        others = [
            node["energy (keV)"]
            for el in elements
            for _, node in elements_db[el].Atomic_properties.Xray_lines
            if node["weight"] >= 0.05
        ]
        rows = []
        for line in xray_lines:
            e0, fwhm = self._get_line_energy(line, FWHM_MnKa="auto")
            e0, fwhm = e0 * f, fwhm * f
            oth = [e for e in others if abs(e - e0) > 1e-6]
            rows.append(
                xl.line_free_background_windows(
                    e0, fwhm, oth, ax.low_value * f, ax.high_value * f
                )
                / f
            )
        return np.asarray(rows)

    def _intensity_arrays(self, xray_lines, background=True, integration_windows=2.0):
        w = self._weights(xray_lines, background, integration_windows)
        return xl.line_intensities(self.data, w)

    def _fit_intensities(self, xray_lines, options):
        """Line areas and variances from exSpy's EDS model (overlaps separated).

        exSpy's ``create_model`` (polynomial bremsstrahlung + every line
        family of ``metadata.Sample.elements``) fitted by linear least
        squares with Poisson weights ``max(counts, 1)`` (or the variance set
        on the line scan); the area of each requested line's family and its
        standard error.
        """
        sig = self.deepcopy()
        if sig._lazy:
            sig.compute(show_progressbar=options.show_progressbar)
        if sig.metadata.get_item("Signal.Noise_properties.variance") is None:
            sig.metadata.set_item(
                "Signal.Noise_properties.variance",
                sig._deepcopy_with_new_data(
                    np.maximum(np.asarray(sig.data, float), 1.0)
                ),
            )
        elements = set(sig.metadata.get_item("Sample.elements", []))
        missing = {ln.split("_")[0] for ln in xray_lines} - elements
        if missing:
            sig.add_elements(sorted(missing))
        with sig._as_eds_tem():
            m = sig.create_model(auto_background=True, auto_add_lines=True)
            names = [c.name for c in m]
            for ln in xray_lines:
                if ln not in names:
                    m.add_family_lines([ln])
            m.multifit(
                optimizer="lstsq",
                calculate_errors=True,
                show_progressbar=options.show_progressbar,
            )
        vals = np.stack([m[ln].A.map["values"] for ln in xray_lines], axis=-1)
        std = np.stack([m[ln].A.map["std"] for ln in xray_lines], axis=-1)
        return vals.astype(float), std.astype(float) ** 2

    def check_line_overlaps(self, xray_lines=None, elements=None, warn=True):
        """Lines of other elements within each line's integration window.

        Parameters
        ----------
        xray_lines : sequence of str, optional
            Lines to check (default ``metadata.Sample.xray_lines``).
        elements : sequence of str, optional
            Elements present (default ``metadata.Sample.elements``).
        warn : bool
            Issue a :class:`LineOverlapWarning` for each overlapped line.

        Returns
        -------
        dict
            ``{line: [overlapping lines]}`` and, under ``"free_lines"``, for
            each overlapped line the element's lines free of overlap that lie
            within the energy range (use one of them instead).

        Examples
        --------
        >>> s = hs.signals.Signal1D(np.ones(2048))
        >>> s.set_signal_type("EDS_TEM_biased")
        >>> s.axes_manager[0].scale = 10.0
        >>> s.axes_manager[0].units = "eV"
        >>> s.add_elements(["Br", "Al", "Pb"])
        >>> r = s.check_line_overlaps(["Br_La"], warn=False)
        >>> r["Br_La"], r["free_lines"]["Br_La"]
        (['Al_Ka'], ['Br_Ka'])
        """
        xray_lines = self._lines_in_range(xray_lines)
        if elements is None:
            elements = list(self.metadata.get_item("Sample.elements", []))
        elements = set(elements) | {ln.split("_")[0] for ln in xray_lines}
        ax = self.axes_manager.signal_axes[0]
        f = self._kev()
        lo, hi = ax.low_value * f, ax.high_value * f
        neighbours = {}
        for el in elements:
            for name, node in elements_db[el].Atomic_properties.Xray_lines:
                e = node["energy (keV)"]
                if lo <= e <= hi:
                    neighbours[f"{el}_{name}"] = (e, node["weight"])

        def reach(line):  # half window (1 FWHM) + the neighbour's tail (1 FWHM)
            return 2.0 * self._get_line_energy(line, FWHM_MnKa="auto")[1] * f

        res = xl.find_overlaps(
            {ln: eds_utils._get_energy_xray_line(ln) for ln in xray_lines},
            {ln: reach(ln) for ln in xray_lines},
            neighbours,
        )
        free = {}
        for line, hits in res.items():
            if not hits:
                continue
            el = line.split("_")[0]
            cands = {
                f"{el}_{n}": node["energy (keV)"]
                for n, node in elements_db[el].Atomic_properties.Xray_lines
                if node["weight"] >= 0.5
                and lo <= node["energy (keV)"] <= hi
                and n[0] != line.split("_")[1][0]  # another family (K/L/M)
            }
            cands.pop(line, None)
            ok = xl.find_overlaps(cands, {c: reach(c) for c in cands}, neighbours)
            free[line] = sorted(c for c, h in ok.items() if not h)
            if warn:
                alt = (
                    f" Use a free line instead: {', '.join(free[line])}."
                    if free[line]
                    else " No free line of this element is in range: fit the "
                    "spectrum (s.create_model()) to separate them."
                )
                warnings.warn(
                    f"{line} overlaps {', '.join(hits)}: its window intensity "
                    f"includes counts of the other line(s).{alt}",
                    LineOverlapWarning,
                    stacklevel=2,
                )
        res["free_lines"] = free
        return res
