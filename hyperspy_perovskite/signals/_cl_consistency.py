"""Whether each pixel's data are consistent with a shared Urbach tail shape.

``fit_emission(urbach_energy="shared")`` fits one tail shape (``Eu`` and the
edge's offset below the band centre) for all fitted pixels
(:func:`~hyperspy_perovskite.signals._cl_shared.shared_fit`). A map of two
materials would get one average shape, right for neither, and bands biased
by it (the bias of a held shape 20 % off: ``_cl_shared``). So, after the
fit, every converged pixel is fitted again with ``Eu`` free (from the
shared fit's values; the edge stays held, as the data do not place it), and
the rise of its chi-squared from the free to the shared fit is a likelihood
ratio, a chi-squared of one degree of freedom where the pixel agrees; the
p-values pass the map's false discovery rate
(:data:`~hyperspy_perovskite.signals._cl_urbach.EU_FALSE_DISCOVERY_RATE`,
Benjamini & Hochberg, J. R. Stat. Soc. B 57, 289 (1995)). The pixels that
reject the shared shape get the validity reason :data:`SHAPE_DIFFERS`
(band and tail), and a warning says what fraction and suggests fitting the
regions apart with ``mask``.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.stats import chi2

from hyperspy_perovskite.validity import Validity

__all__ = [
    "MAP_REJECTED",
    "MAP_REJECTS",
    "SHAPE_DIFFERS",
    "consistency_validity",
    "shape_consistency",
]

#: Iterations of the free refit of :func:`shape_consistency`, from the
#: shared fit's values, which stops as the fit does (a step below 0.1 std,
#: ``_cl_start.std_tolerance``: 204-227 instead of 404-429 us of CPU per
#: spectrum for the whole shared fit at the engine's default tolerance,
#: bench_cl_fit 128 x 128; the same rejections within a few pixels).
#: Chi-squared at any iterate bounds the free minimum from above: fewer
#: iterations can miss a rejection, not make one (but a cap of 5 rejected
#: more pixels of a uniform half, 43 against 23: the count-noise scale of
#: the change, ``_cl_refit.change_scale``, depends on how far the
#: refit went; not kept).
CONSISTENCY_ITERATIONS = 20

#: The rejection reason of a pixel whose data reject the shared tail shape.
SHAPE_DIFFERS = "Eu differs from the shared value"


def shape_consistency(m, settings, result, mask, fit_kwargs):
    """Test every converged pixel of a shared-shape fit against its free
    tail (see the module); record the outcome in ``m._shape_consistent``
    (1 consistent, 0 rejects the shared value, 2 consistent in a map that
    rejects it, :data:`MAP_REJECTS`; NaN not tested; kept by
    ``m.store``, saved files and ``m.inav``) and warn where some pixels
    reject it. The maps are restored (the shared fit is the result);
    ``result`` gains the refit's elapsed time."""
    from hyperspy_perovskite.signals._cl_refit import refit
    from hyperspy_perovskite.signals._cl_start import std_tolerance
    from hyperspy_perovskite.signals._cl_urbach import (
        EU_FALSE_DISCOVERY_RATE,
        false_discovery_pass,
    )

    if settings.eu_mode != "shared":
        return
    ok = np.asarray(result.array("convergence")) == 0
    if mask is not None:
        ok &= ~np.asarray(mask, bool)
    record = np.full(ok.shape, np.nan)
    if ok.any():
        with refit(  # the edge stays held; from the shared fit, as the fit stops
            m,
            result,
            ok,
            fit_kwargs,
            release=[m["Urbach"].Eu],
            max_iterations=CONSISTENCY_ITERATIONS,
            ftol=std_tolerance(m),
            scale="change",
        ) as r:
            drop = -r.rise
        # chi-squared at any iterate bounds the free minimum from above: a
        # refit stopped early can miss a rejection, not make one
        with np.errstate(invalid="ignore"):
            p = chi2.sf(np.maximum(np.nan_to_num(drop[ok], nan=0.0), 0.0), 1)
        rejects = false_discovery_pass(p, EU_FALSE_DISCOVERY_RATE)
        whole = rejects.sum() >= max(MAP_REJECTS_MIN, MAP_REJECTS * rejects.size)
        record[ok] = np.where(rejects, 0.0, 2.0 if whole else 1.0)
        _warn(rejects, whole)
    m._shape_consistent = record


#: Share of the tested pixels (and fewest pixels) whose rejection of the
#: shared Urbach energy rejects it for the whole map (:data:`MAP_REJECTED`).
#: Measured (bench_cl_fit's scene, 32 x 32, seeds 0-1, edge held at the
#: truth): uniform maps at true Eu 12, 25, 50 meV 0 / 0, 0 / 0, 3 / 0 of
#: 1024 pixels reject it; maps half 50 / half 12 meV 157 / 177 (15-17 %:
#: 135 / 156 of the 12 meV half, the per-pixel test is weak there, and
#: the 12 meV half's other pixels have band pulls centre -2.0, area +2.9
#: at the shared 49.5 meV).
MAP_REJECTS = 0.02
MAP_REJECTS_MIN = 5

#: The rejection reason of every other pixel of a map that rejects the
#: shared value (:data:`MAP_REJECTS`).
MAP_REJECTED = "shared Urbach energy rejected by the map (fit regions apart)"


def _warn(rejects, whole):
    if not rejects.any():
        return
    warnings.warn(
        f"{rejects.sum()} of {rejects.size} fitted pixels "
        f"({100 * rejects.mean():.1f} %) reject the shared Urbach energy "
        f"(reason '{SHAPE_DIFFERS}')"
        + (
            f"; that many reject it for the whole map (reason '{MAP_REJECTED}' "
            "for every other pixel)"
            if whole
            else ""
        )
        + ": the map may hold materials of different tails; fit the regions "
        "apart with mask=... (or give each its value).",
        UserWarning,
        stacklevel=5,
    )


def consistency_validity(model):
    """The :class:`~hyperspy_perovskite.validity.Validity` of the shared-shape
    test of ``model`` (:func:`shape_consistency`): pixels that reject the
    shared shape are not valid (:data:`SHAPE_DIFFERS`); None where the
    model has no record (not a shared-shape fit)."""
    rec = getattr(model, "_shape_consistent", None)
    shape = np.shape(model.chisq.data)
    if rec is None or np.shape(rec) != shape or np.all(np.isnan(rec)):
        return None
    rec = np.asarray(rec, float)
    reasons = np.where(rec == 0, 1, np.where(rec == 2, 2, 0))
    names = (SHAPE_DIFFERS, MAP_REJECTED) if (rec == 2).any() else (SHAPE_DIFFERS,)
    return Validity(reasons == 0, reasons, names if reasons.any() else ())
