"""Per-pixel outcome codes of :func:`~hyperspy_perovskite.fitting.fast_multifit`.

The convergence map holds one of these ``int8`` codes per navigation pixel.
Only pixels with :data:`CONVERGED` have their parameters marked as set
(``parameter.map["is_set"]``); every other code leaves ``is_set`` False, so
no wrong value is ever presented as a fit result.
"""

import numpy as np

NOT_FITTED = -1
"""The pixel has not been fitted by :func:`fast_multifit` (model flags only)."""
CONVERGED = 0
"""The fit met the tolerance on chi-squared or on the step size."""
MAX_ITERATIONS = 1
"""``max_iterations`` was reached before convergence (values kept, not set)."""
NOT_FINITE_DATA = 2
"""The spectrum holds NaN or inf in the fitted range (not fitted, values NaN)."""
EMPTY = 3
"""The spectrum is all zero in the fitted range (not fitted, values NaN)."""
SATURATED = 4
"""A channel reaches the saturation level (not fitted, values NaN)."""
SINGULAR = 5
"""The covariance could not be estimated (parameters not determined by the data)."""
NO_PEAK = 6
"""A peak ended outside the fitted range or its amplitude is not significant
(or, with ``fast_multifit(collapse=...)``, has not been for half the fit)."""
MASKED = 7
"""Excluded by the navigation mask (maps left untouched)."""
NOT_FINITE_RESULT = 8
"""The model or chi-squared became non-finite (values NaN)."""
BAD_VARIANCE = 9
"""The noise variance is zero, negative or not finite (not fitted, values NaN)."""

FLAG_NAMES = {
    NOT_FITTED: "not_fitted",
    CONVERGED: "converged",
    MAX_ITERATIONS: "max_iterations",
    NOT_FINITE_DATA: "not_finite_data",
    EMPTY: "empty",
    SATURATED: "saturated",
    SINGULAR: "singular",
    NO_PEAK: "no_peak",
    MASKED: "masked",
    NOT_FINITE_RESULT: "not_finite_result",
    BAD_VARIANCE: "bad_variance",
}

#: Codes for which the input was unusable and the values are set to NaN.
INPUT_REJECTED = (NOT_FINITE_DATA, EMPTY, SATURATED, BAD_VARIANCE, NOT_FINITE_RESULT)


def count_flags(flags):
    """Number of pixels per outcome name in a map of convergence codes.

    Examples
    --------
    >>> from hyperspy_perovskite.fitting.flags import count_flags
    >>> count_flags(np.array([[0, 0], [5, 0]]))
    {'converged': 3, 'singular': 1}
    """
    codes, counts = np.unique(np.asarray(flags), return_counts=True)
    return {FLAG_NAMES[int(c)]: int(n) for c, n in zip(codes, counts, strict=True)}
