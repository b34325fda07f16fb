"""Result of an operando 4D-STEM analysis: maps, interface tables, timeline."""

from __future__ import annotations

import numpy as np

from hyperspy_perovskite.analysis.diffraction import interfaces as itf
from hyperspy_perovskite.results import ResultTable
from hyperspy_perovskite.validity import Validity

__all__ = ["OperandoAnalysis"]

_COMP = ("exx", "eyy", "exy", "theta")
_UNITS = {"exx": "", "eyy": "", "exy": "", "theta": "rad"}


class OperandoAnalysis:
    """Everything :meth:`Operando4DSTEM.analyse` measured.

    Attributes
    ----------
    strain : dict of str to Signal2D
        ``exx, eyy, exy, theta`` (time | y, x), NaN where invalid, and
        ``<name>_std``; strain is dimensionless, theta in rad.
    product : numpy.ndarray of bool, shape (time, y, x)
        A nanocrystalline product (a Friedel pair of spots on a candidate
        ring, significant at ``alpha`` per pattern, in a cluster).
    present : dict of str to bool array
        Product positions whose spots all lie on rings of that phase (the
        phase is *possible*; several phases can be possible at one position).
    identification : numpy.ndarray of int
        Index into ``phases`` where exactly one phase is possible; -1
        ambiguous, -2 unknown product, -3 no product.
    phase_maps : dict of str to Signal2D
        ``product_significance`` (-log10 of the corrected p-value),
        ``identification`` and, per phase, ``possible`` (1/0, NaN untested).
    virtual_images : dict of str to Signal2D
    drift : Signal1D
        Sample offset (time | dy, dx) in nm.
    diffraction_rotation : float
        Rotation (degrees) of the pattern relative to the scan used for the
        device frame; stored in every map's
        ``metadata.Diffraction_calibration``.
    validity : Validity
        Of the strain maps (time, y, x).
    interface_strain, phase_fractions, onsets, timeline : ResultTable
    """

    def __init__(
        self,
        *,
        signal,
        strain,
        validity,
        ref_std,
        phases,
        products,
        images,
        beam,
        offsets,
        offsets_std,
        s,
        geom,
        times,
        plan,
        reference_band,
        rotation=0.0,
    ):
        self._src = signal
        self._strain = strain
        self.validity = validity
        self.reference_std = ref_std
        self.phases = phases
        self.products = products
        self._images = images
        self._beam = beam
        self.offsets = offsets
        self.offsets_std = offsets_std
        self.stack_coordinate = s
        self.geometry = geom
        self.times = times
        self.plan = plan
        self.reference_band = reference_band
        self.diffraction_rotation = float(rotation)
        self.bias_on = _bias_on(signal)

    # ------------------------------------------------------------------ maps
    def _series(self, data, title, quantity, validity=None):
        from hyperspy_perovskite.signals.operando_4dstem import (
            set_diffraction_rotation,
        )

        out = self._src._image_series(data, title=title, quantity=quantity)
        set_diffraction_rotation(out.metadata, self.diffraction_rotation)
        if validity is not None:
            validity.to_metadata(out.metadata)
        return out

    @property
    def strain(self):
        out = {}
        for i, c in enumerate(_COMP):
            unit = f" ({_UNITS[c]})" if _UNITS[c] else ""
            v = self.validity.apply(self._strain[..., i])
            e = self.validity.apply(self._strain[..., 4 + i])
            out[c] = self._series(v, f"Strain {c}", f"{c}{unit}", self.validity)
            out[f"{c}_std"] = self._series(
                e, f"Std of {c}", f"{c} std{unit}", self.validity
            )
        return out

    @property
    def product(self):
        """Product positions (time, y, x) bool (see the class doc)."""
        if self.products is None:
            return np.zeros(self.stack_coordinate.shape, bool)
        return self.products["product"]

    @property
    def tested(self):
        """Positions where at least one band could be tested."""
        if self.products is None:
            return np.zeros(self.stack_coordinate.shape, bool)
        return self.products["tested"]

    @property
    def present(self):
        """``{phase: bool (time, y, x)}``: product positions where the phase is possible.

        At a calibration where the candidates' rings overlap, a position is
        possible for several phases (``identification == -1``); no phase is
        picked silently.
        """
        if self.products is None:
            return {}
        pos = self.products["possible"]
        return {p: pos[..., i] for i, p in enumerate(self.phases)}

    @property
    def identification(self):
        """Index of the only possible phase; -1 ambiguous, -2 unknown, -3 none."""
        if self.products is None:
            return np.full(self.stack_coordinate.shape, -3)
        return self.products["label"]

    @property
    def phase_maps(self):
        out = {}
        if self.products is None:
            return out
        tested = self.tested
        with np.errstate(divide="ignore"):
            sig = -np.log10(np.maximum(self.products["p_min"], 1e-300))
        out["product_significance"] = self._series(
            np.where(tested, sig, np.nan),
            "Product significance",
            "-log10 p (per pattern, corrected)",
        )
        lab = np.where(self.product, self.identification, np.nan).astype(float)
        out["identification"] = self._series(
            lab,
            "Product identification ("
            + ", ".join(f"{i}: {p}" for i, p in enumerate(self.phases))
            + ", -1: ambiguous, -2: unknown)",
            "Phase index",
        )
        for p, m in self.present.items():
            out[p] = self._series(
                np.where(tested, m, np.nan).astype(float),
                f"{p} possible",
                "Possible (1) / not (0)",
            )
        return out

    @property
    def virtual_images(self):
        return {
            k: self._series(v, f"Virtual {k}", "Intensity (counts)")
            for k, v in self._images.items()
        }

    @property
    def beam_position(self):
        """Fitted direct beam (x, y) per pattern in pixels, as two image series."""
        return {
            n: self._series(self._beam[..., i], f"Direct beam {n}", f"{n} (px)")
            for i, n in enumerate(("x", "y"))
        }

    @property
    def drift(self):
        s = self._src._drift_signal(self.offsets)
        return s

    # ---------------------------------------------------------------- tables
    def _tables(self, interface_width, phase_width, halide):
        t = self.times
        pristine = (
            t < self.bias_on if np.isfinite(self.bias_on) else np.zeros(t.size, bool)
        )
        rows = {k: [] for k in ("interface", "time", "n")}
        cols, std = {}, {}
        strain_at = {}
        for name, pos in self.geometry.interfaces.items():
            rows["interface"] += [name] * t.size
            rows["time"] += list(t)
            for i, c in enumerate(_COMP):
                v = self.validity.apply(self._strain[..., i])
                m, e, n, _ = itf.band_mean(
                    v,
                    self._strain[..., 4 + i],
                    self.stack_coordinate,
                    pos,
                    interface_width / 2,
                    self.reference_std[:, i],
                )
                cols.setdefault(c, []).extend(m)
                std.setdefault(c, []).extend(e)
                pre, pre_e = _weighted(m[pristine], e[pristine])
                cols.setdefault(f"{c}_pristine", []).extend([pre] * t.size)
                std.setdefault(f"{c}_pristine", []).extend([pre_e] * t.size)
                cols.setdefault(f"{c}_bias", []).extend(m - pre)
                std.setdefault(f"{c}_bias", []).extend(np.sqrt(e**2 + pre_e**2))
                strain_at[(name, c)] = (m, e)
            rows["n"] += list(n)
        units = {c: _UNITS[c] for c in _COMP}
        units.update(
            {f"{c}_{k}": _UNITS[c] for c in _COMP for k in ("pristine", "bias")}
        )
        units["time"] = "s"
        self.interface_strain = ResultTable(
            {**rows, **cols},
            units=units,
            std=std,
            title="Strain at interfaces",
            description=(
                f"Inverse-variance mean over valid positions within {interface_width / 2:g} nm "
                "of each interface (drift-corrected); *_pristine: mean over scans before "
                "the bias switch-on; *_bias: the change the bias added."
            ),
        )
        self._phase_tables(phase_width, pristine)
        self._timeline(strain_at, halide)

    def _phase_tables(self, phase_width, pristine):
        t = self.times
        dt = np.diff(t).mean() if t.size > 1 else np.nan
        rows = {k: [] for k in ("interface", "phase", "time", "fraction", "n")}
        fstd, amb = [], []
        on = {
            k: []
            for k in (
                "interface",
                "phase",
                "onset",
                "onset_after",
                "onset_at",
                "onset_bias",
                "p_value",
            )
        }
        onstd = []
        self._fractions = {}
        floor = 5.0 * (self.products["alpha"] ** 2 if self.products else 0.0)
        valid = self.tested
        groups = {"product": self.product, **self.present}
        for name, pos in self.geometry.interfaces.items():
            inb = np.abs(self.stack_coordinate - pos) <= phase_width / 2
            prod_in = (self.product & inb & valid).sum(axis=(1, 2))
            amb_in = (self.product & inb & valid & (self.identification == -1)).sum(
                axis=(1, 2)
            )
            for p, pres in groups.items():
                f, e, n = itf.band_fraction(
                    pres, valid, self.stack_coordinate, pos, phase_width / 2
                )
                self._fractions[(name, p)] = (f, e)
                rows["interface"] += [name] * t.size
                rows["phase"] += [p] * t.size
                rows["time"] += list(t)
                rows["fraction"] += list(f)
                rows["n"] += list(n)
                fstd += list(e)
                with np.errstate(invalid="ignore", divide="ignore"):
                    amb += list(np.where(prod_in > 0, amb_in / prod_in, np.nan))
                k = np.round(f * n).astype(float)
                o = (
                    itf.count_onset(t, np.nan_to_num(k), n, pristine, floor)
                    if pristine.any()
                    else None
                )
                on["interface"].append(name)
                on["phase"].append(p)
                a, b, pv = (o[1], o[2], o[3]) if o else (np.nan, np.nan, np.nan)
                on["onset_after"].append(a)
                on["onset_at"].append(b)
                on["onset"].append(0.5 * (a + b))
                on["onset_bias"].append(0.5 * (a + b) - self.bias_on)
                on["p_value"].append(pv)
                # the product appeared between two snapshots: uniform in the
                # interval (std = width / sqrt(12))
                onstd.append((b - a) / np.sqrt(12.0) if o else np.nan)
        rows["ambiguous"] = amb
        self.phase_fractions = ResultTable(
            rows,
            units={"time": "s"},
            std={"fraction": fstd},
            title="Phase fractions at interfaces",
            description=f"Fraction of tested positions within {phase_width / 2:g} nm of "
            "each interface holding a product ('product') or a product whose spots all "
            "lie on rings of the phase (the phase is possible); binomial std. "
            "ambiguous: fraction of the product positions where several phases are "
            f"possible. Per-pattern false-positive rate {self.products['alpha'] if self.products else float('nan'):g}, "
            f"clusters of >= {self.products['min_cluster'] if self.products else 0} positions.",
        )
        self.onsets = ResultTable(
            on,
            units={k: "s" for k in on if k.startswith("onset")},
            std={"onset": onstd, "onset_bias": onstd},
            title="Phase onsets",
            description="First scan after the pristine ones whose count of product "
            "positions in the band is improbable (Poisson p < 1e-3) under the pristine "
            "rate (at least the detector's false-positive rate): the product appeared "
            "in (onset_after, onset_at]; onset is the middle, its std width/sqrt(12); "
            "onset_bias relative to the bias switch-on. NaN: never significant, or no "
            f"pristine scan. Scan interval {dt:g} s.",
        )

    def _timeline(self, strain_at, halide):
        from hyperspy_perovskite.stimulus import has_record, stimulus_channels

        t = self.times
        cols = {"time": t}
        units = {"time": "s"}
        std = {}
        if has_record(self._src):
            ch = stimulus_channels(self._src)
            for name, sig in ch.items():
                q = sig.metadata.Signal.quantity
                cols[name] = sig.data
                units[name] = q[q.find("(") + 1 : -1] if "(" in q else ""
            v = [
                n
                for n, s in ch.items()
                if s.metadata.Signal.quantity.startswith("voltage")
            ]
            i = [
                n
                for n, s in ch.items()
                if s.metadata.Signal.quantity.startswith("current")
            ]
            if v and i:
                with np.errstate(invalid="ignore", divide="ignore"):
                    r = cols[v[0]] / np.where(cols[i[0]] != 0, cols[i[0]], np.nan)
                cols["resistance"], units["resistance"] = r, "Ohm"
        for (name, c), (m, e) in strain_at.items():
            if c == "exx" or c == "eyy":
                cols[f"{c} {name}"], std[f"{c} {name}"] = m, e
        for (name, p), (f, e) in self._fractions.items():
            cols[f"{p} fraction {name}"], std[f"{p} fraction {name}"] = f, e
        if halide is not None:
            from hyperspy_perovskite.units import axis_values

            th = axis_values(
                halide.axes_manager.signal_axes[0], "s", name="halide time axis"
            )
            cols["halide"] = np.interp(
                t, th, np.asarray(halide.data, float), left=np.nan, right=np.nan
            )
            units["halide"] = str(halide.metadata.get_item("Signal.quantity", ""))
        self.timeline = ResultTable(
            cols, units=units, std=std, title="Operando timeline"
        )

    # ------------------------------------------------------------- profiles
    def strain_profiles(self, component="exx", bin_width=1.0):
        """Strain across the stack (time | distance along the stack in nm)."""
        import hyperspy.api as hs

        i = _COMP.index(component)
        edges = np.arange(0.0, self.geometry.length + bin_width, bin_width)
        v = self.validity.apply(self._strain[..., i])
        m, e = itf.profile_along_stack(
            v, self._strain[..., 4 + i], self.stack_coordinate, edges
        )
        s = hs.signals.Signal1D(np.stack([m, e], axis=1))
        ax = s.axes_manager.signal_axes[0]
        ax.name, ax.units, ax.scale, ax.offset = "stack", "nm", bin_width, bin_width / 2
        tn = s.axes_manager.navigation_axes
        tn[0].name = "value, std"
        tn[1].update_from(
            self._src.axes_manager.navigation_axes[2],
            ("name", "units", "scale", "offset"),
        )
        s.metadata.General.title = f"{component} across the stack"
        return s

    # ---------------------------------------------------------------- figure
    def plot_timeline(self, interfaces=None, phases=None, fig=None):
        """Electrical record, interface strain and phase fractions on one time axis."""
        from hyperspy_perovskite.signals._operando_plot import plot_timeline

        return plot_timeline(self, interfaces, phases, fig)

    # --------------------------------------------------------------- storage
    def to_signal(self):
        """All maps in one signal (time, quantity | y, x) with tables and validity.

        Survives ``save``/``load`` (.hspy, .zspy); :meth:`tables_from_signal`
        reads the tables back.
        """
        import hyperspy.api as hs

        from hyperspy_perovskite.signals.operando_4dstem import (
            set_diffraction_rotation,
        )

        maps = [self.validity.apply(self._strain[..., i]) for i in range(8)]
        names = list(_COMP) + [f"{c}_std" for c in _COMP]
        for k, m in self.phase_maps.items():
            maps.append(m.data)
            names.append(f"{k}_possible" if k in self.phases else k)
        # one array (quantity, time, y, x); the axes and nodes of one map
        # (hs.stack deep-copies every map's metadata: seconds for nothing)
        base = self._series(maps[0], names[0], names[0])
        s = hs.signals.Signal2D(np.stack([np.asarray(m, float) for m in maps]))
        s.metadata.add_dictionary(base.metadata.as_dictionary())
        old = list(base.axes_manager.signal_axes) + list(
            base.axes_manager.navigation_axes
        )
        new = list(s.axes_manager.signal_axes) + [s.axes_manager.navigation_axes[0]]
        for a, b in zip(new, old, strict=True):
            a.update_from(b, ("name", "units", "scale", "offset"))
        s.axes_manager.navigation_axes[1].name = "quantity"
        s.metadata.Signal.quantity = "Value (see Results.Quantities)"
        s.metadata.General.title = "Operando 4D-STEM analysis"
        self.validity.to_metadata(s.metadata)
        set_diffraction_rotation(s.metadata, self.diffraction_rotation)
        ResultTable({"quantity": names}, title="Quantities").to_metadata(
            s.metadata, "Quantities"
        )
        for n in ("interface_strain", "phase_fractions", "onsets", "timeline"):
            getattr(self, n).to_metadata(s.metadata, n.capitalize())
        return s

    @staticmethod
    def tables_from_signal(signal):
        """``{name: ResultTable}`` stored by :meth:`to_signal`."""
        return {
            n: ResultTable.from_metadata(signal.metadata, n.capitalize())
            for n in ("interface_strain", "phase_fractions", "onsets", "timeline")
        }


def _weighted(m, e):
    ok = np.isfinite(m) & np.isfinite(e) & (e > 0)
    if not ok.any():
        return np.nan, np.nan
    w = 1.0 / e[ok] ** 2
    return float((m[ok] * w).sum() / w.sum()), float(np.sqrt(1.0 / w.sum()))


def _bias_on(signal):
    from hyperspy_perovskite.stimulus import bias_switch_on_time

    try:
        return float(bias_switch_on_time(signal))
    except ValueError:
        return np.nan


_ = Validity  # re-exported type of the ``validity`` attribute
