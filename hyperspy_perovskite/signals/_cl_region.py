"""Whether regions of a map agree with its shared Urbach energy.

``fit_emission(urbach_energy="shared")`` tests every pixel against the
shared value (:mod:`~hyperspy_perovskite.signals._cl_consistency`: Rao's
score test, the map's false discovery rate). One pixel's test is weak where
``Eu`` lies below the band width, and the false discovery rate is the
map's, not a region's. A region (a particle, a grain, a phase) whose tail
differs in one direction moves the step of ``Eu`` the same way in all its
pixels: pooled, the test is far more powerful. With each tested pixel's
Gauss-Newton step ``d_i`` of ``Eu`` from the shared value and its standard
deviation ``s_i`` (:func:`~hyperspy_perovskite.fitting._score.score_statistics`;
``d_i**2 / s_i**2`` is the pixel's test), the region's mean

    ``D = sum(d_i / s_i) / sum(1 / s_i)``,  ``var(D) = N / sum(1 / s_i)**2``

over its ``N`` pixels (``D**2 / var(D)`` is Stouffer's combination of the
pixels' ``z_i = d_i / s_i``, ``(sum z_i)**2 / N``), and ``D**2 / (var(D) +
s**2)``, with ``s`` the shared value's own standard deviation, is
chi-squared of one degree of freedom where the region's ``Eu`` is the
map's (pixels independent: Poisson noise). Without ``s`` a large region
would reject the shared value for the search's own error (bench scene 64 x
64, true Eu 25 meV, the whole map as one region: -3.8 and +2.8 std on
seeds 2 and 3, whose shared values lie 0.2 meV from it). The regions'
p-values pass the false discovery rate of Benjamini & Hochberg, J. R.
Stat. Soc. B 57, 289 (1995). ``D`` is one linear step: near the shared
value it is the region's change of ``Eu`` (see the figures below); far
from it, only its sign is (the independent scene half 12 / half 50 meV,
shared 48.5 meV: the 12 meV half's step is -55 meV). The region's value
is then measured by fitting it alone
(``fit_emission(urbach_energy="shared", mask=...)``).

Measured (the shared fit, edge held at the truth; ``benchmarks``' scenes):

* agreeing regions, ``bench_cl_fit.simulate`` 64 x 64, 64 regions of 8 x
  8 pixels: share of p < 0.05 at true Eu 25 meV (seeds 0-5) 0.031-0.062,
  12 meV (seeds 0-1) 0.000 / 0.031, 50 meV 0.047 / 0.031; 1 of the 640
  regions rejects after the false discovery rate; the whole map as one
  region within 1.7 std;
* ``cl_particles.py`` (64 x 64, seeds 0-9; shared value 49.5-50.8 meV):
  all 40 particles of material 1 (Eu 25 meV, 29-162 pixels) reject, p
  below 1e-12, where the per-pixel test rejects 26-103 of the 250-470
  pixels of the material; material 2 (Eu 50 meV) p < 0.05 in 7 of 40
  particles, 3 rejecting, all in seeds whose whole-map shared value lies
  4-15 of its std from 50 meV (two materials make its std too small):
  without those 1 of 32; the shared value plus the material's
  ``Eu_change`` is 50.02 +- 0.10 meV over the 10 seeds;
* maps half 50 / half 12 meV (32 x 32, seeds 0-3): the 12 meV half
  rejects (p below 1e-180; 106-176 of its 512 pixels alone), the 50 meV
  half in 1 of 4, where the shared value lies 0.67 meV (22 of its std)
  below it, the half's ``Eu_change`` +0.77 +- 0.16 meV.

Not the inverse-variance mean (``weights 1 / s_i**2``): a pixel's
``z_i`` and ``s_i`` are correlated through its noise (correlation -0.28 to
+0.20 on uniform bench maps), and weighting by ``1 / s_i**2`` biases
``D`` by a share of a pixel's standard deviation that pooling does not
average out. Measured on ``benchmarks/bench_cl_fit.py``'s scene (64 x 64,
one material, the shared fit, 64 regions of 8 x 8 pixels), block
``D / std(D)`` (without the shared value's std) mean / std and share of
p < 0.05, inverse-variance against this: true Eu 12 meV -0.66 / 1.08, 0.109 against +0.15 / 0.93, 0.000; 25
meV (seeds 0 / 1) +0.40 / 1.06, 0.125 and +0.81 / 0.85, 0.125 against
-0.11 / 0.99, 0.062 and +0.11 / 0.89, 0.047; 50 meV -1.19 / 1.09, 0.188
against +0.03 / 1.07, 0.078; the whole map as one region -5.5, +3.3, +6.6,
-9.7 standard deviations against +1.2, -0.9, +0.9, +0.2.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import chi2

__all__ = ["REGION_FALSE_DISCOVERY_RATE", "shared_urbach_test"]

#: Default false discovery rate over the regions of :func:`shared_urbach_test`.
REGION_FALSE_DISCOVERY_RATE = 0.05


def _labels(model, regions):
    """``regions`` as a computed integer array of the model's navigation
    shape (a signal's data, a numpy or dask array; booleans as label 1)."""
    data = getattr(regions, "data", regions)
    if hasattr(data, "compute"):
        data = data.compute()
    data = np.asarray(data)
    shape = np.shape(model.chisq.data)
    if data.shape != shape:
        raise ValueError(
            f"regions has shape {data.shape}; it must have the model's navigation "
            f"shape {shape} (one label per pixel, 0 outside every region)."
        )
    if data.dtype.kind == "b":
        return data.astype(np.int64)
    if data.dtype.kind not in "iu" and not (
        data.dtype.kind == "f" and np.all(np.isfinite(data)) and np.all(data % 1 == 0)
    ):
        raise ValueError(
            "regions must hold integer labels (0 outside every region), "
            f"not {data.dtype} values."
        )
    return data.astype(np.int64)


def _score_parts(model):
    """Each tested pixel's ``(d, var(d))`` (eV, eV^2) of a shared fit."""
    if not getattr(model, "_shared_urbach", None):
        raise ValueError(
            "shared_urbach_test needs a model fitted with a shared Urbach energy: "
            "fit_emission(tail=True, axis='energy', urbach_energy='shared', "
            "urbach_edge=...)."
        )
    parts = np.asarray(getattr(model, "_eu_score", np.nan), float)
    if parts.shape != np.shape(model.chisq.data) + (2,) or np.isnan(parts).all():
        raise ValueError(
            "The model holds no per-pixel score of the shared Urbach energy (its "
            "pixels were tested by a refit, or none had a detected band): fit "
            "it again with fit_emission(urbach_energy='shared', ...)."
        )
    return parts[..., 0], parts[..., 1]


def shared_urbach_test(model, regions, false_discovery_rate=None):
    """Test whether each region of a shared-``Eu`` fit agrees with the
    shared Urbach energy (see the module).

    Parameters
    ----------
    model : EmissionModel
        Fitted by ``fit_emission(urbach_energy="shared", urbach_edge=...)``
        (kept by ``m.store``, saved files and ``m.inav``).
    regions : array, dask array or hyperspy signal
        Navigation-shaped integer labels: each positive label a region, 0
        (or negative) outside every region; booleans are one region
        (label 1). Lazy labels are computed.
    false_discovery_rate : float, optional
        Of the rejections over the regions (Benjamini & Hochberg); default
        :data:`REGION_FALSE_DISCOVERY_RATE`.

    Returns
    -------
    ResultTable
        One row per label (index the label): ``n_pixels`` (pixels tested:
        converged, band detected, not masked), ``Eu_change`` (``D``, meV,
        with its standard deviation in ``std``), ``statistic``
        (``D**2 / var(D)``), ``p_value`` and ``rejects`` (after the false
        discovery rate). A region with no tested pixel has NaN and does not
        reject. ``description`` holds the shared value.

    Raises
    ------
    ValueError
        When the model was not fitted with a shared Urbach energy (or has
        no per-pixel score), or ``regions`` has the wrong shape or type.
    """
    from hyperspy_perovskite.results import ResultTable
    from hyperspy_perovskite.signals._cl_urbach import false_discovery_pass

    q = _rate(
        REGION_FALSE_DISCOVERY_RATE
        if false_discovery_rate is None
        else false_discovery_rate
    )
    labels = _labels(model, regions)
    d, v = _score_parts(model)
    with np.errstate(invalid="ignore"):
        tested = np.isfinite(d) & np.isfinite(v) & (v > 0)
    shared = model._shared_urbach
    shared_std = float(shared["Eu_std"]) if np.isfinite(shared["Eu_std"]) else 0.0
    names = np.unique(labels[labels > 0])
    n = np.zeros(names.size, np.int64)
    change, std = np.full(names.size, np.nan), np.full(names.size, np.nan)
    for k, name in enumerate(names):
        on = tested & (labels == name)
        n[k] = on.sum()
        if n[k]:
            w = 1.0 / np.sqrt(v[on])
            change[k] = np.sum(d[on] * w) / np.sum(w)
            std[k] = np.hypot(np.sqrt(n[k]) / np.sum(w), shared_std)
    stat = (change / std) ** 2
    p = chi2.sf(stat, 1)
    rejects = np.zeros(names.size, bool)
    has = n > 0
    rejects[has] = false_discovery_pass(p[has], q)
    return ResultTable(
        {
            "n_pixels": n,
            "Eu_change": change * 1e3,
            "statistic": stat,
            "p_value": p,
            "rejects": rejects,
        },
        units={"Eu_change": "meV"},
        std={"Eu_change": std * 1e3},
        index=[str(int(x)) for x in names],
        title="Regions against the shared Urbach energy",
        description=(
            f"Shared Eu {shared['Eu'] * 1e3:.4g} +- {shared['Eu_std'] * 1e3:.2g} meV; "
            "Eu_change: the region's mean of its pixels' Gauss-Newton steps of Eu "
            "weighted by their inverse standard deviations (Stouffer's "
            "combination of the pixels' score tests, chi-squared of 1 degree of "
            f"freedom); rejects: Benjamini-Hochberg at {q:g} over the regions."
        ),
    )


def _rate(q):
    """``q`` if it is a rate in (0, 1), else a ValueError."""
    q = float(q)
    if not 0.0 < q < 1.0:
        raise ValueError(f"false_discovery_rate must lie in (0, 1), not {q!r}.")
    return q
