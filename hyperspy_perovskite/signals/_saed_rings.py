"""{hkl} intensities, amorphous halo, ring positions and lattice parameters
of an SAED series (methods of
:class:`~hyperspy_perovskite.signals.insitu_diffraction.InSituSAEDSeries`).

The computations are in :mod:`hyperspy_perovskite.analysis.saed_series` and
:mod:`hyperspy_perovskite.analysis.saed_fit`; these methods only read the
signal, call them and wrap the results on the time axis.
"""

import dask.array as da
import numpy as np
from hyperspy.docstrings.signal import (
    LAZY_OUTPUT_ARG,
    NUM_WORKERS_ARG,
    SHOW_PROGRESSBAR_ARG,
)
from hyperspy.signals import Signal1D

from hyperspy_perovskite.analysis import saed_series
from hyperspy_perovskite.analysis.saed_halo import fraction_with_std
from hyperspy_perovskite.crystallography import (
    family_members,
    parse_hkl,
    reflection_families,
)
from hyperspy_perovskite.signals import _saed_units as _u
from hyperspy_perovskite.signals._base import resolve_options

_FMT = {
    "show_progressbar": SHOW_PROGRESSBAR_ARG,
    "lazy_output": LAZY_OUTPUT_ARG,
    "num_workers": NUM_WORKERS_ARG,
}

_DECOMP_PARAMS = """phase : str or Phase, optional
            Library phase (:func:`~hyperspy_perovskite.crystallography.list_phases`);
            default ``metadata.Sample.phase``.
        halo_d : float, str, pint.Quantity or None
            d-spacing (A, or ``"0.34 nm"``) at which to hold the amorphous
            halo. Default None: the halo position is fitted with the whole
            series (:func:`~hyperspy_perovskite.analysis.saed_halo.fit_halo_series`;
            frames whose halo stands at 5 standard errors get their own
            position, the others share one). “Imaging real-time amorphization of hybrid
            perovskite solar cells under electrical biasing” saw the halo at
            the (002) spacing; amorphous PbI2 or a different composition puts
            it elsewhere, and a halo held at the wrong place takes intensity
            from the rings beside it.
        ring_width : float, str, pint.Quantity or None
            Gaussian standard deviation of the rings (1/A, or
            ``"0.15 1/nm"``); default fitted with the series (one width for
            all frames), starting from a fit of the strongest ring.
        halo_width : float, str, pint.Quantity or None
            Gaussian standard deviation of the halo (1/A, or a string with a
            unit); default fitted.
        background_order : int
            Polynomial order of the smooth background.
        radial_range : (float, float) or None
            Range of ``g`` (1/A; each a number, a string such as ``"0.1 1/A"``
            or a quantity) used; default from 6 ring widths below the
            first ring to the inscribed circle of the frame (full rings only).
        profile : Signal1D or None
            A precomputed :meth:`azimuthal_profile` (saves recomputing it).
        npt : int or None
            Radial bins of the azimuthal profile when it is computed."""


def _select_families(labels, families, phase):
    """Indices of the fitted ring groups holding each requested family."""
    if families is None:
        return list(range(len(labels)))
    idx = []
    for fam in families:
        h = parse_hkl(fam)
        hit = [
            i
            for i, lbl in enumerate(labels)
            if any(h in family_members(phase, parse_hkl(p)) for p in lbl.split("+"))
        ]
        if not hit:
            raise ValueError(
                f"Family {fam!r} is not among the fitted rings of {phase.name}: "
                f"{labels}."
            )
        idx.append(hit[0])
    return idx


def _warn_negative(integrated, variance, labels):
    """Warn when ring counts are negative beyond their noise (mis-centring)."""
    import warnings

    if variance is not None:
        bad = integrated < -3 * np.sqrt(
            np.maximum(variance[:, : integrated.shape[1]], 0)
        )
    else:
        bad = integrated < -0.05 * np.nanmax(np.abs(integrated))
    if bad.any():
        rings = [labels[j] for j in np.nonzero(bad.any(0))[0]]
        warnings.warn(
            f"Negative ring counts beyond the noise in {int(bad.sum())} "
            f"(frame, ring) pairs (rings {rings}): the pattern is probably not "
            "centred, or the phase does not describe the rings. Integrate with "
            "s.azimuthal_profile(center='auto') and check the phase.",
            UserWarning,
            stacklevel=3,
        )


def _exposure(profile, g):
    """Pixels per radial bin (and per sub-bin of radius) of a profile of
    whole pixels summed about the pattern centre, on the bins ``g``; None for
    pixel-splitting profiles."""
    md = profile.metadata
    if not md.has_item("Diffraction_analysis.pixels_per_bin"):
        return None
    da_md = md.Diffraction_analysis
    if md.has_item("Diffraction_analysis.centers"):
        c = np.asarray(da_md.centers, float)
        drift = float(np.max(np.hypot(*(c - c.mean(0)).T)))
        if drift > 0.5:
            import warnings

            warnings.warn(
                f"The pattern centre moves by up to {drift:.1f} px over the series: "
                "the whole-pixel bin model uses the pixels of the mean centre, so "
                "ring and halo counts carry an error beyond their reported std. "
                "Centre the frames first (pyxem's s.center_direct_beam()) and "
                "integrate about one centre.",
                UserWarning,
                stacklevel=4,
            )
    g_all = np.asarray(da_md.pixels_per_bin_g, float)
    if md.has_item("Diffraction_analysis.pixels_per_subbin"):
        sub = np.asarray(da_md.pixels_per_subbin, float)
        idx = np.clip(np.searchsorted(g_all, g - 1e-6 * abs(g[1] - g[0])), 0, None)
        if idx.max() < g_all.size and np.allclose(g_all[idx], g, rtol=1e-6):
            return sub[idx]
    return np.interp(g, g_all, np.asarray(da_md.pixels_per_bin, float))


class SAEDRingsMixin:
    """Ring decomposition methods of an SAED series."""

    def _decompose(self, phase, profile, npt, show_progressbar, num_workers, **kw):
        """Run :func:`~hyperspy_perovskite.analysis.saed_series.decompose_series`."""
        self._check_series()
        if "halo_d" in kw:
            kw["halo_d"] = _u.spacing(kw["halo_d"], "halo_d")
        for name in ("ring_width", "halo_width"):
            if name in kw:
                kw[name] = _u.reciprocal(kw[name], name)
        if "radial_range" in kw:
            kw["radial_range"] = _u.g_range(kw["radial_range"], "radial_range")
        ph = self._phase(phase)
        g, P = self._profile_arrays(profile, npt, show_progressbar, num_workers)
        fams = reflection_families(ph, d_min=1.0 / (g[-1] + 0.1))
        if not fams:
            raise ValueError(
                f"No allowed reflection of {ph.name} inside the profile range."
            )
        ax_x, ax_y = self.axes_manager.signal_axes
        r_in = min(
            abs(ax_x.low_value),
            abs(ax_x.high_value),
            abs(ax_y.low_value),
            abs(ax_y.high_value),
        )
        halo = kw.get("halo", True)
        if halo and not kw.get("poisson"):
            kw["noise_gain"] = self._noise_gain(profile)
        if halo and profile is not None:
            kw["exposure"] = _exposure(profile, g)
        res = saed_series.decompose_series(g, P, fams, ph.has_atoms, r_in, **kw)
        res["phase"] = ph
        halo_g = res["halo_g"]
        info = {
            "phase": ph.name,
            "families": res["labels"],
            "d_spacings": 1.0 / res["ring_g"],
            "ring_width": res["ring_width"],
            "halo_d": None
            if halo_g is None
            else (
                float(kw["halo_d"])
                if kw.get("halo_d") is not None
                else "fitted per frame (see halo_position())"
            ),
            "halo_width": res["halo_width"],
            "background_order": int(kw.get("background_order", 3)),
            "radial_range": res["radial_range"],
        }
        return res, info

    def _noise_gain(self, profile):
        """Detector units per electron from the azimuthal scatter of up to
        three frames (:func:`~hyperspy_perovskite.analysis.saed_geometry.gain_from_annuli`)."""
        from hyperspy_perovskite.analysis.saed_geometry import gain_from_annuli

        n = self.axes_manager.navigation_shape[0]
        idx = sorted({0, n // 2, n - 1})
        frames = self.data[idx]
        if isinstance(frames, da.Array):
            frames = frames.compute()
        centers = None
        if profile is not None and profile.metadata.has_item(
            "Diffraction_analysis.centers"
        ):
            centers = np.asarray(profile.metadata.Diffraction_analysis.centers)[idx]
        if centers is None:
            ax_x, ax_y = self.axes_manager.signal_axes
            origin = (-ax_x.offset / ax_x.scale, -ax_y.offset / ax_y.scale)
            centers = np.tile(origin, (len(idx), 1))
        return gain_from_annuli(frames, centers)

    def _wrap_time_signal(self, data, title, info, lazy_output):
        md = self.metadata.deepcopy().as_dictionary()
        md.setdefault("General", {})["title"] = title
        md.setdefault("Signal", {})["signal_type"] = ""
        out = Signal1D(data, metadata=md)
        if lazy_output:
            out = out.as_lazy()
        out.metadata.Signal.set_item("quantity", "Intensity (counts)")
        for k, v in info.items():
            out.metadata.set_item(
                f"Diffraction_analysis.{k}",
                list(v) if isinstance(v, (tuple, np.ndarray)) else v,
            )
        self._time_axis_of(out)
        return out

    def hkl_intensities(
        self,
        phase=None,
        families=None,
        halo=True,
        poisson=False,
        halo_d=None,
        ring_width=None,
        halo_width=None,
        background_order=3,
        radial_range=None,
        profile=None,
        npt=None,
        show_progressbar=None,
        lazy_output=None,
        num_workers=None,
    ):
        """Integrated intensity of each {hkl} family vs time.

        The azimuthal profile of every frame is decomposed into narrow rings
        at the allowed {hkl} spacings, the amorphous halo and a smooth
        background. With the halo, the whole series is fitted at once, as
        for :meth:`amorphous_fraction`
        (:func:`~hyperspy_perovskite.analysis.saed_halo.fit_halo_series`: one
        ring width, halo width and background shape shared by all frames,
        the halo centre per frame where it is strong, Poisson maximum
        likelihood); without it (``halo=False``), every frame has a free
        polynomial background (linear least squares). The
        result are the counts in each ring per frame: facet-dependent
        amorphization shows as (001)/(002) fading while (111) stays (“Imaging real-time amorphization of hybrid perovskite solar cells under electrical biasing”).

        Parameters
        ----------
        %(decomp)s
        families : list of str, optional
            Families to return (e.g. ``["001", "002", "111"]``); default all
            inside the range. All are always fitted.
        halo : bool
            Include the amorphous halo in the model.
        poisson : bool
            The data are counted electrons: propagate the Poisson variance of
            the profiles to each intensity and store it as
            ``metadata.Signal.Noise_properties.variance`` (the variance from
            frame to frame, given the shape shared by all frames: the
            uncertainty of that shape is common to every frame and does not
            move a kinetic rate or onset; then
            :func:`~hyperspy_perovskite.signals.kinetics.fit_kinetics` weights
            the fit by it).
        %(show_progressbar)s
        %(lazy_output)s
        %(num_workers)s

        Returns
        -------
        hyperspy.signals.Signal1D
            ``(family | time)``; labels and d-spacings in
            ``metadata.Diffraction_analysis``; the stimulus record and beam
            energy are kept.

        Examples
        --------
        >>> from hyperspy_perovskite.data.saed_simulation import simulate_saed_series
        >>> s, truth = simulate_saed_series(n_frames=10, frame_interval=30.0,
        ...                                 size=72, scale=0.016)
        >>> inten = s.hkl_intensities(families=["001", "111", "002"])
        >>> inten.metadata.Diffraction_analysis.families
        ['001', '111', '002']
        >>> (inten.data[:, -1] / inten.data[:, 0]).round(1)  # (001), (002) fade
        array([0.2, 1. , 0.2])
        """
        lazy_output = resolve_options(self, lazy_output=lazy_output).lazy_output
        res, info = self._decompose(
            phase,
            profile,
            npt,
            show_progressbar,
            num_workers,
            halo=halo,
            halo_d=halo_d,
            ring_width=ring_width,
            halo_width=halo_width,
            background_order=background_order,
            radial_range=radial_range,
            poisson=poisson,
        )
        integrated, variance = res["integrated"], res["variance"]
        _warn_negative(integrated[:, : len(res["labels"])], variance, res["labels"])
        labels = info["families"]
        idx = _select_families(labels, families, res["phase"])
        info["families"] = [labels[i] for i in idx]
        info["d_spacings"] = np.asarray(info["d_spacings"])[idx]
        data = np.ascontiguousarray(integrated[:, idx].T)
        var = None if variance is None else np.ascontiguousarray(variance[:, idx].T)
        out = self._wrap_time_signal(
            data,
            f"{{hkl}} intensities of {self.metadata.General.title}",
            info,
            lazy_output,
        )
        fax = out.axes_manager.navigation_axes[0]
        fax.name = "family"
        if var is not None:
            vs = out._deepcopy_with_new_data(da.from_array(var) if lazy_output else var)
            vs.metadata.General.title = "Variance of " + out.metadata.General.title
            out.metadata.set_item("Signal.Noise_properties.variance", vs)
        return out

    hkl_intensities.__doc__ = hkl_intensities.__doc__ % {
        **_FMT,
        "decomp": _DECOMP_PARAMS,
    }

    def amorphous_fraction(
        self,
        phase=None,
        poisson=False,
        halo_d=None,
        ring_width=None,
        halo_width=None,
        background_order=1,
        radial_range=None,
        profile=None,
        npt=None,
        show_progressbar=None,
        lazy_output=None,
        num_workers=None,
    ):
        """Fraction of the diffracted intensity in the amorphous halo vs time.

        ``halo / (halo + sum of all {hkl} rings)`` over the fitted radial
        range, with its standard error. A broad halo and a free background
        per frame are nearly interchangeable, so the whole series is fitted
        at once
        (:func:`~hyperspy_perovskite.analysis.saed_halo.fit_halo_series`):
        rings at the spacings of the phase, one halo centre and width, one
        ring width and one background shape shared by all frames (scaled
        per frame: the diffuse background keeps its shape while the halo
        grows, which is what separates the two), Poisson maximum likelihood.
        Frames whose halo is significant at 5 standard errors get their own
        centre. The standard error comes from the covariance of the frame's
        halo and ring counts, including the uncertainty of the shared shape,
        propagated to the ratio; the variance is stored as
        ``metadata.Signal.Noise_properties.variance``. The background order
        defaults to 1 here (with the ``1/g`` and ``1/g^2`` terms, a decaying
        diffuse background): higher orders can take the shape of part of a
        broad halo, and the fraction then carries a larger error.

        Parameters
        ----------
        %(decomp)s
        poisson : bool
            The data are counted electrons (Poisson noise). Otherwise the
            noise per unit of signal (detector gain) is measured from the
            azimuthal scatter of the pixels in thin annuli of three frames
            (:func:`~hyperspy_perovskite.analysis.saed_geometry.gain_from_annuli`).
        %(show_progressbar)s
        %(lazy_output)s
        %(num_workers)s

        Returns
        -------
        hyperspy.signals.Signal1D
            On the time axis, dimensionless.

        Examples
        --------
        >>> from hyperspy_perovskite.data.saed_simulation import simulate_saed_series
        >>> s, truth = simulate_saed_series(n_frames=10, frame_interval=30.0,
        ...                                 size=72, scale=0.016)
        >>> f = s.amorphous_fraction()
        >>> bool(f.data[-1] > f.data[0] + 0.1)
        True
        >>> std = np.sqrt(f.metadata.Signal.Noise_properties.variance.data)
        >>> bool(np.all(std > 0) and np.all(std < 0.05))
        True
        """
        lazy_output = resolve_options(self, lazy_output=lazy_output).lazy_output
        res, info = self._decompose(
            phase,
            profile,
            npt,
            show_progressbar,
            num_workers,
            halo=True,
            halo_d=halo_d,
            ring_width=ring_width,
            halo_width=halo_width,
            background_order=background_order,
            radial_range=radial_range,
            poisson=poisson,
        )
        frac, std = fraction_with_std(res["integrated"], res["cov_integrated"])
        out = self._wrap_time_signal(
            frac,
            f"Amorphous fraction of {self.metadata.General.title}",
            info,
            lazy_output,
        )
        out.metadata.Signal.quantity = "Amorphous fraction"
        var = std**2
        vs = out._deepcopy_with_new_data(da.from_array(var) if lazy_output else var)
        vs.metadata.General.title = "Variance of " + out.metadata.General.title
        out.metadata.set_item("Signal.Noise_properties.variance", vs)
        return out

    amorphous_fraction.__doc__ = amorphous_fraction.__doc__ % {
        **_FMT,
        "decomp": _DECOMP_PARAMS,
    }
