"""Element and composition profiles across the stack of ``EDS_TEM_biased`` maps.

A mixin of :class:`~hyperspy_perovskite.signals.eds_biased.EDSTEMBiasedSpectrum`.
Intensities come from ONE streaming pass over the band (only the channels of
the line and background windows), with Poisson variances, or the variance
set on the map when there is one; compositions from exSpy's Cliff-Lorimer or
zeta-factor rules, optionally corrected for absorption
(:mod:`hyperspy_perovskite.analysis.eds_quant`).
"""

from __future__ import annotations

import copy

import dask.array as da
import numpy as np
from hyperspy.signals import Signal1D

from hyperspy_perovskite.analysis import device_geometry as geo
from hyperspy_perovskite.analysis.eds.checks import (
    LineAbsentWarning,
    NonPoissonWarning,
    check_band_counts,
)
from hyperspy_perovskite.analysis.eds.quantify import (
    quantify_intensities,
)
from hyperspy_perovskite.metadata import record_processing
from hyperspy_perovskite.signals._base import as_requested, compute, resolve_options
from hyperspy_perovskite.signals._eds_geometry import PROFILE_NODES, options_doc
from hyperspy_perovskite.units import parse_quantity

__all__ = [
    "ProfilesMixin",
    "NonPoissonWarning",
    "LineAbsentWarning",
    "wrap_profiles",
    "linescan_header",
]


def _eager(a):
    """A numpy array from a numpy or dask array."""
    return np.asarray(a.compute() if isinstance(a, da.Array) else a, dtype=float)


class ProfilesMixin:
    """Element and composition profiles (see module)."""

    def _band_line_sums(
        self,
        xray_lines,
        width,
        bin_size,
        reference,
        background,
        integration_windows,
        options,
    ):
        """Line intensities and variances of the band in one streaming pass.

        Only the channels of the line and background windows are summed over
        the band's bins (:func:`~hyperspy_perovskite.analysis.device_geometry.project_to_stack`
        with ``channels``); the windows are applied to the small result.
        The variance is ``sum(w**2 * counts)`` (Poisson), or the same sum of
        the variance set on the map.

        Returns
        -------
        intensity, variance : array
            ``(..., n_bins, n_lines)`` (dask when ``options.lazy_output``).
        header : tuple
            ``(axes, metadata)`` of the profiles, for :func:`wrap_profiles`.
        """
        index, centres, _, axes, md = self._band_setup(
            width, bin_size, reference, full_metadata=False
        )
        w = self._weights(xray_lines, background, integration_windows)
        wb = self._weights(xray_lines, True, integration_windows)
        wg = self._weights(xray_lines, False, integration_windows)
        n = len(xray_lines)
        wall = np.concatenate([w, wb, wg], axis=1)
        used = np.flatnonzero(np.any(wall != 0, axis=1))
        sums = geo.project_to_stack(self.data, index, centres.size, channels=used)
        var_map = self._map_variance()
        vsums = sums
        if var_map is not None:
            vsums = geo.project_to_stack(var_map, index, centres.size, channels=used)
        res = sums @ wall[used]
        var = vsums @ (wall[used] ** 2)
        poisson = var_map is None
        if options.lazy_output and isinstance(res, da.Array):
            # the same checks, run when the lazy profiles are computed: every
            # chunk of the result depends on the (small) totals they need,
            # in the same graph (one pass over the data)
            def flat(a):
                return a.reshape((-1, n)).sum(axis=0)

            nonint = da.any(da.abs(sums - da.round(sums)) > 1e-6).astype(float)
            totals = da.stack(
                [
                    flat(res[..., n : 2 * n]),
                    flat(var[..., n : 2 * n]),
                    flat(res[..., 2 * n :]),
                    da.broadcast_to(nonint, (n,)),
                ]
            ).rechunk(-1)

            def check(t):
                check_band_counts(
                    xray_lines, t[0], t[1], t[2], np.array([0.5 * t[3, 0]]), poisson
                )
                return np.zeros(())

            zero = da.map_blocks(
                check, totals, drop_axis=[0, 1], dtype=float, meta=np.zeros(())
            )
            res, var = res + zero, var + zero
        elif not options.lazy_output:
            parts = (res, var, sums)
            if any(isinstance(a, da.Array) for a in parts):
                parts = da.compute(*parts, **options.compute_kwargs)
            res, var, counts = (np.asarray(a, dtype=float) for a in parts)
            check_band_counts(
                xray_lines,
                res[..., n : 2 * n],
                var[..., n : 2 * n],
                res[..., 2 * n :],
                counts,
                poisson,
            )
        md = {node: md[node] for node in PROFILE_NODES if node in md}
        return res[..., :n], var[..., :n], (axes[:-1], md)

    @options_doc()
    def get_element_profiles(
        self,
        xray_lines=None,
        width=None,
        bin_size=None,
        reference=None,
        background=True,
        integration_windows=2.0,
        check_overlaps=True,
        method="windows",
        show_progressbar=None,
        lazy_output=None,
        num_workers=None,
    ):
        """X-ray line intensity profiles across the stack, with their variance.

        Intensities are integrated over a band of ``width`` around the stack
        line (see :meth:`get_stack_linescan`) in exSpy's integration windows,
        with background-window subtraction when ``background`` (exSpy's rule,
        with windows moved off the lines of the elements present:
        :func:`~hyperspy_perovskite.analysis.xray_lines.line_free_background_windows`).
        The variance of each point, ``sum(w**2 * counts)`` (or the same sum
        of the map's variance when one is set), is stored in
        ``metadata.Signal.Noise_properties.variance`` so that model fits are
        weighted by it.

        Parameters
        ----------
        xray_lines : sequence of str, optional
            Default ``metadata.Sample.xray_lines``.
        width, bin_size, reference
            See :meth:`get_stack_linescan`.
        background : bool
            Subtract the background estimated in exSpy's background windows.
        integration_windows : float
            Window width in units of the line FWHM (exSpy's default 2; > 0).
        check_overlaps : bool
            Warn about overlapped lines (:meth:`check_line_overlaps`); only
            with ``method="windows"``.
        method : {"windows", "fit"}
            ``"windows"``: window sums (fast, linear in the counts).
            ``"fit"``: exSpy's EDS model (bremsstrahlung polynomial and all
            line families of the elements present) fitted to every bin of the
            line scan by weighted linear least squares; separates overlapped
            lines. The variance is the fit's.
        %(options)s

        Returns
        -------
        list of hyperspy.signals.Signal1D
            One profile per line, signal axis the distance in nm from the
            reference interface, series axes as navigation.

        Raises
        ------
        ValueError
            For lines outside the energy range, NaN values in the windows,
            or a band with zero counts in a line window (with
            ``lazy_output=True`` the same checks run when the profiles are
            computed).

        Warns
        -----
        LineAbsentWarning
            When a line's net counts in the band are below 3 standard
            deviations (e.g. Cl Ka of a sample without Cl: bremsstrahlung).
        NonPoissonWarning
            When the counts are not raw counts and no variance is set.

        Examples
        --------
        >>> from hyperspy_perovskite.data.device_simulation import simulate_device_eds
        >>> s, truth = simulate_device_eds(shape=(8, 16), n_channels=512)
        >>> p = s.get_element_profiles(["I_La"], check_overlaps=False)
        >>> p[0].axes_manager.signal_axes[0].units
        'nm'
        """
        opts = resolve_options(
            self,
            lazy_output=lazy_output,
            show_progressbar=show_progressbar,
            num_workers=num_workers,
        )
        lines = self._lines_in_range(xray_lines)
        if method not in ("windows", "fit"):
            raise ValueError(f"method must be 'windows' or 'fit', got {method!r}.")
        if check_overlaps and method == "windows":
            self.check_line_overlaps(lines)
        if method == "fit":
            ls = self.get_stack_linescan(
                width=width,
                bin_size=bin_size,
                reference=reference,
                lazy_output=False,
                show_progressbar=opts.show_progressbar,
                num_workers=opts.num_workers,
            )
            inten, var = ls._fit_intensities(lines, opts)
            header = linescan_header(ls)
            inten, var = compute(inten, opts), compute(var, opts)
        else:
            inten, var, header = self._band_line_sums(
                lines,
                width,
                bin_size,
                reference,
                background,
                integration_windows,
                opts,
            )
        out = wrap_profiles(*header, lines, inten, var, "X-ray counts")
        return [as_requested(p, opts) for p in out]

    def _k_list(self, kfactors, lines):
        if isinstance(kfactors, dict):
            missing = [ln for ln in lines if ln not in kfactors]
            if missing:
                raise ValueError(f"No k-factor given for {missing}.")
            k = [float(kfactors[ln]) for ln in lines]
        else:
            k = [float(v) for v in kfactors]
            if len(k) != len(lines):
                raise ValueError(
                    f"{len(k)} k-factors for {len(lines)} X-ray lines {lines}: give "
                    "one per line (or a dict {line: k})."
                )
        if not all(np.isfinite(v) and v > 0 for v in k):
            raise ValueError("k-factors must be positive numbers.")
        return k

    def _take_off_angle(self, take_off_angle):
        if isinstance(take_off_angle, str) and take_off_angle == "auto":
            return float(self.get_take_off_angle())
        return parse_quantity(take_off_angle, "degree", name="take_off_angle")

    @options_doc()
    def get_composition_profiles(
        self,
        kfactors,
        xray_lines=None,
        width=None,
        bin_size=None,
        reference=None,
        background=True,
        check_overlaps=True,
        method="windows",
        profiles=None,
        quantification="CL",
        absorption_correction=False,
        thickness=None,
        take_off_angle="auto",
        dose=None,
        show_progressbar=None,
        lazy_output=None,
        num_workers=None,
    ):
        """Composition profiles (at%) across the stack, exSpy's quantification.

        The line intensities of the band are those of
        :meth:`get_element_profiles` (one streaming pass over the map, or
        none when its ``profiles`` are passed), quantified by exSpy's rules:
        Cliff-Lorimer with k-factors, or zeta factors with the electron dose,
        each optionally corrected for absorption (exSpy's
        ``absorption_correction``; :mod:`hyperspy_perovskite.analysis.eds_quant`).
        Uncertainties are propagated linearly from the intensity variances
        (absorption factors held fixed) and stored as
        ``metadata.Signal.Noise_properties.variance``.

        Parameters
        ----------
        kfactors : dict or sequence of float
            Cliff-Lorimer k-factors in exSpy's convention (weight fractions),
            or zeta factors (kg electrons / (m^2 photons)) with
            ``quantification="zeta"``; ``{line: factor}`` or one per line.
        xray_lines, width, bin_size, reference, background, check_overlaps, method
            See :meth:`get_element_profiles`.
        profiles : list of hyperspy.signals.Signal1D, optional
            Element profiles from :meth:`get_element_profiles` (at least two
            lines), quantified without reading the map again.
        quantification : {"CL", "zeta"}
            exSpy's method names.
        absorption_correction : bool
            Correct for X-ray absorption in the specimen (exSpy's rule).
        thickness : float or str, optional
            Specimen thickness (number in nm, or ``"150 nm"``), needed for
            Cliff-Lorimer with absorption.
        take_off_angle : float, str or "auto"
            Degrees; ``"auto"`` reads it from the metadata (exSpy).
        dose : float or str, optional
            Electrons per pixel for ``"zeta"`` (``live_time * beam_current /
            e``): a number of electrons (e), or a charge with its unit
            (``"0.16 pC"``, ``"1e6 e"``); default from ``Acquisition_instrument.TEM`` (exSpy's
            ``beam_current`` in nA and ``Detector.EDS.live_time`` in s per
            pixel). Multiplied by the pixels of each bin.
        %(options)s

        Returns
        -------
        list of hyperspy.signals.Signal1D
            One at% profile per line; with zeta factors, also the mass
            thickness profile (kg/m^2) last.

        Examples
        --------
        >>> from hyperspy_perovskite.data.device_simulation import simulate_device_eds
        >>> s, truth = simulate_device_eds(shape=(8, 16), n_channels=1024)
        >>> lines = ["Pb_La", "I_La", "Br_Ka"]
        >>> c = s.get_composition_profiles(truth["k_factors"], lines,
        ...                                check_overlaps=False)
        >>> c[0].metadata.Signal.quantity
        'Composition (at%)'
        """
        opts = resolve_options(
            self,
            lazy_output=lazy_output,
            show_progressbar=show_progressbar,
            num_workers=num_workers,
        )
        if quantification not in ("CL", "zeta"):
            raise ValueError(
                f"quantification must be 'CL' or 'zeta' (exSpy's names), got "
                f"{quantification!r}."
            )
        if absorption_correction and quantification == "CL" and thickness is None:
            raise ValueError(
                "Absorption correction with k-factors needs the specimen "
                "thickness: give thickness= (nm, or e.g. '150 nm')."
            )
        if profiles is None:
            lines = self._lines_in_range(xray_lines)
            k = self._k_list(kfactors, lines)
            profiles = self.get_element_profiles(
                lines,
                width=width,
                bin_size=bin_size,
                reference=reference,
                background=background,
                check_overlaps=check_overlaps,
                method=method,
                show_progressbar=opts.show_progressbar,
                lazy_output=False,
                num_workers=opts.num_workers,
            )
        else:
            lines = _profile_lines(profiles, xray_lines)
            k = self._k_list(kfactors, lines)
        inten = np.stack([_eager(p.data) for p in profiles])
        var = np.stack(
            [_eager(p.metadata.Signal.Noise_properties.variance.data) for p in profiles]
        )
        toa = self._take_off_angle(take_off_angle) if absorption_correction else None
        dose_bin = None
        if quantification == "zeta":
            npix = np.asarray(profiles[0].metadata.Device.Profile.pixels_per_bin, float)
            dose_bin = self._zeta_dose(dose) * npix
        values, cvar, names = quantify_intensities(
            inten,
            var,
            lines,
            k,
            quantification,
            thickness=None
            if thickness is None
            else parse_quantity(thickness, "nm", name="thickness"),
            take_off_angle=toa,
            dose=dose_bin,
            absorption_correction=absorption_correction,
        )
        mass_thickness = values[..., -1] if quantification == "zeta" else None
        out = wrap_profiles(
            *linescan_header(profiles[0], drop_energy=False),
            names,
            compute(values, opts),
            compute(cvar, opts),
            "Composition (at%)",
        )
        for p, line in zip(out, lines, strict=False):
            p.metadata.General.title = f"{line.split('_')[0]} composition profile"
        if mass_thickness is not None:
            out[-1].metadata.General.title = "Mass thickness profile"
            out[-1].metadata.Signal.quantity = "Mass thickness (kg/m^2)"
            del out[-1].metadata.Sample
        for p in out:
            record_processing(
                p.metadata,
                "Quantification",
                method=quantification,
                factors=dict(zip(lines, k, strict=True)),
                absorption_correction=bool(absorption_correction),
                take_off_angle=toa,
                thickness_nm=None
                if thickness is None
                else parse_quantity(thickness, "nm", name="thickness"),
            )
        return out

    def _zeta_dose(self, dose):
        if dose is not None:
            return parse_quantity(dose, "elementary_charge", name="dose")
        from scipy.constants import e

        tem = self.metadata.get_item("Acquisition_instrument.TEM")
        current = None if tem is None else tem.get_item("beam_current")
        live = None if tem is None else tem.get_item("Detector.EDS.live_time")
        if current is None or live is None:
            raise ValueError(
                "zeta factors need the electron dose per pixel: give dose= "
                "(electrons) or set beam_current (nA) and live_time (s) with "
                "s.set_microscope_parameters()."
            )
        return float(live) * float(current) * 1e-9 / e


def linescan_header(sig, drop_energy=True):
    """``(axes, metadata)`` for :func:`wrap_profiles` from a line scan or profile."""
    axes = [a.get_axis_dictionary() for a in sig.axes_manager._axes]
    if drop_energy:
        axes = axes[:-1]
    md = {
        node: sig.metadata.get_item(node).as_dictionary()
        for node in PROFILE_NODES
        if sig.metadata.has_item(node)
    }
    return axes, md


def wrap_profiles(axes, metadata, names, values, variances, quantity):
    """Wrap ``(..., nbins, n)`` arrays as one Signal1D profile per name.

    ``axes`` are the axis dictionaries in array order (series axes, then the
    distance): the distance becomes the signal axis, the series axes
    navigate, and the ``Device``, ``Stimulus`` and ``Acquisition_instrument``
    nodes are kept. Lazy for dask arrays.
    """
    out = []
    for k, name in enumerate(names):
        d, v = values[..., k], variances[..., k]
        prof_axes = [dict(a, navigate=True) for a in copy.deepcopy(axes[:-1])]
        prof_axes.append(dict(copy.deepcopy(axes[-1]), navigate=False))
        md = {
            "General": {"title": f"{name} profile"},
            "Signal": {"quantity": quantity},
            "Sample": {"xray_lines": [name], "elements": [name.split("_")[0]]},
        }
        for node in PROFILE_NODES:
            if node in metadata:
                md[node] = copy.deepcopy(metadata[node])
        prof = Signal1D(d, axes=prof_axes, metadata=md)
        var = Signal1D(v, axes=copy.deepcopy(prof_axes))
        if isinstance(d, da.Array):
            prof, var = prof.as_lazy(), var.as_lazy()
        prof.metadata.set_item("Signal.Noise_properties.variance", var)
        out.append(prof)
    return out


def _profile_lines(profiles, xray_lines):
    """Validate element profiles passed for quantification; their lines."""
    if not isinstance(profiles, (list, tuple)) or not all(
        isinstance(p, Signal1D) for p in profiles
    ):
        raise TypeError(
            "profiles must be the list of Signal1D returned by "
            "get_element_profiles(...)."
        )
    lines = []
    for p in profiles:
        xr = p.metadata.get_item("Sample.xray_lines", [])
        if (
            len(xr) != 1
            or p.metadata.get_item("Signal.quantity") != "X-ray counts"
            or not p.metadata.has_item("Signal.Noise_properties.variance")
        ):
            raise ValueError(
                "Each profile must be an X-ray line intensity profile with its "
                "variance, as returned by get_element_profiles(...) (one line "
                "in metadata.Sample.xray_lines)."
            )
        lines.append(xr[0])
    if len(lines) < 2:
        raise ValueError("Quantification needs at least two lines.")
    if len({p.data.shape for p in profiles}) != 1:
        raise ValueError("The profiles do not share one shape (same band and bins).")
    if xray_lines is not None:
        given = [xray_lines] if isinstance(xray_lines, str) else list(xray_lines)
        if given != lines:
            raise ValueError(
                f"xray_lines {given} differ from the lines of the profiles {lines}."
            )
    return lines
