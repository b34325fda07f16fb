"""Halo position, ring positions and lattice parameters vs time of an SAED
series (methods of
:class:`~hyperspy_perovskite.signals.insitu_diffraction.InSituSAEDSeries`),
with their standard errors (:mod:`hyperspy_perovskite.analysis.saed_fit`)."""

import dask.array as da
import numpy as np

from hyperspy_perovskite.analysis import saed_fit
from hyperspy_perovskite.signals._base import resolve_options
from hyperspy_perovskite.signals._saed_rings import (
    _DECOMP_PARAMS,
    _FMT,
    _select_families,
)


class SAEDLatticeMixin:
    """Position and lattice methods of an SAED series."""

    # ------------------------------------------------ positions and lattice
    def _time_result(self, values, std, info, title, quantity, units, lazy_output):
        lazy_output = resolve_options(self, lazy_output=lazy_output).lazy_output
        out = self._wrap_time_signal(
            np.ascontiguousarray(values), title, info, lazy_output
        )
        out.metadata.Signal.quantity = f"{quantity} ({units})"
        var = np.ascontiguousarray(std) ** 2
        vs = out._deepcopy_with_new_data(da.from_array(var) if lazy_output else var)
        vs.metadata.General.title = "Variance of " + out.metadata.General.title
        out.metadata.set_item("Signal.Noise_properties.variance", vs)
        return out

    def halo_position(
        self,
        phase=None,
        poisson=False,
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
        """d-spacing (A) of the amorphous halo in every frame, with its error.

        The halo is fitted with the rings of ``phase`` and the background
        over the whole series at once, as for :meth:`amorphous_fraction`
        (:func:`~hyperspy_perovskite.analysis.saed_halo.fit_halo_series`);
        frames whose halo stands at 5 standard errors have their own
        position, with its standard error from the covariance of the fit;
        frames whose halo is not significant are NaN.

        Parameters
        ----------
        %(decomp)s
        poisson : bool
            Counted electrons (Poisson weights and errors); otherwise the
            noise is estimated from the residuals.
        %(show_progressbar)s
        %(lazy_output)s
        %(num_workers)s

        Returns
        -------
        hyperspy.signals.Signal1D
            On the time axis, in A; the variance (of d) in
            ``metadata.Signal.Noise_properties.variance``.

        Examples
        --------
        >>> from hyperspy_perovskite.data.saed_simulation import simulate_saed_series
        >>> s, truth = simulate_saed_series(n_frames=10, frame_interval=30.0,
        ...                                 size=96, scale=0.013, halo_d=3.4)
        >>> d = s.halo_position()
        >>> bool(abs(np.nanmean(d.data[-4:]) - 3.4) < 0.1)
        True
        """
        res, info = self._decompose(
            phase,
            profile,
            npt,
            show_progressbar,
            num_workers,
            halo=True,
            ring_width=ring_width,
            halo_width=halo_width,
            background_order=background_order,
            radial_range=radial_range,
            poisson=poisson,
        )
        hf = res["halo_fit"]
        d = 1.0 / hf["halo_g"]
        d_std = hf["halo_g_std"] / hf["halo_g"] ** 2
        return self._time_result(
            d,
            d_std,
            info,
            f"Halo d-spacing of {self.metadata.General.title}",
            "Halo d-spacing",
            "A",
            lazy_output,
        )

    def ring_positions(
        self,
        phase=None,
        families=None,
        poisson=False,
        halo=True,
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
        """d-spacing (A) of every ring in every frame, with its error.

        Each ring's position is fitted (Gauss-Newton, the rest of the profile
        model held,
        :func:`~hyperspy_perovskite.analysis.saed_fit.fit_ring_positions`);
        rings weaker than 3 standard errors in a frame are NaN there.

        Parameters
        ----------
        %(decomp)s
        families : list of str, optional
            Families to return; default all fitted.
        poisson : bool
            Counted electrons; otherwise the noise comes from the residuals.
        %(show_progressbar)s
        %(lazy_output)s
        %(num_workers)s

        Returns
        -------
        hyperspy.signals.Signal1D
            ``(family | time)`` in A with the variance of d.

        Examples
        --------
        >>> from hyperspy_perovskite.data.saed_simulation import simulate_saed_series
        >>> s, truth = simulate_saed_series(n_frames=8, size=96, scale=0.013)
        >>> d = s.ring_positions(families=["111", "002"])
        >>> np.round(np.nanmean(d.data, axis=1), 2)
        array([3.67, 3.18])
        """
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
        pos, std = _ring_fit(res, poisson)
        idx = _select_families(info["families"], families, res["phase"])
        info["families"] = [info["families"][i] for i in idx]
        info["d_spacings"] = np.asarray(info["d_spacings"])[idx]
        d = 1.0 / pos[:, idx].T
        d_std = std[:, idx].T / pos[:, idx].T ** 2
        out = self._time_result(
            d,
            d_std,
            info,
            f"Ring d-spacings of {self.metadata.General.title}",
            "d-spacing",
            "A",
            lazy_output,
        )
        out.axes_manager.navigation_axes[0].name = "family"
        return out

    def lattice_parameters(
        self,
        phase=None,
        system=None,
        poisson=False,
        profile=None,
        npt=None,
        show_progressbar=None,
        lazy_output=None,
        num_workers=None,
        **kwargs,
    ):
        """Lattice parameters (A) in every frame from the ring positions.

        The ring positions of :meth:`ring_positions` are fitted by weighted
        least squares on ``1/d^2`` for the crystal system
        (:func:`~hyperspy_perovskite.analysis.saed_fit.lattice_from_rings`),
        e.g. to follow thermal expansion or a heating-driven transition.
        Rings that merge families of different d are left out.

        Parameters
        ----------
        phase : str or Phase, optional
            Gives the indices of the rings; default ``metadata.Sample.phase``.
        system : {"cubic", "tetragonal", "orthorhombic", "hexagonal"}, optional
            Default from the phase's cell.
        poisson : bool
        **kwargs
            Passed to the decomposition (see :meth:`hkl_intensities`).

        Returns
        -------
        hyperspy.signals.Signal1D
            ``(parameter | time)`` in A with the variance; names in
            ``metadata.Diffraction_analysis.parameters``.

        Examples
        --------
        >>> from hyperspy_perovskite.data.saed_simulation import simulate_saed_series
        >>> s, truth = simulate_saed_series(n_frames=8, size=96, scale=0.013)
        >>> a = s.lattice_parameters()
        >>> round(float(np.nanmean(a.data)), 2)  # alpha-FAPbI3: 6.362 A
        6.36
        """
        res, info = self._decompose(
            phase,
            profile,
            npt,
            show_progressbar,
            num_workers,
            poisson=poisson,
            **kwargs,
        )
        ph = res["phase"]
        system = system or _crystal_system(ph)
        pos, std = _ring_fit(res, poisson)
        keep = [
            i
            for i, grp in enumerate(res["groups"])
            if np.ptp([f.d for f in grp]) < 1e-4 * grp[0].d
        ]
        hkl = [res["groups"][i][0].hkl for i in keep]
        vals, stds, names = saed_fit.lattice_from_rings(
            hkl, pos[:, keep], std[:, keep], system
        )
        info.update(system=system, parameters=list(names))
        out = self._time_result(
            vals.T,
            stds.T,
            info,
            f"Lattice parameters of {self.metadata.General.title}",
            "Lattice parameter",
            "A",
            lazy_output,
        )
        out.axes_manager.navigation_axes[0].name = "parameter"
        return out

    halo_position.__doc__ = halo_position.__doc__ % {**_FMT, "decomp": _DECOMP_PARAMS}
    ring_positions.__doc__ = ring_positions.__doc__ % {**_FMT, "decomp": _DECOMP_PARAMS}


def _ring_fit(res, poisson):
    return saed_fit.fit_ring_positions(
        res["g"],
        res["P"],
        res["coef"],
        res["design"],
        res["ring_g"],
        res["ring_width"],
        poisson=poisson,
        exposure=res.get("exposure"),
    )


def _crystal_system(ph):
    right = np.allclose([ph.alpha, ph.beta, ph.gamma], 90.0)
    if right and np.isclose(ph.a, ph.b) and np.isclose(ph.b, ph.c):
        return "cubic"
    if right and np.isclose(ph.a, ph.b):
        return "tetragonal"
    if right:
        return "orthorhombic"
    if np.isclose(ph.a, ph.b) and np.isclose(ph.gamma, 120.0):
        return "hexagonal"
    raise ValueError(
        f"{ph.name}: lattice parameters from rings are supported for cubic, "
        "tetragonal, orthorhombic and hexagonal cells; pass system= if the cell "
        "is one of them in another setting."
    )
