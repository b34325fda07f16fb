"""Screening of the input spectra: which flag wins, masked pixels untouched."""

import numpy as np

from hyperspy_perovskite.fitting import flags as F
from hyperspy_perovskite.fitting._screen import screen_inputs


def test_flag_priority_and_variance():
    Y = np.array(
        [
            [5.0, 6.0, 7.0],  # fine
            [np.inf, 0.0, 9.0],  # not finite beats saturated
            [0.0, 0.0, 0.0],  # empty
            [1.0, 9.0, 1.0],  # saturated
            [1.0, 2.0, 3.0],  # variance with a zero
            [1.0, 2.0, 3.0],  # variance with a NaN
            [np.nan, 0.0, 0.0],  # masked: left alone
        ]
    )
    V = np.ones_like(Y)
    V[4, 1] = 0.0
    V[5, 2] = np.nan
    flags = np.zeros(len(Y), np.int8)
    flags[6] = F.MASKED
    screen_inputs(Y, V, 9.0, flags)
    assert flags.tolist() == [
        F.CONVERGED,
        F.NOT_FINITE_DATA,
        F.EMPTY,
        F.SATURATED,
        F.BAD_VARIANCE,
        F.BAD_VARIANCE,
        F.MASKED,
    ]


def test_no_saturation_limit_and_no_variance():
    Y = np.array([[1e300, 2.0], [-3.0, 0.0]])
    flags = np.zeros(2, np.int8)
    screen_inputs(Y, np.full((1, 1), np.nan), np.inf, flags)
    assert flags.tolist() == [0, 0]
