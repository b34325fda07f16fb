"""The structure-device link: structural and electrical onsets beside J-V numbers.

The biasing study ("Imaging real-time amorphization of hybrid perovskite
solar cells under electrical biasing") ties the amorphization onset seen in
the microscope (fading (001)/(002) lattice fringes and SAED families, iodide
piling up at an interface) to what the device does (its current at constant
1 V, its J-V figures of merit before and after). :class:`StructureDeviceLink`
collects, per sample or region, onsets from any analysis of the suite on one
time axis (s after the bias switch-on) and the J-V figures of merit, and
gives one table (:meth:`~StructureDeviceLink.table`) and one figure
(:meth:`~StructureDeviceLink.plot`).

Accepted onset sources (duck-typed, nothing is modified):

- a kinetics result (:class:`hyperspy_perovskite.signals.kinetics.KineticsResult`:
  ``onset``, ``onset_std``, ``time_units``, ``bias_on``), one row per value;
- a :class:`~hyperspy_perovskite.results.ResultTable` with an ``onset``
  column (and its std), one row per table row;
- an electrical log
  (:class:`~hyperspy_perovskite.signals.electrical.ElectricalLog`) or the
  dict of
  :func:`~hyperspy_perovskite.analysis.transport.electrical.change_point_onset`;
- ``(value, std)`` or a number, with ``time_units``.
"""

from __future__ import annotations

import numpy as np

from hyperspy_perovskite.results import ResultTable
from hyperspy_perovskite.units import parse_quantity

__all__ = ["StructureDeviceLink"]

_FOM = ("Jsc", "Voc", "FF", "PCE")
_FOM_UNITS = {"Jsc": "mA/cm^2", "Voc": "V", "FF": "%", "PCE": "%"}


def _onsets(source, time_units):
    """``[(suffix, value_s, std_s, bias_on_s or None)]`` from any source."""
    if hasattr(source, "onset_table") and hasattr(source, "bias_on"):
        t = source.onset_table()
        return [("", float(t["onset"][0]), float(t.std["onset"][0]), source.bias_on)]
    if isinstance(source, ResultTable):
        if "onset" not in source:
            raise ValueError(f"The table has no 'onset' column: {source.column_names}.")
        f = parse_quantity(f"1 {source.units.get('onset') or time_units}", "s",
                           name="onset units")  # fmt: skip
        std = source.std.get("onset", np.full(len(source), np.nan))
        return [(f" [{lab}]" if len(source) > 1 else "", float(v) * f, float(s) * f,
                 None) for lab, v, s in zip(source.index, source["onset"], std,
                                            strict=True)]  # fmt: skip
    if hasattr(source, "onset") and hasattr(source, "onset_std"):
        f = parse_quantity(f"1 {getattr(source, 'time_units', time_units)}", "s",
                           name="time_units")  # fmt: skip
        v = np.atleast_1d(np.asarray(source.onset, float)).ravel()
        s = np.atleast_1d(np.asarray(source.onset_std, float)).ravel()
        b = getattr(source, "bias_on", None)
        b = None if b is None else float(b) * f
        return [(f" [{i}]" if v.size > 1 else "", x * f, e * f, b)
                for i, (x, e) in enumerate(zip(v, s, strict=True))]  # fmt: skip
    f = parse_quantity(f"1 {time_units}", "s", name="time_units")
    if isinstance(source, dict) and "onset" in source:
        return [("", source["onset"] * f, source.get("onset_std", np.nan) * f, None)]
    if isinstance(source, (tuple, list)) and len(source) == 2:
        return [("", float(source[0]) * f, float(source[1]) * f, None)]
    if isinstance(source, (int, float, np.number)):
        return [("", float(source) * f, np.nan, None)]
    raise TypeError(
        f"Cannot read an onset from {type(source).__name__}: give a kinetics "
        "result, a ResultTable with an 'onset' column, an electrical log, "
        "(value, std) or a number."
    )


class StructureDeviceLink:
    """Structural and electrical onsets and J-V figures of merit, per sample.

    Parameters
    ----------
    bias_on : float or str, optional
        Bias switch-on on the shared time axis (a number is s). Default: the
        ``bias_on`` of the first source that has one, else 0.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.transport.link import StructureDeviceLink
    >>> link = StructureDeviceLink(bias_on=10.0)
    >>> link.add_onset("region B", "perovskite (001) fringes", (95.0, 4.0))
    >>> link.add_onset("device", "conductance", {"onset": 88.0, "onset_std": 1.0})
    >>> link.add_figures_of_merit("device", "before", {"PCE": (18.7, 0.1)})
    >>> t = link.table()
    >>> t["onset_after_bias"].tolist()[:2], float(t["PCE"][2])
    ([85.0, 78.0], 18.7)
    """

    def __init__(self, bias_on=None):
        self.bias_on = (
            None if bias_on is None else parse_quantity(bias_on, "s", name="bias_on")
        )
        self._rows = []

    def add_onset(self, sample, measurement, source, *, kind=None, time_units="s"):
        """Add the onset(s) of one measurement of one sample or region.

        Parameters
        ----------
        sample : str
            Sample or region label ("region B", "device", "cell 1").
        measurement : str
            What changed ("perovskite (001) fringes", "SAED {001} family",
            "I accumulation at SnO2", "resistance").
        source
            See the module docstring.
        kind : {"structural", "electrical"}, optional
            Default: electrical for electrical logs, else structural.
        time_units : str
            Units of plain numbers (default s).
        """
        if kind is None:
            kind = "electrical" if hasattr(source, "onset_table") else "structural"
        for suffix, v, s, b in _onsets(source, time_units):
            if self.bias_on is None and b is not None:
                self.bias_on = b
            self._rows.append({"sample": str(sample), "measurement": measurement + suffix,
                               "kind": kind, "onset": v, "onset_std": s})  # fmt: skip

    def add_figures_of_merit(self, sample, state, source, row=None):
        """Add the J-V figures of merit of one sample in one state.

        Parameters
        ----------
        sample : str
        state : str
            e.g. "before", "after bias", "aged 16 h".
        source : ResultTable or dict
            A J-V table (``JVFiguresOfMerit.to_table()``; ``row`` picks the
            row label or index) or ``{"PCE": (value, std), ...}``.
        row : str or int, optional
        """
        entry = {"sample": str(sample), "measurement": f"J-V, {state}", "kind": "J-V"}
        if isinstance(source, ResultTable):
            i = 0 if row is None else (row if isinstance(row, int) else
                                       source.index.index(str(row)))  # fmt: skip
            for k in _FOM:
                if k in source:
                    entry[k] = float(source[k][i])
                    entry[k + "_std"] = float(
                        source.std.get(k, [np.nan] * len(source))[i]
                    )
        else:
            for k, val in dict(source).items():
                v, s = val if isinstance(val, (tuple, list)) else (val, np.nan)
                entry[k], entry[k + "_std"] = float(v), float(s)
        self._rows.append(entry)

    def table(self):
        """One ResultTable: onsets (s, and s after the bias) and J-V numbers.

        Returns
        -------
        hyperspy_perovskite.results.ResultTable
        """
        b = 0.0 if self.bias_on is None else self.bias_on
        get = lambda k: np.array([r.get(k, np.nan) for r in self._rows], float)  # noqa: E731
        cols = {"sample": [r["sample"] for r in self._rows],
                "measurement": [r["measurement"] for r in self._rows],
                "kind": [r["kind"] for r in self._rows],
                "onset": get("onset"), "onset_after_bias": get("onset") - b}  # fmt: skip
        std = {"onset": get("onset_std"), "onset_after_bias": get("onset_std")}
        units = {"onset": "s", "onset_after_bias": "s"}
        for k in _FOM:
            if any(k in r for r in self._rows):
                cols[k], std[k], units[k] = get(k), get(k + "_std"), _FOM_UNITS[k]
        return ResultTable(
            cols, units=units, std=std,
            index=[f"{r['sample']}: {r['measurement']}" for r in self._rows],
            title="Structure-device link",
            description=f"Onsets on one time axis; bias switched on at {b:.4g} s.",
        )  # fmt: skip

    def plot(self, electrical=None, figsize=(10, 4.5)):
        """Timeline of the onsets (s after bias on) beside the J-V numbers.

        Parameters
        ----------
        electrical : ElectricalLog, optional
            Its auto trace (conductance or resistance, normalised to its start)
            is drawn behind the onsets on a second axis.

        Returns
        -------
        matplotlib.figure.Figure
        """
        import matplotlib.pyplot as plt

        t = self.table()
        onset = ~np.isnan(t["onset"])
        fom = np.array(t["kind"]) == "J-V"
        ncols = 2 if fom.any() else 1
        fig, axes = plt.subplots(1, ncols, figsize=figsize, dpi=150, squeeze=False,
                                 gridspec_kw={"width_ratios": [2, 1][:ncols]})  # fmt: skip
        ax = axes[0, 0]
        y = np.arange(onset.sum())
        colors = {"structural": "tab:blue", "electrical": "tab:red"}
        for yi, i in zip(y, np.flatnonzero(onset), strict=True):
            kind = t["kind"][i]
            ax.errorbar(t["onset_after_bias"][i], yi, xerr=t.std["onset_after_bias"][i],
                        fmt="o", color=colors.get(kind, "k"), capsize=3,
                        label=kind)  # fmt: skip
        ax.set_yticks(y, [t.index[i] for i in np.flatnonzero(onset)], fontsize=8)
        ax.axvline(0.0, color="0.3", ls="--", lw=1, label="bias on")
        ax.set_xlabel("Time after bias switch-on (s)")
        ax.set_title("Onsets on one time axis")
        if electrical is not None:
            q = "conductance" if electrical.mode == "potentiostatic" else "resistance"
            tr = getattr(electrical, q)
            ok = np.isfinite(tr)
            ax2 = ax.twinx()
            ax2.plot(electrical.time[ok] - (self.bias_on or 0.0),
                     tr[ok] / tr[ok][0], color="0.6", lw=0.8, zorder=0)  # fmt: skip
            ax2.set_ylabel(f"{q.capitalize()} / initial value")
            ax.set_zorder(ax2.get_zorder() + 1)  # onsets above the trace
            ax.patch.set_visible(False)
        ax.set_ylim(-0.6, max(y.size, 1) - 0.4)
        handles, labels = ax.get_legend_handles_labels()
        uniq = dict(zip(labels, handles, strict=True))
        ax.legend(uniq.values(), uniq.keys(), fontsize=8, ncol=3, loc="upper center",
                  bbox_to_anchor=(0.5, -0.16), frameon=False)  # fmt: skip
        if ncols == 2:
            bx = axes[0, 1]
            key = "PCE" if "PCE" in t else next(k for k in _FOM if k in t)
            idx = np.flatnonzero(fom)
            bx.bar(np.arange(idx.size), t[key][idx], yerr=t.std[key][idx], capsize=3,
                   color="tab:green")  # fmt: skip
            bx.set_xticks(np.arange(idx.size), [t.index[i] for i in idx], rotation=30,
                          ha="right", fontsize=8)  # fmt: skip
            bx.set_ylabel(f"{key} ({_FOM_UNITS[key]})")
            bx.set_title("J-V figures of merit")
        fig.tight_layout()
        return fig
