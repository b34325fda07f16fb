"""Which candidate phase explains each SAED profile (numpy).

Every candidate phase gives a profile model: one ring per allowed {hkl}
family (free, non-negative in expectation, amplitudes: texture changes ring
intensities, so they are not imposed), the amorphous halo and the smooth
background of :mod:`hyperspy_perovskite.analysis.saed`. Its ring positions
may scale together by up to ``strain`` (thermal expansion, calibration);
the best scale is found per frame on a grid. The models are compared by the
Bayesian information criterion ``BIC = chi2 + k ln(m)`` (``k`` free
parameters, ``m`` bins), so a phase with more rings (a supercell) wins only
when its extra rings are in the data, e.g. the superstructure rings of
tetragonal or orthorhombic CsPbBr3 that the cubic phase lacks. Two phases
within ``delta_bic`` of each other are a tie: G. Schwarz, Ann. Stat. 6, 461
(1978) for the criterion; R. E. Kass and A. E. Raftery, J. Am. Stat. Assoc.
90, 773 (1995) for 10 as the difference that is "very strong" evidence.
"""

import numpy as np

from hyperspy_perovskite.analysis.saed import design_matrix
from hyperspy_perovskite.analysis.saed_fit import batched_wls, poisson_weights

__all__ = ["phase_bic"]

#: BIC difference below which two phases are reported as a tie (Kass &
#: Raftery 1995: above 10 is "very strong" evidence).
TIE_DELTA_BIC = 10.0


def phase_bic(
    g,
    P,
    ring_sets,
    ring_width,
    halo_g,
    halo_width,
    background_order=3,
    poisson=False,
    strain=0.015,
    n_strain=13,
):
    """BIC of every candidate phase for every profile.

    Parameters
    ----------
    g : numpy.ndarray, shape (m,)
    P : numpy.ndarray, shape (n, m)
    ring_sets : list of numpy.ndarray
        Ring positions (1/A) of each candidate inside the range.
    ring_width, halo_width : float
    halo_g : float or None
        Halo position (1/A); None for no halo.
    poisson : bool
        Counted electrons; otherwise the noise variance is estimated from the
        best model of each frame.
    strain : float
        Largest common relative scaling of the ring positions searched.
    n_strain : int

    Returns
    -------
    bic : numpy.ndarray, shape (n, n_phases)
    scale : numpy.ndarray, shape (n, n_phases)
        Best ``g`` scale factor of each phase per frame (``1 / (1 + strain)``
        of d).

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.saed import design_matrix
    >>> from hyperspy_perovskite.analysis.saed_phases import phase_bic
    >>> g = np.linspace(0.1, 0.6, 300)
    >>> a = np.array([0.2, 0.3, 0.4]); b = np.array([0.2, 0.3, 0.35, 0.4])
    >>> rng = np.random.default_rng(0)
    >>> P = rng.poisson(design_matrix(g, b, 0.01, None, None, 1)
    ...                 @ [300, 200, 150, 100, 0, 0, 50, 0], size=(3, 300))
    >>> bic, _ = phase_bic(g, P.astype(float), [a, b], 0.01, None, None, 1, True)
    >>> (bic.argmin(axis=1) == 1).all()
    np.True_
    """
    g = np.asarray(g, float)
    P = np.atleast_2d(np.asarray(P, float))
    n, m = P.shape
    scales = np.linspace(1 - strain, 1 + strain, int(n_strain)) if strain else [1.0]
    chi = np.full((n, len(ring_sets)), np.inf)
    best = np.ones((n, len(ring_sets)))
    k = np.zeros(len(ring_sets))
    W = None
    if poisson:
        D0 = design_matrix(g, ring_sets[0], ring_width, halo_g, halo_width, 1)
        W = poisson_weights(D0, P)
    for i, rg in enumerate(ring_sets):
        for sc in scales:
            D = design_matrix(
                g, np.asarray(rg) * sc, ring_width, halo_g, halo_width, background_order
            )
            c2 = batched_wls(D, P, W)[2]
            better = c2 < chi[:, i]
            chi[better, i] = c2[better]
            best[better, i] = sc
            k[i] = D.shape[1] + (1 if strain else 0)
    if not poisson:
        s2 = np.min(chi / np.maximum(m - k[None], 1), axis=1)
        chi = chi / np.maximum(s2, 1e-300)[:, None]
    return chi + k[None] * np.log(m), best


def rank(bic, names, delta=TIE_DELTA_BIC):
    """Per frame: best name, BIC margin to the runner-up, names tied with it.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.saed_phases import rank
    >>> rank(np.array([[10.0, 15.0, 40.0]]), ["a", "b", "c"])
    (['a'], array([5.]), ['b'])
    """
    order = np.argsort(bic, axis=1)
    best = [names[o[0]] for o in order]
    r = np.arange(bic.shape[0])
    margin = bic[r, order[:, 1]] - bic[r, order[:, 0]] if bic.shape[1] > 1 else None
    ties = [
        "; ".join(
            names[j] for j in order[f, 1:] if bic[f, j] - bic[f, order[f, 0]] < delta
        )
        for f in r
    ]
    if margin is None:
        margin = np.full(bic.shape[0], np.inf)
    return best, margin, ties
