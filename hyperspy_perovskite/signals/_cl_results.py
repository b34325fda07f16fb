"""Results of the CL correlation methods: the particle table and the
edge-versus-core figure.

:class:`ParticleTable` is the suite's one table type
(:class:`~hyperspy_perovskite.results.ResultTable`: columns with units, the
standard errors of the means as ``std``, text/HTML/CSV, ``metadata.Results``)
with the intensity-size correlation and a :meth:`ParticleTable.plot`.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from hyperspy_perovskite.results import ResultTable
from hyperspy_perovskite.signals._cl_inputs import (
    _as_map,
    _image_grid,
    _param_name,
    _to_numpy,
)

__all__ = ["ParticleTable", "edge_vs_core_figure", "particle_table_as_dict"]


class ParticleTable(ResultTable):
    """Per-particle table of a CL map (what ``particle_table`` returns).

    A :class:`~hyperspy_perovskite.results.ResultTable` (one row per particle,
    labelled by its particle label) whose columns are ``n_pixels``, ``area``,
    ``equivalent_diameter``, ``n_valid`` and the per-particle means
    ``intensity_mean``, ``centre_mean``, ``sigma_mean`` with their standard
    errors in ``std``. It adds:

    - ``correlation``: the intensity-size rank correlation
      (:func:`~hyperspy_perovskite.analysis.particle_statistics.size_intensity_correlation`:
      ``n``, ``spearman_rho``, ``p_value``, ``significant``, ...) or None when
      no intensity (or fewer than 4 particles) was given;
    - ``source``: ``"HAADF segmentation"`` or ``"user mask"``;
    - :meth:`plot`, a scatter of one column against another with error bars.

    Both survive :meth:`to_metadata` / :meth:`from_metadata` (and so
    ``.hspy`` / ``.zspy`` files).

    Examples
    --------
    >>> from hyperspy_perovskite.signals._cl_results import ParticleTable
    >>> t = ParticleTable({"area": [10.0, 40.0], "intensity_mean": [1.0, 2.0]},
    ...                   units={"area": "nm^2"}, std={"intensity_mean": [0.1, 0.2]},
    ...                   correlation={"n": 2, "significant": False})
    >>> t.correlation.significant, t.units["area"]
    (False, 'nm^2')
    """

    def __init__(
        self,
        columns,
        units=None,
        std=None,
        index=None,
        title="",
        description="",
        correlation=None,
        source="",
    ):
        super().__init__(columns, units, std, index, title, description)
        self.correlation = (
            None if correlation is None else SimpleNamespace(**correlation)
        )
        self.source = str(source)

    def to_dict(self):
        """As :meth:`ResultTable.to_dict`, with ``correlation`` and ``source``."""
        d = super().to_dict()
        d["correlation"] = None if self.correlation is None else vars(self.correlation)
        d["source"] = self.source
        return d

    @classmethod
    def from_dict(cls, d):
        """Inverse of :meth:`to_dict`."""
        return cls(
            d["columns"],
            d.get("units"),
            d.get("std"),
            d.get("index"),
            d.get("title", ""),
            d.get("description", ""),
            correlation=d.get("correlation"),
            source=d.get("source", ""),
        )

    def _label(self, name):
        unit = self.units.get(name, "")
        return f"{name.replace('_', ' ')} ({unit})" if unit else name.replace("_", " ")

    def plot(self, x="area", y="intensity_mean", ax=None):
        """Scatter of column ``y`` against column ``x``, one point per particle,
        with the standard errors as error bars and the correlation in the title.

        Parameters
        ----------
        x, y : str
            Column names.
        ax : matplotlib.axes.Axes, optional
            Axes to draw into (a new figure by default).

        Returns
        -------
        matplotlib.axes.Axes

        Examples
        --------
        >>> from hyperspy_perovskite.signals._cl_results import ParticleTable
        >>> t = ParticleTable({"area": [10.0, 40.0], "intensity_mean": [1.0, 2.0]},
        ...                   units={"area": "nm^2", "intensity_mean": "counts"})
        >>> t.plot().get_xlabel()
        'area (nm^2)'
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(4.2, 3.4), dpi=150)
        xe = self.std.get(x)
        ye = self.std.get(y)
        ax.errorbar(self[x], self[y], xerr=xe, yerr=ye, fmt="o", capsize=2)
        ax.set_xlabel(self._label(x))
        ax.set_ylabel(self._label(y))
        c = self.correlation
        if c is not None and y == "intensity_mean" and x == "area":
            ax.set_title(
                f"Spearman rho = {c.spearman_rho:.2f}, p = {c.p_value:.2g} (n = {c.n})",
                fontsize=9,
            )
        ax.figure.tight_layout()
        return ax


def particle_table_as_dict(table):
    """Columns of a particle table as a dict of numpy arrays.

    The standard errors of the means appear as ``<name>_sem`` next to
    ``<name>_mean`` (e.g. ``intensity_sem``).

    Examples
    --------
    >>> from hyperspy_perovskite.data.cl_simulation import simulate_cl_map
    >>> from hyperspy_perovskite.signals._cl_results import particle_table_as_dict
    >>> haadf, cl, truth = simulate_cl_map(shape=(24, 24), n_channels=32, seed=1)
    >>> t = particle_table_as_dict(cl.particle_table(haadf=haadf, intensity=truth["area"]))
    >>> sorted(t)[:3]
    ['area', 'centre_mean', 'centre_sem']
    """
    out = {k: np.asarray(v).copy() for k, v in table.columns.items()}
    for k, v in table.std.items():
        out[k.replace("_mean", "_sem")] = np.asarray(v).copy()
    return out


def edge_vs_core_figure(
    cl, parameter, haadf=None, mask=None, parameter_label=None, fig=None, **kwargs
):
    """The edge-versus-core figure (Li et al., Nat. Commun. 14, 7612 (2023), Fig. 2c, 2f): three panels.

    1. HAADF image (or mask) with the particle outlines found on the CL grid.
    2. The parameter map (e.g. fitted sigma) with the same outlines.
    3. Mean +/- standard error of the parameter versus distance to the
       particle edge, with the edge-versus-core test result.

    Parameters
    ----------
    cl : CL signal with :class:`~hyperspy_perovskite.signals._cl_correlation.CLCorrelationMixin`
        The CL map (gives the grid).
    parameter : Parameter, signal or numpy.ndarray
        The parameter map.
    haadf, mask
        See (:meth:`~hyperspy_perovskite.signals._cl_correlation.CLCorrelationMixin.particle_labels`).
    parameter_label : str, optional
        Axis label of the parameter (default its name and unit).
    fig : matplotlib.figure.Figure, optional
        Figure to draw into (a new one by default).
    **kwargs
        Passed to (:meth:`~hyperspy_perovskite.signals._cl_correlation.CLCorrelationMixin.edge_profile`) (``bins``,
        ``edge_width``, ``valid``, ``alpha``...).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from hyperspy_perovskite.data.cl_simulation import simulate_cl_map
    >>> from hyperspy_perovskite.signals._cl_results import edge_vs_core_figure
    >>> haadf, cl, truth = simulate_cl_map(shape=(24, 24), n_channels=32, seed=1)
    >>> fig = edge_vs_core_figure(cl, truth["sigma"], haadf=haadf, parameter_label="sigma (nm)")
    >>> fig.axes[2].get_xlabel()
    'Distance to particle edge (nm)'
    """
    import matplotlib.pyplot as plt

    shape = cl._nav_shape()
    values, _, is_set, units = _as_map(parameter, shape, "parameter")
    if is_set is not None:
        values = np.where(is_set, values, np.nan)
    prof = cl.edge_profile(
        parameter, haadf=haadf, mask=mask, lazy_output=False, **kwargs
    )
    labels = _to_numpy(
        cl.particle_labels(haadf=haadf, mask=mask, lazy_output=False).data
    )
    cy, cx, dunits, _ = cl._cl_nav_grid()
    du = dunits or "px"
    extent = [
        cx[0] - 0.5 * (cx[1] - cx[0]),
        cx[-1] + 0.5 * (cx[1] - cx[0]),
        cy[-1] + 0.5 * (cy[1] - cy[0]),
        cy[0] - 0.5 * (cy[1] - cy[0]),
    ]
    label = parameter_label or (
        _param_name(parameter) + (f" ({units})" if units else "")
    )
    if fig is None:
        fig = plt.figure(figsize=(12, 3.8))
    ax0, ax1, ax2 = fig.subplots(1, 3)
    if haadf is not None and hasattr(haadf, "axes_manager"):
        sx, sy = haadf.axes_manager.signal_axes
        (gy, gx), _ = _image_grid((sy, sx), "HAADF image")
        hext = [
            gx[0] - 0.5 * (gx[1] - gx[0]),
            gx[-1] + 0.5 * (gx[1] - gx[0]),
            gy[-1] + 0.5 * (gy[1] - gy[0]),
            gy[0] - 0.5 * (gy[1] - gy[0]),
        ]
        ax0.imshow(_to_numpy(haadf.data), cmap="gray", extent=hext)
        ax0.set_title("HAADF")
    else:
        img = (
            haadf
            if haadf is not None
            else (mask.data if hasattr(mask, "data") else mask)
        )
        ax0.imshow(_to_numpy(img), cmap="gray", extent=extent)
        ax0.set_title("HAADF" if haadf is not None else "Particle mask")
    for ax in (ax0, ax1):
        ax.contour(
            cx,
            cy,
            (labels > 0).astype(float),
            levels=[0.5],
            colors="tab:orange",
            linewidths=0.8,
        )
        ax.set_xlabel(f"x ({du})")
        ax.set_ylabel(f"y ({du})")
    shown = labels > 0
    if kwargs.get("valid") is not None:  # invalid fits grey, as in every map
        v = kwargs["valid"]
        shown = shown & np.asarray(_to_numpy(getattr(v, "data", v)), bool)
    cmap = plt.get_cmap("viridis").with_extremes(bad="0.85")
    im = ax1.imshow(np.where(shown, values, np.nan), extent=extent, cmap=cmap)
    fig.colorbar(im, ax=ax1, label=label)
    ax1.set_title(f"{label}\ngrey: outside particles or not valid", fontsize=9)
    if dunits:
        from hyperspy_perovskite.report.figures import add_scale_bar

        for ax in (ax0, ax1):  # axes in data units: one "pixel" is 1 unit
            add_scale_bar(ax, 1.0, dunits, abs(extent[1] - extent[0]))
    x = prof.axes_manager.signal_axes[0].axis
    var = prof.metadata.Signal.Noise_properties.variance
    ax2.errorbar(
        x, _to_numpy(prof.data), yerr=np.sqrt(_to_numpy(var.data)), fmt="o-", capsize=3
    )
    ax2.set_xlabel(f"Distance to particle edge ({du})")
    ax2.set_ylabel(label)
    t = prof.metadata.Processing.Edge_profile.test
    ax2.axvline(t.edge_width, color="0.6", ls="--", lw=0.8)
    ax2.set_title(
        f"edge - core = {t.difference:.3g} +/- {t.difference_sem:.2g}\n"
        f"p = {t.p_value:.2g} ({t.test}), "
        + ("significant" if t.significant else "not significant"),
        fontsize=9,
    )
    fig.tight_layout()
    return fig
