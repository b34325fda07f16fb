"""Emission parameters versus distance to the particle edge (arrays only).

Answers the question of Li et al., Nat. Commun. 14, 7612 (2023) (Fig. 2f): "is the Gaussian
width sigma larger at the edges of the particles?". Two pieces:

* :func:`profile_vs_distance`: mean, standard error and count of a parameter
  per distance bin.
* :func:`edge_core_test`: edge pixels (within ``edge_width`` of the edge)
  against core pixels, both pooled over all pixels (Welch's t-test) and
  paired per particle (one-sample t-test on the per-particle edge-minus-core
  differences, which does not treat the pixels of one particle as independent
  samples). The paired test is the answer when at least three particles
  have both edge and core pixels.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["edge_core_test", "profile_vs_distance"]


def _prepare(values, distance, valid):
    values = np.asarray(values, dtype=float)
    distance = np.asarray(distance, dtype=float)
    if values.shape != distance.shape:
        raise ValueError(
            f"values {values.shape} and distance {distance.shape} must have the "
            "same shape (register the maps onto one grid first)."
        )
    ok = np.isfinite(values) & np.isfinite(distance)
    if valid is not None:
        valid = np.asarray(valid, dtype=bool)
        if valid.shape != values.shape:
            raise ValueError(f"valid {valid.shape} must have shape {values.shape}.")
        ok &= valid
    return values, distance, ok


def profile_vs_distance(values, distance, bins=8, valid=None, inside_only=True):
    """Mean and standard error of ``values`` per bin of edge distance.

    Parameters
    ----------
    values : array_like
        A parameter map (e.g. fitted sigma).
    distance : array_like
        Signed distance to the nearest particle edge (inside positive).
    bins : int or array_like
        Number of bins over the range of valid distances, or bin edges.
    valid : array_like of bool, optional
        Pixels to use (e.g. a fit-quality mask).
    inside_only : bool
        Use only pixels inside particles (distance > 0).

    Returns
    -------
    dict
        ``edges``, ``centres``, ``mean``, ``sem`` (standard error of the
        mean, NaN for bins with < 2 pixels), ``std``, ``count``.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.edge_statistics import profile_vs_distance
    >>> d = np.array([5.0, 5.0, 15.0, 15.0]); v = np.array([3.0, 5.0, 1.0, 1.0])
    >>> p = profile_vs_distance(v, d, bins=[0, 10, 20])
    >>> p["mean"].tolist(), p["sem"].tolist(), p["count"].tolist()
    ([4.0, 1.0], [1.0, 0.0], [2, 2])
    """
    values, distance, ok = _prepare(values, distance, valid)
    if inside_only:
        ok &= distance > 0
    if not ok.any():
        raise ValueError("No valid pixels (inside particles) to build a profile from.")
    v, d = values[ok], distance[ok]
    if np.ndim(bins) == 0:
        n = int(bins)
        if n < 1:
            raise ValueError(f"bins must be >= 1, got {bins}.")
        lo = 0.0 if inside_only else d.min()
        edges = np.linspace(lo, d.max() * (1 + 1e-9) + 1e-12, n + 1)
    else:
        edges = np.asarray(bins, dtype=float)
        if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
            raise ValueError("bins must be an int or increasing bin edges.")
    which = np.digitize(d, edges) - 1
    n_bins = edges.size - 1
    inb = (which >= 0) & (which < n_bins)
    count = np.bincount(which[inb], minlength=n_bins)
    s1 = np.bincount(which[inb], weights=v[inb], minlength=n_bins)
    s2 = np.bincount(which[inb], weights=v[inb] ** 2, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s1 / count
        var = (s2 - count * mean**2) / (count - 1)
        std = np.sqrt(np.maximum(var, 0.0))
        sem = std / np.sqrt(count)
    mean = np.where(count > 0, mean, np.nan)
    std = np.where(count > 1, std, np.nan)
    sem = np.where(count > 1, sem, np.nan)
    return {
        "edges": edges,
        "centres": 0.5 * (edges[:-1] + edges[1:]),
        "mean": mean,
        "sem": sem,
        "std": std,
        "count": count,
    }


def edge_core_test(
    values,
    distance,
    edge_width,
    labels=None,
    valid=None,
    alternative="greater",
    alpha=0.05,
):
    """Is a parameter different at particle edges than in particle cores?

    Edge pixels: ``0 < distance <= edge_width``; core pixels:
    ``distance > edge_width``.

    Parameters
    ----------
    values, distance : array_like
        Parameter map and signed edge distance (inside positive).
    edge_width : float
        Depth of the edge zone, in the units of ``distance``.
    labels : array_like of int, optional
        Particle labels; enables the per-particle paired test.
    valid : array_like of bool, optional
        Pixels to use.
    alternative : {"greater", "less", "two-sided"}
        Alternative hypothesis for edge minus core ("greater": the edge value
        is larger).
    alpha : float
        Significance level of the answer.

    Returns
    -------
    dict
        ``edge_mean``, ``edge_sem``, ``n_edge``, ``core_mean``, ``core_sem``,
        ``n_core``, ``difference`` and ``difference_sem`` (edge - core, pixel
        pooled), ``t_pixels``, ``p_pixels`` (Welch), ``n_particles_paired``,
        ``paired_difference``, ``paired_difference_sem``, ``t_paired``,
        ``p_paired`` (NaN without labels or < 3 particles), ``test`` ("paired"
        or "pixels"), ``p_value`` and ``significant`` (``p_value < alpha``).

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.edge_statistics import edge_core_test
    >>> rng = np.random.default_rng(0)
    >>> d = np.tile([5.0, 15.0, 25.0], 50)
    >>> v = np.where(d < 10, 20.0, 15.0) + rng.normal(0, 1, d.size)
    >>> r = edge_core_test(v, d, edge_width=10.0)
    >>> r["significant"], round(r["difference"])
    (True, 5)
    """
    if alternative not in ("greater", "less", "two-sided"):
        raise ValueError(
            f"alternative must be 'greater', 'less' or 'two-sided', got {alternative!r}."
        )
    if not edge_width > 0:
        raise ValueError(f"edge_width must be positive, got {edge_width}.")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}.")
    values, distance, ok = _prepare(values, distance, valid)
    edge = ok & (distance > 0) & (distance <= edge_width)
    core = ok & (distance > edge_width)
    if edge.sum() < 2 or core.sum() < 2:
        raise ValueError(
            f"Need >= 2 valid edge and core pixels, got {int(edge.sum())} edge and "
            f"{int(core.sum())} core pixels for edge_width={edge_width}: choose a "
            "smaller edge_width or a finer map."
        )
    ve, vc = values[edge], values[core]
    out = {
        "edge_width": float(edge_width),
        "edge_mean": float(ve.mean()),
        "edge_sem": float(ve.std(ddof=1) / np.sqrt(ve.size)),
        "n_edge": int(ve.size),
        "core_mean": float(vc.mean()),
        "core_sem": float(vc.std(ddof=1) / np.sqrt(vc.size)),
        "n_core": int(vc.size),
    }
    out["difference"] = out["edge_mean"] - out["core_mean"]
    out["difference_sem"] = float(np.hypot(out["edge_sem"], out["core_sem"]))
    welch = stats.ttest_ind(ve, vc, equal_var=False, alternative=alternative)
    out["t_pixels"] = float(welch.statistic)
    out["p_pixels"] = float(welch.pvalue)

    diffs = []
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != values.shape:
            raise ValueError(f"labels {labels.shape} must have shape {values.shape}.")
        for lab in np.unique(labels[edge | core]):
            if lab == 0:
                continue
            e = edge & (labels == lab)
            c = core & (labels == lab)
            if e.any() and c.any():
                diffs.append(values[e].mean() - values[c].mean())
    diffs = np.asarray(diffs)
    out["n_particles_paired"] = int(diffs.size)
    if diffs.size >= 3:
        paired = stats.ttest_1samp(diffs, 0.0, alternative=alternative)
        out["paired_difference"] = float(diffs.mean())
        out["paired_difference_sem"] = float(diffs.std(ddof=1) / np.sqrt(diffs.size))
        out["t_paired"] = float(paired.statistic)
        out["p_paired"] = float(paired.pvalue)
        out["test"] = "paired"
        out["p_value"] = out["p_paired"]
    else:
        for key in (
            "paired_difference",
            "paired_difference_sem",
            "t_paired",
            "p_paired",
        ):
            out[key] = float("nan")
        out["test"] = "pixels"
        out["p_value"] = out["p_pixels"]
    out["alternative"] = alternative
    out["alpha"] = float(alpha)
    out["significant"] = bool(out["p_value"] < alpha)
    return out
