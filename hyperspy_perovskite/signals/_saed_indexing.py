"""Ring and spot indexing of an SAED series (methods of
:class:`~hyperspy_perovskite.signals.insitu_diffraction.InSituSAEDSeries`)."""

import dask.array as da
import numpy as np

from hyperspy_perovskite.analysis import saed
from hyperspy_perovskite.crystallography import index_rings, reflection_families
from hyperspy_perovskite.crystallography import index_spots as _index_spots_fn
from hyperspy_perovskite.signals import _saed_units as _u
from hyperspy_perovskite.signals._saed_rings import _FMT


class SAEDIndexingMixin:
    """Indexing methods of an SAED series."""

    def index_rings(
        self,
        phases=None,
        tolerance=0.02,
        profile=None,
        npt=None,
        show_progressbar=None,
    ):
        """Find the rings of the time-averaged profile and index them.

        Rings are curvature maxima of the mean profile
        (:func:`~hyperspy_perovskite.analysis.saed.find_ring_peaks`) above 5
        noise standard deviations (noise from frame-to-frame differences).

        Parameters
        ----------
        phases : str, Phase or list of them, optional
            Candidate phases; default ``metadata.Sample.phase``.
        tolerance : float
            Relative d-spacing tolerance.
        profile : Signal1D, optional
            A precomputed :meth:`azimuthal_profile`.
        npt : int, optional
        %(show_progressbar)s

        Returns
        -------
        list of RingMatch
            Candidates of each ring (``ring`` numbers rings strongest first).

        Examples
        --------
        >>> from hyperspy_perovskite.data.saed_simulation import simulate_saed_series
        >>> s, _ = simulate_saed_series(n_frames=6, size=72, scale=0.016)
        >>> m = s.index_rings(["alpha-FAPbI3", "PbI2"], tolerance=0.02)
        >>> {(0, 0, 1), (1, 1, 1), (0, 0, 2)} <= {r.hkl for r in m}
        True
        """
        self._check_series()
        if phases is None:
            phases = [self._phase(None)]
        g, P = self._profile_arrays(profile, npt, show_progressbar, None)
        mean = P.mean(axis=0)
        step = g[1] - g[0]
        noise = None
        if P.shape[0] >= 3:
            # noise of the mean profile from frame-to-frame differences
            noise = np.median(np.std(np.diff(P, axis=0), axis=0)) / np.sqrt(
                2 * P.shape[0]
            )
        gp, _ = saed.find_ring_peaks(g, mean, noise)
        gp = gp[gp > 2 * step]
        if gp.size == 0:
            raise ValueError("No ring found in the profile.")
        return index_rings(1.0 / gp, phases, tolerance=tolerance)

    index_rings.__doc__ %= _FMT

    def index_spots(
        self,
        phase=None,
        frame=0,
        n_sigma=8.0,
        min_distance=3,
        g_min=None,
        tolerance=0.03,
        angle_tolerance=3.0,
    ):
        """Find the spots of one frame and index them against ``phase``.

        Rings and halo are removed by subtracting the frame's rotational
        median; spots are local maxima above ``n_sigma`` robust standard
        deviations of the remainder.

        Parameters
        ----------
        phase : str or Phase, optional
        frame : int
            Frame index.
        n_sigma : float
            Detection threshold.
        min_distance : int, str or pint.Quantity
            Minimum spot separation: pixels (a plain number, ``"3 px"``) or a
            reciprocal length (``"0.05 1/A"``, through the calibration).
        g_min : float, str or pint.Quantity, optional
            Ignore spots closer than this to the direct beam (1/A, or a string
            such as ``"0.1 1/A"``); default
            half the largest allowed reciprocal spacing... i.e. ``0.5 / d_max``.
        tolerance, angle_tolerance : float
            See :func:`~hyperspy_perovskite.crystallography.index_spots`.

        Returns
        -------
        list of SpotMatch

        Examples
        --------
        >>> from hyperspy_perovskite.data.saed_simulation import simulate_saed_series
        >>> s, _ = simulate_saed_series(n_frames=6, size=72, scale=0.016,
        ...                             spot_zone="100", spot_fraction=1.0)
        >>> sorted({m.family for m in s.index_spots("alpha-FAPbI3")})[:2]
        [(0, 0, 1), (0, 0, 2)]
        """
        from skimage.feature import peak_local_max

        self._check_series()
        ax0 = self.axes_manager.signal_axes[0]
        min_distance = max(int(round(_u.pixels(min_distance, ax0, "min_distance"))), 1)
        g_min = _u.reciprocal(g_min, "g_min")
        ph = self._phase(phase)
        n = self.axes_manager.navigation_shape[0]
        if not -n <= int(frame) < n:
            raise ValueError(f"frame must be in [0, {n}), got {frame}.")
        img = self.inav[int(frame)].data
        img = np.asarray(img.compute() if isinstance(img, da.Array) else img, float)
        ax_x, ax_y = self.axes_manager.signal_axes
        gx, gy = np.meshgrid(ax_x.axis, ax_y.axis)
        gr = np.hypot(gx, gy)
        rbin = np.rint(gr / ax_x.scale).astype(int)
        # rotational median (robust to the spots themselves)
        flat_r, flat_i = rbin.ravel(), img.ravel()
        order = np.argsort(flat_r, kind="stable")
        bounds = np.searchsorted(flat_r[order], np.arange(flat_r.max() + 2))
        prof = np.array(
            [
                np.median(flat_i[order[a:b]]) if b > a else 0.0
                for a, b in zip(bounds[:-1], bounds[1:], strict=True)
            ]
        )
        rest = img - prof[rbin]
        sigma = 1.4826 * np.median(np.abs(rest - np.median(rest)))
        if g_min is None:
            fams = reflection_families(ph, d_min=1.0 / gr.max())
            g_min = 0.5 * fams[0].g if fams else 0.0
        peaks = peak_local_max(
            rest,
            min_distance=int(min_distance),
            threshold_abs=n_sigma * max(sigma, 1e-12),
        )
        peaks = np.array([p for p in peaks if gr[p[0], p[1]] >= g_min])
        if len(peaks) == 0:
            raise ValueError(
                f"No spot above {n_sigma} sigma in frame {frame}; lower n_sigma."
            )
        g = np.stack(
            [gx[peaks[:, 0], peaks[:, 1]], gy[peaks[:, 0], peaks[:, 1]]], axis=1
        )
        return _index_spots_fn(
            g, ph, tolerance=tolerance, angle_tolerance=angle_tolerance
        )

    # ----------------------------------------------------------- intensities

    def identify_phases(
        self,
        phases,
        poisson=False,
        strain=0.015,
        profile=None,
        npt=None,
        show_progressbar=None,
        **kwargs,
    ):
        """Which candidate phase explains each frame, e.g. across a heating ramp.

        Each candidate's rings (free amplitudes, common scale within
        ``strain``) plus halo and background are fitted to every profile and
        compared by BIC (:mod:`hyperspy_perovskite.analysis.saed_phases`): a
        supercell wins only when its extra (superstructure) rings are there.
        Candidates within 10 of the best BIC are reported as tied (Kass &
        Raftery 1995): the data do not tell them apart.

        Parameters
        ----------
        phases : list of str or Phase
            Candidates, e.g. the CsPbBr3 polymorphs ``[p[0] for p in
            CSPBBR3_POLYMORPHS]`` or phases read from CIF files.
        poisson : bool
            Counted electrons (Poisson weights); otherwise the noise is
            estimated from the residuals.
        strain : float
            Largest common relative change of the d-spacings searched
            (thermal expansion, calibration error).
        **kwargs
            ``ring_width``, ``halo_width``, ``background_order``,
            ``radial_range`` as for :meth:`hkl_intensities` (the widths are
            fitted with the first candidate when not given).

        Returns
        -------
        hyperspy_perovskite.results.ResultTable
            One row per frame: ``time``, ``phase`` (best), ``delta_bic`` to
            the runner-up, ``tied_with`` (names, "; "-separated, empty when
            the best is clear), ``scale_d`` (d-spacing scale of the best phase
            relative to its library cell) and, when the stimulus record has a
            temperature channel, ``temperature``.

        Examples
        --------
        >>> from hyperspy_perovskite.data.saed_simulation import simulate_saed_series
        >>> s, _ = simulate_saed_series(n_frames=6, size=96, scale=0.013)
        >>> cands = ["alpha-FAPbI3", "alpha-CsPbI3", "PbI2"]
        >>> t = s.identify_phases(cands, strain=0.004)  # calibration to 0.4 %
        >>> sorted({str(p) for p in t["phase"]}), sorted({str(p) for p in t["tied_with"]})
        (['alpha-FAPbI3'], [''])

        With a calibration only good to 1.5 %, alpha-CsPbI3 (a 1.1 % smaller
        cell) explains the same rings: some frames are then reported as ties
        with it rather than as a confident pick.
        """
        from hyperspy_perovskite.analysis import saed_phases, saed_series
        from hyperspy_perovskite.crystallography import get_phase
        from hyperspy_perovskite.results import ResultTable

        phases = [get_phase(p) for p in phases]
        if len(phases) < 2:
            raise ValueError("Give at least two candidate phases to tell apart.")
        res, _ = self._decompose(
            phases[0], profile, npt, show_progressbar, None, halo=True, **kwargs
        )
        g, P = res["g"], res["P"]
        lo, hi = res["radial_range"]
        sets = []
        for ph in phases:
            fams = reflection_families(ph, d_min=1.0 / (hi + 0.1))
            sets.append(saed_series.group_families(fams, lo, hi, res["ring_width"])[2])
        halo_g = float(np.nanmedian(res["halo_g"]))
        bic, scale = saed_phases.phase_bic(
            g,
            P,
            sets,
            res["ring_width"],
            halo_g,
            res["halo_width"],
            kwargs.get("background_order", 3),
            poisson,
            strain,
        )
        names = [ph.name for ph in phases]
        best, margin, ties = saed_phases.rank(bic, names)
        ib = [names.index(b) for b in best]
        tax = self.axes_manager.navigation_axes[0]
        cols = {
            "time": tax.axis,
            "phase": np.array(best),
            "delta_bic": margin,
            "tied_with": np.array(ties),
            "scale_d": 1.0 / scale[np.arange(len(ib)), ib],
        }
        units = {"time": str(tax.units)}
        channels = self.stimulus if self.metadata.has_item("Stimulus.Record") else {}
        for ch in channels.values():
            q = str(ch.metadata.Signal.get_item("quantity", ""))
            if q.lower().startswith("temperature"):
                cols["temperature"] = np.asarray(ch.data, float)
                units["temperature"] = q[q.find("(") + 1 : q.rfind(")")]
                break
        return ResultTable(
            cols,
            units=units,
            title=f"Phases of {self.metadata.General.title}",
            description="Best phase per frame by BIC; ties within 10 (Kass & "
            "Raftery, J. Am. Stat. Assoc. 90, 773 (1995)).",
        )
