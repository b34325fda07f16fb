"""Per-particle table and the intensity-size correlation (arrays only).

Answers the question of Li et al., Nat. Commun. 14, 7612 (2023): "does the emission
intensity follow particle size?" (there: it does not, so quantum confinement
is not the main contributor). The correlation uses Spearman's rank
coefficient (robust to the skewed, log-normal-like distributions of
intensities and areas) with its two-sided p-value, and reports Pearson's r of
the logarithms as a second view.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from scipy import stats

__all__ = ["PARTICLE_COLUMNS", "particle_table", "size_intensity_correlation"]

#: Column order of :func:`particle_table` (and of the signal the CL method returns).
PARTICLE_COLUMNS = (
    "label",
    "n_pixels",
    "area",
    "equivalent_diameter",
    "n_valid",
    "intensity_mean",
    "intensity_sem",
    "centre_mean",
    "centre_sem",
    "sigma_mean",
    "sigma_sem",
)


def _mean_sem(values, labels, index):
    values = np.asarray(values, float)
    ok = np.isfinite(values) & (labels > 0)
    lab = np.where(ok, labels, 0)
    v = np.where(ok, values, 0.0)
    n = ndi.sum_labels(ok, lab, index)
    s1 = ndi.sum_labels(v, lab, index)
    s2 = ndi.sum_labels(v * v, lab, index)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s1 / n
        var = (s2 - n * mean**2) / (n - 1)
        sem = np.sqrt(np.maximum(var, 0.0) / n)
    mean = np.where(n > 0, mean, np.nan)
    sem = np.where(n > 1, sem, np.nan)
    return mean, sem, n


def particle_table(
    labels, pixel_area, intensity=None, centre=None, sigma=None, valid=None
):
    """Area and mean emission parameters of every labelled particle.

    Parameters
    ----------
    labels : array_like of int
        Particle labels (0 = matrix), e.g. from
        :func:`~hyperspy_perovskite.analysis.particles.segment_particles`.
    pixel_area : float
        Area of one pixel (e.g. nm^2).
    intensity, centre, sigma : array_like, optional
        Parameter maps of the same shape (NaN where unknown).
    valid : array_like of bool, optional
        Pixels whose parameters are used (the area always counts every
        particle pixel).

    Returns
    -------
    dict of numpy.ndarray
        One entry per :data:`PARTICLE_COLUMNS` name, one value per particle
        (``*_sem`` are standard errors of the pixel means; NaN for maps not
        given).

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.particle_statistics import particle_table
    >>> lab = np.array([[1, 1, 0], [0, 0, 2]])
    >>> t = particle_table(lab, 4.0, intensity=np.array([[1.0, 3.0, 9], [9, 9, 5]]))
    >>> t["area"].tolist(), t["intensity_mean"].tolist()
    ([8.0, 4.0], [2.0, 5.0])
    """
    labels = np.asarray(labels)
    if labels.ndim != 2 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError("labels must be a 2D integer array (0 = matrix).")
    if not pixel_area > 0:
        raise ValueError(f"pixel_area must be positive, got {pixel_area}.")
    index = np.unique(labels[labels > 0])
    n_pixels = ndi.sum_labels(np.ones(labels.shape), labels, index)
    area = n_pixels * float(pixel_area)
    use = labels.copy()
    if valid is not None:
        valid = np.asarray(valid, bool)
        if valid.shape != labels.shape:
            raise ValueError(f"valid {valid.shape} must have shape {labels.shape}.")
        use = np.where(valid, labels, 0)
    table = {
        "label": index.astype(float),
        "n_pixels": n_pixels,
        "area": area,
        "equivalent_diameter": 2.0 * np.sqrt(area / np.pi),
        "n_valid": ndi.sum_labels(use > 0, use, index),
    }
    for name, values in (
        ("intensity", intensity),
        ("centre", centre),
        ("sigma", sigma),
    ):
        if values is None:
            table[f"{name}_mean"] = np.full(index.size, np.nan)
            table[f"{name}_sem"] = np.full(index.size, np.nan)
            continue
        values = np.asarray(values, float)
        if values.shape != labels.shape:
            raise ValueError(f"{name} {values.shape} must have shape {labels.shape}.")
        table[f"{name}_mean"], table[f"{name}_sem"], _ = _mean_sem(values, use, index)
    return {k: np.asarray(table[k], float) for k in PARTICLE_COLUMNS}


def size_intensity_correlation(area, intensity, alpha=0.05):
    """Rank correlation between particle size and emission intensity.

    Parameters
    ----------
    area, intensity : array_like
        Per-particle area and mean intensity (NaN rows are dropped).
    alpha : float
        Significance level of the answer.

    Returns
    -------
    dict
        ``n``, ``spearman_rho``, ``p_value`` (two-sided), ``pearson_r_log``,
        ``pearson_p_log`` (on log area, log intensity; NaN if any value
        <= 0) and ``significant`` (``p_value < alpha``).

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.particle_statistics import size_intensity_correlation
    >>> a = np.arange(1.0, 11.0)
    >>> r = size_intensity_correlation(a, a**2)
    >>> r["spearman_rho"], r["significant"]
    (1.0, True)
    """
    area = np.asarray(area, float).ravel()
    intensity = np.asarray(intensity, float).ravel()
    if area.shape != intensity.shape:
        raise ValueError("area and intensity must have the same length.")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}.")
    ok = np.isfinite(area) & np.isfinite(intensity)
    a, i = area[ok], intensity[ok]
    if a.size < 4:
        raise ValueError(
            f"Need at least 4 particles with finite area and intensity, got {a.size}."
        )
    rho, p = stats.spearmanr(a, i)
    out = {"n": int(a.size), "spearman_rho": float(rho), "p_value": float(p)}
    if np.all(a > 0) and np.all(i > 0):
        r, pr = stats.pearsonr(np.log(a), np.log(i))
        out["pearson_r_log"], out["pearson_p_log"] = float(r), float(pr)
    else:
        out["pearson_r_log"] = out["pearson_p_log"] = float("nan")
    out["alpha"] = float(alpha)
    out["significant"] = bool(out["p_value"] < alpha)
    return out
